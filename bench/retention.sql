-- Benchmark of issue "Retention": purging 1M expired rows out of 2M, with an
-- index on the timestamp, against one DELETE ... WHERE ts < cutoff; and the
-- longest batch (the longest any purge transaction holds its locks).
-- Run by bench/run.sh with -v rows=N (default 2,000,000: half expired).
\set QUIET on
\pset footer off
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS privstat;

-- events as an application appends them: in time order over 60 days, so
-- the older half is past a 30-day rule
CREATE TABLE ret_a (id bigint, at timestamptz, payload text);
INSERT INTO ret_a SELECT g, now() - interval '60 days' + g * (interval '60 days' / :rows), 'row ' || g
	FROM generate_series(1, :rows) g;
CREATE INDEX ON ret_a (at);
CREATE TABLE ret_b AS SELECT * FROM ret_a;
CREATE INDEX ON ret_b (at);
CREATE TABLE ret_c AS SELECT * FROM ret_a;
CREATE INDEX ON ret_c (at);
VACUUM ANALYZE ret_a, ret_b, ret_c;
SELECT privstat.set_retention('ret_a', 'at', '30 days');
SELECT privstat.set_retention('ret_c', 'at', '30 days');

-- each timed step starts after a checkpoint, so none pays for another's writes
CHECKPOINT;
\timing on
\echo '-- one DELETE'
DELETE FROM ret_b WHERE at < now() - interval '30 days';
\timing off
CHECKPOINT;
\timing on
\echo '-- CALL privstat.purge_expired (batches of 10,000, a transaction each)'
CALL privstat.purge_expired('ret_a', 10000);
\timing off
CHECKPOINT;
\timing on
\echo '-- CALL privstat.purge_expired (batches of 50,000)'
CALL privstat.purge_expired('ret_c', 50000);
\timing off

\echo
\echo '== retention purge of half of' :rows 'rows (targets: total <= 1.5x one DELETE; longest batch < 1 s)'
SELECT tbl AS purged_table, count(*) AS batches, sum(rows) AS rows_purged,
       round(extract(epoch FROM max(at) - min(at))::numeric * 1000, 1) AS purge_span_ms,
       round(max(gap_ms)::numeric, 1) AS longest_batch_ms
FROM (SELECT tbl, rows, at, extract(epoch FROM at - lag(at) OVER (PARTITION BY tbl ORDER BY at)) * 1000 AS gap_ms
      FROM privstat.purge_log WHERE tbl IN ('ret_a'::regclass, 'ret_c'::regclass)) b
GROUP BY tbl ORDER BY tbl;
