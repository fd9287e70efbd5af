"""Unit tests of the warmup planner (plugins/module_utils/warmup.py), one rule at a time."""
import copy
import datetime
import json

import pytest

from ansible_collections.mailfleet.fleet.plugins.module_utils.schedule import (
    DEFAULT_THRESHOLDS, THRESHOLD_KEYS, normalize_schedule)
from ansible_collections.mailfleet.fleet.plugins.module_utils.states import dump_states, load_states
from ansible_collections.mailfleet.fleet.plugins.module_utils.capacity import pool_capacity, provider_caps
from ansible_collections.mailfleet.fleet.plugins.module_utils.warmup import plan_fleet, plan_ip

D0 = datetime.date(2024, 5, 1)


def day(n):
    return (D0 + datetime.timedelta(days=n)).isoformat()


def sched(**kw):
    raw = {"stages": [50, 200, 500, 1500, 5000, 10000], "min_days": 7, "full_rate": 20000}
    raw.update(kw)
    s, errors = normalize_schedule(raw)
    assert errors == []
    return s


def outcome(sent, hard=0.0, complaint=0.0, deferral=0.0, provider="gmail"):
    h = int(round(sent * hard))
    delivered = sent - h
    return {provider: {"delivered": delivered, "hard_bounce": h, "soft_bounce": 0,
                       "deferred": int(round(sent * deferral)), "complaint": int(round(delivered * complaint))}}


def run(schedule, days, sending, state=None, ledger=None, start=0, health=None, overrides=None):
    """Plan daily from day `start` for `days` days; `sending(n, decision)` gives the ledger day."""
    ledger = dict(ledger or {})
    decisions = []
    for n in range(start, start + days):
        state, dec = plan_ip(schedule, state, ledger, health(n) if callable(health) else health, day(n),
                             overrides(n) if callable(overrides) else overrides)
        decisions.append(dec)
        out = sending(n, dec)
        if out:
            ledger[day(n)] = out
    return state, decisions, ledger


def full(n, dec):
    return outcome(dec["daily"]) if dec["daily"] else None


# ---------------------------------------------------------------------------------------------
# normalize_schedule
# ---------------------------------------------------------------------------------------------
def test_normalize_int_stages_defaults():
    s, errors = normalize_schedule({"stages": [50, 200, 500]})
    assert errors == []
    assert s["stages"] == [{"volume": 50, "min_days": 7}, {"volume": 200, "min_days": 7},
                           {"volume": 500, "min_days": 7}]
    assert s["full_rate"] == 500
    assert s["providers"] == {}
    assert s["thresholds"] == DEFAULT_THRESHOLDS


def test_normalize_dict_stages_providers_thresholds():
    s, errors = normalize_schedule({
        "name": "team", "min_days": 5,
        "stages": [{"volume": 50, "min_days": 3}, {"volume": 200}],
        "full_rate": 1000,
        "providers": {"gmail": 0.4, "microsoft": {"share": 1}, "yahoo": {"cap": 300}},
        "thresholds": {"max_complaint_rate": 0.001, "idle_days": 30},
    })
    assert errors == []
    assert s["name"] == "team"
    assert s["stages"] == [{"volume": 50, "min_days": 3}, {"volume": 200, "min_days": 5}]
    assert s["full_rate"] == 1000
    assert s["providers"] == {"gmail": {"share": 0.4, "cap": None}, "microsoft": {"share": 1.0, "cap": None},
                              "yahoo": {"share": None, "cap": 300}}
    assert s["thresholds"]["max_complaint_rate"] == 0.001
    assert s["thresholds"]["idle_days"] == 30
    assert s["thresholds"]["fill_ratio"] == 0.9


def errs(raw):
    s, errors = normalize_schedule(raw)
    assert s is None
    return dict(errors)


def test_normalize_not_increasing():
    e = errs({"stages": [50, 200, 500, 400]})
    assert e == {"stages[3]": "volume must be greater than the previous stage (500), got 400"}


def test_normalize_equal_stage_and_dict_path():
    e = errs({"stages": [{"volume": 50}, {"volume": 50}]})
    assert e == {"stages[1].volume": "volume must be greater than the previous stage (50), got 50"}


@pytest.mark.parametrize("bad,fragment", [
    (True, "got a boolean (True)"), (0, "got 0"), (-5, "got -5"), ("100", "got a string ('100')"),
    (1.5, "got 1.5"), (None, "got null")])
def test_normalize_bad_volume(bad, fragment):
    e = errs({"stages": [10, bad]})
    assert list(e) == ["stages[1]"]
    assert e["stages[1]"].startswith("volume must be a positive integer (messages per day)")
    assert fragment in e["stages[1]"]


def test_normalize_missing_and_empty_stages():
    assert "stages" in errs({})
    assert "is required" in errs({})["stages"]
    assert "non-empty list" in errs({"stages": []})["stages"]
    assert "non-empty list" in errs({"stages": "50,200"})["stages"]


def test_normalize_not_a_mapping():
    s, errors = normalize_schedule([50, 200])
    assert s is None and errors[0][0] == "" and "must be a mapping" in errors[0][1]


def test_normalize_min_days():
    assert errs({"stages": [1], "min_days": 0})["min_days"].endswith("got 0")
    assert "boolean" in errs({"stages": [1], "min_days": True})["min_days"]
    e = errs({"stages": [{"volume": 5, "min_days": "a week"}]})
    assert "stages[0].min_days" in e


def test_normalize_stage_unknown_key_and_missing_volume():
    e = errs({"stages": [{"vol": 5}]})
    assert e["stages[0].vol"] == "unknown key; expected volume, min_days"
    assert e["stages[0]"] == "volume is required (messages per day)"


def test_normalize_full_rate():
    assert errs({"stages": [50, 500], "full_rate": 400})["full_rate"] == \
        "must be at least the last stage's volume (500), got 400"
    assert "positive integer" in errs({"stages": [50], "full_rate": "lots"})["full_rate"]
    assert "boolean" in errs({"stages": [50], "full_rate": True})["full_rate"]


def test_normalize_providers():
    e = errs({"stages": [50], "providers": {"aol": 0.5, "gmail": 1.5, "yahoo": {"cap": 0},
                                            "microsoft": {"share": 0.5, "cap": 10}, "other": True}})
    assert e["providers.aol"].startswith("unknown provider; expected one of gmail, microsoft, yahoo, other")
    assert e["providers.gmail.share"] == "must be a number greater than 0 and at most 1, got 1.5"
    assert e["providers.yahoo.cap"] == "cap (messages per day) must be an integer >= 1, got 0"
    assert "exactly one of share" in e["providers.microsoft"]
    assert "boolean" in e["providers.other"]
    assert "must be a mapping" in errs({"stages": [50], "providers": ["gmail"]})["providers"]


def test_normalize_thresholds():
    e = errs({"stages": [50], "thresholds": {"max_complaint_rate": 3, "near_limit": 1, "idle_days": 2.5,
                                            "step_back": 0, "bogus": 1, "fill_ratio": "0.9",
                                            "min_volume_for_rates": False}})
    assert e["thresholds.max_complaint_rate"] == "must be a rate greater than 0 and at most 1, got 3"
    assert e["thresholds.near_limit"] == "must be a fraction greater than 0 and less than 1, got 1"
    assert e["thresholds.idle_days"] == "must be an integer number of days, at least 1, got 2.5"
    assert e["thresholds.step_back"] == "must be an integer number of stages, at least 1, got 0"
    assert e["thresholds.bogus"].startswith("unknown threshold; expected one of")
    assert "string" in e["thresholds.fill_ratio"]
    assert "boolean" in e["thresholds.min_volume_for_rates"]


def test_normalize_unknown_top_key():
    assert errs({"stages": [50], "stagse": [1]})["stagse"].startswith("unknown key; expected one of")


def test_threshold_keys_cover_defaults():
    assert set(THRESHOLD_KEYS) == set(DEFAULT_THRESHOLDS)
    assert DEFAULT_THRESHOLDS["fill_ratio"] == 0.9
    assert DEFAULT_THRESHOLDS["max_complaint_rate"] == 0.003


# ---------------------------------------------------------------------------------------------
# plan_ip rules
# ---------------------------------------------------------------------------------------------
def test_new_ip_starts_at_stage_zero():
    state, dec = plan_ip(sched(), None, {}, None, day(0))
    assert dec["action"] == "new" and dec["stage"] == 1 and dec["daily"] == 50
    assert state["stage_index"] == 0 and state["planned_on"] == day(0) and state["version"] == 1


def test_lost_state_never_uses_calendar_or_history():
    # Ledger full of big sending days (state file lost): still stage 0, history does not count.
    ledger = {day(n): outcome(5000) for n in range(30)}
    state, dec = plan_ip(sched(), None, ledger, None, day(30))
    assert dec["stage"] == 1 and dec["action"] == "new"
    state, dec = plan_ip(sched(), state, ledger, None, day(31))
    assert dec["stage"] == 1 and dec["action"] == "hold"


def test_advance_after_min_days_full_days():
    state, decs, _ = run(sched(), 8, full)
    assert [d["stage"] for d in decs] == [1] * 7 + [2]
    assert decs[-1]["action"] == "advance"
    assert decs[-1]["daily"] == 200
    assert "7/7 full sending days" in decs[-1]["reason"]
    assert state["stage_since"] == day(7)


def test_underfilled_days_do_not_count():
    # 44 < 0.9 * 50 = 45: never advances
    _, decs, _ = run(sched(), 15, lambda n, d: outcome(44))
    assert {d["stage"] for d in decs} == {1}
    assert "0/7 full sending days (>= 45 delivered" in decs[-1]["reason"]
    # exactly 45 counts
    _, decs, _ = run(sched(), 8, lambda n, d: outcome(45))
    assert decs[-1]["action"] == "advance"


def test_days_without_sending_never_count():
    every_other = lambda n, d: outcome(50) if n % 2 == 0 else None  # noqa: E731
    # sending days 0, 2, ..., 10 = 6 full days by day 12: no advance through day 12
    state, decs, ledger = run(sched(), 13, every_other)
    assert all(d["stage"] == 1 for d in decs)
    assert "6/7 full sending days" in decs[-1]["reason"]
    ledger[day(12)] = outcome(50)
    # day 14: 7 full days (0, 2, ..., 12) but yesterday (13) had no sending -> hold
    _, dec = plan_ip(sched(), state, ledger, None, day(14))
    assert dec["action"] == "hold" and dec["stage"] == 1
    assert "yesterday (%s) was not a full sending day" % day(13) in dec["reason"]
    # day 13 (yesterday = 12, full): advance
    _, dec = plan_ip(sched(), state, ledger, None, day(13))
    assert dec["action"] == "advance"


def test_today_is_not_counted():
    state, decs, ledger = run(sched(), 7, full)
    ledger[day(7)] = outcome(50)  # partial today's data must be ignored ... and a 6-day history
    del ledger[day(6)]
    _, dec = plan_ip(sched(), state, ledger, None, day(7))
    assert dec["action"] == "hold"


def test_one_stage_per_day_after_missed_runs():
    # planner not run for 20 days while PowerMTA sent at the stage-0 cap every day
    state, dec = plan_ip(sched(), None, {}, None, day(0))
    ledger = {day(n): outcome(50) for n in range(0, 20)}
    state, dec = plan_ip(sched(), state, ledger, None, day(20))
    assert dec["action"] == "advance" and dec["stage"] == 2 and dec["daily"] == 200


def test_same_day_rerun_is_noop_and_cannot_advance_twice():
    state, decs, ledger = run(sched(), 7, full)
    s1, d1 = plan_ip(sched(), state, ledger, None, day(7))
    assert d1["action"] == "advance"
    s2, d2 = plan_ip(sched(), s1, ledger, None, day(7))
    assert (s2, d2) == (s1, d1)
    s3, d3 = plan_ip(sched(), s2, ledger, None, day(7))
    assert d3["stage"] == 2


def test_same_day_rerun_sees_new_health():
    state, decs, ledger = run(sched(), 7, full)
    s1, d1 = plan_ip(sched(), state, ledger, None, day(7))
    s2, d2 = plan_ip(sched(), s1, ledger, {"standby": True, "reason": "DNSBL listing",
                                           "listed": ["zen.spamhaus.org"]}, day(7))
    assert d2["standby"] and d2["daily"] == 0
    assert "zen.spamhaus.org" in d2["reason"]
    # the standby is remembered: when the listing clears within the same day the IP resumes a
    # stage below the one the day started at (stage 1 here), it does not get the day's advance back
    s3, d3 = plan_ip(sched(), s2, ledger, None, day(7))
    assert d3["action"] == "resume" and d3["stage"] == 1 and d3["daily"] == 50
    assert (s3, d3) != (s1, d1)


def _listed(standby=True):
    return {"standby": standby, "reason": "DNSBL listing" if standby else "",
            "listed": ["zen.spamhaus.org"] if standby else []}


def test_standby_that_starts_and_ends_within_a_day_steps_back():
    """Issue 13.7: listed at 00h (standby at stage 2), clean at 04h, 08h and 12h: the 12h run
    resumes one stage lower -- it used to re-plan from the day's start and advance to stage 3."""
    state, decs, ledger = run(sched(), 14, full)
    assert decs[-1]["stage"] == 2  # day 13: stage 2, 7 full days there by the end of day 13
    today = day(14)
    s00, d00 = plan_ip(sched(), state, ledger, _listed(), today)
    assert d00["action"] == "standby" and d00["daily"] == 0
    assert s00["base"]["standby"] and s00["base"]["standby_since"] == today
    # 04h and 08h: still on standby (the health check waits for clean checks in a row)
    s04, d04 = plan_ip(sched(), s00, ledger, _listed(), today)
    s08, d08 = plan_ip(sched(), s04, ledger, _listed(), today)
    assert (s08, d08) == (s04, d04) == (s00, d00)
    # 12h: the health check lifts the standby; the same day
    s12, d12 = plan_ip(sched(), s08, ledger, _listed(False), today)
    assert d12["action"] == "resume" and d12["stage"] == 1 and d12["daily"] == 50
    # the next day the same listing would have given the same stage
    nxt_state, _ = plan_ip(sched(), state, ledger, _listed(), today)
    _, nxt = plan_ip(sched(), nxt_state, ledger, _listed(False), day(15))
    assert nxt["action"] == "resume" and nxt["stage"] == d12["stage"]
    # later runs that day change nothing; a new listing the same day keeps the stage for resume
    assert plan_ip(sched(), s12, ledger, _listed(False), today) == (s12, d12)
    s16, d16 = plan_ip(sched(), s12, ledger, _listed(), today)
    assert d16["standby"] and s16["stage_index"] == 1 and s16["standby_since"] == today
    # and the day after, nothing of that day's standby is forgotten: it plans from stage 1
    s_next, d_next = plan_ip(sched(), s12, ledger, _listed(False), day(15))
    assert d_next["stage"] == 1 and d_next["action"] == "hold"


def test_standby_override_within_a_day_is_remembered_too():
    state, decs, ledger = run(sched(), 7, full)
    s1, d1 = plan_ip(sched(), state, ledger, None, day(7), {"standby": True})
    s2, d2 = plan_ip(sched(), s1, ledger, None, day(7), {})
    assert d2["action"] == "resume" and d2["stage"] == 1
    # a pin decided by the operator still ends the standby without the step back
    s3, d3 = plan_ip(sched(), s1, ledger, None, day(7), {"pin_stage": 2})
    assert d3["action"] == "pinned" and d3["stage"] == 2


def test_new_ip_standby_within_its_first_day():
    s1, d1 = plan_ip(sched(), None, {}, _listed(), day(0))
    assert d1["standby"] and s1["base"]["standby"]
    s2, d2 = plan_ip(sched(), s1, {}, _listed(False), day(0))
    assert d2["action"] == "resume" and d2["stage"] == 1 and d2["daily"] == 50


def test_step_back_on_hard_bounces_then_clean_window():
    state, decs, ledger = run(sched(), 15, full)
    assert decs[-1]["stage"] == 3
    ledger[day(15)] = outcome(500, hard=0.05)
    state, dec = plan_ip(sched(), state, ledger, None, day(16))
    assert dec["action"] == "step_back" and dec["stage"] == 2
    assert "hard bounces" in dec["reason"] and "> 2.00%" in dec["reason"]
    # the bad day is before the new stage: next day (clean) holds, no second step back
    ledger[day(16)] = outcome(200)
    state, dec = plan_ip(sched(), state, ledger, None, day(17))
    assert dec["action"] == "hold" and dec["stage"] == 2


def test_step_back_on_complaints_and_deferrals():
    state, decs, ledger = run(sched(), 15, full)
    l1 = dict(ledger, **{day(15): outcome(500, complaint=0.01)})
    _, dec = plan_ip(sched(), state, l1, None, day(16))
    assert dec["action"] == "step_back" and "complaints" in dec["reason"]
    l2 = dict(ledger, **{day(15): outcome(500, deferral=0.5)})
    _, dec = plan_ip(sched(), state, l2, None, day(16))
    assert dec["action"] == "step_back" and "deferrals" in dec["reason"]


def test_hold_when_near_limit():
    # hard bounces 1.6% >= 0.75 * 2% but < 2%: hold, even with enough full days
    state, decs, ledger = run(sched(), 7, lambda n, d: outcome(400, hard=0.016) if d["daily"] else None)
    dec = decs[-1]
    assert dec["action"] == "hold" and dec["stage"] == 1
    assert "hard bounces" in dec["reason"] and ">= 75% of the 2.00% limit" in dec["reason"]


def test_rates_not_judged_below_min_volume():
    s = sched()
    # 50/day with one complaint a day = 2 % but only 50 messages on the last day, window 350 ->
    # window judged (>= 200): 7/343 > 0.3 % -> step back from stage 0 stays at 0 (restart)
    ledger = {day(n): outcome(50, complaint=0.021) for n in range(3)}
    state, _ = plan_ip(s, None, {}, None, day(0))
    st, dec = plan_ip(s, state, ledger, None, day(3))  # 150 messages < 200: not judged
    assert dec["action"] == "hold"
    assert dec["rates"]["complaint_rate"] is None


def test_step_back_at_stage_zero_restarts_count():
    state, _ = plan_ip(sched(), None, {}, None, day(0))
    ledger = {day(n): outcome(50, hard=0.1) for n in range(0, 6)}
    state, dec = plan_ip(sched(), state, ledger, None, day(6))
    assert dec["action"] == "step_back" and dec["stage"] == 1
    assert state["stage_since"] == day(6)


def test_standby_and_resume_lower():
    state, decs, ledger = run(sched(), 22, full)
    assert decs[-1]["stage"] == 4
    listed = {"standby": True, "reason": "DNSBL listing", "listed": ["zen.spamhaus.org"]}
    for n in range(22, 25):
        state, dec = plan_ip(sched(), state, ledger, listed, day(n))
        assert dec["standby"] and dec["daily"] == 0 and set(dec["providers"].values()) == {0}
        assert dec["action"] == "standby" and state["standby_since"] == day(22)
    state, dec = plan_ip(sched(), state, ledger, {"standby": False}, day(25))
    assert dec["action"] == "resume" and dec["stage"] == 3 and not dec["standby"]
    assert "1 stage(s) down" in dec["reason"]


def test_standby_override():
    state, dec = plan_ip(sched(), None, {}, None, day(0), {"standby": True})
    assert dec["standby"] and dec["daily"] == 0 and "override standby" in dec["reason"]


def test_rewarm_after_idle_days():
    state, decs, ledger = run(sched(), 29, full)
    assert decs[-1]["stage"] == 5
    last = 28  # last sending day
    # idle days 29..49 = 21 days without sending -> on day 50 re-warm 2 stages down
    for n in range(29, 50):
        state, dec = plan_ip(sched(), state, ledger, None, day(n))
        assert dec["stage"] == 5, n
    state, dec = plan_ip(sched(), state, ledger, None, day(50))
    assert dec["action"] == "rewarm" and dec["stage"] == 3
    assert "no sending for 21 days since %s" % day(last) in dec["reason"]
    # no second re-warm for the same idle period; a second period steps down again
    for n in range(51, 71):
        state, dec = plan_ip(sched(), state, ledger, None, day(n))
        assert dec["stage"] == 3 and dec["action"] == "hold", n
    state, dec = plan_ip(sched(), state, ledger, None, day(71))
    assert dec["action"] == "rewarm" and dec["stage"] == 1


def test_warm_runs_at_full_rate():
    s = sched(stages=[10, 20], min_days=1, full_rate=1000)
    state, decs, _ = run(s, 4, full)
    assert [d["action"] for d in decs] == ["new", "advance", "advance", "warm"]
    assert decs[-1]["stage"] is None and decs[-1]["warm"] and decs[-1]["daily"] == 1000


def test_step_back_from_warm():
    s = sched(stages=[10, 20], min_days=1, full_rate=1000, thresholds={"min_volume_for_rates": 10})
    state, decs, ledger = run(s, 4, full)
    ledger[day(3)] = outcome(1000, hard=0.1)
    state, dec = plan_ip(s, state, ledger, None, day(4))
    assert dec["action"] == "step_back" and dec["stage"] == 2 and dec["daily"] == 20


def test_override_hold_pin_max_stage():
    s = sched()
    _, decs, _ = run(s, 10, full, overrides={"hold": True})
    assert {d["stage"] for d in decs} == {1}
    assert "override hold" in decs[-1]["reason"]
    _, decs, _ = run(s, 3, full, overrides={"pin_stage": 5})
    assert [d["action"] for d in decs] == ["pinned"] * 3 and decs[-1]["daily"] == 5000
    _, decs, _ = run(s, 30, full, overrides={"max_stage": 2})
    assert max(d["stage"] for d in decs) == 2
    assert "override max_stage 2" in decs[-1]["reason"]
    # max_stage below the current stage: down to it
    state, decs, ledger = run(s, 22, full)
    state, dec = plan_ip(s, state, ledger, None, day(22), {"max_stage": 2})
    assert dec["action"] == "step_back" and dec["stage"] == 2


def test_warmup_start():
    s = sched()
    state, dec = plan_ip(s, None, {}, None, day(0), None, warmup_start=day(3))
    assert dec["standby"] and dec["daily"] == 0 and day(3) in dec["reason"]
    state, dec = plan_ip(s, state, {}, None, day(3), None, warmup_start=day(3))
    assert not dec["standby"] and dec["daily"] == 50 and dec["action"] == "hold"


def test_provider_caps_share_cap_and_backoff():
    s = sched(providers={"gmail": 0.4, "yahoo": {"cap": 120}})
    assert provider_caps(s, 200) == {"gmail": 80, "microsoft": 200, "yahoo": 120, "other": 200}
    assert provider_caps(s, 50) == {"gmail": 20, "microsoft": 50, "yahoo": 50, "other": 50}
    assert provider_caps(s, 200, ["gmail"], 0.5)["gmail"] == 40


def test_one_provider_misbehaving_is_backed_off():
    s = sched(providers={"gmail": 0.5})
    state, decs, ledger = run(s, 15, full)
    assert decs[-1]["stage"] == 3
    # yesterday: gmail 250 with 1.2 % complaints, microsoft 2000 clean -> overall 0.13 % (ok)
    ledger[day(15)] = dict(outcome(250, complaint=0.012, provider="gmail"),
                           **outcome(2000, provider="microsoft"))
    state, dec = plan_ip(s, state, ledger, None, day(16))
    assert dec["action"] == "hold" and dec["stage"] == 3
    # gmail alone steps back a stage (share 0.5 of stage 2's 200); microsoft, first sent to
    # yesterday, is still at its own first stage (never above what it proved)
    assert dec["providers"]["gmail"] == 100 and dec["provider_stages"]["gmail"] == 2
    assert dec["providers"]["microsoft"] == 50 and dec["provider_stages"]["microsoft"] == 1
    assert "gmail alone over a threshold" in dec["reason"] and "gmail steps back" in dec["reason"]
    assert dec["rates"]["providers"]["gmail"]["status"] == "over"


def test_decision_matches_caps_contract_and_is_json():
    state, dec = plan_ip(sched(), None, {}, None, day(0))
    assert set(dec) >= {"stage", "daily", "providers", "standby", "action", "reason", "rates"}
    assert set(dec["providers"]) == {"gmail", "microsoft", "yahoo", "other"}
    json.dumps(dec)
    json.dumps(state)


def test_inputs_not_mutated():
    state, decs, ledger = run(sched(), 7, full)
    s0, l0 = copy.deepcopy(state), copy.deepcopy(ledger)
    plan_ip(sched(), state, ledger, None, day(7))
    assert state == s0 and ledger == l0


# ---------------------------------------------------------------------------------------------
# fleet, capacity, serialisation
# ---------------------------------------------------------------------------------------------
def model():
    s = sched()
    ips = {
        "192.0.2.1": {"address": "192.0.2.1", "tenant": "acme", "schedule": "team", "warmup_start": day(0),
                      "overrides": {}, "host": "pmta1"},
        "192.0.2.2": {"address": "192.0.2.2", "tenant": "acme", "schedule": None, "warmup_start": day(0),
                      "overrides": {"pin_stage": 3}, "host": "pmta1"},
        "198.51.100.1": {"address": "198.51.100.1", "tenant": "beta", "schedule": "team",
                         "warmup_start": day(0), "overrides": {}, "host": "pmta2"},
    }
    return {"tenants": {"acme": {"schedule": "team"}, "beta": {"schedule": "team"}, "idle": {"schedule": "team"}},
            "schedules": {"team": s}, "ips": ips, "hosts": {}}


def test_plan_fleet_and_capacity():
    m = model()
    health = {"198.51.100.1": {"standby": True, "reason": "DNSBL listing", "listed": ["bl.spamcop.net"]}}
    states, caps, report = plan_fleet(m, {}, {}, health, day(0))
    assert sorted(states) == sorted(m["ips"])
    assert caps["192.0.2.1"] == {"daily": 50, "providers": {"gmail": 50, "microsoft": 50, "yahoo": 50, "other": 50},
                                 "standby": False, "stage": 1,
                                 "reason": "no previous warmup state: starting at the first stage"}
    assert caps["192.0.2.2"]["daily"] == 500 and caps["192.0.2.2"]["stage"] == 3
    assert caps["198.51.100.1"]["standby"] and caps["198.51.100.1"]["daily"] == 0
    assert pool_capacity(m, caps) == {"acme": 550, "beta": 0, "idle": 0}
    assert report["capacity"] == {"acme": 550, "beta": 0, "idle": 0}
    assert report["actions"] == {"new": 1, "pinned": 1, "standby": 1}
    assert report["ips"]["192.0.2.2"]["tenant"] == "acme"
    # same day again: nothing changes
    states2, caps2, report2 = plan_fleet(m, states, {}, health, day(0))
    assert (states2, caps2, report2) == (states, caps, report)


def test_plan_fleet_unknown_schedule():
    m = model()
    m["ips"]["192.0.2.1"]["schedule"] = "nope"
    with pytest.raises(ValueError, match="192.0.2.1: schedule 'nope'"):
        plan_fleet(m, {}, {}, {}, day(0))


def test_dump_load_roundtrip_and_deterministic():
    states, _, _ = plan_fleet(model(), {}, {}, {}, day(0))
    text = dump_states(states)
    assert load_states(text) == states
    assert dump_states(load_states(text)) == text
    assert json.loads(text)["version"] == 1
    assert text.index('"192.0.2.1"') < text.index('"192.0.2.2"') < text.index('"198.51.100.1"')
    assert load_states("") == {}


@pytest.mark.parametrize("text,match", [
    ("{not json", "not valid JSON"),
    ('{"version": 2, "ips": {}}', "unsupported state file version 2"),
    ('[1, 2]', "expected an object"),
    ('{"version": 1, "ips": {"192.0.2.1": {"version": 1, "stage_index": -1}}}', "stage_index must be an integer"),
    ('{"version": 1, "ips": {"192.0.2.1": {"version": 1, "stage_index": 1, "stage_since": "yesterday"}}}',
     "stage_since must be a YYYY-MM-DD date"),
])
def test_load_states_rejects_corrupt(text, match):
    with pytest.raises(ValueError, match=match):
        load_states(text)
