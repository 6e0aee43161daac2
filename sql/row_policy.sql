--
-- Row-level rules: consent to purposes, per-role scopes, expiry; each alone
-- and with the DBA's own policies; plan caching; every error.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS privstat;
RESET client_min_messages;
SET max_parallel_workers_per_gather = 0;

CREATE ROLE rp_dba;
GRANT privstat_admin TO rp_dba;
CREATE ROLE rp_marketer;
CREATE ROLE rp_support;
CREATE ROLE rp_analyst;
GRANT CREATE ON SCHEMA public TO rp_dba;

SET ROLE rp_dba;
-- 100 people; consent: 1-40 analytics+marketing, 41-70 analytics, 71-90 none,
-- 91-100 NULL (never asked); regions EU for even ids
CREATE TABLE people (id int PRIMARY KEY, region text, consent text[], seen timestamptz);
INSERT INTO people
	SELECT g, CASE WHEN g % 2 = 0 THEN 'EU' ELSE 'US' END,
		   CASE WHEN g <= 40 THEN ARRAY['analytics', 'marketing']
				WHEN g <= 70 THEN ARRAY['analytics']
				WHEN g <= 90 THEN ARRAY[]::text[] END,
		   now() - g * interval '1 day'
	FROM generate_series(1, 100) g;
GRANT SELECT, UPDATE ON people TO rp_marketer, rp_support;

-- consent: the column, and row level security turned on (it says so)
SELECT privstat.set_consent('people', 'consent');
SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'people'::regclass;
SELECT privstat.grant_purpose('rp_marketer', 'marketing');
SELECT privstat.grant_purpose('rp_marketer', 'analytics');
SELECT privstat.grant_purpose('rp_analyst', 'analytics');
-- errors
SELECT privstat.set_consent('people', 'region');
SELECT privstat.set_consent('people', 'nope');
SELECT privstat.set_consent(NULL, 'consent');
SELECT privstat.grant_purpose('rp_marketer', '');
SELECT privstat.grant_purpose('rp_marketer', ' spaced ');
RESET ROLE;

-- a role with purposes but none declared sees no consent-bound rows
SET ROLE rp_marketer;
SELECT count(*) FROM people;
SET privstat.purpose = 'marketing';
SELECT count(*), min(id), max(id) FROM people;
SET privstat.purpose = 'analytics';
SELECT count(*), min(id), max(id) FROM people;
-- only a granted purpose may be declared
SET privstat.purpose = 'sales';
SHOW privstat.purpose;
-- a role without purposes sees nothing of a consent-bound table
SET ROLE rp_support;
SELECT count(*) FROM people;
SET privstat.purpose = 'marketing';
RESET ROLE;

-- a parallel worker reads consent with the session's purpose and role, also
-- when the session's login role holds no purpose itself
RESET ROLE;
CREATE ROLE rp_login NOINHERIT;
GRANT rp_marketer TO rp_login;
SET SESSION AUTHORIZATION rp_login;
SET ROLE rp_marketer;
SET privstat.purpose = 'marketing';
SET force_parallel_mode = on;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT count(*) FROM people;
SELECT count(*) FROM people;
RESET force_parallel_mode;
SET max_parallel_workers_per_gather = 0;
RESET privstat.purpose;
RESET SESSION AUTHORIZATION;
DROP ROLE rp_login;

-- withdrawing consent hides the row at once (a role may not itself update a
-- row out of its own sight: PostgreSQL checks new rows against read policies)
SET ROLE rp_marketer;
SET privstat.purpose = 'marketing';
UPDATE people SET consent = ARRAY['analytics'] WHERE id = 1;
RESET ROLE;
UPDATE people SET consent = ARRAY['analytics'] WHERE id = 1;
SET ROLE rp_marketer;
SELECT count(*) FROM people;
-- a cached plan follows the declared purpose and later rule changes
PREPARE n AS SELECT count(*) FROM people;
EXECUTE n;
SET privstat.purpose = 'analytics';
EXECUTE n;
RESET ROLE;
SELECT privstat.revoke_purpose('rp_marketer', 'analytics');
SET ROLE rp_marketer;
EXECUTE n;
SHOW privstat.purpose;
DEALLOCATE n;
RESET privstat.purpose;
RESET ROLE;
SELECT privstat.revoke_purpose('rp_marketer', 'analytics');

-- DP counts of an aggregate role follow consent too
SET ROLE rp_dba;
SELECT privstat.protect('people', 'id');
RESET ROLE;
SELECT privstat.set_access('rp_analyst', 'aggregate');
SELECT privstat.set_budget('rp_analyst', 'infinity');
SET ROLE rp_analyst;
SET privstat.purpose = 'analytics';
SELECT count(*) BETWEEN 69 - 25 AND 69 + 25 AS about_69 FROM people;
RESET ROLE;
UPDATE people SET consent = ARRAY[]::text[] WHERE id <= 60;
SET ROLE rp_analyst;
SELECT count(*) BETWEEN 10 - 25 AND 10 + 25 AS about_10 FROM people;
RESET privstat.purpose;
RESET ROLE;
SELECT privstat.set_access('rp_analyst', 'direct');
SET ROLE rp_dba;
SELECT privstat.unprotect('people');
RESET ROLE;

-- scopes: parsed and checked when set, stored as written, shown in policies
SET ROLE rp_dba;
SELECT privstat.drop_consent('people');
SELECT privstat.set_scope('people', 'rp_support', 'region = ''EU'' AND id <= 50');
SELECT privstat.set_scope('people', 'rp_support', 'region ~ ''E''');
SELECT privstat.set_scope('people', 'rp_support', 'id IN (SELECT 1)');
SELECT privstat.set_scope('people', 'rp_support', 'id');
SELECT privstat.set_scope('people', 'rp_support', 'nope = 1');
SELECT privstat.set_scope('people', 'rp_support', 'id = 1; DROP TABLE people');
SELECT privstat.set_scope('people', 'rp_support', 'id = 1 FROM pg_class');
SELECT privstat.set_scope('people', 'rp_support', 'count(*) > 0');
SELECT privstat.set_scope('people', 'rp_support', 'ctid = ''(0,1)''');
SELECT privstat.set_scope('people', 'rp_support', 'random() < 0.5');
SELECT kind, name, role, detail FROM privstat.policies ORDER BY kind, name, role;
RESET ROLE;
SET ROLE rp_support;
SELECT count(*), min(id), max(id) FROM people;
-- the scope narrows reads, also those of UPDATE and DELETE
WITH u AS (UPDATE people SET region = region WHERE id > 40 RETURNING id) SELECT count(*) FROM u;
RESET ROLE;
-- other roles are not scoped
SET ROLE rp_marketer;
SELECT count(*) FROM people;
RESET ROLE;

-- with the DBA's own policies: privstat's rules narrow them, never widen
SET ROLE rp_dba;
CREATE POLICY low_ids ON people FOR SELECT TO rp_support, rp_marketer USING (id <= 20);
RESET ROLE;
SET ROLE rp_support;
SELECT count(*), min(id), max(id) FROM people;
SET ROLE rp_marketer;
SELECT count(*), min(id), max(id) FROM people;
RESET ROLE;
SET ROLE rp_dba;
DROP POLICY low_ids ON people;
SELECT privstat.drop_scope('people', 'rp_support');
SELECT privstat.drop_scope('people', 'rp_support');
RESET ROLE;

-- expiry: rows past the retention rule are hidden at once, but from the owner
SET ROLE rp_dba;
SELECT privstat.set_retention('people', 'seen', '30 days');
SELECT count(*) FROM people;
RESET ROLE;
SET ROLE rp_support;
SELECT count(*), max(id) FROM people;
RESET ROLE;
-- FORCE ROW LEVEL SECURITY applies the rules to the owner, but expiry
SET ROLE rp_dba;
SELECT privstat.set_consent('people', 'consent');
ALTER TABLE people FORCE ROW LEVEL SECURITY;
SELECT count(*) FROM people;
SELECT privstat.drop_consent('people');
SELECT count(*) FROM people;
ALTER TABLE people NO FORCE ROW LEVEL SECURITY;
RESET ROLE;

-- the purge sees what it purges, even run by an administrator who is not the
-- owner and sees no expired row otherwise
CREATE ROLE rp_purger;
GRANT privstat_admin TO rp_purger;
GRANT SELECT, DELETE ON people TO rp_purger;
SET ROLE rp_purger;
SELECT count(*) FROM people;
CALL privstat.purge_expired('people');
SELECT count(*) FROM people;
RESET ROLE;
SELECT count(*) FROM people;
DROP OWNED BY rp_purger;
DROP ROLE rp_purger;
-- who may set rules
SET ROLE rp_support;
SELECT privstat.set_scope('people', 'rp_support', 'true');
SELECT privstat.grant_purpose('rp_support', 'marketing');
RESET ROLE;
CREATE TABLE not_theirs (id int, consent text[]);
SET ROLE rp_dba;
SELECT privstat.set_consent('not_theirs', 'consent');
SELECT privstat.set_consent('pg_class', 'relacl');
RESET ROLE;
DROP TABLE not_theirs;

-- a dropped table takes its rules with it
SET ROLE rp_dba;
SELECT privstat.set_scope('people', 'rp_support', 'id > 0');
SELECT privstat.drop_retention('people');
DROP TABLE people;
SELECT count(*) FROM privstat.scope_rule;
SELECT count(*) FROM privstat.rls_table;
RESET ROLE;

-- the functions an UPDATE or DELETE of a Citus table under the rules calls
-- (src/citus.c): the purpose its consent rule compares with, the role's own
-- if it holds it; and the check of a new row, PostgreSQL's error when it fails
SET ROLE rp_marketer;
SET privstat.purpose = 'marketing';
SELECT privstat._session_purpose();
RESET privstat.purpose;
SELECT privstat._session_purpose() IS NULL AS no_purpose;
RESET ROLE;
SELECT privstat._citus_new_row_ok(true, 't', 'p', 5);
SELECT privstat._citus_new_row_ok(true, 't', NULL, NULL::text) IS NULL AS null_kept;
SELECT privstat._citus_new_row_ok(false, 't', 'privstat_consent', 5);
SELECT privstat._citus_new_row_ok(NULL, 't', NULL, 5);

REVOKE CREATE ON SCHEMA public FROM rp_dba;
SELECT privstat.revoke_purpose(r, p) FROM privstat.purpose_grant g(r, p);
SELECT privstat.reset_budget('rp_analyst');
DROP ROLE rp_dba, rp_marketer, rp_support, rp_analyst;
