# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The inventory's secrets, read literally (controller side: action, lookup and filter plugins).

Secrets are SMTP passwords, MailWizz API keys (and 1.x key pairs), the MailWizz database
password, the Telegram bot token, webhook header values and the Spamhaus DQS key. They are never
templated: a password such as ``Xy{{9#k`` or ``a%b{c`` is used exactly as written. They are never
published in a fact, never put in a message, and every problem is reported as
``FILE:LINE: KEY: what is wrong`` -- without the value.

How a secret is read, from the *raw* (untemplated) variables a plugin receives as ``task_vars``
(an action's ``task_vars``, a lookup's ``variables``):

* a plain string is the secret, character for character;
* an inline ``!vault`` value is decrypted with the vault secrets of the run (a wrong or missing
  vault password is one error naming the file and line of the value); a value from a
  vault-encrypted vars file arrives already decrypted (a file that cannot be decrypted is refused
  earlier, with its name, by the ``mailfleet.fleet.inventory_files`` vars plugin);
* a string that is exactly one reference to another variable -- ``{{ vault_smtp_password }}``,
  ``{{ vault_mailwizz_keys['sos-expat'] }}``, ``{{ vault_x.key }}`` -- is followed to that
  variable, which is itself read by these rules (the usual "vars in plain text, values in the
  vault" layout); nothing else is ever evaluated. A string tagged ``!unsafe`` is never followed;
* any other whole Jinja expression (``{{ lookup('env', 'PW') }}``, ``{% ... %}``) is refused: it
  would otherwise be taken for a literal password;
* the value must then pass its grammar (``grammar.pmta_password`` for SMTP passwords, which PowerMTA
  writes inside double quotes; ``grammar.secret`` for keys and the database password;
  ``grammar.telegram_token``; ``grammar.dns_label`` for the DQS key).

API (stable; every function raises :class:`SecretError`, which lists every problem at once):

``smtp_passwords(task_vars)``
    ``{tenant: password}`` for every tenant of ``mailfleet_tenants`` that has ``smtp_password``.
``mailwizz_secrets(task_vars, instance, tenant=None)``
    ``{"api_key", "public_key", "private_key", "db_password"}`` of a ``mailfleet_mailwizz_instances``
    entry (None where not set); with ``tenant``, that tenant's ``mailwizz_auth`` replaces the
    instance's key(s) (a tenant's own customer key).
``alert_secrets(task_vars)``
    ``{"telegram_token": str|None, "webhook_headers": {name: value}}`` from ``mailfleet_alerts``.
``dqs_key(task_vars)``
    ``mailfleet_spamhaus_dqs_key`` or None.
``collect(task_vars)``
    ``(values, messages)``: every secret of the inventory, keyed by its key path
    (``mailfleet_tenants.alpha.smtp_password``), and the problems -- what validation uses.
``secret_checker(var, path)``
    the grammar checker when ``var`` + ``path`` (a tuple of keys) names a secret, else None.
``read_secret(value, task_vars, key, check)``
    one raw value, read by the rules above (for a secret this module does not list yet).
``untrust_literals(variables)``
    used by the ``mailfleet.fleet.inventory_files`` vars plugin: the secrets of the loaded
    inventory become literals for Ansible too (never templated by any playbook).
``holds_secrets(var, path)``, ``follow(value, task_vars, key)``, ``is_vaulted(value)``,
``decrypt(value, key)``, ``where(value)``
    the pieces the validation action uses to read the rest of a variable that holds secrets.

``task_vars`` of another host: ``task_vars["hostvars"].raw_get(host)``. The values returned are
plain ``str`` (no Ansible tags: they are never trusted as templates downstream).
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.mailfleet.fleet.plugins.module_utils import grammar

try:  # ansible-core >= 2.19: values carry their origin (file, line)
    from ansible._internal._datatag._tags import Origin as _Origin
except ImportError:  # pragma: no cover - older ansible-core
    _Origin = None
try:
    from ansible._internal._datatag._tags import TrustedAsTemplate as _TrustedAsTemplate
except ImportError:  # pragma: no cover - older ansible-core: nothing is trusted by tag
    _TrustedAsTemplate = None
try:
    from ansible.parsing.vault import EncryptedString as _EncryptedString
except ImportError:  # pragma: no cover - older ansible-core
    _EncryptedString = None
try:
    from ansible.template import is_trusted_as_template as _is_trusted
except ImportError:  # pragma: no cover - older ansible-core
    _is_trusted = None
try:
    from ansible.parsing.yaml.objects import AnsibleVaultEncryptedUnicode as _LegacyVault
except ImportError:  # pragma: no cover
    _LegacyVault = None

TENANTS_VAR = "mailfleet_tenants"
INSTANCES_VAR = "mailfleet_mailwizz_instances"
ALERTS_VAR = "mailfleet_alerts"
DQS_VAR = "mailfleet_spamhaus_dqs_key"

MAX_DEPTH = 10

# (variable, key path with "*" for any key, grammar checker). The one list of what is a secret.
SECRETS = (
    (TENANTS_VAR, ("*", "smtp_password"), grammar.pmta_password),
    (TENANTS_VAR, ("*", "mailwizz_auth", "api_key"), grammar.secret),
    (TENANTS_VAR, ("*", "mailwizz_auth", "public_key"), grammar.secret),
    (TENANTS_VAR, ("*", "mailwizz_auth", "private_key"), grammar.secret),
    (INSTANCES_VAR, ("*", "api_key"), grammar.secret),
    (INSTANCES_VAR, ("*", "public_key"), grammar.secret),
    (INSTANCES_VAR, ("*", "private_key"), grammar.secret),
    (INSTANCES_VAR, ("*", "db", "password"), grammar.secret),
    (ALERTS_VAR, ("telegram", "token"), grammar.telegram_token),
    (ALERTS_VAR, ("webhook", "headers", "*"), grammar.secret),
    (DQS_VAR, (), grammar.dns_label),
)
SECRET_VARS = frozenset(var for var, _path, _check in SECRETS)

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_INDEX = r"\[\s*(?:'[^'\\]*'|\"[^\"\\]*\"|\d+)\s*\]"
_REFERENCE = re.compile(r"\A\{\{-?\s*(%s)((?:\.%s|%s)*)\s*-?\}\}\Z" % (_IDENT, _IDENT, _INDEX))
_SEGMENT = re.compile(r"\.(%s)|\[\s*(?:'([^'\\]*)'|\"([^\"\\]*)\"|(\d+))\s*\]" % _IDENT)
_EXPRESSION = re.compile(r"\A\s*(\{\{.*\}\}|\{%.*%\})\s*\Z", re.S)


class SecretError(Exception):
    """Secrets that cannot be used. ``messages``: one ``FILE:LINE: KEY: problem`` per secret at
    fault (never the value)."""

    def __init__(self, messages):
        self.messages = list(messages)
        Exception.__init__(self, "\n".join(self.messages))


class _Problem(Exception):
    def __init__(self, message, value=None):
        Exception.__init__(self, message)
        self.message = message
        self.value = value


def _relative(path):
    try:
        rel = os.path.relpath(path, os.getcwd())
    except ValueError:  # pragma: no cover - other drive (Windows)
        return path
    return path if rel.startswith("..") else rel


def where(value):
    """``FILE:LINE`` where Ansible read ``value`` (relative to the working directory), or None."""
    if _Origin is None:
        return None
    try:
        origin = _Origin.get_tag(value)
    except Exception:  # noqa: BLE001 - a value Ansible cannot tag
        return None
    if origin is None or not origin.path:
        return None
    if origin.line_num:
        return "%s:%d" % (_relative(origin.path), origin.line_num)
    return _relative(origin.path)


def _format(value, key, message):
    key = grammar.printable(key)
    place = where(value)
    return "%s: %s: %s" % (place, key, message) if place else "variable %s: %s" % (key, message)


def _is_vaulted(value):
    return (_EncryptedString is not None and isinstance(value, _EncryptedString)) or (
        _LegacyVault is not None and isinstance(value, _LegacyVault))


def _decrypt(value):
    """Plain text of an inline vault value; _Problem on a wrong or missing vault password."""
    try:
        if _EncryptedString is not None and isinstance(value, _EncryptedString):
            plain = value._decrypt()  # pylint: disable=protected-access
        else:
            plain = value.data
    except Exception as exc:  # noqa: BLE001 - AnsibleVaultError and friends: never a traceback
        text = str(exc)
        if "no vault secrets" in text.lower() or "decrypt" in text.lower():
            raise _Problem("cannot decrypt this vaulted value: the vault password is wrong or missing "
                           "(give it with --vault-password-file or --ask-vault-pass)")
        raise _Problem("cannot decrypt this vaulted value (%s)" % type(exc).__name__)
    return "".join(plain)  # a plain, untagged str


def _is_template(value):
    """Whether Ansible would treat the string as a template (trusted); untagged plain strings
    (unit tests, pure callers) count as trusted."""
    if type(value) is str:  # pylint: disable=unidiomatic-typecheck
        return True
    if _is_trusted is None:
        return True
    return _is_trusted(value)


def _lookup(task_vars, name, segments):
    if name not in task_vars:
        raise _Problem("refers to variable %s, which is not defined" % name)
    node = task_vars[name]
    shown = name
    for seg in segments:
        if isinstance(seg, int) and isinstance(node, (list, tuple)):
            if seg >= len(node):
                raise _Problem("refers to %s[%d], which does not exist" % (shown, seg))
            node = node[seg]
            shown += "[%d]" % seg
            continue
        if not isinstance(node, dict):
            raise _Problem("refers to %s[%r], but %s is %s" % (shown, seg, shown, grammar.typename(node)))
        if seg not in node and str(seg) in node:
            seg = str(seg)
        if seg not in node:
            raise _Problem("refers to %s[%r], which is not defined" % (shown, seg))
        node = node[seg]
        shown += "[%r]" % (seg,)
    return node


def _reference(text):
    """``(name, [segments])`` when ``text`` is exactly one variable reference, else None."""
    match = _REFERENCE.match(text)
    if not match:
        return None
    segments = []
    for seg in _SEGMENT.finditer(match.group(2)):
        attr, single, double, index = seg.groups()
        if index is not None:
            segments.append(int(index))
        else:
            segments.append(attr if attr is not None else (single if single is not None else double))
    return match.group(1), segments


def _resolve(value, task_vars, depth=0):
    """``(literal, source)``: the literal value behind ``value`` -- decrypted, references followed,
    never templated -- and the raw value it was written as (its origin locates messages)."""
    if depth > MAX_DEPTH:
        raise _Problem("references other variables more than %d levels deep (a loop?)" % MAX_DEPTH, value)
    if _is_vaulted(value):
        try:
            return _decrypt(value), value
        except _Problem as problem:
            raise _Problem(problem.message, value)
    if isinstance(value, str) and _is_template(value):
        ref = _reference(value)
        if ref is not None:
            try:
                target = _lookup(task_vars, ref[0], ref[1])
            except _Problem as problem:
                raise _Problem(problem.message, value)
            return _resolve(target, task_vars, depth + 1)
        if _EXPRESSION.match(value):
            raise _Problem("is a Jinja expression; secrets are read literally, so write the value "
                           "(vault-encrypted) or a plain reference such as {{ vault_name }} or "
                           "{{ vault_name['key'] }}", value=value)
    if isinstance(value, str):
        return "".join(value), value
    return value, value


def read_secret(value, task_vars, key, check=None):
    """One raw value as the secret it holds (see the module docstring); SecretError if unusable.
    ``check``: the grammar checker (default ``grammar.secret``)."""
    check = check or grammar.secret
    try:
        plain, source = _resolve(value, task_vars)
    except _Problem as problem:
        raise SecretError([_format(problem.value, key, problem.message)])
    try:
        return check(plain, "")
    except grammar.GrammarError as exc:
        raise SecretError([_format(source if where(source) else value, key, exc.message)])


def secret_checker(var, path):
    """The grammar of the secret at ``var`` + ``path`` (tuple of keys), or None if not a secret."""
    path = tuple(path)
    for svar, spath, check in SECRETS:
        if svar == var and len(spath) == len(path) and all(
                s == "*" or s == p for s, p in zip(spath, path)):
            return check
    return None


def holds_secrets(var, path):
    """Whether ``var`` + ``path`` (tuple of keys) is a container on the way to a secret."""
    path = tuple(path)
    for svar, spath, _check in SECRETS:
        if svar == var and len(path) < len(spath) and all(
                s == "*" or s == p for s, p in zip(spath, path)):
            return True
    return False


def follow(value, task_vars, key):
    """A raw container on the way to secrets, followed when it is a plain reference (never
    evaluated); SecretError when it is any other expression."""
    try:
        return _container(value, task_vars, key)
    except _Problem as problem:
        raise SecretError([_format(value, key, problem.message)])


def is_vaulted(value):
    """Whether ``value`` is an inline vault value (``!vault``)."""
    return _is_vaulted(value)


def decrypt(value, key="value"):
    """The plain text of an inline vault value; SecretError naming its file:line if it cannot be
    decrypted."""
    try:
        return _decrypt(value)
    except _Problem as problem:
        raise SecretError([_format(value, key, problem.message)])


def _container(value, task_vars, key, depth=0):
    """A raw container on the way to a secret: followed when it is a plain reference."""
    if depth > MAX_DEPTH:
        raise _Problem("references other variables more than %d levels deep (a loop?)" % MAX_DEPTH)
    if isinstance(value, str) and _is_template(value):
        ref = _reference(value)
        if ref is not None:
            return _container(_lookup(task_vars, ref[0], ref[1]), task_vars, key, depth + 1)
        if _EXPRESSION.match(value):
            raise _Problem("is a Jinja expression; the secrets below it are read literally, so write it "
                           "as a mapping (or a plain reference to one)")
    return value


def _walk(task_vars, var, spath, check, values, messages):
    """Every secret matching ``spath`` below ``var``, in key order."""
    if var not in task_vars:
        return

    def visit(node, depth, key):
        if depth == len(spath):
            if node is None:
                return  # an absent secret; validation says where one is required
            try:
                values[key] = read_secret(node, task_vars, key, check)
            except SecretError as exc:
                messages.extend(exc.messages)
            return
        try:
            node = _container(node, task_vars, key)
        except _Problem as problem:
            messages.append(_format(node, key, problem.message))
            return
        if not isinstance(node, dict):
            return  # validation reports the wrong type
        want = spath[depth]
        for name in sorted(node, key=str) if want == "*" else [want]:
            if name in node:
                visit(node[name], depth + 1, "%s.%s" % (key, name))

    visit(task_vars[var], 0, var)


def collect(task_vars, variables=None):
    """``(values, messages)`` for every secret of the inventory (or of ``variables`` only)."""
    values, messages = {}, []
    for var, spath, check in SECRETS:
        if variables is None or var in variables:
            _walk(task_vars, var, spath, check, values, messages)
    return dict(sorted(values.items())), messages


def _only(values, messages):
    if messages:
        raise SecretError(messages)
    return values


def _untrust(container, key, variables, depth=0):
    """The string at ``container[key]`` becomes a literal for Ansible (never templated); a plain
    reference stays (Ansible resolves it) and its target, within ``variables``, becomes literal."""
    value = container[key]
    if depth > MAX_DEPTH or not isinstance(value, str) or not _is_template(value):
        return
    ref = _reference(value)
    if ref is not None:
        name, segments = ref
        if name not in variables:
            return  # defined elsewhere (another group, extra vars): read literally by this module anyway
        parent, last = variables, name
        for seg in segments:
            node = parent[last]
            if isinstance(node, dict) and (seg in node or str(seg) in node):
                parent, last = node, seg if seg in node else str(seg)
            elif isinstance(node, list) and isinstance(seg, int) and seg < len(node):
                parent, last = node, seg
            else:
                return
        _untrust(parent, last, variables, depth + 1)
        return
    if _EXPRESSION.match(value):
        return  # refused by read_secret, with its file and line
    container[key] = _TrustedAsTemplate.untag(value)


def untrust_literals(variables):
    """Make the secrets of ``variables`` (the data a vars plugin loaded for one group or host)
    literals for Ansible itself, in place: a playbook that templates ``mailfleet_tenants`` then
    gets ``Xy{{9#k`` as written instead of a Jinja syntax error. Plain references are kept (their
    targets become literal); whole expressions are kept (``read_secret`` refuses them)."""
    if _TrustedAsTemplate is None or not isinstance(variables, dict):
        return variables
    for var, spath, _check in SECRETS:
        if var not in variables:
            continue

        def visit(container, key, depth):
            if depth == len(spath):
                _untrust(container, key, variables)
                return
            node = container[key]
            if not isinstance(node, dict):
                return
            for name in list(node) if spath[depth] == "*" else [spath[depth]]:
                if name in node:
                    visit(node, name, depth + 1)

        visit(variables, var, 0)
    return variables


def smtp_passwords(task_vars):
    """``{tenant: password}`` for the tenants of ``mailfleet_tenants`` that have one."""
    values, messages = {}, []
    _walk(task_vars, TENANTS_VAR, ("*", "smtp_password"), grammar.pmta_password, values, messages)
    prefix = TENANTS_VAR + "."
    return _only({key[len(prefix):-len(".smtp_password")]: value for key, value in values.items()}, messages)


def mailwizz_secrets(task_vars, instance, tenant=None):
    """``{"api_key", "public_key", "private_key", "db_password"}`` of MailWizz ``instance``; with
    ``tenant``, the tenant's own ``mailwizz_auth`` key(s) replace the instance's."""
    values, messages = {}, []
    try:
        instances = _container(task_vars.get(INSTANCES_VAR), task_vars, INSTANCES_VAR)
    except _Problem as problem:
        raise SecretError([_format(task_vars.get(INSTANCES_VAR), INSTANCES_VAR, problem.message)])
    if not isinstance(instances, dict) or instance not in instances:
        raise SecretError(["variable %s: no MailWizz instance %r" % (INSTANCES_VAR, instance)])
    for var, spath, check in SECRETS:
        if var == INSTANCES_VAR:
            _walk(task_vars, var, (instance,) + spath[1:], check, values, messages)
    base = "%s.%s." % (INSTANCES_VAR, instance)
    out = {"api_key": values.get(base + "api_key"), "public_key": values.get(base + "public_key"),
           "private_key": values.get(base + "private_key"), "db_password": values.get(base + "db.password")}
    if tenant is not None:
        auth = {}
        for var, spath, check in SECRETS:
            if var == TENANTS_VAR and spath[1] == "mailwizz_auth":
                _walk(task_vars, var, (tenant,) + spath[1:], check, auth, messages)
        tbase = "%s.%s.mailwizz_auth." % (TENANTS_VAR, tenant)
        if any(k.startswith(tbase) for k in auth):
            for name in ("api_key", "public_key", "private_key"):
                out[name] = auth.get(tbase + name)
    return _only(out, messages)


def alert_secrets(task_vars):
    """``{"telegram_token": str or None, "webhook_headers": {header: value}}``."""
    values, messages = collect(task_vars, (ALERTS_VAR,))
    prefix = ALERTS_VAR + ".webhook.headers."
    return _only({
        "telegram_token": values.get(ALERTS_VAR + ".telegram.token"),
        "webhook_headers": {k[len(prefix):]: v for k, v in values.items() if k.startswith(prefix)},
    }, messages)


def dqs_key(task_vars):
    """The Spamhaus DQS key (``mailfleet_spamhaus_dqs_key``) or None."""
    values, messages = collect(task_vars, (DQS_VAR,))
    return _only(values.get(DQS_VAR), messages)
