# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Glue shared by the mailwizz_* modules: the ``connection`` option and error reporting.

``connection`` is normally filled by the modules' action plugin from the inventory (the one
resolver, ``plugin_utils/mailwizz_connection.py``: tenant -> instance URL, the tenant's own key,
fleet-wide key isolation); a task may also give it explicitly.
"""
from __future__ import annotations

from ansible_collections.mailfleet.fleet.plugins.module_utils.mailwizz_api import (
    ConfigError, MailWizzError, client_from_connection)
from ansible_collections.mailfleet.fleet.plugins.module_utils.mailwizz_ops import (
    OperationError)

CONNECTION_SPEC = dict(
    type="dict",
    options=dict(
        url=dict(type="str", required=True),
        api_key=dict(type="str", no_log=True),
        public_key=dict(type="str", no_log=True),
        private_key=dict(type="str", no_log=True),
        timeout=dict(type="float", default=30.0),
        retries=dict(type="int", default=4),
        backoff=dict(type="float", default=0.5),
        settle=dict(type="float"),
        validate_certs=dict(type="bool", default=True),
        ca_path=dict(type="path"),
        client_cert=dict(type="path"),
        client_key=dict(type="path", no_log=False),
        proxy=dict(type="str"),
        use_proxy=dict(type="bool", default=True),
    ),
)


def common_spec(**extra):
    spec = dict(tenant=dict(type="str", required=True), connection=CONNECTION_SPEC)
    spec.update(extra)
    return spec


def make_client(module):
    if not module.params.get("connection"):
        raise ConfigError("no MailWizz connection: run the module through its action plugin "
                          "(mailfleet.fleet.%s resolves it from mailfleet_mailwizz_instances "
                          "and the tenant) or give connection" % module._name.split(".")[-1])
    conn = dict((k, v) for k, v in module.params["connection"].items() if v is not None)
    return client_from_connection(conn)


def run(module, func):
    """Call ``func(client)`` -> result dict; every failure becomes a clean fail_json."""
    tenant = module.params.get("tenant")
    client = None
    try:
        client = make_client(module)
        result = func(client)
    except (MailWizzError, OperationError, ConfigError) as exc:
        _warn(module, client)
        module.fail_json(msg="tenant %s: %s" % (tenant, exc),
                         api_calls=getattr(client, "calls", 0))
    except Exception as exc:  # never a traceback in module output
        _warn(module, client)
        module.fail_json(msg="tenant %s: unexpected %s: %s" % (tenant, type(exc).__name__, exc),
                         api_calls=getattr(client, "calls", 0))
    finally:
        if client is not None:
            client.close()
    _warn(module, client)
    result["tenant"] = tenant
    result["api_calls"] = client.calls
    result["api_calls_by_method"] = dict(client.calls_by_method)
    if client.warnings:
        result["mailwizz_warnings"] = list(client.warnings)
    module.exit_json(**result)


def _warn(module, client):
    for message in getattr(client, "warnings", None) or []:
        module.warn(message)
