# -*- coding: utf-8 -*-
"""DNSBL checks for sending IPs (controller side; needs dnspython).

Two layers:

* pure: :func:`query_name`, :func:`zone_query_base`, :func:`interpret`, :func:`summarize` — no I/O;
  :func:`interpret` turns one raw DNS outcome into a result dict following RFC 5782 and each
  list's documented return codes.
* I/O: :func:`check` runs every IP × zone lookup concurrently (thread pool by default, or
  dnspython's asyncio resolver) against explicitly configured nameservers only — a resolver is
  never built from ``/etc/resolv.conf``: Spamhaus refuses public resolvers and answers them with
  127.255.255.254, which must not become a "listing".

Result dict (one per IP and zone)::

    {"zone": "zen.spamhaus.org", "ip": "192.0.2.10", "status": "listed|clean|unknown|error",
     "code": "127.0.0.4" | None, "codes": [...], "meaning": "XBL ...", "reason": "TXT text" | None}

``listed`` is an A answer in 127.0.0.0/8 other than 127.0.0.1 (and, for lists with a known code
table such as Spamhaus, a documented listing code). ``clean`` is NXDOMAIN (or a name without an A
record). ``unknown`` is no usable answer (timeout, SERVFAIL, REFUSED). ``error`` is an answer that
cannot mean a listing: 127.0.0.1, anything outside 127/8 (NXDOMAIN-rewriting resolvers), Spamhaus
127.255.255.x error codes, an undocumented code on a list with a strict code table.
"""
from __future__ import absolute_import, division, print_function

import asyncio
import ipaddress
import time
from concurrent.futures import ThreadPoolExecutor

__metaclass__ = type

try:
    import dns.asyncresolver
    import dns.exception
    import dns.nameserver
    import dns.rdatatype
    import dns.resolver

    HAS_DNSPYTHON = True
except ImportError:  # pragma: no cover - reported by the modules
    HAS_DNSPYTHON = False

STATUSES = ("listed", "clean", "unknown", "error")

SPAMHAUS_CODES = {
    "127.0.0.2": "SBL: Spamhaus SBL data (direct spam source / spam operation)",
    "127.0.0.3": "CSS: Spamhaus CSS (snowshoe / low-reputation sending)",
    "127.0.0.4": "XBL: exploits / CBL (compromised host, botnet, open proxy)",
    "127.0.0.5": "XBL: exploits",
    "127.0.0.6": "XBL: exploits",
    "127.0.0.7": "XBL: exploits",
    "127.0.0.9": "DROP: Spamhaus DROP/EDROP (hijacked or criminal netblock)",
    "127.0.0.10": "PBL: ISP-maintained policy block list (not meant to send direct-to-MX)",
    "127.0.0.11": "PBL: Spamhaus-maintained policy block list (not meant to send direct-to-MX)",
}
SPAMHAUS_ERRORS = {
    "127.255.255.252": "Spamhaus error: typing error in the DNSBL name (zone misconfigured)",
    "127.255.255.254": "Spamhaus error: query via a public/open resolver (use your own resolver or DQS)",
    "127.255.255.255": "Spamhaus error: excessive number of queries (over quota)",
}
SPAMRATS_CODES = {
    "127.0.0.36": "RATS-Dyna: dynamic/residential IP",
    "127.0.0.37": "RATS-NoPtr: no reverse DNS",
    "127.0.0.38": "RATS-Spam: observed sending spam",
    "127.0.0.43": "RATS-Auth: authentication attacks",
}

# Default zones (SORBS shut down in June 2024 and is deliberately absent).
DEFAULT_ZONES = [
    {"zone": "zen.spamhaus.org", "name": "Spamhaus ZEN", "kind": "spamhaus", "critical": True,
     "dqs_zone": "zen.dq.spamhaus.net"},
    {"zone": "b.barracudacentral.org", "name": "Barracuda", "kind": "generic", "critical": True},
    {"zone": "bl.spamcop.net", "name": "SpamCop", "kind": "generic", "critical": True},
    {"zone": "psbl.surriel.com", "name": "PSBL", "kind": "generic", "critical": False},
    {"zone": "bl.mailspike.net", "name": "Mailspike", "kind": "generic", "critical": False},
    {"zone": "all.spamrats.com", "name": "SpamRATS", "kind": "spamrats", "critical": False},
    {"zone": "dnsbl-1.uceprotect.net", "name": "UCEPROTECT L1", "kind": "generic", "critical": False},
]

KINDS = ("generic", "spamhaus", "spamrats")


class DNSBLConfigError(ValueError):
    """Invalid zone, IP or nameserver configuration."""


# ---------------------------------------------------------------------------------------------
# Configuration (pure)
# ---------------------------------------------------------------------------------------------
def normalize_zone(cfg):
    """One zone config (a zone name string or dict) → complete dict.

    Keys: zone, name, kind (generic|spamhaus|spamrats), critical (bool), codes ({ip: meaning}),
    strict (undocumented codes are errors; default True for spamhaus), dqs_zone (spamhaus),
    nameservers (optional per-zone override, e.g. a local rbldnsd mirror), txt (query TXT on listing).
    """
    if isinstance(cfg, str):
        cfg = {"zone": cfg}
    if not isinstance(cfg, dict) or not cfg.get("zone"):
        raise DNSBLConfigError("DNSBL zone entry needs a 'zone' name: %r" % (cfg,))
    zone = str(cfg["zone"]).strip().rstrip(".").lower()
    known = {z["zone"]: z for z in DEFAULT_ZONES}
    base = dict(known.get(zone, {}))
    base.update(cfg)
    kind = base.get("kind") or ("spamhaus" if zone.endswith("spamhaus.org") else "generic")
    if kind not in KINDS:
        raise DNSBLConfigError("DNSBL zone %s: kind must be one of %s, not %r" % (zone, ", ".join(KINDS), kind))
    codes = dict(base.get("codes") or {})
    if kind == "spamhaus":
        codes = dict(SPAMHAUS_CODES, **codes)
    elif kind == "spamrats":
        codes = dict(SPAMRATS_CODES, **codes)
    return {
        "zone": zone,
        "name": base.get("name") or zone,
        "kind": kind,
        "critical": bool(base.get("critical", False)),
        "codes": codes,
        "strict": bool(base.get("strict", kind == "spamhaus")),
        "dqs_zone": (base.get("dqs_zone") or "").rstrip(".").lower() or None,
        "nameservers": base.get("nameservers") or None,
        "txt": bool(base.get("txt", True)),
    }


def normalize_zones(zones=None):
    """List of zone configs (strings or dicts) → list of complete dicts; ``None`` → defaults.
    Also accepts a dict zone → settings."""
    if zones is None:
        zones = DEFAULT_ZONES
    if isinstance(zones, dict):
        zones = [dict(v or {}, zone=k) for k, v in zones.items()]
    out, seen = [], set()
    for cfg in zones:
        z = normalize_zone(cfg)
        if z["zone"] in seen:
            raise DNSBLConfigError("DNSBL zone %s listed twice" % z["zone"])
        seen.add(z["zone"])
        out.append(z)
    return out


def zone_query_base(zone, dqs_key=None):
    """The DNS name under which lookups for this zone are made. With a Spamhaus DQS key and a
    spamhaus-kind zone: ``<key>.<dqs_zone>`` (``<key>.zen.dq.spamhaus.net``)."""
    if dqs_key and zone["kind"] == "spamhaus":
        dqs_zone = zone.get("dqs_zone")
        if not dqs_zone:
            raise DNSBLConfigError("DNSBL zone %s: a DQS key needs dqs_zone" % zone["zone"])
        return "%s.%s" % (dqs_key.strip().strip("."), dqs_zone)
    return zone["zone"]


def reversed_ip(ip):
    """RFC 5782 label sequence: IPv4 reversed octets, IPv6 32 reversed nibbles."""
    try:
        addr = ipaddress.ip_address(str(ip).strip())
    except ValueError:
        raise DNSBLConfigError("not an IP address: %r" % (ip,))
    if addr.version == 4:
        return ".".join(reversed(str(addr).split(".")))
    return ".".join(reversed(addr.exploded.replace(":", "")))


def query_name(ip, base):
    """``query_name('192.0.2.1', 'zen.spamhaus.org')`` → ``'1.2.0.192.zen.spamhaus.org'``."""
    return "%s.%s" % (reversed_ip(ip), base.rstrip("."))


# ---------------------------------------------------------------------------------------------
# Interpretation (pure)
# ---------------------------------------------------------------------------------------------
def _result(zone, ip, status, code=None, codes=None, meaning="", reason=None):
    return {
        "zone": zone["zone"],
        "name": zone["name"],
        "ip": str(ip),
        "critical": zone["critical"],
        "status": status,
        "code": code,
        "codes": list(codes or ([code] if code else [])),
        "meaning": meaning,
        "reason": reason,
    }


def classify_code(zone, answer):
    """One A answer → (kind, meaning) where kind is 'listing' or 'error'."""
    try:
        addr = ipaddress.ip_address(answer)
    except ValueError:
        return "error", "answer %r is not an IPv4 address" % (answer,)
    if addr.version != 4 or addr not in ipaddress.ip_network("127.0.0.0/8"):
        return "error", ("answer %s is outside 127.0.0.0/8: not a DNSBL answer "
                         "(NXDOMAIN-rewriting or hijacking resolver?)" % answer)
    if answer == "127.0.0.1":
        return "error", "answer 127.0.0.1 is never a listing (test/misconfiguration answer)"
    if zone["kind"] == "spamhaus":
        if answer in SPAMHAUS_ERRORS:
            return "error", SPAMHAUS_ERRORS[answer]
        if answer.startswith("127.255.255."):
            return "error", "Spamhaus error code %s" % answer
    if answer in zone["codes"]:
        return "listing", zone["codes"][answer]
    if zone["strict"]:
        return "error", "undocumented return code %s for %s" % (answer, zone["zone"])
    return "listing", "listed (%s)" % answer


def interpret(zone, ip, outcome):
    """Pure: zone config + IP + raw outcome → result dict.

    ``outcome`` = ``{"rcode": "NOERROR"|"NXDOMAIN"|"NODATA"|"SERVFAIL"|"REFUSED"|"TIMEOUT"|"ERROR",
    "a": [dotted-quad, ...], "txt": [str, ...], "error": str}``.
    """
    if not isinstance(zone, dict) or "codes" not in zone:
        zone = normalize_zone(zone)
    rcode = (outcome.get("rcode") or "ERROR").upper()
    if rcode == "NXDOMAIN":
        return _result(zone, ip, "clean", meaning="not listed (NXDOMAIN)")
    if rcode == "NODATA" or (rcode == "NOERROR" and not outcome.get("a")):
        return _result(zone, ip, "clean", meaning="not listed (name exists without an A record)")
    if rcode != "NOERROR":
        detail = outcome.get("error") or rcode
        if rcode == "TIMEOUT":
            meaning = "no answer: timeout (%s)" % detail
        else:
            meaning = "no usable answer (%s): %s" % (rcode, detail)
        return _result(zone, ip, "unknown", meaning=meaning)
    answers = sorted(set(outcome.get("a") or []), key=_ip_sort_key)
    listings, errors = [], []
    for ans in answers:
        kind, meaning = classify_code(zone, ans)
        (listings if kind == "listing" else errors).append((ans, meaning))
    txt = [t for t in (outcome.get("txt") or []) if t]
    reason = " | ".join(txt) if txt else None
    if errors:
        # One bogus answer makes the whole response untrustworthy: never a listing.
        return _result(zone, ip, "error", code=errors[0][0], codes=[a for a, _ in errors],
                       meaning="; ".join(m for _, m in errors))
    return _result(zone, ip, "listed", code=listings[0][0], codes=[a for a, _ in listings],
                   meaning="; ".join(m for _, m in listings), reason=reason)


def _ip_sort_key(text):
    try:
        return (0, int(ipaddress.ip_address(text)))
    except ValueError:
        return (1, 0)


def summarize(results):
    """Results → ``{"ips": {ip: {"listed": [zones], "critical": [zones], "unknown": [zones],
    "errors": [zones]}}, "counts": {status: n}, "listed_ips": [...], "total": n}``."""
    counts = {s: 0 for s in STATUSES}
    ips = {}
    for r in results:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
        entry = ips.setdefault(r["ip"], {"listed": [], "critical": [], "unknown": [], "errors": []})
        if r["status"] == "listed":
            entry["listed"].append(r["zone"])
            if r.get("critical"):
                entry["critical"].append(r["zone"])
        elif r["status"] == "unknown":
            entry["unknown"].append(r["zone"])
        elif r["status"] == "error":
            entry["errors"].append(r["zone"])
    return {
        "ips": ips,
        "counts": counts,
        "listed_ips": sorted(ip for ip, e in ips.items() if e["listed"]),
        "critical_ips": sorted(ip for ip, e in ips.items() if e["critical"]),
        "total": len(results),
    }


# ---------------------------------------------------------------------------------------------
# Resolver setup and I/O
# ---------------------------------------------------------------------------------------------
def parse_nameserver(spec):
    """'127.0.0.1', '127.0.0.1:5353', '[::1]:53', '::1', {'address','port'} or a
    Do53Nameserver → Do53Nameserver."""
    if HAS_DNSPYTHON and isinstance(spec, dns.nameserver.Nameserver):
        return spec
    if isinstance(spec, dict):
        address, port = spec.get("address"), int(spec.get("port") or 53)
    else:
        text = str(spec).strip()
        port = 53
        if text.startswith("["):
            address, _, rest = text[1:].partition("]")
            if rest.startswith(":"):
                port = int(rest[1:])
        elif text.count(":") == 1:
            address, port = text.split(":")
            port = int(port)
        elif "@" in text:
            address, port = text.split("@", 1)
            port = int(port)
        else:
            address = text
    try:
        ipaddress.ip_address(address)
    except (ValueError, TypeError):
        raise DNSBLConfigError("nameserver %r: address must be an IP address" % (spec,))
    if not 0 < int(port) < 65536:
        raise DNSBLConfigError("nameserver %r: bad port" % (spec,))
    return dns.nameserver.Do53Nameserver(str(address), int(port))


def nameserver_text(ns):
    return "%s:%s" % (ns.address, ns.port) if ":" not in ns.address else "[%s]:%s" % (ns.address, ns.port)


def build_resolver(nameservers, timeout=2.0, attempt_timeout=None, asynchronous=False):
    """A dnspython resolver using only the given nameservers (never /etc/resolv.conf).
    ``timeout`` is the lifetime of one lookup; ``attempt_timeout`` the wait per UDP attempt."""
    if not nameservers:
        raise DNSBLConfigError("at least one nameserver is required (public resolvers are refused by "
                               "Spamhaus; the checker never falls back to /etc/resolv.conf)")
    cls = dns.asyncresolver.Resolver if asynchronous else dns.resolver.Resolver
    res = cls(configure=False)
    res.nameservers = [parse_nameserver(n) for n in nameservers]
    res.lifetime = float(timeout)
    res.timeout = float(attempt_timeout or min(1.0, float(timeout)))
    res.cache = None
    return res


def _exception_outcome(exc):
    if isinstance(exc, dns.resolver.NXDOMAIN):
        return {"rcode": "NXDOMAIN"}
    if isinstance(exc, dns.resolver.NoAnswer):
        return {"rcode": "NODATA"}
    if isinstance(exc, dns.exception.Timeout):
        return {"rcode": "TIMEOUT", "error": _short(str(exc))}
    if isinstance(exc, dns.resolver.NoNameservers):
        text = str(exc)
        rcode = "SERVFAIL" if "SERVFAIL" in text else ("REFUSED" if "REFUSED" in text else "ERROR")
        return {"rcode": rcode, "error": _short(text)}
    return {"rcode": "ERROR", "error": _short("%s: %s" % (type(exc).__name__, exc))}


def redact(text, secret, mask="<dqs-key>"):
    """text with every occurrence of secret (case-insensitive, DNS names are) replaced."""
    if not secret or not text:
        return text
    low, sec, out, i = text.lower(), secret.lower(), [], 0
    while True:
        j = low.find(sec, i)
        if j < 0:
            out.append(text[i:])
            return "".join(out)
        out.append(text[i:j] + mask)
        i = j + len(secret)


def _short(text, limit=300):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _a_outcome(answer):
    return {"rcode": "NOERROR", "a": [r.to_text() for r in answer if r.rdtype == dns.rdatatype.A]}


def _txt_list(answer):
    out = []
    for r in answer:
        try:
            out.append(b"".join(r.strings).decode("utf-8", "replace"))
        except AttributeError:
            pass
    return out


def lookup_sync(resolver, qname, want_txt=True):
    """Raw outcome for one DNSBL name (blocking)."""
    try:
        outcome = _a_outcome(resolver.resolve(qname, "A", search=False, raise_on_no_answer=True))
    except Exception as exc:  # dnspython raises many types; all map to an outcome
        return _exception_outcome(exc)
    if want_txt and outcome["a"]:
        try:
            outcome["txt"] = _txt_list(resolver.resolve(qname, "TXT", search=False))
        except Exception:
            outcome["txt"] = []
    return outcome


async def lookup_async(resolver, qname, want_txt=True):
    """Raw outcome for one DNSBL name (asyncio)."""
    try:
        answer = await resolver.resolve(qname, "A", search=False, raise_on_no_answer=True)
        outcome = _a_outcome(answer)
    except Exception as exc:
        return _exception_outcome(exc)
    if want_txt and outcome["a"]:
        try:
            outcome["txt"] = _txt_list(await resolver.resolve(qname, "TXT", search=False))
        except Exception:
            outcome["txt"] = []
    return outcome


def plan_queries(ips, zones, dqs_key=None):
    """[(zone_cfg, ip, qname)] for every IP × zone (validates the IPs)."""
    zones = normalize_zones(zones)
    seen, ip_list = set(), []
    for ip in ips:
        addr = str(ipaddress.ip_address(str(ip).strip())) if _is_ip(ip) else None
        if addr is None:
            raise DNSBLConfigError("not an IP address: %r" % (ip,))
        if addr not in seen:
            seen.add(addr)
            ip_list.append(addr)
    out = []
    for ip in ip_list:
        for z in zones:
            out.append((z, ip, query_name(ip, zone_query_base(z, dqs_key))))
    return out


def _is_ip(text):
    try:
        ipaddress.ip_address(str(text).strip())
        return True
    except ValueError:
        return False


def check(ips, zones=None, nameservers=None, timeout=2.0, dqs_key=None, workers=64,
          engine="threads", attempt_timeout=None):
    """Look every IP up in every zone; returns ``(results, stats)``.

    engine: ``threads`` (thread pool, default), ``async`` (dnspython asyncio resolver, bounded by
    ``workers`` concurrent lookups) or ``serial`` (one query at a time, for comparison).
    Results are ordered as IPs × zones were given. The DQS key never appears in results.
    """
    plan = plan_queries(ips, zones, dqs_key)
    if nameservers is None and any(z["nameservers"] is None for z, _, _ in plan):
        raise DNSBLConfigError("nameservers are required (no fallback to /etc/resolv.conf)")
    resolvers = {}

    def resolver_for(z, asynchronous):
        key = (tuple(str(n) for n in (z["nameservers"] or nameservers)), asynchronous)
        if key not in resolvers:
            resolvers[key] = build_resolver(z["nameservers"] or nameservers, timeout,
                                            attempt_timeout, asynchronous=asynchronous)
        return resolvers[key]

    started = time.monotonic()
    if engine == "serial":
        outcomes = [lookup_sync(resolver_for(z, False), q, z["txt"]) for z, _, q in plan]
    elif engine == "threads":
        jobs = [(resolver_for(z, False), q, z["txt"]) for z, _, q in plan]
        with ThreadPoolExecutor(max_workers=max(1, min(int(workers), len(jobs) or 1))) as pool:
            outcomes = list(pool.map(lambda j: lookup_sync(*j), jobs))
    elif engine == "async":
        outcomes = asyncio.run(_check_async(plan, resolver_for, workers))
    else:
        raise DNSBLConfigError("engine must be threads, async or serial, not %r" % (engine,))
    elapsed = time.monotonic() - started
    results = [interpret(z, ip, o) for (z, ip, _), o in zip(plan, outcomes)]
    if dqs_key:
        for r in results:  # resolver error texts quote the query name, which holds the key
            for field in ("meaning", "reason"):
                if r[field]:
                    r[field] = redact(r[field], dqs_key)
    stats = {"lookups": len(plan), "seconds": round(elapsed, 4), "engine": engine,
             "lookups_per_second": round(len(plan) / elapsed, 1) if elapsed > 0 else None}
    return results, stats


async def _check_async(plan, resolver_for, workers):
    sem = asyncio.Semaphore(max(1, int(workers)))

    async def one(z, q):
        async with sem:
            return await lookup_async(resolver_for(z, True), q, z["txt"])

    return await asyncio.gather(*(one(z, q) for z, _, q in plan))
