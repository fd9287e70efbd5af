# -*- coding: utf-8 -*-
"""A throwaway MariaDB server on loopback for tests, benchmarks and the demo.

Debian's ``mariadb-server`` package provides ``mariadbd`` and ``mariadb-install-db``; this helper
never uses the Debian service: it initialises a data directory in a temporary directory, starts its
own ``mariadbd`` on ``127.0.0.1`` with a random free high port and a socket in that directory, and
stops it (and removes the directory) on ``stop()`` / context exit / interpreter exit.

    from server import MariaDBServer          # or load by path (see tests/integration)
    with MariaDBServer() as srv:
        conn = srv.connect(database="mysql")   # root over the socket, PyMySQL

``root`` has no password and is reachable over TCP on 127.0.0.1 and over the socket.

With ``datadir=`` the data directory is persistent (the demo keeps its MailWizz database in
``.work/``): it is initialised once, reused on the next start, and kept on ``stop()``.
"""
from __future__ import absolute_import, division, print_function

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

__metaclass__ = type

_SEARCH = ("/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin")


def find_binary(*names):
    """Absolute path of the first of ``names`` found in PATH or the usual sbin/bin dirs, or None."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
        for directory in _SEARCH:
            path = os.path.join(directory, name)
            if os.access(path, os.X_OK):
                return path
    return None


def available():
    """True when mariadbd and mariadb-install-db are installed."""
    return bool(find_binary("mariadbd", "mysqld") and find_binary("mariadb-install-db", "mysql_install_db"))


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MariaDBError(RuntimeError):
    pass


class MariaDBServer:
    """Own ``mariadbd`` process with its data in a temporary directory."""

    def __init__(self, port=None, extra_args=(), startup_timeout=60, datadir=None):
        self.port = port
        self.extra_args = list(extra_args)
        self.startup_timeout = startup_timeout
        self.persistent = datadir is not None
        self.home = os.path.abspath(datadir) if datadir else None
        self.tmpdir = None
        self.datadir = None
        self.socket = None
        self.proc = None
        self.log_path = None
        self.pidfile = None

    @property
    def initialised(self):
        return bool(self.datadir) and os.path.isdir(os.path.join(self.datadir, "mysql"))

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self):
        mariadbd = find_binary("mariadbd", "mysqld")
        install_db = find_binary("mariadb-install-db", "mysql_install_db")
        if not mariadbd or not install_db:
            raise MariaDBError("mariadbd / mariadb-install-db not found: apt-get install mariadb-server")
        if self.persistent:
            self.tmpdir = self.home
            os.makedirs(self.tmpdir, exist_ok=True)
        else:
            self.tmpdir = tempfile.mkdtemp(prefix="mailfleet-mariadb-")
        os.chmod(self.tmpdir, 0o755)
        self.datadir = os.path.join(self.tmpdir, "data")
        self.socket = os.path.join(self.tmpdir, "mysqld.sock")
        self.log_path = os.path.join(self.tmpdir, "mysqld.log")
        pidfile = self.pidfile = os.path.join(self.tmpdir, "mysqld.pid")
        user_args = ["--user=root"] if os.geteuid() == 0 else []
        if not self.initialised:
            init = subprocess.run(
                [install_db, "--no-defaults", "--datadir=" + self.datadir, "--auth-root-authentication-method=normal",
                 "--skip-test-db"] + user_args,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=180, check=False)
            if init.returncode != 0:
                out = init.stdout.decode("utf-8", "replace")[-2000:]
                self._cleanup_dir(force=True)
                raise MariaDBError("mariadb-install-db failed (%d): %s" % (init.returncode, out))
        self.port = self.port or _free_port()
        args = [mariadbd, "--no-defaults", "--datadir=" + self.datadir, "--socket=" + self.socket,
                "--port=%d" % self.port, "--bind-address=127.0.0.1", "--pid-file=" + pidfile,
                "--log-error=" + self.log_path, "--skip-name-resolve", "--innodb-buffer-pool-size=32M",
                "--innodb-log-file-size=16M", "--skip-log-bin", "--max-connections=50"] + user_args + self.extra_args
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        atexit.register(self.stop)
        deadline = time.time() + self.startup_timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                log = self.read_log()
                self.proc = None
                self._cleanup_dir()
                raise MariaDBError("mariadbd exited during startup: %s" % log[-2000:])
            try:
                self.connect().close()
                return self
            except Exception:
                time.sleep(0.2)
        log = self.read_log()
        self.stop()
        raise MariaDBError("mariadbd did not accept connections within %ss: %s" % (self.startup_timeout, log[-2000:]))

    def stop(self):
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            try:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self._cleanup_dir()

    def _cleanup_dir(self, force=False):
        if self.persistent and not force:
            return  # the data directory outlives the server
        if self.tmpdir and os.path.isdir(self.tmpdir):
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        self.tmpdir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # -- helpers ---------------------------------------------------------------------------------
    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def read_log(self):
        try:
            with open(self.log_path, "r", encoding="utf-8", errors="replace") as handle:
                return handle.read()
        except (OSError, TypeError):
            return ""

    def connect(self, user="root", password="", database=None, tcp=False, **kwargs):
        """A PyMySQL connection (autocommit on unless given) over the socket, or TCP with tcp=True."""
        import pymysql
        kwargs.setdefault("autocommit", True)
        kwargs.setdefault("connect_timeout", 5)
        if tcp:
            return pymysql.connect(host="127.0.0.1", port=self.port, user=user, password=password,
                                   database=database, **kwargs)
        return pymysql.connect(unix_socket=self.socket, user=user, password=password, database=database, **kwargs)

    def execute(self, *statements, database=None):
        """Run statements as root; return the rows of the last one."""
        conn = self.connect(database=database)
        try:
            with conn.cursor() as cur:
                rows = ()
                for sql in statements:
                    cur.execute(sql)
                    rows = cur.fetchall()
                return rows
        finally:
            conn.close()
