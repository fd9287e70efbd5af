#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# The work is done by the action plugin of the same name (plugins/action/fleet_model.py), on the
# controller; this file carries its documentation, as for ansible.builtin.template.
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: fleet_model
short_description: Validate the mailfleet inventory and publish the fleet model
description:
  - Validates the whole inventory on the controller, before any host is touched, in one pass. The
    checks live in C(plugins/module_utils/fleet.py) (C(build_model), C(check_key_files)); every
    string that reaches a PowerMTA configuration, a DNS name or an SQL row passes the one grammar
    (C(plugins/module_utils/grammar.py)).
  - Reads C(mailfleet_tenants), C(mailfleet_warmup_schedules), C(mailfleet_providers),
    C(mailfleet_mailwizz_instances), C(mailfleet_smtp_listeners), C(mailfleet_alerts),
    C(mailfleet_dns_nameservers), C(mailfleet_dnsbl_zones), C(mailfleet_spamhaus_dqs_key),
    C(mailfleet_today), C(mailfleet_serial), C(mailfleet_resume_after),
    C(mailfleet_mailwizz_sending_hours) and every host's C(mailfleet_ips) and C(mailfleet_root).
  - Secrets (SMTP passwords, MailWizz keys, the database password, the Telegram token, webhook
    headers, the DQS key) are read literally - never templated - by C(plugins/plugin_utils/secrets.py),
    checked and never published nor printed. Every other value is templated on its own, so a
    templating error names its file and line.
  - "Fails with every error, each as C(FILE:LINE: KEY: what is wrong and what is expected) - keys
    written twice in one mapping and vars files Ansible ignores are reported alone, as everything
    else would follow from them - or sets the facts C(mailfleet_model) (without any secret),
    C(mailfleet_today) and C(mailfleet_inventory_base)."
  - Runs on the controller only and touches no host. Run it on C(localhost) before any other play.
version_added: "0.1.0"
author: mailfleet maintainers (@mailfleet)
options:
  today:
    description: The day to plan for (YYYY-MM-DD). Defaults to C(mailfleet_today) or the controller's date.
    type: str
  require_key_files:
    description:
      - Fail when a DKIM key file the inventory names (current or retired selector) is missing, cannot be
        decrypted (vault), or is not an unencrypted PEM RSA private key of at least 1024 bits (a public key,
        a certificate, a passphrase-protected, EC or Ed25519 key, garbage).
      - Set to V(false) only where missing keys are expected, as in C(playbooks/dkim.yml), which generates them.
    type: bool
    default: true
notes:
  - Check mode and diff mode change nothing here, because the task never changes anything.
"""

EXAMPLES = r"""
- name: Validate the fleet
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Build and validate the fleet model
      mailfleet.fleet.fleet_model:
        today: "2026-11-22"
"""

RETURN = r"""
errors:
  description: One message per problem - the file and line, the key, what is wrong and what is expected.
  type: list
  elements: str
  returned: on failure
summary:
  description: Counts of tenants, hosts and IPs.
  type: dict
  returned: on success
ansible_facts:
  description: The facts C(mailfleet_model), C(mailfleet_today) and C(mailfleet_inventory_base).
  type: dict
  returned: on success
"""
