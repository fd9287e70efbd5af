"""Shared pytest setup: make the mailfleet.fleet collection and tests/helpers.py importable."""
import os
import sys

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)
for path in (os.path.join(ROOT, "collections"), TESTS):
    if path not in sys.path:
        sys.path.insert(0, path)
