"""Generator of PowerMTA accounting files that also tells what a correct ledger must count.

The generator decides each event itself (UTC time, source IP/VMTA, provider, outcome) and only
then renders the CSV record, so its expected counts are independent of the parser under test.
Record layouts follow the PowerMTA v5.0 User's Guide §11.2 (jnotes/pmta-doc): ``b`` records carry
no ``dlvSourceIp`` (attributed through the VMTA → IP map), ``tq`` records have no recipient and
may log ``0.0.0.0`` as source, ``rb``/``rs`` records have neither source IP nor VMTA, ``f`` records
have their own columns (``dlvSourceIp`` is the ARF Source-IP, no ``vmta``).

Only documentation addresses and example./.test domains are used.
"""
import collections
import csv
import datetime
import gzip
import io
import random

DEFAULT_COLUMNS = (
    "type,timeLogged,timeQueued,orig,rcpt,orcpt,dsnAction,dsnStatus,dsnDiag,dsnMta,bounceCat,"
    "srcType,srcMta,dlvType,dlvSourceIp,dlvDestinationIp,dlvEsmtpAvailable,dlvSize,vmta,jobId,"
    "envId,queue,vmtaPool").split(",")

# The operator's record-fields may differ: fewer columns, another order, an FBL-only file.
REORDERED_COLUMNS = ("vmta,rcpt,type,bounceCat,dlvSourceIp,timeLogged,dsnMta,queue,"
                     "header_X-Virtual-MTA,jobId").split(",")
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
SOFT_CATS = ("quota-issues", "spam-related", "policy-related", "message-expired",
             "no-answer-from-host")

# (record kind, weight)
KINDS = (("d", 60), ("b-hard", 5), ("b-soft", 5), ("t", 12), ("tq", 3), ("f", 3), ("rb", 3),
         ("rs", 2), ("r", 2), ("b-unmapped", 1), ("f-noip", 1), ("tq-noip", 1))

# What each kind counts as (outcome keys of the ledger); "r" counts nothing.
KIND_OUTCOMES = {
    "d": ("delivered",), "b-hard": ("hard_bounce",), "b-soft": ("soft_bounce",),
    "b-unmapped": ("soft_bounce",), "t": ("deferred",), "tq": ("deferred", "deferred_queue"),
    "tq-noip": ("deferred", "deferred_queue"), "f": ("complaint",), "f-noip": ("complaint",),
    "rb": ("remote_bounce",), "rs": ("remote_status",), "r": (),
}


class Expected:
    """What a correct ledger holds: ``counts[(ip, day, provider, outcome)]`` and file stats."""

    def __init__(self):
        self.counts = collections.Counter()
        self.stats = collections.Counter()

    def __iadd__(self, other):
        self.counts.update(other.counts)
        self.stats.update(other.stats)
        return self

    def as_compact(self):
        """The same counts in the module's compact form (only non-zero outcomes)."""
        out = {}
        for (ip, day, prov, outcome), n in self.counts.items():
            out.setdefault(ip, {}).setdefault(day, {}).setdefault(prov, {})[outcome] = n
        return out


def flatten_compact(compact):
    """``Counter[(ip, day, provider, outcome)]`` of a compact ledger, zeros dropped."""
    out = collections.Counter()
    for ip, days in compact.items():
        for day, provs in days.items():
            for prov, counts in provs.items():
                for outcome, n in counts.items():
                    if n:
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
                 bad_rate=0.0, vmta_ips=None):
        self.rng = random.Random(seed)
        self.clock = start or datetime.datetime(2026, 11, 20, 22, 0, 0)
        self.step = step_seconds
        self.time_styles = time_styles
        self.bad_rate = bad_rate
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

    # -- one event ------------------------------------------------------------------------------
    def _event(self, columns, exp):
        rng = self.rng
        self._t += self.step
        self.seq += 1
        day, logged = self._times(self.time_styles[self.seq % len(self.time_styles)])

        if self.bad_rate and rng.random() < self.bad_rate:
            return self._bad_row(columns, logged, exp)

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
               "jobId": "job%d" % (self.seq % 97), "vmtaPool": "tenant-pool"}
        if kind == "d":
            rec.update(type="d", dsnAction="relayed", dsnStatus="2.0.0 (success)",
                       dsnDiag="smtp;250 2.0.0 OK", dlvSourceIp=ip, vmta=vmta)
        elif kind in ("b-hard", "b-soft", "b-unmapped"):
            cat = rng.choice(HARD_CATS if kind == "b-hard" else SOFT_CATS)
            if kind == "b-unmapped":
                vmta, ip = UNMAPPED_VMTA, "-"
            # Bounce records carry no dlvSourceIp (guide §11.2.3): the VMTA tells the IP.
            rec.update(type="b", dsnAction="failed", dsnStatus="5.1.1 (bad destination)",
                       dsnDiag='smtp;550 5.1.1 "no such user"', bounceCat=cat, vmta=vmta,
                       dsnMta=mx if rng.random() < 0.5 else "")
        elif kind == "t":
            rec.update(type="t", dsnAction="delayed", dsnStatus="4.7.0 (other)",
                       dsnDiag="smtp;421 4.7.0 try again later", bounceCat="policy-related",
                       dlvSourceIp=ip, vmta=vmta)
        elif kind in ("tq", "tq-noip"):
            rollup = rng.random() < 0.5
            qdomain = ("%s.rollup" % prov) if rollup else domain
            rec = {"type": "tq", "timeLogged": logged, "queue": "%s/%s" % (qdomain, vmta),
                   "vmta": vmta, "dsnStatus": "4.4.1 (no answer from host)", "dsnDiag": "",
                   "dsnMta": mx, "dlvType": "smtp",
                   "dlvSourceIp": "0.0.0.0" if kind == "tq-noip" else ip,
                   "dlvDestinationIp": "203.0.113.250"}
        elif kind in ("f", "f-noip"):
            rec = {"type": "f", "timeLogged": logged, "repSourceIp": "192.0.2.1",
                   "feedbackType": "abuse", "format": "arf", "userAgent": "Example-FBL/1.0",
                   "orig": "bounce@mail.example.com", "rcpt": rcpt,
                   "reportingMta": "fbl.%s" % domain, "reportedDomain": "mail.example.com",
                   "dlvSourceIp": ip}
            if kind == "f-noip":
                # No Source-IP in the report: the X-Virtual-MTA header (when logged) tells it.
                rec["dlvSourceIp"] = ""
                rec["header_X-Virtual-MTA"] = vmta
                if "header_X-Virtual-MTA" not in columns:
                    ip = "-"
        elif kind in ("rb", "rs"):
            # Remote bounce/status records have neither source IP nor VMTA (guide §11.2.7).
            rec = {"type": kind, "timeLogged": logged, "orig": "bounce@mail.example.com",
                   "rcpt": rcpt, "dsnAction": "failed" if kind == "rb" else "delivered",
                   "dsnStatus": "5.1.1", "dsnDiag": "smtp;550 5.1.1 unknown", "dsnMta": mx,
                   "bounceCat": "bad-mailbox", "srcType": "smtp"}
            ip = "-"
        else:   # "r": a received record, valid but not counted
            rec = {"type": "r", "timeLogged": logged, "orig": "bounce@mail.example.com",
                   "rcpt": rcpt, "vmta": vmta}
        if "dlvSourceIp" not in columns and rec["type"] in ("d", "t", "tq", "f"):
            via = "vmta" if rec["type"] != "f" else "header_X-Virtual-MTA"
            ip = self.vmta_ips.get(rec.get(via), "-") if via in columns else "-"
        # The MX host the parser gets to see: dsnMta, or the reporting MTA of an f record (a
        # host like fbl.corp-g.example, which matches no provider MX). A tq record on a rollup
        # queue names its provider. Without a provider MX a custom domain counts as "other".
        mx_seen = rec.get("dsnMta", "") if "dsnMta" in columns else ""
        if rec["type"] == "f" or not mx_seen:
            if not (rec["type"] == "tq" and ".rollup/" in rec["queue"] and "queue" in columns):
                prov = _by_name(domain, prov)
        exp.stats["rows"] += 1
        outcomes = KIND_OUTCOMES[kind]
        if outcomes:
            exp.stats["counted"] += 1
        else:
            exp.stats["ignored"] += 1
        for outcome in outcomes:
            exp.counts[(ip, day, prov, outcome)] += 1
        return [rec.get(c, "") for c in columns]

    def _bad_row(self, columns, logged, exp):
        rng = self.rng
        exp.stats["rows"] += 1
        choice = rng.randrange(3)
        if choice == 0:
            exp.stats["malformed"] += 1
            return ["d", logged, "only-three-fields"]
        row = dict.fromkeys(columns, "")
        row.update(type="d", timeLogged=logged, rcpt="x@gmail.com", dlvSourceIp="192.0.2.10",
                   vmta="vmta-a")
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


def _by_name(domain, prov):
    """Provider as known from the recipient domain alone (custom domains are "other")."""
    return prov if not domain.startswith("corp-") else "other"


def _bisect(cum, x):
    for i, c in enumerate(cum):
        if x < c:
            return i
    return len(cum) - 1
