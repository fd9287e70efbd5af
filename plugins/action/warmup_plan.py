# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin behind mailfleet.fleet.warmup_plan: plan today's caps on the controller."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.action import ActionBase
from ansible_collections.mailfleet.fleet.plugins.module_utils import capacity
from ansible_collections.mailfleet.fleet.plugins.module_utils import health as health_mod
from ansible_collections.mailfleet.fleet.plugins.module_utils import states as states_mod
from ansible_collections.mailfleet.fleet.plugins.module_utils import warmup
from ansible_collections.mailfleet.fleet.plugins.module_utils.grammar import parse_date


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("mode", "health", "today", "observed_var"))

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        args = self._task.args
        mode = args.get("mode", "plan")
        if mode not in ("plan", "current"):
            result.update(failed=True, msg="warmup_plan: mode must be plan or current, got %r" % mode)
            return result
        model = task_vars.get("mailfleet_model")
        if not isinstance(model, dict):
            result.update(failed=True, msg="warmup_plan: no fleet model; import playbooks/validate.yml first")
            return result
        today = args.get("today") or task_vars.get("mailfleet_today")
        today = parse_date(today) if today else datetime.date.today()
        if today is None:
            result.update(failed=True, msg="warmup_plan: 'today' must be a date YYYY-MM-DD")
            return result
        observed_var = args.get("observed_var", "fleet_state_observed")

        hostvars = task_vars["hostvars"]
        observed = {host: hostvars[host].get(observed_var) for host in model["hosts"] if host in hostvars}
        # what the hosts reported, checked: refused states continue from a fallback, unreadable
        # health is fail-closed, every problem is a finding (file, IP, what) and a state_corrupt event
        seen = states_mod.observe_fleet(model, observed, today, mode)
        missing = seen["missing"]
        health = args.get("health")
        health = health_mod.planner_view(seen["health"]) if health is None else health

        # IPs of hosts that could not be read: cap 0 (never more than what is known), not planned,
        # not stored; the plan, the capacity, the report and the metrics all count them as 0.
        try:
            if mode == "plan":
                new_states, caps, report = warmup.plan_fleet(model, seen["states"], seen["ledgers"], health,
                                                             today, missing)
            else:
                new_states, caps = {}, warmup.caps_from_states(model, seen["states"], health, today, missing,
                                                               seen["refused"])
                report = None
        except ValueError as exc:
            result.update(failed=True, msg="warmup_plan: %s" % to_native(exc))
            return result

        by_host = {}
        for host, hinfo in sorted(model["hosts"].items()):
            if host not in missing:
                by_host[host] = {ip["address"]: new_states[ip["address"]]
                                 for ip in hinfo["ips"] if ip["address"] in new_states}
        pool = capacity.pool_capacity(model, caps)
        result["changed"] = False
        result["ansible_facts"] = {
            "mailfleet_caps": caps,
            "mailfleet_capacity": pool,
            "mailfleet_caps_plan": report,
            "mailfleet_states_by_host": by_host if mode == "plan" else {},
            "mailfleet_ledgers": seen["ledgers"],
            "mailfleet_today": today.isoformat(),
            "mailfleet_state_problems": seen["findings"],
            "mailfleet_state_events": seen["events"],
            # ip_stuck alert events (one id per IP and stage episode: the alert module sends each once)
            "mailfleet_warmup_events": warmup.stuck_events(report) if report else [],
        }
        result["missing_hosts"] = missing
        result["state_problems"] = seen["findings"]
        if seen["events"]:
            result["warnings"] = [event["message"] for event in seen["events"]]
        result["msg"] = "%s for %s: capacity %s%s%s" % (
            "planned" if mode == "plan" else "current caps", today.isoformat(),
            ", ".join("%s %d/day" % item for item in sorted(pool.items())),
            "; not reachable (their %d IP(s) count 0): %s" % (
                sum(len(model["hosts"][h]["ips"]) for h in missing), ", ".join(missing)) if missing else "",
            "; state files refused for %d IP(s) and %d finding(s), see the warnings" % (
                len(seen["refused"]), len(seen["findings"])) if seen["findings"] else "")
        return result
