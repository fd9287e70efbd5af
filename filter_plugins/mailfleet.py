# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jinja2 filters over the fleet model. The logic lives in the mailfleet.fleet module_utils."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.mailfleet.fleet.plugins.module_utils import fleet, pmta_render


def mailfleet_pmta_config(model, host, caps, settings=None):
    """The PowerMTA configuration text of ``host``."""
    return pmta_render.render_config(model, host, caps, settings)


def mailfleet_dkim_keys(model, host, dkim_dir, base):
    """DKIM keys ``host`` needs, with ``src`` resolved against the inventory directory."""
    keys = pmta_render.host_dkim_keys(model, host, dkim_dir)
    for key in keys:
        if not os.path.isabs(key["src"]):
            key["src"] = os.path.join(base, key["src"])
    return keys


def mailfleet_pool_capacity(model, caps):
    """Capacity contract: tenant -> sum of today's caps of its active IPs."""
    return fleet.pool_capacity(model, caps)


def mailfleet_host_capacity(model, caps):
    """tenant -> host -> the part of the tenant's capacity carried by that host."""
    return fleet.host_capacity(model, caps)


def mailfleet_caps_table(model, caps):
    """A per-tenant table (one string): host, IP, VMTA, pool, today's cap, why."""
    rows = []
    capacity = fleet.pool_capacity(model, caps)
    for tenant in sorted(model["tenants"]):
        ips = sorted((ip for ip in model["ips"].values() if ip["tenant"] == tenant),
                     key=lambda ip: (ip["host"], ip["vmta"]))
        rows.append("tenant %s  pool %s  capacity today %d/day" % (tenant, model["tenants"][tenant]["pool"],
                                                                    capacity[tenant]))
        rows.append("  %-8s %-16s %-26s %-16s %8s  %s" % ("host", "ip", "vmta", "pool", "cap/day", "why"))
        for ip in ips:
            cap = caps.get(ip["address"], {})
            rows.append("  %-8s %-16s %-26s %-16s %8s  %s" % (
                ip["host"], ip["address"], ip["vmta"], ip["pool"],
                "standby" if cap.get("standby") else cap.get("daily", 0), cap.get("reason", "")))
    return "\n".join(rows) + "\n"


class FilterModule(object):
    def filters(self):
        return {
            "mailfleet_pmta_config": mailfleet_pmta_config,
            "mailfleet_dkim_keys": mailfleet_dkim_keys,
            "mailfleet_pool_capacity": mailfleet_pool_capacity,
            "mailfleet_host_capacity": mailfleet_host_capacity,
            "mailfleet_caps_table": mailfleet_caps_table,
        }
