--
-- User-level privacy: contribution bounding per privacy unit, DP group
-- selection and public groups (doc/user-level.md).  Noisy answers are shown
-- only as comparisons with margins of at least 20 noise scales, and the
-- random choice of groups with margins of at least 7 standard deviations:
-- each line fails falsely with probability below 1e-8.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS privstat;
RESET client_min_messages;
SET max_parallel_workers_per_gather = 0;

CREATE ROLE ul_analyst;
CREATE ROLE ul_nodelta;
GRANT CREATE ON SCHEMA public TO ul_analyst;
-- 3,000 users with 6 visits each: two in each of three of the five countries
-- c0..c4 (user u in c(u%5), c(u+1)%5 and c(u+2)%5), all of amount u % 21
-- (0..20, mean 10); and one user alone in country 'rare', with 50 visits.
CREATE TABLE visits (user_id int, country text, amount numeric);
INSERT INTO visits
	SELECT u, 'c' || ((u + j) % 5), u % 21 FROM generate_series(1, 3000) u, generate_series(0, 2) j,
		   generate_series(1, 2) r;
INSERT INTO visits SELECT 9999, 'rare', 10 FROM generate_series(1, 50);
-- and an amount beyond the double range: the rewrite must not fail on it (an
-- error would tell that the row exists)
INSERT INTO visits VALUES (9999, 'rare', 1e400);
CREATE TABLE profiles (user_id int, age int);
INSERT INTO profiles SELECT u, 20 + u % 50 FROM generate_series(1, 3000) u;
CREATE TABLE countries (name text, continent text);
INSERT INTO countries VALUES ('c0', 'north'), ('c1', 'north'), ('c2', 'south'), ('c3', 'south'),
	('c4', 'south'), ('rare', 'south');
GRANT SELECT ON countries TO ul_analyst;
ANALYZE visits;

-- protect: the defaults bound each user to one group and one row
SELECT privstat.protect('visits', 'user_id');
SELECT privstat.protect('profiles', 'user_id');
SELECT privstat.set_bounds('visits', 'amount', 0, 100);
SELECT privstat.set_bounds('profiles', 'age', 0, 120);
SELECT tbl, privacy_unit, max_groups_contributed, max_rows_contributed
	FROM privstat.protected_table ORDER BY tbl::text;
SELECT privstat.set_access('ul_analyst', 'aggregate');
SELECT privstat.set_access('ul_nodelta', 'aggregate');
SELECT privstat.set_budget('ul_analyst', 'infinity', 1);
SELECT privstat.set_budget('ul_nodelta', 'infinity');

-- bad contribution bounds
SELECT privstat.protect('visits', 'user_id', 0, 1);
SELECT privstat.protect('visits', 'user_id', 1, -5);
SELECT privstat.protect('visits', 'user_id', NULL, 1);

SET ROLE ul_analyst;
-- a group of one user is released with probability at most selection_delta
-- per query: 1e-9 keeps this file's false-failure rate far below 1e-6
SET privstat.selection_delta = 1e-9;
-- == one row per user: 18,051 rows, 3,001 users ==
-- count(*) counts at most one row per user (noise scale 1)
SELECT count(*) BETWEEN 3001 - 30 AND 3001 + 30 AS one_row_each FROM visits;
-- sum: the user's one counted row, clamped to [0, 100] (scale 100)
SELECT sum(amount) BETWEEN 30001 - 2500 AND 30001 + 2500 AS sum_ok FROM visits;
SELECT avg(amount) BETWEEN 9 AND 11 AS avg_ok FROM visits;
-- distinct users: count(DISTINCT unit) is dp_count_units, sensitivity 1
SELECT count(DISTINCT user_id) BETWEEN 3001 - 30 AND 3001 + 30 AS units_ok FROM visits;
SELECT privstat.dp_count_units(user_id, 0.5) BETWEEN 3001 - 60 AND 3001 + 60 AS units_ok FROM visits;
SELECT count(DISTINCT user_id) FILTER (WHERE country = 'c0') BETWEEN 1800 - 30 AND 1800 + 30 AS ok
	FROM visits;
-- other columns, and other arguments, are refused
SELECT count(DISTINCT country) FROM visits;
SELECT privstat.dp_count_units(country) FROM visits;

-- == GROUP BY: each user counts in one group, chosen at random ==
-- the five countries are released; 'rare', one user, is not (probability <= 1e-9)
SELECT country FROM visits GROUP BY country HAVING count(*) > 0 ORDER BY country;
-- the choice is uniform among a user's three countries: about 600 users
-- each (binomial sd 20); a "first seen" or sorted choice would give c0 1,800
SELECT country, count(DISTINCT user_id) BETWEEN 600 - 150 AND 600 + 150 AS about_600
	FROM visits GROUP BY country ORDER BY country;
-- and each user counts once, over all groups
SELECT sum(n) BETWEEN 3000 - 100 AND 3000 + 100 AS once_each
	FROM (SELECT country, count(*) AS n FROM visits GROUP BY country) s;
EXPLAIN SELECT country, count(*) FROM visits GROUP BY country;

-- == lowering the bounds with settings; raising them is ignored ==
RESET ROLE;
SELECT privstat.protect('visits', 'user_id', max_groups_contributed => 3, max_rows_contributed => 2);
SET ROLE ul_analyst;
-- two rows per user (scale 2)
SELECT count(*) BETWEEN 6002 - 60 AND 6002 + 60 AS two_rows_each FROM visits;
-- three groups per user, two rows in each (scale 3 * 2 per group)
SELECT sum(n) BETWEEN 18000 - 600 AND 18000 + 600 AS all_rows
	FROM (SELECT country, count(*) AS n FROM visits GROUP BY country) s;
SELECT sum(n) BETWEEN 9000 - 300 AND 9000 + 300 AS three_groups_each
	FROM (SELECT country, count(DISTINCT user_id) AS n FROM visits GROUP BY country) s;
SET privstat.max_rows_contributed = 1;
SELECT count(*) BETWEEN 3001 - 30 AND 3001 + 30 AS lowered FROM visits;
SET privstat.max_groups_contributed = 1;
SELECT sum(n) BETWEEN 3000 - 100 AND 3000 + 100 AS lowered
	FROM (SELECT country, count(*) AS n FROM visits GROUP BY country) s;
SET privstat.max_rows_contributed = 1000;
SET privstat.max_groups_contributed = 1000;
SELECT count(*) BETWEEN 6002 - 60 AND 6002 + 60 AS not_raised FROM visits;
RESET privstat.max_rows_contributed;
RESET privstat.max_groups_contributed;
SET privstat.max_rows_contributed = -1;

-- == joins ==
-- on the privacy unit: fine, however the rows multiply; the bounds are the
-- smaller ones of the two tables (profiles: one row)
SELECT count(*) BETWEEN 3000 - 30 AND 3000 + 30 AS joined
	FROM visits v JOIN profiles p ON p.user_id = v.user_id;
SELECT avg(p.age) BETWEEN 40 AND 50 AS age_ok
	FROM visits v JOIN profiles p USING (user_id) WHERE v.country = 'c0';
-- a self-join multiplies each user's rows (6 x 6): still at most m = 2 each,
-- for the 1,800 users in c0
SELECT count(*) BETWEEN 3600 - 60 AND 3600 + 60 AS self_join_bounded
	FROM visits a JOIN visits b ON a.user_id = b.user_id WHERE a.country = 'c0';
-- rows multiplied by a cross join with VALUES: still bounded
SELECT count(*) BETWEEN 3600 - 60 AND 3600 + 60 AS multiplied_bounded
	FROM visits v, (VALUES (1), (2), (3), (4), (5)) AS x(i) WHERE v.country = 'c0';
-- grouping by the privacy unit itself releases no group (each holds one user;
-- at selection_delta 1e-12 all 3,001 stay hidden but with probability 1e-9)
SET privstat.selection_delta = 1e-12;
SELECT count(*) AS released FROM (SELECT user_id, count(*) FROM visits GROUP BY user_id) s;
SET privstat.selection_delta = 1e-9;
-- with an unprotected lookup table
SELECT c.continent, count(DISTINCT v.user_id) > 1000 AS many
	FROM visits v JOIN countries c ON c.name = v.country GROUP BY c.continent ORDER BY 1;
-- protected tables joined on anything else, or not at all, are refused
SELECT count(*) FROM visits v JOIN profiles p ON p.age = v.user_id;
SELECT count(*) FROM visits v, profiles p;
-- through a view and a WITH query
RESET ROLE;
CREATE VIEW c0_visits AS SELECT country, amount FROM visits WHERE country = 'c0';
GRANT SELECT ON c0_visits TO ul_analyst;
SET ROLE ul_analyst;
SELECT count(*) BETWEEN 3600 - 120 AND 3600 + 120 AS view_ok FROM c0_visits;
WITH c1 AS (SELECT user_id, amount FROM visits WHERE country = 'c1')
	SELECT count(DISTINCT user_id) BETWEEN 1800 - 30 AND 1800 + 30 AS cte_ok FROM c1;

-- == variance, standard deviation, percentiles: over a random sample of at
-- most m values per unit and group, with epsilon / (k * m) per value ==
-- (amounts uniform on 0..20: variance 36.7, median 10, 90th percentile 18;
-- at k = 3, m = 2 the variance's noise scale is about 2.5)
SELECT privstat.dp_variance(amount, 0, 100) BETWEEN 36.7 - 50 AND 36.7 + 50 AS var_ok,
	   privstat.dp_stddev(amount, 0, 100) BETWEEN 0 AND 9.6 AS sd_ok,
	   privstat.dp_median(amount, 0, 100) BETWEEN 8 AND 12 AS median_ok,
	   privstat.dp_percentile(amount, 0.9, 0, 100, 0.5) BETWEEN 16 AND 20 AS p90_ok
	FROM visits;
SELECT country, privstat.dp_median(amount, 0, 100) BETWEEN 8 AND 12 AS median_ok
	FROM visits GROUP BY country ORDER BY country;
-- what the rewrite does: EXPLAIN (VERBOSE) of a median
EXPLAIN (VERBOSE) SELECT privstat.dp_median(amount, 0, 100) FROM visits;
-- the rewrite's own pieces are not for hand use
SELECT privstat._dp_variance_units(ARRAY[1.0::float8], 0, 100, 1, 1) FROM visits;
SELECT privstat.dp_group_selected(1, 1e-6, 1) FROM visits;

-- == what bounding does not support ==
SELECT count(*), (SELECT 1) FROM visits;
SELECT count(*) FROM visits WHERE user_id IN (SELECT user_id FROM profiles WHERE age > 30);

-- == public groups ==
RESET ROLE;
SELECT privstat.set_public_groups('visits', 'country', ARRAY['c0', 'c1', 'c2', 'c3', 'c4', 'empty', 'c0']);
SELECT tbl, col, keys FROM privstat.public_group;
SET ROLE ul_analyst;
-- exactly the public keys, even the empty one, and never 'rare'
-- (scale 3 * 2 = 6: 'empty' within 150 of 0; the others 3,600)
SELECT country, CASE WHEN country = 'empty' THEN count(*) BETWEEN -150 AND 150
					 ELSE count(*) BETWEEN 3600 - 150 AND 3600 + 150 END AS ok
	FROM visits GROUP BY country ORDER BY country;
EXPLAIN SELECT country, count(*) FROM visits GROUP BY country;
-- a role without a delta budget groups by public keys only
SET ROLE ul_nodelta;
SELECT country, count(*) IS NOT NULL AS answered FROM visits GROUP BY country ORDER BY country;
SELECT date_trunc('day', now()) AS d, count(*) > 0 AS ok FROM visits GROUP BY 1;
-- errors
RESET ROLE;
SELECT privstat.set_public_groups('visits', 'country', ARRAY[1, 2]);
SELECT privstat.set_public_groups('visits', 'user_id', ARRAY[1, 2]);
SELECT privstat.set_public_groups('visits', 'nope', ARRAY['x']);
SELECT privstat.set_public_groups('countries', 'name', ARRAY['x']);
SELECT privstat.set_public_groups('visits', 'country', ARRAY['x', NULL]);
SET ROLE ul_analyst;
SELECT privstat.set_public_groups('visits', 'country', ARRAY['x']);
RESET ROLE;
SELECT privstat.set_public_groups('visits', 'country', (SELECT array_agg(g::text) FROM generate_series(1, 100001) g));
-- all combinations of the keys of two public columns: at most 100,000
SELECT privstat.set_public_groups('visits', 'country', (SELECT array_agg('k' || g) FROM generate_series(1, 400) g));
SELECT privstat.set_public_groups('visits', 'amount', (SELECT array_agg(g::numeric) FROM generate_series(1, 400) g));
SET ROLE ul_analyst;
SELECT country, amount, count(*) FROM visits GROUP BY country, amount;
RESET ROLE;
SELECT privstat.set_public_groups('visits', 'amount', NULL::numeric[]);
-- removing the declaration
SELECT privstat.set_public_groups('visits', 'country', NULL::text[]);
SELECT count(*) FROM privstat.public_group;

-- == parallel query: the workers scan, the bounding node reads the Gather ==
SET ROLE ul_analyst;
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
EXPLAIN (COSTS OFF) SELECT country, count(*) FROM visits GROUP BY country;
SELECT sum(n) BETWEEN 18000 - 600 AND 18000 + 600 AS all_rows
	FROM (SELECT country, count(*) AS n FROM visits GROUP BY country) s;
-- the three-level rewrite (src/policy/bound.c) aggregates per unit in the workers
RESET ROLE;
SET privstat.one_pass_bounding = off;
SET ROLE ul_analyst;
EXPLAIN (COSTS OFF) SELECT country, count(*) FROM visits GROUP BY country;
SELECT sum(n) BETWEEN 18000 - 600 AND 18000 + 600 AS all_rows
	FROM (SELECT country, count(*) AS n FROM visits GROUP BY country) s;
RESET ROLE;
RESET privstat.one_pass_bounding;
SET ROLE ul_analyst;
RESET max_parallel_workers_per_gather;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
SET max_parallel_workers_per_gather = 0;
RESET ROLE;

-- == over many runs, a group of one user is released as often as the
-- threshold allows: selection_delta 0.05, epsilon 1, k = 1 give threshold
-- 4 and probability e^-3 / (1 + e^-1) = 0.0364 (never above delta); in 3,000
-- runs 109 expected, sd 10.2, so 43..175 holds but with probability 1e-10 ==
SELECT privstat.set_budget('ul_analyst', 'infinity', 'infinity');
CREATE TABLE lone (user_id int, g text);
INSERT INTO lone VALUES (1, 'alone');
SELECT privstat.protect('lone', 'user_id');
SET ROLE ul_analyst;
SET privstat.selection_delta = 0.05;
CREATE FUNCTION public.ul_releases(runs int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
	released int := 0;
	n int;
BEGIN
	FOR i IN 1..runs LOOP
		SELECT count(*) INTO n FROM (SELECT g, count(*) FROM lone GROUP BY g) s;
		released := released + n;
	END LOOP;
	RETURN released;
END $$;
SELECT ul_releases(3000) BETWEEN 43 AND 175 AS as_calibrated;
DROP FUNCTION public.ul_releases(int);
SET privstat.selection_delta = 1e-9;
RESET ROLE;
SELECT privstat.unprotect('lone');
DROP TABLE lone;

-- == more errors ==
-- epsilon per value below 2^-20 once divided by k * m (here 1 * 2)
SET ROLE ul_analyst;
SELECT privstat.dp_median(amount, 0, 100, 0.0000015) FROM visits;
RESET ROLE;
-- the sampler's size
SELECT privstat._sample_rows(1.0::float8, 0);
SELECT privstat._sample_rows(1.0::float8, 100001);

-- == dp_count_units outside the rewrite ==
SELECT privstat.dp_count_units(user_id) FROM visits;

RESET ROLE;
SELECT privstat.reset_budget(r) FROM unnest(ARRAY['ul_analyst', 'ul_nodelta']::regrole[]) r;
SELECT privstat.set_access(r, 'direct') FROM unnest(ARRAY['ul_analyst', 'ul_nodelta']::regrole[]) r;
DROP VIEW c0_visits;
SELECT privstat.unprotect('visits'), privstat.unprotect('profiles');
DROP TABLE visits, profiles, countries;
REVOKE CREATE ON SCHEMA public FROM ul_analyst;
DROP ROLE ul_analyst, ul_nodelta;
