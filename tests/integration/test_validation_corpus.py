"""Every invalid inventory of the corpus fails validation with its precise messages, touching no host.

A case (tests/inventories/invalid-cases.yml) replaces files of tests/inventories/base/ and says what
the run must print:

* ``files``: ``{relative path: content}``; ``VAULT(text)`` at the end of a line becomes an inline
  ``!vault`` value of ``text`` (encrypted with the case's vault password); ``append``: the same,
  added at the end of a base file; ``remove``: base files to delete;
* ``vault``: ``{encrypt: [relative paths], given: right|wrong|none}`` -- files vault-encrypted with
  the case password, and which password the run is given (default: the right one);
* ``keys``: ``{relative path: kind}`` -- DKIM key files made for the case (``public``,
  ``certificate``, ``garbage``, ``rsa512``, ``ec``, ``ed25519``, ``passphrase``, ``empty``,
  ``binary``, ``vaulted``, ``vaulted-other-password``);
* ``args``: extra ansible-playbook arguments (``-e mailfleet_today=...``);
* ``expect``: the exact validation messages (``FILE:LINE: KEY: message``), all of them; or
  ``fatal``: the one message a file Ansible cannot load is refused with (``[ERROR]: ...``);
* ``secrets``: plaintexts that must appear nowhere in the output.
"""
import datetime
import os
import re
import subprocess

import pytest
import yaml

from helpers import DEMO_KEY, ROOT, ansible_env, base_inventory, playbook_cmd

CASES = yaml.safe_load(open(os.path.join(ROOT, "tests", "inventories", "invalid-cases.yml")))
CASE_VAULT_PASSWORD = "corpus-case-vault-password"

# A throwaway 512-bit RSA key (too small for DKIM; cryptography no longer generates such keys).
RSA512 = b"""-----BEGIN RSA PRIVATE KEY-----
MIIBOQIBAAJBAKpfgwPnxSw8l/jQixFAEw6jaqny052vTgZ3ohwZv/xxoW1how0I
5WjU92jJGIIRx1Qnw+uW7TaBjMmDA3CM2k8CAwEAAQJAddmNkeT/ccMUSGtQ1wTg
ac7GWHp8wOVjbnvQaemx8Jc0S3Jf2ye7NxuvP5aEZ5alKeWRvgEXPZbGbm9bGInP
wQIhANcFiUNzJsVdzEmbGMZ1vmL/EHW9zU42PRTRZI1Yaf7vAiEAyteqUdMolPp/
8CH9b/XSX7/hFAzNxqaxbHWQm9n02qECIDgqgwtyZdtCQB2t/M/Ca+PyGnuXA6z9
cAEjHS/qu21TAiAd+D1m947wbA6JGUyLxUM++Ge2AapJpoliYABstohR4QIgBH6F
fA0YB2YC84JwpqEHBUYjk4PLj4OoEUKpdqD7Z+U=
-----END RSA PRIVATE KEY-----
"""
_VAULT_RE = re.compile(r"^(?P<indent>[ \t]*)(?P<head>.*?)VAULT\((?P<text>[^)]*)\)[ \t]*$", re.M)


def _vault(password):
    from ansible.parsing.vault import VaultLib, VaultSecret
    return VaultLib([("default", VaultSecret(password.encode()))])


def encrypt(text, password=CASE_VAULT_PASSWORD):
    data = text if isinstance(text, bytes) else text.encode()
    return _vault(password).encrypt(data).decode()


def make_key(kind):
    """Bytes of a DKIM key file of ``kind``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.x509.oid import NameOID

    pem, nopass = serialization.Encoding.PEM, serialization.NoEncryption()
    demo = open(DEMO_KEY, "rb").read()
    if kind == "public":
        key = serialization.load_pem_private_key(demo, None)
        return key.public_key().public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo)
    if kind == "certificate":
        key = serialization.load_pem_private_key(demo, None)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "alpha.example.com")])
        now = datetime.datetime(2026, 1, 1)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
                .sign(key, hashes.SHA256()))
        return cert.public_bytes(pem)
    if kind == "garbage":
        return b"-----BEGIN RSA PRIVATE KEY-----\nthis is not base64 at all!\n-----END RSA PRIVATE KEY-----\n"
    if kind == "rsa512":
        return RSA512
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1()).private_bytes(pem, serialization.PrivateFormat.PKCS8, nopass)
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate().private_bytes(pem, serialization.PrivateFormat.PKCS8, nopass)
    if kind == "passphrase":
        key = rsa.generate_private_key(65537, 2048)
        return key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                 serialization.BestAvailableEncryption(b"a passphrase"))
    if kind == "empty":
        return b""
    if kind == "binary":
        return bytes(range(256))
    if kind == "vaulted":
        return encrypt(demo).encode()
    if kind == "vaulted-other-password":
        return encrypt(demo, "some-other-password").encode()
    raise ValueError("unknown key kind %r" % kind)


def _inline_vault(content):
    def repl(match):
        indent = match.group("indent")
        lines = encrypt(match.group("text")).splitlines()
        pad = indent + "  " + ("  " if match.group("head").lstrip().startswith("- ") else "")
        return "%s%s!vault |\n%s" % (indent, match.group("head"), "\n".join(pad + line for line in lines))
    return _VAULT_RE.sub(repl, content)


def materialize(case, work):
    """The case's inventory under ``work/inv``; returns (hosts.yml path, extra ansible-playbook args)."""
    files = {rel: _inline_vault(content) for rel, content in (case.get("files") or {}).items()}
    inv = base_inventory(os.path.join(str(work), "inv"), files)
    base = os.path.dirname(inv)
    for rel in case.get("remove") or []:
        os.remove(os.path.join(base, rel))
    for rel, content in (case.get("append") or {}).items():
        with open(os.path.join(base, rel), "a") as handle:
            handle.write(_inline_vault(content))
    for rel, kind in (case.get("keys") or {}).items():
        path = os.path.join(base, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(make_key(kind))
    vault = case.get("vault") or {}
    for rel in vault.get("encrypt", []):
        path = os.path.join(base, rel)
        with open(path) as handle:
            text = handle.read()
        with open(path, "w") as handle:
            handle.write(encrypt(text))
    args = list(case.get("args") or [])
    given = vault.get("given", "right")
    if given != "none":
        pw_file = os.path.join(str(work), "vault-password")
        with open(pw_file, "w") as handle:
            handle.write(CASE_VAULT_PASSWORD if given == "right" else "not-the-password")
        args += ["--vault-password-file", pw_file]
    return inv, args


@pytest.fixture(scope="module")
def corpus_results(tmp_path_factory):
    """Run deploy.yml on every case, four at a time (each run is a separate ansible-playbook)."""
    results, running = {}, []
    for case in CASES:
        work = tmp_path_factory.mktemp(case["name"])
        inv, args = materialize(case, work)
        proc = subprocess.Popen(playbook_cmd("deploy.yml", inv, *args), cwd=str(work / "inv"), env=ansible_env(work),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
        running.append((case["name"], work, proc))
        if len(running) >= 4:
            name, wdir, p = running.pop(0)
            results[name] = (p.communicate(timeout=600)[0], p.returncode, wdir)
    for name, wdir, p in running:
        results[name] = (p.communicate(timeout=600)[0], p.returncode, wdir)
    return results


def reported(output):
    """The validation messages of a failed run (the lines after 'The inventory has N errors')."""
    lines = [line.strip() for line in output.splitlines()]
    start = [n for n, line in enumerate(lines) if line.startswith("The inventory has")]
    out = []
    for line in lines[start[0] + 1:] if start else []:
        if not line:
            break
        out.append(line)
    return out


def test_base_inventory_is_valid(tmp_path):
    inv = base_inventory(tmp_path / "inv")
    proc = subprocess.run(playbook_cmd("validate.yml", inv), cwd=str(tmp_path / "inv"), env=ansible_env(tmp_path),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    assert proc.returncode == 0, proc.stdout
    assert "fleet OK: 2 tenants, 2 PowerMTA hosts, 3 IPs" in proc.stdout


def test_corpus_names_are_unique_and_cases_say_what_they_expect():
    names = [case["name"] for case in CASES]
    assert len(names) == len(set(names))
    for case in CASES:
        assert bool(case.get("expect")) != bool(case.get("fatal")), case["name"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_invalid_inventory_is_refused(case, corpus_results):
    output, rc, work = corpus_results[case["name"]]
    assert rc != 0, output
    assert "Traceback" not in output
    if case.get("fatal"):
        assert "[ERROR]: " + case["fatal"] in output, output
        assert "TASK [Build and validate the fleet model]" not in output
    else:
        got = reported(output)
        assert sorted(got) == sorted(case["expect"]), "\n--- got ---\n%s\n--- output ---\n%s" % ("\n".join(got), output)
        count = "The inventory has %d error" % len(case["expect"])
        assert count in output, output
    # deploy.yml was run: validation stopped it before any host was touched
    assert "PLAY [Deploy the PowerMTA configuration]" not in output
    assert not (work / "inv" / ".work").exists()
    for secret in ["alpha-secret"] + list(case.get("secrets") or []):
        assert secret not in output


def test_example_inventory_with_vault_is_valid(tmp_path):
    inv = os.path.join(ROOT, "inventories", "example", "hosts.yml")
    proc = subprocess.run(playbook_cmd("validate.yml", inv, "--vault-password-file",
                                       os.path.join(ROOT, "inventories", "example", "vault-password.example")),
                          cwd=ROOT, env=ansible_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True)
    assert proc.returncode == 0, proc.stdout
    assert "fleet OK: 2 tenants, 3 PowerMTA hosts, 6 IPs" in proc.stdout
    assert "example-sos-expat-smtp-password" not in proc.stdout


@pytest.mark.parametrize("given, message", [
    ("wrong", "[ERROR]: inventories/example/group_vars/all/vault.yml: cannot decrypt this vault-encrypted file: "
              "the vault password is wrong or missing (give it with --vault-password-file or --ask-vault-pass)"),
    ("none", "[ERROR]: inventories/example/group_vars/all/vault.yml: cannot decrypt this vault-encrypted file: "
             "the vault password is wrong or missing (give it with --vault-password-file or --ask-vault-pass)"),
])
def test_example_inventory_with_a_wrong_or_no_vault_password_says_so_once(tmp_path, given, message):
    inv = os.path.join(ROOT, "inventories", "example", "hosts.yml")
    args = []
    if given == "wrong":
        (tmp_path / "pw").write_text("wrong")
        args = ["--vault-password-file", str(tmp_path / "pw")]
    proc = subprocess.run(playbook_cmd("deploy.yml", inv, *args), cwd=ROOT, env=ansible_env(tmp_path),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    assert proc.returncode != 0
    assert message in proc.stdout.splitlines(), proc.stdout
    assert proc.stdout.count("[ERROR]") == 1 and "Traceback" not in proc.stdout, proc.stdout
