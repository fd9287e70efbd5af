#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Ansible module: look sending IPs up in DNSBLs (controller side)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: dnsbl_check
short_description: Check sending IPs against DNS block lists and compute standby/resume health
description:
  - Looks every IP up in every DNSBL zone concurrently (RFC 5782 query names; IPv6 as 32 nibbles)
    through the given nameservers only. The system resolver configuration is never used.
  - Interprets answers per list. A listing is an A answer in 127.0.0.0/8 other than 127.0.0.1
    (Spamhaus codes named SBL, CSS, XBL, DROP, PBL). Spamhaus 127.255.255.x error codes, 127.0.0.1 and
    answers outside 127/8 are C(error), never listings. NXDOMAIN is C(clean). Timeouts, SERVFAIL and
    REFUSED are C(unknown).
  - With O(previous_health), also returns the new health state (standby after a listing on a
    critical zone, resume after O(resume_after) consecutive clean checks) and the events.
  - Read-only (DNS queries only); always reports C(changed=false) and runs in check mode.
  - "Runs on the controller (C(delegate_to: localhost)); needs dnspython."
version_added: "0.1.0"
author: mailfleet
options:
  ips:
    description: Sending IP addresses (IPv4 or IPv6).
    type: list
    elements: str
    required: true
  zones:
    description:
      - DNSBL zones, as names or dicts with C(zone), C(critical) (bool; a listing puts the IP on
        standby), C(kind) (C(generic), C(spamhaus), C(spamrats)), C(codes) (answer → meaning),
        C(strict), C(dqs_zone), C(nameservers) (per-zone override), C(txt).
      - Default is Spamhaus ZEN, Barracuda, SpamCop (critical), PSBL, Mailspike, SpamRATS,
        UCEPROTECT L1. SORBS is not used (shut down in 2024).
    type: list
    elements: raw
  nameservers:
    description:
      - Resolvers to query, as C(address) or C(address:port) (C([v6]:port) for IPv6).
      - Spamhaus refuses public resolvers (Cloudflare, Google, ...); use your own recursive resolver.
    type: list
    elements: str
    required: true
  dqs_key:
    description: Spamhaus Data Query Service key; Spamhaus zones are then queried as C(<key>.zen.dq.spamhaus.net).
    type: str
  timeout:
    description: Lifetime of one lookup in seconds.
    type: float
    default: 2.0
  workers:
    description: Concurrent lookups.
    type: int
    default: 64
  engine:
    description: C(threads) (measured fastest), C(async) (dnspython asyncio) or C(serial).
    type: str
    choices: [threads, async, serial]
    default: threads
  previous_health:
    description: Previous health state (C(health) from an earlier run); enables standby/resume evaluation.
    type: dict
  resume_after:
    description: Consecutive clean checks on every critical zone before an IP on standby resumes.
    type: int
    default: 3
  run_id:
    description: Timestamp of this run (episode start in event ids). Defaults to the current UTC time.
    type: str
notes:
  - Supports check mode (the lookups are read-only).
"""

EXAMPLES = r"""
- name: Check the fleet's IPs
  mailfleet.fleet.dnsbl_check:
    ips: "{{ mailfleet_ips | map(attribute='address') | list }}"
    nameservers: ["127.0.0.1:53"]
    previous_health: "{{ health_state | default({}) }}"
  delegate_to: localhost
  register: dnsbl

- name: Use a Spamhaus DQS key and only two lists
  mailfleet.fleet.dnsbl_check:
    ips: [192.0.2.10, "2001:db8::10"]
    nameservers: ["192.0.2.53"]
    dqs_key: "{{ vault_spamhaus_dqs_key }}"
    zones:
      - {zone: zen.spamhaus.org, critical: true}
      - {zone: bl.spamcop.net, critical: true}
  delegate_to: localhost
"""

RETURN = r"""
results:
  description: One entry per IP and zone.
  returned: always
  type: list
  elements: dict
  sample: [{"zone": "zen.spamhaus.org", "name": "Spamhaus ZEN", "ip": "192.0.2.10", "critical": true,
            "status": "listed", "code": "127.0.0.2", "codes": ["127.0.0.2"],
            "meaning": "SBL: Spamhaus SBL data", "reason": "https://check.spamhaus.org/..."}]
summary:
  description: Counts per status and per-IP lists of listed/critical/unknown/error zones.
  returned: always
  type: dict
stats:
  description: Number of lookups, seconds and lookups per second.
  returned: always
  type: dict
health:
  description: New health state C({"ips", "dns_auth", "updated"}) to pass as O(previous_health) next run.
  returned: when previous_health is given
  type: dict
planner_health:
  description: "C({ip: {standby, reason, listed}}) for the warmup planner."
  returned: when previous_health is given
  type: dict
events:
  description: new_listing, standby, resume, delisted events, each with a stable C(id).
  returned: when previous_health is given
  type: list
  elements: dict
"""

import datetime

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.mailfleet.fleet.plugins.module_utils import dnsbl, health


def main():
    module = AnsibleModule(
        argument_spec=dict(
            ips=dict(type="list", elements="str", required=True),
            zones=dict(type="list", elements="raw"),
            nameservers=dict(type="list", elements="str", required=True),
            dqs_key=dict(type="str", no_log=True),
            timeout=dict(type="float", default=2.0),
            workers=dict(type="int", default=64),
            engine=dict(type="str", choices=["threads", "async", "serial"], default="threads"),
            previous_health=dict(type="dict"),
            resume_after=dict(type="int", default=3),
            run_id=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    if not dnsbl.HAS_DNSPYTHON:
        module.fail_json(msg=missing_required_lib("dnspython"))
    p = module.params
    try:
        zones = dnsbl.normalize_zones(p["zones"])
        results, stats = dnsbl.check(p["ips"], zones, p["nameservers"], timeout=p["timeout"],
                                     dqs_key=p["dqs_key"], workers=p["workers"], engine=p["engine"])
    except dnsbl.DNSBLConfigError as exc:
        module.fail_json(msg="dnsbl_check: invalid configuration: %s" % exc)
    out = dict(changed=False, results=results, summary=dnsbl.summarize(results), stats=stats)
    if p["previous_health"] is not None:
        run_id = p["run_id"] or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        try:
            state, events = health.evaluate(p["previous_health"], results, zones, run_id,
                                            resume_after=p["resume_after"])
        except (ValueError, KeyError, TypeError) as exc:
            module.fail_json(msg="dnsbl_check: evaluating previous_health failed: %s" % exc)
        out.update(health=state, planner_health=health.planner_view(state), events=events)
    module.exit_json(**out)


if __name__ == "__main__":
    main()
