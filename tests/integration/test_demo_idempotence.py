"""`make demo` twice from a fresh clone: the second run changes nothing on any host, localhost
included; `make plan` afterwards plans the demo against its saved services and finds nothing.

Runs the demo in a copy of the repository's tracked files (its own .work/), so the checkout's
demo state is left alone. Takes several minutes."""
import os
import shutil
import subprocess
import tempfile

import pytest

from helpers import ROOT, recap

pytestmark = pytest.mark.slow


def fresh_clone(dest):
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, stdout=subprocess.PIPE,
                           check=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = os.path.join(ROOT, rel)
        if not os.path.lexists(src):
            continue
        target = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.islink(src):
            os.symlink(os.readlink(src), target)
        else:
            shutil.copy2(src, target)
    os.symlink(os.path.realpath(os.path.join(ROOT, ".venv")), os.path.join(dest, ".venv"))


def recaps(output):
    """Every PLAY RECAP of a demo run: [{host: {...}}]."""
    chunks = output.split("PLAY RECAP")[1:]
    return [recap("PLAY RECAP" + chunk.split("\n\n")[0]) for chunk in chunks]


@pytest.fixture
def clone():
    # a short path: MariaDB's socket lives under .work/ (unix socket paths are limited to 107)
    base = tempfile.mkdtemp(prefix="mfdemo-")
    try:
        fresh_clone(os.path.join(base, "repo"))
        yield os.path.join(base, "repo")
    finally:
        subprocess.run([os.path.join(ROOT, ".venv", "bin", "python"), "tests/setup/demo.py", "stop"],
                       cwd=os.path.join(base, "repo"), check=False, stdout=subprocess.DEVNULL)
        shutil.rmtree(base, ignore_errors=True)


def test_demo_twice_changes_nothing_the_second_time_and_plan_works(clone):
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    for var in ("ANSIBLE_CONFIG", "ANSIBLE_LOCAL_TEMP", "ANSIBLE_HOME"):
        env.pop(var, None)

    def demo():
        proc = subprocess.run(["bash", "tests/setup/demo.sh"], cwd=clone, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=1800)
        out = proc.stdout.decode("utf-8", "replace")
        assert proc.returncode == 0, out[-4000:]
        return out

    first = recaps(demo())
    assert any(h["changed"] for r in first for h in r.values())  # the first run did the work
    second = recaps(demo())
    assert len(second) == len(first) >= 4  # warmup, mailwizz, campaign, quota-sync
    for run in second:
        for host, counts in run.items():
            assert counts["changed"] == 0 and counts["failed"] == 0, (host, run)
    assert any("localhost" in run for run in second)

    plan = subprocess.run(["bash", "scripts/plan.sh", "inventories/demo"], cwd=clone, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=1800)
    assert plan.returncode == 0, plan.stdout.decode() + plan.stderr.decode()
    out = plan.stdout.decode()
    assert "=== playbooks/mailwizz.yml ===" in out and out.rstrip().endswith("Plan: no changes.")
    assert not os.path.exists(os.path.join(clone, ".work", "demo-services", "serve.pid"))
