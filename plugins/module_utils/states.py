# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The warmup state file of a PowerMTA host: its codec (load / dump / validate).

Pure Python, standard library only: the ``host_state`` module runs it on PowerMTA hosts.

The file is ``{"version": 1, "ips": {address: state}}`` with, per IP::

    {"version": 1, "stage_index": int >= 0 (0-based; len(stages) = warm), "stage_since": date,
     "standby": bool, "standby_since": date|None, "last_sent": date|None,
     "rewarm": None | {"after": date, "periods": int}, "planned_on": date|None,
     "action": str|None, "daily": int, "backoff": [provider, ...], "repair": date|None,
     "providers": {provider: {"stage_index": int, "since": date}}, "base": state|None}

``daily``, ``backoff`` and ``providers`` are what the last plan deployed (the daily cap, the
providers whose cap was multiplied by the schedule's ``provider_backoff``, and each provider's
own warmup stage, never above the IP's, with the day it started): ``warmup.stored_cap`` rebuilds
the deployed caps from them, so MailWizz is told exactly what PowerMTA enforces. A state written
before provider stages existed has no ``providers``: :func:`check_host_states` gives it the
highest provider stages the sending evidence admits, never above the IP's (what the host could
have written), so nothing read from a host raises a cap.

``base`` is the state the day's first plan started from (see ``warmup.plan_ip``, rule 1);
``repair`` is the day a refused state was replaced by :func:`fallback_state` (that day the IP
holds). A state read from a host is evidence, not truth: :func:`read_state_file` reads a file
without ever raising and :func:`check_host_states` checks each IP's state against the schedule,
its ``warmup_start``, today and the ledger (see "Integrity" below).
"""
from __future__ import absolute_import, division, print_function

import bisect
import datetime
import json

from ansible_collections.mailfleet.fleet.plugins.module_utils import capacity
from ansible_collections.mailfleet.fleet.plugins.module_utils.capacity import PROVIDERS
from ansible_collections.mailfleet.fleet.plugins.module_utils.grammar import is_int, parse_date, typename
from ansible_collections.mailfleet.fleet.plugins.module_utils.health import HEALTH_STATE_VERSION
from ansible_collections.mailfleet.fleet.plugins.module_utils.schedule import (
    n_stages, stage_label, stage_min_days, thresholds_of)

__metaclass__ = type

STATE_VERSION = 1


_DATES = {}


def date_of(value):
    """``grammar.parse_date``, memoised for date strings (a fleet's states repeat the same few
    days; the planner reads thousands of them)."""
    if not isinstance(value, str):
        return parse_date(value)
    hit = _DATES.get(value)
    if hit is None:
        hit = parse_date(value)
        if hit is not None and len(_DATES) < 4096:
            _DATES[value] = hit
    return hit


def fresh_providers(stage, today_s):
    """Every provider at 0-based ``stage`` since ``today_s``."""
    return {p: {"stage_index": stage, "since": today_s} for p in PROVIDERS}


def provider_stages(state):
    """``{provider: 0-based stage}`` of a state; a state without provider stages (written before
    they existed) has every provider at the IP's stage (what its caps were derived from)."""
    provs = state.get("providers")
    if not isinstance(provs, dict):
        return dict.fromkeys(PROVIDERS, int(state["stage_index"]))
    return {p: int(provs[p]["stage_index"]) for p in PROVIDERS}


def new_state(stage, today_s):
    """A fresh per-IP state at 0-based ``stage`` starting ``today_s`` (its providers too)."""
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
        "backoff": [],
        "repair": None,
        "providers": fresh_providers(stage, today_s),
        "base": None,
    }


def _check_date(value, what, allow_none=True):
    if value is None and allow_none:
        return
    if not isinstance(value, str):
        raise ValueError("%s must be a YYYY-MM-DD date, got %s" % (what, typename(value)))
    if date_of(value) is None:
        raise ValueError("%s must be a YYYY-MM-DD date, got %r" % (what, value))


def validate_state(state, what="state"):
    """Raise ValueError (with a precise message) unless ``state`` is a valid per-IP state."""
    if not isinstance(state, dict):
        raise ValueError("%s must be a mapping, got %s" % (what, typename(state)))
    if state.get("version") != STATE_VERSION:
        raise ValueError("%s: unsupported version %r (expected %d)" % (what, state.get("version"), STATE_VERSION))
    if not is_int(state.get("stage_index")) or state["stage_index"] < 0:
        raise ValueError("%s: stage_index must be an integer >= 0, got %s" % (what, typename(state.get("stage_index"))))
    _check_date(state.get("stage_since"), what + ".stage_since", allow_none=False)
    for key in ("standby_since", "last_sent", "planned_on", "repair"):
        _check_date(state.get(key), "%s.%s" % (what, key))
    if not isinstance(state.get("standby", False), bool):
        raise ValueError("%s: standby must be a boolean" % what)
    rw = state.get("rewarm")
    if rw is not None and (not isinstance(rw, dict) or not is_int(rw.get("periods"))):
        raise ValueError("%s: rewarm must be null or {after, periods}" % what)
    if not is_int(state.get("daily", 0)) or state.get("daily", 0) < 0:
        raise ValueError("%s: daily must be an integer >= 0, got %s" % (what, typename(state.get("daily"))))
    backoff = state.get("backoff", [])
    if not isinstance(backoff, list) or any(p not in PROVIDERS for p in backoff):
        raise ValueError("%s: backoff must be a list of providers among %s" % (what, ", ".join(PROVIDERS)))
    if "providers" in state:
        _validate_providers(state["providers"], what + ".providers")
    if state.get("base") is not None:
        validate_state(state["base"], what + ".base")


def _validate_providers(provs, what):
    """Every provider, each ``{"stage_index": int >= 0, "since": date}`` (nothing more)."""
    if not isinstance(provs, dict) or sorted(provs) != sorted(PROVIDERS):
        raise ValueError("%s must be a mapping with exactly the providers %s, got %s" % (
            what, ", ".join(PROVIDERS), typename(provs) if not isinstance(provs, dict) else
            "keys %s" % ", ".join(sorted(str(k) for k in provs))))
    for prov in PROVIDERS:
        entry = provs[prov]
        if not isinstance(entry, dict) or sorted(entry) != ["since", "stage_index"]:
            raise ValueError("%s.%s must be {stage_index, since}, got %s" % (what, prov, typename(entry)))
        if not is_int(entry["stage_index"]) or entry["stage_index"] < 0:
            raise ValueError("%s.%s.stage_index must be an integer >= 0, got %s" % (
                what, prov, typename(entry["stage_index"])))
        _check_date(entry["since"], "%s.%s.since" % (what, prov), allow_none=False)


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


# --------------------------------------------------------------------------------------------
# Reading a state file from a host: never raises, says what is wrong
# --------------------------------------------------------------------------------------------
def _salvage(state):
    """From a state that cannot be used, only what can lower a cap: a standby it records."""
    return {"standby": isinstance(state, dict) and state.get("standby") is True}


def _load_json(text, problems):
    """``(True, document)`` from a state file's text, or ``(False, None)``: a missing file (None),
    or one whose reason is added to ``problems`` -- an empty or blank file is corrupt, never
    "no state"."""
    if text is None:
        return False, None
    if not text.strip():
        problems.append("the file is empty (%d bytes): a state file is never empty, it was "
                        "truncated or not written completely" % len(text))
        return False, None
    try:
        return True, json.loads(text)
    except ValueError as exc:
        problems.append("not valid JSON (truncated or damaged): %s" % exc)
        return False, None


def read_state_file(text):
    """Read the text of a warmup state file as it was found on a host.

    Returns ``{"states": {ip: state}, "refused": {ip: {"problems": [..], "salvage": {"standby"}}},
    "problems": [..]}``: ``states`` are the per-IP states that pass the codec's checks;
    ``refused`` the ones that do not (with the reason); ``problems`` what is wrong with the file
    as a whole (then ``states`` is empty). An empty (0-byte or blank) or truncated file is corrupt,
    never "no state": a missing file is the caller's ``None``. Never raises.
    """
    out = {"states": {}, "refused": {}, "problems": []}
    loaded, data = _load_json(text, out["problems"])
    if not loaded:
        return out
    if not isinstance(data, dict) or "ips" not in data:
        out["problems"].append("expected an object with 'version' and 'ips', got %s" % typename(data))
        return out
    if data.get("version") != STATE_VERSION:
        out["problems"].append("unsupported state file version %r (expected %d)" % (data.get("version"), STATE_VERSION))
        return out
    if not isinstance(data["ips"], dict):
        out["problems"].append("'ips' must be an object ip -> state, got %s" % typename(data["ips"]))
        return out
    for ip, state in sorted(data["ips"].items()):
        try:
            validate_state(state, "state")
        except ValueError as exc:
            out["refused"][ip] = {"problems": [str(exc)], "salvage": _salvage(state)}
            continue
        out["states"][ip] = state
    return out


# --------------------------------------------------------------------------------------------
# Integrity: what a state claims against what the IP could have reached
# --------------------------------------------------------------------------------------------
def _d(value):
    return date_of(value) if value is not None else None


def sending_fills(ledger, provider=None):
    """``[(day, fill volume)]`` of the ledger's sending days, oldest first: of the whole IP, or of
    one ``provider`` (its own sending days and fill)."""
    out = []
    for day in sorted(ledger or {}):
        if provider is None:
            tot = capacity.Tally().add_day(ledger[day])
        else:
            rec = (ledger[day] or {}).get(provider)
            tot = capacity.Tally().add(rec) if isinstance(rec, dict) else capacity.Tally()
        if capacity.is_sending(tot):
            out.append((day, capacity.fill_volume(tot)))
    return out


def _bound(schedule, fills, targets, warmup_start, before, ledger_since, label, unit):
    """The highest 0-based stage reachable by ``before`` when stage ``i`` is full on a day whose
    fill is >= ``targets[i]`` (see :func:`evidence_bound`). ``fills``: ``[(day, fill)]`` sorted;
    ``label(k)`` names stage ``k`` in the reason."""
    n = n_stages(schedule)
    start, end = _d(warmup_start), _d(before)
    if start is None or end is None:
        return n, None
    total = max(0, (end - start).days)
    since = _d(ledger_since)
    unknown = total if since is None else max(0, min((since - start).days, total))
    window = []
    if since is not None:
        first, last = max(start, since).isoformat(), end.isoformat()
        lo, hi = bisect.bisect_left(fills, (first,)), bisect.bisect_left(fills, (last,))
        window = sorted(fill for _day, fill in fills[lo:hi])
    min_days = [stage_min_days(schedule, j) for j in range(n)]
    # days full at stage i's volume or more: the unknown ones plus the ledger's
    have = [unknown + len(window) - bisect.bisect_left(window, targets[i] - 1e-9) for i in range(n)]
    for k in range(1, n + 1):
        for i in range(k):
            need = sum(min_days[i:k])
            if have[i] < need:
                if since is None:
                    evidence = "%d calendar day(s) between warmup_start %s and %s" % (total, warmup_start, before)
                else:
                    evidence = "%d day(s) in the ledger from %s to %s with >= %d %s%s" % (
                        have[i] - unknown, max(start, since).isoformat(), before, int(-(-targets[i] // 1)), unit,
                        ", plus %d day(s) before the ledger's first day" % unknown if unknown else "")
                return k - 1, "%s needs %d full sending day(s) before %s; the evidence shows %s" % (
                    label(k), need, before, evidence)
    return n, None


def evidence_bound(schedule, ledger, warmup_start, before, ledger_since, fills=None):
    """The highest 0-based stage an IP can have reached by ``before`` (the day its current stage
    started), with what the evidence was. Stage ``k`` needs, for every ``i < k``, at least
    ``min_days(i) + ... + min_days(k - 1)`` days in ``[warmup_start, before)`` that were full at
    stage ``i``'s volume or more (an IP climbs one stage at a time; volumes only grow).

    Days from ``ledger_since`` on are judged on the ledger (full: ``capacity.fill_volume`` of the
    day -- delivered -- >= ``fill_ratio`` x the volume); days before it are unknown and count as
    full -- no evidence is no refusal. Without ``ledger_since`` only the calendar is known.
    ``fills``: :func:`sending_fills` of the ledger, when the caller already has it.
    Returns ``(bound, why_not_higher)``; ``why_not_higher`` is None when the schedule's end is
    reached."""
    fill_ratio = thresholds_of(schedule)["fill_ratio"]
    targets = [fill_ratio * capacity.stage_volume(schedule, i) for i in range(n_stages(schedule))]
    if ledger_since is not None and fills is None:
        fills = sending_fills(ledger)
    return _bound(schedule, fills or [], targets, warmup_start, before, ledger_since,
                  lambda k: stage_label(schedule, k), "delivered")


def provider_evidence_bound(schedule, provider, ledger, warmup_start, before, ledger_since, fills=None):
    """:func:`evidence_bound` of one provider's own stage: its days full at stage ``i`` are those
    it delivered ``capacity.provider_fill_target`` (of stage ``i``) or more; ``before`` is the day
    its current stage started. ``fills``: :func:`sending_fills` of that provider."""
    targets = [capacity.provider_fill_target(schedule, i, provider) for i in range(n_stages(schedule))]
    if ledger_since is not None and fills is None:
        fills = sending_fills(ledger, provider)
    return _bound(schedule, fills or [], targets, warmup_start, before, ledger_since,
                  lambda k: "%s at %s" % (provider, stage_label(schedule, k)), "delivered to %s" % provider)


def _future(value, today_d, inclusive=False):
    d = _d(value)
    return d is not None and (d >= today_d if inclusive else d > today_d)


def check_state(schedule, state, ledger, today, warmup_start, ledger_since=None, overrides=None, what="state",
                fills=None, provider_fills=None):
    """What is wrong with one IP's (codec-valid) state, judged against the schedule, the IP's
    ``warmup_start``, ``today`` and the ledger. Returns ``[(problem, scope)]``: ``scope`` is
    ``True`` when the stage itself cannot be trusted (the IP restarts at the first stage), a
    provider's name when that provider's stage cannot be (it restarts at its first stage), else
    ``False`` (only the named field is dropped). ``provider_fills``: ``{provider:
    sending_fills(ledger, provider)}`` when the caller already has them."""
    problems = []
    today_d = _d(today)
    overrides = overrides or {}
    n = n_stages(schedule)
    stage = state["stage_index"]
    if stage > n:
        problems.append(("%s: stage_index %d is beyond the schedule (%d stages, %d = warm)" % (
            what, stage, n, n), True))
    for key in ("stage_since", "planned_on"):
        if _future(state.get(key), today_d):
            problems.append(("%s: %s %s is in the future (today is %s)" % (what, key, state[key], today), True))
    if _future(state.get("last_sent"), today_d, inclusive=True):
        problems.append(("%s: last_sent %s is not a complete day before today (%s)" % (
            what, state["last_sent"], today), True))
    for key in ("standby_since",):
        if _future(state.get(key), today_d):
            problems.append(("%s: %s %s is in the future (today is %s)" % (what, key, state[key], today), False))
    rw = state.get("rewarm") or {}
    if _future(rw.get("after"), today_d):
        problems.append(("%s: rewarm.after %s is in the future" % (what, rw.get("after")), False))
    start = _d(warmup_start)
    since = _d(state.get("stage_since"))
    pin = overrides.get("pin_stage")
    pinned_here = pin is not None and stage <= max(0, int(pin) - 1)
    if stage > 0 and not pinned_here and start is not None and since is not None and since < start:
        problems.append(("%s: stage_since %s is before the IP's warmup_start %s, yet it is at %s" % (
            what, state["stage_since"], warmup_start, stage_label(schedule, min(stage, n))), True))
    if stage > 0 and not pinned_here and stage <= n and not any(p[1] is True for p in problems):
        bound, why = evidence_bound(schedule, ledger, warmup_start, state["stage_since"], ledger_since, fills)
        if stage > bound:
            problems.append(("%s: %s is more than the sending evidence allows (at most %s): %s%s" % (
                what, stage_label(schedule, stage), stage_label(schedule, bound), why,
                "; a pin_stage no longer in the inventory is not evidence" if state.get("action") == "pinned" else ""),
                True))
    last_sent = _d(state.get("last_sent"))
    since_l = _d(ledger_since)
    if (last_sent is not None and since_l is not None and last_sent >= since_l and not _future(last_sent, today_d, True)
            and not capacity.is_sending(capacity.day_totals((ledger or {}).get(state["last_sent"])))):
        problems.append(("%s: last_sent %s, but the ledger shows no sending that day" % (what, state["last_sent"]), False))
    daily = state.get("daily", 0)
    if stage <= n:
        volume = capacity.stage_volume(schedule, stage)
        if daily > volume:
            problems.append(("%s: daily %d is above the volume %d of %s (or the schedule's volumes were lowered "
                             "since it was planned)" % (what, daily, volume, stage_label(schedule, stage)), False))
    if state.get("standby") and daily:
        problems.append(("%s: daily %d while on standby (a standby's cap is 0)" % (what, daily), False))
    if not state.get("standby") and state.get("standby_since") is not None:
        problems.append(("%s: standby is false but standby_since is %s" % (what, state["standby_since"]), False))
    if isinstance(state.get("providers"), dict):
        problems += _check_providers(schedule, state, ledger, today_d, warmup_start, ledger_since, pin, what,
                                     provider_fills)
    return problems


def _check_providers(schedule, state, ledger, today_d, warmup_start, ledger_since, pin, what, provider_fills):
    """The provider stages of a state: each at most the IP's stage, its start neither in the
    future nor before ``warmup_start``, and no higher than its own sending evidence admits
    (:func:`provider_evidence_bound`). Problems are scoped to the provider."""
    problems = []
    n = n_stages(schedule)
    ip_stage = min(state["stage_index"], n)
    start = _d(warmup_start)
    for prov in PROVIDERS:
        entry = state["providers"][prov]
        stage, since_s = entry["stage_index"], entry["since"]
        where = "%s: providers.%s" % (what, prov)
        before = len(problems)
        if stage > ip_stage:
            problems.append(("%s at %s is above the IP's own %s (a provider's stage never is)" % (
                where, stage_label(schedule, min(stage, n)) if stage <= n else "stage_index %d" % stage,
                stage_label(schedule, ip_stage)), prov))
        if _future(since_s, today_d):
            problems.append(("%s.since %s is in the future (today is %s)" % (where, since_s, today_d.isoformat()), prov))
        pinned_here = pin is not None and stage <= max(0, int(pin) - 1)
        since = _d(since_s)
        if stage > 0 and not pinned_here and start is not None and since < start:
            problems.append(("%s.since %s is before the IP's warmup_start %s, yet %s is at %s" % (
                where, since_s, warmup_start, prov, stage_label(schedule, min(stage, n))), prov))
        if stage > 0 and not pinned_here and len(problems) == before:
            fills = (provider_fills or {}).get(prov)
            bound, why = provider_evidence_bound(schedule, prov, ledger, warmup_start, since_s, ledger_since, fills)
            if stage > bound:
                problems.append(("%s at %s is more than its sending evidence allows (at most %s): %s" % (
                    where, stage_label(schedule, stage), stage_label(schedule, bound), why), prov))
    return problems


def legacy_providers(schedule, state, ledger, warmup_start, ledger_since, provider_fills=None):
    """Provider stages for a state written before they existed: for each provider, the highest
    stage its own sending evidence admits by the IP's ``stage_since`` (see
    :func:`provider_evidence_bound`), never above the IP's stage, since the IP's ``stage_since``
    -- exactly what a host could have written and the check would accept, so a state that lost
    its ``providers`` gains nothing."""
    n = n_stages(schedule)
    ip_stage = min(int(state["stage_index"]), n)
    since = state["stage_since"]
    out = {}
    for prov in PROVIDERS:
        bound, _why = provider_evidence_bound(schedule, prov, ledger, warmup_start, since, ledger_since,
                                              (provider_fills or {}).get(prov))
        out[prov] = {"stage_index": min(ip_stage, bound), "since": since}
    return out


def check_host_states(model, host, read, ledgers, today, ledger_since=None, path="warmup-state.json"):
    """Check what ``read_state_file`` found in ``host``'s warmup state file against the model,
    the ledger and today.

    Returns ``{"trusted": {ip: state}, "repair": {ip: {"problems": [...], "fallback": state}},
    "findings": [{"host", "path", "ip", "problem"}]}``: trusted states go to the planner as they
    are; an IP in ``repair`` continues from ``fallback`` (:func:`fallback_state`); every finding
    names the file, the IP (None for the whole file) and what was wrong. IPs of the file that are
    not the host's in the inventory are findings and are dropped."""
    hinfo = (model.get("hosts") or {}).get(host) or {}
    ips = {ip["address"]: ip for ip in hinfo.get("ips") or []}
    today_s = _d(today).isoformat()
    out = {"trusted": {}, "repair": {}, "findings": []}

    def finding(ip, problem):
        out["findings"].append({"host": host, "kind": "warmup", "path": path, "ip": ip, "problem": problem})

    for problem in read.get("problems") or []:
        finding(None, problem)
    found = set(read.get("states") or {}) | set(read.get("refused") or {})
    for ip in sorted(found - set(ips)):
        finding(ip, "this IP is not one of %s's IPs in the inventory: its state is ignored" % host)
    for address in sorted(ips):
        ipinfo = ips[address]
        schedule = _schedule_of(model, ipinfo)
        if schedule is None:
            continue  # the planner names the missing schedule
        if read.get("problems"):
            out["repair"][address] = {"problems": list(read["problems"]), "fallback": fallback_state(
                schedule, None, True, today_s, ledger=(ledgers or {}).get(address), ledger_since=ledger_since)}
            continue
        if address in (read.get("refused") or {}):
            refused = read["refused"][address]
            for problem in refused["problems"]:
                finding(address, problem)
            out["repair"][address] = {"problems": list(refused["problems"]), "fallback": fallback_state(
                schedule, None, True, today_s, standby=refused.get("salvage", {}).get("standby", False),
                ledger=(ledgers or {}).get(address), ledger_since=ledger_since)}
            continue
        state = (read.get("states") or {}).get(address)
        if state is None:
            continue  # no state: the planner starts the IP at its first stage
        overrides = ipinfo.get("overrides") or {}
        ledger = (ledgers or {}).get(address)
        fills = pfills = None
        if ledger_since is not None:
            fills = sending_fills(ledger)
            pfills = {p: sending_fills(ledger, p) for p in PROVIDERS}
        start = ipinfo.get("warmup_start")
        state = _with_providers(schedule, state, ledger, start, ledger_since, pfills)
        problems = check_state(schedule, state, ledger, today_s, start, ledger_since, overrides,
                               fills=fills, provider_fills=pfills)
        base = state.get("base")
        if state.get("planned_on") == today_s and base is not None:
            # a re-run today plans from the day's first base: it must hold up too
            problems += check_state(schedule, base, ledger, today_s, start, ledger_since,
                                    overrides, what="state.base (the day's first plan)", fills=fills,
                                    provider_fills=pfills)
            pin = overrides.get("pin_stage")
            if pin is None and state["stage_index"] > base["stage_index"] + 1:
                problems.append(("state: stage_index %d is more than one stage above the day's first plan (%d)" % (
                    state["stage_index"], base["stage_index"]), True))
        if not problems:
            out["trusted"][address] = state
            continue
        for problem, _stage in problems:
            finding(address, problem)
        out["repair"][address] = {"problems": [p for p, _s in problems], "fallback": fallback_state(
            schedule, state, any(st is True for _p, st in problems), today_s, ledger=ledger,
            ledger_since=ledger_since, standby=bool(state.get("standby")) or state.get("standby_since") is not None,
            refused_providers={st for _p, st in problems if st in PROVIDERS})}
    return out


def _with_providers(schedule, state, ledger, warmup_start, ledger_since, provider_fills):
    """``state`` (and its ``base``) with provider stages: a state written before they existed gets
    :func:`legacy_providers` (never above what its evidence admits). The input is not modified."""
    if isinstance(state.get("providers"), dict) and (
            state.get("base") is None or isinstance(state["base"].get("providers"), dict)):
        return state
    out = dict(state)
    if not isinstance(out.get("providers"), dict):
        out["providers"] = legacy_providers(schedule, out, ledger, warmup_start, ledger_since, provider_fills)
    if out.get("base") is not None and not isinstance(out["base"].get("providers"), dict):
        base = dict(out["base"])
        base["providers"] = legacy_providers(schedule, base, ledger, warmup_start, ledger_since, provider_fills)
        out["base"] = base
    return out


def _schedule_of(model, ipinfo):
    name = ipinfo.get("schedule") or ((model.get("tenants") or {}).get(ipinfo.get("tenant")) or {}).get("schedule")
    return (model.get("schedules") or {}).get(name)


def fallback_state(schedule, state, stage_unprovable, today_s, standby=False, ledger=None, ledger_since=None,
                   refused_providers=()):
    """The state a refused IP continues from: only what can lower a cap is kept.

    The stage is the stored one when only another field was wrong, else the first stage (the
    lowest; never one derived from the calendar); so are the provider stages (a provider whose
    own stage was refused, in ``refused_providers``, restarts at its first stage; none is above
    the IP's); a recorded standby is kept; the stage count
    restarts today; ``last_sent`` is kept only when the ledger does not contradict it, else the
    IP is taken as idle since before the ledger's first day (so a re-warm is never skipped);
    ``repair`` = today makes the planner hold that day (no advance) and judge the rates on every
    recent window (see ``warmup.plan_ip``)."""
    stage = 0
    if state is not None and not stage_unprovable:
        stage = min(int(state["stage_index"]), n_stages(schedule))
    out = new_state(stage, today_s)
    out["repair"] = today_s
    kept = provider_stages(state) if state is not None and not stage_unprovable else {}
    out["providers"] = {p: {"stage_index": 0 if p in refused_providers else min(kept.get(p, 0), stage),
                            "since": today_s} for p in PROVIDERS}
    if standby:
        since = _d((state or {}).get("standby_since"))
        out["standby"] = True
        out["standby_since"] = since.isoformat() if since is not None and since <= _d(today_s) else today_s
    last_sent = _d((state or {}).get("last_sent"))
    since_l = _d(ledger_since)
    if last_sent is not None and last_sent < _d(today_s) and (
            since_l is None or last_sent < since_l
            or capacity.is_sending(capacity.day_totals((ledger or {}).get(last_sent.isoformat())))):
        out["last_sent"] = last_sent.isoformat()
    elif since_l is not None:
        out["last_sent"] = (since_l - datetime.timedelta(days=1)).isoformat()
    return out


# --------------------------------------------------------------------------------------------
# The health state file: unknown is never clean
# --------------------------------------------------------------------------------------------
def _health_problem(state):
    """Why one IP's health entry cannot be used, or None."""
    if not isinstance(state, dict):
        return "the health of this IP is %s, not a mapping" % typename(state)
    if not isinstance(state.get("standby", False), bool):
        return "standby must be a boolean, got %s" % typename(state.get("standby"))
    if not isinstance(state.get("listed", []), list):
        return "listed must be a list of zones, got %s" % typename(state.get("listed"))
    if not isinstance(state.get("listings", {}), dict):
        return "listings must be a mapping zone -> listing, got %s" % typename(state.get("listings"))
    streak = state.get("clean_streak", 0)
    if not is_int(streak) or streak < 0:
        return "clean_streak must be an integer >= 0, got %s" % typename(streak)
    return None


def failclosed_health(warmup_state, problem):
    """The health an IP is given when its stored health cannot be read.

    Unknown is never clean: the standby its warmup state records is kept (an IP whose warmup
    state is unknown too is put on standby), and the clean-check count restarts, so an IP that
    was listed resumes only after ``resume_after`` clean checks in a row, as if it had just been
    delisted. An IP the warmup state says was sending keeps sending (unknown is not a listing)."""
    known = isinstance(warmup_state, dict)
    standby = (not known) or bool(warmup_state.get("standby"))
    if not known:
        why = "its warmup state is unknown too: standby until the health check has seen it clean"
    elif standby:
        why = "standby (recorded in the warmup state) kept until the health check has seen it clean"
    else:
        why = "no standby recorded in the warmup state: it keeps sending; the next health check decides"
    return {"standby": standby, "reason": "health state unreadable (%s); %s" % (problem, why), "listed": [],
            "listings": {}, "standby_since": (warmup_state or {}).get("standby_since") if standby else None,
            "clean_streak": 0, "last_checked": None}


def read_health_file(text, ips=None, warmup_states=None):
    """Read a host's health state file (``{"version": 1, "ips": {ip: health}}``) without raising.

    Returns ``{"states", "refused", "problems"}`` like :func:`read_state_file`; the host's
    ``ips`` whose health is unreadable (whole file, or their own entry) get
    :func:`failclosed_health` in ``states``. A missing file (``text`` None) is no health yet."""
    out = {"states": {}, "refused": {}, "problems": []}
    if text is None:
        return out
    loaded, data = _load_json(text, out["problems"])
    if loaded:
        if not isinstance(data, dict) or data.get("version") != HEALTH_STATE_VERSION or not isinstance(
                data.get("ips"), dict):
            out["problems"].append("expected {\"version\": %d, \"ips\": {...}}" % HEALTH_STATE_VERSION)
        else:
            for ip, state in sorted(data["ips"].items()):
                problem = _health_problem(state)
                if problem is None:
                    out["states"][ip] = state
                else:
                    out["refused"][ip] = {"problems": [problem], "salvage": _salvage(state)}
    for ip in sorted(ips or []):
        if ip in out["states"]:
            continue
        if out["problems"] or ip in out["refused"]:
            why = "; ".join(out["problems"] or out["refused"][ip]["problems"])
            state = failclosed_health((warmup_states or {}).get(ip), why)
            if (out["refused"].get(ip) or {}).get("salvage", {}).get("standby"):
                state["standby"] = True
            out["states"][ip] = state
    return out


# --------------------------------------------------------------------------------------------
# The whole fleet as the hosts reported it
# --------------------------------------------------------------------------------------------
def _ledger_since(ledger):
    """The first day a host's ledger (as returned, every IP) has data: from that day on the ledger
    is taken as complete (a day without an IP's record = it did not send); before it, unknown."""
    days = [day for per_ip in (ledger or {}).values() if isinstance(per_ip, dict) for day in per_ip]
    return min(days) if days else None


def observe_fleet(model, observed, today, mode="plan"):
    """Everything the hosts reported (``{host: fleet_state_observed}``; a host missing from it was
    not reachable), checked: ``{"states", "refused", "health", "ledgers", "missing", "findings",
    "events"}``; a finding is ``{"host", "kind": "warmup"|"health", "path", "ip" (None: the
    whole file), "problem"}``.

    ``states`` are the trusted warmup states plus, for refused IPs, the state they continue from
    (:func:`fallback_state`); ``refused`` = ``{ip: why}``; ``health`` the stored health per IP
    (fail-closed where it was unreadable); ``findings`` name the host, file, IP and problem;
    ``events`` are the ``state_corrupt`` alerts (one per host, file and IP a day; ``mode`` -- plan
    or current -- says in them what happens to the IP in this run)."""
    today_s = _d(today).isoformat()
    out = {"states": {}, "refused": {}, "health": {}, "ledgers": {}, "missing": [], "findings": [], "events": []}
    for host in sorted(model.get("hosts") or {}):
        obs = (observed or {}).get(host)
        if not obs:
            out["missing"].append(host)
            continue
        addresses = {ip["address"] for ip in model["hosts"][host]["ips"]}
        ledger = obs.get("ledger") or {}
        read_flag = obs.get("ledger_read", bool(ledger))
        if isinstance(read_flag, str):
            read_flag = read_flag.strip().lower() in ("true", "yes", "1")
        since = _ledger_since(ledger) if read_flag else None
        for address, value in ledger.items():
            if address in addresses:
                out["ledgers"][address] = value
        wfile = obs.get("warmup_file") or {}
        read = {"states": obs.get("warmup") or {}, "refused": wfile.get("refused") or {},
                "problems": wfile.get("problems") or []}
        verdict = check_host_states(model, host, read, out["ledgers"], today_s, since,
                                    wfile.get("path") or "warmup-state.json")
        out["states"].update(verdict["trusted"])
        findings = verdict["findings"]
        for address, rep in sorted(verdict["repair"].items()):
            out["states"][address] = rep["fallback"]
            out["refused"][address] = "; ".join(rep["problems"])
        hfile = obs.get("health_file") or {}
        hpath = hfile.get("path") or "health-state.json"
        for problem in hfile.get("problems") or []:
            findings.append({"host": host, "kind": "health", "path": hpath, "ip": None, "problem": problem})
        for address, rep in sorted((hfile.get("refused") or {}).items()):
            for problem in rep.get("problems") or []:
                findings.append({"host": host, "kind": "health", "path": hpath, "ip": address, "problem": problem})
        for address, value in (obs.get("health") or {}).items():
            if address in addresses:
                out["health"][address] = value
            elif not hfile.get("problems"):
                findings.append({"host": host, "kind": "health", "path": hpath, "ip": address,
                                 "problem": "this IP is not one of %s's IPs in the inventory: its health is "
                                            "ignored" % host})
        out["findings"].extend(findings)
    out["events"] = state_events(model, out, today_s, mode)
    return out


def _consequence(model, result, finding, mode="plan"):
    ip = finding["ip"]
    if finding["kind"] == "health":
        if ip is None:
            return "the health of its IPs is unknown: each keeps the standby its warmup state records " \
                   "(standby when that is unknown too) until the health check has seen it clean"
        return "its health is unknown: " + ((result["health"].get(ip) or {}).get("reason") or "ignored")
    if mode == "current":
        if ip is not None and ip not in result["refused"]:
            return "ignored"
        return "%s 0 in MailWizz's quota and the campaign gate until the next warmup or health run " \
               "repairs %s" % (("its IPs count", "them") if ip is None else ("the IP counts", "it"))
    if ip is None:
        return "no state of this file is used; every IP of the host continues at its first stage today " \
               "(holding, never from the calendar) and the next run rewrites the file"
    if ip not in result["refused"]:
        return "ignored"
    fallback = result["states"].get(ip) or {}
    ipinfo = (model.get("ips") or {}).get(ip) or {}
    schedule = _schedule_of(model, ipinfo)
    where = stage_label(schedule, fallback.get("stage_index", 0)) if schedule else "its first stage"
    return "the IP continues at %s%s, holding today (no advance)" % (
        where, " on standby" if fallback.get("standby") else "")


def state_events(model, result, today_s, mode="plan"):
    """``state_corrupt`` alert events, one per host, file and IP (or whole file) a day."""
    grouped = {}
    for f in result["findings"]:
        grouped.setdefault((f["host"], f["kind"], f["path"], f["ip"]), []).append(f["problem"])
    events = []
    for (host, kind, path, ip), problems in sorted(grouped.items(), key=lambda kv: kv[0][:3] + (kv[0][3] or "",)):
        consequence = _consequence(model, result, {"host": host, "kind": kind, "path": path, "ip": ip}, mode)
        events.append({
            "id": "state_corrupt:%s:%s:%s:%s" % (host, path, ip or "file", today_s),
            "type": "state_corrupt", "subject": host, "host": host, "kind": kind, "path": path, "ip": ip,
            "problems": problems,
            "message": "%s on %s%s: %s. %s." % (path, host, (", IP %s" % ip) if ip else "", "; ".join(problems),
                                                consequence[0].upper() + consequence[1:]),
        })
    return events
