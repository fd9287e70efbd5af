#!/usr/bin/env bash
# make demo: the main jobs on inventories/demo (see tests/setup/demo.py).
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .work/ansible-tmp .work/ansible-home
exec .venv/bin/python tests/setup/demo.py "$@"
