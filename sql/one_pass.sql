--
-- One-pass bounding (src/policy/fused.c): a restricted role's grouped
-- count, sum, avg and count of units run through privstat's bounding node,
-- and give what the three-level SQL rewrite gives (privstat.one_pass_bounding
-- = off).  Every query runs in both ways.  Noisy answers are shown only as
-- comparisons with margins of at least 20 noise scales, and the random choice
-- of groups with margins of at least 9 standard deviations: each line fails
-- falsely with probability below 1e-9.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS privstat;
RESET client_min_messages;
SET max_parallel_workers_per_gather = 0;

CREATE ROLE op_analyst;
-- 3,000 users; user u has rows on days 1 .. (u % 5) + 1 (600 users each with
-- 1 to 5 days), two rows a day: an amount of 10 and a NULL, except users with
-- u % 7 = 0, whose amounts are all NULL.  grp: NULL for u % 4 = 0, else
-- 'g' || u % 3, the same on all of a user's rows.  Also 50 rows with no user
-- (the NULL unit, one unit) and an amount beyond the double range.
CREATE TABLE op_events (uid int, day int, grp text, amount numeric, flag boolean);
INSERT INTO op_events
	SELECT u, d, CASE WHEN u % 4 = 0 THEN NULL ELSE 'g' || u % 3 END,
		   CASE WHEN r = 1 AND u % 7 <> 0 THEN 10 END, r = 1
	FROM generate_series(1, 3000) u, generate_series(1, 5) d, generate_series(1, 2) r
	WHERE d <= u % 5 + 1;
INSERT INTO op_events SELECT NULL, 1, 'g1', 10, true FROM generate_series(1, 50);
INSERT INTO op_events VALUES (99999, 1, 'g1', 1e400, true);
ANALYZE op_events;
SELECT privstat.protect('op_events', 'uid', max_groups_contributed => 3, max_rows_contributed => 1);
SELECT privstat.set_bounds('op_events', 'amount', 0, 100);
SELECT privstat.set_access('op_analyst', 'aggregate');
SELECT privstat.set_budget('op_analyst', 1e6, 1);
GRANT USAGE ON SCHEMA privstat TO op_analyst;

-- what bounding keeps, exactly: each user counts on 3 of its days at most,
-- each day a user keeps with probability min(1, 3 / days)
CREATE TABLE op_expected AS
	SELECT d AS day,
		   sum(LEAST(1.0, 3.0 / (u % 5 + 1))) AS people,
		   sum(LEAST(1.0, 3.0 / (u % 5 + 1))) FILTER (WHERE u % 7 <> 0) AS with_amount
	FROM generate_series(1, 3000) u, generate_series(1, 5) d
	WHERE d <= u % 5 + 1 GROUP BY d;
GRANT SELECT ON op_expected TO op_analyst;
SELECT day, people, round(with_amount) AS with_amount FROM op_expected ORDER BY day;

CREATE FUNCTION op_spent() RETURNS double precision LANGUAGE sql AS
	$$SELECT epsilon_spent FROM privstat.budget_status WHERE role = 'op_analyst'::regrole$$;

-- == the plan: one Custom Scan, or the three levels ==
SET ROLE op_analyst;
EXPLAIN (COSTS OFF) SELECT day, count(*) FROM op_events GROUP BY day;
RESET ROLE;
SET privstat.one_pass_bounding = off;
SET ROLE op_analyst;
EXPLAIN (COSTS OFF) SELECT day, count(*) FROM op_events GROUP BY day;
RESET ROLE;
RESET privstat.one_pass_bounding;
-- only a superuser changes the way
SET ROLE op_analyst;
SET privstat.one_pass_bounding = off;
RESET ROLE;

-- == the same answers, both ways ==
CREATE FUNCTION op_check(way boolean) RETURNS TABLE (check_name text, ok boolean)
LANGUAGE plpgsql AS $fn$
BEGIN
	PERFORM set_config('privstat.one_pass_bounding', way::text, true);
	SET LOCAL ROLE op_analyst;
	-- counts per day: the random choice is uniform (a "first days" choice
	-- would give day 1 3,000 and day 5 none); binomial sd <= 17, noise scale 3
	RETURN QUERY SELECT 'count per day', bool_and(abs(n - e.people) < 150)
		FROM (SELECT day, count(*) AS n FROM op_events GROUP BY day) s JOIN op_expected e USING (day);
	-- the total over days is exact but for noise: 7,200 kept pairs, the
	-- NULL unit and user 99999
	RETURN QUERY SELECT 'total of counts', abs(sum(n) - 7202) < 100
		FROM (SELECT day, count(*) AS n FROM op_events GROUP BY day) s;
	RETURN QUERY SELECT 'count with filter', bool_and(abs(n - e.people) < 150)
		FROM (SELECT day, count(*) FILTER (WHERE flag) AS n FROM op_events GROUP BY day) s
		JOIN op_expected e USING (day);
	RETURN QUERY SELECT 'count of people', bool_and(abs(n - e.people) < 150)
		FROM (SELECT day, count(DISTINCT uid) AS n FROM op_events GROUP BY day) s
		JOIN op_expected e USING (day);
	-- count(amount): users whose amounts are all NULL count 0
	RETURN QUERY SELECT 'count of values', bool_and(abs(n - e.with_amount) < 150)
		FROM (SELECT day, count(amount) AS n FROM op_events GROUP BY day) s
		JOIN op_expected e USING (day);
	-- sums: 10 per kept pair with a value; a NULL adds nothing (noise scale
	-- 3 * 100 / 10 = 30)
	RETURN QUERY SELECT 'sum of values', bool_and(abs(s.total - 10 * e.with_amount) < 1000)
		FROM (SELECT day, privstat.dp_sum(amount, 0, 100, 10) AS total FROM op_events GROUP BY day) s
		JOIN op_expected e USING (day);
	RETURN QUERY SELECT 'avg of values', bool_and(a BETWEEN 9 AND 11)
		FROM (SELECT day, privstat.dp_avg(amount, 0, 100, 10) AS a FROM op_events GROUP BY day) s;
	-- a DP HAVING: days 1 to 3 (at least 1,410 people), not 4 and 5 (at most 810)
	RETURN QUERY SELECT 'having', array_agg(day ORDER BY day) = '{1,2,3}'
		FROM (SELECT day FROM op_events GROUP BY day HAVING count(*) > 1100) s;
	-- a text key with a NULL group: 750 users in each of NULL, g0, g1, g2
	RETURN QUERY SELECT 'text key and NULL group',
		count(*) = 4 AND bool_and(abs(n - 750) < 150) AND bool_or(grp IS NULL)
		FROM (SELECT grp, count(*) AS n FROM op_events WHERE uid IS NOT NULL AND uid < 99999
			  GROUP BY grp) s;
	-- two keys (days 1 to 3: at least 1,209 / 4 people with amounts in
	-- each of the 12 groups), and an expression of aggregates
	RETURN QUERY SELECT 'two keys', count(*) = 12 AND bool_and(r BETWEEN 9 AND 11)
		FROM (SELECT day, grp, round(privstat.dp_sum(amount, 0, 100, 10) / NULLIF(count(amount), 0)) AS r
			  FROM op_events WHERE uid IS NOT NULL AND uid < 99999 AND day <= 3 GROUP BY day, grp
			  HAVING count(amount) > 100) s;
	RESET ROLE;
END
$fn$;
SELECT * FROM op_check(true);
SELECT * FROM op_check(false);
-- with 64 kB of hash memory the node holds about a thousand people at a
-- time: the others' rows wait, by partition, for passes of their own
SET work_mem = '64kB';
SET hash_mem_multiplier = 1;
SELECT * FROM op_check(true);
RESET work_mem;
RESET hash_mem_multiplier;

-- == consistent answers (an ungrouped query, bounded per person): no
-- negative count or sum of amounts in [0, 100] over no rows (noise scale 1
-- and 100 at epsilon 1: raw, over 100 runs, some negative, except with
-- probability below 1e-13) ==
CREATE FUNCTION op_consistent(consistent boolean, OUT negative_counts int, OUT negative_sums int)
LANGUAGE plpgsql AS $fn$
DECLARE
	c bigint;
	s numeric;
BEGIN
	PERFORM set_config('privstat.consistent_answers', consistent::text, true);
	SET LOCAL ROLE op_analyst;
	negative_counts := 0;
	negative_sums := 0;
	FOR r IN 1..100 LOOP
		SELECT count(*), sum(amount) INTO c, s FROM op_events WHERE uid < 0;
		negative_counts := negative_counts + (c < 0)::int;
		negative_sums := negative_sums + (s < 0)::int;
	END LOOP;
	RESET ROLE;
END
$fn$;
SELECT negative_counts = 0 AS none, negative_sums = 0 AS none_summed FROM op_consistent(true);
SELECT negative_counts > 0 AS some, negative_sums > 0 AS some_summed FROM op_consistent(false);
DROP FUNCTION op_consistent(boolean);

-- == a sum beside a count of the same rows, bounded per person: within
-- [count * 0, count * 100] (each person's total is its clamped amounts over
-- the min(n, m) rows it counts).  Sums at epsilon 0.001 (noise scale 1e5
-- ungrouped, 3e5 grouped with k = 3) over users u % 5 = 0 (day 1) and, grouped,
-- u % 5 = 4 too (days 1 to 5, 3 kept): counts of about 360 to 900 per
-- answer.  Raw, a sum lands within count * 100 with probability below 0.35
-- per answer, so all 25 ungrouped answers, or all 25 grouped rows (5 days in
-- each of 5 runs, each released but with probability below 1e-9), with
-- probability below 1e-11; consistent, always ==
CREATE FUNCTION op_sum_within(consistent boolean, OUT ungrouped int, OUT grouped int, OUT grouped_rows int)
LANGUAGE plpgsql AS $fn$
DECLARE
	ok boolean;
BEGIN
	PERFORM set_config('privstat.consistent_answers', consistent::text, true);
	SET LOCAL ROLE op_analyst;
	ungrouped := 0;
	grouped := 0;
	grouped_rows := 0;
	FOR r IN 1..25 LOOP
		EXECUTE 'SELECT s BETWEEN c * 0 AND c * 100 FROM (SELECT count(amount) AS c,
			privstat.dp_sum(amount, 0, 100, 0.001) AS s FROM op_events WHERE uid % 5 = 0) q' INTO ok;
		ungrouped := ungrouped + ok::int;
	END LOOP;
	FOR r IN 1..5 LOOP
		SELECT grouped + count(*) FILTER (WHERE s BETWEEN c * 0 AND c * 100), grouped_rows + count(*)
			INTO grouped, grouped_rows
			FROM (SELECT day, count(amount) AS c, privstat.dp_sum(amount, 0, 100, 0.001) AS s
				  FROM op_events WHERE uid % 5 = 0 OR uid % 5 = 4 GROUP BY day) q;
	END LOOP;
	RESET ROLE;
END
$fn$;
SELECT ungrouped = 25 AS all_within, grouped = grouped_rows AS all_grouped_within, grouped_rows >= 5 AS groups_released
	FROM op_sum_within(true);
SELECT ungrouped < 25 AS some_outside, grouped < grouped_rows AS some_grouped_outside FROM op_sum_within(false);
DROP FUNCTION op_sum_within(boolean);

-- == error bounds in a bounded query describe its releases: k m = 3 here
-- (grouped), 1 without GROUP BY; and the bounds a dashboard can show ==
SELECT privstat.dp_count_error(1.0 / 3) AS count_pm, privstat.dp_sum_error(0, 300, 10) AS sum_pm,
	   privstat.dp_avg_error(0, 100, 1000, 10.0 / 3) AS avg_pm,
	   privstat.dp_count_error(1.0) AS ungrouped_count_pm \gset
SET ROLE op_analyst;
SELECT bool_and(count_pm = :count_pm) AS count_ok, bool_and(sum_pm = :sum_pm) AS sum_ok,
	   bool_and(abs(avg_pm - :avg_pm) < 1e-12) AS avg_ok
	FROM (SELECT day, count(*) AS n, privstat.dp_count_error() AS count_pm,
				 privstat.dp_sum(amount, 0, 100, 10) AS total, privstat.dp_sum_error(0, 100, 10) AS sum_pm,
				 privstat.dp_avg_error(0, 100, 1000, 10) AS avg_pm
		  FROM op_events GROUP BY day) s;
SELECT count_pm = :ungrouped_count_pm AS ungrouped_ok
	FROM (SELECT count(*) AS n, privstat.dp_count_error() AS count_pm FROM op_events) s;
SELECT * FROM privstat.contribution_bounds('op_events');
SET privstat.max_groups_contributed = 2;
SELECT * FROM privstat.contribution_bounds('op_events');
RESET privstat.max_groups_contributed;
SELECT * FROM privstat.contribution_bounds('op_expected') AS unprotected;
-- beside the aggregates, as a dashboard writes it
SELECT bool_and(k = 3) AS shown FROM (SELECT day, count(*) AS n,
	(privstat.contribution_bounds('op_events')).max_groups_contributed AS k FROM op_events GROUP BY day) s;
RESET ROLE;

-- == the same charge, both ways: the aggregates a query reads (one for a
-- count of the released days, which reads only the group selection; three
-- when it reads the count and the sum too) ==
SELECT op_spent() AS before \gset
SET ROLE op_analyst;
SELECT count(*) > 0 AS answered FROM (SELECT day, count(*), sum(amount) FROM op_events GROUP BY day) s;
SELECT count(*) > 0 AS answered FROM (SELECT day, count(*) AS n, sum(amount) AS t FROM op_events GROUP BY day) s
	WHERE n IS NOT NULL AND t IS NOT NULL;
RESET ROLE;
SELECT op_spent() AS after_one \gset
SET privstat.one_pass_bounding = off;
SET ROLE op_analyst;
SELECT count(*) > 0 AS answered FROM (SELECT day, count(*), sum(amount) FROM op_events GROUP BY day) s;
SELECT count(*) > 0 AS answered FROM (SELECT day, count(*) AS n, sum(amount) AS t FROM op_events GROUP BY day) s
	WHERE n IS NOT NULL AND t IS NOT NULL;
RESET ROLE;
RESET privstat.one_pass_bounding;
SELECT op_spent() AS after_three \gset
SELECT :after_one - :before AS one_pass, :after_three - :after_one AS three_levels;
SET ROLE op_analyst;
SELECT epsilon, delta, dp_aggregates FROM privstat.dp_cost('SELECT day, count(*), sum(amount) FROM op_events GROUP BY day');
RESET ROLE;
SET privstat.one_pass_bounding = off;
SET ROLE op_analyst;
SELECT epsilon, delta, dp_aggregates FROM privstat.dp_cost('SELECT day, count(*), sum(amount) FROM op_events GROUP BY day');
RESET ROLE;
RESET privstat.one_pass_bounding;

-- == a scrollable cursor reads the released groups again; it never releases
-- again (charged epsilon 2: the count and the group selection) ==
SELECT op_spent() AS before \gset
BEGIN;
SET LOCAL ROLE op_analyst;
DECLARE c SCROLL CURSOR FOR SELECT day, count(*) FROM op_events GROUP BY day;
MOVE FORWARD ALL IN c;
MOVE BACKWARD ALL IN c;
MOVE FORWARD ALL IN c;
COMMIT;
SELECT op_spent() - :before AS charged_once;

-- == prepared statements: custom and generic plans ==
SET ROLE op_analyst;
PREPARE op_q(int) AS SELECT day, count(*) > 0 AS answered FROM op_events WHERE day >= $1 GROUP BY day ORDER BY day;
EXECUTE op_q(4);
SET plan_cache_mode = force_generic_plan;
EXECUTE op_q(4);
RESET plan_cache_mode;
DEALLOCATE op_q;

-- == a query that reads only the days: its aggregates are in HAVING, and the
-- group selection keeps its marker (all five days have at least 360 people) ==
SELECT count(*) AS days_released FROM (SELECT day FROM op_events GROUP BY day HAVING count(*) > 200) s;
EXPLAIN (COSTS OFF) SELECT count(*) FROM (SELECT day FROM op_events GROUP BY day HAVING count(*) > 200) s;

-- == what stays with the three levels: percentiles, and more than 256 groups per unit ==
EXPLAIN (COSTS OFF) SELECT day, privstat.dp_median(amount, 0, 100) FROM op_events GROUP BY day;
RESET ROLE;
CREATE TABLE op_wide (uid int, day int);
SELECT privstat.protect('op_wide', 'uid', max_groups_contributed => 300);
SET ROLE op_analyst;
EXPLAIN (COSTS OFF) SELECT day, count(*) FROM op_wide GROUP BY day;

-- == a join of tables with different bounds: the smallest apply, and a
-- notice says so, once per statement; equal bounds (a self-join): none ==
SELECT count(*) >= 0 AS answered FROM op_events e JOIN op_wide w ON e.uid = w.uid;
SELECT e.day, count(*) >= 0 AS answered FROM op_events e JOIN op_wide w ON e.uid = w.uid
	JOIN (SELECT uid FROM op_wide) x ON x.uid = e.uid GROUP BY e.day;
SELECT count(*) >= 0 AS answered FROM op_events e JOIN op_events f ON e.uid = f.uid;

-- == GROUP BY columns that depend on a grouped primary key (PostgreSQL drops
-- them from the grouping): carried with their group, both ways ==
RESET ROLE;
CREATE TABLE op_days (id int PRIMARY KEY, name text);
INSERT INTO op_days SELECT d, 'day ' || d FROM generate_series(1, 5) d;
GRANT SELECT ON op_days TO op_analyst;
SET ROLE op_analyst;
SELECT d.id, d.name, count(*) > 0 AS answered
	FROM op_events e JOIN op_days d ON e.day = d.id GROUP BY d.id, d.name ORDER BY d.id;
RESET ROLE;
SET privstat.one_pass_bounding = off;
SET ROLE op_analyst;
SELECT d.id, d.name, count(*) > 0 AS answered
	FROM op_events e JOIN op_days d ON e.day = d.id GROUP BY d.id, d.name ORDER BY d.id;
RESET ROLE;
RESET privstat.one_pass_bounding;
SET ROLE op_analyst;

-- == the markers are the node's, never called ==
SELECT privstat._bounded_count(1, 1, 1, true);
-- written by hand in a grouped query (here over a table that is not
-- protected, after a bounded query in the same session): still a call, refused
SELECT day, count(*) > 0 AS answered FROM op_events GROUP BY day ORDER BY day LIMIT 1;
SELECT id, privstat.dp_sum(privstat._bounded_count(1, 1, id, true), 0, 1, 1) FROM op_days GROUP BY id;
RESET ROLE;
SELECT privstat._bounded_count(1, 1, 1, true);
SELECT privstat._bounded_value(1, 1, 0, 1, 1, true);

-- == parallel: the node reads a Gather's rows ==
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET ROLE op_analyst;
EXPLAIN (COSTS OFF) SELECT day, count(*) FROM op_events GROUP BY day;
SELECT abs(sum(n) - 7202) < 100 AS total_ok FROM (SELECT day, count(*) AS n FROM op_events GROUP BY day) s;
RESET ROLE;
RESET max_parallel_workers_per_gather;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;

-- == bounds suggested from data, privately: DP percentiles of one value per
-- person, charged to the caller (here the superuser, with the unlimited
-- budget dp_agg.sql gave it: the charge is read as a difference).  Days per
-- person are 1 to 5, 600 people each (90% have at most 5); rows per person
-- and day 2; amounts 10 (and one beyond the double range) ==
SELECT privstat.set_budget(current_user::regrole, 'infinity');
SELECT epsilon_spent AS before FROM privstat.budget_status WHERE role = current_user::regrole \gset
SELECT max_groups_contributed BETWEEN 4 AND 6 AS groups_ok, max_rows_contributed BETWEEN 2 AND 3 AS rows_ok,
	   epsilon_spent FROM privstat.suggest_contribution_bounds('op_events', 'day', coverage => 0.9, epsilon => 1);
SELECT max_groups_contributed, max_rows_contributed BETWEEN 10 AND 14 AS rows_ok
	FROM privstat.suggest_contribution_bounds('op_events');
SELECT lower, upper BETWEEN 10 AND 16 AS upper_ok, epsilon_spent FROM privstat.suggest_bounds('op_events', 'amount');
SELECT epsilon_spent - :before AS charged FROM privstat.budget_status WHERE role = current_user::regrole;
-- errors
SELECT * FROM privstat.suggest_bounds('op_expected', 'people');
SELECT * FROM privstat.suggest_bounds('op_events', 'nope');
SELECT * FROM privstat.suggest_bounds('op_events', 'grp');
SELECT * FROM privstat.suggest_bounds('op_events', 'amount', coverage => 1);
SELECT * FROM privstat.suggest_contribution_bounds('op_events', 'day', time_bucket => 'fortnight');
SELECT * FROM privstat.suggest_contribution_bounds('op_events', time_bucket => 'day');
SET ROLE op_analyst;
SELECT * FROM privstat.suggest_bounds('op_events', 'amount');
RESET ROLE;

-- == a protected table that privstat_reader may no longer read (a restore
-- with pg_restore -x, a REVOKE): a clear error, and protect() again mends it ==
REVOKE SELECT ON op_events FROM privstat_reader;
SET ROLE op_analyst;
SELECT count(*) > 0 AS answered FROM op_events;
RESET ROLE;
SELECT privstat.protect('op_events', 'uid', max_groups_contributed => 3, max_rows_contributed => 1);
SET ROLE op_analyst;
SELECT count(*) > 0 AS answered FROM op_events;
RESET ROLE;

-- cleanup
SELECT privstat.unprotect('op_events');
SELECT privstat.unprotect('op_wide');
DROP TABLE op_events, op_wide, op_expected, op_days;
DROP FUNCTION op_check(boolean), op_spent();
SELECT privstat.set_access('op_analyst', 'direct');
SELECT privstat.reset_budget('op_analyst');
REVOKE USAGE ON SCHEMA privstat FROM op_analyst;
DROP ROLE op_analyst;
