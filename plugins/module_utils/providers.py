# -*- coding: utf-8 -*-
# Copyright (c) 2026, mailfleet maintainers (@mailfleet)
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Mailbox-provider classification shared by the ledger, the warmup planner and the renderer.

Standard library only: this runs on PowerMTA hosts too.

A provider is one of ``gmail``, ``microsoft``, ``yahoo`` or ``other``. A recipient is classified by
its domain first (consumer domains), then by the MX host that answered, when the accounting record
names it (``dsnMta``), using the same patterns PowerMTA's ``<mx-rollup-list>`` uses, so that a
Google-hosted custom domain counts as Gmail.
"""
from __future__ import absolute_import, division, print_function

import fnmatch
import re

from ansible_collections.mailfleet.fleet.plugins.module_utils.capacity import PROVIDERS  # the one provider list

__metaclass__ = type


DEFAULT_PROVIDERS = {
    "gmail": {
        "domains": ["gmail.com", "googlemail.com"],
        "mx": ["*.google.com", "*.googlemail.com"],
    },
    "microsoft": {
        "domains": ["outlook.com", "hotmail.com", "hotmail.fr", "live.com", "live.fr", "msn.com"],
        "mx": ["*.outlook.com", "*.protection.outlook.com", "*.hotmail.com"],
    },
    "yahoo": {
        "domains": ["yahoo.com", "yahoo.fr", "ymail.com", "aol.com", "rocketmail.com"],
        "mx": ["*.yahoodns.net", "*.yahoo.com", "*.aol.com"],
    },
    "other": {"domains": [], "mx": []},
}

_HOST_RE = re.compile(r"[A-Za-z0-9_.-]+")


class ProviderClassifier:
    """Classify recipient domains (and MX host names) into providers, with a cache."""

    def __init__(self, providers=None):
        providers = providers or DEFAULT_PROVIDERS
        self._domains = {}
        self._mx = []
        for name in PROVIDERS:
            spec = providers.get(name) or {}
            for dom in spec.get("domains", []):
                self._domains[dom.lower()] = name
            for pat in spec.get("mx", []):
                self._mx.append((pat.lower(), name))
        self._cache = {}

    def by_domain(self, domain):
        """Provider for a recipient domain, or None when the domain alone does not tell."""
        return self._domains.get(domain.lower())

    def by_mx(self, mx_host):
        """Provider for an MX host name (``gmail-smtp-in.l.google.com``), or None."""
        host = mx_host.lower().rstrip(".")
        for pat, name in self._mx:
            if fnmatch.fnmatchcase(host, pat):
                return name
        return None

    def classify(self, rcpt, mx_field=""):
        """Provider of one recipient address; ``mx_field`` is PowerMTA's dsnMta (may be empty)."""
        domain = rcpt.rpartition("@")[2].lower()
        key = (domain, mx_field)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        found = self._domains.get(domain)
        if found is None and mx_field:
            m = _HOST_RE.match(mx_field.strip())
            if m:
                found = self.by_mx(m.group(0))
        found = found or "other"
        if len(self._cache) < 100000:
            self._cache[key] = found
        return found


def rollup_name(provider):
    """Name of the PowerMTA mx-rollup domain for a provider (``gmail.rollup``)."""
    return "%s.rollup" % provider
