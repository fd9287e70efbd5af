"""Prometheus metrics: exposition format checked with the real parser, module idempotence, dashboard."""
import datetime
import json
import math
import os
import random
import re
import subprocess
import sys

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ansible_collections.mailfleet.fleet.plugins.module_utils import metrics
from ansible_collections.mailfleet.fleet.plugins.module_utils.schedule import normalize_schedule
from ansible_collections.mailfleet.fleet.plugins.module_utils.warmup import plan_fleet

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULE = os.path.join(ROOT, "plugins", "modules", "pmta_metrics.py")
DASHBOARD = os.path.join(ROOT, "dashboards", "mailfleet.json")

START = datetime.date(2026, 3, 2)
MIX = {"gmail": 0.45, "microsoft": 0.25, "yahoo": 0.15, "other": 0.15}
FLEET_IPS = {
    # address: (tenant, host, warmup_start offset, hard bounce rate)
    "192.0.2.10": ("sos-expat", "pmta-1", 0, 0.004),
    "192.0.2.11": ("sos-expat", "pmta-1", 6, 0.004),
    "198.51.100.20": ("ulixai", "pmta-2", 0, 0.004),
    "198.51.100.21": ("ulixai", "pmta-2", 3, 0.035),  # a bad list: steps back
    "2001:db8::25": ("ulixai", "pmta-2", 0, 0.004),  # listed from day 15 on: standby
}
LISTED_IP = "2001:db8::25"


def _model():
    schedule, errors = normalize_schedule({"stages": [50, 200, 500, 1500, 3000], "min_days": 4, "full_rate": 5000,
                                           "providers": {"gmail": {"share": 0.5}, "yahoo": {"cap": 400}}},
                                          "default")
    assert not errors
    ips = {}
    for address, (tenant, host, offset, _hb) in FLEET_IPS.items():
        ips[address] = {"address": address, "version": 6 if ":" in address else 4,
                        "hostname": "mta-%s.%s.example.net" % (address.replace(".", "-").replace(":", "-"), tenant),
                        "tenant": tenant, "vmta": tenant + "-" + address, "pool": tenant + "-pool",
                        "warmup_start": (START + datetime.timedelta(days=offset)).isoformat(),
                        "schedule": "default", "overrides": {}, "host": host}
    return {"tenants": {"sos-expat": {"pool": "sos-expat-pool", "schedule": "default",
                                      "domains": [{"name": "sos-expat.example.com"},
                                                  {"name": "news.sos-expat.example.com"}]},
                        "ulixai": {"pool": "ulixai-pool", "schedule": "default",
                                   "domains": [{"name": "ulixai.example.net"}]}},
            "schedules": {"default": schedule},
            "hosts": {h: {"ips": [i for i in ips.values() if i["host"] == h]} for h in ("pmta-1", "pmta-2")},
            "ips": ips, "providers": {}}


def simulate_fleet(days=20):
    """Run the real planner day by day over synthetic sending; returns a dict with the last day's
    ``model, plan_report, caps, ledgers, health, history ({day: {ip: cap}}), today``."""
    model = _model()
    rng = random.Random(7)
    states, ledgers, history = {}, {ip: {} for ip in FLEET_IPS}, {}
    health_ips = {}
    report = caps = None
    for d in range(days):
        today = (START + datetime.timedelta(days=d)).isoformat()
        listed = d >= 15
        health_ips = {LISTED_IP: {
            "standby": listed, "reason": "listed on zen.spamhaus.org (127.0.0.3)" if listed else "",
            "listed": ["zen.spamhaus.org", "psbl.surriel.com"] if listed else [],
            "listings": ({"zen.spamhaus.org": {"since": "2026-03-17T04:00:00Z", "code": "127.0.0.3", "critical": True},
                          "psbl.surriel.com": {"since": "2026-03-17T04:00:00Z", "code": "127.0.0.2",
                                               "critical": False}} if listed else {}),
            "standby_since": "2026-03-17T04:00:00Z" if listed else None, "clean_streak": 0,
            "last_checked": today + "T04:00:00Z"}}
        states, caps, report = plan_fleet(model, states, ledgers, health_ips, today)
        history[today] = {ip: c["daily"] for ip, c in caps.items()}
        if d == days - 1:
            break
        for ip, cap in caps.items():
            if cap["standby"] or cap["daily"] <= 0:
                continue
            hb = FLEET_IPS[ip][3] if d >= 8 else 0.004
            day = {}
            for prov, share in sorted(MIX.items()):
                sent = min(int(cap["daily"] * share), cap["providers"].get(prov, cap["daily"]))
                if sent <= 0:
                    continue
                hard = int(round(sent * hb * rng.uniform(0.8, 1.2)))
                soft = int(round(sent * 0.003))
                delivered = sent - hard - soft
                day[prov] = {"delivered": delivered, "hard_bounce": hard, "soft_bounce": soft,
                             "deferred": int(round(sent * 0.02 * rng.uniform(0.5, 1.5))),
                             "complaint": int(round(delivered * 0.0005 * rng.uniform(0, 2)))}
            ledgers[ip][today] = day
    health = {"ips": health_ips, "updated": report["date"] + "T04:00:00Z",
              "dns_auth": {
                  "sos-expat.example.com:spf": {"severity": "ok", "since": "2026-03-02", "subject": "sos-expat.example.com",
                                                "check": "spf"},
                  "sos-expat.example.com:dkim": {"severity": "ok", "since": "2026-03-02",
                                                 "subject": "sos-expat.example.com", "check": "dkim"},
                  "sos-expat.example.com:dmarc": {"severity": "warn", "since": "2026-03-02",
                                                  "subject": "sos-expat.example.com", "check": "dmarc"},
                  "ulixai.example.net:spf": {"severity": "fail", "since": "2026-03-10", "subject": "ulixai.example.net",
                                             "check": "spf"},
                  "192.0.2.10:fcrdns": {"severity": "ok", "since": "2026-03-02", "subject": "192.0.2.10",
                                        "check": "fcrdns"},
                  "2001:db8::25:fcrdns": {"severity": "fail", "since": "2026-03-02", "subject": "2001:db8::25",
                                          "check": "fcrdns"}}}
    return {"model": model, "plan_report": report, "caps": caps, "ledgers": ledgers, "health": health,
            "history": history, "today": report["date"]}


@pytest.fixture(scope="module")
def fleet():
    return simulate_fleet()


def parse(text):
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_fixture_covers_every_case(fleet):
    actions = {d["action"] for d in fleet["plan_report"]["ips"].values()}
    assert "standby" in actions and "step_back" in actions or "hold" in actions
    assert fleet["plan_report"]["ips"][LISTED_IP]["standby"]


def test_every_line_parses_and_values_round_trip(fleet):
    samples = metrics.fleet_samples(fleet["plan_report"], fleet["ledgers"], fleet["health"], model=fleet["model"])
    text = metrics.render(samples)
    fams = parse(text)
    # every declared metric except the run timestamp is present
    assert set(fams) == set(metrics.METRICS) - set(metrics.VOLATILE)
    parsed = {}
    for fam in fams.values():
        assert fam.type == metrics.METRICS[fam.name][0]
        assert fam.documentation == metrics.METRICS[fam.name][1]
        for s in fam.samples:
            parsed[(s.name, tuple(sorted(s.labels.items())))] = s.value
    assert len(parsed) == len(samples)
    for name, labels, value in samples:
        got = parsed[(name, tuple(sorted((k, str(v)) for k, v in labels.items())))]
        assert got == float(value), (name, labels)
    # each non-comment line is a sample, each family has exactly one HELP and TYPE line
    lines = text.splitlines()
    assert sum(1 for ln in lines if not ln.startswith("#")) == len(samples)
    assert sum(1 for ln in lines if ln.startswith("# TYPE ")) == len(fams)


def test_values_match_plan_and_ledger(fleet):
    rep, led = fleet["plan_report"], fleet["ledgers"]
    fams = parse(metrics.render_fleet(rep, led, fleet["health"], model=fleet["model"]))

    def val(name, **labels):
        hits = [s.value for s in fams[name].samples
                if all(s.labels.get(k) == v for k, v in labels.items())]
        assert len(hits) == 1, (name, labels, hits)
        return hits[0]

    yday = metrics.yesterday_of(rep["date"])
    for ip, dec in rep["ips"].items():
        assert val("mailfleet_ip_daily_cap", ip=ip) == dec["daily"]
        assert val("mailfleet_ip_standby", ip=ip) == (1 if dec["standby"] else 0)
        assert val("mailfleet_ip_action", ip=ip, action=dec["action"]) == 1
        assert sum(s.value for s in fams["mailfleet_ip_action"].samples if s.labels["ip"] == ip) == 1
        sent = sum(r["delivered"] + r["hard_bounce"] + r["soft_bounce"] for r in led[ip].get(yday, {}).values())
        assert val("mailfleet_ip_sent_yesterday", ip=ip) == sent
        if dec["stage"] is not None:
            assert val("mailfleet_ip_warmup_stage", ip=ip) == dec["stage"]
    for tenant, cap in rep["capacity"].items():
        assert val("mailfleet_tenant_capacity", tenant=tenant) == cap
        assert sum(s.value for s in fams["mailfleet_tenant_host_capacity"].samples
                   if s.labels["tenant"] == tenant) == cap
    assert val("mailfleet_ip_listed", ip=LISTED_IP) == 1
    assert val("mailfleet_ip_listings", ip=LISTED_IP) == 2
    assert val("mailfleet_ip_dnsbl_listed", ip=LISTED_IP, zone="zen.spamhaus.org") == 1
    assert val("mailfleet_ip_dnsbl_listed", ip=LISTED_IP, zone="psbl.surriel.com", critical="false") == 1
    assert val("mailfleet_ip_rate_threshold", ip="192.0.2.10", rate="complaint") == 0.003
    rate = val("mailfleet_ip_rate", ip="198.51.100.21", rate="hard_bounce", window="yesterday")
    assert 0.02 < rate < 0.05
    assert val("mailfleet_plan_date_timestamp_seconds") == (
        datetime.datetime.strptime(rep["date"], "%Y-%m-%d").replace(tzinfo=datetime.timezone.utc).timestamp())


def test_host_filter(fleet):
    fams = parse(metrics.render_fleet(fleet["plan_report"], fleet["ledgers"], fleet["health"], host="pmta-1"))
    assert {s.labels["ip"] for s in fams["mailfleet_ip_daily_cap"].samples} == {"192.0.2.10", "192.0.2.11"}
    assert {s.labels["tenant"] for s in fams["mailfleet_tenant_capacity"].samples} == {"sos-expat"}


def test_deterministic_and_sorted(fleet):
    a = metrics.render_fleet(fleet["plan_report"], fleet["ledgers"], fleet["health"], model=fleet["model"])
    shuffled = dict(reversed(list(fleet["plan_report"]["ips"].items())))
    b = metrics.render_fleet(dict(fleet["plan_report"], ips=shuffled), fleet["ledgers"], fleet["health"],
                             model=fleet["model"])
    assert a == b
    names = [ln.split()[2] for ln in a.splitlines() if ln.startswith("# TYPE")]
    assert names == sorted(names)


def test_escaping_round_trips():
    nasty = 'a "quoted" \\ back\nslash'
    text = metrics.render([("mailfleet_ip_listings", {"ip": nasty, "tenant": "t", "host": "h"}, 3),
                           ("mailfleet_ip_rate", {"ip": "x", "tenant": "t", "host": "h", "rate": "complaint",
                                                  "window": "stage"}, 0.1 + 0.2),
                           ("mailfleet_ip_daily_cap", {"ip": "x", "tenant": "t", "host": "h"}, float("nan"))])
    fams = parse(text)
    assert fams["mailfleet_ip_listings"].samples[0].labels["ip"] == nasty
    assert fams["mailfleet_ip_rate"].samples[0].value == 0.1 + 0.2
    assert math.isnan(fams["mailfleet_ip_daily_cap"].samples[0].value)
    assert "\n\n" not in text and text.endswith("\n")


def test_undeclared_and_bad_labels_rejected():
    with pytest.raises(metrics.MetricsError, match="not declared"):
        metrics.render([("mailfleet_nope", {}, 1)])
    with pytest.raises(metrics.MetricsError, match="labels"):
        metrics.render([("mailfleet_ip_listed", {"ip": "x"}, 1)])
    with pytest.raises(metrics.MetricsError, match="duplicate"):
        metrics.render([("mailfleet_plan_date_timestamp_seconds", {}, 1)] * 2)


def test_strip_volatile(fleet):
    a = metrics.render_fleet(fleet["plan_report"], run_timestamp=1000)
    b = metrics.render_fleet(fleet["plan_report"], run_timestamp=2000)
    assert a != b and metrics.strip_volatile(a) == metrics.strip_volatile(b)
    assert "mailfleet_last_run_timestamp_seconds 1000" in a
    parse(a)


# --------------------------------------------------------------------------------------------
# The module, run as Ansible runs it (JSON args file)
# --------------------------------------------------------------------------------------------
def run_module(tmp_path, args, check=False, diff=False):
    args = dict(args)
    args["_ansible_check_mode"] = check
    args["_ansible_diff"] = diff
    argfile = tmp_path / "args.json"
    argfile.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "collections"))
    out = subprocess.run([sys.executable, MODULE, str(argfile)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True, env=env, timeout=60)
    return json.loads(out.stdout)


def test_module_writes_atomically_and_is_idempotent(fleet, tmp_path):
    prom = tmp_path / "collector" / "mailfleet.prom"
    prom.parent.mkdir()
    args = {"path": str(prom), "plan_report": fleet["plan_report"], "ledgers": fleet["ledgers"],
            "health": fleet["health"], "host": "pmta-2"}
    res = run_module(tmp_path, args, check=True, diff=True)
    assert res["changed"] and not prom.exists() and not res["written"]
    assert "mailfleet_ip_daily_cap" in res["diff"]["after"]
    res = run_module(tmp_path, args)
    assert res["changed"] and res["written"] and prom.exists()
    assert oct(prom.stat().st_mode & 0o777) == "0o644"
    assert res["ips"] == ["198.51.100.20", "198.51.100.21", LISTED_IP]
    parse(prom.read_text())
    mtime = prom.stat().st_mtime_ns
    res = run_module(tmp_path, args)
    assert not res["changed"] and not res["written"] and prom.stat().st_mtime_ns == mtime
    assert sorted(os.listdir(str(prom.parent))) == ["mailfleet.prom"]  # no temp file left


def test_module_timestamp_rewrites_but_not_changed(fleet, tmp_path):
    prom = tmp_path / "m.prom"
    args = {"path": str(prom), "plan_report": fleet["plan_report"], "timestamp": True}
    assert run_module(tmp_path, args)["changed"]
    text = prom.read_text()
    assert "mailfleet_last_run_timestamp_seconds" in text
    text = re.sub(r"(mailfleet_last_run_timestamp_seconds) \d+", r"\1 1", text)
    prom.write_text(text)
    res = run_module(tmp_path, args)
    assert not res["changed"] and res["written"]
    assert "mailfleet_last_run_timestamp_seconds 1\n" not in prom.read_text()
    # a real change is reported
    rep = json.loads(json.dumps(fleet["plan_report"]))
    rep["ips"]["192.0.2.10"]["daily"] += 1
    assert run_module(tmp_path, dict(args, plan_report=rep))["changed"]


def test_module_missing_directory_fails_cleanly(fleet, tmp_path):
    res = run_module(tmp_path, {"path": str(tmp_path / "nope" / "m.prom"), "plan_report": fleet["plan_report"]})
    assert res["failed"] and "does not exist" in res["msg"] and "Traceback" not in json.dumps(res)


# --------------------------------------------------------------------------------------------
# Grafana dashboard: valid JSON, every metric it queries is declared
# --------------------------------------------------------------------------------------------
PROMQL_WORDS = {"sum", "max", "min", "avg", "count", "by", "without", "on", "ignoring", "group_left",
                "group_right", "and", "or", "unless", "time", "rate", "increase", "topk", "bottomk",
                "label_replace", "clamp_min", "clamp_max", "offset", "bool", "vector", "scalar", "abs",
                "sort", "sort_desc", "last_over_time", "max_over_time", "min_over_time", "avg_over_time",
                "absent", "changes", "delta", "deriv", "round"}


def _exprs(obj):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "expr" and isinstance(v, str):
                yield v
            else:
                yield from _exprs(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _exprs(v)


def test_dashboard_uses_declared_metrics_only():
    with open(DASHBOARD) as fh:
        dash = json.load(fh)
    exprs = list(_exprs(dash["panels"]))
    assert len(exprs) >= 8
    used = set()
    for expr in exprs:
        stripped = re.sub(r'\{[^}]*\}', "", re.sub(r'"[^"]*"', '""', expr))
        stripped = re.sub(r"\[[^\]]*\]", "", stripped)
        stripped = re.sub(r"\$\w+", "", stripped)
        stripped = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", stripped)
        for word in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", stripped):
            if word in PROMQL_WORDS:
                continue
            assert word in metrics.METRICS, "dashboard expr uses undeclared metric %r: %s" % (word, expr)
            used.add(word)
    # the dashboard shows the core signals
    for name in ("mailfleet_ip_daily_cap", "mailfleet_ip_sent_yesterday", "mailfleet_ip_rate",
                 "mailfleet_tenant_capacity", "mailfleet_ip_listed", "mailfleet_ip_standby",
                 "mailfleet_ip_warmup_stage"):
        assert name in used
    # template variables query declared metrics too
    for var in dash["templating"]["list"]:
        if var.get("type") == "query":
            q = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            names = re.findall(r"label_values\((\w+)", q)
            assert names and all(n in metrics.METRICS for n in names)
