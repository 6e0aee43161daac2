--
-- Audit trail: events with their fields, refusals, unseals that survive
-- ROLLBACK, configuration changes recorded at commit (and not when rolled
-- back), query text without constants, who may read it, verification,
-- rotation, and the governance views.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS privstat;
RESET client_min_messages;
SET search_path = public, privstat;
SET max_parallel_workers_per_gather = 0;

-- events of this test only: the trail is the cluster's, and other tests ran before
CREATE TABLE mark AS SELECT coalesce(max(seq), -1) AS seq FROM audit_log;
CREATE VIEW ev AS
	SELECT event, actor, role, relation, epsilon, delta, count, operation, detail, query
	  FROM audit_log WHERE seq > (SELECT seq FROM mark) ORDER BY seq;

CREATE TABLE audit_t AS SELECT g AS i FROM generate_series(1, 100) g;
CREATE ROLE privstat_audit_analyst;
CREATE ROLE privstat_audit_auditor;
CREATE ROLE privstat_audit_unsealer;
GRANT privstat_auditor TO privstat_audit_auditor;
GRANT privstat_unsealer TO privstat_audit_unsealer;
GRANT SELECT ON audit_t TO privstat_audit_analyst;
GRANT SELECT ON ev, mark TO privstat_audit_auditor, privstat_audit_analyst;

-- budget changes and charges, with the query text normalized: no constants
SELECT set_budget('privstat_audit_analyst', 1.0);
SET ROLE privstat_audit_analyst;
SELECT dp_count(i, 0.25) IS NOT NULL AS answered FROM audit_t WHERE i > 42 AND 'secret' <> 'x' /* a comment */;
-- refused: too expensive, recorded with what it asked for
SELECT dp_count(i, 0.9) FROM audit_t;
-- a charge survives ROLLBACK, and so does its record
BEGIN;
SELECT dp_count(i, 0.125) IS NOT NULL AS answered FROM audit_t;
ROLLBACK;
RESET ROLE;
SELECT reset_budget('privstat_audit_analyst');
SELECT * FROM ev;

-- unseals: one record per statement, with the number of values; ROLLBACK keeps it
UPDATE mark SET seq = (SELECT max(seq) FROM audit_log);
CREATE TABLE audit_s (v sealed);
INSERT INTO audit_s SELECT seal('person ' || g) FROM generate_series(1, 7) g;
GRANT SELECT ON audit_s TO privstat_audit_unsealer;
SET ROLE privstat_audit_unsealer;
SELECT count(unseal(v)) FROM audit_s;
BEGIN;
SELECT count(unseal(v)) FROM audit_s WHERE v = seal('person 3');
ROLLBACK;
RESET ROLE;
SELECT * FROM ev;
-- never a value in the trail
SELECT count(*) AS values_in_trail FROM audit_log WHERE query LIKE '%person%' OR detail LIKE '%person%';

-- configuration changes are recorded when they commit, not when rolled back
UPDATE mark SET seq = (SELECT max(seq) FROM audit_log);
BEGIN;
SELECT set_access('privstat_audit_analyst', 'aggregate');
ROLLBACK;
SELECT count(*) AS after_rollback FROM ev;
BEGIN;
SELECT set_access('privstat_audit_analyst', 'aggregate');
SAVEPOINT s;
SELECT protect('audit_t', 'i');
ROLLBACK TO SAVEPOINT s;
SELECT protect('audit_t', 'i');
SELECT set_bounds('audit_t', 'i', 0, 100);
COMMIT;
-- governance: the rules in force, readable by auditors too
SET ROLE privstat_audit_auditor;
SELECT kind, name, privacy_unit, bounds, access_level FROM policies WHERE name LIKE '%audit%' ORDER BY kind;
SELECT role, epsilon_limit, epsilon_spent, charges FROM budget_status WHERE role::text = 'privstat_audit_analyst';
RESET ROLE;
SELECT set_access('privstat_audit_analyst', 'direct');
SELECT unprotect('audit_t');
SELECT rotate_key('audit');
CREATE TABLE audit_r (at timestamptz, who text);
INSERT INTO audit_r VALUES (now() - interval '10 days', 'a'), (now() - interval '9 days', 'b'), (now(), 'c');
SELECT set_retention('audit_r', 'at', '1 day');
CALL purge_expired('audit_r');
SELECT drop_retention('audit_r');
SELECT * FROM ev;

-- the privacy report: per role, what it spent, what was refused, unsealed, purged
SELECT * FROM privacy_report() WHERE role::text LIKE 'privstat_audit%';

-- who may read: auditors yes, others no
SET ROLE privstat_audit_auditor;
SELECT count(*) > 0 AS auditor_reads FROM audit_log;
SELECT ok, first_bad FROM verify_audit_log();
SELECT count(*) >= 0 AS reads_policies FROM policies;
SELECT count(*) >= 0 AS reads_retention FROM retention_status;
SELECT rotate_audit_log();
SELECT count(*) > 0 AS auditor_lists_segments FROM audit_segments();
RESET ROLE;
SET ROLE privstat_audit_analyst;
SELECT count(*) FROM audit_log;
SELECT * FROM audit_segments();
SELECT * FROM verify_audit_log();
SELECT * FROM privacy_report();
SELECT * FROM privstat._audit_log() LIMIT 1;
RESET ROLE;

-- rotation: a new segment whose header carries the chain on
SELECT ok, records > 0 AS has_records, first_bad, first_seq FROM verify_audit_log();
SELECT rotate_audit_log() > 1 AS rotated;
SELECT ok, first_bad FROM verify_audit_log();
SELECT event FROM audit_log WHERE seq > (SELECT seq FROM mark) AND event = 'segment';

-- the segments present: named by their number, each starting where the one
-- before ended, from where verification starts to the end of the trail
SELECT count(*) >= 2 AS segments,
	   bool_and(segment = upper(lpad(to_hex(segno), 16, '0'))) AS named,
	   bool_and(first_seq <= last_seq AND bytes >= 128 AND first_at <= last_at) AS consistent,
	   min(first_seq) = (SELECT first_seq FROM verify_audit_log()) AS from_first_seq,
	   max(last_seq) = (SELECT max(seq) FROM _audit_log()) AS to_the_end
  FROM audit_segments();
SELECT bool_and(first_seq = prev_last + 1) AS contiguous
  FROM (SELECT first_seq, lag(last_seq) OVER (ORDER BY segno) AS prev_last FROM audit_segments()) s
 WHERE prev_last IS NOT NULL;


DROP VIEW ev;
DROP TABLE audit_t, audit_s, audit_r, mark;
DROP ROLE privstat_audit_analyst, privstat_audit_auditor, privstat_audit_unsealer;
