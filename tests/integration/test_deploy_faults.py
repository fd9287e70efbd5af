"""The deploy under faults, on three real SSH test hosts (tests/hostlab; needs root).

Run under the shared lab lock: ``flock /tmp/mailfleet-hostlab.lock .venv/bin/python -m pytest
tests/integration/test_deploy_faults.py``.

- A crash between swap and reload (the module's process tree and its SSH session killed while the
  PowerMTA stand-in's reload is blocked): the run alerts that what is live is unknown; the next run
  reloads first and says so, the one after is changed=0, and PowerMTA runs the new configuration.
- A host unreachable before its deploy, one dropped before the rollout, one lost during its
  deploy: each alerts (webhook on loopback) naming the host and the cause, and the rollout halts.
- The disk full at the state write (a tiny tmpfs over the host's state directory, filled while the
  reload is blocked): the alert says the new configuration is live and the state was not written.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import yaml

from helpers import PMTA_STANDIN, ROOT, WebhookReceiver, ansible_env, playbook_cmd, recap

HOSTLAB_DIR = os.path.join(ROOT, "tests", "hostlab")
if HOSTLAB_DIR not in sys.path:
    sys.path.insert(0, HOSTLAB_DIR)
import hostlab  # noqa: E402

HOSTS = ("pmta-1", "pmta-2", "pmta-3")
BINDS = ["/etc/pmta", "/var/lib/mailfleet", "/var/log/pmta"]
PMTA = "/var/lib/mailfleet/bin/pmta"
STANDIN = "/var/log/pmta/standin"
JOURNAL = "/var/lib/mailfleet/pmta-reload.journal"
FILLER_PID = "/var/log/pmta/filler.pid"
PREFIX = "d%04x" % (os.getpid() & 0xFFFF)
BASE_IPS = {
    "pmta-1": [{"address": "192.0.2.10", "hostname": "mta10.alpha.example.com", "tenant": "alpha",
                "warmup_start": "2026-09-01"},
               {"address": "198.51.100.20", "hostname": "mta20.beta.example.net", "tenant": "beta",
                "warmup_start": "2026-10-20"}],
    "pmta-2": [{"address": "203.0.113.30", "hostname": "mta30.alpha.example.com", "tenant": "alpha",
                "warmup_start": "2026-10-01"}],
    "pmta-3": [{"address": "198.51.100.40", "hostname": "mta40.beta.example.net", "tenant": "beta",
                "warmup_start": "2026-11-02"}],
}
EXTRA = {"pmta-1": {"address": "192.0.2.77", "hostname": "mta77.alpha.example.com", "tenant": "alpha",
                    "warmup_start": "2026-11-01"},
         "pmta-2": {"address": "203.0.113.77", "hostname": "mta77b.alpha.example.com", "tenant": "alpha",
                    "warmup_start": "2026-11-01"}}
FLEET = """---
mailfleet_tenants:
  alpha:
    pool: alpha-pool
    smtp_user: alpha-user
    smtp_password: faults-alpha-secret
    domains:
      - {name: alpha.example.com, dkim_selector: s1, dkim_key_file: files/dkim.pem}
  beta:
    pool: beta-pool
    smtp_user: beta-user
    schedule: slow
    domains:
      - {name: beta.example.net, dkim_selector: s1, dkim_key_file: files/dkim.pem}
mailfleet_warmup_schedules:
  default:
    stages: [50, 200, 500, 1500, 5000, 10000]
  slow:
    stages:
      - {volume: 20, min_days: 3}
      - {volume: 100}
    full_rate: 500
mailfleet_today: "2026-11-20"
"""
PMTA_VARS = """---
pmta_config_group: root
pmta_config_pmta_command: %s
pmta_config_postmaster: postmaster@alpha.example.com
""" % PMTA


class Fleet:
    """The lab, its inventory (editable), the alert receiver, and ways to hurt a host."""

    def __init__(self, lab, tmp):
        self.lab, self.tmp = lab, tmp
        self.inv = os.path.join(tmp, "inv")
        self.receiver = WebhookReceiver()
        os.makedirs(os.path.join(self.inv, "group_vars", "all"))
        os.makedirs(os.path.join(self.inv, "host_vars"))
        os.makedirs(os.path.join(self.inv, "files"))
        shutil.copy(os.path.join(ROOT, "inventories", "demo", "files", "dkim", "ulixai.example.net.mf2026.pem"),
                    os.path.join(self.inv, "files", "dkim.pem"))
        self.write("hosts.yml", yaml.safe_dump({"all": {"children": {"pmta": {"hosts": {h: None for h in HOSTS}}}}}))
        self.write("group_vars/all/fleet.yml", FLEET)
        self.write("group_vars/all/alerts.yml", yaml.safe_dump({
            "mailfleet_alerts": {"webhook": {"url": self.receiver.url}},
            "mailfleet_controller_state_dir": os.path.join(tmp, "state")}))
        self.write("group_vars/pmta.yml", PMTA_VARS)
        self.set_ips()
        for host in HOSTS:
            dest = lab.host_path(host, PMTA)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copy(PMTA_STANDIN, dest)
            os.chmod(dest, 0o755)

    def write(self, rel, text):
        with open(os.path.join(self.inv, rel), "w") as handle:
            handle.write(text)

    def set_ips(self, extra=()):
        for host in HOSTS:
            ips = BASE_IPS[host] + [EXTRA[h] for h in extra if h == host]
            self.write("host_vars/%s.yml" % host, yaml.safe_dump({"mailfleet_ips": ips}))

    # ---- runs
    def cmd(self, *args):
        # the fleet's inventory first: DKIM key paths are relative to the first inventory source
        return playbook_cmd("deploy.yml", os.path.join(self.inv, "hosts.yml"), "-i", self.lab.inventory_path, *args)

    def env(self):
        return ansible_env(self.tmp)

    def run(self, timeout=900):
        proc = subprocess.run(self.cmd(), cwd=ROOT, env=self.env(), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, universal_newlines=True, timeout=timeout)
        return proc

    def start(self):
        log = open(os.path.join(self.tmp, "run-%d.log" % time.time_ns()), "w+")
        proc = subprocess.Popen(self.cmd(), cwd=ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
                                universal_newlines=True)
        proc.log = log
        return proc

    @staticmethod
    def finish(proc, timeout=900):
        proc.wait(timeout=timeout)
        proc.log.seek(0)
        proc.stdout = proc.log.read()
        proc.log.close()
        return proc

    def converge(self):
        self.set_ips()  # the inventory every test starts from
        run = self.run()
        assert run.returncode == 0, run.stdout[-6000:]
        self.alerts()  # forget what earlier runs alerted
        return run

    def alerts(self):
        got = list(self.receiver.received)
        del self.receiver.received[:]
        with open(os.path.join(self.tmp, "alerts.jsonl"), "a") as handle:  # kept for a look after the run
            handle.writelines(json.dumps(a, sort_keys=True) + "\n" for a in got)
        return got

    # ---- what a host holds
    def path(self, host, path):
        return self.lab.host_path(host, path)

    def read(self, host, path):
        try:
            with open(self.path(host, path), "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            return None

    def running(self, host):
        return self.read(host, STANDIN + "/running.conf")

    def config(self, host):
        return self.read(host, "/etc/pmta/config")

    def reloads(self, host):
        data = self.read(host, STANDIN + "/reloads.log") or b""
        return [json.loads(line) for line in data.decode().splitlines() if line.strip()]

    def arm(self, host, name, content=""):
        if name == "hang-reload":  # a reload killed while it waited leaves its marker behind
            self.disarm(host, "reload-waiting")
        path = self.path(host, STANDIN + "/" + name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            handle.write(content)

    def disarm(self, host, name):
        try:
            os.unlink(self.path(host, STANDIN + "/" + name))
        except FileNotFoundError:
            pass

    def wait_for_reload(self, host, proc, timeout=300):
        waiting = self.path(host, STANDIN + "/reload-waiting")
        deadline = time.time() + timeout
        while not os.path.exists(waiting):
            if proc.poll() is not None:
                self.finish(proc)
                pytest.fail("the run ended before %s reloaded:\n%s" % (host, proc.stdout[-6000:]))
            assert time.time() < deadline, "%s never reached its reload" % host
            time.sleep(0.05)

    # ---- faults
    def _state(self, host):
        return next(h for h in self.lab.state["hosts"] if h["name"] == host)

    def kill_sessions(self, host):
        """Kill every process of the host but its listening sshd: the module, PowerMTA's reload,
        and the SSH sessions (Ansible's connection drops at once)."""
        h = self._state(host)
        pids = [p for p in hostlab._netns_pids(h["netns"]) if p != h["pid"]]
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return pids

    def cut(self, host):
        """Take the host off the network (its link down): Ansible's open connection to it goes
        dead (its keepalives notice), every new connection fails."""
        subprocess.run(["ip", "link", "set", self._state(host)["veth"], "down"], check=True)

    def restore(self, host):
        h = self._state(host)
        subprocess.run(["ip", "link", "set", h["veth"], "up"], check=True)
        deadline = time.time() + 20
        while self.lab.ssh(host, "true", check=False, timeout=10).returncode != 0:
            assert time.time() < deadline, "%s did not come back" % host
            time.sleep(0.2)

    def ssh(self, host, cmd):
        return self.lab.ssh(host, cmd)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    ok, why = hostlab.available()
    if not ok:
        pytest.skip("hostlab unavailable: %s" % why)
    hostlab.gc()
    tmp = str(tmp_path_factory.mktemp("faults"))
    lab = hostlab.Lab(os.path.join(tmp, "lab"), prefix=PREFIX, hosts=list(HOSTS), binds=BINDS, first="auto",
                      groups=["pmta"])
    with lab:
        f = Fleet(lab, tmp)
        try:
            f.converge()
            yield f
        finally:
            for host in HOSTS:
                subprocess.run(["ip", "link", "set", f._state(host)["veth"], "up"], check=False)
            f.receiver.close()


def _flat(run):
    """The run's output with line wrapping undone (the YAML callback wraps long messages)."""
    return " ".join(run.stdout.replace("'", " ").split())


def _one_alert(fleet, host):
    alerts = fleet.alerts()
    assert [a["event"]["type"] for a in alerts] == ["deploy_failed"], alerts
    event, text = alerts[0]["event"], alerts[0]["text"]
    assert event["host"] == host and host in text
    assert "faults-alpha-secret" not in json.dumps(alerts)
    return event, text


def _untouched(fleet, hosts, before):
    for host in hosts:
        assert len(fleet.reloads(host)) == before[host], host


# --------------------------------------------------------------------------------------------

def test_crash_between_swap_and_reload_is_settled_by_the_next_run(fleet):
    fleet.converge()
    old = fleet.running("pmta-1")
    assert old == fleet.config("pmta-1")
    before = {h: len(fleet.reloads(h)) for h in HOSTS}
    fleet.set_ips(extra=["pmta-1"])
    fleet.arm("pmta-1", "hang-reload")
    try:
        proc = fleet.start()
        fleet.wait_for_reload("pmta-1", proc)
        new = fleet.config("pmta-1")
        assert new != old and b"192.0.2.77" in new  # swapped in, not yet reloaded
        assert fleet.read("pmta-1", JOURNAL) is not None
        assert fleet.kill_sessions("pmta-1")
    finally:
        fleet.disarm("pmta-1", "hang-reload")
    run = fleet.finish(proc)
    assert run.returncode != 0, run.stdout[-6000:]
    # PowerMTA still runs the old configuration; the host remembers the reload it owes
    assert fleet.running("pmta-1") == old and fleet.config("pmta-1") == new
    journal = json.loads(fleet.read("pmta-1", JOURNAL))
    assert journal["config_sha256"] and journal["task"] == "deploy"
    event, text = _one_alert(fleet, "pmta-1")
    assert (event["stage"], event["live"]) == ("deploy", "unknown"), event
    assert "lost during its deploy" in text and "unknown" in text and "reload journal" in text
    _untouched(fleet, HOSTS[1:], before)

    # The next run: the file already equals the rendered one, yet it reloads first and says so.
    second = fleet.run()
    assert second.returncode == 0, second.stdout[-6000:]
    assert "settled first: reloaded the configuration owed a reload since %s" % journal["since"] in _flat(second)
    assert recap(second.stdout)["pmta-1"]["changed"] >= 1
    assert fleet.running("pmta-1") == fleet.config("pmta-1") == new
    assert fleet.read("pmta-1", JOURNAL) is None
    assert fleet.reloads("pmta-1")[-1]["ok"]
    # ... and the one after is quiet everywhere.
    third = fleet.run()
    assert third.returncode == 0, third.stdout[-6000:]
    assert all(recap(third.stdout)[h]["changed"] == 0 for h in HOSTS), third.stdout[-6000:]
    assert fleet.running("pmta-1") == new and fleet.alerts() == []


def test_host_unreachable_before_its_deploy_alerts_and_halts(fleet):
    fleet.converge()
    before = {h: len(fleet.reloads(h)) for h in HOSTS}
    configs = {h: fleet.config(h) for h in HOSTS}
    fleet.set_ips(extra=["pmta-1", "pmta-2"])
    fleet.arm("pmta-1", "hang-reload")
    try:
        proc = fleet.start()
        fleet.wait_for_reload("pmta-1", proc)  # pmta-1 is deploying; pmta-2 goes away now
        fleet.cut("pmta-2")
    finally:
        fleet.disarm("pmta-1", "hang-reload")
    try:
        run = fleet.finish(proc)
        assert run.returncode != 0, run.stdout[-6000:]
        event, text = _one_alert(fleet, "pmta-2")
        assert (event["stage"], event["live"]) == ("preflight", "untouched"), event
        assert "unreachable before its deploy" in text and "changed nothing there" in text
        assert "could not be reached" in event["cause"]
        # pmta-1 was deployed before; pmta-2 untouched; the rollout stopped before pmta-3
        assert fleet.running("pmta-1") == fleet.config("pmta-1") != configs["pmta-1"]
        assert fleet.config("pmta-2") == configs["pmta-2"] and fleet.read("pmta-2", JOURNAL) is None
        _untouched(fleet, HOSTS[1:], before)
    finally:
        fleet.restore("pmta-2")


def test_host_dropped_before_the_rollout_alerts_and_the_others_deploy(fleet):
    fleet.converge()
    before = {h: len(fleet.reloads(h)) for h in HOSTS}
    fleet.set_ips(extra=["pmta-1"])
    fleet.cut("pmta-3")
    try:
        run = fleet.run()
        assert run.returncode != 0, run.stdout[-6000:]  # the dropped host stays a failure of the run
        event, text = _one_alert(fleet, "pmta-3")
        assert (event["stage"], event["live"]) == ("dropped", "untouched"), event
        assert "dropped out of this run before the rollout" in text and "count 0" in text
        # A dead host does not hold back the others: pmta-1's change (a new IP) is live.
        assert b"192.0.2.77" in fleet.config("pmta-1")
        assert fleet.running("pmta-1") == fleet.config("pmta-1")
        _untouched(fleet, ["pmta-3"], before)
    finally:
        fleet.restore("pmta-3")


def test_host_lost_during_its_deploy_alerts_unknown_and_is_settled(fleet):
    fleet.converge()
    old = fleet.running("pmta-2")
    fleet.set_ips(extra=["pmta-2"])
    fleet.arm("pmta-2", "hang-reload")
    try:
        proc = fleet.start()
        fleet.wait_for_reload("pmta-2", proc)
        fleet.cut("pmta-2")  # the host goes off the network and crashes: its processes die
        assert fleet.kill_sessions("pmta-2")
    finally:
        fleet.disarm("pmta-2", "hang-reload")
    try:
        run = fleet.finish(proc)
        assert run.returncode != 0, run.stdout[-6000:]
        event, text = _one_alert(fleet, "pmta-2")
        assert (event["stage"], event["live"]) == ("deploy", "unknown"), event
        assert "lost during its deploy" in text and "next run settle" in text
    finally:
        fleet.restore("pmta-2")
    assert fleet.running("pmta-2") == old and fleet.read("pmta-2", JOURNAL) is not None
    second = fleet.run()
    assert second.returncode == 0, second.stdout[-6000:]
    assert "settled first" in _flat(second)
    assert fleet.running("pmta-2") == fleet.config("pmta-2") != old


def test_disk_full_at_the_state_write_says_the_new_config_is_live(fleet):
    fleet.converge()
    before = {h: len(fleet.reloads(h)) for h in HOSTS}
    old = fleet.running("pmta-1")
    keep = "/var/log/pmta/state-copy"
    # a 1 MiB tmpfs over the host's state directory, holding what was there
    fleet.ssh("pmta-1", "rm -rf %s && cp -a /var/lib/mailfleet %s && mount -t tmpfs -o size=1m,mode=0755 "
                        "mailfleet-full /var/lib/mailfleet && cp -a %s/. /var/lib/mailfleet/" % (keep, keep, keep))
    fleet.set_ips(extra=["pmta-1"])
    fleet.arm("pmta-1", "hang-reload")
    try:
        proc = fleet.start()
        fleet.wait_for_reload("pmta-1", proc)
        # swapped and journaled; now the state directory fills up, and stays full: a writer takes
        # every page that is freed (the journal's, once the reload is confirmed)
        fleet.ssh("pmta-1", "setsid sh -c 'echo $$ > %s; while :; do cat /dev/zero >> /var/lib/mailfleet/filler "
                            "2>/dev/null; sleep 0.01; done' </dev/null >/dev/null 2>&1 &" % FILLER_PID)
        fleet.ssh("pmta-1", "while [ \"$(df --output=avail /var/lib/mailfleet | tail -1)\" -gt 0 ]; do sleep 0.1; done")
    finally:
        fleet.disarm("pmta-1", "hang-reload")
    try:
        run = fleet.finish(proc)
        assert run.returncode != 0, run.stdout[-6000:]
        event, text = _one_alert(fleet, "pmta-1")
        assert (event["stage"], event["live"]) == ("state", "new"), event
        assert "State not written on pmta-1" in text and "deployed is live" in text
        assert "No space left on device" in text
        assert "previous configuration stays live" not in text and "stays live" not in text
        new = fleet.config("pmta-1")
        assert new != old and fleet.running("pmta-1") == new
        assert fleet.ssh("pmta-1", "test -e %s && echo owed || echo none" % JOURNAL).stdout.strip() == "none"
        _untouched(fleet, HOSTS[1:], before)
    finally:
        fleet.ssh("pmta-1", "kill $(cat %s); sleep 0.2; umount /var/lib/mailfleet; rm -rf %s %s" % (
            FILLER_PID, keep, FILLER_PID))
