#!/usr/bin/env python3
"""chroothost: hostlab test hosts with their own Debian root file system (for package installs).

hostlab's hosts share the runner's root file system, so installing a package in one of them would
install it on the runner. A `ChrootLab` host instead runs its sshd *chrooted* into its own copy of a
Debian bookworm root built once with ``debootstrap --variant=minbase`` and cached:

- the cached root: ``$MAILFLEET_TEST_CACHE`` (default ``/var/cache/mailfleet-tests``) ``/bookworm-root``,
  Debian minbase + openssh-server, python3, python3-apt (Ansible's apt module), nftables.
  Built from the Debian mirror configured in the runner's APT sources (no other network), with
  ``policy-rc.d`` denying every service start and the second stage run without network.
  First build: about 3 minutes and ~150 MB; later runs reuse it (a stamp file records what it holds).
- per host: ``cp -a`` of the cached root to ``WORKDIR/<host>/root`` (a few seconds);
- per host namespaces: hostlab's network namespace, plus private mount, UTS and PID namespaces in
  which ``/proc``, ``/sys`` (read-only) and ``/dev`` are mounted into the root, and
  ``chroot ROOT /usr/sbin/sshd -D`` runs as the namespace's PID 1. Every mount lives in the private
  mount namespace only, so it disappears with the host's processes; the runner never sees one.

``lab.host_path(host, "/etc/pmta/license")`` is the runner-side path of a file in a host's root.
``down()`` kills the host's processes (hostlab), then removes the per-host roots.

Library::

    import chroothost
    root = chroothost.ensure_root()                    # build or reuse the cached root
    with chroothost.ChrootLab("/tmp/lab", root, prefix="mfb", hosts=["pmta-1"],
                              groups=["pmta"], first="auto") as lab:
        lab.ssh("pmta-1", "cat /etc/debian_version")

CLI::

    chroothost.py build-root [--cache DIR] [--rebuild]   # prints the root's path and the time taken
"""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostlab  # noqa: E402  (the sibling module)

CACHE_DIR = os.environ.get("MAILFLEET_TEST_CACHE", "/var/cache/mailfleet-tests")
SUITE = "bookworm"
PACKAGES = ("openssh-server", "python3", "python3-apt", "nftables")
ROOT_NAME = "%s-root" % SUITE
STAMP = ".mailfleet-root.json"
STAMP_VERSION = 1
DEFAULT_MIRROR = "http://deb.debian.org/debian"
LAB_SSHD_CONFIG = "/etc/ssh/sshd_config.hostlab"
LAB_HOSTKEY = "/etc/ssh/hostlab_host_key"
LAB_AUTHKEYS = "/etc/ssh/hostlab_authorized_keys"
LAB_SSHD_LOG = "/var/log/hostlab-sshd.log"


class RootError(RuntimeError):
    """The cached root could not be built (the message says which step)."""


# --------------------------------------------------------------------------- the cached root

def debian_mirror():
    """The Debian archive URI of the runner's APT sources (deb822 or one-line), else deb.debian.org."""
    uris = []
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        with contextlib.suppress(OSError):
            with open(path) as fh:
                for stanza in re.split(r"\n\s*\n", fh.read()):
                    fields = dict(re.findall(r"^([A-Za-z-]+):\s*(.*)$", stanza, re.M))
                    if SUITE in fields.get("Suites", "").split() and fields.get("Enabled", "yes") != "no":
                        uris += fields.get("URIs", "").split()
    for path in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
        with contextlib.suppress(OSError):
            with open(path) as fh:
                for line in fh:
                    m = re.match(r"^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
                    if m and m.group(2) == SUITE:
                        uris.append(m.group(1))
    for uri in uris:
        if uri.rstrip("/").endswith("/debian"):
            return uri.rstrip("/")
    return DEFAULT_MIRROR


def ensure_debootstrap():
    """Install Debian's debootstrap when missing (as root, apt-get)."""
    if shutil.which("debootstrap"):
        return
    if shutil.which("apt-get") is None:
        raise RootError("debootstrap missing and apt-get not available (install debootstrap)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    proc = subprocess.run(["apt-get", "-o", "DPkg::Lock::Timeout=300", "install", "-y", "-qq",
                           "--no-install-recommends", "debootstrap"],
                          capture_output=True, text=True, env=env, timeout=900)
    if proc.returncode != 0 or not shutil.which("debootstrap"):
        raise RootError("apt-get install debootstrap failed: %s" % (proc.stderr or proc.stdout).strip()[-500:])


def _spec(mirror):
    return {"version": STAMP_VERSION, "suite": SUITE, "variant": "minbase",
            "packages": sorted(PACKAGES), "arch": _arch(), "mirror": mirror}


def _arch():
    try:
        return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "amd64"


def _mounts_under(path):
    """Mount points at or below `path` in the runner's mount namespace."""
    path = os.path.realpath(path)
    out = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            mp = line.split()[4].replace("\\040", " ")
            if mp == path or mp.startswith(path + "/"):
                out.append(mp)
    return out


def remove_tree(path):
    """rm -rf a root copy, refusing if anything is mounted inside it (never follow into a mount)."""
    if not os.path.lexists(path):
        return
    mounted = _mounts_under(path)
    if mounted:
        raise RootError("refusing to remove %s: still mounted: %s" % (path, ", ".join(mounted)))
    shutil.rmtree(path)


def _run_logged(argv, log, timeout):
    log.write("$ %s\n" % " ".join(shlex.quote(a) for a in argv))
    log.flush()
    proc = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                          timeout=timeout, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive",
                                                    LC_ALL="C.UTF-8"))
    if proc.returncode != 0:
        raise RootError("%s failed (rc=%s); see %s" % (argv[0] if argv[0] != "unshare" else
                                                       " ".join(argv[-3:]), proc.returncode, log.name))


def ensure_root(cache_dir=CACHE_DIR, rebuild=False, mirror=None):
    """Path of the cached Debian root, built first if missing or stale (serialised by a lock)."""
    mirror = mirror or debian_mirror()
    spec = _spec(mirror)
    os.makedirs(cache_dir, mode=0o755, exist_ok=True)
    root = os.path.join(cache_dir, ROOT_NAME)
    with open(os.path.join(cache_dir, ".lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            stamp = hostlab._read_json(os.path.join(root, STAMP))
            if not rebuild and stamp and {k: stamp.get(k) for k in spec} == spec:
                return root
            _build_root(cache_dir, root, spec)
            return root
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _build_root(cache_dir, root, spec):
    ensure_debootstrap()
    t0 = time.monotonic()
    tmp = "%s.building" % root
    remove_tree(tmp)
    log_path = os.path.join(cache_dir, "%s-build.log" % ROOT_NAME)
    try:
        with open(log_path, "w") as log:
            # stage 1: download and unpack (the only step that uses the network: the Debian mirror)
            _run_logged(["debootstrap", "--variant=minbase", "--foreign", "--arch", spec["arch"],
                         "--include=%s" % ",".join(PACKAGES), SUITE, tmp, spec["mirror"]], log, 1800)
            # no service may start while packages are configured, nor later in the test hosts
            hostlab._atomic_write(os.path.join(tmp, "usr/sbin/policy-rc.d"),
                                  "#!/bin/sh\n# mailfleet test root: services never start on install\nexit 101\n",
                                  0o755)
            # stage 2: configure, without network, in private mount and PID namespaces
            _run_logged(["unshare", "--net", "--mount", "--pid", "--fork", "--propagation", "private",
                         "chroot", tmp, "/debootstrap/debootstrap", "--second-stage"], log, 1800)
        # slim it down: package caches and lists, docs, man pages, locales (dpkg keeps its status)
        for rel in ("var/cache/apt", "var/lib/apt/lists", "usr/share/doc", "usr/share/man",
                    "usr/share/locale", "usr/share/info"):
            path = os.path.join(tmp, rel)
            if os.path.isdir(path):
                for entry in os.listdir(path):
                    full = os.path.join(path, entry)
                    if os.path.isdir(full) and not os.path.islink(full):
                        remove_tree(full)
                    else:
                        os.unlink(full)
        for key in glob.glob(os.path.join(tmp, "etc/ssh/ssh_host_*")):
            os.unlink(key)      # each lab brings its own host key
        with open(os.path.join(tmp, "etc/apt/sources.list"), "w") as fh:
            fh.write("deb %s %s main\n" % (spec["mirror"], SUITE))
        stamp = dict(spec, built=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                     build_seconds=round(time.monotonic() - t0, 1))
        hostlab._atomic_write(os.path.join(tmp, STAMP), json.dumps(stamp, indent=1, sort_keys=True))
        remove_tree(root)
        os.rename(tmp, root)
    except BaseException:
        with contextlib.suppress(Exception):
            remove_tree(tmp)
        raise


# --------------------------------------------------------------------------- the lab

class ChrootLab(hostlab.Lab):
    """hostlab.Lab whose hosts run sshd chrooted into their own copy of a Debian root."""

    def __init__(self, workdir, root_template, prefix="mfc", hosts=("pmta-1",), keep_roots=False,
                 **kwargs):
        kwargs.pop("binds", None)
        kwargs.setdefault("clean_shell", False)     # the root has its own /root/.bashrc
        super().__init__(workdir, prefix=prefix, hosts=hosts, binds=(), **kwargs)
        self.root_template = os.path.abspath(root_template)
        self.keep_roots = keep_roots
        if not os.path.isfile(os.path.join(self.root_template, STAMP)):
            raise hostlab.LabError("%s is not a root built by chroothost.ensure_root()" % self.root_template)

    def host_root(self, host):
        return os.path.join(self.host_dir(host), "root")

    def host_path(self, host, path):
        """Runner-side path of the file the host sees at `path` (anywhere in its root)."""
        return os.path.join(self.host_root(host), os.path.normpath(path).lstrip("/"))

    # hostlab calls these during up(): the host directories are full roots, not binds
    def _make_mountpoints(self):
        for host in self.hosts:
            root = self.host_root(host)
            remove_tree(root)
            os.makedirs(self.host_dir(host), exist_ok=True)
            hostlab._run(["cp", "-a", "--reflink=auto", self.root_template, root], timeout=600)

    def _sshd_config(self, h):
        return "\n".join([
            "# hostlab %s: host %s (chrooted)" % (self.prefix, h["name"]),
            "Port 22",
            "ListenAddress %s" % h["host_ip"],
            "HostKey %s" % LAB_HOSTKEY,
            "AuthorizedKeysFile %s" % LAB_AUTHKEYS,
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
            "PidFile none",
            "Subsystem sftp internal-sftp",
            "LogLevel INFO",
            "KexAlgorithms curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256",
            "",
        ])

    def _start_sshds(self):
        for h in self.state["hosts"]:
            name = h["name"]
            root = self.host_root(name)
            os.makedirs(self._lab_dir(name), exist_ok=True)
            with open(os.path.join(self.workdir, "hostkey")) as fh:
                hostlab._atomic_write(os.path.join(root, LAB_HOSTKEY.lstrip("/")), fh.read(), 0o600)
            with open(self.key_path + ".pub") as fh:
                hostlab._atomic_write(os.path.join(root, LAB_AUTHKEYS.lstrip("/")), fh.read(), 0o600)
            hostlab._atomic_write(os.path.join(root, LAB_SSHD_CONFIG.lstrip("/")), self._sshd_config(h), 0o600)
            hostlab._atomic_write(os.path.join(root, "etc/hostname"), name + "\n")
            os.makedirs(os.path.join(root, "run/sshd"), mode=0o755, exist_ok=True)
            # runner-side paths hostlab's teardown and error messages look at
            h["sshd_config"] = os.path.join(root, LAB_SSHD_CONFIG.lstrip("/"))
            h["log"] = os.path.join(root, LAB_SSHD_LOG.lstrip("/"))
            h["pidfile"] = os.path.join(self._lab_dir(name), "sshd.pid")   # never written (PidFile none)
            h["root"] = root
            q = shlex.quote(root)
            script = [
                "set -e",
                "hostname %s" % shlex.quote(name),
                "mount -t proc proc %s/proc" % q,
                "mount -t sysfs -o ro sysfs %s/sys || true" % q,
                "mount --rbind /dev %s/dev" % q,
                "exec chroot %s %s -D -f %s -E %s" % (q, hostlab.SSHD, LAB_SSHD_CONFIG, LAB_SSHD_LOG),
            ]
            # --fork: the shell (then sshd) is PID 1 of the host's PID namespace; when the lab kills
            # it, the kernel kills everything else in that namespace and its mounts go away
            argv = ["ip", "netns", "exec", h["netns"], "unshare", "--mount", "--uts", "--pid", "--fork",
                    "--kill-child", "--propagation", "private", "--", "sh", "-c", "; ".join(script)]
            with open(os.path.join(self._lab_dir(name), "start.log"), "w") as log:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                        start_new_session=True, close_fds=True)
            self._procs[name] = proc
            h["pid"] = proc.pid        # the `unshare` process, inside the host's network namespace
            self._save()

    def down(self):
        super().down()
        if not self.keep_roots:
            for host in self.hosts:
                with contextlib.suppress(KeyError):
                    remove_tree(self.host_root(host))


def main(argv=None):
    ap = argparse.ArgumentParser(prog="chroothost.py", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build-root", help="build (or reuse) the cached Debian root")
    b.add_argument("--cache", default=CACHE_DIR)
    b.add_argument("--rebuild", action="store_true")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    try:
        root = ensure_root(args.cache, rebuild=args.rebuild)
    except (RootError, hostlab.LabError) as exc:
        print("chroothost: %s" % exc, file=sys.stderr)
        return 1
    print("%s  (%.1fs)" % (root, time.monotonic() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
