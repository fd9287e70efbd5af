"""The batch DNSBL engine against real servers on loopback: NSD, a port where nothing listens, a
server that reads and never answers, a server that answers late; SERVFAIL, REFUSED, truncation
(TCP), failover between nameservers, every zone kind with every Spamhaus code, IPv4-mapped IPv6."""
import ipaddress
import time

import pytest

from dnsfixture import LONG_TXT, LONG_TXT_IP, dns_env  # noqa: F401
from standins.dns.faulty import DelayedServer, SilentServer
from standins.dns.nsd import NSDServer, find_nsd, unused_udp_port, zone_text

from ansible_collections.mailfleet.fleet.plugins.module_utils import dnsbatch, dnsbl

pytestmark = pytest.mark.skipif(find_nsd() is None, reason="nsd is not installed (Debian package nsd)")

ZONE = [{"zone": "bl.rbl.test", "kind": "generic", "critical": True}]


def ips(n, net="198.51.100.0/24"):
    out = []
    base = ipaddress.ip_network(net)
    hosts = list(base.hosts())
    for i in range(n):
        out.append(str(hosts[i % len(hosts)]) if i < len(hosts) else str(ipaddress.ip_address("2001:db8::") + i))
    return out


def eight_zones(kind="generic"):
    return [{"zone": "z%d.rbl.test" % i, "kind": kind} for i in range(8)]


# ---- a dead or silent server costs one timeout for the whole batch --------------------------
@pytest.mark.parametrize("which", ["closed", "silent"])
def test_dead_server_every_pending_lookup_unknown_within_one_timeout(dns_env, which):
    timeout = 0.5
    ns = dns_env.closed_nameservers if which == "closed" else dns_env.timeout_nameservers
    subjects = ips(100)  # 100 IPs x 8 zones = 800 lookups, more than the window
    started = time.monotonic()
    results, stats = dnsbl.check(subjects, eight_zones(), ns, timeout=timeout)
    elapsed = time.monotonic() - started
    assert len(results) == 800
    assert {r["status"] for r in results} == {"unknown"}
    assert {r["cause"] for r in results} == {"network" if which == "closed" else "timeout"}
    assert elapsed < 2 * timeout, elapsed
    assert stats["dead_servers"] == [ns[0]]
    assert stats["sent"] <= 2 * 256  # a dead server is not asked again and again
    words = results[0]["meaning"]
    assert ("connection refused" in words) if which == "closed" else ("no answer" in words and "timeout" in words)


def test_silent_server_detected_without_waiting_per_query(dns_env):
    """A silent server with many lookups queued behind the window: still one timeout."""
    timeout = 0.4
    started = time.monotonic()
    out, stats = dnsbatch.resolve([("%d.x.rbl.test" % i, "A", [("127.0.0.1", dns_env.silent.port)])
                                   for i in range(1000)], timeout=timeout, window=64)
    elapsed = time.monotonic() - started
    assert {o["rcode"] for o in out} == {"TIMEOUT"}
    assert elapsed < 2 * timeout, elapsed
    assert stats["sent"] <= 64 * 2


def test_slow_answers_beyond_timeout_are_unknown(dns_env):
    with DelayedServer(dns_env.nameservers[0], delay=1.0) as slow:
        started = time.monotonic()
        results, _ = dnsbl.check(["192.0.2.10", "192.0.2.11"], ZONE, [slow.address], timeout=0.4)
        elapsed = time.monotonic() - started
    assert {r["status"] for r in results} == {"unknown"} and {r["cause"] for r in results} == {"timeout"}
    assert elapsed < 0.8, elapsed


def test_slow_answers_within_timeout_are_answers(dns_env):
    with DelayedServer(dns_env.nameservers[0], delay=0.15) as slow:
        results, _ = dnsbl.check(["192.0.2.10", "192.0.2.11"], ZONE, [slow.address], timeout=1.0)
    by_ip = {r["ip"]: r for r in results}
    assert by_ip["192.0.2.10"]["status"] == "listed" and by_ip["192.0.2.11"]["status"] == "clean"


# ---- answers that are not answers ---------------------------------------------------------------
def test_servfail_and_refused_are_unknown_with_cause(dns_env):
    zones = [{"zone": "servfail.rbl.test"}, {"zone": "bl.elsewhere.example"}]  # NSD: SERVFAIL / REFUSED
    results, _ = dnsbl.check(["192.0.2.10"], zones, dns_env.nameservers, timeout=0.5)
    by_zone = {r["zone"]: r for r in results}
    assert by_zone["servfail.rbl.test"]["status"] == "unknown"
    assert by_zone["servfail.rbl.test"]["cause"] == "servfail" and "SERVFAIL" in by_zone["servfail.rbl.test"]["meaning"]
    assert by_zone["bl.elsewhere.example"]["status"] == "unknown"
    assert by_zone["bl.elsewhere.example"]["cause"] == "refused" and "REFUSED" in by_zone["bl.elsewhere.example"]["meaning"]


def test_truncated_answer_asked_again_over_tcp(dns_env):
    results, stats = dnsbl.check([LONG_TXT_IP], [{"zone": "long.rbl.test"}], dns_env.nameservers, timeout=1.0)
    assert results[0]["status"] == "listed"
    assert results[0]["reason"] == LONG_TXT  # the whole TXT: came over TCP
    assert stats["tcp"] >= 1


# ---- several nameservers: failover -------------------------------------------------------------
@pytest.mark.parametrize("first", ["closed", "silent"])
def test_failover_to_next_nameserver(dns_env, first):
    timeout = 0.5
    bad = dns_env.closed_nameservers if first == "closed" else dns_env.timeout_nameservers
    started = time.monotonic()
    results, stats = dnsbl.check(ips(50) + ["192.0.2.10"], ZONE, bad + dns_env.nameservers, timeout=timeout)
    elapsed = time.monotonic() - started
    assert "unknown" not in {r["status"] for r in results}
    assert {r["ip"]: r["status"] for r in results}["192.0.2.10"] == "listed"
    assert elapsed < 2 * timeout + 0.5, elapsed
    assert stats["dead_servers"] == bad


def test_servfail_fails_over_to_next_nameserver(dns_env):
    """A zone one server cannot load (SERVFAIL) is answered by the next server that can."""
    zones = {"rbl.test": zone_text("rbl.test", ["10.2.0.192.bl A 127.0.0.2"])}
    broken = {"rbl.test": None}
    with NSDServer(broken) as first, NSDServer(zones) as second:
        results, stats = dnsbl.check(["192.0.2.10"], ZONE, [first.address, second.address], timeout=1.0)
    assert results[0]["status"] == "listed" and stats["failovers"] >= 1


def test_every_server_failing_reports_every_cause(dns_env):
    closed = "127.0.0.3:%d" % unused_udp_port("127.0.0.3")
    results, _ = dnsbl.check(["192.0.2.10"], [{"zone": "servfail.rbl.test"}], dns_env.nameservers + [closed],
                             timeout=0.5)
    r = results[0]
    assert r["status"] == "unknown" and "SERVFAIL" in r["meaning"] and "connection refused" in r["meaning"]


def test_batch_deadline_bounds_the_whole_check(dns_env):
    with DelayedServer(dns_env.nameservers[0], delay=0.3) as slow:
        started = time.monotonic()
        results, _ = dnsbl.check(ips(20), ZONE, [slow.address], timeout=5.0, deadline=0.1)
        elapsed = time.monotonic() - started
    assert {r["status"] for r in results} == {"unknown"}
    assert "deadline" in results[0]["meaning"]
    assert elapsed < 0.5, elapsed


def test_replies_with_the_wrong_question_are_ignored(dns_env):
    """A reply whose id matches but whose question differs never answers the query."""
    import socket
    import threading

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    stop = threading.Event()

    def serve():
        import dns.message
        import dns.rrset

        sock.settimeout(0.05)
        while not stop.is_set():
            try:
                data, addr = sock.recvfrom(4096)
            except socket.timeout:
                continue
            q = dns.message.from_wire(data)
            other = dns.message.make_query("2.0.0.127.bl.rbl.test", "A")
            other.id = q.id
            r = dns.message.make_response(other)
            r.answer.append(dns.rrset.from_text(other.question[0].name, 60, "IN", "A", "127.0.0.2"))
            sock.sendto(r.to_wire(), addr)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        results, _ = dnsbl.check(["192.0.2.11"], ZONE, ["127.0.0.1:%d" % port], timeout=0.4)
    finally:
        stop.set()
        t.join(2)
        sock.close()
    assert results[0]["status"] == "unknown" and results[0]["cause"] == "timeout"


# ---- every zone kind with every Spamhaus code, on NSD ------------------------------------------
CODES = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.9", "127.0.0.10", "127.0.0.11",
         "127.255.255.252", "127.255.255.254", "127.255.255.255", "127.255.255.250",
         "127.0.0.1", "192.0.2.200", "10.0.0.1", "127.0.1.2", "127.0.1.255", "127.0.0.38", "127.0.0.8"]
KIND_ZONES = [
    {"zone": "zen.mirror.test", "kind": "spamhaus-zen"},
    {"zone": "zen.legacy.test", "kind": "spamhaus"},           # the earlier name of spamhaus-zen
    {"zone": "rats.mirror.test", "kind": "spamrats"},
    {"zone": "generic.mirror.test", "kind": "generic"},
    {"zone": "undeclared.mirror.test"},                        # no kind: generic
    {"zone": "dbl.mirror.test", "kind": "spamhaus-dbl"},
]
NEVER_LISTED = {"127.255.255.252", "127.255.255.254", "127.255.255.255", "127.255.255.250", "127.0.0.1",
                "192.0.2.200", "10.0.0.1"}
EXPECTED = {  # kind -> codes that are listings (everything else: error)
    "spamhaus-zen": {"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.9", "127.0.0.10", "127.0.0.11"},
    "spamrats": {"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.9", "127.0.0.10", "127.0.0.11", "127.0.1.2",
                 "127.0.1.255", "127.0.0.38", "127.0.0.8"},
    "generic": {"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.9", "127.0.0.10", "127.0.0.11", "127.0.1.2",
                "127.0.1.255", "127.0.0.38", "127.0.0.8"},
    "spamhaus-dbl": {"127.0.1.2"},
}


@pytest.fixture(scope="module")
def kinds_ns():
    records = []
    for i, code in enumerate(CODES):
        ip = "203.0.113.%d" % (i + 1)
        rev = ".".join(reversed(ip.split(".")))
        dom = "d%d.example.test" % i
        for z in KIND_ZONES:
            sub = z["zone"][: -len(".test")]
            records.append("%s.%s A %s" % (rev, sub, code))
            records.append("%s.%s A %s" % (dom, sub, code))
    with NSDServer({"test": zone_text("test", records)}) as ns:
        yield ns


def test_every_kind_with_every_code(kinds_ns):
    subjects = ["203.0.113.%d" % (i + 1) for i in range(len(CODES))]
    domains = ["d%d.example.test" % i for i in range(len(CODES))]
    results, _ = dnsbl.check(subjects, KIND_ZONES, [kinds_ns.address], timeout=1.0, domains=domains)
    kinds = {z["zone"]: dnsbl.normalize_zone(z)["kind"] for z in KIND_ZONES}
    seen = 0
    for r in results:
        subject = r.get("ip") or r.get("domain")
        idx = subjects.index(subject) if "ip" in r else domains.index(subject)
        code, kind = CODES[idx], kinds[r["zone"]]
        want = "listed" if code in EXPECTED[kind] else "error"
        assert r["status"] == want, (r["zone"], kind, code, r)
        if code in NEVER_LISTED:
            assert r["status"] == "error"
        seen += 1
    # domain zones are asked for domains only, IP zones for IPs only
    assert seen == len(CODES) * 5 + len(CODES) * 1
    assert all("domain" in r for r in results if r["zone"] == "dbl.mirror.test")
    assert not any("domain" in r for r in results if r["zone"] != "dbl.mirror.test")


# ---- IPv4-mapped IPv6 -----------------------------------------------------------------------------
def test_ipv4_mapped_ipv6_is_checked_as_its_ipv4(dns_env):
    results, stats = dnsbl.check(["::ffff:198.51.100.121", "198.51.100.121", "::FFFF:c633:6479"],
                                 dns_env.zones, dns_env.nameservers, timeout=1.0)
    assert stats["lookups"] == len(dns_env.zones)  # one address, asked once
    by_zone = {r["zone"]: r for r in results}
    assert by_zone["zen.rbl.test"]["ip"] == "198.51.100.121"
    assert by_zone["zen.rbl.test"]["status"] == "listed" and by_zone["bl.rbl.test"]["status"] == "listed"
