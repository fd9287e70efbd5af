"""After side_effect.yml's failing deploy: the previous config is live, the rollout stopped."""
import hashlib
import os
import sys

import pytest
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "tests"))
import mfm_testlib as lib  # noqa: E402

testinfra_hosts = lib.pmta_hosts()
ARTIFACTS = os.path.join(lib.EPHEMERAL_DIR, "reload_failure")
FIRST = testinfra_hosts[0]  # serial 1: the first host of the rollout, where the reload failed
LATER = testinfra_hosts[1:]


def _artifact(name, mode="r"):
    path = os.path.join(ARTIFACTS, name)
    if not os.path.exists(path):
        pytest.fail("%s is missing: run side_effect.yml (molecule side_effect -s reload_failure)" % path)
    with open(path, mode) as handle:
        return handle.read()


def _before(name):
    return _artifact("before-%s.conf" % name, "rb")


def _extra_ips(host):
    return yaml.safe_load(_artifact("extra-vars.yml"))["molecule_extra_ips"][lib.name_of(host)]


def test_the_deploy_failed_on_the_first_host_and_rolled_back():
    output = _artifact("deploy.log")
    recap = lib.recap(output)
    assert recap[FIRST]["failed"] == 1, output
    flat = " ".join(output.split())
    assert "pmta reload failed with the new configuration" in flat
    assert "the previous configuration was restored and reloaded" in flat
    # the rollout's own message states what is live there (pmta_config's `live`: rolled_back)
    assert "Deploy failed on %s: the new configuration failed and the previous one was put back; " \
           "PowerMTA confirmed its reload" % FIRST in flat


def test_no_reload_is_owed_anywhere(host):
    # the rollback's reload was confirmed: the reload journal is gone (or was never written)
    assert not host.file(lib.JOURNAL).exists


def test_the_rollout_stopped_at_the_first_failed_host():
    output = _artifact("deploy.log")
    recap = lib.recap(output)
    assert LATER
    for other in LATER:
        # it may appear in the recap (the plays before the rollout read its state), unchanged
        assert other not in recap or (recap[other]["changed"], recap[other]["failed"]) == (0, 0), output


def test_the_previous_config_is_live(host):
    before = _before(lib.name_of(host))
    config = host.file(lib.CONFIG)
    running = host.file(os.path.join(lib.STANDIN_DIR, "running.conf"))
    assert config.content == before
    assert running.content == before
    assert config.mode == 0o640 and config.user == "root"
    for ip in _extra_ips(host):
        assert "smtp-source-host %s " % ip["address"] not in config.content_string
    status = lib.pmta_status(host)
    assert status["sha256"] == hashlib.sha256(before).hexdigest(), status["text"]


def test_first_host_backed_up_the_previous_config_and_reloaded_it_again():
    host = lib.get_host(FIRST)
    before = _before(FIRST)
    good = hashlib.sha256(before).hexdigest()
    backups = sorted(host.file(lib.BACKUP_DIR).listdir())
    assert backups, "no backup in %s" % lib.BACKUP_DIR
    assert host.file(os.path.join(lib.BACKUP_DIR, backups[-1])).content == before
    attempts = lib.reloads(host)
    # converge's reload, the failed reload of the new config, the reload of the restored one
    assert [r["ok"] for r in attempts] == [True, False, True], attempts
    assert attempts[1]["sha256"] != good
    assert any("too many virtual MTAs for this license" in e for e in attempts[1]["errors"])
    assert attempts[0]["sha256"] == attempts[2]["sha256"] == good
    assert not host.file(os.path.join(lib.STANDIN_DIR, "fail-reload-once")).exists
    status = lib.pmta_status(host)
    assert (status["ok"], status["failed"]) == (2, 1), status["text"]


@pytest.mark.parametrize("name", LATER)
def test_later_hosts_were_not_touched(name):
    host = lib.get_host(name)
    # only converge's reload; no backup: the new config was never written there
    assert [r["ok"] for r in lib.reloads(host)] == [True]
    assert host.file(lib.BACKUP_DIR).listdir() == []
