--
-- Restricted roles: total expressions, session settings, rules as data
-- (doc/policy.md "Total expressions", doc/security.md).  Each attack below
-- got an exact answer about one chosen person from 0.2.0: through an error
-- raised only on that person's row, a setting that made the server report
-- on the rows, or a rule re-read under the analyst's search_path.  Each
-- now either runs without the error (privstat's total version returns
-- NULL) or is refused at planning, whatever the data.  Noisy answers are
-- compared with margins of 25 noise scales (false failure < 1e-10).
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS privstat;
RESET client_min_messages;
SET max_parallel_workers_per_gather = 0;

CREATE ROLE tot_analyst;
CREATE SCHEMA tot_own AUTHORIZATION tot_analyst;
-- 10,000 people, one order each; person 7 is the target
CREATE TABLE tot_orders (user_id int, amount numeric, qty int, price double precision,
						 region text, created timestamptz, day date, ts timestamp);
INSERT INTO tot_orders
	SELECT g, (g % 50)::numeric, g % 5, (g % 50)::float8, CASE WHEN g % 2 = 0 THEN 'EU' ELSE 'US' END,
		   '2026-01-01 00:00:00+00'::timestamptz + g * interval '1 hour',
		   date '2026-01-01' + g % 365, timestamp '2026-01-01' + g * interval '1 hour'
	FROM generate_series(1, 10000) g;
SELECT privstat.protect('tot_orders', 'user_id');
SELECT privstat.set_bounds('tot_orders', 'amount', 0, 100);
SELECT privstat.set_bounds('tot_orders', 'qty', 0, 4);
SELECT privstat.set_bounds('tot_orders', 'price', 0, 100);
SELECT privstat.set_access('tot_analyst', 'aggregate');
SELECT privstat.set_budget('tot_analyst', 'infinity', 1);
CREATE FUNCTION public.tot_leaky(int) RETURNS boolean LANGUAGE sql IMMUTABLE LEAKPROOF
	AS 'SELECT 1 / ($1 - 7) > 0';
SET ROLE tot_analyst;

-- == collations: a comparison without a determinate collation raises when it runs ==
CREATE DOMAIN tot_own.c_text AS text COLLATE "C";
CREATE DOMAIN tot_own.p_text AS text COLLATE "POSIX";
-- text equality, reached only by person 7's row
SELECT count(*) FROM tot_orders
WHERE CASE WHEN user_id = 7 THEN region::tot_own.c_text = 'EU'::tot_own.p_text ELSE false END;
-- lower() of a CASE whose branches carry two implicit collations
SELECT count(*) FROM tot_orders
WHERE lower(CASE WHEN user_id = 7 THEN region::tot_own.c_text ELSE 'x'::tot_own.p_text END) = 'eu';
-- GREATEST of two implicit collations
SELECT count(*) FROM tot_orders
WHERE GREATEST(region::tot_own.c_text, 'a'::tot_own.p_text) = 'EU';
-- a GROUP BY key that mixes them
SELECT k, count(*) FROM (SELECT CASE WHEN user_id > 0 THEN region::tot_own.c_text ELSE 'x'::tot_own.p_text END AS k
						 FROM tot_orders) s GROUP BY k;
-- an explicit COLLATE settles it: answered
SELECT count(*) BETWEEN 5000 - 25 AND 5000 + 25 AS ok FROM tot_orders
WHERE region::tot_own.c_text = 'EU'::tot_own.p_text COLLATE "C";
-- LIKE under a nondeterministic collation raises when it runs
CREATE COLLATION tot_own.ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
SELECT count(*) FROM tot_orders WHERE region COLLATE tot_own.ci LIKE 'e%';

-- == range errors: privstat's total versions return NULL where PostgreSQL's raise ==
-- date_trunc of a timestamp near the start of the range, chosen for person 7 alone
SELECT count(*) BETWEEN 10000 - 25 AND 10000 + 25 AS ok FROM tot_orders
WHERE date_trunc('month', CASE WHEN user_id = 7 THEN '4714-11-24 00:00:00 BC'::timestamp
							   ELSE ts END) IS DISTINCT FROM '1999-01-01';
-- date_trunc with a time zone, and AT TIME ZONE, near the end of the range
SELECT count(*) BETWEEN 10000 - 25 AND 10000 + 25 AS ok FROM tot_orders
WHERE date_trunc('day', CASE WHEN user_id = 7 THEN '294276-12-31 23:00:00+00'::timestamptz
							 ELSE created END, 'Pacific/Kiritimati') IS DISTINCT FROM NULL
   OR (CASE WHEN user_id = 7 THEN '294276-12-31 23:00:00+00'::timestamptz ELSE created END
	   AT TIME ZONE 'Pacific/Kiritimati') IS NULL;
-- the person's NULL is seen as NULL: 9,999 rows have a date_trunc, one has none
SELECT count(*) BETWEEN 1 - 25 AND 1 + 25 AS ok FROM tot_orders
WHERE date_trunc('month', CASE WHEN user_id = 7 THEN '4714-11-24 00:00:00 BC'::timestamp
							   ELSE ts END) IS NULL;
-- division by zero on person 7's row
SELECT count(*) BETWEEN 9999 - 25 AND 9999 + 25 AS ok FROM tot_orders WHERE 1 / (user_id - 7) IS NOT NULL;
SELECT count(*) BETWEEN 9999 - 25 AND 9999 + 25 AS ok FROM tot_orders WHERE amount / (user_id - 7) IS NOT NULL;
SELECT count(*) BETWEEN 9999 - 25 AND 9999 + 25 AS ok FROM tot_orders WHERE price / (user_id - 7) IS NOT NULL;
-- integer overflow (also bigint with integer), numeric to integer casts
SELECT count(*) BETWEEN 9999 - 25 AND 9999 + 25 AS ok FROM tot_orders
WHERE (CASE WHEN user_id = 7 THEN 9223372036854775807 ELSE 0::bigint END + user_id) IS NOT NULL;
SELECT count(*) BETWEEN 9999 - 25 AND 9999 + 25 AS ok FROM tot_orders
WHERE (CASE WHEN user_id = 7 THEN 2147483647 ELSE 0 END + 1) IS NOT NULL;
SELECT count(*) BETWEEN 9999 - 25 AND 9999 + 25 AS ok FROM tot_orders
WHERE (CASE WHEN user_id = 7 THEN amount * 1e10 ELSE amount END)::int IS NOT NULL;
SELECT count(*) BETWEEN 9999 - 25 AND 9999 + 25 AS ok FROM tot_orders
WHERE (CASE WHEN user_id = 7 THEN 'NaN'::float8 ELSE price END)::bigint IS NOT NULL;
SELECT count(*) BETWEEN 9999 - 25 AND 9999 + 25 AS ok FROM tot_orders
WHERE (CASE WHEN user_id = 7 THEN amount * 1000 ELSE amount END)::numeric(4, 1) IS NOT NULL;
-- float overflow
SELECT count(*) BETWEEN 9999 - 25 AND 9999 + 25 AS ok FROM tot_orders
WHERE (CASE WHEN user_id = 7 THEN 1e308 ELSE price END) * 10 IS NOT NULL;
-- a date far beyond the range of timestamps, compared and cast
SELECT count(*) BETWEEN 9999 - 25 AND 9999 + 25 AS ok FROM tot_orders
WHERE (CASE WHEN user_id = 7 THEN '5874897-12-31'::date ELSE day END)::timestamptz IS NOT NULL;
SELECT count(*) BETWEEN 9999 - 25 AND 9999 + 25 AS ok FROM tot_orders
WHERE date_part('year', CASE WHEN user_id = 7 THEN '5874897-12-31'::date ELSE day END) IS NOT NULL;
-- an interval that pushes one row out of range
SELECT count(*) BETWEEN 9999 - 25 AND 9999 + 25 AS ok FROM tot_orders
WHERE created + CASE WHEN user_id = 7 THEN interval '300000 years' ELSE interval '1 day' END IS NOT NULL;
-- width_bucket of a NaN
SELECT count(*) BETWEEN 9999 - 25 AND 9999 + 25 AS ok FROM tot_orders
WHERE width_bucket(CASE WHEN user_id = 7 THEN 'NaN'::float8 ELSE price END, 0, 100, 10) IS NOT NULL;
-- to_timestamp of a NaN
SELECT count(*) BETWEEN 9999 - 25 AND 9999 + 25 AS ok FROM tot_orders
WHERE to_timestamp(CASE WHEN user_id = 7 THEN 'NaN'::float8 ELSE price END) IS NOT NULL;

-- == constants: checked at planning, of bounded size ==
-- a bad unit, zone or bucket count fails before any row is read
SELECT count(*) FROM tot_orders WHERE date_trunc('fortnight', created) IS NULL;
SELECT count(*) FROM tot_orders WHERE (created AT TIME ZONE 'Mars/Olympus') IS NULL;
SELECT count(*) FROM tot_orders WHERE width_bucket(price, 0, 100, 0) = 1;
-- the unit must be a constant
SELECT count(*) FROM tot_orders WHERE date_trunc(region, created) IS NULL;
-- a LIKE pattern long enough to make one row's test slow (statement_timeout as an oracle)
SELECT count(*) FROM tot_orders
WHERE CASE WHEN user_id = 7 THEN region LIKE repeat('%a', 200) || 'b' ELSE false END;
-- a large constant that only person 7's row meets
SELECT count(*) FROM tot_orders
WHERE CASE WHEN user_id = 7 THEN region = repeat('x', 5000) ELSE false END;
-- ... or a parameter's value: checked in a custom plan, and when a generic plan starts
PREPARE tot_p(text) AS SELECT count(*) FROM tot_orders WHERE CASE WHEN user_id = 7 THEN region = $1 ELSE false END;
EXECUTE tot_p(repeat('x', 5000));
SET plan_cache_mode = force_generic_plan;
EXECUTE tot_p(repeat('x', 5000));
RESET plan_cache_mode;
DEALLOCATE tot_p;
-- regular expressions stay out
SELECT count(*) FROM tot_orders WHERE region ~ '^(E|U)';
-- LEAKPROOF is not enough: a function a DBA marked LEAKPROOF that raises is not in privstat's table
SELECT count(*) FROM tot_orders WHERE public.tot_leaky(user_id);

-- == errors the executor raises only where it runs a part: lazily, once a protected row reaches it ==
CREATE TABLE tot_own.vals (x int);
INSERT INTO tot_own.vals VALUES (1), (2);
-- a scalar subquery of two rows: "more than one row returned" only if person 7 is there
SELECT count(*) FROM tot_orders WHERE user_id = 7 AND amount > (SELECT x FROM tot_own.vals);
-- ... or correlated, for each protected row that reaches it
SELECT count(*) FROM tot_orders WHERE amount > (SELECT x FROM tot_own.vals WHERE x < qty);
-- a join partner with LIMIT -1, OFFSET -1 or TABLESAMPLE 200, run only if an outer row comes
SELECT count(*) FROM tot_orders o JOIN (SELECT x FROM tot_own.vals LIMIT -1) v ON v.x = o.qty WHERE o.user_id = 7;
SELECT count(*) FROM tot_orders o JOIN (SELECT x FROM tot_own.vals OFFSET -1) v ON v.x = o.qty WHERE o.user_id = 7;
SELECT count(*) FROM tot_orders o JOIN (SELECT x FROM tot_own.vals TABLESAMPLE BERNOULLI (200)) v ON v.x = o.qty
WHERE o.user_id = 7;
-- one row at most: answered (people with qty = 1 or 2 and amount > 1)
SELECT count(*) BETWEEN 3800 - 25 AND 3800 + 25 AS ok FROM tot_orders
WHERE amount > (SELECT x FROM tot_own.vals ORDER BY x LIMIT 1) AND qty IN (1, 2);
SELECT count(*) BETWEEN 4000 - 25 AND 4000 + 25 AS ok FROM tot_orders o
JOIN (SELECT x FROM tot_own.vals LIMIT 2) v ON v.x = o.qty;

-- == the shapes BI tools write (doc/policy.md lists them) ==
SELECT count(*) BETWEEN 10000 - 25 AND 10000 + 25 AS ok FROM tot_orders
WHERE created >= DATE '2026-01-01' AND created < TIMESTAMP '2028-01-01 00:00:00';
SELECT count(*) BETWEEN 10000 - 25 AND 10000 + 25 AS ok FROM tot_orders
WHERE day BETWEEN '2026-01-01'::timestamp AND '2027-01-01'::timestamptz;
-- sums and averages of expressions: bounds from the columns' (casts, +, -, *, / by a constant)
SELECT abs(sum(CAST(amount AS DOUBLE PRECISION)) - 245000) < 25 * 100 AS ok FROM tot_orders;
SELECT abs(avg(CAST(amount AS DOUBLE PRECISION)) - 24.5) < 2 AS ok FROM tot_orders;
SELECT abs(sum(amount * qty) - 510000) < 25 * 400 AS ok FROM tot_orders;
SELECT abs(sum(amount / 2 + 1) - 132500) < 25 * 51 AS ok FROM tot_orders;
-- ... but not of a division by a column, which has no bound
SELECT sum(amount / qty) FROM tot_orders;
-- percentile_cont, as BI tools write a median, becomes dp_percentile
SELECT abs(percentile_cont(0.5) WITHIN GROUP (ORDER BY price) - 24.5) < 3 AS ok FROM tot_orders;
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY user_id) FROM tot_orders;
SELECT percentile_cont(random()) WITHIN GROUP (ORDER BY price) FROM tot_orders;
SELECT percentile_cont(1.5) WITHIN GROUP (ORDER BY price) FROM tot_orders;
SELECT y, abs(count(*) - CASE y WHEN 2026 THEN 8759::bigint ELSE 1241::bigint END) < 25 AS ok
FROM (SELECT CAST(EXTRACT(YEAR FROM created) AS INTEGER) AS y FROM tot_orders) s GROUP BY y ORDER BY y;
SELECT to_char(created, 'YYYY') AS y, count(*) BETWEEN 8760 - 25 AND 8760 + 25 AS ok
FROM tot_orders WHERE created < '2027-01-01' GROUP BY 1 ORDER BY 1;
SELECT date_trunc('year', created, 'UTC') AS y, count(*) > 0 AS ok FROM tot_orders GROUP BY 1 ORDER BY 1;
SELECT date_trunc('year', created AT TIME ZONE 'UTC') AS y, count(*) > 0 AS ok
FROM tot_orders GROUP BY 1 ORDER BY 1;
SELECT to_timestamp(floor(extract(epoch FROM created) / 31536000) * 31536000) AS y, count(*) > 0 AS ok
FROM tot_orders GROUP BY 1 ORDER BY 1;
SELECT width_bucket(amount, 0, 100, 2) AS b, count(*) BETWEEN 10000 - 25 AND 10000 + 25 AS ok
FROM tot_orders GROUP BY 1 ORDER BY 1;
SELECT FLOOR((amount - 0) / 50) * 50 AS b, count(*) BETWEEN 10000 - 25 AND 10000 + 25 AS ok
FROM tot_orders GROUP BY 1 ORDER BY 1;

-- GROUP BY the privacy unit releases nothing: refused at planning, before any charge
SELECT user_id, count(*) FROM tot_orders GROUP BY user_id;
SELECT * FROM (SELECT user_id AS u, count(*) FROM tot_orders GROUP BY 1) s LIMIT 10;

-- pseudonyms compare without privstat on the search_path (their operators are in pg_catalog)
SET search_path = '';
SELECT privstat.pseudonymize('alice', 'customer') = privstat.pseudonymize('alice', 'customer') AS same,
	   privstat.pseudonymize('alice', 'customer') <> privstat.pseudonymize('bob', 'customer') AS differ;
RESET search_path;

-- == session settings that report on the rows ==
SET trace_sort = on;
SET client_min_messages = log;
SELECT region, count(*) > 0 AS ok FROM tot_orders GROUP BY region ORDER BY region;
SET client_min_messages = debug1;
SELECT count(*) > 0 AS ok FROM tot_orders;
RESET client_min_messages;
-- nothing may lower it while such a query runs: set_config() in the query
SELECT set_config('client_min_messages', 'log', false) AS during, s.region, s.n > 0 AS ok
FROM (SELECT region, count(*) AS n FROM tot_orders GROUP BY region) s ORDER BY 2;
-- ... a function's SET clause
CREATE FUNCTION tot_own.chatty(bigint) RETURNS bigint LANGUAGE sql SET client_min_messages = log
	AS 'SELECT $1';
SELECT tot_own.chatty(n) > 0 AS ok FROM (SELECT region, count(*) AS n FROM tot_orders GROUP BY region) s;
-- ... or SET before a cursor is closed: its sort would report when it is freed
BEGIN;
DECLARE tot_c CURSOR FOR SELECT region, count(*) > 0 AS ok FROM tot_orders GROUP BY region ORDER BY 1;
FETCH 1 FROM tot_c;
SET client_min_messages = log;
ROLLBACK;
BEGIN;
DECLARE tot_c CURSOR FOR SELECT region, count(*) > 0 AS ok FROM tot_orders GROUP BY region ORDER BY 1;
FETCH 1 FROM tot_c;
RESET ALL;
ROLLBACK;
BEGIN;
DECLARE tot_c CURSOR FOR SELECT region, count(*) > 0 AS ok FROM tot_orders GROUP BY region ORDER BY 1;
FETCH 1 FROM tot_c;
CLOSE tot_c;
SET LOCAL client_min_messages = warning;
COMMIT;
SHOW client_min_messages;
RESET trace_sort;

-- == what a query is charged: at least privstat.min_query_epsilon; LIMIT 0 is free ==
RESET ROLE;
SHOW privstat.min_query_epsilon;
SET privstat.min_query_epsilon = -1;
SET ROLE tot_analyst;
SET privstat.min_query_epsilon = 0;
CREATE TEMP VIEW tot_spent AS SELECT epsilon_spent FROM privstat.budget_status WHERE role::text = 'tot_analyst';
CREATE TEMP TABLE tot_before AS SELECT epsilon_spent FROM tot_spent;
SELECT privstat.dp_count(user_id, 0.000001) IS NOT NULL AS answered FROM tot_orders;
SELECT round(((SELECT epsilon_spent FROM tot_spent) - epsilon_spent)::numeric, 6) AS charged FROM tot_before;
SELECT * FROM (SELECT count(*) FROM tot_orders) s LIMIT 0;
SELECT round(((SELECT epsilon_spent FROM tot_spent) - epsilon_spent)::numeric, 6) AS charged FROM tot_before;
SELECT * FROM privstat.dp_cost('SELECT * FROM (SELECT count(*) FROM tot_orders) s LIMIT 0');
SELECT * FROM privstat.dp_cost('SELECT privstat.dp_count(user_id, 0.000001) FROM tot_orders');
SELECT user_id, count(*) FROM tot_orders GROUP BY user_id;
SELECT round(((SELECT epsilon_spent FROM tot_spent) - epsilon_spent)::numeric, 6) AS charged FROM tot_before;

-- == rules are data: the analyst's search_path cannot change a scope or the expiry rule ==
RESET ROLE;
SELECT privstat.set_scope('tot_orders', 'tot_analyst', 'region = ''EU''');
CREATE TABLE tot_events (user_id int, at timestamptz);
INSERT INTO tot_events SELECT g, now() - interval '5 years' FROM generate_series(1, 3000) g;
INSERT INTO tot_events SELECT g, now() FROM generate_series(3001, 4000) g;
SELECT privstat.protect('tot_events', 'user_id');
SELECT privstat.set_retention('tot_events', 'at', '1 year');
SET ROLE tot_analyst;
-- an "=" that is always true, and a "-" that puts the expiry cutoff at -infinity
CREATE FUNCTION tot_own.always(text, text) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true';
CREATE OPERATOR tot_own.= (FUNCTION = tot_own.always, LEFTARG = text, RIGHTARG = text);
CREATE FUNCTION tot_own.minus(timestamptz, interval) RETURNS timestamptz LANGUAGE sql IMMUTABLE
	AS 'SELECT ''-infinity''::timestamptz';
CREATE OPERATOR tot_own.- (FUNCTION = tot_own.minus, LEFTARG = timestamptz, RIGHTARG = interval);
SET search_path = tot_own, pg_catalog, public;
-- the scope still keeps EU only (5,000 rows, not 10,000)
SELECT count(*) BETWEEN 5000 - 25 AND 5000 + 25 AS ok FROM tot_orders;
-- expired rows stay hidden (1,000 rows, not 4,000)
SELECT count(*) BETWEEN 1000 - 25 AND 1000 + 25 AS ok FROM tot_events;
RESET search_path;

-- == privstat._citus_rows (executable by PUBLIC) reads as its caller: a restricted role gets no rows ==
SET ROLE tot_analyst;
SELECT * FROM privstat._citus_rows('tot_orders', '{1,2}', true) AS t(user_id int, amount numeric);
SELECT privstat.dp_count(user_id, 1) FROM privstat._citus_rows('tot_orders', '{1}', true) AS t(user_id int);
-- nor _citus_reader_rows, which runs only from the call privstat's rewrite wrote
SELECT * FROM privstat._citus_reader_rows('tot_orders', '{1,2}', true, 0) AS t(user_id int, amount numeric);
-- nor do the Citus partial states and their merges (src/dp_agg.c) give it anything
SELECT privstat._dp_partial(qty, 2, 0, 10, 1)::text FROM tot_orders;
SELECT privstat._dp_grid(qty, 2, 0, 10, 1) FROM tot_orders;
SELECT sum(privstat._dp_grid(qty, 2, 0, 10, 1)), count(qty) FROM tot_orders;
SELECT privstat._dp_merge_variance(s, 0, 10, 1, 'integer') FROM (SELECT privstat._dp_partial(qty, 4, 0, 10, 1) AS s FROM tot_orders) p;
SELECT * FROM privstat._citus_partials('SELECT 1, false, 0::float8, 0::float8, 1::float8, count(*), NULL::numeric FROM public.tot_orders', '\x00')
	AS p(s privstat.dp_state);
RESET ROLE;

-- == internal trigger functions: not executable by PUBLIC, and only for privstat's tables ==
CREATE TABLE tot_own.mine (x int);
CREATE TRIGGER forge AFTER INSERT ON tot_own.mine FOR EACH ROW EXECUTE FUNCTION privstat._audit_changed();
CREATE TRIGGER flush AFTER INSERT ON tot_own.mine FOR EACH STATEMENT EXECUTE FUNCTION privstat._policy_changed();
RESET ROLE;
CREATE TABLE tot_other (x int);
CREATE TRIGGER forge AFTER INSERT ON tot_other FOR EACH ROW EXECUTE FUNCTION privstat._audit_changed();
CREATE TRIGGER flush AFTER INSERT ON tot_other FOR EACH STATEMENT EXECUTE FUNCTION privstat._policy_changed();
CREATE TRIGGER keys AFTER INSERT ON tot_other FOR EACH STATEMENT EXECUTE FUNCTION privstat._key_version_changed();
INSERT INTO tot_other VALUES (1);
DROP TRIGGER forge ON tot_other;
INSERT INTO tot_other VALUES (1);
DROP TRIGGER flush ON tot_other;
INSERT INTO tot_other VALUES (1);
DROP TRIGGER keys ON tot_other;
CREATE TRIGGER keep BEFORE INSERT OR UPDATE OF x ON tot_other FOR EACH ROW
	EXECUTE FUNCTION privstat._retention_check('x', '1 day');
INSERT INTO tot_other VALUES (1);
DROP TABLE tot_other;
SELECT p.oid::regprocedure AS internal_function_executable_by_public
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'privstat' AND p.proname LIKE '\_%' AND p.proname NOT LIKE '\_total\_%'
  AND has_function_privilege('public', p.oid, 'EXECUTE')
ORDER BY p.oid::regprocedure::text COLLATE "C";
SET ROLE tot_analyst;
-- the purge's batch shows a table's expired rows: the owner and administrators only
SELECT * FROM privstat._purge_batch('tot_events', 'at', now(), 'delete', NULL, 10, NULL);

-- a temporary table cannot be protected: its policy rows would outlive it
RESET ROLE;
CREATE TEMP TABLE tot_tmp (u int);
SELECT privstat.protect('tot_tmp', 'u');
DROP TABLE tot_tmp;

-- == the total versions: PostgreSQL's answer wherever it gives one, NULL where it raises ==
RESET ROLE;
CREATE FUNCTION tot_try(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
	EXECUTE 'SELECT (' || sql || ')::text' INTO r;
	RETURN coalesce(r, 'NULL');
EXCEPTION WHEN others THEN
	RETURN 'ERROR';
END $$;
CREATE TEMP TABLE tot_cases (pg text, total text);
CREATE TABLE tot_typmods (c1 numeric(4,2), c2 numeric(4,2), c3 numeric(4,2), c4 numeric(3,-1), c5 numeric(2,3));
INSERT INTO tot_cases
SELECT format('int4(%L::numeric)', v), format('privstat._total_int4(%L::numeric)', v)
  FROM unnest(ARRAY['0', '1.5', '-2.5', '2147483647.4', '2147483647.5', '-2147483648.5', '-2147483648.4', 'NaN', 'Infinity']) v
UNION ALL
SELECT format('int8(%L::numeric)', v), format('privstat._total_int8(%L::numeric)', v)
  FROM unnest(ARRAY['9223372036854775807.4', '9223372036854775807.5', '-9223372036854775808.5', '-9223372036854775808.4', '-Infinity', 'NaN', '12.5']) v
UNION ALL
SELECT format('int2(%L::numeric)', v), format('privstat._total_int2(%L::numeric)', v)
  FROM unnest(ARRAY['32767.4', '32767.5', '-32768.5', '7']) v
UNION ALL
SELECT format('%s(%L::float8)', f, v), format('privstat._total_%s(%L::float8)', f, v)
  FROM unnest(ARRAY['int2', 'int4', 'int8']) f,
	   unnest(ARRAY['0.5', '1.5', '32767.5', '-32768.5', '2147483647.5', '-2147483648.5', '9.3e18', '-9.3e18', 'NaN', 'Infinity', '-0.5']) v
UNION ALL
SELECT format('%L::numeric(%s)', v, t), format('privstat._total_numeric(%L::numeric, %s)', v,
	   (SELECT atttypmod FROM pg_attribute WHERE attrelid = 'tot_typmods'::regclass AND attname = 'c' || i))
  FROM (VALUES (1, '4,2'), (2, '4,2'), (3, '4,2'), (4, '3,-1'), (5, '2,3')) m(i, t),
	   unnest(ARRAY['99.994', '99.995', '-99.995', 'NaN', 'Infinity', '9999', '0.0994', '0.0996']) v
UNION ALL
SELECT format('(%s)::int %s (%s)::int', a, op, b), format('privstat._total_%s((%s)::int, (%s)::int)', fn, a, b)
  FROM (VALUES ('+', 'int4pl'), ('-', 'int4mi'), ('*', 'int4mul'), ('/', 'int4div'), ('%', 'int4mod')) o(op, fn),
	   (VALUES ('2147483647', '1'), ('-2147483648', '-1'), ('7', '0'), ('-7', '2'), ('65536', '65536')) x(a, b)
UNION ALL
SELECT format('(%s)::bigint %s (%s)::bigint', a, op, b), format('privstat._total_%s((%s)::bigint, (%s)::bigint)', fn, a, b)
  FROM (VALUES ('+', 'int8pl'), ('-', 'int8mi'), ('*', 'int8mul'), ('/', 'int8div'), ('%', 'int8mod')) o(op, fn),
	   (VALUES ('9223372036854775807', '1'), ('-9223372036854775808', '-1'), ('7', '0'), ('-7', '2'), ('4294967296', '4294967296')) x(a, b)
UNION ALL
SELECT format('(%s)::bigint %s (%s)::int', a, op, b), format('privstat._total_int84%s((%s)::bigint, (%s)::int)', fn, a, b)
  FROM (VALUES ('+', 'pl'), ('-', 'mi'), ('*', 'mul'), ('/', 'div')) o(op, fn),
	   (VALUES ('9223372036854775807', '1'), ('-9223372036854775808', '-1'), ('7', '0'), ('-7', '2')) x(a, b)
UNION ALL
SELECT format('%s::numeric %s %s::numeric', a, op, b), format('privstat._total_%s(%s::numeric, %s::numeric)', fn, a, b)
  FROM (VALUES ('+', 'numeric_add'), ('-', 'numeric_sub'), ('*', 'numeric_mul'), ('/', 'numeric_div'), ('%', 'numeric_mod')) o(op, fn),
	   (VALUES ('1', '0'), ('''NaN''', '0'), ('9e131071', '9e131071'), ('-7.5', '2'), ('''Infinity''', '0')) x(a, b)
UNION ALL
SELECT format('%s::float8 %s %s::float8', a, op, b), format('privstat._total_%s(%s, %s)', fn, a, b)
  FROM (VALUES ('+', 'float8pl'), ('-', 'float8mi'), ('*', 'float8mul'), ('/', 'float8div')) o(op, fn),
	   (VALUES ('1e308', '1e308'), ('1e-308', '1e-308'), ('1', '0'), ('''NaN''', '0'), ('''Infinity''', '1'), ('-7.5', '2')) x(a, b)
UNION ALL
SELECT format('date_trunc(%L, %L::timestamp)', u, t), format('privstat._total_date_trunc(%L, %L::timestamp)', u, t)
  FROM unnest(ARRAY['week', 'month', 'millennium', 'day']) u,
	   unnest(ARRAY['2026-12-06 10:00', 'infinity', '2000-01-01 BC', '289999-12-31 23:00']) t
UNION ALL
SELECT format('date_part(%L, %L::date)', u, t), format('privstat._total_date_part(%L, %L::date)', u, t)
  FROM unnest(ARRAY['year', 'epoch']) u, unnest(ARRAY['5874897-12-31', '2026-12-06', '-infinity']) t
UNION ALL
SELECT format('%L::date::timestamptz', t), format('privstat._total_timestamptz(%L::date)', t)
  FROM unnest(ARRAY['5874897-12-31', '2026-12-06', 'infinity']) t
UNION ALL
SELECT format('width_bucket(%s::float8, 0, 100, %s)', x, n), format('privstat._total_width_bucket(%s::float8, 0, 100, %s)', x, n)
  FROM unnest(ARRAY['''NaN''', '50', '1000', '''-Infinity''']) x, unnest(ARRAY['10', '2147483647']) n
UNION ALL
SELECT format('to_timestamp(%s::float8)', x), format('privstat._total_to_timestamp(%s::float8)', x)
  FROM unnest(ARRAY['''NaN''', '0', '1e13', '''Infinity''']) x;
-- every case: the same answer, or NULL where PostgreSQL raises
SELECT count(*) AS cases, count(*) FILTER (WHERE tot_try(pg) = 'ERROR') AS raising_in_postgresql,
	   count(*) FILTER (WHERE tot_try(total) = 'ERROR') AS raising_in_privstat
  FROM tot_cases;
SELECT pg, tot_try(pg) AS postgresql, tot_try(total) AS privstat FROM tot_cases
 WHERE NOT (tot_try(pg) = tot_try(total) OR (tot_try(pg) = 'ERROR' AND tot_try(total) = 'NULL'))
 ORDER BY 1;
-- outside the documented domain of the date/time versions (before 2000 BC), NULL even where PostgreSQL answers
SELECT date_trunc('day', '4714-11-24 00:00 BC'::timestamp) AS postgresql,
	   privstat._total_date_trunc('day', '4714-11-24 00:00 BC'::timestamp) IS NULL AS privstat_null;
DROP TABLE tot_cases, tot_typmods;
DROP FUNCTION tot_try(text);
SET ROLE tot_analyst;

RESET ROLE;
SELECT privstat.drop_retention('tot_events');
DROP TABLE tot_orders, tot_events;
DROP FUNCTION public.tot_leaky(int);
DROP SCHEMA tot_own CASCADE;
SELECT privstat.set_access('tot_analyst', 'direct');
DROP OWNED BY tot_analyst;
DROP ROLE tot_analyst;
