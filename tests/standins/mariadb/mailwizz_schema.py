# -*- coding: utf-8 -*-
"""MailWizz's ``{prefix}delivery_server`` table and the tables it references, for tests and the
demo.

Column names, types, defaults, order, indexes, foreign keys and the character set mirror
MailWizz 2.x's install SQL (``apps/common/data/install-sql/schema.sql`` of MailWizz 2.3.9) and its
2.3.8 update (``use_for`` became an INT bitmask, ``force_from_name`` was added); ``version="2.1"``
builds the table as it was before 2.3.8 (``use_for char(15) 'all'``). Every table is InnoDB,
``utf8mb4`` / ``utf8mb4_unicode_ci``. The foreign keys are MailWizz's:

* ``delivery_server.customer_id`` -> ``customer`` ON DELETE CASCADE,
* ``bounce_server_id`` -> ``bounce_server``, ``tracking_domain_id`` -> ``tracking_domain``,
  ``warmup_plan_id`` -> ``delivery_server_warmup_plan``: ON DELETE SET NULL,
* ``customer.group_id`` -> ``customer_group`` and ``language_id`` -> ``language`` SET NULL,
  ``parent_id`` -> ``customer`` CASCADE; bounce servers, tracking domains and warmup plans
  -> ``customer`` CASCADE.

So a row with a ``customer_id`` that is not a customer is refused here as on a real install.
Only the schema: MailWizz itself is commercial and not used here. Sources: docs/mailwizz-api-facts.md.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

CHARSET = "ENGINE=InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"

REFERENCED_DDL = [
    """CREATE TABLE `{prefix}language` (
  `language_id` int(11) NOT NULL AUTO_INCREMENT,
  `name` varchar(255) NOT NULL,
  `language_code` char(2) NOT NULL,
  `region_code` char(2) NULL,
  `is_default` enum('yes','no') NOT NULL DEFAULT 'no',
  `date_added` datetime NOT NULL,
  `last_updated` datetime NOT NULL,
  PRIMARY KEY (`language_id`),
  KEY `is_default` (`is_default`)
) {charset}""",
    """CREATE TABLE `{prefix}customer_group` (
  `group_id` int(11) NOT NULL AUTO_INCREMENT,
  `name` varchar(255) NOT NULL,
  `is_default` enum('yes','no') NOT NULL DEFAULT 'no',
  `date_added` datetime NOT NULL,
  `last_updated` datetime NOT NULL,
  PRIMARY KEY (`group_id`)
) {charset}""",
    """CREATE TABLE `{prefix}customer` (
  `customer_id` int(11) NOT NULL AUTO_INCREMENT,
  `customer_uid` char(13) NOT NULL,
  `parent_id` int(11) NULL,
  `group_id` int(11) NULL,
  `language_id` int(11) NULL,
  `first_name` varchar(100) NULL,
  `last_name` varchar(100) NULL,
  `email` varchar(100) NOT NULL,
  `password` char(34) NOT NULL,
  `timezone` varchar(50) NOT NULL,
  `avatar` varchar(255) NULL,
  `hourly_quota` int(11) NOT NULL DEFAULT '0',
  `removable` enum('yes','no') NOT NULL DEFAULT 'yes',
  `confirmation_key` char(40) NULL,
  `oauth_uid` bigint(20) NULL,
  `oauth_provider` char(10) NULL,
  `status` char(15) NOT NULL DEFAULT 'inactive',
  `birth_date` date NULL DEFAULT NULL,
  `phone` varchar(32) NULL,
  `twofa_enabled` enum('no','yes') NOT NULL DEFAULT 'no',
  `twofa_secret` varchar(64) NOT NULL DEFAULT '',
  `twofa_timestamp` int(11) NOT NULL DEFAULT '0',
  `date_added` datetime NOT NULL,
  `last_updated` datetime NOT NULL,
  `last_login` datetime NULL,
  `inactive_at` datetime NULL,
  PRIMARY KEY (`customer_id`),
  UNIQUE KEY `customer_uid_UNIQUE` (`customer_uid`),
  UNIQUE KEY `email_UNIQUE` (`email`),
  KEY `fk_customer_language1_idx` (`language_id`),
  KEY `fk_customer_customer_group1_idx` (`group_id`),
  KEY `fk_customer_parent1_idx` (`parent_id`),
  KEY `oauth` (`oauth_uid`, `oauth_provider`),
  CONSTRAINT `fk_customer_customer_group1` FOREIGN KEY (`group_id`)
    REFERENCES `{prefix}customer_group` (`group_id`) ON DELETE SET NULL ON UPDATE NO ACTION,
  CONSTRAINT `fk_customer_language1` FOREIGN KEY (`language_id`)
    REFERENCES `{prefix}language` (`language_id`) ON DELETE SET NULL ON UPDATE NO ACTION,
  CONSTRAINT `fk_customer_parent1` FOREIGN KEY (`parent_id`)
    REFERENCES `{prefix}customer` (`customer_id`) ON DELETE CASCADE ON UPDATE NO ACTION
) {charset}""",
    """CREATE TABLE `{prefix}bounce_server` (
  `server_id` int(11) NOT NULL AUTO_INCREMENT,
  `customer_id` int(11) NULL DEFAULT NULL,
  `name` varchar(255) NULL,
  `hostname` varchar(150) NOT NULL,
  `username` varchar(150) NOT NULL,
  `password` varchar(255) NOT NULL,
  `email` varchar(100) NULL,
  `service` enum('imap','pop3') NOT NULL DEFAULT 'imap',
  `port` int(5) NOT NULL DEFAULT '143',
  `protocol` enum('ssl','tls','notls') NOT NULL DEFAULT 'notls',
  `validate_ssl` enum('yes','no') NOT NULL DEFAULT 'no',
  `locked` enum('yes','no') NOT NULL DEFAULT 'no',
  `disable_authenticator` varchar(50) NULL,
  `search_charset` varchar(50) NOT NULL DEFAULT 'UTF-8',
  `delete_all_messages` enum('yes','no') NOT NULL DEFAULT 'no',
  `status` char(15) NOT NULL DEFAULT 'active',
  `date_added` datetime NOT NULL,
  `last_updated` datetime NOT NULL,
  PRIMARY KEY (`server_id`),
  KEY `fk_bounce_server_customer1_idx` (`customer_id`),
  KEY `status` (`status`),
  CONSTRAINT `fk_bounce_server_customer1` FOREIGN KEY (`customer_id`)
    REFERENCES `{prefix}customer` (`customer_id`) ON DELETE CASCADE ON UPDATE NO ACTION
) {charset}""",
    """CREATE TABLE `{prefix}tracking_domain` (
  `domain_id` int(11) NOT NULL AUTO_INCREMENT,
  `customer_id` int(11) DEFAULT NULL,
  `name` varchar(255) NOT NULL,
  `scheme` varchar(50) NOT NULL DEFAULT 'http',
  `verified` enum('yes','no') NOT NULL DEFAULT 'no',
  `date_added` datetime NOT NULL,
  `last_updated` datetime NOT NULL,
  PRIMARY KEY (`domain_id`),
  KEY `fk_tracking_domain_customer1_idx` (`customer_id`),
  CONSTRAINT `fk_tracking_domain_customer1` FOREIGN KEY (`customer_id`)
    REFERENCES `{prefix}customer` (`customer_id`) ON DELETE CASCADE ON UPDATE NO ACTION
) {charset}""",
    """CREATE TABLE `{prefix}delivery_server_warmup_plan` (
  `plan_id` int(11) NOT NULL AUTO_INCREMENT,
  `customer_id` int(11) NULL DEFAULT NULL,
  `name` varchar(50) NOT NULL,
  `description` varchar(255) NULL,
  `sending_limit` int(11) NOT NULL DEFAULT '0',
  `sendings_count` int(11) NOT NULL DEFAULT '0',
  `sending_quota_type` enum('hourly','daily','monthly') NOT NULL DEFAULT 'hourly',
  `sending_increment_ratio` int(11) NOT NULL DEFAULT '0',
  `sending_strategy` enum('exponential','linear') NOT NULL DEFAULT 'linear',
  `sending_limit_type` enum('total','targeted') NOT NULL DEFAULT 'total',
  `status` char(15) NOT NULL DEFAULT 'draft',
  `date_added` datetime NOT NULL,
  `last_updated` datetime NOT NULL,
  PRIMARY KEY (`plan_id`),
  KEY `fk_ds_warmup_plan_customer1_idx` (`customer_id`),
  CONSTRAINT `fk_ds_warmup_plan_customer1` FOREIGN KEY (`customer_id`)
    REFERENCES `{prefix}customer` (`customer_id`) ON DELETE CASCADE ON UPDATE NO ACTION
) {charset}""",
]

_USE_FOR = {
    "2.3.9": ("  `use_for` int(11) NOT NULL DEFAULT '1',\n", "  KEY `delivery_server_use_for_idx` (`use_for`),\n",
              "  `force_from_name` varchar(50) NOT NULL DEFAULT 'never',\n"),
    "2.1": ("  `use_for` char(15) NOT NULL DEFAULT 'all',\n", "", ""),
}

DELIVERY_SERVER_DDL = """CREATE TABLE `{prefix}delivery_server` (
  `server_id` int(11) NOT NULL AUTO_INCREMENT,
  `customer_id` int(11) NULL DEFAULT NULL,
  `bounce_server_id` int(11) NULL,
  `tracking_domain_id` int(11) NULL,
  `warmup_plan_id` int(11) NULL,
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
{use_for}  `signing_enabled` enum('yes','no') NOT NULL DEFAULT 'yes',
  `force_from` varchar(50) NOT NULL DEFAULT 'never',
{force_from_name}  `force_reply_to` varchar(50) NOT NULL DEFAULT 'never',
  `force_sender` enum('yes','no') NOT NULL DEFAULT 'no',
  `must_confirm_delivery` enum('yes','no') NOT NULL DEFAULT 'no',
  `max_connection_messages` int(11) NOT NULL DEFAULT '1',
  `status` char(15) NOT NULL DEFAULT 'inactive',
  `date_added` datetime NOT NULL,
  `last_updated` datetime NOT NULL,
  PRIMARY KEY (`server_id`),
  KEY `fk_delivery_server_bounce_server1_idx` (`bounce_server_id`),
  KEY `idx_gen0` (`status`, `hourly_quota`, `probability`),
  KEY `fk_delivery_server_customer1_idx` (`customer_id`),
  KEY `fk_delivery_server_tracking_domain1_idx` (`tracking_domain_id`),
  KEY `fk_delivery_server_ds_warmup_plan1_idx` (`warmup_plan_id`),
{use_for_idx}  CONSTRAINT `fk_delivery_server_tracking_domain1` FOREIGN KEY (`tracking_domain_id`)
    REFERENCES `{prefix}tracking_domain` (`domain_id`) ON DELETE SET NULL ON UPDATE NO ACTION,
  CONSTRAINT `fk_delivery_server1` FOREIGN KEY (`bounce_server_id`)
    REFERENCES `{prefix}bounce_server` (`server_id`) ON DELETE SET NULL ON UPDATE NO ACTION,
  CONSTRAINT `fk_delivery_server_ds_warmup_plan1` FOREIGN KEY (`warmup_plan_id`)
    REFERENCES `{prefix}delivery_server_warmup_plan` (`plan_id`) ON DELETE SET NULL ON UPDATE NO ACTION,
  CONSTRAINT `fk_delivery_server_customer1` FOREIGN KEY (`customer_id`)
    REFERENCES `{prefix}customer` (`customer_id`) ON DELETE CASCADE ON UPDATE NO ACTION
) {charset}"""

TABLES = ("delivery_server", "delivery_server_warmup_plan", "tracking_domain", "bounce_server",
          "customer", "customer_group", "language")  # drop order (children first)

# MailWizz customers of the tests: the tenants' own customers and one other customer.
CUSTOMERS = {1: "acme@example.com", 2: "globex@example.org", 3: "initech@example.test",
             7: "other@example.net"}

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


def _insert(cur, table, row):
    cols = sorted(row)
    cur.execute("INSERT INTO `%s` (%s, date_added, last_updated) VALUES (%s, '2024-01-01 00:00:00', "
                "'2024-01-01 00:00:00')" % (table, ", ".join("`%s`" % c for c in cols),
                                            ", ".join(["%s"] * len(cols))), [row[c] for c in cols])


def create_delivery_server_table(conn, prefix="mw_", foreign_rows=True, version="2.3.9"):
    """(Re)create MailWizz's tables (dropping old ones), the customers, and FOREIGN_ROWS."""
    use_for, use_for_idx, force_from_name = _USE_FOR[version]
    with conn.cursor() as cur:
        for name in TABLES:
            cur.execute("DROP TABLE IF EXISTS `%s%s`" % (prefix, name))
        for ddl in REFERENCED_DDL:
            cur.execute(ddl.format(prefix=prefix, charset=CHARSET))
        cur.execute(DELIVERY_SERVER_DDL.format(prefix=prefix, charset=CHARSET, use_for=use_for,
                                               use_for_idx=use_for_idx,
                                               force_from_name=force_from_name))
        for cid, email in sorted(CUSTOMERS.items()):
            _insert(cur, prefix + "customer", {
                "customer_id": cid, "customer_uid": ("c%012d" % cid), "email": email,
                "password": "x" * 34, "timezone": "UTC", "status": "active"})
        if foreign_rows:
            for row in FOREIGN_ROWS:
                _insert(cur, prefix + "delivery_server", row)
    conn.commit()


def foreign_snapshot(conn, prefix="mw_", name_prefix="mailfleet"):
    """Every column (as a tuple) of every row the bridge does not own, ordered by server_id."""
    with conn.cursor() as cur:
        cur.execute("SELECT * FROM `%sdelivery_server` ORDER BY server_id" % prefix)
        name_idx = [d[0] for d in cur.description].index("name")
        rows = [tuple(r) for r in cur.fetchall() if not (r[name_idx] or "").startswith(name_prefix + ":")]
    return rows


def database_exists(srv, db):
    return bool(srv.execute("SHOW DATABASES LIKE '%s'" % db))


def mailwizz_database(srv, db, user, password, prefix="mw_", version="2.3.9"):
    """On a started MariaDBServer: database ``db`` (utf8mb4_unicode_ci) with MailWizz's tables
    (and the customers and foreign rows), and ``user`` with exactly the GRANTs of
    docs/mailwizz-bridge.md."""
    srv.execute("CREATE DATABASE `%s` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci" % db)
    conn = srv.connect(database=db)
    try:
        create_delivery_server_table(conn, prefix=prefix, version=version)  # GRANT needs the table
    finally:
        conn.close()
    srv.execute("CREATE USER '%s'@'127.0.0.1' IDENTIFIED BY '%s'" % (user, password),
                "GRANT SELECT, INSERT, UPDATE ON `%s`.`%sdelivery_server` TO '%s'@'127.0.0.1'" % (db, prefix, user))
