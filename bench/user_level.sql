-- Benchmark of issue "User-level privacy": :rows rows from :rows/100 users
-- (100 rows each: 10 rows in each of 10 groups) in 1,000 groups.  A GROUP BY
-- with count and sum as a role at access level aggregate (privstat bounds
-- each user to k = 5 groups and m = 2 rows per group, selects groups, adds
-- noise) against the hand-written exact SQL that bounds contributions the
-- same way, run by the owner: a GROUP BY per (group, user) with the clamp,
-- a window function that keeps k random groups per user, and the sums.
-- Target: privstat within 2x.  Median wall time of 5 runs each,
-- alternating.  Run by bench/run.sh with -v rows=N (default 10,000,000).
\set QUIET on
\pset footer off
SET client_min_messages = warning;
\ir common.sql
CREATE EXTENSION IF NOT EXISTS privstat;
\o /dev/null
CREATE ROLE bench_ul_analyst;
SELECT privstat.set_access('bench_ul_analyst', 'aggregate');
SELECT privstat.set_budget('bench_ul_analyst', 'infinity', 1);
CREATE TABLE ul_sales (user_id int, grp int, amount numeric);
INSERT INTO ul_sales
	SELECT g % (:rows / 100), ((g % (:rows / 100)) * 7 + (g / (:rows / 100)) % 10) % 1000, (g % 120)::numeric
	FROM generate_series(0, :rows - 1) g;
VACUUM ANALYZE ul_sales;
SELECT privstat.protect('ul_sales', 'user_id', max_groups_contributed => 5, max_rows_contributed => 2);
SELECT privstat.set_bounds('ul_sales', 'amount', 0, 100);
\o
\echo == user-level GROUP BY: privstat (aggregate role) vs hand-written bounding (owner)
SELECT count(*) AS rows, count(DISTINCT user_id) AS users, count(DISTINCT grp) AS groups FROM ul_sales;
SELECT round(ms1::numeric, 1) AS privstat_ms, round(ms2::numeric, 1) AS hand_written_ms,
	   round((ms1 / ms2)::numeric, 2) AS ratio
  FROM bench_pair_as(
	'SELECT grp, count(*), sum(amount) FROM ul_sales GROUP BY grp', 'bench_ul_analyst',
	$q$SELECT grp, sum(c), sum(s) FROM (
		   SELECT grp, c, s, row_number() OVER (PARTITION BY user_id ORDER BY random()) AS r FROM (
			   SELECT grp, user_id, least(count(*), 2) AS c,
					  sum(least(greatest(amount::float8, 0), 100)) * least(count(*), 2) / count(*) AS s
				 FROM ul_sales GROUP BY grp, user_id) x) y
		WHERE r <= 5 GROUP BY grp$q$, NULL, 5);
\echo groups released of 1,000 (threshold 76 units for k = 5; a group holds rows/2000 users once bounded: 500 at 10,000,000 rows)
SET ROLE bench_ul_analyst;
SELECT count(*) AS released FROM (SELECT grp, count(*) FROM ul_sales GROUP BY grp) s;
RESET ROLE;
\o /dev/null
SELECT privstat.reset_budget('bench_ul_analyst');
SELECT privstat.set_access('bench_ul_analyst', 'direct');
SELECT privstat.unprotect('ul_sales');
DROP TABLE ul_sales;
DROP ROLE bench_ul_analyst;
\o
