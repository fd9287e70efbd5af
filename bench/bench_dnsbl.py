"""DNSBL checker throughput and correctness, side by side with its peers, in one run.

Against one private NSD on 127.0.0.1 (tests/standins/dns/nsd.py, rate limiting off) serving
1,000 IPs x 8 zones (8,000 lookups) with a realistic mix of answers -- listings with TXT reasons,
Spamhaus error answers (127.255.255.252/.254/.255), 127.0.0.1 and answers outside 127/8 -- it
measures, alternating run by run:

* mailfleet: ``dnsbl.check`` (the batch engine; interpretation and TXT follow-ups included);
* pydnsbl 1.1.7 (c-ares via aiodns, asyncio; concurrency 200), installed by this bench into its own
  virtualenv ``.work/bench-peers`` -- never into the project's -- and run in a child process (only its
  ``bulk_check`` is timed, after a warm-up run);
* a plain sequential dnspython loop (one ``resolver.resolve`` after the other, any A answer = listed).

Each prints lookups/s (median of the runs) with the ratio to pydnsbl (for mailfleet: the median of
the round-by-round ratios), and its false listings (listed
where the answer is an error code, 127.0.0.1 or outside 127/8) and missed listings against the
truth the zone data was generated from. mailfleet must have 0 of both or the bench fails. Then the
cost of a dead DNS server for 160 lookups (20 IPs x 8 zones, timeout 2 s): port closed, and a server
that reads every query and never answers.

Runnable alone: ``.venv/bin/python bench/bench_dnsbl.py [--quick]``.
"""
import ipaddress
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for p in (os.path.join(ROOT, "collections"), os.path.join(ROOT, "tests")):
    if p not in sys.path:
        sys.path.insert(0, p)

from ansible_collections.mailfleet.fleet.plugins.module_utils import dnsbl  # noqa: E402
from standins.dns.faulty import SilentServer  # noqa: E402
from standins.dns.nsd import NSDServer, find_nsd, unused_udp_port, zone_text  # noqa: E402

# zone -> declared kind (a realistic set: Spamhaus ZEN, a ZEN mirror, SpamRATS, generic lists)
ZONES = {"zen": "spamhaus-zen", "b": "generic", "spamcop": "generic", "psbl": "generic", "mailspike": "generic",
         "rats": "spamrats", "uce1": "generic", "zenmirror": "spamhaus-zen"}
ZONE_NAMES = list(ZONES)
SUFFIX = "bench.test"
PEER_VENV = os.path.join(ROOT, ".work", "bench-peers")
PEER_PINS = ["pydnsbl==1.1.7", "aiodns==3.6.1", "pycares==4.11.0"]
PEER_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "peer_pydnsbl.py")


def _ips(n):
    """n addresses from the documentation ranges (IPv6 2001:db8:: past the 762 IPv4 ones)."""
    out = []
    for net in ("198.51.100.0/24", "203.0.113.0/24", "192.0.2.0/24"):
        out.extend(str(h) for h in list(ipaddress.ip_network(net))[1:255])
    i = 1
    while len(out) < n:
        out.append(str(ipaddress.ip_address("2001:db8::") + i))
        i += 1
    return out[:n]


def _answers(ips):
    """{(ip, zone): [A answers]} -- the mix -- and the set of true listings."""
    data = {}
    for i, ip in enumerate(ips):
        if i % 20 == 0:  # 5 % listed on two zones, with a TXT reason
            for z in (ZONE_NAMES[i % 8], ZONE_NAMES[(i + 3) % 8]):
                data[(ip, z)] = ["127.0.0.4" if ZONES[z] == "spamhaus-zen" else "127.0.0.2"]
        if i % 50 == 7:
            data[(ip, "zen")] = ["127.255.255.254"]      # Spamhaus: query via a public resolver
        if i % 50 == 17:
            data[(ip, "zenmirror")] = ["127.255.255.255"]  # Spamhaus: over quota
        if i % 100 == 27:
            data[(ip, "zen")] = ["127.255.255.252"]      # Spamhaus: typo in the zone
        if i % 100 == 37:
            data[(ip, "b")] = ["127.0.0.1"]              # never a listing
        if i % 100 == 47:
            data[(ip, "spamcop")] = ["192.0.2.200"]      # NXDOMAIN-rewriting resolver
        if i % 100 == 57:
            data[(ip, "rats")] = ["127.0.0.38"]          # SpamRATS spam
        if i % 100 == 67:
            data[(ip, "psbl")] = ["127.0.0.2", "127.0.0.3"]
    truth = set()
    for (ip, z), answers in data.items():
        if all(a.startswith("127.") and a != "127.0.0.1" and not a.startswith("127.255.255.") for a in answers):
            truth.add((ip, "%s.%s" % (z, SUFFIX)))
    return data, truth


def _zone_file(data):
    recs = []
    for (ip, z), answers in sorted(data.items()):
        owner = dnsbl.query_name(ip, "%s.%s" % (z, SUFFIX))[: -len("." + SUFFIX)]
        for a in answers:
            recs.append("%s A %s" % (owner, a))
        recs.append('%s TXT "listed in benchmark"' % owner)
    return {SUFFIX: zone_text(SUFFIX, recs)}


def _cfg():
    return [{"zone": "%s.%s" % (z, SUFFIX), "kind": k, "critical": z in ("zen", "b", "spamcop")}
            for z, k in ZONES.items()]


def _score(listed, truth):
    listed = set(listed)
    return len(listed - truth), len(truth - listed)


# ---- the engines ----------------------------------------------------------------------------------
def run_mailfleet(ips, servers):
    started = time.perf_counter()
    results, stats = dnsbl.check(ips, _cfg(), servers, timeout=2.0)
    seconds = time.perf_counter() - started
    listed = [(r["ip"], r["zone"]) for r in results if r["status"] == "listed"]
    unknown = sum(1 for r in results if r["status"] == "unknown")
    return seconds, listed, unknown


def run_sequential(ips, port):
    import dns.nameserver
    import dns.resolver

    res = dns.resolver.Resolver(configure=False)
    res.nameservers = [dns.nameserver.Do53Nameserver("127.0.0.1", port)]
    res.lifetime, res.timeout, res.cache = 2.0, 1.0, None
    zones = ["%s.%s" % (z, SUFFIX) for z in ZONE_NAMES]
    listed, unknown = [], 0
    started = time.perf_counter()
    for ip in ips:
        for zone in zones:
            try:
                res.resolve(dnsbl.query_name(ip, zone), "A", search=False)
                listed.append((ip, zone))  # the plain loop: any A answer is a listing
            except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
                pass
            except Exception:  # timeouts, SERVFAIL: not counted as listed
                unknown += 1
    return time.perf_counter() - started, listed, unknown


def ensure_peer_venv():
    """.work/bench-peers with pydnsbl pinned (created once, reused): its python."""
    python = os.path.join(PEER_VENV, "bin", "python")
    stamp = os.path.join(PEER_VENV, ".installed-" + "-".join(PEER_PINS).replace("==", "_"))
    if not os.path.exists(stamp):
        if not os.path.exists(python):
            subprocess.run([sys.executable, "-m", "venv", PEER_VENV], check=True)
        proc = subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check"] + PEER_PINS,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError("installing the bench peer %s failed: %s" % (PEER_PINS, proc.stderr[-2000:]))
        open(stamp, "w").close()
    return python


def run_pydnsbl(python, ips, port, runs=1):
    """pydnsbl in its venv: one warm-up run, then ``runs`` timed ones (median)."""
    job = {"port": port, "zones": ["%s.%s" % (z, SUFFIX) for z in ZONE_NAMES], "ips": ips, "runs": runs + 1,
           "timeout": 2.0}
    proc = subprocess.run([python, PEER_SCRIPT], input=json.dumps(job), capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError("pydnsbl peer failed: %s" % proc.stderr[-2000:])
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return statistics.median(out["seconds"][1:]), [tuple(x) for x in out["listed"]], out["failed"]


def dead_server_cost(n_ips=20):
    """Seconds for n_ips x 8 lookups against a closed port and a silent server (timeout 2 s)."""
    ips = _ips(n_ips)
    out = {}
    closed = "127.0.0.1:%d" % unused_udp_port()
    with SilentServer() as silent:
        for case, ns in (("port closed", closed), ("silent server", silent.address)):
            started = time.perf_counter()
            results, _ = dnsbl.check(ips, _cfg(), [ns], timeout=2.0)
            seconds = time.perf_counter() - started
            if {r["status"] for r in results} != {"unknown"}:
                raise RuntimeError("dead server (%s) gave %r" % (case, {r["status"] for r in results}))
            out[case] = (len(results), seconds)
    return out


def run(quick=False):
    if find_nsd() is None:
        raise RuntimeError("nsd is not installed (Debian package 'nsd')")
    n = 100 if quick else 1000
    rounds = 3 if quick else 5
    ips = _ips(n)
    data, truth = _answers(ips)
    python = ensure_peer_venv()
    lookups = n * len(ZONE_NAMES)
    rows = []
    with NSDServer(_zone_file(data)) as ns:
        servers = [ns.address]
        run_mailfleet(ips[:50], servers)  # warm up (imports, NSD)
        secs = {"mailfleet": [], "pydnsbl": []}
        last = {}
        for _ in range(rounds):  # alternate, so a drifting machine slows both alike
            s, listed, unknown = run_mailfleet(ips, servers)
            secs["mailfleet"].append(s)
            last["mailfleet"] = (listed, unknown)
            s, listed, failed = run_pydnsbl(python, ips, ns.port)
            secs["pydnsbl"].append(s)
            last["pydnsbl"] = (listed, failed)
        s, listed, unknown = run_sequential(ips, ns.port)
        secs["dnspython sequential"] = [s]
        last["dnspython sequential"] = (listed, unknown)
    qps = {k: lookups / statistics.median(v) for k, v in secs.items()}
    # mailfleet / pydnsbl round by round (each pair measured back to back), then the median
    paired = statistics.median(p / m for m, p in zip(secs["mailfleet"], secs["pydnsbl"]))
    for engine in ("mailfleet", "pydnsbl", "dnspython sequential"):
        false, missed = _score(last[engine][0], truth)
        label = "%d IPs x %d zones, %s" % (n, len(ZONE_NAMES), engine)
        ratio = round(paired if engine == "mailfleet" else qps[engine] / qps["pydnsbl"], 2)
        rows.append({"benchmark": "dnsbl", "case": label, "metric": "lookups_per_s", "value": round(qps[engine]),
                     "ratio": ratio})
        rows.append({"benchmark": "dnsbl", "case": label, "metric": "lookups_per_s_min_max",
                     "value": "%d-%d" % (lookups / max(secs[engine]), lookups / min(secs[engine])), "ratio": None})
        rows.append({"benchmark": "dnsbl", "case": label, "metric": "false_listings", "value": false, "ratio": None})
        rows.append({"benchmark": "dnsbl", "case": label, "metric": "missed_listings", "value": missed, "ratio": None})
        rows.append({"benchmark": "dnsbl", "case": label, "metric": "unknown", "value": last[engine][1], "ratio": None})
        if engine == "mailfleet" and (false or missed or last[engine][1]):
            raise RuntimeError("mailfleet: %d false, %d missed listings, %d unknown" % (false, missed, last[engine][1]))
    for case, (count, seconds) in sorted(dead_server_cost().items()):
        rows.append({"benchmark": "dnsbl", "case": "%d lookups, dead DNS server (%s), timeout 2 s" % (count, case),
                     "metric": "wall_s", "value": round(seconds, 3), "ratio": round(seconds / 2.0, 2)})
    return rows


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print("{benchmark:8} {case:46} {metric:22} {value!s:>10} x{ratio}".format(**row))
