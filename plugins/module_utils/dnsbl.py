# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""DNSBL checks for sending IPs and domains (controller side; needs dnspython).

Two layers:

* pure: :func:`normalize_zones` / :func:`validate_zones` (the ``mailfleet_dnsbl_zones`` grammar),
  :func:`query_name`, :func:`zone_query_base`, :func:`interpret`, :func:`summarize` -- no I/O;
  :func:`interpret` turns one raw DNS outcome into a result dict following RFC 5782 and the
  declared kind of the zone.
* I/O: :func:`check` sends every IP x zone lookup through :mod:`dnsbatch` (many queries in flight on
  one UDP socket per nameserver; a dead or silent server costs one timeout for the whole batch)
  against explicitly configured nameservers only -- never ``/etc/resolv.conf``: Spamhaus refuses
  public resolvers and answers them with 127.255.255.254, which must not become a "listing".

Zone kinds (declared with ``kind:``; the known real names get theirs by default, and a kind that
contradicts a known name is refused):

``spamhaus-zen``  Spamhaus ZEN and its parts (SBL, CSS, XBL, PBL, DROP) -- public
                  ``zen.spamhaus.org``, DQS ``<key>.zen.dq.spamhaus.net``, or a local mirror under
                  any name; strict code table (an undocumented code is an error).
``spamhaus-dbl``  Spamhaus DBL, a *domain* list (``dbl.spamhaus.org``, ``<key>.dbl.dq.spamhaus.net``):
                  queried with the tenant sending domains, never with IPs.
``spamrats``      SpamRATS (named codes, any other 127/8 code still a listing).
``generic``       RFC 5782: an A answer in 127.0.0.0/8 is a listing (optional ``codes`` names them).

Whatever the kind, these are never a listing (status ``error``): 127.0.0.1, any answer outside
127.0.0.0/8 (NXDOMAIN-rewriting resolvers), and 127.255.255.0/24 -- the band where Spamhaus (on its
public zones, DQS and mirrors alike) puts its error answers .252 (typo in the zone), .254 (query via a
public/open resolver) and .255 (over quota). A zone that is really a Spamhaus mirror but declared
``generic`` therefore still never turns an error answer into a standby.

Result dict (one per subject and zone)::

    {"zone": "zen.spamhaus.org", "name": "Spamhaus ZEN", "ip": "192.0.2.10", "critical": true,
     "status": "listed|clean|unknown|error", "code": "127.0.0.4" | None, "codes": [...],
     "meaning": "XBL ...", "reason": "TXT text" | None, "cause": None | "timeout|servfail|..."}

(``"domain"`` instead of ``"ip"`` for a domain list). ``listed`` is a listing answer; ``clean`` is
NXDOMAIN (or a name without an A record). ``unknown`` is no usable answer -- timeout, SERVFAIL,
REFUSED, network error -- and ``cause`` says which. ``error`` is an answer that cannot mean a
listing (see above, and an undocumented code on a strict kind). ``unknown`` and ``error`` never
change the health state.
"""
from __future__ import absolute_import, division, print_function

import ipaddress
import time

__metaclass__ = type

from ansible_collections.mailfleet.fleet.plugins.module_utils import dnsbatch, grammar, health
from ansible_collections.mailfleet.fleet.plugins.module_utils.module_run import ModuleFailure

try:
    import dns.exception
    import dns.nameserver
    import dns.rdatatype
    import dns.resolver

    HAS_DNSPYTHON = True
except ImportError:  # pragma: no cover - reported by the modules
    HAS_DNSPYTHON = False

STATUSES = ("listed", "clean", "unknown", "error")

SPAMHAUS_ZEN_CODES = {
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
SPAMHAUS_CODES = SPAMHAUS_ZEN_CODES  # the name earlier releases used
SPAMHAUS_DBL_CODES = {
    "127.0.1.2": "DBL: spam domain",
    "127.0.1.4": "DBL: phishing domain",
    "127.0.1.5": "DBL: malware domain",
    "127.0.1.6": "DBL: botnet C&C domain",
    "127.0.1.102": "DBL: abused legitimate domain (spam)",
    "127.0.1.103": "DBL: abused spammed redirector domain",
    "127.0.1.104": "DBL: abused legitimate domain (phishing)",
    "127.0.1.105": "DBL: abused legitimate domain (malware)",
    "127.0.1.106": "DBL: abused legitimate domain (botnet C&C)",
}
SPAMHAUS_ERRORS = {
    "127.255.255.252": "Spamhaus error: typing error in the DNSBL name (zone misconfigured)",
    "127.255.255.254": "Spamhaus error: query via a public/open resolver (use your own resolver or DQS)",
    "127.255.255.255": "Spamhaus error: excessive number of queries (over quota)",
}
SPAMHAUS_DBL_ERRORS = {"127.0.1.255": "Spamhaus DBL error: IP queries prohibited (DBL lists domains)"}
SPAMRATS_CODES = {
    "127.0.0.36": "RATS-Dyna: dynamic/residential IP",
    "127.0.0.37": "RATS-NoPtr: no reverse DNS",
    "127.0.0.38": "RATS-Spam: observed sending spam",
    "127.0.0.43": "RATS-Auth: authentication attacks",
}
ERROR_BAND = ipaddress.ip_network("127.255.255.0/24")
LOOPBACK_NET = ipaddress.ip_network("127.0.0.0/8")

# kind -> what it queries, its code table, whether undocumented codes are errors, extra error codes
KINDS = {
    "spamhaus-zen": {"target": "ip", "codes": SPAMHAUS_ZEN_CODES, "strict": True, "errors": {}},
    "spamhaus-dbl": {"target": "domain", "codes": SPAMHAUS_DBL_CODES, "strict": True,
                     "errors": SPAMHAUS_DBL_ERRORS},
    "spamrats": {"target": "ip", "codes": SPAMRATS_CODES, "strict": False, "errors": {}},
    "generic": {"target": "ip", "codes": {}, "strict": False, "errors": {}},
}
KIND_ALIASES = {"spamhaus": "spamhaus-zen"}  # the name earlier releases used

# The known real names: (kind, display name, DQS zone). Exact names, never a suffix match.
KNOWN_ZONES = {
    "zen.spamhaus.org": ("spamhaus-zen", "Spamhaus ZEN", "zen.dq.spamhaus.net"),
    "sbl.spamhaus.org": ("spamhaus-zen", "Spamhaus SBL", "sbl.dq.spamhaus.net"),
    "xbl.spamhaus.org": ("spamhaus-zen", "Spamhaus XBL", "xbl.dq.spamhaus.net"),
    "pbl.spamhaus.org": ("spamhaus-zen", "Spamhaus PBL", "pbl.dq.spamhaus.net"),
    "sbl-xbl.spamhaus.org": ("spamhaus-zen", "Spamhaus SBL-XBL", "sbl-xbl.dq.spamhaus.net"),
    "dbl.spamhaus.org": ("spamhaus-dbl", "Spamhaus DBL", "dbl.dq.spamhaus.net"),
    "zen.dq.spamhaus.net": ("spamhaus-zen", "Spamhaus ZEN (DQS)", None),
    "sbl.dq.spamhaus.net": ("spamhaus-zen", "Spamhaus SBL (DQS)", None),
    "xbl.dq.spamhaus.net": ("spamhaus-zen", "Spamhaus XBL (DQS)", None),
    "pbl.dq.spamhaus.net": ("spamhaus-zen", "Spamhaus PBL (DQS)", None),
    "sbl-xbl.dq.spamhaus.net": ("spamhaus-zen", "Spamhaus SBL-XBL (DQS)", None),
    "dbl.dq.spamhaus.net": ("spamhaus-dbl", "Spamhaus DBL (DQS)", None),
    "b.barracudacentral.org": ("generic", "Barracuda", None),
    "bl.spamcop.net": ("generic", "SpamCop", None),
    "psbl.surriel.com": ("generic", "PSBL", None),
    "bl.mailspike.net": ("generic", "Mailspike", None),
    "all.spamrats.com": ("spamrats", "SpamRATS", None),
    "dnsbl-1.uceprotect.net": ("generic", "UCEPROTECT L1", None),
}
DQS_SUFFIX = ".dq.spamhaus.net"

# Default zones (SORBS shut down in June 2024 and is deliberately absent).
DEFAULT_ZONES = [
    {"zone": "zen.spamhaus.org", "critical": True},
    {"zone": "b.barracudacentral.org", "critical": True},
    {"zone": "bl.spamcop.net", "critical": True},
    {"zone": "psbl.surriel.com", "critical": False},
    {"zone": "bl.mailspike.net", "critical": False},
    {"zone": "all.spamrats.com", "critical": False},
    {"zone": "dnsbl-1.uceprotect.net", "critical": False},
]
ZONE_KEYS = ("zone", "name", "kind", "critical", "codes", "strict", "dqs_zone", "nameservers", "txt")


class DNSBLConfigError(ValueError):
    """Invalid zone, IP or nameserver configuration."""


# ---------------------------------------------------------------------------------------------
# Configuration (pure)
# ---------------------------------------------------------------------------------------------
def _bool(value, what):
    if not isinstance(value, bool):
        raise DNSBLConfigError("%s: expected true or false, got %s" % (what, grammar.typename(value)))
    return value


def _grammar(check, value, what, **kw):
    try:
        return check(value, what, **kw)
    except grammar.GrammarError as exc:
        raise DNSBLConfigError(str(exc))


def normalize_zone(cfg, what="zone"):
    """One zone entry (a zone name, or a dict) -> complete dict; raises DNSBLConfigError naming
    ``what`` (e.g. ``mailfleet_dnsbl_zones[2].kind``).

    Keys: zone, name, kind (see :data:`KINDS`), critical (bool), codes ({answer: meaning}), strict
    (undocumented codes are errors; default from the kind), dqs_zone (Spamhaus), nameservers
    (optional per-zone override, e.g. a local rbldnsd mirror), txt (query TXT on a listing).
    A zone written as ``<key>.zen.dq.spamhaus.net`` becomes zone ``zen.dq.spamhaus.net`` with its own
    ``dqs_key`` (a secret: it never appears in results or messages).
    """
    if isinstance(cfg, str):
        cfg = {"zone": cfg}
    if not isinstance(cfg, dict) or "zone" not in cfg:
        raise DNSBLConfigError("%s: a DNSBL zone entry is a zone name or a mapping with 'zone', got %s" % (
            what, grammar.typename(cfg)))
    unknown = sorted(str(k) for k in cfg if k not in ZONE_KEYS and k != "dqs_key")
    if unknown:
        raise DNSBLConfigError("%s: unknown key(s) %s (allowed: %s)" % (what, ", ".join(unknown), ", ".join(ZONE_KEYS)))
    zone = _grammar(grammar.hostname, cfg["zone"], "%s.zone" % what)
    dqs_key = cfg.get("dqs_key")
    if zone.endswith(DQS_SUFFIX) and zone.split(".", 1)[1] in KNOWN_ZONES:
        # <key>.zen.dq.spamhaus.net: the first label is the DQS key
        label, zone = zone.split(".", 1)
        dqs_key = label
    if dqs_key is not None:
        dqs_key = _grammar(grammar.dns_label, dqs_key, "%s.dqs_key" % what, secret=True)
    known_kind, known_name, known_dqs = KNOWN_ZONES.get(zone, (None, None, None))
    kind = cfg.get("kind")
    if kind is None:
        kind = known_kind or "generic"
    if not isinstance(kind, str) or KIND_ALIASES.get(kind, kind) not in KINDS:
        raise DNSBLConfigError("%s.kind: must be one of %s, not %r" % (what, ", ".join(sorted(KINDS)), kind))
    kind = KIND_ALIASES.get(kind, kind)
    if known_kind and kind != known_kind:
        raise DNSBLConfigError("%s.kind: %s is %s, whose answers follow kind %s, not %s" % (
            what, zone, known_name, known_kind, kind))
    spec = KINDS[kind]
    codes = dict(spec["codes"])
    extra = cfg.get("codes") or {}
    if not isinstance(extra, dict):
        raise DNSBLConfigError("%s.codes: expected a mapping answer -> meaning" % what)
    for answer, meaning in sorted(extra.items(), key=lambda kv: str(kv[0])):
        key = "%s.codes.%s" % (what, answer)
        try:
            addr = ipaddress.ip_address(str(answer))
        except ValueError:
            raise DNSBLConfigError("%s: %r is not an IPv4 answer" % (key, answer))
        if addr.version != 4 or addr not in LOOPBACK_NET or str(addr) == "127.0.0.1" or addr in ERROR_BAND:
            raise DNSBLConfigError("%s: %s can never be a listing code (127.0.0.1, outside 127/8 or in the "
                                   "127.255.255.0/24 error band)" % (key, addr))
        codes[str(addr)] = _grammar(grammar.text, meaning, key, max_len=200)
    name = cfg.get("name")
    name = _grammar(grammar.text, name, "%s.name" % what, max_len=100) if name is not None else (known_name or zone)
    dqs_zone = cfg.get("dqs_zone")
    if dqs_zone is not None:
        dqs_zone = _grammar(grammar.hostname, dqs_zone, "%s.dqs_zone" % what)
    elif kind == known_kind:
        dqs_zone = known_dqs
    nameservers = cfg.get("nameservers")
    if nameservers is not None:
        if not isinstance(nameservers, list) or not nameservers:
            raise DNSBLConfigError("%s.nameservers: expected a non-empty list of ADDRESS[:PORT]" % what)
        nameservers = [nameserver_text(parse_nameserver(n, "%s.nameservers[%d]" % (what, i)))
                       for i, n in enumerate(nameservers)]
    return {
        "zone": zone,
        "name": name,
        "kind": kind,
        "target": spec["target"],
        "critical": _bool(cfg.get("critical", False), "%s.critical" % what),
        "codes": codes,
        "errors": dict(spec["errors"]),
        "strict": _bool(cfg.get("strict", spec["strict"]), "%s.strict" % what),
        "dqs_zone": dqs_zone,
        "dqs_key": dqs_key,
        "nameservers": nameservers,
        "txt": _bool(cfg.get("txt", True), "%s.txt" % what),
    }


def normalize_zones(zones=None, what="mailfleet_dnsbl_zones"):
    """List of zone entries (strings or dicts) -> list of complete dicts; ``None`` -> defaults.
    Also accepts a dict zone -> settings."""
    if zones is None:
        zones = DEFAULT_ZONES
    if isinstance(zones, dict):
        zones = [dict(v or {}, zone=k) for k, v in zones.items()]
    if not isinstance(zones, list):
        raise DNSBLConfigError("%s: expected a list of zones, got %s" % (what, grammar.typename(zones)))
    out, seen = [], set()
    for i, cfg in enumerate(zones):
        z = normalize_zone(cfg, "%s[%d]" % (what, i))
        if z["zone"] in seen:
            raise DNSBLConfigError("%s[%d]: zone %s listed twice" % (what, i, z["zone"]))
        seen.add(z["zone"])
        out.append(z)
    return out


def validate_zones(zones, what="mailfleet_dnsbl_zones"):
    """Pure check of the inventory's ``mailfleet_dnsbl_zones`` for the validation play: returns the
    normalised zones (secrets included: do not print them), raises DNSBLConfigError naming the key."""
    return normalize_zones(zones, what)


def zone_query_base(zone, dqs_key=None):
    """The DNS name under which lookups for this zone are made. A zone with its own DQS key, or a
    Spamhaus zone with a DQS zone when a global key is given: ``<key>.<dqs_zone>``."""
    if zone.get("dqs_key"):
        return "%s.%s" % (zone["dqs_key"], zone["zone"])
    if dqs_key and zone["kind"].startswith("spamhaus-"):
        if not zone.get("dqs_zone"):
            raise DNSBLConfigError("DNSBL zone %s: a DQS key needs dqs_zone" % zone["zone"])
        return "%s.%s" % (_grammar(grammar.dns_label, dqs_key, "dqs_key", secret=True), zone["dqs_zone"])
    return zone["zone"]


def checked_address(ip):
    """The address a DNSBL is asked about: canonical, an IPv4-mapped IPv6 (``::ffff:192.0.2.1``) as
    its IPv4 (the lists index the IPv4; asking for the IPv6 nibbles finds nothing)."""
    text = _grammar(grammar.ip_address, ip, "ip", sending=False) if isinstance(ip, str) else None
    if text is None:
        raise DNSBLConfigError("not an IP address: %r" % (ip,))
    addr = ipaddress.ip_address(text)
    if addr.version == 6 and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr


def reversed_ip(ip):
    """RFC 5782 label sequence: IPv4 reversed octets, IPv6 32 reversed nibbles."""
    addr = checked_address(ip) if not isinstance(ip, (ipaddress.IPv4Address, ipaddress.IPv6Address)) else ip
    if addr.version == 4:
        return ".".join(reversed(str(addr).split(".")))
    return ".".join(reversed(addr.exploded.replace(":", "")))


def query_name(ip, base):
    """``query_name('192.0.2.1', 'zen.spamhaus.org')`` -> ``'1.2.0.192.zen.spamhaus.org'``."""
    return "%s.%s" % (reversed_ip(ip), base.rstrip("."))


# ---------------------------------------------------------------------------------------------
# Interpretation (pure)
# ---------------------------------------------------------------------------------------------
CAUSES = {"TIMEOUT": "timeout", "SERVFAIL": "SERVFAIL", "REFUSED": "REFUSED", "NETWORK": "network error",
          "ERROR": "error"}


def _result(zone, subject, status, code=None, codes=None, meaning="", reason=None, cause=None):
    return {
        "zone": zone["zone"],
        "name": zone["name"],
        ("domain" if zone.get("target") == "domain" else "ip"): str(subject),
        "critical": zone["critical"],
        "status": status,
        "code": code,
        "codes": list(codes or ([code] if code else [])),
        "meaning": meaning,
        "reason": reason,
        "cause": cause,
    }


def classify_code(zone, answer):
    """One A answer -> (kind, meaning) where kind is 'listing' or 'error'."""
    try:
        addr = ipaddress.ip_address(answer)
    except ValueError:
        return "error", "answer %r is not an IPv4 address" % (answer,)
    if addr.version != 4 or addr not in LOOPBACK_NET:
        return "error", ("answer %s is outside 127.0.0.0/8: not a DNSBL answer "
                         "(NXDOMAIN-rewriting or hijacking resolver?)" % answer)
    if answer == "127.0.0.1":
        return "error", "answer 127.0.0.1 is never a listing (test/misconfiguration answer)"
    if addr in ERROR_BAND:
        return "error", SPAMHAUS_ERRORS.get(answer) or (
            "answer %s is in the 127.255.255.0/24 error band (DNSBL operator error code), never a listing" % answer)
    errors = zone.get("errors") or {}
    if answer in errors:
        return "error", errors[answer]
    if answer in zone["codes"]:
        return "listing", zone["codes"][answer]
    if zone["strict"]:
        return "error", "undocumented return code %s for %s (kind %s)" % (answer, zone["zone"], zone["kind"])
    return "listing", "listed (%s)" % answer


def interpret(zone, subject, outcome):
    """Pure: zone config + IP (or domain) + raw outcome -> result dict.

    ``outcome`` = ``{"rcode": "NOERROR"|"NXDOMAIN"|"NODATA"|"TIMEOUT"|"SERVFAIL"|"REFUSED"|"NETWORK"|"ERROR",
    "a": [dotted-quad, ...], "txt": [str, ...], "error": str}`` (``answers`` is read when ``a`` is
    absent, as :mod:`dnsbatch` returns it).
    """
    if not isinstance(zone, dict) or "codes" not in zone:
        zone = normalize_zone(zone)
    rcode = (outcome.get("rcode") or "ERROR").upper()
    if rcode == "NXDOMAIN":
        return _result(zone, subject, "clean", meaning="not listed (NXDOMAIN)")
    a = outcome.get("a")
    if a is None:
        a = outcome.get("answers")
    if rcode == "NODATA" or (rcode == "NOERROR" and not a):
        return _result(zone, subject, "clean", meaning="not listed (name exists without an A record)")
    if rcode != "NOERROR":
        cause = CAUSES.get(rcode, "error")
        detail = outcome.get("error") or rcode
        return _result(zone, subject, "unknown", meaning="unknown, no answer (%s): %s" % (cause, detail),
                       cause=cause.split()[0].lower())
    answers = sorted(set(a), key=_ip_sort_key)
    listings, errors = [], []
    for ans in answers:
        kind, meaning = classify_code(zone, ans)
        (listings if kind == "listing" else errors).append((ans, meaning))
    txt = [t for t in (outcome.get("txt") or []) if t]
    reason = " | ".join(txt) if txt else None
    if errors:
        # One bogus answer makes the whole response untrustworthy: never a listing.
        return _result(zone, subject, "error", code=errors[0][0], codes=[a for a, _meaning in errors],
                       meaning="; ".join(m for _code, m in errors))
    return _result(zone, subject, "listed", code=listings[0][0], codes=[a for a, _meaning in listings],
                   meaning="; ".join(m for _code, m in listings), reason=reason)


def _ip_sort_key(text):
    try:
        return (0, int(ipaddress.ip_address(text)))
    except ValueError:
        return (1, 0)


def summarize(results):
    """Results -> ``{"ips": {ip: {"listed": [zones], "critical": [zones], "unknown": [zones],
    "errors": [zones]}}, "domains": {same per domain}, "counts": {status: n}, "listed_ips": [...],
    "critical_ips": [...], "listed_domains": [...], "total": n}``."""
    counts = {s: 0 for s in STATUSES}
    groups = {"ips": {}, "domains": {}}
    for r in results:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
        group, subject = ("domains", r["domain"]) if "domain" in r else ("ips", r["ip"])
        entry = groups[group].setdefault(subject, {"listed": [], "critical": [], "unknown": [], "errors": []})
        if r["status"] == "listed":
            entry["listed"].append(r["zone"])
            if r.get("critical"):
                entry["critical"].append(r["zone"])
        elif r["status"] == "unknown":
            entry["unknown"].append(r["zone"])
        elif r["status"] == "error":
            entry["errors"].append(r["zone"])
    ips, domains = groups["ips"], groups["domains"]
    return {
        "ips": ips,
        "domains": domains,
        "counts": counts,
        "listed_ips": sorted(ip for ip, e in ips.items() if e["listed"]),
        "critical_ips": sorted(ip for ip, e in ips.items() if e["critical"]),
        "listed_domains": sorted(d for d, e in domains.items() if e["listed"]),
        "total": len(results),
    }


# ---------------------------------------------------------------------------------------------
# Nameservers
# ---------------------------------------------------------------------------------------------
def parse_nameserver(spec, what="nameservers"):
    """'127.0.0.1', '127.0.0.1:5353', '[::1]:53', '::1', {'address','port'} or a
    Do53Nameserver -> Do53Nameserver."""
    if HAS_DNSPYTHON and isinstance(spec, dns.nameserver.Nameserver):
        return spec
    try:
        if isinstance(spec, dict):
            address, port = spec.get("address"), int(spec.get("port") or 53)
        else:
            text = str(spec).strip()
            port = 53
            if text.startswith("["):
                address, _bracket, rest = text[1:].partition("]")
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
        ipaddress.ip_address(address)
    except (ValueError, TypeError):
        raise DNSBLConfigError("%s: %r is not ADDRESS or ADDRESS:PORT with an IP address" % (what, spec))
    if not 0 < int(port) < 65536:
        raise DNSBLConfigError("%s: %r has a bad port" % (what, spec))
    return dns.nameserver.Do53Nameserver(str(address), int(port))


def nameserver_text(ns):
    return dnsbatch.server_text(ns.address, ns.port)


def build_resolver(nameservers, timeout=2.0, attempt_timeout=None):
    """A dnspython resolver using only the given nameservers (never /etc/resolv.conf).
    ``timeout`` is the lifetime of one lookup; ``attempt_timeout`` the wait per UDP attempt."""
    if not nameservers:
        raise DNSBLConfigError("at least one nameserver is required (public resolvers are refused by "
                               "Spamhaus; the checker never falls back to /etc/resolv.conf)")
    res = dns.resolver.Resolver(configure=False)
    res.nameservers = [parse_nameserver(n) for n in nameservers]
    res.lifetime = float(timeout)
    res.timeout = float(attempt_timeout or min(1.0, float(timeout)))
    res.cache = None
    return res


def exception_outcome(exc):
    """A dnspython resolver exception -> raw outcome (rcode + the cause in words)."""
    if isinstance(exc, dns.resolver.NXDOMAIN):
        return {"rcode": "NXDOMAIN"}
    if isinstance(exc, dns.resolver.NoAnswer):
        return {"rcode": "NODATA"}
    if isinstance(exc, dns.exception.Timeout):
        return {"rcode": "TIMEOUT", "error": _short(str(exc))}
    if isinstance(exc, dns.resolver.NoNameservers):
        text = str(exc)
        rcode = "SERVFAIL" if "SERVFAIL" in text else ("REFUSED" if "REFUSED" in text else (
            "NETWORK" if "refused" in text.lower() or "unreachable" in text.lower() else "ERROR"))
        return {"rcode": rcode, "error": _short(text)}
    if isinstance(exc, OSError):
        return {"rcode": "NETWORK", "error": _short("%s: %s" % (type(exc).__name__, exc))}
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


# ---------------------------------------------------------------------------------------------
# The check
# ---------------------------------------------------------------------------------------------
def plan_queries(ips, zones, dqs_key=None, domains=None):
    """[(zone_cfg, subject, qname)] for every IP x IP-zone and every domain x domain-zone
    (validates the IPs and domains; IPv4-mapped IPv6 is checked as its IPv4; duplicates once)."""
    return [(z, subject, "%s.%s" % (prefix, base)) for z, subject, prefix, base in _plan(ips, zones, dqs_key, domains)]


def _plan(ips, zones, dqs_key, domains):
    zones = _normalized(zones)
    if isinstance(ips, str) or not isinstance(ips or [], (list, tuple)):
        raise DNSBLConfigError("ips: expected a list of IP addresses")
    seen, subjects = set(), []
    for ip in ips or []:
        addr = checked_address(ip)
        if addr not in seen:
            seen.add(addr)
            subjects.append(("ip", str(addr), reversed_ip(addr)))
    if isinstance(domains, str) or not isinstance(domains or [], (list, tuple)):
        raise DNSBLConfigError("domains: expected a list of domain names")
    for i, d in enumerate(domains or []):
        name = _grammar(grammar.hostname, d, "domains[%d]" % i)
        if name not in seen:
            seen.add(name)
            subjects.append(("domain", name, name))
    ip_zones = [(z, zone_query_base(z, dqs_key)) for z in zones if z["target"] == "ip"]
    dom_zones = [(z, zone_query_base(z, dqs_key)) for z in zones if z["target"] == "domain"]
    out = []
    for target, subject, prefix in subjects:
        for z, base in (ip_zones if target == "ip" else dom_zones):
            out.append((z, subject, prefix, base))
    return out


def _wires(plan):
    """Wire-form query names of a plan: each subject's labels and each zone base encoded once."""
    prefixes, bases, out = {}, {}, []
    for _z, _subject, prefix, base in plan:
        pw = prefixes.get(prefix)
        if pw is None:
            pw = prefixes[prefix] = dnsbatch.relative_wire(prefix)
        bw = bases.get(base)
        if bw is None:
            bw = bases[base] = dnsbatch.absolute_wire(base)
        try:
            out.append(dnsbatch.join_wire(pw, bw))
        except ValueError:
            raise DNSBLConfigError("query name %s.<zone %s> is longer than 255 bytes" % (prefix[:60], _z["zone"]))
    return out


def _normalized(zones):
    """Zones as :func:`normalize_zones` returns them (already normalised lists pass through)."""
    if isinstance(zones, list) and zones and all(isinstance(z, dict) and "target" in z for z in zones):
        return zones
    return normalize_zones(zones)


def _secrets(zones, dqs_key):
    return [k for k in [dqs_key] + [z.get("dqs_key") for z in zones] if k]


def check(ips, zones=None, nameservers=None, timeout=2.0, dqs_key=None, workers=dnsbatch.DEFAULT_WINDOW,
          attempts=dnsbatch.DEFAULT_ATTEMPTS, deadline=None, domains=None):
    """Look every IP (and domain) up in every zone of its kind; returns ``(results, stats)``.

    All lookups go out together through :mod:`dnsbatch`: at most ``workers`` in flight, ``timeout``
    the lifetime of one lookup in ``attempts`` tries, a server silent for ``timeout`` dead for the
    rest of the run (its lookups fail over to the zone's next nameserver, or end ``unknown``), one
    ``deadline`` for the whole check (default: :func:`dnsbatch.default_deadline`). Listings are
    followed by a TXT lookup (the list's reason) within the same deadline.
    Results are ordered as subjects x zones were given. DQS keys never appear in results.
    """
    zones = _normalized(zones)
    for what, value, low in (("timeout", timeout, 0), ("deadline", deadline, 0)):
        if value is not None and (not grammar.is_number(value) or value <= low):
            raise DNSBLConfigError("%s: expected a number of seconds > 0, got %r" % (what, value))
    for what, value in (("workers", workers), ("attempts", attempts)):
        if not grammar.is_int(value) or value < 1:
            raise DNSBLConfigError("%s: expected a whole number >= 1, got %r" % (what, value))
    if nameservers is None and any(z["nameservers"] is None for z in zones):
        raise DNSBLConfigError("nameservers are required (no fallback to /etc/resolv.conf)")
    if nameservers is not None and not nameservers:
        raise DNSBLConfigError("at least one nameserver is required (no fallback to /etc/resolv.conf)")
    default_ns = [parse_nameserver(n, "nameservers[%d]" % i) for i, n in enumerate(nameservers or [])]
    ns_of = {}
    for z in zones:
        specs = [parse_nameserver(n) for n in z["nameservers"]] if z["nameservers"] else default_ns
        ns_of[z["zone"]] = [(n.address, int(n.port)) for n in specs]
    started = time.monotonic()
    plan = _plan(ips, zones, dqs_key, domains)
    wires = _wires(plan)
    total = float(deadline) if deadline is not None else dnsbatch.default_deadline(len(plan), timeout)
    resolver = dnsbatch.Resolver(timeout=timeout, attempts=attempts, window=workers)
    outcomes = resolver.resolve([(w, "A", ns_of[p[0]["zone"]]) for p, w in zip(plan, wires)], deadline=total)
    results = [interpret(z, subj, o) for (z, subj, _p, _b), o in zip(plan, outcomes)]
    follow = [i for i, r in enumerate(results) if r["status"] == "listed" and plan[i][0]["txt"]]
    left = total - (time.monotonic() - started)
    if follow and left > 0:
        txts = resolver.resolve([(wires[i], "TXT", ns_of[plan[i][0]["zone"]]) for i in follow], deadline=left)
        for i, o in zip(follow, txts):
            if o["rcode"] == "NOERROR":
                z, subj = plan[i][0], plan[i][1]
                results[i] = interpret(z, subj, dict(outcomes[i], txt=o["answers"]))
    elapsed = time.monotonic() - started
    secrets = _secrets(zones, dqs_key)
    if secrets:
        for r in results:  # error texts may quote a query name, which holds the key
            for field in ("meaning", "reason"):
                for secret in secrets:
                    if r[field]:
                        r[field] = redact(r[field], secret)
    rstats = resolver.stats
    stats = {"lookups": len(plan), "seconds": round(elapsed, 4), "engine": "batch", "window": int(workers),
             "lookups_per_second": round(len(plan) / elapsed, 1) if elapsed > 0 else None,
             "txt_lookups": len(follow), "sent": rstats["sent"], "retransmits": rstats["retransmits"],
             "tcp": rstats["tcp"], "failovers": rstats["failovers"], "dead_servers": rstats["dead_servers"]}
    return results, stats


def check_task(params, now=None, lookup=None):
    """The run of ``mailfleet.fleet.dnsbl_check``: ``params`` are its options. Looks the IPs (and
    domains) up with :func:`check` (``lookup`` stands in for it in tests) and, with
    ``previous_health``, evaluates the new health state (run id ``run_id``, default ``now``).
    Returns the module's result; raises ModuleFailure on a configuration or state error."""
    lookup = lookup or check
    try:
        zones = normalize_zones(params["zones"], "zones")
        results, stats = lookup(params["ips"], zones, params["nameservers"], timeout=params["timeout"],
                                dqs_key=params["dqs_key"], workers=params["workers"], attempts=params["attempts"],
                                deadline=params["deadline"], domains=params["domains"])
    except ValueError as exc:  # DNSBLConfigError, grammar errors
        raise ModuleFailure("dnsbl_check: invalid configuration: %s" % exc)
    out = dict(changed=False, results=results, summary=summarize(results), stats=stats)
    if params["previous_health"] is not None:
        try:
            state, events = health.evaluate(params["previous_health"], results, zones,
                                            params["run_id"] or health.run_id(now),
                                            resume_after=params["resume_after"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:  # a state of the wrong shape
            raise ModuleFailure("dnsbl_check: evaluating previous_health failed: %s" % exc)
        out.update(health=state, planner_health=health.planner_view(state), events=events)
    return out
