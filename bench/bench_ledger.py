"""Benchmark of the accounting ledger (module_utils/ledger.py).

Rows per second of a first read of a generated accounting file (1 million rows; 100,000 with
``quick=True``) -- realistic replies, about one record in five classified by its reply, most replies
unique (Gmail and Microsoft put a message token in each) -- as a ratio to a bare ``csv.reader``
loop over the same file measured in the same run, and as a ratio to the previous ledger
(``plugins/module_utils/ledger.py`` at git revision ``BENCH_LEDGER_REF``, default
:data:`REFERENCE_REV`, the version before file identity by content and reply classes; target:
at most 1.2). Also the peak memory of both on the quick input (tracemalloc) and the time of a
second run over the unchanged files (target: well under a second). Times are CPU seconds of this
process (``time.process_time``), best of interleaved runs: on a shared machine the wall clock
measures the neighbours' load as much as the code.
Runnable alone: ``python bench/bench_ledger.py [--quick]``.
"""
import csv
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for extra in (os.path.join(ROOT, "collections"), os.path.join(ROOT, "tests", "unit")):
    if extra not in sys.path:
        sys.path.insert(0, extra)

import acctgen  # noqa: E402  (tests/unit/acctgen.py: the accounting file generator)
from ansible_collections.mailfleet.fleet.plugins.module_utils import ledger  # noqa: E402

BENCH = "ledger"
REFERENCE_REV = "6f70323"       # main before the content-identity ledger
LEDGER_PATH = "plugins/module_utils/ledger.py"


def _best_of(repeat, func):
    best = None
    for _ in range(repeat):
        start = time.process_time()
        func()
        elapsed = time.process_time() - start
        best = elapsed if best is None else min(best, elapsed)
    return best


def reference_module(workdir):
    """The ledger module at the reference revision, or None (no git, unknown revision)."""
    rev = os.environ.get("BENCH_LEDGER_REF", REFERENCE_REV)
    try:
        source = subprocess.run(["git", "-C", ROOT, "show", "%s:%s" % (rev, LEDGER_PATH)],
                                check=True, capture_output=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None, rev
    path = os.path.join(workdir, "ledger_reference.py")
    with open(path, "wb") as fh:
        fh.write(source)
    spec = importlib.util.spec_from_file_location("ledger_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, rev


def _scan(module, directory, cursor):
    scanner = module.AcctScanner(directory, patterns=["acct.csv"],
                                 parser=module.RecordParser(vmta_ips=acctgen.VMTA_IPS))
    return scanner.scan(cursor)


def _peak_memory(func):
    tracemalloc.start()
    try:
        func()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def run(quick=False):
    rows = 100000 if quick else 1000000
    repeat = 2 if quick else 3
    workdir = tempfile.mkdtemp(prefix="bench-ledger-")
    try:
        data_dir = os.path.join(workdir, "acct")
        os.mkdir(data_dir)
        gen = acctgen.AcctGen(seed=7, step_seconds=0.25)
        path = os.path.join(data_dir, "acct.csv")
        gen.write(path, rows)
        size_mb = os.path.getsize(path) / 1e6
        small_dir = os.path.join(workdir, "small")
        os.mkdir(small_dir)
        acctgen.AcctGen(seed=8, step_seconds=0.25).write(os.path.join(small_dir, "acct.csv"),
                                                         100000)
        reference, rev = reference_module(workdir)

        def bare():
            with open(path, newline="", encoding="utf-8") as fh:
                for _row in csv.reader(fh):
                    pass

        state = {}

        def first():
            state["cursor"], _delta, state["stats"] = _scan(ledger, data_dir, {})

        def second():
            _cursor, delta, _stats = _scan(ledger, data_dir, state["cursor"])
            assert not delta

        # Interleaved, best of each: the machine's load changes while we measure.
        t_bare = t_first = t_ref = None
        for _ in range(repeat):
            t_bare = min(x for x in (t_bare, _best_of(1, bare)) if x is not None)
            t_first = min(x for x in (t_first, _best_of(1, first)) if x is not None)
            if reference is not None:
                t = _best_of(1, lambda: _scan(reference, data_dir, {}))
                t_ref = t if t_ref is None else min(t_ref, t)
        t_second = _best_of(3, second)
        counted = sum(s["counted"] for s in state["stats"])
        out = [
            {"benchmark": BENCH, "case": "csv.reader baseline, %d rows (%.0f MB)" % (rows, size_mb),
             "metric": "rows/s", "value": round(rows / t_bare), "ratio": 1.0},  # CPU s
            {"benchmark": BENCH, "case": "first read, %d rows (%d counted)" % (rows, counted),
             "metric": "rows/s", "value": round(rows / t_first),
             "ratio": round(t_first / t_bare, 2)},
        ]
        if reference is not None:
            out += [
                {"benchmark": BENCH, "case": "previous ledger (%s), same file" % rev,
                 "metric": "rows/s", "value": round(rows / t_ref),
                 "ratio": round(t_ref / t_bare, 2)},
                {"benchmark": BENCH, "case": "first read time / previous ledger's (target <= 1.2)",
                 "metric": "ratio", "value": round(t_first / t_ref, 3),
                 "ratio": round(t_first / t_ref, 3)},
            ]
            mem_new = _peak_memory(lambda: _scan(ledger, small_dir, {}))
            mem_ref = _peak_memory(lambda: _scan(reference, small_dir, {}))
            out.append({"benchmark": BENCH, "case": "peak memory, 100000 rows (previous: %.1f MB)"
                        % (mem_ref / 1e6), "metric": "MB", "value": round(mem_new / 1e6, 1),
                        "ratio": round(mem_new / mem_ref, 2)})
        out.append({"benchmark": BENCH, "case": "second run, unchanged files", "metric": "seconds",
                    "value": round(t_second, 4), "ratio": None})
        return out
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    rows = run(quick="--quick" in argv)
    width = max(len(r["case"]) for r in rows)
    print("%-8s %-*s %-8s %14s %6s" % ("bench", width, "case", "metric", "value", "ratio"))
    for r in rows:
        ratio = "" if r["ratio"] is None else "%.2f" % r["ratio"]
        print("%-8s %-*s %-8s %14s %6s" % (r["benchmark"], width, r["case"], r["metric"],
                                           r["value"], ratio))


if __name__ == "__main__":
    main()
