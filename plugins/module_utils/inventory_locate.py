# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Find the inventory file and line where a variable's key is written (controller side, PyYAML).

Validation works on the values Ansible resolved; this module tells the operator *where* to fix
them: ``inventories/demo/host_vars/pmta-1/ips.yml:14``. It also reads what Ansible's loader
hides: keys written twice in one mapping (YAML keeps the last one silently) and how a key that
YAML read as a boolean was spelled (``no``). Vault-encrypted files are read through the caller's
``decrypt(path) -> text`` callback when given; without it, a key that lives in one is reported by
variable name only.
"""
from __future__ import absolute_import, division, print_function

import glob
import os
import re

import yaml

from ansible_collections.mailfleet.fleet.plugins.module_utils.grammar import printable

__metaclass__ = type

_TOKEN = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]")
_VAULT_HEADER = "$ANSIBLE_VAULT"


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader that also knows Ansible's ``!vault`` and ``!unsafe`` tags (their
    values are kept as opaque text: this loader only locates and checks structure)."""


def _opaque(loader, node):
    return loader.construct_scalar(node)


_Loader.add_constructor("!vault", _opaque)
_Loader.add_constructor("!unsafe", _opaque)
_Loader.add_constructor("!vault-encrypted", _opaque)


def _read(path, decrypt):
    """The YAML text of ``path`` (decrypted through ``decrypt`` when vault-encrypted), or None."""
    with open(path, "r", encoding="utf-8") as handle:
        text = handle.read()
    if text.startswith(_VAULT_HEADER):
        if decrypt is None:
            return None
        try:
            text = decrypt(path)
        except Exception:  # noqa: BLE001 - a file the vault cannot open is reported elsewhere
            return None
    return text


def _compose(path, cache, decrypt=None):
    if path not in cache:
        node = None
        try:
            text = _read(path, decrypt)
            if text is not None:
                node = yaml.compose(text, Loader=_Loader)
        except (IOError, OSError, UnicodeDecodeError, yaml.YAMLError):
            node = None
        cache[path] = node
    return cache[path]


def _key_value(knode):
    """What YAML makes of a scalar key node (``no`` -> False), or its text."""
    if not isinstance(knode, yaml.ScalarNode):
        return None
    try:
        return _Loader("").construct_object(knode, deep=True)
    except (ValueError, TypeError, yaml.YAMLError):
        return knode.value


def _duplicates(node, path, found):
    """``(line, key path, key, first line)`` for every key written twice in one mapping."""
    if isinstance(node, yaml.MappingNode):
        seen = {}
        for knode, vnode in node.value:
            if isinstance(knode, yaml.ScalarNode):
                key = knode.value
                sub = "%s.%s" % (path, key) if path else key
                if key == "<<":
                    pass
                elif key in seen:
                    found.append((knode.start_mark.line + 1, sub, key, seen[key]))
                else:
                    seen[key] = knode.start_mark.line + 1
            else:
                sub = path
            _duplicates(vnode, sub, found)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _duplicates(item, "%s[%d]" % (path, i), found)


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


_EXTENSIONS = ("", ".yml", ".yaml", ".json")


def _vars_files(base, kind, name, shadowed=None):
    """YAML files Ansible reads for group/host ``name`` under ``base/{group,host}_vars``: like
    Ansible, the first of ``name``, ``name.yml``, ``name.yaml``, ``name.json`` that exists (a
    directory: every YAML file in it); the others are ignored -- appended to ``shadowed``."""
    root = os.path.join(base, kind)
    files, chosen = [], None
    for ext in _EXTENSIONS:
        candidate = os.path.join(root, name + ext)
        if not os.path.exists(candidate):
            continue
        if chosen is not None:
            if shadowed is not None:
                shadowed.append((candidate, chosen))
            continue
        chosen = candidate
        if os.path.isdir(candidate):
            for path in sorted(glob.glob(os.path.join(candidate, "**", "*"), recursive=True)):
                rel = os.path.relpath(path, candidate)
                if any(part.startswith(".") or part.endswith("~") for part in rel.split(os.sep)):
                    continue
                if os.path.isfile(path) and path.endswith((".yml", ".yaml", ".json")):
                    files.append(path)
        else:
            files.append(candidate)
    return files


class Locator:
    """Locate ``(host, var, path)`` in the inventory sources."""

    def __init__(self, sources, host_groups, relative_to=None, decrypt=None):
        self.sources = [s for s in sources if s and os.path.exists(s)]
        self.host_groups = host_groups
        self.relative_to = relative_to
        self.decrypt = decrypt
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
            else:  # fleet-wide variables are read on the controller: localhost's own, then all's
                for path in _vars_files(base, "host_vars", "localhost"):
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
            text = ""
            try:
                text = _read(filename, self.decrypt)
                if text is None:
                    continue
                yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
            except yaml.MarkedYAMLError as exc:
                mark = exc.problem_mark or exc.context_mark
                problems.append("%s:%d: YAML error: %s" % (self._show(filename), mark.line + 1 if mark else 0, exc.problem))
            except (IOError, OSError, UnicodeDecodeError) as exc:  # UnicodeDecodeError is a ValueError: first
                problems.append("%s: cannot read: %s" % (self._show(filename), exc))
            except (ValueError, TypeError) as exc:
                problems.append("%s:%d: YAML cannot read this value: %s" % (
                    self._show(filename), self._bad_scalar_line(text), exc))
        return problems

    @staticmethod
    def _bad_scalar_line(text):
        """Line of the first scalar PyYAML cannot construct (an impossible date, for example)."""
        constructor = _Loader(text)
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

    def files(self, hosts):
        """Every inventory file of ``hosts`` (and the groups and sources), each once, in order."""
        out = []
        for host in list(hosts) + [None]:
            for filename, is_inventory in self._candidates(host):
                if (filename, is_inventory) not in out:
                    out.append((filename, is_inventory))
        return out

    def shadowed_files(self, hosts):
        """``FILE: ...`` for every vars file Ansible ignores because another of the same name wins
        (``group_vars/all.yml`` next to a ``group_vars/all/`` directory)."""
        messages, names = [], set()
        for host in list(hosts) + [None]:
            names.add(("host_vars", host) if host is not None else ("host_vars", "localhost"))
            for group in self.host_groups.get(host, []) if host is not None else ["all"]:
                names.add(("group_vars", group))
        for source in self.sources:
            base = source if os.path.isdir(source) else os.path.dirname(source)
            for kind, name in sorted(names):
                shadowed = []
                _vars_files(base, kind, name, shadowed)
                for ignored, chosen in shadowed:
                    messages.append("%s: Ansible ignores this file because %s%s exists; move its variables there" % (
                        self._show(ignored), self._show(chosen), "/" if os.path.isdir(chosen) else ""))
        return messages

    def duplicate_keys(self, hosts):
        """``FILE:LINE: KEY: ...`` for every key written twice in one mapping of an inventory file:
        YAML (and Ansible) would silently keep only the last one."""
        messages = []
        for filename, _is_inventory in self.files(hosts):
            root = _compose(filename, self._cache, self.decrypt)
            found = []
            _duplicates(root, "", found)
            for line, path, key, first in found:
                messages.append("%s:%d: %s: key %s is written twice in this mapping (first at line %d); "
                                "YAML would keep only the last one" % (self._show(filename), line, printable(path),
                                                                       printable(key), first))
        return messages

    def _scopes(self, host):
        """``(filename, mapping node)`` of every place ``host``'s variables are written, in the
        order Ansible reads them (a vars file's root; an inventory file's host/group vars)."""
        for filename, is_inventory in self._candidates(host):
            root = _compose(filename, self._cache, self.decrypt)
            if root is None:
                continue
            for scope in self._in_inventory_file(root, host) if is_inventory else [root]:
                yield filename, scope

    def _node(self, host, var, path):
        """``(filename, node)`` of ``var`` + ``path`` (the value node), or (None, None)."""
        for filename, scope in self._scopes(host):
            knode, node = _get(scope, var)
            if knode is None:
                continue
            for match in _TOKEN.finditer(path):
                key, index = match.group(1), match.group(2)
                if index is not None:
                    if not (isinstance(node, yaml.SequenceNode) and int(index) < len(node.value)):
                        return filename, None
                    node = node.value[int(index)]
                else:
                    _k, node = _get(node, key)
                    if node is None:
                        return filename, None
            return filename, node
        return None, None

    def key_spelling(self, host, var, path, native):
        """How the key YAML read as ``native`` (``False``) is written in the mapping at ``var`` +
        ``path`` (``no``), or None."""
        _filename, node = self._node(host, var, path)
        if isinstance(node, yaml.MappingNode):
            for knode, _vnode in node.value:
                value = _key_value(knode)
                if type(value) is type(native) and value == native:  # pylint: disable=unidiomatic-typecheck
                    return knode.value
        return None

    def locate(self, host, var, path=""):
        """``file:line`` where ``var`` + ``path`` is written, or None."""
        for filename, scope in self._scopes(host):
            knode, vnode = _get(scope, var)
            if knode is None:
                continue
            node = _walk(knode, vnode, path)
            node = knode if node is vnode else node
            return "%s:%d" % (self._show(filename), node.start_mark.line + 1)
        return None
