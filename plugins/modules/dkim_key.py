#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# The work is done by the action plugin of the same name (plugins/action/dkim_key.py), on the
# controller, where the vault secrets are; this file carries its documentation, as for
# ansible.builtin.template.
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: dkim_key
short_description: Generate, show and rotate the DKIM keys of the tenant domains (controller)
description:
  - For every tenant domain of the fleet model, reads the DKIM private key file the inventory names
    (C(dkim_key_file), relative to the inventory directory), decrypting vault-encrypted keys in memory
    with the vault password given to C(ansible-playbook), and returns the exact TXT record to publish
    at C(selector._domainkey.domain) - C(v=DKIM1; k=rsa; p=<base64 DER SubjectPublicKeyInfo>) - also in
    zone-file form, split into strings of at most 255 characters.
  - When the current key file does not exist, generates an RSA key (2048 bits by default) and writes it
    vault-encrypted with the loaded vault secret (the one C(ansible-vault encrypt) would use), mode
    C(0600), atomically. An existing file is never overwritten.
  - Without a vault password the key is written unencrypted (mode C(0600)) with a warning, unless
    O(encrypt=always).
  - O(rotate) generates a key for a new selector next to the current one
    (C(<domain>.<selector>.pem)) and returns the inventory snippet that makes it current and retires
    the old selector. The inventory itself is never edited (it is reviewed in pull requests).
  - With O(nameservers), queries each current and new selector's record and compares it with the key;
    for every domain with C(dkim_retired_selectors) it says whether the retired selectors may now be
    removed (DNS serves the current selector's record and it matches the key) or must stay.
  - Retired selectors' key files must exist (a new key could not match their published record).
    Every problem is reported before anything is written.
  - Runs on the controller only and touches no host.
version_added: "0.2.0"
author: mailfleet maintainers (@mailfleet)
options:
  tenants:
    description: The fleet model's tenants, C(mailfleet_model.tenants) (from M(mailfleet.fleet.fleet_model)).
    type: dict
    required: true
  inventory_base:
    description: The inventory directory key file paths are relative to, C(mailfleet_inventory_base).
    type: path
    required: true
  rotate:
    description: Sending domains to rotate to a new selector.
    type: list
    elements: str
    default: []
  new_selector:
    description:
      - Selector to rotate to. Default C(mfYYYYMM) plus the first letter not yet used by the domain
        (current or retired), from O(today).
    type: str
  today:
    description: The date the default selector is derived from (YYYY-MM-DD). Defaults to C(mailfleet_today), then the controller's date.
    type: str
  bits:
    description: RSA key size of generated keys (2048 or more, RFC 8301).
    type: int
    default: 2048
  encrypt:
    description:
      - V(auto) encrypts new keys when a vault password is loaded and writes them unencrypted with a
        warning otherwise; V(always) fails without a vault password; V(never) writes them unencrypted.
    type: str
    choices: [auto, always, never]
    default: auto
  vault_id:
    description: Vault identity to encrypt with. Defaults to C(DEFAULT_VAULT_ENCRYPT_IDENTITY), then the first loaded secret.
    type: str
  nameservers:
    description:
      - Resolvers to audit the published records with, C(address) or C(address:port)
        (C(mailfleet_dns_nameservers)). Empty - no DNS query, retired selectors are reported as "keep".
    type: list
    elements: str
    default: []
  timeout:
    description: Lifetime of one DNS lookup in seconds.
    type: float
    default: 2.0
notes:
  - Check mode generates nothing and reports the keys it would generate; records of existing keys are
    returned and DNS is audited (read-only) as in a normal run.
  - Diff mode names each generated file (never its content).
requirements: [cryptography, dnspython]
"""

EXAMPLES = r"""
- name: Generate missing DKIM keys and print the records to publish
  mailfleet.fleet.dkim_key:
    tenants: "{{ mailfleet_model.tenants }}"
    inventory_base: "{{ mailfleet_inventory_base }}"
    nameservers: "{{ mailfleet_dns_nameservers | default([]) }}"
  register: dkim

- name: Rotate one domain to a named selector
  mailfleet.fleet.dkim_key:
    tenants: "{{ mailfleet_model.tenants }}"
    inventory_base: "{{ mailfleet_inventory_base }}"
    rotate: [sos-expat.example.com]
    new_selector: mf2026b
  register: dkim
"""

RETURN = r"""
keys:
  description:
    - One entry per selector (current, retired, rotation) - C(tenant), C(domain), C(selector), C(role),
      C(key_file) (as in the inventory), C(path), C(state) (exists|generated|would_generate),
      C(encrypted), C(record) (C(name), C(value), C(strings), C(zone_line), C(bits); null when the key
      does not exist yet) and C(dns) (C(name), C(status) published|missing|mismatch|unknown, C(message);
      null when not audited).
  type: list
  elements: dict
  returned: success
rotations:
  description: Per rotated domain - C(old_selector), C(new_selector), C(new_key_file), C(state), C(published) and the inventory C(snippet) (YAML).
  type: list
  elements: dict
  returned: success
retirement:
  description:
    - Per domain with retired selectors - C(verdict) V(remove) (DNS serves the current selector's
      matching record) or V(keep), C(record_status), C(message).
  type: list
  elements: dict
  returned: success
generated:
  description: Key files generated (or, in check mode, that would be generated), as the inventory names them.
  type: list
  elements: str
  returned: success
report:
  description:
    - Text for the operator (several lines) - every record to publish, rotation steps and snippets,
      retirement verdicts. Print it unchanged - its lines are exact records.
  type: str
  returned: success
errors:
  description: Every problem found before anything was written.
  type: list
  elements: str
  returned: when unusable key files stop the run
"""
