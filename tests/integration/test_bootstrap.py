"""playbooks/bootstrap.yml end to end on a real SSH host with its own Debian root file system.

The host (tests/hostlab/chroothost.py) is a hostlab namespace host whose sshd runs chrooted into a
private copy of a cached Debian bookworm minbase root, so installing a package there installs it
in that root only. PowerMTA itself is commercial: the package installed is a stand-in built here
(tests/standins/pmta-package/build.py), shaped like PowerMTA's and carrying the `pmta` stand-in.

Cost: the first run on a machine builds the cached root with debootstrap from the Debian mirror in
the runner's APT sources (about 3 minutes, ~140 MB in /var/cache/mailfleet-tests, or
$MAILFLEET_TEST_CACHE); later runs copy it (a few seconds). Needs root.
"""
import importlib.util
import json
import os
import re
import subprocess
import sys

import pytest

from helpers import ROOT, VENV_BIN, ansible_env, base_inventory, recap, run_playbook

sys.path.insert(0, os.path.join(ROOT, "tests", "hostlab"))
import chroothost  # noqa: E402
import hostlab  # noqa: E402

# the package builder, by path (its file name, build.py, would clash with PyPI's `build`)
_spec = importlib.util.spec_from_file_location(
    "mailfleet_pmta_package", os.path.join(ROOT, "tests", "standins", "pmta-package", "build.py"))
pmta_package = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pmta_package)

pytestmark = [pytest.mark.slow, pytest.mark.root]

HOST = "pmta-1"
LICENSE = "PowerMTA test license 0123-4567-89ab\nissued-to: alpha.example.com\n"
VAULT_PASSWORD = "mailfleet-test-vault"
LISTENERS = ["0.0.0.0:25", "192.0.2.1:587"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A bare Debian host in a lab, the stand-in package, a vault and an inventory."""
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces, chroot, debootstrap)")
    ok, why = hostlab.available()
    if not ok:
        pytest.skip(why)
    root = chroothost.ensure_root()   # first time: debootstrap, ~3 minutes
    tmp = tmp_path_factory.mktemp("bootstrap")
    deb = pmta_package.build_deb(str(tmp / "pkg"))
    lab = chroothost.ChrootLab(str(tmp / "lab"), root, prefix="mfbs", hosts=[HOST],
                               groups=["pmta"], first="auto")
    try:
        lab.up()
        vault_file = tmp / "vault-password"
        vault_file.write_text(VAULT_PASSWORD + "\n")
        secret = subprocess.run(
            [os.path.join(VENV_BIN, "ansible-vault"), "encrypt_string", "--vault-password-file",
             str(vault_file), "--stdin-name", "pmta_bootstrap_license"],
            input=LICENSE, capture_output=True, text=True, env=ansible_env(tmp), check=True).stdout
        with open(lab.inventory_path) as handle:
            hosts_yml = handle.read()
        group_vars = "\n".join([
            "---",
            "pmta_bootstrap_package_file: %s" % deb,
            "pmta_bootstrap_firewall: nftables",
            "pmta_config_smtp_listeners: %s" % LISTENERS,
            secret.strip(),
            "",
        ])
        inventory = base_inventory(tmp / "inv", {"hosts.yml": hosts_yml, "group_vars/pmta.yml": group_vars})
        yield {"lab": lab, "inventory": inventory, "tmp": tmp, "deb": deb, "vault": str(vault_file)}
    finally:
        lab.down()


def bootstrap(env, *args):
    return run_playbook("bootstrap.yml", env["inventory"], "--vault-password-file", env["vault"], *args,
                        tmp=env["tmp"])


def bootstrapped(env):
    """Make sure the host went through one successful bootstrap (when a test runs on its own)."""
    if not env.get("bootstrapped"):
        run = bootstrap(env)
        assert run.returncode == 0, run.stdout
        env["bootstrapped"] = True


def dpkg_status(env):
    return env["lab"].ssh(HOST, "dpkg-query -W -f '${Status} ${Version}' pmta", check=False).stdout


# The tests below share one host and run in file order: refusals and check mode on the bare host,
# then the real bootstrap, then the re-runs (which bootstrap first when run on their own).

@pytest.mark.parametrize("extra, message", [
    ("pmta_bootstrap_package_file=/nonexistent/pmta_5.0r3_amd64.deb",
     "pmta_bootstrap_package_file: /nonexistent/pmta_5.0r3_amd64.deb is not an existing .deb file on the controller"),
    ("pmta_bootstrap_package_file=files/pmta_5.0r3_amd64.deb",   # relative: to the inventory
     "/inv/files/pmta_5.0r3_amd64.deb is not an existing .deb file on the controller"),
    ("pmta_bootstrap_package_file=''", "PowerMTA package missing for pmta-1: set pmta_bootstrap_package_file"),
    ("pmta_bootstrap_license=''", "PowerMTA license missing for pmta-1: set pmta_bootstrap_license"),
])
def test_refuses_without_package_or_license(env, extra, message):
    run = bootstrap(env, "-e", extra)
    assert run.returncode != 0
    assert message in re.sub(r"\s+", " ", run.stdout), run.stdout
    assert "LICENSE" not in run.stdout and "0123-4567" not in run.stdout
    assert "install ok installed" not in dpkg_status(env)


def test_check_mode_on_a_bare_host_changes_nothing(env):
    lab = env["lab"]
    run = bootstrap(env, "--check", "--diff")
    assert run.returncode == 0, run.stdout
    assert recap(run.stdout)[HOST]["changed"] > 0
    assert "0123-4567" not in run.stdout
    assert "install ok installed" not in dpkg_status(env)
    for path in ("/etc/pmta", "/etc/pmta/license", "/var/lib/mailfleet", "/var/cache/mailfleet",
                 "/etc/security/limits.d/pmta.conf", "/etc/nftables.d"):
        assert not os.path.lexists(lab.host_path(HOST, path)), path
    assert "mailfleet_pmta" not in lab.ssh(HOST, "nft list ruleset").stdout


def test_bootstrap_installs_and_hands_over_to_the_deploy(env):
    lab = env["lab"]
    run = bootstrap(env)
    assert run.returncode == 0, run.stdout
    env["bootstrapped"] = True
    assert recap(run.stdout)[HOST]["failed"] == 0
    assert "0123-4567" not in run.stdout
    host = lab.testinfra_host(HOST)

    pkg = host.package("pmta")
    assert pkg.is_installed and pkg.version == "5.0-test"
    assert host.file("/usr/sbin/pmta").mode == 0o755
    assert host.file("/etc/pmta/config-defaults").exists
    # the package was copied from the controller, never downloaded
    staged = host.file("/var/cache/mailfleet/packages/" + os.path.basename(env["deb"]))
    assert staged.exists and staged.mode == 0o600

    assert host.group("pmta").exists
    user = host.user("pmta")
    assert user.exists and user.group == "pmta" and user.shell == "/usr/sbin/nologin"

    lic = host.file("/etc/pmta/license")
    assert (lic.user, lic.group, lic.mode) == ("root", "pmta", 0o640)
    assert lic.content_string == LICENSE

    expected = {
        "/etc/pmta": ("root", "root", 0o755),
        "/etc/pmta/dkim": ("root", "pmta", 0o750),
        "/var/spool/pmta": ("pmta", "pmta", 0o750),
        "/var/log/pmta": ("pmta", "pmta", 0o750),
        "/var/lib/mailfleet": ("root", "root", 0o750),
    }
    for path, (owner, group, mode) in expected.items():
        f = host.file(path)
        assert f.is_directory and (f.user, f.group, f.mode) == (owner, group, mode), path

    limits = host.file("/etc/security/limits.d/pmta.conf")
    assert limits.mode == 0o644
    assert re.search(r"^pmta\s+soft\s+nofile\s+65536$", limits.content_string, re.M)
    assert re.search(r"^pmta\s+hard\s+nofile\s+65536$", limits.content_string, re.M)
    # no init system in the test host: service management (and its systemd drop-in) skipped
    assert not host.file("/etc/systemd/system/pmta.service.d").exists

    # firewall: the listeners and nothing else, jumped to from the top of the input chain
    ruleset = host.check_output("nft list ruleset")
    chain = host.check_output("nft list chain inet filter mailfleet_pmta")
    assert re.search(r"^\s*tcp dport 25 accept", chain, re.M), chain
    assert re.search(r"^\s*ip daddr 192\.0\.2\.1 tcp dport 587 accept", chain, re.M), chain
    assert len(re.findall(r"accept", chain)) == 2, chain
    input_chain = host.check_output("nft list chain inet filter input")
    assert input_chain.count("jump mailfleet_pmta") == 1, ruleset
    assert host.file("/etc/nftables.conf").contains('include "/etc/nftables.d/mailfleet-pmta.nft"')

    # the hand-over: the fleet deploy rendered the config, and PowerMTA (the stand-in) reloaded it
    conf = host.file("/etc/pmta/config")
    assert (conf.user, conf.group, conf.mode) == ("root", "pmta", 0o640)
    assert "virtual-mta alpha-192-0-2-1" in conf.content_string
    assert "smtp-listener 192.0.2.1:587" in conf.content_string
    assert host.file("/etc/pmta/dkim").listdir()
    assert host.file("/var/log/pmta/standin/running.conf").content_string == conf.content_string
    with open(lab.host_path(HOST, "/var/log/pmta/standin/reloads.log")) as handle:
        assert [json.loads(line)["ok"] for line in handle] == [True]
    assert host.check_output("/usr/sbin/pmta reload") == "Configuration reloaded."


def test_second_run_changes_nothing(env):
    lab = env["lab"]
    bootstrapped(env)
    reloads_before = lab.ssh(HOST, "wc -l < /var/log/pmta/standin/reloads.log").stdout
    run = bootstrap(env)
    assert run.returncode == 0, run.stdout
    assert recap(run.stdout)[HOST]["changed"] == 0, run.stdout
    check = bootstrap(env, "--check", "--diff")
    assert check.returncode == 0, check.stdout
    assert recap(check.stdout)[HOST]["changed"] == 0, check.stdout
    assert lab.ssh(HOST, "wc -l < /var/log/pmta/standin/reloads.log").stdout == reloads_before
    input_chain = lab.ssh(HOST, "nft list chain inet filter input").stdout
    assert input_chain.count("jump mailfleet_pmta") == 1


def test_a_new_package_is_installed_and_a_missing_account_created(env):
    lab = env["lab"]
    bootstrapped(env)
    # a package that creates no account, on a host that lost it: the role creates both
    deb2 = pmta_package.build_deb(str(env["tmp"] / "pkg2"), version="5.0-test2", create_user=False)
    lab.ssh(HOST, "userdel pmta; groupdel pmta 2>/dev/null; ! getent group pmta")
    # the host's hand-made state survives the run
    lab.ssh(HOST, "echo '# operator addition' >> /etc/pmta/local.conf")
    run = bootstrap(env, "-e", "pmta_bootstrap_package_file=%s" % deb2)
    assert run.returncode == 0, run.stdout
    assert recap(run.stdout)[HOST]["changed"] > 0
    assert dpkg_status(env) == "install ok installed 5.0-test2"
    host = lab.testinfra_host(HOST)
    user = host.user("pmta")
    assert user.exists and user.group == "pmta" and user.shell == "/usr/sbin/nologin"
    assert user.home == "/var/spool/pmta"
    for path in ("/var/spool/pmta", "/var/log/pmta"):
        f = host.file(path)
        assert (f.user, f.group, f.mode) == ("pmta", "pmta", 0o750), path
    lic = host.file("/etc/pmta/license")
    assert (lic.user, lic.group, lic.mode) == ("root", "pmta", 0o640)
    assert host.file("/etc/pmta/license").content_string == LICENSE
    assert host.file("/etc/pmta/local.conf").contains("# operator addition")
    again = bootstrap(env, "-e", "pmta_bootstrap_package_file=%s" % deb2)
    assert again.returncode == 0, again.stdout
    assert recap(again.stdout)[HOST]["changed"] == 0, again.stdout
