#!/usr/bin/env python3
"""Benchmark of the warmup planner: plan 5,000 IPs with 90 days of ledger each.

Rows ``{"benchmark", "case", "metric", "value", "ratio"}``. Ratios are against numbers measured in
the same run: planning vs merely iterating every ledger counter once (the floor any planner pays),
and per-IP cost at 5,000 IPs vs 500 IPs (linear scaling gives ~1.0).
"""
from __future__ import absolute_import, division, print_function

import datetime
import os
import random
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if os.path.join(ROOT, "collections") not in sys.path:
    sys.path.insert(0, os.path.join(ROOT, "collections"))

from ansible_collections.mailfleet.fleet.plugins.module_utils.schedule import normalize_schedule  # noqa: E402
from ansible_collections.mailfleet.fleet.plugins.module_utils.states import (  # noqa: E402
    dump_states, load_states, observe_fleet, read_state_file)
from ansible_collections.mailfleet.fleet.plugins.module_utils.warmup import plan_fleet  # noqa: E402

TODAY = datetime.date(2024, 6, 1)
DAYS = 90
PROVS = ("gmail", "microsoft", "yahoo", "other")


def build(n_ips, seed=7):
    """A fleet model, states and 90-day ledgers for ``n_ips`` IPs (deterministic)."""
    rng = random.Random(seed)
    schedule, errors = normalize_schedule({
        "stages": [50, 200, 500, 1500, 5000, 10000], "min_days": 7, "full_rate": 10000,
        "providers": {"gmail": 0.45, "microsoft": 0.35, "yahoo": {"cap": 2000}}})
    assert not errors
    ips, states, ledgers, health = {}, {}, {}, {}
    for i in range(n_ips):
        addr = "2001:db8:%x::%x" % (i >> 16, (i & 0xffff) + 1)  # documentation range
        tenant = "t%d" % (i % 20)
        ips[addr] = {"address": addr, "tenant": tenant, "schedule": "team", "host": "pmta%d" % (i % 50),
                     "warmup_start": "2024-01-01", "overrides": {}}
        stage = rng.randint(0, 6)
        since = (TODAY - datetime.timedelta(days=rng.randint(1, 14))).isoformat()
        states[addr] = {"version": 1, "stage_index": stage, "stage_since": since, "standby": False,
                        "standby_since": None, "last_sent": None, "rewarm": None,
                        "planned_on": (TODAY - datetime.timedelta(days=1)).isoformat(), "action": "hold",
                        "daily": 0, "base": None}
        vol = [50, 200, 500, 1500, 5000, 10000, 10000][stage]
        led = {}
        for d in range(DAYS, 0, -1):
            if rng.random() < 0.1:
                continue
            day = {}
            for p, share in zip(PROVS, (0.4, 0.25, 0.15, 0.2)):
                sent = int(vol * share * rng.uniform(0.85, 1.0))
                hard = int(sent * rng.choice((0.002, 0.005, 0.01, 0.03)))
                day[p] = {"delivered": sent - hard, "hard_bounce": hard, "soft_bounce": sent // 300,
                          "deferred": sent // 30, "complaint": int(sent * rng.choice((0, 0.0005, 0.002)))}
            led[(TODAY - datetime.timedelta(days=d)).isoformat()] = day
        ledgers[addr] = led
        if rng.random() < 0.01:
            health[addr] = {"standby": True, "reason": "DNSBL listing", "listed": ["zen.spamhaus.org"]}
    model = {"tenants": {"t%d" % i: {"schedule": "team"} for i in range(20)}, "schedules": {"team": schedule},
             "ips": ips, "hosts": {}}
    return model, states, ledgers, health


def observed_by_host(model, states, ledgers):
    """What the fleet_state role would publish for each host (``model`` gets its ``hosts``)."""
    hosts = {}
    for addr, ip in sorted(model["ips"].items()):
        hosts.setdefault(ip["host"], {"ips": []})["ips"].append(ip)
    model["hosts"] = hosts
    out = {}
    for host, hinfo in hosts.items():
        addrs = [ip["address"] for ip in hinfo["ips"]]
        read = read_state_file(dump_states({a: states[a] for a in addrs}))
        out[host] = {"warmup": read["states"], "warmup_file": {"path": "warmup-state.json", "problems": read["problems"],
                                                               "refused": read["refused"]},
                     "health": {}, "health_file": {"path": "health-state.json", "problems": [], "refused": {}},
                     "ledger": {a: ledgers[a] for a in addrs}, "ledger_read": True}
    return out


def iterate_ledgers(ledgers):
    total = 0
    for led in ledgers.values():
        for day in led.values():
            for rec in day.values():
                total += rec["delivered"] + rec["hard_bounce"] + rec["soft_bounce"] + rec["deferred"] + rec["complaint"]
    return total


def timed(fn, *args, repeat=3):
    best, out = None, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*args)
        dt = time.perf_counter() - t0
        best = dt if best is None or dt < best else best
    return best, out


def run(quick=False):
    big, small = (500, 50) if quick else (5000, 500)
    repeat = 1 if quick else 3
    rows = []
    model, states, ledgers, health = build(big)
    t_iter, _ = timed(iterate_ledgers, ledgers, repeat=repeat)
    t_plan, (new_states, caps, report) = timed(plan_fleet, model, states, ledgers, health, TODAY, repeat=repeat)
    case = "%d IPs x %d days" % (big, DAYS)
    rows.append({"benchmark": "warmup", "case": case, "metric": "iterate ledgers (s)", "value": round(t_iter, 4),
                 "ratio": 1.0})
    rows.append({"benchmark": "warmup", "case": case, "metric": "plan_fleet (s)", "value": round(t_plan, 4),
                 "ratio": round(t_plan / t_iter, 2)})
    rows.append({"benchmark": "warmup", "case": case, "metric": "IPs planned per second",
                 "value": round(big / t_plan), "ratio": None})
    t_rerun, _ = timed(plan_fleet, model, new_states, ledgers, health, TODAY, repeat=repeat)
    rows.append({"benchmark": "warmup", "case": case, "metric": "same-day re-run (s)", "value": round(t_rerun, 4),
                 "ratio": round(t_rerun / t_plan, 2)})
    t_dump, text = timed(dump_states, new_states, repeat=repeat)
    t_load, _ = timed(load_states, text, repeat=repeat)
    rows.append({"benchmark": "warmup", "case": case, "metric": "dump+load states (s)",
                 "value": round(t_dump + t_load, 4), "ratio": round((t_dump + t_load) / t_plan, 2)})
    rows.append({"benchmark": "warmup", "case": case, "metric": "state file size (bytes)", "value": len(text),
                 "ratio": None})
    # the integrity check of every state read back from the hosts (the run's extra cost)
    observed = observed_by_host(model, new_states, ledgers)
    t_check, seen = timed(observe_fleet, model, observed, TODAY, repeat=repeat)
    assert not seen["findings"], seen["findings"][:3]  # the planner's own states: no false alarm
    rows.append({"benchmark": "warmup", "case": case, "metric": "integrity check, every state (s)",
                 "value": round(t_check, 4), "ratio": round(t_check / t_plan, 2)})
    m2, s2, l2, h2 = build(small)
    t_small, _ = timed(plan_fleet, m2, s2, l2, h2, TODAY, repeat=repeat)
    per_big, per_small = t_plan / big, t_small / small
    rows.append({"benchmark": "warmup", "case": "%d IPs x %d days" % (small, DAYS), "metric": "plan_fleet (s)",
                 "value": round(t_small, 4), "ratio": None})
    rows.append({"benchmark": "warmup", "case": "scaling %d vs %d IPs" % (big, small),
                 "metric": "per-IP cost ratio (1.0 = linear)", "value": round(per_big * 1e6, 1),
                 "ratio": round(per_big / per_small, 2)})
    return rows


def main():
    quick = "--quick" in sys.argv
    rows = run(quick=quick)
    print("%-8s %-24s %-34s %12s %8s" % ("bench", "case", "metric", "value", "ratio"))
    for r in rows:
        print("%-8s %-24s %-34s %12s %8s" % (r["benchmark"], r["case"], r["metric"], r["value"],
                                            "" if r["ratio"] is None else r["ratio"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
