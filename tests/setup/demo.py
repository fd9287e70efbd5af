#!/usr/bin/env python3
"""make demo: the main jobs on inventories/demo, in a sandbox under .work/ (no root needed for the
PowerMTA part, loopback only).

0. On the first demo only: three weeks of history. For each of the 21 days before today, the
   real plan and state steps (playbooks/validate.yml once, then steps/observe.yml,
   steps/plan.yml and the fleet_state role's store, with mailfleet_today set to that day) plan the
   day, and generated PowerMTA accounting of what each IP then sent (tests/unit/acctgen.py, seeded)
   is appended to the demo hosts' accounting files before the next day is planned. Gmail defers
   192.0.2.10 with ``421-4.7.28`` for two days (only its Gmail cap steps back); 198.51.100.20 is
   listed on a critical DNSBL zone served by NSD on loopback (the real ``dnsbl_check`` module:
   standby), and two days later the zone is clean (resume, a stage lower). Past days skip only
   the deploy, the report and the metrics; a line per day shows each IP's cap and decision. The
   marker .work/demo-services/history.json says the history is replayed; ``make clean`` resets.
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
import datetime
import json
import os
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "collections"))
sys.path.insert(0, os.path.join(ROOT, "tests", "unit"))

from helpers import ansible_env, playbook_cmd  # noqa: E402

INVENTORY = os.path.join(ROOT, "inventories", "demo", "hosts.yml")
WORK = os.path.join(ROOT, ".work", "demo-services")
MAILWIZZ_STATE = os.path.join(WORK, "mailwizz.json")
MARIADB_DIR = os.path.join(WORK, "mariadb")
SERVE_PID = os.path.join(WORK, "serve.pid")
KEYS = {"sos-expat": "demo-sos-expat-key-0123456789", "ulixai": "demo-ulixai-key-9876543210"}
DB = {"name": "mailwizz", "user": "mailfleet_sync", "password": "demo-db-password"}
HISTORY = os.path.join(WORK, "history.json")          # the marker: the history is replayed
HISTORY_DIR = os.path.join(WORK, "history")
HISTORY_DAYS = 21
# Gmail defers 192.0.2.10 421-4.7.28 on days 9 and 10: a quarter, then a tenth of its Gmail tries
THROTTLED = ("192.0.2.10", {9: 4, 10: 10})
LISTED = ("198.51.100.20", 13, 15)                    # listed from day 13, clean from day 15
SHARES = (("gmail", 0.4), ("microsoft", 0.3), ("yahoo", 0.2))   # the rest goes to "other"
DEMO_SEED = 14


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
    if not os.path.exists(HISTORY):
        replay_history(datetime.date.today())
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


def replay_history(today):
    """Plan the 21 days before ``today`` one by one through the real plan and state steps, with
    generated accounting appended after each day (see the module docstring)."""
    from standins.dns.nsd import NSDServer, find_nsd, free_port, zone_text
    if find_nsd() is None:
        sys.exit("demo: nsd is not installed (make system-deps as root installs it)")
    first = today - datetime.timedelta(days=HISTORY_DAYS)
    days = [(first + datetime.timedelta(days=n)).isoformat() for n in range(HISTORY_DAYS)]
    banner("0. Three weeks of history, %s to %s: each day planned and stored by the real steps, then "
           "what the IPs sent appended to the accounting files" % (days[0], days[-1]))
    os.makedirs(HISTORY_DIR, exist_ok=True)
    ip, listed_on, clean_on = LISTED
    owner = ".".join(reversed(ip.split("."))) + ".bl"
    port = free_port()
    listing = [zone_text("rbl.test", ["%s A 127.0.0.2" % owner, '%s TXT "demo: listed for trap hits"' % owner])]
    chunks = [(days[:listed_on], None), (days[listed_on:clean_on], listing[0]),
              (days[clean_on:], zone_text("rbl.test", []))]
    for number, (chunk, zone) in enumerate(chunks):
        path = os.path.join(HISTORY_DIR, "replay-%d.yml" % number)
        with open(path, "w") as handle:
            handle.write(replay_playbook(chunk, days[0], port if zone else None))
        log = os.path.join(HISTORY_DIR, "replay-%d.log" % number)
        server = NSDServer({"rbl.test": zone}, port=port).start() if zone else None
        try:
            with open(log, "w") as out:
                proc = subprocess.run(playbook_cmd(path, INVENTORY), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                      env=ansible_env(os.path.join(ROOT, ".work")))
        finally:
            if server is not None:
                server.stop()
        with open(log) as handle:
            text = handle.read()
        if proc.returncode != 0:
            sys.exit("demo: replaying %s..%s failed (exit %d), see %s:\n%s" % (
                chunk[0], chunk[-1], proc.returncode, os.path.relpath(log, ROOT), text[-4000:]))
        with open(os.path.join(HISTORY_DIR, "days.txt")) as handle:
            for line in handle:
                if line[:10] in chunk:
                    print("   " + line.rstrip())
        print("   (ansible output: %s)" % os.path.relpath(log, ROOT), flush=True)
    with open(HISTORY + ".tmp", "w") as handle:
        json.dump({"first": days[0], "last": days[-1], "seed": DEMO_SEED}, handle)
    os.replace(HISTORY + ".tmp", HISTORY)


def replay_playbook(days, first, dns_port):
    """The real steps for each of ``days`` in one ansible-playbook run (validation once): with
    ``dns_port``, the DNSBL check on NSD at 127.0.0.1:dns_port decides each day's health."""
    steps = os.path.join(ROOT, "playbooks")
    out = ["---", "- {name: Validate, ansible.builtin.import_playbook: %s/validate.yml}" % steps]
    for day in days:
        out += ["- name: History day %s" % day, "  hosts: localhost", "  gather_facts: false", "  tasks:",
                "    - {name: Plan %s, ansible.builtin.set_fact: {mailfleet_today: \"%s\"}}" % (day, day),
                "- {name: Observe, ansible.builtin.import_playbook: %s/steps/observe.yml}" % steps]
        if dns_port:
            out += ["- name: DNSBL check of %s" % day, "  hosts: localhost", "  gather_facts: false",
                    "  vars: {ansible_python_interpreter: \"{{ ansible_playbook_python }}\"}", "  tasks:",
                    "    - name: Check every sending IP against the demo's DNS block list",
                    "      mailfleet.fleet.dnsbl_check:",
                    "        ips: \"{{ mailfleet_model.ips | list }}\"",
                    "        zones: [{zone: bl.rbl.test, critical: true}]",
                    "        nameservers: [\"127.0.0.1:%d\"]" % dns_port,
                    "        resume_after: 1",
                    "        previous_health:",
                    "          ips: \"{{ mailfleet_model | mailfleet.fleet.mailfleet_observed(hostvars, 'health') }}\"",
                    "      register: _demo_dnsbl",
                    "    - name: Keep the health for the plan and for the hosts",
                    "      ansible.builtin.set_fact:",
                    "        mailfleet_health_planner: \"{{ _demo_dnsbl.health.ips | mailfleet.fleet.mailfleet_planner_health }}\"",
                    "        mailfleet_health_by_host: >-",
                    "          {{ mailfleet_model | mailfleet.fleet.mailfleet_by_host(_demo_dnsbl.health.ips) }}"]
        out += ["- {name: Plan, ansible.builtin.import_playbook: %s/steps/plan.yml}" % steps,
                "- name: Store the states of %s" % day, "  hosts: pmta", "  gather_facts: false", "  tasks:",
                "    - name: Store",
                "      ansible.builtin.include_role: {name: fleet_state, tasks_from: write}",
                "      vars:",
                "        fleet_state_warmup: \"{{ hostvars['localhost']['mailfleet_states_by_host'][inventory_hostname] }}\"",
                "        fleet_state_health: >-",
                "          {{ hostvars['localhost']['mailfleet_health_by_host'][inventory_hostname]",
                "             if 'mailfleet_health_by_host' in hostvars['localhost'] else none }}",
                "- name: Send %s" % day, "  hosts: localhost", "  gather_facts: false", "  tasks:",
                "    - name: Keep the plan of %s" % day,
                "      ansible.builtin.copy:",
                "        content: >-",
                "          {{ {'plan': mailfleet_caps_plan, 'caps': mailfleet_caps, 'ips': mailfleet_model.ips} | to_json }}",
                "        dest: %s/plan-%s.json" % (HISTORY_DIR, day),
                "        mode: \"0644\"",
                "    - name: Append what the IPs sent on %s to the accounting files" % day,
                "      ansible.builtin.command: %s %s send %s %s" % (
                    sys.executable, os.path.abspath(__file__), day, first),
                "      changed_when: true"]
    return "\n".join(out) + "\n"


def send_day(day, first):
    """Append ``day``'s generated accounting to each demo host's file, from the caps planned for
    that day; print the day's line."""
    import acctgen
    with open(os.path.join(HISTORY_DIR, "plan-%s.json" % day)) as handle:
        data = json.load(handle)
    index = (datetime.date.fromisoformat(day) - datetime.date.fromisoformat(first)).days
    traffic, line = {}, []
    for ip in sorted(data["caps"]):
        cap, dec, info = data["caps"][ip], data["plan"]["ips"][ip], data["ips"][ip]
        gmail = cap["providers"].get("gmail")
        line.append("%s %d%s %s" % (ip, cap["daily"], "" if gmail is None else " (gmail %d)" % gmail, dec["action"]))
        if cap["standby"] or not cap["daily"]:
            continue
        rows, left = traffic.setdefault(info["host"], []), cap["daily"]
        for prov, share in SHARES:
            want = min(int(cap["daily"] * share), cap["providers"].get(prov, cap["daily"]))
            left -= int(cap["daily"] * share)
            if ip == THROTTLED[0] and index in THROTTLED[1] and prov == "gmail":
                deferred = want // THROTTLED[1][index]
                rows += [(ip, info["vmta"], prov, "d", want - deferred), (ip, info["vmta"], prov, "defer:0", deferred)]
                continue
            hard = want // 200
            rows += [(ip, info["vmta"], prov, "d", want - hard), (ip, info["vmta"], prov, "hard", hard)]
        rows.append((ip, info["vmta"], "other", "d", max(0, left)))
    for host, rows in sorted(traffic.items()):
        acct = os.path.join(ROOT, ".work", "demo", host, "var", "log", "pmta", "acct.csv")
        os.makedirs(os.path.dirname(acct), exist_ok=True)
        header = not os.path.exists(acct)
        with open(acct, "a", newline="") as handle:
            handle.write(acctgen.scripted_day(day, rows, seed=DEMO_SEED, header=header))
    with open(os.path.join(HISTORY_DIR, "days.txt"), "a") as handle:
        handle.write("%s  %s\n" % (day, " | ".join(line)))


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
    send_cmd = sub.add_parser("send")
    send_cmd.add_argument("day")
    send_cmd.add_argument("first")
    args = parser.parse_args()
    if args.command == "send":
        send_day(args.day, args.first)
    elif args.command == "serve":
        serve(args.ready)
    elif args.command == "stop":
        stop_services()
    else:
        main()
