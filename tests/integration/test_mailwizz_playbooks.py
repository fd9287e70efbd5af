"""mailwizz.yml, campaign.yml and the modules, run by ansible-playbook against the stand-in."""
import json

import pytest

from mailwizz_helpers import load_standin, run_playbook
from ansible_collections.mailfleet.fleet.plugins.module_utils.mailwizz_api import MailWizzClient
from ansible_collections.mailfleet.fleet.plugins.module_utils import mailwizz_ops as ops

pytestmark = pytest.mark.slow
KEYS = {"acme": "acme-key-0123456789abcdef", "globex": "globex-key-fedcba9876543210"}


@pytest.fixture
def standin():
    mod = load_standin()
    st = mod.MailWizzStandin({name: {"api_key": key} for name, key in KEYS.items()}, seed=7)
    st.start()
    yield st
    st.stop()


def fleet(url, lists_acme=None, conn_extra=None):
    inst = {"url": url, "api_key": KEYS["acme"], "db": {"host": "db.example.test", "name": "mailwizz", "user": "mailfleet"}}
    inst.update(conn_extra or {})
    return {
        "mailfleet_mailwizz_instances": {"mw1": inst},
        "mailfleet_tenants": {
            "acme": {"mailwizz": "mw1", "from_name": "Acme", "from_email": "news@acme.example",
                     "mailwizz_lists": lists_acme or [
                         {"name": "acme-news", "general": {"description": "News"}},
                         {"name": "acme-vip", "general": {"opt_in": "single"}}]},
            "globex": {"mailwizz": "mw1", "mailwizz_auth": {"api_key": KEYS["globex"]},
                       "from_name": "Globex", "from_email": "news@globex.example",
                       "mailwizz_lists": [{"name": "globex-news"}]},
            "nomail": {"pool": "p1"}}}


def names(st, customer):
    return sorted(lst["general"]["name"] for lst in st.lists_of(customer))


def writes(st):
    return sum(st.api_calls(m) for m in ("POST", "PUT", "DELETE"))


def test_lists_idempotent_isolated_check_and_diff(standin, tmp_path):
    extra = fleet(standin.url)
    _, out, recap = run_playbook(tmp_path, "playbooks/mailwizz.yml", extra)
    assert recap["changed"] == 1
    # each tenant's lists were made with its own key: its customer owns them, only them
    assert names(standin, "acme") == ["acme-news", "acme-vip"]
    assert names(standin, "globex") == ["globex-news"]
    assert KEYS["acme"] not in out and KEYS["globex"] not in out

    standin.reset_stats()
    _, out, recap = run_playbook(tmp_path, "playbooks/mailwizz.yml", extra)
    assert recap["changed"] == 0
    assert writes(standin) == 0 and standin.api_calls("GET") == 3

    changed = fleet(standin.url, lists_acme=[
        {"name": "acme-news", "general": {"description": "Weekly news"}},
        {"name": "acme-vip", "general": {"opt_in": "single"}}])
    standin.reset_stats()
    _, out, recap = run_playbook(tmp_path, "playbooks/mailwizz.yml", changed, check=True,
                                 diff=True)
    assert recap["changed"] == 1 and writes(standin) == 0
    assert "News" in out and "Weekly news" in out
    lst = [x for x in standin.lists_of("acme") if x["general"]["name"] == "acme-news"][0]
    assert lst["general"]["description"] == "News"

    run_playbook(tmp_path, "playbooks/mailwizz.yml", changed)
    assert lst["general"]["description"] == "Weekly news"
    _, _, recap = run_playbook(tmp_path, "playbooks/mailwizz.yml", changed)
    assert recap["changed"] == 0


def test_keys_never_appear_even_at_the_highest_verbosity(standin, tmp_path):
    extra = fleet(standin.url)
    for check in (False, True):
        _, out, _ = run_playbook(tmp_path, "playbooks/mailwizz.yml", extra, check=check,
                                 diff=check, args=("-vvvv",))
        assert KEYS["acme"] not in out and KEYS["globex"] not in out
        assert "api_key" in out  # the connection is there, masked


def test_a_key_shared_by_two_tenants_is_refused(standin, tmp_path):
    extra = fleet(standin.url)
    del extra["mailfleet_tenants"]["globex"]["mailwizz_auth"]
    _, out, recap = run_playbook(tmp_path, "playbooks/mailwizz.yml", extra, expect_rc=2)
    assert "with the same MailWizz key as tenant" in out and "acme" in out and "globex" in out
    assert KEYS["acme"] not in out
    assert standin.lists_of("acme") == [] and standin.api_calls() == 0


@pytest.mark.parametrize("seed", [11, 23, 37, 41])
def test_lists_converge_under_30_percent_faults_without_duplicates(standin, tmp_path, seed):
    """30 % of the requests fail: 500s and dropped connections before or after the server
    commits, 503s, 429s, and replies slower than the client timeout (the server commits late,
    after the client gave up, or commits and answers late). No list is made twice, none is
    lost, and the next run changes nothing."""
    lists = [{"name": "acme-l%d" % i} for i in range(8)]
    extra = fleet(standin.url, lists_acme=lists,
                  conn_extra={"timeout": 0.25, "retries": 10, "backoff": 0.01})
    standin.set_faults({"rate": 0.3, "seed": seed, "slow_seconds": 0.4, "retry_after": 0,
                        "after_commit": 0.5})
    run_playbook(tmp_path, "playbooks/mailwizz.yml", extra)
    faults_seen = standin.api_calls()
    standin.set_faults({})
    assert names(standin, "acme") == sorted(x["name"] for x in lists)  # each exactly once
    assert names(standin, "globex") == ["globex-news"]
    _, _, recap = run_playbook(tmp_path, "playbooks/mailwizz.yml", extra)
    assert recap["changed"] == 0
    assert faults_seen > 20


SUBS_PLAYBOOK = """
- name: Import subscribers
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Import
      mailfleet.fleet.mailwizz_subscribers:
        tenant: acme
        connection: "{{ conn }}"
        list_name: acme-news
        csv_file: "{{ csv }}"
        tags: [spring]
        chunk_size: 40
      register: res
    - name: Save the result
      ansible.builtin.copy:
        content: "{{ res | to_json }}"
        dest: "{{ result_file }}"
        mode: "0600"
"""


def test_subscribers_bulk_import_faults_failures_and_idempotence(standin, tmp_path):
    run_playbook(tmp_path, "playbooks/mailwizz.yml", fleet(standin.url))
    rows = ["EMAIL,FNAME,tags"] + ["u%03d@example.test,User%d,%s" % (i, i, "vip" if i % 3 == 0
                                                                       else "")
                                   for i in range(150)]
    rows += ["not-an-email,Bad,", "u001@example.test,Dup,", ",Empty,"]
    csv = tmp_path / "subs.csv"
    csv.write_text("\n".join(rows) + "\n")
    pb = tmp_path / "subs.yml"
    pb.write_text(SUBS_PLAYBOOK)
    conn = {"url": standin.url, "api_key": KEYS["acme"], "timeout": 0.25, "retries": 10,
            "backoff": 0.01}
    standin.set_faults({"rate": 0.3, "seed": 5, "slow_seconds": 0.4, "retry_after": 0})
    result_file = tmp_path / "result.json"
    extra = {"conn": conn, "csv": str(csv), "result_file": str(result_file)}
    run_playbook(tmp_path, str(pb), extra)
    standin.set_faults({})
    res = json.loads(result_file.read_text())
    assert res["created"] == 150 and res["failed_count"] == 3
    assert res["counts"] == {"created": 150, "updated": 0, "skipped": 0, "failed": 3}
    assert sorted(r["row"] for r in res["failed_rows"]) == [151, 152, 153]
    assert "duplicate" in [r for r in res["failed_rows"] if r["row"] == 152][0]["reason"]
    lst = [x for x in standin.lists_of("acme") if x["general"]["name"] == "acme-news"][0]
    assert len(lst["subs"]) == 150 and len(lst["by_email"]) == 150
    sub = lst["subs"][lst["by_email"]["u003@example.test"]]
    assert sub["fields"]["TAGS"] == ",spring,vip," and sub["status"] == "confirmed"
    assert sub["fields"]["MF_BUCKET"] == ops.bucket_of("u003@example.test")

    standin.reset_stats()
    _, out, recap = run_playbook(tmp_path, str(pb), extra)
    res = json.loads(result_file.read_text())
    assert (res["created"], res["updated"], res["skipped"]) == (0, 0, 150)
    assert res["changed"] is False and writes(standin) == 0
    assert KEYS["acme"] not in out


def seed_audience(url, key, n, vip_every=3):
    client = MailWizzClient(url, api_key=key)
    uid = ops.resolve_list_uid(client, "acme-news")
    rows = [{"EMAIL": "c%04d@example.test" % i, "tags": ["vip"] if i % vip_every == 0 else []}
            for i in range(n)]
    rows.append({"EMAIL": "unconf@example.test", "status": "unconfirmed"})
    res = ops.import_subscribers(client, uid, rows)
    assert res["created"] == n + 1
    return uid


def campaign_vars(url, campaign, capacity, sent=0):
    extra = fleet(url)
    extra.update(mailfleet_campaign_tenant="acme", mailfleet_pool_capacity={"acme": capacity},
                 mailfleet_sent_today={"acme": sent},
                 mailfleet_campaign=dict({"list": "acme-news", "subject": "Spring sale",
                                          "template": "mailwizz/newsletter.html.j2",
                                          "template_vars": {"headline": "Spring <b>sale</b>"},
                                          "send_at": "2026-04-01 09:00:00"}, **campaign))
    return extra


def test_campaign_gate_refuses_then_splits_by_day(standin, tmp_path):
    run_playbook(tmp_path, "playbooks/mailwizz.yml", fleet(standin.url))
    uid = seed_audience(standin.url, KEYS["acme"], 300)

    _, out, _ = run_playbook(tmp_path, "playbooks/campaign.yml",
                             campaign_vars(standin.url, {"name": "spring"}, 250, 20),
                             expect_rc=2)
    assert "audience of 300" in out and "230" in out and "refused" in out
    assert standin.campaigns_of("acme") == []

    # check mode plans but creates nothing
    run_playbook(tmp_path, "playbooks/campaign.yml",
                 campaign_vars(standin.url, {"name": "spring", "split": True}, 120, 20),
                 check=True)
    assert standin.campaigns_of("acme") == []

    _, out, recap = run_playbook(tmp_path, "playbooks/campaign.yml",
                                 campaign_vars(standin.url, {"name": "spring", "split": True},
                                               120, 20))
    assert recap["changed"] == 1
    camps = sorted(standin.campaigns_of("acme"), key=lambda c: c["name"])
    assert [c["name"] for c in camps] == ["spring [1/3]", "spring [2/3]", "spring [3/3]"]
    assert [c["send_at"] for c in camps] == ["2026-04-01 09:00:00", "2026-04-02 09:00:00",
                                             "2026-04-03 09:00:00"]
    lst = standin.store.lists[uid]
    api = load_standin().Api(standin.store, "acme")
    counts = []
    for c in camps:
        members = api._segment_members(lst, lst["segments"][c["segment_uid"]])
        counts.append(sum(1 for s in members if s["status"] == "confirmed"))
    assert counts[0] <= 100 and counts[1] <= 120 and counts[2] <= 120
    assert sum(counts) == 300
    # every confirmed subscriber is in exactly one part
    seen = set()
    for c in camps:
        for s in api._segment_members(lst, lst["segments"][c["segment_uid"]]):
            if s["status"] == "confirmed":
                assert s["uid"] not in seen
                seen.add(s["uid"])
    assert "Spring <b>sale</b>" in camps[0]["template"]["content"]  # rendered, base64 round-trip

    standin.reset_stats()
    _, _, recap = run_playbook(tmp_path, "playbooks/campaign.yml",
                               campaign_vars(standin.url, {"name": "spring", "split": True},
                                             120, 20))
    assert recap["changed"] == 0 and writes(standin) == 0

    _, _, recap = run_playbook(tmp_path, "playbooks/campaign.yml",
                               campaign_vars(standin.url, {"name": "spring", "state": "paused"},
                                             120))
    assert recap["changed"] == 1
    assert {c["status"] for c in standin.campaigns_of("acme")} == {"paused"}
    _, _, recap = run_playbook(tmp_path, "playbooks/campaign.yml",
                               campaign_vars(standin.url, {"name": "spring", "state": "paused"},
                                             120))
    assert recap["changed"] == 0
    run_playbook(tmp_path, "playbooks/campaign.yml",
                 campaign_vars(standin.url, {"name": "spring", "state": "resumed"}, 120))
    assert {c["status"] for c in standin.campaigns_of("acme")} == {"sending"}


def test_campaign_to_a_tag_fits_today(standin, tmp_path):
    run_playbook(tmp_path, "playbooks/mailwizz.yml", fleet(standin.url))
    uid = seed_audience(standin.url, KEYS["acme"], 90)
    _, out, _ = run_playbook(tmp_path, "playbooks/campaign.yml",
                             campaign_vars(standin.url, {"name": "vip", "tags": ["vip"]}, 40))
    camps = standin.campaigns_of("acme")
    assert [c["name"] for c in camps] == ["vip"]
    lst = standin.store.lists[uid]
    members = load_standin().Api(standin.store, "acme")._segment_members(
        lst, lst["segments"][camps[0]["segment_uid"]])
    assert len(members) == 30  # i % 3 == 0 for i < 90
    assert standin.campaigns_of("globex") == []
