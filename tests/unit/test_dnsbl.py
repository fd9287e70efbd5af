"""DNSBL query names and pure interpretation (no I/O)."""
import pytest

from ansible_collections.mailfleet.fleet.plugins.module_utils import dnsbl

SPAMHAUS = dnsbl.normalize_zone({"zone": "zen.spamhaus.org"})
GENERIC = dnsbl.normalize_zone({"zone": "bl.example.test", "critical": True})


def ok(*answers, txt=None):
    return {"rcode": "NOERROR", "a": list(answers), "txt": txt or []}


def test_ipv4_query_name_reverses_octets():
    assert dnsbl.query_name("192.0.2.1", "zen.spamhaus.org") == "1.2.0.192.zen.spamhaus.org"


def test_ipv6_query_name_is_32_reversed_nibbles():
    name = dnsbl.query_name("2001:db8::1", "bl.example.test")
    labels = name.split(".")
    assert labels[:32] == list("1" + "0" * 23 + "8bd01002")
    assert ".".join(labels[32:]) == "bl.example.test"
    assert len(labels[:32]) == 32


def test_bad_ip_rejected():
    with pytest.raises(dnsbl.DNSBLConfigError):
        dnsbl.query_name("192.0.2.300", "x.test")


def test_dqs_query_base_uses_key_and_dq_zone():
    assert dnsbl.zone_query_base(SPAMHAUS, "abc123") == "abc123.zen.dq.spamhaus.net"
    assert dnsbl.zone_query_base(GENERIC, "abc123") == "bl.example.test"
    assert dnsbl.zone_query_base(SPAMHAUS) == "zen.spamhaus.org"


def test_default_zones_exclude_sorbs_and_include_common_set():
    names = [z["zone"] for z in dnsbl.normalize_zones(None)]
    assert not any("sorbs" in n for n in names)
    for expected in ("zen.spamhaus.org", "b.barracudacentral.org", "bl.spamcop.net", "psbl.surriel.com",
                     "bl.mailspike.net", "all.spamrats.com", "dnsbl-1.uceprotect.net"):
        assert expected in names


@pytest.mark.parametrize("code,label", [("127.0.0.2", "SBL"), ("127.0.0.3", "CSS"), ("127.0.0.4", "XBL"),
                                        ("127.0.0.9", "DROP"), ("127.0.0.10", "PBL"), ("127.0.0.11", "PBL")])
def test_spamhaus_listing_codes_are_named(code, label):
    r = dnsbl.interpret(SPAMHAUS, "192.0.2.1", ok(code))
    assert r["status"] == "listed"
    assert r["code"] == code
    assert r["meaning"].startswith(label)


@pytest.mark.parametrize("code", ["127.255.255.252", "127.255.255.254", "127.255.255.255", "127.255.255.250"])
def test_spamhaus_error_codes_are_never_listings(code):
    r = dnsbl.interpret(SPAMHAUS, "192.0.2.1", ok(code))
    assert r["status"] == "error"
    assert r["code"] == code


def test_spamhaus_undocumented_code_is_error_not_listing():
    assert dnsbl.interpret(SPAMHAUS, "192.0.2.1", ok("127.0.0.8"))["status"] == "error"


def test_generic_any_127_code_other_than_1_is_listing_with_txt_reason():
    r = dnsbl.interpret(GENERIC, "192.0.2.1", ok("127.0.0.5", txt=["see http://x.test/1"]))
    assert (r["status"], r["code"], r["reason"]) == ("listed", "127.0.0.5", "see http://x.test/1")
    assert r["critical"] is True


@pytest.mark.parametrize("zone", [SPAMHAUS, GENERIC])
def test_127_0_0_1_is_error(zone):
    assert dnsbl.interpret(zone, "192.0.2.1", ok("127.0.0.1"))["status"] == "error"


@pytest.mark.parametrize("answer", ["192.0.2.200", "10.0.0.1", "198.51.100.7"])
def test_answer_outside_127_is_error(answer):
    r = dnsbl.interpret(GENERIC, "192.0.2.1", ok(answer))
    assert r["status"] == "error"
    assert "outside 127.0.0.0/8" in r["meaning"]


def test_error_code_mixed_with_listing_is_error():
    assert dnsbl.interpret(SPAMHAUS, "192.0.2.1", ok("127.0.0.2", "127.255.255.254"))["status"] == "error"


def test_multiple_listing_codes_all_reported():
    r = dnsbl.interpret(SPAMHAUS, "192.0.2.1", ok("127.0.0.10", "127.0.0.4"))
    assert r["status"] == "listed"
    assert r["codes"] == ["127.0.0.4", "127.0.0.10"]
    assert "XBL" in r["meaning"] and "PBL" in r["meaning"]


def test_nxdomain_and_nodata_are_clean():
    assert dnsbl.interpret(GENERIC, "192.0.2.1", {"rcode": "NXDOMAIN"})["status"] == "clean"
    assert dnsbl.interpret(GENERIC, "192.0.2.1", {"rcode": "NODATA"})["status"] == "clean"


@pytest.mark.parametrize("rcode", ["TIMEOUT", "SERVFAIL", "REFUSED", "ERROR"])
def test_no_answer_is_unknown(rcode):
    r = dnsbl.interpret(SPAMHAUS, "192.0.2.1", {"rcode": rcode, "error": "x"})
    assert r["status"] == "unknown"
    assert r["code"] is None


def test_spamrats_codes_named():
    z = dnsbl.normalize_zone("all.spamrats.com")
    assert "RATS-Spam" in dnsbl.interpret(z, "192.0.2.1", ok("127.0.0.38"))["meaning"]


def test_summary_counts():
    results = [
        dnsbl.interpret(GENERIC, "192.0.2.1", ok("127.0.0.2")),
        dnsbl.interpret(SPAMHAUS, "192.0.2.1", {"rcode": "TIMEOUT"}),
        dnsbl.interpret(SPAMHAUS, "192.0.2.2", {"rcode": "NXDOMAIN"}),
    ]
    s = dnsbl.summarize(results)
    assert s["counts"] == {"listed": 1, "clean": 1, "unknown": 1, "error": 0}
    assert s["listed_ips"] == ["192.0.2.1"]
    assert s["critical_ips"] == ["192.0.2.1"]
    assert s["ips"]["192.0.2.1"]["unknown"] == ["zen.spamhaus.org"]


@pytest.mark.parametrize("spec,addr,port", [("127.0.0.1", "127.0.0.1", 53), ("127.0.0.1:5353", "127.0.0.1", 5353),
                                            ("[::1]:5300", "::1", 5300), ("::1", "::1", 53),
                                            ({"address": "127.0.0.2", "port": 99}, "127.0.0.2", 99)])
def test_parse_nameserver(spec, addr, port):
    ns = dnsbl.parse_nameserver(spec)
    assert (ns.address, ns.port) == (addr, port)


def test_nameservers_required_never_resolv_conf():
    with pytest.raises(dnsbl.DNSBLConfigError):
        dnsbl.check(["192.0.2.1"], ["bl.example.test"], nameservers=None)
    with pytest.raises(dnsbl.DNSBLConfigError):
        dnsbl.build_resolver([])


def test_redact_key_case_insensitive():
    assert dnsbl.redact("q 1.2.ABC.zen.dq", "abc") == "q 1.2.<dqs-key>.zen.dq"


def test_duplicate_zone_rejected():
    with pytest.raises(dnsbl.DNSBLConfigError):
        dnsbl.normalize_zones(["a.test", "a.test."])
