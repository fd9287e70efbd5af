"""The test tree itself: pytest imports test modules by basename (rootdir-relative
"prepend" import mode), so two test files with one basename in different folders
make collection fail on a clean clone. Catch it here with a message that names both."""
from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_test_module_basenames_are_unique():
    seen = defaultdict(list)
    for path in TESTS.rglob("*.py"):
        if path.name.startswith("test_") or path.name == "conftest.py":
            if ".venv" in path.parts or "__pycache__" in path.parts:
                continue
            seen[path.name].append(str(path.relative_to(TESTS)))
    clashes = {name: paths for name, paths in seen.items()
               if len(paths) > 1 and name != "conftest.py"}
    assert not clashes, f"test modules sharing a basename: {clashes}"
