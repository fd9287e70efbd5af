#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Write the mailfleet Prometheus metrics of a PowerMTA host for node_exporter (stdlib only)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: pmta_metrics
short_description: Write mailfleet warmup metrics to a node_exporter textfile-collector file
description:
  - Renders, in the Prometheus text exposition format, the warmup state of the IPs bound to this
    PowerMTA host (stage, daily cap and per-provider caps, what was sent yesterday, bounce /
    complaint / deferral rates, the decision taken, DNSBL listings, standby) and the capacity of
    each tenant, and writes it where node_exporter's textfile collector reads it.
  - Metric names, types and labels are declared in C(plugins/module_utils/metrics.py) (C(METRICS));
    the Grafana dashboard C(dashboards/mailfleet.json) uses exactly those names.
  - The write is atomic (temporary file in the same directory, fsync, rename), so node_exporter never
    reads a half-written file; the file is written only outside check mode.
  - Idempotence - the content is a pure function of the inputs, so a second run with the same plan,
    ledger and health changes nothing. The staleness signal is
    C(mailfleet_plan_date_timestamp_seconds) (the day the plan is for) or node_exporter's
    C(node_textfile_mtime_seconds). With O(timestamp=true) the file also carries
    C(mailfleet_last_run_timestamp_seconds) and is rewritten at every run, but the task reports
    C(changed) only when something other than that metric differs.
  - Runs on the PowerMTA host with the Python standard library only (or on the controller with
    O(host) unset to write the metrics of the whole fleet).
version_added: "0.1.0"
author: mailfleet maintainers (@mailfleet)
options:
  path:
    description: The textfile-collector file to write (must end in C(.prom) for node_exporter).
    type: path
    default: /var/lib/node_exporter/textfile_collector/mailfleet.prom
  plan_report:
    description:
      - >-
        The C(report) returned by the warmup planner (C(warmup.plan_fleet)),
        C({date, ips: {ADDRESS: {stage, warm, daily, providers, standby, action, reason, rates,
        tenant, host, schedule}}, capacity: {TENANT: int}}).
    type: dict
    required: true
  ledgers:
    description:
      - >-
        Ledger compact form C({ADDRESS: {YYYY-MM-DD: {PROVIDER: {delivered, hard_bounce,
        soft_bounce, deferred, complaint}}}}); only the day before the plan date is read.
    type: dict
    default: {}
  health:
    description:
      - >-
        Health state C({ips: {ADDRESS: {standby, listed, listings, ...}}}) or the planner view
        C({ADDRESS: {standby, reason, listed}}).
    type: dict
    default: {}
  model:
    description:
      - The fleet model (optional); adds the HELO hostname to C(mailfleet_ip_info) and the
        schedules' rate thresholds (C(mailfleet_ip_rate_threshold)).
    type: dict
  host:
    description:
      - Only the IPs whose C(host) in the plan report is this name. Unset means every IP of the
        plan (a fleet-wide file on the controller).
    type: str
  timestamp:
    description:
      - Add C(mailfleet_last_run_timestamp_seconds) (rewrites the file at every run; see the
        description for how C(changed) is decided).
    type: bool
    default: false
  mode:
    description: Permissions of the written file (node_exporter must be able to read it).
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
  - The parent directory must exist (it belongs to node_exporter's installation).
"""

EXAMPLES = r"""
- name: Export this host's warmup metrics
  mailfleet.fleet.pmta_metrics:
    plan_report: "{{ hostvars['localhost'].warmup_plan.report }}"
    ledgers: "{{ ledger.compact }}"
    health: "{{ hostvars['localhost'].mailfleet_health }}"
    host: "{{ inventory_hostname }}"

- name: Fleet-wide metrics on the monitoring host, with a run timestamp
  mailfleet.fleet.pmta_metrics:
    path: /var/lib/node_exporter/textfile_collector/mailfleet-fleet.prom
    plan_report: "{{ warmup_plan.report }}"
    ledgers: "{{ mailfleet_ledgers }}"
    model: "{{ mailfleet_model }}"
    timestamp: true
  delegate_to: localhost
"""

RETURN = r"""
path:
  description: The file written.
  returned: always
  type: str
  sample: /var/lib/node_exporter/textfile_collector/mailfleet.prom
samples:
  description: Number of samples in the file.
  returned: always
  type: int
  sample: 87
ips:
  description: The IPs exported.
  returned: always
  type: list
  elements: str
  sample: ["192.0.2.10", "192.0.2.11"]
written:
  description: Whether the file was (re)written by this run.
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mailfleet.fleet.plugins.module_utils.metrics import write_task
from ansible_collections.mailfleet.fleet.plugins.module_utils.module_run import finish

ARGUMENT_SPEC = dict(
    path=dict(type="path", default="/var/lib/node_exporter/textfile_collector/mailfleet.prom"),
    plan_report=dict(type="dict", required=True),
    ledgers=dict(type="dict", default={}),
    health=dict(type="dict", default={}),
    model=dict(type="dict"),
    host=dict(type="str"),
    timestamp=dict(type="bool", default=False),
    mode=dict(type="raw", default="0644"),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    finish(module, write_task, module.params, check_mode=module.check_mode, diff=module._diff)


if __name__ == "__main__":
    main()
