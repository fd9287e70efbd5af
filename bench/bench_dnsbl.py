"""DNSBL checker throughput: N IPs × 8 zones against a private NSD on 127.0.0.1.

Compares the concurrent engines (thread pool, dnspython asyncio) with a one-query-at-a-time loop
in the same run. Starts and stops its own NSD (tests/standins/dns/nsd.py). Runnable alone:
``.venv/bin/python bench/bench_dnsbl.py [--quick]``.
"""
import ipaddress
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for p in (os.path.join(ROOT, "collections"), os.path.join(ROOT, "tests")):
    if p not in sys.path:
        sys.path.insert(0, p)

from ansible_collections.mailfleet.fleet.plugins.module_utils import dnsbl  # noqa: E402
from standins.dns.nsd import NSDServer, find_nsd, zone_text  # noqa: E402

ZONE_NAMES = ["zen", "b", "spamcop", "psbl", "mailspike", "rats", "uce1", "extra"]


def _ips(n):
    base = int(ipaddress.ip_address("198.51.100.0"))
    # spread over 198.51.100.0/24 and 203.0.113.0/24 … then wrap into 192.0.2.0/24 (documentation)
    nets = [ipaddress.ip_network(x) for x in ("198.51.100.0/24", "203.0.113.0/24", "192.0.2.0/24")]
    out = []
    for net in nets:
        for host in list(net)[1:255]:
            out.append(str(host))
    # beyond 762 addresses: IPv6 documentation space
    i = 1
    while len(out) < n:
        out.append(str(ipaddress.ip_address("2001:db8::") + i))
        i += 1
    del base
    return out[:n]


def _zones(ips):
    recs = []
    for i, ip in enumerate(ips):
        if i % 20 == 0:  # 5 % listed on two zones each, with a TXT reason
            for z in (ZONE_NAMES[i % 8], ZONE_NAMES[(i + 3) % 8]):
                owner = dnsbl.query_name(ip, "%s.bench.test" % z)[: -len(".bench.test")]
                code = "127.0.0.2" if z != "zen" else "127.0.0.4"
                recs.append("%s A %s" % (owner, code))
                recs.append('%s TXT "listed in benchmark"' % owner)
    return {"bench.test": zone_text("bench.test", recs)}


def _cfg():
    return [{"zone": "%s.bench.test" % z, "kind": "spamhaus" if z == "zen" else "generic",
             "critical": z in ("zen", "b", "spamcop")} for z in ZONE_NAMES]


def run(quick=False):
    if find_nsd() is None:
        raise RuntimeError("nsd is not installed (Debian package 'nsd')")
    n = 100 if quick else 1000
    ips = _ips(n)
    rows = []
    with NSDServer(_zones(ips)) as ns:
        servers = [ns.address]
        zones = _cfg()
        dnsbl.check(ips[:20], zones, servers, timeout=2.0)  # warm up
        measured = {}
        expected = None
        for engine, workers in (("serial", 1), ("threads", 16), ("threads", 64), ("async", 64)):
            results, stats = dnsbl.check(ips, zones, servers, timeout=2.0, engine=engine, workers=workers)
            statuses = dnsbl.summarize(results)["counts"]
            if expected is None:
                expected = statuses
            if statuses["listed"] + statuses["error"] > expected["listed"] + expected["error"]:
                raise RuntimeError("%s/%d gave %r, serial gave %r" % (engine, workers, statuses, expected))
            case = "%s" % engine if engine == "serial" else "%s-%d" % (engine, workers)
            stats["unknown"] = statuses["unknown"]
            measured[case] = stats
        base = measured["serial"]["seconds"]
        for case, stats in measured.items():
            label = "%d IPs x %d zones, %s" % (n, len(zones), case)
            rows.append({"benchmark": "dnsbl", "case": label, "metric": "wall_s",
                         "value": stats["seconds"], "ratio": round(base / stats["seconds"], 2)})
            rows.append({"benchmark": "dnsbl", "case": label, "metric": "lookups_per_s",
                         "value": stats["lookups_per_second"], "ratio": round(base / stats["seconds"], 2)})
            # lookups lost (timeouts) — must be 0 for a usable setting
            rows.append({"benchmark": "dnsbl", "case": label, "metric": "unknown",
                         "value": stats["unknown"], "ratio": None})
    return rows


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print("{benchmark:8} {case:40} {metric:14} {value:>10} x{ratio}".format(**row))
