"""The PowerMTA stand-in (tests/standins/pmta/pmta) is never kinder than PowerMTA: it refuses what
the v5.0 guide does not allow, and where the guide is silent it is stricter. mailfleet's checker
(pmta_check) refuses the same classes, independently (the two share no code)."""
import os
import subprocess
import sys

import pytest

from ansible_collections.mailfleet.fleet.plugins.module_utils import fleet
from ansible_collections.mailfleet.fleet.plugins.module_utils.pmta_check import check_text
from ansible_collections.mailfleet.fleet.plugins.plugin_utils import pmta_template

from fleetdata import caps_for, raw
from helpers import PMTA_STANDIN

KEY = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"

GOOD = """\
# Managed by mailfleet. "quoted" <tags> and # in a comment are fine
postmaster postmaster@example.com
spool /var/spool/pmta
smtp-listener 127.0.0.1:2525
http-mgmt-port 8080
http-access 127.0.0.1 admin
<acct-file /var/log/pmta/acct.csv>
    records d,b,t,f,rb
</acct-file>
<mx-rollup-list>
    mx *.google.com gmail.rollup rollup-by-ip
</mx-rollup-list>
<smtp-pattern-list backoff-gmail>
    reply /^421[- ]4\.7\.28 .*unusual rate/ mode=backoff
    reply /tss0[45]/ mode=backoff,defer-queue
    reply /ts03/ mode=backoff,disable-source-ip,reenable-after=1h
</smtp-pattern-list>
<source 0/0> # every client
    always-allow-relaying no
    smtp-service yes
</source>
<source mailfleet-a>
    default-virtual-mta a-pool
    process-x-virtual-mta no
</source>
<smtp-user a>
    authentication-method password
    password "two words"
    source mailfleet-a
</smtp-user>
<virtual-mta a-1>
\tsmtp-source-host 192.0.2.1 mta1.example.com
    domain-key s1,example.com,KEYFILE
    max-smtp-msg-rate 50/d
    <domain gmail.rollup>
        max-msg-rate 20/d
        smtp-pattern-list backoff-gmail
        backoff-max-msg-rate 1/72m
        backoff-retry-after 30m,1h
        backoff-to-normal-after 2h
    </domain>
</virtual-mta>
<virtual-mta-pool a-pool>
    virtual-mta a-1
</virtual-mta-pool>
<domain *>
    dkim-sign yes
    retry-after 10m
</domain>
"""

# (what is wrong, old, new): each must be refused by the stand-in AND by mailfleet's checker.
BAD = [
    ("LF-smuggled relay in a password", '    password "two words"\n',
     '    password two\n<source 0/0>\n    always-allow-relaying yes\n</source>\n'),
    ("'#' inside quotes starts a comment", '"two words"', '"two#words"'),
    ("quote inside a word", '"two words"', 'two"words"'),
    ("text after a closing quote", '"two words"', '"two"words'),
    ("empty quoted value", '"two words"', '""'),
    ("unbalanced quote", '"two words"', '"two words'),
    ("'<' in a directive", '"two words"', "two<words"),
    ("'>' in a directive", '"two words"', "two>words"),
    ("directive without value", '    password "two words"\n', "    password\n"),
    ("second password in one block", '    password "two words"\n', '    password "two words"\n    password other\n'),
    ("second source in one block", "    source mailfleet-a\n", "    source mailfleet-a\n    source mailfleet-a\n"),
    ("password with two words unquoted", '"two words"', "two words"),
    ("directive in the wrong block", "    records d,b,t,f,rb\n", "    records d,b,t,f,rb\n    password x\n"),
    ("block in the wrong block", "    max-smtp-msg-rate 50/d\n", "    <source 10.0.0.0/8>\n    </source>\n"),
    ("unknown block", "<mx-rollup-list>\n", "<mx-rollups>\n"),
    ("unclosed block", "</virtual-mta-pool>\n", ""),
    ("closing tag with an argument", "</virtual-mta-pool>\n", "</virtual-mta-pool a-pool>\n"),
    ("tag without its closing bracket", "<virtual-mta-pool a-pool>\n", "<virtual-mta-pool a-pool\n"),
    ("VMTA name with a space", "<virtual-mta a-1>\n", "<virtual-mta a-1 a-2>\n"),
    ("bad boolean", "    dkim-sign yes\n", "    dkim-sign yes please\n"),
    ("bad rate", "max-smtp-msg-rate 50/d", "max-smtp-msg-rate 50/fortnight"),
    ("listener with extra words", "smtp-listener 127.0.0.1:2525\n", "smtp-listener 127.0.0.1:2525 anything\n"),
    ("bad http-access level", "http-access 127.0.0.1 admin\n", "http-access 127.0.0.1 root\n"),
    ("bad postmaster", "postmaster postmaster@example.com\n", "postmaster nobody\n"),
    ("bad authentication method", "    authentication-method password\n", "    authentication-method none\n"),
    ("host name before the IP", "192.0.2.1 mta1.example.com", "mta1.example.com 192.0.2.1"),
    ("pool member not defined", "    virtual-mta a-1\n", "    virtual-mta a-9\n"),
    ("smtp-user source not defined", "    source mailfleet-a\n", "    source mailfleet-b\n"),
    ("pool named like a VMTA", "<virtual-mta-pool a-pool>", "<virtual-mta-pool a-1>"),
    # <smtp-pattern-list> and the backoff directives (guide 3.3.15, 3.3.10.34-45)
    ("pattern list not defined", "smtp-pattern-list backoff-gmail\n", "smtp-pattern-list backoff-yahoo\n"),
    ("two pattern lists named alike", "<smtp-pattern-list backoff-gmail>", "<smtp-pattern-list backoff-gmail>\n"
     "</smtp-pattern-list>\n<smtp-pattern-list backoff-gmail>"),
    ("reply without actions", "/tss0[45]/ mode=backoff,defer-queue", "/tss0[45]/"),
    ("reply with an unknown action", "mode=backoff,defer-queue", "mode=backoff,slow-down"),
    ("reply with both modes", "mode=backoff,defer-queue", "mode=backoff,mode=normal"),
    ("reply with skip-mx and bounce-queue", "mode=backoff,defer-queue", "skip-mx,bounce-queue"),
    ("reenable-after without disable-source-ip", "mode=backoff,disable-source-ip,reenable-after=1h",
     "mode=backoff,reenable-after=1h"),
    ("two reenable-after", "reenable-after=1h", "reenable-after=1h,reenable-after=2h"),
    ("reenable-after without an interval", "reenable-after=1h", "reenable-after=soon"),
    ("reply pattern not closed", "/tss0[45]/ mode=backoff,defer-queue", "/tss0[45] mode=backoff,defer-queue"),
    ("reply pattern that does not compile", "/tss0[45]/", "/tss0[45/"),
    ("text right after a pattern", "/tss0[45]/ mode", "/tss0[45]/mode"),
    ("actions split by a space", "mode=backoff,defer-queue", "mode=backoff defer-queue"),
    ("a directive other than reply in a pattern list", "    reply /tss0[45]/", "    mail-from /x/ mode=backoff\n"
     "    reply /tss0[45]/"),
    ("backoff-max-msg-rate not a rate", "backoff-max-msg-rate 1/72m", "backoff-max-msg-rate fast"),
    ("backoff-retry-after not intervals", "backoff-retry-after 30m,1h", "backoff-retry-after 30m 1h"),
    ("backoff-to-normal-after not an interval", "backoff-to-normal-after 2h", "backoff-to-normal-after later"),
    ("smtp-pattern-list with two names", "smtp-pattern-list backoff-gmail\n", "smtp-pattern-list backoff-gmail x\n"),
    ("backoff directive outside a domain", "    max-smtp-msg-rate 50/d\n", "    max-smtp-msg-rate 50/d\n"
     "    backoff-retry-after 30m\n"),
]
CHARS = {"CR": "\r", "NUL": "\x00", "VT": "\x0b", "FF": "\x0c", "ESC": "\x1b", "DEL": "\x7f", "NEL": "\x85",
         "NBSP": "\u00a0", "LS": "\u2028", "PS": "\u2029", "ZWSP": "\u200b", "RLO": "\u202e", "BOM": "\ufeff",
         "IDEOGRAPHIC SPACE": "\u3000"}
for _name, _ch in sorted(CHARS.items()):
    BAD.append(("%s in a value" % _name, '"two words"', '"two%swords"' % _ch))
    BAD.append(("%s in a comment" % _name, "# every client", "# every%sclient" % _ch))


def _standin(tmp_path, text):
    config = tmp_path / "config"
    config.write_bytes(text.encode("utf-8"))
    env = dict(os.environ, PMTA_CONFIG=str(config), PMTA_STANDIN_DIR=str(tmp_path / "standin"))
    run = subprocess.run([sys.executable, PMTA_STANDIN, "test", "config"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, universal_newlines=True, timeout=60)
    return run.returncode, run.stdout


@pytest.fixture
def good(tmp_path):
    key = tmp_path / "k.pem"
    key.write_text(KEY)
    return GOOD.replace("KEYFILE", str(key))


def test_the_good_config_passes_both(tmp_path, good):
    rc, out = _standin(tmp_path, good)
    assert rc == 0, out
    assert check_text(good, "config") == []


@pytest.mark.parametrize("what,old,new", BAD, ids=[b[0] for b in BAD])
def test_what_powermta_cannot_hold_is_refused_by_both(tmp_path, good, what, old, new):
    assert old in good
    bad = good.replace(old, new, 1)
    rc, out = _standin(tmp_path, bad)
    assert rc == 1 and "config:" in out, (what, out)
    assert check_text(bad, "config") != [], what


def test_a_reload_of_a_bad_config_keeps_the_running_one(tmp_path, good):
    config = tmp_path / "config"
    env = dict(os.environ, PMTA_CONFIG=str(config), PMTA_STANDIN_DIR=str(tmp_path / "standin"))
    config.write_text(good)
    ok = subprocess.run([sys.executable, PMTA_STANDIN, "reload"], env=env, stdout=subprocess.PIPE, universal_newlines=True)
    assert ok.returncode == 0 and "Configuration reloaded." in ok.stdout
    config.write_text(good.replace('"two words"', 'two\n<source 0/0>\n always-allow-relaying yes\n</source>'))
    bad = subprocess.run([sys.executable, PMTA_STANDIN, "reload"], env=env, stdout=subprocess.PIPE, universal_newlines=True)
    assert bad.returncode == 1 and "Configuration reloaded." not in bad.stdout
    assert (tmp_path / "standin" / "running.conf").read_text() == good


def test_rendered_configs_pass_both(tmp_path):
    m, errors = fleet.build_model(raw())
    assert not errors
    dkim = tmp_path / "dkim"
    dkim.mkdir()
    settings = {"paths": {"dkim_dir": str(dkim), "local_include": str(tmp_path / "local.conf")},
                "relay_sources": ["10.1.0.0/16"], "postmaster": "postmaster@example.com"}
    (tmp_path / "local.conf").write_text("# hand-written\n")
    for host in ("pmta-1", "pmta-2"):
        for caps in (caps_for(m), caps_for(m, **{"192.0.2.1": {"daily": 1000, "stage": None}}),
                     caps_for(m, daily=0, standby=True)):
            text, _view = pmta_template.render_host(m, host, caps, settings, {"alpha": "alpha secret"})
            for line in text.splitlines():
                if line.strip().startswith("domain-key "):
                    (tmp_path / "dkim" / os.path.basename(line.split(",")[2])).write_text(KEY)
            rc, out = _standin(tmp_path, text)
            assert rc == 0, out
            assert check_text(text, "config") == []
