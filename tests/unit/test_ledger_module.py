"""End-to-end: the pmta_ledger module run by a real ansible-playbook against localhost."""
import datetime
import json
import os
import re
import subprocess
import sys

import pytest

import acctgen

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.dirname(sys.executable)

PLAYBOOK = """\
- name: Accounting ledger
  hosts: all
  gather_facts: false
  tasks:
    - name: Update the ledger
      mailfleet.fleet.pmta_ledger:
        acct_dir: "{{ acct_dir }}"
        state_dir: "{{ state_dir }}"
        patterns: ["acct.csv", "acct-*.csv", "acct-*.csv.gz", "fbl*.csv"]
        vmta_ips: "{{ vmta_ips }}"
        days: 7
        by_vmta: true
      register: ledger_result
      ignore_errors: "{{ tolerate | default(false) }}"

    - name: Save the result for the test
      ansible.builtin.copy:
        content: "{{ ledger_result | to_json }}"
        dest: "{{ out_file }}"
        mode: "0600"
      check_mode: false
      changed_when: false
"""


def playbook(tmp_path, acct_dir, state_dir, *extra, **extra_vars):
    book = tmp_path / "play.yml"
    book.write_text(PLAYBOOK)
    out = tmp_path / "result.json"
    if out.exists():
        out.unlink()
    variables = dict(acct_dir=str(acct_dir), state_dir=str(state_dir), out_file=str(out),
                     vmta_ips=acctgen.VMTA_IPS, ansible_python_interpreter=sys.executable,
                     **extra_vars)
    env = dict(os.environ,
               PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""),
               ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
               ANSIBLE_REMOTE_TEMP=str(tmp_path / "ansible-rtmp"),
               ANSIBLE_HOME=str(tmp_path / "ansible-home"),
               ANSIBLE_NOCOLOR="1")
    cmd = [os.path.join(VENV_BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local",
           "-e", json.dumps(variables), str(book)] + list(extra)
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    recap = re.search(r"localhost\s*:\s*ok=(\d+)\s+changed=(\d+)", proc.stdout)
    assert recap, proc.stdout
    return json.loads(out.read_text()), int(recap.group(2)), proc.stdout


def test_playbook_check_mode_then_apply_then_idempotent(tmp_path):
    acct = tmp_path / "pmta"
    acct.mkdir()
    state = tmp_path / "state"
    start = datetime.datetime.utcnow().replace(hour=0, minute=0, second=0, microsecond=0) - \
        datetime.timedelta(days=2)
    gen = acctgen.AcctGen(seed=21, start=start, step_seconds=40, bad_rate=0.01,
                          time_styles=("utc", "minus4"))
    exp = gen.write(str(acct / "acct-0001.csv"), 1500)   # name matches acct-*.csv
    exp += gen.write(str(acct / "acct.csv"), 1500)
    exp += gen.write(str(acct / "fbl.csv"), 200, columns=acctgen.FBL_COLUMNS)

    # check mode: computes everything, writes nothing (not even the state directory)
    res, changed, out = playbook(tmp_path, acct, state, "--check", "--diff")
    assert res["changed"] is True and changed == 1
    assert not state.exists()
    assert acctgen.flatten_compact(res["ledger"]) == exp.counts
    assert "delivered:" in out          # the diff summary

    res, changed, _ = playbook(tmp_path, acct, state)
    assert res["changed"] is True and changed == 1
    assert acctgen.flatten_compact(res["ledger"]) == exp.counts
    assert sorted(os.listdir(str(state))) == ["ledger-cursor.json", "ledger.json"]
    for gmail in (v.get("gmail") for days in res["ledger"].values() for v in days.values()):
        if gmail:
            assert set(gmail) >= {"delivered", "hard_bounce", "soft_bounce", "deferred",
                                  "complaint"}
    stats = {os.path.basename(f["path"]): f for f in res["files"]}
    assert sum(f["malformed"] + f["unknown_type"] + f["bad_timestamp"]
               for f in stats.values()) == \
        exp.stats["malformed"] + exp.stats["unknown_type"] + exp.stats["bad_timestamp"]
    assert set(res["ledger_by_vmta"]) >= set(acctgen.VMTA_IPS)
    ledger_before = (state / "ledger.json").read_bytes()

    res, changed, _ = playbook(tmp_path, acct, state)
    assert res["changed"] is False and changed == 0
    assert res["files"] == [] and res["files_unchanged"] == 3
    assert acctgen.flatten_compact(res["ledger"]) == exp.counts
    assert (state / "ledger.json").read_bytes() == ledger_before

    # rotation plus new records, seen in check mode then applied
    os.rename(str(acct / "acct.csv"), str(acct / "acct-0002.csv"))
    exp += gen.write(str(acct / "acct.csv"), 300)
    res, changed, _ = playbook(tmp_path, acct, state, "--check")
    assert changed == 1 and acctgen.flatten_compact(res["ledger"]) == exp.counts
    assert (state / "ledger.json").read_bytes() == ledger_before
    res, changed, _ = playbook(tmp_path, acct, state)
    assert changed == 1 and acctgen.flatten_compact(res["ledger"]) == exp.counts
    res, changed, _ = playbook(tmp_path, acct, state)
    assert changed == 0


def test_playbook_failure_names_the_directory(tmp_path):
    missing = tmp_path / "no-such-dir"
    res, _changed, _ = playbook(tmp_path, missing, tmp_path / "state", tolerate=True)
    assert res["failed"] is True
    assert "no-such-dir" in res["msg"] and "list" in res["msg"]
    assert "Traceback" not in res["msg"]


@pytest.mark.parametrize("bad,word", [({"since": "21/11/2026"}, "since"),
                                       ({"keep_days": 0}, "keep_days"),
                                       ({"acct_columns": ["rcpt", "type"]}, "acct_columns")])
def test_module_main_rejects_bad_options(tmp_path, bad, word, capsys):
    """The module's main() with injected arguments (no playbook)."""
    from ansible.module_utils.testing import patch_module_args
    from ansible_collections.mailfleet.fleet.plugins.modules import pmta_ledger

    args = dict(acct_dir=str(tmp_path), state_dir=str(tmp_path / "s"), **bad)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            pmta_ledger.main()
    result = json.loads(capsys.readouterr().out)
    assert result["failed"] and word in result["msg"]


def _main(args, capsys):
    from ansible.module_utils.testing import patch_module_args
    from ansible_collections.mailfleet.fleet.plugins.modules import pmta_ledger

    with patch_module_args(args):
        with pytest.raises(SystemExit):
            pmta_ledger.main()
    return json.loads(capsys.readouterr().out)


def test_module_main_reads_archive_dirs_and_headerless_files(tmp_path, capsys):
    """A rotated file moved to an archive directory (PowerMTA move-to) is recognised by content;
    a file left without its header (copytruncate) is read with acct_columns; classes are
    returned."""
    acct, archive, state = tmp_path / "pmta", tmp_path / "archive", tmp_path / "state"
    acct.mkdir()
    archive.mkdir()
    start = datetime.datetime.utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    gen = acctgen.AcctGen(seed=31, start=start, step_seconds=5)
    exp = gen.write(str(acct / "acct-2026-01-01-0001.csv"), 400)
    args = dict(acct_dir=str(acct), state_dir=str(state), archive_dirs=[str(archive)],
                acct_columns=list(acctgen.DEFAULT_COLUMNS), vmta_ips=acctgen.VMTA_IPS, days=3)
    res = _main(args, capsys)
    assert res["changed"] and acctgen.flatten_compact(res["ledger"]) == exp.counts
    assert any(slot.get("classes", {}).get("rate_limited") for days in res["ledger"].values()
               for provs in days.values() for slot in provs.values())
    os.rename(str(acct / "acct-2026-01-01-0001.csv"),
              str(archive / "acct-2026-01-01-0001.csv"))        # moved: nothing new
    text, more = gen.lines(50, header=False)                     # no header line
    (acct / "acct.csv").write_bytes(text.encode())
    exp += more
    res = _main(args, capsys)
    assert acctgen.flatten_compact(res["ledger"]) == exp.counts
    statuses = {os.path.basename(f["path"]): f["status"] for f in res["files"]}
    assert statuses == {"acct-2026-01-01-0001.csv": "known", "acct.csv": "read"}
    res = _main(args, capsys)
    assert res["changed"] is False
