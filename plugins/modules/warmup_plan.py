#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
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
    C(mailfleet_capacity) (per tenant, the pool capacity of the capacity contract),
    C(mailfleet_plan) (the decisions and their reasons), C(mailfleet_states_by_host) (what to
    store on each host after a successful deploy) and C(mailfleet_ledgers).
  - IPs of hosts that could not be read get cap 0 for the run and no new state.
  - Pure computation on the controller; never changes anything.
version_added: "0.1.0"
author: mailfleet
options:
  mode:
    description:
      - C(plan) decides today's stage of every IP (the daily warmup run; planning twice on the
        same day gives the same result).
      - C(current) only reads the caps the last plan stored (the hourly quota sync), applying
        standby at once.
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
  description: PowerMTA hosts whose state could not be read this run.
  type: list
  elements: str
  returned: always
ansible_facts:
  description: mailfleet_caps, mailfleet_capacity, mailfleet_plan, mailfleet_states_by_host, mailfleet_ledgers.
  type: dict
  returned: on success
"""
