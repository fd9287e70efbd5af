"""Property tests of the reacting warmup (issue 14) over random multi-provider histories with reply
classes: delivered-based fill, per-provider stages, a provider stepping back alone, stuck IPs."""
import datetime
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.mailfleet.fleet.plugins.module_utils import capacity
from ansible_collections.mailfleet.fleet.plugins.module_utils.schedule import normalize_schedule, thresholds_of
from ansible_collections.mailfleet.fleet.plugins.module_utils.warmup import plan_fleet, plan_ip, stuck_events

D0 = datetime.date(2024, 1, 1)
PROVS = capacity.PROVIDERS
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def day(n):
    return (D0 + datetime.timedelta(days=n)).isoformat()


@st.composite
def schedules(draw):
    n = draw(st.integers(2, 5))
    vols = sorted(draw(st.sets(st.integers(20, 5000), min_size=n, max_size=n)))
    stages = [{"volume": v, "min_days": draw(st.integers(1, 3))} for v in vols]
    providers = {}
    for p in PROVS:
        kind = draw(st.sampled_from(["none", "share", "cap"]))
        if kind == "share":
            providers[p] = {"share": draw(st.floats(0.1, 1.0))}
        elif kind == "cap":
            providers[p] = {"cap": draw(st.integers(5, 8000))}
    th = {"min_volume_for_rates": draw(st.integers(0, 100)), "stuck_days": draw(st.integers(2, 8)),
          "fill_ratio": draw(st.sampled_from([0.8, 0.9, 1.0]))}
    s, errors = normalize_schedule({"stages": stages, "full_rate": vols[-1] * 2, "providers": providers,
                                    "thresholds": th})
    assert errors == []
    return s


provider_day = st.fixed_dictionaries({
    "fill": st.sampled_from([0.0, 0.5, 0.85, 1.0, 1.0, 1.0]),
    "soft": st.sampled_from([0.0, 0.0, 0.0, 0.5]),
    "throttle": st.sampled_from([0.0, 0.0, 0.0, 0.1, 0.5]),
    "auth": st.sampled_from([0.0, 0.0, 0.0, 0.03]),
})
day_event = st.fixed_dictionaries({p: provider_day for p in PROVS})


def send(dec, ev):
    """What one IP sends in a day under ``dec``'s caps: per provider ``fill`` x its cap (within the
    IP's daily cap), ``soft`` of it soft-bounced, ``throttle`` x tries deferred and classed
    rate_limited, ``auth`` x tries bounced classed auth."""
    out, budget = {}, dec["daily"]
    for p in PROVS:
        sent = min(budget, int(dec["providers"][p] * ev[p]["fill"]))
        if sent <= 0:
            continue
        budget -= sent
        soft = int(sent * ev[p]["soft"])
        auth = min(sent - soft, int(math.ceil(sent * ev[p]["auth"])) if ev[p]["auth"] else 0)
        deferred = int(sent * ev[p]["throttle"])
        classes = {}
        if deferred:
            classes["rate_limited"] = deferred
        if auth:
            classes["auth"] = auth
        if soft:
            classes["mailbox_full"] = soft
        out[p] = {"delivered": sent - soft - auth, "hard_bounce": auth, "soft_bounce": soft, "deferred": deferred,
                  "complaint": 0, "classes": classes}
    return out


def history(schedule, events):
    """Plan day by day; yields (n, state_before, decision, ledger_before)."""
    state, ledger = None, {}
    for n, ev in enumerate(events):
        before = state
        state, dec = plan_ip(schedule, state, ledger, None, day(n))
        yield n, before, state, dec, dict(ledger)
        out = send(dec, ev)
        if out:
            ledger[day(n)] = out


def index(schedule, number):
    return len(schedule["stages"]) if number is None else number - 1


@SETTINGS
@given(schedules(), st.lists(day_event, min_size=1, max_size=45))
def test_fill_is_delivered_and_providers_bounded_by_the_ip(schedule, events):
    th = thresholds_of(schedule)
    n_stages = len(schedule["stages"])
    ever_sent = set()
    prev = None
    for n, before, state, dec, ledger in history(schedule, events):
        ip = index(schedule, dec["stage"])
        pst = {p: index(schedule, dec["provider_stages"][p]) for p in PROVS}
        ever_sent |= {p for p, rec in (ledger.get(day(n - 1)) or {}).items()
                      if rec["delivered"] + rec["soft_bounce"] + rec["hard_bounce"] + rec["deferred"] > 0}
        for p in PROVS:
            # a provider is never above its IP, its cap never above the IP's, nor above its own stage's
            assert pst[p] <= ip
            assert 0 <= dec["providers"][p] <= dec["daily"]
            assert dec["providers"][p] <= capacity.provider_caps(schedule, dec["daily"], stages={p: pst[p]})[p]
        if prev is not None:
            for p in PROVS:
                assert pst[p] <= prev[p] + 1  # a provider never skips a stage
                if p not in ever_sent:
                    # a provider never sent to stays at its first stage
                    assert pst[p] == 0, (p, dec["reason"])
        if dec["action"] == "advance":
            # delivered-based fill: yesterday delivered fill_ratio x the old stage, and enough such days
            old = ip - 1
            target = th["fill_ratio"] * capacity.stage_volume(schedule, old)
            since = before["stage_since"]
            full = [d for d, rec in ledger.items() if since <= d < day(n)
                    and sum(r["delivered"] for r in rec.values()) >= target - 1e-9]
            assert day(n - 1) in full
            assert len(full) >= schedule["stages"][old]["min_days"]
            assert old < n_stages
        for p in PROVS:
            if prev is not None and pst[p] == prev[p] + 1:
                # the provider's own fill: its days at its stage delivering its own target
                target = capacity.provider_fill_target(schedule, prev[p], p)
                rec = (ledger.get(day(n - 1)) or {}).get(p) or {}
                assert rec.get("delivered", 0) >= target
        prev = pst


@SETTINGS
@given(schedules(), st.integers(1, 12), st.sampled_from(PROVS), st.sampled_from(["throttle", "auth"]))
def test_one_misbehaving_provider_steps_back_alone(schedule, clean_days, bad, kind):
    """Clean full days at every provider, then one day where ``bad`` alone is throttled (or fails
    authentication) while the rest of the IP's traffic is clean and judged: the IP does not step
    back, ``bad`` goes down a stage (or is backed off at its first stage), the others keep theirs."""
    th = thresholds_of(schedule)
    clean = {p: {"fill": 1.0, "soft": 0.0, "throttle": 0.0, "auth": 0.0} for p in PROVS}
    state, ledger = None, {}
    dec = None
    for n in range(clean_days):
        state, dec = plan_ip(schedule, state, ledger, None, day(n))
        out = send(dec, clean)
        if out:
            ledger[day(n)] = out
    state, dec = plan_ip(schedule, state, ledger, None, day(clean_days))
    rec = send(dec, clean)
    if bad not in rec:
        return
    t = rec[bad]
    tries = t["delivered"] + t["soft_bounce"] + t["hard_bounce"]
    if kind == "throttle":
        t["deferred"] = tries
        t["classes"] = {"rate_limited": tries}
    else:
        t["hard_bounce"], t["delivered"] = tries, 0
        t["classes"] = {"auth": tries}
    ledger[day(clean_days)] = rec
    rest = capacity.Tally()
    for p, r in rec.items():
        if p != bad:
            rest.add(r)
    min_vol = th["min_volume_for_rates"]
    if tries + t["deferred"] < max(1, min_vol) or all(v is None for v in rest.rates(min_vol).values()):
        return  # not judged: below min_volume_for_rates, or the rest cannot be judged (IP judged whole)
    before = dict(dec["provider_stages"])
    state2, dec2 = plan_ip(schedule, state, ledger, None, day(clean_days + 1))
    assert dec2["action"] in ("hold",), dec2["reason"]
    assert dec2["stage"] == dec["stage"]
    assert "%s alone over a threshold" % bad in dec2["reason"]
    old_b, new_b = index(schedule, before[bad]), index(schedule, dec2["provider_stages"][bad])
    if old_b > 0:
        assert new_b == max(0, old_b - th["step_back"])
    else:
        assert new_b == 0 and bad in state2["backoff"]
    for p in PROVS:
        if p != bad:
            assert index(schedule, dec2["provider_stages"][p]) >= index(schedule, before[p])


@SETTINGS
@given(schedules(), st.integers(0, 30), st.sampled_from([0.5, 0.85]))
def test_under_filled_ip_is_stuck_once_per_episode(schedule, extra, fill):
    """An IP that delivers less than its fill target every day holds at its first stage; once it
    has ``stuck_days`` sending days there (and more than its min_days) every plan reports it stuck,
    with why, and the alert events keep one id for the whole episode (the alert module sends it once)."""
    th = thresholds_of(schedule)
    target = th["fill_ratio"] * capacity.stage_volume(schedule, 0)
    model = {"schedules": {"s": schedule}, "tenants": {"t": {}},
             "ips": {"192.0.2.1": {"tenant": "t", "host": "h", "schedule": "s", "warmup_start": day(0)}},
             "hosts": {"h": {"ips": [{"address": "192.0.2.1"}]}}}
    states, ledgers = {}, {"192.0.2.1": {}}
    ids = set()
    need = max(th["stuck_days"], schedule["stages"][0]["min_days"] + 1)
    for n in range(need + extra + 1):
        states, caps, report = plan_fleet(model, states, ledgers, {}, day(n))
        dec = report["ips"]["192.0.2.1"]
        assert dec["stage"] == 1 and dec["action"] in ("new", "hold")
        if n >= need:
            assert dec["stuck"] is not None and dec["stuck"]["sending_days"] == n
            assert "fill" in dec["stuck"]["why"]
            ids |= {e["id"] for e in stuck_events(report)}
        else:
            assert dec["stuck"] is None
        sent = int(caps["192.0.2.1"]["daily"] * fill)
        if sent >= target:
            sent = int(math.ceil(target)) - 1
        if sent > 0:
            ledgers["192.0.2.1"][day(n)] = {"gmail": {"delivered": sent, "hard_bounce": 0, "soft_bounce": 0,
                                                      "deferred": 0, "complaint": 0}}
        else:
            return
    assert len(ids) == 1
