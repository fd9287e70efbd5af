"""Standby / resume state machine and DNS-auth regressions (pure)."""
import pytest

from ansible_collections.mailfleet.fleet.plugins.module_utils import health

ZONES = [{"zone": "zen.test", "critical": True}, {"zone": "bl.test", "critical": True},
         {"zone": "minor.test", "critical": False}]
IP = "192.0.2.10"


def res(statuses, ip=IP):
    return [{"ip": ip, "zone": z, "status": s, "code": "127.0.0.2" if s == "listed" else None}
            for z, s in statuses.items()]


CLEAN = {"zen.test": "clean", "bl.test": "clean", "minor.test": "clean"}


def run(prev, statuses, day, n=3):
    return health.evaluate_dnsbl(prev, res(statuses), ZONES, "2025-01-%02d" % day, resume_after=n)


def types(events):
    return [e["type"] for e in events]


def test_clean_ip_stays_active_no_events():
    st, ev = run({}, CLEAN, 1)
    assert st[IP]["standby"] is False and ev == []


def test_critical_listing_puts_on_standby_with_reason():
    st, ev = run({}, dict(CLEAN, **{"zen.test": "listed"}), 1)
    assert st[IP]["standby"] is True
    assert st[IP]["listed"] == ["zen.test"]
    assert "zen.test" in st[IP]["reason"]
    assert types(ev) == ["new_listing", "standby"]
    assert ev[0]["id"] == "new_listing:%s:zen.test:2025-01-01" % IP
    assert ev[1]["id"] == "standby:%s:2025-01-01" % IP


def test_non_critical_listing_alerts_but_no_standby():
    st, ev = run({}, dict(CLEAN, **{"minor.test": "listed"}), 1)
    assert st[IP]["standby"] is False
    assert st[IP]["listed"] == ["minor.test"]
    assert types(ev) == ["new_listing"]


def test_rerun_same_listing_emits_nothing_new():
    listed = dict(CLEAN, **{"zen.test": "listed"})
    st, _ = run({}, listed, 1)
    st2, ev2 = run(st, listed, 1)
    st3, ev3 = run(st2, listed, 2)
    assert ev2 == [] and ev3 == []
    assert st3[IP]["listings"]["zen.test"]["since"] == "2025-01-01"


@pytest.mark.parametrize("bad", ["unknown", "error"])
def test_unknown_or_error_never_changes_state(bad):
    st, _ = run({}, dict(CLEAN, **{"zen.test": "listed"}), 1)
    st2, ev = run(st, {"zen.test": bad, "bl.test": bad, "minor.test": bad}, 2)
    assert ev == []
    assert st2[IP]["standby"] is True and st2[IP]["listed"] == ["zen.test"]
    # and an unknown on a clean IP never puts it on standby
    st3, ev3 = run({}, {"zen.test": bad, "bl.test": bad, "minor.test": bad}, 1)
    assert st3[IP]["standby"] is False and ev3 == []


def test_resume_after_n_consecutive_clean_checks():
    st, _ = run({}, dict(CLEAN, **{"zen.test": "listed"}), 1)
    st, ev = run(st, CLEAN, 2)
    assert types(ev) == ["delisted"] and st[IP]["standby"] is True and st[IP]["clean_streak"] == 1
    st, ev = run(st, CLEAN, 3)
    assert ev == [] and st[IP]["standby"] is True
    st, ev = run(st, CLEAN, 4)
    assert types(ev) == ["resume"]
    assert ev[0]["id"] == "resume:%s:2025-01-01" % IP
    assert st[IP]["standby"] is False and st[IP]["reason"] == ""
    st, ev = run(st, CLEAN, 5)
    assert ev == [] and st[IP]["standby"] is False


def test_unknown_run_neither_advances_nor_resets_streak():
    st, _ = run({}, dict(CLEAN, **{"zen.test": "listed"}), 1)
    st, _ = run(st, CLEAN, 2)
    st, ev = run(st, dict(CLEAN, **{"bl.test": "unknown"}), 3)
    assert st[IP]["clean_streak"] == 1 and st[IP]["standby"] is True and ev == []
    st, _ = run(st, CLEAN, 4)
    st, ev = run(st, CLEAN, 5)
    assert types(ev) == ["resume"]


def test_relisting_during_streak_resets_no_flapping():
    listed = dict(CLEAN, **{"zen.test": "listed"})
    st, _ = run({}, listed, 1)
    st, _ = run(st, CLEAN, 2)
    st, _ = run(st, CLEAN, 3)
    st, ev = run(st, listed, 4)
    assert types(ev) == ["new_listing"]  # still on standby: no second standby event
    assert st[IP]["standby"] is True and st[IP]["clean_streak"] == 0
    assert st[IP]["standby_since"] == "2025-01-01"
    st, _ = run(st, CLEAN, 5)
    st, _ = run(st, CLEAN, 6)
    assert st[IP]["standby"] is True
    st, ev = run(st, CLEAN, 7)
    assert "resume" in types(ev) and st[IP]["standby"] is False
    # new episode → new ids
    st, ev = run(st, listed, 8)
    assert [e["id"] for e in ev] == ["new_listing:%s:zen.test:2025-01-08" % IP, "standby:%s:2025-01-08" % IP]


def test_non_critical_still_listed_does_not_block_resume():
    st, _ = run({}, dict(CLEAN, **{"zen.test": "listed", "minor.test": "listed"}), 1)
    for d in (2, 3):
        st, _ = run(st, dict(CLEAN, **{"minor.test": "listed"}), d)
    st, ev = run(st, dict(CLEAN, **{"minor.test": "listed"}), 4)
    assert types(ev) == ["resume"]
    assert st[IP]["listed"] == ["minor.test"]


def test_zone_removed_from_config_drops_listing():
    st, _ = run({}, dict(CLEAN, **{"zen.test": "listed"}), 1)
    zones = [z for z in ZONES if z["zone"] != "zen.test"]
    st2, ev = health.evaluate_dnsbl(st, res({"bl.test": "clean", "minor.test": "clean"}), zones, "2025-01-02", 1)
    assert types(ev) == ["delisted", "resume"]
    assert st2[IP]["listed"] == []


def test_ips_without_results_carried_over():
    prev = {"198.51.100.1": {"standby": True, "reason": "x", "listed": ["zen.test"], "listings": {}}}
    st, ev = run(prev, CLEAN, 1)
    assert st["198.51.100.1"] == prev["198.51.100.1"] and ev == []


def test_planner_view_shape():
    st, _ = health.evaluate({}, res(dict(CLEAN, **{"bl.test": "listed"})), ZONES, "2025-01-01")
    view = health.planner_view(st)
    assert view == {IP: {"standby": True, "reason": view[IP]["reason"], "listed": ["bl.test"]}}
    assert "bl.test" in view[IP]["reason"]


def test_input_not_mutated():
    prev, _ = run({}, dict(CLEAN, **{"zen.test": "listed"}), 1)
    import copy

    snap = copy.deepcopy(prev)
    run(prev, CLEAN, 2)
    assert prev == snap


def test_resume_after_must_be_positive():
    with pytest.raises(ValueError):
        run({}, CLEAN, 1, n=0)


def test_dns_auth_regression_once_per_episode():
    ok = [{"subject": "a.test", "check": "spf", "severity": "ok"}]
    fail = [{"subject": "a.test", "check": "spf", "severity": "fail", "messages": ["too many lookups"]}]
    st, ev = health.evaluate_dns_auth({}, ok, "d1")
    assert ev == []
    st, ev = health.evaluate_dns_auth(st, fail, "d2")
    assert [e["id"] for e in ev] == ["dns_auth_regression:a.test:spf:d2"]
    assert "too many lookups" in ev[0]["message"]
    st, ev = health.evaluate_dns_auth(st, fail, "d3")
    assert ev == [] and st["a.test:spf"]["since"] == "d2"
    st, ev = health.evaluate_dns_auth(st, ok, "d4")
    assert ev == []
    st, ev = health.evaluate_dns_auth(st, fail, "d5")
    assert [e["id"] for e in ev] == ["dns_auth_regression:a.test:spf:d5"]


def test_warn_is_not_a_regression():
    st, ev = health.evaluate_dns_auth({}, [{"subject": "a.test", "check": "dkim", "severity": "warn"}], "d1")
    assert ev == []


def test_worst():
    assert health.worst(["ok", "warn"]) == "warn"
    assert health.worst(["ok", "fail", "warn"]) == "fail"
    assert health.worst([]) == "ok"


def test_fcrdns_gate_holds_only_new_ips_and_lifts_when_fixed():
    from ansible_collections.mailfleet.fleet.plugins.module_utils.health import fcrdns_gate, planner_view
    broken = [{"check": "fcrdns", "subject": "192.0.2.7", "severity": "fail", "messages": ["no PTR for 192.0.2.7"]},
              {"check": "fcrdns", "subject": "192.0.2.8", "severity": "fail", "messages": ["PTR mismatch"]}]
    warm = {"192.0.2.8": {"last_sent": "2026-11-20"}}
    ips = fcrdns_gate({}, broken, warm)
    view = planner_view(ips)
    assert view["192.0.2.7"]["standby"] is True and "no PTR" in view["192.0.2.7"]["reason"]
    assert view["192.0.2.8"]["standby"] is False  # already sending: alerted, not dropped
    assert planner_view(fcrdns_gate(ips, [], warm))["192.0.2.7"]["standby"] is False
    assert planner_view(fcrdns_gate({}, broken, warm, enabled=False))["192.0.2.7"]["standby"] is False


@pytest.mark.parametrize("prev_sev", ["ok", "warn", "fail", None])
def test_dns_auth_unknown_changes_nothing(prev_sev):
    prev = {}
    if prev_sev:
        prev, _ = health.evaluate_dns_auth({}, [{"subject": "a.test", "check": "dmarc", "severity": prev_sev,
                                                 "messages": ["x"]}], "d1")
    unknown = [{"subject": "a.test", "check": "dmarc", "severity": "unknown",
                "messages": ["DMARC a.test: unknown, the DNS lookup of TXT _dmarc.a.test got no answer (timeout)"]}]
    st, ev = health.evaluate_dns_auth(prev, unknown, "d2")
    assert ev == [] and st == prev
    # the next real failure after an outage is compared with the last real verdict
    st, ev = health.evaluate_dns_auth(st, [dict(unknown[0], severity="fail")], "d3")
    assert len(ev) == (0 if prev_sev == "fail" else 1)


def test_worst_leaves_unknown_out():
    assert health.worst(["unknown", "ok"]) == "ok"
    assert health.worst(["unknown", "warn", "unknown"]) == "warn"
    assert health.worst(["unknown", "bogus"]) == "fail"


def test_fcrdns_gate_ignores_unknown():
    unknown = [{"check": "fcrdns", "subject": "192.0.2.7", "severity": "unknown", "messages": ["timeout"],
                "details": {"rcode": "TIMEOUT", "cause": "timeout"}}]
    held = {"192.0.2.7": {"standby": False, "fcrdns_block": "FCrDNS broken"}}
    assert health.fcrdns_gate(held, unknown, {})["192.0.2.7"]["fcrdns_block"] == "FCrDNS broken"
    assert "fcrdns_block" not in health.fcrdns_gate({}, unknown, {}).get("192.0.2.7", {})


def test_domain_listings_alert_once_never_standby():
    zones = ZONES + [{"zone": "dbl.test", "kind": "spamhaus-dbl"}]
    listed = [{"domain": "news.a.test", "zone": "dbl.test", "status": "listed", "code": "127.0.1.2"}]
    st, ev = health.evaluate({}, res(CLEAN) + listed, zones, "d1")
    assert [e["id"] for e in ev] == ["new_listing:news.a.test:dbl.test:d1"]
    assert st["domains"]["news.a.test"]["listed"] == ["dbl.test"] and st["ips"][IP]["standby"] is False
    st2, ev2 = health.evaluate(st, res(CLEAN) + [dict(listed[0], status="unknown")], zones, "d2")
    assert ev2 == [] and st2["domains"] == st["domains"]
    st3, ev3 = health.evaluate(st2, res(CLEAN) + [dict(listed[0], status="clean")], zones, "d3")
    assert [e["type"] for e in ev3] == ["delisted"] and st3["domains"]["news.a.test"]["listed"] == []
