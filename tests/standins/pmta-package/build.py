#!/usr/bin/env python3
"""Build a test Debian package shaped like PowerMTA's, carrying the `pmta` stand-in (tests only).

PowerMTA is commercial: the toolkit installs the operator's own package and never downloads it.
The bootstrap tests need *a* package to install, so this builds `pmta_<version>_<arch>.deb` with:

  /usr/sbin/pmta              the stand-in control command (tests/standins/pmta/pmta)
  /etc/pmta/config-defaults   a conffile, like the one PowerMTA ships (never edited by mailfleet)
  /usr/share/doc/pmta/README  what this package is
  postinst                    creates the system group and user `pmta` (as PowerMTA's package does)
                              and the spool and log directories (left out with --no-user)

Usage: build.py OUTDIR [--version 5.0-test] [--no-user]   (prints the path of the .deb)
Library: build_deb(outdir, version="5.0-test") -> path.  Needs dpkg-deb (Debian: dpkg).
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
STANDIN = os.path.join(os.path.dirname(HERE), "pmta", "pmta")

CONTROL = """\
Package: pmta
Version: {version}
Architecture: {arch}
Maintainer: mailfleet tests <postmaster@example.com>
Section: mail
Priority: optional
Depends: python3, passwd
Description: PowerMTA stand-in package (mailfleet tests only)
 Carries the mailfleet stand-in for PowerMTA's pmta command, laid out like the
 commercial package. Not PowerMTA.
"""

POSTINST = """\
#!/bin/sh
set -e
if [ "$1" = configure ]; then
    getent group pmta >/dev/null || groupadd --system pmta
    getent passwd pmta >/dev/null || useradd --system --gid pmta --home-dir /var/spool/pmta \\
        --no-create-home --shell /usr/sbin/nologin --comment "PowerMTA" pmta
    for dir in /var/spool/pmta /var/log/pmta; do
        [ -d "$dir" ] || install -d -o pmta -g pmta -m 0755 "$dir"
    done
fi
exit 0
"""

# A package that leaves the account to the installer (some in-house builds do)
POSTINST_NO_USER = """\
#!/bin/sh
set -e
exit 0
"""

CONFIG_DEFAULTS = """\
# PowerMTA stand-in: default settings shipped with the package (overwritten on upgrade; do not edit)
"""

README = """\
This package is a test fixture of the mailfleet toolkit: it carries a stand-in for PowerMTA's
`pmta` command so that the bootstrap playbook can be tested end to end. It is not PowerMTA.
"""


def host_arch():
    try:
        return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "amd64"


def _write(path, text, mode):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)
    os.chmod(path, mode)


def build_deb(outdir, version="5.0-test", arch=None, create_user=True):
    """Build the package into OUTDIR; returns the .deb's path.

    create_user=False leaves out the postinst that creates the pmta user and group.
    """
    arch = arch or host_arch()
    os.makedirs(outdir, exist_ok=True)
    path = os.path.join(os.path.abspath(outdir), "pmta_%s_%s.deb" % (version, arch))
    with tempfile.TemporaryDirectory(prefix="pmta-deb-") as tree:
        os.chmod(tree, 0o755)
        _write(os.path.join(tree, "DEBIAN", "control"), CONTROL.format(version=version, arch=arch), 0o644)
        _write(os.path.join(tree, "DEBIAN", "postinst"), POSTINST if create_user else POSTINST_NO_USER, 0o755)
        _write(os.path.join(tree, "DEBIAN", "conffiles"), "/etc/pmta/config-defaults\n", 0o644)
        _write(os.path.join(tree, "etc", "pmta", "config-defaults"), CONFIG_DEFAULTS, 0o644)
        _write(os.path.join(tree, "usr", "share", "doc", "pmta", "README"), README, 0o644)
        os.makedirs(os.path.join(tree, "usr", "sbin"))
        shutil.copyfile(STANDIN, os.path.join(tree, "usr", "sbin", "pmta"))
        os.chmod(os.path.join(tree, "usr", "sbin", "pmta"), 0o755)
        for dirpath, dirnames, _files in os.walk(tree):
            for name in dirnames:
                os.chmod(os.path.join(dirpath, name), 0o755)
        subprocess.run(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", tree, path],
                       check=True, capture_output=True, text=True)
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    ap.add_argument("--version", default="5.0-test")
    ap.add_argument("--no-user", action="store_true", help="postinst creates no pmta user/group")
    args = ap.parse_args(argv)
    print(build_deb(args.outdir, args.version, create_user=not args.no_user))
    return 0


if __name__ == "__main__":
    sys.exit(main())
