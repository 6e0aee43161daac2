-- Benchmarks of issue "Policy enforcement": what validation and rewriting
-- cost a role at level aggregate, against a direct role (the tables' owner)
-- running the same SQL.
--  1. planning time of a 5-table join (one protected table, 4 lookups) with
--     WHERE, GROUP BY, count and sum: EXPLAIN (SUMMARY ON) "Planning Time",
--     which times pg_plan_query and so privstat's planner hook;
--  2. a plain count(*) and a GROUP BY with sum (of an integer, and of a
--     numeric column) over :rows rows, with 2 parallel workers: wall time,
--     and the shape of both plans.
-- Run by bench/run.sh with -v rows=N (default 10,000,000).
\set QUIET on
\pset footer off
SET client_min_messages = warning;
\ir common.sql
CREATE EXTENSION IF NOT EXISTS privstat;
\o /dev/null

CREATE ROLE bench_owner;				-- direct: owns the tables
GRANT privstat_admin TO bench_owner;
GRANT CREATE ON SCHEMA public TO bench_owner;
CREATE ROLE bench_analyst;				-- aggregate, no SELECT on sales
SELECT privstat.set_budget('bench_analyst', 'infinity');

SET ROLE bench_owner;
CREATE TABLE regions (id int PRIMARY KEY, name text);
INSERT INTO regions SELECT g, (ARRAY['EU', 'US', 'APAC'])[g % 3 + 1] || '-' || g FROM generate_series(0, 9) g;
CREATE TABLE categories (id int PRIMARY KEY, name text);
INSERT INTO categories SELECT g, 'category ' || g FROM generate_series(0, 19) g;
CREATE TABLE products (id int PRIMARY KEY, name text, category_id int);
INSERT INTO products SELECT g, 'product ' || g, g % 20 FROM generate_series(0, 999) g;
CREATE TABLE channels (id int PRIMARY KEY, name text);
INSERT INTO channels VALUES (0, 'web'), (1, 'app'), (2, 'store'), (3, 'phone');
-- :rows sales of :rows / 10 users over a year; 10 regions; amount 0..99,
-- price 0.00..99.99
CREATE TABLE sales (user_id int, region_id int, product_id int, channel_id int,
					amount int, price numeric, created timestamptz);
INSERT INTO sales
	SELECT (g::bigint * 7919 % (:rows / 10))::int, g % 10, (g::bigint * 31 % 1000)::int, (g / 3) % 4,
		   (g::bigint * 17 % 100)::int, (g::bigint * 17 % 10000)::numeric / 100,
		   '2025-01-01'::timestamptz + (g % 525600) * interval '1 minute'
	FROM generate_series(1, :rows) g;
VACUUM ANALYZE regions, categories, products, channels, sales;
SELECT privstat.protect('sales', 'user_id');
SELECT privstat.set_bounds('sales', 'amount', 0, 100);
SELECT privstat.set_bounds('sales', 'price', 0, 100);
GRANT SELECT ON regions, categories, products, channels TO bench_analyst;
RESET ROLE;
SELECT privstat.set_access('bench_analyst', 'aggregate');
\o

-- the same SQL for both roles; every run switches role (SET ROLE is checked
-- against the session user, a superuser) and the order of the two roles
-- alternates, so neither always runs on the other's warm caches

-- median planning time (µs) of q as r1 and as r2, n times each
CREATE FUNCTION plan_us(q text, r1 text, r2 text, n int, OUT us1 float8, OUT us2 float8)
LANGUAGE plpgsql AS $$
DECLARE
	line text;
	t float8;
	a float8[] := '{}';
	b float8[] := '{}';
	first bool;
	w int := 100;						-- warm-up runs, not counted
BEGIN
	FOR i IN 1..(n + w) * 2 LOOP
		first := (i % 4) IN (1, 0);		-- r1 r2 r2 r1 ...
		PERFORM set_config('role', CASE WHEN first THEN r1 ELSE r2 END, false);
		FOR line IN EXECUTE 'EXPLAIN (SUMMARY ON) ' || q LOOP
			IF line LIKE 'Planning Time: %' THEN
				t := substring(line FROM 'Planning Time: ([0-9.]+) ms')::float8 * 1000;
			END IF;
		END LOOP;
		CONTINUE WHEN i <= w * 2;
		IF first THEN a := a || t; ELSE b := b || t; END IF;
	END LOOP;
	RESET ROLE;
	SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) INTO us1 FROM unnest(a) x;
	SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) INTO us2 FROM unnest(b) x;
END $$;

-- (the plan is read in EXPLAIN's text format)

-- the plan of q as role r, one line: its nodes from the top
CREATE FUNCTION plan_shape(q text, r text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	line text;
	s text;
BEGIN
	PERFORM set_config('role', r, false);
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
		IF s IS NULL THEN
			s := line;
		ELSIF line ~ '->' THEN
			s := s || ' > ' || regexp_replace(line, '^.*->\s*', '');
		ELSIF line ~ 'Workers Planned' THEN
			s := s || ' (' || substring(line FROM '[0-9]+') || ' workers)';
		END IF;
	END LOOP;
	RESET ROLE;
	RETURN s;
END $$;

-- the aggregates of the top node of q's plan as role r, to show the rewriting
CREATE FUNCTION plan_aggs(q text, r text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	line text;
	s text;
BEGIN
	PERFORM set_config('role', r, false);
	FOR line IN EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF) ' || q LOOP
		IF s IS NULL AND line ~ '^\s*Output:' THEN
			SELECT string_agg(DISTINCT m[1], ', ') INTO s
			FROM regexp_matches(line, '((?:privstat\.)?(?:dp_)?(?:count|sum))\(', 'g') m;
		END IF;
	END LOOP;
	RESET ROLE;
	RETURN s;
END $$;

CREATE TEMP TABLE results (id serial, benchmark text, direct float8, aggregate float8, unit text,
						   target text, ok bool);

-- 1. planning time of a 5-table join
\set join_query 'SELECT r.name AS region, c.name AS category, count(*) AS n, sum(s.amount) AS total FROM sales s JOIN regions r ON r.id = s.region_id JOIN products p ON p.id = s.product_id JOIN categories c ON c.id = p.category_id JOIN channels ch ON ch.id = s.channel_id WHERE ch.name <> ''web'' AND r.name LIKE ''EU%'' AND s.amount >= 10 AND s.created >= now() - interval ''90 days'' GROUP BY r.name, c.name'
SET max_parallel_workers_per_gather = 2;
INSERT INTO results (benchmark, direct, aggregate, unit, target, ok)
	SELECT 'planning: 5-table join (direct vs direct)', us1, us2, 'µs', '(noise)', NULL
	FROM plan_us(:'join_query', 'bench_owner', 'bench_owner', 1000);
INSERT INTO results (benchmark, direct, aggregate, unit, target, ok)
	SELECT 'planning: 5-table join', us1, us2, 'µs', '+ < 50 µs', us2 - us1 < 50
	FROM plan_us(:'join_query', 'bench_owner', 'bench_analyst', 2000);

-- 2. count(*) and GROUP BY with sum over :rows rows, 2 workers.  sum(price)
-- becomes dp_sum(price numeric, 0, 100), whose transition turns each value
-- into a float8 with numeric_float8_no_overflow: in PostgreSQL 15 that is
-- numeric_out and strtod, a decimal string per row
\set count_query 'SELECT count(*) FROM sales'
\set group_query 'SELECT region_id, sum(amount) FROM sales GROUP BY region_id'
\set numeric_query 'SELECT region_id, sum(price) FROM sales GROUP BY region_id'
INSERT INTO results (benchmark, direct, aggregate, unit, target, ok)
	SELECT 'count(*)', ms1, ms2, 'ms', '<= 1.15x', ms2 / ms1 <= 1.15
	FROM bench_pair_as(:'count_query', 'bench_owner', :'count_query', 'bench_analyst', 7);
INSERT INTO results (benchmark, direct, aggregate, unit, target, ok)
	SELECT 'GROUP BY region_id with sum(amount)', ms1, ms2, 'ms', '<= 1.15x', ms2 / ms1 <= 1.15
	FROM bench_pair_as(:'group_query', 'bench_owner', :'group_query', 'bench_analyst', 7);
INSERT INTO results (benchmark, direct, aggregate, unit, target, ok)
	SELECT 'GROUP BY region_id with sum(price numeric)', ms1, ms2, 'ms', '<= 1.15x', ms2 / ms1 <= 1.15
	FROM bench_pair_as(:'numeric_query', 'bench_owner', :'numeric_query', 'bench_analyst', 7);

\echo
\echo '== policy enforcement: the same SQL as a direct role (the owner) and as an aggregate role'
\echo '5-table join:' :join_query
\echo
SELECT role, plan_aggs(q, role) AS aggregates, plan_shape(q, role) AS plan
FROM (VALUES (1, :'count_query'), (2, :'group_query'), (3, :'numeric_query')) v(i, q),
	 (VALUES ('bench_owner'), ('bench_analyst')) r(role)
ORDER BY i, role DESC;
\echo
\echo 'planning: medians of 2000 EXPLAIN (SUMMARY ON) per role (1000 for the direct vs direct control; 1 µs resolution);'
\echo 'count(*) and GROUP BY: medians of 7 runs per role over' :rows 'rows, max_parallel_workers_per_gather = 2'
SELECT benchmark,
	   round(direct::numeric, 1) || ' ' || unit AS direct,
	   round(aggregate::numeric, 1) || ' ' || unit AS aggregate,
	   CASE unit WHEN 'µs' THEN to_char(aggregate - direct, 'FMS9990.0') || ' µs'
				 ELSE round((aggregate / direct)::numeric, 3) || 'x' END AS difference,
	   target,
	   CASE ok WHEN true THEN 'PASS' WHEN false THEN 'MISS' END AS result
FROM results ORDER BY id;
