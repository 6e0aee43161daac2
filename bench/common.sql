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

-- median wall time (ms) of q1 run as role r1 and of q2 run as role r2 (NULL:
-- the current role), n times each after one warm-up each, alternating
-- q1 q2 q2 q1 ... so that neither side always runs on warmer caches
CREATE OR REPLACE FUNCTION bench_pair_as(q1 text, r1 text, q2 text, r2 text, n int,
										 OUT ms1 float8, OUT ms2 float8)
LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz;
	a float8[] := '{}';
	b float8[] := '{}';
	first bool;
	me text := current_user;
BEGIN
	FOR i IN 1..(n + 1) * 2 LOOP
		first := (i % 4) IN (1, 0);
		PERFORM set_config('role', coalesce(CASE WHEN first THEN r1 ELSE r2 END, me), false);
		t0 := clock_timestamp();
		EXECUTE CASE WHEN first THEN q1 ELSE q2 END;
		CONTINUE WHEN i <= 2;
		IF first THEN a := a || extract(epoch FROM clock_timestamp() - t0) * 1000;
		ELSE b := b || extract(epoch FROM clock_timestamp() - t0) * 1000; END IF;
	END LOOP;
	PERFORM set_config('role', me, false);
	SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) INTO ms1 FROM unnest(a) x;
	SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) INTO ms2 FROM unnest(b) x;
END $$;

