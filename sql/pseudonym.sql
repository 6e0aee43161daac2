--
-- pseudonymize(): determinism, domain separation, overloads, bad input.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS privstat;
RESET client_min_messages;
SET search_path = public, privstat;

-- the text form: prefix, key version, 32 hex digits (128 bits of HMAC)
SELECT pseudonymize('alice')::text ~ '^pn:1:[0-9a-f]{32}$' AS well_formed;
SELECT pg_column_size(pseudonymize('alice')) AS bytes;

-- same value, domain and key: same token; another value or domain: another
SELECT pseudonymize('alice') = pseudonymize('alice') AS deterministic,
       pseudonymize('alice') = pseudonymize('alice', 'default') AS default_domain,
       pseudonymize('alice') <> pseudonymize('bob') AS values_differ,
       pseudonymize('alice', 'customer') <> pseudonymize('alice', 'device') AS domains_differ,
       pseudonymize('alice', 'customer') <> pseudonymize('alice') AS default_differs;

-- no structure leaks across domains: the two tokens share no obvious prefix
SELECT substr(pseudonymize('alice', 'customer')::text, 6, 8)
     = substr(pseudonymize('alice', 'device')::text, 6, 8) AS same_prefix;

-- bigint and uuid use their canonical text form
SELECT pseudonymize(42::bigint) = pseudonymize('42') AS bigint_is_text,
       pseudonymize(-9223372036854775808) = pseudonymize('-9223372036854775808') AS min_bigint,
       pseudonymize(42) = pseudonymize(42::bigint) AS int_promotes,
       pseudonymize('A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'::uuid)
         = pseudonymize('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11') AS uuid_is_text,
       pseudonymize('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, 'device')
         = pseudonymize('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'device') AS uuid_domain;

-- one token per distinct value over many rows (no collisions, stable)
SELECT count(DISTINCT pseudonymize(g)) AS distinct_tokens,
       count(*) FILTER (WHERE pseudonymize(g) = pseudonymize(g::text)) AS stable
FROM generate_series(1, 10000) AS g;

-- NULLs: the functions are strict
SELECT pseudonymize(NULL::text) IS NULL AS null_value,
       pseudonymize('alice', NULL) IS NULL AS null_domain,
       pseudonymize(NULL::bigint) IS NULL AS null_bigint,
       pseudonymize(NULL::uuid) IS NULL AS null_uuid;

-- an empty string is refused: it is almost always a missing identifier
SELECT pseudonymize('');
-- whitespace is a value like any other
SELECT pseudonymize(' ') <> pseudonymize('  ') AS spaces_differ;

-- a 1 MB value is fine, and so are non-ASCII characters
SELECT pseudonymize(repeat('x', 1024 * 1024))::text ~ '^pn:1:' AS one_megabyte;
SELECT pseudonymize('Zoë') <> pseudonymize('Zoe') AS unicode;

-- invalid domains: empty, upper case, leading digit, punctuation, too long
SELECT pseudonymize('alice', '');
SELECT pseudonymize('alice', 'Customer');
SELECT pseudonymize('alice', '1customer');
SELECT pseudonymize('alice', 'cust:omer');
SELECT pseudonymize('alice', 'customer ');
SELECT pseudonymize('alice', repeat('a', 33));
SELECT pseudonymize('alice', repeat('a', 32))::text ~ '^pn:1:' AS longest_domain;

-- explicit key versions: only versions the domain has reached
SELECT pseudonymize('alice', 'default', 1) = pseudonymize('alice') AS version_one;
SELECT pseudonymize('alice', 'default', 2);
SELECT pseudonymize('alice', 'default', 0);
SELECT pseudonymize('alice', 'default', -1);
SELECT current_key_version('default'), current_key_version('never_rotated');
SELECT current_key_version('Bad Domain');

-- the raw value never appears in an error, even when it lands in the wrong place
DO $$
BEGIN
	PERFORM 'secret-raw-identifier'::pseudonym;
EXCEPTION WHEN invalid_text_representation THEN
	RAISE NOTICE 'message mentions the input: %', strpos(SQLERRM, 'secret') > 0;
END
$$;
