#!/usr/bin/env python3
"""hostlab: real SSH test hosts made of Linux namespaces (no Docker).

Each host is a network namespace joined to the runner by a veth pair
(runner side ``<base>.N.1/24``, host side ``<base>.N.2/24``), plus a private
mount + UTS namespace with its own host name and its own directories
bind-mounted over real paths (``/etc/pmta``, ``/var/lib/mailfleet``, ...), in
which an ``sshd`` listens on ``<base>.N.2:22``.  Everything else (binaries,
``/usr/bin/python3``, ``/root``) is the runner's own root file system.
Follows docs of shared/reference/test-hosts.md.

Library::

    from hostlab import Lab, available
    ok, why = available()
    with Lab("/tmp/lab", prefix="mf", hosts=["pmta-1", "pmta-2"],
             binds=["/etc/pmta", "/var/lib/mailfleet"]) as lab:
        lab.ssh("pmta-1", "hostname").stdout       # 'pmta-1\\n'
        lab.inventory_path                          # /tmp/lab/inventory.yml
        lab.host_path("pmta-1", "/etc/pmta/x")      # /tmp/lab/pmta-1/etc-pmta/x
        lab.testinfra_host("pmta-1")                # testinfra Host (ssh backend)

CLI::

    hostlab.py up   --workdir DIR --prefix mf --hosts pmta-1,pmta-2 \\
                    [--bind /etc/pmta ...] [--subnet-base 198.18] [--first N|auto] [--group pmta]
    hostlab.py down --workdir DIR          # or: down --prefix mf
    hostlab.py gc                          # tear down labs whose owning process died
    hostlab.py list

Needs root, iproute2 (``ip netns``), util-linux (``unshare``, ``mount``),
``hostname``, openssh-server (``/usr/sbin/sshd``) and openssh-client.
Standard library only.
"""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import ipaddress
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

SSHD = "/usr/sbin/sshd"
REGISTRY_DIR = "/run/mailfleet-hostlab"
LAB_RANGE = ipaddress.ip_network("198.18.0.0/15")
STATE_VERSION = 1
DEFAULT_BINDS = ("/etc/pmta", "/var/lib/mailfleet", "/var/log/pmta")
SSH_COMMON_ARGS = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"

_PREFIX_RE = re.compile(r"^[a-z][a-z0-9]{0,5}$")
_HOST_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,61}[A-Za-z0-9])?$")


class LabError(RuntimeError):
    """A lab could not be brought up or torn down (the message says which object and step)."""


# --------------------------------------------------------------------------- helpers

def _run(argv, check=True, timeout=30, input=None):
    """Run a command, capture text output; raise LabError naming the command on failure."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=input)
    except FileNotFoundError as exc:
        raise LabError("command not found: %s" % argv[0]) from exc
    except subprocess.TimeoutExpired as exc:
        raise LabError("timed out after %ss: %s" % (timeout, " ".join(argv))) from exc
    if check and proc.returncode != 0:
        raise LabError("%s failed (rc=%s): %s" % (" ".join(argv), proc.returncode,
                                                   (proc.stderr or proc.stdout).strip()))
    return proc


def _atomic_write(path, text, mode=0o644):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as fh:
        fh.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _proc_start_time(pid):
    """Start time of a process (jiffies since boot), or None if it does not exist."""
    try:
        with open("/proc/%d/stat" % pid) as fh:
            data = fh.read()
    except (OSError, ValueError, TypeError):
        return None
    try:
        return int(data.rsplit(")", 1)[1].split()[19])
    except (IndexError, ValueError):
        return None


def _owner_alive(owner):
    if not owner:
        return False
    start = _proc_start_time(owner.get("pid"))
    return start is not None and start == owner.get("start")


def _pid_alive(pid):
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie is as good as dead
    try:
        with open("/proc/%d/stat" % pid) as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def _netns_inode(name):
    try:
        return os.stat("/run/netns/%s" % name).st_ino
    except OSError:
        return None


def _pid_netns_inode(pid):
    try:
        return os.stat("/proc/%d/ns/net" % pid).st_ino
    except OSError:
        return None


def _kill_pids(pids, wait=3.0):
    """SIGKILL the given pids and wait until they are gone (zombies count as gone)."""
    pids = [p for p in set(pids) if p and p != os.getpid()]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        # reap our own children, if any, so they do not linger as zombies
        for pid in pids:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)
        if not any(_pid_alive(p) for p in pids):
            return []
        time.sleep(0.02)
    return [p for p in pids if _pid_alive(p)]


def _list_netns():
    out = _run(["ip", "netns", "list"], check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _list_links():
    out = _run(["ip", "-o", "link", "show"], check=False).stdout
    names = []
    for line in out.splitlines():
        parts = line.split(":", 2)
        if len(parts) >= 2:
            names.append(parts[1].strip().split("@", 1)[0])
    return names


def _netns_pids(name):
    out = _run(["ip", "netns", "pids", name], check=False).stdout
    return [int(x) for x in out.split() if x.isdigit()]


def _python_interpreter():
    for cand in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.access(cand, os.X_OK):
            return cand
    return None


@contextlib.contextmanager
def _global_lock():
    os.makedirs(REGISTRY_DIR, mode=0o700, exist_ok=True)
    with open(os.path.join(REGISTRY_DIR, "lock"), "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _registry_path(prefix):
    return os.path.join(REGISTRY_DIR, "%s.json" % prefix)


def _read_json(path):
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def _registry_entries():
    try:
        names = sorted(os.listdir(REGISTRY_DIR))
    except OSError:
        return []
    out = []
    for name in names:
        if name.endswith(".json") and name != "mountpoints.json":
            data = _read_json(os.path.join(REGISTRY_DIR, name))
            if isinstance(data, dict) and data.get("prefix"):
                out.append(data)
    return out


def _mp_registry():
    data = _read_json(os.path.join(REGISTRY_DIR, "mountpoints.json"))
    return data if isinstance(data, dict) else {}


def _mp_registry_save(data):
    path = os.path.join(REGISTRY_DIR, "mountpoints.json")
    if not data:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    os.makedirs(REGISTRY_DIR, mode=0o700, exist_ok=True)
    _atomic_write(path, json.dumps(data, indent=1, sort_keys=True))


def bind_dir_name(path):
    """Name of the per-host directory backing a bind path: '/var/lib/mailfleet' -> 'var-lib-mailfleet'."""
    return path.strip("/").replace("/", "-")


# --------------------------------------------------------------------------- availability

def available(install=True):
    """(True, '') when labs can run here; (False, reason) otherwise.

    As root, installs Debian's openssh-server when /usr/sbin/sshd is missing, without letting
    Debian start (or leave running) its own ssh service on the runner.
    """
    if os.geteuid() != 0:
        return False, "hostlab needs root (network namespaces, bind mounts)"
    if sys.platform != "linux":
        return False, "hostlab needs Linux namespaces"
    for tool in ("ip", "unshare", "mount", "hostname", "ssh", "ssh-keygen"):
        if shutil.which(tool) is None:
            return False, "hostlab needs the %r command (Debian: iproute2, util-linux, hostname, openssh-client)" % tool
    if not os.access(SSHD, os.X_OK):
        if not install:
            return False, "%s missing (Debian package openssh-server)" % SSHD
        ok, why = _install_sshd()
        if not ok:
            return False, why
    probe = "hlprobe%d" % (os.getpid() % 100000)
    res = _run(["ip", "netns", "add", probe], check=False)
    if res.returncode != 0:
        return False, "cannot create network namespaces: %s" % res.stderr.strip()
    try:
        res = _run(["ip", "netns", "exec", probe, "unshare", "--mount", "--uts", "--propagation",
                    "private", "true"], check=False)
        if res.returncode != 0:
            return False, "cannot create mount/UTS namespaces: %s" % res.stderr.strip()
    finally:
        _run(["ip", "netns", "del", probe], check=False)
    return True, ""


def _ssh_service_active():
    if shutil.which("systemctl") is None:
        return False
    res = _run(["systemctl", "is-active", "ssh"], check=False)
    return res.stdout.strip() == "active"


def _debian_sshd_pid():
    with contextlib.suppress(OSError, ValueError):
        with open("/run/sshd.pid") as fh:
            return int(fh.read().strip())
    return None


def _install_sshd():
    if shutil.which("apt-get") is None:
        return False, "%s missing and apt-get not available (install openssh-server)" % SSHD
    was_active = _ssh_service_active()
    was_running = _pid_alive(_debian_sshd_pid())
    # Keep Debian from starting its own sshd on the runner: policy-rc.d exit 101 = "deny start".
    policy = "/usr/sbin/policy-rc.d"
    created_policy = False
    if not os.path.exists(policy):
        _atomic_write(policy, "#!/bin/sh\n# hostlab: no service starts during install\nexit 101\n", 0o755)
        created_policy = True
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        for argv in (["apt-get", "-o", "DPkg::Lock::Timeout=300", "update", "-qq"],
                     ["apt-get", "-o", "DPkg::Lock::Timeout=300", "install", "-y", "-qq",
                      "--no-install-recommends", "openssh-server"]):
            proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900)
            if proc.returncode != 0 and "install" in argv:
                return False, "apt-get install openssh-server failed: %s" % proc.stderr.strip()[-500:]
    finally:
        if created_policy:
            with contextlib.suppress(OSError):
                os.unlink(policy)
    if not was_active and _ssh_service_active():
        _run(["systemctl", "stop", "ssh"], check=False)
    pid = _debian_sshd_pid()
    if not was_running and _pid_alive(pid) and _cmdline(pid).startswith("sshd: /usr/sbin/sshd"):
        _kill_pids([pid])           # started by the install (no systemd here): not ours to keep
    if not os.access(SSHD, os.X_OK):
        return False, "openssh-server installed but %s still missing" % SSHD
    return True, ""


# --------------------------------------------------------------------------- the lab

class Lab:
    """N SSH test hosts made of namespaces.  See the module docstring."""

    def __init__(self, workdir, prefix="mf", hosts=("pmta-1",), binds=DEFAULT_BINDS,
                 subnet_base="198.18", first=1, groups=(), persistent=False,
                 ready_timeout=15.0, clean_shell=True):
        self.workdir = os.path.abspath(workdir)
        self.prefix = prefix
        self.hosts = list(hosts)
        self.binds = [os.path.normpath(b) for b in binds]
        self.subnet_base = subnet_base
        self.first = first
        self.groups = list(groups)
        self.persistent = persistent
        self.ready_timeout = ready_timeout
        # hide the runner's /root/.bashrc (pyenv, cargo, ...) inside the hosts: sshd's bash sources
        # it for every command, which costs ~0.5 s a command and changes PATH; a real server has none
        self.clean_shell = clean_shell
        self.state = None
        self._procs = {}
        self._validate()

    # ---- paths
    @property
    def inventory_path(self):
        return os.path.join(self.workdir, "inventory.yml")

    @property
    def state_path(self):
        return os.path.join(self.workdir, "state.json")

    @property
    def key_path(self):
        return os.path.join(self.workdir, "id_test")

    @property
    def control_path_dir(self):
        # short on purpose: ssh socket paths are limited to 108 bytes
        return os.path.join(REGISTRY_DIR, "cp-%s" % self.prefix)

    def host_dir(self, host):
        """The runner-side directory holding this host's bind-mounted directories."""
        if host not in self.hosts:
            raise KeyError(host)
        return os.path.join(self.workdir, host)

    def host_path(self, host, path):
        """Runner-side path of a file the host sees at `path` (which must lie under a bind)."""
        path = os.path.normpath(path)
        for bind in sorted(self.binds, key=len, reverse=True):
            if path == bind or path.startswith(bind + "/"):
                return os.path.join(self.host_dir(host), bind_dir_name(bind), os.path.relpath(path, bind))
        raise ValueError("%s is not under any bind of the lab (%s)" % (path, ", ".join(self.binds)))

    def address(self, host):
        return self._host_state(host)["host_ip"]

    def _lab_dir(self, host):
        return os.path.join(self.workdir, ".hostlab", host)

    # ---- validation
    def _validate(self):
        if not _PREFIX_RE.match(self.prefix or ""):
            raise LabError("prefix %r: use 1-6 chars [a-z0-9], starting with a letter" % self.prefix)
        if not self.hosts:
            raise LabError("no hosts given")
        if len(set(self.hosts)) != len(self.hosts):
            raise LabError("duplicate host names: %s" % self.hosts)
        for h in self.hosts:
            if not _HOST_RE.match(h) or h.startswith("."):
                raise LabError("host name %r is not a valid host name" % h)
        try:
            base = ipaddress.ip_network(self.subnet_base + ".0.0/16")
        except ValueError as exc:
            raise LabError("subnet base %r: want two octets such as 198.18" % self.subnet_base) from exc
        if not base.subnet_of(LAB_RANGE):
            raise LabError("subnet base %s is outside 198.18.0.0/15 (reserved for test benches)" % self.subnet_base)
        if self.first != "auto":
            try:
                self.first = int(self.first)
            except (TypeError, ValueError) as exc:
                raise LabError("first %r: an integer 1..254 or 'auto'" % self.first) from exc
            if self.first < 1 or self.first + len(self.hosts) - 1 > 254:
                raise LabError("first=%s with %d hosts leaves 198.x.1-254" % (self.first, len(self.hosts)))
        names = {}
        for b in self.binds:
            if not b.startswith("/") or b == "/":
                raise LabError("bind %r: want an absolute path other than /" % b)
            if b == self.workdir or b.startswith(self.workdir + "/") or self.workdir.startswith(b + "/"):
                raise LabError("bind %s overlaps the workdir %s" % (b, self.workdir))
            n = bind_dir_name(b)
            if n in names:
                raise LabError("binds %s and %s map to the same directory name %s" % (names[n], b, n))
            names[n] = b

    # ---- state
    def _host_state(self, host):
        if not self.state:
            raise LabError("lab %s is not up" % self.prefix)
        for h in self.state["hosts"]:
            if h["name"] == host:
                return h
        raise KeyError(host)

    def _save(self):
        text = json.dumps(self.state, indent=1, sort_keys=True)
        _atomic_write(self.state_path, text)
        os.makedirs(REGISTRY_DIR, mode=0o700, exist_ok=True)
        _atomic_write(_registry_path(self.prefix), text, 0o600)

    # ---- context manager
    def __enter__(self):
        self.up()
        return self

    def __exit__(self, *exc):
        self.down()
        return False

    # ---- up
    def up(self):
        """Create the hosts; on any failure, remove what was created and raise LabError."""
        ok, why = available()
        if not ok:
            raise LabError(why)
        t0 = time.monotonic()
        os.makedirs(self.workdir, exist_ok=True)
        try:
            with _global_lock():
                self._clean_leftovers()
                self._allocate()
                self._make_keys()
                self._make_network()
                self._make_mountpoints()
                self._start_sshds()
            self._wait_ready()
            self._write_inventory()
            self.state["status"] = "up"
            self.state["up_seconds"] = round(time.monotonic() - t0, 3)
            self._save()
        except BaseException:
            with contextlib.suppress(Exception):
                self.down()
            raise
        return self

    def _clean_leftovers(self):
        me = {"pid": os.getpid(), "start": _proc_start_time(os.getpid())}
        # 1. A lab registered under this prefix (e.g. a crashed run).
        reg = _read_json(_registry_path(self.prefix))
        if reg and reg.get("status") != "down":
            if _owner_alive(reg.get("owner")) and reg.get("owner") != me:
                raise LabError("prefix %s is in use by a lab of live process %s (workdir %s); "
                               "use another prefix" % (self.prefix, reg["owner"]["pid"], reg.get("workdir")))
            _teardown(reg)
        # 2. A lab previously brought up in this workdir (possibly under another prefix).
        old = _read_json(self.state_path)
        if old and old.get("status") != "down" and old.get("prefix") != self.prefix:
            if _owner_alive(old.get("owner")) and old.get("owner") != me:
                raise LabError("workdir %s is in use by a lab of live process %s" % (self.workdir, old["owner"]["pid"]))
            _teardown(old)
        # 3. Anything else named after this prefix (state lost).
        _teardown_by_name(self.prefix)

    def _allocate(self):
        n = len(self.hosts)
        used = _used_subnets()
        if self.first == "auto":
            for first in range(1, 255 - n + 1):
                if not any(self._net(first + i) in used for i in range(n)):
                    self.first = first
                    break
            else:
                raise LabError("no %d free /24 blocks left in %s.0.0/16" % (n, self.subnet_base))
        for i in range(n):
            net = self._net(self.first + i)
            if net in used:
                raise LabError("subnet %s is already in use on the runner (%s); choose another "
                               "--subnet-base/--first" % (net, used[net]))
        owner = None if self.persistent else {"pid": os.getpid(), "start": _proc_start_time(os.getpid())}
        self.state = {
            "version": STATE_VERSION, "status": "creating", "prefix": self.prefix,
            "workdir": self.workdir, "subnet_base": self.subnet_base, "first": self.first,
            "binds": self.binds, "owner": owner, "created_mountpoints": [],
            "control_path_dir": self.control_path_dir,
            "hosts": [],
        }
        for i, host in enumerate(self.hosts):
            n_ = self.first + i
            net = self._net(n_)
            self.state["hosts"].append({
                "name": host, "n": n_, "netns": "%sh%d" % (self.prefix, n_),
                "veth": "%sv%d" % (self.prefix, n_), "veth_peer": "%sv%dp" % (self.prefix, n_),
                "runner_ip": str(net[1]), "host_ip": str(net[2]), "prefixlen": net.prefixlen,
                "dir": os.path.join(self.workdir, host),
                "sshd_config": os.path.join(self._lab_dir(host), "sshd_config"),
                "pidfile": os.path.join(self._lab_dir(host), "sshd.pid"),
                "log": os.path.join(self._lab_dir(host), "sshd.log"),
                "pid": None,
            })
        self._save()

    def _net(self, n):
        return ipaddress.ip_network("%s.%d.0/24" % (self.subnet_base, n))

    def _make_keys(self):
        w = self.workdir
        for name in ("id_test", "hostkey"):
            path = os.path.join(w, name)
            if not (os.path.exists(path) and os.path.exists(path + ".pub")):
                for p in (path, path + ".pub"):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(p)
                _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "hostlab-%s" % name, "-f", path])
        os.chmod(self.key_path, 0o600)
        with open(self.key_path + ".pub") as fh:
            _atomic_write(os.path.join(w, "authorized_keys"), fh.read(), 0o600)
        os.makedirs(self.control_path_dir, mode=0o700, exist_ok=True)

    def _make_network(self):
        for h in self.state["hosts"]:
            ns, v, vp = h["netns"], h["veth"], h["veth_peer"]
            _run(["ip", "netns", "add", ns])
            _run(["ip", "link", "add", v, "type", "veth", "peer", "name", vp])
            _run(["ip", "link", "set", vp, "netns", ns])
            _run(["ip", "addr", "add", "%s/%d" % (h["runner_ip"], h["prefixlen"]), "dev", v])
            _run(["ip", "link", "set", v, "up"])
            _run(["ip", "-n", ns, "addr", "add", "%s/%d" % (h["host_ip"], h["prefixlen"]), "dev", vp])
            _run(["ip", "-n", ns, "link", "set", vp, "up"])
            _run(["ip", "-n", ns, "link", "set", "lo", "up"])

    def _make_mountpoints(self):
        mps = _mp_registry()
        for bind in self.binds:
            if os.path.exists(bind) and not os.path.isdir(bind):
                raise LabError("bind %s exists on the runner and is not a directory" % bind)
            # every missing level from the top down, or one another lab created
            parts = bind.strip("/").split("/")
            for i in range(1, len(parts) + 1):
                level = "/" + "/".join(parts[:i])
                if not os.path.isdir(level):
                    os.mkdir(level, 0o755)
                    mps.setdefault(level, [])
                elif level not in mps:
                    continue
                if self.prefix not in mps[level]:
                    mps[level].append(self.prefix)
                if level not in self.state["created_mountpoints"]:
                    self.state["created_mountpoints"].append(level)
                _mp_registry_save(mps)
                self._save()
        for host in self.hosts:
            for bind in self.binds:
                os.makedirs(os.path.join(self.workdir, host, bind_dir_name(bind)), exist_ok=True)

    def _sshd_config(self, h):
        w = self.workdir
        return "\n".join([
            "# hostlab %s: host %s" % (self.prefix, h["name"]),
            "Port 22",
            "ListenAddress %s" % h["host_ip"],
            "HostKey %s" % os.path.join(w, "hostkey"),
            "AuthorizedKeysFile %s" % os.path.join(w, "authorized_keys"),
            "PermitRootLogin prohibit-password",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes",
            "StrictModes no",
            "UsePAM no",
            "UseDNS no",
            "PrintMotd no",
            "PrintLastLog no",
            "MaxStartups 100:30:200",
            "MaxSessions 100",
            "PidFile %s" % h["pidfile"],
            "Subsystem sftp internal-sftp",
            "LogLevel INFO",
            # the post-quantum default (sntrup761) costs ~0.1 s of CPU per connection on each side;
            # test hosts take the classic curve25519 key exchange (still a real SSH handshake)
            "KexAlgorithms curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256",
            "",
        ])

    def _start_sshds(self):
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        for h in self.state["hosts"]:
            os.makedirs(self._lab_dir(h["name"]), exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(h["pidfile"])
            _atomic_write(h["sshd_config"], self._sshd_config(h), 0o600)
            script = ["set -e", "hostname %s" % shlex.quote(h["name"])]
            for bind in self.binds:
                src = os.path.join(h["dir"], bind_dir_name(bind))
                script.append("mount --bind %s %s" % (shlex.quote(src), shlex.quote(bind)))
            if self.clean_shell and os.path.isfile("/root/.bashrc"):
                rc = os.path.join(self._lab_dir(h["name"]), "bashrc")
                _atomic_write(rc, "# hostlab: the host's own (empty) /root/.bashrc\n")
                script.append("mount --bind %s /root/.bashrc" % shlex.quote(rc))
            script.append("exec %s -D -f %s -E %s" % (SSHD, shlex.quote(h["sshd_config"]), shlex.quote(h["log"])))
            argv = ["ip", "netns", "exec", h["netns"], "unshare", "--mount", "--uts",
                    "--propagation", "private", "--", "sh", "-c", "; ".join(script)]
            with open(os.path.join(self._lab_dir(h["name"]), "start.log"), "w") as log:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                        start_new_session=True, close_fds=True)
            # ip netns exec, unshare and sh all exec: this pid becomes the sshd
            self._procs[h["name"]] = proc
            h["pid"] = proc.pid
            self._save()

    def _wait_ready(self):
        deadline = time.monotonic() + self.ready_timeout
        pending = {h["name"]: h for h in self.state["hosts"]}
        while pending:
            for name, h in list(pending.items()):
                proc = self._procs.get(name)
                if proc is not None and proc.poll() is not None:
                    raise LabError("sshd of host %s exited (rc=%s): %s" % (name, proc.returncode, self._logs(h)))
                if _banner(h["host_ip"]):
                    del pending[name]
            if pending and time.monotonic() > deadline:
                raise LabError("sshd not answering on %s after %ss: %s" % (
                    ", ".join("%s (%s)" % (n, h["host_ip"]) for n, h in pending.items()),
                    self.ready_timeout, "; ".join(self._logs(h) for h in pending.values())))
            if pending:
                time.sleep(0.02)
        # a real login on every host, in parallel
        errors = []

        def login(h):
            res = self.ssh(h["name"], "true", check=False, timeout=self.ready_timeout)
            if res.returncode != 0:
                errors.append("%s: ssh login failed (rc=%s): %s" % (h["name"], res.returncode, res.stderr.strip()))
        threads = [threading.Thread(target=login, args=(h,)) for h in self.state["hosts"]]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise LabError("; ".join(errors))
        for h in self.state["hosts"]:
            with contextlib.suppress(OSError, ValueError):
                with open(h["pidfile"]) as fh:
                    pid = int(fh.read().strip())
                if pid != h["pid"]:
                    h["pid"] = pid

    def _logs(self, h):
        out = []
        for name in ("start.log", "sshd.log"):
            with contextlib.suppress(OSError):
                with open(os.path.join(self._lab_dir(h["name"]), name)) as fh:
                    text = fh.read().strip()
                if text:
                    out.append("%s: %s" % (name, text[-600:]))
        return " | ".join(out) or "no log"

    def _write_inventory(self):
        py = _python_interpreter()
        lines = ["# generated by tests/hostlab/hostlab.py (lab %s); removed by `down`" % self.prefix,
                 "all:", "  hosts:"]
        for h in self.state["hosts"]:
            lines += [
                "    %s:" % h["name"],
                "      ansible_host: %s" % h["host_ip"],
                "      ansible_port: 22",
                "      ansible_user: root",
                "      ansible_ssh_private_key_file: %s" % json.dumps(self.key_path),
                "      ansible_ssh_common_args: %s" % json.dumps(SSH_COMMON_ARGS),
                "      ansible_control_path_dir: %s" % json.dumps(self.control_path_dir),
            ]
            if py:
                lines.append("      ansible_python_interpreter: %s" % py)
        if self.groups:
            lines.append("  children:")
            for g in self.groups:
                lines += ["    %s:" % g, "      hosts:"]
                lines += ["        %s: {}" % h for h in self.hosts]
        _atomic_write(self.inventory_path, "\n".join(lines) + "\n")

    # ---- down
    def down(self):
        """Tear everything down (safe to call twice, or after a partial up)."""
        with _global_lock():
            state = self.state or _read_json(self.state_path)
            if state is None:
                reg = _read_json(_registry_path(self.prefix))
                if reg and reg.get("workdir") == self.workdir:
                    state = reg
            if state and state.get("prefix") == self.prefix:
                _teardown(state, self._procs)
                self.state = state
            if not _prefix_taken_by_other(self.prefix, self.workdir):
                _teardown_by_name(self.prefix)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(_registry_path(self.prefix))
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.inventory_path)
        self._procs = {}

    # ---- conveniences
    def ssh_argv(self, host, cmd=None):
        h = self._host_state(host)
        argv = ["ssh", "-i", self.key_path, "-o", "StrictHostKeyChecking=no", "-o",
                "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
                "-o", "ConnectTimeout=5", "-o", "ControlMaster=no", "-o", "ControlPath=none",
                "root@%s" % h["host_ip"]]
        if cmd is not None:
            argv.append(cmd)
        return argv

    def ssh(self, host, cmd, check=True, timeout=60, input=None):
        """Run a shell command on a host over real SSH; returns subprocess.CompletedProcess."""
        proc = subprocess.run(self.ssh_argv(host, cmd), capture_output=True, text=True,
                              timeout=timeout, input=input)
        if check and proc.returncode != 0:
            raise LabError("ssh %s %r failed (rc=%s): %s" % (host, cmd, proc.returncode, proc.stderr.strip()))
        return proc

    def testinfra_spec(self, host, backend="ssh"):
        """(hostspec, kwargs) for testinfra.get_host()."""
        h = self._host_state(host)
        if backend == "ansible":
            return "ansible://%s" % host, {"ansible_inventory": self.inventory_path}
        if backend == "ssh":
            return "ssh://root@%s" % h["host_ip"], {
                "ssh_identity_file": self.key_path,
                "ssh_extra_args": SSH_COMMON_ARGS + " -o BatchMode=yes -o LogLevel=ERROR"}
        raise ValueError("backend %r: use 'ssh' or 'ansible'" % backend)

    def testinfra_host(self, host, backend="ssh"):
        import testinfra  # only needed by the tests that ask for it
        spec, kwargs = self.testinfra_spec(host, backend)
        return testinfra.get_host(spec, **kwargs)


# --------------------------------------------------------------------------- teardown

def _banner(ip, port=22, timeout=0.5):
    try:
        with socket.create_connection((ip, port), timeout=timeout) as s:
            s.settimeout(timeout)
            return s.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def _used_subnets():
    """{IPv4Network: 'dev ...'} for every lab-range /24 with an address or a route on the runner."""
    used = {}
    out = _run(["ip", "-o", "-4", "addr", "show"], check=False).stdout
    for line in out.splitlines():
        m = re.search(r"^\d+:\s+(\S+)\s+inet\s+(\S+)", line)
        if m:
            iface = ipaddress.ip_interface(m.group(2))
            if iface.ip in LAB_RANGE:
                used[ipaddress.ip_network("%s/24" % iface.ip, strict=False)] = "address on %s" % m.group(1)
    out = _run(["ip", "-4", "route", "show", "table", "all"], check=False).stdout
    for line in out.splitlines():
        dst = line.split()[0] if line.split() else ""
        with contextlib.suppress(ValueError):
            net = ipaddress.ip_network(dst, strict=False)
            if net.overlaps(LAB_RANGE) and net.prefixlen >= 16:
                for sub in ([net] if net.prefixlen >= 24 else net.subnets(new_prefix=24)):
                    used.setdefault(ipaddress.ip_network("%s/24" % sub.network_address, strict=False),
                                    "route %s" % line.strip())
    return used


def _kill_ssh_masters(control_dir):
    """Kill the ssh ControlMaster processes whose sockets live in the lab's control dir."""
    if not control_dir:
        return
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and control_dir + "/" in _cmdline(int(entry)):
            pids.append(int(entry))
    _kill_pids(pids)
    with contextlib.suppress(OSError):
        for name in os.listdir(control_dir):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(control_dir, name))
        os.rmdir(control_dir)


def _teardown(state, procs=None):
    """Remove everything a state dict says was created.  Errors are collected, not fatal."""
    procs = procs or {}
    problems = []
    pids = []
    if _prefix_taken_by_other(state.get("prefix"), state.get("workdir")):
        # its names now belong to a newer lab (which already removed this one's leftovers)
        state["status"] = "down"
        return problems
    for h in state.get("hosts", []):
        ino = _netns_inode(h["netns"])
        cands = [h.get("pid")]
        with contextlib.suppress(OSError, ValueError):
            with open(h["pidfile"]) as fh:
                cands.append(int(fh.read().strip()))
        for pid in cands:
            if not pid or not _pid_alive(pid):
                continue
            # only a process of this lab: inside its netns, or running its sshd_config
            if (ino and _pid_netns_inode(pid) == ino) or h["sshd_config"] in _cmdline(pid):
                pids.append(pid)
        if ino:
            pids += _netns_pids(h["netns"])
    left = _kill_pids(pids)
    if left:
        problems.append("processes still alive: %s" % left)
    for proc in procs.values():
        with contextlib.suppress(Exception):
            proc.wait(timeout=1)
    _kill_ssh_masters(state.get("control_path_dir"))
    links = set(_list_links())
    nss = set(_list_netns())
    for h in state.get("hosts", []):
        if h["veth"] in links:
            res = _run(["ip", "link", "del", h["veth"]], check=False)
            if res.returncode != 0:
                problems.append(res.stderr.strip())
        if h["netns"] in nss:
            res = _run(["ip", "netns", "del", h["netns"]], check=False)
            if res.returncode != 0:
                problems.append(res.stderr.strip())
        with contextlib.suppress(FileNotFoundError):
            os.unlink(h["pidfile"])
    _remove_mountpoints(state)
    state["status"] = "down"
    for h in state.get("hosts", []):
        h["pid"] = None
    workdir = state.get("workdir")
    if workdir and os.path.isdir(workdir):
        with contextlib.suppress(OSError):
            _atomic_write(os.path.join(workdir, "state.json"), json.dumps(state, indent=1, sort_keys=True))
    reg = _read_json(_registry_path(state.get("prefix", "")))
    if reg and reg.get("workdir") == workdir:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(_registry_path(state["prefix"]))
    if problems:
        sys.stderr.write("hostlab: teardown of %s: %s\n" % (state.get("prefix"), "; ".join(problems)))
    return problems


def _prefix_taken_by_other(prefix, workdir):
    reg = _read_json(_registry_path(prefix or ""))
    return bool(reg and reg.get("workdir") != workdir and reg.get("status") != "down")


def _remove_mountpoints(state):
    prefix = state.get("prefix")
    mps = _mp_registry()
    # deepest first, so /var/lib/mailfleet goes before /var/lib
    for level in sorted(state.get("created_mountpoints", []), key=lambda p: p.count("/"), reverse=True):
        owners = mps.get(level)
        if owners is not None:
            if prefix in owners:
                owners.remove(prefix)
            if owners:
                continue            # another lab still uses it
            del mps[level]
        with contextlib.suppress(OSError):
            os.rmdir(level)          # only if empty
    state["created_mountpoints"] = []
    with contextlib.suppress(OSError):
        _mp_registry_save(mps)


def _teardown_by_name(prefix):
    """Remove namespaces and veths named after `prefix` that no state file mentions any more."""
    ns_re = re.compile(r"^%sh\d+$" % re.escape(prefix))
    link_re = re.compile(r"^%sv\d+p?$" % re.escape(prefix))
    nss = [n for n in _list_netns() if ns_re.match(n)]
    pids = []
    for ns in nss:
        pids += _netns_pids(ns)
    _kill_pids(pids)
    for link in _list_links():
        if link_re.match(link):
            _run(["ip", "link", "del", link], check=False)
    for ns in nss:
        _run(["ip", "netns", "del", ns], check=False)


def gc():
    """Tear down every registered lab whose owning process has died; returns their prefixes."""
    done = []
    with _global_lock():
        for entry in _registry_entries():
            if entry.get("owner") and not _owner_alive(entry["owner"]):
                _teardown(entry)
                _teardown_by_name(entry["prefix"])
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(_registry_path(entry["prefix"]))
                done.append(entry["prefix"])
    return done


def down(workdir=None, prefix=None):
    """Tear down the lab of a workdir (its state.json) or of a prefix (the registry)."""
    state = None
    if workdir:
        state = _read_json(os.path.join(os.path.abspath(workdir), "state.json"))
        if state is None and not prefix:
            return False
    if state is None and prefix:
        state = _read_json(_registry_path(prefix))
    with _global_lock():
        if state:
            _teardown(state)
            prefix = state.get("prefix") or prefix
        if prefix and not (state and _prefix_taken_by_other(prefix, state.get("workdir"))):
            _teardown_by_name(prefix)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(_registry_path(prefix))
    if state and state.get("workdir"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(state["workdir"], "inventory.yml"))
    return True


# --------------------------------------------------------------------------- CLI

def main(argv=None):
    ap = argparse.ArgumentParser(prog="hostlab.py", description="Real SSH test hosts from Linux namespaces.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("up", help="create the hosts (replacing leftovers with the same prefix)")
    u.add_argument("--workdir", required=True)
    u.add_argument("--prefix", default="mf")
    u.add_argument("--hosts", required=True, help="comma-separated host names")
    u.add_argument("--bind", action="append", default=None,
                   help="path bind-mounted per host from WORKDIR/<host>/<path-with-dashes> "
                        "(repeatable; default: %s)" % " ".join(DEFAULT_BINDS))
    u.add_argument("--subnet-base", default="198.18", help="two octets inside 198.18.0.0/15")
    u.add_argument("--first", default="1", help="third octet of the first host (default 1), or 'auto'")
    u.add_argument("--group", action="append", default=[], help="inventory group holding all hosts (repeatable)")
    u.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for sshd")
    d = sub.add_parser("down", help="tear a lab down (safe to repeat)")
    d.add_argument("--workdir")
    d.add_argument("--prefix")
    sub.add_parser("gc", help="tear down labs whose owning process died")
    sub.add_parser("list", help="registered labs")
    sub.add_parser("check", help="is a lab possible here?")
    args = ap.parse_args(argv)

    try:
        if args.cmd == "up":
            binds = args.bind if args.bind is not None else list(DEFAULT_BINDS)
            lab = Lab(args.workdir, args.prefix, [h for h in args.hosts.split(",") if h], binds,
                      args.subnet_base, first=args.first, groups=args.group, persistent=True,
                      ready_timeout=args.timeout)
            lab.up()
            for h in lab.state["hosts"]:
                print("%s\t%s\tnetns=%s\tdir=%s" % (h["name"], h["host_ip"], h["netns"], h["dir"]))
            print("inventory: %s  (%.2fs)" % (lab.inventory_path, lab.state["up_seconds"]))
        elif args.cmd == "down":
            if not args.workdir and not args.prefix:
                ap.error("down needs --workdir or --prefix")
            if not down(args.workdir, args.prefix):
                print("hostlab: nothing to tear down in %s" % args.workdir)
        elif args.cmd == "gc":
            print("torn down: %s" % (" ".join(gc()) or "nothing"))
        elif args.cmd == "list":
            for e in _registry_entries():
                owner = e.get("owner")
                live = "persistent" if not owner else ("owner %s %s" % (owner["pid"], "alive" if _owner_alive(owner) else "DEAD"))
                print("%s\t%s\t%s\t%s" % (e["prefix"], e.get("status"), e.get("workdir"), live))
        elif args.cmd == "check":
            ok, why = available()
            print("ok" if ok else why)
            return 0 if ok else 1
    except LabError as exc:
        print("hostlab: %s" % exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
