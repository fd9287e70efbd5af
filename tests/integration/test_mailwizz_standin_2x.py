"""The MailWizz stand-in answers like MailWizz 2.x (docs/mailwizz-api-facts.md), point by point,
over real HTTP on loopback; and the client reads each answer right."""
import json
import time

import pytest
import requests

from mailwizz_helpers import load_standin
from ansible_collections.mailfleet.fleet.plugins.module_utils import mailwizz_ops as ops
from ansible_collections.mailfleet.fleet.plugins.module_utils.mailwizz_api import (
    MailWizzClient, MailWizzError)

KEY = "acme-key-0123456789abcdef"
LIST = {"general": {"name": "news", "description": "News", "opt_in": "single"},
        "defaults": {"from_name": "Acme", "from_email": "news@acme.example",
                     "reply_to": "news@acme.example"}}


@pytest.fixture
def standin():
    st = load_standin().MailWizzStandin({"acme": {"api_key": KEY, "public_key": "p" * 40,
                                                  "private_key": "q" * 40},
                                         "globex": {"api_key": "globex-key-000000000000"}},
                                        seed=5)
    st.start()
    yield st
    st.stop()


def raw(st, method, path, key=KEY, data=None, params=None, headers=None):
    hdrs = {"X-Api-Key": key} if key else {}
    hdrs.update(headers or {})
    resp = requests.request(method, st.url + "/" + path, headers=hdrs, data=data, params=params,
                            timeout=5)
    return resp.status_code, resp.json()


def client(st, **kw):
    kw.setdefault("timeout", 5)
    return MailWizzClient(st.url, api_key=KEY, **kw)


def make_list(c, name="news", **general):
    body = json.loads(json.dumps(LIST))
    body["general"].update(general, name=name)
    return c.create_list(name, body)[0]["general"]["list_uid"]


def test_collections_are_newest_first_with_a_string_count_and_float_pages(standin):
    c = client(standin)
    for i in range(12):
        make_list(c, "l%02d" % i)
    status, payload = raw(standin, "GET", "lists", params={"page": 1, "per_page": 10})
    data = payload["data"]
    assert status == 200 and data["count"] == "12" and data["total_pages"] == 2.0
    assert isinstance(data["total_pages"], float) and data["next_page"] == 2
    assert [r["general"]["name"] for r in data["records"]][:3] == ["l11", "l10", "l09"]
    assert [r["general"]["name"] for r in c.lists()] == ["l%02d" % i for i in range(11, -1, -1)]


def test_an_empty_collection_carries_nulls(standin):
    status, payload = raw(standin, "GET", "lists", key="globex-key-000000000000")
    assert payload["data"] == {"count": None, "total_pages": None, "current_page": None,
                               "next_page": None, "prev_page": None, "records": []}
    assert MailWizzClient(standin.url, api_key="globex-key-000000000000").lists() == []


def test_the_client_finds_everything_while_pages_shift(standin):
    """Newest first + offset paging: lists created while the client reads push rows onto later
    pages. The client reads until a pass is stable and misses nothing."""
    c = client(standin)
    other = client(standin)
    for i in range(55):
        make_list(c, "l%02d" % i)
    added = []
    real = c.transport

    def transport(method, url, headers, body, timeout, idempotent):
        resp = real(method, url, headers, body, timeout, idempotent)
        if "page=1&" in url and len(added) < 2:   # another tool creates a list meanwhile
            added.append(make_list(other, "late%d" % len(added)))
        return resp

    c.transport = transport
    got = [r["general"]["name"] for r in c.lists()]
    assert sorted(got) == sorted(["l%02d" % i for i in range(55)] + ["late0", "late1"])
    assert len(got) == len(set(got))


def test_lists_show_only_what_mailwizz_shows_and_ensure_list_stays_idempotent(standin):
    c = client(standin)
    uid = make_list(c, "news", opt_in="single", opt_out="double")
    record = c.get_list(uid)
    assert "opt_in" not in record["general"] and "opt_out" not in record["general"]
    assert set(record["general"]) == {"list_uid", "name", "display_name", "description"}
    desired = {"general": {"description": "News", "opt_in": "single"},
               "defaults": LIST["defaults"]}
    res = ops.ensure_list(c, "news", desired)
    assert res["changed"] is False and res["write_only"] == ["general.opt_in"]


def test_validation_errors_are_nested_by_section(standin):
    status, payload = raw(standin, "POST", "lists", data={"general[name]": "x"})
    assert status == 422 and payload["error"] == {"general": {"description": "Description cannot be blank."}}


def test_bulk_subscribe_answers_the_2x_shape_and_the_client_counts_it(standin):
    c = client(standin)
    uid = make_list(c)
    c.request("POST", "lists/%s/fields" % uid, data={"field": {
        "type": "text", "label": "City", "tag": "CITY", "required": "yes"}})
    c.request("POST", "lists/%s/subscribers" % uid, data={"EMAIL": "dup@example.test", "CITY": "Oslo"})
    status, payload = raw(standin, "POST", "lists/%s/subscribers/bulk" % uid, data={
        "subscribers[0][EMAIL]": "good@example.test", "subscribers[0][CITY]": "Rome",
        "subscribers[1][EMAIL]": "dup@example.test", "subscribers[1][CITY]": "Oslo",
        "subscribers[2][EMAIL]": "nocity@example.test",
        "subscribers[3][EMAIL]": "not-an-email", "subscribers[3][details][status]": "confirmed"})
    records = payload["data"]["records"]
    assert status == 201 and all("status" not in r for r in records)
    assert records[0]["data"]["subscriber_uid"] and "errors" not in records[0]
    assert records[0]["data"]["CITY"] == "Rome" and records[0]["data"]["FNAME"] is None
    assert records[1]["errors"] == {"EMAIL": "The subscriber already exists in this list."}
    assert records[2]["errors"] == {"CITY": "The field CITY is required by the list but it has "
                                            "not been provided!"}
    assert records[3]["errors"] == {"EMAIL": "Please provide a valid email address."}
    assert records[3]["data"] == {"EMAIL": "not-an-email"}  # the row as sent, without details
    # the client, with the real shape: 1 good row + 1 duplicate + 1 missing field
    result, failed = {"created": 0}, []
    rows = [(0, "good2@example.test", {"EMAIL": "good2@example.test", "CITY": "Rome"}),
            (1, "dup@example.test", {"EMAIL": "dup@example.test", "CITY": "Oslo"}),
            (2, "nocity2@example.test", {"EMAIL": "nocity2@example.test"})]
    ops._bulk_chunk(c, uid, rows, 10, result, lambda i, e, why: failed.append(e))
    assert result["created"] == 1 and sorted(failed) == ["dup@example.test", "nocity2@example.test"]


def test_an_unsubscribed_subscriber_added_again_is_resubscribed(standin):
    c = client(standin)
    uid = make_list(c)
    rec = c.create_subscriber(uid, {"EMAIL": "back@example.test"})[0]
    c.request("PUT", "lists/%s/subscribers/%s/unsubscribe" % (uid, rec["subscriber_uid"]))
    assert c.search_subscriber(uid, "back@example.test")["status"] == "unsubscribed"
    status, payload = raw(standin, "POST", "lists/%s/subscribers" % uid,
                          data={"EMAIL": "back@example.test"})
    assert status == 201 and payload["data"]["record"]["subscriber_uid"] == rec["subscriber_uid"]
    assert c.search_subscriber(uid, "back@example.test")["status"] == "confirmed"
    c.request("PUT", "lists/%s/subscribers/%s/unsubscribe" % (uid, rec["subscriber_uid"]))
    records = c.bulk_create_subscribers(uid, [{"EMAIL": "back@example.test"}])
    assert "errors" not in records[0] and records[0]["data"]["subscriber_uid"] == rec["subscriber_uid"]
    status, _ = raw(standin, "POST", "lists/%s/subscribers" % uid, data={"EMAIL": "back@example.test"})
    assert status == 409  # subscribed again: now it exists


def test_an_unknown_details_status_is_ignored_not_refused(standin):
    c = client(standin)
    uid = make_list(c, opt_in="double")
    status, _ = raw(standin, "POST", "lists/%s/subscribers" % uid,
                    data={"EMAIL": "x@example.test", "details[status]": "vip"})
    assert status == 201 and c.search_subscriber(uid, "x@example.test")["status"] == "unconfirmed"
    status, _ = raw(standin, "POST", "lists/%s/subscribers" % uid,
                    data={"EMAIL": "y@example.test", "details[status]": "confirmed"})
    assert c.search_subscriber(uid, "y@example.test")["status"] == "confirmed"


def test_a_search_without_email_is_422(standin):
    c = client(standin)
    uid = make_list(c)
    for params in ({}, {"EMAIL": ""}, {"EMAIL": "not-an-email"}):
        status, payload = raw(standin, "GET", "lists/%s/subscribers/search-by-email" % uid,
                              params=params)
        assert status == 422, params
    status, _ = raw(standin, "GET", "lists/%s/subscribers/search-by-email" % uid,
                    params={"EMAIL": "nobody@example.test"})
    assert status == 404
    with pytest.raises(ValueError):
        c.search_subscriber(uid, "")


def test_the_single_create_answers_plain_messages(standin):
    c = client(standin)
    uid = make_list(c)
    assert raw(standin, "POST", "lists/%s/subscribers" % uid, data={"FNAME": "x"}) == (
        422, {"status": "error", "error": "Please provide the subscriber email address."})
    assert raw(standin, "POST", "lists/%s/subscribers" % uid, data={"EMAIL": "nope"}) == (
        422, {"status": "error", "error": "Please provide a valid email address."})


def test_signed_1x_requests_need_a_fresh_timestamp(standin):
    mod = load_standin()
    now = [time.time()]
    st = mod.MailWizzStandin({"acme": {"api_key": "k", "public_key": "p" * 40,
                                       "private_key": "q" * 40}}, api_version="1",
                             clock=lambda: now[0])
    st.start()
    try:
        signed = MailWizzClient(st.url, public_key="p" * 40, private_key="q" * 40, retries=0,
                                clock=lambda: now[0])
        assert signed.lists() == []
        stale = MailWizzClient(st.url, public_key="p" * 40, private_key="q" * 40, retries=0,
                               clock=lambda: now[0] - 901)
        with pytest.raises(MailWizzError) as err:
            stale.lists()
        assert err.value.status == 400 and "expired" in str(err.value)
        fresh = MailWizzClient(st.url, public_key="p" * 40, private_key="q" * 40, retries=0,
                               clock=lambda: now[0] - 899)
        assert fresh.lists() == []
        # without a timestamp the request is refused, even with the signature check off
        for verify in (True, False):
            st.verify_signature = verify
            status, payload = raw(st, "GET", "lists", key=None,
                                  headers={"X-MW-PUBLIC-KEY": "p" * 40, "X-MW-SIGNATURE": "x"})
            assert status == 400 and "params" in payload["error"]
        st.verify_signature = False
        status, _ = raw(st, "GET", "lists", key=None, headers={
            "X-MW-PUBLIC-KEY": "p" * 40, "X-MW-TIMESTAMP": str(int(now[0] - 1000))})
        assert status == 400
        status, _ = raw(st, "GET", "lists", key=None, headers={
            "X-MW-PUBLIC-KEY": "p" * 40, "X-MW-TIMESTAMP": str(int(now[0]))})
        assert status == 200
    finally:
        st.stop()


def test_a_slow_reply_commits_late_or_early_as_told(standin):
    c = client(standin, timeout=0.2, retries=0)
    for after, exists_at_timeout in ((False, False), (True, True)):
        name = "slow-%s" % after
        standin.set_faults({"rate": 1.0, "kinds": {"slow": 1}, "after_commit": 1.0 if after else 0.0,
                            "slow_seconds": 0.6, "methods": ["POST"]})
        with pytest.raises(MailWizzError) as err:
            c.request("POST", "lists", data=dict(LIST, general=dict(LIST["general"], name=name)))
        assert err.value.ambiguous
        standin.set_faults({})
        seen = [lst["general"]["name"] for lst in standin.lists_of("acme")]
        assert (name in seen) is exists_at_timeout
        time.sleep(0.7)
        assert name in [lst["general"]["name"] for lst in standin.lists_of("acme")]


def test_the_state_survives_a_restart(tmp_path):
    mod = load_standin()
    path = str(tmp_path / "mailwizz.json")
    customers = {"acme": {"api_key": KEY}}
    first = mod.MailWizzStandin(customers, seed=1, state_path=path)
    first.start()
    try:
        c = client(first)
        uid = make_list(c)
        ops.import_subscribers(c, uid, [{"EMAIL": "s%d@example.test" % i} for i in range(15)])
        before = [r["general"]["list_uid"] for r in c.lists()]
        subs = sorted(r["subscriber_uid"] for r in c.subscribers(uid))
    finally:
        first.stop()
    second = mod.MailWizzStandin(customers, seed=1, state_path=path)
    second.start()
    try:
        c = client(second)
        assert [r["general"]["list_uid"] for r in c.lists()] == before
        assert sorted(r["subscriber_uid"] for r in c.subscribers(uid)) == subs
        assert ops.ensure_list(c, "news", {"general": {"description": "News"},
                                           "defaults": LIST["defaults"]})["changed"] is False
        make_list(c, "second")
        assert len(c.lists()) == 2
    finally:
        second.stop()
    with pytest.raises(ValueError):  # a state of other customers is refused, not mixed in
        mod.MailWizzStandin({"globex": {"api_key": "g"}}, state_path=path)
