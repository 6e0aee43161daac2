-- The soak test's database (test/soak/run.sh runs this as superuser).
CREATE DATABASE privstat_soak;
\c privstat_soak
CREATE EXTENSION privstat;
-- 20,000 orders of 1,000 users that never expire (dated 2100), and the
-- writers' rows, dated up to 20 s in the past, that the retention rule
-- (30 seconds) makes due 10 to 30 s after their insert.
CREATE TABLE orders (id bigserial, user_id int, amount numeric, qty int, region text,
                     created timestamptz NOT NULL);
INSERT INTO orders (user_id, amount, qty, region, created)
	SELECT g % 1000, (g % 50)::numeric, g % 5, CASE WHEN g % 2 = 0 THEN 'EU' ELSE 'US' END,
	       '2100-01-01'
	FROM generate_series(1, 20000) g;
CREATE INDEX ON orders (created);
ANALYZE orders;
SELECT privstat.protect('orders', 'user_id');
SELECT privstat.set_bounds('orders', 'amount', 0, 100);
SELECT privstat.set_bounds('orders', 'qty', 0, 4);
SELECT privstat.set_retention('orders', 'created', '30 seconds');

-- 4 analysts at level aggregate (through a group role), each with a small
-- finite budget that soak_admin moves up and down during the run; their
-- plain aggregates cost epsilon 0.05 each
CREATE ROLE soak_analysts;
SELECT privstat.set_access('soak_analysts', 'aggregate');
CREATE ROLE soak_a1 LOGIN IN ROLE soak_analysts;
CREATE ROLE soak_a2 LOGIN IN ROLE soak_analysts;
CREATE ROLE soak_a3 LOGIN IN ROLE soak_analysts;
CREATE ROLE soak_a4 LOGIN IN ROLE soak_analysts;
-- to read their own sessions' memory contexts (pg_backend_memory_contexts)
GRANT pg_read_all_stats TO soak_a1, soak_a2, soak_a3, soak_a4;
ALTER ROLE soak_analysts SET privstat.epsilon = 0.05;
ALTER ROLE soak_a1 SET privstat.epsilon = 0.05;
ALTER ROLE soak_a2 SET privstat.epsilon = 0.05;
ALTER ROLE soak_a3 SET privstat.epsilon = 0.05;
ALTER ROLE soak_a4 SET privstat.epsilon = 0.05;
-- a GROUP BY also spends selection_epsilon, and delta (doc/user-level.md)
ALTER ROLE soak_a1 SET privstat.selection_epsilon = 0.05;
ALTER ROLE soak_a2 SET privstat.selection_epsilon = 0.05;
ALTER ROLE soak_a3 SET privstat.selection_epsilon = 0.05;
ALTER ROLE soak_a4 SET privstat.selection_epsilon = 0.05;
SELECT privstat.set_budget(r, 1.0, 1) FROM unnest('{soak_a1,soak_a2,soak_a3,soak_a4}'::regrole[]) r;

-- the writers insert (level direct: PostgreSQL's privileges alone)
CREATE ROLE soak_writer LOGIN IN ROLE pg_read_all_stats;
GRANT INSERT ON orders TO soak_writer;
GRANT USAGE ON SEQUENCE orders_id_seq TO soak_writer;

-- the DBA purges and changes budgets
CREATE ROLE soak_admin LOGIN IN ROLE privstat_admin, pg_read_all_stats;
GRANT SELECT, DELETE ON orders TO soak_admin;
