# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Many DNS queries in flight at once, on one UDP socket per nameserver (controller side).

:func:`resolve` sends a batch of queries through explicitly given nameservers only (never
``/etc/resolv.conf``) and returns one raw outcome per query. It is what makes the DNSBL check of a
whole fleet take about a second instead of minutes, and it is built so that a server that is down
or silent costs *one* timeout for the whole batch, not one per query:

* one non-blocking, *connected* UDP socket per nameserver (the kernel drops datagrams from any other
  source, and an ICMP "port unreachable" surfaces at once as ``ECONNREFUSED``); a stdlib
  :mod:`selectors` loop; at most ``window`` queries in flight over all servers;
* a query is a 12-byte header + the question, the name encoded by dnspython (:mod:`dns.name`);
  a reply is matched by id **and** question (case-insensitively), must be a response to a QUERY,
  and is otherwise dropped; answers with records are decoded by dnspython (:mod:`dns.message`,
  CNAME chains followed); NXDOMAIN and empty NOERROR need only the header;
* per query: ``attempts`` sends of ``timeout / attempts`` seconds each to a server (retransmitted
  with the same id, so a late reply to an earlier send still counts); SERVFAIL, REFUSED, other
  error codes and undecodable replies move the query to the next nameserver; a truncated reply is
  asked again over TCP (same loop, non-blocking);
* per server: ``ECONNREFUSED`` / unreachable marks it dead at once; a server that has had queries
  outstanding for ``timeout`` seconds without answering any of them is dead too (silent or slow):
  every query it owes moves to the next nameserver of its list, or, when none is left, ends
  ``unknown`` with the cause; nothing is sent to a dead server again in this batch;
* one deadline for the whole batch: what is still open then ends as a timeout.

Outcome per query (``rcode`` is ``NOERROR``, ``NXDOMAIN``, ``NODATA`` -- the three answers -- or
``TIMEOUT``, ``SERVFAIL``, ``REFUSED``, ``NETWORK``, ``ERROR`` -- no answer, with ``error`` the
cause in words)::

    {"rcode": "NOERROR", "answers": ["127.0.0.2"], "server": "127.0.0.1:53"}
    {"rcode": "TIMEOUT", "answers": [], "error": "no answer from 127.0.0.1:5353 within 2 s ..."}

``answers`` are texts: A/AAAA addresses, TXT strings joined and decoded (UTF-8, replacement
characters), PTR/CNAME/MX targets as names with the trailing dot, anything else ``to_text()``.
"""
from __future__ import absolute_import, division, print_function

import collections
import errno
import random
import selectors
import socket
import struct
import time

__metaclass__ = type

try:
    import dns.exception
    import dns.message
    import dns.name
    import dns.rdatatype

    HAS_DNSPYTHON = True
except ImportError:  # pragma: no cover - reported by the modules
    HAS_DNSPYTHON = False

ANSWERED = ("NOERROR", "NXDOMAIN", "NODATA")
NO_ANSWER = ("TIMEOUT", "SERVFAIL", "REFUSED", "NETWORK", "ERROR")
RCODE_NAMES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
DEFAULT_WINDOW = 256
DEFAULT_ATTEMPTS = 2
_RD = 0x0100
_RECV_BURST = 2048
_SOCKBUF = 1 << 20


def server_text(address, port):
    return "[%s]:%d" % (address, port) if ":" in address else "%s:%d" % (address, port)


def default_deadline(count, timeout):
    """The whole-batch deadline when none is given: four timeouts plus 10 ms per query (a slow
    but answering resolver, 100 queries/s, still finishes)."""
    return 4.0 * float(timeout) + 0.01 * count


class _Server:
    __slots__ = ("key", "text", "family", "sock", "pending", "dead", "cause", "waiting_since",
                 "last_reply", "sent", "answered")

    def __init__(self, address, port):
        self.key = (address, port)
        self.text = server_text(address, port)
        self.family = socket.AF_INET6 if ":" in address else socket.AF_INET
        self.sock = None
        self.pending = {}          # query id -> query index (UDP)
        self.dead = False
        self.cause = None
        self.waiting_since = None  # first send since the server had nothing outstanding
        self.last_reply = None
        self.sent = 0
        self.answered = 0


class _Query:
    __slots__ = ("question", "question_lower", "rdtype", "servers", "si", "tries", "qid", "seq",
                 "done", "outcome", "errors", "tcp")

    def __init__(self, question, rdtype, servers):
        self.question = question
        self.question_lower = question.lower()
        self.rdtype = rdtype
        self.servers = servers
        self.si = 0
        self.tries = 0
        self.qid = None
        self.seq = 0
        self.done = False
        self.outcome = None
        self.errors = []
        self.tcp = None


class _TCP:
    __slots__ = ("sock", "server", "out", "buf", "connected")

    def __init__(self, sock, server, out):
        self.sock = sock
        self.server = server
        self.out = out
        self.buf = b""
        self.connected = False


def encode_question(qname, rdtype):
    """Wire form of one question (class IN). ``qname``: a name (text or dns.name.Name), checked and
    encoded by dnspython, or bytes already in wire form (see :func:`join_wire`)."""
    if isinstance(qname, bytes):
        wire = qname
    else:
        wire = (dns.name.from_text(qname) if isinstance(qname, str) else qname).to_wire()
    return wire + struct.pack("!HH", int(rdtype), 1)


def relative_wire(text):
    """Wire labels (no root) of a relative name, checked by dnspython: the part before a zone."""
    name = dns.name.from_text(text, origin=None)
    return b"".join(struct.pack("B", len(label)) + label for label in name.labels)


def absolute_wire(text):
    """Wire form of an absolute name, checked by dnspython."""
    return dns.name.from_text(text).to_wire()


def join_wire(prefix, base):
    """``relative_wire(prefix) + absolute_wire(base)``, refused when over 255 bytes (RFC 1035)."""
    wire = prefix + base
    if len(wire) > 255:
        raise ValueError("DNS name longer than 255 bytes")
    return wire


def _answers(msg, rdtype):
    """Texts of the records of type rdtype answering the question (CNAME chain followed)."""
    try:
        chain = msg.resolve_chaining()
    except Exception:  # no question / chain too long / bad CNAME: decoded, but not an answer
        return None
    rrset = chain.answer
    if rrset is None:
        return []
    out = []
    for rr in rrset:
        if rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            out.append(rr.address)
        elif rdtype == dns.rdatatype.TXT:
            out.append(b"".join(rr.strings).decode("utf-8", "replace"))
        else:
            out.append(rr.to_text())
    return out


class Batch:
    """One batch: ``Batch(queries, ...).run()`` -> list of outcomes (see module docstring).

    ``queries``: ``[(qname, rdtype, [(address, port), ...]), ...]``; ``rdtype`` an int or a
    name ("A", "TXT"); each query has its own ordered nameserver list (first = preferred).
    ``servers``: a dict ``(address, port) -> _Server`` shared with earlier batches, so a server
    found dead stays dead (see :class:`Resolver`).
    """

    def __init__(self, queries, timeout=2.0, attempts=DEFAULT_ATTEMPTS, window=DEFAULT_WINDOW,
                 deadline=None, servers=None):
        if not HAS_DNSPYTHON:
            raise RuntimeError("dnspython is required")
        self.timeout = float(timeout)
        if self.timeout <= 0:
            raise ValueError("timeout must be > 0")
        self.attempts = max(1, int(attempts))
        self.attempt_timeout = self.timeout / self.attempts
        self.window = max(1, int(window))
        self.servers = servers if servers is not None else {}
        self.sel = selectors.DefaultSelector()
        self.queries = []
        for qname, rdtype, nameservers in queries:
            rdtype = dns.rdatatype.from_text(rdtype) if isinstance(rdtype, str) else int(rdtype)
            if not nameservers:
                raise ValueError("query %s has no nameserver" % (qname,))
            srv = []
            for address, port in nameservers:
                key = (str(address), int(port))
                if key not in self.servers:
                    self.servers[key] = _Server(*key)
                srv.append(self.servers[key])
            self.queries.append(_Query(encode_question(qname, rdtype), rdtype, srv))
        count = len(self.queries)
        self.deadline = float(deadline) if deadline is not None else default_deadline(count, timeout)
        self.inflight = 0
        self.remaining = count
        self.ready = collections.deque(range(count))
        self.timers = collections.deque()   # (expires, query index, seq): appended in time order
        self.tcp_timers = []                # TCP attempts (rare)
        self.rand = random.SystemRandom()
        self.stats = {"queries": count, "sent": 0, "retransmits": 0, "tcp": 0, "failovers": 0}

    # -- public ------------------------------------------------------------------------------
    def run(self):
        started = time.monotonic()
        end = started + self.deadline
        try:
            self._loop(end)
        finally:
            for q in self.queries:
                if q.tcp is not None:
                    self._close_tcp(q)
            for srv in self.servers.values():
                self._close_server(srv)
                srv.pending.clear()
                srv.waiting_since = None
            self.sel.close()
        self.stats["seconds"] = round(time.monotonic() - started, 4)
        self.stats["dead_servers"] = sorted(s.text for s in self.servers.values() if s.dead)
        return [q.outcome for q in self.queries]

    # -- the loop ----------------------------------------------------------------------------
    def _loop(self, end):
        while self.remaining:
            now = time.monotonic()
            if now >= end:
                self._expire_all("batch deadline of %.1f s reached before an answer came" % self.deadline)
                return
            blocked = self._fill(now)
            wait = end - now
            if self.timers:
                wait = min(wait, self.timers[0][0] - now)
            for t in self.tcp_timers:
                wait = min(wait, t[0] - now)
            for srv in self.servers.values():
                if srv.pending and not srv.dead:
                    wait = min(wait, self._silent_from(srv) + self.timeout - now)
            if blocked:
                wait = min(wait, 0.005)
            if not self.remaining:
                return
            for key, mask in self.sel.select(max(0.0, wait)):
                kind, obj = key.data
                if kind == "udp":
                    self._read_udp(obj)
                else:
                    self._tcp_event(obj, mask)
            now = time.monotonic()
            # silent servers first: their queries then fail over together, not one by one
            for srv in list(self.servers.values()):
                if srv.pending and not srv.dead and now - self._silent_from(srv) >= self.timeout:
                    self._kill(srv, "no answer from %s to any of %d queries within %g s (server down, "
                                    "silent or too slow)" % (srv.text, len(srv.pending), self.timeout),
                               "TIMEOUT")
            self._check_timers(now)

    @staticmethod
    def _silent_from(srv):
        if srv.last_reply is None or srv.last_reply < srv.waiting_since:
            return srv.waiting_since
        return srv.last_reply

    def _fill(self, now):
        """Send from the ready queue while the window has room. True if the kernel pushed back."""
        ready = self.ready
        while ready and self.inflight < self.window:
            qi = ready.popleft()
            q = self.queries[qi]
            if q.done:
                continue
            srv = self._current_server(q)
            if srv is None:
                continue
            if srv.sock is None and not self._open(srv):
                ready.appendleft(qi)
                continue
            if q.qid is None:
                pending = srv.pending
                qid = self.rand.getrandbits(16)
                while qid in pending:
                    qid = self.rand.getrandbits(16)
                q.qid = qid
            else:
                self.stats["retransmits"] += 1
            wire = struct.pack("!HHHHHH", q.qid, _RD, 1, 0, 0, 0) + q.question
            try:
                srv.sock.send(wire)
            except (BlockingIOError, InterruptedError):
                ready.appendleft(qi)
                return True
            except OSError as exc:
                if q.qid not in srv.pending:
                    q.qid = None
                self._kill(srv, _network_cause(srv, exc), "NETWORK")
                ready.appendleft(qi)
                continue
            if q.qid not in srv.pending:
                if not srv.pending:
                    srv.waiting_since = now
                srv.pending[q.qid] = qi
                self.inflight += 1
            srv.sent += 1
            self.stats["sent"] += 1
            q.tries += 1
            q.seq += 1
            self.timers.append((now + self.attempt_timeout, qi, q.seq))
        return False

    def _current_server(self, q):
        """The server this query goes to now; finishes the query when none is left."""
        while q.si < len(q.servers):
            srv = q.servers[q.si]
            if not srv.dead:
                return srv
            if srv.cause not in q.errors:
                q.errors.append(srv.cause)  # (kind, text)
            q.si += 1
            q.tries = 0
            q.qid = None
        self._finish_failed(q)
        return None

    def _finish_failed(self, q):
        """No server left: the outcome is the last failure's kind, with every cause in words."""
        rcode, last = q.errors[-1] if q.errors else ("ERROR", "no nameserver")
        causes = []
        for _kind, text in q.errors:
            if text not in causes:
                causes.append(text)
        self._finish(q, {"rcode": rcode, "answers": [], "error": "; ".join(causes) or last})

    def _finish(self, q, outcome):
        if q.done:
            return
        q.done = True
        q.outcome = outcome
        self.remaining -= 1

    def _next_server(self, qi, kind, text):
        """This server could not answer this query (kind: TIMEOUT, SERVFAIL, REFUSED, NETWORK or
        ERROR; text: why, in words): try the next one, or finish when none is left."""
        q = self.queries[qi]
        if (kind, text) not in q.errors:
            q.errors.append((kind, text))
        q.si += 1
        q.tries = 0
        q.qid = None
        if q.si < len(q.servers):
            self.stats["failovers"] += 1
        self.ready.appendleft(qi)

    def _release(self, srv, qid):
        """Forget an outstanding UDP query id of srv."""
        if srv.pending.pop(qid, None) is not None:
            self.inflight -= 1
            if not srv.pending:
                srv.waiting_since = None

    # -- sockets -----------------------------------------------------------------------------
    def _open(self, srv):
        try:
            sock = socket.socket(srv.family, socket.SOCK_DGRAM)
        except OSError as exc:
            self._kill(srv, _network_cause(srv, exc), "NETWORK")
            return False
        try:
            sock.setblocking(False)
            for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                try:
                    sock.setsockopt(socket.SOL_SOCKET, opt, _SOCKBUF)
                except OSError:
                    pass
            sock.connect(srv.key)
        except OSError as exc:
            sock.close()
            self._kill(srv, _network_cause(srv, exc), "NETWORK")
            return False
        srv.sock = sock
        self.sel.register(sock, selectors.EVENT_READ, ("udp", srv))
        return True

    def _close_server(self, srv):
        if srv.sock is not None:
            try:
                self.sel.unregister(srv.sock)
            except (KeyError, ValueError):
                pass
            srv.sock.close()
            srv.sock = None

    def _kill(self, srv, cause, kind):
        """srv is dead for this batch: everything it owes goes to the next server (or ends)."""
        if srv.dead:
            return
        srv.dead = True
        srv.cause = (kind, cause)
        owed = list(srv.pending.values())
        for qid in list(srv.pending):
            self._release(srv, qid)
        for qi in owed:
            self._next_server(qi, kind, cause)
        self._close_server(srv)

    def _read_udp(self, srv):
        sock = srv.sock
        if sock is None:
            return
        now = None
        for _burst in range(_RECV_BURST):
            try:
                data = sock.recv(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._kill(srv, _network_cause(srv, exc), "NETWORK")
                return
            if len(data) < 12:
                continue
            qid = (data[0] << 8) | data[1]
            qi = srv.pending.get(qid)
            if qi is None:
                continue  # late, duplicate or stray datagram
            q = self.queries[qi]
            flags = (data[2] << 8) | data[3]
            if not flags & 0x8000 or flags & 0x7800 or data[4:6] != b"\x00\x01":
                continue  # not a response to a standard query with one question
            end = 12 + len(q.question)
            if data[12:end].lower() != q.question_lower:
                continue  # same id, another question: not ours
            if now is None:
                now = time.monotonic()
            srv.last_reply = now
            srv.answered += 1
            self._release(srv, qid)
            self._reply(qi, srv, data, flags)

    def _reply(self, qi, srv, data, flags, tcp=False):
        q = self.queries[qi]
        if flags & 0x0200 and not tcp:
            self._start_tcp(qi, srv)
            return
        rcode = flags & 0x000F
        if rcode == 3:
            self._finish(q, {"rcode": "NXDOMAIN", "answers": [], "server": srv.text})
            return
        if rcode == 0:
            if data[6:8] == b"\x00\x00":
                self._finish(q, {"rcode": "NODATA", "answers": [], "server": srv.text})
                return
            try:
                msg = dns.message.from_wire(data)
            except Exception as exc:  # dnspython raises many types for bad wire data
                self._next_server(qi, "ERROR", "undecodable reply from %s (%s)" % (srv.text, type(exc).__name__))
                return
            answers = _answers(msg, q.rdtype)
            if answers is None:
                self._next_server(qi, "ERROR", "unusable answer from %s (broken CNAME chain)" % srv.text)
                return
            self._finish(q, {"rcode": "NOERROR" if answers else "NODATA", "answers": answers,
                             "server": srv.text})
            return
        name = RCODE_NAMES.get(rcode, "RCODE%d" % rcode)
        self._next_server(qi, name if name in ("SERVFAIL", "REFUSED") else "ERROR",
                          "%s from %s" % (name, srv.text))

    # -- timers ------------------------------------------------------------------------------
    def _check_timers(self, now):
        timers = self.timers
        while timers and timers[0][0] <= now:
            _t, qi, seq = timers.popleft()
            q = self.queries[qi]
            if q.done or seq != q.seq or q.tcp is not None or q.qid is None:
                continue
            srv = q.servers[q.si]
            if srv.dead or q.qid not in srv.pending:
                continue
            if q.tries < self.attempts:
                self.ready.appendleft(qi)  # retransmit, same id: a late reply still counts
            else:
                self._release(srv, q.qid)
                self._next_server(qi, "TIMEOUT", "no answer from %s after %d tries in %g s" % (
                    srv.text, q.tries, self.timeout))
        if self.tcp_timers:
            keep = []
            for item in self.tcp_timers:
                t, qi, seq = item
                q = self.queries[qi]
                if q.done or q.tcp is None or seq != q.seq:
                    continue
                if t <= now:
                    srv = q.tcp.server
                    self._close_tcp(q)
                    self.inflight -= 1
                    self._next_server(qi, "TIMEOUT", "truncated reply from %s and no TCP answer within %g s" % (
                        srv.text, self.attempt_timeout))
                else:
                    keep.append(item)
            self.tcp_timers = keep

    def _expire_all(self, cause):
        for q in self.queries:
            if not q.done:
                if q.tcp is not None:
                    self._close_tcp(q)
                q.errors.append(("TIMEOUT", cause))
                self._finish_failed(q)

    # -- TCP after truncation ----------------------------------------------------------------
    def _start_tcp(self, qi, srv):
        q = self.queries[qi]
        self.stats["tcp"] += 1
        qid = self.rand.getrandbits(16)
        wire = struct.pack("!HHHHHH", qid, _RD, 1, 0, 0, 0) + q.question
        q.qid = qid
        try:
            sock = socket.socket(srv.family, socket.SOCK_STREAM)
            sock.setblocking(False)
            err = sock.connect_ex(srv.key)
        except OSError as exc:
            self._next_server(qi, "NETWORK", "truncated reply from %s; TCP failed: %s" % (srv.text, exc.strerror or exc))
            return
        if err not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
            sock.close()
            self._next_server(qi, "NETWORK", "truncated reply from %s; TCP connect failed: %s" % (
                srv.text, _strerror(err)))
            return
        q.tcp = _TCP(sock, srv, struct.pack("!H", len(wire)) + wire)
        q.seq += 1
        self.inflight += 1
        self.sel.register(sock, selectors.EVENT_WRITE, ("tcp", qi))
        self.tcp_timers.append((time.monotonic() + self.attempt_timeout, qi, q.seq))

    def _close_tcp(self, q):
        if q.tcp is not None:
            try:
                self.sel.unregister(q.tcp.sock)
            except (KeyError, ValueError):
                pass
            q.tcp.sock.close()
            q.tcp = None

    def _tcp_fail(self, qi, why):
        q = self.queries[qi]
        srv = q.tcp.server
        self._close_tcp(q)
        self.inflight -= 1
        self._next_server(qi, "NETWORK", "truncated reply from %s; TCP %s" % (srv.text, why))

    def _tcp_event(self, qi, mask):
        q = self.queries[qi]
        st = q.tcp
        if st is None:
            return
        if not st.connected:
            err = st.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self._tcp_fail(qi, "connect failed: %s" % _strerror(err))
                return
            st.connected = True
        if st.out:
            try:
                n = st.sock.send(st.out)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._tcp_fail(qi, "send failed: %s" % (exc.strerror or exc))
                return
            st.out = st.out[n:]
            if not st.out:
                self.sel.modify(st.sock, selectors.EVENT_READ, ("tcp", qi))
            return
        try:
            chunk = st.sock.recv(65537)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._tcp_fail(qi, "receive failed: %s" % (exc.strerror or exc))
            return
        if not chunk:
            self._tcp_fail(qi, "connection closed before a complete answer")
            return
        st.buf += chunk
        if len(st.buf) < 2:
            return
        size = struct.unpack("!H", st.buf[:2])[0]
        if len(st.buf) < 2 + size:
            return
        data = st.buf[2:2 + size]
        srv = st.server
        ok = (len(data) >= 12 and ((data[0] << 8) | data[1]) == q.qid and data[2] & 0x80
              and not (((data[2] << 8) | data[3]) & 0x7800) and data[4:6] == b"\x00\x01"
              and data[12:12 + len(q.question)].lower() == q.question_lower)
        self._close_tcp(q)
        self.inflight -= 1
        if not ok:
            self._next_server(qi, "ERROR", "TCP reply from %s does not match the question" % srv.text)
            return
        srv.last_reply = time.monotonic()
        self._reply(qi, srv, data, (data[2] << 8) | data[3], tcp=True)


def _strerror(err):
    import os

    try:
        return os.strerror(err)
    except ValueError:
        return "error %d" % err


def _network_cause(srv, exc):
    if isinstance(exc, ConnectionRefusedError) or getattr(exc, "errno", None) == errno.ECONNREFUSED:
        return "connection refused by %s: nothing listens there (server down)" % srv.text
    return "network error talking to %s: %s" % (srv.text, exc.strerror or exc)


class Resolver:
    """Several batches, one view of the servers: a server found dead in one batch is not asked
    again by the next (each batch opens and closes its own sockets).

    ``r = Resolver(timeout=2.0); outcomes = r.resolve(queries)``.
    """

    def __init__(self, timeout=2.0, attempts=DEFAULT_ATTEMPTS, window=DEFAULT_WINDOW):
        self.timeout = timeout
        self.attempts = attempts
        self.window = window
        self.servers = {}
        self.stats = {"queries": 0, "sent": 0, "retransmits": 0, "tcp": 0, "failovers": 0, "seconds": 0.0,
                      "dead_servers": []}

    def resolve(self, queries, deadline=None):
        batch = Batch(queries, self.timeout, self.attempts, self.window, deadline, self.servers)
        outcomes = batch.run()
        for k in ("queries", "sent", "retransmits", "tcp", "failovers", "seconds"):
            self.stats[k] = round(self.stats[k] + batch.stats[k], 4)
        self.stats["dead_servers"] = batch.stats["dead_servers"]
        return outcomes

    def dead(self, address, port):
        """The cause in words when this server was found dead, else None."""
        srv = self.servers.get((str(address), int(port)))
        return srv.cause[1] if srv is not None and srv.dead else None


def resolve(queries, timeout=2.0, attempts=DEFAULT_ATTEMPTS, window=DEFAULT_WINDOW, deadline=None):
    """One batch, sockets closed afterwards: ``(outcomes, stats)``."""
    batch = Batch(queries, timeout, attempts, window, deadline)
    outcomes = batch.run()
    return outcomes, batch.stats
