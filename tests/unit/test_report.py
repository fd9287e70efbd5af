"""Run report: structure from a simulated fleet, Markdown and self-contained HTML, determinism."""
import html.parser
import json
import os
import subprocess
import sys

import pytest

from ansible_collections.mailfleet.fleet.plugins.module_utils import report as rp
from test_metrics import LISTED_IP, simulate_fleet

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULE = os.path.join(ROOT, "plugins", "modules", "mailfleet_report.py")


@pytest.fixture(scope="module")
def fleet():
    return simulate_fleet()


@pytest.fixture(scope="module")
def report(fleet):
    return rp.build_report(fleet["model"], fleet["plan_report"], fleet["ledgers"], fleet["health"],
                           fleet["history"], fleet["today"], days=14)


def _rows(report):
    return {r["address"]: r for t in report["tenants"] for r in t["ips"]}


def test_structure(fleet, report):
    plan = fleet["plan_report"]
    assert report["date"] == plan["date"] and len(report["days"]) == 14 and report["days"][-1] == plan["date"]
    assert [t["name"] for t in report["tenants"]] == ["sos-expat", "ulixai"]
    rows = _rows(report)
    assert set(rows) == set(plan["ips"])
    for ip, dec in plan["ips"].items():
        r = rows[ip]
        assert (r["daily"], r["action"], r["reason"], r["stage"]) == (dec["daily"], dec["action"], dec["reason"],
                                                                       dec["stage"])
        assert r["tenant"] == dec["tenant"] and r["host"] == dec["host"]
        assert r["history"][-1] == {"day": plan["date"], "cap": dec["daily"], "sent": None}
    for t in report["tenants"]:
        assert t["capacity"] == plan["capacity"][t["name"]]
    assert report["totals"]["capacity"] == sum(plan["capacity"].values())
    assert report["totals"]["actions"] == plan["actions"]


def test_sent_rates_and_history_from_ledger(fleet, report):
    rows = _rows(report)
    led = fleet["ledgers"]["198.51.100.21"]
    yday = report["days"][-2]
    counts = led[yday]
    sent = sum(c["delivered"] + c["hard_bounce"] + c["soft_bounce"] for c in counts.values())
    hard = sum(c["hard_bounce"] for c in counts.values())
    r = rows["198.51.100.21"]
    assert r["sent_yesterday"] == sent and r["rates"]["hard_bounce"] == pytest.approx(hard / sent)
    assert r["rate_status"]["hard_bounce"] == "over" and r["action"] == "step_back"
    assert r["cap_before"] == fleet["history"][yday]["198.51.100.21"]
    assert r["cap_change"] == r["daily"] - r["cap_before"]
    for h in r["history"][:-1]:
        day = led.get(h["day"], {})
        assert h["sent"] == sum(c["delivered"] + c["hard_bounce"] + c["soft_bounce"] for c in day.values())
        assert h["cap"] == fleet["history"][h["day"]]["198.51.100.21"]


def test_health_and_dns_auth(report):
    rows = _rows(report)
    listed = rows[LISTED_IP]
    assert listed["standby"] and listed["listed"] == ["psbl.surriel.com", "zen.spamhaus.org"]
    assert [x["critical"] for x in listed["listings"]] == [False, True]
    assert listed["fcrdns"] == "fail" and rows["192.0.2.10"]["fcrdns"] == "ok"
    assert rows["192.0.2.11"]["fcrdns"] is None
    sos = report["tenants"][0]
    assert sos["domains"][0] == {"name": "sos-expat.example.com", "severity": "warn",
                                 "checks": {"spf": "ok", "dkim": "ok", "dmarc": "warn"}}
    assert sos["domains"][1]["severity"] is None
    assert report["tenants"][1]["domains"][0]["checks"]["spf"] == "fail"
    assert report["totals"]["listed"] == 1 and report["totals"]["standby"] == 1


def test_markdown(report):
    md = rp.render_markdown(report)
    assert md.startswith("# mailfleet warmup report — %s\n" % report["date"])
    assert "## Tenant sos-expat" in md and "## Tenant ulixai" in md
    for r in _rows(report).values():
        assert r["address"] in md and rp._md(r["reason"]) in md
    assert "**3.50%** ⚠" in md or "⚠" in md
    assert "zen.spamhaus.org (critical)" in md
    # every table row has the same number of cells as its header
    for block in md.split("\n\n"):
        lines = [ln for ln in block.splitlines() if ln.startswith("|")]
        if lines:
            widths = {ln.replace("\\|", "").count("|") for ln in lines}
            assert len(widths) == 1, block


class _Checker(html.parser.HTMLParser):
    VOID = {"meta", "br", "rect", "line", "polyline", "link", "img"}

    def __init__(self):
        super().__init__()
        self.stack, self.tags, self.errors, self.attrs = [], [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend(attrs)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend(attrs)

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append("unexpected </%s> (open: %s)" % (tag, self.stack[-3:]))
        else:
            self.stack.pop()


def test_html_self_contained_and_well_formed(report):
    page = rp.render_html(report)
    chk = _Checker()
    chk.feed(page)
    chk.close()
    assert not chk.errors and not chk.stack
    assert "script" not in chk.tags and "link" not in chk.tags and "img" not in chk.tags
    assert chk.tags.count("svg") == 5
    for name, value in chk.attrs:
        if name in ("src", "href"):
            pytest.fail("external reference %s=%s" % (name, value))
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page and "@import" not in page and "url(" not in page
    for r in _rows(report).values():
        assert r["address"] in page
    assert "listed on zen.spamhaus.org" in page


def test_deterministic(fleet, report):
    again = rp.build_report(json.loads(json.dumps(fleet["model"])), dict(fleet["plan_report"]),
                            dict(reversed(list(fleet["ledgers"].items()))), fleet["health"], fleet["history"],
                            fleet["today"])
    assert rp.render_html(again) == rp.render_html(report)
    assert rp.render_markdown(again) == rp.render_markdown(report)
    json.dumps(report)  # serialisable


def test_without_model_or_history(fleet):
    rep = rp.build_report(None, fleet["plan_report"], {}, {}, {}, None, days=3)
    rows = _rows(rep)
    assert all(r["cap_before"] is None and r["cap_change"] is None for r in rows.values())
    assert "new" in rp.render_markdown(rep)
    rp.render_html(rep)


def test_update_history(fleet):
    plan = fleet["plan_report"]
    hist = {"2020-01-01": {"192.0.2.10": 5}, plan["date"]: {"192.0.2.10": 1}}
    new = rp.update_history(hist, plan, keep_days=30)
    assert "2020-01-01" not in new and new[plan["date"]]["192.0.2.10"] == plan["ips"]["192.0.2.10"]["daily"]
    assert hist[plan["date"]] == {"192.0.2.10": 1}
    assert rp.load_history(rp.dump_history(new)) == new
    with pytest.raises(ValueError):
        rp.load_history('{"not-a-day": {}}')


def test_chart_marks_sent_over_cap():
    row = {"address": "192.0.2.1", "history": [{"day": "2026-01-01", "cap": 100, "sent": 150},
                                               {"day": "2026-01-02", "cap": None, "sent": 20},
                                               {"day": "2026-01-03", "cap": 200, "sent": None}]}
    svg = rp.chart_svg(row, None, "2026-01-03")
    assert svg.count("<polyline") == 2 and "#cf222e" in svg and svg.startswith("<svg")


# --------------------------------------------------------------------------------------------
# Module
# --------------------------------------------------------------------------------------------
def run_module(tmp_path, args, check=False, diff=True):
    args = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
    argfile = tmp_path / "args.json"
    argfile.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "collections"))
    out = subprocess.run([sys.executable, MODULE, str(argfile)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True, env=env, timeout=60)
    return json.loads(out.stdout)


def test_module_check_write_idempotent(fleet, tmp_path):
    out = tmp_path / "reports"
    yday = sorted(fleet["history"])[-2]
    (tmp_path / "reports").mkdir()
    (out / "history.json").write_text(json.dumps({d: c for d, c in fleet["history"].items() if d <= yday}))
    args = {"dir": str(out), "plan_report": fleet["plan_report"], "model": fleet["model"],
            "ledgers": fleet["ledgers"], "health": fleet["health"]}
    date = fleet["today"]
    before = sorted(os.listdir(str(out)))
    res = run_module(tmp_path, args, check=True)
    assert res["changed"] and sorted(os.listdir(str(out))) == before
    assert [os.path.basename(f) for f in res["changed_files"]] == [
        "warmup-%s.md" % date, "warmup-%s.html" % date, "latest.html", "history.json"]
    assert [d["after_header"] for d in res["diff"]] == [res["changed_files"][0], res["changed_files"][3]]
    res = run_module(tmp_path, args)
    assert res["changed"] and res["totals"]["ips"] == 5
    assert (out / ("warmup-%s.html" % date)).read_text() == (out / "latest.html").read_text()
    hist = json.loads((out / "history.json").read_text())
    assert hist[date] == {ip: c["daily"] for ip, c in fleet["caps"].items()}
    assert "# mailfleet warmup report" in (out / ("warmup-%s.md" % date)).read_text()
    res = run_module(tmp_path, args)
    assert not res["changed"] and res["changed_files"] == [] and res["diff"] == []
    assert not [f for f in os.listdir(str(out)) if f.startswith(".")]


def test_module_bad_history_fails_cleanly(fleet, tmp_path):
    (tmp_path / "history.json").write_text("{broken")
    res = run_module(tmp_path, {"dir": str(tmp_path), "plan_report": fleet["plan_report"]})
    assert res["failed"] and "history" in res["msg"] and "Traceback" not in res["msg"]


def test_stuck_ips_and_provider_stages_are_shown(fleet):
    """Issue 14.5 / 14.6: each IP row shows its providers' own stages and caps; an IP the planner
    reports stuck is listed first with why, in Markdown and HTML, and counted."""
    plan = json.loads(json.dumps(fleet["plan_report"]))
    ip = sorted(plan["ips"])[0]
    dec = plan["ips"][ip]
    dec["stuck"] = {"since": "2026-01-01", "stage": 1, "sending_days": 12,
                    "why": "fill: 0 of the last 10 sending days delivered >= 45 (average 40/day, 89% of the 45 needed)"}
    dec["provider_stages"] = {"gmail": 1, "microsoft": 1, "other": 1, "yahoo": 1}
    plan["stuck"] = {ip: dec["stuck"]}
    rep = rp.build_report(fleet["model"], plan, fleet["ledgers"], fleet["health"], fleet["history"], fleet["today"],
                          days=14)
    assert rep["totals"]["stuck"] == 1 and [r["address"] for r in rep["stuck"]] == [ip]
    row = _rows(rep)[ip]
    assert [p["provider"] for p in row["provider_rows"]] == ["gmail", "microsoft", "yahoo", "other"]
    assert all(p["stage"] == 1 for p in row["provider_rows"])
    md = rp.render_markdown(rep)
    assert "## Stuck IPs" in md and "89% of the 45 needed" in md
    assert md.index("## Stuck IPs") < md.index(ip)
    html_text = rp.render_html(rep)
    assert "Stuck IPs" in html_text and "89% of the 45 needed" in html_text
    # without stuck IPs there is no such section
    assert "Stuck IPs" not in rp.render_markdown(rp.build_report(
        fleet["model"], fleet["plan_report"], fleet["ledgers"], fleet["health"], fleet["history"], fleet["today"],
        days=14)) or fleet["plan_report"].get("stuck")
