#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module: look sending IPs up in DNSBLs (controller side)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: dnsbl_check
short_description: Check sending IPs (and domains) against DNS block lists and compute standby/resume health
description:
  - Looks every IP up in every DNSBL zone (RFC 5782 query names; IPv6 as 32 nibbles; an IPv4-mapped
    IPv6 address such as C(::ffff:192.0.2.1) is checked as its IPv4) through the given nameservers
    only. The system resolver configuration is never used.
  - All lookups are in flight together on one UDP socket per nameserver (at most O(workers) at a time),
    each with O(attempts) tries within O(timeout); a truncated answer is asked again over TCP. A
    nameserver that refuses or answers nothing for O(timeout) is dead for the rest of the run - what it
    owes goes to the zone's next nameserver or ends C(unknown) at once, so a dead server costs one
    timeout, not one per lookup. O(deadline) bounds the whole check.
  - Interprets answers by the declared C(kind) of each O(zones) entry. A listing is an A answer in
    127.0.0.0/8 other than 127.0.0.1 (Spamhaus codes named SBL, CSS, XBL, DROP, PBL; DBL codes for
    domains). Whatever the kind, 127.0.0.1, answers outside 127/8 and the 127.255.255.0/24 band
    (Spamhaus error answers .252 typo, .254 public resolver, .255 over quota) are C(error), never
    listings. NXDOMAIN is C(clean). Timeouts, SERVFAIL, REFUSED and network errors are C(unknown),
    with C(cause) saying which; C(unknown) and C(error) never change the health state.
  - With O(previous_health), also returns the new health state (standby after a listing on a
    critical zone, resume after O(resume_after) consecutive clean checks) and the events.
  - Read-only (DNS queries only); always reports C(changed=false) and runs in check mode.
  - "Runs on the controller (C(delegate_to: localhost)); needs dnspython."
version_added: "0.1.0"
author: mailfleet maintainers (@mailfleet)
options:
  ips:
    description: Sending IP addresses (IPv4 or IPv6).
    type: list
    elements: str
    required: true
  domains:
    description:
      - Sending domains, looked up in the domain lists only (zones of kind C(spamhaus-dbl)); their
        listings are alerted, never a standby.
    type: list
    elements: str
    default: []
  zones:
    description:
      - DNSBL zones, as names or dicts with C(zone), C(kind), C(critical) (bool; a listing puts the IP on
        standby), C(codes) (answer to meaning), C(strict), C(dqs_zone), C(nameservers) (per-zone
        override, e.g. a local rbldnsd mirror), C(txt) (ask TXT for the reason of a listing), C(name).
      - C(kind) is C(spamhaus-zen) (Spamhaus ZEN/SBL/XBL/PBL, public, DQS or a mirror under any name),
        C(spamhaus-dbl) (Spamhaus DBL, a domain list), C(spamrats) or C(generic) (RFC 5782). The known
        real names get their kind by default (C(zen.spamhaus.org), C(dbl.spamhaus.org),
        C(KEY.zen.dq.spamhaus.net), ...); a kind that contradicts a known name is refused; other names
        default to C(generic). Declare C(kind) for a mirror.
      - Zone names must be valid host names. Prefer O(dqs_key) to writing a DQS key into a zone name.
      - Default is Spamhaus ZEN, Barracuda, SpamCop (critical), PSBL, Mailspike, SpamRATS,
        UCEPROTECT L1. SORBS is not used (shut down in 2024).
    type: list
    elements: raw
  nameservers:
    description:
      - Resolvers to query, in order of preference, as C(address) or C(address:port) (C([v6]:port) for
        IPv6). A lookup fails over to the next one when a server is dead or answers SERVFAIL/REFUSED.
      - Spamhaus refuses public resolvers (Cloudflare, Google, ...); use your own recursive resolver.
    type: list
    elements: str
    required: true
  dqs_key:
    description: Spamhaus Data Query Service key; Spamhaus zones are then queried as C(<key>.zen.dq.spamhaus.net).
    type: str
  timeout:
    description: Lifetime of one lookup in seconds (all its tries), and how long a nameserver may stay silent before it counts as dead.
    type: float
    default: 2.0
  attempts:
    description: Tries per lookup and nameserver within O(timeout).
    type: int
    default: 2
  workers:
    description: Lookups in flight at once (the concurrency window).
    type: int
    default: 256
  deadline:
    description: Seconds for the whole check; what is still open then is C(unknown). Default 4 timeouts + 10 ms per lookup.
    type: float
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

- name: Use a Spamhaus DQS key, a local ZEN mirror and the DBL for the sending domains
  mailfleet.fleet.dnsbl_check:
    ips: [192.0.2.10, "2001:db8::10"]
    domains: [news.example.com]
    nameservers: ["192.0.2.53", "192.0.2.54"]
    dqs_key: "{{ vault_spamhaus_dqs_key }}"
    zones:
      - {zone: zen.spamhaus.org, critical: true}
      - {zone: dbl.spamhaus.org}
      - {zone: zen.mirror.example.net, kind: spamhaus-zen, nameservers: ["192.0.2.60"]}
      - {zone: bl.spamcop.net, critical: true}
  delegate_to: localhost
"""

RETURN = r"""
results:
  description: One entry per IP (or domain, with C(domain) instead of C(ip)) and zone; C(cause) is set for C(unknown).
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
  description: Number of lookups, seconds, lookups per second, queries sent, retransmits, TCP retries, failovers, dead servers.
  returned: always
  type: dict
health:
  description: New health state C({"ips", "dns_auth", "domains", "updated"}) to pass as O(previous_health) next run.
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

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mailfleet.fleet.plugins.module_utils import dnsbl
from ansible_collections.mailfleet.fleet.plugins.module_utils.module_run import finish, require

ARGUMENT_SPEC = dict(
    ips=dict(type="list", elements="str", required=True),
    domains=dict(type="list", elements="str", default=[]),
    zones=dict(type="list", elements="raw"),
    nameservers=dict(type="list", elements="str", required=True),
    dqs_key=dict(type="str", no_log=True),
    timeout=dict(type="float", default=2.0),
    attempts=dict(type="int", default=2),
    workers=dict(type="int", default=256),
    deadline=dict(type="float"),
    previous_health=dict(type="dict"),
    resume_after=dict(type="int", default=3),
    run_id=dict(type="str"),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    require(module, ("dnspython", dnsbl.HAS_DNSPYTHON))
    finish(module, dnsbl.check_task, module.params)


if __name__ == "__main__":
    main()
