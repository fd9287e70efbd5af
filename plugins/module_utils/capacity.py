# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The capacity contract: every number PowerMTA, MailWizz, the campaign gate, the report and the
metrics must agree on, defined once.

Pure Python, standard library only, no import from the rest of mailfleet (it is the base the
planner, the renderer, the MailWizz bridge, the reports, the metrics and modules running on
PowerMTA hosts build on).

Definitions
-----------
* **providers** -- :data:`PROVIDERS`: ``gmail``, ``microsoft``, ``yahoo``, ``other``.
* **outcomes** -- :data:`OUTCOMES`, the ledger counters the planner reads, per day x IP x provider:
  ``delivered``, ``hard_bounce``, ``soft_bounce``, ``deferred``, ``complaint``, and
  ``async_bounce`` (read with ``.get``: older ledgers lack it) -- the part of the bounces that
  are remote (``rb``) bounces of messages the ledger also counted as ``delivered`` when the MX
  accepted them. Other counters (``remote_status``, ``deferred_queue``, reply ``classes``) are
  not volume.
* **reply classes** -- the ledger's ``classes`` (``replies.py``) of every bounce, deferral and
  remote bounce; two of them are signals the planner judges: :data:`REPUTATION_CLASSES`
  (``rate_limited`` + ``reputation``: the receiver throttles or blocks the IP or domain) and
  :data:`AUTH_CLASSES` (``auth``: SPF / DKIM / DMARC / PTR requirements not met).
* **attempted** = ``delivered + hard_bounce + soft_bounce - async_bounce``: messages that reached
  a final outcome, each once (what PowerMTA counts against ``max-msg-rate``). Deferrals are
  attempts of messages still queued; they are counted again when the message is delivered or
  bounced, so never in volume.
* **delivered** = ``delivered - async_bounce``: accepted and not bounced back later.
* **sending day** -- a day with ``attempted + deferred > 0`` (:func:`is_sending`).
* **fill volume** -- what counts toward a warmup stage's fill (:func:`fill_volume`): *delivered*
  (SparkPost advances an IP only when it *delivered* more than 90 % of its stage: bounces used
  the cap but prove nothing about the receivers' trust).
* **rates** (:func:`rates`): ``hard_bounce = hard_bounce / attempted`` (remote bounces included),
  ``complaint = complaint / delivered`` (Gmail's spam rate is relative to delivered mail),
  ``deferral = deferred / (attempted + deferred)``, ``reputation = replies classed rate_limited
  or reputation / (attempted + deferred)`` and ``auth_failure = replies classed auth / (attempted
  + deferred)`` (every try counts: a throttled IP is mostly deferred); ``None`` when there is
  nothing to divide by or fewer messages than the ``min_volume`` the caller judges on.

Caps (the caps contract, ``docs/DEVELOPMENT.md``)
-------------------------------------------------
``caps = {ip: {"daily", "providers": {p: int}, "standby", "stage", "reason"}}`` plus
``"unreachable": True`` for an IP whose host could not be read this run.

* :func:`stage_volume` -- the daily volume of a stage (``full_rate`` once warm);
* :func:`provider_caps` -- the per-provider caps of a daily cap, each provider at its own warmup
  stage (``stages``: a provider's cap is its share of *its* stage's volume, never above the IP's
  daily cap), the provider back-off applied: the only place provider caps are clamped;
* :func:`provider_fill_target` -- what one provider must deliver in a day to count toward its
  next stage;
* :func:`backoff_rate` -- the hourly rate PowerMTA falls back to while a provider throttles an IP
  (``backoff-max-msg-rate``), from that provider's cap today;
* :func:`ip_cap` -- an IP's caps entry from its stage, standby and back-off (the planner and the
  stored-state reader both call it, so PowerMTA and MailWizz get the same numbers);
* :func:`unreachable_cap` -- the entry of an IP whose host was not reachable: 0;
* :func:`effective_daily` / :func:`effective_provider_caps` -- what a caps entry allows today
  (0 when standby, unreachable, missing or negative);
* :func:`pool_capacity` / :func:`host_pool_capacity` -- a tenant's capacity (sum of its IPs'
  effective daily caps), over the fleet and per PowerMTA host;
* :func:`remaining_today` -- what the campaign gate may still inject today.
"""
from __future__ import absolute_import, division, print_function

import math

__metaclass__ = type

#: The mailbox providers, in the order every table uses.
PROVIDERS = ("gmail", "microsoft", "yahoo", "other")
#: The ledger counters of the capacity contract (per day x IP x provider).
OUTCOMES = ("delivered", "hard_bounce", "soft_bounce", "deferred", "complaint")
#: The part of the bounces already counted as delivered (remote bounces); not in older ledgers.
ASYNC = "async_bounce"
#: Reply classes (``replies.CLASSES``) that say the receiver throttles or distrusts the sender.
REPUTATION_CLASSES = ("rate_limited", "reputation")
#: Reply classes that say the sender's authentication (SPF, DKIM, DMARC, PTR) failed.
AUTH_CLASSES = ("auth",)
#: The reply-class counters of :func:`day_totals` / :class:`Tally` (not volume): replies classed
#: ``rate_limited``, ``reputation`` and ``auth``.
SIGNALS = ("rate_limited_replies", "reputation_replies", "auth_failures")
#: Rate names (keys of :func:`rates`).
RATES = ("hard_bounce", "complaint", "deferral", "reputation", "auth_failure")
#: Hours over which a provider's daily cap is spread while PowerMTA holds its queue in backoff
#: mode (``backoff-max-msg-rate``): the whole day's allowance at an even pace, instead of the
#: burst ``max-msg-rate N/d`` allows in normal mode (a day: never more than the cap a day).
BACKOFF_SPREAD_HOURS = 24


# --------------------------------------------------------------------------------------------
# Volume and rates
# --------------------------------------------------------------------------------------------
def _count(value):
    """A ledger counter as a non-negative int (anything unreadable counts 0)."""
    try:
        value = int(value or 0)
    except (TypeError, ValueError):
        return 0
    return value if value > 0 else 0


def attempted(counters):
    """``delivered + hard_bounce + soft_bounce - async_bounce`` of one ``{outcome: n}`` mapping."""
    return day_totals({"": counters})["attempted"]


def delivered(counters):
    """``delivered - async_bounce`` of one ``{outcome: n}`` mapping."""
    tot = day_totals({"": counters})
    return tot["delivered"] - tot[ASYNC]


def _signals(rec):
    """``(rate_limited, reputation, auth)`` replies of one ledger record's reply ``classes``."""
    classes = rec.get("classes") if isinstance(rec, dict) else None
    if not isinstance(classes, dict):
        return 0, 0, 0
    return (_count(classes.get("rate_limited")), _count(classes.get("reputation")),
            sum(_count(classes.get(c)) for c in AUTH_CLASSES))


def day_totals(day):
    """One ledger day ``{provider: {outcome: n}}`` -> the raw ``{outcome: n}`` (``async_bounce``
    included), ``attempted`` and the reply-class counters :data:`SIGNALS`."""
    out = dict.fromkeys(OUTCOMES + (ASYNC,) + SIGNALS, 0)
    for rec in (day or {}).values():
        rec = rec or {}
        for k in OUTCOMES + (ASYNC,):
            out[k] += _count(rec.get(k))
        for key, n in zip(SIGNALS, _signals(rec)):
            out[key] += n
    # a remote bounce cannot outnumber what was counted (a damaged ledger never adds volume)
    out[ASYNC] = min(out[ASYNC], out["delivered"], out["hard_bounce"] + out["soft_bounce"])
    out["attempted"] = out["delivered"] + out["hard_bounce"] + out["soft_bounce"] - out[ASYNC]
    return out


def _fields(totals):
    """(attempted, delivered, hard_bounce, deferred, complaint, reputation_replies, auth_failures)
    of a :func:`day_totals` mapping or a :class:`Tally` (read by attribute: the planner's hot
    path); delivered is net of the remote bounces."""
    if isinstance(totals, dict):
        return (totals["attempted"], totals["delivered"] - totals.get(ASYNC, 0), totals["hard_bounce"],
                totals["deferred"], totals["complaint"],
                totals.get("rate_limited_replies", 0) + totals.get("reputation_replies", 0),
                totals.get("auth_failures", 0))
    return (totals.attempted, totals.delivered - totals.remote_bounced, totals.hard_bounce, totals.deferred,
            totals.complaint, totals.rate_limited_replies + totals.reputation_replies, totals.auth_failures)


def is_sending(totals):
    """A sending day: something was attempted or deferred (:func:`day_totals` or a :class:`Tally`)."""
    att, _dlv, _hb, dfr, _cp, _rep, _auth = _fields(totals)
    return att + dfr > 0


def fill_volume(totals):
    """What counts toward a warmup stage's fill (``fill_ratio`` x the stage volume): *delivered*
    (delivered - async_bounce).

    SparkPost's auto-warmup advances an IP only when it *delivered* more than 90 % of its stage:
    a day of 50 % soft bounces used its cap but proved nothing about the receivers' trust (bounces
    and deferrals are judged by the rates). This is the one place that decides what "filled"
    means -- for an IP and for one provider alike."""
    return _fields(totals)[1]


def rates(totals, min_volume=0):
    """``{"hard_bounce", "complaint", "deferral", "reputation", "auth_failure"}`` of ``totals``
    (:func:`day_totals` or a :class:`Tally`); a rate is ``None`` below ``min_volume`` messages
    (attempted, or attempted + deferred for the rates over every try) or with nothing to divide
    by. The reply-class rates are never above 1 (a damaged ledger's classes cannot outnumber the
    tries)."""
    att, dlv, hb, dfr, cp, rep, auth = _fields(totals)
    judged = att >= min_volume and att > 0
    tries = att + dfr
    tried = tries >= min_volume and tries > 0
    return {
        "hard_bounce": hb / att if judged else None,
        "complaint": cp / dlv if judged and dlv > 0 else None,
        "deferral": dfr / tries if tried else None,
        "reputation": min(rep, tries) / tries if tried else None,
        "auth_failure": min(auth, tries) / tries if tried else None,
    }


class Tally:
    """A running sum of ledger counters (the planner adds thousands of days: kept lean)."""

    __slots__ = ("delivered", "hard_bounce", "soft_bounce", "deferred", "complaint", "async_bounce",
                 "rate_limited_replies", "reputation_replies", "auth_failures")

    def __init__(self):
        self.delivered = self.hard_bounce = self.soft_bounce = self.deferred = self.complaint = 0
        self.async_bounce = self.rate_limited_replies = self.reputation_replies = self.auth_failures = 0

    def add(self, rec):
        """Add one ``{outcome: n}`` mapping (the ledger's non-negative integers; its reply
        ``classes`` give the reply-class counters)."""
        g = rec.get
        self.delivered += g("delivered", 0) or 0
        self.hard_bounce += g("hard_bounce", 0) or 0
        self.soft_bounce += g("soft_bounce", 0) or 0
        self.deferred += g("deferred", 0) or 0
        self.complaint += g("complaint", 0) or 0
        self.async_bounce += g("async_bounce", 0) or 0
        if g("classes"):
            rl, rep, auth = _signals(rec)
            self.rate_limited_replies += rl
            self.reputation_replies += rep
            self.auth_failures += auth
        return self

    def add_day(self, day):
        """Add every provider of one ledger day."""
        for rec in (day or {}).values():
            self.add(rec or {})
        return self

    def merge(self, other):
        self.delivered += other.delivered
        self.hard_bounce += other.hard_bounce
        self.soft_bounce += other.soft_bounce
        self.deferred += other.deferred
        self.complaint += other.complaint
        self.async_bounce += other.async_bounce
        self.rate_limited_replies += other.rate_limited_replies
        self.reputation_replies += other.reputation_replies
        self.auth_failures += other.auth_failures
        return self

    @property
    def remote_bounced(self):
        """The remote bounces of delivered mail (never more than was counted)."""
        return min(self.async_bounce, self.delivered, self.hard_bounce + self.soft_bounce)

    @property
    def attempted(self):
        return self.delivered + self.hard_bounce + self.soft_bounce - self.remote_bounced

    def __getitem__(self, key):
        """``tally["attempted"]``: a Tally reads like :func:`day_totals`' mapping."""
        if key in OUTCOMES or key in SIGNALS or key in ("attempted", ASYNC):
            return getattr(self, key)
        raise KeyError(key)

    def totals(self):
        """The same mapping as :func:`day_totals`."""
        return {"delivered": self.delivered, "hard_bounce": self.hard_bounce, "soft_bounce": self.soft_bounce,
                "deferred": self.deferred, "complaint": self.complaint,
                ASYNC: self.remote_bounced, "attempted": self.attempted,
                "rate_limited_replies": self.rate_limited_replies, "reputation_replies": self.reputation_replies,
                "auth_failures": self.auth_failures}

    def rates(self, min_volume=0):
        return rates(self, min_volume)


def tenant_attempted(model, ledgers, day):
    """``{tenant: attempted on day}`` over the tenants' IPs (every tenant of the model)."""
    out = {name: 0 for name in (model.get("tenants") or {})}
    for address, ipinfo in (model.get("ips") or {}).items():
        tenant = ipinfo.get("tenant")
        if tenant is None:
            continue
        out[tenant] = out.get(tenant, 0) + day_totals(((ledgers or {}).get(address) or {}).get(day))["attempted"]
    return dict(sorted(out.items()))


# --------------------------------------------------------------------------------------------
# An IP's caps
# --------------------------------------------------------------------------------------------
def stage_volume(schedule, stage_index):
    """Daily volume of 0-based ``stage_index`` of a normalised schedule (``full_rate`` once warm)."""
    stages = schedule["stages"]
    if stage_index >= len(stages):
        return schedule.get("full_rate") or stages[-1]["volume"]
    return stages[stage_index]["volume"]


def _rule_cap(spec, volume):
    """A provider's cap for a daily ``volume`` under its schedule rule: ``share`` x volume
    (floored, but at least 1 message when the volume is not 0: a share never rounds a provider
    out of its warmup), or ``cap``, or the volume."""
    cap = volume
    if spec.get("share") is not None and volume > 0:
        cap = min(cap, max(1, int(math.floor(spec["share"] * volume + 1e-9))))
    if spec.get("cap") is not None:
        cap = min(cap, int(spec["cap"]))
    return cap


def provider_caps(schedule, daily, backoff=None, factor=0.5, stages=None):
    """Per-provider caps for ``daily``: for every provider, the smallest of daily and its
    schedule rule (``share`` x volume, floored and at least 1; ``cap``) applied to the volume of
    *its own* warmup stage (``stages``: ``{provider: 0-based stage}``; a provider without one is
    taken at the IP's ``daily``); providers in ``backoff`` are then multiplied by ``factor``
    (floored). Never above ``daily``, never < 0."""
    daily = max(0, int(daily))
    out = {}
    conf = schedule.get("providers") or {}
    n = len(schedule["stages"])
    for prov in PROVIDERS:
        volume = daily
        if stages and prov in stages and daily > 0:
            volume = min(daily, stage_volume(schedule, min(max(0, int(stages[prov])), n)))
        cap = _rule_cap(conf.get(prov) or {}, volume)
        if backoff and prov in backoff:
            cap = int(math.floor(cap * factor + 1e-9))
        out[prov] = max(0, min(cap, daily))
    return out


def backoff_factor(schedule):
    """The schedule's ``provider_backoff`` threshold (the factor of a backed-off provider)."""
    return (schedule.get("thresholds") or {}).get("provider_backoff", 0.5)


def provider_fill_target(schedule, stage_index, provider):
    """What ``provider`` must *deliver* in a day to count toward its next stage when it is at
    0-based ``stage_index``: ``provider_fill_ratio`` x its cap at that stage (before any back-off),
    at least 1 message -- a provider never sent to never advances."""
    ratio = (schedule.get("thresholds") or {}).get("provider_fill_ratio", 0.3)
    cap = provider_caps(schedule, stage_volume(schedule, stage_index))[provider]
    return max(1, int(math.ceil(ratio * cap - 1e-9)))


def backoff_rate(provider_cap):
    """The rate PowerMTA holds one provider's queue to while that provider throttles the IP
    (``backoff-max-msg-rate``): its cap today spread evenly over :data:`BACKOFF_SPREAD_HOURS`
    (24), as a PowerMTA rate
    (``N/h``, or one message every M minutes: ``1/Mm``), never more than the cap over a day.

    In normal mode ``max-msg-rate N/d`` lets a queue send its whole day at once; in backoff it
    sends at most 1/24 of it an hour. ``0`` for a cap of 0."""
    cap = max(0, int(provider_cap))
    if cap == 0:
        return "0"
    if cap >= BACKOFF_SPREAD_HOURS:
        return "%d/h" % (cap // BACKOFF_SPREAD_HOURS)
    return "1/%dm" % int(math.ceil(BACKOFF_SPREAD_HOURS * 60.0 / cap - 1e-9))


def ip_cap(schedule, stage_index, standby=False, backoff=None, reason="", provider_stages=None):
    """The caps entry of an IP at 0-based ``stage_index``: its stage's volume (0 on standby) and
    its provider caps, each provider at its own stage (``provider_stages``; none: the IP's), with
    the back-off of the providers in ``backoff``."""
    n = len(schedule["stages"])
    daily = 0 if standby else stage_volume(schedule, stage_index)
    return {"daily": daily,
            "providers": provider_caps(schedule, daily, backoff, backoff_factor(schedule), provider_stages),
            "standby": bool(standby), "stage": None if stage_index >= n else stage_index + 1, "reason": reason}


def unreachable_cap(host):
    """The caps entry of an IP whose host could not be read this run: nothing is known, so 0."""
    return {"daily": 0, "providers": dict.fromkeys(PROVIDERS, 0), "standby": False, "stage": None,
            "unreachable": True,
            "reason": "host %s was not reachable this run: cap 0, its state is kept as it was" % host}


def effective_daily(cap):
    """What a caps entry allows today: 0 when missing, on standby, unreachable or negative."""
    if not cap or cap.get("standby") or cap.get("unreachable"):
        return 0
    try:
        return max(0, int(cap.get("daily") or 0))
    except (TypeError, ValueError):
        return 0


def effective_provider_caps(cap):
    """``{provider: cap}`` a caps entry allows today, each at most :func:`effective_daily`
    (a provider the entry does not name gets the daily cap)."""
    daily = effective_daily(cap)
    given = (cap or {}).get("providers") or {}
    out = {}
    for prov in PROVIDERS:
        try:
            value = int(given.get(prov, daily))
        except (TypeError, ValueError):
            value = 0
        out[prov] = max(0, min(value, daily))
    return out


# --------------------------------------------------------------------------------------------
# Pool capacity
# --------------------------------------------------------------------------------------------
def _placed(model, caps):
    """``(tenant, host, cap)`` for every IP of the model that has a caps entry."""
    for address, ipinfo in sorted((model.get("ips") or {}).items()):
        cap = (caps or {}).get(address)
        tenant = ipinfo.get("tenant")
        if cap is not None and tenant is not None:
            yield tenant, ipinfo.get("host"), cap


def pool_capacity(model, caps):
    """``{tenant: sum of its IPs' effective daily caps}`` (every tenant of the model, 0 if none)."""
    out = {t: 0 for t in (model.get("tenants") or {})}
    for tenant, _host, cap in _placed(model, caps):
        out[tenant] = out.get(tenant, 0) + effective_daily(cap)
    return dict(sorted(out.items()))


def host_pool_capacity(model, caps):
    """``{tenant: {host: sum of the effective daily caps of its IPs on that host}}`` for every
    tenant x host that carries IPs of the tenant (the rows add up to :func:`pool_capacity`)."""
    out = {}
    for tenant, host, cap in _placed(model, caps):
        row = out.setdefault(tenant, {})
        row[host] = row.get(host, 0) + effective_daily(cap)
    return {t: dict(sorted(h.items())) for t, h in sorted(out.items())}


def remaining_today(capacity, sent):
    """What a tenant may still inject today: its capacity minus what it already attempted, >= 0."""
    return max(0, int(capacity or 0) - int(sent or 0))
