#!/usr/bin/python
# -*- coding: utf-8 -*-
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
  - Runs on the PowerMTA host with the Python standard library only.
version_added: "0.1.0"
author: mailfleet
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
      - What to do with O(state=read) when the file exists but is not a valid state file.
      - C(fail) stops with an error naming the file; C(reset) returns empty states and
        RV(corrupt=true) (the planner then starts every IP conservatively at its first stage
        and the next write replaces the file).
    type: str
    choices: [fail, reset]
    default: fail
  mode:
    description: Permissions of the written file.
    type: raw
    default: "0644"
attributes:
  check_mode:
    support: full
  diff_mode:
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
  description: Whether the existing file was unreadable and ignored (O(on_corrupt=reset)).
  returned: always
  type: bool
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
from ansible_collections.mailfleet.fleet.plugins.module_utils.health import dump_health_states, load_health_states
from ansible_collections.mailfleet.fleet.plugins.module_utils.states import dump_states, load_states

CODECS = {"warmup": (load_states, dump_states), "health": (load_health_states, dump_health_states)}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", choices=["read", "write"], default="read"),
            kind=dict(type="str", choices=["warmup", "health"], default="warmup"),
            path=dict(type="path", default="/var/lib/mailfleet/warmup-state.json"),
            states=dict(type="dict"),
            on_corrupt=dict(type="str", choices=["fail", "reset"], default="fail"),
            mode=dict(type="raw", default="0644"),
        ),
        required_if=[("state", "write", ("states",))],
        supports_check_mode=True,
    )
    path = module.params["path"]
    load, dump = CODECS[module.params["kind"]]
    result = dict(changed=False, path=path, exists=False, corrupt=False, states={})

    try:
        text = read_text(path)
        exists = text is not None
    except (OSError, UnicodeDecodeError) as exc:
        module.fail_json(msg="%s state %s: cannot read the file: %s" % (module.params["kind"], path, exc), **result)
    result["exists"] = exists

    current = {}
    if exists:
        try:
            current = load(text)
        except ValueError as exc:
            if module.params["state"] == "read" and module.params["on_corrupt"] == "fail":
                module.fail_json(msg="%s state %s: corrupted state file (%s); fix or remove it, or "
                                     "read it with on_corrupt=reset" % (module.params["kind"], path, exc), **result)
            result["corrupt"] = True
            current = {}

    if module.params["state"] == "read":
        result["states"] = current
        module.exit_json(**result)

    try:
        mode = parse_mode(module.params["mode"])
    except ValueError:
        module.fail_json(msg="%s state %s: invalid mode %r" % (module.params["kind"], path, module.params["mode"]), **result)
    try:
        # Round-trip through JSON: what is written is exactly what a later read returns.
        new_states = json.loads(json.dumps(module.params["states"]))
        new_text = dump(new_states)
    except (TypeError, ValueError) as exc:
        module.fail_json(msg="%s state %s: write refused, invalid states: %s" % (module.params["kind"], path, exc), **result)

    changed = new_text != text
    if exists and not changed:
        try:
            changed = (os.stat(path).st_mode & 0o7777) != mode
        except OSError:
            changed = True
    result["changed"] = changed
    result["states"] = new_states
    if module._diff:
        result["diff"] = {"before": text if text is not None else "", "after": new_text,
                          "before_header": path, "after_header": path}
    if changed and not module.check_mode:
        try:
            atomic_write(path, new_text, mode, makedirs=True)
        except OSError as exc:
            module.fail_json(msg="%s state %s: write failed: %s" % (module.params["kind"], path, exc), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
