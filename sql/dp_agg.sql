--
-- DP aggregates: results, types, empty input, NULLs, clamping, every
-- parameter error, parallel plans, costs and error bounds.
--
-- The answers are random.  Each check compares an answer with the truth
-- through the matching error-bound function at level 1 - 1e-12, so a check
-- fails by chance with probability at most 1e-12; the file has fewer than
-- 100 such checks (false-failure rate below 1e-10 per run).
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS privstat;
RESET client_min_messages;
SET search_path = public, privstat;
SET max_parallel_workers_per_gather = 0;
-- every role that runs DP aggregates needs a budget (budget.sql tests them)
SELECT set_budget(current_user::regrole, 'infinity');

CREATE TABLE facts (i int, s smallint, b bigint, n numeric, f float8, maybe int);
INSERT INTO facts
	SELECT g, (g % 100)::smallint, g::bigint * 1000, g / 10.0, g / 4.0, CASE WHEN g % 2 = 0 THEN g END
	FROM generate_series(1, 10000) g;
ANALYZE facts;
\set lvl 0.999999999999

-- result types follow sum() and avg(): bigint for smallint and integer sums,
-- numeric for bigint and numeric sums, double precision otherwise
SELECT pg_typeof(dp_count(*)) AS count_star, pg_typeof(dp_count(i)) AS count_expr,
       pg_typeof(dp_sum(s, 0, 10)) AS sum_smallint, pg_typeof(dp_sum(i, 0, 10)) AS sum_int,
       pg_typeof(dp_sum(b, 0, 10)) AS sum_bigint, pg_typeof(dp_sum(n, 0, 10)) AS sum_numeric,
       pg_typeof(dp_sum(f, 0, 10)) AS sum_float8
FROM facts;
SELECT pg_typeof(dp_avg(i, 0, 10)) AS avg, pg_typeof(dp_variance(n, 0, 10)) AS variance,
       pg_typeof(dp_stddev(b, 0, 10)) AS stddev, pg_typeof(dp_median(s, 0, 10)) AS median,
       pg_typeof(dp_percentile(f, 0.9, 0, 10)) AS percentile
FROM facts;

-- answers lie within their error bounds
SELECT abs(dp_count(*) - 10000) <= dp_count_error(1, :lvl) AS count_star,
       abs(dp_count(maybe) - 5000) <= dp_count_error(1, :lvl) AS count_skips_nulls,
       abs(dp_count(i, 0.5) - 10000) <= dp_count_error(0.5, :lvl) AS count_epsilon
FROM facts;
SELECT abs(dp_sum(i, 0, 10000) - 50005000) <= dp_sum_error(0, 10000, 1, :lvl) AS sum_int,
       abs(dp_sum(s, 0, 100) - 495000) <= dp_sum_error(0, 100, 1, :lvl) AS sum_smallint,
       abs(dp_sum(b, 0, 1e7) - 50005000000) <= dp_sum_error(0, 1e7, 1, :lvl) AS sum_bigint,
       abs(dp_sum(n, 0, 1000, 2) - 5000500) <= dp_sum_error(0, 1000, 2, :lvl) AS sum_numeric,
       abs(dp_sum(f, 0, 2500) - 12502500) <= dp_sum_error(0, 2500, 1, :lvl) AS sum_float8,
       abs(dp_sum(maybe, 0, 10000) - 25005000) <= dp_sum_error(0, 10000, 1, :lvl) AS sum_skips_nulls
FROM facts;
SELECT abs(dp_avg(i, 0, 10000) - 5000.5) <= dp_avg_error(0, 10000, 9000, 1, :lvl) AS avg_int,
       abs(dp_avg(f, 0, 2500, 0.5) - 1250.125) <= dp_avg_error(0, 2500, 9000, 0.5, :lvl) AS avg_float8,
       abs(dp_variance(i, 0, 10000) - 8333333.25) <= dp_variance_error(0, 10000, 9000, 1, :lvl) AS variance,
       abs(dp_stddev(i, 0, 10000) - 2886.75) <= dp_stddev_error(0, 10000, 9000, 1, :lvl) AS stddev
FROM facts;
-- percentiles: the answer is a bin boundary within the rank error of the truth
SELECT abs((SELECT count(*) FROM facts WHERE i < m) - 5000)
         <= dp_percentile_rank_error(1, :lvl) + 10000 / 256 AS median_rank,
       m = 10000 * round(m * 256 / 10000) / 256 AS on_a_boundary
FROM (SELECT dp_median(i, 0, 10000) AS m FROM facts) q;
SELECT abs((SELECT count(*) FROM facts WHERE i < m) - 9000)
         <= dp_percentile_rank_error(1, :lvl) + 10000 / 256 AS p90_rank
FROM (SELECT dp_percentile(i, 0.9, 0, 10000) AS m FROM facts) q;

-- values are clamped to the bounds before they count
SELECT abs(dp_sum(i, 0, 1) - 10000) <= dp_sum_error(0, 1, 1, :lvl) AS clamped_high,
       abs(dp_sum(i, -5, -1) - -10000) <= dp_sum_error(-5, -1, 1, :lvl) AS clamped_low,
       dp_avg(i, 100, 200) BETWEEN 100 AND 200 AS avg_within_bounds,
       dp_median(i, 0, 10) BETWEEN 0 AND 10 AS median_within_bounds
FROM facts;
-- NaN and infinities clamp like numbers (NaN to the top); they raise no error
SELECT abs(dp_sum(v, 0, 1) - 3) <= dp_sum_error(0, 1, 1, :lvl) AS special_floats
FROM (VALUES ('NaN'::float8), ('Infinity'), ('-Infinity'), (1), (2)) v(v);

-- numeric values are read from their stored digits, never printed and parsed
-- (test/numeric checks that conversion against strtod, to the bit).  Every
-- stored form must reach it intact: short and long numeric headers, 1-byte
-- (stored) and 4-byte (computed) varlena headers, compressed values, NaN and
-- the infinities, magnitudes beyond float8.  1000 copies of a value per group,
-- epsilon 1000: the answer is within dp_sum_error (2.8% of the larger bound)
-- of the sum of the clamped values, so a wrong sign, weight or digit shows.
SET privstat.max_epsilon = 1000;
CREATE TABLE nums (k text, v numeric);
INSERT INTO nums SELECT k, v::numeric FROM (VALUES
	('price', '12.34'), ('negative', '-12.34'), ('integer', '42'), ('fraction', '0.0001234'),
	('34 digits', '12.34567890123456789012345678901234'),
	('40 digits', '-12.34567890123456789012345678901234567890'),
	('dscale 70', '2.5000000000000000000000000000000000000000000000000000000000000000000000'),
	('NaN', 'NaN'), ('Infinity', 'Infinity'), ('-Infinity', '-Infinity'),
	('1e100000', '1e100000'), ('-1e100000', '-1e100000'), ('1e-16383', '1e-16383'),
	('1.5e200', '1.5e200'), ('-1.5e300', '-1.5e300'), ('1.5e-200', '1.5e-200'),
	('-1.5e-300', '-1.5e-300')) x(k, v), generate_series(1, 1000);
INSERT INTO nums SELECT 'compressed', ('0.' || repeat('1234', 1500))::numeric FROM generate_series(1, 100);
-- stored: 12.34 in 7 bytes (1-byte varlena header, 2-byte numeric header),
-- 2.5 with 70 decimal places in 9 (4-byte numeric header), the long one compressed
SELECT k, pg_column_compression(v) IS NOT NULL AS compressed,
       CASE WHEN k <> 'compressed' THEN min(pg_column_size(v)) END AS bytes
FROM nums WHERE k IN ('price', 'dscale 70', 'compressed') GROUP BY k, 2 ORDER BY k;
SELECT k, abs(dp_sum(v, -100, 100, 1000) - sum(least(greatest(v, -100), 100)))
            <= dp_sum_error(-100, 100, 1000, :lvl) AS stored,
          abs(dp_sum(v / 3, -100, 100, 1000) - sum(least(greatest(v / 3, -100), 100)))
            <= dp_sum_error(-100, 100, 1000, :lvl) AS computed
FROM nums WHERE k NOT IN ('compressed', 'fraction') GROUP BY k ORDER BY k;
SELECT abs(dp_sum(v, 0, 1, 1000) - 12.341234) <= dp_sum_error(0, 1, 1000, :lvl) AS compressed
FROM nums WHERE k = 'compressed';
SELECT abs(dp_sum(v, -0.001, 0.001, 1000) - 0.1234) <= dp_sum_error(-0.001, 0.001, 1000, :lvl) AS fraction
FROM nums WHERE k = 'fraction';
SELECT abs(dp_sum(v, 0, 2e200, 1000) - 1.5e203) <= dp_sum_error(0, 2e200, 1000, :lvl) AS "1.5e200"
FROM nums WHERE k = '1.5e200';
SELECT abs(dp_sum(v, -2e300, 0, 1000) + 1.5e303) <= dp_sum_error(-2e300, 0, 1000, :lvl) AS "-1.5e300"
FROM nums WHERE k = '-1.5e300';
SELECT abs(dp_sum(v, 0, 2e-200, 1000) - 1.5e-197) <= dp_sum_error(0, 2e-200, 1000, :lvl) AS "1.5e-200"
FROM nums WHERE k = '1.5e-200';
SELECT abs(dp_sum(v, -2e-300, 0, 1000) + 1.5e-297) <= dp_sum_error(-2e-300, 0, 1000, :lvl) AS "-1.5e-300"
FROM nums WHERE k = '-1.5e-300';
-- avg, variance and percentiles convert numeric values the same way
SELECT abs(dp_avg(n, 0, 1000, 1000) - 500.05) <= dp_avg_error(0, 1000, 9000, 1000, :lvl) AS avg,
       abs(dp_variance(n, 0, 1000, 1000) - var_pop(n)) <= dp_variance_error(0, 1000, 9000, 1000, :lvl)
         AS variance,
       abs(dp_stddev(-n, -1000, 0, 1000) - stddev_pop(n)) <= dp_stddev_error(-1000, 0, 9000, 1000, :lvl)
         AS stddev
FROM facts;
SELECT abs((SELECT count(*) FROM facts WHERE n < m) - 9000)
         <= dp_percentile_rank_error(1000, :lvl) + 10000 / 256 AS p90_numeric
FROM (SELECT dp_percentile(n, 0.9, 0, 1000, 1000) AS m FROM facts) q;
DROP TABLE nums;
RESET privstat.max_epsilon;

-- an empty input gets an answer of the same type, never NULL
SELECT dp_count(*) IS NOT NULL AS count, abs(dp_count(*)) <= dp_count_error(1, :lvl) AS count_near_zero,
       dp_sum(i, 0, 10) IS NOT NULL AS sum_int, dp_sum(n, 0, 10) IS NOT NULL AS sum_numeric,
       dp_avg(i, 0, 10) BETWEEN 0 AND 10 AS avg, dp_variance(i, 0, 10) BETWEEN 0 AND 25 AS variance,
       dp_median(i, 0, 10) BETWEEN 0 AND 10 AS median
FROM facts WHERE false;
SELECT g, dp_count(*) IS NOT NULL AS answered
FROM (VALUES (1), (2)) v(g) LEFT JOIN facts ON false GROUP BY g ORDER BY g;

-- GROUP BY: one answer per group
SELECT i % 3 AS g, abs(dp_count(*) - 3333) <= dp_count_error(1, :lvl) + 1 AS ok
FROM facts GROUP BY 1 ORDER BY 1;

-- the same aggregate twice in one query is released (and costs) once
SELECT dp_count(*) = dp_count(*) AS same_answer FROM facts;
SELECT * FROM dp_cost('SELECT dp_count(*), dp_count(*) FROM facts HAVING dp_count(*) > 0');

-- bad parameters
SELECT dp_count(i, 0) FROM facts;
SELECT dp_count(i, -1) FROM facts;
SELECT dp_count(i, 'NaN') FROM facts;
SELECT dp_count(i, 'Infinity') FROM facts;
SELECT dp_count(i, 1e-7) FROM facts;
SELECT dp_count(i, 11) FROM facts;
SELECT dp_sum(i, 10, 0) FROM facts;
SELECT dp_sum(i, 'NaN', 10) FROM facts;
SELECT dp_sum(i, 0, 'Infinity') FROM facts;
SELECT dp_avg(i, '-Infinity', 0) FROM facts;
SELECT dp_percentile(i, 1.5, 0, 10) FROM facts;
SELECT dp_percentile(i, -0.1, 0, 10) FROM facts;
SELECT dp_percentile(i, 'NaN', 0, 10) FROM facts;
SELECT dp_sum(i, NULL, 10) FROM facts;
SELECT dp_count(i, NULL) FROM facts;
-- parameters must be constants: the noise and the cost are fixed before the query runs
SELECT dp_sum(i, 0, i) FROM facts;
SELECT dp_count(i, i / 10000.0 + 0.5) FROM facts;
SELECT dp_sum(i, 0, (SELECT max(i) FROM facts)) FROM facts;
PREPARE p(float8) AS SELECT dp_count(i, $1) IS NOT NULL FROM facts;
EXECUTE p(0.5);
SET plan_cache_mode = force_generic_plan;
EXECUTE p(0.5);
RESET plan_cache_mode;
DEALLOCATE p;
-- expressions of constants are fine
SELECT dp_count(i, 1.0 / 4) IS NOT NULL AS folded FROM facts;
-- not as window functions
SELECT dp_count(*) OVER () FROM facts LIMIT 1;
-- the support functions serve privstat's aggregates only
SELECT dp_count_final(NULL::dp_state);
SELECT dp_trans(NULL::dp_state, 1, 0, 10);
CREATE AGGREGATE leak(int, float8, float8) (SFUNC = dp_trans, STYPE = dp_state,
	FINALFUNC = dp_state_out);
SELECT leak(i, 0, 10000) FROM facts;
DROP AGGREGATE leak(int, float8, float8);
-- the state types' text form is checked
SELECT 'abcd'::dp_state;
-- and sealed: no SQL caller reads an exact state (the Citus partial states, doc/citus.md)
SELECT _dp_partial(i, 4, 0, 10, 1)::text ~ '^ps1:[0-9a-f]+$' AND length(_dp_partial(i, 4, 0, 10, 1)::text) = 348 AS sealed,
       _dp_partial(i, 4, 0, 10, 1)::text <> _dp_partial(i, 4, 0, 10, 1)::text AS new_nonce_each_time
FROM facts;
SELECT (_dp_partial(i, 2, 0, 10, 1)::text)::dp_state IS NOT NULL AS opens FROM facts;
SELECT ('ps1:' || repeat('0', 344))::dp_state;
-- a merge takes only the states privstat._citus_partials handed out, whose query privstat wrote
SELECT _dp_merge_variance(s, 0, 10, 1, 'integer') FROM (SELECT _dp_partial(i, 4, 0, 10, 1) AS s FROM facts) p;
SELECT * FROM _citus_partials('SELECT 1, false, 0::float8, 0::float8, 1::float8, count(*), NULL::numeric FROM public.facts', '\x00')
	AS p(s dp_state);
SELECT _dp_partial(i, 6, 0, 10, 1) FROM facts;
-- _dp_grid: the value dp_sum (kind 2) adds, clamped and on its grid, and
-- dp_avg's (kind 3), centred: 2q - R with R = upper - lower here
SELECT x, _dp_grid(x, 2, 0, 10, 1) AS sum_q, _dp_grid(x, 3, 0, 10, 1) AS avg_c
FROM (VALUES (-5), (0), (3), (10), (12), (NULL)) v(x);
SELECT _dp_grid(3::bigint, 2, -4, 4, 1), _dp_grid(3::smallint, 3, -4, 4, 1),
       _dp_grid(2.5::numeric, 2, 0, 10, 1) = _dp_grid(2.5::float8, 2, 0, 10, 1) AS numeric_as_float8,
       _dp_grid('NaN'::float8, 2, 0, 10, 1) = _dp_grid(10::float8, 2, 0, 10, 1) AS nan_at_the_top;
SELECT _dp_grid(1, 1, 0, 10, 1);
SELECT _dp_grid(1, 4, 0, 10, 1);
SELECT _dp_grid(1, 2, 10, 0, 1);
SELECT _dp_grid(1, 2, 0, 10, 0);
SELECT _dp_grid(1, 2, 0, 1e300, 1);
SELECT _dp_grid(1, NULL, 0, 10, 1);
SELECT _dp_grid(NULL::int, 2, NULL, 10, 1);
SELECT (_dp_partial_hist(i, 0.5, 0, 10, 1)::text)::dp_hist_state IS NOT NULL AS histogram_opens FROM facts;
SELECT _dp_merge_median(s, 0, 10, 'integer') FROM (SELECT _dp_partial_hist(i, 0.5, 0, 10, 1) AS s FROM facts) p;

-- privstat.epsilon and privstat.max_epsilon
SET privstat.epsilon = 0.25;
SELECT abs(dp_count(*) - 10000) <= dp_count_error(NULL, :lvl) AS uses_guc FROM facts;
SELECT epsilon FROM dp_cost('SELECT dp_count(*), dp_avg(i, 0, 1) FROM facts');
SET privstat.epsilon = 20;
SELECT dp_count(*) FROM facts;
RESET privstat.epsilon;
SET privstat.epsilon = 0;
CREATE ROLE privstat_test_analyst;
GRANT SELECT ON facts TO privstat_test_analyst;
SELECT set_budget('privstat_test_analyst', 'infinity');
SET ROLE privstat_test_analyst;
SET privstat.max_epsilon = 100;
SELECT dp_count(*) IS NOT NULL AS analyst_can_count FROM facts;
RESET ROLE;
DROP OWNED BY privstat_test_analyst;
DROP ROLE privstat_test_analyst;

-- the error-bound functions check their input too
SELECT dp_count_error(1, 1);
SELECT dp_count_error(1, 0);
SELECT dp_count_error(1, NULL);
SELECT dp_count_error(0, 0.95);
SELECT dp_sum_error(10, 0);
SELECT dp_avg_error(0, 10, NULL);
-- and are monotone: more confidence or less epsilon, a wider interval
SELECT dp_count_error(1, 0.99) > dp_count_error(1, 0.9) AS wider_with_level,
       dp_count_error(0.1, 0.95) > dp_count_error(1, 0.95) AS wider_with_less_epsilon,
       dp_sum_error(0, 1000, 1) > dp_sum_error(0, 10, 1) AS wider_with_bounds;
-- exact values for a reference point: discrete Laplace, epsilon 1, 95%
SELECT dp_count_error(1, 0.95) AS count_95, dp_percentile_rank_error(1, 0.95) AS rank_95;

-- a bigint sum that cannot fit is an error, never a wrapped value
-- (noise of scale 1e30: the answer fits in bigint with probability < 1e-11)
SELECT dp_sum(i, -1e30, 1e30) FROM facts;

-- bigint values at the int64 limits: the true sum (9.2e19) does not fit in
-- int64, the 128-bit state holds it, and the numeric answer is near it
SELECT abs(dp_sum(v, -9223372036854775807, 9223372036854775807) - 92233720368547758070)
         <= dp_sum_error(-9223372036854775807, 9223372036854775807, 1, :lvl) AS huge_sum,
       abs(dp_sum(-v, -9223372036854775807, 9223372036854775807) + 92233720368547758070)
         <= dp_sum_error(-9223372036854775807, 9223372036854775807, 1, :lvl) AS huge_negative_sum
FROM (SELECT 9223372036854775807::bigint AS v FROM generate_series(1, 10)) x;

-- parallel plans: each DP aggregate runs as a Partial Aggregate in the workers
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
EXPLAIN (COSTS OFF)
SELECT dp_count(*), dp_sum(i, 0, 10000), dp_avg(f, 0, 2500), dp_variance(n, 0, 1000),
       dp_median(i, 0, 10000) FROM facts;
SELECT abs(c - 10000) <= dp_count_error(1, :lvl) AS count,
       abs(s - 50005000) <= dp_sum_error(0, 10000, 1, :lvl) AS sum,
       abs(a - 1250.125) <= dp_avg_error(0, 2500, 9000, 1, :lvl) AS avg,
       abs((SELECT count(*) FROM facts WHERE i < m) - 5000)
         <= dp_percentile_rank_error(1, :lvl) + 10000 / 256 AS median
FROM (SELECT dp_count(*) c, dp_sum(i, 0, 10000) s, dp_avg(f, 0, 2500) a, dp_median(i, 0, 10000) m
      FROM facts) q;
-- an empty parallel input still gets its answer (parameters from the partial aggregate)
EXPLAIN (COSTS OFF) SELECT dp_sum(i, 0, 10), dp_median(i, 0, 10) FROM facts WHERE i + 0 < 0;
SELECT dp_sum(i, 0, 10) IS NOT NULL AS sum, dp_median(i, 0, 10) BETWEEN 0 AND 10 AS median
FROM facts WHERE i + 0 < 0;
-- a parallel plan costs the same as a serial one
SELECT * FROM dp_cost('SELECT dp_count(*), dp_sum(i, 0, 10, 0.5), dp_median(i, 0, 10, 0.25) FROM facts');

-- serial, parallel and reordered inputs build the same exact state: with an
-- epsilon of 1000 the noise on counts and 0/1 sums is 0 except with
-- probability below e^-999
SET privstat.max_epsilon = 1000;
SET privstat.epsilon = 1000;
EXPLAIN (COSTS OFF) SELECT dp_count(*), dp_sum(i % 2, 0, 1) FROM facts;
SELECT dp_count(*) AS parallel_count, dp_sum(i % 2, 0, 1) AS parallel_sum FROM facts;
SET max_parallel_workers_per_gather = 0;
SELECT dp_count(*) AS serial_count, dp_sum(i % 2, 0, 1) AS serial_sum FROM facts;
SELECT dp_count(*) AS reordered_count, dp_sum(i % 2, 0, 1) AS reordered_sum
FROM (SELECT * FROM facts ORDER BY random()) r;
-- 1000 is the ceiling of both settings
SET privstat.max_epsilon = 1001;
SELECT count(*), sum(i % 2) FROM facts;
RESET privstat.max_epsilon;
RESET privstat.epsilon;

-- (that parallel and serial plans draw from the same distribution is
-- checked by test/t/005_parallel_noise.pl: PostgreSQL runs no parallel plan
-- for a query nested in a function, so it needs top-level statements)

-- == consistent answers (privstat.consistent_answers, on by default) ==
-- Counts of no rows with epsilon 0.01 (noise of scale 100), 800 runs each
-- way: raw, about half are negative (none with probability about 2^-800);
-- consistent, none, and their mean distance from the truth, 0, is about 50
-- against about 100 raw (standard deviations of the means 3 and 3.5: the
-- check fails by chance with probability below 1e-20).  Sums of no rows:
-- bounds [0, 10] give no negative sum, bounds [-10, 0] no positive one.
CREATE TABLE no_facts (i int);
CREATE FUNCTION consistent_runs(consistent boolean, runs int,
								OUT count_negative int, OUT count_mean_error float8,
								OUT sum_negative int, OUT neg_sum_positive int)
LANGUAGE plpgsql AS $fn$
DECLARE
	c bigint;
	s bigint;
	t bigint;
	total float8 := 0;
BEGIN
	PERFORM set_config('privstat.consistent_answers', consistent::text, true);
	count_negative := 0;
	sum_negative := 0;
	neg_sum_positive := 0;
	FOR r IN 1..runs LOOP
		SELECT dp_count(1, 0.01), dp_sum(i, 0, 10, 0.01), dp_sum(-i, -10, 0, 0.01) INTO c, s, t FROM no_facts;
		count_negative := count_negative + (c < 0)::int;
		sum_negative := sum_negative + (s < 0)::int;
		neg_sum_positive := neg_sum_positive + (t > 0)::int;
		total := total + abs(c);
	END LOOP;
	count_mean_error := total / runs;
END
$fn$;
CREATE TEMP TABLE consistent_on AS SELECT * FROM consistent_runs(true, 800);
CREATE TEMP TABLE consistent_off AS SELECT * FROM consistent_runs(false, 800);
SELECT count_negative = 0 AS no_negative_count, sum_negative = 0 AS no_negative_sum,
	   neg_sum_positive = 0 AS no_positive_sum, count_mean_error BETWEEN 30 AND 70 AS error_about_50
	FROM consistent_on;
SELECT count_negative > 0 AS some_negative_count, sum_negative > 0 AS some_negative_sum,
	   neg_sum_positive > 0 AS some_positive_sum, count_mean_error BETWEEN 80 AND 120 AS error_about_100
	FROM consistent_off;
SELECT on_.count_mean_error < off_.count_mean_error AS closer_to_the_truth
	FROM consistent_on on_, consistent_off off_;
SHOW privstat.consistent_answers;
DROP FUNCTION consistent_runs(boolean, int);

-- A sum released beside a count of the same rows stays within what the count
-- allows: [count * 0, count * 100] for values in [0, 100] beside dp_count of
-- the same value, [count * min(0, L), count * max(0, U)] beside dp_count(*)
-- of every row (a row without a value adds 0).  12 rows, 10 with a value;
-- counts at epsilon 10 or 1, sums at epsilon 0.001 (noise scale 1e5): raw, a
-- sum falls within the allowed width (about 1,300 at most, unless a count's
-- noise exceeds 90, probability below 1e-30) with probability below 0.007,
-- so 30 runs all within below 1e-60; consistent, always.  The same
-- releases, the same charge.
CREATE TABLE sum_facts AS SELECT g AS i, CASE WHEN g > 2 THEN (g * 9)::float8 END AS v FROM generate_series(1, 12) g;
CREATE FUNCTION sum_runs(consistent boolean, OUT within_exact int, OUT within_star int, OUT runs int)
LANGUAGE plpgsql AS $fn$
DECLARE
	ok boolean;
BEGIN
	PERFORM set_config('privstat.consistent_answers', consistent::text, true);
	within_exact := 0;
	within_star := 0;
	runs := 30;
	FOR r IN 1..runs LOOP
		EXECUTE 'SELECT s BETWEEN c * 0 AND c * 100 FROM (SELECT dp_count(v, 10) AS c, dp_sum(v, 0, 100, 0.001) AS s FROM sum_facts) q'
			INTO ok;
		within_exact := within_exact + ok::int;
		EXECUTE 'SELECT s BETWEEN c * -5 AND c * 100 FROM (SELECT dp_count(*) AS c, dp_sum(v - 50, -5, 100, 0.001) AS s FROM sum_facts) q'
			INTO ok;
		within_star := within_star + ok::int;
	END LOOP;
END
$fn$;
SELECT within_exact = runs AS all_within, within_star = runs AS all_within_star FROM sum_runs(true);
SELECT within_exact < runs AS some_outside, within_star < runs AS some_outside_star FROM sum_runs(false);
-- a count of another value, or with another filter, is no bound on the sum
EXPLAIN (COSTS OFF, VERBOSE) SELECT dp_count(i, 10), dp_sum(v, 0, 100, 0.001),
	dp_count(v, 10) FILTER (WHERE i > 5) FROM sum_facts;
EXPLAIN (COSTS OFF, VERBOSE) SELECT dp_count(v, 10), dp_sum(v, 0, 100, 0.001) FROM sum_facts;
SELECT epsilon, dp_aggregates FROM dp_cost('SELECT dp_count(v, 10), dp_sum(v, 0, 100, 0.001) FROM sum_facts');
DROP FUNCTION sum_runs(boolean);
DROP TABLE sum_facts;
-- Percentiles of one column in one row come out in the order of their p.
-- At epsilon 0.001 each answer is close to uniform over the 257 candidates:
-- raw, four of them are in order with probability about 1/24, so 50 rows
-- all in order about 1e-69; consistent, always.
CREATE FUNCTION monotone_runs(consistent boolean, OUT in_order int, OUT rows int)
LANGUAGE plpgsql AS $fn$
DECLARE
	ok boolean;
BEGIN
	PERFORM set_config('privstat.consistent_answers', consistent::text, true);
	in_order := 0;
	rows := 50;
	FOR r IN 1..rows LOOP
		-- planned each time: the choice is made when a query is planned
		EXECUTE 'SELECT p10 <= p50 AND p50 <= p90 AND p90 <= p99
			FROM (SELECT dp_percentile(f, 0.9, 0, 3000, 0.001) AS p90, dp_median(f, 0, 3000, 0.001) AS p50,
						 dp_percentile(f, 0.99, 0, 3000, 0.001) AS p99, dp_percentile(f, 0.1, 0, 3000, 0.001) AS p10
					FROM facts) s' INTO ok;
		in_order := in_order + ok::int;
	END LOOP;
END
$fn$;
SELECT in_order = rows AS all_in_order FROM monotone_runs(true);
SELECT in_order < rows AS some_out_of_order FROM monotone_runs(false);
-- the same charge either way: the calls are the same releases
SELECT epsilon, dp_aggregates FROM dp_cost('SELECT dp_percentile(f, 0.9, 0, 3000, 0.25), dp_median(f, 0, 3000, 0.25) FROM facts');
DROP FUNCTION monotone_runs(boolean);
DROP TABLE no_facts;

-- costs: sequential composition over every DP aggregate of the plan
SELECT * FROM dp_cost('SELECT 1');
SELECT * FROM dp_cost('SELECT count(*) FROM facts');
SELECT * FROM dp_cost('SELECT dp_count(i, 0.1), dp_sum(i, 0, 1, 0.2), dp_avg(i, 0, 1, 0.3),
	dp_variance(i, 0, 1, 0.4), dp_stddev(i, 0, 1, 0.5), dp_median(i, 0, 1, 0.6),
	dp_percentile(i, 0.2, 0, 1, 0.7) FROM facts');
SELECT * FROM dp_cost('SELECT g, dp_count(i, 0.5) FROM facts, LATERAL (SELECT i % 3 AS g) x GROUP BY g');
SELECT * FROM dp_cost('WITH a AS (SELECT dp_count(i, 0.5) c FROM facts) SELECT c, (SELECT dp_sum(i, 0, 1, 0.25) FROM facts) FROM a');
SELECT * FROM dp_cost('SELECT dp_count(i, 0.5) FROM facts UNION ALL SELECT dp_count(i, 0.5) FROM facts');
SELECT * FROM dp_cost('SELECT dp_sum(i, 0, i) FROM facts');
SELECT * FROM dp_cost('INSERT INTO facts DEFAULT VALUES');
SELECT * FROM dp_cost('SELECT 1; SELECT 2');

DROP TABLE facts;
