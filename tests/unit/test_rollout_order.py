"""The serial rollout visits hosts in inventory order: the host lists rollout.yml builds keep the
order of ansible_play_hosts. (Ansible's ``difference`` filter goes through a set, so a list built
with it comes out in hash order -- a different order in each run, which once let a host deploy
before the one listed ahead of it.)"""
import os

import yaml
from ansible.template import Templar, trust_as_template
from ansible.parsing.dataloader import DataLoader

from helpers import ROOT

ROLLOUT = os.path.join(ROOT, "playbooks", "steps", "rollout.yml")
HOSTS = ["pmta-%02d" % i for i in range(1, 41)]


def _task(name):
    with open(ROLLOUT) as handle:
        plays = yaml.safe_load(handle)
    for play in plays:
        for task in play.get("tasks", []):
            if task.get("name") == name:
                return play, task
    raise AssertionError("no task %r in rollout.yml" % name)


def _render(expr, variables):
    return Templar(loader=DataLoader(), variables=variables).template(trust_as_template(expr))


def test_the_deploy_list_keeps_the_inventory_order():
    _play, task = _task("List the hosts with something to roll out (once, on the controller)")
    deployed = HOSTS[5::7]  # in sync: out of the serial list
    got = _render(task["ansible.builtin.set_fact"]["mailfleet_rollout_hosts"],
                  {"ansible_play_hosts": HOSTS, "_rollout_deployed": deployed})
    assert list(got) == [h for h in HOSTS if h not in deployed]


def test_the_dropped_host_alerts_keep_the_inventory_order():
    _play, task = _task("Alert on hosts that dropped out of the run before the rollout")
    alive = HOSTS[::3]
    got = _render(task["loop"], {"ansible_play_hosts_all": HOSTS, "ansible_play_hosts": alive})
    assert list(got) == [h for h in HOSTS if h not in alive]


def test_no_set_based_filter_builds_a_host_list():
    with open(ROLLOUT) as handle:
        text = handle.read()
    for name in ("difference(", "union(", "intersect(", "symmetric_difference("):
        assert name not in text, "rollout.yml builds a host list with %s (hash order)" % name
