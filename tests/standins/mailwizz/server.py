#!/usr/bin/env python3
"""A stand-in for the MailWizz customer API (test double; the toolkit never imports it).

Behaves like MailWizz 2.x as described in /work/shared/reference/mailwizz-api.md and
docs/mailwizz-api-facts.md (read in MailWizz 2.3.9's controllers), and is as strict; where unsure,
stricter:

* form bodies only (a JSON body is not read, so validation fails), envelopes, uneven 201 bodies,
  400 on a bad key (never 401), 404 on search misses, 409 on an existing or blacklisted
  subscriber, 422 on validation errors (nested per section for lists), base64 template fields
  decoded (and refused when not base64), ETag/304;
* collections newest first (``ORDER BY id DESC``, so offset pages shift while rows are added),
  ``count`` a string, ``total_pages`` a float, empty collections all nulls, ``per_page`` clamped
  to 10..50 (2.3.9 allows up to 1000: the stand-in is the stricter);
* lists show only what MailWizz shows (``opt_in``/``opt_out`` are write-only);
* bulk subscribe answers one ``{"data": {...}, "errors": {...}}`` per row, no per-row status;
  an unsubscribed subscriber added again is re-subscribed (201); an unknown ``details[status]``
  is ignored; a search without ``EMAIL`` is 422; a PUT must carry the required fields;
* 2.x keys (``X-Api-Key``, ``X-MW-PUBLIC-KEY`` fallback) or, with ``api_version="1"``, signed
  requests that need a timestamp no older than 900 s (even with the signature check off).

Each API key is one customer that sees only its own lists, campaigns and delivery servers.
Duplicate list and campaign names are accepted (as MailWizz does): a client that retries a
create blindly makes duplicates, and the tests see them.

Fault injection (seeded RNG, per run): ``faults={"rate": 0.3, "kinds": {"500": 1, "503": 1,
"429": 1, "drop": 1, "slow": 1}, "after_commit": 0.5, "slow_seconds": 0.3, "retry_after": 0}``.
"500", "drop" and "slow" happen before or after the request is applied (``after_commit`` share):
a lost answer is really ambiguous, and a slow reply either commits late (after a client with a
shorter timeout gave up) or commits at once and answers late. Admin endpoints (JSON, outside the
API): ``GET /_admin/stats``, ``POST /_admin/faults``, ``POST /_admin/reset-stats``,
``GET /_admin/state``.

With ``state_path`` the data (lists, subscribers, campaigns, ...) is loaded from that JSON file at
start and saved after every successful write (the demo keeps its MailWizz in .work/).

Usage: ``MailWizzStandin(customers={"acme": {"api_key": "..."}}).start()`` -> base URL
``http://127.0.0.1:<port>/api``; or ``python server.py --customer acme:KEY``.
"""
from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import json
import math
import os
import random
import re
import socket
import threading
import time
import urllib.parse
from collections import Counter, OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z0-9-]{2,}$")
TAG_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,49}$")
SUB_STATUSES = ("unconfirmed", "confirmed", "blacklisted", "unsubscribed", "unapproved",
                "disabled", "moved")
CAMPAIGN_EDITABLE = ("draft", "pending-sending", "paused")
BULK_MAX = 10000
SIGNATURE_MAX_AGE = 900
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
# segment operators (MailWizz list segment operator ids)
OPERATORS = {1: "is", 2: "is not", 3: "contains", 4: "not contains", 5: "starts with",
             6: "ends with", 7: "is greater than", 8: "is less than",
             9: "not starts with", 10: "not ends with"}


class ApiError(Exception):
    def __init__(self, status, error, headers=None):
        Exception.__init__(self, error)
        self.status = status
        self.error = error
        self.headers = headers or {}


def php_parse(pairs):
    """Form pairs -> nested dicts the way PHP builds $_POST (``a[b][c]=v``)."""
    root = OrderedDict()
    for key, value in pairs:
        m = re.match(r"^([^\[]+)((?:\[[^\]]*\])*)$", key)
        if not m:
            root[key] = value
            continue
        parts = [m.group(1)] + re.findall(r"\[([^\]]*)\]", m.group(2))
        node = root
        for part in parts[:-1]:
            nxt = node.get(part)
            if not isinstance(nxt, dict):
                nxt = OrderedDict()
                node[part] = nxt
            node = nxt
        last = parts[-1]
        if last == "":
            last = str(len(node))
        node[last] = value
    return root


def _php_urlencode(text):
    return urllib.parse.quote_plus(text, safe="").replace("~", "%7E")


def php_signature_base(method, full_url, special, pairs):
    """What MailWizz 1.x signs: METHOD URL?http_build_query(ksort(headers + params))."""
    groups = OrderedDict()
    for key, value in list(special.items()) + list(pairs):
        groups.setdefault(key.split("[", 1)[0], []).append((key, value))
    query = "&".join("%s=%s" % (_php_urlencode(k), _php_urlencode(v))
                     for top in sorted(groups, key=lambda s: s.encode("utf-8"))
                     for k, v in groups[top])
    return "%s %s%s%s" % (method, full_url, "&" if "?" in full_url else "?", query)


class Store(object):
    """All state, guarded by one lock."""

    def __init__(self, customers, rng):
        self.lock = threading.RLock()
        self.rng = rng
        self.customers = OrderedDict()
        self.lists = OrderedDict()        # uid -> list dict
        self.campaigns = OrderedDict()    # uid -> campaign dict
        self.templates = OrderedDict()
        self.emails = OrderedDict()       # transactional
        self.blacklist = set()
        self._field_id = 0
        self._sub_id = 0
        self._camp_id = 0
        for name, spec in (customers or {}).items():
            spec = dict(spec)
            servers = spec.get("delivery_servers")
            if servers is None:
                servers = [{"type": "smtp-pmta", "name": "%s-pmta" % name,
                            "hostname": "pmta-%s.example.test" % name, "status": "active"}]
            spec["delivery_servers"] = [dict(s, server_id=str(i + 1 + 100 * len(self.customers)))
                                        for i, s in enumerate(servers)]
            spec["name"] = name
            self.customers[name] = spec

    def uid(self, taken):
        while True:
            uid = "".join(self.rng.choice("abcdefghijklmnopqrstuvwxyz0123456789")
                          for _ in range(13))
            if uid not in taken:
                return uid

    def next_field_id(self):
        self._field_id += 1
        return str(self._field_id)

    # persistence (the demo keeps its MailWizz between runs): everything but the customers
    def dump(self):
        return {"format": 1, "lists": self.lists, "campaigns": self.campaigns,
                "templates": self.templates, "emails": self.emails,
                "blacklist": sorted(self.blacklist),
                "counters": {"field": self._field_id, "subscriber": self._sub_id,
                             "campaign": self._camp_id}}

    def load(self, data):
        if data.get("format") != 1:
            raise ValueError("unknown stand-in state format %r" % data.get("format"))
        unknown = set(c for obj in list(data["lists"].values()) + list(data["campaigns"].values())
                      for c in [obj.get("customer")] if c not in self.customers)
        if unknown:
            raise ValueError("saved state belongs to customers %s that are not configured"
                             % ", ".join(sorted(unknown)))
        self.lists = data["lists"]
        self.campaigns = data["campaigns"]
        self.templates = data["templates"]
        self.emails = data["emails"]
        self.blacklist = set(data["blacklist"])
        self._field_id = data["counters"]["field"]
        self._sub_id = data["counters"]["subscriber"]
        self._camp_id = data["counters"]["campaign"]


class MailWizzStandin(object):
    def __init__(self, customers, api_version="2", verify_signature=True, faults=None, seed=0,
                 host="127.0.0.1", port=0, clock=None, blacklist=(), state_path=None):
        self.api_version = str(api_version)
        self.verify_signature = verify_signature
        self.seed = seed
        self.rng = random.Random(seed)
        self.store = Store(customers, random.Random(seed + 1))
        self.state_path = state_path
        if state_path and os.path.exists(state_path):
            with open(state_path, encoding="utf-8") as handle:
                self.store.load(json.load(handle, object_pairs_hook=OrderedDict))
        self.store.blacklist.update(e.lower() for e in blacklist)
        self.clock = clock or time.time
        self.set_faults(faults or {})
        self.stats = Counter()
        self.log = []
        self._stats_lock = threading.Lock()
        self.host = host
        self.port = port
        self.httpd = None
        self.thread = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self):
        return "http://%s:%d/api" % (self.host, self.httpd.server_address[1])

    def start(self):
        handler = type("Handler", (_Handler,), {"standin": self})
        self.httpd = _Server((self.host, self.port), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self.url

    def stop(self):
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def save_state(self):
        """Write the store to ``state_path`` (atomically; called with the store lock held)."""
        if not self.state_path:
            return
        tmp = "%s.tmp.%d" % (self.state_path, os.getpid())
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(self.store.dump(), handle)
        os.replace(tmp, self.state_path)

    # ------------------------------------------------------------------ faults and stats
    def set_faults(self, faults):
        self.faults = {"rate": float(faults.get("rate", 0.0)),
                       "kinds": dict(faults.get("kinds") or {"500": 1, "503": 1, "429": 1,
                                                             "drop": 1, "slow": 1}),
                       "after_commit": float(faults.get("after_commit", 0.5)),
                       "slow_seconds": float(faults.get("slow_seconds", 0.3)),
                       "retry_after": faults.get("retry_after", 1),
                       "methods": faults.get("methods")}
        if "seed" in faults:
            self.rng = random.Random(faults["seed"])
        self.fault_rng_lock = threading.Lock()

    def pick_fault(self, method):
        f = self.faults
        if f["rate"] <= 0 or (f["methods"] and method not in f["methods"]):
            return None, False
        with self.fault_rng_lock:
            if self.rng.random() >= f["rate"]:
                return None, False
            kinds = sorted(f["kinds"].items())
            total = sum(w for _, w in kinds)
            roll = self.rng.uniform(0, total)
            chosen = kinds[-1][0]
            for kind, weight in kinds:
                if roll < weight:
                    chosen = kind
                    break
                roll -= weight
            return chosen, self.rng.random() < f["after_commit"]

    def count(self, key):
        with self._stats_lock:
            self.stats[key] += 1

    def reset_stats(self):
        with self._stats_lock:
            self.stats.clear()

    def api_calls(self, method=None):
        return sum(v for k, v in self.stats.items() if k.startswith("api ")
                   and (method is None or k.split()[1] == method))

    # ------------------------------------------------------------------ inspection for tests
    def lists_of(self, customer):
        with self.store.lock:
            return [lst for lst in self.store.lists.values() if lst["customer"] == customer]

    def campaigns_of(self, customer):
        with self.store.lock:
            return [c for c in self.store.campaigns.values() if c["customer"] == customer]

    def snapshot(self):
        with self.store.lock:
            return {name: {"lists": [{"list_uid": lst["uid"], "name": lst["general"]["name"],
                                      "subscribers": len(lst["subs"]),
                                      "segments": [s["name"] for s in lst["segments"].values()]}
                                     for lst in self.lists_of(name)],
                           "campaigns": [{"campaign_uid": c["uid"], "name": c["name"],
                                          "status": c["status"], "send_at": c["send_at"],
                                          "segment_uid": c.get("segment_uid")}
                                         for c in self.campaigns_of(name)]}
                    for name in self.store.customers}


# ======================================================================================
# Request handling
# ======================================================================================
ROUTES = [
    ("lists", {"GET": "lists_index", "POST": "lists_create"}),
    ("lists/subscribers/search-by-email-in-all-lists", {"GET": "subs_search_all"}),
    ("lists/subscribers/unsubscribe-by-email-from-all-lists", {"PUT": "subs_unsub_all"}),
    ("lists/{list}", {"GET": "lists_view", "PUT": "lists_update", "DELETE": "lists_delete"}),
    ("lists/{list}/copy", {"POST": "lists_copy"}),
    ("lists/{list}/fields", {"GET": "fields_index", "POST": "fields_create"}),
    ("lists/{list}/segments", {"GET": "segments_index", "POST": "segments_create"}),
    ("lists/{list}/segments/{segment}", {"GET": "segments_view", "PUT": "segments_update",
                                         "DELETE": "segments_delete"}),
    ("lists/{list}/segments/{segment}/subscribers", {"GET": "segments_subscribers"}),
    ("lists/{list}/subscribers", {"GET": "subs_index", "POST": "subs_create"}),
    ("lists/{list}/subscribers/bulk", {"POST": "subs_bulk"}),
    ("lists/{list}/subscribers/search-by-email", {"GET": "subs_search"}),
    ("lists/{list}/subscribers/{sub}", {"GET": "subs_view", "PUT": "subs_update",
                                        "DELETE": "subs_delete"}),
    ("lists/{list}/subscribers/{sub}/unsubscribe", {"PUT": "subs_unsubscribe"}),
    ("campaigns", {"GET": "camp_index", "POST": "camp_create"}),
    ("campaigns/{campaign}", {"GET": "camp_view", "PUT": "camp_update", "DELETE": "camp_delete"}),
    ("campaigns/{campaign}/copy", {"POST": "camp_copy"}),
    ("campaigns/{campaign}/pause-unpause", {"PUT": "camp_pause_unpause"}),
    ("campaigns/{campaign}/mark-sent", {"PUT": "camp_mark_sent"}),
    ("campaigns/{campaign}/stats", {"GET": "camp_stats"}),
    ("campaigns/{campaign}/bounces", {"GET": "camp_empty", "POST": "camp_bounce_create"}),
    ("campaigns/{campaign}/unsubscribes", {"GET": "camp_empty"}),
    ("campaigns/{campaign}/delivery-logs", {"GET": "camp_empty"}),
    ("templates", {"GET": "tpl_index", "POST": "tpl_create"}),
    ("templates/{template}", {"GET": "tpl_view", "PUT": "tpl_update", "DELETE": "tpl_delete"}),
    ("transactional-emails", {"GET": "tx_index", "POST": "tx_create"}),
    ("transactional-emails/{email}", {"GET": "tx_view", "DELETE": "tx_delete"}),
    ("delivery-servers", {"GET": "ds_index"}),
    ("delivery-servers/{server}", {"GET": "ds_view"}),
]


def _compile(template):
    names = []

    def repl(m):
        names.append(m.group(1))
        return "(?P<%s>[^/]+)" % m.group(1)

    return re.compile("^" + re.sub(r"\{(\w+)\}", repl, template) + "$")


COMPILED = [(tpl, _compile(tpl), methods) for tpl, methods in ROUTES]


def _decode_b64(value, field):
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
        return raw.decode("utf-8")
    except (binascii.Error, ValueError, UnicodeError):
        raise ApiError(422, {field: "The %s must be a base64 encoded string." % field})


def _yes_no(value, field, errors):
    if value not in (None, "yes", "no"):
        errors[field] = "%s must be yes or no." % field


def paginate(records, query):
    """A MailWizz 2.x collection page of ``records`` (given oldest first).

    As MailWizz 2.x: ``ORDER BY id DESC`` (newest first, so offset pages shift while rows are
    added), ``count`` a string (PDO), ``total_pages`` a float (PHP ``ceil``), and an empty
    collection all nulls with ``records: []``."""
    try:
        page = max(1, int(query.get("page", 1)))
    except ValueError:
        page = 1
    try:
        per_page = int(query.get("per_page", 10))
    except ValueError:
        per_page = 10
    per_page = max(10, min(50, per_page))
    count = len(records)
    if count == 0:
        return {"count": None, "total_pages": None, "current_page": None, "next_page": None,
                "prev_page": None, "records": []}
    total_pages = math.ceil(count / float(per_page))
    start = (page - 1) * per_page
    newest_first = list(reversed(records))
    return {"count": str(count), "total_pages": float(total_pages), "current_page": page,
            "next_page": page + 1 if page < total_pages else None,
            "prev_page": page - 1 if page > 1 else None,
            "records": newest_first[start:start + per_page]}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # clients that time out close their end: not a server error worth a traceback
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    standin = None  # set by MailWizzStandin.start

    def setup(self):
        BaseHTTPRequestHandler.setup(self)
        # headers and body are written separately: without this, Nagle + delayed ACK add
        # ~40 ms to every keep-alive response (a real server behind nginx does not do that)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):  # quiet
        pass

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def do_DELETE(self):
        self._handle("DELETE")

    def do_PATCH(self):
        self._handle("PATCH")

    # ------------------------------------------------------------------ plumbing
    def _send(self, status, payload, headers=None, raw=None, ctype="application/json"):
        body = raw if raw is not None else json.dumps(payload).encode("utf-8")
        if self.command == "GET" and status == 200 and raw is None:
            etag = '"%s"' % hashlib.sha1(body).hexdigest()
            headers = dict(headers or {}, ETag=etag)
            if self.headers.get("If-None-Match") == etag:
                status, body = 304, b""
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _drop(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _handle(self, method):
        st = self.standin
        parts = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if parts.path.startswith("/_admin/"):
            return self._admin(method, parts.path, raw)
        if not parts.path.startswith("/api/") and parts.path != "/api":
            return self._send(404, {"status": "error", "error": "Page not found."})
        path = parts.path[len("/api/"):].strip("/")
        query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        pairs = []
        if raw and ctype == "application/x-www-form-urlencoded":
            pairs = urllib.parse.parse_qsl(raw.decode("utf-8", "replace"),
                                           keep_blank_values=True)
        if method == "POST" and self.headers.get("X-HTTP-Method-Override") in ("PUT", "DELETE"):
            method = self.headers["X-HTTP-Method-Override"]

        route_name, params = None, {}
        template = None
        for tpl, rx, methods in COMPILED:
            m = rx.match(path)
            if m:
                template = tpl
                route_name = methods.get(method)
                params = m.groupdict()
                break
        st.count("api %s %s" % (method, template or "?"))

        fault, after = st.pick_fault(method)
        if fault == "429":
            return self._send(429, {"status": "error", "error": "Too many requests."},
                              headers={"Retry-After": st.faults["retry_after"]})
        if fault == "503":
            return self._send(503, {"status": "error",
                                    "error": "The API is offline for maintenance."})
        if fault in ("500", "drop") and not after:
            return self._fault_response(fault)
        if fault == "slow" and not after:
            # the reply is late because the server is slow: it commits after the client gave up
            time.sleep(st.faults["slow_seconds"])

        try:
            customer = self._authenticate(method, parts, pairs)
            if template is None:
                raise ApiError(404, "The requested page does not exist.")
            if route_name is None:
                raise ApiError(400, "This request method is not supported by this endpoint.")
            body = php_parse(pairs)
            with st.store.lock:
                status, payload = getattr(Api(st.store, customer), route_name)(
                    params, query, body)
                if method != "GET" and status < 300:
                    st.save_state()
        except ApiError as exc:
            status, payload = exc.status, {"status": "error", "error": exc.error}
        if fault in ("500", "drop"):
            return self._fault_response(fault)
        if fault == "slow" and after:
            # committed, but the answer comes later than the client waits
            time.sleep(st.faults["slow_seconds"])
        self._send(status, payload)

    def _fault_response(self, fault):
        if fault == "drop":
            return self._drop()
        return self._send(500, None, raw=b"<html><body>Internal Server Error</body></html>",
                          ctype="text/html")

    def _authenticate(self, method, parts, pairs):
        st = self.standin
        customers = st.store.customers
        api_key = self.headers.get("X-Api-Key")
        public = self.headers.get("X-MW-PUBLIC-KEY")
        if st.api_version != "1":
            # 2.x: X-Api-Key, X-MW-PUBLIC-KEY kept as a fallback; no signature
            key = api_key or public
            if not key:
                raise ApiError(400, "Invalid API request params. Please refer to the "
                                    "documentation.")
            for name, spec in customers.items():
                if key == spec.get("api_key"):
                    return name
            raise ApiError(400, "Invalid API key. Please refer to the documentation.")
        # 1.x: the three headers are required even when the admin turned the signature
        # check off (then an empty signature is accepted), and the timestamp must be fresh
        ts = self.headers.get("X-MW-TIMESTAMP") or ""
        signature = self.headers.get("X-MW-SIGNATURE") or ""
        if not st.verify_signature and not signature:
            signature = "---"
        if not public or not ts or not signature:
            raise ApiError(400, "Invalid API request params. Please refer to the documentation.")
        match = None
        for name, spec in customers.items():
            if public == spec.get("public_key"):
                match = name
        if match is None:
            raise ApiError(400, "Invalid API key. Please refer to the documentation.")
        try:
            stamp = int(ts)
        except ValueError:
            stamp = 0
        if stamp + SIGNATURE_MAX_AGE < st.clock():
            raise ApiError(400, "Your request expired. Please refer to the documentation.")
        if not st.verify_signature:
            return match
        special = {"X-MW-PUBLIC-KEY": public, "X-MW-TIMESTAMP": ts,
                   "X-MW-REMOTE-ADDR": self.headers.get("X-MW-REMOTE-ADDR") or ""}
        host = self.headers.get("Host") or "%s:%d" % self.server.server_address[:2]
        full_url = "http://%s%s" % (host, self.path)
        base = php_signature_base(method, full_url, special, pairs)
        expected = hmac.new(customers[match]["private_key"].encode("utf-8"),
                            base.encode("utf-8"), hashlib.sha1).hexdigest()
        if not hmac.compare_digest(expected, signature):
            raise ApiError(400, "Invalid API request signature. Please refer to the "
                                "documentation.")
        return match

    def _admin(self, method, path, raw):
        st = self.standin
        if path == "/_admin/stats" and method == "GET":
            with st._stats_lock:
                return self._send(200, dict(st.stats))
        if path == "/_admin/reset-stats" and method == "POST":
            st.reset_stats()
            return self._send(200, {"ok": True})
        if path == "/_admin/faults" and method == "POST":
            st.set_faults(json.loads(raw.decode("utf-8") or "{}"))
            return self._send(200, st.faults)
        if path == "/_admin/state" and method == "GET":
            return self._send(200, st.snapshot())
        return self._send(404, {"error": "unknown admin endpoint"})


# ======================================================================================
# The API, one customer at a time (called with the store lock held)
# ======================================================================================
class Api(object):
    def __init__(self, store, customer):
        self.s = store
        self.customer = customer

    @staticmethod
    def now():
        return time.strftime("%Y-%m-%d %H:%M:%S")

    # ------------------------------------------------------------------ lists
    def _list(self, uid):
        lst = self.s.lists.get(uid)
        if lst is None or lst["customer"] != self.customer:
            raise ApiError(404, "The subscribers list does not exist.")
        return lst

    # What MailWizz 2.x shows of a list: opt_in, opt_out, notifications[daily...] and the
    # company's country/zone names are write-only (ListsController::actionIndex/actionView).
    LIST_READABLE = {
        "general": ("list_uid", "name", "display_name", "description"),
        "defaults": ("from_email", "from_name", "reply_to", "subject"),
        "notifications": ("subscribe", "unsubscribe", "subscribe_to", "unsubscribe_to"),
        "company": ("name", "address_1", "address_2", "zone_name", "city", "zip_code", "phone",
                    "address_format"),
    }

    @classmethod
    def _list_record(cls, lst):
        general = dict(lst["general"], list_uid=lst["uid"],
                       display_name=lst["general"].get("display_name") or lst["general"]["name"])
        record = {}
        for section, keys in cls.LIST_READABLE.items():
            values = general if section == "general" else lst[section]
            record[section] = dict((k, values.get(k)) for k in keys
                                   if section == "general" or k in values)
        if not lst["company"]:
            record["company"] = []  # PHP's empty array
        return record

    def _validate_list(self, general, defaults, notifications, company):
        """MailWizz validates the sections in turn and answers the first one's errors as
        ``{"general": {"name": "..."}}`` (422)."""
        sections = [("general", {}), ("defaults", {}), ("notifications", {}), ("company", {})]
        errors = dict(sections)
        for field in ("name", "description"):
            if not (general.get(field) or "").strip():
                errors["general"][field] = "%s cannot be blank." % field.capitalize()
        for field in ("opt_in", "opt_out"):
            if general.get(field) not in (None, "single", "double"):
                errors["general"][field] = "Invalid value."
        for field in ("from_name", "from_email", "reply_to"):
            if not (defaults.get(field) or "").strip():
                errors["defaults"][field] = "This field cannot be blank."
        for field in ("from_email", "reply_to"):
            if defaults.get(field) and not EMAIL_RE.match(defaults[field]):
                errors["defaults"][field] = "This is not a valid email address."
        for field in ("subscribe", "unsubscribe", "daily"):
            _yes_no(notifications.get(field), field, errors["notifications"])
        for field in ("subscribe_to", "unsubscribe_to", "daily_to"):
            for addr in (notifications.get(field) or "").split(","):
                if addr.strip() and not EMAIL_RE.match(addr.strip()):
                    errors["notifications"][field] = "Invalid email address."
        if company and not (company.get("name") or "").strip():
            errors["company"]["name"] = "Company name cannot be blank."
        for section, _ in sections:
            if errors[section]:
                raise ApiError(422, {section: errors[section]})

    @staticmethod
    def _section(body, name):
        value = body.get(name) or {}
        return dict(value) if isinstance(value, dict) else {}

    def lists_index(self, params, query, body):
        records = [self._list_record(lst) for lst in self.s.lists.values()
                   if lst["customer"] == self.customer]
        return 200, {"status": "success", "data": paginate(records, query)}

    def lists_create(self, params, query, body):
        general, defaults = self._section(body, "general"), self._section(body, "defaults")
        notifications, company = self._section(body, "notifications"), self._section(body, "company")
        self._validate_list(general, defaults, notifications, company)
        general.setdefault("opt_in", "double")
        general.setdefault("opt_out", "double")
        uid = self.s.uid(self.s.lists)
        fields = OrderedDict()
        for tag, label, req in (("EMAIL", "Email", "yes"), ("FNAME", "First name", "no"),
                                ("LNAME", "Last name", "no")):
            fields[tag] = {"field_id": self.s.next_field_id(), "tag": tag, "label": label,
                           "required": req, "help_text": None,
                           "type": {"name": "Text", "identifier": "text"}}
        self.s.lists[uid] = {"uid": uid, "customer": self.customer, "general": general,
                             "defaults": defaults, "notifications": notifications,
                             "company": company, "fields": fields, "subs": OrderedDict(),
                             "by_email": {}, "segments": OrderedDict()}
        return 201, {"status": "success", "list_uid": uid}

    def lists_view(self, params, query, body):
        return 200, {"status": "success",
                     "data": {"record": self._list_record(self._list(params["list"]))}}

    def lists_update(self, params, query, body):
        lst = self._list(params["list"])
        merged = {}
        for name in ("general", "defaults", "notifications", "company"):
            merged[name] = dict(lst[name], **self._section(body, name))
        self._validate_list(merged["general"], merged["defaults"], merged["notifications"],
                            merged["company"])
        lst.update(merged)
        return 200, {"status": "success"}

    def lists_delete(self, params, query, body):
        lst = self._list(params["list"])
        del self.s.lists[lst["uid"]]
        return 200, {"status": "success"}

    def lists_copy(self, params, query, body):
        lst = self._list(params["list"])
        uid = self.s.uid(self.s.lists)
        copy = json.loads(json.dumps({k: v for k, v in lst.items()
                                      if k in ("general", "defaults", "notifications",
                                               "company", "fields")}))
        copy["general"]["name"] = lst["general"]["name"] + " (copy)"
        copy.update(uid=uid, customer=self.customer, subs=OrderedDict(), by_email={},
                    segments=OrderedDict())
        self.s.lists[uid] = copy
        return 201, {"status": "success", "list_uid": uid}

    # ------------------------------------------------------------------ fields
    def fields_index(self, params, query, body):
        lst = self._list(params["list"])
        records = list(lst["fields"].values())
        return 200, {"status": "success", "data": {"records": records}}

    def fields_create(self, params, query, body):
        lst = self._list(params["list"])
        field = self._section(body, "field")
        errors = {}
        tag = (field.get("tag") or "").strip()
        if not TAG_RE.match(tag):
            errors["tag"] = "The tag must be uppercase letters, digits and underscores."
        elif tag in lst["fields"]:
            errors["tag"] = "The tag is already used in this list."
        if not (field.get("label") or "").strip():
            errors["label"] = "Label cannot be blank."
        if (field.get("type") or "text") not in ("text", "textarea", "dropdown", "number",
                                                 "date", "datetime"):
            errors["type"] = "Invalid field type."
        _yes_no(field.get("required"), "required", errors)
        if errors:
            raise ApiError(422, errors)
        record = {"field_id": self.s.next_field_id(), "tag": tag, "label": field["label"],
                  "required": field.get("required") or "no", "help_text": None,
                  "type": {"name": (field.get("type") or "text").capitalize(),
                           "identifier": field.get("type") or "text"}}
        lst["fields"][tag] = record
        return 201, {"status": "success", "data": {"record": record}}

    # ------------------------------------------------------------------ segments
    def _segment(self, lst, uid):
        seg = lst["segments"].get(uid)
        if seg is None:
            raise ApiError(404, "The segment does not exist.")
        return seg

    def _validate_segment(self, lst, segment, conditions):
        errors = {}
        if not (segment.get("name") or "").strip():
            errors["name"] = "Name cannot be blank."
        if segment.get("operator_match") not in ("any", "all"):
            errors["operator_match"] = "Operator match must be any or all."
        field_ids = dict((f["field_id"], f["tag"]) for f in lst["fields"].values())
        parsed = []
        if not conditions:
            errors["conditions"] = "At least one condition is required."
        for idx, cond in conditions.items():
            cond = cond if isinstance(cond, dict) else {}
            if cond.get("field_id") not in field_ids:
                errors["conditions[%s][field_id]" % idx] = "Invalid field."
            try:
                op = int(cond.get("operator_id"))
            except (TypeError, ValueError):
                op = None
            if op not in OPERATORS:
                errors["conditions[%s][operator_id]" % idx] = "Invalid operator."
            if cond.get("value") in (None, ""):
                errors["conditions[%s][value]" % idx] = "Value cannot be blank."
            parsed.append({"field_id": cond.get("field_id"), "operator_id": op,
                           "value": cond.get("value"), "tag": field_ids.get(cond.get("field_id"))})
        if errors:
            raise ApiError(422, errors)
        return parsed

    @staticmethod
    def _match(cond, sub):
        value = sub["fields"].get(cond["tag"], "") or ""
        want = cond["value"]
        op = cond["operator_id"]
        if op in (7, 8):
            try:
                a, b = float(value), float(want)
            except ValueError:
                a, b = value, want
            return a > b if op == 7 else a < b
        return {1: value == want, 2: value != want, 3: want in value, 4: want not in value,
                5: value.startswith(want), 6: value.endswith(want),
                9: not value.startswith(want), 10: not value.endswith(want)}[op]

    def _segment_members(self, lst, seg):
        combine = all if seg["operator_match"] == "all" else any
        return [sub for sub in lst["subs"].values()
                if combine(self._match(c, sub) for c in seg["conditions"])]

    def _segment_record(self, lst, seg):
        return {"segment_uid": seg["uid"], "name": seg["name"],
                "operator_match": seg["operator_match"],
                "subscribers_count": len(self._segment_members(lst, seg))}

    def segments_index(self, params, query, body):
        lst = self._list(params["list"])
        records = [self._segment_record(lst, s) for s in lst["segments"].values()]
        return 200, {"status": "success", "data": paginate(records, query)}

    def segments_create(self, params, query, body):
        lst = self._list(params["list"])
        segment = self._section(body, "segment")
        conditions = self._section(body, "conditions")
        parsed = self._validate_segment(lst, segment, conditions)
        uid = self.s.uid(lst["segments"])
        lst["segments"][uid] = {"uid": uid, "name": segment["name"],
                                "operator_match": segment["operator_match"],
                                "conditions": parsed}
        return 201, {"status": "success", "segment_uid": uid}

    def segments_view(self, params, query, body):
        lst = self._list(params["list"])
        seg = self._segment(lst, params["segment"])
        record = self._segment_record(lst, seg)
        record["conditions"] = [{"field_id": c["field_id"], "operator_id": c["operator_id"],
                                 "value": c["value"]} for c in seg["conditions"]]
        return 200, {"status": "success", "data": {"record": record}}

    def segments_update(self, params, query, body):
        lst = self._list(params["list"])
        seg = self._segment(lst, params["segment"])
        segment = dict({"name": seg["name"], "operator_match": seg["operator_match"]},
                       **self._section(body, "segment"))
        conditions = self._section(body, "conditions")
        if conditions:
            seg["conditions"] = self._validate_segment(lst, segment, conditions)
        seg.update(name=segment["name"], operator_match=segment["operator_match"])
        return 200, {"status": "success"}

    def segments_delete(self, params, query, body):
        lst = self._list(params["list"])
        seg = self._segment(lst, params["segment"])
        del lst["segments"][seg["uid"]]
        return 200, {"status": "success"}

    def segments_subscribers(self, params, query, body):
        lst = self._list(params["list"])
        seg = self._segment(lst, params["segment"])
        records = [self._sub_record(lst, s) for s in self._segment_members(lst, seg)]
        return 200, {"status": "success", "data": paginate(records, query)}

    # ------------------------------------------------------------------ subscribers
    @staticmethod
    def _sub_record(lst, sub):
        record = {"subscriber_uid": sub["uid"]}
        for tag in lst["fields"]:
            record[tag] = sub["fields"].get(tag, "")
        record.update(status=sub["status"], source=sub["source"], ip_address="",
                      date_added=sub["date_added"])
        return record

    def _sub(self, lst, uid):
        sub = lst["subs"].get(uid)
        if sub is None:
            raise ApiError(404, "The subscriber does not exist.")
        return sub

    @staticmethod
    def _details_status(details, current):
        """``details[status]``: a known status is applied; anything else is ignored (2.x)."""
        status = (details or {}).get("status") if isinstance(details, dict) else None
        return status if status in SUB_STATUSES else current

    @staticmethod
    def _required_errors(lst, data, skip_email=True):
        errors = {}
        for tag, spec in lst["fields"].items():
            if tag == "EMAIL" and skip_email:
                continue
            if spec["required"] == "yes" and not data.get(tag):
                errors[tag] = "The field %s is required by the list but it has not been " \
                              "provided!" % tag
        return errors

    def _subscribe(self, lst, email, data):
        """Insert a subscriber, or re-subscribe an unsubscribed one (MailWizz 1.6.6+).
        Returns the subscriber; raises ApiError(409) for an existing or blacklisted one."""
        uid = lst["by_email"].get(email.lower())
        sub = lst["subs"][uid] if uid else None
        if sub is not None and sub["status"] != "unsubscribed":
            raise ApiError(409, {"EMAIL": "The subscriber already exists in this list."})
        if email.lower() in self.s.blacklist:
            raise ApiError(409, {"EMAIL": "This email address is blacklisted."})
        status = "confirmed" if lst["general"].get("opt_in") == "single" else "unconfirmed"
        status = self._details_status(data.get("details"), status)
        if sub is None:
            uid = self.s.uid(lst["subs"])
            self.s._sub_id += 1
            sub = {"uid": uid, "id": self.s._sub_id, "fields": {}, "source": "api",
                   "date_added": self.now()}
            lst["subs"][uid] = sub
            lst["by_email"][email.lower()] = uid
        sub["status"] = status
        fields = {"EMAIL": email}
        for tag in lst["fields"]:
            if tag != "EMAIL":
                value = data.get(tag)
                fields[tag] = value if isinstance(value, str) else ""
        sub["fields"] = fields
        return sub

    def subs_index(self, params, query, body):
        lst = self._list(params["list"])
        subs = list(lst["subs"].values())
        if query.get("status"):
            subs = [s for s in subs if s["status"] == query["status"]]
        page = paginate(subs, query)
        page["records"] = [self._sub_record(lst, s) for s in page["records"]]
        return 200, {"status": "success", "data": page}

    def subs_create(self, params, query, body):
        email = body.get("EMAIL") if isinstance(body.get("EMAIL"), str) else ""
        if not email:
            raise ApiError(422, "Please provide the subscriber email address.")
        if not EMAIL_RE.match(email):
            raise ApiError(422, "Please provide a valid email address.")
        lst = self._list(params["list"])
        try:
            errors = self._required_errors(lst, body)
            if errors:
                raise ApiError(422, errors)
            sub = self._subscribe(lst, email, body)
        except ApiError as exc:
            if exc.status == 409 and isinstance(exc.error, dict):
                exc.error = exc.error["EMAIL"]  # the single create answers a plain message
            raise
        return 201, {"status": "success",
                     "data": {"record": {"subscriber_uid": sub["uid"],
                                         "email": sub["fields"]["EMAIL"], "ip_address": "",
                                         "source": "api", "date_added": sub["date_added"]}}}

    def subs_bulk(self, params, query, body):
        """MailWizz 2.x: one ``{"data": {...}, "errors": {...}}`` per row, no per-row status;
        ``errors`` is left out when the row was created (``data.subscriber_uid`` is set)."""
        lst = self._list(params["list"])
        rows = body.get("subscribers")
        if not isinstance(rows, dict) or not rows:
            raise ApiError(422, "Please provide the subscribers list.")
        out = []
        for _, row in list(rows.items())[:BULK_MAX]:
            row = row if isinstance(row, dict) else {}
            email = row.get("EMAIL") if isinstance(row.get("EMAIL"), str) else ""
            if not email or not EMAIL_RE.match(email):
                data = dict((k, v) for k, v in row.items() if k != "details")
                out.append({"data": data,
                            "errors": {"EMAIL": "Please provide a valid email address."}})
                continue
            data = dict((tag, row.get(tag)) for tag in lst["fields"])
            errors = self._required_errors(lst, row, skip_email=False)
            if not errors:
                try:
                    sub = self._subscribe(lst, email, row)
                    data["subscriber_uid"] = sub["uid"]
                except ApiError as exc:
                    errors = exc.error
            item = {"data": data}
            if errors:
                item["errors"] = errors
            out.append(item)
        return 201, {"status": "success", "data": {"records": out}}

    def subs_view(self, params, query, body):
        lst = self._list(params["list"])
        return 200, {"status": "success",
                     "data": {"record": self._sub_record(lst, self._sub(lst, params["sub"]))}}

    def subs_update(self, params, query, body):
        lst = self._list(params["list"])
        sub = lst["subs"].get(params["sub"])
        if sub is None:
            raise ApiError(409, "The subscriber does not exist in this list.")
        email = body.get("EMAIL") if isinstance(body.get("EMAIL"), str) else ""
        email = email or sub["fields"]["EMAIL"]
        if not EMAIL_RE.match(email):
            raise ApiError(422, "Please provide a valid email address.")
        errors = self._required_errors(lst, body)  # every PUT carries the required fields
        if errors:
            raise ApiError(422, errors)
        other = lst["by_email"].get(email.lower())
        if other and other != sub["uid"]:
            raise ApiError(409, "Another subscriber with this email address already exists in "
                                "this list.")
        if email.lower() in self.s.blacklist:
            raise ApiError(409, "This email address is blacklisted.")
        del lst["by_email"][sub["fields"]["EMAIL"].lower()]
        lst["by_email"][email.lower()] = sub["uid"]
        sub["fields"]["EMAIL"] = email
        for tag in lst["fields"]:
            if tag != "EMAIL" and isinstance(body.get(tag), str):  # fields not sent are kept
                sub["fields"][tag] = body[tag]
        sub["status"] = self._details_status(body.get("details"), sub["status"])
        return 200, {"status": "success",
                     "data": {"record": {"subscriber_uid": sub["uid"], "email": email,
                                         "ip_address": "", "source": sub["source"],
                                         "date_added": sub["date_added"]}}}

    def subs_delete(self, params, query, body):
        lst = self._list(params["list"])
        sub = self._sub(lst, params["sub"])
        del lst["subs"][sub["uid"]]
        del lst["by_email"][sub["fields"]["EMAIL"].lower()]
        return 200, {"status": "success"}

    def subs_unsubscribe(self, params, query, body):
        lst = self._list(params["list"])
        self._sub(lst, params["sub"])["status"] = "unsubscribed"
        return 200, {"status": "success"}

    def subs_search(self, params, query, body):
        email = query.get("EMAIL") or ""
        if not email:
            raise ApiError(422, "Please provide the subscriber email address.")
        if not EMAIL_RE.match(email):
            raise ApiError(422, "Please provide a valid email address.")
        lst = self._list(params["list"])
        uid = lst["by_email"].get(email.strip().lower())
        if not uid:
            raise ApiError(404, "The subscriber does not exist in this list.")
        sub = lst["subs"][uid]
        return 200, {"status": "success", "data": {"subscriber_uid": uid, "status": sub["status"],
                                                   "date_added": sub["date_added"]}}

    def _all_lists_matches(self, email):
        for lst in self.s.lists.values():
            if lst["customer"] == self.customer and email.lower() in lst["by_email"]:
                yield lst, lst["subs"][lst["by_email"][email.lower()]]

    def subs_search_all(self, params, query, body):
        email = (query.get("EMAIL") or "").strip()
        records = [{"subscriber_uid": sub["uid"], "email": sub["fields"]["EMAIL"],
                    "status": sub["status"], "date_added": sub["date_added"],
                    "list": {"list_uid": lst["uid"], "name": lst["general"]["name"]}}
                   for lst, sub in self._all_lists_matches(email)]
        if not records:
            raise ApiError(404, "The subscriber does not exist.")
        return 200, {"status": "success", "data": {"records": records, "count": len(records)}}

    def subs_unsub_all(self, params, query, body):
        email = (body.get("EMAIL") or "").strip()
        if not EMAIL_RE.match(email):
            raise ApiError(422, {"EMAIL": "Email is not a valid email address."})
        for _, sub in self._all_lists_matches(email):
            sub["status"] = "unsubscribed"
        return 200, {"status": "success"}

    # ------------------------------------------------------------------ campaigns
    def _campaign(self, uid):
        camp = self.s.campaigns.get(uid)
        if camp is None or camp["customer"] != self.customer:
            raise ApiError(404, "The campaign does not exist.")
        return camp

    def _clean_campaign(self, data, existing=None):
        base = dict(existing["data"]) if existing else {}
        incoming = dict((k, v) for k, v in data.items() if k not in ("options", "template"))
        merged = dict(base, **incoming)
        errors = {}
        for field in ("name", "from_name", "from_email", "subject", "reply_to", "list_uid"):
            if not (merged.get(field) or "").strip():
                errors[field] = "%s cannot be blank." % field
        for field in ("from_email", "reply_to"):
            if merged.get(field) and not EMAIL_RE.match(merged[field]):
                errors[field] = "This is not a valid email address."
        if merged.get("type", "regular") not in ("regular", "autoresponder"):
            errors["type"] = "Invalid campaign type."
        merged.setdefault("type", "regular")
        if merged.get("send_at") and not DATE_RE.match(merged["send_at"]):
            errors["send_at"] = "The send_at must be in Y-m-d H:i:s format."
        merged.setdefault("send_at", self.now())
        lst = self.s.lists.get(merged.get("list_uid"))
        if merged.get("list_uid") and (lst is None or lst["customer"] != self.customer):
            errors["list_uid"] = "Provided list_uid does not exist."
        elif merged.get("segment_uid") and merged["segment_uid"] not in lst["segments"]:
            errors["segment_uid"] = "Provided segment_uid does not exist."
        options = dict((existing or {}).get("options") or {}, **(data.get("options") or {}))
        for key in ("url_tracking", "json_feed", "xml_feed", "embed_images"):
            _yes_no(options.get(key), "options[%s]" % key, errors)
        template = dict((existing or {}).get("template") or {})
        tpl_in = data.get("template") if isinstance(data.get("template"), dict) else {}
        for field in ("content", "archive", "plain_text"):
            if tpl_in.get(field):
                try:
                    template[field] = _decode_b64(tpl_in[field], field)
                except ApiError as exc:
                    errors.update(exc.error)
        for field in ("template_uid", "inline_css", "auto_plain_text"):
            if field in tpl_in:
                template[field] = tpl_in[field]
        if template.get("template_uid") and template["template_uid"] not in self.s.templates:
            errors["template_uid"] = "Provided template_uid does not exist."
        if not (template.get("content") or template.get("archive")
                or template.get("template_uid")):
            errors["template"] = "Please provide a template for your campaign."
        if errors:
            raise ApiError(422, errors)
        return merged, options, template

    def _campaign_audience(self, camp):
        lst = self.s.lists.get(camp["data"]["list_uid"])
        if lst is None:
            return 0
        subs = lst["subs"].values()
        seg_uid = camp["data"].get("segment_uid")
        if seg_uid and seg_uid in lst["segments"]:
            subs = self._segment_members(lst, lst["segments"][seg_uid])
        return sum(1 for s in subs if s["status"] == "confirmed")

    def camp_index(self, params, query, body):
        records = [{"campaign_uid": c["uid"], "campaign_id": c["id"], "name": c["name"],
                    "type": c["data"]["type"], "group": [], "status": c["status"]}
                   for c in self.s.campaigns.values() if c["customer"] == self.customer]
        return 200, {"status": "success", "data": paginate(records, query)}

    def camp_create(self, params, query, body):
        data = self._section(body, "campaign")
        data["options"] = self._section(data, "options")
        merged, options, template = self._clean_campaign(data)
        uid = self.s.uid(self.s.campaigns)
        self.s._camp_id += 1
        self.s.campaigns[uid] = {"uid": uid, "id": self.s._camp_id, "customer": self.customer,
                                 "name": merged["name"], "data": merged, "options": options,
                                 "template": template, "status": "pending-sending",
                                 "send_at": merged["send_at"], "segment_uid":
                                 merged.get("segment_uid"), "date_added": self.now()}
        return 201, {"status": "success", "campaign_uid": uid}

    def camp_view(self, params, query, body):
        c = self._campaign(params["campaign"])
        lst = self.s.lists.get(c["data"]["list_uid"])
        d = c["data"]
        record = {"campaign_uid": c["uid"], "campaign_id": c["id"], "name": c["name"],
                  "type": d["type"], "from_name": d["from_name"], "from_email": d["from_email"],
                  "to_name": d.get("to_name", "[EMAIL]"), "reply_to": d["reply_to"],
                  "subject": d["subject"], "status": c["status"], "date_added": c["date_added"],
                  "send_at": d["send_at"],
                  "list": {"list_uid": d["list_uid"],
                           "name": lst["general"]["name"] if lst else None,
                           "subscribers_count": len(lst["subs"]) if lst else 0},
                  "segment": None}
        if lst and d.get("segment_uid") in lst["segments"]:
            seg = lst["segments"][d["segment_uid"]]
            record["segment"] = {"segment_uid": seg["uid"], "name": seg["name"],
                                 "subscribers_count": len(self._segment_members(lst, seg))}
        return 200, {"status": "success", "data": {"record": record}}

    def camp_update(self, params, query, body):
        c = self._campaign(params["campaign"])
        if c["status"] not in CAMPAIGN_EDITABLE:
            raise ApiError(422, "This campaign is not editable (status %s)." % c["status"])
        data = self._section(body, "campaign")
        data["options"] = self._section(data, "options")
        merged, options, template = self._clean_campaign(data, existing=c)
        c.update(name=merged["name"], data=merged, options=options, template=template,
                 send_at=merged["send_at"], segment_uid=merged.get("segment_uid"))
        return 200, {"status": "success"}

    def camp_delete(self, params, query, body):
        c = self._campaign(params["campaign"])
        del self.s.campaigns[c["uid"]]
        return 200, {"status": "success"}

    def camp_copy(self, params, query, body):
        c = self._campaign(params["campaign"])
        uid = self.s.uid(self.s.campaigns)
        self.s._camp_id += 1
        copy = json.loads(json.dumps(c))
        copy.update(uid=uid, id=self.s._camp_id, status="draft", name=c["name"] + " (copy)")
        copy["data"]["name"] = copy["name"]
        self.s.campaigns[uid] = copy
        return 201, {"status": "success", "campaign_uid": uid}

    def camp_pause_unpause(self, params, query, body):
        c = self._campaign(params["campaign"])
        if c["status"] == "paused":
            c["status"] = "sending"
        elif c["status"] in ("sending", "pending-sending", "processing"):
            c["status"] = "paused"
        else:
            raise ApiError(422, "The campaign cannot be paused or unpaused (status %s)."
                           % c["status"])
        return 200, {"status": "success", "campaign": {"status": c["status"]}}

    def camp_mark_sent(self, params, query, body):
        c = self._campaign(params["campaign"])
        c["status"] = "sent"
        return 200, {"status": "success", "campaign": {"status": "sent"}}

    def camp_stats(self, params, query, body):
        c = self._campaign(params["campaign"])
        audience = self._campaign_audience(c)
        processed = audience if c["status"] == "sent" else 0
        return 200, {"status": "success", "data": {
            "campaign_status": c["status"], "subscribers_count": audience,
            "processed_count": processed, "delivery_success_count": processed,
            "delivery_success_rate": 100 if processed else 0, "delivery_error_count": 0,
            "delivery_error_rate": 0, "opens_count": 0, "opens_rate": 0,
            "unique_opens_count": 0, "clicks_count": 0, "clicks_rate": 0,
            "unique_clicks_count": 0, "unsubscribes_count": 0, "unsubscribes_rate": 0,
            "complaints_count": 0, "complaints_rate": 0, "bounces_count": 0,
            "bounces_rate": 0, "hard_bounces_count": 0, "soft_bounces_count": 0}}

    def camp_empty(self, params, query, body):
        self._campaign(params["campaign"])
        return 200, {"status": "success", "data": paginate([], query)}

    def camp_bounce_create(self, params, query, body):
        self._campaign(params["campaign"])
        if body.get("bounce_type") not in ("hard", "soft", "internal"):
            raise ApiError(422, {"bounce_type": "Invalid bounce type."})
        return 201, {"status": "success"}

    # ------------------------------------------------------------------ templates
    def _template(self, uid):
        t = self.s.templates.get(uid)
        if t is None or t["customer"] != self.customer:
            raise ApiError(404, "The template does not exist.")
        return t

    def tpl_index(self, params, query, body):
        records = [{"template_uid": t["uid"], "name": t["name"], "screenshot": None}
                   for t in self.s.templates.values() if t["customer"] == self.customer]
        return 200, {"status": "success", "data": paginate(records, query)}

    def tpl_create(self, params, query, body):
        tpl = self._section(body, "template")
        errors = {}
        if not (tpl.get("name") or "").strip():
            errors["name"] = "Name cannot be blank."
        if not tpl.get("content") and not tpl.get("archive"):
            errors["content"] = "Please provide the template content."
        content = _decode_b64(tpl["content"], "content") if tpl.get("content") else ""
        if errors:
            raise ApiError(422, errors)
        uid = self.s.uid(self.s.templates)
        self.s.templates[uid] = {"uid": uid, "customer": self.customer, "name": tpl["name"],
                                 "content": content}
        return 201, {"status": "success", "template_uid": uid}

    def tpl_view(self, params, query, body):
        t = self._template(params["template"])
        return 200, {"status": "success", "data": {"record": {
            "template_uid": t["uid"], "name": t["name"], "content": t["content"]}}}

    def tpl_update(self, params, query, body):
        t = self._template(params["template"])
        tpl = self._section(body, "template")
        if tpl.get("content"):
            t["content"] = _decode_b64(tpl["content"], "content")
        if tpl.get("name"):
            t["name"] = tpl["name"]
        return 200, {"status": "success"}

    def tpl_delete(self, params, query, body):
        t = self._template(params["template"])
        del self.s.templates[t["uid"]]
        return 200, {"status": "success"}

    # ------------------------------------------------------------------ transactional emails
    def tx_index(self, params, query, body):
        records = [dict(e["record"]) for e in self.s.emails.values()
                   if e["customer"] == self.customer]
        return 200, {"status": "success", "data": paginate(records, query)}

    def tx_create(self, params, query, body):
        email = self._section(body, "email")
        errors = {}
        for field in ("to_name", "to_email", "from_name", "subject", "body"):
            if not (email.get(field) or "").strip():
                errors[field] = "%s cannot be blank." % field
        for field in ("to_email", "from_email", "reply_to"):
            if email.get(field) and not EMAIL_RE.match(email[field]):
                errors[field] = "This is not a valid email address."
        if errors:
            raise ApiError(422, errors)
        decoded = _decode_b64(email["body"], "body")
        if email.get("plain_text"):
            _decode_b64(email["plain_text"], "plain_text")
        uid = self.s.uid(self.s.emails)
        self.s.emails[uid] = {"customer": self.customer, "body": decoded, "record": {
            "email_uid": uid, "to_email": email["to_email"], "subject": email["subject"],
            "status": "unsent", "send_at": email.get("send_at") or self.now()}}
        return 201, {"status": "success", "email_uid": uid}

    def tx_view(self, params, query, body):
        e = self.s.emails.get(params["email"])
        if e is None or e["customer"] != self.customer:
            raise ApiError(404, "The email does not exist.")
        return 200, {"status": "success", "data": {"record": e["record"]}}

    def tx_delete(self, params, query, body):
        e = self.s.emails.get(params["email"])
        if e is None or e["customer"] != self.customer:
            raise ApiError(404, "The email does not exist.")
        del self.s.emails[params["email"]]
        return 200, {"status": "success"}

    # ------------------------------------------------------------------ delivery servers
    def ds_index(self, params, query, body):
        records = [dict((k, s[k]) for k in ("server_id", "type", "name", "hostname", "status"))
                   for s in self.s.customers[self.customer]["delivery_servers"]]
        return 200, {"status": "success", "data": paginate(records, query)}

    def ds_view(self, params, query, body):
        for s in self.s.customers[self.customer]["delivery_servers"]:
            if s["server_id"] == params["server"]:
                return 200, {"status": "success", "data": {"record": dict(s)}}
        raise ApiError(404, "The delivery server does not exist.")


def main(argv=None):
    parser = argparse.ArgumentParser(description="MailWizz API stand-in (tests only)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--customer", action="append", default=[],
                        help="name:api_key[:public_key:private_key] (repeatable)")
    parser.add_argument("--api-version", default="2", choices=["1", "2"])
    parser.add_argument("--no-signature-check", action="store_true")
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--state", help="JSON file the data is loaded from and saved to")
    args = parser.parse_args(argv)
    customers = OrderedDict()
    for spec in args.customer or ["demo:demo-key-0000000000000000"]:
        bits = spec.split(":")
        entry = {"api_key": bits[1]}
        if len(bits) >= 4:
            entry.update(public_key=bits[2], private_key=bits[3])
        customers[bits[0]] = entry
    st = MailWizzStandin(customers, api_version=args.api_version,
                         verify_signature=not args.no_signature_check,
                         faults={"rate": args.fault_rate}, seed=args.seed, port=args.port,
                         state_path=args.state)
    print(st.start(), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        st.stop()


if __name__ == "__main__":
    main()
