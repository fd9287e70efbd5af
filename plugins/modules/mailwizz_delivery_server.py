#!/usr/bin/python
# -*- coding: utf-8 -*-
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
version_added: "0.1.0"
author: mailfleet
options:
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
    description: Database user (see docs/mailwizz-bridge.md for the GRANTs it needs).
    type: str
    required: true
  login_password:
    description: Database password (vault it).
    type: str
    required: true
  login_db:
    description: The MailWizz database name.
    type: str
    required: true
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
requirements:
  - PyMySQL (controller)
notes:
  - Supports check mode (reads only, no lock) and diff mode (before/after of each changed owned row; no password).
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
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.mailfleet.fleet.plugins.module_utils.delivery_server import (
    HAS_PYMYSQL,
    DeliveryServerError,
    connect,
    plan_delivery_servers,
    sync_delivery_servers,
    table_name,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            login_host=dict(type="str", default="127.0.0.1"),
            login_port=dict(type="int", default=3306),
            login_unix_socket=dict(type="str"),
            login_user=dict(type="str", required=True),
            login_password=dict(type="str", required=True, no_log=True),
            login_db=dict(type="str", required=True),
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
        ),
        mutually_exclusive=[("servers", "model")],
        required_one_of=[("servers", "model")],
        required_by={"model": ("caps", "listeners")},
        supports_check_mode=True,
    )
    if not HAS_PYMYSQL:
        module.fail_json(msg=missing_required_lib("PyMySQL"))
    p = module.params
    extra = {}
    try:
        table = table_name(p["table_prefix"])
        if p["model"] is not None:
            options = dict(p["plan_options"] or {})
            options.setdefault("name_prefix", p["name_prefix"])
            desired = plan_delivery_servers(p["model"], p["caps"], p["listeners"], options)
            extra["planned"] = desired
        else:
            desired = p["servers"]
    except ValueError as exc:
        module.fail_json(msg="delivery servers: plan failed (%s)" % exc)

    conn = None
    try:
        conn = connect(host=p["login_host"], port=p["login_port"], user=p["login_user"],
                       password=p["login_password"], database=p["login_db"],
                       unix_socket=p["login_unix_socket"], connect_timeout=p["connect_timeout"])
        result = sync_delivery_servers(conn, desired, table=table, create=p["create"],
                                       orphans=p["orphans"], check_mode=module.check_mode,
                                       name_prefix=p["name_prefix"],
                                       lock_wait_timeout=p["lock_wait_timeout"])
    except DeliveryServerError as exc:
        module.fail_json(msg=str(exc), row=exc.row, operation=exc.operation, error_code=exc.code)
    except ValueError as exc:
        module.fail_json(msg="delivery servers: validate failed (%s)" % exc)
    finally:
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass

    for name in result["missing"]:
        module.warn("delivery server %s does not exist in MailWizz and create is false: not created" % name)
    diff = result.pop("diff")
    out = dict(result, **extra)
    if module._diff:
        out["diff"] = diff
    module.exit_json(**out)


if __name__ == "__main__":
    main()
