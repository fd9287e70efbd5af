# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Classes of receiver replies (deferrals and bounces), per mailbox provider: ONE table.

Standard library only: the ledger imports this on PowerMTA hosts.

The ledger counts, per day x IP x provider, the class of every soft bounce, hard bounce, deferral
(``t``/``tq``) and remote bounce (``rb``) from its ``dsnStatus`` / ``dsnDiag`` / ``bounceCat``. The
planner judges thresholds on these classes; the PowerMTA renderer turns the ``rate_limited`` and
``reputation`` rows of each provider into ``<smtp-pattern-list>`` backoff rules. Both read the
same rows below, so what puts a queue into backoff is exactly what the ledger counts.

Classes (:data:`CLASSES`)
-------------------------
* ``rate_limited``  -- the receiver throttles the sending IP or domain: slow down.
* ``reputation``    -- a block or deferral for IP/domain reputation or policy (block lists,
  complaints, "banned sending IP", generic X.7.x policy refusals).
* ``content``       -- the message itself was judged spam (content, URLs, PowerMTA's
  ``spam-related`` / ``content-related`` / ``virus-related`` categories).
* ``auth``          -- SPF / DKIM / DMARC / alignment / reverse-DNS requirements not met.
* ``mailbox_unknown`` -- the address does not exist or is disabled (list hygiene).
* ``mailbox_full``  -- over quota.
* ``other``         -- anything else (connection failures, expiry, TLS, greylisting, per-recipient
  rate limits, message size...).

Rows
----
A row is ``(class, codes, text, reference)``. It renders to ONE regular expression
(:func:`row_regex`) that is both a Python ``re`` pattern and a PowerMTA ``reply /REGEX/`` body
(checked by ``grammar.reply_regex``: lowercase, no ``/ # " \\ < >``, PCRE-compatible):

* ``codes`` (tuple of RFC 3463 enhanced codes, may be empty): the reply must begin with a
  3-digit reply code, ``-`` or a space, then one of these codes -- ``421-4.7.28 ...``;
* ``text`` (may be None): a pattern searched anywhere in the reply (after the code).

Rows are tried in order: the provider's own rows first, then :data:`GENERIC` (every provider,
``other`` included). PowerMTA also uses the first matching ``reply`` rule, so rendering the rows in
this order keeps the two in step.

:func:`classify` tries, in this order: the provider's own rows; an enhanced status code that
names the mailbox (:data:`STATUS_CLASSES`, RFC 3463: X.1.1 bad mailbox, X.2.2 full...); the
generic rows; PowerMTA's own ``bounceCat`` (:data:`BOUNCE_CATEGORY_CLASSES`, guide §11.6); any
other ``X.7.x`` code (security or policy status, RFC 3463 §3.8: ``reputation``); ``other``. Only
the rows are rendered into PowerMTA rules: PowerMTA's first match over :func:`patterns` gives the
same class as :func:`classify` whenever a row decides (a mailbox code before the generic rows is
the one difference, and only for replies whose code names the mailbox).

References (cited per row as [tag])
-----------------------------------
[G]  Google Workspace Admin Help, "Gmail SMTP errors and codes",
     https://support.google.com/a/answer/3726730 (text as archived 2026-06-18 in
     github.com/azumakuniyuki/feb-2024-no-auth-no-entry, google-3726730-smtp-errors-and-codes.txt).
[GS] sisimai (github.com/sisimai/go-sisimai) rhost/for-google.go: Gmail replies seen in bounces.
[GF] smtpfieldmanual.com/provider/google: observed Gmail replies ("smtp;421 4.7.0 ... very low
     reputation of the sending domain", "... nature of the content and/or the links within").
[Y]  sisimai rhost/for-yahooinc.go: Yahoo replies ("421 4.7.0 [TSS04] Messages from 192.0.2.25
     temporarily deferred due to unexpected volume or user complaints - 4.16.55.1", "553 5.7.1
     [BL21] Connections will not be accepted from ... because the ip is in Spamhaus's list",
     "553 5.7.2 [TSS09] All messages from ... will be permanently deferred", "554 Message not
     allowed - [PH01] Email not accepted for policy reasons", "554 delivery error: dd This user
     doesn't have a yahoo.com account", "550 5.7.9 ... Yahoo requires all senders to authenticate
     with either SPF or DKIM").
[YH] Yahoo Sender Hub, "SMTP Error Codes", https://senders.yahooinc.com/smtp-error-codes/ (same
     archive, yahoo-senders-smtp-error-codes.txt): "Message temporarily deferred (eg: TS* Errors)",
     "Content based blocks (e.g: PH* Errors)"; Yahoo help SLN3436: "421 4.7.1 [TS03] All messages
     from x.x.x.x permanently deferred".
[K]  KumoMTA traffic-shaping rules, github.com/KumoCorp/kumomta assets/policy-extras/shaping.toml
     and assets/community/shaping.toml: "[TS01]".."[TS03]", "421 4.7.0 [TSS04]", "[TSS05]",
     "421 [IPTS04]", "553 5.7.1 [BL" (Spamhaus), "has been temporarily rate limited due to IP
     reputation", "Unfortunately, messages from \\d+.\\d+.\\d+.\\d+ weren.t sent",
     "Server busy. Please try again later from", "Access denied, please try again later".
[M]  Outlook.com postmaster, "SMTP Error Codes" (sendersupport.olc.protection.outlook.com
     /pm/troubleshooting.aspx, archived as microsoft-troubleshooting.txt in the same archive):
     421 RP-001/RP-002/RP-003, 550 SC-001..SC-004, DY-001/DY-002, OU-001/OU-002, 550 5.7.515.
[MS] sisimai rhost/for-microsoft.go: "451 4.7.650 The mail server [192.0.2.5] has been temporarily
     rate limited due to IP reputation ... (S775)", "550 5.7.1 Unfortunately, messages from
     [10.0.2.5] weren't sent. Please contact your Internet service provider since part of their
     network is on our block list (S3150)", "5.7.606-649 Access denied, banned sending IP",
     "5.7.511 Access denied, banned sender", "5.7.509 ... does not pass DMARC verification",
     "5.7.515 ... doesn't meet the required authentication level", "4.7.500-699 Access denied,
     please try again later".
[ML] Microsoft Learn, "Fix NDR error codes 5.7.700 through 5.7.750 in Exchange Online":
     "5.7.708 Access denied, traffic not accepted from this IP"; observed
     "550 5.7.1 Unfortunately ... (S3140)" (virtbiz.com knowledge base), "451 4.7.651 ...
     temporarily rate limited due to IP reputation ... (S3114)" (learn.microsoft.com answers).
[MX] smtp.codes/exchangeonline: "451 4.7.500 Server busy. Please try again later from
     [x.xx.xx.x]. (AS77712344)", "550 5.7.1 Service unavailable, Client host [x.xx.xx.xx] blocked
     using Spamhaus. (AS16012611)", "550 5.7.350 Remote server returned message detected as spam".
[R]  RFC 3463 (enhanced status codes): X.1.1 bad destination mailbox, X.1.2 bad destination
     system, X.2.2 mailbox full, X.7.x security or policy status; RFC 7208 (SPF), RFC 6376 (DKIM),
     RFC 7489 (DMARC).
[P]  PowerMTA v5.0 User's Guide (github.com/jnotes/pmta-doc) §11.6 bounce categories, §11.2.3
     sample "smtp;554 5.7.1 Denied - Spam Suspected" (spam-related).
"""
from __future__ import absolute_import, division, print_function

import re

from ansible_collections.mailfleet.fleet.plugins.module_utils.grammar import reply_regex
from ansible_collections.mailfleet.fleet.plugins.module_utils.providers import PROVIDERS

__metaclass__ = type

CLASSES = ("rate_limited", "reputation", "content", "auth", "mailbox_unknown", "mailbox_full",
           "other")
(RATE_LIMITED, REPUTATION, CONTENT, AUTH, MAILBOX_UNKNOWN, MAILBOX_FULL, OTHER) = CLASSES

# A few recurring pieces of text patterns (kept lowercase: matching is case-insensitive).
_APOS = "."                        # ' or a typographic apostrophe (doesn't, weren't)

# ---------------------------------------------------------------------------------------------
# THE TABLE: provider -> [(class, codes, text, reference)], tried in order.
# ---------------------------------------------------------------------------------------------
GMAIL = [
    # Per-recipient limits say nothing about the sending IP [G]: "450 4.2.1 The user you are
    # trying to contact is receiving email too quickly", "550 5.2.1 ... receiving email at a
    # rate that prevents additional messages from being delivered".
    (OTHER, ("4.2.1", "5.2.1"), "receiving (e)?mail (too quickly|at a rate)",
     "[G] 450 4.2.1 / 550 5.2.1"),
    # "421 4.7.28 Gmail has detected an unusual amount of unsolicited email originating from
    # your IP address. ... email sent from your IP address has been temporarily blocked." [G]
    (REPUTATION, ("4.7.28",), "temporarily blocked", "[G] 421 4.7.28 ... temporarily blocked"),
    # "421 4.7.28 Gmail has detected this sender exceeded the quota for sending messages that
    # have the same Message-ID:" [G] -- a sender bug, not a throttle.
    (OTHER, ("4.7.28",), "same message-id", "[G] 421 4.7.28 ... same Message-ID"),
    # "421 4.7.28 Gmail has detected an unusual rate of (unsolicited) email originating from your
    # IP address / IP Netblock / DKIM domain / SPF domain / containing one of your URL domains.
    # ... has been temporarily rate limited." [G], [GS]
    (RATE_LIMITED, ("4.7.28",), None, "[G] 421 4.7.28 unusual rate ... temporarily rate limited"),
    # "550 5.7.28 There is an unusual rate of unsolicited email originating from your IP
    # address. ... email sent from your IP address has been blocked." [G]
    (REPUTATION, ("5.7.28",), None, "[G] 550 5.7.28"),
    # "421 4.7.0 This message is suspicious due to the very low reputation of the sending IP
    # address / sending domain." and "550 5.7.1 This message is likely suspicious due to the very
    # low reputation of the sending IP address / domain." [G], [GF]
    (REPUTATION, ("4.7.0", "5.7.1"), "very low reputation",
     "[G] 421 4.7.0 / 550 5.7.1 very low reputation"),
    # "421 4.7.0 This message is suspicious due to the nature of the content or the links
    # within." [G], [GF]
    (CONTENT, ("4.7.0",), "nature of the content", "[G] 421 4.7.0 nature of the content"),
    # "421 4.7.0 Our system has detected an unusual rate of unsolicited mail originating from
    # your IP address. ... temporarily blocked." and "550 5.7.1 Our system has detected an
    # unusual rate of unsolicited mail ..." [GS]
    (REPUTATION, ("4.7.0", "5.7.1"), "unusual rate of unsolicited",
     "[GS] 421 4.7.0 / 550 5.7.1 unusual rate"),
    # "550 5.7.1 This message is likely unsolicited email. To reduce the amount of spam sent to
    # Gmail, this message has been blocked." [G]
    (CONTENT, ("5.7.1",), "likely unsolicited", "[G] 550 5.7.1 likely unsolicited email"),
    # "550 5.7.1 This message does not have authentication information or fails to pass
    # authentication checks" [GS]; "550 5.7.1 This message does not meet IPv6 sending guidelines
    # regarding PTR records and authentication." [G]
    (AUTH, ("5.7.1",), "authentication (information|checks)|ptr records",
     "[GS] 550 5.7.1 authentication"),
    # "550 5.7.1 This email has been rate limited." [G]
    (RATE_LIMITED, ("5.7.1",), "has been rate limited", "[G] 550 5.7.1 rate limited"),
    # "421 4.7.0 The IP address sending this message does not have a PTR record ..." [G]
    (AUTH, ("4.7.0",), "ptr record", "[G] 421 4.7.0 PTR record"),
    # Not about the IP's standing: "421 4.7.0 TLS required for RCPT domain", "421 4.7.0
    # Connection expired, try reconnecting", "421 4.7.0 IP not in whitelist for RCPT domain" [G]
    (OTHER, ("4.7.0",), "tls required|connection expired|not in whitelist",
     "[G] 421 4.7.0 TLS / expired / whitelist"),
    # Authentication requirements, by code [G]: 4.7.23 / 5.7.25 PTR; 4.7.24 / 5.7.24 suspicious SPF
    # entries; 4.7.26 / 5.7.26 unauthenticated, DMARC policy, SPF hard fail; 4.7.27 / 5.7.27 SPF;
    # 4.7.30 / 5.7.30 DKIM; 4.7.32 / 5.7.32 From: alignment; 4.7.40 / 5.7.40 DMARC record.
    (AUTH, ("4.7.23", "4.7.24", "4.7.26", "4.7.27", "4.7.30", "4.7.32", "4.7.40",
            "5.7.24", "5.7.25", "5.7.26", "5.7.27", "5.7.30", "5.7.32", "5.7.40"), None,
     "[G] 4.7.23-4.7.40 / 5.7.24-5.7.40 authentication"),
    # "421 4.7.29 / 550 5.7.29 ... not using a TLS connection" [G]
    (OTHER, ("4.7.29", "5.7.29"), None, "[G] 4.7.29 / 5.7.29 TLS"),
    # "550 5.2.1 The email account that you tried to reach is inactive." [G]
    (MAILBOX_UNKNOWN, ("5.2.1",), "inactive|disabled", "[G] 550 5.2.1 inactive"),
]

YAHOO = [
    # "421 4.7.0 [TSS04] Messages from 192.0.2.25 temporarily deferred due to unexpected volume or
    # user complaints - 4.16.55.1" [Y], [K]; "[TSS05]", "421 [IPTS04]", "[IPTS05]" [K]
    (RATE_LIMITED, (), "[^a-z0-9]tss0[45][^0-9]|[^a-z0-9]ipts0[45][^0-9]",
     "[Y][K] [TSS04]/[TSS05]/[IPTS04]/[IPTS05]"),
    # "421 4.7.0 [TS01] Messages from x.x.x.x temporarily deferred due to user complaints" [K];
    # "[TS02]" unusual traffic / complaints [K]; "421 4.7.1 [TS03] All messages from x.x.x.x
    # permanently deferred" [YH], [K]; "553 5.7.2 [TSS09] / [TSS11] All messages from ... will be
    # permanently deferred" [Y]
    (REPUTATION, (), "[^a-z0-9]ts0[1-3][^0-9]|[^a-z0-9]tss(09|11)[^0-9]|permanently deferred",
     "[Y][YH][K] [TS01]-[TS03], [TSS09], [TSS11]"),
    # "553 5.7.1 [BL21] Connections will not be accepted from 192.0.2.25, because the ip is in
    # Spamhaus's list", "553 5.7.1 [BL23] ... Spamhaus XBL" [Y]; KumoMTA "553 5\\.7\\.1 \\[BL" [K]
    (REPUTATION, ("5.7.1",), ".bl2[0-9].", "[Y][K] 553 5.7.1 [BL21]/[BL22]/[BL23] Spamhaus"),
    # "421 4.7.0 Messages from x.x.x.x temporarily deferred due to user complaints - 4.16.55"
    # (older wording without a [TS..] tag) [YH]
    (REPUTATION, (), "temporarily deferred due to user complaints",
     "[YH] temporarily deferred due to user complaints"),
    # "554 Message not allowed - [PH01] Email not accepted for policy reasons." [Y]; Yahoo:
    # "Content based blocks (e.g: PH* Errors)" [YH]
    (CONTENT, (), "[^a-z0-9]ph0[0-9][^0-9]", "[Y][YH] [PH01] content based block"),
    # "550 5.7.9 This mail has been blocked because the sender is unauthenticated. Yahoo requires
    # all senders to authenticate with either SPF or DKIM." [Y]
    (AUTH, (), "authenticate with either spf or dkim", "[Y] 550 5.7.9 unauthenticated"),
    # "451 Message temporarily deferred due to unresolvable RFC.5321 from domain" [Y]
    (AUTH, (), "unresolvable rfc.5321", "[Y] unresolvable RFC.5321 from domain"),
    # "554 5.7.9 Message not accepted for policy reasons." [Y]
    (REPUTATION, (), "not accepted for policy reasons", "[Y] 554 5.7.9 policy reasons"),
    # "554 delivery error: dd This user doesn't have a yahoo.com account" [Y], [YH];
    # "554 delivery error: dd xxx@yahoo.com is no longer valid", "This mailbox is disabled" [Y]
    (MAILBOX_UNKNOWN, (),
     "this user doesn" + _APOS + "t have a|is no longer valid|mailbox is disabled",
     "[Y] dd This user doesn't have a yahoo.com account"),
    # "421 Max message per connection reached, closing transmission channel" [Y], [K]: a
    # per-connection limit (reconnecting is enough), "450 User is receiving mail too quickly" [Y]:
    # a per-recipient limit.
    (OTHER, (), "max message per connection|user is receiving mail too quickly",
     "[Y][K] max message per connection / receiving mail too quickly"),
]

MICROSOFT = [
    # Codes that say it all come first (nothing to search).
    # "550 5.7.708 Service unavailable. Access denied, traffic not accepted from this IP." [ML]
    (REPUTATION, ("5.7.708",), None, "[ML] 550 5.7.708 traffic not accepted from this IP"),
    # "550 5.7.515 Access denied, sending domain ... doesn't meet the required authentication
    # level" [M], [MS]; "5.7.509 Access denied, sending domain [x] does not pass DMARC
    # verification" [MS]; "5.7.23 ... Sender Policy Framework violation" [MS]
    (AUTH, ("5.7.509", "5.7.515", "5.7.23"), None, "[M][MS] 5.7.509 / 5.7.515 / 5.7.23"),
    # "550 5.7.350 Remote server returned message detected as spam" [MX]
    (CONTENT, ("5.7.350",), None, "[MX] 550 5.7.350 detected as spam"),
    # Exchange Online "550 5.1.10 RESOLVER.ADR.RecipientNotFound" [R]
    (MAILBOX_UNKNOWN, ("5.1.10",), None, "[R] 550 5.1.10 recipient not found"),
    # Outlook.com's unknown recipient: "550 5.5.0 Requested action not taken: mailbox
    # unavailable" (sisimai rhost/for-outlook.go: userunknown)
    (MAILBOX_UNKNOWN, ("5.5.0",), "mailbox unavailable", "[MS] 550 5.5.0 mailbox unavailable"),
    # "451 4.7.650 The mail server [192.0.2.5] has been temporarily rate limited due to IP
    # reputation ... (S775)" [MS]; "451 4.7.651 ... (S3114)" [ML]; [K]
    (RATE_LIMITED, (), "temporarily rate limited due to ip reputation",
     "[MS][ML][K] 451 4.7.650 / 4.7.651"),
    # "421 RP-001 / RP-002 / RP-003 The mail server IP connecting to Outlook.com server has
    # exceeded the rate limit / connection limit allowed. Reason for rate limitation is related
    # to IP/domain reputation." [M]
    (RATE_LIMITED, (), "rp-00[1-3]", "[M] 421 RP-001/RP-002/RP-003"),
    # "451 4.7.500 Server busy. Please try again later from [x.xx.xx.x]. (AS77712344)" [MX], [K];
    # "4.7.500-699 Access denied, please try again later" (IP throttling) [MS], [K]
    (RATE_LIMITED, (),
     "server busy[.] please try again later from|access denied, please try again later",
     "[MX][MS][K] 451 4.7.500 server busy / access denied, try again later"),
    # "550 5.7.1 Unfortunately, messages from [x] weren't sent. Please contact your Internet
    # service provider since part of their network is on our block list (S3150)" [MS], "(S3140)"
    # [ML]; "550 SC-001 (BAY004-MC4F49) Unfortunately, messages from ... weren't sent" [M]
    (REPUTATION, (), "[^a-z0-9]s31[45]0[^0-9]|part of their network is on our block list",
     "[MS][ML][K] 550 5.7.1 ... block list (S3150)/(S3140)"),
    (REPUTATION, (), "traffic not accepted from this ip", "[ML] 5.7.708 traffic not accepted"),
    # "5.7.606-649 Access denied, banned sending IP [IP1.IP2.IP3.IP4]", "5.7.511 Access denied,
    # banned sender" [MS]
    (REPUTATION, (), "banned sending ip|banned sender", "[MS] 5.7.606-649 / 5.7.511 banned"),
    # "550 SC-001 ... content with spam-like characteristics or IP/domain reputation", SC-002
    # namespace mining, SC-003 open proxy, SC-004 complaints, DY-001/DY-002 dynamic/compromised,
    # OU-001 Spamhaus, OU-002 content or reputation [M]
    (REPUTATION, (), "sc-00[1-4]|dy-00[12]|ou-00[12]", "[M] 550 SC-00x / DY-00x / OU-00x"),
    (AUTH, (), "required authentication level|does not pass dmarc|must pass either spf or dkim",
     "[MS] authentication level / DMARC / IPv6 SPF-DKIM"),
]

# Every provider, after its own rows ("other" has only these).
GENERIC = [
    # Domain (URL) block lists judge the message's content: "Your email was rejected due to
    # having a domain present in the Spamhaus DBL" [K]; URIBL/SURBL are URL lists.
    (CONTENT, (), "spamhaus dbl|uribl|surbl|in the dbl", "[K] Spamhaus DBL / URIBL / SURBL"),
    # IP block lists: "553 5.7.1 [BL21] ... Spamhaus's list" [Y], "blocked using Spamhaus.
    # (AS16012611)" [MX], "Client host [x] blocked using zen.spamhaus.org" (Postfix reject_rbl).
    (REPUTATION, (), "spamhaus|blocked using|block ?list|black ?list|dnsbl|barracuda|spamcop",
     "[Y][MX] Spamhaus / DNSBL listing"),
    # Content judged spam: "554 5.7.1 Denied - Spam Suspected" [P]; "detected as spam" [MX].
    (CONTENT, (), "as spam|spam suspected|suspected spam|probability of spam|looks like spam|"
                  "spam content|content rejected|phish|virus|malware",
     "[P][MX] spam suspected / detected as spam"),
    # Throttling in any receiver's words [K]: "has been temporarily rate limited", "Too many
    # connections", "frequency limited" (qq.com), "throttled".
    (RATE_LIMITED, (), "rate limit|rate-limit|ratelimit|throttl|too many (connections|messages|"
                       "mails|emails)|frequency limit",
     "[K] rate limited / too many connections / throttled"),
    # Sender authentication in any receiver's words [R]: SPF (RFC 7208), DKIM (RFC 6376), DMARC
    # (RFC 7489), reverse DNS.
    (AUTH, (), "spf|dkim|dmarc|sender policy framework|reverse dns|ptr record|unauthenticated",
     "[R] SPF / DKIM / DMARC / reverse DNS"),
    # Quota: "452 4.2.2 The recipient's inbox is out of storage space" [G]
    (MAILBOX_FULL, (), "over quota|quota exceeded|mailbox (is )?full|out of storage|"
                       "insufficient storage",
     "[G][R] over quota / mailbox full"),
    # Unknown recipient: "550 5.1.1 The email account that you tried to reach does not exist" [G],
    # "User unknown", "No such user" (Postfix, Exim, qmail).
    (MAILBOX_UNKNOWN, (), "user unknown|unknown user|no such (user|mailbox|recipient)|"
                          "does not exist|doesn" + _APOS + "t exist|mailbox not found|"
                          "invalid (recipient|mailbox)|unrouteable address|mailbox unavailable",
     "[G] does not exist / user unknown"),
    # Not about reputation although some arrive as 4.7.x: TLS requirements, greylisting.
    (OTHER, (), "tls required|starttls|greylist|graylist", "[G] TLS required / greylisting"),
]

TABLE = {"gmail": GMAIL, "microsoft": MICROSOFT, "yahoo": YAHOO, "other": []}

# Fallbacks when no row matches (not rendered into PowerMTA rules).
# Enhanced status codes (RFC 3463): X.1.1 bad destination mailbox, X.1.2 bad destination system
# (domain), X.1.3 bad mailbox syntax, X.1.6 mailbox moved, X.1.10 (Exchange) recipient not
# found, X.2.1 mailbox disabled; X.2.2 mailbox full.
STATUS_CLASSES = {
    "5.1.1": MAILBOX_UNKNOWN, "5.1.2": MAILBOX_UNKNOWN, "5.1.3": MAILBOX_UNKNOWN,
    "5.1.6": MAILBOX_UNKNOWN, "5.1.10": MAILBOX_UNKNOWN, "5.2.1": MAILBOX_UNKNOWN,
    "4.2.2": MAILBOX_FULL, "5.2.2": MAILBOX_FULL,
}
# PowerMTA's bounceCat (guide §11.6) -> class.
BOUNCE_CATEGORY_CLASSES = {
    "bad-mailbox": MAILBOX_UNKNOWN, "inactive-mailbox": MAILBOX_UNKNOWN,
    "bad-domain": MAILBOX_UNKNOWN, "quota-issues": MAILBOX_FULL,
    "spam-related": CONTENT, "content-related": CONTENT, "virus-related": CONTENT,
    "policy-related": REPUTATION, "invalid-sender": AUTH,
    "bad-configuration": OTHER, "bad-connection": OTHER, "message-expired": OTHER,
    "no-answer-from-host": OTHER, "protocol-errors": OTHER, "relaying-issues": OTHER,
    "routing-errors": OTHER, "other": OTHER,
}


# ---------------------------------------------------------------------------------------------
# Rendering and matching
# ---------------------------------------------------------------------------------------------
def _code_regex(code):
    return code.replace(".", "[.]")


def row_regex(codes, text):
    """The one pattern of a row: valid for Python ``re`` and PowerMTA ``reply /.../``."""
    if codes:
        alt = "|".join(_code_regex(c) for c in codes)
        head = "(?s)^[2-5][0-9][0-9][ -](?:%s)" % alt
        pattern = head + ("[^0-9].*(?:%s)" % text if text else "(?:[^0-9]|$)")
    else:
        pattern = "(?s)(?:%s)" % text
    return reply_regex(pattern, "reply pattern of %s row %r" % (codes or "any code", text))


def _scan(pattern, i=0):
    """(index, character, group depth after it) of ``pattern`` from ``i``, sets ``[...]`` skipped."""
    depth = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "[":
            i = _set_end(pattern, i)
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        yield i, ch, depth
        i += 1


def _split_top(pattern, sep="|"):
    """``pattern`` split on ``sep`` outside groups and sets."""
    parts, start = [], 0
    for i, ch, depth in _scan(pattern):
        if ch == sep and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
    parts.append(pattern[start:])
    return parts


def _set_end(pattern, i):
    """Index just past the set ``[...]`` opening at ``i``."""
    j = i + 1
    if pattern[j:j + 1] == "^":
        j += 1
    if pattern[j:j + 1] == "]":
        j += 1
    return pattern.index("]", j) + 1


def _group_end(pattern, i):
    for j, ch, depth in _scan(pattern, i):
        if ch == ")" and depth == 0:
            return j + 1
    raise ValueError("unbalanced group in %r" % pattern)


def required_literals(text):
    """A tuple of strings of which every match of ``text`` contains at least one (the longest
    run of plain characters each top-level alternative cannot match without), or None when some
    alternative has no such run of 3 characters or more. Lets a row be skipped with a few
    substring tests instead of a regular-expression search; exact by construction."""
    found = []
    for alt in _split_top(text):
        best, run, i = "", "", 0
        while i <= len(alt):
            ch = alt[i] if i < len(alt) else "$"
            if ch in "?*{":
                run = run[:-1]          # the character before is optional
            elif ch == "+":
                pass                    # the character before is there at least once
            if ch in ".^$|?*{+[(":
                best = max(best, run, key=len)
                run = ""
                if ch == "[":
                    i = _set_end(alt, i)
                elif ch == "(":
                    i = _group_end(alt, i)
                elif ch == "{":
                    i = alt.index("}", i) + 1
                else:
                    i += 1
                continue
            run += ch
            i += 1
        if len(best) < 3:
            return None
        found.append(best)
    return tuple(found)


_META = frozenset(".^$*+?{}[]()|")


class _Row:
    __slots__ = ("cls", "codes", "text", "reference", "regex", "search", "literals")

    def __init__(self, cls, codes, text, reference):
        if cls not in CLASSES:
            raise ValueError("reply table: unknown class %r" % cls)
        if not codes and not text:
            raise ValueError("reply table: a row needs codes or a text (%s)" % reference)
        self.cls, self.codes, self.text, self.reference = cls, tuple(codes), text, reference
        self.regex = row_regex(self.codes, text)
        self.search = re.compile(self.regex).search
        self.literals = required_literals(text) if text else None
        if not self.codes and not _META.intersection(text):
            # Plain strings, any of which anywhere is a match: the substring test is the
            # search itself.
            self.search = _any_of(tuple(text.split("|")))

    def matches(self, reply):
        literals = self.literals
        if literals is not None:
            for lit in literals:
                if lit in reply:
                    break
            else:
                return False
        return self.search(reply) is not None


def _any_of(strings):
    def search(reply):
        for string in strings:
            if string in reply:
                return True
        return None
    return search


def _compile(rows):
    return [_Row(*row) for row in rows]


_ROWS = {prov: _compile(TABLE[prov]) for prov in PROVIDERS}
_GENERIC_ROWS = _compile(GENERIC)

# The enhanced code right after the reply code: "421-4.7.28 ...", "550 5.1.1 ..."
_LEAD_CODE = re.compile(r"[2-5][0-9][0-9][ -]([245]\.[0-9]{1,3}\.[0-9]{1,3})(?![0-9])")
_ANY_CODE = re.compile(r"(?<![0-9.])([245]\.[0-9]{1,3}\.[0-9]{1,3})(?![0-9])")
# The same lead code read from a raw dsnDiag ("smtp;421-4.7.28 ..."), before lowercasing.
_DIAG_LEAD = re.compile(
    r"\s*(?:[sS][mM][tT][pP];\s*)?[2-5][0-9][0-9][ -]([245]\.[0-9]{1,3}\.[0-9]{1,3})(?![0-9])")


def reply_text(diag, status=""):
    """The SMTP reply of a ``dsnDiag`` (``smtp;550 5.1.1 ...`` -> ``550 5.1.1 ...``), lowercased;
    the ``dsnStatus`` text when there is no diagnostic."""
    if diag:
        text = diag.lower()
        if text.startswith("smtp;"):
            text = text[5:]
        text = text.strip()
        if text:
            return text
    return (status or "").strip().lower()


def enhanced_code(reply, status=""):
    """The RFC 3463 code of a reply: after its reply code, else the first one in it, else the
    one of ``dsnStatus`` (``5.1.1 (bad destination mailbox address)``); "" when none."""
    m = _LEAD_CODE.match(reply) or _ANY_CODE.search(reply) or _ANY_CODE.search(status or "")
    return m.group(1) if m else ""


def _check_provider(provider):
    if provider not in _ROWS:
        raise ValueError("unknown provider %r (expected %s)" % (provider, ", ".join(PROVIDERS)))


def patterns(provider, classes=CLASSES, generic=True):
    """``[(class, regex, reference)]`` of ``provider``'s rows of these classes, in matching order
    (then the generic rows when ``generic``). Each regex is a PowerMTA ``reply /REGEX/`` body as
    is (it already passed ``grammar.reply_regex``) and a Python ``re`` pattern; match it against
    the lowercased reply (PowerMTA matches case-insensitively)."""
    _check_provider(provider)
    unknown = [c for c in classes if c not in CLASSES]
    if unknown:
        raise ValueError("unknown reply class(es) %s (expected %s)"
                         % (", ".join(map(repr, unknown)), ", ".join(CLASSES)))
    rows = _ROWS[provider] + (_GENERIC_ROWS if generic else [])
    return [(r.cls, r.regex, r.reference) for r in rows if r.cls in classes]


class ReplyClassifier:
    """:func:`classify` with per-(provider, code) candidate rows and a bounded result cache."""

    def __init__(self, cache_max=20000):
        self._candidates = {}
        self._cache = {}
        self._cache_max = cache_max

    def _rows_for(self, provider, code):
        """The plan ``(own rows, generic rows, constant, code)`` for a reply of ``provider``
        whose lead code is ``code`` ("" when the reply does not begin with one). Rows are
        ``(literals, search, row)``, only those that can match (rows bound to other codes never
        can: same result, fewer searches), order kept; ``search`` None for a row bound to the
        code alone (it matches). ``constant`` is the class when nothing else can change it (the
        first row is bound to the code alone, or no row of the provider applies and the code
        names the mailbox), else None."""
        key = (provider, code)
        plan = self._candidates.get(key)
        if plan is None:
            _check_provider(provider)
            own, generic = ([(r.literals, r.search if r.text else None, r) for r in group
                             if not r.codes or code in r.codes]
                            for group in (_ROWS[provider], _GENERIC_ROWS))
            constant = None
            if code and own and own[0][2].text is None:
                constant = own[0][2].cls
            elif code and not own:
                constant = STATUS_CLASSES.get(code)
            plan = self._candidates[key] = (own, generic, constant, code)
        return plan

    @staticmethod
    def _first(rows, reply):
        for literals, search, row in rows:
            if literals is not None:
                for lit in literals:
                    if lit in reply:
                        break
                else:
                    continue            # none of the strings every match contains
            if search is None or search(reply) is not None:
                return row
        return None

    def match(self, provider, reply):
        """The first of ``provider``'s rows, then of the generic rows, matching the lowercased
        ``reply``, or None: what PowerMTA's first-match rule does with :func:`patterns`."""
        lead = _LEAD_CODE.match(reply)
        own, generic = self._rows_for(provider, lead.group(1) if lead else "")[:2]
        return self._first(own, reply) or self._first(generic, reply)

    def plan(self, provider, diag):
        """The plan of :meth:`_rows_for` for a record of ``provider`` with this ``dsnDiag``."""
        lead = _DIAG_LEAD.match(diag) if diag else None
        return self._rows_for(provider, lead.group(1) if lead is not None else "")

    def plan_of_start(self, provider, start):
        """The plan shared by every ``dsnDiag`` of ``provider`` that begins with ``start`` (a
        fixed-length beginning, "smtp;" then the reply), or None when that beginning does not
        settle the lead code (the code runs to its end, or spaces push it out)."""
        lead = _DIAG_LEAD.match(start)
        if lead is not None:
            if lead.end() >= len(start):
                return None
            return self._rows_for(provider, lead.group(1))
        if start[5:6].strip() and start[:5].lower() == "smtp;":
            return self._rows_for(provider, "")     # "smtp;" then no reply code: none
        return None

    def classify(self, provider, status, diag, bounce_cat=""):
        key = (provider, status, diag, bounce_cat)
        found = self._cache.get(key)
        if found is None:
            found = self.classify_uncached(provider, status, diag, bounce_cat)
            if len(self._cache) >= self._cache_max:
                self._cache.clear()
            self._cache[key] = found
        return found

    def classify_uncached(self, provider, status, diag, bounce_cat=""):
        """:func:`classify` without the result cache (for callers keeping their own)."""
        return self.classify_planned(self.plan(provider, diag), status, diag, bounce_cat)

    def classify_planned(self, plan, status, diag, bounce_cat=""):
        """:func:`classify` of a record whose :meth:`plan` is known."""
        own, generic, constant, code = plan
        if constant is not None:
            return constant
        reply = reply_text(diag, status)
        # The provider's own rows; an enhanced code that names the mailbox (X.1.1 bad mailbox,
        # X.2.2 full...); the generic rows; PowerMTA's bounceCat; X.7.x; other.
        row = self._first(own, reply) if own else None
        if row is not None:
            return row.cls
        if not code:
            code = enhanced_code(reply, status)
        found = STATUS_CLASSES.get(code)
        if found is not None:
            return found
        row = self._first(generic, reply)
        if row is not None:
            return row.cls
        found = BOUNCE_CATEGORY_CLASSES.get(bounce_cat.strip().lower() if bounce_cat else "",
                                            OTHER)
        if found == OTHER and code[1:3] == ".7":
            found = REPUTATION            # X.7.x: security or policy status (RFC 3463 §3.8)
        return found


_DEFAULT = ReplyClassifier()


def classify(provider, status, diag, bounce_cat=""):
    """Class (one of :data:`CLASSES`) of one reply: ``provider`` as the ledger names it,
    ``status``/``diag``/``bounce_cat`` the record's ``dsnStatus``/``dsnDiag``/``bounceCat``."""
    return _DEFAULT.classify(provider, status, diag, bounce_cat)
