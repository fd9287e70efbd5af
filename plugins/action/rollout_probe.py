# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin behind mailfleet.fleet.rollout_probe: digest on the controller, compare on the host.

The configuration is rendered through the same chokepoint as the deploy (``render_task`` of the
``pmta_config`` action: host view, template, parse-back check); every other file the rollout would
write is digested here -- DKIM keys from the controller (vault-decrypted, as ``copy`` reads them),
state files from the states the rollout stores (``states.dump_states`` / ``health.dump_health_states``,
the codecs ``host_state`` writes with) -- so that only SHA-256 digests, paths and modes travel to
the host, where the module compares them (``module_utils/rollout_probe.py``) in one round trip.
Nothing secret leaves the controller and nothing is written anywhere.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_bytes, to_native
from ansible.plugins.action import ActionBase
from ansible_collections.mailfleet.fleet.plugins.action.pmta_config import render_task
from ansible_collections.mailfleet.fleet.plugins.module_utils.health import dump_health_states
from ansible_collections.mailfleet.fleet.plugins.module_utils.states import dump_states
from ansible_collections.mailfleet.fleet.plugins.plugin_utils.pmta_template import RenderError

MODULE = "mailfleet.fleet.rollout_probe"
DUMP = {"warmup": dump_states, "health": dump_health_states}
STATE_FIELDS = frozenset(("kind", "path", "states", "mode"))


def config_digest(text):
    """SHA-256 of the configuration as the deploy writes it (``pmta_deploy.Request``: one final LF)."""
    return hashlib.sha256(to_bytes(text if text.endswith("\n") else text + "\n")).hexdigest()


def states_digest(kind, states):
    """SHA-256 of the state file ``host_state`` would write for ``states``."""
    if kind not in DUMP:
        raise ValueError("kind must be warmup or health, got %r" % (kind,))
    plain = json.loads(json.dumps(states))  # what is written is what a later read returns
    return hashlib.sha256(to_bytes(DUMP[kind](plain))).hexdigest()


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("render", "path", "journal", "keys", "key_mode", "key_owner", "key_group", "states",
                             "dirs", "present", "only"))

    def _src_digest(self, src):
        """SHA-256 of a controller file, decrypted when vaulted (the content ``copy`` would send)."""
        try:
            found = self._find_needle("files", src)
            real = self._loader.get_real_file(found, decrypt=True)
        except AnsibleError as exc:
            raise ValueError("cannot read %s on the controller: %s" % (src, to_native(exc)))
        try:
            with open(real, "rb") as handle:
                return hashlib.sha256(handle.read()).hexdigest()
        finally:
            self._loader.cleanup_tmp_file(real)

    def _files(self, args):
        """The files the module compares: the DKIM keys (digested from the controller's copies) and
        the state files (digested from the states the rollout stores), as ``(files, state_files)``."""
        files, state_files = [], []
        attrs = dict((k, args.get("key_" + k)) for k in ("mode", "owner", "group"))
        for key in args.get("keys") or []:
            if not isinstance(key, dict) or not all(isinstance(key.get(k), str) and key[k] for k in ("src", "dest")):
                raise ValueError("each of 'keys' needs src and dest (paths), got %s"
                                 % (sorted(key) if isinstance(key, dict) else type(key).__name__))
            files.append(dict(path=key["dest"], sha256=self._src_digest(key["src"]), what="DKIM key", **attrs))
        for item in args.get("states") or []:
            if not isinstance(item, dict) or not item.get("path") or set(item) - STATE_FIELDS:
                raise ValueError("each of 'states' is {kind, path, states, mode}, got %r"
                                 % (sorted(item) if isinstance(item, dict) else item,))
            state_files.append({"path": item["path"], "mode": item.get("mode"), "what": "%s state" % item.get("kind"),
                                "sha256": states_digest(item.get("kind"), item.get("states") or {})})
        return [[dict((k, v) for k, v in f.items() if v not in (None, "")) for f in group]
                for group in (files, state_files)]

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        args = dict(self._task.args)
        try:
            text, _view = render_task(args.get("render"), task_vars, task_vars.get("inventory_hostname"))
        except RenderError as exc:
            result.update(failed=True, changed=False, msg="rollout_probe: %s. Nothing was sent to the host." % exc)
            return result
        try:
            files, state_files = self._files(args)
        except (TypeError, ValueError) as exc:
            result.update(failed=True, changed=False, msg="rollout_probe: %s" % to_native(exc))
            return result
        module_args = {
            "config": {"path": args.get("path") or "/etc/pmta/config", "sha256": config_digest(text)},
            "files": files,
            "state_files": state_files,
        }
        module_args.update((k, args[k]) for k in ("journal", "dirs", "present", "only") if args.get(k) is not None)
        result.update(self._execute_module(module_name=MODULE, module_args=module_args, task_vars=task_vars))
        return result
