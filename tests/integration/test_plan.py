"""GitOps plan (scripts/plan.sh): no change on a deployed demo, exactly the edited IP otherwise."""
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys

import pytest

from helpers import ROOT, ansible_env, recap, run_playbook

PLAN = os.path.join(ROOT, "scripts", "plan.sh")
SUMMARY = os.path.join(ROOT, "scripts", "plan_summary.py")


def tree_digest(path):
    h = hashlib.sha256()
    for base, dirs, files in sorted(os.walk(path)):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(base, name)
            h.update(full.encode())
            with open(full, "rb") as fh:
                h.update(fh.read())
            h.update(oct(os.stat(full).st_mode).encode())
    return h.hexdigest()


def run_plan(tmp, inventory, **env):
    e = ansible_env(tmp, MAILFLEET_PLAN_PLAYBOOKS="deploy", MAILFLEET_PLAN_OUT=str(tmp / "plan"), **env)
    return subprocess.run(["bash", PLAN, str(inventory)], env=e, cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=900)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    """inventories/demo copied to a sandbox repo layout and deployed there for real (like make demo)."""
    tmp = tmp_path_factory.mktemp("plan")
    shutil.copytree(os.path.join(ROOT, "inventories", "demo"), str(tmp / "inventories" / "demo"))
    os.symlink(os.path.join(ROOT, "tests"), str(tmp / "tests"))  # the pmta stand-in, as in the repo
    inv = tmp / "inventories" / "demo"
    res = run_playbook("deploy.yml", inv / "hosts.yml", tmp=tmp)
    assert res.returncode == 0, res.stdout
    assert all(v["failed"] == 0 for v in recap(res.stdout).values())
    assert (tmp / ".work" / "demo" / "pmta-1" / "etc" / "pmta" / "config").exists()
    return tmp, inv


@pytest.mark.slow
def test_plan_of_deployed_demo_shows_no_change(deployed):
    tmp, inv = deployed
    before = tree_digest(str(tmp / ".work"))
    res = run_plan(tmp, inv, MAILFLEET_PLAN_DETAILED_EXITCODE=1)
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout
    assert "=== playbooks/deploy.yml ===" in out
    for host in ("pmta-1", "pmta-2", "localhost"):
        assert "%s: no changes" % host in out
    assert out.rstrip().endswith("Plan: no changes.")
    assert tree_digest(str(tmp / ".work")) == before  # check mode: nothing touched
    doc = json.loads((tmp / "plan" / "deploy.json").read_text())
    assert doc["check_mode"] is True and doc["changes"] == [] and set(doc["hosts"]) == {"localhost", "pmta-1", "pmta-2"}


@contextlib.contextmanager
def edited(path, change):
    """Edit an inventory file of the deployed sandbox for the duration of a test."""
    original = path.read_text()
    path.write_text(change(original))
    try:
        yield
    finally:
        path.write_text(original)


@pytest.mark.slow
def test_plan_shows_exactly_the_edited_ip(deployed):
    tmp, inv = deployed
    before = tree_digest(str(tmp / ".work"))
    with edited(inv / "host_vars" / "pmta-1" / "ips.yml", lambda t: t.replace("198.51.100.22", "198.51.100.23")):
        res = run_plan(tmp, inv, MAILFLEET_PLAN_DETAILED_EXITCODE=1)
    out = res.stdout
    assert res.returncode == 2, out + res.stderr  # changes
    assert "pmta-2: no changes" in out and "localhost: no changes" in out
    assert "pmta-1: " in out and "pmta-1: no changes" not in out
    assert "Plan: " in out and "change(s) on pmta-1; no changes on localhost, pmta-2." in out
    doc = json.loads((tmp / "plan" / "deploy.json").read_text())
    assert {c["host"] for c in doc["changes"]} == {"pmta-1"}
    tasks = {c["task"] for c in doc["changes"]}
    assert any("PowerMTA configuration" in t for t in tasks)
    changed_lines = []
    for c in doc["changes"]:
        for line in c["diff"].splitlines():
            if line[:1] in ("+", "-") and not line.startswith(("+++", "---")):
                changed_lines.append(line)
    assert changed_lines
    # every changed line is about the edited IP (its address or its VirtualMTA name), nothing else
    for line in changed_lines:
        assert "198.51.100.22" in line or "198.51.100.23" in line or "198-51-100-22" in line \
            or "198-51-100-23" in line, line
    assert any(line.startswith("-") and "198.51.100.22" in line for line in changed_lines)
    assert any(line.startswith("+") and "198.51.100.23" in line for line in changed_lines)
    assert tree_digest(str(tmp / ".work")) == before


@pytest.mark.slow
def test_plan_reports_an_invalid_inventory(deployed):
    tmp, inv = deployed
    dup = ("  - address: 192.0.2.10\n    hostname: dup.example.com\n"
           "    tenant: sos-expat\n    warmup_start: 2026-09-01\n")
    with edited(inv / "host_vars" / "pmta-2" / "ips.yml", lambda t: t + dup):
        res = run_plan(tmp, inv)
    assert res.returncode == 1
    assert "Plan incomplete" in res.stdout and "ERROR on localhost" in res.stdout
    assert "192.0.2.10" in res.stdout


# --------------------------------------------------------------------------------------------
# plan_summary.py on synthetic records (fast)
# --------------------------------------------------------------------------------------------
def summary(tmp, docs, *args):
    paths = []
    for i, doc in enumerate(docs):
        p = tmp / ("r%d.json" % i)
        if doc is not None:
            p.write_text(json.dumps(doc))
        paths.append(str(p))
    return subprocess.run([sys.executable, SUMMARY] + list(args) + paths, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=60)


def test_summary_formats_and_exit_codes(tmp_path):
    clean = {"playbook": "playbooks/deploy.yml", "check_mode": True, "hosts": {"h1": {}, "h2": {}},
             "changes": [], "failures": []}
    res = summary(tmp_path, [clean], "--detailed-exitcode")
    assert res.returncode == 0 and "h1: no changes" in res.stdout and "Plan: no changes." in res.stdout
    changed = dict(clean, changes=[{"host": "h2", "play": "p", "task": "t", "action": "copy", "item": "x",
                                    "diff": "--- before\n+++ after\n@@ -1 +1 @@\n-a\n+b\n"}])
    res = summary(tmp_path, [changed], "--detailed-exitcode")
    assert res.returncode == 2 and "h2: 1 change(s)" in res.stdout and "        +b" in res.stdout
    assert "~ t [x]  (copy, play p)" in res.stdout
    res = summary(tmp_path, [changed], "--markdown", "--title", "T")
    assert res.returncode == 0 and res.stdout.startswith("# T\n") and "```diff" in res.stdout
    res = summary(tmp_path, [clean, None])
    assert res.returncode == 1 and "no plan record" in res.stdout
    failed = dict(clean, failures=[{"host": "h1", "task": "t", "kind": "unreachable", "msg": "ssh: timeout"}])
    res = summary(tmp_path, [failed])
    assert res.returncode == 1 and "ERROR on h1" in res.stdout and "ssh: timeout" in res.stdout
    applied = dict(changed, check_mode=False)
    assert "were APPLIED" in summary(tmp_path, [applied]).stdout
