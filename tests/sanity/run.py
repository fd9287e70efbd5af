#!/usr/bin/env python3
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible's sanity checks that run offline, over the collection mailfleet.fleet.

`ansible-test sanity` cannot run here: it does not see the plugins (the collection's plugins/ is a
symlink to the repository's plugins/) and it bootstraps its checkers' virtual environments with pip
(a download). This script runs the same checkers ansible-test runs, from ansible-test's own
installed copy (`ansible_test/_util/...`), with ansible-test's own settings, on every Python file
under the collection's plugins/:

- compile: ansible-test's compile.py with this interpreter, plus a grammar check of modules and
  module_utils at the oldest Python ansible-test supports on managed hosts (no such interpreter here).
- pep8: pycodestyle with ansible-test's ignore list (pep8/current-ignore.txt), lines up to 160.
- pylint: ansible-test's collection.cfg and its pylint plugins (unwanted imports and calls,
  deprecations, string formats); modules and module_utils judged for the managed-host Python.
- validate-modules: ansible-test's validate.py (with --arg-spec) per documentable plugin type.
- import: ansible-test's importer.py with nothing on sys.path but the standard library, ansible and
  the few packages ansible-test's own import environments hold (PyYAML for modules; Jinja2,
  MarkupSafe and PyYAML for other plugins), so a module or module_utils importing anything but the
  standard library and module_utils fails, and a plugin's optional dependencies must be guarded.

The checkers' own dependencies are pinned in requirements.txt (from ansible-test's
_data/requirements/sanity.*.txt); nothing is downloaded. Exit status: 0 when no checker reports
an error, 1 when one does (each error printed as `path:line:column: check: code message`),
2 when a checker cannot run (missing dependency, crash): never a silent pass.
"""

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTION = os.path.join(ROOT, "collections", "ansible_collections", "mailfleet", "fleet")
CHECKS = ("compile", "pep8", "pylint", "validate-modules", "import")

# ansible-test's names (its _internal is not importable as a library; these mirror
# _internal/commands/sanity/__init__.py and provider/layout/__init__.py of the installed version).
DOCUMENTABLE_PLUGINS = ("become", "cache", "callback", "cliconf", "connection", "filter", "httpapi", "inventory",
                        "lookup", "netconf", "modules", "shell", "strategy", "test", "vars")
MULTI_FILE_PLUGINS = ("filter", "test")
# Error codes ansible-test only reports with --enable-optional-errors.
OPTIONAL_CODES = {"validate-modules": {"deprecated-date"}, "pylint": {"ansible-deprecated-date", "too-complex"}}
# What ansible-test's import environments hold besides the standard library and ansible:
# {distribution: its top-level packages} (_data/requirements/sanity.import.txt, sanity.import.plugin.txt).
IMPORT_PACKAGES = {
    "module": {"pyyaml": ("yaml", "_yaml")},
    "plugin": {"pyyaml": ("yaml", "_yaml"), "jinja2": ("jinja2",), "markupsafe": ("markupsafe",)},
}


class CheckerError(Exception):
    """A checker could not run or answered something unreadable."""


class Problem:
    """One finding: where, which check, which code, what."""

    def __init__(self, check, path, line, column, code, message):
        self.check, self.path, self.line, self.column = check, path, int(line or 0), int(column or 0)
        self.code, self.message = code, " ".join(str(message).split())

    def key(self):
        return (self.path, self.line, self.column, self.check, self.code, self.message)

    def __str__(self):
        return "%s:%d:%d: %s: %s %s" % (self.path, self.line, self.column, self.check, self.code, self.message)


def ansible_test_root():
    try:
        import ansible_test
    except ImportError as exc:
        raise CheckerError("ansible-test is not installed (ansible-core provides it): %s; run `make venv`" % exc)
    return os.path.dirname(os.path.abspath(ansible_test.__file__))


def ansible_test_constants():
    """REMOTE_ONLY_PYTHON_VERSIONS and CONTROLLER_PYTHON_VERSIONS of the installed ansible-test."""
    path = os.path.join(ansible_test_root(), "_util", "target", "common", "constants.py")
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), path)
    values = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            values[node.targets[0].id] = ast.literal_eval(node.value)
    try:
        return tuple(values["REMOTE_ONLY_PYTHON_VERSIONS"]), tuple(values["CONTROLLER_PYTHON_VERSIONS"])
    except KeyError as exc:
        raise CheckerError("%s does not define %s" % (path, exc))


def read_lines_without_comments(path):
    with open(path, encoding="utf-8") as handle:
        return [line.strip() for line in handle if line.strip() and not line.strip().startswith("#")]


class Collection:
    """The collection under test: its directory, name, version and plugin files."""

    def __init__(self, directory):
        self.directory = os.path.abspath(directory)
        galaxy_path = os.path.join(self.directory, "galaxy.yml")
        try:
            with open(galaxy_path, encoding="utf-8") as handle:
                galaxy = yaml.safe_load(handle)
        except (OSError, yaml.YAMLError) as exc:
            raise CheckerError("cannot read %s: %s" % (galaxy_path, exc))
        self.namespace, self.name = galaxy.get("namespace"), galaxy.get("name")
        self.version = str(galaxy.get("version") or "")
        parts = self.directory.split(os.sep)
        if parts[-3:] != ["ansible_collections", str(self.namespace), str(self.name)]:
            raise CheckerError("%s is not at ansible_collections/%s/%s (galaxy.yml)" % (self.directory, self.namespace, self.name))
        self.root = os.sep.join(parts[:-3])  # the directory holding ansible_collections/
        self.relative = os.sep.join(parts[-3:])
        self.full_name = "%s.%s" % (self.namespace, self.name)
        self.paths = self._python_files()
        if not self.paths:
            raise CheckerError("no Python files under %s" % os.path.join(self.directory, "plugins"))

    def _python_files(self):
        found = []
        top = os.path.join(self.directory, "plugins")
        for base, dirs, files in os.walk(top, followlinks=True):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in files:
                if name.endswith(".py"):
                    found.append(os.path.relpath(os.path.join(base, name), self.directory))
        return sorted(found)

    @staticmethod
    def plugin_type(path):
        """`plugins/<type>/...` -> type (None for a file directly under plugins/)."""
        parts = path.split(os.sep)
        return parts[1] if len(parts) > 2 else None

    def is_target(self, path):
        """Runs on managed hosts (ansible-test's remote targets): modules and module_utils."""
        return self.plugin_type(path) in ("modules", "module_utils")


def run(cmd, cwd, env=None, stdin=None):
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=env, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, check=False)
    except OSError as exc:
        raise CheckerError("cannot run %s: %s" % (cmd[0], exc))
    return proc


def clean_env(collection, work, **extra):
    """ansible-test's environment for checkers: no inherited ANSIBLE_* settings, an empty config."""
    env = {
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", os.defpath),
        "HOME": os.environ.get("HOME", work),
        "LC_ALL": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "ANSIBLE_CONFIG": os.path.join(ansible_test_root(), "_data", "ansible.cfg"),  # ansible-test's empty config
        "ANSIBLE_INVENTORY": os.devnull,
        "ANSIBLE_LIBRARY": os.devnull,
        "ANSIBLE_HOME": os.path.join(work, "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": os.path.join(work, "ansible-tmp"),
        "ANSIBLE_DEPRECATION_WARNINGS": "false",
        "ANSIBLE_DEVEL_WARNING": "false",
        "ANSIBLE_FORCE_COLOR": "false",
        "ANSIBLE_COLLECTIONS_PATH": collection.root,
    }
    env.update(extra)
    return env


def tail(text, lines=12):
    """The end of a checker's error output (a traceback's last lines say what went wrong)."""
    text = text.strip().splitlines()
    return "\n".join((["..."] if len(text) > lines else []) + text[-lines:])


def parse_lines(check, stdout, pattern, code=None):
    problems = []
    for line in stdout.splitlines():
        if not line.strip():
            continue
        match = re.match(pattern, line)
        if not match:
            raise CheckerError("%s: unreadable output line %r" % (check, line))
        fields = match.groupdict()
        problems.append(Problem(check, fields["path"], fields["line"], fields["column"],
                                fields.get("code") or code, fields["message"]))
    return problems


def check_compile(collection, work):
    """compile.py with this interpreter; modules/module_utils also against the oldest managed-host grammar."""
    script = os.path.join(ansible_test_root(), "_util", "target", "sanity", "compile", "compile.py")
    proc = run([sys.executable, script], collection.directory, stdin="\n".join(collection.paths))
    if proc.stderr or proc.returncode != 0:
        raise CheckerError("compile.py exited %d: %s" % (proc.returncode, tail(proc.stderr)))
    problems = parse_lines("compile", proc.stdout, r"^(?P<path>[^:]*):(?P<line>[0-9]+):(?P<column>[0-9]+): (?P<message>.*)$",
                           code="python%d.%d" % sys.version_info[:2])
    remote, _controller = ansible_test_constants()
    oldest = tuple(int(part) for part in remote[0].split("."))
    for path in collection.paths:
        if not collection.is_target(path):
            continue
        with open(os.path.join(collection.directory, path), "rb") as handle:
            source = handle.read()
        try:
            ast.parse(source, path, feature_version=oldest)
        except SyntaxError as exc:
            problems.append(Problem("compile", path, exc.lineno, exc.offset, "python%s-grammar" % remote[0],
                                    "%s (not valid on Python %s, the oldest managed-host Python)" % (exc.msg, remote[0])))
    return problems


def check_pep8(collection, work):
    ignore = read_lines_without_comments(os.path.join(ansible_test_root(), "_util", "controller", "sanity", "pep8", "current-ignore.txt"))
    cmd = [sys.executable, "-m", "pycodestyle", "--max-line-length", "160", "--config", os.devnull,
           "--ignore", ",".join(sorted(ignore))] + collection.paths
    proc = run(cmd, collection.directory)
    if proc.stderr or proc.returncode not in (0, 1):
        raise CheckerError("pycodestyle exited %d: %s" % (proc.returncode, tail(proc.stderr)))
    return parse_lines("pep8", proc.stdout,
                       r"^(?P<path>[^:]*):(?P<line>[0-9]+):(?P<column>[0-9]+): (?P<code>[WE][0-9]{3}) (?P<message>.*)$")


def check_pylint(collection, work):
    sanity = os.path.join(ansible_test_root(), "_util", "controller", "sanity", "pylint")
    plugin_dir = os.path.join(sanity, "plugins")
    plugins = sorted(name[:-3] for name in os.listdir(plugin_dir) if name.endswith(".py") and name != "__init__.py")
    remote, controller = ansible_test_constants()
    # ansible-test's contexts for a collection: modules, module_utils, the rest ("collection"); there is
    # no modules.cfg / module_utils.cfg for collections, so each uses collection.cfg.
    contexts = [
        ("modules", [p for p in collection.paths if collection.plugin_type(p) == "modules"], remote[0]),
        ("module_utils", [p for p in collection.paths if collection.plugin_type(p) == "module_utils"], remote[0]),
        ("collection", [p for p in collection.paths if not collection.is_target(p)], controller[0]),
    ]
    home = os.path.join(work, "pylint")
    os.makedirs(home, exist_ok=True)
    env = clean_env(collection, work, PYLINTHOME=home, PYTHONPATH=os.pathsep.join([plugin_dir, collection.root]))
    for plugin_type in ("modules", "module_utils"):
        env["ANSIBLE_TEST_%s_PATH" % plugin_type.upper()] = os.path.join(collection.directory, "plugins", plugin_type) + os.sep
    problems = []
    for context, paths, py_version in contexts:
        if not paths:
            continue
        cmd = [sys.executable, "-m", "pylint",
               "--py-version", py_version,
               "--load-plugins", ",".join(plugins),
               "--rcfile", os.path.join(sanity, "config", "collection.cfg"),
               "--jobs", os.environ.get("MAILFLEET_SANITY_JOBS", "0"),
               "--reports", "n",
               "--output-format", "json",
               "--collection-name", collection.full_name,
               "--collection-path", collection.directory]
        if collection.version:
            cmd += ["--collection-version", collection.version]
        proc = run(cmd + paths, collection.directory, env=env)
        if proc.stderr or proc.returncode >= 32:
            raise CheckerError("pylint (%s) exited %d: %s" % (context, proc.returncode, tail(proc.stderr)))
        try:
            messages = json.loads(proc.stdout) if proc.stdout.strip() else []
        except ValueError as exc:
            raise CheckerError("pylint (%s): unreadable output: %s" % (context, exc))
        for msg in messages:
            if msg["symbol"] in OPTIONAL_CODES["pylint"]:
                continue
            problems.append(Problem("pylint", msg["path"], msg["line"], msg["column"], msg["symbol"], msg["message"]))
    return problems


def check_validate_modules(collection, work):
    directory = os.path.join(ansible_test_root(), "_util", "controller", "sanity", "validate-modules")
    by_type = {}
    for path in collection.paths:
        plugin_type = collection.plugin_type(path)
        if (plugin_type in DOCUMENTABLE_PLUGINS and plugin_type not in MULTI_FILE_PLUGINS
                and not path.endswith("/__init__.py")):
            by_type.setdefault(plugin_type, []).append(path)
    env = clean_env(collection, work, PYTHONPATH=os.pathsep.join([collection.root, directory]))
    problems = []
    for plugin_type, paths in sorted(by_type.items()):
        cmd = [sys.executable, os.path.join(directory, "validate.py"), "--format", "json", "--arg-spec",
               "--collection", collection.relative]
        if collection.version:
            cmd += ["--collection-version", collection.version]
        if plugin_type != "modules":
            cmd += ["--plugin-type", plugin_type]
        # validate.py finds a collection by its path relative to the collection root.
        proc = run(cmd + paths, collection.directory, env=env)
        if proc.stderr or proc.returncode not in (0, 3):
            raise CheckerError("validate-modules (%s) exited %d: %s" % (plugin_type, proc.returncode, tail(proc.stderr)))
        try:
            results = json.loads(proc.stdout)
        except ValueError as exc:
            raise CheckerError("validate-modules (%s): unreadable output: %s" % (plugin_type, exc))
        for path, result in sorted(results.items()):
            for item in result.get("errors", []):
                if item["code"] in OPTIONAL_CODES["validate-modules"]:
                    continue
                problems.append(Problem("validate-modules", path, item.get("line"), item.get("column"), item["code"], item["msg"]))
    return problems


def import_path(work, import_type):
    """A directory with ansible and the packages of ansible-test's import environment, nothing else."""
    import ansible
    path = os.path.join(work, "import-%s" % import_type)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    site = os.path.dirname(os.path.dirname(os.path.abspath(ansible.__file__)))
    entries = os.listdir(site)
    wanted = {"ansible": ("ansible",)}
    wanted.update(IMPORT_PACKAGES[import_type])
    for distribution, packages in sorted(wanted.items()):
        dist_name = "ansible_core" if distribution == "ansible" else distribution
        dist_info = [e for e in entries if e.lower().startswith(dist_name + "-") and e.endswith(".dist-info")]
        if len(dist_info) != 1 or packages[0] not in entries:
            raise CheckerError("import: %s is not installed once in %s (make venv)" % (distribution, site))
        for entry in dist_info + [e for e in entries if e in packages]:
            os.symlink(os.path.join(site, entry), os.path.join(path, entry))
    return path


def check_import(collection, work):
    tools = os.path.join(ansible_test_root(), "_util")
    importer = os.path.join(tools, "target", "sanity", "import", "importer.py")
    temp = os.path.join(work, "import-temp")
    os.makedirs(temp, exist_ok=True)
    problems = []
    for import_type in ("module", "plugin"):
        paths = [p for p in collection.paths if collection.is_target(p) == (import_type == "module")
                 and collection.plugin_type(p)]
        if not paths:
            continue
        env = clean_env(collection, work,
                        PYTHONPATH=import_path(work, import_type),
                        SANITY_TEMP_PATH=temp,
                        SANITY_IMPORTER_TYPE=import_type,
                        SANITY_COLLECTION_FULL_NAME=collection.full_name,
                        SANITY_EXTERNAL_PYTHON=sys.executable,
                        SANITY_YAML_TO_JSON=os.path.join(tools, "controller", "tools", "yaml_to_json.py"))
        # -S: no site-packages, as in ansible-test's minimal import virtual environments.
        proc = run([sys.executable, "-S", importer], collection.directory, env=env, stdin="\n".join(paths))
        if proc.stderr or proc.returncode not in (0, 10) or (proc.returncode == 10) != bool(proc.stdout.strip()):
            raise CheckerError("importer (%s) exited %d: %s%s" % (import_type, proc.returncode, tail(proc.stderr), tail(proc.stdout)))
        found = parse_lines("import", proc.stdout,
                            r"^(?P<path>[^:]*):(?P<line>[0-9]+):(?P<column>[0-9]+): (?P<code>[a-z-]+): (?P<message>.*)$")
        for problem in found:
            problem.code = "%s-%s" % (import_type, problem.code)
        problems += found
    return problems


RUNNERS = {"compile": check_compile, "pep8": check_pep8, "pylint": check_pylint,
           "validate-modules": check_validate_modules, "import": check_import}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--collection", default=COLLECTION, help="collection directory (default: mailfleet.fleet)")
    parser.add_argument("--check", action="append", choices=CHECKS, help="run only this check (repeatable)")
    parser.add_argument("--json", action="store_true", help="print {check: [problem, ...]} as JSON")
    args = parser.parse_args(argv)
    checks = args.check or list(CHECKS)
    try:
        collection = Collection(args.collection)
    except CheckerError as exc:
        print("sanity: %s" % exc, file=sys.stderr)
        return 2
    results, broken = {}, {}
    work = tempfile.mkdtemp(prefix="mailfleet-sanity-")
    try:
        for check in checks:
            try:
                results[check] = sorted(RUNNERS[check](collection, work), key=Problem.key)
            except CheckerError as exc:
                broken[check] = str(exc)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps({"collection": collection.full_name, "files": len(collection.paths),
                          "results": {c: [str(p) for p in v] for c, v in results.items()}, "broken": broken},
                         indent=1, sort_keys=True))
    else:
        for check in checks:
            for problem in results.get(check, []):
                print(problem)
        for check in checks:
            if check in broken:
                status = "CANNOT RUN: %s" % broken[check]
            else:
                status = "%d error(s)" % len(results[check]) if results[check] else "ok"
            print("sanity %-16s %s (%d files)" % (check, status, len(collection.paths)), file=sys.stderr)
    if broken:
        return 2
    return 1 if any(results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
