#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: mailwizz_list
short_description: Manage a MailWizz email list by name
description:
  - Creates, updates or deletes a MailWizz list identified by its name, through the MailWizz
    customer API of the tenant's own key.
  - Idempotent; only the fields you give are compared. A name held by several lists is refused.
  - "Runs on the controller (C(delegate_to: localhost) or a C(localhost) play)."
version_added: "0.1.0"
author: mailfleet maintainers (@mailfleet)
extends_documentation_fragment:
  - mailfleet.fleet.mailwizz_connection
options:
  tenant:
    description: Tenant the list belongs to (used in messages and results).
    type: str
    required: true
  name:
    description: List name (unique per tenant).
    type: str
    required: true
  state:
    description: Whether the list should exist.
    type: str
    choices: [present, absent]
    default: present
  general:
    description: C(general[...]) fields (description, opt_in, opt_out, display_name...). The
      description defaults to the name.
    type: dict
    default: {}
  defaults:
    description: C(defaults[...]) fields; from_name, from_email and reply_to are required to
      create a list.
    type: dict
    default: {}
  notifications:
    description: C(notifications[...]) fields (subscribe, unsubscribe, subscribe_to...).
    type: dict
    default: {}
  company:
    description: C(company[...]) fields (name, country, zone, address_1, city, zip_code...).
    type: dict
    default: {}
notes:
  - Supports check mode and diff mode.
"""

EXAMPLES = r"""
- name: Newsletter list of tenant acme
  mailfleet.fleet.mailwizz_list:
    tenant: acme
    connection:
      url: https://mw.example.com/api
      api_key: "{{ vault_acme_mailwizz_key }}"
    name: acme-newsletter
    general:
      description: Monthly newsletter
      opt_in: double
    defaults:
      from_name: Acme
      from_email: news@acme.example
      reply_to: support@acme.example
  delegate_to: localhost
"""

RETURN = r"""
list_uid:
  description: UID of the list (null when absent, or created in check mode).
  returned: always
  type: str
  sample: ab123cd456ef7
action:
  description: What was done.
  returned: always
  type: str
  sample: created
api_calls:
  description: HTTP requests made (retries included).
  returned: always
  type: int
  sample: 2
api_calls_by_method:
  description: HTTP requests made per method.
  returned: always
  type: dict
  sample: {"GET": 1, "POST": 1}
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
write_only:
  description: Keys given for the list that MailWizz does not return (C(general.opt_in),
    C(general.opt_out), ...); they are sent on create and with every update but cannot be
    compared, so changing only them is not detected.
  returned: always
  type: list
  elements: str
  sample: ["general.opt_in"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mailfleet.fleet.plugins.module_utils import mailwizz_ops
from ansible_collections.mailfleet.fleet.plugins.module_utils.mailwizz_module import common_spec, run

ARGUMENT_SPEC = common_spec(
    name=dict(type="str", required=True),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    general=dict(type="dict", default={}),
    defaults=dict(type="dict", default={}),
    notifications=dict(type="dict", default={}),
    company=dict(type="dict", default={}),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run(module, lambda client: mailwizz_ops.list_task(client, module.params, module.check_mode, module._diff))


if __name__ == "__main__":
    main()
