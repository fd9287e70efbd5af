"""tests/hostlab: real SSH test hosts from Linux namespaces, driven by real Ansible and testinfra."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOSTLAB_DIR = os.path.join(ROOT, "tests", "hostlab")
HOSTLAB = os.path.join(HOSTLAB_DIR, "hostlab.py")
if HOSTLAB_DIR not in sys.path:
    sys.path.insert(0, HOSTLAB_DIR)

import hostlab  # noqa: E402

VENV_BIN = os.path.join(ROOT, ".venv", "bin")
if not os.path.isdir(VENV_BIN):
    VENV_BIN = os.path.dirname(sys.executable)
BINDS = ["/etc/pmta", "/var/lib/mailfleet", "/var/log/pmta"]
# unique per test process, so parallel runs on one machine do not collide (<= 6 chars with suffix)
PREFIX = "t%04x" % (os.getpid() & 0xFFFF)

_AVAILABLE = None


def _available():
    global _AVAILABLE
    if _AVAILABLE is None:
        _AVAILABLE = hostlab.available()
    return _AVAILABLE


@pytest.fixture
def need_lab():
    ok, why = _available()
    if not ok:
        pytest.skip("hostlab unavailable: %s" % why)
    hostlab.gc()          # labs left by crashed test processes


def ansible_env():
    env = dict(os.environ)
    env["PATH"] = VENV_BIN + os.pathsep + env.get("PATH", "")
    env["ANSIBLE_CONFIG"] = os.path.join(ROOT, "ansible.cfg")
    env["ANSIBLE_DEPRECATION_WARNINGS"] = "false"
    return env


def ansible(inventory, module, args=None, pattern="all"):
    argv = [os.path.join(VENV_BIN, "ansible"), "-i", inventory, pattern, "-m", module]
    if args:
        argv += ["-a", args]
    proc = subprocess.run(argv, capture_output=True, text=True, env=ansible_env(), cwd=ROOT, timeout=120)
    assert proc.returncode == 0, "ansible %s failed:\n%s\n%s" % (module, proc.stdout, proc.stderr)
    return proc.stdout


def live_pids_mentioning(text):
    """Non-zombie processes whose command line mentions `text`."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode("utf-8", "replace")
            with open("/proc/%s/stat" % entry) as fh:
                st = fh.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmd and st != "Z":
            out.append((int(entry), cmd))
    return out


def assert_clean(state, missing_before):
    """Nothing of a lab is left: namespaces, veths, processes, mount points, registry entry."""
    prefix = state["prefix"]
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    for h in state["hosts"]:
        assert h["netns"] not in netns.split(), "netns %s left" % h["netns"]
        assert (" %s:" % h["veth"]) not in links and (" %s@" % h["veth"]) not in links, "veth %s left" % h["veth"]
    deadline = time.monotonic() + 3
    while live_pids_mentioning(state["workdir"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert live_pids_mentioning(state["workdir"]) == []
    assert live_pids_mentioning("/run/mailfleet-hostlab/cp-%s/" % prefix) == []
    for path in missing_before:
        assert not os.path.exists(path), "mount point %s created by the lab was left" % path
    assert not os.path.exists(os.path.join(hostlab.REGISTRY_DIR, "%s.json" % prefix))
    assert not os.path.exists(os.path.join(hostlab.REGISTRY_DIR, "cp-%s" % prefix))


def registered_mountpoints():
    return set(hostlab._mp_registry())


def test_validation_errors(tmp_path):
    with pytest.raises(hostlab.LabError, match="outside 198.18.0.0/15"):
        hostlab.Lab(str(tmp_path), "mf", ["a"], subnet_base="10.0")
    with pytest.raises(hostlab.LabError, match="prefix"):
        hostlab.Lab(str(tmp_path), "Bad-Prefix!", ["a"])
    with pytest.raises(hostlab.LabError, match="duplicate"):
        hostlab.Lab(str(tmp_path), "mf", ["a", "a"])
    with pytest.raises(hostlab.LabError, match="host name"):
        hostlab.Lab(str(tmp_path), "mf", ["bad_name"])
    assert hostlab.bind_dir_name("/var/lib/mailfleet") == "var-lib-mailfleet"


def test_two_hosts_ansible_and_testinfra(need_lab, tmp_path, monkeypatch):
    missing_before = [p for p in BINDS if not os.path.exists(p)] if not registered_mountpoints() else []
    runner_x_before = os.path.exists("/etc/pmta/x")
    lab = hostlab.Lab(str(tmp_path / "lab"), PREFIX + "a", ["pmta-1", "pmta-2"], BINDS,
                      subnet_base="198.19", first="auto")
    t0 = time.monotonic()
    with lab:
        t_up = time.monotonic() - t0
        inv = lab.inventory_path
        assert os.path.exists(inv) and os.path.exists(lab.state_path)
        state = json.load(open(lab.state_path))
        assert state["status"] == "up" and len(state["hosts"]) == 2
        addrs = {h["name"]: h["host_ip"] for h in state["hosts"]}
        assert all(a.startswith("198.19.") and a.endswith(".2") for a in addrs.values())

        # real Ansible over real SSH
        out = ansible(inv, "ansible.builtin.ping")
        assert out.count("SUCCESS") == 2 and out.count("pong") == 2
        ansible(inv, "ansible.builtin.copy", "content='hello from ansible\n' dest=/etc/pmta/x mode=0640")
        for host in ("pmta-1", "pmta-2"):
            own = os.path.join(lab.host_dir(host), "etc-pmta", "x")
            assert lab.host_path(host, "/etc/pmta/x") == own
            with open(own) as fh:
                assert fh.read() == "hello from ansible\n"
        assert os.path.exists("/etc/pmta/x") == runner_x_before, "the copy leaked onto the runner's /etc/pmta"
        out = ansible(inv, "ansible.builtin.command", "hostname")
        assert "pmta-1 | CHANGED | rc=0 >>\npmta-1" in out and "pmta-2 | CHANGED | rc=0 >>\npmta-2" in out

        # files written over plain ssh land in the host's own dir too, per host
        lab.ssh("pmta-2", "echo only-2 > /var/lib/mailfleet/marker")
        assert open(lab.host_path("pmta-2", "/var/lib/mailfleet/marker")).read() == "only-2\n"
        assert not os.path.exists(lab.host_path("pmta-1", "/var/lib/mailfleet/marker"))
        assert lab.ssh("pmta-1", "hostname").stdout.strip() == "pmta-1"

        # testinfra: ssh backend, and ansible backend reading the generated inventory
        ti = lab.testinfra_host("pmta-1", backend="ssh")
        assert ti.file("/etc/pmta/x").content_string == "hello from ansible\n"
        assert ti.check_output("hostname") == "pmta-1"
        monkeypatch.setenv("PATH", VENV_BIN + os.pathsep + os.environ.get("PATH", ""))
        monkeypatch.setenv("ANSIBLE_CONFIG", os.path.join(ROOT, "ansible.cfg"))
        import testinfra
        ti2 = testinfra.get_host("ansible://pmta-2?ansible_inventory=%s" % inv)
        assert ti2.file("/etc/pmta/x").mode == 0o640
        assert ti2.check_output("hostname") == "pmta-2"
        assert ti2.file("/var/lib/mailfleet/marker").exists
        t1 = time.monotonic()
    t_down = time.monotonic() - t1
    print("\nhostlab timings: up %.2fs, down %.2fs" % (t_up, t_down))
    assert t_up < 10 and t_down < 10
    assert not os.path.exists(inv)
    assert_clean(state, missing_before)
    lab.down()                          # twice is fine
    assert_clean(state, missing_before)


def _cli(*args, check=True):
    proc = subprocess.run([sys.executable, HOSTLAB] + list(args), capture_output=True, text=True, timeout=120)
    if check:
        assert proc.returncode == 0, "hostlab %s failed:\n%s\n%s" % (args, proc.stdout, proc.stderr)
    return proc


def test_cli_crash_leftovers_and_down(need_lab, tmp_path):
    missing_before = [p for p in BINDS if not os.path.exists(p)] if not registered_mountpoints() else []
    w = str(tmp_path / "cli")
    prefix = PREFIX + "b"
    try:
        _cli("up", "--workdir", w, "--prefix", prefix, "--hosts", "pmta-1,pmta-2",
             "--subnet-base", "198.19", "--first", "auto", "--group", "pmta",
             *sum((["--bind", b] for b in BINDS), []))
        state = json.load(open(os.path.join(w, "state.json")))
        assert state["owner"] is None                     # a CLI lab outlives the CLI
        assert "  children:\n    pmta:\n" in open(os.path.join(w, "inventory.yml")).read()

        # simulated crash: sshd killed -9, state left behind
        for h in state["hosts"]:
            os.kill(h["pid"], signal.SIGKILL)

        # `up` again with the same prefix from another workdir: the leftovers are found and removed
        w2 = str(tmp_path / "cli2")
        _cli("up", "--workdir", w2, "--prefix", prefix, "--hosts", "pmta-1",
             "--subnet-base", "198.19", "--first", "auto", "--bind", "/etc/pmta")
        state2 = json.load(open(os.path.join(w2, "state.json")))
        assert json.load(open(os.path.join(w, "state.json")))["status"] == "down"
        ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
        assert [n for n in ns if n.startswith(prefix + "h")] == [state2["hosts"][0]["netns"]]
        # a late `down` of the crashed lab must not touch the new lab that now owns the prefix
        _cli("down", "--workdir", w)
        ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
        assert state2["hosts"][0]["netns"] in ns
        assert hostlab._banner(state2["hosts"][0]["host_ip"])

        # crash the second one too, then down (twice)
        os.kill(state2["hosts"][0]["pid"], signal.SIGKILL)
        _cli("down", "--workdir", w2)
        _cli("down", "--workdir", w2)
        assert_clean(state2, missing_before)
        assert_clean(state, missing_before)
        _cli("down", "--workdir", w)                     # already torn down: still fine
    finally:
        _cli("down", "--prefix", prefix, check=False)


def test_failed_up_leaves_nothing(need_lab, tmp_path):
    # /etc/hostname is a file: up fails after the network was created, and must undo it
    lab = hostlab.Lab(str(tmp_path / "bad"), PREFIX + "c", ["pmta-1"], ["/etc/hostname"],
                      subnet_base="198.19", first="auto")
    with pytest.raises(hostlab.LabError, match="not a directory"):
        lab.up()
    assert lab.state["status"] == "down"
    assert_clean(lab.state, [])


def test_gc_after_owner_died(need_lab, tmp_path):
    """A test process that dies with its lab up: gc() (run by every test's fixture) removes it."""
    missing_before = [] if registered_mountpoints() or os.path.exists("/etc/pmta") else ["/etc/pmta"]
    w = str(tmp_path / "orphan")
    code = ("import sys, os; sys.path.insert(0, %r); import hostlab; "
            "lab = hostlab.Lab(%r, %r, ['pmta-1'], ['/etc/pmta'], '198.19', first='auto'); "
            "lab.up(); os._exit(0)" % (HOSTLAB_DIR, w, PREFIX + "d"))
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    state = json.load(open(os.path.join(w, "state.json")))
    assert state["status"] == "up" and state["owner"]["pid"]
    assert hostlab._banner(state["hosts"][0]["host_ip"])     # sshd outlived its owner
    assert PREFIX + "d" in hostlab.gc()
    assert_clean(state, missing_before)


def test_prefix_of_a_live_lab_is_refused(need_lab, tmp_path):
    """Another process's live lab is never torn down by a new `up` with the same prefix."""
    prefix = PREFIX + "e"
    code = ("import sys; sys.path.insert(0, %r); import hostlab; "
            "lab = hostlab.Lab(%r, %r, ['pmta-1'], [], '198.19', first='auto'); lab.up(); "
            "print('ready', flush=True); sys.stdin.read(); lab.down()"
            % (HOSTLAB_DIR, str(tmp_path / "owner"), prefix))
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        state = json.load(open(str(tmp_path / "owner" / "state.json")))
        other = hostlab.Lab(str(tmp_path / "other"), prefix, ["pmta-1"], [], "198.19", first="auto")
        with pytest.raises(hostlab.LabError, match="in use by a lab of live process %d" % child.pid):
            other.up()
        assert hostlab._banner(state["hosts"][0]["host_ip"]), "the live lab was damaged"
    finally:
        child.stdin.close()
        child.wait(timeout=30)
    assert child.returncode == 0
    assert_clean(state, [])
