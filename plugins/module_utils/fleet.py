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
from ansible_collections.mailfleet.fleet.plugins.module_utils.schedule import normalize_schedule

__metaclass__ = type

TENANTS_VAR = "mailfleet_tenants"
SCHEDULES_VAR = "mailfleet_warmup_schedules"
PROVIDERS_VAR = "mailfleet_providers"
INSTANCES_VAR = "mailfleet_mailwizz_instances"
IPS_VAR = "mailfleet_ips"
PMTA_GROUP = "pmta"

# The team's default plan (seed notes): six stages of one week each.
DEFAULT_SCHEDULE = {"stages": [50, 200, 500, 1500, 5000, 10000], "min_days": 7}

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
    "mailwizz_auth": "the tenant's own MailWizz key when tenants share an instance (vaulted)",
    "delivery_server": "delivery-server settings (MailWizz bridge)",
}
DOMAIN_KEYS = ("name", "dkim_selector", "dkim_key_file", "dkim_retired_selectors")
IP_KEYS = ("address", "hostname", "tenant", "warmup_start", "vmta", "schedule", "overrides")
OVERRIDE_KEYS = ("hold", "pin_stage", "max_stage", "standby")


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
        if key in raw and nstages is not None:  # without a valid schedule, stages cannot be judged
            value = raw[key]
            if not (_is_int(value) and 1 <= value <= nstages + 1):
                chk.err(var, "%s.%s" % (path, key), "expected a stage number from 1 to %d (%d = warm), got %r" % (
                    nstages + 1, nstages + 1, value), host)
            else:
                out[key] = value
    return out


def build_model(inventory):
    """Validate the raw inventory and return ``(model, errors)``; see the module docstring."""
    chk = _Checker()
    glob = inventory.get("globals") or {}
    hosts = inventory.get("hosts") or {}

    # Schedules first: tenants and IPs refer to them. The warmup engine owns their grammar.
    schedules = {}
    raw_schedules = glob.get(SCHEDULES_VAR, {"default": DEFAULT_SCHEDULE})
    if chk.expect(raw_schedules, dict, SCHEDULES_VAR, "", "a mapping schedule-name -> {stages, ...}"):
        for name in sorted(raw_schedules, key=str):
            if not NAME_RE.match(str(name)):
                chk.err(SCHEDULES_VAR, ".%s" % name, "invalid schedule name; use lowercase letters, digits, '-' or '_'")
            sched, problems = normalize_schedule(raw_schedules[name], str(name))
            for key_path, message in problems:
                sep = "" if not key_path or key_path.startswith("[") else "."
                chk.err(SCHEDULES_VAR, ".%s%s%s" % (name, sep, key_path), message)
            schedules[str(name)] = sched  # None when invalid: references still resolve

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
    declared_tenants = set()
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
            if tenant:
                declared_tenants.add(tenant)
            nstages = len(schedules[schedule]["stages"]) if schedules.get(schedule) else None
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
            if not (tenant and hostname and start_date and schedules.get(schedule) and vmta):
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
        if name not in declared_tenants:
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
