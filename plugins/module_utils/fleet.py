# -*- coding: utf-8 -*-
"""The fleet model: validation and normalisation of the mailfleet inventory.

Pure Python, standard library only, no Ansible objects: the validation play, the filters, the
benchmarks and the tests all call :func:`build_model` with plain data.

Input (``inventory``)::

    {"globals": {"mailfleet_tenants": ..., "mailfleet_warmup_schedules": ..., ...},
     "hosts": {"pmta-1": {"groups": ["pmta"], "vars": {"mailfleet_ips": [...]}}, ...}}

Output: ``(model, errors)``. ``errors`` is a list of :class:`FleetError`; every error names the
variable (and, for host variables, the host) and the key path at fault and says what is expected.
The caller turns the variable into a file name (see ``inventory_locate``). All errors are
collected in one pass: the operator sees every problem of an inventory in one run.
"""
from __future__ import absolute_import, division, print_function

import datetime
import ipaddress
import re

from ansible_collections.mailfleet.fleet.plugins.module_utils.providers import (
    DEFAULT_PROVIDERS,
    PROVIDERS,
)

__metaclass__ = type

TENANTS_VAR = "mailfleet_tenants"
SCHEDULES_VAR = "mailfleet_warmup_schedules"
PROVIDERS_VAR = "mailfleet_providers"
INSTANCES_VAR = "mailfleet_mailwizz_instances"
IPS_VAR = "mailfleet_ips"
PMTA_GROUP = "pmta"

# The team's default plan (seed notes): six stages of one week each.
DEFAULT_SCHEDULE = {"stages": [50, 200, 500, 1500, 5000, 10000], "min_days": 7}
DEFAULT_MIN_DAYS = 7

# Warmup thresholds: the planner (warmup.py) documents each one; the model only checks types/ranges.
# name -> (default, minimum, maximum, kind)
THRESHOLDS = {
    "fill_ratio": (0.9, 0.0, 1.0, float),
    "max_hard_bounce_rate": (0.02, 0.0, 1.0, float),
    "max_complaint_rate": (0.003, 0.0, 1.0, float),
    "max_deferral_rate": (0.15, 0.0, 1.0, float),
    "near_limit": (0.75, 0.0, 1.0, float),
    "step_back": (1, 0, 100, int),
    "idle_days": (30, 1, 3650, int),
    "rewarm_step_back": (2, 0, 100, int),
    "min_volume_for_rates": (50, 0, 10 ** 9, int),
    "resume_step_back": (1, 0, 100, int),
}

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
VMTA_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
SELECTOR_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
LABEL_RE = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
SMTP_USER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,127}$")

TENANT_KEYS = {
    "pool": "pool name (defaults to <tenant>-pool)",
    "domains": "list of sending domains",
    "smtp_user": "SMTP user name PowerMTA authenticates for this tenant",
    "smtp_password": "SMTP password (vaulted)",
    "mailwizz": "name of an entry of mailfleet_mailwizz_instances",
    "schedule": "name of an entry of mailfleet_warmup_schedules",
    "from_name": "default From name",
    "from_email": "default From address",
    "description": "free text",
    "mailwizz_lists": "lists declared for this tenant (MailWizz playbook)",
    "delivery_server": "delivery-server settings (MailWizz bridge)",
}
DOMAIN_KEYS = ("name", "dkim_selector", "dkim_key_file", "dkim_retired_selectors")
IP_KEYS = ("address", "hostname", "tenant", "warmup_start", "vmta", "schedule", "overrides")
OVERRIDE_KEYS = ("hold", "pin_stage", "max_stage", "standby")
SCHEDULE_KEYS = ("stages", "min_days", "full_rate", "providers", "thresholds", "description")


class FleetError:
    """One validation error: where (host, variable, key path) and what."""

    __slots__ = ("host", "var", "path", "message")

    def __init__(self, var, path, message, host=None):
        self.host = host
        self.var = var
        self.path = path
        self.message = message

    @property
    def key(self):
        return self.var + self.path

    def format(self, where=None):
        """Human message. ``where`` is the file (and line) the caller located, if any."""
        if where:
            return "%s: %s: %s" % (where, self.key, self.message)
        if self.host:
            return "host %s, variable %s: %s" % (self.host, self.key, self.message)
        return "variable %s: %s" % (self.key, self.message)

    def as_dict(self):
        return {"host": self.host, "var": self.var, "path": self.path, "message": self.message}

    def __repr__(self):
        return "FleetError(%r)" % self.format()


def _typename(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_hostname(value):
    """A fully qualified host name (at least two labels, letters/digits/hyphens, ≤ 253 chars)."""
    if not isinstance(value, str) or not value or len(value) > 253:
        return False
    name = value[:-1] if value.endswith(".") else value
    labels = name.split(".")
    if len(labels) < 2 or labels[-1].isdigit():
        return False
    return all(LABEL_RE.match(label) for label in labels)


def parse_date(value):
    """Inventory dates: YAML dates or ``YYYY-MM-DD`` strings. Returns a date or None."""
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, str) and re.match(r"^\d{4}-\d{2}-\d{2}$", value):
        try:
            return datetime.datetime.strptime(value, "%Y-%m-%d").date()
        except ValueError:
            return None
    return None


def default_vmta_name(tenant, address):
    """``sos-expat-192-0-2-10`` / ``ulixai-2001-db8--10``: stable, PowerMTA-safe."""
    return "%s-%s" % (tenant, address.replace(".", "-").replace(":", "-"))


class _Checker:
    """Collects errors while walking the raw inventory."""

    def __init__(self):
        self.errors = []

    def err(self, var, path, message, host=None):
        self.errors.append(FleetError(var, path, message, host))

    def expect(self, value, kind, var, path, what, host=None):
        """Check a type; ``kind`` is dict, list, str, int, number or bool."""
        ok = {
            dict: lambda v: isinstance(v, dict),
            list: lambda v: isinstance(v, list),
            str: lambda v: isinstance(v, str) and v != "",
            int: _is_int,
            float: _is_number,
            bool: lambda v: isinstance(v, bool),
        }[kind](value)
        if not ok:
            self.err(var, path, "expected %s, got %s%s" % (
                what, _typename(value), "" if isinstance(value, (dict, list)) else " (%r)" % (value,)), host)
        return ok

    def unknown_keys(self, mapping, allowed, var, path, host=None):
        for key in sorted(mapping, key=str):
            if key not in allowed:
                self.err(var, "%s.%s" % (path, key),
                         "unknown key; expected one of: %s" % ", ".join(sorted(allowed)), host)


def normalize_schedule(raw, chk=None, var=SCHEDULES_VAR, path=""):
    """Validate one warmup schedule as written in the inventory and return its normal form.

    ``stages`` is a list of daily volumes (ints) or of ``{volume, min_days}`` mappings; volumes must
    be positive and strictly increasing. ``full_rate`` (daily cap once warm) defaults to the last
    stage. ``providers`` maps gmail/microsoft/yahoo/other to ``{share: 0..1}`` or ``{cap: N}`` (a
    bare number is a share). ``thresholds`` overrides :data:`THRESHOLDS`.
    """
    chk = chk or _Checker()
    out = {"stages": [], "full_rate": None, "providers": {}, "thresholds": {}}
    if not chk.expect(raw, dict, var, path, "a mapping with 'stages'"):
        return out, chk.errors
    chk.unknown_keys(raw, SCHEDULE_KEYS, var, path)
    min_days = raw.get("min_days", DEFAULT_MIN_DAYS)
    if not (_is_int(min_days) and min_days > 0):
        chk.err(var, path + ".min_days", "expected a positive integer (days per stage), got %r" % (min_days,))
        min_days = DEFAULT_MIN_DAYS
    stages = raw.get("stages")
    if stages is None:
        chk.err(var, path + ".stages", "missing: a list of daily volumes, e.g. [50, 200, 500]")
    elif chk.expect(stages, list, var, path + ".stages", "a list of daily volumes"):
        if not stages:
            chk.err(var, path + ".stages", "must list at least one stage")
        previous = 0
        for i, stage in enumerate(stages):
            spath = "%s.stages[%d]" % (path, i)
            days = min_days
            if isinstance(stage, dict):
                chk.unknown_keys(stage, ("volume", "min_days"), var, spath)
                volume = stage.get("volume")
                days = stage.get("min_days", min_days)
                if not (_is_int(days) and days > 0):
                    chk.err(var, spath + ".min_days", "expected a positive integer, got %r" % (days,))
                    days = min_days
                vpath = spath + ".volume"
            else:
                volume = stage
                vpath = spath
            if not _is_int(volume):
                chk.err(var, vpath, "expected a positive integer daily volume, got %s (%r)" % (_typename(volume), volume))
                continue
            if volume <= 0:
                chk.err(var, vpath, "daily volume must be positive, got %d" % volume)
                continue
            if volume <= previous:
                chk.err(var, vpath, "daily volume must be greater than the previous stage (%d), got %d" % (previous, volume))
            previous = max(previous, volume)
            out["stages"].append({"volume": volume, "min_days": days})
    last = out["stages"][-1]["volume"] if out["stages"] else 0
    full_rate = raw.get("full_rate", last)
    if "full_rate" not in raw and not last:
        pass  # no valid stage: the stage errors say it all
    elif not (_is_int(full_rate) and full_rate > 0):
        chk.err(var, path + ".full_rate", "expected a positive integer (daily cap once warm), got %r" % (full_rate,))
        full_rate = last
    elif full_rate < last:
        chk.err(var, path + ".full_rate", "must be at least the last stage's volume (%d), got %d" % (last, full_rate))
    out["full_rate"] = full_rate
    providers = raw.get("providers", {})
    if chk.expect(providers, dict, var, path + ".providers", "a mapping provider -> {share|cap}"):
        for name in sorted(providers, key=str):
            ppath = "%s.providers.%s" % (path, name)
            spec = providers[name]
            if name not in PROVIDERS:
                chk.err(var, ppath, "unknown provider; expected one of: %s" % ", ".join(PROVIDERS))
                continue
            if _is_number(spec):
                spec = {"share": spec}
            if not chk.expect(spec, dict, var, ppath, "{share: 0..1} or {cap: N}"):
                continue
            chk.unknown_keys(spec, ("share", "cap"), var, ppath)
            share, cap = spec.get("share"), spec.get("cap")
            given = share is not None or cap is not None
            if share is not None and not (_is_number(share) and 0 < share <= 1):
                chk.err(var, ppath + ".share", "expected a fraction in (0, 1], got %r" % (share,))
                share = None
            if cap is not None and not (_is_int(cap) and cap > 0):
                chk.err(var, ppath + ".cap", "expected a positive integer, got %r" % (cap,))
                cap = None
            if share is None and cap is None:
                if given:
                    continue
                chk.err(var, ppath, "set 'share' (fraction of the IP's daily cap) or 'cap' (messages a day)")
                continue
            out["providers"][name] = {"share": float(share) if share is not None else None, "cap": cap}
    thresholds = raw.get("thresholds", {})
    merged = {k: v[0] for k, v in THRESHOLDS.items()}
    if chk.expect(thresholds, dict, var, path + ".thresholds", "a mapping of threshold names to numbers"):
        chk.unknown_keys(thresholds, THRESHOLDS, var, path + ".thresholds")
        for name in sorted(thresholds, key=str):
            if name not in THRESHOLDS:
                continue
            value = thresholds[name]
            _default, low, high, kind = THRESHOLDS[name]
            good = _is_int(value) if kind is int else _is_number(value)
            if not good or not low <= value <= high:
                chk.err(var, "%s.thresholds.%s" % (path, name), "expected %s between %s and %s, got %r" % (
                    "an integer" if kind is int else "a number", low, high, value))
                continue
            merged[name] = kind(value)
    out["thresholds"] = merged
    return out, chk.errors


def _check_address(chk, value, var, path, host):
    if not isinstance(value, str):
        chk.err(var, path, "expected an IPv4 or IPv6 address as a string, got %s (%r)" % (_typename(value), value), host)
        return None
    try:
        addr = ipaddress.ip_address(value.strip())
    except ValueError:
        chk.err(var, path, "%r is not a valid IPv4 or IPv6 address" % (value,), host)
        return None
    if addr.is_unspecified or addr.is_multicast or addr.is_loopback:
        chk.err(var, path, "%s cannot be a sending address (unspecified, multicast or loopback)" % addr, host)
        return None
    return addr


def _norm_tenant(chk, name, raw, schedules, instances):
    var = TENANTS_VAR
    path = ".%s" % name
    tenant = {"name": name, "pool": "%s-pool" % name, "domains": [], "smtp_user": name,
              "smtp_password": None, "mailwizz": None, "schedule": "default",
              "from_name": None, "from_email": None}
    if not NAME_RE.match(str(name)):
        chk.err(var, path, "invalid tenant name; use lowercase letters, digits, '-' or '_' (max 63)")
    if not chk.expect(raw, dict, var, path, "a mapping (pool, domains, smtp_user, ...)"):
        return tenant
    chk.unknown_keys(raw, TENANT_KEYS, var, path)
    pool = raw.get("pool", tenant["pool"])
    if chk.expect(pool, str, var, path + ".pool", "a pool name"):
        if not VMTA_RE.match(pool):
            chk.err(var, path + ".pool", "invalid pool name %r; use letters, digits, '-', '_' or '.'" % pool)
        tenant["pool"] = pool
    for key in ("smtp_user", "schedule", "mailwizz", "from_name", "from_email"):
        if key in raw:
            if chk.expect(raw[key], str, var, "%s.%s" % (path, key), "a non-empty string"):
                tenant[key] = raw[key]
    if "smtp_password" in raw:
        if raw["smtp_password"] is None or raw["smtp_password"] == "":
            chk.err(var, path + ".smtp_password", "must not be empty (use an Ansible Vault value)")
        else:
            tenant["smtp_password"] = str(raw["smtp_password"])
    if not SMTP_USER_RE.match(tenant["smtp_user"] or ""):
        chk.err(var, path + ".smtp_user", "invalid SMTP user name %r" % (tenant["smtp_user"],))
    if tenant["schedule"] not in schedules:
        chk.err(var, path + ".schedule", "unknown warmup schedule %r; defined: %s" % (
            tenant["schedule"], ", ".join(sorted(schedules)) or "none"))
    if tenant["mailwizz"] is not None and tenant["mailwizz"] not in instances:
        chk.err(var, path + ".mailwizz", "unknown MailWizz instance %r; defined in %s: %s" % (
            tenant["mailwizz"], INSTANCES_VAR, ", ".join(sorted(instances)) or "none"))
    if tenant["from_email"] is not None and "@" not in tenant["from_email"]:
        chk.err(var, path + ".from_email", "expected an e-mail address, got %r" % tenant["from_email"])
    domains = raw.get("domains")
    if domains is None:
        chk.err(var, path + ".domains", "missing: list the tenant's sending domains with their DKIM selector and key")
    elif chk.expect(domains, list, var, path + ".domains", "a list of {name, dkim_selector, dkim_key_file}"):
        if not domains:
            chk.err(var, path + ".domains", "must list at least one sending domain")
        for i, dom in enumerate(domains):
            dpath = "%s.domains[%d]" % (path, i)
            if not chk.expect(dom, dict, var, dpath, "a mapping {name, dkim_selector, dkim_key_file}"):
                continue
            chk.unknown_keys(dom, DOMAIN_KEYS, var, dpath)
            entry = {"name": None, "dkim_selector": None, "dkim_key_file": None, "dkim_retired_selectors": []}
            dname = dom.get("name")
            if dname is None:
                chk.err(var, dpath + ".name", "missing: the sending domain")
            elif not is_hostname(dname):
                chk.err(var, dpath + ".name", "%r is not a valid domain name" % (dname,))
            else:
                entry["name"] = dname.lower().rstrip(".")
            sel = dom.get("dkim_selector")
            if sel is None:
                chk.err(var, dpath + ".dkim_selector", "missing: the DKIM selector PowerMTA signs with")
            elif not (isinstance(sel, str) and SELECTOR_RE.match(sel)):
                chk.err(var, dpath + ".dkim_selector", "invalid DKIM selector %r" % (sel,))
            else:
                entry["dkim_selector"] = sel
            key = dom.get("dkim_key_file")
            if key is None:
                chk.err(var, dpath + ".dkim_key_file", "missing: path of the DKIM private key (PEM, vaulted), relative to the inventory")
            elif chk.expect(key, str, var, dpath + ".dkim_key_file", "a file path"):
                entry["dkim_key_file"] = key
            retired = dom.get("dkim_retired_selectors", [])
            if chk.expect(retired, list, var, dpath + ".dkim_retired_selectors", "a list of {selector, key_file}"):
                for j, old in enumerate(retired):
                    opath = "%s.dkim_retired_selectors[%d]" % (dpath, j)
                    if chk.expect(old, dict, var, opath, "a mapping {selector, key_file}"):
                        chk.unknown_keys(old, ("selector", "key_file"), var, opath)
                        if not (isinstance(old.get("selector"), str) and SELECTOR_RE.match(old["selector"])):
                            chk.err(var, opath + ".selector", "invalid DKIM selector %r" % (old.get("selector"),))
                        elif chk.expect(old.get("key_file"), str, var, opath + ".key_file", "a file path"):
                            entry["dkim_retired_selectors"].append({"selector": old["selector"], "key_file": old["key_file"]})
            tenant["domains"].append(entry)
        seen = {}
        for i, entry in enumerate(tenant["domains"]):
            if entry["name"] and entry["name"] in seen:
                chk.err(var, "%s.domains[%d].name" % (path, i), "domain %s is listed twice (also at domains[%d])" % (
                    entry["name"], seen[entry["name"]]))
            seen.setdefault(entry["name"], i)
    return tenant


def _norm_overrides(chk, raw, var, path, host, nstages):
    out = {}
    if not chk.expect(raw, dict, var, path, "a mapping {hold, pin_stage, max_stage, standby}", host):
        return out
    chk.unknown_keys(raw, OVERRIDE_KEYS, var, path, host)
    for key in ("hold", "standby"):
        if key in raw and chk.expect(raw[key], bool, var, "%s.%s" % (path, key), "true or false", host):
            out[key] = raw[key]
    for key in ("pin_stage", "max_stage"):
        if key in raw:
            value = raw[key]
            if not (_is_int(value) and 1 <= value <= max(nstages, 1)):
                chk.err(var, "%s.%s" % (path, key), "expected a stage number from 1 to %d, got %r" % (nstages, value), host)
            else:
                out[key] = value
    return out


def build_model(inventory):
    """Validate the raw inventory and return ``(model, errors)``; see the module docstring."""
    chk = _Checker()
    glob = inventory.get("globals") or {}
    hosts = inventory.get("hosts") or {}

    # Schedules first: tenants and IPs refer to them.
    schedules = {}
    raw_schedules = glob.get(SCHEDULES_VAR, {"default": DEFAULT_SCHEDULE})
    if chk.expect(raw_schedules, dict, SCHEDULES_VAR, "", "a mapping schedule-name -> {stages, ...}"):
        for name in sorted(raw_schedules, key=str):
            if not NAME_RE.match(str(name)):
                chk.err(SCHEDULES_VAR, ".%s" % name, "invalid schedule name; use lowercase letters, digits, '-' or '_'")
            sched, _ = normalize_schedule(raw_schedules[name], chk, SCHEDULES_VAR, ".%s" % name)
            sched["name"] = str(name)
            schedules[str(name)] = sched

    instances = glob.get(INSTANCES_VAR, {})
    if not chk.expect(instances, dict, INSTANCES_VAR, "", "a mapping instance-name -> {url, api_key}"):
        instances = {}

    providers = {}
    raw_providers = glob.get(PROVIDERS_VAR, DEFAULT_PROVIDERS)
    if chk.expect(raw_providers, dict, PROVIDERS_VAR, "", "a mapping provider -> {domains, mx}"):
        chk.unknown_keys(raw_providers, PROVIDERS, PROVIDERS_VAR, "")
        for name in PROVIDERS:
            spec = raw_providers.get(name, DEFAULT_PROVIDERS[name])
            entry = {"domains": [], "mx": []}
            if chk.expect(spec, dict, PROVIDERS_VAR, ".%s" % name, "a mapping {domains, mx}"):
                chk.unknown_keys(spec, ("domains", "mx"), PROVIDERS_VAR, ".%s" % name)
                for key in ("domains", "mx"):
                    values = spec.get(key, [])
                    if chk.expect(values, list, PROVIDERS_VAR, ".%s.%s" % (name, key), "a list of names"):
                        for i, value in enumerate(values):
                            probe = value.replace("*.", "", 1) if isinstance(value, str) else value
                            if not is_hostname(probe):
                                chk.err(PROVIDERS_VAR, ".%s.%s[%d]" % (name, key, i), "%r is not a valid %s" % (
                                    value, "domain" if key == "domains" else "MX host pattern (e.g. *.google.com)"))
                            else:
                                entry[key].append(value.lower())
            providers[name] = entry

    tenants = {}
    raw_tenants = glob.get(TENANTS_VAR)
    if raw_tenants is None:
        chk.err(TENANTS_VAR, "", "missing: define the tenants in group_vars/all")
    elif chk.expect(raw_tenants, dict, TENANTS_VAR, "", "a mapping tenant-name -> {pool, domains, ...}"):
        for name in sorted(raw_tenants, key=str):
            tenants[str(name)] = _norm_tenant(chk, str(name), raw_tenants[name], schedules, instances)

    # IPs, host by host (sorted: deterministic model and error order).
    model_hosts = {}
    ips = {}
    first_seen = {}
    vmta_owner = {}
    for host in sorted(hosts):
        hinfo = hosts[host] or {}
        hvars = hinfo.get("vars") or {}
        groups = hinfo.get("groups") or []
        raw_ips = hvars.get(IPS_VAR)
        if raw_ips is None:
            if PMTA_GROUP in groups:
                model_hosts[host] = {"ips": []}
            continue
        if PMTA_GROUP not in groups:
            chk.err(IPS_VAR, "", "host %s declares sending IPs but is not in the '%s' group" % (host, PMTA_GROUP), host)
            continue
        host_ips = []
        model_hosts[host] = {"ips": host_ips}
        if not chk.expect(raw_ips, list, IPS_VAR, "", "a list of {address, hostname, tenant, warmup_start}", host):
            continue
        for i, raw in enumerate(raw_ips):
            path = "[%d]" % i
            if not chk.expect(raw, dict, IPS_VAR, path, "a mapping {address, hostname, tenant, warmup_start}", host):
                continue
            chk.unknown_keys(raw, IP_KEYS, IPS_VAR, path, host)
            addr = _check_address(chk, raw.get("address"), IPS_VAR, path + ".address", host) \
                if "address" in raw else chk.err(IPS_VAR, path + ".address", "missing: the IP address", host)
            hostname = raw.get("hostname")
            if hostname is None:
                chk.err(IPS_VAR, path + ".hostname", "missing: the PTR/HELO host name of this IP", host)
            elif not is_hostname(hostname):
                chk.err(IPS_VAR, path + ".hostname", "%r is not a valid fully qualified host name" % (hostname,), host)
                hostname = None
            tenant = raw.get("tenant")
            if tenant is None:
                chk.err(IPS_VAR, path + ".tenant", "missing: the tenant this IP sends for", host)
            elif not isinstance(tenant, str) or tenant not in tenants:
                chk.err(IPS_VAR, path + ".tenant", "unknown tenant %r; defined in %s: %s" % (
                    tenant, TENANTS_VAR, ", ".join(sorted(tenants)) or "none"), host)
                tenant = None
            start = raw.get("warmup_start")
            start_date = None
            if start is None:
                chk.err(IPS_VAR, path + ".warmup_start", "missing: the first day this IP may send (YYYY-MM-DD)", host)
            else:
                start_date = parse_date(start)
                if start_date is None:
                    chk.err(IPS_VAR, path + ".warmup_start", "expected a date YYYY-MM-DD, got %r" % (start,), host)
            schedule = raw.get("schedule", tenants[tenant]["schedule"] if tenant else None)
            if "schedule" in raw and (not isinstance(schedule, str) or schedule not in schedules):
                chk.err(IPS_VAR, path + ".schedule", "unknown warmup schedule %r; defined: %s" % (
                    schedule, ", ".join(sorted(schedules)) or "none"), host)
                schedule = None
            nstages = len(schedules[schedule]["stages"]) if schedule in schedules else 0
            overrides = _norm_overrides(chk, raw.get("overrides", {}), IPS_VAR, path + ".overrides", host, nstages)
            vmta = raw.get("vmta")
            if vmta is not None:
                if not (isinstance(vmta, str) and VMTA_RE.match(vmta)):
                    chk.err(IPS_VAR, path + ".vmta", "invalid VirtualMTA name %r; use letters, digits, '-', '_' or '.'" % (vmta,), host)
                    vmta = None
            elif addr is not None and tenant:
                vmta = default_vmta_name(tenant, str(addr))
            if addr is None:
                continue
            key = str(addr)
            if key in first_seen:
                other_host, other_path, other_tenant = first_seen[key]
                where = "on this host" if other_host == host else "on host %s" % other_host
                if tenant and other_tenant and tenant != other_tenant:
                    chk.err(IPS_VAR, path + ".address", "IP %s is in two tenants: %s here and %s at %s%s %s" % (
                        key, tenant, other_tenant, IPS_VAR, other_path, where), host)
                else:
                    chk.err(IPS_VAR, path + ".address", "IP %s is declared twice (also at %s%s %s)" % (
                        key, IPS_VAR, other_path, where), host)
                continue
            first_seen[key] = (host, path, tenant)
            if vmta is not None:
                if vmta in vmta_owner:
                    ohost, opath = vmta_owner[vmta]
                    chk.err(IPS_VAR, path + ".vmta", "duplicate VirtualMTA name %r (also at %s%s on host %s)" % (
                        vmta, IPS_VAR, opath, ohost), host)
                vmta_owner[vmta] = (host, path)
            if not (tenant and hostname and start_date and schedule and vmta):
                continue
            entry = {
                "address": key,
                "version": addr.version,
                "hostname": hostname.lower().rstrip("."),
                "tenant": tenant,
                "vmta": vmta,
                "pool": tenants[tenant]["pool"],
                "warmup_start": start_date.isoformat(),
                "schedule": schedule,
                "overrides": overrides,
                "host": host,
            }
            host_ips.append(entry)
            ips[key] = entry

    # Cross-checks over the whole fleet.
    pools = {}
    for name, tenant in sorted(tenants.items()):
        if tenant["pool"] in pools:
            chk.err(TENANTS_VAR, ".%s.pool" % name, "pool %r is also the pool of tenant %s; each tenant needs its own pool" % (
                tenant["pool"], pools[tenant["pool"]]))
        pools.setdefault(tenant["pool"], name)
        if tenant["pool"] in vmta_owner:
            ohost, opath = vmta_owner[tenant["pool"]]
            chk.err(TENANTS_VAR, ".%s.pool" % name, "pool %r has the same name as the VirtualMTA at %s%s on host %s" % (
                tenant["pool"], IPS_VAR, opath, ohost))
        if not any(ip["tenant"] == name for ip in ips.values()):
            chk.err(TENANTS_VAR, ".%s" % name, "tenant %s has no sending IP; add one to some host's %s" % (name, IPS_VAR))
    users = {}
    for name, tenant in sorted(tenants.items()):
        if tenant["smtp_user"] in users:
            chk.err(TENANTS_VAR, ".%s.smtp_user" % name, "SMTP user %r is also used by tenant %s" % (
                tenant["smtp_user"], users[tenant["smtp_user"]]))
        users.setdefault(tenant["smtp_user"], name)
    domain_owner = {}
    for name, tenant in sorted(tenants.items()):
        for i, dom in enumerate(tenant["domains"]):
            if dom["name"] in domain_owner and domain_owner[dom["name"]] != name:
                chk.err(TENANTS_VAR, ".%s.domains[%d].name" % (name, i), "domain %s also belongs to tenant %s" % (
                    dom["name"], domain_owner[dom["name"]]))
            domain_owner.setdefault(dom["name"], name)

    for host in model_hosts:
        model_hosts[host]["ips"].sort(key=lambda ip: (ip["tenant"], ip["version"], ipaddress.ip_address(ip["address"])))
    model = {
        "tenants": tenants,
        "schedules": schedules,
        "providers": providers,
        "hosts": model_hosts,
        "ips": dict(sorted(ips.items())),
    }
    return model, chk.errors


def schedule_stage_by_calendar(schedule, warmup_start, today):
    """Stage index and daily cap by calendar: the foundation's rule until a warmup state exists.

    Returns ``(stage_index or None when warm, daily_cap)``; before ``warmup_start`` the cap is 0.
    """
    start = parse_date(warmup_start)
    if start is None or today < start:
        return 0, 0
    elapsed = (today - start).days
    for index, stage in enumerate(schedule["stages"]):
        if elapsed < stage["min_days"]:
            return index, stage["volume"]
        elapsed -= stage["min_days"]
    return None, schedule["full_rate"]


def provider_caps(schedule, daily):
    """Per-provider daily caps for one IP from the schedule's shares/caps (never above ``daily``)."""
    caps = {}
    for name, spec in sorted(schedule.get("providers", {}).items()):
        values = [daily]
        if spec.get("share") is not None:
            values.append(int(daily * spec["share"]))
        if spec.get("cap") is not None:
            values.append(spec["cap"])
        caps[name] = min(values)
    return caps


def calendar_caps(model, today):
    """Caps for every IP by calendar (see :func:`schedule_stage_by_calendar`) and overrides."""
    caps = {}
    for address, ip in model["ips"].items():
        schedule = model["schedules"][ip["schedule"]]
        stage, daily = schedule_stage_by_calendar(schedule, ip["warmup_start"], today)
        reason = "calendar: day %d since warmup start" % ((today - parse_date(ip["warmup_start"])).days + 1)
        overrides = ip["overrides"]
        if overrides.get("max_stage") and (stage is None or stage + 1 > overrides["max_stage"]):
            stage = overrides["max_stage"] - 1
            daily = schedule["stages"][stage]["volume"]
            reason = "max_stage override"
        if overrides.get("pin_stage"):
            stage = overrides["pin_stage"] - 1
            daily = schedule["stages"][stage]["volume"]
            reason = "pinned at stage %d" % overrides["pin_stage"]
        standby = bool(overrides.get("standby"))
        if standby:
            daily, reason = 0, "standby override"
        elif daily == 0:
            reason = "warmup starts %s" % ip["warmup_start"]
        caps[address] = {
            "daily": daily,
            "providers": provider_caps(schedule, daily),
            "standby": standby,
            "stage": None if stage is None else stage + 1,
            "reason": reason,
        }
    return caps


def pool_capacity(model, caps):
    """Capacity contract: a tenant's pool capacity = sum of today's caps of its active IPs."""
    out = {name: 0 for name in model["tenants"]}
    for address, ip in model["ips"].items():
        cap = caps.get(address) or {}
        if not cap.get("standby"):
            out[ip["tenant"]] += int(cap.get("daily", 0))
    return out


def host_capacity(model, caps):
    """Per tenant and host: the part of the pool capacity each PowerMTA host carries."""
    out = {}
    for address, ip in model["ips"].items():
        cap = caps.get(address) or {}
        per = out.setdefault(ip["tenant"], {})
        per.setdefault(ip["host"], 0)
        if not cap.get("standby"):
            per[ip["host"]] += int(cap.get("daily", 0))
    return out
