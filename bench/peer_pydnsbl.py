"""Peer for bench_dnsbl.py: pydnsbl's bulk check of IPs x zones against one nameserver.

Runs inside the bench's own virtualenv (.work/bench-peers, made by bench_dnsbl.py), never in the
project's. Reads a JSON job on stdin: {"port", "zones", "ips", "runs", "timeout"}; prints one JSON
line: {"seconds": [per run], "listed": [[ip, zone], ...] (last run), "failed": n (last run)}.
"""
import asyncio
import json
import sys
import time

import aiodns
from pydnsbl import DNSBLIpChecker
from pydnsbl.providers import Provider


def main():
    job = json.load(sys.stdin)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    checker = DNSBLIpChecker(providers=[Provider(z) for z in job["zones"]], timeout=job["timeout"], tries=2,
                             concurrency=200, loop=loop)
    # pydnsbl builds its resolver from /etc/resolv.conf: point it at the bench's NSD instead
    checker._resolver = aiodns.DNSResolver(nameservers=["127.0.0.1"], loop=loop, timeout=job["timeout"], tries=2,
                                           udp_port=job["port"], tcp_port=job["port"])
    seconds, results = [], None
    for _ in range(job["runs"]):
        started = time.perf_counter()
        results = checker.bulk_check(job["ips"])
        seconds.append(time.perf_counter() - started)
    listed = sorted([r.addr, zone] for r in results for zone in r.detected_by)
    failed = sum(len(r.failed_providers) for r in results)
    print(json.dumps({"seconds": seconds, "listed": listed, "failed": failed}))


if __name__ == "__main__":
    main()
