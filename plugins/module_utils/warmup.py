# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Warmup planner: per-IP and per-provider daily quotas that advance on real delivery and on health.

The schedule grammar, defaults and thresholds live in ``schedule.py``; the state file codec in
``states.py``; every number of the capacity contract (caps, provider caps, fill, rates) in
``capacity.py``.

Pure Python, standard library only, no Ansible objects (it is imported by modules that run on
PowerMTA hosts, by the controller-side playbooks, by tests and by benchmarks).

Vocabulary
----------
* **stage number** -- 1-based, as operators count and as ``fleet.calendar_caps`` reports it:
  stage 1 is ``schedule["stages"][0]``. Decisions / caps carry ``stage`` = that number, ``None``
  once warm (running at ``full_rate``); overrides ``pin_stage`` / ``max_stage`` are stage numbers
  (1..len(stages); ``len(stages) + 1`` pins / allows *warm*). The persisted state stores the
  0-based ``stage_index`` (``len(stages)`` = warm); reasons print stage numbers.
* **attempted**, **delivered**, **sending day**, the **fill volume** (delivered) and the
  **rates** are defined once, in ``capacity.py`` (only days strictly before ``today`` count,
  today is incomplete). Days without sending never count toward anything.
* **full day** -- a sending day at the current stage that *delivered* ``>= fill_ratio x stage
  volume`` (SparkPost: an IP moves up only if it delivered more than 90 % of its stage volume;
  bounces and deferrals fill nothing). An under-filled sending day neither counts nor resets the
  count: an IP whose tenant does not need its cap does not need more.
* **provider stage** -- each provider (gmail, microsoft, yahoo, other) has its own stage, never
  above the IP's: its cap is its schedule rule (share / cap) applied to *its* stage's volume
  (``capacity.provider_caps``). A provider's full day is one it delivered
  ``capacity.provider_fill_target`` (``provider_fill_ratio`` x its cap) or more; a provider
  never sent to stays at its first stage (Amazon SES warms per mailbox provider).
* **caps** -- every cap is ``capacity.ip_cap`` of the decided stage, standby, provider stages and
  provider back-off; the state stores the deployed ``daily``, ``backoff`` and ``providers``
  (``stored_cap``).

Rules (``plan_ip``), in order of precedence
-------------------------------------------
1. Same-day re-run: the state remembers the date it was planned for and the state it was planned
   from (``base``); planning again on that date re-plans from ``base``, so the same inputs give the
   same result and no stage can move more than once per day. A standby is written into ``base``
   the moment it happens: a listing that clears later the same day resumes a stage lower (rule
   6), exactly as when it clears the next day.
2. No state (new IP or lost state file): stage 0, every provider at stage 0, never derived from
   the calendar (``new``).
3. Before ``warmup_start``: cap 0, out of the pool (``standby``), stages untouched.
4. Standby (``health["standby"]`` true -- the health check decides, e.g. on a DNSBL listing and
   puts the zones in ``listed`` -- or override ``standby``): cap 0 and out of the pool
   (``standby``); the stages are kept.
5. ``pin_stage`` override: that stage for the IP and its providers, nothing else is judged
   (``pinned``); it also ends a standby without the resume step back (the operator decided).
6. Leaving standby: ``resume_step_back`` stages down, the stage restarts (``resume``).
7. Idle: every ``idle_days`` full days without sending, ``rewarm_step_back`` stages down
   (``rewarm``) -- a cold IP is warmed again (SendGrid), not resumed at its old volume.
8. A rate of the IP over its threshold over the rate window or on the last sending day:
   ``step_back`` stages down and the stage restarts (``step_back``); a new stage always starts
   with a clean window, so one bad day steps back once, not every day.
9. ``max_stage`` override below the current stage: down to it (``step_back``).
10. One provider over a threshold on its own window: that provider alone steps back
    ``step_back`` stages (at its first stage already: its cap x ``provider_backoff``) and the IP
    holds (KumoMTA / SES style per-provider reaction).
11. A rate at ``near_limit`` x its threshold (the IP's, or one provider's), or override ``hold``:
    ``hold``.
12. Advance one stage (``advance``) only when the stage has ``min_days`` full days, the most
    recent day (yesterday) is itself a full day, and every judged rate is under ``near_limit`` of
    its threshold. Otherwise ``hold`` (reason says how many full days are missing). Past the last
    stage: ``warm`` at ``full_rate``.
13. Providers: on a day the IP is judged clean (rules 12 / ``warm``), each provider whose own
    window is clean advances one stage when it has its stage's ``min_days`` full days (its own),
    yesterday was one, and it is below the IP's stage (after the IP's decision). Whatever
    happens, no provider ends a day above the IP's stage.
14. Stuck: an IP still at its stage after ``stuck_days`` sending days there (and more than the
    stage's ``min_days``) -- not pinned, held by override or capped by ``max_stage`` -- gets
    ``stuck`` in its decision: since when, how many sending days, and why (fill, which rate,
    which provider). The run reports and alerts it (``stuck_events``).

Rates are judged only on at least ``min_volume_for_rates`` messages: the *window* is the last
``min_days`` sending days at the current stage, and the *last day* is the most recent of them
(per provider: its own sending days at its own stage). The rates (``capacity.rates``): hard
bounces / attempted, complaints / delivered (Gmail's spam rate is relative to delivered mail),
deferrals / (attempted + deferred), replies classed ``rate_limited`` or ``reputation`` /
(attempted + deferred), and replies classed ``auth`` / (attempted + deferred).
"""
from __future__ import absolute_import, division, print_function

import bisect
import datetime
import math

from ansible_collections.mailfleet.fleet.plugins.module_utils import capacity
from ansible_collections.mailfleet.fleet.plugins.module_utils.capacity import PROVIDERS, Tally, fill_volume, is_sending
from ansible_collections.mailfleet.fleet.plugins.module_utils.schedule import stage_label as _stage_label
from ansible_collections.mailfleet.fleet.plugins.module_utils.schedule import stage_min_days as _stage_min_days
from ansible_collections.mailfleet.fleet.plugins.module_utils.schedule import thresholds_of
from ansible_collections.mailfleet.fleet.plugins.module_utils.states import (
    STATE_VERSION, date_of, fresh_providers, new_state, provider_stages, validate_state)

__metaclass__ = type

#: Every decision the planner takes (``unreachable``: the IP's host could not be read, nothing
#: was planned and its cap is 0).
ACTIONS = ("advance", "hold", "step_back", "standby", "resume", "rewarm", "warm", "pinned", "new", "unreachable")

# capacity rate name, threshold key, label
_RATE_KEYS = (
    ("hard_bounce", "max_hard_bounce_rate", "hard bounces"),
    ("complaint", "max_complaint_rate", "complaints"),
    ("deferral", "max_deferral_rate", "deferrals"),
    ("reputation", "max_reputation_rate", "throttling/reputation replies"),
    ("auth_failure", "max_auth_failure_rate", "authentication failures"),
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


def _classes_text(rkey, tally):
    """Which reply classes a class rate counted (the reason names them)."""
    if tally is None:
        return ""
    tries = tally.attempted + tally.deferred
    if rkey == "reputation":
        return " (rate_limited %d, reputation %d of %d tries)" % (
            tally.rate_limited_replies, tally.reputation_replies, tries)
    if rkey == "auth_failure":
        return " (auth %d of %d tries)" % (tally.auth_failures, tries)
    return ""


def _judge(rates, th, tally=None):
    """-> (status, detail) with status 'over' | 'near' | 'ok'; detail names the worst rate (and,
    for a reply-class rate, the classes counted)."""
    status, detail = "ok", None
    for rkey, tkey, label in _RATE_KEYS:
        val = rates.get(rkey)
        if val is None:
            continue
        limit = th[tkey]
        if val > limit:
            return "over", "%s %s%s > %s" % (label, _pct(val), _classes_text(rkey, tally), _pct(limit))
        if val >= th["near_limit"] * limit and status == "ok":
            status, detail = "near", "%s %s%s >= %d%% of the %s limit" % (
                label, _pct(val), _classes_text(rkey, tally), round(100 * th["near_limit"]), _pct(limit))
    return status, detail


def _worse(a, b):
    order = {"ok": 0, "near": 1, "over": 2}
    return a if order[a[0]] >= order[b[0]] else b


def _round_rates(rates):
    """capacity.rates -> the decision's ``{"hard_bounce_rate": x, ...}`` (rounded)."""
    return {k + "_rate": (round(v, 6) if v is not None else None) for k, v in sorted(rates.items())}


def _summary(tally, n_days, lead="over"):
    r = tally.rates(0)
    return "%d message(s) %s %d sending day(s): hard bounces %s, complaints %s, deferrals %s, " \
           "throttling/reputation %s, auth failures %s" % (
               tally.attempted, lead, n_days, _pct(r["hard_bounce"]), _pct(r["complaint"]), _pct(r["deferral"]),
               _pct(r["reputation"]), _pct(r["auth_failure"]))


def _number(schedule, index):
    """0-based stage index -> the decision's stage number (None once warm)."""
    return None if index >= len(schedule["stages"]) else index + 1


def _day_tallies(ledger, day):
    """``(total, {provider: tally})`` of one ledger day."""
    total, per = Tally(), {}
    for prov, rec in (ledger[day] or {}).items():
        t = Tally().add(rec or {})
        per[prov] = t
        total.merge(t)
    return total, per


# --------------------------------------------------------------------------------------------
# Planner
# --------------------------------------------------------------------------------------------
def plan_ip(schedule, state, ledger, health, today, overrides=None, warmup_start=None):
    """Plan one IP for ``today``. Pure: returns ``(new_state, decision)`` without touching inputs.

    ``decision = {"stage": int|None (None = warm), "daily": int, "providers": {p: int},
    "provider_stages": {p: int|None}, "standby": bool, "action": str, "reason": str,
    "rates": {...}, "warm": bool, "stuck": None|{"since", "stage", "sending_days", "why"}}``.
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
    cur["stage_index"] = min(int(cur["stage_index"]), n_stages)
    if isinstance(cur.get("providers"), dict):
        cur["providers"] = {p: dict(cur["providers"][p]) for p in PROVIDERS}
    else:
        # a state written before provider stages: its provider caps were the IP's stage's
        cur["providers"] = fresh_providers(cur["stage_index"], cur["stage_since"])
    cur["base"] = dict(base, base=None) if base is not None else None
    if cur["base"] is not None and not isinstance(cur["base"].get("providers"), dict):
        cur["base"]["providers"] = {p: dict(e) for p, e in cur["providers"].items()}
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
    stuck = None
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
        # 5. pinned (also ends a standby without the resume step back: the operator decided);
        # the providers are pinned with the IP
        pin = max(0, min(int(overrides["pin_stage"]) - 1, n_stages))
        cur["standby"], cur["standby_since"] = False, None
        if pin != cur["stage_index"]:
            decide(pin)
        for entry in cur["providers"].values():
            if entry["stage_index"] != pin:
                entry["stage_index"], entry["since"] = pin, today_s
        action = "pinned"
        reason = "pinned by override at %s" % _stage_label(schedule, pin)
    elif cur.get("standby"):
        # 6. resume
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
            action, reason, backoff, rates_out = _judge_repair(schedule, th, cur, ledger, days, decide, today_s)
        elif not is_new:
            action, reason, backoff, rates_out, stuck = _judge_stage(schedule, th, cur, ledger, days, overrides,
                                                                     decide, n_stages, today_d)
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
        stuck = None

    if action is None:  # pragma: no cover - every branch sets an action
        raise AssertionError("no action decided")

    # 13. no provider above the IP (a step back, a resume, a re-warm or max_stage lowers them too)
    for entry in cur["providers"].values():
        if entry["stage_index"] > cur["stage_index"]:
            entry["stage_index"], entry["since"] = cur["stage_index"], today_s
    pstages = {p: cur["providers"][p]["stage_index"] for p in PROVIDERS}

    warm = cur["stage_index"] >= n_stages
    cap = capacity.ip_cap(schedule, cur["stage_index"], standby, backoff, provider_stages=pstages)
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
        "provider_stages": {p: _number(schedule, k) for p, k in sorted(pstages.items())},
        "standby": standby,
        "action": action,
        "reason": reason,
        "rates": rates_out,
        "stuck": stuck,
    }
    return cur, decision


class _ProviderView:
    """One provider's own warmup window: its sending days at its own stage (since its stage
    started), which of them were full, its window (last ``min_days`` of them) and verdict."""

    __slots__ = ("name", "stage", "since", "need", "target", "days", "full_days", "window", "last",
                 "last_full", "status", "rates")

    def __init__(self, schedule, th, name, entry, ledger, days, yesterday):
        self.name = name
        self.stage = entry["stage_index"]
        self.since = entry["since"]
        self.need = _stage_min_days(schedule, self.stage)
        self.target = capacity.provider_fill_target(schedule, self.stage, name)
        self.days = []
        self.full_days = 0
        for day in days[bisect.bisect_left(days, self.since):]:
            rec = (ledger[day] or {}).get(name)
            if not isinstance(rec, dict):
                continue
            t = Tally().add(rec)
            if not is_sending(t):
                continue
            full = fill_volume(t) >= self.target
            self.full_days += full
            self.days.append((day, t, full))
        self.window = Tally()
        for _day, t, _full in self.days[-self.need:]:
            self.window.merge(t)
        min_vol = th["min_volume_for_rates"]
        self.rates = self.window.rates(min_vol)
        self.status = _judge(self.rates, th, self.window)
        self.last = self.days[-1][1] if self.days else None
        if self.last is not None:
            self.status = _worse(self.status, _judge(self.last.rates(min_vol), th, self.last))
        self.last_full = bool(self.days) and self.days[-1][0] == yesterday and self.days[-1][2]

    def out(self, schedule):
        return dict(_round_rates(self.rates), status=self.status[0], volume=self.window.attempted,
                    delivered=self.window.delivered - self.window.remote_bounced, window_days=min(len(self.days), self.need),
                    sending_days=len(self.days), full_days=self.full_days, required_days=self.need,
                    fill_target=self.target, stage=_number(schedule, self.stage), since=self.since)


def _step_back_provider(schedule, th, cur, name, today_s):
    """Rule 10 for one provider: ``step_back`` stages down and its stage restarts, or -- at its
    first stage already -- its cap x ``provider_backoff``. Returns ``(backed_off, text)``."""
    entry = cur["providers"][name]
    new = max(0, entry["stage_index"] - th["step_back"])
    if new < entry["stage_index"]:
        text = "%s steps back from %s to %s" % (name, _stage_label(schedule, entry["stage_index"]),
                                                _stage_label(schedule, new))
        entry["stage_index"], entry["since"] = new, today_s
        return False, text
    return True, "%s cap x%g (at its first stage already)" % (name, th["provider_backoff"])


def _judge_stage(schedule, th, cur, ledger, days, overrides, decide, n_stages, today_d):
    """Rules 8-14 for an IP that is neither new, standby, pinned nor re-warming."""
    stage = cur["stage_index"]
    since = cur["stage_since"]
    today_s = today_d.isoformat()
    volume = capacity.stage_volume(schedule, stage)
    need = _stage_min_days(schedule, stage)
    target = th["fill_ratio"] * volume
    min_vol = th["min_volume_for_rates"]
    yesterday = (today_d - datetime.timedelta(days=1)).isoformat()

    # Sending days at this stage, oldest first.
    stage_days = []
    full_days = 0
    for day in days[bisect.bisect_left(days, since):]:
        total, per = _day_tallies(ledger, day)
        if not is_sending(total):
            continue
        full = fill_volume(total) >= target
        if full:
            full_days += 1
        stage_days.append((day, total, full, per))

    window = stage_days[-need:]
    win_total = Tally()
    for _day, total, _full, _per in window:
        win_total.merge(total)
    win_rates = win_total.rates(min_vol)
    last_rates = window[-1][1].rates(min_vol) if window else {}

    views = {p: _ProviderView(schedule, th, p, cur["providers"][p], ledger, days, yesterday) for p in PROVIDERS}
    prov_over = [(p, views[p].status[1]) for p in PROVIDERS if views[p].status[0] == "over"]
    prov_near = [(p, views[p].status[1]) for p in PROVIDERS if views[p].status[0] == "near"]
    # The IP is judged on its window and last day without the providers over on their own
    # windows when the rest of its traffic can be judged (min_volume_for_rates): a problem of
    # those providers alone steps them back alone (rule 10), the IP steps back when the rest is
    # over too (rule 8). When the rest cannot be judged (too little of it, or none: every
    # provider over, or one provider carries all the mail) the IP is judged on all its traffic.
    status = _ip_status(window, th, min_vol)
    if prov_over:
        rest = _ip_status(window, th, min_vol, {p for p, _over in prov_over})
        if rest is not None:
            status = rest

    last_full = bool(stage_days) and stage_days[-1][0] == yesterday and stage_days[-1][2]
    fill_target = int(math.ceil(target - 1e-9))
    rates_out = dict(_round_rates(win_rates))
    rates_out.update({
        "volume": win_total.attempted,
        "delivered": win_total.delivered - win_total.remote_bounced,
        "deferred": win_total.deferred,
        "window_days": len(window),
        "sending_days": len(stage_days),
        "full_days": full_days,
        "required_days": need,
        "fill_target": fill_target,
        "last_day": _round_rates(last_rates) if last_rates else None,
        "providers": {p: views[p].out(schedule) for p in PROVIDERS if views[p].days or p in dict(prov_over)},
        "status": status[0],
    })
    summary = _summary(win_total, len(window))

    backoff, changes = [], []
    for prov, _detail in prov_over:
        backed, text = _step_back_provider(schedule, th, cur, prov, today_s)
        if backed:
            backoff.append(prov)
        changes.append(text)
    said = 0  # how many of ``changes`` the reason already tells

    ms = overrides.get("max_stage")
    providers_may_advance = False
    if status[0] == "over":
        new = max(0, stage - th["step_back"])
        decide(new)
        action, reason = "step_back", "%s: %d stage(s) down from %s to %s (%s)" % (
            status[1], stage - new, _stage_label(schedule, stage), _stage_label(schedule, new), summary)
    elif prov_over:
        action, reason = "hold", "holding at %s; %s alone over a threshold on its own window (%s): %s; " \
                                 "the IP's other traffic is under its thresholds (%s)" % (
                                     _stage_label(schedule, stage), ", ".join(p for p, _over in prov_over),
                                     "; ".join("%s: %s" % pd for pd in prov_over), "; ".join(changes), summary)
        said = len(changes)
        providers_may_advance = True
    elif status[0] == "near":
        action, reason = "hold", "holding at %s: %s (%s)" % (_stage_label(schedule, stage), status[1], summary)
    elif prov_near:
        action, reason = "hold", "holding at %s: %s (%s)" % (
            _stage_label(schedule, stage), "; ".join("%s: %s" % pd for pd in prov_near), summary)
        providers_may_advance = True
    elif stage >= n_stages:
        action, reason = "warm", "warm: full rate %d/day (%s)" % (volume, summary)
        providers_may_advance = True
    elif overrides.get("hold"):
        action, reason = "hold", "holding at %s: override hold (%d/%d full days; %s)" % (
            _stage_label(schedule, stage), full_days, need, summary)
    elif full_days < need or not last_full:
        if full_days >= need:
            why = "%d/%d full sending days, but yesterday (%s) was not a full sending day (>= %d delivered)" % (
                full_days, need, yesterday, fill_target)
        else:
            why = "%d/%d full sending days (>= %d delivered, %d%% of %d) since %s" % (
                full_days, need, fill_target, round(100 * th["fill_ratio"]), volume, since)
        action, reason = "hold", "holding at %s: %s (%s)" % (_stage_label(schedule, stage), why, summary)
        providers_may_advance = True
    elif ms is not None and stage + 1 > int(ms) - 1:
        action, reason = "hold", "holding at %s: override max_stage %d (%s)" % (
            _stage_label(schedule, stage), int(ms), summary)
        providers_may_advance = True
    else:
        decide(stage + 1)
        action, reason = "advance", "advance from %s to %s: %d/%d full sending days, %s" % (
            _stage_label(schedule, stage), _stage_label(schedule, stage + 1), full_days, need, summary)
        providers_may_advance = True

    # 13. providers: each advances on its own full days and clean window, below the IP's stage
    if providers_may_advance:
        for prov in PROVIDERS:
            view, entry = views[prov], cur["providers"][prov]
            if (view.status[0] == "ok" and entry["stage_index"] == view.stage and view.full_days >= view.need
                    and view.last_full and view.stage < cur["stage_index"]):
                entry["stage_index"], entry["since"] = view.stage + 1, today_s
                changes.append("%s %s -> %s (%d/%d full days, >= %d delivered)" % (
                    prov, _stage_label(schedule, view.stage), _stage_label(schedule, view.stage + 1),
                    view.full_days, view.need, view.target))
    if changes[said:]:
        reason += "; providers: " + "; ".join(changes[said:])

    # 14. stuck
    stuck = None
    still = action in ("hold",) and not overrides.get("hold") and not (ms is not None and stage + 1 > int(ms) - 1)
    if still and len(stage_days) >= th["stuck_days"] and len(stage_days) > need:
        stuck = _stuck(schedule, th, stage, since, stage_days, fill_target, status, prov_over + prov_near, views)
    return action, reason, backoff, rates_out, stuck


def _ip_status(window, th, min_vol, exclude=()):
    """The verdict on the IP's window and last day (``[(day, total, full, per)]``), without the
    traffic of the providers in ``exclude``; ``None`` when that traffic cannot be judged on the
    window (no rate with ``min_vol`` messages: unknown, neither clean nor over)."""
    def tally(days):
        out = Tally()
        for _day, total, _full, per in days:
            if not exclude:
                out.merge(total)
                continue
            for prov, t in per.items():
                if prov not in exclude:
                    out.merge(t)
        return out
    whole = tally(window)
    rates = whole.rates(min_vol)
    if exclude and all(v is None for v in rates.values()):
        return None
    status = _judge(rates, th, whole)
    if window:
        last = tally(window[-1:])
        status = _worse(status, _judge(last.rates(min_vol), th, last))
    return status


def _stuck(schedule, th, stage, since, stage_days, fill_target, status, prov_bad, views):
    """Why an IP has not advanced for ``stuck_days`` sending days: its fill, the rate that holds
    it (the IP's or a provider's) and which provider."""
    recent = stage_days[-th["stuck_days"]:]
    delivered = [t.delivered - t.remote_bounced for _d, t, _f, _p in recent]
    full = sum(1 for _d, _t, f, _p in recent if f)
    why = ["fill: %d of the last %d sending days delivered >= %d (average %d/day, %d%% of the %d needed)" % (
        full, len(recent), fill_target, sum(delivered) // len(recent),
        round(100.0 * sum(delivered) / len(recent) / max(1, fill_target)), fill_target)]
    if status[0] != "ok":
        why.append("rate: %s" % status[1])
    bad = dict(prov_bad)
    for prov in PROVIDERS:
        if prov in bad:
            why.append("provider %s: %s" % (prov, bad[prov]))
        elif views[prov].stage < stage:
            # a provider below the IP's stage caps the IP's fill: name it and its own progress
            why.append("provider %s at %s of its own (%d/%d full days, >= %d delivered)" % (
                prov, _stage_label(schedule, views[prov].stage), views[prov].full_days, views[prov].need,
                views[prov].target))
    return {"since": since, "stage": _number(schedule, stage), "sending_days": len(stage_days),
            "why": "; ".join(why)}


def _judge_repair(schedule, th, cur, ledger, days, decide, today_s):
    """The day a refused state was replaced (``repair``): no advance, and the rates judged on every
    window the stored state could have been judged on -- the last 1, 2, ... L sending days since
    ``warmup_start`` (L = the schedule's longest ``min_days``) -- so a step back or a provider
    step back the real state would have applied is never missed. Both apply together."""
    stage = cur["stage_index"]
    min_vol = th["min_volume_for_rates"]
    longest = max(_stage_min_days(schedule, i) for i in range(len(schedule["stages"]) + 1))
    total, per = Tally(), {}
    status, prov_status, n_days = ("ok", None), {}, 0
    for day in reversed(days):
        day_total, day_per = _day_tallies(ledger, day)
        if not is_sending(day_total):
            continue
        n_days += 1
        total.merge(day_total)
        for prov, t in day_per.items():
            per.setdefault(prov, Tally()).merge(t)
        status = _worse(status, _judge(total.rates(min_vol), th, total))
        for prov, t in per.items():
            prov_status[prov] = _worse(prov_status.get(prov, ("ok", None)), _judge(t.rates(min_vol), th, t))
        if n_days >= longest:
            break
    rates = total.rates(min_vol)
    rates_out = dict(_round_rates(rates), volume=total.attempted, deferred=total.deferred, window_days=n_days,
                     status=status[0], providers={p: dict(_round_rates(per[p].rates(min_vol)), status=prov_status[p][0],
                                                          volume=per[p].attempted) for p in sorted(per)})
    over = [p for p in sorted(prov_status) if prov_status[p][0] == "over"]
    backoff, changes = [], []
    for prov in over:
        backed, text = _step_back_provider(schedule, th, cur, prov, today_s)
        if backed:
            backoff.append(prov)
        changes.append(text)
    summary = _summary(total, n_days, "over the last")
    why = "state refused and replaced today, no advance"
    if status[0] == "over":
        new = max(0, stage - th["step_back"])
        decide(new)
        return "step_back", "%s; %s: %d stage(s) down from %s to %s%s (%s)" % (
            why, status[1], stage - new, _stage_label(schedule, stage), _stage_label(schedule, new),
            "; " + "; ".join(changes) if changes else "", summary), backoff, rates_out
    if over:
        return "hold", "%s: holding at %s; %s over a threshold on a recent window: %s (%s)" % (
            why, _stage_label(schedule, stage), ", ".join(over), "; ".join(changes), summary), backoff, rates_out
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
    "actions": {action: count}, "stuck": {ip: stuck}}. IPs absent from the model are dropped from
    ``new_states``.
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
            dec = dict(cap, action="unreachable", warm=False, rates={}, stuck=None,
                       provider_stages=dict.fromkeys(PROVIDERS))
            caps[address] = cap
        else:
            st, dec = plan_ip(schedule, states.get(address), ledgers.get(address), health.get(address),
                              today_s, ipinfo.get("overrides") or {}, ipinfo.get("warmup_start"))
            new_states[address] = st
            caps[address] = _caps_entry(dec)
        ips_report[address] = dict(dec, tenant=ipinfo.get("tenant"), host=ipinfo.get("host"), schedule=sname)
        actions[dec["action"]] = actions.get(dec["action"], 0) + 1
    report = {"date": today_s, "ips": ips_report, "capacity": capacity.pool_capacity(model, caps),
              "actions": dict(sorted(actions.items())),
              "stuck": {ip: dec["stuck"] for ip, dec in sorted(ips_report.items()) if dec.get("stuck")}}
    return new_states, caps, report


def stuck_events(report):
    """``ip_stuck`` alert events of a plan report: one per IP and stage episode (the id names the
    IP, its stage and the day the stage started), so an IP stuck for weeks is alerted once, and
    again only if it gets stuck at another stage."""
    events = []
    for ip, stuck in sorted(((report or {}).get("stuck") or {}).items()):
        dec = report["ips"][ip]
        stage = "warm" if stuck["stage"] is None else "stage %d" % stuck["stage"]
        events.append({
            "id": "ip_stuck:%s:%s:%s" % (ip, stage.replace(" ", ""), stuck["since"]),
            "type": "ip_stuck", "subject": ip, "ip": ip, "tenant": dec.get("tenant"), "host": dec.get("host"),
            "stage": stuck["stage"], "since": stuck["since"], "sending_days": stuck["sending_days"],
            "why": stuck["why"],
            "message": "IP %s (tenant %s, host %s) has not advanced for %d sending days at %s (since %s): %s. "
                       "SparkPost takes such an IP out of warmup: check the tenant's demand, the list and the "
                       "named rate; set overrides.hold to silence it." % (
                           ip, dec.get("tenant"), dec.get("host"), stuck["sending_days"], stage, stuck["since"],
                           stuck["why"]),
        })
    return events


def stored_cap(schedule, state):
    """The caps the last plan of ``state`` deployed, from the state alone (the hourly quota sync
    and the campaign gate read these): its daily cap -- never above its stage's volume -- and the
    provider caps derived from it, each provider at its stored stage, with the provider back-off
    that plan applied."""
    stage_index = min(int(state["stage_index"]), len(schedule["stages"]))
    try:
        stored = max(0, int(state.get("daily") or 0))
    except (TypeError, ValueError):
        stored = 0
    daily = min(stored, capacity.stage_volume(schedule, stage_index))
    backoff = [p for p in (state.get("backoff") or []) if p in capacity.PROVIDERS]
    return {"daily": daily,
            "providers": capacity.provider_caps(schedule, daily, backoff, capacity.backoff_factor(schedule),
                                                provider_stages(state)),
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
