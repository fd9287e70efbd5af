# -*- coding: utf-8 -*-
"""Incremental per-IP, per-provider daily ledger from PowerMTA accounting files.

Standard library only: this runs on PowerMTA hosts (imported by the ``pmta_ledger`` module).

Pieces, from the inside out:

* :func:`utc_day` turns a ``timeLogged`` value into its UTC date (``YYYY-MM-DD``).
* :class:`RecordParser` turns CSV text (whole records only) into counts keyed by
  ``(day, ip, vmta, provider)``. Columns come from each file's header line, never from positions.
* :func:`read_new_records` streams one open file from an offset, feeding whole records to the
  parser and returning the byte offset just past the last whole record it consumed.
* :class:`AcctScanner` lists the accounting files, recognises each one by identity
  (device + inode, plus a fingerprint of its first bytes) against the cursor, and reads only what
  is new: it survives rotation, truncation, renames, compression and files vanishing mid-run.
* :func:`merge_delta`, :func:`prune`, :func:`compact`, :func:`totals` work on the stored ledger.
* :func:`load_state` / :func:`save_state` read and write ``ledger.json`` + ``ledger-cursor.json``
  atomically and crash-consistently (see :func:`save_state`).

Outcomes counted per ``(day, ip, vmta, provider)``: see :data:`OUTCOMES`.
"""
from __future__ import absolute_import, division, print_function

import csv
import datetime
import fnmatch
import gzip
import hashlib
import io
import json
import operator
import os
import re
import time
import zlib

from ansible_collections.mailfleet.fleet.plugins.module_utils.providers import (
    PROVIDERS,
    ProviderClassifier,
)

from ansible_collections.mailfleet.fleet.plugins.module_utils.atomic import atomic_write

__metaclass__ = type

LEDGER_FILE = "ledger.json"
CURSOR_FILE = "ledger-cursor.json"
STATE_VERSION = 1

# Outcome columns of one counter list, in this order. The first five are the contract of
# docs/DEVELOPMENT.md (always present in the compact form); the others are extra detail:
#   deferred        t (per recipient) and tq (per queue) transient records
#   deferred_queue  the tq part of ``deferred`` (queue-level failures: connection refused...)
#   remote_bounce   rb records (asynchronous bounces, after the message was accepted)
#   remote_status   rs records (remote DSN status reports)
OUTCOMES = (
    "delivered", "hard_bounce", "soft_bounce", "deferred", "complaint",
    "remote_bounce", "remote_status", "deferred_queue",
)
CONTRACT_OUTCOMES = OUTCOMES[:5]
(DELIVERED, HARD_BOUNCE, SOFT_BOUNCE, DEFERRED, COMPLAINT,
 REMOTE_BOUNCE, REMOTE_STATUS, DEFERRED_QUEUE) = range(len(OUTCOMES))

DEFAULT_HARD_BOUNCE_CATEGORIES = ("bad-mailbox", "inactive-mailbox", "bad-domain")
DEFAULT_PATTERNS = ("acct.csv", "acct-*.csv", "acct-*.csv.gz")
UNKNOWN_IP = "-"

# Record kinds. The guide allows the long record names in the configuration; the file normally
# holds the short ones, but accepting both costs nothing.
# The hot loop maps a record type straight to the outcome it counts; the kinds that need more
# work have negative codes.
_B, _TQ, _F, _IGNORED = -1, -2, -3, -4
RECORD_KINDS = {
    "d": DELIVERED, "delivery": DELIVERED, "delivered": DELIVERED,
    "b": _B, "bounce": _B, "bounced": _B,
    "t": DEFERRED, "transient": DEFERRED,
    "tq": _TQ, "transient-queue": _TQ,
    "f": _F, "feedback-loop": _F,
    "rb": REMOTE_BOUNCE, "remote-bounce": REMOTE_BOUNCE,
    "rs": REMOTE_STATUS, "remote-status": REMOTE_STATUS,
    # "r" (received) records are valid but say nothing about delivery: counted as ignored.
    "r": _IGNORED, "received": _IGNORED,
}
_HOT_KINDS = RECORD_KINDS

# Source addresses PowerMTA logs when no local address was bound (tq records).
_NO_IP = frozenset(("", "0.0.0.0", "::"))

FP_LEN = 4096                    # bytes of a file's beginning that make its fingerprint
CHUNK_SIZE = 4 * 1024 * 1024     # read size when streaming a file
MAX_RECORD = 1024 * 1024         # a quoted record spanning more than this is a stray quote
QUIET_SECONDS = 120              # a file untouched this long will not finish an open record
_CACHE_MAX = 200000              # bound on each per-run lookup cache

STAT_KEYS = ("rows", "counted", "malformed", "unknown_type", "bad_timestamp", "ignored")


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
        # f records have no vmta column; an operator may log the X-Virtual-MTA header instead.
        self.vmta_header = col("header_x-virtual-mta")
        self.rcpt = col("rcpt")
        self.mx = col("dsnmta")
        self.reporting_mta = col("reportingmta")
        self.cat = col("bouncecat")
        self.queue = col("queue")

    def hot(self):
        """``(ncols, pad, getter, cat_index)`` for the hot loop. The getter returns
        ``(type, timeLogged, dlvSourceIp, vmta, rcpt, dsnMta)``; a column the file lacks reads
        from index ``ncols``, where the loop appends an empty string when ``pad`` is true."""
        wanted = (self.type, self.time, self.ip, self.vmta, self.rcpt, self.mx, self.cat)
        pad = any(i < 0 for i in wanted)
        fix = [self.ncols if i < 0 else i for i in wanted]
        return self.ncols, pad, operator.itemgetter(*fix[:6]), fix[6]


class RecordParser:
    """Counts accounting records into ``delta[(day, ip, vmta, provider)] = [n per OUTCOMES]``.

    One parser serves a whole run (its caches are shared by all files); the counters it fills are
    passed in per call so that a file's contribution can be dropped if that file fails.
    """

    def __init__(self, classifier=None, hard_categories=DEFAULT_HARD_BOUNCE_CATEGORIES,
                 vmta_ips=None):
        self.classifier = classifier or ProviderClassifier()
        self.hard = frozenset(c.strip().lower() for c in hard_categories)
        self.vmta_ips = dict(vmta_ips or {})
        self._good_days = set()
        self._day_cache = {}
        self._dom_cache = {}   # recipient domain -> provider, or "" when only the MX can tell
        self._mx_cache = {}    # dsnMta value -> provider (for domains not known by name)

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

    def _count_special(self, kind, row, cols, day, ip, vmta, rcpt, mx, delta):
        """Count a tq or f record (rare; their columns differ from delivery records)."""
        if kind == _TQ:
            prov = self._queue_provider(row[cols.queue] if cols.queue >= 0 else "", mx)
            outcomes = (DEFERRED, DEFERRED_QUEUE)
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
            counts = delta[key] = [0] * len(OUTCOMES)
        for idx in outcomes:
            counts[idx] += 1

    # -- the hot loop ---------------------------------------------------------------------------
    def feed(self, text, cols, delta, stats):
        """Count the whole records in ``text``; returns the columns in force at its end.

        A header line met mid-file (``type,...``) replaces the columns for the rows after it.
        Kept tight on purpose: one C call fetches the fields, the outcome comes from one dict
        lookup, the day from slicing, the provider from a per-domain cache.
        """
        reader = csv.reader(io.StringIO(text, newline=""))
        kinds = _HOT_KINDS
        hard = self.hard
        vmta_ips = self.vmta_ips
        good_days = self._good_days
        dom_cache = self._dom_cache
        mx_cache = self._mx_cache
        no_ip = _NO_IP
        width = len(OUTCOMES)
        ncols, pad, get, i_cat = cols.hot()
        rows = malformed = unknown = bad_ts = ignored = 0
        for row in reader:
            rows += 1
            if len(row) != ncols:
                if len(row) == ncols + 1 and not row[-1]:
                    del row[-1]         # a trailing comma, as in some of the guide's samples
                elif not row:           # blank line
                    rows -= 1
                    continue
                else:
                    new_cols = _header_or_none(row)
                    if new_cols is None:
                        malformed += 1
                    else:               # a header (other columns) repeated mid-file
                        rows -= 1
                        cols = new_cols
                        ncols, pad, get, i_cat = cols.hot()
                    continue
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
                    ncols, pad, get, i_cat = cols.hot()
                continue
            if idx == _IGNORED:
                ignored += 1
                continue
            # Day: PowerMTA's usual "YYYY-MM-DD HH:MM:SS+0000" by slicing, anything else cached.
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
            if idx < 0:
                if idx == _B:
                    idx = HARD_BOUNCE if row[i_cat].lower() in hard else SOFT_BOUNCE
                else:
                    self._count_special(idx, row, cols, day, ip, vmta, rcpt, mx, delta)
                    continue
            # Source IP: dlvSourceIp, else the VMTA's address (b records carry no dlvSourceIp).
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
            counts[idx] += 1
        stats["rows"] += rows
        stats["counted"] += rows - malformed - unknown - bad_ts - ignored
        stats["malformed"] += malformed
        stats["unknown_type"] += unknown
        stats["bad_timestamp"] += bad_ts
        stats["ignored"] += ignored
        return cols


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
    rows = list(csv.reader(io.StringIO(line, newline="")))
    if len(rows) != 1:
        raise ValueError("not a single CSV line")
    return Columns(rows[0])


# ---------------------------------------------------------------------------------------------
# Streaming one file
# ---------------------------------------------------------------------------------------------
def _split_whole_records(buf):
    """Length of the longest prefix of ``buf`` made of whole CSV records (ending in a newline).

    A newline inside a quoted field does not end a record: a prefix ends a record when it holds
    an even number of double quotes (RFC 4180 escapes a quote by doubling it). Returns
    ``(end, open_quote)`` where ``open_quote`` says that complete lines after ``end`` were held
    back because a quoted field is still open.
    """
    end = buf.rfind(b"\n") + 1
    if not end or not buf.count(b'"', 0, end) % 2:
        return end, False
    # Rare: an odd number of quotes. Walk the lines to find the last even-parity line end.
    parity = 0
    last_even = 0
    pos = 0
    while pos < end:
        nl = buf.index(b"\n", pos) + 1
        parity ^= buf.count(b'"', pos, nl) & 1
        if not parity:
            last_even = nl
        pos = nl
    return last_even, True


def read_new_records(fh, parser, cols, delta, stats, final=False, chunk_size=CHUNK_SIZE):
    """Feed whole records from the current position of binary file ``fh`` to ``parser``.

    Returns ``(consumed_bytes, cols, pending_bytes)``. A trailing line without its newline is
    never consumed (PowerMTA may be writing it). ``final`` means no more data can come (a
    compressed file): complete lines held back by an unbalanced quote are then counted line by
    line, and an unterminated last line is counted as malformed and consumed.
    """
    consumed = 0
    carry = b""
    while True:
        data = fh.read(chunk_size)
        if not data:
            break
        buf = carry + data if carry else data
        end, open_quote = _split_whole_records(buf)
        if open_quote and len(buf) - end > MAX_RECORD:
            # No real record is that long: a stray quote. Count those lines one by one.
            end = buf.rfind(b"\n") + 1
            cols = _feed_linewise(parser, buf[:end], cols, delta, stats)
        elif end:
            cols = parser.feed(buf[:end].decode("utf-8", "replace"), cols, delta, stats)
        consumed += end
        carry = buf[end:]
    if carry and final:
        cut = carry.rfind(b"\n") + 1
        if cut:
            cols = _feed_linewise(parser, carry[:cut], cols, delta, stats)
        if cut < len(carry):
            stats["rows"] += 1
            stats["malformed"] += 1
        consumed += len(carry)
        carry = b""
    return consumed, cols, len(carry)


def flush_open_quote(fh, offset, parser, cols, delta, stats):
    """Count complete lines after ``offset`` one by one (an unbalanced quote that no writer will
    ever close); returns the bytes consumed. The unterminated last line, if any, stays."""
    fh.seek(offset)
    rest = fh.read()
    cut = rest.rfind(b"\n") + 1
    if cut:
        _feed_linewise(parser, rest[:cut], cols, delta, stats)
    return cut


def _feed_linewise(parser, blob, cols, delta, stats):
    for line in blob.splitlines(True):
        # Each line on its own: an unbalanced quote cannot swallow the lines after it.
        cols = parser.feed(line.decode("utf-8", "replace"), cols, delta, stats)
    return cols


# ---------------------------------------------------------------------------------------------
# File identity and the scan over a directory
# ---------------------------------------------------------------------------------------------
def _fingerprint(data):
    return hashlib.sha1(data).hexdigest()


def _is_gzip(path):
    return path.endswith(".gz")


def _read_prefix(path, fh, gz, length):
    """The first ``length`` bytes of the (decompressed) content of an open file."""
    if gz:
        with gzip.GzipFile(fileobj=fh, mode="rb") as z:
            data = z.read(length)
    else:
        data = os.pread(fh.fileno(), length, 0)
    fh.seek(0)
    return data


class AcctScanner:
    """Reads what is new in a directory of accounting files, given the previous cursor.

    ``cursor`` is ``{"files": [entry, ...]}``, each entry
    ``{"path", "dev", "ino", "fp", "fp_len", "offset", "columns", "gzip", "done",
    "missing_since"}`` where ``fp`` is the SHA-1 of the first ``fp_len`` bytes of the
    (decompressed) content. A file is the same file when its device and inode match and its
    first ``fp_len`` bytes still hash to ``fp``; a file with a new identity whose beginning
    matches an entry whose file is gone (moved to another device, compressed) takes over that
    entry. When ``fp_len < FP_LEN`` the fingerprint covers everything consumed so far, so taking
    over such an entry is always safe.
    """

    def __init__(self, directory, patterns=DEFAULT_PATTERNS, parser=None, today=None,
                 keep_days=90, opener=open, clock=time.time):
        self.directory = directory
        self.patterns = tuple(patterns)
        self.parser = parser or RecordParser()
        self.today = today or datetime.datetime.utcnow().strftime("%Y-%m-%d")
        self.keep_days = keep_days
        self.opener = opener
        self.clock = clock

    # -- listing --------------------------------------------------------------------------------
    def list_files(self):
        """``{(dev, ino): (path, stat)}`` of the regular files matching the patterns."""
        try:
            names = sorted(os.listdir(self.directory))
        except OSError as exc:
            raise LedgerError("cannot list accounting directory %s: %s"
                              % (self.directory, exc.strerror or exc))
        found = {}
        for name in names:
            if not any(fnmatch.fnmatchcase(name, pat) for pat in self.patterns):
                continue
            path = os.path.join(self.directory, name)
            try:
                st = os.stat(path)
            except OSError:
                continue        # vanished between listdir and stat: the next pass sees it
            if not os.path.isfile(path):
                continue
            found.setdefault((st.st_dev, st.st_ino), (path, st))
        return found

    # -- the run --------------------------------------------------------------------------------
    def scan(self, cursor):
        """Returns ``(new_cursor, delta, file_stats)``; ``cursor`` is left untouched."""
        entries = {}
        for entry in (cursor or {}).get("files", []):
            entries[(entry["dev"], entry["ino"])] = dict(entry)
        delta = {}
        all_stats = []
        done = set()        # identities handled this run
        present = set()     # identities seen in any listing this run
        # Files may be rotated while we read: list again until nothing new turns up.
        for _ in range(5):
            listing = self.list_files()
            present.update(listing)
            todo = [(ident, p) for ident, p in listing.items() if ident not in done]
            if not todo:
                break
            # Files we already know first, so that orphan entries are claimed only by the rest.
            todo.sort(key=lambda item: (item[0] not in entries, item[1][0]))
            for ident, (path, _st) in todo:
                if ident in done:
                    continue
                stats = self._process(path, ident, entries, delta, done, present)
                if stats is not None:
                    all_stats.append(stats)
        # Entries whose file is gone are kept a while (it may come back compressed or moved).
        for ident, entry in list(entries.items()):
            if ident in present:
                entry.pop("missing_since", None)
            else:
                since = entry.setdefault("missing_since", self.today)
                if _days_between(since, self.today) > self.keep_days:
                    del entries[ident]
        new_cursor = {"files": sorted(entries.values(), key=lambda e: (e["path"], e["ino"]))}
        return new_cursor, delta, all_stats

    def _open(self, path, listing_ident, present):
        """Open ``path``; if it is gone, look for the same file (by identity) under a new name."""
        try:
            return path, self.opener(path, "rb")
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise LedgerError("cannot open accounting file %s: %s" % (path, exc.strerror or exc))
        listing = self.list_files()
        present.update(listing)
        moved = listing.get(listing_ident)
        if moved is None:
            return path, None
        try:
            return moved[0], self.opener(moved[0], "rb")
        except FileNotFoundError:
            return path, None
        except OSError as exc:
            raise LedgerError("cannot open accounting file %s: %s"
                              % (moved[0], exc.strerror or exc))

    def _process(self, path, listing_ident, entries, delta, done, present):
        path, fh = self._open(path, listing_ident, present)
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
            present.add(ident)
            file_delta = {}
            try:
                stats, entry, claimed = self._process_open(path, fh, st, ident, entries,
                                                           file_delta, present)
            except (OSError, EOFError, zlib.error, ValueError) as exc:
                # Not fatal: this file's counters are dropped and its cursor entry is left as it
                # was, so the next run tries again (a compressed file may still be being written).
                stats = new_file_stats(path)
                stats["status"] = "error"
                stats["note"] = "cannot read accounting file %s: %s" % (
                    path, getattr(exc, "strerror", None) or exc)
                return stats
            # Success: commit the file's counters and its cursor entry together.
            merge_counts(delta, file_delta)
            if claimed is not None:
                entries.pop(claimed, None)
            if entry is not None:
                entries[ident] = entry
            return stats

    def _match_orphan(self, path, fh, gz, size, entries, present, ident):
        """An entry whose file is gone and whose fingerprint matches this file's beginning."""
        prefixes = {}
        best = None
        for other_ident, entry in entries.items():
            if other_ident == ident:
                continue
            fp_len = entry["fp_len"]
            if not gz and fp_len > size:
                continue
            if fp_len not in prefixes:
                prefixes[fp_len] = _read_prefix(path, fh, gz, fp_len)
            prefix = prefixes[fp_len]
            if len(prefix) != fp_len or _fingerprint(prefix) != entry["fp"]:
                continue
            if other_ident in present:
                # The same content as a file still here: a compressed copy being made.
                if gz and not entry.get("gzip"):
                    return "copy", entry
                continue
            if best is None or entry["offset"] > best["offset"]:
                best = entry
        return ("orphan", best) if best is not None else (None, None)

    def _process_open(self, path, fh, st, ident, entries, file_delta, present):
        """Read what is new in one open file; returns ``(stats, new_entry, claimed_ident)``.

        Nothing is changed in ``entries`` here: the caller commits on success."""
        gz = _is_gzip(path)
        stats = new_file_stats(path)
        entry = entries.get(ident)
        claimed = None
        note = None
        if entry is not None:
            prefix = _read_prefix(path, fh, gz, entry["fp_len"])
            if len(prefix) != entry["fp_len"] or _fingerprint(prefix) != entry["fp"]:
                # Same inode, other content: replaced (inode reuse) or truncated and rewritten.
                note = "replaced"
                entry = None
        else:
            how, other = self._match_orphan(path, fh, gz, st.st_size, entries, present, ident)
            if how == "copy":
                stats["status"] = "skipped"
                stats["note"] = "compressed copy of %s, which is still present" % other["path"]
                return stats, None, None
            if how == "orphan":
                claimed = (other["dev"], other["ino"])
                entry = dict(other)
                note = "renamed from %s" % other["path"]
        if entry is None:
            entry = {"offset": 0, "columns": None, "done": False, "fp": "", "fp_len": 0}
        else:
            entry = dict(entry)
        entry.pop("missing_since", None)
        entry.update({"path": path, "dev": ident[0], "ino": ident[1], "gzip": gz})
        if entry["done"]:
            if note:
                stats["status"] = "renamed"
                stats["note"] = note
            return stats, entry, claimed
        if not gz and st.st_size < entry["offset"]:
            note = "truncated"
            entry.update({"offset": 0, "columns": None})
        if not gz and st.st_size == entry["offset"]:
            if note:
                stats["status"] = "renamed"
                stats["note"] = note
            return stats, entry, claimed

        start = entry["offset"]
        stats["start_offset"] = start
        if gz:
            stream = gzip.GzipFile(fileobj=fh, mode="rb")
            _skip(stream, start)
        else:
            stream = fh
            fh.seek(start)
        offset = start
        cols = parse_header_from(entry["columns"])
        if cols is None:
            # A new file (or one restarted after truncation) begins with its header line.
            line = stream.readline(MAX_RECORD)
            if not line.endswith(b"\n"):
                stats["status"] = "pending"
                stats["note"] = "header line not complete yet"
                stats["pending_bytes"] = len(line)
                if gz:
                    entry["done"] = True
                    stats["status"] = "read"
                    stats["note"] = "empty or headerless compressed file"
                _set_fp(entry, path, fh, gz)
                return stats, entry, claimed
            try:
                cols = parse_header(line)
            except ValueError as exc:
                stats["status"] = "bad-header"
                stats["note"] = "%s: %s" % (exc, line[:200].decode("utf-8", "replace"))
                return stats, None, None
            offset += len(line)
        consumed, cols, pending = read_new_records(
            stream, self.parser, cols, file_delta, stats, final=gz)
        offset += consumed
        if pending and not gz and self.clock() - st.st_mtime > QUIET_SECONDS:
            # Whole lines held back by an unbalanced quote in a file nobody writes any more.
            extra = flush_open_quote(fh, offset, self.parser, cols, file_delta, stats)
            offset += extra
            pending -= extra
        entry["offset"] = offset
        entry["columns"] = cols.names
        if gz:
            entry["done"] = True
        _set_fp(entry, path, fh, gz)
        if offset > start:
            stats["status"] = "read"
        elif note:
            stats["status"] = "renamed"
        stats["end_offset"] = offset
        if pending:
            stats["pending_bytes"] = pending
        if note:
            stats["note"] = note
        return stats, entry, claimed


def _skip(stream, count):
    while count > 0:
        data = stream.read(min(count, CHUNK_SIZE))
        if not data:
            break
        count -= len(data)


def _set_fp(entry, path, fh, gz):
    """(Re)compute the fingerprint once the file is longer than the one we hold."""
    if entry["fp_len"] >= FP_LEN:
        return
    prefix = _read_prefix(path, fh, gz, FP_LEN)
    if len(prefix) >= entry["fp_len"]:
        entry["fp"] = _fingerprint(prefix)
        entry["fp_len"] = len(prefix)


def parse_header_from(names):
    return Columns(names) if names else None


def _days_between(a, b):
    da = datetime.datetime.strptime(a, "%Y-%m-%d")
    db = datetime.datetime.strptime(b, "%Y-%m-%d")
    return (db - da).days


# ---------------------------------------------------------------------------------------------
# The ledger: {"days": {day: {ip: {vmta: {provider: {outcome: n}}}}}}
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


def merge_delta(days, delta):
    """Add a run's counters into the ledger's ``days`` dict (in place)."""
    for (day, ip, vmta, prov), counts in delta.items():
        slot = days.setdefault(day, {}).setdefault(ip, {}).setdefault(vmta, {}).setdefault(
            prov, {})
        for name, n in zip(OUTCOMES, counts):
            if n:
                slot[name] = slot.get(name, 0) + n
    return days


def delta_to_json(delta):
    """A run's counters as JSON-friendly rows (for the cursor's redo record)."""
    return [list(key) + list(counts) for key, counts in sorted(delta.items())]


def delta_from_json(rows):
    out = {}
    width = len(OUTCOMES)
    for row in rows:
        key = tuple(row[:4])
        counts = list(row[4:4 + width]) + [0] * max(0, width - len(row[4:]))
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


def compact(days, since=None, until=None):
    """The controller's compact form ``{ip: {day: {provider: {outcome: n}}}}`` summed over VMTAs.

    Every provider entry holds all of :data:`OUTCOMES` (zeros included)."""
    out = {}
    for day in sorted(days):
        if (since and day < since) or (until and day > until):
            continue
        for ip, by_vmta in days[day].items():
            for by_prov in by_vmta.values():
                for prov, counts in by_prov.items():
                    slot = out.setdefault(ip, {}).setdefault(day, {}).setdefault(
                        prov, dict.fromkeys(OUTCOMES, 0))
                    for name, n in counts.items():
                        slot[name] = slot.get(name, 0) + n
    return out


def by_vmta(days, since=None, until=None):
    """``{vmta: {day: {provider: {outcome: n}}}}`` (records without a VMTA under ``-``)."""
    out = {}
    for day in sorted(days):
        if (since and day < since) or (until and day > until):
            continue
        for by_v in days[day].values():
            for vmta, by_prov in by_v.items():
                for prov, counts in by_prov.items():
                    slot = out.setdefault(vmta or UNKNOWN_IP, {}).setdefault(day, {}).setdefault(
                        prov, dict.fromkeys(OUTCOMES, 0))
                    for name, n in counts.items():
                        slot[name] = slot.get(name, 0) + n
    return out


def totals(days):
    """``{outcome: n}`` over a whole ledger, plus the number of days it holds."""
    out = dict.fromkeys(OUTCOMES, 0)
    for by_ip in days.values():
        for by_vmta in by_ip.values():
            for by_prov in by_vmta.values():
                for counts in by_prov.values():
                    for name, n in counts.items():
                        out[name] = out.get(name, 0) + n
    out["days"] = len(days)
    return out


# ---------------------------------------------------------------------------------------------
# State files
# ---------------------------------------------------------------------------------------------
def _load_json(path, what):
    try:
        with open(path, "r", encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise LedgerError("cannot read %s %s: %s" % (what, path, getattr(exc, "strerror", None)
                                                      or exc))
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        raise LedgerError("cannot read %s %s: unknown format (version %r)"
                          % (what, path, data.get("version") if isinstance(data, dict) else None))
    return data


def load_state(state_dir):
    """``(ledger, cursor, notes)`` from the state directory (empty ones when absent).

    Crash recovery: the cursor is written first and carries its run's counters (``delta``) and
    the generation the ledger will have after that run. A ledger one generation behind the
    cursor lost its write in a crash: the counters are replayed from the cursor.
    """
    ledger = _load_json(os.path.join(state_dir, LEDGER_FILE), "ledger")
    cursor = _load_json(os.path.join(state_dir, CURSOR_FILE), "ledger cursor")
    notes = []
    if ledger is None:
        ledger = {"version": STATE_VERSION, "generation": 0, "days": {}}
    if cursor is None:
        cursor = {"version": STATE_VERSION, "generation": ledger["generation"], "files": [],
                  "delta": []}
        if ledger["generation"]:
            notes.append("ledger cursor missing: accounting files will be read again from the "
                         "start (counts may double)")
    lgen, cgen = ledger.get("generation", 0), cursor.get("generation", 0)
    if cgen == lgen + 1:
        merge_delta(ledger["days"], delta_from_json(cursor.get("delta", [])))
        ledger["generation"] = cgen
        notes.append("ledger replayed the last run's counters from the cursor (interrupted write)")
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


def save_state(state_dir, ledger, cursor_files, delta):
    """Write the cursor (with this run's counters as a redo record), then the ledger."""
    generation = ledger.get("generation", 0) + 1
    cursor = {"version": STATE_VERSION, "generation": generation, "files": cursor_files,
              "delta": delta_to_json(delta)}
    ledger = dict(ledger, version=STATE_VERSION, generation=generation)
    atomic_write_json(os.path.join(state_dir, CURSOR_FILE), cursor)
    atomic_write_json(os.path.join(state_dir, LEDGER_FILE), ledger)
    return ledger, cursor
