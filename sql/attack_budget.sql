--
-- Attack suite: the budget.  Averaging, differencing, refund attempts
-- (ROLLBACK, savepoints, exception blocks, errors, statement_timeout cancel,
-- cursors).  2PC and a cancel from another session are in test/t/011_attacks.pl.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS privstat;
RESET client_min_messages;
SET max_parallel_workers_per_gather = 0;
-- every run of a repeated query is charged here: the release cache, which
-- answers it again for free (sql/release_cache.sql), is off for this session
SET privstat.release_cache_ttl = 0;

CREATE ROLE bud_analyst;
GRANT CREATE ON SCHEMA public TO bud_analyst;
CREATE TABLE bud_orders (id int, user_id int, amount numeric);
INSERT INTO bud_orders SELECT g, g, (g % 50)::numeric FROM generate_series(1, 10000) g;
SELECT privstat.protect('bud_orders', 'user_id');
SELECT privstat.set_access('bud_analyst', 'aggregate');
CREATE VIEW bud_status AS SELECT epsilon_spent, epsilon_remaining, charges
	FROM privstat.budget_status WHERE role::text = 'bud_analyst';
GRANT SELECT ON bud_status TO bud_analyst;

-- == averaging: the same query repeated until the budget runs out ==
SELECT privstat.set_budget('bud_analyst', 1.0);
SET ROLE bud_analyst;
-- repeat dp_count(id, 0.125) until refused: floor(1.0 / 0.125) = 8 answers, then no more
CREATE FUNCTION public.bud_average(OUT answered int, OUT refused_with text) LANGUAGE plpgsql AS $$
BEGIN
	answered := 0;
	FOR i IN 1..1000 LOOP
		BEGIN
			PERFORM privstat.dp_count(id, 0.125) FROM bud_orders;
			answered := answered + 1;
		EXCEPTION WHEN OTHERS THEN
			refused_with := SQLSTATE || ': ' || SQLERRM;
			EXIT;
		END;
	END LOOP;
END $$;
SELECT * FROM public.bud_average();
SELECT * FROM bud_status;
-- the smallest query is refused once the budget is spent
SELECT privstat.dp_count(id, 0.000001) FROM bud_orders;
-- ... and so is the rewritten count(*)
SELECT count(*) FROM bud_orders;
-- a new session of the same role does not get a fresh budget (budgets are per role, cluster-wide)
\c -
SET privstat.release_cache_ttl = 0;
SET ROLE bud_analyst;
SELECT * FROM bud_status;
SELECT privstat.dp_count(id, 0.125) FROM bud_orders;
RESET ROLE;

-- == differencing: two queries that differ by one user ==
SELECT privstat.reset_budget('bud_analyst');
SELECT privstat.set_budget('bud_analyst', 1.0);
SET ROLE bud_analyst;
-- everyone, and everyone but user 7: both answered with noise, both charged 0.5
SELECT privstat.dp_count(id, 0.5) BETWEEN 10000 - 100 AND 10000 + 100 AS everyone FROM bud_orders;
SELECT privstat.dp_count(id, 0.5) BETWEEN 9999 - 100 AND 9999 + 100 AS all_but_7 FROM bud_orders
	WHERE user_id <> 7;
SELECT * FROM bud_status;
-- a third, identical query to average the difference away: refused
SELECT privstat.dp_count(id, 0.5) FROM bud_orders WHERE user_id <> 7;
-- an un-noised difference by other means: exact count, exact sum, an epsilon of infinity, EXPLAIN ANALYZE
SELECT count(*) - (SELECT count(*) FROM bud_orders WHERE user_id <> 7) FROM bud_orders;
SELECT count(*) FROM (SELECT id FROM bud_orders EXCEPT SELECT id FROM bud_orders WHERE user_id <> 7) s;
SELECT privstat.dp_count(id, 'infinity') FROM bud_orders WHERE user_id = 7;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT privstat.dp_count(id, 0.5) FROM bud_orders WHERE user_id = 7;
SELECT * FROM bud_status;
RESET ROLE;

-- == refund attempts: nothing gives a charge back ==
SELECT privstat.reset_budget('bud_analyst');
SELECT privstat.set_budget('bud_analyst', 'infinity');
SET ROLE bud_analyst;
-- ROLLBACK of the transaction that ran the query
BEGIN;
SELECT privstat.dp_count(id, 0.25) IS NOT NULL AS answered FROM bud_orders;
ROLLBACK;
SELECT epsilon_spent, charges FROM bud_status;
-- ROLLBACK TO SAVEPOINT
BEGIN;
SAVEPOINT s;
SELECT privstat.dp_count(id, 0.25) IS NOT NULL AS answered FROM bud_orders;
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT epsilon_spent, charges FROM bud_status;
-- an exception block (a subtransaction) rolled back after the DP answer was read
DO $$
DECLARE c bigint;
BEGIN
	BEGIN
		SELECT privstat.dp_count(id, 0.25) INTO c FROM bud_orders;
		RAISE EXCEPTION 'undo';
	EXCEPTION WHEN OTHERS THEN NULL;
	END;
END $$;
SELECT epsilon_spent, charges FROM bud_status;
-- an error later in the same statement (the logarithm of zero, from the DP answer)
SELECT ln(c - c) FROM (SELECT privstat.dp_count(id, 0.25) AS c FROM bud_orders) s;
SELECT epsilon_spent, charges FROM bud_status;
-- a failed cast on the DP answer, before the first row leaves
SELECT ('x' || (c - c))::int FROM (SELECT privstat.dp_count(id, 0.25) AS c FROM bud_orders) s;
SELECT epsilon_spent, charges FROM bud_status;
-- a cancel by statement_timeout while the query runs
SET statement_timeout = '200ms';
SELECT c, pg_sleep(5) FROM (SELECT privstat.dp_count(id, 0.25) AS c FROM bud_orders) s;
RESET statement_timeout;
SELECT epsilon_spent, charges FROM bud_status;
-- a cursor opened and closed without a FETCH
BEGIN;
DECLARE c CURSOR FOR SELECT privstat.dp_count(id, 0.25) FROM bud_orders;
CLOSE c;
ROLLBACK;
SELECT epsilon_spent, charges FROM bud_status;
-- a cursor WITH HOLD is run again from the start when its transaction
-- commits (to keep its rows): read in part, that would release its answers a
-- second time with new noise under the same charge, so the COMMIT fails
BEGIN;
DECLARE h1 NO SCROLL CURSOR WITH HOLD FOR SELECT privstat.dp_count(id, 0.25) IS NOT NULL AS answered FROM bud_orders;
FETCH 1 FROM h1;
COMMIT;
SELECT epsilon_spent, charges FROM bud_status;
-- read to its end, nothing is left to read, and the second run sends nothing
BEGIN;
DECLARE h2 NO SCROLL CURSOR WITH HOLD FOR SELECT privstat.dp_count(id, 0.25) IS NOT NULL AS answered FROM bud_orders;
FETCH ALL FROM h2;
COMMIT;
FETCH ALL FROM h2;
CLOSE h2;
-- committed before its first FETCH, it runs once, after the COMMIT
BEGIN;
DECLARE h3 NO SCROLL CURSOR WITH HOLD FOR SELECT privstat.dp_count(id, 0.25) IS NOT NULL AS answered FROM bud_orders;
COMMIT;
FETCH ALL FROM h3;
CLOSE h3;
SELECT epsilon_spent, charges FROM bud_status;
-- a query that fails before it starts costs nothing (so no budget is lost to refusals)
SELECT privstat.dp_count(id, 0.25), max(amount) FROM bud_orders;
SELECT epsilon_spent, charges FROM bud_status;
RESET ROLE;

DROP FUNCTION public.bud_average();
DROP VIEW bud_status;
DROP TABLE bud_orders;
REVOKE CREATE ON SCHEMA public FROM bud_analyst;
SELECT privstat.set_access('bud_analyst', 'direct');
SELECT privstat.reset_budget('bud_analyst');
DROP ROLE bud_analyst;
