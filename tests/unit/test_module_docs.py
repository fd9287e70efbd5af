"""Every module documents itself completely, parses as Ansible reads it, and supports check mode."""
import json
import os
import re
import subprocess

import pytest
import yaml

from helpers import ROOT, VENV_BIN, ansible_env

MODULES = sorted(f[:-3] for f in os.listdir(os.path.join(ROOT, "plugins", "modules")) if f.endswith(".py"))
ACTION_ONLY = {f[:-3] for f in os.listdir(os.path.join(ROOT, "plugins", "action")) if f.endswith(".py")}


def _section(source, name):
    match = re.search(r'^%s = r?"""(.*?)"""' % name, source, re.S | re.M)
    assert match, "%s missing" % name
    return match.group(1)


@pytest.mark.parametrize("name", MODULES)
def test_module_is_documented_and_supports_check_mode(name):
    with open(os.path.join(ROOT, "plugins", "modules", name + ".py")) as handle:
        source = handle.read()
    doc = yaml.safe_load(_section(source, "DOCUMENTATION"))
    assert doc["module"] == name and doc["short_description"] and doc["description"]
    for option, spec in (doc.get("options") or {}).items():
        assert spec.get("description"), "%s: option %s has no description" % (name, option)
    assert yaml.safe_load(_section(source, "EXAMPLES")), "%s: EXAMPLES empty" % name
    assert yaml.safe_load(_section(source, "RETURN")) is not None
    if name not in ACTION_ONLY or "AnsibleModule(" in source:
        assert "supports_check_mode=True" in source, name


def test_ansible_doc_reads_every_module():
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible-doc"), "--json"] + ["mailfleet.fleet." + m for m in MODULES],
                          env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert proc.returncode == 0 and "ERROR" not in proc.stderr, proc.stderr
    docs = json.loads(proc.stdout)
    assert sorted(docs) == sorted("mailfleet.fleet." + m for m in MODULES)
