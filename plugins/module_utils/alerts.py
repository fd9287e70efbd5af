# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Alerts for health events: Telegram and a generic JSON webhook, deduplicated by event id.

Controller side, on the project's one HTTP stack (``http_session``: ``requests`` with a pooled
session; an alert POST is not replayed once it may have reached the server - the dedupe state
retries it on the next run instead). Dedupe state is a JSON file on the controller::

    {"sent": {"<channel>|<event id>": "<UTC timestamp sent>"}}

An event is sent once per channel; a failed send is not recorded, so the next run retries it.
The file is written atomically (temp file + rename in the same directory) and never in check mode.
Secrets (the Telegram bot token, webhook headers) never appear in returned messages or errors.
"""
from __future__ import absolute_import, division, print_function

import datetime
import json
import os

from ansible_collections.mailfleet.fleet.plugins.module_utils.atomic import atomic_write
from ansible_collections.mailfleet.fleet.plugins.module_utils.http_session import (
    HttpConfigError, HttpSession, TransportError)
from ansible_collections.mailfleet.fleet.plugins.module_utils.module_run import ModuleFailure

__metaclass__ = type

TELEGRAM_API = "https://api.telegram.org"
EVENT_ICONS = {"new_listing": "[LISTED]", "standby": "[STANDBY]", "resume": "[RESUME]",
               "delisted": "[DELISTED]", "dns_auth_regression": "[DNS-AUTH]", "deploy_failed": "[DEPLOY-FAILED]"}


class AlertError(Exception):
    """A channel failed; the message never contains a secret."""


def redact(text, secrets):
    text = str(text)
    for s in secrets or []:
        if s:
            text = text.replace(str(s), "***")
    return text


def format_event(event, prefix="mailfleet"):
    """One event → plain text message."""
    icon = EVENT_ICONS.get(event.get("type"), "[%s]" % str(event.get("type", "event")).upper())
    body = event.get("message") or ", ".join("%s=%s" % (k, v) for k, v in sorted(event.items()) if k != "id")
    return "%s %s %s\n(id: %s)" % (prefix, icon, body, event.get("id"))


# ---- dedupe state -------------------------------------------------------------------------------
def load_state(path):
    if not path or not os.path.exists(path):
        return {"sent": {}}
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    if not isinstance(data, dict) or not isinstance(data.get("sent", {}), dict):
        raise ValueError("alert state %s is not a mailfleet alert state file" % path)
    data.setdefault("sent", {})
    return data


def save_state(path, state):
    """Atomic write of the alert state (mode 0600)."""
    atomic_write(path, json.dumps(state, indent=2, sort_keys=True) + "\n", 0o600, makedirs=True)


def _key(channel, event_id):
    return "%s|%s" % (channel, event_id)


def pending(events, state, channel):
    """Events not yet sent on channel (and each id once even if repeated in the input)."""
    sent = state.get("sent", {})
    out, seen = [], set()
    for ev in events:
        eid = ev.get("id")
        if not eid:
            raise ValueError("every event needs an 'id'")
        if _key(channel, eid) in sent or eid in seen:
            continue
        seen.add(eid)
        out.append(ev)
    return out


def prune(state, now, retain_days):
    """Drop dedupe entries older than retain_days (ids embed the episode start, so they do not recur)."""
    if not retain_days:
        return state
    cutoff = now - datetime.timedelta(days=int(retain_days))
    keep = {}
    for k, ts in state.get("sent", {}).items():
        try:
            when = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ")
        except (TypeError, ValueError):
            keep[k] = ts
            continue
        if when >= cutoff:
            keep[k] = ts
    state["sent"] = keep
    return state


# ---- transports ---------------------------------------------------------------------------------
def make_session(timeout=10.0, http_options=None):
    """The HTTP session of one dispatch (pooled; POSTs never replayed; TLS/proxy options)."""
    options = dict(http_options or {})
    options.setdefault("timeout", timeout)
    try:
        return HttpSession(options, retries=2, user_agent="mailfleet-alert/1")
    except HttpConfigError as exc:
        raise AlertError("alerts: %s" % exc)


def _post_json(url, payload, headers=None, timeout=10.0, secrets=(), what="webhook", session=None):
    data = json.dumps(payload).encode("utf-8")
    hdrs = {"Content-Type": "application/json"}
    hdrs.update(headers or {})
    own = session is None
    session = session or make_session(timeout)
    try:
        resp = session.send("POST", url, hdrs, data, idempotent=False)
    except TransportError as exc:
        raise AlertError(redact("%s POST failed: %s" % (what, exc), secrets))
    finally:
        if own:
            session.close()
    if not 200 <= resp.status < 300:
        detail = resp.body[:200].decode("utf-8", "replace")
        raise AlertError(redact("%s POST failed: HTTP %s %s" % (what, resp.status, detail), secrets))
    return resp.status, resp.body


def send_telegram(token, chat_id, text, api_base=TELEGRAM_API, timeout=10.0, session=None):
    """POST {api_base}/bot{token}/sendMessage; raises AlertError (token redacted)."""
    if not token or not chat_id:
        raise AlertError("telegram: bot token and chat_id are required")
    url = "%s/bot%s/sendMessage" % (api_base.rstrip("/"), token)
    status, body = _post_json(url, {"chat_id": chat_id, "text": text, "disable_web_page_preview": True},
                              timeout=timeout, secrets=[token], what="telegram sendMessage",
                              session=session)
    try:
        parsed = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise AlertError("telegram sendMessage: HTTP %s with a non-JSON body" % status)
    if not parsed.get("ok"):
        raise AlertError(redact("telegram sendMessage refused: %s" % parsed.get("description", "ok=false"), [token]))
    return status


def send_webhook(url, event, text, headers=None, timeout=10.0, session=None):
    """POST a JSON body {"event": {...}, "text": "..."} to url."""
    secrets = list((headers or {}).values())
    status, _body = _post_json(url, {"source": "mailfleet", "event": event, "text": text}, headers=headers,
                               timeout=timeout, secrets=secrets, what="webhook", session=session)
    return status


# ---- dispatch -----------------------------------------------------------------------------------
def dispatch(events, channels, state_path=None, check_mode=False, now=None, retain_days=400, timeout=10.0,
             prefix="mailfleet", http_options=None):
    """Send every new event on every channel.

    channels: ``{"telegram": {"token", "chat_id", "api_base"}, "webhook": {"url", "headers"}}``
    (either may be absent). Returns ``{"sent": [{"id", "channel"}], "would_send": [...],
    "skipped": [ids already sent], "failed": [{"id", "channel", "error"}], "state_changed": bool}``.
    """
    now = now or datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0, tzinfo=None)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    state = load_state(state_path)
    before = json.dumps(state, sort_keys=True)
    prune(state, now, retain_days)
    out = {"sent": [], "would_send": [], "skipped": [], "failed": []}
    active = [(name, cfg) for name, cfg in sorted((channels or {}).items()) if cfg]
    if not active:
        raise ValueError("no alert channel configured (telegram and/or webhook)")
    session = None if check_mode else make_session(timeout, http_options)
    try:
        _send_all(events, active, state, out, stamp, prefix, timeout, check_mode, session)
    finally:
        if session is not None:
            session.close()
    changed = json.dumps(state, sort_keys=True) != before
    if changed and state_path and not check_mode:
        save_state(state_path, state)
    out["state_changed"] = changed
    return out


def _send_all(events, active, state, out, stamp, prefix, timeout, check_mode, session):
    for name, cfg in active:
        todo = pending(events, state, name)
        todo_ids = {e["id"] for e in todo}
        out["skipped"].extend({"id": e["id"], "channel": name} for e in events if e["id"] not in todo_ids)
        for ev in todo:
            text = format_event(ev, prefix)
            if check_mode:
                out["would_send"].append({"id": ev["id"], "channel": name})
                continue
            try:
                if name == "telegram":
                    send_telegram(cfg["token"], cfg["chat_id"], text, cfg.get("api_base") or TELEGRAM_API,
                                  timeout, session=session)
                elif name == "webhook":
                    send_webhook(cfg["url"], ev, text, cfg.get("headers"), timeout, session=session)
                else:
                    raise AlertError("unknown channel %s" % name)
            except AlertError as exc:
                secrets = [cfg.get("token")] + list((cfg.get("headers") or {}).values())
                out["failed"].append({"id": ev["id"], "channel": name, "error": redact(exc, secrets)})
                continue
            state["sent"][_key(name, ev["id"])] = stamp
            out["sent"].append({"id": ev["id"], "channel": name})


# ---- the mailfleet_alert module -----------------------------------------------------------------
def alert_task(params, check_mode=False, diff=False, now=None):
    """The run of ``mailfleet.fleet.mailfleet_alert``: ``params`` are its options. Sends every new
    event through :func:`dispatch` and returns the module's result (with ``diff``: the sent-keys of
    the state file before and after); raises ModuleFailure when an event has no id, the state file
    cannot be read or written, or (``fail_on_error``) an alert could not be sent."""
    state_path = params["state_path"]
    for ev in params["events"]:
        if not ev.get("id"):
            raise ModuleFailure("mailfleet_alert: every event needs an id: %r" % (ev,))
    try:
        before = load_state(state_path)
    except (OSError, ValueError) as exc:
        raise ModuleFailure("mailfleet_alert: reading state %s failed: %s" % (state_path, exc))
    try:
        out = dispatch(params["events"], {"telegram": params["telegram"], "webhook": params["webhook"]},
                       state_path=state_path, check_mode=check_mode, now=now, timeout=params["timeout"],
                       prefix=params["prefix"], retain_days=params["retain_days"])
    except (OSError, ValueError) as exc:
        raise ModuleFailure("mailfleet_alert: writing state %s failed: %s" % (state_path, exc))
    result = dict(changed=bool(out["sent"] or out["would_send"]), sent=out["sent"], would_send=out["would_send"],
                  skipped=out["skipped"], failed=out["failed"])
    if diff:
        new_keys = [_key(s["channel"], s["id"]) for s in out["sent"] + out["would_send"]]
        result["diff"] = {"before": "\n".join(sorted(before["sent"])) + "\n",
                          "after": "\n".join(sorted(set(before["sent"]) | set(new_keys))) + "\n",
                          "before_header": state_path, "after_header": state_path}
    if out["failed"] and params["fail_on_error"]:
        raise ModuleFailure("mailfleet_alert: %d alert(s) could not be sent: %s" % (
            len(out["failed"]), "; ".join("%s via %s: %s" % (f["id"], f["channel"], f["error"]) for f in out["failed"])),
            **result)
    return result
