# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Jinja2 filters over the fleet model. The logic lives in the mailfleet.fleet module_utils."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.mailfleet.fleet.plugins.module_utils import capacity, health, pmta_render


def mailfleet_dkim_keys(model, host, dkim_dir, base):
    """DKIM keys ``host`` needs, with ``src`` resolved against the inventory directory."""
    keys = pmta_render.host_dkim_keys(model, host, dkim_dir)
    for key in keys:
        if not os.path.isabs(key["src"]):
            key["src"] = os.path.join(base, key["src"])
    return keys


def mailfleet_caps_table(model, caps):
    """A per-tenant table (one string): host, IP, VMTA, pool, stage, today's cap, why."""
    rows = []
    pool = capacity.pool_capacity(model, caps)
    line = "  %-8s %-16s %-26s %-16s %5s %8s  %s"
    for tenant in sorted(model["tenants"]):
        ips = sorted((ip for ip in model["ips"].values() if ip["tenant"] == tenant),
                     key=lambda ip: (ip["host"], ip["vmta"]))
        rows.append("tenant %s  pool %s  capacity today %d/day" % (
            tenant, model["tenants"][tenant]["pool"], pool.get(tenant, 0)))
        rows.append(line % ("host", "ip", "vmta", "pool", "stage", "cap/day", "why"))
        for ip in ips:
            cap = caps.get(ip["address"], {})
            stage = cap.get("stage")
            shown = ("unreachable" if cap.get("unreachable") else "standby" if cap.get("standby")
                     else capacity.effective_daily(cap))
            rows.append(line % (
                ip["host"], ip["address"], ip["vmta"], ip["pool"], "-" if cap.get("unreachable") else
                "warm" if stage is None else stage, shown, cap.get("reason", "")))
    return "\n".join(rows) + "\n"


def mailfleet_observed(model, hostvars, key, fact="fleet_state_observed"):
    """Merge one kind of observed state (warmup, health, ledger) over the hosts: {ip: value}."""
    merged = {}
    for host, hinfo in sorted(model["hosts"].items()):
        observed = hostvars[host].get(fact) if host in hostvars else None
        values = (observed or {}).get(key) or {}
        for ip in hinfo["ips"]:
            if ip["address"] in values:
                merged[ip["address"]] = values[ip["address"]]
    return merged


def mailfleet_by_host(model, per_ip):
    """Split {ip: value} into {host: {ip: value}} along the fleet model (every host present)."""
    return {host: {ip["address"]: per_ip[ip["address"]] for ip in hinfo["ips"] if ip["address"] in per_ip}
            for host, hinfo in sorted(model["hosts"].items())}


def mailfleet_auth_targets(model, base):
    """What the DNS authentication audit checks: every tenant domain (selector, key file on the
    controller, the tenant's IPs) and every IP with the host name its PTR must give."""
    domains = []
    for name, tenant in sorted(model["tenants"].items()):
        addresses = sorted(ip["address"] for ip in model["ips"].values() if ip["tenant"] == name)
        for dom in tenant["domains"]:
            key = dom["dkim_key_file"]
            domains.append({"name": dom["name"], "dkim_selector": dom["dkim_selector"],
                            "dkim_key_file": key if os.path.isabs(key) else os.path.join(base, key),
                            "ips": addresses})
    ips = [{"address": ip["address"], "hostname": ip["hostname"]} for _a, ip in sorted(model["ips"].items())]
    return {"domains": domains, "ips": ips}


def mailfleet_sent_on(model, ledgers, day):
    """{tenant: messages attempted on ``day``} from the merged ledger (capacity.tenant_attempted)."""
    return capacity.tenant_attempted(model, ledgers, day)


def mailfleet_fcrdns_gate(ips, audit_results, warmup_states, enabled=True):
    """Health per IP with new IPs whose FCrDNS is broken held out of service (health.fcrdns_gate)."""
    return health.fcrdns_gate(ips, audit_results, warmup_states, enabled)


def mailfleet_planner_health(ips):
    """Health per IP -> the warmup planner's input {ip: {standby, reason, listed}}."""
    return health.planner_view(ips)


class FilterModule(object):
    def filters(self):
        return {
            "mailfleet_dkim_keys": mailfleet_dkim_keys,
            "mailfleet_caps_table": mailfleet_caps_table,
            "mailfleet_observed": mailfleet_observed,
            "mailfleet_by_host": mailfleet_by_host,
            "mailfleet_auth_targets": mailfleet_auth_targets,
            "mailfleet_sent_on": mailfleet_sent_on,
            "mailfleet_fcrdns_gate": mailfleet_fcrdns_gate,
            "mailfleet_planner_health": mailfleet_planner_health,
        }
