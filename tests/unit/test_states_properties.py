"""Property tests of the state integrity check over random warmup histories (hypothesis).

* No false alarm: every state the planner itself writes passes the check, whatever the history
  (standby, step backs, re-warm, overrides) and whatever part of the ledger the host returns.
* Nothing read from a host raises a cap: for arbitrary mutations of a clean state file (any field
  set to any JSON value, a field deleted, the file truncated at any byte, garbage, unknown IPs),
  the run never fails, a refused state never gets caps above the clean state's (plan and quota
  sync), and no state gets caps above what the sending evidence admits.
"""
import copy
import datetime
import json

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ansible_collections.mailfleet.fleet.plugins.module_utils import capacity, warmup
from ansible_collections.mailfleet.fleet.plugins.module_utils.schedule import n_stages
from ansible_collections.mailfleet.fleet.plugins.module_utils.states import (
    check_state, dump_states, evidence_bound, observe_fleet, read_state_file)

from test_warmup_properties import D0, day_event, schedules

IP = "192.0.2.1"
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def day(n):
    return (D0 + datetime.timedelta(days=n)).isoformat()


def history(schedule, events, overrides):
    """Plan one IP daily (warmup_start = D0; a missed run keeps yesterday's caps, a re-run plans
    the day twice, the second time without the listing); returns the states after each day and
    the ledger."""
    state, ledger, out, dec = None, {}, [], None
    for n, ev in enumerate(events):
        health = {"standby": True, "reason": "test", "listed": ["zen.spamhaus.org"]} if ev["standby"] else None
        if dec is None or not ev["skip_run"]:
            state, dec = warmup.plan_ip(schedule, state, ledger, health, day(n), overrides, day(0))
            if ev["rerun"]:
                state, dec = warmup.plan_ip(schedule, state, ledger, None, day(n), overrides, day(0))
        out.append(state)
        if dec["daily"] and ev["fill"]:
            sent = int(dec["daily"] * ev["fill"])
            hard = int(sent * ev["hard"])
            ledger[day(n)] = {"gmail": {"delivered": sent - hard, "hard_bounce": hard, "soft_bounce": 0,
                                        "deferred": int(sent * ev["deferral"]),
                                        "complaint": int((sent - hard) * ev["complaint"])}}
    return out, ledger


def window(ledger, today, days):
    """The part of the ledger a host returns (its last ``days`` days) and the first day it holds."""
    first = (datetime.date.fromisoformat(today) - datetime.timedelta(days=days - 1)).isoformat()
    part = {d: v for d, v in ledger.items() if d >= first}
    return part, (min(part) if part else None)


@SETTINGS
@given(schedules(), st.lists(day_event, min_size=1, max_size=50),
       st.sampled_from([{}, {}, {"hold": True}, {"max_stage": 2}, {"standby": True}]),
       st.sampled_from([None, 5, 30, 1000]))
def test_no_false_alarm_on_what_the_planner_writes(schedule, events, overrides, ledger_days):
    states, ledger = history(schedule, events, overrides)
    for n, state in enumerate(states):
        for today in (day(n), day(n + 1)):  # a re-run the same day, and the next day's run
            part, since = window(ledger, today, ledger_days) if ledger_days else ({}, None)
            assert check_state(schedule, state, part, today, day(0), since, overrides) == [], (n, today, state)
            if state["planned_on"] == today and state["base"] is not None:
                assert check_state(schedule, state["base"], part, today, day(0), since, overrides) == []


# ---------------------------------------------------------------------------------------------
# Mutations
# ---------------------------------------------------------------------------------------------
KEYS = ("version", "stage_index", "stage_since", "standby", "standby_since", "last_sent", "rewarm",
        "planned_on", "action", "daily", "backoff", "repair", "base")
dates = st.builds(lambda k: (D0 + datetime.timedelta(days=k)).isoformat(), st.integers(-400, 400))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10 ** 9, 10 ** 9) | st.sampled_from([99, 10 ** 6, -1, 0, 1, 2, 3])
    | st.floats(allow_nan=False, allow_infinity=False) | dates | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=6)


@st.composite
def mutations(draw):
    kind = draw(st.sampled_from(["set", "set", "set", "scale", "delete", "truncate", "garbage", "extra_ip"]))
    if kind in ("set", "delete", "scale"):
        key = draw(st.sampled_from(KEYS + ("daily", "stage_index")))
        return (kind, key, draw(json_values) if kind == "set" else draw(st.sampled_from([2, 10, 100, -1])))
    if kind == "truncate":
        return (kind, None, draw(st.floats(0, 1)))
    if kind == "garbage":
        return (kind, None, draw(st.binary(max_size=40)).decode("latin-1"))
    return (kind, None, draw(json_values))


def mutate(text, mutation):
    kind, key, value = mutation
    if kind == "truncate":
        return text[:int(len(text) * value)]
    if kind == "garbage":
        return value
    data = json.loads(text)
    st_ = data["ips"][IP]
    if kind == "set":
        st_[key] = value
    elif kind == "delete":
        st_.pop(key, None)
    elif kind == "scale":
        if isinstance(st_.get(key), int) and not isinstance(st_.get(key), bool):
            st_[key] = st_[key] * value
    else:
        data["ips"]["192.0.2.99"] = value
    return json.dumps(data)


def fleet(schedule):
    ip = {"address": IP, "tenant": "t", "schedule": "s", "warmup_start": day(0), "overrides": {}, "host": "h",
          "vmta": "t-1", "pool": "t-pool", "hostname": "mta.example.test", "version": 4}
    return {"tenants": {"t": {"schedule": "s", "pool": "t-pool"}}, "schedules": {"s": schedule},
            "hosts": {"h": {"ips": [ip]}}, "ips": {IP: ip}, "providers": {}}


def observed(text, ledger):
    read = read_state_file(text)
    return {"h": {"warmup": read["states"],
                  "warmup_file": {"path": "/var/lib/mailfleet/warmup-state.json", "problems": read["problems"],
                                  "refused": read["refused"]},
                  "health": {}, "health_file": {"path": "h.json", "problems": [], "refused": {}},
                  "ledger": {IP: ledger}, "ledger_read": True}}


def caps_le(cap, ref):
    eff, eref = capacity.effective_provider_caps(cap), capacity.effective_provider_caps(ref)
    return capacity.effective_daily(cap) <= capacity.effective_daily(ref) and all(
        eff[p] <= eref[p] for p in capacity.PROVIDERS)


@SETTINGS
@given(schedules(), st.lists(day_event, min_size=2, max_size=40), mutations(), st.booleans())
def test_nothing_read_from_a_host_raises_a_cap(schedule, events, mutation, same_day):
    states, ledger = history(schedule, events, {})
    state = states[-1]
    n = len(events) - 1
    today = day(n) if same_day else day(n + 1)
    m = fleet(schedule)
    clean_text = dump_states({IP: state})
    seen_clean = observe_fleet(m, observed(clean_text, ledger), today)
    assert seen_clean["findings"] == []
    _s, clean_caps, _r = warmup.plan_fleet(m, seen_clean["states"], seen_clean["ledgers"], {}, today)
    clean_current = warmup.caps_from_states(m, seen_clean["states"], {}, today)

    text = mutate(clean_text, mutation)
    assume(text != clean_text)
    seen = observe_fleet(m, observed(text, ledger), today)                      # never raises
    new, caps, report = warmup.plan_fleet(m, seen["states"], seen["ledgers"], {}, today)
    current = warmup.caps_from_states(m, seen["states"], {}, today, refused=seen["refused"])
    if IP in seen["refused"]:
        # refused: named and alerted, and never above the clean state
        assert seen["findings"] and seen["events"]
        assert all(f["ip"] in (IP, None) and f["problem"] for f in seen["findings"] if f["ip"] != "192.0.2.99")
        assert caps_le(caps[IP], clean_caps[IP]), (mutation, caps[IP], clean_caps[IP], seen["findings"])
        assert capacity.effective_daily(current[IP]) == 0
        assert report["ips"][IP]["action"] != "advance"
    else:
        # accepted: it passes every check, so its stage is one the sending evidence admits, and
        # the plan moves at most one stage up from there
        used = seen["states"].get(IP)
        if used is not None:
            bound, _why = evidence_bound(schedule, ledger, day(0), today, min(ledger) if ledger else None)
            top = min(n_stages(schedule), bound + 1)
            assert capacity.effective_daily(caps[IP]) <= capacity.stage_volume(schedule, top)
            assert capacity.effective_daily(current[IP]) <= capacity.stage_volume(
                schedule, min(used["stage_index"], n_stages(schedule)))
    if mutation[0] == "extra_ip":
        assert any(f["ip"] == "192.0.2.99" for f in seen["findings"]) and "192.0.2.99" not in caps
    # the file the run writes back is clean
    assert observe_fleet(m, observed(dump_states(new), ledger), today)["findings"] == []


@SETTINGS
@given(schedules(), st.lists(day_event, min_size=2, max_size=40),
       st.sampled_from(["stage_99", "daily_x100", "stage_since_future", "planned_on_future", "empty",
                        "truncated"]), st.floats(0, 0.99))
def test_the_named_corruptions_are_always_refused(schedule, events, kind, cut):
    """The classes of the issue: inflated stage, daily x 100, dates in the future, empty and
    truncated files -- always refused, named, and never above the clean caps."""
    states, ledger = history(schedule, events, {})
    state = copy.deepcopy(states[-1])
    today = day(len(events))
    m = fleet(schedule)
    seen_clean = observe_fleet(m, observed(dump_states({IP: state}), ledger), today)
    _s, clean_caps, _r = warmup.plan_fleet(m, seen_clean["states"], seen_clean["ledgers"], {}, today)
    if kind == "daily_x100":
        assume(state["daily"] > 0)
    bad = copy.deepcopy(state)
    if kind == "stage_99":
        bad["stage_index"] = 99
    elif kind == "daily_x100":
        bad["daily"] *= 100
    elif kind == "stage_since_future":
        bad["stage_since"] = day(len(events) + 3)
    elif kind == "planned_on_future":
        bad["planned_on"] = day(len(events) + 3)
    text = dump_states({IP: bad}) if kind not in ("empty", "truncated") else (
        "" if kind == "empty" else dump_states({IP: state})[:int(cut * len(dump_states({IP: state})))])
    seen = observe_fleet(m, observed(text, ledger), today)
    assert IP in seen["refused"] and seen["events"]
    _n, caps, _r = warmup.plan_fleet(m, seen["states"], seen["ledgers"], {}, today)
    assert caps_le(caps[IP], clean_caps[IP])
