# mailfleet — every entry point installs what it needs itself (a virtualenv in .venv, Debian
# packages for the test servers when run as root). See README.md.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha1sum requirements.txt | cut -c1-12)
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_LOCAL_TEMP := $(CURDIR)/.work/ansible-tmp
export ANSIBLE_HOME := $(CURDIR)/.work/ansible-home
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: venv demo test lint sanity unit molecule bench simulate plan system-deps clean

$(STAMP): requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	rm -f $(VENV)/.installed-*
	touch $@

venv: $(STAMP)

system-deps:
	bash tests/setup/system-deps.sh

demo: venv system-deps
	bash tests/setup/demo.sh

lint: venv
	yamllint -s .
	ansible-lint --profile production

# Ansible's sanity checks that run offline - validate-modules, pep8, pylint, compile, import - over
# the collection's plugins, with ansible-test's own settings (tests/sanity/run.py). Their
# dependencies are pinned in requirements.txt: nothing is downloaded when they run.
sanity: venv
	$(PY) tests/sanity/run.py

unit: venv system-deps
	$(PY) -m pytest -q tests

molecule: venv system-deps
	cd roles/pmta_config && molecule test --all

test: lint sanity unit molecule

bench: venv system-deps
	$(PY) bench/run.py

simulate: venv
	$(PY) scripts/simulate.py --scenario all --days 60 --out .work/simulation

plan: venv
	bash scripts/plan.sh $(or $(INVENTORY),inventories/demo)

# Stops demo services left running (by their recorded process ids), then drops every state of
# the demo and the tests (.work/: demo hosts, MailWizz stand-in data, MariaDB data directory).
clean:
	-test -x $(PY) && $(PY) tests/setup/demo.py stop
	rm -rf .work
