# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""MailWizz API client (controller side, on ``requests``: see ``http_session``).

What it does, following the MailWizz API facts the project verified (docs/mailwizz-api-facts.md):

* authentication: ``X-Api-Key`` (2.x/3.x) or the 1.x signed headers ``X-MW-PUBLIC-KEY``,
  ``X-MW-TIMESTAMP``, ``X-MW-REMOTE-ADDR``, ``X-MW-SIGNATURE`` (HMAC-SHA1, lowercase hex, over
  ``METHOD + " " + full URL + ("&" if "?" in URL else "?") + http_build_query(headers + body)``,
  top-level keys sorted byte-wise, the way PHP's ``ksort`` + ``http_build_query`` do it);
* form-encoded nested bodies (``general[name]=...``), real PUT and DELETE methods;
* base64 for campaign ``template[content|archive|plain_text]``;
* collections read page by page until a pass is stable (MailWizz 2.x lists newest first, so
  offset pages shift while rows are added); counts as strings, ``total_pages`` as floats and
  empty collections with nulls are understood;
* one pooled session per client; idempotent calls retried with backoff and jitter on connection
  errors, timeouts, 429 and 5xx (``Retry-After`` honoured); a POST is never replayed blindly;
* creates that cannot duplicate: look up before creating; after a failed or timed-out create,
  look up again with backoff for a bounded time (``settle``) before any new POST; duplicates
  made anyway (older run, another tool) are reported and the oldest is used;
* TLS and proxy options as ``ansible.builtin.uri`` has them (``validate_certs``, ``ca_path``,
  ``client_cert``/``client_key``, ``proxy``/``use_proxy``, ``timeout``);
* errors raised as :class:`MailWizzError` whose message names the object, the method, the URL
  path and the HTTP status, and never contains a key.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import time
import urllib.parse
from collections import OrderedDict

from ansible_collections.mailfleet.fleet.plugins.module_utils.http_session import (
    HTTP_OPTION_KEYS, IDEMPOTENT_METHODS, HttpConfigError, HttpSession, Response, TransportError,
    normalize_options)

PER_PAGE_MIN = 10
PER_PAGE_MAX = 50
BULK_MAX = 10000
COLLECT_PASSES = 4
SETTLE_MAX_LOOKUPS = 12
BASE64_TEMPLATE_FIELDS = ("content", "archive", "plain_text")
__all__ = ["MailWizzClient", "MailWizzError", "ConfigError", "Response", "TransportError"]


class MailWizzError(Exception):
    """An API call failed. ``str()`` names object, method, path and status; never a key."""

    def __init__(self, obj, method, path, status=None, detail=None, retry_after=None,
                 transport=False, connect=False):
        self.obj = obj
        self.method = method
        self.path = path
        self.status = status
        self.detail = detail
        self.retry_after = retry_after
        self.transport = transport
        self.connect = connect
        Exception.__init__(self, self._message())

    @property
    def ambiguous(self):
        """True when the server may have processed the request (reply lost, late or 5xx)."""
        return (self.transport and not self.connect) or (self.status is not None
                                                         and self.status >= 500)

    @property
    def create_retryable(self):
        """A create that failed this way may be tried again after a look-up: ambiguous, or
        refused without processing (429, 409 busy/exists, connection refused)."""
        return self.ambiguous or self.transport or self.status in (409, 429)

    def _message(self):
        what = "HTTP %s" % self.status if self.status is not None else "no HTTP response"
        msg = "MailWizz %s: %s %s failed (%s)" % (self.obj, self.method, self.path, what)
        if self.detail:
            msg += ": %s" % (self.detail if isinstance(self.detail, str)
                             else json.dumps(self.detail, sort_keys=True))
        return msg


class ConfigError(ValueError):
    """Inventory data cannot make a client (missing instance, shared key, ...)."""


# --------------------------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------------------------
def _scalar(value):
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, bytes):
        return value.decode("ascii")
    return str(value)


def flatten_form(data, prefix=""):
    """Nested dict/list -> ordered list of (``a[b][c]``, str) pairs; ``None`` values dropped."""
    pairs = []
    items = data.items() if isinstance(data, dict) else enumerate(data)
    for key, value in items:
        name = "%s[%s]" % (prefix, key) if prefix else str(key)
        if isinstance(value, dict) or isinstance(value, (list, tuple)):
            pairs.extend(flatten_form(value, name))
        elif value is not None:
            pairs.append((name, _scalar(value)))
    return pairs


def encode_form(data):
    """Body for ``application/x-www-form-urlencoded`` (nested keys as PHP expects them)."""
    return urllib.parse.urlencode(flatten_form(data or {}))


def b64(text):
    if isinstance(text, str):
        text = text.encode("utf-8")
    return base64.b64encode(text).decode("ascii")


def encode_campaign_template(template):
    """Copy of a campaign ``template`` dict with the fields MailWizz wants base64-encoded."""
    out = dict(template or {})
    for field in BASE64_TEMPLATE_FIELDS:
        if out.get(field) is not None:
            out[field] = b64(out[field])
    return out


def _php_urlencode(text):
    # PHP urlencode(): RFC 1738, space as '+', only -_. left alone ('~' is encoded).
    return urllib.parse.quote_plus(text, safe="").replace("~", "%7E")


def php_http_build_query(pairs):
    """``http_build_query`` of the params after PHP ``ksort`` on the top-level keys.

    ``pairs`` are flattened form pairs; nested keys keep their order under their top-level key.
    """
    groups = {}
    for key, value in pairs:
        top = key.split("[", 1)[0]
        groups.setdefault(top, []).append((key, value))
    out = []
    for top in sorted(groups, key=lambda k: k.encode("utf-8")):
        for key, value in groups[top]:
            out.append("%s=%s" % (_php_urlencode(key), _php_urlencode(value)))
    return "&".join(out)


def signature_string(method, full_url, header_params, body_pairs):
    params = list(header_params.items()) + list(body_pairs)
    separator = "&" if "?" in full_url else "?"
    return "%s %s%s%s" % (method.upper(), full_url, separator, php_http_build_query(params))


def sign_v1(private_key, method, full_url, header_params, body_pairs):
    """1.x ``X-MW-SIGNATURE``: lowercase hex HMAC-SHA1 of :func:`signature_string`."""
    base = signature_string(method, full_url, header_params, body_pairs)
    return hmac.new(private_key.encode("utf-8"), base.encode("utf-8"), hashlib.sha1).hexdigest()


def clamp_per_page(per_page):
    return max(PER_PAGE_MIN, min(PER_PAGE_MAX, int(per_page)))


# --------------------------------------------------------------------------------------------
# Client
# --------------------------------------------------------------------------------------------
def parse_count(value, what="count"):
    """MailWizz numbers in collections: ``null`` (empty), ``"15"`` (2.x strings), ``2.0``
    (``total_pages`` is a PHP float), or an int. Anything else is refused (never guessed)."""
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        raise ValueError("%s is a boolean" % what)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value == int(value):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return int(text)
        try:
            number = float(text)
        except ValueError:
            number = None
        if number is not None and number == int(number) and number >= 0:
            return int(number)
    raise ValueError("%s %r is not a whole number" % (what, value))


def _json(body):
    try:
        return json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, AttributeError):
        return None


def oldest(records, id_key=None):
    """The oldest of ``records`` (a collection read newest first, as MailWizz 2.x orders it):
    the smallest numeric ``id_key`` when every record has one, else the last one read."""
    if id_key:
        try:
            return min(records, key=lambda r: parse_count(r.get(id_key), id_key))
        except (ValueError, TypeError):
            pass
    return records[-1]


class MailWizzClient(object):
    """One MailWizz customer (one API key), over one pooled ``requests`` session."""

    def __init__(self, url, api_key=None, public_key=None, private_key=None, timeout=30.0,
                 retries=4, backoff=0.5, max_backoff=30.0, max_retry_after=300.0, settle=None,
                 remote_addr="", validate_certs=True, ca_path=None, client_cert=None,
                 client_key=None, proxy=None, use_proxy=True, transport=None, sleep=None,
                 clock=None, rng=None):
        if not url:
            raise ConfigError("MailWizz url is required")
        if not str(url).startswith(("http://", "https://")):
            raise ConfigError("MailWizz url must start with http:// or https://")
        if not api_key and not (public_key and private_key):
            raise ConfigError("MailWizz api_key (2.x/3.x) or public_key + private_key (1.x) "
                              "is required")
        self.base_url = url.rstrip("/")
        self._base_path = urllib.parse.urlsplit(self.base_url).path.rstrip("/")
        self._api_key = api_key
        self._public_key = public_key
        self._private_key = private_key
        self.legacy = bool(public_key and private_key and not api_key)
        self.retries = max(0, int(retries))
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.max_retry_after = float(max_retry_after)
        self.remote_addr = remote_addr
        self.sleep = sleep or time.sleep
        self.clock = clock or time.time
        self.rng = rng or random.Random()
        self.calls = 0          # HTTP requests sent (retries included)
        self.calls_by_method = {}
        self.warnings = []      # duplicates found, rows landed late, ... (the module warns)
        try:
            self.http_options = normalize_options({
                "timeout": timeout, "validate_certs": validate_certs, "ca_path": ca_path,
                "client_cert": client_cert, "client_key": client_key, "proxy": proxy,
                "use_proxy": use_proxy})
        except HttpConfigError as exc:
            raise ConfigError("MailWizz connection: %s" % exc)
        self.timeout = self.http_options["timeout"]
        # After an ambiguous create (timed out, dropped, 5xx) the object is looked up again for
        # this long before a new POST: a reply slower than the timeout may still commit.
        self.settle = 2.0 * self.timeout if settle is None else max(0.0, float(settle))
        self._session = None
        if transport is None:
            try:
                self._session = HttpSession(self.http_options, retries=self.retries,
                                            backoff=self.backoff, max_backoff=self.max_backoff,
                                            max_retry_after=self.max_retry_after,
                                            sleep=self.sleep, rng=self.rng,
                                            on_attempt=self._count)
            except HttpConfigError as exc:
                raise ConfigError("MailWizz connection: %s" % exc)
            self.transport = self._session_transport
        else:
            self.transport = transport

    # -- secrets never leave through repr or errors
    def __repr__(self):
        return "MailWizzClient(%r, %s)" % (self.base_url, "1.x signed" if self.legacy else "2.x")

    def close(self):
        if self._session is not None:
            self._session.close()

    def _count(self, method):
        self.calls += 1
        self.calls_by_method[method] = self.calls_by_method.get(method, 0) + 1

    def _session_transport(self, method, url, headers, body, timeout, idempotent):
        return self._session.send(method, url, headers, body, idempotent)

    def _redact(self, value):
        """``value`` (text, or nested dicts/lists of text as MailWizz errors come) without keys."""
        if isinstance(value, dict):
            return dict((self._redact(k), self._redact(v)) for k, v in value.items())
        if isinstance(value, (list, tuple)):
            return [self._redact(v) for v in value]
        if not isinstance(value, str):
            return value
        for secret in (self._api_key, self._private_key, self._public_key):
            if secret and secret in value:
                value = value.replace(secret, "********")
        return value

    def warn(self, message):
        message = self._redact(message)
        if message not in self.warnings:
            self.warnings.append(message)

    def _headers(self, method, url, body_pairs, has_body):
        headers = {"Accept": "application/json"}
        if has_body:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if method in ("PUT", "DELETE"):
            headers["X-HTTP-Method-Override"] = method
        if self.legacy:
            special = {
                "X-MW-PUBLIC-KEY": self._public_key,
                "X-MW-TIMESTAMP": str(int(self.clock())),
                "X-MW-REMOTE-ADDR": self.remote_addr or "",
            }
            headers.update(special)
            headers["X-MW-SIGNATURE"] = sign_v1(self._private_key, method, url, special,
                                                body_pairs)
        else:
            headers["X-Api-Key"] = self._api_key
        return headers

    def backoff_delay(self, attempt, retry_after=None):
        """Exponential backoff with jitter; ``Retry-After`` (seconds) is a floor."""
        delay = min(self.max_backoff, self.backoff * (2 ** attempt))
        delay = delay / 2.0 + self.rng.uniform(0, delay / 2.0)
        if retry_after is not None:
            delay = max(delay, min(float(retry_after), self.max_retry_after))
        return delay

    def request(self, method, path, query=None, data=None, obj="request", idempotent=None,
                accept_404=False):
        """Send one call. Returns ``(status, payload)``; with ``accept_404`` a 404 returns
        ``(404, None)``.

        Idempotent calls (GET, PUT, DELETE by default) are retried by the session on connection
        errors, timeouts, 429 and 5xx with backoff; POSTs and toggles (``idempotent=False``)
        only when the request never reached the server. Raises :class:`MailWizzError`.
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        url = "%s/%s" % (self.base_url, path.lstrip("/"))
        if query:
            url += "?" + urllib.parse.urlencode([(k, _scalar(v)) for k, v in query.items()
                                                 if v is not None])
        pairs = flatten_form(data) if data is not None else []
        body = urllib.parse.urlencode(pairs).encode("ascii") if data is not None else None
        headers = self._headers(method, url, pairs, body is not None)
        shown = "%s/%s" % (self._base_path, path.lstrip("/"))
        if self._session is None:
            self._count(method)
        try:
            resp = self.transport(method, url, headers, body, self.timeout, idempotent)
        except TransportError as exc:
            raise MailWizzError(obj, method, shown, None, self._redact(str(exc)), transport=True,
                                connect=getattr(exc, "connect", False))
        payload = _json(resp.body)
        if 200 <= resp.status < 300:
            if not isinstance(payload, dict):
                raise MailWizzError(obj, method, shown, resp.status, "response is not JSON")
            return resp.status, payload
        if accept_404 and resp.status == 404:
            return 404, None
        detail = None
        if isinstance(payload, dict):
            detail = payload.get("error") or payload.get("message")
        if detail is None:
            detail = resp.body[:200].decode("utf-8", "replace") if resp.body else None
        detail = self._redact(detail)
        retry_after = None
        if resp.headers.get("retry-after"):
            try:
                retry_after = float(resp.headers["retry-after"])
            except ValueError:
                retry_after = None
        raise MailWizzError(obj, method, shown, resp.status, detail, retry_after=retry_after)

    def get(self, path, query=None, obj="request", accept_404=False):
        return self.request("GET", path, query=query, obj=obj, accept_404=accept_404)[1]

    def collect(self, path, query=None, key=None, obj="collection", per_page=PER_PAGE_MAX):
        """Every record of a collection, in the order MailWizz returns them (newest first).

        MailWizz pages with ``ORDER BY id DESC LIMIT/OFFSET``: a row added (or removed) while
        the pages are read shifts the later pages. A pass counts: it is kept only when the
        collection's ``count`` did not move during the pass and the distinct records seen
        (by ``key``) are exactly ``count``; otherwise the collection is read again (at most
        ``COLLECT_PASSES`` times, then MailWizzError). A missing collection (404) is empty.
        """
        per_page = clamp_per_page(per_page)
        keyfunc = key or (lambda rec: json.dumps(rec, sort_keys=True))
        counts = []
        for _pass in range(COLLECT_PASSES):
            seen = OrderedDict()
            counts = []
            page = 1
            while True:
                q = dict(query or {})
                q.update({"page": page, "per_page": per_page})
                status, payload = self.request("GET", path, query=q, obj=obj, accept_404=True)
                if status == 404 or payload is None:
                    return []
                data = payload.get("data") or {}
                try:
                    counts.append(parse_count(data.get("count")))
                    total_pages = parse_count(data.get("total_pages"), "total_pages")
                except ValueError as exc:
                    raise MailWizzError(obj, "GET", "%s/%s" % (self._base_path, path),
                                        status, "unreadable collection: %s" % exc)
                records = data.get("records") or []
                for rec in records:
                    seen.setdefault(keyfunc(rec), rec)
                if not records or not data.get("next_page") or page >= total_pages:
                    break
                page += 1
            if len(set(counts)) == 1 and counts[0] == len(seen):
                return list(seen.values())
        raise MailWizzError(obj, "GET", "%s/%s" % (self._base_path, path), None,
                            "the collection kept changing while it was read (%d passes, counts "
                            "%s)" % (COLLECT_PASSES, counts))

    def paginate(self, path, query=None, per_page=PER_PAGE_MAX, obj="collection", key=None):
        """Iterator over :meth:`collect` (kept for callers that stream)."""
        return iter(self.collect(path, query=query, key=key, obj=obj, per_page=per_page))

    def collection_count(self, path, obj="collection"):
        status, payload = self.request("GET", path, query={"page": 1, "per_page": PER_PAGE_MIN},
                                       obj=obj, accept_404=True)
        if status == 404 or payload is None:
            return 0
        return parse_count((payload.get("data") or {}).get("count"))

    # ---------------------------------------------------------------------------- safe creates
    def pick(self, obj, matches, id_key=None, uid=None):
        """One object out of the look-up's matches: the oldest, with a warning naming the
        duplicates (made by an older run or another tool); the run goes on with the oldest."""
        if not matches:
            return None
        chosen = oldest(matches, id_key)
        if len(matches) > 1:
            uids = [uid(r) if uid else r for r in matches]
            self.warn("MailWizz %s exists %d times (%s): using the oldest, %s; delete the "
                      "others in MailWizz" % (obj, len(matches), ", ".join(map(str, uids)),
                                              uid(chosen) if uid else chosen))
        return chosen

    def settle_lookup(self, exc, lookup, done=bool):
        """After a failed create: look up with backoff before any new POST.

        An ambiguous failure (timeout, dropped connection, 5xx: the server may still commit)
        is followed by look-ups for up to ``settle`` seconds; a refusal that proves nothing
        was processed (429, 409 busy, connection refused) by one look-up after the backoff.
        Returns the last look-up result (``done(result)`` stops early)."""
        deadline = self.clock() + (self.settle if exc.ambiguous else 0.0)
        attempt = 0
        found = None
        while True:
            self.sleep(self.backoff_delay(attempt, exc.retry_after if attempt == 0 else None))
            found = lookup()
            attempt += 1
            if done(found) or self.clock() >= deadline or attempt >= SETTLE_MAX_LOOKUPS:
                return found

    def create_safely(self, obj, lookup, create, id_key=None, uid=None):
        """Look up, create if absent; a failed create is followed by :meth:`settle_lookup`
        before a new POST, so a retried POST never duplicates an object that landed.

        ``lookup()`` returns the matching records (newest first). Returns ``(record, created)``.
        """
        found = self.pick(obj, lookup(), id_key, uid)
        if found is not None:
            return found, False
        attempts = 1 + self.retries
        for attempt in range(attempts):
            try:
                return create(), True
            except MailWizzError as exc:
                if not exc.create_retryable or attempt + 1 >= attempts:
                    raise
                matches = self.settle_lookup(exc, lookup)
            found = self.pick(obj, matches, id_key, uid)
            if found is not None:
                return found, True
        raise AssertionError("unreachable")

    # ---------------------------------------------------------------------------- lists
    def lists(self):
        return self.collect("lists", key=_list_uid, obj="lists")

    def find_lists(self, name):
        """Every list named ``name`` (newest first)."""
        return [r for r in self.collect("lists", key=_list_uid, obj="list %r" % name)
                if (r.get("general") or {}).get("name") == name]

    def find_list(self, name):
        return self.pick("list %r" % name, self.find_lists(name), uid=_list_uid)

    def get_list(self, list_uid):
        return (self.get("lists/%s" % list_uid, obj="list %s" % list_uid).get("data")
                or {}).get("record")

    def create_list(self, name, body):
        """Create a list named ``name`` unless one exists; returns ``(record, created)``."""
        obj = "list %r" % name

        def create():
            _status, payload = self.request("POST", "lists", data=body, obj=obj)
            return {"general": {"list_uid": payload.get("list_uid"), "name": name}}

        return self.create_safely(obj, lambda: self.find_lists(name), create, uid=_list_uid)

    def update_list(self, list_uid, body):
        return self.request("PUT", "lists/%s" % list_uid, data=body,
                            obj="list %s" % list_uid)[1]

    def delete_list(self, list_uid):
        status, _payload = self.request("DELETE", "lists/%s" % list_uid, obj="list %s" % list_uid,
                                        accept_404=True)
        return status != 404

    def list_fields(self, list_uid):
        payload = self.get("lists/%s/fields" % list_uid, obj="fields of list %s" % list_uid)
        return (payload.get("data") or {}).get("records") or []

    def create_field(self, list_uid, tag, label, field_type="text"):
        obj = "field %s of list %s" % (tag, list_uid)

        def lookup():
            return [f for f in self.list_fields(list_uid) if f.get("tag") == tag]

        def create():
            self.request("POST", "lists/%s/fields" % list_uid, obj=obj,
                         data={"field": {"type": field_type, "label": label, "tag": tag,
                                         "required": "no", "visibility": "visible"}})
            found = lookup()
            if not found:
                raise MailWizzError(obj, "GET", "%s/lists/%s/fields" % (self._base_path,
                                                                        list_uid),
                                    None, "created but not listed")
            return found[0]

        return self.create_safely(obj, lookup, create, id_key="field_id",
                                  uid=lambda f: f.get("field_id"))

    # ---------------------------------------------------------------------------- segments
    def segments(self, list_uid):
        return self.collect("lists/%s/segments" % list_uid, key=_segment_uid,
                            obj="segments of list %s" % list_uid)

    def find_segments(self, list_uid, name):
        return [r for r in self.segments(list_uid) if r.get("name") == name]

    def find_segment(self, list_uid, name):
        return self.pick("segment %r of list %s" % (name, list_uid),
                         self.find_segments(list_uid, name), uid=_segment_uid)

    def create_segment(self, list_uid, name, conditions, operator_match="all"):
        """``conditions``: [{"field_id", "operator_id", "value"}]."""
        obj = "segment %r of list %s" % (name, list_uid)
        body = {"segment": {"name": name, "operator_match": operator_match},
                "conditions": list(conditions)}

        def create():
            _status, payload = self.request("POST", "lists/%s/segments" % list_uid, data=body, obj=obj)
            uid = payload.get("segment_uid") or ((payload.get("data") or {}).get("record")
                                                 or {}).get("segment_uid")
            return {"segment_uid": uid, "name": name}

        return self.create_safely(obj, lambda: self.find_segments(list_uid, name), create,
                                  uid=_segment_uid)

    def segment_subscribers(self, list_uid, segment_uid):
        return self.collect("lists/%s/segments/%s/subscribers" % (list_uid, segment_uid),
                            key=_subscriber_uid, obj="subscribers of segment %s" % segment_uid)

    # ---------------------------------------------------------------------------- subscribers
    def subscribers(self, list_uid):
        return self.collect("lists/%s/subscribers" % list_uid, key=_subscriber_uid,
                            obj="subscribers of list %s" % list_uid)

    def search_subscriber(self, list_uid, email):
        if not email:
            raise ValueError("search_subscriber needs an email (MailWizz answers 422 without)")
        payload = self.get("lists/%s/subscribers/search-by-email" % list_uid, {"EMAIL": email},
                           obj="subscriber in list %s" % list_uid, accept_404=True)
        return None if payload is None else payload.get("data")

    def create_subscriber(self, list_uid, fields):
        """One subscriber, duplicate-safe. ``fields``: {"EMAIL":..., tags..., "details":{...}}."""
        email = fields.get("EMAIL", "")
        obj = "subscriber in list %s" % list_uid

        def lookup():
            hit = self.search_subscriber(list_uid, email)
            return [hit] if hit else []

        def create():
            _status, payload = self.request("POST", "lists/%s/subscribers" % list_uid, data=fields,
                                            obj=obj)
            return (payload.get("data") or {}).get("record") or {}

        return self.create_safely(obj, lookup, create)

    def bulk_create_subscribers(self, list_uid, rows):
        """POST ``subscribers/bulk`` once (caller chunks to ≤ BULK_MAX and handles ambiguity).

        Returns the per-row result records the server sent back."""
        if len(rows) > BULK_MAX:
            raise ValueError("at most %d subscribers per bulk call" % BULK_MAX)
        _status, payload = self.request("POST", "lists/%s/subscribers/bulk" % list_uid,
                                        data={"subscribers": list(rows)},
                                        obj="bulk subscribers of list %s" % list_uid)
        return (payload.get("data") or {}).get("records") or []

    def update_subscriber(self, list_uid, subscriber_uid, fields):
        return self.request("PUT", "lists/%s/subscribers/%s" % (list_uid, subscriber_uid),
                            data=fields, obj="subscriber %s" % subscriber_uid)[1]

    def delete_subscriber(self, list_uid, subscriber_uid):
        status, _payload = self.request("DELETE", "lists/%s/subscribers/%s" % (list_uid, subscriber_uid),
                                        obj="subscriber %s" % subscriber_uid, accept_404=True)
        return status != 404

    # ---------------------------------------------------------------------------- campaigns
    def campaigns(self):
        return self.collect("campaigns", key=_campaign_uid, obj="campaigns")

    def find_campaigns(self, name):
        return [r for r in self.campaigns() if r.get("name") == name]

    def find_campaign(self, name):
        return self.pick("campaign %r" % name, self.find_campaigns(name), "campaign_id",
                         _campaign_uid)

    def get_campaign(self, campaign_uid):
        return (self.get("campaigns/%s" % campaign_uid, obj="campaign %s" % campaign_uid)
                .get("data") or {}).get("record")

    @staticmethod
    def campaign_body(campaign):
        campaign = dict(campaign)
        if "template" in campaign:
            campaign["template"] = encode_campaign_template(campaign["template"])
        return {"campaign": campaign}

    def create_campaign(self, campaign):
        name = campaign["name"]
        obj = "campaign %r" % name
        body = self.campaign_body(campaign)

        def create():
            _status, payload = self.request("POST", "campaigns", data=body, obj=obj)
            return {"campaign_uid": payload.get("campaign_uid"), "name": name}

        return self.create_safely(obj, lambda: self.find_campaigns(name), create,
                                  id_key="campaign_id", uid=_campaign_uid)

    def update_campaign(self, campaign_uid, campaign):
        return self.request("PUT", "campaigns/%s" % campaign_uid,
                            data=self.campaign_body(campaign),
                            obj="campaign %s" % campaign_uid)[1]

    def delete_campaign(self, campaign_uid):
        status, _payload = self.request("DELETE", "campaigns/%s" % campaign_uid,
                                        obj="campaign %s" % campaign_uid, accept_404=True)
        return status != 404

    def pause_unpause(self, campaign_uid):
        """A toggle: never replayed blindly (a replay would undo it)."""
        return self.request("PUT", "campaigns/%s/pause-unpause" % campaign_uid,
                            obj="campaign %s" % campaign_uid, idempotent=False)[1]

    def campaign_stats(self, campaign_uid):
        return self.get("campaigns/%s/stats" % campaign_uid,
                        obj="stats of campaign %s" % campaign_uid).get("data") or {}

    # ---------------------------------------------------------------------------- other reads
    def delivery_servers(self):
        return self.collect("delivery-servers", key=lambda r: r.get("server_id"),
                            obj="delivery servers")

    def health(self):
        """One cheap authenticated read; raises MailWizzError when the API is not usable."""
        start = self.clock()
        self.request("GET", "lists", query={"page": 1, "per_page": PER_PAGE_MIN},
                     obj="health check")
        return {"ok": True, "latency_ms": int((self.clock() - start) * 1000)}


def _list_uid(record):
    return (record.get("general") or {}).get("list_uid")


def _segment_uid(record):
    return record.get("segment_uid")


def _subscriber_uid(record):
    return record.get("subscriber_uid")


def _campaign_uid(record):
    return record.get("campaign_uid")


# --------------------------------------------------------------------------------------------
# Factory from inventory data
# --------------------------------------------------------------------------------------------
AUTH_KEYS = ("api_key", "public_key", "private_key")
CONNECTION_KEYS = ("url",) + AUTH_KEYS + ("retries", "backoff", "settle") + HTTP_OPTION_KEYS


def connection_for_tenant(tenant, tenants, instances):
    """Resolve the connection settings of ``tenant`` (pure: plain dicts in, a dict out).

    ``tenants[tenant]["mailwizz"]`` names an entry of ``instances``
    (``mailfleet_mailwizz_instances``: url, key and the HTTP options); the tenant may carry its
    own customer credentials in ``tenants[tenant]["mailwizz_auth"]`` ({api_key} or
    {public_key, private_key}) when several tenants share one MailWizz installation. Every
    tenant must end up with its own key: two tenants resolving to the same key would see (and
    change) each other's lists. Messages never contain a key.
    """
    if tenant not in (tenants or {}):
        raise ConfigError("tenant %r is not in mailfleet_tenants" % tenant)
    instance_name = (tenants[tenant] or {}).get("mailwizz")
    if not instance_name:
        raise ConfigError("tenant %r has no mailwizz instance" % tenant)
    if instance_name not in (instances or {}):
        raise ConfigError("tenant %r: mailwizz instance %r is not in "
                          "mailfleet_mailwizz_instances" % (tenant, instance_name))
    instance = instances[instance_name] or {}
    if not isinstance(instance, dict):
        raise ConfigError("mailwizz instance %r is not a mapping" % instance_name)
    conn = dict((k, v) for k, v in instance.items() if k in CONNECTION_KEYS and v is not None)
    auth = (tenants[tenant] or {}).get("mailwizz_auth") or {}
    if not isinstance(auth, dict):
        raise ConfigError("tenant %r: mailwizz_auth must be a mapping {api_key} or "
                          "{public_key, private_key}" % tenant)
    unknown = sorted(k for k in auth if k not in AUTH_KEYS)
    if unknown:
        raise ConfigError("tenant %r: mailwizz_auth holds only %s, not %s"
                          % (tenant, ", ".join(AUTH_KEYS), ", ".join(map(str, unknown))))
    if auth:
        for key in AUTH_KEYS:  # the tenant's own credentials replace the instance's
            conn.pop(key, None)
        conn.update(dict((k, v) for k, v in auth.items() if v))
    if not conn.get("url"):
        raise ConfigError("mailwizz instance %r has no url" % instance_name)
    if not conn.get("api_key") and not (conn.get("public_key") and conn.get("private_key")):
        raise ConfigError("tenant %r: no api_key (or public_key + private_key) for mailwizz "
                          "instance %r" % (tenant, instance_name))
    return conn


def mailwizz_installation(url):
    """A MailWizz API URL as the installation it names: scheme and host lowercased, no trailing '/'."""
    parts = urllib.parse.urlsplit(str(url).strip())
    return "%s://%s%s" % (parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"))


def shared_mailwizz_keys(keys):
    """The key-isolation rule, in one place: each tenant on a MailWizz installation authenticates
    with its own customer key -- two tenants with the same key would see (and change) each other's
    lists. ``keys``: {tenant: (url, key)}. Returns [(tenant, url, first_tenant)] for every tenant
    (in name order) whose key another tenant before it already uses on the same installation
    (``mailwizz_installation``). Keys are compared, never returned."""
    owner, clashes = {}, []
    for name in sorted(keys):
        url, key = keys[name]
        ident = (mailwizz_installation(url), key)
        if ident in owner:
            clashes.append((name, url, owner[ident]))
        else:
            owner[ident] = name
    return clashes


def check_key_isolation(tenants, instances):
    """Raise ConfigError when two tenants with a MailWizz instance share a customer key (the rule:
    shared_mailwizz_keys, which the inventory validation applies too)."""
    keys = {}
    for name in sorted(tenants or {}):
        if not (tenants[name] or {}).get("mailwizz"):
            continue
        conn = connection_for_tenant(name, tenants, instances)
        keys[name] = (conn["url"], conn.get("api_key") or conn.get("public_key"))
    for name, url, first in shared_mailwizz_keys(keys)[:1]:
        raise ConfigError("tenants %r and %r use the same MailWizz key on %s: each tenant "
                          "needs its own customer key" % (first, name, mailwizz_installation(url)))


def client_from_connection(conn, **kwargs):
    args = dict((k, conn[k]) for k in CONNECTION_KEYS if conn.get(k) is not None)
    args.update(kwargs)
    return MailWizzClient(**args)


def client_for_tenant(tenant, tenants, instances, **kwargs):
    """A client bound to ``tenant``'s own customer key (isolation checked fleet-wide)."""
    check_key_isolation(tenants, instances)
    return client_from_connection(connection_for_tenant(tenant, tenants, instances), **kwargs)
