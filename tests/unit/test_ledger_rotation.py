"""Exactness of the ledger under real rotations on a real file system.

Files are written by a :class:`Writer` that behaves like PowerMTA (one descriptor kept open, whole
records appended, a header line when it starts a file), rotated the ways logrotate and PowerMTA do
it (create, copytruncate, compress, delaycompress, delete, dateext, PowerMTA's own
``acct-YYYY-MM-DD-NNNN.csv`` files), and read by the ledger the way the module does it (state
files in a state directory, crash-safe writes). Inode reuse is forced: on a fresh ext4 file system
mounted from an image when the tests run as root (deterministic), else on the test's own
directory by creating files until the freed inode number is handed out again.

The expected counts are independent of the ledger: before each ledger run, :class:`Observer`
reads every file on disk (decompressing by magic bytes) and collects the unique record ids
(``rid-N-rid``) of its complete lines. Every record seen on disk at some run must be counted
exactly once by the end; the generator (acctgen) knows what each record counts as.
"""
import bz2
import collections
import contextlib
import gzip
import lzma
import os
import random
import shutil
import subprocess
import tempfile

import pytest

import acctgen
from ansible_collections.mailfleet.fleet.plugins.module_utils import ledger as lg

PATTERNS = list(lg.DEFAULT_PATTERNS)


# ---------------------------------------------------------------------------------------------
# A real file system where inode numbers are reused
# ---------------------------------------------------------------------------------------------
@contextlib.contextmanager
def ext4_image(size_mb=64):
    """A fresh ext4 file system mounted on a temporary directory (root only), else None."""
    if os.geteuid() != 0 or not shutil.which("mkfs.ext4") or not shutil.which("mount"):
        yield None
        return
    base = tempfile.mkdtemp(prefix="ledger-ext4-")
    image, mnt = os.path.join(base, "fs.img"), os.path.join(base, "mnt")
    os.mkdir(mnt)
    mounted = False
    try:
        with open(image, "wb") as fh:
            fh.truncate(size_mb * 1024 * 1024)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-N", "512", image], check=True,
                       capture_output=True, timeout=60)
        proc = subprocess.run(["mount", "-o", "loop", image, mnt], capture_output=True,
                              timeout=60)
        mounted = proc.returncode == 0
        yield mnt if mounted else None
    finally:
        if mounted:
            if subprocess.run(["umount", mnt], capture_output=True, timeout=60).returncode:
                subprocess.run(["umount", "-l", mnt], capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


def _on_ext4_image(path):
    return "/ledger-ext4-" in path


@pytest.fixture
def fsdir(tmp_path):
    """A directory on a file system that reuses inode numbers (see the module docstring)."""
    with ext4_image() as mnt:
        base = mnt if mnt else str(tmp_path)
        work = os.path.join(base, "work")
        os.mkdir(work)
        yield work


class InodePool:
    """Inode numbers freed by deletions, most recent last; ``take`` gives one no file under
    ``root`` uses now (another file may have been given it meanwhile)."""

    def __init__(self, root):
        self.root = root
        self.freed = []

    def free(self, ino):
        self.freed.append(ino)

    def take(self):
        used = set()
        for directory, _dirs, names in os.walk(self.root):
            for name in names:
                used.add(os.lstat(os.path.join(directory, name)).st_ino)
        while self.freed:
            ino = self.freed.pop()
            if ino not in used:
                return ino
        return None


def create_reusing_inode(path, ino, max_tries=3000):
    """Create the empty file ``path`` with inode number ``ino`` (freed before): create filler
    files beside it until the file system hands ``ino`` out again. Returns True on success."""
    directory = os.path.dirname(path)
    fillers = []
    try:
        for i in range(max_tries):
            tmp = os.path.join(directory, ".filler-%d" % i)
            fd = os.open(tmp, os.O_CREAT | os.O_WRONLY, 0o644)
            os.close(fd)
            if os.stat(tmp).st_ino == ino:
                os.rename(tmp, path)
                return True
            fillers.append(tmp)
        return False
    finally:
        for tmp in fillers:
            os.unlink(tmp)


# ---------------------------------------------------------------------------------------------
# PowerMTA as a writer, logrotate and PowerMTA as rotators
# ---------------------------------------------------------------------------------------------
class Writer:
    """Appends generated records to a live file through one open descriptor, like PowerMTA.

    ``append=False`` writes at the descriptor's own position (no O_APPEND): after a
    ``copytruncate`` the file then restarts after a hole of NULs."""

    def __init__(self, directory, gen, name="acct.csv", append=True, columns=None, pool=None):
        self.directory = directory
        self.gen = gen
        self.append = append
        self.pool = pool
        self.reused = 0
        self.columns = columns or acctgen.DEFAULT_COLUMNS
        self.exp = acctgen.Expected()
        self.fd = None
        self.pos = 0
        self.partial = b""          # the rest of a record written in two pieces
        self.open(name)

    @property
    def path(self):
        return self.file_path

    def open(self, name, reuse_inode=None):
        """Start a new file (with its header line); ``reuse_inode``: at that freed inode number,
        or (True) at the most recently freed one of the pool, when the file system hands it
        out again."""
        if self.fd is not None:
            self.finish_partial()
            os.close(self.fd)
        self.file_path = os.path.join(self.directory, name)
        if reuse_inode is True:
            reuse_inode = self.pool.take() if self.pool else None
        if reuse_inode is not None and create_reusing_inode(self.file_path, reuse_inode):
            self.reused += 1
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if self.append else 0)
        self.fd = os.open(self.file_path, flags, 0o640)
        self.pos = os.fstat(self.fd).st_size
        self._write((",".join(self.columns) + "\r\n").encode())

    def _write(self, data):
        if self.append:
            os.write(self.fd, data)
        else:
            os.pwrite(self.fd, data, self.pos)
        self.pos += len(data)

    def write(self, n):
        """``n`` whole records."""
        self.finish_partial()
        if n:
            text, exp = self.gen.lines(n, self.columns, header=False)
            self._write(text.encode())
            self.exp += exp

    def write_partial(self, cut_fraction=0.5):
        """One record written in two pieces: the first piece now, the rest with the next write."""
        self.finish_partial()
        text, exp = self.gen.lines(1, self.columns, header=False)
        data = text.encode()
        cut = max(1, int(len(data) * cut_fraction))
        self._write(data[:cut])
        self.partial = data[cut:]
        self.exp += exp

    def finish_partial(self):
        if self.partial:
            data, self.partial = self.partial, b""
            self._write(data)

    def close(self):
        self.finish_partial()
        os.close(self.fd)
        self.fd = None


def _compress(path, kind="gzip"):
    """Like ``gzip FILE``: write FILE.gz, then remove FILE (the inode is freed)."""
    opener, ext = {"gzip": (gzip.open, ".gz"), "xz": (lzma.open, ".xz"),
                   "bzip2": (bz2.open, ".bz2")}[kind]
    with open(path, "rb") as src, opener(path + ext, "wb") as dst:
        shutil.copyfileobj(src, dst)
    shutil.copystat(path, path + ext)
    os.unlink(path)
    return path + ext


class LogRotate:
    """logrotate's numbered and dated rotations of ``acct.csv`` (one call = one rotation)."""

    def __init__(self, directory, rotate=3, compress=True, delaycompress=False, dateext=False,
                 copytruncate=False, compresscmd="gzip", pool=None):
        self.directory = directory
        self.pool = pool
        self.rotate = rotate
        self.compress = compress
        self.delaycompress = delaycompress
        self.dateext = dateext
        self.copytruncate = copytruncate
        self.compresscmd = compresscmd
        self.ext = {"gzip": ".gz", "xz": ".xz", "bzip2": ".bz2"}[compresscmd]
        self.serial = 0
        self.dated = []             # dateext: rotated names, oldest first

    def _p(self, name):
        return os.path.join(self.directory, name)

    def __call__(self, writer, reuse_inode=False, late_writes=0):
        live = self._p("acct.csv")
        freed = []
        if self.dateext:
            self.serial += 1
            target = "acct.csv-2026112%d-%03d" % (self.serial % 10, self.serial)
        else:
            # shift acct.csv.N(.gz) -> N+1, dropping what falls beyond ``rotate``
            for n in range(self.rotate, 0, -1):
                for ext in ("", self.ext):
                    src = self._p("acct.csv.%d%s" % (n, ext))
                    if os.path.exists(src):
                        if n == self.rotate:
                            freed.append(os.stat(src).st_ino)
                            os.unlink(src)
                        else:
                            os.rename(src, self._p("acct.csv.%d%s" % (n + 1, ext)))
            target = "acct.csv.1"
        if self.copytruncate:
            shutil.copyfile(live, self._p(target))
            writer.finish_partial()
            os.truncate(live, 0)
            if writer.append:
                writer.pos = 0
        else:
            os.rename(live, self._p(target))
            # PowerMTA goes on writing into the renamed file until told to reopen
            writer.write(late_writes)
            self._pool(freed)
            freed = []
            writer.open("acct.csv", reuse_inode=True if reuse_inode else None)
        # compression
        if self.compress:
            if self.dateext:
                self.dated.append(target)
                todo = self.dated[-2] if self.delaycompress and len(self.dated) > 1 else (
                    None if self.delaycompress else target)
                if todo and os.path.exists(self._p(todo)):
                    freed.append(os.stat(self._p(todo)).st_ino)
                    _compress(self._p(todo), self.compresscmd)
                    self.dated[self.dated.index(todo)] = todo + self.ext
            else:
                todo = self._p("acct.csv.2" if self.delaycompress else "acct.csv.1")
                if os.path.exists(todo):
                    freed.append(os.stat(todo).st_ino)
                    _compress(todo, self.compresscmd)
        elif self.dateext:
            self.dated.append(target)
        if self.dateext:
            while len(self.dated) > self.rotate:
                old = self._p(self.dated.pop(0))
                if os.path.exists(old):
                    freed.append(os.stat(old).st_ino)
                    os.unlink(old)
        self._pool(freed)

    def _pool(self, freed):
        if self.pool is not None:
            for ino in freed:
                self.pool.free(ino)


class PmtaRotate:
    """PowerMTA's own rotation (``move-interval``/``max-size`` without ``move-to``): a new file
    ``acct-YYYY-MM-DD-NNNN.csv`` with a higher NNNN; ``delete-after`` removes the oldest."""

    def __init__(self, directory, keep=3, pool=None):
        self.directory = directory
        self.keep = keep
        self.pool = pool
        self.serial = 0
        self.names = []

    def name(self):
        self.serial += 1
        name = "acct-2026-11-21-%04d.csv" % self.serial
        self.names.append(name)
        return name

    def __call__(self, writer, reuse_inode=False, late_writes=0):
        while len(self.names) > self.keep:
            old = os.path.join(self.directory, self.names.pop(0))
            if os.path.exists(old):             # (it may have been moved to an archive)
                if self.pool is not None:
                    self.pool.free(os.stat(old).st_ino)
                os.unlink(old)
        writer.open(self.name(), reuse_inode=True if reuse_inode else None)


# ---------------------------------------------------------------------------------------------
# The independent count and the ledger runs
# ---------------------------------------------------------------------------------------------
def _content(path):
    """The (decompressed) bytes of a file; of a compressed file still being written, as much as
    decompresses."""
    with open(path, "rb") as fh:
        magic = fh.read(6)
    for prefix, opener in ((b"\x1f\x8b", gzip.open), (b"BZh", bz2.open),
                           (b"\xfd7zXZ\x00", lzma.open)):
        if magic.startswith(prefix):
            parts = []
            with opener(path, "rb") as fh:
                try:
                    while True:
                        part = fh.read1(65536)
                        if not part:
                            break
                        parts.append(part)
                except EOFError:
                    pass
            return b"".join(parts)
    with open(path, "rb") as fh:
        return fh.read()


class Observer:
    """Which records are on disk, read independently of the ledger (complete lines only).

    ``seen`` gathers what was on disk at each ledger run that persisted its cursor: a run that
    crashes before writing anything is as if it had not happened (what it saw, if deleted before
    the next run, was never counted -- nor countable)."""

    def __init__(self, directories):
        self.directories = directories
        self.seen = set()

    def run(self, runs, crash=None, monkeypatch=None):
        """Look, then run the ledger (see :meth:`LedgerRuns.run`)."""
        on_disk = self.look(keep=False)
        runs.run(crash=crash, monkeypatch=monkeypatch)
        if crash != "before-cursor":
            self.seen |= on_disk
        return on_disk

    def look(self, keep=True):
        on_disk = set()
        for directory in self.directories:
            for name in os.listdir(directory):
                path = os.path.join(directory, name)
                if name.startswith(".") or not os.path.isfile(path):
                    continue
                data = _content(path)
                data = data[:data.rfind(b"\n") + 1]
                on_disk.update(int(m) for m in acctgen.RID_RE.findall(data.decode("latin-1")))
        if keep:
            self.seen |= on_disk
        return on_disk


class Crash(Exception):
    pass


class LedgerRuns:
    """Runs the ledger like the module does (state files, crash-safe save), optionally crashing
    between the cursor write and the ledger write, or before both."""

    def __init__(self, acct_dir, state_dir, extra_dirs=()):
        self.acct_dir = acct_dir
        self.state_dir = state_dir
        self.extra_dirs = list(extra_dirs)
        os.makedirs(state_dir, exist_ok=True)
        self.runs = self.crashes = 0
        self.last_stats = []

    def run(self, crash=None, monkeypatch=None):
        ledger, cursor, _notes = lg.load_state(self.state_dir, repair=True)
        parser = lg.RecordParser(vmta_ips=acctgen.VMTA_IPS)
        # The columns the pmta role configured (record-fields): for copytruncate's headerless
        # files whose header the ledger never saw.
        scanner = lg.AcctScanner(self.acct_dir, patterns=PATTERNS, parser=parser,
                                 today="2026-11-22", keep_days=90, extra_dirs=self.extra_dirs,
                                 default_columns=acctgen.DEFAULT_COLUMNS)
        new_cursor, delta, self.last_stats = scanner.scan(cursor)
        days = lg.merge_delta(ledger["days"], delta)
        self.runs += 1
        if crash is None:
            lg.save_state(self.state_dir, dict(ledger, days=days), new_cursor, delta)
            return
        real = lg.atomic_write_json

        def crashing(path, data, mode=0o640):
            if crash == "before-cursor" or path.endswith(lg.LEDGER_FILE):
                raise Crash(path)
            return real(path, data, mode)

        monkeypatch.setattr(lg, "atomic_write_json", crashing)
        try:
            with pytest.raises(Crash):
                lg.save_state(self.state_dir, dict(ledger, days=days), new_cursor, delta)
        finally:
            monkeypatch.setattr(lg, "atomic_write_json", real)
        self.crashes += 1

    def counts(self):
        ledger, _cursor, _notes = lg.load_state(self.state_dir)
        return acctgen.flatten_compact(lg.compact(ledger["days"]))


def check_exact(runs, observer, writers):
    records = {}
    for w in writers:
        records.update(w.exp.records)
    expected = acctgen.counts_of(records, observer.seen)
    got = runs.counts()
    missing, extra = expected - got, got - expected
    assert not missing and not extra, "missing %s extra %s" % (
        dict(list(missing.items())[:4]), dict(list(extra.items())[:4]))
    return sum(expected[k] for k in expected if k[3] in lg.OUTCOMES[:5])


def _gen(seed):
    return acctgen.AcctGen(seed=seed, step_seconds=1.0, track=True)


def _setup(fsdir):
    acct = os.path.join(fsdir, "acct")
    os.mkdir(acct)
    runs = LedgerRuns(acct, os.path.join(fsdir, "state"))
    return acct, runs, Observer([acct]), InodePool(fsdir)


# ---------------------------------------------------------------------------------------------
# The minimal case
# ---------------------------------------------------------------------------------------------
def test_minimal_case_inode_reuse_after_gzip(fsdir):
    """rotate, gzip (the rotated plain file is deleted), rotate again with the new acct.csv at
    the freed inode: 4 records on disk, the ledger counts those 4 (the first version counted
    the first two again: 6)."""
    acct, runs, obs, _pool = _setup(fsdir)
    w = Writer(acct, _gen(3))
    w.write(2)
    live = os.path.join(acct, "acct.csv")
    first_ino = os.stat(live).st_ino
    obs.look()
    runs.run()
    os.rename(live, live + ".1")                 # rotate
    w.open("acct.csv")
    _compress(live + ".1")                       # gzip; the rotated plain file is deleted
    w.write(2)
    os.rename(live + ".1.gz", live + ".2.gz")    # rotate again ...
    os.rename(live, live + ".1")
    w.open("acct.csv", reuse_inode=first_ino)    # ... the new acct.csv at the freed inode
    if os.stat(live).st_ino != first_ino:
        pytest.skip("the file system did not hand inode %d out again" % first_ino)
    on_disk = obs.look()
    assert len(on_disk) == 4
    runs.run()
    got = runs.counts()
    assert got == acctgen.counts_of(w.exp.records, on_disk)
    # record by record: each of the 4 is counted once (never 6)
    assert sum(n for k, n in got.items() if not k[3].startswith("class:")) == sum(
        len([k for k in w.exp.records[rid] if not k[3].startswith("class:")]) for rid in on_disk)
    runs.run()
    assert runs.counts() == got


# ---------------------------------------------------------------------------------------------
# Each rotation style, in sequences, with inode reuse
# ---------------------------------------------------------------------------------------------
STYLES = {
    "create": dict(compress=False),
    "create+compress": dict(compress=True),
    "create+compress+delaycompress": dict(compress=True, delaycompress=True),
    "create+dateext": dict(compress=False, dateext=True),
    "create+dateext+compress+delaycompress": dict(compress=True, delaycompress=True,
                                                  dateext=True),
    "create+compress+xz": dict(compress=True, compresscmd="xz"),
    "copytruncate": dict(copytruncate=True, compress=False),
    "copytruncate+compress+delaycompress": dict(copytruncate=True, compress=True,
                                                delaycompress=True),
}


@pytest.mark.parametrize("style", sorted(STYLES))
def test_logrotate_style_sequence_is_exact(fsdir, style, monkeypatch):
    acct, runs, obs, pool = _setup(fsdir)
    rng = random.Random(sum(map(ord, style)))
    w = Writer(acct, _gen(len(style)), pool=pool)
    rot = LogRotate(acct, rotate=2, pool=pool, **STYLES[style])
    for step in range(16):
        w.write(rng.randrange(0, 120))
        if step % 4 == 1:
            w.write_partial()            # a record being written while the ledger reads
        if step % 3 != 2:
            rot(w, reuse_inode=not rot.copytruncate, late_writes=rng.randrange(0, 5))
        # crashes between the cursor write and the ledger write, twice in a row too
        crash = {1: "after-cursor", 4: "after-cursor", 5: "after-cursor", 8: "before-cursor",
                 11: "after-cursor"}.get(step)
        obs.run(runs, crash=crash, monkeypatch=monkeypatch)
        if step in (5, 9, 15):
            check_exact(runs, obs, [w])
    w.close()
    obs.look()
    runs.run()
    counted = check_exact(runs, obs, [w])
    assert counted > 500 and runs.crashes == 5
    if not rot.copytruncate and _on_ext4_image(fsdir):
        assert w.reused >= 3             # the new live file did reuse freed inodes
    runs.run()
    check_exact(runs, obs, [w])


def test_copytruncate_with_a_writer_that_does_not_append(fsdir):
    """After the truncation the writer goes on at its old offset: a hole of NULs, no header."""
    acct, runs, obs, _pool = _setup(fsdir)
    w = Writer(acct, _gen(5), append=False)
    rot = LogRotate(acct, rotate=3, copytruncate=True, compress=True, delaycompress=True)
    for _ in range(5):
        w.write(150)
        obs.look()
        runs.run()
        rot(w)
        w.write(60)
        obs.look()
        runs.run()
    st = os.stat(w.path)
    with open(w.path, "rb") as fh:
        assert fh.read(16) == b"\x00" * 16          # the hole is really there
    assert st.st_size > 60 * 300
    check_exact(runs, obs, [w])
    statuses = {os.path.basename(s["path"]): s for s in runs.last_stats}
    assert statuses["acct.csv"]["malformed"] == 0


def test_copytruncate_when_the_ledger_never_saw_the_file_before(fsdir):
    """A headerless truncated file whose inode the cursor does not know: the columns come from
    the only column list known (the rotated copy read in the same run)."""
    acct, runs, obs, _pool = _setup(fsdir)
    w = Writer(acct, _gen(6))
    w.write(80)
    LogRotate(acct, rotate=3, copytruncate=True, compress=False)(w)
    w.write(40)
    obs.look()
    runs.run()
    check_exact(runs, obs, [w])
    assert {s["status"] for s in runs.last_stats} == {"read"}


def test_powermta_own_rotation_with_delete_after_and_inode_reuse(fsdir, monkeypatch):
    acct, runs, obs, pool = _setup(fsdir)
    pmta = PmtaRotate(acct, keep=2, pool=pool)
    w = Writer(acct, _gen(7), name=pmta.name(), pool=pool)
    rng = random.Random(7)
    for step in range(16):
        w.write(rng.randrange(1, 150))
        if rng.random() < 0.7:
            pmta(w, reuse_inode=rng.random() < 0.8)
        obs.run(runs, crash="after-cursor" if step % 5 == 3 else None, monkeypatch=monkeypatch)
    obs.look()
    runs.run()
    check_exact(runs, obs, [w])
    if _on_ext4_image(fsdir):
        assert w.reused >= 3


def test_move_to_archive_directory(fsdir):
    """PowerMTA's move-to (or logrotate's olddir): rotated files leave acct_dir; the module
    reads archive_dirs too and recognises them by content."""
    acct, runs, obs, _pool = _setup(fsdir)
    archive = os.path.join(fsdir, "archive")
    os.mkdir(archive)
    runs.extra_dirs = [archive]
    obs.directories.append(archive)
    pmta = PmtaRotate(acct, keep=10)
    w = Writer(acct, _gen(8), name=pmta.name())
    for _ in range(6):
        w.write(90)
        obs.look()
        runs.run()
        w.write(30)
        old = w.path
        pmta(w)
        shutil.move(old, os.path.join(archive, os.path.basename(old)))
    obs.look()
    runs.run()
    check_exact(runs, obs, [w])


def test_compressed_copy_in_progress_then_complete(fsdir):
    """gzip is still writing FILE.gz while FILE is there: no error, nothing counted twice."""
    acct, runs, obs, _pool = _setup(fsdir)
    w = Writer(acct, _gen(9))
    w.write(3000)
    w.close()
    rotated = os.path.join(acct, "acct.csv.1")
    os.rename(w.path, rotated)
    obs.look()
    runs.run()
    with open(rotated, "rb") as src:
        data = gzip.compress(src.read())
    with open(rotated + ".gz", "wb") as fh:
        fh.write(data[:len(data) // 2])              # half written
    obs.look()
    runs.run()
    st = {os.path.basename(s["path"]): s for s in runs.last_stats}
    assert st["acct.csv.1.gz"]["status"] == "pending"
    with open(rotated + ".gz", "wb") as fh:
        fh.write(data)
    os.unlink(rotated)
    obs.look()
    runs.run()
    check_exact(runs, obs, [w])


# ---------------------------------------------------------------------------------------------
# Random schedules against the independent count (~100,000 records over the seeds)
# ---------------------------------------------------------------------------------------------
def _random_schedule(fsdir, seed, monkeypatch, records_target):
    rng = random.Random(seed)
    acct, runs, obs, pool = _setup(fsdir)
    archive = os.path.join(fsdir, "archive")
    os.mkdir(archive)
    runs.extra_dirs = [archive]
    obs.directories.append(archive)
    gen = _gen(seed)
    writers = []
    pmta = PmtaRotate(acct, keep=rng.randrange(1, 4), pool=pool)
    style = rng.choice(sorted(STYLES))
    rot = LogRotate(acct, rotate=rng.randrange(1, 4), pool=pool, **STYLES[style])
    use_pmta = rng.random() < 0.3
    w = Writer(acct, gen, name=pmta.name() if use_pmta else "acct.csv", pool=pool,
               append=rng.random() < 0.7 or not STYLES[style].get("copytruncate"))
    writers.append(w)
    ops = collections.Counter()
    written = 0
    while written < records_target:
        op = rng.random()
        if op < 0.55:
            n = rng.randrange(0, 900)
            w.write(n)
            written += n
            ops["write"] += 1
        elif op < 0.62:
            w.write_partial(rng.random())
            written += 1
            ops["partial"] += 1
        elif op < 0.82:
            reuse = rng.random() < 0.6
            if use_pmta:
                old = w.path
                pmta(w, reuse_inode=reuse)
                if rng.random() < 0.3 and os.path.exists(old):       # moved to the archive
                    shutil.move(old, os.path.join(archive, os.path.basename(old)))
                    ops["move-to"] += 1
            else:
                rot(w, reuse_inode=reuse and not rot.copytruncate,
                    late_writes=rng.randrange(0, 4))
            ops["rotate"] += 1
        else:
            obs.run(runs, crash=rng.choice([None] * 4 + ["after-cursor", "before-cursor"]),
                    monkeypatch=monkeypatch)
            ops["run"] += 1
    w.close()
    obs.look()
    runs.run()
    counted = check_exact(runs, obs, writers)
    return counted, written, ops, style if not use_pmta else "powermta"


@pytest.mark.slow
@pytest.mark.parametrize("seed", [11, 23, 37, 41])
def test_random_rotation_schedules_count_every_record_once(fsdir, seed, monkeypatch):
    counted, written, ops, style = _random_schedule(fsdir, seed, monkeypatch, 25000)
    assert written >= 25000 and ops["run"] >= 5 and ops["rotate"] >= 5, (style, ops)
    assert counted > 0
