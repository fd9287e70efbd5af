"""The deploy sequence (module_utils/pmta_deploy.py) step by step, with a fake PowerMTA and a
temporary file-system root: every step, every fault (check, reload refused / unreadable / hung /
command missing, rollback failing, disk full at each write, a crash at each step) and what the
next run does about it."""
import errno
import json
import os
import stat
import subprocess
import time

import pytest

from ansible_collections.mailfleet.fleet.plugins.module_utils import pmta_deploy as pd

CONFIG = "/etc/pmta/config"
JOURNAL = "/var/lib/mailfleet/pmta-reload.journal"
BACKUPS = "/var/lib/mailfleet/backups"
OLD = "# old\nhost-name old.example.com\n"
NEW = "# new\nhost-name new.example.com\n"
NEWER = "# newer\nhost-name newer.example.com\n"


class Crash(BaseException):
    """The module's process dies here (SIGKILL, power loss, lost SSH session)."""


class FakePmta:
    """PowerMTA as the deploy sees it: ``pmta reload`` loads the file on disk (a file holding the
    word BROKEN is refused), or behaves as ``script`` says for the next calls."""

    def __init__(self, files):
        self.files = files
        self.running = None
        self.calls = []
        self.script = []
        self.missing_reason = None

    def missing(self):
        return self.missing_reason

    def run(self, args, timeout):
        assert args == ["reload"]
        mode = self.script.pop(0) if self.script else "auto"
        data = self.files.read(CONFIG)
        self.calls.append(mode)
        if mode == "auto":
            if data is None or b"BROKEN" in data:
                return 1, b"Error reloading configuration; the running configuration is unchanged:\n  line 2: bad\n"
            self.running = data
            return 0, b"Configuration reloaded.\n"
        if mode == "refuse":
            return 1, b"Error reloading configuration; the running configuration is unchanged:\n  license error\n"
        if mode == "garbage":
            return 0, b"\xff\xfe\x00garbage"
        if mode == "silent":
            return 0, b""
        if mode == "signal":
            return -9, b""
        if mode == "contradiction":
            return 1, b"Configuration reloaded.\n"
        if mode == "hang":
            raise subprocess.TimeoutExpired("pmta", timeout)
        if mode == "missing":
            raise OSError(errno.ENOENT, "No such file or directory")
        if mode == "crash":
            raise Crash()
        if mode == "load-then-crash":
            self.running = data
            raise Crash()
        raise AssertionError(mode)


class Faulty(pd.HostFiles):
    """Host files that fail (``fail``: OSError) or die (``crash``: Crash) at the n-th operation."""

    OPS = ("read", "stage", "replace", "write", "unlink")

    def __init__(self, root, fail=None, crash=None, after=False, errno_=errno.ENOSPC, ops=OPS, match=""):
        super().__init__(root)
        self.fail, self.crash, self.after, self.errno_, self.ops = fail, crash, after, errno_, ops
        self.match = match
        self.count = 0
        self.log = []

    def _hook(self, name, real, *args):
        if name not in self.ops or self.match not in args[0]:
            return real(*args)
        self.count += 1
        self.log.append((name, args[0]))
        if self.fail == self.count:
            raise OSError(self.errno_, os.strerror(self.errno_))
        if self.crash == self.count and not self.after:
            raise Crash()
        value = real(*args)
        if self.crash == self.count and self.after:
            raise Crash()
        return value

    def read(self, path):
        return self._hook("read", super().read, path)

    def stage(self, path, data, mode, owner=(-1, -1)):
        return self._hook("stage", super().stage, path, data, mode, owner)

    def replace(self, tmp, path):
        return self._hook("replace", super().replace, tmp, path)

    def write(self, path, data, mode, owner=(-1, -1)):
        return self._hook("write", super().write, path, data, mode, owner)

    def unlink(self, path):
        return self._hook("unlink", super().unlink, path)


def fake_check(content, path, extra_directives=(), assume_present=()):
    return ["%s:1: invalid directive" % path] if "INVALID" in content else []


class Host:
    """A temporary PowerMTA host: files under ``root``, a fake PowerMTA running ``running``."""

    def __init__(self, tmp_path, current=OLD, running=None):
        self.root = str(tmp_path / "root")
        os.makedirs(self.real("/etc/pmta"))
        os.makedirs(self.real("/var/lib/mailfleet"))
        self.pmta = FakePmta(pd.HostFiles(self.root))
        if current is not None:
            with open(self.real(CONFIG), "w") as handle:
                handle.write(current)
            self.pmta.running = (running if running is not None else current).encode()

    def real(self, path):
        return os.path.join(self.root, path.lstrip("/"))

    def config(self):
        with open(self.real(CONFIG)) as handle:
            return handle.read()

    def journal(self):
        path = self.real(JOURNAL)
        if not os.path.exists(path):
            return None
        with open(path) as handle:
            return json.load(handle)

    def leftovers(self):
        return sorted(n for n in os.listdir(self.real("/etc/pmta")) if n.endswith(".tmp"))

    def backups(self):
        path = self.real(BACKUPS)
        return sorted(os.listdir(path)) if os.path.isdir(path) else []

    def running(self):
        return self.pmta.running.decode() if self.pmta.running is not None else None

    def deploy(self, content=NEW, files=None, check_mode=False, **kwargs):
        request = pd.Request(path=CONFIG, content=content, backup_dir=BACKUPS, journal=JOURNAL,
                             reload_timeout=5, **kwargs)
        return pd.deploy(request, files or pd.HostFiles(self.root), self.pmta, fake_check, check_mode=check_mode,
                         now=lambda: "2026-11-20T05:15:00+00:00")


# --------------------------------------------------------------------------- the happy paths

def test_new_configuration_is_checked_backed_up_swapped_and_reloaded(tmp_path):
    host = Host(tmp_path)
    out = host.deploy(NEW)
    assert not out.failed, out.msg
    r = out.result
    assert (r["changed"], r["reloaded"], r["live"], r["reload_owed"]) == (True, True, "new", False)
    assert host.config() == NEW and host.running() == NEW
    assert host.journal() is None and host.leftovers() == []
    assert len(host.backups()) == 1
    with open(host.real(os.path.join(BACKUPS, host.backups()[0]))) as handle:
        assert handle.read() == OLD
    assert r["backup"] == os.path.join(BACKUPS, host.backups()[0])
    assert "the new configuration is live" in out.msg
    assert stat.S_IMODE(os.stat(host.real(CONFIG)).st_mode) == 0o640


def test_second_run_changes_nothing_and_does_not_reload(tmp_path):
    host = Host(tmp_path)
    host.deploy(NEW)
    out = host.deploy(NEW)
    assert not out.failed
    assert (out.result["changed"], out.result["live"], out.result["settled"]) == (False, "new", None)
    assert host.pmta.calls == ["auto"]


def test_first_deploy_on_an_empty_host(tmp_path):
    host = Host(tmp_path, current=None)
    out = host.deploy(NEW)
    assert not out.failed and out.result["live"] == "new"
    assert host.running() == NEW and host.backups() == [] and "backup" in out.result
    assert out.result["backup"] is None


def test_content_without_final_newline_gets_one(tmp_path):
    host = Host(tmp_path)
    host.deploy(NEW.rstrip("\n"))
    assert host.config() == NEW


def test_reload_always_reloads_an_unchanged_file(tmp_path):
    host = Host(tmp_path, current=NEW, running=OLD)
    out = host.deploy(NEW, reload="always")
    assert not out.failed and out.result["changed"] and out.result["reloaded"]
    assert host.running() == NEW and host.backups() == [] and host.journal() is None


def test_backups_are_pruned(tmp_path):
    host = Host(tmp_path)
    for i in range(5):
        assert not host.deploy("# v%d\n" % i, backups_keep=3).failed
        time.sleep(0.002)
    assert len(host.backups()) == 3


def test_check_mode_writes_nothing(tmp_path):
    host = Host(tmp_path)
    out = host.deploy(NEW, check_mode=True)
    assert not out.failed and out.result["changed"] and out.result["live"] == "old"
    assert host.config() == OLD and host.pmta.calls == [] and host.journal() is None


def test_ownership_and_mode_are_checked_before_anything_is_written(tmp_path):
    host = Host(tmp_path)
    out = host.deploy(NEW, owner="no-such-user-mailfleet")
    assert out.failed and out.result["live"] == "old" and "does not exist on this host" in out.msg
    out = host.deploy(NEW, owner="no-such-user-mailfleet", check_mode=True)  # a bare host in check mode
    assert not out.failed and out.result["changed"]
    out = host.deploy(NEW, mode="rw-r")
    assert out.failed and "not an octal string" in out.msg
    assert host.config() == OLD and host.pmta.calls == []


def test_resolve_owner():
    assert pd.resolve_owner(None, "") == (-1, -1)
    assert pd.resolve_owner("0", "0") == (0, 0)
    assert pd.resolve_owner("root", None)[0] == 0
    with pytest.raises(ValueError):
        pd.resolve_owner(None, "no-such-group-mailfleet")


# --------------------------------------------------------------------------- check and reload faults

def test_check_failure_changes_nothing(tmp_path):
    host = Host(tmp_path)
    out = host.deploy(NEW + "INVALID\n")
    assert out.failed and out.result["live"] == "old"
    assert "fails the check; the live configuration is unchanged" in out.msg
    assert out.result["problems"] == ["%s:1: invalid directive" % CONFIG]
    assert host.config() == OLD and host.pmta.calls == [] and host.journal() is None and host.backups() == []


@pytest.mark.parametrize("answer, status", [
    ("refuse", "refused"), ("garbage", "not a confirmation"), ("silent", "not a confirmation"),
    ("signal", "not a confirmation"), ("contradiction", "not a confirmation"), ("hang", "did not answer within 5s"),
])
def test_failed_reload_is_rolled_back(tmp_path, answer, status):
    host = Host(tmp_path)
    host.pmta.script = [answer]
    out = host.deploy(NEW)
    assert out.failed
    r = out.result
    assert (r["live"], r["rolled_back"], r["rollback_reloaded"], r["reload_owed"]) == ("rolled_back", True, True, False)
    assert "pmta reload failed with the new configuration" in out.msg and status in out.msg
    assert "the previous configuration was restored and reloaded" in out.msg
    assert host.config() == OLD and host.running() == OLD
    assert host.journal() is None and host.leftovers() == []
    assert host.pmta.calls == [answer, "auto"]


def test_new_configuration_refused_by_powermta_itself(tmp_path):
    host = Host(tmp_path)
    out = host.deploy(NEW + "BROKEN\n")
    assert out.failed and out.result["live"] == "rolled_back" and "line 2: bad" in out.msg
    assert host.running() == OLD


@pytest.mark.parametrize("second", ["refuse", "hang", "garbage"])
def test_rollback_whose_reload_fails_too_is_unknown_and_stays_owed(tmp_path, second):
    host = Host(tmp_path)
    host.pmta.script = ["refuse", second]
    out = host.deploy(NEW)
    assert out.failed
    r = out.result
    assert (r["live"], r["rolled_back"], r["rollback_reloaded"], r["reload_owed"]) == ("unknown", True, False, True)
    assert "restored but its reload failed too" in out.msg and "what PowerMTA runs is unknown" in out.msg
    assert JOURNAL in out.msg
    assert host.config() == OLD and host.journal() is not None
    # the next run settles it first: the file on disk (the previous config) loads this time
    out = host.deploy(NEW)
    assert not out.failed, out.msg
    assert out.result["settled"]["action"] == "reloaded" and out.result["live"] == "new"
    assert host.pmta.calls[-2:] == ["auto", "auto"]
    assert host.running() == NEW and host.journal() is None


def test_missing_command_is_found_before_the_swap(tmp_path):
    host = Host(tmp_path)
    host.pmta.missing_reason = "/usr/sbin/pmta does not exist"
    out = host.deploy(NEW)
    assert out.failed and out.result["live"] == "old" and "nothing was swapped in" in out.msg
    assert host.config() == OLD and host.journal() is None and host.leftovers() == []


def test_command_that_cannot_start_is_rolled_back(tmp_path):
    host = Host(tmp_path)
    host.pmta.script = ["missing"]
    out = host.deploy(NEW)
    assert out.failed and out.result["live"] == "rolled_back" and "cannot run" in out.msg


def test_first_configuration_that_fails_has_nothing_to_roll_back_to(tmp_path):
    host = Host(tmp_path, current=None)
    host.pmta.script = ["refuse"]
    out = host.deploy(NEW)
    assert out.failed and out.result["live"] == "unknown" and out.result["reload_owed"]
    assert "nothing to roll back to (this was the first configuration)" in out.msg
    assert host.journal() is not None
    # the same content next time: the owed reload is tried first and now succeeds
    out = host.deploy(NEW)
    assert not out.failed and out.result["settled"]["action"] == "reloaded" and host.running() == NEW


def test_reload_always_that_fails_stays_owed(tmp_path):
    host = Host(tmp_path, current=NEW, running=OLD)
    host.pmta.script = ["refuse"]
    out = host.deploy(NEW, reload="always")
    assert out.failed and out.result["live"] == "unknown" and "the file was unchanged" in out.msg
    assert host.journal()["task"] == "reload"
    out = host.deploy(NEW)  # on_change, file unchanged: the owed reload still happens
    assert not out.failed and out.result["changed"] and host.running() == NEW


def test_reload_never_leaves_the_reload_owed(tmp_path):
    host = Host(tmp_path)
    out = host.deploy(NEW, reload="never")
    assert not out.failed and out.result["live"] == "old" and out.result["reload_owed"]
    assert host.config() == NEW and host.running() == OLD and host.journal() is not None
    out = host.deploy(NEW)
    assert not out.failed and out.result["changed"] and out.result["settled"]["action"] == "reloaded"
    assert host.running() == NEW


# --------------------------------------------------------------------------- the journal

def test_journal_is_written_before_the_swap_and_names_what_to_go_back_to(tmp_path):
    host = Host(tmp_path)
    files = Faulty(host.root, ops=("replace",), crash=1)  # die at the swap
    with pytest.raises(Crash):
        host.deploy(NEW, files=files)
    record = host.journal()
    assert record["version"] == 1 and record["path"] == CONFIG and record["task"] == "deploy"
    assert record["config_sha256"] == pd.sha256(NEW.encode())
    assert record["previous_sha256"] == pd.sha256(OLD.encode())
    assert record["backup"].startswith(BACKUPS + "/config.")
    assert os.path.exists(host.real(record["rollback_copy"])) and os.path.exists(host.real(record["staged"]))
    assert record["since"] == "2026-11-20T05:15:00+00:00"
    assert stat.S_IMODE(os.stat(host.real(JOURNAL)).st_mode) == 0o600


def test_crash_between_swap_and_reload_is_settled_by_the_next_run(tmp_path):
    """The issue's case: the file is already the rendered one; the next run must still reload."""
    host = Host(tmp_path)
    host.pmta.script = ["crash"]
    with pytest.raises(Crash):
        host.deploy(NEW)
    assert host.config() == NEW and host.running() == OLD and host.journal() is not None
    out = host.deploy(NEW)
    assert not out.failed
    r = out.result
    assert r["changed"] and r["live"] == "new" and r["settled"]["action"] == "reloaded"
    assert r["settled"]["since"] == "2026-11-20T05:15:00+00:00"
    assert "settled first: reloaded the configuration owed a reload since" in out.msg
    assert host.running() == NEW and host.journal() is None and host.leftovers() == []
    out = host.deploy(NEW)
    assert not out.failed and not out.result["changed"]


def test_check_mode_reports_the_owed_reload_and_does_nothing(tmp_path):
    host = Host(tmp_path)
    host.pmta.script = ["crash"]
    with pytest.raises(Crash):
        host.deploy(NEW)
    calls = list(host.pmta.calls)
    out = host.deploy(NEW, check_mode=True)
    assert not out.failed
    r = out.result
    assert r["changed"] and r["reload_owed"] and r["live"] == "unknown" and r["settled"]["action"] == "owed"
    assert "a reload is owed since 2026-11-20T05:15:00+00:00" in out.msg
    assert host.pmta.calls == calls and host.journal() is not None


def test_owed_configuration_that_powermta_refuses_is_rolled_back_first(tmp_path):
    host = Host(tmp_path)
    host.pmta.script = ["crash"]
    with pytest.raises(Crash):
        host.deploy(NEW + "BROKEN\n")
    out = host.deploy(NEW + "BROKEN\n")
    assert out.failed and out.result["live"] == "rolled_back"
    assert out.result["settled"]["action"] == "rolled_back" and out.result["settled"]["rollback_reloaded"]
    assert "failed to load" in out.msg and "line 2: bad" in out.msg
    assert host.config() == OLD and host.running() == OLD and host.journal() is None
    assert host.leftovers() == []


def test_owed_configuration_rolled_back_from_the_backup_when_the_copy_is_gone(tmp_path):
    host = Host(tmp_path)
    host.pmta.script = ["crash"]
    with pytest.raises(Crash):
        host.deploy(NEW + "BROKEN\n")
    os.unlink(host.real(host.journal()["rollback_copy"]))
    out = host.deploy(NEW)
    assert out.failed and out.result["live"] == "rolled_back" and host.config() == OLD


def test_owed_configuration_that_fails_with_nothing_to_go_back_to(tmp_path):
    host = Host(tmp_path, current=None)
    host.pmta.script = ["crash"]
    with pytest.raises(Crash):
        host.deploy(NEW + "BROKEN\n")
    out = host.deploy(NEW + "BROKEN\n")  # the same content: nothing can settle it
    assert out.failed and out.result["live"] == "unknown" and out.result["settled"]["action"] == "failed"
    assert "no previous configuration to go back to" in out.msg and host.journal() is not None
    out = host.deploy(NEW)  # a fixed configuration replaces it, and its reload settles both
    assert not out.failed and out.result["live"] == "new" and host.journal() is None
    assert host.running() == NEW


def test_owed_reload_with_the_command_gone_touches_nothing(tmp_path):
    host = Host(tmp_path)
    host.pmta.script = ["crash"]
    with pytest.raises(Crash):
        host.deploy(NEW)
    host.pmta.missing_reason = "/usr/sbin/pmta does not exist"
    out = host.deploy(NEWER)
    assert out.failed and out.result["live"] == "unknown" and "cannot settle the reload owed" in out.msg
    assert host.config() == NEW and host.journal() is not None


def test_unreadable_journal_still_means_a_reload_is_owed(tmp_path):
    host = Host(tmp_path, current=NEW, running=OLD)
    with open(host.real(JOURNAL), "w") as handle:
        handle.write("{truncated")
    out = host.deploy(NEW)
    assert not out.failed and out.result["changed"] and out.result["settled"]["action"] == "reloaded"
    assert host.running() == NEW and host.journal() is None


def test_journal_that_cannot_be_read_fails_as_unknown(tmp_path):
    host = Host(tmp_path)
    os.makedirs(host.real(JOURNAL))  # a directory where the journal should be: reading it fails
    out = host.deploy(NEW)
    assert out.failed and out.result["live"] == "unknown" and "reload journal" in out.msg
    assert host.config() == OLD and host.pmta.calls == []


def test_settled_reload_then_a_new_configuration(tmp_path):
    host = Host(tmp_path)
    host.pmta.script = ["crash"]
    with pytest.raises(Crash):
        host.deploy(NEW)
    out = host.deploy(NEWER)
    assert not out.failed and out.result["settled"]["action"] == "reloaded" and out.result["reloaded"]
    assert host.pmta.calls == ["crash", "auto", "auto"] and host.running() == NEWER
    with open(host.real(os.path.join(BACKUPS, host.backups()[-1]))) as handle:
        assert handle.read() == NEW  # the settled (confirmed) one is what a rollback would restore


def test_leftover_temporary_files_are_swept(tmp_path):
    host = Host(tmp_path)
    files = Faulty(host.root, ops=("write",), crash=1)  # dies at the backup: nothing names the staged files
    with pytest.raises(Crash):
        host.deploy(NEW, files=files)
    assert len(host.leftovers()) == 2 and host.journal() is None
    out = host.deploy(NEW)
    assert not out.failed and host.leftovers() == []


# --------------------------------------------------------------------------- disk full at each write

WRITES = ("stage", "write")  # staged new file, staged copy of the live one, backup, journal


@pytest.mark.parametrize("nth", [1, 2, 3, 4])
def test_disk_full_at_each_write_before_the_swap_changes_nothing(tmp_path, nth):
    host = Host(tmp_path)
    files = Faulty(host.root, fail=nth, ops=WRITES)
    out = host.deploy(NEW, files=files)
    assert out.failed, out.msg
    assert out.result["live"] == "old" and "No space left on device" in out.msg and "nothing was swapped in" in out.msg
    assert host.config() == OLD and host.running() == OLD and host.pmta.calls == []
    assert host.journal() is None and host.leftovers() == []
    assert [op for op, _ in files.log] == list(("stage", "stage", "write", "write")[:nth])
    out = host.deploy(NEW)
    assert not out.failed and host.running() == NEW


def test_disk_full_does_not_stop_a_rollback(tmp_path):
    """Putting the previous file back renames the copy staged before the swap: no space needed."""
    host = Host(tmp_path)
    host.pmta.script = ["refuse"]
    files = Faulty(host.root, fail=5, ops=WRITES)  # any write after the journal fails
    out = host.deploy(NEW, files=files)
    assert out.failed and out.result["live"] == "rolled_back" and host.config() == OLD


def test_disk_full_when_restoring_from_the_backup_is_unknown(tmp_path):
    host = Host(tmp_path)
    host.pmta.script = ["crash"]
    with pytest.raises(Crash):
        host.deploy(NEW + "BROKEN\n")
    os.unlink(host.real(host.journal()["rollback_copy"]))
    files = Faulty(host.root, fail=1, ops=("write",))
    out = host.deploy(NEW, files=files)
    assert out.failed and out.result["live"] == "unknown" and "No space left on device" in out.msg
    assert host.journal() is not None


def test_journal_that_cannot_be_removed_is_a_warning_and_reloads_once_more(tmp_path):
    host = Host(tmp_path)
    files = Faulty(host.root, fail=1, ops=("unlink",), errno_=errno.EIO, match="journal")
    out = host.deploy(NEW, files=files)
    assert not out.failed and out.result["live"] == "new"
    assert any("could not be removed" in w for w in out.warnings)
    out = host.deploy(NEW)
    assert out.result["settled"]["action"] == "reloaded" and host.journal() is None


# --------------------------------------------------------------------------- a crash at each step

def _ops_of_a_deploy(tmp_path):
    host = Host(tmp_path / "probe")
    files = Faulty(host.root)
    assert not host.deploy(NEW, files=files).failed
    return len(files.log) + 1  # + the reload


@pytest.mark.parametrize("after", [False, True], ids=["before-op", "after-op"])
def test_crash_at_each_step_is_settled_by_the_next_run(tmp_path, after):
    """Whatever step the process dies at, the next run leaves PowerMTA on the new configuration,
    reports a change whenever PowerMTA did not run the file on disk, and the run after is quiet."""
    total = _ops_of_a_deploy(tmp_path)
    assert total >= 8
    for nth in range(1, total + 1):
        host = Host(tmp_path / ("h%d-%s" % (nth, after)))
        files = Faulty(host.root, crash=nth, after=after)
        host.pmta.script = []
        if nth == total:  # the reload itself
            host.pmta.script = ["load-then-crash" if after else "crash"]
            files = pd.HostFiles(host.root)
        try:
            host.deploy(NEW, files=files)
        except Crash:
            pass
        stale = host.running() != host.config()
        out = host.deploy(NEW)
        assert not out.failed, (nth, out.msg)
        assert out.result["live"] == "new" and host.running() == NEW, nth
        if stale or host.journal() is not None:
            assert out.result["changed"], nth
        assert host.journal() is None and host.leftovers() == [], nth
        quiet = host.deploy(NEW)
        assert not quiet.failed and not quiet.result["changed"], nth


def test_crash_during_the_rollback_is_settled(tmp_path):
    host = Host(tmp_path)
    host.pmta.script = ["refuse", "crash"]
    with pytest.raises(Crash):
        host.deploy(NEW)
    assert host.config() == OLD and host.journal() is not None
    out = host.deploy(NEW)
    assert not out.failed and out.result["settled"]["action"] == "reloaded" and host.running() == NEW


# --------------------------------------------------------------------------- the answer and the real runner

@pytest.mark.parametrize("rc, output, status", [
    (0, b"Configuration reloaded.\n", "confirmed"),
    (0, b"warning: x\nConfiguration reloaded.\n", "confirmed"),
    (0, b"Configuration reloaded. (not really)\n", "unreadable"),
    (1, b"Error reloading configuration\n", "refused"),
    (1, b"Configuration reloaded.\n", "unreadable"),
    (0, b"", "unreadable"),
    (0, b"ok\n", "unreadable"),
    (1, b"", "unreadable"),
    (-15, b"Terminated\n", "unreadable"),
    (1, b"\xff\xfe error", "unreadable"),
])
def test_read_answer(rc, output, status):
    assert pd.read_answer(rc, output).status == status


def test_long_answers_are_cut(tmp_path):
    answer = pd.read_answer(1, b"x" * 10000)
    assert answer.status == "refused" and len(answer.output) < 4100


def _script(tmp_path, body):
    path = tmp_path / "pmta"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


def test_command_runner_reads_output_and_environment(tmp_path):
    runner = pd.CommandRunner(_script(tmp_path, 'echo "$1 $MF_X"; echo "Configuration reloaded."\n'),
                              {"MF_X": 7})
    assert runner.missing() is None
    answer = pd.reload(runner, 10)
    assert answer.confirmed and answer.output.startswith("reload 7")


def test_command_runner_stops_a_hung_reload_and_its_children(tmp_path):
    pidfile = tmp_path / "child.pid"
    runner = pd.CommandRunner(_script(tmp_path, "sleep 60 & echo $! > %s; wait\n" % pidfile))
    t0 = time.time()
    answer = pd.reload(runner, 1)
    assert answer.status == "hung" and time.time() - t0 < 10
    pid = int(pidfile.read_text())
    deadline = time.time() + 5
    while _alive(pid) and time.time() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_command_runner_missing_and_not_executable(tmp_path):
    assert "does not exist" in pd.CommandRunner(str(tmp_path / "nope")).missing()
    path = tmp_path / "noexec"
    path.write_text("#!/bin/sh\n")
    path.chmod(0o644)
    if os.geteuid() != 0:
        assert "not executable" in pd.CommandRunner(str(path)).missing()
    answer = pd.reload(pd.CommandRunner(str(tmp_path / "nope")), 5)
    assert answer.status == "missing" and "No such file" in answer.output


def test_live_states_have_texts():
    for live in pd.LIVE_STATES:
        assert pd.live_text(live, JOURNAL)
    assert JOURNAL in pd.live_text("unknown", JOURNAL)


# --------------------------------------------------------------------------- one deploy at a time

def test_a_second_deploy_of_the_host_waits_then_does_nothing(tmp_path):
    host = Host(tmp_path)
    request = pd.Request(path=CONFIG, content=NEW, backup_dir=BACKUPS, journal=JOURNAL)
    with pd.HostFiles(host.root).lock(JOURNAL + ".lock", 1):
        t0 = time.time()
        out = pd.deploy(request, pd.HostFiles(host.root), host.pmta, fake_check, lock_wait=0.5)
        assert time.time() - t0 >= 0.5
    assert out.failed and out.result["live"] == "unknown" and "another deploy" in out.msg
    assert host.config() == OLD and host.pmta.calls == []
    # check mode reads only: no lock needed
    with pd.HostFiles(host.root).lock(JOURNAL + ".lock", 1):
        assert not pd.deploy(request, pd.HostFiles(host.root), host.pmta, fake_check, check_mode=True).failed


def test_deploy_lock_is_exclusive_and_released(tmp_path):
    host = Host(tmp_path)
    files = pd.HostFiles(host.root)
    with files.lock(JOURNAL + ".lock", 1):
        with pytest.raises(pd.DeployBusy):
            with pd.HostFiles(host.root).lock(JOURNAL + ".lock", 0.3):
                pass  # pragma: no cover
    with pd.HostFiles(host.root).lock(JOURNAL + ".lock", 0.3):
        pass
    assert not host.deploy(NEW).failed
