--
-- Text and binary forms of pseudonym and sealed, and every kind of bad input.
-- Key material is random per cluster, so tests check shapes and properties,
-- never token values (the TAP test 003_known_answer checks exact values).
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS privstat;
RESET client_min_messages;
SET search_path = public, privstat;

-- a well-formed pseudonym round-trips exactly; hex is normalised to lowercase
SELECT 'pn:1:00112233445566778899aabbccddeeff'::pseudonym;
SELECT 'pn:65535:00112233445566778899AABBCCDDEEFF'::pseudonym;
SELECT pseudonym_version('pn:7:00112233445566778899aabbccddeeff');

-- malformed pseudonyms: none is accepted, and no message echoes the input
SELECT ''::pseudonym;
SELECT 'alice@example.com'::pseudonym;
SELECT 'pn:'::pseudonym;
SELECT 'pn:1:'::pseudonym;
SELECT 'pn:0:00112233445566778899aabbccddeeff'::pseudonym;
SELECT 'pn:01:00112233445566778899aabbccddeeff'::pseudonym;
SELECT 'pn:65536:00112233445566778899aabbccddeeff'::pseudonym;
SELECT 'pn:-1:00112233445566778899aabbccddeeff'::pseudonym;
SELECT 'pn:1:00112233445566778899aabbccddeef'::pseudonym;
SELECT 'pn:1:00112233445566778899aabbccddeeff0'::pseudonym;
SELECT 'pn:1:00112233445566778899aabbccddeefg'::pseudonym;
SELECT ' pn:1:00112233445566778899aabbccddeeff'::pseudonym;
SELECT 'pn:1:00112233445566778899aabbccddeeff '::pseudonym;
SELECT 'PN:1:00112233445566778899aabbccddeeff'::pseudonym;
SELECT 'sl:default:1:00112233445566778899aabbccddeeff00'::pseudonym;

-- a well-formed sealed value round-trips exactly
SELECT 'sl:customer:3:00112233445566778899aabbccddeeff00'::sealed;
SELECT sealed_domain('sl:customer:3:00112233445566778899aabbccddeeff00'),
       sealed_version('sl:customer:3:00112233445566778899aabbccddeeff00');

-- malformed sealed values
SELECT ''::sealed;
SELECT 'alice@example.com'::sealed;
SELECT 'sl:customer:1:'::sealed;
SELECT 'sl:customer:1:00112233445566778899aabbccddeeff'::sealed;   -- tag only, no ciphertext
SELECT 'sl:customer:1:00112233445566778899aabbccddeeff0'::sealed;  -- odd digits
SELECT 'sl:customer:1:00112233445566778899aabbccddeeffzz'::sealed;
SELECT 'sl::1:00112233445566778899aabbccddeeff00'::sealed;
SELECT 'sl:Customer:1:00112233445566778899aabbccddeeff00'::sealed;
SELECT 'sl:1customer:1:00112233445566778899aabbccddeeff00'::sealed;
SELECT 'sl:abcdefghijklmnopqrstuvwxyz0123456:1:00112233445566778899aabbccddeeff00'::sealed;
SELECT 'sl:customer:0:00112233445566778899aabbccddeeff00'::sealed;
SELECT 'sl:customer:x:00112233445566778899aabbccddeeff00'::sealed;
SELECT 'pn:1:00112233445566778899aabbccddeeff'::sealed;

-- NULL in, NULL out
SELECT NULL::pseudonym IS NULL AS null_pseudonym, NULL::sealed IS NULL AS null_sealed;

-- binary form: the raw bytes (version, MAC; or version, domain, tag, ciphertext)
SELECT pseudonym_send('pn:258:00112233445566778899aabbccddeeff');
SELECT sealed_send('sl:ab:1:00112233445566778899aabbccddeeff00');

-- A 1 MB string is neither a pseudonym nor a sealed value (and is not echoed).
SELECT repeat('x', 1024 * 1024)::pseudonym;
SELECT length(repeat('x', 1024 * 1024)::sealed::text);

-- the binary receive functions are exercised through COPY in copy.sql

-- settings: the key file path is visible to superusers, cannot be SET, and
-- the privstat.* prefix is reserved
SHOW privstat.key_file;
SET privstat.key_file = '/tmp/elsewhere';
SET privstat.no_such_setting = 1;
