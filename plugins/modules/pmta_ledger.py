#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module: incremental per-IP, per-provider ledger from PowerMTA accounting files."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: pmta_ledger
short_description: Keep a per-IP, per-provider daily ledger from PowerMTA accounting files
description:
  - Runs on a PowerMTA host (Python standard library only). Reads the accounting CSV files
    incrementally (the live file such as C(/var/log/pmta/acct.csv), PowerMTA's rotated
    C(acct-YYYY-MM-DD-NNNN.csv) files, what logrotate makes of them - C(acct.csv.1),
    C(acct.csv.2.gz), C(acct.csv-20261121.gz) - compressed with gzip, bzip2 or xz) and adds what
    is new to a daily ledger of counts per source IP, VirtualMTA, provider and outcome.
  - Files are recognised by their content, never by their inode alone. The cursor remembers each
    accounting stream by the SHA-1 of its beginning up to the end of its first record (header
    line plus first record), a SHA-1 fingerprint of its first 4 KiB and the bytes already
    counted. Any copy of a stream - renamed, moved to another directory or device, compressed,
    copied by logrotate's C(copytruncate) - is read from where the stream was left; a file that
    reuses the inode of a deleted one is a new stream. A file truncated in place goes on with the
    columns it had (the writer does not write a header again); a hole of NUL bytes left by a
    writer that does not append is skipped. Every record on disk is counted exactly once, under
    any sequence of rotations between two runs. A last line without its line break is left for
    the next run.
  - Lines are records - PowerMTA never writes a line break inside a field. A malformed line (an
    unterminated quote, NUL bytes, a stray carriage return, a wrong number of fields) is counted
    as C(malformed) and never takes the next line with it; undecodable UTF-8 is counted as
    C(bad_encoding) and the line still parsed.
  - Columns come from each file's header line (the C(record-fields) setting may reorder or drop
    them). Record types counted - C(d) delivered; C(b) and C(rb) (remote, asynchronous bounce)
    hard_bounce when C(bounceCat) is one of O(hard_bounce_categories), else soft_bounce, C(rb)
    also as C(async_bounce); C(t) and C(tq) deferred (C(tq) also as C(deferred_queue)); C(f)
    complaint; C(rs) remote_status. C(r) records are ignored. Bad lines, unknown types and bad
    timestamps are counted per file, never fatal.
  - Each bounce, deferral and remote bounce also counts in one reply class - C(rate_limited),
    C(reputation), C(content), C(auth), C(mailbox_unknown), C(mailbox_full), C(other) - from its
    C(dsnStatus), C(dsnDiag) and C(bounceCat), by the per-provider table of
    C(module_utils/replies.py) (the same rows the PowerMTA backoff rules are rendered from).
  - The source IP is C(dlvSourceIp). Records without one (C(b) records, C(tq) records logging
    C(0.0.0.0), C(f) and C(rb) records) are attributed through their VMTA (the C(vmta) column, or
    for C(f) and C(rb) records a logged C(header_X-Virtual-MTA) column, which PowerMTA adds with
    C(add-x-virtual-mta-header) and logs with C(record-fields rb *,header_X-Virtual-MTA)) using
    O(vmta_ips), else counted under the IP C(-).
  - The day is the UTC date of C(timeLogged) (C(2026-11-21 13:45:02+0000), other offsets,
    C(MM/DD/YYYY HH:MM:SS+hhmm) and UNIX time are understood).
  - State lives in O(state_dir) as C(ledger.json) (the counts) and C(ledger-cursor.json) (the
    cursor plus the counters of the last run), each written atomically (temporary file in the
    same directory, fsync, rename). The cursor is written first; if the ledger write is lost in
    a crash, the next run replays the last run's counters from the cursor and writes the
    repaired ledger at once (two crashes in a row lose nothing). A cursor of the first format
    (files by inode) is converted on the first run. Nothing is written in check mode.
version_added: "1.0.0"
author: mailfleet maintainers (@mailfleet)
options:
  acct_dir:
    description: Directory holding the accounting files.
    type: path
    default: /var/log/pmta
  acct_columns:
    description:
      - The columns of the accounting files as configured (C(record-fields)), for a file that has
        no header line and whose header no earlier file gave (logrotate's C(copytruncate) leaves
        the live file without one; the ledger otherwise takes the columns the file had before,
        or of its rotated copy). Must name C(type) and C(timeLogged).
    type: list
    elements: str
    default: []
  archive_dirs:
    description:
      - More directories read with the same O(patterns), for rotated files moved out of
        O(acct_dir) - PowerMTA's C(move-to) directory, logrotate's C(olddir). A file moved there is
        recognised by its content and not counted again.
    type: list
    elements: path
    default: []
  patterns:
    description:
      - Shell-style patterns of the file names to read in O(acct_dir) (and O(archive_dirs)).
      - Add for example C(fbl*.csv) when feedback-loop records go to their own file.
    type: list
    elements: str
    default: ["acct.csv", "acct.csv.*", "acct.csv-*", "acct-*.csv", "acct-*.csv.*"]
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
    description: C(bounceCat) values that make a C(b) or C(rb) record a hard bounce.
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
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Reads the files and returns what would change; writes nothing.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
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

- name: Feedback-loop records in their own file, rotated files moved to an archive, 14 days back
  mailfleet.fleet.pmta_ledger:
    acct_dir: /var/log/pmta
    archive_dirs: [/var/log/pmta/archive]
    patterns: ["acct*.csv", "acct*.csv.*", "fbl*.csv"]
    state_dir: /var/lib/mailfleet
    days: 14
    keep_days: 120
    hard_bounce_categories: [bad-mailbox, inactive-mailbox, bad-domain, bad-configuration]
"""

RETURN = r"""
ledger:
  description:
    - "Counts of the days asked for, C({ip: {day: {provider: {outcome: n, classes: {class:
      n}}}}}), summed over VirtualMTAs."
    - Every provider entry holds all outcomes - C(delivered), C(hard_bounce), C(soft_bounce)
      (both including remote bounces), C(deferred), C(complaint), C(async_bounce) (the remote
      bounces among the bounces; their messages are also in C(delivered)), C(remote_status),
      C(deferred_queue) (the C(tq) part of C(deferred)) - and C(classes), the reply classes of
      its bounces and deferrals - C(rate_limited), C(reputation), C(content), C(auth),
      C(mailbox_unknown), C(mailbox_full), C(other). Unattributed records are under the IP C(-).
  returned: always
  type: dict
  sample:
    192.0.2.10:
      "2026-11-21":
        gmail: {delivered: 950, hard_bounce: 3, soft_bounce: 5, deferred: 40, complaint: 1,
                async_bounce: 1, remote_status: 0, deferred_queue: 2,
                classes: {rate_limited: 30, reputation: 6, content: 2, auth: 0,
                          mailbox_unknown: 3, mailbox_full: 2, other: 5}}
ledger_by_vmta:
  description: "Same counts per VirtualMTA, C({vmta: {day: {provider: {...}}}})."
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
  description: Records counted into the ledger this run (by outcome, and C(classes)).
  returned: always
  type: dict
totals:
  description: Totals per outcome (and C(classes)) over the whole stored ledger after this run,
    and C(days).
  returned: always
  type: dict
state_files:
  description: Paths of the ledger and its cursor.
  returned: always
  type: dict
"""

import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mailfleet.fleet.plugins.module_utils import ledger_update
from ansible_collections.mailfleet.fleet.plugins.module_utils.ledger import LedgerError

ARGUMENT_SPEC = ledger_update.argument_spec()


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    try:
        result, warnings = ledger_update.update(module.params, check_mode=module.check_mode, diff=module._diff)
    except LedgerError as exc:
        module.fail_json(msg=str(exc))
    except Exception as exc:  # pylint: disable=broad-except
        # Last resort: report, never a traceback on stdout (the traceback goes to -vvv only).
        module.fail_json(msg="pmta_ledger failed on %s: %s: %s"
                         % (module.params.get("acct_dir"), type(exc).__name__, exc),
                         exception=traceback.format_exc())
    for warning in warnings:
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
