--
-- Operators and operator classes: joins (hash and merge), GROUP BY,
-- DISTINCT, ORDER BY, btree and hash indexes, for both types.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS privstat;
RESET client_min_messages;
SET search_path = public, privstat;

CREATE TABLE users (uid pseudonym, email sealed, country text);
CREATE TABLE events (uid pseudonym, email sealed, kind text);
INSERT INTO users
	SELECT pseudonymize(g), seal('user' || g || '@example.com'), (ARRAY['fr', 'de', 'nl'])[g % 3 + 1]
	FROM generate_series(1, 300) g;
INSERT INTO events
	SELECT pseudonymize(g % 100 + 1), seal('user' || (g % 100 + 1) || '@example.com'),
	       CASE WHEN g % 2 = 0 THEN 'view' ELSE 'click' END
	FROM generate_series(1, 1000) g;
ANALYZE users, events;

-- the comparison operators agree with each other
SELECT a < b AS lt, a <= b AS le, a = b AS eq, a <> b AS ne, a >= b AS ge, a > b AS gt,
       pseudonym_cmp(a, b) AS cmp
FROM (VALUES ('pn:1:00000000000000000000000000000001'::pseudonym,
              'pn:1:00000000000000000000000000000002'::pseudonym),
             ('pn:2:00000000000000000000000000000000', 'pn:1:ffffffffffffffffffffffffffffffff'),
             ('pn:1:0000000000000000000000000000000a', 'pn:1:0000000000000000000000000000000a')) v(a, b);
SELECT a < b AS lt, a = b AS eq, a > b AS gt, sealed_cmp(a, b) AS cmp
FROM (VALUES ('sl:a:1:00000000000000000000000000000000aa'::sealed,
              'sl:a:1:00000000000000000000000000000000aabb'::sealed),
             ('sl:a:1:00000000000000000000000000000000bb', 'sl:a:1:00000000000000000000000000000000aabb'),
             ('sl:a:1:00000000000000000000000000000000aa', 'sl:a:1:00000000000000000000000000000000aa')) v(a, b);

-- hash join
SET enable_mergejoin = off; SET enable_nestloop = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM events e JOIN users u ON e.uid = u.uid;
SELECT count(*) FROM events e JOIN users u ON e.uid = u.uid;
EXPLAIN (COSTS OFF) SELECT count(*) FROM events e JOIN users u ON e.email = u.email;
SELECT count(*) FROM events e JOIN users u ON e.email = u.email;
RESET enable_mergejoin; RESET enable_nestloop;

-- merge join
SET enable_hashjoin = off; SET enable_nestloop = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM events e JOIN users u ON e.uid = u.uid;
SELECT count(*) FROM events e JOIN users u ON e.uid = u.uid;
EXPLAIN (COSTS OFF) SELECT count(*) FROM events e JOIN users u ON e.email = u.email;
SELECT count(*) FROM events e JOIN users u ON e.email = u.email;
RESET enable_hashjoin; RESET enable_nestloop;

-- GROUP BY and DISTINCT, hashed and sorted
SET enable_sort = off;
SELECT count(*) AS groups, sum(n) AS rows FROM (SELECT uid, count(*) AS n FROM events GROUP BY uid) g;
SELECT count(*) FROM (SELECT DISTINCT email FROM events) d;
RESET enable_sort;
SET enable_hashagg = off;
SELECT count(*) AS groups, sum(n) AS rows FROM (SELECT uid, count(*) AS n FROM events GROUP BY uid) g;
SELECT count(*) FROM (SELECT DISTINCT email FROM events) d;
RESET enable_hashagg;
SELECT count(DISTINCT uid) AS uids, count(DISTINCT email) AS emails FROM events;

-- ORDER BY follows the byte order of the stored value
SELECT bool_and(a <= b) AS sorted FROM (
	SELECT uid AS a, lead(uid) OVER (ORDER BY uid) AS b FROM users) s WHERE b IS NOT NULL;

-- indexes: btree and hash, used for equality lookups
CREATE INDEX users_uid_btree ON users (uid);
CREATE INDEX users_email_btree ON users (email);
CREATE INDEX users_uid_hash ON users USING hash (uid);
CREATE INDEX users_email_hash ON users USING hash (email);
SET enable_seqscan = off;
SET enable_bitmapscan = off;
DROP INDEX users_uid_hash; DROP INDEX users_email_hash;
EXPLAIN (COSTS OFF) SELECT country FROM users WHERE uid = pseudonymize(42);
SELECT country FROM users WHERE uid = pseudonymize(42);
EXPLAIN (COSTS OFF) SELECT country FROM users WHERE email = seal('user42@example.com');
SELECT country FROM users WHERE email = seal('user42@example.com');
DROP INDEX users_uid_btree; DROP INDEX users_email_btree;
CREATE INDEX users_uid_hash ON users USING hash (uid);
CREATE INDEX users_email_hash ON users USING hash (email);
EXPLAIN (COSTS OFF) SELECT country FROM users WHERE uid = pseudonymize(42);
SELECT country FROM users WHERE uid = pseudonymize(42);
SELECT country FROM users WHERE email = seal('user42@example.com');
RESET enable_seqscan; RESET enable_bitmapscan;

-- a unique index rejects a second copy of the same identifier
CREATE UNIQUE INDEX users_uid_unique ON users (uid);
DO $$
BEGIN
	INSERT INTO users VALUES (pseudonymize(1), NULL, 'fr');
EXCEPTION WHEN unique_violation THEN
	RAISE NOTICE 'second copy refused: %', SQLSTATE;
END
$$;

-- the operators are leakproof (later policy checks rely on that)
SELECT p.oprname, t.typname, f.proleakproof
FROM pg_operator p JOIN pg_proc f ON f.oid = p.oprcode JOIN pg_type t ON t.oid = p.oprleft
WHERE t.typname IN ('pseudonym', 'sealed') ORDER BY 2, 1;

DROP TABLE users, events;
