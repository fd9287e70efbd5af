#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Read or write the warmup state file of a PowerMTA host (standard library only)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: warmup_state
short_description: Read or atomically write the mailfleet warmup (or health) state of a PowerMTA host
description:
  - Reads or writes the JSON file in which the mailfleet warmup engine keeps, for every IP bound
    to the host, its warmup stage, the day that stage started, standby and idle bookkeeping and
    the date it was last planned (codec in C(plugins/module_utils/states.py), planner in
    C(plugins/module_utils/warmup.py)).
  - 'The file is C({"version": 1, "ips": {ADDRESS: STATE}}), serialised with sorted keys so that
    the same states always give the same bytes.'
  - Writes are atomic (temporary file in the same directory, fsync, rename) and happen only
    outside check mode; the task reports a change only when the content differs.
  - 'With O(kind=health) the same is done for the health state of the host''s IPs (DNSBL listings,
    standby, clean-check streaks; see C(plugins/module_utils/health.py)),
    C({"version": 1, "ips": {ADDRESS: HEALTH}}) in C(health-state.json).'
  - A read never trusts the file. An empty (0-byte) or truncated file, invalid JSON or another
    version is corrupt, never "no state"; each IP's state is checked on its own. What cannot be
    used is returned in RV(problems) (the whole file) and RV(refused) (per IP) instead of
    RV(states); the controller (C(warmup_plan)) then checks the usable states against the
    schedule, the warmup start and the ledger, and continues refused IPs conservatively.
  - 'Health is never unknown-as-clean: with O(kind=health), the O(ips) whose health cannot be read
    get a fail-closed health in RV(states) -- the standby their warmup state records (O(warmup_states);
    standby when that is unknown too) with the clean-check count restarted.'
  - Runs on the PowerMTA host with the Python standard library only.
version_added: "0.1.0"
author: mailfleet maintainers (@mailfleet)
options:
  state:
    description:
      - C(read) returns the states stored in O(path).
      - C(write) replaces the file content with O(states).
    type: str
    choices: [read, write]
    default: read
  kind:
    description: Which state file this is, C(warmup) or C(health).
    type: str
    choices: [warmup, health]
    default: warmup
  path:
    description: The state file.
    type: path
    default: /var/lib/mailfleet/warmup-state.json
  states:
    description:
      - Mapping IP address -> per-IP warmup state, as returned by the planner
        (C(plan_fleet) new states). Required with O(state=write).
    type: dict
  on_corrupt:
    description:
      - What to do with O(state=read) when the file exists but is not (entirely) a valid state file.
      - C(fail) stops with an error naming the file and what is wrong; C(reset) returns what is
        usable with RV(corrupt=true), RV(problems) and RV(refused) (the controller continues the
        refused IPs conservatively, alerts, and the next write replaces the file).
    type: str
    choices: [fail, reset]
    default: fail
  ips:
    description:
      - With O(kind=health) and O(state=read), the host's IPs; those whose health cannot be read
        get a fail-closed health.
    type: list
    elements: str
    default: []
  warmup_states:
    description:
      - With O(kind=health) and O(state=read), the warmup states just read on the host (their
        standby is kept when the health is unreadable).
    type: dict
    default: {}
  mode:
    description: Permissions of the written file.
    type: raw
    default: "0644"
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
notes:
  - The parent directory is created (mode 0755) when it does not exist, outside check mode.
"""

EXAMPLES = r"""
- name: Read the warmup state of this PowerMTA host
  mailfleet.fleet.warmup_state:
    state: read
  register: warmup_state

- name: Store the states the planner returned for this host's IPs
  mailfleet.fleet.warmup_state:
    state: write
    path: "{{ mailfleet_state_dir }}/warmup-state.json"
    states: "{{ warmup_plan.states_by_host[inventory_hostname] }}"

- name: Read, starting over if the file was damaged
  mailfleet.fleet.warmup_state:
    state: read
    on_corrupt: reset
  register: warmup_state
"""

RETURN = r"""
states:
  description: Mapping IP address -> warmup state (after the write for O(state=write)).
  returned: always
  type: dict
  sample: {"192.0.2.10": {"version": 1, "stage_index": 2, "stage_since": "2024-05-03", "standby": false,
           "standby_since": null, "last_sent": "2024-05-09", "rewarm": null,
           "planned_on": "2024-05-10", "action": "hold", "daily": 500, "base": null}}
exists:
  description: Whether the file existed before the task.
  returned: always
  type: bool
corrupt:
  description: Whether something in the existing file could not be used (O(on_corrupt=reset)).
  returned: always
  type: bool
problems:
  description: What is wrong with the file as a whole (then no state of it is used).
  returned: always
  type: list
  elements: str
  sample: ["the file is empty (0 bytes): a state file is never empty, it was truncated or not written completely"]
refused:
  description: Per IP, the states that could not be used and why (only what can lower a cap is kept).
  returned: always
  type: dict
  sample: {"192.0.2.10": {"problems": ["state: stage_index must be an integer >= 0, got a string"],
                          "salvage": {"standby": false}}}
path:
  description: The state file.
  returned: always
  type: str
  sample: /var/lib/mailfleet/warmup-state.json
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mailfleet.fleet.plugins.module_utils.atomic import atomic_write, parse_mode, read_text
from ansible_collections.mailfleet.fleet.plugins.module_utils.health import dump_health_states
from ansible_collections.mailfleet.fleet.plugins.module_utils.states import dump_states, read_health_file, read_state_file

DUMP = {"warmup": dump_states, "health": dump_health_states}


def read(params, text):
    """What the file holds: ``{"states", "refused", "problems"}`` (never raises)."""
    if params["kind"] == "health":
        return read_health_file(text, params["ips"], params["warmup_states"])
    return read_state_file(text)


def write(module, result, text):
    """Replace the file with the given states (atomically, outside check mode), with a diff."""
    p = module.params
    try:
        mode = parse_mode(p["mode"])
        new_states = json.loads(json.dumps(p["states"]))  # what is written is what a later read returns
        new_text = DUMP[p["kind"]](new_states)
    except (TypeError, ValueError) as exc:
        module.fail_json(msg="%s state %s: write refused, invalid states or mode: %s" % (p["kind"], p["path"], exc),
                         **result)
    changed = new_text != text
    if text is not None and not changed:
        try:
            changed = (os.stat(p["path"]).st_mode & 0o7777) != mode
        except OSError:
            changed = True
    result.update(changed=changed, states=new_states)
    if module._diff:
        result["diff"] = {"before": text if text is not None else "", "after": new_text,
                          "before_header": p["path"], "after_header": p["path"]}
    if changed and not module.check_mode:
        try:
            atomic_write(p["path"], new_text, mode, makedirs=True)
        except OSError as exc:
            module.fail_json(msg="%s state %s: write failed: %s" % (p["kind"], p["path"], exc), **result)
    module.exit_json(**result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", choices=["read", "write"], default="read"),
            kind=dict(type="str", choices=["warmup", "health"], default="warmup"),
            path=dict(type="path", default="/var/lib/mailfleet/warmup-state.json"),
            states=dict(type="dict"),
            on_corrupt=dict(type="str", choices=["fail", "reset"], default="fail"),
            ips=dict(type="list", elements="str", default=[]),
            warmup_states=dict(type="dict", default={}),
            mode=dict(type="raw", default="0644"),
        ),
        required_if=[("state", "write", ("states",))],
        supports_check_mode=True,
    )
    p = module.params
    result = dict(changed=False, path=p["path"], exists=False, corrupt=False, states={}, problems=[], refused={})
    try:
        text = read_text(p["path"])
    except (OSError, UnicodeDecodeError) as exc:
        module.fail_json(msg="%s state %s: cannot read the file: %s" % (p["kind"], p["path"], exc), **result)
    found = read(p, text)
    result.update(exists=text is not None, corrupt=bool(found["problems"] or found["refused"]), **found)
    if p["state"] == "write":
        write(module, result, text)
    if result["corrupt"] and p["on_corrupt"] == "fail":
        module.fail_json(msg="%s state %s: corrupted state file: %s; fix or remove it, or read it with "
                             "on_corrupt=reset" % (p["kind"], p["path"], "; ".join(found["problems"] + [
                                 "%s: %s" % (ip, "; ".join(r["problems"])) for ip, r in sorted(found["refused"].items())])),
                         **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
