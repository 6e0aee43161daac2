--
-- Privacy budgets: charges, refusals, what cannot refund a charge, what
-- each execution costs, EXPLAIN, the status view, permissions and input.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS privstat;
RESET client_min_messages;
SET search_path = public, privstat;
SET max_parallel_workers_per_gather = 0;
-- every run of a repeated query is charged here: the release cache, which
-- answers it again for free (sql/release_cache.sql), is off for this session
SET privstat.release_cache_ttl = 0;

CREATE TABLE t AS SELECT g AS i FROM generate_series(1, 1000) g;
CREATE FUNCTION plan_json(q text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE j json;
BEGIN
	EXECUTE 'EXPLAIN (COSTS OFF, FORMAT JSON) ' || q INTO j;
	RETURN j;
END $$;
CREATE ROLE privstat_test_analyst;
CREATE ROLE privstat_test_admin;
GRANT privstat_admin TO privstat_test_admin;
GRANT SELECT ON t TO privstat_test_analyst;

-- a role without a budget gets nothing, and is told how to get one
SET ROLE privstat_test_analyst;
SELECT dp_count(*) FROM t;
RESET ROLE;

-- a lifetime budget of 1.0
SELECT set_budget('privstat_test_analyst', 1.0);
CREATE VIEW status AS
	SELECT role, epsilon_limit, epsilon_spent, epsilon_remaining, delta_limit, delta_spent,
	       delta_remaining, period, next_free_at IS NOT NULL AS frees_up, charges
	FROM budget_status WHERE role::text = 'privstat_test_analyst';
GRANT SELECT ON status TO privstat_test_analyst, privstat_test_admin;
SELECT * FROM status;

SET ROLE privstat_test_analyst;
-- each query costs the sum of its DP aggregates' epsilons
SELECT dp_count(i, 0.125) IS NOT NULL AS answered, dp_sum(i, 0, 1000, 0.125) IS NOT NULL AS summed FROM t;
SELECT epsilon_spent, epsilon_remaining, charges FROM status;
-- a ROLLBACK does not refund
BEGIN;
SELECT dp_count(i, 0.125) IS NOT NULL FROM t;
ROLLBACK;
SELECT epsilon_spent, charges FROM status;
-- neither does a later error in the same statement (division by zero after the DP answer)
SELECT 1 / (c - c) FROM (SELECT dp_count(i, 0.125) AS c FROM t) s;
SELECT epsilon_spent, charges FROM status;
-- nor a savepoint rolled back
BEGIN;
SAVEPOINT a;
SELECT dp_count(i, 0.125) IS NOT NULL FROM t;
ROLLBACK TO SAVEPOINT a;
COMMIT;
SELECT epsilon_spent, charges FROM status;
-- nor a cancel by statement_timeout while the query runs
SET statement_timeout = '200ms';
SELECT c, pg_sleep(5) FROM (SELECT dp_count(i, 0.125) AS c FROM t) s;
RESET statement_timeout;
SELECT epsilon_spent, charges FROM status;
-- EXPLAIN shows the cost and what is left, and charges nothing
EXPLAIN (COSTS OFF) SELECT dp_count(i, 0.125) FROM t;
EXPLAIN (COSTS OFF, FORMAT YAML) SELECT dp_count(i, 0.125) FROM t;
-- the structured formats are well formed: the figures are an element of the outer list
SELECT (j -> 1 ->> 'Privacy Cost Epsilon')::float8 AS eps, j -> 0 -> 'Plan' ->> 'Node Type' AS node
	FROM (SELECT plan_json('SELECT dp_count(i, 0.125) FROM t') AS j) s;
SELECT epsilon_spent, charges FROM status;
-- 0.25 left: a query of 0.375 is refused before it produces a row
SELECT dp_count(i, 0.375) FROM t;
SELECT epsilon_spent, charges FROM status;
-- every execution pays: each EXECUTE of a prepared statement
PREPARE q AS SELECT dp_count(i, 0.0625) IS NOT NULL FROM t;
EXECUTE q;
EXECUTE q;
SELECT epsilon_spent, charges FROM status;
DEALLOCATE q;
-- each cursor opened
BEGIN;
DECLARE c CURSOR FOR SELECT dp_count(i, 0.0625) FROM t;
CLOSE c;
COMMIT;
SELECT epsilon_spent, charges FROM status;
-- each call of a function that runs a DP query
RESET ROLE;
CREATE FUNCTION count_t() RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
	RETURN (SELECT dp_count(i, 0.03125) FROM t);
END $$;
GRANT EXECUTE ON FUNCTION count_t() TO privstat_test_analyst;
SET ROLE privstat_test_analyst;
SELECT count_t() IS NOT NULL AS one, count_t() IS NOT NULL AS two;
SELECT epsilon_spent, epsilon_remaining, charges FROM status;
-- the budget is now exactly spent: even the smallest query is refused
SELECT count_t();
SELECT dp_count(i, 0.000001) FROM t;
SELECT epsilon_spent, epsilon_remaining, charges FROM status;
-- plain queries and plain aggregates cost nothing
SELECT count(*) FROM t;
-- an analyst cannot give itself more, nor see other roles' budgets
SELECT set_budget('privstat_test_analyst', 100);
SELECT reset_budget('privstat_test_analyst');
SELECT count(*) AS visible_roles FROM budget_status;
RESET ROLE;

-- members of privstat_admin can, and a reset forgets the spends (but not the charges'
-- record in the journal)
SET ROLE privstat_test_admin;
SELECT reset_budget('privstat_test_analyst');
SELECT epsilon_spent, epsilon_remaining, charges FROM status;
SELECT set_budget('privstat_test_analyst', 2.0);
SELECT epsilon_limit, epsilon_remaining FROM status;
RESET ROLE;
-- even an explicit EXECUTE grant does not let a non-admin change budgets
GRANT EXECUTE ON FUNCTION set_budget(regrole, float8, float8, interval) TO privstat_test_analyst;
SET ROLE privstat_test_analyst;
SELECT set_budget('privstat_test_analyst', 100);
RESET ROLE;
REVOKE EXECUTE ON FUNCTION set_budget(regrole, float8, float8, interval) FROM privstat_test_analyst;

-- a rolling window: spends count for the period, then free up
SELECT set_budget('privstat_test_analyst', 1.0, 0, '1 day');
SET ROLE privstat_test_analyst;
SELECT dp_count(i, 0.5) IS NOT NULL FROM t;
SELECT epsilon_spent, epsilon_remaining, period, frees_up FROM status;
-- the refusal says when budget frees up (the time varies: check its form)
DO $$
DECLARE
	msg text;
	hint text;
BEGIN
	PERFORM dp_count(i, 0.75) FROM t;
EXCEPTION WHEN insufficient_resources THEN
	GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
	RAISE NOTICE '%', msg;
	RAISE NOTICE 'hint names the time: %', hint ~ '^Budget frees up from \d{4}-\d\d-\d\d \d\d:\d\d:\d\d';
END
$$;
RESET ROLE;

-- unlimited is explicit, and its spends are still recorded
SELECT set_budget('privstat_test_analyst', 'infinity', 'infinity');
SET ROLE privstat_test_analyst;
SELECT dp_count(i, 5) IS NOT NULL FROM t;
SELECT epsilon_limit, epsilon_spent >= 5 AS recorded, epsilon_remaining, delta_remaining FROM status;
RESET ROLE;

-- parallel plans are charged once, by the leader
SELECT set_budget('privstat_test_analyst', 10);
SELECT reset_budget('privstat_test_analyst');
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET ROLE privstat_test_analyst;
SELECT dp_count(i, 0.5) IS NOT NULL, dp_sum(i, 0, 10, 0.25) IS NOT NULL FROM t;
SELECT epsilon_spent, charges FROM status;
RESET ROLE;
SET max_parallel_workers_per_gather = 0;

-- a DP aggregate in a part of a plan that may run more than once (once per
-- outer row) would release many answers for the price of one: refused
SET ROLE privstat_test_analyst;
SELECT (SELECT dp_count(i, 0.5) FROM t WHERE t.i > o) FROM generate_series(1, 3) o;
SELECT * FROM generate_series(1, 3) g, LATERAL (SELECT dp_count(i, 0.5) FROM t WHERE i > g) s;
WITH RECURSIVE r(n) AS (
	SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < (SELECT dp_count(i, 0.5) FROM t) / 1000)
SELECT count(*) FROM r;
-- an uncorrelated ANY/ALL subquery may be rescanned per row too
SELECT count(*) FROM generate_series(1, 3) g WHERE g > ALL (SELECT dp_count(i, 0.5) FROM t);
-- each grouping set releases its own answers
SELECT dp_count(i, 0.5) FROM t GROUP BY GROUPING SETS ((), ());
-- and the default epsilon cannot change between the charge and the release
SET privstat.epsilon = 10;
SELECT epsilon_spent, charges FROM status;
-- computed once and joined, it is fine (and costs once)
SELECT (SELECT dp_count(i, 0.5) FROM t) IS NOT NULL AS once FROM generate_series(1, 3) o;
SET enable_hashjoin = off;
SET enable_mergejoin = off;
WITH c AS MATERIALIZED (SELECT dp_count(i, 0.5) AS n FROM t)
SELECT g, c.n IS NOT NULL AS answered FROM generate_series(1, 3) g, c;
RESET enable_hashjoin;
RESET enable_mergejoin;
SELECT epsilon_spent, charges FROM status;
RESET ROLE;

-- bad input
SELECT set_budget('privstat_test_analyst', -1);
SELECT set_budget('privstat_test_analyst', 'NaN');
SELECT set_budget('privstat_test_analyst', 1, -0.1);
SELECT set_budget('privstat_test_analyst', 1, 2);
SELECT set_budget('privstat_test_analyst', 1, 0, '10 seconds');
SELECT set_budget('privstat_test_analyst', 1e10);
SELECT set_budget('privstat_test_analyst', 1, 0, '1000000 years');
SELECT set_budget('privstat_test_analyst', 1, 0, '1001 years');
SELECT set_budget('privstat_test_analyst', NULL);
SELECT set_budget(NULL, 1);
SELECT set_budget('no_such_role', 1);
SELECT set_budget(0::oid::regrole, 1);
SELECT reset_budget(NULL);

-- record_spend: a spend the ledger lacks, added by an administrator, even
-- beyond the limit (it happened); it only adds, and survives a ROLLBACK
SELECT set_budget('privstat_test_analyst', 3);
SELECT epsilon_spent, epsilon_remaining, charges FROM status;
BEGIN;
SELECT record_spend('privstat_test_analyst', 2.5, 1e-7);
ROLLBACK;
SELECT record_spend('privstat_test_analyst', 1);
SELECT epsilon_spent, epsilon_remaining, delta_spent, charges FROM status;
SELECT event, role, epsilon, delta FROM audit_log WHERE event = 'charge' AND actor = current_user::regrole ORDER BY seq DESC LIMIT 2;
SELECT record_spend('privstat_test_analyst', -1);
SELECT record_spend('privstat_test_analyst', 'NaN');
SELECT record_spend('privstat_test_analyst', 'infinity');
SELECT record_spend('privstat_test_analyst', 1e10);
SELECT record_spend('privstat_test_analyst', 0, 2);
SELECT record_spend('privstat_test_analyst', 0, 0);
SELECT record_spend(0::oid::regrole, 1);
SELECT record_spend(NULL, 1);
SET ROLE privstat_test_analyst;
SELECT record_spend('privstat_test_analyst', 1);
RESET ROLE;
SELECT epsilon_spent, charges FROM status;

-- a budget change, like a charge, survives a ROLLBACK: it is in the journal at once
BEGIN;
SELECT set_budget('privstat_test_analyst', 3);
ROLLBACK;
SELECT epsilon_limit FROM status;

DROP VIEW status;
DROP FUNCTION count_t();
DROP TABLE t;
DROP ROLE privstat_test_analyst, privstat_test_admin;

-- only a superuser may adopt a journal after a promotion or a restore
-- (test/t/007_budget_standby.pl shows when that is needed)
CREATE ROLE privstat_test_admin2;
GRANT privstat_admin TO privstat_test_admin2;
SET ROLE privstat_test_admin2;
SELECT adopt_budget_journal();
RESET ROLE;
DROP ROLE privstat_test_admin2;
-- on a primary that never changed timeline, adopting changes nothing
SELECT adopt_budget_journal();
