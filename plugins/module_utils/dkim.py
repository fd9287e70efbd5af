# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""DKIM keys of the tenant domains (controller side; needs ``cryptography``).

Pure logic behind ``mailfleet.fleet.dkim_key`` (playbooks/dkim.yml): generating an RSA key, the TXT
record to publish for it, which key files the inventory expects, the selector a rotation moves to,
the inventory snippet a rotation needs, and whether a retired selector may leave PowerMTA.

Reading and writing files (and the vault) is the action plugin's business; everything here takes
and returns bytes, strings and plain dicts.

TXT record (RFC 6376 3.6.1): ``v=DKIM1; k=rsa; p=<base64 of the DER SubjectPublicKeyInfo>``,
published at ``<selector>._domainkey.<domain>``. A DNS TXT string holds at most 255 octets, so the
zone-file form splits the value into several quoted strings, which verifiers concatenate.
"""
from __future__ import absolute_import, division, print_function

import base64
import datetime
import os
import re
import string

__metaclass__ = type

from ansible_collections.mailfleet.fleet.plugins.module_utils import dnsauth, grammar

try:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover
    HAS_CRYPTOGRAPHY = False

DEFAULT_BITS = 2048
MIN_BITS = 2048  # RFC 8301: 1024 is the floor for verifiers; new keys are 2048 or more
TXT_STRING_MAX = 255
SELECTOR_RE = grammar.SELECTOR_RE  # the one grammar (as validation accepts)


class DKIMKeyError(Exception):
    """A key cannot be generated, read or planned; the message names the domain/file at fault."""


# ---------------------------------------------------------------------------------------------
# Keys and records
# ---------------------------------------------------------------------------------------------
def generate_private_key_pem(bits=DEFAULT_BITS):
    """A new RSA private key (public exponent 65537) as PEM bytes (PKCS#1, which PowerMTA reads)."""
    bits = int(bits)
    if bits < MIN_BITS:
        raise DKIMKeyError("refusing to generate a %d-bit DKIM key: %d bits or more (RFC 8301)" % (bits, MIN_BITS))
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def load_private_key(pem):
    """PEM bytes → RSA private key object; DKIMKeyError when it is not an unencrypted RSA PEM key."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise DKIMKeyError("not an unencrypted PEM private key (%s)" % type(exc).__name__)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise DKIMKeyError("not an RSA private key (%s)" % type(key).__name__)
    return key


def public_key_b64(private_key):
    """Base64 of the DER SubjectPublicKeyInfo of the key's public half (the DKIM ``p=`` value)."""
    der = private_key.public_key().public_bytes(serialization.Encoding.DER,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode("ascii")


def txt_value(p_b64, key_type="rsa"):
    """The DKIM TXT record value for a base64 public key."""
    return "v=DKIM1; k=%s; p=%s" % (key_type, p_b64)


def split_txt(value, size=TXT_STRING_MAX):
    """Split a TXT value into strings of at most ``size`` characters (DNS character-strings).

    Verifiers concatenate the strings without separators (RFC 6376 3.6.2.2), so the split may fall
    anywhere. The value is ASCII (tags and base64), so characters are octets."""
    if size < 1:
        raise ValueError("size must be positive")
    if value == "":
        return [""]
    return [value[i:i + size] for i in range(0, len(value), size)]


def record_name(selector, domain):
    return "%s._domainkey.%s" % (selector, domain.rstrip(".").lower())


def zone_rdata(value):
    """The TXT rdata in zone-file syntax: quoted strings of at most 255 characters."""
    return " ".join('"%s"' % part.replace("\\", "\\\\").replace('"', '\\"') for part in split_txt(value))


def zone_line(selector, domain, value, ttl=None):
    """One zone-file line (BIND, NSD, Knot) publishing the record, owner fully qualified."""
    ttl_part = "%d " % int(ttl) if ttl else ""
    return "%s. %sIN TXT %s" % (record_name(selector, domain), ttl_part, zone_rdata(value))


def record(selector, domain, private_key):
    """Everything an operator needs to publish the key: name, value, strings, zone-file line."""
    value = txt_value(public_key_b64(private_key))
    return {"name": record_name(selector, domain), "value": value, "strings": split_txt(value),
            "zone_line": zone_line(selector, domain, value), "bits": private_key.key_size}


# ---------------------------------------------------------------------------------------------
# Planning
# ---------------------------------------------------------------------------------------------
def resolve(base, ref):
    """A key file reference from the inventory → absolute path (relative: to the inventory dir)."""
    return os.path.normpath(ref if os.path.isabs(ref) else os.path.join(base, ref))


def key_file_for(current_ref, domain, selector):
    """Inventory reference of a new selector's key: next to the current key, named
    ``<domain>.<selector>.pem`` (the layout of inventories/example/files/dkim)."""
    directory = os.path.dirname(current_ref)
    name = "%s.%s.pem" % (domain.rstrip(".").lower(), selector)
    return os.path.join(directory, name) if directory else name


def derive_selector(today, taken, prefix="mf"):
    """The first free selector ``<prefix>YYYYMM<letter>`` for ``today`` (a date), letters a..z,
    skipping every selector in ``taken``."""
    if isinstance(today, str):
        today = datetime.date.fromisoformat(today)
    taken = set(taken)
    for letter in string.ascii_lowercase:
        candidate = "%s%04d%02d%s" % (prefix, today.year, today.month, letter)
        if candidate not in taken:
            return candidate
    raise DKIMKeyError("no free selector %s%04d%02d[a-z]: name one with mailfleet_dkim_new_selector" % (
        prefix, today.year, today.month))


def plan(tenants, base, rotate=None, new_selector=None, today=None):
    """Which key files the run deals with.

    ``tenants``: the model's ``mailfleet_model.tenants``; ``rotate``: domain names to rotate;
    ``new_selector``: the selector to rotate to (default: :func:`derive_selector`).

    Returns ``(entries, errors)``; each entry is ``{"tenant", "domain", "selector", "role":
    "current"|"retired"|"rotation", "key_file" (as the inventory writes it), "path" (absolute),
    "may_generate": bool}``. Only a current key and a rotation key may be generated: a retired key
    signs mail already published under its selector, a new key could never match it.
    """
    rotate = [d.rstrip(".").lower() for d in (rotate or []) if d]
    today = today or datetime.date.today()
    entries, errors = [], []
    seen_domains = set()
    if new_selector is not None and not SELECTOR_RE.match(str(new_selector)):
        errors.append("invalid DKIM selector %r for the rotation" % (new_selector,))
        new_selector = None
    for tenant in sorted(tenants):
        for dom in tenants[tenant].get("domains") or []:
            domain = dom["name"]
            seen_domains.add(domain)
            current = {"tenant": tenant, "domain": domain, "selector": dom["dkim_selector"], "role": "current",
                       "key_file": dom["dkim_key_file"], "path": resolve(base, dom["dkim_key_file"]),
                       "may_generate": True}
            entries.append(current)
            taken = {dom["dkim_selector"]}
            for old in dom.get("dkim_retired_selectors") or []:
                taken.add(old["selector"])
                entries.append({"tenant": tenant, "domain": domain, "selector": old["selector"], "role": "retired",
                                "key_file": old["key_file"], "path": resolve(base, old["key_file"]),
                                "may_generate": False})
            if domain not in rotate:
                continue
            selector = new_selector or derive_selector(today, taken)
            if selector in taken:
                errors.append("rotation of %s: selector %s is already in use for this domain (current or retired)" % (
                    domain, selector))
                continue
            ref = key_file_for(dom["dkim_key_file"], domain, selector)
            paths = {e["path"] for e in entries if e["domain"] == domain}
            if resolve(base, ref) in paths:
                errors.append("rotation of %s: the new key file %s is already used by another selector" % (domain, ref))
                continue
            entries.append({"tenant": tenant, "domain": domain, "selector": selector, "role": "rotation",
                            "key_file": ref, "path": resolve(base, ref), "may_generate": True,
                            "previous": {"selector": dom["dkim_selector"], "key_file": dom["dkim_key_file"]},
                            "retired": [dict(old) for old in dom.get("dkim_retired_selectors") or []]})
    for domain in rotate:
        if domain not in seen_domains:
            errors.append("rotation requested for %s, which is not a sending domain of any tenant (known: %s)" % (
                domain, ", ".join(sorted(seen_domains)) or "none"))
    return entries, errors


def _yaml_scalar(value):
    """A YAML plain scalar when safe, else double-quoted."""
    text = str(value)
    if re.match(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$", text) and text.lower() not in (
            "true", "false", "yes", "no", "null", "on", "off", "y", "n"):
        return text
    return '"%s"' % text.replace("\\", "\\\\").replace('"', '\\"')


def rotation_snippet(entry):
    """The inventory change that completes a rotation: the domain's entry in
    ``mailfleet_tenants.<tenant>.domains`` with the new selector current and the old one retired
    (PowerMTA keeps signing material for both until the DNS audit sees the new record)."""
    retired = [entry["previous"]] + [r for r in entry.get("retired") or []
                                     if r["selector"] != entry["previous"]["selector"]]
    lines = [
        "mailfleet_tenants:",
        "  %s:" % _yaml_scalar(entry["tenant"]),
        "    domains:",
        "      - name: %s" % _yaml_scalar(entry["domain"]),
        "        dkim_selector: %s" % _yaml_scalar(entry["selector"]),
        "        dkim_key_file: %s" % _yaml_scalar(entry["key_file"]),
        "        dkim_retired_selectors:",
    ]
    for old in retired:
        lines.append("          - {selector: %s, key_file: %s}" % (_yaml_scalar(old["selector"]),
                                                                   _yaml_scalar(old["key_file"])))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# DNS: is a selector published with this key, and may a retired selector go?
# ---------------------------------------------------------------------------------------------
def audit_selector(domain, selector, private_key, ctx):
    """Query ``selector._domainkey.domain`` through ``ctx`` (dnsauth.Ctx) and compare it with the
    key, as dnsauth.audit_dkim does for a key file (here the key is already decrypted in memory).

    Returns ``{"name", "status": "published"|"missing"|"mismatch"|"unknown", "message", "severity"}``.
    """
    name = record_name(selector, domain)
    rcode, txts, err = ctx.query(name, "TXT")
    if rcode in ("NXDOMAIN", "NODATA"):
        return {"name": name, "status": "missing", "severity": "fail",
                "message": "no DKIM record at %s (%s)" % (name, rcode)}
    if rcode != "NOERROR":
        # No answer is not an answer: unknown, never a failed check (and never "published").
        return {"name": name, "status": "unknown", "severity": "unknown",
                "message": "DKIM lookup of %s failed (%s)" % (name, err or rcode)}
    recs = [t for t in txts if "p=" in t or t.startswith("v=DKIM1")]
    if len(recs) != 1:
        return {"name": name, "status": "missing" if not recs else "mismatch", "severity": "fail",
                "message": "expected one DKIM record at %s, found %d" % (name, len(recs))}
    res = dnsauth.dkim_evaluate(domain, selector, recs[0], private_key)
    ok = res["details"].get("matches_private_key") is True and res["severity"] != "fail"
    return {"name": name, "status": "published" if ok else "mismatch", "severity": res["severity"],
            "message": "; ".join(res["messages"])}


def retirement_verdict(tenant, domain, current_selector, retired, audit):
    """Whether the retired selectors of a domain may leave the inventory (and PowerMTA): only when
    DNS serves the current selector's record and it matches the key PowerMTA signs with."""
    selectors = [r["selector"] for r in retired]
    if audit["status"] == "published":
        verdict = "remove"
        message = ("%s: DNS serves %s and it matches the current key: the retired selector%s %s can now be "
                   "removed from dkim_retired_selectors (then deploy). Keep the old TXT record published a few "
                   "days for mail still in flight." % (domain, audit["name"], "s" if len(selectors) > 1 else "",
                                                       ", ".join(selectors)))
    else:
        verdict = "keep"
        message = ("%s: keep the retired selector%s %s in the inventory: the current selector's record is not "
                   "confirmed (%s)." % (domain, "s" if len(selectors) > 1 else "", ", ".join(selectors),
                                        audit["message"]))
    return {"tenant": tenant, "domain": domain, "selector": current_selector, "retired": selectors,
            "verdict": verdict, "record_status": audit["status"], "message": message}
