"""No secret is ever printed: every playbook, at -vvv, on a vaulted inventory deployed for real.

A vaulted copy of the base inventory (secrets in a vault-encrypted vars file, the DKIM key
vault-encrypted, passwords with the characters Jinja would choke on) drives two sandboxed
PowerMTA hosts (the pmta stand-in), the MailWizz stand-in, a throwaway MariaDB, NSD on loopback
and local Telegram/webhook receivers. validate.yml, deploy.yml --check --diff, deploy.yml,
warmup.yml, health.yml, mailwizz.yml, campaign.yml and quota-sync.yml run at -vvv; then
stdout/stderr of each run, the reports, the metrics, the state files, the alert payloads and the
delivery-server rows are searched for every secret -- as written, base64-encoded and URL-encoded.
The only places a secret may be are where it is meant to be written: PowerMTA's config (and its
backups) and the DKIM key files on the hosts.

The secrets are also proven *used*, literally: the SMTP password ``Xy{{9%k...`` is in the deployed
config exactly, the Telegram token is in the path the receiver was called on, the API keys
authenticated the MailWizz calls.
"""
import base64
import http.server
import json
import os
import shutil
import threading
import urllib.parse

import pytest

from helpers import DEMO_KEY, ROOT, run_playbook, sandbox_inventory
from mailwizz_helpers import load_standin
from standins.dns.nsd import NSDServer, find_nsd, free_port
from standins.mariadb import server as mariadb_server
from test_health_playbook import HOST_VARS_PMTA1, HOST_VARS_PMTA2, dns_zones

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(find_nsd() is None, reason="nsd is not installed (Debian package nsd)"),
              pytest.mark.skipif(not mariadb_server.available(), reason="mariadb-server is not installed")]

VAULT_PASSWORD = "secrets-output-test-vault"
SECRETS = {
    # no '#': PowerMTA reads the rest of a config line as a comment, quoted or not (guide 3.3.10.55),
    # so the renderer refuses it in an SMTP password
    "smtp password alpha": "Xy{{9%k-alpha-smtp-7f3a",
    "smtp password beta": "a%b{c-beta-smtp-91c2",
    "mailwizz key alpha": "mw-key-alpha-5b8e0d1c93",
    "mailwizz key main": "mw-key-main-2a7c9e4f61",
    "db password": "db#pw%6e1d-quota",
    "telegram token": "987654:TgTokenSecret_abcdef123456",
    "webhook header": "Bearer hook-secret-0c4b9a",
}
VAULT_VARS = {
    "vault_smtp_passwords": {"alpha": SECRETS["smtp password alpha"], "beta": SECRETS["smtp password beta"]},
    "vault_mailwizz_keys": {"alpha": SECRETS["mailwizz key alpha"], "main": SECRETS["mailwizz key main"]},
    "vault_db_password": SECRETS["db password"],
    "vault_telegram_token": SECRETS["telegram token"],
    "vault_hook_authorization": SECRETS["webhook header"],
}
FLEET = """---
mailfleet_tenants:
  alpha:
    smtp_password: "{{ vault_smtp_passwords['alpha'] }}"
    mailwizz: main
    mailwizz_auth: {api_key: "{{ vault_mailwizz_keys['alpha'] }}"}
    from_name: Alpha
    from_email: news@alpha.example.com
    mailwizz_lists:
      - {name: alpha-news, general: {description: Alpha news}}
    domains:
      - {name: alpha.example.com, dkim_selector: s1, dkim_key_file: files/dkim.pem}
  beta:
    pool: beta-pool
    smtp_user: beta-user
    smtp_password: "{{ vault_smtp_passwords.beta }}"
    mailwizz: main
    from_email: news@beta.example.net
    schedule: slow
    domains:
      - {name: beta.example.net, dkim_selector: s1, dkim_key_file: files/dkim.pem}
mailfleet_warmup_schedules:
  default:
    stages: [50, 200, 500, 1500, 5000, 10000]
  slow:
    stages:
      - {volume: 20, min_days: 3}
      - {volume: 100}
    full_rate: 500
mailfleet_mailwizz_instances:
  main:
    url: "%(mailwizz_url)s"
    api_key: "{{ vault_mailwizz_keys.main }}"
    db: {host: 127.0.0.1, port: %(db_port)d, name: mailwizz, user: mailfleet_sync,
         password: "{{ vault_db_password }}", table_prefix: mw_}
mailfleet_smtp_listeners:
  pmta-1: {hostname: pmta-1.example.net, port: 2525}
  pmta-2: {hostname: pmta-2.example.net, port: 2525}
mailfleet_alerts:
  telegram: {token: "{{ vault_telegram_token }}", chat_id: "-1001234567890", api_base: "%(receiver)s/telegram"}
  webhook:
    url: "%(receiver)s/hook"
    headers: {Authorization: "{{ vault_hook_authorization }}"}
mailfleet_dns_nameservers: ["127.0.0.1:%(dns_port)d"]
mailfleet_dns_timeout: 1.0
mailfleet_dnsbl_zones:
  - {zone: bl.rbl.test, critical: true}
mailfleet_resume_after: 1
mailfleet_controller_state_dir: "%(state)s"
mailfleet_report_dir: "%(reports)s"
mailfleet_metrics_create_dir: true
"""
CAMPAIGN = {"mailfleet_campaign_tenant": "alpha",
            "mailfleet_campaign": {"name": "secrets-check", "list": "alpha-news", "subject": "Hello",
                                   "template": "mailwizz/newsletter.html.j2", "template_vars": {"headline": "Hi"},
                                   "send_at": "2026-12-01 09:00:00", "split": True}}


class Receiver:
    """Local Telegram Bot API and webhook endpoint: records path, headers and body of every POST."""

    def __init__(self):
        calls = self.calls = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's API
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                calls.append({"path": self.path, "headers": dict(self.headers), "body": body.decode("utf-8", "replace")})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok": true, "result": {"message_id": 1}}')

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def forms(secret):
    """The ways a secret could show: as is, base64, URL-encoded; for a PEM key, its body lines."""
    out = {secret, base64.b64encode(secret.encode()).decode(), urllib.parse.quote(secret, safe=""),
           urllib.parse.quote_plus(secret), json.dumps(secret)[1:-1]}
    return {form for form in out if len(form) >= 8}


def dkim_key_lines():
    with open(DEMO_KEY) as handle:
        lines = [line.strip() for line in handle if line.strip() and not line.startswith("-----")]
    return lines[1:4]


def leaks(text, where):
    found = []
    for name, secret in SECRETS.items():
        for form in forms(secret):
            if form in text:
                found.append("%s: the %s (%s)" % (where, name, "as written" if form == secret else "encoded as %r" % form))
    for line in dkim_key_lines():
        if line in text:
            found.append("%s: the DKIM private key" % where)
            break
    return found


def encrypt(text):
    from ansible.parsing.vault import VaultLib, VaultSecret
    return VaultLib([("default", VaultSecret(VAULT_PASSWORD.encode()))]).encrypt(text.encode()).decode()


@pytest.fixture
def services(tmp_path):
    standin_mod = load_standin()
    mailwizz = standin_mod.MailWizzStandin({"alpha": {"api_key": SECRETS["mailwizz key alpha"]},
                                            "beta": {"api_key": SECRETS["mailwizz key main"]}}, seed=3)
    mailwizz_url = mailwizz.start()
    receiver = Receiver()
    db = mariadb_server.MariaDBServer()
    db.start()
    from standins.mariadb.mailwizz_schema import mailwizz_database
    mailwizz_database(db, "mailwizz", "mailfleet_sync", SECRETS["db password"])
    try:
        yield {"mailwizz": mailwizz, "mailwizz_url": mailwizz_url, "receiver": receiver, "db": db}
    finally:
        db.stop()
        receiver.close()
        mailwizz.stop()


def test_no_playbook_prints_a_secret_at_any_verbosity(tmp_path, services):
    dns_port = free_port()
    values = {"mailwizz_url": services["mailwizz_url"], "db_port": services["db"].port, "dns_port": dns_port,
              "receiver": services["receiver"].url, "state": tmp_path / "state", "reports": tmp_path / "reports"}
    import yaml
    inv, root = sandbox_inventory(tmp_path, {
        "host_vars/pmta-1.yml": HOST_VARS_PMTA1, "host_vars/pmta-2.yml": HOST_VARS_PMTA2,
        "group_vars/all/fleet.yml": FLEET % values,
        "group_vars/all/vault.yml": encrypt(yaml.safe_dump(VAULT_VARS)),
    })
    base = os.path.dirname(inv)
    os.remove(os.path.join(base, "group_vars", "all.yml"))  # replaced by group_vars/all/
    with open(DEMO_KEY) as handle:
        with open(os.path.join(base, "files", "dkim.pem"), "w") as out:
            out.write(encrypt(handle.read()))
    pw_file = tmp_path / "vault-password"
    pw_file.write_text(VAULT_PASSWORD)
    campaign_file = tmp_path / "campaign.json"
    campaign_file.write_text(json.dumps(CAMPAIGN))

    runs = [
        ("validate.yml -vvv", "validate.yml", []),
        ("deploy.yml --check --diff -vvv", "deploy.yml", ["--check", "--diff"]),
        ("deploy.yml -vvv", "deploy.yml", []),
        ("warmup.yml -vvv", "warmup.yml", ["-e", "mailfleet_today=2026-11-20"]),
        ("health.yml -vvv", "health.yml", []),
        ("mailwizz.yml -vvv", "mailwizz.yml", []),
        ("campaign.yml -vvv", "campaign.yml", ["-e", "@%s" % campaign_file]),
        ("quota-sync.yml -vvv", "quota-sync.yml", ["-e", "mailfleet_mailwizz_create_servers=true"]),
    ]
    problems = []
    logs = tmp_path / "runs"
    logs.mkdir()
    with NSDServer(dns_zones(["192.0.2.1"]), port=dns_port):
        for n, (label, playbook, args) in enumerate(runs):
            if playbook == "campaign.yml" and services["mailwizz"].lists_of("alpha"):
                seed_audience(services["mailwizz_url"])
            proc = run_playbook(playbook, inv, "-vvv", "--vault-password-file", str(pw_file), *args,
                                cwd=base, tmp=tmp_path)
            log = logs / ("%d-%s.log" % (n, playbook))
            log.write_text(proc.stdout)
            if proc.returncode != 0:
                problems.append("%s failed (exit %d), see %s:\n%s" % (label, proc.returncode, log, proc.stdout[-2000:]))
            problems += leaks(proc.stdout, label + " output")

    # files written by the runs (what is not meant to hold a secret)
    # PowerMTA's config, its backups, the DKIM keys, and the stand-in's copy of the running config
    # (PowerMTA itself) hold the secrets by design
    meant = (os.path.join("etc", "pmta", "config"), os.path.join("etc", "pmta", "dkim"),
             os.path.join("var", "lib", "mailfleet", "backups"), os.path.join("var", "log", "pmta", "standin"))
    for top in (root, str(tmp_path / "state"), str(tmp_path / "reports")):
        for dirpath, _dirs, files in os.walk(top):
            for name in files:
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, str(tmp_path))
                if any(part in path for part in meant) or rel.startswith("runs"):
                    continue
                with open(path, "rb") as handle:
                    problems += leaks(handle.read().decode("utf-8", "replace"), rel)
    for call in services["receiver"].calls:
        problems += leaks(call["body"], "alert payload to %s" % call["path"].split("/bot")[0])
    conn = services["db"].connect(database="mailwizz")
    with conn.cursor() as cur:
        cur.execute("SELECT * FROM mw_delivery_server")
        problems += leaks(repr(cur.fetchall()), "MailWizz delivery_server rows")
    conn.close()

    # ... and every secret was used, literally
    config = [line.strip() for line in open(os.path.join(root, "pmta-1", "etc", "pmta", "config"))]
    for tenant in ("alpha", "beta"):
        secret = SECRETS["smtp password %s" % tenant]
        if "password %s" % secret not in config and 'password "%s"' % secret not in config:
            problems.append("the SMTP password of %s is not in the deployed config as written" % tenant)
    paths = [call["path"] for call in services["receiver"].calls]
    if "/telegram/bot%s/sendMessage" % SECRETS["telegram token"] not in paths:
        problems.append("no Telegram alert was sent with the token as written (%d calls)" % len(paths))
    hooks = [call for call in services["receiver"].calls if call["path"] == "/hook"]
    if not hooks or any(call["headers"].get("Authorization") != SECRETS["webhook header"] for call in hooks):
        problems.append("no webhook alert was sent with the Authorization header as written")
    if not services["mailwizz"].lists_of("alpha"):
        problems.append("alpha's lists were not made with alpha's own MailWizz key")
    assert not problems, "\n".join(problems)


def seed_audience(url):
    from ansible_collections.mailfleet.fleet.plugins.module_utils import mailwizz_ops as ops
    from ansible_collections.mailfleet.fleet.plugins.module_utils.mailwizz_api import MailWizzClient
    client = MailWizzClient(url, api_key=SECRETS["mailwizz key alpha"])
    uid = ops.resolve_list_uid(client, "alpha-news")
    ops.import_subscribers(client, uid, [{"EMAIL": "reader%03d@example.test" % i} for i in range(30)])


def test_validation_output_never_shows_a_vaulted_secret_it_refuses(tmp_path):
    """An ungrammatical vaulted password is named by file and line, never shown."""
    inv, _root = sandbox_inventory(tmp_path, {
        "group_vars/all/vault.yml": encrypt('vault_alpha: "bad\\"quote-secret-value"\n'),
        "group_vars/all/fleet.yml": open(os.path.join(ROOT, "tests", "inventories", "base", "group_vars", "all.yml"))
        .read().replace("smtp_password: alpha-secret", "smtp_password: \"{{ vault_alpha }}\""),
    })
    base = os.path.dirname(inv)
    os.remove(os.path.join(base, "group_vars", "all.yml"))
    (tmp_path / "pw").write_text(VAULT_PASSWORD)
    proc = run_playbook("validate.yml", inv, "-vvv", "--vault-password-file", str(tmp_path / "pw"), cwd=base, tmp=tmp_path)
    assert proc.returncode != 0
    assert ("group_vars/all/vault.yml:1: mailfleet_tenants.alpha.smtp_password: contains a double quote, "
            "which PowerMTA's quoting cannot hold") in proc.stdout, proc.stdout
    assert "quote-secret-value" not in proc.stdout
    shutil.rmtree(str(tmp_path / "inv"))


def test_the_vaulted_example_inventory_validates_at_vvv_without_printing_a_secret(tmp_path):
    """inventories/example: every value of its vault (and its vaulted DKIM keys) stays unprinted."""
    import yaml
    from ansible.parsing.vault import VaultLib, VaultSecret
    example = os.path.join(ROOT, "inventories", "example")
    password = open(os.path.join(example, "vault-password.example")).read().strip()
    vault = VaultLib([("default", VaultSecret(password.encode()))])
    plain = yaml.safe_load(vault.decrypt(open(os.path.join(example, "group_vars", "all", "vault.yml")).read()))
    secrets, stack = [], [plain]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, str):
            secrets.append(node)
    keys = []
    for name in os.listdir(os.path.join(example, "files", "dkim")):
        text = vault.decrypt(open(os.path.join(example, "files", "dkim", name)).read()).decode()
        keys += [line for line in text.splitlines() if line and not line.startswith("-----")][1:3]
    assert len(secrets) >= 6 and keys
    proc = run_playbook("validate.yml", os.path.join(example, "hosts.yml"), "-vvv", "--vault-password-file",
                        os.path.join(example, "vault-password.example"), tmp=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "fleet OK: 2 tenants, 3 PowerMTA hosts, 6 IPs" in proc.stdout
    shown = [s for s in secrets if any(form in proc.stdout for form in forms(s))]
    assert not shown, "validate.yml -vvv printed %d secret(s) of the example vault" % len(shown)
    assert not [line for line in keys if line in proc.stdout], "validate.yml -vvv printed a DKIM private key"
