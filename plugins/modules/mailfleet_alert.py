#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module: send health events to Telegram and/or a JSON webhook, once per event id."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: mailfleet_alert
short_description: Send mailfleet health events to Telegram and/or a JSON webhook, deduplicated
description:
  - Sends each event (from M(mailfleet.fleet.dnsbl_check) or M(mailfleet.fleet.dns_auth_audit)) once per
    channel. Event ids already sent are recorded in O(state_path) (JSON, written atomically), so
    re-running a play sends nothing new. A failed send is not recorded and is retried next run.
  - In check mode nothing is sent and the state file is not written; C(would_send) lists what would go out.
  - Messages and errors never contain the bot token or webhook header values.
version_added: "0.1.0"
author: mailfleet maintainers (@mailfleet)
options:
  events:
    description: Events, each a dict with at least C(id) and C(type) (and usually C(message)).
    type: list
    elements: dict
    required: true
  telegram:
    description: Telegram channel.
    type: dict
    suboptions:
      token:
        description: Bot token.
        type: str
        required: true
      chat_id:
        description: Chat id to post to.
        type: str
        required: true
      api_base:
        description: API base URL; messages are POSTed to C({api_base}/bot{token}/sendMessage).
        type: str
        default: https://api.telegram.org
  webhook:
    description: Generic JSON webhook; receives C({"source", "event", "text"}).
    type: dict
    suboptions:
      url:
        description: URL to POST to.
        type: str
        required: true
      headers:
        description: Extra HTTP headers (e.g. an authorization header).
        type: dict
        default: {}
  state_path:
    description: Dedupe state file on the controller.
    type: path
    required: true
  timeout:
    description: HTTP timeout in seconds.
    type: float
    default: 10.0
  prefix:
    description: Text put before every message.
    type: str
    default: mailfleet
  retain_days:
    description: Forget sent ids older than this many days.
    type: int
    default: 400
  fail_on_error:
    description: Fail the task when a channel refuses or cannot be reached (after sending what could be sent).
    type: bool
    default: true
notes:
  - Supports check mode and diff mode (the diff shows the sent ids recorded).
"""

EXAMPLES = r"""
- name: Alert on new health events
  mailfleet.fleet.mailfleet_alert:
    events: "{{ dnsbl.events + auth.events }}"
    telegram:
      token: "{{ vault_telegram_token }}"
      chat_id: "-1001234567890"
    webhook:
      url: https://hooks.example.com/mailfleet
      headers: {Authorization: "Bearer {{ vault_hook_token }}"}
    state_path: "{{ playbook_dir }}/../.state/alerts.json"
  delegate_to: localhost
"""

RETURN = r"""
sent:
  description: C({id, channel}) sent in this run.
  returned: always
  type: list
  elements: dict
would_send:
  description: C({id, channel}) that would be sent (check mode).
  returned: always
  type: list
  elements: dict
skipped:
  description: C({id, channel}) already sent earlier.
  returned: always
  type: list
  elements: dict
failed:
  description: C({id, channel, error}) that could not be sent (retried next run).
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mailfleet.fleet.plugins.module_utils import alerts
from ansible_collections.mailfleet.fleet.plugins.module_utils.module_run import finish

ARGUMENT_SPEC = dict(
    events=dict(type="list", elements="dict", required=True),
    telegram=dict(type="dict", options=dict(
        token=dict(type="str", required=True, no_log=True),
        chat_id=dict(type="str", required=True),
        api_base=dict(type="str", default=alerts.TELEGRAM_API),
    )),
    webhook=dict(type="dict", options=dict(
        url=dict(type="str", required=True),
        headers=dict(type="dict", default={}, no_log=True),
    )),
    state_path=dict(type="path", required=True),
    timeout=dict(type="float", default=10.0),
    prefix=dict(type="str", default="mailfleet"),
    retain_days=dict(type="int", default=400),
    fail_on_error=dict(type="bool", default=True),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, required_one_of=[["telegram", "webhook"]],
                           supports_check_mode=True)
    finish(module, alerts.alert_task, module.params, check_mode=module.check_mode, diff=module._diff)


if __name__ == "__main__":
    main()
