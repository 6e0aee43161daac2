--
-- Attack suite: privilege games.  SET ROLE, SECURITY DEFINER wrappers,
-- views owned by others, search_path tricks on privstat's functions.
-- (Objects created before CREATE EXTENSION: test/t/011_attacks.pl.)
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS privstat;
RESET client_min_messages;
SET max_parallel_workers_per_gather = 0;

CREATE ROLE priv_group;
CREATE ROLE priv_analyst IN ROLE priv_group;
CREATE ROLE priv_other;				-- a direct role without SELECT
CREATE ROLE priv_admin;
GRANT privstat_admin TO priv_admin;
GRANT priv_other TO priv_analyst;
GRANT CREATE ON SCHEMA public TO priv_analyst, priv_admin;
CREATE TABLE priv_orders (id int, user_id int, amount numeric);
INSERT INTO priv_orders SELECT g, g, (g % 50)::numeric FROM generate_series(1, 10000) g;
SELECT privstat.protect('priv_orders', 'user_id');
SELECT privstat.set_access('priv_group', 'aggregate');
SELECT privstat.set_budget('priv_analyst', 'infinity');
-- a log that every hijacking function below writes to
CREATE TABLE priv_hijack_log (who text, what text);
GRANT INSERT, SELECT ON priv_hijack_log TO PUBLIC;

-- == SET ROLE ==
-- (as the analyst's own session: SET ROLE is checked against the session user)
SET SESSION AUTHORIZATION priv_analyst;
-- SET ROLE to the group role whose level it inherits: still aggregate
SET ROLE priv_group;
SELECT amount FROM priv_orders WHERE id = 1;
-- (its DP queries would be charged to priv_group, which has no budget of its own)
SELECT count(*) BETWEEN 10000 - 50 AND 10000 + 50 AS ok FROM priv_orders;
-- SET ROLE to a direct role it is a member of: PostgreSQL's privileges alone, which are none
SET ROLE priv_other;
SELECT amount FROM priv_orders WHERE id = 1;
SELECT count(*) FROM priv_orders;
-- SET ROLE to privstat_reader, whose rights validated queries borrow
SET ROLE privstat_reader;
-- SET SESSION AUTHORIZATION to a direct role
RESET ROLE;
SET SESSION AUTHORIZATION priv_other;
RESET SESSION AUTHORIZATION;
RESET ROLE;

-- == SECURITY DEFINER wrappers ==
SET ROLE priv_analyst;
-- a SECURITY DEFINER function of one's own runs with one's own level
CREATE FUNCTION public.priv_secdef() RETURNS numeric LANGUAGE sql SECURITY DEFINER
	AS 'SELECT amount FROM priv_orders WHERE id = 1';
SELECT public.priv_secdef();
RESET ROLE;
-- one owned by a direct role without SELECT reads nothing
CREATE FUNCTION public.priv_secdef_other() RETURNS numeric LANGUAGE sql SECURITY DEFINER
	AS 'SELECT amount FROM priv_orders WHERE id = 1';
ALTER FUNCTION public.priv_secdef_other() OWNER TO priv_other;
SET ROLE priv_analyst;
SELECT public.priv_secdef_other();
-- a SECURITY DEFINER function cannot be turned on the table by the analyst's search_path
-- (privstat's own SECURITY DEFINER functions pin search_path: see below)
RESET ROLE;

-- == views owned by others ==
-- the table owner's view of raw rows, granted to the analyst: expanded and validated
CREATE VIEW priv_raw_view AS SELECT * FROM priv_orders;
GRANT SELECT ON priv_raw_view TO priv_analyst;
-- the owner's view with a filter that is not leakproof: the analyst cannot use it for error channels
CREATE FUNCTION priv_boom(int) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS
	'BEGIN IF $1 = 7 THEN RAISE EXCEPTION ''user 7''; END IF; RETURN true; END';
CREATE VIEW priv_leaky_view AS SELECT * FROM priv_orders WHERE priv_boom(user_id);
GRANT SELECT ON priv_leaky_view TO priv_analyst;
-- a security_barrier view
CREATE VIEW priv_barrier_view WITH (security_barrier) AS SELECT * FROM priv_orders WHERE user_id <> 7;
GRANT SELECT ON priv_barrier_view TO priv_analyst;
SET ROLE priv_analyst;
SELECT * FROM priv_raw_view;
SELECT count(*) FROM priv_leaky_view;
SELECT amount FROM priv_barrier_view WHERE id = 1;
SELECT count(*) BETWEEN 9999 - 50 AND 9999 + 50 AS ok FROM priv_barrier_view;
-- a view owned by the analyst over the owner's view
CREATE VIEW public.priv_my_view AS SELECT amount FROM priv_raw_view;
SELECT * FROM public.priv_my_view;
DROP VIEW public.priv_my_view;
RESET ROLE;

-- == search_path tricks on privstat's functions ==
-- the analyst plants operators and functions in public that log when called
SET ROLE priv_analyst;
CREATE FUNCTION public.priv_eq_oid(oid, oid) RETURNS boolean LANGUAGE plpgsql AS
	'BEGIN INSERT INTO priv_hijack_log VALUES (current_user, ''='' || $1); RETURN $1 OPERATOR(pg_catalog.=) $2; END';
CREATE OPERATOR public.= (FUNCTION = public.priv_eq_oid, LEFTARG = oid, RIGHTARG = oid);
CREATE FUNCTION public.priv_eq_text(text, text) RETURNS boolean LANGUAGE plpgsql AS
	'BEGIN INSERT INTO priv_hijack_log VALUES (current_user, ''='' || $1); RETURN $1 OPERATOR(pg_catalog.=) $2; END';
CREATE OPERATOR public.= (FUNCTION = public.priv_eq_text, LEFTARG = text, RIGHTARG = text);
CREATE FUNCTION public.priv_eq_name(name, name) RETURNS boolean LANGUAGE plpgsql AS
	'BEGIN INSERT INTO priv_hijack_log VALUES (current_user, ''='' || $1); RETURN $1 OPERATOR(pg_catalog.=) $2; END';
CREATE OPERATOR public.= (FUNCTION = public.priv_eq_name, LEFTARG = name, RIGHTARG = name);
CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE plpgsql AS
	'BEGIN INSERT INTO priv_hijack_log VALUES (current_user, ''now''); RETURN pg_catalog.now(); END';
CREATE FUNCTION public.has_privs_of_role(oid) RETURNS boolean LANGUAGE plpgsql AS
	'BEGIN INSERT INTO priv_hijack_log VALUES (current_user, ''has_privs''); RETURN true; END';
-- ... puts public before pg_catalog, and uses privstat's views, aggregates and functions
SET search_path = public, pg_catalog, privstat;
SELECT count(*) >= 1 AS ok FROM privstat.budget_status;
SELECT count(*) >= 0 AS ok FROM privstat.policies;
SELECT privstat.dp_count(id, 0.5) > 0 AS ok FROM priv_orders;
SELECT count(*) > 0 AS ok FROM priv_orders WHERE id > 0;
SELECT privstat.set_budget('priv_analyst', 1e9);
RESET search_path;
RESET ROLE;
-- an administrator with the same search_path runs privstat's administration functions
SET ROLE priv_admin;
SET search_path = public, pg_catalog, privstat;
SELECT privstat.set_bounds('priv_orders', 'amount', 0, 100);
SELECT privstat.set_access('priv_other', 'none');
SELECT privstat.set_access('priv_other', 'direct');
SELECT privstat.set_budget('priv_other', 1);
SELECT privstat.reset_budget('priv_other');
SELECT privstat.grant_purpose('priv_other', 'x');
SELECT privstat.revoke_purpose('priv_other', 'x');
SELECT count(*) >= 0 AS ok FROM privstat.audit_log;
SELECT ok FROM privstat.verify_audit_log();
RESET search_path;
RESET ROLE;
-- and a superuser too
SET search_path = public, pg_catalog, privstat;
SELECT privstat.set_budget('priv_other', 2);
SELECT count(*) >= 0 AS ok FROM privstat.privacy_report(pg_catalog.now() - interval '1 day');
RESET search_path;
-- nothing was hijacked
SELECT * FROM priv_hijack_log;

DROP OPERATOR public.= (oid, oid), public.= (text, text), public.= (name, name);
DROP FUNCTION public.priv_eq_oid(oid, oid), public.priv_eq_text(text, text), public.priv_eq_name(name, name),
	public.now(), public.has_privs_of_role(oid), public.priv_secdef(), public.priv_secdef_other();
DROP VIEW priv_raw_view, priv_leaky_view, priv_barrier_view;
DROP FUNCTION priv_boom(int);
DROP TABLE priv_orders, priv_hijack_log;
REVOKE CREATE ON SCHEMA public FROM priv_analyst, priv_admin;
SELECT privstat.set_access('priv_group', 'direct');
SELECT privstat.reset_budget(r) FROM unnest(ARRAY['priv_analyst', 'priv_other']::regrole[]) r;
DROP ROLE priv_analyst, priv_group, priv_other, priv_admin;
