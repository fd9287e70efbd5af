#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a rollout would change on a PowerMTA host, found by reading only (standard library only)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: rollout_probe
short_description: Find, in one read-only round trip, what a rollout would change on a PowerMTA host
description:
  - The first step of C(playbooks/steps/rollout.yml), run on every host in parallel. A host where
    RV(pending) is empty has nothing to roll out. A host with something in RV(deploy) (and every host
    whose probe failed or could not be reached) goes through the serial, halting deploy; a host where
    only RV(states) differ has its configuration live already, and its states are stored in parallel.
  - On the controller (the action plugin of the same name) the configuration is rendered through the
    deploy's own chokepoint (the C(pmta_config) action - host view, template, parse-back check) and
    digested, and so is every other file the rollout would write - the DKIM keys (read on the
    controller, decrypted when vaulted) and the state files it stores after the deploy (as
    M(mailfleet.fleet.host_state) would write them). Only digests, paths and modes reach the host.
  - On the host (Python standard library only; C(plugins/module_utils/rollout_probe.py)) it lists
    every difference - a reload owed (any reload journal at O(journal)), the configuration on disk
    not the rendered one, a temporary file an interrupted deploy left beside it, a directory, key or
    state file missing or with another content, mode, owner or group, the file for hand-written
    additions missing, a key the inventory no longer names. Anything it cannot read is a difference.
  - It never writes, never reloads and always reports C(changed=false) - the rollout that follows
    reports the changes, with their diffs.
version_added: "0.2.0"
author: mailfleet maintainers (@mailfleet)
options:
  render:
    description:
      - What to render, on the controller, exactly as for M(mailfleet.fleet.pmta_config) (consumed by the
        action plugin, never sent to the host); the action plugin requires it.
    type: dict
  path:
    description: The live PowerMTA configuration file.
    type: path
    default: /etc/pmta/config
  journal:
    description: The reload journal of M(mailfleet.fleet.pmta_config); a file there means a reload is owed.
    type: path
  keys:
    description:
      - The DKIM keys the deploy copies, each C(src) (on the controller; vault-encrypted keys are decrypted
        in memory) and C(dest) (on the host), as the role C(pmta_config) lists them (their other fields,
        C(domain), C(selector) and so on, are ignored). Consumed by the action plugin, which sends their
        digests.
    type: list
    elements: dict
    default: []
  key_mode:
    description: Mode of the deployed keys (checked when given).
    type: str
  key_owner:
    description: Owner of the deployed keys (checked when given).
    type: str
  key_group:
    description: Group of the deployed keys (checked when given).
    type: str
  states:
    description:
      - The state files the rollout stores after the deploy, each C(kind) (C(warmup) or C(health)),
        C(path), C(states) (IP -> state, as the planner returned them) and C(mode) (checked when given).
        Consumed by the action plugin, which sends the digest of the file M(mailfleet.fleet.host_state)
        would write.
    type: list
    elements: dict
    default: []
  dirs:
    description: Directories the rollout creates, each C(path) and C(mode), C(owner), C(group) (checked when given).
    type: list
    elements: dict
    default: []
  present:
    description: Files the rollout creates once and never changes (only their existence is checked).
    type: list
    elements: path
    default: []
  only:
    description:
      - Directories the rollout prunes, each C(dir), C(patterns) (shell patterns) and C(keep) (paths); a
        regular, non-hidden file matching a pattern and not kept is a difference.
    type: list
    elements: dict
    default: []
  config:
    description:
      - C(path) and C(sha256) of the rendered configuration, set by the action plugin from O(render);
        a task cannot give it.
    type: dict
  files:
    description:
      - C(path), C(sha256), C(what) and the attributes of every DKIM key, set by the action plugin from
        O(keys); a task cannot give it.
    type: list
    elements: dict
    default: []
  state_files:
    description:
      - C(path), C(sha256), C(what) and C(mode) of every state file, set by the action plugin from
        O(states); a task cannot give it.
    type: list
    elements: dict
    default: []
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: It only reads, in check mode or not.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
    details: The rollout that follows shows the diffs of what it changes.
seealso:
  - module: mailfleet.fleet.pmta_config
  - module: mailfleet.fleet.host_state
"""

EXAMPLES = r"""
- name: Find what the rollout would change here
  mailfleet.fleet.rollout_probe:
    render:
      model: "{{ hostvars['localhost']['mailfleet_model'] }}"
      caps: "{{ hostvars['localhost']['mailfleet_caps'] }}"
    path: /etc/pmta/config
    journal: /var/lib/mailfleet/pmta-reload.journal
    keys:
      - {src: files/dkim/example.com.s1.pem, dest: /etc/pmta/dkim/example.com.s1.pem}
    key_mode: "0640"
    key_group: pmta
    states:
      - kind: warmup
        path: /var/lib/mailfleet/warmup-state.json
        mode: "0640"
        states: "{{ hostvars['localhost']['mailfleet_states_by_host'][inventory_hostname] }}"
    dirs:
      - {path: /etc/pmta/dkim, mode: "0750", group: pmta}
    present: [/etc/pmta/local.conf]
    only:
      - {dir: /etc/pmta/dkim, patterns: ["*.pem"], keep: [/etc/pmta/dkim/example.com.s1.pem]}
  register: probe
"""

RETURN = r"""
pending:
  description: Every difference found, in the rollout's order; empty when the rollout has nothing to do here.
  returned: success
  type: list
  elements: str
  sample: ["reload owed since 2026-11-21T05:15:02+00:00 (reload journal /var/lib/mailfleet/pmta-reload.journal)",
           "configuration /etc/pmta/config: differs from the rendered one"]
deploy:
  description: The differences the deploy itself would change (all of RV(pending) but the state files).
  returned: success
  type: list
  elements: str
states:
  description: The state files storing the planned states would change.
  returned: success
  type: list
  elements: str
  sample: ["health state /var/lib/mailfleet/health-state.json: content differs"]
in_sync:
  description: Whether RV(pending) is empty.
  returned: success
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mailfleet.fleet.plugins.module_utils.rollout_probe import probe

ARGUMENT_SPEC = dict(
    render=dict(type="dict", no_log=True),  # the action plugin's, never the host's
    path=dict(type="path", default="/etc/pmta/config"),
    journal=dict(type="path"),
    # DKIM key files by path and SHA-256 digest only (the action plugin never sends a key), and
    # their mode and ownership: nothing secret, said explicitly.
    keys=dict(type="list", elements="dict", default=[], no_log=False),
    key_mode=dict(type="str", no_log=False),
    key_owner=dict(type="str", no_log=False),
    key_group=dict(type="str", no_log=False),
    states=dict(type="list", elements="dict", default=[]),
    files=dict(type="list", elements="dict", default=[]),
    state_files=dict(type="list", elements="dict", default=[]),
    dirs=dict(type="list", elements="dict", default=[]),
    present=dict(type="list", elements="path", default=[]),
    only=dict(type="list", elements="dict", default=[]),
    config=dict(type="dict"),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    if not module.params["config"]:
        module.fail_json(msg="rollout_probe: run it through its action plugin (config is set from render)")
    try:
        found = probe(module.params)
    except (KeyError, TypeError, ValueError) as exc:
        module.fail_json(msg="rollout_probe: malformed input (%s: %s)" % (type(exc).__name__, exc))
    pending = found["deploy"] + found["states"]
    module.exit_json(changed=False, pending=pending, in_sync=not pending, deploy=found["deploy"],
                     states=found["states"],
                     msg="nothing to roll out" if not pending else "%d thing(s) to roll out" % len(pending))


if __name__ == "__main__":
    main()
