#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
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
    C(Configuration reloaded.). When the reload fails the previous configuration is put back and
    reloaded, and the task fails with PowerMTA's message.
  - Nothing is written when the content is unchanged, or in check mode. In diff mode the diff shows
    the configuration with SMTP passwords masked.
  - The configuration is made on the controller by the action plugin of the same name, from
    O(render) -- host view, template with typed filters, parse-back check -- and only a text that
    holds exactly the host view is sent to the host (as O(content)). The module itself runs on the
    PowerMTA host; Python standard library only.
version_added: "0.1.0"
author: mailfleet
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
        (after DKIM keys were replaced, for example); C(never) only writes.
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

- name: Deploy the configuration
  mailfleet.fleet.pmta_config:
    render:
      model: "{{ hostvars['localhost']['mailfleet_model'] }}"
      caps: "{{ hostvars['localhost']['mailfleet_caps'] }}"
      settings: {postmaster: postmaster@example.com}
    path: /etc/pmta/config
    group: pmta
    mode: "0640"
    reload: always
"""

RETURN = r"""
changed:
  description: Whether the live configuration was (or would be) replaced or reloaded.
  type: bool
  returned: always
reloaded:
  description: Whether C(pmta reload) succeeded with the new configuration.
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
problems:
  description: What the configuration checker found (the task fails when this is not empty).
  type: list
  elements: str
  returned: always
sha256:
  description: SHA-256 of the deployed configuration.
  type: str
  returned: always
"""

import datetime
import hashlib
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native
from ansible_collections.mailfleet.fleet.plugins.module_utils.atomic import atomic_write, read_text, replace, stage
from ansible_collections.mailfleet.fleet.plugins.module_utils.pmta_check import check_text
from ansible_collections.mailfleet.fleet.plugins.module_utils.pmta_render import mask_secrets

RELOADED = "Configuration reloaded."


def _chown(path, module):
    if module.params["owner"]:
        module.set_owner_if_different(path, module.params["owner"], False)
    if module.params["group"]:
        module.set_group_if_different(path, module.params["group"], False)


def _reload(module):
    cmd = [module.params["pmta_command"], "reload"]
    env = dict(os.environ)
    env.update({k: str(v) for k, v in module.params["environment"].items()})
    try:
        rc, out, err = module.run_command(cmd, environ_update=env)
    except Exception as exc:  # the command itself could not start
        return False, "cannot run %s: %s" % (cmd[0], to_native(exc))
    output = (out or "") + (err or "")
    return (rc == 0 and RELOADED in output), output.strip()


def _prune(backup_dir, keep):
    names = sorted(n for n in os.listdir(backup_dir) if n.startswith("config."))
    for name in names[:-keep] if keep > 0 else []:
        os.unlink(os.path.join(backup_dir, name))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", default="/etc/pmta/config"),
            # render and render_only are consumed by the action plugin, which sets content
            render=dict(type="dict", no_log=True),
            render_only=dict(type="bool", default=False),
            content=dict(type="str", required=True, no_log=True),
            owner=dict(type="str"),
            group=dict(type="str"),
            mode=dict(type="str", default="0640"),
            backup_dir=dict(type="path", default="/var/lib/mailfleet/backups"),
            backups_keep=dict(type="int", default=10),
            pmta_command=dict(type="path", default="/usr/sbin/pmta"),
            environment=dict(type="dict", default={}),
            reload=dict(type="str", default="on_change", choices=["on_change", "always", "never"]),
            check_extra_directives=dict(type="list", elements="str", default=[]),
            pending_files=dict(type="list", elements="path", default=[]),
        ),
        supports_check_mode=True,
    )
    path = module.params["path"]
    content = module.params["content"]
    if not content.endswith("\n"):
        content += "\n"
    try:
        mode = int(module.params["mode"], 8)
    except ValueError:
        module.fail_json(msg="pmta_config %s: mode %r is not an octal string" % (path, module.params["mode"]))
    current = read_text(path)
    digest = hashlib.sha256(to_bytes(content)).hexdigest()
    changed_file = current != content
    want_reload = module.params["reload"] == "always" or (changed_file and module.params["reload"] == "on_change")
    result = dict(changed=changed_file or want_reload, reloaded=False, problems=[], sha256=digest)
    if module._diff:
        result["diff"] = dict(before=mask_secrets(current or ""), after=mask_secrets(content),
                              before_header=path, after_header=path + " (rendered)")

    # Check the new text before anything is written.
    pending = module.params["pending_files"] if module.check_mode else []
    problems = check_text(content, path, extra_directives=module.params["check_extra_directives"],
                          assume_present=pending)
    result["problems"] = problems
    if problems:
        module.fail_json(msg="pmta_config %s: the new configuration fails the check; the live configuration "
                             "is unchanged:\n  %s" % (path, "\n  ".join(problems)), **result)
    if module.check_mode or not result["changed"]:
        module.exit_json(**result)
    if not os.path.isdir(os.path.dirname(path) or "."):
        module.fail_json(msg="pmta_config %s: directory %s does not exist" % (path, os.path.dirname(path)), **result)

    staged = None
    try:
        staged = stage(path, to_bytes(content), mode, prepare=lambda tmp: _chown(tmp, module))

        if changed_file:
            backup = None
            if current is not None:
                backup_dir = module.params["backup_dir"]
                if not os.path.isdir(backup_dir):
                    os.makedirs(backup_dir, 0o750)
                stamp = datetime.datetime.now().strftime("%Y%m%dT%H%M%S.%f")
                backup = os.path.join(backup_dir, "config.%s" % stamp)
                atomic_write(backup, to_bytes(current), 0o600)
                result["backup"] = backup
            replace(staged, path)
            staged = None
        if module.params["reload"] == "never":
            return module.exit_json(**result)

        ok, output = _reload(module)
        result["reload_output"] = output
        if ok:
            result["reloaded"] = True
            if changed_file and current is not None:
                _prune(module.params["backup_dir"], module.params["backups_keep"])
            return module.exit_json(**result)

        # Roll back: the previous file goes back in place and is reloaded.
        if changed_file and current is not None:
            atomic_write(path, to_bytes(current), mode, prepare=lambda tmp: _chown(tmp, module))
            ok_back, output_back = _reload(module)
            result["rollback_output"] = output_back
            module.fail_json(msg="pmta_config %s: pmta reload failed with the new configuration: %s -- the previous "
                                 "configuration was restored%s" % (
                                     path, output or "(no output)",
                                     " and reloaded" if ok_back else " but its reload failed too: %s" % output_back),
                             **result)
        module.fail_json(msg="pmta_config %s: pmta reload failed: %s" % (path, output or "(no output)"), **result)
    except (IOError, OSError) as exc:
        module.fail_json(msg="pmta_config %s: %s failed: %s" % (path, "write" if staged else "deploy", to_native(exc.strerror or exc)),
                         **result)
    finally:
        if staged and os.path.exists(staged):
            os.unlink(staged)


if __name__ == "__main__":
    main()
