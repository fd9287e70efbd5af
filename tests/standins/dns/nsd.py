# -*- coding: utf-8 -*-
"""Run a private NSD (Debian ``nsd``) on 127.0.0.1 at a free high port, for tests and benchmarks.

Everything (config, zone files, pid file, xfrd state) lives in one temporary directory; nothing of
the system's NSD service is used or touched. Rate limiting is switched off (``rrl-ratelimit: 0``):
Debian's NSD otherwise drops repeated answers under bulk DNSBL load.

    with NSDServer({"rbl.test": ZONE_TEXT, "broken.test": None}) as ns:
        ns.port   # -> int

A zone whose text is ``None`` or starts with ``";BROKEN"`` is written as an unparsable file: NSD
then answers SERVFAIL for names in it, which is how tests get a deterministic SERVFAIL.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time

NSD_BINARIES = ("/usr/sbin/nsd", "/usr/local/sbin/nsd")


def find_nsd():
    """Path of the nsd binary, or None."""
    for path in NSD_BINARIES:
        if os.access(path, os.X_OK):
            return path
    return shutil.which("nsd")


def free_port(host="127.0.0.1"):
    """A port free for both UDP and TCP on host (best effort; NSD needs both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((host, 0))
            port = tcp.getsockname()[1]
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                    udp.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port on %s" % host)


def unused_udp_port(host="127.0.0.1"):
    """A UDP port on host where nothing listens (queries there time out)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind((host, 0))
        return udp.getsockname()[1]


def zone_text(origin, records, ttl=60):
    """Zone file text for origin with a SOA and NS added; records are 'owner TYPE rdata' lines
    (owner relative to origin, '@' for the apex)."""
    origin = origin.rstrip(".") + "."
    lines = [
        "$ORIGIN %s" % origin,
        "$TTL %d" % ttl,
        "@ IN SOA ns.%s hostmaster.%s 1 3600 600 86400 60" % (origin, origin),
        "@ IN NS ns.%s" % origin,
        "ns IN A 127.0.0.1",
    ]
    for rec in records:
        owner, rest = rec.split(None, 1)
        lines.append("%s IN %s" % (owner, rest))
    return "\n".join(lines) + "\n"


class NSDServer:
    """A throwaway authoritative NSD on 127.0.0.1:port serving the given zones."""

    def __init__(self, zones, port=None, host="127.0.0.1", workdir=None):
        self.zones = dict(zones)
        self.host = host
        self.port = port
        self._own_dir = workdir is None
        self.workdir = workdir
        self.proc = None
        self.nsd = find_nsd()

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, wait=10.0):
        if self.nsd is None:
            raise RuntimeError("nsd is not installed (Debian package 'nsd')")
        if self.workdir is None:
            self.workdir = tempfile.mkdtemp(prefix="mailfleet-nsd-")
        os.makedirs(os.path.join(self.workdir, "zones"), exist_ok=True)
        last_err = ""
        for _attempt in range(5):
            if self.port is None or _attempt:
                self.port = free_port(self.host)
            conf = self._write_config()
            check = subprocess.run(["nsd-checkconf", conf], capture_output=True, text=True)
            if check.returncode != 0 and shutil.which("nsd-checkconf"):
                raise RuntimeError("nsd-checkconf failed: %s" % check.stderr.strip())
            log = open(os.path.join(self.workdir, "nsd.log"), "ab")
            self.proc = subprocess.Popen(
                [self.nsd, "-d", "-c", conf],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
            log.close()
            if self._wait_ready(wait):
                return self
            last_err = self.log_tail()
            self._kill()
        raise RuntimeError("nsd did not start: %s" % last_err)

    def stop(self):
        self._kill()
        if self._own_dir and self.workdir and os.path.isdir(self.workdir):
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def address(self):
        return "%s:%d" % (self.host, self.port)

    def log_tail(self, n=20):
        try:
            with open(os.path.join(self.workdir, "nsd.log"), encoding="utf-8", errors="replace") as fh:
                return "".join(fh.readlines()[-n:])
        except OSError:
            return ""

    # -- internals ---------------------------------------------------------------------------
    def _kill(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
            self.proc = None

    def _write_config(self):
        wd = self.workdir
        zone_conf = []
        for name, text in sorted(self.zones.items()):
            origin = name.rstrip(".")
            fname = origin + ".zone"
            with open(os.path.join(wd, "zones", fname), "w", encoding="utf-8") as fh:
                if text is None or text.startswith(";BROKEN"):
                    fh.write("$ORIGIN %s.\nthis is not a zone file {{{\n" % origin)
                else:
                    fh.write(text)
            zone_conf.append("zone:\n    name: \"%s\"\n    zonefile: \"%s\"\n" % (origin, fname))
        conf = os.path.join(wd, "nsd.conf")
        with open(conf, "w", encoding="utf-8") as fh:
            fh.write(
                "server:\n"
                "    ip-address: %(host)s@%(port)d\n"
                "    port: %(port)d\n"
                "    do-ip6: no\n"
                "    server-count: 1\n"
                "    username: \"\"\n"
                "    chroot: \"\"\n"
                "    zonesdir: \"%(wd)s/zones\"\n"
                "    database: \"\"\n"
                "    zonelistfile: \"%(wd)s/zone.list\"\n"
                "    pidfile: \"%(wd)s/nsd.pid\"\n"
                "    xfrdfile: \"%(wd)s/xfrd.state\"\n"
                "    xfrdir: \"%(wd)s\"\n"
                "    logfile: \"%(wd)s/nsd.log\"\n"
                "    verbosity: 1\n"
                "    hide-version: yes\n"
                "    rrl-ratelimit: 0\n"
                "    rrl-whitelist-ratelimit: 0\n"
                "    tcp-count: 200\n"
                "remote-control:\n"
                "    control-enable: no\n"
                % {"host": self.host, "port": self.port, "wd": wd}
            )
            fh.write("\n".join(zone_conf))
        return conf

    def _wait_ready(self, wait):
        """Ready when NSD answers a SOA query for one of its (loadable) zones over UDP."""
        good = [z for z, t in self.zones.items() if t is not None and not t.startswith(";BROKEN")]
        qname = (good[0] if good else "invalid").rstrip(".")
        packet = _soa_query(qname)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(0.2)
                try:
                    s.sendto(packet, (self.host, self.port))
                    data, _ = s.recvfrom(4096)
                    if data[:2] == packet[:2]:
                        return True
                except OSError:
                    pass
            time.sleep(0.05)
        return False


def _soa_query(name):
    """A minimal DNS query packet (stdlib only) for name/SOA."""
    header = b"\x4d\x46\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00"
    qname = b"".join(bytes([len(p)]) + p.encode("ascii") for p in name.split(".") if p) + b"\x00"
    return header + qname + b"\x00\x06\x00\x01"
