#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module: audit SPF, DKIM, DMARC and FCrDNS of tenant domains and sending IPs."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: dns_auth_audit
short_description: Audit SPF, DKIM, DMARC and forward-confirmed reverse DNS against the bulk-sender rules
description:
  - SPF (via checkdmarc) - record present, valid syntax, at most 10 DNS-querying terms and 2 void
    lookups (RFC 7208), and a C(pass) for every sending IP of the domain.
  - DKIM - TXT at C(selector._domainkey.domain), C(p=) not empty, RSA key of 1024 bits or more
    (warning under 2048), and the published key equals the public half of the PEM private key
    PowerMTA signs with.
  - DMARC (via checkdmarc) - record present, policy (C(p=none) warns), C(rua=), alignment of the
    DKIM C(d=) and Return-Path domains with the From domain under C(adkim)/C(aspf).
  - FCrDNS - PTR of every IP names its configured hostname (the HELO name), whose A/AAAA is that IP.
  - A readiness verdict per domain against the Gmail/Yahoo bulk-sender rules.
  - A check whose lookups get no answer (timeout, SERVFAIL, REFUSED, network error) is C(unknown), with
    C(details.cause) and a message saying what happened - never "no record". An unknown check is
    neither failed nor passed - the domain's C(ready) is then null - it changes no stored state
    (O(previous_state) keeps its last verdict) and raises no C(dns_auth_regression) event.
  - Lookups share one view of the nameservers - one found dead (refusing, or silent for
    O(timeout)) is not waited for again in the same audit, so an outage costs about one timeout.
  - Only the given nameservers are queried. Read-only; C(changed) is always false.
version_added: "0.1.0"
author: mailfleet maintainers (@mailfleet)
options:
  domains:
    description: Tenant sending domains.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The From domain.
        type: str
        required: true
      dkim_selector:
        description: DKIM selector PowerMTA signs with.
        type: str
      dkim_key_file:
        description: Path (on the controller) of the PEM private key PowerMTA signs with.
        type: path
      dkim_key_pem:
        description:
          - The private key as PEM text, instead of O(domains[].dkim_key_file) (a vault-encrypted key
            file read with C(lookup('ansible.builtin.file', ...)) is decrypted by Ansible). Never logged.
        type: str
      ips:
        description: IP addresses this domain sends from (SPF must pass for each; each needs FCrDNS).
        type: list
        elements: str
        default: []
      return_path_domain:
        description: Envelope sender (Return-Path) domain, if not the From domain.
        type: str
  ips:
    description: Sending IPs with the hostname their PTR must name (C(address), C(hostname)).
    type: list
    elements: dict
    default: []
  nameservers:
    description: Resolvers to query, as C(address) or C(address:port).
    type: list
    elements: str
    required: true
  timeout:
    description: Lifetime of one lookup in seconds (and how long a silent nameserver is waited for).
    type: float
    default: 2.0
  previous_state:
    description: Previous C(dns_auth_state); enables C(dns_auth_regression) events.
    type: dict
  run_id:
    description: Timestamp of this run (used in event ids). Defaults to the current UTC time.
    type: str
  fail_on_not_ready:
    description: Fail the task when any domain is not ready on real answers (C(ready=false)); unknown never fails it.
    type: bool
    default: false
notes:
  - Supports check mode (read-only).
requirements: [dnspython, checkdmarc, cryptography]
"""

EXAMPLES = r"""
- name: Audit every tenant domain
  mailfleet.fleet.dns_auth_audit:
    nameservers: ["127.0.0.1"]
    domains:
      - name: news.example.com
        dkim_selector: mf2025
        dkim_key_file: keys/news.example.com.mf2025.pem
        ips: [192.0.2.10, 192.0.2.11]
    ips:
      - {address: 192.0.2.10, hostname: mta1.example.com}
      - {address: 192.0.2.11, hostname: mta2.example.com}
  delegate_to: localhost
  register: auth
"""

RETURN = r"""
results:
  description: One dict per check with C(check), C(subject), C(severity) (ok|warn|fail|unknown), C(messages), C(details).
  returned: always
  type: list
  elements: dict
verdicts:
  description: Per domain C({ready (true|false|null), severity, failed, warnings, unknown, not_checked}).
  returned: always
  type: dict
summary:
  description: Number of results per severity.
  returned: always
  type: dict
dns_auth_state:
  description: State to pass as O(previous_state) next run.
  returned: always
  type: dict
events:
  description: C(dns_auth_regression) events with stable ids.
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mailfleet.fleet.plugins.module_utils import dnsauth
from ansible_collections.mailfleet.fleet.plugins.module_utils.module_run import finish, require

ARGUMENT_SPEC = dict(
    domains=dict(type="list", elements="dict", required=True, options=dict(
        name=dict(type="str", required=True),
        dkim_selector=dict(type="str"),
        dkim_key_file=dict(type="path", no_log=False),
        dkim_key_pem=dict(type="str", no_log=True),
        ips=dict(type="list", elements="str", default=[]),
        return_path_domain=dict(type="str"),
    )),
    ips=dict(type="list", elements="dict", default=[]),
    nameservers=dict(type="list", elements="str", required=True),
    timeout=dict(type="float", default=2.0),
    previous_state=dict(type="dict"),
    run_id=dict(type="str"),
    fail_on_not_ready=dict(type="bool", default=False),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    require(module, *dnsauth.LIBRARIES)
    finish(module, dnsauth.audit_task, module.params)


if __name__ == "__main__":
    main()
