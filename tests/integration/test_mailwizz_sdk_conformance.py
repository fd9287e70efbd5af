"""Fidelity: the official mailwizz-python-sdk (1.x signed headers) and the toolkit's client get
the same results from the stand-in."""
import pytest

from mailwizz_helpers import load_standin
from ansible_collections.mailfleet.fleet.plugins.module_utils.mailwizz_api import (
    MailWizzClient, MailWizzError)

sdk_base = pytest.importorskip("mailwizz.base")
from mailwizz.config import Config  # noqa: E402
from mailwizz.endpoint.list_subscribers import ListSubscribers  # noqa: E402
from mailwizz.endpoint.lists import Lists  # noqa: E402

CUSTOMER = {"acme": {"api_key": "unused-2x-key", "public_key": "a" * 40, "private_key": "b" * 40}}
LIST = {"general": {"name": "sdk-list", "description": "conformance"},
        "defaults": {"from_name": "Acme", "from_email": "news@acme.example",
                     "reply_to": "news@acme.example"}}


def strip(obj):
    """Drop what legitimately differs between two servers (dates)."""
    if isinstance(obj, dict):
        return dict((k, strip(v)) for k, v in obj.items() if k != "date_added")
    if isinstance(obj, (list, tuple)):
        return [strip(v) for v in obj]
    return obj


def scenario_sdk(url):
    sdk_base.Base.set_config(Config({"api_url": url, "public_key": CUSTOMER["acme"]["public_key"],
                                     "private_key": CUSTOMER["acme"]["private_key"],
                                     "charset": "utf-8"}))
    out = []
    r = Lists().create(LIST)
    out.append((r.status_code, r.json()))
    uid = r.json()["list_uid"]
    subs = ListSubscribers()
    for i in range(3):
        r = subs.create(uid, {"EMAIL": "s%d@example.test" % i, "FNAME": "S%d" % i,
                              "details": {"status": "confirmed"}})
        out.append((r.status_code, r.json()))
    r = subs.create(uid, {"EMAIL": "s1@example.test"})
    out.append((r.status_code, r.json()))
    r = subs.create(uid, {"EMAIL": "broken"})
    out.append((r.status_code, r.json()))
    r = subs.create_bulk(uid, [{"EMAIL": "b%d@example.test" % i} for i in range(12)]
                         + [{"EMAIL": "s2@example.test"}])
    out.append((r.status_code, r.json()))
    for email in ("s2@example.test", "nobody@example.test"):
        r = subs.email_search(uid, email)
        out.append((r.status_code, r.json()))
    for page in (1, 2):
        r = subs.get_subscribers(uid, page=page, per_page=5)  # clamped to 10
        out.append((r.status_code, r.json()))
    r = Lists().get_list(uid)
    out.append((r.status_code, r.json()))
    r = Lists().get_lists(page=1, per_page=100)
    out.append((r.status_code, r.json()))
    return out


def call(client, method, path, query=None, data=None):
    try:
        return client.request(method, path, query=query, data=data, idempotent=False)
    except MailWizzError as exc:
        return exc.status, {"status": "error", "error": exc.detail}


def scenario_client(url):
    c = MailWizzClient(url, public_key=CUSTOMER["acme"]["public_key"],
                       private_key=CUSTOMER["acme"]["private_key"], retries=0)
    out = [call(c, "POST", "lists", data=LIST)]
    uid = out[0][1]["list_uid"]
    for i in range(3):
        out.append(call(c, "POST", "lists/%s/subscribers" % uid,
                        data={"EMAIL": "s%d@example.test" % i, "FNAME": "S%d" % i,
                              "details": {"status": "confirmed"}}))
    out.append(call(c, "POST", "lists/%s/subscribers" % uid, data={"EMAIL": "s1@example.test"}))
    out.append(call(c, "POST", "lists/%s/subscribers" % uid, data={"EMAIL": "broken"}))
    out.append(call(c, "POST", "lists/%s/subscribers/bulk" % uid, data={"subscribers": [
        {"EMAIL": "b%d@example.test" % i} for i in range(12)] + [{"EMAIL": "s2@example.test"}]}))
    for email in ("s2@example.test", "nobody@example.test"):
        out.append(call(c, "GET", "lists/%s/subscribers/search-by-email" % uid, {"EMAIL": email}))
    for page in (1, 2):
        out.append(call(c, "GET", "lists/%s/subscribers" % uid, {"page": page, "per_page": 5}))
    out.append(call(c, "GET", "lists/%s" % uid))
    out.append(call(c, "GET", "lists", {"page": 1, "per_page": 100}))
    return out


def test_sdk_and_toolkit_client_get_the_same_results():
    mod = load_standin()
    # The SDK signs differently from the PHP reference (keys sorted case-insensitively, %20
    # for spaces): with the admin's signature check off (a real MailWizz setting) it works.
    a = mod.MailWizzStandin(CUSTOMER, api_version="1", verify_signature=False, seed=3)
    b = mod.MailWizzStandin(CUSTOMER, api_version="1", verify_signature=True, seed=3)
    a.start()
    b.start()
    try:
        got_sdk = strip(scenario_sdk(a.url))
        got_client = strip(scenario_client(b.url))
    finally:
        a.stop()
        b.stop()
    assert [s[0] for s in got_sdk] == [201, 201, 201, 201, 409, 422, 201, 200, 404, 200, 200,
                                       200, 200]
    assert got_sdk == got_client
    first_page = got_sdk[9][1]["data"]
    assert first_page["count"] == "15" and len(first_page["records"]) == 10  # a string, as PDO gives it
    bulk = got_sdk[6][1]["data"]["records"]  # MailWizz 2.x: no per-record status
    assert all("status" not in r for r in bulk)
    assert [bool(r.get("errors")) for r in bulk] == [False] * 12 + [True]
    assert all(r["data"].get("subscriber_uid") for r in bulk[:12])


def test_signature_verification_is_strict():
    mod = load_standin()
    st = mod.MailWizzStandin(CUSTOMER, api_version="1", verify_signature=True)
    st.start()
    try:
        sdk_base.Base.set_config(Config({"api_url": st.url,
                                         "public_key": CUSTOMER["acme"]["public_key"],
                                         "private_key": CUSTOMER["acme"]["private_key"],
                                         "charset": "utf-8"}))
        assert Lists().get_lists(page=1, per_page=10).status_code == 200  # SDK GETs verify
        r = Lists().create(LIST)  # SDK body signature diverges from PHP's ksort order
        assert r.status_code == 400 and "signature" in r.json()["error"]
        good = MailWizzClient(st.url, public_key="a" * 40, private_key="b" * 40, retries=0)
        assert good.create_list("x", LIST)[1] is True
        bad = MailWizzClient(st.url, public_key="a" * 40, private_key="c" * 40, retries=0)
        with pytest.raises(MailWizzError) as err:
            bad.lists()
        assert err.value.status == 400 and "c" * 40 not in str(err.value)
        stale = MailWizzClient(st.url, public_key="a" * 40, private_key="b" * 40, retries=0,
                               clock=lambda: 1000)
        with pytest.raises(MailWizzError) as err:
            stale.lists()
        assert "expired" in str(err.value)
    finally:
        st.stop()


def test_standin_strictness():
    mod = load_standin()
    st = mod.MailWizzStandin({"acme": {"api_key": "k1"}, "globex": {"api_key": "k2"}})
    st.start()
    try:
        import json as _json
        import urllib.request
        req = urllib.request.Request(st.url + "/lists", method="POST",
                                     data=_json.dumps(LIST).encode(),
                                     headers={"X-Api-Key": "k1",
                                              "Content-Type": "application/json"})
        try:
            urllib.request.urlopen(req)
            raise AssertionError("JSON body accepted")
        except urllib.error.HTTPError as exc:
            assert exc.code == 422  # JSON is not read: required fields missing
        c1 = MailWizzClient(st.url, api_key="k1", retries=0)
        c2 = MailWizzClient(st.url, api_key="k2", retries=0)
        rec, _ = c1.create_list("mine", LIST)
        with pytest.raises(MailWizzError) as err:
            c2.get_list(rec["general"]["list_uid"])  # another customer's list
        assert err.value.status == 404
        assert c2.lists() == []
        with pytest.raises(MailWizzError) as err:
            c1.request("POST", "delivery-servers", data={"server": {"name": "x"}})
        assert err.value.status == 400  # read-only
        with pytest.raises(MailWizzError) as err:
            c1.request("POST", "campaigns", data={"campaign": {
                "name": "c", "from_name": "a", "from_email": "a@example.test", "subject": "s",
                "reply_to": "a@example.test", "list_uid": rec["general"]["list_uid"],
                "template": {"content": "<p>not base64</p>"}}})
        assert err.value.status == 422 and "content" in str(err.value)
    finally:
        st.stop()
