"""module_utils/dkim.py: TXT record formatting, key generation, planning, rotation snippet, verdicts."""
import base64
import datetime

import pytest
import yaml
from cryptography.hazmat.primitives import serialization

from ansible_collections.mailfleet.fleet.plugins.module_utils import dkim, dnsauth, fleet, grammar


@pytest.fixture(scope="module")
def key():
    return dkim.load_private_key(dkim.generate_private_key_pem())


# -- TXT formatting ---------------------------------------------------------------------------
def test_split_txt_chunks_of_at_most_255_and_joins_back():
    value = "v=DKIM1; k=rsa; p=" + "A" * 392
    parts = dkim.split_txt(value)
    assert [len(p) for p in parts] == [255, 155]
    assert "".join(parts) == value
    assert dkim.split_txt("x" * 255) == ["x" * 255]
    assert dkim.split_txt("x" * 256) == ["x" * 255, "x"]
    assert dkim.split_txt("") == [""]
    assert dkim.split_txt("abcdef", 4) == ["abcd", "ef"]
    with pytest.raises(ValueError):
        dkim.split_txt("abc", 0)


def test_txt_value_and_record_name():
    assert dkim.txt_value("QUJD") == "v=DKIM1; k=rsa; p=QUJD"
    assert dkim.record_name("mf2026a", "Sos-Expat.Example.com.") == "mf2026a._domainkey.sos-expat.example.com"


def test_zone_line_quotes_each_string():
    value = "v=DKIM1; k=rsa; p=" + "B" * 300
    line = dkim.zone_line("s1", "alpha.example.com", value)
    assert line.startswith('s1._domainkey.alpha.example.com. IN TXT "v=DKIM1; k=rsa; p=')
    strings = line.split(" IN TXT ", 1)[1]
    assert strings == '"%s" "%s"' % (value[:255], value[255:])
    assert dkim.zone_line("s1", "alpha.example.com", "v=DKIM1; p=", ttl=3600) == \
        's1._domainkey.alpha.example.com. 3600 IN TXT "v=DKIM1; p="'
    assert dkim.zone_rdata('a"b\\c') == '"a\\"b\\\\c"'


def test_generated_key_is_2048_bit_rsa_and_record_matches(key):
    assert key.key_size == 2048
    assert key.public_key().public_numbers().e == 65537
    rec = dkim.record("mf2026a", "alpha.example.com", key)
    assert rec["name"] == "mf2026a._domainkey.alpha.example.com"
    assert rec["value"].startswith("v=DKIM1; k=rsa; p=MIIBIjAN")  # SubjectPublicKeyInfo, not PKCS#1
    der = base64.b64decode(rec["value"].split("p=", 1)[1])
    assert serialization.load_der_public_key(der).public_numbers() == key.public_key().public_numbers()
    assert all(len(s) <= 255 for s in rec["strings"]) and "".join(rec["strings"]) == rec["value"]
    assert len(rec["strings"]) == 2 and rec["bits"] == 2048
    # the DNS audit's own evaluation accepts the record as matching this key
    res = dnsauth.dkim_evaluate("alpha.example.com", "mf2026a", rec["value"], key)
    assert res["severity"] == "ok" and res["details"]["matches_private_key"] is True


def test_generated_pem_is_pkcs1_and_small_keys_refused():
    pem = dkim.generate_private_key_pem()
    assert pem.startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    with pytest.raises(dkim.DKIMKeyError):
        dkim.generate_private_key_pem(1024)
    with pytest.raises(dkim.DKIMKeyError):
        dkim.load_private_key(b"not a key")


# -- planning ---------------------------------------------------------------------------------
TENANTS = {
    "alpha": {"domains": [{"name": "alpha.example.com", "dkim_selector": "mf202611a",
                           "dkim_key_file": "files/dkim/alpha.example.com.mf202611a.pem",
                           "dkim_retired_selectors": [{"selector": "mf2025b",
                                                       "key_file": "files/dkim/alpha.example.com.mf2025b.pem"}]}]},
    "beta": {"domains": [{"name": "beta.example.net", "dkim_selector": "s1", "dkim_key_file": "/keys/beta.pem",
                          "dkim_retired_selectors": []}]},
}


def test_plan_resolves_paths_and_roles():
    entries, errors = dkim.plan(TENANTS, "/inv", today=datetime.date(2026, 11, 22))
    assert errors == []
    got = [(e["domain"], e["selector"], e["role"], e["path"], e["may_generate"]) for e in entries]
    assert got == [
        ("alpha.example.com", "mf202611a", "current", "/inv/files/dkim/alpha.example.com.mf202611a.pem", True),
        ("alpha.example.com", "mf2025b", "retired", "/inv/files/dkim/alpha.example.com.mf2025b.pem", False),
        ("beta.example.net", "s1", "current", "/keys/beta.pem", True),
    ]


def test_derive_selector_skips_taken():
    day = datetime.date(2026, 11, 22)
    assert dkim.derive_selector(day, []) == "mf202611a"
    assert dkim.derive_selector("2026-11-22", {"mf202611a", "mf202611b"}) == "mf202611c"
    with pytest.raises(dkim.DKIMKeyError):
        dkim.derive_selector(day, {"mf202611" + c for c in "abcdefghijklmnopqrstuvwxyz"})
    assert dkim.SELECTOR_RE is grammar.SELECTOR_RE


def test_plan_rotation_default_and_explicit_selector():
    entries, errors = dkim.plan(TENANTS, "/inv", rotate=["Alpha.Example.com"], today=datetime.date(2026, 11, 22))
    assert errors == []
    rot = [e for e in entries if e["role"] == "rotation"][0]
    assert rot["selector"] == "mf202611b"  # mf202611a is the current selector
    assert rot["key_file"] == "files/dkim/alpha.example.com.mf202611b.pem"
    assert rot["previous"] == {"selector": "mf202611a", "key_file": "files/dkim/alpha.example.com.mf202611a.pem"}
    entries, errors = dkim.plan(TENANTS, "/inv", rotate=["beta.example.net"], new_selector="mf2027a")
    rot = [e for e in entries if e["role"] == "rotation"][0]
    assert errors == [] and rot["key_file"] == "/keys/beta.example.net.mf2027a.pem"


def test_plan_rotation_errors():
    _e, errors = dkim.plan(TENANTS, "/inv", rotate=["alpha.example.com"], new_selector="mf2025b")
    assert "already in use" in errors[0]
    _e, errors = dkim.plan(TENANTS, "/inv", rotate=["gamma.example.org"])
    assert "not a sending domain" in errors[0] and "alpha.example.com" in errors[0]
    _e, errors = dkim.plan(TENANTS, "/inv", rotate=["alpha.example.com"], new_selector="bad selector")
    assert "invalid DKIM selector" in errors[0]


def test_rotation_snippet_is_the_domain_entry_fleet_accepts():
    entries, _errors = dkim.plan(TENANTS, "/inv", rotate=["alpha.example.com"], new_selector="mf2026c")
    rot = [e for e in entries if e["role"] == "rotation"][0]
    snippet = dkim.rotation_snippet(rot)
    data = yaml.safe_load(snippet)
    dom = data["mailfleet_tenants"]["alpha"]["domains"][0]
    assert dom == {"name": "alpha.example.com", "dkim_selector": "mf2026c",
                   "dkim_key_file": "files/dkim/alpha.example.com.mf2026c.pem",
                   "dkim_retired_selectors": [
                       {"selector": "mf202611a", "key_file": "files/dkim/alpha.example.com.mf202611a.pem"},
                       {"selector": "mf2025b", "key_file": "files/dkim/alpha.example.com.mf2025b.pem"}]}
    assert set(dom) <= set(fleet.DOMAIN_KEYS)


def test_yaml_scalar_quotes_what_yaml_would_misread():
    assert dkim._yaml_scalar("files/dkim/a.pem") == "files/dkim/a.pem"
    assert dkim._yaml_scalar("yes") == '"yes"'
    assert dkim._yaml_scalar("a b: c") == '"a b: c"'


# -- DNS audit and retirement -----------------------------------------------------------------
class FakeCtx:
    def __init__(self, answers):
        self.answers = answers
        self.asked = []

    def query(self, name, rtype):
        self.asked.append((name, rtype))
        return self.answers.get(name, ("NXDOMAIN", [], ""))


def test_audit_selector_statuses(key):
    other = dkim.load_private_key(dkim.generate_private_key_pem())
    name = "s2._domainkey.alpha.example.com"
    ok = FakeCtx({name: ("NOERROR", [dkim.record("s2", "alpha.example.com", key)["value"]], "")})
    assert dkim.audit_selector("alpha.example.com", "s2", key, ok)["status"] == "published"
    assert ok.asked == [(name, "TXT")]
    assert dkim.audit_selector("alpha.example.com", "s2", other, ok)["status"] == "mismatch"
    assert dkim.audit_selector("alpha.example.com", "s2", key, FakeCtx({}))["status"] == "missing"
    timeout = FakeCtx({name: ("TIMEOUT", [], "timed out")})
    unknown = dkim.audit_selector("alpha.example.com", "s2", key, timeout)
    assert unknown["status"] == "unknown" and unknown["severity"] == "unknown"  # no answer is no failure
    keep = dkim.retirement_verdict("alpha", "alpha.example.com", "s2", [{"selector": "s1", "key_file": "k"}], unknown)
    assert keep["verdict"] == "keep"  # ... and never a success either
    revoked = FakeCtx({name: ("NOERROR", ["v=DKIM1; k=rsa; p="], "")})
    assert dkim.audit_selector("alpha.example.com", "s2", key, revoked)["status"] == "mismatch"


def test_retirement_verdict():
    retired = [{"selector": "s1", "key_file": "files/s1.pem"}]
    remove = dkim.retirement_verdict("alpha", "alpha.example.com", "s2", retired,
                                     {"status": "published", "name": "s2._domainkey.alpha.example.com", "message": "ok"})
    assert remove["verdict"] == "remove" and "can now be removed" in remove["message"] and remove["retired"] == ["s1"]
    keep = dkim.retirement_verdict("alpha", "alpha.example.com", "s2", retired,
                                   {"status": "missing", "name": "x", "message": "no DKIM record"})
    assert keep["verdict"] == "keep" and "keep the retired selector s1" in keep["message"]
