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


# ---- zone kinds declared in configuration ----------------------------------------------------
ERROR_CODES = ["127.255.255.252", "127.255.255.254", "127.255.255.255", "127.255.255.250", "127.255.255.1"]
ALL_KINDS = [{"zone": "zen.mirror.test", "kind": "spamhaus-zen"}, {"zone": "dbl.mirror.test", "kind": "spamhaus-dbl"},
             {"zone": "rats.mirror.test", "kind": "spamrats"}, {"zone": "bl.mirror.test", "kind": "generic"},
             {"zone": "undeclared.mirror.test"}, "zen.spamhaus.org", "dbl.spamhaus.org", "k3y.zen.dq.spamhaus.net",
             "k3y.dbl.dq.spamhaus.net", "bl.spamcop.net", "all.spamrats.com"]


@pytest.mark.parametrize("cfg", ALL_KINDS, ids=lambda c: c if isinstance(c, str) else c["zone"])
@pytest.mark.parametrize("code", ERROR_CODES + ["127.0.0.1", "192.0.2.200", "10.1.2.3", "::1"])
def test_error_answers_never_listed_whatever_the_kind_or_name(cfg, code):
    zone = dnsbl.normalize_zone(cfg)
    r = dnsbl.interpret(zone, "192.0.2.1", ok(code))
    assert r["status"] == "error", (zone["kind"], code)
    # mixed with a real listing code: still never a listing
    assert dnsbl.interpret(zone, "192.0.2.1", ok("127.0.0.2", code))["status"] == "error"


@pytest.mark.parametrize("name,kind", [
    ("zen.spamhaus.org", "spamhaus-zen"), ("ZEN.Spamhaus.ORG.", "spamhaus-zen"), ("sbl.spamhaus.org", "spamhaus-zen"),
    ("xbl.spamhaus.org", "spamhaus-zen"), ("pbl.spamhaus.org", "spamhaus-zen"), ("dbl.spamhaus.org", "spamhaus-dbl"),
    ("abc123.zen.dq.spamhaus.net", "spamhaus-zen"), ("abc123.dbl.dq.spamhaus.net", "spamhaus-dbl"),
    ("all.spamrats.com", "spamrats"), ("b.barracudacentral.org", "generic"), ("zen.mirror.example.net", "generic"),
])
def test_known_names_get_their_kind_by_default(name, kind):
    assert dnsbl.normalize_zone(name)["kind"] == kind


def test_dqs_zone_literal_keeps_key_out_of_the_zone_name():
    z = dnsbl.normalize_zone({"zone": "Sekr1tKey.zen.dq.spamhaus.net", "critical": True})
    assert z["zone"] == "zen.dq.spamhaus.net" and z["dqs_key"] == "sekr1tkey" and z["critical"] is True
    assert dnsbl.zone_query_base(z) == "sekr1tkey.zen.dq.spamhaus.net"
    r = dnsbl.interpret(z, "192.0.2.1", ok("127.255.255.254"))
    assert r["status"] == "error" and "sekr1t" not in repr(r).lower()
    assert dnsbl.interpret(z, "192.0.2.1", ok("127.0.0.4"))["meaning"].startswith("XBL")
    plan = dnsbl.plan_queries(["192.0.2.1"], [z])
    assert plan[0][2] == "1.2.0.192.sekr1tkey.zen.dq.spamhaus.net"


def test_global_dqs_key_for_every_spamhaus_kind():
    zones = dnsbl.normalize_zones(["zen.spamhaus.org", "dbl.spamhaus.org", "bl.spamcop.net"])
    assert [dnsbl.zone_query_base(z, "k3y") for z in zones] == [
        "k3y.zen.dq.spamhaus.net", "k3y.dbl.dq.spamhaus.net", "bl.spamcop.net"]
    with pytest.raises(dnsbl.DNSBLConfigError) as info:
        dnsbl.zone_query_base(zones[0], "bad key\n")
    assert "bad key" not in str(info.value)


@pytest.mark.parametrize("cfg", [
    {"zone": "zen.spamhaus.org", "kind": "generic"},          # contradicts the known name
    {"zone": "dbl.spamhaus.org", "kind": "spamhaus-zen"},
    {"zone": "k.zen.dq.spamhaus.net", "kind": "spamrats"},
    {"zone": "x.test", "kind": "spamhaus-dqs"},              # not a kind
    {"zone": "x.test", "kind": ["generic"]},
    {"zone": "x.test", "critical": "yes"},
    {"zone": "x.test", "criticl": True},                      # typo: unknown key
    {"zone": "x.test", "codes": {"127.255.255.254": "listed"}},
    {"zone": "x.test", "codes": {"127.0.0.1": "listed"}},
    {"zone": "x.test", "codes": {"10.0.0.2": "listed"}},
    {"zone": "x.test", "codes": {"127.0.0.5": "a\nb"}},
    {"zone": "x.test", "nameservers": ["resolver.example"]},
    {"zone": "x.test", "dqs_zone": "bad zone"},
    {"zone": "x.test", "name": "Name\u202e"},
    {"zone": "zen.spamhaus.org\n"}, {"zone": "a..b.test"}, {"zone": "bl test.example"}, {"zone": "_x.example.test"},
    {"zone": "single"}, {"zone": "x" * 64 + ".test"}, {"zone": 12}, {"name": "no zone"}, ["zen.spamhaus.org"], None,
])
def test_bad_zone_entries_refused(cfg):
    with pytest.raises(dnsbl.DNSBLConfigError):
        dnsbl.validate_zones([cfg])


def test_validate_zones_names_the_key():
    with pytest.raises(dnsbl.DNSBLConfigError) as info:
        dnsbl.validate_zones([{"zone": "a.test"}, {"zone": "b.test", "kind": "nope"}])
    assert str(info.value).startswith("mailfleet_dnsbl_zones[1].kind")
    with pytest.raises(dnsbl.DNSBLConfigError) as info:
        dnsbl.validate_zones("zen.spamhaus.org")
    assert "expected a list" in str(info.value)


def test_spamhaus_alias_and_declared_mirror():
    assert dnsbl.normalize_zone({"zone": "zen.rbl.test", "kind": "spamhaus"})["kind"] == "spamhaus-zen"
    mirror = dnsbl.normalize_zone({"zone": "zen.mirror.example.net", "kind": "spamhaus-zen", "critical": True})
    assert dnsbl.interpret(mirror, "192.0.2.1", ok("127.0.0.2"))["status"] == "listed"
    assert dnsbl.interpret(mirror, "192.0.2.1", ok("127.0.0.8"))["status"] == "error"  # strict table


def test_dbl_codes_and_ip_query_error():
    dbl = dnsbl.normalize_zone("dbl.spamhaus.org")
    assert dbl["target"] == "domain"
    r = dnsbl.interpret(dbl, "news.example.test", ok("127.0.1.2"))
    assert r["status"] == "listed" and r["domain"] == "news.example.test" and "spam domain" in r["meaning"]
    assert dnsbl.interpret(dbl, "news.example.test", ok("127.0.1.255"))["status"] == "error"
    assert dnsbl.interpret(dbl, "news.example.test", ok("127.0.0.2"))["status"] == "error"


def test_generic_codes_table_names_listings():
    z = dnsbl.normalize_zone({"zone": "bl.mirror.test", "codes": {"127.0.0.5": "Trap hits"}})
    assert dnsbl.interpret(z, "192.0.2.1", ok("127.0.0.5"))["meaning"] == "Trap hits"
    assert dnsbl.interpret(z, "192.0.2.1", ok("127.0.0.6"))["status"] == "listed"


@pytest.mark.parametrize("rcode,cause", [("TIMEOUT", "timeout"), ("SERVFAIL", "servfail"), ("REFUSED", "refused"),
                                         ("NETWORK", "network"), ("ERROR", "error")])
def test_unknown_carries_its_cause(rcode, cause):
    r = dnsbl.interpret(GENERIC, "192.0.2.1", {"rcode": rcode, "error": "from 127.0.0.1:53"})
    assert r["status"] == "unknown" and r["cause"] == cause and "from 127.0.0.1:53" in r["meaning"]


# ---- IPv4-mapped IPv6, subjects --------------------------------------------------------------------
def test_ipv4_mapped_ipv6_is_queried_as_ipv4():
    assert dnsbl.query_name("::ffff:198.51.100.121", "bl.example.test") == "121.100.51.198.bl.example.test"
    plan = dnsbl.plan_queries(["::ffff:198.51.100.121", "198.51.100.121", "::ffff:c633:6479"], [GENERIC])
    assert [(ip, q) for _z, ip, q in plan] == [("198.51.100.121", "121.100.51.198.bl.example.test")]


@pytest.mark.parametrize("bad", ["192.0.2.1\n", "192.0.2.300", "fe80::1%eth0", "", "example.test", 3232235777, None])
def test_bad_ips_refused(bad):
    with pytest.raises(dnsbl.DNSBLConfigError):
        dnsbl.plan_queries([bad], [GENERIC])


def test_domain_subjects_only_for_domain_zones():
    zones = dnsbl.normalize_zones([{"zone": "bl.example.test"}, "dbl.spamhaus.org"])
    plan = dnsbl.plan_queries(["192.0.2.1"], zones, domains=["News.Example.test"])
    assert [q for _z, _s, q in plan] == ["1.2.0.192.bl.example.test", "news.example.test.dbl.spamhaus.org"]
    with pytest.raises(dnsbl.DNSBLConfigError):
        dnsbl.plan_queries([], zones, domains=["bad domain.test"])


@pytest.mark.parametrize("kw", [{"timeout": 0}, {"timeout": -1}, {"timeout": "2"}, {"workers": 0}, {"attempts": 0},
                                {"deadline": 0}, {"workers": 1.5}])
def test_bad_engine_settings_refused(kw):
    with pytest.raises(dnsbl.DNSBLConfigError):
        dnsbl.check(["192.0.2.1"], ["bl.example.test"], nameservers=["127.0.0.1:53"], **kw)
