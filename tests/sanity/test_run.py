# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""tests/sanity/run.py finds what each of Ansible's checkers finds, and nothing on clean code.

`make sanity` runs it over mailfleet.fleet; here it runs over two small collections laid out like
ours (plugins/ is a symlink): one clean, one with one defect of each class per checker. A runner
that ran no checker, read no output or lost the symlinked files would pass the first and fail
the second.
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
RUN = os.path.join(HERE, "run.py")
ROOT = os.path.dirname(os.path.dirname(HERE))

HEADER = """\
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""

MODULE = '''\
#!/usr/bin/python
# -*- coding: utf-8 -*-
{header}from __future__ import annotations

DOCUMENTATION = r"""
---
module: {name}
short_description: Greet someone
description:
  - Returns a greeting; changes nothing.
version_added: "0.1.0"
author: {author}
options:
  name:
    description: Who to greet.
    type: str
    required: true
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
"""

EXAMPLES = r"""
- name: Greet the world
  {namespace}.{collection}.{name}:
    name: world
"""

RETURN = r"""
greeting:
  description: The greeting.
  type: str
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.{namespace}.{collection}.plugins.module_utils.greet import greeting


def main():
    module = AnsibleModule(argument_spec=dict(name=dict(type="str", required=True)), supports_check_mode=True)
    module.exit_json(changed=False, greeting=greeting(module.params["name"]))


if __name__ == "__main__":
    main()
'''

GOOD = {
    "plugins/module_utils/greet.py": HEADER + '"""Greetings (standard library only)."""\n\n\n'
                                              'def greeting(name):\n    return "hello %s" % name\n',
    "plugins/plugin_utils/render.py": HEADER + '"""Controller side: Jinja2 is there."""\n'
                                               'import jinja2\n\n\ndef render(text, **values):\n'
                                               '    return jinja2.Environment(autoescape=True).from_string(text).render(**values)\n',
}

# path -> (check, code) the runner must report for it
BAD = {
    "plugins/modules/unlicensed.py": ("validate-modules", "missing-gplv3-license"),
    "plugins/modules/badauthor.py": ("validate-modules", "invalid-documentation"),
    "plugins/module_utils/thirdparty.py": ("import", "module-traceback"),
    "plugins/module_utils/printer.py": ("pylint", "ansible-bad-function"),
    "plugins/module_utils/style.py": ("pep8", "E225"),
    "plugins/module_utils/modern.py": ("compile", "python3.8-grammar"),
    "plugins/plugin_utils/broken.py": ("compile", "python%d.%d" % sys.version_info[:2]),
    "plugins/action/unguarded.py": ("import", "plugin-traceback"),
    "plugins/lookup/undocumented.py": ("validate-modules", "missing-documentation"),
}


def module(name, namespace, collection, header=HEADER, author="mailfleet maintainers (@mailfleet)"):
    return MODULE.format(name=name, namespace=namespace, collection=collection, header=header, author=author)


def bad_files(namespace, collection):
    files = dict(GOOD)
    files.update({
        "plugins/modules/unlicensed.py": module("unlicensed", namespace, collection, header=""),
        "plugins/modules/badauthor.py": module("badauthor", namespace, collection, author="somebody"),
        # modules and module_utils run on managed hosts: standard library and module_utils only
        "plugins/module_utils/thirdparty.py": HEADER + "import requests\n\nSESSION = requests.Session\n",
        "plugins/module_utils/printer.py": HEADER + "\n\ndef say(text):\n    print(text)\n",
        "plugins/module_utils/style.py": HEADER + "\nVALUE=1\n",
        "plugins/module_utils/modern.py": HEADER + textwrap.dedent("""
            def kind(value):
                match value:
                    case 1:
                        return "one"
                return "other"
            """),
        "plugins/plugin_utils/broken.py": HEADER + "\n\ndef broken(:\n    pass\n",
        # a controller plugin's optional dependency must be guarded (HAS_X), not imported bare
        "plugins/action/unguarded.py": HEADER + textwrap.dedent("""
            import dns.resolver
            from ansible.plugins.action import ActionBase


            class ActionModule(ActionBase):
                def run(self, tmp=None, task_vars=None):
                    return {"resolver": str(dns.resolver)}
            """),
        "plugins/lookup/undocumented.py": HEADER + textwrap.dedent("""
            from ansible.plugins.lookup import LookupBase


            class LookupModule(LookupBase):
                def run(self, terms, variables=None, **kwargs):
                    return list(terms)
            """),
    })
    return files


def make_collection(base, namespace, collection, files):
    """base/ansible_collections/ns/name with plugins/ a symlink to base/src/plugins, like ours."""
    src = os.path.join(str(base), "src")
    for rel, text in files.items():
        path = os.path.join(src, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            handle.write(text)
    directory = os.path.join(str(base), "ansible_collections", namespace, collection)
    os.makedirs(os.path.join(directory, "meta"))
    with open(os.path.join(directory, "galaxy.yml"), "w") as handle:
        handle.write("namespace: %s\nname: %s\nversion: 0.1.0\nreadme: README.md\nauthors: [tests]\n"
                     "license: [GPL-3.0-or-later]\n" % (namespace, collection))
    with open(os.path.join(directory, "meta", "runtime.yml"), "w") as handle:
        handle.write('---\nrequires_ansible: ">=2.16"\n')
    os.symlink(os.path.relpath(os.path.join(src, "plugins"), directory), os.path.join(directory, "plugins"))
    return directory


def run(directory, *extra):
    proc = subprocess.run([sys.executable, RUN, "--json", "--collection", directory] + list(extra),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=900,
                          check=False)
    return proc.returncode, json.loads(proc.stdout) if proc.stdout.strip() else None, proc.stderr


def findings(report):
    """{(path, check, code)} of every problem (`path:line:col: check: code message`)."""
    out = set()
    for check, problems in report["results"].items():
        for text in problems:
            path, _line, _col, rest = text.split(":", 3)
            found_check, _sep, message = rest.strip().partition(": ")
            assert found_check == check, text
            out.add((path, check, message.split()[0]))
    return out


@pytest.mark.slow
def test_a_clean_collection_passes_every_check(tmp_path):
    files = dict(GOOD)
    files["plugins/modules/hello.py"] = module("hello", "fix", "good")
    status, report, stderr = run(make_collection(tmp_path, "fix", "good", files))
    assert report is not None, stderr
    assert report["broken"] == {} and sorted(report["results"]) == sorted(
        ["compile", "pep8", "pylint", "validate-modules", "import"]), report
    assert report["files"] == 3
    assert all(problems == [] for problems in report["results"].values()), report
    assert status == 0


@pytest.mark.slow
def test_each_defect_is_reported_by_its_checker_and_fails_the_run(tmp_path):
    status, report, stderr = run(make_collection(tmp_path, "fix", "bad", bad_files("fix", "bad")))
    assert report is not None and report["broken"] == {}, (report, stderr)
    found = findings(report)
    missing = {(path, check, code) for path, (check, code) in BAD.items()} - found
    assert not missing, "not reported: %s\nreported: %s" % (sorted(missing), sorted(found))
    # the clean files stay clean next to the bad ones
    assert not [f for f in found if f[0] in GOOD], sorted(found)
    assert status == 1


def test_a_checker_that_cannot_run_fails_the_run(tmp_path):
    # not at ansible_collections/<namespace>/<name>: no checker can resolve its imports
    directory = make_collection(tmp_path, "fix", "good", dict(GOOD))
    moved = os.path.join(str(tmp_path), "elsewhere")
    os.rename(directory, moved)
    status, report, stderr = run(moved, "--check", "pep8")
    assert status == 2 and report is None and "is not at ansible_collections/fix/good" in stderr


def test_the_checkers_dependencies_are_pinned_in_requirements():
    """ansible-test's own pins for the checkers it runs (its _data/requirements/sanity.*.txt) are in
    requirements.txt, so `make venv` installs them and nothing is fetched when the checks run."""
    import ansible_test
    data = os.path.join(os.path.dirname(ansible_test.__file__), "_data", "requirements")
    with open(os.path.join(ROOT, "requirements.txt")) as handle:
        pinned = dict(line.split("#")[0].strip().lower().split("==") for line in handle
                      if "==" in line.split("#")[0])
    # PyYAML: the project's own pin (a newer patch release) serves ansible-test's checkers too
    shared = {"pyyaml"}
    for name in ("sanity.validate-modules.txt", "sanity.pep8.txt", "sanity.pylint.txt", "sanity.import.txt",
                 "sanity.import.plugin.txt"):
        with open(os.path.join(data, name)) as handle:
            for line in handle:
                line = line.split("#")[0].strip()
                if not line:
                    continue
                package, version = line.lower().split("==")
                assert package in pinned, "%s (%s) is not pinned in requirements.txt" % (package, name)
                assert pinned[package] == version or package in shared, (package, pinned[package], version)
