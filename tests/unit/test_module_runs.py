"""The modules' runs as plain Python (module_utils ``*_task``) and the glue that hands them to Ansible.

Each module's ``main()`` is an argument spec, ``AnsibleModule(...)`` and ``module_run.finish``; what
it does is a module_utils function that takes the module's parameters and returns its result, or
raises ModuleFailure with a message naming the object and the operation. These tests call those
functions directly, with classes of bad input, faults and check/diff modes.
"""
import ast
import datetime
import glob
import json
import os
import stat

import pytest

from ansible_collections.mailfleet.fleet.plugins.module_utils import (
    alerts, dnsauth, dnsbl, mailwizz_ops, metrics, module_run, report_files)
from ansible_collections.mailfleet.fleet.plugins.module_utils.module_run import ModuleFailure
from test_metrics import simulate_fleet

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NOW = datetime.datetime(2026, 3, 4, 5, 6, 7, tzinfo=datetime.timezone.utc)
IP = "192.0.2.10"
ZONES = [{"zone": "zen.test", "critical": True}, {"zone": "minor.test", "critical": False}]


@pytest.fixture(scope="module")
def fleet():
    return simulate_fleet()


# ---------------------------------------------------------------------------- main() stays short
def test_every_module_main_is_short():
    long_mains = {}
    for path in sorted(glob.glob(os.path.join(ROOT, "plugins", "modules", "*.py"))):
        with open(path, encoding="utf-8") as handle:
            tree = ast.parse(handle.read())
        mains = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main"]
        assert len(mains) <= 1, path  # none: documentation of an action plugin (dkim_key)
        if not mains:
            continue
        length = mains[0].end_lineno - mains[0].lineno + 1
        if length > 30:
            long_mains[os.path.basename(path)] = length
    assert long_mains == {}


# ---------------------------------------------------------------------------- module_run
class FakeModule:
    _name = "mailfleet.fleet.fake"

    def __init__(self):
        self.exited = self.failed = None

    def exit_json(self, **kwargs):
        self.exited = kwargs
        raise SystemExit(0)

    def fail_json(self, **kwargs):
        self.failed = kwargs
        raise SystemExit(1)


def _finish(run, *args):
    module = FakeModule()
    with pytest.raises(SystemExit):
        module_run.finish(module, run, *args)
    return module


def test_finish_exits_with_the_result():
    module = _finish(lambda x: {"changed": True, "x": x}, 3)
    assert module.exited == {"changed": True, "x": 3} and module.failed is None


def test_finish_fails_with_message_and_known_values():
    def run():
        raise ModuleFailure("thing: reading /x failed: denied", path="/x")
    module = _finish(run)
    assert module.failed == {"msg": "thing: reading /x failed: denied", "path": "/x"} and module.exited is None


@pytest.mark.parametrize("exc", [KeyError("k"), TypeError("t"), RuntimeError("r"), ZeroDivisionError("z")])
def test_finish_turns_a_bug_into_a_clean_failure(exc):
    def run():
        raise exc
    module = _finish(run)
    assert module.failed["msg"] == "mailfleet.fleet.fake: unexpected %s: %s" % (type(exc).__name__, exc)
    assert "Traceback" not in module.failed["msg"]


def test_require_names_the_missing_library():
    module = FakeModule()
    module_run.require(module, ("present", True))
    assert module.failed is None
    with pytest.raises(SystemExit):
        module_run.require(module, ("present", True), ("dnspython", False))
    assert "dnspython" in module.failed["msg"]


# ---------------------------------------------------------------------------- dnsbl_check
def _dnsbl_params(**kw):
    return {**dict(ips=[IP], domains=[], zones=ZONES, nameservers=["127.0.0.1"], dqs_key=None, timeout=1.0,
                   attempts=1, workers=4, deadline=None, previous_health=None, resume_after=3, run_id=None), **kw}


def _lookup(statuses):
    calls = []

    def lookup(ips, zones, nameservers, **kw):
        calls.append((ips, zones, nameservers, kw))
        results = [{"ip": ip, "zone": z, "status": statuses.get(z, "clean"),
                    "code": "127.0.0.2" if statuses.get(z) == "listed" else None}
                   for ip in ips for z in sorted(zone["zone"] for zone in zones)]
        return results, {"queries": len(results)}
    lookup.calls = calls
    return lookup


def test_dnsbl_check_without_previous_health_reports_only():
    lookup = _lookup({"zen.test": "listed"})
    out = dnsbl.check_task(_dnsbl_params(dqs_key="k"), lookup=lookup)
    assert out["changed"] is False and out["stats"] == {"queries": 2}
    assert "health" not in out and "events" not in out
    assert {z["zone"] for z in lookup.calls[0][1]} == {"zen.test", "minor.test"} and lookup.calls[0][3]["dqs_key"] == "k"


def test_dnsbl_check_evaluates_health_with_the_run_time():
    out = dnsbl.check_task(_dnsbl_params(previous_health={}), now=NOW, lookup=_lookup({"zen.test": "listed"}))
    assert out["health"]["updated"] == "2026-03-04T05:06:07Z"
    assert out["planner_health"][IP]["standby"] is True
    assert [e["type"] for e in out["events"]] == ["new_listing", "standby"]
    again = dnsbl.check_task(_dnsbl_params(previous_health=out["health"], run_id="r2"),
                             lookup=_lookup({"zen.test": "listed"}))
    assert again["events"] == [] and again["health"]["updated"] == "r2"


@pytest.mark.parametrize("zones", [[{"critical": True}], [{"zone": "bad zone!"}], "zen.test", [42]])
def test_dnsbl_check_bad_zones_fail_before_any_lookup(zones):
    lookup = _lookup({})
    with pytest.raises(ModuleFailure, match="^dnsbl_check: invalid configuration: "):
        dnsbl.check_task(_dnsbl_params(zones=zones), lookup=lookup)
    assert lookup.calls == []


def test_dnsbl_check_lookup_config_error_is_a_clean_failure():
    def lookup(*a, **kw):
        raise dnsbl.DNSBLConfigError("nameserver 'x' is not an address")
    with pytest.raises(ModuleFailure, match="invalid configuration: nameserver 'x'"):
        dnsbl.check_task(_dnsbl_params(), lookup=lookup)


@pytest.mark.parametrize("previous", [{"ips": "nope"}, {"ips": {IP: "nope"}}, {"ips": {IP: {"listings": 5}}}])
def test_dnsbl_check_corrupt_previous_health_fails_naming_it(previous):
    with pytest.raises(ModuleFailure, match="^dnsbl_check: evaluating previous_health failed: "):
        dnsbl.check_task(_dnsbl_params(previous_health=previous), lookup=_lookup({"zen.test": "listed"}))


# ---------------------------------------------------------------------------- dns_auth_audit
def _audit_params(**kw):
    return {**dict(domains=[{"name": "example.test"}], ips=[], nameservers=["127.0.0.1"], timeout=1.0,
                   previous_state=None, run_id=None, fail_on_not_ready=False), **kw}


def _audit(severity, ready):
    def run_audit(domains, ips, nameservers, timeout):
        return {"results": [{"check": "spf", "subject": "example.test", "severity": severity}],
                "verdicts": {"example.test": {"ready": ready}},
                "summary": {"ok": 0, "warn": 0, "fail": 0, severity: 1}}
    return run_audit


def test_dns_auth_audit_tracks_a_regression_once():
    out = dnsauth.audit_task(_audit_params(), now=NOW, run_audit=_audit("fail", False))
    assert out["changed"] is False and out["dns_auth_state"]["example.test:spf"]["since"] == "2026-03-04T05:06:07Z"
    assert [e["type"] for e in out["events"]] == ["dns_auth_regression"]
    again = dnsauth.audit_task(_audit_params(previous_state=out["dns_auth_state"], run_id="r2"),
                               run_audit=_audit("fail", False))
    assert again["events"] == []


def test_dns_auth_audit_unknown_is_neither_ready_nor_failure():
    out = dnsauth.audit_task(_audit_params(fail_on_not_ready=True), now=NOW, run_audit=_audit("unknown", None))
    assert out["events"] == [] and out["dns_auth_state"] == {}


def test_dns_auth_audit_not_ready_fails_only_when_asked_with_the_results():
    out = dnsauth.audit_task(_audit_params(), now=NOW, run_audit=_audit("fail", False))
    assert out["verdicts"]["example.test"]["ready"] is False
    with pytest.raises(ModuleFailure, match="not ready for bulk sending: example.test$") as info:
        dnsauth.audit_task(_audit_params(fail_on_not_ready=True), now=NOW, run_audit=_audit("fail", False))
    assert info.value.result["verdicts"] == out["verdicts"]


@pytest.mark.parametrize("ips", [[{}], [{"address": ""}], [{"address": IP}, {"hostname": "mx.example.test"}]])
def test_dns_auth_audit_ip_without_address_fails_before_any_query(ips):
    def run_audit(*a, **kw):
        raise AssertionError("queried")
    with pytest.raises(ModuleFailure, match="every ips entry needs an address"):
        dnsauth.audit_task(_audit_params(ips=ips), run_audit=run_audit)


@pytest.mark.parametrize("exc", [ValueError("bad selector"), dnsbl.DNSBLConfigError("no nameserver")])
def test_dns_auth_audit_config_errors_are_clean(exc):
    def run_audit(*a, **kw):
        raise exc
    with pytest.raises(ModuleFailure, match="^dns_auth_audit: invalid configuration: %s$" % exc):
        dnsauth.audit_task(_audit_params(), run_audit=run_audit)


# ---------------------------------------------------------------------------- mailfleet_alert
def _alert_params(tmp_path, **kw):
    return {**dict(events=[{"id": "standby:%s:2026-03-04" % IP, "type": "standby", "ip": IP}],
                   telegram={"token": "123:SECRETTOKEN", "chat_id": "42", "api_base": "http://127.0.0.1:9"},
                   webhook=None, state_path=str(tmp_path / "alerts.json"), timeout=1.0, prefix="mf",
                   retain_days=400, fail_on_error=True), **kw}


def test_alert_check_mode_sends_nothing_and_diffs_the_keys(tmp_path):
    params = _alert_params(tmp_path)
    out = alerts.alert_task(params, check_mode=True, diff=True, now=datetime.datetime(2026, 3, 4))
    assert out["changed"] is True and out["sent"] == [] and out["failed"] == []
    assert out["would_send"] == [{"id": params["events"][0]["id"], "channel": "telegram"}]
    assert out["diff"]["before"] == "\n" and out["diff"]["after"] == "telegram|%s\n" % params["events"][0]["id"]
    assert not os.path.exists(params["state_path"])


def test_alert_already_sent_is_skipped_and_unchanged(tmp_path):
    params = _alert_params(tmp_path)
    key = "telegram|" + params["events"][0]["id"]
    with open(params["state_path"], "w", encoding="utf-8") as handle:
        json.dump({"sent": {key: "2026-03-04T00:00:00Z"}}, handle)
    out = alerts.alert_task(params, diff=True, now=datetime.datetime(2026, 3, 4))
    assert out["changed"] is False and out["skipped"] == [{"id": params["events"][0]["id"], "channel": "telegram"}]
    assert out["diff"]["before"] == out["diff"]["after"] == key + "\n"


@pytest.mark.parametrize("event", [{}, {"id": ""}, {"id": None, "type": "standby"}])
def test_alert_event_without_id_fails_before_sending(tmp_path, event):
    with pytest.raises(ModuleFailure, match="^mailfleet_alert: every event needs an id"):
        alerts.alert_task(_alert_params(tmp_path, events=[{"id": "a"}, event]))
    assert not os.path.exists(str(tmp_path / "alerts.json"))


@pytest.mark.parametrize("content", ["{broken", "[]", '{"sent": []}'])
def test_alert_corrupt_state_fails_naming_the_file(tmp_path, content):
    params = _alert_params(tmp_path)
    with open(params["state_path"], "w", encoding="utf-8") as handle:
        handle.write(content)
    with pytest.raises(ModuleFailure, match="^mailfleet_alert: reading state %s failed" % params["state_path"]):
        alerts.alert_task(params)


def test_alert_unreachable_channel_fails_without_the_token(tmp_path):
    params = _alert_params(tmp_path)
    with pytest.raises(ModuleFailure, match="1 alert.s. could not be sent") as info:
        alerts.alert_task(params, now=datetime.datetime(2026, 3, 4))
    assert "SECRETTOKEN" not in info.value.msg and "SECRETTOKEN" not in json.dumps(info.value.result)
    assert info.value.result["failed"][0]["channel"] == "telegram"
    out = alerts.alert_task(dict(params, fail_on_error=False), now=datetime.datetime(2026, 3, 4))
    assert out["changed"] is False and len(out["failed"]) == 1


# ---------------------------------------------------------------------------- pmta_metrics
def _metrics_params(fleet, path, **kw):
    return {**dict(path=str(path), plan_report=fleet["plan_report"], ledgers=fleet["ledgers"],
                   health=fleet["health"], model=fleet["model"], host=None, timestamp=False, mode="0644"), **kw}


def test_metrics_check_write_idempotent_and_mode(fleet, tmp_path):
    path = tmp_path / "mailfleet.prom"
    params = _metrics_params(fleet, path)
    out = metrics.write_task(params, check_mode=True, diff=True)
    assert out["changed"] and not out["written"] and not path.exists()
    assert out["diff"]["before"] == "" and "mailfleet_ip_daily_cap" in out["diff"]["after"]
    out = metrics.write_task(params)
    assert out["changed"] and out["written"] and stat.S_IMODE(path.stat().st_mode) == 0o644
    assert out["ips"] == sorted(fleet["plan_report"]["ips"])
    assert not metrics.write_task(params)["changed"]
    out = metrics.write_task(dict(params, mode="0640"), check_mode=True)
    assert out["changed"] and stat.S_IMODE(path.stat().st_mode) == 0o644
    out = metrics.write_task(dict(params, mode=0o640))
    assert out["changed"] and not out["written"] and stat.S_IMODE(path.stat().st_mode) == 0o640


def test_metrics_timestamp_alone_rewrites_without_change(fleet, tmp_path):
    path = tmp_path / "mailfleet.prom"
    params = _metrics_params(fleet, path, timestamp=True)
    assert metrics.write_task(params, now=1000)["changed"]
    out = metrics.write_task(params, now=2000, diff=True)
    assert not out["changed"] and out["written"] and "diff" not in out
    assert "mailfleet_last_run_timestamp_seconds 2000" in path.read_text()


@pytest.mark.parametrize("mode", ["0x644", "rw-r--r--", "9", ""])
def test_metrics_bad_mode(fleet, tmp_path, mode):
    with pytest.raises(ModuleFailure, match="^pmta_metrics: mode .* is not an octal permission"):
        metrics.write_task(_metrics_params(fleet, tmp_path / "m.prom", mode=mode))


def test_metrics_missing_collector_directory(fleet, tmp_path):
    with pytest.raises(ModuleFailure, match="directory .*/nope does not exist") as info:
        metrics.write_task(_metrics_params(fleet, tmp_path / "nope" / "m.prom"))
    assert info.value.result == {"path": str(tmp_path / "nope" / "m.prom")}


@pytest.mark.parametrize("plan", [{"date": "2026-01-01", "ips": "nope"}, {"date": "2026-01-01", "ips": [1]},
                                  {"date": "2026-01-01", "ips": {IP: "x"}}, {"date": "2026-01-01", "capacity": "x"},
                                  {"date": "x", "ips": {}}])
def test_metrics_unrenderable_input(fleet, tmp_path, plan):
    with pytest.raises(ModuleFailure, match="^pmta_metrics: cannot render the metrics for "):
        metrics.write_task(_metrics_params(fleet, tmp_path / "m.prom", plan_report=plan, model=None))


def test_metrics_unwritable_file(fleet, tmp_path):
    # an existing directory nobody may create files in: a read-only one for a user, /proc for root
    target = "/proc/mailfleet-metrics.prom" if os.geteuid() == 0 else str(tmp_path / "m.prom")
    os.chmod(str(tmp_path), 0o500)
    try:
        with pytest.raises(ModuleFailure, match="^pmta_metrics: cannot write "):
            metrics.write_task(_metrics_params(fleet, target))
    finally:
        os.chmod(str(tmp_path), 0o700)


def test_metrics_unreadable_path(fleet, tmp_path):
    (tmp_path / "m.prom").mkdir()
    with pytest.raises(ModuleFailure, match="^pmta_metrics: cannot (read|write) .*m.prom"):
        metrics.write_task(_metrics_params(fleet, tmp_path / "m.prom"))


# ---------------------------------------------------------------------------- mailfleet_report
def _report_params(fleet, directory, **kw):
    return {**dict(dir=str(directory), kind="warmup", plan_report=fleet["plan_report"], model=fleet["model"],
                   ledgers=fleet["ledgers"], health=fleet["health"], date=None, days=14, history_file=None,
                   keep_days=120, formats=["md", "html"], latest=True, mode="0644"), **kw}


def test_report_check_write_idempotent(fleet, tmp_path):
    out_dir = tmp_path / "reports"
    params = _report_params(fleet, out_dir)
    out = report_files.report_task(params, check_mode=True, diff=True)
    assert out["changed"] and not out_dir.exists()
    names = [os.path.basename(f) for f in out["changed_files"]]
    date = fleet["plan_report"]["date"]
    assert names == ["warmup-%s.md" % date, "warmup-%s.html" % date, "latest.html", "history.json"]
    assert [d["after_header"] for d in out["diff"]] == [out["changed_files"][0], out["changed_files"][3]]
    out = report_files.report_task(params)
    assert out["changed"] and "diff" not in out and sorted(os.listdir(str(out_dir))) == sorted(names)
    assert stat.S_IMODE((out_dir / names[0]).stat().st_mode) == 0o644
    again = report_files.report_task(params, diff=True)
    assert not again["changed"] and again["changed_files"] == [] and again["diff"] == []
    assert again["markdown"] == out["markdown"] and again["totals"] == out["totals"]


def test_report_formats_and_date_option(fleet, tmp_path):
    params = _report_params(fleet, tmp_path, formats=["md"], latest=True, date="2026-02-01", kind="daily")
    out = report_files.report_task(params)
    assert [os.path.basename(f) for f in out["files"]] == ["daily-2026-02-01.md", "history.json"]
    assert "2026-02-01" in json.loads((tmp_path / "history.json").read_text())


@pytest.mark.parametrize("bad, message", [
    ({"mode": "rw"}, "mode 'rw' is not an octal permission"),
    ({"kind": ""}, "kind '' cannot be used in a file name"),
    ({"kind": "a/b"}, "kind 'a/b' cannot be used in a file name"),
    ({"kind": ".hidden"}, "kind '.hidden' cannot be used in a file name"),
    ({"days": 0}, r"days must be >= 1 and keep_days >= days \(got 0, 120\)"),
    ({"days": 30, "keep_days": 29}, r"days must be .* \(got 30, 29\)"),
    ({"date": "04/03/2026"}, "the report date '04/03/2026' is not YYYY-MM-DD"),
    ({"date": "2026-02-30"}, "the report date '2026-02-30' is not YYYY-MM-DD"),
])
def test_report_bad_options_fail_before_any_file(fleet, tmp_path, bad, message):
    with pytest.raises(ModuleFailure, match="^mailfleet_report: " + message):
        report_files.report_task(_report_params(fleet, tmp_path / "r", **bad))
    assert not (tmp_path / "r").exists()


def test_report_plan_without_date(fleet, tmp_path):
    plan = dict(fleet["plan_report"])
    del plan["date"]
    with pytest.raises(ModuleFailure, match="the report date None is not YYYY-MM-DD"):
        report_files.report_task(_report_params(fleet, tmp_path, plan_report=plan))


@pytest.mark.parametrize("content", ["{broken", "[1, 2]"])
def test_report_corrupt_history_is_not_overwritten(fleet, tmp_path, content):
    (tmp_path / "history.json").write_text(content)
    with pytest.raises(ModuleFailure, match="cannot read the caps history %s" % (tmp_path / "history.json")):
        report_files.report_task(_report_params(fleet, tmp_path))
    assert (tmp_path / "history.json").read_text() == content and os.listdir(str(tmp_path)) == ["history.json"]


@pytest.mark.parametrize("bad", [{"ips": [1]}, {"ips": {IP: "x"}}, {"capacity": "x"}])
def test_report_unbuildable_plan(fleet, tmp_path, bad):
    plan = dict(fleet["plan_report"], **bad)
    with pytest.raises(ModuleFailure, match="cannot build the warmup report of "):
        report_files.report_task(_report_params(fleet, tmp_path, plan_report=plan, model=None))
    assert os.listdir(str(tmp_path)) == []


def test_report_write_failure_names_the_file(fleet, tmp_path, monkeypatch):
    date = fleet["plan_report"]["date"]
    written = []

    def atomic_write(path, text, mode):
        if path.endswith(".html"):
            raise OSError(28, "No space left on device")
        written.append(os.path.basename(path))
    monkeypatch.setattr(report_files, "atomic_write", atomic_write)
    with pytest.raises(ModuleFailure, match="^mailfleet_report: cannot write %s: No space left on device$"
                       % (tmp_path / "r" / ("warmup-%s.html" % date))) as info:
        report_files.report_task(_report_params(fleet, tmp_path / "r"))
    assert written == ["warmup-%s.md" % date] and len(info.value.result["changed_files"]) == 4


@pytest.mark.parametrize("blocker", ["file", "file/r"])
def test_report_output_under_a_file(fleet, tmp_path, blocker):
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(ModuleFailure, match="^mailfleet_report: cannot read %s" % (tmp_path / "file")):
        report_files.report_task(_report_params(fleet, tmp_path / blocker, history_file=str(tmp_path / "h.json")))


def test_report_output_that_is_a_directory(fleet, tmp_path):
    (tmp_path / "latest.html").mkdir()
    with pytest.raises(ModuleFailure, match="cannot read %s" % (tmp_path / "latest.html")):
        report_files.report_task(_report_params(fleet, tmp_path))


# ---------------------------------------------------------------------------- MailWizz runs
class NoClient:
    """A client no call may reach: the run must fail on its own input first."""

    def __getattr__(self, name):
        raise AssertionError("MailWizz called: %s" % name)


CAMPAIGN = dict(name="spring", state="present", list_name="customers", list_uid=None, segment_uid=None, tags=[],
                tags_field="TAGS", bucket_field="MF_BUCKET", subject="Hello", from_name="Shop",
                from_email="shop@example.test", reply_to="shop@example.test", send_at=None, template=None,
                template_vars={}, content="<p>hi</p>", plain_text=None, options={}, capacity_today=100,
                sent_today=0, split=False, max_days=7, next_days_capacity=None)


@pytest.mark.parametrize("bad, missing", [
    ({"subject": None}, "subject"),
    ({"subject": None, "capacity_today": None}, "subject, capacity_today"),
    ({"list_name": None}, "list_name or list_uid"),
    ({"content": None}, "template or content"),
])
def test_campaign_missing_fields_named(bad, missing):
    with pytest.raises(mailwizz_ops.OperationError, match=r"^campaign 'spring': missing %s$" % missing):
        mailwizz_ops.campaign_task(NoClient(), dict(CAMPAIGN, **bad))


@pytest.mark.parametrize("bad", [{"capacity_today": -1}, {"sent_today": -5}])
def test_campaign_negative_capacity(bad):
    with pytest.raises(mailwizz_ops.OperationError, match="must be >= 0"):
        mailwizz_ops.campaign_task(NoClient(), dict(CAMPAIGN, **bad))


def test_campaign_template_error_names_the_file(tmp_path):
    template = tmp_path / "t.html"
    template.write_text("{% if %}")
    with pytest.raises(mailwizz_ops.OperationError, match="template %s" % template):
        mailwizz_ops.campaign_task(NoClient(), dict(CAMPAIGN, content=None, template=str(template)))


SUBSCRIBERS = dict(list_name="customers", list_uid=None, subscribers=None, csv_file=None, csv_tags_separator="|",
                   tags=[], tags_field="TAGS", tags_mode="merge", bucket_field="MF_BUCKET", status="confirmed",
                   update_existing=True, chunk_size=100, fail_on_errors=False)


def test_subscribers_unreadable_csv_named(tmp_path):
    with pytest.raises(mailwizz_ops.OperationError, match="cannot read %s" % (tmp_path / "none.csv")):
        mailwizz_ops.subscribers_task(NoClient(), dict(SUBSCRIBERS, csv_file=str(tmp_path / "none.csv")))


class InfoClient:
    """Answers the read calls of mailwizz_info (lists with records missing parts, as MailWizz does)."""

    def __init__(self):
        self.stats_asked = []

    def health(self):
        return {"ok": True}

    def paginate(self, endpoint, obj):
        assert (endpoint, obj) == ("lists", "lists")
        return [{"general": {"list_uid": "L1", "name": "customers", "description": "d"},
                 "defaults": {"from_email": "shop@example.test"}}, {}]

    def campaigns(self):
        return [{"campaign_uid": "C1", "name": "spring [1/2]", "status": "sent"},
                {"campaign_uid": "C2", "name": "spring [2/2]", "status": "pending-sending"},
                {"campaign_uid": "C3", "name": "springtime", "status": "draft"}]

    @staticmethod
    def pick(what, recs, key, uid):
        return recs[0]

    def campaign_stats(self, uid):
        self.stats_asked.append(uid)
        return {"uid": uid}


def test_info_reads_what_is_asked_only():
    client = InfoClient()
    out = mailwizz_ops.gather_info(client, ["lists", "campaigns"])
    assert out["changed"] is False and "health" not in out and client.stats_asked == []
    assert out["lists"] == [{"list_uid": "L1", "name": "customers", "description": "d",
                             "from_email": "shop@example.test"},
                            {"list_uid": None, "name": None, "description": None, "from_email": None}]
    assert [c["campaign_uid"] for c in out["campaigns"]] == ["C1", "C2", "C3"]


def test_info_campaign_stats_of_every_part():
    client = InfoClient()
    out = mailwizz_ops.gather_info(client, ["campaign_stats"], campaign_name="spring", campaign_uid="C9")
    assert out["campaign_stats"] == {"C9": {"uid": "C9"}, "spring [1/2]": {"uid": "C1"}, "spring [2/2]": {"uid": "C2"}}


@pytest.mark.parametrize("name, uid, message", [(None, None, "campaign_stats needs campaign_name or campaign_uid"),
                                                ("autumn", None, "campaign 'autumn' does not exist"),
                                                ("sprin", "C1", "campaign 'sprin' does not exist")])
def test_info_campaign_stats_of_nothing_fails(name, uid, message):
    client = InfoClient()
    with pytest.raises(mailwizz_ops.OperationError, match="^%s$" % message):
        mailwizz_ops.gather_info(client, ["campaign_stats"], campaign_name=name, campaign_uid=uid)
    assert client.stats_asked == []
