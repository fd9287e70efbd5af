"""docs/DEVELOPMENT.md's map of one IP's cap (inventory -> PowerMTA line -> MailWizz quota) names
files and functions; this keeps it true: every file exists, every name is in one of its row's
files, every ``module.function`` it cites is defined in plugins/module_utils, and every module
it names exists."""
import os
import re

import pytest

from helpers import ROOT

DOC = os.path.join(ROOT, "docs", "DEVELOPMENT.md")


def _rows():
    with open(DOC) as handle:
        text = handle.read()
    section = text.split("## Map: one IP's daily cap", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if re.match(r"^\| \d+ \|", line)]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


ROWS = _rows()


def _ticked(cell):
    return re.findall(r"`([^`]+)`", cell)


def test_the_map_has_every_hop_in_order():
    assert [int(r[0]) for r in ROWS] == list(range(1, len(ROWS) + 1)) and len(ROWS) >= 20
    files = " ".join(r[1] for r in ROWS)
    for hop in ("plugins/module_utils/fleet.py", "plugins/module_utils/capacity.py", "plugins/module_utils/warmup.py",
                "roles/pmta_config/templates/config.j2", "plugins/module_utils/delivery_server.py"):
        assert hop in files


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_every_file_and_name_of_a_hop_exists(row):
    paths = _ticked(row[1])
    assert paths, row
    texts = []
    for path in paths:
        full = os.path.join(ROOT, path)
        assert os.path.isfile(full), "hop %s: %s does not exist" % (row[0], path)
        with open(full) as handle:
            texts.append(handle.read())
    for name in _ticked(row[2]):
        for part in re.split(r"[.: ]+", name):
            assert any(re.search(r"\b%s\b" % re.escape(part), t) for t in texts), (
                "hop %s: %s is not in %s" % (row[0], part, ", ".join(paths)))
    for name in _ticked(row[3]):
        if name.endswith(".py"):
            assert os.path.isfile(os.path.join(ROOT, "plugins", "module_utils", name)), "hop %s: %s" % (row[0], name)
            continue
        m = re.match(r"^(\w+)\.(\w+)$", name)
        if m and os.path.isfile(os.path.join(ROOT, "plugins", "module_utils", m.group(1) + ".py")):
            with open(os.path.join(ROOT, "plugins", "module_utils", m.group(1) + ".py")) as handle:
                assert re.search(r"^def %s\(" % m.group(2), handle.read(), re.M), "hop %s: %s" % (row[0], name)
    for module in re.findall(r"module `(\w+)`", row[3]):
        assert os.path.isfile(os.path.join(ROOT, "plugins", "modules", module + ".py")), "hop %s: %s" % (row[0], module)


def test_the_line_the_map_quotes_is_what_the_template_writes():
    """Hop 15/16: a daily cap of 50 is the PowerMTA line max-smtp-msg-rate 50/d."""
    from ansible_collections.mailfleet.fleet.plugins.module_utils import grammar
    assert grammar.rate(50) == "50/d" and grammar.rate(0) == "0"
    with open(os.path.join(ROOT, "roles", "pmta_config", "templates", "config.j2")) as handle:
        template = handle.read()
    assert "max-smtp-msg-rate {{ v.rate | pmta_rate }}" in template
    assert "max-msg-rate {{ p.rate | pmta_rate }}" in template
