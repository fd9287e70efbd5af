# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The connection option shared by the MailWizz modules."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  connection:
    description:
      - How to reach the tenant's MailWizz customer API.
      - Omit it in mailfleet playbooks - the module's action plugin resolves it from the
        inventory (the one resolver, C(plugin_utils/mailwizz_connection.py)) - the instance
        C(mailfleet_mailwizz_instances[tenant.mailwizz]) gives the URL and the HTTP options,
        the tenant's C(mailwizz_auth) its own customer key, and two tenants sharing a key are
        refused before any request. Give it explicitly only outside mailfleet playbooks.
      - The keys are never logged and never appear in messages.
    type: dict
    suboptions:
      url:
        description: API base URL (C(https://mailwizz.example.com/api)).
        type: str
        required: true
      api_key:
        description: 2.x/3.x customer API key (header C(X-Api-Key)).
        type: str
      public_key:
        description: 1.x public key (signed requests).
        type: str
      private_key:
        description: 1.x private key (signed requests).
        type: str
      timeout:
        description: Seconds to wait for the connection and for each read of the answer.
        type: float
        default: 30.0
      retries:
        description:
          - Retries of idempotent requests (GET, PUT, DELETE) on connection errors, timeouts,
            429 and 5xx, with exponential backoff and jitter; C(Retry-After) is honoured.
          - A POST is only retried when it never reached the server; after an ambiguous
            failure the object is looked up again first (see O(connection.settle)).
        type: int
        default: 4
      backoff:
        description: First backoff delay in seconds (doubled on each retry, half of it random).
        type: float
        default: 0.5
      settle:
        description:
          - After a create that timed out, lost its answer or got a 5xx, how long (seconds)
            the object is looked up again with backoff before a new POST is sent (a reply
            slower than O(connection.timeout) may still commit). Default twice the timeout.
        type: float
      validate_certs:
        description: Verify the server's TLS certificate. Set V(false) only for tests.
        type: bool
        default: true
      ca_path:
        description: PEM file of the CA(s) to trust (a MailWizz behind a private CA).
        type: path
      client_cert:
        description: PEM client certificate for TLS client authentication (may hold the key).
        type: path
      client_key:
        description: PEM private key of O(connection.client_cert) when it is a separate file.
        type: path
      proxy:
        description: Proxy URL for both http and https (C(http://proxy.example.net:3128)).
        type: str
      use_proxy:
        description:
          - Use the proxy settings of the environment (C(HTTP_PROXY), C(HTTPS_PROXY),
            C(NO_PROXY)) when O(connection.proxy) is not given. V(false) ignores them.
        type: bool
        default: true
"""
