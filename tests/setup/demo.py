#!/usr/bin/env python3
"""make demo: the main jobs on inventories/demo, in a sandbox under .work/ (no root needed for the
PowerMTA part, loopback only).

1. playbooks/warmup.yml deploys both demo PowerMTA hosts into .work/demo/<host>/ (PowerMTA
   stand-in from tests/), plans today's caps and prints them per tenant, writes the run report
   (.work/reports/latest.html) and the Prometheus textfile metrics.
2. playbooks/mailwizz.yml applies each tenant's lists to a MailWizz stand-in on loopback, with each
   tenant's own key, and playbooks/campaign.yml sends a campaign through the capacity gate (its
   audience is larger than what the warming IPs may send today: it is split over days).
3. playbooks/quota-sync.yml writes MailWizz's delivery servers into a throwaway MariaDB on
   loopback (when mariadb-server is installed) and prints the rows it wrote.
Running it again changes nothing on the PowerMTA hosts (changed=0).
"""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "collections"))

from helpers import ansible_env, playbook_cmd  # noqa: E402

INVENTORY = os.path.join(ROOT, "inventories", "demo", "hosts.yml")
WORK = os.path.join(ROOT, ".work", "demo-services")
KEYS = {"sos-expat": "demo-sos-expat-key-0123456789", "ulixai": "demo-ulixai-key-9876543210"}


def banner(text):
    print("\n" + "=" * 100 + "\n== " + text + "\n" + "=" * 100, flush=True)


def play(playbook, *args):
    cmd = playbook_cmd(playbook, INVENTORY, *args)
    print("$ ansible-playbook -i inventories/demo/hosts.yml playbooks/%s %s" % (playbook, " ".join(args)), flush=True)
    proc = subprocess.run(cmd, cwd=ROOT, env=ansible_env(os.path.join(ROOT, ".work")))
    if proc.returncode != 0:
        sys.exit("demo: %s failed (exit %d)" % (playbook, proc.returncode))


def services_vars(mailwizz_url, db=None):
    instances = {"demo": {"url": mailwizz_url, "api_key": KEYS["sos-expat"]}}
    if db:
        instances["demo"]["db"] = db
    path = os.path.join(WORK, "services.json")
    with open(path, "w") as handle:
        json.dump({"mailfleet_mailwizz_instances": instances}, handle)
    return "@" + path


def main():
    os.makedirs(WORK, exist_ok=True)
    banner("1. Daily warmup run: plan today's caps, deploy both PowerMTA hosts safely, report")
    play("warmup.yml")

    from standins.mailwizz.server import MailWizzStandin
    mailwizz = MailWizzStandin({t: {"api_key": k} for t, k in KEYS.items()}, seed=1)
    url = mailwizz.start()
    try:
        banner("2. MailWizz stand-in at %s: each tenant's lists, then a campaign through the gate" % url)
        extra = services_vars(url)
        play("mailwizz.yml", "-e", extra)
        seed_audience(url)
        play("campaign.yml", "-e", extra, "-e", "@" + os.path.join(ROOT, "inventories", "demo", "campaign.yml"))
        for camp in mailwizz.campaigns_of("sos-expat"):
            print("   MailWizz campaign %-28s send_at %s  status %s" % (camp["name"], camp["send_at"], camp["status"]))
    finally:
        mailwizz.stop()

    from standins.mariadb import server as mariadb
    if not mariadb.available():
        banner("3. quota-sync skipped: mariadb-server is not installed (make system-deps as root installs it)")
        return
    from standins.mariadb.mailwizz_schema import mailwizz_database
    with mariadb.MariaDBServer() as db:
        mailwizz_database(db, "mailwizz", "mailfleet_sync", "demo-db-password")
        banner("3. Hourly quota sync: MailWizz delivery servers in a throwaway MariaDB on 127.0.0.1:%d" % db.port)
        extra = services_vars(url, {"host": "127.0.0.1", "port": db.port, "name": "mailwizz",
                                    "user": "mailfleet_sync", "password": "demo-db-password"})
        play("quota-sync.yml", "-e", extra, "-e", "mailfleet_mailwizz_create_servers=true")
        conn = db.connect(database="mailwizz")
        with conn.cursor() as cur:
            cur.execute("SELECT name, hostname, port, username, status, probability, daily_quota, hourly_quota "
                        "FROM mw_delivery_server ORDER BY name")
            print("\n   %-32s %-22s %5s %-10s %-9s %5s %7s %6s" % (
                "delivery server", "hostname", "port", "username", "status", "prob", "daily", "hourly"))
            for row in cur.fetchall():
                print("   %-32s %-22s %5s %-10s %-9s %5s %7s %6s" % tuple(row))
        conn.close()


def seed_audience(url):
    """Confirmed subscribers on sos-expat's newsletter, more than today's capacity."""
    from ansible_collections.mailfleet.fleet.plugins.module_utils import mailwizz_ops as ops
    from ansible_collections.mailfleet.fleet.plugins.module_utils.mailwizz_api import MailWizzClient
    client = MailWizzClient(url, api_key=KEYS["sos-expat"])
    uid = ops.resolve_list_uid(client, "sos-expat-newsletter")
    rows = [{"EMAIL": "reader%04d@example.test" % i} for i in range(600)]
    ops.import_subscribers(client, uid, rows)


if __name__ == "__main__":
    main()
