# -*- coding: utf-8 -*-
"""Find the inventory file and line where a variable's key is written (controller side, PyYAML).

Validation works on the values Ansible resolved; this module tells the operator *where* to fix
them: ``inventories/demo/host_vars/pmta-1/ips.yml:14``. Vault-encrypted files cannot be read
without the vault, so a key that lives in one is reported by variable name only.
"""
from __future__ import absolute_import, division, print_function

import glob
import os
import re

import yaml

__metaclass__ = type

_TOKEN = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]")


def _compose(path, cache):
    if path not in cache:
        node = None
        try:
            with open(path, "r", encoding="utf-8") as handle:
                text = handle.read()
            if not text.startswith("$ANSIBLE_VAULT"):
                node = yaml.compose(text, Loader=yaml.SafeLoader)
        except (IOError, OSError, UnicodeDecodeError, yaml.YAMLError):
            node = None
        cache[path] = node
    return cache[path]


def _get(node, key):
    if isinstance(node, yaml.MappingNode):
        for knode, vnode in node.value:
            if str(knode.value) == str(key):
                return knode, vnode
    return None, None


def _walk(knode, node, path):
    """Node whose line best shows ``path`` (``.a[2].b``) below the variable ``knode: node``: the key
    for a mapping entry, the item for a list entry, or the deepest existing parent when a key is
    missing."""
    shown = knode
    for match in _TOKEN.finditer(path):
        key, index = match.group(1), match.group(2)
        if index is not None:
            if not (isinstance(node, yaml.SequenceNode) and int(index) < len(node.value)):
                break
            node = shown = node.value[int(index)]
            continue
        knode, vnode = _get(node, key)
        if vnode is None:
            break
        node, shown = vnode, knode
    return shown


def _vars_files(base, kind, name):
    """YAML files Ansible reads for group/host ``name`` under ``base/{group,host}_vars``."""
    root = os.path.join(base, kind)
    files = []
    for ext in ("", ".yml", ".yaml"):
        candidate = os.path.join(root, name + ext)
        if os.path.isfile(candidate):
            files.append(candidate)
    directory = os.path.join(root, name)
    if os.path.isdir(directory):
        for path in sorted(glob.glob(os.path.join(directory, "**", "*"), recursive=True)):
            if os.path.isfile(path) and path.endswith((".yml", ".yaml")):
                files.append(path)
    return files


class Locator:
    """Locate ``(host, var, path)`` in the inventory sources."""

    def __init__(self, sources, host_groups, relative_to=None):
        self.sources = [s for s in sources if s and os.path.exists(s)]
        self.host_groups = host_groups
        self.relative_to = relative_to
        self._cache = {}

    def _show(self, path):
        if self.relative_to:
            rel = os.path.relpath(path, self.relative_to)
            if not rel.startswith(".."):
                return rel
        return path

    def _candidates(self, host):
        for source in self.sources:
            base = source if os.path.isdir(source) else os.path.dirname(source)
            if host is not None:
                for path in _vars_files(base, "host_vars", host):
                    yield path, False
                for group in reversed(self.host_groups.get(host, [])):
                    for path in _vars_files(base, "group_vars", group):
                        yield path, False
            for path in _vars_files(base, "group_vars", "all"):
                yield path, False
            inv_files = [source] if os.path.isfile(source) else sorted(
                glob.glob(os.path.join(source, "*.yml")) + glob.glob(os.path.join(source, "*.yaml")))
            for path in inv_files:
                yield path, True

    def _in_inventory_file(self, node, host):
        """The vars mapping for ``host`` (or all/vars) inside a YAML inventory file."""
        found = []

        def visit(group_node):
            if not isinstance(group_node, yaml.MappingNode):
                return
            _k, hosts = _get(group_node, "hosts")
            if host is not None and isinstance(hosts, yaml.MappingNode):
                _hk, hvars = _get(hosts, host)
                if isinstance(hvars, yaml.MappingNode):
                    found.append(hvars)
            _k, gvars = _get(group_node, "vars")
            if isinstance(gvars, yaml.MappingNode):
                found.append(gvars)
            _k, children = _get(group_node, "children")
            if isinstance(children, yaml.MappingNode):
                for _ck, child in children.value:
                    visit(child)

        if isinstance(node, yaml.MappingNode):
            for _gk, group in node.value:
                visit(group)
        return found

    def load_errors(self, host):
        """``file:line: message`` for every vars file of ``host`` that YAML cannot load."""
        problems = []
        seen = set()
        for filename, _is_inventory in self._candidates(host):
            if filename in seen:
                continue
            seen.add(filename)
            try:
                with open(filename, "r", encoding="utf-8") as handle:
                    text = handle.read()
                if text.startswith("$ANSIBLE_VAULT"):
                    continue
                yaml.safe_load(text)
            except yaml.MarkedYAMLError as exc:
                mark = exc.problem_mark or exc.context_mark
                problems.append("%s:%d: YAML error: %s" % (self._show(filename), mark.line + 1 if mark else 0, exc.problem))
            except (ValueError, TypeError) as exc:
                problems.append("%s:%d: YAML cannot read this value: %s" % (
                    self._show(filename), self._bad_scalar_line(text), exc))
            except (IOError, OSError, UnicodeDecodeError) as exc:
                problems.append("%s: cannot read: %s" % (self._show(filename), exc))
        return problems

    @staticmethod
    def _bad_scalar_line(text):
        """Line of the first scalar PyYAML cannot construct (an impossible date, for example)."""
        constructor = yaml.SafeLoader(text)
        try:
            root = constructor.get_single_node()
        except yaml.YAMLError:
            return 0
        stack = [root] if root is not None else []
        while stack:
            node = stack.pop(0)
            if isinstance(node, yaml.ScalarNode):
                try:
                    constructor.construct_object(node, deep=True)
                except (ValueError, TypeError, yaml.YAMLError):
                    return node.start_mark.line + 1
            elif isinstance(node, yaml.SequenceNode):
                stack.extend(node.value)
            elif isinstance(node, yaml.MappingNode):
                for key, value in node.value:
                    stack.extend([key, value])
        return 0

    def locate(self, host, var, path=""):
        """``file:line`` where ``var`` + ``path`` is written, or None."""
        for filename, is_inventory in self._candidates(host):
            root = _compose(filename, self._cache)
            if root is None:
                continue
            scopes = self._in_inventory_file(root, host) if is_inventory else [root]
            for scope in scopes:
                knode, vnode = _get(scope, var)
                if knode is None:
                    continue
                node = _walk(knode, vnode, path)
                node = knode if node is vnode else node
                return "%s:%d" % (self._show(filename), node.start_mark.line + 1)
        return None
