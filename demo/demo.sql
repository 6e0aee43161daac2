-- privstat demo: a scripted session on synthetic data.  Run by demo/run.sh.
\set QUIET on
\pset footer off
\set ECHO queries

\echo
\echo '### 1. Set up: privstat is preloaded; create it and put its schema on the path'
CREATE EXTENSION privstat;
ALTER DATABASE demo SET search_path = "$user", public, privstat;
SET search_path = "$user", public, privstat;

\echo
\echo '### 2. A synthetic data set: 10,000 users and 100,000 events, made in SQL'
\echo '    (raw identifiers: what an application receives, before privstat)'
CREATE TEMP TABLE raw_users AS
	SELECT g AS user_id,
	       'user' || g || '@example.com' AS email,
	       (ARRAY['FR', 'DE', 'NL', 'ES', 'IT'])[1 + g % 5] AS country
	FROM generate_series(1, 10000) g;
CREATE TEMP TABLE raw_events AS
	SELECT 1 + (hashint4(g) & 2147483647) % 10000 AS user_id,
	       (ARRAY['view', 'click', 'purchase'])[1 + g % 3] AS kind,
	       (g % 200) + 0.99 AS amount,
	       timestamptz '2026-01-01' + (g % 300) * interval '1 day' AS at
	FROM generate_series(1, 100000) g;
SELECT count(*) AS users, (SELECT count(*) FROM raw_events) AS events FROM raw_users;

\echo
\echo '### 3. Store identifiers as keyed tokens: pseudonym (one-way) and sealed (reversible)'
CREATE TABLE users (
	uid     pseudonym PRIMARY KEY,   -- HMAC-SHA-256 under the "customer" domain key
	email   sealed,                  -- AES-SIV: only privstat_unsealer can read it back
	country text
);
CREATE TABLE events (
	uid    pseudonym NOT NULL,
	kind   text,
	amount numeric,
	at     timestamptz
);
INSERT INTO users SELECT pseudonymize(user_id, 'customer'), seal(email, 'customer'), country FROM raw_users;
INSERT INTO events SELECT pseudonymize(user_id, 'customer'), kind, amount, at FROM raw_events;
CREATE INDEX ON events (uid);
ANALYZE users, events;
SELECT * FROM users ORDER BY country, uid LIMIT 3;

\echo
\echo '### 4. Tokens still join, group and index'
SELECT u.country, count(*) AS events, count(DISTINCT e.uid) AS active_users
FROM events e JOIN users u ON u.uid = e.uid
GROUP BY u.country ORDER BY u.country;
\echo '    a support lookup by raw id uses the index, without storing the id:'
EXPLAIN (COSTS OFF) SELECT count(*) FROM events WHERE uid = pseudonymize(4242, 'customer');
SELECT count(*) AS events_of_user_4242 FROM events WHERE uid = pseudonymize(4242, 'customer');

\echo
\echo '### 5. Compact: an 18-byte token instead of a 64-character hex HMAC'
SELECT pg_size_pretty(sum(pg_column_size(uid))) AS pseudonym_column,
       pg_size_pretty(sum(pg_column_size(encode(sha256(uid::text::bytea), 'hex')))) AS hex_hmac_column
FROM events;

\echo
\echo '### 6. Other domains give unlinkable tokens; raw values are refused where a token belongs'
SELECT pseudonymize(4242, 'customer') AS as_customer, pseudonymize(4242, 'device') AS as_device;
\set ON_ERROR_STOP 0
INSERT INTO events (uid, kind) VALUES ('user4242@example.com', 'view');
\set ON_ERROR_STOP 1

\echo
\echo '### 7. Only members of privstat_unsealer may read sealed values back'
CREATE ROLE analyst;
CREATE ROLE support;
GRANT privstat_unsealer TO support;
GRANT SELECT ON users TO analyst, support;
SET ROLE support;
SELECT unseal(email) AS email FROM users WHERE uid = pseudonymize(4242, 'customer');
RESET ROLE;
SET ROLE analyst;
\set ON_ERROR_STOP 0
SELECT unseal(email) AS email FROM users WHERE uid = pseudonymize(4242, 'customer');
\set ON_ERROR_STOP 1
RESET ROLE;
\echo '    tampering is detected, never decrypted to garbage:'
\set ON_ERROR_STOP 0
SELECT unseal(overlay(email::text placing '00' from 60 for 2)::sealed) FROM users LIMIT 1;
\set ON_ERROR_STOP 1

\echo
\echo '### 8. Key rotation: new values get version 2; old tokens stay findable; sealed columns are rekeyed'
SELECT rotate_key('customer') AS new_version;
SELECT pseudonymize(4242, 'customer') AS new_token,
       (SELECT count(*) FROM events WHERE uid = ANY (pseudonymize_all_versions('4242', 'customer'))) AS events_found_across_versions;
CALL rekey('users', 'email', 5000);
SELECT sealed_version(email) AS key_version, count(*) FROM users GROUP BY 1;

\echo
\echo '### 9. Differentially private answers: noisy, bounded, and with their error bars'
\echo '    (every role that runs them needs a privacy budget; this one is unlimited)'
SELECT set_budget(current_user::regrole, 'infinity');
\echo '    (exact values shown only for the demo; an analyst would see the dp_ columns)'
SELECT kind,
       count(*) AS exact_events,
       dp_count(uid, 0.5) AS dp_events,
       '± ' || dp_count_error(0.5) AS "95%",
       round(sum(amount)) AS exact_revenue,
       round(dp_sum(amount, 0, 200, 0.5)) AS dp_revenue,
       '± ' || round(dp_sum_error(0, 200, 0.5)::numeric) AS "95% ",
       round(avg(amount), 2) AS exact_avg,
       round(dp_avg(amount, 0, 200, 0.5)::numeric, 2) AS dp_avg
FROM events GROUP BY kind ORDER BY kind;
\echo '    a median, from a 256-bin histogram with permute-and-flip:'
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY amount) AS exact_median,
       dp_median(amount, 0, 200, 0.5) AS dp_median,
       '± ' || dp_percentile_rank_error(0.5) || ' rows of rank' AS "95%"
FROM events;
\echo '    what a query costs, read from its plan before it runs:'
SELECT * FROM dp_cost('SELECT kind, dp_count(uid, 0.5), dp_sum(amount, 0, 200, 0.5) FROM events GROUP BY kind');
\echo '    parameters that could depend on the data are refused:'
\set ON_ERROR_STOP 0
SELECT dp_sum(amount, 0, (SELECT max(amount) FROM events)) FROM events;
\set ON_ERROR_STOP 1

\echo
\echo '### 10. A privacy budget: an analyst spends it, and is then refused'
CREATE ROLE analyst_ann;
GRANT SELECT ON events TO analyst_ann;
SELECT set_budget('analyst_ann', 1.0);
SET ROLE analyst_ann;
EXPLAIN (COSTS OFF) SELECT dp_count(uid, 0.4) FROM events;
SELECT dp_count(uid, 0.4) AS events_1 FROM events;
SELECT dp_avg(amount, 0, 200, 0.4) AS avg_2 FROM events;
SELECT epsilon_limit, epsilon_spent, epsilon_remaining, charges FROM budget_status;
\echo '    a third query of 0.4 would overspend: refused before it produces a row'
\set ON_ERROR_STOP 0
SELECT dp_count(uid, 0.4) FROM events;
\set ON_ERROR_STOP 1
\echo '    and ROLLBACK gives nothing back: the spend is in the journal already'
BEGIN;
SELECT dp_count(uid, 0.2) IS NOT NULL AS answered FROM events;
ROLLBACK;
SELECT epsilon_spent, epsilon_remaining, charges FROM budget_status;
RESET ROLE;

\echo
\echo '### 11. Retention: expired rows are refused, and purged in short batches'
SELECT set_retention('events', 'at', '180 days');
SELECT tbl, keep, oldest_row_age, rows_past_due FROM retention_status;
\set ON_ERROR_STOP 0
INSERT INTO events (uid, kind, amount, at) VALUES (pseudonymize(1, 'customer'), 'view', 1, now() - interval '1 year');
\set ON_ERROR_STOP 1
CALL purge_expired('events', 10000);
SELECT tbl, rows_past_due, last_purge_rows FROM retention_status;
SELECT action, count(*) AS batches, sum(rows) AS rows FROM purge_log GROUP BY action;
\echo '    (a background worker does the same every privstat.purge_interval seconds)'

\echo
\echo '### 12. A BI tool as a restricted role: plain SQL in, only DP answers out'
SELECT protect('events', 'uid');                    -- uid names the person behind each row
SELECT set_bounds('events', 'amount', 0, 200);      -- what a plain sum(amount) or avg(amount) may assume
CREATE ROLE bi_dashboard;                           -- holds no SELECT on events
SELECT set_access('bi_dashboard', 'aggregate');
SELECT set_budget('bi_dashboard', 16.0, 1e-5);       -- epsilon, and delta for GROUP BY's group selection
SELECT kind, name, privacy_unit, bounds, access_level FROM policies ORDER BY kind, name;
SET ROLE bi_dashboard;
\echo '    ordinary SQL, as a dashboard writes it; each count, sum and avg is a DP aggregate of epsilon 1,'
\echo '    each person counting once (one row, one group: the defaults of protect); a GROUP BY also spends'
\echo '    epsilon 1 and delta 1e-6 to choose which groups it may show'
SELECT count(*) AS events, '± ' || dp_count_error(1.0) AS "95%" FROM events;
SELECT kind, count(*) AS n, round(avg(amount), 2) AS avg_amount, round(sum(amount)) AS revenue,
       '± ' || round(dp_sum_error(0, 200, 1.0)::numeric) AS "revenue 95%"
  FROM events GROUP BY kind ORDER BY kind;
\echo '    what actually runs (EXPLAIN charges nothing, and shows no estimates to a restricted role):'
EXPLAIN (VERBOSE) SELECT kind, sum(amount) FROM events GROUP BY kind;
\echo '    everything else is refused, with the rule and the allowed form:'
\set ON_ERROR_STOP 0
SELECT uid, amount FROM events WHERE kind = 'purchase';
SELECT max(amount) FROM events;
SELECT count(*) FROM events WHERE kind ~ '^p';
EXPLAIN ANALYZE SELECT count(*) FROM events;
\set ON_ERROR_STOP 1
\echo '    and the budget went down by the epsilon of each answered aggregate:'
SELECT epsilon_limit, epsilon_spent, epsilon_remaining, charges FROM budget_status;
\echo '    the dashboard refreshes: over unchanged data the same query is the same answer, and free'
SELECT count(*) AS events, '± ' || dp_count_error(1.0) AS "95%" FROM events;
SELECT epsilon_spent, charges FROM budget_status;
SELECT hits, misses, epsilon_saved FROM release_cache_status;
RESET ROLE;

\echo
\echo '### 13. Per person, not per row: a user with many rows still counts a bounded amount'
\echo '    events has about 10 rows per user; with the defaults each user counts once:'
SET ROLE bi_dashboard;
SELECT count(*) AS rows_counted, count(DISTINCT uid) AS users FROM events;
RESET ROLE;
\echo '    the DBA lets each user count in up to 3 kinds, with up to 5 rows in each; the noise grows to match'
\echo '    (the noise scale of a count is 3 * 5 / epsilon, so one person moves any answer by little):'
SELECT protect('events', 'uid', max_groups_contributed => 3, max_rows_contributed => 5);
SET ROLE bi_dashboard;
SELECT kind, count(*) AS rows_counted, '± ' || dp_count_error(1.0 / 15) AS "95%"
  FROM events GROUP BY kind ORDER BY kind;
RESET ROLE;
\echo '    one user has 30 refunds, a kind nobody else has: group selection hides it, however many rows:'
INSERT INTO events (uid, kind, amount, at)
	SELECT e.uid, 'refund', 10, now() FROM (SELECT uid FROM events LIMIT 1) e, generate_series(1, 30);
SET ROLE bi_dashboard;
SELECT kind, count(*) AS n FROM events GROUP BY kind ORDER BY kind;
RESET ROLE;
\echo '    keys declared public are always shown, with a noisy value, and cost no delta:'
SELECT set_public_groups('events', 'kind', ARRAY['view', 'click', 'purchase', 'refund']);
SET ROLE bi_dashboard;
SELECT kind, count(*) AS n FROM events GROUP BY kind ORDER BY kind;
SELECT epsilon_spent, delta_spent, charges FROM budget_status;
RESET ROLE;

\echo
\echo '### 14. Consent: rows are visible only for the purposes people agreed to'
ALTER TABLE users ADD COLUMN consent text[];
UPDATE users SET consent = CASE WHEN country IN ('FR', 'DE') THEN ARRAY['analytics', 'marketing']
                                ELSE ARRAY['analytics'] END;
SELECT set_consent('users', 'consent');
CREATE ROLE newsletter;
GRANT SELECT ON users TO newsletter;
SELECT grant_purpose('newsletter', 'marketing');
SET ROLE newsletter;
\echo '    no purpose declared: nothing; then the purpose it was granted:'
SELECT count(*) AS visible FROM users;
SET privstat.purpose = 'marketing';
SELECT country, count(*) AS visible FROM users GROUP BY country ORDER BY country;
\echo '    a purpose it was not granted cannot be declared:'
\set ON_ERROR_STOP 0
SET privstat.purpose = 'analytics';
\set ON_ERROR_STOP 1
RESET ROLE;
\echo '    one person withdraws consent to marketing; the same query, at once, sees one row fewer:'
UPDATE users SET consent = ARRAY['analytics'] WHERE uid = pseudonymize(4241, 'customer');   -- a user in DE
SET ROLE newsletter;
SELECT country, count(*) AS visible FROM users GROUP BY country ORDER BY country;
RESET ROLE;

\echo
\echo '### 15. Accountability: who learned what, and what it cost; then the trail is verified'
SELECT role, round(epsilon_spent::numeric, 3) AS epsilon_spent, charges, refusals, values_unsealed, purges
  FROM privacy_report() ORDER BY role::text;
SELECT ok, records > 0 AS has_records, first_bad FROM verify_audit_log();

\echo
\echo 'More in doc/: pseudonyms.md, dp-aggregates.md, budgets.md, audit.md, policy.md, user-level.md, row-policy.md, retention.md and install.md.'
