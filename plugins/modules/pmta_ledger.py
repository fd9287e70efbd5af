#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Ansible module: incremental per-IP, per-provider ledger from PowerMTA accounting files."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: pmta_ledger
short_description: Keep a per-IP, per-provider daily ledger from PowerMTA accounting files
description:
  - Runs on a PowerMTA host (Python standard library only). Reads the accounting CSV files
    incrementally (the live file such as C(/var/log/pmta/acct.csv), the rotated
    C(acct-YYYY-MM-DD-NNNN.csv) files and their C(.csv.gz) compressed forms) and adds what is new
    to a daily ledger of counts per source IP, VirtualMTA, provider and outcome.
  - A cursor remembers each file by identity (device and inode, plus a SHA-1 fingerprint of its
    first 4 KiB) and the byte offset just past the last whole record read. Rotation, renames,
    moves to another device, compression, truncation and files vanishing during the run are
    recognised; a last line without its newline is left for the next run; no record is counted
    twice or skipped. Compressed files are read once, then remembered as done.
  - Columns come from each file's header line (the C(record-fields) setting may reorder or drop
    them). Record types counted - C(d) delivered; C(b) bounce, hard when C(bounceCat) is one of
    O(hard_bounce_categories), else soft; C(t) and C(tq) deferred (C(tq) also as
    C(deferred_queue)); C(f) complaint; C(rb) remote_bounce; C(rs) remote_status. C(r) records
    are ignored. Bad lines, unknown types and bad timestamps are counted per file, never fatal.
  - The source IP is C(dlvSourceIp). Records without one (C(b) records, C(tq) records logging
    C(0.0.0.0), C(f) records whose report had no Source-IP) are attributed through their VMTA
    (the C(vmta) column, or for C(f) records a logged C(header_X-Virtual-MTA) column) using
    O(vmta_ips), else counted under the IP C(-).
  - The day is the UTC date of C(timeLogged) (C(2026-11-21 13:45:02+0000), other offsets,
    C(MM/DD/YYYY HH:MM:SS+hhmm) and UNIX time are understood).
  - State lives in O(state_dir) as C(ledger.json) (the counts) and C(ledger-cursor.json) (the
    cursor plus the counters of the last run), each written atomically (temporary file in the
    same directory, fsync, rename). The cursor is written first; if the ledger write is lost in
    a crash, the next run replays the last run's counters from the cursor. Nothing is written
    in check mode.
version_added: "1.0.0"
author: mailfleet
options:
  acct_dir:
    description: Directory holding the accounting files.
    type: path
    default: /var/log/pmta
  patterns:
    description:
      - Shell-style patterns of the file names to read in O(acct_dir).
      - Add for example C(fbl*.csv) when feedback-loop records go to their own file.
    type: list
    elements: str
    default: ["acct.csv", "acct-*.csv", "acct-*.csv.gz"]
  state_dir:
    description: Directory of the toolkit's state on the host (created when missing).
    type: path
    default: /var/lib/mailfleet
  keep_days:
    description: Number of days (up to today, UTC) kept in the ledger; older days are dropped.
    type: int
    default: 90
  days:
    description: Return the last N days (today included, UTC). Ignored when O(since) is set.
    type: int
    default: 7
  since:
    description: Return the days from this date (C(YYYY-MM-DD)) on.
    type: str
  vmta_ips:
    description:
      - VirtualMTA name to source IP, to attribute records that carry no C(dlvSourceIp).
    type: dict
    default: {}
  providers:
    description:
      - Override of the provider map C(provider -> {domains, mx}) (as C(mailfleet_providers)).
      - Providers are C(gmail), C(microsoft), C(yahoo) and C(other).
    type: dict
  hard_bounce_categories:
    description: C(bounceCat) values that make a C(b) record a hard bounce.
    type: list
    elements: str
    default: ["bad-mailbox", "inactive-mailbox", "bad-domain"]
  by_vmta:
    description: Also return the counts per VirtualMTA (RV(ledger_by_vmta)).
    type: bool
    default: false
  lock_timeout:
    description: Seconds to wait for another run holding the state directory's lock.
    type: int
    default: 60
attributes:
  check_mode:
    support: full
    details: Reads the files and returns what would change; writes nothing.
  diff_mode:
    support: full
    details: Totals per outcome before and after.
notes:
  - Idempotent - a second run over unchanged files returns C(changed=false) and writes nothing.
"""

EXAMPLES = r"""
- name: Update the accounting ledger and fetch the last 7 days
  mailfleet.fleet.pmta_ledger:
    vmta_ips: "{{ mailfleet_ips | selectattr('vmta', 'defined')
                  | items2dict(key_name='vmta', value_name='address') }}"
  register: ledger

- name: Feedback-loop records in their own file, 14 days back
  mailfleet.fleet.pmta_ledger:
    acct_dir: /var/log/pmta
    patterns: ["acct*.csv", "acct*.csv.gz", "fbl*.csv"]
    state_dir: /var/lib/mailfleet
    days: 14
    keep_days: 120
    hard_bounce_categories: [bad-mailbox, inactive-mailbox, bad-domain, bad-configuration]
"""

RETURN = r"""
ledger:
  description:
    - "Counts of the days asked for, C({ip: {day: {provider: {outcome: n}}}}), summed over
      VirtualMTAs."
    - Every provider entry holds all outcomes - C(delivered), C(hard_bounce), C(soft_bounce),
      C(deferred), C(complaint), C(remote_bounce), C(remote_status), C(deferred_queue) (the
      C(tq) part of C(deferred)). Unattributed records are under the IP C(-).
  returned: always
  type: dict
  sample:
    192.0.2.10:
      "2026-11-21":
        gmail: {delivered: 950, hard_bounce: 3, soft_bounce: 5, deferred: 40, complaint: 1,
                remote_bounce: 0, remote_status: 0, deferred_queue: 2}
ledger_by_vmta:
  description: "Same counts per VirtualMTA, C({vmta: {day: {provider: {outcome: n}}}})."
  returned: when by_vmta is true
  type: dict
days:
  description: The days returned, oldest first.
  returned: always
  type: list
  elements: str
  sample: ["2026-11-15", "2026-11-21"]
files:
  description:
    - Per accounting file read, moved or in trouble this run - C(path), C(status) (read,
      renamed, pending, skipped, vanished, bad-header, error), C(rows), C(counted),
      C(malformed), C(unknown_type), C(bad_timestamp), C(ignored), and when relevant
      C(start_offset), C(end_offset), C(pending_bytes) (an unterminated last line left for the
      next run), C(note).
  returned: always
  type: list
  elements: dict
files_unchanged:
  description: Number of accounting files with nothing new.
  returned: always
  type: int
records:
  description: Records counted into the ledger this run (by outcome).
  returned: always
  type: dict
totals:
  description: Totals per outcome over the whole stored ledger after this run, and C(days).
  returned: always
  type: dict
state_files:
  description: Paths of the ledger and its cursor.
  returned: always
  type: dict
"""

import datetime
import fcntl
import os
import time
import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mailfleet.fleet.plugins.module_utils import ledger as lg
from ansible_collections.mailfleet.fleet.plugins.module_utils.providers import (
    PROVIDERS,
    ProviderClassifier,
)


def _lock(module, state_dir, exclusive):
    """Hold a lock on the state directory so that two runs never interleave (None if absent)."""
    try:
        fd = os.open(state_dir, os.O_RDONLY)
    except FileNotFoundError:
        return None
    except OSError as exc:
        module.fail_json(msg="cannot open state directory %s to lock it: %s"
                         % (state_dir, exc.strerror))
    deadline = time.time() + module.params["lock_timeout"]
    while True:
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.time() > deadline:
                os.close(fd)
                module.fail_json(msg="cannot lock state directory %s: another ledger run holds "
                                     "it (waited %ss)" % (state_dir,
                                                         module.params["lock_timeout"]))
            time.sleep(0.2)


def _summary(tot):
    return "".join("%s: %d\n" % (k, tot[k]) for k in ("days",) + lg.OUTCOMES)


def _validate(module):
    p = module.params
    if p["keep_days"] < 1:
        module.fail_json(msg="keep_days must be at least 1 (got %s)" % p["keep_days"])
    if p["days"] < 1:
        module.fail_json(msg="days must be at least 1 (got %s)" % p["days"])
    if p["since"]:
        try:
            datetime.datetime.strptime(p["since"], "%Y-%m-%d")
        except ValueError:
            module.fail_json(msg="since must be a date YYYY-MM-DD (got %r)" % p["since"])
    if p["providers"] is not None:
        unknown = sorted(set(p["providers"]) - set(PROVIDERS))
        if unknown:
            module.fail_json(msg="providers: unknown provider(s) %s (expected %s)"
                             % (", ".join(unknown), ", ".join(PROVIDERS)))
    bad = sorted(k for k, v in p["vmta_ips"].items() if not isinstance(v, str) or not v)
    if bad:
        module.fail_json(msg="vmta_ips: VMTA(s) %s need an IP address string" % ", ".join(bad))


def run_module(module):
    p = module.params
    _validate(module)
    today = datetime.datetime.utcnow().strftime("%Y-%m-%d")
    state_dir = p["state_dir"]
    if not module.check_mode and not os.path.isdir(state_dir):
        try:
            os.makedirs(state_dir, 0o750)
        except OSError as exc:
            module.fail_json(msg="cannot create state directory %s: %s"
                             % (state_dir, exc.strerror))
    lock_fd = _lock(module, state_dir, exclusive=not module.check_mode)
    try:
        ledger, cursor, notes = lg.load_state(state_dir)
        for note in notes:
            module.warn(note)
        parser = lg.RecordParser(
            classifier=ProviderClassifier(p["providers"]) if p["providers"] else None,
            hard_categories=p["hard_bounce_categories"], vmta_ips=p["vmta_ips"])
        scanner = lg.AcctScanner(p["acct_dir"], patterns=p["patterns"], parser=parser,
                                 today=today, keep_days=p["keep_days"])
        new_cursor, delta, file_stats = scanner.scan(cursor)

        old_days = ledger["days"]
        new_days = lg.merge_delta(_copy_days(old_days), delta)
        lg.prune(new_days, today, p["keep_days"])
        changed = new_days != old_days or new_cursor["files"] != cursor.get("files", [])
        if changed and not module.check_mode:
            lg.save_state(state_dir, dict(ledger, days=new_days), new_cursor["files"], delta)
    except lg.LedgerError as exc:
        module.fail_json(msg=str(exc))
    finally:
        if lock_fd is not None:
            os.close(lock_fd)

    for stats in file_stats:
        if stats["status"] in ("error", "bad-header"):
            module.warn("%s: %s" % (stats["path"], stats.get("note", stats["status"])))
    since = p["since"] or lg.first_kept_day(today, p["days"])
    shown = [d for d in sorted(new_days) if d >= since]
    records = dict.fromkeys(lg.OUTCOMES, 0)
    for counts in delta.values():
        for name, n in zip(lg.OUTCOMES, counts):
            records[name] += n
    before, after = lg.totals(old_days), lg.totals(new_days)
    result = {
        "changed": changed,
        "ledger": lg.compact(new_days, since=since),
        "days": shown,
        "files": [s for s in file_stats if s["status"] != "unchanged"],
        "files_unchanged": sum(1 for s in file_stats if s["status"] == "unchanged"),
        "records": records,
        "totals": after,
        "state_files": {"ledger": os.path.join(state_dir, lg.LEDGER_FILE),
                        "cursor": os.path.join(state_dir, lg.CURSOR_FILE)},
    }
    if p["by_vmta"]:
        result["ledger_by_vmta"] = lg.by_vmta(new_days, since=since)
    if module._diff:
        result["diff"] = {"before_header": result["state_files"]["ledger"],
                          "after_header": result["state_files"]["ledger"],
                          "before": _summary(before), "after": _summary(after)}
    module.exit_json(**result)


def _copy_days(days):
    """Deep copy of the ledger's nested dicts of ints (faster than copy.deepcopy)."""
    return {day: {ip: {vmta: {prov: dict(counts) for prov, counts in by_prov.items()}
                       for vmta, by_prov in by_vmta.items()}
                  for ip, by_vmta in by_ip.items()}
            for day, by_ip in days.items()}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            acct_dir=dict(type="path", default="/var/log/pmta"),
            patterns=dict(type="list", elements="str",
                          default=list(lg.DEFAULT_PATTERNS)),
            state_dir=dict(type="path", default="/var/lib/mailfleet"),
            keep_days=dict(type="int", default=90),
            days=dict(type="int", default=7),
            since=dict(type="str"),
            vmta_ips=dict(type="dict", default={}),
            providers=dict(type="dict"),
            hard_bounce_categories=dict(type="list", elements="str",
                                        default=list(lg.DEFAULT_HARD_BOUNCE_CATEGORIES)),
            by_vmta=dict(type="bool", default=False),
            lock_timeout=dict(type="int", default=60),
        ),
        supports_check_mode=True,
    )
    try:
        run_module(module)
    except Exception as exc:  # pylint: disable=broad-except
        # Last resort: report, never a traceback on stdout (the traceback goes to -vvv only).
        module.fail_json(msg="pmta_ledger failed on %s: %s: %s"
                         % (module.params.get("acct_dir"), type(exc).__name__, exc),
                         exception=traceback.format_exc())


if __name__ == "__main__":
    main()
