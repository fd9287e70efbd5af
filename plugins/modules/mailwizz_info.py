#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: mailwizz_info
short_description: Read-only facts from a tenant's MailWizz
description:
  - Health check of the customer API, the tenant's lists, its delivery servers (read-only in
    the MailWizz API), its campaigns and a campaign's statistics. Never changes anything.
version_added: "0.1.0"
author: mailfleet maintainers (@mailfleet)
extends_documentation_fragment:
  - mailfleet.fleet.mailwizz_connection
options:
  tenant:
    description: Tenant whose MailWizz customer is read.
    type: str
    required: true
  gather:
    description: What to read.
    type: list
    elements: str
    choices: [health, lists, delivery_servers, campaigns, campaign_stats]
    default: [health]
  campaign_name:
    description: Campaign whose statistics are read (C(campaign_stats)); split parts included.
    type: str
  campaign_uid:
    description: Campaign UID whose statistics are read.
    type: str
notes:
  - Check mode is supported (the module only reads).
"""

EXAMPLES = r"""
- name: Is the tenant's MailWizz API usable?
  mailfleet.fleet.mailwizz_info:
    tenant: acme
    connection: "{{ acme_mailwizz_connection }}"
    gather: [health, lists, delivery_servers]
  delegate_to: localhost
  register: acme_mw
"""

RETURN = r"""
health:
  description: Result of an authenticated read (C(ok), C(latency_ms)).
  returned: when gathered
  type: dict
  sample: {"ok": true, "latency_ms": 12}
lists:
  description: Lists (uid, name, description, from).
  returned: when gathered
  type: list
  elements: dict
  sample: [{"list_uid": "ab123cd456ef7", "name": "acme-newsletter"}]
delivery_servers:
  description: The customer's delivery servers (server_id, type, name, hostname, status).
  returned: when gathered
  type: list
  elements: dict
  sample: [{"server_id": "1", "type": "smtp-pmta", "name": "acme", "hostname": "pmta1.example.net", "status": "active"}]
campaigns:
  description: Campaigns (uid, name, status).
  returned: when gathered
  type: list
  elements: dict
  sample: [{"campaign_uid": "cd12ef34gh567", "name": "spring", "status": "sending"}]
campaign_stats:
  description: Statistics per campaign name.
  returned: when gathered
  type: dict
  sample: {"spring": {"campaign_status": "sending", "subscribers_count": 1000}}
api_calls:
  description: HTTP requests made.
  returned: always
  type: int
  sample: 3
api_calls_by_method:
  description: HTTP requests made per method (only GET).
  returned: always
  type: dict
  sample: {"GET": 3}
tenant:
  description: The tenant.
  returned: always
  type: str
  sample: acme
mailwizz_warnings:
  description: What the run noticed and worked around (also shown as warnings) - duplicate
    objects made by an older run or another tool (the oldest is used), subscribers that landed
    from a call whose answer was lost.
  returned: when any
  type: list
  elements: str
  sample: ["MailWizz list 'news' exists 2 times (ab12..., cd34...): using the oldest, ab12...; delete the others in MailWizz"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mailfleet.fleet.plugins.module_utils import mailwizz_ops
from ansible_collections.mailfleet.fleet.plugins.module_utils.mailwizz_module import common_spec, run

ARGUMENT_SPEC = common_spec(
    gather=dict(type="list", elements="str", default=["health"],
                choices=["health", "lists", "delivery_servers", "campaigns", "campaign_stats"]),
    campaign_name=dict(type="str"),
    campaign_uid=dict(type="str"),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    run(module, lambda client: mailwizz_ops.gather_info(client, params["gather"], params["campaign_name"],
                                                        params["campaign_uid"]))


if __name__ == "__main__":
    main()
