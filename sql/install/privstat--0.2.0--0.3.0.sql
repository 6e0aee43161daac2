/* privstat--0.2.0--0.3.0.sql: update from 0.2.0 to 0.3.0 */

\echo Use "ALTER EXTENSION privstat UPDATE TO '0.3.0'" to load this file. \quit

-- Total versions of PostgreSQL functions that can raise (doc/policy.md,
-- "Total expressions").  A restricted role's query over protected tables
-- runs these in place of PostgreSQL's: same arguments, same result, NULL
-- where PostgreSQL's would raise (or outside the documented domain of the
-- date/time functions).  They stay executable by every role: the rewritten
-- queries of restricted roles call them, as those roles.
CREATE FUNCTION privstat._total_date_trunc(text, timestamp without time zone) RETURNS timestamp without time zone
	AS 'MODULE_PATHNAME', 'privstat_total_timestamp_trunc' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_date_trunc(text, timestamp with time zone) RETURNS timestamp with time zone
	AS 'MODULE_PATHNAME', 'privstat_total_timestamptz_trunc' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_date_trunc(text, timestamp with time zone, text) RETURNS timestamp with time zone
	AS 'MODULE_PATHNAME', 'privstat_total_timestamptz_trunc_zone' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_date_part(text, timestamp without time zone) RETURNS double precision
	AS 'MODULE_PATHNAME', 'privstat_total_timestamp_part' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_date_part(text, timestamp with time zone) RETURNS double precision
	AS 'MODULE_PATHNAME', 'privstat_total_timestamptz_part' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_date_part(text, date) RETURNS double precision
	AS 'MODULE_PATHNAME', 'privstat_total_date_part_date' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_extract(text, timestamp without time zone) RETURNS numeric
	AS 'MODULE_PATHNAME', 'privstat_total_extract_timestamp' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_extract(text, timestamp with time zone) RETURNS numeric
	AS 'MODULE_PATHNAME', 'privstat_total_extract_timestamptz' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_timezone(text, timestamp without time zone) RETURNS timestamp with time zone
	AS 'MODULE_PATHNAME', 'privstat_total_timestamp_zone' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_timezone(text, timestamp with time zone) RETURNS timestamp without time zone
	AS 'MODULE_PATHNAME', 'privstat_total_timestamptz_zone' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_to_char(timestamp without time zone, text) RETURNS text
	AS 'MODULE_PATHNAME', 'privstat_total_timestamp_to_char' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_to_char(timestamp with time zone, text) RETURNS text
	AS 'MODULE_PATHNAME', 'privstat_total_timestamptz_to_char' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_to_timestamp(double precision) RETURNS timestamp with time zone
	AS 'MODULE_PATHNAME', 'privstat_total_to_timestamp' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_timestamp(date) RETURNS timestamp without time zone
	AS 'MODULE_PATHNAME', 'privstat_total_date_timestamp' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_timestamptz(date) RETURNS timestamp with time zone
	AS 'MODULE_PATHNAME', 'privstat_total_date_timestamptz' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_timestamptz(timestamp without time zone) RETURNS timestamp with time zone
	AS 'MODULE_PATHNAME', 'privstat_total_timestamp_timestamptz' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_timestamp(timestamp with time zone) RETURNS timestamp without time zone
	AS 'MODULE_PATHNAME', 'privstat_total_timestamptz_timestamp' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_date(timestamp without time zone) RETURNS date
	AS 'MODULE_PATHNAME', 'privstat_total_timestamp_date' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_date(timestamp with time zone) RETURNS date
	AS 'MODULE_PATHNAME', 'privstat_total_timestamptz_date' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_timestamp_pl_interval(timestamp without time zone, interval) RETURNS timestamp without time zone
	AS 'MODULE_PATHNAME', 'privstat_total_timestamp_pl_interval' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_timestamp_mi_interval(timestamp without time zone, interval) RETURNS timestamp without time zone
	AS 'MODULE_PATHNAME', 'privstat_total_timestamp_mi_interval' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_timestamptz_pl_interval(timestamp with time zone, interval) RETURNS timestamp with time zone
	AS 'MODULE_PATHNAME', 'privstat_total_timestamptz_pl_interval' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_timestamptz_mi_interval(timestamp with time zone, interval) RETURNS timestamp with time zone
	AS 'MODULE_PATHNAME', 'privstat_total_timestamptz_mi_interval' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_date_pl_interval(date, interval) RETURNS timestamp without time zone
	AS 'MODULE_PATHNAME', 'privstat_total_date_pl_interval' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_date_mi_interval(date, interval) RETURNS timestamp without time zone
	AS 'MODULE_PATHNAME', 'privstat_total_date_mi_interval' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_date_pli(date, integer) RETURNS date
	AS 'MODULE_PATHNAME', 'privstat_total_date_pli' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_date_mii(date, integer) RETURNS date
	AS 'MODULE_PATHNAME', 'privstat_total_date_mii' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_int2(numeric) RETURNS smallint
	AS 'MODULE_PATHNAME', 'privstat_total_numeric_int2' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_int4(numeric) RETURNS integer
	AS 'MODULE_PATHNAME', 'privstat_total_numeric_int4' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_int8(numeric) RETURNS bigint
	AS 'MODULE_PATHNAME', 'privstat_total_numeric_int8' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_int2(double precision) RETURNS smallint
	AS 'MODULE_PATHNAME', 'privstat_total_float8_int2' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_int4(double precision) RETURNS integer
	AS 'MODULE_PATHNAME', 'privstat_total_float8_int4' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_int8(double precision) RETURNS bigint
	AS 'MODULE_PATHNAME', 'privstat_total_float8_int8' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_int2(integer) RETURNS smallint
	AS 'MODULE_PATHNAME', 'privstat_total_int4_int2' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_int2(bigint) RETURNS smallint
	AS 'MODULE_PATHNAME', 'privstat_total_int8_int2' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_int4(bigint) RETURNS integer
	AS 'MODULE_PATHNAME', 'privstat_total_int8_int4' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_numeric(numeric, integer) RETURNS numeric
	AS 'MODULE_PATHNAME', 'privstat_total_numeric_typmod' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_int4pl(integer, integer) RETURNS integer
	AS 'MODULE_PATHNAME', 'privstat_total_int4pl' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_int4mi(integer, integer) RETURNS integer
	AS 'MODULE_PATHNAME', 'privstat_total_int4mi' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_int4mul(integer, integer) RETURNS integer
	AS 'MODULE_PATHNAME', 'privstat_total_int4mul' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_int4div(integer, integer) RETURNS integer
	AS 'MODULE_PATHNAME', 'privstat_total_int4div' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_int4mod(integer, integer) RETURNS integer
	AS 'MODULE_PATHNAME', 'privstat_total_int4mod' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_int4um(integer) RETURNS integer
	AS 'MODULE_PATHNAME', 'privstat_total_int4um' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_int4abs(integer) RETURNS integer
	AS 'MODULE_PATHNAME', 'privstat_total_int4abs' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_int8pl(bigint, bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'privstat_total_int8pl' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_int8mi(bigint, bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'privstat_total_int8mi' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_int8mul(bigint, bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'privstat_total_int8mul' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_int8div(bigint, bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'privstat_total_int8div' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_int8mod(bigint, bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'privstat_total_int8mod' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_int8um(bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'privstat_total_int8um' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_int8abs(bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'privstat_total_int8abs' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_int84pl(bigint, integer) RETURNS bigint
	AS 'MODULE_PATHNAME', 'privstat_total_int84pl' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_int84mi(bigint, integer) RETURNS bigint
	AS 'MODULE_PATHNAME', 'privstat_total_int84mi' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_int84mul(bigint, integer) RETURNS bigint
	AS 'MODULE_PATHNAME', 'privstat_total_int84mul' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_int84div(bigint, integer) RETURNS bigint
	AS 'MODULE_PATHNAME', 'privstat_total_int84div' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_int48pl(integer, bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'privstat_total_int48pl' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_int48mi(integer, bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'privstat_total_int48mi' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_int48mul(integer, bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'privstat_total_int48mul' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_int48div(integer, bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'privstat_total_int48div' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_numeric_add(numeric, numeric) RETURNS numeric
	AS 'MODULE_PATHNAME', 'privstat_total_numeric_add' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_numeric_sub(numeric, numeric) RETURNS numeric
	AS 'MODULE_PATHNAME', 'privstat_total_numeric_sub' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_numeric_mul(numeric, numeric) RETURNS numeric
	AS 'MODULE_PATHNAME', 'privstat_total_numeric_mul' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_numeric_div(numeric, numeric) RETURNS numeric
	AS 'MODULE_PATHNAME', 'privstat_total_numeric_div' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_numeric_mod(numeric, numeric) RETURNS numeric
	AS 'MODULE_PATHNAME', 'privstat_total_numeric_mod' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_float8pl(double precision, double precision) RETURNS double precision
	AS 'MODULE_PATHNAME', 'privstat_total_float8pl' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_float8mi(double precision, double precision) RETURNS double precision
	AS 'MODULE_PATHNAME', 'privstat_total_float8mi' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_float8mul(double precision, double precision) RETURNS double precision
	AS 'MODULE_PATHNAME', 'privstat_total_float8mul' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_float8div(double precision, double precision) RETURNS double precision
	AS 'MODULE_PATHNAME', 'privstat_total_float8div' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_width_bucket(double precision, double precision, double precision, integer) RETURNS integer
	AS 'MODULE_PATHNAME', 'privstat_total_width_bucket_float8' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION privstat._total_width_bucket(numeric, numeric, numeric, integer) RETURNS integer
	AS 'MODULE_PATHNAME', 'privstat_total_width_bucket_numeric' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- The comparison operators of pseudonym and sealed live in pg_catalog, which
-- every search_path holds: a BI tool that does not set search_path joins and
-- compares pseudonym columns like any other.  Their types, functions and
-- operator classes stay in schema privstat.
ALTER OPERATOR privstat.= (privstat.pseudonym, privstat.pseudonym) SET SCHEMA pg_catalog;
ALTER OPERATOR privstat.<> (privstat.pseudonym, privstat.pseudonym) SET SCHEMA pg_catalog;
ALTER OPERATOR privstat.< (privstat.pseudonym, privstat.pseudonym) SET SCHEMA pg_catalog;
ALTER OPERATOR privstat.<= (privstat.pseudonym, privstat.pseudonym) SET SCHEMA pg_catalog;
ALTER OPERATOR privstat.> (privstat.pseudonym, privstat.pseudonym) SET SCHEMA pg_catalog;
ALTER OPERATOR privstat.>= (privstat.pseudonym, privstat.pseudonym) SET SCHEMA pg_catalog;
ALTER OPERATOR privstat.= (privstat.sealed, privstat.sealed) SET SCHEMA pg_catalog;
ALTER OPERATOR privstat.<> (privstat.sealed, privstat.sealed) SET SCHEMA pg_catalog;
ALTER OPERATOR privstat.< (privstat.sealed, privstat.sealed) SET SCHEMA pg_catalog;
ALTER OPERATOR privstat.<= (privstat.sealed, privstat.sealed) SET SCHEMA pg_catalog;
ALTER OPERATOR privstat.> (privstat.sealed, privstat.sealed) SET SCHEMA pg_catalog;
ALTER OPERATOR privstat.>= (privstat.sealed, privstat.sealed) SET SCHEMA pg_catalog;

-- The checks of a policy's table refuse temporary tables (issue #17): one
-- goes away with its session without firing the event trigger that forgets
-- dropped tables, and left its policy rows behind.
CREATE OR REPLACE FUNCTION privstat._check_policy_table(tbl regclass, what text) RETURNS void
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	kind "char";
	nsp regnamespace;
	persistence "char";
BEGIN
	SELECT relkind, relnamespace, relpersistence INTO kind, nsp, persistence FROM pg_class WHERE oid = tbl;
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
	IF persistence = 't' THEN
		RAISE EXCEPTION 'temporary table % cannot have policies', tbl
			USING ERRCODE = 'feature_not_supported',
				  DETAIL = 'A temporary table goes away with its session, and its policy rows would stay behind.',
				  HINT = 'Protect a permanent table.';
	END IF;
	IF NOT pg_catalog.has_table_privilege(tbl, 'SELECT WITH GRANT OPTION') THEN
		RAISE EXCEPTION 'permission denied to %', what
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'Run it as the table''s owner, or as a role that holds SELECT on it WITH GRANT OPTION.';
	END IF;
END
$fn$;

-- rekey() named the sealed "=" by its old schema.
CREATE OR REPLACE PROCEDURE privstat.rekey(tbl regclass, col name, batch_size integer DEFAULT 10000,
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
			'UPDATE %s SET %I = privstat.reseal(%I) WHERE %I OPERATOR(pg_catalog.=) ANY (ARRAY('
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

-- Internal functions that no role needs to call: trigger functions (which
-- fire without EXECUTE, and now also check which table fired them) and
-- install-time checks.  Functions that the rewritten queries, row security
-- policies and views call as the querying role (_consent_ok, _float8,
-- _contribution_rank, _bounded_total, _dp_mean, _sample_*, _dp_*_units,
-- _budget_status, _total_*) keep EXECUTE for everyone, and so do the purge's
-- _purge_batch and _purge_batch_rows, which the retention worker runs as
-- each table's owner: _purge_batch refuses a caller that is neither the
-- table's owner nor an administrator.
REVOKE ALL ON FUNCTION privstat._policy_changed(), privstat._audit_changed(),
	privstat._key_version_changed(), privstat._retention_check(), privstat._forget_dropped(),
	privstat._assert_preloaded(), privstat._check_domain(text)
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privstat._check_domain(text) TO privstat_admin;

-- The inputs of privstat's one-pass bounding node (src/policy/fused.c).  The
-- rewrite of a restricted role's grouped query writes them as the argument of
-- the outer dp_sum() calls; the node reads their arguments (the privacy unit,
-- the value, whether the row counts, the bounds) and never calls them.  A call
-- refuses.  STABLE, so that PostgreSQL drops the columns of a subquery that
-- the query does not read (as it does in the three-level rewrite, so both
-- charge the same); the level's group selection keeps one in its FILTER.
CREATE FUNCTION privstat._bounded_count(max_groups integer, max_rows integer, unit "any",
										counted boolean)
	RETURNS bigint AS 'MODULE_PATHNAME', 'privstat_bounded_input' LANGUAGE C STABLE PARALLEL RESTRICTED;
CREATE FUNCTION privstat._bounded_value(max_groups integer, max_rows integer, centre double precision,
										unit "any", value double precision, counted boolean)
	RETURNS double precision AS 'MODULE_PATHNAME', 'privstat_bounded_input' LANGUAGE C STABLE PARALLEL RESTRICTED;
REVOKE ALL ON FUNCTION privstat._bounded_count(integer, integer, "any", boolean),
	privstat._bounded_value(integer, integer, double precision, "any", double precision, boolean)
	FROM PUBLIC;

-- The contribution bounds a query over tbl uses, for a dashboard to show
-- beside its answers (doc/user-level.md): the table's, lowered by the
-- session's privstat.max_groups_contributed and max_rows_contributed; NULLs
-- for a table that is not protected.  One row, so that a dashboard can write
-- (privstat.contribution_bounds('t')).max_groups_contributed beside its
-- aggregates.  The bounds are policy, not data: anyone may read them.
CREATE FUNCTION privstat.contribution_bounds(tbl regclass, OUT max_groups_contributed integer,
											 OUT max_rows_contributed integer)
	RETURNS record LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $fn$
	SELECT CASE WHEN s.g OPERATOR(pg_catalog.>) 0 THEN LEAST(p.max_groups_contributed, s.g)
				ELSE p.max_groups_contributed END,
		   CASE WHEN s.r OPERATOR(pg_catalog.>) 0 THEN LEAST(p.max_rows_contributed, s.r)
				ELSE p.max_rows_contributed END
	FROM privstat.protected_table p,
		 (SELECT pg_catalog.current_setting('privstat.max_groups_contributed')::integer AS g,
				 pg_catalog.current_setting('privstat.max_rows_contributed')::integer AS r) s
	WHERE p.tbl OPERATOR(pg_catalog.=) contribution_bounds.tbl
	$fn$;

-- Bounds from data, privately (doc/user-level.md, "Choosing bounds for time
-- series").  Their helpers (_privacy_unit, _suggest_*, _noisy_histogram,
-- _histogram_quantile) keep EXECUTE for everyone: the functions run with the
-- caller's rights, and a query _noisy_histogram runs is validated as any
-- other of the caller's.  Each reads one value per person and releases a histogram of
-- those values with noise: every bin, empty or not, gets a dp_count, and a
-- person moves one bin, so the whole histogram costs epsilon once (charged
-- to the caller's budget).  A quantile is the first bin at which the
-- cumulative noisy count reaches it.  The caller's own rights: an owner or an
-- administrator (a role at level aggregate cannot group by the unit).
CREATE FUNCTION privstat._privacy_unit(tbl regclass) RETURNS name
	LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $fn$ SELECT p.privacy_unit FROM privstat.protected_table p WHERE p.tbl OPERATOR(pg_catalog.=) $1 $fn$;

-- the unit of tbl and the type of col (if given: it must be a column),
-- after checking the arguments
CREATE FUNCTION privstat._suggest_check(tbl regclass, col name, coverage double precision,
										epsilon double precision, OUT unit name, OUT col_type regtype)
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
	IF tbl IS NULL OR coverage IS NULL OR epsilon IS NULL THEN
		RAISE EXCEPTION 'the table, coverage and epsilon must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF NOT (coverage OPERATOR(pg_catalog.>) 0 AND coverage OPERATOR(pg_catalog.<) 1) THEN
		RAISE EXCEPTION 'coverage must be greater than 0 and less than 1, not %', coverage
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = '0.95 suggests bounds that hold about 95% of the values.';
	END IF;
	unit := privstat._privacy_unit(tbl);
	IF unit IS NULL THEN
		RAISE EXCEPTION 'table % is not protected', tbl
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Bounds are suggested per person: protect the table first with privstat.protect().';
	END IF;
	IF col IS NOT NULL THEN
		SELECT a.atttypid::regtype INTO col_type FROM pg_catalog.pg_attribute a
			WHERE a.attrelid OPERATOR(pg_catalog.=) tbl AND a.attname OPERATOR(pg_catalog.=) col
			  AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'column "%" of relation % does not exist', col, tbl
				USING ERRCODE = 'undefined_column';
		END IF;
	END IF;
END
$fn$;

-- A noisy histogram: query gives one integer bin per person (NULL: none);
-- every bin of first .. last is released with dp_count(bin, epsilon).
CREATE FUNCTION privstat._noisy_histogram(query text, first integer, last integer,
										  epsilon double precision, what text)
	RETURNS bigint[] LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	hist bigint[];
BEGIN
	EXECUTE pg_catalog.format(
		'SELECT pg_catalog.array_agg(n ORDER BY b) FROM'
		' (SELECT b.b, privstat.dp_count(p.bin, $3) AS n'
		'    FROM pg_catalog.generate_series($1, $2) AS b (b)'
		'    LEFT JOIN (SELECT LEAST(GREATEST(bin, $1), $2) AS bin FROM (%s) q) p'
		'      ON p.bin OPERATOR(pg_catalog.=) b.b'
		'   GROUP BY b.b) h', query)
		INTO hist USING first, last, epsilon;
	RETURN hist;
EXCEPTION WHEN insufficient_privilege THEN
	RAISE EXCEPTION 'privstat.% reads one value per person, which needs direct access to the table', what
		USING ERRCODE = 'insufficient_privilege',
			  HINT = 'Run it as the table''s owner or an administrator; it spends epsilon of that role''s budget.';
END
$fn$;

-- the first bin (counting from first) at which the cumulative count reaches
-- q of the total; NULL if the total is 0.  A bin whose noisy count is below
-- ln(bins / 0.02) / epsilon counts as empty: an empty bin's noise (discrete
-- Laplace, scale 1/epsilon) passes that with probability at most 0.01 / bins,
-- so all the empty bins of a histogram together with at most 1%.  Bins of
-- fewer people than that are lost in the noise (and ignored).
CREATE FUNCTION privstat._histogram_quantile(hist bigint[], first integer, q double precision,
											 epsilon double precision)
	RETURNS integer LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	n integer := pg_catalog.array_length(hist, 1);
	threshold double precision := pg_catalog.ln(n OPERATOR(pg_catalog./) 0.02) OPERATOR(pg_catalog./) epsilon;
	total double precision := 0;
	acc double precision := 0;
	i integer;
BEGIN
	FOR i IN 1 .. n LOOP
		IF hist[i] OPERATOR(pg_catalog.>=) threshold THEN
			total := total OPERATOR(pg_catalog.+) hist[i];
		END IF;
	END LOOP;
	IF total OPERATOR(pg_catalog.<=) 0 THEN
		RETURN NULL;
	END IF;
	FOR i IN 1 .. n LOOP
		IF hist[i] OPERATOR(pg_catalog.>=) threshold THEN
			acc := acc OPERATOR(pg_catalog.+) hist[i];
		END IF;
		IF acc OPERATOR(pg_catalog.>=) (q OPERATOR(pg_catalog.*) total) THEN
			RETURN first OPERATOR(pg_catalog.+) i OPERATOR(pg_catalog.-) 1;
		END IF;
	END LOOP;
	RETURN first OPERATOR(pg_catalog.+) pg_catalog.array_length(hist, 1) OPERATOR(pg_catalog.-) 1;
END
$fn$;

-- suggest_bounds: lower and upper bounds for set_bounds that hold about
-- coverage of a column's values.  One value per person (a uniform CSPRNG
-- sample of its rows), in bins of a quarter of sign(x) log2(1 + |x|) over
-- [-64, 64] (steps of about 19%); the bins of the (1 - coverage)/2 and
-- (1 + coverage)/2 quantiles, their outer edges mapped back and rounded
-- outward to two significant digits.  A lower bound at or above 0 is 0.
CREATE FUNCTION privstat.suggest_bounds(tbl regclass, col name, coverage double precision DEFAULT 0.95,
										epsilon double precision DEFAULT 0.5,
										OUT lower double precision, OUT upper double precision,
										OUT epsilon_spent double precision)
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	unit name;
	typ regtype;
	value text;
	hist bigint[];
	lo integer;
	hi integer;
BEGIN
	SELECT c.unit, c.col_type INTO unit, typ FROM privstat._suggest_check(tbl, col, coverage, epsilon) c;
	IF typ NOT IN ('smallint'::regtype, 'integer'::regtype, 'bigint'::regtype, 'numeric'::regtype,
				   'real'::regtype, 'double precision'::regtype) THEN
		RAISE EXCEPTION 'column "%" of % is of type %, not a number', col, tbl, typ
			USING ERRCODE = 'datatype_mismatch';
	END IF;
	value := CASE WHEN typ OPERATOR(pg_catalog.=) 'numeric'::regtype
				  THEN pg_catalog.format('privstat._float8(%I)', col)
				  ELSE pg_catalog.format('%I::pg_catalog.float8', col) END;
	hist := privstat._noisy_histogram(pg_catalog.format(
		'SELECT pg_catalog.floor(4 OPERATOR(pg_catalog.*) pg_catalog.sign(v) OPERATOR(pg_catalog.*)'
		'       pg_catalog.ln(1 OPERATOR(pg_catalog.+) pg_catalog.abs(v)) OPERATOR(pg_catalog./) pg_catalog.ln(2))::integer AS bin'
		'  FROM (SELECT (privstat._sample_rows(%s, 1))[1] AS v FROM %s WHERE %I IS NOT NULL GROUP BY %I) per_person'
		' WHERE v OPERATOR(pg_catalog.<>) ''NaN''::pg_catalog.float8'
		'   AND v OPERATOR(pg_catalog.<>) ''Infinity''::pg_catalog.float8'
		'   AND v OPERATOR(pg_catalog.<>) ''-Infinity''::pg_catalog.float8',
		value, tbl, col, unit), -256, 255, epsilon, 'suggest_bounds');
	lo := privstat._histogram_quantile(hist, -256, (1 OPERATOR(pg_catalog.-) coverage) OPERATOR(pg_catalog./) 2, epsilon);
	hi := privstat._histogram_quantile(hist, -256, (1 OPERATOR(pg_catalog.+) coverage) OPERATOR(pg_catalog./) 2, epsilon);
	epsilon_spent := epsilon;
	IF lo IS NULL THEN
		RETURN;					/* no value at all, as far as the noise tells */
	END IF;
	/* bin b holds y in [b/4, (b+1)/4): its outer edges, mapped back */
	lower := privstat._suggest_round(lo::double precision OPERATOR(pg_catalog./) 4, false);
	upper := privstat._suggest_round((hi OPERATOR(pg_catalog.+) 1)::double precision OPERATOR(pg_catalog./) 4, true);
	IF lower OPERATOR(pg_catalog.>=) 0 THEN
		lower := 0;
	END IF;
END
$fn$;

-- sign(y) (2^|y| - 1), rounded away from zero (up) or towards minus infinity
-- (down) to two significant digits
CREATE FUNCTION privstat._suggest_round(y double precision, up boolean) RETURNS double precision
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	x double precision := pg_catalog.sign(y) OPERATOR(pg_catalog.*)
		(pg_catalog.power(2::double precision, pg_catalog.abs(y)) OPERATOR(pg_catalog.-) 1);
	scale double precision;
BEGIN
	IF x OPERATOR(pg_catalog.=) 0 THEN
		RETURN 0;
	END IF;
	scale := pg_catalog.power(10::double precision,
		pg_catalog.floor(pg_catalog.log(pg_catalog.abs(x))) OPERATOR(pg_catalog.-) 1);
	IF up THEN
		RETURN pg_catalog.ceil(x OPERATOR(pg_catalog./) scale) OPERATOR(pg_catalog.*) scale;
	END IF;
	RETURN pg_catalog.floor(x OPERATOR(pg_catalog./) scale) OPERATOR(pg_catalog.*) scale;
END
$fn$;

-- suggest_contribution_bounds: max_groups_contributed and
-- max_rows_contributed for protect() that hold about coverage of the
-- people: the coverage quantile of the number of groups per person (groups:
-- the values of group_col, or of date_trunc(time_bucket, group_col)) and of
-- the most rows a person has in one group, each from a noisy histogram with
-- epsilon/2, in bins of an eighth of log2 of the count over [0, 32] (exact
-- up to 11, within 9% above).  Without group_col, one group: rows per person.
CREATE FUNCTION privstat.suggest_contribution_bounds(tbl regclass, group_col name DEFAULT NULL,
													 time_bucket text DEFAULT NULL,
													 coverage double precision DEFAULT 0.9,
													 epsilon double precision DEFAULT 0.5,
													 OUT max_groups_contributed integer,
													 OUT max_rows_contributed integer,
													 OUT epsilon_spent double precision)
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	unit name := (privstat._suggest_check(tbl, group_col, coverage, epsilon)).unit;
	grp text := '';
	per_person text;
	g integer;
	r integer;
BEGIN
	IF group_col IS NOT NULL THEN
		grp := pg_catalog.format(', %I', group_col);
		IF time_bucket IS NOT NULL THEN
			IF time_bucket NOT IN ('hour', 'day', 'week', 'month', 'quarter', 'year') THEN
				RAISE EXCEPTION 'time_bucket must be hour, day, week, month, quarter or year, not "%"', time_bucket
					USING ERRCODE = 'invalid_parameter_value';
			END IF;
			grp := pg_catalog.format(', pg_catalog.date_trunc(%L, %I)', time_bucket, group_col);
		END IF;
	ELSIF time_bucket IS NOT NULL THEN
		RAISE EXCEPTION 'time_bucket needs group_col, the column it buckets'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	per_person := pg_catalog.format(
		'SELECT pg_catalog.count(*) AS groups, pg_catalog.max(n) AS most_rows'
		'  FROM (SELECT %I AS u, pg_catalog.count(*) AS n FROM %s GROUP BY %I%s) per_group GROUP BY u',
		unit, tbl, unit, grp);
	IF group_col IS NOT NULL THEN
		g := privstat._histogram_quantile(privstat._noisy_histogram(pg_catalog.format(
			'SELECT pg_catalog.floor(8 OPERATOR(pg_catalog.*) pg_catalog.log(2, groups::pg_catalog.numeric))::integer AS bin FROM (%s) s',
			per_person), 0, 255, epsilon OPERATOR(pg_catalog./) 2, 'suggest_contribution_bounds'), 0, coverage,
			epsilon OPERATOR(pg_catalog./) 2);
	END IF;
	r := privstat._histogram_quantile(privstat._noisy_histogram(pg_catalog.format(
		'SELECT pg_catalog.floor(8 OPERATOR(pg_catalog.*) pg_catalog.log(2, most_rows::pg_catalog.numeric))::integer AS bin FROM (%s) s',
		per_person), 0, 255, CASE WHEN group_col IS NULL THEN epsilon ELSE epsilon OPERATOR(pg_catalog./) 2 END,
		'suggest_contribution_bounds'), 0, coverage,
		CASE WHEN group_col IS NULL THEN epsilon ELSE epsilon OPERATOR(pg_catalog./) 2 END);
	/* bin b holds counts in [2^(b/8), 2^((b+1)/8)): its largest integer */
	max_groups_contributed := CASE WHEN group_col IS NULL THEN 1 WHEN g IS NULL THEN NULL ELSE
		GREATEST(1, pg_catalog.ceil(pg_catalog.power(2::double precision, (g OPERATOR(pg_catalog.+) 1) OPERATOR(pg_catalog./) 8.0)
									OPERATOR(pg_catalog.-) 1)::integer) END;
	max_rows_contributed := CASE WHEN r IS NULL THEN NULL ELSE
		GREATEST(1, pg_catalog.ceil(pg_catalog.power(2::double precision, (r OPERATOR(pg_catalog.+) 1) OPERATOR(pg_catalog./) 8.0)
									OPERATOR(pg_catalog.-) 1)::integer) END;
	epsilon_spent := epsilon;
END
$fn$;

-- The n-th smallest of the values that are not NULL: privstat.consistent_answers
-- answers the percentiles of one column in one row in the order of their p
-- (src/dp_agg.c, privstat_monotone_percentiles), rewriting each call into
-- this over the row's released values.  Executable by everyone: the rewritten
-- queries call it as their role.
CREATE FUNCTION privstat._nth_smallest(double precision[], integer) RETURNS double precision
	AS 'MODULE_PATHNAME', 'privstat_nth_smallest' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

------------------------------------------------------------------------------
-- The release cache (doc/budgets.md, "Answers released again"): per role,
-- the runs answered from it (hits, with the epsilon and delta they would
-- have cost), the runs charged (misses), the answers kept, and the entries
-- and bytes it holds now.  Administrators and auditors see every role;
-- everyone else, the roles whose privileges they have.
CREATE FUNCTION privstat._release_cache_status(
		OUT role regrole, OUT hits bigint, OUT misses bigint, OUT stored bigint,
		OUT epsilon_saved double precision, OUT delta_saved double precision,
		OUT entries bigint, OUT bytes bigint)
	RETURNS SETOF record AS 'MODULE_PATHNAME', 'privstat_release_cache_status'
	LANGUAGE C VOLATILE STRICT;

CREATE VIEW privstat.release_cache_status AS
	SELECT * FROM privstat._release_cache_status();
GRANT SELECT ON privstat.release_cache_status TO PUBLIC;

-- Drop every kept answer: the next run of each query is charged again.
CREATE FUNCTION privstat.clear_release_cache()
	RETURNS bigint AS 'MODULE_PATHNAME', 'privstat_clear_release_cache' LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION privstat.clear_release_cache() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privstat.clear_release_cache() TO privstat_admin;

-- privstat.consistent_answers: a sum released beside a count of the same rows
-- kept within [count * lower, count * upper] (src/dp_agg.c,
-- privstat_consistent_sums).  Executable by everyone: the rewritten queries
-- call it as their role.
CREATE FUNCTION privstat._consistent_sum(sum double precision, count double precision,
		lower double precision, upper double precision, exact boolean)
	RETURNS double precision
	AS 'MODULE_PATHNAME', 'privstat_consistent_sum' LANGUAGE C STABLE PARALLEL SAFE;

-- Record a spend the ledger lacks (lost with the budget journal, or made
-- elsewhere), as a charge by the administrator: it only adds (src/budget.c,
-- privstat_record_spend; doc/budgets.md).
CREATE FUNCTION privstat.record_spend(role regrole, epsilon double precision,
		delta double precision DEFAULT 0)
	RETURNS void AS 'MODULE_PATHNAME', 'privstat_record_spend' LANGUAGE C VOLATILE STRICT;
REVOKE ALL ON FUNCTION privstat.record_spend(regrole, double precision, double precision) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privstat.record_spend(regrole, double precision, double precision) TO privstat_admin;

-- Citus: before Citus plans a statement with DP aggregates, each Citus table
-- it reads is replaced by a call of this function, so the statement, and its
-- DP aggregates, run and are charged on the coordinator (src/citus.c;
-- doc/citus.md).  It runs SELECT <columns> FROM the table as its caller, so
-- it reads nothing the caller could not; executable by everyone, as the
-- rewritten statements call it as their role.
CREATE FUNCTION privstat._citus_rows(rel regclass, columns smallint[], only_table boolean)
	RETURNS SETOF record AS 'MODULE_PATHNAME', 'privstat_citus_rows'
	LANGUAGE C VOLATILE STRICT;

-- Citus: a key rotation reaches every node.  rotate_key() on the coordinator
-- sets the same version on every worker (run_command_on_workers), and fails,
-- rolling back on the coordinator, if any worker does not take it; workers
-- that took it keep it, and running rotate_key() again brings every node to
-- the same version.  On a worker it is refused: the coordinator decides.
-- _set_key_version only moves a domain's version forward (doc/citus.md).
CREATE FUNCTION privstat._set_key_version(domain text, version integer) RETURNS integer
	LANGUAGE plpgsql STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v integer;
BEGIN
	PERFORM privstat._check_domain(domain);
	IF version OPERATOR(pg_catalog.<) 1 OR version OPERATOR(pg_catalog.>) 65535 THEN
		RAISE EXCEPTION 'key version % is out of range', version
			USING ERRCODE = 'numeric_value_out_of_range',
				  HINT = 'Key versions run from 1 to 65535.';
	END IF;
	INSERT INTO privstat.key_version AS k (domain, version)
		VALUES (_set_key_version.domain, _set_key_version.version)
		ON CONFLICT ON CONSTRAINT key_version_pkey
		DO UPDATE SET version = excluded.version, rotated_at = pg_catalog.now()
		WHERE k.version OPERATOR(pg_catalog.<) excluded.version;
	SELECT k.version INTO v FROM privstat.key_version AS k
		WHERE k.domain OPERATOR(pg_catalog.=) _set_key_version.domain;
	RETURN v;
END
$fn$;
REVOKE ALL ON FUNCTION privstat._set_key_version(text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privstat._set_key_version(text, integer) TO privstat_admin;

CREATE OR REPLACE FUNCTION privstat.rotate_key(domain text) RETURNS integer
	LANGUAGE plpgsql STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v integer;
	citus boolean;
	worker boolean := false;
	w record;
BEGIN
	PERFORM privstat._check_domain(domain);
	citus := pg_catalog.to_regclass('pg_catalog.pg_dist_local_group') IS NOT NULL;
	-- (Citus's catalogs only exist where it is installed: read through EXECUTE)
	IF citus THEN
		EXECUTE 'SELECT pg_catalog.bool_or(groupid OPERATOR(pg_catalog.<>) 0) FROM pg_catalog.pg_dist_local_group'
			INTO worker;
	END IF;
	IF worker THEN
		RAISE EXCEPTION 'keys are rotated on the Citus coordinator, not on a worker'
			USING ERRCODE = 'feature_not_supported',
				  HINT = 'Run privstat.rotate_key() on the coordinator: it sets the new version on every worker.';
	END IF;
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
	IF citus THEN
		FOR w IN EXECUTE 'SELECT nodename, nodeport, success, result FROM pg_catalog.run_command_on_workers($1)'
			USING pg_catalog.format('SELECT privstat._set_key_version(%L, %s)', domain, v)
		LOOP
			IF NOT w.success OR w.result IS DISTINCT FROM v::text THEN
				RAISE EXCEPTION 'Citus worker %:% did not take key version % of domain "%"',
						w.nodename, w.nodeport, v, domain
					USING ERRCODE = 'connection_failure',
						  DETAIL = pg_catalog.format('The worker said: %s', w.result),
						  HINT = 'Run privstat.rotate_key() again once every worker is up: workers that took the version keep it, and the rotation brings every node to the same version.';
			END IF;
		END LOOP;
	END IF;
	RETURN v;
END
$fn$;

-- Citus: DP aggregates over distributed tables aggregated on the workers
-- (src/dp_agg.c, src/citus.c; doc/citus.md).  Counts, sums and averages
-- are counted and summed (of _dp_grid's values) by PostgreSQL's own
-- aggregates; the partial aggregates of the others are plain ones whose value
-- is the exact state, which leaves a worker only sealed (the state types'
-- I/O).  _citus_partials runs the coordinator's
-- authenticated query of them and stamps the states it hands out; a merge is
-- a DP aggregate, priced and charged as the call it replaces, that takes one
-- stamped state per group.  Executable by everyone: the rewritten statements
-- call them as their role.
CREATE FUNCTION privstat._dp_partial_trans(privstat.dp_state, smallint, integer, double precision, double precision, double precision)
	RETURNS privstat.dp_state AS 'MODULE_PATHNAME', 'dp_partial_trans_int2' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION privstat._dp_partial_trans(privstat.dp_state, integer, integer, double precision, double precision, double precision)
	RETURNS privstat.dp_state AS 'MODULE_PATHNAME', 'dp_partial_trans_int4' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION privstat._dp_partial_trans(privstat.dp_state, bigint, integer, double precision, double precision, double precision)
	RETURNS privstat.dp_state AS 'MODULE_PATHNAME', 'dp_partial_trans_int8' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION privstat._dp_partial_trans(privstat.dp_state, numeric, integer, double precision, double precision, double precision)
	RETURNS privstat.dp_state AS 'MODULE_PATHNAME', 'dp_partial_trans_numeric' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION privstat._dp_partial_trans(privstat.dp_state, double precision, integer, double precision, double precision, double precision)
	RETURNS privstat.dp_state AS 'MODULE_PATHNAME', 'dp_partial_trans_float8' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION privstat._dp_partial_combine(privstat.dp_state, privstat.dp_state)
	RETURNS privstat.dp_state AS 'MODULE_PATHNAME', 'dp_partial_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- the grid value dp_sum (kind 2) or dp_avg (kind 3) adds for a value, so the
-- workers sum them with sum(): see _citus_partials
CREATE FUNCTION privstat._dp_grid(smallint, integer, double precision, double precision, double precision)
	RETURNS bigint AS 'MODULE_PATHNAME', 'dp_grid_int2' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION privstat._dp_grid(integer, integer, double precision, double precision, double precision)
	RETURNS bigint AS 'MODULE_PATHNAME', 'dp_grid_int4' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION privstat._dp_grid(bigint, integer, double precision, double precision, double precision)
	RETURNS bigint AS 'MODULE_PATHNAME', 'dp_grid_int8' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION privstat._dp_grid(numeric, integer, double precision, double precision, double precision)
	RETURNS bigint AS 'MODULE_PATHNAME', 'dp_grid_numeric' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION privstat._dp_grid(double precision, integer, double precision, double precision, double precision)
	RETURNS bigint AS 'MODULE_PATHNAME', 'dp_grid_float8' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE privstat._dp_partial(smallint, integer, double precision, double precision, double precision) (
	SFUNC = privstat._dp_partial_trans, STYPE = privstat.dp_state,
	COMBINEFUNC = privstat._dp_partial_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat._dp_partial(integer, integer, double precision, double precision, double precision) (
	SFUNC = privstat._dp_partial_trans, STYPE = privstat.dp_state,
	COMBINEFUNC = privstat._dp_partial_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat._dp_partial(bigint, integer, double precision, double precision, double precision) (
	SFUNC = privstat._dp_partial_trans, STYPE = privstat.dp_state,
	COMBINEFUNC = privstat._dp_partial_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat._dp_partial(numeric, integer, double precision, double precision, double precision) (
	SFUNC = privstat._dp_partial_trans, STYPE = privstat.dp_state,
	COMBINEFUNC = privstat._dp_partial_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat._dp_partial(double precision, integer, double precision, double precision, double precision) (
	SFUNC = privstat._dp_partial_trans, STYPE = privstat.dp_state,
	COMBINEFUNC = privstat._dp_partial_combine, PARALLEL = SAFE
);

-- the rows of a Citus table read with another role's rights (a restricted
-- role's validated statement, a view) or under row security, read as the
-- table's owner for that role: only from the call privstat's rewrite wrote
-- into the statement, whose row security quals stay on the coordinator
-- (src/citus.c)
CREATE FUNCTION privstat._citus_reader_rows(rel regclass, columns smallint[], only_table boolean, as_role oid)
	RETURNS SETOF record AS 'MODULE_PATHNAME', 'privstat_citus_reader_rows'
	LANGUAGE C VOLATILE STRICT;

-- the check of the INSERT policy privstat puts on a Citus table under its row
-- rules (src/policy/rowrules.c): true while the table has no permissive
-- INSERT policy of the DBA's own.  Executable by everyone: it is evaluated
-- as the inserting role, and tells only what pg_policy shows.
CREATE FUNCTION privstat._citus_insert_ok(tbl regclass) RETURNS boolean
	AS 'MODULE_PATHNAME', 'privstat_citus_insert_ok' LANGUAGE C STABLE STRICT PARALLEL SAFE;

-- An UPDATE or DELETE of a Citus table under privstat's row rules, by another
-- role than the owner, runs on the workers as the owner, with the rules
-- written into its WHERE clause (src/citus.c).  _session_purpose() is the
-- purpose the consent rule checks: the session's privstat.purpose if the
-- role holds it, else NULL; Citus evaluates it on the coordinator, as the
-- changing role, before the statement goes to the workers.
-- _citus_new_row_ok(ok, tbl, policy, value) is value, or PostgreSQL's own
-- error if the UPDATE's new row does not pass a rule (ok): it wraps the
-- value of a SET column, computed only for the rows changed.
CREATE FUNCTION privstat._session_purpose() RETURNS text
	AS 'MODULE_PATHNAME', 'privstat_session_purpose' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION privstat._citus_new_row_ok(ok boolean, tbl text, policy text, value anyelement) RETURNS anyelement
	AS 'MODULE_PATHNAME', 'privstat_citus_new_row_ok' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION privstat._citus_partials(query text, mac bytea)
	RETURNS SETOF record AS 'MODULE_PATHNAME', 'privstat_citus_partials'
	LANGUAGE C VOLATILE STRICT;

CREATE FUNCTION privstat._dp_merge_trans(privstat.dp_state, privstat.dp_state)
	RETURNS privstat.dp_state AS 'MODULE_PATHNAME', 'dp_merge_trans' LANGUAGE C IMMUTABLE;
CREATE FUNCTION privstat._dp_merge_trans(privstat.dp_state, privstat.dp_state, double precision)
	RETURNS privstat.dp_state AS 'MODULE_PATHNAME', 'dp_merge_trans' LANGUAGE C IMMUTABLE;
CREATE FUNCTION privstat._dp_merge_trans(privstat.dp_state, privstat.dp_state, double precision,
		double precision, double precision, regtype)
	RETURNS privstat.dp_state AS 'MODULE_PATHNAME', 'dp_merge_trans' LANGUAGE C IMMUTABLE;

CREATE AGGREGATE privstat._dp_merge_count(privstat.dp_state) (
	SFUNC = privstat._dp_merge_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_count_final, FINALFUNC_MODIFY = READ_WRITE
);
CREATE AGGREGATE privstat._dp_merge_count(privstat.dp_state, epsilon double precision) (
	SFUNC = privstat._dp_merge_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_count_final, FINALFUNC_MODIFY = READ_WRITE
);
CREATE AGGREGATE privstat._dp_merge_sum_int8(privstat.dp_state, lower double precision,
		upper double precision, epsilon double precision, value_type regtype) (
	SFUNC = privstat._dp_merge_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_sum_final_int8, FINALFUNC_MODIFY = READ_WRITE
);
CREATE AGGREGATE privstat._dp_merge_sum_numeric(privstat.dp_state, lower double precision,
		upper double precision, epsilon double precision, value_type regtype) (
	SFUNC = privstat._dp_merge_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_sum_final_numeric, FINALFUNC_MODIFY = READ_WRITE
);
CREATE AGGREGATE privstat._dp_merge_sum_float8(privstat.dp_state, lower double precision,
		upper double precision, epsilon double precision, value_type regtype) (
	SFUNC = privstat._dp_merge_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_sum_final_float8, FINALFUNC_MODIFY = READ_WRITE
);
CREATE AGGREGATE privstat._dp_merge_avg(privstat.dp_state, lower double precision,
		upper double precision, epsilon double precision, value_type regtype) (
	SFUNC = privstat._dp_merge_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_double_final, FINALFUNC_MODIFY = READ_WRITE
);
CREATE FUNCTION privstat._dp_merge_trans(privstat.dp_state, privstat.dp_state, double precision,
		double precision, regtype)
	RETURNS privstat.dp_state AS 'MODULE_PATHNAME', 'dp_merge_trans' LANGUAGE C IMMUTABLE;
CREATE AGGREGATE privstat._dp_merge_sum_int8(privstat.dp_state, lower double precision,
		upper double precision, value_type regtype) (
	SFUNC = privstat._dp_merge_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_sum_final_int8, FINALFUNC_MODIFY = READ_WRITE
);
CREATE AGGREGATE privstat._dp_merge_sum_numeric(privstat.dp_state, lower double precision,
		upper double precision, value_type regtype) (
	SFUNC = privstat._dp_merge_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_sum_final_numeric, FINALFUNC_MODIFY = READ_WRITE
);
CREATE AGGREGATE privstat._dp_merge_sum_float8(privstat.dp_state, lower double precision,
		upper double precision, value_type regtype) (
	SFUNC = privstat._dp_merge_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_sum_final_float8, FINALFUNC_MODIFY = READ_WRITE
);
CREATE AGGREGATE privstat._dp_merge_avg(privstat.dp_state, lower double precision,
		upper double precision, value_type regtype) (
	SFUNC = privstat._dp_merge_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_double_final, FINALFUNC_MODIFY = READ_WRITE
);
CREATE AGGREGATE privstat._dp_merge_variance(privstat.dp_state, lower double precision,
		upper double precision, epsilon double precision, value_type regtype) (
	SFUNC = privstat._dp_merge_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_double_final, FINALFUNC_MODIFY = READ_WRITE
);
CREATE AGGREGATE privstat._dp_merge_variance(privstat.dp_state, lower double precision,
		upper double precision, value_type regtype) (
	SFUNC = privstat._dp_merge_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_double_final, FINALFUNC_MODIFY = READ_WRITE
);
CREATE AGGREGATE privstat._dp_merge_stddev(privstat.dp_state, lower double precision,
		upper double precision, epsilon double precision, value_type regtype) (
	SFUNC = privstat._dp_merge_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_double_final, FINALFUNC_MODIFY = READ_WRITE
);
CREATE AGGREGATE privstat._dp_merge_stddev(privstat.dp_state, lower double precision,
		upper double precision, value_type regtype) (
	SFUNC = privstat._dp_merge_trans, STYPE = privstat.dp_state,
	FINALFUNC = privstat.dp_double_final, FINALFUNC_MODIFY = READ_WRITE
);

-- Percentiles: histograms as partial states (dp_hist_state), merged the same way.
CREATE FUNCTION privstat._dp_partial_hist_trans(privstat.dp_hist_state, smallint, double precision, double precision, double precision, double precision)
	RETURNS privstat.dp_hist_state AS 'MODULE_PATHNAME', 'dp_partial_hist_trans_int2' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION privstat._dp_partial_hist_trans(privstat.dp_hist_state, integer, double precision, double precision, double precision, double precision)
	RETURNS privstat.dp_hist_state AS 'MODULE_PATHNAME', 'dp_partial_hist_trans_int4' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION privstat._dp_partial_hist_trans(privstat.dp_hist_state, bigint, double precision, double precision, double precision, double precision)
	RETURNS privstat.dp_hist_state AS 'MODULE_PATHNAME', 'dp_partial_hist_trans_int8' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION privstat._dp_partial_hist_trans(privstat.dp_hist_state, numeric, double precision, double precision, double precision, double precision)
	RETURNS privstat.dp_hist_state AS 'MODULE_PATHNAME', 'dp_partial_hist_trans_numeric' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION privstat._dp_partial_hist_trans(privstat.dp_hist_state, double precision, double precision, double precision, double precision, double precision)
	RETURNS privstat.dp_hist_state AS 'MODULE_PATHNAME', 'dp_partial_hist_trans_float8' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION privstat._dp_partial_hist_combine(privstat.dp_hist_state, privstat.dp_hist_state)
	RETURNS privstat.dp_hist_state AS 'MODULE_PATHNAME', 'dp_partial_hist_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE privstat._dp_partial_hist(smallint, double precision, double precision, double precision, double precision) (
	SFUNC = privstat._dp_partial_hist_trans, STYPE = privstat.dp_hist_state,
	COMBINEFUNC = privstat._dp_partial_hist_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat._dp_partial_hist(integer, double precision, double precision, double precision, double precision) (
	SFUNC = privstat._dp_partial_hist_trans, STYPE = privstat.dp_hist_state,
	COMBINEFUNC = privstat._dp_partial_hist_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat._dp_partial_hist(bigint, double precision, double precision, double precision, double precision) (
	SFUNC = privstat._dp_partial_hist_trans, STYPE = privstat.dp_hist_state,
	COMBINEFUNC = privstat._dp_partial_hist_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat._dp_partial_hist(numeric, double precision, double precision, double precision, double precision) (
	SFUNC = privstat._dp_partial_hist_trans, STYPE = privstat.dp_hist_state,
	COMBINEFUNC = privstat._dp_partial_hist_combine, PARALLEL = SAFE
);
CREATE AGGREGATE privstat._dp_partial_hist(double precision, double precision, double precision, double precision, double precision) (
	SFUNC = privstat._dp_partial_hist_trans, STYPE = privstat.dp_hist_state,
	COMBINEFUNC = privstat._dp_partial_hist_combine, PARALLEL = SAFE
);

CREATE FUNCTION privstat._dp_merge_hist_trans(privstat.dp_hist_state, privstat.dp_hist_state, double precision,
		double precision, regtype)
	RETURNS privstat.dp_hist_state AS 'MODULE_PATHNAME', 'dp_merge_hist_trans' LANGUAGE C IMMUTABLE;
CREATE FUNCTION privstat._dp_merge_hist_trans(privstat.dp_hist_state, privstat.dp_hist_state, double precision,
		double precision, double precision, regtype)
	RETURNS privstat.dp_hist_state AS 'MODULE_PATHNAME', 'dp_merge_hist_trans' LANGUAGE C IMMUTABLE;
CREATE FUNCTION privstat._dp_merge_hist_trans(privstat.dp_hist_state, privstat.dp_hist_state, double precision,
		double precision, double precision, double precision, regtype)
	RETURNS privstat.dp_hist_state AS 'MODULE_PATHNAME', 'dp_merge_hist_trans' LANGUAGE C IMMUTABLE;
CREATE AGGREGATE privstat._dp_merge_percentile(privstat.dp_hist_state, p double precision,
		lower double precision, upper double precision, epsilon double precision, value_type regtype) (
	SFUNC = privstat._dp_merge_hist_trans, STYPE = privstat.dp_hist_state,
	FINALFUNC = privstat.dp_percentile_final, FINALFUNC_MODIFY = READ_WRITE
);
CREATE AGGREGATE privstat._dp_merge_percentile(privstat.dp_hist_state, p double precision,
		lower double precision, upper double precision, value_type regtype) (
	SFUNC = privstat._dp_merge_hist_trans, STYPE = privstat.dp_hist_state,
	FINALFUNC = privstat.dp_percentile_final, FINALFUNC_MODIFY = READ_WRITE
);
CREATE AGGREGATE privstat._dp_merge_median(privstat.dp_hist_state, lower double precision,
		upper double precision, epsilon double precision, value_type regtype) (
	SFUNC = privstat._dp_merge_hist_trans, STYPE = privstat.dp_hist_state,
	FINALFUNC = privstat.dp_percentile_final, FINALFUNC_MODIFY = READ_WRITE
);
CREATE AGGREGATE privstat._dp_merge_median(privstat.dp_hist_state, lower double precision,
		upper double precision, value_type regtype) (
	SFUNC = privstat._dp_merge_hist_trans, STYPE = privstat.dp_hist_state,
	FINALFUNC = privstat.dp_percentile_final, FINALFUNC_MODIFY = READ_WRITE
);

-- The budget journal's progress gains synced_records: while the journal
-- flusher is lazy, a charge is durable by its WAL record and synced in the
-- journal later (doc/budgets.md, Durability).
DROP FUNCTION privstat.budget_journal_status();
CREATE FUNCTION privstat.budget_journal_status(OUT records bigint, OUT durable_records bigint,
											   OUT flusher_pid integer, OUT synced_records bigint)
	RETURNS record AS 'MODULE_PATHNAME', 'privstat_budget_journal_status' LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION privstat.budget_journal_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION privstat.budget_journal_status() TO privstat_admin, privstat_auditor;
