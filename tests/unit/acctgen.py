"""Generator of PowerMTA accounting files that also tells what a correct ledger must count.

The generator decides each event itself (UTC time, source IP/VMTA, provider, outcome, reply class)
and only then renders the CSV record, so its expected counts are independent of the parser under
test. Record layouts follow the PowerMTA v5.0 User's Guide §11.2 (jnotes/pmta-doc): ``b`` records
carry no ``dlvSourceIp`` (attributed through the VMTA -> IP map), ``tq`` records have no recipient
and may log ``0.0.0.0`` as source, ``rb``/``rs`` records have neither source IP nor VMTA (an ``rb``
record is attributed through the original message's ``X-Virtual-MTA`` header when the file logs
``header_X-Virtual-MTA``), ``f`` records have their own columns (``dlvSourceIp`` is the ARF
Source-IP, no ``vmta``).

Replies are real-world ones (cited in plugins/module_utils/replies.py); each carries the class a
correct classification gives it, decided here by hand, per provider as the ledger sees it.
Every record carries a unique ``envId`` ``rid-N-rid``: tests that follow records through
rotations find them on disk by that token alone.

Only documentation addresses and example./.test domains are used.
"""
import collections
import csv
import datetime
import gzip
import io
import random
import re

DEFAULT_COLUMNS = (
    "type,timeLogged,timeQueued,orig,rcpt,orcpt,dsnAction,dsnStatus,dsnDiag,dsnMta,bounceCat,"
    "srcType,srcMta,dlvType,dlvSourceIp,dlvDestinationIp,dlvEsmtpAvailable,dlvSize,vmta,jobId,"
    "envId,queue,vmtaPool,header_X-Virtual-MTA").split(",")
# The guide's typical header (no header_X-Virtual-MTA: remote bounces then stay under "-").
GUIDE_COLUMNS = DEFAULT_COLUMNS[:-1]

# The operator's record-fields may differ: fewer columns, another order, an FBL-only file.
REORDERED_COLUMNS = ("vmta,rcpt,type,bounceCat,dlvSourceIp,timeLogged,dsnMta,queue,"
                     "header_X-Virtual-MTA,jobId,dsnDiag,envId,dsnStatus").split(",")
FBL_COLUMNS = ("type,timeLogged,repSourceIp,feedbackType,format,userAgent,envId,orig,rcpt,"
               "reportingMta,dlvSourceIp,reportedDomain,header_X-Virtual-MTA").split(",")

VMTA_IPS = {"vmta-a": "192.0.2.10", "vmta-b": "198.51.100.20", "vmta-c": "2001:db8::25"}
UNMAPPED_VMTA = "vmta-z"          # a VMTA the playbook did not map: its b records go under "-"

# provider -> [(recipient domain, dsnMta)]; custom domains are classified through their MX.
DESTINATIONS = {
    "gmail": [("gmail.com", "gmail-smtp-in.l.google.com (192.0.2.201)"),
              ("googlemail.com", "gmail-smtp-in.l.google.com (192.0.2.201)"),
              ("corp-g.example", "aspmx.l.google.com (192.0.2.202)")],
    "microsoft": [("outlook.com", "outlook-com.olc.protection.outlook.com (198.51.100.201)"),
                  ("hotmail.com", "hotmail-com.olc.protection.outlook.com (198.51.100.201)"),
                  ("corp-m.test", "corp-m-test.mail.protection.outlook.com (198.51.100.202)")],
    "yahoo": [("yahoo.com", "mta6.am0.yahoodns.net (203.0.113.201)"),
              ("aol.com", "mx-aol.mail.gm0.yahoodns.net (203.0.113.201)"),
              ("corp-y.example", "mta5.am0.yahoodns.net (203.0.113.202)")],
    "other": [("example.net", "mx.example.net (203.0.113.9)"),
              ("example.org", "mail.example.org (203.0.113.10)"),
              ("corp-o.test", "")],
}
HARD_CATS = ("bad-mailbox", "inactive-mailbox", "bad-domain")

# Replies: provider -> group -> [(dsnStatus, dsnDiag, bounceCat, class, class when the ledger
# sees the provider as "other")]. {ip} is the sending IP, {rcpt} the recipient, {id} a per-message
# token (Gmail and Microsoft put one in every reply, which defeats any cache keyed by reply).
_G = "For more information, go to"
REPLIES = {
    "gmail": {
        "hard": [
            ("5.1.1 (bad destination mailbox address)",
             "smtp;550-5.1.1 The email account that you tried to reach does not exist. Please "
             "try 550-5.1.1 double-checking the recipient's email address for typos or 550-5.1.1 "
             "unnecessary spaces. %s 550 5.1.1  https://support.google.com/mail/?p=NoSuchUser "
             "{id} - gsmtp" % _G, "bad-mailbox", "mailbox_unknown", "mailbox_unknown"),
            ("5.2.1 (mailbox disabled, not accepting messages)",
             "smtp;550-5.2.1 The email account that you tried to reach is inactive. %s 550 5.2.1  "
             "https://support.google.com/mail/?p=DisabledUser {id} - gsmtp" % _G,
             "inactive-mailbox", "mailbox_unknown", "mailbox_unknown"),
        ],
        "soft": [
            ("4.2.2 (mailbox full)",
             "smtp;452-4.2.2 The recipient's inbox is out of storage space. Please direct the "
             "recipient to 452 4.2.2  https://support.google.com/mail/?p=OverQuotaTemp {id} - "
             "gsmtp", "quota-issues", "mailbox_full", "mailbox_full"),
            ("5.7.26 (multiple authentication checks failed)",
             "smtp;550-5.7.26 This mail has been blocked because the sender is unauthenticated. "
             "550-5.7.26 Gmail requires all senders to authenticate with either SPF or DKIM. "
             "550-5.7.26  Authentication results: 550-5.7.26  DKIM = did not pass 550-5.7.26  "
             "SPF [mail.example.com] with ip: [{ip}] = did not pass {id} - gsmtp",
             "policy-related", "auth", "auth"),
            ("5.7.1 (delivery not authorized, message refused)",
             "smtp;550-5.7.1 [{ip}] Gmail has detected that this message is likely unsolicited "
             "mail. To reduce the amount of spam sent to Gmail, this message has been blocked. "
             "{id} - gsmtp", "spam-related", "content", "content"),
            ("5.7.1 (delivery not authorized, message refused)",
             "smtp;550-5.7.1 [{ip}] This message is likely suspicious due to the very low "
             "reputation of the sending IP address. To best protect our users from spam, the "
             "message has been blocked. {id} - gsmtp", "policy-related", "reputation",
             "reputation"),
        ],
        "defer": [
            ("4.7.28 (other or undefined security status)",
             "smtp;421-4.7.28 [{ip}] Gmail has detected an unusual rate of unsolicited email "
             "originating from your IP address. To protect our users from spam, email sent from "
             "your IP address has been temporarily rate limited. To review our bulk email senders "
             "guidelines, go to https://support.google.com/mail/?p=UnsolicitedRateLimitError "
             "{id} - gsmtp", "policy-related", "rate_limited", "rate_limited"),
            ("4.7.0 (other or undefined security status)",
             "smtp;421-4.7.0 [{ip}] This message is suspicious due to the very low reputation of "
             "the sending domain. To best protect our users from spam, the message has been "
             "blocked. {id} - gsmtp", "policy-related", "reputation", "reputation"),
            ("4.7.27 (other or undefined security status)",
             "smtp;421-4.7.27 Your email has been rate limited because SPF authentication didn't "
             "pass for this message. Gmail requires all bulk email senders to authenticate their "
             "email with SPF. {id} - gsmtp", "policy-related", "auth", "rate_limited"),
            ("4.2.1 (mailbox disabled, not accepting messages)",
             "smtp;450-4.2.1 The user you are trying to contact is receiving email too quickly. "
             "Please resend your message at a later time. {id} - gsmtp", "other", "other",
             "other"),
        ],
    },
    "microsoft": {
        "hard": [
            ("5.5.0 (other protocol status)",
             "smtp;550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302). "
             "[{id}.eurprd03.prod.protection.outlook.com]", "bad-mailbox", "mailbox_unknown",
             "mailbox_unknown"),
        ],
        "soft": [
            ("5.7.1 (delivery not authorized, message refused)",
             "smtp;550 5.7.1 Unfortunately, messages from [{ip}] weren't sent. Please contact "
             "your Internet service provider since part of their network is on our block list "
             "(S3150). You can also refer your provider to "
             "http://mail.live.com/mail/troubleshooting.aspx#errors. "
             "[{id}.eurprd04.prod.outlook.com]", "policy-related", "reputation", "reputation"),
            ("5.7.708 (delivery not authorized, message refused)",
             "smtp;550 5.7.708 Service unavailable. Access denied, traffic not accepted from this "
             "IP. For more information please go to http://go.microsoft.com/fwlink/?LinkId=526653 "
             "AS(7171) [{id}.prod.protection.outlook.com]", "policy-related", "reputation",
             "reputation"),
            ("5.7.515 (delivery not authorized, message refused)",
             "smtp;550 5.7.515 Access denied, sending domain MAIL.EXAMPLE.COM doesn't meet the "
             "required authentication level. Spf= Fail , Dkim= Pass , DMARC= Pass "
             "[{id}.prod.protection.outlook.com]", "policy-related", "auth", "auth"),
        ],
        "defer": [
            ("4.7.650 (other or undefined security status)",
             "smtp;451 4.7.650 The mail server [{ip}] has been temporarily rate limited due to IP "
             "reputation. For e-mail delivery information, see https://postmaster.live.com (S775) "
             "[{id}.prod.protection.outlook.com]", "policy-related", "rate_limited",
             "rate_limited"),
            ("4.7.500 (other or undefined security status)",
             "smtp;451 4.7.500 Server busy. Please try again later from [{ip}]. (AS77712344) "
             "[{id}.prod.protection.outlook.com]", "other", "rate_limited", "reputation"),
        ],
    },
    "yahoo": {
        "hard": [
            ("5.0.0 (undefined status)",
             "smtp;554 delivery error: dd This user doesn't have a yahoo.com account ({rcpt}) "
             "[0] - mta1234.mail.gq1.yahoo.com", "bad-mailbox", "mailbox_unknown",
             "mailbox_unknown"),
        ],
        "soft": [
            ("5.7.1 (delivery not authorized, message refused)",
             "smtp;553 5.7.1 [BL21] Connections will not be accepted from {ip}, because the ip is "
             "in Spamhaus's list; see http://postmaster.yahoo.com/550-bl23.html",
             "policy-related", "reputation", "reputation"),
            ("5.7.9 (message content not accepted)",
             "smtp;550 5.7.9 This mail has been blocked because the sender is unauthenticated. "
             "Yahoo requires all senders to authenticate with either SPF or DKIM.",
             "policy-related", "auth", "auth"),
            ("5.0.0 (undefined status)",
             "smtp;554 Message not allowed - [PH01] Email not accepted for policy reasons.  "
             "Please visit https://postmaster.yahooinc.com/error-codes", "spam-related",
             "content", "content"),
        ],
        "defer": [
            ("4.7.0 (other or undefined security status)",
             "smtp;421 4.7.0 [TSS04] Messages from {ip} temporarily deferred due to unexpected "
             "volume or user complaints - 4.16.55.1; "
             "see https://postmaster.yahooinc.com/error-codes",
             "policy-related", "rate_limited", "reputation"),
            ("4.7.1 (delivery not authorized, message refused)",
             "smtp;421 4.7.1 [TS03] All messages from {ip} will be permanently deferred; "
             "Retrying will NOT succeed. See https://postmaster.yahooinc.com/error-codes",
             "policy-related", "reputation", "reputation"),
            ("4.7.0 (other or undefined security status)",
             "smtp;421 4.7.0 [TS01] Messages from {ip} temporarily deferred due to user "
             "complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
             "policy-related", "reputation", "reputation"),
        ],
    },
    "other": {
        "hard": [
            ("5.1.1 (bad destination mailbox address)",
             "smtp;550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in virtual "
             "mailbox table", "bad-mailbox", "mailbox_unknown", "mailbox_unknown"),
            ("5.1.2 (bad destination system address)",
             "smtp;550 5.1.2 <{rcpt}>: Recipient address rejected: Domain not found",
             "bad-domain", "mailbox_unknown", "mailbox_unknown"),
        ],
        "soft": [
            ("5.7.1 (delivery not authorized, message refused)",
             "smtp;554 5.7.1 Service unavailable; Client host [{ip}] blocked using "
             "zen.spamhaus.org; https://www.spamhaus.org/query/ip/{ip}", "policy-related",
             "reputation", "reputation"),
            ("5.7.1 (delivery not authorized, message refused)",
             "smtp;554 5.7.1 Denied - Spam Suspected - http://www.example.net/blocked.php",
             "spam-related", "content", "content"),
            ("5.2.2 (mailbox full)", "smtp;552 5.2.2 <{rcpt}>: Mailbox full", "quota-issues",
             "mailbox_full", "mailbox_full"),
            ("4.4.7 (delivery time expired)", "smtp;554 5.4.7 [internal] exceeded max time "
             "without delivery", "message-expired", "other", "other"),
        ],
        "defer": [
            ("4.7.1 (delivery not authorized, message refused)",
             "smtp;450 4.7.1 <{rcpt}>: Recipient address rejected: Greylisted, see "
             "http://postgrey.schweikert.ch/help/example.net.html", "other", "other", "other"),
            ("4.7.0 (other or undefined security status)",
             "smtp;421 4.7.0 mx002.example.net Error: too many errors", "policy-related",
             "reputation", "reputation"),
        ],
    },
}
# Queue-level failures (tq): no recipient; the reply, when there is one, is the greeting's.
TQ_REPLIES = {
    "yahoo": [("4.7.0 (other or undefined security status)",
               "smtp;421 4.7.0 [TSS04] Messages from {ip} temporarily deferred due to unexpected "
               "volume or user complaints - 4.16.55.1; "
               "see https://postmaster.yahooinc.com/error-codes",
               "", "rate_limited", "reputation")],
}
TQ_DEFAULT = [("4.4.1 (no answer from host)", "", "", "other", "other")]

# (record kind, weight)
KINDS = (("d", 60), ("b-hard", 5), ("b-soft", 5), ("t", 12), ("tq", 3), ("f", 3), ("rb-hard", 2),
         ("rb-soft", 1), ("rs", 2), ("r", 2), ("b-unmapped", 1), ("f-noip", 1), ("tq-noip", 1))

# What each kind counts as (outcome keys of the ledger); "r" counts nothing.
KIND_OUTCOMES = {
    "d": ("delivered",), "b-hard": ("hard_bounce",), "b-soft": ("soft_bounce",),
    "b-unmapped": ("soft_bounce",), "t": ("deferred",), "tq": ("deferred", "deferred_queue"),
    "tq-noip": ("deferred", "deferred_queue"), "f": ("complaint",), "f-noip": ("complaint",),
    "rb-hard": ("hard_bounce", "async_bounce"), "rb-soft": ("soft_bounce", "async_bounce"),
    "rs": ("remote_status",), "r": (),
}
# Kinds whose reply counts in a class.
_CLASSIFIED = {"b-hard": "hard", "b-soft": "soft", "b-unmapped": "soft", "t": "defer",
               "rb-hard": "hard", "rb-soft": "soft"}

RID_RE = re.compile(r"rid-(\d+)-rid")


class Expected:
    """What a correct ledger holds: ``counts[(ip, day, provider, outcome)]`` (reply classes as
    outcome ``class:NAME``), file stats, and with ``track`` the contributions of each record id."""

    def __init__(self):
        self.counts = collections.Counter()
        self.stats = collections.Counter()
        self.records = {}

    def __iadd__(self, other):
        self.counts.update(other.counts)
        self.stats.update(other.stats)
        self.records.update(other.records)
        return self

    def as_compact(self):
        """The same counts in the module's compact form (only non-zero outcomes)."""
        out = {}
        for (ip, day, prov, outcome), n in self.counts.items():
            slot = out.setdefault(ip, {}).setdefault(day, {}).setdefault(prov, {})
            if outcome.startswith("class:"):
                slot.setdefault("classes", {})[outcome[6:]] = n
            else:
                slot[outcome] = n
        return out


def counts_of(records, rids):
    """``Counter[(ip, day, provider, outcome)]`` of the records ``rids`` (tracked Expected)."""
    out = collections.Counter()
    for rid in rids:
        for key in records.get(rid, ()):
            out[key] += 1
    return out


def flatten_compact(compact):
    """``Counter[(ip, day, provider, outcome)]`` of a compact ledger, zeros dropped; the reply
    classes as outcome ``class:NAME``."""
    out = collections.Counter()
    for ip, days in compact.items():
        for day, provs in days.items():
            for prov, counts in provs.items():
                for outcome, n in counts.items():
                    if outcome == "classes":
                        for name, m in n.items():
                            if m:
                                out[(ip, day, prov, "class:" + name)] = m
                    elif n:
                        out[(ip, day, prov, outcome)] = n
    return out


def format_time(when, style):
    """Render naive UTC ``when`` as ``style``: utc, minus4, plus0530, colon, epoch or us."""
    if style == "utc":
        return when.strftime("%Y-%m-%d %H:%M:%S+0000")
    if style == "minus4":
        return (when - datetime.timedelta(hours=4)).strftime("%Y-%m-%d %H:%M:%S-0400")
    if style == "plus0530":
        return (when + datetime.timedelta(hours=5, minutes=30)).strftime("%Y-%m-%d %H:%M:%S+0530")
    if style == "colon":
        return when.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    if style == "epoch":
        return str(int((when - datetime.datetime(1970, 1, 1)).total_seconds()))
    if style == "us":
        return when.strftime("%m/%d/%Y %H:%M:%S+0000")
    raise ValueError(style)


TIME_STYLES = ("utc", "minus4", "plus0530", "colon", "epoch", "us")


class AcctGen:
    """Deterministic event stream; each ``write``/``lines`` call continues the clock."""

    def __init__(self, seed=1, start=None, step_seconds=2.0, time_styles=("utc",),
                 bad_rate=0.0, vmta_ips=None, track=False):
        self.rng = random.Random(seed)
        self.clock = start or datetime.datetime(2026, 11, 20, 22, 0, 0)
        self.step = step_seconds
        self.time_styles = time_styles
        self.bad_rate = bad_rate
        self.track = track
        self.vmta_ips = dict(vmta_ips or VMTA_IPS)
        self._vmtas = sorted(self.vmta_ips)
        kinds, weights = zip(*KINDS)
        self._kinds = kinds
        self._cum = []
        total = 0
        for w in weights:
            total += w
            self._cum.append(total)
        self.seq = 0
        self._t = 0.0                    # seconds since ``self.clock``
        self._sec = None
        self._fmt = {}

    def _times(self, style):
        """``(UTC day, formatted timeLogged)`` of the current event (memoised per second)."""
        sec = int(self._t)
        if sec != self._sec:
            self._sec = sec
            self._when = self.clock + datetime.timedelta(seconds=sec)
            self._fmt = {"day": self._when.strftime("%Y-%m-%d")}
        logged = self._fmt.get(style)
        if logged is None:
            logged = self._fmt[style] = format_time(self._when, style)
        return self._fmt["day"], logged

    def _reply(self, prov, group, ip, rcpt):
        status, diag, cat, cls, cls_other = self.rng.choice(REPLIES[prov][group])
        token = "%08x%s" % (self.rng.getrandbits(32), self.seq)
        return status, diag.format(ip=ip, rcpt=rcpt, id=token), cat, cls, cls_other

    # -- one event ------------------------------------------------------------------------------
    def _event(self, columns, exp):
        rng = self.rng
        self._t += self.step
        self.seq += 1
        rid = "rid-%d-rid" % self.seq
        day, logged = self._times(self.time_styles[self.seq % len(self.time_styles)])

        if self.bad_rate and rng.random() < self.bad_rate:
            return self._bad_row(columns, logged, exp, rid)

        kind = self._kinds[_bisect(self._cum, rng.random() * self._cum[-1])]
        if columns is FBL_COLUMNS or columns == FBL_COLUMNS:
            kind = "f" if rng.random() < 0.8 else "f-noip"
        prov = rng.choice(("gmail", "gmail", "microsoft", "yahoo", "other"))
        domain, mx = rng.choice(DESTINATIONS[prov])
        vmta = rng.choice(self._vmtas)
        ip = self.vmta_ips[vmta]
        rcpt = "user%d@%s" % (self.seq, domain)
        rec = {"timeLogged": logged, "timeQueued": logged, "orig": "bounce@mail.example.com",
               "rcpt": rcpt, "dsnMta": mx, "srcType": "smtp",
               "srcMta": "mailwizz.example.com (192.0.2.1)", "dlvType": "smtp",
               "dlvEsmtpAvailable": "ENHANCEDSTATUSCODES,8BITMIME,SMTPUTF8",
               "jobId": "job%d" % (self.seq % 97), "vmtaPool": "tenant-pool", "envId": rid}
        reply = None
        if kind == "d":
            rec.update(type="d", dsnAction="relayed", dsnStatus="2.0.0 (success)",
                       dsnDiag="smtp;250 2.0.0 OK", dlvSourceIp=ip, vmta=vmta)
        elif kind in ("b-hard", "b-soft", "b-unmapped"):
            if kind == "b-unmapped":
                vmta, ip = UNMAPPED_VMTA, "-"
            reply = self._reply(prov, _CLASSIFIED[kind], VMTA_IPS["vmta-a"], rcpt)
            # Bounce records carry no dlvSourceIp (guide §11.2.3): the VMTA tells the IP.
            rec.update(type="b", dsnAction="failed", dsnStatus=reply[0], dsnDiag=reply[1],
                       bounceCat=reply[2], vmta=vmta,
                       dsnMta=mx if rng.random() < 0.5 else "")
        elif kind == "t":
            reply = self._reply(prov, "defer", ip, rcpt)
            rec.update(type="t", dsnAction="delayed", dsnStatus=reply[0], dsnDiag=reply[1],
                       bounceCat=reply[2], dlvSourceIp=ip, vmta=vmta)
        elif kind in ("tq", "tq-noip"):
            rollup = rng.random() < 0.5
            qdomain = ("%s.rollup" % prov) if rollup else domain
            status, diag, cat, cls, cls_other = rng.choice(TQ_REPLIES.get(prov, TQ_DEFAULT))
            reply = (status, diag.format(ip=ip), cat, cls, cls_other)
            rec = {"type": "tq", "timeLogged": logged, "queue": "%s/%s" % (qdomain, vmta),
                   "vmta": vmta, "dsnStatus": status, "dsnDiag": reply[1],
                   "dsnMta": mx, "dlvType": "smtp",
                   "dlvSourceIp": "0.0.0.0" if kind == "tq-noip" else ip,
                   "dlvDestinationIp": "203.0.113.250", "envId": rid}
        elif kind in ("f", "f-noip"):
            rec = {"type": "f", "timeLogged": logged, "repSourceIp": "192.0.2.1",
                   "feedbackType": "abuse", "format": "arf", "userAgent": "Example-FBL/1.0",
                   "orig": "bounce@mail.example.com", "rcpt": rcpt,
                   "reportingMta": "fbl.%s" % domain, "reportedDomain": "mail.example.com",
                   "dlvSourceIp": ip, "envId": rid}
            if kind == "f-noip":
                # No Source-IP in the report: the X-Virtual-MTA header (when logged) tells it.
                rec["dlvSourceIp"] = ""
                rec["header_X-Virtual-MTA"] = vmta
                if "header_X-Virtual-MTA" not in columns:
                    ip = "-"
        elif kind in ("rb-hard", "rb-soft"):
            # Remote bounces have neither source IP nor VMTA (guide §11.2.7); the original
            # message's X-Virtual-MTA header, when the file logs it, tells the VMTA.
            reply = self._reply(prov, _CLASSIFIED[kind], ip, rcpt)
            rec = {"type": "rb", "timeLogged": logged, "orig": "bounce@mail.example.com",
                   "rcpt": rcpt, "dsnAction": "failed", "dsnStatus": reply[0],
                   "dsnDiag": reply[1], "dsnMta": mx, "bounceCat": reply[2], "srcType": "smtp",
                   "header_X-Virtual-MTA": vmta, "envId": rid}
            if "header_X-Virtual-MTA" not in columns:
                ip = "-"
        elif kind == "rs":
            rec = {"type": "rs", "timeLogged": logged, "orig": "bounce@mail.example.com",
                   "rcpt": rcpt, "dsnAction": "delayed", "dsnStatus": "4.4.7",
                   "dsnDiag": "smtp;451 4.4.7 delivery delayed", "dsnMta": mx, "bounceCat": "",
                   "srcType": "smtp", "envId": rid}
            ip = "-"
        else:   # "r": a received record, valid but not counted
            rec = {"type": "r", "timeLogged": logged, "orig": "bounce@mail.example.com",
                   "rcpt": rcpt, "vmta": vmta, "envId": rid}
        if "dlvSourceIp" not in columns and rec["type"] in ("d", "t", "tq", "f"):
            via = "vmta" if rec["type"] != "f" else "header_X-Virtual-MTA"
            ip = self.vmta_ips.get(rec.get(via), "-") if via in columns else "-"
        # The MX host the parser gets to see: dsnMta, or the reporting MTA of an f record (a
        # host like fbl.corp-g.example, which matches no provider MX). A tq record on a rollup
        # queue names its provider. Without a provider MX a custom domain counts as "other".
        mx_seen = rec.get("dsnMta", "") if "dsnMta" in columns else ""
        seen = prov
        if rec["type"] == "f" or not mx_seen:
            if not (rec["type"] == "tq" and ".rollup/" in rec["queue"] and "queue" in columns):
                seen = _by_name(domain, prov)
        exp.stats["rows"] += 1
        outcomes = KIND_OUTCOMES[kind]
        if outcomes:
            exp.stats["counted"] += 1
        else:
            exp.stats["ignored"] += 1
        keys = [(ip, day, seen, outcome) for outcome in outcomes]
        if reply is not None:
            if "dsnDiag" in columns and "dsnStatus" in columns:
                cls = reply[3] if seen == prov else reply[4]
            else:
                cls = _class_without_reply(reply[2], columns)
            keys.append((ip, day, seen, "class:" + cls))
        for key in keys:
            exp.counts[key] += 1
        if self.track:
            exp.records[self.seq] = keys
        return [rec.get(c, "") for c in columns]

    def _bad_row(self, columns, logged, exp, rid):
        rng = self.rng
        exp.stats["rows"] += 1
        choice = rng.randrange(3)
        if choice == 0:
            exp.stats["malformed"] += 1
            return ["d", logged, "only-three-fields"]
        row = dict.fromkeys(columns, "")
        row.update(type="d", timeLogged=logged, rcpt="x@gmail.com", dlvSourceIp="192.0.2.10",
                   vmta="vmta-a", envId=rid)
        if choice == 1:
            exp.stats["unknown_type"] += 1
            row["type"] = "zz"
        else:
            exp.stats["bad_timestamp"] += 1
            row["timeLogged"] = rng.choice(("yesterday", "2026-13-45 10:00:00+0000", ""))
        return [row[c] for c in columns]

    # -- files ----------------------------------------------------------------------------------
    def lines(self, n, columns=DEFAULT_COLUMNS, header=True):
        """``(text, Expected)`` for ``n`` records (CRLF line ends, as PowerMTA writes)."""
        exp = Expected()
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n")
        if header:
            writer.writerow(columns)
        for _ in range(n):
            writer.writerow(self._event(columns, exp))
        return buf.getvalue(), exp

    def write(self, path, n, columns=DEFAULT_COLUMNS, header=True, mode="w", gz=False,
              batch=20000):
        """Write (or append, ``mode="a"``) ``n`` records to ``path``; returns their Expected."""
        exp = Expected()
        opener = gzip.open if gz else open
        with opener(path, mode + "b") as fh:
            first = header
            left = n
            while left > 0 or first:
                count = min(batch, left)
                text, part = self.lines(count, columns, header=first)
                fh.write(text.encode("utf-8"))
                exp += part
                left -= count
                first = False
        return exp


def _class_without_reply(cat, columns):
    """Class of a record whose file logs no reply: from its bounceCat alone (guide §11.6)."""
    if "bounceCat" not in columns:
        return "other"
    return {"bad-mailbox": "mailbox_unknown", "inactive-mailbox": "mailbox_unknown",
            "bad-domain": "mailbox_unknown", "quota-issues": "mailbox_full",
            "spam-related": "content", "policy-related": "reputation"}.get(cat, "other")


def _by_name(domain, prov):
    """Provider as known from the recipient domain alone (custom domains are "other")."""
    return prov if not domain.startswith("corp-") else "other"


def _bisect(cum, x):
    for i, c in enumerate(cum):
        if x < c:
            return i
    return len(cum) - 1


def scripted_day(day, traffic, columns=DEFAULT_COLUMNS, seed=1, header=False):
    """CSV text of one scripted UTC day (the demo's history): ``traffic`` is
    ``[(ip, vmta, provider, outcome, n)]`` with outcome ``d`` (delivered), ``hard`` (a hard bounce,
    a ``b`` record without ``dlvSourceIp``: the VMTA tells the IP) or one of ``REPLIES[provider]
    ["defer"]``'s replies by index as ``defer:I`` (a ``t`` record). Same layouts, destinations and
    real-world replies as ``AcctGen``; deterministic for a seed. Records are spread over the day
    from 06:00 UTC."""
    rng = random.Random("%s:%s" % (seed, day))
    start = datetime.datetime.strptime(day, "%Y-%m-%d") + datetime.timedelta(hours=6)
    total = sum(item[4] for item in traffic) or 1
    step = 16 * 3600.0 / total
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    if header:
        writer.writerow(columns)
    seq = 0
    for ip, vmta, prov, outcome, n in traffic:
        for _ in range(n):
            when = format_time(start + datetime.timedelta(seconds=int(seq * step)), "utc")
            seq += 1
            domain, mx = rng.choice(DESTINATIONS[prov])
            rcpt = "reader%d.%s@%s" % (seq, day.replace("-", ""), domain)
            rec = {"timeLogged": when, "timeQueued": when, "orig": "news@mail.example.com", "rcpt": rcpt,
                   "dsnMta": mx, "srcType": "smtp", "srcMta": "mailwizz.example.com (192.0.2.1)",
                   "dlvType": "smtp", "vmta": vmta, "vmtaPool": "tenant-pool",
                   "envId": "demo-%s-%d" % (day, seq), "jobId": "job-%s" % day}
            token = "%08x%d" % (rng.getrandbits(32), seq)
            if outcome == "d":
                rec.update(type="d", dsnAction="relayed", dsnStatus="2.0.0 (success)",
                           dsnDiag="smtp;250 2.0.0 OK", dlvSourceIp=ip)
            elif outcome == "hard":
                status, diag, cat = REPLIES[prov]["hard"][0][:3]
                rec.update(type="b", dsnAction="failed", dsnStatus=status, bounceCat=cat,
                           dsnDiag=diag.format(ip=ip, rcpt=rcpt, id=token))
            elif outcome.startswith("defer:"):
                status, diag, cat = REPLIES[prov]["defer"][int(outcome.split(":")[1])][:3]
                rec.update(type="t", dsnAction="delayed", dsnStatus=status, bounceCat=cat,
                           dsnDiag=diag.format(ip=ip, rcpt=rcpt, id=token), dlvSourceIp=ip)
            else:
                raise ValueError("scripted_day: unknown outcome %r" % outcome)
            writer.writerow([rec.get(c, "") for c in columns])
    return buf.getvalue()
