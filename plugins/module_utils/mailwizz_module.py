# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Glue shared by the mailwizz_* modules: the ``connection`` option and error reporting."""
from __future__ import annotations

from ansible_collections.mailfleet.fleet.plugins.module_utils.mailwizz_api import (
    ConfigError, MailWizzError, client_from_connection)
from ansible_collections.mailfleet.fleet.plugins.module_utils.mailwizz_ops import (
    OperationError)

CONNECTION_SPEC = dict(
    type="dict", required=True,
    options=dict(
        url=dict(type="str", required=True),
        api_key=dict(type="str", no_log=True),
        public_key=dict(type="str", no_log=True),
        private_key=dict(type="str", no_log=True),
        timeout=dict(type="float", default=30.0),
        retries=dict(type="int", default=4),
        backoff=dict(type="float", default=0.5),
    ),
)


def common_spec(**extra):
    spec = dict(tenant=dict(type="str", required=True), connection=CONNECTION_SPEC)
    spec.update(extra)
    return spec


def make_client(module):
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
        module.fail_json(msg="tenant %s: %s" % (tenant, exc),
                         api_calls=getattr(client, "calls", 0))
    except Exception as exc:  # never a traceback in module output
        module.fail_json(msg="tenant %s: unexpected %s: %s" % (tenant, type(exc).__name__, exc),
                         api_calls=getattr(client, "calls", 0))
    result["tenant"] = tenant
    result["api_calls"] = client.calls
    result["api_calls_by_method"] = dict(client.calls_by_method)
    module.exit_json(**result)
