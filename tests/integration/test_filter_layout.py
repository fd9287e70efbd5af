"""The Jinja filters live in the collection (plugins/filter/mailfleet.py); the top-level
filter_plugins/ is a link to that folder (like collections/ links the collection to plugins/), so
a filter is found both by its FQCN mailfleet.fleet.<name> and, through ansible.cfg, by its bare name.
The toolkit's own playbooks and roles call every filter by its FQCN."""
import os
import re
import subprocess

from ansible_collections.mailfleet.fleet.plugins.filter.mailfleet import FilterModule

from helpers import ROOT, VENV_BIN, ansible_env

FILTERS = sorted(FilterModule().filters())


def test_filter_plugins_is_a_link_to_the_collection_filters():
    link = os.path.join(ROOT, "filter_plugins")
    assert os.path.islink(link) and os.readlink(link) == os.path.join("plugins", "filter")
    assert os.path.realpath(link) == os.path.join(os.path.realpath(ROOT), "plugins", "filter")
    with open(os.path.join(ROOT, "ansible.cfg")) as handle:
        assert re.search(r"^filter_plugins = \./filter_plugins$", handle.read(), re.M)


def _yaml_files():
    for base in ("playbooks", "roles"):
        for dirpath, _dirs, files in os.walk(os.path.join(ROOT, base)):
            for name in files:
                if name.endswith((".yml", ".yaml", ".j2")):
                    yield os.path.join(dirpath, name)


def test_playbooks_and_roles_call_the_filters_by_their_fqcn():
    bare = re.compile(r"\|\s*(%s)\b" % "|".join(FILTERS))
    used = set()
    for path in _yaml_files():
        with open(path) as handle:
            text = handle.read()
        assert not bare.search(text), "%s calls %s without mailfleet.fleet." % (path, bare.search(text).group(1))
        used.update(re.findall(r"\bmailfleet\.fleet\.(mailfleet_\w+)\s*[(}|]", text))
    assert used and used <= set(FILTERS), used - set(FILTERS)


def test_every_filter_resolves_by_fqcn_and_by_bare_name(tmp_path):
    playbook = tmp_path / "filters.yml"
    playbook.write_text("""---
- hosts: localhost
  gather_facts: false
  vars:
    m: {hosts: {h1: {ips: [{address: 192.0.2.1}, {address: 192.0.2.2}]}}}
  tasks:
    - ansible.builtin.assert:
        that:
          - "(m | mailfleet.fleet.mailfleet_by_host({'192.0.2.1': 5})) == {'h1': {'192.0.2.1': 5}}"
          - "(m | mailfleet_by_host({'192.0.2.2': 6})) == {'h1': {'192.0.2.2': 6}}"
          - "({} | mailfleet.fleet.mailfleet_planner_health) == {}"
          - "({} | mailfleet_planner_health) == {}"
""")
    out = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", "localhost,", str(playbook)],
                         cwd=ROOT, env=ansible_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True, timeout=300)
    assert out.returncode == 0 and "failed=0" in out.stdout, out.stdout
    # every filter name is known under the FQCN (a filter Ansible cannot find fails the templating)
    listing = subprocess.run([os.path.join(VENV_BIN, "ansible-doc"), "-t", "filter", "-l", "mailfleet.fleet"],
                             cwd=ROOT, env=ansible_env(tmp_path), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, universal_newlines=True, timeout=300)
    for name in FILTERS:
        assert "mailfleet.fleet.%s" % name in listing.stdout, listing.stdout


def test_every_filter_is_documented_with_its_own_arguments():
    """plugins/filter/<name>.yml (what ansible-doc -t filter shows) names the filter's arguments in
    order: _input, then the positional ones."""
    import inspect

    import yaml

    funcs = FilterModule().filters()
    for name in FILTERS:
        with open(os.path.join(ROOT, "plugins", "filter", name + ".yml")) as handle:
            doc = yaml.safe_load(handle)
        assert doc["DOCUMENTATION"]["name"] == name and doc["EXAMPLES"].count("mailfleet.fleet.%s" % name) == 1
        params = list(inspect.signature(funcs[name]).parameters)
        options = list(doc["DOCUMENTATION"]["options"])
        assert options == ["_input"] + params[1:], name
        positional = doc["DOCUMENTATION"].get("positional")
        assert (positional.split(", ") if positional else []) == params[1:], name
        assert doc["RETURN"]["_value"]["type"]
