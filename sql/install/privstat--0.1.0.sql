/* privstat--0.1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION privstat" to load this file. \quit

-- Refuse before creating anything when privstat is not preloaded.
CREATE FUNCTION privstat._assert_preloaded() RETURNS void
	AS 'MODULE_PATHNAME', 'privstat_assert_preloaded' LANGUAGE C STRICT;
SELECT privstat._assert_preloaded();

-- Roles are cluster-wide: a second database that creates the extension finds
-- them already there.  DROP EXTENSION leaves them (see doc/install.md).
DO $roles$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'privstat_admin') THEN
		CREATE ROLE privstat_admin NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'privstat_unsealer') THEN
		CREATE ROLE privstat_unsealer NOLOGIN;
	END IF;
END
$roles$;

GRANT USAGE ON SCHEMA privstat TO PUBLIC;

------------------------------------------------------------------------------
-- Keys: the current key version of each domain
------------------------------------------------------------------------------

CREATE FUNCTION privstat._check_domain(domain text) RETURNS text
	AS 'MODULE_PATHNAME', 'privstat_check_domain_sql'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- One row per rotated domain; a domain without a row is at version 1.
CREATE TABLE privstat.key_version (
	domain		text PRIMARY KEY CHECK (privstat._check_domain(domain) IS NOT NULL),
	version		integer NOT NULL CHECK (version BETWEEN 1 AND 65535),
	rotated_at	timestamptz NOT NULL DEFAULT pg_catalog.now()
);
SELECT pg_catalog.pg_extension_config_dump('privstat.key_version', '');
GRANT SELECT ON privstat.key_version TO PUBLIC;

CREATE FUNCTION privstat._key_version_changed() RETURNS trigger
	AS 'MODULE_PATHNAME', 'privstat_key_version_changed' LANGUAGE C;
CREATE TRIGGER key_version_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON privstat.key_version
	FOR EACH STATEMENT EXECUTE FUNCTION privstat._key_version_changed();

CREATE FUNCTION privstat.current_key_version(domain text DEFAULT 'default') RETURNS integer
	AS 'MODULE_PATHNAME', 'privstat_current_key_version_sql'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;

CREATE FUNCTION privstat.rotate_key(domain text) RETURNS integer
	LANGUAGE plpgsql STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v integer;
BEGIN
	PERFORM privstat._check_domain(domain);
	SELECT k.version INTO v FROM privstat.key_version AS k
		WHERE k.domain OPERATOR(pg_catalog.=) rotate_key.domain FOR UPDATE;
	IF v OPERATOR(pg_catalog.>=) 65535 THEN
		RAISE EXCEPTION 'domain has reached the last key version, 65535'
			USING ERRCODE = 'program_limit_exceeded',
				  HINT = 'Use a new domain name for new values.';
	END IF;
	INSERT INTO privstat.key_version AS k (domain, version)
		VALUES (rotate_key.domain, 2)
		ON CONFLICT ON CONSTRAINT key_version_pkey
		DO UPDATE SET version = k.version OPERATOR(pg_catalog.+) 1,
					  rotated_at = pg_catalog.now()
		RETURNING k.version INTO v;
	RETURN v;
END
$fn$;
REVOKE ALL ON FUNCTION privstat.rotate_key(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privstat.rotate_key(text) TO privstat_admin;

------------------------------------------------------------------------------
-- pseudonym: keyed one-way token
------------------------------------------------------------------------------

CREATE TYPE privstat.pseudonym;

CREATE FUNCTION privstat.pseudonym_in(cstring) RETURNS privstat.pseudonym
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat.pseudonym_out(privstat.pseudonym) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat.pseudonym_recv(internal) RETURNS privstat.pseudonym
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat.pseudonym_send(privstat.pseudonym) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE privstat.pseudonym (
	INTERNALLENGTH = 18,
	INPUT = privstat.pseudonym_in,
	OUTPUT = privstat.pseudonym_out,
	RECEIVE = privstat.pseudonym_recv,
	SEND = privstat.pseudonym_send,
	ALIGNMENT = char,
	STORAGE = plain
);
COMMENT ON TYPE privstat.pseudonym IS 'keyed one-way token: HMAC-SHA-256 under a domain key, 128 bits, with its key version';

CREATE FUNCTION privstat.pseudonym_eq(privstat.pseudonym, privstat.pseudonym) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION privstat.pseudonym_ne(privstat.pseudonym, privstat.pseudonym) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION privstat.pseudonym_lt(privstat.pseudonym, privstat.pseudonym) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION privstat.pseudonym_le(privstat.pseudonym, privstat.pseudonym) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION privstat.pseudonym_gt(privstat.pseudonym, privstat.pseudonym) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION privstat.pseudonym_ge(privstat.pseudonym, privstat.pseudonym) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION privstat.pseudonym_cmp(privstat.pseudonym, privstat.pseudonym) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION privstat.pseudonym_hash(privstat.pseudonym) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION privstat.pseudonym_hash_extended(privstat.pseudonym, bigint) RETURNS bigint
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE OPERATOR privstat.= (
	LEFTARG = privstat.pseudonym, RIGHTARG = privstat.pseudonym,
	FUNCTION = privstat.pseudonym_eq,
	COMMUTATOR = OPERATOR(privstat.=), NEGATOR = OPERATOR(privstat.<>),
	RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES
);
CREATE OPERATOR privstat.<> (
	LEFTARG = privstat.pseudonym, RIGHTARG = privstat.pseudonym,
	FUNCTION = privstat.pseudonym_ne,
	COMMUTATOR = OPERATOR(privstat.<>), NEGATOR = OPERATOR(privstat.=),
	RESTRICT = neqsel, JOIN = neqjoinsel
);
CREATE OPERATOR privstat.< (
	LEFTARG = privstat.pseudonym, RIGHTARG = privstat.pseudonym,
	FUNCTION = privstat.pseudonym_lt,
	COMMUTATOR = OPERATOR(privstat.>), NEGATOR = OPERATOR(privstat.>=),
	RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);
CREATE OPERATOR privstat.<= (
	LEFTARG = privstat.pseudonym, RIGHTARG = privstat.pseudonym,
	FUNCTION = privstat.pseudonym_le,
	COMMUTATOR = OPERATOR(privstat.>=), NEGATOR = OPERATOR(privstat.>),
	RESTRICT = scalarlesel, JOIN = scalarlejoinsel
);
CREATE OPERATOR privstat.> (
	LEFTARG = privstat.pseudonym, RIGHTARG = privstat.pseudonym,
	FUNCTION = privstat.pseudonym_gt,
	COMMUTATOR = OPERATOR(privstat.<), NEGATOR = OPERATOR(privstat.<=),
	RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);
CREATE OPERATOR privstat.>= (
	LEFTARG = privstat.pseudonym, RIGHTARG = privstat.pseudonym,
	FUNCTION = privstat.pseudonym_ge,
	COMMUTATOR = OPERATOR(privstat.<=), NEGATOR = OPERATOR(privstat.<),
	RESTRICT = scalargesel, JOIN = scalargejoinsel
);

CREATE OPERATOR CLASS privstat.pseudonym_ops
	DEFAULT FOR TYPE privstat.pseudonym USING btree AS
		OPERATOR 1 privstat.<,
		OPERATOR 2 privstat.<=,
		OPERATOR 3 privstat.=,
		OPERATOR 4 privstat.>=,
		OPERATOR 5 privstat.>,
		FUNCTION 1 privstat.pseudonym_cmp(privstat.pseudonym, privstat.pseudonym);

CREATE OPERATOR CLASS privstat.pseudonym_hash_ops
	DEFAULT FOR TYPE privstat.pseudonym USING hash AS
		OPERATOR 1 privstat.=,
		FUNCTION 1 privstat.pseudonym_hash(privstat.pseudonym),
		FUNCTION 2 privstat.pseudonym_hash_extended(privstat.pseudonym, bigint);

-- STABLE, not IMMUTABLE: the result depends on the key file and on the
-- domain's current key version, which privstat.rotate_key() changes.  See
-- doc/pseudonyms.md, "Volatility".
CREATE FUNCTION privstat.pseudonymize(value text, domain text DEFAULT 'default')
	RETURNS privstat.pseudonym
	AS 'MODULE_PATHNAME', 'pseudonymize_text' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat.pseudonymize(value bigint, domain text DEFAULT 'default')
	RETURNS privstat.pseudonym
	AS 'MODULE_PATHNAME', 'pseudonymize_int8' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat.pseudonymize(value uuid, domain text DEFAULT 'default')
	RETURNS privstat.pseudonym
	AS 'MODULE_PATHNAME', 'pseudonymize_uuid' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat.pseudonymize(value text, domain text, version integer)
	RETURNS privstat.pseudonym
	AS 'MODULE_PATHNAME', 'pseudonymize_text_version' LANGUAGE C STABLE STRICT PARALLEL SAFE;

-- Every pseudonym the value has had in this domain, newest first: for lookups
-- in a column that holds pseudonyms made under older key versions.
CREATE FUNCTION privstat.pseudonymize_all_versions(value text, domain text DEFAULT 'default')
	RETURNS privstat.pseudonym[]
	LANGUAGE sql STABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT pg_catalog.array_agg(privstat.pseudonymize(value, domain, v) ORDER BY v DESC)
	FROM pg_catalog.generate_series(1, privstat.current_key_version(domain)) AS v
$fn$;

CREATE FUNCTION privstat.pseudonym_version(privstat.pseudonym) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

------------------------------------------------------------------------------
-- sealed: deterministic authenticated encryption (AES-256-SIV)
------------------------------------------------------------------------------

CREATE TYPE privstat.sealed;

CREATE FUNCTION privstat.sealed_in(cstring) RETURNS privstat.sealed
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat.sealed_out(privstat.sealed) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat.sealed_recv(internal) RETURNS privstat.sealed
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat.sealed_send(privstat.sealed) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Ciphertext does not compress: store it out of line without trying.
CREATE TYPE privstat.sealed (
	INTERNALLENGTH = variable,
	INPUT = privstat.sealed_in,
	OUTPUT = privstat.sealed_out,
	RECEIVE = privstat.sealed_recv,
	SEND = privstat.sealed_send,
	ALIGNMENT = int4,
	STORAGE = external
);
COMMENT ON TYPE privstat.sealed IS 'deterministic authenticated encryption (AES-256-SIV) under a domain key';

CREATE FUNCTION privstat.sealed_eq(privstat.sealed, privstat.sealed) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION privstat.sealed_ne(privstat.sealed, privstat.sealed) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION privstat.sealed_lt(privstat.sealed, privstat.sealed) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION privstat.sealed_le(privstat.sealed, privstat.sealed) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION privstat.sealed_gt(privstat.sealed, privstat.sealed) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION privstat.sealed_ge(privstat.sealed, privstat.sealed) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION privstat.sealed_cmp(privstat.sealed, privstat.sealed) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION privstat.sealed_hash(privstat.sealed) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION privstat.sealed_hash_extended(privstat.sealed, bigint) RETURNS bigint
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE OPERATOR privstat.= (
	LEFTARG = privstat.sealed, RIGHTARG = privstat.sealed,
	FUNCTION = privstat.sealed_eq,
	COMMUTATOR = OPERATOR(privstat.=), NEGATOR = OPERATOR(privstat.<>),
	RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES
);
CREATE OPERATOR privstat.<> (
	LEFTARG = privstat.sealed, RIGHTARG = privstat.sealed,
	FUNCTION = privstat.sealed_ne,
	COMMUTATOR = OPERATOR(privstat.<>), NEGATOR = OPERATOR(privstat.=),
	RESTRICT = neqsel, JOIN = neqjoinsel
);
CREATE OPERATOR privstat.< (
	LEFTARG = privstat.sealed, RIGHTARG = privstat.sealed,
	FUNCTION = privstat.sealed_lt,
	COMMUTATOR = OPERATOR(privstat.>), NEGATOR = OPERATOR(privstat.>=),
	RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);
CREATE OPERATOR privstat.<= (
	LEFTARG = privstat.sealed, RIGHTARG = privstat.sealed,
	FUNCTION = privstat.sealed_le,
	COMMUTATOR = OPERATOR(privstat.>=), NEGATOR = OPERATOR(privstat.>),
	RESTRICT = scalarlesel, JOIN = scalarlejoinsel
);
CREATE OPERATOR privstat.> (
	LEFTARG = privstat.sealed, RIGHTARG = privstat.sealed,
	FUNCTION = privstat.sealed_gt,
	COMMUTATOR = OPERATOR(privstat.<), NEGATOR = OPERATOR(privstat.<=),
	RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);
CREATE OPERATOR privstat.>= (
	LEFTARG = privstat.sealed, RIGHTARG = privstat.sealed,
	FUNCTION = privstat.sealed_ge,
	COMMUTATOR = OPERATOR(privstat.<=), NEGATOR = OPERATOR(privstat.<),
	RESTRICT = scalargesel, JOIN = scalargejoinsel
);

CREATE OPERATOR CLASS privstat.sealed_ops
	DEFAULT FOR TYPE privstat.sealed USING btree AS
		OPERATOR 1 privstat.<,
		OPERATOR 2 privstat.<=,
		OPERATOR 3 privstat.=,
		OPERATOR 4 privstat.>=,
		OPERATOR 5 privstat.>,
		FUNCTION 1 privstat.sealed_cmp(privstat.sealed, privstat.sealed);

CREATE OPERATOR CLASS privstat.sealed_hash_ops
	DEFAULT FOR TYPE privstat.sealed USING hash AS
		OPERATOR 1 privstat.=,
		FUNCTION 1 privstat.sealed_hash(privstat.sealed),
		FUNCTION 2 privstat.sealed_hash_extended(privstat.sealed, bigint);

CREATE FUNCTION privstat.seal(value text, domain text DEFAULT 'default')
	RETURNS privstat.sealed
	AS 'MODULE_PATHNAME', 'privstat_seal' LANGUAGE C STABLE STRICT PARALLEL SAFE;

CREATE FUNCTION privstat.unseal(privstat.sealed) RETURNS text
	AS 'MODULE_PATHNAME', 'privstat_unseal' LANGUAGE C STABLE STRICT PARALLEL SAFE;
REVOKE ALL ON FUNCTION privstat.unseal(privstat.sealed) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privstat.unseal(privstat.sealed) TO privstat_unsealer;

CREATE FUNCTION privstat.reseal(privstat.sealed) RETURNS privstat.sealed
	AS 'MODULE_PATHNAME', 'privstat_reseal' LANGUAGE C STABLE STRICT PARALLEL SAFE;
REVOKE ALL ON FUNCTION privstat.reseal(privstat.sealed) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privstat.reseal(privstat.sealed) TO privstat_admin;

CREATE FUNCTION privstat.sealed_version(privstat.sealed) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION privstat.sealed_domain(privstat.sealed) RETURNS text
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

-- Rewrite a sealed column to the newest key version of each value's domain,
-- about batch_size distinct values per transaction.  Call it with CALL outside
-- a transaction block: it commits after every batch, so no lock is held long.
-- Rows are chosen by value, not ctid, so partitioned tables work too; equal
-- values stay equal.  Every name in it is schema-qualified: a procedure with
-- a SET search_path clause could not COMMIT.  Needs UPDATE on the table and EXECUTE on reseal().
CREATE PROCEDURE privstat.rekey(tbl regclass, col name, batch_size integer DEFAULT 10000,
								INOUT rewritten bigint DEFAULT 0)
	LANGUAGE plpgsql
AS $fn$
DECLARE
	typ oid;
	n bigint;
BEGIN
	IF batch_size IS NULL OR batch_size OPERATOR(pg_catalog.<) 1 THEN
		RAISE EXCEPTION 'batch_size must be at least 1'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	SELECT a.atttypid INTO typ FROM pg_catalog.pg_attribute AS a
		WHERE a.attrelid OPERATOR(pg_catalog.=) tbl
		  AND a.attname OPERATOR(pg_catalog.=) col
		  AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'column "%" of relation % does not exist', col, tbl
			USING ERRCODE = 'undefined_column';
	END IF;
	IF typ OPERATOR(pg_catalog.<>) 'privstat.sealed'::pg_catalog.regtype THEN
		RAISE EXCEPTION 'column "%" of relation % is not of type privstat.sealed', col, tbl
			USING ERRCODE = 'datatype_mismatch',
				  HINT = 'Pseudonyms cannot be rekeyed: they are one-way.  See doc/pseudonyms.md, "Rotation".';
	END IF;
	rewritten := 0;
	LOOP
		EXECUTE pg_catalog.format(
			'UPDATE %s SET %I = privstat.reseal(%I) WHERE %I OPERATOR(privstat.=) ANY (ARRAY('
			'SELECT DISTINCT %I FROM %s WHERE %I IS NOT NULL AND privstat.sealed_version(%I) '
			'OPERATOR(pg_catalog.<>) privstat.current_key_version(privstat.sealed_domain(%I)) '
			'LIMIT %s))',
			tbl, col, col, col, col, tbl, col, col, col, batch_size);
		GET DIAGNOSTICS n = ROW_COUNT;
		EXIT WHEN n OPERATOR(pg_catalog.=) 0;
		rewritten := rewritten OPERATOR(pg_catalog.+) n;
		COMMIT;
	END LOOP;
END
$fn$;
REVOKE ALL ON PROCEDURE privstat.rekey(regclass, name, integer, bigint) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE privstat.rekey(regclass, name, integer, bigint) TO privstat_admin;

------------------------------------------------------------------------------
-- Differentially private aggregates
------------------------------------------------------------------------------

-- Transition states: concrete fixed-length types (not "internal"), so that
-- parallel workers and Citus can ship partial states.  Exact integers only,
-- never noise.  Their text form is hexadecimal; nothing but privstat's own
-- aggregates can use them (the support functions check the calling Aggref).
CREATE TYPE privstat.dp_state;
CREATE FUNCTION privstat.dp_state_in(cstring) RETURNS privstat.dp_state
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat.dp_state_out(privstat.dp_state) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat.dp_state_recv(internal) RETURNS privstat.dp_state
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat.dp_state_send(privstat.dp_state) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE TYPE privstat.dp_state (
	INTERNALLENGTH = 144, ALIGNMENT = double, STORAGE = plain,
	INPUT = privstat.dp_state_in, OUTPUT = privstat.dp_state_out,
	RECEIVE = privstat.dp_state_recv, SEND = privstat.dp_state_send
);

CREATE TYPE privstat.dp_hist_state;
CREATE FUNCTION privstat.dp_hist_state_in(cstring) RETURNS privstat.dp_hist_state
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat.dp_hist_state_out(privstat.dp_hist_state) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat.dp_hist_state_recv(internal) RETURNS privstat.dp_hist_state
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat.dp_hist_state_send(privstat.dp_hist_state) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE TYPE privstat.dp_hist_state (
	INTERNALLENGTH = 2152, ALIGNMENT = double, STORAGE = plain,
	INPUT = privstat.dp_hist_state_in, OUTPUT = privstat.dp_hist_state_out,
	RECEIVE = privstat.dp_hist_state_recv, SEND = privstat.dp_hist_state_send
);

-- Combine functions (parallel query, Citus) and final functions.  Final
-- functions draw noise (VOLATILE) and store their answer in the state
-- (FINALFUNC_MODIFY = READ_WRITE), so a second call returns the same answer.
CREATE FUNCTION privstat.dp_state_combine(privstat.dp_state, privstat.dp_state) RETURNS privstat.dp_state
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION privstat.dp_hist_state_combine(privstat.dp_hist_state, privstat.dp_hist_state) RETURNS privstat.dp_hist_state
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION privstat.dp_count_final(privstat.dp_state) RETURNS bigint
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL SAFE;
CREATE FUNCTION privstat.dp_sum_final_int8(privstat.dp_state) RETURNS bigint
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL SAFE;
CREATE FUNCTION privstat.dp_sum_final_numeric(privstat.dp_state) RETURNS numeric
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL SAFE;
CREATE FUNCTION privstat.dp_sum_final_float8(privstat.dp_state) RETURNS double precision
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL SAFE;
CREATE FUNCTION privstat.dp_double_final(privstat.dp_state) RETURNS double precision
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL SAFE;
CREATE FUNCTION privstat.dp_percentile_final(privstat.dp_hist_state) RETURNS double precision
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL SAFE;

-- dp_count(*), dp_count(expr), dp_count(expr, epsilon)
CREATE FUNCTION privstat.dp_count_trans(privstat.dp_state) RETURNS privstat.dp_state
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION privstat.dp_count_trans(privstat.dp_state, "any") RETURNS privstat.dp_state
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION privstat.dp_count_trans(privstat.dp_state, "any", double precision) RETURNS privstat.dp_state
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE privstat.dp_count(*) (
	SFUNC = privstat.dp_count_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_count_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_count("any") (
	SFUNC = privstat.dp_count_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_count_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_count("any", epsilon double precision) (
	SFUNC = privstat.dp_count_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_count_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);

-- One transition function per input type, shared by dp_sum, dp_avg,
-- dp_variance and dp_stddev (the state says which), with and without epsilon.
CREATE FUNCTION privstat.dp_trans(privstat.dp_state, smallint, double precision, double precision)
	RETURNS privstat.dp_state AS 'MODULE_PATHNAME', 'dp_trans_int2' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION privstat.dp_trans(privstat.dp_state, smallint, double precision, double precision, double precision)
	RETURNS privstat.dp_state AS 'MODULE_PATHNAME', 'dp_trans_int2' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION privstat.dp_trans(privstat.dp_state, integer, double precision, double precision)
	RETURNS privstat.dp_state AS 'MODULE_PATHNAME', 'dp_trans_int4' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION privstat.dp_trans(privstat.dp_state, integer, double precision, double precision, double precision)
	RETURNS privstat.dp_state AS 'MODULE_PATHNAME', 'dp_trans_int4' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION privstat.dp_trans(privstat.dp_state, bigint, double precision, double precision)
	RETURNS privstat.dp_state AS 'MODULE_PATHNAME', 'dp_trans_int8' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION privstat.dp_trans(privstat.dp_state, bigint, double precision, double precision, double precision)
	RETURNS privstat.dp_state AS 'MODULE_PATHNAME', 'dp_trans_int8' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION privstat.dp_trans(privstat.dp_state, numeric, double precision, double precision)
	RETURNS privstat.dp_state AS 'MODULE_PATHNAME', 'dp_trans_numeric' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION privstat.dp_trans(privstat.dp_state, numeric, double precision, double precision, double precision)
	RETURNS privstat.dp_state AS 'MODULE_PATHNAME', 'dp_trans_numeric' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION privstat.dp_trans(privstat.dp_state, double precision, double precision, double precision)
	RETURNS privstat.dp_state AS 'MODULE_PATHNAME', 'dp_trans_float8' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION privstat.dp_trans(privstat.dp_state, double precision, double precision, double precision, double precision)
	RETURNS privstat.dp_state AS 'MODULE_PATHNAME', 'dp_trans_float8' LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- dp_sum(value, lower, upper [, epsilon]): smallint and integer give bigint,
-- bigint and numeric give numeric, double precision gives double precision.
CREATE AGGREGATE privstat.dp_sum(value smallint, lower double precision, upper double precision) (
	SFUNC = privstat.dp_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_sum_final_int8, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_sum(value smallint, lower double precision, upper double precision, epsilon double precision) (
	SFUNC = privstat.dp_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_sum_final_int8, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_sum(value integer, lower double precision, upper double precision) (
	SFUNC = privstat.dp_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_sum_final_int8, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_sum(value integer, lower double precision, upper double precision, epsilon double precision) (
	SFUNC = privstat.dp_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_sum_final_int8, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_sum(value bigint, lower double precision, upper double precision) (
	SFUNC = privstat.dp_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_sum_final_numeric, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_sum(value bigint, lower double precision, upper double precision, epsilon double precision) (
	SFUNC = privstat.dp_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_sum_final_numeric, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_sum(value numeric, lower double precision, upper double precision) (
	SFUNC = privstat.dp_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_sum_final_numeric, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_sum(value numeric, lower double precision, upper double precision, epsilon double precision) (
	SFUNC = privstat.dp_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_sum_final_numeric, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_sum(value double precision, lower double precision, upper double precision) (
	SFUNC = privstat.dp_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_sum_final_float8, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_sum(value double precision, lower double precision, upper double precision, epsilon double precision) (
	SFUNC = privstat.dp_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_sum_final_float8, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);

-- dp_avg(value, lower, upper [, epsilon]): the mean, double precision
CREATE AGGREGATE privstat.dp_avg(value smallint, lower double precision, upper double precision) (
	SFUNC = privstat.dp_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_double_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_avg(value smallint, lower double precision, upper double precision, epsilon double precision) (
	SFUNC = privstat.dp_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_double_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_avg(value integer, lower double precision, upper double precision) (
	SFUNC = privstat.dp_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_double_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_avg(value integer, lower double precision, upper double precision, epsilon double precision) (
	SFUNC = privstat.dp_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_double_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_avg(value bigint, lower double precision, upper double precision) (
	SFUNC = privstat.dp_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_double_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_avg(value bigint, lower double precision, upper double precision, epsilon double precision) (
	SFUNC = privstat.dp_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_double_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_avg(value numeric, lower double precision, upper double precision) (
	SFUNC = privstat.dp_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_double_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_avg(value numeric, lower double precision, upper double precision, epsilon double precision) (
	SFUNC = privstat.dp_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_double_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_avg(value double precision, lower double precision, upper double precision) (
	SFUNC = privstat.dp_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_double_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_avg(value double precision, lower double precision, upper double precision, epsilon double precision) (
	SFUNC = privstat.dp_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_double_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);

-- dp_variance(value, lower, upper [, epsilon]): the population variance, double precision
CREATE AGGREGATE privstat.dp_variance(value smallint, lower double precision, upper double precision) (
	SFUNC = privstat.dp_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_double_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_variance(value smallint, lower double precision, upper double precision, epsilon double precision) (
	SFUNC = privstat.dp_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_double_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_variance(value integer, lower double precision, upper double precision) (
	SFUNC = privstat.dp_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_double_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_variance(value integer, lower double precision, upper double precision, epsilon double precision) (
	SFUNC = privstat.dp_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_double_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_variance(value bigint, lower double precision, upper double precision) (
	SFUNC = privstat.dp_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_double_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_variance(value bigint, lower double precision, upper double precision, epsilon double precision) (
	SFUNC = privstat.dp_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_double_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_variance(value numeric, lower double precision, upper double precision) (
	SFUNC = privstat.dp_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_double_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_variance(value numeric, lower double precision, upper double precision, epsilon double precision) (
	SFUNC = privstat.dp_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_double_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_variance(value double precision, lower double precision, upper double precision) (
	SFUNC = privstat.dp_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_double_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_variance(value double precision, lower double precision, upper double precision, epsilon double precision) (
	SFUNC = privstat.dp_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_double_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);

-- dp_stddev(value, lower, upper [, epsilon]): the population standard deviation, double precision
CREATE AGGREGATE privstat.dp_stddev(value smallint, lower double precision, upper double precision) (
	SFUNC = privstat.dp_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_double_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_stddev(value smallint, lower double precision, upper double precision, epsilon double precision) (
	SFUNC = privstat.dp_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_double_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_stddev(value integer, lower double precision, upper double precision) (
	SFUNC = privstat.dp_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_double_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_stddev(value integer, lower double precision, upper double precision, epsilon double precision) (
	SFUNC = privstat.dp_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_double_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_stddev(value bigint, lower double precision, upper double precision) (
	SFUNC = privstat.dp_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_double_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_stddev(value bigint, lower double precision, upper double precision, epsilon double precision) (
	SFUNC = privstat.dp_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_double_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_stddev(value numeric, lower double precision, upper double precision) (
	SFUNC = privstat.dp_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_double_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_stddev(value numeric, lower double precision, upper double precision, epsilon double precision) (
	SFUNC = privstat.dp_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_double_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_stddev(value double precision, lower double precision, upper double precision) (
	SFUNC = privstat.dp_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_double_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_stddev(value double precision, lower double precision, upper double precision, epsilon double precision) (
	SFUNC = privstat.dp_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_double_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);

-- dp_percentile(value, p, lower, upper [, epsilon]) and dp_median(value,
-- lower, upper [, epsilon]): permute-and-flip over a histogram of the
-- bounds; the answer is one of the 257 bin boundaries.
CREATE FUNCTION privstat.dp_hist_trans(privstat.dp_hist_state, smallint, double precision, double precision)
	RETURNS privstat.dp_hist_state AS 'MODULE_PATHNAME', 'dp_hist_trans_int2' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION privstat.dp_hist_trans(privstat.dp_hist_state, smallint, double precision, double precision, double precision)
	RETURNS privstat.dp_hist_state AS 'MODULE_PATHNAME', 'dp_hist_trans_int2' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION privstat.dp_hist_trans(privstat.dp_hist_state, smallint, double precision, double precision, double precision, double precision)
	RETURNS privstat.dp_hist_state AS 'MODULE_PATHNAME', 'dp_hist_trans_int2' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION privstat.dp_hist_trans(privstat.dp_hist_state, integer, double precision, double precision)
	RETURNS privstat.dp_hist_state AS 'MODULE_PATHNAME', 'dp_hist_trans_int4' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION privstat.dp_hist_trans(privstat.dp_hist_state, integer, double precision, double precision, double precision)
	RETURNS privstat.dp_hist_state AS 'MODULE_PATHNAME', 'dp_hist_trans_int4' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION privstat.dp_hist_trans(privstat.dp_hist_state, integer, double precision, double precision, double precision, double precision)
	RETURNS privstat.dp_hist_state AS 'MODULE_PATHNAME', 'dp_hist_trans_int4' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION privstat.dp_hist_trans(privstat.dp_hist_state, bigint, double precision, double precision)
	RETURNS privstat.dp_hist_state AS 'MODULE_PATHNAME', 'dp_hist_trans_int8' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION privstat.dp_hist_trans(privstat.dp_hist_state, bigint, double precision, double precision, double precision)
	RETURNS privstat.dp_hist_state AS 'MODULE_PATHNAME', 'dp_hist_trans_int8' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION privstat.dp_hist_trans(privstat.dp_hist_state, bigint, double precision, double precision, double precision, double precision)
	RETURNS privstat.dp_hist_state AS 'MODULE_PATHNAME', 'dp_hist_trans_int8' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION privstat.dp_hist_trans(privstat.dp_hist_state, numeric, double precision, double precision)
	RETURNS privstat.dp_hist_state AS 'MODULE_PATHNAME', 'dp_hist_trans_numeric' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION privstat.dp_hist_trans(privstat.dp_hist_state, numeric, double precision, double precision, double precision)
	RETURNS privstat.dp_hist_state AS 'MODULE_PATHNAME', 'dp_hist_trans_numeric' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION privstat.dp_hist_trans(privstat.dp_hist_state, numeric, double precision, double precision, double precision, double precision)
	RETURNS privstat.dp_hist_state AS 'MODULE_PATHNAME', 'dp_hist_trans_numeric' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION privstat.dp_hist_trans(privstat.dp_hist_state, double precision, double precision, double precision)
	RETURNS privstat.dp_hist_state AS 'MODULE_PATHNAME', 'dp_hist_trans_float8' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION privstat.dp_hist_trans(privstat.dp_hist_state, double precision, double precision, double precision, double precision)
	RETURNS privstat.dp_hist_state AS 'MODULE_PATHNAME', 'dp_hist_trans_float8' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION privstat.dp_hist_trans(privstat.dp_hist_state, double precision, double precision, double precision, double precision, double precision)
	RETURNS privstat.dp_hist_state AS 'MODULE_PATHNAME', 'dp_hist_trans_float8' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE privstat.dp_percentile(value smallint, p double precision, lower double precision, upper double precision) (
	SFUNC = privstat.dp_hist_trans, STYPE = privstat.dp_hist_state,
	FINALFUNC = privstat.dp_percentile_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_hist_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_percentile(value smallint, p double precision, lower double precision, upper double precision, epsilon double precision) (
	SFUNC = privstat.dp_hist_trans, STYPE = privstat.dp_hist_state,
	FINALFUNC = privstat.dp_percentile_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_hist_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_percentile(value integer, p double precision, lower double precision, upper double precision) (
	SFUNC = privstat.dp_hist_trans, STYPE = privstat.dp_hist_state,
	FINALFUNC = privstat.dp_percentile_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_hist_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_percentile(value integer, p double precision, lower double precision, upper double precision, epsilon double precision) (
	SFUNC = privstat.dp_hist_trans, STYPE = privstat.dp_hist_state,
	FINALFUNC = privstat.dp_percentile_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_hist_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_percentile(value bigint, p double precision, lower double precision, upper double precision) (
	SFUNC = privstat.dp_hist_trans, STYPE = privstat.dp_hist_state,
	FINALFUNC = privstat.dp_percentile_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_hist_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_percentile(value bigint, p double precision, lower double precision, upper double precision, epsilon double precision) (
	SFUNC = privstat.dp_hist_trans, STYPE = privstat.dp_hist_state,
	FINALFUNC = privstat.dp_percentile_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_hist_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_percentile(value numeric, p double precision, lower double precision, upper double precision) (
	SFUNC = privstat.dp_hist_trans, STYPE = privstat.dp_hist_state,
	FINALFUNC = privstat.dp_percentile_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_hist_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_percentile(value numeric, p double precision, lower double precision, upper double precision, epsilon double precision) (
	SFUNC = privstat.dp_hist_trans, STYPE = privstat.dp_hist_state,
	FINALFUNC = privstat.dp_percentile_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_hist_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_percentile(value double precision, p double precision, lower double precision, upper double precision) (
	SFUNC = privstat.dp_hist_trans, STYPE = privstat.dp_hist_state,
	FINALFUNC = privstat.dp_percentile_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_hist_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_percentile(value double precision, p double precision, lower double precision, upper double precision, epsilon double precision) (
	SFUNC = privstat.dp_hist_trans, STYPE = privstat.dp_hist_state,
	FINALFUNC = privstat.dp_percentile_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_hist_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_median(value smallint, lower double precision, upper double precision) (
	SFUNC = privstat.dp_hist_trans, STYPE = privstat.dp_hist_state,
	FINALFUNC = privstat.dp_percentile_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_hist_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_median(value smallint, lower double precision, upper double precision, epsilon double precision) (
	SFUNC = privstat.dp_hist_trans, STYPE = privstat.dp_hist_state,
	FINALFUNC = privstat.dp_percentile_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_hist_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_median(value integer, lower double precision, upper double precision) (
	SFUNC = privstat.dp_hist_trans, STYPE = privstat.dp_hist_state,
	FINALFUNC = privstat.dp_percentile_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_hist_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_median(value integer, lower double precision, upper double precision, epsilon double precision) (
	SFUNC = privstat.dp_hist_trans, STYPE = privstat.dp_hist_state,
	FINALFUNC = privstat.dp_percentile_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_hist_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_median(value bigint, lower double precision, upper double precision) (
	SFUNC = privstat.dp_hist_trans, STYPE = privstat.dp_hist_state,
	FINALFUNC = privstat.dp_percentile_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_hist_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_median(value bigint, lower double precision, upper double precision, epsilon double precision) (
	SFUNC = privstat.dp_hist_trans, STYPE = privstat.dp_hist_state,
	FINALFUNC = privstat.dp_percentile_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_hist_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_median(value numeric, lower double precision, upper double precision) (
	SFUNC = privstat.dp_hist_trans, STYPE = privstat.dp_hist_state,
	FINALFUNC = privstat.dp_percentile_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_hist_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_median(value numeric, lower double precision, upper double precision, epsilon double precision) (
	SFUNC = privstat.dp_hist_trans, STYPE = privstat.dp_hist_state,
	FINALFUNC = privstat.dp_percentile_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_hist_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_median(value double precision, lower double precision, upper double precision) (
	SFUNC = privstat.dp_hist_trans, STYPE = privstat.dp_hist_state,
	FINALFUNC = privstat.dp_percentile_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_hist_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_median(value double precision, lower double precision, upper double precision, epsilon double precision) (
	SFUNC = privstat.dp_hist_trans, STYPE = privstat.dp_hist_state,
	FINALFUNC = privstat.dp_percentile_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_hist_state_combine, PARALLEL = SAFE
);

-- Error bounds for dashboards: the half-width of an interval that holds the
-- noise with probability level.  See doc/dp-aggregates.md.
CREATE FUNCTION privstat.dp_count_error(epsilon double precision DEFAULT NULL,
										level double precision DEFAULT 0.95)
	RETURNS double precision AS 'MODULE_PATHNAME' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION privstat.dp_sum_error(lower double precision, upper double precision,
									  epsilon double precision DEFAULT NULL,
									  level double precision DEFAULT 0.95)
	RETURNS double precision AS 'MODULE_PATHNAME' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION privstat.dp_avg_error(lower double precision, upper double precision,
									  count double precision,
									  epsilon double precision DEFAULT NULL,
									  level double precision DEFAULT 0.95)
	RETURNS double precision AS 'MODULE_PATHNAME' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION privstat.dp_variance_error(lower double precision, upper double precision,
										   count double precision,
										   epsilon double precision DEFAULT NULL,
										   level double precision DEFAULT 0.95)
	RETURNS double precision AS 'MODULE_PATHNAME' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION privstat.dp_stddev_error(lower double precision, upper double precision,
										 count double precision,
										 epsilon double precision DEFAULT NULL,
										 level double precision DEFAULT 0.95)
	RETURNS double precision LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	RETURN pg_catalog.sqrt(privstat.dp_variance_error(lower, upper, count, epsilon, level));
CREATE FUNCTION privstat.dp_percentile_rank_error(epsilon double precision DEFAULT NULL,
												  level double precision DEFAULT 0.95)
	RETURNS double precision AS 'MODULE_PATHNAME' LANGUAGE C STABLE PARALLEL SAFE;

-- What a SELECT would spend, from its plan, without running it: the
-- interface the privacy budget uses at executor start.
CREATE FUNCTION privstat.dp_cost(query text, OUT epsilon double precision,
								 OUT delta double precision, OUT dp_aggregates integer)
	AS 'MODULE_PATHNAME', 'privstat_dp_cost' LANGUAGE C VOLATILE STRICT;

------------------------------------------------------------------------------
-- Privacy budgets (per role, for the whole cluster; see doc/budgets.md)
------------------------------------------------------------------------------

-- Changes are written to the budget journal at once, not at commit: like a
-- charge, a budget change survives a ROLLBACK.
CREATE FUNCTION privstat.set_budget(role regrole, epsilon double precision,
									delta double precision DEFAULT 0,
									period interval DEFAULT NULL)
	RETURNS void AS 'MODULE_PATHNAME', 'privstat_set_budget' LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION privstat.set_budget(regrole, double precision, double precision, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privstat.set_budget(regrole, double precision, double precision, interval) TO privstat_admin;

CREATE FUNCTION privstat.reset_budget(role regrole)
	RETURNS void AS 'MODULE_PATHNAME', 'privstat_reset_budget' LANGUAGE C VOLATILE STRICT;
REVOKE ALL ON FUNCTION privstat.reset_budget(regrole) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privstat.reset_budget(regrole) TO privstat_admin;

CREATE FUNCTION privstat._budget_status(
		OUT role regrole,
		OUT epsilon_limit double precision, OUT epsilon_spent double precision,
		OUT epsilon_remaining double precision,
		OUT delta_limit double precision, OUT delta_spent double precision,
		OUT delta_remaining double precision,
		OUT period interval, OUT next_free_at timestamptz,
		OUT charges bigint, OUT epsilon_spent_total double precision)
	RETURNS SETOF record AS 'MODULE_PATHNAME', 'privstat_budget_status'
	LANGUAGE C VOLATILE STRICT;

-- Administrators see every role; everyone else, the roles whose privileges
-- they have.
CREATE VIEW privstat.budget_status AS
	SELECT * FROM privstat._budget_status();
GRANT SELECT ON privstat.budget_status TO PUBLIC;

-- After a promotion or a restore, the journal may lack spends of the old
-- server; charging stops until a superuser adopts it (doc/budgets.md).
CREATE FUNCTION privstat.adopt_budget_journal()
	RETURNS void AS 'MODULE_PATHNAME', 'privstat_adopt_budget_journal' LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION privstat.adopt_budget_journal() FROM PUBLIC;

------------------------------------------------------------------------------
-- Retention (doc/retention.md)
--
-- Who may do what: a rule can be set or removed only by someone who may put
-- triggers on the table (the TRIGGER privilege, which its owner grants), and
-- it is enforced as the table's owner: the background workers purge as the
-- owner, never as a superuser, so nothing of the owner's (a trigger, a
-- default) runs with more rights than the owner has.  CALL purge_expired
-- purges with the caller's own rights.
------------------------------------------------------------------------------

CREATE TABLE privstat.retention_rule (
	tbl					regclass PRIMARY KEY,
	ts_column			name NOT NULL,
	keep				interval NOT NULL,
	action				text NOT NULL CHECK (action IN ('delete', 'anonymize')),
	anonymize_columns	name[],
	created_at			timestamptz NOT NULL DEFAULT pg_catalog.now()
);
SELECT pg_catalog.pg_extension_config_dump('privstat.retention_rule', '');

-- every batch a purge commits: which table, up to what time, how many rows
CREATE SEQUENCE privstat.purge_run_seq;
CREATE TABLE privstat.purge_log (
	run			bigint NOT NULL,
	tbl			regclass NOT NULL,
	cutoff		timestamptz NOT NULL,
	action		text NOT NULL,
	rows		bigint NOT NULL,
	at			timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
SELECT pg_catalog.pg_extension_config_dump('privstat.purge_log', '');
REVOKE ALL ON privstat.retention_rule, privstat.purge_log FROM PUBLIC;
GRANT SELECT ON privstat.retention_rule, privstat.purge_log TO privstat_admin;
GRANT INSERT ON privstat.purge_log TO privstat_admin;
GRANT USAGE ON SEQUENCE privstat.purge_run_seq TO privstat_admin;

CREATE FUNCTION privstat._retention_check() RETURNS trigger
	AS 'MODULE_PATHNAME', 'privstat_retention_check' LANGUAGE C;

-- The two writers of privstat.retention_rule (C): each checks that the
-- caller may create triggers on the table, refuses system catalogs, and
-- then stores or removes the rule and its trigger.
CREATE FUNCTION privstat._retention_apply(tbl regclass, ts_column name, keep interval,
										  action text, anonymize_columns name[])
	RETURNS void AS 'MODULE_PATHNAME', 'privstat_retention_apply' LANGUAGE C;
CREATE FUNCTION privstat._retention_remove(tbl regclass)
	RETURNS boolean AS 'MODULE_PATHNAME', 'privstat_retention_remove' LANGUAGE C STRICT;
REVOKE ALL ON FUNCTION privstat._retention_apply(regclass, name, interval, text, name[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION privstat._retention_remove(regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privstat._retention_apply(regclass, name, interval, text, name[]) TO privstat_admin;
GRANT EXECUTE ON FUNCTION privstat._retention_remove(regclass) TO privstat_admin;

CREATE FUNCTION privstat.set_retention(tbl regclass, ts_column name, keep interval,
									   action text DEFAULT 'delete',
									   anonymize_columns name[] DEFAULT NULL)
	RETURNS void LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	kind "char";
	typ regtype;
	is_notnull boolean;
	c name;
BEGIN
	IF tbl IS NULL OR ts_column IS NULL OR keep IS NULL OR action IS NULL THEN
		RAISE EXCEPTION 'table, timestamp column, keep interval and action must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT relkind INTO kind FROM pg_class WHERE oid = tbl;
	IF kind NOT IN ('r', 'p') THEN
		RAISE EXCEPTION '% is not a table', tbl
			USING ERRCODE = 'wrong_object_type',
				  HINT = 'Retention rules apply to ordinary and partitioned tables.';
	END IF;
	SELECT a.atttypid::regtype INTO typ FROM pg_attribute a
		WHERE a.attrelid = tbl AND a.attname = ts_column AND a.attnum > 0 AND NOT a.attisdropped;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'column "%" of relation % does not exist', ts_column, tbl
			USING ERRCODE = 'undefined_column';
	END IF;
	IF typ NOT IN ('timestamp with time zone'::regtype, 'timestamp without time zone'::regtype, 'date'::regtype) THEN
		RAISE EXCEPTION 'retention column "%" must be a timestamp or a date, not %', ts_column, typ
			USING ERRCODE = 'datatype_mismatch';
	END IF;
	IF keep <= '0'::interval THEN
		RAISE EXCEPTION 'keep interval must be positive'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'For example: privstat.set_retention(''events'', ''created_at'', ''90 days'').';
	END IF;
	IF action NOT IN ('delete', 'anonymize') THEN
		RAISE EXCEPTION 'retention action must be ''delete'' or ''anonymize'', not "%"', action
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF action = 'delete' AND anonymize_columns IS NOT NULL THEN
		RAISE EXCEPTION 'anonymize_columns applies only to action ''anonymize'''
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF action = 'anonymize' THEN
		IF anonymize_columns IS NULL OR cardinality(anonymize_columns) = 0 THEN
			RAISE EXCEPTION 'action ''anonymize'' needs the columns to clear'
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'Pass anonymize_columns => ARRAY[''email'', ''ip''].';
		END IF;
		FOREACH c IN ARRAY anonymize_columns LOOP
			SELECT a.attnotnull INTO is_notnull FROM pg_attribute a
				WHERE a.attrelid = tbl AND a.attname = c AND a.attnum > 0 AND NOT a.attisdropped;
			IF NOT FOUND THEN
				RAISE EXCEPTION 'column "%" of relation % does not exist', c, tbl
					USING ERRCODE = 'undefined_column';
			END IF;
			IF c = ts_column THEN
				RAISE EXCEPTION 'the retention column "%" cannot be anonymized', c
					USING ERRCODE = 'invalid_parameter_value';
			END IF;
			IF is_notnull THEN
				RAISE EXCEPTION 'column "%" of relation % is NOT NULL and cannot be anonymized to NULL', c, tbl
					USING ERRCODE = 'invalid_parameter_value',
						  HINT = 'Drop the NOT NULL constraint, or use action ''delete''.';
			END IF;
		END LOOP;
	END IF;
	PERFORM privstat._retention_apply(tbl, ts_column, keep, action, anonymize_columns);
END
$fn$;
REVOKE ALL ON FUNCTION privstat.set_retention(regclass, name, interval, text, name[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privstat.set_retention(regclass, name, interval, text, name[]) TO privstat_admin;

CREATE FUNCTION privstat.drop_retention(tbl regclass) RETURNS void
	LANGUAGE plpgsql STRICT
	SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
	IF NOT privstat._retention_remove(tbl) THEN
		RAISE EXCEPTION 'table % has no retention rule', tbl
			USING ERRCODE = 'undefined_object';
	END IF;
END
$fn$;
REVOKE ALL ON FUNCTION privstat.drop_retention(regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privstat.drop_retention(regclass) TO privstat_admin;

-- A dropped table takes its rule with it: a rule must never outlive its
-- table and later match a new one that reuses the OID.
CREATE FUNCTION privstat._retention_forget_dropped() RETURNS event_trigger
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
	DELETE FROM privstat.retention_rule r
		WHERE NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = r.tbl);
END
$fn$;
CREATE EVENT TRIGGER privstat_retention_forget_dropped ON sql_drop
	WHEN TAG IN ('DROP TABLE', 'DROP SCHEMA', 'DROP OWNED')
	EXECUTE FUNCTION privstat._retention_forget_dropped();

-- One batch of a purge, with the caller's rights (the background workers
-- call it as the table's owner): a whole partition past the cutoff
-- (detached and dropped), or up to batch_size expired rows deleted or
-- anonymized.  Lock waits are bounded by privstat.purge_lock_timeout: a
-- batch that meets a row the application holds locked longer gives up with
-- an error and is tried again later.  (Anonymizing skips locked rows
-- instead.)  "after" is the "last" of the previous batch of the same run:
-- deleting from an ordinary table, the next batch starts its index range
-- there instead of stepping again over the entries of the rows already
-- deleted.  Returns the rows affected, where to resume, and what was done.
CREATE FUNCTION privstat._purge_batch(tbl regclass, ts_column name, cutoff timestamptz,
									  action text, anonymize_columns name[],
									  batch_size integer, after timestamptz,
									  OUT rows bigint, OUT last timestamptz, OUT done text)
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	part record;
	upper_text text;
	upper_ts timestamptz;
	from_ts timestamptz;
	tied bigint;
	n bigint := 0;
	target regclass;
	sets text;
	anyset text;
BEGIN
	rows := 0;
	done := action;
	PERFORM set_config('lock_timeout', current_setting('privstat.purge_lock_timeout'), true);

	IF (SELECT relkind FROM pg_class WHERE oid = tbl) = 'p' THEN
		-- range partitions on the retention column wholly past it: detach and drop
		IF action = 'delete' AND pg_get_partkeydef(tbl) = format('RANGE (%I)', ts_column) THEN
			FOR part IN
				SELECT c.oid::regclass AS rel, pg_get_expr(c.relpartbound, c.oid) AS bound
				FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
				WHERE i.inhparent = tbl ORDER BY 1
			LOOP
				upper_text := (regexp_match(part.bound, '^FOR VALUES FROM \(.*\) TO \(''(.*)''\)$'))[1];
				CONTINUE WHEN upper_text IS NULL;
				IF upper_text::timestamptz <= cutoff THEN
					EXECUTE format('SELECT count(*) FROM %s', part.rel) INTO n;
					EXECUTE format('ALTER TABLE %s DETACH PARTITION %s', tbl, part.rel);
					EXECUTE format('DROP TABLE %s', part.rel);
					rows := greatest(n, 1);
					done := 'drop partition';
					RETURN;
				END IF;
			END LOOP;
		END IF;
	END IF;

	-- row by row, one leaf table at a time (a ctid is unique only within one)
	FOR target IN
		SELECT relid FROM pg_partition_tree(tbl) WHERE isleaf
		UNION ALL SELECT tbl WHERE (SELECT relkind FROM pg_class WHERE oid = tbl) = 'r'
	LOOP
		IF action = 'delete' THEN
			-- the oldest batch_size rows, as a range of the column: with an
			-- index on it, each batch is an index range scan.  Rows tied at
			-- the range's last value are taken a batch's worth at a time.
			from_ts := CASE WHEN target = tbl THEN after END;
			EXECUTE format('SELECT %2$I FROM ONLY %1$s WHERE %2$I < $1 AND ($3 IS NULL OR %2$I >= $3) '
						   'ORDER BY %2$I OFFSET $2 - 1 LIMIT 1',
						   target, ts_column)
				INTO upper_ts USING cutoff, batch_size, from_ts;
			IF upper_ts IS NULL THEN
				EXECUTE format('DELETE FROM ONLY %1$s WHERE %2$I < $1 AND ($2 IS NULL OR %2$I >= $2)',
							   target, ts_column)
					USING cutoff, from_ts;
				GET DIAGNOSTICS n = ROW_COUNT;
				last := cutoff;
			ELSE
				EXECUTE format('DELETE FROM ONLY %1$s WHERE %2$I < $1 AND ($2 IS NULL OR %2$I >= $2)',
							   target, ts_column)
					USING upper_ts, from_ts;
				GET DIAGNOSTICS n = ROW_COUNT;
				last := upper_ts;
				EXECUTE format('DELETE FROM ONLY %1$s WHERE ctid = ANY (ARRAY('
							   'SELECT ctid FROM ONLY %1$s WHERE %2$I = $1 LIMIT $2))',
							   target, ts_column)
					USING upper_ts, batch_size - n;
				GET DIAGNOSTICS tied = ROW_COUNT;
				n := n + tied;
			END IF;
		ELSE
			SELECT string_agg(format('%I = NULL', c), ', '), string_agg(format('%I IS NOT NULL', c), ' OR ')
				INTO sets, anyset FROM unnest(anonymize_columns) AS c;
			EXECUTE format('UPDATE ONLY %1$s SET %3$s WHERE ctid = ANY (ARRAY('
						   'SELECT ctid FROM ONLY %1$s WHERE %2$I < $1 AND (%4$s) ORDER BY %2$I '
						   'LIMIT $2 FOR UPDATE SKIP LOCKED))',
						   target, ts_column, sets, anyset)
				USING cutoff, batch_size;
			GET DIAGNOSTICS n = ROW_COUNT;
		END IF;
		IF n > 0 THEN
			rows := n;
			RETURN;
		END IF;
	END LOOP;
END
$fn$;

-- Purge now: every rule, or one table's, with the caller's rights (DELETE
-- or UPDATE on the tables; ownership to drop partitions).  The cutoff of
-- each table is fixed when its purge starts; commits after each batch, so
-- call it outside a transaction block.  Returns the rows affected.
CREATE PROCEDURE privstat.purge_expired(tbl regclass DEFAULT NULL, batch_size integer DEFAULT 10000,
										INOUT purged bigint DEFAULT 0)
	LANGUAGE plpgsql
AS $fn$
DECLARE
	r privstat.retention_rule;
	run bigint;
	cutoff timestamptz;
	b record;
	resume timestamptz;
BEGIN
	IF batch_size IS NULL OR batch_size OPERATOR(pg_catalog.<) 1 THEN
		RAISE EXCEPTION 'batch_size must be at least 1'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF tbl IS NOT NULL AND NOT EXISTS (SELECT FROM privstat.retention_rule x
									   WHERE x.tbl OPERATOR(pg_catalog.=) purge_expired.tbl) THEN
		RAISE EXCEPTION 'table % has no retention rule', tbl
			USING ERRCODE = 'undefined_object',
				  HINT = 'Set one with privstat.set_retention().';
	END IF;
	run := pg_catalog.nextval('privstat.purge_run_seq');
	purged := 0;
	FOR r IN SELECT * FROM privstat.retention_rule x
			 WHERE purge_expired.tbl IS NULL OR x.tbl OPERATOR(pg_catalog.=) purge_expired.tbl
			 ORDER BY x.tbl
	LOOP
		cutoff := pg_catalog.now() OPERATOR(pg_catalog.-) r.keep;
		resume := NULL;
		LOOP
			SELECT * INTO b FROM privstat._purge_batch(r.tbl, r.ts_column, cutoff, r.action,
													   r.anonymize_columns, batch_size, resume);
			EXIT WHEN b.rows OPERATOR(pg_catalog.=) 0;
			INSERT INTO privstat.purge_log (run, tbl, cutoff, action, rows)
				VALUES (run, r.tbl, cutoff, b.done, b.rows);
			purged := purged OPERATOR(pg_catalog.+) b.rows;
			resume := b.last;
			COMMIT;
		END LOOP;
	END LOOP;
END
$fn$;
REVOKE ALL ON PROCEDURE privstat.purge_expired(regclass, integer, bigint) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE privstat.purge_expired(regclass, integer, bigint) TO privstat_admin;

-- With the caller's rights: figures of tables the caller cannot read are NULL.
CREATE FUNCTION privstat._retention_status(
		OUT tbl regclass, OUT ts_column name, OUT keep interval, OUT action text,
		OUT anonymize_columns name[], OUT oldest_row_age interval, OUT rows_past_due bigint,
		OUT last_purge_at timestamptz, OUT last_purge_rows bigint)
	RETURNS SETOF record LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	r privstat.retention_rule;
	oldest timestamptz;
	lastrun bigint;
BEGIN
	FOR r IN SELECT * FROM privstat.retention_rule x
			 WHERE EXISTS (SELECT FROM pg_class c WHERE c.oid = x.tbl) ORDER BY 1
	LOOP
		tbl := r.tbl;
		ts_column := r.ts_column;
		keep := r.keep;
		action := r.action;
		anonymize_columns := r.anonymize_columns;
		oldest_row_age := NULL;
		rows_past_due := NULL;
		IF has_table_privilege(r.tbl, 'SELECT') THEN
			EXECUTE format('SELECT min(%I)::timestamptz FROM %s', r.ts_column, r.tbl) INTO oldest;
			oldest_row_age := date_trunc('second', now() - oldest);
			IF r.action = 'delete' THEN
				EXECUTE format('SELECT count(*) FROM %s WHERE %I < $1', r.tbl, r.ts_column)
					INTO rows_past_due USING now() - r.keep;
			ELSE
				EXECUTE format('SELECT count(*) FROM %s WHERE %I < $1 AND (%s)', r.tbl, r.ts_column,
							   (SELECT string_agg(format('%I IS NOT NULL', c), ' OR ')
								FROM unnest(r.anonymize_columns) c))
					INTO rows_past_due USING now() - r.keep;
			END IF;
		END IF;
		SELECT max(l.run) INTO lastrun FROM privstat.purge_log l WHERE l.tbl = r.tbl;
		SELECT max(l.at), sum(l.rows) INTO last_purge_at, last_purge_rows
			FROM privstat.purge_log l WHERE l.tbl = r.tbl AND l.run = lastrun;
		RETURN NEXT;
	END LOOP;
END
$fn$;
REVOKE ALL ON FUNCTION privstat._retention_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privstat._retention_status() TO privstat_admin;

CREATE VIEW privstat.retention_status AS SELECT * FROM privstat._retention_status();
REVOKE ALL ON privstat.retention_status FROM PUBLIC;
GRANT SELECT ON privstat.retention_status TO privstat_admin;
