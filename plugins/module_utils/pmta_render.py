# -*- coding: utf-8 -*-
"""Render one PowerMTA host's configuration from the fleet model.

Pure Python, no Ansible objects. Output is deterministic: the same model, caps and settings give
byte-identical text (everything is sorted), so pull-request diffs show only real changes.

What mailfleet owns: the whole of ``/etc/pmta/config``. The operator's hand-written additions go
in the file named by ``paths.local_include`` (``/etc/pmta/local.conf``), which the config includes
last and which mailfleet creates empty once and never touches again.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mailfleet.fleet.plugins.module_utils.providers import PROVIDERS

HEADER = "# Managed by mailfleet. Do not edit: every deploy replaces this file.\n"

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
    "acct": {"records": "d,b,t,f,rb", "move_interval": "1d", "max_size": "50M", "delete_after": "8d"},
}


def merged_settings(settings):
    """DEFAULT_SETTINGS overlaid with ``settings`` (one level deep for the mapping values)."""
    out = {}
    settings = settings or {}
    for key, default in DEFAULT_SETTINGS.items():
        value = settings.get(key, default)
        if isinstance(default, dict) and isinstance(value, dict):
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

    Returns a sorted list of ``{"tenant", "domain", "selector", "src", "retired", "dest"}``.
    """
    tenants = sorted({ip["tenant"] for ip in model["hosts"].get(host, {}).get("ips", [])})
    keys = []
    for name in tenants:
        for dom in model["tenants"][name]["domains"]:
            pairs = [(dom["dkim_selector"], dom["dkim_key_file"], False)]
            pairs += [(old["selector"], old["key_file"], True) for old in dom.get("dkim_retired_selectors", [])]
            for selector, src, retired in pairs:
                keys.append({"tenant": name, "domain": dom["name"], "selector": selector, "src": src,
                             "retired": retired, "dest": dkim_key_path(dkim_dir, dom["name"], selector)})
    # PowerMTA signs with the first matching domain-key: the current selector before retired ones.
    return sorted(keys, key=lambda k: (k["tenant"], k["domain"], k["retired"], k["selector"]))


def _rate(value):
    """PowerMTA rate grammar: 0 (nothing), or N/d."""
    value = int(value)
    return "0" if value <= 0 else "%d/d" % value


def _quote(value):
    value = str(value)
    if value == "" or any(c in value for c in ' \t#"'):
        return '"%s"' % value.replace('"', '')
    return value


def source_name(tenant):
    return "mailfleet-%s" % tenant


def render_config(model, host, caps, settings=None):
    """Return the text of ``/etc/pmta/config`` for ``host``.

    ``caps``: ``{ip: {"daily", "providers", "standby", "stage", "reason"}}`` (see DEVELOPMENT.md).
    An IP whose daily cap is 0 (standby, or warmup not started) keeps its VirtualMTA (its queue
    drains nothing: rate 0) but leaves its tenant's pool, so new mail goes to the tenant's other IPs.
    Where a tenant has warm and warming IPs on the host, warming IPs are fed through PowerMTA's
    cold VirtualMTA feature (see ``_cold_pairs``).
    """
    cfg = merged_settings(settings)
    paths = cfg["paths"]
    host_ips = model["hosts"].get(host, {}).get("ips", [])
    by_tenant = {}
    for ip in host_ips:
        by_tenant.setdefault(ip["tenant"], []).append(ip)
    out = [HEADER]
    out.append("# Host %s: %s\n" % (host, ", ".join(
        "%s (%d IPs)" % (t, len(v)) for t, v in sorted(by_tenant.items())) or "no sending IPs"))
    out.append("# Hand-written additions belong in %s (included at the end, never touched by mailfleet).\n\n"
               % paths["local_include"])

    if cfg["postmaster"]:
        out.append("postmaster %s\n" % cfg["postmaster"])
    out.append("spool %s\n" % paths["spool"])
    out.append("log-file %s\n" % paths["log_file"])
    for listener in cfg["smtp_listeners"]:
        out.append("smtp-listener %s\n" % listener)
    if cfg["http_mgmt_port"]:
        out.append("http-mgmt-port %s\n" % cfg["http_mgmt_port"])
        for rule in cfg["http_access"]:
            out.append("http-access %s %s\n" % (rule["source"], rule["level"]))
    out.append("\n")

    acct = cfg["acct"]
    out.append("# Accounting: mailfleet's ledger reads these records (source IP, VMTA, pool, bounce category).\n")
    out.append("<acct-file %s>\n" % paths["acct_file"])
    out.append("    records %s\n" % acct["records"])
    for key in ("move_interval", "max_size", "delete_after"):
        if acct.get(key):
            out.append("    %s %s\n" % (key.replace("_", "-"), acct[key]))
    out.append("</acct-file>\n\n")

    providers = model.get("providers", {})
    rollups = [(pat, name) for name in PROVIDERS if name != "other"
               for pat in sorted(providers.get(name, {}).get("mx", []))]
    if rollups:
        out.append("# Mailbox providers by MX, so Google-hosted custom domains count as gmail.\n")
        out.append("<mx-rollup-list>\n")
        for pat, name in rollups:
            opt = " rollup-by-ip" if "*" in pat else ""
            out.append("    mx %s %s.rollup%s\n" % (pat, name, opt))
        out.append("</mx-rollup-list>\n\n")

    out.append("# Unauthenticated clients relay nothing and cannot choose a VirtualMTA.\n")
    out.append("<source 0/0>\n")
    out.append("    always-allow-relaying no\n")
    out.append("    smtp-service yes\n")
    out.append("    process-x-virtual-mta no\n")
    out.append("    allow-mailmerge no\n")
    out.append("</source>\n\n")
    for cidr in sorted(cfg["relay_sources"]):
        out.append("<source %s>\n    always-allow-relaying yes\n    process-x-virtual-mta no\n"
                   "    allow-mailmerge no\n</source>\n\n" % cidr)

    for tenant_name in sorted(by_tenant):
        tenant = model["tenants"][tenant_name]
        ips = by_tenant[tenant_name]
        active = [ip for ip in ips if _daily(caps, ip) > 0]
        out.append("# ---- tenant %s: pool %s, %d of %d IPs active on this host\n" % (
            tenant_name, tenant["pool"], len(active), len(ips)))
        out.append("<source %s>\n" % source_name(tenant_name))
        out.append("    default-virtual-mta %s\n" % tenant["pool"])
        out.append("    process-x-virtual-mta no\n")
        out.append("    allow-mailmerge no\n")
        out.append("    smtp-service yes\n")
        out.append("</source>\n")
        out.append("<smtp-user %s>\n" % tenant["smtp_user"])
        out.append("    authentication-method password\n")
        if tenant.get("smtp_password"):
            out.append("    password %s\n" % _quote(tenant["smtp_password"]))
        out.append("    source %s\n" % source_name(tenant_name))
        out.append("</smtp-user>\n\n")
        keys = [k for k in host_dkim_keys(model, host, paths["dkim_dir"]) if k["tenant"] == tenant_name]
        cold_of = _cold_pairs(active, caps)
        for ip in ips:
            cap = caps.get(ip["address"], {})
            daily = _daily(caps, ip)
            why = cap.get("reason") or ""
            stage = cap.get("stage")
            out.append("# %s: %s%s%s\n" % (
                ip["address"], "standby" if cap.get("standby") else "cap %d/day" % daily,
                "" if stage is None else ", stage %s" % stage, " (%s)" % why if why else ""))
            out.append("<virtual-mta %s>\n" % ip["vmta"])
            out.append("    smtp-source-host %s %s\n" % (ip["address"], ip["hostname"]))
            # current selectors first, retired ones after (first match wins)
            for key in keys:
                out.append("    domain-key %s,%s,%s\n" % (key["selector"], key["domain"], key["dest"]))
            out.append("    max-smtp-msg-rate %s\n" % _rate(daily))
            cold = cold_of.get(ip["vmta"])
            cold_cap = caps.get(cold["address"], {}) if cold else {}
            if cold:
                out.append("    # cold IP %s: its first messages per destination go there, the rest stay warm\n"
                           % cold["address"])
                out.append("    cold-virtual-mta %s\n" % cold["vmta"])
                out.append("    <domain *>\n        max-cold-virtual-mta-msg %s\n    </domain>\n"
                           % _day_rate(_daily(caps, cold)))
            for provider, value in sorted((cap.get("providers") or {}).items()):
                if provider == "other" or daily <= 0:
                    continue
                out.append("    <domain %s.rollup>\n" % provider)
                out.append("        max-msg-rate %s\n" % _rate(min(int(value), daily)))
                if cold:
                    cold_value = (cold_cap.get("providers") or {}).get(provider, _daily(caps, cold))
                    out.append("        max-cold-virtual-mta-msg %s\n" % _day_rate(min(int(cold_value), _daily(caps, cold))))
                out.append("    </domain>\n")
            out.append("</virtual-mta>\n")
        paired = {c["vmta"] for c in cold_of.values()}
        members = [ip for ip in active if ip["vmta"] not in paired] or ips
        out.append("<virtual-mta-pool %s>\n" % tenant["pool"])
        if not active:
            out.append("    # every IP of this tenant is at cap 0 here: members kept so the pool stays valid;\n")
            out.append("    # their rate is 0, so nothing leaves this host for this tenant.\n")
        for ip in members:
            out.append("    virtual-mta %s\n" % ip["vmta"])
        out.append("</virtual-mta-pool>\n\n")

    out.append("<domain *>\n")
    for key, value in sorted(cfg["domain_defaults"].items()):
        out.append("    %s %s\n" % (key, value))
    out.append("</domain>\n\n")
    out.append("include %s\n" % paths["local_include"])
    return "".join(out)


def _cold_pairs(active, caps):
    """Warm VMTA name -> the cold IP it hands its first messages to (PowerMTA §10.7).

    When a tenant has warm IPs (past their last stage) and warming ones on a host, each warming
    IP becomes the ``cold-virtual-mta`` of one warm IP and leaves the pool: the warm VMTA routes
    the first N messages per destination (and per provider rollup) each day to it, N being the
    cold IP's cap, and keeps the rest. Excess traffic stays on warm IPs instead of queueing on a
    capped cold one. A warm VMTA can name one cold VMTA; extra warming IPs stay in the pool.
    """
    warm = [ip for ip in active if (caps.get(ip["address"]) or {}).get("stage", 0) is None]
    cold = [ip for ip in active if (caps.get(ip["address"]) or {}).get("stage", 0) is not None]
    return {w["vmta"]: c for w, c in zip(warm, cold)}


def _day_rate(value):
    """max-cold-virtual-mta-msg grammar: N/day."""
    return "%d/day" % max(0, int(value))


def _daily(caps, ip):
    cap = caps.get(ip["address"]) or {}
    if cap.get("standby"):
        return 0
    return max(0, int(cap.get("daily", 0)))


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
