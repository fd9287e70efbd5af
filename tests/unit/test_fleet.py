"""fleet.build_model: the normal form of a valid inventory and the errors of broken ones."""
from ansible_collections.mailfleet.fleet.plugins.module_utils import fleet

from fleetdata import raw


def build(inventory):
    model, errors = fleet.build_model(inventory)
    return model, [e.format() for e in errors]


def test_valid_inventory_normal_form():
    model, errors = build(raw())
    assert errors == []
    assert sorted(model["hosts"]) == ["pmta-1", "pmta-2"]
    ip = model["ips"]["192.0.2.1"]
    assert ip["vmta"] == "alpha-192-0-2-1" and ip["pool"] == "alpha-pool" and ip["host"] == "pmta-1"
    assert model["ips"]["2001:db8::2"]["vmta"] == "alpha-2001-db8--2"
    assert model["tenants"]["beta"]["smtp_user"] == "beta-user"
    assert model["schedules"]["default"]["stages"][0] == {"volume": 50, "min_days": 7}
    assert model["schedules"]["default"]["thresholds"]["fill_ratio"] == 0.9
    assert model["providers"]["gmail"]["domains"][0] == "gmail.com"


def test_model_is_deterministic_whatever_the_input_order():
    first, _ = build(raw())
    shuffled = raw()
    shuffled["hosts"]["pmta-1"]["vars"]["mailfleet_ips"].reverse()
    second, _ = build(shuffled)
    assert first == second


def test_all_errors_are_reported_at_once():
    inventory = raw()
    ips = inventory["hosts"]["pmta-1"]["vars"]["mailfleet_ips"]
    ips[0]["address"] = "192.0.2.999"
    ips[1]["tenant"] = "gamma"
    ips[2]["warmup_start"] = "soon"
    _model, errors = build(inventory)
    assert errors == [
        "host pmta-1, variable mailfleet_ips[0].address: '192.0.2.999' is not a valid IPv4 or IPv6 address",
        "host pmta-1, variable mailfleet_ips[1].tenant: unknown tenant 'gamma'; defined in mailfleet_tenants: alpha, beta",
        "host pmta-1, variable mailfleet_ips[2].warmup_start: expected a date YYYY-MM-DD, got 'soon'",
        "variable mailfleet_tenants.beta: tenant beta has no sending IP; add one to some host's mailfleet_ips",
    ] or errors


def test_ips_on_a_host_outside_the_pmta_group_are_refused():
    inventory = raw()
    inventory["hosts"]["mailwizz-1"]["vars"]["mailfleet_ips"] = [
        {"address": "203.0.113.9", "hostname": "x.example.com", "tenant": "alpha", "warmup_start": "2026-11-01"}]
    _model, errors = build(inventory)
    assert errors == ["host mailwizz-1, variable mailfleet_ips: host mailwizz-1 declares sending IPs but is not in the 'pmta' group"]


def test_loopback_and_unspecified_addresses_cannot_send():
    inventory = raw()
    inventory["hosts"]["pmta-2"]["vars"]["mailfleet_ips"][0]["address"] = "::1"
    _model, errors = build(inventory)
    assert errors == ["host pmta-2, variable mailfleet_ips[0].address: ::1 cannot be a sending address (loopback)"]


def test_shared_smtp_user_and_domain_are_refused():
    inventory = raw()
    tenants = inventory["globals"]["mailfleet_tenants"]
    tenants["beta"]["smtp_user"] = "alpha"
    tenants["beta"]["domains"][0]["name"] = "alpha.example.com"
    _model, errors = build(inventory)
    assert "variable mailfleet_tenants.beta.smtp_user: SMTP user 'alpha' is also used by tenant alpha" in errors
    assert "variable mailfleet_tenants.beta.domains[0].name: domain alpha.example.com also belongs to tenant alpha" in errors
