# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Warmup schedules: their grammar, defaults and thresholds, and what a stage means.

Pure Python, standard library only, no Ansible objects (imported by the fleet validation, the
warmup planner, the state integrity check, modules on PowerMTA hosts, tests and benchmarks).

A schedule as written in the inventory (``mailfleet_warmup_schedules.<name>``) is validated and
normalised by :func:`normalize_schedule`; everything else reads the normalised form::

    {"name", "stages": [{"volume", "min_days"}], "min_days", "full_rate",
     "providers": {p: {"share": float|None, "cap": int|None}}, "thresholds": {all keys}}

Stage indexes are 0-based (``len(stages)`` = warm, running at ``full_rate``); operators and
reasons count stages from 1 (:func:`stage_label`).
"""
from __future__ import absolute_import, division, print_function

from ansible_collections.mailfleet.fleet.plugins.module_utils.capacity import PROVIDERS, stage_volume
from ansible_collections.mailfleet.fleet.plugins.module_utils.grammar import is_int, is_number, typename

__metaclass__ = type

#: Defaults for ``schedule["thresholds"]``; every key can be overridden per schedule.
DEFAULT_THRESHOLDS = {
    # SparkPost auto-warmup: move up only after *delivering* > 90 % of the stage volume
    # (capacity.fill_volume: delivered, net of remote bounces; bounces and deferrals do not fill).
    "fill_ratio": 0.9,
    # A provider's day counts toward its own next stage when it delivered >= 30 % of its cap at
    # its stage. Its cap is a ceiling (a share of the stage), not a target: its traffic is the
    # tenant's list mix. Stages grow x2.5 to x4 (SparkPost 200, 500, 1k, 2k, 5k; the team's 50,
    # 200, 500, 1500), so 30 % of the current cap is about what the stage below allowed: a
    # provider climbs once it carries what it was given before (Amazon SES warms per mailbox
    # provider on the volume each one receives); one never sent to stays at its first stage.
    "provider_fill_ratio": 0.3,
    # ESPs and mailbox providers treat > 2 % hard bounces as a list-quality problem.
    "max_hard_bounce_rate": 0.02,
    # Gmail / Yahoo bulk-sender rule: spam rate must stay under 0.3 %.
    "max_complaint_rate": 0.003,
    # GreenArrow-style back-off: > 15 % deferrals means receivers are throttling this IP.
    "max_deferral_rate": 0.15,
    # Replies classed rate_limited or reputation (replies.py: Gmail 421 4.7.28 "unusual rate",
    # 4.7.0 "very low reputation", Yahoo [TSS04]/[TS0x], Microsoft 4.7.650 / S3150, block lists)
    # over every try. A receiver says in words that it distrusts the IP: KumoMTA's traffic shaping
    # suspends a source on the first such reply, PowerMTA's backoff rules (rendered by mailfleet)
    # slow its queue within minutes. The day's verdict steps back when more than 1 try in 20 was
    # refused or deferred for reputation -- far above the stray block list of one small MX, far
    # below the 15 % of generic deferrals (which also count greylisting and full mailboxes).
    "max_reputation_rate": 0.05,
    # Replies classed auth (SPF / DKIM / DMARC / PTR not met: Gmail 4.7.26-4.7.40 / 5.7.26,
    # Microsoft 5.7.515, Yahoo 5.7.9) over every try. Gmail's and Yahoo's 2024 bulk-sender rules
    # require every message to authenticate: failures are a broken DNS record or signing key,
    # never noise, and receivers count the unauthenticated mail against the IP. Over 1 %: step
    # back (and fix the record: the health check's DNS audit names it).
    "max_auth_failure_rate": 0.01,
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
    # Factor applied to one provider's cap when that provider alone is over a threshold and is at
    # its first stage already (it cannot step back further).
    "provider_backoff": 0.5,
    # SparkPost flags an IP that has not reached its target for 10 days: an IP still at its stage
    # after this many sending days (and more than the stage's min_days) is reported stuck, with
    # why, and alerted once.
    "stuck_days": 10,
}

THRESHOLD_KEYS = tuple(sorted(DEFAULT_THRESHOLDS))

# key -> (kind, low, low_inclusive, high, high_inclusive, what is expected)
_THRESHOLD_SPECS = {
    "fill_ratio": ("float", 0.0, False, 1.0, True, "a number greater than 0 and at most 1"),
    "provider_fill_ratio": ("float", 0.0, False, 1.0, True, "a number greater than 0 and at most 1"),
    "max_reputation_rate": ("float", 0.0, False, 1.0, True, "a rate greater than 0 and at most 1"),
    "max_auth_failure_rate": ("float", 0.0, False, 1.0, True, "a rate greater than 0 and at most 1"),
    "stuck_days": ("int", 1, True, None, None, "an integer number of sending days, at least 1"),
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


def _got(value):
    """How a refused value is shown after "got": a number as itself, anything else by its type
    (``grammar.typename``) and, for a scalar, its value -- the style of the fleet validation."""
    if is_number(value):
        return repr(value)
    if value is None or isinstance(value, (dict, list)):
        return typename(value)
    return "%s (%r)" % (typename(value), value)


def _check_positive_int(value, path, errors, what, minimum=1):
    if not is_int(value):
        errors.append((path, "%s must be an integer >= %d, got %s" % (what, minimum, _got(value))))
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
        return None, [("", "a schedule must be a mapping with at least 'stages', got %s" % _got(raw))]
    for key in sorted(k for k in raw if k not in _SCHEDULE_KEYS):
        errors.append((str(key), "unknown key; expected one of %s" % ", ".join(_SCHEDULE_KEYS)))

    sched_name = raw.get("name", name)
    if sched_name is not None and not isinstance(sched_name, str):
        errors.append(("name", "must be a string, got %s" % _got(sched_name)))

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
                                 "got %s" % ("an empty list" if raw_stages == [] else _got(raw_stages))))
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
            elif is_int(item) or isinstance(item, bool) or item is None or isinstance(item, (str, float, list)):
                volume, vpath = item, path
            else:
                errors.append((path, "must be a daily volume (integer) or {volume, min_days}, got %s"
                               % _got(item)))
                continue
            if not is_int(volume):
                errors.append((vpath, "volume must be a positive integer (messages per day), got %s"
                               % _got(volume)))
                continue
            if volume <= 0:
                errors.append((vpath, "volume must be a positive integer (messages per day), got %d" % volume))
                continue
            if previous is not None and volume <= previous:
                errors.append((vpath, "volume must be greater than the previous stage (%s), got %d"
                               % (previous, volume)))
            previous = volume
            if days is not None:
                stages.append({"volume": volume, "min_days": days})

    full_rate = stages[-1]["volume"] if stages else None
    if "full_rate" in raw and raw["full_rate"] is not None:
        fr = raw["full_rate"]
        if not is_int(fr) or fr <= 0:
            errors.append(("full_rate", "must be a positive integer (messages per day once warm), got %s"
                           % _got(fr)))
        elif stages and len(errors) == n_errors_before_stages and fr < stages[-1]["volume"]:
            errors.append(("full_rate", "must be at least the last stage's volume (%d), got %d"
                           % (stages[-1]["volume"], fr)))
        else:
            full_rate = fr

    providers = _normalize_providers(raw.get("providers"), errors)
    thresholds = _normalize_thresholds(raw.get("thresholds"), errors)

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


def _normalize_providers(raw_prov, errors):
    providers = {}
    if raw_prov is None:
        return providers
    if not isinstance(raw_prov, dict):
        errors.append(("providers", "must be a mapping provider -> {share} or {cap}, got %s" % _got(raw_prov)))
        return providers
    for prov in sorted(raw_prov, key=str):
        spec = raw_prov[prov]
        path = "providers.%s" % prov
        if prov not in PROVIDERS:
            errors.append((path, "unknown provider; expected one of %s" % ", ".join(PROVIDERS)))
            continue
        if is_number(spec):
            spec = {"share": spec}
        if not isinstance(spec, dict):
            errors.append((path, "must be a share (0 < x <= 1), {share: x} or {cap: n}, got %s" % _got(spec)))
            continue
        for key in sorted(k for k in spec if k not in ("share", "cap")):
            errors.append(("%s.%s" % (path, key), "unknown key; expected share or cap"))
        if ("share" in spec) == ("cap" in spec):
            errors.append((path, "needs exactly one of share (0 < x <= 1 of the daily cap) "
                                 "or cap (messages per day)"))
            continue
        if "share" in spec:
            share = spec["share"]
            if not is_number(share) or not 0 < share <= 1:
                errors.append((path + ".share", "must be a number greater than 0 and at most 1, "
                                                "got %s" % _got(share)))
                continue
            providers[prov] = {"share": float(share), "cap": None}
        else:
            cap = _check_positive_int(spec["cap"], path + ".cap", errors, "cap (messages per day)")
            if cap is not None:
                providers[prov] = {"share": None, "cap": cap}
    return providers


def _normalize_thresholds(raw_th, errors):
    thresholds = dict(DEFAULT_THRESHOLDS)
    if raw_th is None:
        return thresholds
    if not isinstance(raw_th, dict):
        errors.append(("thresholds", "must be a mapping with keys among %s, got %s"
                       % (", ".join(THRESHOLD_KEYS), _got(raw_th))))
        return thresholds
    for key in sorted(raw_th, key=str):
        path = "thresholds.%s" % key
        value = raw_th[key]
        if key not in _THRESHOLD_SPECS:
            errors.append((path, "unknown threshold; expected one of %s" % ", ".join(THRESHOLD_KEYS)))
            continue
        kind, lo, lo_inc, hi, hi_inc, expected = _THRESHOLD_SPECS[key]
        ok = is_int(value) if kind == "int" else is_number(value)
        if ok:
            ok = (value >= lo if lo_inc else value > lo)
        if ok and hi is not None:
            ok = (value <= hi if hi_inc else value < hi)
        if not ok:
            errors.append((path, "must be %s, got %s" % (expected, _got(value))))
            continue
        thresholds[key] = float(value) if kind == "float" else value
    return thresholds


# --------------------------------------------------------------------------------------------
# What a stage of a normalised schedule means
# --------------------------------------------------------------------------------------------
def thresholds_of(schedule):
    """The schedule's thresholds merged over the defaults."""
    th = dict(DEFAULT_THRESHOLDS)
    th.update(schedule.get("thresholds") or {})
    return th


def n_stages(schedule):
    """Number of stages; a stage index equal to it means warm."""
    return len(schedule["stages"])


def stage_min_days(schedule, stage):
    """Full sending days 0-based ``stage`` needs before the next one (the last stage's once warm)."""
    stages = schedule["stages"]
    if stage >= len(stages):
        return stages[-1].get("min_days", DEFAULT_MIN_DAYS)
    return stages[stage].get("min_days", DEFAULT_MIN_DAYS)


def stage_label(schedule, stage):
    """``stage 2 (200/day)`` or ``warm (10000/day)`` for 0-based ``stage``."""
    if stage >= len(schedule["stages"]):
        return "warm (%d/day)" % stage_volume(schedule, stage)
    return "stage %d (%d/day)" % (stage + 1, stage_volume(schedule, stage))
