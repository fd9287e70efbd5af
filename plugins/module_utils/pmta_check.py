# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""mailfleet's own PowerMTA configuration checker.

Standard library only: it runs on PowerMTA hosts inside the ``pmta_config`` module, on the staged
file, before it replaces the live configuration (``pmta test config`` only checks the live file).

It checks what the PowerMTA v5.0 User's Guide defines (section 3.3): the line grammar (see
:func:`parse`, which is also what the renderer's parse-back check reads), balanced ``<tag> … </tag>``
blocks, directives known in each context, IP and host syntax of ``smtp-source-host``, rate and
boolean syntax, pool members and ``default-virtual-mta`` targets defined, a pool never named like a
VirtualMTA, ``<smtp-user>`` sources defined, DKIM key files present and readable, included files
present. Every problem is reported as ``FILE:LINE: message``.
"""
from __future__ import absolute_import, division, print_function

import glob
import ipaddress
import os
import re

from ansible_collections.mailfleet.fleet.plugins.module_utils.grammar import (
    KEYWORD_RE,
    RATE_RE,
    VMTA_RE,
    GrammarError,
    bad_char,
    cidr,
    describe_char,
    dkim_selector,
    email,
    hostname,
    http_access_level,
    listener,
    mx_pattern,
    port,
    smtp_user,
)

__metaclass__ = type


def _W(text):
    """A compact directive table: the words of ``text``."""
    return frozenset(text.split())


GLOBAL = _W("""
total-max-smtp-out total-max-smtp-in postmaster spool spool-delete-corrupted spool-min-free-space
spool-max-recipients run-as-root smtp-server-tls-certificate smtp-server-tls-ca-file
smtp-server-tls-allow-sslv3 smtp-server-tls-allow-tlsv1 smtp-server-tls-allow-tlsv1.1
smtp-server-tls-allow-tlsv1.2 smtp-server-tls-ciphers smtp-source-host alias smtp-ip smtp-port
smtp-listener custom-dsn-from-header smtp-await-slot host-id domain-suffix host-name name-server
thread-min-priority thread-max-priority thread-reuse mailmerge-expands-undefined-variables
pmc-acct-min-free-space include always-allow-relaying relay-domain relay-address relay-debug
domain-key invalid-virtual-mta-fallback include-headers-from domain-macro pickup
pickup-retry-interval pickup-remove-dot dummy-smtp-ip dummy-smtp-port dummy-smtp-await-slot
dummy-smtp-has-chunking dummy-smtp-has-pipelining dummy-smtp-has-verp dummy-smtp-latency
dummy-smtp-update-stats http-mgmt-port http-redirect-to-https http-access http-csrf-protection
http-api-key http-strict-transport-security-max-age http-mgmt-source no-http-mgmt-source
http-tls-allow-sslv3 http-tls-allow-tlsv1 http-tls-allow-tlsv1.1 http-tls-allow-tlsv1.2
http-tls-ciphers http-tls-ca-file http-log-tls http-log-data http-log-requests
http-default-max-items http-default-sort-order log-auto-rotation log-file log-rotate
log-file-world-readable mx-connection-limit ip-connection-limit use-proxy
""")
SOURCE = _W("""
add-date-header date-header-time bcc add-message-id-header add-received-header allow-auth
smtp-max-auth-failure-rate remove-header require-auth allow-mailmerge allow-unencrypted-plain-auth
allow-starttls require-starttls-before-auth broken-auth-clients verp-default check-dkim-inbound
trace-dkim-check trace-spf-check check-spf-inbound check-spf-inbound-best-guess
check-spf-inbound-max-void-lookups check-iprev-inbound trace-iprev-check
reject-iprev-check-temperror reject-iprev-check-permerror reject-iprev-check-fail
suppress-local-dsn dsn-return-default default-virtual-mta log-tls reject-invalid-virtual-mta
disconnect-on-transient-error hide-message-source max-message-size max-message-hops
max-rcpt-per-message too-many-rcpts-fails-message suppression-lists pattern-list process-x-envid
process-x-dkim-options process-x-dkim-key retain-x-dkim-key jobid-prefix process-x-job jobid-header
retain-x-job process-x-virtual-mta retain-x-virtual-mta add-x-virtual-mta-header source-group
smtp-data-timeout smtp-command-timeout process-x-schedule retain-x-schedule retain-x-dkim-options
allow-chunking allow-smtputf8 smtp-service log-connections log-commands log-data
allow-empty-x-virtual-mta accept-invalid-recipients reject-spf-check-temperror
reject-spf-check-permerror reject-spf-check-fail always-allow-api-submission auto-qualify-domain
include always-allow-relaying
""")
SMTP_USER = _W("password authentication-method tls-certificate source")
DOMAIN = _W("""
max-errors-per-connection check-spf-outbound dsn-format log-resolution log-transfer-failures
log-disabled-ips max-events-recorded disable-acct-records deliver-local-dsn bounce-after
bcc-upon-delivery allow-priority-interruption allow-priority-interruption-during-transfer
queue-priority track-recipient-events delivery-priority notify-of-delay-every dkim-sign
dkim-add-body-limit dkim-add-timestamp dkim-algorithm dkim-body-canon dkim-headers-canon
dkim-expire-after dkim-query-method dkim-headers dkim-identity dkim-identity-fallback
dkim-disallow-adding-headers queue-to source-ip-max-msg-rate max-msg-rate backoff-max-msg-rate
max-msg-per-hour backoff-max-msg-per-hour max-data-volume-rate backoff-max-data-volume-rate
retry-after backoff-retry-after retry-recipients-after backoff-notify disabled-source-ip-notify
backoff-to-normal-after backoff-to-normal-after-delivery backoff-upon-all-sources-disabled
reenable-source-ip-after max-cold-virtual-mta-msg reroute-to-virtual-mta
backoff-reroute-to-virtual-mta type allow-cancel-during-transfer auth-username
smtp-data-termination-timeout auth-password use-unencrypted-plain-auth smtp-553-means-invalid-mailbox
smtp-421-means-mx-unavailable replace-smtp-421-service-response bounce-upon-no-mx
bounce-upon-5xx-greeting bounce-upon-pix-transfer-failure bounce-upon-transfer-failure
connect-timeout smtp-greeting-timeout data-send-timeout ignore-8bitmime ignore-chunking
ignore-pipelining ignore-dsn max-msg-per-connection max-rcpt-per-transaction max-rcpt-per-message
max-smtp-out backoff-max-smtp-out max-smtp-out-per-source-ip source-ip-max-smtp-out
smtp-out-rampup-interval max-connect-rate source-ip-max-connect-rate connection-idle-timeout
source-ip-max-data-volume-rate backoff-max-connect-rate retry-upon-new-mail pix-bug-workaround
route default-smtp-port smtp-hosts smtp-pattern-list
assume-delivery-upon-data-termination-timeout disable-mx-rollup include use-starttls
require-starttls use-dane reuse-ssl-session smtp-tls-allow-tlsv1 smtp-tls-allow-tlsv1.1
smtp-tls-allow-tlsv1.2 smtp-tls-allow-sslv3 smtp-tls-ca-file smtp-tls-ciphers log-tls
discard-as-bounce file-format file-destination command macro-variables-preserve-case
http-delivery-url http-delivery-extra-headers add-x-msys-api-header sparkpost-sandbox
sparkpost-ip-pool
""")
ACCT_FILE = _W("""
delete-after move-to move-interval max-size queue-filter retry-interval iso-times user-string
write-timeout map-header-to-field records record-fields world-readable count-moved-records sync
privacy-policy
""")
VMTA = _W("""
use-proxy max-smtp-msg-rate max-smtp-data-volume-rate cold-virtual-mta host-name domain-key
include-headers-from max-smtp-out rewrite-list include smtp-source-host
""")
POOL = _W("""
virtual-mta domain domain-key include-headers-from max-smtp-msg-rate max-smtp-out rewrite-list
max-smtp-data-volume-rate
""")

# block tag -> (directives allowed inside, blocks allowed inside)
CONTEXTS = {
    None: (GLOBAL, {"source", "smtp-user", "domain", "acct-file", "virtual-mta", "virtual-mta-pool",
                    "mx-rollup-list", "smtp-pattern-list", "pattern-list", "spool", "bounce-processor",
                    "feedback-loop-processor", "address-list", "email-patterns", "source-group", "dns",
                    "smtp-listener", "rewrite-list", "domain-key-list", "transmissions-api",
                    "transmissions-api-listener"}),
    "source": (SOURCE, set()),
    "smtp-user": (SMTP_USER, set()),
    "domain": (DOMAIN, set()),
    "acct-file": (ACCT_FILE, set()),
    "virtual-mta": (VMTA, {"domain"}),
    "virtual-mta-pool": (POOL, {"domain"}),
    "mx-rollup-list": (_W("mx"), set()),
    "smtp-pattern-list": (_W("reply include"), set()),
    "pattern-list": (_W("header mail-from rcpt-to pattern-list"), set()),
    "spool": (_W("delete-file-holders deliver-only priority min-free-space"), set()),
    "bounce-processor": (_W("deliver-unmatched-email deliver-matched-email deliver-email "
                            "forward-unmatched-to forward-errors-to address-list"), set()),
    "feedback-loop-processor": (_W("deliver-unmatched-email deliver-matched-email deliver-email "
                                   "forward-unmatched-to forward-errors-to address-list"), set()),
    "address-list": (_W("address address-file domain"), set()),
    "email-patterns": (_W("body-pattern-file log-match-info"), set()),
    "source-group": (_W("max-smtp-in reserved-smtp-in"), set()),
    "dns": (_W("precached-domains-file precached-refresh-interval precached-max-domains"), set()),
    "smtp-listener": (_W("await-slot immediate-tls source tls-certificate tls-allow-tlsv1.2 "
                         "tls-allow-tlsv1.1 tls-allow-tlsv1 tls-allow-sslv3 tls-ciphers tls-ca-file"), set()),
    "rewrite-list": (_W("mail-from from-domain"), set()),
    "domain-key-list": (_W("domain-key"), set()),
    "transmissions-api": (_W("log-requests api-key log-data log-tls"), set()),
    "transmissions-api-listener": (_W("tls-certificate tls-allow-tlsv1.2 tls-allow-tlsv1.1 "
                                      "tls-allow-tlsv1 tls-allow-sslv3 tls-ciphers tls-ca-file"), set()),
}
BOOLEAN = _W("""
always-allow-relaying process-x-virtual-mta allow-mailmerge dkim-sign use-starttls require-starttls
smtp-service require-auth allow-auth allow-starttls disable-mx-rollup run-as-root
""")
RATE = _W("max-msg-rate max-smtp-msg-rate backoff-max-msg-rate source-ip-max-msg-rate max-connect-rate "
          "max-cold-virtual-mta-msg")
INCLUDABLE = {None, "source", "domain", "virtual-mta", "smtp-pattern-list"}
# Directives that may appear several times in one block (lists); any other one twice in the same
# block is refused: PowerMTA would keep the last, and a second `source` or `password` is what an
# injected line looks like.
REPEATABLE = _W("""
postmaster smtp-listener http-access http-api-key include domain-key virtual-mta mx reply mail-from
rcpt-to header smtp-source-host relay-domain relay-address name-server alias spool remove-header
domain-macro address address-file domain map-header-to-field pattern-list
""")
# Blocks whose directives hold regular expressions, where '<' and '>' are ordinary characters.
PATTERN_BLOCKS = {"smtp-pattern-list", "pattern-list", "rewrite-list"}
# Directives of pattern blocks whose value starts with a /REGEX/ (after a header name for
# ``header``): the pattern is one word, spaces included (guide 3.3.14, 3.3.15).
PATTERN_DIRECTIVES = {"reply": 0, "mail-from": 0, "rcpt-to": 0, "from-domain": 0, "header": 1}
# <smtp-pattern-list> reply actions (guide 3.3.15): a comma-separated list of these.
REPLY_ACTIONS = ("mode=normal", "mode=backoff", "skip-mx", "bounce-queue", "bounce-rcpt", "disable-source-ip",
                 "defer-queue")
# Directives whose value is a time interval (guide 3.3.10): lists where the guide says so, and
# "never" where it allows it.
INTERVAL_LISTS = _W("retry-after backoff-retry-after")
INTERVALS = _W("bounce-after backoff-to-normal-after retry-recipients-after")
NEVER_ALLOWED = _W("backoff-to-normal-after")
INTERVAL_VALUE_RE = re.compile(r"\A(?:[0-9]+[wdhms]?)+\Z")
# Blocks that take no argument; every other block takes exactly one.
NO_ARG_BLOCKS = {"mx-rollup-list", "bounce-processor", "feedback-loop-processor", "dns", "transmissions-api"}
TAG_RE = re.compile(r"\A<(/?)([A-Za-z][A-Za-z0-9-]*)(?:[ \t]+([^<>]*?))?[ \t]*>\Z")
AUTH_METHODS = ("password", "system", "certificate")


class Problem:
    __slots__ = ("path", "line", "message")

    def __init__(self, path, line, message):
        self.path, self.line, self.message = path, line, message

    def __str__(self):
        return "%s:%d: %s" % (self.path, self.line, self.message)


class Node:
    """One parsed element: a ``directive`` (``name``, ``args``) or a ``block`` (``name`` is the
    tag, ``args`` its argument, ``children`` what it holds). ``line`` is where it starts, ``end``
    where it ends (the closing tag of a block)."""

    __slots__ = ("kind", "name", "args", "line", "end", "children")

    def __init__(self, kind, name, args, line):
        self.kind, self.name, self.args, self.line, self.end = kind, name, args, line, line
        self.children = [] if kind == "block" else None

    def __repr__(self):
        return "Node(%r, %r, %r, line %d)" % (self.kind, self.name, self.args, self.line)


def split_words(text):
    """Split a directive line (comment already removed) into words, honouring double quotes.

    Returns ``(words, problem)``. A quote may only open a word and close it (``"two words"``);
    a quote inside a word, an unbalanced quote, an empty quoted word or a TAB inside quotes is a
    problem (PowerMTA has no escape for them in values mailfleet writes)."""
    words, cur, quoted, had = [], [], False, False
    prev = " "
    for ch in text:
        if ch == '"':
            if not quoted and prev not in " \t":
                return words, "double quote inside a word"
            quoted = not quoted
            had = True
        elif quoted and ch == "\t":
            return words, "TAB inside a quoted value"
        elif ch in " \t" and not quoted:
            if cur or had:
                if had and not cur:
                    return words, "empty quoted value"
                words.append("".join(cur))
            cur, had = [], False
        else:
            if had and not quoted:
                return words, "text right after a closing double quote"
            cur.append(ch)
        prev = ch
    if quoted:
        return words, "unbalanced double quote"
    if cur or had:
        if had and not cur:
            return words, "empty quoted value"
        words.append("".join(cur))
    return words, None


def split_pattern_words(text):
    """Split a line of a pattern block: ``reply /REGEX/ ACTIONS`` (``header NAME /REGEX/ ...``).
    The ``/REGEX/`` is one word, kept with its slashes, spaces included; a backslash escapes the
    next character (``\\/`` does not end it). The rest is split like any line. Returns ``(words,
    problem)``."""
    head = re.match(r"([A-Za-z][A-Za-z0-9.-]*)[ \t]+", text)
    if not head or head.group(1).lower() not in PATTERN_DIRECTIVES:
        return split_words(text)
    words, rest = [head.group(1)], text[head.end():]
    for _count in range(PATTERN_DIRECTIVES[head.group(1).lower()]):
        first = re.match(r"([^ \t]+)[ \t]*", rest)
        if not first:
            return words, "%s needs a name before its /pattern/" % words[0]
        words.append(first.group(1))
        rest = rest[first.end():]
    if not rest.startswith("/"):
        more, problem = split_words(rest)
        return words + more, problem
    i = 1
    while i < len(rest) and rest[i] != "/":
        i += 2 if rest[i] == "\\" else 1
    if i >= len(rest):
        return words, "unterminated /pattern/"
    words.append(rest[:i + 1])
    after = rest[i + 1:]
    if after and after[0] not in " \t":
        return words, "text right after the closing / of a pattern"
    more, problem = split_words(after)
    return words + more, problem


def _line_bad_char(raw):
    """The first character PowerMTA's line grammar cannot hold (TAB is whitespace), or None."""
    return bad_char(raw.replace("\t", " "))


def parse(text, display="config"):
    """Parse configuration text into a tree. Returns ``(nodes, problems)``.

    The one PowerMTA syntax reader of mailfleet: the checker walks its tree, and the renderer's
    parse-back check compares it with the host view. Strict where PowerMTA's guide is silent:
    lines end at LF only; any other control, line-separator, invisible or non-ASCII space
    character is refused (comments included); ``#`` starts a comment wherever it is, even inside
    quotes (guide §3.1 and §3.3.10.55); a line starting with ``<`` is a tag and nothing else;
    ``<`` and ``>`` appear in no directive outside pattern blocks; blocks must balance.
    """
    problems = []
    nodes = []
    stack = []
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for number, raw in enumerate(lines, 1):
        bad = _line_bad_char(raw)
        if bad is not None:
            problems.append(Problem(display, number, "contains %s, which a PowerMTA configuration line cannot hold"
                                    % describe_char(bad)))
            continue
        line = raw.split("#", 1)[0].strip(" \t")
        if not line:
            continue
        context = stack[-1].name if stack else None
        if line.startswith("<"):
            _tag(line, display, number, stack, nodes, problems)
            continue
        if ("<" in line or ">" in line) and context not in PATTERN_BLOCKS:
            problems.append(Problem(display, number, "'<' or '>' inside a directive line"))
            continue
        words, problem = split_pattern_words(line) if context in PATTERN_BLOCKS else split_words(line)
        if problem:
            problems.append(Problem(display, number, problem))
            continue
        name = words[0].lower()
        if not KEYWORD_RE.match(name):
            problems.append(Problem(display, number, "malformed directive name %r" % words[0]))
            continue
        if len(words) < 2:
            problems.append(Problem(display, number, "%s needs a value" % name))
            continue
        node = Node("directive", name, words[1:], number)
        (stack[-1].children if stack else nodes).append(node)
    while stack:
        node = stack.pop()
        problems.append(Problem(display, node.line, "<%s> is never closed" % node.name))
    return nodes, problems


def _tag(line, display, number, stack, nodes, problems):
    match = TAG_RE.match(line)
    if not match:
        problems.append(Problem(display, number, "malformed tag %r" % line))
        return
    closing, tag, arg = match.group(1), match.group(2).lower(), (match.group(3) or "")
    args, problem = split_words(arg)
    if problem:
        problems.append(Problem(display, number, "<%s%s>: %s" % ("/" if closing else "", tag, problem)))
        return
    if closing:
        if args:
            problems.append(Problem(display, number, "</%s> takes no argument" % tag))
        if not stack:
            problems.append(Problem(display, number, "</%s> closes nothing" % tag))
        elif stack[-1].name != tag:
            problems.append(Problem(display, number, "</%s> found where </%s> (opened at line %d) was expected" % (
                tag, stack[-1].name, stack[-1].line)))
            stack.pop().end = number
        else:
            stack.pop().end = number
        return
    node = Node("block", tag, args, number)
    (stack[-1].children if stack else nodes).append(node)
    stack.append(node)


class ConfigChecker:
    """Parse a PowerMTA config (following includes) and collect problems.

    ``root_prefix`` is prepended to absolute paths found in the config before they are looked up on
    disk (to check a host's config copied under a local directory); ``extra_directives`` lets an
    operator allow directives of a newer PowerMTA release than the guide this checker follows;
    ``assume_present`` names files about to be deployed with the config (check mode);
    ``check_files=False`` checks no file at all (the controller, before the text is sent).
    """

    def __init__(self, root_prefix="", extra_directives=(), assume_present=(), check_files=True):
        self.root_prefix = root_prefix.rstrip("/")
        self.extra = frozenset(extra_directives)
        self.assume_present = frozenset(assume_present)
        self.check_files = check_files
        self.problems = []
        self.vmtas = {}
        self.pools = {}
        self.pool_members = []
        self.sources = {}
        self.user_sources = []
        self.default_vmtas = []
        self.cold_refs = []
        self.pattern_lists = {}
        self.pattern_list_refs = []
        self._seen_files = set()

    def _disk(self, path):
        if self.root_prefix and path.startswith("/"):
            return self.root_prefix + path
        return path

    def add(self, path, line, message):
        self.problems.append(Problem(path, line, message))

    def check_file(self, path, display=None):
        display = display or path
        try:
            with open(path, "r", encoding="utf-8") as handle:
                text = handle.read()
        except (IOError, OSError) as exc:
            self.add(display, 0, "cannot read: %s" % (exc.strerror or exc))
            return self
        except UnicodeDecodeError:
            self.add(display, 0, "not valid UTF-8")
            return self
        self.check_text(text, display)
        return self

    def check_text(self, text, display, context=None, parent=None):
        nodes, problems = parse(text, display)
        self.problems.extend(problems)
        self.walk(nodes, display, context, parent)
        return self

    def walk(self, nodes, display, context=None, parent=None):
        seen = {}
        for node in nodes:
            if node.kind == "block":
                self._block(node, display, context)
                self.walk(node.children, display, node.name, node)
                continue
            if node.name in seen and node.name not in REPEATABLE:
                self.add(display, node.line, "%s is set twice in %s (also at line %d)" % (
                    node.name, "<%s>" % context if context else "the global context", seen[node.name]))
            seen.setdefault(node.name, node.line)
            self._directive(node.name, node.args, display, node.line, context, parent)

    def _block(self, node, display, context):
        tag, number = node.name, node.line
        allowed_blocks = CONTEXTS.get(context, (set(), set()))[1]
        if tag not in CONTEXTS:
            self.add(display, number, "unknown block <%s>" % tag)
        elif tag not in allowed_blocks:
            self.add(display, number, "<%s> is not allowed inside <%s>" % (tag, context or "global"))
        if tag in NO_ARG_BLOCKS:
            if node.args:
                self.add(display, number, "<%s> takes no argument" % tag)
            return
        if tag == "acct-file" and node.args and node.args[0].startswith("|"):
            return  # a pipe to a program, with its arguments (guide §11)
        if len(node.args) != 1:
            self.add(display, number, "<%s> needs one argument, got %d" % (tag, len(node.args)))
            return
        arg = node.args[0]
        if tag == "virtual-mta":
            self._define(self.vmtas, arg, display, number, "VirtualMTA")
        elif tag == "virtual-mta-pool":
            self._define(self.pools, arg, display, number, "VirtualMTA pool")
        elif tag == "source":
            self._define(self.sources, arg, display, number, "source")
        elif tag == "smtp-pattern-list":
            self._define(self.pattern_lists, arg, display, number, "SMTP pattern list")
        elif tag == "smtp-user":
            self._value(smtp_user, arg, display, number, "<smtp-user>")

    def _value(self, check, value, display, number, what):
        try:
            check(value, what)
            return True
        except GrammarError as exc:
            self.add(display, number, str(exc))
            return False

    def _define(self, table, name, display, number, what):
        if what == "source":
            # an IP address or network, a name, or a reserved {name}
            if not (name.startswith("{") and name.endswith("}") and VMTA_RE.match(name[1:-1])):
                try:
                    cidr(name, "<source>")
                except GrammarError:
                    if not VMTA_RE.match(name):
                        self.add(display, number, "<source %s>: expected an IP address, a CIDR network or a name" % name)
        elif not VMTA_RE.match(name):
            self.add(display, number, "invalid %s name %r" % (what, name))
        if name in table:
            self.add(display, number, "%s %s is defined twice (first at %s:%d)" % (
                what, name, table[name][0], table[name][1]))
        else:
            table[name] = (display, number)

    def _directive(self, name, args, display, number, context, parent):
        allowed = CONTEXTS.get(context, (frozenset(), set()))[0]
        if name not in allowed and name not in self.extra:
            self.add(display, number, "unknown directive %r in %s" % (
                name, "<%s>" % context if context else "the global context"))
            return
        if name == "include":
            self._include(args, display, number, context, parent)
            return
        if name in BOOLEAN and (len(args) != 1 or args[0].lower() not in ("yes", "no", "true", "false")):
            self.add(display, number, "%s expects yes|no|true|false, got %r" % (name, " ".join(args)))
        if name in RATE:
            if len(args) != 1 or not RATE_RE.match(args[0]) and not (
                    name == "max-cold-virtual-mta-msg" and all(RATE_RE.match(a) for a in args[0].split(","))):
                self.add(display, number, "%s expects unlimited, 0 or N/[M]{d|h|m|s}, got %r" % (
                    name, " ".join(args)))
        if name == "smtp-source-host":
            self._source_host(args, display, number)
        elif name == "virtual-mta" and context == "virtual-mta-pool":
            if len(args) != 1:
                self.add(display, number, "virtual-mta expects one VirtualMTA name")
            else:
                self.pool_members.append((args[0], parent.args[0] if parent.args else "", display, number))
        elif name == "default-virtual-mta":
            if len(args) != 1:
                self.add(display, number, "default-virtual-mta expects one name")
            elif args[0] != "by-smtp-source-ip":
                self.default_vmtas.append((args[0], display, number))
        elif name == "source" and context == "smtp-user":
            if len(args) != 1:
                self.add(display, number, "source expects one source name")
            else:
                self.user_sources.append((args[0], parent.args[0] if parent.args else "", display, number))
        elif name == "cold-virtual-mta":
            if len(args) != 1:
                self.add(display, number, "cold-virtual-mta expects one VirtualMTA name")
            else:
                self.cold_refs.append((args[0], display, number))
        elif name == "domain-key":
            self._domain_key(args, display, number)
        elif name == "reply" and context == "smtp-pattern-list":
            self._reply(args, display, number)
        elif name == "smtp-pattern-list":
            if len(args) != 1:
                self.add(display, number, "smtp-pattern-list expects one pattern list name")
            else:
                self.pattern_list_refs.append((args[0], display, number))
        elif name in INTERVAL_LISTS or name in INTERVALS:
            values = args[0].split(",") if name in INTERVAL_LISTS and len(args) == 1 else args
            if len(args) != 1 or not all(INTERVAL_VALUE_RE.match(v) or (v == "never" and name in NEVER_ALLOWED)
                                         for v in values):
                self.add(display, number, "%s expects %s, got %r" % (
                    name, "a comma-separated list of time intervals (10m,1h,...)" if name in INTERVAL_LISTS else
                    "a time interval (30m, 2h, 4d12h)%s" % (" or never" if name in NEVER_ALLOWED else ""),
                    " ".join(args)))
        elif name == "mx":
            if not (2 <= len(args) <= 3 and args[1].endswith(".rollup") and args[2:] in ([], ["rollup-by-ip"])):
                self.add(display, number, "mx expects 'mx PATTERN NAME.rollup [rollup-by-ip]'")
            else:
                self._value(mx_pattern, args[0], display, number, "mx")
        elif name == "smtp-listener":
            if self._value(listener, args[0], display, number, "smtp-listener") and (
                    len(args) > 2 or args[1:] and not re.match(r"\Asource=[^\s=]+\Z", args[1])):
                self.add(display, number, "smtp-listener expects 'ADDRESS:PORT [source=NAME]', got %r" % " ".join(args))
        elif name == "http-access":
            if len(args) != 2:
                self.add(display, number, "http-access expects 'CIDR LEVEL', got %r" % " ".join(args))
            else:
                self._value(cidr, args[0], display, number, "http-access")
                self._value(http_access_level, args[1], display, number, "http-access")
        elif name == "http-mgmt-port":
            self._value(port, args[0], display, number, "http-mgmt-port")
        elif name == "postmaster":
            self._value(email, args[0], display, number, "postmaster")
        elif name == "authentication-method" and args[0] not in AUTH_METHODS:
            self.add(display, number, "authentication-method expects one of %s, got %r" % (
                ", ".join(AUTH_METHODS), args[0]))
        elif name == "password" and context == "smtp-user" and len(args) != 1:
            self.add(display, number, "password expects one value (quote a password with spaces)")

    def _reply(self, args, display, number):
        """``reply /REGEX/ ACTION[,ACTION...]`` (guide 3.3.15): a regular expression PowerMTA
        matches case-insensitively, then one comma-separated list of known actions, without
        both mode=backoff and mode=normal, both skip-mx and bounce-queue, a reenable-after not
        preceded by disable-source-ip, or two reenable-after."""
        if len(args) != 2 or len(args[0]) < 3 or not (args[0].startswith("/") and args[0].endswith("/")):
            self.add(display, number, "reply expects '/REGEX/ ACTION[,ACTION...]', got %r" % " ".join(args))
            return
        try:
            re.compile(args[0][1:-1], re.IGNORECASE)
        except re.error as exc:
            self.add(display, number, "reply: %s is not a regular expression: %s" % (args[0], exc))
        actions = args[1].split(",")
        seen = []
        for action in actions:
            if action.startswith("reenable-after="):
                if "disable-source-ip" not in seen:
                    self.add(display, number, "reply: reenable-after without a preceding disable-source-ip")
                elif any(a.startswith("reenable-after=") for a in seen):
                    self.add(display, number, "reply: more than one reenable-after")
                elif not INTERVAL_VALUE_RE.match(action.split("=", 1)[1]):
                    self.add(display, number, "reply: reenable-after expects a time interval, got %r" % action)
            elif action not in REPLY_ACTIONS:
                self.add(display, number, "reply: unknown action %r (expected %s, reenable-after=INTERVAL)" % (
                    action, ", ".join(REPLY_ACTIONS)))
            seen.append(action)
        for pair in (("mode=backoff", "mode=normal"), ("skip-mx", "bounce-queue")):
            if pair[0] in seen and pair[1] in seen:
                self.add(display, number, "reply: both %s and %s" % pair)

    def _source_host(self, args, display, number):
        if len(args) != 2:
            self.add(display, number, "smtp-source-host expects 'IP HOST-NAME', got %r" % " ".join(args))
            return
        try:
            if "/" in args[0]:
                ipaddress.ip_network(args[0], strict=False)
            else:
                ipaddress.ip_address(args[0])
        except ValueError:
            self.add(display, number, "smtp-source-host: %r is not an IP address (the IP comes first)" % args[0])
        try:
            hostname(args[1], "smtp-source-host")
        except GrammarError:
            self.add(display, number, "smtp-source-host: %r is not a valid host name" % args[1])

    def _domain_key(self, args, display, number):
        parts = "".join(args).split(",")
        if len(args) != 1 or len(parts) != 3 or not all(parts):
            self.add(display, number, "domain-key expects SELECTOR,DOMAIN,FILE, got %r" % " ".join(args))
            return
        self._value(dkim_selector, parts[0], display, number, "domain-key selector")
        if parts[1] != "*":
            self._value(hostname, parts[1], display, number, "domain-key domain")
        if not self.check_files or parts[2] in self.assume_present:
            return
        path = self._disk(parts[2])
        if not os.path.isfile(path):
            self.add(display, number, "DKIM key file %s does not exist" % parts[2])
        elif not os.access(path, os.R_OK):
            self.add(display, number, "DKIM key file %s is not readable" % parts[2])
        else:
            try:
                with open(path, "r") as handle:
                    head = handle.read(64)
            except (IOError, OSError, UnicodeDecodeError):
                head = ""
            if "-----BEGIN" not in head:
                self.add(display, number, "DKIM key file %s is not a PEM private key" % parts[2])

    def _include(self, args, display, number, context, parent):
        if context not in INCLUDABLE:
            self.add(display, number, "include is not allowed inside <%s>" % context)
            return
        if len(args) != 1:
            self.add(display, number, "include expects one file name or pattern")
            return
        if not self.check_files or args[0] in self.assume_present:
            return
        pattern = self._disk(args[0])
        matches = sorted(glob.glob(pattern)) if any(c in pattern for c in "*?[") else [pattern]
        for path in matches:
            real = os.path.realpath(path)
            if real in self._seen_files:
                self.add(display, number, "include loop through %s" % args[0])
                continue
            if not os.path.isfile(path):
                self.add(display, number, "included file %s does not exist" % args[0])
                continue
            self._seen_files.add(real)
            try:
                with open(path, "r", encoding="utf-8") as handle:
                    text = handle.read()
            except (IOError, OSError, UnicodeDecodeError) as exc:
                self.add(display, number, "cannot read included file %s: %s" % (args[0], exc))
                continue
            self.check_text(text, args[0] if not self.root_prefix else path, context, parent)
            self._seen_files.discard(real)

    def finish(self):
        """Cross-references, once every file is read. Returns the list of problems."""
        for name, where in sorted(self.pools.items()):
            if name in self.vmtas:
                self.add(where[0], where[1], "pool %s has the same name as a VirtualMTA (%s:%d)" % (
                    name, self.vmtas[name][0], self.vmtas[name][1]))
        for member, pool, display, number in self.pool_members:
            if member not in self.vmtas:
                self.add(display, number, "pool %s lists VirtualMTA %s, which is not defined" % (pool, member))
        for target, display, number in self.default_vmtas:
            if target not in self.vmtas and target not in self.pools:
                self.add(display, number, "default-virtual-mta %s names no VirtualMTA or pool" % target)
        for target, display, number in self.cold_refs:
            if target not in self.vmtas:
                self.add(display, number, "cold-virtual-mta %s is not defined" % target)
        for target, display, number in self.pattern_list_refs:
            if target not in self.pattern_lists:
                self.add(display, number, "smtp-pattern-list %s is not defined" % target)
        for source, user, display, number in self.user_sources:
            if source not in self.sources:
                self.add(display, number, "smtp-user %s uses source %s, which is not defined" % (user, source))
        for name in self.pools:
            if not any(pool == name for _m, pool, _d, _n in self.pool_members):
                where = self.pools[name]
                self.add(where[0], where[1], "pool %s has no member" % name)
        return self.problems


def check_config(path, root_prefix="", extra_directives=(), display=None):
    """Check the config at ``path`` (and what it includes). Returns a list of problem strings."""
    checker = ConfigChecker(root_prefix=root_prefix, extra_directives=extra_directives)
    checker.check_file(path, display)
    return [str(p) for p in checker.finish()]


def check_text(text, display, extra_directives=(), assume_present=(), check_files=True):
    """Check configuration text that is not on disk yet (included files are read from disk,
    unless ``check_files`` is false)."""
    checker = ConfigChecker(extra_directives=extra_directives, assume_present=assume_present,
                            check_files=check_files)
    checker.check_text(text, display)
    return [str(p) for p in checker.finish()]
