# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One run of the accounting ledger on a PowerMTA host: lock, load, scan, merge, prune, save.

Standard library only: it runs on PowerMTA hosts, inside the ``pmta_ledger`` module and inside
``host_state`` (``state: observe``, which reads the warmup and health states and brings the
ledger up to date in one SSH round trip). The parsing and the state files are
``module_utils/ledger.py``; this is the sequence around them, with the options both modules take
(:data:`OPTIONS`). Every failure is a :class:`ledger.LedgerError` whose message names the file or
directory and the operation; nothing is written in check mode.
"""
from __future__ import absolute_import, division, print_function

import copy
import datetime
import fcntl
import os
import time

from ansible_collections.mailfleet.fleet.plugins.module_utils import ledger as lg
from ansible_collections.mailfleet.fleet.plugins.module_utils.providers import PROVIDERS, ProviderClassifier

__metaclass__ = type

# The options of a ledger run and their defaults (the modules' argument specs follow them).
OPTIONS = {
    "acct_dir": "/var/log/pmta",
    "archive_dirs": [],
    "acct_columns": [],
    "patterns": list(lg.DEFAULT_PATTERNS),
    "state_dir": "/var/lib/mailfleet",
    "keep_days": 90,
    "days": 7,
    "since": None,
    "vmta_ips": {},
    "providers": None,
    "hard_bounce_categories": list(lg.DEFAULT_HARD_BOUNCE_CATEGORIES),
    "by_vmta": False,
    "lock_timeout": 60,
}


# The modules' argument spec of these options (types; defaults from OPTIONS when asked for).
ARG_TYPES = {
    "acct_dir": {"type": "path"},
    "archive_dirs": {"type": "list", "elements": "path"},
    "acct_columns": {"type": "list", "elements": "str"},
    "patterns": {"type": "list", "elements": "str"},
    "state_dir": {"type": "path"},
    "keep_days": {"type": "int"},
    "days": {"type": "int"},
    "since": {"type": "str"},
    "vmta_ips": {"type": "dict"},
    "providers": {"type": "dict"},
    "hard_bounce_categories": {"type": "list", "elements": "str"},
    "by_vmta": {"type": "bool"},
    "lock_timeout": {"type": "int"},
}


def argument_spec(defaults=True, exclude=()):
    """The argument spec of a ledger run's options (``pmta_ledger``'s, and ``host_state``'s
    ``ledger`` suboptions without defaults: a missing option takes :data:`OPTIONS`)."""
    spec = {}
    for name, types in ARG_TYPES.items():
        if name in exclude:
            continue
        spec[name] = dict(types)
        if defaults and OPTIONS[name] is not None:
            spec[name]["default"] = copy.deepcopy(OPTIONS[name])
    return spec


def options(given):
    """The options of a run: ``given`` over :data:`OPTIONS` (None takes the default); raises
    LedgerError naming the first option that is wrong."""
    unknown = sorted(set(given or {}) - set(OPTIONS))
    if unknown:
        raise lg.LedgerError("ledger: unknown option(s) %s" % ", ".join(unknown))
    p = {k: (given or {}).get(k) if (given or {}).get(k) is not None else v for k, v in OPTIONS.items()}
    for key in ("keep_days", "days", "lock_timeout"):
        if not isinstance(p[key], int) or isinstance(p[key], bool):
            raise lg.LedgerError("%s must be an integer (got %r)" % (key, p[key]))
    if p["keep_days"] < 1:
        raise lg.LedgerError("keep_days must be at least 1 (got %s)" % p["keep_days"])
    if p["days"] < 1:
        raise lg.LedgerError("days must be at least 1 (got %s)" % p["days"])
    if p["since"]:
        try:
            datetime.datetime.strptime(p["since"], "%Y-%m-%d")
        except (TypeError, ValueError):
            raise lg.LedgerError("since must be a date YYYY-MM-DD (got %r)" % (p["since"],))
    if p["providers"] is not None:
        unknown = sorted(set(p["providers"]) - set(PROVIDERS))
        if unknown:
            raise lg.LedgerError("providers: unknown provider(s) %s (expected %s)"
                                 % (", ".join(unknown), ", ".join(PROVIDERS)))
    if p["acct_columns"]:
        lowered = [str(c).strip().lower() for c in p["acct_columns"]]
        if "type" not in lowered or "timelogged" not in lowered:
            raise lg.LedgerError("acct_columns must name the type and timeLogged columns (got %s)"
                                 % ",".join(str(c) for c in p["acct_columns"]))
    if not isinstance(p["vmta_ips"], dict):
        raise lg.LedgerError("vmta_ips must be a mapping VMTA -> IP address")
    bad = sorted(str(k) for k, v in p["vmta_ips"].items() if not isinstance(v, str) or not v)
    if bad:
        raise lg.LedgerError("vmta_ips: VMTA(s) %s need an IP address string" % ", ".join(bad))
    return p


def _lock(state_dir, exclusive, timeout):
    """Hold a lock on the state directory so that two runs never interleave (None if absent)."""
    try:
        fd = os.open(state_dir, os.O_RDONLY)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise lg.LedgerError("cannot open state directory %s to lock it: %s" % (state_dir, exc.strerror))
    deadline = time.time() + timeout
    while True:
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.time() > deadline:
                os.close(fd)
                raise lg.LedgerError("cannot lock state directory %s: another ledger run holds it (waited %ss)"
                                     % (state_dir, timeout))
            time.sleep(0.2)


def summary(tot):
    """The diff text of a ledger's totals (outcomes, classes, days)."""
    lines = ["%s: %d\n" % (k, tot[k]) for k in ("days",) + lg.OUTCOMES]
    lines += ["class %s: %d\n" % (k, tot["classes"][k]) for k in lg.CLASSES]
    return "".join(lines)


def update(given, check_mode=False, diff=False, today=None):
    """Bring the ledger of ``state_dir`` up to date with the accounting files of ``acct_dir``.

    Returns ``(result, warnings)``: ``result`` holds ``changed``, ``ledger`` (the compact form of
    the days asked for), ``days``, ``files``, ``files_unchanged``, ``records``, ``totals``,
    ``state_files`` (+ ``ledger_by_vmta`` with ``by_vmta``, ``diff`` with ``diff``). In check
    mode nothing is written (no directory, no repair, no save) and the lock is shared. Raises
    LedgerError."""
    p = options(given)
    today = today or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    state_dir = p["state_dir"]
    warnings = []
    if not check_mode and not os.path.isdir(state_dir):
        try:
            os.makedirs(state_dir, 0o750)
        except OSError as exc:
            raise lg.LedgerError("cannot create state directory %s: %s" % (state_dir, exc.strerror))
    lock_fd = _lock(state_dir, not check_mode, p["lock_timeout"])
    try:
        ledger, cursor, notes = lg.load_state(state_dir, repair=not check_mode)
        warnings.extend(notes)
        parser = lg.RecordParser(classifier=ProviderClassifier(p["providers"]) if p["providers"] else None,
                                 hard_categories=p["hard_bounce_categories"], vmta_ips=p["vmta_ips"])
        scanner = lg.AcctScanner(p["acct_dir"], patterns=p["patterns"], parser=parser, today=today,
                                 keep_days=p["keep_days"], extra_dirs=p["archive_dirs"],
                                 default_columns=p["acct_columns"])
        new_cursor, delta, file_stats = scanner.scan(cursor)
        old_days = ledger["days"]
        new_days = lg.merge_delta(_copy_days(old_days), delta)
        lg.prune(new_days, today, p["keep_days"])
        changed = new_days != old_days or new_cursor != lg.cursor_state(cursor)
        if changed and not check_mode:
            lg.save_state(state_dir, dict(ledger, days=new_days), new_cursor, delta)
    finally:
        if lock_fd is not None:
            os.close(lock_fd)

    for stats in file_stats:
        if stats["status"] in ("error", "bad-header"):
            warnings.append("%s: %s" % (stats["path"], stats.get("note", stats["status"])))
    since = p["since"] or lg.first_kept_day(today, p["days"])
    result = {
        "changed": changed,
        "ledger": lg.compact(new_days, since=since),
        "days": [d for d in sorted(new_days) if d >= since],
        "files": [s for s in file_stats if s["status"] != "unchanged"],
        "files_unchanged": sum(1 for s in file_stats if s["status"] == "unchanged"),
        "records": lg.delta_totals(delta),
        "totals": lg.totals(new_days),
        "state_files": {"ledger": os.path.join(state_dir, lg.LEDGER_FILE),
                        "cursor": os.path.join(state_dir, lg.CURSOR_FILE)},
    }
    if p["by_vmta"]:
        result["ledger_by_vmta"] = lg.by_vmta(new_days, since=since)
    if diff:
        result["diff"] = {"before_header": result["state_files"]["ledger"],
                          "after_header": result["state_files"]["ledger"],
                          "before": summary(lg.totals(old_days)), "after": summary(result["totals"])}
    return result, warnings


def _copy_days(days):
    """Deep copy of the ledger's nested dicts of ints (faster than copy.deepcopy)."""
    return {day: {ip: {vmta: {prov: _copy_slot(counts) for prov, counts in by_prov.items()}
                       for vmta, by_prov in by_vmta.items()}
                  for ip, by_vmta in by_ip.items()}
            for day, by_ip in days.items()}


def _copy_slot(counts):
    slot = dict(counts)
    if "classes" in slot:
        slot["classes"] = dict(slot["classes"])
    return slot
