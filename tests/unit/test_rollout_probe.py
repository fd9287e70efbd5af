"""The rollout probe: module_utils/rollout_probe.py (on the host) and the digests of its action plugin.

A host the probe calls in sync is skipped by the serial rollout, so every kind of difference the
rollout would make must show (a false "in sync" would leave a host on an old configuration), and
the digests made on the controller must be exactly those of the bytes the deploy and host_state
write (or every host would always be "out of sync" and the probe would save nothing).
"""
import grp
import hashlib
import json
import os
import pwd
import shutil

import pytest

from ansible_collections.mailfleet.fleet.plugins.action.rollout_probe import config_digest, states_digest
from ansible_collections.mailfleet.fleet.plugins.module_utils import host_state
from ansible_collections.mailfleet.fleet.plugins.module_utils.pmta_deploy import Request
from ansible_collections.mailfleet.fleet.plugins.module_utils.rollout_probe import pending, probe

CONFIG = "# mailfleet\nhttp-mgmt-port 8080\n<virtual-mta alpha-1>\n</virtual-mta>\n"
KEY = b"-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n"
WARM = {"192.0.2.10": {"version": 1, "stage_index": 1, "stage_since": "2026-11-20", "standby": False,
                       "standby_since": None, "last_sent": None, "rewarm": None, "planned_on": "2026-11-22",
                       "action": "advance", "daily": 200, "base": None}}


def _sha(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def host(tmp_path):
    """A host the rollout left in sync, and the spec the action plugin would send for it."""
    etc, dkim, state = tmp_path / "etc", tmp_path / "etc" / "dkim", tmp_path / "state"
    for d, mode in ((etc, 0o755), (dkim, 0o750), (state, 0o750)):
        d.mkdir(exist_ok=True)
        os.chmod(str(d), mode)
    (etc / "config").write_bytes(Request(content=CONFIG.rstrip("\n")).data)
    (dkim / "alpha.s1.pem").write_bytes(KEY)
    os.chmod(str(dkim / "alpha.s1.pem"), 0o640)
    (etc / "local.conf").write_text("")
    host_state.write("warmup", str(state / "warmup-state.json"), WARM, "0640")
    me, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    spec = {
        "config": {"path": str(etc / "config"), "sha256": config_digest(CONFIG.rstrip("\n"))},
        "journal": str(state / "pmta-reload.journal"),
        "files": [{"path": str(dkim / "alpha.s1.pem"), "sha256": _sha(KEY), "mode": "0640", "owner": me,
                   "group": group, "what": "DKIM key"}],
        "state_files": [{"path": str(state / "warmup-state.json"), "sha256": states_digest("warmup", WARM),
                         "mode": "0640", "what": "warmup state"}],
        "dirs": [{"path": str(etc), "mode": "0755", "owner": me}, {"path": str(dkim), "mode": "0750", "group": group},
                 {"path": str(state), "mode": "0750"}],
        "present": [str(etc / "local.conf")],
        "only": [{"dir": str(dkim), "patterns": ["*.pem"], "keep": [str(dkim / "alpha.s1.pem")]}],
    }
    return tmp_path, spec


def test_in_sync_host_has_nothing_pending(host):
    _root, spec = host
    assert pending(spec) == []
    assert probe(spec) == {"deploy": [], "states": []}


def test_state_files_alone_never_ask_for_a_deploy_and_the_rest_always_does(host):
    """Only the state files may differ for a host to skip the serial deploy (its states are then
    stored at once); everything else is the deploy's."""
    root, spec = host
    state = root / "state"
    host_state.write("warmup", str(state / "warmup-state.json"), {"192.0.2.10": dict(WARM["192.0.2.10"], daily=9)},
                     "0640")
    found = probe(spec)
    assert found["deploy"] == [] and len(found["states"]) == 1 and "warmup state" in found["states"][0]
    (root / "etc" / "config").write_text("changed\n")
    found = probe(spec)
    assert len(found["deploy"]) == 1 and len(found["states"]) == 1
    assert pending(spec) == found["deploy"] + found["states"]


def test_config_digest_is_the_bytes_the_deploy_writes():
    for text in (CONFIG, CONFIG.rstrip("\n"), "", "x\n\n"):
        assert config_digest(text) == _sha(Request(content=text).data)


def test_states_digest_is_the_file_host_state_writes(tmp_path):
    health = {"192.0.2.10": {"listings": {}, "standby": False, "standby_since": None, "clean_checks": 2,
                             "version": 1}}
    for kind, states in (("warmup", WARM), ("health", health), ("warmup", {})):
        path = tmp_path / ("%s.json" % kind)
        host_state.write(kind, str(path), states, "0640")
        assert states_digest(kind, states) == _sha(path.read_bytes())
    with pytest.raises(ValueError):
        states_digest("ledger", {})


def _changed(spec, edit):
    edit()
    return pending(spec)


@pytest.mark.parametrize("case,word", [
    ("journal", "reload owed since 2026-11-21T05:15:02+00:00"),
    ("journal_garbage", "reload owed since an earlier run"),
    ("config_differs", "differs from the rendered one"),
    ("config_missing", "configuration"),
    ("leftover", "temporary file of an interrupted deploy"),
    ("key_differs", "DKIM key"),
    ("key_missing", "missing"),
    ("key_mode", "mode 0644, the rollout makes it 0640"),
    ("state_differs", "warmup state"),
    ("state_mode", "mode 0600"),
    ("dir_missing", "directory"),
    ("dir_mode", "mode 0777"),
    ("dir_is_file", "not a directory"),
    ("local_missing", "local.conf: missing"),
    ("stale_key", "old.s0.pem: no longer used"),
])
def test_every_difference_the_rollout_would_make_shows(host, case, word):
    root, spec = host
    etc, dkim, state = root / "etc", root / "etc" / "dkim", root / "state"
    edits = {
        "journal": lambda: (state / "pmta-reload.journal").write_text(
            json.dumps({"since": "2026-11-21T05:15:02+00:00", "version": 1})),
        "journal_garbage": lambda: (state / "pmta-reload.journal").write_text("{"),
        "config_differs": lambda: (etc / "config").write_text(CONFIG + "# edited by hand\n"),
        "config_missing": lambda: (etc / "config").unlink(),
        "leftover": lambda: (etc / ".config.abc123.tmp").write_text("half"),
        "key_differs": lambda: (dkim / "alpha.s1.pem").write_bytes(KEY + b"\n"),
        "key_missing": lambda: (dkim / "alpha.s1.pem").unlink(),
        "key_mode": lambda: os.chmod(str(dkim / "alpha.s1.pem"), 0o644),
        "state_differs": lambda: host_state.write("warmup", str(state / "warmup-state.json"),
                                                  {"192.0.2.10": dict(WARM["192.0.2.10"], daily=500)}, "0640"),
        "state_mode": lambda: os.chmod(str(state / "warmup-state.json"), 0o600),
        "dir_missing": lambda: shutil.rmtree(str(state)),
        "dir_mode": lambda: os.chmod(str(state), 0o777),
        "dir_is_file": None,
        "local_missing": lambda: (etc / "local.conf").unlink(),
        "stale_key": lambda: (dkim / "old.s0.pem").write_bytes(KEY),
    }
    if case == "dir_is_file":
        spec["dirs"].append({"path": str(etc / "local.conf")})
        found = pending(spec)
    else:
        found = _changed(spec, edits[case])
    assert found, case
    assert any(word in line for line in found), found


def test_hidden_kept_and_unmatched_files_are_not_pruned(host):
    root, spec = host
    dkim = root / "etc" / "dkim"
    (dkim / ".hidden.pem").write_bytes(KEY)
    (dkim / "notes.txt").write_text("x")
    (dkim / "sub.pem").mkdir()
    assert pending(spec) == []


def test_unknown_owner_or_group_is_a_difference(host):
    _root, spec = host
    spec["files"][0]["owner"] = "mailfleet-no-such-user"
    spec["dirs"][1]["group"] = "mailfleet-no-such-group"
    found = pending(spec)
    assert any("owner mailfleet-no-such-user does not exist" in line for line in found)
    assert any("group mailfleet-no-such-group does not exist" in line for line in found)


def test_unreadable_things_are_differences_never_in_sync(host):
    root, spec = host
    if os.getuid() == 0:
        # root reads everything: make the paths unreadable by making them the wrong kind instead
        (root / "etc" / "config").unlink()
        (root / "etc" / "config").mkdir()
        (root / "state" / "pmta-reload.journal").mkdir()
    else:
        os.chmod(str(root / "etc" / "config"), 0)
        (root / "state" / "pmta-reload.journal").write_text("{}")
        os.chmod(str(root / "state" / "pmta-reload.journal"), 0)
    found = pending(spec)
    assert any("configuration" in line and "cannot be read" in line for line in found), found
    assert any("reload" in line for line in found), found


def test_no_spec_parts_means_nothing_to_compare():
    assert pending({}) == []
    assert pending({"journal": None, "dirs": [], "files": [], "present": [], "only": []}) == []
