# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""MailWizz API client (controller side, Python standard library only).

What it does, following the MailWizz API facts the project verified:

* authentication: ``X-Api-Key`` (2.x/3.x) or the 1.x signed headers ``X-MW-PUBLIC-KEY``,
  ``X-MW-TIMESTAMP``, ``X-MW-REMOTE-ADDR``, ``X-MW-SIGNATURE`` (HMAC-SHA1, lowercase hex, over
  ``METHOD + " " + full URL + ("&" if "?" in URL else "?") + http_build_query(headers + body)``,
  top-level keys sorted byte-wise, the way PHP's ``ksort`` + ``http_build_query`` do it);
* form-encoded nested bodies (``general[name]=...``), real PUT and DELETE methods;
* base64 for campaign ``template[content|archive|plain_text]``;
* an iterator over paginated collections (``page``/``per_page``, per_page clamped 10..50);
* timeouts, retries with exponential backoff and jitter on connection errors, timeouts, 5xx and
  429 (``Retry-After`` honoured); the sleep function, the clock and the transport are injectable;
* creates made safe: look up before creating, and after a failed or ambiguous POST look up
  again before retrying, so a retried POST never makes a duplicate;
* errors raised as :class:`MailWizzError` whose message names the object, the method, the URL
  path and the HTTP status, and never contains a key.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import random
import socket
import time
import urllib.parse

PER_PAGE_MIN = 10
PER_PAGE_MAX = 50
BULK_MAX = 10000
RETRYABLE_STATUS = frozenset([429, 500, 502, 503, 504])
BASE64_TEMPLATE_FIELDS = ("content", "archive", "plain_text")


class MailWizzError(Exception):
    """An API call failed. ``str()`` names object, method, path and status; never a key."""

    def __init__(self, obj, method, path, status=None, detail=None, retry_after=None,
                 transport=False):
        self.obj = obj
        self.method = method
        self.path = path
        self.status = status
        self.detail = detail
        self.retry_after = retry_after
        self.transport = transport
        Exception.__init__(self, self._message())

    @property
    def ambiguous(self):
        """True when the server may have processed the request (response lost or 5xx)."""
        return self.transport or (self.status is not None and self.status >= 500)

    @property
    def retryable(self):
        return self.transport or self.status in RETRYABLE_STATUS

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
# Transport
# --------------------------------------------------------------------------------------------
class TransportError(Exception):
    """No usable HTTP response: refused, reset, dropped, timed out."""


class Response(object):
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = dict((k.lower(), v) for k, v in (headers or {}).items())
        self.body = body or b""

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return None


class HttpTransport(object):
    """Keep-alive ``http.client`` transport: one connection per scheme/host/port, reopened after
    any error. Callable as ``transport(method, url, headers, body, timeout) -> Response``."""

    def __init__(self):
        self._conns = {}

    def _conn(self, scheme, netloc, timeout):
        key = (scheme, netloc)
        conn = self._conns.get(key)
        if conn is None:
            cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
            conn = cls(netloc, timeout=timeout)
            self._conns[key] = conn
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        return conn

    def close(self):
        for conn in self._conns.values():
            conn.close()
        self._conns = {}

    def __call__(self, method, url, headers, body, timeout):
        parts = urllib.parse.urlsplit(url)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        conn = self._conn(parts.scheme, parts.netloc, timeout)
        try:
            conn.request(method, target, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            result = Response(resp.status, dict(resp.getheaders()), data)
            if resp.will_close:
                conn.close()
            return result
        except (OSError, socket.timeout, http.client.HTTPException) as exc:
            conn.close()
            self._conns.pop((parts.scheme, parts.netloc), None)
            raise TransportError("%s: %s" % (type(exc).__name__, exc) if str(exc)
                                 else type(exc).__name__)


# --------------------------------------------------------------------------------------------
# Client
# --------------------------------------------------------------------------------------------
class MailWizzClient(object):
    """One MailWizz customer (one API key)."""

    def __init__(self, url, api_key=None, public_key=None, private_key=None, timeout=30.0,
                 retries=4, backoff=0.5, max_backoff=30.0, max_retry_after=300.0,
                 remote_addr="", transport=None, sleep=None, clock=None, rng=None):
        if not url:
            raise ConfigError("MailWizz url is required")
        if not api_key and not (public_key and private_key):
            raise ConfigError("MailWizz api_key (2.x/3.x) or public_key + private_key (1.x) "
                              "is required")
        self.base_url = url.rstrip("/")
        self._base_path = urllib.parse.urlsplit(self.base_url).path.rstrip("/")
        self._api_key = api_key
        self._public_key = public_key
        self._private_key = private_key
        self.legacy = bool(public_key and private_key and not api_key)
        self.timeout = float(timeout)
        self.retries = max(0, int(retries))
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.max_retry_after = float(max_retry_after)
        self.remote_addr = remote_addr
        self.transport = transport or HttpTransport()
        self.sleep = sleep or time.sleep
        self.clock = clock or time.time
        self.rng = rng or random.Random()
        self.calls = 0          # HTTP requests sent (attempts included)
        self.calls_by_method = {}

    # -- secrets never leave through repr or errors
    def __repr__(self):
        return "MailWizzClient(%r, %s)" % (self.base_url, "1.x signed" if self.legacy else "2.x")

    def _redact(self, text):
        if not isinstance(text, str):
            return text
        for secret in (self._api_key, self._private_key, self._public_key):
            if secret and secret in text:
                text = text.replace(secret, "********")
        return text

    def _headers(self, method, url, body_pairs, has_body):
        headers = {"Accept": "application/json", "User-Agent": "mailfleet/0.1"}
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

    def _once(self, method, path, query, data, obj):
        url = "%s/%s" % (self.base_url, path.lstrip("/"))
        if query:
            url += "?" + urllib.parse.urlencode([(k, _scalar(v)) for k, v in query.items()
                                                 if v is not None])
        pairs = flatten_form(data) if data is not None else []
        body = urllib.parse.urlencode(pairs).encode("ascii") if data is not None else None
        headers = self._headers(method, url, pairs, body is not None)
        shown = "%s/%s" % (self._base_path, path.lstrip("/"))
        self.calls += 1
        self.calls_by_method[method] = self.calls_by_method.get(method, 0) + 1
        try:
            resp = self.transport(method, url, headers, body, self.timeout)
        except TransportError as exc:
            raise MailWizzError(obj, method, shown, None, self._redact(str(exc)), transport=True)
        payload = resp.json()
        if 200 <= resp.status < 300:
            if not isinstance(payload, dict):
                raise MailWizzError(obj, method, shown, resp.status, "response is not JSON")
            return resp.status, payload
        detail = None
        if isinstance(payload, dict):
            detail = payload.get("error") or payload.get("message")
        if detail is None:
            detail = resp.body[:200].decode("utf-8", "replace") if resp.body else None
        if isinstance(detail, dict):
            detail = dict((k, self._redact(v) if isinstance(v, str) else v)
                          for k, v in detail.items())
        else:
            detail = self._redact(detail)
        retry_after = None
        if resp.headers.get("retry-after"):
            try:
                retry_after = float(resp.headers["retry-after"])
            except ValueError:
                retry_after = None
        raise MailWizzError(obj, method, shown, resp.status, detail, retry_after=retry_after)

    def request(self, method, path, query=None, data=None, obj="request", retry=True,
                accept_404=False):
        """Send one call; retry connection errors, timeouts, 5xx and 429 when ``retry``.

        Returns ``(status, payload)``; with ``accept_404`` a 404 returns ``(404, None)``.
        POST creates must not use ``retry=True`` (see :meth:`create_safely`).
        """
        method = method.upper()
        attempts = 1 + (self.retries if retry else 0)
        for attempt in range(attempts):
            try:
                return self._once(method, path, query, data, obj)
            except MailWizzError as exc:
                if accept_404 and exc.status == 404:
                    return 404, None
                if not exc.retryable or attempt + 1 >= attempts:
                    raise
                self.sleep(self.backoff_delay(attempt, exc.retry_after))
        raise AssertionError("unreachable")

    def get(self, path, query=None, obj="request", accept_404=False):
        return self.request("GET", path, query=query, obj=obj, accept_404=accept_404)[1]

    def paginate(self, path, query=None, per_page=PER_PAGE_MAX, obj="collection"):
        """Yield every record of a collection, page by page."""
        page = 1
        per_page = clamp_per_page(per_page)
        while True:
            q = dict(query or {})
            q.update({"page": page, "per_page": per_page})
            status, payload = self.request("GET", path, query=q, obj=obj, accept_404=True)
            if status == 404 or payload is None:
                return
            data = payload.get("data") or {}
            for record in data.get("records") or []:
                yield record
            total_pages = int(data.get("total_pages") or 0)
            if not data.get("next_page") or page >= total_pages:
                return
            page += 1

    def collection_count(self, path, obj="collection"):
        status, payload = self.request("GET", path, query={"page": 1, "per_page": PER_PAGE_MIN},
                                       obj=obj, accept_404=True)
        if status == 404 or payload is None:
            return 0
        return int((payload.get("data") or {}).get("count") or 0)

    def create_safely(self, obj, lookup, create):
        """Look up, create if absent; after an ambiguous or retryable failure look up again
        before retrying, so a retried POST never duplicates. Returns ``(result, created)``."""
        found = lookup()
        if found is not None:
            return found, False
        attempts = 1 + self.retries
        for attempt in range(attempts):
            try:
                return create(), True
            except MailWizzError as exc:
                if not exc.retryable or attempt + 1 >= attempts:
                    raise
                self.sleep(self.backoff_delay(attempt, exc.retry_after))
            found = lookup()
            if found is not None:
                return found, True
        raise AssertionError("unreachable")

    # ---------------------------------------------------------------------------- lists
    def lists(self):
        return list(self.paginate("lists", obj="lists"))

    def find_list(self, name):
        for record in self.paginate("lists", obj="list %r" % name):
            if (record.get("general") or {}).get("name") == name:
                return record
        return None

    def get_list(self, list_uid):
        return (self.get("lists/%s" % list_uid, obj="list %s" % list_uid).get("data")
                or {}).get("record")

    def create_list(self, name, body):
        """Create a list named ``name`` unless one exists; returns ``(record, created)``."""
        obj = "list %r" % name

        def create():
            _, payload = self.request("POST", "lists", data=body, obj=obj, retry=False)
            return {"general": {"list_uid": payload.get("list_uid"), "name": name}}

        return self.create_safely(obj, lambda: self.find_list(name), create)

    def update_list(self, list_uid, body):
        return self.request("PUT", "lists/%s" % list_uid, data=body,
                            obj="list %s" % list_uid)[1]

    def delete_list(self, list_uid):
        status, _ = self.request("DELETE", "lists/%s" % list_uid, obj="list %s" % list_uid,
                                 accept_404=True)
        return status != 404

    def list_fields(self, list_uid):
        payload = self.get("lists/%s/fields" % list_uid, obj="fields of list %s" % list_uid)
        return (payload.get("data") or {}).get("records") or []

    def create_field(self, list_uid, tag, label, field_type="text"):
        obj = "field %s of list %s" % (tag, list_uid)

        def lookup():
            for field in self.list_fields(list_uid):
                if field.get("tag") == tag:
                    return field
            return None

        def create():
            self.request("POST", "lists/%s/fields" % list_uid, obj=obj, retry=False,
                         data={"field": {"type": field_type, "label": label, "tag": tag,
                                         "required": "no", "visibility": "visible"}})
            return lookup()

        return self.create_safely(obj, lookup, create)

    # ---------------------------------------------------------------------------- segments
    def segments(self, list_uid):
        return list(self.paginate("lists/%s/segments" % list_uid,
                                  obj="segments of list %s" % list_uid))

    def find_segment(self, list_uid, name):
        for record in self.segments(list_uid):
            if record.get("name") == name:
                return record
        return None

    def create_segment(self, list_uid, name, conditions, operator_match="all"):
        """``conditions``: [{"field_id", "operator_id", "value"}]."""
        obj = "segment %r of list %s" % (name, list_uid)
        body = {"segment": {"name": name, "operator_match": operator_match},
                "conditions": list(conditions)}

        def create():
            _, payload = self.request("POST", "lists/%s/segments" % list_uid, data=body,
                                      obj=obj, retry=False)
            uid = payload.get("segment_uid") or ((payload.get("data") or {}).get("record")
                                                  or {}).get("segment_uid")
            return {"segment_uid": uid, "name": name}

        return self.create_safely(obj, lambda: self.find_segment(list_uid, name), create)

    def segment_subscribers(self, list_uid, segment_uid):
        return self.paginate("lists/%s/segments/%s/subscribers" % (list_uid, segment_uid),
                             obj="subscribers of segment %s" % segment_uid)

    # ---------------------------------------------------------------------------- subscribers
    def subscribers(self, list_uid):
        return self.paginate("lists/%s/subscribers" % list_uid,
                             obj="subscribers of list %s" % list_uid)

    def search_subscriber(self, list_uid, email):
        payload = self.get("lists/%s/subscribers/search-by-email" % list_uid, {"EMAIL": email},
                           obj="subscriber in list %s" % list_uid, accept_404=True)
        return None if payload is None else payload.get("data")

    def create_subscriber(self, list_uid, fields):
        """One subscriber, duplicate-safe. ``fields``: {"EMAIL":..., tags..., "details":{...}}."""
        email = fields.get("EMAIL", "")
        obj = "subscriber in list %s" % list_uid

        def create():
            _, payload = self.request("POST", "lists/%s/subscribers" % list_uid, data=fields,
                                      obj=obj, retry=False)
            return (payload.get("data") or {}).get("record") or {}

        return self.create_safely(obj, lambda: self.search_subscriber(list_uid, email), create)

    def bulk_create_subscribers(self, list_uid, rows):
        """POST ``subscribers/bulk`` once (caller chunks to ≤ BULK_MAX and handles ambiguity).

        Returns the per-row result records the server sent back."""
        if len(rows) > BULK_MAX:
            raise ValueError("at most %d subscribers per bulk call" % BULK_MAX)
        _, payload = self.request("POST", "lists/%s/subscribers/bulk" % list_uid,
                                  data={"subscribers": list(rows)},
                                  obj="bulk subscribers of list %s" % list_uid, retry=False)
        return (payload.get("data") or {}).get("records") or []

    def update_subscriber(self, list_uid, subscriber_uid, fields):
        return self.request("PUT", "lists/%s/subscribers/%s" % (list_uid, subscriber_uid),
                            data=fields, obj="subscriber %s" % subscriber_uid)[1]

    def delete_subscriber(self, list_uid, subscriber_uid):
        status, _ = self.request("DELETE", "lists/%s/subscribers/%s" % (list_uid, subscriber_uid),
                                 obj="subscriber %s" % subscriber_uid, accept_404=True)
        return status != 404

    # ---------------------------------------------------------------------------- campaigns
    def campaigns(self):
        return self.paginate("campaigns", obj="campaigns")

    def find_campaign(self, name):
        for record in self.campaigns():
            if record.get("name") == name:
                return record
        return None

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
            _, payload = self.request("POST", "campaigns", data=body, obj=obj, retry=False)
            return {"campaign_uid": payload.get("campaign_uid"), "name": name}

        return self.create_safely(obj, lambda: self.find_campaign(name), create)

    def update_campaign(self, campaign_uid, campaign):
        return self.request("PUT", "campaigns/%s" % campaign_uid,
                            data=self.campaign_body(campaign),
                            obj="campaign %s" % campaign_uid)[1]

    def delete_campaign(self, campaign_uid):
        status, _ = self.request("DELETE", "campaigns/%s" % campaign_uid,
                                 obj="campaign %s" % campaign_uid, accept_404=True)
        return status != 404

    def pause_unpause(self, campaign_uid):
        return self.request("PUT", "campaigns/%s/pause-unpause" % campaign_uid,
                            obj="campaign %s" % campaign_uid)[1]

    def campaign_stats(self, campaign_uid):
        return self.get("campaigns/%s/stats" % campaign_uid,
                        obj="stats of campaign %s" % campaign_uid).get("data") or {}

    # ---------------------------------------------------------------------------- other reads
    def delivery_servers(self):
        return list(self.paginate("delivery-servers", obj="delivery servers"))

    def health(self):
        """One cheap authenticated read; raises MailWizzError when the API is not usable."""
        start = self.clock()
        self.request("GET", "lists", query={"page": 1, "per_page": PER_PAGE_MIN},
                     obj="health check")
        return {"ok": True, "latency_ms": int((self.clock() - start) * 1000)}


# --------------------------------------------------------------------------------------------
# Factory from inventory data
# --------------------------------------------------------------------------------------------
CONNECTION_KEYS = ("url", "api_key", "public_key", "private_key", "timeout", "retries",
                   "backoff")


def connection_for_tenant(tenant, tenants, instances):
    """Resolve the connection settings of ``tenant``.

    ``tenants[tenant]["mailwizz"]`` names an entry of ``instances``
    (``mailfleet_mailwizz_instances``); the tenant may carry its own customer credentials in
    ``tenants[tenant]["mailwizz_auth"]`` ({api_key} or {public_key, private_key}) when several
    tenants share one MailWizz installation. Every tenant must end up with its own key: two
    tenants resolving to the same key would see (and change) each other's lists.
    """
    if tenant not in (tenants or {}):
        raise ConfigError("tenant %r is not in mailfleet_tenants" % tenant)
    instance_name = (tenants[tenant] or {}).get("mailwizz")
    if not instance_name:
        raise ConfigError("tenant %r has no mailwizz instance" % tenant)
    if instance_name not in (instances or {}):
        raise ConfigError("tenant %r: mailwizz instance %r is not in "
                          "mailfleet_mailwizz_instances" % (tenant, instance_name))
    conn = dict((k, v) for k, v in (instances[instance_name] or {}).items()
                if k in CONNECTION_KEYS)
    auth = (tenants[tenant] or {}).get("mailwizz_auth") or {}
    conn.update(dict((k, v) for k, v in auth.items() if k in CONNECTION_KEYS))
    if not conn.get("url"):
        raise ConfigError("mailwizz instance %r has no url" % instance_name)
    if not conn.get("api_key") and not (conn.get("public_key") and conn.get("private_key")):
        raise ConfigError("tenant %r: no api_key (or public_key + private_key) for mailwizz "
                          "instance %r" % (tenant, instance_name))
    return conn


def check_key_isolation(tenants, instances):
    """Raise ConfigError when two tenants with a MailWizz instance share a customer key."""
    seen = {}
    for name in sorted(tenants or {}):
        if not (tenants[name] or {}).get("mailwizz"):
            continue
        conn = connection_for_tenant(name, tenants, instances)
        ident = (conn["url"].rstrip("/"), conn.get("api_key") or conn.get("public_key"))
        if ident in seen:
            raise ConfigError("tenants %r and %r use the same MailWizz key on %s: each tenant "
                              "needs its own customer key" % (seen[ident], name, ident[0]))
        seen[ident] = name


def client_from_connection(conn, **kwargs):
    args = dict((k, conn[k]) for k in CONNECTION_KEYS if conn.get(k) is not None)
    args.update(kwargs)
    return MailWizzClient(**args)


def client_for_tenant(tenant, tenants, instances, **kwargs):
    """A client bound to ``tenant``'s own customer key (isolation checked fleet-wide)."""
    check_key_isolation(tenants, instances)
    return client_from_connection(connection_for_tenant(tenant, tenants, instances), **kwargs)
