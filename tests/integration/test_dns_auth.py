"""DNS authentication audit against a real NSD on 127.0.0.1 (domains under .test)."""
import pytest

from dnsfixture import dns_env  # noqa: F401

from ansible_collections.mailfleet.fleet.plugins.module_utils import dnsauth, health

IPS = [{"address": "192.0.2.10", "hostname": "mta1.good.test"},
       {"address": "192.0.2.11", "hostname": "mta2.good.test"},   # PTR ok, forward A elsewhere
       {"address": "192.0.2.12", "hostname": "mta9.good.test"},   # no PTR
       {"address": "192.0.2.13", "hostname": "mta3.good.test"},   # PTR names another host
       {"address": "2001:db8::10", "hostname": "mta6.good.test"}]
SENDING = ["192.0.2.10", "2001:db8::10"]


def domain(name, key, ips=SENDING, **kw):
    return dict({"name": name, "dkim_selector": "mf1", "dkim_key_file": key, "ips": ips}, **kw)


@pytest.fixture(scope="module")
def audit(dns_env):
    k = dns_env.keys
    doms = [domain("good.test", k["good"]), domain("toomany.test", k["good"]), domain("void.test", k["good"]),
            domain("uncovered.test", k["good"]), domain("short.test", k["short"], ips=["192.0.2.10"]),
            domain("revoked.test", k["good"]), domain("tiny.test", k["tiny"]),
            domain("badsyntax.test", k["good"]), domain("absent.test", k["good"]),
            domain("good.test", k["good"], ips=["192.0.2.10", "192.0.2.12"])]
    return dnsauth.audit(doms[:-1], IPS, dns_env.nameservers, timeout=1.0)


def find(audit, check, subject):
    hits = [r for r in audit["results"] if r["check"] == check and r["subject"] == subject]
    assert len(hits) == 1, (check, subject)
    return hits[0]


def test_good_domain_ready(audit):
    for check, subj in (("spf", "good.test"), ("dkim", "mf1._domainkey.good.test"), ("dmarc", "good.test"),
                        ("fcrdns", "192.0.2.10"), ("fcrdns", "2001:db8::10")):
        assert find(audit, check, subj)["severity"] == "ok", find(audit, check, subj)
    spf = find(audit, "spf", "good.test")
    assert spf["details"]["coverage"]["2001:db8::10"]["term"].startswith("include:_spf.good.test")
    assert audit["verdicts"]["good.test"]["ready"] is True


def test_spf_over_ten_lookups(audit):
    r = find(audit, "spf", "toomany.test")
    assert r["severity"] == "fail" and r["details"]["error"] == "too_many_lookups"
    assert audit["verdicts"]["toomany.test"]["ready"] is False


def test_spf_void_lookups(audit):
    r = find(audit, "spf", "void.test")
    assert r["severity"] == "fail" and r["details"]["void_dns_lookups"] == 3


def test_spf_not_covering_sending_ips(audit):
    r = find(audit, "spf", "uncovered.test")
    assert r["severity"] == "fail"
    assert r["details"]["coverage"]["192.0.2.10"]["result"] == "fail"
    assert r["details"]["coverage"]["2001:db8::10"]["result"] == "softfail"


def test_spf_syntax_error(audit):
    assert find(audit, "spf", "badsyntax.test")["details"]["error"] == "syntax"


def test_dkim_mismatch_short_tiny_revoked(audit):
    mismatch = find(audit, "dkim", "mf1._domainkey.uncovered.test")
    assert mismatch["severity"] == "fail" and mismatch["details"]["matches_private_key"] is False
    short = find(audit, "dkim", "mf1._domainkey.short.test")
    assert short["severity"] == "warn" and short["details"]["bits"] == 1024
    assert find(audit, "dkim", "mf1._domainkey.tiny.test")["severity"] == "fail"
    assert "revoked" in find(audit, "dkim", "mf1._domainkey.revoked.test")["messages"][0]
    assert find(audit, "dkim", "mf1._domainkey.absent.test")["severity"] == "fail"


def test_dmarc_variants(audit):
    none = find(audit, "dmarc", "uncovered.test")
    assert none["severity"] == "warn" and none["details"]["policy"] == "none"
    strict = find(audit, "dmarc", "short.test")
    assert strict["severity"] == "ok" and strict["details"]["adkim"] == "s"
    assert find(audit, "dmarc", "revoked.test")["severity"] == "fail"


def test_short_key_domain_ready_with_warnings(audit):
    v = audit["verdicts"]["short.test"]
    assert v["ready"] is True and v["severity"] == "warn"


def test_fcrdns_cases(audit):
    assert "not forward-confirmed" in find(audit, "fcrdns", "192.0.2.11")["messages"][0]
    assert "no PTR" in find(audit, "fcrdns", "192.0.2.12")["messages"][0]
    assert "not the configured hostname" in find(audit, "fcrdns", "192.0.2.13")["messages"][0]


def test_strict_spf_alignment_with_bounce_domain(dns_env):
    out = dnsauth.audit([domain("short.test", dns_env.keys["short"], ips=["192.0.2.10"],
                                return_path_domain="good.test")], IPS[:1], dns_env.nameservers, timeout=1.0)
    r = find(out, "dmarc", "short.test")
    assert r["details"]["aligned"]["spf"] is False and r["severity"] == "warn"


def test_bad_ip_breaks_readiness_and_regression_event(dns_env, audit):
    out = dnsauth.audit([domain("good.test", dns_env.keys["good"], ips=["192.0.2.10", "192.0.2.12"])], IPS,
                        dns_env.nameservers, timeout=1.0)
    assert out["verdicts"]["good.test"]["ready"] is False
    # previous audit (all good) → this one: regressions are events, once
    prev, ev = health.evaluate_dns_auth({}, [r for r in audit["results"] if r["subject"] == "192.0.2.10"], "d1")
    assert ev == []
    state, ev = health.evaluate_dns_auth(prev, out["results"], "d2")
    ids = {e["id"] for e in ev}
    assert "dns_auth_regression:192.0.2.12:fcrdns:d2" in ids
    _, ev2 = health.evaluate_dns_auth(state, out["results"], "d3")
    assert ev2 == []


@pytest.mark.parametrize("which", ["timeout_nameservers", "closed_nameservers"])
def test_outage_is_unknown_not_failure(dns_env, which):
    """Server silent or down: every check unknown with the real cause, no "no record", readiness
    unknown (not False), and the whole audit costs about one timeout, not one per lookup."""
    import time

    started = time.monotonic()
    out = dnsauth.audit([domain("good.test", dns_env.keys["good"]), domain("short.test", dns_env.keys["short"])],
                        IPS, getattr(dns_env, which), timeout=0.5)
    elapsed = time.monotonic() - started
    assert elapsed < 1.5, elapsed
    assert out["results"] and all(r["severity"] == "unknown" for r in out["results"]), out["results"]
    cause = "timeout" if which == "timeout_nameservers" else "network"
    assert {r["details"]["cause"] for r in out["results"]} == {cause}
    text = " ".join(m for r in out["results"] for m in r["messages"])
    assert "no DMARC record" not in text and "no PTR" not in text and "no DKIM" not in text
    assert ("timeout" if cause == "timeout" else "connection refused") in text
    for v in out["verdicts"].values():
        assert v["ready"] is None and v["severity"] == "unknown" and v["failed"] == []
    assert out["summary"]["unknown"] == len(out["results"]) and out["summary"]["fail"] == 0
    # and the health state: a good audit, then the outage -> nothing changes, no event
    good = dnsauth.audit([domain("good.test", dns_env.keys["good"], ips=["192.0.2.10"])], IPS[:1],
                         dns_env.nameservers, timeout=1.0)
    assert good["verdicts"]["good.test"]["ready"] is True
    state, ev = health.evaluate_dns_auth({}, good["results"], "d1")
    assert ev == []
    state2, ev2 = health.evaluate_dns_auth(state, out["results"], "d2")
    assert ev2 == [] and state2 == state


def test_servfail_and_refused_are_unknown_with_their_cause(dns_env):
    ctx = dnsauth.Ctx(dns_env.nameservers, timeout=1.0)
    # a zone NSD cannot load answers SERVFAIL; a name outside NSD's zones is REFUSED
    sf = dnsauth.audit_dmarc("servfail.rbl.test", ctx)
    assert sf["severity"] == "unknown" and sf["details"]["cause"] == "servfail", sf
    assert "SERVFAIL" in sf["messages"][0] and "no DMARC record" not in sf["messages"][0]
    ref = dnsauth.audit_dkim("elsewhere.example", "mf1", None, ctx)
    assert ref["severity"] == "unknown" and ref["details"]["cause"] == "refused", ref
    spf = dnsauth.audit_spf("elsewhere.example", ["192.0.2.10"], ctx)
    assert spf["severity"] == "unknown" and "REFUSED" in spf["messages"][0]
    fcr = dnsauth.audit_fcrdns("203.0.113.9", "mta.elsewhere.example", ctx)
    assert fcr["severity"] == "unknown" and fcr["details"]["cause"] == "refused"


def test_partial_outage_real_failure_still_fails(dns_env):
    """One check fails on a real answer, another is unknown: the domain is not ready (False)."""
    fail = {"check": "dkim", "subject": "a", "severity": "fail", "messages": ["no DKIM record"]}
    unk = {"check": "spf", "subject": "a", "severity": "unknown", "messages": ["timeout"]}
    ok = [{"check": c, "subject": "a", "severity": "ok", "messages": []} for c in ("dmarc", "fcrdns")]
    assert dnsauth.readiness("a", [fail, unk] + ok)["ready"] is False
    assert dnsauth.readiness("a", [dict(fail, severity="ok"), unk] + ok)["ready"] is None
