-- Shared by the bench/*.sql scripts (\ir common.sql).

-- median wall time (ms) of each of two queries, run n times interleaved
CREATE OR REPLACE FUNCTION bench_pair(q1 text, q2 text, n int, OUT ms1 float8, OUT ms2 float8)
LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz;
	a float8[] := '{}';
	b float8[] := '{}';
BEGIN
	EXECUTE q1; EXECUTE q2;                       -- warm caches
	FOR i IN 1..n LOOP
		t0 := clock_timestamp(); EXECUTE q1;
		a := a || extract(epoch FROM clock_timestamp() - t0) * 1000;
		t0 := clock_timestamp(); EXECUTE q2;
		b := b || extract(epoch FROM clock_timestamp() - t0) * 1000;
	END LOOP;
	SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) INTO ms1 FROM unnest(a) x;
	SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) INTO ms2 FROM unnest(b) x;
END $$;
