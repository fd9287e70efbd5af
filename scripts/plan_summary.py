#!/usr/bin/env python3
"""Turn the JSON records of check-mode runs (callback mailfleet.fleet.mailfleet_plan) into one plan.

    scripts/plan_summary.py [--title TEXT] [--markdown] [--detailed-exitcode] RUN.json [RUN.json ...]

Prints, per playbook and per host, what the run would change (task, item and diff) or
"no changes", then a one-line summary. A playbook whose JSON is missing (the run died before its
end) or that recorded failures is reported as an error.

Exit status: 0 when the plan could be made (1 on errors). With --detailed-exitcode (as
``terraform plan``): 0 no changes, 2 changes, 1 errors.
"""
from __future__ import absolute_import, division, print_function

import argparse
import json
import os
import sys


def load(path):
    try:
        with open(path) as fh:
            return json.load(fh), None
    except (OSError, ValueError) as exc:
        return None, "no plan record (%s): the run stopped before its end; see its log" % (
            getattr(exc, "strerror", None) or exc)


def indent(text, prefix):
    return "\n".join((prefix + line) if line else line for line in text.rstrip("\n").splitlines())


def summarize(paths, title=None, markdown=False):
    """-> (text, n_changes, n_errors)."""
    out = []
    n_changes = n_errors = 0
    changed_hosts, clean_hosts = [], []
    fence = "```"
    if title:
        out += ["# " + title if markdown else title, ""]
    for path in paths:
        doc, err = load(path)
        name = (doc or {}).get("playbook") or os.path.splitext(os.path.basename(path))[0]
        name = os.path.relpath(name) if os.path.isabs(name) and name.startswith(os.getcwd()) else name
        out.append(("## %s" if markdown else "=== %s ===") % name)
        if err:
            n_errors += 1
            out += ["ERROR: " + err, ""]
            continue
        if doc.get("check_mode") is False:
            out.append("WARNING: this run was not in check mode: the changes below were APPLIED")
        by_host = {}
        for ch in doc.get("changes") or []:
            by_host.setdefault(ch["host"], []).append(ch)
        for fail in doc.get("failures") or []:
            n_errors += 1
            out.append("ERROR on %s, task %r (%s): %s" % (fail["host"], fail["task"], fail["kind"], fail["msg"]))
        hosts = sorted(set(doc.get("hosts") or {}) | set(by_host))
        for host in hosts:
            changes = by_host.get(host, [])
            if not changes:
                out.append(("- **%s**: no changes" if markdown else "%s: no changes") % host)
                clean_hosts.append(host)
                continue
            changed_hosts.append(host)
            n_changes += len(changes)
            out.append(("- **%s**: %d change(s)" if markdown else "%s: %d change(s)") % (host, len(changes)))
            for ch in changes:
                label = "%s%s" % (ch["task"], " [%s]" % ch["item"] if ch.get("item") else "")
                out.append("    ~ %s  (%s, play %s)" % (label, ch.get("action") or "?", ch.get("play") or "?"))
                if ch.get("diff"):
                    if markdown:
                        out += ["", "    " + fence + "diff", indent(ch["diff"], "    "), "    " + fence, ""]
                    else:
                        out.append(indent(ch["diff"], "        "))
                else:
                    out.append("        (changed; the module reports no diff)")
        out.append("")
    if n_errors:
        summary = "Plan incomplete: %d error(s)." % n_errors
    elif n_changes:
        summary = "Plan: %d change(s) on %s; no changes on %s." % (
            n_changes, ", ".join(sorted(set(changed_hosts))),
            ", ".join(sorted(set(clean_hosts) - set(changed_hosts))) or "no other host")
    else:
        summary = "Plan: no changes."
    out.append(("**%s**" if markdown else "%s") % summary)
    return "\n".join(out) + "\n", n_changes, n_errors


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("records", nargs="+", help="JSON files written by the mailfleet_plan callback")
    ap.add_argument("--title")
    ap.add_argument("--markdown", action="store_true", help="Markdown (for a pull-request comment)")
    ap.add_argument("--detailed-exitcode", action="store_true")
    args = ap.parse_args(argv)
    text, n_changes, n_errors = summarize(args.records, args.title, args.markdown)
    sys.stdout.write(text)
    if n_errors:
        return 1
    if args.detailed_exitcode and n_changes:
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
