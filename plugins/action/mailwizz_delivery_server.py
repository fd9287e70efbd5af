# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin for mailwizz_delivery_server: with ``instance`` (a name of
``mailfleet_mailwizz_instances``) the database login and each tenant's MailWizz customer id are
read from the inventory by the one resolver (plugin_utils/mailwizz_connection.py); explicit
``login_*`` arguments win."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.action import ActionBase

from ansible_collections.mailfleet.fleet.plugins.module_utils.mailwizz_api import ConfigError
from ansible_collections.mailfleet.fleet.plugins.plugin_utils.mailwizz_connection import (
    resolve_database)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = dict(self._task.args)
        instance = args.get("instance")
        if instance:
            try:
                login, customer_ids = resolve_database(self._templar, task_vars or {}, instance)
            except (ConfigError, AnsibleError) as exc:
                result.update(failed=True, msg="mailwizz_delivery_server: instance %s: %s"
                              % (instance, to_native(exc)))
                return result
            for key, value in login.items():
                args.setdefault(key, value)
            options = dict(args.get("plan_options") or {})
            options.setdefault("mailwizz", instance)
            if customer_ids:
                options.setdefault("customer_ids", customer_ids)
            args["plan_options"] = options
        result.update(self._execute_module(module_name="mailfleet.fleet.mailwizz_delivery_server",
                                           module_args=args, task_vars=task_vars))
        return result
