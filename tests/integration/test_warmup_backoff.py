"""warmup.yml end to end, issue 14: a day of Gmail ``421-4.7.28`` deferrals in the accounting file
lowers only the Gmail cap on the next run (Gmail steps back alone, Microsoft keeps its stage), and
the rendered PowerMTA config carries the backoff rules (``<smtp-pattern-list>`` with
``mode=backoff``, ``backoff-max-msg-rate`` derived from each provider's cap) -- checked by the
parse-back check and accepted by the strict pmta stand-in's reload."""
import csv
import io
import os
import re

import pytest

from helpers import WebhookReceiver, recap, reloads, run_playbook, sandbox_inventory

from ansible_collections.mailfleet.fleet.plugins.module_utils import capacity, replies

pytestmark = pytest.mark.slow

SCHEDULE = """---
mailfleet_tenants:
  alpha:
    smtp_password: alpha-secret
    domains:
      - {name: alpha.example.com, dkim_selector: s1, dkim_key_file: files/dkim.pem}
mailfleet_warmup_schedules:
  default:
    min_days: 1
    stages: [50, 200, 500]
    thresholds: {min_volume_for_rates: 10}
"""
HOSTS = """---
mailfleet_ips:
  - {address: 192.0.2.1, hostname: mta1.alpha.example.com, tenant: alpha, warmup_start: "2026-11-01"}
"""
HEADER = ["type", "timeLogged", "timeQueued", "orig", "rcpt", "orcpt", "dsnAction", "dsnStatus", "dsnDiag", "dsnMta",
          "bounceCat", "srcType", "srcMta", "dlvType", "dlvSourceIp", "dlvDestinationIp", "dlvEsmtpAvailable", "dlvSize",
          "vmta", "jobId", "envId", "queue", "vmtaPool"]
IP = "192.0.2.1"
VMTA = "alpha-192-0-2-1"
GMAIL_421 = ("smtp;421-4.7.28 [192.0.2.1] Our system has detected an unusual rate of 421-4.7.28 unsolicited mail "
             "originating from your IP address. To protect our 421-4.7.28 users from spam, mail sent from your IP "
             "address has been temporarily 421 4.7.28 rate limited. Please visit 421 4.7.28 "
             "https://support.google.com/mail/?p=UnsolicitedRateLimitError to 421 4.7.28 review our Bulk Email "
             "Senders Guidelines. a1si123456qkb.60 - gsmtp")
MX = {"gmail.com": "gmail-smtp-in.l.google.com (203.0.113.25)",
      "outlook.com": "outlook-com.olc.protection.outlook.com (203.0.113.26)"}


def record(kind, day, n, domain, diag="smtp;250 2.0.0 OK"):
    stamp = "%s 10:%02d:%02d+0000" % (day, n // 60 % 60, n % 60)
    action, status = {"d": ("relayed", "2.0.0 (success)"), "t": ("delayed", "4.7.28 (other)")}[kind]
    return [kind, stamp, stamp, "news@alpha.example.com", "r%d@%s" % (n, domain), "", action, status, diag,
            MX[domain], "", "smtp", "", "smtp", IP, "203.0.113.25", "", "1000", VMTA, "", "", "%s/%s" % (domain, VMTA),
            "alpha-pool"]


def write_acct(root, rows):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    with open(os.path.join(root, "pmta-1", "var", "log", "pmta", "acct.csv"), "w") as handle:
        handle.write(out.getvalue())


def provider_block(text, provider):
    vmta = text.split("<virtual-mta %s>" % VMTA)[1].split("</virtual-mta>")[0]
    return vmta.split("<domain %s.rollup>" % provider)[1].split("</domain>")[0]


def day_run(inv, tmp_path, today):
    proc = run_playbook("warmup.yml", inv, "-e", "mailfleet_today=%s" % today, "-e",
                        "mailfleet_report_dir=%s" % (tmp_path / "reports"), "-e",
                        "mailfleet_controller_state_dir=%s" % (tmp_path / "ctl"), tmp=tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:]
    return proc


def test_gmail_421_deferrals_lower_only_gmail_and_config_backs_off(tmp_path):
    inv, root = sandbox_inventory(tmp_path, {"group_vars/all.yml": SCHEDULE, "host_vars/pmta-1.yml": HOSTS,
                                             "host_vars/pmta-2.yml": "---\n{}\n"})
    config = os.path.join(root, "pmta-1", "etc", "pmta", "config")
    day_run(inv, tmp_path, "2026-11-10")

    # 11-10: a clean first stage, half to Gmail, half to Outlook.com
    write_acct(root, [record("d", "2026-11-10", n, "gmail.com") for n in range(25)]
               + [record("d", "2026-11-10", 100 + n, "outlook.com") for n in range(25)])
    day_run(inv, tmp_path, "2026-11-11")
    text = open(config).read()
    assert "max-smtp-msg-rate 200/d" in text
    assert "max-msg-rate 200/d" in provider_block(text, "gmail")
    assert "max-msg-rate 200/d" in provider_block(text, "microsoft")
    # yahoo was never sent to: it stays at its first stage
    assert "max-msg-rate 50/d" in provider_block(text, "yahoo")

    # 11-11: Gmail throttles -- 60 delivered, 40 tries deferred 421-4.7.28; Outlook.com clean
    rows = [record("d", "2026-11-11", n, "gmail.com") for n in range(60)]
    rows += [record("t", "2026-11-11", 200 + n, "gmail.com", GMAIL_421) for n in range(40)]
    rows += [record("d", "2026-11-11", 400 + n, "outlook.com") for n in range(100)]
    write_acct(root, rows)
    day_run(inv, tmp_path, "2026-11-12")
    after = open(config).read()
    assert "max-smtp-msg-rate 200/d" in after  # the IP itself holds: its other traffic is clean
    gmail, microsoft = provider_block(after, "gmail"), provider_block(after, "microsoft")
    assert "max-msg-rate 50/d" in gmail  # Gmail alone stepped back a stage
    assert "max-msg-rate 200/d" in microsoft
    md = open(tmp_path / "reports" / "warmup-2026-11-12.md").read()
    assert "gmail alone over a threshold" in md and "throttling/reputation" in md

    # the backoff rules: one pattern list per provider, from the ledger's own reply table
    for prov in ("gmail", "microsoft", "yahoo"):
        body = after.split("<smtp-pattern-list mailfleet-backoff-%s>" % prov)[1].split("</smtp-pattern-list>")[0]
        rules = re.findall(r"^\s*reply /(.*)/ mode=backoff$", body, re.M)
        assert rules == [regex for _cls, regex, _ref in replies.patterns(prov, ("rate_limited", "reputation"))]
        assert "smtp-pattern-list mailfleet-backoff-%s" % prov in provider_block(after, prov)
    gmail_rules = re.findall(r"^\s*reply /(.*)/ mode=backoff$", after.split(
        "<smtp-pattern-list mailfleet-backoff-gmail>")[1].split("</smtp-pattern-list>")[0], re.M)
    reply = GMAIL_421[len("smtp;"):]
    assert any(re.search(rule, reply, re.I) for rule in gmail_rules)  # PowerMTA matches case-insensitively
    assert "backoff-max-msg-rate %s" % capacity.backoff_rate(50) in gmail
    assert "backoff-max-msg-rate %s" % capacity.backoff_rate(200) in microsoft
    assert "backoff-retry-after 30m" in gmail and "backoff-to-normal-after 2h" in gmail
    # "other" is many domains, each its own queue: no rollup, no rules
    assert "<domain other.rollup>" not in after and "mailfleet-backoff-other" not in after

    # a second run the same day changes nothing
    count = len(reloads(root, "pmta-1"))
    again = day_run(inv, tmp_path, "2026-11-12")
    assert open(config).read() == after and len(reloads(root, "pmta-1")) == count
    assert recap(again.stdout)["pmta-1"]["changed"] == 0


def test_stuck_ip_is_reported_and_alerted_once(tmp_path):
    """Issue 14.6 through the playbooks: an IP that delivers 40 of its 50 a day (under the 45 of
    fill_ratio 0.9) holds; from its stuck_days-th sending day at the stage the report lists it with
    why, and the ip_stuck alert is sent once for the episode, not once a run."""
    receiver = WebhookReceiver()
    try:
        schedule = SCHEDULE.replace("thresholds: {min_volume_for_rates: 10}",
                                    "thresholds: {min_volume_for_rates: 10, stuck_days: 2}")
        alerts = 'mailfleet_alerts:\n  webhook: {url: "%s"}\n' % receiver.url
        inv, root = sandbox_inventory(tmp_path, {"group_vars/all.yml": schedule + alerts,
                                                 "host_vars/pmta-1.yml": HOSTS, "host_vars/pmta-2.yml": "---\n{}\n"})
        rows = []
        for n, today in enumerate(("2026-11-10", "2026-11-11", "2026-11-12", "2026-11-13")):
            day_run(inv, tmp_path, today)
            md = open(tmp_path / "reports" / ("warmup-%s.md" % today)).read()
            stuck = [e for e in receiver.received if e["event"]["type"] == "ip_stuck"]
            if n < 2:
                assert "Stuck IPs" not in md and not stuck
            else:
                assert "Stuck IPs" in md and "fill: " in md and "delivered >= 45" in md
                assert len(stuck) == 1 and stuck[0]["event"]["ip"] == IP
            rows += [record("d", today, 100 * n + k, "gmail.com") for k in range(40)]
            write_acct(root, rows)
    finally:
        receiver.close()
