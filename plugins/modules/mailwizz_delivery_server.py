#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module: MailWizz delivery servers for the fleet's tenants (direct database writes)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: mailwizz_delivery_server
short_description: Manage the MailWizz delivery servers that send through the fleet's PowerMTA hosts
description:
  - Keeps one MailWizz delivery server per tenant and PowerMTA host in MailWizz's
    C({prefix}delivery_server) table, with hostname/port of that host's SMTP listener, the tenant's
    SMTP user, from name/email, type, use_for, status, probability and the hourly/daily quotas of the
    capacity contract. MailWizz has no API for delivery servers, so the module writes the table
    over a MySQL connection (PyMySQL). Runs on the controller.
  - Only rows whose C(name) starts with C(<name_prefix>:) (C(mailfleet:<tenant>:<host>)) are read
    for update, locked or written; every other row is left untouched.
  - All changes of a run happen in one transaction; any error rolls it back, so a failure never
    leaves a half-written row.
  - B(Quotas.) MailWizz reads a quota of 0 as unlimited. A row whose capacity is 0 (tenant or host
    with every IP on standby) is set to status C(disabled) with both quotas at 1, never 0.
    C(hourly_quota) is C(ceil(daily_quota / sending_hours)).
  - B(Passwords.) MailWizz stores SMTP passwords encrypted with its own key; the module never
    writes the C(password) column of an existing row and never receives the SMTP password. A
    missing row is created only with I(create=true), with an empty password and status
    C(inactive); it stays C(inactive) until the operator sets the password in the MailWizz admin
    (Servers > Delivery servers > edit), after which the module manages C(active)/C(disabled).
    Without I(create=true) missing rows are reported in C(missing) (with a warning), not created.
  - Owned rows that are no longer planned are disabled (I(orphans=disable)), never deleted.
    A row MailWizz marks C(pending-delete) is left alone. MailWizz's own warmup plan
    (C(warmup_plan_id)) is detached from owned rows, since it would rewrite the quotas hourly.
  - B(MailWizz's rules.) A change of hostname, port, username, protocol or from_email puts the
    row back to C(inactive) for MailWizz's own validation (I(identity_change=inactive)); an
    C(inactive) row is never activated by the module. Additional headers MailWizz never allows
    (C(From), C(Return-Path), C(Sender), ...) and empty names or values are dropped with a
    warning. A created row gets C(force_from=always), as MailWizz's UI does. C(use_for) is
    written as the column holds it (bitmask on 2.3.8+, the name before). C(customer_id)
    references MailWizz's customer table; a wrong id fails the run naming the row.
  - B(The quota-left cache.) MailWizz caches each server's remaining quota for 300 seconds and
    clears it only when it saves the row itself. A row whose quota is lowered is written
    C(disabled), kept out of MailWizz's rotation for I(quota_cache_seconds), then activated with
    the new quota in the same run (C(held) in the result), so a lowered quota is honoured within
    the run.
version_added: "0.1.0"
author: mailfleet maintainers (@mailfleet)
options:
  instance:
    description:
      - A name of C(mailfleet_mailwizz_instances). The action plugin then reads the database
        login (C(db.host), C(db.port), C(db.unix_socket), C(db.name), C(db.user),
        C(db.password), C(db.table_prefix)) and each tenant's MailWizz customer
        (C(mailfleet_tenants.<tenant>.delivery_server.customer_id)) from the inventory, and
        plans only that instance's tenants. Explicit I(login_user) etc. win.
    type: str
  login_host:
    description: MySQL/MariaDB host of the MailWizz database.
    type: str
    default: 127.0.0.1
  login_port:
    description: MySQL/MariaDB TCP port.
    type: int
    default: 3306
  login_unix_socket:
    description: Unix socket to use instead of host/port.
    type: str
  login_user:
    description: Database user (see docs/mailwizz-bridge.md for the GRANTs it needs); required
      unless I(instance) gives it.
    type: str
  login_password:
    description: Database password (vault it); required unless I(instance) gives it.
    type: str
  login_db:
    description: The MailWizz database name; required unless I(instance) gives it.
    type: str
  connect_timeout:
    description: Connect timeout in seconds.
    type: int
    default: 10
  lock_wait_timeout:
    description: InnoDB lock wait timeout (seconds) for this session, and the wait for the sync lock.
    type: int
    default: 10
  table_prefix:
    description: MailWizz table prefix.
    type: str
    default: mw_
  name_prefix:
    description: Name prefix that marks the rows this module owns.
    type: str
    default: mailfleet
  servers:
    description:
      - Desired rows (as returned by C(plan_delivery_servers)), each with C(name)
        (C(<name_prefix>:<tenant>:<host>)), C(hostname), C(port), C(username), C(from_email),
        C(from_name), C(type), C(use_for), C(status) (C(active)|C(disabled)), C(probability),
        C(hourly_quota), C(daily_quota), optional C(protocol), C(customer_id) and
        C(additional_headers) (list of C(name)/C(value); omitted or null = headers not managed).
      - Mutually exclusive with I(model).
    type: list
    elements: dict
  model:
    description: The fleet model (module_utils/fleet.py C(build_model)); the module plans the rows itself.
    type: dict
  caps:
    description: "Today's caps C({ip: {daily, standby, ...}}); required with I(model)."
    type: dict
  listeners:
    description: "C({host: {hostname, port, protocol}}), the SMTP listener of each PowerMTA host; required with I(model)."
    type: dict
  plan_options:
    description:
      - Options for planning from I(model) - C(sending_hours) (1..24, default 24), C(type)
        (C(smtp-pmta)|C(smtp)), C(use_for), C(header_routing) (add C(X-Virtual-MTA) with the
        tenant's pool), C(extra_headers), C(mailwizz) (only tenants of that MailWizz instance),
        C(default_port), C(protocol), C(customer_ids) (tenant -> MailWizz customer id).
    type: dict
    default: {}
  create:
    description: Create missing rows (empty password, status inactive until the operator sets the password).
    type: bool
    default: false
  orphans:
    description: What to do with owned rows that are not planned any more.
    type: str
    choices: [disable, keep]
    default: disable
  identity_change:
    description:
      - C(inactive) puts a row whose hostname, port, username, protocol or from_email change
        back to C(inactive), as MailWizz does, until MailWizz validates it again.
      - C(keep) keeps its status (the operator takes the responsibility for the new identity).
    type: str
    choices: [inactive, keep]
    default: inactive
  quota_cache_seconds:
    description:
      - MailWizz's quota-left cache period. A row whose quota is lowered is held C(disabled)
        that long before it is activated with the new quota (the run waits). V(0) turns the
        hold off (MailWizz may then send up to the old quota until its cache expires).
    type: int
    default: 300
requirements:
  - PyMySQL (controller)
notes:
  - Supports check mode (reads only, no lock, no hold) and diff mode (before/after of each changed
    owned row; no password).
"""

EXAMPLES = r"""
- name: Sync MailWizz delivery servers with today's capacity
  mailfleet.fleet.mailwizz_delivery_server:
    login_host: db.example.net
    login_user: mailfleet_sync
    login_password: "{{ vault_mailwizz_db_password }}"
    login_db: mailwizz
    model: "{{ mailfleet_model }}"
    caps: "{{ mailfleet_caps }}"
    listeners:
      pmta1: {hostname: pmta1.example.net, port: 2525}
    plan_options:
      sending_hours: 16
      header_routing: true
  delegate_to: localhost

- name: Same, with the database login and customer ids from mailfleet_mailwizz_instances.main
  mailfleet.fleet.mailwizz_delivery_server:
    instance: main
    model: "{{ mailfleet_model }}"
    caps: "{{ mailfleet_caps }}"
    listeners: "{{ mailfleet_smtp_listeners }}"
  delegate_to: localhost

- name: First run - create the rows (operator sets the passwords in MailWizz afterwards)
  mailfleet.fleet.mailwizz_delivery_server:
    login_user: mailfleet_sync
    login_password: "{{ vault_mailwizz_db_password }}"
    login_db: mailwizz
    create: true
    servers:
      - name: "mailfleet:acme:pmta1"
        hostname: pmta1.example.net
        port: 2525
        username: acme
        from_email: news@acme.example.com
        from_name: Acme
        type: smtp-pmta
        use_for: all
        status: active
        probability: 100
        daily_quota: 500
        hourly_quota: 32
"""

RETURN = r"""
changed:
  description: Whether any owned row was (or in check mode would be) written.
  type: bool
  returned: always
created:
  description: Names of rows created.
  type: list
  elements: str
  returned: always
updated:
  description: Names of rows updated.
  type: list
  elements: str
  returned: always
disabled:
  description: Names of orphan owned rows disabled.
  type: list
  elements: str
  returned: always
unchanged:
  description: Names of owned rows already in the desired state.
  type: list
  elements: str
  returned: always
missing:
  description: Planned rows that do not exist and were not created (I(create=false)).
  type: list
  elements: str
  returned: always
skipped:
  description: Owned rows left alone because MailWizz marks them pending-delete.
  type: list
  elements: str
  returned: always
rows:
  description: Managed columns of every owned row after the run, by name (no password; C(password_set) instead).
  type: dict
  returned: always
planned:
  description: The desired rows, when planned from I(model).
  type: list
  elements: dict
  returned: when model is given
held:
  description: Rows held out of MailWizz's rotation for its quota cache period before they were
    activated with a lowered quota (C(name), C(seconds)); in check mode, rows that would be.
  type: list
  elements: dict
  returned: always
still_held:
  description: Held rows MailWizz kept putting back into the rotation; they stay disabled until
    the next run.
  type: list
  elements: str
  returned: when any
revalidate:
  description: Rows put back to inactive because their identity changed, with the columns that
    changed; MailWizz must validate them again.
  type: dict
  returned: always
dropped_headers:
  description: Additional headers dropped by MailWizz's rules, by row, with the reason.
  type: dict
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mailfleet.fleet.plugins.module_utils.delivery_server import HAS_PYMYSQL, run
from ansible_collections.mailfleet.fleet.plugins.module_utils.module_run import require

ARGUMENT_SPEC = dict(
    instance=dict(type="str"),
    login_host=dict(type="str", default="127.0.0.1"),
    login_port=dict(type="int", default=3306),
    login_unix_socket=dict(type="str"),
    login_user=dict(type="str"),
    login_password=dict(type="str", no_log=True),
    login_db=dict(type="str"),
    connect_timeout=dict(type="int", default=10),
    lock_wait_timeout=dict(type="int", default=10),
    table_prefix=dict(type="str", default="mw_"),
    name_prefix=dict(type="str", default="mailfleet"),
    servers=dict(type="list", elements="dict"),
    model=dict(type="dict"),
    caps=dict(type="dict"),
    listeners=dict(type="dict"),
    plan_options=dict(type="dict", default={}),
    create=dict(type="bool", default=False),
    orphans=dict(type="str", choices=["disable", "keep"], default="disable"),
    identity_change=dict(type="str", choices=["inactive", "keep"], default="inactive"),
    quota_cache_seconds=dict(type="int", default=300),
)
CONSTRAINTS = dict(
    mutually_exclusive=[("servers", "model")],
    required_one_of=[("servers", "model")],
    required_by={"model": ("caps", "listeners")},
    required_together=[("login_user", "login_password", "login_db")],
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True, **CONSTRAINTS)
    require(module, ("PyMySQL", HAS_PYMYSQL))
    result = run(module.params, module.check_mode)
    for message in result.pop("warnings"):
        module.warn(message)
    if result.pop("failed"):
        module.fail_json(**result)
    diff = result.pop("diff")
    if module._diff:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
