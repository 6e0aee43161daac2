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
