# -*- coding: utf-8 -*-
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
* **attempted** (a day, a provider) = ``delivered + hard_bounce + soft_bounce``: messages that
  reached a final outcome. Deferrals are SMTP attempts of messages still queued; they are not
  counted in volume (they would be counted again when delivered or bounced).
* **sending day** -- a ledger day (strictly before ``today``; today is incomplete) with
  ``attempted + deferred > 0``. Days without sending never count toward anything.
* **full day** -- a sending day at the current stage with ``attempted >= fill_ratio x stage
  volume`` (SparkPost: an IP moves up only if it delivered more than 90 % of its stage volume).
  Bounces count toward the fill because they used the cap (PowerMTA counts them against
  ``max-msg-rate``); bounce rates are judged separately. An under-filled sending day neither
  counts nor resets the count: an IP whose tenant does not need its cap does not need more.

Rules (``plan_ip``), in order of precedence
-------------------------------------------
1. Same-day re-run: the state remembers the date it was planned for and the state it was planned
   from (``base``); planning again on that date re-plans from ``base``, so the same inputs give the
   same result and the stage can never move more than once per day.
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

from ansible_collections.mailfleet.fleet.plugins.module_utils.grammar import parse_date
from ansible_collections.mailfleet.fleet.plugins.module_utils.providers import PROVIDERS
from ansible_collections.mailfleet.fleet.plugins.module_utils.schedule import DEFAULT_THRESHOLDS
from ansible_collections.mailfleet.fleet.plugins.module_utils.schedule import stage_label as _stage_label
from ansible_collections.mailfleet.fleet.plugins.module_utils.schedule import stage_min_days as _stage_min_days
from ansible_collections.mailfleet.fleet.plugins.module_utils.schedule import stage_volume as _stage_volume
from ansible_collections.mailfleet.fleet.plugins.module_utils.states import STATE_VERSION, new_state, validate_state

__metaclass__ = type

LEDGER_FIELDS = ("delivered", "hard_bounce", "soft_bounce", "deferred", "complaint")

ACTIONS = ("advance", "hold", "step_back", "standby", "resume", "rewarm", "warm", "pinned", "new")

_RATE_KEYS = (
    ("hard_bounce_rate", "max_hard_bounce_rate", "hard bounces"),
    ("complaint_rate", "max_complaint_rate", "complaints"),
    ("deferral_rate", "max_deferral_rate", "deferrals"),
)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------
def _as_date(value):
    parsed = parse_date(value if isinstance(value, (datetime.date, str)) else str(value))
    if parsed is None:
        raise ValueError("not a YYYY-MM-DD date: %r" % (value,))
    return parsed


def provider_caps(schedule, daily, backoff=None, factor=0.5):
    """Per-provider caps for ``daily``: the smallest of daily, share x daily (floored) and cap,
    for all four providers (``daily`` when the schedule does not limit a provider); providers in
    ``backoff`` are then multiplied by ``factor`` (floored)."""
    out = {}
    conf = schedule.get("providers") or {}
    for prov in PROVIDERS:
        spec = conf.get(prov) or {}
        cap = daily
        if spec.get("share") is not None:
            cap = min(cap, int(math.floor(spec["share"] * daily + 1e-9)))
        if spec.get("cap") is not None:
            cap = min(cap, int(spec["cap"]))
        if backoff and prov in backoff:
            cap = int(math.floor(cap * factor + 1e-9))
        out[prov] = cap
    return out


def _pct(x):
    return "%.2f%%" % (100.0 * x) if x is not None else "n/a"


class _Tally:
    __slots__ = ("delivered", "hard", "soft", "deferred", "complaint")

    def __init__(self):
        self.delivered = self.hard = self.soft = self.deferred = self.complaint = 0

    def add(self, rec):
        g = rec.get
        self.delivered += g("delivered", 0) or 0
        self.hard += g("hard_bounce", 0) or 0
        self.soft += g("soft_bounce", 0) or 0
        self.deferred += g("deferred", 0) or 0
        self.complaint += g("complaint", 0) or 0

    def merge(self, other):
        self.delivered += other.delivered
        self.hard += other.hard
        self.soft += other.soft
        self.deferred += other.deferred
        self.complaint += other.complaint

    @property
    def attempted(self):
        return self.delivered + self.hard + self.soft

    def rates(self, min_volume):
        """Rates judged only on at least ``min_volume`` messages (None otherwise)."""
        att = self.attempted
        hb = self.hard / att if att >= min_volume and att > 0 else None
        cr = self.complaint / self.delivered if att >= min_volume and self.delivered > 0 else None
        tries = att + self.deferred
        dr = self.deferred / tries if tries >= min_volume and tries > 0 else None
        return {"hard_bounce_rate": hb, "complaint_rate": cr, "deferral_rate": dr}


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
    return {k: (round(v, 6) if v is not None else None) for k, v in sorted(rates.items())}


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
    th = dict(DEFAULT_THRESHOLDS)
    th.update(schedule.get("thresholds") or {})
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

    # Ledger: complete days only (strictly before today), not before warmup_start.
    last_sent = cur.get("last_sent")
    days = []
    for day in ledger:
        if day < today_s and (start_s is None or day >= start_s):
            days.append(day)
    days.sort()
    for day in reversed(days):
        t = _Tally()
        for rec in ledger[day].values():
            t.add(rec)
        if t.attempted + t.deferred > 0:
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
    daily = 0 if standby else _stage_volume(schedule, cur["stage_index"])
    provs = provider_caps(schedule, daily, backoff, th["provider_backoff"])
    cur["planned_on"] = today_s
    cur["action"] = action
    cur["daily"] = daily
    cur["version"] = STATE_VERSION
    decision = {
        "stage": None if warm else cur["stage_index"] + 1,
        "warm": warm,
        "daily": daily,
        "providers": provs,
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
    volume = _stage_volume(schedule, stage)
    need = _stage_min_days(schedule, stage)
    target = th["fill_ratio"] * volume
    min_vol = th["min_volume_for_rates"]

    # Sending days at this stage, oldest first.
    stage_days = []
    full_days = 0
    for day in days[bisect.bisect_left(days, since):]:
        total = _Tally()
        per = {}
        for prov, rec in ledger[day].items():
            t = _Tally()
            t.add(rec)
            per[prov] = t
            total.merge(t)
        if total.attempted + total.deferred <= 0:
            continue
        full = total.attempted >= target
        if full:
            full_days += 1
        stage_days.append((day, total, per, full))

    window = stage_days[-need:]
    win_total = _Tally()
    win_per = {}
    for _day, total, per, _full in window:
        win_total.merge(total)
        for prov, t in per.items():
            win_per.setdefault(prov, _Tally()).merge(t)
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
        win_total.attempted, len(window), _pct(win_rates["hard_bounce_rate"]),
        _pct(win_rates["complaint_rate"]), _pct(win_rates["deferral_rate"]))

    if status[0] == "over":
        new = max(0, stage - th["step_back"])
        decide(new)
        return "step_back", "%s: %d stage(s) down from %s to %s (%s)" % (
            status[1], stage - new, _stage_label(schedule, stage), _stage_label(schedule, new),
            summary), [], rates_out

    ms = overrides.get("max_stage")
    backoff = [p for p, _ in prov_over]
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


# --------------------------------------------------------------------------------------------
# Fleet
# --------------------------------------------------------------------------------------------
def _ip_schedule_name(model, ipinfo):
    name = ipinfo.get("schedule")
    if not name:
        tenant = (model.get("tenants") or {}).get(ipinfo.get("tenant")) or {}
        name = tenant.get("schedule")
    return name


def plan_fleet(model, states, ledgers, health, today):
    """Plan every IP of the fleet model.

    ``states``: {ip: state}; ``ledgers``: {ip: {date: {provider: counters}}}; ``health``:
    {ip: {"standby", "reason", "listed"}}. Returns ``(new_states, caps, report)`` where ``caps``
    follows the caps contract ({ip: {"daily", "providers", "standby", "stage", "reason"}}) and
    ``report`` = {"date", "ips": {ip: decision + tenant/host/schedule}, "capacity": {tenant: int},
    "actions": {action: count}}. IPs absent from the model are dropped from ``new_states``.
    """
    today_s = _as_date(today).isoformat()
    states = states or {}
    ledgers = ledgers or {}
    health = health or {}
    new_states, caps, ips_report, actions = {}, {}, {}, {}
    for address in sorted(model.get("ips") or {}):
        ipinfo = model["ips"][address]
        sname = _ip_schedule_name(model, ipinfo)
        schedule = (model.get("schedules") or {}).get(sname)
        if schedule is None:
            raise ValueError("IP %s: schedule %r is not defined in the fleet model" % (address, sname))
        st, dec = plan_ip(schedule, states.get(address), ledgers.get(address), health.get(address),
                          today_s, ipinfo.get("overrides") or {}, ipinfo.get("warmup_start"))
        new_states[address] = st
        caps[address] = {"daily": dec["daily"], "providers": dec["providers"], "standby": dec["standby"],
                         "stage": dec["stage"], "reason": dec["reason"]}
        ips_report[address] = dict(dec, tenant=ipinfo.get("tenant"), host=ipinfo.get("host"), schedule=sname)
        actions[dec["action"]] = actions.get(dec["action"], 0) + 1
    report = {"date": today_s, "ips": ips_report, "capacity": pool_capacity(model, caps),
              "actions": dict(sorted(actions.items()))}
    return new_states, caps, report


def caps_from_states(model, states, health, today):
    """Today's caps from the stored states, without planning (the hourly quota sync).

    An IP keeps the cap its last plan gave it (``daily``), except that a standby from the
    inventory override or from ``health`` takes effect at once (cap 0). An IP with no state yet
    gets what a first plan would give it (stage 1, or 0 before its ``warmup_start``).
    Returns the caps contract ``{ip: {"daily", "providers", "standby", "stage", "reason"}}``.
    """
    today_s = _as_date(today).isoformat()
    states = states or {}
    health = health or {}
    caps = {}
    for address in sorted(model.get("ips") or {}):
        ipinfo = model["ips"][address]
        schedule = (model.get("schedules") or {}).get(_ip_schedule_name(model, ipinfo))
        if schedule is None:
            raise ValueError("IP %s: its schedule is not defined in the fleet model" % address)
        state = states.get(address)
        overrides = ipinfo.get("overrides") or {}
        if state is None or state.get("planned_on") is None:
            _st, dec = plan_ip(schedule, None, None, health.get(address), today_s, overrides,
                               ipinfo.get("warmup_start"))
            caps[address] = {"daily": dec["daily"], "providers": dec["providers"], "standby": dec["standby"],
                             "stage": dec["stage"], "reason": dec["reason"]}
            continue
        validate_state(state)
        stage_index = int(state["stage_index"])
        stage = None if stage_index >= len(schedule["stages"]) else stage_index + 1
        ip_health = health.get(address) or {}
        if overrides.get("standby") or ip_health.get("standby"):
            why = "standby override" if overrides.get("standby") else (ip_health.get("reason") or "health: standby")
            caps[address] = {"daily": 0, "providers": provider_caps(schedule, 0), "standby": True,
                             "stage": stage, "reason": why}
            continue
        daily = int(state.get("daily") or 0)
        caps[address] = {"daily": daily, "providers": provider_caps(schedule, daily),
                         "standby": bool(state.get("standby")), "stage": stage,
                         "reason": "as planned on %s (%s)" % (state["planned_on"], state.get("action"))}
    return caps


def pool_capacity(model, caps):
    """{tenant: sum of daily over its non-standby IPs} (every tenant of the model, 0 if none)."""
    out = {t: 0 for t in (model.get("tenants") or {})}
    for address, ipinfo in (model.get("ips") or {}).items():
        cap = caps.get(address)
        tenant = ipinfo.get("tenant")
        if cap is None or tenant is None:
            continue
        out.setdefault(tenant, 0)
        if not cap.get("standby"):
            out[tenant] += int(cap.get("daily") or 0)
    return dict(sorted(out.items()))
