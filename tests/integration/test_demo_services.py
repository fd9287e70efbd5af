"""The demo's services keep their state: MariaDB with a persistent data directory, and the MailWizz
stand-in served from its saved state for `make plan` (tests/setup/demo.py serve / stop)."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from standins.mariadb import server as server_mod
from standins.mariadb.mailwizz_schema import database_exists, mailwizz_database

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_mariadb_data_directory_survives_a_restart(tmp_path):
    if not server_mod.available():
        pytest.skip("mariadb-server not installed (tests/setup/system-deps.sh installs it)")
    home = str(tmp_path / "mariadb")
    with server_mod.MariaDBServer(datadir=home) as srv:
        assert not database_exists(srv, "mailwizz")
        mailwizz_database(srv, "mailwizz", "mailfleet_sync", "pw-of-the-test")
        srv.execute("INSERT INTO mailwizz.mw_delivery_server (type, name, hostname, username, from_email, "
                    "date_added, last_updated) VALUES ('smtp', 'kept', 'h.example.net', 'u', "
                    "'a@example.net', NOW(), NOW())")
    assert os.path.isdir(os.path.join(home, "data", "mysql"))  # kept after stop
    with server_mod.MariaDBServer(datadir=home) as srv:
        assert database_exists(srv, "mailwizz")
        rows = srv.execute("SELECT name FROM mailwizz.mw_delivery_server WHERE name = 'kept'")
        assert rows == (("kept",),)
    # a throwaway server still cleans up after itself
    srv = server_mod.MariaDBServer()
    srv.start()
    tmpdir = srv.tmpdir
    srv.stop()
    assert not os.path.exists(tmpdir)


def test_demo_serve_answers_from_the_saved_state_and_stops_on_sigterm(tmp_path):
    """`make plan` on the demo inventory: `demo.py serve` starts the MailWizz stand-in from
    .work/demo-services/mailwizz.json and writes the extra vars that point the inventory at it."""
    sys.path.insert(0, os.path.join(ROOT, "tests", "setup"))
    import demo
    if os.path.exists(demo.SERVE_PID):
        pytest.skip("a demo stand-in is being served from this checkout")
    ready = str(tmp_path / "ready")
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "setup", "demo.py"), "serve",
                             "--ready", ready], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        for _ in range(150):
            if os.path.exists(ready) or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert os.path.exists(ready), proc.stdout.read().decode()
        with open(open(ready).read().strip()) as handle:
            extra = json.load(handle)
        url = extra["mailfleet_mailwizz_instances"]["demo"]["url"]
        from ansible_collections.mailfleet.fleet.plugins.module_utils.mailwizz_api import MailWizzClient
        client = MailWizzClient(url, api_key=demo.KEYS["ulixai"])
        names = [r["general"]["name"] for r in client.lists()]
        if os.path.exists(demo.MAILWIZZ_STATE):  # after make demo: the demo's lists are there
            assert names == ["ulixai-updates"]
        assert os.path.exists(demo.SERVE_PID)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    assert proc.returncode == 0 and not os.path.exists(demo.SERVE_PID)
