-- The CPU cost of recording an audit event (issue #8: at most 20 us).
-- 20,000 configuration events (rows of privstat.purpose_grant) in one
-- transaction, committed (every event written: an event record and a text
-- record, each CRC'd and HMAC'd, under the trail's lock, then one flush) or
-- rolled back (the events are dropped unwritten).  The difference, per
-- event, is what writing an event costs; the one flush is spread over
-- 20,000 events.  Medians of 5 runs.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS privstat;
DROP ROLE IF EXISTS bench_audit_role;
CREATE ROLE bench_audit_role;
CREATE TEMP TABLE audit_runs (kind text, ms float8);
DO $bench$
DECLARE
	t0 timestamptz;
	n int := 20000;
BEGIN
	FOR r IN 1 .. 5 LOOP
		DELETE FROM privstat.purpose_grant WHERE role = 'bench_audit_role'::regrole;
		COMMIT;
		t0 := clock_timestamp();
		INSERT INTO privstat.purpose_grant SELECT 'bench_audit_role', 'p' || g FROM generate_series(1, n) g;
		ROLLBACK;
		INSERT INTO audit_runs VALUES ('rollback', extract(epoch FROM clock_timestamp() - t0) * 1000);
		COMMIT;
		t0 := clock_timestamp();
		INSERT INTO privstat.purpose_grant SELECT 'bench_audit_role', 'p' || g FROM generate_series(1, n) g;
		COMMIT;
		INSERT INTO audit_runs VALUES ('commit', extract(epoch FROM clock_timestamp() - t0) * 1000);
		COMMIT;
	END LOOP;
	DELETE FROM privstat.purpose_grant WHERE role = 'bench_audit_role'::regrole;
END
$bench$;
\echo
\echo '== audit trail: CPU cost of recording one event (target <= 20 us)'
SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE kind = 'rollback')::numeric, 1) AS rollback_ms,
	   round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE kind = 'commit')::numeric, 1) AS commit_ms,
	   round(((percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE kind = 'commit') -
			   percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE kind = 'rollback')) * 1000 / 20000)::numeric, 2)
		   AS us_per_event
  FROM audit_runs;
DROP ROLE bench_audit_role;
