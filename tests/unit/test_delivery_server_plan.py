# -*- coding: utf-8 -*-
"""Pure tests: planning delivery servers from the fleet model + caps, and PHP (un)serialize."""
import shutil
import subprocess

import pytest

from ansible_collections.mailfleet.fleet.plugins.module_utils.delivery_server import (
    DISABLED_QUOTA,
    headers_from_meta,
    hourly_quota_for,
    meta_with_headers,
    parse_meta_data,
    plan_delivery_servers,
    probability_for,
    row_name,
    serialize_meta,
    validate_desired_row,
)
from ansible_collections.mailfleet.fleet.plugins.module_utils.phpserialize import (
    PHPSerializeError,
    php_array_to_list,
    php_serialize,
    php_unserialize,
)


def _ip(address, tenant, host):
    return {"address": address, "version": 4, "hostname": "mta-%s.example.net" % address.replace(".", "-"),
            "tenant": tenant, "vmta": None, "pool": tenant + "-pool", "warmup_start": "2024-01-01",
            "schedule": "default", "overrides": {}, "host": host}


def make_model():
    hosts = {
        "pmta1": {"ips": [_ip("192.0.2.10", "acme", "pmta1"), _ip("192.0.2.11", "acme", "pmta1"),
                          _ip("192.0.2.12", "globex", "pmta1")]},
        "pmta2": {"ips": [_ip("198.51.100.20", "acme", "pmta2"), _ip("198.51.100.21", "globex", "pmta2")]},
        "pmta3": {"ips": [_ip("203.0.113.30", "initech", "pmta3")]},
    }
    ips = {ip["address"]: ip for h in hosts.values() for ip in h["ips"]}
    tenants = {
        "acme": {"pool": "acme-pool", "domains": [], "smtp_user": "acme", "schedule": "default",
                 "mailwizz": "main", "from_name": "Acme News", "from_email": "news@acme.example.com"},
        "globex": {"pool": "globex-pool", "domains": [], "smtp_user": "globex", "schedule": "default",
                   "mailwizz": "main", "from_name": "Globex", "from_email": "hello@globex.example.org"},
        "initech": {"pool": "initech-pool", "domains": [], "smtp_user": "initech", "schedule": "default",
                    "mailwizz": "other", "from_name": "Initech", "from_email": "tps@initech.test"},
    }
    return {"tenants": tenants, "schedules": {}, "hosts": hosts, "ips": ips, "providers": {}}


LISTENERS = {"pmta1": {"hostname": "pmta1.example.net", "port": 2525},
             "pmta2": {"hostname": "pmta2.example.net"},
             "pmta3": {"hostname": "pmta3.example.net", "port": 587, "protocol": "starttls"}}


def caps_of(**daily):
    """caps from keyword ip_last_octet=daily (negative = standby)."""
    table = {"a10": "192.0.2.10", "a11": "192.0.2.11", "g12": "192.0.2.12", "a20": "198.51.100.20",
             "g21": "198.51.100.21", "i30": "203.0.113.30"}
    caps = {}
    for key, addr in table.items():
        value = daily.get(key, 100)
        standby = value < 0
        caps[addr] = {"daily": 0 if standby else value, "standby": standby, "providers": {}, "stage": 1,
                      "reason": "test"}
    return caps


def by_name(rows):
    return {r["name"]: r for r in rows}


def test_one_row_per_tenant_and_host_with_capacity_contract():
    rows = by_name(plan_delivery_servers(make_model(), caps_of(a10=500, a11=1500, a20=2000, g12=50, g21=50),
                                         LISTENERS, {"sending_hours": 16}))
    assert sorted(rows) == ["mailfleet:acme:pmta1", "mailfleet:acme:pmta2", "mailfleet:globex:pmta1",
                            "mailfleet:globex:pmta2", "mailfleet:initech:pmta3"]
    a1, a2 = rows["mailfleet:acme:pmta1"], rows["mailfleet:acme:pmta2"]
    assert (a1["daily_quota"], a2["daily_quota"]) == (2000, 2000)
    assert a1["daily_quota"] + a2["daily_quota"] == a1["tenant_capacity"] == 4000  # pool capacity
    assert a1["hourly_quota"] == 125  # ceil(2000 / 16)
    assert (a1["probability"], a2["probability"]) == (50, 50)
    assert a1["hostname"] == "pmta1.example.net" and a1["port"] == 2525
    assert a2["port"] == 25  # default port
    assert rows["mailfleet:initech:pmta3"]["protocol"] == "starttls"
    assert a1["username"] == "acme" and a1["from_email"] == "news@acme.example.com"
    assert a1["from_name"] == "Acme News" and a1["type"] == "smtp-pmta" and a1["use_for"] == "all"
    assert a1["status"] == "active" and a1["additional_headers"] is None


def test_probability_follows_share_and_stays_in_mailwizz_range():
    rows = by_name(plan_delivery_servers(make_model(), caps_of(a10=50, a11=0, a20=950), LISTENERS))
    assert rows["mailfleet:acme:pmta1"]["probability"] == 5   # 5 % share
    assert rows["mailfleet:acme:pmta2"]["probability"] == 95
    assert probability_for(1, 1000) == 5      # tiny share -> minimum weight
    assert probability_for(1000, 1000) == 100
    assert probability_for(1, 3) == 35        # 33.3 % -> nearest multiple of 5
    assert probability_for(1, 8) == 15        # 12.5 % -> half rounds up
    for cap in range(1, 200, 7):
        p = probability_for(cap, 200)
        assert 5 <= p <= 100 and p % 5 == 0


@pytest.mark.parametrize("daily,hours,expected", [(50, 24, 3), (48, 24, 2), (1, 24, 1), (500, 16, 32),
                                                  (10000, 10, 1000), (7, 1, 7), (0, 24, 0)])
def test_hourly_quota_spreads_daily_over_sending_hours(daily, hours, expected):
    assert hourly_quota_for(daily, hours) == expected
    assert hourly_quota_for(daily, hours) * hours >= daily  # the whole day's cap fits in the window


def test_full_standby_tenant_is_disabled_never_unlimited():
    rows = by_name(plan_delivery_servers(make_model(), caps_of(a10=-1, a11=-1, a20=-1), LISTENERS))
    for host in ("pmta1", "pmta2"):
        row = rows["mailfleet:acme:%s" % host]
        assert row["status"] == "disabled"
        assert row["daily_quota"] == DISABLED_QUOTA and row["hourly_quota"] == DISABLED_QUOTA
        assert row["daily_quota"] != 0 and row["hourly_quota"] != 0
        assert "standby" in row["reason"]
    assert rows["mailfleet:globex:pmta1"]["status"] == "active"


def test_host_with_zero_share_is_disabled_and_others_carry_the_tenant():
    rows = by_name(plan_delivery_servers(make_model(), caps_of(a10=-1, a11=0, a20=700), LISTENERS))
    assert rows["mailfleet:acme:pmta1"]["status"] == "disabled"
    assert rows["mailfleet:acme:pmta1"]["daily_quota"] == 1
    assert rows["mailfleet:acme:pmta2"]["status"] == "active"
    assert rows["mailfleet:acme:pmta2"]["daily_quota"] == 700
    assert rows["mailfleet:acme:pmta2"]["probability"] == 100


def test_warmup_progress_changes_quotas():
    day1 = by_name(plan_delivery_servers(make_model(), caps_of(a10=50, a11=50, a20=50), LISTENERS))
    day8 = by_name(plan_delivery_servers(make_model(), caps_of(a10=200, a11=200, a20=500), LISTENERS))
    assert day1["mailfleet:acme:pmta1"]["daily_quota"] == 100
    assert day8["mailfleet:acme:pmta1"]["daily_quota"] == 400
    assert day8["mailfleet:acme:pmta2"]["daily_quota"] == 500
    assert day8["mailfleet:acme:pmta2"]["probability"] == 55  # 500/900


def test_header_routing_and_instance_filter():
    rows = plan_delivery_servers(make_model(), caps_of(), LISTENERS,
                                 {"header_routing": True, "mailwizz": "main",
                                  "extra_headers": [{"name": "X-Tenant", "value": "t"}]})
    names = [r["name"] for r in rows]
    assert "mailfleet:initech:pmta3" not in names and len(names) == 4
    acme = by_name(rows)["mailfleet:acme:pmta1"]
    assert acme["additional_headers"] == [{"name": "X-Virtual-MTA", "value": "acme-pool"},
                                          {"name": "X-Tenant", "value": "t"}]


@pytest.mark.parametrize("mutate,match", [
    (lambda m, c, l: c.pop("192.0.2.10"), "no cap for IP 192.0.2.10"),
    (lambda m, c, l: l.pop("pmta2"), "no SMTP listener .* host pmta2"),
    (lambda m, c, l: m["tenants"]["acme"].pop("smtp_user"), "tenant acme: smtp_user"),
    (lambda m, c, l: m["tenants"]["globex"].pop("from_email"), "tenant globex: from_email"),
])
def test_inconsistent_input_names_the_culprit(mutate, match):
    model, caps, listeners = make_model(), caps_of(), {k: dict(v) for k, v in LISTENERS.items()}
    mutate(model, caps, listeners)
    with pytest.raises(ValueError, match=match):
        plan_delivery_servers(model, caps, listeners)


def test_invalid_options_and_rows_rejected():
    with pytest.raises(ValueError, match="sending_hours"):
        plan_delivery_servers(make_model(), caps_of(), LISTENERS, {"sending_hours": 0})
    with pytest.raises(ValueError, match="type"):
        plan_delivery_servers(make_model(), caps_of(), LISTENERS, {"type": "sendmail"})
    good = plan_delivery_servers(make_model(), caps_of(), LISTENERS)[0]
    for key, value, match in (("daily_quota", 0, "unlimited"), ("hourly_quota", 0, "unlimited"),
                              ("probability", 7, "multiple of 5"), ("status", "inactive", "active or disabled"),
                              ("name", "other:acme:pmta1", "name must be"), ("hourly_quota", 10 ** 6, "exceeds")):
        bad = dict(good, **{key: value})
        with pytest.raises(ValueError, match=match):
            validate_desired_row(bad)
    with pytest.raises(ValueError):
        row_name("ac me", "pmta1")


# ---- PHP serialize ------------------------------------------------------------------------------

def test_php_serialize_known_bytes():
    assert php_serialize(None) == b"N;"
    assert php_serialize(True) == b"b:1;"
    assert php_serialize(-42) == b"i:-42;"
    assert php_serialize(1.0) == b"d:1;"
    assert php_serialize(0.1) == b"d:0.1;"
    assert php_serialize(1e25) == b"d:1.0E+25;"
    assert php_serialize("é") == b's:2:"\xc3\xa9";'  # byte length, like PHP
    assert php_serialize(["a"]) == b'a:1:{i:0;s:1:"a";}'
    assert php_serialize({"7": "x", "07": "y", "-1": 1}) == b'a:3:{i:7;s:1:"x";s:2:"07";s:1:"y";i:-1;i:1;}'
    meta = {"additional_headers": [{"name": "X-Virtual-MTA", "value": "acme-pool"}]}
    assert php_serialize(meta) == (b'a:1:{s:18:"additional_headers";a:1:{i:0;a:2:{s:4:"name";s:13:"X-Virtual-MTA";'
                                   b's:5:"value";s:9:"acme-pool";}}}')


def test_php_unserialize_roundtrip_and_errors():
    value = {"additional_headers": [{"name": "X-A", "value": 'q"u;o}te'}], "n": None, "f": 2.5, "b": False,
             "u": "ünï", 3: [1, 2]}
    back = php_unserialize(php_serialize(value))
    assert php_array_to_list(back["additional_headers"]) == [{"name": "X-A", "value": 'q"u;o}te'}]
    assert back["n"] is None and back["f"] == 2.5 and back["b"] is False and back["u"] == "ünï"
    assert php_array_to_list(back[3]) == [1, 2]
    assert php_serialize(back) == php_serialize(value)
    for bad in (b's:5:"abc";', b'a:1:{i:0;s:1:"a";', b'O:8:"stdClass":0:{}', b"i:1;junk", b"x:1;", b""):
        with pytest.raises(PHPSerializeError):
            php_unserialize(bad)


def test_meta_headers_preserve_other_keys_and_read_both_formats():
    old = php_serialize({"additional_headers": {"X-Old": "1"}, "other_setting": "keep"})
    meta = parse_meta_data(old)
    assert headers_from_meta(meta) == [{"name": "X-Old", "value": "1"}]  # pre-1.3.5.9 format
    new = parse_meta_data(serialize_meta(meta_with_headers(meta, [{"name": "X-Virtual-MTA", "value": "p"}])))
    assert new["other_setting"] == "keep"
    assert headers_from_meta(new) == [{"name": "X-Virtual-MTA", "value": "p"}]
    assert parse_meta_data(None) == {} and parse_meta_data(b"") == {}


PHP = shutil.which("php")


@pytest.mark.skipif(PHP is None, reason="php-cli not installed (cross-check with the real PHP)")
def test_php_serialize_matches_real_php():
    script = (r'$v = ["additional_headers" => [["name" => "X-Virtual-MTA", "value" => "pool-é"]], '
              r'"n" => null, "t" => true, "i" => -5, "f" => 0.1, "g" => 1.0, "h" => 1e25, "7" => "seven", '
              r'"l" => [1, "two"]]; echo serialize($v);')
    php_out = subprocess.run([PHP, "-r", script], stdout=subprocess.PIPE, check=True, timeout=30).stdout
    ours = php_serialize({"additional_headers": [{"name": "X-Virtual-MTA", "value": "pool-é"}], "n": None,
                          "t": True, "i": -5, "f": 0.1, "g": 1.0, "h": 1e25, "7": "seven", "l": [1, "two"]})
    assert ours == php_out
    # and PHP reads what we write back to the same structure
    check = subprocess.run([PHP, "-r", "echo json_encode(unserialize(stream_get_contents(STDIN)));"],
                           input=ours, stdout=subprocess.PIPE, check=True, timeout=30).stdout
    assert b'"X-Virtual-MTA"' in check and b'"seven"' in check


def test_string_options_from_templates_are_understood():
    rows = plan_delivery_servers(make_model(), caps_of(), LISTENERS,
                                 {"header_routing": "False", "sending_hours": "16"})
    assert rows[0]["additional_headers"] is None and rows[0]["hourly_quota"] == 13  # ceil(200/16)
    rows = plan_delivery_servers(make_model(), caps_of(), LISTENERS, {"header_routing": "true"})
    assert rows[0]["additional_headers"][0]["name"] == "X-Virtual-MTA"


# ---- MailWizz's rules and the grammar ------------------------------------------------------------

def test_headers_are_filtered_like_mailwizz():
    from ansible_collections.mailfleet.fleet.plugins.module_utils.delivery_server import (
        NEVER_ALLOWED_HEADERS, filter_headers)
    given = [{"name": n, "value": "v"} for n in NEVER_ALLOWED_HEADERS]
    given += [{"name": "from", "value": "v"}, {"name": "RETURN-PATH", "value": "v"},
              {"name": "X-Empty", "value": ""}, {"name": "X-Blank", "value": "   "},
              {"name": "", "value": "v"}, {"name": None, "value": "v"},
              {"name": "X-Virtual-MTA", "value": "pool"}]
    kept, dropped = filter_headers(given)
    assert kept == [{"name": "X-Virtual-MTA", "value": "pool"}]
    assert len(dropped) == len(given) - 1
    rows = by_name(plan_delivery_servers(make_model(), caps_of(), LISTENERS, {
        "header_routing": True, "extra_headers": [{"name": "Return-Path", "value": "b@example.com"}]}))
    row = rows["mailfleet:acme:pmta1"]
    assert row["additional_headers"] == [{"name": "X-Virtual-MTA", "value": "acme-pool"}]
    assert row["dropped_headers"][0]["name"] == "Return-Path"


HOSTILE = ["\n", "\r", "\x00", "\u2028", "\u00a0", "\u202e", "\ufeff"]


@pytest.mark.parametrize("ch", HOSTILE)
@pytest.mark.parametrize("field", ["hostname", "username", "from_email", "from_name", "name",
                                   "header_name", "header_value"])
def test_every_value_written_to_a_row_passes_the_grammar(ch, field):
    good = plan_delivery_servers(make_model(), caps_of(), LISTENERS, {"header_routing": True})[0]
    row = dict(good)
    if field == "name":
        row["name"] = "mailfleet:ac" + ch + "me:pmta1"
    elif field == "header_name":
        row["additional_headers"] = [{"name": "X-A" + ch + "b", "value": "v"}]
    elif field == "header_value":
        row["additional_headers"] = [{"name": "X-A", "value": "v" + ch + "Injected: 1"}]
    else:
        row[field] = good[field][:2] + ch + good[field][2:]
    with pytest.raises(ValueError):
        validate_desired_row(row)


@pytest.mark.parametrize("field,bad", [
    ("hostname", "not a host"), ("hostname", "-bad.example.net"), ("username", "us er"),
    ("from_email", "no-at-sign"), ("from_email", "a@b"), ("port", 0), ("port", 70000),
    ("customer_id", 0), ("customer_id", "seven"), ("daily_quota", True),
])
def test_bad_row_values_are_refused(field, bad):
    good = plan_delivery_servers(make_model(), caps_of(), LISTENERS)[0]
    with pytest.raises(ValueError):
        validate_desired_row(dict(good, **{field: bad}))


def test_listener_may_be_an_ip_and_hostnames_are_lowercased():
    listeners = dict(LISTENERS, pmta1={"hostname": "192.0.2.200", "port": 2525},
                     pmta2={"hostname": "PMTA2.Example.NET"})
    rows = by_name(plan_delivery_servers(make_model(), caps_of(), listeners))
    assert rows["mailfleet:acme:pmta1"]["hostname"] == "192.0.2.200"
    assert rows["mailfleet:acme:pmta2"]["hostname"] == "pmta2.example.net"


def test_customer_ids_must_name_known_tenants_and_be_positive():
    rows = by_name(plan_delivery_servers(make_model(), caps_of(), LISTENERS,
                                         {"customer_ids": {"acme": 3, "globex": "4"}}))
    assert rows["mailfleet:acme:pmta1"]["customer_id"] == 3
    assert rows["mailfleet:globex:pmta1"]["customer_id"] == 4
    with pytest.raises(ValueError, match="unknown tenant"):
        plan_delivery_servers(make_model(), caps_of(), LISTENERS, {"customer_ids": {"nope": 1}})
    with pytest.raises(ValueError, match="customer_id"):
        plan_delivery_servers(make_model(), caps_of(), LISTENERS, {"customer_ids": {"acme": -1}})


def test_host_capacity_is_the_one_capacity_computation():
    from ansible_collections.mailfleet.fleet.plugins.module_utils.delivery_server import host_capacity
    ips = make_model()["hosts"]["pmta1"]["ips"][:2]
    assert host_capacity("acme", "pmta1", ips, caps_of(a10=500, a11=1500)) == (2000, 0)
    assert host_capacity("acme", "pmta1", ips, caps_of(a10=-1, a11=0)) == (0, 2)
    with pytest.raises(ValueError, match="no cap for IP 192.0.2.11"):
        host_capacity("acme", "pmta1", ips, {"192.0.2.10": {"daily": 5}})
