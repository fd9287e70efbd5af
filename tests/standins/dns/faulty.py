# -*- coding: utf-8 -*-
"""Misbehaving DNS servers on 127.0.0.x for fault tests: they run on a thread of the test and stop
with it. Both bind UDP only (stdlib only).

* ``SilentServer()`` reads every query and never answers (a server that is "up" but silent: no
  ICMP port-unreachable, so the client learns nothing but by waiting).
* ``DelayedServer(upstream, delay)`` forwards each query to a real server (NSD) and relays the
  answer ``delay`` seconds later (slow answers, e.g. beyond the client's timeout).

    with SilentServer() as s:
        s.address  # "127.0.0.1:PORT"; s.received counts the queries that arrived
"""
from __future__ import annotations

import heapq
import select
import socket
import threading
import time


class _UDPThread:
    def __init__(self, host="127.0.0.1", port=0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.sock.setblocking(False)
        self.host, self.port = self.sock.getsockname()
        self.received = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def address(self):
        return "%s:%d" % (self.host, self.port)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(5)
        self.sock.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _run(self):  # pragma: no cover - overridden
        raise NotImplementedError


class SilentServer(_UDPThread):
    """Reads and drops every datagram."""

    def _run(self):
        while not self._stop.is_set():
            ready, _, _ = select.select([self.sock], [], [], 0.05)
            if not ready:
                continue
            while True:
                try:
                    self.sock.recvfrom(65535)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    return
                self.received += 1


class DelayedServer(_UDPThread):
    """Relays each query to ``upstream`` ("127.0.0.1:PORT") and its answer ``delay`` s later."""

    def __init__(self, upstream, delay, host="127.0.0.1", port=0):
        super().__init__(host, port)
        uhost, uport = upstream.rsplit(":", 1)
        self.upstream = (uhost, int(uport))
        self.delay = float(delay)
        self.up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.up.bind((host, 0))
        self.up.setblocking(False)
        self._clients = {}   # query id -> client address (ids from one test client are unique enough)
        self._queue = []     # (due, seq, data, client)
        self._seq = 0

    def stop(self):
        super().stop()
        self.up.close()

    def _run(self):
        while not self._stop.is_set():
            now = time.monotonic()
            while self._queue and self._queue[0][0] <= now:
                _, _, data, client = heapq.heappop(self._queue)
                try:
                    self.sock.sendto(data, client)
                except OSError:
                    pass
            wait = 0.05 if not self._queue else max(0.0, min(0.05, self._queue[0][0] - now))
            ready, _, _ = select.select([self.sock, self.up], [], [], wait)
            for s in ready:
                while True:
                    try:
                        data, addr = s.recvfrom(65535)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        return
                    if s is self.sock:
                        self.received += 1
                        self._clients[data[:2]] = addr
                        self.up.sendto(data, self.upstream)
                    else:
                        client = self._clients.get(data[:2])
                        if client is not None:
                            self._seq += 1
                            heapq.heappush(self._queue, (time.monotonic() + self.delay, self._seq, data, client))
