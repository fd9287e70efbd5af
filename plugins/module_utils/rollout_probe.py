# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a rollout would change on one PowerMTA host, found by reading only.

Standard library only: it runs on the PowerMTA host inside the ``rollout_probe`` module. The
controller (the action plugin of the same name) renders the configuration and digests every file
the rollout would write; this compares them with what the host holds and lists every difference.
An empty list means the rollout has nothing to do there: the configuration on disk is the
rendered one, no reload is owed (no reload journal), the DKIM keys, directories and state files
are what the rollout would make them, no key is left to prune and no temporary file of an
interrupted deploy is left to sweep. Anything that cannot be read counts as a difference (the
host then takes the full, serial deploy path, which says what is wrong). Nothing is written.

``spec`` (see :func:`pending`)::

    {"config": {"path", "sha256"},           # the live PowerMTA configuration
     "journal": path,                         # the reload journal: present = a reload is owed
     "files": [{"path", "sha256", "mode", "owner", "group", "what"}],   # DKIM keys
     "state_files": [{"path", "sha256", "mode", "what"}],               # stored after the deploy
     "dirs": [{"path", "mode", "owner", "group"}],
     "present": [path],                       # created once, never changed (local.conf)
     "only": [{"dir", "patterns", "keep"}]}   # files matching there and not kept are pruned

``mode`` is an octal string or int (None: not checked); ``owner``/``group`` names or ids
(None or "": not checked).
"""
from __future__ import absolute_import, division, print_function

import errno
import fnmatch
import grp
import hashlib
import json
import os
import pwd
import stat

__metaclass__ = type

CHUNK = 1024 * 1024


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _mode(value):
    if value in (None, ""):
        return None
    return value if isinstance(value, int) else int(str(value), 8)


def _ids(owner, group):
    """(uid or None, gid or None, problems) for the names or ids given."""
    problems = []

    def one(value, lookup, kind):
        if value in (None, ""):
            return None
        if str(value).isdigit():
            return int(value)
        try:
            return lookup(str(value))
        except KeyError:
            problems.append("%s %s does not exist on this host" % (kind, value))
            return None
    return (one(owner, lambda n: pwd.getpwnam(n).pw_uid, "owner"),
            one(group, lambda n: grp.getgrnam(n).gr_gid, "group"), problems)


def _why(exc):
    return exc.strerror or str(exc)


def _attributes(path, st, want_mode, owner, group, what):
    """Differences in mode, owner and group of an existing file or directory."""
    out = []
    mode = _mode(want_mode)
    if mode is not None and stat.S_IMODE(st.st_mode) != mode:
        out.append("%s %s: mode %04o, the rollout makes it %04o" % (what, path, stat.S_IMODE(st.st_mode), mode))
    uid, gid, problems = _ids(owner, group)
    out.extend("%s %s: %s" % (what, path, p) for p in problems)
    if uid is not None and st.st_uid != uid:
        out.append("%s %s: owner uid %d, the rollout makes it %s" % (what, path, st.st_uid, owner))
    if gid is not None and st.st_gid != gid:
        out.append("%s %s: group gid %d, the rollout makes it %s" % (what, path, st.st_gid, group))
    return out


def _config(spec):
    path, want = spec["path"], spec["sha256"]
    try:
        have = sha256_file(path)
    except (IOError, OSError) as exc:
        if exc.errno == errno.ENOENT:
            return ["configuration %s: missing" % path]
        return ["configuration %s: cannot be read: %s" % (path, _why(exc))]
    return [] if have == want else ["configuration %s: differs from the rendered one" % path]


def _journal(path):
    if not path:
        return []
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except (IOError, OSError) as exc:
        if exc.errno == errno.ENOENT:
            return []
        return ["reload journal %s: cannot be read (%s): a reload may be owed" % (path, _why(exc))]
    try:
        since = json.loads(data.decode("utf-8")).get("since")
    except (ValueError, AttributeError):
        since = None
    return ["reload owed since %s (reload journal %s)" % (since or "an earlier run", path)]


def _file(spec):
    path, what = spec["path"], spec.get("what") or "file"
    try:
        st = os.stat(path)
        have = sha256_file(path)
    except (IOError, OSError) as exc:
        if exc.errno == errno.ENOENT:
            return ["%s %s: missing" % (what, path)]
        return ["%s %s: cannot be read: %s" % (what, path, _why(exc))]
    out = [] if have == spec["sha256"] else ["%s %s: content differs" % (what, path)]
    return out + _attributes(path, st, spec.get("mode"), spec.get("owner"), spec.get("group"), what)


def _dir(spec):
    path = spec["path"]
    try:
        st = os.stat(path)
    except (IOError, OSError) as exc:
        if exc.errno == errno.ENOENT:
            return ["directory %s: missing" % path]
        return ["directory %s: cannot be read: %s" % (path, _why(exc))]
    if not stat.S_ISDIR(st.st_mode):
        return ["directory %s: not a directory" % path]
    return _attributes(path, st, spec.get("mode"), spec.get("owner"), spec.get("group"), "directory")


def _present(path):
    return [] if os.path.lexists(path) else ["file %s: missing" % path]


def _only(spec):
    """Regular, non-hidden files matching the patterns in ``dir`` that are not kept (what the
    role's prune step removes); a missing directory holds none."""
    directory, keep = spec["dir"], set(spec.get("keep") or [])
    try:
        names = sorted(os.listdir(directory))
    except (IOError, OSError) as exc:
        if exc.errno == errno.ENOENT:
            return []
        return ["directory %s: cannot be listed: %s" % (directory, _why(exc))]
    out = []
    for name in names:
        path = os.path.join(directory, name)
        if name.startswith(".") or path in keep or not any(fnmatch.fnmatch(name, p) for p in spec["patterns"]):
            continue
        try:
            regular = stat.S_ISREG(os.lstat(path).st_mode)
        except OSError:
            continue
        if regular:
            out.append("%s: no longer used, the rollout removes it" % path)
    return out


def _leftovers(config_path):
    """Temporary files an interrupted deploy left beside the configuration (the deploy sweeps them)."""
    directory = os.path.dirname(config_path) or "/"
    prefix = "." + os.path.basename(config_path) + "."
    try:
        names = sorted(os.listdir(directory))
    except (IOError, OSError):
        return []
    return ["%s: temporary file of an interrupted deploy, the deploy removes it" % os.path.join(directory, n)
            for n in names if n.startswith(prefix) and n.endswith(".tmp")]


def probe(spec):
    """The differences between the host and what the rollout would make of it, in the rollout's
    order: ``{"deploy": [...], "states": [...]}``. ``deploy`` is what the deploy itself would
    change (reload owed, directories, configuration, keys, the local file, keys to prune): a host
    with any of it takes the serial, halting deploy path. ``states`` is what only storing the
    states would change (``state_files``): where the deploy has nothing to do, the configuration
    the states belong with is already live and they can be stored at once."""
    deploy = []
    deploy.extend(_journal(spec.get("journal")))
    for item in spec.get("dirs") or []:
        deploy.extend(_dir(item))
    if spec.get("config"):
        deploy.extend(_config(spec["config"]))
        deploy.extend(_leftovers(spec["config"]["path"]))
    for item in spec.get("files") or []:
        deploy.extend(_file(item))
    for path in spec.get("present") or []:
        deploy.extend(_present(path))
    for item in spec.get("only") or []:
        deploy.extend(_only(item))
    states = []
    for item in spec.get("state_files") or []:
        states.extend(_file(item))
    return {"deploy": deploy, "states": states}


def pending(spec):
    """Every difference (:func:`probe`'s deploy, then states); an empty list = nothing to do there."""
    found = probe(spec)
    return found["deploy"] + found["states"]
