# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin in front of mailfleet.fleet.pmta_config: render and prove the configuration on
the controller, then let the module deploy it on the host.

The task gives ``render`` (what to render) instead of ``content``. This plugin makes the text
through the one rendering chokepoint (``plugin_utils/pmta_template.render_host``: host view,
template with typed filters, parse-back check) and only when that succeeds runs the module with
``content`` set (a ``no_log`` option: it holds the SMTP passwords). With ``render_only: true`` it
stops there: nothing is sent to the host (the role's first step, before it touches anything).
Every other argument goes to the module unchanged.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib

from ansible.module_utils.common.text.converters import to_bytes
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible_collections.mailfleet.fleet.plugins.module_utils import grammar
from ansible_collections.mailfleet.fleet.plugins.plugin_utils import secrets
from ansible_collections.mailfleet.fleet.plugins.plugin_utils.pmta_template import RenderError, render_host

MODULE = "mailfleet.fleet.pmta_config"
RENDER_KEYS = frozenset(("model", "caps", "settings", "host", "template", "roots", "host_paths"))


def _smtp_passwords(task_vars):
    """``{tenant: SMTP password}``: the one place the renderer gets the passwords from, read from
    the raw inventory by ``plugin_utils/secrets.py`` (literally, never templated; vault values
    decrypted; grammar-checked; problems name file, line and key, never the value)."""
    return secrets.smtp_passwords(task_vars)


def check_host_inputs(render):
    """The path variables the role uses on the host, before anything is created there: each must
    be a plain absolute path (``roots`` may also be empty). Raises GrammarError naming the variable."""
    for name, value in (render.get("roots") or {}).items():  # in the role's order: mailfleet_root first
        grammar.root(value, name)
    for name, value in (render.get("host_paths") or {}).items():
        grammar.path(value, name)


def render_task(render, task_vars, inventory_hostname):
    """Render and prove the configuration a task asks for. Returns ``(text, view)``; raises
    RenderError with a message that names the host and the variable (never a password)."""
    if not isinstance(render, dict):
        raise RenderError("pmta_config: 'render' must be a mapping of %s" % ", ".join(sorted(RENDER_KEYS)))
    unknown = sorted(set(render) - RENDER_KEYS)
    if unknown:
        raise RenderError("pmta_config: unknown key(s) in 'render': %s" % ", ".join(unknown))
    host = render.get("host") or inventory_hostname
    model = render.get("model")
    if not isinstance(model, dict) or not isinstance(model.get("hosts"), dict) or not isinstance(model.get("tenants"), dict):
        raise RenderError("pmta_config: no fleet model; run playbooks/validate.yml first (every mailfleet playbook "
                          "imports it)")
    try:
        check_host_inputs(render)
        passwords = _smtp_passwords(task_vars)
    except grammar.GrammarError as exc:
        raise RenderError("host %s: %s" % (host, exc))
    except secrets.SecretError as exc:
        raise RenderError("host %s: SMTP passwords: %s" % (host, exc))
    return render_host(model, host, render.get("caps"), render.get("settings"), passwords, render.get("template"))


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        args = dict(self._task.args)
        render = args.pop("render", None)
        render_only = boolean(args.pop("render_only", False), strict=False)
        if "content" in args:
            result.update(failed=True, msg="pmta_config: 'content' cannot be given: the configuration is made by the "
                                           "action plugin from 'render' (host view, template, parse-back check)")
            return result
        try:
            text, view = render_task(render, task_vars, task_vars.get("inventory_hostname"))
        except RenderError as exc:
            result.update(failed=True, changed=False, msg="pmta_config: %s. Nothing was sent to the host." % exc)
            return result
        digest = hashlib.sha256(to_bytes(text if text.endswith("\n") else text + "\n")).hexdigest()
        if render_only:
            result.update(changed=False, sha256=digest, msg="configuration of %s rendered and proven against its host "
                          "view (%d lines, %d tenants)" % (view["host"].value, text.count("\n"), len(view["tenants"])))
            return result
        args["content"] = text
        result.update(self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars))
        return result
