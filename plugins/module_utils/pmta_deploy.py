# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The safe deploy of a PowerMTA configuration, one step at a time.

Standard library only: it runs on the PowerMTA host inside the ``pmta_config`` module. The module
is a thin wrapper; every decision lives here, with the command runner and the file system
injected so that each step and each fault can be tested directly.

The sequence (``deploy``):

0. **Settle what is owed.** A reload journal left by an earlier run (a crash, a lost host, a
   reload that never answered) means PowerMTA may not run the file on disk. The file on disk is
   reloaded first; if PowerMTA refuses it and it is the configuration that was being deployed,
   the previous one is put back and reloaded. The result says what was settled.
1. **Check** the new text with mailfleet's checker. A failure changes nothing.
2. **Stage** the new file beside the live one, and a copy of the live one (so that putting it
   back later needs no free space), **back up** the live file, then **write the journal**: the
   reload is owed from here on. Any failure up to here leaves the live file alone.
3. **Swap** (one ``rename``), **reload**, and read PowerMTA's answer: only the line
   ``Configuration reloaded.`` confirms it (exit codes are not documented).
4. Confirmed: **clear the journal**. Not confirmed: **roll back** (rename the copy into place)
   and reload again; the journal is cleared only when that reload is confirmed.

Every outcome carries ``live``: ``new`` (the new configuration runs, confirmed), ``old`` (the
configuration that ran before this task still runs; nothing was swapped in), ``rolled_back``
(the new one failed; the previous one is back and PowerMTA confirmed it) or ``unknown`` (no
confirmation either way; the journal stays and the next run settles it before anything else).
"""
from __future__ import absolute_import, division, print_function

import contextlib
import datetime
import errno
import fcntl
import grp
import hashlib
import json
import os
import pwd
import signal
import subprocess
import time

from ansible_collections.mailfleet.fleet.plugins.module_utils.atomic import atomic_write, replace, stage

__metaclass__ = type

RELOADED = "Configuration reloaded."
JOURNAL_VERSION = 1
OUTPUT_LIMIT = 4000

LIVE_NEW, LIVE_OLD, LIVE_ROLLED_BACK, LIVE_UNKNOWN = "new", "old", "rolled_back", "unknown"
LIVE_STATES = (LIVE_NEW, LIVE_OLD, LIVE_ROLLED_BACK, LIVE_UNKNOWN)
LIVE_TEXT = {
    LIVE_NEW: "the new configuration is live (PowerMTA confirmed the reload)",
    LIVE_OLD: "the configuration that ran before stays live (nothing was swapped in)",
    LIVE_ROLLED_BACK: "the previous configuration was put back and PowerMTA confirmed its reload",
    LIVE_UNKNOWN: ("what PowerMTA runs is unknown: the reload journal %s stays on the host and the next run "
                   "settles it (reload, or roll back) before anything else"),
}

# What PowerMTA answered to `pmta reload`.
CONFIRMED, REFUSED, UNREADABLE, HUNG, MISSING = "confirmed", "refused", "unreadable", "hung", "missing"


class DeployError(Exception):
    """A step failed; ``live`` says what runs afterwards."""

    def __init__(self, msg, live):
        super(DeployError, self).__init__(msg)
        self.msg = msg
        self.live = live


class DeployBusy(Exception):
    """Another deploy holds the host's deploy lock."""


def live_text(live, journal):
    text = LIVE_TEXT[live]
    return text % journal if "%s" in text else text


def sha256(data):
    return hashlib.sha256(data).hexdigest() if data is not None else None


def _now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def _why(exc):
    return exc.strerror or str(exc) if isinstance(exc, EnvironmentError) else str(exc)


# --------------------------------------------------------------------------- the host's files

class HostFiles:
    """The PowerMTA host's file system as the deploy sees it.

    Paths are the host's absolute paths; ``root`` prefixes them all ("/" on a real host, a
    temporary directory in tests). Every write is atomic (``module_utils/atomic.py``).
    """

    def __init__(self, root="/"):
        self.root = os.path.abspath(root)

    def real(self, path):
        if self.root == "/":
            return path
        return os.path.join(self.root, os.path.abspath(path).lstrip("/"))

    def host_path(self, real):
        if self.root == "/":
            return real
        return "/" + os.path.relpath(real, self.root)

    def read(self, path):
        try:
            with open(self.real(path), "rb") as handle:
                return handle.read()
        except (IOError, OSError) as exc:
            if exc.errno == errno.ENOENT:
                return None
            raise

    def exists(self, path):
        return os.path.lexists(self.real(path))

    def isdir(self, path):
        return os.path.isdir(self.real(path))

    def makedirs(self, path, mode):
        if not os.path.isdir(self.real(path)):
            os.makedirs(self.real(path), mode)

    def listdir(self, path):
        return sorted(os.listdir(self.real(path)))

    def stage(self, path, data, mode, owner=(-1, -1)):
        """A temporary copy of ``data`` beside ``path`` (same directory); returns its host path."""
        return self.host_path(stage(self.real(path), data, mode, prepare=_chowner(owner)))

    def replace(self, tmp, path):
        replace(self.real(tmp), self.real(path))

    def write(self, path, data, mode, owner=(-1, -1)):
        atomic_write(self.real(path), data, mode, prepare=_chowner(owner))

    @contextlib.contextmanager
    def lock(self, path, timeout):
        """Hold an exclusive flock on ``path`` (created if needed); DeployBusy after ``timeout`` s."""
        self.makedirs(os.path.dirname(path), 0o750)
        fd = os.open(self.real(path), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except (IOError, OSError) as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                    if time.monotonic() >= deadline:
                        raise DeployBusy(path)
                    time.sleep(0.2)
            yield
        finally:
            os.close(fd)

    def unlink(self, path):
        try:
            os.unlink(self.real(path))
        except (IOError, OSError) as exc:
            if exc.errno != errno.ENOENT:
                raise


def _chowner(owner):
    uid, gid = owner
    if uid == -1 and gid == -1:
        return None
    return lambda tmp: os.chown(tmp, uid, gid)


def resolve_owner(owner, group):
    """(uid, gid) for os.chown, -1 where unchanged; names or numbers. Raises ValueError."""
    def one(value, lookup, kind):
        if value in (None, ""):
            return -1
        if str(value).isdigit():
            return int(value)
        try:
            return lookup(str(value))
        except KeyError:
            raise ValueError("%s %r does not exist on this host" % (kind, value))
    return (one(owner, lambda n: pwd.getpwnam(n).pw_uid, "owner"),
            one(group, lambda n: grp.getgrnam(n).gr_gid, "group"))


# --------------------------------------------------------------------------- the pmta command

class Answer:
    """What ``pmta reload`` answered: ``status`` is one of CONFIRMED, REFUSED, UNREADABLE, HUNG, MISSING."""

    def __init__(self, status, output="", rc=None):
        self.status = status
        self.output = output
        self.rc = rc

    @property
    def confirmed(self):
        return self.status == CONFIRMED

    def describe(self, command, timeout):
        if self.status == CONFIRMED:
            return "PowerMTA confirmed the reload"
        if self.status == REFUSED:
            return "PowerMTA refused it: %s" % (self.output or "(no output, exit %s)" % self.rc)
        if self.status == HUNG:
            return "%s reload did not answer within %ss and was stopped" % (command, timeout)
        if self.status == MISSING:
            return "cannot run %s: %s" % (command, self.output)
        return "PowerMTA's answer is not a confirmation (exit %s): %s" % (self.rc, self.output or "(no output)")


def read_answer(rc, output):
    """Interpret ``pmta reload``: only the line ``Configuration reloaded.`` with exit 0 confirms.

    Exit codes are not documented, so a non-zero exit with PowerMTA's error text is a refusal
    (PowerMTA keeps its running configuration), and anything else that is not a confirmation
    (exit 0 without the line, the line with a non-zero exit, a signal, no output) is unreadable.
    """
    text = output.decode("utf-8", "replace") if isinstance(output, bytes) else (output or "")
    text = text.strip()
    if len(text) > OUTPUT_LIMIT:
        text = text[:OUTPUT_LIMIT] + " [...]"
    lines = [line.strip() for line in text.splitlines()]
    said_reloaded = RELOADED in lines
    if rc == 0 and said_reloaded:
        return Answer(CONFIRMED, text, rc)
    if rc is not None and rc > 0 and not said_reloaded and text and "\ufffd" not in text:
        return Answer(REFUSED, text, rc)
    return Answer(UNREADABLE, text, rc)


class CommandRunner:
    """Runs the PowerMTA control command on the host (the production runner).

    ``run(argv, timeout)`` returns (rc, output bytes); raises OSError when the command cannot
    start and ``subprocess.TimeoutExpired`` when it hangs (its process group is killed).
    """

    def __init__(self, command, environment=None):
        self.command = command
        self.env = dict(os.environ)
        self.env.update({str(k): str(v) for k, v in (environment or {}).items()})

    def missing(self):
        """Why the command cannot run, or None."""
        if not os.path.isfile(self.command):
            return "%s does not exist" % self.command
        if not os.access(self.command, os.X_OK):
            return "%s is not executable" % self.command
        return None

    def run(self, args, timeout):
        proc = subprocess.Popen([self.command] + list(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        try:
            out, _err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            proc.communicate()
            raise
        return proc.returncode, out


def reload(runner, timeout):
    try:
        rc, out = runner.run(["reload"], timeout)
    except subprocess.TimeoutExpired:
        return Answer(HUNG)
    except (IOError, OSError) as exc:
        return Answer(MISSING, _why(exc))
    return read_answer(rc, out)


# --------------------------------------------------------------------------- the journal

class Journal:
    """The mark of a reload the host owes, in mailfleet's state directory (JSON, atomic)."""

    def __init__(self, files, path):
        self.files = files
        self.path = path

    def read(self):
        """The record, {} for a journal that cannot be parsed, None when nothing is owed."""
        data = self.files.read(self.path)
        if data is None:
            return None
        try:
            record = json.loads(data.decode("utf-8"))
        except ValueError:
            return {}
        return record if isinstance(record, dict) else {}

    def write(self, record):
        record = dict(record, version=JOURNAL_VERSION)
        self.files.makedirs(os.path.dirname(self.path), 0o750)
        self.files.write(self.path, json.dumps(record, sort_keys=True, indent=1) + "\n", 0o600)

    def clear(self):
        self.files.unlink(self.path)


# --------------------------------------------------------------------------- the request and its result

class Request:
    """What to deploy and how (the module's parameters)."""

    FIELDS = dict(path="/etc/pmta/config", content="", mode="0640", owner=None, group=None,
                  backup_dir="/var/lib/mailfleet/backups", backups_keep=10, reload="on_change",
                  journal="/var/lib/mailfleet/pmta-reload.journal", reload_timeout=300,
                  pmta_command="/usr/sbin/pmta", check_extra_directives=(), pending_files=())

    def __init__(self, **kwargs):
        unknown = set(kwargs) - set(self.FIELDS)
        if unknown:
            raise TypeError("unknown deploy parameters: %s" % ", ".join(sorted(unknown)))
        for name, default in self.FIELDS.items():
            value = kwargs.get(name)
            setattr(self, name, default if value is None else value)
        if not self.content.endswith("\n"):
            self.content += "\n"
        self.data = self.content.encode("utf-8")


class Outcome:
    """The result of one deploy (the module's return values) and, when it failed, why."""

    def __init__(self, request):
        self.request = request
        self.failed = False
        self.msg = ""
        self.warnings = []
        self.result = dict(changed=False, reloaded=False, live=LIVE_OLD, problems=[],
                           sha256=sha256(request.data), reload_owed=False, journal=request.journal,
                           settled=None, rolled_back=False, rollback_reloaded=None)

    def set(self, **values):
        self.result.update(values)

    def fail(self, msg, live):
        self.failed = True
        self.result["live"] = live
        self.msg = "pmta_config %s: %s. Live: %s." % (self.request.path, msg, live_text(live, self.request.journal))
        return self

    def done(self, live, msg=""):
        self.result["live"] = live
        self.msg = msg or "pmta_config %s: %s" % (self.request.path, live_text(live, self.request.journal))
        return self


# --------------------------------------------------------------------------- the sequence

class Deploy:
    """One run of the sequence on one host. ``check`` is the configuration checker
    (``pmta_check.check_text``); ``now`` gives the time stamps."""

    def __init__(self, request, files, runner, check, check_mode=False, now=_now, lock_wait=None):
        self.lock_wait = lock_wait
        self.req = request
        self.files = files
        self.runner = runner
        self.check = check
        self.check_mode = check_mode
        self.now = now
        self.journal = Journal(files, request.journal)
        self.out = Outcome(request)
        try:
            self.mode = int(str(request.mode), 8)
        except ValueError:
            self.mode = None

    # ---- the steps, in order
    def run(self):
        """The sequence, under the host's deploy lock (two runs of mailfleet -- say warmup.yml and
        health.yml -- never deploy one host at once); check mode reads only and takes no lock."""
        if self.check_mode:
            return self.steps()
        lock = self.req.journal + ".lock"
        try:
            wait = self.lock_wait if self.lock_wait is not None else self.req.reload_timeout * 2 + 60
            with self.files.lock(lock, wait):
                return self.steps()
        except DeployBusy:
            return self.out.fail("another deploy of this host's configuration is still running (it holds %s); "
                                 "this one did nothing" % lock, LIVE_UNKNOWN)
        except (IOError, OSError) as exc:
            return self.out.fail("taking the deploy lock %s failed: %s; nothing was done" % (lock, _why(exc)),
                                 LIVE_OLD)

    def steps(self):
        req, out = self.req, self.out
        if self.mode is None:
            return out.fail("mode %r is not an octal string" % (req.mode,), LIVE_OLD)
        try:
            # check mode writes nothing: the owner and group may be created by the same play
            self.owner = resolve_owner(req.owner, req.group) if not self.check_mode else (-1, -1)
        except ValueError as exc:
            return out.fail(str(exc), LIVE_OLD)
        try:
            owed = self.settle()
        except (IOError, OSError) as exc:
            out.set(reload_owed=True)
            return out.fail("settling the reload owed by an earlier run failed: %s" % _why(exc), LIVE_UNKNOWN)
        if out.failed:
            return out
        try:
            self.current = self.files.read(req.path)
        except (IOError, OSError) as exc:
            return out.fail("reading %s failed: %s" % (req.path, _why(exc)), LIVE_UNKNOWN if owed else LIVE_OLD)
        if not self.check_mode:
            self._sweep()
        changed_file = self.current != req.data
        want_reload = req.reload == "always" or (changed_file and req.reload == "on_change")
        out.set(changed=bool(changed_file or want_reload or out.result["settled"] or owed))

        problems = self.check(req.content, req.path, extra_directives=list(req.check_extra_directives),
                              assume_present=list(req.pending_files) if self.check_mode else [])
        out.set(problems=problems)
        if problems:
            return out.fail("the new configuration fails the check; the live configuration is unchanged:\n  %s"
                            % "\n  ".join(problems), LIVE_UNKNOWN if owed else LIVE_OLD)
        if self.check_mode:
            live = LIVE_UNKNOWN if owed else (LIVE_OLD if changed_file else LIVE_NEW)
            return out.done(live, self._check_mode_msg(owed))
        if not (changed_file or want_reload):
            return out.done(LIVE_NEW, self._settled_msg(unchanged=True))
        return self.swap_and_reload(changed_file)

    def settle(self):
        """Step 0: reload what an earlier run left owed. Returns True when a reload stays owed."""
        req, out = self.req, self.out
        try:
            record = self.journal.read()
        except (IOError, OSError) as exc:
            out.fail("reading the reload journal %s failed: %s" % (req.journal, _why(exc)), LIVE_UNKNOWN)
            return True
        if record is None:
            return False
        since = record.get("since") or "an earlier run"
        if self.check_mode:
            out.set(reload_owed=True, changed=True,
                    settled=dict(action="owed", since=since, sha256=record.get("config_sha256")))
            return True
        missing = self.runner.missing()
        if missing:
            out.set(reload_owed=True, settled=dict(action="failed", since=since, error=missing))
            out.fail("cannot settle the reload owed since %s: %s" % (since, missing), LIVE_UNKNOWN)
            return True
        self._discard(record.get("staged"))
        on_disk = self.files.read(req.path)
        answer = reload(self.runner, req.reload_timeout)
        settled = dict(action="reloaded", since=since, sha256=sha256(on_disk), reload_output=answer.output)
        if answer.confirmed:
            self._finish(record)
            out.set(settled=settled)
            return False
        why = answer.describe(req.pmta_command, req.reload_timeout)
        previous = self._previous(record, on_disk)
        if previous is None:
            # Nothing to go back to: the reload stays owed. A new configuration may still replace
            # the file (its reload settles this one too); an unchanged one fails below.
            self._discard(record.get("rollback_copy"))
            out.set(reload_owed=True, settled=dict(settled, action="failed", error=why))
            if on_disk == req.data:
                out.fail("the reload owed since %s failed: %s; there is no previous configuration to go "
                         "back to" % (since, why), LIVE_UNKNOWN)
            return True
        try:
            self._put_back(record, previous)
        except (IOError, OSError) as exc:
            out.set(reload_owed=True, settled=dict(settled, action="failed", error=why))
            out.fail("the reload owed since %s failed: %s; putting the previous configuration back failed: %s"
                     % (since, why, _why(exc)), LIVE_UNKNOWN)
            return True
        back = reload(self.runner, req.reload_timeout)
        out.set(changed=True, rollback_output=back.output,
                settled=dict(settled, action="rolled_back", error=why, rollback_reloaded=back.confirmed))
        if back.confirmed:
            self._finish(record)
            out.fail("the configuration owed a reload since %s failed to load: %s; the previous configuration "
                     "was put back" % (since, why), LIVE_ROLLED_BACK)
        else:
            out.set(reload_owed=True)
            out.fail("the configuration owed a reload since %s failed to load: %s; the previous configuration "
                     "was put back but its reload was not confirmed either: %s" % (
                         since, why, back.describe(req.pmta_command, req.reload_timeout)), LIVE_UNKNOWN)
        return True

    def swap_and_reload(self, changed_file):
        req, out = self.req, self.out
        reload_now = req.reload != "never"
        missing = self.runner.missing() if reload_now else None
        if missing:
            return out.fail("cannot reload PowerMTA: %s; nothing was swapped in" % missing, self._live_before())
        directory = os.path.dirname(req.path) or "/"
        if not self.files.isdir(directory):
            return out.fail("directory %s does not exist" % directory, self._live_before())
        record = dict(path=req.path, since=self.now(), config_sha256=sha256(req.data),
                      previous_sha256=sha256(self.current), backup=None, rollback_copy=None, staged=None,
                      task="deploy" if changed_file else "reload")
        step = "writing the new configuration next to the live one"
        try:
            if changed_file:
                record["staged"] = self.files.stage(req.path, req.data, self.mode, self.owner)
                if self.current is not None:
                    step = "keeping a copy of the live configuration"
                    record["rollback_copy"] = self.files.stage(req.path, self.current, self.mode, self.owner)
                    step = "backing up the live configuration"
                    record["backup"] = self._backup()
            step = "writing the reload journal %s" % req.journal
            self.journal.write(record)
        except (IOError, OSError) as exc:
            self._discard(record["staged"], record["rollback_copy"])
            return out.fail("%s failed: %s; nothing was swapped in" % (step, _why(exc)), self._live_before())
        out.set(backup=record["backup"], changed=True)
        if changed_file:
            try:
                self.files.replace(record["staged"], req.path)
                record["staged"] = None
            except (IOError, OSError) as exc:
                self._discard(record["staged"], record["rollback_copy"])
                self._clear_journal()
                return out.fail("replacing the live configuration failed: %s; nothing was swapped in" % _why(exc),
                                self._live_before())
        if not reload_now:
            out.set(reload_owed=True)
            return out.done(LIVE_OLD, "pmta_config %s: written, not reloaded (reload=never): PowerMTA runs the "
                                      "configuration it ran before; the reload journal %s makes the next run "
                                      "reload it" % (req.path, req.journal))
        answer = reload(self.runner, req.reload_timeout)
        out.set(reload_output=answer.output)
        if answer.confirmed:
            out.set(reloaded=True)
            self._finish(record)
            if changed_file and self.current is not None:
                self._prune()
            return out.done(LIVE_NEW, self._settled_msg())
        return self.roll_back(record, answer, changed_file)

    def roll_back(self, record, answer, changed_file):
        req, out = self.req, self.out
        why = answer.describe(req.pmta_command, req.reload_timeout)
        out.set(reload_owed=True)
        if not changed_file or self.current is None:
            nothing = "the file was unchanged" if not changed_file else "this was the first configuration"
            return out.fail("pmta reload failed: %s; there is nothing to roll back to (%s)" % (why, nothing),
                            LIVE_UNKNOWN)
        try:
            self._put_back(record, self.current)
        except (IOError, OSError) as exc:
            return out.fail("pmta reload failed with the new configuration: %s; putting the previous configuration "
                            "back failed: %s" % (why, _why(exc)), LIVE_UNKNOWN)
        back = reload(self.runner, req.reload_timeout)
        out.set(rollback_output=back.output, rolled_back=True, rollback_reloaded=back.confirmed)
        if back.confirmed:
            out.set(reload_owed=False)
            self._finish(record)
            return out.fail("pmta reload failed with the new configuration: %s -- the previous configuration was "
                            "restored and reloaded" % why, LIVE_ROLLED_BACK)
        return out.fail("pmta reload failed with the new configuration: %s -- the previous configuration was "
                        "restored but its reload failed too: %s" % (
                            why, back.describe(req.pmta_command, req.reload_timeout)), LIVE_UNKNOWN)

    # ---- helpers
    def _live_before(self):
        return LIVE_UNKNOWN if self.out.result["reload_owed"] else LIVE_OLD

    def _backup(self):
        self.files.makedirs(self.req.backup_dir, 0o750)
        stamp = datetime.datetime.now().strftime("%Y%m%dT%H%M%S.%f")
        backup = os.path.join(self.req.backup_dir, "config.%s" % stamp)
        self.files.write(backup, self.current, 0o600)
        return backup

    def _previous(self, record, on_disk):
        """The configuration to go back to when the owed one fails, or None."""
        if not record.get("previous_sha256") or sha256(on_disk) != record.get("config_sha256"):
            return None
        for path in (record.get("rollback_copy"), record.get("backup")):
            if path:
                try:
                    data = self.files.read(path)
                except (IOError, OSError):
                    data = None
                if data is not None and sha256(data) == record["previous_sha256"]:
                    return data
        return None

    def _put_back(self, record, previous):
        """The previous file back in place: rename the copy staged before the swap (needs no
        free space), else write it from its content."""
        copy = record.get("rollback_copy")
        if copy and self.files.exists(copy):
            self.files.replace(copy, self.req.path)
            record["rollback_copy"] = None
        else:
            self.files.write(self.req.path, previous, self.mode, self.owner)

    def _finish(self, record):
        """The owed reload is confirmed: remove the journal and what it kept."""
        self._discard(record.get("staged"), record.get("rollback_copy"))
        self._clear_journal()

    def _clear_journal(self):
        try:
            self.journal.clear()
        except (IOError, OSError) as exc:
            self.out.warnings.append("the reload journal %s could not be removed (%s): the next run reloads "
                                     "once more" % (self.req.journal, _why(exc)))

    def _discard(self, *paths):
        for path in paths:
            if path:
                try:
                    self.files.unlink(path)
                except (IOError, OSError):
                    pass

    def _sweep(self):
        """Remove temporary files an interrupted run left beside the live file before it could
        name them in a journal (the run lock keeps two runs from staging at once)."""
        directory = os.path.dirname(self.req.path) or "/"
        prefix = "." + os.path.basename(self.req.path) + "."
        try:
            names = self.files.listdir(directory) if self.files.isdir(directory) else []
        except (IOError, OSError):
            return
        for name in names:
            if name.startswith(prefix) and name.endswith(".tmp"):
                self._discard(os.path.join(directory, name))

    def _prune(self):
        try:
            names = [n for n in self.files.listdir(self.req.backup_dir) if n.startswith("config.")]
            for name in names[:-self.req.backups_keep] if self.req.backups_keep > 0 else []:
                self.files.unlink(os.path.join(self.req.backup_dir, name))
        except (IOError, OSError) as exc:
            self.out.warnings.append("pruning old backups in %s failed: %s" % (self.req.backup_dir, _why(exc)))

    def _settled_msg(self, unchanged=False):
        settled = self.out.result["settled"]
        text = live_text(LIVE_NEW, self.req.journal)
        if settled and settled.get("action") == "reloaded":
            text = "settled first: reloaded the configuration owed a reload since %s; %s" % (settled["since"], text)
        elif unchanged:
            text = "unchanged and no reload owed: PowerMTA runs the configuration on disk"
        return "pmta_config %s: %s" % (self.req.path, text)

    def _check_mode_msg(self, owed):
        if owed:
            return ("pmta_config %s: a reload is owed since %s (journal %s); a real run settles it first"
                    % (self.req.path, self.out.result["settled"]["since"], self.req.journal))
        return "pmta_config %s: check mode, nothing written" % self.req.path


def deploy(request, files, runner, check, check_mode=False, now=_now, lock_wait=None):
    """Run the sequence; returns the Outcome (``failed``, ``msg``, ``result``, ``warnings``).
    ``lock_wait``: seconds to wait for another deploy of the host (default: twice the reload
    timeout, plus a minute)."""
    return Deploy(request, files, runner, check, check_mode, now, lock_wait).run()
