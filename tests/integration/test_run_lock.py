"""The run lock of scripts/mailfleet-run covers the whole run, with real processes: the playbook it
starts holds the lock too, so killing the wrapper (kill -9) lets no second run in while the
playbook (or any process it forked) still runs; once they are gone the lock is free and the owner
information they left is reported as stale."""
import os
import signal
import subprocess
import sys
import time

import pytest

from helpers import ROOT, ansible_env

WRAPPER = os.path.join(ROOT, "scripts", "mailfleet-run")
VENV = os.path.dirname(os.path.dirname(sys.executable))
pytestmark = pytest.mark.skipif(not os.path.exists("/usr/bin/flock") and not os.path.exists("/bin/flock"),
                                reason="flock(1) (util-linux) is not installed")


def wrapper(tmp, *args, env=None):
    cmd = [WRAPPER, "--log-dir", str(tmp / "logs"), "--lock-dir", str(tmp / "locks")] + list(args)
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                            env=env, start_new_session=True)


def wait_for(predicate, what, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s" % what)


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def owner(tmp, name):
    path = tmp / "locks" / ("%s.owner" % name)
    return path.read_text().split() if path.exists() else []


def holders(lock):
    """PIDs that have the lock file open."""
    out = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir("/proc/%s/fd" % pid):
                if os.readlink("/proc/%s/fd/%s" % (pid, fd)) == str(lock):
                    out.add(int(pid))
        except OSError:
            continue
    return out


def kill(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def second_run(tmp, name, *extra):
    events = tmp / "events"
    p = wrapper(tmp, "--name", name, "--wait", "0", *extra, "--", "sh", "-c", "echo B >> %s" % events)
    out, err = p.communicate(timeout=60)
    return p.returncode, err, events.read_text() if events.exists() else ""


def test_killing_the_wrapper_does_not_free_the_lock(tmp_path):
    events = tmp_path / "events"
    first = wrapper(tmp_path, "--name", "warmup", "--quiet", "--", "sh", "-c",
                    "echo A >> %s; exec sleep 120" % events)
    wait_for(lambda: events.exists() and "A" in events.read_text(), "the first run to start")
    rec = wait_for(lambda: (lambda o: o if "child" in o else None)(owner(tmp_path, "warmup")), "the owner file")
    assert rec[:2] == ["pid", str(first.pid)]
    child = int(rec[rec.index("child") + 1])
    lock = tmp_path / "locks" / "warmup.lock"
    assert holders(lock) == {first.pid, child}

    first.kill()  # SIGKILL: the wrapper is gone, its playbook still runs
    first.wait(timeout=10)
    assert alive(child) and holders(lock) == {child}

    rc, err, seen = second_run(tmp_path, "warmup")
    assert rc == 0 and "another warmup run is still in progress" in err and "skipping this run" in err
    assert "wrapper pid %d gone" % first.pid in err and "playbook pid %d running" % child in err
    assert "lock file open in pid %d);" % child in err  # the playbook alone holds it
    assert "WARNING" in err and "lost its wrapper" in err
    rc, err, seen = second_run(tmp_path, "warmup", "--on-locked", "fail")
    assert rc == 75 and "giving up (exit 75)" in err
    assert seen == "A\n"  # no second run started

    kill(child)
    wait_for(lambda: not alive(child), "the playbook to die")
    rc, err, seen = second_run(tmp_path, "warmup")
    assert rc == 0, err
    assert "WARNING: stale owner information" in err and "pid %d" % first.pid in err
    assert "wrapper pid %d gone" % first.pid in err and "playbook pid %d gone" % child in err
    assert seen == "A\nB\n"
    assert owner(tmp_path, "warmup") == []  # the new run cleaned up after itself
    log = (tmp_path / "logs" / "warmup.log").read_text()
    assert "stale owner information" in log


def test_a_real_playbook_and_its_workers_hold_the_lock(tmp_path):
    """ansible-playbook inherits the lock, and so do the workers it forks: killing the wrapper, then
    the ansible-playbook process itself, still lets no second run in while a worker runs a task."""
    repo = tmp_path / "repo"
    (repo / "playbooks").mkdir(parents=True)
    marker = tmp_path / "task-started"
    (repo / "playbooks" / "slow.yml").write_text("""---
- name: A long task
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Work for a while
      ansible.builtin.shell: "touch %s && sleep 120"
      changed_when: true
""" % marker)
    env = ansible_env(tmp_path)
    env.pop("ANSIBLE_CONFIG", None)
    first = wrapper(tmp_path, "--repo", str(repo), "--venv", VENV, "--inventory", "localhost,", "slow",
                    "--", "-e", "ansible_python_interpreter=%s" % sys.executable, env=env)
    wait_for(marker.exists, "the playbook's task to start", timeout=120)
    lock = tmp_path / "locks" / "slow.lock"
    rec = owner(tmp_path, "slow")
    playbook = int(rec[rec.index("child") + 1])
    workers = holders(lock) - {first.pid, playbook}
    assert workers, "the forked worker holds the lock too"

    first.kill()
    first.wait(timeout=10)
    kill(playbook)  # the ansible-playbook process itself
    wait_for(lambda: not alive(playbook), "ansible-playbook to die")
    still = {pid for pid in holders(lock) if alive(pid)}
    assert still and still <= workers
    rc, err, seen = second_run(tmp_path, "slow")
    assert rc == 0 and "another slow run is still in progress" in err and seen == ""

    for pid in still:
        kill(pid)
    wait_for(lambda: not {pid for pid in holders(lock) if alive(pid)}, "the workers to die")
    rc, err, seen = second_run(tmp_path, "slow")
    assert rc == 0 and "stale owner information" in err and seen == "B\n"
    # leave no sleep behind
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as handle:
                if str(marker).encode() in handle.read():
                    kill(int(pid))
        except OSError:
            continue


def test_signals_reach_the_playbook_and_the_lock_is_released(tmp_path):
    events = tmp_path / "events"
    first = wrapper(tmp_path, "--name", "health", "--", "sh", "-c",
                    "trap 'kill $!; echo TERM >> %s; exit 3' TERM; echo A >> %s; sleep 120 & wait" % (events, events))
    wait_for(lambda: events.exists() and "A" in events.read_text(), "the run to start")
    wait_for(lambda: "child" in owner(tmp_path, "health"), "the owner file")
    first.send_signal(signal.SIGTERM)
    _out, err = first.communicate(timeout=30)
    assert first.returncode == 3, err
    assert "got SIGTERM; passing it on" in err and "finished in" in err and "with exit 3" in err
    assert "TERM" in events.read_text()
    assert owner(tmp_path, "health") == []
    lock = tmp_path / "locks" / "health.lock"
    wait_for(lambda: not {pid for pid in holders(lock) if alive(pid)}, "the run's processes to end")
    rc, err, _seen = second_run(tmp_path, "health")
    assert rc == 0 and "stale" not in err and "in progress" not in err
