# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The connection option shared by the MailWizz modules."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  connection:
    description:
      - How to reach the tenant's MailWizz customer API. Build it from
        C(mailfleet_mailwizz_instances[tenant.mailwizz]) and the tenant's C(mailwizz_auth); the
        keys are never logged.
    type: dict
    required: true
    suboptions:
      url:
        description: API base URL.
        type: str
        required: true
      api_key:
        description: 2.x/3.x customer API key.
        type: str
      public_key:
        description: 1.x public key.
        type: str
      private_key:
        description: 1.x private key.
        type: str
      timeout:
        description: Seconds per HTTP request.
        type: float
        default: 30.0
      retries:
        description: Retries on connection errors, timeouts, 5xx and 429.
        type: int
        default: 4
      backoff:
        description: First backoff delay in seconds.
        type: float
        default: 0.5
"""
