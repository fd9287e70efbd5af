"""The rollout's parallel probe, end to end on sandbox hosts with the PowerMTA stand-in: only the
hosts the deploy has something to do on take the serial deploy path; a host where only a state
file differs stores its states without a deploy or a reload; a host where nothing differs is left
alone -- and every change is still made, shown in check mode and idempotent afterwards."""
import os
import stat

from helpers import recap, reloads, run_playbook, sandbox_inventory

HOSTS = ("pmta-1", "pmta-2")
DEPLOY_PLAY = "PLAY [Deploy the PowerMTA configuration where something changes]"
STATE_PLAY = "PLAY [Store the states where the configuration is live already]"


def _path(root, host, *parts):
    return os.path.join(root, host, *parts)


def _flat(text):
    return " ".join(text.split())


def test_only_hosts_with_something_to_do_are_visited(tmp_path):
    inv, root = sandbox_inventory(tmp_path)
    first = run_playbook("deploy.yml", inv, tmp=tmp_path)
    assert first.returncode == 0, first.stdout
    assert "0 host(s) with nothing to roll out" in _flat(first.stdout)   # fresh hosts: all deployed
    config = {h: open(_path(root, h, "etc", "pmta", "config")).read() for h in HOSTS}

    # Nothing differs: no host is deployed, nothing stored, nothing reloaded.
    quiet = run_playbook("deploy.yml", inv, tmp=tmp_path)
    assert quiet.returncode == 0, quiet.stdout
    assert "2 host(s) with nothing to roll out" in _flat(quiet.stdout)
    assert all(recap(quiet.stdout)[h]["changed"] == 0 for h in HOSTS)
    assert "Render, check, swap in and reload" not in quiet.stdout
    assert all(len(reloads(root, h)) == 1 for h in HOSTS)

    # pmta-2's configuration edited by hand, pmta-1's warmup state file with another mode, a stale
    # key on pmta-1 would be pruned: pmta-1 and pmta-2 differ in different ways.
    with open(_path(root, "pmta-2", "etc", "pmta", "config"), "a") as handle:
        handle.write("# edited by hand\n")
    warm = _path(root, "pmta-1", "var", "lib", "mailfleet", "warmup-state.json")
    os.chmod(warm, 0o600)
    check = run_playbook("deploy.yml", inv, "--check", "--diff", tmp=tmp_path)
    assert check.returncode == 0, check.stdout
    assert "-# edited by hand" in check.stdout                        # the deploy's diff, as before
    assert recap(check.stdout)["pmta-2"]["changed"] >= 1 and recap(check.stdout)["pmta-1"]["changed"] >= 1
    assert stat.S_IMODE(os.stat(warm).st_mode) == 0o600               # check mode changed nothing

    run = run_playbook("deploy.yml", inv, tmp=tmp_path)
    assert run.returncode == 0, run.stdout
    flat = _flat(run.stdout)
    assert "1 with only their states to store (at once); 1 to deploy" in flat, flat[-3000:]
    assert "pmta-2 (configuration" in flat and "differs from the rendered one" in flat
    deploy_part = run.stdout.split(DEPLOY_PLAY)[1].split(STATE_PLAY)[0]
    assert "[pmta-2]" in deploy_part and "[pmta-1]" not in deploy_part
    state_part = run.stdout.split(STATE_PLAY)[1]
    assert "changed: [pmta-1]" in state_part and "[pmta-2]" not in state_part
    assert stat.S_IMODE(os.stat(warm).st_mode) == 0o640
    assert open(_path(root, "pmta-2", "etc", "pmta", "config")).read() == config["pmta-2"]
    assert len(reloads(root, "pmta-2")) == 2 and len(reloads(root, "pmta-1")) == 1

    again = run_playbook("deploy.yml", inv, tmp=tmp_path)
    assert again.returncode == 0, again.stdout
    assert all(recap(again.stdout)[h]["changed"] == 0 for h in HOSTS), again.stdout


def test_an_owed_reload_or_a_stale_key_always_takes_the_deploy_path(tmp_path):
    inv, root = sandbox_inventory(tmp_path)
    assert run_playbook("deploy.yml", inv, tmp=tmp_path).returncode == 0
    journal = _path(root, "pmta-1", "var", "lib", "mailfleet", "pmta-reload.journal")
    with open(journal, "w") as handle:
        handle.write('{"since": "2026-11-21T05:15:02+00:00", "version": 1}\n')
    stale = _path(root, "pmta-2", "etc", "pmta", "dkim", "gone.example.com.s0.pem")
    with open(stale, "w") as handle:
        handle.write("not used any more\n")
    run = run_playbook("deploy.yml", inv, tmp=tmp_path)
    assert run.returncode == 0, run.stdout
    flat = _flat(run.stdout)
    assert "2 to deploy" in flat and "reload owed since 2026-11-21T05:15:02+00:00" in flat
    assert "gone.example.com.s0.pem: no longer used" in flat
    assert not os.path.exists(journal) and not os.path.exists(stale)
    assert len(reloads(root, "pmta-1")) == 2          # the owed reload was made
    assert all(recap(run_playbook("deploy.yml", inv, tmp=tmp_path).stdout)[h]["changed"] == 0 for h in HOSTS)
