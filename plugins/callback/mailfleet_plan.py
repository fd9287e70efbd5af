# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Callback: record what a --check --diff run would change, per host, as JSON (for `make plan`)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: mailfleet_plan
type: notification
short_description: Record the changes a check-mode run would make, per host, with their diffs
description:
  - A notification callback (enable it with C(ANSIBLE_CALLBACKS_ENABLED=mailfleet.fleet.mailfleet_plan));
    the normal stdout callback keeps printing the run log.
  - For every task result that reports C(changed) (per loop item when the task loops) it records
    the play, the task, the module, the item label and the diff (unified text, as the default
    callback prints it); failed and unreachable hosts are recorded too, with their message.
  - >-
    At the end of the playbook it writes one JSON document to O(path)
    C({playbook, check_mode, hosts: {HOST: {ok, changed, failures, unreachable, skipped}},
    changes: [{host, play, task, action, item, diff}], failures: [{host, task, kind, msg}]}),
    which C(scripts/plan_summary.py) turns into the readable plan.
version_added: "0.1.0"
author: mailfleet maintainers (@mailfleet)
requirements:
  - enable in ansible.cfg or with ANSIBLE_CALLBACKS_ENABLED
options:
  path:
    description: The JSON file to write (nothing is written when unset).
    type: path
    env:
      - name: MAILFLEET_PLAN_JSON
"""

import json
import os

from ansible.plugins.callback import CallbackBase

try:
    from ansible.module_utils.common.text.converters import to_text
except ImportError:  # pragma: no cover
    from ansible.module_utils._text import to_text


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "mailfleet.fleet.mailfleet_plan"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self._playbook = None
        self._play = None
        self._changes = []
        self._failures = []
        self._check_mode = None

    # ----------------------------------------------------------------------------------------
    def v2_playbook_on_start(self, playbook):
        self._playbook = to_text(getattr(playbook, "_file_name", "") or "")

    def v2_playbook_on_play_start(self, play):
        self._play = to_text(play.get_name()).strip()
        if self._check_mode is None:
            try:
                from ansible import context
                self._check_mode = bool(context.CLIARGS.get("check"))
            except Exception:  # pragma: no cover
                self._check_mode = None

    def _task_name(self, result):
        task = result._task
        return to_text(task.get_name()).strip(), to_text(getattr(task, "action", "") or "")

    def _diff_text(self, res):
        diff = res.get("diff")
        if not diff:
            return ""
        try:
            return to_text(self._get_diff(diff))
        except Exception as exc:  # never break a run for a report
            return "(diff not readable: %s)" % exc

    def _record_change(self, result, res, item=None):
        if not res.get("changed"):
            return
        name, action = self._task_name(result)
        entry = {"host": to_text(result._host.get_name()), "play": self._play, "task": name,
                 "action": action, "item": None, "diff": self._diff_text(res)}
        if item is not None:
            label = res.get("_ansible_item_label", item)
            entry["item"] = to_text(label if isinstance(label, str) else json.dumps(label, sort_keys=True,
                                                                                    default=str))
        self._changes.append(entry)

    def _record_failure(self, result, res, kind):
        name, _action = self._task_name(result)
        msg = res.get("msg") or res.get("stderr") or res.get("reason") or kind
        self._failures.append({"host": to_text(result._host.get_name()), "task": name, "kind": kind,
                               "msg": to_text(msg)})

    # ----------------------------------------------------------------------------------------
    def v2_runner_on_ok(self, result):
        res = result._result
        if "results" in res and isinstance(res["results"], list):
            return  # loop: items were recorded one by one
        self._record_change(result, res)

    def v2_runner_item_on_ok(self, result):
        res = result._result
        self._record_change(result, res, item=res.get("item", ""))

    def v2_runner_on_failed(self, result, ignore_errors=False):
        if not ignore_errors:
            self._record_failure(result, result._result, "failed")

    def v2_runner_item_on_failed(self, result):
        self._record_failure(result, result._result, "failed")

    def v2_runner_on_unreachable(self, result):
        self._record_failure(result, result._result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        path = self.get_option("path")
        if not path:
            return
        hosts = {}
        for host in sorted(stats.processed):
            s = stats.summarize(host)
            hosts[host] = {k: s.get(k, 0) for k in ("ok", "changed", "failures", "unreachable", "skipped")}
        doc = {"playbook": self._playbook, "check_mode": self._check_mode, "hosts": hosts,
               "changes": self._changes, "failures": self._failures}
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            os.makedirs(directory)
        tmp = path + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(doc, fh, indent=1, sort_keys=True)
            fh.write("\n")
        os.replace(tmp, path)
