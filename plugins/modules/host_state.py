#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Read, observe or write what a PowerMTA host keeps for mailfleet (standard library only)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: host_state
short_description: Read, observe or atomically write the mailfleet state of a PowerMTA host (warmup, health, ledger)
description:
  - Runs on the PowerMTA host, Python standard library only. The logic lives in
    C(plugins/module_utils/host_state.py); the file codecs in C(plugins/module_utils/states.py)
    and C(plugins/module_utils/health.py); the ledger in C(plugins/module_utils/ledger.py).
  - 'O(state=observe) returns, in one SSH round trip, everything the controller plans from: the
    warmup state (C(warmup-state.json)), the health state (C(health-state.json)) and the accounting
    ledger brought up to date exactly as M(mailfleet.fleet.pmta_ledger) does (O(ledger)), as
    RV(observed) and, with O(fact), as that host fact (the role C(fleet_state) publishes
    C(fleet_state_observed), which the action C(warmup_plan) checks with C(states.observe_fleet)).'
  - O(state=read) returns one state file (O(kind)); O(state=write) replaces it with O(states).
  - 'The warmup file is C({"version": 1, "ips": {ADDRESS: STATE}}) (stage, the day it started,
    standby and idle bookkeeping, the deployed caps); the health file C({"version": 1, "ips":
    {ADDRESS: HEALTH}}) (DNSBL listings, standby, clean-check streaks). Both are serialised with
    sorted keys, so the same states always give the same bytes.'
  - A read never trusts the file. An empty (0-byte) or truncated file, invalid JSON or another
    version is corrupt, never "no state"; each IP's state is checked on its own. What cannot be used
    is returned in C(problems) (the whole file) and C(refused) (per IP) instead of C(states); the
    controller then checks the usable states against the schedule, the warmup start and the
    ledger, and continues refused IPs conservatively. A file that cannot be read at all
    (permissions, I/O error, not UTF-8) fails the task, naming it.
  - 'Health is never unknown-as-clean: the O(ips) whose health cannot be read get a fail-closed
    health -- the standby their warmup state records (O(warmup_states); with O(state=observe), the
    warmup state read in the same call), standby when that is unknown too, with the clean-check
    count restarted.'
  - Writes are atomic (temporary file in the same directory, fsync, rename) and happen only outside
    check mode; a write reports a change only when the content or the mode differs. An observation
    writes only the ledger (when new accounting records were counted), never in check mode.
version_added: "0.1.0"
author: mailfleet maintainers (@mailfleet)
options:
  state:
    description:
      - C(observe) reads the warmup and health states of O(state_dir) and, with O(ledger), brings the
        accounting ledger up to date; returns RV(observed).
      - C(read) returns the states stored in O(path) (O(kind)).
      - C(write) replaces the file's content with O(states).
    type: str
    choices: [observe, read, write]
    default: read
  state_dir:
    description:
      - mailfleet's state directory on the host. O(state=observe) reads C(warmup-state.json) and
        C(health-state.json) there and keeps the ledger there; O(path) defaults to the O(kind)'s
        file there.
    type: path
    default: /var/lib/mailfleet
  kind:
    description: Which state file O(state=read) and O(state=write) handle, C(warmup) or C(health).
    type: str
    choices: [warmup, health]
    default: warmup
  path:
    description:
      - The state file (O(state=read) and O(state=write)); default C(warmup-state.json) or
        C(health-state.json) in O(state_dir), by O(kind).
    type: path
  states:
    description:
      - Mapping IP address -> per-IP state, as the planner returned it. Required with O(state=write).
    type: dict
  on_corrupt:
    description:
      - What a read (O(state=read) or O(state=observe)) does when a file exists but is not
        (entirely) a valid state file.
      - C(fail) stops with an error naming the file and what is wrong; C(reset) returns what is
        usable and says what is not (C(problems), C(refused)); the controller continues the refused
        IPs conservatively, alerts, and the next write replaces the file.
    type: str
    choices: [fail, reset]
    default: fail
  ips:
    description:
      - The host's IPs (O(state=observe), and O(state=read) with O(kind=health)); those whose health
        cannot be read get a fail-closed health.
    type: list
    elements: str
    default: []
  warmup_states:
    description:
      - With O(state=read) and O(kind=health), the warmup states of the host's IPs (their standby is
        kept when the health is unreadable). O(state=observe) uses the warmup state it just read.
    type: dict
    default: {}
  ledger:
    description:
      - With O(state=observe), the options of the accounting ledger run, as M(mailfleet.fleet.pmta_ledger)
        takes them (a missing one takes that module's default; the ledger lives in O(state_dir)).
        Omit it to leave the ledger alone (the quota sync needs only the states). When O(ledger.acct_dir)
        does not exist (PowerMTA has written no accounting file yet) the ledger is not read and a
        warning says so.
    type: dict
    suboptions:
      acct_dir:
        description: Directory holding the accounting files (default C(/var/log/pmta)).
        type: path
      archive_dirs:
        description: More directories read with the same patterns (rotated files moved away).
        type: list
        elements: path
      acct_columns:
        description:
          - The columns of the accounting files as configured (C(record-fields)), for a file without a
            header line whose header no earlier file gave. Must name C(type) and C(timeLogged).
        type: list
        elements: str
      patterns:
        description: Shell-style patterns of the accounting file names.
        type: list
        elements: str
      keep_days:
        description: Days kept in the ledger on the host (default 90).
        type: int
      days:
        description: Days of ledger returned (today included, UTC; default 7).
        type: int
      since:
        description: Return the days from this date (C(YYYY-MM-DD)) on, instead of O(ledger.days).
        type: str
      vmta_ips:
        description: VirtualMTA name -> source IP, to attribute records that carry no C(dlvSourceIp).
        type: dict
      providers:
        description: Override of the provider map C(provider -> {domains, mx}).
        type: dict
      hard_bounce_categories:
        description: C(bounceCat) values that make a bounce hard.
        type: list
        elements: str
      lock_timeout:
        description: Seconds to wait for another ledger run holding the state directory's lock (default 60).
        type: int
  fact:
    description:
      - With O(state=observe), also publish RV(observed) as this host fact (for example
        C(fleet_state_observed)), so that no separate task is needed.
    type: str
  mode:
    description: Permissions of the written file (O(state=write)).
    type: raw
    default: "0644"
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Reads everything; writes no state file, no ledger, no directory.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
    details: The state file before and after (O(state=write)); the ledger's totals (O(state=observe)).
notes:
  - The parent directory of a written state file is created (mode 0755) when it does not exist, outside check mode.
seealso:
  - module: mailfleet.fleet.pmta_ledger
  - module: mailfleet.fleet.warmup_plan
"""

EXAMPLES = r"""
- name: Everything the planner needs from this host, in one round trip
  mailfleet.fleet.host_state:
    state: observe
    state_dir: /var/lib/mailfleet
    ips: [192.0.2.10, 192.0.2.11]
    on_corrupt: reset
    ledger:
      acct_dir: /var/log/pmta
      days: 30
      keep_days: 90
      vmta_ips: {alpha-192-0-2-10: 192.0.2.10, alpha-192-0-2-11: 192.0.2.11}
    fact: fleet_state_observed

- name: Read the warmup state of this PowerMTA host
  mailfleet.fleet.host_state:
    state: read
    kind: warmup
  register: warmup

- name: Store the states the planner returned for this host's IPs
  mailfleet.fleet.host_state:
    state: write
    kind: warmup
    path: /var/lib/mailfleet/warmup-state.json
    states: "{{ hostvars['localhost']['mailfleet_states_by_host'][inventory_hostname] }}"
    mode: "0640"
"""

RETURN = r"""
observed:
  description:
    - 'With O(state=observe), what the host keeps -- C(warmup) and C(health) (IP -> state; unreadable
      health fail-closed), C(warmup_file) and C(health_file) (C(path), C(problems), C(refused)),
      C(ledger) (the compact ledger of the days asked for, C({ip: {day: {provider: counts}}})),
      C(ledger_read) (false when the ledger was not asked for or no accounting directory exists) and
      C(ledger_files) (the accounting files read, moved or in trouble).'
  returned: when state is observe
  type: dict
  sample: {"warmup": {"192.0.2.10": {"stage_index": 2}}, "warmup_file": {"path": "/var/lib/mailfleet/warmup-state.json",
           "problems": [], "refused": {}}, "health": {}, "health_file": {"path": "/var/lib/mailfleet/health-state.json",
           "problems": [], "refused": {}}, "ledger": {}, "ledger_read": true, "ledger_files": []}
states:
  description: Mapping IP address -> state (O(state=read); after the write for O(state=write)).
  returned: when state is read or write
  type: dict
  sample: {"192.0.2.10": {"version": 1, "stage_index": 2, "stage_since": "2024-05-03", "standby": false,
           "standby_since": null, "last_sent": "2024-05-09", "rewarm": null,
           "planned_on": "2024-05-10", "action": "hold", "daily": 500, "base": null}}
exists:
  description: Whether the file existed before the task.
  returned: when state is read or write
  type: bool
corrupt:
  description: Whether something in the existing file could not be used.
  returned: when state is read or write
  type: bool
problems:
  description: What is wrong with the file as a whole (then no state of it is used).
  returned: when state is read or write
  type: list
  elements: str
  sample: ["the file is empty (0 bytes): a state file is never empty, it was truncated or not written completely"]
refused:
  description: Per IP, the states that could not be used and why (only what can lower a cap is kept).
  returned: when state is read or write
  type: dict
  sample: {"192.0.2.10": {"problems": ["state: stage_index must be an integer >= 0, got a string"],
                          "salvage": {"standby": false}}}
path:
  description: The state file.
  returned: when state is read or write
  type: str
  sample: /var/lib/mailfleet/warmup-state.json
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mailfleet.fleet.plugins.module_utils import host_state, ledger_update

ARGUMENT_SPEC = dict(
    state=dict(type="str", choices=["observe", "read", "write"], default="read"),
    state_dir=dict(type="path", default="/var/lib/mailfleet"),
    kind=dict(type="str", choices=list(host_state.KINDS), default="warmup"),
    path=dict(type="path"),
    states=dict(type="dict"),
    on_corrupt=dict(type="str", choices=["fail", "reset"], default="fail"),
    ips=dict(type="list", elements="str", default=[]),
    warmup_states=dict(type="dict", default={}),
    ledger=dict(type="dict", options=ledger_update.argument_spec(defaults=False, exclude=("state_dir", "by_vmta"))),
    fact=dict(type="str"),
    mode=dict(type="raw", default="0644"),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, required_if=[("state", "write", ("states",))],
                           supports_check_mode=True)
    try:
        result, warnings = host_state.run(module.params, check_mode=module.check_mode, diff=module._diff)
    except host_state.HostStateError as exc:
        module.fail_json(msg=exc.msg, **exc.result)
    for warning in warnings:
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
