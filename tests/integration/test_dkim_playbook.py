"""playbooks/dkim.yml end to end: real ansible-playbook runs on a copy of tests/inventories/base whose
DKIM keys do not exist yet, with a vault password file; a real NSD on loopback for the audit.

Keys are generated once (2048 bits, vault-encrypted, 0600), never regenerated or overwritten, check
mode writes nothing, the printed record is the key's; a rotation generates the new selector's key and
prints the inventory snippet; the retired selector is "keep" until DNS serves the new selector's
matching record, then "can now be removed"."""
import os
import re
import shutil
import stat

import pytest
import yaml
from ansible.parsing.vault import VaultLib, VaultSecret

from ansible_collections.mailfleet.fleet.plugins.module_utils import dkim
from helpers import ROOT, ansible_env, recap, run_playbook
from standins.dns.nsd import NSDServer, find_nsd, free_port, zone_text

VAULT_PASSWORD = "dkim-test-vault-password"
KEYS = {"alpha.example.com": "files/dkim/alpha.example.com.s1.pem",
        "beta.example.net": "files/dkim/beta.example.net.s1.pem"}


def make_inventory(tmp_path, extra_vars=None):
    """tests/inventories/base with per-domain key files that do not exist; a vault password file."""
    inv = tmp_path / "inv"
    shutil.copytree(os.path.join(ROOT, "tests", "inventories", "base"), str(inv))
    path = inv / "group_vars" / "all.yml"
    data = yaml.safe_load(path.read_text())
    for tenant in data["mailfleet_tenants"].values():
        for dom in tenant["domains"]:
            dom["dkim_key_file"] = KEYS[dom["name"]]
    data.update(extra_vars or {})
    path.write_text("---\n" + yaml.safe_dump(data, sort_keys=False))
    pw = tmp_path / "vault-pass"
    pw.write_text(VAULT_PASSWORD + "\n")
    return inv


def run(tmp_path, inv, *args, vault=True):
    extra = ["--vault-password-file", str(tmp_path / "vault-pass")] if vault else []
    proc = run_playbook("dkim.yml", inv / "hosts.yml", *(extra + list(args)), tmp=tmp_path,
                        env=ansible_env(tmp_path))
    return proc


def decrypt(path):
    data = open(path, "rb").read()
    assert data.startswith(b"$ANSIBLE_VAULT;1.1;AES256\n")
    return VaultLib([("default", VaultSecret(VAULT_PASSWORD.encode()))]).decrypt(data)


def printed(output, label, selector, domain):
    """The text after '<label>:' in the report section of ``domain selector <selector>``."""
    section = False
    for line in output.splitlines():
        line = line.strip()
        if " selector " in line and "): key " in line:
            section = line.startswith("%s selector %s (" % (domain, selector))
        elif section and line.startswith(label + ":"):
            return line.split(":", 1)[1].strip()
    raise AssertionError("no %s line for %s/%s in:\n%s" % (label, domain, selector, output[-4000:]))


def test_generate_once_vaulted_check_mode_and_idempotence(tmp_path):
    inv = make_inventory(tmp_path)
    paths = {d: str(inv / ref) for d, ref in KEYS.items()}

    dry = run(tmp_path, inv, "--check")
    assert dry.returncode == 0, dry.stdout[-5000:]
    assert recap(dry.stdout)["localhost"]["changed"] == 1
    assert "would be generated (check mode)" in dry.stdout and "check mode: no key was written" in dry.stdout
    assert not any(os.path.exists(p) for p in paths.values())
    assert not (inv / "files").exists()

    first = run(tmp_path, inv)
    assert first.returncode == 0, first.stdout[-5000:]
    assert recap(first.stdout)["localhost"]["changed"] == 1
    records = {}
    for domain, path in paths.items():
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        key = dkim.load_private_key(decrypt(path))
        assert key.key_size == 2048
        rec = dkim.record("s1", domain, key)
        records[domain] = rec
        assert "%s selector s1 (current): key %s GENERATED, 2048 bits, vault-encrypted" % (domain, KEYS[domain]) in first.stdout
        assert printed(first.stdout, "TXT name", "s1", domain) == rec["name"]
        assert printed(first.stdout, "TXT value", "s1", domain) == rec["value"]
        assert printed(first.stdout, "zone file", "s1", domain) == rec["zone_line"]
    assert "WRITTEN UNENCRYPTED" not in first.stdout
    before = {d: open(p, "rb").read() for d, p in paths.items()}

    second = run(tmp_path, inv)
    assert second.returncode == 0, second.stdout[-5000:]
    assert recap(second.stdout)["localhost"]["changed"] == 0
    for domain, path in paths.items():
        assert open(path, "rb").read() == before[domain]
        assert printed(second.stdout, "zone file", "s1", domain) == records[domain]["zone_line"]
        assert "key %s exists, 2048 bits, vault-encrypted" % KEYS[domain] in second.stdout

    # the generated inventory now passes the regular validation (key files present and vaulted)
    validate = run_playbook("validate.yml", inv / "hosts.yml", "--vault-password-file", str(tmp_path / "vault-pass"),
                            tmp=tmp_path)
    assert validate.returncode == 0, validate.stdout[-3000:]


def test_without_vault_password_writes_plain_0600_and_warns(tmp_path):
    inv = make_inventory(tmp_path)
    proc = run(tmp_path, inv, vault=False)
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert "WRITTEN UNENCRYPTED" in re.sub(r"\s+", " ", proc.stdout)
    for ref in KEYS.values():
        path = str(inv / ref)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert open(path, "rb").read().startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    always = run(tmp_path, make_inventory(tmp_path / "again"), "-e", "mailfleet_dkim_encrypt=always", vault=False)
    assert always.returncode != 0 and "encrypt=always but no vault password" in always.stdout


def test_refuses_unusable_keys_before_writing_anything(tmp_path):
    inv = make_inventory(tmp_path)
    os.makedirs(str(inv / "files" / "dkim"))
    (inv / KEYS["beta.example.net"]).write_text("garbage\n")
    proc = run(tmp_path, inv)
    assert proc.returncode != 0
    assert "beta.example.net: DKIM key file %s is not an unencrypted PEM private key" % KEYS["beta.example.net"] in proc.stdout
    assert not (inv / KEYS["alpha.example.com"]).exists()  # nothing generated
    assert (inv / KEYS["beta.example.net"]).read_text() == "garbage\n"  # nothing overwritten


def _apply_snippet(inv, snippet):
    """What the operator's pull request does: replace the domain's entry with the snippet's."""
    new = yaml.safe_load(snippet)["mailfleet_tenants"]
    path = inv / "group_vars" / "all.yml"
    data = yaml.safe_load(path.read_text())
    for tenant, spec in new.items():
        for entry in spec["domains"]:
            doms = data["mailfleet_tenants"][tenant]["domains"]
            doms[[d["name"] for d in doms].index(entry["name"])] = entry
    path.write_text("---\n" + yaml.safe_dump(data, sort_keys=False))


def _snippet(output):
    """The snippet printed by 'Show the inventory change for each rotation' (a literal block)."""
    block = output.split("TASK [Show the inventory change for each rotation]", 1)[1]
    lines = block.split("msg: |-\n", 1)[1].splitlines()
    out = []
    for line in lines:
        if not line.startswith("        "):
            break
        out.append(line[8:])
    return "\n".join(out) + "\n"


@pytest.mark.slow
@pytest.mark.skipif(find_nsd() is None, reason="nsd is not installed (Debian package nsd)")
def test_rotation_keep_until_dns_serves_the_new_record(tmp_path):
    port = free_port()
    inv = make_inventory(tmp_path, {"mailfleet_dns_nameservers": ["127.0.0.1:%d" % port], "mailfleet_dns_timeout": 1.0})
    assert run(tmp_path, inv).returncode == 0  # the current keys (s1)

    rotate = ("-e", "mailfleet_dkim_rotate=alpha.example.com", "-e", "mailfleet_dkim_new_selector=s2")
    first = run(tmp_path, inv, *rotate)
    assert first.returncode == 0, first.stdout[-5000:]
    assert recap(first.stdout)["localhost"]["changed"] == 1
    new_ref = "files/dkim/alpha.example.com.s2.pem"
    new_key = dkim.load_private_key(decrypt(str(inv / new_ref)))
    new_rec = dkim.record("s2", "alpha.example.com", new_key)
    assert printed(first.stdout, "zone file", "s2", "alpha.example.com") == new_rec["zone_line"]
    assert "ROTATION alpha.example.com: s1 -> s2" in first.stdout
    snippet = _snippet(first.stdout)
    assert yaml.safe_load(snippet)["mailfleet_tenants"]["alpha"]["domains"][0] == {
        "name": "alpha.example.com", "dkim_selector": "s2", "dkim_key_file": new_ref,
        "dkim_retired_selectors": [{"selector": "s1", "key_file": KEYS["alpha.example.com"]}]}

    again = run(tmp_path, inv, *rotate)  # the same rotation again: the pending key is reused
    assert again.returncode == 0 and recap(again.stdout)["localhost"]["changed"] == 0
    assert dkim.load_private_key(decrypt(str(inv / new_ref))).private_numbers() == new_key.private_numbers()

    _apply_snippet(inv, snippet)
    old_key = dkim.load_private_key(decrypt(str(inv / KEYS["alpha.example.com"])))
    old_rec = dkim.record("s1", "alpha.example.com", old_key)
    rdata = new_rec["zone_line"].split(" IN TXT ", 1)[1]
    old_rdata = old_rec["zone_line"].split(" IN TXT ", 1)[1]

    # DNS still serves only the old selector: keep
    with NSDServer({"alpha.example.com": zone_text("alpha.example.com", ["s1._domainkey TXT " + old_rdata])}, port=port):
        keep = run(tmp_path, inv)
    assert keep.returncode == 0, keep.stdout[-5000:]
    assert recap(keep.stdout)["localhost"]["changed"] == 0
    assert "RETIRED KEEP: alpha.example.com: keep the retired selector s1" in keep.stdout
    assert "DNS now:   missing" in keep.stdout

    # the new selector published with another key (the old one): still keep
    with NSDServer({"alpha.example.com": zone_text("alpha.example.com", ["s2._domainkey TXT " + old_rdata])}, port=port):
        wrong = run(tmp_path, inv)
    assert wrong.returncode == 0 and "RETIRED KEEP" in wrong.stdout and "DNS now:   mismatch" in wrong.stdout

    # the printed zone line, served as is: the retired selector may go
    zone = zone_text("alpha.example.com", ["s1._domainkey TXT " + old_rdata, "s2._domainkey TXT " + rdata])
    with NSDServer({"alpha.example.com": zone}, port=port):
        remove = run(tmp_path, inv)
    assert remove.returncode == 0, remove.stdout[-5000:]
    flat = re.sub(r"\s+", " ", remove.stdout)
    assert "RETIRED REMOVE: alpha.example.com: DNS serves s2._domainkey.alpha.example.com" in flat
    assert "the retired selector s1 can now be removed from dkim_retired_selectors" in flat
