/* privstat--0.1.0--0.2.0.sql: policy enforcement for restricted roles */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "ALTER EXTENSION privstat UPDATE TO '0.2.0'" to load this file. \quit

------------------------------------------------------------------------------
-- Policy enforcement (doc/policy.md)
--
-- A protected table's raw rows are readable only by the roles its owner
-- grants SELECT to.  A role at access level 'aggregate' holds no such grant:
-- privstat validates each of its queries, rewrites plain count/sum/avg into
-- DP aggregates, and lets the validated plan read the protected tables with
-- the rights of privstat_reader, a NOLOGIN role that is neither owner nor
-- BYPASSRLS, so every row-level policy still applies (DESIGN.md, "Policy
-- enforcement").  Nobody should ever be granted membership in it.
------------------------------------------------------------------------------

DO $roles$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'privstat_reader') THEN
		CREATE ROLE privstat_reader NOLOGIN NOINHERIT NOBYPASSRLS;
	END IF;
END
$roles$;

CREATE TABLE privstat.protected_table (
	tbl				regclass PRIMARY KEY,
	privacy_unit	name NOT NULL,
	created_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	-- contribution bounds of one privacy unit in one query (doc/user-level.md)
	max_groups_contributed integer NOT NULL DEFAULT 1 CHECK (max_groups_contributed >= 1),
	max_rows_contributed integer NOT NULL DEFAULT 1 CHECK (max_rows_contributed >= 1)
);
SELECT pg_catalog.pg_extension_config_dump('privstat.protected_table', '');

CREATE TABLE privstat.column_bounds (
	tbl				regclass NOT NULL REFERENCES privstat.protected_table ON DELETE CASCADE,
	col				name NOT NULL,
	lower			numeric NOT NULL,
	upper			numeric NOT NULL,
	PRIMARY KEY (tbl, col),
	CHECK (lower <= upper)
);
SELECT pg_catalog.pg_extension_config_dump('privstat.column_bounds', '');

CREATE TABLE privstat.access_level (
	role			regrole PRIMARY KEY,
	level			text NOT NULL CHECK (level IN ('aggregate', 'none'))
);
SELECT pg_catalog.pg_extension_config_dump('privstat.access_level', '');

REVOKE ALL ON privstat.protected_table, privstat.column_bounds, privstat.access_level FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE
	ON privstat.protected_table, privstat.column_bounds, privstat.access_level TO privstat_admin;

-- Every change to a policy table, however made (privstat's functions, a
-- superuser's own DML, pg_restore's COPY), tells every session to reload its
-- copy of the policy and to replan cached plans over the tables concerned:
-- the triggers are made at the end of this script, once every table exists.
CREATE FUNCTION privstat._policy_changed() RETURNS trigger
	AS 'MODULE_PATHNAME', 'privstat_policy_changed' LANGUAGE C;

-- Warn of every role at level aggregate that can select a protected table
-- (the check a GRANT triggers, src/policy.c): set_access calls it too.
CREATE FUNCTION privstat._warn_restricted_readers() RETURNS void
	AS 'MODULE_PATHNAME', 'privstat_warn_restricted_readers' LANGUAGE C;

-- The checks every policy function makes of its table: an ordinary or
-- partitioned table, not a catalog or privstat's own, and the caller its
-- owner or holding SELECT on it WITH GRANT OPTION (protect grants SELECT to
-- privstat_reader, and who may grant that may decide who reads how).
CREATE FUNCTION privstat._check_policy_table(tbl regclass, what text) RETURNS void
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	kind "char";
	nsp regnamespace;
BEGIN
	SELECT relkind, relnamespace INTO kind, nsp FROM pg_class WHERE oid = tbl;
	IF kind NOT IN ('r', 'p') THEN
		RAISE EXCEPTION '% is not a table', tbl
			USING ERRCODE = 'wrong_object_type',
				  HINT = 'Policies apply to the tables a view reads; the view is then validated like any query.';
	END IF;
	IF nsp IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace, 'privstat'::regnamespace)
	   OR nsp::text LIKE 'pg\_toast%' THEN
		RAISE EXCEPTION 'system table % cannot have policies', tbl
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	IF NOT pg_catalog.has_table_privilege(tbl, 'SELECT WITH GRANT OPTION') THEN
		RAISE EXCEPTION 'permission denied to %', what
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'Run it as the table''s owner, or as a role that holds SELECT on it WITH GRANT OPTION.';
	END IF;
END
$fn$;

-- The type of a column of tbl; an error naming it if there is none.
-- A protected table that the caller may set policies on: errors otherwise.
CREATE FUNCTION privstat._check_protected(tbl regclass, what text) RETURNS void
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
	IF NOT EXISTS (SELECT FROM privstat.protected_table p WHERE p.tbl = _check_protected.tbl) THEN
		RAISE EXCEPTION 'table % is not protected', tbl
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = pg_catalog.format('Protect it first: SELECT privstat.protect(%L, ''user_id'');', tbl::text);
	END IF;
	PERFORM privstat._check_policy_table(tbl, what);
END
$fn$;

CREATE FUNCTION privstat._column_type(tbl regclass, col name, hint text DEFAULT NULL) RETURNS regtype
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	typ regtype;
BEGIN
	SELECT a.atttypid::regtype INTO typ FROM pg_attribute a
		WHERE a.attrelid = tbl AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
	IF NOT FOUND AND hint IS NULL THEN
		RAISE EXCEPTION 'column "%" of relation % does not exist', col, tbl
			USING ERRCODE = 'undefined_column';
	ELSIF NOT FOUND THEN
		RAISE EXCEPTION 'column "%" of relation % does not exist', col, tbl
			USING ERRCODE = 'undefined_column', HINT = hint;
	END IF;
	RETURN typ;
END
$fn$;

CREATE FUNCTION privstat.protect(tbl regclass, privacy_unit name,
								 max_groups_contributed integer DEFAULT 1,
								 max_rows_contributed integer DEFAULT 1)
	RETURNS void LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
	IF tbl IS NULL OR privacy_unit IS NULL OR max_groups_contributed IS NULL
	   OR max_rows_contributed IS NULL THEN
		RAISE EXCEPTION 'table, privacy unit and contribution bounds must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF max_groups_contributed < 1 OR max_rows_contributed < 1 THEN
		RAISE EXCEPTION 'contribution bounds must be at least 1, not % groups and % rows',
			max_groups_contributed, max_rows_contributed
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'max_groups_contributed is how many groups one privacy unit may count in, max_rows_contributed how many of its rows count in one group.';
	END IF;
	PERFORM privstat._check_policy_table(tbl, pg_catalog.format('protect %s', tbl));
	PERFORM privstat._column_type(tbl, privacy_unit,
		'The privacy unit is the column that identifies a person, for example user_id.');
	INSERT INTO privstat.protected_table AS p
			(tbl, privacy_unit, max_groups_contributed, max_rows_contributed)
		VALUES (tbl, privacy_unit, max_groups_contributed, max_rows_contributed)
		ON CONFLICT ON CONSTRAINT protected_table_pkey
		DO UPDATE SET privacy_unit = excluded.privacy_unit,
					  max_groups_contributed = excluded.max_groups_contributed,
					  max_rows_contributed = excluded.max_rows_contributed;
	-- (the GRANT also warns of aggregate roles that can read the table: privstat's
	-- utility hook checks after every GRANT)
	EXECUTE pg_catalog.format('GRANT SELECT ON %s TO privstat_reader', tbl);
END
$fn$;

CREATE FUNCTION privstat.unprotect(tbl regclass)
	RETURNS boolean LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
	IF tbl IS NULL THEN
		RAISE EXCEPTION 'table must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF NOT EXISTS (SELECT FROM privstat.protected_table p WHERE p.tbl = unprotect.tbl) THEN
		RETURN false;
	END IF;
	PERFORM privstat._check_policy_table(tbl, pg_catalog.format('unprotect %s', tbl));
	DELETE FROM privstat.protected_table p WHERE p.tbl = unprotect.tbl;
	EXECUTE pg_catalog.format('REVOKE SELECT ON %s FROM privstat_reader', tbl);
	RETURN true;
END
$fn$;

CREATE FUNCTION privstat.set_bounds(tbl regclass, col name, lower numeric, upper numeric)
	RETURNS void LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	typ regtype;
BEGIN
	IF tbl IS NULL OR col IS NULL OR lower IS NULL OR upper IS NULL THEN
		RAISE EXCEPTION 'table, column and bounds must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM privstat._check_protected(tbl, pg_catalog.format('set bounds on %s', tbl));
	typ := privstat._column_type(tbl, col);
	IF typ NOT IN ('smallint'::regtype, 'integer'::regtype, 'bigint'::regtype, 'numeric'::regtype,
				   'real'::regtype, 'double precision'::regtype) THEN
		RAISE EXCEPTION 'bounds apply to numeric columns, and "%" is %', col, typ
			USING ERRCODE = 'datatype_mismatch';
	END IF;
	IF lower = 'NaN' OR upper = 'NaN' OR lower IN ('Infinity', '-Infinity') OR upper IN ('Infinity', '-Infinity') THEN
		RAISE EXCEPTION 'bounds must be finite numbers'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF lower > upper THEN
		RAISE EXCEPTION 'lower bound % is above upper bound %', lower, upper
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	INSERT INTO privstat.column_bounds AS b (tbl, col, lower, upper)
		VALUES (tbl, col, lower, upper)
		ON CONFLICT ON CONSTRAINT column_bounds_pkey
		DO UPDATE SET lower = excluded.lower, upper = excluded.upper;
END
$fn$;

CREATE FUNCTION privstat.set_access(role regrole, level text)
	RETURNS void LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
	IF role IS NULL OR level IS NULL THEN
		RAISE EXCEPTION 'role and level must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF level NOT IN ('direct', 'aggregate', 'none') THEN
		RAISE EXCEPTION 'access level must be ''direct'', ''aggregate'' or ''none'', not "%"', level
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF level <> 'direct' AND (SELECT rolsuper FROM pg_roles WHERE oid = role) THEN
		RAISE EXCEPTION 'superuser % cannot be given access level %', role, level
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'A superuser bypasses every privilege check privstat relies on.',
				  HINT = 'Give the level to an ordinary role.';
	END IF;
	IF level = 'direct' THEN
		DELETE FROM privstat.access_level a WHERE a.role = set_access.role;
	ELSE
		INSERT INTO privstat.access_level AS a (role, level) VALUES (role, level)
			ON CONFLICT ON CONSTRAINT access_level_pkey DO UPDATE SET level = excluded.level;
	END IF;
	IF level = 'aggregate' THEN
		PERFORM privstat._warn_restricted_readers();
	END IF;
END
$fn$;

REVOKE ALL ON FUNCTION privstat.protect(regclass, name, integer, integer), privstat.unprotect(regclass),
	privstat.set_bounds(regclass, name, numeric, numeric), privstat.set_access(regrole, text),
	privstat._warn_restricted_readers(),
	privstat._check_policy_table(regclass, text), privstat._check_protected(regclass, text),
	privstat._column_type(regclass, name, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privstat.protect(regclass, name, integer, integer), privstat.unprotect(regclass),
	privstat.set_bounds(regclass, name, numeric, numeric), privstat.set_access(regrole, text),
	privstat._warn_restricted_readers(),
	privstat._check_policy_table(regclass, text), privstat._check_protected(regclass, text),
	privstat._column_type(regclass, name, text) TO privstat_admin;


-- A dropped table takes its rules with it, so they never apply to a new
-- table that reuses the OID: 0.1.0's event trigger for retention rules now
-- forgets policies too, under a name that says so.
ALTER EVENT TRIGGER privstat_retention_forget_dropped RENAME TO privstat_forget_dropped;
ALTER FUNCTION privstat._retention_forget_dropped() RENAME TO _forget_dropped;

------------------------------------------------------------------------------
-- Row-level policies (doc/row-policy.md): consent to purposes, per-role
-- scopes, and expiry.  privstat's row security hooks turn these rules into
-- restrictive policies of the tables: they narrow whatever the DBA's own
-- CREATE POLICY rules allow, and never widen them.
------------------------------------------------------------------------------

-- tables whose row level security privstat turned on (it adds a permissive
-- policy that lets every row through there, so that only its restrictive
-- rules narrow what roles see)
CREATE TABLE privstat.rls_table (
	tbl				regclass PRIMARY KEY
);
SELECT pg_catalog.pg_extension_config_dump('privstat.rls_table', '');

CREATE TABLE privstat.consent_rule (
	tbl				regclass PRIMARY KEY,
	consent_column	name NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('privstat.consent_rule', '');

CREATE TABLE privstat.purpose_grant (
	role			regrole NOT NULL,
	purpose			text NOT NULL CHECK (purpose <> ''),
	PRIMARY KEY (role, purpose)
);
SELECT pg_catalog.pg_extension_config_dump('privstat.purpose_grant', '');

-- the condition is kept as the text the DBA wrote, parsed by privstat as
-- one expression over the table (never spliced into a statement), checked
-- when set and parsed again when a session loads it
CREATE TABLE privstat.scope_rule (
	tbl				regclass NOT NULL,
	role			regrole NOT NULL,
	condition		text NOT NULL,
	PRIMARY KEY (tbl, role)
);
SELECT pg_catalog.pg_extension_config_dump('privstat.scope_rule', '');

REVOKE ALL ON privstat.rls_table, privstat.consent_rule, privstat.purpose_grant,
	privstat.scope_rule FROM PUBLIC;
GRANT SELECT ON privstat.rls_table, privstat.consent_rule, privstat.purpose_grant,
	privstat.scope_rule TO privstat_admin;
GRANT INSERT, UPDATE, DELETE ON privstat.consent_rule, privstat.purpose_grant,
	privstat.scope_rule TO privstat_admin;

-- The qual of the consent policy: does the row's consent include the
-- session's declared purpose (privstat.purpose), granted to the current
-- role?  Read at run time, so a cached plan follows SET privstat.purpose.
CREATE FUNCTION privstat._consent_ok(consent text[]) RETURNS boolean
	AS 'MODULE_PATHNAME', 'privstat_consent_ok' LANGUAGE C STABLE LEAKPROOF PARALLEL SAFE
	-- costed above a plain comparison, so a query's own cheap leakproof filters
	-- (amount < 20) run first and consent is checked on fewer rows
	COST 5;
-- Expired rows are hidden from every role but the table's owner and the
-- purge itself: one batch of a purge (0.1.0's plpgsql function, renamed) now
-- runs inside a C function that lets that batch, and nothing else, see the
-- expired rows of its table.
ALTER FUNCTION privstat._purge_batch(regclass, name, timestamptz, text, name[], integer, timestamptz)
	RENAME TO _purge_batch_rows;
CREATE FUNCTION privstat._purge_batch(tbl regclass, ts_column name, cutoff timestamptz,
									  action text, anonymize_columns name[],
									  batch_size integer, after timestamptz,
									  OUT rows bigint, OUT last timestamptz, OUT done text)
	AS 'MODULE_PATHNAME', 'privstat_purge_batch' LANGUAGE C;
-- turn on row level security for tbl if it is off (and say so)
CREATE FUNCTION privstat._enable_row_security(tbl regclass) RETURNS void
	AS 'MODULE_PATHNAME', 'privstat_enable_row_security' LANGUAGE C STRICT;
-- parse and check a scope condition; an error if it is not allowed
CREATE FUNCTION privstat._check_scope(tbl regclass, condition text) RETURNS void
	AS 'MODULE_PATHNAME', 'privstat_check_scope' LANGUAGE C STRICT;
REVOKE ALL ON FUNCTION privstat._enable_row_security(regclass), privstat._check_scope(regclass, text)
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privstat._enable_row_security(regclass), privstat._check_scope(regclass, text)
	TO privstat_admin;


CREATE FUNCTION privstat.set_consent(tbl regclass, consent_column name)
	RETURNS void LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	typ regtype;
BEGIN
	IF tbl IS NULL OR consent_column IS NULL THEN
		RAISE EXCEPTION 'table and consent column must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM privstat._check_policy_table(tbl, pg_catalog.format('set the consent column of %s', tbl));
	typ := privstat._column_type(tbl, consent_column);
	IF typ <> 'text[]'::regtype THEN
		RAISE EXCEPTION 'consent column "%" must be text[], not %', consent_column, typ
			USING ERRCODE = 'datatype_mismatch',
				  HINT = 'It holds the purposes each person agreed to, for example ''{analytics,marketing}''.';
	END IF;
	INSERT INTO privstat.consent_rule AS c (tbl, consent_column) VALUES (tbl, consent_column)
		ON CONFLICT ON CONSTRAINT consent_rule_pkey DO UPDATE SET consent_column = excluded.consent_column;
	PERFORM privstat._enable_row_security(tbl);
END
$fn$;

CREATE FUNCTION privstat.drop_consent(tbl regclass)
	RETURNS boolean LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
	IF tbl IS NULL THEN
		RAISE EXCEPTION 'table must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM privstat._check_policy_table(tbl, pg_catalog.format('drop the consent rule of %s', tbl));
	DELETE FROM privstat.consent_rule c WHERE c.tbl = drop_consent.tbl;
	RETURN FOUND;
END
$fn$;

CREATE FUNCTION privstat.grant_purpose(role regrole, purpose text)
	RETURNS void LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
	IF role IS NULL OR purpose IS NULL THEN
		RAISE EXCEPTION 'role and purpose must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF purpose = '' OR purpose <> pg_catalog.btrim(purpose) THEN
		RAISE EXCEPTION 'a purpose is a non-empty name without leading or trailing spaces'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	INSERT INTO privstat.purpose_grant (role, purpose) VALUES (role, purpose)
		ON CONFLICT DO NOTHING;
END
$fn$;

CREATE FUNCTION privstat.revoke_purpose(role regrole, purpose text)
	RETURNS boolean LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
	IF role IS NULL OR purpose IS NULL THEN
		RAISE EXCEPTION 'role and purpose must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	DELETE FROM privstat.purpose_grant g WHERE g.role = revoke_purpose.role AND g.purpose = revoke_purpose.purpose;
	RETURN FOUND;
END
$fn$;

CREATE FUNCTION privstat.set_scope(tbl regclass, role regrole, condition text)
	RETURNS void LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
	IF tbl IS NULL OR role IS NULL OR condition IS NULL THEN
		RAISE EXCEPTION 'table, role and condition must not be null'
			USING ERRCODE = 'null_value_not_allowed',
				  HINT = 'privstat.drop_scope(tbl, role) removes a scope.';
	END IF;
	PERFORM privstat._check_policy_table(tbl, pg_catalog.format('set a scope on %s', tbl));
	PERFORM privstat._check_scope(tbl, condition);
	INSERT INTO privstat.scope_rule AS s (tbl, role, condition) VALUES (tbl, role, condition)
		ON CONFLICT ON CONSTRAINT scope_rule_pkey DO UPDATE SET condition = excluded.condition;
	PERFORM privstat._enable_row_security(tbl);
END
$fn$;

CREATE FUNCTION privstat.drop_scope(tbl regclass, role regrole)
	RETURNS boolean LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
	IF tbl IS NULL OR role IS NULL THEN
		RAISE EXCEPTION 'table and role must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM privstat._check_policy_table(tbl, pg_catalog.format('drop a scope on %s', tbl));
	DELETE FROM privstat.scope_rule s WHERE s.tbl = drop_scope.tbl AND s.role = drop_scope.role;
	RETURN FOUND;
END
$fn$;

REVOKE ALL ON FUNCTION privstat.set_consent(regclass, name), privstat.drop_consent(regclass),
	privstat.grant_purpose(regrole, text), privstat.revoke_purpose(regrole, text),
	privstat.set_scope(regclass, regrole, text), privstat.drop_scope(regclass, regrole) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privstat.set_consent(regclass, name), privstat.drop_consent(regclass),
	privstat.grant_purpose(regrole, text), privstat.revoke_purpose(regrole, text),
	privstat.set_scope(regclass, regrole, text), privstat.drop_scope(regclass, regrole) TO privstat_admin;

-- Every rule, one row each: protected tables with their privacy unit and
-- bounds, access levels, consent columns, purpose grants, scopes and
-- expiry (from retention rules).  Readable by privstat_admin.
CREATE VIEW privstat.policies AS
	SELECT 'table'::text AS kind, p.tbl::text AS name, p.privacy_unit,
		   (SELECT pg_catalog.jsonb_object_agg(b.col, pg_catalog.jsonb_build_array(b.lower, b.upper))
			  FROM privstat.column_bounds b WHERE b.tbl = p.tbl) AS bounds,
		   NULL::text AS access_level, NULL::text AS role, NULL::text AS detail
	  FROM privstat.protected_table p
	UNION ALL
	SELECT 'role', a.role::text, NULL, NULL, a.level, NULL, NULL
	  FROM privstat.access_level a
	UNION ALL
	SELECT 'consent', c.tbl::text, NULL, NULL, NULL, NULL, 'consent column ' || pg_catalog.quote_ident(c.consent_column)
	  FROM privstat.consent_rule c
	UNION ALL
	SELECT 'purpose', g.role::text, NULL, NULL, NULL, g.role::text, g.purpose
	  FROM privstat.purpose_grant g
	UNION ALL
	SELECT 'scope', s.tbl::text, NULL, NULL, NULL, s.role::text, s.condition
	  FROM privstat.scope_rule s
	UNION ALL
	SELECT 'expiry', r.tbl::text, NULL, NULL, NULL, NULL,
		   pg_catalog.format('rows with %I older than %s are hidden', r.ts_column, r.keep)
	  FROM privstat.retention_rule r;
REVOKE ALL ON privstat.policies FROM PUBLIC;
GRANT SELECT ON privstat.policies TO privstat_admin;

-- the event trigger's function: a dropped table takes all its rules with it
CREATE OR REPLACE FUNCTION privstat._forget_dropped() RETURNS event_trigger
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
	DELETE FROM privstat.retention_rule r
		WHERE NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = r.tbl);
	DELETE FROM privstat.protected_table p
		WHERE NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = p.tbl);
	DELETE FROM privstat.consent_rule p
		WHERE NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = p.tbl);
	DELETE FROM privstat.scope_rule p
		WHERE NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = p.tbl);
	DELETE FROM privstat.rls_table p
		WHERE NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = p.tbl);
END
$fn$;

------------------------------------------------------------------------------
-- Audit trail and governance views (doc/audit.md)
--
-- The trail lives in $PGDATA/privstat/audit, outside any table: hash-chained
-- segments that ROLLBACK cannot undo.  privstat_auditor may read it and the
-- governance views, and change nothing.
------------------------------------------------------------------------------

DO $roles$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'privstat_auditor') THEN
		CREATE ROLE privstat_auditor NOLOGIN;
	END IF;
END
$roles$;

CREATE FUNCTION privstat._audit_log(
		OUT seq bigint, OUT at timestamptz, OUT event text, OUT actor regrole, OUT role regrole,
		OUT database text, OUT relation text, OUT epsilon float8, OUT delta float8,
		OUT count bigint, OUT budget_seq bigint, OUT operation text, OUT detail text,
		OUT query text)
	RETURNS SETOF record AS 'MODULE_PATHNAME', 'privstat_audit_log'
	LANGUAGE C VOLATILE;
CREATE VIEW privstat.audit_log AS
	SELECT * FROM privstat._audit_log() WHERE event OPERATOR(pg_catalog.<>) 'text';

CREATE FUNCTION privstat.verify_audit_log(OUT ok boolean, OUT records bigint, OUT first_bad bigint,
										  OUT first_seq bigint)
	RETURNS record AS 'MODULE_PATHNAME', 'privstat_verify_audit_log'
	LANGUAGE C VOLATILE;

CREATE FUNCTION privstat.rotate_audit_log() RETURNS bigint
	AS 'MODULE_PATHNAME', 'privstat_rotate_audit_log' LANGUAGE C VOLATILE;

-- key rotations: privstat.key_version's own trigger is per statement
CREATE FUNCTION privstat._audit_changed() RETURNS trigger
	AS 'MODULE_PATHNAME', 'privstat_audit_changed' LANGUAGE C;
CREATE TRIGGER audit_changed AFTER INSERT OR UPDATE OR DELETE ON privstat.key_version
	FOR EACH ROW EXECUTE FUNCTION privstat._audit_changed();

-- Per role since a moment: the epsilon and delta charged to its budget, its
-- refused queries, the values it unsealed and the rows its purges removed.
CREATE FUNCTION privstat.privacy_report(since timestamptz DEFAULT '-infinity')
	RETURNS TABLE (role regrole, epsilon_spent float8, delta_spent float8, charges bigint,
				   refusals bigint, unseal_statements bigint, values_unsealed bigint,
				   purges bigint, rows_purged bigint)
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT r,
		   coalesce(sum(a.epsilon) FILTER (WHERE a.event = 'charge'), 0),
		   coalesce(sum(a.delta) FILTER (WHERE a.event = 'charge'), 0),
		   count(*) FILTER (WHERE a.event = 'charge'),
		   count(*) FILTER (WHERE a.event = 'refusal'),
		   count(*) FILTER (WHERE a.event = 'unseal'),
		   coalesce(sum(a.count) FILTER (WHERE a.event = 'unseal'), 0)::bigint,
		   count(*) FILTER (WHERE a.event = 'purge'),
		   coalesce(sum(a.count) FILTER (WHERE a.event = 'purge'), 0)::bigint
	  FROM privstat.audit_log a,
		   LATERAL (SELECT CASE WHEN a.event IN ('charge', 'refusal') THEN a.role ELSE a.actor END) AS w(r)
	 WHERE a.at >= since AND a.event IN ('charge', 'refusal', 'unseal', 'purge')
	 GROUP BY r
	 ORDER BY r::text
$fn$;

REVOKE ALL ON FUNCTION privstat._audit_log(), privstat.verify_audit_log(), privstat.rotate_audit_log(),
	privstat.privacy_report(timestamptz) FROM PUBLIC;
REVOKE ALL ON privstat.audit_log FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privstat._audit_log(), privstat.verify_audit_log(),
	privstat.privacy_report(timestamptz) TO privstat_admin, privstat_auditor;
GRANT EXECUTE ON FUNCTION privstat.rotate_audit_log() TO privstat_admin;
GRANT SELECT ON privstat.audit_log TO privstat_admin, privstat_auditor;

-- auditors read the governance views too
GRANT SELECT ON privstat.policies, privstat.retention_status TO privstat_auditor;
GRANT SELECT ON privstat.retention_rule, privstat.purge_log TO privstat_auditor;
GRANT EXECUTE ON FUNCTION privstat._retention_status() TO privstat_auditor;

-- One row per audit trail segment present, oldest first: what there is to
-- archive (doc/audit.md, "Segments, rotation and archiving").
CREATE FUNCTION privstat.audit_segments(OUT segment text, OUT segno bigint, OUT first_seq bigint,
										OUT last_seq bigint, OUT bytes bigint,
										OUT first_at timestamptz, OUT last_at timestamptz)
	RETURNS SETOF record AS 'MODULE_PATHNAME', 'privstat_audit_segments'
	LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION privstat.audit_segments() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privstat.audit_segments() TO privstat_admin, privstat_auditor;

------------------------------------------------------------------------------
-- User-level privacy: contribution bounding and DP group selection
-- (doc/user-level.md).  The policy rewrites an aggregate role's query so
-- that each privacy unit counts in at most max_groups_contributed groups,
-- with at most max_rows_contributed rows per group, and releases a group
-- only when its noisy count of units passes a threshold, unless its keys
-- are declared public here.
------------------------------------------------------------------------------

CREATE TABLE privstat.public_group (
	tbl				regclass NOT NULL REFERENCES privstat.protected_table ON DELETE CASCADE,
	col				name NOT NULL,
	keys			text[] NOT NULL,	-- the keys' text form, read back with the column's type
	PRIMARY KEY (tbl, col)
);
SELECT pg_catalog.pg_extension_config_dump('privstat.public_group', '');
REVOKE ALL ON privstat.public_group FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON privstat.public_group TO privstat_admin;
GRANT SELECT ON privstat.public_group TO privstat_auditor;

-- Declare the keys of column col that are public: a GROUP BY on col releases
-- exactly these groups, each with a noisy value even when empty, and spends
-- no delta on group selection.  NULL or an empty array removes the
-- declaration.  Returns the number of distinct keys declared.
CREATE FUNCTION privstat.set_public_groups(tbl regclass, col name, keys anyarray)
	RETURNS integer LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	typ regtype;
	elem regtype := pg_catalog.pg_typeof(keys)::oid;
	txt text[];
BEGIN
	IF tbl IS NULL OR col IS NULL THEN
		RAISE EXCEPTION 'table and column must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM privstat._check_protected(tbl, pg_catalog.format('set public groups on %s', tbl));
	typ := privstat._column_type(tbl, col);
	IF col = (SELECT p.privacy_unit FROM privstat.protected_table p WHERE p.tbl = set_public_groups.tbl) THEN
		RAISE EXCEPTION 'the privacy unit "%" cannot have public groups', col
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Public groups are keys such as countries or products, known without the data.';
	END IF;
	IF keys IS NULL OR pg_catalog.cardinality(keys) = 0 THEN
		DELETE FROM privstat.public_group g WHERE g.tbl = set_public_groups.tbl AND g.col = set_public_groups.col;
		RETURN 0;
	END IF;
	SELECT t.typelem INTO elem FROM pg_catalog.pg_type t WHERE t.oid = elem;
	IF elem <> typ THEN
		RAISE EXCEPTION 'keys of type %[] do not match column "%" of type %', elem, col, typ
			USING ERRCODE = 'datatype_mismatch',
				  HINT = pg_catalog.format('Cast the array: ARRAY[...]::%s[].', typ);
	END IF;
	IF pg_catalog.array_position(keys, NULL) IS NOT NULL THEN
		RAISE EXCEPTION 'public group keys must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF pg_catalog.cardinality(keys) > 100000 THEN
		RAISE EXCEPTION 'at most 100000 public groups per column, not %', pg_catalog.cardinality(keys)
			USING ERRCODE = 'program_limit_exceeded';
	END IF;
	SELECT pg_catalog.array_agg(k ORDER BY k) INTO txt
	  FROM (SELECT DISTINCT u::text AS k FROM pg_catalog.unnest(keys) AS u) AS d;
	INSERT INTO privstat.public_group AS g (tbl, col, keys) VALUES (tbl, col, txt)
		ON CONFLICT ON CONSTRAINT public_group_pkey DO UPDATE SET keys = excluded.keys;
	RETURN pg_catalog.cardinality(txt);
END
$fn$;
REVOKE ALL ON FUNCTION privstat.set_public_groups(regclass, name, anyarray) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privstat.set_public_groups(regclass, name, anyarray) TO privstat_admin;

-- Group selection: an aggregate over the units of one group (one input row
-- each, after bounding) that says whether the group is released: its count
-- plus discrete Laplace noise of scale max_groups/epsilon reaches a
-- threshold set so that a group of one unit is released with probability at
-- most delta / max_groups.  Charged epsilon and delta.
CREATE FUNCTION privstat.dp_select_trans(privstat.dp_state, double precision, double precision, integer)
	RETURNS privstat.dp_state AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION privstat.dp_select_final(privstat.dp_state) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL SAFE;
CREATE AGGREGATE privstat.dp_group_selected(epsilon double precision, delta double precision,
											max_groups_contributed integer) (
	SFUNC = privstat.dp_select_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_select_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);

-- dp_count_units(unit [, epsilon]): the number of distinct privacy units,
-- sensitivity 1 per group.  It is answered by the policy's rewrite of an
-- aggregate role's query (count(DISTINCT unit) becomes it); called anywhere
-- else it refuses, since only the rewrite knows the units.
CREATE FUNCTION privstat.dp_count_units_trans(privstat.dp_state, "any")
	RETURNS privstat.dp_state AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION privstat.dp_count_units_trans(privstat.dp_state, "any", double precision)
	RETURNS privstat.dp_state AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION privstat.dp_count_units_final(privstat.dp_state) RETURNS bigint
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL SAFE;
CREATE AGGREGATE privstat.dp_count_units("any") (
	SFUNC = privstat.dp_count_units_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_count_units_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat.dp_count_units("any", epsilon double precision) (
	SFUNC = privstat.dp_count_units_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_count_units_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);

-- Pieces of the rewritten query (doc/user-level.md, "The rewrite").
-- A uniformly random rank from the CSPRNG: which groups of a unit count.
CREATE FUNCTION privstat._contribution_rank() RETURNS bigint
	AS 'MODULE_PATHNAME', 'privstat_contribution_rank' LANGUAGE C VOLATILE PARALLEL SAFE;
-- A unit's total in one group, centred on centre, scaled to at most m rows:
-- (total - n * centre) * least(n, m) / n.
CREATE FUNCTION privstat._bounded_total(total double precision, n bigint, m integer,
										centre double precision) RETURNS double precision
	AS 'MODULE_PATHNAME', 'privstat_bounded_total' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
-- The mean from a noisy centred sum and a noisy count, clamped to the bounds.
CREATE FUNCTION privstat._dp_mean(sum double precision, n numeric, lower double precision,
								  upper double precision) RETURNS double precision
	AS 'MODULE_PATHNAME', 'privstat_dp_mean' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- dp_variance, dp_stddev, dp_percentile and dp_median under bounding: a
-- uniform sample (a reservoir, from the CSPRNG) of at most m of a unit's
-- values in a group, then the row-level mechanism over the samples with
-- epsilon / weight, weight = max_groups_contributed * max_rows_contributed
-- (group privacy: a unit is at most that many rows), charged epsilon.
CREATE FUNCTION privstat._sample_trans(internal, double precision, integer) RETURNS internal
	AS 'MODULE_PATHNAME', 'privstat_sample_trans' LANGUAGE C VOLATILE PARALLEL SAFE;
CREATE FUNCTION privstat._sample_final(internal) RETURNS double precision[]
	AS 'MODULE_PATHNAME', 'privstat_sample_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE privstat._sample_rows(double precision, integer) (
	SFUNC = privstat._sample_trans, STYPE = internal,
	FINALFUNC = privstat._sample_final, PARALLEL = SAFE
);
CREATE FUNCTION privstat.dp_trans_sample(privstat.dp_state, double precision[], double precision,
										 double precision, double precision, integer)
	RETURNS privstat.dp_state AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION privstat.dp_hist_trans_sample(privstat.dp_hist_state, double precision[], double precision,
											  double precision, double precision, double precision, integer)
	RETURNS privstat.dp_hist_state AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE privstat._dp_variance_units(sample double precision[], lower double precision,
											 upper double precision, epsilon double precision, weight integer) (
	SFUNC = privstat.dp_trans_sample, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_double_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat._dp_stddev_units(sample double precision[], lower double precision,
										   upper double precision, epsilon double precision, weight integer) (
	SFUNC = privstat.dp_trans_sample, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_double_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_state_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat._dp_percentile_units(sample double precision[], p double precision,
											   lower double precision, upper double precision,
											   epsilon double precision, weight integer) (
	SFUNC = privstat.dp_hist_trans_sample, STYPE = privstat.dp_hist_state,
	FINALFUNC = privstat.dp_percentile_final, FINALFUNC_MODIFY = READ_WRITE,
	COMBINEFUNC = privstat.dp_hist_state_combine, PARALLEL = SAFE
);
-- numeric to double precision as the DP aggregates read it: never an error
-- (beyond the double range: +/-Infinity), so no protected value can raise one
CREATE FUNCTION privstat._float8(numeric) RETURNS double precision
	AS 'MODULE_PATHNAME', 'privstat_float8_of_numeric' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- The budget journal's progress: records written, records durable (they
-- differ while charges are being flushed) and the journal flusher's pid.
CREATE FUNCTION privstat.budget_journal_status(OUT records bigint, OUT durable_records bigint,
											   OUT flusher_pid integer)
	RETURNS record AS 'MODULE_PATHNAME', 'privstat_budget_journal_status' LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION privstat.budget_journal_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privstat.budget_journal_status() TO privstat_admin, privstat_auditor;

-- The policy tables' invalidation triggers (see _policy_changed): the tables
-- src/policy.c reads the policy from (expiry rules come from retention_rule).
DO $triggers$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['protected_table', 'column_bounds', 'access_level', 'rls_table', 'consent_rule',
							 'retention_rule', 'scope_rule', 'purpose_grant', 'public_group'] LOOP
		EXECUTE pg_catalog.format('CREATE TRIGGER policy_changed AFTER INSERT OR UPDATE OR DELETE ON privstat.%I '
								  'FOR EACH ROW EXECUTE FUNCTION privstat._policy_changed()', t);
		EXECUTE pg_catalog.format('CREATE TRIGGER policy_changed_truncate AFTER TRUNCATE ON privstat.%I '
								  'FOR EACH STATEMENT EXECUTE FUNCTION privstat._policy_changed()', t);
	END LOOP;
END
$triggers$;
