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

from ansible_collections.mailfleet.fleet.plugins.module_utils.mailwizz_module import (
    common_spec, run)
from ansible_collections.mailfleet.fleet.plugins.module_utils.mailwizz_ops import (
    OperationError, existing_parts)


def gather(client, what, campaign_name=None, campaign_uid=None):
    out = {"changed": False}
    if "health" in what:
        out["health"] = client.health()
    if "lists" in what:
        out["lists"] = [{"list_uid": (r.get("general") or {}).get("list_uid"),
                         "name": (r.get("general") or {}).get("name"),
                         "description": (r.get("general") or {}).get("description"),
                         "from_email": (r.get("defaults") or {}).get("from_email")}
                        for r in client.paginate("lists", obj="lists")]
    if "delivery_servers" in what:
        out["delivery_servers"] = client.delivery_servers()
    if "campaigns" in what:
        out["campaigns"] = [{"campaign_uid": r.get("campaign_uid"), "name": r.get("name"),
                             "status": r.get("status")} for r in client.campaigns()]
    if "campaign_stats" in what:
        targets = []
        if campaign_uid:
            targets.append((campaign_uid, campaign_uid))
        if campaign_name:
            parts = existing_parts(client, campaign_name)
            if not parts:
                raise OperationError("campaign %r does not exist" % campaign_name)
            targets.extend((p["name"], p["campaign_uid"]) for p in parts)
        if not targets:
            raise OperationError("campaign_stats needs campaign_name or campaign_uid")
        out["campaign_stats"] = dict((label, client.campaign_stats(uid))
                                     for label, uid in targets)
    return out


def main():
    module = AnsibleModule(
        argument_spec=common_spec(
            gather=dict(type="list", elements="str", default=["health"],
                        choices=["health", "lists", "delivery_servers", "campaigns",
                                 "campaign_stats"]),
            campaign_name=dict(type="str"),
            campaign_uid=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    run(module, lambda client: gather(client, p["gather"], p["campaign_name"],
                                      p["campaign_uid"]))


if __name__ == "__main__":
    main()
