# -*- coding: utf-8 -*-
"""Session-scoped real DNS (NSD on 127.0.0.1) with test DNSBL zones and test sending domains.

Import the fixture in a test module: ``from dnsfixture import dns_env  # noqa: F401``.

Everything lives under ``.test`` and documentation address ranges; every lookup the tests make
names this server explicitly, so nothing ever reaches a public resolver.
"""
from __future__ import annotations

import base64
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

from standins.dns.faulty import SilentServer  # noqa: E402
from standins.dns.nsd import NSDServer, find_nsd, unused_udp_port, zone_text  # noqa: E402

DQS_KEY = "k3ytest0secret"

# ---- DNSBL data ------------------------------------------------------------------------------
# ip -> {zone suffix under rbl.test: [A answers]}
RBL_DATA = {
    "192.0.2.10": {"zen": ["127.0.0.2"], "bl": ["127.0.0.2"], "dqzen": ["127.0.0.3"]},
    "192.0.2.11": {},
    "192.0.2.12": {"zen": ["127.255.255.254"]},
    "192.0.2.13": {"zen": ["127.255.255.252"], "bl": ["127.0.0.1"]},
    "192.0.2.14": {"bl": ["192.0.2.200"]},
    "192.0.2.15": {"zen": ["127.0.0.4", "127.0.0.10"]},
    "203.0.113.5": {"zen": ["127.255.255.255"]},
    "2001:db8::10": {"bl": ["127.0.0.2"]},
    "198.51.100.121": {"zen": ["127.0.0.2"], "bl": ["127.0.0.9"]},   # also asked as ::ffff:198.51.100.121
}
# a TXT reason longer than a 512-byte UDP answer: NSD truncates it (TC), the checker asks again over TCP
LONG_TXT_IP = "192.0.2.10"
LONG_TXT = "Listed: " + " ".join("reason-%03d" % i for i in range(70))
RBL_TXT = {
    ("192.0.2.10", "zen"): "https://check.spamhaus.example/sbl/query/SBL0001",
    ("192.0.2.10", "bl"): "Listed for spam trap hits, see https://bl.example.test/192.0.2.10",
}
# the zone names the tests configure
ZONES = [
    {"zone": "zen.rbl.test", "kind": "spamhaus", "critical": True, "dqs_zone": "zen.dq.rbl.test"},
    {"zone": "bl.rbl.test", "kind": "generic", "critical": True},
    {"zone": "minor.rbl.test", "kind": "generic", "critical": False},
]


def _rev(ip):
    import ipaddress

    addr = ipaddress.ip_address(ip)
    if addr.version == 4:
        return ".".join(reversed(ip.split(".")))
    return ".".join(reversed(addr.exploded.replace(":", "")))


def rbl_records():
    recs = []
    for ip, zones in RBL_DATA.items():
        for zone, answers in zones.items():
            owner = "%s.%s" % (_rev(ip), zone if zone != "dqzen" else DQS_KEY + ".zen.dq")
            for a in answers:
                recs.append("%s A %s" % (owner, a))
            txt = RBL_TXT.get((ip, zone))
            if txt:
                recs.append('%s TXT "%s"' % (owner, txt))
    # a long TXT on the "long" zone (TCP after truncation)
    owner = "%s.long" % _rev(LONG_TXT_IP)
    recs.append("%s A 127.0.0.2" % owner)
    recs.append("%s TXT %s" % (owner, _txt(LONG_TXT)))
    # minor.rbl.test: 192.0.2.11 listed on a non-critical zone
    recs.append("%s.minor A 127.0.0.2" % _rev("192.0.2.11"))
    # test entry per RFC 5782 (127.0.0.2 is listed in every DNSBL)
    for z in ("zen", "bl", "minor"):
        recs.append("2.0.0.127.%s A 127.0.0.2" % z)
    return recs


# ---- sending domains --------------------------------------------------------------------------
def _pem_and_txt(bits):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    if bits < 1024:  # cryptography refuses to generate weak keys; openssl still can
        import subprocess

        out = subprocess.run(["openssl", "genrsa", str(bits)], capture_output=True, check=True).stdout
        key = serialization.load_pem_private_key(out, password=None)
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem, base64.b64encode(der).decode("ascii")


def _txt(text):
    """Zone-file TXT rdata split into <=250-byte strings."""
    parts = [text[i:i + 250] for i in range(0, len(text), 250)]
    return " ".join('"%s"' % p for p in parts)


def domain_zones(keydir):
    """(zones dict, info dict) for the sending-domain test cases; writes DKIM PEM files in keydir."""
    keys = {}
    for name, bits in (("good", 2048), ("short", 1024), ("other", 2048), ("tiny", 768)):
        pem, pub = _pem_and_txt(bits)
        path = os.path.join(keydir, "%s.pem" % name)
        with open(path, "wb") as fh:
            fh.write(pem)
        keys[name] = {"path": path, "p": pub}
    dkim = lambda p: "mf1._domainkey TXT " + _txt("v=DKIM1; k=rsa; p=" + p)  # noqa: E731
    dmarc_good = '_dmarc TXT "v=DMARC1; p=reject; rua=mailto:dmarc@%s; adkim=r; aspf=r"'
    zones = {}
    zones["good.test"] = zone_text("good.test", [
        '@ TXT "v=spf1 ip4:192.0.2.10 include:_spf.good.test mx -all"',
        '_spf TXT "v=spf1 ip6:2001:db8::10 ?ip4:192.0.2.13 ~all"',
        "@ MX 10 mx.good.test.",
        "mx A 192.0.2.11",
        dkim(keys["good"]["p"]),
        dmarc_good % "good.test",
        "mta1 A 192.0.2.10",
        "mta2 A 192.0.2.99",
        "other A 192.0.2.13",
        "mta3 A 192.0.2.13",
        "mta6 AAAA 2001:db8::10",
    ])
    zones["toomany.test"] = zone_text("toomany.test", [
        "@ TXT " + _txt("v=spf1 %s ip4:192.0.2.10 -all" % " ".join("include:i%d.toomany.test" % i for i in range(11))),
        dkim(keys["good"]["p"]),
        dmarc_good % "toomany.test",
        "@ MX 10 mx.good.test.",
    ] + ['i%d TXT "v=spf1 ip4:198.51.100.%d -all"' % (i, i + 1) for i in range(11)])
    zones["void.test"] = zone_text("void.test", [
        '@ TXT "v=spf1 a:nx1.void.test a:nx2.void.test a:nx3.void.test ip4:192.0.2.10 -all"',
        dkim(keys["good"]["p"]),
        dmarc_good % "void.test",
        "@ MX 10 mx.good.test.",
    ])
    zones["uncovered.test"] = zone_text("uncovered.test", [
        '@ TXT "v=spf1 ip4:198.51.100.0/24 -ip4:192.0.2.10 ~all"',
        dkim(keys["other"]["p"]),            # published key does not match good.pem
        '_dmarc TXT "v=DMARC1; p=none"',
        "@ MX 10 mx.good.test.",
    ])
    zones["short.test"] = zone_text("short.test", [
        '@ TXT "v=spf1 ip4:192.0.2.0/24 -all"',
        dkim(keys["short"]["p"]),
        '_dmarc TXT "v=DMARC1; p=quarantine; rua=mailto:dmarc@short.test; adkim=s; aspf=s"',
        "@ MX 10 mx.good.test.",
    ])
    zones["revoked.test"] = zone_text("revoked.test", [
        '@ TXT "v=spf1 ip4:192.0.2.0/24 -all"',
        'mf1._domainkey TXT "v=DKIM1; k=rsa; p="',
        "@ MX 10 mx.good.test.",
    ])
    zones["tiny.test"] = zone_text("tiny.test", [
        '@ TXT "v=spf1 ip4:192.0.2.0/24 -all"',
        dkim(keys["tiny"]["p"]),
        dmarc_good % "tiny.test",
        "@ MX 10 mx.good.test.",
    ])
    zones["badsyntax.test"] = zone_text("badsyntax.test", [
        '@ TXT "v=spf1 ip4:192.0.2.300 -all"',
        dkim(keys["good"]["p"]),
        dmarc_good % "badsyntax.test",
        "@ MX 10 mx.good.test.",
    ])
    zones["test"] = zone_text("test", [])  # parent: NXDOMAIN for names not in a child zone
    zones["2.0.192.in-addr.arpa"] = zone_text("2.0.192.in-addr.arpa", [
        "10 PTR mta1.good.test.",
        "11 PTR mta2.good.test.",   # forward A of mta2 is 192.0.2.99: not confirmed
        "13 PTR other.good.test.",  # confirmed, but not the configured hostname mta3.good.test
        # 12: no PTR at all
    ])
    zones["8.b.d.0.1.0.0.2.ip6.arpa"] = zone_text("8.b.d.0.1.0.0.2.ip6.arpa", [
        "%s PTR mta6.good.test." % _rev("2001:db8::10")[: -len(".8.b.d.0.1.0.0.2")],
    ])
    info = {"keys": {k: v["path"] for k, v in keys.items()}}
    return zones, info


class DNSEnv:
    """What the tests get: server, nameserver spec strings, zones, keys."""

    def __init__(self, server, silent, closed_ns, info):
        self.server = server
        self.silent = silent
        self.port = server.port
        self.nameservers = ["127.0.0.1:%d" % server.port]
        self.timeout_nameservers = [silent.address]     # reads every query, never answers
        self.closed_nameservers = [closed_ns]           # nothing listens: ICMP port unreachable
        self.zones = [dict(z) for z in ZONES]
        self.keys = info["keys"]
        self.dqs_key = DQS_KEY

    def zones_with_broken(self):
        """Configured zones plus one that SERVFAILs and one that times out."""
        return self.zones + [
            {"zone": "servfail.rbl.test", "critical": True},
            {"zone": "timeout.rbl.test", "critical": True, "nameservers": self.timeout_nameservers},
        ]


def start_env(tmpdir):
    keydir = os.path.join(tmpdir, "keys")
    os.makedirs(keydir, exist_ok=True)
    zones, info = domain_zones(keydir)
    zones["rbl.test"] = zone_text("rbl.test", rbl_records())
    zones["servfail.rbl.test"] = None  # unparsable zone file: NSD answers SERVFAIL
    server = NSDServer(zones, workdir=os.path.join(tmpdir, "nsd"))
    server.start()
    # nothing listens on this loopback address/port: "connection refused"
    closed_ns = "127.0.0.2:%d" % unused_udp_port("127.0.0.2")
    silent = SilentServer().start()
    return DNSEnv(server, silent, closed_ns, info)


@pytest.fixture(scope="session")
def dns_env(tmp_path_factory):
    if find_nsd() is None:
        pytest.skip("nsd not installed (Debian package 'nsd'; run tests/setup/system-deps.sh as root)")
    env = start_env(str(tmp_path_factory.mktemp("dns")))
    try:
        yield env
    finally:
        env.server.stop()
        env.silent.stop()
