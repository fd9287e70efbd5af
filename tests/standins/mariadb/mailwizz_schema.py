# -*- coding: utf-8 -*-
"""MailWizz's ``{prefix}delivery_server`` table, for tests and the demo.

Column names, types, defaults and order mirror MailWizz 2.x's install SQL for ``delivery_server``
(public dumps of MailWizz databases; ``warmup_plan_id`` added in 2.1.10, placed as in the model's
column list). Only the schema: MailWizz itself is commercial and not used here.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DELIVERY_SERVER_DDL = """
CREATE TABLE `{prefix}delivery_server` (
  `server_id` int(11) NOT NULL AUTO_INCREMENT,
  `customer_id` int(11) NULL DEFAULT NULL,
  `bounce_server_id` int(11) NULL,
  `tracking_domain_id` int(11) NULL,
  `warmup_plan_id` int(11) NULL DEFAULT NULL,
  `type` char(20) NOT NULL,
  `name` varchar(255) NULL,
  `hostname` varchar(255) NOT NULL,
  `username` varchar(255) NOT NULL,
  `password` varchar(255) NULL,
  `port` int(5) NULL DEFAULT '25',
  `protocol` char(10) NULL,
  `timeout` int(3) NULL DEFAULT '30',
  `from_email` varchar(255) NOT NULL,
  `from_name` varchar(255) NULL,
  `reply_to_email` varchar(255) NULL DEFAULT NULL,
  `probability` int(3) NOT NULL DEFAULT '100',
  `hourly_quota` int(11) NOT NULL DEFAULT '0',
  `daily_quota` int(11) NOT NULL DEFAULT '0',
  `monthly_quota` int(11) NOT NULL DEFAULT '0',
  `pause_after_send` int(11) NOT NULL DEFAULT '0',
  `meta_data` blob,
  `confirmation_key` char(40) NULL,
  `locked` enum('yes','no') NOT NULL DEFAULT 'no',
  `use_for` char(15) NOT NULL DEFAULT 'all',
  `signing_enabled` enum('yes','no') NOT NULL DEFAULT 'yes',
  `force_from` varchar(50) NOT NULL DEFAULT 'never',
  `force_reply_to` varchar(50) NOT NULL DEFAULT 'never',
  `force_sender` enum('yes','no') NOT NULL DEFAULT 'no',
  `must_confirm_delivery` enum('yes','no') NOT NULL DEFAULT 'no',
  `max_connection_messages` int(11) NOT NULL DEFAULT '1',
  `status` char(15) NOT NULL DEFAULT 'inactive',
  `date_added` datetime NOT NULL,
  `last_updated` datetime NOT NULL,
  PRIMARY KEY (`server_id`),
  KEY `fk_delivery_server_bounce_server1_idx` (`bounce_server_id`),
  KEY `fk_delivery_server_customer1_idx` (`customer_id`),
  KEY `fk_delivery_server_tracking_domain1_idx` (`tracking_domain_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8
"""

# Rows that belong to others (an admin's servers, a customer's server, a look-alike name):
# the bridge must never change them.
FOREIGN_ROWS = [
    {"type": "smtp", "name": "Office relay", "hostname": "relay.example.org", "username": "office",
     "password": "ZW5jcnlwdGVkLWJ5LW1haWx3aXp6", "from_email": "office@example.org", "status": "active",
     "hourly_quota": 0, "daily_quota": 0,
     "meta_data": b'a:1:{s:18:"additional_headers";a:1:{i:0;a:2:{s:4:"name";s:7:"X-Other";s:5:"value";s:3:"yes";}}}'},
    {"type": "smtp-pmta", "name": "MAILFLEET:acme:pmta1", "hostname": "pmta9.example.net", "username": "acme",
     "password": "b3RoZXI=", "from_email": "x@example.com", "status": "active", "hourly_quota": 10,
     "daily_quota": 100, "meta_data": None},
    {"type": "smtp-pmta", "name": "mailfleet-legacy", "hostname": "pmta1.example.net", "username": "acme",
     "password": "", "from_email": "legacy@example.com", "status": "disabled", "hourly_quota": 0,
     "daily_quota": 0, "meta_data": b"a:0:{}"},
    {"type": "smtp", "name": None, "hostname": "smtp.example.net", "username": "cust", "password": "Y3VzdA==",
     "from_email": "cust@example.net", "status": "inactive", "customer_id": 7, "meta_data": None},
]


def create_delivery_server_table(conn, prefix="mw_", foreign_rows=True):
    """Create the table (dropping an old one) and insert FOREIGN_ROWS."""
    with conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS `%sdelivery_server`" % prefix)
        cur.execute(DELIVERY_SERVER_DDL.format(prefix=prefix))
        if foreign_rows:
            for row in FOREIGN_ROWS:
                cols = sorted(row)
                cur.execute("INSERT INTO `%sdelivery_server` (%s, date_added, last_updated) VALUES (%s, "
                            "'2024-01-01 00:00:00', '2024-01-01 00:00:00')" % (
                                prefix, ", ".join("`%s`" % c for c in cols), ", ".join(["%s"] * len(cols))),
                            [row[c] for c in cols])
    conn.commit()


def foreign_snapshot(conn, prefix="mw_", name_prefix="mailfleet"):
    """Every column (as a tuple) of every row the bridge does not own, ordered by server_id."""
    with conn.cursor() as cur:
        cur.execute("SELECT * FROM `%sdelivery_server` ORDER BY server_id" % prefix)
        name_idx = [d[0] for d in cur.description].index("name")
        rows = [tuple(r) for r in cur.fetchall() if not (r[name_idx] or "").startswith(name_prefix + ":")]
    return rows


def mailwizz_database(srv, db, user, password, prefix="mw_"):
    """On a started MariaDBServer: database ``db`` with MailWizz's delivery_server table (and the
    foreign rows), and ``user`` with exactly the GRANTs of docs/mailwizz-bridge.md."""
    srv.execute("CREATE DATABASE `%s` CHARACTER SET utf8" % db)
    conn = srv.connect(database=db)
    try:
        create_delivery_server_table(conn, prefix=prefix)  # GRANT on a table needs the table
    finally:
        conn.close()
    srv.execute("CREATE USER '%s'@'127.0.0.1' IDENTIFIED BY '%s'" % (user, password),
                "GRANT SELECT, INSERT, UPDATE ON `%s`.`%sdelivery_server` TO '%s'@'127.0.0.1'" % (db, prefix, user))
