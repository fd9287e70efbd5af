# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run report of the warmup fleet: a plain dict, rendered as Markdown and as self-contained HTML.

Pure Python, standard library only, no I/O. The output is deterministic: the same inputs give the
same bytes (nothing reads the clock; every mapping is iterated in sorted order; numbers are
formatted explicitly).

Inputs (the structures the other pieces already produce)
--------------------------------------------------------
* ``model``: the fleet model (``fleet.build_model``) -- tenants (with ``domains``), ips (with
  ``hostname``), schedules (with ``thresholds``). Optional: without it the report is built from
  the plan report alone (no domains, hostnames or thresholds).
* ``plan_report``: the ``report`` of ``warmup.plan_fleet`` -- ``{"date", "ips": {ip: {"stage",
  "warm", "daily", "providers", "standby", "action", "reason", "rates", "tenant", "host",
  "schedule"}}, "capacity": {tenant: int}, "actions": {...}}``.
* ``ledgers``: ledger compact form ``{ip: {day: {provider: {delivered, hard_bounce, soft_bounce,
  deferred, complaint}}}}`` covering at least the chart window (``days`` days).
* ``health``: the health state ``{"ips": {ip: {"standby", "listed", "listings", ...}},
  "dns_auth": {key: {"subject", "check", "severity", "since"}}, "updated"}`` (or only the per-IP
  planner view ``{ip: {"standby", "reason", "listed"}}``).
* ``caps_history``: ``{day: {ip: cap}}``, the caps in force each day (the controller keeps it in
  ``reports/history.json``; :func:`update_history` adds today's caps from the plan report).

"Sent" is *attempted* and the rates are those of the capacity contract (``capacity.py``):
``delivered + hard_bounce + soft_bounce``; hard bounces / sent, complaints / delivered,
deferrals / (sent + deferred), throttling/reputation replies and authentication failures (reply
classes) / (sent + deferred). Capacities are ``capacity.pool_capacity`` of the plan's caps; an IP
whose host was not reachable counts 0 and is shown as unreachable. Each IP shows its providers'
own stages and caps; IPs that have not advanced for ``stuck_days`` sending days are listed first,
with why.
"""
from __future__ import absolute_import, division, print_function

import datetime
import html
import json

from ansible_collections.mailfleet.fleet.plugins.module_utils import capacity
from ansible_collections.mailfleet.fleet.plugins.module_utils.capacity import OUTCOMES, RATES
from ansible_collections.mailfleet.fleet.plugins.module_utils.schedule import DEFAULT_THRESHOLDS as WARMUP_THRESHOLDS

__metaclass__ = type

REPORT_VERSION = 1
RATE_LABELS = {"hard_bounce": "hard bounces", "complaint": "complaints", "deferral": "deferrals",
               "reputation": "throttling / reputation", "auth_failure": "auth failures"}
# The warmup engine's defaults (a schedule's own thresholds come with the plan report).
DEFAULT_THRESHOLDS = {r: WARMUP_THRESHOLDS["max_%s_rate" % r] for r in RATES}
DEFAULT_NEAR_LIMIT = WARMUP_THRESHOLDS["near_limit"]
AUTH_CHECKS = ("spf", "dkim", "dmarc")
_RANK = {"ok": 0, "warn": 1, "fail": 2}


# --------------------------------------------------------------------------------------------
# Dates and history
# --------------------------------------------------------------------------------------------
def _date(value):
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    return datetime.datetime.strptime(str(value)[:10], "%Y-%m-%d").date()


def window_days(today, days):
    """The ``days`` dates ending with ``today`` (oldest first), as strings."""
    end = _date(today)
    return [(end - datetime.timedelta(days=i)).isoformat() for i in range(int(days) - 1, -1, -1)]


def update_history(history, plan_report, keep_days=90):
    """A new ``{day: {ip: cap}}`` with the plan date's caps (replacing that day's entry) and without
    the days older than ``keep_days`` before the plan date. The input is not modified."""
    date = _date(plan_report["date"])
    first = (date - datetime.timedelta(days=int(keep_days) - 1)).isoformat()
    out = {}
    for day, caps in sorted((history or {}).items()):
        if day >= first and isinstance(caps, dict):
            out[day] = {ip: int(c) for ip, c in sorted(caps.items()) if c is not None}
    out[date.isoformat()] = {ip: capacity.effective_daily(d) for ip, d in sorted((plan_report.get("ips") or {}).items())}
    return dict(sorted(out.items()))


def load_history(text):
    """Parse the history file (empty -> {}); raises ValueError when it is not ``{day: {ip: cap}}``."""
    if text is None or not text.strip():
        return {}
    data = json.loads(text)
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ValueError("expected an object {day: {ip: cap}}")
    for day in data:
        _date(day)
    return data


def dump_history(history):
    return json.dumps(history, sort_keys=True, indent=1, separators=(",", ": ")) + "\n"


# --------------------------------------------------------------------------------------------
# Building the report
# --------------------------------------------------------------------------------------------
def day_totals(day):
    """One ledger day's outcomes (``capacity.day_totals``) with ``sent`` = attempted."""
    out = capacity.day_totals(day)
    out["sent"] = out["attempted"]
    return out


def rate_status(value, threshold, near_limit=DEFAULT_NEAR_LIMIT):
    if value is None or threshold is None:
        return "none"
    if value > threshold:
        return "over"
    if value >= near_limit * threshold:
        return "near"
    return "ok"


def _health_parts(health):
    health = health or {}
    if isinstance(health.get("ips"), dict):
        return health["ips"], health.get("dns_auth") or {}, health.get("updated")
    return {k: v for k, v in health.items() if isinstance(v, dict)}, {}, None


def _worst(sevs):
    out = None
    for s in sevs:
        if s is None:
            continue
        if out is None or _RANK.get(s, 2) > _RANK.get(out, 2):
            out = s
    return out


def build_report(model, plan_report, ledgers, health, caps_history, today=None, days=14, kind="warmup"):
    """Assemble the run report (a plain, JSON-serialisable dict).

    ``today`` defaults to the plan date. ``days``: length of the cap-vs-sent chart window (ending
    today; today's "sent" is not shown, the day is incomplete). ``caps_history`` may or may not
    already contain today: today's caps are always taken from the plan report.

    Returns ``{"version", "kind", "date", "days": [...], "health_updated", "totals": {...},
    "tenants": [{"name", "capacity", "capacity_before", "sent_yesterday", "ips_active",
    "ips_standby", "domains": [{"name", "checks": {check: severity|None}, "severity"}],
    "ips": [IP row]}]}``; an IP row is ``{"address", "tenant", "host", "hostname", "schedule",
    "stage", "warm", "stage_label", "daily", "cap_before", "cap_change", "providers", "action",
    "reason", "standby", "sent_yesterday", "yesterday": {outcome: n}, "rates": {rate: float|None},
    "rate_status": {rate: ok|near|over|none}, "stage_rates": {rate: float|None}, "thresholds",
    "listed": [zones], "listings": [{"zone", "since", "code", "critical"}], "fcrdns": severity|None,
    "history": [{"day", "cap", "sent"}], "provider_rows": [{"provider", "stage", "cap", "sent_yesterday"}],
    "stuck": None|{"since", "stage", "sending_days", "why"}}``; ``stuck`` lists the stuck IP rows.
    """
    model = model or {}
    plan_report = plan_report or {}
    ledgers = ledgers or {}
    today_s = _date(today or plan_report.get("date")).isoformat()
    yday = (_date(today_s) - datetime.timedelta(days=1)).isoformat()
    hist = update_history(caps_history or {}, dict(plan_report, date=today_s), keep_days=max(int(days), 1) + 1)
    win = window_days(today_s, days)
    h_ips, h_auth, h_updated = _health_parts(health)
    model_ips = model.get("ips") or {}
    schedules = model.get("schedules") or {}

    auth_by_subject = {}
    for key in sorted(h_auth):
        entry = h_auth[key] or {}
        subject = str(entry.get("subject") or key.rsplit(":", 1)[0]).rstrip(".").lower()
        check = entry.get("check") or key.rsplit(":", 1)[-1]
        auth_by_subject.setdefault(subject, {})[check] = entry.get("severity")

    rows_by_tenant = {}
    totals = {"ips": 0, "active": 0, "standby": 0, "unreachable": 0, "listed": 0, "capacity": 0,
              "capacity_before": None, "sent_yesterday": 0, "actions": {}, "stuck": 0}
    stuck_rows = []
    for ip in sorted(plan_report.get("ips") or {}):
        dec = plan_report["ips"][ip] or {}
        info = model_ips.get(ip) or {}
        sched = schedules.get(dec.get("schedule")) or {}
        th = sched.get("thresholds") or {}
        thresholds = {r: th.get("max_%s_rate" % r, DEFAULT_THRESHOLDS[r]) for r in RATES}
        near = th.get("near_limit", DEFAULT_NEAR_LIMIT)
        led = ledgers.get(ip) or {}
        ytot = day_totals(led.get(yday))
        yrates = capacity.rates(ytot)
        hs = h_ips.get(ip) or {}
        listings_raw = hs.get("listings") or {}
        listed = sorted(set(hs.get("listed") or []) | set(listings_raw))
        listings = [{"zone": z, "since": (listings_raw.get(z) or {}).get("since"),
                     "code": (listings_raw.get(z) or {}).get("code"),
                     "critical": bool((listings_raw.get(z) or {}).get("critical"))} for z in listed]
        cap_before = (hist.get(yday) or {}).get(ip)
        daily = capacity.effective_daily(dec)
        unreachable = bool(dec.get("unreachable"))
        warm = bool(dec.get("warm"))
        stage = dec.get("stage")
        history = []
        for day in win:
            cap = (hist.get(day) or {}).get(ip)
            sent = None if day >= today_s else (day_totals(led[day])["sent"] if day in led else 0)
            history.append({"day": day, "cap": cap, "sent": sent})
        srates = dec.get("rates") or {}
        pstages = dec.get("provider_stages") or {}
        pcaps = capacity.effective_provider_caps(dec)
        # a plan report from before provider stages: every provider at the IP's stage
        provider_rows = [{"provider": p, "stage": pstages[p] if p in pstages else stage, "cap": pcaps[p],
                          "sent_yesterday": day_totals({p: (led.get(yday) or {}).get(p)})["sent"]}
                         for p in capacity.PROVIDERS]
        row = {
            "address": ip, "tenant": dec.get("tenant") or "", "host": dec.get("host") or "",
            "hostname": info.get("hostname") or "", "schedule": dec.get("schedule") or "",
            "stage": stage, "warm": warm,
            "stage_label": "unreachable" if unreachable else "warm" if warm else (
                "stage %s" % stage if stage is not None else "-"),
            "daily": daily, "cap_before": cap_before,
            "cap_change": None if cap_before is None else daily - int(cap_before),
            "providers": dict(sorted((dec.get("providers") or {}).items())),
            "action": dec.get("action") or "", "reason": dec.get("reason") or "",
            "standby": bool(dec.get("standby")), "unreachable": unreachable,
            "sent_yesterday": ytot["sent"], "yesterday": {k: ytot[k] for k in OUTCOMES},
            "rates": yrates,
            "rate_status": {r: rate_status(yrates[r], thresholds[r], near) for r in RATES},
            "stage_rates": {r: srates.get(r + "_rate") for r in RATES},
            "thresholds": thresholds,
            "listed": listed, "listings": listings,
            "fcrdns": (auth_by_subject.get(ip.lower()) or {}).get("fcrdns"),
            "history": history,
            "provider_rows": provider_rows,
            "stuck": dec.get("stuck"),
        }
        rows_by_tenant.setdefault(row["tenant"], []).append(row)
        if row["stuck"]:
            stuck_rows.append(row)
            totals["stuck"] += 1
        totals["ips"] += 1
        totals["unreachable" if unreachable else "standby" if row["standby"] else "active"] += 1
        totals["listed"] += 1 if listed else 0
        totals["sent_yesterday"] += ytot["sent"]
        if cap_before is not None:
            totals["capacity_before"] = (totals["capacity_before"] or 0) + int(cap_before)
        totals["actions"][row["action"]] = totals["actions"].get(row["action"], 0) + 1

    # the plan's own capacities; without them, the capacity contract over the decisions (each
    # decision names its tenant and host)
    plan_ips = plan_report.get("ips") or {}
    plan_capacity = plan_report.get("capacity") or capacity.pool_capacity(
        {"tenants": model.get("tenants") or {}, "ips": plan_ips}, plan_ips)
    tenant_names = sorted(set(plan_capacity) | set(rows_by_tenant) | set(model.get("tenants") or {}))
    tenants = []
    for name in tenant_names:
        rows = rows_by_tenant.get(name, [])
        tinfo = (model.get("tenants") or {}).get(name) or {}
        domains = []
        for d in tinfo.get("domains") or []:
            dname = str(d.get("name") if isinstance(d, dict) else d).rstrip(".").lower()
            checks = {c: (auth_by_subject.get(dname) or {}).get(c) for c in AUTH_CHECKS}
            domains.append({"name": dname, "checks": checks, "severity": _worst(checks.values())})
        befores = [r["cap_before"] for r in rows if r["cap_before"] is not None]
        cap = int(plan_capacity.get(name, 0))
        tenants.append({
            "name": name, "capacity": cap,
            "capacity_before": sum(int(b) for b in befores) if befores else None,
            "sent_yesterday": sum(r["sent_yesterday"] for r in rows),
            "ips_active": sum(1 for r in rows if not r["standby"] and not r["unreachable"]),
            "ips_standby": sum(1 for r in rows if r["standby"]),
            "ips_unreachable": sum(1 for r in rows if r["unreachable"]),
            "domains": domains, "ips": rows,
        })
        totals["capacity"] += cap
    totals["actions"] = dict(sorted(totals["actions"].items()))
    return {"version": REPORT_VERSION, "kind": kind, "date": today_s, "days": win,
            "health_updated": h_updated, "totals": totals, "tenants": tenants, "stuck": stuck_rows}


# --------------------------------------------------------------------------------------------
# Formatting helpers
# --------------------------------------------------------------------------------------------
def fmt_int(value):
    if value is None:
        return "-"
    return "{:,}".format(int(value))


def fmt_pct(value, digits=2):
    if value is None:
        return "-"
    return ("%." + str(digits) + "f%%") % (100.0 * value)


def fmt_change(value):
    if value is None:
        return "new"
    if value == 0:
        return "="
    return ("+" if value > 0 else "-") + fmt_int(abs(value))


def _rate_digits(rate):
    return 3 if rate == "complaint" else 2


def _auth_text(sev):
    return sev if sev else "not checked"


def _unreachable_text(count):
    """``, 2 unreachable`` when IPs could not be read this run (nothing otherwise)."""
    return ", %d unreachable (cap 0)" % count if count else ""


def _stage_text(stage):
    return "warm" if stage is None else "stage %s" % stage


def _providers_text(row):
    """``gmail 2: 80 · microsoft 1: 15 · ...`` -- each provider's own stage and cap today."""
    if row["unreachable"]:
        return "-"
    return " · ".join("%s %s: %s" % (p["provider"], "warm" if p["stage"] is None else p["stage"], fmt_int(p["cap"]))
                      for p in row["provider_rows"])


def _stuck_text(row):
    st = row["stuck"]
    return "%s since %s, %d sending days: %s" % (_stage_text(st["stage"]), st["since"], st["sending_days"], st["why"])


def _listing_text(row):
    if not row["listings"]:
        return "none"
    return ", ".join("%s%s" % (item["zone"], " (critical)" if item["critical"] else "") for item in row["listings"])


# --------------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------------
def _md(text):
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def render_markdown(report):
    """The report as GitHub-flavoured Markdown (ends with one newline)."""
    t = report["totals"]
    out = ["# mailfleet %s report — %s" % (report["kind"], report["date"]), ""]
    out.append("**Fleet:** %d IPs (%d active, %d on standby%s, %d listed) · capacity today **%s/day** (yesterday %s) · "
               "sent yesterday %s" % (t["ips"], t["active"], t["standby"], _unreachable_text(t.get("unreachable")),
                                      t["listed"], fmt_int(t["capacity"]), fmt_int(t["capacity_before"]),
                                      fmt_int(t["sent_yesterday"])))
    out.append("")
    out.append("**Decisions:** " + (", ".join("%s %d" % (a, n) for a, n in t["actions"].items()) or "none"))
    if report.get("stuck"):
        out += ["", "## Stuck IPs — not advanced for too many sending days", "",
                "| IP | tenant | stage | since | sending days | why |", "|---|---|---|---|---:|---|"]
        for r in report["stuck"]:
            st = r["stuck"]
            out.append("| %s |" % " | ".join(_md(x) for x in [
                r["address"], r["tenant"], _stage_text(st["stage"]), st["since"], st["sending_days"], st["why"]]))
    if report.get("health_updated"):
        out.append("")
        out.append("Health checked: %s" % report["health_updated"])
    for tenant in report["tenants"]:
        out += ["", "## Tenant %s — capacity %s/day (%s)" % (
            tenant["name"], fmt_int(tenant["capacity"]),
            "yesterday " + fmt_int(tenant["capacity_before"]) if tenant["capacity_before"] is not None else "new"), ""]
        out.append("%d active IP(s), %d on standby%s; sent yesterday %s." % (
            tenant["ips_active"], tenant["ips_standby"], _unreachable_text(tenant.get("ips_unreachable")),
            fmt_int(tenant["sent_yesterday"])))
        if tenant["domains"]:
            out.append("")
            out.append("DNS authentication: " + "; ".join(
                "%s: %s" % (d["name"], ", ".join("%s %s" % (c.upper(), _auth_text(d["checks"][c])) for c in AUTH_CHECKS))
                for d in tenant["domains"]))
        if not tenant["ips"]:
            out += ["", "No IPs."]
            continue
        out += ["", "| IP | host | stage | cap today | change | providers (stage: cap) | sent yesterday | %s | "
                    "listings | FCrDNS | decision |" % " | ".join(RATE_LABELS[r] for r in RATES),
                "|---|---|---|---:|---:|---|---:|" + "---:|" * len(RATES) + "---|---|---|"]
        for r in tenant["ips"]:
            rates = []
            for rate in RATES:
                text = fmt_pct(r["rates"][rate], _rate_digits(rate))
                if r["rate_status"][rate] == "over":
                    text = "**%s** ⚠" % text
                rates.append(text)
            out.append("| %s |" % " | ".join(_md(x) for x in [
                r["address"], r["host"], r["stage_label"] + (" (standby)" if r["standby"] else "")
                + (" (stuck)" if r["stuck"] else ""),
                fmt_int(r["daily"]), fmt_change(r["cap_change"]), _providers_text(r), fmt_int(r["sent_yesterday"])]
                + rates + [
                _listing_text(r), _auth_text(r["fcrdns"]), r["action"]]))
        out += ["", "Why:", ""]
        for r in tenant["ips"]:
            out.append("- **%s** — %s: %s" % (r["address"], r["action"], _md(r["reason"])))
        out += ["", "Cap / sent over the last %d days:" % len(report["days"]), ""]
        out.append("| day | %s |" % " | ".join(r["address"] for r in tenant["ips"]))
        out.append("|---|" + "---:|" * len(tenant["ips"]))
        for i, day in enumerate(report["days"]):
            cells = []
            for r in tenant["ips"]:
                h = r["history"][i]
                cells.append("%s / %s" % (fmt_int(h["cap"]), "…" if day == report["date"] else fmt_int(h["sent"])))
            out.append("| %s | %s |" % (day, " | ".join(cells)))
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------
# HTML (self-contained: inline CSS and SVG, no script, no external asset)
# --------------------------------------------------------------------------------------------
CSS = """
body{font:14px/1.45 -apple-system,"Segoe UI",Roboto,"DejaVu Sans",Arial,sans-serif;margin:24px;color:#1f2328;background:#fff}
h1{font-size:22px;margin:0 0 8px}h2{font-size:18px;margin:28px 0 6px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
h3{font-size:15px;margin:14px 0 4px}
.summary{display:flex;flex-wrap:wrap;gap:10px;margin:10px 0}
.card{border:1px solid #d0d7de;border-radius:6px;padding:8px 12px;min-width:120px;background:#f6f8fa}
.card b{display:block;font-size:20px}
table{border-collapse:collapse;margin:8px 0;width:100%}
th,td{border:1px solid #d0d7de;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#1a7f37}.warn,.near{color:#9a6700;font-weight:600}.fail,.over{color:#cf222e;font-weight:700}
.none{color:#6e7781}
.badge{display:inline-block;border-radius:10px;padding:0 8px;font-size:12px;border:1px solid #d0d7de}
.a-advance,.a-warm{background:#dafbe1}.a-hold,.a-pinned,.a-new{background:#fff8c5}
.a-step_back,.a-rewarm{background:#ffebe9}.a-standby{background:#ffcecb}.a-resume{background:#ddf4ff}
.reason{color:#57606a;font-size:12px}
.charts{display:flex;flex-wrap:wrap;gap:12px}
.chart{border:1px solid #d0d7de;border-radius:6px;padding:6px}
.legend{font-size:12px;color:#57606a}
.sw{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px;vertical-align:middle}
""".strip()


def _e(text):
    return html.escape(str(text), quote=True)


def _sev_span(sev):
    cls = sev if sev in _RANK else "none"
    return '<span class="%s">%s</span>' % (cls, _e(_auth_text(sev)))


def _nice_max(value):
    """Round an axis maximum up to 1, 2 or 5 x 10^n."""
    value = max(int(value or 0), 1)
    mag = 1
    while mag * 10 <= value:
        mag *= 10
    for step in (1, 2, 5, 10):
        if step * mag >= value:
            return step * mag
    return 10 * mag  # pragma: no cover


def chart_svg(row, days, today, width=460, height=170):
    """Inline SVG: sent per day (bars) and the cap in force (step line) for one IP."""
    left, right, top, bottom = 52, 8, 10, 26
    pw, ph = width - left - right, height - top - bottom
    hist = row["history"]
    ymax = _nice_max(max([h["cap"] or 0 for h in hist] + [h["sent"] or 0 for h in hist]))
    n = max(len(hist), 1)
    slot = pw / n

    def y(v):
        return top + ph - ph * (float(v) / ymax)

    parts = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" '
             'aria-label="cap and sent per day for %s">' % (width, height, width, height, _e(row["address"]))]
    parts.append('<rect x="%d" y="%d" width="%d" height="%d" fill="#ffffff" stroke="#d0d7de"/>' % (left, top, pw, ph))
    for frac in (0.5, 1.0):
        yy = y(ymax * frac)
        parts.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eaeef2"/>' % (left, yy, left + pw, yy))
        parts.append('<text x="%d" y="%.1f" font-size="10" text-anchor="end" fill="#57606a">%s</text>' % (
            left - 4, yy + 3, fmt_int(ymax * frac)))
    parts.append('<text x="%d" y="%.1f" font-size="10" text-anchor="end" fill="#57606a">0</text>' % (left - 4, y(0) + 3))
    for i, h in enumerate(hist):
        x0 = left + i * slot
        if h["day"] == today:
            parts.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="#f6f8fa"/>' % (x0, top + 1, slot, ph - 1))
        if h["sent"]:
            over = h["cap"] is not None and h["sent"] > h["cap"]
            parts.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s sent %s</title></rect>' % (
                x0 + slot * 0.15, y(h["sent"]), slot * 0.7, y(0) - y(h["sent"]), "#cf222e" if over else "#54aeff",
                _e(h["day"]), fmt_int(h["sent"])))
    # cap: a step line, interrupted where the history has no cap
    seg = []
    segments = []
    for i, h in enumerate(hist):
        if h["cap"] is None:
            if seg:
                segments.append(seg)
            seg = []
            continue
        x0, x1 = left + i * slot, left + (i + 1) * slot
        seg += [(x0, y(h["cap"])), (x1, y(h["cap"]))]
    if seg:
        segments.append(seg)
    for seg in segments:
        parts.append('<polyline fill="none" stroke="#bc4c00" stroke-width="2" points="%s"/>' % " ".join(
            "%.1f,%.1f" % p for p in seg))
    label_idx = sorted({0, len(hist) // 2, len(hist) - 1}) if hist else []
    for i in label_idx:
        parts.append('<text x="%.1f" y="%d" font-size="10" text-anchor="middle" fill="#57606a">%s</text>' % (
            left + (i + 0.5) * slot, height - 8, _e(hist[i]["day"][5:])))
    parts.append("</svg>")
    return "".join(parts)


def render_html(report):
    """The report as one self-contained HTML page (inline CSS and SVG; no script, no external asset)."""
    t = report["totals"]
    title = "mailfleet %s report — %s" % (report["kind"], report["date"])
    out = ['<!DOCTYPE html>', '<html lang="en">', '<head>', '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           '<title>%s</title>' % _e(title), '<style>%s</style>' % CSS, '</head>', '<body>',
           '<h1>%s</h1>' % _e(title)]
    out.append('<div class="summary">')
    cards = [("IPs", fmt_int(t["ips"])), ("active", fmt_int(t["active"])), ("on standby", fmt_int(t["standby"]))]
    if t.get("unreachable"):
        cards.append(("unreachable (cap 0)", fmt_int(t["unreachable"])))
    if t.get("stuck"):
        cards.append(("stuck", fmt_int(t["stuck"])))
    cards += [("listed", fmt_int(t["listed"])), ("capacity today", fmt_int(t["capacity"]) + "/day"),
              ("capacity yesterday", fmt_int(t["capacity_before"])), ("sent yesterday", fmt_int(t["sent_yesterday"]))]
    for label, value in cards:
        out.append('<div class="card">%s<b>%s</b></div>' % (_e(label), _e(value)))
    out.append('</div>')
    out.append('<p>Decisions: %s</p>' % (" ".join(
        '<span class="badge a-%s">%s %d</span>' % (_e(a), _e(a), n) for a, n in t["actions"].items()) or "none"))
    if report.get("stuck"):
        out.append('<h2 class="fail">Stuck IPs — not advanced for too many sending days</h2>')
        out.append('<table><tr><th>IP</th><th>tenant</th><th>stage</th><th>since</th><th>sending days</th>'
                   '<th>why</th></tr>')
        for r in report["stuck"]:
            st = r["stuck"]
            out.append('<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td class="n">%d</td><td>%s</td></tr>' % (
                _e(r["address"]), _e(r["tenant"]), _e(_stage_text(st["stage"])), _e(st["since"]),
                st["sending_days"], _e(st["why"])))
        out.append('</table>')
    if report.get("health_updated"):
        out.append('<p class="reason">Health checked: %s</p>' % _e(report["health_updated"]))
    for tenant in report["tenants"]:
        out.append('<h2>Tenant %s — capacity %s/day <span class="reason">(%s)</span></h2>' % (
            _e(tenant["name"]), fmt_int(tenant["capacity"]),
            _e("yesterday " + fmt_int(tenant["capacity_before"]) if tenant["capacity_before"] is not None else "new")))
        out.append('<p>%d active IP(s), %d on standby%s; sent yesterday %s.</p>' % (
            tenant["ips_active"], tenant["ips_standby"], _e(_unreachable_text(tenant.get("ips_unreachable"))),
            fmt_int(tenant["sent_yesterday"])))
        if tenant["domains"]:
            out.append('<table><tr><th>domain</th>%s</tr>' % "".join("<th>%s</th>" % c.upper() for c in AUTH_CHECKS))
            for d in tenant["domains"]:
                out.append('<tr><td>%s</td>%s</tr>' % (_e(d["name"]), "".join(
                    "<td>%s</td>" % _sev_span(d["checks"][c]) for c in AUTH_CHECKS)))
            out.append('</table>')
        if not tenant["ips"]:
            out.append('<p>No IPs.</p>')
            continue
        out.append('<table><tr><th>IP</th><th>host</th><th>stage</th><th>cap today</th><th>change</th>'
                   '<th>providers (stage: cap)</th><th>sent yesterday</th>%s'
                   '<th>listings</th><th>FCrDNS</th><th>decision and reason</th></tr>' % "".join(
                       "<th>%s</th>" % _e(RATE_LABELS[r]) for r in RATES))
        for r in tenant["ips"]:
            cells = ['<td>%s<div class="reason">%s</div></td>' % (_e(r["address"]), _e(r["hostname"])),
                     '<td>%s</td>' % _e(r["host"]),
                     '<td>%s%s%s</td>' % (_e(r["stage_label"]), ' <span class="fail">standby</span>' if r["standby"] else "",
                                          ' <span class="fail">stuck</span>' if r["stuck"] else ""),
                     '<td class="n">%s</td>' % fmt_int(r["daily"]),
                     '<td class="n">%s</td>' % _e(fmt_change(r["cap_change"])),
                     '<td class="reason">%s</td>' % "<br>".join(
                         _e("%s %s: %s/day" % (p["provider"], "warm" if p["stage"] is None else "stage %s" % p["stage"],
                                               fmt_int(p["cap"]))) for p in r["provider_rows"]) if not r["unreachable"]
                     else '<td>-</td>',
                     '<td class="n">%s</td>' % fmt_int(r["sent_yesterday"])]
            for rate in RATES:
                st = r["rate_status"][rate]
                cells.append('<td class="n %s" title="threshold %s">%s</td>' % (
                    st, _e(fmt_pct(r["thresholds"][rate], _rate_digits(rate))),
                    _e(fmt_pct(r["rates"][rate], _rate_digits(rate)))))
            if r["listings"]:
                lst = "<br>".join('<span class="%s">%s</span>%s' % (
                    "fail" if item["critical"] else "warn", _e(item["zone"]),
                    _e(" since %s" % item["since"]) if item["since"] else "") for item in r["listings"])
            else:
                lst = '<span class="ok">none</span>'
            cells.append('<td>%s</td>' % lst)
            cells.append('<td>%s</td>' % _sev_span(r["fcrdns"]))
            cells.append('<td><span class="badge a-%s">%s</span><div class="reason">%s</div></td>' % (
                _e(r["action"]), _e(r["action"]), _e(r["reason"])))
            out.append('<tr>%s</tr>' % "".join(cells))
        out.append('</table>')
        out.append('<h3>Cap vs sent, last %d days</h3>' % len(report["days"]))
        out.append('<div class="legend"><span class="sw" style="background:#bc4c00"></span>cap in force'
                   '<span class="sw" style="background:#54aeff"></span>sent'
                   '<span class="sw" style="background:#cf222e"></span>sent over the cap'
                   '<span class="sw" style="background:#f6f8fa;border:1px solid #d0d7de"></span>today</div>')
        out.append('<div class="charts">')
        for r in tenant["ips"]:
            out.append('<div class="chart"><div><b>%s</b> <span class="reason">%s · %s</span></div>%s</div>' % (
                _e(r["address"]), _e(r["stage_label"]), _e(r["action"]),
                chart_svg(r, report["days"], report["date"])))
        out.append('</div>')
    out += ['</body>', '</html>']
    return "\n".join(out) + "\n"
