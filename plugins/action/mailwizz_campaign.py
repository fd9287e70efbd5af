# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin for mailwizz_campaign: find the template file on the controller, resolve the
tenant's MailWizz connection (plugin_utils/mailwizz_connection.py), then run the module.

A relative ``template`` is looked up like ansible.builtin.template does (role/play
``templates/`` directories), then under the repository's ``templates/`` (the play's parent
directory), so ``template: mailwizz/newsletter.html.j2`` works from ``playbooks/``. The module
then renders it with Jinja2 (controller side). The capacity gate itself is computed by the
module (module_utils/mailwizz_ops.py ``plan_campaign``) from ``capacity_today``/``sent_today``."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.errors import AnsibleError

from ansible_collections.mailfleet.fleet.plugins.module_utils.mailwizz_api import ConfigError
from ansible_collections.mailfleet.fleet.plugins.plugin_utils.mailwizz_connection import (
    MailWizzAction)


class ActionModule(MailWizzAction):
    MODULE = "mailwizz_campaign"

    def prepare(self, args, task_vars):
        src = args.get("template")
        if src and not os.path.isabs(src):
            args["template"] = self._find_template(src)
        return args

    def _find_template(self, src):
        try:
            return self._find_needle("templates", src)
        except AnsibleError:
            base = self._loader.get_basedir()
            for cand in (os.path.join(base, "..", "templates", src),
                         os.path.join(base, "templates", src)):
                if os.path.isfile(cand):
                    return os.path.abspath(cand)
        raise ConfigError("template %s not found in templates/ of the play or repository" % src)
