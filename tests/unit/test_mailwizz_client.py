"""MailWizz client: encoding, signing, the requests stack (retries, Retry-After, POST never
replayed, TLS, proxy), collections read until stable, safe creates, bulk answers, factory."""
import hashlib
import hmac
import json
import random

import pytest
import requests

from httpfixtures import ForwardProxy, LoopbackPKI, ScriptedServer
from ansible_collections.mailfleet.fleet.plugins.module_utils import http_session
from ansible_collections.mailfleet.fleet.plugins.module_utils import mailwizz_api as mw
from ansible_collections.mailfleet.fleet.plugins.module_utils import mailwizz_ops as ops
from ansible_collections.mailfleet.fleet.plugins.module_utils.mailwizz_api import (
    ConfigError, MailWizzClient, MailWizzError, Response, TransportError)

KEY = "SECRET-KEY-123"
OK = (200, {"status": "success", "data": {}})


class FakeTransport(object):
    """Scripted responses at the transport seam; records every request."""

    def __init__(self, script):
        self.script = list(script)
        self.requests = []

    def __call__(self, method, url, headers, body, timeout, idempotent):
        self.requests.append({"method": method, "url": url, "headers": dict(headers),
                              "body": body, "timeout": timeout, "idempotent": idempotent})
        item = self.script.pop(0)
        if callable(item):
            item = item(method, url, body)
        if isinstance(item, Exception):
            raise item
        status, payload = item[0], item[1]
        headers = item[2] if len(item) > 2 else {}
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return Response(status, headers, body)


class Clock(object):
    """A clock that only moves when the client sleeps."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def client(script, **kw):
    clock = Clock()
    t = FakeTransport(script)
    kw.setdefault("retries", 3)
    c = MailWizzClient("http://mw.example.test/api", api_key=KEY, transport=t,
                       sleep=clock.sleep, clock=clock, **kw)
    return c, t, clock


def live(url, **kw):
    """A client on the real requests stack; sleeps recorded, not slept."""
    sleeps = []
    kw.setdefault("retries", 3)
    kw.setdefault("timeout", 2.0)
    c = MailWizzClient(url, api_key=KEY, sleep=sleeps.append, rng=random.Random(1), **kw)
    return c, sleeps


@pytest.fixture
def scripted():
    servers = []

    def make(script, tls=None):
        srv = ScriptedServer(script, tls=tls)
        servers.append(srv)
        return srv
    yield make
    for srv in servers:
        srv.close()


# ----------------------------------------------------------------------------- encoding, auth
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


def test_api_key_header_form_body_and_idempotency_flags():
    c, t, _ = client([(201, {"status": "success", "list_uid": "u1"}), OK, OK, OK])
    c.request("POST", "lists", data={"general": {"name": "n"}})
    c.request("GET", "lists")
    c.request("PUT", "lists/u1", data={"general": {"name": "n"}})
    c.pause_unpause("c1")
    req = t.requests[0]
    assert req["headers"]["X-Api-Key"] == KEY
    assert req["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert req["body"] == b"general%5Bname%5D=n"
    # POST and the pause/unpause toggle are never replayed; GET and PUT may be
    assert [r["idempotent"] for r in t.requests] == [False, True, True, False]


@pytest.mark.parametrize("kwargs,problem", [
    ({"url": ""}, "url is required"),
    ({"url": "mw.example.test/api"}, "http:// or https://"),
    ({"api_key": None}, "api_key"),
    ({"public_key": "p", "api_key": None}, "api_key"),
    ({"timeout": 0}, "timeout"),
    ({"timeout": "soon"}, "timeout"),
    ({"ca_path": "/nonexistent/ca.pem"}, "ca_path"),
    ({"client_key": "/etc/hostname"}, "client_key needs client_cert"),
    ({"proxy": "proxy.example.test:3128"}, "proxy must be a URL"),
])
def test_bad_connection_options_are_refused_before_any_request(kwargs, problem):
    args = dict(url="https://mw.example.test/api", api_key=KEY)
    args.update(kwargs)
    with pytest.raises(ConfigError) as err:
        MailWizzClient(**args)
    assert problem in str(err.value) and KEY not in str(err.value)


# ----------------------------------------------------------------------------- the requests stack
def test_get_is_retried_on_5xx_with_exponential_backoff_and_jitter(scripted):
    srv = scripted([(503, {"status": "error", "error": "offline"}), (502, b"bad gateway"),
                    (500, b"<html>"), (200, {"status": "success", "data": {"ok": 1}})])
    c, sleeps = live(srv.url, backoff=1.0)
    status, payload = c.request("GET", "lists")
    assert status == 200 and payload["data"] == {"ok": 1}
    assert srv.methods() == ["GET"] * 4 and c.calls == 4
    assert len(sleeps) == 3
    for attempt, delay in enumerate(sleeps):  # half fixed, half random, doubling
        assert 0.5 * 2 ** attempt <= delay <= 2 ** attempt
    assert len(set(sleeps)) == 3


def test_retry_after_is_a_floor_and_is_capped(scripted):
    srv = scripted([(429, {"status": "error", "error": "slow down"}, {"Retry-After": "7"}),
                    (503, {"status": "error", "error": "offline"}, {"Retry-After": "99999"}),
                    OK])
    c, sleeps = live(srv.url, backoff=0.01, max_retry_after=60)
    assert c.request("GET", "lists")[0] == 200
    assert sleeps[0] >= 7 and sleeps[1] == 60


def test_get_read_timeout_is_retried(scripted):
    srv = scripted([("sleep", 0.6, OK), OK])
    c, sleeps = live(srv.url, timeout=0.2)
    assert c.request("GET", "lists")[0] == 200
    assert srv.methods() == ["GET", "GET"] and len(sleeps) == 1


@pytest.mark.parametrize("first", [(500, b"<html>"), (503, {"status": "error", "error": "x"}),
                                   (429, {"status": "error", "error": "x"}, {"Retry-After": "1"}),
                                   "drop", ("sleep", 0.6, OK)])
def test_a_post_is_never_replayed_by_the_stack(scripted, first):
    srv = scripted([first, (201, {"status": "success", "list_uid": "dup"})])
    c, sleeps = live(srv.url, timeout=0.2)
    with pytest.raises(MailWizzError) as err:
        c.request("POST", "lists", data={"general": {"name": "n"}})
    assert srv.methods() == ["POST"] and sleeps == []
    if first == "drop" or first[0] == "sleep":
        assert err.value.transport and err.value.ambiguous
    else:
        assert err.value.status == first[0]


def test_a_toggle_put_is_not_replayed_but_a_plain_put_is(scripted):
    srv = scripted([(500, b"x"), (500, b"x"), OK])
    c, _ = live(srv.url)
    with pytest.raises(MailWizzError):
        c.pause_unpause("c1")
    assert srv.methods() == ["PUT"]
    c.request("PUT", "lists/u1", data={"general": {"name": "n"}})
    assert srv.methods() == ["PUT", "PUT", "PUT"]


def test_a_refused_connection_is_retried_even_for_post_and_reported_unambiguous():
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once closed
    c, sleeps = live("http://127.0.0.1:%d/api" % port, retries=2, backoff=0.01)
    with pytest.raises(MailWizzError) as err:
        c.request("POST", "lists", data={"general": {"name": "n"}})
    assert err.value.transport and not err.value.ambiguous and err.value.create_retryable
    assert len(sleeps) == 2 and c.calls == 3
    assert KEY not in str(err.value)


def test_retry_policies_are_the_documented_ones():
    sess = http_session.HttpSession(retries=5, backoff=0.5)
    adapter = sess.session.get_adapter("https://mw.example.test/")
    idem, safe = adapter.idempotent_retry, adapter.replay_safe_retry
    assert idem.allowed_methods == {"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}
    assert set(idem.status_forcelist) == {429, 500, 502, 503, 504}
    assert idem.respect_retry_after_header and idem.read == 5 and idem.connect == 5
    assert safe.connect == 5 and safe.read is False and safe.status == 0
    assert not safe.status_forcelist and not safe.respect_retry_after_header


def test_4xx_is_final_and_error_names_everything_but_the_key(scripted):
    srv = scripted([(422, {"status": "error", "error": {
        "general": {"name": "Name cannot be blank. key=%s" % KEY}}})])
    c, sleeps = live(srv.url)
    with pytest.raises(MailWizzError) as err:
        c.request("POST", "lists", data={}, obj="list 'x'")
    msg = str(err.value)
    assert "list 'x'" in msg and "POST" in msg and "/api/lists" in msg and "HTTP 422" in msg
    assert KEY not in msg and sleeps == [] and len(srv.requests) == 1
    assert srv.requests[0]["headers"]["X-Api-Key"] == KEY


def test_bad_key_400_is_final(scripted):
    srv = scripted([(400, {"status": "error", "error": "Invalid API key."})])
    c, sleeps = live(srv.url)
    with pytest.raises(MailWizzError) as err:
        c.lists()
    assert err.value.status == 400 and sleeps == [] and len(srv.requests) == 1


def test_retries_exhausted_return_the_last_status(scripted):
    srv = scripted([(500, b"x")])
    c, sleeps = live(srv.url, retries=3)
    with pytest.raises(MailWizzError) as err:
        c.request("GET", "campaigns")
    assert err.value.status == 500 and len(srv.requests) == 4 and len(sleeps) == 3


def test_one_pooled_connection_is_reused(scripted):
    srv = scripted([OK])
    c, _ = live(srv.url)
    for _ in range(5):
        c.request("GET", "lists")
    assert len(srv.requests) == 5
    assert len(set(r["client"] for r in srv.requests)) == 1  # one keep-alive connection


# ----------------------------------------------------------------------------- TLS and proxy
def test_tls_options_reach_requests(monkeypatch, tmp_path):
    pki = LoopbackPKI(str(tmp_path))
    seen = []

    def fake_send(self, request, **kwargs):
        seen.append(kwargs)
        resp = requests.Response()
        resp.status_code = 200
        resp._content = b'{"status": "success"}'
        return resp

    monkeypatch.setattr(requests.Session, "send", fake_send)
    for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(var, raising=False)
    url = "https://mw.example.test/api"
    for kwargs, verify, cert in [
            ({}, True, None),
            ({"validate_certs": False}, False, None),
            ({"ca_path": pki.ca}, pki.ca, None),
            ({"client_cert": pki.client_combined}, True, pki.client_combined),
            ({"client_cert": pki.client_cert, "client_key": pki.client_key}, True,
             (pki.client_cert, pki.client_key))]:
        c = MailWizzClient(url, api_key=KEY, timeout=7, **kwargs)
        c.request("GET", "lists")
        assert seen[-1]["verify"] == verify and seen[-1]["cert"] == cert
        assert seen[-1]["timeout"] == (7.0, 7.0) and seen[-1]["allow_redirects"] is False
    c = MailWizzClient(url, api_key=KEY, proxy="http://proxy.example.test:3128")
    c.request("GET", "lists")
    assert seen[-1]["proxies"]["https"] == "http://proxy.example.test:3128"


def test_real_tls_private_ca_and_client_certificate(scripted, tmp_path):
    pki = LoopbackPKI(str(tmp_path))
    srv = scripted([OK], tls=pki.server_context())
    c, _ = live(srv.url, retries=0)
    with pytest.raises(MailWizzError) as err:  # unknown CA: refused, never sent
        c.request("GET", "lists")
    assert err.value.transport and "TLS" in str(err.value)
    assert MailWizzClient(srv.url, api_key=KEY, ca_path=pki.ca).request("GET", "lists")[0] == 200
    assert MailWizzClient(srv.url, api_key=KEY,
                          validate_certs=False).request("GET", "lists")[0] == 200

    mtls = scripted([OK], tls=pki.server_context(require_client_cert=True))
    c, _ = live(mtls.url, ca_path=pki.ca, retries=0)
    with pytest.raises(MailWizzError):
        c.request("GET", "lists")
    ok = MailWizzClient(mtls.url, api_key=KEY, ca_path=pki.ca, client_cert=pki.client_cert,
                        client_key=pki.client_key)
    assert ok.request("GET", "lists")[0] == 200


def test_proxy_option_and_environment(monkeypatch):
    proxy = ForwardProxy()
    try:
        target = "http://mw.example.test/api"
        c = MailWizzClient(target, api_key=KEY, proxy=proxy.url)
        c.request("GET", "lists")
        assert proxy.seen[-1] == ("GET", "http://mw.example.test/api/lists")
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        MailWizzClient(target, api_key=KEY).request("GET", "campaigns")
        assert proxy.seen[-1] == ("GET", "http://mw.example.test/api/campaigns")
        count = len(proxy.seen)
        direct = MailWizzClient(target, api_key=KEY, use_proxy=False, retries=0, timeout=0.5)
        with pytest.raises(MailWizzError):  # no proxy: mw.example.test does not resolve
            direct.request("GET", "templates")
        assert len(proxy.seen) == count
    finally:
        proxy.close()


# ----------------------------------------------------------------------------- collections
def page(records, n, per_page, count=None, total=None):
    total_pages = -(-len(total if total is not None else records) // per_page)
    return (200, {"status": "success", "data": {
        "count": str(count if count is not None else len(records)),
        "total_pages": float(total_pages), "current_page": n,
        "next_page": n + 1 if n < total_pages else None, "prev_page": n - 1 if n > 1 else None,
        "records": records[(n - 1) * per_page:n * per_page]}})


def lst(uid, name):
    return {"general": {"list_uid": uid, "name": name}}


def test_collection_with_string_count_float_pages_and_clamped_per_page():
    recs = [lst("u%02d" % i, "n%d" % i) for i in range(120, 0, -1)]
    c, t, _ = client([page(recs, 1, 50), page(recs, 2, 50), page(recs, 3, 50)])
    assert c.collect("lists", per_page=500, key=mw._list_uid) == recs
    assert [r["url"] for r in t.requests] == [
        "http://mw.example.test/api/lists?page=%d&per_page=50" % i for i in (1, 2, 3)]


def test_empty_collection_carries_nulls():
    empty = (200, {"status": "success", "data": {
        "count": None, "total_pages": None, "current_page": None, "next_page": None,
        "prev_page": None, "records": []}})
    c, t, _ = client([empty, empty])
    assert c.lists() == [] and c.collection_count("lists") == 0


def test_pages_that_shift_while_rows_are_added_are_read_again():
    """Newest first: a list created between page 1 and page 2 pushes one row of page 1 onto
    page 2 (read twice) and the new row is missed; the count moved, so the client reads again."""
    before = [lst("u%02d" % i, "n%d" % i) for i in range(60, 0, -1)]
    after = [lst("u61", "late")] + before
    c, t, _ = client([page(before, 1, 50), page(after, 2, 50),
                      page(after, 1, 50), page(after, 2, 50)])
    got = c.collect("lists", key=mw._list_uid)
    assert [r["general"]["list_uid"] for r in got] == [r["general"]["list_uid"] for r in after]
    assert len(t.requests) == 4


def test_a_collection_that_never_settles_is_an_error_not_a_guess():
    script = []
    for i in range(mw.COLLECT_PASSES):
        recs = [lst("u%03d" % j, "n") for j in range(60 + 2 * i, 0, -1)]
        grown = [lst("x%d" % i, "n")] + recs
        script += [page(recs, 1, 50), page(grown, 2, 50)]
    c, t, _ = client(script)
    with pytest.raises(MailWizzError) as err:
        c.lists()
    assert "kept changing" in str(err.value)


@pytest.mark.parametrize("bad", ["many", True, -1.5, {"n": 1}])
def test_unreadable_counts_are_refused(bad):
    c, t, _ = client([(200, {"status": "success", "data": {"count": bad, "total_pages": 1,
                                                           "records": [lst("u", "n")]}})])
    with pytest.raises(MailWizzError) as err:
        c.lists()
    assert "unreadable collection" in str(err.value)


# ----------------------------------------------------------------------------- safe creates
def lists_page(state):
    def answer(method, url, body):
        return page(list(reversed(state)), 1, 50) if state else (200, {"status": "success",
                                                                      "data": {"count": None,
                                                                               "records": []}})
    return answer


def test_post_that_times_out_is_looked_up_until_it_lands_never_posted_twice():
    state = []

    def post_lost(method, url, body):
        return TransportError("read timeout (ReadTimeoutError)", timeout=True)

    def land_late(method, url, body):
        state.append(lst("u1", "news"))  # the slow POST commits now, after two look-ups
        return lists_page(state)(method, url, body)

    c, t, clock = client([lists_page(state), post_lost, lists_page(state), lists_page(state),
                          land_late], timeout=5, backoff=0.5)
    record, created = c.create_list("news", {"general": {"name": "news"}})
    assert created and record["general"]["list_uid"] == "u1"
    assert [r["method"] for r in t.requests] == ["GET", "POST", "GET", "GET", "GET"]
    assert sum(clock.sleeps) <= c.settle == 10.0


def test_post_is_sent_again_only_after_the_settle_window_found_nothing():
    state = []
    posts = [(500, b"<html>"), (201, {"status": "success", "list_uid": "u2"})]

    def by_method(method, url, body):
        return posts.pop(0) if method == "POST" else lists_page(state)(method, url, body)

    c, t, clock = client([by_method] * 40, timeout=1, backoff=0.1)
    record, created = c.create_list("news", {"general": {"name": "news"}})
    assert record["general"]["list_uid"] == "u2" and created
    methods = [r["method"] for r in t.requests]
    assert methods[:2] == ["GET", "POST"] and methods[-1] == "POST"
    assert methods.count("POST") == 2 and methods.count("GET") >= 3
    second_post = len(methods) - 1
    assert clock.now - 1000.0 >= c.settle == 2.0  # looked up for the whole window first
    assert second_post > 2


def test_rate_limited_create_is_retried_after_one_lookup_and_retry_after():
    state = []
    c, t, clock = client([lists_page(state),
                          (429, {"status": "error", "error": "slow"}, {"Retry-After": "4"}),
                          lists_page(state), (201, {"status": "success", "list_uid": "u3"})])
    record, created = c.create_list("news", {"general": {"name": "news"}})
    assert record["general"]["list_uid"] == "u3" and clock.sleeps[0] >= 4
    assert [r["method"] for r in t.requests] == ["GET", "POST", "GET", "POST"]


def test_validation_error_on_create_is_final():
    state = []
    c, t, clock = client([lists_page(state),
                          (422, {"status": "error", "error": {"general": {"name": "blank"}}})])
    with pytest.raises(MailWizzError) as err:
        c.create_list("news", {"general": {"name": ""}})
    assert err.value.status == 422 and len(t.requests) == 2 and clock.sleeps == []


def test_duplicates_made_elsewhere_are_reported_and_the_oldest_is_used():
    state = [lst("old1", "news"), lst("x", "other"), lst("new2", "news")]  # oldest first
    c, t, _ = client([lists_page(state)])
    record, created = c.create_list("news", {"general": {"name": "news"}})
    assert not created and record["general"]["list_uid"] == "old1"
    assert len(c.warnings) == 1 and "old1" in c.warnings[0] and "new2" in c.warnings[0]
    camps = [{"campaign_uid": "c9", "campaign_id": "9", "name": "spring"},
             {"campaign_uid": "c3", "campaign_id": "3", "name": "spring"}]
    assert mw.oldest(camps, "campaign_id")["campaign_uid"] == "c3"


# ----------------------------------------------------------------------------- bulk answers
ROWS = [(0, "good@example.test", {}), (1, "dup@example.test", {}), (2, "nofield@example.test", {})]


def test_bulk_answer_of_mailwizz_2x_has_no_per_record_status():
    """1 good row + 1 duplicate + 1 row missing a required field: created 1, failed 2."""
    records = [
        {"data": {"EMAIL": "good@example.test", "FNAME": None, "subscriber_uid": "s1"}},
        {"data": {"EMAIL": "dup@example.test", "FNAME": None},
         "errors": {"EMAIL": "The subscriber already exists in this list."}},
        {"data": {"EMAIL": "nofield@example.test", "FNAME": None},
         "errors": {"FNAME": "The field FNAME is required by the list but it has not been "
                             "provided!"}}]
    outcomes = ops.bulk_outcomes(records, ROWS)
    assert [o[0] for o in outcomes] == ["created", "failed", "failed"]
    assert "already exists" in outcomes[1][1] and "FNAME" in outcomes[2][1]


def test_bulk_answer_of_older_versions_with_status():
    records = [{"status": "success", "data": {"EMAIL": "good@example.test"}},
               {"status": "error", "error": "The subscriber already exists in this list.",
                "data": {"EMAIL": "dup@example.test"}},
               {"status": "error", "error": {"FNAME": "required"},
                "data": {"EMAIL": "nofield@example.test"}}]
    assert [o[0] for o in ops.bulk_outcomes(records, ROWS)] == ["created", "failed", "failed"]


def test_bulk_records_are_matched_by_email_when_the_answer_is_short_and_unknown_is_looked_up():
    records = [{"data": {"EMAIL": "NOFIELD@example.test"}, "errors": {"_common": "quota"}},
               {"data": {"EMAIL": "good@example.test"}}]  # neither errors nor uid: unknown
    out = ops.bulk_outcomes(records, ROWS)
    assert out[0][0] == "unknown" and out[1][0] == "unknown" and out[2] == ("failed",
                                                                            "_common: quota")
    result = {"created": 0}
    failed = []
    search_hits = {"good@example.test": {"subscriber_uid": "s1", "status": "confirmed"}}

    def search(method, url, body):
        for email, hit in search_hits.items():
            if "EMAIL=" + email.replace("@", "%40") in url:
                return (200, {"status": "success", "data": hit})
        return (404, {"status": "error", "error": "The subscriber does not exist in this list."})

    c, t, _ = client([(201, {"status": "success", "data": {"records": records}}),
                      search, search])
    ops._bulk_chunk(c, "L1", ROWS, 1000, result, lambda i, e, why: failed.append((e, why)))
    assert result["created"] == 1
    assert sorted(e for e, _ in failed) == ["dup@example.test", "nofield@example.test"]


# ----------------------------------------------------------------------------- factory
def test_factory_per_tenant_key_and_isolation():
    instances = {"mw1": {"url": "http://mw.example.test/api", "api_key": "inst-key",
                         "db": {"host": "db"}, "ca_path": None}}
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
    # the same key behind a differently spelled URL is still the same customer
    spelled = {"mw2": {"url": "HTTP://MW.example.test/api/", "api_key": "globex-key"}}
    with pytest.raises(ConfigError):
        mw.check_key_isolation(dict(tenants, other={"mailwizz": "mw2"}),
                               dict(instances, **spelled))
    with pytest.raises(ConfigError):
        mw.connection_for_tenant("acme", {"acme": {"mailwizz": "nope"}}, instances)
    with pytest.raises(ConfigError):
        mw.connection_for_tenant("acme", {"acme": {"mailwizz": "mw1"}},
                                 {"mw1": {"url": "http://x.test/api"}})
    with pytest.raises(ConfigError) as err:  # auth holds credentials only
        mw.connection_for_tenant("acme", {"acme": {"mailwizz": "mw1", "mailwizz_auth": {
            "api_key": "k", "url": "http://evil.test/api"}}}, instances)
    assert "url" in str(err.value) and "k" != str(err.value)
    legacy = mw.connection_for_tenant("acme", {"acme": {"mailwizz": "mw1", "mailwizz_auth": {
        "public_key": "p", "private_key": "q"}}}, instances)
    assert "api_key" not in legacy and legacy["public_key"] == "p"
