"""The fault run: 30 % of the requests fail while lists, subscribers, segments and a split
campaign are made; over several seeds no object is made twice and none is lost.

The stand-in's faults: 500s and dropped connections before or after the server commits, 503s,
429s with Retry-After, and replies slower than the client timeout - the server either commits
late (after the client gave up: the dangerous case for a create) or commits and answers late."""
import pytest

from mailwizz_helpers import load_standin
from ansible_collections.mailfleet.fleet.plugins.module_utils import mailwizz_ops as ops
from ansible_collections.mailfleet.fleet.plugins.module_utils.mailwizz_api import MailWizzClient

pytestmark = pytest.mark.slow
KEY = "acme-key-0123456789abcdef"
DEFAULTS = {"from_name": "Acme", "from_email": "news@acme.example", "reply_to": "news@acme.example"}
LISTS = ["acme-l%d" % i for i in range(6)]
N_SUBS = 150


def campaign_spec(list_uid):
    return {"name": "spring", "list_uid": list_uid, "tags": [], "tags_field": "TAGS",
            "bucket_field": "MF_BUCKET", "from_name": "Acme", "from_email": "news@acme.example",
            "reply_to": "news@acme.example", "subject": "Spring", "send_at": "2026-12-01 09:00:00",
            "content": "<p>Spring</p>", "plain_text": None, "options": {}, "capacity_today": 60,
            "sent_today": 0, "split": True, "max_days": 7}


def converge(client):
    changed = []
    for name in LISTS:
        res = ops.ensure_list(client, name, {"general": {"description": name},
                                             "defaults": DEFAULTS})
        changed.append(res["changed"])
    uid = ops.resolve_list_uid(client, LISTS[0])
    rows = [{"EMAIL": "reader%03d@example.test" % i, "tags": ["vip"] if i % 4 == 0 else []}
            for i in range(N_SUBS)]
    imported = ops.import_subscribers(client, uid, rows, chunk_size=40)
    campaign = ops.ensure_campaign(client, campaign_spec(uid))
    return uid, changed, imported, campaign


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6, 7, 8])
def test_no_duplicate_and_no_lost_object_at_30_percent_faults(seed):
    st = load_standin().MailWizzStandin({"acme": {"api_key": KEY}}, seed=seed)
    st.start()
    try:
        st.set_faults({"rate": 0.3, "seed": seed, "slow_seconds": 0.4, "retry_after": 0,
                       "after_commit": 0.5,
                       "kinds": {"500": 1, "503": 1, "429": 1, "drop": 1, "slow": 2}})
        client = MailWizzClient(st.url, api_key=KEY, timeout=0.25, retries=10, backoff=0.01)
        uid, _, imported, campaign = converge(client)
        faults = st.api_calls()
        st.set_faults({})
        assert faults > 50

        # lists: each exactly once, none lost
        names = sorted(lst["general"]["name"] for lst in st.lists_of("acme"))
        assert names == LISTS
        # subscribers: every row exactly once, with its bucket and tags
        lst = st.store.lists[uid]
        emails = sorted(s["fields"]["EMAIL"] for s in lst["subs"].values())
        assert emails == ["reader%03d@example.test" % i for i in range(N_SUBS)]
        assert imported["created"] == N_SUBS and imported["failed"] == 0
        assert all(s["fields"]["MF_BUCKET"] == ops.bucket_of(s["fields"]["EMAIL"])
                   for s in lst["subs"].values())
        # the split campaign: each part once, each part's segment once
        parts = sorted(c["name"] for c in st.campaigns_of("acme"))
        total = len(campaign["campaigns"])
        assert total >= 3 and parts == ["spring [%d/%d]" % (i + 1, total) for i in range(total)]
        segments = sorted(s["name"] for s in lst["segments"].values())
        assert segments == sorted("mailfleet: %s" % p for p in parts)

        # and a run without faults changes nothing
        client = MailWizzClient(st.url, api_key=KEY)
        _, changed, imported, campaign = converge(client)
        assert not any(changed) and imported["created"] == 0 and imported["updated"] == 0
        assert campaign["changed"] is False and client.warnings == []
    finally:
        st.stop()


def test_duplicates_made_elsewhere_do_not_fail_the_run():
    """An older run or another tool made two lists and two campaigns with one name: the run
    says which, goes on with the oldest, and changes nothing else."""
    st = load_standin().MailWizzStandin({"acme": {"api_key": KEY}}, seed=3)
    st.start()
    try:
        other = MailWizzClient(st.url, api_key=KEY)
        body = {"general": {"name": "dup", "description": "dup"}, "defaults": DEFAULTS}
        first = other.request("POST", "lists", data=body)[1]["list_uid"]
        second = other.request("POST", "lists", data=body)[1]["list_uid"]
        client = MailWizzClient(st.url, api_key=KEY)
        res = ops.ensure_list(client, "dup", {"general": {"description": "dup"},
                                              "defaults": DEFAULTS})
        assert res["list_uid"] == first and res["changed"] is False
        assert len(client.warnings) == 1 and first in client.warnings[0] and second in client.warnings[0]
        assert ops.resolve_list_uid(client, "dup") == first
        ops.import_subscribers(client, first, [{"EMAIL": "a%d@example.test" % i} for i in range(5)])
        spec = dict(campaign_spec(first), split=False, capacity_today=100)
        created = ops.ensure_campaign(client, spec)
        uid = created["campaigns"][0]["campaign_uid"]
        camp = dict(client.campaign_body({"name": "spring", "list_uid": first, "from_name": "A",
                                          "from_email": "a@example.test", "subject": "s",
                                          "reply_to": "a@example.test",
                                          "template": {"content": "<p>x</p>"}}))
        other.request("POST", "campaigns", data=camp)  # a newer duplicate
        again = ops.ensure_campaign(MailWizzClient(st.url, api_key=KEY), spec)
        assert [c["campaign_uid"] for c in again["campaigns"]] == [uid]
    finally:
        st.stop()
