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


# ---- the classes of validation, on plain data (the corpus proves them through ansible-playbook)
import datetime  # noqa: E402

import pytest  # noqa: E402

from helpers import DEMO_KEY  # noqa: E402

HOSTILE = ["\n", "\r", "\x00", "\t", "\u00a0", "\u2028", "\u200b", "\u202e", "\ufeff"]


@pytest.mark.parametrize("ch", HOSTILE)
@pytest.mark.parametrize("where", ["pool", "smtp_user", "from_name", "from_email", "domain", "selector", "vmta",
                                   "hostname", "mx", "provider_domain"])
def test_a_hostile_character_anywhere_in_a_name_is_refused(where, ch):
    inventory = raw()
    alpha = inventory["globals"]["mailfleet_tenants"]["alpha"]
    ip = inventory["hosts"]["pmta-2"]["vars"]["mailfleet_ips"][0]
    if where == "pool":
        alpha["pool"] = "alpha-pool" + ch
    elif where == "smtp_user":
        alpha["smtp_user"] = "alpha" + ch
    elif where == "from_name":
        alpha["from_name"] = "Alpha" + ch + "News"
    elif where == "from_email":
        alpha["from_email"] = "news" + ch + "@alpha.example.com"
    elif where == "domain":
        alpha["domains"][0]["name"] = "alpha" + ch + ".example.com"
    elif where == "selector":
        alpha["domains"][0]["dkim_selector"] = "s1" + ch
    elif where == "vmta":
        ip["vmta"] = "v" + ch
    elif where == "hostname":
        ip["hostname"] = "mta3.al" + ch + "pha.example.com"
    else:
        inventory["globals"]["mailfleet_providers"] = {
            "gmail": {"domains": ["gmail.com" + ch] if where == "provider_domain" else [], "mx": ["*.google.com" + ch]}}
    _model, errors = build(inventory)
    assert len(errors) == (2 if where == "provider_domain" else 1), errors
    assert all("contains U+%04X" % ord(ch) in e for e in errors), errors
    assert all("\n" not in e and "\r" not in e for e in errors)


def test_hostile_tenant_name_is_reported_once_and_its_ips_are_not_orphans():
    inventory = raw()
    tenants = inventory["globals"]["mailfleet_tenants"]
    tenants["alpha\n"] = tenants.pop("alpha")
    for host in ("pmta-1", "pmta-2"):
        for ip in inventory["hosts"][host]["vars"]["mailfleet_ips"]:
            if ip["tenant"] == "alpha":
                ip["tenant"] = "alpha\n"
    _model, errors = build(inventory)
    assert errors == ["variable mailfleet_tenants.alpha\\n: contains U+000A (LINE FEED) in 'alpha\\n'; "
                      "expected a name of lowercase letters, digits, '-' or '_' (max 63)"]


@pytest.mark.parametrize("address, message", [
    ("255.255.255.255", "255.255.255.255 cannot be a sending address (the broadcast address)"),
    ("169.254.3.4", "169.254.3.4 cannot be a sending address (link-local)"),
    ("fe80::1", "fe80::1 cannot be a sending address (link-local)"),
    ("fe80::1%eth0", "'fe80::1%eth0' has a zone index; expected a plain IPv4 or IPv6 address"),
    ("::ffff:192.0.2.1", "::ffff:192.0.2.1 is an IPv4-mapped IPv6 address; write the IPv4 address 192.0.2.1"),
    ("2001:0db8:0::1:0:0:2", "IP 2001:db8::1:0:0:2 is declared twice (also at mailfleet_ips[0] on this host)"),
])
def test_address_classes(address, message):
    inventory = raw()
    ips = inventory["hosts"]["pmta-2"]["vars"]["mailfleet_ips"]
    ips[0]["address"] = "2001:db8::1:0:0:2"
    ips.append({"address": address, "hostname": "mta9.alpha.example.com", "tenant": "alpha", "warmup_start": "2026-11-10"})
    _model, errors = build(inventory)
    assert errors == ["host pmta-2, variable mailfleet_ips[1].address: " + message]


@pytest.mark.parametrize("key, message", [
    (False, "key False is read by YAML as the boolean false, not a name; quote it (\"False\")"),
    (fleet.YamlKey("no", False), "key no is read by YAML as the boolean false, not a name; quote it (\"no\")"),
    (2026, "key 2026 is read by YAML as the integer 2026, not a name; quote it (\"2026\")"),
    (None, "key None is read by YAML as null, not a name; quote it (\"None\")"),
    (datetime.date(2026, 1, 2), "key 2026-01-02 is read by YAML as the date 2026-01-02, not a name; quote it (\"2026-01-02\")"),
])
def test_keys_yaml_reads_as_other_types_are_named_as_written(key, message):
    inventory = raw()
    inventory["globals"]["mailfleet_tenants"][key] = {"domains": []}
    _model, errors = build(inventory)
    assert errors == ["variable mailfleet_tenants.%s: %s" % (key, message)]


def test_retired_selectors_equal_to_the_current_one_or_twice():
    inventory = raw()
    dom = inventory["globals"]["mailfleet_tenants"]["alpha"]["domains"][1]
    dom["dkim_retired_selectors"] = [{"selector": "s2", "key_file": "k"}, {"selector": "s0", "key_file": "k"},
                                     {"selector": "s0", "key_file": "k"}]
    _model, errors = build(inventory)
    assert errors == [
        "variable mailfleet_tenants.alpha.domains[1].dkim_retired_selectors[0].selector: selector s2 is the current "
        "dkim_selector of this domain; a retired selector must differ from it",
        "variable mailfleet_tenants.alpha.domains[1].dkim_retired_selectors[2].selector: selector s0 is retired twice "
        "(also at dkim_retired_selectors[1])"]


def test_root_errors_have_no_follow_on_errors():
    inventory = raw()
    inventory["globals"]["mailfleet_tenants"] = ["alpha", "beta"]
    inventory["globals"]["mailfleet_warmup_schedules"] = "default"
    _model, errors = build(inventory)
    assert errors == [
        "variable mailfleet_warmup_schedules: expected a mapping schedule-name -> {stages, ...}, got a string ('default')",
        "variable mailfleet_tenants: expected a mapping tenant-name -> {pool, domains, ...}, got a list"]


def test_unreadable_values_are_accepted_as_present_and_not_checked_again():
    inventory = raw()
    inventory["globals"]["mailfleet_tenants"]["alpha"]["smtp_password"] = fleet.Unreadable("vault")
    inventory["hosts"]["pmta-1"] = fleet.Unreadable("variables")
    model, errors = build(inventory)
    assert errors == []  # beta's only IP was on pmta-1: not reported as "no sending IP"
    assert model["tenants"]["alpha"]["has_smtp_password"] is True


def test_the_model_carries_no_secret():
    """The published model carries no secret; the renderer reads the SMTP passwords apart
    (plugin_utils/secrets.py, tests/unit/test_secrets.py)."""
    inventory = raw()
    inventory["globals"]["mailfleet_mailwizz_instances"] = {
        "main": {"url": "https://mw.example.com/api", "api_key": "key-main-0123",
                 "db": {"host": "127.0.0.1", "name": "mw", "user": "sync", "password": "db-secret-0123"}}}
    inventory["globals"]["mailfleet_tenants"]["alpha"].update(mailwizz="main", mailwizz_auth={"api_key": "key-alpha-0123"})
    model, errors = build(inventory)
    assert errors == []
    assert not [s for s in ("alpha secret", "key-main-0123", "db-secret-0123", "key-alpha-0123") if s in repr(model)]
    assert "smtp_password" not in model["tenants"]["alpha"] and model["tenants"]["alpha"]["has_smtp_password"]


def test_two_tenants_on_one_mailwizz_key_are_refused_without_showing_it():
    inventory = raw()
    tenants = inventory["globals"]["mailfleet_tenants"]
    inventory["globals"]["mailfleet_mailwizz_instances"] = {"main": {"url": "https://mw.example.com/api",
                                                                     "api_key": "shared-key-0123"}}
    tenants["alpha"]["mailwizz"] = tenants["beta"]["mailwizz"] = "main"
    _model, errors = build(inventory)
    assert errors == ["variable mailfleet_tenants.beta.mailwizz: tenant beta authenticates to https://mw.example.com/api "
                      "with the same MailWizz key as tenant alpha; each tenant needs its own customer key (mailwizz_auth)"]
    tenants["beta"]["mailwizz_auth"] = {"api_key": "beta-key-0123"}
    assert build(inventory)[1] == []
    # the same key behind a differently spelled URL of the same installation is the same customer
    # (one rule, mailwizz_api.shared_mailwizz_keys, for the validation and the connection resolver)
    inventory["globals"]["mailfleet_mailwizz_instances"]["other"] = {"url": "https://MW.Example.com/api/",
                                                                     "api_key": "beta-key-0123"}
    tenants["alpha"].update(mailwizz="other", mailwizz_auth={"api_key": "beta-key-0123"})
    errors = build(inventory)[1]
    assert [e for e in errors if "same MailWizz key" in e] == [
        "variable mailfleet_tenants.beta.mailwizz_auth: tenant beta authenticates to https://mw.example.com/api "
        "with the same MailWizz key as tenant alpha; each tenant needs its own customer key (mailwizz_auth)"]
    assert not [e for e in errors if "beta-key-0123" in e]


@pytest.mark.parametrize("seed", range(40))
def test_validation_and_the_connection_resolver_apply_one_isolation_rule(seed):
    """Random tenants on random spellings of two installations with random keys: the inventory
    validation refuses exactly what mailwizz_api.check_key_isolation refuses."""
    import random

    from ansible_collections.mailfleet.fleet.plugins.module_utils import mailwizz_api

    rnd = random.Random(seed)
    spellings = ["https://mw.example.com/api", "https://mw.EXAMPLE.com/api/", "https://mw2.example.com/api"]
    instances = {"i%d" % n: {"url": url, "api_key": rnd.choice(["k-one-0123", "k-two-0123"])}
                 for n, url in enumerate(spellings)}
    inventory = raw()
    tenants = inventory["globals"]["mailfleet_tenants"]
    inventory["globals"]["mailfleet_mailwizz_instances"] = instances
    for name in sorted(tenants):
        tenants[name]["mailwizz"] = rnd.choice(sorted(instances))
        if rnd.random() < 0.4:
            tenants[name]["mailwizz_auth"] = {"api_key": rnd.choice(["k-one-0123", "k-three-0123"])}
    shared = [e for e in build(inventory)[1] if "same MailWizz key" in e]
    try:
        mailwizz_api.check_key_isolation(tenants, instances)
        refused = False
    except mailwizz_api.ConfigError:
        refused = True
    assert refused == bool(shared)


def test_mailfleet_root_must_be_absolute_and_plain():
    inventory = raw()
    inventory["hosts"]["pmta-1"]["vars"]["mailfleet_root"] = "work/pmta"
    inventory["hosts"]["pmta-2"]["vars"]["mailfleet_root"] = "/srv/pmta\n<source 0/0>"
    _model, errors = build(inventory)
    assert errors == [
        "host pmta-1, variable mailfleet_root: 'work/pmta' is a relative path; expected an absolute path (starting with /)",
        "host pmta-2, variable mailfleet_root: contains U+000A (LINE FEED) in '/srv/pmta\\n<source 0/0>'; expected an absolute path"]


# ---- DKIM key files: parsed as private keys, read through a callback
def test_key_files_are_parsed_as_rsa_private_keys():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    demo = open(DEMO_KEY, "rb").read()
    key = serialization.load_pem_private_key(demo, None)
    assert fleet.key_problem(demo) is None
    assert fleet.key_problem(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)) == \
        "holds a public key; PowerMTA signs with the private key"
    assert fleet.key_problem(b"-----BEGIN RSA PRIVATE KEY-----\nxx\n-----END RSA PRIVATE KEY-----\n") == \
        "is not a valid PEM private key (its PEM block cannot be decoded as one)"
    assert fleet.key_problem(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())) == \
        "holds an EC (ECDSA) private key; PowerMTA's DKIM signs with RSA keys"
    assert fleet.key_problem(b"") == "is not a PEM private key (no -----BEGIN line)"


def test_check_key_files_reads_each_file_once_through_the_callback():
    model, _errors = build(raw())
    reads = []

    def read(ref):
        reads.append(ref)
        raise fleet.KeyFileError("DKIM key file %s is vault-encrypted and cannot be decrypted" % ref)

    errors = [e.format() for e in fleet.check_key_files(model, read)]
    assert reads == ["files/dkim.pem"]
    assert errors[0] == ("variable mailfleet_tenants.alpha.domains[0].dkim_key_file: DKIM key file files/dkim.pem "
                         "is vault-encrypted and cannot be decrypted")
    assert len(errors) == 4  # alpha's two domains, its retired selector, beta's domain
    assert fleet.check_key_files(model, lambda ref: open(DEMO_KEY, "rb").read()) == []
