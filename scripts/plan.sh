#!/usr/bin/env bash
# make plan: what would a deploy change? (GitOps: run it on a pull request, read the plan, merge.)
#
#   scripts/plan.sh [INVENTORY] [-- extra ansible-playbook arguments]
#
# INVENTORY is an inventory directory (its hosts.yml is used) or file; default inventories/demo.
# For each playbook of the plan (deploy, then mailwizz when present): a syntax check, then
# `ansible-playbook --check --diff` (deploy imports validate.yml, so the inventory is validated
# first). The callback mailfleet.fleet.mailfleet_plan records every change with its diff, and
# scripts/plan_summary.py prints one plan: per playbook and host, what would change, or
# "no changes". Nothing is changed anywhere: every playbook runs in check mode.
#
# On the demo inventory the plan runs against the demo's services: the MailWizz stand-in is
# started from the state `make demo` saved in .work/demo-services/ (empty before the first demo)
# for the duration of the plan, and stopped after it.
#
# Environment:
#   MAILFLEET_PLAN_PLAYBOOKS   playbooks to plan (default: "deploy mailwizz", those that exist)
#   MAILFLEET_PLAN_OUT         directory of the run logs and records (default: .work/plan)
#   MAILFLEET_PLAN_MARKDOWN=1  Markdown output (for a pull-request comment)
#   MAILFLEET_PLAN_DETAILED_EXITCODE=1   exit 2 when there are changes (0 none, 1 errors)
set -uo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"

inventory="${1:-inventories/demo}"
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
if [ -d "$inventory" ]; then
    if [ -f "$inventory/hosts.yml" ]; then
        inventory="$inventory/hosts.yml"
    fi
elif [ ! -e "$inventory" ]; then
    echo "plan: no inventory $inventory" >&2
    exit 1
fi

export PATH="$repo/.venv/bin:$PATH"
export ANSIBLE_CONFIG="${ANSIBLE_CONFIG:-$repo/ansible.cfg}"
export ANSIBLE_LOCAL_TEMP="${ANSIBLE_LOCAL_TEMP:-$repo/.work/ansible-tmp}"
export ANSIBLE_HOME="${ANSIBLE_HOME:-$repo/.work/ansible-home}"
export ANSIBLE_NOCOLOR=1
export ANSIBLE_CALLBACKS_ENABLED="${ANSIBLE_CALLBACKS_ENABLED:+$ANSIBLE_CALLBACKS_ENABLED,}mailfleet.fleet.mailfleet_plan"
mkdir -p "$ANSIBLE_LOCAL_TEMP" "$ANSIBLE_HOME"

out="${MAILFLEET_PLAN_OUT:-$repo/.work/plan}"
mkdir -p "$out"
rm -f "$out"/*.json "$out"/*.log

playbooks=()
for pb in ${MAILFLEET_PLAN_PLAYBOOKS:-deploy mailwizz}; do
    pb="${pb%.yml}"
    if [ -f "playbooks/$pb.yml" ]; then
        playbooks+=("$pb")
    elif [ -n "${MAILFLEET_PLAN_PLAYBOOKS:-}" ]; then
        echo "plan: no playbook playbooks/$pb.yml" >&2
        exit 1
    fi
done

services_args=()
demo_inventory="$(realpath -m inventories/demo/hosts.yml)"
if [ "$(realpath -m "$inventory")" = "$demo_inventory" ]; then
    ready="$out/demo-services.ready"
    rm -f "$ready"
    "$repo/.venv/bin/python" tests/setup/demo.py serve --ready "$ready" > "$out/demo-services.log" 2>&1 &
    services_pid=$!
    trap 'kill "$services_pid" 2>/dev/null; wait "$services_pid" 2>/dev/null' EXIT
    for _ in $(seq 1 150); do
        [ -s "$ready" ] && break
        kill -0 "$services_pid" 2>/dev/null || break
        sleep 0.1
    done
    if [ ! -s "$ready" ]; then
        echo "plan: the demo's MailWizz stand-in did not start; see $out/demo-services.log" >&2
        exit 1
    fi
    services_args=(-e "@$(cat "$ready")")
    echo "plan: demo services from .work/demo-services (MailWizz stand-in, pid $services_pid)" >&2
fi

status=0
records=()
for pb in "${playbooks[@]}"; do
    log="$out/$pb.log"
    if ! ansible-playbook -i "$inventory" "playbooks/$pb.yml" --syntax-check > "$log" 2>&1; then
        echo "plan: playbooks/$pb.yml does not pass the syntax check:" >&2
        cat "$log" >&2
        exit 1
    fi
    echo "plan: ansible-playbook -i $inventory playbooks/$pb.yml --check --diff (log: $log)" >&2
    MAILFLEET_PLAN_JSON="$out/$pb.json" \
        ansible-playbook -i "$inventory" "playbooks/$pb.yml" --check --diff "${services_args[@]}" "$@" \
        >> "$log" 2>&1
    rc=$?
    records+=("$out/$pb.json")
    if [ "$rc" -ne 0 ]; then
        status=1
        echo "plan: playbooks/$pb.yml failed in check mode (exit $rc); last lines of $log:" >&2
        tail -n 25 "$log" >&2
    fi
done

summary_args=(--title "mailfleet plan for $inventory")
[ "${MAILFLEET_PLAN_MARKDOWN:-0}" = 1 ] && summary_args+=(--markdown)
[ "${MAILFLEET_PLAN_DETAILED_EXITCODE:-0}" = 1 ] && summary_args+=(--detailed-exitcode)
python3 scripts/plan_summary.py "${summary_args[@]}" "${records[@]}"
rc=$?
if [ "$status" -ne 0 ] && [ "$rc" -ne 1 ]; then
    rc=1
fi
exit "$rc"
