# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for mailwizz_campaign: find the template file on the controller.

A relative ``template`` is looked up like ansible.builtin.template does (role/play
``templates/`` directories), then under the repository's ``templates/`` (the play's parent
directory), so ``template: mailwizz/newsletter.html.j2`` works from ``playbooks/``. The module
then renders it with Jinja2 (controller side)."""
from __future__ import annotations

import os

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = dict(self._task.args)
        src = args.get("template")
        if src and not os.path.isabs(src):
            path = None
            try:
                path = self._find_needle("templates", src)
            except AnsibleError:
                base = self._loader.get_basedir()
                for cand in (os.path.join(base, "..", "templates", src),
                             os.path.join(base, "templates", src)):
                    if os.path.isfile(cand):
                        path = os.path.abspath(cand)
                        break
            if path is None:
                result.update(failed=True, msg="mailwizz_campaign: template %s not found in "
                                               "templates/ of the play or repository" % src)
                return result
            args["template"] = path
        result.update(self._execute_module(module_name="mailfleet.fleet.mailwizz_campaign",
                                           module_args=args, task_vars=task_vars))
        return result
