#!/usr/bin/env bash
# make demo: validate and deploy inventories/demo into .work/demo (no root, no network).
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .work/ansible-tmp .work/ansible-home
ansible-playbook -i inventories/demo/hosts.yml playbooks/warmup.yml "$@"
