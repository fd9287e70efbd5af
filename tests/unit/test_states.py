"""State integrity (plugins/module_utils/states.py): a state file read from a host is evidence, not
truth. Corrupt files and impossible states are refused, named, alerted, and never raise a cap."""
import copy
import datetime
import json

import pytest

from ansible_collections.mailfleet.fleet.plugins.module_utils import capacity, fleet, states, warmup
from ansible_collections.mailfleet.fleet.plugins.module_utils.states import (
    check_host_states, check_state, evidence_bound, failclosed_health, observe_fleet, read_health_file,
    read_state_file)

from fleetdata import raw

D0 = datetime.date(2026, 11, 1)  # the IPs' warmup_start in fleetdata (pmta-2's: 2026-11-10)


def day(n):
    return (D0 + datetime.timedelta(days=n)).isoformat()


def model(min_days=2):
    spec = raw()
    spec["globals"]["mailfleet_warmup_schedules"]["default"].update(
        {"min_days": min_days, "thresholds": {"min_volume_for_rates": 10}})
    m, errors = fleet.build_model(spec)
    assert not errors
    return m


def history(m, days, fill=1.0, health=None):
    """Plan every day for ``days`` days with full sending; returns (states, ledgers, caps, report)."""
    st, ledgers = {}, {ip: {} for ip in m["ips"]}
    caps = rep = None
    for n in range(days):
        st, caps, rep = warmup.plan_fleet(m, st, ledgers, (health or {}).get(n, {}), day(n))
        for ip, cap in caps.items():
            if cap["daily"]:
                sent = int(cap["daily"] * fill)
                ledgers[ip][day(n)] = {"gmail": {"delivered": sent, "hard_bounce": 0, "soft_bounce": 0,
                                                 "deferred": 0, "complaint": 0}}
    return st, ledgers, caps, rep


def observed_of(m, st, ledgers, text=None, health=None):
    """What the fleet_state role publishes for each host, from states (or a raw warmup file text)."""
    out = {}
    for host, hinfo in m["hosts"].items():
        addrs = [ip["address"] for ip in hinfo["ips"]]
        if text is not None and host in text:
            read = read_state_file(text[host])
        else:
            read = {"states": {ip: st[ip] for ip in addrs if ip in st}, "refused": {}, "problems": []}
        hread = read_health_file((health or {}).get(host), addrs, read["states"]) if health and host in health \
            else {"states": {}, "refused": {}, "problems": []}
        out[host] = {"warmup": read["states"],
                     "warmup_file": {"path": "/var/lib/mailfleet/warmup-state.json", "problems": read["problems"],
                                     "refused": read["refused"]},
                     "health": hread["states"],
                     "health_file": {"path": "/var/lib/mailfleet/health-state.json", "problems": hread["problems"],
                                     "refused": hread["refused"]},
                     "ledger": {ip: ledgers.get(ip, {}) for ip in addrs}, "ledger_read": True}
    return out


def file_of(st, ips):
    return states.dump_states({ip: st[ip] for ip in ips if ip in st})


def plan(m, observed, today):
    seen = observe_fleet(m, observed, today)
    from ansible_collections.mailfleet.fleet.plugins.module_utils import health as health_mod
    new, caps, rep = warmup.plan_fleet(m, seen["states"], seen["ledgers"], health_mod.planner_view(seen["health"]),
                                       today, seen["missing"])
    return seen, new, caps, rep


def current(m, observed, today):
    seen = observe_fleet(m, observed, today)
    from ansible_collections.mailfleet.fleet.plugins.module_utils import health as health_mod
    return seen, warmup.caps_from_states(m, seen["states"], health_mod.planner_view(seen["health"]), today,
                                         seen["missing"], seen["refused"])


def assert_not_higher(caps, clean):
    for ip, cap in caps.items():
        assert capacity.effective_daily(cap) <= capacity.effective_daily(clean[ip]), (ip, cap, clean[ip])
        eff, ref = capacity.effective_provider_caps(cap), capacity.effective_provider_caps(clean[ip])
        assert all(eff[p] <= ref[p] for p in capacity.PROVIDERS), (ip, eff, ref)


PMTA1 = ["192.0.2.1", "192.0.2.2", "198.51.100.1"]


# ---------------------------------------------------------------------------------------------
# Reading a file: never raises, an empty or truncated file is corrupt, not absent
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text,fragment", [
    ("", "the file is empty (0 bytes)"),
    ("  \n", "the file is empty (3 bytes)"),
    ('{"version": 1, "ips": {"192.0.2.1": {"version": 1, "stage_', "not valid JSON (truncated or damaged)"),
    ("\x00\x01garbage", "not valid JSON"),
    ('{"version": 2, "ips": {}}', "unsupported state file version 2"),
    ("[1, 2]", "expected an object with 'version' and 'ips', got a list"),
    ('{"version": 1, "ips": []}', "'ips' must be an object ip -> state, got a list"),
])
def test_read_corrupt_files(text, fragment):
    read = read_state_file(text)
    assert read["states"] == {} and read["refused"] == {}
    assert len(read["problems"]) == 1 and fragment in read["problems"][0]


def test_read_missing_file_is_no_state_and_bad_ips_are_refused_alone():
    assert read_state_file(None) == {"states": {}, "refused": {}, "problems": []}
    st, _l, _c, _r = history(model(), 3)
    good = st["192.0.2.1"]
    text = json.dumps({"version": 1, "ips": {
        "192.0.2.1": good,
        "192.0.2.2": dict(good, stage_index="high", standby=True),
        "198.51.100.1": [1, 2]}})
    read = read_state_file(text)
    assert read["states"] == {"192.0.2.1": good} and read["problems"] == []
    assert "stage_index must be an integer" in read["refused"]["192.0.2.2"]["problems"][0]
    assert read["refused"]["192.0.2.2"]["salvage"] == {"standby": True}
    assert read["refused"]["198.51.100.1"]["salvage"] == {"standby": False}


# ---------------------------------------------------------------------------------------------
# Clean states pass: no false alarm on anything the planner itself wrote
# ---------------------------------------------------------------------------------------------
def test_clean_history_has_no_findings():
    m = model()
    st, ledgers, _caps, _rep = history(m, 12)
    seen = observe_fleet(m, observed_of(m, st, ledgers), day(12))
    assert seen["findings"] == [] and seen["events"] == [] and seen["refused"] == {}
    assert seen["states"] == st
    # the quota sync reads no ledger: the calendar alone must not refuse either
    obs = observed_of(m, st, ledgers)
    for o in obs.values():
        o["ledger"], o["ledger_read"] = {}, False
    assert observe_fleet(m, obs, day(12))["findings"] == []


def test_evidence_bound_counts_full_days_per_stage():
    m = model(min_days=2)
    sched = m["schedules"]["default"]  # 50, 200, 500 -> 1000, 2 days each
    full = lambda v: {"gmail": {"delivered": v, "hard_bounce": 0, "soft_bounce": 0, "deferred": 0, "complaint": 0}}  # noqa: E731
    ledger = {day(0): full(50), day(1): full(50), day(2): full(200), day(3): full(200)}
    assert evidence_bound(sched, ledger, day(0), day(4), day(0))[0] == 2
    assert evidence_bound(sched, ledger, day(0), day(2), day(0))[0] == 1
    bound, why = evidence_bound(sched, ledger, day(0), day(4), day(0))
    assert why.startswith("warm (1000/day) needs 6 full sending day(s) before %s" % day(4))
    # under-filled days are no evidence for a stage above
    half = {day(n): full(40) for n in range(10)}
    assert evidence_bound(sched, half, day(0), day(10), day(0))[0] == 0
    # days before the ledger's first day are unknown: they count (no evidence, no refusal)
    assert evidence_bound(sched, {}, day(0), day(6), day(6))[0] == 3
    assert evidence_bound(sched, {}, day(0), day(6), None)[0] == 3  # the calendar alone
    assert evidence_bound(sched, {}, day(0), day(3), None)[0] == 1


# ---------------------------------------------------------------------------------------------
# Each class of corruption is refused, named, alerted, and never raises a cap
# ---------------------------------------------------------------------------------------------
def corrupt_run(mutate=None, text=None, today=12, days=12):
    m = model()
    st, ledgers, _caps, _rep = history(m, days)
    clean_seen, clean_new, clean_caps, _ = plan(m, observed_of(m, st, ledgers), day(today))
    assert clean_seen["findings"] == []
    bad = copy.deepcopy(st)
    if mutate:
        mutate(bad)
    files = {"pmta-1": text if text is not None else file_of(bad, PMTA1)}
    seen, new, caps, rep = plan(m, observed_of(m, bad, ledgers, text=files), day(today))
    assert_not_higher(caps, clean_caps)
    seen_c, caps_c = current(m, observed_of(m, bad, ledgers, text=files), day(today))
    assert_not_higher(caps_c, warmup.caps_from_states(m, st, {}, day(today)))
    return m, seen, caps, rep, clean_caps


def test_inflated_stage_is_refused_and_restarts_at_the_first_stage():
    def mutate(s):
        s["192.0.2.1"]["stage_index"] = 99
    m, seen, caps, rep, clean = corrupt_run(mutate)
    assert caps["192.0.2.1"]["daily"] == 50 and caps["192.0.2.1"]["stage"] == 1
    assert seen["refused"] == {"192.0.2.1": seen["refused"]["192.0.2.1"]}
    (f,) = seen["findings"]
    assert f["host"] == "pmta-1" and f["ip"] == "192.0.2.1" and f["path"].endswith("warmup-state.json")
    assert "stage_index 99 is beyond the schedule (3 stages, 3 = warm)" in f["problem"]
    (ev,) = seen["events"]
    assert ev["type"] == "state_corrupt" and ev["id"] == "state_corrupt:pmta-1:%s:192.0.2.1:%s" % (f["path"], day(12))
    assert "192.0.2.1" in ev["message"] and "stage 1 (50/day)" in ev["message"]
    assert rep["ips"]["192.0.2.1"]["action"] == "hold" and "state refused" in rep["ips"]["192.0.2.1"]["reason"]
    assert clean["192.0.2.1"]["daily"] > 50  # the clean state was further along


def test_stage_beyond_the_sending_evidence_is_refused():
    def mutate(s):  # warm after 12 days, with 2-day stages: needs 6 full days at rising volumes
        s["192.0.2.2"]["stage_index"] = 3
        s["192.0.2.2"]["stage_since"] = day(5)
    m, seen, caps, _rep, _clean = corrupt_run(mutate)
    assert "more than the sending evidence allows" in seen["findings"][0]["problem"]
    assert caps["192.0.2.2"]["daily"] == 50


def test_inflated_daily_is_refused_and_never_deployed():
    def mutate(s):
        for ip in PMTA1:
            s[ip]["daily"] *= 100
    m, seen, caps, _rep, clean = corrupt_run(mutate)
    problems = {f["ip"]: f["problem"] for f in seen["findings"]}
    assert set(problems) == set(PMTA1)
    assert all("is above the volume" in p for p in problems.values())
    # the stage was not the problem: it is kept, the IP holds today
    for ip in PMTA1:
        assert caps[ip]["daily"] <= clean[ip]["daily"]
    # the quota sync counts refused IPs 0 until a plan repairs them
    seen_c, caps_c = current(m, observed_of(m, {}, {}, text={"pmta-1": file_of(
        {ip: dict(s, daily=s["daily"] * 100) for ip, s in history(m, 12)[0].items()}, PMTA1)}), day(12))
    assert all(capacity.effective_daily(caps_c[ip]) == 0 for ip in PMTA1)


@pytest.mark.parametrize("key,value,fragment", [
    ("stage_since", "2027-01-01", "stage_since 2027-01-01 is in the future"),
    ("planned_on", "2027-01-01", "planned_on 2027-01-01 is in the future"),
    ("last_sent", "2027-01-01", "last_sent 2027-01-01 is not a complete day before today"),
    ("standby_since", "2027-01-01", "standby_since 2027-01-01 is in the future"),
    ("stage_since", "2026-10-01", "stage_since 2026-10-01 is before the IP's warmup_start 2026-11-01"),
])
def test_impossible_dates_are_refused(key, value, fragment):
    def mutate(s):
        s["192.0.2.1"][key] = value
        if key == "stage_since":
            s["192.0.2.1"]["stage_index"] = max(1, s["192.0.2.1"]["stage_index"])
    _m, seen, _caps, _rep, _clean = corrupt_run(mutate)
    assert any(fragment in f["problem"] for f in seen["findings"] if f["ip"] == "192.0.2.1"), seen["findings"]


def test_unknown_ips_are_named_and_ignored():
    def mutate(s):
        s["192.0.2.99"] = dict(s["192.0.2.1"], stage_index=3)
    m = model()
    st, ledgers, _c, _r = history(m, 6)
    bad = dict(st, **{"192.0.2.99": dict(st["192.0.2.1"], stage_index=3)})
    text = file_of(bad, PMTA1 + ["192.0.2.99", "2001:db8::2"])  # one unknown, one of another host
    seen, new, caps, _rep = plan(m, observed_of(m, st, ledgers, text={"pmta-1": text}), day(6))
    ips = sorted(f["ip"] for f in seen["findings"])
    assert ips == ["192.0.2.99", "2001:db8::2"]
    assert all("not one of pmta-1's IPs in the inventory" in f["problem"] for f in seen["findings"])
    assert "192.0.2.99" not in caps and "192.0.2.99" not in new
    assert seen["refused"] == {}


@pytest.mark.parametrize("text", ["", "{", '{"version": 1, "ips": {"192.0.2.1": {"version": 1, "stage_index": 2',
                                  '{"version": 7, "ips": {}}', "null", '"state"'])
def test_corrupt_file_restarts_every_ip_of_the_host_conservatively(text):
    m, seen, caps, rep, clean = corrupt_run(text=text)
    assert sorted(seen["refused"]) == PMTA1
    assert [f["ip"] for f in seen["findings"]] == [None]
    assert all(caps[ip]["daily"] <= 50 for ip in PMTA1)
    assert caps["2001:db8::2"] == clean["2001:db8::2"]  # the other host is untouched
    assert "every IP of the host continues at its first stage" in seen["events"][0]["message"]


def test_refused_state_holds_and_same_day_rerun_is_a_no_op():
    def mutate(s):
        s["192.0.2.1"]["daily"] = 10 ** 6
    m = model()
    st, ledgers, _c, _r = history(m, 12)
    bad = copy.deepcopy(st)
    mutate(bad)
    seen, new, caps, rep = plan(m, observed_of(m, bad, ledgers, text={"pmta-1": file_of(bad, PMTA1)}), day(12))
    assert new["192.0.2.1"]["repair"] == day(12)
    # what the run writes back is clean and is trusted: the same day again gives the same caps
    seen2, new2, caps2, _ = plan(m, observed_of(m, new, ledgers), day(12))
    assert seen2["findings"] == [] and caps2 == caps and new2 == new
    # the next day it plans normally from the repaired state (the stage count restarted)
    seen3, new3, _caps3, rep3 = plan(m, observed_of(m, new, ledgers), day(13))
    assert seen3["findings"] == [] and new3["192.0.2.1"]["repair"] is None
    assert rep3["ips"]["192.0.2.1"]["action"] in ("hold", "warm")


def test_pinned_stage_is_evidence_only_while_the_pin_is_in_the_inventory():
    m = model()
    m["ips"]["192.0.2.1"]["overrides"] = {"pin_stage": 3}
    for ip in m["hosts"]["pmta-1"]["ips"]:
        if ip["address"] == "192.0.2.1":
            ip["overrides"] = {"pin_stage": 3}
    st, ledgers, _c, _r = history(m, 1)
    assert st["192.0.2.1"]["stage_index"] == 2
    assert observe_fleet(m, observed_of(m, st, ledgers), day(1))["findings"] == []
    for ip in [m["ips"]["192.0.2.1"]] + [i for i in m["hosts"]["pmta-1"]["ips"] if i["address"] == "192.0.2.1"]:
        ip["overrides"] = {}
    seen = observe_fleet(m, observed_of(m, st, ledgers), day(1))
    assert "a pin_stage no longer in the inventory is not evidence" in seen["findings"][0]["problem"]


# ---------------------------------------------------------------------------------------------
# Health: unknown is never clean
# ---------------------------------------------------------------------------------------------
def test_failclosed_health_keeps_the_recorded_standby():
    on = failclosed_health({"standby": True, "standby_since": day(3)}, "empty file")
    assert on["standby"] and on["clean_streak"] == 0 and on["standby_since"] == day(3)
    assert "health state unreadable (empty file)" in on["reason"]
    off = failclosed_health({"standby": False}, "empty file")
    assert not off["standby"]
    unknown = failclosed_health(None, "empty file")
    assert unknown["standby"]


@pytest.mark.parametrize("text", ["", "{", "null", '{"version": 1, "ips": {"192.0.2.1": "clean"}}'])
def test_corrupt_health_never_makes_a_listed_ip_look_clean(text):
    m = model()
    st, ledgers, _c, _r = history(m, 8, health={n: {"192.0.2.1": {"standby": True, "reason": "listed",
                                                                  "listed": ["zen.spamhaus.org"]}}
                                                for n in range(6, 8)})
    assert st["192.0.2.1"]["standby"]
    good = json.dumps({"version": 1, "ips": {"192.0.2.1": {"standby": True, "reason": "listed", "listed": [
        "zen.spamhaus.org"], "listings": {}, "clean_streak": 1, "standby_since": day(6)}}})
    _s, _n, clean_caps, _r = plan(m, observed_of(m, st, ledgers, health={"pmta-1": good}), day(8))
    seen, _n, caps, rep = plan(m, observed_of(m, st, ledgers, health={"pmta-1": text}), day(8))
    assert caps["192.0.2.1"]["standby"] and caps["192.0.2.1"]["daily"] == 0
    assert "health state unreadable" in rep["ips"]["192.0.2.1"]["reason"]
    assert_not_higher(caps, clean_caps)
    assert any(f["kind"] == "health" for f in seen["findings"])
    # an IP that was sending keeps sending: unknown is not a listing either
    assert caps["192.0.2.2"]["daily"] > 0 and not caps["192.0.2.2"]["standby"]
    health = read_health_file(text, PMTA1, st)
    assert health["states"]["192.0.2.1"]["standby"] and not health["states"].get("192.0.2.2", {}).get("standby")


def test_check_state_is_quiet_on_a_state_that_lowers_only():
    m = model()
    sched = m["schedules"]["default"]
    st, ledgers, _c, _r = history(m, 12)
    s = dict(st["192.0.2.1"], daily=1)  # a lower daily can only lower: not a problem
    assert check_state(sched, s, ledgers["192.0.2.1"], day(12), day(0), day(0)) == []
    verdict = check_host_states(m, "pmta-1", {"states": {"192.0.2.1": s}}, ledgers, day(12), day(0))
    assert verdict["trusted"] == {"192.0.2.1": s}
