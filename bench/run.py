#!/usr/bin/env python3
"""make bench: run every bench/bench_*.py in one process and print one table of ratios.

Each benchmark module has ``run(quick=False) -> [{"benchmark", "case", "metric", "value",
"ratio"}]``; ratios compare numbers measured side by side in this same run, so they mean the
same on a fast or a slow machine. ``--quick`` (or BENCH_QUICK=1) uses smaller inputs;
``--only NAME`` runs one module.
"""
import argparse
import importlib
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for path in (os.path.join(ROOT, "collections"), HERE, os.path.join(ROOT, "tests")):
    if path not in sys.path:
        sys.path.insert(0, path)


def fmt(value):
    if isinstance(value, float):
        return "%.4g" % value
    return str(value)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", default=os.environ.get("BENCH_QUICK") == "1")
    parser.add_argument("--only", action="append", default=[])
    args = parser.parse_args()
    names = sorted(f[:-3] for f in os.listdir(HERE) if f.startswith("bench_") and f.endswith(".py"))
    if args.only:
        names = [n for n in names if n in args.only or n[len("bench_"):] in args.only]
    rows, failures = [], []
    for name in names:
        started = time.time()
        print("== %s ..." % name, flush=True)
        try:
            module = importlib.import_module(name)
            rows.extend(module.run(quick=args.quick))
        except Exception:  # a broken benchmark must not hide the others
            failures.append(name)
            traceback.print_exc()
        print("   done in %.1f s" % (time.time() - started), flush=True)
    widths = [max(len(fmt(r.get(k, ""))) for r in rows + [dict(benchmark="benchmark", case="case", metric="metric",
                                                                value="value", ratio="ratio")])
              for k in ("benchmark", "case", "metric", "value", "ratio")]
    line = "  ".join("%%-%ds" % w for w in widths)
    print()
    print(line % ("benchmark", "case", "metric", "value", "ratio"))
    print(line % tuple("-" * w for w in widths))
    for row in rows:
        print(line % tuple(fmt(row.get(k, "")) for k in ("benchmark", "case", "metric", "value", "ratio")))
    if failures:
        print("\nfailed: %s" % ", ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
