# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""MailWizz delivery servers that send through the fleet's PowerMTA hosts (controller side).

MailWizz has no API to create or update a delivery server, its quotas or its headers, so the
bridge writes MailWizz's ``{prefix}delivery_server`` table directly (PyMySQL), following the rules
MailWizz applies when it saves a server itself (docs/mailwizz-api-facts.md):

* **identity changes need MailWizz's validation again**: when hostname, port, username,
  protocol or from_email change, MailWizz puts the server back to ``inactive`` until it is
  validated; the bridge does the same (``identity_change="inactive"``, default) unless the
  operator opts out (``"keep"``). An ``inactive`` server is never activated by the bridge: that
  is MailWizz's validation (the operator types the password and validates the server);
* **additional headers are filtered like MailWizz**: the names MailWizz never allows (``From``,
  ``Return-Path``, ``Sender``, ...) and empty names or values are dropped, with a warning;
* **force_from as the UI sets it**: a created row gets ``force_from = always`` (the UI's
  default since 1.3.6.3; the column default is ``never``);
* **use_for** is written as MailWizz's column holds it: a bitmask (2.3.8+, ``1`` = all) or the
  older name (``all``);
* **the quota-left cache**: MailWizz caches each server's remaining hourly/daily/monthly quota
  for 300 s (refreshed on every send) and clears it only when it saves the row itself. A row
  whose quota is lowered (or that comes back from ``disabled`` less than 300 s after it left the
  rotation) is *held*: written ``disabled`` first, kept out of MailWizz's rotation until its
  cached quota-left has expired (``quota_cache_seconds``), then activated with the new quota,
  all in the same run. So a lowered quota is honoured within the run;
* **foreign keys**: ``customer_id`` references ``{prefix}customer`` (ON DELETE CASCADE); a wrong
  id fails the run with the row and the constraint named.

Every value written to a row passes ``grammar.py``.

Two parts:

``plan_delivery_servers(model, caps, listeners, options)``
    Pure function. One desired row per tenant x PowerMTA host carrying that tenant's IPs, with the
    capacity contract applied: the row's ``daily_quota`` is the host's capacity for the tenant
    (``host_capacity``: the sum of today's caps of its non-standby IPs, so the tenant's rows add
    up to its pool capacity), ``hourly_quota = ceil(daily_quota / sending_hours)``,
    ``probability`` is the host's share of the tenant's capacity in MailWizz's 5..100 range
    (multiples of 5, the values MailWizz's form accepts). MailWizz reads a quota of 0 as
    *unlimited*: a row whose capacity is 0 is planned ``disabled`` with both quotas at
    ``DISABLED_QUOTA`` (1), never 0, so re-enabling it by hand cannot open an unlimited tap.

``sync_delivery_servers(conn, desired, ...)``
    Brings the rows the toolkit owns to the desired state in one transaction (plus, when a row is
    held, a second one after the hold). Owned rows are the ones whose ``name`` starts with
    ``<name_prefix>:`` (``mailfleet:<tenant>:<host>``); no other row is read for update, locked or
    written. Idempotent, check mode (reads only), before/after diff, rollback on any error.

Passwords: MailWizz stores SMTP passwords encrypted with its own key, so the toolkit never writes
the ``password`` column on update. A missing row is created only when ``create=True``, with an
empty password and status ``inactive``; it stays ``inactive`` until the operator types the
password in the MailWizz admin and MailWizz validates the server. Without ``create=True`` missing
rows are reported, not created.
"""
from __future__ import absolute_import, division, print_function

import copy
import time

from ansible_collections.mailfleet.fleet.plugins.module_utils import grammar
from ansible_collections.mailfleet.fleet.plugins.module_utils.capacity import effective_daily
from ansible_collections.mailfleet.fleet.plugins.module_utils.phpserialize import (
    PHPSerializeError,
    php_array_to_list,
    php_serialize,
    php_unserialize,
)

__metaclass__ = type

try:  # controller-side only; the module reports a missing library cleanly
    import pymysql
    HAS_PYMYSQL = True
except ImportError:  # pragma: no cover - exercised only without the venv
    pymysql = None
    HAS_PYMYSQL = False

DEFAULT_NAME_PREFIX = "mailfleet"
DEFAULT_TABLE_PREFIX = "mw_"
DISABLED_QUOTA = 1
TYPES = ("smtp-pmta", "smtp")
# MailWizz 2.3.8+ stores use_for as a bitmask (DeliveryServer::USE_FOR_*), older 2.x the name.
USE_FOR_BITS = {"all": 1, "transactional": 2, "campaigns": 4, "email-tests": 8, "reports": 16,
                "list-emails": 32, "invoices": 64}
USE_FOR = tuple(USE_FOR_BITS)
PLANNED_STATUSES = ("active", "disabled")
# Statuses MailWizz may show on a row; "in-use" is MailWizz's own flag while it sends and counts as
# active; "pending-delete" means an admin is deleting the row: sync leaves such a row alone.
ACTIVE_STATUSES = ("active", "in-use")
PROTOCOLS = ("", "tls", "ssl", "starttls")
IDENTITY_CHANGES = ("inactive", "keep")
# What makes MailWizz put a server back to inactive when it saves it (DeliveryServer::
# afterValidate; the password, also on that list, is never written by the bridge).
IDENTITY_COLUMNS = ("hostname", "port", "username", "protocol", "from_email")
# DeliveryServer::getNeverAllowedHeaders() (MailWizz 2.3.9), compared case-insensitively.
NEVER_ALLOWED_HEADERS = ("From", "To", "Subject", "Date", "Return-Path", "Sender", "Reply-To",
                         "Message-Id", "List-Unsubscribe", "Content-Type",
                         "Content-Transfer-Encoding", "Content-Length", "MIME-Version",
                         "X-Sender", "X-Receiver", "X-Report-Abuse", "List-Id")
FORCE_FROM_CREATED = "always"   # what MailWizz's UI gives a new server (since 1.3.6.3)
QUOTA_CACHE_SECONDS = 300       # DeliveryServer::QUOTA_CACHE_SECONDS
HOLD_ROUNDS = 3

# Columns sync compares and writes (besides meta_data, customer_id and warmup_plan_id).
MANAGED_COLUMNS = (
    "type", "hostname", "port", "protocol", "username", "from_email", "from_name",
    "probability", "hourly_quota", "daily_quota", "use_for", "status",
)
REQUIRED_TABLE_COLUMNS = ("server_id", "name", "password", "meta_data", "date_added",
                          "last_updated", "customer_id") + MANAGED_COLUMNS

DEFAULT_PLAN_OPTIONS = {
    "sending_hours": 24,
    "type": "smtp-pmta",
    "use_for": "all",
    "header_routing": False,
    "extra_headers": None,
    "name_prefix": DEFAULT_NAME_PREFIX,
    "mailwizz": None,
    "default_port": 25,
    "protocol": None,
    "customer_ids": None,
}


class DeliveryServerError(Exception):
    """A failure that names the row (or tenant), the operation and the MySQL error code."""

    def __init__(self, message, row=None, operation=None, code=None):
        super(DeliveryServerError, self).__init__(message)
        self.row = row
        self.operation = operation
        self.code = code


# --------------------------------------------------------------------------------------------
# Planning (pure)
# --------------------------------------------------------------------------------------------

def row_name(tenant, host, name_prefix=DEFAULT_NAME_PREFIX):
    """The owned row's name: ``<prefix>:<tenant>:<host>``."""
    for part, what in ((name_prefix, "name prefix"), (tenant, "tenant"), (host, "host")):
        if not isinstance(part, str):
            raise ValueError("%s %r must be a string" % (what, part))
        grammar.inventory_name(part, what)
    return "%s:%s:%s" % (name_prefix, tenant, host)


def hourly_quota_for(daily, sending_hours):
    """``ceil(daily / sending_hours)``; never more than ``daily``; 0 only for 0."""
    daily = int(daily)
    if daily <= 0:
        return 0
    return min(daily, -(-daily // int(sending_hours)))


def probability_for(capacity, total):
    """Host share of the tenant's capacity as a MailWizz probability: 5..100, multiple of 5."""
    if total <= 0 or capacity <= 0:
        return 5
    steps = (capacity * 20 * 2 + total) // (2 * total)  # round half up of share * 20
    return int(max(1, min(20, steps)) * 5)


def _int(value, what):
    if isinstance(value, bool):
        raise ValueError("%s must be an integer, not a boolean" % what)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError("%s must be an integer, got %r" % (what, value))


def _bool(value):
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on", "y")
    return bool(value)


def host_capacity(tenant_name, host, ips, caps):
    """``(capacity, standby_count)`` of ``tenant_name`` on ``host``: the sum of today's caps of
    its IPs there that are not on standby (a cap of 0 counts as standby).

    The one capacity computation of the bridge: each IP counts ``capacity.effective_daily`` (0 on
    standby or when its host was unreachable), as in ``capacity.host_pool_capacity``."""
    capacity = 0
    standby = 0
    for ip in ips:
        address = ip.get("address")
        cap = caps.get(address)
        if cap is None:
            raise ValueError("tenant %s: no cap for IP %s on host %s" % (tenant_name, address, host))
        if _int(cap.get("daily", 0), "cap daily of %s" % address) < 0:
            raise ValueError("tenant %s: negative cap for IP %s" % (tenant_name, address))
        daily = effective_daily(cap)
        if daily == 0:
            standby += 1
            continue
        capacity += daily
    return capacity, standby


def filter_headers(headers, label="delivery server"):
    """MailWizz's additional-header rules: ``(kept, dropped)``.

    Names MailWizz never allows (NEVER_ALLOWED_HEADERS, any case) and empty names or values are
    dropped (MailWizz drops them when it saves the server: writing them directly would send
    what MailWizz refuses); every kept name and value passes the grammar (nothing is repaired)."""
    never = set(h.lower() for h in NEVER_ALLOWED_HEADERS)
    kept, dropped = [], []
    for item in headers or []:
        if not isinstance(item, dict) or "name" not in item or "value" not in item:
            raise ValueError("%s: additional_headers items need name and value" % label)
        name = "" if item["name"] is None else str(item["name"])
        value = "" if item["value"] is None else str(item["value"])
        if not name.strip() or not value.strip():
            dropped.append({"name": name, "value": value, "reason": "empty name or value"})
            continue
        if name.lower() in never:
            dropped.append({"name": name, "value": value,
                            "reason": "MailWizz never allows the header %s" % name})
            continue
        try:
            grammar.header_name(name, "%s: additional header name" % label)
            grammar.header_value(value, "%s: additional header %s" % (label, name))
        except grammar.GrammarError as exc:
            raise ValueError(str(exc))
        kept.append({"name": name, "value": value})
    return kept, dropped


def _plan_headers(tenant, opts):
    headers = []
    if _bool(opts.get("header_routing")):
        pool = tenant.get("pool")
        if not pool:
            raise ValueError("header routing needs the tenant's pool name")
        headers.append({"name": "X-Virtual-MTA", "value": str(pool)})
    for item in opts.get("extra_headers") or []:
        headers.append({"name": item.get("name"), "value": item.get("value")})
    if not headers and not _bool(opts.get("header_routing")) and opts.get("extra_headers") is None:
        return None  # headers are not managed
    return headers


def plan_delivery_servers(model, caps, listeners, options=None):
    """Desired delivery-server rows, one per tenant x PowerMTA host that carries its IPs.

    ``model``: the fleet model (``fleet.build_model``), ``caps``: ``{ip: {"daily", "standby", ...}}``,
    ``listeners``: ``{host: {"hostname": str, "port": int (optional), "protocol": str (optional)}}``
    (the SMTP listener MailWizz connects to on that PowerMTA host), ``options``: see
    ``DEFAULT_PLAN_OPTIONS``. Returns a list of row dicts sorted by name (each validated, with
    ``dropped_headers`` listing what MailWizz's header rules removed); raises ``ValueError``
    naming the tenant / host / IP on inconsistent input.
    """
    opts = dict(DEFAULT_PLAN_OPTIONS)
    opts.update(options or {})
    sending_hours = _int(opts["sending_hours"], "sending_hours")
    if not 1 <= sending_hours <= 24:
        raise ValueError("sending_hours must be within 1..24, got %d" % sending_hours)
    if opts["type"] not in TYPES:
        raise ValueError("type must be one of %s, got %r" % (", ".join(TYPES), opts["type"]))
    if opts["use_for"] not in USE_FOR:
        raise ValueError("use_for must be one of %s, got %r" % (", ".join(USE_FOR), opts["use_for"]))
    customer_ids = opts.get("customer_ids") or {}
    tenants = model.get("tenants") or {}
    hosts = model.get("hosts") or {}
    caps = caps or {}
    listeners = listeners or {}
    unknown = sorted(t for t in customer_ids if t not in tenants)
    if unknown:
        raise ValueError("customer_ids names unknown tenant(s) %s" % ", ".join(unknown))

    rows = []
    for tenant_name in sorted(tenants):
        tenant = tenants[tenant_name] or {}
        if opts.get("mailwizz") and tenant.get("mailwizz") != opts["mailwizz"]:
            continue
        per_host = []
        for host in sorted(hosts):
            ips = [ip for ip in (hosts[host] or {}).get("ips") or [] if ip.get("tenant") == tenant_name]
            if not ips:
                continue
            capacity, standby = host_capacity(tenant_name, host, ips, caps)
            per_host.append((host, capacity, len(ips), standby))
        if not per_host:
            continue
        total = sum(item[1] for item in per_host)
        username = tenant.get("smtp_user")
        from_email = tenant.get("from_email")
        if not username:
            raise ValueError("tenant %s: smtp_user is required for its delivery servers" % tenant_name)
        if not from_email:
            raise ValueError("tenant %s: from_email is required for its delivery servers" % tenant_name)
        headers = _plan_headers(tenant, opts)
        for host, capacity, n_ips, n_standby in per_host:
            listener = listeners.get(host)
            if not listener or not listener.get("hostname"):
                raise ValueError("tenant %s: no SMTP listener (hostname) given for host %s" % (tenant_name, host))
            active = capacity > 0
            if active:
                reason = "%d of %d IPs sending, %d/day of tenant's %d/day" % (
                    n_ips - n_standby, n_ips, capacity, total)
            elif total == 0:
                reason = "all IPs of tenant %s on standby (capacity 0)" % tenant_name
            else:
                reason = "all %d IPs of tenant %s on host %s on standby (capacity 0)" % (n_ips, tenant_name, host)
            protocol = listener.get("protocol", opts.get("protocol"))
            row = {
                "name": row_name(tenant_name, host, opts["name_prefix"]),
                "tenant": tenant_name,
                "host": host,
                "type": opts["type"],
                "hostname": listener["hostname"],
                "port": _int(listener.get("port", opts["default_port"]), "port of host %s" % host),
                "protocol": protocol,
                "username": username,
                "from_email": from_email,
                "from_name": str(tenant.get("from_name") or tenant_name),
                "use_for": opts["use_for"],
                "status": "active" if active else "disabled",
                "probability": probability_for(capacity, total),
                "daily_quota": capacity if active else DISABLED_QUOTA,
                "hourly_quota": hourly_quota_for(capacity, sending_hours) if active else DISABLED_QUOTA,
                "additional_headers": copy.deepcopy(headers),
                "customer_id": customer_ids.get(tenant_name),
                "capacity": capacity,
                "tenant_capacity": total,
                "reason": reason,
            }
            rows.append(validate_desired_row(row, opts["name_prefix"]))
    return sorted(rows, key=lambda r: r["name"])


def _listener_host(value, what):
    """The SMTP host MailWizz connects to: a host name (lowercased) or an IP address."""
    try:
        return grammar.hostname(value, what, min_labels=1)
    except grammar.GrammarError:
        try:
            return grammar.ip_address(value, what, sending=False)
        except grammar.GrammarError:
            raise grammar.GrammarError(what, "%r is neither a host name nor an IP address"
                                       % (value,))


def validate_desired_row(row, name_prefix=DEFAULT_NAME_PREFIX):
    """Check one desired row; return it normalised (copy). Every value that will be written
    passes the grammar. Raise ValueError naming the row."""
    if not isinstance(row, dict):
        raise ValueError("a delivery server row must be a dict")
    name = row.get("name")
    label = "delivery server %s" % (name,)
    parts = name.split(":") if isinstance(name, str) else []
    if len(parts) != 3 or parts[0] != name_prefix:
        raise ValueError("%s: name must be '%s:<tenant>:<host>'" % (label, name_prefix))
    out = dict(row)
    for key in ("hostname", "username", "from_email"):
        if not out.get(key) or not isinstance(out[key], str):
            raise ValueError("%s: %s is required" % (label, key))
    out.setdefault("from_name", None)
    out.setdefault("protocol", None)
    out.setdefault("additional_headers", None)
    out.setdefault("customer_id", None)
    out.setdefault("type", "smtp-pmta")
    out.setdefault("use_for", "all")
    try:
        row_name(parts[1], parts[2], name_prefix)
        out["hostname"] = _listener_host(out["hostname"], "%s: hostname" % label)
        out["username"] = grammar.smtp_user(out["username"], "%s: username" % label)
        out["from_email"] = grammar.email(out["from_email"], "%s: from_email" % label)
        if out["from_name"] is not None:
            out["from_name"] = grammar.text(str(out["from_name"]), "%s: from_name" % label,
                                            max_len=255)
    except grammar.GrammarError as exc:
        raise ValueError(str(exc))
    if out["type"] not in TYPES:
        raise ValueError("%s: type must be one of %s" % (label, ", ".join(TYPES)))
    if out["use_for"] not in USE_FOR:
        raise ValueError("%s: use_for must be one of %s" % (label, ", ".join(USE_FOR)))
    if out.get("status") not in PLANNED_STATUSES:
        raise ValueError("%s: status must be active or disabled" % label)
    if out["protocol"] is not None and out["protocol"] not in PROTOCOLS:
        raise ValueError("%s: protocol must be one of tls, ssl, starttls or empty" % label)
    for key in ("port", "probability", "hourly_quota", "daily_quota"):
        out[key] = _int(out.get(key), "%s: %s" % (label, key))
    if out["customer_id"] is not None:
        out["customer_id"] = _int(out["customer_id"], "%s: customer_id" % label)
        if out["customer_id"] < 1:
            raise ValueError("%s: customer_id must be a MailWizz customer id (>= 1)" % label)
    try:
        grammar.port(out["port"], "%s: port" % label)
    except grammar.GrammarError:
        raise ValueError("%s: port out of range" % label)
    if out["probability"] < 5 or out["probability"] > 100 or out["probability"] % 5:
        raise ValueError("%s: probability must be a multiple of 5 within 5..100" % label)
    # MailWizz reads 0 as unlimited: an owned row never carries a quota of 0.
    if out["daily_quota"] < 1 or out["hourly_quota"] < 1:
        raise ValueError("%s: quotas must be >= 1 (0 means unlimited in MailWizz); "
                         "plan a row with no capacity as disabled" % label)
    if out["hourly_quota"] > out["daily_quota"]:
        raise ValueError("%s: hourly_quota exceeds daily_quota" % label)
    for key in ("probability", "hourly_quota", "daily_quota"):
        grammar.count(out[key], "%s: %s" % (label, key), maximum=2 ** 31 - 1)
    headers = out["additional_headers"]
    out["dropped_headers"] = list(out.get("dropped_headers") or [])
    if headers is not None:
        kept, dropped = filter_headers(headers, label)
        out["additional_headers"] = kept
        out["dropped_headers"] += dropped
    return out


# --------------------------------------------------------------------------------------------
# MailWizz meta_data (PHP-serialized array)
# --------------------------------------------------------------------------------------------

def parse_meta_data(raw):
    """``meta_data`` column -> dict (empty for NULL/empty). Raises PHPSerializeError."""
    if raw is None or raw in (b"", ""):
        return {}
    value = php_unserialize(raw)
    if value is None or value is False:
        return {}
    if not isinstance(value, dict):
        raise PHPSerializeError("meta_data is not a PHP array")
    return value


def headers_from_meta(meta):
    """Additional headers as MailWizz's ``parseHeadersFormat`` reads them: [{name, value}]."""
    headers = meta.get("additional_headers")
    if not isinstance(headers, dict):
        return []
    result = []
    for key, value in headers.items():
        if isinstance(key, str) and isinstance(value, str):  # pre-1.3.5.9 {name: value}
            result.append({"name": key, "value": value})
        elif isinstance(key, int) and isinstance(value, dict) and "name" in value and "value" in value:
            result.append({"name": value["name"], "value": value["value"]})
    return result


def meta_with_headers(meta, headers):
    """A copy of ``meta`` whose ``additional_headers`` is ``headers`` (other keys kept)."""
    out = dict(meta)
    out["additional_headers"] = [{"name": h["name"], "value": h["value"]} for h in headers]
    return out


def serialize_meta(meta):
    return php_serialize({k: (php_array_to_list(v) if k == "additional_headers" else v)
                          for k, v in meta.items()})


# --------------------------------------------------------------------------------------------
# Database sync
# --------------------------------------------------------------------------------------------

def table_name(prefix=DEFAULT_TABLE_PREFIX):
    try:
        grammar.sql_identifier(prefix, "table_prefix")
    except grammar.GrammarError as exc:
        raise ValueError(str(exc))
    return "%sdelivery_server" % prefix


def _error_code(exc):
    args = getattr(exc, "args", ())
    if args and isinstance(args[0], int):
        return args[0]
    return None


def _error_text(exc):
    args = getattr(exc, "args", ())
    if len(args) > 1 and isinstance(args[1], str):
        return args[1].splitlines()[0][:200] if args[1] else ""
    return exc.__class__.__name__


def _wrap(exc, row, operation, table=None):
    code = _error_code(exc)
    subject = "delivery server %s" % row if row else "delivery servers"
    msg = "%s: %s failed (MySQL error %s: %s)" % (subject, operation, code if code is not None else "?",
                                                  _error_text(exc))
    if code == 1452:  # a foreign key refused the row
        msg += ("; customer_id must be an existing MailWizz customer (mailfleet_tenants.<tenant>."
                "delivery_server.customer_id) of %scustomer" % (
                    table[:-len("delivery_server")] if table else "the "))
    return DeliveryServerError(msg, row=row, operation=operation, code=code)


def connect(host="127.0.0.1", port=3306, user=None, password=None, database=None,
            unix_socket=None, connect_timeout=10, read_timeout=60, write_timeout=60):
    """Open a PyMySQL connection (autocommit off). Raises DeliveryServerError (operation connect)."""
    if not HAS_PYMYSQL:
        raise DeliveryServerError("delivery servers: connect failed (PyMySQL is not installed)",
                                  operation="connect")
    try:
        return pymysql.connect(host=host, port=int(port), user=user, password=password or "",
                               database=database, unix_socket=unix_socket or None,
                               connect_timeout=connect_timeout, read_timeout=read_timeout,
                               write_timeout=write_timeout, charset="utf8mb4", autocommit=False)
    except pymysql.MySQLError as exc:
        raise _wrap(exc, None, "connect to %s" % (unix_socket or "%s:%s" % (host, port)))


def _encode_use_for(name, schema):
    return USE_FOR_BITS[name] if schema["use_for_int"] else name


def _decode_use_for(value):
    """A ``use_for`` column value as names (``all``, ``transactional,campaigns``)."""
    if isinstance(value, str) and not value.isdigit():
        return value
    try:
        bits = int(value)
    except (TypeError, ValueError):
        return value
    if bits == USE_FOR_BITS["all"]:
        return "all"
    names = [n for n, b in sorted(USE_FOR_BITS.items(), key=lambda kv: kv[1]) if b & bits]
    return ",".join(names) if names else value


def _owned_view(db_row, schema):
    """The managed part of a DB row, as shown in diffs and results (no password)."""
    view = {col: db_row.get(col) for col in MANAGED_COLUMNS}
    view["use_for"] = _decode_use_for(view["use_for"])
    if isinstance(view.get("protocol"), str) and view["protocol"] == "":
        view["protocol"] = None
    view["server_id"] = db_row.get("server_id")
    view["password_set"] = bool(db_row.get("password"))
    view["customer_id"] = db_row.get("customer_id")
    if schema["warmup"]:
        view["warmup_plan_id"] = db_row.get("warmup_plan_id")
    try:
        view["additional_headers"] = headers_from_meta(parse_meta_data(db_row.get("meta_data")))
    except PHPSerializeError:
        view["additional_headers"] = "<unreadable meta_data>"
    return view


def _target_status(planned, current, password_set, revalidate):
    """The status a row should get. MailWizz's own validation is respected: a row whose
    identity changed goes (back) to ``inactive``, and an ``inactive`` row stays so until MailWizz
    activates it; the bridge only moves rows between ``active`` and ``disabled``."""
    if revalidate:
        return "inactive"
    if current == "inactive":
        return "inactive"
    if planned == "disabled":
        return "disabled"
    if current in ACTIVE_STATUSES:
        return current  # "in-use" is MailWizz's own transient flag for an active server
    if current == "disabled":
        return "active" if password_set else "inactive"
    return current  # hidden or another status an admin chose: not the bridge's to change


def _differs(col, want, have):
    if col == "protocol":
        return want is not None and (have or "") != want
    if col == "from_name" and want is None:
        return False
    if col == "port":
        return have is None or int(have) != int(want)
    return have != want


def _changes(desired, db_row, schema, identity_change):
    """Column -> new value for an existing owned row (empty dict = in sync)."""
    changes = {}
    target = dict(desired)
    target["use_for"] = _encode_use_for(desired["use_for"], schema)
    if schema["use_for_int"]:
        have_use_for = db_row.get("use_for")
        try:
            have_use_for = int(have_use_for)
        except (TypeError, ValueError):
            pass
        db_row = dict(db_row, use_for=have_use_for)
    moved = [col for col in IDENTITY_COLUMNS if _differs(col, target.get(col), db_row.get(col))]
    revalidate = bool(moved) and identity_change == "inactive"
    target["status"] = _target_status(desired["status"], db_row.get("status"),
                                      bool(db_row.get("password")), revalidate)
    for col in MANAGED_COLUMNS:
        want = target.get(col)
        if not _differs(col, want, db_row.get(col)):
            continue
        changes[col] = (want or None) if col == "protocol" else want
    if desired.get("customer_id") is not None and db_row.get("customer_id") != desired["customer_id"]:
        changes["customer_id"] = desired["customer_id"]
    if schema["warmup"] and db_row.get("warmup_plan_id") is not None:
        changes["warmup_plan_id"] = None  # MailWizz warmup plans would rewrite the quotas hourly
    if desired.get("additional_headers") is not None:
        meta = parse_meta_data(db_row.get("meta_data"))
        if headers_from_meta(meta) != desired["additional_headers"] or (
                desired["additional_headers"] and not isinstance(meta.get("additional_headers"), dict)):
            changes["meta_data"] = serialize_meta(meta_with_headers(meta, desired["additional_headers"]))
    return changes, moved


def _apply_view(view, changes):
    after = dict(view)
    for col, value in changes.items():
        if col == "meta_data":
            after["additional_headers"] = headers_from_meta(parse_meta_data(value))
        elif col == "protocol":
            after[col] = value or None
        elif col == "use_for":
            after[col] = _decode_use_for(value)
        else:
            after[col] = value
    return after


def _insert_values(desired, schema):
    values = {col: desired.get(col) for col in MANAGED_COLUMNS}
    values["name"] = desired["name"]
    values["status"] = "inactive"  # no password yet: the operator sets it, MailWizz validates
    values["password"] = ""
    values["protocol"] = desired.get("protocol") or None
    values["from_name"] = desired.get("from_name")
    values["use_for"] = _encode_use_for(desired["use_for"], schema)
    headers = desired.get("additional_headers")
    values["meta_data"] = serialize_meta({"additional_headers": headers or []})
    if schema["force_from"]:
        values["force_from"] = FORCE_FROM_CREATED
    if desired.get("customer_id") is not None:
        values["customer_id"] = desired["customer_id"]
    return values


def _lowered(old, new):
    """A quota lowered from ``old`` to ``new`` (0 = unlimited in MailWizz)."""
    old, new = int(old or 0), int(new or 0)
    if new == 0:
        return False
    return old == 0 or new < old


def _hold_for(db_row, changes, cache_seconds):
    """Seconds the row must stay out of MailWizz's rotation before it may send with its new
    quota (0 = no hold): a lowered quota needs a full cache period; a row coming back from
    outside the rotation needs what is left of the period since it left it."""
    if cache_seconds <= 0:
        return 0
    final = changes.get("status", db_row.get("status"))
    if final not in ACTIVE_STATUSES:
        return 0
    if db_row.get("status") in ACTIVE_STATUSES:
        lowered = any(_lowered(db_row.get(col), changes.get(col, db_row.get(col)))
                      for col in ("hourly_quota", "daily_quota"))
        return cache_seconds if lowered else 0
    idle = db_row.get("idle_seconds")
    idle = cache_seconds if idle is None else max(0, int(idle))
    return max(0, cache_seconds - idle)


def sync_delivery_servers(conn, desired, table="mw_delivery_server", create=False,
                          orphans="disable", check_mode=False, name_prefix=DEFAULT_NAME_PREFIX,
                          lock_wait_timeout=10, observer=None, identity_change="inactive",
                          quota_cache_seconds=QUOTA_CACHE_SECONDS, sleep=None):
    """Bring the owned rows of ``table`` to ``desired`` in one transaction.

    ``desired``: rows as returned by ``plan_delivery_servers`` (or equivalent dicts).
    ``create``: create missing rows (empty password, status inactive); otherwise report them.
    ``orphans``: ``disable`` (owned rows no longer planned get status disabled and quotas 1) or
    ``keep``. ``identity_change``: ``inactive`` (a changed hostname, port, username, protocol or
    from_email puts the row back to inactive for MailWizz's validation) or ``keep``.
    ``quota_cache_seconds``: MailWizz's quota-left cache period; rows whose quota is lowered
    are held out of the rotation that long, then activated (0 = no hold). ``observer(operation,
    row_name)`` is called after each write statement; ``sleep`` waits (injectable).

    Returns ``{"changed", "created", "updated", "disabled", "unchanged", "missing", "skipped",
    "held", "dropped_headers", "revalidate", "rows", "diff": {"before": {name: view},
    "after": {name: view}}}``. Raises DeliveryServerError (the open transaction is rolled back;
    nothing is half-written).
    """
    if orphans not in ("disable", "keep"):
        raise ValueError("orphans must be disable or keep")
    if identity_change not in IDENTITY_CHANGES:
        raise ValueError("identity_change must be inactive or keep")
    if not isinstance(table, str) or not table.endswith("delivery_server"):
        raise ValueError("invalid table name %r" % (table,))
    grammar.sql_identifier(table[:-len("delivery_server")], "table prefix")
    grammar.inventory_name(name_prefix, "name_prefix")
    quota_cache_seconds = max(0, int(quota_cache_seconds))
    sleep = sleep or time.sleep
    rows = []
    seen = set()
    for item in desired:
        row = validate_desired_row(item, name_prefix)
        if row["name"] in seen:
            raise ValueError("delivery server %s is planned twice" % row["name"])
        seen.add(row["name"])
        rows.append(row)

    qt = "`%s`" % table
    lock_name = "mailfleet:%s" % table
    result = {"changed": False, "created": [], "updated": [], "disabled": [], "unchanged": [],
              "missing": [], "skipped": [], "held": [], "dropped_headers": {}, "revalidate": {},
              "rows": {}, "diff": {"before": {}, "after": {}}}
    for row in rows:
        if row["dropped_headers"]:
            result["dropped_headers"][row["name"]] = row["dropped_headers"]
    have_lock = False
    current = (None, "begin transaction")

    def execute(cur, sql, args, row, operation):
        try:
            cur.execute(sql, args)
        except pymysql.MySQLError as exc:
            raise _wrap(exc, row, operation, table=table)

    holds = []
    try:
        cur = conn.cursor(pymysql.cursors.DictCursor)
        execute(cur, "SET SESSION innodb_lock_wait_timeout = %s", (int(lock_wait_timeout),), None,
                "set lock wait timeout")
        execute(cur, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", None, None,
                "set isolation level")
        if not check_mode:
            # One mailfleet writer per table at a time (two runs could otherwise both create a
            # row); held across the hold, so no other sync run touches a held row meanwhile.
            execute(cur, "SELECT GET_LOCK(%s, %s) AS got", (lock_name, int(lock_wait_timeout)), None,
                    "acquire sync lock")
            if not (cur.fetchone() or {}).get("got"):
                raise DeliveryServerError("delivery servers: acquire sync lock failed (another sync "
                                          "holds %s)" % lock_name, operation="acquire sync lock")
            have_lock = True
        execute(cur, "SHOW COLUMNS FROM %s" % qt, None, None, "read columns of %s" % table)
        columns = dict((r["Field"], (r.get("Type") or "").lower()) for r in cur.fetchall())
        missing_cols = [c for c in REQUIRED_TABLE_COLUMNS if c not in columns]
        if missing_cols:
            raise DeliveryServerError("delivery servers: table %s lacks columns %s (MailWizz too old?)"
                                      % (table, ", ".join(missing_cols)), operation="check schema")
        schema = {"warmup": "warmup_plan_id" in columns, "force_from": "force_from" in columns,
                  "use_for_int": columns["use_for"].startswith(("int", "tinyint", "smallint",
                                                                "bigint"))}
        select_cols = ["server_id", "name", "password", "meta_data", "customer_id"] + list(MANAGED_COLUMNS)
        if schema["warmup"]:
            select_cols.append("warmup_plan_id")
        col_sql = ", ".join("`%s`" % c for c in select_cols)
        idle_sql = ", TIMESTAMPDIFF(SECOND, `last_updated`, NOW()) AS idle_seconds"
        conn.begin()
        like = name_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + ":%"
        # Find owned rows with a non-locking read, then lock exactly those rows by primary key:
        # rows of others are never locked, so MailWizz keeps working on them meanwhile.
        execute(cur, "SELECT server_id, name FROM %s WHERE name LIKE %%s" % qt, (like,), None,
                "find owned rows")
        # LIKE is case-insensitive under MailWizz's collation: keep exact-prefix matches only.
        ids = sorted((r["name"], r["server_id"]) for r in cur.fetchall()
                     if (r["name"] or "").startswith(name_prefix + ":"))
        existing = {}
        lock_sql = "" if check_mode else " FOR UPDATE"
        for name, server_id in ids:
            execute(cur, "SELECT %s%s FROM %s WHERE server_id = %%s%s" % (col_sql, idle_sql, qt, lock_sql),
                    (server_id,), name, "lock" if not check_mode else "read")
            db_row = cur.fetchone()
            if db_row is None or not (db_row["name"] or "").startswith(name_prefix + ":"):
                continue  # deleted or renamed meanwhile by someone else: not ours any more
            name = db_row["name"]
            if name in existing:
                raise DeliveryServerError("delivery server %s: duplicate owned rows (server_id %s and %s); "
                                          "delete one in MailWizz" % (name, existing[name]["server_id"],
                                                                      db_row["server_id"]),
                                          row=name, operation="read")
            existing[name] = db_row

        plan = []  # (name, operation, server_id|None, values, before_view, after_view)
        for row in rows:
            name = row["name"]
            db_row = existing.get(name)
            if db_row is None:
                if not create:
                    result["missing"].append(name)
                    continue
                values = _insert_values(row, schema)
                after = {col: values.get(col) for col in MANAGED_COLUMNS}
                after.update({"server_id": None, "password_set": False,
                              "use_for": row["use_for"], "customer_id": values.get("customer_id"),
                              "additional_headers": row.get("additional_headers") or []})
                if schema["warmup"]:
                    after["warmup_plan_id"] = None
                plan.append((name, "create", None, values, None, after))
                continue
            if db_row.get("status") == "pending-delete":
                result["skipped"].append(name)
                continue
            try:
                changes, moved = _changes(row, db_row, schema, identity_change)
            except PHPSerializeError as exc:
                raise DeliveryServerError("delivery server %s: read meta_data failed (%s)" % (name, exc),
                                          row=name, operation="read meta_data")
            if moved and changes.get("status") == "inactive":
                result["revalidate"][name] = moved
            view = _owned_view(db_row, schema)
            wait = _hold_for(db_row, changes, quota_cache_seconds)
            if wait:
                final = "active"
                if db_row.get("status") != "disabled":
                    changes["status"] = "disabled"
                else:
                    changes.pop("status", None)
                holds.append({"name": name, "server_id": db_row["server_id"], "seconds": wait,
                              "status": final,
                              "hourly_quota": changes.get("hourly_quota", db_row["hourly_quota"]),
                              "daily_quota": changes.get("daily_quota", db_row["daily_quota"])})
            if changes:
                after = _apply_view(view, changes)
                if wait:
                    after["status"] = "active"
                plan.append((name, "update", db_row["server_id"], changes, view, after))
            elif wait:
                plan.append((name, "hold", db_row["server_id"], {}, view, dict(view, status="active")))
            else:
                result["unchanged"].append(name)
                result["rows"][name] = view
        if orphans == "disable":
            planned = {r["name"] for r in rows}
            for name in sorted(existing):
                db_row = existing[name]
                if name in planned or db_row.get("status") == "pending-delete":
                    continue
                changes = {}
                if db_row.get("status") not in ("disabled", "inactive"):
                    changes["status"] = "disabled"
                for col in ("hourly_quota", "daily_quota"):
                    if db_row.get(col) != DISABLED_QUOTA:
                        changes[col] = DISABLED_QUOTA
                view = _owned_view(db_row, schema)
                if changes:
                    plan.append((name, "disable", db_row["server_id"], changes, view, _apply_view(view, changes)))
                else:
                    result["unchanged"].append(name)
                    result["rows"][name] = view

        for name, operation, server_id, values, before, after in plan:
            current = (name, operation)
            if not check_mode and values:
                if operation == "create":
                    cols = sorted(values)
                    sql = "INSERT INTO %s (%s, `date_added`, `last_updated`) VALUES (%s, NOW(), NOW())" % (
                        qt, ", ".join("`%s`" % c for c in cols), ", ".join(["%s"] * len(cols)))
                    execute(cur, sql, [values[c] for c in cols], name, "create")
                    after["server_id"] = cur.lastrowid
                else:
                    cols = sorted(values)
                    sql = "UPDATE %s SET %s, `last_updated` = NOW() WHERE `server_id` = %%s AND `name` = %%s" % (
                        qt, ", ".join("`%s` = %%s" % c for c in cols))
                    execute(cur, sql, [values[c] for c in cols] + [server_id, name], name, operation)
                if observer is not None:
                    observer(operation, name)
            bucket = {"create": "created", "update": "updated", "disable": "disabled",
                      "hold": "updated"}[operation]
            result[bucket].append(name)
            result["rows"][name] = after
            result["diff"]["before"][name] = before
            result["diff"]["after"][name] = after
        current = (None, "commit")
        if check_mode:
            conn.rollback()
        else:
            try:
                conn.commit()
            except pymysql.MySQLError as exc:
                raise _wrap(exc, None, "commit", table=table)
        result["held"] = [{"name": h["name"], "seconds": h["seconds"]} for h in holds]
        if holds and not check_mode:
            _release_holds(conn, cur, qt, holds, quota_cache_seconds, sleep, execute, observer,
                           result)
    except DeliveryServerError:
        _rollback(conn)
        raise
    except pymysql.MySQLError as exc:
        _rollback(conn)
        raise _wrap(exc, current[0], current[1], table=table)
    finally:
        if have_lock:
            try:
                with conn.cursor() as cur2:
                    cur2.execute("DO RELEASE_LOCK(%s)", (lock_name,))
            except Exception:  # connection gone: the server released the lock with it
                pass
    result["changed"] = bool(result["created"] or result["updated"] or result["disabled"])
    for key in ("created", "updated", "disabled", "unchanged", "missing", "skipped"):
        result[key] = sorted(set(result[key]))
    return result


def _release_holds(conn, cur, qt, holds, cache_seconds, sleep, execute, observer, result):
    """After the hold, activate the held rows that are still as the bridge left them.

    A row MailWizz put back into the rotation meanwhile (a sender releasing ``in-use`` writes
    ``active``) is disabled again and held again (at most HOLD_ROUNDS times); a row someone
    else changed otherwise is left as it is. A row still held after the last round stays
    ``disabled`` (less sending, never more) and the next run activates it."""
    pending = list(holds)
    for _round in range(HOLD_ROUNDS):
        sleep(max(h["seconds"] for h in pending) + 1)  # DATETIME has whole seconds
        again = []
        conn.begin()
        for hold in pending:
            name = hold["name"]
            execute(cur, "SELECT `status`, `hourly_quota`, `daily_quota` FROM %s "
                         "WHERE `server_id` = %%s FOR UPDATE" % qt, (hold["server_id"],), name,
                    "lock held row")
            db_row = cur.fetchone()
            if (db_row is None or int(db_row["hourly_quota"]) != int(hold["hourly_quota"])
                    or int(db_row["daily_quota"]) != int(hold["daily_quota"])):
                result["rows"][name]["status"] = db_row["status"] if db_row else None
                continue  # changed by someone else: theirs now
            if db_row["status"] == "disabled":
                execute(cur, "UPDATE %s SET `status` = %%s, `last_updated` = NOW() "
                             "WHERE `server_id` = %%s" % qt, (hold["status"], hold["server_id"]),
                        name, "activate after hold")
                if observer is not None:
                    observer("release", name)
                result["rows"][name]["status"] = hold["status"]
            elif db_row["status"] in ACTIVE_STATUSES:
                execute(cur, "UPDATE %s SET `status` = 'disabled', `last_updated` = NOW() "
                             "WHERE `server_id` = %%s" % qt, (hold["server_id"],), name,
                        "hold again")
                if observer is not None:
                    observer("hold", name)
                again.append(dict(hold, seconds=cache_seconds))
            else:
                result["rows"][name]["status"] = db_row["status"]  # inactive, hidden: theirs
        try:
            conn.commit()
        except pymysql.MySQLError as exc:
            raise _wrap(exc, None, "commit after hold")
        if not again:
            return
        pending = again
    for hold in pending:
        result["rows"][hold["name"]]["status"] = "disabled"
        result["diff"]["after"][hold["name"]] = result["rows"][hold["name"]]
        result.setdefault("still_held", []).append(hold["name"])


def _rollback(conn):
    try:
        conn.rollback()
    except Exception:  # connection lost: the server discards the open transaction itself
        pass


def run(params, check_mode=False, sleep=None):
    """What the module does, from its parameters: plan (from ``model``) or take ``servers``,
    connect, sync. Returns the module result with ``failed``, ``warnings`` and ``diff`` keys
    (the module turns them into fail_json / warn / the diff); never raises."""
    p = params
    extra = {"warnings": [], "failed": False}
    if not (p.get("login_user") and p.get("login_password") is not None and p.get("login_db")):
        return dict(extra, failed=True, msg="delivery servers: no database login (give instance, "
                                            "or login_user, login_password and login_db)")
    try:
        table = table_name(p["table_prefix"])
        if p.get("model") is not None:
            options = dict(p.get("plan_options") or {})
            options.setdefault("name_prefix", p["name_prefix"])
            desired = plan_delivery_servers(p["model"], p["caps"], p["listeners"], options)
            extra["planned"] = desired
        else:
            desired = p["servers"]
    except ValueError as exc:
        return dict(extra, failed=True, msg="delivery servers: plan failed (%s)" % exc)

    conn = None
    try:
        conn = connect(host=p["login_host"], port=p["login_port"], user=p["login_user"],
                       password=p["login_password"], database=p["login_db"],
                       unix_socket=p.get("login_unix_socket"),
                       connect_timeout=p["connect_timeout"])
        result = sync_delivery_servers(conn, desired, table=table, create=p["create"],
                                       orphans=p["orphans"], check_mode=check_mode,
                                       name_prefix=p["name_prefix"],
                                       lock_wait_timeout=p["lock_wait_timeout"],
                                       identity_change=p.get("identity_change") or "inactive",
                                       quota_cache_seconds=p.get("quota_cache_seconds", 300),
                                       sleep=sleep)
    except DeliveryServerError as exc:
        return dict(extra, failed=True, msg=str(exc), row=exc.row, operation=exc.operation,
                    error_code=exc.code)
    except ValueError as exc:
        return dict(extra, failed=True, msg="delivery servers: validate failed (%s)" % exc)
    finally:
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass
    warnings = extra["warnings"]
    for name in result["missing"]:
        warnings.append("delivery server %s does not exist in MailWizz and create is false: "
                        "not created" % name)
    for name, dropped in sorted(result["dropped_headers"].items()):
        for item in dropped:
            warnings.append("delivery server %s: additional header %r dropped (%s)"
                            % (name, item["name"], item["reason"]))
    for name, moved in sorted(result["revalidate"].items()):
        warnings.append("delivery server %s: %s changed, so it is inactive until MailWizz "
                        "validates it again (Servers > Delivery servers > Validate)"
                        % (name, ", ".join(moved)))
    for name in result.get("still_held") or []:
        warnings.append("delivery server %s: MailWizz kept it in its rotation during the quota "
                        "hold; it stays disabled until the next run" % name)
    result.update(extra)
    return result
