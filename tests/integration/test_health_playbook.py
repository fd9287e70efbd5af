"""playbooks/health.yml end to end: a real DNS server on loopback, sandbox PowerMTA hosts, a local
webhook receiver. A listing on a critical zone puts the IP on standby within one run (out of its
pool in the live config), alerts once, "unknown" changes nothing, clean checks resume the IP."""
import json
import os
import re

import pytest

from helpers import WebhookReceiver, reloads, run_playbook, sandbox_inventory
from standins.dns.faulty import SilentServer
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


HOST_VARS_PMTA2 = """---
mailfleet_ips:
  - address: 2001:db8::2
    hostname: mta2.alpha.example.com
    tenant: alpha
    warmup_start: 2026-11-10
  - address: 192.0.2.9
    hostname: mta9.alpha.example.com
    tenant: alpha
    warmup_start: 2026-11-10
"""
# FCrDNS is published for every IP but 192.0.2.9 (a new IP with a broken PTR: held out of service)
FORWARD = {"mta1.alpha": "192.0.2.1", "mta5.alpha": "192.0.2.5", "mta9.alpha": "192.0.2.9"}


def dns_zones(listed):
    ptr4 = ["1 PTR mta1.alpha.example.com.", "5 PTR mta5.alpha.example.com."]
    v6 = ".".join(reversed("2001:0db8:0000:0000:0000:0000:0000:0002".replace(":", "")))
    return {
        "rbl.test": rbl_zone(listed),
        "2.0.192.in-addr.arpa": zone_text("2.0.192.in-addr.arpa", ptr4),
        "100.51.198.in-addr.arpa": zone_text("100.51.198.in-addr.arpa", ["1 PTR mta1.beta.example.net."]),
        "8.b.d.0.1.0.0.2.ip6.arpa": zone_text("8.b.d.0.1.0.0.2.ip6.arpa",
                                                ["%s PTR mta2.alpha.example.com." % v6[:-len(".8.b.d.0.1.0.0.2")]]),
        "example.com": zone_text("example.com", ["%s A %s" % (k, v) for k, v in FORWARD.items()]
                                 + ["mta2.alpha AAAA 2001:db8::2"]),
        "example.net": zone_text("example.net", ["mta1.beta A 198.51.100.1"]),
    }


def rbl_zone(listed):
    records = []
    for ip in listed:
        owner = ".".join(reversed(ip.split("."))) + ".bl"
        records += ["%s A 127.0.0.2" % owner, '%s TXT "listed for trap hits"' % owner]
    return zone_text("rbl.test", records)


@pytest.fixture
def webhook():
    receiver = WebhookReceiver()
    yield receiver.url, receiver.received
    receiver.close()


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
    inv, root = sandbox_inventory(tmp_path, {"host_vars/pmta-1.yml": HOST_VARS_PMTA1, "host_vars/pmta-2.yml": HOST_VARS_PMTA2,
                                             "group_vars/all/health.yml": extra})
    # group_vars/all.yml and group_vars/all/ cannot both exist: move the base file into the dir
    os.rename(os.path.join(str(tmp_path), "inv", "group_vars", "all.yml"),
              os.path.join(str(tmp_path), "inv", "group_vars", "all", "fleet.yml"))

    with NSDServer(dns_zones(["192.0.2.1"]), port=port):
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
        # FCrDNS: the new IP with a broken PTR is not brought into service, the others are
        config2 = _config(root, "pmta-2")
        assert _pool(config2, "alpha-pool") == ["alpha-2001-db8--2"]
        assert "# 192.0.2.9: standby" in config2 and "FCrDNS broken" in config2
        sent_after_first = len(received)

        second = run_playbook("health.yml", inv, tmp=tmp_path)
        assert second.returncode == 0, second.stdout[-5000:]
        assert len(received) == sent_after_first  # same events: no new alert
        assert _config(root, "pmta-1") == config and len(reloads(root, "pmta-1")) == 1  # no redeploy

        with open(str(tmp_path / "state" / "dns-auth.json")) as handle:
            auth_before = json.load(handle)
        # the audit saw real answers: FCrDNS of 192.0.2.9 fails, the others pass
        assert auth_before["192.0.2.9:fcrdns"]["severity"] == "fail"
        assert auth_before["192.0.2.1:fcrdns"]["severity"] == "ok"

    # DNS server gone (port closed), then up but silent: every answer is unknown, nothing changes,
    # no readiness state moves and no alert goes out (no "regression" of all five checks)
    for outage in ("closed", "silent"):
        silent = SilentServer(port=port).start() if outage == "silent" else None
        try:
            third = run_playbook("health.yml", inv, tmp=tmp_path)
        finally:
            if silent is not None:
                silent.stop()
        assert third.returncode == 0, third.stdout[-5000:]
        if silent is not None:
            assert silent.received > 0
        assert _config(root, "pmta-1") == config and len(reloads(root, "pmta-1")) == 1
        with open(os.path.join(root, "pmta-1", "var", "lib", "mailfleet", "health-state.json")) as handle:
            assert json.load(handle)["ips"]["192.0.2.1"]["standby"] is True
        assert len(received) == sent_after_first, [m["event"]["id"] for m in received[sent_after_first:]]
        with open(str(tmp_path / "state" / "dns-auth.json")) as handle:
            assert json.load(handle) == auth_before, outage
        summary = re.search(r"DNS auth: (\{[^}]*\})", third.stdout)
        assert summary, third.stdout[-3000:]
        assert re.search(r"fail\W+0\b", summary.group(1)) and re.search(r"unknown\W+[1-9]", summary.group(1)), summary.group(1)

    with NSDServer(dns_zones([]), port=port):
        fourth = run_playbook("health.yml", inv, tmp=tmp_path)
    assert fourth.returncode == 0, fourth.stdout[-5000:]
    assert _pool(_config(root, "pmta-1"), "alpha-pool") == ["alpha-192-0-2-1", "alpha-192-0-2-5"]
    ids = [m["event"]["id"] for m in received]
    assert any(i.startswith("resume:192.0.2.1") for i in ids), ids
