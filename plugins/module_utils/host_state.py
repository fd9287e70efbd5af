# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a PowerMTA host keeps for mailfleet: read, observe and write its state files.

Standard library only: this runs on the PowerMTA host inside the ``host_state`` module.

* ``read``: one state file (``warmup-state.json`` or ``health-state.json``), never trusted: an
  empty (0-byte) or truncated file, invalid JSON or another version is corrupt, never "no state";
  each IP's state is checked on its own (the codecs of ``states.py``). Unreadable health is
  fail-closed (``states.read_health_file``).
* ``observe``: everything the controller plans from, in one SSH round trip -- the warmup state,
  the health state (fail-closed with the warmup state just read) and the accounting ledger brought
  up to date (``ledger_update.update``) -- as one mapping (:func:`observe`), which the role
  ``fleet_state`` publishes as the fact ``fleet_state_observed`` for ``states.observe_fleet`` on
  the controller.
* ``write``: replace a state file atomically (``atomic.py``), only outside check mode, with a
  diff; ``changed`` only when the content (or the mode) differs.

Every failure is a :class:`HostStateError` whose message names the file and the operation.
"""
from __future__ import absolute_import, division, print_function

import json
import os

from ansible_collections.mailfleet.fleet.plugins.module_utils import ledger_update
from ansible_collections.mailfleet.fleet.plugins.module_utils.atomic import atomic_write, parse_mode, read_text
from ansible_collections.mailfleet.fleet.plugins.module_utils.health import dump_health_states
from ansible_collections.mailfleet.fleet.plugins.module_utils.ledger import LedgerError
from ansible_collections.mailfleet.fleet.plugins.module_utils.states import (
    dump_states, read_health_file, read_state_file)

__metaclass__ = type

KINDS = ("warmup", "health")
FILE_NAMES = {"warmup": "warmup-state.json", "health": "health-state.json"}
DUMP = {"warmup": dump_states, "health": dump_health_states}
NO_ACCOUNTING = ("%s does not exist: PowerMTA has written no accounting file on this host yet, so its IPs have no "
                 "sending history (they stay at their current stage).")


class HostStateError(Exception):
    """A state file could not be read or written, or is corrupt where that is fatal. ``result``
    holds what is known (the module returns it with the failure)."""

    def __init__(self, msg, result=None):
        super(HostStateError, self).__init__(msg)
        self.msg = msg
        self.result = result or {}


def file_path(state_dir, kind):
    return os.path.join(state_dir, FILE_NAMES[kind])


def read(kind, path, ips=(), warmup_states=None):
    """One state file as found: ``{"path", "exists", "corrupt", "states", "problems", "refused",
    "text"}`` (``text`` None when absent). Raises HostStateError when the file exists but cannot
    be read at all (permissions, I/O error, not UTF-8)."""
    out = {"path": path, "exists": False, "corrupt": False, "states": {}, "problems": [], "refused": {},
           "text": None}
    try:
        text = read_text(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise HostStateError("%s state %s: cannot read the file: %s" % (kind, path, exc), _public(out))
    if kind == "health":
        found = read_health_file(text, list(ips or []), warmup_states or {})
    else:
        found = read_state_file(text)
    out.update(found, exists=text is not None, text=text, corrupt=bool(found["problems"] or found["refused"]))
    return out


def _public(found):
    """What a read returns to the controller (without the raw text)."""
    return {k: v for k, v in found.items() if k != "text"}


def corrupt_message(found):
    """The one line that says what of a state file cannot be used."""
    return "%s: %s; IP states refused: %s" % (
        found["path"], "; ".join(found["problems"]) or "readable",
        ", ".join(sorted(found["refused"])) or "none")


def _fail_if_corrupt(kind, found, on_corrupt):
    if found["corrupt"] and on_corrupt == "fail":
        refused = ["%s: %s" % (ip, "; ".join(r["problems"])) for ip, r in sorted(found["refused"].items())]
        raise HostStateError("%s state %s: corrupted state file: %s; fix or remove it, or read it with "
                             "on_corrupt=reset" % (kind, found["path"], "; ".join(found["problems"] + refused)),
                             _public(found))


def observe(state_dir, ips=(), ledger=None, on_corrupt="reset", check_mode=False, diff=False):
    """Everything the controller plans from, read on the host in one go.

    Returns ``(observed, changed, warnings, diff)``. ``observed`` is ``{"warmup": {ip: state},
    "warmup_file": {"path", "problems", "refused"}, "health": {ip: health}, "health_file": {...},
    "ledger": {ip: {day: ...}}, "ledger_read": bool, "ledger_files": [...]}`` -- what
    ``states.observe_fleet`` takes per host. ``ips`` are the host's IPs (their health is fail-closed
    when it cannot be read); ``ledger`` the options of the ledger run (``ledger_update.OPTIONS``,
    ``state_dir`` excepted) or None to leave the ledger alone; ``changed``/``diff`` are the
    ledger's (the only file an observation writes, outside check mode)."""
    warnings = []
    warm = read("warmup", file_path(state_dir, "warmup"))
    _fail_if_corrupt("warmup", warm, on_corrupt)
    health = read("health", file_path(state_dir, "health"), ips, warm["states"])
    _fail_if_corrupt("health", health, on_corrupt)
    warnings.extend(corrupt_message(found) for found in (warm, health) if found["corrupt"])
    observed = {
        "warmup": warm["states"],
        "warmup_file": {"path": warm["path"], "problems": warm["problems"], "refused": warm["refused"]},
        "health": health["states"],
        "health_file": {"path": health["path"], "problems": health["problems"], "refused": health["refused"]},
        "ledger": {}, "ledger_read": False, "ledger_files": [],
    }
    changed, ledger_diff = False, None
    if ledger is not None:
        options = dict((k, v) for k, v in ledger.items() if v is not None)
        options["state_dir"] = state_dir
        acct_dir = options.get("acct_dir") or ledger_update.OPTIONS["acct_dir"]
        if not os.path.isdir(acct_dir):
            warnings.append(NO_ACCOUNTING % acct_dir)
        else:
            try:
                result, notes = ledger_update.update(options, check_mode=check_mode, diff=diff)
            except LedgerError as exc:
                raise HostStateError("ledger in %s: %s" % (state_dir, exc))
            warnings.extend(notes)
            observed.update(ledger=result["ledger"], ledger_read=True, ledger_files=result["files"])
            changed, ledger_diff = result["changed"], result.get("diff")
    return observed, changed, warnings, ledger_diff


def write(kind, path, states, mode, check_mode=False, diff=False):
    """Replace the state file with ``states`` (atomically, outside check mode). Returns the
    module's result: the file as it was (``exists``, ``corrupt``, ``problems``, ``refused``), the
    ``states`` written (as a later read returns them), ``changed`` and, with ``diff``, the diff."""
    found = read(kind, path)
    result = dict(_public(found), changed=False)
    try:
        mode = parse_mode(mode)
        new_states = json.loads(json.dumps(states))  # what is written is what a later read returns
        new_text = DUMP[kind](new_states)
    except (TypeError, ValueError) as exc:
        raise HostStateError("%s state %s: write refused, invalid states or mode: %s" % (kind, path, exc), result)
    changed = new_text != found["text"]
    if found["text"] is not None and not changed:
        try:
            changed = (os.stat(path).st_mode & 0o7777) != mode
        except OSError:
            changed = True
    result.update(changed=changed, states=new_states)
    if diff:
        result["diff"] = {"before": found["text"] if found["text"] is not None else "", "after": new_text,
                          "before_header": path, "after_header": path}
    if changed and not check_mode:
        try:
            atomic_write(path, new_text, mode, makedirs=True)
        except OSError as exc:
            raise HostStateError("%s state %s: write failed: %s" % (kind, path, exc), result)
    return result


def run(params, check_mode=False, diff=False):
    """The module's work for its parameters: ``(result, warnings)``; raises HostStateError."""
    p = params
    if p["state"] == "observe":
        observed, changed, warnings, ledger_diff = observe(p["state_dir"], p["ips"], p["ledger"], p["on_corrupt"],
                                                           check_mode, diff)
        result = {"changed": changed, "observed": observed}
        if p["fact"]:
            result["ansible_facts"] = {p["fact"]: observed}
        if ledger_diff:
            result["diff"] = ledger_diff
        return result, warnings
    path = p["path"] or file_path(p["state_dir"], p["kind"])
    if p["state"] == "write":
        return write(p["kind"], path, p["states"], p["mode"], check_mode, diff), []
    found = read(p["kind"], path, p["ips"], p["warmup_states"])
    _fail_if_corrupt(p["kind"], found, p["on_corrupt"])
    return dict(_public(found), changed=False), []
