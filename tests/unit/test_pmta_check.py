"""mailfleet's PowerMTA config checker: each class of problem it must catch, with file and line."""
import pytest

from ansible_collections.mailfleet.fleet.plugins.module_utils.pmta_check import check_config, check_text

GOOD = """\
postmaster postmaster@example.com
smtp-listener 127.0.0.1:2525
<source mailfleet-a>
    default-virtual-mta a-pool
    process-x-virtual-mta no
</source>
<smtp-user a>
    password "two words"
    source mailfleet-a
</smtp-user>
<virtual-mta a-1>
    smtp-source-host 192.0.2.1 mta1.example.com
    max-smtp-msg-rate 50/d
    <domain gmail.rollup>
        max-msg-rate 20/d
    </domain>
</virtual-mta>
<virtual-mta-pool a-pool>
    virtual-mta a-1
</virtual-mta-pool>
<domain *>
    dkim-sign yes
</domain>
"""


def test_a_good_config_passes():
    assert check_text(GOOD, "config") == []


@pytest.mark.parametrize("old,new,message", [
    ("</smtp-user>\n", "", "config:7: <smtp-user> is never closed"),
    ("    dkim-sign yes\n", "    dkim-sign maybe\n", "config:22: dkim-sign expects yes|no|true|false, got 'maybe'"),
    ("    max-smtp-msg-rate 50/d\n", "    max-smtp-msg-rate fifty\n",
     "config:13: max-smtp-msg-rate expects unlimited, 0 or N/[M]{d|h|m|s}, got 'fifty'"),
    ("192.0.2.1 mta1.example.com", "mta1.example.com 192.0.2.1",
     "config:12: smtp-source-host: 'mta1.example.com' is not an IP address (the IP comes first)"),
    ("    virtual-mta a-1\n", "    virtual-mta a-9\n", "config:19: pool a-pool lists VirtualMTA a-9, which is not defined"),
    ("    source mailfleet-a\n", "    source mailfleet-b\n",
     "config:9: smtp-user a uses source mailfleet-b, which is not defined"),
    ("    default-virtual-mta a-pool\n", "    default-virtual-mta nowhere\n",
     "config:4: default-virtual-mta nowhere names no VirtualMTA or pool"),
    ("postmaster postmaster@example.com\n", "postmastr postmaster@example.com\n",
     "config:1: unknown directive 'postmastr' in the global context"),
    ("<virtual-mta-pool a-pool>", "<virtual-mta-pool a-1>", "config:18: pool a-1 has the same name as a VirtualMTA (config:11)"),
    ("<domain *>\n    dkim-sign yes\n</domain>\n", "<domain *>\n    domain-key s1,example.com,/nonexistent/k.pem\n</domain>\n",
     "config:22: unknown directive 'domain-key' in <domain>"),
])
def test_each_problem_is_named_with_its_line(old, new, message):
    assert old in GOOD
    problems = check_text(GOOD.replace(old, new), "config")
    assert message in problems, problems


def test_dkim_key_files_and_includes_are_checked_on_disk(tmp_path):
    key = tmp_path / "k.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n")
    local = tmp_path / "local.conf"
    local.write_text("<virtual-mta-pool a-pool>\n    virtual-mta a-1\n</virtual-mta-pool>\n")
    config = tmp_path / "config"
    config.write_text(GOOD.replace("    max-smtp-msg-rate 50/d\n", "    domain-key s1,example.com,%s\n    domain-key s2,"
                                   "example.com,%s/missing.pem\n" % (key, tmp_path)) + "include %s\n" % local)
    problems = check_config(str(config))
    assert "%s:14: DKIM key file %s/missing.pem does not exist" % (config, tmp_path) in problems
    assert any("VirtualMTA pool a-pool is defined twice" in p for p in problems), problems
    assert not any("k.pem" in p for p in problems)


# ---------------------------------------------------------------------------------------------
# The line grammar (pmta_check.parse, also what the renderer's parse-back reads)
# ---------------------------------------------------------------------------------------------
INVISIBLE = ["\r", "\x00", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\u00a0", "\u2028", "\u2029", "\u200b",
             "\u202e", "\ufeff", "\u3000"]


@pytest.mark.parametrize("ch", INVISIBLE)
@pytest.mark.parametrize("line", ["    password \"two words\"\n", "postmaster postmaster@example.com\n",
                                  "<virtual-mta-pool a-pool>\n"])
def test_control_and_invisible_characters_are_refused_anywhere(ch, line):
    for bad in (line.replace(" ", ch, 1), line.rstrip("\n") + " # note" + ch + "\n"):
        problems = check_text(GOOD.replace(line, bad), "config")
        assert any(("contains U+%04X" % ord(ch)) in p for p in problems), (bad, problems)


@pytest.mark.parametrize("old,new,message", [
    ('    password "two words"\n', '    password "two#words"\n', "config:8: unbalanced double quote"),
    ('    password "two words"\n', '    password two"words"\n', "config:8: double quote inside a word"),
    ('    password "two words"\n', '    password "two"words\n', "config:8: text right after a closing double quote"),
    ('    password "two words"\n', '    password ""\n', "config:8: empty quoted value"),
    ('    password "two words"\n', '    password "two\twords"\n', "config:8: TAB inside a quoted value"),
    ('    password "two words"\n', '    password two<words\n', "config:8: '<' or '>' inside a directive line"),
    ('    password "two words"\n', '    password\n', "config:8: password needs a value"),
    ('    password "two words"\n', '    pass_word x\n', "config:8: malformed directive name 'pass_word'"),
    ("</smtp-user>\n", "</smtp-user x>\n", "config:10: </smtp-user> takes no argument"),
    ("</smtp-user>\n", "</source>\n", "config:10: </source> found where </smtp-user> (opened at line 7) was expected"),
    ("<virtual-mta a-1>\n", "<virtual-mta a-1 a-2>\n", "config:11: <virtual-mta> needs one argument, got 2"),
    ("<virtual-mta a-1>\n", "<virtual-mta a-1\n", "config:11: malformed tag '<virtual-mta a-1'"),
    ("    max-smtp-msg-rate 50/d\n", "    <source 0/0>\n    </source>\n", "config:13: <source> is not allowed inside <virtual-mta>"),
    ("smtp-listener 127.0.0.1:2525\n", "smtp-listener 127.0.0.1:2525 source=a b\n",
     "config:2: smtp-listener expects 'ADDRESS:PORT [source=NAME]', got '127.0.0.1:2525 source=a b'"),
    ("smtp-listener 127.0.0.1:2525\n", "http-access 0/0 everything\n", "config:2: http-access: 'everything' is not an access level"),
    ("postmaster postmaster@example.com\n", "postmaster postmaster\n", "config:1: postmaster: 'postmaster' is not a valid e-mail"),
    ("    source mailfleet-a\n", "    source mailfleet-a\n    authentication-method magic\n",
     "config:10: authentication-method expects one of password, system, certificate, got 'magic'"),
])
def test_the_line_grammar(old, new, message):
    assert old in GOOD
    problems = check_text(GOOD.replace(old, new), "config")
    assert any(p.startswith(message) for p in problems), problems


def test_lines_end_at_lf_only_and_hash_ends_every_line():
    from ansible_collections.mailfleet.fleet.plugins.module_utils.pmta_check import parse
    nodes, problems = parse('spool /x # a "note" <with> anything\n<source 0/0> # all\n    always-allow-relaying no\n'
                            '</source>\n')
    assert problems == []
    assert [(n.name, n.args) for n in nodes] == [("spool", ["/x"]), ("source", ["0/0"])]
    assert [(n.name, n.args, n.line) for n in nodes[1].children] == [("always-allow-relaying", ["no"], 3)]
    assert nodes[1].end == 4
    _nodes, problems = parse("spool /x\u2028always-allow-relaying yes\n")
    assert [str(p) for p in problems] == ["config:1: contains U+2028 (LINE SEPARATOR), which a PowerMTA configuration "
                                          "line cannot hold"]
