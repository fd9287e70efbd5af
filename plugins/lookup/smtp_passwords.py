# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Lookup plugin mailfleet.fleet.smtp_passwords: the tenants' SMTP passwords, read literally."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: smtp_passwords
author: mailfleet maintainers (@mailfleet)
short_description: The tenants' SMTP passwords, read literally (never templated)
description:
  - "Returns one mapping C({tenant: password}) for every tenant of C(mailfleet_tenants) that has an
    C(smtp_password), read from the raw inventory by the rules of C(plugins/plugin_utils/secrets.py)."
  - "Plain text is used as written (a password C(Xy{{9#k) stays C(Xy{{9#k)); inline C(!vault) values
    are decrypted; a plain reference such as C({{ vault_smtp_password['t'] }}) is followed; nothing
    is templated."
  - The fleet model (C(mailfleet_model)) carries no secret; the PowerMTA configuration is the only
    place the passwords are written, through a module argument that is never logged.
  - "Fails with C(FILE:LINE: KEY: problem) (never the value) when a password cannot be read or
    PowerMTA's grammar cannot hold it."
options: {}
"""

EXAMPLES = r"""
# The PowerMTA configuration needs no lookup: the action plugin mailfleet.fleet.pmta_config reads
# the passwords itself (plugin_utils/secrets.py). A template that needs them:
- name: Check that every tenant has an SMTP password (without printing any)
  ansible.builtin.assert:
    that: lookup('mailfleet.fleet.smtp_passwords') | length == mailfleet_tenants | length
  no_log: true
"""

RETURN = r"""
_raw:
  description: One mapping tenant -> SMTP password.
  type: list
  elements: dict
"""

from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase
from ansible_collections.mailfleet.fleet.plugins.plugin_utils import secrets


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        if terms:
            raise AnsibleError("mailfleet.fleet.smtp_passwords takes no terms")
        try:
            return [secrets.smtp_passwords(variables or {})]
        except secrets.SecretError as exc:
            raise AnsibleError("SMTP passwords: %s" % exc) from None
