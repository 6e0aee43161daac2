--
-- The release cache (src/release_cache.c): a DP answer already released to
-- a role is returned again, identical and without a charge, while nothing it
-- read has changed; any change, another role, purpose, parameter or epsilon
-- is a new charge and a new answer.  Answers are only compared with each
-- other, never shown.  Two independent releases of avg(amount) (Laplace
-- noise, continuous, in double precision) are equal with probability far
-- below 1e-9.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS privstat;
RESET client_min_messages;
SET max_parallel_workers_per_gather = 0;

CREATE ROLE rc_analyst;
CREATE ROLE rc_other;
CREATE TABLE rc_events (uid int, day int, amount numeric);
INSERT INTO rc_events SELECT u, u % 7, u % 50 FROM generate_series(1, 2000) u;
CREATE TABLE rc_dim (day int, name text);
INSERT INTO rc_dim SELECT d, 'day ' || d FROM generate_series(0, 6) d;
SELECT privstat.protect('rc_events', 'uid');
SELECT privstat.set_bounds('rc_events', 'amount', 0, 100);
SELECT privstat.set_access('rc_analyst', 'aggregate');
SELECT privstat.set_access('rc_other', 'aggregate');
SELECT privstat.set_budget('rc_analyst', 1000, 1);
SELECT privstat.set_budget('rc_other', 1000, 1);
GRANT USAGE ON SCHEMA privstat TO rc_analyst, rc_other;
GRANT SELECT ON rc_dim TO rc_analyst;
CREATE FUNCTION rc_spent(r regrole) RETURNS double precision LANGUAGE sql AS
	$$SELECT epsilon_spent FROM privstat.budget_status WHERE role = r$$;
GRANT EXECUTE ON FUNCTION rc_spent(regrole) TO PUBLIC;

-- == the second identical query is free and identical ==
\getenv abs_srcdir PG_ABS_SRCDIR
\set round :abs_srcdir '/sql/include/release_cache_round.sql'
\set prev none
\set change first
\i :round
SELECT hits, misses, stored, epsilon_saved, entries FROM privstat.release_cache_status
	WHERE role = 'rc_analyst'::regrole;
-- the audit trail records the release without charge, with what it would have cost
SELECT event, epsilon, query FROM privstat.audit_log
	WHERE role = 'rc_analyst'::regrole AND event IN ('charge', 'cached_release') ORDER BY seq;
-- and a third run is free too
SET ROLE rc_analyst;
SELECT count(*) AS a, avg(amount) AS b FROM rc_events WHERE day < 7 \gset r3_
RESET ROLE;
SELECT :'r3_b' = :'prev' AS third_identical, rc_spent('rc_analyst') = :s2 AS third_free;

-- grouped, joined with a table that is not protected: a change to either is a change
SET ROLE rc_analyst;
SELECT string_agg(n || '=' || c, ',' ORDER BY n) AS g FROM (
	SELECT d.name AS n, sum(amount) AS c FROM rc_events e JOIN rc_dim d USING (day) GROUP BY d.name) s \gset g1_
SELECT string_agg(n || '=' || c, ',' ORDER BY n) AS g FROM (
	SELECT d.name AS n, sum(amount) AS c FROM rc_events e JOIN rc_dim d USING (day) GROUP BY d.name) s \gset g2_
RESET ROLE;
SELECT :'g1_g' = :'g2_g' AS grouped_identical;
UPDATE rc_dim SET name = name WHERE day = 0;
SET ROLE rc_analyst;
SELECT string_agg(n || '=' || c, ',' ORDER BY n) AS g FROM (
	SELECT d.name AS n, sum(amount) AS c FROM rc_events e JOIN rc_dim d USING (day) GROUP BY d.name) s \gset g3_
RESET ROLE;
SELECT :'g3_g' <> :'g1_g' AS grouped_new_after_change;

-- == every way of changing the table ==
INSERT INTO rc_events VALUES (5001, 1, 10);
\set change insert
\i :round
UPDATE rc_events SET amount = amount WHERE uid = 5001;
\set change update
\i :round
DELETE FROM rc_events WHERE uid = 5001;
\set change delete
\i :round
-- a statement that changes no row still counts (the cache cannot tell)
DELETE FROM rc_events WHERE false;
\set change 'delete of no row'
\i :round
COPY rc_events FROM stdin;
5002	2	20
\.
\set change 'copy from'
\i :round
BEGIN;
INSERT INTO rc_events VALUES (5003, 3, 30);
ROLLBACK;
\set change 'rolled back insert'
\i :round
-- a policy change (any change to privstat's tables, any DDL)
SELECT privstat.set_bounds('rc_events', 'amount', 0, 100);
\set change 'policy change'
\i :round
ALTER TABLE rc_events ALTER COLUMN amount SET DEFAULT 0;
\set change 'ddl'
\i :round
-- a change to a partition is a change to its partitioned table (rc_parts below)

-- == no entry is shared across roles, purposes, parameters, epsilon, settings ==
SET ROLE rc_other;
SELECT rc_spent('rc_other') AS o0 \gset
SELECT count(*) AS a, avg(amount) AS b FROM rc_events WHERE day < 7 \gset o_
RESET ROLE;
SELECT rc_spent('rc_other') > :o0 AS other_role_charged, :'o_b' <> :'prev' AS other_role_new_answer;
-- epsilon given as an argument
SET ROLE rc_analyst;
SELECT rc_spent('rc_analyst') AS s0 \gset
SELECT privstat.dp_avg(amount, 0, 100, 0.5) AS e FROM rc_events WHERE day < 7 \gset e1_
SELECT privstat.dp_avg(amount, 0, 100, 0.25) AS e FROM rc_events WHERE day < 7 \gset e2_
SELECT privstat.dp_avg(amount, 0, 100, 0.5) AS e FROM rc_events WHERE day < 7 \gset e3_
RESET ROLE;
SELECT rc_spent('rc_analyst') - :s0 AS spent_for_three_runs, :'e1_e' <> :'e2_e' AS other_epsilon_new,
	   :'e1_e' = :'e3_e' AS same_epsilon_identical;
-- parameters (the extended protocol's, and PREPARE's)
SET ROLE rc_analyst;
PREPARE rc_q(int) AS SELECT avg(amount) AS p FROM rc_events WHERE day < $1;
SELECT rc_spent('rc_analyst') AS s0 \gset
EXECUTE rc_q(5) \gset p1_
EXECUTE rc_q(6) \gset p2_
EXECUTE rc_q(5) \gset p3_
RESET ROLE;
SELECT rc_spent('rc_analyst') - :s0 AS spent_for_three_runs, :'p1_p' <> :'p2_p' AS other_parameter_new,
	   :'p1_p' = :'p3_p' AS same_parameter_identical;
-- a setting the answer depends on
SET ROLE rc_analyst;
SELECT avg(amount) AS v FROM rc_events WHERE day < 7 \gset t1_
SET privstat.consistent_answers = off;
SELECT avg(amount) AS v FROM rc_events WHERE day < 7 \gset t2_
RESET privstat.consistent_answers;
RESET ROLE;
SELECT :'t1_v' <> :'t2_v' AS other_setting_new;
-- privstat.release_cache_ttl = 0: never reused
SET ROLE rc_analyst;
SET privstat.release_cache_ttl = 0;
SELECT rc_spent('rc_analyst') AS s0 \gset
SELECT avg(amount) AS v FROM rc_events WHERE day < 7 \gset t3_
SELECT avg(amount) AS v FROM rc_events WHERE day < 7 \gset t4_
RESET privstat.release_cache_ttl;
RESET ROLE;
SELECT rc_spent('rc_analyst') > :s0 + 1.5 AS ttl_0_charged_twice, :'t3_v' <> :'t4_v' AS ttl_0_new_answers;

-- == nothing refunds: a rolled-back answer is released, an error keeps nothing ==
SET ROLE rc_analyst;
BEGIN;
SELECT avg(amount) AS v FROM rc_events WHERE day < 6 \gset k1_
ROLLBACK;
SELECT rc_spent('rc_analyst') AS s0 \gset
SELECT avg(amount) AS v FROM rc_events WHERE day < 6 \gset k2_
RESET ROLE;
SELECT :'k1_v' = :'k2_v' AS rolled_back_answer_identical, rc_spent('rc_analyst') = :s0 AS and_free;
SET ROLE rc_analyst;
SELECT rc_spent('rc_analyst') AS s0 \gset
SELECT ln(avg(amount) * 0) FROM rc_events WHERE day < 5;
SELECT rc_spent('rc_analyst') AS s1 \gset
SELECT ln(avg(amount) * 0) FROM rc_events WHERE day < 5;
RESET ROLE;
SELECT :s1 > :s0 AS failed_query_charged, rc_spent('rc_analyst') > :s1 AS failed_again_charged_again;

-- == what is never answered from the cache ==
-- the query's own transaction wrote to the table: charged, and not kept
SET ROLE rc_analyst;
SELECT rc_spent('rc_analyst') AS s0 \gset
RESET ROLE;
BEGIN;
UPDATE rc_events SET amount = amount WHERE uid = 1;
SET LOCAL ROLE rc_analyst;
SELECT avg(amount) AS v FROM rc_events WHERE day < 7 \gset w1_
SELECT avg(amount) AS v FROM rc_events WHERE day < 7 \gset w2_
COMMIT;
SELECT rc_spent('rc_analyst') > :s0 + 1.5 AS own_write_charged_twice, :'w1_v' <> :'w2_v' AS own_write_new_answers;
-- EXPLAIN ANALYZE runs (and charges) the query: a DP query of a role with
-- direct access (restricted roles may not EXPLAIN ANALYZE), kept like anyone's
CREATE ROLE rc_direct;
GRANT SELECT ON rc_events, rc_dim TO rc_direct;
SELECT privstat.set_budget('rc_direct', 1000, 1);
SET ROLE rc_direct;
SELECT privstat.dp_avg(amount, 0, 100) AS v FROM rc_events \gset x1_
SELECT privstat.dp_avg(amount, 0, 100) AS v FROM rc_events \gset x2_
SELECT rc_spent('rc_direct') AS s0 \gset
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT privstat.dp_avg(amount, 0, 100) FROM rc_events;
RESET ROLE;
SELECT :'x1_v' = :'x2_v' AS direct_identical, rc_spent('rc_direct') > :s0 AS explain_analyze_charged;
-- a query that reads a table through a function (here in WHERE) depends on
-- more than its plan shows: charged every time
CREATE FUNCTION rc_maxday() RETURNS int LANGUAGE plpgsql STABLE AS
	$$BEGIN RETURN (SELECT max(day) FROM rc_dim); END$$;
SET ROLE rc_direct;
SELECT rc_spent('rc_direct') AS s0 \gset
SELECT privstat.dp_avg(amount, 0, 100) AS v FROM rc_events WHERE day < rc_maxday() \gset n1_
SELECT privstat.dp_avg(amount, 0, 100) AS v FROM rc_events WHERE day < rc_maxday() \gset n2_
RESET ROLE;
SELECT rc_spent('rc_direct') - :s0 AS function_reading_a_table_charged, :'n1_v' <> :'n2_v' AS new_answers;
-- a setting a query reads (current_setting, as row security policies of
-- pooled multi-tenant applications do) is part of the key
SET ROLE rc_direct;
SET app.maxday = 3;
SELECT rc_spent('rc_direct') AS s0 \gset
SELECT privstat.dp_avg(amount, 0, 100) AS v FROM rc_events WHERE day < current_setting('app.maxday')::int \gset m1_
SET app.maxday = 5;
SELECT privstat.dp_avg(amount, 0, 100) AS v FROM rc_events WHERE day < current_setting('app.maxday')::int \gset m2_
SET app.maxday = 3;
SELECT privstat.dp_avg(amount, 0, 100) AS v FROM rc_events WHERE day < current_setting('app.maxday')::int \gset m3_
RESET app.maxday;
RESET ROLE;
SELECT rc_spent('rc_direct') - :s0 AS spent_for_three_runs, :'m1_v' <> :'m2_v' AS other_setting_new,
	   :'m1_v' = :'m3_v' AS same_setting_identical;
-- parameters are compared exactly (not as text, which extra_float_digits rounds)
SET ROLE rc_direct;
SET extra_float_digits = -15;
PREPARE rc_f(float8) AS SELECT privstat.dp_avg(amount, 0, 100) AS v FROM rc_events WHERE amount < $1 * 10;
SELECT rc_spent('rc_direct') AS s0 \gset
EXECUTE rc_f(1.2) \gset f12_
EXECUTE rc_f(1.4) \gset f14_
RESET extra_float_digits;
RESET ROLE;
SELECT rc_spent('rc_direct') - :s0 AS two_parameters_two_charges;
-- SERIALIZABLE transactions read (and take their predicate locks) every time
SET ROLE rc_direct;
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT rc_spent('rc_direct') AS s0 \gset
SELECT privstat.dp_avg(amount, 0, 100) AS v FROM rc_events \gset y1_
SELECT privstat.dp_avg(amount, 0, 100) AS v FROM rc_events \gset y2_
COMMIT;
RESET ROLE;
SELECT rc_spent('rc_direct') - :s0 AS serializable_charged_twice;
-- DROP INDEX CONCURRENTLY (which must get no transaction id) still works
CREATE INDEX rc_events_day ON rc_events (day);
DROP INDEX CONCURRENTLY rc_events_day;
-- a cursor read in parts is kept and replayed in parts
SET ROLE rc_analyst;
BEGIN;
DECLARE c1 CURSOR FOR SELECT day, count(*) FROM rc_events GROUP BY day;
FETCH 1 FROM c1 \gset f1_
FETCH 1 FROM c1 \gset f1b_
FETCH ALL FROM c1 \g /dev/null
CLOSE c1;
SELECT rc_spent('rc_analyst') AS s0 \gset
DECLARE c2 CURSOR FOR SELECT day, count(*) FROM rc_events GROUP BY day;
FETCH 1 FROM c2 \gset f2_
FETCH 1 FROM c2 \gset f2b_
FETCH ALL FROM c2 \g /dev/null
CLOSE c2;
COMMIT;
RESET ROLE;
SELECT :'f1_count' = :'f2_count' AND :'f1b_count' = :'f2b_count' AS cursor_identical, rc_spent('rc_analyst') = :s0 AS cursor_free;
-- a cursor WITH HOLD is not (its transaction's end runs it again from the start)
SET ROLE rc_analyst;
BEGIN;
DECLARE h1 NO SCROLL CURSOR WITH HOLD FOR SELECT avg(amount) FROM rc_events WHERE day < 4;
FETCH ALL FROM h1 \g /dev/null
COMMIT;
SELECT rc_spent('rc_analyst') AS s0 \gset
BEGIN;
DECLARE h2 NO SCROLL CURSOR WITH HOLD FOR SELECT avg(amount) FROM rc_events WHERE day < 4;
COMMIT;
FETCH ALL FROM h2 \g /dev/null
CLOSE h1;
CLOSE h2;
RESET ROLE;
SELECT rc_spent('rc_analyst') > :s0 AS hold_cursor_charged;
-- a scrollable cursor is not
SET ROLE rc_analyst;
BEGIN;
DECLARE c3 SCROLL CURSOR FOR SELECT avg(amount) FROM rc_events WHERE day < 7;
SELECT rc_spent('rc_analyst') AS s0 \gset
DECLARE c4 SCROLL CURSOR FOR SELECT avg(amount) FROM rc_events WHERE day < 7;
COMMIT;
RESET ROLE;
SELECT rc_spent('rc_analyst') > :s0 AS scroll_cursor_charged;

-- == partitions count as their partitioned table ==
CREATE TABLE rc_parts (uid int, day int, amount numeric) PARTITION BY RANGE (day);
CREATE TABLE rc_parts_a PARTITION OF rc_parts FOR VALUES FROM (0) TO (4);
CREATE TABLE rc_parts_b PARTITION OF rc_parts FOR VALUES FROM (4) TO (7);
INSERT INTO rc_parts SELECT * FROM rc_events;
SELECT privstat.protect('rc_parts', 'uid');
SELECT privstat.set_bounds('rc_parts', 'amount', 0, 100);
SET ROLE rc_analyst;
SELECT avg(amount) AS v FROM rc_parts WHERE day >= 4 \gset q1_
SELECT avg(amount) AS v FROM rc_parts WHERE day >= 4 \gset q2_
RESET ROLE;
INSERT INTO rc_parts_a VALUES (9001, 1, 50);
SET ROLE rc_analyst;
SELECT avg(amount) AS v FROM rc_parts WHERE day >= 4 \gset q3_
RESET ROLE;
SELECT :'q1_v' = :'q2_v' AS partitioned_identical, :'q3_v' <> :'q1_v' AS partition_write_is_a_change;

-- == the view and the administrator's reset ==
SET ROLE rc_other;
SELECT count(*) AS roles_seen_by_other FROM privstat.release_cache_status;
SELECT privstat.clear_release_cache();
RESET ROLE;
SELECT privstat.clear_release_cache() > 0 AS cleared;
SET ROLE rc_analyst;
SELECT rc_spent('rc_analyst') AS s0 \gset
SELECT avg(amount) AS v FROM rc_events WHERE day < 7 \gset z1_
RESET ROLE;
SELECT rc_spent('rc_analyst') > :s0 AS charged_after_clear;
