--
-- Random analyst queries through the bounding rewrite (doc/user-level.md):
-- 400 queries drawn (with a fixed seed; random() only picks the query text)
-- from keys, aggregates, FROM items (joins on the unit, lookup tables,
-- views, subqueries, VALUES), filters, HAVING, ORDER BY, LIMIT, WITH and
-- outer queries, under different bounds and with parallel plans.  Each is
-- run as a role at level aggregate; refusals (42xxx, 0Axxx, 22xxx) are
-- fine, an internal error (XX000) or a crash is not.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS privstat;
RESET client_min_messages;

CREATE ROLE ulr_analyst;
CREATE TABLE ulr_orders (user_id int, region text, product text, amount numeric, at timestamptz);
INSERT INTO ulr_orders
	SELECT g % 700, (ARRAY['north', 'south', 'east'])[1 + g % 3], 'p' || (g % 4), g % 60,
		   '2026-01-01'::timestamptz + (g % 90) * interval '1 day'
	FROM generate_series(1, 7000) g;
CREATE TABLE ulr_profiles (user_id int, age int);
INSERT INTO ulr_profiles SELECT u, 18 + u % 60 FROM generate_series(0, 699) u;
CREATE TABLE ulr_products (name text, kind text);
INSERT INTO ulr_products SELECT 'p' || g, CASE WHEN g < 2 THEN 'a' ELSE 'b' END FROM generate_series(0, 3) g;
CREATE VIEW ulr_view AS SELECT user_id, region, product, amount, at FROM ulr_orders WHERE amount >= 0;
GRANT SELECT ON ulr_products, ulr_view TO ulr_analyst;
ANALYZE ulr_orders, ulr_profiles, ulr_products;
SELECT privstat.protect('ulr_orders', 'user_id', 2, 3);
SELECT privstat.protect('ulr_profiles', 'user_id');
SELECT privstat.set_bounds('ulr_orders', 'amount', 0, 100);
SELECT privstat.set_bounds('ulr_profiles', 'age', 0, 120);
SELECT privstat.set_public_groups('ulr_orders', 'product', ARRAY['p0', 'p1', 'p2', 'p3', 'p9']);
SELECT privstat.set_access('ulr_analyst', 'aggregate');
SELECT privstat.set_budget('ulr_analyst', 'infinity', 'infinity');

CREATE FUNCTION ulr_pick(a text[]) RETURNS text LANGUAGE sql AS
	'SELECT a[1 + floor(random() * cardinality(a))::int]';

CREATE FUNCTION ulr_query() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	keys text[] := ARRAY['o.region', 'o.product', 'date_trunc(''month'', o.at)', 'upper(o.region)',
						 'k.kind', 'o.region'];
	aggs text[] := ARRAY['count(*)', 'count(o.amount)', 'sum(o.amount)', 'avg(o.amount)',
						 'count(DISTINCT o.user_id)', 'privstat.dp_median(o.amount, 0, 100)',
						 'privstat.dp_variance(o.amount, 0, 50)', 'privstat.dp_count(*)',
						 'privstat.dp_sum(o.amount, 0, 100, 0.5)', 'count(*) FILTER (WHERE o.amount > 10)',
						 'privstat.dp_count_units(o.user_id)', 'sum(o.amount) / nullif(count(*), 0)',
						 'privstat.dp_stddev(o.amount, 0, 60)', 'privstat.dp_percentile(o.amount, 0.9, 0, 100)'];
	froms text[] := ARRAY['ulr_orders o', 'ulr_orders o JOIN ulr_products k ON k.name = o.product',
						  '(SELECT * FROM ulr_orders WHERE amount > 5) o',
						  'ulr_orders o JOIN ulr_profiles f ON f.user_id = o.user_id', 'ulr_view o',
						  'ulr_orders o, (VALUES (1), (2)) v(i)',
						  'ulr_orders o LEFT JOIN ulr_products k ON k.name = o.product',
						  'ulr_orders o JOIN ulr_orders o2 USING (user_id)'];
	wheres text[] := ARRAY['', '', 'WHERE o.amount > 3', 'WHERE o.region = ''north''',
						   'WHERE o.region LIKE ''n%''', 'WHERE o.amount BETWEEN 1 AND 40',
						   'WHERE o.at > now() - interval ''10 years'''];
	f text := ulr_pick(froms);
	nk int := floor(random() * 3)::int;
	na int := 1 + floor(random() * 3)::int;
	sel text[] := '{}';
	grp text[] := '{}';
	k text;
	q text;
BEGIN
	FOR i IN 1..nk LOOP
		k := ulr_pick(keys);
		CONTINUE WHEN k LIKE 'k.%' AND f NOT LIKE '%ulr_products k%';
		CONTINUE WHEN k = ANY (grp);
		grp := grp || k;
	END LOOP;
	sel := grp;
	FOR i IN 1..na LOOP
		sel := sel || ulr_pick(aggs);
	END LOOP;
	q := 'SELECT ' || array_to_string(sel, ', ') || ' FROM ' || f || ' ' || ulr_pick(wheres);
	IF cardinality(grp) > 0 THEN
		q := q || ' GROUP BY ' || array_to_string(grp, ', ');
		IF random() < 0.3 THEN q := q || ' HAVING count(*) > 5'; END IF;
		IF random() < 0.5 THEN q := q || ' ORDER BY 1'; END IF;
		IF random() < 0.3 THEN q := q || ' LIMIT 3'; END IF;
	END IF;
	IF random() < 0.15 THEN q := 'WITH w AS (' || q || ') SELECT * FROM w'; END IF;
	IF random() < 0.1 THEN q := 'SELECT count(*) FROM (' || q || ') zz'; END IF;
	RETURN q;
END $$;

-- runs n random queries; the SQLSTATE classes of their errors, and any XX000 query
CREATE FUNCTION ulr_run(n int, OUT answered int, OUT refused int, OUT internal text)
LANGUAGE plpgsql AS $$
DECLARE
	q text;
	state text;
BEGIN
	answered := 0;
	refused := 0;
	internal := NULL;
	FOR i IN 1..n LOOP
		q := ulr_query();
		PERFORM set_config('privstat.max_groups_contributed', (ARRAY['0', '1', '2'])[1 + i % 3], true);
		PERFORM set_config('privstat.max_rows_contributed', (ARRAY['0', '1', '2', '5'])[1 + i % 4], true);
		BEGIN
			EXECUTE 'SELECT count(*) FROM (' || q || ') AS r';
			answered := answered + 1;
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE;
			IF state LIKE 'XX%' THEN
				internal := coalesce(internal || E'\n', '') || state || ': ' || q;
			ELSE
				refused := refused + 1;
			END IF;
		END;
	END LOOP;
END $$;

SELECT setseed(0.42);
SET ROLE ulr_analyst;
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET min_parallel_table_scan_size = 0;
-- the notice of joins of tables with different bounds (doc/user-level.md)
-- would come once for each random join; warnings and errors still show
SET client_min_messages = warning;
SELECT answered, refused, internal FROM ulr_run(400);
RESET client_min_messages;
RESET ROLE;

DROP FUNCTION ulr_run(int), ulr_query(), ulr_pick(text[]);
SELECT privstat.reset_budget('ulr_analyst');
SELECT privstat.set_access('ulr_analyst', 'direct');
DROP VIEW ulr_view;
SELECT privstat.unprotect('ulr_orders'), privstat.unprotect('ulr_profiles');
DROP TABLE ulr_orders, ulr_profiles, ulr_products;
DROP ROLE ulr_analyst;
