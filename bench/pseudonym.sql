-- Benchmarks of issue "Foundation": pseudonymize against pgcrypto's hmac(),
-- column size against a hex HMAC text column, hash joins on pseudonym
-- against uuid.  Run by bench/run.sh with -v rows=N.
\set QUIET on
\pset footer off
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS privstat;
CREATE EXTENSION pgcrypto;

\ir common.sql

CREATE TABLE vals AS SELECT 'user' || g || '@example.com' AS v FROM generate_series(1, :rows) g;
VACUUM ANALYZE vals;
SELECT privstat.pseudonymize('warm-up');

\echo
\echo '== pseudonymize over' :rows 'values vs encode(hmac(v, key, ''sha256''), ''hex'') (target: >= 4x faster)'
WITH r AS (
	SELECT * FROM bench_pair(
		'SELECT count(privstat.pseudonymize(v)) FROM vals',
		'SELECT count(encode(hmac(v, ''0123456789abcdef0123456789abcdef'', ''sha256''), ''hex'')) FROM vals', 5)),
     base AS (SELECT ms1 AS scan_ms FROM bench_pair('SELECT count(v) FROM vals', 'SELECT 1', 5))
SELECT round(ms1::numeric, 1) AS pseudonymize_ms,
       round(ms2::numeric, 1) AS pgcrypto_hmac_hex_ms,
       round((ms2 / ms1)::numeric, 2) AS speedup,
       round(((ms1 - scan_ms) * 1000 / :rows)::numeric, 3) AS pseudonymize_us_per_value,
       round(((ms2 - scan_ms) * 1000 / :rows)::numeric, 3) AS pgcrypto_us_per_value
FROM r, base;

\echo
\echo '== space: pseudonym column vs hex HMAC text column (target: <= 0.5x)'
CREATE TABLE p_col AS SELECT privstat.pseudonymize(v) AS k FROM vals;
CREATE TABLE h_col AS SELECT encode(hmac(v, '0123456789abcdef0123456789abcdef', 'sha256'), 'hex') AS k FROM vals;
VACUUM ANALYZE p_col, h_col;
SELECT (SELECT avg(pg_column_size(k)) FROM p_col)::numeric(6,1) AS pseudonym_bytes,
       (SELECT avg(pg_column_size(k)) FROM h_col)::numeric(6,1) AS hex_text_bytes,
       round((SELECT avg(pg_column_size(k)) FROM p_col) / (SELECT avg(pg_column_size(k)) FROM h_col), 2) AS column_ratio,
       pg_size_pretty(pg_table_size('p_col')) AS pseudonym_table,
       pg_size_pretty(pg_table_size('h_col')) AS hex_table,
       round(pg_table_size('p_col')::numeric / pg_table_size('h_col'), 2) AS table_ratio;

\echo
\echo '== hash join of two' :rows 'row tables: pseudonym vs uuid keys (target: <= 1.3x)'
CREATE TABLE p1 AS SELECT privstat.pseudonymize(g) AS k FROM generate_series(1, :rows) g;
CREATE TABLE p2 AS SELECT k FROM p1 ORDER BY md5(k::text);
CREATE TABLE u1 AS SELECT md5(g::text)::uuid AS k FROM generate_series(1, :rows) g;
CREATE TABLE u2 AS SELECT k FROM u1 ORDER BY md5(k::text);
VACUUM ANALYZE p1, p2, u1, u2;
SET enable_mergejoin = off;
SET enable_nestloop = off;
\echo 'plan (same shape for both):'
EXPLAIN (COSTS OFF) SELECT count(*) FROM p1 JOIN p2 USING (k);
SELECT round(ms1::numeric, 1) AS pseudonym_join_ms,
       round(ms2::numeric, 1) AS uuid_join_ms,
       round((ms1 / ms2)::numeric, 2) AS ratio
FROM bench_pair('SELECT count(*) FROM p1 JOIN p2 USING (k)',
                'SELECT count(*) FROM u1 JOIN u2 USING (k)', 5);
