#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# The work is done by the action plugin of the same name (plugins/action/warmup_plan.py), on the
# controller; this file carries its documentation.
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: warmup_plan
short_description: Plan today's warmup caps for the whole fleet on the controller
description:
  - Collects what every PowerMTA host observed (the fact C(fleet_state_observed) set by the role
    C(fleet_state), that is the stored warmup states, health states and the accounting ledger), runs the
    warmup planner (C(plugins/module_utils/warmup.py)) and publishes the facts
    C(mailfleet_caps) (per IP the daily cap, per-provider caps, standby, stage, reason),
    C(mailfleet_capacity) (per tenant, the pool capacity of the capacity contract,
    C(plugins/module_utils/capacity.py)), C(mailfleet_caps_plan) (the decisions and their reasons),
    C(mailfleet_states_by_host) (what to store on each host after a successful deploy),
    C(mailfleet_ledgers), C(mailfleet_state_problems), C(mailfleet_state_events) and
    C(mailfleet_warmup_events) (C(ip_stuck) alert events of IPs that have not advanced for their
    schedule's C(stuck_days) sending days, one id per IP and stage episode).
  - IPs of hosts that could not be read get cap 0 for the run (caps, capacity, report and
    metrics - action C(unreachable)) and no new state.
  - 'State read from a host is evidence, not truth (C(plugins/module_utils/states.py)): each IP''s
    warmup state is checked against its schedule, its C(warmup_start), today and the ledger. A
    state that cannot be true (a stage beyond the schedule or beyond what its days of real sending
    allow, a daily cap above its stage''s volume, dates in the future, C(stage_since) before
    C(warmup_start)), an unreadable, empty or truncated file, and IPs not in the inventory are
    refused: every problem is a warning naming the file, the IP and what is wrong, and a
    C(state_corrupt) event in C(mailfleet_state_events) (the playbooks send them with
    M(mailfleet.fleet.mailfleet_alert)). With O(mode=plan) a refused IP continues at the lowest
    stage the evidence supports (its stage when only another field was wrong, else the first;
    never from the calendar), holding that day; with O(mode=current) it counts 0 until a plan
    repairs it. Unreadable health is never clean (the recorded standby is kept).'
  - Pure computation on the controller; never changes anything.
version_added: "0.1.0"
author: mailfleet maintainers (@mailfleet)
options:
  mode:
    description:
      - C(plan) decides today's stage of every IP (the daily warmup run; planning twice on the
        same day gives the same result).
      - C(current) only reads the caps the last plan deployed (the hourly quota sync and the
        campaign gate) - the stored daily cap and provider back-off give exactly the numbers
        PowerMTA enforces; a standby applies at once.
    type: str
    choices: [plan, current]
    default: plan
  health:
    description:
      - 'Health per IP, C({ip: {standby, reason, listed}}), from a health check of this run. When
        omitted, the health states stored on the hosts are used.'
    type: dict
  today:
    description: The day to plan (YYYY-MM-DD); default C(mailfleet_today) or the controller's date.
    type: str
  observed_var:
    description: The host fact holding what the host observed.
    type: str
    default: fleet_state_observed
notes:
  - Run it on localhost after C(playbooks/validate.yml) and the C(fleet_state) role.
"""

EXAMPLES = r"""
- name: Plan today's caps
  mailfleet.fleet.warmup_plan:
    mode: plan
"""

RETURN = r"""
missing_hosts:
  description: PowerMTA hosts whose state could not be read this run (their IPs count 0).
  type: list
  elements: str
  returned: always
state_problems:
  description: What the integrity check refused, C([{host, kind, path, ip, problem}]) (C(ip) null for a whole file).
  type: list
  elements: dict
  returned: on success
ansible_facts:
  description: >-
    mailfleet_caps, mailfleet_capacity, mailfleet_caps_plan, mailfleet_states_by_host, mailfleet_ledgers,
    mailfleet_state_problems, mailfleet_state_events (state_corrupt alert events),
    mailfleet_warmup_events (ip_stuck alert events).
  type: dict
  returned: on success
"""
