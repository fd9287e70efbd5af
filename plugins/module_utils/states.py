# -*- coding: utf-8 -*-
"""The warmup state file of a PowerMTA host: its codec (load / dump / validate).

Pure Python, standard library only: the ``warmup_state`` module runs it on PowerMTA hosts.

The file is ``{"version": 1, "ips": {address: state}}`` with, per IP::

    {"version": 1, "stage_index": int >= 0 (0-based; len(stages) = warm), "stage_since": date,
     "standby": bool, "standby_since": date|None, "last_sent": date|None,
     "rewarm": None | {"after": date, "periods": int}, "planned_on": date|None,
     "action": str|None, "daily": int, "base": state|None}

``base`` is the state the day's first plan started from (see ``warmup.plan_ip``, rule 1).
"""
from __future__ import absolute_import, division, print_function

import json

from ansible_collections.mailfleet.fleet.plugins.module_utils.grammar import is_int, parse_date, typename

__metaclass__ = type

STATE_VERSION = 1

_STATE_KEYS = {"version", "stage_index", "stage_since", "standby", "standby_since", "last_sent", "rewarm",
               "planned_on", "action", "daily", "base"}


def new_state(stage, today_s):
    """A fresh per-IP state at 0-based ``stage`` starting ``today_s``."""
    return {
        "version": STATE_VERSION,
        "stage_index": stage,
        "stage_since": today_s,
        "standby": False,
        "standby_since": None,
        "last_sent": None,
        "rewarm": None,
        "planned_on": None,
        "action": None,
        "daily": 0,
        "base": None,
    }


def _check_date(value, what, allow_none=True):
    if value is None and allow_none:
        return
    if not isinstance(value, str):
        raise ValueError("%s must be a YYYY-MM-DD date, got %s" % (what, typename(value)))
    if parse_date(value) is None:
        raise ValueError("%s must be a YYYY-MM-DD date, got %r" % (what, value))


def validate_state(state, what="state"):
    """Raise ValueError (with a precise message) unless ``state`` is a valid per-IP state."""
    if not isinstance(state, dict):
        raise ValueError("%s must be a mapping, got %s" % (what, typename(state)))
    if state.get("version") != STATE_VERSION:
        raise ValueError("%s: unsupported version %r (expected %d)" % (what, state.get("version"), STATE_VERSION))
    if not is_int(state.get("stage_index")) or state["stage_index"] < 0:
        raise ValueError("%s: stage_index must be an integer >= 0, got %s" % (what, typename(state.get("stage_index"))))
    _check_date(state.get("stage_since"), what + ".stage_since", allow_none=False)
    for key in ("standby_since", "last_sent", "planned_on"):
        _check_date(state.get(key), "%s.%s" % (what, key))
    if not isinstance(state.get("standby", False), bool):
        raise ValueError("%s: standby must be a boolean" % what)
    rw = state.get("rewarm")
    if rw is not None and (not isinstance(rw, dict) or not is_int(rw.get("periods"))):
        raise ValueError("%s: rewarm must be null or {after, periods}" % what)
    if state.get("base") is not None:
        validate_state(state["base"], what + ".base")


def load_states(text):
    """Parse a warmup state file: ``{"version": 1, "ips": {ip: state}}`` -> {ip: state}.

    Empty text gives {}; anything malformed raises ValueError."""
    if text is None or not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError("not valid JSON: %s" % exc)
    if not isinstance(data, dict) or "ips" not in data:
        raise ValueError("expected an object with 'version' and 'ips'")
    if data.get("version") != STATE_VERSION:
        raise ValueError("unsupported state file version %r (expected %d)" % (data.get("version"), STATE_VERSION))
    ips = data["ips"]
    if not isinstance(ips, dict):
        raise ValueError("'ips' must be an object ip -> state")
    for ip, st in ips.items():
        validate_state(st, "ips[%s]" % ip)
    return ips


def dump_states(states):
    """Serialise {ip: state} deterministically (sorted keys, trailing newline)."""
    for ip, st in (states or {}).items():
        validate_state(st, "ips[%s]" % ip)
    return json.dumps({"version": STATE_VERSION, "ips": states or {}}, sort_keys=True, indent=1,
                      separators=(",", ": ")) + "\n"
