# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A module's run as plain Python, and the few lines that hand it to Ansible.

A module keeps its argument spec and a short ``main()``; what it does lives in a module_utils
function that takes plain values (the module's parameters, check mode, diff mode, a ``warn``
callback) and returns the module's result dict, or raises :class:`ModuleFailure` with the
message (object + operation) and the return values known so far. Unit tests call that function
directly; ``main()`` is ``AnsibleModule(...)``, :func:`require` and :func:`finish`.

Standard library only (modules on PowerMTA hosts import it); :func:`require` and :func:`finish`
take the AnsibleModule.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleFailure(Exception):
    """The run failed: ``msg`` names the object and the operation; ``result`` holds the return
    values known so far, returned along with the failure."""

    def __init__(self, msg, **result):
        Exception.__init__(self, msg)
        self.msg = msg
        self.result = result


def require(module, *libraries):
    """Fail the module, as Ansible words it, when a ``(name, present)`` library is missing."""
    from ansible.module_utils.basic import missing_required_lib  # here: the run functions stay plain Python

    for name, present in libraries:
        if not present:
            module.fail_json(msg=missing_required_lib(name))


def finish(module, run, *args, **kwargs):
    """``exit_json`` with what ``run(*args, **kwargs)`` returns, or ``fail_json`` with the message
    and return values of the :class:`ModuleFailure` it raises; any other exception is a bug, still
    reported as a failure naming the module and the exception (never a traceback)."""
    try:
        result = run(*args, **kwargs)
    except ModuleFailure as failure:
        module.fail_json(msg=failure.msg, **failure.result)
    except Exception as exc:  # never a traceback in module output
        module.fail_json(msg="%s: unexpected %s: %s" % (module._name, type(exc).__name__, exc))
    module.exit_json(**result)
