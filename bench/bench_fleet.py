#!/usr/bin/env python3
"""Foundation benchmarks: validate + render cost as the fleet grows, and no-op playbook runs.

* validate + render: ``build_model`` then ``pmta_template.render_host`` (view, template,
  parse-back) for every host, on generated fleets of 10, 100, 1,000 and 5,000 IPs (250 IPs a
  host, 4 tenants). The ratio is the cost per IP relative to the 10-IP fleet: 1.0 means linear
  growth.
* no-op deploy: ``playbooks/deploy.yml`` run a second time (nothing to change) over 2, 10 and 20
  sandbox hosts (local connection, the PowerMTA stand-in); ratio = wall time per host relative to
  the 2-host run.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for path in (os.path.join(ROOT, "collections"), os.path.join(ROOT, "tests")):
    if path not in sys.path:
        sys.path.insert(0, path)

from ansible_collections.mailfleet.fleet.plugins.module_utils import fleet, warmup  # noqa: E402
from ansible_collections.mailfleet.fleet.plugins.plugin_utils.pmta_template import render_host  # noqa: E402

TENANTS = ("alpha", "beta", "gamma", "delta")


def generate(n_ips, per_host=250):
    """Raw inventory of ``n_ips`` IPs (IPv6 documentation range) over ceil(n/per_host) hosts."""
    tenants = {t: {"smtp_password": "bench-%s" % t,
                   "domains": [{"name": "%s.example.com" % t, "dkim_selector": "s1",
                                "dkim_key_file": "files/dkim.pem"}]} for t in TENANTS}
    hosts = {}
    for i in range(n_ips):
        host = "pmta-%d" % (i // per_host + 1)
        entry = hosts.setdefault(host, {"groups": ["pmta"], "vars": {"mailfleet_ips": []}})
        tenant = TENANTS[i % len(TENANTS)]
        entry["vars"]["mailfleet_ips"].append({
            "address": "2001:db8:%x::%x" % (i // 65536, i % 65536 + 1),
            "hostname": "mta%d.%s.example.com" % (i, tenant), "tenant": tenant, "warmup_start": "2026-11-01"})
    return {"globals": {"mailfleet_tenants": tenants,
                        "mailfleet_warmup_schedules": {"default": {"stages": [50, 200, 500, 1500, 5000, 10000],
                                                                   "providers": {"gmail": 0.4}}}},
            "hosts": hosts}


def validate_and_render(inventory, today="2026-11-22"):
    model, errors = fleet.build_model(inventory)
    assert not errors, errors[:3]
    caps = warmup.caps_from_states(model, {}, {}, today)
    # the SMTP passwords are a separate input of the renderer (the model carries no secret)
    passwords = {name: t["smtp_password"] for name, t in inventory["globals"]["mailfleet_tenants"].items()}
    return sum(len(render_host(model, host, caps, None, passwords)[0]) for host in model["hosts"])


def bench_render(quick):
    rows, base = [], None
    for n in (10, 100, 1000) if quick else (10, 100, 1000, 5000):
        inventory = generate(n)
        repeat = max(1, 2000 // n)
        started = time.perf_counter()
        for _ in range(repeat):
            size = validate_and_render(inventory)
        per_ip = (time.perf_counter() - started) / repeat / n
        base = base or per_ip
        rows.append({"benchmark": "validate+render", "case": "%d IPs" % n, "metric": "ms total",
                     "value": round(per_ip * n * 1000, 2), "ratio": round(per_ip / base, 2)})
        rows.append({"benchmark": "validate+render", "case": "%d IPs" % n, "metric": "config bytes",
                     "value": size, "ratio": ""})
    return rows


def bench_noop_playbook(quick):
    from helpers import PMTA_STANDIN, ansible_env, playbook_cmd, DEMO_KEY
    rows, base = [], None
    for count in (2, 5) if quick else (2, 10, 20):
        work = tempfile.mkdtemp(prefix="mailfleet-bench-")
        try:
            inv = os.path.join(work, "inv")
            os.makedirs(os.path.join(inv, "files"))
            shutil.copy(DEMO_KEY, os.path.join(inv, "files", "dkim.pem"))
            lines = ["---", "all:", "  children:", "    pmta:", "      hosts:"]
            lines += ["        pmta-%d:" % (i + 1) for i in range(count)]
            lines += ["      vars:", "        ansible_connection: local",
                      "        ansible_python_interpreter: \"{{ ansible_playbook_python }}\""]
            with open(os.path.join(inv, "hosts.yml"), "w") as handle:
                handle.write("\n".join(lines) + "\n")
            raw = generate(count * 3, per_host=3)
            import yaml
            os.makedirs(os.path.join(inv, "group_vars"))
            os.makedirs(os.path.join(inv, "host_vars"))
            with open(os.path.join(inv, "group_vars", "all.yml"), "w") as handle:
                yaml.safe_dump(raw["globals"], handle)
            with open(os.path.join(inv, "group_vars", "pmta.yml"), "w") as handle:
                yaml.safe_dump({
                    "mailfleet_root": os.path.join(work, "hosts") + "/{{ inventory_hostname }}",
                    "pmta_config_owner": "", "pmta_config_group": "", "pmta_config_pmta_command": PMTA_STANDIN,
                    "pmta_config_environment": {"PMTA_CONFIG": "{{ mailfleet_root }}/etc/pmta/config",
                                                "PMTA_STANDIN_DIR": "{{ mailfleet_root }}/var/log/pmta/standin"},
                    "mailfleet_serial": "100%"}, handle)
            for host, entry in raw["hosts"].items():
                with open(os.path.join(inv, "host_vars", host + ".yml"), "w") as handle:
                    yaml.safe_dump(entry["vars"], handle)
            cmd = playbook_cmd("deploy.yml", os.path.join(inv, "hosts.yml"))
            env = ansible_env(work)
            first = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   universal_newlines=True)
            assert first.returncode == 0, first.stdout[-3000:]
            started = time.perf_counter()
            second = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    universal_newlines=True)
            elapsed = time.perf_counter() - started
            assert second.returncode == 0 and "changed=1" not in second.stdout, second.stdout[-3000:]
        finally:
            shutil.rmtree(work, ignore_errors=True)
        per_host = elapsed / count
        base = base or per_host
        rows.append({"benchmark": "no-op deploy.yml", "case": "%d hosts" % count, "metric": "s wall",
                     "value": round(elapsed, 2), "ratio": round(per_host / base, 2)})
    return rows


def run(quick=False):
    return bench_render(quick) + bench_noop_playbook(quick)


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(row)
