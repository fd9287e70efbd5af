# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin behind mailfleet.fleet.fleet_model: validate the inventory, publish the model.

The glue between Ansible and the one validation home (``module_utils/fleet.py``): it reads the
inventory's variables, secrets literally (``plugin_utils/secrets.py``: never templated, never
published) and everything else templated leaf by leaf, hands plain data to ``fleet.build_model``
and ``fleet.check_key_files``, and turns every error into ``FILE:LINE: KEY: message``
(``inventory_locate``). The published model carries no secret.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import os

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_native, to_text
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible_collections.mailfleet.fleet.plugins.module_utils import fleet, grammar
from ansible_collections.mailfleet.fleet.plugins.module_utils.inventory_locate import Locator
from ansible_collections.mailfleet.fleet.plugins.plugin_utils import secrets

VAULT_HINT = "the vault password is wrong or missing (give it with --vault-password-file or --ask-vault-pass)"


def _segment(key):
    return "[%d]" % key if isinstance(key, int) and not isinstance(key, bool) else ".%s" % key


def _load_problem(exc):
    """The message of the mailfleet.fleet.inventory_files vars plugin (it names the file), found
    anywhere in the chain of exceptions Ansible wrapped it in, as a one-item list; else []."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if getattr(exc, "mailfleet_file_error", None):
            return [exc.mailfleet_file_error]
        exc = exc.__cause__ or exc.__context__
    return []


class _Reader:
    """Reads one variable into plain Python: secrets from ``secret_values`` (read literally by
    ``secrets.collect``), every other string templated on its own so that an error names its
    file and line. Problems go to ``messages``; the value at fault becomes ``fleet.Unreadable``."""

    def __init__(self, templar, task_vars, secret_values, locator, host, messages):
        self.templar = templar
        self.task_vars = task_vars
        self.secret_values = secret_values
        self.locator = locator
        self.host = host
        self.messages = messages

    def _problem(self, value, var, path, message):
        place = secrets.where(value) or self.locator.locate(self.host, var, "".join(_segment(p) for p in path))
        key = grammar.printable(var + "".join(_segment(p) for p in path))
        prefix = "%s: " % place if place else ("host %s, variable " % self.host if self.host else "variable ")
        self.messages.append("%s%s: %s" % (prefix, key, message))
        return fleet.Unreadable(message)

    def _key(self, key, var, path):
        if isinstance(key, str):
            return "".join(key)
        key = self._plain(key)
        spelling = self.locator.key_spelling(self.host, var, "".join(_segment(p) for p in path), key)
        return fleet.YamlKey(spelling or (str(key).lower() if isinstance(key, bool) else str(key)), key)

    def read(self, value, var, path=()):
        secret_path = tuple(str(p) for p in path)
        if secrets.secret_checker(var, secret_path) is not None:
            if value is None:
                return None
            key = var + "".join("." + p for p in secret_path)
            return self.secret_values[key] if key in self.secret_values else fleet.Unreadable("secret")
        if isinstance(value, str) and secrets.holds_secrets(var, secret_path):
            try:
                value = secrets.follow(value, self.task_vars, var + "".join("." + p for p in secret_path))
            except secrets.SecretError:
                return fleet.Unreadable("expression")  # secrets.collect reported it
        if isinstance(value, dict):
            return {self._key(k, var, path): self.read(v, var, path + (k,)) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.read(v, var, path + (i,)) for i, v in enumerate(value)]
        if secrets.is_vaulted(value):
            try:
                return secrets.decrypt(value)
            except secrets.SecretError:
                return self._problem(value, var, path, "cannot decrypt this vaulted value: " + VAULT_HINT)
        if isinstance(value, str):
            if self.templar.is_template(value):
                try:
                    result = self.templar.template(value)
                except Exception as exc:  # noqa: BLE001 - any templating error names file:line, no traceback
                    return self._problem(value, var, path, "cannot be templated: %s" % to_native(exc).split("\n")[0])
                return self._plain(result)
            return "".join(value)
        return self._plain(value)

    def _plain(self, value):
        """A templated result as plain Python (no Ansible tags)."""
        if isinstance(value, dict):
            return {(("".join(k)) if isinstance(k, str) else k): self._plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._plain(v) for v in value]
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float):
            return float(value)
        if isinstance(value, datetime.datetime):
            return datetime.datetime(*value.timetuple()[:6])
        if isinstance(value, datetime.date):
            return datetime.date(value.year, value.month, value.day)
        if isinstance(value, str):
            return "".join(value)
        return to_text(value)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("today", "require_key_files"))

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        hostvars = task_vars["hostvars"]
        groups = task_vars.get("groups", {})
        sources = [to_native(s) for s in task_vars.get("ansible_inventory_sources", [])]
        hosts = sorted(groups.get("all", []))
        host_groups = {name: [g for g in groups if g not in ("all", "ungrouped") and name in groups[g]]
                       for name in hosts}
        locator = Locator(sources, host_groups, relative_to=os.getcwd(), decrypt=self._decrypt_file)
        base = self._inventory_base(sources)

        # A key written twice (YAML kept the last one) or a vars file Ansible ignores makes every
        # value doubtful: report them alone, so that nothing that follows from them is reported.
        messages = locator.shadowed_files(hosts) + locator.duplicate_keys(hosts)
        if messages:
            return self._failed(result, messages)
        secret_values, secret_messages = secrets.collect(task_vars)
        messages += secret_messages

        inventory = {"globals": {}, "hosts": {}}
        reader = _Reader(self._templar, task_vars, secret_values, locator, None, messages)
        for name in fleet.GLOBAL_VARS:
            if name in task_vars:
                inventory["globals"][name] = reader.read(task_vars[name], name)
        if self._task.args.get("today"):
            inventory["globals"][fleet.TODAY_VAR] = reader.read(self._task.args["today"], fleet.TODAY_VAR)
        for host in hosts:
            entry = {"groups": host_groups[host], "vars": {}}
            try:
                raw = hostvars.raw_get(host)
                context = dict(raw)
                for magic in ("hostvars", "groups"):  # as a task on that host would see them
                    context.setdefault(magic, task_vars.get(magic))
                templar = self._templar.copy_with_new_env(available_variables=context)
            except Exception as exc:  # noqa: BLE001 - Ansible raises many types while loading variables
                messages.extend(_load_problem(exc) or locator.load_errors(host) or [
                    "host %s: cannot load its variables: %s" % (host, to_native(exc).split("\n")[0])])
                inventory["hosts"][host] = fleet.Unreadable("variables")
                continue
            host_reader = _Reader(templar, raw, {}, locator, host, messages)
            for name in fleet.HOST_VARS:
                if name in raw:
                    entry["vars"][name] = host_reader.read(raw[name], name)
            inventory["hosts"][host] = entry

        model, errors = fleet.build_model(inventory)
        for err in errors:
            messages.append(err.format(locator.locate(err.host, err.var, err.path)))
        if boolean(self._task.args.get("require_key_files", True), strict=False):
            for err in fleet.check_key_files(model, lambda ref: self._read_key(base, ref)):
                messages.append(err.format(locator.locate(err.host, err.var, err.path)))
        if messages:
            return self._failed(result, messages)

        today = inventory["globals"].get(fleet.TODAY_VAR)
        today = grammar.parse_date(today) if today else datetime.date.today()
        result["changed"] = False
        result["ansible_facts"] = {
            "mailfleet_model": model,
            "mailfleet_today": today.isoformat(),
            "mailfleet_inventory_base": base,
        }
        result["summary"] = {"tenants": len(model["tenants"]), "hosts": len(model["hosts"]), "ips": len(model["ips"])}
        result["msg"] = "fleet OK: %(tenants)d tenants, %(hosts)d PowerMTA hosts, %(ips)d IPs" % result["summary"]
        return result

    @staticmethod
    def _failed(result, messages):
        messages = sorted(set(messages), key=messages.index)  # one file error shared by several hosts: once
        result["failed"] = True
        result["errors"] = messages
        result["msg"] = "The inventory has %d error%s; no host was touched:\n  %s" % (
            len(messages), "" if len(messages) == 1 else "s", "\n  ".join(messages))
        return result

    @staticmethod
    def _inventory_base(sources):
        for source in sources:
            if os.path.exists(source):
                return os.path.abspath(source if os.path.isdir(source) else os.path.dirname(source))
        return os.getcwd()

    def _decrypt_file(self, path):
        """Text of a vault-encrypted inventory file (for locating keys in it)."""
        return to_text(self._loader.get_text_file_contents(path))

    def _read_key(self, base, ref):
        """The bytes of a DKIM key file (relative paths start at the inventory), decrypted when
        vault-encrypted; fleet.KeyFileError says why not."""
        path = ref if os.path.isabs(ref) else os.path.join(base, ref)
        if not os.path.exists(path):
            raise fleet.KeyFileError("DKIM key file %s does not exist (relative paths start at the inventory directory)" % ref)
        if not os.path.isfile(path):
            raise fleet.KeyFileError("DKIM key file %s is not a file" % ref)
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except (IOError, OSError) as exc:
            raise fleet.KeyFileError("DKIM key file %s cannot be read (%s)" % (ref, exc.strerror or type(exc).__name__))
        if data.lstrip().startswith(b"$ANSIBLE_VAULT"):
            try:
                real = self._loader.get_real_file(path, decrypt=True)
                try:
                    with open(real, "rb") as handle:
                        data = handle.read()
                finally:
                    self._loader.cleanup_tmp_file(real)
            except AnsibleError:
                raise fleet.KeyFileError("DKIM key file %s is vault-encrypted and cannot be decrypted: %s" % (ref, VAULT_HINT))
        return data
