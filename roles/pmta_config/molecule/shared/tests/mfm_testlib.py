"""Helpers shared by the testinfra tests of the pmta_config molecule scenarios.

Expectations come from the inventory molecule actually used (its inventory directory links the
scenario's group_vars and host_vars), never from a second copy of the fleet.
"""
import json
import os
import re

import testinfra
import yaml
from testinfra.utils.ansible_runner import AnsibleRunner

INVENTORY_FILE = os.environ["MOLECULE_INVENTORY_FILE"]
INVENTORY_DIR = os.path.dirname(INVENTORY_FILE)
EPHEMERAL_DIR = os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]

CONFIG = "/etc/pmta/config"
LOCAL_CONF = "/etc/pmta/local.conf"
DKIM_DIR = "/etc/pmta/dkim"
BACKUP_DIR = "/var/lib/mailfleet/backups"
JOURNAL = "/var/lib/mailfleet/pmta-reload.journal"
STANDIN_DIR = "/var/log/pmta/standin"
PMTA = "/var/lib/mailfleet/bin/pmta"


def pmta(host, *args):
    """Run the stand-in's ``pmta ARGS`` on ``host`` with its environment spelled out (the same
    paths it reads without one: each host has its own /etc/pmta and /var/log/pmta)."""
    return host.run("env PMTA_CONFIG=%s PMTA_STANDIN_DIR=%s %s " + " ".join(["%s"] * len(args)),
                    CONFIG, STANDIN_DIR, PMTA, *args)


def pmta_hosts():
    return AnsibleRunner(INVENTORY_FILE).get_hosts("pmta")


def get_host(name):
    """A testinfra host for one inventory host, as molecule's verifier connects (ansible backend)."""
    return testinfra.get_host("ansible://%s" % name, ansible_inventory=INVENTORY_DIR)


def _load(*parts):
    with open(os.path.join(INVENTORY_DIR, *parts)) as handle:
        return yaml.safe_load(handle)


def tenants():
    return _load("group_vars", "all.yml")["mailfleet_tenants"]


def dkim_key_dir():
    """Where create.yml put the throwaway DKIM keys (group_vars/all.yml: molecule_dkim_dir)."""
    return os.path.join(EPHEMERAL_DIR, "dkim")


def ips(host):
    """The IPs the inventory binds to ``host`` (before any scenario-specific extra IPs)."""
    return _load("host_vars", host + ".yml")["molecule_ips"]


def all_ips():
    return {h: ips(h) for h in pmta_hosts()}


def vmta_name(ip):
    return ip.get("vmta") or "%s-%s" % (ip["tenant"], ip["address"].replace(".", "-").replace(":", "-"))


def name_of(host):
    """The inventory name of a testinfra host."""
    return host.backend.get_hostname()


def reloads(host):
    """The stand-in's reload records on ``host`` (one JSON object a line)."""
    log = host.file(os.path.join(STANDIN_DIR, "reloads.log"))
    if not log.exists:
        return []
    return [json.loads(line) for line in log.content_string.splitlines() if line.strip()]


def pmta_status(host):
    """``pmta show status`` on ``host``: {"sha256": ..., "vmtas": n, "ok": n, "failed": n}."""
    result = pmta(host, "show", "status")
    assert result.rc == 0, result
    out = result.stdout
    status = {}
    match = re.search(r"running configuration: sha256 ([0-9a-f]{64})", out)
    status["sha256"] = match.group(1) if match else None
    match = re.search(r"virtual MTAs: (\d+)", out)
    status["vmtas"] = int(match.group(1)) if match else None
    match = re.search(r"reloads: (\d+) ok, (\d+) failed", out)
    status["ok"], status["failed"] = (int(match.group(1)), int(match.group(2))) if match else (None, None)
    status["text"] = out
    return status


def recap(output):
    """{host: {"ok": n, "changed": n, "failed": n, ...}} from an ansible-playbook PLAY RECAP."""
    hosts, seen = {}, False
    for line in output.splitlines():
        if line.startswith("PLAY RECAP"):
            seen = True
            continue
        if seen and ":" in line and "ok=" in line:
            name, _sep, rest = line.partition(":")
            hosts[name.strip()] = {k: int(v) for k, v in (p.split("=") for p in rest.split())}
    return hosts
