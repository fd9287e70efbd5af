"""playbooks/health.yml end to end: a real DNS server on loopback, sandbox PowerMTA hosts, a local
webhook receiver. A listing on a critical zone puts the IP on standby within one run (out of its
pool in the live config), alerts once, "unknown" changes nothing, clean checks resume the IP."""
import http.server
import json
import os
import threading

import pytest

from helpers import reloads, run_playbook, sandbox_inventory
from standins.dns.nsd import NSDServer, find_nsd, free_port, zone_text

pytestmark = [pytest.mark.slow, pytest.mark.skipif(find_nsd() is None, reason="nsd is not installed (Debian package nsd)")]

HOST_VARS_PMTA1 = """---
mailfleet_ips:
  - address: 192.0.2.1
    hostname: mta1.alpha.example.com
    tenant: alpha
    warmup_start: 2026-11-01
  - address: 192.0.2.5
    hostname: mta5.alpha.example.com
    tenant: alpha
    warmup_start: 2026-11-01
  - address: 198.51.100.1
    hostname: mta1.beta.example.net
    tenant: beta
    warmup_start: 2026-11-01
"""


def rbl_zone(listed):
    records = []
    for ip in listed:
        owner = ".".join(reversed(ip.split("."))) + ".bl"
        records += ["%s A 127.0.0.2" % owner, '%s TXT "listed for trap hits"' % owner]
    return zone_text("rbl.test", records)


class Receiver(http.server.BaseHTTPRequestHandler):
    received = []

    def do_POST(self):  # noqa: N802 - http.server's API
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Receiver.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    Receiver.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d/hook" % server.server_address[1], Receiver.received
    server.shutdown()
    server.server_close()


def _config(root, host):
    with open(os.path.join(root, host, "etc", "pmta", "config")) as handle:
        return handle.read()


def _pool(config, pool):
    block = config.split("<virtual-mta-pool %s>" % pool, 1)[1].split("</virtual-mta-pool>", 1)[0]
    return sorted(line.split()[1] for line in block.splitlines() if line.strip().startswith("virtual-mta "))


def test_listing_standby_alert_unknown_and_resume(tmp_path, webhook):
    url, received = webhook
    port = free_port()
    extra = """---
mailfleet_dns_nameservers: ["127.0.0.1:%(port)d"]
mailfleet_dns_timeout: 1.0
mailfleet_dnsbl_zones:
  - {zone: bl.rbl.test, critical: true}
mailfleet_resume_after: 1
mailfleet_alerts:
  webhook: {url: "%(url)s"}
mailfleet_controller_state_dir: "%(state)s"
""" % {"port": port, "url": url, "state": tmp_path / "state"}
    inv, root = sandbox_inventory(tmp_path, {"host_vars/pmta-1.yml": HOST_VARS_PMTA1, "group_vars/all/health.yml": extra})
    # group_vars/all.yml and group_vars/all/ cannot both exist: move the base file into the dir
    os.rename(os.path.join(str(tmp_path), "inv", "group_vars", "all.yml"),
              os.path.join(str(tmp_path), "inv", "group_vars", "all", "fleet.yml"))

    with NSDServer({"rbl.test": rbl_zone(["192.0.2.1"])}, port=port):
        assert run_playbook("deploy.yml", inv, tmp=tmp_path).returncode == 0
        first = run_playbook("health.yml", inv, tmp=tmp_path)
        assert first.returncode == 0, first.stdout[-5000:]
        config = _config(root, "pmta-1")
        assert _pool(config, "alpha-pool") == ["alpha-192-0-2-5"]
        assert "# 192.0.2.1: standby" in config
        ids = [m["event"]["id"] for m in received]
        assert any(i.startswith("new_listing:192.0.2.1:bl.rbl.test") for i in ids), ids
        assert any(i.startswith("standby:192.0.2.1") for i in ids), ids
        with open(os.path.join(root, "pmta-1", "var", "lib", "mailfleet", "health-state.json")) as handle:
            assert json.load(handle)["ips"]["192.0.2.1"]["standby"] is True
        sent_after_first = len(received)

        second = run_playbook("health.yml", inv, tmp=tmp_path)
        assert second.returncode == 0, second.stdout[-5000:]
        assert len(received) == sent_after_first  # same events: no new alert
        assert _config(root, "pmta-1") == config and len(reloads(root, "pmta-1")) == 2  # no redeploy

    # DNS server gone: every answer is unknown, nothing changes
    third = run_playbook("health.yml", inv, tmp=tmp_path)
    assert third.returncode == 0, third.stdout[-5000:]
    assert _config(root, "pmta-1") == config and len(reloads(root, "pmta-1")) == 2
    with open(os.path.join(root, "pmta-1", "var", "lib", "mailfleet", "health-state.json")) as handle:
        assert json.load(handle)["ips"]["192.0.2.1"]["standby"] is True

    with NSDServer({"rbl.test": rbl_zone([])}, port=port):
        fourth = run_playbook("health.yml", inv, tmp=tmp_path)
    assert fourth.returncode == 0, fourth.stdout[-5000:]
    assert _pool(_config(root, "pmta-1"), "alpha-pool") == ["alpha-192-0-2-1", "alpha-192-0-2-5"]
    ids = [m["event"]["id"] for m in received]
    assert any(i.startswith("resume:192.0.2.1") for i in ids), ids
