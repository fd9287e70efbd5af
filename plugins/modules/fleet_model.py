#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# The work is done by the action plugin of the same name (plugins/action/fleet_model.py), on the
# controller; this file carries its documentation, as for ansible.builtin.template.
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: fleet_model
short_description: Validate the mailfleet inventory and publish the fleet model
description:
  - Reads the resolved inventory (C(mailfleet_tenants), C(mailfleet_warmup_schedules),
    C(mailfleet_providers), C(mailfleet_mailwizz_instances) and every host's C(mailfleet_ips)),
    checks types and cross-references over the whole fleet and either fails with every error, each
    naming the inventory file, line and key at fault, or sets the facts C(mailfleet_model),
    C(mailfleet_today) and C(mailfleet_inventory_base).
  - Runs on the controller only and touches no host. Run it on C(localhost) before any other play.
version_added: "0.1.0"
author: mailfleet
options:
  today:
    description: The day to plan for (YYYY-MM-DD). Defaults to C(mailfleet_today) or the controller's date.
    type: str
  require_key_files:
    description:
      - Fail when a DKIM key file the inventory names (current or retired selector) is missing or is
        neither a PEM private key nor vault-encrypted.
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
