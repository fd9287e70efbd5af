# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one MailWizz connection resolver (controller side, used by the action plugins of every
``mailwizz_*`` module).

``tenant`` -> the connection of the tenant's own MailWizz customer: the instance named by
``mailfleet_tenants.<tenant>.mailwizz`` in ``mailfleet_mailwizz_instances`` gives the URL and the
HTTP options, ``mailfleet_tenants.<tenant>.mailwizz_auth`` (when tenants share an instance) the
tenant's own key; two tenants resolving to the same key on the same MailWizz are refused before
any request (fleet-wide, on every call). The pure logic is ``mailwizz_api.connection_for_tenant``
/ ``check_key_isolation``; this file only reads the inventory.

The database of an instance (``mailfleet_mailwizz_instances.<name>.db``) for the delivery-server
bridge is resolved here too, and the MailWizz customer of each tenant's delivery servers
(``mailfleet_tenants.<tenant>.delivery_server.customer_id``).

Secrets (API keys, the database password) are read by ONE function, :func:`read_settings`, through
``plugin_utils/secrets`` (literally, never templated).
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.action import ActionBase

from ansible_collections.mailfleet.fleet.plugins.module_utils.mailwizz_api import (
    ConfigError, check_key_isolation, connection_for_tenant)
from ansible_collections.mailfleet.fleet.plugins.plugin_utils import secrets

TENANTS_VAR = "mailfleet_tenants"
INSTANCES_VAR = "mailfleet_mailwizz_instances"
DB_KEYS = {"host": "login_host", "port": "login_port", "unix_socket": "login_unix_socket",
           "user": "login_user", "password": "login_password", "name": "login_db",
           "table_prefix": "table_prefix", "connect_timeout": "connect_timeout"}


def _plain(value):
    """Resolved Ansible values as plain Python (vault-encrypted strings become str)."""
    if isinstance(value, dict):
        return dict((str(k), _plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, int, float, datetime.date)) or value is None:
        return value
    return str(value)


def read_settings(templar, task_vars):
    """``(tenants, instances)`` as plain dicts, every secret read literally.

    The one place MailWizz secrets are read: the settings are templated (secrets are literals for
    Ansible, see ``plugin_utils/secrets.untrust_literals``), then every secret -- instance keys,
    the database password, each tenant's own ``mailwizz_auth`` keys -- is replaced by what
    ``plugin_utils/secrets`` reads from the raw variables (never templated, vault decrypted,
    grammar-checked; its errors name file:line and key, never the value)."""
    out = []
    for name in (TENANTS_VAR, INSTANCES_VAR):
        value = task_vars.get(name, {})
        try:
            out.append(_plain(templar.template(value)))
        except AnsibleError as exc:
            raise ConfigError("cannot resolve %s: %s" % (name, to_native(exc)))
        if not isinstance(out[-1], dict):
            raise ConfigError("%s must be a mapping" % name)
    tenants, instances = out
    try:
        for iname, inst in instances.items():
            if not isinstance(inst, dict):
                continue
            found = secrets.mailwizz_secrets(task_vars, iname)
            for key in ("api_key", "public_key", "private_key"):
                _overlay(inst, key, found[key])
            if isinstance(inst.get("db"), dict):
                _overlay(inst["db"], "password", found["db_password"])
        for tname, tenant in tenants.items():
            if not isinstance(tenant, dict) or not isinstance(tenant.get("mailwizz_auth"), dict):
                continue
            if tenant.get("mailwizz") not in instances:
                continue  # refused by validation and by connection_for_tenant
            found = secrets.mailwizz_secrets(task_vars, tenant["mailwizz"], tname)
            for key in ("api_key", "public_key", "private_key"):
                _overlay(tenant["mailwizz_auth"], key, found[key])
    except secrets.SecretError as exc:
        raise ConfigError("; ".join(exc.messages))
    return tenants, instances


def _overlay(mapping, key, value):
    """Put the literal secret in place of what templating gave (absent stays absent)."""
    if key in mapping:
        mapping[key] = value


def resolve_connection(templar, task_vars, tenant):
    """The API connection of ``tenant`` (isolation checked fleet-wide first)."""
    if not tenant:
        raise ConfigError("tenant is required")
    tenants, instances = read_settings(templar, task_vars)
    check_key_isolation(tenants, instances)
    return connection_for_tenant(str(tenant), tenants, instances)


def resolve_database(templar, task_vars, instance):
    """``login_*`` / ``table_prefix`` arguments of the delivery-server module for ``instance``
    and ``customer_ids`` (tenant -> MailWizz customer id) of the tenants on that instance."""
    tenants, instances = read_settings(templar, task_vars)
    if instance not in instances:
        raise ConfigError("mailwizz instance %r is not in %s" % (instance, INSTANCES_VAR))
    db = (instances[instance] or {}).get("db")
    if not isinstance(db, dict) or not db:
        raise ConfigError("mailwizz instance %r has no db (host, port, name, user, password, "
                          "table_prefix)" % instance)
    unknown = sorted(k for k in db if k not in DB_KEYS)
    if unknown:
        raise ConfigError("mailwizz instance %r: unknown db key(s) %s; known: %s"
                          % (instance, ", ".join(unknown), ", ".join(sorted(DB_KEYS))))
    args = dict((DB_KEYS[k], v) for k, v in db.items() if v is not None)
    customer_ids = {}
    for name in sorted(tenants):
        tenant = tenants[name] or {}
        if tenant.get("mailwizz") != instance:
            continue
        settings = tenant.get("delivery_server") or {}
        if not isinstance(settings, dict):
            raise ConfigError("tenant %r: delivery_server must be a mapping {customer_id}" % name)
        unknown = sorted(k for k in settings if k != "customer_id")
        if unknown:
            raise ConfigError("tenant %r: delivery_server holds only customer_id, not %s"
                              % (name, ", ".join(unknown)))
        if settings.get("customer_id") is not None:
            customer_ids[name] = settings["customer_id"]
    return args, customer_ids


class MailWizzAction(ActionBase):
    """Base of the ``mailwizz_*`` action plugins: fill ``connection`` from ``tenant``."""

    TRANSFERS_FILES = False
    MODULE = None

    def prepare(self, args, task_vars):
        """Hook for module-specific argument work (returns the arguments)."""
        return args

    def run(self, tmp=None, task_vars=None):
        result = super(MailWizzAction, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        args = dict(self._task.args)
        try:
            args = self.prepare(args, task_vars)
            if not args.get("connection"):
                args["connection"] = resolve_connection(self._templar, task_vars,
                                                        args.get("tenant"))
        except (ConfigError, AnsibleError) as exc:
            result.update(failed=True, msg="%s: tenant %s: %s" % (
                self.MODULE, args.get("tenant"), to_native(exc)))
            return result
        result.update(self._execute_module(module_name="mailfleet.fleet.%s" % self.MODULE,
                                           module_args=args, task_vars=task_vars))
        return result
