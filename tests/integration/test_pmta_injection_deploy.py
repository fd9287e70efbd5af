"""Injection through the real deploy.yml on sandbox hosts (PowerMTA stand-in): a representative
set of variables -- role variables, mailfleet_root, the inventory host name, inventory values --
each carrying a <source 0/0> always-allow-relaying block (an open relay) joined by a line break
or another hostile character. Every run must fail naming the variable, and nothing may change on
any host: no file written, created or removed, no reload. (tests/unit/test_pmta_injection.py
attacks every variable with every class through the same rendering path.)"""
import hashlib
import json
import os
import re

from helpers import recap, reloads, run_playbook, sandbox_inventory

RELAY = "<source 0/0>{0}    always-allow-relaying yes{0}</source>"


def relay(value, sep="\n"):
    return value + sep + RELAY.format(sep)


def snapshot(root):
    """Every file and directory under the sandbox hosts: path -> sha256 (or 'dir')."""
    out = {}
    for base, dirs, files in os.walk(root):
        for name in dirs:
            out[os.path.relpath(os.path.join(base, name), root)] = "dir"
        for name in files:
            path = os.path.join(base, name)
            with open(path, "rb") as handle:
                out[os.path.relpath(path, root)] = hashlib.sha256(handle.read()).hexdigest()
    return out


def write(inv_dir, rel, data):
    path = os.path.join(inv_dir, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        json.dump(data, handle)  # JSON is YAML: \n, \u2028, \u00a0 ... arrive as those characters


def hosts_yml(inv_dir, extra_hosts):
    lines = ["---", "all:", "  children:", "    pmta:", "      hosts:", "        pmta-1:", "        pmta-2:"]
    lines += ["        %s:" % json.dumps(host) + (" %s" % json.dumps(hvars) if hvars else "")
              for host, hvars in extra_hosts]
    lines += ["      vars:", "        ansible_connection: local",
              "        ansible_python_interpreter: \"{{ ansible_playbook_python }}\"", ""]
    with open(os.path.join(inv_dir, "hosts.yml"), "w") as handle:
        handle.write("\n".join(lines))


def deploy(inv, tmp_path, *args):
    return run_playbook("deploy.yml", inv, "-e", "mailfleet_serial=20", *args, tmp=tmp_path)


def assert_untouched(root, before, hosts, reload_counts, out):
    assert snapshot(root) == before, out
    for host in hosts:
        assert len(reloads(root, host)) == reload_counts[host], host
    assert "always-allow-relaying yes" not in "".join(
        open(os.path.join(base, name), errors="replace").read()
        for base, _d, files in os.walk(root) for name in files if name in ("config", "running.conf"))


def test_role_variables_mailfleet_root_and_host_name(tmp_path):
    inv, root = sandbox_inventory(tmp_path)
    inv_dir = os.path.dirname(inv)
    # host -> (variable, hostile value, what the message names)
    cases = {
        "inj-postmaster": ("pmta_config_postmaster", relay("postmaster@example.com"), "pmta_config_postmaster"),
        "inj-defaults": ("pmta_config_domain_defaults", {"retry-after": relay("10m\n</domain>")},
                         "pmta_config_domain_defaults.retry-after"),
        "inj-listener": ("pmta_config_smtp_listeners", [relay("127.0.0.1:2525", "\u2028")],
                         "pmta_config_smtp_listeners[0]"),
        "inj-relay": ("pmta_config_relay_sources", ["0/0"], "pmta_config_relay_sources[0]"),
        "inj-access": ("pmta_config_http_access", [{"source": "127.0.0.1", "level": "admin\nhttp-access 0/0 admin"}],
                       "pmta_config_http_access[0].level"),
        "inj-acct": ("pmta_config_acct", {"records": relay("d,b", "\x85")}, "pmta_config_acct.records"),
        "inj-spool": ("pmta_config_spool_dir", relay("/var/spool/pmta", "\u00a0"), "pmta_config_spool_dir"),
        "inj-include": ("pmta_config_local_include", "/etc/pmta/local.conf\ninclude /etc/shadow",
                        "pmta_config_local_include"),
        "inj-dkim": ("pmta_config_dkim_dir", relay("/etc/pmta/dkim", "\u202e"), "pmta_config_dkim_dir"),
        "inj-port": ("pmta_config_http_mgmt_port", relay("8080"), "pmta_config_http_mgmt_port"),
    }
    hosts = ["pmta-1", "pmta-2"] + sorted(cases)
    hosts_yml(inv_dir, [(host, None) for host in sorted(cases)])
    first = deploy(inv, tmp_path)
    assert first.returncode == 0, first.stdout
    assert all(recap(first.stdout)[h]["failed"] == 0 for h in hosts)
    before = snapshot(root)
    counts = {h: len(reloads(root, h)) for h in hosts}
    assert all(counts[h] == 1 for h in hosts)

    for host, (var, value, _what) in cases.items():
        write(inv_dir, "host_vars/%s.yml" % host, {var: value})
    run = deploy(inv, tmp_path)
    assert run.returncode != 0
    for host, (_var, _value, what) in cases.items():
        # the role's argument spec (types) or the renderer, whichever refuses first, names the variable
        failed = re.findall(r"Deploy failed on %s: [^\n]*(?:\n +[^\n]*)*" % re.escape(host), run.stdout)
        assert any(what in line for line in failed), (host, run.stdout)
        assert recap(run.stdout)[host]["failed"] == 1
    assert "pmta_config: host inj-postmaster: pmta_config_postmaster: contains U+000A (LINE FEED)" in run.stdout
    assert "Nothing was sent to the host." in run.stdout
    assert_untouched(root, before, hosts, counts, run.stdout)

    for host in cases:
        os.unlink(os.path.join(inv_dir, "host_vars", "%s.yml" % host))

    # mailfleet_root, the prefix of every path on a host (validation refuses it first, since it
    # checks mailfleet_root too; the renderer would otherwise).
    write(inv_dir, "host_vars/inj-postmaster.yml", {"mailfleet_root": relay(os.path.join(root, "inj-postmaster"))})
    run = deploy(inv, tmp_path)
    assert run.returncode != 0
    assert re.search(r"mailfleet_root: contains U\+000A \(LINE FEED\)", run.stdout), run.stdout
    assert_untouched(root, before, hosts, counts, run.stdout)
    os.unlink(os.path.join(inv_dir, "host_vars", "inj-postmaster.yml"))

    # A host whose inventory name breaks out of the "# Host ..." comment: refused, nothing created.
    evil = relay("pmta-9") + "\n#"
    hosts_yml(inv_dir, [(host, None) for host in sorted(cases)] + [
        (evil, {"mailfleet_root": os.path.join(root, "pmta-9")})])
    run = deploy(inv, tmp_path)
    assert run.returncode != 0
    # refused by the renderer (or, once validation checks host names, by validate.yml, naming the host)
    assert "inventory host name: contains U+000A (LINE FEED)" in run.stdout or (
        "The inventory has" in run.stdout and "pmta-9" in run.stdout), run.stdout
    assert not os.path.exists(os.path.join(root, "pmta-9"))
    assert_untouched(root, before, hosts, counts, run.stdout)


def test_inventory_values(tmp_path):
    inv, root = sandbox_inventory(tmp_path)
    inv_dir = os.path.dirname(inv)
    first = deploy(inv, tmp_path)
    assert first.returncode == 0, first.stdout
    hosts = ["pmta-1", "pmta-2"]
    before = snapshot(root)
    counts = {h: len(reloads(root, h)) for h in hosts}
    with open(os.path.join(inv_dir, "group_vars", "all.yml")) as handle:
        fleet_vars = handle.read()

    # An SMTP password whose spaces are U+00A0 and which carries an open relay.
    secret = relay("alpha\u00a0Zq7vX\u00a0secret")
    write(inv_dir, "group_vars/all.yml", _with_password(fleet_vars, secret))
    run = deploy(inv, tmp_path)
    assert run.returncode != 0
    assert "mailfleet_tenants.alpha.smtp_password: contains U+00A0 (NO-BREAK SPACE)" in run.stdout, run.stdout
    assert "Zq7vX" not in run.stdout
    assert_untouched(root, before, hosts, counts, run.stdout)

    # A PTR name with a line break inside a label (fleet.py's old '$' let it through).
    with open(os.path.join(inv_dir, "group_vars", "all.yml"), "w") as handle:
        handle.write(fleet_vars)
    host_vars = os.path.join(inv_dir, "host_vars", "pmta-1.yml")
    with open(host_vars) as handle:
        clean_host = handle.read()
    with open(host_vars, "w") as handle:
        handle.write(clean_host.replace("hostname: mta1.alpha.example.com",
                                        'hostname: "mta1\\n.alpha.example.com"'))
    run = deploy(inv, tmp_path)
    assert run.returncode != 0
    assert re.search(r"mailfleet_ips\[[^\]]+\]\.hostname", run.stdout), run.stdout
    assert_untouched(root, before, hosts, counts, run.stdout)

    # A provider MX pattern with a trailing newline (fleet.py's old '$' let it through).
    with open(host_vars, "w") as handle:
        handle.write(clean_host)
    write(inv_dir, "group_vars/all/providers.yml", {"mailfleet_providers": {
        "gmail": {"domains": ["gmail.com"], "mx": ["*.google.com\n"]}}})
    os.rename(os.path.join(inv_dir, "group_vars", "all.yml"), os.path.join(inv_dir, "group_vars", "all", "fleet.yml"))
    run = deploy(inv, tmp_path)
    assert run.returncode != 0
    assert "mailfleet_providers.gmail.mx" in run.stdout, run.stdout
    assert_untouched(root, before, hosts, counts, run.stdout)


def _with_password(fleet_vars, secret):
    import yaml
    data = yaml.safe_load(fleet_vars)
    data["mailfleet_tenants"]["alpha"]["smtp_password"] = secret
    return data
