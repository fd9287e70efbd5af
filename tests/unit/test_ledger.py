"""Unit tests of module_utils/ledger.py against the accounting file generator (acctgen.py)."""
import collections
import gzip
import hashlib
import json
import os
import shutil

import pytest

import acctgen
from ansible_collections.mailfleet.fleet.plugins.module_utils import ledger as lg

PATTERNS = list(lg.DEFAULT_PATTERNS) + ["fbl*.csv"]


def scanner(directory, hard_categories=lg.DEFAULT_HARD_BOUNCE_CATEGORIES, **kw):
    parser = lg.RecordParser(vmta_ips=acctgen.VMTA_IPS, hard_categories=hard_categories)
    return lg.AcctScanner(str(directory), patterns=PATTERNS, parser=parser, **kw)


class Run:
    """Successive scans over one directory, accumulating the ledger like the module does."""

    def __init__(self, directory, **kw):
        self.directory = directory
        self.kw = kw
        self.cursor = {}
        self.days = {}
        self.stats = []

    def scan(self, **kw):
        opts = dict(self.kw, **kw)
        self.cursor, delta, self.stats = scanner(self.directory, **opts).scan(self.cursor)
        lg.merge_delta(self.days, delta)
        return delta

    def counts(self):
        return acctgen.flatten_compact(lg.compact(self.days))

    def stat_totals(self):
        out = collections.Counter()
        for s in self.stats:
            for k in lg.STAT_KEYS:
                out[k] += s[k]
        return +out


def assert_exact(run, expected):
    got = run.counts()
    missing = expected.counts - got
    extra = got - expected.counts
    assert not missing and not extra, "missing %s extra %s" % (
        dict(list(missing.items())[:5]), dict(list(extra.items())[:5]))


# --- timestamps ------------------------------------------------------------------------------
@pytest.mark.parametrize("value,day", [
    ("2026-11-21 13:45:02+0000", "2026-11-21"),
    ("2026-11-21 23:30:00-0400", "2026-11-22"),
    ("2026-11-21 02:00:00+0530", "2026-11-20"),
    ("2026-11-21T13:45:02+00:00", "2026-11-21"),
    ("2026-11-21T13:45:02Z", "2026-11-21"),
    ("2026-11-21 13:45:02.123+0000", "2026-11-21"),
    ("2026-11-21 13:45:02", "2026-11-21"),
    ("11/21/2026 22:00:00-0300", "2026-11-22"),
    ("1795219200", "2026-11-21"),
    ("", None), ("yesterday", None), ("2026-13-01 00:00:00+0000", None),
    ("2026-11-21 25:00:00+0000", None), ("2026-11-21 10:00:00+9900", None),
])
def test_utc_day(value, day):
    assert lg.utc_day(value) == day


def test_every_time_style_lands_on_the_utc_day(tmp_path):
    gen = acctgen.AcctGen(seed=2, step_seconds=37, time_styles=acctgen.TIME_STYLES)
    exp = gen.write(str(tmp_path / "acct.csv"), 6000)
    run = Run(tmp_path)
    run.scan()
    assert_exact(run, exp)
    assert len({k[1] for k in exp.counts}) >= 3


# --- whole files -----------------------------------------------------------------------------
def test_mixed_layouts_bad_rows_are_exact_and_counted(tmp_path):
    gen = acctgen.AcctGen(seed=3, time_styles=acctgen.TIME_STYLES, bad_rate=0.03)
    exp = gen.write(str(tmp_path / "acct.csv"), 8000)
    exp += gen.write(str(tmp_path / "acct-2026-11-21-0001.csv"), 3000,
                     columns=acctgen.REORDERED_COLUMNS)
    exp += gen.write(str(tmp_path / "fbl.csv"), 800, columns=acctgen.FBL_COLUMNS)
    run = Run(tmp_path)
    run.scan()
    assert_exact(run, exp)
    assert run.stat_totals() == +exp.stats
    assert exp.stats["malformed"] and exp.stats["unknown_type"] and exp.stats["bad_timestamp"]
    # every outcome, every reply class and the unknown IP actually occur in the data
    outcomes = {k[3] for k in exp.counts}
    assert outcomes == set(lg.OUTCOMES) | {"class:" + c for c in lg.CLASSES}
    assert any(k[0] == lg.UNKNOWN_IP for k in exp.counts)
    assert {k[2] for k in exp.counts} == {"gmail", "microsoft", "yahoo", "other"}


def test_second_run_over_unchanged_files_reads_nothing(tmp_path):
    gen = acctgen.AcctGen(seed=4)
    exp = gen.write(str(tmp_path / "acct.csv"), 2000)
    exp += gen.write(str(tmp_path / "acct-2026-11-20-0000.csv.gz"), 500, gz=True)
    run = Run(tmp_path)
    run.scan()
    first_cursor = json.loads(json.dumps(run.cursor))
    assert run.scan() == {}
    assert run.cursor == first_cursor
    assert {s["status"] for s in run.stats} == {"unchanged"}
    assert_exact(run, exp)


def test_rotation_mid_day_counts_each_record_once(tmp_path):
    gen = acctgen.AcctGen(seed=5, step_seconds=1)
    live = str(tmp_path / "acct.csv")
    exp = gen.write(live, 1000)
    run = Run(tmp_path)
    run.scan()
    exp += gen.write(live, 700, mode="a", header=False)        # written after our read...
    os.rename(live, str(tmp_path / "acct-2026-11-20-0001.csv"))  # ...then rotated
    exp += gen.write(live, 400)                                  # the new live file
    run.scan()
    assert_exact(run, exp)
    statuses = {os.path.basename(s["path"]): s for s in run.stats}
    assert statuses["acct-2026-11-20-0001.csv"]["rows"] == 700
    assert statuses["acct.csv"]["rows"] == 400
    assert run.scan() == {}


def test_partial_last_line_waits_for_its_newline(tmp_path):
    gen = acctgen.AcctGen(seed=6)
    text, exp = gen.lines(300)
    cut = len(text) - 25                      # in the middle of the last record
    live = tmp_path / "acct.csv"
    live.write_bytes(text[:cut].encode())
    run = Run(tmp_path)
    run.scan()
    assert run.stats[0]["pending_bytes"] > 0
    assert run.stat_totals()["rows"] == 299
    with open(str(live), "ab") as fh:
        fh.write(text[cut:].encode())
    run.scan()
    assert run.stats[0]["rows"] == 1
    assert_exact(run, exp)


def test_header_not_complete_yet(tmp_path):
    gen = acctgen.AcctGen(seed=7)
    text, exp = gen.lines(50)
    live = tmp_path / "acct.csv"
    live.write_bytes(text[:10].encode())
    run = Run(tmp_path)
    run.scan()
    assert run.stats[0]["status"] == "pending"
    live.write_bytes(text.encode())          # same inode, rewritten in place (grown)
    run.scan()
    assert_exact(run, exp)


def test_truncation_restarts_the_file(tmp_path):
    gen = acctgen.AcctGen(seed=8)
    live = str(tmp_path / "acct.csv")
    exp = gen.write(live, 600)
    run = Run(tmp_path)
    run.scan()
    text, more = gen.lines(100)
    with open(live, "r+b") as fh:            # copytruncate: same inode, new content
        fh.truncate(0)
        fh.write(text.encode())
    exp += more
    run.scan()
    assert_exact(run, exp)
    # a new stream at the same inode (its content does not continue what was read)
    assert run.stats[0]["status"] == "read" and run.stats[0]["rows"] == 100


def test_gzip_of_a_fully_read_file_is_not_counted_again(tmp_path):
    gen = acctgen.AcctGen(seed=9)
    rotated = str(tmp_path / "acct-2026-11-20-0001.csv")
    exp = gen.write(rotated, 900)
    run = Run(tmp_path)
    run.scan()
    _gzip_file(rotated)
    assert run.scan() == {}
    assert run.stats[0]["status"] == "known"
    assert run.stats[0]["path"].endswith(".gz")
    assert "acct-2026-11-20-0001.csv" in run.stats[0]["note"]
    assert run.scan() == {}
    assert_exact(run, exp)


def test_gzip_of_a_partly_read_file_counts_the_rest(tmp_path):
    gen = acctgen.AcctGen(seed=10)
    rotated = str(tmp_path / "acct-2026-11-20-0001.csv")
    exp = gen.write(rotated, 500)
    run = Run(tmp_path)
    run.scan()
    exp += gen.write(rotated, 300, mode="a", header=False)
    _gzip_file(rotated)
    run.scan()
    assert run.stats[0]["rows"] == 300
    assert_exact(run, exp)


def test_new_gzip_file_read_once_and_copy_in_progress_skipped(tmp_path):
    gen = acctgen.AcctGen(seed=11)
    exp = gen.write(str(tmp_path / "acct-2026-11-19-0000.csv.gz"), 400, gz=True)
    plain = str(tmp_path / "acct-2026-11-20-0000.csv")
    exp += gen.write(plain, 5000)
    run = Run(tmp_path)
    run.scan()
    assert_exact(run, exp)
    # gzip running: the .gz exists next to the original
    with open(plain, "rb") as src, gzip.open(plain + ".gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    assert run.scan() == {}
    assert [s["status"] for s in run.stats if s["status"] != "unchanged"] == ["known"]
    os.unlink(plain)                             # gzip done
    assert run.scan() == {}
    assert_exact(run, exp)


def test_truncated_gzip_is_an_error_not_a_crash_and_is_retried(tmp_path):
    gen = acctgen.AcctGen(seed=12)
    good = str(tmp_path / "good.gz")
    exp = gen.write(good, 3000, gz=True)
    data = open(good, "rb").read()
    target = tmp_path / "acct-2026-11-20-0000.csv.gz"
    target.write_bytes(data[:len(data) // 2])
    os.unlink(good)
    run = Run(tmp_path)
    assert run.scan() == {}
    assert run.stats[0]["status"] == "error" and "acct-2026-11-20-0000.csv.gz" in \
        run.stats[0]["note"]
    target.write_bytes(data)                     # the writer finished
    run.scan()
    assert_exact(run, exp)


def test_file_renamed_between_listing_and_open_is_found_by_identity(tmp_path):
    gen = acctgen.AcctGen(seed=13)
    live = str(tmp_path / "acct.csv")
    exp = gen.write(live, 800)
    rotated = str(tmp_path / "acct-2026-11-20-0002.csv")
    state = {"done": False}

    def rotating_open(path, mode):
        if path == live and not state["done"]:
            state["done"] = True
            os.rename(live, rotated)             # PowerMTA rotates right now
        return open(path, mode)

    run = Run(tmp_path, opener=rotating_open)
    run.scan()
    assert state["done"]
    assert_exact(run, exp)
    assert run.stats[0]["path"] == rotated
    assert Run(tmp_path).scan() != {}            # sanity: a fresh cursor would read it again
    assert run.scan() == {}


def test_file_deleted_between_listing_and_open(tmp_path):
    gen = acctgen.AcctGen(seed=14)
    live = str(tmp_path / "acct.csv")
    gen.write(live, 50)

    def deleting_open(path, mode):
        if os.path.exists(path):
            os.unlink(path)
        return open(path, mode)

    run = Run(tmp_path, opener=deleting_open)
    assert run.scan() == {}
    assert run.stats[0]["status"] == "vanished"


def test_file_removed_while_being_read_is_read_to_the_end(tmp_path):
    gen = acctgen.AcctGen(seed=15)
    live = str(tmp_path / "acct.csv")
    exp = gen.write(live, 3000)

    class Vanishing:
        """Unlinks the file after the first chunk: the open descriptor keeps it readable."""

        def __init__(self, path, mode):
            self.fh = open(path, mode)
            self.path = path
            self.reads = 0

        def read(self, n=-1):
            self.reads += 1
            if self.reads == 2 and os.path.exists(self.path):
                os.unlink(self.path)
            return self.fh.read(n)

        def __getattr__(self, name):
            return getattr(self.fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    run = Run(tmp_path, opener=Vanishing)
    old = lg.CHUNK_SIZE
    try:
        lg.CHUNK_SIZE = 64 * 1024
        run.scan()
    finally:
        lg.CHUNK_SIZE = old
    assert_exact(run, exp)


def test_file_truncated_and_rewritten_while_being_read(tmp_path):
    """copytruncate while the ledger reads: what was read is dropped, the next run is exact."""
    gen = acctgen.AcctGen(seed=18)
    live = str(tmp_path / "acct.csv")
    exp_old = gen.write(live, 2000)
    state = {"done": False}
    new_text, exp_new = gen.lines(3000)

    class Truncating:
        def __init__(self, path, mode):
            self.fh = open(path, mode)
            self.path = path

        def read(self, n=-1):
            data = self.fh.read(n)
            if not state["done"] and self.fh.tell() > 8192:
                state["done"] = True
                with open(self.path, "r+b") as w:      # logrotate truncates, PowerMTA goes on
                    w.truncate(0)
                    w.write(new_text.encode())
            return data

        def __getattr__(self, name):
            return getattr(self.fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    run = Run(tmp_path, opener=Truncating)
    old = lg.CHUNK_SIZE
    try:
        lg.CHUNK_SIZE = 4096
        run.scan()
    finally:
        lg.CHUNK_SIZE = old
    assert state["done"] and run.stats[0]["status"] == "error"
    assert "changed while it was read" in run.stats[0]["note"] and run.counts() == {}
    run.kw.pop("opener")
    run.scan()
    assert_exact(run, exp_new)          # the old content is gone from disk: never counted
    assert exp_old.counts


def test_rotated_to_another_device_or_name_claims_the_entry(tmp_path):
    gen = acctgen.AcctGen(seed=16)
    rotated = str(tmp_path / "acct-2026-11-20-0001.csv")
    exp = gen.write(rotated, 700)
    run = Run(tmp_path)
    run.scan()
    exp += gen.write(rotated, 50, mode="a", header=False)
    copy = str(tmp_path / "acct-2026-11-20-0001b.csv")
    shutil.copyfile(rotated, copy)               # new inode, same content (move-to elsewhere)
    os.unlink(rotated)
    run.scan()
    assert run.stats[0]["rows"] == 50
    assert run.stats[0]["note"] == "same content as %s" % rotated
    assert_exact(run, exp)


# --- CSV details -----------------------------------------------------------------------------
def _row(columns, **values):
    return ",".join(values.get(c, "") for c in columns)


GOOD_COLS = ["type", "timeLogged", "rcpt", "dlvSourceIp", "dsnDiag"]


def _good(i):
    return "d,2026-11-21 10:00:00+0000,u%d@gmail.com,192.0.2.10,smtp;250 ok" % i


def _delivered(run):
    return run.counts()[("192.0.2.10", "2026-11-21", "gmail", "delivered")]


def test_mid_file_header_and_lines_across_chunks(tmp_path):
    cols = acctgen.DEFAULT_COLUMNS
    lines = [",".join(cols)]
    for i in range(200):
        diag = '"smtp;550 5.1.1 ""quoted"", with a comma"' if i % 7 == 0 else "smtp;250 ok"
        lines.append(_row(cols, type="d", timeLogged="2026-11-21 10:00:%02d+0000" % (i % 60),
                          rcpt="u%d@gmail.com" % i, dsnDiag=diag, dlvSourceIp="192.0.2.10",
                          vmta="vmta-a"))
    other = ["timeLogged", "type", "rcpt", "vmta"]         # operator changed record-fields
    lines.append(",".join(other))
    lines.append("2026-11-21 11:00:00+0000,b,x@yahoo.com,vmta-b")
    (tmp_path / "acct.csv").write_bytes(("\r\n".join(lines) + "\r\n").encode())
    old = lg.CHUNK_SIZE
    try:
        lg.CHUNK_SIZE = 97                        # forces records across chunk boundaries
        run = Run(tmp_path)
        run.scan()
    finally:
        lg.CHUNK_SIZE = old
    got = run.counts()
    assert got == collections.Counter({
        ("192.0.2.10", "2026-11-21", "gmail", "delivered"): 200,
        ("198.51.100.20", "2026-11-21", "yahoo", "soft_bounce"): 1,
        ("198.51.100.20", "2026-11-21", "yahoo", "class:other"): 1})
    assert run.stats[0]["malformed"] == 0 and run.stats[0]["rows"] == 201


# --- malformed lines: each one is one malformed row, never more, never merged ----------------
@pytest.mark.parametrize("bad,n_bad", [
    # two unterminated quotes in consecutive lines: a quote-aware reader pairs them up
    (['d,2026-11-21 10:00:00+0000,a@gmail.com,192.0.2.10,"unterminated one',
      'd,2026-11-21 10:00:00+0000,b@gmail.com,192.0.2.10,"unterminated two'], 2),
    # three in a row, and one that would swallow a good line
    (['d,2026-11-21 10:00:00+0000,a@gmail.com,192.0.2.10,"one'] * 3, 3),
    (['d,"2026-11-21 10:00:00+0000,a@gmail.com,192.0.2.10,open'], 1),
    # a quoted line break (PowerMTA never writes one): both halves are malformed
    (['d,2026-11-21 10:00:00+0000,a@gmail.com,192.0.2.10,"smtp;550 line one',
      'line two"'], 2),
    # a stray carriage return inside a line
    (["d,2026-11-21 10:00:00+0000,a@gmail.com,192.0.2.10,smtp;250\rok"], 1),
    # NUL bytes inside a line: the NUL run ends the line, both parts are malformed
    (["d,2026-11-21 10:00:00+0000,a@gmail.com,\x00\x00\x00192.0.2.10,ok"], 2),
    # a line of NULs only (zeroed blocks) is no row at all
    (["\x00" * 300], 0),
    # wrong number of fields, a field over the csv module's limit
    (["d,2026-11-21 10:00:00+0000,a@gmail.com"], 1),
    (["d,2026-11-21 10:00:00+0000,a@gmail.com,192.0.2.10," + "x" * 200000], 1),
    (['d,2026-11-21 10:00:00+0000,a@gmail.com,192.0.2.10,"' + "x" * 200000], 1),
])
@pytest.mark.parametrize("chunk", [97, 4 * 1024 * 1024])
def test_malformed_lines_never_swallow_the_next_one(tmp_path, bad, n_bad, chunk):
    lines = [",".join(GOOD_COLS), _good(0)]
    for i, line in enumerate(bad):
        lines += [line, _good(i + 1)]
    text = "\r\n".join(lines) + "\r\n"
    (tmp_path / "acct.csv").write_bytes(text.encode())
    old = lg.CHUNK_SIZE
    try:
        lg.CHUNK_SIZE = chunk
        run = Run(tmp_path)
        run.scan()
    finally:
        lg.CHUNK_SIZE = old
    assert _delivered(run) == len(bad) + 1          # every good line counts, none is lost
    assert run.stats[0]["malformed"] == n_bad
    assert run.stats[0]["rows"] == len(bad) + 1 + n_bad
    assert run.stats[0]["end_offset"] == len(text.encode())
    assert run.scan() == {}


def test_leading_nul_hole_is_skipped(tmp_path):
    """A writer that does not append, after copytruncate: NULs up to its old offset."""
    text = "\r\n".join([",".join(GOOD_COLS), _good(0), _good(1)]) + "\r\n"
    (tmp_path / "acct.csv").write_bytes(b"\x00" * 70000 + text.encode())
    run = Run(tmp_path)
    run.scan()
    assert _delivered(run) == 2 and run.stats[0]["malformed"] == 0


def test_invalid_utf8_is_counted_and_the_record_kept(tmp_path):
    lines = [",".join(GOOD_COLS).encode(), _good(0).encode(),
             b"d,2026-11-21 10:00:00+0000,u1@gmail.com,192.0.2.10,smtp;550 caf\xe9 \xff\xfe",
             b"d,2026-11-21 10:00:00+0000,u2@gm\xe1il.com,192.0.2.10,ok", _good(3).encode()]
    (tmp_path / "acct.csv").write_bytes(b"\r\n".join(lines) + b"\r\n")
    run = Run(tmp_path)
    run.scan()
    assert run.stats[0]["bad_encoding"] == 2 and run.stats[0]["malformed"] == 0
    assert _delivered(run) == 3
    assert run.counts()[("192.0.2.10", "2026-11-21", "other", "delivered")] == 1


def test_partial_last_line_being_written(tmp_path):
    """The writer adds a record in pieces between runs: counted once, when complete."""
    header = ",".join(GOOD_COLS) + "\r\n"
    record = _good(7) + "\r\n"
    path = tmp_path / "acct.csv"
    path.write_bytes((header + _good(0) + "\r\n").encode())
    run = Run(tmp_path)
    run.scan()
    assert _delivered(run) == 1
    data = record.encode()
    for cut in (1, 10, 30, len(data) - 2, len(data) - 1, len(data)):   # ...\r then \n
        with open(str(path), "ab") as fh:
            fh.write(data[:cut] if cut == 1 else data[prev:cut])
        prev = cut
        run.scan()
        if cut < len(data):
            assert _delivered(run) == 1
            assert run.stats[0].get("pending_bytes") in (None, cut) or cut == 1
    assert _delivered(run) == 2
    assert run.stat_totals()["malformed"] == 0
    assert run.scan() == {}


def test_partial_last_line_of_a_compressed_file_is_malformed(tmp_path):
    text = "\r\n".join([",".join(GOOD_COLS), _good(0), _good(1)])   # no final line break
    with gzip.open(str(tmp_path / "acct-2026-11-21-0000.csv.gz"), "wb") as fh:
        fh.write(text.encode())
    run = Run(tmp_path)
    run.scan()
    assert _delivered(run) == 1 and run.stats[0]["malformed"] == 1
    assert run.scan() == {}


def test_hard_bounce_categories_are_configurable(tmp_path):
    cols = ["type", "timeLogged", "rcpt", "bounceCat", "vmta"]
    rows = ["b,2026-11-21 10:00:00+0000,a@gmail.com,%s,vmta-a" % c
            for c in ("bad-mailbox", "quota-issues", "BAD-DOMAIN", "policy-related")]
    rows.append("rb,2026-11-21 10:00:00+0000,a@gmail.com,bad-mailbox,")
    (tmp_path / "acct.csv").write_bytes(("\n".join([",".join(cols)] + rows) + "\n").encode())
    run = Run(tmp_path)
    run.scan()
    ip = "192.0.2.10"
    assert run.counts() == collections.Counter({
        (ip, "2026-11-21", "gmail", "hard_bounce"): 2,
        (ip, "2026-11-21", "gmail", "soft_bounce"): 2,
        # without a reply, the class comes from bounceCat
        (ip, "2026-11-21", "gmail", "class:mailbox_unknown"): 2,
        (ip, "2026-11-21", "gmail", "class:mailbox_full"): 1,
        (ip, "2026-11-21", "gmail", "class:reputation"): 1,
        # a remote bounce without a VMTA: under "-", hard, counted in async_bounce too
        ("-", "2026-11-21", "gmail", "hard_bounce"): 1,
        ("-", "2026-11-21", "gmail", "async_bounce"): 1,
        ("-", "2026-11-21", "gmail", "class:mailbox_unknown"): 1})
    run2 = Run(tmp_path, hard_categories=["quota-issues"])
    run2.scan()
    assert run2.counts()[(ip, "2026-11-21", "gmail", "hard_bounce")] == 1


def test_remote_bounces_count_as_bounces_of_their_ip(tmp_path):
    """rb records: hard or soft by bounceCat, attributed through header_X-Virtual-MTA."""
    cols = ["type", "timeLogged", "rcpt", "dsnStatus", "dsnDiag", "dsnMta", "bounceCat",
            "header_X-Virtual-MTA"]
    mx = "gmail-smtp-in.l.google.com (192.0.2.201)"
    recs = [
        ("rb", "5.1.1", "smtp;550-5.1.1 The email account that you tried to reach does not exist",
         "bad-mailbox", "vmta-a"),
        ("rb", "5.2.2", "smtp;552-5.2.2 The recipient's inbox is out of storage space and "
         "inactive", "quota-issues", "vmta-a"),
        ("rb", "5.7.1", "smtp;550-5.7.1 This message is likely unsolicited email", "spam-related",
         "vmta-b"),
        ("rb", "5.7.26", "smtp;550-5.7.26 Unauthenticated email from example.com is not "
         "accepted due to domain's DMARC policy", "policy-related", "vmta-z"),
        ("rs", "2.0.0", "smtp;250 2.0.0 OK", "", "vmta-a"),
    ]
    lines = [",".join(cols)] + [
        ",".join([t, "2026-11-21 10:00:00+0000", "u@corp-g.example", st, '"%s"' % d, mx, c, v])
        for t, st, d, c, v in recs]
    (tmp_path / "acct.csv").write_bytes(("\r\n".join(lines) + "\r\n").encode())
    run = Run(tmp_path)
    run.scan()
    day = "2026-11-21"
    a, b = "192.0.2.10", "198.51.100.20"
    assert run.counts() == collections.Counter({
        (a, day, "gmail", "hard_bounce"): 1, (a, day, "gmail", "soft_bounce"): 1,
        (a, day, "gmail", "async_bounce"): 2,
        (a, day, "gmail", "class:mailbox_unknown"): 1, (a, day, "gmail", "class:mailbox_full"): 1,
        (b, day, "gmail", "soft_bounce"): 1, (b, day, "gmail", "async_bounce"): 1,
        (b, day, "gmail", "class:content"): 1,
        ("-", day, "gmail", "soft_bounce"): 1, ("-", day, "gmail", "async_bounce"): 1,
        ("-", day, "gmail", "class:auth"): 1,
        ("-", day, "gmail", "remote_status"): 1})


def test_bad_header_is_reported_not_fatal(tmp_path):
    (tmp_path / "acct.csv").write_bytes(b"foo,bar\n1,2\n")
    run = Run(tmp_path)
    assert run.scan() == {}
    assert run.stats[0]["status"] == "bad-header"


def test_missing_directory_names_it(tmp_path):
    with pytest.raises(lg.LedgerError, match="nowhere"):
        scanner(tmp_path / "nowhere").scan({})


# --- ledger, state files ---------------------------------------------------------------------
def _counts(**named):
    counts = [0] * lg.WIDTH
    for name, n in named.items():
        if name in lg.CLASS_INDEX:
            counts[lg.CLASS_INDEX[name]] = n
        else:
            counts[lg.OUTCOMES.index(name)] = n
    return counts


def test_prune_compact_totals():
    delta = {("2026-08-01", "192.0.2.10", "vmta-a", "gmail"): _counts(delivered=1),
             ("2026-11-21", "192.0.2.10", "vmta-a", "gmail"): _counts(
                 delivered=5, hard_bounce=1, deferred=2, mailbox_unknown=1, rate_limited=2),
             ("2026-11-21", "192.0.2.10", "vmta-x", "gmail"): _counts(delivered=1, complaint=1)}
    days = lg.merge_delta({}, delta)
    lg.prune(days, "2026-11-21", 90)
    assert sorted(days) == ["2026-11-21"]
    out = lg.compact(days)
    classes = dict(dict.fromkeys(lg.CLASSES, 0), mailbox_unknown=1, rate_limited=2)
    assert out == {"192.0.2.10": {"2026-11-21": {"gmail": dict(
        dict.fromkeys(lg.OUTCOMES, 0), delivered=6, hard_bounce=1, deferred=2, complaint=1,
        classes=classes)}}}
    tot = lg.totals(days)
    assert tot["delivered"] == 6 and tot["classes"]["rate_limited"] == 2 and tot["days"] == 1
    assert set(lg.by_vmta(days)) == {"vmta-a", "vmta-x"}
    assert lg.by_vmta(days)["vmta-a"]["2026-11-21"]["gmail"]["classes"]["mailbox_unknown"] == 1
    # the stored slot keeps only non-zero counters
    assert days["2026-11-21"]["192.0.2.10"]["vmta-x"]["gmail"] == {"delivered": 1, "complaint": 1}


def test_state_roundtrip_and_crash_replay(tmp_path):
    state = str(tmp_path)
    ledger, cursor, notes = lg.load_state(state)
    assert ledger["days"] == {} and cursor["streams"] == [] and notes == []
    delta1 = {("2026-11-21", "192.0.2.10", "vmta-a", "gmail"): _counts(delivered=3, other=1)}
    ledger = dict(ledger, days=lg.merge_delta({}, delta1))
    state1 = {"streams": [{"id": 1, "key": "k"}], "columns": [], "zdone": [], "next_id": 2}
    lg.save_state(state, ledger, state1, delta1)
    ledger, cursor, notes = lg.load_state(state)
    assert ledger["generation"] == 1 and lg.cursor_state(cursor) == state1 and not notes
    # a crash after the cursor write, before the ledger write
    delta2 = {("2026-11-21", "192.0.2.10", "vmta-a", "gmail"): _counts(delivered=4, other=2)}
    lg.atomic_write_json(os.path.join(state, lg.CURSOR_FILE), dict(
        state1, version=lg.CURSOR_VERSION, generation=2, delta=lg.delta_to_json(delta2)))
    ledger, cursor, notes = lg.load_state(state)
    slot = ledger["days"]["2026-11-21"]["192.0.2.10"]["vmta-a"]["gmail"]
    assert slot["delivered"] == 7 and slot["classes"] == {"other": 3}
    assert ledger["generation"] == 2 and notes
    assert sorted(os.listdir(state)) == [lg.CURSOR_FILE, lg.LEDGER_FILE]   # no temp files left


def test_first_version_cursor_is_converted_without_reading_again(tmp_path):
    """A cursor written by the first version (files by inode) goes on where it was."""
    acct = tmp_path / "acct"
    acct.mkdir()
    gen = acctgen.AcctGen(seed=41)
    live = acct / "acct.csv"
    exp = gen.write(str(live), 300)
    data = live.read_bytes()
    st = os.stat(str(live))
    v1 = {"version": 1, "generation": 3, "delta": [], "files": [{
        "path": str(live), "dev": st.st_dev, "ino": st.st_ino, "gzip": False, "done": False,
        "fp": hashlib.sha1(data[:lg.FP_LEN]).hexdigest(), "fp_len": min(len(data), lg.FP_LEN),
        "offset": len(data), "columns": list(acctgen.DEFAULT_COLUMNS)}]}
    state = tmp_path / "state"
    state.mkdir()
    lg.atomic_write_json(str(state / lg.CURSOR_FILE), v1)
    lg.atomic_write_json(str(state / lg.LEDGER_FILE), {"version": 1, "generation": 3,
                                                       "days": {}})
    ledger, cursor, notes = lg.load_state(str(state))
    assert any("first format" in n for n in notes)
    more = gen.write(str(live), 50, mode="a", header=False)
    _gzip_file(str(live))                       # and compressed since: found by content
    new_cursor, delta, _stats = scanner(acct).scan(cursor)
    got = acctgen.flatten_compact(lg.compact(lg.merge_delta({}, delta)))
    assert got == more.counts
    assert exp.counts                            # (the first 300 were counted by version 1)
    assert new_cursor["streams"][0]["key"]       # the stream got its key
    _c, delta, _s = scanner(acct).scan(new_cursor)
    assert delta == {}


def test_corrupt_state_file_names_it(tmp_path):
    (tmp_path / lg.LEDGER_FILE).write_text("{not json")
    with pytest.raises(lg.LedgerError, match=lg.LEDGER_FILE):
        lg.load_state(str(tmp_path))


# --- volume ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_one_million_rows_exact(tmp_path):
    """1,000,000 rows in five rotated files. To keep the test short, 200,000 distinct rows are
    generated once and written to five files, each after its own first records (files are told
    apart by their content: five byte-identical files would be five copies of one file)."""
    gen = acctgen.AcctGen(seed=17, step_seconds=0.3, bad_rate=0.001)
    text, block = gen.lines(200000)
    body = text.encode().split(b"\n", 1)[1]           # without the header line
    exp = acctgen.Expected()
    for i in range(5):
        head, first = gen.lines(5)
        (tmp_path / ("acct-2026-11-2%d-0000.csv" % i)).write_bytes(head.encode() + body)
        exp += first
        exp += block
    run = Run(tmp_path)
    run.scan()
    assert run.stat_totals()["rows"] == 1000025
    assert_exact(run, exp)
    assert run.stat_totals() == +exp.stats
    assert run.scan() == {}


def _gzip_file(path):
    with open(path, "rb") as src, gzip.open(path + ".gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.unlink(path)


def test_scripted_day_is_counted_exactly_as_scripted(tmp_path):
    """The demo's history generator (acctgen.scripted_day): delivered, hard bounces (b records
    attributed through the VMTA) and Gmail 421-4.7.28 deferrals land on the IP, day, provider and
    reply class they were scripted for; the same seed gives the same bytes."""
    traffic = [("192.0.2.10", "vmta-a", "gmail", "d", 30), ("192.0.2.10", "vmta-a", "gmail", "defer:0", 7),
               ("192.0.2.10", "vmta-a", "microsoft", "d", 20), ("192.0.2.10", "vmta-a", "microsoft", "hard", 2),
               ("198.51.100.20", "vmta-b", "yahoo", "d", 9), ("198.51.100.20", "vmta-b", "other", "d", 4)]
    text = acctgen.scripted_day("2026-11-19", traffic, seed=3, header=True)
    assert text == acctgen.scripted_day("2026-11-19", traffic, seed=3, header=True)
    assert text != acctgen.scripted_day("2026-11-20", traffic, seed=3, header=True)
    (tmp_path / "acct.csv").write_text(text + acctgen.scripted_day("2026-11-20", traffic[:1], seed=3), newline="")
    run = Run(tmp_path)
    run.scan()
    day = "2026-11-19"
    assert run.counts() == collections.Counter({
        ("192.0.2.10", day, "gmail", "delivered"): 30, ("192.0.2.10", day, "gmail", "deferred"): 7,
        ("192.0.2.10", day, "gmail", "class:rate_limited"): 7,
        ("192.0.2.10", day, "microsoft", "delivered"): 20, ("192.0.2.10", day, "microsoft", "hard_bounce"): 2,
        ("192.0.2.10", day, "microsoft", "class:mailbox_unknown"): 2,
        ("198.51.100.20", day, "yahoo", "delivered"): 9, ("198.51.100.20", day, "other", "delivered"): 4,
        ("192.0.2.10", "2026-11-20", "gmail", "delivered"): 30})
    with pytest.raises(ValueError):
        acctgen.scripted_day(day, [("192.0.2.10", "vmta-a", "gmail", "bounce", 1)])
