"""mailfleet.fleet.host_state (read, write, observe) through a real ansible-playbook run against localhost."""
import json
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.join(ROOT, ".venv", "bin")
PLAYBOOK_BIN = os.path.join(VENV_BIN, "ansible-playbook")

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not os.path.exists(PLAYBOOK_BIN), reason="ansible-playbook not in .venv")]

STATE = {"version": 1, "stage_index": 2, "stage_since": "2024-05-03", "standby": False, "standby_since": None,
         "last_sent": "2024-05-09", "rewarm": None, "planned_on": "2024-05-10", "action": "hold",
         "daily": 500, "base": None}


def run_play(tmp_path, tasks, *extra):
    play = tmp_path / "play.yml"
    play.write_text("- hosts: localhost\n  gather_facts: false\n  tasks:\n" + tasks)
    env = dict(os.environ)
    env.update({
        "PATH": VENV_BIN + os.pathsep + env.get("PATH", ""),
        "ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
        "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
    })
    proc = subprocess.run(
        [PLAYBOOK_BIN, "-i", "localhost,", "-e", "ansible_connection=local", str(play)] + list(extra),
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    recap = re.search(r"localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)", proc.stdout)
    assert recap, proc.stdout + proc.stderr
    return proc, {"ok": int(recap.group(1)), "changed": int(recap.group(2)), "failed": int(recap.group(3))}


def write_task(path, states):
    return ("    - name: write\n      mailfleet.fleet.host_state:\n        state: write\n"
            "        path: %s\n        states: %s\n" % (path, json.dumps(states)))


def test_write_idempotent_and_check_mode(tmp_path):
    path = tmp_path / "state" / "warmup-state.json"
    states = {"192.0.2.10": STATE}
    # check mode writes nothing (but reports the change)
    proc, recap = run_play(tmp_path, write_task(path, states), "--check", "--diff")
    assert recap == {"ok": 1, "changed": 1, "failed": 0}, proc.stdout
    assert not path.exists()
    assert '"stage_index": 2' in proc.stdout  # diff shows the after JSON
    # real write
    proc, recap = run_play(tmp_path, write_task(path, states))
    assert recap["changed"] == 1 and recap["failed"] == 0, proc.stdout
    data = json.loads(path.read_text())
    assert data == {"version": 1, "ips": states}
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    assert not [p for p in os.listdir(path.parent) if p.endswith(".tmp")]
    # second write: no change
    proc, recap = run_play(tmp_path, write_task(path, states))
    assert recap == {"ok": 1, "changed": 0, "failed": 0}, proc.stdout
    # a different state in check mode + diff: changed, shows before/after, file untouched
    before = path.read_text()
    new = {"192.0.2.10": dict(STATE, stage_index=3, daily=1500)}
    proc, recap = run_play(tmp_path, write_task(path, new), "--check", "--diff")
    assert recap["changed"] == 1 and path.read_text() == before
    assert re.search(r'^-\s+"stage_index": 2,$', proc.stdout, re.M), proc.stdout
    assert re.search(r'^\+\s+"stage_index": 3,$', proc.stdout, re.M), proc.stdout


def test_read_missing_valid_and_corrupt(tmp_path):
    path = tmp_path / "warmup-state.json"
    out = tmp_path / "out.json"
    read = ("    - name: read\n      mailfleet.fleet.host_state:\n        path: %s\n%s"
            "      register: r\n"
            "    - name: save\n      ansible.builtin.copy:\n        dest: %s\n"
            "        content: \"{{ r | to_json }}\"\n")
    proc, recap = run_play(tmp_path, read % (path, "", out))
    assert recap["failed"] == 0, proc.stdout
    r = json.loads(out.read_text())
    assert r["states"] == {} and r["exists"] is False and r["changed"] is False
    path.write_text(json.dumps({"version": 1, "ips": {"192.0.2.10": STATE}}))
    proc, recap = run_play(tmp_path, read % (path, "", out))
    r = json.loads(out.read_text())
    assert r["states"] == {"192.0.2.10": STATE} and r["exists"] is True
    # corrupted: fails naming the file
    path.write_text("{truncated")
    proc, recap = run_play(tmp_path, read % (path, "", out))
    assert recap["failed"] == 1
    assert "warmup state %s: corrupted state file" % path in proc.stdout
    assert "Traceback" not in proc.stdout
    # on_corrupt: reset -> empty states, flagged
    proc, recap = run_play(tmp_path, read % (path, "        on_corrupt: reset\n", out))
    assert recap["failed"] == 0, proc.stdout
    r = json.loads(out.read_text())
    assert r["states"] == {} and r["corrupt"] is True
    assert path.read_text() == "{truncated"


def test_read_empty_file_is_corrupt_not_absent_and_bad_ips_are_refused(tmp_path):
    path = tmp_path / "warmup-state.json"
    out = tmp_path / "out.json"
    read = ("    - name: read\n      mailfleet.fleet.host_state:\n        path: %s\n        on_corrupt: %s\n"
            "      register: r\n"
            "    - name: save\n      ansible.builtin.copy:\n        dest: %s\n"
            "        content: \"{{ r | to_json }}\"\n")
    path.write_text("")
    proc, recap = run_play(tmp_path, read % (path, "fail", out))
    assert recap["failed"] == 1 and "the file is empty (0 bytes)" in proc.stdout
    proc, recap = run_play(tmp_path, read % (path, "reset", out))
    r = json.loads(out.read_text())
    assert r["exists"] and r["corrupt"] and r["states"] == {} and "the file is empty" in r["problems"][0]
    bad = dict(STATE, stage_index=-3)
    path.write_text(json.dumps({"version": 1, "ips": {"192.0.2.10": STATE, "192.0.2.11": bad}}))
    proc, recap = run_play(tmp_path, read % (path, "reset", out))
    r = json.loads(out.read_text())
    assert r["states"] == {"192.0.2.10": STATE} and r["problems"] == []
    assert "stage_index must be an integer >= 0" in r["refused"]["192.0.2.11"]["problems"][0]


def test_read_unreadable_health_is_fail_closed(tmp_path):
    path = tmp_path / "health-state.json"
    out = tmp_path / "out.json"
    path.write_text('{"version": 1, "ips": {"192.0.2.10": {"standby": tr')
    task = ("    - name: read\n      mailfleet.fleet.host_state:\n        kind: health\n        path: %s\n"
            "        on_corrupt: reset\n        ips: [192.0.2.10, 192.0.2.11, 192.0.2.12]\n"
            "        warmup_states: %s\n      register: r\n"
            "    - name: save\n      ansible.builtin.copy:\n        dest: %s\n"
            "        content: \"{{ r | to_json }}\"\n") % (
        path, json.dumps({"192.0.2.10": dict(STATE, standby=True, standby_since="2024-05-08", daily=0),
                          "192.0.2.11": STATE}), out)
    proc, recap = run_play(tmp_path, task)
    assert recap["failed"] == 0, proc.stdout
    r = json.loads(out.read_text())
    assert r["corrupt"] and "not valid JSON" in r["problems"][0]
    h = r["states"]
    assert h["192.0.2.10"]["standby"] and h["192.0.2.10"]["clean_streak"] == 0  # the recorded standby is kept
    assert not h["192.0.2.11"]["standby"]  # it was sending: unknown is not a listing
    assert h["192.0.2.12"]["standby"]  # nothing known at all: standby until the health check sees it clean
    assert all("health state unreadable" in h[ip]["reason"] for ip in h)


def test_write_refuses_invalid_states(tmp_path):
    path = tmp_path / "warmup-state.json"
    proc, recap = run_play(tmp_path, write_task(path, {"192.0.2.10": {"stage_index": "high"}}))
    assert recap["failed"] == 1
    assert "write refused, invalid states" in proc.stdout
    assert not path.exists()
