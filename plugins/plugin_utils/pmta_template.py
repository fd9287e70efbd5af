# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one rendering chokepoint of ``/etc/pmta/config`` (controller only: needs jinja2).

:func:`render_host` is the only way mailfleet makes a PowerMTA configuration:

1. ``pmta_render.host_view`` decides (pure Python);
2. the Jinja2 template ``roles/pmta_config/templates/config.j2`` writes the text through the
   typed filters below. Each filter takes a :class:`~pmta_render.Field` of its own grammar class
   only, checks it with the one grammar (``module_utils/grammar.py``) and returns
   :class:`Checked` text; the environment refuses to print anything else (``finalize``), so a
   value can only reach the text through a typed filter. Undefined names are errors;
3. ``pmta_render.parse_back`` proves the text holds exactly the view.

Any failure is a :class:`RenderError` whose message names the host and the variable at fault (or
the difference), never an SMTP password.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from jinja2 import StrictUndefined
from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ansible_collections.mailfleet.fleet.plugins.module_utils import pmta_render
from ansible_collections.mailfleet.fleet.plugins.module_utils.grammar import GrammarError
from ansible_collections.mailfleet.fleet.plugins.module_utils.pmta_render import Field, quote

# The template's one copy lives in the role; the action plugin passes the role's path, tests and
# benchmarks use this default (the repository layout).
DEFAULT_TEMPLATE = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__)))),
    "roles", "pmta_config", "templates", "config.j2")


class RenderError(Exception):
    """The configuration cannot be made: the message says for which host and why."""


class Checked(str):
    """Text a typed filter produced: the only thing the template may print."""


class TemplateMisuse(RenderError):
    """The template does something the chokepoint forbids (a template bug, not an input one)."""


def _typed(*kinds, **options):
    quoted = options.get("quoted", False)

    def typed_filter(field):
        if not isinstance(field, Field):
            raise TemplateMisuse("a typed filter (%s) got %s instead of a host-view field" % (
                "/".join(kinds), type(field).__name__))
        if field.kind not in kinds:
            raise TemplateMisuse("%s is a %s value, printed with the filter for %s" % (
                field.what, field.kind, "/".join(kinds)))
        text = pmta_render.format_value(field)
        return Checked(quote(text) if quoted else text)
    typed_filter.__name__ = "pmta_" + kinds[0]
    return typed_filter


FILTERS = {
    "pmta_hostname": _typed("hostname"),
    "pmta_address": _typed("address"),
    "pmta_cidr": _typed("cidr"),
    "pmta_listener": _typed("listener"),
    "pmta_path": _typed("path"),
    "pmta_rate": _typed("rate"),
    "pmta_interval": _typed("interval"),
    "pmta_size": _typed("size"),
    "pmta_bool": _typed("boolean"),
    "pmta_token": _typed("token"),
    "pmta_keyword": _typed("keyword"),
    "pmta_password": _typed("password", quoted=True),
    "pmta_name": _typed("name"),
    "pmta_tenant": _typed("tenant"),
    "pmta_selector": _typed("selector"),
    "pmta_smtp_user": _typed("smtp_user"),
    "pmta_email": _typed("email"),
    "pmta_port": _typed("port"),
    "pmta_int": _typed("int"),
    "pmta_mx": _typed("mx"),
    "pmta_access_level": _typed("access_level"),
    "pmta_comment": _typed("comment"),
    "pmta_reply": _typed("reply"),
    # a <domain *> value: its grammar class depends on the directive (pmta_render.DOMAIN_DEFAULT_KINDS)
    "pmta_setting": _typed("token", "boolean", "interval", "int", "rate"),
}


def _finalize(value):
    if isinstance(value, Checked):
        return value
    # never the value itself: it may be a password
    raise TemplateMisuse("the template prints %s without a typed filter" % type(value).__name__)


def environment():
    """The template environment: strict undefined names, typed filters only, immutable view."""
    env = ImmutableSandboxedEnvironment(
        undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        autoescape=False, finalize=_finalize)
    env.filters = dict(FILTERS)
    env.tests = {"none": env.tests["none"]}
    return env


_COMPILED = {}


def load_template(path=None):
    """The compiled template at ``path`` (default: the role's), compiled once per content."""
    path = path or DEFAULT_TEMPLATE
    try:
        with open(path, "r", encoding="utf-8") as handle:
            source = handle.read()
    except (IOError, OSError) as exc:
        raise RenderError("cannot read the configuration template %s: %s" % (path, exc.strerror or exc))
    if source not in _COMPILED:
        try:
            _COMPILED.clear()
            _COMPILED[source] = environment().from_string(source)
        except TemplateError as exc:
            raise RenderError("the configuration template %s is not valid Jinja2: %s" % (path, exc))
    return _COMPILED[source]


def render_view(view, template=None):
    """The text of ``view`` through the template (a path, or a loaded template)."""
    tmpl = template if hasattr(template, "render") else load_template(template)
    return tmpl.render(view=view)


def render_host(model, host, caps, settings=None, passwords=None, template=None, display=None):
    """``/etc/pmta/config`` of ``host``: view, text, parse-back. Returns ``(text, view)``.

    Raises :class:`RenderError` naming the host and the variable at fault, or the difference
    between the text and the view; never with an SMTP password in the message."""
    secrets = [p for p in (passwords or {}).values() if isinstance(p, str)] if isinstance(passwords, dict) else []
    label = "host %s" % pmta_render._key(host)
    try:
        view = pmta_render.host_view(model, host, caps, settings, passwords)
        text = render_view(view, template)
    except GrammarError as exc:
        raise RenderError("%s: %s" % (label, pmta_render.redact([str(exc)], secrets)[0]))
    except TemplateMisuse as exc:
        raise RenderError("%s: template bug: %s" % (label, pmta_render.redact([str(exc)], secrets)[0]))
    except TemplateError as exc:
        raise RenderError("%s: the configuration template failed: %s" % (
            label, pmta_render.redact([str(exc)], secrets)[0]))
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise RenderError("%s: the fleet model or the caps are not what the renderer expects (%s: %s); "
                          "run playbooks/validate.yml" % (label, type(exc).__name__,
                                                          pmta_render.redact([str(exc)], secrets)[0]))
    problems = pmta_render.parse_back(text, view, display or "rendered config")
    if problems:
        raise RenderError("%s: the rendered configuration does not hold exactly the host view, so it is not "
                          "deployed:\n  %s" % (label, "\n  ".join(problems)))
    return text, view
