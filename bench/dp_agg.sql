-- Benchmarks of issue "DP aggregates": dp_count/dp_sum/dp_avg/dp_median
-- against count/sum/avg/percentile_cont on :rows rows, serial and with 2
-- parallel workers.  Run by bench/run.sh with -v rows=N.
\set QUIET on
\pset footer off
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS privstat;
SELECT privstat.set_budget(current_user::regrole, 'infinity');

\ir common.sql

CREATE TABLE facts AS
	SELECT g::bigint AS v, (g % 1000)::float8 AS f FROM generate_series(1, :rows) g;
VACUUM ANALYZE facts;

CREATE TEMP TABLE results (benchmark text, workers int, privstat_ms float8, postgres_ms float8, target float8);

CREATE FUNCTION run_all(workers int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
	PERFORM set_config('max_parallel_workers_per_gather', workers::text, false);
	PERFORM set_config('parallel_setup_cost', '0', false);
	PERFORM set_config('parallel_tuple_cost', '0', false);
	SELECT * INTO r FROM bench_pair('SELECT privstat.dp_count(*) FROM facts', 'SELECT count(*) FROM facts', 5);
	INSERT INTO results VALUES ('dp_count(*) vs count(*)', workers, r.ms1, r.ms2, 1.10);
	SELECT * INTO r FROM bench_pair('SELECT privstat.dp_sum(v, 0, 100000000) FROM facts', 'SELECT sum(v) FROM facts', 5);
	INSERT INTO results VALUES ('dp_sum(bigint) vs sum(bigint)', workers, r.ms1, r.ms2, 1.25);
	SELECT * INTO r FROM bench_pair('SELECT privstat.dp_avg(v, 0, 100000000) FROM facts', 'SELECT avg(v) FROM facts', 5);
	INSERT INTO results VALUES ('dp_avg(bigint) vs avg(bigint)', workers, r.ms1, r.ms2, 1.25);
	SELECT * INTO r FROM bench_pair('SELECT privstat.dp_median(f, 0, 1000) FROM facts',
	                                'SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY f) FROM facts', 3);
	INSERT INTO results VALUES ('dp_median vs percentile_cont(0.5)', workers, r.ms1, r.ms2, 2.0);
END $$;

SELECT run_all(0);
SELECT run_all(2);

\echo
\echo '== DP aggregates on' :rows 'rows (ratio = privstat / PostgreSQL; target: ratio <= target)'
SELECT benchmark, workers, round(privstat_ms::numeric, 1) AS privstat_ms,
       round(postgres_ms::numeric, 1) AS postgres_ms,
       round((privstat_ms / postgres_ms)::numeric, 2) AS ratio, target
FROM results ORDER BY benchmark, workers;
