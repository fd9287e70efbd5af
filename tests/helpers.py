"""Helpers shared by the tests: paths, running ansible-playbook, sandbox inventories."""
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.dirname(sys.executable)
PLAYBOOKS = os.path.join(ROOT, "playbooks")
DEMO_KEY = os.path.join(ROOT, "inventories", "demo", "files", "dkim", "ulixai.example.net.mf2026.pem")
PMTA_STANDIN = os.path.join(ROOT, "tests", "standins", "pmta", "pmta")


def ansible_env(tmp=None, **extra):
    env = dict(os.environ)
    env["PATH"] = VENV_BIN + os.pathsep + env.get("PATH", "")
    env["ANSIBLE_CONFIG"] = os.path.join(ROOT, "ansible.cfg")
    env["ANSIBLE_NOCOLOR"] = "1"
    env["ANSIBLE_FORCE_COLOR"] = "0"
    if tmp:
        env["ANSIBLE_LOCAL_TEMP"] = os.path.join(str(tmp), ".ansible-tmp")
        env["ANSIBLE_HOME"] = os.path.join(str(tmp), ".ansible-home")
    env.update({k: str(v) for k, v in extra.items()})
    return env


def playbook_cmd(playbook, inventory, *args):
    return [os.path.join(VENV_BIN, "ansible-playbook"), "-i", str(inventory),
            os.path.join(PLAYBOOKS, playbook)] + list(args)


def run_playbook(playbook, inventory, *args, cwd=None, tmp=None, env=None, timeout=600):
    """Run ansible-playbook; returns CompletedProcess with stdout+stderr in .stdout."""
    return subprocess.run(playbook_cmd(playbook, inventory, *args), cwd=cwd or ROOT,
                          env=env or ansible_env(tmp), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=timeout)


def recap(output):
    """{host: {"ok": n, "changed": n, "failed": n, ...}} from a PLAY RECAP."""
    hosts = {}
    seen = False
    for line in output.splitlines():
        if line.startswith("PLAY RECAP"):
            seen = True
            continue
        if seen and ":" in line and "ok=" in line:
            host, _sep, rest = line.partition(":")
            hosts[host.strip()] = {k: int(v) for k, v in (p.split("=") for p in rest.split())}
    return hosts


def base_inventory(dest, files=None):
    """Materialise tests/inventories/base (+ replaced files) with a DKIM key at files/dkim.pem."""
    shutil.copytree(os.path.join(ROOT, "tests", "inventories", "base"), str(dest))
    os.makedirs(os.path.join(str(dest), "files"), exist_ok=True)
    shutil.copy(DEMO_KEY, os.path.join(str(dest), "files", "dkim.pem"))
    for rel, content in (files or {}).items():
        path = os.path.join(str(dest), rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            handle.write(content)
    return os.path.join(str(dest), "hosts.yml")


SANDBOX_VARS = """---
mailfleet_root: "%(root)s/{{ inventory_hostname }}"
pmta_config_owner: ""
pmta_config_group: ""
pmta_config_pmta_command: "%(pmta)s"
pmta_config_environment:
  PMTA_CONFIG: "{{ mailfleet_root }}/etc/pmta/config"
  PMTA_STANDIN_DIR: "{{ mailfleet_root }}/var/log/pmta/standin"
pmta_config_smtp_listeners: ["127.0.0.1:2525"]
"""


def sandbox_inventory(tmp, files=None):
    """The base inventory, deployed into ``tmp/hosts/<host>`` with the pmta stand-in."""
    files = dict(files or {})
    root = os.path.join(str(tmp), "hosts")
    files.setdefault("group_vars/pmta.yml", SANDBOX_VARS % {"root": root, "pmta": PMTA_STANDIN})
    return base_inventory(os.path.join(str(tmp), "inv"), files), root


def reloads(root, host):
    """The stand-in's reload records for ``host`` (list of dicts)."""
    import json
    path = os.path.join(root, host, "var", "log", "pmta", "standin", "reloads.log")
    if not os.path.exists(path):
        return []
    with open(path) as handle:
        return [json.loads(line) for line in handle if line.strip()]


class WebhookReceiver:
    """A local HTTP endpoint that records the JSON bodies POSTed to it (alert tests)."""

    def __init__(self):
        import http.server
        import threading
        received = self.received = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's API
                import json
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/hook" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
