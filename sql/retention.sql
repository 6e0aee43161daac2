--
-- Retention rules: the trigger, purges (delete, anonymize, partitions), the
-- status view, every error, permissions.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS privstat;
RESET client_min_messages;
SET search_path = public, privstat;

CREATE TABLE events (id serial PRIMARY KEY, at timestamptz, email text, ip text, kind text NOT NULL DEFAULT 'view');
INSERT INTO events (at, email, ip)
	SELECT now() - g * interval '1 day', 'u' || g || '@example.com', '10.0.0.' || g FROM generate_series(0, 59) g;
CREATE INDEX ON events (at);

-- a rule: keep 30 days, then delete
SELECT set_retention('events', 'at', '30 days');
SELECT tbl, ts_column, keep, action, anonymize_columns FROM retention_rule;
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'events'::regclass AND NOT tgisinternal;

-- the trigger refuses rows already past retention, and rows without a timestamp
INSERT INTO events (at, email) VALUES (now() - interval '31 days', 'late@example.com');
INSERT INTO events (at, email) VALUES (NULL, 'none@example.com');
UPDATE events SET at = now() - interval '40 days' WHERE id = 1;
-- fresh rows, and updates that leave the timestamp alone, are fine
INSERT INTO events (at, email) VALUES (now() - interval '29 days', 'fresh@example.com');
UPDATE events SET kind = 'click' WHERE at < now() - interval '50 days';
-- and an error never shows the row's values
DO $$
BEGIN
	INSERT INTO events (at, email) VALUES (now() - interval '99 days', 'secret@example.com');
EXCEPTION WHEN check_violation THEN
	RAISE NOTICE 'message or detail mentions the value: %',
		strpos(SQLERRM, 'secret') > 0;
END
$$;

-- what is due, then a purge in batches of 7 rows, each its own transaction
SELECT tbl, oldest_row_age > interval '58 days' AS old_rows, rows_past_due, last_purge_at IS NULL AS never_purged
FROM retention_status;
CALL purge_expired('events', 7);
SELECT count(*) AS kept, min(at) >= now() - interval '30 days' AS all_fresh FROM events;
SELECT rows_past_due, last_purge_rows, last_purge_at IS NOT NULL AS purged FROM retention_status;
SELECT action, rows FROM purge_log ORDER BY at;
-- nothing left: a second purge changes nothing
CALL purge_expired();

-- anonymize: clear identifying columns of expired rows, keep the rest
CREATE TABLE visits (id serial PRIMARY KEY, at date, email text, ip text, page text);
INSERT INTO visits (at, email, ip, page)
	SELECT current_date - g, 'v' || g || '@example.com', '10.1.0.' || g, 'p' || g FROM generate_series(0, 9) g;
SELECT set_retention('visits', 'at', '5 days', 'anonymize', ARRAY['email', 'ip']);
CALL purge_expired('visits');
SELECT count(*) AS rows, count(email) AS with_email, count(ip) AS with_ip, count(page) AS with_page FROM visits;
SELECT rows_past_due FROM retention_status WHERE tbl = 'visits'::regclass;

-- partitions wholly past retention are detached and dropped; others purged row by row
CREATE TABLE log (at timestamptz NOT NULL, msg text) PARTITION BY RANGE (at);
CREATE TABLE log_old PARTITION OF log FOR VALUES FROM ('2000-01-01') TO ('2001-01-01');
CREATE TABLE log_mixed PARTITION OF log FOR VALUES FROM ('2001-01-01') TO ('2100-01-01');
INSERT INTO log SELECT '2000-06-01'::timestamptz + g * interval '1 hour', 'old' FROM generate_series(1, 100) g;
INSERT INTO log SELECT '2002-01-01'::timestamptz + g * interval '1 hour', 'mixed' FROM generate_series(1, 10) g;
INSERT INTO log SELECT now(), 'fresh' FROM generate_series(1, 5);
SELECT set_retention('log', 'at', '1 year');
CALL purge_expired('log');
SELECT relname FROM pg_class WHERE relname LIKE 'log_%' AND relkind = 'r' ORDER BY 1;
SELECT msg, count(*) FROM log GROUP BY msg ORDER BY msg;
SELECT action, rows FROM purge_log WHERE tbl = 'log'::regclass ORDER BY at;

-- changing a rule replaces it; dropping it removes the trigger
SELECT set_retention('events', 'at', '7 days');
SELECT keep FROM retention_rule WHERE tbl = 'events'::regclass;
SELECT drop_retention('events');
SELECT count(*) FROM pg_trigger WHERE tgrelid = 'events'::regclass AND tgname = 'privstat_retention';
INSERT INTO events (at, email) VALUES (now() - interval '999 days', 'allowed@example.com');
SELECT drop_retention('events');

-- bad input
SELECT set_retention('events', 'nope', '1 day');
SELECT set_retention('events', 'email', '1 day');
SELECT set_retention('events', 'at', '0 days');
SELECT set_retention('events', 'at', '-1 day');
SELECT set_retention('events', 'at', '10000 years');
SELECT set_retention('events', 'at', '1 day', 'shred');
SELECT set_retention('events', 'at', '1 day', 'delete', ARRAY['email']);
SELECT set_retention('events', 'at', '1 day', 'anonymize');
SELECT set_retention('events', 'at', '1 day', 'anonymize', ARRAY['nope']);
SELECT set_retention('events', 'at', '1 day', 'anonymize', ARRAY['at']);
SELECT set_retention('events', 'at', '1 day', 'anonymize', ARRAY['kind']);
SELECT set_retention('events', NULL, '1 day');
CREATE VIEW events_v AS SELECT * FROM events;
SELECT set_retention('events_v', 'at', '1 day');
CALL purge_expired('events');
CALL purge_expired(NULL, 0);

-- only superusers and privstat_admin members manage retention
CREATE ROLE privstat_test_user;
SET ROLE privstat_test_user;
SELECT set_retention('visits', 'at', '1 day');
SELECT drop_retention('visits');
CALL purge_expired();
SELECT * FROM retention_status;
RESET ROLE;
DROP ROLE privstat_test_user;
-- and a privstat_admin member only on tables it may put triggers on
CREATE ROLE privstat_test_admin;
GRANT privstat_admin TO privstat_test_admin;
SET ROLE privstat_test_admin;
SELECT set_retention('events', 'at', '1 day');
RESET ROLE;
GRANT TRIGGER ON events TO privstat_test_admin;
SET ROLE privstat_test_admin;
SELECT set_retention('events', 'at', '10 days');
SELECT tbl, keep FROM retention_status WHERE tbl = 'events'::regclass;
SELECT drop_retention('events');
RESET ROLE;
REVOKE TRIGGER ON events FROM privstat_test_admin;
-- nor around the checks: the rules table is read-only to administrators, the
-- writers check the TRIGGER privilege themselves, and system tables are out
SET ROLE privstat_test_admin;
INSERT INTO retention_rule (tbl, ts_column, keep, action) VALUES ('events', 'at', '-1 day', 'delete');
SELECT _retention_apply('events', 'at', '-1 day', 'delete', NULL);
SELECT _retention_remove('visits');
RESET ROLE;
SELECT set_retention('pg_catalog.pg_authid', 'rolvaliduntil', '1 day');
SELECT _retention_apply('privstat.purge_log', 'at', '1 day', 'delete', NULL);
SELECT _retention_apply('events', 'at', '-1 day', 'delete', NULL);
-- purge_expired purges with the caller's rights
GRANT SELECT ON events TO privstat_test_admin;
SELECT set_retention('events', 'at', '30 days');
SET ROLE privstat_test_admin;
CALL purge_expired('events');
RESET ROLE;
-- a renamed column keeps its trigger working; a dropped table takes its rule along
ALTER TABLE events RENAME COLUMN at TO happened_at;
INSERT INTO events (happened_at, email) VALUES (now() - interval '99 days', 'x@example.com');
INSERT INTO events (happened_at, email) VALUES (now(), 'y@example.com');
CREATE TABLE doomed (at timestamptz);
SELECT set_retention('doomed', 'at', '1 day');
DROP TABLE doomed;
SELECT count(*) AS rules_left_for_dropped_tables FROM retention_rule r
	WHERE NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = r.tbl);
SELECT drop_retention('events');
REVOKE SELECT ON events FROM privstat_test_admin;
DROP ROLE privstat_test_admin;

SELECT drop_retention('visits');
SELECT drop_retention('log');
DROP VIEW events_v;
DROP TABLE events, visits, log;
