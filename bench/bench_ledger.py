"""Benchmark of the accounting ledger (module_utils/ledger.py).

Rows per second of a first read of a generated accounting file (1 million rows; 100,000 with
``quick=True``), as a ratio to a bare ``csv.reader`` loop over the same file measured in the same
run (target: ratio <= 2), and the time of a second run over the unchanged files (target: well under
a second). Runnable alone: ``python bench/bench_ledger.py [--quick]``.
"""
import csv
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for extra in (os.path.join(ROOT, "collections"), os.path.join(ROOT, "tests", "unit")):
    if extra not in sys.path:
        sys.path.insert(0, extra)

import acctgen  # noqa: E402  (tests/unit/acctgen.py: the accounting file generator)
from ansible_collections.mailfleet.fleet.plugins.module_utils import ledger  # noqa: E402

BENCH = "ledger"


def _best_of(repeat, func):
    best = None
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        elapsed = time.perf_counter() - start
        best = elapsed if best is None else min(best, elapsed)
    return best


def run(quick=False):
    rows = 100000 if quick else 1000000
    repeat = 1 if quick else 2
    workdir = tempfile.mkdtemp(prefix="bench-ledger-")
    try:
        gen = acctgen.AcctGen(seed=7, step_seconds=0.25)
        path = os.path.join(workdir, "acct.csv")
        gen.write(path, rows)
        size_mb = os.path.getsize(path) / 1e6

        def bare():
            with open(path, newline="", encoding="utf-8") as fh:
                for _row in csv.reader(fh):
                    pass

        state = {}

        def first():
            scanner = ledger.AcctScanner(
                workdir, parser=ledger.RecordParser(vmta_ips=acctgen.VMTA_IPS))
            state["cursor"], _delta, state["stats"] = scanner.scan({})

        def second():
            scanner = ledger.AcctScanner(
                workdir, parser=ledger.RecordParser(vmta_ips=acctgen.VMTA_IPS))
            _cursor, delta, _stats = scanner.scan(state["cursor"])
            assert not delta

        t_bare = _best_of(repeat, bare)
        t_first = _best_of(repeat, first)
        t_second = _best_of(3, second)
        counted = sum(s["counted"] for s in state["stats"])
        return [
            {"benchmark": BENCH, "case": "csv.reader baseline, %d rows (%.0f MB)" % (rows, size_mb),
             "metric": "rows/s", "value": round(rows / t_bare), "ratio": 1.0},
            {"benchmark": BENCH, "case": "first read, %d rows (%d counted)" % (rows, counted),
             "metric": "rows/s", "value": round(rows / t_first),
             "ratio": round(t_first / t_bare, 2)},
            {"benchmark": BENCH, "case": "second run, unchanged files", "metric": "seconds",
             "value": round(t_second, 4), "ratio": None},
        ]
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
