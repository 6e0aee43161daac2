-- Benchmark of issue "Restricted roles": the time series a dashboard draws,
-- SELECT date_trunc('day', t), count(*) ... WHERE t >= DATE '...' GROUP BY 1,
-- over :rows rows from :rows / 10 people (100,000 at the default 1,000,000),
-- as a role at access level aggregate (validated, rewritten with privstat's
-- total date_trunc and date comparison, contributions bounded in one pass by
-- privstat's bounding node, groups selected, noise added) against the
-- tables' owner running the same SQL exactly; and the same bounded as three
-- levels of SQL, for comparison.  Target: at most 1.5x.  Also a month series with a time zone and
-- a sum of a product of two columns.  Median wall time of 7 runs each,
-- alternating.  Run by bench/run.sh timeseries [rows] (default 1,000,000).
\set QUIET on
\pset footer off
SET client_min_messages = warning;
\ir common.sql
CREATE EXTENSION IF NOT EXISTS privstat;
\o /dev/null
CREATE ROLE bench_ts_analyst;
SELECT privstat.set_access('bench_ts_analyst', 'aggregate');
SELECT privstat.set_budget('bench_ts_analyst', 'infinity', 1);
-- 10 events per person over one year; each person's events on 10 different days
CREATE TABLE ts_events (user_id int, amount numeric, qty int, created timestamptz);
INSERT INTO ts_events
	SELECT g % (:rows / 10), (g % 100)::numeric, g % 5,
		   '2025-01-01 00:00:00+00'::timestamptz + ((g::bigint * 7919) % 31536000) * interval '1 second'
	FROM generate_series(0, :rows - 1) g;
VACUUM ANALYZE ts_events;
SELECT privstat.protect('ts_events', 'user_id', max_groups_contributed => 10, max_rows_contributed => 1);
SELECT privstat.set_bounds('ts_events', 'amount', 0, 100);
SELECT privstat.set_bounds('ts_events', 'qty', 0, 4);
GRANT USAGE ON SCHEMA privstat TO bench_ts_analyst;
\o
\echo == time series as an aggregate role (privstat) vs the exact query of the tables owner
SELECT count(*) AS rows, count(DISTINCT user_id) AS people FROM ts_events;
SELECT 'daily count, date filter' AS query, round(ms1::numeric, 1) AS privstat_ms,
	   round(ms2::numeric, 1) AS owner_ms, round((ms1 / ms2)::numeric, 2) AS ratio, '<= 1.5' AS target
  FROM bench_pair_as(
	$q$SELECT date_trunc('day', created) AS day, count(*) FROM ts_events
		WHERE created >= DATE '2025-03-01' GROUP BY 1 ORDER BY 1$q$, 'bench_ts_analyst',
	$q$SELECT date_trunc('day', created) AS day, count(*) FROM ts_events
		WHERE created >= DATE '2025-03-01' GROUP BY 1 ORDER BY 1$q$, NULL, 7)
UNION ALL
SELECT 'monthly sum(amount * qty), Paris time', round(ms1::numeric, 1), round(ms2::numeric, 1),
	   round((ms1 / ms2)::numeric, 2), ''
  FROM bench_pair_as(
	$q$SELECT date_trunc('month', created, 'Europe/Paris') AS month, sum(amount * qty) FROM ts_events
		GROUP BY 1 ORDER BY 1$q$, 'bench_ts_analyst',
	$q$SELECT date_trunc('month', created, 'Europe/Paris') AS month, sum(amount * qty) FROM ts_events
		GROUP BY 1 ORDER BY 1$q$, NULL, 7);
\echo the same daily count bounded as three levels of SQL (privstat.one_pass_bounding = off)
SET privstat.one_pass_bounding = off;
SELECT 'daily count, three levels' AS query, round(ms1::numeric, 1) AS privstat_ms,
	   round(ms2::numeric, 1) AS owner_ms, round((ms1 / ms2)::numeric, 2) AS ratio
  FROM bench_pair_as(
	$q$SELECT date_trunc('day', created) AS day, count(*) FROM ts_events
		WHERE created >= DATE '2025-03-01' GROUP BY 1 ORDER BY 1$q$, 'bench_ts_analyst',
	$q$SELECT date_trunc('day', created) AS day, count(*) FROM ts_events
		WHERE created >= DATE '2025-03-01' GROUP BY 1 ORDER BY 1$q$, NULL, 7);
RESET privstat.one_pass_bounding;
\echo days released (of 306 from March 1)
SET ROLE bench_ts_analyst;
SELECT count(*) AS released FROM (SELECT date_trunc('day', created), count(*) FROM ts_events
	WHERE created >= DATE '2025-03-01' GROUP BY 1) s;
RESET ROLE;
\o /dev/null
SELECT privstat.reset_budget('bench_ts_analyst');
SELECT privstat.set_access('bench_ts_analyst', 'direct');
SELECT privstat.unprotect('ts_events');
DROP TABLE ts_events;
REVOKE USAGE ON SCHEMA privstat FROM bench_ts_analyst;
DROP ROLE bench_ts_analyst;
\o
