"""`make demo` twice from a fresh clone: the first replays three weeks of history through the
real plan steps (the story: stage advances, Gmail alone stepping back after its 421-4.7.28 days,
a DNSBL listing -> standby -> resume a stage lower); the second run replays nothing and changes
nothing on any host, localhost included; `make plan` afterwards plans the demo against its saved
services and finds nothing.

Runs the demo in a copy of the repository's tracked files (its own .work/), so the checkout's
demo state is left alone. Takes several minutes."""
import datetime
import os
import re
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


def history(output):
    """The demo's history lines: {day: {ip: (daily, gmail cap, action)}}."""
    days = {}
    for day, rest in re.findall(r"^   (\d{4}-\d\d-\d\d)  (.+)$", output, re.M):
        days[day] = {}
        for item in rest.split(" | "):
            ip, daily, gmail, action = re.fullmatch(r"(\S+) (\d+) \(gmail (\d+)\) (\w+)", item).groups()
            days[day][ip] = (int(daily), int(gmail), action)
    return days


def check_story(days):
    """Stage advances, Gmail alone stepping back, a standby and a resume a stage lower."""
    today = datetime.date.today()
    assert sorted(days) == [(today - datetime.timedelta(days=n)).isoformat() for n in range(21, 0, -1)]
    order = sorted(days)
    actions = [days[d][ip][2] for d in order for ip in days[d]]
    assert actions.count("advance") >= 5, actions
    gmail = [days[d]["192.0.2.10"] for d in order]
    # the day after the first 421-4.7.28 day: the IP keeps its cap, only Gmail's cap is lower
    assert any(b[0] == a[0] and b[1] < a[1] and b[2] == "hold" for a, b in zip(gmail, gmail[1:])), gmail
    assert "step_back" not in [g[2] for g in gmail], gmail
    listed = [days[d]["198.51.100.20"] for d in order]
    first = [g[2] for g in listed].index("standby")
    assert listed[first][0] == 0 and listed[first - 1][0] > 0, listed
    back = [g[2] for g in listed].index("resume")
    assert back > first and 0 < listed[back][0] < listed[first - 1][0], listed


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

    first_out = demo()
    check_story(history(first_out))
    first = recaps(first_out)
    assert any(h["changed"] for r in first for h in r.values())  # the first run did the work
    second_out = demo()
    assert history(second_out) == {}  # the history is replayed once
    second = recaps(second_out)
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
