# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin behind mailfleet.fleet.fleet_model: validate the inventory, publish the model."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import os

from ansible.module_utils.common.text.converters import to_native
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible_collections.mailfleet.fleet.plugins.module_utils import fleet
from ansible_collections.mailfleet.fleet.plugins.module_utils.inventory_locate import Locator

GLOBAL_VARS = (fleet.TENANTS_VAR, fleet.SCHEDULES_VAR, fleet.PROVIDERS_VAR, fleet.INSTANCES_VAR)


def _plain(value):
    """Resolved Ansible values as plain Python (vaulted strings become str)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, int, float, datetime.date)) or value is None:
        return value
    return str(value)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("today", "require_key_files"))

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        hostvars = task_vars["hostvars"]
        groups = task_vars.get("groups", {})
        sources = [to_native(s) for s in task_vars.get("ansible_inventory_sources", [])]
        host_groups = {name: [g for g in groups if g not in ("all", "ungrouped") and name in groups[g]]
                       for name in groups.get("all", [])}
        locator = Locator(sources, host_groups, relative_to=os.getcwd())

        # Ansible raises many exception types while loading and templating variables: each is
        # turned into the file and line at fault (or the variable), never a traceback.
        load_errors = []
        inventory = {"globals": {}, "hosts": {}}
        try:
            for name in GLOBAL_VARS:
                if name in task_vars:
                    inventory["globals"][name] = _plain(self._templar.template(task_vars[name]))
        except Exception as exc:  # noqa: BLE001
            load_errors.extend(locator.load_errors(None) or ["cannot resolve the global variables: %s" % to_native(exc)])
        for host in sorted(groups.get("all", [])):
            entry = {"groups": host_groups[host], "vars": {}}
            try:
                hvars = hostvars[host]
                if fleet.IPS_VAR in hvars:
                    entry["vars"][fleet.IPS_VAR] = _plain(hvars[fleet.IPS_VAR])
            except Exception as exc:  # noqa: BLE001
                load_errors.extend(locator.load_errors(host) or [
                    "host %s: cannot load its variables: %s" % (host, to_native(exc))])
                continue
            inventory["hosts"][host] = entry

        model, errors = fleet.build_model(inventory)
        base = self._inventory_base(sources)
        messages = sorted(set(load_errors), key=load_errors.index)
        for err in errors:
            messages.append(err.format(locator.locate(err.host, err.var, err.path)))
        if boolean(self._task.args.get("require_key_files", True), strict=False):
            messages += self._check_key_files(model, base, locator)
        if messages:
            result["failed"] = True
            result["errors"] = messages
            result["msg"] = "The inventory has %d error%s; no host was touched:\n  %s" % (
                len(messages), "" if len(messages) == 1 else "s", "\n  ".join(messages))
            return result

        today = self._task.args.get("today") or task_vars.get("mailfleet_today")
        today = fleet.parse_date(today) if today else datetime.date.today()
        if today is None:
            result.update(failed=True, msg="fleet_model: 'today' must be a date YYYY-MM-DD")
            return result
        result["changed"] = False
        result["ansible_facts"] = {
            "mailfleet_model": model,
            "mailfleet_today": today.isoformat(),
            "mailfleet_inventory_base": base,
        }
        result["summary"] = {"tenants": len(model["tenants"]), "hosts": len(model["hosts"]), "ips": len(model["ips"])}
        result["msg"] = "fleet OK: %(tenants)d tenants, %(hosts)d PowerMTA hosts, %(ips)d IPs" % result["summary"]
        return result

    @staticmethod
    def _inventory_base(sources):
        for source in sources:
            if os.path.exists(source):
                return os.path.abspath(source if os.path.isdir(source) else os.path.dirname(source))
        return os.getcwd()

    def _check_key_files(self, model, base, locator):
        """Every DKIM key file must exist on the controller (relative paths: to the inventory)."""
        messages = []
        for name, tenant in sorted(model["tenants"].items()):
            for i, dom in enumerate(tenant["domains"]):
                entries = [("dkim_key_file", dom["dkim_key_file"])]
                entries += [("dkim_retired_selectors[%d].key_file" % j, old["key_file"])
                            for j, old in enumerate(dom.get("dkim_retired_selectors", []))]
                for key, ref in entries:
                    if not ref:
                        continue
                    path = ref if os.path.isabs(ref) else os.path.join(base, ref)
                    problem = None
                    if not os.path.isfile(path):
                        problem = "DKIM key file %s does not exist (relative paths start at the inventory directory)" % ref
                    else:
                        with open(path, "rb") as handle:
                            head = handle.read(64)
                        if not (head.startswith(b"$ANSIBLE_VAULT") or b"-----BEGIN" in head):
                            problem = "DKIM key file %s is neither a PEM private key nor vault-encrypted" % ref
                    if problem:
                        err = fleet.FleetError(fleet.TENANTS_VAR, ".%s.domains[%d].%s" % (name, i, key), problem)
                        messages.append(err.format(locator.locate(None, err.var, err.path)))
        return messages
