"""What the role pmta_config left on each host after converge + idempotence (testinfra)."""
import hashlib
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "tests"))
import mfm_testlib as lib  # noqa: E402

testinfra_hosts = lib.pmta_hosts()


def test_hosts_are_distinct_real_hosts(host):
    # Each hostlab host has its own UTS namespace: the host name proves where the commands run.
    assert host.check_output("hostname") == lib.name_of(host)


def test_config_file_mode_and_owner(host):
    config = host.file(lib.CONFIG)
    assert config.is_file
    assert config.user == "root"
    assert config.group == "root"
    assert config.mode == 0o640


def test_config_has_this_hosts_vmtas_pools_and_smtp_users(host):
    name = lib.name_of(host)
    content = host.file(lib.CONFIG).content_string
    mine = lib.ips(name)
    assert mine, "the inventory binds no IP to %s" % name
    for ip in mine:
        assert "<virtual-mta %s>" % lib.vmta_name(ip) in content
        assert "    smtp-source-host %s %s\n" % (ip["address"], ip["hostname"]) in content
        assert "    virtual-mta %s\n" % lib.vmta_name(ip) in content  # member of its tenant's pool
    here = {ip["tenant"] for ip in mine}
    for tenant_name, tenant in lib.tenants().items():
        pool, user = "<virtual-mta-pool %s>" % tenant["pool"], "<smtp-user %s>" % tenant["smtp_user"]
        if tenant_name in here:
            assert pool in content and user in content
        else:
            assert pool not in content and user not in content
    assert "include %s\n" % lib.LOCAL_CONF in content


def test_each_host_has_only_its_own_ips(host):
    name = lib.name_of(host)
    content = host.file(lib.CONFIG).content_string
    for other, other_ips in lib.all_ips().items():
        if other == name:
            continue
        for ip in other_ips:
            assert "smtp-source-host %s " % ip["address"] not in content, "%s of %s" % (ip["address"], other)
            assert lib.vmta_name(ip) not in content


def test_dkim_keys_are_private_and_complete(host):
    name = lib.name_of(host)
    wanted = set()
    for tenant_name, tenant in lib.tenants().items():
        if tenant_name in {ip["tenant"] for ip in lib.ips(name)}:
            wanted |= {"%s.%s.pem" % (d["name"], d["dkim_selector"]) for d in tenant["domains"]}
    assert set(host.file(lib.DKIM_DIR).listdir()) == wanted
    for key in sorted(wanted):
        deployed = host.file(os.path.join(lib.DKIM_DIR, key))
        assert deployed.mode == 0o640
        assert deployed.user == "root" and deployed.group == "root"
        with open(os.path.join(lib.dkim_key_dir(), key), "rb") as handle:
            assert deployed.sha256sum == hashlib.sha256(handle.read()).hexdigest()


def test_local_include_exists(host):
    local = host.file(lib.LOCAL_CONF)
    assert local.is_file
    assert local.mode == 0o640
    assert "Hand-written PowerMTA additions" in local.content_string


def test_reloaded_once_with_the_deployed_config(host):
    sha = host.file(lib.CONFIG).sha256sum
    attempts = lib.reloads(host)
    # converge reloaded once; the idempotence run changed nothing, so it did not reload again
    assert [r["ok"] for r in attempts] == [True], attempts
    assert attempts[-1]["sha256"] == sha
    assert sorted(attempts[-1]["vmtas"]) == sorted(lib.vmta_name(ip) for ip in lib.ips(lib.name_of(host)))


def test_pmta_runs_the_file_on_disk(host):
    config = host.file(lib.CONFIG)
    status = lib.pmta_status(host)
    assert status["sha256"] == config.sha256sum, status["text"]
    assert status["vmtas"] == len(lib.ips(lib.name_of(host))), status["text"]
    assert (status["ok"], status["failed"]) == (1, 0), status["text"]
    assert host.file(os.path.join(lib.STANDIN_DIR, "running.conf")).content == config.content


def test_config_passes_pmtas_own_check(host):
    result = lib.pmta(host, "test", "config")
    assert result.rc == 0 and result.stdout.startswith("Configuration OK"), result
