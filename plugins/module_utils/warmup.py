# -*- coding: utf-8 -*-
"""Warmup engine: per-IP daily quotas that advance on real sending and on health.

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
import json
import math
import re

__metaclass__ = type

STATE_VERSION = 1

PROVIDER_NAMES = ("gmail", "microsoft", "yahoo", "other")
LEDGER_FIELDS = ("delivered", "hard_bounce", "soft_bounce", "deferred", "complaint")

ACTIONS = ("advance", "hold", "step_back", "standby", "resume", "rewarm", "warm", "pinned", "new")

#: Defaults for ``schedule["thresholds"]``; every key can be overridden per schedule.
DEFAULT_THRESHOLDS = {
    # SparkPost auto-warmup: move up only after delivering > 90 % of the stage volume.
    "fill_ratio": 0.9,
    # ESPs and mailbox providers treat > 2 % hard bounces as a list-quality problem.
    "max_hard_bounce_rate": 0.02,
    # Gmail / Yahoo bulk-sender rule: spam rate must stay under 0.3 %.
    "max_complaint_rate": 0.003,
    # GreenArrow-style back-off: > 15 % deferrals means receivers are throttling this IP.
    "max_deferral_rate": 0.15,
    # Hold (do not advance) once a rate reaches 75 % of its threshold: stop before the cliff.
    "near_limit": 0.75,
    # Stages to go down when a rate is over its threshold.
    "step_back": 1,
    # SendGrid re-warms after 30 idle days; our stages are steeper (x2.5-x4 a week vs SendGrid's
    # x1.4 a day), so resuming a stale reputation at a high stage costs more: re-warm after 21.
    "idle_days": 21,
    # Stages to go down per idle period.
    "rewarm_step_back": 2,
    # Do not judge rates on fewer messages (1 complaint in 50 mails is already 2 %).
    "min_volume_for_rates": 200,
    # Stages to go down when leaving standby (a listing means receivers distrust the IP).
    "resume_step_back": 1,
    # Factor applied to one provider's cap when that provider alone is over a threshold.
    "provider_backoff": 0.5,
}

THRESHOLD_KEYS = tuple(sorted(DEFAULT_THRESHOLDS))

# key -> (kind, low, low_inclusive, high, high_inclusive, what is expected)
_THRESHOLD_SPECS = {
    "fill_ratio": ("float", 0.0, False, 1.0, True, "a number greater than 0 and at most 1"),
    "max_hard_bounce_rate": ("float", 0.0, False, 1.0, True, "a rate greater than 0 and at most 1"),
    "max_complaint_rate": ("float", 0.0, False, 1.0, True, "a rate greater than 0 and at most 1"),
    "max_deferral_rate": ("float", 0.0, False, 1.0, True, "a rate greater than 0 and at most 1"),
    "near_limit": ("float", 0.0, False, 1.0, False, "a fraction greater than 0 and less than 1"),
    "step_back": ("int", 1, True, None, None, "an integer number of stages, at least 1"),
    "idle_days": ("int", 1, True, None, None, "an integer number of days, at least 1"),
    "rewarm_step_back": ("int", 0, True, None, None, "an integer number of stages, at least 0"),
    "min_volume_for_rates": ("int", 0, True, None, None, "an integer number of messages, at least 0"),
    "resume_step_back": ("int", 0, True, None, None, "an integer number of stages, at least 0"),
    "provider_backoff": ("float", 0.0, True, 1.0, False, "a factor at least 0 and less than 1"),
}

DEFAULT_MIN_DAYS = 7
_SCHEDULE_KEYS = ("full_rate", "min_days", "name", "providers", "stages", "thresholds")
_RATE_KEYS = (
    ("hard_bounce_rate", "max_hard_bounce_rate", "hard bounces"),
    ("complaint_rate", "max_complaint_rate", "complaints"),
    ("deferral_rate", "max_deferral_rate", "deferrals"),
)


# --------------------------------------------------------------------------------------------
# Schedule validation
# --------------------------------------------------------------------------------------------
def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not (
        isinstance(value, float) and (math.isnan(value) or math.isinf(value)))


def _typename(value):
    if isinstance(value, bool):
        return "a boolean (%s)" % ("yes" if value else "no")
    if value is None:
        return "nothing (null)"
    if isinstance(value, str):
        return "the string %r" % value
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _check_positive_int(value, path, errors, what, minimum=1):
    if not _is_int(value):
        errors.append((path, "%s must be an integer >= %d, got %s" % (what, minimum, _typename(value))))
        return None
    if value < minimum:
        errors.append((path, "%s must be an integer >= %d, got %d" % (what, minimum, value)))
        return None
    return value


def normalize_schedule(raw, name=None):
    """Validate a warmup schedule as written in the inventory.

    Returns ``(schedule, errors)``. ``errors`` is a list of ``(key_path, message)`` such as
    ``("stages[2]", "volume must be greater than the previous stage (500), got 400")``; when it
    is not empty ``schedule`` is ``None``. The normalised schedule is
    ``{"name", "stages": [{"volume", "min_days"}], "min_days", "full_rate",
    "providers": {p: {"share": float|None, "cap": int|None}}, "thresholds": {all keys}}``
    (thresholds merged over ``DEFAULT_THRESHOLDS``).
    """
    errors = []
    if not isinstance(raw, dict):
        return None, [("", "a schedule must be a mapping with at least 'stages', got %s" % _typename(raw))]
    for key in sorted(k for k in raw if k not in _SCHEDULE_KEYS):
        errors.append((str(key), "unknown key; expected one of %s" % ", ".join(_SCHEDULE_KEYS)))

    sched_name = raw.get("name", name)
    if sched_name is not None and not isinstance(sched_name, str):
        errors.append(("name", "must be a string, got %s" % _typename(sched_name)))

    min_days = DEFAULT_MIN_DAYS
    if "min_days" in raw:
        min_days = _check_positive_int(raw["min_days"], "min_days", errors,
                                       "min_days (sending days per stage)") or DEFAULT_MIN_DAYS

    stages = []
    n_errors_before_stages = len(errors)
    raw_stages = raw.get("stages")
    if raw_stages is None:
        errors.append(("stages", "is required: a list of daily volumes, e.g. [50, 200, 500], "
                                 "or of {volume, min_days}"))
    elif not isinstance(raw_stages, list) or not raw_stages:
        errors.append(("stages", "must be a non-empty list of daily volumes or of {volume, min_days}, "
                                 "got %s" % ("an empty list" if raw_stages == [] else _typename(raw_stages))))
    else:
        previous = None
        for i, item in enumerate(raw_stages):
            path = "stages[%d]" % i
            volume, days = None, min_days
            if isinstance(item, dict):
                for key in sorted(k for k in item if k not in ("volume", "min_days")):
                    errors.append(("%s.%s" % (path, key), "unknown key; expected volume, min_days"))
                if "volume" not in item:
                    errors.append((path, "volume is required (messages per day)"))
                    continue
                volume = item["volume"]
                vpath = path + ".volume"
                if "min_days" in item:
                    days = _check_positive_int(item["min_days"], path + ".min_days", errors,
                                               "min_days (sending days at this stage)")
            elif _is_int(item) or isinstance(item, bool) or item is None or isinstance(item, (str, float, list)):
                volume, vpath = item, path
            else:
                errors.append((path, "must be a daily volume (integer) or {volume, min_days}, got %s"
                               % _typename(item)))
                continue
            if not _is_int(volume):
                errors.append((vpath, "volume must be a positive integer (messages per day), got %s"
                               % _typename(volume)))
                continue
            if volume <= 0:
                errors.append((vpath, "volume must be a positive integer (messages per day), got %d" % volume))
                continue
            if previous is not None and volume <= previous:
                errors.append((vpath, "volume must be greater than the previous stage (%d), got %d"
                               % (previous, volume)))
            previous = volume
            if days is not None:
                stages.append({"volume": volume, "min_days": days})

    full_rate = stages[-1]["volume"] if stages else None
    if "full_rate" in raw and raw["full_rate"] is not None:
        fr = raw["full_rate"]
        if not _is_int(fr) or fr <= 0:
            errors.append(("full_rate", "must be a positive integer (messages per day once warm), got %s"
                           % _typename(fr)))
        elif stages and len(errors) == n_errors_before_stages and fr < stages[-1]["volume"]:
            errors.append(("full_rate", "must be at least the last stage's volume (%d), got %d"
                           % (stages[-1]["volume"], fr)))
        else:
            full_rate = fr

    providers = {}
    raw_prov = raw.get("providers")
    if raw_prov is not None:
        if not isinstance(raw_prov, dict):
            errors.append(("providers", "must be a mapping provider -> {share} or {cap}, got %s"
                           % _typename(raw_prov)))
        else:
            for prov in sorted(raw_prov, key=str):
                spec = raw_prov[prov]
                path = "providers.%s" % prov
                if prov not in PROVIDER_NAMES:
                    errors.append((path, "unknown provider; expected one of %s" % ", ".join(PROVIDER_NAMES)))
                    continue
                if _is_number(spec):
                    spec = {"share": spec}
                if not isinstance(spec, dict):
                    errors.append((path, "must be a share (0 < x <= 1), {share: x} or {cap: n}, got %s"
                                   % _typename(spec)))
                    continue
                extra = sorted(k for k in spec if k not in ("share", "cap"))
                for key in extra:
                    errors.append(("%s.%s" % (path, key), "unknown key; expected share or cap"))
                if ("share" in spec) == ("cap" in spec):
                    errors.append((path, "needs exactly one of share (0 < x <= 1 of the daily cap) "
                                         "or cap (messages per day)"))
                    continue
                if "share" in spec:
                    share = spec["share"]
                    if not _is_number(share) or not 0 < share <= 1:
                        errors.append((path + ".share", "must be a number greater than 0 and at most 1, "
                                                        "got %s" % _typename(share)))
                        continue
                    providers[prov] = {"share": float(share), "cap": None}
                else:
                    cap = _check_positive_int(spec["cap"], path + ".cap", errors, "cap (messages per day)")
                    if cap is not None:
                        providers[prov] = {"share": None, "cap": cap}

    thresholds = dict(DEFAULT_THRESHOLDS)
    raw_th = raw.get("thresholds")
    if raw_th is not None:
        if not isinstance(raw_th, dict):
            errors.append(("thresholds", "must be a mapping with keys among %s, got %s"
                           % (", ".join(THRESHOLD_KEYS), _typename(raw_th))))
        else:
            for key in sorted(raw_th, key=str):
                path = "thresholds.%s" % key
                value = raw_th[key]
                if key not in _THRESHOLD_SPECS:
                    errors.append((path, "unknown threshold; expected one of %s" % ", ".join(THRESHOLD_KEYS)))
                    continue
                kind, lo, lo_inc, hi, hi_inc, expected = _THRESHOLD_SPECS[key]
                ok = _is_int(value) if kind == "int" else _is_number(value)
                if ok:
                    ok = (value >= lo if lo_inc else value > lo)
                if ok and hi is not None:
                    ok = (value <= hi if hi_inc else value < hi)
                if not ok:
                    errors.append((path, "must be %s, got %s" % (expected, _typename(value))))
                    continue
                thresholds[key] = float(value) if kind == "float" else value

    if errors:
        return None, errors
    return {
        "name": sched_name,
        "stages": stages,
        "min_days": min_days,
        "full_rate": full_rate,
        "providers": providers,
        "thresholds": thresholds,
    }, []


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------
_DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _parse_date(text):
    if not isinstance(text, str) or not _DATE_RE.match(text):
        raise ValueError("not a YYYY-MM-DD date: %r" % (text,))
    return datetime.date(int(text[0:4]), int(text[5:7]), int(text[8:10]))


def _as_date(value):
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    return _parse_date(str(value))


def _stage_volume(schedule, stage):
    stages = schedule["stages"]
    if stage >= len(stages):
        return schedule.get("full_rate") or stages[-1]["volume"]
    return stages[stage]["volume"]


def _stage_min_days(schedule, stage):
    stages = schedule["stages"]
    if stage >= len(stages):
        return stages[-1].get("min_days", DEFAULT_MIN_DAYS)
    return stages[stage].get("min_days", DEFAULT_MIN_DAYS)


def _stage_label(schedule, stage):
    if stage >= len(schedule["stages"]):
        return "warm (%d/day)" % _stage_volume(schedule, stage)
    return "stage %d (%d/day)" % (stage + 1, _stage_volume(schedule, stage))


def provider_caps(schedule, daily, backoff=None, factor=0.5):
    """Per-provider caps for ``daily``: the smallest of daily, share x daily (floored) and cap,
    for all four providers (``daily`` when the schedule does not limit a provider); providers in
    ``backoff`` are then multiplied by ``factor`` (floored)."""
    out = {}
    conf = schedule.get("providers") or {}
    for prov in PROVIDER_NAMES:
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


def new_state(stage, today_s):
    return {
        "version": STATE_VERSION,
        "stage_index": stage,
        "stage_since": today_s,
        "standby": False,
        "standby_since": None,
        "last_sent": None,
        "rewarm": None,
        "planned_on": None,
        "action": None,
        "daily": 0,
        "base": None,
    }


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


# --------------------------------------------------------------------------------------------
# State serialisation
# --------------------------------------------------------------------------------------------
_STATE_KEYS = {"version", "stage_index", "stage_since", "standby", "standby_since", "last_sent", "rewarm",
               "planned_on", "action", "daily", "base"}


def _check_date(value, what, allow_none=True):
    if value is None and allow_none:
        return
    if not isinstance(value, str):
        raise ValueError("%s must be a YYYY-MM-DD date, got %s" % (what, _typename(value)))
    try:
        _parse_date(value)
    except ValueError:
        raise ValueError("%s must be a YYYY-MM-DD date, got %r" % (what, value))


def validate_state(state, what="state"):
    """Raise ValueError (with a precise message) unless ``state`` is a valid per-IP state."""
    if not isinstance(state, dict):
        raise ValueError("%s must be a mapping, got %s" % (what, _typename(state)))
    if state.get("version") != STATE_VERSION:
        raise ValueError("%s: unsupported version %r (expected %d)" % (what, state.get("version"), STATE_VERSION))
    if not _is_int(state.get("stage_index")) or state["stage_index"] < 0:
        raise ValueError("%s: stage_index must be an integer >= 0, got %s" % (what, _typename(state.get("stage_index"))))
    _check_date(state.get("stage_since"), what + ".stage_since", allow_none=False)
    for key in ("standby_since", "last_sent", "planned_on"):
        _check_date(state.get(key), "%s.%s" % (what, key))
    if not isinstance(state.get("standby", False), bool):
        raise ValueError("%s: standby must be a boolean" % what)
    rw = state.get("rewarm")
    if rw is not None and (not isinstance(rw, dict) or not _is_int(rw.get("periods"))):
        raise ValueError("%s: rewarm must be null or {after, periods}" % what)
    if state.get("base") is not None:
        validate_state(state["base"], what + ".base")


def load_states(text):
    """Parse a warmup state file: ``{"version": 1, "ips": {ip: state}}`` -> {ip: state}.

    Empty text gives {}; anything malformed raises ValueError."""
    if text is None or not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError("not valid JSON: %s" % exc)
    if not isinstance(data, dict) or "ips" not in data:
        raise ValueError("expected an object with 'version' and 'ips'")
    if data.get("version") != STATE_VERSION:
        raise ValueError("unsupported state file version %r (expected %d)" % (data.get("version"), STATE_VERSION))
    ips = data["ips"]
    if not isinstance(ips, dict):
        raise ValueError("'ips' must be an object ip -> state")
    for ip, st in ips.items():
        validate_state(st, "ips[%s]" % ip)
    return ips


def dump_states(states):
    """Serialise {ip: state} deterministically (sorted keys, trailing newline)."""
    for ip, st in (states or {}).items():
        validate_state(st, "ips[%s]" % ip)
    return json.dumps({"version": STATE_VERSION, "ips": states or {}}, sort_keys=True, indent=1,
                      separators=(",", ": ")) + "\n"
