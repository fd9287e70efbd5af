# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Warmup planner: per-IP daily quotas that advance on real sending and on health.

The schedule grammar, defaults and thresholds live in ``schedule.py``; the state file codec in
``states.py``.

Pure Python, standard library only, no Ansible objects (it is imported by modules that run on
PowerMTA hosts, by the controller-side playbooks, by tests and by benchmarks).

Vocabulary
----------
* **stage number** -- 1-based, as operators count and as ``fleet.calendar_caps`` reports it:
  stage 1 is ``schedule["stages"][0]``. Decisions / caps carry ``stage`` = that number, ``None``
  once warm (running at ``full_rate``); overrides ``pin_stage`` / ``max_stage`` are stage numbers
  (1..len(stages); ``len(stages) + 1`` pins / allows *warm*). The persisted state stores the
  0-based ``stage_index`` (``len(stages)`` = warm); reasons print stage numbers.
* **attempted**, **delivered**, **sending day**, the **fill volume** and the **rates** are
  defined once, in ``capacity.py`` (attempted = delivered + hard + soft bounces; a sending day
  has attempted + deferred > 0; only days strictly before ``today`` count, today is incomplete).
  Days without sending never count toward anything.
* **full day** -- a sending day at the current stage with ``capacity.fill_volume >= fill_ratio x
  stage volume`` (SparkPost: an IP moves up only if it delivered more than 90 % of its stage
  volume). An under-filled sending day neither counts nor resets the count: an IP whose tenant
  does not need its cap does not need more.
* **caps** -- every cap is ``capacity.ip_cap`` of the decided stage, standby and provider
  back-off; the state stores the deployed ``daily`` and ``backoff`` (``stored_cap``).

Rules (``plan_ip``), in order of precedence
-------------------------------------------
1. Same-day re-run: the state remembers the date it was planned for and the state it was planned
   from (``base``); planning again on that date re-plans from ``base``, so the same inputs give the
   same result and the stage can never move more than once per day. A standby is written into
   ``base`` the moment it happens: a listing that clears later the same day resumes a stage lower
   (rule 6), exactly as when it clears the next day.
2. No state (new IP or lost state file): stage 0, never derived from the calendar (``new``).
3. Before ``warmup_start``: cap 0, out of the pool (``standby``), stage untouched.
4. Standby (``health["standby"]`` true -- the health check decides, e.g. on a DNSBL listing and
   puts the zones in ``listed`` -- or override ``standby``): cap 0 and out of the pool
   (``standby``); the stage is kept.
5. ``pin_stage`` override: that stage, nothing else is judged (``pinned``); it also ends a standby
   without the resume step back (the operator decided).
6. Leaving standby: ``resume_step_back`` stages down, the stage restarts (``resume``).
7. Idle: every ``idle_days`` full days without sending, ``rewarm_step_back`` stages down
   (``rewarm``) -- a cold IP is warmed again (SendGrid), not resumed at its old volume.
8. A rate over its threshold over the rate window or on the last sending day: ``step_back``
   stages down and the stage restarts (``step_back``); a new stage always starts with a clean
   window, so one bad day steps back once, not every day.
9. ``max_stage`` override below the current stage: down to it (``step_back``).
10. One provider alone over a threshold: that provider's cap is multiplied by
    ``provider_backoff`` and the IP holds (KumoMTA / SES style per-provider reaction).
11. A rate at ``near_limit`` x its threshold, or override ``hold``: ``hold``.
12. Advance one stage (``advance``) only when the stage has ``min_days`` full days, the most
    recent day (yesterday) is itself a full day, and every judged rate is under ``near_limit`` of
    its threshold. Otherwise ``hold`` (reason says how many full days are missing). Past the last
    stage: ``warm`` at ``full_rate``.

Rates are judged only on at least ``min_volume_for_rates`` messages: the *window* is the last
``min_days`` sending days at the current stage, and the *last day* is the most recent of them.
``hard_bounce_rate = hard / attempted``, ``complaint_rate = complaint / delivered`` (Gmail's spam
rate is relative to delivered mail), ``deferral_rate = deferred / (attempted + deferred)``.
"""
from __future__ import absolute_import, division, print_function

import bisect
import datetime
import math

from ansible_collections.mailfleet.fleet.plugins.module_utils import capacity
from ansible_collections.mailfleet.fleet.plugins.module_utils.capacity import Tally, fill_volume, is_sending
from ansible_collections.mailfleet.fleet.plugins.module_utils.schedule import stage_label as _stage_label
from ansible_collections.mailfleet.fleet.plugins.module_utils.schedule import stage_min_days as _stage_min_days
from ansible_collections.mailfleet.fleet.plugins.module_utils.schedule import thresholds_of
from ansible_collections.mailfleet.fleet.plugins.module_utils.states import (
    STATE_VERSION, date_of, new_state, validate_state)

__metaclass__ = type

#: Every decision the planner takes (``unreachable``: the IP's host could not be read, nothing
#: was planned and its cap is 0).
ACTIONS = ("advance", "hold", "step_back", "standby", "resume", "rewarm", "warm", "pinned", "new", "unreachable")

# capacity rate name, threshold key, label
_RATE_KEYS = (
    ("hard_bounce", "max_hard_bounce_rate", "hard bounces"),
    ("complaint", "max_complaint_rate", "complaints"),
    ("deferral", "max_deferral_rate", "deferrals"),
)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------
def _as_date(value):
    parsed = date_of(value if isinstance(value, (datetime.date, str)) else str(value))
    if parsed is None:
        raise ValueError("not a YYYY-MM-DD date: %r" % (value,))
    return parsed


def _pct(x):
    return "%.2f%%" % (100.0 * x) if x is not None else "n/a"


def _judge(rates, th):
    """-> (status, detail) with status 'over' | 'near' | 'ok'; detail names the worst rate."""
    status, detail = "ok", None
    for rkey, tkey, label in _RATE_KEYS:
        val = rates.get(rkey)
        if val is None:
            continue
        limit = th[tkey]
        if val > limit:
            return "over", "%s %s > %s" % (label, _pct(val), _pct(limit))
        if val >= th["near_limit"] * limit and status == "ok":
            status, detail = "near", "%s %s >= %d%% of the %s limit" % (
                label, _pct(val), round(100 * th["near_limit"]), _pct(limit))
    return status, detail


def _worse(a, b):
    order = {"ok": 0, "near": 1, "over": 2}
    return a if order[a[0]] >= order[b[0]] else b


def _round_rates(rates):
    """capacity.rates -> the decision's ``{"hard_bounce_rate": x, ...}`` (rounded)."""
    return {k + "_rate": (round(v, 6) if v is not None else None) for k, v in sorted(rates.items())}


# --------------------------------------------------------------------------------------------
# Planner
# --------------------------------------------------------------------------------------------
def plan_ip(schedule, state, ledger, health, today, overrides=None, warmup_start=None):
    """Plan one IP for ``today``. Pure: returns ``(new_state, decision)`` without touching inputs.

    ``decision = {"stage": int|None (None = warm), "daily": int, "providers": {p: int},
    "standby": bool, "action": str, "reason": str, "rates": {...}, "warm": bool}``.
    """
    today_d = _as_date(today)
    today_s = today_d.isoformat()
    th = thresholds_of(schedule)
    n_stages = len(schedule["stages"])
    overrides = overrides or {}
    ledger = ledger or {}
    start_s = _as_date(warmup_start).isoformat() if warmup_start else None

    # 1. same-day re-run: plan again from the state this day was first planned from.
    if state is not None:
        validate_state(state)
        if state.get("planned_on") == today_s:
            base = state.get("base")
        else:
            base = {k: v for k, v in state.items() if k != "base"}
    else:
        base = None

    if base is None:
        cur = new_state(0, today_s)
        action, reason = "new", "no previous warmup state: starting at the first stage"
        is_new = True
    else:
        cur = dict(base)
        cur["rewarm"] = dict(base["rewarm"]) if base.get("rewarm") else None
        action, reason = None, None
        is_new = False
    cur["base"] = dict(base, base=None) if base is not None else None
    cur["stage_index"] = min(int(cur["stage_index"]), n_stages)
    # a state refused by the integrity check is replaced by states.fallback_state, marked
    # ``repair`` = today: that day the IP never advances and its rates are judged on every window
    repair = cur.get("repair") == today_s
    if not repair:
        cur["repair"] = None

    # Ledger: complete days only (strictly before today), not before warmup_start.
    last_sent = cur.get("last_sent")
    days = []
    for day in ledger:
        if day < today_s and (start_s is None or day >= start_s):
            days.append(day)
    days.sort()
    for day in reversed(days):
        if is_sending(Tally().add_day(ledger[day])):
            if last_sent is None or day > last_sent:
                last_sent = day
            break
    cur["last_sent"] = last_sent

    def decide(stage_changed_to=None):
        if stage_changed_to is not None and stage_changed_to != cur["stage_index"]:
            cur["stage_index"] = stage_changed_to
            cur["stage_since"] = today_s
        elif stage_changed_to is not None:
            cur["stage_since"] = today_s

    stage_before = cur["stage_index"]
    rates_out = {}
    backoff = []
    standby = False
    health = health or {}

    if start_s is not None and today_s < start_s:
        # 3. not started yet
        standby = True
        action = "standby"
        reason = "warmup starts on %s: not sending before that day" % start_s
    elif overrides.get("standby") or health.get("standby"):
        # 4. standby
        standby = True
        why = []
        if overrides.get("standby"):
            why.append("override standby")
        if health.get("standby"):
            h = health.get("reason") or "health check"
            listed = health.get("listed") or []
            why.append(h + (" (listed on %s)" % ", ".join(sorted(str(x) for x in listed)) if listed else ""))
        if not cur.get("standby"):
            cur["standby_since"] = today_s
        cur["standby"] = True
        # Remember the standby the moment it happens: later runs of the same day re-plan from a
        # base that is on standby, so a listing that clears the same day resumes a stage lower
        # like any other instead of re-planning (and advancing) from the day's clean start.
        if cur["base"] is None:
            cur["base"] = dict(new_state(0, today_s), standby=True, standby_since=today_s)
        elif not cur["base"].get("standby"):
            cur["base"] = dict(cur["base"], standby=True, standby_since=today_s, daily=0, backoff=[])
        action = "standby"
        reason = "standby since %s: %s; cap 0, out of the pool; %s kept for resume" % (
            cur["standby_since"], "; ".join(why), _stage_label(schedule, cur["stage_index"]))
    elif overrides.get("pin_stage") is not None:
        # 6. pinned (also ends a standby without the resume step back: the operator decided)
        pin = max(0, min(int(overrides["pin_stage"]) - 1, n_stages))
        cur["standby"], cur["standby_since"] = False, None
        if pin != cur["stage_index"]:
            decide(pin)
        action = "pinned"
        reason = "pinned by override at %s" % _stage_label(schedule, pin)
    elif cur.get("standby"):
        # 5. resume
        new = max(0, cur["stage_index"] - th["resume_step_back"])
        since = cur.get("standby_since")
        cur["standby"], cur["standby_since"] = False, None
        decide(new)
        action = "resume"
        reason = "resuming after standby (since %s): %d stage(s) down to %s" % (
            since, stage_before - new, _stage_label(schedule, new))
    else:
        idle = None
        if last_sent is not None:
            idle = (today_d - _as_date(last_sent)).days - 1
        periods = idle // th["idle_days"] if idle is not None and idle >= 0 else 0
        rw = cur.get("rewarm") or {}
        applied = rw.get("periods", 0) if rw.get("after") == last_sent else 0
        if periods > applied and not is_new:
            # 7. re-warm
            down = th["rewarm_step_back"] * (periods - applied)
            new = max(0, cur["stage_index"] - down)
            cur["rewarm"] = {"after": last_sent, "periods": periods}
            decide(new)
            action = "rewarm"
            reason = "re-warming: no sending for %d days since %s (>= %d idle days): %s -> %s%s" % (
                idle, last_sent, th["idle_days"] * periods, _stage_label(schedule, stage_before),
                _stage_label(schedule, new), "; the stage count restarts" if new == stage_before else "")
        elif repair:
            action, reason, backoff, rates_out = _judge_repair(schedule, th, cur, ledger, days, decide)
        elif not is_new:
            action, reason, backoff, rates_out = _judge_stage(schedule, th, cur, ledger, days,
                                                              overrides, decide, n_stages, today_d)
    max_stage = overrides.get("max_stage")
    if (max_stage is not None and not standby and overrides.get("pin_stage") is None
            and cur["stage_index"] > max(0, int(max_stage) - 1)):
        # 9. max_stage (also clamps new / resume / rewarm results)
        ms = max(0, int(max_stage) - 1)
        decide(ms)
        action = "step_back"
        reason = "override max_stage %d: %s -> %s" % (ms + 1, _stage_label(schedule, stage_before),
                                                      _stage_label(schedule, ms))
        backoff = []

    if action is None:  # pragma: no cover - every branch sets an action
        raise AssertionError("no action decided")

    warm = cur["stage_index"] >= n_stages
    cap = capacity.ip_cap(schedule, cur["stage_index"], standby, backoff)
    cur["planned_on"] = today_s
    cur["action"] = action
    cur["daily"] = cap["daily"]
    # what the deployed provider caps were derived with: the stored caps reproduce them exactly
    cur["backoff"] = sorted(backoff) if cap["daily"] else []
    cur["version"] = STATE_VERSION
    decision = {
        "stage": cap["stage"],
        "warm": warm,
        "daily": cap["daily"],
        "providers": cap["providers"],
        "standby": standby,
        "action": action,
        "reason": reason,
        "rates": rates_out,
    }
    return cur, decision


def _judge_stage(schedule, th, cur, ledger, days, overrides, decide, n_stages, today_d):
    """Rules 8-12 for an IP that is neither new, standby, pinned nor re-warming."""
    stage = cur["stage_index"]
    since = cur["stage_since"]
    volume = capacity.stage_volume(schedule, stage)
    need = _stage_min_days(schedule, stage)
    target = th["fill_ratio"] * volume
    min_vol = th["min_volume_for_rates"]

    # Sending days at this stage, oldest first.
    stage_days = []
    full_days = 0
    for day in days[bisect.bisect_left(days, since):]:
        total = Tally()
        per = {}
        for prov, rec in ledger[day].items():
            t = Tally().add(rec)
            per[prov] = t
            total.merge(t)
        if not is_sending(total):
            continue
        full = fill_volume(total) >= target
        if full:
            full_days += 1
        stage_days.append((day, total, per, full))

    window = stage_days[-need:]
    win_total = Tally()
    win_per = {}
    for _day, total, per, _full in window:
        win_total.merge(total)
        for prov, t in per.items():
            win_per.setdefault(prov, Tally()).merge(t)
    win_rates = win_total.rates(min_vol)
    status = _judge(win_rates, th)
    last_rates = {}
    if window:
        last_rates = window[-1][1].rates(min_vol)
        status = _worse(status, _judge(last_rates, th))
    prov_rates = {}
    prov_over = []
    prov_near = []
    for prov in sorted(win_per):
        pr = win_per[prov].rates(min_vol)
        ps = _judge(pr, th)
        if window and prov in window[-1][2]:
            ps = _worse(ps, _judge(window[-1][2][prov].rates(min_vol), th))
        prov_rates[prov] = dict(_round_rates(pr), status=ps[0], volume=win_per[prov].attempted)
        if ps[0] == "over":
            prov_over.append((prov, ps[1]))
        elif ps[0] == "near":
            prov_near.append((prov, ps[1]))

    yesterday = (today_d - datetime.timedelta(days=1)).isoformat()
    last_full = bool(stage_days) and stage_days[-1][0] == yesterday and stage_days[-1][3]
    rates_out = dict(_round_rates(win_rates))
    rates_out.update({
        "volume": win_total.attempted,
        "deferred": win_total.deferred,
        "window_days": len(window),
        "sending_days": len(stage_days),
        "full_days": full_days,
        "required_days": need,
        "fill_target": int(math.ceil(target - 1e-9)),
        "last_day": _round_rates(last_rates) if last_rates else None,
        "providers": prov_rates,
        "status": status[0],
    })
    summary = "%d message(s) over %d sending day(s): hard bounces %s, complaints %s, deferrals %s" % (
        win_total.attempted, len(window), _pct(win_rates["hard_bounce"]),
        _pct(win_rates["complaint"]), _pct(win_rates["deferral"]))

    if status[0] == "over":
        new = max(0, stage - th["step_back"])
        decide(new)
        return "step_back", "%s: %d stage(s) down from %s to %s (%s)" % (
            status[1], stage - new, _stage_label(schedule, stage), _stage_label(schedule, new),
            summary), [], rates_out

    ms = overrides.get("max_stage")
    backoff = [p for p, _over in prov_over]
    if prov_over:
        return "hold", "holding at %s; %s alone over a threshold (%s): its cap x%g (%s)" % (
            _stage_label(schedule, stage), ", ".join(backoff),
            "; ".join("%s: %s" % pd for pd in prov_over), th["provider_backoff"], summary), backoff, rates_out
    if status[0] == "near":
        return "hold", "holding at %s: %s (%s)" % (_stage_label(schedule, stage), status[1], summary), [], rates_out
    if prov_near:
        return "hold", "holding at %s: %s (%s)" % (
            _stage_label(schedule, stage), "; ".join("%s: %s" % pd for pd in prov_near), summary), [], rates_out
    if stage >= n_stages:
        return "warm", "warm: full rate %d/day (%s)" % (volume, summary), [], rates_out
    if overrides.get("hold"):
        return "hold", "holding at %s: override hold (%d/%d full days; %s)" % (
            _stage_label(schedule, stage), full_days, need, summary), [], rates_out
    if full_days < need or not last_full:
        if full_days >= need:
            why = "%d/%d full sending days, but yesterday (%s) was not a full sending day (>= %d sent)" % (
                full_days, need, yesterday, int(math.ceil(target - 1e-9)))
        else:
            why = "%d/%d full sending days (>= %d sent, %d%% of %d) since %s" % (
                full_days, need, int(math.ceil(target - 1e-9)), round(100 * th["fill_ratio"]), volume, since)
        return "hold", "holding at %s: %s (%s)" % (_stage_label(schedule, stage), why, summary), [], rates_out
    if ms is not None and stage + 1 > int(ms) - 1:
        return "hold", "holding at %s: override max_stage %d (%s)" % (
            _stage_label(schedule, stage), int(ms), summary), [], rates_out
    decide(stage + 1)
    return "advance", "advance from %s to %s: %d/%d full sending days, %s" % (
        _stage_label(schedule, stage), _stage_label(schedule, stage + 1), full_days, need, summary), [], rates_out


def _judge_repair(schedule, th, cur, ledger, days, decide):
    """The day a refused state was replaced (``repair``): no advance, and the rates judged on every
    window the stored state could have been judged on -- the last 1, 2, ... L sending days since
    ``warmup_start`` (L = the schedule's longest ``min_days``) -- so a step back or a provider
    back-off the real state would have applied is never missed. Both apply together."""
    stage = cur["stage_index"]
    min_vol = th["min_volume_for_rates"]
    longest = max(_stage_min_days(schedule, i) for i in range(len(schedule["stages"]) + 1))
    total, per = Tally(), {}
    status, prov_status, n_days = ("ok", None), {}, 0
    for day in reversed(days):
        day_total, day_per = Tally(), {}
        for prov, rec in ledger[day].items():
            day_per[prov] = Tally().add(rec)
            day_total.merge(day_per[prov])
        if not is_sending(day_total):
            continue
        n_days += 1
        total.merge(day_total)
        for prov, t in day_per.items():
            per.setdefault(prov, Tally()).merge(t)
        status = _worse(status, _judge(total.rates(min_vol), th))
        for prov, t in per.items():
            prov_status[prov] = _worse(prov_status.get(prov, ("ok", None)), _judge(t.rates(min_vol), th))
        if n_days >= longest:
            break
    rates = total.rates(min_vol)
    rates_out = dict(_round_rates(rates), volume=total.attempted, deferred=total.deferred, window_days=n_days,
                     status=status[0], providers={p: dict(_round_rates(per[p].rates(min_vol)), status=prov_status[p][0],
                                                          volume=per[p].attempted) for p in sorted(per)})
    over = [p for p in sorted(prov_status) if prov_status[p][0] == "over"]
    summary = "%d message(s) over the last %d sending day(s): hard bounces %s, complaints %s, deferrals %s" % (
        total.attempted, n_days, _pct(rates["hard_bounce"]), _pct(rates["complaint"]), _pct(rates["deferral"]))
    why = "state refused and replaced today, no advance"
    if status[0] == "over":
        new = max(0, stage - th["step_back"])
        decide(new)
        return "step_back", "%s; %s: %d stage(s) down from %s to %s%s (%s)" % (
            why, status[1], stage - new, _stage_label(schedule, stage), _stage_label(schedule, new),
            "; %s cap x%g" % (", ".join(over), th["provider_backoff"]) if over else "", summary), over, rates_out
    if over:
        return "hold", "%s: holding at %s; %s over a threshold on a recent window: its cap x%g (%s)" % (
            why, _stage_label(schedule, stage), ", ".join(over), th["provider_backoff"], summary), over, rates_out
    return "hold", "%s: holding at %s (%s)" % (why, _stage_label(schedule, stage), summary), [], rates_out


# --------------------------------------------------------------------------------------------
# Fleet
# --------------------------------------------------------------------------------------------
def _ip_schedule_name(model, ipinfo):
    name = ipinfo.get("schedule")
    if not name:
        tenant = (model.get("tenants") or {}).get(ipinfo.get("tenant")) or {}
        name = tenant.get("schedule")
    return name


def _caps_entry(dec):
    """The caps-contract part of a decision."""
    return {"daily": dec["daily"], "providers": dec["providers"], "standby": dec["standby"],
            "stage": dec["stage"], "reason": dec["reason"]}


def _schedule_of(model, address, ipinfo):
    sname = _ip_schedule_name(model, ipinfo)
    schedule = (model.get("schedules") or {}).get(sname)
    if schedule is None:
        raise ValueError("IP %s: schedule %r is not defined in the fleet model" % (address, sname))
    return sname, schedule


def plan_fleet(model, states, ledgers, health, today, unreachable=None):
    """Plan every IP of the fleet model.

    ``states``: {ip: state}; ``ledgers``: {ip: {date: {provider: counters}}}; ``health``:
    {ip: {"standby", "reason", "listed"}}; ``unreachable``: hosts that could not be read this run
    (their IPs are not planned, get :func:`capacity.unreachable_cap` -- cap 0 -- and action
    ``unreachable``, and have no new state). Returns ``(new_states, caps, report)`` where ``caps``
    follows the caps contract ({ip: {"daily", "providers", "standby", "stage", "reason"}}) and
    ``report`` = {"date", "ips": {ip: decision + tenant/host/schedule}, "capacity": {tenant: int},
    "actions": {action: count}}. IPs absent from the model are dropped from ``new_states``.
    """
    today_s = _as_date(today).isoformat()
    states = states or {}
    ledgers = ledgers or {}
    health = health or {}
    unreachable = set(unreachable or ())
    new_states, caps, ips_report, actions = {}, {}, {}, {}
    for address in sorted(model.get("ips") or {}):
        ipinfo = model["ips"][address]
        sname, schedule = _schedule_of(model, address, ipinfo)
        if ipinfo.get("host") in unreachable:
            cap = capacity.unreachable_cap(ipinfo.get("host"))
            dec = dict(cap, action="unreachable", warm=False, rates={})
            caps[address] = cap
        else:
            st, dec = plan_ip(schedule, states.get(address), ledgers.get(address), health.get(address),
                              today_s, ipinfo.get("overrides") or {}, ipinfo.get("warmup_start"))
            new_states[address] = st
            caps[address] = _caps_entry(dec)
        ips_report[address] = dict(dec, tenant=ipinfo.get("tenant"), host=ipinfo.get("host"), schedule=sname)
        actions[dec["action"]] = actions.get(dec["action"], 0) + 1
    report = {"date": today_s, "ips": ips_report, "capacity": capacity.pool_capacity(model, caps),
              "actions": dict(sorted(actions.items()))}
    return new_states, caps, report


def stored_cap(schedule, state):
    """The caps the last plan of ``state`` deployed, from the state alone (the hourly quota sync
    and the campaign gate read these): its daily cap -- never above its stage's volume -- and the
    provider caps derived from it with the provider back-off that plan applied."""
    stage_index = min(int(state["stage_index"]), len(schedule["stages"]))
    try:
        stored = max(0, int(state.get("daily") or 0))
    except (TypeError, ValueError):
        stored = 0
    daily = min(stored, capacity.stage_volume(schedule, stage_index))
    backoff = [p for p in (state.get("backoff") or []) if p in capacity.PROVIDERS]
    return {"daily": daily,
            "providers": capacity.provider_caps(schedule, daily, backoff, capacity.backoff_factor(schedule)),
            "standby": daily == 0, "stage": None if stage_index >= len(schedule["stages"]) else stage_index + 1,
            "reason": "as planned on %s (%s)" % (state.get("planned_on"), state.get("action"))}


def caps_from_states(model, states, health, today, unreachable=None, refused=None):
    """Today's caps from the stored states, without planning (the hourly quota sync).

    An IP keeps the caps its last plan deployed (:func:`stored_cap`: the same numbers PowerMTA
    enforces, provider back-off included), except that a standby from the inventory override or
    from ``health`` takes effect at once (cap 0). An IP with no state yet gets what a first plan
    would give it (stage 1, or 0 before its ``warmup_start``). IPs on ``unreachable`` hosts get
    cap 0 (:func:`capacity.unreachable_cap`). IPs whose stored state was ``refused`` by the
    integrity check (``{ip: why}``) get cap 0 until the next plan repairs them: nothing unproven
    from a host reaches MailWizz or the campaign gate.
    Returns the caps contract ``{ip: {"daily", "providers", "standby", "stage", "reason"}}``.
    """
    today_s = _as_date(today).isoformat()
    states = states or {}
    health = health or {}
    unreachable = set(unreachable or ())
    refused = refused or {}
    caps = {}
    for address in sorted(model.get("ips") or {}):
        ipinfo = model["ips"][address]
        _sname, schedule = _schedule_of(model, address, ipinfo)
        if ipinfo.get("host") in unreachable:
            caps[address] = capacity.unreachable_cap(ipinfo.get("host"))
            continue
        if address in refused:
            caps[address] = dict(capacity.ip_cap(schedule, 0, True), stage=None, reason=(
                "stored warmup state refused (%s): cap 0 until the next warmup or health run repairs it"
                % refused[address]))
            continue
        state = states.get(address)
        overrides = ipinfo.get("overrides") or {}
        if state is None or state.get("planned_on") is None:
            _st, dec = plan_ip(schedule, None, None, health.get(address), today_s, overrides,
                               ipinfo.get("warmup_start"))
            caps[address] = _caps_entry(dec)
            continue
        validate_state(state)
        cap = stored_cap(schedule, state)
        ip_health = health.get(address) or {}
        start = ipinfo.get("warmup_start")
        if overrides.get("standby") or ip_health.get("standby") or (start and today_s < _as_date(start).isoformat()):
            why = ("standby override" if overrides.get("standby") else
                   (ip_health.get("reason") or "health: standby") if ip_health.get("standby") else
                   "warmup starts on %s: not sending before that day" % _as_date(start).isoformat())
            cap = capacity.ip_cap(schedule, min(int(state["stage_index"]), len(schedule["stages"])), True,
                                  reason=why)
        caps[address] = cap
    return caps
