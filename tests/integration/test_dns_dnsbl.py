"""DNSBL checker against a real NSD on 127.0.0.1 (zones under .test)."""
import pytest

from dnsfixture import RBL_DATA, dns_env  # noqa: F401

from ansible_collections.mailfleet.fleet.plugins.module_utils import dnsbl, health


def by(results):
    return {(r["ip"], r["zone"]): r for r in results}


@pytest.mark.parametrize("workers", [1, 4, 256])
def test_statuses_against_real_server(dns_env, workers):
    results, stats = dnsbl.check(list(RBL_DATA), dns_env.zones, dns_env.nameservers, timeout=1.0, workers=workers)
    assert stats["lookups"] == len(RBL_DATA) * 3
    r = by(results)
    assert r[("192.0.2.10", "zen.rbl.test")]["status"] == "listed"
    assert r[("192.0.2.10", "zen.rbl.test")]["meaning"].startswith("SBL")
    assert r[("192.0.2.10", "zen.rbl.test")]["reason"] == "https://check.spamhaus.example/sbl/query/SBL0001"
    assert r[("192.0.2.10", "bl.rbl.test")]["reason"].startswith("Listed for spam trap hits")
    assert r[("192.0.2.11", "zen.rbl.test")]["status"] == "clean"
    assert r[("192.0.2.11", "minor.rbl.test")]["status"] == "listed"
    assert r[("192.0.2.12", "zen.rbl.test")]["status"] == "error"       # 127.255.255.254
    assert r[("192.0.2.13", "zen.rbl.test")]["status"] == "error"       # 127.255.255.252
    assert r[("192.0.2.13", "bl.rbl.test")]["status"] == "error"        # 127.0.0.1
    assert r[("192.0.2.14", "bl.rbl.test")]["status"] == "error"        # outside 127/8
    assert r[("203.0.113.5", "zen.rbl.test")]["status"] == "error"      # 127.255.255.255
    assert r[("192.0.2.15", "zen.rbl.test")]["codes"] == ["127.0.0.4", "127.0.0.10"]
    assert r[("2001:db8::10", "bl.rbl.test")]["status"] == "listed"     # IPv6 nibbles
    assert r[("2001:db8::10", "zen.rbl.test")]["status"] == "clean"
    listed = {k for k, v in r.items() if v["status"] == "listed"}
    assert listed == {("192.0.2.10", "zen.rbl.test"), ("192.0.2.10", "bl.rbl.test"),
                      ("192.0.2.11", "minor.rbl.test"), ("192.0.2.15", "zen.rbl.test"),
                      ("2001:db8::10", "bl.rbl.test"), ("198.51.100.121", "zen.rbl.test"),
                      ("198.51.100.121", "bl.rbl.test")}


def test_rfc5782_test_entry_listed_on_every_zone(dns_env):
    results, _ = dnsbl.check(["127.0.0.2"], dns_env.zones, dns_env.nameservers, timeout=1.0)
    assert {r["status"] for r in results} == {"listed"}


def test_servfail_and_timeout_are_unknown(dns_env):
    results, stats = dnsbl.check(["192.0.2.10", "192.0.2.11"], dns_env.zones_with_broken(),
                                 dns_env.nameservers, timeout=0.4)
    r = by(results)
    sf = r[("192.0.2.10", "servfail.rbl.test")]
    assert sf["status"] == "unknown" and "SERVFAIL" in sf["meaning"]
    assert sf["cause"] == "servfail"
    to = r[("192.0.2.11", "timeout.rbl.test")]
    assert to["status"] == "unknown" and "timeout" in to["meaning"] and to["cause"] == "timeout"
    # concurrent: two timeouts of 0.4 s cost about one, not two
    assert stats["seconds"] < 0.8
    # other zones still answered normally in the same run
    assert r[("192.0.2.10", "zen.rbl.test")]["status"] == "listed"


def test_dqs_key_queries_key_zone_and_never_leaks(dns_env):
    zones = dns_env.zones_with_broken()
    # point the DQS zone of the servfail zone at a broken name so an error text is produced
    results, _ = dnsbl.check(["192.0.2.10"], zones, dns_env.nameservers, timeout=0.4, dqs_key=dns_env.dqs_key)
    r = by(results)
    assert r[("192.0.2.10", "zen.rbl.test")]["code"] == "127.0.0.3"    # answer from <key>.zen.dq.rbl.test
    assert dns_env.dqs_key not in repr(results)
    # a wrong key → NXDOMAIN at the DQS zone → clean (and key not echoed)
    results, _ = dnsbl.check(["192.0.2.10"], dns_env.zones[:1], dns_env.nameservers, timeout=0.4,
                             dqs_key="wrongkey")
    assert results[0]["status"] == "clean"


def test_error_text_with_dqs_key_is_redacted(dns_env):
    zones = [{"zone": "zen.rbl.test", "kind": "spamhaus", "dqs_zone": "servfail.rbl.test"}]
    results, _ = dnsbl.check(["192.0.2.10"], zones, dns_env.nameservers, timeout=0.4, dqs_key="sekr1tkey")
    assert results[0]["status"] == "unknown"
    assert "sekr1tkey" not in repr(results)
    assert "SERVFAIL" in results[0]["meaning"] and results[0]["cause"] == "servfail"


def test_full_cycle_standby_then_resume(dns_env):
    """check → health state → standby; then the same IP clean on later runs → resume."""
    zones = dns_env.zones
    results, _ = dnsbl.check(["192.0.2.10", "192.0.2.11"], zones, dns_env.nameservers, timeout=1.0)
    st, ev = health.evaluate_dnsbl({}, results, zones, "2025-02-01", resume_after=2)
    assert st["192.0.2.10"]["standby"] is True
    assert st["192.0.2.11"]["standby"] is False          # listed only on the non-critical zone
    assert {e["type"] for e in ev} == {"new_listing", "standby"}
    # later the IP is clean: simulate by checking an IP that is clean, renamed to the listed one
    clean, _ = dnsbl.check(["192.0.2.12"], [z for z in zones if z["zone"] != "zen.rbl.test"],
                           dns_env.nameservers, timeout=1.0)
    clean = [dict(r, ip="192.0.2.10") for r in clean] + [
        {"ip": "192.0.2.10", "zone": "zen.rbl.test", "status": "clean", "code": None}]
    st, ev = health.evaluate_dnsbl(st, clean, zones, "2025-02-02", resume_after=2)
    assert st["192.0.2.10"]["standby"] is True
    st, ev = health.evaluate_dnsbl(st, clean, zones, "2025-02-03", resume_after=2)
    assert [e["type"] for e in ev] == ["resume"]
