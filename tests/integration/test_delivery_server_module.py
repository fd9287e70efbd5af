# -*- coding: utf-8 -*-
"""mailfleet.fleet.mailwizz_delivery_server through real ansible-playbook runs against MariaDB."""
import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
ROOT = os.path.dirname(TESTS)
VENV_BIN = os.path.join(ROOT, ".venv", "bin")
sys.path.insert(0, os.path.join(TESTS, "unit"))
from test_delivery_server_plan import LISTENERS, caps_of, make_model  # noqa: E402


from standins.mariadb import mailwizz_schema as schema  # noqa: E402
from standins.mariadb import server as server_mod  # noqa: E402

DB = "mailwizz"
USER = "mailfleet_sync"
PASSWORD = "Vaulted-Db-Pass-42"  # test-only credential of the throwaway server
T = "mw_delivery_server"

PLAYBOOK = """---
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"  # the venv: PyMySQL
  tasks:
    - name: sync
      mailfleet.fleet.mailwizz_delivery_server:
        login_host: 127.0.0.1
        login_port: "{{ db_port }}"
        login_user: "{{ db_user }}"
        login_password: "{{ db_password }}"
        login_db: "{{ db_name }}"
        model: "{{ model }}"
        caps: "{{ caps }}"
        listeners: "{{ listeners }}"
        create: "{{ create }}"
        lock_wait_timeout: 1
        quota_cache_seconds: 0
        plan_options: "{{ plan_options }}"
      register: r
      ignore_errors: true
    - name: save result
      ansible.builtin.copy:
        content: "{{ r | to_json }}"
        dest: "{{ result_file }}"
      check_mode: false
      diff: false
"""


@pytest.fixture(scope="module")
def mariadb():
    if not server_mod.available():
        pytest.skip("mariadb-server not installed (tests/setup/system-deps.sh installs it)")
    srv = server_mod.MariaDBServer()
    srv.start()
    try:
        schema.mailwizz_database(srv, DB, USER, PASSWORD)
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def root(mariadb):
    conn = mariadb.connect(database=DB)
    schema.create_delivery_server_table(conn)
    yield conn
    conn.close()


def run(tmp_path, mariadb, caps, create=False, check=False, password=PASSWORD, plan_options=None):
    book = tmp_path / "play.yml"
    book.write_text(PLAYBOOK)
    result_file = tmp_path / "result.json"
    if result_file.exists():
        result_file.unlink()
    extra = {"db_port": mariadb.port, "db_user": USER, "db_password": password, "db_name": DB,
             "model": make_model(), "caps": caps, "listeners": LISTENERS, "create": create,
             "plan_options": plan_options or {"sending_hours": 16, "mailwizz": "main"},
             "result_file": str(result_file)}
    vars_file = tmp_path / "vars.json"
    vars_file.write_text(json.dumps(extra))
    env = dict(os.environ)
    env.update({"ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"),
                "PATH": VENV_BIN + os.pathsep + env.get("PATH", ""),
                "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
                "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
                "ANSIBLE_NOCOLOR": "1"})
    cmd = [os.path.join(VENV_BIN, "ansible-playbook"), "-i", "localhost,", str(book), "-e", "@" + str(vars_file)]
    if check:
        cmd += ["--check", "--diff"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=300, check=False)
    output = proc.stdout.decode("utf-8", "replace")
    assert proc.returncode == 0, output
    return json.loads(result_file.read_text()), output


def table(root):
    with root.cursor() as cur:
        cur.execute("SELECT * FROM %s ORDER BY server_id" % T)
        return [tuple(r) for r in cur.fetchall()]


def owned(root):
    with root.cursor() as cur:
        cur.execute("SELECT name, status, daily_quota, hourly_quota, probability, password FROM %s "
                    "WHERE name LIKE 'mailfleet:%%'" % T)
        return {r[0]: r[1:] for r in cur.fetchall() if r[0].startswith("mailfleet:")}


def test_module_create_idempotent_check_mode_diff(tmp_path, mariadb, root):
    foreign = schema.foreign_snapshot(root)
    caps = caps_of(a10=500, a11=1500, a20=2000, g12=50, g21=50)
    res, out = run(tmp_path, mariadb, caps)
    assert not res.get("failed") and res["changed"] is False and len(res["missing"]) == 4
    assert "does not exist in MailWizz and create is false" in out  # warning shown
    assert owned(root) == {}

    res, out = run(tmp_path, mariadb, caps, create=True)
    assert res["changed"] is True and len(res["created"]) == 4
    rows = owned(root)
    assert rows["mailfleet:acme:pmta1"] == ("inactive", 2000, 125, 50, "")
    res, out = run(tmp_path, mariadb, caps, create=True)
    assert res["changed"] is False and len(res["unchanged"]) == 4

    with root.cursor() as cur:  # the operator sets the passwords, MailWizz validates the servers
        cur.execute("UPDATE %s SET password='ZW5jOnB3', status='active' WHERE name LIKE 'mailfleet:%%' "
                    "AND BINARY name LIKE 'mailfleet:%%'" % T)
    root.commit()
    snapshot = table(root)
    new_caps = caps_of(a10=-1, a11=-1, a20=-1, g12=50, g21=50)  # acme all on standby
    res, out = run(tmp_path, mariadb, new_caps, check=True)
    assert res["changed"] is True and table(root) == snapshot  # check mode wrote nothing
    assert res["diff"]["before"]["mailfleet:acme:pmta1"]["daily_quota"] == 2000
    assert res["diff"]["after"]["mailfleet:acme:pmta1"]["status"] == "disabled"
    assert "mailfleet:acme:pmta1" in out and "disabled" in out  # diff printed by --diff

    res, out = run(tmp_path, mariadb, new_caps)
    rows = owned(root)
    assert rows["mailfleet:acme:pmta1"][:3] == ("disabled", 1, 1)
    assert rows["mailfleet:acme:pmta2"][:3] == ("disabled", 1, 1)
    assert rows["mailfleet:globex:pmta1"][:3] == ("active", 50, 4)
    assert all(r[4] == "ZW5jOnB3" for r in rows.values())  # password column never rewritten
    assert schema.foreign_snapshot(root) == foreign
    assert PASSWORD not in out


def test_module_failures_name_operation_and_code(tmp_path, mariadb, root):
    res, out = run(tmp_path, mariadb, caps_of(), password="wrong-" + PASSWORD)
    assert res["failed"] is True and res["error_code"] == 1045
    assert res["msg"].startswith("delivery servers: connect to 127.0.0.1:") and "1045" in res["msg"]
    assert "Traceback" not in out and PASSWORD not in out

    run(tmp_path, mariadb, caps_of(), create=True)
    snapshot = table(root)
    with root.cursor() as cur:
        cur.execute("SELECT server_id FROM %s WHERE BINARY name = 'mailfleet:acme:pmta2'" % T)
        server_id = cur.fetchone()[0]
    holder = mariadb.connect(database=DB, autocommit=False)
    try:
        with holder.cursor() as cur:
            cur.execute("BEGIN")
            cur.execute("SELECT * FROM %s WHERE server_id = %%s FOR UPDATE" % T, (server_id,))
        res, out = run(tmp_path, mariadb, caps_of(a10=777))
    finally:
        holder.rollback()
        holder.close()
    assert res["failed"] is True and res["error_code"] == 1205
    assert res["row"] == "mailfleet:acme:pmta2" and res["operation"] == "lock"
    assert "mailfleet:acme:pmta2" in res["msg"] and "1205" in res["msg"]
    assert "Traceback" not in out and PASSWORD not in out
    assert table(root) == snapshot

    res, out = run(tmp_path, mariadb, caps_of(), plan_options={"sending_hours": 30})
    assert res["failed"] is True and "plan failed" in res["msg"] and "sending_hours" in res["msg"]


INSTANCE_PLAYBOOK = """---
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: sync through the resolver
      mailfleet.fleet.mailwizz_delivery_server:
        instance: main
        model: "{{ model }}"
        caps: "{{ caps }}"
        listeners: "{{ listeners }}"
        create: true
        quota_cache_seconds: 0
        plan_options: {sending_hours: 16}
      register: r
      ignore_errors: true
    - name: save result
      ansible.builtin.copy:
        content: "{{ r | to_json }}"
        dest: "{{ result_file }}"
"""


def test_instance_gives_login_and_customer_ids_and_a_wrong_customer_fails(tmp_path, mariadb, root):
    book = tmp_path / "instance.yml"
    book.write_text(INSTANCE_PLAYBOOK)
    result_file = tmp_path / "result.json"

    def play(customer_ids):
        tenants = {"acme": {"mailwizz": "main", "delivery_server": {"customer_id": customer_ids[0]}},
                   "globex": {"mailwizz": "main", "delivery_server": {"customer_id": customer_ids[1]}},
                   "initech": {"mailwizz": "other"}}
        extra = {"mailfleet_mailwizz_instances": {
                     "main": {"url": "https://mw.example.test/api", "api_key": "k1",
                              "db": {"host": "127.0.0.1", "port": mariadb.port, "name": DB,
                                     "user": USER, "password": PASSWORD, "table_prefix": "mw_"}},
                     "other": {"url": "https://mw2.example.test/api", "api_key": "k2"}},
                 "mailfleet_tenants": tenants, "model": make_model(),
                 "caps": caps_of(a10=500, a11=1500, a20=2000, g12=50, g21=50),
                 "listeners": LISTENERS, "result_file": str(result_file)}
        vars_file = tmp_path / "vars.json"
        vars_file.write_text(json.dumps(extra))
        env = dict(os.environ)
        env.update({"ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"),
                    "PATH": VENV_BIN + os.pathsep + env.get("PATH", ""),
                    "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
                    "ANSIBLE_HOME": str(tmp_path / "ansible-home"), "ANSIBLE_NOCOLOR": "1"})
        proc = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", "localhost,",
                               str(book), "-e", "@" + str(vars_file)], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
        out = proc.stdout.decode("utf-8", "replace")
        assert proc.returncode == 0, out
        assert PASSWORD not in out
        return json.loads(result_file.read_text()), out

    before = table(root)
    res, out = play((1, 99))
    assert res["failed"] is True and res["error_code"] == 1452
    assert res["row"].startswith("mailfleet:globex:") and "fk_delivery_server_customer1" in res["msg"]
    assert table(root) == before
    res, out = play((1, 2))
    assert not res.get("failed") and sorted(res["created"]) == [
        "mailfleet:acme:pmta1", "mailfleet:acme:pmta2", "mailfleet:globex:pmta1", "mailfleet:globex:pmta2"]
    with root.cursor() as cur:
        cur.execute("SELECT name, customer_id FROM %s WHERE BINARY name LIKE 'mailfleet:%%'" % T)
        assert dict(cur.fetchall()) == {"mailfleet:acme:pmta1": 1, "mailfleet:acme:pmta2": 1,
                                        "mailfleet:globex:pmta1": 2, "mailfleet:globex:pmta2": 2}
