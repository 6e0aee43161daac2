-- Benchmark of issue "Row-level rules": a purpose filter over :rows rows,
-- privstat's consent rule against an equivalent hand-written CREATE POLICY
-- on an identical copy of the data, read by the same non-owner role with
-- the purpose granted and declared.  Target: privstat within 1.2x.
--  - rp_consent: privstat.set_consent(tbl, 'consent'); row security turned
--    on by privstat, its permissive all-rows policy and its restrictive
--    policy privstat._consent_ok(consent) (C, STABLE, LEAKPROOF, PARALLEL SAFE)
--  - rp_manual: row security on, and one hand-written policy, first
--      USING (consent @> ARRAY[current_setting('privstat.purpose')])
--    the equivalent (like privstat's rule it follows SET privstat.purpose at
--    run time, and sees no row without consent (NULL)), then
--      USING (consent @> '{marketing}')
--    a constant a DBA would write for one purpose only: the fastest
--    hand-written form, for comparison.
-- Queries: count(*), count(*) with a cheap user WHERE, and a GROUP BY with
-- count and sum.  With the WHERE, the order of the scan's filter matters:
-- the planner runs a cheap leakproof user qual (amount < 20, cost 1) before
-- a row security qual that costs more (order_qual_clauses), and the plans
-- shown say which runs first.  Wall time, median of :runs runs per table,
-- the two tables alternating (ABBA), 2 parallel workers; the plans are
-- shown with the workers launched.  jit stays on (the default) for both.
-- Run by bench/run.sh with -v rows=N (default 10,000,000).
\set QUIET on
\pset footer off
SET client_min_messages = warning;
\ir common.sql
CREATE EXTENSION IF NOT EXISTS privstat;
\if :{?runs}
\else
\set runs 7
\endif
\o /dev/null

CREATE ROLE bench_rp_owner;				-- owns both tables
GRANT privstat_admin TO bench_rp_owner;
GRANT CREATE ON SCHEMA public TO bench_rp_owner;
CREATE ROLE bench_rp_reader;			-- reads them, for the purpose 'marketing'
SELECT privstat.grant_purpose('bench_rp_reader', 'marketing');

SET ROLE bench_rp_owner;
-- :rows people; 10 regions; amount 0..99; consent among 4 purposes, in 20
-- buckets of 5% (scattered over the table): 5% NULL (never asked), 10% empty
-- (withdrew everything), 25% one purpose, 35% two, 25% three; 'marketing'
-- in 8 buckets (40%), first, second or third in its array
CREATE TABLE rp_consent (id int, region int, amount int, consent text[]);
INSERT INTO rp_consent
	SELECT g, g % 10, (g::bigint * 17 % 100)::int,
		   CASE (g::bigint * 7919 % 100)::int / 5
				WHEN 0 THEN NULL
				WHEN 1 THEN '{}'
				WHEN 2 THEN '{}'
				WHEN 3 THEN '{analytics}'
				WHEN 4 THEN '{marketing}'
				WHEN 5 THEN '{research}'
				WHEN 6 THEN '{personalization}'
				WHEN 7 THEN '{analytics}'
				WHEN 8 THEN '{analytics,marketing}'
				WHEN 9 THEN '{analytics,personalization}'
				WHEN 10 THEN '{marketing,personalization}'
				WHEN 11 THEN '{analytics,research}'
				WHEN 12 THEN '{analytics,marketing}'
				WHEN 13 THEN '{personalization,research}'
				WHEN 14 THEN '{analytics,marketing,personalization}'
				WHEN 15 THEN '{analytics,personalization,research}'
				WHEN 16 THEN '{analytics,personalization,marketing}'
				WHEN 17 THEN '{marketing,personalization,research}'
				WHEN 18 THEN '{research,marketing}'
				ELSE '{analytics,research}'
		   END::text[]
	FROM generate_series(1, :rows) g;
CREATE TABLE rp_manual AS SELECT * FROM rp_consent;
VACUUM (FREEZE, ANALYZE) rp_consent, rp_manual;
GRANT SELECT ON rp_consent, rp_manual TO bench_rp_reader;
SELECT privstat.set_consent('rp_consent', 'consent');
ALTER TABLE rp_manual ENABLE ROW LEVEL SECURITY;
CREATE POLICY rp_purpose ON rp_manual FOR SELECT TO bench_rp_reader
	USING (consent @> ARRAY[current_setting('privstat.purpose')]);
RESET ROLE;
-- the purpose is declared as the reader (its check hook checks the grant)
SET ROLE bench_rp_reader;
SET privstat.purpose = 'marketing';
RESET ROLE;
SET max_parallel_workers_per_gather = 2;
\o

-- the plan of q as role r, run (EXPLAIN ANALYZE), one line: its nodes from
-- the top, workers planned/launched, and the scan's filter
CREATE FUNCTION rp_plan(q text, r text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	line text;
	s text;
BEGIN
	PERFORM set_config('role', r, false);
	FOR line IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q LOOP
		line := regexp_replace(line, '\s*\(actual rows=.*\)$', '');
		IF s IS NULL THEN
			s := line;
		ELSIF line ~ '->' THEN
			s := s || ' > ' || regexp_replace(line, '^.*->\s*', '');
		ELSIF line ~ 'Workers (Planned|Launched)' THEN
			s := s || ' (' || lower(trim(line)) || ')';
		ELSIF line ~ '^\s*Filter:' THEN
			s := s || ' [' || trim(line) || ']';
		END IF;
	END LOOP;
	RESET ROLE;
	RETURN s;
END $$;

-- the rows a query returns as role r, to check both tables show the same
CREATE FUNCTION rp_result(q text, r text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	s text;
BEGIN
	PERFORM set_config('role', r, false);
	EXECUTE 'SELECT string_agg(x::text, '' '' ORDER BY x::text) FROM (' || q || ') x' INTO s;
	RESET ROLE;
	RETURN md5(s);
END $$;

CREATE TEMP TABLE rp_results (id serial, benchmark text, baseline text, privstat_ms float8,
							  manual_ms float8, same_rows bool);

CREATE FUNCTION rp_run_all(baseline text, n int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	q record;
	r record;
BEGIN
	FOR q IN SELECT * FROM (VALUES (1, 'count(*)', $q$SELECT count(*) FROM %s$q$),
								   (2, 'count(*) WHERE amount < 20', $q$SELECT count(*) FROM %s WHERE amount < 20$q$),
								   (3, 'GROUP BY region, count(*), sum(amount)',
									$q$SELECT region, count(*), sum(amount) FROM %s GROUP BY region$q$)) v(i, name, sql)
			 ORDER BY i LOOP
		SELECT * INTO r FROM bench_pair_as(format(q.sql, 'rp_consent'), 'bench_rp_reader',
										  format(q.sql, 'rp_manual'), 'bench_rp_reader', n);
		INSERT INTO rp_results (benchmark, baseline, privstat_ms, manual_ms, same_rows)
			VALUES (q.name, baseline, r.ms1, r.ms2,
					rp_result(format(q.sql, 'rp_consent'), 'bench_rp_reader') =
					rp_result(format(q.sql, 'rp_manual'), 'bench_rp_reader'));
	END LOOP;
END $$;

\o /dev/null
-- 1. against the equivalent: the purpose read at run time
SELECT rp_run_all('current_setting', :runs);
CREATE TEMP TABLE rp_plans (i int, query text, policy text, plan text);
CREATE FUNCTION rp_add_plans(policy text, t text, base int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO rp_plans VALUES
		(base, 'count(*)', policy, rp_plan(format('SELECT count(*) FROM %s', t), 'bench_rp_reader')),
		(base + 10, 'WHERE amount < 20', policy,
		 rp_plan(format('SELECT count(*) FROM %s WHERE amount < 20', t), 'bench_rp_reader')),
		(base + 20, 'GROUP BY', policy,
		 rp_plan(format('SELECT region, count(*), sum(amount) FROM %s GROUP BY region', t), 'bench_rp_reader'));
END $$;
SELECT rp_add_plans('privstat', 'rp_consent', 1), rp_add_plans('current_setting', 'rp_manual', 2);
-- 2. against a constant purpose
SET ROLE bench_rp_owner;
ALTER POLICY rp_purpose ON rp_manual USING (consent @> '{marketing}');
RESET ROLE;
SELECT rp_run_all('constant', :runs);
SELECT rp_add_plans('constant', 'rp_manual', 3);
\o

\echo
\echo '== row-level rules: a purpose filter (privstat.purpose = marketing, 40% of rows) over' :rows 'rows,'
\echo '   privstat.set_consent against a hand-written CREATE POLICY on a copy of the table, read by the same non-owner role'
\echo '   hand-written policies:  current_setting: USING (consent @> ARRAY[current_setting(''privstat.purpose'')])  (the equivalent)'
\echo '                           constant:        USING (consent @> ''{marketing}'')  (one fixed purpose, for comparison)'
\echo
SELECT query, policy, plan FROM rp_plans ORDER BY i;
\echo
SELECT pg_size_pretty(pg_table_size('rp_consent')) AS table_size, :rows AS rows,
	   (SELECT count(*) FROM rp_consent WHERE consent @> '{marketing}') AS visible_rows;
\echo 'wall time: medians of' :runs 'runs per table, alternating, max_parallel_workers_per_gather = 2; ratio = privstat / hand-written'
SELECT benchmark, baseline AS "hand-written",
	   round(privstat_ms::numeric, 1) || ' ms' AS privstat,
	   round(manual_ms::numeric, 1) || ' ms' AS "hand-written ms",
	   round((privstat_ms / manual_ms)::numeric, 3) || 'x' AS ratio,
	   CASE WHEN same_rows THEN 'yes' ELSE 'NO' END AS "same rows",
	   '<= 1.2x' AS target,
	   CASE WHEN privstat_ms / manual_ms <= 1.2 AND same_rows THEN 'PASS' ELSE 'MISS' END AS result
FROM rp_results ORDER BY baseline = 'constant', id;
SELECT CASE WHEN bool_and(privstat_ms / manual_ms <= 1.2 AND same_rows) THEN 'PASS' ELSE 'MISS' END
		   || ': privstat within 1.2x of the equivalent hand-written policy (worst ratio '
		   || round(max(privstat_ms / manual_ms)::numeric, 3) || 'x)' AS row_policy
FROM rp_results WHERE baseline = 'current_setting'
UNION ALL
SELECT CASE WHEN bool_and(privstat_ms / manual_ms <= 1.2 AND same_rows) THEN 'PASS' ELSE 'MISS' END
		   || ': privstat within 1.2x of the constant hand-written policy (worst ratio '
		   || round(max(privstat_ms / manual_ms)::numeric, 3) || 'x)'
FROM rp_results WHERE baseline = 'constant';
