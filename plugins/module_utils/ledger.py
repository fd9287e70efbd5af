# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Incremental per-IP, per-provider daily ledger from PowerMTA accounting files.

Standard library only: this runs on PowerMTA hosts (imported by the ``pmta_ledger`` module).

Pieces, from the inside out:

* :func:`utc_day` turns a ``timeLogged`` value into its UTC date (``YYYY-MM-DD``).
* :class:`RecordParser` turns whole lines of CSV text into counts keyed by
  ``(day, ip, vmta, provider)``: the outcomes of :data:`OUTCOMES`, then the reply classes of
  :data:`CLASSES` (``module_utils/replies.py``). One line is one record: PowerMTA writes one
  record per line (every sample of the guide's §11.2 is one line), so a line break inside a quoted
  field is damage, not data: a malformed line -- an unterminated quote, a NUL, a stray CR, a wrong
  number of fields -- is counted as ``malformed`` and never swallows the line after it.
* :func:`read_new_records` streams one file from an offset, feeding whole lines to the parser and
  returning the byte offset just past the last whole line it consumed.
* :class:`AcctScanner` lists the accounting files and recognises each one by its *content*, never
  by its inode alone (see "Identity" below), so that no logrotate style, PowerMTA rotation,
  compression, copy, truncation or inode reuse makes it count a record twice or skip one.
* :func:`merge_delta`, :func:`prune`, :func:`compact`, :func:`totals` work on the stored ledger.
* :func:`load_state` / :func:`save_state` read and write ``ledger.json`` + ``ledger-cursor.json``
  atomically and crash-consistently (see :func:`save_state`).

Identity
--------
An accounting file is a *stream* of bytes that only ever grows: renaming, moving, copying or
compressing it yields another file holding a prefix of the same stream. The cursor remembers
*streams*, each by

* ``key``: SHA-1 of the stream's beginning up to the end of its first record line (the header
  line plus the first record: a record names its time to the second, its recipient, its
  envelope...), computed from the content alone -- so any copy of the stream, plain or
  compressed, under any name, on any device, at any inode, yields the same key;
* ``fp``/``fp_len``: SHA-1 of its first ``fp_len`` bytes (up to 4 KiB), which a file at least that
  long must also match;
* ``hole``: leading NUL bytes (a file truncated under a writer that does not append, as with
  logrotate's ``copytruncate``, restarts after a hole), excluded from the key;
* ``offset``: the stream bytes already counted, and the columns in force there.

A file whose content matches a stream is read from that stream's offset: a copy or a compressed
copy of what was read adds nothing, the part written after the read is counted once. A file whose
content matches no stream is a new stream, read from its start -- also when it reuses the inode
of a file that is gone. The device and inode only serve to find the columns of a file truncated in
place (``copytruncate``: the writer goes on without a header line) and to skip compressed files
already read (device, inode, size and mtime unchanged, and the head still matching).

Outcomes counted per ``(day, ip, vmta, provider)``: see :data:`OUTCOMES` and :data:`CLASSES`.
"""
from __future__ import absolute_import, division, print_function

import csv
import datetime
import fnmatch
import gzip
import hashlib
import json
import operator
import os
import re
import zlib

from ansible_collections.mailfleet.fleet.plugins.module_utils.providers import (
    PROVIDERS,
    ProviderClassifier,
)
from ansible_collections.mailfleet.fleet.plugins.module_utils.replies import (
    CLASSES,
    ReplyClassifier,
)
from ansible_collections.mailfleet.fleet.plugins.module_utils.atomic import atomic_write

__metaclass__ = type

LEDGER_FILE = "ledger.json"
CURSOR_FILE = "ledger-cursor.json"
LEDGER_VERSION = 1
CURSOR_VERSION = 2

# Outcome counters, in this order. The first five are the contract of docs/DEVELOPMENT.md (always
# present in the compact form); the others are extra detail. Record types: PowerMTA v5.0 User's
# Guide §11.2 (d, b, t, tq, r, f, rb, rs); remote bounces and status reports §11.2.7 and §12.6 (an
# rb record is an asynchronous bounce of a message the remote MTA had accepted; rs records carry
# positive and "delayed" DSNs); bounce categories §11.6 (bad-mailbox, inactive-mailbox and
# bad-domain say the address is bad: hard; quota-issues, spam-related, policy-related,
# message-expired... say the message failed for now or for its sender: soft, the reply class says
# why).
#   delivered       d records
#   hard_bounce     b and rb records whose bounceCat is a hard category (bad-mailbox,
#                   inactive-mailbox, bad-domain by default)
#   soft_bounce     the other b and rb records (quota, spam- and policy-related, expired...)
#   deferred        t (per recipient) and tq (per queue) transient records
#   complaint       f records
#   async_bounce    the rb part of hard_bounce + soft_bounce: remote (asynchronous) bounces,
#                   whose messages were also counted in ``delivered`` when the remote MTA
#                   accepted them; messages attempted = delivered + hard + soft - async_bounce
#   remote_status   rs records (positive or "delayed" remote DSNs: not an outcome)
#   deferred_queue  the tq part of ``deferred`` (queue-level failures: connection refused...)
OUTCOMES = (
    "delivered", "hard_bounce", "soft_bounce", "deferred", "complaint",
    "async_bounce", "remote_status", "deferred_queue",
)
CONTRACT_OUTCOMES = OUTCOMES[:5]
(DELIVERED, HARD_BOUNCE, SOFT_BOUNCE, DEFERRED, COMPLAINT,
 ASYNC_BOUNCE, REMOTE_STATUS, DEFERRED_QUEUE) = range(len(OUTCOMES))
# After the outcomes, one counter per reply class of each soft bounce, hard bounce, deferral and
# remote bounce (module_utils/replies.py).
CLASS_BASE = len(OUTCOMES)
CLASS_INDEX = {name: CLASS_BASE + i for i, name in enumerate(CLASSES)}
WIDTH = CLASS_BASE + len(CLASSES)

DEFAULT_HARD_BOUNCE_CATEGORIES = ("bad-mailbox", "inactive-mailbox", "bad-domain")
# PowerMTA's live and rotated files (acct.csv, acct-YYYY-MM-DD-NNNN.csv, guide §11.3) and what
# logrotate makes of them: acct.csv.1, acct.csv.2.gz (numbered), acct.csv-20261121[.gz] (dateext).
DEFAULT_PATTERNS = ("acct.csv", "acct.csv.*", "acct.csv-*", "acct-*.csv", "acct-*.csv.*")
UNKNOWN_IP = "-"

# Record kinds. The guide allows the long record names in the configuration; the file normally
# holds the short ones, but accepting both costs nothing. The hot loop maps a record type straight
# to the outcome it counts; the kinds that need more work have negative codes.
_T, _B, _RB, _TQ, _F, _IGNORED = -1, -2, -3, -4, -5, -6
RECORD_KINDS = {
    "d": DELIVERED, "delivery": DELIVERED, "delivered": DELIVERED,
    "rs": REMOTE_STATUS, "remote-status": REMOTE_STATUS,
    "t": _T, "transient": _T,
    "b": _B, "bounce": _B, "bounced": _B,
    "rb": _RB, "remote-bounce": _RB,
    "tq": _TQ, "transient-queue": _TQ, "transient queue": _TQ,
    "f": _F, "feedback-loop": _F,
    # "r" (received) records are valid but say nothing about delivery: counted as ignored.
    "r": _IGNORED, "received": _IGNORED,
}

# Source addresses PowerMTA logs when no local address was bound (tq records).
_NO_IP = frozenset(("", "0.0.0.0", "::"))

FP_LEN = 4096                    # bytes of a stream's beginning that make its fingerprint
HEAD_MAX = 64 * 1024             # bytes read at most to find the first record line (the key)
CHUNK_SIZE = 4 * 1024 * 1024     # read size when streaming a file
MAX_LINE = 1024 * 1024           # no record is that long: such a "line" is consumed as malformed
_CACHE_MAX = 200000              # bound on each per-run lookup cache
_CLASS_CACHE_MAX = 20000         # bound on the reply-class cache (keys hold whole replies)
MAX_FILES_PER_STREAM = 8         # plain files remembered per stream (for copytruncate columns)

STAT_KEYS = ("rows", "counted", "malformed", "unknown_type", "bad_timestamp", "ignored",
             "bad_encoding")

_NUL_RUN = re.compile("\x00+")


class LedgerError(Exception):
    """An operation on a named file failed; the message names the file and the operation."""


# ---------------------------------------------------------------------------------------------
# Timestamps
# ---------------------------------------------------------------------------------------------
_ISO_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:[.,]\d+)?"
    r"\s*(Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?")
_US_RE = re.compile(
    r"(\d{2})/(\d{2})/(\d{4}) (\d{2}):(\d{2}):(\d{2})(?:[.,]\d+)?"
    r"\s*(Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?")
_EPOCH_RE = re.compile(r"\d{9,11}(?:\.\d+)?")
_EPOCH0 = datetime.datetime(1970, 1, 1)


def _offset_minutes(tz):
    if not tz or tz in ("Z", "UTC", "GMT"):
        return 0
    sign = -1 if tz[0] == "-" else 1
    digits = tz[1:].replace(":", "")
    hours = int(digits[:2])
    minutes = int(digits[2:4] or 0)
    if hours > 23 or minutes > 59:
        raise ValueError("bad UTC offset")
    return sign * (hours * 60 + minutes)


def utc_day(value):
    """UTC date ``YYYY-MM-DD`` of a PowerMTA ``timeLogged`` value, or None when unparseable.

    Accepts ``2026-11-21 13:45:02+0000`` (any offset, also ``+00:00``, ``Z``, a ``T`` separator,
    fractions, no offset = UTC), the guide's ``MM/DD/YYYY HH:MM:SS+UTCoffset`` and UNIX time_t.
    """
    value = value.strip()
    try:
        m = _ISO_RE.fullmatch(value)
        if m:
            y, mo, d, h, mi, s, tz = m.groups()
        else:
            m = _US_RE.fullmatch(value)
            if m:
                mo, d, y, h, mi, s, tz = m.groups()
            elif _EPOCH_RE.fullmatch(value):
                when = _EPOCH0 + datetime.timedelta(seconds=float(value))
                return when.strftime("%Y-%m-%d")
            else:
                return None
        local = datetime.datetime(int(y), int(mo), int(d), int(h), int(mi), min(int(s), 59))
        return (local - datetime.timedelta(minutes=_offset_minutes(tz))).strftime("%Y-%m-%d")
    except (ValueError, OverflowError):
        return None


def _valid_day(day):
    try:
        datetime.datetime.strptime(day, "%Y-%m-%d")
    except ValueError:
        return False
    return len(day) == 10


# ---------------------------------------------------------------------------------------------
# Record parsing (the hot loop)
# ---------------------------------------------------------------------------------------------
def new_file_stats(path):
    stats = {"path": path, "status": "unchanged"}
    for key in STAT_KEYS:
        stats[key] = 0
    return stats


class Columns:
    """Column indexes of one accounting file, from its header line (-1 = column absent)."""

    def __init__(self, names):
        names = [n.strip() for n in names]
        if names and names[0].startswith("\ufeff"):
            names[0] = names[0][1:]
        self.names = names
        lower = {}
        for i, name in enumerate(names):
            lower.setdefault(name.lower(), i)
        for needed in ("type", "timelogged"):
            if needed not in lower:
                raise ValueError("header has no %r column" % needed)

        def col(*candidates):
            for cand in candidates:
                if cand in lower:
                    return lower[cand]
            return -1

        self.ncols = len(names)
        self.type = lower["type"]
        self.time = lower["timelogged"]
        self.ip = col("dlvsourceip")
        self.vmta = col("vmta")
        # f and rb records have no vmta column; an operator may log the X-Virtual-MTA header of
        # the original message instead (record-fields rb *,header_X-Virtual-MTA).
        self.vmta_header = col("header_x-virtual-mta")
        self.rcpt = col("rcpt")
        self.mx = col("dsnmta")
        self.reporting_mta = col("reportingmta", "dsnreportingmta")
        self.cat = col("bouncecat")
        self.status = col("dsnstatus")
        self.diag = col("dsndiag")
        self.queue = col("queue")

    def hot(self):
        """``(ncols, pad, getter, i_cat, i_status, i_diag)`` for the hot loop. The getter returns
        ``(type, timeLogged, dlvSourceIp, vmta, rcpt, dsnMta)``; a column the file lacks reads
        from index ``ncols``, where the loop appends an empty string when ``pad`` is true."""
        wanted = (self.type, self.time, self.ip, self.vmta, self.rcpt, self.mx, self.cat,
                  self.status, self.diag)
        pad = any(i < 0 for i in wanted)
        fix = [self.ncols if i < 0 else i for i in wanted]
        return self.ncols, pad, operator.itemgetter(*fix[:6]), fix[6], fix[7], fix[8]


def _header_or_none(row):
    """Columns when ``row`` is a header line (it names ``type`` and ``timeLogged``), else None."""
    try:
        return Columns(row)
    except ValueError:
        return None


def parse_header(line):
    """Columns of a header line (bytes or str); raises ValueError when it is not a header."""
    if isinstance(line, bytes):
        line = line.decode("utf-8", "replace")
    line = line.rstrip("\r\n")
    if not line or "\n" in line or "\r" in line or "\x00" in line:
        raise ValueError("not a single CSV line")
    try:
        rows = list(csv.reader([line]))
    except csv.Error as exc:
        raise ValueError("not a CSV line: %s" % exc)
    if len(rows) != 1:
        raise ValueError("not a single CSV line")
    return Columns(rows[0])


class RecordParser:
    """Counts accounting records into ``delta[(day, ip, vmta, provider)] = [n per counter]``
    (:data:`OUTCOMES` then :data:`CLASSES`).

    One parser serves a whole run (its caches are shared by all files); the counters it fills are
    passed in per call so that a file's contribution can be dropped if that file fails.
    """

    def __init__(self, classifier=None, hard_categories=DEFAULT_HARD_BOUNCE_CATEGORIES,
                 vmta_ips=None, replies=None):
        self.classifier = classifier or ProviderClassifier()
        self.replies = replies or ReplyClassifier()
        self.hard = frozenset(c.strip().lower() for c in hard_categories)
        self.vmta_ips = dict(vmta_ips or {})
        self._good_days = set()
        self._day_cache = {}
        self._dom_cache = {}   # recipient domain -> provider, or "" when only the MX can tell
        self._mx_cache = {}    # dsnMta value -> provider (for domains not known by name)
        self._class_cache = {}  # (provider, dsnStatus, dsnDiag, bounceCat) -> counter index
        self._lead_cache = {}   # (provider, dsnDiag[:32]) -> (counter index or 0, plan)

    # -- slow paths, each behind a cache --------------------------------------------------------
    def _day_slow(self, ts):
        # Key without the seconds: the UTC date depends on date, hour, minute and offset only.
        key = ts[:16] + ts[19:] if len(ts) >= 19 else ts
        day = self._day_cache.get(key)
        if day is None:
            day = utc_day(ts) or ""
            if len(self._day_cache) >= _CACHE_MAX:
                self._day_cache.clear()
            self._day_cache[key] = day
        return day

    def _provider_by_domain(self, domain):
        found = self.classifier.by_domain(domain) or ""
        if len(self._dom_cache) < _CACHE_MAX:
            self._dom_cache[domain] = found
        return found

    def _provider_by_mx(self, mx):
        found = self._mx_cache.get(mx)
        if found is None:
            # classify() with a domain that is not a known consumer domain falls back to the MX.
            found = self.classifier.classify("", mx)
            if len(self._mx_cache) < _CACHE_MAX:
                self._mx_cache[mx] = found
        return found

    def _queue_provider(self, queue, mx):
        """Provider of a tq record from its queue ``domain/vmta`` (or ``gmail.rollup/vmta``)."""
        domain = queue.partition("/")[0]
        if domain.endswith(".rollup") and domain[:-7] in PROVIDERS:
            return domain[:-7]
        return self.classifier.classify("@" + domain, mx)

    def _provider(self, rcpt, mx):
        """Provider of a recipient whose domain is not cached as a known consumer domain."""
        domain = rcpt[rcpt.rfind("@") + 1:]
        found = self._dom_cache.get(domain)
        if found is None:
            found = self._provider_by_domain(domain)
        return found or self._provider_by_mx(mx)

    def _lead_slow(self, key):
        """``(counter index, plan)`` for the replies beginning like ``key`` = (provider, the
        first 32 characters of dsnDiag): the index when those decide the class, else 0 and the
        plan (the rows to try, module_utils/replies.py), or None when they do not settle it."""
        plan = self.replies.plan_of_start(*key)
        idx = CLASS_INDEX[plan[2]] if plan is not None and plan[2] is not None else 0
        if len(self._lead_cache) >= _CACHE_MAX:
            self._lead_cache.clear()
        found = self._lead_cache[key] = (idx, plan)
        return found

    def _class_index(self, prov, status, diag, cat):
        """Counter index of a record's reply class (the hot loop inlines the same steps)."""
        lkey = (prov, diag[:32])
        idx, plan = self._lead_cache.get(lkey) or self._lead_slow(lkey)
        if not idx:
            ckey = (prov, status, diag, cat)
            idx = self._class_cache.get(ckey) or self._class_slow(ckey, plan)
        return idx

    def _class_slow(self, key, plan):
        """Counter index of the reply class of ``key`` = (provider, dsnStatus, dsnDiag,
        bounceCat) whose ``plan`` may be known, cached."""
        prov, status, diag, cat = key
        if plan is None:
            plan = self.replies.plan(prov, diag)
        idx = CLASS_INDEX[self.replies.classify_planned(plan, status, diag, cat)]
        if len(self._class_cache) >= _CLASS_CACHE_MAX:
            self._class_cache.clear()
        self._class_cache[key] = idx
        return idx

    def _count_special(self, kind, row, cols, day, ip, vmta, rcpt, mx, delta, i_cat, i_status,
                       i_diag):
        """Count a tq, f or rb record (rare; their columns differ from delivery records)."""
        cls = None
        if kind == _TQ:
            prov = self._queue_provider(row[cols.queue] if cols.queue >= 0 else "", mx)
            outcomes = (DEFERRED, DEFERRED_QUEUE)
            cls = True
        elif kind == _RB:
            # Remote bounces carry neither dlvSourceIp nor vmta (guide §11.2.7): the original
            # message's X-Virtual-MTA header, when logged, tells the VMTA and so the IP.
            if not vmta and cols.vmta_header >= 0:
                vmta = row[cols.vmta_header]
            prov = self._provider(rcpt, mx)
            hard = row[i_cat].strip().lower() in self.hard
            outcomes = (HARD_BOUNCE if hard else SOFT_BOUNCE, ASYNC_BOUNCE)
            cls = True
        else:
            if not vmta and cols.vmta_header >= 0:
                vmta = row[cols.vmta_header]
            # No dsnMta in f records: the reporting MTA is the only host name there is.
            prov = self._provider(rcpt, row[cols.reporting_mta] if cols.reporting_mta >= 0
                                  else "")
            outcomes = (COMPLAINT,)
        if ip in _NO_IP:
            ip = self.vmta_ips.get(vmta, UNKNOWN_IP)
        key = (day, ip, vmta, prov)
        counts = delta.get(key)
        if counts is None:
            counts = delta[key] = [0] * WIDTH
        for idx in outcomes:
            counts[idx] += 1
        if cls:
            counts[self._class_index(prov, row[i_status], row[i_diag], row[i_cat])] += 1

    # -- the hot loop ---------------------------------------------------------------------------
    def feed(self, text, cols, delta, stats):
        """Count the whole lines of ``text`` (which ends with a line break); returns the columns
        in force at its end (``cols`` may be None: the first line must then be a header).

        A header line met mid-file (``type,...``) replaces the columns for the lines after it.
        A run of NUL bytes (a hole left by a truncation, zeroed blocks after a crash) ends a line.
        """
        if "\x00" in text:
            text = _NUL_RUN.sub("\n", text)
        return self._feed_lines(text.split("\n"), cols, delta, stats)

    def _feed_lines(self, lines, cols, delta, stats):
        """Count ``lines`` (a list; its last item is the empty string after the last break).

        Kept tight on purpose: one C call fetches the fields, the outcome comes from one dict
        lookup, the day from slicing, the provider from a per-domain cache. A line with an
        unterminated quote would make the csv module read on into the next line: the reader's
        line count shows it, the line is counted as malformed and the lines it took are parsed
        again on their own. A csv error (a stray CR) makes the line malformed the same way.
        """
        kinds = RECORD_KINDS
        hard = self.hard
        vmta_ips = self.vmta_ips
        good_days = self._good_days
        dom_cache = self._dom_cache
        mx_cache = self._mx_cache
        class_cache = self._class_cache
        lead_cache = self._lead_cache
        no_ip = _NO_IP
        width = WIDTH
        if cols is not None:
            ncols, pad, get, i_cat, i_status, i_diag = cols.hot()
        else:
            ncols, pad, get, i_cat, i_status, i_diag = -1, False, None, 0, 0, 0
        rows = malformed = unknown = bad_ts = ignored = 0
        it = iter(lines)
        base = 0            # lines consumed by the readers before the current one
        while True:
            reader = csv.reader(it)
            expect = 0      # lines the current reader turned into rows
            try:
                for row in reader:
                    expect += 1
                    if reader.line_num != expect:
                        # An open quote took the lines after it: the first is malformed, the
                        # others are parsed again on their own.
                        rows += 1
                        malformed += 1
                        first = base + expect
                        end = base + reader.line_num
                        cols = self._feed_lines(lines[first:end] + [""], cols, delta, stats)
                        expect = reader.line_num
                        if cols is not None:
                            ncols, pad, get, i_cat, i_status, i_diag = cols.hot()
                        continue
                    n = len(row)
                    if n != ncols:
                        if not n:               # blank line
                            continue
                        if n == ncols + 1 and not row[-1]:
                            del row[-1]     # a trailing comma, as in some of the guide's samples
                        else:
                            new_cols = _header_or_none(row)
                            if new_cols is not None:    # a header (other columns) mid-file
                                cols = new_cols
                                ncols, pad, get, i_cat, i_status, i_diag = cols.hot()
                            else:
                                rows += 1
                                malformed += 1
                            continue
                    rows += 1
                    if pad:
                        row.append("")          # stands for the columns this file does not have
                    rtype, ts, ip, vmta, rcpt, mx = get(row)
                    idx = kinds.get(rtype)
                    if idx is None:
                        new_cols = _header_or_none(row[:ncols])
                        if new_cols is None:
                            unknown += 1
                        else:                   # a header repeated mid-file
                            rows -= 1
                            cols = new_cols
                            ncols, pad, get, i_cat, i_status, i_diag = cols.hot()
                        continue
                    if idx == _IGNORED:
                        ignored += 1
                        continue
                    # Day: PowerMTA's usual "YYYY-MM-DD HH:MM:SS+0000" by slicing, else cached.
                    if len(ts) == 24 and ts[19:] == "+0000":
                        day = ts[:10]
                        if day not in good_days:
                            if _valid_day(day):
                                good_days.add(day)
                            else:       # e.g. the MM/DD/YYYY form, or garbage
                                day = self._day_slow(ts)
                                if not day:
                                    bad_ts += 1
                                    continue
                    else:
                        day = self._day_slow(ts)
                        if not day:
                            bad_ts += 1
                            continue
                    if idx < _B:                # rb, tq, f
                        self._count_special(idx, row, cols, day, ip, vmta, rcpt, mx, delta,
                                            i_cat, i_status, i_diag)
                        continue
                    # Source IP: dlvSourceIp, else the VMTA's address (b records carry none).
                    if ip in no_ip:
                        ip = vmta_ips.get(vmta, UNKNOWN_IP)
                    # Provider: recipient domain first, then the MX host that answered.
                    prov = dom_cache.get(rcpt[rcpt.rfind("@") + 1:])
                    if not prov:
                        # "" = a domain known to need its MX; None = not seen yet.
                        prov = (prov is not None and mx_cache.get(mx)) or self._provider(rcpt, mx)
                    key = (day, ip, vmta, prov)
                    counts = delta.get(key)
                    if counts is None:
                        counts = delta[key] = [0] * width
                    if idx >= 0:                # d, rs
                        counts[idx] += 1
                        continue
                    cat = row[i_cat]
                    if idx == _B:
                        counts[HARD_BOUNCE if cat.lower() in hard else SOFT_BOUNCE] += 1
                    else:
                        counts[DEFERRED] += 1
                    # Class: by the reply's beginning when its codes decide (most hard
                    # bounces), else by the whole record (cached: replies repeat).
                    diag = row[i_diag]
                    lkey = (prov, diag[:32])
                    idx, plan = lead_cache.get(lkey) or self._lead_slow(lkey)
                    if not idx:
                        ckey = (prov, row[i_status], diag, cat)
                        idx = class_cache.get(ckey) or self._class_slow(ckey, plan)
                    counts[idx] += 1
            except csv.Error:
                # The record starting at line ``base + expect`` cannot be parsed (a CR inside a
                # line, a field over the csv limit): that line is malformed, the others the
                # reader took are parsed again, and a new reader goes on after them.
                rows += 1
                malformed += 1
                first = base + expect + 1
                end = base + reader.line_num
                if end > first:
                    cols = self._feed_lines(lines[first:end] + [""], cols, delta, stats)
                    if cols is not None:
                        ncols, pad, get, i_cat, i_status, i_diag = cols.hot()
                base = end
                continue
            break
        stats["rows"] += rows
        stats["counted"] += rows - malformed - unknown - bad_ts - ignored
        stats["malformed"] += malformed
        stats["unknown_type"] += unknown
        stats["bad_timestamp"] += bad_ts
        stats["ignored"] += ignored
        return cols


# ---------------------------------------------------------------------------------------------
# Streaming one file
# ---------------------------------------------------------------------------------------------
def _decode(blob, stats):
    """UTF-8 text of whole lines; undecodable bytes become U+FFFD and their lines are counted as
    ``bad_encoding`` (still parsed: a Latin-1 byte in a remote reply does not void a record)."""
    try:
        return blob.decode("utf-8")
    except UnicodeDecodeError:
        bad = 0
        for line in blob.split(b"\n"):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                bad += 1
        stats["bad_encoding"] += bad
        return blob.decode("utf-8", "replace")


def read_new_records(fh, parser, cols, delta, stats, final=False, chunk_size=None):
    """Feed whole lines from the current position of binary file ``fh`` to ``parser``.

    Returns ``(consumed_bytes, cols, pending_bytes)``. A trailing line without its line break is
    never consumed (PowerMTA may be writing it) unless ``final`` (a compressed file: nothing can
    be added), where it is counted as malformed and consumed. A "line" longer than
    :data:`MAX_LINE` without a break is no record: it is consumed as malformed.
    """
    chunk_size = chunk_size or CHUNK_SIZE
    consumed = 0
    carry = b""
    while True:
        data = fh.read(chunk_size)
        if not data:
            break
        buf = carry + data if carry else data
        end = buf.rfind(b"\n") + 1
        if not end and len(buf) > MAX_LINE:
            end = len(buf)
            stripped = buf.strip(b"\x00")
            if stripped:
                stats["rows"] += 1
                stats["malformed"] += 1
            consumed += end
            carry = b""
            continue
        if end:
            cols = parser.feed(_decode(buf[:end], stats), cols, delta, stats)
            consumed += end
        carry = buf[end:]
    if carry and final:
        if carry.strip(b"\x00\r "):
            stats["rows"] += 1
            stats["malformed"] += 1
        consumed += len(carry)
        carry = b""
    return consumed, cols, len(carry)


# ---------------------------------------------------------------------------------------------
# File contents: compression, head, key
# ---------------------------------------------------------------------------------------------
_MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"),
          (b"\x28\xb5\x2f\xfd", "zstd"))


def compression_of(fh):
    """``None`` (plain), ``gzip``, ``bzip2``, ``xz`` or ``zstd``, from the file's magic bytes
    (logrotate's ``compresscmd`` decides the format, not the name)."""
    magic = os.pread(fh.fileno(), 6, 0)
    for prefix, name in _MAGIC:
        if magic.startswith(prefix):
            return name
    return None


def open_content(fh, kind):
    """A binary stream of the decompressed content of open file ``fh`` (from its start)."""
    fh.seek(0)
    if kind is None:
        return fh
    if kind == "gzip":
        return gzip.GzipFile(fileobj=fh, mode="rb")
    if kind == "bzip2":
        import bz2
        return bz2.BZ2File(fh, mode="rb")
    if kind == "xz":
        import lzma
        return lzma.LZMAFile(fh, mode="rb")
    raise ValueError("%s compression is not supported (no decompressor in the Python standard "
                     "library)" % kind)


def _skip(stream, count):
    """Read and drop ``count`` bytes; returns how many could be skipped."""
    done = 0
    while done < count:
        data = stream.read(min(count - done, CHUNK_SIZE))
        if not data:
            break
        done += len(data)
    return done


def _is_header(line):
    try:
        parse_header(line)
    except ValueError:
        return False
    return True


def key_end(head):
    """End of the first line of ``head`` that is neither blank nor a header line (the first
    record), or None when ``head`` holds no such complete line."""
    pos = 0
    while True:
        nl = head.find(b"\n", pos)
        if nl < 0:
            return None
        line = head[pos:nl]
        if line.strip(b"\r \x00") and not _is_header(line):
            return nl + 1
        pos = nl + 1


class Head:
    """The beginning of a file's content: ``hole`` leading NUL bytes, then ``data`` (at least
    :data:`FP_LEN` bytes when the content is that long, more when needed to hold the first record
    line, at most :data:`HEAD_MAX`), and the ``key`` of that first record (None: none yet)."""

    __slots__ = ("hole", "data", "key", "key_len", "complete")

    def __init__(self, hole, data, complete):
        self.hole = hole
        self.data = data
        self.complete = complete        # data ends where the content ends
        end = key_end(data)
        if end is None and not complete and len(data) >= HEAD_MAX:
            end = len(data)             # a first "line" longer than HEAD_MAX: still an identity
        self.key_len = end or 0
        self.key = _sha1(data[:end]) if end else None

    def fingerprint(self, length):
        return _sha1(self.data[:length]) if len(self.data) >= length else None


def _sha1(data):
    return hashlib.sha1(data).hexdigest()


def read_head(stream, fd=None, size=None):
    """:class:`Head` of a content stream positioned at 0. For a plain file, ``fd`` and ``size``
    let a long hole be skipped with ``SEEK_DATA`` instead of read."""
    data = stream.read(FP_LEN)
    hole = 0
    if data[:1] == b"\x00":
        if fd is not None and hasattr(os, "SEEK_DATA"):
            try:
                start = os.lseek(fd, 0, os.SEEK_DATA)
            except OSError:             # ENXIO: no data at all, the whole file is a hole
                start = size or 0
            pos = len(data)
            if start > pos:             # a sparse hole: jump over it
                hole = pos = start
                data = b""
            stream.seek(pos)            # the lseek moved the descriptor under the buffer
            if not data:
                data = stream.read(FP_LEN)
        while data:
            stripped = data.lstrip(b"\x00")
            if stripped:
                hole += len(data) - len(stripped)
                data = stripped
                break
            hole += len(data)
            data = stream.read(FP_LEN)
    complete = False
    while True:
        if len(data) >= HEAD_MAX or (len(data) >= FP_LEN and key_end(data) is not None):
            break
        more = stream.read(min(HEAD_MAX, max(FP_LEN, 2 * len(data))) - len(data))
        if not more:
            complete = True
            break
        data += more
    return Head(hole, data[:HEAD_MAX], complete and len(data) <= HEAD_MAX)


# ---------------------------------------------------------------------------------------------
# Streams (the cursor) and the scan over a directory
# ---------------------------------------------------------------------------------------------
class Streams:
    """The cursor's streams, indexed by key, with the column lists they share."""

    def __init__(self, cursor, default_columns=None):
        cursor = cursor or {}
        self.default_columns = list(default_columns or [])
        columns = cursor.get("columns") or []
        self.next_id = int(cursor.get("next_id") or 1)
        self.items = []
        for raw in cursor.get("streams") or []:
            s = dict(raw)
            idx = s.pop("cols", None)
            s["columns"] = list(columns[idx]) if idx is not None else None
            s["files"] = [list(f) for f in s.get("files") or []]
            self.items.append(s)
            self.next_id = max(self.next_id, int(s["id"]) + 1)
        self.zdone = {}
        for dev, ino, size, mtime_ns, sid in cursor.get("zdone") or []:
            self.zdone[(dev, ino, size, mtime_ns)] = sid
        self._reindex()

    def _reindex(self):
        self.by_key = {}
        self.by_id = {}
        self.legacy = []
        for s in self.items:
            self._index(s)

    def _index(self, s):
        self.by_id[s["id"]] = s
        if s.get("key"):
            self.by_key.setdefault(s["key"], []).append(s)
        else:
            self.legacy.append(s)

    def new(self, head):
        s = {"id": self.next_id, "key": head.key, "key_len": head.key_len,
             "fp": "", "fp_len": 0, "hole": head.hole, "offset": 0, "columns": None,
             "files": [], "path": ""}
        self.next_id += 1
        return s

    def add(self, s):
        self.items.append(s)
        self._index(s)

    def update(self, stream, new):
        """Replace ``stream``'s fields by ``new``'s (same id)."""
        if stream.get("key") != new.get("key"):
            if stream in self.legacy:
                self.legacy.remove(stream)
            elif stream.get("key"):
                self.by_key[stream["key"]].remove(stream)
            stream.clear()
            stream.update(new)
            self._index(stream)
        else:
            stream.clear()
            stream.update(new)

    def match(self, head):
        """The stream ``head`` continues, or None. Keyed streams first: a file at least as long as
        a stream's fingerprint must match it; a shorter one (an early copy) is matched by key
        alone. Then streams without a key (written by the first cursor version, or holding only a
        header) by fingerprint."""
        best = None
        best_rank = None
        for s in self.by_key.get(head.key, ()) if head.key else ():
            if s["hole"] != head.hole:
                continue
            fp = head.fingerprint(s["fp_len"])
            if fp is None:
                rank = (0, s["offset"])             # shorter than the fingerprint: key only
            elif fp == s["fp"]:
                rank = (1, s["fp_len"], s["offset"])
            else:
                continue
            if best_rank is None or rank > best_rank:
                best, best_rank = s, rank
        if best is not None:
            return best
        for s in self.legacy:
            if s.get("hole", 0) != head.hole or not s["fp_len"]:
                continue
            if head.fingerprint(s["fp_len"]) == s["fp"]:
                if best is None or s["offset"] > best["offset"]:
                    best = s
        return best

    def columns_for(self, dev, ino, path, nfields):
        """Columns for a file without a header line (truncated in place by ``copytruncate``: the
        writer goes on with the columns it had): the stream last held by the same inode, else by
        the same path, else the only column list the cursor knows with ``nfields`` columns (the
        first line's); None when none fits."""
        for test in (lambda f: f[0] == dev and f[1] == ino, lambda f: f[2] == path):
            for s in sorted(self.items, key=lambda x: -x["id"]):
                if s["columns"] and any(test(f) for f in s["files"]):
                    return s["columns"]
        known = {tuple(s["columns"]) for s in self.items
                 if s["columns"] and len(s["columns"]) in (nfields, nfields - 1)}
        if len(known) == 1:
            return list(known.pop())
        if self.default_columns and len(self.default_columns) in (nfields, nfields - 1):
            return list(self.default_columns)
        return None

    def to_cursor(self, present_ids, today, keep_days, zpresent):
        """The cursor's JSON form; streams not seen for more than ``keep_days`` are dropped."""
        columns = []
        col_index = {}
        streams = []
        for s in sorted(self.items, key=lambda x: x["id"]):
            s = dict(s)
            if s["id"] in present_ids:
                s.pop("missing_since", None)
            else:
                since = s.setdefault("missing_since", today)
                if _days_between(since, today) > keep_days:
                    continue
            cols = s.pop("columns")
            if cols is not None:
                key = tuple(cols)
                if key not in col_index:
                    col_index[key] = len(columns)
                    columns.append(list(cols))
                s["cols"] = col_index[key]
            else:
                s["cols"] = None
            streams.append(s)
        kept = {s["id"] for s in streams}
        zdone = sorted([list(k) + [sid] for k, sid in self.zdone.items()
                        if k in zpresent and sid in kept])
        return {"columns": columns, "streams": streams, "zdone": zdone, "next_id": self.next_id}


class AcctScanner:
    """Reads what is new in directories of accounting files, given the previous cursor.

    ``cursor`` is ``{"streams": [...], "columns": [...], "zdone": [...], "next_id": n}`` (see
    :class:`Streams` and the module docstring); a cursor of the first version (``{"files":
    [...]}``) is converted by :func:`load_state`.
    """

    def __init__(self, directory, patterns=DEFAULT_PATTERNS, parser=None, today=None,
                 keep_days=90, opener=open, extra_dirs=(), default_columns=None):
        self.directories = [directory] + [d for d in extra_dirs if d != directory]
        if default_columns:
            Columns(default_columns)        # must name type and timeLogged (ValueError)
        self.default_columns = default_columns
        self.patterns = tuple(patterns)
        self.parser = parser or RecordParser()
        self.today = today or datetime.datetime.utcnow().strftime("%Y-%m-%d")
        self.keep_days = keep_days
        self.opener = opener

    # -- listing --------------------------------------------------------------------------------
    def list_files(self):
        """``{(dev, ino): (path, stat)}`` of the regular files matching the patterns."""
        found = {}
        for directory in self.directories:
            try:
                names = sorted(os.listdir(directory))
            except OSError as exc:
                raise LedgerError("cannot list accounting directory %s: %s"
                                  % (directory, exc.strerror or exc))
            for name in names:
                if not any(fnmatch.fnmatchcase(name, pat) for pat in self.patterns):
                    continue
                path = os.path.join(directory, name)
                try:
                    st = os.stat(path)
                except OSError:
                    continue    # vanished between listdir and stat: the next pass sees it
                if not os.path.isfile(path):
                    continue
                found.setdefault((st.st_dev, st.st_ino), (path, st))
        return found

    # -- the run --------------------------------------------------------------------------------
    def scan(self, cursor):
        """Returns ``(new_cursor, delta, file_stats)``; ``cursor`` is left untouched."""
        self.streams = Streams(cursor, self.default_columns)
        self.present_ids = set()        # streams a present file belongs to
        self.plain_ids = set()          # ... and those of them a plain file holds
        self.zpresent = set()           # (dev, ino, size, mtime_ns) of compressed files seen
        delta = {}
        all_stats = []
        done = set()        # identities handled this run
        retry = []
        # Files may be rotated while we read: list again until nothing new turns up. Plain files
        # first: a compressed copy then knows whether its plain original is still there.
        for _attempt in range(5):
            listing = self.list_files()
            todo = [(ident, p) for ident, p in listing.items() if ident not in done]
            if not todo:
                break
            todo.sort(key=lambda item: (_looks_compressed(item[1][0]), item[1][0]))
            for ident, (path, _st) in todo:
                if ident in done:
                    continue
                stats = self._process(path, ident, delta, done)
                if stats is not None and stats.get("retry"):
                    # No header line and no columns known yet: after the other files (the
                    # copy logrotate's copytruncate made tells them).
                    retry.append((ident, path))
                elif stats is not None:
                    all_stats.append(stats)
        for ident, path in retry:
            done.discard(ident)
            stats = self._process(path, ident, delta, done)
            if stats is not None:
                stats.pop("retry", None)
                all_stats.append(stats)
        new_cursor = self.streams.to_cursor(self.present_ids, self.today, self.keep_days,
                                            self.zpresent)
        return new_cursor, delta, all_stats

    def _open(self, path, listing_ident):
        """Open ``path``; if it is gone, look for the same file (by identity) under a new name."""
        try:
            return path, self.opener(path, "rb")
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise LedgerError("cannot open accounting file %s: %s" % (path, exc.strerror or exc))
        moved = self.list_files().get(listing_ident)
        if moved is None:
            return path, None
        try:
            return moved[0], self.opener(moved[0], "rb")
        except FileNotFoundError:
            return path, None
        except OSError as exc:
            raise LedgerError("cannot open accounting file %s: %s"
                              % (moved[0], exc.strerror or exc))

    def _process(self, path, listing_ident, delta, done):
        path, fh = self._open(path, listing_ident)
        if fh is None:
            stats = new_file_stats(path)
            stats["status"] = "vanished"
            done.add(listing_ident)
            return stats
        with fh:
            st = os.fstat(fh.fileno())          # the identity of what we actually opened
            ident = (st.st_dev, st.st_ino)
            if ident in done:
                return None
            done.add(ident)
            file_delta = {}
            stream_ref = {}
            try:
                stats, commit = self._process_open(path, fh, st, file_delta, stream_ref)
            except (OSError, EOFError, zlib.error, ValueError, LookupError) as exc:
                # Not fatal: this file's counters are dropped and its stream is left as it was,
                # so the next run tries again.
                stats = new_file_stats(path)
                stream = stream_ref.get("stream")
                if stream_ref.get("compressed") and stream is not None \
                        and stream["id"] in self.plain_ids:
                    stats["status"] = "pending"
                    stats["note"] = ("compressed copy of %s still being written"
                                     % (stream.get("path") or "a file read"))
                else:
                    stats["status"] = "error"
                    stats["note"] = "cannot read accounting file %s: %s" % (
                        path, getattr(exc, "strerror", None) or exc)
                return stats
            # Success: commit the file's counters and its stream together.
            merge_counts(delta, file_delta)
            if commit is not None:
                commit()
            return stats

    def _process_open(self, path, fh, st, file_delta, ref):
        """Read what is new in one open file; returns ``(stats, commit)`` where ``commit()``
        records the stream's new state (nothing is changed before it is called)."""
        streams = self.streams
        stats = new_file_stats(path)
        kind = compression_of(fh)
        compressed = kind is not None
        ref["compressed"] = compressed
        zid = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        if compressed:
            self.zpresent.add(zid)
        content = open_content(fh, kind)
        head = read_head(content, None if compressed else fh.fileno(), st.st_size)
        if compressed and zid in streams.zdone:
            # Read before and unchanged (same device, inode, size, mtime): skip it once its head
            # confirms it is still the same content.
            s = streams.by_id.get(streams.zdone[zid])
            if s is not None and self._same(s, head):
                self.present_ids.add(s["id"])
                return stats, None
        stream = streams.match(head) if (head.key or head.data) else None
        ref["stream"] = stream
        note = None
        if stream is None:
            if head.key is None:
                # No complete record yet (empty, header only, or a first line being written).
                if compressed and head.complete:
                    stats["note"] = "no record in this compressed file"
                    return stats, self._keyless(head, path, len(head.data), None, zid)
                if head.data.strip(b"\x00"):
                    stats["status"] = "pending"
                    stats["note"] = "no complete record yet"
                    stats["pending_bytes"] = len(head.data)
                    first = head.data[:head.data.find(b"\n") + 1]
                    if first and _is_header(first):
                        # Remember the header (its columns: a copytruncate may leave the file
                        # without one) as a stream without a key, read up to the header.
                        return stats, self._keyless(head, path, len(first),
                                                    parse_header(first).names, None,
                                                    (st.st_dev, st.st_ino))
                return stats, None
            stream = streams.new(head)
            is_new = True
        else:
            is_new = False
            if stream.get("path") and stream["path"] != path:
                note = "same content as %s" % stream["path"]
        s = dict(stream)
        ref["stream"] = stream
        start = max(s["offset"], s["hole"])
        cols = parse_header_from(s["columns"])
        if cols is None:
            # A new stream: its header line, or (a file truncated in place) the columns the
            # writer had.
            first_nl = head.data.find(b"\n")
            first = head.data[:first_nl + 1] if start == s["hole"] else b""
            try:
                cols = parse_header(first)
                start = s["hole"] + len(first)
            except ValueError:
                names = streams.columns_for(st.st_dev, st.st_ino, path, _nfields(first))
                if names is None:
                    stats["status"] = "bad-header"
                    stats["note"] = ("first line is not a header and no earlier file tells the "
                                     "columns: %s" % first[:200].decode("utf-8", "replace"))
                    stats["retry"] = True
                    return stats, None
                cols = Columns(names)
                note = "no header line: columns of the file truncated in place"
        if compressed:
            final = s["id"] not in self.plain_ids or is_new
            content.seek(0)             # read_head read on: decompress again from the start
            skipped = _skip(content, start)
            offset = start
            if skipped < start:
                consumed, pending = 0, 0
            else:
                consumed, cols, pending = read_new_records(content, self.parser, cols,
                                                           file_delta, stats, final=final)
        else:
            final = False
            if st.st_size <= start:
                consumed, pending = 0, 0
                if st.st_size < s["offset"] and not is_new:
                    note = note or "shorter than what was read from %s" % s["path"]
            else:
                fh.seek(start)
                consumed, cols, pending = read_new_records(fh, self.parser, cols, file_delta,
                                                           stats)
                # Truncated and rewritten while we read (copytruncate)? Then what we read was
                # not the stream's continuation: drop it, the next run reads the new content.
                again = os.pread(fh.fileno(), len(head.data[:FP_LEN]), head.hole)
                if again != head.data[:FP_LEN]:
                    raise ValueError("the file changed while it was read (truncated?)")
            offset = start
        offset += consumed
        s["offset"] = max(s["offset"], offset)
        s["columns"] = cols.names
        if not compressed or s["id"] not in self.plain_ids:
            s["path"] = path            # a compressed copy does not rename a plain file read
        if head.key and not s.get("key"):
            s["key"], s["key_len"] = head.key, head.key_len
        length = min(len(head.data), FP_LEN)
        if length > s["fp_len"]:
            s["fp"], s["fp_len"] = head.fingerprint(length), length
        if not compressed:
            files = [[st.st_dev, st.st_ino, path]]
            files += [f for f in s["files"] if f[:2] != [st.st_dev, st.st_ino]]
            s["files"] = files[:MAX_FILES_PER_STREAM]
        if consumed:
            stats["status"] = "read"
            stats["start_offset"] = start
            stats["end_offset"] = offset
        elif note:
            stats["status"] = "known"
        if note:
            stats["note"] = note
        if pending:
            stats["pending_bytes"] = pending

        def commit():
            stream_obj = stream
            if is_new:
                streams.add(s)
                stream_obj = s
            else:
                streams.update(stream_obj, s)
            self.present_ids.add(stream_obj["id"])
            if not compressed:
                self.plain_ids.add(stream_obj["id"])
            else:
                streams.zdone[zid] = stream_obj["id"]
        return stats, commit

    def _keyless(self, head, path, length, columns, zid, ident=None):
        """Commit for a file without a record yet: a stream without a key whose fingerprint is
        its first ``length`` bytes and whose offset is past them (all of a compressed file, the
        header line of a plain one). A file that later holds records after the same bytes
        continues it."""
        streams = self.streams

        def commit():
            existing = streams.match(head)
            if existing is None:
                s = streams.new(head)
                s.update({"key": None, "key_len": 0, "fp": head.fingerprint(length),
                          "fp_len": length, "offset": head.hole + length, "path": path,
                          "columns": columns,
                          "files": [[ident[0], ident[1], path]] if ident else []})
                streams.add(s)
                existing = s
            self.present_ids.add(existing["id"])
            if zid is not None:
                streams.zdone[zid] = existing["id"]
        return commit

    @staticmethod
    def _same(stream, head):
        if stream.get("hole", 0) != head.hole:
            return False
        if stream.get("key") and head.key != stream["key"]:
            return False
        fp = head.fingerprint(stream["fp_len"]) if stream["fp_len"] else None
        return fp is None or fp == stream["fp"]


def _nfields(line):
    """Number of CSV fields of one line (0 when it is no CSV line)."""
    try:
        rows = list(csv.reader([line.decode("utf-8", "replace").rstrip("\r\n")]))
    except csv.Error:
        return 0
    return len(rows[0]) if len(rows) == 1 else 0


def _looks_compressed(path):
    return path.rsplit(".", 1)[-1] in ("gz", "bz2", "xz", "zst")


def parse_header_from(names):
    return Columns(names) if names else None


def _days_between(a, b):
    da = datetime.datetime.strptime(a, "%Y-%m-%d")
    db = datetime.datetime.strptime(b, "%Y-%m-%d")
    return (db - da).days


# ---------------------------------------------------------------------------------------------
# The ledger: {"days": {day: {ip: {vmta: {provider: {outcome: n, "classes": {class: n}}}}}}}
# ---------------------------------------------------------------------------------------------
def merge_counts(into, delta):
    """Add one counter dict ``{key: [n...]}`` into another."""
    for key, counts in delta.items():
        have = into.get(key)
        if have is None:
            into[key] = list(counts)
        else:
            for i, n in enumerate(counts):
                have[i] += n


def _add_slot(slot, counts):
    for name, n in zip(OUTCOMES, counts):
        if n:
            slot[name] = slot.get(name, 0) + n
    classes = None
    for name, n in zip(CLASSES, counts[CLASS_BASE:]):
        if n:
            if classes is None:
                classes = slot.setdefault("classes", {})
            classes[name] = classes.get(name, 0) + n


def merge_delta(days, delta):
    """Add a run's counters into the ledger's ``days`` dict (in place)."""
    for (day, ip, vmta, prov), counts in delta.items():
        slot = days.setdefault(day, {}).setdefault(ip, {}).setdefault(vmta, {}).setdefault(
            prov, {})
        _add_slot(slot, counts)
    return days


def delta_to_json(delta):
    """A run's counters as JSON-friendly rows (for the cursor's redo record)."""
    return [list(key) + list(counts) for key, counts in sorted(delta.items())]


def delta_from_json(rows, names=None):
    """Counters from :func:`delta_to_json` rows; ``names`` are the counters of the rows when
    they were written by another version (by name; unknown names are dropped)."""
    out = {}
    names = names or (OUTCOMES + CLASSES)
    index = {name: i for i, name in enumerate(OUTCOMES + CLASSES)}
    for row in rows:
        key = tuple(row[:4])
        counts = [0] * WIDTH
        for name, n in zip(names, row[4:]):
            if name in index:
                counts[index[name]] = n
        merge_counts(out, {key: counts})
    return out


def first_kept_day(today, keep_days):
    when = datetime.datetime.strptime(today, "%Y-%m-%d") - datetime.timedelta(days=keep_days - 1)
    return when.strftime("%Y-%m-%d")


def prune(days, today, keep_days):
    """Drop the days older than the last ``keep_days`` days up to ``today`` (in place)."""
    oldest = first_kept_day(today, keep_days)
    for day in [d for d in days if d < oldest]:
        del days[day]
    return days


def _empty_slot():
    slot = dict.fromkeys(OUTCOMES, 0)
    slot["classes"] = dict.fromkeys(CLASSES, 0)
    return slot


def _sum_into(slot, counts):
    for name in OUTCOMES:
        n = counts.get(name)
        if n:
            slot[name] += n
    classes = counts.get("classes")
    if classes:
        into = slot["classes"]
        for name in CLASSES:
            n = classes.get(name)
            if n:
                into[name] += n


def compact(days, since=None, until=None):
    """The controller's compact form ``{ip: {day: {provider: {outcome: n, "classes": {class:
    n}}}}}`` summed over VMTAs. Every provider entry holds all of :data:`OUTCOMES` and all of
    :data:`CLASSES` (zeros included)."""
    out = {}
    for day in sorted(days):
        if (since and day < since) or (until and day > until):
            continue
        for ip, by_v in days[day].items():
            for by_prov in by_v.values():
                for prov, counts in by_prov.items():
                    slot = out.setdefault(ip, {}).setdefault(day, {}).get(prov)
                    if slot is None:
                        slot = out[ip][day][prov] = _empty_slot()
                    _sum_into(slot, counts)
    return out


def by_vmta(days, since=None, until=None):
    """``{vmta: {day: {provider: {...}}}}`` (records without a VMTA under ``-``)."""
    out = {}
    for day in sorted(days):
        if (since and day < since) or (until and day > until):
            continue
        for by_v in days[day].values():
            for vmta, by_prov in by_v.items():
                for prov, counts in by_prov.items():
                    slot = out.setdefault(vmta or UNKNOWN_IP, {}).setdefault(day, {}).get(prov)
                    if slot is None:
                        slot = out[vmta or UNKNOWN_IP][day][prov] = _empty_slot()
                    _sum_into(slot, counts)
    return out


def totals(days):
    """``{outcome: n, "classes": {class: n}}`` over a whole ledger, plus ``days`` (its days)."""
    out = _empty_slot()
    for by_ip in days.values():
        for by_v in by_ip.values():
            for by_prov in by_v.values():
                for counts in by_prov.values():
                    _sum_into(out, counts)
    out["days"] = len(days)
    return out


def delta_totals(delta):
    """``{outcome: n, "classes": {class: n}}`` of a run's counters."""
    out = _empty_slot()
    for counts in delta.values():
        for name, n in zip(OUTCOMES, counts):
            out[name] += n
        for name, n in zip(CLASSES, counts[CLASS_BASE:]):
            out["classes"][name] += n
    return out


# ---------------------------------------------------------------------------------------------
# State files
# ---------------------------------------------------------------------------------------------
V1_OUTCOMES = ("delivered", "hard_bounce", "soft_bounce", "deferred", "complaint",
               "remote_bounce", "remote_status", "deferred_queue")


def _load_json(path, what, versions):
    try:
        with open(path, "r", encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise LedgerError("cannot read %s %s: %s"
                          % (what, path, getattr(exc, "strerror", None) or exc))
    if not isinstance(data, dict) or data.get("version") not in versions:
        raise LedgerError("cannot read %s %s: unknown format (version %r)"
                          % (what, path, data.get("version") if isinstance(data, dict) else None))
    return data


def _cursor_from_v1(cursor):
    """A first-version cursor (one entry per file: dev, ino, fp, fp_len, offset, columns, gzip,
    done) as streams without a key: the first run matches them by fingerprint and gives them
    their key. Entries with the same fingerprint are one stream (the furthest offset wins)."""
    by_fp = {}
    for e in cursor.get("files") or []:
        k = (e.get("fp_len", 0), e.get("fp", ""))
        have = by_fp.get(k)
        if have is None or e.get("offset", 0) > have.get("offset", 0):
            by_fp[k] = e
    columns, col_index, streams = [], {}, []
    for i, ((fp_len, fp), e) in enumerate(sorted(by_fp.items(), key=lambda x: x[1]["path"])):
        idx = None
        if e.get("columns"):
            ck = tuple(e["columns"])
            if ck not in col_index:
                col_index[ck] = len(columns)
                columns.append(list(e["columns"]))
            idx = col_index[ck]
        s = {"id": i + 1, "key": None, "key_len": 0, "fp": fp, "fp_len": fp_len, "hole": 0,
             "offset": e.get("offset", 0), "cols": idx, "path": e.get("path", ""),
             "files": [] if e.get("gzip") else [[e.get("dev"), e.get("ino"), e.get("path", "")]]}
        if e.get("missing_since"):
            s["missing_since"] = e["missing_since"]
        streams.append(s)
    return {"version": CURSOR_VERSION, "generation": cursor.get("generation", 0),
            "columns": columns, "streams": streams, "zdone": [], "next_id": len(streams) + 1,
            "delta": cursor.get("delta", []), "delta_names": list(V1_OUTCOMES)}


def cursor_state(cursor):
    """The part of a cursor the scanner keeps (without generation and redo record)."""
    return {k: cursor.get(k, [] if k != "next_id" else 1)
            for k in ("columns", "streams", "zdone", "next_id")}


def load_state(state_dir, repair=False):
    """``(ledger, cursor, notes)`` from the state directory (empty ones when absent).

    Crash recovery: the cursor is written first and carries its run's counters (``delta``) and
    the generation the ledger will have after that run. A ledger one generation behind the
    cursor lost its write in a crash: the counters are replayed from the cursor, and with
    ``repair`` the repaired ledger is written at once -- the next run's cursor carries only that
    run's counters, so a second crash in a row must not find the ledger two generations behind.
    """
    ledger = _load_json(os.path.join(state_dir, LEDGER_FILE), "ledger", (LEDGER_VERSION,))
    cursor = _load_json(os.path.join(state_dir, CURSOR_FILE), "ledger cursor",
                        (1, CURSOR_VERSION))
    notes = []
    if ledger is None:
        ledger = {"version": LEDGER_VERSION, "generation": 0, "days": {}}
    if cursor is None:
        cursor = {"version": CURSOR_VERSION, "generation": ledger["generation"], "streams": [],
                  "columns": [], "zdone": [], "next_id": 1, "delta": []}
        if ledger["generation"]:
            notes.append("ledger cursor missing: accounting files will be read again from the "
                         "start (counts may double)")
    elif cursor.get("version") == 1:
        cursor = _cursor_from_v1(cursor)
        notes.append("ledger cursor of the first format converted (files are now recognised "
                     "by content)")
    lgen, cgen = ledger.get("generation", 0), cursor.get("generation", 0)
    if cgen == lgen + 1:
        merge_delta(ledger["days"], delta_from_json(cursor.get("delta", []),
                                                    cursor.get("delta_names")))
        ledger["generation"] = cgen
        ledger["version"] = LEDGER_VERSION
        notes.append("ledger replayed the last run's counters from the cursor (interrupted write)")
        if repair:
            atomic_write_json(os.path.join(state_dir, LEDGER_FILE), ledger)
    elif cgen != lgen:
        notes.append("ledger generation %s and cursor generation %s disagree (files restored by "
                     "hand?); continuing from the cursor" % (lgen, cgen))
        ledger["generation"] = cgen
    return ledger, cursor, notes


def atomic_write_json(path, data, mode=0o640):
    """Write JSON to ``path`` atomically (see module_utils/atomic.py)."""
    try:
        atomic_write(path, json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n", mode)
    except OSError as exc:
        raise LedgerError("cannot write %s: %s" % (path, exc.strerror or exc))


def save_state(state_dir, ledger, cursor_state_, delta):
    """Write the cursor (with this run's counters as a redo record), then the ledger.

    A crash after the cursor write and before the ledger write leaves the ledger one generation
    behind: :func:`load_state` replays the counters. A crash before the cursor write leaves both
    as they were: the next run reads the same records again. Either way each record is counted
    once."""
    generation = ledger.get("generation", 0) + 1
    cursor = dict(cursor_state(cursor_state_), version=CURSOR_VERSION, generation=generation,
                  delta=delta_to_json(delta))
    ledger = dict(ledger, version=LEDGER_VERSION, generation=generation)
    atomic_write_json(os.path.join(state_dir, CURSOR_FILE), cursor)
    atomic_write_json(os.path.join(state_dir, LEDGER_FILE), ledger)
    return ledger, cursor
