# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One grammar for every value that reaches a PowerMTA config, an SQL row or a DNS name.

Standard library only (it is imported by modules that run on PowerMTA hosts, by the controller's
validation and rendering, by the MailWizz bridge and by the DNS checks).

Each checker takes the value and ``what`` (the variable or key at fault, used in the message) and
returns the normalised value, or raises :class:`GrammarError`. A checker never *repairs* a value
(no stripping, no dropping of characters): what is not exactly in the grammar is refused, so a
value that could smuggle a line, a directive, a block or a second token into a configuration
never gets through. Messages never repeat a secret (``password``).

The forbidden class, refused everywhere (free-text comments included): ASCII control characters
(C0, DEL), C1 controls, every Unicode line or paragraph separator, every whitespace other than the
plain space U+0020 (NBSP, en/em spaces, ideographic space, ...), zero-width and bidi-control
characters, and the byte-order mark.
"""
from __future__ import absolute_import, division, print_function

import datetime
import ipaddress
import math
import re
import unicodedata

__metaclass__ = type


class GrammarError(ValueError):
    """A value outside the grammar. ``what`` names the variable/key, ``message`` says why."""

    def __init__(self, what, message):
        self.what = what
        self.message = message
        ValueError.__init__(self, "%s: %s" % (what, message) if what else message)


# ---------------------------------------------------------------------------------------------
# Character classes
# ---------------------------------------------------------------------------------------------
_ZERO_WIDTH_BIDI = frozenset(
    "\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff"
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u061c\u180e"
)


_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]*\Z")


def bad_char(text):
    """The first character of ``text`` in the forbidden class, or None."""
    if _PRINTABLE_ASCII.match(text):  # the common case, without a loop in Python
        return None
    for ch in text:
        code = ord(ch)
        if code < 0x20 or code == 0x7F or 0x80 <= code <= 0x9F:
            return ch
        if ch == " ":
            continue
        if ch in _ZERO_WIDTH_BIDI:
            return ch
        if code > 0x7F:
            cat = unicodedata.category(ch)
            if cat in ("Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co", "Cn") or ch.isspace():
                return ch
    return None


def describe_char(ch):
    """``U+00A0 (NO-BREAK SPACE)`` -- how a refused character is named in messages."""
    name = unicodedata.name(ch, "")
    if not name:
        name = {"\n": "LINE FEED", "\r": "CARRIAGE RETURN", "\t": "TAB", "\x00": "NUL"}.get(ch, "control character")
    return "U+%04X (%s)" % (ord(ch), name)


def printable(text):
    """``text`` with every character of the forbidden class written as an escape (``\\n``,
    ``\\u2028``): how keys and names are shown in messages, one line each."""
    text = str(text)
    if bad_char(text) is None:
        return text
    return "".join(ch.encode("unicode_escape").decode("ascii") if bad_char(ch) else ch for ch in text)


def _shown(value):
    """A value as messages show it: repr, shortened."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def is_int(value):
    """A whole number that is not a boolean."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value):
    """An int or a finite float, not a boolean."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not (
        isinstance(value, float) and (math.isnan(value) or math.isinf(value)))


def parse_date(value):
    """Inventory and state dates: a date (YAML) or an exact ``YYYY-MM-DD`` string. A date or None."""
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, str) and DATE_RE.match(value):
        try:
            return datetime.datetime.strptime(value, "%Y-%m-%d").date()
        except ValueError:
            return None
    return None


def date(value, what="date"):
    """``parse_date`` that raises: the message names the key and the value."""
    parsed = parse_date(value)
    if parsed is None:
        raise GrammarError(what, "expected a date YYYY-MM-DD, got %s" % _shown(value))
    return parsed


def typename(value):
    """How messages name the type of a value ("a string", "a mapping", ...)."""
    return _typename(value)


def _typename(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _string(value, what, expected, secret=False):
    if not isinstance(value, str) or isinstance(value, bool):
        raise GrammarError(what, "expected %s, got %s" % (expected, _typename(value)))
    ch = bad_char(value)
    if ch is not None:
        raise GrammarError(what, "contains %s%s; expected %s" % (
            describe_char(ch), "" if secret else " in %s" % _shown(value), expected))
    return value


def _match(regex, value, what, expected):
    _string(value, what, expected)
    if not regex.match(value):
        raise GrammarError(what, "%s is not %s" % (_shown(value), expected))
    return value


# ---------------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------------
# \A...\Z (never ^...$): "$" also matches before a trailing newline.
TENANT_RE = re.compile(r"\A[a-z0-9][a-z0-9_-]{0,62}\Z")
VMTA_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,127}\Z")
SELECTOR_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_-]{0,62}\Z")
SMTP_USER_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.@+-]{0,127}\Z")
LABEL_RE = re.compile(r"\A(?!-)[A-Za-z0-9-]{1,63}(?<!-)\Z")
SQL_IDENT_RE = re.compile(r"\A[A-Za-z0-9_]{0,32}\Z")
KEYWORD_RE = re.compile(r"\A[a-z][a-z0-9-]*(\.[a-z0-9-]+)*\Z")
TOKEN_RE = re.compile(r"\A[A-Za-z0-9_.,/:@=+*%-]{1,255}\Z")
INTERVAL_RE = re.compile(r"\A(\d+[wdhms]?)+\Z")
SIZE_RE = re.compile(r"\A\d+[KMGkmg]?\Z")
RATE_RE = re.compile(r"\A(unlimited|0|\d+/(\d+)?(d|day|h|hr|m|min|s|sec))\Z")
PATH_RE = re.compile(r"\A/[A-Za-z0-9._/+@=,-]*\Z")
DATE_RE = re.compile(r"\A\d{4}-\d{2}-\d{2}\Z")
DB_NAME_RE = re.compile(r"\A[A-Za-z0-9_]{1,64}\Z")
DB_USER_RE = re.compile(r"\A[A-Za-z0-9_.-]{1,80}\Z")
INVENTORY_HOST_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.:-]{0,252}\Z")
HTTP_HEADER_NAME_RE = re.compile(r"\A[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}\Z")  # RFC 9110 token
CHAT_ID_RE = re.compile(r"\A(-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{4,31})\Z")
URL_RE = re.compile(r"\A(https?)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?(/[A-Za-z0-9._~!$&()*+,;=:@%/-]*)?\Z")
TELEGRAM_TOKEN_RE = re.compile(r"\A[0-9]{1,20}:[A-Za-z0-9_-]{20,200}\Z")
EMAIL_LOCAL_RE = re.compile(r"\A[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}\Z")


def tenant_name(value, what="tenant"):
    """Tenant and schedule names: lowercase letters, digits, '-', '_' (max 63)."""
    return _match(TENANT_RE, value, what, "a name of lowercase letters, digits, '-' or '_' (max 63)")


def vmta_name(value, what="virtual-mta"):
    """VirtualMTA and pool names: letters, digits, '-', '_', '.' (max 128)."""
    return _match(VMTA_RE, value, what, "a name of letters, digits, '-', '_' or '.' (max 128)")


pool_name = vmta_name


def dkim_selector(value, what="dkim_selector"):
    return _match(SELECTOR_RE, value, what, "a DKIM selector of letters, digits, '-' or '_' (max 63)")


def smtp_user(value, what="smtp_user"):
    return _match(SMTP_USER_RE, value, what, "a user name of letters, digits and . _ @ + - (max 128)")


def sql_identifier(value, what="table_prefix"):
    return _match(SQL_IDENT_RE, value, what, "an SQL identifier part of letters, digits and '_' (max 32)")


def keyword(value, what="directive"):
    """A PowerMTA directive name (``max-msg-rate``, ``smtp-tls-allow-tlsv1.2``)."""
    return _match(KEYWORD_RE, value, what, "a directive name of lowercase letters, digits, '-' and '.'")


def token(value, what="value"):
    """One PowerMTA word: no space, quote, comment, block bracket or backslash."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    return _match(TOKEN_RE, value, what, "one word of letters, digits and . , / : @ = + * % _ -")


def boolean(value, what="value"):
    """PowerMTA boolean: yes|no|true|false (Python booleans become yes/no)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str) and value in ("yes", "no", "true", "false"):
        return value
    raise GrammarError(what, "expected yes, no, true or false, got %s" % _shown(value))


def hostname(value, what="hostname", min_labels=2):
    """A host or domain name; returns it lowercased without the trailing dot."""
    _string(value, what, "a fully qualified host name")
    name = value[:-1] if value.endswith(".") else value
    labels = name.split(".")
    if (not name or len(name) > 253 or len(labels) < min_labels or labels[-1].isdigit()
            or not all(LABEL_RE.match(label) for label in labels)):
        raise GrammarError(what, "%s is not a valid fully qualified host name" % _shown(value))
    return name.lower()


def dns_label(value, what="label", secret=True):
    """One DNS label (letters, digits, inner '-', max 63), e.g. a Spamhaus DQS key that becomes the
    first label of a query zone. With ``secret`` (the default: DQS keys are secrets) the message
    never repeats the value."""
    if secret:
        if not isinstance(value, str) or not LABEL_RE.match(value):
            raise GrammarError(what, "expected one DNS label of letters, digits and inner '-' (max 63 "
                                     "characters); the value is not shown")
        return value
    return _match(LABEL_RE, value, what, "one DNS label of letters, digits and inner '-' (max 63)")


def mx_pattern(value, what="mx"):
    """An MX host pattern: a host name, optionally starting with ``*.``."""
    _string(value, what, "an MX host pattern such as *.google.com")
    probe = value[2:] if value.startswith("*.") else value
    try:
        hostname(probe, what)
    except GrammarError:
        raise GrammarError(what, "%s is not a valid MX host pattern (e.g. *.google.com)" % _shown(value))
    return value.lower()


def email(value, what="email"):
    """An e-mail address: a dot-atom local part (RFC 5322 atext, max 64) @ a fully qualified
    domain whose top-level label has 2 characters or more (no TLD has one). Returns it with the
    domain lowercased. Used for inventory addresses (from_email, postmaster) and for subscriber
    rows (mailwizz_ops.import_subscribers)."""
    _string(value, what, "an e-mail address")
    local, sep, domain = value.rpartition("@")
    if not sep or not EMAIL_LOCAL_RE.match(local) or local.startswith(".") or local.endswith(".") or ".." in local:
        raise GrammarError(what, "%s is not a valid e-mail address" % _shown(value))
    try:
        domain = hostname(domain, what)
    except GrammarError:
        raise GrammarError(what, "%s is not a valid e-mail address" % _shown(value))
    if len(domain.rsplit(".", 1)[-1]) < 2:
        raise GrammarError(what, "%s is not a valid e-mail address" % _shown(value))
    return "%s@%s" % (local, domain)


def is_email(value):
    """True when ``value`` passes :func:`email` (for callers that count a bad row, not raise)."""
    try:
        email(value)
    except GrammarError:
        return False
    return True


def db_name(value, what="db.name"):
    """A MySQL/MariaDB database name mailfleet connects to (unquoted identifier)."""
    return _match(DB_NAME_RE, value, what, "a database name of letters, digits and '_' (max 64)")


def db_user(value, what="db.user"):
    return _match(DB_USER_RE, value, what, "a database user name of letters, digits, '_', '.' or '-' (max 80)")


def inventory_host(value, what="inventory_hostname"):
    """An inventory host name (it appears in comments of the generated configuration)."""
    return _match(INVENTORY_HOST_RE, value, what, "a host name of letters, digits, '.', '-', '_' or ':'")


def http_header_name(value, what="header"):
    """An HTTP request header name (RFC 9110 token), e.g. of an alert webhook."""
    return _match(HTTP_HEADER_NAME_RE, value, what, "an HTTP header name (letters, digits, '-', ...)")


def chat_id(value, what="chat_id"):
    """A Telegram chat: its number (``-1001234567890``) or ``@channelname``."""
    if is_int(value):
        value = str(value)
    return _match(CHAT_ID_RE, value, what, "a Telegram chat id (a number, or @channelname)")


def file_ref(value, what="file"):
    """A file on the controller named in the inventory (relative to it, or absolute)."""
    _string(value, what, "a file path (relative to the inventory, or absolute)")
    if len(value) > 4096:
        raise GrammarError(what, "is longer than 4096 characters")
    return value


# ---------------------------------------------------------------------------------------------
# Addresses
# ---------------------------------------------------------------------------------------------
def ip_address(value, what="address", sending=True):
    """An IPv4 or IPv6 address in canonical form.

    ``sending``: refuse what can never be a public sending address -- unspecified, loopback,
    multicast, link-local, broadcast, reserved (240/4), IPv4-mapped IPv6 (write the IPv4) and
    scoped IPv6 (``fe80::1%eth0``).
    """
    _string(value, what, "an IPv4 or IPv6 address")
    if "%" in value:
        raise GrammarError(what, "%s has a zone index; expected a plain IPv4 or IPv6 address" % _shown(value))
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        raise GrammarError(what, "%s is not a valid IPv4 or IPv6 address" % _shown(value))
    if sending:
        if addr.version == 6 and addr.ipv4_mapped is not None:
            raise GrammarError(what, "%s is an IPv4-mapped IPv6 address; write the IPv4 address %s" % (
                value, addr.ipv4_mapped))
        problem = None
        if addr.is_unspecified:
            problem = "unspecified"
        elif addr.is_loopback:
            problem = "loopback"
        elif addr.is_multicast:
            problem = "multicast"
        elif addr.is_link_local:
            problem = "link-local"
        elif addr.version == 4 and int(addr) == 0xFFFFFFFF:
            problem = "the broadcast address"
        elif addr.is_reserved:
            problem = "reserved"
        if problem:
            raise GrammarError(what, "%s cannot be a sending address (%s)" % (addr, problem))
    return str(addr)


def cidr(value, what="source"):
    """An address or network for ``<source>`` / ``http-access``: ``127.0.0.1``, ``10.0.0.0/8``, ``0/0``."""
    _string(value, what, "an IP address or network (CIDR)")
    if value == "0/0":
        return value
    if "%" in value:
        raise GrammarError(what, "%s has a zone index; expected an address or CIDR network" % _shown(value))
    try:
        if "/" in value:
            return str(ipaddress.ip_network(value, strict=True))
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise GrammarError(what, "%s is not a valid IP address or CIDR network (host bits must be 0)" % _shown(value))


def port(value, what="port"):
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.isdigit() and value == str(int(value)):
            value = int(value)
        else:
            raise GrammarError(what, "expected a TCP port number 1-65535, got %s" % _shown(value))
    if not 1 <= value <= 65535:
        raise GrammarError(what, "expected a TCP port number 1-65535, got %d" % value)
    return value


def listener(value, what="smtp_listener"):
    """``ADDRESS:PORT`` (IPv4, IPv6 or ``0/0``) as PowerMTA's ``smtp-listener`` takes it."""
    _string(value, what, "ADDRESS:PORT")
    addr, sep, prt = value.rpartition(":")
    if not sep or not addr:
        raise GrammarError(what, "%s is not ADDRESS:PORT" % _shown(value))
    port(prt, what)
    if addr != "0/0":
        try:
            ipaddress.ip_address(addr.strip("[]") if addr.startswith("[") else addr)
        except ValueError:
            raise GrammarError(what, "%s: %s is not an IP address" % (_shown(value), _shown(addr)))
    return value


def host_or_ip(value, what="host"):
    """A host name (one label allowed: ``localhost``) or an IP address, as a client connects to it."""
    _string(value, what, "a host name or an IP address")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    try:
        return hostname(value, what, min_labels=1)
    except GrammarError:
        raise GrammarError(what, "%s is neither a valid host name nor an IP address" % _shown(value))


db_host = host_or_ip


def url(value, what="url"):
    """An http(s) URL the controller calls (MailWizz API, webhook): no credentials, no query, no
    fragment, no space or quote. The message does not repeat it (a webhook URL may hold a token)."""
    _string(value, what, "an http(s) URL", secret=True)
    match = URL_RE.match(value)
    if not match:
        raise GrammarError(what, "is not an http(s) URL of the form scheme://host[:port]/path "
                                 "(no user:password@, query or fragment)")
    host = match.group(2)
    try:
        if host.startswith("["):
            ipaddress.IPv6Address(host[1:-1])
        else:
            host_or_ip(host, what)
    except (ValueError, GrammarError):
        raise GrammarError(what, "does not name a valid host")
    if match.group(3):
        port(match.group(3)[1:], what)
    return value


def nameserver(value, what="nameserver"):
    """A DNS resolver the controller queries: an IP address, ``IP:PORT``, ``[IPv6]:PORT``,
    ``IP@PORT`` or a mapping ``{address, port}``. Returns ``(address, port)``."""
    if isinstance(value, dict):
        address, prt = value.get("address"), value.get("port", 53)
    else:
        _string(value, what, "a resolver address (IP, IP:PORT or [IPv6]:PORT)")
        address, prt = value, 53
        if value.startswith("["):
            address, _sep, rest = value[1:].partition("]")
            if rest:
                if not rest.startswith(":"):
                    raise GrammarError(what, "%s is not [IPv6]:PORT" % _shown(value))
                prt = rest[1:]
        elif value.count(":") == 1:
            address, prt = value.split(":")
        elif "@" in value:
            address, prt = value.split("@", 1)
    return ip_address(address, what, sending=False), port(prt, what)


# ---------------------------------------------------------------------------------------------
# Paths, numbers, PowerMTA value grammars
# ---------------------------------------------------------------------------------------------
def path(value, what="path"):
    """A file path PowerMTA can read unquoted: absolute, no '..' component, safe characters."""
    _string(value, what, "an absolute path")
    if not value.startswith("/"):
        raise GrammarError(what, "%s is a relative path; expected an absolute path (starting with /)" % _shown(value))
    if not PATH_RE.match(value):
        raise GrammarError(what, "%s is not an absolute path of letters, digits and . _ / + @ = , -" % _shown(value))
    if any(part == ".." for part in value.split("/")):
        raise GrammarError(what, "%s contains a '..' component" % _shown(value))
    return value


def root(value, what="mailfleet_root"):
    """A path prefix: empty (production) or an absolute path without a trailing slash."""
    if value in ("", None):
        return ""
    path(value, what)
    if value != "/" and value.endswith("/"):
        value = value.rstrip("/")
    return "" if value == "/" else value


def count(value, what="value", minimum=0, maximum=None):
    """A whole number (no booleans, no floats, no strings)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise GrammarError(what, "expected an integer, got %s" % _typename(value))
    if value < minimum or (maximum is not None and value > maximum):
        raise GrammarError(what, "expected an integer from %d%s, got %d" % (
            minimum, " to %d" % maximum if maximum is not None else " up", value))
    return value


def rate(value, what="rate"):
    """A PowerMTA rate: an integer per day (0 = nothing) or a rate string (``500/d``, ``10/h``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        count(value, what)
        return "0" if value == 0 else "%d/d" % value
    return _match(RATE_RE, value, what, "a rate such as 500/d, 10/h, 0 or unlimited")


def interval(value, what="interval"):
    """A PowerMTA time interval (``10m``, ``4d12h``, ``1w``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(count(value, what))
    return _match(INTERVAL_RE, value, what, "an interval such as 10m, 4d12h or 1w")


def size(value, what="size"):
    if isinstance(value, int) and not isinstance(value, bool):
        return str(count(value, what))
    return _match(SIZE_RE, value, what, "a size such as 50M")


# \A...\Z: printable ASCII without the characters PowerMTA's config syntax gives a meaning to
# (``/`` ends the pattern, ``#`` starts a comment, ``"`` quotes, ``\\`` escapes, ``<``/``>``
# delimit blocks) and without ``[[`` (a POSIX class in PCRE, a "nested set" warning in Python).
REPLY_REGEX_RE = re.compile(r"\A(?!.*\[\[)[ !$-.0-;=?-\[\]-~]{1,512}\Z")


def reply_regex(value, what="reply pattern"):
    """The body of a PowerMTA ``<smtp-pattern-list>`` rule ``reply /REGEX/`` (guide §3.3.15).

    The same text is a valid Python ``re`` pattern with the same meaning (PCRE and Python agree on
    the subset: literals, ``.``, ``[...]`` sets, groups ``(...)``/``(?:...)``, ``|``, ``*``,
    ``+``, ``?``, ``^``, ``$``, ``(?s)``): mailfleet classifies the accounting file's replies with
    exactly the patterns it renders into the config. Lowercase letters only, since PowerMTA
    matches case-insensitively and the ledger matches lowercased replies."""
    _match(REPLY_REGEX_RE, value, what,
           "a pattern of printable ASCII without / # \" \\ < > or [[")
    if value != value.lower():
        raise GrammarError(what, "%s has uppercase letters; reply patterns are matched "
                                 "case-insensitively and written in lowercase" % _shown(value))
    try:
        re.compile(value)
    except re.error as exc:
        raise GrammarError(what, "%s is not a regular expression: %s" % (_shown(value), exc))
    return value


# ---------------------------------------------------------------------------------------------
# Secrets and free text
# ---------------------------------------------------------------------------------------------
def password(value, what="password", max_len=128):
    """A secret written into a config or a row: printable ASCII, no ``"`` or backslash, no
    leading/trailing space. The message never contains the value."""
    if not isinstance(value, str) or isinstance(value, bool):
        raise GrammarError(what, "expected a string, got %s" % _typename(value))
    if not value:
        raise GrammarError(what, "must not be empty")
    if len(value) > max_len:
        raise GrammarError(what, "is longer than %d characters" % max_len)
    for ch in value:
        if not 0x20 <= ord(ch) <= 0x7E:
            raise GrammarError(what, "contains %s; a password is printable ASCII" % describe_char(ch))
        if ch in '"\\':
            raise GrammarError(what, "contains %s, which PowerMTA's quoting cannot hold" % (
                "a double quote" if ch == '"' else "a backslash"))
    if value != value.strip(" "):
        raise GrammarError(what, "starts or ends with a space")
    return value


def secret(value, what="secret", max_len=512):
    """An API key, a database password, a header value: printable ASCII (space allowed inside),
    not empty, no leading/trailing space. The message never contains the value."""
    if not isinstance(value, str) or isinstance(value, bool):
        raise GrammarError(what, "expected a string, got %s" % _typename(value))
    if not value:
        raise GrammarError(what, "must not be empty")
    if len(value) > max_len:
        raise GrammarError(what, "is longer than %d characters" % max_len)
    for ch in value:
        if not 0x20 <= ord(ch) <= 0x7E:
            raise GrammarError(what, "contains %s; a secret is printable ASCII" % describe_char(ch))
    if value != value.strip(" "):
        raise GrammarError(what, "starts or ends with a space")
    return value


def telegram_token(value, what="token"):
    """A Telegram bot token (``123456:ABC-...``): it becomes part of a URL path. Never echoed."""
    secret(value, what)
    if not TELEGRAM_TOKEN_RE.match(value):
        raise GrammarError(what, "is not a Telegram bot token (digits, ':', then letters, digits, '_' or '-')")
    return value


def text(value, what="text", max_len=1000):
    """Free text for a comment or a label: any printable character, nothing of the forbidden class."""
    _string(value, what, "printable text on one line")
    if len(value) > max_len:
        raise GrammarError(what, "is longer than %d characters" % max_len)
    return value


# ---------------------------------------------------------------------------------------------
# MailWizz rows (the delivery-server bridge)
# ---------------------------------------------------------------------------------------------
# RFC 5322 field-name: printable US-ASCII except ':' (and so no space), at most 76 characters.
HEADER_NAME_RE = re.compile(r"\A[\x21-\x39\x3b-\x7e]{1,76}\Z")


def inventory_name(value, what="name"):
    """An inventory host or tenant name as it appears in a row name (``mailfleet:<t>:<h>``):
    letters, digits, '-', '_', '.' (max 128), starting with a letter or digit."""
    return _match(VMTA_RE, value, what, "a name of letters, digits, '-', '_' or '.' (max 128)")


def header_name(value, what="header"):
    """A mail header field name (RFC 5322: printable ASCII, no ':' and no space, max 76)."""
    return _match(HEADER_NAME_RE, value, what, "a header name of printable ASCII without ':' or "
                                               "spaces (max 76)")


def header_value(value, what="header value", max_len=998):
    """A one-line header value: printable text, no surrounding space (MailWizz would trim it)."""
    text(value, what, max_len)
    if value != value.strip(" "):
        raise GrammarError(what, "%s starts or ends with a space" % _shown(value))
    return value


# ---------------------------------------------------------------------------------------------
# PowerMTA-only value classes (the rendering chokepoint, plugins/plugin_utils/pmta_template.py)
# ---------------------------------------------------------------------------------------------
HTTP_ACCESS_LEVELS = ("none", "monitor", "monitor,deny-logs", "operator", "admin")
# PowerMTA v5.0 guide §3.3.10.55: '#' starts a comment anywhere on a line, quotes or not; a line
# that starts with '<' is a tag. Neither can sit inside a configuration value.
PMTA_VALUE_FORBIDDEN = '#<>'


def http_access_level(value, what="http_access.level"):
    """An ``http-access`` level (guide §3.3.1.36.3): none, monitor[,deny-logs], operator, admin."""
    _string(value, what, "an access level (%s)" % ", ".join(HTTP_ACCESS_LEVELS))
    if value not in HTTP_ACCESS_LEVELS:
        raise GrammarError(what, "%s is not an access level; expected one of %s" % (
            _shown(value), ", ".join(HTTP_ACCESS_LEVELS)))
    return value


def pmta_password(value, what="password"):
    """An SMTP password as a PowerMTA ``password`` line can hold it: :func:`password`, and no
    ``#`` (PowerMTA reads the rest of the line as a comment, quoted or not), ``<`` or ``>``.
    The message never contains the value."""
    password(value, what)
    for ch in value:
        if ch in PMTA_VALUE_FORBIDDEN:
            raise GrammarError(what, "contains %r, which a PowerMTA configuration line cannot hold (%s)" % (
                ch, "'#' starts a comment, even inside quotes" if ch == "#" else "'<' and '>' delimit blocks"))
    return value
