# -*- coding: utf-8 -*-
"""MailWizz delivery servers that send through the fleet's PowerMTA hosts (controller side).

MailWizz has no API to create or update a delivery server, its quotas or its headers, so the
bridge writes MailWizz's ``{prefix}delivery_server`` table directly (PyMySQL).

Two parts:

``plan_delivery_servers(model, caps, listeners, options)``
    Pure function. One desired row per tenant x PowerMTA host carrying that tenant's IPs, with the
    capacity contract applied: the row's ``daily_quota`` is the sum of today's caps of the tenant's
    non-standby IPs on that host (so the tenant's rows add up to its pool capacity),
    ``hourly_quota = ceil(daily_quota / sending_hours)``, ``probability`` is the host's share of the
    tenant's capacity in MailWizz's 5..100 range (multiples of 5, the values MailWizz's form
    accepts). MailWizz reads a quota of 0 as *unlimited*: a row whose capacity is 0 (every IP of
    the tenant on that host on standby or capped at 0) is planned ``disabled`` with both quotas at
    ``DISABLED_QUOTA`` (1), never 0, so re-enabling it by hand cannot open an unlimited tap.

``sync_delivery_servers(conn, desired, ...)``
    Brings the rows the toolkit owns to the desired state in one transaction. Owned rows are the
    ones whose ``name`` starts with ``<name_prefix>:`` (``mailfleet:<tenant>:<host>``); no other row
    is read for update, locked or written. Idempotent, check mode (reads only), before/after diff,
    rollback on any error.

Passwords: MailWizz stores SMTP passwords encrypted with its own key, so the toolkit never writes
the ``password`` column on update. A missing row is created only when ``create=True``, with an
empty password and status ``inactive``; it stays ``inactive`` (sync keeps it so) until the
operator types the password in the MailWizz admin, after which sync manages status ``active`` /
``disabled`` and the quotas. Without ``create=True`` missing rows are reported, not created.
"""
from __future__ import absolute_import, division, print_function

import copy
import re

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
USE_FOR = ("all", "transactional", "campaigns", "email-tests", "reports", "list-emails", "invoices")
PLANNED_STATUSES = ("active", "disabled")
# Statuses MailWizz may show on a row; "in-use" is MailWizz's own flag while it sends and counts as
# active; "pending-delete" means an admin is deleting the row: sync leaves such a row alone.
ACTIVE_STATUSES = ("active", "in-use")
PROTOCOLS = ("", "tls", "ssl", "starttls")

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

_NAME_PART_RE = re.compile(r"^[A-Za-z0-9_.@-]+$")
_TABLE_PREFIX_RE = re.compile(r"^[A-Za-z0-9_]*$")
_HEADER_NAME_RE = re.compile(r"^[\x21-\x39\x3b-\x7e]+$")


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
        if not isinstance(part, str) or not _NAME_PART_RE.match(part):
            raise ValueError("%s %r may only hold letters, digits and . _ @ -" % (what, part))
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


def _plan_headers(tenant, opts):
    headers = []
    if _bool(opts.get("header_routing")):
        pool = tenant.get("pool")
        if not pool:
            raise ValueError("header routing needs the tenant's pool name")
        headers.append({"name": "X-Virtual-MTA", "value": str(pool)})
    for item in opts.get("extra_headers") or []:
        headers.append({"name": str(item["name"]), "value": str(item["value"])})
    if not headers and not _bool(opts.get("header_routing")) and opts.get("extra_headers") is None:
        return None  # headers are not managed
    return headers


def plan_delivery_servers(model, caps, listeners, options=None):
    """Desired delivery-server rows, one per tenant x PowerMTA host that carries its IPs.

    ``model``: the fleet model (``fleet.build_model``), ``caps``: ``{ip: {"daily", "standby", ...}}``,
    ``listeners``: ``{host: {"hostname": str, "port": int (optional), "protocol": str (optional)}}``
    (the SMTP listener MailWizz connects to on that PowerMTA host), ``options``: see
    ``DEFAULT_PLAN_OPTIONS``. Returns a list of row dicts sorted by name; raises ``ValueError``
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
            capacity = 0
            standby = 0
            for ip in ips:
                address = ip.get("address")
                cap = caps.get(address)
                if cap is None:
                    raise ValueError("tenant %s: no cap for IP %s on host %s" % (tenant_name, address, host))
                if _int(cap.get("daily", 0), "cap daily of %s" % address) < 0:
                    raise ValueError("tenant %s: negative cap for IP %s" % (tenant_name, address))
                daily = effective_daily(cap)  # the capacity contract: 0 on standby or unreachable
                if daily == 0:
                    standby += 1
                    continue
                capacity += daily
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
                "hostname": str(listener["hostname"]),
                "port": _int(listener.get("port", opts["default_port"]), "port of host %s" % host),
                "protocol": protocol,
                "username": str(username),
                "from_email": str(from_email),
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
            validate_desired_row(row, opts["name_prefix"])
            rows.append(row)
    return sorted(rows, key=lambda r: r["name"])


def validate_desired_row(row, name_prefix=DEFAULT_NAME_PREFIX):
    """Check one desired row; return it normalised (copy). Raise ValueError naming the row."""
    if not isinstance(row, dict):
        raise ValueError("a delivery server row must be a dict")
    name = row.get("name")
    label = "delivery server %s" % (name,)
    if not isinstance(name, str) or not name.startswith(name_prefix + ":") or len(name.split(":")) != 3:
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
    if not 1 <= out["port"] <= 65535:
        raise ValueError("%s: port out of range" % label)
    if out["probability"] < 5 or out["probability"] > 100 or out["probability"] % 5:
        raise ValueError("%s: probability must be a multiple of 5 within 5..100" % label)
    # MailWizz reads 0 as unlimited: an owned row never carries a quota of 0.
    if out["daily_quota"] < 1 or out["hourly_quota"] < 1:
        raise ValueError("%s: quotas must be >= 1 (0 means unlimited in MailWizz); "
                         "plan a row with no capacity as disabled" % label)
    if out["hourly_quota"] > out["daily_quota"]:
        raise ValueError("%s: hourly_quota exceeds daily_quota" % label)
    headers = out["additional_headers"]
    if headers is not None:
        norm = []
        for item in headers:
            if not isinstance(item, dict) or "name" not in item or "value" not in item:
                raise ValueError("%s: additional_headers items need name and value" % label)
            hname, hvalue = str(item["name"]), str(item["value"])
            if not _HEADER_NAME_RE.match(hname) or "\n" in hvalue or "\r" in hvalue:
                raise ValueError("%s: invalid additional header %r" % (label, hname))
            norm.append({"name": hname, "value": hvalue})
        out["additional_headers"] = norm
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
    if not isinstance(prefix, str) or not _TABLE_PREFIX_RE.match(prefix):
        raise ValueError("table prefix may only hold letters, digits and underscores")
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


def _wrap(exc, row, operation):
    code = _error_code(exc)
    subject = "delivery server %s" % row if row else "delivery servers"
    msg = "%s: %s failed (MySQL error %s: %s)" % (subject, operation, code if code is not None else "?",
                                                   _error_text(exc))
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


def _owned_view(db_row, has_customer, has_warmup):
    """The managed part of a DB row, as shown in diffs and results (no password)."""
    view = {col: db_row.get(col) for col in MANAGED_COLUMNS}
    if isinstance(view.get("protocol"), str) and view["protocol"] == "":
        view["protocol"] = None
    view["server_id"] = db_row.get("server_id")
    view["password_set"] = bool(db_row.get("password"))
    if has_customer:
        view["customer_id"] = db_row.get("customer_id")
    if has_warmup:
        view["warmup_plan_id"] = db_row.get("warmup_plan_id")
    try:
        view["additional_headers"] = headers_from_meta(parse_meta_data(db_row.get("meta_data")))
    except PHPSerializeError:
        view["additional_headers"] = "<unreadable meta_data>"
    return view


def _target_status(planned, current_status, password_set):
    if planned == "disabled":
        return "disabled"
    if not password_set:
        return "inactive"  # waits for the operator to set the password in MailWizz
    if current_status in ACTIVE_STATUSES:
        return current_status  # "in-use" is MailWizz's own transient flag for an active server
    return "active"


def _changes(desired, db_row, has_customer, has_warmup):
    """Column -> new value for an existing owned row (empty dict = in sync)."""
    changes = {}
    password_set = bool(db_row.get("password"))
    target = dict(desired)
    target["status"] = _target_status(desired["status"], db_row.get("status"), password_set)
    for col in MANAGED_COLUMNS:
        want = target.get(col)
        have = db_row.get(col)
        if col == "protocol":
            if want is None:
                continue  # not managed
            if (have or "") != want:
                changes[col] = want or None
            continue
        if col in ("from_name",) and want is None:
            continue
        if have != want:
            changes[col] = want
    if has_customer and desired.get("customer_id") is not None and db_row.get("customer_id") != desired["customer_id"]:
        changes["customer_id"] = desired["customer_id"]
    if has_warmup and db_row.get("warmup_plan_id") is not None:
        changes["warmup_plan_id"] = None  # MailWizz warmup plans would rewrite the quotas hourly
    if desired.get("additional_headers") is not None:
        meta = parse_meta_data(db_row.get("meta_data"))
        if headers_from_meta(meta) != desired["additional_headers"] or (
                desired["additional_headers"] and not isinstance(meta.get("additional_headers"), dict)):
            changes["meta_data"] = serialize_meta(meta_with_headers(meta, desired["additional_headers"]))
    return changes


def _apply_view(view, changes):
    after = dict(view)
    for col, value in changes.items():
        if col == "meta_data":
            after["additional_headers"] = headers_from_meta(parse_meta_data(value))
        elif col == "protocol":
            after[col] = value or None
        else:
            after[col] = value
    return after


def _insert_values(desired, has_customer):
    values = {col: desired.get(col) for col in MANAGED_COLUMNS}
    values["name"] = desired["name"]
    values["status"] = "inactive"  # no password yet: the operator sets it in MailWizz
    values["password"] = ""
    values["protocol"] = desired.get("protocol") or None
    values["from_name"] = desired.get("from_name")
    headers = desired.get("additional_headers")
    values["meta_data"] = serialize_meta({"additional_headers": headers or []})
    if has_customer and desired.get("customer_id") is not None:
        values["customer_id"] = desired["customer_id"]
    return values


def sync_delivery_servers(conn, desired, table="mw_delivery_server", create=False,
                          orphans="disable", check_mode=False, name_prefix=DEFAULT_NAME_PREFIX,
                          lock_wait_timeout=10, observer=None):
    """Bring the owned rows of ``table`` to ``desired`` in one transaction.

    ``desired``: rows as returned by ``plan_delivery_servers`` (or equivalent dicts).
    ``create``: create missing rows (empty password, status inactive); otherwise report them.
    ``orphans``: ``disable`` (owned rows no longer planned get status disabled and quotas 1) or
    ``keep``. ``observer(operation, row_name)`` is called after each write statement.

    Returns ``{"changed", "created", "updated", "disabled", "unchanged", "missing", "skipped",
    "rows", "diff": {"before": {name: view}, "after": {name: view}}}``. Raises DeliveryServerError
    (the transaction is rolled back; nothing is half-written).
    """
    if orphans not in ("disable", "keep"):
        raise ValueError("orphans must be disable or keep")
    if not re.match(r"^[A-Za-z0-9_]+$", table):
        raise ValueError("invalid table name %r" % table)
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
              "missing": [], "skipped": [], "rows": {}, "diff": {"before": {}, "after": {}}}
    have_lock = False
    current = (None, "begin transaction")

    def execute(cur, sql, args, row, operation):
        try:
            cur.execute(sql, args)
        except pymysql.MySQLError as exc:
            raise _wrap(exc, row, operation)

    try:
        cur = conn.cursor(pymysql.cursors.DictCursor)
        execute(cur, "SET SESSION innodb_lock_wait_timeout = %s", (int(lock_wait_timeout),), None,
                "set lock wait timeout")
        execute(cur, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", None, None,
                "set isolation level")
        if not check_mode:
            # One mailfleet writer per table at a time (two runs could otherwise both create a row).
            execute(cur, "SELECT GET_LOCK(%s, %s) AS got", (lock_name, int(lock_wait_timeout)), None,
                    "acquire sync lock")
            if not (cur.fetchone() or {}).get("got"):
                raise DeliveryServerError("delivery servers: acquire sync lock failed (another sync "
                                          "holds %s)" % lock_name, operation="acquire sync lock")
            have_lock = True
        execute(cur, "SHOW COLUMNS FROM %s" % qt, None, None, "read columns of %s" % table)
        columns = {r["Field"] for r in cur.fetchall()}
        missing_cols = [c for c in REQUIRED_TABLE_COLUMNS if c not in columns]
        if missing_cols:
            raise DeliveryServerError("delivery servers: table %s lacks columns %s (MailWizz too old?)"
                                      % (table, ", ".join(missing_cols)), operation="check schema")
        has_customer = "customer_id" in columns
        has_warmup = "warmup_plan_id" in columns
        select_cols = ["server_id", "name", "password", "meta_data", "customer_id"] + list(MANAGED_COLUMNS)
        if has_warmup:
            select_cols.append("warmup_plan_id")
        col_sql = ", ".join("`%s`" % c for c in select_cols)
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
            # Lock exactly the owned rows, one by primary key (mailfleet runs are serialised by
            # the sync lock, so the order cannot deadlock against another run).
            execute(cur, "SELECT %s FROM %s WHERE server_id = %%s%s" % (col_sql, qt, lock_sql),
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
                values = _insert_values(row, has_customer)
                after = {col: values.get(col) for col in MANAGED_COLUMNS}
                after.update({"server_id": None, "password_set": False,
                              "additional_headers": row.get("additional_headers") or []})
                if has_customer:
                    after["customer_id"] = values.get("customer_id")
                if has_warmup:
                    after["warmup_plan_id"] = None
                plan.append((name, "create", None, values, None, after))
                continue
            if db_row.get("status") == "pending-delete":
                result["skipped"].append(name)
                continue
            try:
                changes = _changes(row, db_row, has_customer, has_warmup)
            except PHPSerializeError as exc:
                raise DeliveryServerError("delivery server %s: read meta_data failed (%s)" % (name, exc),
                                          row=name, operation="read meta_data")
            view = _owned_view(db_row, has_customer, has_warmup)
            if changes:
                plan.append((name, "update", db_row["server_id"], changes, view, _apply_view(view, changes)))
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
                if db_row.get("status") != "disabled":
                    changes["status"] = "disabled"
                for col in ("hourly_quota", "daily_quota"):
                    if db_row.get(col) != DISABLED_QUOTA:
                        changes[col] = DISABLED_QUOTA
                view = _owned_view(db_row, has_customer, has_warmup)
                if changes:
                    plan.append((name, "disable", db_row["server_id"], changes, view, _apply_view(view, changes)))
                else:
                    result["unchanged"].append(name)
                    result["rows"][name] = view

        for name, operation, server_id, values, before, after in plan:
            current = (name, operation)
            if not check_mode:
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
            result[{"create": "created", "update": "updated", "disable": "disabled"}[operation]].append(name)
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
                raise _wrap(exc, None, "commit")
    except DeliveryServerError:
        _rollback(conn)
        raise
    except pymysql.MySQLError as exc:
        _rollback(conn)
        raise _wrap(exc, current[0], current[1])
    finally:
        if have_lock:
            try:
                with conn.cursor() as cur2:
                    cur2.execute("DO RELEASE_LOCK(%s)", (lock_name,))
            except Exception:  # connection gone: the server released the lock with it
                pass
    result["changed"] = bool(result["created"] or result["updated"] or result["disabled"])
    for key in ("created", "updated", "disabled", "unchanged", "missing", "skipped"):
        result[key].sort()
    return result


def _rollback(conn):
    try:
        conn.rollback()
    except Exception:  # connection lost: the server discards the open transaction itself
        pass
