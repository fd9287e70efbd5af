# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet model: validation and normalisation of the mailfleet inventory -- the one home of
inventory validation.

Pure Python, no Ansible objects: the validation action, the filters, the benchmarks and the tests
all call :func:`build_model` (and :func:`check_key_files`) with plain data. Every string that ends
up in a PowerMTA configuration, a DNS name or an SQL row is checked with ``grammar`` (the one
grammar); warmup schedules with ``warmup.normalize_schedule``.

Input (``inventory``)::

    {"globals": {"mailfleet_tenants": ..., "mailfleet_warmup_schedules": ..., ...},
     "hosts": {"pmta-1": {"groups": ["pmta"], "vars": {"mailfleet_ips": [...], "mailfleet_root": ...}}, ...}}

A value the caller could not read (an undecryptable or ungrammatical secret, an expression it
refused to evaluate) is passed as an :class:`Unreadable`; the caller has already reported it, so
validation accepts it as present and checks nothing more below it. A mapping key that YAML read as
a boolean, a number, a date or null (``no:`` is ``False``) is refused; the caller may pass it as a
:class:`YamlKey` carrying the spelling of the file, so the message can say ``key no``.

Output: ``(model, errors)``. ``errors`` is a list of :class:`FleetError`; every error names the
variable (and, for host variables, the host) and the key path at fault and says what is expected.
The caller turns the variable into a file name (see ``inventory_locate``). All errors are
collected in one pass, and a value found wrong is not reported again through what depends on it
(an invalid tenant does not also make its IPs "unknown tenant").

The model carries no secret: ``mailfleet_model`` is a fact, printed at ``-v``. Secrets are read
where they are written (``plugins/plugin_utils/secrets.py``).
"""
from __future__ import absolute_import, division, print_function

import datetime
import ipaddress

from ansible_collections.mailfleet.fleet.plugins.module_utils import grammar, mailwizz_api
from ansible_collections.mailfleet.fleet.plugins.module_utils.delivery_server import PROTOCOLS as LISTENER_PROTOCOLS
from ansible_collections.mailfleet.fleet.plugins.module_utils.dnsbl import KINDS as ZONE_KINDS
from ansible_collections.mailfleet.fleet.plugins.module_utils.grammar import (  # noqa: F401 - re-exported
    GrammarError,
    is_int,
    is_number,
    typename,
)
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
LISTENERS_VAR = "mailfleet_smtp_listeners"
ALERTS_VAR = "mailfleet_alerts"
NAMESERVERS_VAR = "mailfleet_dns_nameservers"
ZONES_VAR = "mailfleet_dnsbl_zones"
DQS_VAR = "mailfleet_spamhaus_dqs_key"
TODAY_VAR = "mailfleet_today"
ROOT_VAR = "mailfleet_root"
IPS_VAR = "mailfleet_ips"
PMTA_GROUP = "pmta"

# Global variables validation reads (the action passes these from group_vars/all or extra vars).
GLOBAL_VARS = (TENANTS_VAR, SCHEDULES_VAR, PROVIDERS_VAR, INSTANCES_VAR, LISTENERS_VAR, ALERTS_VAR,
               NAMESERVERS_VAR, ZONES_VAR, DQS_VAR, TODAY_VAR, "mailfleet_mailwizz_sending_hours",
               "mailfleet_resume_after", "mailfleet_serial")
# Host variables validation reads.
HOST_VARS = (IPS_VAR, ROOT_VAR)

# The team's default plan (seed notes): six stages of one week each.
DEFAULT_SCHEDULE = {"stages": [50, 200, 500, 1500, 5000, 10000], "min_days": 7}

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
    "delivery_server": "MailWizz delivery-server bridge settings: {customer_id}",
}
DOMAIN_KEYS = ("name", "dkim_selector", "dkim_key_file", "dkim_retired_selectors")
RETIRED_KEYS = ("selector", "key_file")
IP_KEYS = ("address", "hostname", "tenant", "warmup_start", "vmta", "schedule", "overrides")
OVERRIDE_KEYS = ("hold", "pin_stage", "max_stage", "standby")
AUTH_KEYS = ("api_key", "public_key", "private_key")
INSTANCE_KEYS = ("url", "api_key", "public_key", "private_key", "timeout", "retries", "backoff", "db")
DB_KEYS = ("host", "port", "name", "user", "password", "table_prefix", "unix_socket")
LISTENER_KEYS = ("hostname", "port", "protocol")
LIST_KEYS = ("name", "state", "general", "defaults", "notifications", "company")
LIST_EMAIL_KEYS = ("from_email", "reply_to", "email")
ALERT_KEYS = ("telegram", "webhook")
TELEGRAM_KEYS = ("token", "chat_id", "api_base")
WEBHOOK_KEYS = ("url", "headers")
ZONE_KEYS = ("zone", "name", "kind", "critical", "codes", "strict", "dqs_zone", "nameservers", "txt")


class Unreadable:
    """A value the caller could not read (and has reported): present, not checked further."""

    __slots__ = ("why",)

    def __init__(self, why=""):
        self.why = why

    def __repr__(self):
        return "Unreadable(%r)" % self.why


class YamlKey(str):
    """A mapping key YAML read as something other than a string: ``str`` is its spelling in the
    file (``no``), ``native`` what YAML made of it (``False``)."""

    def __new__(cls, spelling, native):
        self = str.__new__(cls, spelling)
        self.native = native
        return self


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
        """Human message (one line). ``where`` is the file (and line) the caller located, if any."""
        key = grammar.printable(self.key)
        if where:
            return "%s: %s: %s" % (where, key, self.message)
        if self.host:
            return "host %s, variable %s: %s" % (grammar.printable(self.host), key, self.message)
        return "variable %s: %s" % (key, self.message)

    def as_dict(self):
        return {"host": self.host, "var": self.var, "path": self.path, "message": self.message}

    def __repr__(self):
        return "FleetError(%r)" % self.format()


def default_vmta_name(tenant, address):
    """``sos-expat-192-0-2-10`` / ``ulixai-2001-db8--10``: stable, PowerMTA-safe."""
    return "%s-%s" % (tenant, address.replace(".", "-").replace(":", "-"))


def _bad_key(key):
    """Why a mapping key cannot be a name (YAML read it as another type), or None."""
    if isinstance(key, YamlKey):
        spelling, native = str(key), key.native
    elif isinstance(key, str):
        return None
    else:
        spelling, native = str(key), key
    if native is None:
        kind = "null"
    elif isinstance(native, bool):
        kind = "the boolean %s" % str(native).lower()
    elif isinstance(native, int):
        kind = "the integer %d" % native
    elif isinstance(native, float):
        kind = "the number %s" % native
    elif isinstance(native, (datetime.date, datetime.datetime)):
        kind = "the date %s" % native.isoformat()
    else:
        kind = typename(native)
    return "key %s is read by YAML as %s, not a name; quote it (\"%s\")" % (spelling, kind, spelling)


def _key_path(key):
    return ".%s" % key


class _Checker:
    """Collects errors while walking the raw inventory."""

    def __init__(self):
        self.errors = []

    def err(self, var, path, message, host=None):
        self.errors.append(FleetError(var, path, message, host))

    def expect(self, value, kind, var, path, what, host=None):
        """Check a type; ``kind`` is dict, list, str, int, float (number) or bool. An
        :class:`Unreadable` value passes (already reported) but returns False."""
        if isinstance(value, Unreadable):
            return False
        ok = {
            dict: lambda v: isinstance(v, dict),
            list: lambda v: isinstance(v, list),
            str: lambda v: isinstance(v, str) and v != "",
            int: is_int,
            float: is_number,
            bool: lambda v: isinstance(v, bool),
        }[kind](value)
        if not ok:
            self.err(var, path, "expected %s, got %s%s" % (
                what, typename(value), "" if isinstance(value, (dict, list)) else " (%r)" % (value,)), host)
        return ok

    def grammar(self, check, value, var, path, host=None, **kwargs):
        """``check`` (a grammar function) on ``value``: the normalised value, or None (error noted)."""
        if isinstance(value, Unreadable):
            return None
        try:
            return check(value, "", **kwargs)
        except GrammarError as exc:
            self.err(var, path, exc.message, host)
            return None

    def keys(self, mapping, var, path, host=None, allowed=None):
        """Report keys YAML did not read as names and (with ``allowed``) unknown keys; returns
        the keys that are names (strings)."""
        good = []
        for key in sorted(mapping, key=str):
            problem = _bad_key(key)
            if problem:
                self.err(var, path + _key_path(key), problem, host)
                continue
            if allowed is not None and key not in allowed:
                self.err(var, path + _key_path(key),
                         "unknown key; expected one of: %s" % ", ".join(sorted(allowed)), host)
                continue
            good.append(key)
        return good

    def name(self, check, key, var, path, host=None):
        """A mapping key used as a name (tenant, schedule, instance): grammar-checked. Returns
        ``(name, valid)``; ``name`` is the spelling (for references) even when invalid."""
        problem = _bad_key(key)
        if problem:
            self.err(var, path, problem, host)
            return str(key), False
        try:
            check(key, "")
        except GrammarError as exc:
            self.err(var, path, exc.message, host)
            return key, False
        return key, True


# ---------------------------------------------------------------------------------------------
# Globals
# ---------------------------------------------------------------------------------------------
def _schedules(chk, glob):
    """``(schedules, names)``: valid schedules by name (None when invalid) -- references to an
    invalid one still resolve, so they are not reported twice."""
    schedules = {}
    raw = glob.get(SCHEDULES_VAR, {"default": DEFAULT_SCHEDULE})
    if not chk.expect(raw, dict, SCHEDULES_VAR, "", "a mapping schedule-name -> {stages, ...}"):
        return schedules, True  # reported: references to schedules cannot be judged
    for key in sorted(raw, key=str):
        name, valid = chk.name(grammar.tenant_name, key, SCHEDULES_VAR, _key_path(key))
        sched = None
        if valid:
            sched, problems = normalize_schedule(raw[key], name)
            for key_path, message in problems:
                sep = "" if not key_path or key_path.startswith("[") else "."
                chk.err(SCHEDULES_VAR, ".%s%s%s" % (name, sep, key_path), message)
        schedules[name] = sched
    return schedules, False


def _providers(chk, glob):
    providers = {}
    raw = glob.get(PROVIDERS_VAR, DEFAULT_PROVIDERS)
    if not chk.expect(raw, dict, PROVIDERS_VAR, "", "a mapping provider -> {domains, mx}"):
        raw = {}
    chk.keys(raw, PROVIDERS_VAR, "", allowed=PROVIDERS)
    for name in PROVIDERS:
        spec = raw.get(name, DEFAULT_PROVIDERS[name])
        entry = {"domains": [], "mx": []}
        path = ".%s" % name
        if chk.expect(spec, dict, PROVIDERS_VAR, path, "a mapping {domains, mx}"):
            chk.keys(spec, PROVIDERS_VAR, path, allowed=("domains", "mx"))
            for key, check in (("domains", grammar.hostname), ("mx", grammar.mx_pattern)):
                values = spec.get(key, [])
                if chk.expect(values, list, PROVIDERS_VAR, "%s.%s" % (path, key), "a list of names"):
                    for i, value in enumerate(values):
                        good = chk.grammar(check, value, PROVIDERS_VAR, "%s.%s[%d]" % (path, key, i))
                        if good is not None:
                            entry[key].append(good)
        providers[name] = entry
    return providers


def _secret(chk, raw, key, check, var, path):
    """A secret: present (a string passing ``check``, or Unreadable). Never stored in the model;
    messages never show it."""
    if key not in raw:
        return False
    value = raw[key]
    if value is None:
        chk.err(var, "%s.%s" % (path, key), "must not be empty (use an Ansible Vault value)")
        return False
    chk.grammar(check, value, var, "%s.%s" % (path, key))
    return True


def _instances(chk, glob):
    """``{name: {"url", "has_db"}}`` of ``mailfleet_mailwizz_instances`` (no secret)."""
    out = {}
    raw = glob.get(INSTANCES_VAR, {})
    if not chk.expect(raw, dict, INSTANCES_VAR, "", "a mapping instance-name -> {url, api_key, db}"):
        return out, True  # reported: references to instances cannot be judged
    for key in sorted(raw, key=str):
        name, valid = chk.name(grammar.tenant_name, key, INSTANCES_VAR, _key_path(key))
        out[name] = None
        path = _key_path(name)
        spec = raw[key]
        if not valid or not chk.expect(spec, dict, INSTANCES_VAR, path, "a mapping {url, api_key, db}"):
            continue
        chk.keys(spec, INSTANCES_VAR, path, allowed=INSTANCE_KEYS)
        if "url" not in spec:
            chk.err(INSTANCES_VAR, path + ".url", "missing: the MailWizz API URL (https://host/api)")
        url = chk.grammar(grammar.url, spec.get("url"), INSTANCES_VAR, path + ".url") if "url" in spec else None
        for key_name in AUTH_KEYS:
            _secret(chk, spec, key_name, grammar.secret, INSTANCES_VAR, path)
        if ("public_key" in spec) != ("private_key" in spec):
            chk.err(INSTANCES_VAR, path + (".private_key" if "public_key" in spec else ".public_key"),
                    "missing: MailWizz 1.x keys come in pairs (public_key and private_key)")
        # (key, what it must be, test): a timeout is any positive number of seconds (tests use 0.25)
        for key_name, expected, good in (
                ("timeout", "a number of seconds > 0 and <= 3600", lambda v: is_number(v) and 0 < v <= 3600),
                ("retries", "an integer >= 0", lambda v: is_int(v) and v >= 0),
                ("backoff", "a number of seconds >= 0 and <= 3600", lambda v: is_number(v) and 0 <= v <= 3600)):
            if key_name in spec and not good(spec[key_name]):
                chk.err(INSTANCES_VAR, "%s.%s" % (path, key_name), "expected %s, got %s (%r)" % (
                    expected, typename(spec[key_name]), spec[key_name]))
        db = spec.get("db")
        if db is not None and chk.expect(db, dict, INSTANCES_VAR, path + ".db",
                                         "a mapping {host, port, name, user, password, table_prefix}"):
            dpath = path + ".db"
            chk.keys(db, INSTANCES_VAR, dpath, allowed=DB_KEYS)
            for key_name in ("name", "user"):
                if key_name not in db:
                    chk.err(INSTANCES_VAR, "%s.%s" % (dpath, key_name), "missing: the MailWizz database %s" % (
                        "name" if key_name == "name" else "user mailfleet connects as"))
            if "host" in db:
                chk.grammar(grammar.db_host, db["host"], INSTANCES_VAR, dpath + ".host")
            if "port" in db:
                chk.grammar(grammar.port, db["port"], INSTANCES_VAR, dpath + ".port")
            if "name" in db:
                chk.grammar(grammar.db_name, db["name"], INSTANCES_VAR, dpath + ".name")
            if "user" in db:
                chk.grammar(grammar.db_user, db["user"], INSTANCES_VAR, dpath + ".user")
            if "table_prefix" in db:
                chk.grammar(grammar.sql_identifier, db["table_prefix"], INSTANCES_VAR, dpath + ".table_prefix")
            if "unix_socket" in db:
                chk.grammar(grammar.path, db["unix_socket"], INSTANCES_VAR, dpath + ".unix_socket")
            _secret(chk, db, "password", grammar.secret, INSTANCES_VAR, dpath)
        out[name] = {"url": url, "has_db": isinstance(db, dict),
                     "key": spec.get("api_key") or spec.get("public_key")}
    return out, False


def _text_leaves(chk, value, var, path, emails=()):
    """Every string below ``value`` is one line of printable text (e-mail keys: an address)."""
    if isinstance(value, dict):
        for key in chk.keys(value, var, path):
            sub = "%s.%s" % (path, key)
            if key in emails:
                if value[key] not in (None, ""):
                    chk.grammar(grammar.email, value[key], var, sub)
            else:
                _text_leaves(chk, value[key], var, sub, emails)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _text_leaves(chk, item, var, "%s[%d]" % (path, i), emails)
    elif isinstance(value, str):
        chk.grammar(grammar.text, value, var, path)


def _mailwizz_lists(chk, lists, var, path):
    if not chk.expect(lists, list, var, path, "a list of {name, state, general, defaults, ...}"):
        return
    seen = {}
    for i, entry in enumerate(lists):
        lpath = "%s[%d]" % (path, i)
        if not chk.expect(entry, dict, var, lpath, "a mapping {name, state, general, defaults, ...}"):
            continue
        chk.keys(entry, var, lpath, allowed=LIST_KEYS)
        name = entry.get("name")
        if name is None:
            chk.err(var, lpath + ".name", "missing: the list's name in MailWizz")
        elif chk.grammar(grammar.text, name, var, lpath + ".name", max_len=255) is not None:
            if name in seen:
                chk.err(var, lpath + ".name", "list %r is declared twice (also at mailwizz_lists[%d])" % (name, seen[name]))
            seen.setdefault(name, i)
        if "state" in entry and entry["state"] not in ("present", "absent"):
            chk.err(var, lpath + ".state", "expected present or absent, got %r" % (entry["state"],))
        for key in ("general", "defaults", "notifications", "company"):
            if key in entry and chk.expect(entry[key], dict, var, "%s.%s" % (lpath, key), "a mapping"):
                _text_leaves(chk, entry[key], var, "%s.%s" % (lpath, key), LIST_EMAIL_KEYS)


def _domains(chk, domains, var, path):
    """The tenant's sending domains; each entry normalised (None where invalid)."""
    out = []
    if domains is None:
        chk.err(var, path, "missing: list the tenant's sending domains with their DKIM selector and key")
        return out
    if not chk.expect(domains, list, var, path, "a list of {name, dkim_selector, dkim_key_file}"):
        return out
    if not domains:
        chk.err(var, path, "must list at least one sending domain")
    for i, dom in enumerate(domains):
        dpath = "%s[%d]" % (path, i)
        if not chk.expect(dom, dict, var, dpath, "a mapping {name, dkim_selector, dkim_key_file}"):
            continue
        chk.keys(dom, var, dpath, allowed=DOMAIN_KEYS)
        entry = {"name": None, "dkim_selector": None, "dkim_key_file": None, "dkim_retired_selectors": []}
        if dom.get("name") is None:
            chk.err(var, dpath + ".name", "missing: the sending domain")
        else:
            entry["name"] = chk.grammar(grammar.hostname, dom["name"], var, dpath + ".name")
        if dom.get("dkim_selector") is None:
            chk.err(var, dpath + ".dkim_selector", "missing: the DKIM selector PowerMTA signs with")
        else:
            entry["dkim_selector"] = chk.grammar(grammar.dkim_selector, dom["dkim_selector"], var, dpath + ".dkim_selector")
        if dom.get("dkim_key_file") is None:
            chk.err(var, dpath + ".dkim_key_file",
                    "missing: path of the DKIM private key (PEM, vaulted), relative to the inventory")
        else:
            entry["dkim_key_file"] = chk.grammar(grammar.file_ref, dom["dkim_key_file"], var, dpath + ".dkim_key_file")
        retired = dom.get("dkim_retired_selectors", [])
        rpath = dpath + ".dkim_retired_selectors"
        if chk.expect(retired, list, var, rpath, "a list of {selector, key_file}"):
            seen = {}
            for j, old in enumerate(retired):
                opath = "%s[%d]" % (rpath, j)
                if not chk.expect(old, dict, var, opath, "a mapping {selector, key_file}"):
                    continue
                chk.keys(old, var, opath, allowed=RETIRED_KEYS)
                if old.get("selector") is None:
                    chk.err(var, opath + ".selector", "missing: the retired DKIM selector")
                    selector = None
                else:
                    selector = chk.grammar(grammar.dkim_selector, old["selector"], var, opath + ".selector")
                if old.get("key_file") is None:
                    chk.err(var, opath + ".key_file", "missing: path of the retired selector's private key")
                    key_file = None
                else:
                    key_file = chk.grammar(grammar.file_ref, old["key_file"], var, opath + ".key_file")
                if selector is not None and selector == entry["dkim_selector"]:
                    chk.err(var, opath + ".selector", "selector %s is the current dkim_selector of this domain; "
                            "a retired selector must differ from it" % selector)
                    continue
                if selector is not None and selector in seen:
                    chk.err(var, opath + ".selector", "selector %s is retired twice (also at dkim_retired_selectors[%d])"
                            % (selector, seen[selector]))
                    continue
                if selector is not None:
                    seen[selector] = j
                if selector is not None and key_file is not None:
                    entry["dkim_retired_selectors"].append({"selector": selector, "key_file": key_file})
        out.append(entry)
    seen = {}
    for i, entry in enumerate(out):
        if entry["name"] and entry["name"] in seen:
            chk.err(var, "%s[%d].name" % (path, i), "domain %s is listed twice (also at domains[%d])" % (
                entry["name"], seen[entry["name"]]))
        seen.setdefault(entry["name"], i)
    return out


def _tenant(chk, name, raw, schedules, schedules_unknown, instances, instances_unknown):
    """One tenant, normalised (no secret)."""
    var, path = TENANTS_VAR, _key_path(name)
    tenant = {"name": name, "pool": "%s-pool" % name, "domains": [], "smtp_user": name, "has_smtp_password": False,
              "mailwizz": None, "schedule": "default", "from_name": None, "from_email": None}
    if not chk.expect(raw, dict, var, path, "a mapping (pool, domains, smtp_user, ...)"):
        return None
    chk.keys(raw, var, path, allowed=TENANT_KEYS)
    if "pool" in raw:
        tenant["pool"] = chk.grammar(grammar.pool_name, raw["pool"], var, path + ".pool")
    else:
        tenant["pool"] = chk.grammar(grammar.pool_name, tenant["pool"], var, path + ".pool")
    if "smtp_user" in raw:
        tenant["smtp_user"] = chk.grammar(grammar.smtp_user, raw["smtp_user"], var, path + ".smtp_user")
    else:
        tenant["smtp_user"] = chk.grammar(grammar.smtp_user, name, var, path + ".smtp_user")
    tenant["has_smtp_password"] = _secret(chk, raw, "smtp_password", grammar.pmta_password, var, path)
    if "schedule" in raw:
        sched = raw["schedule"]
        if not chk.expect(sched, str, var, path + ".schedule", "a schedule name"):
            sched = None
        elif sched not in schedules and not schedules_unknown:
            chk.err(var, path + ".schedule", "unknown warmup schedule %r; defined: %s" % (
                sched, ", ".join(sorted(schedules)) or "none"))
        tenant["schedule"] = sched if isinstance(sched, str) else None
    elif "default" not in schedules and not schedules_unknown:
        chk.err(var, path + ".schedule", "missing: no schedule named 'default' is defined; name one of: %s" % (
            ", ".join(sorted(schedules)) or "none"))
    if "mailwizz" in raw:
        inst = raw["mailwizz"]
        if not chk.expect(inst, str, var, path + ".mailwizz", "the name of a MailWizz instance"):
            pass
        elif inst not in instances and not instances_unknown:
            chk.err(var, path + ".mailwizz", "unknown MailWizz instance %r; defined in %s: %s" % (
                inst, INSTANCES_VAR, ", ".join(sorted(instances)) or "none"))
        else:
            tenant["mailwizz"] = inst
    if "mailwizz_auth" in raw:
        auth = raw["mailwizz_auth"]
        apath = path + ".mailwizz_auth"
        if chk.expect(auth, dict, var, apath, "a mapping {api_key} or {public_key, private_key}"):
            chk.keys(auth, var, apath, allowed=AUTH_KEYS)
            present = [k for k in AUTH_KEYS if _secret(chk, auth, k, grammar.secret, var, apath)]
            if not present:
                chk.err(var, apath, "expected api_key (or public_key and private_key)")
            elif ("public_key" in present) != ("private_key" in present):
                chk.err(var, apath, "MailWizz 1.x keys come in pairs (public_key and private_key)")
        if "mailwizz" not in raw:
            chk.err(var, apath, "a tenant's own MailWizz key needs the tenant's mailwizz instance")
    if "from_name" in raw:
        tenant["from_name"] = chk.grammar(grammar.text, raw["from_name"], var, path + ".from_name", max_len=100)
    if "from_email" in raw:
        tenant["from_email"] = chk.grammar(grammar.email, raw["from_email"], var, path + ".from_email")
    if "description" in raw:
        chk.grammar(grammar.text, raw["description"], var, path + ".description")
    if "mailwizz_lists" in raw:
        _mailwizz_lists(chk, raw["mailwizz_lists"], var, path + ".mailwizz_lists")
    if "delivery_server" in raw:
        dpath = path + ".delivery_server"
        settings = raw["delivery_server"]
        if chk.expect(settings, dict, var, dpath, "a mapping {customer_id}"):
            chk.keys(settings, var, dpath, allowed=("customer_id",))
            if "customer_id" in settings:
                chk.grammar(grammar.count, settings["customer_id"], var, dpath + ".customer_id", minimum=1)
            if "mailwizz" not in raw:
                chk.err(var, dpath, "delivery-server settings need the tenant's mailwizz instance")
    tenant["domains"] = _domains(chk, raw.get("domains"), var, path + ".domains")
    return tenant


def _key_isolation(chk, raw_tenants, tenants, instances):
    """mailwizz_api.shared_mailwizz_keys over the validated tenants: one error per tenant that
    shares another's key."""
    keys, where = {}, {}
    for name in sorted(tenants):
        inst = instances.get(tenants[name]["mailwizz"]) if tenants[name]["mailwizz"] else None
        if not inst or not inst.get("url"):
            continue
        auth = raw_tenants.get(name, {}).get("mailwizz_auth") if isinstance(raw_tenants.get(name), dict) else None
        key = (auth.get("api_key") or auth.get("public_key")) if isinstance(auth, dict) else inst.get("key")
        if not isinstance(key, str) or not key:
            continue  # missing or unreadable: reported where it is written
        keys[name] = (inst["url"], key)
        where[name] = "mailwizz_auth" if isinstance(auth, dict) else "mailwizz"
    for name, url, first in mailwizz_api.shared_mailwizz_keys(keys):
        chk.err(TENANTS_VAR, ".%s.%s" % (name, where[name]),
                "tenant %s authenticates to %s with the same MailWizz key as tenant %s; each tenant needs "
                "its own customer key (mailwizz_auth)" % (name, url, first))


def _listeners(chk, raw, pmta_hosts):
    out = {}
    if raw is None:
        return out
    if not chk.expect(raw, dict, LISTENERS_VAR, "", "a mapping pmta-host -> {hostname, port}"):
        return out
    for host in chk.keys(raw, LISTENERS_VAR, ""):
        path = _key_path(host)
        if host not in pmta_hosts:
            chk.err(LISTENERS_VAR, path, "host %s is not in the '%s' group; known: %s" % (
                host, PMTA_GROUP, ", ".join(sorted(pmta_hosts)) or "none"))
            continue
        spec = raw[host]
        if not chk.expect(spec, dict, LISTENERS_VAR, path, "a mapping {hostname, port, protocol}"):
            continue
        chk.keys(spec, LISTENERS_VAR, path, allowed=LISTENER_KEYS)
        entry = {}
        if "hostname" not in spec:
            chk.err(LISTENERS_VAR, path + ".hostname", "missing: the name MailWizz connects to")
        else:
            value = spec["hostname"]
            entry["hostname"] = chk.grammar(grammar.host_or_ip, value, LISTENERS_VAR, path + ".hostname")
        if "port" in spec:
            entry["port"] = chk.grammar(grammar.port, spec["port"], LISTENERS_VAR, path + ".port")
        if "protocol" in spec and spec["protocol"] is not None and spec["protocol"] not in LISTENER_PROTOCOLS:
            chk.err(LISTENERS_VAR, path + ".protocol", "expected tls, ssl, starttls or empty, got %r" % (spec["protocol"],))
        out[host] = entry
    return out


def _alerts(chk, raw):
    if raw is None:
        return
    if not chk.expect(raw, dict, ALERTS_VAR, "", "a mapping {telegram, webhook}"):
        return
    chk.keys(raw, ALERTS_VAR, "", allowed=ALERT_KEYS)
    tg = raw.get("telegram")
    if tg is not None and chk.expect(tg, dict, ALERTS_VAR, ".telegram", "a mapping {token, chat_id}"):
        chk.keys(tg, ALERTS_VAR, ".telegram", allowed=TELEGRAM_KEYS)
        if not _secret(chk, tg, "token", grammar.telegram_token, ALERTS_VAR, ".telegram"):
            if "token" not in tg:
                chk.err(ALERTS_VAR, ".telegram.token", "missing: the bot token (vaulted)")
        if "chat_id" not in tg:
            chk.err(ALERTS_VAR, ".telegram.chat_id", "missing: the chat to alert")
        else:
            chk.grammar(grammar.chat_id, tg["chat_id"], ALERTS_VAR, ".telegram.chat_id")
        if "api_base" in tg:
            chk.grammar(grammar.url, tg["api_base"], ALERTS_VAR, ".telegram.api_base")
    hook = raw.get("webhook")
    if hook is not None and chk.expect(hook, dict, ALERTS_VAR, ".webhook", "a mapping {url, headers}"):
        chk.keys(hook, ALERTS_VAR, ".webhook", allowed=WEBHOOK_KEYS)
        if "url" not in hook:
            chk.err(ALERTS_VAR, ".webhook.url", "missing: the URL alerts are POSTed to")
        else:
            chk.grammar(grammar.url, hook["url"], ALERTS_VAR, ".webhook.url")
        headers = hook.get("headers", {})
        if chk.expect(headers, dict, ALERTS_VAR, ".webhook.headers", "a mapping header -> value"):
            for name in chk.keys(headers, ALERTS_VAR, ".webhook.headers"):
                chk.grammar(grammar.http_header_name, name, ALERTS_VAR, ".webhook.headers.%s" % name)
                _secret(chk, headers, name, grammar.secret, ALERTS_VAR, ".webhook.headers")


def _nameservers(chk, raw, var, path):
    if chk.expect(raw, list, var, path, "a list of resolver addresses (IP, IP:PORT or [IPv6]:PORT)"):
        for i, value in enumerate(raw):
            chk.grammar(grammar.nameserver, value, var, "%s[%d]" % (path, i))


def _zones(chk, raw):
    if raw is None:
        return
    if isinstance(raw, dict):
        entries = []
        for key in chk.keys(raw, ZONES_VAR, ""):
            spec = raw[key]
            if spec is None:
                spec = {}
            if chk.expect(spec, dict, ZONES_VAR, _key_path(key), "a mapping of zone settings"):
                entries.append((_key_path(key), dict(spec, zone=key), _key_path(key)))
    elif chk.expect(raw, list, ZONES_VAR, "", "a list of zones (names or {zone, ...})"):
        entries = [("[%d]" % i, {"zone": z} if isinstance(z, str) else z, "[%d]" % i if isinstance(z, str)
                    else "[%d].zone" % i) for i, z in enumerate(raw)]
    else:
        return
    seen = {}
    for path, spec, zpath in entries:
        if not chk.expect(spec, dict, ZONES_VAR, path, "a zone name or a mapping {zone, name, critical, ...}"):
            continue
        chk.keys(spec, ZONES_VAR, path, allowed=ZONE_KEYS)
        if spec.get("zone") is None:
            chk.err(ZONES_VAR, zpath, "missing: the zone name")
            continue
        zone = chk.grammar(grammar.hostname, spec["zone"], ZONES_VAR, zpath)
        if zone is not None:
            if zone in seen:
                chk.err(ZONES_VAR, zpath, "zone %s is listed twice (also at %s%s)" % (zone, ZONES_VAR, seen[zone]))
            seen.setdefault(zone, path)
        if "dqs_zone" in spec:
            chk.grammar(grammar.hostname, spec["dqs_zone"], ZONES_VAR, path + ".dqs_zone")
        if "name" in spec:
            chk.grammar(grammar.text, spec["name"], ZONES_VAR, path + ".name", max_len=100)
        if "kind" in spec and spec["kind"] not in ZONE_KINDS:
            chk.err(ZONES_VAR, path + ".kind", "expected one of %s, got %r" % (", ".join(ZONE_KINDS), spec["kind"]))
        for key in ("critical", "strict", "txt"):
            if key in spec:
                chk.expect(spec[key], bool, ZONES_VAR, "%s.%s" % (path, key), "true or false")
        if "nameservers" in spec:
            _nameservers(chk, spec["nameservers"], ZONES_VAR, path + ".nameservers")
        if "codes" in spec and chk.expect(spec["codes"], dict, ZONES_VAR, path + ".codes", "a mapping answer -> meaning"):
            for code in chk.keys(spec["codes"], ZONES_VAR, path + ".codes"):
                cpath = "%s.codes.%s" % (path, code)
                chk.grammar(grammar.ip_address, code, ZONES_VAR, cpath, sending=False)
                chk.grammar(grammar.text, spec["codes"][code], ZONES_VAR, cpath, max_len=200)


def _small_ints(chk, glob):
    for var, low, high, what in (("mailfleet_mailwizz_sending_hours", 1, 24, "hours a day MailWizz sends"),
                                 ("mailfleet_resume_after", 1, 100, "clean checks before an IP resumes"),
                                 ("mailfleet_serial", 1, 10000, "hosts deployed at a time, or a percentage")):
        if var in glob and glob[var] is not None and not isinstance(glob[var], Unreadable):
            value = glob[var]
            if var == "mailfleet_serial" and isinstance(value, str) and value.endswith("%") and \
                    value[:-1].isdigit() and 1 <= int(value[:-1]) <= 100:
                continue
            if isinstance(value, str) and value.isdigit() and value == str(int(value)):
                value = int(value)  # Ansible templating gives strings for integers written as templates
            if not (is_int(value) and low <= value <= high):
                chk.err(var, "", "expected an integer from %d to %d (%s), got %s (%r)" % (
                    low, high, what, typename(value), glob[var]))


# ---------------------------------------------------------------------------------------------
# Hosts
# ---------------------------------------------------------------------------------------------
def _norm_overrides(chk, raw, var, path, host, nstages):
    out = {}
    if not chk.expect(raw, dict, var, path, "a mapping {hold, pin_stage, max_stage, standby}", host):
        return out
    chk.keys(raw, var, path, host, allowed=OVERRIDE_KEYS)
    for key in ("hold", "standby"):
        if key in raw and chk.expect(raw[key], bool, var, "%s.%s" % (path, key), "true or false", host):
            out[key] = raw[key]
    for key in ("pin_stage", "max_stage"):
        if key in raw and nstages is not None:  # without a valid schedule, stages cannot be judged
            value = raw[key]
            if not (is_int(value) and 1 <= value <= nstages + 1):
                chk.err(var, "%s.%s" % (path, key), "expected a stage number from 1 to %d (%d = warm), got %r" % (
                    nstages + 1, nstages + 1, value), host)
            else:
                out[key] = value
    return out


class _Fleet:
    """State shared while walking the hosts: what was declared where."""

    def __init__(self, tenants, tenants_unknown, bad_tenants, schedules, schedules_unknown):
        self.tenants = tenants
        self.tenants_unknown = tenants_unknown  # the variable itself is wrong: references not judged
        self.bad_tenants = bad_tenants          # names declared but invalid: references resolve
        self.schedules = schedules
        self.schedules_unknown = schedules_unknown
        self.ips = {}
        self.first_seen = {}
        self.vmta_owner = {}
        self.declared_tenants = set()
        self.hosts_unknown = False  # some host's variables could not be read: IPs may be missing


def _ip(chk, fleet, host, i, raw):
    """One entry of ``mailfleet_ips``; returns the model entry or None."""
    path = "[%d]" % i
    if not chk.expect(raw, dict, IPS_VAR, path, "a mapping {address, hostname, tenant, warmup_start}", host):
        return None
    chk.keys(raw, IPS_VAR, path, host, allowed=IP_KEYS)
    addr = None
    if "address" not in raw:
        chk.err(IPS_VAR, path + ".address", "missing: the IP address", host)
    else:
        addr = chk.grammar(grammar.ip_address, raw["address"], IPS_VAR, path + ".address", host)
    hostname = None
    if raw.get("hostname") is None:
        chk.err(IPS_VAR, path + ".hostname", "missing: the PTR/HELO host name of this IP", host)
    else:
        hostname = chk.grammar(grammar.hostname, raw["hostname"], IPS_VAR, path + ".hostname", host)
    tenant, tenant_ok = raw.get("tenant"), False
    if tenant is None:
        chk.err(IPS_VAR, path + ".tenant", "missing: the tenant this IP sends for", host)
    elif isinstance(tenant, str) and tenant in fleet.bad_tenants:
        tenant = None  # the tenant itself is reported
    elif isinstance(tenant, bool):
        chk.err(IPS_VAR, path + ".tenant", "YAML reads this value as the boolean %s, not a tenant name; quote it" % (
            str(tenant).lower()), host)
        tenant = None
    elif not chk.expect(tenant, str, IPS_VAR, path + ".tenant", "a tenant name", host):
        tenant = None
    elif fleet.tenants_unknown:
        tenant = None
    elif tenant not in fleet.tenants:
        chk.err(IPS_VAR, path + ".tenant", "unknown tenant %r; defined in %s: %s" % (
            tenant, TENANTS_VAR, ", ".join(sorted(fleet.tenants)) or "none"), host)
        tenant = None
    else:
        tenant_ok = True
        fleet.declared_tenants.add(tenant)
    start_date = None
    if raw.get("warmup_start") is None:
        chk.err(IPS_VAR, path + ".warmup_start", "missing: the first day this IP may send (YYYY-MM-DD)", host)
    else:
        start_date = chk.grammar(grammar.date, raw["warmup_start"], IPS_VAR, path + ".warmup_start", host)
    schedule = fleet.tenants[tenant]["schedule"] if tenant_ok else None
    if "schedule" in raw:
        schedule = raw["schedule"]
        if not chk.expect(schedule, str, IPS_VAR, path + ".schedule", "a schedule name", host):
            schedule = None
        elif schedule not in fleet.schedules and not fleet.schedules_unknown:
            chk.err(IPS_VAR, path + ".schedule", "unknown warmup schedule %r; defined: %s" % (
                schedule, ", ".join(sorted(fleet.schedules)) or "none"), host)
            schedule = None
    nstages = len(fleet.schedules[schedule]["stages"]) if fleet.schedules.get(schedule) else None
    overrides = _norm_overrides(chk, raw.get("overrides", {}), IPS_VAR, path + ".overrides", host, nstages)
    vmta = None
    if raw.get("vmta") is not None:
        vmta = chk.grammar(grammar.vmta_name, raw["vmta"], IPS_VAR, path + ".vmta", host)
    elif addr is not None and tenant_ok:
        vmta = chk.grammar(grammar.vmta_name, default_vmta_name(tenant, addr), IPS_VAR, path + ".vmta", host)
    if addr is None:
        return None
    if addr in fleet.first_seen:
        other_host, other_path, other_tenant = fleet.first_seen[addr]
        where = "on this host" if other_host == host else "on host %s" % other_host
        if tenant and other_tenant and tenant != other_tenant:
            chk.err(IPS_VAR, path + ".address", "IP %s is in two tenants: %s here and %s at %s%s %s" % (
                addr, tenant, other_tenant, IPS_VAR, other_path, where), host)
        else:
            chk.err(IPS_VAR, path + ".address", "IP %s is declared twice (also at %s%s %s)" % (
                addr, IPS_VAR, other_path, where), host)
        return None
    fleet.first_seen[addr] = (host, path, tenant)
    if vmta is not None:
        if vmta in fleet.vmta_owner:
            ohost, opath = fleet.vmta_owner[vmta]
            chk.err(IPS_VAR, path + ".vmta", "duplicate VirtualMTA name %r (also at %s%s on host %s)" % (
                vmta, IPS_VAR, opath, ohost), host)
        fleet.vmta_owner[vmta] = (host, path)
    if not (tenant_ok and hostname and start_date and fleet.schedules.get(schedule) and vmta
            and fleet.tenants[tenant]["pool"]):
        return None
    entry = {
        "address": addr,
        "version": ipaddress.ip_address(addr).version,
        "hostname": hostname,
        "tenant": tenant,
        "vmta": vmta,
        "pool": fleet.tenants[tenant]["pool"],
        "warmup_start": start_date.isoformat(),
        "schedule": schedule,
        "overrides": overrides,
        "host": host,
    }
    fleet.ips[addr] = entry
    return entry


def _hosts(chk, fleet, hosts):
    model_hosts = {}
    for host in sorted(hosts):
        if isinstance(hosts[host], Unreadable):
            fleet.hosts_unknown = True
            continue
        hinfo = hosts[host] or {}
        hvars = hinfo.get("vars") or {}
        groups = hinfo.get("groups") or []
        if PMTA_GROUP in groups:
            try:
                grammar.inventory_host(host, "")
            except GrammarError as exc:
                chk.err("inventory_hostname", "", exc.message, host)
                continue
        if PMTA_GROUP in groups and ROOT_VAR in hvars and hvars[ROOT_VAR] is not None:
            chk.grammar(grammar.root, hvars[ROOT_VAR], ROOT_VAR, "", host)
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
            entry = _ip(chk, fleet, host, i, raw)
            if entry is not None:
                host_ips.append(entry)
    for host in model_hosts:
        model_hosts[host]["ips"].sort(key=lambda ip: (ip["tenant"], ip["version"], ipaddress.ip_address(ip["address"])))
    return model_hosts


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------
def build_model(inventory):
    """Validate the raw inventory and return ``(model, errors)``; see the module docstring."""
    chk = _Checker()
    glob = inventory.get("globals") or {}
    hosts = inventory.get("hosts") or {}
    pmta_hosts = sorted(h for h, info in hosts.items()
                        if isinstance(info, Unreadable) or PMTA_GROUP in ((info or {}).get("groups") or []))

    if TODAY_VAR in glob and glob[TODAY_VAR] not in (None, ""):
        chk.grammar(grammar.date, glob[TODAY_VAR], TODAY_VAR, "")
    schedules, schedules_unknown = _schedules(chk, glob)
    instances, instances_unknown = _instances(chk, glob)
    providers = _providers(chk, glob)

    tenants, bad_tenants, tenants_unknown = {}, set(), True
    raw_tenants = glob.get(TENANTS_VAR)
    if raw_tenants is None:
        chk.err(TENANTS_VAR, "", "missing: define the tenants in group_vars/all")
    elif chk.expect(raw_tenants, dict, TENANTS_VAR, "", "a mapping tenant-name -> {pool, domains, ...}"):
        tenants_unknown = False
        for key in sorted(raw_tenants, key=str):
            name, valid = chk.name(grammar.tenant_name, key, TENANTS_VAR, _key_path(key))
            tenant = _tenant(chk, name, raw_tenants[key], schedules, schedules_unknown, instances,
                             instances_unknown) if valid else None
            if tenant is None or not tenant["pool"] or not tenant["smtp_user"]:
                bad_tenants.add(name)
                continue
            tenants[name] = tenant

    fleet = _Fleet(tenants, tenants_unknown, bad_tenants, schedules, schedules_unknown)
    model_hosts = _hosts(chk, fleet, hosts)
    _listeners(chk, glob.get(LISTENERS_VAR), pmta_hosts)
    _alerts(chk, glob.get(ALERTS_VAR))
    if glob.get(NAMESERVERS_VAR) is not None:
        _nameservers(chk, glob[NAMESERVERS_VAR], NAMESERVERS_VAR, "")
    _zones(chk, glob.get(ZONES_VAR))
    if glob.get(DQS_VAR) not in (None, ""):
        chk.grammar(grammar.dns_label, glob[DQS_VAR], DQS_VAR, "")
    _small_ints(chk, glob)

    # Cross-checks over the whole fleet.
    pools = {}
    for name, tenant in sorted(tenants.items()):
        if tenant["pool"] in pools:
            chk.err(TENANTS_VAR, ".%s.pool" % name, "pool %r is also the pool of tenant %s; each tenant needs its own pool" % (
                tenant["pool"], pools[tenant["pool"]]))
        pools.setdefault(tenant["pool"], name)
        if tenant["pool"] in fleet.vmta_owner:
            ohost, opath = fleet.vmta_owner[tenant["pool"]]
            chk.err(TENANTS_VAR, ".%s.pool" % name, "pool %r has the same name as the VirtualMTA at %s%s on host %s" % (
                tenant["pool"], IPS_VAR, opath, ohost))
        if name not in fleet.declared_tenants and not fleet.hosts_unknown:
            chk.err(TENANTS_VAR, ".%s" % name, "tenant %s has no sending IP; add one to some host's %s" % (name, IPS_VAR))
    users = {}
    for name, tenant in sorted(tenants.items()):
        if tenant["smtp_user"] in users:
            chk.err(TENANTS_VAR, ".%s.smtp_user" % name, "SMTP user %r is also used by tenant %s" % (
                tenant["smtp_user"], users[tenant["smtp_user"]]))
        users.setdefault(tenant["smtp_user"], name)
    _key_isolation(chk, raw_tenants if not tenants_unknown else {}, tenants, instances)
    domain_owner = {}
    for name, tenant in sorted(tenants.items()):
        for i, dom in enumerate(tenant["domains"]):
            if dom["name"] is None:
                continue
            if dom["name"] in domain_owner and domain_owner[dom["name"]] != name:
                chk.err(TENANTS_VAR, ".%s.domains[%d].name" % (name, i), "domain %s also belongs to tenant %s" % (
                    dom["name"], domain_owner[dom["name"]]))
            domain_owner.setdefault(dom["name"], name)

    model = {
        "tenants": tenants,
        "schedules": schedules,
        "providers": providers,
        "hosts": model_hosts,
        "ips": dict(sorted(fleet.ips.items())),
    }
    return model, chk.errors


# ---------------------------------------------------------------------------------------------
# DKIM key files
# ---------------------------------------------------------------------------------------------
class KeyFileError(Exception):
    """Raised by the caller's ``read`` callback: the file cannot be read (the message says why,
    naming the file, e.g. missing, or vault-encrypted with a wrong password)."""


MIN_KEY_BITS = 1024
RECOMMENDED_KEY_BITS = 2048


def key_problem(data):
    """Why ``data`` (the bytes of a DKIM key file, decrypted) is not a private key PowerMTA can
    sign with, or None. RSA, PEM, unencrypted, at least 1024 bits."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519

    text = data.decode("ascii", "replace") if isinstance(data, bytes) else str(data)
    if "-----BEGIN" not in text:
        return "is not a PEM private key (no -----BEGIN line)"
    if "-----BEGIN CERTIFICATE-----" in text and "PRIVATE KEY-----" not in text:
        return "holds an X.509 certificate, not a private key"
    if "PUBLIC KEY-----" in text and "PRIVATE KEY-----" not in text:
        return "holds a public key; PowerMTA signs with the private key"
    if "-----BEGIN ENCRYPTED PRIVATE KEY-----" in text or "Proc-Type: 4,ENCRYPTED" in text:
        return "is a passphrase-protected key, which PowerMTA cannot read; protect it with ansible-vault instead"
    try:
        key = serialization.load_pem_private_key(data if isinstance(data, bytes) else data.encode("ascii", "replace"),
                                                 password=None)
    except Exception:  # noqa: BLE001 - ValueError, TypeError, UnsupportedAlgorithm: all say the same
        return "is not a valid PEM private key (its PEM block cannot be decoded as one)"
    if not isinstance(key, rsa.RSAPrivateKey):
        kinds = ((ec.EllipticCurvePrivateKey, "an EC (ECDSA)"), (ed25519.Ed25519PrivateKey, "an Ed25519"),
                 (ed448.Ed448PrivateKey, "an Ed448"), (dsa.DSAPrivateKey, "a DSA"),
                 (x25519.X25519PrivateKey, "an X25519"), (x448.X448PrivateKey, "an X448"))
        kind = next((name for cls, name in kinds if isinstance(key, cls)), "a non-RSA")
        return "holds %s private key; PowerMTA's DKIM signs with RSA keys" % kind
    if key.key_size < MIN_KEY_BITS:
        return "is a %d-bit RSA key; DKIM needs at least %d bits (%d recommended)" % (
            key.key_size, MIN_KEY_BITS, RECOMMENDED_KEY_BITS)
    return None


def check_key_files(model, read):
    """Every DKIM key file of the model (current and retired selectors) must be an RSA private
    key. ``read(ref)`` returns the file's bytes (decrypted) or raises :class:`KeyFileError`.
    Returns a list of :class:`FleetError`; each file is read once."""
    errors, verdicts = [], {}
    for name, tenant in sorted(model["tenants"].items()):
        for i, dom in enumerate(tenant["domains"]):
            entries = [("dkim_key_file", dom["dkim_key_file"])]
            entries += [("dkim_retired_selectors[%d].key_file" % j, old["key_file"])
                        for j, old in enumerate(dom.get("dkim_retired_selectors", []))]
            for key, ref in entries:
                if not ref:
                    continue
                if ref not in verdicts:
                    try:
                        problem = key_problem(read(ref))
                        verdicts[ref] = None if problem is None else "DKIM key file %s %s" % (ref, problem)
                    except KeyFileError as exc:
                        verdicts[ref] = str(exc)
                if verdicts[ref]:
                    errors.append(FleetError(TENANTS_VAR, ".%s.domains[%d].%s" % (name, i, key), verdicts[ref]))
    return errors
