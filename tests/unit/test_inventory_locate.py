"""inventory_locate: file:line of keys, keys written twice, files Ansible ignores, YAML spellings."""
import os

from ansible_collections.mailfleet.fleet.plugins.module_utils.inventory_locate import Locator


def write(base, rel, text):
    path = os.path.join(str(base), rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)
    return path


def locator(tmp_path, decrypt=None):
    hosts = write(tmp_path, "hosts.yml", "all:\n  children:\n    pmta:\n      hosts:\n        pmta-1:\n")
    return Locator([hosts], {"pmta-1": ["pmta"]}, relative_to=str(tmp_path), decrypt=decrypt)


def test_keys_written_twice_are_found_at_any_depth_with_both_lines(tmp_path):
    write(tmp_path, "group_vars/all.yml", "---\nmailfleet_tenants:\n  alpha:\n    pool: a\n    pool: b\n"
                                          "  beta: {pool: c}\n  alpha: {}\nother:\n  - {x: 1, x: 2}\n")
    assert locator(tmp_path).duplicate_keys(["pmta-1"]) == [
        "group_vars/all.yml:5: mailfleet_tenants.alpha.pool: key pool is written twice in this mapping (first at line 4); "
        "YAML would keep only the last one",
        "group_vars/all.yml:7: mailfleet_tenants.alpha: key alpha is written twice in this mapping (first at line 3); "
        "YAML would keep only the last one",
        "group_vars/all.yml:9: other[0].x: key x is written twice in this mapping (first at line 9); "
        "YAML would keep only the last one"]


def test_a_vars_file_next_to_a_directory_of_the_same_name_is_ignored_by_ansible(tmp_path):
    write(tmp_path, "group_vars/all.yml", "---\na: 1\n")
    write(tmp_path, "group_vars/all/x.yml", "---\nb: 1\n")
    write(tmp_path, "host_vars/pmta-1.yaml", "---\nc: 1\n")
    write(tmp_path, "host_vars/pmta-1.yml", "---\nd: 1\n")
    loc = locator(tmp_path)
    assert loc.shadowed_files(["pmta-1"]) == [
        "group_vars/all.yml: Ansible ignores this file because group_vars/all/ exists; move its variables there",
        "host_vars/pmta-1.yaml: Ansible ignores this file because host_vars/pmta-1.yml exists; move its variables there"]
    assert loc.locate(None, "b") == "group_vars/all/x.yml:2" and loc.locate(None, "a") is None


def test_the_spelling_of_a_key_yaml_read_as_a_boolean(tmp_path):
    write(tmp_path, "group_vars/all.yml", "---\nmailfleet_tenants:\n  alpha: {}\n  no: {}\n  Off: {}\n  1: {}\n")
    loc = locator(tmp_path)
    assert loc.key_spelling(None, "mailfleet_tenants", "", False) == "no"
    assert loc.key_spelling(None, "mailfleet_tenants", "", 1) == "1"
    assert loc.locate(None, "mailfleet_tenants", ".no") == "group_vars/all.yml:4"


def test_vault_tags_and_vaulted_files(tmp_path):
    write(tmp_path, "group_vars/all.yml", "---\nx: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  3132\ny: !unsafe '{{ a }}'\n")
    write(tmp_path, "host_vars/pmta-1.yml", "$ANSIBLE_VAULT;1.1;AES256\nciphertext\n")
    assert locator(tmp_path).load_errors("pmta-1") == []  # no "could not determine a constructor for '!vault'"
    assert locator(tmp_path).locate("pmta-1", "z") is None  # a vaulted file is not read without the callback
    loc = locator(tmp_path, decrypt=lambda path: "---\nz: 1\nz: 2\n")
    assert loc.locate("pmta-1", "z") == "host_vars/pmta-1.yml:2"
    assert loc.duplicate_keys(["pmta-1"]) == [
        "host_vars/pmta-1.yml:3: z: key z is written twice in this mapping (first at line 2); YAML would keep only the last one"]


def test_a_vars_file_that_is_not_utf8_cannot_be_read_and_says_so(tmp_path):
    # UnicodeDecodeError is a ValueError: it must not be reported as a YAML value at line 0
    with open(os.path.join(str(tmp_path), "hosts.yml"), "w") as handle:
        handle.write("all: {}\n")
    os.makedirs(os.path.join(str(tmp_path), "host_vars"))
    with open(os.path.join(str(tmp_path), "host_vars", "pmta-1.yml"), "wb") as handle:
        handle.write(b"---\nx: caf\xe9\n")
    problems = locator(tmp_path).load_errors("pmta-1")
    assert len(problems) == 1 and problems[0].startswith("host_vars/pmta-1.yml: cannot read: "), problems
    assert "codec can't decode" in problems[0]
