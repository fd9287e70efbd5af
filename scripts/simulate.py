#!/usr/bin/env python3
"""Warmup simulation: run the real planner (``plan_fleet``) day by day over synthetic outcomes.

    .venv/bin/python scripts/simulate.py --scenario admin-away --days 60 --out .work/sim
    .venv/bin/python scripts/simulate.py --scenario all --out .work/sim

For each day: the planner runs (unless the scenario says the run was missed; several times a day
when the scenario gives run ``hours``), PowerMTA sends with the caps in force (the last planned
ones: a missed run leaves the previous config in place; with several runs, each run's caps for
its part of the day), the receivers answer with the scenario's bounce / complaint / deferral
rates, and the outcome is added to the ledger in the compact form the accounting parser produces
(reply classes included: throttling deferrals are ``rate_limited``, blocks ``reputation``, failed
authentication ``auth``, as ``replies.classify`` gives them for the real replies). Stuck IPs are
alerted once per stage (``warmup.stuck_events``, deduplicated by id like the alert module).
A scenario with ``dnsbl`` answers runs the real health engine (``health.evaluate_dnsbl``: a
critical listing puts the IP on standby, ``resume_after`` clean checks in a row lift it). Prints a
trajectory table and writes ``DIR/NAME.svg`` (cap and sent per IP) and ``DIR/NAME.json`` (the
trajectory). Deterministic: the synthetic noise uses a fixed seed.
"""
from __future__ import absolute_import, division, print_function

import argparse
import datetime
import json
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if os.path.join(ROOT, "collections") not in sys.path:
    sys.path.insert(0, os.path.join(ROOT, "collections"))

from ansible_collections.mailfleet.fleet.plugins.module_utils import capacity  # noqa: E402
from ansible_collections.mailfleet.fleet.plugins.module_utils import health as health_engine  # noqa: E402
from ansible_collections.mailfleet.fleet.plugins.module_utils.schedule import normalize_schedule  # noqa: E402
from ansible_collections.mailfleet.fleet.plugins.module_utils.warmup import plan_fleet, stuck_events  # noqa: E402

START = datetime.date(2024, 3, 4)
# The team's plan (seed 002): 50 -> 200 -> 500 -> 1500 -> 5000 -> 10000 a day, a stage a week.
TEAM_SCHEDULE = {
    "name": "team",
    "stages": [50, 200, 500, 1500, 5000, 10000],
    "min_days": 7,
    "full_rate": 10000,
    "providers": {"gmail": {"share": 0.45}, "microsoft": {"share": 0.35}, "yahoo": {"cap": 2000}},
}
MIX = {"gmail": 0.40, "microsoft": 0.25, "yahoo": 0.15, "other": 0.20}
# per attempt: hard / soft bounces, deferrals (greylisting, slow MX: class other), complaints per
# delivered; throttle = deferrals classed rate_limited (Gmail 421-4.7.28), block = soft bounces
# classed reputation, auth = soft bounces classed auth (5.7.26 unauthenticated)
BASE = {"hard": 0.005, "soft": 0.003, "deferral": 0.03, "complaint": 0.0005, "throttle": 0.0, "block": 0.0,
        "auth": 0.0}
DEMAND = 12000
IP1 = "192.0.2.10"
IP2 = "192.0.2.11"


def _in(day, lo, hi):
    return lo <= day <= hi


# Scenario: ips (address -> warmup_start offset), days, and per-day hooks (day index -> value).
SCENARIOS = {
    "happy-path": {
        "description": "Two IPs, steady demand and clean lists: one stage a week, warm after six weeks; "
                       "the second IP starts ten days later (warmup_start).",
        "ips": {IP1: 0, IP2: 10},
        "days": 60,
    },
    "admin-away": {
        "description": "No planner run for a week (days 15-21, the seed's 'admin on holiday'). PowerMTA keeps "
                       "the last caps; on return the IP moves at most one stage, never to 1500/day at once.",
        "ips": {IP1: 0},
        "days": 50,
        "skip_run": lambda d: _in(d, 15, 21),
    },
    "bounce-spike": {
        "description": "A stale list is imported on days 24-25: 6% hard bounces. The IP steps back one "
                       "stage, then climbs again once clean.",
        "ips": {IP1: 0},
        "days": 60,
        "rates": lambda d, p: {"hard": 0.06} if _in(d, 24, 25) else {},
    },
    "complaint-burst": {
        "description": "Yahoo recipients complain (0.7%) on days 22-26 while the other providers are clean: "
                       "Yahoo's cap is halved and the IP holds; it advances again once the window is clean.",
        "ips": {IP1: 0},
        "days": 60,
        "rates": lambda d, p: {"complaint": 0.007} if p == "yahoo" and _in(d, 22, 26) else {},
    },
    "blacklisted": {
        "description": "Listed on zen.spamhaus.org on days 30-33: standby (cap 0, out of the pool), then "
                       "resume one stage lower.",
        "ips": {IP1: 0},
        "days": 60,
        "health": lambda d: ({"standby": True, "reason": "DNSBL listing", "listed": ["zen.spamhaus.org"]}
                             if _in(d, 30, 33) else {"standby": False, "reason": "", "listed": []}),
    },
    "listed-for-hours": {
        "description": "Health runs every 4 hours with the warmup planner. Listed on zen.spamhaus.org at 00h on "
                       "day 35 only (the day it would advance): standby at once; clean at 04h, 08h and 12h, so "
                       "the 12h run resumes the same day one stage lower (exactly as when a listing clears the "
                       "next day), never advancing that day.",
        "ips": {IP1: 0},
        "days": 60,
        "hours": [0, 4, 8, 12, 16, 20],
        "dnsbl": lambda d, h: "listed" if (d, h) == (35, 0) else "clean",
    },
    "pause-30-days": {
        "description": "The tenant stops sending on days 30-59: after 21 idle days the IP is re-warmed "
                       "two stages lower, and climbs again when sending resumes.",
        "ips": {IP1: 0},
        "days": 90,
        "demand": lambda d: 0 if _in(d, 30, 59) else DEMAND,
    },
    "soft-bounces": {
        "description": "Half of every day's mail soft-bounces (a list of full and blocking mailboxes): the IP "
                       "uses its whole cap but delivers 50 %, so no day is full -- it holds at stage 1 (it "
                       "went warm on day 42 when bounces counted as fill), is reported stuck after 10 sending "
                       "days and alerted once.",
        "ips": {IP1: 0},
        "days": 60,
        "rates": lambda d, p: {"soft": 0.5},
    },
    "fill-89": {
        "description": "The tenant's demand is 89 % of the first stage every day: never full, stuck after 10 "
                       "sending days, one alert for the whole episode (not one a day).",
        "ips": {IP1: 0},
        "days": 40,
        "demand": lambda d: 45,
    },
    "gmail-throttling": {
        "description": "Gmail throttles the IP on days 24-26 (40 % of its tries deferred 421-4.7.28, classed "
                       "rate_limited): the next run steps Gmail's cap back alone (its throttling/reputation "
                       "rate is over 5 %), Microsoft, Yahoo and the rest keep theirs, the IP holds; Gmail climbs "
                       "again once its window is clean.",
        "ips": {IP1: 0},
        "days": 60,
        "rates": lambda d, p: {"throttle": 0.4} if p == "gmail" and _in(d, 24, 26) else {},
    },
    "auth-failure": {
        "description": "The DKIM key is lost on day 24 (fixed after 2 days): 8 % of the mail bounces 5.7.26 "
                       "unauthenticated (classed auth) at every provider: the IP steps back and the reason "
                       "names the authentication failures.",
        "ips": {IP1: 0},
        "days": 50,
        "rates": lambda d, p: {"auth": 0.08} if _in(d, 24, 25) else {},
    },
    "new-provider": {
        "description": "For four weeks the tenant's list has no Microsoft or Yahoo recipient (Gmail 45 %, small "
                       "domains 55 %); on day 28 it gains them. The IP is at stage 5 by then, Gmail and the small "
                       "domains too, but Microsoft and Yahoo start at their first stage and climb one stage a week "
                       "on their own deliveries: a provider never sent to is never given a warm IP's share. Meanwhile the IP "
                       "cannot fill its own stage (their mail waits in PowerMTA's queues): it is reported stuck once, "
                       "the reason naming the providers below its stage.",
        "ips": {IP1: 0},
        "days": 60,
        "mix": lambda d: {"gmail": 0.45, "other": 0.55} if d < 28 else MIX,
    },
}


def _model(ips):
    schedule, errors = normalize_schedule(TEAM_SCHEDULE)
    assert not errors, errors
    model_ips = {}
    for address, offset in sorted(ips.items()):
        model_ips[address] = {"address": address, "version": 4, "hostname": "mta.example.test",
                              "tenant": "acme", "vmta": "acme-" + address.replace(".", "-"),
                              "pool": "acme-pool", "warmup_start": (START + datetime.timedelta(days=offset)).isoformat(),
                              "schedule": "team", "overrides": {}, "host": "pmta1"}
    return {"tenants": {"acme": {"pool": "acme-pool", "schedule": "team"}},
            "schedules": {"team": schedule}, "hosts": {"pmta1": {"ips": list(model_ips.values())}},
            "ips": model_ips, "providers": {}}


def _send(caps, demand, rates, rng, mix=None):
    """What PowerMTA sends with these caps -> ledger day {provider: counters (reply classes too)}."""
    if caps is None or caps["standby"] or caps["daily"] <= 0 or demand <= 0:
        return {}
    mix = mix or MIX
    want = {p: min(int(demand * mix.get(p, 0)), caps["providers"][p]) for p in MIX}
    total = sum(want.values())
    if total > caps["daily"]:
        scale = caps["daily"] / total
        want = {p: int(v * scale) for p, v in want.items()}
    day = {}
    for prov in sorted(want):
        sent = want[prov]
        if sent <= 0:
            continue
        r = dict(BASE)
        r.update(rates(prov))
        noise = lambda x: max(0.0, x * (1 + rng.uniform(-0.2, 0.2)))  # noqa: E731
        hard = min(sent, int(round(sent * noise(r["hard"]))))
        block = min(sent - hard, int(round(sent * noise(r["block"]))))
        auth = min(sent - hard - block, int(round(sent * noise(r["auth"]))))
        soft_other = min(sent - hard - block - auth, int(round(sent * noise(r["soft"]))))
        delivered = sent - hard - block - auth - soft_other
        deferred_other = int(round(sent * noise(r["deferral"])))
        throttled = int(round(sent * noise(r["throttle"])))
        classes = {"rate_limited": throttled, "reputation": block, "content": 0, "auth": auth,
                   "mailbox_unknown": hard, "mailbox_full": soft_other, "other": deferred_other}
        day[prov] = {"delivered": delivered, "hard_bounce": hard, "soft_bounce": block + auth + soft_other,
                     "deferred": deferred_other + throttled,
                     "complaint": int(round(delivered * noise(r["complaint"]))), "classes": classes}
    return day


ZONES = [{"zone": "zen.spamhaus.org", "critical": True}]


def _dnsbl_health(state, model, answer, now):
    """One health run of the real engine: ``answer`` (listed/clean) for every IP on the zone."""
    results = [{"ip": ip, "zone": "zen.spamhaus.org", "status": answer,
                "code": "127.0.0.2" if answer == "listed" else None} for ip in sorted(model["ips"])]
    state, _events = health_engine.evaluate_dnsbl(state, results, ZONES, now, resume_after=3)
    return state, health_engine.planner_view(state)


def _part(value, start, end):
    """The share of a daily ``value`` between hours ``start`` and ``end`` (cumulative rounding, so
    the parts of a day add up to the whole)."""
    return int(round(value * end / 24.0)) - int(round(value * start / 24.0))


def _day_cap(slices, ip):
    """What PowerMTA lets an IP send over a day whose caps changed at each run: each run's daily
    rate for its part of the day, summed (the caps of the day's only run when there is one)."""
    caps = [(start, end, in_force.get(ip)) for start, end, in_force in slices]
    if len(caps) == 1 or any(cap is None for _s, _e, cap in caps):
        return caps[-1][2]
    last = caps[-1][2]
    daily = sum(0 if cap["standby"] else _part(cap["daily"], start, end) for start, end, cap in caps)
    providers = {p: sum(0 if cap["standby"] else _part(cap["providers"][p], start, end) for start, end, cap in caps)
                 for p in last["providers"]}
    return dict(last, daily=daily, providers=providers, standby=daily == 0)


def run_scenario(name, days=None):
    """Run a scenario; returns {"name", "description", "rows": [...], "schedule", "alerts"}.

    One row per day and IP; with several runs a day, ``runs`` lists each run's hour, action,
    stage and cap, and the row's action / stage / cap are those of the day's last run. ``alerts``
    are the ``ip_stuck`` events, each sent once (deduplicated by id, as the alert module does)."""
    sc = SCENARIOS[name]
    days = days or sc["days"]
    model = _model(sc["ips"])
    rng = random.Random(20240304)
    states, ledgers, caps = {}, {ip: {} for ip in model["ips"]}, {}
    hours = sc.get("hours", [0])
    health_state = {}
    rows = []
    alerts, sent_ids = [], set()
    for d in range(days):
        today = START + datetime.timedelta(days=d)
        today_s = today.isoformat()
        ran = not sc.get("skip_run", lambda _d: False)(d)
        decisions = {}
        runs = {ip: [] for ip in model["ips"]}
        slices = []  # (start hour, end hour, caps in force)
        for i, hour in enumerate(hours):
            if "dnsbl" in sc:
                health_state, health = _dnsbl_health(health_state, model, sc["dnsbl"](d, hour),
                                                     "%sT%02d:00:00Z" % (today_s, hour))
            elif "health" in sc:
                health = {ip: sc["health"](d) for ip in model["ips"]}
            else:
                health = {}
            if ran:
                states, caps, report = plan_fleet(model, states, ledgers, health, today)
                decisions = report["ips"]
                for event in stuck_events(report):
                    if event["id"] not in sent_ids:
                        sent_ids.add(event["id"])
                        alerts.append(dict(event, day=d))
                for ip, dec in decisions.items():
                    runs[ip].append({"hour": hour, "action": dec["action"], "cap": dec["daily"],
                                     "stage": "warm" if dec["stage"] is None else dec["stage"]})
            slices.append((hour if i else 0, hours[i + 1] if i + 1 < len(hours) else 24, dict(caps)))
        demand = sc.get("demand", lambda _d: DEMAND)(d)
        for ip in sorted(model["ips"]):
            cap = caps.get(ip)
            outcome = _send(_day_cap(slices, ip), demand,
                            lambda p, _d=d: sc.get("rates", lambda _x, _p: {})(_d, p), rng,
                            sc.get("mix", lambda _d: MIX)(d))
            if outcome:
                ledgers[ip][today_s] = outcome
            sent = capacity.day_totals(outcome)["attempted"]
            hard = sum(v["hard_bounce"] for v in outcome.values())
            comp = sum(v["complaint"] for v in outcome.values())
            dec = decisions.get(ip)
            rows.append({
                "day": d, "date": today_s, "ip": ip, "ran": ran,
                "action": dec["action"] if dec else "(no run)",
                "stage": (dec["stage"] if dec["stage"] is not None else "warm") if dec else
                         (("warm" if cap["stage"] is None else cap["stage"]) if cap else None),
                "cap": cap["daily"] if cap else 0,
                "providers": dict(cap["providers"]) if cap else {},
                "standby": bool(cap and cap["standby"]),
                "sent": sent,
                "delivered": sum(v["delivered"] for v in outcome.values()),
                "provider_stages": dict(dec.get("provider_stages") or {}) if dec else {},
                "stuck": bool(dec and dec.get("stuck")),
                "hard_rate": round(hard / sent, 4) if sent else 0.0,
                "complaint_rate": round(comp / max(1, sent - hard), 5) if sent else 0.0,
                "reason": dec["reason"] if dec else "planner did not run: PowerMTA keeps yesterday's caps",
            })
            if len(hours) > 1:
                rows[-1]["runs"] = runs[ip]
    return {"name": name, "description": sc["description"], "rows": rows, "schedule": TEAM_SCHEDULE,
            "alerts": alerts}


def calendar_stage(day):
    """Stage number (1-based) a calendar plan (the seed's 'week N -> volume') gives on day index ``day``."""
    return min(day // 7, len(TEAM_SCHEDULE["stages"]) - 1) + 1


def table(result):
    lines = ["%s: %s" % (result["name"], result["description"]),
             "%-4s %-10s %-12s %-10s %-5s %6s %6s %6s %7s  %s" % (
                 "day", "date", "ip", "action", "stage", "cap", "sent", "hard%", "compl%", "reason")]
    for r in result["rows"]:
        lines.append("%-4d %-10s %-12s %-10s %-5s %6d %6d %6.2f %7.3f  %s" % (
            r["day"], r["date"], r["ip"], r["action"], r["stage"], r["cap"], r["sent"],
            100 * r["hard_rate"], 100 * r["complaint_rate"], r["reason"]))
    return "\n".join(lines)


def svg(result, width=960, height=420):
    """Stdlib SVG: per IP, the cap (step line) and what was sent (dots); shaded missed runs / standby."""
    rows = result["rows"]
    ips = sorted({r["ip"] for r in rows})
    days = max(r["day"] for r in rows) + 1
    ymax = max([r["cap"] for r in rows] + [r["sent"] for r in rows] + [1])
    left, right, top, bottom = 70, 20, 40, 50
    pw, ph = width - left - right, height - top - bottom

    def x(d):
        return left + pw * d / max(1, days)

    def y(v):
        return top + ph - ph * v / ymax

    colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" '
           'font-size="11">' % (width, height),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="20" font-size="14">%s</text>' % (left, _esc("warmup simulation: " + result["name"]))]
    for r in rows:
        if r["ip"] != ips[0]:
            continue
        if not r["ran"]:
            out.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="#fde9b8"/>' % (
                x(r["day"]), top, x(1) - x(0), ph))
    for i, ip in enumerate(ips):
        for r in rows:
            if r["ip"] == ip and r["standby"] and r["ran"] and r["action"] == "standby":
                out.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="#f4c7c3" opacity="0.6"/>' % (
                    x(r["day"]), top, x(1) - x(0), ph))
    for frac in (0, 0.25, 0.5, 0.75, 1.0):
        v = ymax * frac
        out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>' % (left, left + pw, y(v), y(v)))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%d</text>' % (left - 5, y(v) + 4, v))
    for d in range(0, days, 7):
        out.append('<text x="%.1f" y="%d" text-anchor="middle">d%d</text>' % (x(d), top + ph + 15, d))
    out.append('<text x="%d" y="%d">day (shaded: planner not run; red: standby)</text>' % (left, height - 10))
    for i, ip in enumerate(ips):
        color = colors[i % len(colors)]
        pts = []
        for r in (r for r in rows if r["ip"] == ip):
            pts.append("%.1f,%.1f %.1f,%.1f" % (x(r["day"]), y(r["cap"]), x(r["day"] + 1), y(r["cap"])))
        out.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' % (color, " ".join(pts)))
        for r in (r for r in rows if r["ip"] == ip):
            out.append('<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s" opacity="0.6"/>' % (
                x(r["day"] + 0.5), y(r["sent"]), color))
        out.append('<text x="%d" y="%d" fill="%s">%s: line = daily cap, dots = sent</text>' % (
            left + pw - 260, top + 15 + 14 * i, color, ip))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _esc(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def max_daily_stage_jump(result):
    """Largest stage increase between two consecutive days for any IP ('warm' = len(stages) + 1)."""
    n = len(TEAM_SCHEDULE["stages"]) + 1
    worst = 0
    prev = {}
    for r in result["rows"]:
        st = n if r["stage"] == "warm" else r["stage"]
        if st is None:
            continue
        if r["ip"] in prev:
            worst = max(worst, st - prev[r["ip"]])
        prev[r["ip"]] = st
    return worst


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="all", choices=sorted(SCENARIOS) + ["all"])
    ap.add_argument("--days", type=int, default=None, help="days to simulate (default: the scenario's)")
    ap.add_argument("--out", default=os.path.join(ROOT, ".work", "sim"), help="output directory")
    ap.add_argument("--quiet", action="store_true", help="print only the summary lines")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    names = sorted(SCENARIOS) if args.scenario == "all" else [args.scenario]
    for name in names:
        result = run_scenario(name, args.days)
        if not args.quiet:
            print(table(result))
        svg_path = os.path.join(args.out, name + ".svg")
        with open(svg_path, "w") as fh:
            fh.write(svg(result))
        with open(os.path.join(args.out, name + ".json"), "w") as fh:
            json.dump(result["rows"], fh, sort_keys=True, indent=1)
            fh.write("\n")
        total = sum(r["sent"] for r in result["rows"])
        last = [r for r in result["rows"] if r["day"] == result["rows"][-1]["day"]]
        print("== %s: %d days, %d sent, max stage jump in one day: %d, final cap %s, providers %s, "
              "stuck alerts %d; chart %s" % (
                  name, len({r["day"] for r in result["rows"]}), total, max_daily_stage_jump(result),
                  {r["ip"]: r["cap"] for r in last}, {r["ip"]: r["providers"] for r in last},
                  len(result["alerts"]), svg_path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
