"""The PowerMTA renderer: structure, isolation, caps, standby, cold VMTAs, determinism, secrets."""
from ansible_collections.mailfleet.fleet.plugins.module_utils import fleet, pmta_render
from ansible_collections.mailfleet.fleet.plugins.module_utils.pmta_check import check_text
from ansible_collections.mailfleet.fleet.plugins.plugin_utils import pmta_template

from fleetdata import caps_for, raw


def model():
    m, errors = fleet.build_model(raw())
    assert not errors
    return m


def passwords(_m):
    """The SMTP passwords: a separate input of the view (the model carries no secret)."""
    return {"alpha": "alpha secret"}


def render(m, host, caps, settings=None):
    """The configuration text through the one chokepoint (view, template, parse-back)."""
    return pmta_template.render_host(m, host, caps, settings, passwords(m))[0]


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
    text = render(m, "pmta-1", caps_for(m))
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
    text = render(m, "pmta-1", caps_for(m, daily=200, stage=2))
    vmta = block(text, "virtual-mta", "alpha-192-0-2-1")
    assert "max-smtp-msg-rate 200/d" in vmta
    assert "<domain gmail.rollup>\n        max-msg-rate 100/d" in vmta
    assert "<domain yahoo.rollup>\n        max-msg-rate 30/d" in vmta
    assert "mx *.google.com gmail.rollup rollup-by-ip" in text


def test_standby_leaves_the_pool_and_a_pool_never_goes_empty():
    m = model()
    caps = caps_for(m, **{"192.0.2.1": {"daily": 0, "standby": True}})
    text = render(m, "pmta-1", caps)
    assert members(text, "alpha-pool") == ["alpha-192-0-2-2"]
    assert "max-smtp-msg-rate 0\n" in block(text, "virtual-mta", "alpha-192-0-2-1")
    caps = caps_for(m, **{"198.51.100.1": {"daily": 0, "standby": True}})
    text = render(m, "pmta-1", caps)
    assert members(text, "beta-pool") == ["beta-198-51-100-1"]  # kept, at rate 0: nothing is sent
    assert "max-smtp-msg-rate 0\n" in block(text, "virtual-mta", "beta-198-51-100-1")
    assert check(m, "pmta-1", text) == []


def test_warming_ip_goes_through_the_cold_vmta_of_a_warm_one():
    m = model()
    caps = caps_for(m, **{"192.0.2.1": {"daily": 1000, "stage": None}})
    text = render(m, "pmta-1", caps)
    warm = block(text, "virtual-mta", "alpha-192-0-2-1")
    assert "cold-virtual-mta alpha-192-0-2-2" in warm
    assert "max-cold-virtual-mta-msg 50/day" in warm
    assert members(text, "alpha-pool") == ["alpha-192-0-2-1"]
    assert check(m, "pmta-1", text) == []


def test_rendering_is_deterministic_and_secrets_are_masked():
    m = model()
    caps = caps_for(m)
    first = render(m, "pmta-1", caps)
    assert first == render(model(), "pmta-1", dict(reversed(list(caps.items()))))
    assert 'password "alpha secret"' in first
    masked = pmta_render.mask_secrets(first)
    assert "alpha secret" not in masked and "    password ********" in masked


# ---------------------------------------------------------------------------------------------
# The host view: pure data, no Ansible objects, no decision left to the template
# ---------------------------------------------------------------------------------------------
def _walk(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)
    else:
        yield value


def test_the_host_view_is_plain_data_and_never_shows_a_password():
    m = model()
    view = pmta_render.host_view(m, "pmta-1", caps_for(m), None, passwords(m))
    leaves = list(_walk(view))
    assert all(isinstance(v, (pmta_render.Field, bool)) or v is None for v in leaves)
    fields = [v for v in leaves if isinstance(v, pmta_render.Field)]
    assert all(type(f.value) in (str, int) for f in fields)
    password = [f for f in fields if f.kind == "password"][0]
    assert "alpha secret" not in repr(password) and password.what == "mailfleet_tenants.alpha.smtp_password"
    # the model carries no password to the view: only the separate input does
    assert not [f for f in _walk(pmta_render.host_view(m, "pmta-1", caps_for(m))) if getattr(f, "kind", "") == "password"]


def test_without_sending_ips_the_config_is_still_complete():
    m = model()
    m["hosts"]["pmta-3"] = {"ips": []}
    text = render(m, "pmta-3", {})
    assert "# Host pmta-3: no sending IPs\n" in text and "<virtual-mta " not in text
    assert text.endswith("include /etc/pmta/local.conf\n")


# ---------------------------------------------------------------------------------------------
# Parse-back: the text must hold exactly the view
# ---------------------------------------------------------------------------------------------
RELAY_BLOCK = "\n</smtp-user>\n<source 0/0>\n    always-allow-relaying yes\n</source>\n<smtp-user x>\n    password y"


def _render_error(m, host, caps, pw=None, settings=None, template=None):
    try:
        pmta_template.render_host(m, host, caps, settings, passwords(m) if pw is None else pw, template)
    except pmta_template.RenderError as exc:
        return str(exc)
    raise AssertionError("the configuration was rendered")


def _bypass(monkeypatch, kind):
    """Make the grammar of ``kind`` let anything through (filter and expected tree alike)."""
    original = pmta_render.format_value
    monkeypatch.setattr(pmta_render, "format_value",
                        lambda field: field.value if field.kind == kind else original(field))


def _line_of(text, needle):
    """1-based number of the first line of ``text`` that starts with ``needle`` (indent ignored)."""
    return [i for i, line in enumerate(text.split("\n"), 1) if line.strip().startswith(needle)][0]


def test_a_password_that_smuggles_a_relay_past_a_bypassed_grammar_is_caught(monkeypatch):
    m = model()
    secret = "Hunter2-secret" + RELAY_BLOCK
    clean = pmta_template.render_host(m, "pmta-1", caps_for(m), None, passwords(m))[0]
    at = _line_of(clean, 'password "alpha secret"')  # where the password line is; the relay comes 2 lines on
    _bypass(monkeypatch, "password")  # the grammar missed it
    message = _render_error(m, "pmta-1", caps_for(m), {"alpha": secret})
    assert message.startswith("host pmta-1: the rendered configuration does not hold exactly the host view")
    assert "rendered config:%d: a line that comes from an SMTP password (not shown) relays without authentication" \
        % (at + 3) in message
    assert "line %d: a line that comes from an SMTP password (not shown) is not in the host view" % (at + 1) in message
    for piece in ("Hunter2-secret", "always-allow-relaying", "password y"):
        assert piece not in message, message


def test_a_host_name_that_smuggles_a_directive_past_a_bypassed_grammar_is_caught(monkeypatch):
    m = model()
    host = "pmta-1\nalways-allow-relaying yes\n#"
    m["hosts"][host] = m["hosts"].pop("pmta-1")
    _bypass(monkeypatch, "comment")
    message = _render_error(m, host, caps_for(m))
    assert "the global context relays without authentication" in message
    assert "line 3: always-allow-relaying yes is not in the host view" in message


def test_a_ptr_name_that_opens_a_block_past_a_bypassed_grammar_is_caught(monkeypatch):
    m = model()
    m["hosts"]["pmta-1"]["ips"][0]["hostname"] = "mta1.alpha.example.com\n<source 10.0.0.0/8>\nsmtp-service yes\n</source>"
    _bypass(monkeypatch, "hostname")
    message = _render_error(m, "pmta-1", caps_for(m))
    assert "<source> is not allowed inside <virtual-mta>" in message
    assert "<source 10.0.0.0/8> in <virtual-mta alpha-192-0-2-1> is not in the host view" in message


def test_a_listener_that_adds_an_argument_past_a_bypassed_grammar_is_caught(monkeypatch):
    m = model()
    _bypass(monkeypatch, "listener")
    message = _render_error(m, "pmta-1", caps_for(m), settings={"smtp_listeners": ["0.0.0.0:25 source=mailfleet-beta"]})
    assert "smtp-listener 0.0.0.0:25 source=mailfleet-beta is not in the host view" in message


def test_a_filter_that_lets_a_value_through_unchecked_is_caught(monkeypatch):
    m = model()
    monkeypatch.setitem(pmta_template.FILTERS, "pmta_password", lambda field: pmta_template.Checked(field.value))
    pmta_template._COMPILED.clear()
    try:
        message = _render_error(m, "pmta-1", caps_for(m), {"alpha": "Hunter2-secret" + RELAY_BLOCK})
    finally:
        pmta_template._COMPILED.clear()
    assert "relays without authentication" in message
    assert "the host view holds a value its grammar refuses: mailfleet_tenants.alpha.smtp_password: contains " \
           "U+000A (LINE FEED)" in message
    assert "Hunter2" not in message and "password y" not in message


def _tampered(m, old, new, count=1):
    view = pmta_render.host_view(m, "pmta-1", caps_for(m), None, passwords(m))
    text = pmta_template.render_view(view)
    assert old in text
    return pmta_render.parse_back(text.replace(old, new, count), view, "config"), text


def test_an_extra_directive_is_caught():
    problems, text = _tampered(model(), "    allow-mailmerge no\n    smtp-service yes\n",
                               "    allow-mailmerge no\n    smtp-service yes\n    allow-auth yes\n")
    at = text.split("\n").index("<source mailfleet-alpha>") + 6
    assert problems == ["line %d: allow-auth yes in <source mailfleet-alpha> is not in the host view" % at], problems


def test_a_missing_directive_is_caught():
    problems, _text = _tampered(model(), "    process-x-virtual-mta no\n    allow-mailmerge no\n    smtp-service yes\n",
                                "    allow-mailmerge no\n    smtp-service yes\n")
    assert problems == ["process-x-virtual-mta no in <source mailfleet-alpha> is missing (the host view has it)"]


def test_a_moved_changed_or_extra_block_is_caught():
    m = model()
    problems, text = _tampered(m, "max-smtp-msg-rate 50/d", "max-smtp-msg-rate 500/d")
    at = _line_of(text, "max-smtp-msg-rate 50/d")
    assert "line %d: max-smtp-msg-rate 500/d in <virtual-mta alpha-192-0-2-1> is not in the host view" % at in problems
    assert "max-smtp-msg-rate 50/d in <virtual-mta alpha-192-0-2-1> is missing (the host view has it)" in problems
    problems, _t = _tampered(m, "include /etc/pmta/local.conf\n", "<source 10.0.0.0/8>\n    always-allow-relaying yes\n"
                             "</source>\ninclude /etc/pmta/local.conf\n")
    assert any("<source 10.0.0.0/8> relays without authentication, but pmta_config_relay_sources does not list it"
               in p for p in problems), problems
    problems, _t = _tampered(m, "    password \"alpha secret\"\n", "")
    assert problems == ["password ******** in <smtp-user alpha> is missing (the host view has it)"]


def test_relay_sources_the_view_defines_pass_and_none_other():
    m = model()
    text = render(m, "pmta-1", caps_for(m), {"relay_sources": ["10.1.0.0/16"]})
    assert "<source 10.1.0.0/16>\n    always-allow-relaying yes\n" in text
    for everything in ("0/0", "0.0.0.0/0", "::/0"):
        message = _render_error(m, "pmta-1", caps_for(m), settings={"relay_sources": [everything]})
        assert "pmta_config_relay_sources[0]: %s would make PowerMTA an open relay" % everything in message
    message = _render_error(m, "pmta-1", caps_for(m), settings={"http_access": [{"source": "0/0", "level": "admin"}]})
    assert "pmta_config_http_access[0]: admin access for 0/0 would let any address control PowerMTA" in message


# ---------------------------------------------------------------------------------------------
# The template: typed filters only, nothing printed raw, layout checked against the view
# ---------------------------------------------------------------------------------------------
def _template_variant(tmp_path, old, new):
    with open(pmta_template.DEFAULT_TEMPLATE) as handle:
        source = handle.read()
    assert old in source
    path = tmp_path / "config.j2"
    path.write_text(source.replace(old, new))
    return str(path)


def test_a_template_that_prints_a_raw_value_is_refused(tmp_path):
    m = model()
    variant = _template_variant(tmp_path, "{{ t.password | pmta_password }}", "{{ t.password.value }}")
    message = _render_error(m, "pmta-1", caps_for(m), template=variant)
    assert message == "host pmta-1: template bug: the template prints str without a typed filter"
    variant = _template_variant(tmp_path, "{{ v.hostname | pmta_hostname }}", "{{ v.hostname | pmta_path }}")
    message = _render_error(m, "pmta-1", caps_for(m), template=variant)
    assert "host pmta-1: template bug: host pmta-1: mailfleet_ips[192.0.2.1].hostname is a hostname value, " \
           "printed with the filter for path" == message


def test_a_template_that_adds_or_drops_a_directive_is_refused(tmp_path):
    m = model()
    variant = _template_variant(tmp_path, "    allow-mailmerge no\n</source>\n\n{% endfor %}",
                                "    allow-mailmerge no\n</source>\n\n{% endfor %}\nrelay-domain example.com\n")
    message = _render_error(m, "pmta-1", caps_for(m), settings={"relay_sources": ["10.1.0.0/16"]}, template=variant)
    assert "relay-domain would let clients relay; the host view has no such directive" in message
    variant = _template_variant(tmp_path, "    smtp-service yes\n</source>\n<smtp-user", "</source>\n<smtp-user")
    message = _render_error(m, "pmta-1", caps_for(m), template=variant)
    assert "smtp-service yes in <source mailfleet-alpha> is missing (the host view has it)" in message


def test_settings_are_read_strictly():
    m = model()
    cases = [
        ({"postmastr": "a@example.com"}, "_pmta_config_settings.postmastr: unknown setting"),
        ({"acct": {"record": "d"}}, "pmta_config_acct.record: unknown key"),
        ({"paths": {"spool_dir": "/x"}}, "pmta_config_spool_dir" if False else "_pmta_config_settings.paths.spool_dir"),
        ({"smtp_listeners": "0.0.0.0:25"}, "pmta_config_smtp_listeners: expected a list, got a string"),
        ({"http_access": [{"source": "10.0.0.0/8"}]}, "pmta_config_http_access[0]: expected a mapping with exactly"),
        ({"http_mgmt_port": "8080 x"}, "pmta_config_http_mgmt_port: expected a TCP port number"),
        ({"domain_defaults": {"dkim-sign": "maybe"}}, "pmta_config_domain_defaults.dkim-sign: expected yes, no, true or false"),
        ({"domain_defaults": "x"}, "pmta_config_domain_defaults: expected a mapping"),
    ]
    for settings, expected in cases:
        assert expected in _render_error(m, "pmta-1", caps_for(m), settings=settings), settings


def test_caps_are_read_strictly_and_a_missing_cap_is_zero():
    m = model()
    for patch, expected in [({"daily": "50"}, "pmta_config_caps[192.0.2.1].daily: expected an integer, got a string"),
                            ({"daily": True}, "pmta_config_caps[192.0.2.1].daily: expected an integer, got a boolean"),
                            ({"providers": {"gmail\n<x>": 5}}, "pmta_config_caps[192.0.2.1].providers: unknown provider"),
                            ({"providers": {"gmail": 5.5}}, "pmta_config_caps[192.0.2.1].providers.gmail: expected an integer"),
                            ({"stage": "1"}, "pmta_config_caps[192.0.2.1].stage: expected an integer"),
                            ({"reason": "ok\n</virtual-mta>"}, "pmta_config_caps[192.0.2.1].reason: contains U+000A")]:
        assert expected in _render_error(m, "pmta-1", caps_for(m, **{"192.0.2.1": patch})), patch
    caps = caps_for(m)
    del caps["192.0.2.1"]
    assert "max-smtp-msg-rate 0\n" in block(render(m, "pmta-1", caps), "virtual-mta", "alpha-192-0-2-1")


def test_passwords_powermta_cannot_hold_are_refused_without_showing_them():
    m = model()
    for bad, why in [("Qz#Wv-9kTq", "'#' starts a comment"), ("Qz<Wv-9kTq", "'<' and '>' delimit blocks"),
                     ('Qz"Wv-9kTq', "double quote"), ("Qz\u00a0Wv-9kTq", "U+00A0 (NO-BREAK SPACE)"),
                     (" QzWv-9kTq", "starts or ends")]:
        message = _render_error(m, "pmta-1", caps_for(m), {"alpha": bad})
        assert message.startswith("host pmta-1: mailfleet_tenants.alpha.smtp_password: ") and why in message
        assert bad not in message and bad[2:] not in message


def test_what_the_host_side_module_imports_stays_stdlib_only():
    """pmta_config (the module) runs on PowerMTA hosts: pmta_render and pmta_check must not pull in
    jinja2, Ansible or any other third-party package; the template lives in plugin_utils."""
    import subprocess
    import sys
    from helpers import ROOT
    code = ("import sys; sys.path.insert(0, %r)\n"
            "from ansible_collections.mailfleet.fleet.plugins.module_utils import pmta_render, pmta_check\n"
            "third = sorted(m.split('.')[0] for m in sys.modules if m.split('.')[0] in "
            "('jinja2', 'ansible', 'yaml', 'markupsafe'))\n"
            "print(','.join(third))\n" % (ROOT + "/collections"))
    out = subprocess.run([sys.executable, "-I", "-c", code], stdout=subprocess.PIPE, universal_newlines=True, check=True)
    assert out.stdout.strip() == ""


# ---------------------------------------------------------------------------------------------
# In-day backoff (issue 14.4): <smtp-pattern-list> rules from the ledger's reply table, backoff
# rates from each provider's cap today, in the same template and parse-back check.
# ---------------------------------------------------------------------------------------------
def _rules(text, provider):
    body = block(text, "smtp-pattern-list", "mailfleet-backoff-" + provider)
    return [line.strip() for line in body.splitlines() if line.strip().startswith("reply ")]


def test_backoff_rules_are_the_reply_tables_rows_and_rates_follow_the_caps():
    import re

    from ansible_collections.mailfleet.fleet.plugins.module_utils import capacity, replies
    m = model()
    caps = caps_for(m)
    text = render(m, "pmta-1", caps)
    assert check(m, "pmta-1", text) == []
    # a list for each provider this host's caps name (here gmail and yahoo), none for "other"
    assert sorted(caps["192.0.2.1"]["providers"]) == ["gmail", "yahoo"]
    for prov in ("gmail", "yahoo"):
        rows = replies.patterns(prov, ("rate_limited", "reputation"))
        assert rows, prov
        assert _rules(text, prov) == ["reply /%s/ mode=backoff" % regex for _c, regex, _r in rows]
    assert "mailfleet-backoff-other" not in text and "mailfleet-backoff-microsoft" not in text
    # each provider's queue of each VMTA: its pattern list and a backoff rate from its cap today
    for ip in ("192.0.2.1", "192.0.2.2"):
        vmta = block(text, "virtual-mta", "alpha-" + ip.replace(".", "-"))
        allowed = capacity.effective_provider_caps(caps[ip])
        for prov in sorted(caps[ip]["providers"]):
            cap = allowed[prov]
            dom = vmta.split("<domain %s.rollup>" % prov)[1].split("</domain>")[0]
            assert "smtp-pattern-list mailfleet-backoff-%s" % prov in dom
            assert "backoff-max-msg-rate %s\n" % capacity.backoff_rate(cap) in dom
            assert "backoff-retry-after 30m" in dom and "backoff-to-normal-after 2h" in dom
    # real replies that must put the queue into backoff (PowerMTA: first match, case-insensitive)
    real = {
        "gmail": "421-4.7.28 [192.0.2.1] Our system has detected an unusual rate of unsolicited mail originating "
                 "from your IP address. To protect our users from spam, mail sent from your IP address has been "
                 "temporarily rate limited.",
        "yahoo": "421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume or user "
                 "complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
        "microsoft": "451 4.7.650 The mail server [192.0.2.1] has been temporarily rate limited due to IP "
                     "reputation. For e-mail delivery information, see https://postmaster.live.com (S775)",
    }
    for prov, reply in real.items():
        regexes = [rx for _c, rx, _r in replies.patterns(prov, ("rate_limited", "reputation"))]
        assert any(re.search(rx, reply, re.I) for rx in regexes), prov


def test_backoff_settings_are_rendered_and_checked():
    m = model()
    text = render(m, "pmta-1", caps_for(m), {"backoff": {"retry_after": "10m", "to_normal_after": "6h"}})
    assert "backoff-retry-after 10m" in text and "backoff-to-normal-after 6h" in text
    for bad in ({"retry_after": "soon"}, {"to_normal_after": ""}, {"to_normal_after": 0}, {"retry": "1h"}):
        try:
            render(m, "pmta-1", caps_for(m), {"backoff": bad})
        except (pmta_render.GrammarError, pmta_template.RenderError) as exc:
            assert "pmta_config_backoff" in str(exc)
        else:
            raise AssertionError("accepted %r" % (bad,))


def test_tampered_backoff_rules_are_caught_by_the_parse_back():
    m = model()
    problems, _t = _tampered(m, "/ mode=backoff\n", "/ mode=normal\n")
    assert problems and "is not in the host view" in problems[0]
    problems, _t = _tampered(m, "backoff-retry-after 30m", "backoff-retry-after 1m")
    assert any("backoff-retry-after 1m" in p for p in problems)
    problems, _t = _tampered(m, "        smtp-pattern-list mailfleet-backoff-gmail\n", "")
    assert problems


def test_backoff_rate_never_exceeds_the_cap_over_a_day():
    from ansible_collections.mailfleet.fleet.plugins.module_utils import capacity, grammar
    assert capacity.backoff_rate(0) == "0"
    for cap in list(range(1, 3000)) + [10000, 123457]:
        rate = capacity.backoff_rate(cap)
        grammar.rate(rate)
        n, per = rate.split("/")
        per_day = int(n) * (24 if per == "h" else 1440 // int(per[:-1]))
        assert 1 <= per_day <= cap, (cap, rate)
        assert per_day >= cap // 2 or cap < 48, (cap, rate)  # close to an even spread of the cap
