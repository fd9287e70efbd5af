"""The typed filters of the PowerMTA template: each refuses every class of hostile value, names
the variable at fault, and prints only what PowerMTA's parser reads back as the same one value."""
import pytest

from ansible_collections.mailfleet.fleet.plugins.module_utils import pmta_check
from ansible_collections.mailfleet.fleet.plugins.module_utils.grammar import GrammarError
from ansible_collections.mailfleet.fleet.plugins.module_utils.pmta_render import KINDS, Field
from ansible_collections.mailfleet.fleet.plugins.plugin_utils.pmta_template import FILTERS, Checked, TemplateMisuse

# Every character class that can smuggle a line, a word, a comment, a tag or a lookalike.
HOSTILE = {
    "LF": "\n", "CR": "\r", "NUL": "\x00", "TAB": "\t", "VT": "\x0b", "FF": "\x0c", "ESC": "\x1b", "DEL": "\x7f",
    "C1 NEL": "\x85", "NBSP": "\u00a0", "LINE SEPARATOR": "\u2028", "PARAGRAPH SEPARATOR": "\u2029",
    "ZERO WIDTH SPACE": "\u200b", "ZERO WIDTH JOINER": "\u200d", "RLO (bidi)": "\u202e", "LRI (bidi)": "\u2066",
    "BOM": "\ufeff", "IDEOGRAPHIC SPACE": "\u3000", "EM SPACE": "\u2003",
    "<": "<", ">": ">", '"': '"', "#": "#", "space": " ",
}
# filter -> (kind, a good value, the text it prints)
GOOD = {
    "pmta_hostname": ("hostname", "mta1.example.com", "mta1.example.com"),
    "pmta_address": ("address", "192.0.2.1", "192.0.2.1"),
    "pmta_cidr": ("cidr", "10.0.0.0/8", "10.0.0.0/8"),
    "pmta_listener": ("listener", "0.0.0.0:25", "0.0.0.0:25"),
    "pmta_path": ("path", "/etc/pmta/config", "/etc/pmta/config"),
    "pmta_rate": ("rate", "500/d", "500/d"),
    "pmta_interval": ("interval", "4d12h", "4d12h"),
    "pmta_size": ("size", "50M", "50M"),
    "pmta_bool": ("boolean", "yes", "yes"),
    "pmta_token": ("token", "d,b,t", "d,b,t"),
    "pmta_keyword": ("keyword", "max-msg-rate", "max-msg-rate"),
    "pmta_password": ("password", "Xy{9%k-z", "Xy{9%k-z"),
    "pmta_name": ("name", "alpha-192-0-2-1", "alpha-192-0-2-1"),
    "pmta_tenant": ("tenant", "alpha", "alpha"),
    "pmta_selector": ("selector", "mf2026", "mf2026"),
    "pmta_smtp_user": ("smtp_user", "alpha-user", "alpha-user"),
    "pmta_email": ("email", "postmaster@example.com", "postmaster@example.com"),
    "pmta_port": ("port", "8080", "8080"),
    "pmta_int": ("int", 12, "12"),
    "pmta_mx": ("mx", "*.google.com", "*.google.com"),
    "pmta_access_level": ("access_level", "monitor", "monitor"),
    "pmta_comment": ("comment", "cap 50/day (reason)", "cap 50/day (reason)"),
    "pmta_setting": ("interval", "10m", "10m"),
    "pmta_reply": ("reply", "tss0[45]", "tss0[45]"),
}
# What a free-text comment may hold: the line is a comment to its end, so these are harmless.
COMMENT_SAFE = {"<", ">", '"', "#", "space"}


def test_every_filter_and_kind_is_covered():
    assert set(GOOD) == set(FILTERS)
    assert {kind for kind, _v, _t in GOOD.values()} | {"boolean", "token", "int", "rate"} == set(KINDS)


@pytest.mark.parametrize("name", sorted(GOOD))
def test_a_good_value_prints_as_one_value(name):
    kind, value, text = GOOD[name]
    out = FILTERS[name](Field(kind, value, "some_var"))
    assert isinstance(out, Checked) and out == text
    if kind != "comment":
        nodes, problems = pmta_check.parse("directive-name %s\n" % out)
        assert problems == [] and len(nodes) == 1 and nodes[0].args == [text]


@pytest.mark.parametrize("where", ["end", "start", "inside"])
@pytest.mark.parametrize("label", sorted(HOSTILE))
@pytest.mark.parametrize("name", sorted(set(GOOD) - {"pmta_int"}))
def test_every_hostile_class_is_refused_and_names_the_variable(name, label, where):
    kind, good, _text = GOOD[name]
    ch = HOSTILE[label]
    bad = {"end": good + ch, "start": ch + good, "inside": good[:2] + ch + good[2:]}[where]
    field = Field(kind, bad, "pmta_config_some.key[0]")
    if kind == "comment" and label in COMMENT_SAFE:
        out = FILTERS[name](field)
        nodes, problems = pmta_check.parse("# %s\nspool /x\n" % out)
        assert problems == [] and [(n.name, n.args) for n in nodes] == [("spool", ["/x"])]
        return
    if kind == "reply" and label == "space":
        out = FILTERS[name](field)  # a pattern holds spaces: inside /.../ of a pattern list it is one word
        nodes, problems = pmta_check.parse("<smtp-pattern-list p>\n    reply /%s/ mode=backoff\n</smtp-pattern-list>\n"
                                           % out)
        assert problems == [] and nodes[0].children[0].args == ["/%s/" % bad, "mode=backoff"]
        return
    if kind == "password" and label == "space" and where == "inside":
        out = FILTERS[name](field)  # a space inside a password is quoted, and reads back as one value
        nodes, problems = pmta_check.parse("password %s\n" % out)
        assert problems == [] and nodes[0].args == [bad]
        return
    with pytest.raises(GrammarError) as info:
        FILTERS[name](field)
    message = str(info.value)
    assert message.startswith("pmta_config_some.key[0]: "), message
    if kind == "password":
        assert good[2:] not in message and good[:2] + ch not in message  # never the secret


@pytest.mark.parametrize("name", sorted(GOOD))
def test_a_trailing_newline_is_refused(name):
    kind, good, _text = GOOD[name]
    if not isinstance(good, str):
        good = str(good)
    with pytest.raises(GrammarError):
        FILTERS[name](Field(kind, good + "\n", "k"))


@pytest.mark.parametrize("name", ["pmta_int", "pmta_port", "pmta_rate"])
def test_numbers_are_numbers(name):
    kind = GOOD[name][0]
    for bad in ("12\n", "1 2", True, 1.5, None, [1], {"a": 1}, -3):
        with pytest.raises(GrammarError):
            FILTERS[name](Field(kind, bad, "k"))


def test_a_filter_takes_only_its_own_kind_of_field():
    with pytest.raises(TemplateMisuse) as info:
        FILTERS["pmta_path"](Field("hostname", "mta1.example.com", "host pmta-1: mailfleet_ips[192.0.2.1].hostname"))
    assert str(info.value) == ("host pmta-1: mailfleet_ips[192.0.2.1].hostname is a hostname value, printed with "
                               "the filter for path")
    with pytest.raises(TemplateMisuse):
        FILTERS["pmta_path"]("/etc/pmta/config")  # a raw value, not a host-view field
    with pytest.raises(TemplateMisuse):
        FILTERS["pmta_setting"](Field("path", "/x", "k"))


def test_values_of_other_types_are_refused_by_name():
    for name in ("pmta_hostname", "pmta_path", "pmta_password", "pmta_comment", "pmta_token"):
        kind = GOOD[name][0]
        for bad in (None, {"a": 1}, ["x"], 1.5):
            with pytest.raises(GrammarError) as info:
                FILTERS[name](Field(kind, bad, "the.key"))
            assert str(info.value).startswith("the.key: ")
