"""Shared helpers of the MailWizz integration tests (stand-in + ansible-playbook runs)."""
import importlib.util
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.join(ROOT, ".venv", "bin")
STANDIN = os.path.join(ROOT, "tests", "standins", "mailwizz", "server.py")


def load_standin():
    if "mailwizz_standin" in sys.modules:
        return sys.modules["mailwizz_standin"]
    spec = importlib.util.spec_from_file_location("mailwizz_standin", STANDIN)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["mailwizz_standin"] = mod
    spec.loader.exec_module(mod)
    return mod


def inventory(tmp_path):
    path = tmp_path / "hosts.yml"
    path.write_text(json.dumps({"all": {"hosts": {"localhost": {
        "ansible_connection": "local",
        "ansible_python_interpreter": os.path.join(VENV_BIN, "python")}}}}))
    return str(path)


def run_playbook(tmp_path, playbook, extra, check=False, diff=False, expect_rc=0):
    """Run ansible-playbook; returns (rc, stdout, recap dict for localhost)."""
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
    cmd = ["ansible-playbook", "-i", inventory(tmp_path), playbook, "-e", "@%s" % vars_file]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
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
