# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The decisions behind one PowerMTA host's configuration, and the proof that a text holds them.

Standard library only, no Ansible objects (the ``pmta_config`` module imports :func:`mask_secrets`
on PowerMTA hosts). The configuration is made in three steps, on the controller
(``plugins/plugin_utils/pmta_template.py`` runs them, ``plugins/action/pmta_config.py`` calls it):

1. :func:`host_view` decides: which blocks, which directives, which values, for one host, from
   the fleet model, today's caps, the role's settings and the SMTP passwords (a separate input:
   the model carries no secret of its own). Every value is a :class:`Field` -- its grammar class,
   the value, and the variable it comes from -- so that whatever refuses it can name the culprit.
2. the Jinja2 template (``roles/pmta_config/templates/config.j2``) writes the text through typed
   filters, each of which passes its Field through :func:`format_value` (the one grammar,
   ``grammar.py``).
3. :func:`parse_back` reads the text with mailfleet's one PowerMTA parser (``pmta_check.parse``)
   and proves it holds exactly :func:`expected_tree` of the view: the same blocks, directives
   and values in the same order, nothing more, nothing less; and that no ``<source>`` relays
   unless the view says so. The template and :func:`expected_tree` describe the same layout
   twice on purpose: a template edit that adds, drops or moves a directive fails the check until
   both agree, and a value that smuggles a directive past a filter fails it too.

Output is deterministic: the same model, caps and settings give byte-identical text.

In-day backoff (PowerMTA guide §3.3.15 ``<smtp-pattern-list>``, §3.3.10.34-45): for Gmail,
Microsoft and Yahoo, one global ``<smtp-pattern-list mailfleet-backoff-PROVIDER>`` holds a
``reply /REGEX/ mode=backoff`` rule per row of ``replies.patterns(provider, ["rate_limited",
"reputation"])`` -- the very rows the ledger classifies replies with -- and each VirtualMTA's
``<domain PROVIDER.rollup>`` names it, with ``backoff-max-msg-rate`` from that provider's cap today
(``capacity.backoff_rate``: the day's cap spread over 24 hours), ``backoff-retry-after`` and
``backoff-to-normal-after`` (``pmta_config_backoff``). On the first throttling or reputation reply
of that provider the queue of that IP slows down within minutes; it returns to normal mode after
``to_normal_after`` and goes straight back into backoff on the next such reply -- normal mode
is restored once the replies stop. ``backoff-to-normal-after-delivery`` is not used: a throttled
IP still delivers some mail, and one delivery would end the backoff at once. "other" has no
rules: it is many domains, each its own queue, with no mailfleet cap to derive a rate from.
PowerMTA takes the first matching rule; rows of other classes that come earlier in the table
(e.g. Gmail's "same Message-ID" 4.7.28) are not rendered, so such a reply slows the queue too:
the rules err on the side of backing off.

Accounting (``<acct-file>``): records ``d,b,t,tq,f,rb`` (queue-wide ``tq`` deferrals are where
Gmail's, Yahoo's and Microsoft's connection-level throttling replies land); rotation by
``max-size`` (a new file in place, guide §3.3.11.4) and ``delete-after``. No ``move-interval``:
without ``move-to`` PowerMTA ignores it (guide §3.3.11.2), and mailfleet's ledger reads the
accounting directory itself. No ``add-x-virtual-mta-header``: it would put the VirtualMTA's name
(tenant and IP) into every message, and a tenant's own ``X-Virtual-MTA`` header is kept by
PowerMTA ("if no such header is already present", §3.3.7.50), so a tenant could have another
tenant's IP blamed for its remote bounces; remote (``rb``) bounces therefore stay unattributed
(ledger IP ``-``) and count in no IP's rates.

What mailfleet owns: the whole of ``/etc/pmta/config``. The operator's hand-written additions go
in the file named by ``paths.local_include`` (``/etc/pmta/local.conf``), which the config includes
last and which mailfleet creates empty once and never touches again.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib

from ansible_collections.mailfleet.fleet.plugins.module_utils import capacity, grammar, replies
from ansible_collections.mailfleet.fleet.plugins.module_utils.grammar import GrammarError
from ansible_collections.mailfleet.fleet.plugins.module_utils.pmta_check import ConfigChecker, Node, parse
from ansible_collections.mailfleet.fleet.plugins.module_utils.providers import PROVIDERS

DEFAULT_SETTINGS = {
    "paths": {
        "dkim_dir": "/etc/pmta/dkim",
        "local_include": "/etc/pmta/local.conf",
        "acct_file": "/var/log/pmta/acct.csv",
        "log_file": "/var/log/pmta/log",
        "spool": "/var/spool/pmta",
    },
    "postmaster": None,
    "smtp_listeners": ["0.0.0.0:25"],
    "http_mgmt_port": 8080,
    "http_access": [{"source": "127.0.0.1", "level": "admin"}],
    "relay_sources": [],
    "domain_defaults": {
        "dkim-sign": "yes",
        "use-starttls": "yes",
        "require-starttls": "no",
        "retry-after": "10m",
        "bounce-after": "4d12h",
        "max-smtp-out": 20,
        "max-msg-per-connection": 100,
    },
    "acct": {"records": "d,b,t,tq,f,rb", "max_size": "50M", "delete_after": "8d"},
    # PowerMTA's backoff mode on a provider's throttling replies (see the module docstring)
    "backoff": {"retry_after": "30m", "to_normal_after": "2h"},
}

# The variable each setting comes from (role pmta_config, vars/main.yml): what messages name.
SETTING_VARS = {
    "paths": "_pmta_config_settings.paths",
    "paths.dkim_dir": "pmta_config_dkim_dir",
    "paths.local_include": "pmta_config_local_include",
    "paths.acct_file": "pmta_config_acct_file",
    "paths.log_file": "pmta_config_log_file",
    "paths.spool": "pmta_config_spool_dir",
    "postmaster": "pmta_config_postmaster",
    "smtp_listeners": "pmta_config_smtp_listeners",
    "http_mgmt_port": "pmta_config_http_mgmt_port",
    "http_access": "pmta_config_http_access",
    "relay_sources": "pmta_config_relay_sources",
    "domain_defaults": "pmta_config_domain_defaults",
    "acct": "pmta_config_acct",
    "backoff": "pmta_config_backoff",
}
SETTINGS_VAR = "_pmta_config_settings"
CAPS_VAR = "pmta_config_caps"
HOST_WHAT = "inventory host name"
ACCT_KEYS = (("max_size", "size"), ("delete_after", "interval"))
# Providers whose queues get backoff rules (each a <domain NAME.rollup> of every VirtualMTA).
BACKOFF_PROVIDERS = tuple(p for p in PROVIDERS if p != "other")
BACKOFF_CLASSES = ("rate_limited", "reputation")
BACKOFF_ACTION = "mode=backoff"
PATTERN_LIST_PREFIX = "mailfleet-backoff-"
# The grammar of the <domain *> directives mailfleet knows; any other one must be one plain word.
DOMAIN_DEFAULT_KINDS = {
    "dkim-sign": "boolean", "use-starttls": "boolean", "require-starttls": "boolean", "use-dane": "boolean",
    "disable-mx-rollup": "boolean", "retry-after": "interval", "bounce-after": "interval",
    "backoff-retry-after": "interval", "backoff-to-normal-after": "interval", "connect-timeout": "interval",
    "max-smtp-out": "int", "max-msg-per-connection": "int", "max-rcpt-per-message": "int",
    "max-errors-per-connection": "int", "max-msg-rate": "rate", "backoff-max-msg-rate": "rate",
}
HEADER = "# Managed by mailfleet. Do not edit: every deploy replaces this file.\n"
SOURCE_PREFIX = "mailfleet-"

# kind -> the grammar function that checks and formats it (the filters and expected_tree use it)
_FORMATS = {
    "hostname": grammar.hostname,
    "address": grammar.ip_address,
    "cidr": grammar.cidr,
    "listener": grammar.listener,
    "path": grammar.path,
    "rate": grammar.rate,
    "interval": grammar.interval,
    "size": grammar.size,
    "boolean": grammar.boolean,
    "token": grammar.token,
    "keyword": grammar.keyword,
    "password": grammar.pmta_password,
    "name": grammar.vmta_name,
    "tenant": grammar.tenant_name,
    "selector": grammar.dkim_selector,
    "smtp_user": grammar.smtp_user,
    "comment": grammar.text,
    "email": grammar.email,
    "port": grammar.port,
    "int": grammar.count,
    "access_level": grammar.http_access_level,
    "mx": grammar.mx_pattern,
    "reply": grammar.reply_regex,
}
KINDS = frozenset(_FORMATS)


class Field:
    """One value of the host view: its grammar class (``kind``), the ``value`` as the inventory,
    the role or the planner gave it, and ``what`` -- the variable or key it comes from."""

    __slots__ = ("kind", "value", "what", "_text")

    def __init__(self, kind, value, what):
        if kind not in _FORMATS:
            raise ValueError("unknown field kind %r" % kind)
        self.kind, self.value, self.what = kind, value, what
        self._text = None

    def __repr__(self):
        return "Field(%s, %s)" % (self.kind, self.what)  # never the value: it may be a password


def format_value(field):
    """The field's value as PowerMTA reads it (unquoted), or :class:`GrammarError` naming ``what``.

    Whatever its grammar class allows elsewhere (an e-mail address may hold a '#'), a value in
    the configuration holds none of '#' (a comment starts there, quoted or not), '<', '>' or '"';
    only a comment may."""
    if field._text is None:
        text = str(_FORMATS[field.kind](field.value, field.what))
        if field.kind != "comment":
            for ch in grammar.PMTA_VALUE_FORBIDDEN + '"':
                if ch in text:
                    raise GrammarError(field.what, "contains %r, which a PowerMTA configuration value cannot hold%s" % (
                        ch, " ('#' starts a comment, even inside quotes)" if ch == "#" else ""))
        field._text = text
    return field._text


def quote(text):
    """A formatted value as one PowerMTA word: double quotes around a value with spaces."""
    return '"%s"' % text if " " in text else text


# ---------------------------------------------------------------------------------------------
# Settings and DKIM keys
# ---------------------------------------------------------------------------------------------
def merged_settings(settings):
    """DEFAULT_SETTINGS overlaid with ``settings`` (one level deep for the mapping values).

    Unknown keys are refused (a misspelt setting must not be silently ignored)."""
    settings = {} if settings is None else settings
    if not isinstance(settings, dict):
        raise GrammarError(SETTINGS_VAR, "expected a mapping, got %s" % grammar.typename(settings))
    for key in sorted(settings, key=str):
        if key not in DEFAULT_SETTINGS:
            raise GrammarError("%s.%s" % (SETTINGS_VAR, _key(key)), "unknown setting; expected one of %s" % (
                ", ".join(sorted(DEFAULT_SETTINGS))))
    out = {}
    for key, default in DEFAULT_SETTINGS.items():
        value = settings.get(key, default)
        if isinstance(default, dict):
            if not isinstance(value, dict):
                raise GrammarError(SETTING_VARS[key], "expected a mapping, got %s" % grammar.typename(value))
            for sub in sorted(value, key=str):
                if key == "acct" and sub == "move_interval":
                    raise GrammarError("%s.move_interval" % SETTING_VARS[key], (
                        "PowerMTA ignores move-interval without move-to (guide 3.3.11.2) and mailfleet's ledger "
                        "reads the accounting directory itself: rotation is max_size (a new file in place) and "
                        "delete_after"))
                if key != "domain_defaults" and sub not in default:
                    raise GrammarError("%s.%s" % (SETTING_VARS[key], _key(sub)), "unknown key; expected one of %s" % (
                        ", ".join(sorted(default))))
            merged = dict(default)
            merged.update(value)
            value = merged
        out[key] = value
    return out


def dkim_key_path(dkim_dir, domain, selector):
    """Where a tenant domain's DKIM key lives on the PowerMTA host."""
    return "%s/%s.%s.pem" % (dkim_dir.rstrip("/"), domain, selector)


def host_dkim_keys(model, host, dkim_dir):
    """DKIM keys a host needs: every selector (current and retired) of the tenants it sends for.

    Returns a sorted list of ``{"tenant", "domain", "selector", "src", "retired", "dest",
    "domain_what", "selector_what"}`` (the last two name the inventory keys, for messages).
    """
    tenants = sorted({ip["tenant"] for ip in model["hosts"].get(host, {}).get("ips", [])})
    keys = []
    for name in tenants:
        for i, dom in enumerate(model["tenants"][name]["domains"]):
            base = "mailfleet_tenants.%s.domains[%d]" % (_key(name), i)
            pairs = [(dom["dkim_selector"], dom["dkim_key_file"], False, base + ".dkim_selector")]
            pairs += [(old["selector"], old["key_file"], True, "%s.dkim_retired_selectors[%d].selector" % (base, j))
                      for j, old in enumerate(dom.get("dkim_retired_selectors", []))]
            for selector, src, retired, selector_what in pairs:
                keys.append({"tenant": name, "domain": dom["name"], "selector": selector, "src": src,
                             "retired": retired, "dest": dkim_key_path(dkim_dir, dom["name"], selector),
                             "domain_what": base + ".name", "selector_what": selector_what})
    # PowerMTA signs with the first matching domain-key: the current selector before retired ones.
    return sorted(keys, key=lambda k: (k["tenant"], k["domain"], k["retired"], k["selector"]))


def source_name(tenant):
    return SOURCE_PREFIX + tenant


# ---------------------------------------------------------------------------------------------
# The host view
# ---------------------------------------------------------------------------------------------
def _key(value):
    """A key as it may appear inside a ``what``: plain when harmless, else its ASCII repr."""
    if isinstance(value, str) and len(value) <= 64 and grammar.bad_char(value) is None:
        return value
    shown = ascii(value)
    return shown if len(shown) <= 64 else shown[:61] + "..."


def _list(value, what):
    if not isinstance(value, list):
        raise GrammarError(what, "expected a list, got %s" % grammar.typename(value))
    return value


def _cap_int(value, what, default=0):
    if value is None:
        return default
    if not grammar.is_int(value):
        raise GrammarError(what, "expected an integer, got %s" % grammar.typename(value))
    return value


class _Caps:
    """Today's caps, read strictly: what is missing is 0 (never more), what is malformed is refused."""

    def __init__(self, caps):
        if not isinstance(caps, dict):
            raise GrammarError(CAPS_VAR, "expected a mapping ip -> cap, got %s" % grammar.typename(caps))
        self.caps = caps

    def entry(self, address):
        cap = self.caps.get(address)
        if cap is None:
            return {}
        if not isinstance(cap, dict):
            raise GrammarError("%s[%s]" % (CAPS_VAR, _key(address)), "expected a mapping, got %s" % grammar.typename(cap))
        return cap

    def what(self, address, key):
        return "%s[%s].%s" % (CAPS_VAR, _key(address), key)

    def daily(self, address):
        """The cap the capacity contract gives the IP today (0 on standby, unreachable, missing)."""
        cap = self.entry(address)
        _cap_int(cap.get("daily"), self.what(address, "daily"))  # malformed is refused, never guessed
        return capacity.effective_daily(cap)

    def stage(self, address, default=None):
        cap = self.entry(address)
        if "stage" not in cap:
            return default
        value = cap["stage"]
        return None if value is None else _cap_int(value, self.what(address, "stage"))

    def providers(self, address):
        """``{provider: cap}`` for the providers the entry names (the capacity contract's numbers:
        each at most the IP's daily cap, never negative)."""
        cap = self.entry(address)
        provs = cap.get("providers") or {}
        if not isinstance(provs, dict):
            raise GrammarError(self.what(address, "providers"), "expected a mapping, got %s" % grammar.typename(provs))
        for name in sorted(provs, key=str):
            if name not in PROVIDERS:
                raise GrammarError(self.what(address, "providers"), "unknown provider %s; expected one of %s" % (
                    _key(name), ", ".join(PROVIDERS)))
            _cap_int(provs[name], self.what(address, "providers.%s" % name))
        allowed = capacity.effective_provider_caps(cap)
        return {name: allowed[name] for name in sorted(provs)}


def _cold_pairs(active, caps):
    """Warm VMTA name -> the cold IP it hands its first messages to (PowerMTA §10.7).

    When a tenant has warm IPs (past their last stage) and warming ones on a host, each warming
    IP becomes the ``cold-virtual-mta`` of one warm IP and leaves the pool: the warm VMTA routes
    the first N messages per destination (and per provider rollup) each day to it, N being the
    cold IP's cap, and keeps the rest. Excess traffic stays on warm IPs instead of queueing on a
    capped cold one. A warm VMTA can name one cold VMTA; extra warming IPs stay in the pool.
    """
    warm = [ip for ip in active if caps.stage(ip["address"], 0) is None]
    cold = [ip for ip in active if caps.stage(ip["address"], 0) is not None]
    return {w["vmta"]: c for w, c in zip(warm, cold)}


def _settings_view(cfg):
    names = SETTING_VARS
    paths = cfg["paths"]
    view = {}
    for key in sorted(paths):
        view[key] = Field("path", paths[key], names["paths.%s" % key])
    postmaster = cfg["postmaster"]
    view["postmaster"] = None if postmaster in (None, "") else Field("email", postmaster, names["postmaster"])
    view["smtp_listeners"] = [Field("listener", item, "%s[%d]" % (names["smtp_listeners"], i))
                              for i, item in enumerate(_list(cfg["smtp_listeners"], names["smtp_listeners"]))]
    port = cfg["http_mgmt_port"]
    view["http_mgmt_port"] = None if port in (None, 0, "") else Field("port", port, names["http_mgmt_port"])
    view["http_access"] = []
    for i, rule in enumerate(_list(cfg["http_access"], names["http_access"])):
        what = "%s[%d]" % (names["http_access"], i)
        if not isinstance(rule, dict) or sorted(rule) != ["level", "source"]:
            raise GrammarError(what, "expected a mapping with exactly the keys source and level, got %s" % (
                "keys %s" % ", ".join(sorted(_key(k) for k in rule)) if isinstance(rule, dict) else grammar.typename(rule)))
        source = Field("cidr", rule["source"], what + ".source")
        level = Field("access_level", rule["level"], what + ".level")
        if level.value in ("operator", "admin") and _prefixlen(source) == 0:
            raise GrammarError(what, "%s access for %s would let any address control PowerMTA; name the networks "
                                     "that may" % (level.value, format_value(source)))
        view["http_access"].append({"source": source, "level": level})
    relays = []
    for i, item in enumerate(_list(cfg["relay_sources"], names["relay_sources"])):
        field = Field("cidr", item, "%s[%d]" % (names["relay_sources"], i))
        if _prefixlen(field) == 0:
            raise GrammarError(field.what, "%s would make PowerMTA an open relay; name the networks that may relay"
                               % format_value(field))
        relays.append(field)
    view["relay_sources"] = sorted(relays, key=format_value)
    defaults = cfg["domain_defaults"]
    view["domain_defaults"] = []
    for key in sorted(defaults, key=str):
        what = "%s.%s" % (names["domain_defaults"], _key(key))
        view["domain_defaults"].append({
            "key": Field("keyword", key, what),
            "value": Field(DOMAIN_DEFAULT_KINDS.get(key, "token"), defaults[key], what)})
    acct = cfg["acct"]
    view["acct"] = {"file": view["acct_file"],
                    "records": Field("token", acct["records"], names["acct"] + ".records")}
    for key, kind in ACCT_KEYS:
        value = acct.get(key)
        view["acct"][key] = None if value in (None, "", 0) else Field(kind, value, "%s.%s" % (names["acct"], key))
    backoff = cfg["backoff"]
    view["backoff"] = {key: Field("interval", backoff[key], "%s.%s" % (names["backoff"], key))
                       for key in ("retry_after", "to_normal_after")}
    for key, field in view["backoff"].items():
        if field.value in (None, "", 0, "0"):
            raise GrammarError(field.what, "must be a time interval such as 30m or 2h")
    return view


def pattern_list_name(provider):
    return PATTERN_LIST_PREFIX + provider


def _pattern_lists(providers):
    """The global ``<smtp-pattern-list>`` of each provider in ``providers``: its rate_limited and
    reputation rows (``replies.patterns``, in matching order), each with its reference."""
    out = []
    for prov in providers:
        rules = []
        for i, (cls, regex, ref) in enumerate(replies.patterns(prov, BACKOFF_CLASSES)):
            what = "replies.patterns(%s)[%d]" % (prov, i)
            rules.append({"regex": Field("reply", regex, what), "note": Field("comment", "%s: %s" % (cls, ref), what)})
        out.append({"name": Field("name", pattern_list_name(prov), "the backoff rules of %s" % prov), "rules": rules})
    return out


def _prefixlen(field):
    """Prefix length of a cidr field (0 = every address); checks the grammar first."""
    text = format_value(field)
    if text == "0/0":
        return 0
    return int(text.split("/", 1)[1]) if "/" in text else 128


def host_view(model, host, caps, settings=None, passwords=None):
    """What ``/etc/pmta/config`` of ``host`` holds, as plain data of :class:`Field` values.

    ``caps``: ``{ip: {"daily", "providers", "standby", "stage", "reason"}}`` (see DEVELOPMENT.md).
    ``passwords``: ``{tenant: smtp password}`` (kept out of the model). An IP whose daily cap is 0
    (standby, or warmup not started) keeps its VirtualMTA (its queue drains nothing: rate 0) but
    leaves its tenant's pool, so new mail goes to the tenant's other IPs. Where a tenant has warm
    and warming IPs on the host, warming IPs are fed through PowerMTA's cold VirtualMTA feature
    (see ``_cold_pairs``).
    """
    cfg = merged_settings(settings)
    view = _settings_view(cfg)
    caps = _Caps(caps)
    passwords = passwords or {}
    if not isinstance(passwords, dict):
        raise GrammarError("smtp passwords", "expected a mapping tenant -> password, got %s" % grammar.typename(passwords))
    view["host"] = Field("comment", host, HOST_WHAT)
    if host not in model.get("hosts", {}):
        raise GrammarError(HOST_WHAT, "host %s is not in the fleet model (not in the 'pmta' group?)" % _key(host))
    host_ips = model["hosts"][host].get("ips", [])
    by_tenant = {}
    for ip in host_ips:
        by_tenant.setdefault(ip["tenant"], []).append(ip)

    providers = model.get("providers", {})
    view["mx_rollups"] = []
    for name in PROVIDERS:
        if name == "other":
            continue
        what = "mailfleet_providers.%s.mx" % name
        for pattern in sorted(providers.get(name, {}).get("mx", []), key=str):
            view["mx_rollups"].append({"pattern": Field("mx", pattern, what),
                                       "rollup": Field("name", "%s.rollup" % name, "mailfleet_providers.%s" % name),
                                       "by_ip": isinstance(pattern, str) and "*" in pattern})

    format_value(view["dkim_dir"])  # the key paths below are built from it: check it first
    keys = host_dkim_keys(model, host, cfg["paths"]["dkim_dir"]) if by_tenant else []
    view["tenants"] = []
    backoff_used = set()
    for tenant_name in sorted(by_tenant):
        tenant = model["tenants"][tenant_name]
        twhat = "mailfleet_tenants.%s" % _key(tenant_name)
        ips = by_tenant[tenant_name]
        active = [ip for ip in ips if caps.daily(ip["address"]) > 0]
        password = passwords.get(tenant_name)
        entry = {
            "name": Field("tenant", tenant_name, twhat),
            "pool": Field("name", tenant["pool"], twhat + ".pool"),
            "source": Field("name", source_name(tenant_name), twhat + " (its PowerMTA source name)"),
            "smtp_user": Field("smtp_user", tenant["smtp_user"], twhat + ".smtp_user"),
            "password": None if password is None else Field("password", password, twhat + ".smtp_password"),
            "ip_count": Field("int", len(ips), twhat),
            "active_count": Field("int", len(active), twhat),
            "all_idle": not active,
            "vmtas": [],
        }
        tkeys = [k for k in keys if k["tenant"] == tenant_name]
        cold_of = _cold_pairs(active, caps)
        for ip in ips:
            entry["vmtas"].append(_vmta_view(host, ip, caps, tkeys, cold_of.get(ip["vmta"]), view["backoff"]))
            backoff_used.update(p["rollup"].value[:-len(".rollup")] for p in entry["vmtas"][-1]["providers"])
        paired = {c["vmta"] for c in cold_of.values()}
        members = [ip for ip in active if ip["vmta"] not in paired] or ips
        entry["pool_members"] = [Field("name", ip["vmta"], _ip_what(host, ip, "vmta")) for ip in members]
        view["tenants"].append(entry)
    view["pattern_lists"] = _pattern_lists([p for p in BACKOFF_PROVIDERS if p in backoff_used])
    return view


def _ip_what(host, ip, key):
    return "host %s: mailfleet_ips[%s].%s" % (_key(host), _key(ip["address"]), key)


def _vmta_view(host, ip, caps, keys, cold, backoff):
    address = ip["address"]
    cap = caps.entry(address)
    daily = caps.daily(address)
    stage = caps.stage(address)
    reason = cap.get("reason") or None
    vmta = {
        "address": Field("address", address, _ip_what(host, ip, "address")),
        "name": Field("name", ip["vmta"], _ip_what(host, ip, "vmta")),
        "hostname": Field("hostname", ip["hostname"], _ip_what(host, ip, "hostname")),
        "standby": bool(cap.get("standby")),
        "daily": Field("int", daily, caps.what(address, "daily")),
        "stage": None if stage is None else Field("int", stage, caps.what(address, "stage")),
        "reason": None if reason is None else Field("comment", reason, caps.what(address, "reason")),
        "domain_keys": [{"selector": Field("selector", k["selector"], k["selector_what"]),
                         "domain": Field("hostname", k["domain"], k["domain_what"]),
                         "path": Field("path", k["dest"], SETTING_VARS["paths.dkim_dir"])} for k in keys],
        "rate": Field("rate", daily, caps.what(address, "daily")),
        "cold": None,
        "providers": [],
    }
    cold_daily = caps.daily(cold["address"]) if cold else 0
    if cold:
        vmta["cold"] = {"address": Field("address", cold["address"], _ip_what(host, cold, "address")),
                        "name": Field("name", cold["vmta"], _ip_what(host, cold, "vmta")),
                        "rate": Field("rate", "%d/day" % cold_daily, caps.what(cold["address"], "daily"))}
    if cold:
        caps.providers(cold["address"])  # its entry is read as strictly as any other
    cold_provs = capacity.effective_provider_caps(caps.entry(cold["address"])) if cold else {}
    for provider, value in caps.providers(address).items():
        if provider == "other" or daily <= 0:
            continue
        what = caps.what(address, "providers.%s" % provider)
        entry = {"rollup": Field("name", "%s.rollup" % provider, what),
                 "rate": Field("rate", value, what),
                 "cold_rate": None,
                 "pattern_list": Field("name", pattern_list_name(provider), what),
                 "backoff_rate": Field("rate", capacity.backoff_rate(value), what + " (backoff rate)"),
                 "backoff_retry_after": backoff["retry_after"],
                 "backoff_to_normal_after": backoff["to_normal_after"]}
        if cold:
            entry["cold_rate"] = Field("rate", "%d/day" % cold_provs[provider],
                                       caps.what(cold["address"], "providers.%s" % provider))
        vmta["providers"].append(entry)
    return vmta


# ---------------------------------------------------------------------------------------------
# What the text must hold: the view as PowerMTA's parser sees it
# ---------------------------------------------------------------------------------------------
def _arg(value):
    return value if isinstance(value, str) else format_value(value)


def _d(name, *args):
    return Node("directive", name, [_arg(a) for a in args], 0)


def _b(tag, args, children):
    node = Node("block", tag, [_arg(a) for a in args], 0)
    node.children.extend(children)
    return node


def expected_tree(view):
    """The directives and blocks ``view`` stands for, in order, as ``pmta_check.parse`` returns
    them (values formatted, unquoted). The layout here is the template's, written a second time."""
    out = []
    if view["postmaster"] is not None:
        out.append(_d("postmaster", view["postmaster"]))
    out.append(_d("spool", view["spool"]))
    out.append(_d("log-file", view["log_file"]))
    out.extend(_d("smtp-listener", item) for item in view["smtp_listeners"])
    if view["http_mgmt_port"] is not None:
        out.append(_d("http-mgmt-port", view["http_mgmt_port"]))
        out.extend(_d("http-access", rule["source"], rule["level"]) for rule in view["http_access"])
    acct = view["acct"]
    out.append(_b("acct-file", [acct["file"]], [_d("records", acct["records"])] + [
        _d(key.replace("_", "-"), acct[key]) for key, _kind in ACCT_KEYS if acct[key] is not None]))
    if view["mx_rollups"]:
        out.append(_b("mx-rollup-list", [], [
            _d("mx", mx["pattern"], mx["rollup"], *(["rollup-by-ip"] if mx["by_ip"] else []))
            for mx in view["mx_rollups"]]))
    for plist in view["pattern_lists"]:
        out.append(_b("smtp-pattern-list", [plist["name"]], [
            _d("reply", "/%s/" % format_value(rule["regex"]), BACKOFF_ACTION) for rule in plist["rules"]]))
    out.append(_b("source", ["0/0"], [_d("always-allow-relaying", "no"), _d("smtp-service", "yes"),
                                      _d("process-x-virtual-mta", "no"), _d("allow-mailmerge", "no")]))
    for cidr in view["relay_sources"]:
        out.append(_b("source", [cidr], [_d("always-allow-relaying", "yes"), _d("process-x-virtual-mta", "no"),
                                         _d("allow-mailmerge", "no")]))
    for tenant in view["tenants"]:
        out.append(_b("source", [tenant["source"]], [
            _d("default-virtual-mta", tenant["pool"]), _d("process-x-virtual-mta", "no"),
            _d("allow-mailmerge", "no"), _d("smtp-service", "yes")]))
        user = [_d("authentication-method", "password")]
        if tenant["password"] is not None:
            user.append(_d("password", tenant["password"]))
        user.append(_d("source", tenant["source"]))
        out.append(_b("smtp-user", [tenant["smtp_user"]], user))
        for vmta in tenant["vmtas"]:
            body = [_d("smtp-source-host", vmta["address"], vmta["hostname"])]
            body += [_d("domain-key", ",".join(format_value(k[p]) for p in ("selector", "domain", "path")))
                     for k in vmta["domain_keys"]]
            body.append(_d("max-smtp-msg-rate", vmta["rate"]))
            if vmta["cold"] is not None:
                body.append(_d("cold-virtual-mta", vmta["cold"]["name"]))
                body.append(_b("domain", ["*"], [_d("max-cold-virtual-mta-msg", vmta["cold"]["rate"])]))
            for prov in vmta["providers"]:
                inner = [_d("max-msg-rate", prov["rate"])]
                if prov["cold_rate"] is not None:
                    inner.append(_d("max-cold-virtual-mta-msg", prov["cold_rate"]))
                inner += [_d("smtp-pattern-list", prov["pattern_list"]), _d("backoff-max-msg-rate", prov["backoff_rate"]),
                          _d("backoff-retry-after", prov["backoff_retry_after"]),
                          _d("backoff-to-normal-after", prov["backoff_to_normal_after"])]
                body.append(_b("domain", [prov["rollup"]], inner))
            out.append(_b("virtual-mta", [vmta["name"]], body))
        out.append(_b("virtual-mta-pool", [tenant["pool"]], [_d("virtual-mta", m) for m in tenant["pool_members"]]))
    out.append(_b("domain", ["*"], [_d(format_value(item["key"]), item["value"]) for item in view["domain_defaults"]]))
    out.append(_d("include", view["local_include"]))
    return out


def view_secrets(view):
    """The secret values of a view (SMTP passwords): what messages must never show."""
    return [t["password"].value for t in view["tenants"] if t["password"] is not None]


# ---------------------------------------------------------------------------------------------
# Parse-back
# ---------------------------------------------------------------------------------------------
RELAY_DIRECTIVES = ("relay-domain", "relay-address")
_MASKED = "********"


def _flatten(nodes, context=()):
    """Nodes as a flat sequence of ``(key, lines)``: the key holds the enclosing blocks, ``lines``
    the line of the node and of each enclosing block (to tell where a message may show it)."""
    out = []
    for node in nodes:
        lines = tuple(line for _c, line in context) + (node.line,)
        keys = tuple(c for c, _line in context)
        if node.kind == "block":
            here = context + (((node.name, tuple(node.args)), node.line),)
            out.append(((keys, "open", node.name, tuple(node.args)), lines))
            out.extend(_flatten(node.children, here))
            out.append(((keys, "close", node.name, ()), lines[:-1] + (node.end,)))
        else:
            out.append(((keys, "directive", node.name, tuple(node.args)), lines))
    return out


def _show(key):
    context, kind, name, args = key
    if kind == "directive" and name in ("password", "auth-password"):
        args = (_MASKED,)
    text = {"open": "<%s%s>", "close": "</%s>%s", "directive": "%s%s"}[kind] % (
        name, "".join(" " + quote(a) for a in args))
    if context:
        text += " in " + " ".join("<%s%s>" % (tag, "".join(" " + a for a in targs)) for tag, targs in context)
    return text


def _differences(actual, expected):
    """``[(lines, message)]``: what the text holds that the view does not, and what it lacks."""
    want = _flatten(expected)
    have = _flatten(actual)
    want_keys, have_keys = [k for k, _l in want], [k for k, _l in have]
    if want_keys == have_keys:
        return []
    matcher = difflib.SequenceMatcher(None, want_keys, have_keys, autojunk=False)
    out = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        for key, lines in have[j1:j2]:
            out.append((lines, "line %d: %s is not in the host view" % (lines[-1], _show(key))))
        for key, _lines in want[i1:i2]:
            out.append(((), "%s is missing (the host view has it)" % _show(key)))
    return out


def _relays(nodes, view, display):
    """Every place the text lets a client relay without authentication that the view does not."""
    allowed = {format_value(f) for f in view["relay_sources"]}
    out = []

    def walk(items, block):
        for node in items:
            if node.kind == "block":
                walk(node.children, node)
            elif node.name in RELAY_DIRECTIVES:
                out.append(((node.line,), "%s:%d: %s would let clients relay; the host view has no such directive" % (
                    display, node.line, node.name)))
            elif node.name == "always-allow-relaying" and node.args[0].lower() in ("yes", "true"):
                where = block.args[0] if block is not None and block.name == "source" and block.args else None
                lines = (node.line,) if block is None else (block.line, node.line)
                if where is None or where not in allowed:
                    out.append((lines, "%s:%d: %s relays without authentication, but %s does not list it" % (
                        display, node.line, "<source %s>" % where if where else "the global context",
                        SETTING_VARS["relay_sources"]),
                        "%s:%d: a line that comes from an SMTP password (not shown) relays without authentication" % (
                            display, node.line)))
    walk(nodes, None)
    return out


def secret_lines(text, secrets):
    """Line numbers of ``text`` that hold (part of) one of ``secrets``."""
    lines = set()
    for secret in secrets:
        if not isinstance(secret, str) or not secret:
            continue
        start = text.find(secret)
        while start >= 0:
            first = text.count("\n", 0, start) + 1
            lines.update(range(first, first + secret.count("\n") + 1))
            start = text.find(secret, start + 1)
    return lines


def redact(messages, secrets, text="", limit=12):
    """``[(lines, message[, message_if_hidden])]`` (or plain messages) as they may be shown: a
    message about a line that comes from a secret says so instead of showing it, and no secret
    appears anywhere."""
    hidden = secret_lines(text, secrets) if text else set()
    out = []
    for item in messages:
        lines, message, instead = (tuple(item) + (None,))[:3] if isinstance(item, tuple) else ((), item, None)
        if hidden.intersection(lines):
            message = instead or "line %d: a line that comes from an SMTP password (not shown) is not in the host " \
                                 "view" % min(hidden.intersection(lines))
        for secret in secrets:
            if isinstance(secret, str) and secret:
                message = message.replace(secret, _MASKED)
        if message not in out:
            out.append(message)
    if len(out) > limit:
        out = out[:limit] + ["... and %d more differences" % (len(out) - limit)]
    return out


def parse_back(text, view, display="config"):
    """Problems of ``text`` as the configuration of ``view`` (empty: the text holds exactly the view).

    The text is read with ``pmta_check.parse`` (PowerMTA's line grammar), checked like the host
    will check it (contexts, directives, values, references; files are not looked at here), then
    compared with :func:`expected_tree`. Messages never show an SMTP password, nor a line that
    comes from one."""
    nodes, syntax = parse(text, display)
    problems = [((p.line,), str(p)) for p in syntax]
    problems += _relays(nodes, view, display)
    checker = ConfigChecker(check_files=False)
    checker.walk(nodes, display)
    problems += [((p.line,), str(p)) for p in checker.finish()]
    try:
        problems += _differences(nodes, expected_tree(view))
    except GrammarError as exc:
        problems.append(((), "the host view holds a value its grammar refuses: %s" % exc))
    return redact(problems, view_secrets(view), text)


def mask_secrets(text):
    """The config with SMTP passwords masked: what diffs and reports show."""
    lines = []
    for line in text.splitlines(True):
        stripped = line.lstrip()
        if stripped.startswith("password ") or stripped.startswith("auth-password "):
            indent = line[: len(line) - len(stripped)]
            lines.append("%s%s ********\n" % (indent, stripped.split(None, 1)[0]))
        else:
            lines.append(line)
    return "".join(lines)
