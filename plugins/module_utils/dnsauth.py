# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""DNS authentication audit for tenant sending domains and IPs (controller side).

SPF and DMARC parsing/limits come from ``checkdmarc`` (RFC 7208 10-lookup and 2-void-lookup
limits), always pointed at the configured nameservers through a resolver built with
``configure=False`` (never ``/etc/resolv.conf``). Whether the SPF record authorises each sending IP,
DKIM (checkdmarc does no DKIM), FCrDNS and the Gmail/Yahoo readiness verdict are evaluated here.

Every check returns a plain dict::

    {"check": "spf|dkim|dmarc|fcrdns", "subject": "example.test" | "192.0.2.10",
     "severity": "ok|warn|fail|unknown", "messages": [str, ...], "details": {...}}

``fail`` and ``warn`` are verdicts on real DNS answers. ``unknown`` means a lookup the check needs
got no answer -- timeout, SERVFAIL, REFUSED, network error -- and ``details.cause`` says which
(``messages`` say so in words, never "no record"): an unknown check is neither failed nor passed,
changes no readiness state and raises no alert (health.evaluate_dns_auth keeps the last verdict).
Lookups go through :mod:`dnsbatch` (a server found dead is not waited for again in the same audit);
checkdmarc gets a dnspython resolver that records every lookup that got no answer, so a checkdmarc
"record not found" that was really a timeout becomes ``unknown``.
"""
from __future__ import absolute_import, division, print_function

import base64
import binascii
import ipaddress

__metaclass__ = type

from ansible_collections.mailfleet.fleet.plugins.module_utils import dnsbatch, dnsbl, health
from ansible_collections.mailfleet.fleet.plugins.module_utils.module_run import ModuleFailure

try:
    import dns.exception
    import dns.rdatatype
    import dns.resolver
    import dns.reversename

    HAS_DNSPYTHON = True
except ImportError:  # pragma: no cover
    HAS_DNSPYTHON = False

try:
    from checkdmarc import dmarc as cd_dmarc
    from checkdmarc import spf as cd_spf
    from checkdmarc import utils as cd_utils

    HAS_CHECKDMARC = True
except ImportError:  # pragma: no cover
    HAS_CHECKDMARC = False

try:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover
    HAS_CRYPTOGRAPHY = False

SEVERITIES = ("ok", "warn", "fail", "unknown")
_RANK = {"ok": 0, "warn": 1, "fail": 2}
DKIM_MIN_BITS = 1024
DKIM_RECOMMENDED_BITS = 2048
ANSWERED = dnsbatch.ANSWERED
CAUSES = dnsbl.CAUSES


def _result(check, subject, severity, messages, **details):
    return {"check": check, "subject": subject, "severity": severity, "messages": list(messages),
            "details": details}


def _unknown(check, subject, what, rcode, error, **details):
    """The check could not be made: ``what`` (e.g. "TXT _dmarc.a.test") got no answer."""
    cause = CAUSES.get(rcode, "error")
    return _result(check, subject, "unknown", ["%s %s: unknown, the DNS lookup of %s got no answer (%s: %s)" % (
        check.upper() if check != "fcrdns" else "FCrDNS", subject, what, cause, error or rcode)],
        cause=cause.split()[0].lower(), rcode=rcode, error=error, **details)


def worst(severities):
    """Worst of ok/warn/fail (``unknown`` is not a verdict and is left out)."""
    out = "ok"
    for s in severities:
        if s == "unknown":
            continue
        if _RANK.get(s, 2) > _RANK[out]:
            out = s
    return out


class DNSUnknown(Exception):
    """A lookup got no answer: ``what``, ``rcode`` (TIMEOUT|SERVFAIL|REFUSED|NETWORK|ERROR), ``error``."""

    def __init__(self, what, rcode, error):
        Exception.__init__(self, "%s: %s (%s)" % (what, rcode, error))
        self.what, self.rcode, self.error = what, rcode, error


if HAS_DNSPYTHON:
    class RecordingResolver(dns.resolver.Resolver):
        """A dnspython resolver (explicit nameservers) that remembers every lookup that got no answer
        and was not answered later: checkdmarc turns timeouts into "record not found"."""

        def __init__(self, nameservers, timeout):
            dns.resolver.Resolver.__init__(self, configure=False)
            self.nameservers = list(nameservers)
            self.lifetime = float(timeout)
            self.timeout = min(1.0, float(timeout))
            self.cache = None
            self.failures = {}

        def resolve(self, qname, rdtype=dns.rdatatype.A, *args, **kwargs):
            key = "%s %s" % (dns.rdatatype.to_text(dns.rdatatype.RdataType.make(rdtype)),
                             str(qname).rstrip(".").lower())
            try:
                answer = dns.resolver.Resolver.resolve(self, qname, rdtype, *args, **kwargs)
            except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
                self.failures.pop(key, None)
                raise
            except Exception as exc:
                self.failures[key] = dnsbl.exception_outcome(exc)
                raise
            self.failures.pop(key, None)
            return answer

        def first_failure(self):
            """(what, rcode, error) of the first lookup still unanswered, or None."""
            for key in sorted(self.failures):
                out = self.failures[key]
                return key, out["rcode"], out.get("error", "")
            return None


class Ctx:
    """Resolver context: explicit nameservers only. :meth:`query` goes through :mod:`dnsbatch`
    (one view of dead servers for the whole audit); ``resolver`` is the recording dnspython
    resolver handed to checkdmarc."""

    def __init__(self, nameservers, timeout=2.0):
        self.nameservers = [dnsbl.parse_nameserver(n) for n in nameservers or []]
        if not self.nameservers:
            raise dnsbl.DNSBLConfigError("nameservers are required (no fallback to /etc/resolv.conf)")
        self.timeout = float(timeout)
        self.targets = [(n.address, int(n.port)) for n in self.nameservers]
        self.batch = dnsbatch.Resolver(timeout=self.timeout)
        self.resolver = RecordingResolver(self.nameservers, self.timeout)

    def query(self, name, rtype):
        """(status, [text answers], error); status NOERROR|NXDOMAIN|NODATA (answers) or
        TIMEOUT|SERVFAIL|REFUSED|NETWORK|ERROR (no answer, error says why)."""
        try:
            out = self.batch.resolve([(name, rtype, self.targets)])[0]
        except (ValueError, dns.exception.DNSException) as exc:  # a name dnspython cannot encode
            return "ERROR", [], "cannot ask for %r: %s" % (name, exc)
        return out["rcode"], list(out["answers"]), out.get("error", "")

    def answer(self, name, rtype):
        """The answers, [] for NXDOMAIN/NODATA; raises DNSUnknown when there is no answer."""
        status, vals, err = self.query(name, rtype)
        if status not in ANSWERED:
            raise DNSUnknown("%s %s" % (rtype, name.rstrip(".")), status, err)
        return vals

    def checkdmarc_failure(self):
        return self.resolver.first_failure()


# ---------------------------------------------------------------------------------------------
# SPF
# ---------------------------------------------------------------------------------------------
def _cidr_split(value, default_host):
    """'host/24//64' → (host, 24, 64)."""
    host, v4, v6 = value or default_host, 32, 128
    if "//" in host:
        host, v6 = host.split("//", 1)
        v6 = int(v6)
    if "/" in host:
        host, v4 = host.split("/", 1)
        v4 = int(v4)
    return host or default_host, v4, v6


def _addr_match(ip, addresses, v4=32, v6=128):
    for a in addresses or []:
        try:
            a = ipaddress.ip_address(a)
        except ValueError:
            continue
        if a.version != ip.version:
            continue
        net = ipaddress.ip_network("%s/%d" % (a, v4 if a.version == 4 else v6), strict=False)
        if ip in net:
            return True
    return False


def spf_evaluate(parsed, ip, domain, lookup=None, depth=0):
    """Pure walk of a checkdmarc-parsed SPF record: the result (pass|fail|softfail|neutral|unknown)
    this record gives ``ip``, and the matching term. ``lookup(name, 'A'|'AAAA'|'MX')`` supplies
    addresses checkdmarc did not keep (mx hosts; it may raise :class:`DNSUnknown`, which propagates);
    without it mx terms yield ``unknown``."""
    if depth > 10 or not parsed:
        return "unknown", "recursion limit"
    ip = ipaddress.ip_address(ip)
    for m in parsed.get("mechanisms") or []:
        mech, action, value = m.get("mechanism"), m.get("action", "pass"), m.get("value", "")
        matched = False
        if mech in ("ip4", "ip6"):
            try:
                matched = ip in ipaddress.ip_network(value, strict=False)
            except ValueError:
                matched = False
        elif mech == "a":
            _host, v4, v6 = _cidr_split(value, domain)
            matched = _addr_match(ip, m.get("addresses"), v4, v6)
        elif mech == "mx":
            hosts = m.get("hosts") or []
            addrs = []
            for h in hosts:
                addrs.extend(h.get("addresses") or [])
                if not h.get("addresses") and lookup is not None:
                    addrs.extend(lookup(h["hostname"], "A" if ip.version == 4 else "AAAA"))
            if hosts and not addrs and lookup is None:
                return "unknown", "mx:%s (addresses not resolved)" % value
            matched = _addr_match(ip, addrs)
        elif mech == "include":
            inner, _term = spf_evaluate(m.get("parsed") or {}, ip, value, lookup, depth + 1)
            if inner == "unknown":
                return "unknown", "include:%s" % value
            matched = inner == "pass"
        elif mech in ("ptr", "exists"):
            return "unknown", "%s:%s cannot be evaluated offline" % (mech, value)
        if matched:
            return action, "%s%s" % (mech, (":" + value) if value else "")
    redirect = parsed.get("redirect")
    if redirect and redirect.get("parsed"):
        res, term = spf_evaluate(redirect["parsed"], ip, redirect.get("domain"), lookup, depth + 1)
        return res, "redirect=%s → %s" % (redirect.get("domain"), term)
    return parsed.get("all") or "neutral", "all"


def audit_spf(domain, ips, ctx):
    """SPF of domain: exists, syntax, <= 10 lookups, <= 2 void lookups (checkdmarc), and covers
    every sending IP with ``pass``. Any lookup without an answer makes it ``unknown``."""
    status, _vals, err = ctx.query(domain, "TXT")
    if status not in ANSWERED:
        return _unknown("spf", domain, "TXT %s" % domain, status, err)
    ctx.resolver.failures.clear()
    try:
        res = cd_spf.get_spf_record(domain, nameservers=ctx.nameservers, resolver=ctx.resolver,
                                    timeout=ctx.timeout, retries=1)
        error = None
    except Exception as exc:  # checkdmarc's own errors and dnspython's
        res, error = None, exc
    failed = ctx.checkdmarc_failure()
    if failed:
        return _unknown("spf", domain, *failed)
    if error is not None:
        return _spf_error(domain, error)

    def lookup(name, rtype):
        return ctx.answer(name, rtype)

    messages, sev, unknown = [], "ok", None
    coverage = {}
    for ip in ips:
        try:
            verdict, term = spf_evaluate(res.get("parsed") or {}, ip, domain, lookup)
        except DNSUnknown as exc:
            coverage[str(ip)] = {"result": "unknown", "term": "lookup of %s" % exc.what}
            unknown = unknown or exc
            continue
        coverage[str(ip)] = {"result": verdict, "term": term}
        if verdict != "pass":
            sev = "fail" if verdict in ("fail", "softfail", "neutral") else worst([sev, "warn"])
            messages.append("SPF of %s gives %s for sending IP %s (%s)" % (domain, verdict, ip, term))
    all_q = (res.get("parsed") or {}).get("all")
    if all_q in ("pass", None) and not (res.get("parsed") or {}).get("redirect"):
        sev = worst([sev, "warn" if all_q is None else "fail"])
        messages.append("SPF of %s ends without a restrictive all (%s)" % (domain, "+all" if all_q == "pass" else "none"))
    details = dict(record=res.get("record"), dns_lookups=res.get("dns_lookups"),
                   void_dns_lookups=res.get("void_dns_lookups"), coverage=coverage)
    if unknown is not None and sev != "fail":
        return _unknown("spf", domain, unknown.what, unknown.rcode, unknown.error, **details)
    for w in res.get("warnings") or []:
        messages.append("checkdmarc: %s" % w)
    if sev == "ok":
        messages.insert(0, "SPF ok: %d lookups, %d void, all sending IPs pass" % (
            res.get("dns_lookups", 0), res.get("void_dns_lookups", 0)))
    return _result("spf", domain, sev, messages, **details)


def _spf_error(domain, exc):
    """A checkdmarc SPF error on real answers -> failed check."""
    if isinstance(exc, cd_spf.SPFTooManyDNSLookups):
        return _result("spf", domain, "fail", ["SPF needs more than 10 DNS lookups (RFC 7208 4.6.4): %s" % exc],
                       error="too_many_lookups", dns_lookups=(getattr(exc, "data", None) or {}).get("dns_lookups"))
    if isinstance(exc, cd_spf.SPFTooManyVoidDNSLookups):
        return _result("spf", domain, "fail", ["SPF has more than 2 void DNS lookups (RFC 7208 4.6.4): %s" % exc],
                       error="too_many_void_lookups",
                       void_dns_lookups=(getattr(exc, "data", None) or {}).get("void_dns_lookups"))
    if isinstance(exc, cd_spf.SPFSyntaxError):
        return _result("spf", domain, "fail", ["SPF syntax error: %s" % exc], error="syntax")
    if isinstance(exc, cd_spf.SPFRecordNotFound):
        return _result("spf", domain, "fail", ["no usable SPF record: %s" % exc], error="not_found")
    return _result("spf", domain, "fail", ["SPF check failed: %s" % exc], error=type(exc).__name__)


# ---------------------------------------------------------------------------------------------
# DKIM
# ---------------------------------------------------------------------------------------------
def parse_tags(text):
    """DKIM/DMARC tag list 'k=v; k2=v2' → dict (keys lower-case, whitespace removed in values)."""
    tags = {}
    for part in (text or "").split(";"):
        if "=" not in part:
            continue
        k, v = part.split("=", 1)
        tags[k.strip().lower()] = "".join(v.split())
    return tags


def load_private_key(path=None, pem=None):
    """The private key PowerMTA signs with, from a PEM file or PEM text (decrypted from the vault)."""
    if pem is None:
        with open(path, "rb") as fh:
            pem = fh.read()
    if isinstance(pem, str):
        pem = pem.encode("ascii")
    return serialization.load_pem_private_key(pem, password=None)


def _public_der(pub):
    return pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def dkim_evaluate(domain, selector, record, private_key=None):
    """Pure: DKIM TXT record text (+ the signing private key object, optional) → result dict."""
    subject = "%s._domainkey.%s" % (selector, domain)
    tags = parse_tags(record)
    if tags.get("v", "DKIM1") != "DKIM1":
        return _result("dkim", subject, "fail", ["DKIM record has v=%s, expected DKIM1" % tags.get("v")])
    if "p" not in tags:
        return _result("dkim", subject, "fail", ["DKIM record has no p= tag"])
    if tags["p"] == "":
        return _result("dkim", subject, "fail", ["DKIM key revoked: empty p="])
    ktype = tags.get("k", "rsa").lower()
    try:
        raw = base64.b64decode(tags["p"], validate=True)
    except (binascii.Error, ValueError):
        return _result("dkim", subject, "fail", ["DKIM p= is not valid base64"])
    messages, sev, bits = [], "ok", None
    if ktype == "rsa":
        try:
            pub = serialization.load_der_public_key(raw)
        except ValueError:
            return _result("dkim", subject, "fail", ["DKIM p= is not a DER RSA public key"])
        if not isinstance(pub, rsa.RSAPublicKey):
            return _result("dkim", subject, "fail", ["DKIM k=rsa but p= is not an RSA key"])
        bits = pub.key_size
        if bits < DKIM_MIN_BITS:
            sev = "fail"
            messages.append("DKIM RSA key is %d bits: below the 1024-bit minimum (RFC 8301)" % bits)
        elif bits < DKIM_RECOMMENDED_BITS:
            sev = "warn"
            messages.append("DKIM RSA key is %d bits: 2048 recommended (RFC 8301)" % bits)
        published = _public_der(pub)
    elif ktype == "ed25519":
        published = raw
    else:
        return _result("dkim", subject, "fail", ["DKIM key type k=%s is not supported" % ktype])
    match = None
    if private_key is not None:
        pk_pub = private_key.public_key()
        if ktype == "rsa":
            match = isinstance(pk_pub, rsa.RSAPublicKey) and _public_der(pk_pub) == published
        else:
            match = isinstance(pk_pub, ed25519.Ed25519PublicKey) and pk_pub.public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw) == published
        if not match:
            sev = "fail"
            messages.append("published DKIM key does not match the private key PowerMTA signs with")
    else:
        sev = worst([sev, "warn"])
        messages.append("no private key given: cannot verify the published key matches the signing key")
    if sev == "ok":
        messages.insert(0, "DKIM ok: %s key%s matches the signing key" % (ktype, " (%d bits)" % bits if bits else ""))
    return _result("dkim", subject, sev, messages, key_type=ktype, bits=bits, matches_private_key=match,
                   testing="y" in tags.get("t", "").split(":"))


def audit_dkim(domain, selector, key_file, ctx, key_pem=None):
    subject = "%s._domainkey.%s" % (selector, domain)
    status, txts, err = ctx.query(subject, "TXT")
    if status not in ANSWERED:
        return _unknown("dkim", subject, "TXT %s" % subject, status, err)
    if status != "NOERROR":
        return _result("dkim", subject, "fail", ["no DKIM record at %s (%s)" % (subject, status)], rcode=status)
    recs = [t for t in txts if "p=" in t or t.startswith("v=DKIM1")]
    if len(recs) != 1:
        return _result("dkim", subject, "fail", ["expected one DKIM record at %s, found %d" % (subject, len(recs))])
    private_key = None
    if key_file or key_pem:
        try:
            private_key = load_private_key(key_file, key_pem)
        except (OSError, ValueError, TypeError) as exc:
            return _result("dkim", subject, "fail", ["cannot read DKIM private key %s: %s" % (
                key_file, type(exc).__name__)])
    out = dkim_evaluate(domain, selector, recs[0], private_key)
    out["details"]["key_file"] = key_file
    return out


# ---------------------------------------------------------------------------------------------
# DMARC
# ---------------------------------------------------------------------------------------------
def dmarc_evaluate(domain, res, spf_domain=None, dkim_domain=None):
    """Pure: checkdmarc ``check_dmarc`` result → result dict. Alignment of the DKIM d= and SPF
    (Return-Path) domains with the From domain is checked against adkim/aspf."""
    if not res.get("record"):
        return _result("dmarc", domain, "fail", ["no DMARC record for %s: %s" % (domain, res.get("error", "not found"))])
    if not res.get("valid", True):
        return _result("dmarc", domain, "fail", ["invalid DMARC record: %s" % res.get("error")], record=res.get("record"))
    tags = {k: (v.get("value") if isinstance(v, dict) else v) for k, v in (res.get("tags") or {}).items()}
    policy = tags.get("p")
    messages, sev = [], "ok"
    if policy == "none":
        sev = "warn"
        messages.append("DMARC p=none: monitoring only (meets the Gmail/Yahoo minimum; move to quarantine/reject)")
    rua = tags.get("rua") or []
    if not rua:
        sev = worst([sev, "warn"])
        messages.append("DMARC has no rua= (no aggregate reports)")
    pct = tags.get("pct")
    if pct not in (None, "100", 100):
        sev = worst([sev, "warn"])
        messages.append("DMARC pct=%s applies the policy to part of the mail only" % pct)
    org = cd_utils.get_base_domain(domain)
    aligned = {}
    for label, mode_tag, other in (("dkim", "adkim", dkim_domain or domain), ("spf", "aspf", spf_domain or domain)):
        mode = tags.get(mode_tag) or "r"
        other = other.rstrip(".").lower()
        ok = other == domain.lower() if mode == "s" else cd_utils.get_base_domain(other) == org
        aligned[label] = ok
        if not ok:
            sev = "fail" if label == "dkim" else worst([sev, "warn"])
            messages.append("%s domain %s is not aligned with From %s under %s=%s" % (
                label.upper(), other, domain, mode_tag, mode))
    for w in res.get("warnings") or []:
        messages.append("checkdmarc: %s" % w)
    if sev == "ok":
        messages.insert(0, "DMARC ok: p=%s, rua set, aligned" % policy)
    return _result("dmarc", domain, sev, messages, record=res.get("record"), policy=policy,
                   rua=[u.get("address") if isinstance(u, dict) else u for u in rua],
                   adkim=tags.get("adkim"), aspf=tags.get("aspf"), aligned=aligned, location=res.get("location"))


def audit_dmarc(domain, ctx, spf_domain=None, dkim_domain=None):
    name = "_dmarc.%s" % domain
    status, _vals, err = ctx.query(name, "TXT")
    if status not in ANSWERED:
        return _unknown("dmarc", domain, "TXT %s" % name, status, err)
    ctx.resolver.failures.clear()
    try:
        res = cd_dmarc.check_dmarc(domain, nameservers=ctx.nameservers, resolver=ctx.resolver,
                                   timeout=ctx.timeout, retries=1)
    except Exception as exc:  # checkdmarc reports most errors in the dict; be safe
        res = {"record": None, "error": "%s: %s" % (type(exc).__name__, exc)}
    failed = ctx.checkdmarc_failure()
    if failed:
        return _unknown("dmarc", domain, *failed)
    return dmarc_evaluate(domain, res, spf_domain, dkim_domain)


# ---------------------------------------------------------------------------------------------
# FCrDNS
# ---------------------------------------------------------------------------------------------
def audit_fcrdns(ip, hostname, ctx):
    """PTR of ip must name ``hostname`` (the HELO name PowerMTA uses), whose A/AAAA includes ip."""
    addr = ipaddress.ip_address(ip)
    rev = dns.reversename.from_address(str(addr)).to_text()
    status, ptrs, err = ctx.query(rev, "PTR")
    want = (hostname or "").rstrip(".").lower()
    if status not in ANSWERED:
        return _unknown("fcrdns", str(addr), "PTR %s" % rev.rstrip("."), status, err, ptr=[], hostname=want)
    ptrs = [p.rstrip(".").lower() for p in ptrs]
    if not ptrs:
        return _result("fcrdns", str(addr), "fail", ["no PTR record for %s (%s)" % (addr, status)], ptr=[],
                       hostname=want, rcode=status)
    confirmed, unanswered = [], {}
    rtype = "A" if addr.version == 4 else "AAAA"
    for name in ptrs:
        st, vals, e = ctx.query(name, rtype)
        if st not in ANSWERED:
            unanswered[name] = (st, e)
        elif any(ipaddress.ip_address(v) == addr for v in vals):
            confirmed.append(name)
    details = dict(ptr=ptrs, confirmed=confirmed, hostname=want, rcode=status)
    if want and want not in ptrs:
        return _result("fcrdns", str(addr), "fail", [
            "PTR of %s is %s, not the configured hostname/HELO %s" % (addr, ", ".join(ptrs), want)], **details)
    pending = want if want in unanswered else (None if confirmed else next(iter(sorted(unanswered)), None))
    if pending is not None:
        st, e = unanswered[pending]
        # rcode and error: those of the lookup that got no answer (not the PTR lookup's)
        return _unknown("fcrdns", str(addr), "%s %s" % (rtype, pending), st, e, ptr=ptrs, confirmed=confirmed,
                        hostname=want)
    messages, sev = [], "ok"
    if not confirmed:
        sev = "fail"
        messages.append("PTR %s of %s does not resolve back to %s (not forward-confirmed)" % (
            ", ".join(ptrs), addr, addr))
    elif want and want not in confirmed:
        sev = "fail"
        messages.append("configured hostname %s does not resolve to %s" % (want, addr))
    if len(ptrs) > 1:
        sev = worst([sev, "warn"])
        messages.append("%s has %d PTR records; use exactly one" % (addr, len(ptrs)))
    if sev == "ok":
        messages.insert(0, "FCrDNS ok: %s ⇄ %s" % (addr, want or ptrs[0]))
    return _result("fcrdns", str(addr), sev, messages, **details)


# ---------------------------------------------------------------------------------------------
# Readiness and the whole audit
# ---------------------------------------------------------------------------------------------
NOT_CHECKED = [
    "TLS on outbound SMTP (PowerMTA config)",
    "one-click unsubscribe (RFC 8058 List-Unsubscribe-Post) in every bulk message",
    "spam rate under 0.3 % (aim under 0.1 %) in Postmaster Tools",
]


def readiness(domain, results):
    """Pure: the Gmail/Yahoo bulk-sender verdict for a domain from its SPF, DKIM, DMARC and the
    FCrDNS results of its sending IPs -> ``{"domain", "ready": True|False|None, "severity",
    "failed": [...], "warnings": [...], "unknown": [...], "not_checked": [...]}``.

    ``ready`` is False only on a real failure; when a check is unknown (no DNS answer) and none
    failed it is None -- not ready, not failed: the verdict is not known this run.
    """
    failed, warns, unknown = [], [], []
    seen = set()
    for r in results:
        seen.add(r["check"])
        label = "%s %s" % (r["check"].upper(), r["subject"])
        if r["severity"] == "fail":
            failed.append("%s: %s" % (label, "; ".join(r["messages"])))
        elif r["severity"] == "warn":
            warns.append("%s: %s" % (label, "; ".join(r["messages"])))
        elif r["severity"] == "unknown":
            unknown.append("%s: %s" % (label, "; ".join(r["messages"])))
    for needed in ("spf", "dkim", "dmarc", "fcrdns"):
        if needed not in seen:
            failed.append("%s not checked (required by Gmail/Yahoo bulk-sender rules)" % needed.upper())
    if failed:
        ready, sev = False, "fail"
    elif unknown:
        ready, sev = None, "unknown"
    else:
        ready, sev = True, ("warn" if warns else "ok")
    return {"domain": domain, "ready": ready, "severity": sev, "failed": failed, "warnings": warns,
            "unknown": unknown, "not_checked": list(NOT_CHECKED)}


def audit(domains, ips, nameservers, timeout=2.0):
    """Audit tenant domains and sending IPs.

    domains: ``[{"name", "dkim_selector", "dkim_key_file", "ips": [addresses the domain sends from],
    "return_path_domain" (optional)}]``; ips: ``[{"address", "hostname"}]``.
    Returns ``{"results": [...], "verdicts": {domain: readiness}, "summary": {severity: n}}``.
    """
    if not HAS_CHECKDMARC:
        raise RuntimeError("checkdmarc is required on the controller")
    ctx = Ctx(nameservers, timeout)
    cd_utils.DNS_CACHE.clear()  # checkdmarc's process-wide cache: one audit sees fresh DNS
    ip_results = {}
    for entry in ips or []:
        a = str(ipaddress.ip_address(entry["address"]))
        ip_results[a] = audit_fcrdns(a, entry.get("hostname"), ctx)
    results = list(ip_results.values())
    verdicts = {}
    for d in domains or []:
        name = d["name"].rstrip(".").lower()
        sending = [str(ipaddress.ip_address(i)) for i in d.get("ips") or []]
        spf_domain = (d.get("return_path_domain") or name).rstrip(".").lower()
        per = [audit_spf(spf_domain, sending, ctx)]
        if d.get("dkim_selector"):
            per.append(audit_dkim(name, d["dkim_selector"], d.get("dkim_key_file"), ctx, d.get("dkim_key_pem")))
        per.append(audit_dmarc(name, ctx, spf_domain=spf_domain, dkim_domain=name))
        results.extend(per)
        fcr = []
        for a in sending:
            if a not in ip_results:
                ip_results[a] = _result("fcrdns", a, "fail", ["no hostname configured for %s" % a])
                results.append(ip_results[a])
            fcr.append(ip_results[a])
        verdicts[name] = readiness(name, per + fcr)
    summary = {s: 0 for s in SEVERITIES}
    for r in results:
        summary[r["severity"]] += 1
    return {"results": results, "verdicts": verdicts, "summary": summary}


# Python libraries the audit needs on the controller, as (name, present) for module_run.require.
LIBRARIES = (("dnspython", dnsbl.HAS_DNSPYTHON), ("checkdmarc", HAS_CHECKDMARC), ("cryptography", HAS_CRYPTOGRAPHY))


def audit_task(params, now=None, run_audit=None):
    """The run of ``mailfleet.fleet.dns_auth_audit``: ``params`` are its options. Audits with
    :func:`audit` (``run_audit`` stands in for it in tests), then evaluates the DNS-auth state
    against ``previous_state`` (run id ``run_id``, default ``now``). Returns the module's result;
    raises ModuleFailure on bad input, and with ``fail_on_not_ready`` when a domain is not ready."""
    run_audit = run_audit or audit
    for entry in params["ips"]:
        if not entry.get("address"):
            raise ModuleFailure("dns_auth_audit: every ips entry needs an address: %r" % (entry,))
    try:
        out = run_audit(params["domains"], params["ips"], params["nameservers"], timeout=params["timeout"])
    except (dnsbl.DNSBLConfigError, ValueError) as exc:
        raise ModuleFailure("dns_auth_audit: invalid configuration: %s" % exc)
    state, events = health.evaluate_dns_auth(params["previous_state"] or {}, out["results"],
                                             params["run_id"] or health.run_id(now))
    result = dict(changed=False, results=out["results"], verdicts=out["verdicts"], summary=out["summary"],
                  dns_auth_state=state, events=events)
    not_ready = sorted(d for d, v in out["verdicts"].items() if v["ready"] is False)
    if params["fail_on_not_ready"] and not_ready:
        raise ModuleFailure("dns_auth_audit: domains not ready for bulk sending: %s" % ", ".join(not_ready),
                            **result)
    return result
