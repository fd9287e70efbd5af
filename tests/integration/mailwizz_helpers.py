"""Shared helpers of the MailWizz integration tests (stand-in + ansible-playbook runs)."""
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.join(ROOT, ".venv", "bin")
STANDIN = os.path.join(ROOT, "tests", "standins", "mailwizz", "server.py")
DKIM_KEY = os.path.join(ROOT, "inventories", "demo", "files", "dkim", "ulixai.example.net.mf2026.pem")


def load_standin():
    if "mailwizz_standin" in sys.modules:
        return sys.modules["mailwizz_standin"]
    spec = importlib.util.spec_from_file_location("mailwizz_standin", STANDIN)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["mailwizz_standin"] = mod
    spec.loader.exec_module(mod)
    return mod


def complete_tenants(extra):
    """The MailWizz tests describe tenants by their MailWizz keys only; give each the sending
    domain the fleet validation requires (validate.yml runs first in every playbook)."""
    extra = json.loads(json.dumps(extra))
    for name, tenant in (extra.get("mailfleet_tenants") or {}).items():
        tenant.setdefault("domains", [{"name": "%s.example.com" % name, "dkim_selector": "s1",
                                       "dkim_key_file": "files/dkim.pem"}])
    return extra


def inventory(tmp_path, tenants=()):
    """A valid fleet inventory: localhost, and one PowerMTA host carrying one IP per tenant."""
    inv = tmp_path / "inv"
    (inv / "files").mkdir(parents=True, exist_ok=True)
    (inv / "host_vars").mkdir(exist_ok=True)
    shutil.copy(DKIM_KEY, str(inv / "files" / "dkim.pem"))
    python = os.path.join(VENV_BIN, "python")
    (inv / "hosts.yml").write_text(json.dumps({"all": {
        "hosts": {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": python}},
        "children": {"pmta": {"hosts": {"pmta-1": {"ansible_connection": "local",
                                                    "ansible_python_interpreter": python}}}}}}))
    ips = [{"address": "192.0.2.%d" % (10 + i), "hostname": "mta%d.example.com" % (i + 1),
            "tenant": name, "warmup_start": "2026-11-01"} for i, name in enumerate(sorted(tenants))]
    (inv / "host_vars" / "pmta-1.yml").write_text(json.dumps({"mailfleet_ips": ips}))
    return str(inv / "hosts.yml")


def run_playbook(tmp_path, playbook, extra, check=False, diff=False, expect_rc=0, args=()):
    """Run ansible-playbook; returns (rc, stdout, recap dict for localhost)."""
    extra = complete_tenants(extra)
    vars_file = tmp_path / ("vars-%d.json" % len(list(tmp_path.glob("vars-*.json"))))
    vars_file.write_text(json.dumps(extra))
    env = dict(os.environ)
    env["PATH"] = VENV_BIN + os.pathsep + env.get("PATH", "")
    env["ANSIBLE_CONFIG"] = os.path.join(ROOT, "ansible.cfg")
    env["ANSIBLE_LOCAL_TEMP"] = str(tmp_path / "ansible-tmp")
    env["ANSIBLE_HOME"] = str(tmp_path / "ansible-home")
    env["ANSIBLE_NOCOLOR"] = "1"
    env["ANSIBLE_FORCE_COLOR"] = "0"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    inv = inventory(tmp_path, (extra.get("mailfleet_tenants") or {}).keys())
    cmd = ["ansible-playbook", "-i", inv, playbook, "-e", "@%s" % vars_file]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    cmd.extend(args)
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    m = re.search(r"localhost\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+"
                  r"failed=(\d+)", out)
    recap = None
    if m:
        recap = dict(zip(("ok", "changed", "unreachable", "failed"), map(int, m.groups())))
    if expect_rc is not None:
        assert proc.returncode == expect_rc, out
    return proc.returncode, out, recap
