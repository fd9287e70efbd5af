"""Property tests of the warmup planner over random outcome sequences (hypothesis)."""
import datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.mailfleet.fleet.plugins.module_utils.schedule import normalize_schedule
from ansible_collections.mailfleet.fleet.plugins.module_utils.states import dump_states, load_states
from ansible_collections.mailfleet.fleet.plugins.module_utils.warmup import plan_ip

D0 = datetime.date(2024, 1, 1)
PROVS = ("gmail", "microsoft", "yahoo", "other")


@st.composite
def schedules(draw):
    n = draw(st.integers(1, 5))
    vols = sorted(draw(st.sets(st.integers(10, 20000), min_size=n, max_size=n)))
    stages = [{"volume": v, "min_days": draw(st.integers(1, 4))} for v in vols]
    full = vols[-1] + draw(st.integers(0, 5000))
    providers = {}
    for p in PROVS:
        kind = draw(st.sampled_from(["none", "share", "cap"]))
        if kind == "share":
            providers[p] = {"share": draw(st.floats(0.05, 1.0))}
        elif kind == "cap":
            providers[p] = {"cap": draw(st.integers(1, 30000))}
    th = {"idle_days": draw(st.integers(2, 10)), "min_volume_for_rates": draw(st.integers(0, 300))}
    s, errors = normalize_schedule({"stages": stages, "full_rate": full, "providers": providers,
                                    "thresholds": th})
    assert errors == []
    return s


day_event = st.fixed_dictionaries({
    "fill": st.sampled_from([0.0, 0.0, 0.5, 0.95, 1.0, 1.0, 1.0]),
    "hard": st.sampled_from([0.0, 0.005, 0.018, 0.05]),
    "complaint": st.sampled_from([0.0, 0.0005, 0.0025, 0.01]),
    "deferral": st.sampled_from([0.0, 0.02, 0.3]),
    "standby": st.sampled_from([False] * 9 + [True]),
    "skip_run": st.sampled_from([False] * 6 + [True]),
    "rerun": st.booleans(),
})
override_sets = st.sampled_from([{}, {}, {"hold": True}, {"max_stage": 2}, {"pin_stage": 1}, {"standby": True}])


def stage_cap(schedule, stage_index):
    stages = schedule["stages"]
    return schedule["full_rate"] if stage_index >= len(stages) else stages[stage_index]["volume"]


def simulate(schedule, events, overrides, data):
    """Run the planner day by day; yield per planned day (n, state_before, new_state, decision, ledger)."""
    state, caps, ledger = None, None, {}
    for n, ev in enumerate(events):
        today = (D0 + datetime.timedelta(days=n)).isoformat()
        health = {"standby": ev["standby"], "reason": "test", "listed": ["zen.spamhaus.org"]} if ev["standby"] else None
        if not ev["skip_run"] or state is None:
            before = state
            state, dec = plan_ip(schedule, state, ledger, health, today, overrides)
            yield n, before, state, dec, dict(ledger), health
            caps = dec
        if caps and caps["daily"] and ev["fill"]:
            sent = int(caps["daily"] * ev["fill"])
            if sent:
                hard = int(sent * ev["hard"])
                delivered = sent - hard
                ledger[today] = {"gmail": {"delivered": delivered, "hard_bounce": hard, "soft_bounce": 0,
                                           "deferred": int(sent * ev["deferral"]),
                                           "complaint": int(delivered * ev["complaint"])}}


def _stage_index(schedule, dec, state):
    """0-based index from the decision's 1-based stage number (None = warm = len(stages))."""
    return len(schedule["stages"]) if dec["stage"] is None else dec["stage"] - 1


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(schedules(), st.lists(day_event, min_size=1, max_size=60), override_sets, st.data())
def test_invariants(schedule, events, overrides, data):
    prev_stage = None
    for n, before, state, dec, ledger, health in simulate(schedule, events, overrides, data):
        idx = _stage_index(schedule, dec, state)
        assert idx == state["stage_index"]
        # cap never above the stage cap / full rate; provider caps never above daily
        assert 0 <= dec["daily"] <= stage_cap(schedule, idx)
        assert all(0 <= v <= dec["daily"] for v in dec["providers"].values())
        # standby => cap 0 everywhere
        if dec["standby"] or (health and health["standby"]) or overrides.get("standby"):
            assert dec["standby"] and dec["daily"] == 0 and set(dec["providers"].values()) == {0}
        else:
            assert dec["daily"] == stage_cap(schedule, idx)
        # never more than one stage up between two runs (whatever the gap), except a pin
        if prev_stage is not None and "pin_stage" not in overrides:
            assert idx - prev_stage <= 1
        # no advance when yesterday had no sending
        yesterday = (D0 + datetime.timedelta(days=n - 1)).isoformat()
        if dec["action"] == "advance":
            assert yesterday in ledger
            assert idx == prev_stage + 1
        if overrides.get("max_stage") is not None and dec["action"] != "new":
            assert idx <= overrides["max_stage"] - 1
        # same-day re-run is a no-op
        today = (D0 + datetime.timedelta(days=n)).isoformat()
        again = plan_ip(schedule, state, ledger, health, today, overrides)
        assert again == (state, dec)
        # state round-trips through dump/load
        assert load_states(dump_states({"192.0.2.1": state})) == {"192.0.2.1": state}
        prev_stage = idx


@SETTINGS
@given(schedules(), st.lists(day_event, min_size=5, max_size=40))
def test_no_sending_no_advance(schedule, events):
    """With outcomes that never send, the stage never rises."""
    for ev in events:
        ev["fill"] = 0.0
    stages = [dec["stage"] for _n, _b, _s, dec, _l, _h in simulate(schedule, events, {}, None)]
    assert all(s == 1 for s in stages)


@SETTINGS
@given(schedules(), st.lists(day_event, min_size=5, max_size=40))
def test_rerun_from_previous_state_is_idempotent(schedule, events):
    """Planning the same day twice from the previous day's state gives the same result."""
    for n, before, state, dec, ledger, health in simulate(schedule, events, {}, None):
        today = (D0 + datetime.timedelta(days=n)).isoformat()
        assert plan_ip(schedule, before, ledger, health, today, {}) == (state, dec)


day_runs = st.lists(st.booleans(), min_size=1, max_size=5)  # health standby at each run of the day


@SETTINGS
@given(schedules(), st.lists(day_runs, min_size=1, max_size=40), st.sampled_from([{}, {}, {"hold": True}]))
def test_standby_within_a_day_is_remembered(schedule, days, overrides):
    """Several runs a day with health flapping: once a run of the day put the IP on standby, no
    later run of that day ends above the day's starting stage minus resume_step_back (it never
    advances that day), and re-running any run is a no-op."""
    state, ledger = None, {}
    step = schedule["thresholds"]["resume_step_back"]
    for n, runs in enumerate(days):
        today = (D0 + datetime.timedelta(days=n)).isoformat()
        start = state["stage_index"] if state is not None else 0
        was_standby = bool(state and state["standby"])
        went_standby = False
        dec = None
        for listed in runs:
            health = {"standby": listed, "reason": "test", "listed": ["zen.spamhaus.org"] if listed else []}
            state, dec = plan_ip(schedule, state, ledger, health, today, overrides)
            assert plan_ip(schedule, state, ledger, health, today, overrides) == (state, dec)
            went_standby = went_standby or dec["action"] == "standby"
            if went_standby and not was_standby and not dec["standby"]:
                assert dec["action"] == "resume"
                assert state["stage_index"] <= max(0, start - step)
            if went_standby:
                assert state["stage_index"] <= start
        if dec["daily"]:
            ledger[today] = {"gmail": {"delivered": dec["daily"], "hard_bounce": 0, "soft_bounce": 0,
                                       "deferred": 0, "complaint": 0}}
