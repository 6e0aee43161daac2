--
-- Key rotation: rotate_key, explicit versions, lookups across versions,
-- rekey of sealed columns, permissions.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS privstat;
RESET client_min_messages;
SET search_path = public, privstat;

CREATE TABLE accounts (id int, uid pseudonym, email sealed);
INSERT INTO accounts SELECT g, pseudonymize(g, 'acct'), seal('a' || g || '@example.com', 'acct')
	FROM generate_series(1, 25) g;

SELECT current_key_version('acct');
SELECT rotate_key('acct');
SELECT current_key_version('acct'), current_key_version('default') AS other_domain;
SELECT domain, version FROM key_version ORDER BY domain;

-- new values use the new version; old tokens no longer match a fresh one
SELECT pseudonym_version(pseudonymize(1, 'acct')) AS new_version,
       pseudonymize(1, 'acct') = (SELECT uid FROM accounts WHERE id = 1) AS still_matches;
-- an explicit version reproduces the old token for lookups
SELECT pseudonymize('1', 'acct', 1) = (SELECT uid FROM accounts WHERE id = 1) AS old_version_matches;
-- or every version at once, newest first
SELECT array_length(pseudonymize_all_versions('1', 'acct'), 1) AS versions,
       pseudonym_version((pseudonymize_all_versions('1', 'acct'))[1]) AS first_is_newest;
SELECT count(*) FROM accounts WHERE uid = ANY (pseudonymize_all_versions('7', 'acct'));

-- sealed values of the old version still unseal; new seals use version 2
SELECT unseal(email) FROM accounts WHERE id = 3;
SELECT sealed_version(seal('a3@example.com', 'acct')) AS new_seal_version,
       seal('a3@example.com', 'acct') = (SELECT email FROM accounts WHERE id = 3) AS equal_before_rekey;

-- rekey rewrites the column in batches; plaintexts and equality survive
CALL rekey('accounts', 'email', 10);
SELECT sealed_version(email) AS version, count(*) FROM accounts GROUP BY 1;
SELECT unseal(email) FROM accounts WHERE id = 3;
SELECT seal('a3@example.com', 'acct') = (SELECT email FROM accounts WHERE id = 3) AS equal_after_rekey;
-- nothing left to do: a second run rewrites nothing
CALL rekey('accounts', 'email');
-- rekey refuses what it cannot do
CALL rekey('accounts', 'uid');
CALL rekey('accounts', 'nosuchcolumn');
CALL rekey('accounts', 'email', 0);

-- a rotation that rolls back leaves the version (and this backend's cache) alone
BEGIN;
SELECT rotate_key('acct');
SELECT current_key_version('acct');
ROLLBACK;
SELECT current_key_version('acct');

-- bad domains, and the last version
SELECT rotate_key('Bad');
UPDATE key_version SET version = 65535 WHERE domain = 'acct';
SELECT rotate_key('acct');
SELECT pseudonymize('1', 'acct')::text ~ '^pn:65535:' AS max_version;
UPDATE key_version SET version = 2 WHERE domain = 'acct';

-- only superusers and privstat_admin members rotate and rekey
CREATE ROLE privstat_test_user;
CREATE ROLE privstat_test_admin;
GRANT privstat_admin TO privstat_test_admin;
GRANT ALL ON accounts TO privstat_test_user, privstat_test_admin;
SET ROLE privstat_test_user;
SELECT rotate_key('acct');
CALL rekey('accounts', 'email');
RESET ROLE;
SET ROLE privstat_test_admin;
SELECT rotate_key('acct');
-- inside a transaction block rekey cannot commit its batches, and says so
BEGIN;
CALL rekey('accounts', 'email');
ROLLBACK;
CALL rekey('accounts', 'email');
RESET ROLE;
SELECT sealed_version(email) AS version, count(*) FROM accounts GROUP BY 1;

-- parallel workers look up key versions with the statement's snapshot: the
-- same tokens as the leader, and no error in a worker with a cold cache
CREATE TABLE leader_tokens AS SELECT email::text AS e, pseudonymize(email::text, 'acct') AS t FROM accounts;
SET force_parallel_mode = on;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT count(*) FROM leader_tokens WHERE t = pseudonymize(e, 'acct');
SELECT count(*) AS same_in_a_worker FROM leader_tokens WHERE t = pseudonymize(e, 'acct');
SELECT count(seal('x' || sealed_version(email), 'acct')) AS sealed FROM accounts;
DROP TABLE leader_tokens;
RESET force_parallel_mode;
RESET max_parallel_workers_per_gather;

-- _set_key_version (rotate_key's step on Citus workers): only forward, in range, a valid domain
SELECT _set_key_version('acct2', 3), _set_key_version('acct2', 2) AS never_back,
       _set_key_version('acct2', 4) AS forward;
SELECT _set_key_version('acct2', 0);
SELECT _set_key_version('acct2', 65536);
SELECT _set_key_version('Bad', 2);

DROP TABLE accounts;
DELETE FROM key_version;
DROP ROLE privstat_test_user, privstat_test_admin;
