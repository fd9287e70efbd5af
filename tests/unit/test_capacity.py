"""The capacity contract (plugins/module_utils/capacity.py): every definition, and proof that the
planner, the renderer, the stored-state reader (quota sync), the MailWizz plan, the report and the
metrics read the same numbers."""
import datetime
import re

import pytest

from ansible_collections.mailfleet.fleet.plugins.module_utils import (
    capacity, delivery_server, fleet, metrics, pmta_render, providers, report, schedule, warmup)
from ansible_collections.mailfleet.fleet.plugins.module_utils.capacity import (
    OUTCOMES, PROVIDERS, RATES, SIGNALS, Tally, attempted, day_totals, delivered, effective_daily, effective_provider_caps,
    fill_volume, host_pool_capacity, ip_cap, is_sending, pool_capacity, provider_caps, rates,
    remaining_today, stage_volume, tenant_attempted, unreachable_cap)
from ansible_collections.mailfleet.fleet.plugins.plugin_utils import pmta_template

from fleetdata import raw


def sched(**kw):
    spec = {"stages": [50, 200, 500], "full_rate": 1000,
            "providers": {"gmail": {"share": 0.5}, "yahoo": {"cap": 30}, "microsoft": {"share": 0.33}}}
    spec.update(kw)
    s, errors = schedule.normalize_schedule(spec)
    assert errors == []
    return s


# ---------------------------------------------------------------------------------------------
# One provider list, one set of outcomes
# ---------------------------------------------------------------------------------------------
def test_one_provider_list_everywhere():
    assert PROVIDERS == ("gmail", "microsoft", "yahoo", "other")
    assert providers.PROVIDERS is PROVIDERS
    assert metrics.PROVIDERS is PROVIDERS
    assert pmta_render.PROVIDERS is PROVIDERS
    assert set(providers.DEFAULT_PROVIDERS) == set(PROVIDERS)
    assert OUTCOMES == ("delivered", "hard_bounce", "soft_bounce", "deferred", "complaint")
    assert metrics.OUTCOMES is OUTCOMES and report.OUTCOMES is OUTCOMES


# ---------------------------------------------------------------------------------------------
# attempted / delivered / rates
# ---------------------------------------------------------------------------------------------
def test_attempted_is_final_outcomes_only():
    rec = {"delivered": 90, "hard_bounce": 4, "soft_bounce": 6, "deferred": 50, "complaint": 2,
           "remote_bounce": 7, "reply_class_rate_limited": 3}
    assert attempted(rec) == 100  # deferrals, complaints and extra counters are not volume
    assert delivered(rec) == 90
    assert attempted({}) == 0 and attempted(None) == 0
    # garbage counters count 0, never negative
    assert attempted({"delivered": -5, "hard_bounce": "x", "soft_bounce": None}) == 0


def test_day_totals_sums_providers_and_ignores_extra_keys():
    day = {"gmail": {"delivered": 10, "hard_bounce": 1, "soft_bounce": 0, "deferred": 3, "complaint": 1,
                     "remote_bounce": 9},
           "yahoo": {"delivered": 5, "soft_bounce": 2}, "other": None}
    tot = day_totals(day)
    assert tot == {"delivered": 15, "hard_bounce": 1, "soft_bounce": 2, "deferred": 3, "complaint": 1,
                   "async_bounce": 0, "attempted": 18, "rate_limited_replies": 0, "reputation_replies": 0,
                   "auth_failures": 0}
    assert day_totals(None) == dict.fromkeys(OUTCOMES + ("async_bounce", "attempted") + SIGNALS, 0)
    assert is_sending(tot) and not is_sending(day_totals({}))
    assert is_sending(day_totals({"gmail": {"deferred": 1}}))  # only deferred: still a sending day
    # the fill is what was delivered: the 3 bounces used the cap but fill nothing
    assert fill_volume(tot) == 15


def test_rates_definitions_and_min_volume():
    tot = day_totals({"gmail": {"delivered": 180, "hard_bounce": 10, "soft_bounce": 10, "deferred": 50,
                                "complaint": 9}})
    r = rates(tot)
    assert r["hard_bounce"] == 10 / 200          # / attempted
    assert r["complaint"] == 9 / 180             # / delivered
    assert r["deferral"] == 50 / 250             # / (attempted + deferred)
    assert r["reputation"] == 0 and r["auth_failure"] == 0
    assert rates(tot, min_volume=201) == {"hard_bounce": None, "complaint": None, "deferral": 50 / 250,
                                          "reputation": 0.0, "auth_failure": 0.0}
    assert rates(tot, min_volume=251) == dict.fromkeys(RATES)
    assert rates(day_totals({})) == dict.fromkeys(RATES)
    # nothing delivered: no complaint rate
    assert rates(day_totals({"gmail": {"hard_bounce": 3}}))["complaint"] is None


def test_tally_agrees_with_day_totals():
    days = [{"gmail": {"delivered": 7, "hard_bounce": 1, "soft_bounce": 2, "deferred": 4, "complaint": 1}},
            {"yahoo": {"delivered": 3, "deferred": 1}, "other": {"soft_bounce": 5}}]
    t = Tally()
    for d in days:
        t.add_day(d)
    merged = {k: sum(day_totals(d)[k] for d in days) for k in OUTCOMES + ("async_bounce", "attempted") + SIGNALS}
    assert t.totals() == merged
    assert t["attempted"] == t.attempted == merged["attempted"]
    assert t.rates(0) == rates(merged)
    with pytest.raises(KeyError):
        t["bogus"]
    assert Tally().merge(t).totals() == t.totals()


def test_tenant_attempted_is_the_campaign_gate_sent_today():
    m = {"tenants": {"a": {}, "b": {}, "idle": {}},
         "ips": {"192.0.2.1": {"tenant": "a"}, "192.0.2.2": {"tenant": "a"}, "192.0.2.3": {"tenant": "b"}}}
    ledgers = {"192.0.2.1": {"2026-01-02": {"gmail": {"delivered": 5, "hard_bounce": 1, "deferred": 9}}},
               "192.0.2.2": {"2026-01-02": {"other": {"soft_bounce": 2}}, "2026-01-01": {"other": {"delivered": 99}}},
               "192.0.2.3": {}}
    assert tenant_attempted(m, ledgers, "2026-01-02") == {"a": 8, "b": 0, "idle": 0}
    assert remaining_today(10, 8) == 2 and remaining_today(10, 30) == 0 and remaining_today(None, None) == 0


# ---------------------------------------------------------------------------------------------
# An IP's caps
# ---------------------------------------------------------------------------------------------
def test_stage_volume_and_provider_caps():
    s = sched()
    assert [stage_volume(s, i) for i in range(5)] == [50, 200, 500, 1000, 1000]
    assert provider_caps(s, 200) == {"gmail": 100, "microsoft": 66, "yahoo": 30, "other": 200}
    assert provider_caps(s, 200, ["gmail", "other"], 0.5) == {"gmail": 50, "microsoft": 66, "yahoo": 30, "other": 100}
    assert provider_caps(s, 0) == dict.fromkeys(PROVIDERS, 0)
    assert provider_caps(s, -7) == dict.fromkeys(PROVIDERS, 0)
    for daily in (0, 1, 3, 49, 50, 999, 10 ** 6):
        assert all(0 <= v <= daily for v in provider_caps(s, daily, list(PROVIDERS), 0.3).values())


def test_ip_cap_standby_warm_and_backoff():
    s = sched(thresholds={"provider_backoff": 0.25})
    assert ip_cap(s, 1) == {"daily": 200, "providers": provider_caps(s, 200), "standby": False, "stage": 2,
                            "reason": ""}
    assert ip_cap(s, 3)["stage"] is None and ip_cap(s, 3)["daily"] == 1000
    off = ip_cap(s, 1, standby=True, reason="listed")
    assert off["daily"] == 0 and set(off["providers"].values()) == {0} and off["standby"]
    assert ip_cap(s, 1, backoff=["gmail"])["providers"]["gmail"] == 25  # the schedule's factor


def test_effective_caps_and_unreachable():
    assert effective_daily(None) == 0
    assert effective_daily({"daily": 500}) == 500
    assert effective_daily({"daily": 500, "standby": True}) == 0
    assert effective_daily({"daily": 500, "unreachable": True}) == 0
    assert effective_daily({"daily": -3}) == 0 and effective_daily({"daily": "many"}) == 0
    cap = unreachable_cap("pmta-9")
    assert effective_daily(cap) == 0 and cap["unreachable"] and "pmta-9" in cap["reason"]
    assert effective_provider_caps({"daily": 100, "providers": {"gmail": 500, "yahoo": 30, "other": -1}}) == {
        "gmail": 100, "microsoft": 100, "yahoo": 30, "other": 0}
    assert effective_provider_caps({"daily": 100, "standby": True, "providers": {"gmail": 50}}) == dict.fromkeys(
        PROVIDERS, 0)


# ---------------------------------------------------------------------------------------------
# Pool capacity
# ---------------------------------------------------------------------------------------------
def model():
    m, errors = fleet.build_model(raw())
    assert not errors
    return m


def test_pool_and_host_capacity():
    m = model()
    caps = {"192.0.2.1": {"daily": 200}, "192.0.2.2": {"daily": 50, "standby": True},
            "198.51.100.1": {"daily": 500}, "2001:db8::2": {"daily": 1000, "unreachable": True}}
    assert pool_capacity(m, caps) == {"alpha": 200, "beta": 500}
    assert host_pool_capacity(m, caps) == {"alpha": {"pmta-1": 200, "pmta-2": 0}, "beta": {"pmta-1": 500}}
    # every tenant is listed, IPs without caps count nothing
    assert pool_capacity(m, {}) == {"alpha": 0, "beta": 0}
    assert host_pool_capacity(m, {}) == {}
    # the rows add up to the pool
    for tenant, hosts in host_pool_capacity(m, caps).items():
        assert sum(hosts.values()) == pool_capacity(m, caps)[tenant]


# ---------------------------------------------------------------------------------------------
# The deployed numbers and the quota sync's numbers are the same
# ---------------------------------------------------------------------------------------------
DAY0 = datetime.date(2026, 11, 1)


def _day(n):
    return (DAY0 + datetime.timedelta(days=n)).isoformat()


def _rendered(text):
    """{ip: {"daily": n, "providers": {p: n}}} from the rendered VirtualMTAs."""
    out = {}
    for block in text.split("<virtual-mta ")[1:]:
        body = block.split("</virtual-mta>", 1)[0]
        ip = re.search(r"smtp-source-host (\S+) ", body).group(1)
        rate = re.search(r"max-smtp-msg-rate (\S+)", body).group(1)
        daily = 0 if rate == "0" else int(rate.split("/")[0])
        provs = {}
        for prov, value in re.findall(r"<domain (\w+)\.rollup>\s+max-msg-rate (\S+)", body):
            provs[prov] = 0 if value == "0" else int(value.split("/")[0])
        out[ip] = {"daily": daily, "providers": provs}
    return out


def _history_with_a_misbehaving_provider(m):
    """Plan every day for 12 days: full sending, Yahoo (5 % of the traffic) deferring from day 8:
    Yahoo alone over its deferral threshold, so its cap is backed off."""
    states, ledgers = {}, {ip: {} for ip in m["ips"]}
    caps = report_ = None
    for n in range(12):
        states, caps, report_ = warmup.plan_fleet(m, states, ledgers, {}, _day(n))
        for ip, cap in caps.items():
            d = cap["daily"]
            if not d:
                continue
            yahoo = d // 20
            ledgers[ip][_day(n)] = {
                "gmail": {"delivered": d - yahoo, "hard_bounce": 0, "soft_bounce": 0, "deferred": 0, "complaint": 0},
                "yahoo": {"delivered": yahoo, "hard_bounce": 0, "soft_bounce": 0, "deferred": 2 * yahoo if n >= 8 else 0,
                          "complaint": 0}}
    return states, caps, report_, ledgers


def test_quota_sync_uses_exactly_the_deployed_numbers():
    spec = raw()
    spec["globals"]["mailfleet_warmup_schedules"]["default"].update(
        {"min_days": 2, "thresholds": {"min_volume_for_rates": 10}})
    spec["globals"]["mailfleet_warmup_schedules"]["default"]["providers"]["yahoo"] = {"share": 0.9}
    for name, tenant in spec["globals"]["mailfleet_tenants"].items():
        tenant["from_email"] = "news@%s.example.com" % name
    m, errors = fleet.build_model(spec)
    assert not errors
    states, caps, rep, _ledgers = _history_with_a_misbehaving_provider(m)
    backed = [ip for ip, st in states.items() if st["backoff"]]
    assert backed, "the history must exercise the provider back-off"
    # what PowerMTA enforces
    deployed = {}
    for host in m["hosts"]:
        deployed.update(_rendered(pmta_template.render_host(m, host, caps)[0]))  # the one renderer
    # what the hourly quota sync reads back from the stored states
    current = warmup.caps_from_states(m, states, {}, _day(11))
    for ip in m["ips"]:
        assert deployed[ip]["daily"] == effective_daily(current[ip]) == effective_daily(caps[ip])
        shown = {p: v for p, v in effective_provider_caps(current[ip]).items() if p != "other"}
        if deployed[ip]["daily"]:
            assert deployed[ip]["providers"] == shown, ip
    for ip in backed:
        assert current[ip]["providers"]["yahoo"] < effective_daily(current[ip]) * 0.9
    # MailWizz's rows = the sum of the rendered rates per tenant x host
    rows = delivery_server.plan_delivery_servers(
        m, current, {h: {"hostname": h + ".example.net"} for h in m["hosts"]}, {})
    by_row = {(r["tenant"], r["host"]): r["capacity"] for r in rows}
    for tenant, hosts in host_pool_capacity(m, current).items():
        for host, cap in hosts.items():
            rendered = sum(deployed[ip["address"]]["daily"] for ip in m["hosts"][host]["ips"]
                           if ip["tenant"] == tenant)
            assert by_row[(tenant, host)] == cap == rendered
    assert pool_capacity(m, current) == rep["capacity"]


def test_stored_cap_never_above_the_stage_volume():
    s = sched()
    state = {"stage_index": 1, "daily": 200 * 100, "backoff": ["gmail", "aol"], "planned_on": _day(1),
             "action": "hold"}
    cap = warmup.stored_cap(s, state)
    assert cap["daily"] == 200
    assert cap["providers"]["gmail"] == provider_caps(s, 200, ["gmail"], 0.5)["gmail"]
    assert warmup.stored_cap(s, dict(state, daily=0))["standby"]
    assert warmup.stored_cap(s, dict(state, daily="lots"))["daily"] == 0


# ---------------------------------------------------------------------------------------------
# An unreachable host counts 0 in the plan, the capacity, the report and the metrics
# ---------------------------------------------------------------------------------------------
def test_unreachable_host_counts_zero_everywhere():
    m = model()
    states, caps, rep = warmup.plan_fleet(m, {}, {}, {}, _day(10), unreachable=["pmta-2"])
    assert "2001:db8::2" not in states
    assert caps["2001:db8::2"]["unreachable"] and effective_daily(caps["2001:db8::2"]) == 0
    assert rep["ips"]["2001:db8::2"]["action"] == "unreachable"
    assert rep["actions"]["unreachable"] == 1
    assert rep["capacity"] == {"alpha": 100, "beta": 50}
    reachable_only = warmup.plan_fleet(m, {}, {}, {}, _day(10))[2]["capacity"]
    assert reachable_only["alpha"] == 150  # the unreachable IP would have counted 50
    current = warmup.caps_from_states(m, states, {}, _day(10), unreachable=["pmta-2"])
    assert pool_capacity(m, current) == rep["capacity"]
    # report: the IP is shown as unreachable, cap 0, and the tenant capacity excludes it
    built = report.build_report(m, rep, {}, {}, {}, days=3)
    row = [r for t in built["tenants"] for r in t["ips"] if r["address"] == "2001:db8::2"][0]
    assert row["unreachable"] and row["daily"] == 0 and row["stage_label"] == "unreachable"
    assert built["totals"]["unreachable"] == 1 and built["totals"]["capacity"] == 150
    assert "1 unreachable (cap 0)" in report.render_markdown(built)
    assert "unreachable (cap 0)" in report.render_html(built)
    # metrics: cap 0, counted as unreachable, not in the host capacity
    text = metrics.render_fleet(rep, {}, {}, host=None, model=m)
    assert 'mailfleet_ip_daily_cap{ip="2001:db8::2",tenant="alpha",host="pmta-2"} 0' in text
    assert 'mailfleet_tenant_ips{tenant="alpha",host="pmta-2",state="unreachable"} 1' in text
    assert 'mailfleet_tenant_host_capacity{tenant="alpha",host="pmta-2"} 0' in text
    assert 'mailfleet_tenant_capacity{tenant="alpha"} 100' in text


# ---------------------------------------------------------------------------------------------
# The Jinja filters read the same contract
# ---------------------------------------------------------------------------------------------
def _filters():
    from ansible_collections.mailfleet.fleet.plugins.filter import mailfleet
    return mailfleet


def test_filters_use_the_contract():
    filters = _filters()
    m = model()
    ledgers = {"192.0.2.1": {_day(3): {"gmail": {"delivered": 40, "hard_bounce": 2, "soft_bounce": 1,
                                                 "deferred": 30, "complaint": 1}}}}
    assert filters.mailfleet_sent_on(m, ledgers, _day(3)) == tenant_attempted(m, ledgers, _day(3)) == {
        "alpha": 43, "beta": 0}
    caps = {"192.0.2.1": {"daily": 200, "stage": 2, "reason": "r"},
            "192.0.2.2": {"daily": 200, "standby": True, "stage": 2, "reason": "listed"},
            "198.51.100.1": {"daily": 50, "stage": 1, "reason": "r"},
            "2001:db8::2": unreachable_cap("pmta-2")}
    table = filters.mailfleet_caps_table(m, caps)
    assert "tenant alpha  pool alpha-pool  capacity today 200/day" in table
    assert "unreachable" in [line.split()[5] for line in table.splitlines() if "2001:db8::2" in line]


def test_remote_bounces_of_delivered_mail_count_once():
    """The ledger counts a remote (rb) bounce in hard/soft_bounce and in async_bounce: the message
    was also counted delivered when the MX accepted it. Attempted counts it once; delivered loses it."""
    rec = {"delivered": 100, "hard_bounce": 5, "soft_bounce": 3, "deferred": 10, "complaint": 1,
           "async_bounce": 4, "remote_status": 2, "deferred_queue": 1,
           "classes": {"reputation": 3, "mailbox_unknown": 4}}
    assert attempted(rec) == 104 and delivered(rec) == 96
    tot = day_totals({"gmail": rec})
    assert tot["attempted"] == 104 and tot["async_bounce"] == 4
    r = rates(tot)
    assert r["hard_bounce"] == 5 / 104 and r["complaint"] == 1 / 96 and r["deferral"] == 10 / 114
    t = Tally().add(rec)
    assert t.attempted == 104 and t.rates() == r and t.totals() == tot
    assert fill_volume(t) == fill_volume(tot) == 96  # delivered, less the remote bounces
    # older ledgers have no async_bounce; a damaged one can never add volume
    assert attempted({"delivered": 3, "hard_bounce": 1}) == 4
    assert attempted({"delivered": 3, "hard_bounce": 1, "async_bounce": 50}) == 3
    assert Tally().add({"delivered": 3, "hard_bounce": 1, "async_bounce": 50}).attempted == 3
