# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection's license (GPL-3.0-or-later) is declared once in galaxy.yml, shipped as LICENSE,
and stated in the header of every Python file of the collection."""
import os

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTION = os.path.join(ROOT, "collections", "ansible_collections", "mailfleet", "fleet")
SPDX = "# SPDX-License-Identifier: GPL-3.0-or-later"
SHORT = "# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)"


def python_files():
    found = []
    for top in ("plugins", "filter_plugins", os.path.join("tests", "sanity")):
        for base, dirs, files in os.walk(os.path.join(ROOT, top)):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            found += [os.path.relpath(os.path.join(base, f), ROOT) for f in files if f.endswith(".py")]
    return sorted(found)


def test_license_text_is_shipped_with_the_repository_and_the_collection():
    with open(os.path.join(ROOT, "LICENSE")) as handle:
        text = handle.read()
    assert text.split()[:6] == ["GNU", "GENERAL", "PUBLIC", "LICENSE", "Version", "3,"]
    assert "END OF TERMS AND CONDITIONS" in text and len(text) > 30000
    assert os.path.samefile(os.path.join(COLLECTION, "LICENSE"), os.path.join(ROOT, "LICENSE"))


def test_galaxy_declares_the_license_once():
    with open(os.path.join(COLLECTION, "galaxy.yml")) as handle:
        galaxy = yaml.safe_load(handle)
    assert galaxy["license"] == ["GPL-3.0-or-later"] and "license_file" not in galaxy


def test_there_are_files_to_check():
    files = python_files()
    assert len([f for f in files if f.startswith("plugins" + os.sep + "modules")]) >= 10, files


@pytest.mark.parametrize("path", python_files())
def test_every_python_file_states_the_license_in_its_header(path):
    with open(os.path.join(ROOT, path)) as handle:
        head = [line.rstrip("\n") for line in handle][:6]
    assert SPDX in head and SHORT in head, "%s: the header needs\n%s\n%s" % (path, SHORT, SPDX)
