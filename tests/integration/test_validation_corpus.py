"""Every invalid inventory of the corpus fails validation with its precise messages, touching no host."""
import os
import subprocess

import pytest
import yaml

from helpers import ROOT, ansible_env, base_inventory, playbook_cmd

CASES = yaml.safe_load(open(os.path.join(ROOT, "tests", "inventories", "invalid-cases.yml")))


@pytest.fixture(scope="module")
def corpus_results(tmp_path_factory):
    """Run validate.yml on every case, four at a time (each run is a separate ansible-playbook)."""
    results, running = {}, []
    for case in CASES:
        work = tmp_path_factory.mktemp(case["name"])
        inv = base_inventory(work / "inv", case["files"])
        proc = subprocess.Popen(playbook_cmd("deploy.yml", inv), cwd=str(work / "inv"), env=ansible_env(work),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
        running.append((case["name"], work, proc))
        if len(running) >= 4:
            name, wdir, p = running.pop(0)
            results[name] = (p.communicate(timeout=600)[0], p.returncode, wdir)
    for name, wdir, p in running:
        results[name] = (p.communicate(timeout=600)[0], p.returncode, wdir)
    return results


def test_base_inventory_is_valid(tmp_path):
    inv = base_inventory(tmp_path / "inv")
    proc = subprocess.run(playbook_cmd("validate.yml", inv), cwd=str(tmp_path / "inv"), env=ansible_env(tmp_path),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    assert proc.returncode == 0, proc.stdout
    assert "fleet OK: 2 tenants, 2 PowerMTA hosts, 3 IPs" in proc.stdout


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_invalid_inventory_is_refused(case, corpus_results):
    output, rc, work = corpus_results[case["name"]]
    assert rc != 0, output
    assert "Traceback" not in output
    reported = [line.strip() for line in output.splitlines()]
    for message in case["expect"]:
        assert message in reported, "missing message:\n  %s\n--- output ---\n%s" % (message, output)
    count = "The inventory has %d error" % len(case["expect"])
    assert count in output, output
    # deploy.yml was run: validation stopped it before any host was touched
    assert "PLAY [Deploy the PowerMTA configuration]" not in output
    assert not (work / "inv" / ".work").exists()
    assert "alpha-secret" not in output


def test_example_inventory_with_vault_is_valid(tmp_path):
    inv = os.path.join(ROOT, "inventories", "example", "hosts.yml")
    proc = subprocess.run(playbook_cmd("validate.yml", inv, "--vault-password-file",
                                       os.path.join(ROOT, "inventories", "example", "vault-password.example")),
                          cwd=ROOT, env=ansible_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True)
    assert proc.returncode == 0, proc.stdout
    assert "fleet OK: 2 tenants, 3 PowerMTA hosts, 6 IPs" in proc.stdout
    assert "example-sos-expat-smtp-password" not in proc.stdout
