# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PHP ``serialize()`` / ``unserialize()`` for plain data (no objects).

MailWizz keeps a model's extra attributes in a ``meta_data`` BLOB column holding
``serialize($array)``; a delivery server keeps its additional headers there under the key
``additional_headers`` as a list of ``['name' => ..., 'value' => ...]`` arrays. This module reads
and writes that format with the same bytes PHP produces.

Mapping (PHP -> Python on read, Python -> PHP on write):

- ``N;`` <-> ``None``; ``b:0;``/``b:1;`` <-> ``bool``; ``i:N;`` <-> ``int``; ``d:X;`` <-> ``float``
- ``s:LEN:"...";`` <-> ``str`` (LEN counts UTF-8 *bytes*, as PHP does). Strings that are not
  valid UTF-8 are returned as ``bytes``; ``bytes`` are written as-is.
- ``a:N:{...}`` <-> ``dict`` (insertion order kept, keys ``int`` or ``str``). On write, ``list`` and
  ``tuple`` become arrays keyed 0..N-1, and a ``str`` key that PHP would turn into an integer key
  (canonical decimal such as ``"7"`` or ``"-3"``) is written as an integer key, exactly like PHP.
  ``php_array_to_list`` turns a 0..N-1 keyed dict back into a list.
- Objects (``O:``, ``C:``), references (``r:``, ``R:``) and enums (``E:``) are refused with
  ``PHPSerializeError``: MailWizz's metadata never holds them, and a row that does is not ours to
  rewrite.

Floats are written with PHP >= 7.1's default ``serialize_precision = -1`` (shortest round-trip):
``1.0`` -> ``d:1;``, ``0.1`` -> ``d:0.1;``, ``1e25`` -> ``d:1.0E+25;``, ``inf`` -> ``d:INF;``.

Standard library only.
"""
from __future__ import absolute_import, division, print_function

import math
import re

__metaclass__ = type

_INT_KEY_RE = re.compile(r"^(0|-?[1-9][0-9]*)$")
_PHP_INT_MAX = 2 ** 63 - 1
_PHP_INT_MIN = -(2 ** 63)


class PHPSerializeError(ValueError):
    """Data that cannot be serialized, or bytes that are not a supported PHP serialization."""


def _float_repr(value):
    if math.isnan(value):
        return "NAN"
    if math.isinf(value):
        return "INF" if value > 0 else "-INF"
    text = repr(float(value))
    if "e" in text or "E" in text:
        mantissa, exponent = text.lower().split("e")
        if "." not in mantissa:
            mantissa += ".0"
        exp = int(exponent)
        return "%sE%s%d" % (mantissa, "+" if exp >= 0 else "-", abs(exp))
    if text.endswith(".0"):
        return text[:-2]
    return text


def _key(key):
    if isinstance(key, bool):
        return b"i:%d;" % int(key)
    if isinstance(key, int):
        return b"i:%d;" % key
    if isinstance(key, str):
        if _INT_KEY_RE.match(key) and _PHP_INT_MIN <= int(key) <= _PHP_INT_MAX:
            return b"i:%d;" % int(key)
        return _serialize(key)
    if isinstance(key, bytes):
        return _serialize(key)
    raise PHPSerializeError("unsupported PHP array key type: %s" % type(key).__name__)


def _serialize(value):
    if value is None:
        return b"N;"
    if isinstance(value, bool):
        return b"b:1;" if value else b"b:0;"
    if isinstance(value, int):
        if not _PHP_INT_MIN <= value <= _PHP_INT_MAX:
            raise PHPSerializeError("integer out of PHP range: %d" % value)
        return b"i:%d;" % value
    if isinstance(value, float):
        return b"d:" + _float_repr(value).encode("ascii") + b";"
    if isinstance(value, str):
        value = value.encode("utf-8")
    if isinstance(value, (bytes, bytearray)):
        return b's:%d:"' % len(value) + bytes(value) + b'";'
    if isinstance(value, (list, tuple)):
        value = dict(enumerate(value))
    if isinstance(value, dict):
        parts = [b"a:%d:{" % len(value)]
        seen = set()
        for key, item in value.items():
            encoded = _key(key)
            if encoded in seen:
                raise PHPSerializeError("duplicate PHP array key after normalisation: %r" % (key,))
            seen.add(encoded)
            parts.append(encoded)
            parts.append(_serialize(item))
        parts.append(b"}")
        return b"".join(parts)
    raise PHPSerializeError("unsupported type for PHP serialize: %s" % type(value).__name__)


def php_serialize(value):
    """Return the bytes PHP's ``serialize()`` produces for ``value``."""
    return _serialize(value)


class _Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def fail(self, what):
        raise PHPSerializeError("invalid PHP serialized data at offset %d: %s" % (self.pos, what))

    def expect(self, token):
        end = self.pos + len(token)
        if self.data[self.pos:end] != token:
            self.fail("expected %r" % token.decode("ascii"))
        self.pos = end

    def until(self, stop):
        idx = self.data.find(stop, self.pos)
        if idx < 0:
            self.fail("missing %r" % stop.decode("ascii"))
        chunk = self.data[self.pos:idx]
        self.pos = idx + len(stop)
        return chunk

    def integer(self, stop):
        chunk = self.until(stop)
        if not re.match(rb"^[+-]?[0-9]+$", chunk):
            self.fail("bad integer %r" % chunk)
        return int(chunk)

    def value(self, depth=0):
        if depth > 64:
            self.fail("nesting too deep")
        if self.pos >= len(self.data):
            self.fail("unexpected end of data")
        tag = self.data[self.pos:self.pos + 2]
        if tag == b"N;":
            self.pos += 2
            return None
        self.pos += 2
        if tag == b"b:":
            raw = self.until(b";")
            if raw not in (b"0", b"1"):
                self.fail("bad boolean")
            return raw == b"1"
        if tag == b"i:":
            return self.integer(b";")
        if tag == b"d:":
            raw = self.until(b";").decode("ascii", "replace")
            special = {"INF": float("inf"), "-INF": float("-inf"), "NAN": float("nan")}
            if raw in special:
                return special[raw]
            try:
                return float(raw)
            except ValueError:
                self.fail("bad float %r" % raw)
        if tag == b"s:":
            length = self.integer(b":")
            if length < 0:
                self.fail("negative string length")
            self.expect(b'"')
            raw = self.data[self.pos:self.pos + length]
            if len(raw) != length:
                self.fail("string shorter than its declared length")
            self.pos += length
            self.expect(b'";')
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError:
                return raw
        if tag == b"a:":
            count = self.integer(b":")
            if count < 0:
                self.fail("negative array size")
            self.expect(b"{")
            result = {}
            for _item in range(count):
                key = self.value(depth + 1)
                if not isinstance(key, (int, str, bytes)) or isinstance(key, bool):
                    self.fail("array key must be int or string")
                result[key] = self.value(depth + 1)
            self.expect(b"}")
            return result
        if tag[:1] in (b"O", b"C", b"r", b"R", b"E"):
            self.pos -= 2
            self.fail("objects, references and enums are not supported")
        self.pos -= 2
        self.fail("unknown type tag %r" % tag)
        return None  # not reached


def php_unserialize(data):
    """Parse PHP ``serialize()`` output (``bytes`` or ``str``) into Python values."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if not isinstance(data, (bytes, bytearray)):
        raise PHPSerializeError("PHP serialized data must be bytes or str, not %s" % type(data).__name__)
    reader = _Reader(bytes(data))
    value = reader.value()
    if reader.pos != len(reader.data):
        reader.fail("trailing data")
    return value


def php_array_to_list(value):
    """Return ``value`` as a list when it is a PHP list (dict keyed 0..N-1), else unchanged."""
    if isinstance(value, dict) and list(value.keys()) == list(range(len(value))):
        return [value[i] for i in range(len(value))]
    return value
