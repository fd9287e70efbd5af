#!/usr/bin/env python3
"""A stand-in for what MailWizz's senders do with the delivery_server table and the quota-left
cache (test double; the toolkit never imports it).

As MailWizz 2.x does it (``DeliveryServer::pickServer``, ``getHourlyQuotaLeft``,
``decreaseHourlyQuota``; see docs/mailwizz-api-facts.md):

* a server is eligible only while its row's status is ``active`` or ``in-use`` (read from the
  table every time, no cache);
* its hourly quota-left is read from a cache when present; otherwise computed as
  ``hourly_quota - sends this hour`` from the row and cached for ``cache_seconds``;
* every send stores ``left - 1`` in the cache with a fresh ``cache_seconds`` expiry, so while a
  server keeps sending its cached quota-left never expires;
* nothing clears the cache except MailWizz saving the row itself (not modelled: the bridge writes
  the table directly) or the expiry;
* a quota of 0 is unlimited.
"""
from __future__ import annotations

import time
from collections import Counter


class QuotaCacheSender(object):
    def __init__(self, connect, table, cache_seconds=300, clock=time.time):
        self.connect = connect
        self.table = table
        self.cache_seconds = cache_seconds
        self.clock = clock
        self.cache = {}          # server_id -> (hourly quota left, expires at)
        self.usage = Counter()   # server_id -> sends this hour
        self.sent = Counter()    # row name -> sends (for the tests)

    def _row(self, name):
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT server_id, status, hourly_quota FROM `%s` WHERE BINARY name = %%s"
                            % self.table, (name,))
                return cur.fetchone()
        finally:
            conn.close()

    def hourly_left(self, server_id, hourly_quota):
        hit = self.cache.get(server_id)
        if hit is not None and hit[1] > self.clock():
            return hit[0]
        if int(hourly_quota) <= 0:
            return float("inf")
        left = max(0, int(hourly_quota) - self.usage[server_id])
        self.cache[server_id] = (left, self.clock() + self.cache_seconds)
        return left

    def send(self, name, count):
        """Try to send ``count`` messages through the row ``name``; returns how many went."""
        done = 0
        for _ in range(count):
            row = self._row(name)
            if row is None or row[1] not in ("active", "in-use"):
                break
            server_id, _, hourly_quota = row
            left = self.hourly_left(server_id, hourly_quota)
            if left <= 0:
                break
            self.usage[server_id] += 1
            self.sent[name] += 1
            if left != float("inf"):
                self.cache[server_id] = (left - 1, self.clock() + self.cache_seconds)
            done += 1
        return done
