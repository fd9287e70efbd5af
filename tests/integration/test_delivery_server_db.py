# -*- coding: utf-8 -*-
"""sync_delivery_servers against a real MariaDB on loopback, as the limited DB user of the docs."""
import os
import sys

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
                    "warmup_plan_id, last_updated FROM %s WHERE name LIKE 'mailfleet:%%' ORDER BY name" % T)
        cols = [d[0] for d in cur.description]
        return {r[1]: dict(zip(cols, r)) for r in cur.fetchall() if r[1].startswith("mailfleet:")}


def full_table(root):
    with root.cursor() as cur:
        cur.execute("SELECT * FROM %s ORDER BY server_id" % T)
        return [tuple(r) for r in cur.fetchall()]


def plan(caps=None, **opts):
    return plan_delivery_servers(make_model(), caps or caps_of(a10=500, a11=1500, a20=2000, g12=50, g21=50),
                                 LISTENERS, dict({"sending_hours": 16, "mailwizz": "main"}, **opts))


def set_password(root, name, value="ZW5jcnlwdGVkOnBhc3M="):
    """What MailWizz does when the operator saves the password: an encrypted value in the column."""
    with root.cursor() as cur:
        cur.execute("UPDATE %s SET password=%%s WHERE BINARY name=%%s" % T, (value, name))
    root.commit()


def test_refuses_to_create_without_create_flag(root, limited):
    before = full_table(root)
    res = sync_delivery_servers(limited(), plan())
    assert res["changed"] is False and res["created"] == []
    assert len(res["missing"]) == 4
    assert full_table(root) == before


def test_create_then_idempotent_then_active_once_password_set(root, limited):
    foreign = schema.foreign_snapshot(root)
    res = sync_delivery_servers(limited(), plan(), create=True)
    assert res["changed"] and len(res["created"]) == 4
    rows = owned(root)
    acme1 = rows["mailfleet:acme:pmta1"]
    assert acme1["password"] == "" and acme1["status"] == "inactive"  # waits for the operator
    assert (acme1["daily_quota"], acme1["hourly_quota"], acme1["probability"]) == (2000, 125, 50)
    assert (acme1["hostname"], acme1["port"], acme1["username"]) == ("pmta1.example.net", 2525, "acme")
    assert acme1["type"] == "smtp-pmta" and acme1["from_email"] == "news@acme.example.com"
    assert parse_meta_data(acme1["meta_data"]) == {"additional_headers": {}}

    snapshot = full_table(root)
    res2 = sync_delivery_servers(limited(), plan(), create=True)
    assert res2["changed"] is False and sorted(res2["unchanged"]) == sorted(rows)
    assert full_table(root) == snapshot  # not even last_updated moved

    set_password(root, "mailfleet:acme:pmta1")
    res3 = sync_delivery_servers(limited(), plan())
    assert res3["updated"] == ["mailfleet:acme:pmta1"]
    after = owned(root)
    assert after["mailfleet:acme:pmta1"]["status"] == "active"
    assert after["mailfleet:acme:pmta1"]["password"] == "ZW5jcnlwdGVkOnBhc3M="  # never rewritten
    assert after["mailfleet:acme:pmta2"]["status"] == "inactive"
    assert sync_delivery_servers(limited(), plan())["changed"] is False
    assert schema.foreign_snapshot(root) == foreign


def test_check_mode_writes_nothing_and_diff_shows_before_after(root, limited):
    sync_delivery_servers(limited(), plan(), create=True)
    set_password(root, "mailfleet:acme:pmta1")
    snapshot = full_table(root)
    new_caps = caps_of(a10=1000, a11=1500, a20=2000, g12=50, g21=50)
    res = sync_delivery_servers(limited(), plan(new_caps), check_mode=True)
    assert res["changed"] is True and "mailfleet:acme:pmta1" in res["updated"]
    assert full_table(root) == snapshot
    before = res["diff"]["before"]["mailfleet:acme:pmta1"]
    after = res["diff"]["after"]["mailfleet:acme:pmta1"]
    assert (before["daily_quota"], after["daily_quota"]) == (2000, 2500)
    assert (before["status"], after["status"]) == ("inactive", "active")
    assert before["password_set"] is True and "password" not in after
    # a check-mode create is reported but not written either
    root.cursor().execute("DELETE FROM %s WHERE BINARY name = 'mailfleet:globex:pmta2'" % T)
    root.commit()
    snapshot = full_table(root)
    res = sync_delivery_servers(limited(), plan(), create=True, check_mode=True)
    assert res["created"] == ["mailfleet:globex:pmta2"]
    assert res["diff"]["before"]["mailfleet:globex:pmta2"] is None
    assert full_table(root) == snapshot


def test_quotas_follow_caps_through_warmup_and_standby(root, limited):
    foreign = schema.foreign_snapshot(root)
    sync_delivery_servers(limited(), plan(caps_of(a10=50, a11=50, a20=50)), create=True)
    for name in owned(root):
        set_password(root, name)
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
        sync_delivery_servers(limited(), plan(caps))
        rows = owned(root)
        for host, (status, daily, hourly, prob) in expected.items():
            row = rows["mailfleet:acme:%s" % host]
            assert (row["status"], row["daily_quota"], row["hourly_quota"], row["probability"]) == \
                (status, daily, hourly, prob), (host, caps)
        for row in rows.values():
            assert row["daily_quota"] > 0 and row["hourly_quota"] > 0
        assert sync_delivery_servers(limited(), plan(caps))["changed"] is False
    assert schema.foreign_snapshot(root) == foreign


def test_headers_orphans_in_use_pending_delete_and_warmup_plan(root, limited):
    sync_delivery_servers(limited(), plan(header_routing=True), create=True)
    rows = owned(root)
    meta = parse_meta_data(rows["mailfleet:acme:pmta1"]["meta_data"])
    assert headers_from_meta(meta) == [{"name": "X-Virtual-MTA", "value": "acme-pool"}]
    for name in rows:
        set_password(root, name)
    with root.cursor() as cur:
        cur.execute("UPDATE %s SET status='in-use', warmup_plan_id=3 WHERE BINARY name='mailfleet:acme:pmta1'" % T)
        cur.execute("UPDATE %s SET status='pending-delete' WHERE BINARY name='mailfleet:globex:pmta1'" % T)
        cur.execute("UPDATE %s SET meta_data=%%s WHERE BINARY name='mailfleet:acme:pmta2'" % T,
                    (b'a:2:{s:18:"additional_headers";a:0:{}s:5:"other";s:4:"kept";}',))
    root.commit()
    model_without_pmta2 = [r for r in plan(header_routing=True) if r["host"] != "pmta2"]
    res = sync_delivery_servers(limited(), model_without_pmta2)
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
    sync_delivery_servers(limited(), plan(header_routing=True))
    meta = parse_meta_data(owned(root)["mailfleet:acme:pmta2"]["meta_data"])
    assert meta["other"] == "kept"
    assert headers_from_meta(meta) == [{"name": "X-Virtual-MTA", "value": "acme-pool"}]


def test_lock_timeout_on_owned_row_rolls_back_and_names_row(mariadb, root, limited):
    sync_delivery_servers(limited(), plan(), create=True)
    snapshot = full_table(root)
    holder = mariadb.connect(database=DB, autocommit=False)
    try:
        with holder.cursor() as cur:
            cur.execute("BEGIN")
            # lock by primary key: a scan by name would lock every row it reads
            cur.execute("SELECT * FROM %s WHERE server_id = %%s FOR UPDATE" % T,
                        (owned(root)["mailfleet:globex:pmta1"]["server_id"],))
        with pytest.raises(DeliveryServerError) as info:
            sync_delivery_servers(limited(), plan(caps_of(a10=999)), lock_wait_timeout=1)
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
        res = sync_delivery_servers(limited(), plan(caps_of(a10=999)), lock_wait_timeout=1)
        assert res["updated"]
    finally:
        holder.rollback()
        holder.close()


def test_connection_killed_mid_update_leaves_table_consistent(mariadb, root, limited):
    sync_delivery_servers(limited(), plan(), create=True)
    for name in owned(root):
        set_password(root, name)
    sync_delivery_servers(limited(), plan())
    snapshot = full_table(root)
    conn = limited()
    thread_id = conn.thread_id()
    writes = []

    def kill_after_first_write(operation, name):
        writes.append((operation, name))
        if len(writes) == 1:
            mariadb.execute("KILL CONNECTION %d" % thread_id)

    with pytest.raises(DeliveryServerError) as info:
        sync_delivery_servers(conn, plan(caps_of(a10=1, a11=1, a20=1, g12=1, g21=1)), observer=kill_after_first_write)
    err = info.value
    assert len(writes) == 1  # the first UPDATE had been executed inside the transaction
    print("killed:", err.code, err.operation, err)
    assert err.code in (2013, 2006, 1927, 4031)
    assert err.row is not None and err.row != writes[0][1]
    assert err.operation in ("update", "commit", "disable")
    assert full_table(root) == snapshot  # the server rolled the open transaction back
    # and the next run completes the change
    res = sync_delivery_servers(limited(), plan(caps_of(a10=1, a11=1, a20=1, g12=1, g21=1)))
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
