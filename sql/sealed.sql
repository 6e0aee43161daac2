--
-- seal() / unseal(): round trips, tampering, permissions.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS privstat;
RESET client_min_messages;
SET search_path = public, privstat;

SELECT seal('alice@example.com', 'customer')::text ~ '^sl:customer:1:[0-9a-f]+$' AS well_formed;
-- deterministic: equal plaintexts give equal sealed values in one domain
SELECT seal('alice@example.com', 'customer') = seal('alice@example.com', 'customer') AS deterministic,
       seal('alice@example.com', 'customer') <> seal('bob@example.com', 'customer') AS values_differ,
       seal('alice@example.com', 'customer') <> seal('alice@example.com', 'device') AS domains_differ;
-- 16-byte tag + ciphertext as long as the plaintext, plus the header
SELECT length(seal('alice@example.com', 'customer')::text)
     = length('sl:customer:1:') + 2 * (16 + length('alice@example.com')) AS size;

-- round trips, including the default domain, unicode and 1 MB
SELECT unseal(seal('alice@example.com', 'customer'));
SELECT unseal(seal('Zoë'));
SELECT unseal(seal(repeat('x', 1024 * 1024))) = repeat('x', 1024 * 1024) AS one_megabyte;
SELECT unseal(seal('x')) AS one_byte;

-- NULL and empty
SELECT seal(NULL) IS NULL AS null_value, unseal(NULL) IS NULL AS null_sealed;
SELECT seal('');
SELECT seal('x', 'Not-A-Domain');

-- tampering: a changed ciphertext byte, a changed tag byte, a changed domain,
-- a changed key version: each fails authentication, never returns garbage
CREATE TEMP TABLE s AS SELECT seal('alice@example.com', 'customer')::text AS t;
SELECT unseal(overlay(t placing CASE WHEN substr(t, 50, 1) = '0' THEN '1' ELSE '0' END
                      from 50 for 1)::sealed) FROM s;
SELECT unseal(overlay(t placing CASE WHEN substr(t, 16, 1) = '0' THEN '1' ELSE '0' END
                      from 16 for 1)::sealed) FROM s;
SELECT unseal(replace(t, 'sl:customer:', 'sl:customes:')::sealed) FROM s;
SELECT unseal(replace(t, 'sl:customer:', 'sl:device:')::sealed) FROM s;
-- truncated by one byte: still well-formed, no longer authentic
SELECT unseal(left(t, -2)::sealed) FROM s;
-- a version the domain has not reached is refused before decrypting
SELECT unseal(replace(t, 'sl:customer:1:', 'sl:customer:9:')::sealed) FROM s;
-- a value forged from scratch
SELECT unseal('sl:customer:1:00000000000000000000000000000000aa');

-- only members of privstat_unsealer may unseal
CREATE ROLE privstat_test_app;
CREATE ROLE privstat_test_reader;
GRANT privstat_unsealer TO privstat_test_reader;
GRANT SELECT ON s TO privstat_test_app, privstat_test_reader;
SET ROLE privstat_test_app;
SELECT seal('carol', 'customer') IS NOT NULL AS app_can_seal;
SELECT unseal(t::sealed) FROM s;
SELECT reseal(t::sealed) FROM s;
RESET ROLE;
-- even an explicit EXECUTE grant does not let a non-member unseal
GRANT EXECUTE ON FUNCTION unseal(sealed) TO privstat_test_app;
SET ROLE privstat_test_app;
SELECT unseal(t::sealed) FROM s;
RESET ROLE;
SET ROLE privstat_test_reader;
SELECT unseal(t::sealed) FROM s;
RESET ROLE;
REVOKE EXECUTE ON FUNCTION unseal(sealed) FROM privstat_test_app;
DROP TABLE s;
DROP ROLE privstat_test_app, privstat_test_reader;
