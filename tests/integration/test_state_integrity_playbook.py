"""Corrupt state on a host through the real playbooks: a warmup-state.json inflated (stage_index 99,
daily x 100) or emptied (0 bytes) never deploys a higher cap, never makes the quota sync compute a
higher pool capacity, and every run names the file, the IP and the problem and raises a
state_corrupt alert (webhook receiver on loopback)."""
import json
import os
import re
import shutil

import pytest

from helpers import WebhookReceiver, run_playbook, sandbox_inventory

pytestmark = pytest.mark.slow

GROUP_VARS = """---
mailfleet_tenants:
  alpha:
    smtp_password: alpha-secret
    mailwizz: mw
    from_email: news@alpha.example.com
    domains:
      - {name: alpha.example.com, dkim_selector: s1, dkim_key_file: files/dkim.pem}
mailfleet_warmup_schedules:
  default:
    min_days: 1
    stages: [50, 200, 500]
    full_rate: 1000
    providers: {gmail: {share: 0.5}}
    thresholds: {min_volume_for_rates: 10}
mailfleet_mailwizz_instances:
  mw: {url: "http://127.0.0.1:9/api", api_key: integrity-test-key-0001}
mailfleet_smtp_listeners:
  pmta-1: {hostname: pmta-1.example.net, port: 2525}
  pmta-2: {hostname: pmta-2.example.net, port: 2525}
"""
PMTA1 = """---
mailfleet_ips:
  - {address: 192.0.2.1, hostname: mta1.alpha.example.com, tenant: alpha, warmup_start: "2026-11-01"}
  - {address: 192.0.2.2, hostname: mta2.alpha.example.com, tenant: alpha, warmup_start: "2026-11-01"}
"""
PMTA2 = """---
mailfleet_ips:
  - {address: 192.0.2.3, hostname: mta3.alpha.example.com, tenant: alpha, warmup_start: "2026-11-01"}
"""
HEADER = ("type,timeLogged,timeQueued,orig,rcpt,orcpt,dsnAction,dsnStatus,dsnDiag,dsnMta,bounceCat,srcType,srcMta,"
          "dlvType,dlvSourceIp,dlvDestinationIp,dlvEsmtpAvailable,dlvSize,vmta,jobId,envId,queue,vmtaPool")
IPS = {"pmta-1": ["192.0.2.1", "192.0.2.2"], "pmta-2": ["192.0.2.3"]}


def delivered(ip, day, n):
    vmta = "alpha-" + ip.replace(".", "-")
    stamp = "%s 10:%02d:%02d+0000" % (day, n // 60 % 60, n % 60)
    return ",".join(["d", stamp, stamp, "news@alpha.example.com", "r%d@example.org" % n, "", "relayed",
                     "2.0.0 (success)", "smtp;250 ok", "mx.example.org (203.0.113.25)", "", "smtp", "", "smtp",
                     ip, "203.0.113.25", "", "1000", vmta, "", "", "example.org/" + vmta, "alpha-pool"])


def send(root, day, per_ip):
    """What PowerMTA logged on ``day``: ``per_ip`` messages delivered by every IP."""
    for host, ips in IPS.items():
        path = os.path.join(root, host, "var", "log", "pmta", "acct-%s.csv" % day)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        rows = [delivered(ip, day, n) for ip in ips for n in range(per_ip)]
        with open(path, "w") as handle:
            handle.write(HEADER + "\n" + "\n".join(rows) + "\n")


def caps_of(root):
    """{ip: (daily, {provider: cap})} from each host's live /etc/pmta/config."""
    out = {}
    for host in IPS:
        text = open(os.path.join(root, host, "etc", "pmta", "config")).read()
        for block in text.split("<virtual-mta ")[1:]:
            body = block.split("</virtual-mta>", 1)[0]
            ip = re.search(r"smtp-source-host (\S+) ", body).group(1)
            rate = re.search(r"max-smtp-msg-rate (\S+)", body).group(1)
            provs = {p: 0 if v == "0" else int(v.split("/")[0])
                     for p, v in re.findall(r"<domain (\w+)\.rollup>\s+max-msg-rate (\S+)", body)}
            out[ip] = (0 if rate == "0" else int(rate.split("/")[0]), provs)
    return out


def state_path(root, host):
    return os.path.join(root, host, "var", "lib", "mailfleet", "warmup-state.json")


@pytest.fixture(scope="module")
def mariadb():
    from standins.mariadb import mailwizz_schema as schema
    from standins.mariadb import server as server_mod
    if not server_mod.available():
        yield None
        return
    srv = server_mod.MariaDBServer()
    srv.start()
    try:
        schema.mailwizz_database(srv, "mailwizz", "mailfleet_sync", "Sync-Pass-Integrity-1")
        conn = srv.connect(database="mailwizz")
        schema.create_delivery_server_table(conn)
        conn.close()
        yield srv
    finally:
        srv.stop()


def quota(tmp_path, inv, mariadb, state_dir, today="2026-11-12"):
    """quota-sync.yml; returns ({(tenant, host): daily_quota of active rows}, output)."""
    extra = tmp_path / "quota-vars.json"
    extra.write_text(json.dumps({"mailfleet_mailwizz_instances": {"mw": {
        "url": "http://127.0.0.1:9/api", "api_key": "integrity-test-key-0001",
        "db": {"host": "127.0.0.1", "port": mariadb.port, "name": "mailwizz", "user": "mailfleet_sync",
               "password": "Sync-Pass-Integrity-1"}}}}))
    run = run_playbook("quota-sync.yml", inv, "-e", "@%s" % extra, "-e", "mailfleet_today=%s" % today,
                       "-e", "mailfleet_mailwizz_create_servers=true", "-e", "mailfleet_controller_state_dir=%s" % state_dir,
                       tmp=tmp_path)
    assert run.returncode == 0, run.stdout[-4000:]
    conn = mariadb.connect(database="mailwizz")
    with conn.cursor() as cur:
        cur.execute("SELECT name, daily_quota, hourly_quota FROM mw_delivery_server ORDER BY name")
        rows = {name: (daily, hourly) for name, daily, hourly in cur.fetchall()
                if str(name).startswith("mailfleet:")}
    conn.close()
    (tmp_path / ("quota-sync-%s.out" % os.path.basename(str(state_dir)))).write_text(run.stdout)
    shown = re.search(r"current caps for %s: capacity ([^;\"]*)" % today, run.stdout).group(1)
    capacity = {t: int(n) for t, n in re.findall(r"(\w+) (\d+)/day", shown)}
    return rows, capacity, run.stdout


def test_inflated_or_empty_state_never_raises_a_cap(tmp_path, mariadb):
    receiver = WebhookReceiver()
    try:
        _run(tmp_path, mariadb, receiver)
    finally:
        receiver.close()


def _run(tmp_path, mariadb, receiver):
    alerts = 'mailfleet_alerts:\n  webhook: {url: "%s"}\n' % receiver.url
    inv, root = sandbox_inventory(tmp_path, {"group_vars/all.yml": GROUP_VARS + alerts,
                                             "host_vars/pmta-1.yml": PMTA1, "host_vars/pmta-2.yml": PMTA2})

    def warmup(today, state_dir):
        run = run_playbook("warmup.yml", inv, "-e", "mailfleet_today=%s" % today,
                           "-e", "mailfleet_report_dir=%s" % (tmp_path / "reports"),
                           "-e", "mailfleet_controller_state_dir=%s" % state_dir, tmp=tmp_path)
        assert run.returncode == 0, run.stdout[-4000:]
        (tmp_path / ("warmup-%s-%s.out" % (today, os.path.basename(str(state_dir))))).write_text(run.stdout)
        return run.stdout

    # two days of full sending: 50/day, then 200/day
    warmup("2026-11-10", tmp_path / "ctl-a")
    send(root, "2026-11-10", 50)
    warmup("2026-11-11", tmp_path / "ctl-a")
    assert {ip: c[0] for ip, c in caps_of(root).items()} == {"192.0.2.1": 200, "192.0.2.2": 200, "192.0.2.3": 200}
    send(root, "2026-11-11", 200)
    snapshot = tmp_path / "snapshot"
    shutil.copytree(root, snapshot)

    # the clean run of 2026-11-12: every IP advances to 500
    if mariadb:
        clean_q_before, clean_cap_before, _ = quota(tmp_path, inv, mariadb, tmp_path / "ctl-b")
    out = warmup("2026-11-12", tmp_path / "ctl-b")
    assert "state_corrupt" not in out
    clean = caps_of(root)
    assert {ip: c[0] for ip, c in clean.items()} == {"192.0.2.1": 500, "192.0.2.2": 500, "192.0.2.3": 500}
    if mariadb:
        clean_q_after, clean_cap_after, _ = quota(tmp_path, inv, mariadb, tmp_path / "ctl-b")
    assert not receiver.received

    # the same day from the same hosts, but their state files were tampered with / truncated
    def corrupt():
        shutil.rmtree(root)
        shutil.copytree(snapshot, root)
        data = json.load(open(state_path(root, "pmta-1")))
        data["ips"]["192.0.2.1"]["stage_index"] = 99
        data["ips"]["192.0.2.2"]["daily"] *= 100
        with open(state_path(root, "pmta-1"), "w") as handle:
            json.dump(data, handle)
        open(state_path(root, "pmta-2"), "w").close()  # 0 bytes
    corrupt()
    if mariadb:
        bad_q, bad_cap, qout = quota(tmp_path, inv, mariadb, tmp_path / "ctl-c")
        assert sorted(bad_q) == sorted(clean_q_before) == ["mailfleet:alpha:pmta-1", "mailfleet:alpha:pmta-2"]
        for name, (daily, _hourly) in bad_q.items():
            assert daily <= clean_q_before[name][0], (name, bad_q, clean_q_before)
        assert all(bad_cap[t] <= clean_cap_before[t] for t in clean_cap_before)
        assert bad_cap["alpha"] == 0  # every IP's state refused: nothing unproven reaches MailWizz
        _names_everything(qout)
        assert "The IP counts 0 in MailWizz's quota and the campaign gate until the next warmup" in qout
        assert {e["event"]["type"] for e in receiver.received} == {"state_corrupt"}
        corrupt()
    received = len(receiver.received)
    out = warmup("2026-11-12", tmp_path / "ctl-d")
    bad = caps_of(root)
    for ip, (daily, provs) in bad.items():
        assert daily <= clean[ip][0], (ip, bad, clean)
        assert all(v <= clean[ip][1].get(p, daily) for p, v in provs.items())
    assert bad["192.0.2.1"][0] == 50 and bad["192.0.2.3"][0] == 50  # an unprovable stage restarts at stage 1
    assert bad["192.0.2.2"][0] == 200  # only its daily was wrong: it keeps its stage and holds today
    _names_everything(out)
    assert "The IP continues at stage 1 (50/day), holding today (no advance)" in out
    events = [e["event"] for e in receiver.received[received:]]
    assert {(e["host"], e["ip"]) for e in events} == {("pmta-1", "192.0.2.1"), ("pmta-1", "192.0.2.2"),
                                                      ("pmta-2", None)}
    assert all(e["type"] == "state_corrupt" and e["id"].endswith(":2026-11-12") for e in events)
    # the run stored clean, trusted states again, and the quota sync reads exactly what was deployed
    for host in IPS:
        text = open(state_path(root, host)).read()
        assert json.loads(text)["ips"] and '"stage_index": 99' not in text
    if mariadb:
        after_q, after_cap, qout = quota(tmp_path, inv, mariadb, tmp_path / "ctl-d")
        assert "state_corrupt" not in qout and "refused" not in qout
        assert after_cap["alpha"] == sum(c[0] for c in bad.values()) <= clean_cap_after["alpha"]
        for name, (daily, _hourly) in after_q.items():
            assert daily <= clean_q_after[name][0]


def _names_everything(out):
    """The run names the file, the IP and what was wrong."""
    assert re.search(r"warmup-state\.json on pmta-1, IP 192\.0\.2\.1: state: stage_index 99 is beyond the schedule", out)
    assert re.search(r"warmup-state\.json on pmta-1, IP 192\.0\.2\.2: state: daily 20000 is above the volume 200", out)
    assert re.search(r"warmup-state\.json on pmta-2: the file is empty \(0 bytes\)", out)
    assert "Traceback" not in out
