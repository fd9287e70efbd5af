"""The AWX / Automation Platform execution environment definition: ansible-builder accepts it, and
it carries every third-party Python package the toolkit's plugins import, at requirements.txt's pins."""
import ast
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from helpers import ROOT

EE = os.path.join(ROOT, "execution-environment.yml")
BUILDER = shutil.which("ansible-builder", path=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])

# import name -> distribution name (third-party packages the plugins may import)
IMPORTS = {"dns": "dnspython", "requests": "requests", "pymysql": "PyMySQL", "checkdmarc": "checkdmarc",
           "cryptography": "cryptography", "jinja2": "jinja2", "yaml": "pyyaml", "urllib3": "urllib3"}


def _pins(lines):
    out = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        m = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)$", line)
        if m:
            out[m.group(1).lower()] = m.group(2)
    return out


def _ee():
    with open(EE) as fh:
        return yaml.safe_load(fh)


def test_ee_python_deps_match_requirements_and_imports():
    ee = _ee()
    assert ee["version"] == 3
    with open(os.path.join(ROOT, "requirements.txt")) as fh:
        req = _pins(fh.read().splitlines())
    ee_py = _pins(ee["dependencies"]["python"])
    for name, version in ee_py.items():
        assert req.get(name) == version, "%s==%s differs from requirements.txt (%s)" % (name, version, req.get(name))
    core = ee["dependencies"]["ansible_core"]["package_pip"]
    assert core == "ansible-core==%s" % req["ansible-core"]
    # every third-party import of the plugins is in the image
    stdlib = set(sys.stdlib_module_names) if hasattr(sys, "stdlib_module_names") else set()
    imported = set()
    for base in ("plugins",):  # filters included (plugins/filter; filter_plugins/ links to it)
        for dirpath, _dirs, files in os.walk(os.path.join(ROOT, base)):
            for name in files:
                if name.endswith(".py"):
                    with open(os.path.join(dirpath, name)) as fh:
                        tree = ast.parse(fh.read(), filename=name)
                    for node in ast.walk(tree):  # real import statements only, not docstring text
                        if isinstance(node, ast.Import):
                            imported.update(alias.name.split(".")[0] for alias in node.names)
                        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                            imported.add(node.module.split(".")[0])
    third_party = imported - stdlib - {"ansible", "ansible_collections", "__future__", "urllib2"}
    unknown = third_party - set(IMPORTS)
    assert not unknown, "plugins import %s: add them to IMPORTS and to execution-environment.yml" % unknown
    for mod in third_party:
        assert IMPORTS[mod].lower() in ee_py, "%s (import %s) missing from the EE" % (IMPORTS[mod], mod)


@pytest.mark.skipif(BUILDER is None, reason="ansible-builder is not installed (pip install ansible-builder==3.2.0)")
def test_ansible_builder_creates_the_build_context(tmp_path):
    ctx = tmp_path / "context"
    res = subprocess.run([BUILDER, "create", "--file", EE, "--context", str(ctx), "--output-filename",
                          "Containerfile"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True, timeout=120, cwd=ROOT)
    assert res.returncode == 0, res.stdout
    containerfile = (ctx / "Containerfile").read_text()
    ee = _ee()
    assert 'ARG EE_BASE_IMAGE="%s"' % ee["images"]["base_image"]["name"] in containerfile
    assert "ansible-core==" in containerfile and "ansible-runner==" in containerfile
    assert "install-from-bindep" in containerfile and "LABEL org.opencontainers.image.title" in containerfile
    reqs = (ctx / "_build" / "requirements.txt").read_text().split()
    assert sorted(reqs) == sorted(ee["dependencies"]["python"])
    bindep = (ctx / "_build" / "bindep.txt").read_text()
    assert "openssh-clients [platform:rpm]" in bindep and "util-linux" in bindep
    assert not (ctx / "_build" / "requirements.yml").exists()  # no Galaxy collections
