# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Vars plugin mailfleet.fleet.inventory_files: Ansible's host_group_vars, with one clear message
naming the file when a group_vars/host_vars file cannot be used."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: inventory_files
author: mailfleet maintainers (@mailfleet)
short_description: group_vars and host_vars, secrets kept literal, unusable files refused by name
description:
  - Loads C(group_vars/) and C(host_vars/) exactly as M(ansible.builtin.host_group_vars) does
    (it is that plugin), and replaces its vague failures by one message naming the file.
  - "A vault-encrypted file that cannot be decrypted (wrong or missing vault password):
    C(FILE: cannot decrypt this vault-encrypted file: the vault password is wrong or missing)."
  - "A file whose top level is not a mapping (a list, a string): C(FILE: a vars file must be a
    mapping of variable names to values, got a list)."
  - Secrets (SMTP passwords, MailWizz keys, the database password, alert tokens; see
    C(plugins/plugin_utils/secrets.py)) become literals for Ansible itself - never templated by any
    playbook - so a password such as C(Xy{{9#k) is used as written. A plain reference such as
    C({{ vault_smtp_password['t'] }}) is kept and its target becomes literal.
  - "Enabled in C(ansible.cfg) in place of C(host_group_vars):
    C(vars_plugins_enabled = mailfleet.fleet.inventory_files)."
options:
  stage:
    ini:
      - key: stage
        section: vars_host_group_vars
    env:
      - name: ANSIBLE_VARS_PLUGIN_STAGE
  _valid_extensions:
    default: [".yml", ".yaml", ".json"]
    description:
      - Check all of these extensions when looking for variable files.
    env:
      - name: ANSIBLE_YAML_FILENAME_EXT
    ini:
      - key: yaml_valid_extensions
        section: defaults
    type: list
    elements: string
extends_documentation_fragment:
  - vars_plugin_staging
"""

import os
from collections.abc import Mapping

from ansible.errors import AnsibleError, AnsibleParserError
from ansible.plugins.vars import BaseVarsPlugin
from ansible.plugins.vars.host_group_vars import VarsModule as HostGroupVars
from ansible.utils.vars import combine_vars
from ansible_collections.mailfleet.fleet.plugins.plugin_utils import secrets

VAULT_HINT = "the vault password is wrong or missing (give it with --vault-password-file or --ask-vault-pass)"


def _shown(path):
    rel = os.path.relpath(path, os.getcwd())
    return path if rel.startswith("..") else rel


def _typename(value):
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, str):
        return "a string"
    return type(value).__name__


def _error(message):
    """The error, marked so that the validation action can show it as is (Ansible wraps it)."""
    exc = AnsibleParserError(message)
    exc.mailfleet_file_error = message
    return exc


class _HostGroupVars(HostGroupVars):
    """host_group_vars with the file checks (used by composition: a collection vars plugin must not
    inherit REQUIRES_ENABLED)."""

    def load_found_files(self, loader, data, found_files):
        for found in found_files:
            try:
                with open(found, "rb") as handle:
                    encrypted = handle.read(64).lstrip().startswith(b"$ANSIBLE_VAULT")
            except (IOError, OSError):
                encrypted = False
            try:
                new_data = loader.load_from_file(found, cache='all', unsafe=True, trusted_as_template=True)
            except AnsibleError:
                if encrypted:
                    raise _error("%s: cannot decrypt this vault-encrypted file: %s" % (_shown(found), VAULT_HINT)) from None
                raise
            if not new_data:  # an empty file
                continue
            if not isinstance(new_data, Mapping):
                raise _error("%s: a vars file must be a mapping of variable names to values, got %s" % (
                    _shown(found), _typename(new_data))) from None
            data = combine_vars(data, new_data)
        return data


class VarsModule(BaseVarsPlugin):
    is_stateless = True

    def __init__(self, *args, **kwargs):
        super(VarsModule, self).__init__(*args, **kwargs)
        self._inner = _HostGroupVars()

    def get_vars(self, loader, path, entities, cache=True):
        return secrets.untrust_literals(self._inner.get_vars(loader, path, entities, cache=cache))
