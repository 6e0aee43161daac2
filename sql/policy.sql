--
-- Policy enforcement: protected tables, access levels, and for each rule an
-- allowed and a refused query of a role at level aggregate.  Answers are
-- noisy (epsilon 1): they are shown as comparisons with margins of at least
-- 20 noise scales, so a run fails by chance with probability below 1e-8.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS privstat;
RESET client_min_messages;
SET max_parallel_workers_per_gather = 0;

-- every policy table invalidates the sessions' copies on any change, TRUNCATE too
SELECT c.relname, string_agg(t.tgname, ', ' ORDER BY t.tgname) AS triggers
  FROM pg_class c JOIN pg_trigger t ON t.tgrelid = c.oid
 WHERE c.relnamespace = 'privstat'::regnamespace AND t.tgname LIKE 'policy_changed%'
 GROUP BY c.relname ORDER BY c.relname;

CREATE ROLE policy_dba;
GRANT privstat_admin TO policy_dba;
CREATE ROLE policy_analyst;
CREATE ROLE policy_bi;
GRANT policy_bi TO policy_analyst;		-- the level of a group role is inherited
CREATE ROLE policy_nobody;
GRANT CREATE ON SCHEMA public TO policy_dba, policy_analyst;

SET ROLE policy_dba;
-- 10,000 orders of 10,000 users (one each: user-level bounding, with its
-- defaults of one group and one row per user, leaves every count as it is;
-- sql/user_level.sql tests many rows per user); amount 0..49, qty 0..4, half EU
CREATE TABLE orders (id int, user_id int, product_id int, amount numeric, qty int,
					 region text, created timestamptz);
INSERT INTO orders
	SELECT g, g, g % 10, (g % 50)::numeric, g % 5,
		   CASE WHEN g % 2 = 0 THEN 'EU' ELSE 'US' END,
		   '2026-01-01'::timestamptz + g * interval '1 hour'
	FROM generate_series(1, 10000) g;
CREATE TABLE products (id int PRIMARY KEY, name text, category text);
INSERT INTO products SELECT g, 'p' || g, CASE WHEN g < 5 THEN 'a' ELSE 'b' END
	FROM generate_series(0, 9) g;
GRANT SELECT ON products TO policy_bi, policy_nobody;
ANALYZE orders;

-- administration, and its errors
SELECT privstat.protect('orders', 'user_id');
SELECT privstat.set_bounds('orders', 'amount', 0, 100);
SELECT privstat.set_access('policy_bi', 'aggregate');
SELECT privstat.set_access('policy_nobody', 'none');
SELECT privstat.protect('orders', 'no_such_column');
SELECT privstat.protect('pg_class', 'oid');
SELECT privstat.protect('products', NULL);
SELECT privstat.set_bounds('orders', 'region', 0, 1);
SELECT privstat.set_bounds('orders', 'amount', 10, 1);
SELECT privstat.set_bounds('orders', 'amount', 'NaN', 1);
SELECT privstat.set_bounds('products', 'id', 0, 1);
SELECT privstat.set_access('policy_bi', 'read-only');
SELECT privstat.set_access('postgres', 'aggregate');
SELECT * FROM privstat.policies ORDER BY kind, name;
RESET ROLE;

-- a table the DBA does not own cannot be protected by the DBA
CREATE TABLE not_mine (u int);
SET ROLE policy_dba;
SELECT privstat.protect('not_mine', 'u');
RESET ROLE;
DROP TABLE not_mine;

-- only administrators administer
SET ROLE policy_analyst;
SELECT privstat.protect('products', 'id');
SELECT privstat.set_access('policy_analyst', 'direct');
SELECT * FROM privstat.policies;
RESET ROLE;

SELECT privstat.set_budget('policy_analyst', 'infinity', 1);
SELECT privstat.set_budget('policy_nobody', 'infinity', 1);
SET ROLE policy_analyst;

-- plain aggregates are answered by DP aggregates, in the original types
SELECT count(*) BETWEEN 9900 AND 10100 AS count_ok FROM orders;
SELECT count(amount) BETWEEN 9900 AND 10100 AS count_col_ok FROM orders;
SELECT sum(amount) BETWEEN 245000 - 5000 AND 245000 + 5000 AS sum_ok,
	   avg(amount) BETWEEN 20 AND 30 AS avg_ok FROM orders;
SELECT pg_typeof(count(*)) AS c, pg_typeof(sum(amount)) AS s, pg_typeof(avg(amount)) AS a
	FROM orders;
EXPLAIN (VERBOSE) SELECT count(*), sum(amount), avg(amount) FROM orders;
-- the dp_ aggregates directly
SELECT privstat.dp_count(*) BETWEEN 9900 AND 10100 AS ok FROM orders;
SELECT privstat.dp_sum(qty, 0, 4) BETWEEN 20000 - 1000 AND 20000 + 1000 AS ok FROM orders;
-- a sum without declared bounds: refused, with the way out
SELECT sum(qty) FROM orders;
-- ... an expression's bounds follow from its columns': answered
SELECT avg(amount * 2) BETWEEN 49 - 2 AND 49 + 2 AS ok FROM orders;

-- GROUP BY, HAVING, ORDER BY and LIMIT on DP results
SELECT region, count(*) BETWEEN 4900 AND 5100 AS ok FROM orders GROUP BY region ORDER BY region;
SELECT region FROM orders GROUP BY region HAVING count(*) > 1000 ORDER BY region LIMIT 5;
SELECT date_trunc('month', created) AS month, count(*) > 0 AS ok
	FROM orders GROUP BY 1 ORDER BY 1 LIMIT 2;
-- GROUP BY needs a DP aggregate, and only total keys (a division by zero is NULL)
SELECT region FROM orders GROUP BY region;
SELECT (qty / (qty - 2)) AS k, count(*) BETWEEN 1900 AND 2100 AS ok FROM orders GROUP BY 1 ORDER BY 1 NULLS FIRST;
SELECT date_trunc('fortnight', created), count(*) FROM orders GROUP BY 1;

-- WHERE: total functions and operators, row-free constants
SELECT count(*) BETWEEN 4900 AND 5100 AS ok FROM orders WHERE region = 'EU';
SELECT count(*) BETWEEN 4900 AND 5100 AS ok FROM orders WHERE region LIKE 'E%';
SELECT count(*) BETWEEN 9900 AND 10100 AS ok FROM orders WHERE amount >= 0;
SELECT count(*) BETWEEN 9900 AND 10100 AS ok FROM orders WHERE created > now() - interval '100 years';
SELECT count(*) BETWEEN 9900 AND 10100 AS ok FROM orders WHERE upper(region) IN ('EU', 'US');
-- error channels: a division (total: NULL where qty = 3), a cast, a bad pattern, a constant that fails
SELECT count(*) BETWEEN 1900 AND 2100 AS ok FROM orders WHERE 1 / (qty - 3) > 0;
SELECT count(*) FROM orders WHERE region::int = 1;
SELECT count(*) FROM orders WHERE region LIKE 'E\';
SELECT count(*) FROM orders WHERE created > now() - interval '300000 years';
SELECT count(*) FROM orders WHERE CASE WHEN user_id = 7 THEN 1 / 0 ELSE 1 END = 1;
SELECT count(*) FROM orders WHERE nextval('no_such_seq') > 0;
SELECT count(*) FROM orders WHERE length(region) = 2;
-- what protected rows reach is evaluated lazily: subqueries and joined FROM
-- items must not fail either
SELECT count(*) BETWEEN -100 AND 100 AS ok FROM orders WHERE user_id = 7 AND amount > (SELECT 1 / 0 FROM products LIMIT 1);
SELECT count(*) FROM orders WHERE user_id = 7 AND product_id = (SELECT max(id) FROM products);
SELECT count(*) BETWEEN 9900 AND 10100 AS ok FROM orders o JOIN (SELECT id, 10 / (id - 3) AS z FROM products) p ON p.id = o.product_id;
SELECT count(*) FROM orders o, generate_series(1, 3) g WHERE o.user_id = 7;
SELECT count(*) BETWEEN 4900 AND 5100 AS ok FROM orders
	WHERE product_id IN (SELECT id FROM products WHERE category = 'a');
SELECT count(*) BETWEEN 4000 AND 6000 AS ok FROM orders
	WHERE amount > (SELECT avg(amount) FROM orders);

-- joins with unprotected tables, and FROM subqueries and CTEs
SELECT p.category, count(*) BETWEEN 4900 AND 5100 AS ok
	FROM orders o JOIN products p ON p.id = o.product_id GROUP BY 1 ORDER BY 1;
SELECT count(*) BETWEEN 4900 AND 5100 AS ok FROM (SELECT * FROM orders WHERE region = 'EU') s;
WITH eu AS (SELECT amount FROM orders WHERE region = 'EU')
	SELECT count(*) BETWEEN 4900 AND 5100 AS ok FROM eu;
SELECT count(*) BETWEEN 9900 AND 10100 AS ok FROM orders
	WHERE product_id IN (SELECT id FROM products);
SELECT p.name FROM orders o JOIN products p ON p.id = o.product_id;
SELECT count(*) FROM orders o JOIN products p ON p.name::int = o.product_id;
-- post-processing: anything goes on DP results
SELECT round(c / 1000.0) AS thousands, rank() OVER (ORDER BY c)
	FROM (SELECT count(*) AS c FROM orders) s;
SELECT region, c > 4900 AS ok FROM (SELECT region, count(*) AS c FROM orders GROUP BY region) s
	ORDER BY region;
SELECT DISTINCT c > 4900 AS ok, generate_series(1, 2) AS g
	FROM (SELECT region, count(*) AS c FROM orders GROUP BY region) s ORDER BY g;
-- sampling and system columns of unprotected tables are PostgreSQL's business
SELECT count(*) FROM products TABLESAMPLE SYSTEM (100) WHERE xmin IS NOT NULL;
SELECT count(*) BETWEEN 9900 AND 10100 AS ok FROM orders o JOIN products p ON p.id = o.product_id
	WHERE p.ctid IS NOT NULL;

-- raw rows, in every form
SELECT * FROM orders;
SELECT amount FROM orders WHERE user_id = 7;
SELECT 1 FROM orders;
SELECT DISTINCT region FROM orders;
SELECT count(*) FROM (SELECT * FROM orders LIMIT 10) s;
SELECT count(*) FROM (SELECT * FROM orders ORDER BY amount) s;
SELECT (SELECT amount FROM orders WHERE id = 1);
SELECT EXISTS (SELECT FROM orders WHERE user_id = 7);
SELECT id FROM products WHERE id IN (SELECT product_id FROM orders WHERE user_id = 7);
SELECT region, count(*), (SELECT amount FROM orders WHERE id = 1) FROM orders GROUP BY region;
SELECT o.* FROM orders o JOIN products p ON p.id = o.product_id;
SELECT * FROM orders UNION ALL SELECT * FROM orders;
SELECT count(*) FROM (SELECT region FROM orders UNION SELECT region FROM orders) s;
-- non-DP aggregates
SELECT max(amount) FROM orders;
SELECT string_agg(region, ',') FROM orders;
SELECT array_agg(user_id) FROM orders;
SELECT count(DISTINCT region) FROM orders;
-- except the privacy unit: count(DISTINCT user_id) is privstat.dp_count_units (sql/user_level.sql)
SELECT count(DISTINCT user_id) BETWEEN 9900 AND 10100 AS ok FROM orders;
SELECT sum(amount ORDER BY amount) FROM orders;
-- window functions and set-returning functions
SELECT count(*) OVER () FROM orders;
SELECT region, count(*), rank() OVER (ORDER BY count(*)) FROM orders GROUP BY region;
SELECT generate_series(1, qty) FROM orders;
SELECT count(*) FROM orders, LATERAL generate_series(1, qty) g;
-- a FROM function or VALUES in a subquery that refers to the query around it
SELECT count(*) FROM orders o WHERE EXISTS (SELECT 1 FROM generate_series(1, o.qty) g);
SELECT p.id, (SELECT count(*) FROM orders o, LATERAL (VALUES (p.id)) v(x)) BETWEEN 9900 AND 10100 AS ok
	FROM products p ORDER BY p.id LIMIT 2;
-- GROUPING SETS count each row more than once
SELECT region, count(*) FROM orders GROUP BY ROLLUP (region);
-- locking, writing, sampling, system columns
SELECT count(*) FROM orders FOR UPDATE;
SELECT * FROM orders FOR SHARE;
INSERT INTO orders (id) VALUES (0);
UPDATE orders SET amount = 0;
DELETE FROM orders;
MERGE INTO orders o USING products p ON o.id = p.id WHEN MATCHED THEN DELETE;
COPY orders FROM '/nonexistent/orders.csv';
WITH d AS (DELETE FROM products RETURNING 1) SELECT count(*) FROM orders;
CREATE TABLE copy_of AS SELECT * FROM orders;
CREATE TABLE counts AS SELECT region, count(*) AS n FROM orders GROUP BY region;
SELECT count(*) FROM counts;
DROP TABLE counts;
SELECT count(*) FROM orders TABLESAMPLE BERNOULLI (10);
SELECT count(*) FROM orders WHERE ctid = '(0,1)';
SELECT min(xmin::text) FROM orders;
-- a primary key's functional dependency would release raw columns
RESET ROLE;
SELECT privstat.protect('products', 'id');	-- warns: policy_bi may read products
REVOKE SELECT ON products FROM policy_bi;
SET ROLE policy_analyst;
SELECT p.id, p.name, count(*) FROM products p GROUP BY p.id;
RESET ROLE;
SELECT privstat.unprotect('products');
SELECT privstat.unprotect('products');
GRANT SELECT ON products TO policy_bi;
SET ROLE policy_analyst;
SELECT count(*) FROM products;

-- PostgreSQL's own checks: no privilege, so no COPY, no cursor, no stats
COPY orders TO STDOUT;
BEGIN;
DECLARE c CURSOR FOR SELECT * FROM orders;
ROLLBACK;
BEGIN;
DECLARE c CURSOR FOR SELECT count(*) BETWEEN 9900 AND 10100 AS ok FROM orders;
FETCH c;
COMMIT;
COPY (SELECT count(*) BETWEEN 9900 AND 10100 AS ok FROM orders) TO STDOUT;
COPY (SELECT amount FROM orders) TO STDOUT;
SELECT count(*) FROM pg_stats WHERE tablename = 'orders';
SELECT count(*) FROM pg_stats_ext WHERE tablename = 'orders';
SELECT count(*) FROM pg_statistic_ext_data;
-- exact counters of table and index scans, readable by everyone otherwise
SELECT idx_tup_fetch FROM pg_stat_user_indexes;
SELECT seq_tup_read FROM pg_stat_user_tables WHERE relname = 'orders';
SELECT pg_stat_get_xact_tuples_fetched('orders'::regclass);
SELECT count(*) > 0 AS ok FROM pg_stat_activity;

-- EXPLAIN shows the plan without estimates; EXPLAIN ANALYZE is refused
EXPLAIN SELECT region, count(*) FROM orders GROUP BY region;
EXPLAIN (ANALYZE) SELECT count(*) FROM orders;
EXPLAIN (ANALYZE, TIMING OFF, SUMMARY OFF) SELECT count(*) FROM products;
PREPARE q(text) AS SELECT count(*) BETWEEN 4900 AND 5100 AS ok FROM orders WHERE region = $1;
EXECUTE q('EU');
EXPLAIN (ANALYZE) EXECUTE q('EU');
DEALLOCATE q;
-- parameters where a constant is needed (a LIKE pattern, an epsilon) are
-- checked with their values: PostgreSQL's plan cache keeps to custom plans
PREPARE l(text) AS SELECT count(*) BETWEEN 4900 AND 5100 AS ok FROM orders WHERE region LIKE $1;
EXECUTE l('E%'); EXECUTE l('E%'); EXECUTE l('E%'); EXECUTE l('E%'); EXECUTE l('E%'); EXECUTE l('E%');
EXECUTE l('E%');
EXECUTE l('E\');
PREPARE e(float8) AS SELECT privstat.dp_count(id, $1) BETWEEN 9000 AND 11000 AS ok FROM orders;
EXECUTE e(0.5); EXECUTE e(0.5); EXECUTE e(0.5); EXECUTE e(0.5); EXECUTE e(0.5); EXECUTE e(0.5);
EXECUTE e(0.5);
SELECT name, generic_plans, custom_plans FROM pg_prepared_statements ORDER BY name;
-- forced to a generic plan, they are refused
SET plan_cache_mode = force_generic_plan;
EXECUTE l('E%');
EXECUTE e(0.5);
RESET plan_cache_mode;
DEALLOCATE l;
DEALLOCATE e;
LOAD 'plpgsql';

-- views over protected tables are validated, expanded
RESET ROLE;
CREATE VIEW eu_orders AS SELECT user_id, amount, created FROM orders WHERE region = 'EU';
GRANT SELECT ON eu_orders TO policy_bi;
SET ROLE policy_analyst;
SELECT count(*) BETWEEN 4900 AND 5100 AS ok, avg(amount) BETWEEN 20 AND 30 AS avg_ok FROM eu_orders;
SELECT * FROM eu_orders;
-- functions that run queries are validated when they run
CREATE FUNCTION n_orders() RETURNS bigint LANGUAGE plpgsql AS 'BEGIN RETURN (SELECT count(*) FROM orders); END';
CREATE FUNCTION raw_orders() RETURNS SETOF numeric LANGUAGE plpgsql AS 'BEGIN RETURN QUERY SELECT amount FROM orders; END';
CREATE FUNCTION raw_orders_sql() RETURNS SETOF orders LANGUAGE sql AS 'SELECT * FROM orders';
SELECT n_orders() BETWEEN 9900 AND 10100 AS ok;
SELECT count(*) FROM raw_orders();
SELECT * FROM raw_orders_sql() LIMIT 1;
SELECT count(*), (SELECT count(*) FROM raw_orders_sql()) FROM orders;
-- a user-defined function that is not leakproof
CREATE FUNCTION peek(int) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT $1 = 7';
SELECT count(*) FROM orders WHERE peek(user_id);
DROP FUNCTION n_orders(), raw_orders(), raw_orders_sql(), peek(int);

-- a SELECT grant to an aggregate role is reported, and stops its queries
RESET ROLE;
GRANT SELECT (amount) ON orders TO policy_bi;
SELECT privstat.set_access('policy_bi', 'aggregate');	-- set_access warns the same way
SET ROLE policy_analyst;
SELECT count(*) FROM orders;
RESET ROLE;
REVOKE SELECT (amount) ON orders FROM policy_bi;

-- level none: nothing from protected tables, unprotected ones as usual
SET ROLE policy_nobody;
SELECT count(*) FROM orders;
SELECT count(*) FROM products;
RESET ROLE;

-- a plan prepared while the role was direct is not run once it is restricted
SELECT privstat.set_access('policy_bi', 'direct');
GRANT SELECT ON orders TO policy_analyst;
SET ROLE policy_analyst;
PREPARE raw AS SELECT amount FROM orders WHERE id = 1;
EXECUTE raw;
RESET ROLE;
SELECT privstat.set_access('policy_bi', 'aggregate');
SET ROLE policy_analyst;
EXECUTE raw;
RESET ROLE;
REVOKE SELECT ON orders FROM policy_analyst;
SET ROLE policy_analyst;
EXECUTE raw;
DEALLOCATE raw;
RESET ROLE;

-- direct roles are untouched; the owner reads as before
SET ROLE policy_dba;
SELECT count(*), max(amount) FROM orders;
RESET ROLE;

-- unprotect gives the table back to PostgreSQL's privileges alone
SELECT privstat.unprotect('orders');
SET ROLE policy_analyst;
SELECT count(*) FROM orders;
RESET ROLE;

-- a dropped table takes its policy with it
SELECT privstat.protect('orders', 'user_id');
DROP TABLE orders CASCADE;
SELECT count(*) FROM privstat.protected_table;

DROP TABLE products;
REVOKE CREATE ON SCHEMA public FROM policy_dba, policy_analyst;
SELECT privstat.set_access(r, 'direct') FROM unnest(ARRAY['policy_bi', 'policy_nobody']::regrole[]) r;
SELECT privstat.reset_budget(r) FROM unnest(ARRAY['policy_analyst', 'policy_nobody']::regrole[]) r;
DROP ROLE policy_dba, policy_analyst, policy_bi, policy_nobody;
