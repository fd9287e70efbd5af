#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Safe deploy of a PowerMTA configuration: check, back up, swap atomically, reload, roll back."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: pmta_config
short_description: Deploy a PowerMTA configuration safely (check, swap, reload, roll back)
description:
  - Writes the new configuration next to the live one, checks it with mailfleet's own PowerMTA
    configuration checker (balanced blocks, directives known to the PowerMTA v5.0 guide, IP and host
    syntax, pool members, smtp-user sources, DKIM key files, included files), backs up the live file,
    replaces it atomically (rename in the same directory) and runs C(pmta reload).
  - PowerMTA's exit codes are not documented, so the reload output is read; success is the line
    C(Configuration reloaded.). When the reload fails, hangs past O(reload_timeout) or answers
    something else, the previous configuration is put back and reloaded, and the task fails with
    PowerMTA's message.
  - Before the swap the host records that a reload is owed, in the reload journal O(journal); the
    mark is removed only once PowerMTA confirms. A run that finds the mark (left by a crash, a lost
    host, a reload that never answered) first reloads the file on disk, or puts the previous one
    back if PowerMTA refuses it, and says so in RV(settled); it never reports C(ok) while a reload
    is owed, even when the file already equals the new content.
  - RV(live) says what PowerMTA runs afterwards, also when the task fails.
  - One deploy at a time per host. The task holds an exclusive lock (O(journal) with C(.lock)
    appended) and waits up to twice O(reload_timeout) plus a minute for another deploy (a
    concurrent C(warmup.yml) and C(health.yml), for example); check mode takes no lock.
  - Nothing is written when the content is unchanged and nothing is owed, or in check mode. In diff
    mode the diff shows the configuration with SMTP passwords masked.
  - The configuration is made on the controller by the action plugin of the same name, from
    O(render) -- host view, template with typed filters, parse-back check -- and only a text that
    holds exactly the host view is sent to the host (as O(content)). The module itself runs on the
    PowerMTA host; Python standard library only. The deploy sequence lives in
    C(plugins/module_utils/pmta_deploy.py).
version_added: "0.1.0"
author: mailfleet maintainers (@mailfleet)
options:
  path:
    description: The live PowerMTA configuration file.
    type: path
    default: /etc/pmta/config
  render:
    description:
      - What to render, on the controller (consumed by the action plugin, never sent to the host)
        with the keys C(model) (the fleet model), C(caps) (today's caps per IP), C(settings) (the
        role's settings), C(host) (default the inventory host), C(template) (path of the Jinja2
        template), C(roots) and C(host_paths) (path variables the role uses on the host, checked
        before anything is created there).
      - The action plugin requires it; the module never receives it.
    type: dict
  render_only:
    description: Render and check on the controller only; nothing is sent to the host.
    type: bool
    default: false
  content:
    description:
      - The configuration text, set by the action plugin from O(render) after its checks; a task
        cannot give it. It contains SMTP passwords, so it is never logged.
    type: str
    required: true
  owner:
    description: Owner of the configuration file (name or uid); unchanged when omitted.
    type: str
  group:
    description: Group of the configuration file (name or gid); unchanged when omitted.
    type: str
  mode:
    description: Mode of the configuration file, as an octal string.
    type: str
    default: "0640"
  backup_dir:
    description: Where the previous configurations are kept (C(config.YYYYmmddTHHMMSS)).
    type: path
    default: /var/lib/mailfleet/backups
  backups_keep:
    description: How many backups to keep.
    type: int
    default: 10
  journal:
    description:
      - The reload journal, in mailfleet's state directory; written (atomically) before the swap,
        removed once PowerMTA confirms the reload.
    type: path
    default: /var/lib/mailfleet/pmta-reload.journal
  reload_timeout:
    description: Seconds C(pmta reload) may take before it is stopped and counted as unanswered.
    type: int
    default: 300
  pmta_command:
    description: The PowerMTA control command.
    type: path
    default: /usr/sbin/pmta
  environment:
    description: Extra environment for the PowerMTA command.
    type: dict
    default: {}
  reload:
    description:
      - C(on_change) reloads only when the file changed; C(always) also reloads an unchanged file
        (after DKIM keys were replaced, for example); C(never) only writes (the journal keeps the
        reload owed, so the next run reloads).
    type: str
    choices: [on_change, always, never]
    default: on_change
  check_extra_directives:
    description: Directives the checker should accept in addition to the guide's (newer releases).
    type: list
    elements: str
    default: []
  pending_files:
    description:
      - Files the same play deploys with this configuration (DKIM keys). In check mode they are not
        written yet, so the checker takes them as present.
    type: list
    elements: path
    default: []
notes:
  - Supports check mode and diff mode.
"""

EXAMPLES = r"""
- name: Render and check on the controller only (nothing reaches the host)
  mailfleet.fleet.pmta_config:
    render:
      model: "{{ hostvars['localhost']['mailfleet_model'] }}"
      caps: "{{ hostvars['localhost']['mailfleet_caps'] }}"
    render_only: true

- name: Deploy the configuration (reload even if only the DKIM keys changed)
  mailfleet.fleet.pmta_config:
    render:
      model: "{{ hostvars['localhost']['mailfleet_model'] }}"
      caps: "{{ hostvars['localhost']['mailfleet_caps'] }}"
      settings: {postmaster: postmaster@example.com}
    path: /etc/pmta/config
    group: pmta
    mode: "0640"
    journal: /var/lib/mailfleet/pmta-reload.journal
    reload: always
"""

RETURN = r"""
changed:
  description: Whether the live configuration was (or would be) replaced or reloaded, or an owed reload settled.
  type: bool
  returned: always
live:
  description:
    - What PowerMTA runs after the task. C(new) the new configuration (reload confirmed, or nothing
      to change); C(old) the configuration that ran before (nothing swapped in); C(rolled_back) the
      new one failed and the previous one is back, reload confirmed; C(unknown) no confirmation
      either way (the journal stays; the next run settles it).
  type: str
  returned: always
  sample: new
reloaded:
  description: Whether C(pmta reload) succeeded with the new configuration.
  type: bool
  returned: always
reload_owed:
  description: Whether the host still owes a reload after the task (the journal stays).
  type: bool
  returned: always
settled:
  description:
    - What the task did first about a reload an earlier run left owed, or null. C(action) is
      C(reloaded), C(rolled_back), C(failed), or C(owed) (check mode); C(since) is when it became owed.
  type: dict
  returned: always
journal:
  description: Path of the reload journal.
  type: str
  returned: always
rolled_back:
  description: Whether the previous configuration was put back after the new one failed to reload.
  type: bool
  returned: always
rollback_reloaded:
  description: Whether PowerMTA confirmed the reload of the configuration that was put back (null when none was).
  type: bool
  returned: always
backup:
  description: Path of the backup of the previous configuration.
  type: str
  returned: when the file was replaced
reload_output:
  description: What C(pmta reload) printed.
  type: str
  returned: when a reload ran
rollback_output:
  description: What C(pmta reload) printed for the configuration that was put back.
  type: str
  returned: when a rollback reload ran
problems:
  description: What the configuration checker found (the task fails when this is not empty).
  type: list
  elements: str
  returned: always
sha256:
  description: SHA-256 of the new configuration.
  type: str
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mailfleet.fleet.plugins.module_utils import pmta_deploy
from ansible_collections.mailfleet.fleet.plugins.module_utils.atomic import read_text
from ansible_collections.mailfleet.fleet.plugins.module_utils.pmta_check import check_text
from ansible_collections.mailfleet.fleet.plugins.module_utils.pmta_render import mask_secrets

ARGUMENT_SPEC = dict(
    path=dict(type="path", default="/etc/pmta/config"),
    # render and render_only are consumed by the action plugin (which sets content); documented here
    render=dict(type="dict", no_log=True),
    render_only=dict(type="bool", default=False),
    content=dict(type="str", required=True, no_log=True),
    owner=dict(type="str"),
    group=dict(type="str"),
    mode=dict(type="str", default="0640"),
    backup_dir=dict(type="path", default="/var/lib/mailfleet/backups"),
    backups_keep=dict(type="int", default=10),
    journal=dict(type="path", default="/var/lib/mailfleet/pmta-reload.journal"),
    reload_timeout=dict(type="int", default=300),
    pmta_command=dict(type="path", default="/usr/sbin/pmta"),
    environment=dict(type="dict", default={}),
    reload=dict(type="str", default="on_change", choices=["on_change", "always", "never"]),
    check_extra_directives=dict(type="list", elements="str", default=[]),
    pending_files=dict(type="list", elements="path", default=[]),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = dict(module.params)
    environment = params.pop("environment")
    for key in ("render", "render_only"):  # the action plugin's, never the host's
        params.pop(key)
    request = pmta_deploy.Request(**params)
    before = None
    if module._diff:
        try:
            before = read_text(request.path)
        except (IOError, OSError, ValueError):
            before = None
    outcome = pmta_deploy.deploy(request, pmta_deploy.HostFiles("/"),
                                 pmta_deploy.CommandRunner(request.pmta_command, environment),
                                 check_text, check_mode=module.check_mode)
    result = outcome.result
    if module._diff:
        result["diff"] = dict(before=mask_secrets(before or ""), after=mask_secrets(request.content),
                              before_header=request.path, after_header=request.path + " (rendered)")
    for warning in outcome.warnings:
        module.warn(warning)
    if outcome.failed:
        module.fail_json(msg=outcome.msg, **result)
    module.exit_json(msg=outcome.msg, **result)


if __name__ == "__main__":
    main()
