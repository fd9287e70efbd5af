# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Health state: standby/resume from DNSBL results, DNS-auth regressions, events (pure Python).

Inputs are plain dicts, outputs are new plain dicts; nothing here does I/O.

Per-IP state (``state["ips"][ip]``; the warmup planner reads ``standby``, ``reason`` and ``listed``)::

    {"standby": bool, "reason": str, "listed": [zones listed now, sorted],
     "listings": {zone: {"since": ts, "code": str, "critical": bool}},
     "standby_since": ts | None, "clean_streak": int, "last_checked": ts}

Rules:

* a listing on a *critical* zone puts the IP on standby at once;
* ``unknown`` / ``error`` results never change anything (a zone keeps its last known verdict);
* an IP on standby resumes after ``resume_after`` consecutive runs in which every critical zone
  answered ``clean`` for it; any critical listing resets the count; a run where some critical zone
  was unknown/error neither advances nor resets it (no flapping);
* listings on non-critical zones are tracked and alerted (``new_listing``/``delisted``) but do not
  cause standby.

Events carry a stable ``id`` that only depends on the IP/zone/subject and the *start* of the
episode, so re-running a day emits nothing new, and alerts can dedupe on ``id``::

    new_listing:<ip>:<zone>:<since>    delisted:<ip>:<zone>:<since>
    standby:<ip>:<since>               resume:<ip>:<standby_since>
    dns_auth_regression:<subject>:<check>:<since>
"""
from __future__ import absolute_import, division, print_function

import copy
import datetime
import json

__metaclass__ = type

DEFAULT_RESUME_AFTER = 3
EVENT_TYPES = ("new_listing", "standby", "resume", "delisted", "dns_auth_regression")
_SEVERITY_RANK = {"ok": 0, "warn": 1, "fail": 2}


def run_id(now=None):
    """The id of a health run: ``now`` (default: the current time) in UTC, ``YYYY-MM-DDTHH:MM:SSZ``."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return now.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def critical_zones(zones):
    """Zone config (list of dicts/strings, or dict zone → settings) → set of critical zone names."""
    if zones is None:
        return set()
    if isinstance(zones, dict):
        items = [dict(v or {}, zone=k) for k, v in zones.items()]
    else:
        items = [z if isinstance(z, dict) else {"zone": z} for z in zones]
    return {str(z["zone"]).rstrip(".").lower() for z in items if z.get("critical")}


def _zone_names(zones):
    if zones is None:
        return None
    if isinstance(zones, dict):
        return {str(k).rstrip(".").lower() for k in zones}
    return {str(z["zone"] if isinstance(z, dict) else z).rstrip(".").lower() for z in zones}


def _new_ip_state():
    return {"standby": False, "reason": "", "listed": [], "listings": {}, "standby_since": None,
            "clean_streak": 0, "last_checked": None}


def _event(etype, eid, ip=None, zone=None, subject=None, message="", **extra):
    ev = {"id": eid, "type": etype, "message": message}
    if ip is not None:
        ev["ip"] = ip
    if zone is not None:
        ev["zone"] = zone
    if subject is not None:
        ev["subject"] = subject
    ev.update(extra)
    return ev


def _reason(listings):
    crit = sorted(z for z, info in listings.items() if info.get("critical"))
    if not crit:
        return ""
    return "listed on " + ", ".join("%s (%s)" % (z, listings[z].get("code") or "?") for z in crit)


def evaluate_dnsbl(previous, results, zones, now, resume_after=DEFAULT_RESUME_AFTER):
    """previous ``{ip: ip_state}`` + this run's DNSBL results + zone config → (new ``{ip: state}``,
    events). ``now`` is the run timestamp (string, e.g. ISO 8601) used as episode start.

    ``zones``: the configured zones (critical flags come from here, not from the results). Listings
    on zones no longer configured are dropped (with a ``delisted`` event). IPs present in
    ``previous`` but absent from ``results`` are carried over unchanged.
    """
    if int(resume_after) < 1:
        raise ValueError("resume_after must be >= 1")
    crit = critical_zones(zones)
    configured = _zone_names(zones)
    state = copy.deepcopy(previous or {})
    events = []
    by_ip = {}
    for r in results:
        if "ip" in r:  # domain-list results (DBL) are evaluate_domains' business
            by_ip.setdefault(r["ip"], []).append(r)

    for ip in sorted(by_ip):
        st = state.get(ip) or _new_ip_state()
        for key, val in _new_ip_state().items():
            st.setdefault(key, copy.deepcopy(val))
        listings = st["listings"]
        for info_zone in list(listings):
            listings[info_zone]["critical"] = info_zone in crit
            if configured is not None and info_zone not in configured:
                info = listings.pop(info_zone)
                events.append(_event(
                    "delisted", "delisted:%s:%s:%s" % (ip, info_zone, info.get("since")), ip=ip,
                    zone=info_zone, message="%s: zone %s is no longer checked; listing since %s dropped"
                    % (ip, info_zone, info.get("since"))))

        crit_clean = set()
        for r in by_ip[ip]:
            zone = str(r["zone"]).rstrip(".").lower()
            status = r["status"]
            is_crit = zone in crit
            if status == "listed":
                if zone not in listings:
                    listings[zone] = {"since": now, "code": r.get("code"), "critical": is_crit}
                    events.append(_event(
                        "new_listing", "new_listing:%s:%s:%s" % (ip, zone, now), ip=ip, zone=zone,
                        code=r.get("code"), critical=is_crit, meaning=r.get("meaning", ""),
                        reason=r.get("reason"),
                        message="%s newly listed on %s%s: %s%s" % (
                            ip, zone, " (critical)" if is_crit else "", r.get("code"),
                            (" — " + r["meaning"]) if r.get("meaning") else "")))
                else:
                    listings[zone]["code"] = r.get("code") or listings[zone].get("code")
            elif status == "clean":
                if is_crit:
                    crit_clean.add(zone)
                if zone in listings:
                    info = listings.pop(zone)
                    events.append(_event(
                        "delisted", "delisted:%s:%s:%s" % (ip, zone, info.get("since")), ip=ip, zone=zone,
                        message="%s no longer listed on %s (listed since %s)" % (ip, zone, info.get("since"))))
            # unknown / error: keep the zone's last known verdict

        critical_listed = sorted(z for z, info in listings.items() if info.get("critical"))
        if critical_listed:
            st["clean_streak"] = 0
            if not st["standby"]:
                st["standby"] = True
                st["standby_since"] = now
                events.append(_event(
                    "standby", "standby:%s:%s" % (ip, now), ip=ip, zones=critical_listed,
                    message="%s put on standby: %s" % (ip, _reason(listings))))
            st["reason"] = _reason(listings)
        elif st["standby"]:
            all_clean = crit_clean == crit  # every critical zone answered clean this run
            if all_clean:
                st["clean_streak"] += 1
            if st["clean_streak"] >= int(resume_after):
                events.append(_event(
                    "resume", "resume:%s:%s" % (ip, st.get("standby_since")), ip=ip,
                    message="%s resumes after %d consecutive clean checks (standby since %s)"
                    % (ip, st["clean_streak"], st.get("standby_since"))))
                st["standby"] = False
                st["standby_since"] = None
                st["clean_streak"] = 0
                st["reason"] = ""
            else:
                st["reason"] = "delisted; waiting for %d consecutive clean checks (%d so far)" % (
                    int(resume_after), st["clean_streak"])
        else:
            st["reason"] = ""
        st["listed"] = sorted(listings)
        st["last_checked"] = now
        state[ip] = st
    return state, events


def evaluate_dns_auth(previous, audit_results, now):
    """Track DNS-auth check severities; emit ``dns_auth_regression`` when a check becomes ``fail``
    (from ok/warn or first seen failing). ``audit_results``: list of dicts with ``check``,
    ``subject`` and ``severity`` (see dnsauth.py). Returns (new state ``{key: {...}}``, events).
    A check that stays failing keeps its ``since`` and emits nothing again. An ``unknown`` check (no
    DNS answer) changes nothing: its last known verdict stays, no event, no new entry."""
    state = copy.deepcopy(previous or {})
    events = []
    for r in audit_results:
        key = "%s:%s" % (r["subject"], r["check"])
        sev = r.get("severity")
        if sev not in _SEVERITY_RANK:
            continue  # unknown (or anything that is not a verdict): keep the last known one
        old = state.get(key) or {}
        old_sev = old.get("severity")
        if sev == "fail" and old_sev != "fail":
            since = now
            events.append(_event(
                "dns_auth_regression", "dns_auth_regression:%s:%s" % (key, since),
                subject=r["subject"], check=r["check"], previous=old_sev,
                message="DNS auth %s for %s now fails%s: %s" % (
                    r["check"], r["subject"], (" (was %s)" % old_sev) if old_sev else "",
                    "; ".join(r.get("messages") or []))))
        elif sev == "fail":
            since = old.get("since") or now
        else:
            since = now if sev != old_sev else (old.get("since") or now)
        state[key] = {"severity": sev, "since": since, "subject": r["subject"], "check": r["check"]}
    return state, events


def evaluate_domains(previous, results, zones, now):
    """Domain-list (Spamhaus DBL) listings of the sending domains: tracked per domain and zone and
    alerted (``new_listing`` / ``delisted`` with ``domain``), never a standby (a domain listing is
    not an IP's). ``unknown`` / ``error`` change nothing. Returns (``{domain: {"listings": {...},
    "listed": [...]}}``, events)."""
    configured = _zone_names(zones)
    state = copy.deepcopy(previous or {})
    events = []
    by_domain = {}
    for r in results:
        if "domain" in r:
            by_domain.setdefault(r["domain"], []).append(r)
    for domain in sorted(by_domain):
        st = state.setdefault(domain, {"listings": {}, "listed": []})
        listings = st.setdefault("listings", {})
        for zone in list(listings):
            if configured is not None and zone not in configured:
                info = listings.pop(zone)
                events.append(_event("delisted", "delisted:%s:%s:%s" % (domain, zone, info.get("since")),
                                     zone=zone, domain=domain,
                                     message="%s: zone %s is no longer checked; listing since %s dropped"
                                     % (domain, zone, info.get("since"))))
        for r in by_domain[domain]:
            zone = str(r["zone"]).rstrip(".").lower()
            if r["status"] == "listed" and zone not in listings:
                listings[zone] = {"since": now, "code": r.get("code")}
                events.append(_event("new_listing", "new_listing:%s:%s:%s" % (domain, zone, now), zone=zone,
                                     domain=domain, code=r.get("code"), meaning=r.get("meaning", ""),
                                     message="sending domain %s newly listed on %s: %s%s" % (
                                         domain, zone, r.get("code"),
                                         (" — " + r["meaning"]) if r.get("meaning") else "")))
            elif r["status"] == "clean" and zone in listings:
                info = listings.pop(zone)
                events.append(_event("delisted", "delisted:%s:%s:%s" % (domain, zone, info.get("since")),
                                     zone=zone, domain=domain,
                                     message="sending domain %s no longer listed on %s (listed since %s)"
                                     % (domain, zone, info.get("since"))))
        st["listed"] = sorted(listings)
    return state, events


def evaluate(previous, dnsbl_results, zones, now, resume_after=DEFAULT_RESUME_AFTER, audit_results=None):
    """Whole health state: ``{"ips": {...}, "dns_auth": {...}, "domains": {...} (DBL, when any),
    "updated": now}`` -> (state, events)."""
    previous = previous or {}
    ips, events = evaluate_dnsbl(previous.get("ips") or {}, dnsbl_results, zones, now, resume_after)
    domains, dom_events = evaluate_domains(previous.get("domains") or {}, dnsbl_results, zones, now)
    events.extend(dom_events)
    auth = previous.get("dns_auth") or {}
    if audit_results is not None:
        auth, auth_events = evaluate_dns_auth(auth, audit_results, now)
        events.extend(auth_events)
    out = {"ips": ips, "dns_auth": auth, "updated": now}
    if domains:
        out["domains"] = domains
    return out, events


def planner_view(state):
    """Health state → the warmup planner's input ``{ip: {"standby", "reason", "listed"}}``.

    An IP is on standby when a critical listing put it there, or while ``fcrdns_block`` holds a
    new IP out of service (see :func:`fcrdns_gate`).
    """
    ips = state.get("ips", state) if isinstance(state, dict) else {}
    view = {}
    for ip, s in ips.items():
        blocked = s.get("fcrdns_block")
        reason = s.get("reason", "") if s.get("standby") else (blocked or "")
        view[ip] = {"standby": bool(s.get("standby") or blocked), "reason": reason,
                    "listed": list(s.get("listed") or [])}
    return view


def fcrdns_gate(ips, audit_results, warmup_states, enabled=True):
    """Keep a new IP (one that never sent) out of service while its FCrDNS is broken.

    ``ips``: the health state per IP (updated copy returned); ``audit_results``: the DNS
    authentication results (check ``fcrdns``, severity ``fail`` on a real DNS answer; timeouts are
    unknown and change nothing); ``warmup_states``: the stored warmup state per IP. An IP already in
    service (it sent, or its last plan gave it a cap) keeps sending: a broken PTR is then alerted
    as a DNS-auth regression, not a reason to drop it. The block lifts as soon as FCrDNS passes.
    """
    out = copy.deepcopy(ips or {})
    # only verdicts on real answers count: an unknown FCrDNS (timeout, SERVFAIL, ...) says nothing
    answered = (None, "NOERROR", "NXDOMAIN", "NODATA")
    fcr = [r for r in audit_results or [] if r.get("check") == "fcrdns"]
    broken = {r["subject"]: "; ".join(r.get("messages") or []) for r in fcr
              if r.get("severity") == "fail" and (r.get("details") or {}).get("rcode") in answered}
    unknown = {r["subject"] for r in fcr} - set(broken) - {
        r["subject"] for r in fcr if r.get("severity") in ("ok", "warn")}
    for ip in set(out) | set(broken):
        state = out.setdefault(ip, _new_ip_state())
        if ip in unknown:
            continue  # unknown never changes state
        warm = (warmup_states or {}).get(ip) or {}
        new_ip = not warm.get("last_sent") and not warm.get("daily")
        if enabled and ip in broken and new_ip:
            state["fcrdns_block"] = "FCrDNS broken, not brought into service: %s" % broken[ip]
        else:
            state.pop("fcrdns_block", None)
    return out


def worst(severities):
    """Worst of ok/warn/fail; ``unknown`` is not a verdict and is left out (anything else is fail)."""
    best = "ok"
    for s in severities:
        if s == "unknown":
            continue
        if _SEVERITY_RANK.get(s, 2) > _SEVERITY_RANK[best]:
            best = s if s in _SEVERITY_RANK else "fail"
    return best


HEALTH_STATE_VERSION = 1


def load_health_states(text):
    """Parse a host's health state file: ``{"version": 1, "ips": {ip: state}}`` -> ``{ip: state}``."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ValueError("not JSON: %s" % exc)
    if not isinstance(doc, dict) or doc.get("version") != HEALTH_STATE_VERSION or not isinstance(doc.get("ips"), dict):
        raise ValueError("expected {\"version\": %d, \"ips\": {...}}" % HEALTH_STATE_VERSION)
    for ip, state in doc["ips"].items():
        if not isinstance(state, dict):
            raise ValueError("state of %s is not a mapping" % ip)
    return doc["ips"]


def dump_health_states(states):
    """Deterministic text of a host's health state file."""
    return json.dumps({"version": HEALTH_STATE_VERSION, "ips": states}, sort_keys=True, indent=1) + "\n"
