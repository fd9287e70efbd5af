# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Prometheus metrics of the warmup fleet (text exposition format 0.0.4; pure Python, stdlib only).

Imported by ``pmta_metrics`` (runs on PowerMTA hosts, writes a node_exporter textfile-collector
file), by the Grafana dashboard test and by unit tests.

Inputs are the plain structures the other pieces already produce:

* ``plan_report``: the ``report`` of ``warmup.plan_fleet`` --
  ``{"date", "ips": {ip: {"stage", "warm", "daily", "providers", "standby", "action", "reason",
  "rates", "tenant", "host", "schedule"}}, "capacity": {tenant: int}, "actions": {...}}``;
* ``ledgers``: the ledger compact form ``{ip: {day: {provider: {delivered, hard_bounce,
  soft_bounce, deferred, complaint}}}}`` (only *yesterday* = plan date - 1 is read);
* ``health``: the health state ``{"ips": {ip: {"standby", "listed", "listings", ...}}, ...}`` or
  the planner view ``{ip: {"standby", "reason", "listed"}}``.

Every metric is declared in :data:`METRICS` (name -> type, help, label names); the Grafana
dashboard may only use these names (a test enforces it).

Idempotence: the output is a pure function of the inputs. The only time-dependent metric,
``mailfleet_last_run_timestamp_seconds``, is rendered only when a run timestamp is passed, and
:func:`strip_volatile` removes it so a caller can decide whether anything *else* changed.
Staleness is best alerted on ``mailfleet_plan_date_timestamp_seconds`` (midnight UTC of the day the
plan is for: it moves once a day, with the daily warmup run) or on node_exporter's own
``node_textfile_mtime_seconds``.
"""
from __future__ import absolute_import, division, print_function

import datetime
import math
import os
import re
import time

from ansible_collections.mailfleet.fleet.plugins.module_utils import atomic, capacity
from ansible_collections.mailfleet.fleet.plugins.module_utils.capacity import OUTCOMES, PROVIDERS, RATES
from ansible_collections.mailfleet.fleet.plugins.module_utils.replies import CLASSES as REPLY_CLASSES
from ansible_collections.mailfleet.fleet.plugins.module_utils.warmup import ACTIONS
from ansible_collections.mailfleet.fleet.plugins.module_utils.module_run import ModuleFailure

__metaclass__ = type

IP_LABELS = ("ip", "tenant", "host")

#: name -> (type, help, label names). Order of declaration is irrelevant: output is sorted by name.
METRICS = {
    "mailfleet_ip_info": (
        "gauge", "Always 1: the IP's tenant, host, warmup schedule and HELO hostname.",
        IP_LABELS + ("schedule", "hostname")),
    "mailfleet_ip_warmup_stage": (
        "gauge", "Warmup stage number of the IP today (1-based; 0 once warm, see mailfleet_ip_warm).",
        IP_LABELS),
    "mailfleet_ip_warm": ("gauge", "1 when the IP runs at its schedule's full rate.", IP_LABELS),
    "mailfleet_ip_daily_cap": (
        "gauge", "Messages the IP may send today (0 on standby).", IP_LABELS),
    "mailfleet_ip_provider_warmup_stage": (
        "gauge", "Warmup stage number of one mailbox provider on the IP today (its own stage, never above the "
                 "IP's; 1-based, 0 once warm).", IP_LABELS + ("provider",)),
    "mailfleet_ip_stuck": (
        "gauge", "1 when the IP has not advanced for the schedule's stuck_days sending days (the run report "
                 "says why; alerted once as ip_stuck).", IP_LABELS),
    "mailfleet_ip_replies_yesterday": (
        "gauge", "Yesterday's bounces, deferrals and remote bounces of the IP by reply class (rate_limited, "
                 "reputation, content, auth, mailbox_unknown, mailbox_full, other).", IP_LABELS + ("class",)),
    "mailfleet_ip_provider_daily_cap": (
        "gauge", "Messages the IP may send today to one mailbox provider.", IP_LABELS + ("provider",)),
    "mailfleet_ip_sent_yesterday": (
        "gauge", "Messages that reached a final outcome yesterday, each once (delivered + hard + soft bounces, "
                 "less the remote bounces of delivered mail).",
        IP_LABELS),
    "mailfleet_ip_messages_yesterday": (
        "gauge", "Ledger counters of yesterday per outcome (deferred = delivery attempts deferred).",
        IP_LABELS + ("outcome",)),
    "mailfleet_ip_provider_sent_yesterday": (
        "gauge", "Messages that reached a final outcome yesterday per mailbox provider.",
        IP_LABELS + ("provider",)),
    "mailfleet_ip_rate": (
        "gauge", "Hard bounce (/attempted), complaint (/delivered), deferral, reputation (replies classed "
                 "rate_limited or reputation) and auth_failure (replies classed auth) (/(attempted+deferred)) "
                 "rates; window=yesterday or window=stage (the planner's judged window). Absent when "
                 "there is nothing to divide by.",
        IP_LABELS + ("rate", "window")),
    "mailfleet_ip_rate_threshold": (
        "gauge", "The schedule's threshold for a rate (above it the IP steps back).",
        IP_LABELS + ("rate",)),
    "mailfleet_ip_action": (
        "gauge", "1 for the warmup decision taken for the IP today, 0 for the other actions.",
        IP_LABELS + ("action",)),
    "mailfleet_ip_standby": ("gauge", "1 when the IP is on standby (cap 0, out of its pool).", IP_LABELS),
    "mailfleet_ip_listed": ("gauge", "1 when the IP is listed on at least one DNSBL zone.", IP_LABELS),
    "mailfleet_ip_listings": ("gauge", "Number of DNSBL zones listing the IP.", IP_LABELS),
    "mailfleet_ip_dnsbl_listed": (
        "gauge", "1 per DNSBL zone listing the IP (critical=true when the listing causes standby).",
        IP_LABELS + ("zone", "critical")),
    "mailfleet_tenant_capacity": (
        "gauge", "Messages the tenant's pool may send today over the whole fleet (sum of its active "
                 "IPs' caps); identical on every host, aggregate with max by (tenant).",
        ("tenant",)),
    "mailfleet_tenant_host_capacity": (
        "gauge", "Part of the tenant's capacity today carried by the IPs of this host.",
        ("tenant", "host")),
    "mailfleet_tenant_ips": (
        "gauge", "IPs of the tenant on this host by state (active, standby; unreachable when the host could "
                 "not be read this run).", ("tenant", "host", "state")),
    "mailfleet_plan_date_timestamp_seconds": (
        "gauge", "Midnight UTC of the day the warmup plan is for (moves once a day).", ()),
    "mailfleet_last_run_timestamp_seconds": (
        "gauge", "Unix time of the run that wrote this file (only with timestamp enabled).", ()),
}

#: Metrics whose value changes at every run without anything else changing.
VOLATILE = ("mailfleet_last_run_timestamp_seconds",)

_NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class MetricsError(ValueError):
    """A sample does not match its declaration."""


def metric_names():
    """Sorted declared metric names."""
    return sorted(METRICS)


# --------------------------------------------------------------------------------------------
# Exposition format
# --------------------------------------------------------------------------------------------
def escape_label_value(value):
    """Label value escaping: backslash, double quote and line feed."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text):
    """HELP escaping: backslash and line feed."""
    return str(text).replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value):
    """Float formatting that round-trips (``repr``); integers without a fraction; NaN/Inf spelled
    as Prometheus expects."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def render(samples):
    """``[(name, {label: value}, number), ...]`` -> exposition text.

    Every name must be declared in :data:`METRICS` with exactly its label names. Families are
    sorted by name, samples by label values; duplicates (same name and labels) are an error.
    Output ends with a newline; empty input gives an empty string.
    """
    by_name = {}
    for name, labels, value in samples:
        decl = METRICS.get(name)
        if decl is None:
            raise MetricsError("metric %s is not declared in metrics.METRICS" % name)
        labels = labels or {}
        if set(labels) != set(decl[2]):
            raise MetricsError("metric %s: labels %s, declared %s" % (
                name, ", ".join(sorted(labels)), ", ".join(sorted(decl[2]))))
        key = tuple(str(labels[k]) for k in decl[2])
        fam = by_name.setdefault(name, {})
        if key in fam:
            raise MetricsError("metric %s: duplicate sample %r" % (name, dict(zip(decl[2], key))))
        fam[key] = value
    lines = []
    for name in sorted(by_name):
        mtype, help_text, label_names = METRICS[name]
        lines.append("# HELP %s %s" % (name, escape_help(help_text)))
        lines.append("# TYPE %s %s" % (name, mtype))
        for key in sorted(by_name[name]):
            if label_names:
                lab = "{%s}" % ",".join('%s="%s"' % (k, escape_label_value(v)) for k, v in zip(label_names, key))
            else:
                lab = ""
            lines.append("%s%s %s" % (name, lab, format_value(by_name[name][key])))
    return "\n".join(lines) + "\n" if lines else ""


def strip_volatile(text):
    """The exposition text without the lines (samples, HELP, TYPE) of :data:`VOLATILE` metrics."""
    out = []
    for line in (text or "").splitlines():
        parts = line.split()
        if line.startswith("#") and len(parts) >= 3 and parts[2] in VOLATILE:
            continue
        if parts and parts[0].split("{", 1)[0] in VOLATILE:
            continue
        out.append(line)
    return "\n".join(out)


# --------------------------------------------------------------------------------------------
# Fleet -> samples
# --------------------------------------------------------------------------------------------
def _num(value):
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def yesterday_of(day):
    d = datetime.date(*[int(x) for x in str(day)[:10].split("-")])
    return (d - datetime.timedelta(days=1)).isoformat()


def health_ips(health):
    """Health state or planner view -> ``{ip: state}``."""
    if not isinstance(health, dict):
        return {}
    if isinstance(health.get("ips"), dict):
        return health["ips"]
    return {k: v for k, v in health.items() if isinstance(v, dict)}


def _date_ts(day):
    d = datetime.date(*[int(x) for x in str(day)[:10].split("-")])
    return int((d - datetime.date(1970, 1, 1)).total_seconds())


def fleet_samples(plan_report, ledgers=None, health=None, host=None, model=None, run_timestamp=None):
    """Samples for the IPs of ``host`` (every IP when ``host`` is None).

    ``model`` (optional, the fleet model) adds the hostname to ``mailfleet_ip_info`` and the
    schedules' thresholds (``mailfleet_ip_rate_threshold``). ``run_timestamp`` (optional, a number)
    adds ``mailfleet_last_run_timestamp_seconds``.
    """
    plan_report = plan_report or {}
    ledgers = ledgers or {}
    hips = health_ips(health)
    model = model or {}
    model_ips = model.get("ips") or {}
    schedules = model.get("schedules") or {}
    date = plan_report.get("date")
    yday = yesterday_of(date) if date else None
    samples = []
    per_tenant = {}
    shown = {}
    for ip in sorted((plan_report.get("ips") or {})):
        dec = plan_report["ips"][ip] or {}
        if host is not None and dec.get("host") != host:
            continue
        tenant = dec.get("tenant") or ""
        base = {"ip": ip, "tenant": tenant, "host": dec.get("host") or ""}

        def add(name, value, **extra):
            labels = dict(base)
            labels.update(extra)
            samples.append((name, labels, value))

        info = model_ips.get(ip) or {}
        add("mailfleet_ip_info", 1, schedule=dec.get("schedule") or "", hostname=info.get("hostname") or "")
        warm = bool(dec.get("warm"))
        add("mailfleet_ip_warm", 1 if warm else 0)
        add("mailfleet_ip_warmup_stage", 0 if warm or dec.get("stage") is None else int(dec["stage"]))
        daily = capacity.effective_daily(dec)
        add("mailfleet_ip_daily_cap", daily)
        allowed = capacity.effective_provider_caps(dec)
        for prov in sorted(dec.get("providers") or {}):
            add("mailfleet_ip_provider_daily_cap", allowed.get(prov, 0), provider=prov)
        pstages = {} if dec.get("unreachable") else (dec.get("provider_stages") or {})
        for prov in sorted(pstages):
            add("mailfleet_ip_provider_warmup_stage", 0 if pstages[prov] is None else int(pstages[prov]), provider=prov)
        add("mailfleet_ip_stuck", 1 if dec.get("stuck") else 0)
        day = (ledgers.get(ip) or {}).get(yday) if yday else None
        tot = capacity.day_totals(day)
        add("mailfleet_ip_sent_yesterday", tot["attempted"])
        for outcome in OUTCOMES:
            add("mailfleet_ip_messages_yesterday", tot[outcome], outcome=outcome)
        classes = dict.fromkeys(REPLY_CLASSES, 0)
        for rec in (day or {}).values():
            for cls, n in ((rec or {}).get("classes") or {}).items():
                if cls in classes:
                    classes[cls] += _num(n)
        for cls, n in sorted(classes.items()):
            add("mailfleet_ip_replies_yesterday", n, **{"class": cls})
        for prov in sorted(set(PROVIDERS) | set((day or {}).keys())):
            ptot = capacity.day_totals({prov: (day or {}).get(prov)})
            add("mailfleet_ip_provider_sent_yesterday", ptot["attempted"], provider=prov)
        for rate, value in sorted(capacity.rates(tot).items()):
            if value is not None:
                add("mailfleet_ip_rate", value, rate=rate, window="yesterday")
        stage_rates = dec.get("rates") or {}
        for rate in RATES:
            value = stage_rates.get(rate + "_rate")
            if value is not None:
                add("mailfleet_ip_rate", float(value), rate=rate, window="stage")
        sched = schedules.get(dec.get("schedule")) or {}
        thresholds = sched.get("thresholds") or {}
        for rate in RATES:
            value = thresholds.get("max_%s_rate" % rate)
            if value is not None:
                add("mailfleet_ip_rate_threshold", float(value), rate=rate)
        action = dec.get("action")
        for act in sorted(set(ACTIONS) | ({action} if action else set())):
            add("mailfleet_ip_action", 1 if act == action else 0, action=act)
        hstate = hips.get(ip) or {}
        standby = bool(dec.get("standby") or hstate.get("standby"))
        add("mailfleet_ip_standby", 1 if standby else 0)
        listings = hstate.get("listings") or {}
        listed = sorted(set(hstate.get("listed") or []) | set(listings))
        add("mailfleet_ip_listed", 1 if listed else 0)
        add("mailfleet_ip_listings", len(listed))
        for zone in listed:
            crit = bool((listings.get(zone) or {}).get("critical"))
            add("mailfleet_ip_dnsbl_listed", 1, zone=zone, critical="true" if crit else "false")
        key = (tenant, base["host"])
        t = per_tenant.setdefault(key, {"active": 0, "standby": 0, "unreachable": 0})
        t["unreachable" if dec.get("unreachable") else "standby" if standby else "active"] += 1
        shown[ip] = dict(dec, tenant=tenant, host=base["host"])
    tenants_here = {t for t, _h in per_tenant}
    for tenant, cap in sorted((plan_report.get("capacity") or {}).items()):
        if host is None or tenant in tenants_here:
            samples.append(("mailfleet_tenant_capacity", {"tenant": tenant}, _num(cap)))
    # the decisions carry their tenant and host: they place themselves
    host_capacity = capacity.host_pool_capacity({"ips": shown}, shown)
    for (tenant, h), t in sorted(per_tenant.items()):
        samples.append(("mailfleet_tenant_host_capacity", {"tenant": tenant, "host": h},
                        host_capacity.get(tenant, {}).get(h, 0)))
        for state in ("active", "standby", "unreachable"):
            if state != "unreachable" or t[state]:
                samples.append(("mailfleet_tenant_ips", {"tenant": tenant, "host": h, "state": state}, t[state]))
    if date:
        samples.append(("mailfleet_plan_date_timestamp_seconds", {}, _date_ts(date)))
    if run_timestamp is not None:
        samples.append(("mailfleet_last_run_timestamp_seconds", {}, int(run_timestamp)))
    return samples


def render_fleet(plan_report, ledgers=None, health=None, host=None, model=None, run_timestamp=None):
    """:func:`fleet_samples` rendered by :func:`render`."""
    return render(fleet_samples(plan_report, ledgers, health, host, model, run_timestamp))


def _check_declarations():
    for name, (mtype, _help, labels) in METRICS.items():
        if not _NAME_RE.match(name) or mtype not in ("gauge", "counter", "untyped"):
            raise MetricsError("bad declaration %s" % name)
        for lab in labels:
            if not _LABEL_RE.match(lab) or lab.startswith("__"):
                raise MetricsError("bad label %s of %s" % (lab, name))


_check_declarations()


# --------------------------------------------------------------------------- the pmta_metrics module
def write_task(params, check_mode=False, diff=False, now=None):
    """The run of ``mailfleet.fleet.pmta_metrics``: ``params`` are its options. Renders the host's
    metrics (run timestamp ``now``, default the current time, when ``timestamp``) and writes them
    to ``path`` atomically when anything but the volatile samples changed, or fixes the mode.
    Returns the module's result; raises ModuleFailure naming the file and the operation."""
    path = params["path"]
    try:
        mode = atomic.parse_mode(params["mode"])
    except ValueError:
        raise ModuleFailure("pmta_metrics: mode %r is not an octal permission" % (params["mode"],), path=path)
    try:
        samples = fleet_samples(params["plan_report"], params["ledgers"], params["health"], params["host"],
                                params["model"], int(now or time.time()) if params["timestamp"] else None)
        text = render(samples)
    except (MetricsError, ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:  # input of the wrong shape
        raise ModuleFailure("pmta_metrics: cannot render the metrics for %s: %s" % (path, exc), path=path)
    ips = sorted({s[1]["ip"] for s in samples if "ip" in s[1]})
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ModuleFailure("pmta_metrics: cannot write %s: directory %s does not exist (is node_exporter's "
                            "textfile collector set up?)" % (path, directory), path=path)
    try:
        before = atomic.read_text(path)
    except OSError as exc:
        raise ModuleFailure("pmta_metrics: cannot read %s: %s" % (path, exc.strerror or exc), path=path)
    changed = before is None or strip_volatile(before) != strip_volatile(text)
    write = before != text
    mode_changed = False
    if before is not None and not write:
        mode_changed = (os.stat(path).st_mode & 0o7777) != mode
        changed = changed or mode_changed
    if not check_mode:
        try:
            if write:
                atomic.atomic_write(path, text, mode)
            elif mode_changed:
                os.chmod(path, mode)
        except OSError as exc:
            raise ModuleFailure("pmta_metrics: cannot write %s: %s" % (path, exc.strerror or exc), path=path)
    result = dict(changed=changed, path=path, samples=len(samples), ips=ips, written=bool(write and not check_mode))
    if diff and changed:
        result["diff"] = {"before": strip_volatile(before or "") + ("\n" if before else ""),
                          "after": strip_volatile(text) + "\n", "before_header": path, "after_header": path}
    return result
