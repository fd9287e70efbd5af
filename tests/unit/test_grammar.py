"""The one grammar: every class of hostile value is refused, with a message naming the key."""
import pytest

from ansible_collections.mailfleet.fleet.plugins.module_utils import grammar as g

# Characters that can smuggle a line, a token or a lookalike into a config, a DNS name or a row.
HOSTILE = ["\n", "\r", "\x00", "\t", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\u00a0", "\u2028", "\u2029",
           "\u200b", "\u202e", "\ufeff", "\u3000", "\u2003"]


@pytest.mark.parametrize("ch", HOSTILE)
@pytest.mark.parametrize("check,good", [
    (g.tenant_name, "alpha"), (g.vmta_name, "alpha-192-0-2-1"), (g.dkim_selector, "mf2026a"),
    (g.smtp_user, "alpha"), (g.hostname, "mta1.example.com"), (g.mx_pattern, "*.google.com"),
    (g.email, "ops@example.com"), (g.ip_address, "192.0.2.1"), (g.cidr, "10.0.0.0/8"),
    (g.listener, "0.0.0.0:25"), (g.path, "/etc/pmta/config"), (g.rate, "500/d"), (g.interval, "4d12h"),
    (g.size, "50M"), (g.token, "yes"), (g.keyword, "max-msg-rate"), (g.sql_identifier, "mw_"),
    (g.password, "Xy{9#k%z"), (g.text, "a comment"), (g.secret, "k{e}y 0#9"), (g.dns_label, "abc123"),
    (g.telegram_token, "123456:ABCdefGHIjklMNOpqrSTUvwx"),
])
def test_hostile_characters_refused_everywhere(check, good, ch):
    assert check(good, "k") is not None
    for bad in (good + ch, ch + good, good[:1] + ch + good[1:]):
        with pytest.raises(g.GrammarError) as info:
            check(bad, "some.key")
        assert str(info.value).startswith("some.key: ")


def test_password_message_never_repeats_the_secret():
    for bad in ('sec"ret', "sec\\ret", "sec\u00a0ret", "secret\n", " secret", "sëcret"):
        with pytest.raises(g.GrammarError) as info:
            g.password(bad, "mailfleet_tenants.a.smtp_password")
        assert "sec" not in str(info.value)
    assert g.password("Xy{{9#k %z", "p") == "Xy{{9#k %z"
    for bad in (None, 12, {"a": 1}, ["x"], True, ""):
        with pytest.raises(g.GrammarError):
            g.password(bad, "p")


def test_secret_grammars_never_repeat_the_value():
    for check, bad in ((g.secret, "qzx\nqzx"), (g.secret, " qzxqzx"), (g.telegram_token, "12:qzx/qzx-abcdefghijklmnopq"),
                       (g.dns_label, "qzx.qzx"), (g.dns_label, "-qzxqzx")):
        with pytest.raises(g.GrammarError) as info:
            check(bad, "k")
        assert "qzx" not in str(info.value)
    assert g.secret('a"b\\c') == 'a"b\\c'  # a database password may hold what PowerMTA could not


@pytest.mark.parametrize("bad", ["255.255.255.255", "169.254.1.1", "fe80::1", "fe80::1%eth0", "::ffff:192.0.2.10",
                                 "0.0.0.0", "::", "127.0.0.1", "::1", "224.0.0.1", "ff02::1", "240.0.0.1",
                                 "192.0.2.1 ", "192.0.2.01", "1.2.3", "2001:db8::g"])
def test_sending_addresses(bad):
    with pytest.raises(g.GrammarError):
        g.ip_address(bad, "mailfleet_ips[0].address")


def test_addresses_are_canonical():
    assert g.ip_address("2001:DB8:0:0::10") == "2001:db8::10"
    assert g.ip_address("198.51.100.7") == "198.51.100.7"
    assert g.cidr("0/0") == "0/0"
    with pytest.raises(g.GrammarError):
        g.cidr("10.0.0.1/8")


@pytest.mark.parametrize("bad", ["a", "-a.example", "a..example", "a.example.123", "a_b.example", "x" * 64 + ".example",
                                 "exa mple.com", "example.com\n", "ex\nample.com"])
def test_hostnames(bad):
    with pytest.raises(g.GrammarError):
        g.hostname(bad, "h")
    assert g.hostname("MTA1.Example.COM.", "h") == "mta1.example.com"


@pytest.mark.parametrize("bad", ["relative/path", "/etc/../shadow", "/etc/pmta config", "/etc/pmta\n<source 0/0>",
                                 "/etc/\"x", "/etc/#x", "/etc/<x>", ""])
def test_paths(bad):
    with pytest.raises(g.GrammarError):
        g.path(bad, "p")


def test_root():
    assert g.root("", "r") == "" and g.root(None, "r") == ""
    assert g.root("/srv/sandbox/", "r") == "/srv/sandbox"
    for bad in ("relative", "/a b", "/x\n"):
        with pytest.raises(g.GrammarError):
            g.root(bad, "mailfleet_root")


def test_tokens_and_numbers():
    assert g.token(True, "k") == "yes" and g.token(20, "k") == "20"
    for bad in ("two words", "<source", "x>", "#c", '"q"', "a\\b", ""):
        with pytest.raises(g.GrammarError):
            g.token(bad, "k")
    assert g.rate(0, "r") == "0" and g.rate(500, "r") == "500/d"
    for bad in (-1, True, 1.5, "500 /d", "lots"):
        with pytest.raises(g.GrammarError):
            g.rate(bad, "r")
    assert g.port("25", "p") == 25
    for bad in (0, 70000, "25x", True, "025"):
        with pytest.raises(g.GrammarError):
            g.port(bad, "p")
    with pytest.raises(g.GrammarError):
        g.listener("0.0.0.0:25\n<source 0/0>", "l")
    assert g.listener("[2001:db8::1]:587", "l")


def test_names_refuse_trailing_newline():
    # "$" in a Python regex matches before a trailing newline: the grammar anchors with \Z.
    for check, good in ((g.tenant_name, "alpha"), (g.vmta_name, "pool"), (g.dkim_selector, "s1"),
                        (g.smtp_user, "u"), (g.sql_identifier, "mw_")):
        with pytest.raises(g.GrammarError):
            check(good + "\n", "k")


def test_small_helpers():
    import datetime
    assert g.is_int(3) and not g.is_int(True) and not g.is_int(3.0)
    assert g.is_number(0.5) and not g.is_number(float("nan")) and not g.is_number(False)
    assert g.parse_date("2026-02-28") == datetime.date(2026, 2, 28)
    assert g.parse_date(datetime.datetime(2026, 1, 2, 3, 4)) == datetime.date(2026, 1, 2)
    for bad in ("2026-02-30", "2026-2-3", "2026-02-28\n", None, 20260228):
        assert g.parse_date(bad) is None
    with pytest.raises(g.GrammarError) as info:
        g.date("tomorrow", "mailfleet_today")
    assert str(info.value) == "mailfleet_today: expected a date YYYY-MM-DD, got 'tomorrow'"


# ---------------------------------------------------------------------------------------------
# E-mail addresses: the one class for inventory addresses and subscriber rows
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("good,canonical", [
    ("ops@example.com", "ops@example.com"), ("First.Last+tag@Example.CO.uk", "First.Last+tag@example.co.uk"),
    ("o'brien@example.net", "o'brien@example.net"), ("a_b-c=d@mail.example.org.", "a_b-c=d@mail.example.org"),
    ("x@ab.io", "x@ab.io"), ("!#$%&*/=?^`{|}~@example.test", "!#$%&*/=?^`{|}~@example.test"),
])
def test_emails_accepted(good, canonical):
    assert g.email(good, "e") == canonical
    assert g.is_email(good)


@pytest.mark.parametrize("bad", [
    # structure
    "", "plain", "@example.com", "ops@", "ops@@example.com", "ops@example", "ops@localhost",
    # the local part: dots, length, characters outside RFC 5322 atext
    ".ops@example.com", "ops.@example.com", "o..ps@example.com", "x" * 65 + "@example.com",
    '"quoted"@example.com', "o ps@example.com", "o(ps)@example.com", "o,ps@example.com", "o<ps>@example.com",
    "o\\ps@example.com", "o[ps]@example.com", "o:ps@example.com", "o;ps@example.com",
    # the domain: a TLD of one character or of digits, bad labels, an address literal
    "ops@example.c", "ops@a.b.c", "ops@example.123", "ops@-example.com", "ops@exa_mple.com", "ops@example..com",
    "ops@[192.0.2.1]", "ops@192.0.2.1", "ops@" + "x" * 64 + ".com",
    # non-ASCII and lookalikes
    "jos\u00e9@example.com", "ops@exampl\u00e9.com", "ops\uff20example.com", "ops@example\u3002com",
])
def test_emails_refused(bad):
    with pytest.raises(g.GrammarError) as info:
        g.email(bad, "mailfleet_tenants.a.from_email")
    assert str(info.value).startswith("mailfleet_tenants.a.from_email: ")
    assert not g.is_email(bad)


@pytest.mark.parametrize("bad", [None, 1, 1.5, True, ["ops@example.com"], {"ops": "example.com"}, b"ops@example.com"])
def test_emails_of_other_types_refused(bad):
    with pytest.raises(g.GrammarError):
        g.email(bad, "e")
    assert not g.is_email(bad)


def test_subscriber_rows_use_the_grammar():
    """mailwizz_ops.import_subscribers refuses a row whose EMAIL the grammar refuses (never sent),
    and passes on what the grammar accepts."""
    from ansible_collections.mailfleet.fleet.plugins.module_utils import mailwizz_ops

    class Client(object):
        calls = 0

        def list_fields(self, list_uid):
            return [{"tag": t} for t in ("EMAIL", "TAGS", "MF_BUCKET")]

        def subscribers(self, list_uid):
            return iter(())

    rows = [{"EMAIL": e} for e in ("ops@example.com", "ops@example.c", "jos\u00e9@example.com", "a..b@example.com",
                                   " first.last+x@example.org ", "", "ops@example.123")]
    result = mailwizz_ops.import_subscribers(Client(), "L1", rows, check_mode=True)
    assert result["created"] == 2
    assert [r["row"] for r in result["failed_rows"]] == [2, 3, 4, 6, 7]
    assert {r["reason"] for r in result["failed_rows"]} == {"invalid or missing EMAIL"}


@pytest.mark.parametrize("name", ["Authorization", "X-Token", "x_api.key", "A!#$%&'*+.^_`|~9"])
def test_http_header_name_accepts_rfc9110_tokens(name):
    assert g.http_header_name(name, "h") == name


@pytest.mark.parametrize("name", ["", "X Token", "X:Token", "X-Token\r\nX-Injected", "X\x00", "Ünicode",
                                  "X(Token)", "a" * 65, 'X"Q', "X/Y", "X\u00a0Y"])
def test_http_header_name_refuses_what_is_not_a_token(name):
    with pytest.raises(g.GrammarError) as err:
        g.http_header_name(name, "webhook.headers")
    assert "webhook.headers" in str(err.value)
