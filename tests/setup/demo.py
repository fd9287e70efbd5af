#!/usr/bin/env python3
"""make demo: the main jobs on inventories/demo, in a sandbox under .work/ (no root needed for the
PowerMTA part, loopback only).

1. playbooks/warmup.yml deploys both demo PowerMTA hosts into .work/demo/<host>/ (PowerMTA
   stand-in from tests/), plans today's caps and prints them per tenant, writes the run report
   (.work/reports/latest.html) and the Prometheus textfile metrics.
2. playbooks/mailwizz.yml applies each tenant's lists to a MailWizz stand-in on loopback, with each
   tenant's own key, and playbooks/campaign.yml sends a campaign through the capacity gate (its
   audience is larger than what the warming IPs may send today: it is split over days).
3. playbooks/quota-sync.yml writes MailWizz's delivery servers into a MariaDB on loopback (when
   mariadb-server is installed) and prints the rows it wrote.

The demo's services keep their state in .work/demo-services/ (the MailWizz stand-in's data in
mailwizz.json, the MariaDB data directory in mariadb/), so running the demo again changes nothing
anywhere (changed=0 on every host, localhost included). ``make clean`` resets it.

Subcommands for the other entry points:

``demo.py serve --ready FILE``
    Start the demo's MailWizz stand-in from its saved state (empty before the first demo) and
    write the path of the extra-vars file that points the demo inventory at it into FILE; serve
    until SIGTERM/SIGINT. ``make plan`` on the demo inventory uses it.
``demo.py stop``
    Stop demo services left running (by the process ids they recorded), for ``make clean``.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "collections"))

from helpers import ansible_env, playbook_cmd  # noqa: E402

INVENTORY = os.path.join(ROOT, "inventories", "demo", "hosts.yml")
WORK = os.path.join(ROOT, ".work", "demo-services")
MAILWIZZ_STATE = os.path.join(WORK, "mailwizz.json")
MARIADB_DIR = os.path.join(WORK, "mariadb")
SERVE_PID = os.path.join(WORK, "serve.pid")
KEYS = {"sos-expat": "demo-sos-expat-key-0123456789", "ulixai": "demo-ulixai-key-9876543210"}
DB = {"name": "mailwizz", "user": "mailfleet_sync", "password": "demo-db-password"}


def banner(text):
    print("\n" + "=" * 100 + "\n== " + text + "\n" + "=" * 100, flush=True)


def play(playbook, *args):
    cmd = playbook_cmd(playbook, INVENTORY, *args)
    print("$ ansible-playbook -i inventories/demo/hosts.yml playbooks/%s %s" % (playbook, " ".join(args)), flush=True)
    proc = subprocess.run(cmd, cwd=ROOT, env=ansible_env(os.path.join(ROOT, ".work")))
    if proc.returncode != 0:
        sys.exit("demo: %s failed (exit %d)" % (playbook, proc.returncode))


def services_vars(mailwizz_url, db=None, name="services.json"):
    """An extra-vars file pointing the demo inventory at the demo's services."""
    instances = {"demo": {"url": mailwizz_url, "api_key": KEYS["sos-expat"]}}
    if db:
        instances["demo"]["db"] = db
    path = os.path.join(WORK, name)
    with open(path, "w") as handle:
        json.dump({"mailfleet_mailwizz_instances": instances}, handle)
    return path


def mailwizz_standin():
    from standins.mailwizz.server import MailWizzStandin
    return MailWizzStandin({t: {"api_key": k} for t, k in KEYS.items()}, seed=1,
                           state_path=MAILWIZZ_STATE)


def main():
    os.makedirs(WORK, exist_ok=True)
    banner("1. Daily warmup run: plan today's caps, deploy both PowerMTA hosts safely, report")
    play("warmup.yml")

    mailwizz = mailwizz_standin()
    url = mailwizz.start()
    try:
        banner("2. MailWizz stand-in at %s (state in .work/demo-services/mailwizz.json): each tenant's "
               "lists, then a campaign through the gate" % url)
        extra = "@" + services_vars(url)
        play("mailwizz.yml", "-e", extra)
        seed_audience(url)
        play("campaign.yml", "-e", extra, "-e", "@" + os.path.join(ROOT, "inventories", "demo", "campaign.yml"))
        for camp in mailwizz.campaigns_of("sos-expat"):
            print("   MailWizz campaign %-28s send_at %s  status %s" % (camp["name"], camp["send_at"], camp["status"]))

        from standins.mariadb import server as mariadb
        if not mariadb.available():
            banner("3. quota-sync skipped: mariadb-server is not installed (make system-deps as root installs it)")
            return
        from standins.mariadb.mailwizz_schema import database_exists, mailwizz_database
        with mariadb.MariaDBServer(datadir=MARIADB_DIR) as db:
            if not database_exists(db, DB["name"]):
                mailwizz_database(db, DB["name"], DB["user"], DB["password"])
            banner("3. Hourly quota sync: MailWizz delivery servers in MariaDB on 127.0.0.1:%d "
                   "(data in .work/demo-services/mariadb)" % db.port)
            extra = "@" + services_vars(url, {"host": "127.0.0.1", "port": db.port, "name": DB["name"],
                                              "user": DB["user"], "password": DB["password"]},
                                        name="services-db.json")
            play("quota-sync.yml", "-e", extra, "-e", "mailfleet_mailwizz_create_servers=true")
            show_rows(db)
    finally:
        mailwizz.stop()


def show_rows(db):
    conn = db.connect(database=DB["name"])
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT name, hostname, port, username, status, probability, daily_quota, hourly_quota "
                        "FROM mw_delivery_server WHERE BINARY name LIKE 'mailfleet:%' ORDER BY name")
            print("\n   %-32s %-22s %5s %-10s %-9s %5s %7s %6s" % (
                "delivery server", "hostname", "port", "username", "status", "prob", "daily", "hourly"))
            for row in cur.fetchall():
                print("   %-32s %-22s %5s %-10s %-9s %5s %7s %6s" % tuple(row))
    finally:
        conn.close()
    print("   (the rows stay inactive until their SMTP password is typed in MailWizz and MailWizz "
          "validates them; see docs/mailwizz-bridge.md)")


def seed_audience(url):
    """Confirmed subscribers on sos-expat's newsletter, more than today's capacity (idempotent)."""
    from ansible_collections.mailfleet.fleet.plugins.module_utils import mailwizz_ops as ops
    from ansible_collections.mailfleet.fleet.plugins.module_utils.mailwizz_api import MailWizzClient
    client = MailWizzClient(url, api_key=KEYS["sos-expat"])
    uid = ops.resolve_list_uid(client, "sos-expat-newsletter")
    rows = [{"EMAIL": "reader%04d@example.test" % i} for i in range(600)]
    res = ops.import_subscribers(client, uid, rows)
    print("   audience: %d created, %d already there" % (res["created"], res["skipped"]), flush=True)


def serve(ready):
    """The demo's MailWizz from its saved state, until SIGTERM (make plan)."""
    os.makedirs(WORK, exist_ok=True)
    mailwizz = mailwizz_standin()
    url = mailwizz.start()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    with open(SERVE_PID, "w") as handle:
        handle.write("%d\n" % os.getpid())
    path = services_vars(url, name="services-plan.json")
    tmp = ready + ".tmp"
    with open(tmp, "w") as handle:
        handle.write(path + "\n")
    os.replace(tmp, ready)
    try:
        while not stop:
            time.sleep(0.2)
    finally:
        mailwizz.stop()
        if os.path.exists(SERVE_PID):
            os.unlink(SERVE_PID)


def stop_services():
    """Stop demo services left running, by the process ids they recorded (ours only)."""
    for pidfile in (SERVE_PID, os.path.join(MARIADB_DIR, "mysqld.pid")):
        try:
            with open(pidfile) as handle:
                pid = int(handle.read().strip())
        except (OSError, ValueError):
            continue
        try:
            os.kill(pid, signal.SIGTERM)
            print("demo: stopped process %d (%s)" % (pid, os.path.relpath(pidfile, ROOT)))
        except ProcessLookupError:
            pass
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command")
    serve_cmd = sub.add_parser("serve")
    serve_cmd.add_argument("--ready", required=True, help="file that receives the extra-vars path")
    sub.add_parser("stop")
    args = parser.parse_args()
    if args.command == "serve":
        serve(args.ready)
    elif args.command == "stop":
        stop_services()
    else:
        main()
