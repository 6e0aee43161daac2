--
-- Attack suite: the four attacks that succeeded when the suite was written,
-- each now refused (doc/security.md, "Found by the attack suite").
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS privstat;
RESET client_min_messages;
SET max_parallel_workers_per_gather = 0;

CREATE ROLE open_analyst;
CREATE ROLE open_dba;
GRANT privstat_admin TO open_dba;
GRANT CREATE ON SCHEMA public TO open_analyst;
CREATE SCHEMA open_dba_schema AUTHORIZATION open_dba;
-- 10,000 orders of users 0..99 (EU for even ids), and one row of user 7 in region XX
CREATE TABLE open_orders (id int, user_id int, amount numeric, region text);
INSERT INTO open_orders
	SELECT g, g % 100, (g % 50)::numeric, CASE WHEN g % 2 = 0 THEN 'EU' ELSE 'US' END
	FROM generate_series(1, 10000) g;
INSERT INTO open_orders VALUES (0, 7, 1000, 'XX');
CREATE INDEX open_orders_user ON open_orders (user_id);
ANALYZE open_orders;
SELECT privstat.protect('open_orders', 'user_id');
SELECT privstat.set_access('open_analyst', 'aggregate');
SELECT privstat.set_budget('open_analyst', 'infinity');

-- == FOUND 1: a LIKE pattern ending in its escape character ==
-- LIKE 'X\' passed validation (tried against '' the matcher never reached the
-- '\'), then failed only when a row's region started with X: an exact,
-- noise-free membership test.  Now the pattern itself is checked at planning.
SET ROLE open_analyst;
-- user 7 has a region starting with X: refused at planning
SELECT count(*) > -1000000 AS answered FROM open_orders WHERE user_id = 7 AND region LIKE 'X\';
-- user 8 has none: refused the same way, so the answer says nothing
SELECT count(*) > -1000000 AS answered FROM open_orders WHERE user_id = 8 AND region LIKE 'X\';
-- the same with ILIKE
SELECT count(*) > -1000000 AS answered FROM open_orders WHERE user_id = 7 AND region ILIKE 'x\';
RESET ROLE;

-- == FOUND 2: statistics functions reached through an inlined SQL function ==
-- The check looked at the query before the planner inlined SQL functions, so
-- pg_stat_get_xact_tuples_returned() of the index reached the analyst: the
-- exact number of index entries the DP count read (101).  Now it is made
-- where the executor checks the right to execute each function.
SET ROLE open_analyst;
CREATE FUNCTION public.open_xr(oid) RETURNS bigint LANGUAGE sql VOLATILE
	AS 'SELECT pg_catalog.pg_stat_get_xact_tuples_returned($1)';
SET enable_seqscan = off;
SET enable_bitmapscan = off;
BEGIN;
SELECT public.open_xr('open_orders_user'::regclass) AS before;
ROLLBACK;
-- ... and through a column default, evaluated by COPY FROM outside the planner
-- (refused at the first COPY; the rest of the transaction is aborted)
CREATE TABLE public.open_sink (x int,
	n bigint DEFAULT pg_catalog.pg_stat_get_xact_tuples_returned('open_orders_user'::regclass));
BEGIN;
COPY public.open_sink (x) FROM STDIN;
1
\.
SELECT count(*) > -1000000 AS answered FROM open_orders WHERE user_id = 7;
COPY public.open_sink (x) FROM STDIN;
2
\.
SELECT max(n) - min(n) AS exact_rows_of_user_7 FROM public.open_sink;
COMMIT;
RESET enable_seqscan;
RESET enable_bitmapscan;
DROP TABLE public.open_sink;
DROP FUNCTION public.open_xr(oid);
RESET ROLE;

-- == FOUND 3: a NOINHERIT membership in a role that can read the table ==
-- The checks looked at inherited privileges only: a role an aggregate role may
-- SET ROLE to (PostgreSQL 15 has no SET option on grants) could read raw rows,
-- and the grant was not reported.  Now the grant is reported as a SELECT of
-- the aggregate role, whose own queries over the table are refused until it
-- is revoked (SET ROLE itself is PostgreSQL's to allow: doc/security.md).
CREATE ROLE open_rawreader;
GRANT SELECT ON open_orders TO open_rawreader;
ALTER ROLE open_analyst NOINHERIT;
GRANT open_rawreader TO open_analyst;
SET ROLE open_analyst;
SELECT count(*) FROM open_orders;
RESET ROLE;
REVOKE open_rawreader FROM open_analyst;
ALTER ROLE open_analyst INHERIT;

-- == FOUND 4: privstat_admin became superuser through a search_path trick ==
-- privstat._retention_apply/_retention_remove (C, callable by privstat_admin)
-- ran SQL as the bootstrap superuser with the caller's search_path, and a
-- query compared "tgrelid = $1" with an unqualified operator: the caller's
-- operator ran as a superuser.  Now every statement privstat runs as the
-- superuser runs with search_path = pg_catalog, pg_temp, and its operators
-- are qualified.
SET ROLE open_dba;
CREATE TABLE open_dba_schema.t (id int, ts timestamptz);
CREATE FUNCTION open_dba_schema.eq(oid, oid) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) current_user)
	   AND NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'open_dba') THEN
		EXECUTE 'ALTER ROLE open_dba SUPERUSER';
		RAISE NOTICE 'hijacked operator ran as a superuser';
	END IF;
	RETURN $1 OPERATOR(pg_catalog.=) $2;
END $$;
CREATE OPERATOR open_dba_schema.= (FUNCTION = open_dba_schema.eq, LEFTARG = oid, RIGHTARG = oid);
SET search_path = open_dba_schema, pg_catalog;
SELECT privstat._retention_apply('open_dba_schema.t', 'ts', '1 day', 'delete', NULL);
-- (the hijacked operator is evaluated once privstat's trigger exists: on removal)
SELECT privstat._retention_remove('open_dba_schema.t');
RESET search_path;
RESET ROLE;
SELECT rolsuper AS open_dba_is_superuser FROM pg_roles WHERE rolname = 'open_dba';

-- clean up
ALTER ROLE open_dba NOSUPERUSER;
DROP SCHEMA open_dba_schema CASCADE;
DROP TABLE open_orders;
REVOKE CREATE ON SCHEMA public FROM open_analyst;
SELECT privstat.set_access('open_analyst', 'direct');
SELECT privstat.reset_budget('open_analyst');
DROP ROLE open_analyst, open_dba, open_rawreader;
