# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Idempotent MailWizz operations behind the mailwizz_* modules (stdlib only, no Ansible).

* :func:`ensure_list` - a list, by name, present/absent, updated only when it differs.
* :func:`import_subscribers` - bulk import (≤ 10,000 a call); tags in a custom field; unchanged
  subscribers skipped; every failed row reported with its reason; ambiguous bulk failures are
  resolved by looking up which rows landed before retrying only the missing ones.
* :func:`plan_campaign` (pure) - the capacity gate: refuse, or split over several days.
* :func:`ensure_campaign` - creates the campaign (or its day parts: one MailWizz campaign per day,
  each aimed at a list segment selecting a range of stable subscriber buckets, with successive
  ``send_at``), pause/resume/absent.
* :func:`list_task`, :func:`subscribers_task`, :func:`campaign_task`, :func:`gather_info` - the
  runs of the mailwizz_list, mailwizz_subscribers, mailwizz_campaign and mailwizz_info modules:
  the module's parameters in, its result out (``mailwizz_module.run`` supplies the client).

How the split works with what MailWizz supports: every imported subscriber gets a stable bucket
``00``..``99`` (sha1 of the lowercased email) in a custom field (``MF_BUCKET``). A day part is a
segment ``MF_BUCKET > lo-1 AND MF_BUCKET < hi+1`` (plus ``TAGS contains ,tag,`` conditions),
and a regular campaign to that segment with ``send_at`` = first day + n days. Buckets are packed
greedily so each day's confirmed audience fits that day's capacity.
"""
from __future__ import annotations

import csv
import datetime
import hashlib
import io
import json
import re

from ansible_collections.mailfleet.fleet.plugins.module_utils import capacity as capacity_mod
from ansible_collections.mailfleet.fleet.plugins.module_utils import grammar
from ansible_collections.mailfleet.fleet.plugins.module_utils.mailwizz_api import (
    BULK_MAX, PER_PAGE_MAX, MailWizzError)

SUB_STATUSES = ("unconfirmed", "confirmed", "blacklisted", "unsubscribed", "unapproved",
                "disabled", "moved")
OP_IS, OP_CONTAINS, OP_GREATER, OP_LESS = 1, 3, 7, 8
BUCKETS = 100
SEND_AT_FORMAT = "%Y-%m-%d %H:%M:%S"


class OperationError(Exception):
    """A refusal or precondition failure with a message fit for the user."""


def _norm(value):
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)


# =============================================================================== lists
LIST_SECTIONS = ("general", "defaults", "notifications", "company")
# What MailWizz 2.x returns of a list (GET lists, GET lists/{uid}); every other key a list takes
# (opt_in, opt_out, notifications[daily], company[country], ...) is write-only: sent on create and
# with every update, but it cannot be compared (docs/mailwizz-api-facts.md).
LIST_READABLE = {
    "general": ("name", "display_name", "description"),
    "defaults": ("from_email", "from_name", "reply_to", "subject"),
    "notifications": ("subscribe", "unsubscribe", "subscribe_to", "unsubscribe_to"),
    "company": ("name", "address_1", "address_2", "zone_name", "city", "zip_code", "phone",
                "address_format"),
}


def list_diff(record, desired):
    """Readable keys of ``desired`` (section -> {key: value}) whose value differs in ``record``."""
    before, after = {}, {}
    for section in LIST_SECTIONS:
        for key, value in (desired.get(section) or {}).items():
            if value is None or key not in LIST_READABLE[section]:
                continue
            have = _norm(((record or {}).get(section) or {}).get(key))
            if have != _norm(value):
                before.setdefault(section, {})[key] = have
                after.setdefault(section, {})[key] = _norm(value)
    return before, after


def write_only_keys(desired):
    """``section.key`` of ``desired`` that MailWizz does not return (cannot be compared)."""
    return sorted("%s.%s" % (section, key) for section in LIST_SECTIONS
                  for key, value in (desired.get(section) or {}).items()
                  if value is not None and key not in LIST_READABLE[section])


def find_lists(client, name):
    return client.find_lists(name)


def _the_list(client, name):
    """The list named ``name`` (the oldest, with a warning, when there are several)."""
    return client.find_list(name)


def ensure_list(client, name, desired, state="present", check_mode=False):
    """Returns {changed, action, list_uid, write_only, diff: {before, after}}."""
    desired = dict((s, dict(desired.get(s) or {})) for s in LIST_SECTIONS)
    desired["general"]["name"] = name
    record = _the_list(client, name)
    uid = record["general"]["list_uid"] if record else None
    write_only = write_only_keys(desired)
    if state == "absent":
        if record is None:
            return {"changed": False, "action": "none", "list_uid": None, "write_only": [],
                    "diff": {"before": {}, "after": {}}}
        if not check_mode:
            client.delete_list(uid)
        return {"changed": True, "action": "deleted", "list_uid": uid, "write_only": [],
                "diff": {"before": {"name": name, "list_uid": uid}, "after": {}}}
    clean = dict((s, dict((k, _norm(v)) for k, v in desired[s].items() if v is not None))
                 for s in LIST_SECTIONS)
    clean = dict((s, v) for s, v in clean.items() if v)
    if record is None:
        if not check_mode:
            record, _created = client.create_list(name, clean)
            uid = record["general"]["list_uid"]
        return {"changed": True, "action": "created", "list_uid": uid, "write_only": write_only,
                "diff": {"before": {}, "after": clean}}
    before, after = list_diff(record, desired)
    if not after:
        return {"changed": False, "action": "none", "list_uid": uid, "write_only": write_only,
                "diff": {"before": {}, "after": {}}}
    if not check_mode:
        client.update_list(uid, clean)
    return {"changed": True, "action": "updated", "list_uid": uid, "write_only": write_only,
            "diff": {"before": before, "after": after}}


def resolve_list_uid(client, list_name=None, list_uid=None):
    if list_uid:
        return list_uid
    record = _the_list(client, list_name)
    if record is None:
        raise OperationError("MailWizz list %r does not exist" % list_name)
    return record["general"]["list_uid"]


# =============================================================================== subscribers
def bucket_of(email):
    return "%02d" % (int(hashlib.sha1(email.strip().lower().encode("utf-8")).hexdigest()[:8],
                         16) % BUCKETS)


def encode_tags(tags):
    tags = sorted(set(t.strip() for t in tags if t and t.strip()))
    return "," + ",".join(tags) + "," if tags else ""


def decode_tags(value):
    return [t for t in (value or "").split(",") if t]


def read_csv_rows(text, tags_column="tags", tags_separator="|"):
    """CSV with a header row; ``EMAIL`` column required; ``tags`` column split on ``|``."""
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "EMAIL" not in [f.strip() for f in reader.fieldnames]:
        raise OperationError("CSV has no EMAIL column (header: %s)"
                             % ", ".join(reader.fieldnames or []))
    rows = []
    for raw in reader:
        row = dict((k.strip(), (v or "").strip()) for k, v in raw.items() if k)
        if tags_column in row:
            row["tags"] = [t for t in row.pop(tags_column).split(tags_separator) if t.strip()]
        rows.append(row)
    return rows


def _row_fields(row):
    return dict((k, _norm(v)) for k, v in row.items()
                if k not in ("tags", "status", "details") and v is not None)


def _lookup_landed(client, list_uid, emails, total_known):
    """Which of ``emails`` now exist in the list (after an ambiguous bulk POST).

    Cheapest of: one search per email, or re-reading the whole list page by page."""
    pages = (total_known + len(emails)) // PER_PAGE_MAX + 1
    found = {}
    if len(emails) <= pages:
        for email in emails:
            hit = client.search_subscriber(list_uid, email)
            if hit:
                found[email.lower()] = hit.get("subscriber_uid")
    else:
        wanted = set(e.lower() for e in emails)
        for rec in client.subscribers(list_uid):
            email = (rec.get("EMAIL") or "").lower()
            if email in wanted:
                found[email] = rec.get("subscriber_uid")
    return found


def import_subscribers(client, list_uid, rows, tags_field="TAGS", bucket_field="MF_BUCKET",
                       status="confirmed", tags_mode="merge", update_existing=True,
                       chunk_size=BULK_MAX, check_mode=False):
    """Import ``rows`` ([{EMAIL, FNAME, ..., tags: [...], status}]).

    Returns {changed, created, updated, skipped, failed, failed_rows: [{row, email, reason}],
    fields_created, calls}."""
    chunk_size = max(1, min(BULK_MAX, int(chunk_size)))
    calls_before = client.calls
    result = {"created": 0, "updated": 0, "skipped": 0, "failed": 0, "failed_rows": [],
              "fields_created": []}

    def fail(index, email, reason):
        result["failed"] += 1
        result["failed_rows"].append({"row": index + 1, "email": email, "reason": reason})

    # -- fields: everything we write must exist in the list, or MailWizz drops it silently
    fields = dict((f.get("tag"), f) for f in client.list_fields(list_uid))
    wanted = set()
    for row in rows:
        wanted.update(k for k in _row_fields(row) if k != "EMAIL")
    needed = [t for t in (tags_field, bucket_field) if t]
    unknown = sorted(t for t in wanted if t not in fields and t not in needed)
    if unknown:
        raise OperationError("list %s has no custom field(s) %s: MailWizz would drop these "
                             "values silently; add the fields to the list first"
                             % (list_uid, ", ".join(unknown)))
    for tag in needed:
        if tag not in fields:
            result["fields_created"].append(tag)
            if not check_mode:
                try:
                    client.create_field(list_uid, tag, tag.replace("_", " ").title())
                except MailWizzError as exc:
                    raise OperationError("cannot create custom field %s in list %s (%s); "
                                         "create it in MailWizz first" % (tag, list_uid, exc))

    # -- existing subscribers, read once page by page
    existing = {}
    for rec in client.subscribers(list_uid):
        existing[(rec.get("EMAIL") or "").strip().lower()] = rec

    seen = {}
    to_create = []   # (index, email, fields)
    for index, row in enumerate(rows):
        fields_in = _row_fields(row)
        email = fields_in.get("EMAIL", "").strip()
        if not grammar.is_email(email):
            fail(index, email, "invalid or missing EMAIL")
            continue
        key = email.lower()
        if key in seen:
            fail(index, email, "duplicate of row %d in the input" % (seen[key] + 1))
            continue
        seen[key] = index
        row_status = row.get("status") or (row.get("details") or {}).get("status")
        if row_status and row_status not in SUB_STATUSES:
            fail(index, email, "invalid status %r" % row_status)
            continue
        tags = list(row.get("tags") or [])
        rec = existing.get(key)
        if rec is None:
            data = dict(fields_in, EMAIL=email)
            if tags_field:
                data[tags_field] = encode_tags(tags)
            if bucket_field:
                data[bucket_field] = bucket_of(email)
            data["details"] = {"status": row_status or status}
            to_create.append((index, email, data))
            continue
        change = {}
        for k, v in fields_in.items():
            if k != "EMAIL" and _norm(rec.get(k)) != v:
                change[k] = v
        if tags_field:
            have = decode_tags(rec.get(tags_field))
            want = encode_tags(have + tags if tags_mode == "merge" else tags)
            if "tags" in row or tags_mode == "replace":
                if _norm(rec.get(tags_field)) != want:
                    change[tags_field] = want
        if bucket_field and _norm(rec.get(bucket_field)) != bucket_of(email):
            change[bucket_field] = bucket_of(email)
        if row_status and rec.get("status") != row_status:
            change["details"] = {"status": row_status}
        if not change or not update_existing:
            result["skipped"] += 1
            continue
        if check_mode:
            result["updated"] += 1
            continue
        try:
            client.update_subscriber(list_uid, rec["subscriber_uid"], dict(change, EMAIL=email))
            result["updated"] += 1
        except MailWizzError as exc:
            fail(index, email, str(exc))

    # -- creates, in bulk chunks
    if check_mode:
        result["created"] = len(to_create)
    else:
        for start in range(0, len(to_create), chunk_size):
            _bulk_chunk(client, list_uid, to_create[start:start + chunk_size], len(existing),
                        result, fail)
    result["failed_rows"].sort(key=lambda r: r["row"])
    result["changed"] = bool(result["created"] or result["updated"] or result["fields_created"])
    result["calls"] = client.calls - calls_before
    return result


def _reason(errors):
    if isinstance(errors, dict):
        return "; ".join("%s: %s" % (k, v if isinstance(v, str) else json.dumps(v, sort_keys=True))
                         for k, v in sorted(errors.items(), key=lambda kv: str(kv[0])))
    if isinstance(errors, (list, tuple)):
        return "; ".join(str(e) for e in errors)
    return str(errors)


def bulk_record_outcome(record):
    """``("created", None)``, ``("failed", reason)`` or ``("unknown", why)`` for one record of a
    bulk subscribe answer.

    MailWizz 2.x answers ``{"data": {fields..., "subscriber_uid" when created}, "errors":
    {FIELD: message}}`` per record, without a per-record status: a record failed when it has
    errors. Older answers carry ``status`` ("success"/"error") and ``error``. A record that
    says neither is *unknown*: the caller looks the subscriber up instead of guessing.
    """
    if not isinstance(record, dict):
        return "unknown", "record is not an object"
    errors = record.get("errors")
    if errors:
        return "failed", _reason(errors)
    status = record.get("status")
    if status == "error":
        return "failed", _reason(record.get("error") or "error")
    if status == "success":
        return "created", None
    if status is None and (record.get("data") or {}).get("subscriber_uid"):
        return "created", None
    return "unknown", "no errors and no subscriber_uid in the answer"


def _record_email(record):
    data = record.get("data") if isinstance(record, dict) else None
    data = data if isinstance(data, dict) else {}
    return str(data.get("EMAIL") or data.get("email") or "").strip().lower()


def bulk_outcomes(records, pending):
    """Outcome of each pending row (same order). MailWizz answers in the order the rows were
    sent, so the answer is read by position when it has one record per row, else by EMAIL."""
    if len(records) == len(pending):
        return [bulk_record_outcome(rec) for rec in records]
    by_email = {}
    for rec in records:
        by_email.setdefault(_record_email(rec), rec)
    out = []
    for _index, email, _data in pending:
        rec = by_email.get(email.lower())
        out.append(bulk_record_outcome(rec) if rec is not None
                   else ("unknown", "no record for this row in the bulk answer"))
    return out


def _bulk_chunk(client, list_uid, chunk, total_known, result, fail):
    """One chunk of creates through ``subscribers/bulk``; a failed call is followed by a settle
    look-up (which rows landed?) before the missing rows are sent again."""
    pending = list(chunk)
    attempts = 1 + client.retries
    ambiguous = False
    for attempt in range(attempts):
        try:
            records = client.bulk_create_subscribers(list_uid, [d for _index, _email, d in pending])
        except MailWizzError as exc:
            if not exc.create_retryable or attempt + 1 >= attempts:
                for index, email, _data in pending:
                    fail(index, email, str(exc))
                return
            ambiguous = ambiguous or exc.ambiguous
            emails = [e for _index, e, _data in pending]
            landed = client.settle_lookup(
                exc, lambda: _lookup_landed(client, list_uid, emails, total_known),
                done=lambda found: len(found) >= len(emails))
            result["created"] += sum(1 for _index, e, _data in pending if e.lower() in landed)
            pending = [p for p in pending if p[1].lower() not in landed]
            if not pending:
                return
            continue
        outcomes = bulk_outcomes(records, pending)
        check = [(p, why) for p, (state, why) in zip(pending, outcomes)
                 if state == "unknown" or (state == "failed" and ambiguous)]
        found = {}
        if check:
            # unknown is neither success nor failure; and after an ambiguous call a row the
            # retry calls a duplicate may be our own earlier POST that landed late
            found = _lookup_landed(client, list_uid, [p[1] for p, _why in check], total_known)
        for (index, email, _data), (state, why) in zip(pending, outcomes):
            if state == "created" or email.lower() in found:
                result["created"] += 1
                if state != "created" and ambiguous:
                    client.warn("subscriber %s of list %s landed from an earlier bulk call "
                                "whose answer was lost" % (email, list_uid))
            elif state == "failed":
                fail(index, email, why)
            else:
                fail(index, email, "not in the list after the bulk call (%s)" % why)
        return


# =============================================================================== campaigns
def audience_counts(client, list_uid, tags=(), tags_field="TAGS", bucket_field="MF_BUCKET",
                    segment_uid=None):
    """Confirmed audience: {"total", "buckets": {int: n}, "unbucketed": n}."""
    out = {"total": 0, "buckets": {}, "unbucketed": 0}
    if segment_uid:
        records = client.segment_subscribers(list_uid, segment_uid)
    else:
        records = client.subscribers(list_uid)
    want = [",%s," % t for t in tags]
    for rec in records:
        if rec.get("status") != "confirmed":
            continue
        if want and not all(w in (rec.get(tags_field) or "") for w in want):
            continue
        out["total"] += 1
        bucket = rec.get(bucket_field) if bucket_field else None
        if bucket is not None and str(bucket).isdigit() and int(bucket) < BUCKETS:
            out["buckets"][int(bucket)] = out["buckets"].get(int(bucket), 0) + 1
        else:
            out["unbucketed"] += 1
    return out


def plan_campaign(audience, capacity_today, sent_today=0, split=False, max_days=7,
                  next_days_capacity=None, name="campaign"):
    """The gate. Returns [{"day": offset, "buckets": (lo, hi) | None, "count": n}].

    Refuses (OperationError) when the audience exceeds what is left today and ``split`` is
    off, or when even a split cannot fit within ``max_days``."""
    total = audience["total"]
    remaining = capacity_mod.remaining_today(capacity_today, sent_today)
    if total <= remaining:
        return [{"day": 0, "buckets": None, "count": total}]
    if not split:
        raise OperationError(
            "%s: audience of %d subscribers exceeds the capacity left today (%d = capacity %d - "
            "sent %d); refused. Use split: true to spread it over several days, or send "
            "tomorrow" % (name, total, remaining, capacity_today, sent_today))
    if audience["unbucketed"]:
        raise OperationError("%s: cannot split: %d subscribers of the audience have no bucket "
                             "field; import them with mailwizz_subscribers first"
                             % (name, audience["unbucketed"]))

    def cap(day):
        if day == 0:
            return remaining
        if next_days_capacity and day - 1 < len(next_days_capacity):
            return int(next_days_capacity[day - 1])
        return int(capacity_today)

    parts = []
    day, lo, count = 0, 0, 0
    for bucket in range(BUCKETS):
        n = audience["buckets"].get(bucket, 0)
        while count + n > cap(day):
            if count > 0:
                parts.append({"day": day, "buckets": (lo, bucket - 1), "count": count})
                lo, count = bucket, 0
            day += 1
            if day >= max_days:
                raise OperationError(
                    "%s: audience of %d does not fit in %d days at the current capacity "
                    "(%d left today, then %d/day); raise max_days or wait"
                    % (name, total, max_days, remaining, capacity_today))
        count += n
    if count > 0 or not parts:
        parts.append({"day": day, "buckets": (lo, BUCKETS - 1), "count": count})
    else:
        parts[-1]["buckets"] = (parts[-1]["buckets"][0], BUCKETS - 1)
    for part in parts:
        if part["buckets"] == (0, BUCKETS - 1):
            part["buckets"] = None
    return parts


def part_name(name, index, total):
    return name if total == 1 else "%s [%d/%d]" % (name, index + 1, total)


def _segment_conditions(fields, tags, tags_field, bucket_field, buckets):
    by_tag = dict((f.get("tag"), f.get("field_id")) for f in fields)
    conds = []
    for tag in tags:
        if tags_field not in by_tag:
            raise OperationError("list has no %s field for tag filters" % tags_field)
        conds.append({"field_id": by_tag[tags_field], "operator_id": OP_CONTAINS,
                      "value": ",%s," % tag})
    if buckets:
        if bucket_field not in by_tag:
            raise OperationError("list has no %s field for a split" % bucket_field)
        lo, hi = buckets
        if lo > 0:
            conds.append({"field_id": by_tag[bucket_field], "operator_id": OP_GREATER,
                          "value": "%02d" % (lo - 1)})
        if hi < BUCKETS - 1:
            conds.append({"field_id": by_tag[bucket_field], "operator_id": OP_LESS,
                          "value": "%02d" % (hi + 1)})
    return conds


def existing_parts(client, name):
    """Campaigns already made for ``name``: the plain name or its ``[i/k]`` parts (one per name:
    the oldest, with a warning, when a name is held by several campaigns)."""
    rx = re.compile(r"^%s \[(\d+)/(\d+)\]$" % re.escape(name))
    by_name = {}
    for rec in client.campaigns():
        if rec.get("name") == name or rx.match(rec.get("name") or ""):
            by_name.setdefault(rec["name"], []).append(rec)
    parts = [client.pick("campaign %r" % pname, recs, "campaign_id",
                         lambda r: r.get("campaign_uid"))
             for pname, recs in by_name.items()]
    return sorted(parts, key=lambda r: r.get("name"))


def shift_send_at(send_at, days):
    when = datetime.datetime.strptime(send_at, SEND_AT_FORMAT)
    return (when + datetime.timedelta(days=days)).strftime(SEND_AT_FORMAT)


CAMPAIGN_COMPARE = ("from_name", "from_email", "subject", "reply_to")


def ensure_campaign(client, spec, state="present", check_mode=False):
    """spec: name, list_uid, segment_uid, tags, tags_field, bucket_field, from_name, from_email,
    reply_to, subject, send_at, content, plain_text, options, capacity_today, sent_today, split,
    max_days, next_days_capacity. Returns {changed, campaigns: [...], plan, audience, diff}."""
    name = spec["name"]
    have = existing_parts(client, name)
    out = {"changed": False, "campaigns": [], "plan": None, "audience": None,
           "diff": {"before": {}, "after": {}}}
    if state == "absent":
        for rec in have:
            if not check_mode:
                client.delete_campaign(rec["campaign_uid"])
            out["diff"]["before"][rec["name"]] = rec.get("status")
        out["changed"] = bool(have)
        out["campaigns"] = [{"name": r["name"], "campaign_uid": r["campaign_uid"],
                             "action": "deleted"} for r in have]
        return out
    if state in ("paused", "resumed"):
        if not have:
            raise OperationError("campaign %r does not exist" % name)
        for rec in have:
            status = rec.get("status")
            flip = (state == "paused" and status in ("sending", "pending-sending",
                                                     "processing")) or \
                   (state == "resumed" and status == "paused")
            entry = {"name": rec["name"], "campaign_uid": rec["campaign_uid"], "status": status,
                     "action": "none"}
            if flip:
                out["changed"] = True
                entry["action"] = "paused" if state == "paused" else "resumed"
                out["diff"]["before"][rec["name"]] = status
                new = "paused" if state == "paused" else "sending"
                out["diff"]["after"][rec["name"]] = new
                if not check_mode:
                    resp = client.pause_unpause(rec["campaign_uid"])
                    new = ((resp or {}).get("campaign") or {}).get("status") or new
                entry["status"] = new
            out["campaigns"].append(entry)
        return out

    base = dict((k, spec[k]) for k in CAMPAIGN_COMPARE)
    if have:
        # already scheduled: the gate was applied when it was created; keep it in line
        for rec in have:
            full = client.get_campaign(rec["campaign_uid"]) or {}
            change = dict((k, v) for k, v in base.items() if _norm(full.get(k)) != _norm(v))
            entry = {"name": rec["name"], "campaign_uid": rec["campaign_uid"],
                     "status": full.get("status"), "send_at": full.get("send_at"),
                     "action": "none"}
            if change:
                if full.get("status") not in ("draft", "pending-sending", "paused"):
                    raise OperationError("campaign %r differs (%s) but is %s and can no longer "
                                         "be edited" % (rec["name"], ", ".join(sorted(change)),
                                                        full.get("status")))
                out["changed"] = True
                entry["action"] = "updated"
                out["diff"]["before"][rec["name"]] = dict((k, full.get(k)) for k in change)
                out["diff"]["after"][rec["name"]] = change
                if not check_mode:
                    client.update_campaign(rec["campaign_uid"], change)
            out["campaigns"].append(entry)
        return out

    tags = list(spec.get("tags") or [])
    audience = audience_counts(client, spec["list_uid"], tags, spec.get("tags_field") or "TAGS",
                               spec.get("bucket_field"), spec.get("segment_uid"))
    out["audience"] = audience["total"]
    plan = plan_campaign(audience, spec["capacity_today"], spec.get("sent_today") or 0,
                         split=spec.get("split"), max_days=spec.get("max_days") or 7,
                         next_days_capacity=spec.get("next_days_capacity"), name=name)
    if len(plan) > 1 and spec.get("segment_uid"):
        raise OperationError("%s: a split needs a list (optionally with tags), not an existing "
                             "segment" % name)
    out["plan"] = [{"day": p["day"], "count": p["count"],
                    "buckets": list(p["buckets"]) if p["buckets"] else None} for p in plan]
    fields = client.list_fields(spec["list_uid"]) if (tags or len(plan) > 1
                                                      or plan[0]["buckets"]) else []
    send_at = spec.get("send_at") or datetime.datetime.now().strftime(SEND_AT_FORMAT)
    out["changed"] = True
    for i, part in enumerate(plan):
        pname = part_name(name, i, len(plan))
        body = dict(base, name=pname, type="regular", list_uid=spec["list_uid"],
                    send_at=shift_send_at(send_at, part["day"]),
                    options=spec.get("options") or {},
                    template={"content": spec["content"], "inline_css": "no",
                              "auto_plain_text": "no" if spec.get("plain_text") else "yes"})
        if spec.get("plain_text"):
            body["template"]["plain_text"] = spec["plain_text"]
        seg_uid = spec.get("segment_uid")
        conds = _segment_conditions(fields, tags, spec.get("tags_field") or "TAGS",
                                    spec.get("bucket_field"), part["buckets"]) \
            if (tags or part["buckets"]) else []
        entry = {"name": pname, "send_at": body["send_at"], "count": part["count"],
                 "action": "created", "campaign_uid": None, "segment_uid": seg_uid}
        if not check_mode:
            if conds:
                seg, _created = client.create_segment(spec["list_uid"], "mailfleet: %s" % pname, conds)
                seg_uid = seg["segment_uid"]
                entry["segment_uid"] = seg_uid
            if seg_uid:
                body["segment_uid"] = seg_uid
            rec, _created = client.create_campaign(body)
            entry["campaign_uid"] = rec["campaign_uid"]
        out["diff"]["after"][pname] = {"send_at": body["send_at"], "audience": part["count"]}
        out["campaigns"].append(entry)
    return out


def render_template(path, variables):
    """Render a Jinja2 template file on the controller (sandboxed, undefined names fail)."""
    try:
        import jinja2
        import jinja2.sandbox
    except ImportError:
        raise OperationError("jinja2 is needed on the controller to render %s" % path)
    try:
        with open(path, encoding="utf-8") as handle:
            source = handle.read()
    except OSError as exc:
        raise OperationError("cannot read template %s: %s" % (path, exc.strerror))
    env = jinja2.sandbox.SandboxedEnvironment(undefined=jinja2.StrictUndefined,
                                              autoescape=False, keep_trailing_newline=True)
    try:
        return env.from_string(source).render(**(variables or {}))
    except jinja2.TemplateError as exc:
        raise OperationError("template %s: %s: %s" % (path, type(exc).__name__, exc))


# --------------------------------------------------------------------------- the modules' runs
CAMPAIGN_NEEDED = ("subject", "from_name", "from_email", "reply_to", "capacity_today")


def list_task(client, params, check_mode=False, diff=False):
    """mailwizz_list: the list ``params["name"]`` present (as described) or absent."""
    desired = {"general": dict({"description": params["name"]}, **params["general"]),
               "defaults": params["defaults"], "notifications": params["notifications"],
               "company": params["company"]}
    res = ensure_list(client, params["name"], desired, state=params["state"], check_mode=check_mode)
    if not diff:
        res.pop("diff")
    return res


def subscribers_task(client, params, check_mode=False, diff=False, warn=None):
    """mailwizz_subscribers: import ``params["subscribers"]`` (or the rows of ``csv_file``) into the
    list; failed rows are warned about through ``warn``, or fail the run with ``fail_on_errors``."""
    if params["csv_file"]:
        try:
            with open(params["csv_file"], encoding="utf-8-sig") as handle:
                rows = read_csv_rows(handle.read(), tags_separator=params["csv_tags_separator"])
        except OSError as exc:
            raise OperationError("cannot read %s: %s" % (params["csv_file"], exc.strerror))
    else:
        rows = [dict(r) for r in params["subscribers"]]
    for row in rows:
        if params["tags"]:
            row["tags"] = list(row.get("tags") or []) + list(params["tags"])
    list_uid = resolve_list_uid(client, params["list_name"], params["list_uid"])
    res = import_subscribers(client, list_uid, rows, tags_field=params["tags_field"] or None,
                             bucket_field=params["bucket_field"] or None, status=params["status"],
                             tags_mode=params["tags_mode"], update_existing=params["update_existing"],
                             chunk_size=params["chunk_size"], check_mode=check_mode)
    res.pop("calls", None)
    res["failed_count"] = res.pop("failed")
    res["counts"] = {"created": res["created"], "updated": res["updated"],
                     "skipped": res["skipped"], "failed": res["failed_count"]}
    res["list_uid"] = list_uid
    if diff:
        res["diff"] = {"before": {"list_uid": list_uid},
                       "after": {"list_uid": list_uid, "create": res["created"], "update": res["updated"],
                                 "fields_created": res["fields_created"]}}
    if res["failed_count"]:
        msg = "%d of %d rows failed (see failed_rows)" % (res["failed_count"], len(rows))
        if params["fail_on_errors"]:
            raise OperationError(msg + "; first: row %(row)s %(email)s: %(reason)s" % res["failed_rows"][0])
        if warn is not None:
            warn(msg)
    return res


def campaign_task(client, params, check_mode=False, diff=False):
    """mailwizz_campaign: the campaign ``params["name"]`` (or its day parts) in ``params["state"]``,
    within today's capacity; ``template`` is rendered on the controller."""
    spec = dict(params)
    if params["state"] == "present":
        missing = [k for k in CAMPAIGN_NEEDED if params[k] is None]
        if not (params["list_name"] or params["list_uid"]):
            missing.append("list_name or list_uid")
        if not (params["template"] or params["content"]):
            missing.append("template or content")
        if missing:
            raise OperationError("campaign %r: missing %s" % (params["name"], ", ".join(missing)))
        if params["capacity_today"] < 0 or params["sent_today"] < 0:
            raise OperationError("capacity_today and sent_today must be >= 0")
        if params["template"]:
            spec["content"] = render_template(params["template"], params["template_vars"])
        spec["list_uid"] = resolve_list_uid(client, params["list_name"], params["list_uid"])
    res = ensure_campaign(client, spec, state=params["state"], check_mode=check_mode)
    if not diff:
        res.pop("diff")
    return res


def gather_info(client, what, campaign_name=None, campaign_uid=None):
    """mailwizz_info: what ``what`` names (health, lists, delivery_servers, campaigns,
    campaign_stats of ``campaign_name``'s parts and/or ``campaign_uid``); read-only."""
    out = {"changed": False}
    if "health" in what:
        out["health"] = client.health()
    if "lists" in what:
        out["lists"] = [{"list_uid": (r.get("general") or {}).get("list_uid"),
                         "name": (r.get("general") or {}).get("name"),
                         "description": (r.get("general") or {}).get("description"),
                         "from_email": (r.get("defaults") or {}).get("from_email")}
                        for r in client.paginate("lists", obj="lists")]
    if "delivery_servers" in what:
        out["delivery_servers"] = client.delivery_servers()
    if "campaigns" in what:
        out["campaigns"] = [{"campaign_uid": r.get("campaign_uid"), "name": r.get("name"),
                             "status": r.get("status")} for r in client.campaigns()]
    if "campaign_stats" in what:
        targets = []
        if campaign_uid:
            targets.append((campaign_uid, campaign_uid))
        if campaign_name:
            parts = existing_parts(client, campaign_name)
            if not parts:
                raise OperationError("campaign %r does not exist" % campaign_name)
            targets.extend((p["name"], p["campaign_uid"]) for p in parts)
        if not targets:
            raise OperationError("campaign_stats needs campaign_name or campaign_uid")
        out["campaign_stats"] = dict((label, client.campaign_stats(uid))
                                     for label, uid in targets)
    return out
