"""Injection through every variable that reaches /etc/pmta/config.

The variables are enumerated from the code -- the role's meta/argument_specs.yml, defaults and
vars, the fleet model's keys (fleet.TENANT_KEYS, DOMAIN_KEYS, IP_KEYS, ...) and the caps contract
-- so a new variable that is not classified here fails ``test_every_variable_is_classified``.

Each value is attacked with every hostile class and goes through the real rendering path: the
role's defaults/main.yml and vars/main.yml templated by Ansible's Templar into the action's
``render`` argument, then the action plugin's ``render_task`` (host-path checks, host view,
template with typed filters, parse-back). The run must fail with a message naming the variable,
and produce no text. (tests/integration/test_pmta_injection_deploy.py runs a representative set through
the real deploy.yml and proves nothing changed on the hosts.)
"""
import copy
import os
import re

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from ansible_collections.mailfleet.fleet.plugins.action.pmta_config import render_task
from ansible_collections.mailfleet.fleet.plugins.module_utils import fleet, pmta_check
from ansible_collections.mailfleet.fleet.plugins.plugin_utils.pmta_template import RenderError

from fleetdata import caps_for, raw
from helpers import ROOT

ROLE = os.path.join(ROOT, "roles", "pmta_config")
HOST = "pmta-1"


def _yaml(*parts):
    with open(os.path.join(ROLE, *parts)) as handle:
        return yaml.safe_load(handle)


SPEC = _yaml("meta", "argument_specs.yml")["argument_specs"]["main"]["options"]
DEFAULTS = _yaml("defaults", "main.yml")
VARS = _yaml("vars", "main.yml")

HOSTILE = {
    "LF": "\n", "CR": "\r", "CRLF": "\r\n", "NUL": "\x00", "TAB": "\t", "VT": "\x0b", "FF": "\x0c", "ESC": "\x1b",
    "DEL": "\x7f", "C1 NEL": "\x85", "NBSP": "\u00a0", "LS": "\u2028", "PS": "\u2029", "ZWSP": "\u200b",
    "ZWJ": "\u200d", "RLO": "\u202e", "BOM": "\ufeff", "IDEOGRAPHIC SPACE": "\u3000", "<": "<", ">": ">", '"': '"',
    "#": "#", "space": " ",
}
# Harmless inside a comment line (the whole line is a comment): a comment may hold them.
COMMENT_SAFE = {"<", ">", '"', "#", "space"}


def attack(good, label):
    """``good`` followed by a relay block, joined by the hostile character (an open relay when LF)."""
    if label == "trailing newline":
        return good + "\n"
    ch = HOSTILE[label]
    return good + ch + "<source 0/0>" + ch + "    always-allow-relaying yes" + ch + "</source>"


LABELS = sorted(HOSTILE) + ["trailing newline"]

# ---------------------------------------------------------------------------------------------
# Role variables (and the other Ansible variables the role reads)
# ---------------------------------------------------------------------------------------------
# variable -> [(how to set it from a hostile string, the name the message must give)]
ROLE_CASES = {
    "mailfleet_root": [(lambda h: "/srv/mf" + h, "mailfleet_root")],
    "pmta_config_root": [(lambda h: "/srv/mf" + h, "pmta_config_root")],
    "pmta_config_path": [(lambda h: "/etc/pmta/config" + h, "pmta_config_path")],
    "pmta_config_dkim_dir": [(lambda h: "/etc/pmta/dkim" + h, "pmta_config_dkim_dir")],
    "pmta_config_local_include": [(lambda h: "/etc/pmta/local.conf" + h, "pmta_config_local_include")],
    "pmta_config_acct_file": [(lambda h: "/var/log/pmta/acct.csv" + h, "pmta_config_acct_file")],
    "pmta_config_log_file": [(lambda h: "/var/log/pmta/log" + h, "pmta_config_log_file")],
    "pmta_config_spool_dir": [(lambda h: "/var/spool/pmta" + h, "pmta_config_spool_dir")],
    "pmta_config_state_dir": [(lambda h: "/var/lib/mailfleet" + h, "pmta_config_state_dir")],
    "pmta_config_backup_dir": [(lambda h: "/var/lib/mailfleet/backups" + h, "pmta_config_backup_dir")],
    "pmta_config_postmaster": [(lambda h: "postmaster@example.com" + h, "pmta_config_postmaster")],
    "pmta_config_smtp_listeners": [(lambda h: ["127.0.0.1:2525", "0.0.0.0:25" + h], "pmta_config_smtp_listeners[1]")],
    "pmta_config_http_mgmt_port": [(lambda h: "8080" + h, "pmta_config_http_mgmt_port")],
    "pmta_config_http_access": [
        (lambda h: [{"source": "127.0.0.1" + h, "level": "admin"}], "pmta_config_http_access[0].source"),
        (lambda h: [{"source": "127.0.0.1", "level": "monitor" + h}], "pmta_config_http_access[0].level"),
        (lambda h: [{"source": "127.0.0.1", "level": "admin", "x" + h: "y"}], "pmta_config_http_access[0]")],
    "pmta_config_relay_sources": [(lambda h: ["10.0.0.0/8" + h], "pmta_config_relay_sources[0]")],
    "pmta_config_domain_defaults": [
        (lambda h: {"retry-after": "10m" + h}, "pmta_config_domain_defaults.retry-after"),
        (lambda h: {"dkim-sign": "no" + h}, "pmta_config_domain_defaults.dkim-sign"),
        (lambda h: {"max-smtp-out": "5" + h}, "pmta_config_domain_defaults.max-smtp-out"),
        (lambda h: {"queue-priority": "50" + h}, "pmta_config_domain_defaults.queue-priority"),
        (lambda h: {"retry-after" + h: "10m"}, "pmta_config_domain_defaults.")],
    "pmta_config_acct": [
        (lambda h: {"records": "d,b" + h}, "pmta_config_acct.records"),
        (lambda h: {"move_interval": "1d" + h}, "pmta_config_acct.move_interval"),
        (lambda h: {"max_size": "50M" + h}, "pmta_config_acct.max_size"),
        (lambda h: {"delete_after": "8d" + h}, "pmta_config_acct.delete_after"),
        (lambda h: {"records": "d", "move-interval" + h: "1d"}, "pmta_config_acct.")],
    "pmta_config_backoff": [
        (lambda h: {"retry_after": "30m" + h}, "pmta_config_backoff.retry_after"),
        (lambda h: {"to_normal_after": "2h" + h}, "pmta_config_backoff.to_normal_after"),
        (lambda h: {"retry_after" + h: "30m"}, "pmta_config_backoff.")],
    "inventory_hostname": "the host name: see MODEL_CASES['host']",
    "pmta_config_model": "the fleet model: see MODEL_CASES",
    "pmta_config_caps": "today's caps: see CAPS_CASES",
}
# Variables of the role that never reach the configuration text, and why.
NOT_IN_CONFIG = {
    "pmta_config_backups_keep": "how many previous configurations the module keeps (an int argument)",
    "pmta_config_owner": "file ownership, given to ansible.builtin.file/copy and the module",
    "pmta_config_group": "file ownership, given to ansible.builtin.file/copy and the module",
    "pmta_config_pmta_command": "the command the module runs to reload (argv, no shell)",
    "pmta_config_environment": "the environment of the reload command",
    "pmta_config_check_extra_directives": "directive names the host-side checker accepts; never written",
    "pmta_config_inventory_base": "where the DKIM key files are read on the controller (src, not dest)",
}


def test_every_variable_is_classified():
    role_vars = {k for k in ROLE_CASES if k.startswith("pmta_config_")}
    assert set(SPEC) == role_vars | set(NOT_IN_CONFIG)
    assert not role_vars & set(NOT_IN_CONFIG)
    # every optional variable has its default; the inputs the including step passes have none
    required = {name for name, spec in SPEC.items() if spec.get("required")}
    assert required == {"pmta_config_model", "pmta_config_caps", "pmta_config_inventory_base"}
    # other entry points' own options (the probe's state files: digested, never rendered)
    others = {name for point, spec in _yaml("meta", "argument_specs.yml")["argument_specs"].items()
              if point != "main" for name in spec.get("options", {})} - set(SPEC)
    assert others <= {"pmta_config_probe_states"}
    assert set(DEFAULTS) == (set(SPEC) - required) | others
    # every variable the role's render input and settings read is attacked here
    with open(os.path.join(ROLE, "vars", "main.yml")) as handle:
        used = set(re.findall(r"\b((?:pmta_config|mailfleet)_[a-z_]+)\b(?!\()", handle.read()))
    # (the file ownership the deploy's directory list carries is classified as not in the config)
    assert used - required - set(NOT_IN_CONFIG) <= set(ROLE_CASES), used
    assert set(VARS["_pmta_config_render"]) == {"host", "model", "caps", "settings", "template", "roots", "host_paths"}


def _trusted(value):
    if isinstance(value, dict):
        return {k: _trusted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_trusted(v) for v in value]
    return trust_as_template(value) if isinstance(value, str) else value


def model():
    m, errors = fleet.build_model(raw())
    assert not errors
    return m


def render_through_the_role(overrides=None, m=None, caps=None, host=HOST):
    """What the role's deploy task renders: defaults + vars templated by Ansible, then the action.

    The model and the caps are passed through ``{{ pmta_config_model }}`` / ``{{ pmta_config_caps }}``
    unchanged; they are put in after templating (templating a whole model a thousand times is slow)."""
    m = m or model()
    variables = _trusted(DEFAULTS)
    variables.update(_trusted(VARS))
    variables.update({"inventory_hostname": host, "role_path": ROLE, "pmta_config_model": {},
                      "pmta_config_caps": {}, "pmta_config_inventory_base": "/inv",
                      # the SMTP passwords, as secrets.smtp_passwords reads them from the inventory
                      "mailfleet_tenants": {n: {"smtp_password": t.get("smtp_password", "alpha secret")}
                                            for n, t in m["tenants"].items() if n.startswith("alpha")}})
    variables.update(overrides or {})
    render = Templar(loader=DataLoader(), variables=variables).template(variables["_pmta_config_render"])
    assert render["model"] == {} and render["caps"] == {}
    render.update(model=m, caps=caps_for(m) if caps is None else caps)
    return render_task(render, variables, host)


def test_the_role_renders_the_clean_inventory():
    text, view = render_through_the_role()
    assert text.count("<source 0/0>") == 1 and "always-allow-relaying yes" not in text
    assert '    password "alpha secret"\n' in text
    assert view["host"].value == HOST


def _refused(what, **kwargs):
    with pytest.raises(RenderError) as info:
        render_through_the_role(**kwargs)
    message = str(info.value)
    assert what in message, message
    return message


ROLE_PARAMS = [(var, i, label) for var, cases in sorted(ROLE_CASES.items()) if isinstance(cases, list)
               for i in range(len(cases)) for label in LABELS]


@pytest.mark.parametrize("var,case,label", ROLE_PARAMS)
def test_injection_through_a_role_variable(var, case, label):
    make, what = ROLE_CASES[var][case]
    message = _refused(what, overrides={var: make(attack("", label))})
    assert message.startswith("host %s: " % HOST)


# ---------------------------------------------------------------------------------------------
# The fleet model (inventory values that survive validation, or did before it was tightened)
# ---------------------------------------------------------------------------------------------
def _rename_tenant(m, h):
    new = "alpha" + h
    m["tenants"][new] = m["tenants"].pop("alpha")
    m["tenants"][new]["name"] = new
    for ip in list(m["ips"].values()) + [ip for hinfo in m["hosts"].values() for ip in hinfo["ips"]]:
        if ip["tenant"] == "alpha":
            ip["tenant"] = new


def _rename_host(m, h):
    m["hosts"]["pmta-1" + h] = m["hosts"].pop("pmta-1")
    return "pmta-1" + h


def _first_ip(m):
    return m["hosts"]["pmta-1"]["ips"][0]


def _set_address(m, h):
    ip = _first_ip(m)
    m["ips"][ip["address"] + h] = m["ips"].pop(ip["address"])
    ip["address"] += h


# key -> (mutation of the model, the name the message must give, the kind of field it lands in)
MODEL_CASES = {
    "tenant name": (_rename_tenant, "mailfleet_tenants.", "tenant"),
    "host": (_rename_host, "inventory host name", "comment"),
    "tenant.pool": (lambda m, h: m["tenants"]["alpha"].update(pool="alpha-pool" + h), "mailfleet_tenants.alpha.pool", ""),
    "tenant.smtp_user": (lambda m, h: m["tenants"]["alpha"].update(smtp_user="alpha" + h),
                         "mailfleet_tenants.alpha.smtp_user", ""),
    "tenant.smtp_password": (lambda m, h: m["tenants"]["alpha"].update(smtp_password="Xy{9%k" + h),
                             "mailfleet_tenants.alpha.smtp_password", "password"),
    "domain.name": (lambda m, h: m["tenants"]["alpha"]["domains"][0].update(name="alpha.example.com" + h),
                    "mailfleet_tenants.alpha.domains[0].name", ""),
    "domain.dkim_selector": (lambda m, h: m["tenants"]["alpha"]["domains"][0].update(dkim_selector="s1" + h),
                             "mailfleet_tenants.alpha.domains[0].dkim_selector", ""),
    "retired.selector": (lambda m, h: m["tenants"]["alpha"]["domains"][1]["dkim_retired_selectors"][0].update(
        selector="s0" + h), "mailfleet_tenants.alpha.domains[1].dkim_retired_selectors[0].selector", ""),
    "ip.address": (_set_address, "host pmta-1: mailfleet_ips[", ""),
    "ip.hostname": (lambda m, h: _first_ip(m).update(hostname="mta1" + h + ".alpha.example.com"),
                    "host pmta-1: mailfleet_ips[192.0.2.1].hostname", ""),
    "ip.vmta": (lambda m, h: _first_ip(m).update(vmta="alpha-192-0-2-1" + h),
                "host pmta-1: mailfleet_ips[192.0.2.1].vmta", ""),
    "providers.mx": (lambda m, h: m["providers"]["gmail"]["mx"].append("*.google.com" + h),
                     "mailfleet_providers.gmail.mx", ""),
}
# Inventory keys (fleet.py's lists) that reach the config through MODEL_CASES, or never do.
INVENTORY_KEYS = {
    ("tenant", "pool"): "tenant.pool", ("tenant", "smtp_user"): "tenant.smtp_user",
    ("tenant", "smtp_password"): "tenant.smtp_password", ("tenant", "domains"): "domain.*",
    ("domain", "name"): "domain.name", ("domain", "dkim_selector"): "domain.dkim_selector",
    ("domain", "dkim_retired_selectors"): "retired.selector", ("retired", "selector"): "retired.selector",
    ("ip", "address"): "ip.address", ("ip", "hostname"): "ip.hostname", ("ip", "tenant"): "tenant name",
    ("ip", "vmta"): "ip.vmta", ("provider", "mx"): "providers.mx",
}
INVENTORY_NOT_IN_CONFIG = {
    ("tenant", k) for k in ("mailwizz", "schedule", "from_name", "from_email", "description", "mailwizz_lists",
                            "mailwizz_auth", "delivery_server")
} | {("domain", "dkim_key_file"), ("retired", "key_file"), ("ip", "warmup_start"), ("ip", "schedule"),
     ("ip", "overrides"), ("provider", "domains")}  # key files: src on the controller; the rest feed the planner


def test_every_inventory_key_is_classified():
    keys = {("tenant", k) for k in fleet.TENANT_KEYS} | {("domain", k) for k in fleet.DOMAIN_KEYS}
    keys |= {("retired", "selector"), ("retired", "key_file"), ("provider", "domains"), ("provider", "mx")}
    keys |= {("ip", k) for k in fleet.IP_KEYS}
    assert keys == set(INVENTORY_KEYS) | INVENTORY_NOT_IN_CONFIG
    assert {v for v in INVENTORY_KEYS.values() if not v.endswith("*")} <= set(MODEL_CASES)


MODEL_PARAMS = [(key, label) for key in sorted(MODEL_CASES) for label in LABELS]


@pytest.mark.parametrize("key,label", MODEL_PARAMS)
def test_injection_through_an_inventory_value(key, label):
    mutate, what, kind = MODEL_CASES[key]
    m = model()
    caps = caps_for(m)
    host = mutate(m, attack("", label)) or HOST
    if key == "ip.address":
        caps[_first_ip(m)["address"]] = caps.pop("192.0.2.1")
    if kind == "comment" and label in COMMENT_SAFE:
        _harmless(render_through_the_role(m=m, caps=caps, host=host)[0])
        return
    if kind == "password" and label == "space":
        return  # a space inside a password is legitimate: it is quoted (see test_pmta_filters)
    message = _refused(what, m=m, caps=caps, host=host)
    if kind == "password":
        assert "Xy{9%k" not in message and "always-allow-relaying" not in message


def _harmless(text):
    """The text holds the same blocks and directives as a clean one: comments took the rest."""
    clean, _view = render_through_the_role()

    def shape(config):
        return [(n.kind, n.name, n.args) for n in pmta_check.parse(config)[0]]
    assert pmta_check.parse(text)[1] == [] and shape(text) == shape(clean)


# ---------------------------------------------------------------------------------------------
# Today's caps (the planner's output; what a corrupt state file could make of it)
# ---------------------------------------------------------------------------------------------
CAPS_CASES = {
    "reason": (lambda c, h: c["192.0.2.1"].update(reason="as planned" + h), "pmta_config_caps[192.0.2.1].reason",
               "comment"),
    "daily": (lambda c, h: c["192.0.2.1"].update(daily="50" + h), "pmta_config_caps[192.0.2.1].daily", ""),
    "stage": (lambda c, h: c["192.0.2.1"].update(stage="1" + h), "pmta_config_caps[192.0.2.1].stage", ""),
    "providers": (lambda c, h: c["192.0.2.1"]["providers"].update({"gmail" + h: 5}),
                  "pmta_config_caps[192.0.2.1].providers", ""),
    "provider cap": (lambda c, h: c["192.0.2.1"]["providers"].update(gmail="5" + h),
                     "pmta_config_caps[192.0.2.1].providers.gmail", ""),
}


def test_every_caps_key_is_classified():
    m = model()
    assert set(caps_for(m)["192.0.2.1"]) == {"daily", "providers", "standby", "stage", "reason"}
    # standby is a decision (a boolean the view reads), never printed
    assert set(CAPS_CASES) >= {"reason", "daily", "stage", "providers"}


@pytest.mark.parametrize("key,label", [(k, lab) for k in sorted(CAPS_CASES) for lab in LABELS])
def test_injection_through_the_caps(key, label):
    mutate, what, kind = CAPS_CASES[key]
    m = model()
    caps = caps_for(m)
    mutate(caps, attack("", label))
    if kind == "comment" and label in COMMENT_SAFE:
        _harmless(render_through_the_role(m=m, caps=caps)[0])
        return
    _refused(what, m=m, caps=caps)


def test_a_clean_run_after_all_this_is_still_clean():
    m = model()
    first = render_through_the_role(m=copy.deepcopy(m))[0]
    assert render_through_the_role(m=m)[0] == first
