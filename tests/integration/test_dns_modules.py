"""The three modules run through ansible-playbook on localhost against NSD and a local HTTP receiver."""
import json
import os
import subprocess
import sys

import pytest

from dnsfixture import dns_env  # noqa: F401

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "unit"))
from test_alerts import TOKEN, Receiver  # noqa: E402

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: DNSBL
      mailfleet.fleet.dnsbl_check:
        ips: [192.0.2.10, 192.0.2.11, 192.0.2.12, "2001:db8::10"]
        zones: {zones}
        nameservers: {ns}
        dqs_key: {dqs}
        timeout: 1.0
        previous_health: {{}}
        run_id: "2025-03-01"
      register: bl
    - name: DNS auth
      mailfleet.fleet.dns_auth_audit:
        nameservers: {ns}
        domains:
          - name: good.test
            dkim_selector: mf1
            dkim_key_file: {key}
            ips: [192.0.2.10, "2001:db8::10"]
        ips:
          - {{address: 192.0.2.10, hostname: mta1.good.test}}
          - {{address: "2001:db8::10", hostname: mta6.good.test}}
        run_id: "2025-03-01"
      register: auth
    - name: Alert
      mailfleet.fleet.mailfleet_alert:
        events: "{{{{ bl.events + auth.events }}}}"
        telegram: {{token: "{token}", chat_id: "42", api_base: "{base}"}}
        state_path: {state}
      register: alert
    - name: Results
      ansible.builtin.copy:
        dest: {out}
        content: "{{{{ {{'bl': bl, 'auth': auth, 'alert': alert}} | to_json }}}}"
        mode: "0600"
      check_mode: false
"""


def run_play(tmp_path, dns_env, base, check=False):
    out = tmp_path / ("out-check.json" if check else "out.json")
    pb = tmp_path / "play.yml"
    pb.write_text(PLAYBOOK.format(zones=json.dumps(dns_env.zones), ns=json.dumps(dns_env.nameservers),
                                  dqs=dns_env.dqs_key, key=dns_env.keys["good"], token=TOKEN, base=base,
                                  state=tmp_path / "alerts.json", out=out))
    inv = tmp_path / "inv.ini"
    inv.write_text("localhost ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable)
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "atmp"), ANSIBLE_HOME=str(tmp_path / "ahome"),
               ANSIBLE_NOCOLOR="1")
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", str(inv), str(pb)]
    if check:
        cmd.append("--check")
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert TOKEN not in proc.stdout + proc.stderr
    assert dns_env.dqs_key not in proc.stdout + proc.stderr
    return json.loads(out.read_text()), proc.stdout


@pytest.mark.slow
def test_modules_end_to_end(tmp_path, dns_env):
    rec = Receiver()
    try:
        data, _ = run_play(tmp_path, dns_env, rec.base, check=True)
        assert rec.requests == [] and not (tmp_path / "alerts.json").exists()
        assert data["alert"]["would_send"] and data["alert"]["changed"]

        data, stdout = run_play(tmp_path, dns_env, rec.base)
        bl = data["bl"]
        assert bl["changed"] is False
        assert bl["summary"]["critical_ips"] == ["192.0.2.10", "2001:db8::10"]
        assert bl["planner_health"]["192.0.2.10"]["standby"] is True
        assert bl["planner_health"]["192.0.2.12"]["standby"] is False  # 127.255.255.254 is an error
        assert "standby:192.0.2.10:2025-03-01" in {e["id"] for e in bl["events"]}
        assert data["auth"]["verdicts"]["good.test"]["ready"] is True
        sent = {s["id"] for s in data["alert"]["sent"]}
        assert sent == {e["id"] for e in bl["events"]}
        n = len(rec.requests)
        assert n == len(sent)
        for r in rec.requests:
            assert r["path"] == "/bot%s/sendMessage" % TOKEN and TOKEN not in r["body"]["text"]

        data, _ = run_play(tmp_path, dns_env, rec.base)  # second run: nothing new is sent
        assert len(rec.requests) == n
        assert data["alert"]["sent"] == [] and data["alert"]["changed"] is False
    finally:
        rec.close()
