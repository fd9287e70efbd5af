"""The safe deploy path, end to end, on sandbox hosts with the PowerMTA stand-in."""
import os
import shutil

from helpers import WebhookReceiver, recap, reloads, run_playbook, sandbox_inventory

HOSTS = ("pmta-1", "pmta-2")


def _config(root, host):
    with open(os.path.join(root, host, "etc", "pmta", "config")) as handle:
        return handle.read()


def test_deploy_is_idempotent_and_deterministic(tmp_path):
    inv, root = sandbox_inventory(tmp_path)
    first = run_playbook("deploy.yml", inv, tmp=tmp_path)
    assert first.returncode == 0, first.stdout
    assert all(recap(first.stdout)[h]["changed"] > 0 for h in HOSTS)
    for host in HOSTS:
        assert [r["ok"] for r in reloads(root, host)] == [True]
        assert "alpha-secret" not in first.stdout
    configs = {h: _config(root, h) for h in HOSTS}
    assert "virtual-mta alpha-192-0-2-1" in configs["pmta-1"]
    assert "smtp-source-host 2001:db8::2 mta2.alpha.example.com" in configs["pmta-2"]
    assert "beta-pool" not in configs["pmta-2"]  # beta has no IP on pmta-2

    second = run_playbook("deploy.yml", inv, tmp=tmp_path)
    assert second.returncode == 0, second.stdout
    assert all(recap(second.stdout)[h]["changed"] == 0 for h in HOSTS), second.stdout
    assert all(len(reloads(root, h)) == 1 for h in HOSTS)  # nothing changed: no reload

    # Rendering the same inventory from scratch gives byte-identical files.
    shutil.rmtree(root)
    third = run_playbook("deploy.yml", inv, tmp=tmp_path)
    assert third.returncode == 0, third.stdout
    assert {h: _config(root, h) for h in HOSTS} == configs


def test_check_diff_shows_the_change_and_changes_nothing(tmp_path):
    inv, root = sandbox_inventory(tmp_path)
    assert run_playbook("deploy.yml", inv, tmp=tmp_path).returncode == 0
    before = {h: _config(root, h) for h in HOSTS}
    host_vars = os.path.join(str(tmp_path), "inv", "host_vars", "pmta-2.yml")
    with open(host_vars, "a") as handle:
        handle.write("  - address: 203.0.113.7\n    hostname: mta7.alpha.example.com\n"
                     "    tenant: alpha\n    warmup_start: 2026-11-01\n")
    check = run_playbook("deploy.yml", inv, "--check", "--diff", tmp=tmp_path)
    assert check.returncode == 0, check.stdout
    assert "+<virtual-mta alpha-203-0-113-7>" in check.stdout
    assert "+    smtp-source-host 203.0.113.7 mta7.alpha.example.com" in check.stdout
    assert "alpha-secret" not in check.stdout
    assert recap(check.stdout)["pmta-2"]["changed"] >= 1  # config and the new IP's warmup state
    assert recap(check.stdout)["pmta-1"]["changed"] == 0
    assert {h: _config(root, h) for h in HOSTS} == before
    assert all(len(reloads(root, h)) == 1 for h in HOSTS)


def test_check_mode_on_a_fresh_host_writes_nothing(tmp_path):
    inv, root = sandbox_inventory(tmp_path)
    check = run_playbook("deploy.yml", inv, "--check", "--diff", tmp=tmp_path)
    assert check.returncode == 0, check.stdout
    assert not os.path.exists(root)
    assert "+<virtual-mta-pool alpha-pool>" in check.stdout
    assert "+    password ********" in check.stdout and "alpha-secret" not in check.stdout


def test_failed_reload_restores_the_previous_config(tmp_path):
    receiver = WebhookReceiver()
    alerts = "---\nmailfleet_alerts:\n  webhook: {url: \"%s\"}\nmailfleet_controller_state_dir: \"%s\"\n" % (
        receiver.url, tmp_path / "state")
    inv, root = sandbox_inventory(tmp_path, {"group_vars/all/alerts.yml": alerts})
    os.rename(os.path.join(str(tmp_path), "inv", "group_vars", "all.yml"),
              os.path.join(str(tmp_path), "inv", "group_vars", "all", "fleet.yml"))
    assert run_playbook("deploy.yml", inv, tmp=tmp_path).returncode == 0
    good = _config(root, "pmta-1")
    standin = os.path.join(root, "pmta-1", "var", "log", "pmta", "standin")
    with open(os.path.join(standin, "fail-reload-once"), "w") as handle:
        handle.write("license error: too many virtual MTAs for this license")
    host_vars = os.path.join(str(tmp_path), "inv", "host_vars", "pmta-1.yml")
    with open(host_vars, "a") as handle:
        handle.write("  - address: 192.0.2.77\n    hostname: mta77.alpha.example.com\n"
                     "    tenant: alpha\n    warmup_start: 2026-11-01\n")
    run = run_playbook("deploy.yml", inv, tmp=tmp_path)
    assert run.returncode != 0
    assert "pmta reload failed with the new configuration" in run.stdout
    assert "too many virtual MTAs for this license" in run.stdout
    assert "the previous configuration was restored and reloaded" in run.stdout
    assert _config(root, "pmta-1") == good
    attempts = reloads(root, "pmta-1")
    assert [r["ok"] for r in attempts] == [True, False, True]
    with open(os.path.join(standin, "running.conf")) as handle:
        assert handle.read() == good
    # serial 1, max_fail_percentage 0: the rollout stopped at the first failed host
    assert "pmta-2" not in recap(run.stdout) or recap(run.stdout)["pmta-2"]["changed"] == 0
    assert len(reloads(root, "pmta-2")) == 1
    # and the failed deploy was alerted, once, saying what is live
    receiver.close()
    assert [m["event"]["type"] for m in receiver.received] == ["deploy_failed"]
    event, text = receiver.received[0]["event"], receiver.received[0]["text"]
    assert "pmta-1" in text and "alpha-secret" not in text
    assert (event["host"], event["stage"], event["live"]) == ("pmta-1", "deploy", "rolled_back")
    assert "the previous one was put back; PowerMTA confirmed its reload" in text
    assert "too many virtual MTAs for this license" in event["cause"]
    assert not os.path.exists(os.path.join(root, "pmta-1", "var", "lib", "mailfleet", "pmta-reload.journal"))


def test_an_owed_reload_is_never_reported_ok(tmp_path):
    """A reload left owed (journal) is settled by the next run even though the file is already the
    rendered one; check mode reports it as a change and does nothing."""
    inv, root = sandbox_inventory(tmp_path)
    assert run_playbook("deploy.yml", inv, tmp=tmp_path).returncode == 0
    standin = os.path.join(root, "pmta-1", "var", "log", "pmta", "standin")
    journal = os.path.join(root, "pmta-1", "var", "lib", "mailfleet", "pmta-reload.journal")
    with open(os.path.join(standin, "die-reload-once"), "w") as handle:
        handle.write("")
    host_vars = os.path.join(str(tmp_path), "inv", "host_vars", "pmta-1.yml")
    with open(host_vars, "a") as handle:
        handle.write("  - address: 192.0.2.79\n    hostname: mta79.alpha.example.com\n"
                     "    tenant: alpha\n    warmup_start: 2026-11-01\n")
    # The reload dies once (no answer): rolled back, the rollback reload is confirmed, nothing owed.
    run = run_playbook("deploy.yml", inv, tmp=tmp_path)
    assert run.returncode != 0 and not os.path.exists(journal)
    assert "answer is not a confirmation (exit 137)" in " ".join(run.stdout.split())
    # Now the reload and the rollback reload both die: what runs is unknown, the reload stays owed.
    with open(os.path.join(standin, "die-reload"), "w") as handle:
        handle.write("")
    run = run_playbook("deploy.yml", inv, tmp=tmp_path)
    assert run.returncode != 0 and os.path.exists(journal), run.stdout
    os.unlink(os.path.join(standin, "die-reload"))
    check = run_playbook("deploy.yml", inv, "--check", tmp=tmp_path)
    assert check.returncode == 0, check.stdout
    assert recap(check.stdout)["pmta-1"]["changed"] >= 1 and os.path.exists(journal)
    settle = run_playbook("deploy.yml", inv, tmp=tmp_path)
    assert settle.returncode == 0, settle.stdout
    assert "settled first" in " ".join(settle.stdout.split()) and not os.path.exists(journal)
    assert recap(settle.stdout)["pmta-1"]["changed"] >= 1
    with open(os.path.join(standin, "running.conf")) as handle:
        assert handle.read() == _config(root, "pmta-1")
    assert recap(run_playbook("deploy.yml", inv, tmp=tmp_path).stdout)["pmta-1"]["changed"] == 0


def test_a_config_that_fails_the_check_never_reaches_the_host(tmp_path):
    inv, root = sandbox_inventory(tmp_path)
    assert run_playbook("deploy.yml", inv, tmp=tmp_path).returncode == 0
    good = _config(root, "pmta-1")
    # A hand-written addition redefines mailfleet's pool: the checker refuses the new config.
    local = os.path.join(root, "pmta-1", "etc", "pmta", "local.conf")
    with open(local, "a") as handle:
        handle.write("<virtual-mta-pool alpha-pool>\n    virtual-mta nowhere\n</virtual-mta-pool>\n")
    host_vars = os.path.join(str(tmp_path), "inv", "host_vars", "pmta-1.yml")
    with open(host_vars, "a") as handle:
        handle.write("  - address: 192.0.2.78\n    hostname: mta78.alpha.example.com\n"
                     "    tenant: alpha\n    warmup_start: 2026-11-01\n")
    run = run_playbook("deploy.yml", inv, tmp=tmp_path)
    assert run.returncode != 0
    assert "the new configuration fails the check; the live configuration is unchanged" in run.stdout
    assert "VirtualMTA pool alpha-pool is defined twice" in run.stdout
    assert _config(root, "pmta-1") == good
    assert [r["ok"] for r in reloads(root, "pmta-1")] == [True]
