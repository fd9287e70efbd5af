#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Write the mailfleet run report (Markdown + self-contained HTML) and the caps history."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: mailfleet_report
short_description: Write the mailfleet run report (Markdown and self-contained HTML with charts)
description:
  - >-
    Builds the run report of the warmup fleet from the warmup plan, the ledgers, the health state
    and the history of caps, and writes C(DIR/KIND-DATE.md), C(DIR/KIND-DATE.html) and
    C(DIR/latest.html), then adds today's caps to the caps history file (C({day: {ip: cap}})).
  - Per tenant - pool capacity (today and yesterday), DNS authentication of its domains (SPF,
    DKIM, DMARC). Per IP - warmup stage, cap today and its change, what was sent yesterday, hard
    bounce / complaint / deferral rates against the schedule's thresholds, DNSBL listings, FCrDNS,
    the decision and its reason, and an inline SVG chart of the cap in force vs what was sent over
    the last O(days) days.
  - The HTML page has inline CSS and SVG only (no script, no external asset) and the output is
    deterministic, so a second run on the same day with the same inputs changes nothing.
  - Every file is written atomically (temporary file in the same directory, then rename), only
    outside check mode and only when its content differs.
  - Runs on the controller (C(delegate_to=localhost) or a play on C(localhost)).
version_added: "0.1.0"
author: mailfleet maintainers (@mailfleet)
options:
  dir:
    description: Directory of the reports (created when missing, outside check mode).
    type: path
    required: true
  kind:
    description: First part of the file names (C(warmup), C(health), ...).
    type: str
    default: warmup
  plan_report:
    description:
      - >-
        The C(report) returned by the warmup planner (C(warmup.plan_fleet)),
        C({date, ips: {ADDRESS: {stage, warm, daily, providers, standby, action, reason, rates,
        tenant, host, schedule}}, capacity: {TENANT: int}, actions}).
    type: dict
    required: true
  model:
    description: The fleet model (domains, hostnames and rate thresholds come from it).
    type: dict
  ledgers:
    description:
      - >-
        Ledger compact form of every IP, C({ADDRESS: {YYYY-MM-DD: {PROVIDER: {delivered,
        hard_bounce, soft_bounce, deferred, complaint}}}}), covering at least the last O(days) days.
    type: dict
    default: {}
  health:
    description:
      - >-
        The health state C({ips: {ADDRESS: {standby, listed, listings}}, dns_auth: {...}, updated})
        or the planner view C({ADDRESS: {standby, reason, listed}}).
    type: dict
    default: {}
  date:
    description: The report date C(YYYY-MM-DD); defaults to the plan report's date.
    type: str
  days:
    description: Days shown in the cap-vs-sent charts (today included).
    type: int
    default: 14
  history_file:
    description: >-
      The caps history C({day: {ip: cap}}); defaults to C(DIR/history.json).
    type: path
  keep_days:
    description: Days kept in the caps history.
    type: int
    default: 120
  formats:
    description: Which reports to write.
    type: list
    elements: str
    choices: [md, html]
    default: [md, html]
  latest:
    description: Also write C(DIR/latest.html) (a copy of the HTML report).
    type: bool
    default: true
  mode:
    description: Permissions of the written files.
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
  - The diff shows the Markdown report and the history file; the HTML files are listed in
    RV(changed_files) only.
"""

EXAMPLES = r"""
- name: Write today's warmup report
  mailfleet.fleet.mailfleet_report:
    dir: "{{ mailfleet_reports_dir | default(playbook_dir ~ '/../reports') }}"
    plan_report: "{{ warmup_plan.report }}"
    model: "{{ mailfleet_model }}"
    ledgers: "{{ mailfleet_ledgers }}"
    health: "{{ mailfleet_health }}"
  delegate_to: localhost
  run_once: true
  register: run_report

- name: Show where the report is
  ansible.builtin.debug:
    msg: "{{ run_report.files }}"
"""

RETURN = r"""
files:
  description: The files of this report (written or already up to date), history file last.
  returned: always
  type: list
  elements: str
  sample: [reports/warmup-2026-03-21.md, reports/warmup-2026-03-21.html, reports/latest.html, reports/history.json]
changed_files:
  description: The files that were (or in check mode would be) written.
  returned: always
  type: list
  elements: str
totals:
  description: Fleet totals of the report (ips, active, standby, listed, capacity, capacity_before, sent_yesterday, actions).
  returned: always
  type: dict
  sample: {"ips": 5, "active": 4, "standby": 1, "listed": 1, "capacity": 7550, "capacity_before": 7700,
           "sent_yesterday": 7600, "actions": {"hold": 3, "standby": 1, "step_back": 1}}
markdown:
  description: The Markdown report (for a chat message or a job log).
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mailfleet.fleet.plugins.module_utils.module_run import finish
from ansible_collections.mailfleet.fleet.plugins.module_utils.report_files import report_task

ARGUMENT_SPEC = dict(
    dir=dict(type="path", required=True),
    kind=dict(type="str", default="warmup"),
    plan_report=dict(type="dict", required=True),
    model=dict(type="dict"),
    ledgers=dict(type="dict", default={}),
    health=dict(type="dict", default={}),
    date=dict(type="str"),
    days=dict(type="int", default=14),
    history_file=dict(type="path"),
    keep_days=dict(type="int", default=120),
    formats=dict(type="list", elements="str", choices=["md", "html"], default=["md", "html"]),
    latest=dict(type="bool", default=True),
    mode=dict(type="raw", default="0644"),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    finish(module, report_task, module.params, check_mode=module.check_mode, diff=module._diff)


if __name__ == "__main__":
    main()
