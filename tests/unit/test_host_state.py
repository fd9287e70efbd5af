"""module_utils/host_state.py directly: observe (warmup + health + ledger in one call), read, write.

The module host_state is a thin wrapper around these functions (tests/unit/test_host_state_module.py
runs it through ansible-playbook); here every branch is reached without Ansible.
"""
import datetime
import json
import os
import stat

import pytest

import acctgen
from ansible_collections.mailfleet.fleet.plugins.module_utils import host_state
from ansible_collections.mailfleet.fleet.plugins.module_utils.health import dump_health_states
from ansible_collections.mailfleet.fleet.plugins.module_utils.states import dump_states

IPS = ["192.0.2.10", "192.0.2.11"]
WARM = {"192.0.2.10": {"version": 1, "stage_index": 2, "stage_since": "2026-11-20", "standby": False,
                       "standby_since": None, "last_sent": "2026-11-21", "rewarm": None,
                       "planned_on": "2026-11-21", "action": "hold", "daily": 500, "base": None}}


def _acct(tmp_path, n=200):
    acct = tmp_path / "pmta"
    acct.mkdir()
    start = datetime.datetime.utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    gen = acctgen.AcctGen(seed=7, start=start, step_seconds=5)
    exp = gen.write(str(acct / "acct-2026-01-01-0001.csv"), n)
    return acct, exp


def _ledger(acct):
    return {"acct_dir": str(acct), "days": 3, "keep_days": 30, "vmta_ips": acctgen.VMTA_IPS}


def test_observe_empty_host_has_no_state_and_says_there_is_no_accounting(tmp_path):
    observed, changed, warnings, diff = host_state.observe(str(tmp_path / "state"), IPS,
                                                           _ledger(tmp_path / "missing"))
    assert observed["warmup"] == {} and observed["health"] == {}
    assert observed["ledger"] == {} and observed["ledger_read"] is False and observed["ledger_files"] == []
    assert observed["warmup_file"] == {"path": str(tmp_path / "state" / "warmup-state.json"), "problems": [],
                                       "refused": {}}
    assert changed is False and diff is None
    assert len(warnings) == 1 and str(tmp_path / "missing") in warnings[0] and "no accounting file" in warnings[0]
    assert not (tmp_path / "state").exists()   # an observation without accounting writes nothing


def test_observe_is_what_the_separate_reads_return(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    (state / "warmup-state.json").write_text(dump_states(WARM))
    health = {"192.0.2.10": {"listings": {}, "standby": False, "standby_since": None, "clean_checks": 3,
                             "version": 1}}
    (state / "health-state.json").write_text(dump_health_states(health))
    observed, _changed, warnings, _diff = host_state.observe(str(state), IPS)
    warm = host_state.read("warmup", str(state / "warmup-state.json"))
    hlth = host_state.read("health", str(state / "health-state.json"), IPS, warm["states"])
    assert observed["warmup"] == warm["states"] == WARM
    assert observed["health"] == hlth["states"]
    assert observed["ledger_read"] is False        # no ledger asked for
    assert warnings == [] or all("health" in w for w in warnings)


@pytest.mark.parametrize("text", ["", "{", '{"version": 9, "ips": {}}', "[]", '{"version": 1, "ips": []}'])
def test_observe_corrupt_health_is_fail_closed_and_named(tmp_path, text):
    state = tmp_path / "state"
    state.mkdir()
    (state / "warmup-state.json").write_text(dump_states(WARM))
    (state / "health-state.json").write_text(text)
    observed, _c, warnings, _d = host_state.observe(str(state), IPS, on_corrupt="reset")
    assert observed["health_file"]["problems"]
    # every IP of the host gets a fail-closed health: the standby its warmup state records, and
    # standby when that is unknown (192.0.2.11 has no warmup state)
    assert observed["health"]["192.0.2.10"]["standby"] is False
    assert observed["health"]["192.0.2.11"]["standby"] is True
    assert any(str(state / "health-state.json") in w for w in warnings)
    with pytest.raises(host_state.HostStateError) as err:
        host_state.observe(str(state), IPS, on_corrupt="fail")
    assert "health state" in err.value.msg and str(state / "health-state.json") in err.value.msg


def test_observe_refused_ip_is_reported_not_used(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    bad = dict(WARM, **{"192.0.2.11": dict(WARM["192.0.2.10"], stage_index="two")})
    (state / "warmup-state.json").write_text(json.dumps({"version": 1, "ips": bad}))
    observed, _c, warnings, _d = host_state.observe(str(state), IPS)
    assert set(observed["warmup"]) == {"192.0.2.10"}
    assert set(observed["warmup_file"]["refused"]) == {"192.0.2.11"}
    assert any("192.0.2.11" in w for w in warnings)
    with pytest.raises(host_state.HostStateError) as err:
        host_state.observe(str(state), IPS, on_corrupt="fail")
    assert "warmup state" in err.value.msg and "192.0.2.11" in err.value.msg


def test_observe_unreadable_state_file_fails_naming_it(tmp_path):
    state = tmp_path / "state"
    (state / "warmup-state.json").mkdir(parents=True)     # a directory where the file should be
    with pytest.raises(host_state.HostStateError) as err:
        host_state.observe(str(state), IPS)
    assert "cannot read" in err.value.msg and "warmup-state.json" in err.value.msg


def test_observe_ledger_check_mode_writes_nothing_then_counts_once(tmp_path):
    acct, exp = _acct(tmp_path)
    state = tmp_path / "state"
    observed, changed, _w, diff = host_state.observe(str(state), IPS, _ledger(acct), check_mode=True, diff=True)
    assert changed is True and observed["ledger_read"] is True
    assert acctgen.flatten_compact(observed["ledger"]) == exp.counts
    assert diff and "before" in diff and "after" in diff
    assert not state.exists()                       # check mode: no directory, no ledger
    observed, changed, _w, _d = host_state.observe(str(state), IPS, _ledger(acct))
    assert changed is True and acctgen.flatten_compact(observed["ledger"]) == exp.counts
    assert observed["ledger_files"] and os.path.isdir(str(state))
    observed, changed, _w, _d = host_state.observe(str(state), IPS, _ledger(acct))
    assert changed is False and acctgen.flatten_compact(observed["ledger"]) == exp.counts


BAD_LEDGER_OPTIONS = [({"days": 0}, "days"), ({"keep_days": 0}, "keep_days"), ({"since": "22/11/2026"}, "since"),
                      ({"acct_columns": ["rcpt"]}, "acct_columns"), ({"vmta_ips": {"v1": ""}}, "vmta_ips"),
                      ({"providers": {"nosuch": {"domains": []}}}, "providers"), ({"days": "7"}, "days")]


@pytest.mark.parametrize("bad,word", BAD_LEDGER_OPTIONS)
def test_observe_bad_ledger_options_fail_naming_the_option(tmp_path, bad, word):
    acct, _exp = _acct(tmp_path, 10)
    with pytest.raises(host_state.HostStateError) as err:
        host_state.observe(str(tmp_path / "state"), IPS, dict(_ledger(acct), **bad))
    assert word in err.value.msg


def test_write_check_mode_diff_idempotence_and_mode(tmp_path):
    path = tmp_path / "sub" / "warmup-state.json"
    res = host_state.write("warmup", str(path), WARM, "0640", check_mode=True, diff=True)
    assert res["changed"] and not path.exists() and res["diff"]["before"] == ""
    assert json.loads(res["diff"]["after"])["ips"] == WARM
    res = host_state.write("warmup", str(path), WARM, "0640")
    assert res["changed"] and path.read_text() == dump_states(WARM)
    assert stat.S_IMODE(os.stat(str(path)).st_mode) == 0o640
    assert host_state.write("warmup", str(path), WARM, "0640")["changed"] is False
    assert host_state.write("warmup", str(path), WARM, "0600", check_mode=True)["changed"] is True
    assert stat.S_IMODE(os.stat(str(path)).st_mode) == 0o640          # check mode changed nothing
    assert host_state.write("warmup", str(path), WARM, "0600")["changed"] is True
    assert stat.S_IMODE(os.stat(str(path)).st_mode) == 0o600


@pytest.mark.parametrize("states,mode", [({"192.0.2.10": {1, 2}}, "0640"), (WARM, "rw-r"), (WARM, "0999")])
def test_write_refuses_bad_states_or_mode_and_writes_nothing(tmp_path, states, mode):
    path = tmp_path / "warmup-state.json"
    with pytest.raises(host_state.HostStateError) as err:
        host_state.write("warmup", str(path), states, mode)
    assert "write refused" in err.value.msg and str(path) in err.value.msg
    assert not path.exists()


def test_write_health_uses_the_health_codec(tmp_path):
    path = tmp_path / "health-state.json"
    health = {"192.0.2.10": {"listings": {}, "standby": False, "standby_since": None, "clean_checks": 1,
                             "version": 1}}
    host_state.write("health", str(path), health, "0640")
    assert path.read_text() == dump_health_states(json.loads(json.dumps(health)))


def _params(**over):
    p = dict(state="read", state_dir="/nonexistent", kind="warmup", path=None, states=None, on_corrupt="fail",
             ips=[], warmup_states={}, ledger=None, fact=None, mode="0644")
    p.update(over)
    return p


def test_run_dispatches_and_publishes_the_fact(tmp_path):
    state = tmp_path / "state"
    result, _w = host_state.run(_params(state="write", state_dir=str(state), states=WARM, mode="0640"))
    assert result["changed"] and result["path"] == str(state / "warmup-state.json")
    result, _w = host_state.run(_params(state_dir=str(state)))
    assert result == {"path": str(state / "warmup-state.json"), "exists": True, "corrupt": False,
                      "states": WARM, "problems": [], "refused": {}, "changed": False}
    result, _w = host_state.run(_params(state="observe", state_dir=str(state), ips=IPS, fact="fleet_state_observed"))
    assert result["ansible_facts"] == {"fleet_state_observed": result["observed"]}
    assert result["observed"]["warmup"] == WARM and result["changed"] is False
    result, _w = host_state.run(_params(state="observe", state_dir=str(state)))
    assert "ansible_facts" not in result
