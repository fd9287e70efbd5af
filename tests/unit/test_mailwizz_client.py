"""MailWizz client: encoding, signing, pagination, retry policy, safe creates, factory."""
import hashlib
import hmac
import json

import pytest

from ansible_collections.mailfleet.fleet.plugins.module_utils import mailwizz_api as mw
from ansible_collections.mailfleet.fleet.plugins.module_utils.mailwizz_api import (
    ConfigError, MailWizzClient, MailWizzError, Response, TransportError)


class FakeTransport(object):
    """Scripted responses; records every request."""

    def __init__(self, script):
        self.script = list(script)
        self.requests = []

    def __call__(self, method, url, headers, body, timeout):
        self.requests.append({"method": method, "url": url, "headers": dict(headers),
                              "body": body, "timeout": timeout})
        item = self.script.pop(0)
        if callable(item):
            item = item(method, url, body)
        if isinstance(item, Exception):
            raise item
        status, payload = item[0], item[1]
        headers = item[2] if len(item) > 2 else {}
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return Response(status, headers, body)


def client(script, **kw):
    sleeps = []
    t = FakeTransport(script)
    kw.setdefault("retries", 3)
    c = MailWizzClient("http://mw.example.test/api", api_key="SECRET-KEY-123", transport=t,
                       sleep=sleeps.append, **kw)
    return c, t, sleeps


def test_nested_form_encoding():
    body = mw.encode_form({"general": {"name": "My list", "opt_in": "single"},
                           "campaign": {"options": {"url_tracking": True}},
                           "subscribers": [{"EMAIL": "a@example.test"}], "skip": None})
    assert body == ("general%5Bname%5D=My+list&general%5Bopt_in%5D=single&"
                    "campaign%5Boptions%5D%5Burl_tracking%5D=yes&"
                    "subscribers%5B0%5D%5BEMAIL%5D=a%40example.test")


def test_campaign_template_fields_are_base64():
    body = MailWizzClient.campaign_body({"name": "c", "template": {
        "content": "<p>é</p>", "plain_text": "hi", "inline_css": "no"}})
    tpl = body["campaign"]["template"]
    assert tpl["content"] == "PHA+w6k8L3A+"
    assert tpl["plain_text"] == "aGk="
    assert tpl["inline_css"] == "no"


def test_v1_signature_matches_the_documented_string():
    special = {"X-MW-PUBLIC-KEY": "pub", "X-MW-TIMESTAMP": "1700000000",
               "X-MW-REMOTE-ADDR": ""}
    pairs = mw.flatten_form({"general": {"name": "My list~1"}, "EMAIL": "a@example.test"})
    base = mw.signature_string("post", "http://h.test/api/lists", special, pairs)
    # byte-wise key order: EMAIL < X-MW-* < general; PHP urlencode (+ for space, ~ encoded)
    assert base == ("POST http://h.test/api/lists?EMAIL=a%40example.test&"
                    "X-MW-PUBLIC-KEY=pub&X-MW-REMOTE-ADDR=&X-MW-TIMESTAMP=1700000000&"
                    "general%5Bname%5D=My+list%7E1")
    expected = hmac.new(b"priv", base.encode(), hashlib.sha1).hexdigest()
    assert mw.sign_v1("priv", "POST", "http://h.test/api/lists", special, pairs) == expected
    with_query = mw.signature_string("GET", "http://h.test/api/lists?page=1", special, [])
    assert with_query.startswith("GET http://h.test/api/lists?page=1&EMAIL") is False
    assert with_query.startswith("GET http://h.test/api/lists?page=1&X-MW-PUBLIC-KEY=pub")


def test_legacy_client_sends_signed_headers_and_no_api_key():
    t = FakeTransport([(200, {"status": "success", "data": {"records": []}})])
    c = MailWizzClient("http://h.test/api", public_key="pub", private_key="priv", transport=t,
                       clock=lambda: 1700000000)
    c.request("PUT", "lists/abc", data={"general": {"name": "x"}})
    h = t.requests[0]["headers"]
    assert "X-Api-Key" not in h
    assert h["X-MW-TIMESTAMP"] == "1700000000"
    assert h["X-HTTP-Method-Override"] == "PUT" and t.requests[0]["method"] == "PUT"
    assert h["X-MW-SIGNATURE"] == mw.sign_v1(
        "priv", "PUT", "http://h.test/api/lists/abc",
        {"X-MW-PUBLIC-KEY": "pub", "X-MW-TIMESTAMP": "1700000000", "X-MW-REMOTE-ADDR": ""},
        [("general[name]", "x")])


def test_api_key_header_and_form_content_type():
    c, t, _ = client([(201, {"status": "success", "list_uid": "u1"})])
    c.request("POST", "lists", data={"general": {"name": "n"}}, retry=False)
    req = t.requests[0]
    assert req["headers"]["X-Api-Key"] == "SECRET-KEY-123"
    assert req["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert req["body"] == b"general%5Bname%5D=n"


def page(n, total_pages, records):
    return (200, {"status": "success", "data": {
        "count": 120, "total_pages": total_pages, "current_page": n,
        "next_page": n + 1 if n < total_pages else None, "prev_page": None,
        "records": records}})


def test_paginate_walks_every_page_with_clamped_per_page():
    c, t, _ = client([page(1, 3, [1, 2]), page(2, 3, [3]), page(3, 3, [4])])
    assert list(c.paginate("lists", per_page=500)) == [1, 2, 3, 4]
    assert [r["url"] for r in t.requests] == [
        "http://mw.example.test/api/lists?page=%d&per_page=50" % i for i in (1, 2, 3)]


def test_retry_on_5xx_with_exponential_backoff_then_success():
    c, t, sleeps = client([(503, {"status": "error", "error": "offline"}),
                           (502, b"bad gateway"), (500, b"<html>"),
                           (200, {"status": "success", "data": {}})],
                          backoff=1.0, rng=__import__("random").Random(1))
    c.request("GET", "lists")
    assert len(t.requests) == 4
    assert len(sleeps) == 3
    for attempt, delay in enumerate(sleeps):
        assert 0.5 * 2 ** attempt <= delay <= 2 ** attempt


def test_retry_after_is_honoured():
    c, t, sleeps = client([(429, {"status": "error", "error": "slow down"},
                            {"Retry-After": "7"}), (200, {"status": "success"})])
    c.request("GET", "lists")
    assert sleeps[0] >= 7


def test_transport_errors_and_timeouts_are_retried():
    c, t, sleeps = client([TransportError("timed out"), TransportError("RemoteDisconnected"),
                           (200, {"status": "success"})])
    assert c.request("GET", "lists")[0] == 200
    assert len(sleeps) == 2


def test_4xx_is_not_retried_and_error_names_everything_but_the_key():
    c, t, sleeps = client([(422, {"status": "error", "error": {
        "general[name]": "Name cannot be blank. key=SECRET-KEY-123"}})])
    with pytest.raises(MailWizzError) as err:
        c.request("POST", "lists", data={}, obj="list 'x'", retry=False)
    msg = str(err.value)
    assert "list 'x'" in msg and "POST" in msg and "/api/lists" in msg and "HTTP 422" in msg
    assert "SECRET-KEY-123" not in msg
    assert sleeps == [] and len(t.requests) == 1


def test_bad_key_400_is_final():
    c, t, sleeps = client([(400, {"status": "error", "error": "Invalid API key."})])
    with pytest.raises(MailWizzError) as err:
        c.lists()
    assert err.value.status == 400 and sleeps == []


def test_retries_exhausted_raise_last_error():
    c, t, sleeps = client([(500, b"x")] * 4, retries=3)
    with pytest.raises(MailWizzError) as err:
        c.request("GET", "campaigns")
    assert err.value.status == 500 and len(t.requests) == 4 and len(sleeps) == 3


def test_post_is_never_blindly_retried_lookup_first():
    state = {"lists": []}

    def lists_page(method, url, body):
        return (200, {"status": "success", "data": {
            "count": len(state["lists"]), "total_pages": 1, "current_page": 1,
            "next_page": None, "prev_page": None, "records": list(state["lists"])}})

    def post_then_drop(method, url, body):
        state["lists"].append({"general": {"list_uid": "u1", "name": "news"}})
        return TransportError("connection dropped after commit")

    c, t, sleeps = client([lists_page, post_then_drop, lists_page])
    record, created = c.create_list("news", {"general": {"name": "news"}})
    assert created and record["general"]["list_uid"] == "u1"
    assert [r["method"] for r in t.requests] == ["GET", "POST", "GET"]


def test_post_retried_when_lookup_shows_it_did_not_land():
    empty = (200, {"status": "success", "data": {"count": 0, "total_pages": 0, "records": [],
                                                  "current_page": 1, "next_page": None}})
    c, t, sleeps = client([empty, (503, {"status": "error", "error": "x"}), empty,
                           (201, {"status": "success", "list_uid": "u2"})])
    record, created = c.create_list("news", {"general": {"name": "news"}})
    assert record["general"]["list_uid"] == "u2"
    assert [r["method"] for r in t.requests] == ["GET", "POST", "GET", "POST"]


def test_factory_per_tenant_key_and_isolation():
    instances = {"mw1": {"url": "http://mw.example.test/api", "api_key": "inst-key",
                         "db": {"host": "db"}}}
    tenants = {"acme": {"mailwizz": "mw1"},
               "globex": {"mailwizz": "mw1", "mailwizz_auth": {"api_key": "globex-key"}},
               "nomw": {"pool": "p"}}
    conn = mw.connection_for_tenant("globex", tenants, instances)
    assert conn == {"url": "http://mw.example.test/api", "api_key": "globex-key"}
    c = mw.client_for_tenant("acme", tenants, instances)
    assert c._api_key == "inst-key" and "inst-key" not in repr(c)
    shared = dict(tenants, initech={"mailwizz": "mw1"})
    with pytest.raises(ConfigError) as err:
        mw.client_for_tenant("acme", shared, instances)
    assert "acme" in str(err.value) and "initech" in str(err.value)
    assert "inst-key" not in str(err.value)
    with pytest.raises(ConfigError):
        mw.connection_for_tenant("acme", {"acme": {"mailwizz": "nope"}}, instances)
    with pytest.raises(ConfigError):
        mw.connection_for_tenant("acme", {"acme": {"mailwizz": "mw1"}},
                                 {"mw1": {"url": "http://x.test/api"}})
