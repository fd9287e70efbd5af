#!/usr/bin/env python3
"""MailWizz benchmarks against the stand-in (loopback, real HTTP).

* importing N subscribers (50,000; quick: 5,000): the toolkit's bulk import (≤ 10,000 a call)
  vs one POST per subscriber, in the same run - API calls and wall time;
* API calls made by a no-op run of playbooks/mailwizz.yml (target: reads only).
Rows: {"benchmark", "case", "metric", "value", "ratio"}; ``ratio`` = per-subscriber / bulk.
"""
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "collections"))

from ansible_collections.mailfleet.fleet.plugins.module_utils.mailwizz_api import (  # noqa: E402
    MailWizzClient)
from ansible_collections.mailfleet.fleet.plugins.module_utils import mailwizz_ops as ops  # noqa

LIST = {"general": {"name": "bench", "description": "bench"},
        "defaults": {"from_name": "Bench", "from_email": "bench@example.test",
                     "reply_to": "bench@example.test"}}


def _standin():
    spec = importlib.util.spec_from_file_location(
        "mailwizz_standin", os.path.join(ROOT, "tests", "standins", "mailwizz", "server.py"))
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("mailwizz_standin", mod)
    spec.loader.exec_module(mod)
    return mod


def _rows(n, prefix):
    return [{"EMAIL": "%s%06d@example.test" % (prefix, i), "FNAME": "N%d" % i,
             "tags": ["bench"]} for i in range(n)]


def bench_import(mod, n):
    rows = []
    st = mod.MailWizzStandin({"bench": {"api_key": "bench-key"}})
    st.start()
    try:
        client = MailWizzClient(st.url, api_key="bench-key")
        # bulk
        uid = client.create_list("bench-bulk", dict(LIST, general={"name": "bench-bulk",
                                                                   "description": "b"}))[0]
        uid = uid["general"]["list_uid"]
        st.reset_stats()
        calls0 = client.calls
        t0 = time.perf_counter()
        res = ops.import_subscribers(client, uid, _rows(n, "bulk"))
        bulk_time = time.perf_counter() - t0
        bulk_calls = client.calls - calls0
        assert res["created"] == n, res
        # one call per subscriber (plain POST, as a naive client would)
        uid2 = client.create_list("bench-single", dict(LIST, general={
            "name": "bench-single", "description": "s"}))[0]["general"]["list_uid"]
        calls0 = client.calls
        t0 = time.perf_counter()
        for row in _rows(n, "one"):
            client.request("POST", "lists/%s/subscribers" % uid2,
                           data={"EMAIL": row["EMAIL"], "FNAME": row["FNAME"],
                                 "details": {"status": "confirmed"}})
        single_time = time.perf_counter() - t0
        single_calls = client.calls - calls0
        # idempotent re-run of the bulk import: reads only
        calls0 = client.calls
        t0 = time.perf_counter()
        again = ops.import_subscribers(client, uid, _rows(n, "bulk"))
        rerun_time = time.perf_counter() - t0
        rerun_calls = client.calls - calls0
        assert again["created"] == 0 and again["skipped"] == n
    finally:
        st.stop()
    case = "import %d subscribers" % n
    rows.append({"benchmark": "mailwizz", "case": case + " (bulk)", "metric": "api_calls",
                 "value": bulk_calls, "ratio": round(single_calls / float(bulk_calls), 1)})
    rows.append({"benchmark": "mailwizz", "case": case + " (bulk)", "metric": "wall_s",
                 "value": round(bulk_time, 2), "ratio": round(single_time / bulk_time, 1)})
    rows.append({"benchmark": "mailwizz", "case": case + " (1 call/subscriber)",
                 "metric": "api_calls", "value": single_calls, "ratio": 1.0})
    rows.append({"benchmark": "mailwizz", "case": case + " (1 call/subscriber)",
                 "metric": "wall_s", "value": round(single_time, 2), "ratio": 1.0})
    rows.append({"benchmark": "mailwizz", "case": case + " (bulk re-run, no change)",
                 "metric": "api_calls", "value": rerun_calls, "ratio": None})
    rows.append({"benchmark": "mailwizz", "case": case + " (bulk re-run, no change)",
                 "metric": "wall_s", "value": round(rerun_time, 2), "ratio": None})
    return rows


def bench_noop_playbook(mod, n_lists):
    st = mod.MailWizzStandin({"acme": {"api_key": "acme-bench-key"},
                              "globex": {"api_key": "globex-bench-key"}})
    st.start()
    tmp = tempfile.mkdtemp(prefix="bench-mailwizz-")
    try:
        extra = {"mailfleet_mailwizz_instances": {"mw1": {"url": st.url,
                                                          "api_key": "acme-bench-key"}},
                 "mailfleet_tenants": {
                     "acme": {"mailwizz": "mw1", "from_name": "Acme",
                              "from_email": "news@acme.example",
                              "mailwizz_lists": [{"name": "acme-%d" % i}
                                                 for i in range(n_lists)]},
                     "globex": {"mailwizz": "mw1", "from_name": "Globex",
                                "from_email": "news@globex.example",
                                "mailwizz_auth": {"api_key": "globex-bench-key"},
                                "mailwizz_lists": [{"name": "globex-%d" % i}
                                                   for i in range(n_lists)]}}}
        # mailwizz.yml validates the fleet first: a valid inventory (one PowerMTA host, an IP
        # and a sending domain per tenant), as the MailWizz integration tests build it
        sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
        from mailwizz_helpers import complete_tenants, inventory
        import pathlib
        extra = complete_tenants(extra)
        vars_file = os.path.join(tmp, "vars.json")
        with open(vars_file, "w") as handle:
            json.dump(extra, handle)
        inv = inventory(pathlib.Path(tmp), extra["mailfleet_tenants"].keys())
        env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
                   ANSIBLE_LOCAL_TEMP=os.path.join(tmp, "t"),
                   ANSIBLE_HOME=os.path.join(tmp, "h"),
                   PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
        cmd = ["ansible-playbook", "-i", inv, "playbooks/mailwizz.yml", "-e", "@" + vars_file]
        subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True)
        st.reset_stats()
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True)
        wall = time.perf_counter() - t0
        total = st.api_calls()
        writes = sum(st.api_calls(m) for m in ("POST", "PUT", "DELETE"))
    finally:
        st.stop()
    case = "no-op mailwizz.yml (2 tenants x %d lists)" % n_lists
    return [{"benchmark": "mailwizz", "case": case, "metric": "api_calls", "value": total,
             "ratio": None},
            {"benchmark": "mailwizz", "case": case, "metric": "write_calls", "value": writes,
             "ratio": None},
            {"benchmark": "mailwizz", "case": case, "metric": "wall_s",
             "value": round(wall, 2), "ratio": None}]


def run(quick=False):
    mod = _standin()
    rows = bench_import(mod, 5000 if quick else 50000)
    rows += bench_noop_playbook(mod, 3 if quick else 10)
    return rows


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    for row in run(quick=quick):
        print("%-10s %-50s %-12s %12s %8s" % (row["benchmark"], row["case"], row["metric"],
                                             row["value"], row["ratio"]))
