# -*- coding: utf-8 -*-
"""sync_delivery_servers against a real MariaDB on loopback, as the limited DB user of the docs."""
import os
import sys
import time

import pytest

from ansible_collections.mailfleet.fleet.plugins.module_utils.delivery_server import (
    DeliveryServerError,
    connect,
    parse_meta_data,
    headers_from_meta,
    plan_delivery_servers,
    sync_delivery_servers,
)

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TESTS, "unit"))
from test_delivery_server_plan import LISTENERS, caps_of, make_model  # noqa: E402


from standins.mailwizz.quota_cache import QuotaCacheSender  # noqa: E402
from standins.mariadb import mailwizz_schema as schema  # noqa: E402
from standins.mariadb import server as server_mod  # noqa: E402

DB = "mailwizz"
USER = "mailfleet_sync"
PASSWORD = "s3cret-Db-Pass"  # test-only credential of the throwaway server
T = "mw_delivery_server"


@pytest.fixture(scope="module")
def mariadb():
    if not server_mod.available():
        pytest.skip("mariadb-server not installed (tests/setup/system-deps.sh installs it)")
    srv = server_mod.MariaDBServer()
    srv.start()
    try:
        schema.mailwizz_database(srv, DB, USER, PASSWORD)  # the tests run as this limited user only
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def root(mariadb):
    """Root connection on a fresh table with the foreign rows."""
    conn = mariadb.connect(database=DB)
    schema.create_delivery_server_table(conn)
    yield conn
    conn.close()


@pytest.fixture
def limited(mariadb, root):
    conns = []

    def factory():
        conn = connect(host="127.0.0.1", port=mariadb.port, user=USER, password=PASSWORD, database=DB)
        conns.append(conn)
        return conn
    yield factory
    for conn in conns:
        try:
            conn.close()
        except Exception:
            pass


def owned(root):
    with root.cursor() as cur:
        cur.execute("SELECT server_id, name, type, hostname, port, protocol, username, password, from_email, "
                    "from_name, probability, hourly_quota, daily_quota, use_for, status, meta_data, "
                    "warmup_plan_id, last_updated, force_from, customer_id FROM %s "
                    "WHERE name LIKE 'mailfleet:%%' ORDER BY name" % T)
        cols = [d[0] for d in cur.description]
        return {r[1]: dict(zip(cols, r)) for r in cur.fetchall() if r[1].startswith("mailfleet:")}


def full_table(root):
    with root.cursor() as cur:
        cur.execute("SELECT * FROM %s ORDER BY server_id" % T)
        return [tuple(r) for r in cur.fetchall()]


def plan(caps=None, **opts):
    return plan_delivery_servers(make_model(), caps or caps_of(a10=500, a11=1500, a20=2000, g12=50, g21=50),
                                 LISTENERS, dict({"sending_hours": 16, "mailwizz": "main"}, **opts))


def sync(conn, desired, **kwargs):
    """sync_delivery_servers without the quota-cache hold (the hold has its own tests)."""
    kwargs.setdefault("quota_cache_seconds", 0)
    return sync_delivery_servers(conn, desired, **kwargs)


def set_password(root, name, value="ZW5jcnlwdGVkOnBhc3M="):
    """What MailWizz does when the operator saves the password: an encrypted value in the column
    (and, as MailWizz's afterValidate does, the server is inactive until validated)."""
    with root.cursor() as cur:
        cur.execute("UPDATE %s SET password=%%s, status='inactive' WHERE BINARY name=%%s" % T,
                    (value, name))
    root.commit()


def validate(root, name, value="ZW5jcnlwdGVkOnBhc3M="):
    """The operator validated the server in MailWizz: password set and status active."""
    with root.cursor() as cur:
        cur.execute("UPDATE %s SET password=%%s, status='active' WHERE BINARY name=%%s" % T,
                    (value, name))
    root.commit()


def age(root, name, seconds):
    """Pretend the row was last saved ``seconds`` ago (MailWizz's quota cache has expired)."""
    with root.cursor() as cur:
        cur.execute("UPDATE %s SET last_updated = NOW() - INTERVAL %d SECOND WHERE BINARY name=%%s"
                    % (T, seconds), (name,))
    root.commit()


def test_the_test_table_is_mailwizz_2x(root):
    with root.cursor() as cur:
        cur.execute("SHOW CREATE TABLE %s" % T)
        ddl = cur.fetchone()[1]
    assert "utf8mb4_unicode_ci" in ddl or "utf8mb4" in ddl
    for fk, target, action in (("fk_delivery_server_customer1", "mw_customer", "CASCADE"),
                               ("fk_delivery_server1", "mw_bounce_server", "SET NULL"),
                               ("fk_delivery_server_tracking_domain1", "mw_tracking_domain",
                                "SET NULL"),
                               ("fk_delivery_server_ds_warmup_plan1",
                                "mw_delivery_server_warmup_plan", "SET NULL")):
        line = [ln for ln in ddl.splitlines() if "CONSTRAINT `%s`" % fk in ln]
        assert line and target in line[0] and "ON DELETE %s" % action in line[0], fk
    assert "KEY `idx_gen0` (`status`,`hourly_quota`,`probability`)" in ddl
    assert "`use_for` int(11) NOT NULL DEFAULT 1" in ddl
    with root.cursor() as cur:
        cur.execute("SELECT TABLE_COLLATION FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s "
                    "AND TABLE_NAME=%s", (DB, T))
        assert cur.fetchone()[0] == "utf8mb4_unicode_ci"
        # ON DELETE CASCADE: a deleted customer takes its servers with it
        cur.execute("SELECT COUNT(*) FROM %s WHERE customer_id = 7" % T)
        assert cur.fetchone()[0] == 1
        cur.execute("DELETE FROM mw_customer WHERE customer_id = 7")
        cur.execute("SELECT COUNT(*) FROM %s WHERE customer_id = 7" % T)
        assert cur.fetchone()[0] == 0
    root.rollback()


def test_refuses_to_create_without_create_flag(root, limited):
    before = full_table(root)
    res = sync(limited(), plan())
    assert res["changed"] is False and res["created"] == []
    assert len(res["missing"]) == 4
    assert full_table(root) == before


def test_create_then_idempotent_then_only_mailwizz_activates(root, limited):
    foreign = schema.foreign_snapshot(root)
    res = sync(limited(), plan(customer_ids={"acme": 1, "globex": 2}), create=True)
    assert res["changed"] and len(res["created"]) == 4
    rows = owned(root)
    acme1 = rows["mailfleet:acme:pmta1"]
    assert acme1["password"] == "" and acme1["status"] == "inactive"  # waits for the operator
    assert (acme1["daily_quota"], acme1["hourly_quota"], acme1["probability"]) == (2000, 125, 50)
    assert (acme1["hostname"], acme1["port"], acme1["username"]) == ("pmta1.example.net", 2525, "acme")
    assert acme1["type"] == "smtp-pmta" and acme1["from_email"] == "news@acme.example.com"
    assert parse_meta_data(acme1["meta_data"]) == {"additional_headers": {}}
    # as MailWizz's UI creates a server: force_from always, use_for "all" as its bitmask
    assert (acme1["force_from"], acme1["use_for"], acme1["customer_id"]) == ("always", 1, 1)

    snapshot = full_table(root)
    res2 = sync(limited(), plan(customer_ids={"acme": 1, "globex": 2}), create=True)
    assert res2["changed"] is False and sorted(res2["unchanged"]) == sorted(rows)
    assert full_table(root) == snapshot  # not even last_updated moved

    # the operator types the password: MailWizz keeps the server inactive until it validates
    # it; the bridge never activates it on its own
    set_password(root, "mailfleet:acme:pmta1")
    res3 = sync(limited(), plan(customer_ids={"acme": 1, "globex": 2}))
    assert res3["changed"] is False and owned(root)["mailfleet:acme:pmta1"]["status"] == "inactive"
    validate(root, "mailfleet:acme:pmta1")
    res4 = sync(limited(), plan(customer_ids={"acme": 1, "globex": 2}))
    after = owned(root)
    assert res4["changed"] is False and after["mailfleet:acme:pmta1"]["status"] == "active"
    assert after["mailfleet:acme:pmta1"]["password"] == "ZW5jcnlwdGVkOnBhc3M="  # never rewritten
    assert after["mailfleet:acme:pmta2"]["status"] == "inactive"
    assert schema.foreign_snapshot(root) == foreign


def test_wrong_customer_id_fails_naming_row_and_constraint(root, limited):
    before = full_table(root)
    with pytest.raises(DeliveryServerError) as info:
        sync(limited(), plan(customer_ids={"acme": 99, "globex": 2}), create=True)
    err = info.value
    assert err.code == 1452 and err.row == "mailfleet:acme:pmta1" and err.operation == "create"
    assert "fk_delivery_server_customer1" in str(err) and "customer_id" in str(err)
    assert full_table(root) == before  # nothing half-written
    sync(limited(), plan(customer_ids={"acme": 1}), create=True)
    snapshot = full_table(root)
    with pytest.raises(DeliveryServerError) as info:  # an update to a wrong customer too
        sync(limited(), plan(customer_ids={"acme": 1, "globex": 12345}))
    assert info.value.code == 1452 and info.value.row.startswith("mailfleet:globex:")
    assert full_table(root) == snapshot


def test_before_2_3_8_use_for_is_a_name(mariadb, limited):
    conn = mariadb.connect(database=DB)
    try:
        schema.create_delivery_server_table(conn, version="2.1")
        sync(limited(), plan(), create=True)
        assert owned(conn)["mailfleet:acme:pmta1"]["use_for"] == "all"
        assert sync(limited(), plan())["changed"] is False
    finally:
        schema.create_delivery_server_table(conn)
        conn.close()


def test_identity_change_puts_the_row_back_to_inactive_unless_opted_out(root, limited):
    sync(limited(), plan(), create=True)
    for name in owned(root):
        validate(root, name)
    moved = {"pmta1": {"hostname": "mx1.pmta1.example.net", "port": 2525}, "pmta2": LISTENERS["pmta2"],
             "pmta3": LISTENERS["pmta3"]}
    desired = plan_delivery_servers(make_model(), caps_of(a10=500, a11=1500, a20=2000, g12=50, g21=50),
                                    moved, {"sending_hours": 16, "mailwizz": "main"})
    res = sync(limited(), desired)
    rows = owned(root)
    assert rows["mailfleet:acme:pmta1"]["status"] == "inactive"
    assert rows["mailfleet:acme:pmta1"]["hostname"] == "mx1.pmta1.example.net"
    assert rows["mailfleet:acme:pmta2"]["status"] == "active"  # unchanged identity
    assert res["revalidate"] == {"mailfleet:acme:pmta1": ["hostname"],
                                 "mailfleet:globex:pmta1": ["hostname"]}
    assert sync(limited(), desired)["changed"] is False  # stays inactive: MailWizz validates
    # each identity column, and the opt-out
    for column, listeners, tenant_change in (
            ("port", dict(moved, pmta2={"hostname": "pmta2.example.net", "port": 587}), None),
            ("protocol", dict(moved, pmta2={"hostname": "pmta2.example.net", "protocol": "tls"}), None),
            ("username", moved, ("smtp_user", "acme-2")),
            ("from_email", moved, ("from_email", "hello@acme.example.com"))):
        validate(root, "mailfleet:acme:pmta2")
        model = make_model()
        if tenant_change:
            model["tenants"]["acme"][tenant_change[0]] = tenant_change[1]
        desired = plan_delivery_servers(model, caps_of(a10=500, a11=1500, a20=2000, g12=50, g21=50),
                                        listeners, {"sending_hours": 16, "mailwizz": "main"})
        res = sync(limited(), desired)
        assert owned(root)["mailfleet:acme:pmta2"]["status"] == "inactive", column
        assert column in res["revalidate"]["mailfleet:acme:pmta2"]
    validate(root, "mailfleet:acme:pmta2")
    kept = plan_delivery_servers(make_model(), caps_of(a10=500, a11=1500, a20=2000, g12=50, g21=50),
                                 dict(moved, pmta2={"hostname": "relay.example.net"}),
                                 {"sending_hours": 16, "mailwizz": "main"})
    res = sync(limited(), kept, identity_change="keep")
    assert owned(root)["mailfleet:acme:pmta2"]["status"] == "active"
    assert owned(root)["mailfleet:acme:pmta2"]["hostname"] == "relay.example.net"
    assert res["revalidate"] == {}


def test_headers_filtered_like_mailwizz(root, limited):
    extra = [{"name": "From", "value": "spoof@example.com"}, {"name": "return-path", "value": "x@example.com"},
             {"name": "X-Empty", "value": ""}, {"name": "", "value": "v"}, {"name": "X-Campaign-Tag", "value": "t1"},
             {"name": "Sender", "value": "s@example.com"}]
    res = sync(limited(), plan(header_routing=True, extra_headers=extra), create=True)
    rows = owned(root)
    headers = headers_from_meta(parse_meta_data(rows["mailfleet:acme:pmta1"]["meta_data"]))
    assert headers == [{"name": "X-Virtual-MTA", "value": "acme-pool"},
                       {"name": "X-Campaign-Tag", "value": "t1"}]
    dropped = sorted(d["name"] for d in res["dropped_headers"]["mailfleet:acme:pmta1"])
    assert dropped == ["", "From", "Sender", "X-Empty", "return-path"]
    # an existing row carrying a forbidden header (written by an older bridge) is cleaned
    with root.cursor() as cur:
        cur.execute("UPDATE %s SET meta_data=%%s WHERE BINARY name='mailfleet:acme:pmta2'" % T,
                    (b'a:1:{s:18:"additional_headers";a:1:{i:0;a:2:{s:4:"name";s:4:"From";'
                     b's:5:"value";s:13:"x@example.com";}}}',))
    root.commit()
    sync(limited(), plan(header_routing=True, extra_headers=extra))
    headers = headers_from_meta(parse_meta_data(owned(root)["mailfleet:acme:pmta2"]["meta_data"]))
    assert [h["name"] for h in headers] == ["X-Virtual-MTA", "X-Campaign-Tag"]
    for bad in ({"name": "X Bad", "value": "v"}, {"name": "X-Bad:", "value": "v"},
                {"name": "X-Bad", "value": "line\r\nInjected: yes"}, {"name": "X-Bad", "value": " pad"}):
        with pytest.raises(ValueError):
            plan(header_routing=True, extra_headers=[bad])


def test_check_mode_writes_nothing_and_diff_shows_before_after(root, limited):
    sync(limited(), plan(), create=True)
    validate(root, "mailfleet:acme:pmta1")
    snapshot = full_table(root)
    new_caps = caps_of(a10=1000, a11=1500, a20=2000, g12=50, g21=50)
    res = sync(limited(), plan(new_caps), check_mode=True)
    assert res["changed"] is True and "mailfleet:acme:pmta1" in res["updated"]
    assert full_table(root) == snapshot
    before = res["diff"]["before"]["mailfleet:acme:pmta1"]
    after = res["diff"]["after"]["mailfleet:acme:pmta1"]
    assert (before["daily_quota"], after["daily_quota"]) == (2000, 2500)
    assert (before["status"], after["status"]) == ("active", "active")
    assert before["password_set"] is True and "password" not in after
    # a check-mode create is reported but not written either
    root.cursor().execute("DELETE FROM %s WHERE BINARY name = 'mailfleet:globex:pmta2'" % T)
    root.commit()
    snapshot = full_table(root)
    res = sync(limited(), plan(), create=True, check_mode=True)
    assert res["created"] == ["mailfleet:globex:pmta2"]
    assert res["diff"]["before"]["mailfleet:globex:pmta2"] is None
    assert full_table(root) == snapshot


def test_quotas_follow_caps_through_warmup_and_standby(root, limited):
    foreign = schema.foreign_snapshot(root)
    sync(limited(), plan(caps_of(a10=50, a11=50, a20=50)), create=True)
    for name in owned(root):
        validate(root, name)
    days = [
        (caps_of(a10=50, a11=50, a20=50), {"pmta1": ("active", 100, 7, 65), "pmta2": ("active", 50, 4, 35)}),
        (caps_of(a10=200, a11=500, a20=200), {"pmta1": ("active", 700, 44, 80), "pmta2": ("active", 200, 13, 20)}),
        # one host's IPs on standby: that row disabled with quota 1, the other carries the tenant
        (caps_of(a10=-1, a11=-1, a20=1500), {"pmta1": ("disabled", 1, 1, 5), "pmta2": ("active", 1500, 94, 100)}),
        # the whole tenant on standby: disabled, never quota 0 (= unlimited in MailWizz)
        (caps_of(a10=-1, a11=-1, a20=-1), {"pmta1": ("disabled", 1, 1, 5), "pmta2": ("disabled", 1, 1, 5)}),
        (caps_of(a10=5000, a11=5000, a20=10000), {"pmta1": ("active", 10000, 625, 50),
                                                  "pmta2": ("active", 10000, 625, 50)}),
    ]
    for caps, expected in days:
        sync(limited(), plan(caps))
        rows = owned(root)
        for host, (status, daily, hourly, prob) in expected.items():
            row = rows["mailfleet:acme:%s" % host]
            assert (row["status"], row["daily_quota"], row["hourly_quota"], row["probability"]) == \
                (status, daily, hourly, prob), (host, caps)
        for row in rows.values():
            assert row["daily_quota"] > 0 and row["hourly_quota"] > 0
        assert sync(limited(), plan(caps))["changed"] is False
    assert schema.foreign_snapshot(root) == foreign


def test_headers_orphans_in_use_pending_delete_and_warmup_plan(root, limited):
    sync(limited(), plan(header_routing=True), create=True)
    rows = owned(root)
    meta = parse_meta_data(rows["mailfleet:acme:pmta1"]["meta_data"])
    assert headers_from_meta(meta) == [{"name": "X-Virtual-MTA", "value": "acme-pool"}]
    for name in rows:
        validate(root, name)
    with root.cursor() as cur:
        cur.execute("INSERT INTO mw_delivery_server_warmup_plan (plan_id, name, date_added, last_updated) "
                    "VALUES (3, 'mw plan', NOW(), NOW())")
        cur.execute("UPDATE %s SET status='in-use', warmup_plan_id=3 WHERE BINARY name='mailfleet:acme:pmta1'" % T)
        cur.execute("UPDATE %s SET status='pending-delete' WHERE BINARY name='mailfleet:globex:pmta1'" % T)
        cur.execute("UPDATE %s SET meta_data=%%s WHERE BINARY name='mailfleet:acme:pmta2'" % T,
                    (b'a:2:{s:18:"additional_headers";a:0:{}s:5:"other";s:4:"kept";}',))
    root.commit()
    model_without_pmta2 = [r for r in plan(header_routing=True) if r["host"] != "pmta2"]
    res = sync(limited(), model_without_pmta2)
    rows = owned(root)
    assert rows["mailfleet:acme:pmta1"]["status"] == "in-use"  # MailWizz's own flag kept
    assert rows["mailfleet:acme:pmta1"]["warmup_plan_id"] is None  # MailWizz warmup plan detached
    assert res["skipped"] == ["mailfleet:globex:pmta1"]
    assert rows["mailfleet:globex:pmta1"]["status"] == "pending-delete"
    assert sorted(res["disabled"]) == ["mailfleet:acme:pmta2", "mailfleet:globex:pmta2"]
    assert rows["mailfleet:acme:pmta2"]["status"] == "disabled" and rows["mailfleet:acme:pmta2"]["daily_quota"] == 1
    # orphans keep their meta_data (headers are not touched when disabling)
    assert parse_meta_data(rows["mailfleet:acme:pmta2"]["meta_data"])["other"] == "kept"
    # re-planning pmta2 with headers rewrites only additional_headers, keeps the other key
    sync(limited(), plan(header_routing=True))
    meta = parse_meta_data(owned(root)["mailfleet:acme:pmta2"]["meta_data"])
    assert meta["other"] == "kept"
    assert headers_from_meta(meta) == [{"name": "X-Virtual-MTA", "value": "acme-pool"}]


# ---- MailWizz's quota-left cache ------------------------------------------------------------------
def _sender(mariadb):
    return QuotaCacheSender(lambda: mariadb.connect(database=DB), T, cache_seconds=2)


def test_lowered_quota_is_honoured_within_the_run(mariadb, root, limited):
    """MailWizz caches a server's hourly quota-left for its cache period, refreshed by every
    send, and clears it only when it saves the row itself. Without the hold, a quota lowered
    by SQL lets it send up to the old quota; with the hold, the new quota is the limit."""
    for hold, expected_total in ((0, 100), (2, 50)):
        schema.create_delivery_server_table(root)
        sync(limited(), plan(caps_of(a10=800, a11=800, a20=1600)), create=True)
        for name in owned(root):
            validate(root, name)
        sender = _sender(mariadb)
        name = "mailfleet:acme:pmta1"
        assert owned(root)[name]["hourly_quota"] == 100
        assert sender.send(name, 40) == 40   # cache: 60 left
        during = []

        def wait(seconds):
            during.append((owned(root)[name]["status"], sender.send(name, 30)))
            time.sleep(seconds)
            during.append((owned(root)[name]["status"], sender.send(name, 30)))

        res = sync_delivery_servers(limited(), plan(caps_of(a10=400, a11=400, a20=1600)),
                                    quota_cache_seconds=hold, sleep=wait)
        assert owned(root)[name]["hourly_quota"] == 50 and owned(root)[name]["status"] == "active"
        sender.send(name, 100)
        assert sender.sent[name] == expected_total, (hold, during)
        if hold:
            assert res["held"] == [{"name": name, "seconds": 2}]
            assert during and all(status == "disabled" and sent == 0 for status, sent in during)
        else:
            assert res["held"] == []


def test_raised_quota_is_not_held_and_check_mode_only_reports(root, limited):
    sync(limited(), plan(caps_of(a10=400, a11=400, a20=1600)), create=True)
    for name in owned(root):
        validate(root, name)
    slept = []
    res = sync_delivery_servers(limited(), plan(caps_of(a10=800, a11=800, a20=1600)),
                                quota_cache_seconds=300, sleep=slept.append)
    assert res["held"] == [] and slept == [] and res["updated"]
    snapshot = full_table(root)
    res = sync_delivery_servers(limited(), plan(caps_of(a10=100, a11=100, a20=1600)),
                                quota_cache_seconds=300, sleep=slept.append, check_mode=True)
    assert {h["name"] for h in res["held"]} == {"mailfleet:acme:pmta1"} and slept == []
    assert full_table(root) == snapshot


def test_back_from_standby_within_the_cache_period_is_held(root, limited):
    sync(limited(), plan(), create=True)
    for name in owned(root):
        validate(root, name)
    sync(limited(), plan(caps_of(a10=-1, a11=-1, a20=2000, g12=50, g21=50)))  # acme pmta1 standby
    name = "mailfleet:acme:pmta1"
    assert owned(root)[name]["status"] == "disabled"
    slept = []
    res = sync_delivery_servers(limited(), plan(), quota_cache_seconds=2, sleep=slept.append)
    assert [h["name"] for h in res["held"]] == [name] and slept and owned(root)[name]["status"] == "active"
    sync(limited(), plan(caps_of(a10=-1, a11=-1, a20=2000, g12=50, g21=50)))
    age(root, name, 600)                                       # out of rotation long enough
    slept = []
    res = sync_delivery_servers(limited(), plan(), quota_cache_seconds=300, sleep=slept.append)
    assert res["held"] == [] and slept == [] and owned(root)[name]["status"] == "active"


def test_a_row_mailwizz_puts_back_during_the_hold_is_held_again(mariadb, root, limited):
    sync(limited(), plan(caps_of(a10=800, a11=800)), create=True)
    for name in owned(root):
        validate(root, name)
    name = "mailfleet:acme:pmta1"
    rounds = []

    def wait(seconds):
        rounds.append(owned(root)[name]["status"])
        if len(rounds) == 1:  # a sender releases its in-use flag: MailWizz writes active
            with root.cursor() as cur:
                cur.execute("UPDATE %s SET status='active' WHERE BINARY name=%%s" % T, (name,))
            root.commit()

    res = sync_delivery_servers(limited(), plan(caps_of(a10=100, a11=100)), quota_cache_seconds=1,
                                sleep=wait)
    assert rounds == ["disabled", "disabled"] and owned(root)[name]["status"] == "active"
    assert "still_held" not in res

    def always_back(seconds):
        with root.cursor() as cur:
            cur.execute("UPDATE %s SET status='active' WHERE BINARY name=%%s" % T, (name,))
        root.commit()

    res = sync_delivery_servers(limited(), plan(caps_of(a10=50, a11=50)), quota_cache_seconds=1,
                                sleep=always_back)
    assert res["still_held"] == [name] and owned(root)[name]["status"] == "disabled"
    res = sync(limited(), plan(caps_of(a10=50, a11=50)))    # the next run activates it
    assert owned(root)[name]["status"] == "active"


def test_lock_timeout_on_owned_row_rolls_back_and_names_row(mariadb, root, limited):
    sync(limited(), plan(), create=True)
    snapshot = full_table(root)
    holder = mariadb.connect(database=DB, autocommit=False)
    try:
        with holder.cursor() as cur:
            cur.execute("BEGIN")
            # lock by primary key: a scan by name would lock every row it reads
            cur.execute("SELECT * FROM %s WHERE server_id = %%s FOR UPDATE" % T,
                        (owned(root)["mailfleet:globex:pmta1"]["server_id"],))
        with pytest.raises(DeliveryServerError) as info:
            sync(limited(), plan(caps_of(a10=999)), lock_wait_timeout=1)
        err = info.value
        assert err.code == 1205 and err.row == "mailfleet:globex:pmta1" and err.operation == "lock"
        assert "mailfleet:globex:pmta1" in str(err) and "1205" in str(err)
        assert PASSWORD not in str(err)
    finally:
        holder.rollback()
        holder.close()
    assert full_table(root) == snapshot
    # a lock on a row of someone else never blocks the sync
    holder = mariadb.connect(database=DB, autocommit=False)
    try:
        with holder.cursor() as cur:
            cur.execute("BEGIN")
            for row in schema.foreign_snapshot(root)[:2]:  # 'Office relay', 'MAILFLEET:acme:pmta1'
                cur.execute("SELECT * FROM %s WHERE server_id = %%s FOR UPDATE" % T, (row[0],))
        res = sync(limited(), plan(caps_of(a10=999)), lock_wait_timeout=1)
        assert res["updated"]
    finally:
        holder.rollback()
        holder.close()


def test_connection_killed_mid_update_leaves_table_consistent(mariadb, root, limited):
    sync(limited(), plan(), create=True)
    for name in owned(root):
        validate(root, name)
    sync(limited(), plan())
    snapshot = full_table(root)
    conn = limited()
    thread_id = conn.thread_id()
    writes = []

    def kill_after_first_write(operation, name):
        writes.append((operation, name))
        if len(writes) == 1:
            mariadb.execute("KILL CONNECTION %d" % thread_id)

    with pytest.raises(DeliveryServerError) as info:
        sync(conn, plan(caps_of(a10=1, a11=1, a20=1, g12=1, g21=1)), observer=kill_after_first_write)
    err = info.value
    assert len(writes) == 1  # the first UPDATE had been executed inside the transaction
    print("killed:", err.code, err.operation, err)
    assert err.code in (2013, 2006, 1927, 4031)
    assert err.row is not None and err.row != writes[0][1]
    assert err.operation in ("update", "commit", "disable")
    assert full_table(root) == snapshot  # the server rolled the open transaction back
    # and the next run completes the change
    res = sync(limited(), plan(caps_of(a10=1, a11=1, a20=1, g12=1, g21=1)))
    assert len(res["updated"]) == 4


def test_limited_user_cannot_delete_or_touch_other_tables(root, limited):
    conn = limited()
    with pytest.raises(Exception) as info:
        with conn.cursor() as cur:
            cur.execute("DELETE FROM %s WHERE name = 'Office relay'" % T)
    assert info.value.args[0] == 1142  # command denied
    with pytest.raises(Exception) as info:
        with conn.cursor() as cur:
            cur.execute("SELECT * FROM mysql.user")
    assert info.value.args[0] in (1142, 1044)


def test_connect_error_names_operation_and_code_without_password(mariadb):
    with pytest.raises(DeliveryServerError) as info:
        connect(host="127.0.0.1", port=mariadb.port, user=USER, password="wrong-" + PASSWORD, database=DB)
    assert info.value.code == 1045 and info.value.operation.startswith("connect")
    assert PASSWORD not in str(info.value)
