--
-- Attack suite: bypasses of the policy rules (doc/policy.md), error
-- channels, catalog and statistics leaks.  Every attack has a one-line
-- comment saying what it tries; each must fail (refused with the rule named).
-- Noisy answers are compared with margins of at least 25 noise scales.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS privstat;
RESET client_min_messages;
SET max_parallel_workers_per_gather = 0;

CREATE ROLE atk_analyst;
GRANT CREATE ON SCHEMA public TO atk_analyst;
-- 10,000 orders of users 1..10000 (one each), and one outlier row of user 7 (amount 1000)
CREATE TABLE atk_orders (id int, user_id int, amount numeric, region text, created timestamptz,
						 tags text[], doc jsonb);
INSERT INTO atk_orders
	SELECT g, g, (g % 50)::numeric, CASE WHEN g % 2 = 0 THEN 'EU' ELSE 'US' END,
		   '2026-01-01'::timestamptz + g * interval '1 hour', ARRAY['a'], '{"k": 1}'
	FROM generate_series(1, 10000) g;
INSERT INTO atk_orders VALUES (0, 7, 1000, 'XX', '2026-06-01', ARRAY['z'], '{"k": "x"}');
CREATE INDEX atk_orders_user ON atk_orders (user_id);
CREATE TABLE atk_products (id int, name text);
INSERT INTO atk_products SELECT g, 'p' || g FROM generate_series(0, 9) g;
GRANT SELECT ON atk_products TO atk_analyst;
ANALYZE atk_orders;
SELECT privstat.protect('atk_orders', 'user_id');
SELECT privstat.set_bounds('atk_orders', 'amount', 0, 100);
SELECT privstat.set_access('atk_analyst', 'aggregate');
SELECT privstat.set_budget('atk_analyst', 'infinity');
SET ROLE atk_analyst;

-- control: an allowed DP query is answered (so refusals below are not an accident)
SELECT count(*) BETWEEN 10000 - 25 AND 10000 + 25 AS ok FROM atk_orders;

-- == rule: raw rows ==
-- read the outlier row directly
SELECT amount FROM atk_orders WHERE user_id = 7 AND id = 0;
-- smuggle a raw value out through a scalar subquery in the select list
SELECT (SELECT amount FROM atk_orders WHERE id = 0) AS v;
-- smuggle it out next to a legitimate aggregate
SELECT count(*), (SELECT amount FROM atk_orders WHERE id = 0) FROM atk_orders;
-- smuggle raw rows out through a CTE referenced by the outer level
WITH r AS (SELECT amount FROM atk_orders) SELECT * FROM r;
-- learn membership without noise: EXISTS in the select list
SELECT EXISTS (SELECT 1 FROM atk_orders WHERE user_id = 7 AND amount = 1000) AS present;
-- learn membership through a WHERE over an unprotected table
SELECT name FROM atk_products WHERE id IN (SELECT user_id FROM atk_orders WHERE amount = 1000);
-- copy the rows into a table of one's own
CREATE TABLE public.atk_copy AS SELECT * FROM atk_orders;
-- ... or into a materialized view refreshed later
CREATE MATERIALIZED VIEW public.atk_mv AS SELECT * FROM atk_orders WITH NO DATA;
REFRESH MATERIALIZED VIEW public.atk_mv;
DROP MATERIALIZED VIEW public.atk_mv;
-- stream them with COPY
COPY (SELECT amount FROM atk_orders WHERE user_id = 7) TO STDOUT;
-- a cursor over raw rows
BEGIN;
DECLARE c CURSOR FOR SELECT amount FROM atk_orders;
ROLLBACK;
-- a view of one's own over the table
CREATE VIEW public.atk_myview AS SELECT * FROM atk_orders;
SELECT * FROM public.atk_myview;
SELECT amount FROM public.atk_myview WHERE id = 0;
DROP VIEW public.atk_myview;
-- a SQL function of one's own returning rows (inlined by the planner)
CREATE FUNCTION public.atk_rows() RETURNS SETOF atk_orders LANGUAGE sql STABLE AS 'SELECT * FROM atk_orders';
SELECT amount FROM public.atk_rows() WHERE id = 0;
DROP FUNCTION public.atk_rows();
-- a PL/pgSQL function of one's own returning a raw value
CREATE FUNCTION public.atk_peek() RETURNS numeric LANGUAGE plpgsql AS
	'BEGIN RETURN (SELECT amount FROM atk_orders WHERE id = 0); END';
SELECT public.atk_peek();
DROP FUNCTION public.atk_peek();

-- == rule: aggregates ==
-- the exact maximum reveals the outlier
SELECT max(amount) FROM atk_orders;
-- an ordered-set aggregate returns one row's value
SELECT percentile_disc(1) WITHIN GROUP (ORDER BY amount) FROM atk_orders;
-- a distinct count reveals how many different users there are, exactly
SELECT count(DISTINCT region) FROM atk_orders;
-- bool_or answers "is anyone's amount 1000?" exactly
SELECT bool_or(amount = 1000) FROM atk_orders;
-- a non-DP aggregate hidden in HAVING
SELECT region, count(*) > 0 FROM atk_orders GROUP BY region HAVING max(amount) > 999;
-- a non-DP aggregate in a FILTER-ed scalar subquery of WHERE
SELECT count(*) FROM atk_orders WHERE amount > (SELECT max(id) FROM atk_products);

-- == rule: bounds ==
-- a sum without declared bounds would not cover the outlier's 1000
SELECT sum(id) FROM atk_orders;
-- an expression inside sum gets its bounds from the column's: the outlier is clamped all the same
-- (245,100 with the outlier at 100, times 10; noise scale 1000)
SELECT abs(sum(amount * 10) - 2451000) < 25 * 1000 AS ok FROM atk_orders;
-- bounds taken from the data itself
SELECT privstat.dp_sum(amount, 0, user_id) FROM atk_orders;
-- an epsilon that depends on the row (huge for user 7, tiny for others)
SELECT privstat.dp_count(id, CASE WHEN user_id = 7 THEN 1e9 ELSE 0.001 END) FROM atk_orders;
SELECT privstat.dp_count(id, CASE WHEN user_id = 7 THEN 1e9::float8 ELSE 0.001::float8 END) FROM atk_orders;
-- declared bounds clamp the outlier: the DP sum stays near the clamped total, far from +1000-100
SELECT sum(amount) BETWEEN 245100 - 2500 AND 245100 + 2500 AS clamped FROM atk_orders;

-- == rule: row expressions, the error channels ==
-- division by zero only for user 7: "is user 7 here?" (1 / 0 is frozen: it fails at planning, even for an absent user)
SELECT count(*) FROM atk_orders WHERE CASE WHEN user_id = 7 THEN 1 / 0 ELSE 1 END = 1;
SELECT count(*) FROM atk_orders WHERE CASE WHEN user_id = 12345 THEN 1 / 0 ELSE 1 END = 1;
-- division by zero that depends on the value: NULL for the outlier, no error
SELECT count(*) BETWEEN -25 AND 25 AS ok FROM atk_orders WHERE 1 / (amount - 1000) > 0;
-- a failed cast that depends on the value
SELECT count(*) FROM atk_orders WHERE (doc ->> 'k')::int = 1;
SELECT count(*) FROM atk_orders WHERE region::int = 1;
-- an array cast whose element cast fails for one row
SELECT count(*) FROM atk_orders WHERE tags::int[] = '{1}';
-- a jsonb subscript (may fail on non-objects)
SELECT count(*) FROM atk_orders WHERE doc['k'] = '1';
-- integer overflow for one value: NULL, no error (only users 1 and 2 fit)
SELECT count(*) BETWEEN 2 - 25 AND 2 + 25 AS ok FROM atk_orders WHERE user_id * 1000000000 > 0;
-- a domain check that fails for one value
CREATE DOMAIN public.atk_small AS numeric CHECK (VALUE < 1000);
SELECT count(*) FROM atk_orders WHERE amount::public.atk_small > 0;
-- a function of one's own, not leakproof, that raises for user 7
CREATE FUNCTION public.atk_boom(int) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS
	'BEGIN IF $1 = 7 THEN RAISE EXCEPTION ''user 7 is here''; END IF; RETURN true; END';
SELECT count(*) FROM atk_orders WHERE public.atk_boom(user_id);
-- ... in GROUP BY
SELECT public.atk_boom(user_id), count(*) FROM atk_orders GROUP BY 1;
-- ... in JOIN ON
SELECT count(*) FROM atk_orders o JOIN atk_products p ON public.atk_boom(o.user_id) AND p.id = 1;
-- ... in a FILTER clause
SELECT count(*) FILTER (WHERE public.atk_boom(user_id)) FROM atk_orders;
-- ... inside a DP aggregate's argument
SELECT count(public.atk_boom(user_id)) FROM atk_orders;
-- ... in a correlated EXISTS
SELECT count(*) FROM atk_orders o WHERE EXISTS (SELECT 1 FROM atk_products p WHERE public.atk_boom(o.user_id));
-- ... in a LATERAL subquery's select list
SELECT count(*) FROM atk_orders o, LATERAL (SELECT public.atk_boom(o.user_id) AS b) s;
-- a side effect per row: a sequence counts the rows of user 7 exactly
CREATE SEQUENCE public.atk_seq;
SELECT count(*) FROM atk_orders WHERE user_id = 7 AND nextval('public.atk_seq') > 0;
-- a side effect per row through a notice: raise a notice with the value
CREATE FUNCTION public.atk_say(numeric) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS
	'BEGIN RAISE NOTICE ''%'', $1; RETURN true; END';
SELECT count(*) FROM atk_orders WHERE public.atk_say(amount);
-- an invalid date_trunc unit fails at planning, whatever the rows
SELECT count(*) FROM atk_orders WHERE user_id = 12345 AND date_trunc('fortnight', created) > now();
-- (a LIKE pattern ending in an escape fails lazily, for matching rows only: sql/attack_open.sql)
-- a lazily evaluated subquery that would fail once a first row of user 7 reaches it: NULL, no error
SELECT count(*) BETWEEN -25 AND 25 AS ok FROM atk_orders WHERE user_id = 7 AND amount > (SELECT 1 / 0 FROM atk_products LIMIT 1);
-- a lazily evaluated join partner that would fail when a protected row reaches it: NULL, no error
SELECT count(*) BETWEEN 10 - 25 AND 10 + 25 AS ok FROM atk_orders o JOIN (SELECT id, 10 / (id - 3) AS z FROM atk_products) p ON p.id = o.user_id;
-- a lazily evaluated VALUES with an error
SELECT count(*) FROM atk_orders o JOIN (VALUES (1 / (random()::int))) v(x) ON v.x = o.user_id;
-- an XML parse that fails on one value
SELECT count(*) FROM atk_orders WHERE xmlparse(content region) IS NOT NULL;

-- == rule: GROUP BY, DISTINCT, ORDER BY, LIMIT ==
-- GROUP BY without an aggregate lists the distinct values for free
SELECT user_id FROM atk_orders GROUP BY user_id;
-- DISTINCT lists them too
SELECT DISTINCT amount FROM atk_orders;
-- LIMIT 1 over ordered raw rows picks the top value
SELECT count(*) FROM (SELECT * FROM atk_orders ORDER BY amount DESC LIMIT 1) s;
-- OFFSET changes a count by exactly the rows skipped
SELECT count(*) FROM (SELECT * FROM atk_orders OFFSET 10) s;
-- ROLLUP counts each row twice
SELECT region, count(*) FROM atk_orders GROUP BY ROLLUP (region);
-- a grouped key plus a functionally dependent column (primary key) is refused elsewhere (sql/policy.sql)

-- == rule: window functions, set-returning functions, set operations ==
-- a window over raw rows numbers them
SELECT count(*) FROM (SELECT row_number() OVER () AS r FROM atk_orders) s;
-- an SRF multiplies rows of user 7 to swamp the noise
SELECT count(*) FROM atk_orders, LATERAL generate_series(1, user_id) g;
SELECT count(*) FROM (SELECT generate_series(1, user_id) FROM atk_orders) s;
-- INTERSECT tests membership exactly
SELECT count(*) FROM (SELECT 7 INTERSECT SELECT user_id FROM atk_orders) s;
-- EXCEPT of protected rows
SELECT count(*) FROM (SELECT user_id FROM atk_orders EXCEPT SELECT 7) s;

-- == rule: CTEs, writes, locking, sampling, system columns ==
-- a recursive CTE walks individual rows
WITH RECURSIVE r(n) AS (SELECT min(id) FROM atk_products UNION ALL SELECT n + 1 FROM r WHERE n < 3)
	SELECT count(*) FROM atk_orders WHERE user_id IN (SELECT n FROM r);
-- a data-modifying CTE next to a DP query
WITH d AS (DELETE FROM atk_products RETURNING 1) SELECT count(*) FROM atk_orders;
-- write into the protected table (to plant a canary row)
INSERT INTO atk_orders (id, user_id) VALUES (-1, 7);
UPDATE atk_orders SET amount = 0 WHERE user_id = 7;
DELETE FROM atk_orders WHERE user_id = 7;
-- write raw values into a table of one's own
CREATE TABLE public.atk_sink (v numeric);
INSERT INTO public.atk_sink SELECT amount FROM atk_orders WHERE id = 0;
-- FOR UPDATE locks (and so reveals) individual rows
SELECT count(*) FROM (SELECT * FROM atk_orders WHERE user_id = 7 FOR UPDATE) s;
-- TABLESAMPLE with REPEATABLE makes a count a function of individual rows
SELECT count(*) FROM atk_orders TABLESAMPLE SYSTEM (50) REPEATABLE (1);
-- system columns date and locate rows
SELECT count(*) FROM atk_orders WHERE ctid = '(0,1)';
SELECT count(*) FROM atk_orders GROUP BY xmin;

-- == EXPLAIN ==
-- EXPLAIN ANALYZE's actual rows are the exact count
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT count(*) FROM atk_orders WHERE user_id = 7;
-- EXPLAIN's row estimates come from statistics of the protected column: costs are forced off
EXPLAIN SELECT count(*) FROM atk_orders WHERE user_id = 7;
EXPLAIN (COSTS ON) SELECT count(*) FROM atk_orders WHERE user_id = 7;

-- == catalog and statistics leaks ==
-- pg_stats histograms and most common values of protected columns
SELECT count(*) FROM pg_stats WHERE tablename = 'atk_orders';
-- the raw statistics catalog
SELECT count(*) FROM pg_statistic;
-- exact per-table counters
SELECT n_live_tup FROM pg_stat_user_tables WHERE relname = 'atk_orders';
SELECT idx_tup_read FROM pg_stat_user_indexes WHERE indexrelname = 'atk_orders_user';
SELECT heap_blks_read FROM pg_statio_user_tables WHERE relname = 'atk_orders';
SELECT pg_stat_get_xact_tuples_returned('atk_orders_user'::regclass);
-- ... called through a view of one's own
CREATE VIEW public.atk_stats AS SELECT pg_stat_get_live_tuples('atk_orders'::regclass) AS n;
SELECT * FROM public.atk_stats;
DROP VIEW public.atk_stats;
-- ... called through a PL/pgSQL function (its query is planned, and checked, too)
CREATE FUNCTION public.atk_stat_fn(oid) RETURNS bigint LANGUAGE plpgsql AS
	'BEGIN RETURN pg_stat_get_tuples_fetched($1); END';
SELECT public.atk_stat_fn('atk_orders'::regclass);
-- (through an inlined SQL function or a column default, it is not refused: sql/attack_open.sql)
-- the table's size is visible (a residual risk, doc/security.md): shown, not refused
SELECT reltuples > 0 AS size_visible FROM pg_class WHERE relname = 'atk_orders';
RESET ROLE;

DROP FUNCTION public.atk_boom(int), public.atk_say(numeric), public.atk_stat_fn(oid);
DROP DOMAIN public.atk_small;
-- the sequence was never advanced, the sink never written
SELECT last_value FROM pg_sequences WHERE sequencename = 'atk_seq';
SELECT count(*) FROM public.atk_sink;
DROP SEQUENCE public.atk_seq;
DROP TABLE public.atk_sink;
DROP TABLE atk_orders, atk_products;
REVOKE CREATE ON SCHEMA public FROM atk_analyst;
SELECT privstat.set_access('atk_analyst', 'direct');
SELECT privstat.reset_budget('atk_analyst');
DROP ROLE atk_analyst;
