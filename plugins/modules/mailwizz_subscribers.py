#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: mailwizz_subscribers
short_description: Bulk-import subscribers into a MailWizz list
description:
  - Imports subscribers from a CSV file or a YAML list through the bulk endpoint (at most
    10,000 per call). Existing unchanged subscribers are skipped, changed ones updated.
  - Tags are stored in a custom field (default C(TAGS)) as C(,tag1,tag2,) so segments can match
    C(contains ,tag,). Each subscriber also gets a stable bucket C(00)..C(99) in C(MF_BUCKET),
    which M(mailfleet.fleet.mailwizz_campaign) uses to split a campaign over several days.
  - Missing C(TAGS)/C(MF_BUCKET) fields are created. Any other column the list does not have is
    refused up front (MailWizz would drop it silently).
  - No row is lost silently; failed rows are returned with their reason. After an ambiguous
    bulk failure (connection lost, 5xx) the module looks up which rows landed before retrying
    only the others, so a retry never duplicates.
version_added: "0.1.0"
author: mailfleet maintainers (@mailfleet)
extends_documentation_fragment:
  - mailfleet.fleet.mailwizz_connection
options:
  tenant:
    description: Tenant the list belongs to.
    type: str
    required: true
  list_name:
    description: Name of the list (or give O(list_uid)).
    type: str
  list_uid:
    description: UID of the list.
    type: str
  subscribers:
    description: Subscribers, each a dict with C(EMAIL), other field tags (C(FNAME)...),
      optional C(tags) (list) and C(status).
    type: list
    elements: dict
  csv_file:
    description: CSV file (on the controller) with a header row; an C(EMAIL) column, other
      columns named by field tag, an optional C(tags) column separated by O(csv_tags_separator).
    type: path
  csv_tags_separator:
    description: Separator of tags inside the CSV C(tags) column.
    type: str
    default: "|"
  tags:
    description: Tags added to every row.
    type: list
    elements: str
    default: []
  tags_field:
    description: Custom field holding the tags.
    type: str
    default: TAGS
  tags_mode:
    description: C(merge) adds the row's tags to existing ones; C(replace) sets them exactly.
    type: str
    choices: [merge, replace]
    default: merge
  bucket_field:
    description: Custom field holding the stable split bucket; empty string to disable.
    type: str
    default: MF_BUCKET
  status:
    description: Status of new subscribers (a row's own C(status) wins).
    type: str
    choices: [unconfirmed, confirmed, blacklisted, unsubscribed, unapproved, disabled, moved]
    default: confirmed
  update_existing:
    description: Update existing subscribers whose fields differ (otherwise they are skipped).
    type: bool
    default: true
  chunk_size:
    description: Subscribers per bulk call (1..10000).
    type: int
    default: 10000
  fail_on_errors:
    description: Fail the task when any row failed (failed rows are always returned).
    type: bool
    default: false
notes:
  - Supports check mode (counts what would change, writes nothing) and diff mode (counts).
"""

EXAMPLES = r"""
- name: Import the spring contacts
  mailfleet.fleet.mailwizz_subscribers:
    tenant: acme
    connection: "{{ acme_mailwizz_connection }}"
    list_name: acme-newsletter
    csv_file: files/acme-spring.csv
    tags: [spring]
  delegate_to: localhost

- name: Two VIPs
  mailfleet.fleet.mailwizz_subscribers:
    tenant: acme
    connection: "{{ acme_mailwizz_connection }}"
    list_name: acme-newsletter
    subscribers:
      - {EMAIL: ann@example.com, FNAME: Ann, tags: [vip]}
      - {EMAIL: bob@example.com, FNAME: Bob, tags: [vip], status: unconfirmed}
  delegate_to: localhost
"""

RETURN = r"""
list_uid:
  description: UID of the list.
  returned: always
  type: str
  sample: ab123cd456ef7
created:
  description: Subscribers created (would be, in check mode).
  returned: always
  type: int
  sample: 120
updated:
  description: Existing subscribers updated.
  returned: always
  type: int
  sample: 3
skipped:
  description: Existing subscribers left as they were.
  returned: always
  type: int
  sample: 880
failed_count:
  description: Rows that could not be imported (C(failed) is reserved by Ansible).
  returned: always
  type: int
  sample: 1
counts:
  description: All four counts together.
  returned: always
  type: dict
  sample: {"created": 120, "updated": 3, "skipped": 880, "failed": 1}
failed_rows:
  description: Each failed row with its 1-based input position, email and reason.
  returned: always
  type: list
  elements: dict
  sample: [{"row": 7, "email": "not-an-email", "reason": "invalid or missing EMAIL"}]
fields_created:
  description: Custom fields created in the list (TAGS, MF_BUCKET) when missing.
  returned: always
  type: list
  elements: str
  sample: ["TAGS"]
api_calls:
  description: HTTP requests made (retries included).
  returned: always
  type: int
  sample: 23
api_calls_by_method:
  description: HTTP requests made per method.
  returned: always
  type: dict
  sample: {"GET": 21, "POST": 2}
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

from ansible_collections.mailfleet.fleet.plugins.module_utils import mailwizz_ops
from ansible_collections.mailfleet.fleet.plugins.module_utils.mailwizz_module import common_spec, run

ARGUMENT_SPEC = common_spec(
    list_name=dict(type="str"),
    list_uid=dict(type="str"),
    subscribers=dict(type="list", elements="dict"),
    csv_file=dict(type="path"),
    csv_tags_separator=dict(type="str", default="|"),
    tags=dict(type="list", elements="str", default=[]),
    tags_field=dict(type="str", default="TAGS"),
    tags_mode=dict(type="str", choices=["merge", "replace"], default="merge"),
    bucket_field=dict(type="str", default="MF_BUCKET"),
    status=dict(type="str", choices=list(mailwizz_ops.SUB_STATUSES), default="confirmed"),
    update_existing=dict(type="bool", default=True),
    chunk_size=dict(type="int", default=10000),
    fail_on_errors=dict(type="bool", default=False),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC,
                           required_one_of=[["list_name", "list_uid"], ["subscribers", "csv_file"]],
                           mutually_exclusive=[["list_name", "list_uid"], ["subscribers", "csv_file"]],
                           supports_check_mode=True)
    run(module, lambda client: mailwizz_ops.subscribers_task(client, module.params, module.check_mode,
                                                             module._diff, warn=module.warn))


if __name__ == "__main__":
    main()
