"""warmup.yml end to end: a day of good sending moves the rendered caps up one stage, a day of bad
sending does not; a second run the same day changes nothing; the report and metrics are written."""
import os

import pytest

from helpers import recap, reloads, run_playbook, sandbox_inventory

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
  - {address: 192.0.2.2, hostname: mta2.alpha.example.com, tenant: alpha, warmup_start: "2026-11-01"}
"""
HEADER = ("type,timeLogged,timeQueued,orig,rcpt,orcpt,dsnAction,dsnStatus,dsnDiag,dsnMta,bounceCat,srcType,srcMta,"
          "dlvType,dlvSourceIp,dlvDestinationIp,dlvEsmtpAvailable,dlvSize,vmta,jobId,envId,queue,vmtaPool")


def record(kind, ip, n, category=""):
    vmta = "alpha-" + ip.replace(".", "-")
    stamp = "2026-11-10 10:%02d:%02d+0000" % (n // 60 % 60, n % 60)
    action, status = ("relayed", "2.0.0 (success)") if kind == "d" else ("failed", "5.1.1 (bad destination mailbox address)")
    return ",".join([kind, stamp, stamp, "news@alpha.example.com", "r%d@example.org" % n, "", action, status, "smtp;250 ok",
                     "mx.example.org (203.0.113.25)", category, "smtp", "", "smtp", ip if kind == "d" else "",
                     "203.0.113.25", "", "1000", vmta, "", "", "example.org/" + vmta, "alpha-pool"])


def test_good_day_advances_bad_day_does_not(tmp_path):
    inv, root = sandbox_inventory(tmp_path, {"group_vars/all.yml": SCHEDULE, "host_vars/pmta-1.yml": HOSTS,
                                             "host_vars/pmta-2.yml": "---\n{}\n"})
    config = os.path.join(root, "pmta-1", "etc", "pmta", "config")
    report_dir = tmp_path / "reports"
    day0 = run_playbook("warmup.yml", inv, "-e", "mailfleet_today=2026-11-10", "-e", "mailfleet_report_dir=%s" % report_dir,
                        tmp=tmp_path)
    assert day0.returncode == 0, day0.stdout[-4000:]
    text = open(config).read()
    assert text.count("max-smtp-msg-rate 50/d") == 2

    # what PowerMTA logged on 2026-11-10: .1 filled its stage cleanly, .2 hard-bounced 40 %
    acct = os.path.join(root, "pmta-1", "var", "log", "pmta", "acct.csv")
    rows = [record("d", "192.0.2.1", n) for n in range(50)]
    rows += [record("d", "192.0.2.2", n) for n in range(30)]
    rows += [record("b", "192.0.2.2", 100 + n, "bad-mailbox") for n in range(20)]
    with open(acct, "w") as handle:
        handle.write(HEADER + "\n" + "\n".join(rows) + "\n")

    day1 = run_playbook("warmup.yml", inv, "-e", "mailfleet_today=2026-11-11", "-e", "mailfleet_report_dir=%s" % report_dir,
                        "-e", "mailfleet_metrics_create_dir=true", tmp=tmp_path)
    assert day1.returncode == 0, day1.stdout[-4000:]
    text = open(config).read()
    vmta1 = text.split("<virtual-mta alpha-192-0-2-1>")[1].split("</virtual-mta>")[0]
    vmta2 = text.split("<virtual-mta alpha-192-0-2-2>")[1].split("</virtual-mta>")[0]
    assert "max-smtp-msg-rate 200/d" in vmta1
    assert "max-smtp-msg-rate 50/d" in vmta2
    assert "# 192.0.2.2: cap 50/day, stage 1" in text
    assert os.path.exists(report_dir / "warmup-2026-11-11.html")
    md = open(report_dir / "warmup-2026-11-11.md").read()
    assert "192.0.2.2" in md and "advance" in md
    with open(os.path.join(root, "pmta-1", "var", "lib", "node_exporter", "textfile_collector", "mailfleet.prom")) as handle:
        metrics = [line for line in handle if "daily_cap{" in line and 'ip="192.0.2.1"' in line]
    assert metrics and metrics[0].rstrip().endswith(" 200"), metrics
    reload_count = len(reloads(root, "pmta-1"))

    again = run_playbook("warmup.yml", inv, "-e", "mailfleet_today=2026-11-11", "-e", "mailfleet_report_dir=%s" % report_dir,
                         tmp=tmp_path)
    assert again.returncode == 0, again.stdout[-4000:]
    assert open(config).read() == text and len(reloads(root, "pmta-1")) == reload_count
    assert recap(again.stdout)["pmta-1"]["changed"] == 0
