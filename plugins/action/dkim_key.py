# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin behind mailfleet.fleet.dkim_key: DKIM keys of the tenant domains, on the controller.

It runs entirely on the controller (like fleet_model): the private keys live in the inventory,
vault-encrypted, and only the controller's loader holds the vault secrets - a module would need
the plaintext key passed to it. Keys are decrypted in memory only; a new key is encrypted with the
loader's vault secret (as ``ansible-vault encrypt`` would choose it) before it touches the disk.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import os

from ansible import constants as C
from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_native
from ansible.parsing.vault import VaultLib, is_encrypted, match_encrypt_secret
from ansible.plugins.action import ActionBase
from ansible_collections.mailfleet.fleet.plugins.module_utils import atomic, dkim, dnsauth, dnsbl

ARGUMENT_SPEC = dict(
    tenants=dict(type="dict", required=True),
    inventory_base=dict(type="path", required=True),
    rotate=dict(type="list", elements="str", default=[]),
    new_selector=dict(type="str"),
    today=dict(type="str"),
    bits=dict(type="int", default=dkim.DEFAULT_BITS),
    encrypt=dict(type="str", default="auto", choices=["auto", "always", "never"]),
    vault_id=dict(type="str"),
    nameservers=dict(type="list", elements="str", default=[]),
    timeout=dict(type="float", default=2.0),
)


def _write_new_file(path, data):
    """Write ``data`` to ``path`` (mode 0600) atomically, never replacing an existing file: the
    file is staged beside ``path`` (module_utils/atomic.py) and hard-linked to its name, which fails
    when the name exists (a rename would replace it)."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = atomic.stage(path, data, 0o600)
    try:
        os.link(tmp, path)
    finally:
        os.unlink(tmp)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        check_mode = bool(self._play_context.check_mode)
        if not dkim.HAS_CRYPTOGRAPHY:
            return self._fail(result, "dkim_key: the Python library cryptography is required on the controller")
        if args["bits"] < dkim.MIN_BITS:
            return self._fail(result, "dkim_key: bits must be %d or more (RFC 8301), got %d" % (dkim.MIN_BITS, args["bits"]))
        today = args["today"] or task_vars.get("mailfleet_today")
        try:
            today = datetime.date.fromisoformat(str(today)) if today else datetime.date.today()
        except ValueError:
            return self._fail(result, "dkim_key: today must be a date YYYY-MM-DD, got %r" % (today,))

        try:
            entries, errors = dkim.plan(args["tenants"], args["inventory_base"], args["rotate"],
                                        args["new_selector"], today)
        except (KeyError, TypeError, dkim.DKIMKeyError) as exc:
            return self._fail(result, "dkim_key: cannot read the tenants' domains (pass mailfleet_model.tenants): %s"
                              % to_native(exc))

        # 1. Read every existing key (decrypting vaulted ones in memory); decide what to generate.
        #    Nothing is written unless every key the inventory names is usable.
        vault = self._loader._vault
        cache = {}  # path -> {"key", "encrypted", "state"}
        for entry in entries:
            path = entry["path"]
            if path in cache:
                continue
            if os.path.lexists(path):
                if not os.path.isfile(path):
                    errors.append("%s %s of %s: %s exists but is not a file" % (
                        entry["role"], entry["selector"], entry["domain"], entry["key_file"]))
                    continue
                loaded = self._read_key(path, vault)
                if isinstance(loaded, str):
                    errors.append("%s selector %s of %s: DKIM key file %s %s" % (
                        entry["role"], entry["selector"], entry["domain"], entry["key_file"], loaded))
                    continue
                cache[path] = loaded
            elif not entry["may_generate"]:
                errors.append("retired selector %s of %s: DKIM key file %s does not exist; a new key cannot match "
                              "the record published under that selector - restore the file or drop the selector "
                              "from dkim_retired_selectors" % (entry["selector"], entry["domain"], entry["key_file"]))
        for entry in entries:
            if entry["role"] == "rotation":
                current = [e for e in entries if e["domain"] == entry["domain"] and e["role"] == "current"][0]
                if current["path"] not in cache:
                    errors.append("rotation of %s: the current key %s does not exist yet - generate and publish it "
                                  "first (run without mailfleet_dkim_rotate)" % (entry["domain"], current["key_file"]))
        if errors:
            return self._fail(result, "dkim_key: nothing was generated:\n  %s" % "\n  ".join(errors), errors=errors)

        # 2. Where new keys go: vault-encrypted whenever a vault secret is loaded.
        to_generate = [e for e in entries if e["path"] not in cache and e["may_generate"]]
        secret = None
        if to_generate and args["encrypt"] != "never":
            secrets = list(getattr(vault, "secrets", None) or [])
            try:
                secret = match_encrypt_secret(secrets, args["vault_id"] or C.DEFAULT_VAULT_ENCRYPT_IDENTITY) if secrets else None
            except AnsibleError as exc:
                return self._fail(result, "dkim_key: no vault secret to encrypt with: %s" % to_native(exc))
            if secret is None and args["encrypt"] == "always":
                return self._fail(result, "dkim_key: encrypt=always but no vault password was given "
                                  "(--vault-password-file or --vault-id); nothing was generated")
        warnings = []
        if to_generate and secret is None:
            warnings.append(
                "DKIM PRIVATE KEY%s WRITTEN UNENCRYPTED (no vault password given): %s. Encrypt %s now with "
                "'ansible-vault encrypt' before committing, or rerun with --vault-password-file." % (
                    "S" if len(to_generate) > 1 else "", ", ".join(sorted({e["key_file"] for e in to_generate})),
                    "them" if len(to_generate) > 1 else "it"))

        # 3. Generate what is missing (never in check mode, never over an existing file).
        diffs = []
        for entry in to_generate:
            path = entry["path"]
            if path in cache:  # the same file named twice: generated once
                continue
            if check_mode:
                cache[path] = {"key": None, "encrypted": secret is not None, "state": "would_generate"}
                continue
            try:
                pem = dkim.generate_private_key_pem(args["bits"])
                data = pem
                if secret is not None:
                    data = VaultLib([secret]).encrypt(pem, secret=secret[1], vault_id=secret[0])
                    if VaultLib([secret]).decrypt(data) != pem:
                        raise AnsibleError("the vault round trip did not give the key back")
                _write_new_file(path, data)
            except FileExistsError:
                return self._fail(result, "dkim_key: %s appeared while generating; not overwritten" % entry["key_file"])
            except (OSError, AnsibleError, dkim.DKIMKeyError) as exc:
                return self._fail(result, "dkim_key: cannot write the DKIM key %s for %s: %s" % (
                    entry["key_file"], entry["domain"], to_native(exc)))
            cache[path] = {"key": dkim.load_private_key(pem), "encrypted": secret is not None, "state": "generated"}
            diffs.append({"before_header": path, "after_header": path, "before": "",
                          "after": "(new %d-bit DKIM private key%s - not shown)\n" % (
                              args["bits"], ", vault-encrypted" if secret is not None else "")})

        # 4. Records, and what DNS serves (read-only, also in check mode).
        ctx = None
        if args["nameservers"]:
            try:
                ctx = dnsauth.Ctx(args["nameservers"], args["timeout"])
            except (dnsbl.DNSBLConfigError, ValueError) as exc:
                return self._fail(result, "dkim_key: invalid nameservers: %s" % to_native(exc))
        keys = []
        for entry in entries:
            state = cache[entry["path"]]
            out = {k: entry[k] for k in ("tenant", "domain", "selector", "role", "key_file", "path")}
            out.update(state=state["state"], encrypted=state["encrypted"], record=None, dns=None)
            if state["key"] is not None:
                out["record"] = dkim.record(entry["selector"], entry["domain"], state["key"])
                if ctx is not None and entry["role"] in ("current", "rotation"):
                    out["dns"] = dkim.audit_selector(entry["domain"], entry["selector"], state["key"], ctx)
            keys.append(out)

        retirement = []
        for current in (k for k in keys if k["role"] == "current"):
            retired = [{"selector": k["selector"], "key_file": k["key_file"]} for k in keys
                       if k["role"] == "retired" and k["domain"] == current["domain"]]
            if not retired:
                continue
            audit = current["dns"] or {"status": "unknown", "name": dkim.record_name(current["selector"], current["domain"]),
                                       "message": "DNS not audited: set mailfleet_dns_nameservers"}
            retirement.append(dkim.retirement_verdict(current["tenant"], current["domain"], current["selector"],
                                                      retired, audit))
        rotations = []
        for entry in (e for e in entries if e["role"] == "rotation"):
            key = [k for k in keys if k["path"] == entry["path"] and k["role"] == "rotation"][0]
            rotations.append({"tenant": entry["tenant"], "domain": entry["domain"],
                              "old_selector": entry["previous"]["selector"], "new_selector": entry["selector"],
                              "new_key_file": entry["key_file"], "state": key["state"],
                              "published": (key["dns"] or {}).get("status") == "published",
                              "snippet": dkim.rotation_snippet(entry)})

        generated = sorted({k["key_file"] for k in keys if k["state"] in ("generated", "would_generate")})
        result.update(changed=bool(generated), keys=keys, rotations=rotations, retirement=retirement,
                      generated=generated, report="\n".join(self._report(keys, rotations, retirement, check_mode)))
        if warnings:
            result["warnings"] = warnings
        if diffs and self._task.diff:
            result["diff"] = diffs
        result["msg"] = "%s %d DKIM key%s; %d selector%s in the inventory" % (
            "would generate" if check_mode else "generated", len(generated), "" if len(generated) == 1 else "s",
            len(keys), "" if len(keys) == 1 else "s")
        return result

    @staticmethod
    def _fail(result, msg, **extra):
        result.update(failed=True, changed=False, msg=msg, **extra)
        return result

    @staticmethod
    def _read_key(path, vault):
        """{"key", "encrypted", "state": "exists"} or an error text (never the key material)."""
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            return "cannot be read: %s" % exc.strerror
        encrypted = is_encrypted(data)
        if encrypted:
            try:
                data = vault.decrypt(data)
            except AnsibleError:
                return "is vault-encrypted and no given vault password opens it (--vault-password-file)"
        try:
            key = dkim.load_private_key(bytes(data))
        except dkim.DKIMKeyError as exc:
            return "is %s" % exc
        return {"key": key, "encrypted": encrypted, "state": "exists"}

    @staticmethod
    def _report(keys, rotations, retirement, check_mode):
        """Lines for the operator: each record to publish, exactly; rotation snippets; verdicts."""
        lines = []
        labels = {"generated": "GENERATED", "would_generate": "would be generated (check mode)", "exists": "exists"}
        for k in keys:
            head = "%s selector %s (%s%s): key %s %s" % (
                k["domain"], k["selector"], k["role"], "" if k["role"] != "rotation" else ", new",
                k["key_file"], labels[k["state"]])
            if k["record"]:
                head += ", %d bits, %s" % (k["record"]["bits"], "vault-encrypted" if k["encrypted"] else "NOT ENCRYPTED")
            lines.append(head)
            if k["role"] == "retired":
                lines.append("  retired: PowerMTA keeps this key until the DNS audit confirms the current selector")
                continue
            if not k["record"]:
                lines.append("  the TXT record is printed when the key exists (run without --check)")
                continue
            lines.append("  TXT name:  %s" % k["record"]["name"])
            lines.append("  TXT value: %s" % k["record"]["value"])
            lines.append("  zone file: %s" % k["record"]["zone_line"])
            if k["dns"]:
                lines.append("  DNS now:   %s - %s" % (k["dns"]["status"], k["dns"]["message"]))
        for rot in rotations:
            lines.append("ROTATION %s: %s -> %s. 1) publish the TXT record of %s above; 2) when DNS serves it, "
                         "change the inventory (pull request) as its snippet (rotations[].snippet) shows; 3) deploy; "
                         "4) rerun playbooks/dkim.yml: it says when %s may leave the inventory" % (
                             rot["domain"], rot["old_selector"], rot["new_selector"], rot["new_selector"],
                             rot["old_selector"]))
        for ret in retirement:
            lines.append("RETIRED %s: %s" % (ret["verdict"].upper(), ret["message"]))
        if check_mode:
            lines.append("check mode: no key was written")
        return lines
