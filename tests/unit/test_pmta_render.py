"""The PowerMTA renderer: structure, isolation, caps, standby, cold VMTAs, determinism, secrets."""
from ansible_collections.mailfleet.fleet.plugins.module_utils import fleet, pmta_render
from ansible_collections.mailfleet.fleet.plugins.module_utils.pmta_check import check_text

from fleetdata import caps_for, raw


def model():
    m, errors = fleet.build_model(raw())
    assert not errors
    return fleet.with_smtp_passwords(m, {"alpha": "alpha secret"})


def block(text, tag, name):
    return text.split("<%s %s>" % (tag, name), 1)[1].split("</%s>" % tag, 1)[0]


def members(text, pool):
    return [line.split()[1] for line in block(text, "virtual-mta-pool", pool).splitlines()
            if line.strip().startswith("virtual-mta ")]


def check(m, host, text):
    keys = [k["dest"] for k in pmta_render.host_dkim_keys(m, host, "/etc/pmta/dkim")]
    return check_text(text, "config", assume_present=keys + ["/etc/pmta/local.conf"])


def test_one_vmta_per_ip_one_pool_per_tenant_and_isolated_users():
    m = model()
    text = pmta_render.render_config(m, "pmta-1", caps_for(m))
    assert check(m, "pmta-1", text) == []
    assert "smtp-source-host 192.0.2.1 mta1.alpha.example.com" in block(text, "virtual-mta", "alpha-192-0-2-1")
    assert members(text, "alpha-pool") == ["alpha-192-0-2-1", "alpha-192-0-2-2"]
    assert members(text, "beta-pool") == ["beta-198-51-100-1"]
    source = block(text, "source", "mailfleet-beta")
    assert "default-virtual-mta beta-pool" in source
    assert "process-x-virtual-mta no" in source and "allow-mailmerge no" in source
    assert "source mailfleet-beta" in block(text, "smtp-user", "beta-user")
    assert "2001:db8::2" not in text  # pmta-2's IP
    # DKIM: the tenant's own keys only, current selectors before retired ones
    vmta = block(text, "virtual-mta", "alpha-192-0-2-1")
    assert "domain-key s1,alpha.example.com,/etc/pmta/dkim/alpha.example.com.s1.pem" in vmta
    assert vmta.index("news.alpha.example.com.s2") < vmta.index("news.alpha.example.com.s0")
    assert "beta.example.net" not in vmta
    assert text.rstrip().endswith("include /etc/pmta/local.conf")


def test_caps_and_provider_caps_are_enforced_per_vmta():
    m = model()
    text = pmta_render.render_config(m, "pmta-1", caps_for(m, daily=200, stage=2))
    vmta = block(text, "virtual-mta", "alpha-192-0-2-1")
    assert "max-smtp-msg-rate 200/d" in vmta
    assert "<domain gmail.rollup>\n        max-msg-rate 100/d" in vmta
    assert "<domain yahoo.rollup>\n        max-msg-rate 30/d" in vmta
    assert "mx *.google.com gmail.rollup rollup-by-ip" in text


def test_standby_leaves_the_pool_and_a_pool_never_goes_empty():
    m = model()
    caps = caps_for(m, **{"192.0.2.1": {"daily": 0, "standby": True}})
    text = pmta_render.render_config(m, "pmta-1", caps)
    assert members(text, "alpha-pool") == ["alpha-192-0-2-2"]
    assert "max-smtp-msg-rate 0\n" in block(text, "virtual-mta", "alpha-192-0-2-1")
    caps = caps_for(m, **{"198.51.100.1": {"daily": 0, "standby": True}})
    text = pmta_render.render_config(m, "pmta-1", caps)
    assert members(text, "beta-pool") == ["beta-198-51-100-1"]  # kept, at rate 0: nothing is sent
    assert "max-smtp-msg-rate 0\n" in block(text, "virtual-mta", "beta-198-51-100-1")
    assert check(m, "pmta-1", text) == []


def test_warming_ip_goes_through_the_cold_vmta_of_a_warm_one():
    m = model()
    caps = caps_for(m, **{"192.0.2.1": {"daily": 1000, "stage": None}})
    text = pmta_render.render_config(m, "pmta-1", caps)
    warm = block(text, "virtual-mta", "alpha-192-0-2-1")
    assert "cold-virtual-mta alpha-192-0-2-2" in warm
    assert "max-cold-virtual-mta-msg 50/day" in warm
    assert members(text, "alpha-pool") == ["alpha-192-0-2-1"]
    assert check(m, "pmta-1", text) == []


def test_rendering_is_deterministic_and_secrets_are_masked():
    m = model()
    caps = caps_for(m)
    first = pmta_render.render_config(m, "pmta-1", caps)
    assert first == pmta_render.render_config(model(), "pmta-1", dict(reversed(list(caps.items()))))
    assert 'password "alpha secret"' in first
    masked = pmta_render.mask_secrets(first)
    assert "alpha secret" not in masked and "    password ********" in masked
