# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin for mailwizz_info: the tenant's MailWizz connection from the inventory (the one resolver,
plugin_utils/mailwizz_connection.py), then the module."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mailfleet.fleet.plugins.plugin_utils.mailwizz_connection import (
    MailWizzAction)


class ActionModule(MailWizzAction):
    MODULE = "mailwizz_info"
