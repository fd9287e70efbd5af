"""Pure parts of the DNS authentication audit: SPF coverage walk, DKIM, DMARC, readiness."""
import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from ansible_collections.mailfleet.fleet.plugins.module_utils import dnsauth


@pytest.fixture(scope="module")
def keys():
    return {b: rsa.generate_private_key(public_exponent=65537, key_size=b) for b in (1024, 2048)}


def p_of(key):
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def test_dkim_match_2048_ok(keys):
    r = dnsauth.dkim_evaluate("a.test", "s1", "v=DKIM1; k=rsa; p=" + p_of(keys[2048]), keys[2048])
    assert r["severity"] == "ok" and r["details"]["bits"] == 2048 and r["details"]["matches_private_key"]
    assert r["subject"] == "s1._domainkey.a.test"


def test_dkim_1024_warns(keys):
    r = dnsauth.dkim_evaluate("a.test", "s1", "v=DKIM1; p=" + p_of(keys[1024]), keys[1024])
    assert r["severity"] == "warn" and "2048 recommended" in r["messages"][0]


def test_dkim_mismatch_fails(keys):
    r = dnsauth.dkim_evaluate("a.test", "s1", "v=DKIM1; p=" + p_of(keys[2048]), keys[1024])
    assert r["severity"] == "fail"
    assert any("does not match" in m for m in r["messages"])


def test_dkim_revoked_and_garbage(keys):
    assert dnsauth.dkim_evaluate("a.test", "s", "v=DKIM1; p=", keys[2048])["severity"] == "fail"
    assert dnsauth.dkim_evaluate("a.test", "s", "v=DKIM1; p=!!!", None)["severity"] == "fail"
    assert dnsauth.dkim_evaluate("a.test", "s", "v=DKIM1; k=rsa", None)["severity"] == "fail"


def test_dkim_split_whitespace_in_p(keys):
    p = p_of(keys[2048])
    r = dnsauth.dkim_evaluate("a.test", "s", "v=DKIM1; p=%s %s" % (p[:100], p[100:]), keys[2048])
    assert r["severity"] == "ok"


def test_dkim_without_private_key_warns(keys):
    r = dnsauth.dkim_evaluate("a.test", "s", "v=DKIM1; p=" + p_of(keys[2048]), None)
    assert r["severity"] == "warn" and r["details"]["matches_private_key"] is None


def test_dkim_ed25519():
    k = ed25519.Ed25519PrivateKey.generate()
    raw = k.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    rec = "v=DKIM1; k=ed25519; p=" + base64.b64encode(raw).decode()
    assert dnsauth.dkim_evaluate("a.test", "s", rec, k)["severity"] == "ok"
    assert dnsauth.dkim_evaluate("a.test", "s", rec, ed25519.Ed25519PrivateKey.generate())["severity"] == "fail"


PARSED = {
    "mechanisms": [
        {"action": "fail", "mechanism": "ip4", "value": "192.0.2.66"},
        {"action": "pass", "mechanism": "ip4", "value": "192.0.2.0/28"},
        {"action": "pass", "mechanism": "a", "value": "mta.a.test/30", "addresses": ["198.51.100.8"]},
        {"action": "pass", "mechanism": "include", "value": "_spf.a.test",
         "parsed": {"mechanisms": [{"action": "pass", "mechanism": "ip6", "value": "2001:db8::/64"},
                                   {"action": "softfail", "mechanism": "ip4", "value": "203.0.113.0/24"}],
                    "redirect": None, "all": "fail"}},
        {"action": "pass", "mechanism": "mx", "value": "a.test", "hosts": [{"hostname": "mx.a.test"}]},
    ],
    "redirect": None,
    "all": "softfail",
}


@pytest.mark.parametrize("ip,expected", [
    ("192.0.2.5", "pass"), ("192.0.2.66", "fail"), ("198.51.100.10", "pass"), ("198.51.100.12", "softfail"),
    ("2001:db8::5", "pass"), ("203.0.113.9", "softfail"),  # include's softfail is "no match" → all
    ("192.0.2.200", "pass"),  # via mx lookup
])
def test_spf_evaluate(ip, expected):
    def lookup(name, rtype):
        assert name == "mx.a.test"
        return ["192.0.2.200"] if rtype == "A" else []

    assert dnsauth.spf_evaluate(PARSED, ip, "a.test", lookup)[0] == expected


def test_spf_ptr_is_unknown():
    parsed = {"mechanisms": [{"action": "pass", "mechanism": "ptr", "value": ""}], "all": "fail"}
    assert dnsauth.spf_evaluate(parsed, "192.0.2.1", "a.test")[0] == "unknown"


def test_spf_redirect():
    parsed = {"mechanisms": [], "redirect": {"domain": "b.test", "parsed": {
        "mechanisms": [{"action": "pass", "mechanism": "ip4", "value": "192.0.2.1"}], "all": "fail"}}, "all": None}
    assert dnsauth.spf_evaluate(parsed, "192.0.2.1", "a.test")[0] == "pass"
    assert dnsauth.spf_evaluate(parsed, "192.0.2.2", "a.test")[0] == "fail"


def dmarc_res(**tags):
    return {"record": "v=DMARC1", "valid": True, "location": "a.test", "warnings": [],
            "tags": {k: {"value": v} for k, v in tags.items()}}


def test_dmarc_policy_and_rua():
    assert dnsauth.dmarc_evaluate("a.test", dmarc_res(p="reject", rua=[{"address": "r@a.test"}]))["severity"] == "ok"
    r = dnsauth.dmarc_evaluate("a.test", dmarc_res(p="none"))
    assert r["severity"] == "warn" and len(r["messages"]) == 2
    assert dnsauth.dmarc_evaluate("a.test", {"record": None, "error": "nx"})["severity"] == "fail"


def test_dmarc_alignment_strict_vs_relaxed():
    rua = [{"address": "r@a.test"}]
    relaxed = dnsauth.dmarc_evaluate("a.test", dmarc_res(p="reject", rua=rua), spf_domain="bounce.a.test")
    assert relaxed["severity"] == "ok" and relaxed["details"]["aligned"] == {"dkim": True, "spf": True}
    strict = dnsauth.dmarc_evaluate("a.test", dmarc_res(p="reject", rua=rua, aspf="s"), spf_domain="bounce.a.test")
    assert strict["severity"] == "warn" and strict["details"]["aligned"]["spf"] is False
    other = dnsauth.dmarc_evaluate("a.test", dmarc_res(p="reject", rua=rua), dkim_domain="esp.test")
    assert other["severity"] == "fail"


def test_readiness():
    ok = [{"check": c, "subject": "a.test", "severity": "ok", "messages": []} for c in ("spf", "dkim", "dmarc", "fcrdns")]
    v = dnsauth.readiness("a.test", ok)
    assert v["ready"] is True and v["severity"] == "ok" and v["not_checked"]
    warn = ok[:2] + [dict(ok[2], severity="warn", messages=["p=none"])] + ok[3:]
    assert dnsauth.readiness("a.test", warn)["ready"] is True
    assert dnsauth.readiness("a.test", warn)["severity"] == "warn"
    fail = ok[:3] + [dict(ok[3], severity="fail", messages=["no PTR"])]
    v = dnsauth.readiness("a.test", fail)
    assert v["ready"] is False and "no PTR" in v["failed"][0]
    assert dnsauth.readiness("a.test", ok[:3])["ready"] is False  # FCrDNS not checked


def test_parse_tags():
    assert dnsauth.parse_tags("v=DKIM1; k=rsa; p=AB CD") == {"v": "DKIM1", "k": "rsa", "p": "ABCD"}


class FakeCtx:
    """Answers from a table: {(name, rtype): (status, values, error)}; NXDOMAIN otherwise."""

    def __init__(self, answers):
        self.answers = answers

    def query(self, name, rtype):
        return self.answers.get((name, rtype), ("NXDOMAIN", [], ""))


@pytest.mark.parametrize("ip, rtype, rev", [
    ("192.0.2.10", "A", "10.2.0.192.in-addr.arpa."),
    ("2001:db8::10", "AAAA", "0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."),
])
@pytest.mark.parametrize("status", ["TIMEOUT", "SERVFAIL", "REFUSED"])
def test_fcrdns_forward_lookup_without_answer_is_unknown_not_a_crash(ip, rtype, rev, status):
    # The PTR answers, the forward lookup of the configured name does not: unknown, with the
    # forward lookup's own status (it used to raise TypeError: rcode given twice).
    ctx = FakeCtx({(rev, "PTR"): ("NOERROR", ["mta1.example.net."], ""),
                   ("mta1.example.net", rtype): (status, [], "no answer")})
    r = dnsauth.audit_fcrdns(ip, "mta1.example.net", ctx)
    assert r["severity"] == "unknown", r
    assert r["details"]["rcode"] == status and r["details"]["error"] == "no answer"
    assert r["details"]["ptr"] == ["mta1.example.net"] and r["details"]["hostname"] == "mta1.example.net"
    assert r["details"]["confirmed"] == []
    assert "%s mta1.example.net" % rtype in r["messages"][0]


def test_fcrdns_other_ptr_name_unanswered_but_configured_name_confirmed():
    ctx = FakeCtx({("10.2.0.192.in-addr.arpa.", "PTR"): ("NOERROR", ["mta1.example.net.", "alias.example.net."], ""),
                   ("mta1.example.net", "A"): ("NOERROR", ["192.0.2.10"], ""),
                   ("alias.example.net", "A"): ("TIMEOUT", [], "timed out")})
    r = dnsauth.audit_fcrdns("192.0.2.10", "mta1.example.net", ctx)
    assert r["severity"] != "unknown" and r["details"]["confirmed"] == ["mta1.example.net"]
