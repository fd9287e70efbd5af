# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Atomic files: every state, report, metric and config file mailfleet writes goes through here.

Standard library only (modules on PowerMTA hosts use it). A write goes to a temporary file in the
same directory, is flushed to disk, gets its mode (and, through ``prepare``, its owner), and then
replaces the target with one ``rename``: a reader sees the old file or the new one, never half of
one, and a crash leaves the old file in place.
"""
from __future__ import absolute_import, division, print_function

import os
import tempfile

__metaclass__ = type


def read_text(path):
    """The file's text, or None when it does not exist."""
    try:
        with open(path, "r", encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def parse_mode(value):
    """A mode given as an int (0o640) or an octal string ("0640")."""
    if isinstance(value, int):
        return value
    return int(str(value), 8)


def stage(path, data, mode, prepare=None, makedirs=False):
    """Write ``data`` (str or bytes) to a temporary file beside ``path`` and return its name.

    ``prepare(tmp)`` may set ownership before the caller renames it into place.
    """
    directory = os.path.dirname(os.path.abspath(path))
    if makedirs and not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        if prepare is not None:
            prepare(tmp)
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def replace(tmp, path):
    """Rename a staged file into place and make the rename durable."""
    os.replace(tmp, path)
    try:
        dfd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def atomic_write(path, data, mode=0o640, prepare=None, makedirs=False):
    """Replace ``path`` with ``data`` atomically."""
    tmp = stage(path, data, mode, prepare, makedirs)
    try:
        replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
