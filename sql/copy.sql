--
-- COPY in text and binary form round-trips both types exactly, and binary
-- receive refuses wrong lengths and layouts.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS privstat;
RESET client_min_messages;
SET search_path = public, privstat;

CREATE TABLE src (id int, uid pseudonym, email sealed);
INSERT INTO src SELECT g, pseudonymize(g), seal('u' || g || '@example.com') FROM generate_series(1, 100) g;
INSERT INTO src VALUES (101, NULL, NULL);
CREATE TABLE dst (LIKE src);

-- the files go to the data directory, which only the server can write
CREATE FUNCTION copy_file(name text) RETURNS text LANGUAGE sql
	AS $$ SELECT current_setting('data_directory') || '/privstat_copy_' || name $$;

DO $$ BEGIN EXECUTE format('COPY src TO %L', copy_file('text')); END $$;
DO $$ BEGIN EXECUTE format('COPY dst FROM %L', copy_file('text')); END $$;
SELECT count(*) AS text_rows,
       count(*) FILTER (WHERE s.uid = d.uid AND s.email = d.email) AS equal_values,
       count(*) FILTER (WHERE s.uid IS NULL AND d.uid IS NULL) AS nulls
FROM src s JOIN dst d USING (id);
TRUNCATE dst;

DO $$ BEGIN EXECUTE format('COPY src TO %L (FORMAT binary)', copy_file('bin')); END $$;
DO $$ BEGIN EXECUTE format('COPY dst FROM %L (FORMAT binary)', copy_file('bin')); END $$;
SELECT count(*) AS binary_rows,
       count(*) FILTER (WHERE s.uid = d.uid AND s.email = d.email) AS equal_values,
       count(*) FILTER (WHERE s.uid IS NULL AND d.uid IS NULL) AS nulls
FROM src s JOIN dst d USING (id);
SELECT unseal(email) FROM dst WHERE id = 7;

-- binary receive with wrong lengths: write bytea fields, read them back as
-- pseudonym or sealed, so pseudonym_recv/sealed_recv see exactly these bytes
CREATE TABLE raw (b bytea);
CREATE TABLE p (v pseudonym);
CREATE TABLE s (v sealed);
CREATE FUNCTION recv_test(tbl text, bytes bytea) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	TRUNCATE raw;
	INSERT INTO raw VALUES (bytes);
	EXECUTE format('COPY raw TO %L (FORMAT binary)', copy_file('raw'));
	EXECUTE format('COPY %I FROM %L (FORMAT binary)', tbl, copy_file('raw'));
	RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SELECT recv_test('p', '\x000100112233445566778899aabbccddeeff');      -- 18 bytes: ok
SELECT recv_test('p', '\x0001001122334455667788');                    -- short
SELECT recv_test('p', '\x000100112233445566778899aabbccddeeff00');    -- long
SELECT recv_test('p', '');                                            -- empty
SELECT recv_test('p', '\x000000112233445566778899aabbccddeeff');      -- version 0
SELECT recv_test('s', '\x000102616200112233445566778899aabbccddeeff00');  -- ok
SELECT recv_test('s', '\x0001026162');                                -- no tag
SELECT recv_test('s', '\x000102616200112233445566778899aabbccddeeff');    -- no ciphertext
SELECT recv_test('s', '\x000100');                                    -- empty domain
SELECT recv_test('s', '\x000121616200112233445566778899aabbccddeeff00');  -- domain length 33
SELECT recv_test('s', '\x000102414200112233445566778899aabbccddeeff00');  -- upper-case domain
SELECT recv_test('s', '\x000002616200112233445566778899aabbccddeeff00');  -- version 0
SELECT recv_test('s', '');
SELECT * FROM p;
SELECT * FROM s;

DROP TABLE src, dst, raw, p, s;
DROP FUNCTION recv_test(text, bytea);
DROP FUNCTION copy_file(text);
