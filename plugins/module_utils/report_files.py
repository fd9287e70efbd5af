# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The run of ``mailfleet.fleet.mailfleet_report``: the report's files on disk.

:mod:`report` builds and renders the report (pure, no I/O); this module reads the caps history,
decides which files change and writes them atomically (:func:`report_task`). Plain Python: the
module's parameters in, its result out, or :class:`~module_run.ModuleFailure` with a message that
names the file (or option) and the operation. Standard library only.
"""
from __future__ import absolute_import, division, print_function

import json
import os

from ansible_collections.mailfleet.fleet.plugins.module_utils import report as rp
from ansible_collections.mailfleet.fleet.plugins.module_utils.atomic import atomic_write, parse_mode, read_text
from ansible_collections.mailfleet.fleet.plugins.module_utils.module_run import ModuleFailure

__metaclass__ = type

_NAME = "mailfleet_report"


def _fail(message, **result):
    return ModuleFailure("%s: %s" % (_NAME, message), **result)


def checked_options(params):
    """``(mode, date)`` of the module's options: the file mode as an int and the report date
    (option ``date``, else ``plan_report.date``) as ``YYYY-MM-DD``; ModuleFailure when the mode is
    not octal, ``kind`` cannot be part of a file name, ``days``/``keep_days`` are out of range or
    the date is not a date."""
    try:
        mode = parse_mode(params["mode"])
    except ValueError:
        raise _fail("mode %r is not an octal permission" % (params["mode"],))
    kind = params["kind"]
    if not kind or "/" in kind or kind.startswith("."):
        raise _fail("kind %r cannot be used in a file name" % kind)
    if params["days"] < 1 or params["keep_days"] < params["days"]:
        raise _fail("days must be >= 1 and keep_days >= days (got %d, %d)" % (params["days"], params["keep_days"]))
    date = params["date"] or params["plan_report"].get("date")
    try:
        date = rp._date(date).isoformat()
    except (TypeError, ValueError):
        raise _fail("the report date %r is not YYYY-MM-DD (option date or plan_report.date)" % (date,))
    return mode, date


def report_outputs(params, date, history_file, history):
    """``(report, markdown, outputs)``: the report of ``date`` and the ``[(path, text)]`` of every
    file it is written to, in order - Markdown, HTML, ``latest.html`` (as ``formats``/``latest``
    ask), then the caps history with today's caps."""
    plan = dict(params["plan_report"], date=date)
    directory, kind = params["dir"], params["kind"]
    try:
        report = rp.build_report(params["model"], plan, params["ledgers"], params["health"], history, date,
                                 params["days"], kind)
        markdown = rp.render_markdown(report)
        outputs = []
        base = os.path.join(directory, "%s-%s" % (kind, date))
        if "md" in params["formats"]:
            outputs.append((base + ".md", markdown))
        if "html" in params["formats"]:
            page = rp.render_html(report)
            outputs.append((base + ".html", page))
            if params["latest"]:
                outputs.append((os.path.join(directory, "latest.html"), page))
        outputs.append((history_file, rp.dump_history(rp.update_history(history, plan, params["keep_days"]))))
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:  # input of the wrong shape
        raise _fail("cannot build the %s report of %s: %s" % (kind, date, exc))
    return report, markdown, outputs


def changed_outputs(outputs, known):
    """``(changed_paths, diffs)``: the outputs whose file differs from its text (``known`` maps a
    path to its already-read content), and a diff for each changed non-HTML file."""
    changed, diffs = [], []
    for path, text in outputs:
        try:
            before = known[path] if path in known else read_text(path)
        except OSError as exc:
            raise _fail("cannot read %s: %s" % (path, exc.strerror or exc))
        if before == text:
            continue
        changed.append(path)
        if not path.endswith(".html"):
            diffs.append({"before": before or "", "after": text, "before_header": path, "after_header": path})
    return changed, diffs


def write_outputs(outputs, changed, mode):
    """Write each changed output atomically (its directory created when missing)."""
    for path, text in outputs:
        if path not in changed:
            continue
        try:
            parent = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(parent):
                os.makedirs(parent, 0o755)
            atomic_write(path, text, mode)
        except OSError as exc:
            raise _fail("cannot write %s: %s" % (path, exc.strerror or exc), changed_files=changed)


def report_task(params, check_mode=False, diff=False):
    """The run of ``mailfleet.fleet.mailfleet_report``: ``params`` are its options. Builds the
    report, writes the files that change (none in check mode) and returns the module's result
    (``diff``: a list of the changed Markdown/history files' before and after)."""
    mode, date = checked_options(params)
    history_file = params["history_file"] or os.path.join(params["dir"], "history.json")
    try:
        history_before = read_text(history_file)
        history = rp.load_history(history_before)
    except (OSError, ValueError) as exc:
        raise _fail("cannot read the caps history %s: %s" % (history_file, getattr(exc, "strerror", None) or exc))
    report, markdown, outputs = report_outputs(params, date, history_file, history)
    changed, diffs = changed_outputs(outputs, {history_file: history_before})
    if changed and not check_mode:
        write_outputs(outputs, changed, mode)
    result = dict(changed=bool(changed), files=[o[0] for o in outputs], changed_files=changed,
                  totals=json.loads(json.dumps(report["totals"])), markdown=markdown)
    if diff:
        result["diff"] = diffs
    return result
