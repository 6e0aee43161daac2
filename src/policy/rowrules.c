/*-------------------------------------------------------------------------
 *
 * rowrules.c
 *	  Row-level rules: consent to purposes, scopes, expiry.
 *
 * The row security policies privstat adds through PostgreSQL's row
 * security hooks, the check of the privstat.purpose setting, and the SQL
 * functions behind them (_consent_ok, _enable_row_security, _check_scope).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "parser/parse_coerce.h"
#include "parser/parse_collate.h"
#include "parser/parse_expr.h"
#include "parser/parse_oper.h"
#include "parser/parse_relation.h"
#include "parser/parser.h"
#include "rewrite/rowsecurity.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/arrayaccess.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "privstat/citus.h"
#include "privstat/common.h"
#include "privstat/guc.h"
#include "privstat/policy.h"

#include "policy_internal.h"
#include "total.h"

/* the row security hooks before privstat's, saved by privstat_policy_init */
/*
 * The table whose purge batch runs in this backend (retention.c sets it), or
 * InvalidOid.
 */
Oid			privstat_purging_relid = InvalidOid;

row_security_policy_hook_type prev_rls_permissive = NULL;
row_security_policy_hook_type prev_rls_restrictive = NULL;


/* is the object (a type or a collation, by its syscache) in a temporary schema? */
static bool
in_temp_schema(int cacheid, Oid oid)
{
	HeapTuple	tup;
	Oid			nsp;

	if (!OidIsValid(oid) || oid < FirstNormalObjectId)
		return false;
	tup = SearchSysCache1(cacheid, ObjectIdGetDatum(oid));
	if (!HeapTupleIsValid(tup))
		return false;
	nsp = cacheid == TYPEOID ? ((Form_pg_type) GETSTRUCT(tup))->typnamespace
		: ((Form_pg_collation) GETSTRUCT(tup))->collnamespace;
	ReleaseSysCache(tup);
	return isAnyTempNamespace(nsp);
}

/* does the node have a type or a collation of a session's temporary schema? */
static bool
scope_object_temporary(Node *node)
{
	if (IsA(node, List) || IsA(node, TargetEntry))
		return false;
	return in_temp_schema(TYPEOID, exprType(node)) ||
		in_temp_schema(COLLOID, IsA(node, CollateExpr) ? ((CollateExpr *) node)->collOid
					   : exprCollation(node));
}

/*
 * The settings a scope condition is read under, whoever reads it: the text
 * means the same for the administrator who set it and for every session it
 * applies to, whatever their search_path, DateStyle or time zone.
 */
static const char *const scope_settings[][2] = {
	{"search_path", "pg_catalog, pg_temp"},
	{"DateStyle", "ISO, YMD"},
	{"IntervalStyle", "postgres"},
	{"TimeZone", "UTC"},
	{"standard_conforming_strings", "on"},
	{"extra_float_digits", "1"},
};

/* a scope condition: columns, constants, and nodes node_check allows */
static bool
scope_walker(Node *node, Level *lev)
{
	if (node == NULL)
		return false;
	if (scope_object_temporary(node))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a scope condition may not use a type or collation of a temporary schema"),
				 errdetail("A scope is read with search_path = pg_catalog, pg_temp: a name found only in a session's temporary schema would let that session choose what the scope means."),
				 errhint("Schema-qualify the names of types and collations that are not in pg_catalog.")));
	switch (nodeTag(node))
	{
		case T_Var:
			if (((Var *) node)->varattno <= 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("a scope condition may not use system columns or whole rows")));
			return false;
		case T_Const:
		case T_List:
			break;
		case T_SubLink:
		case T_Param:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a scope condition may not contain a subquery"),
					 errhint("Use a condition on the table's own columns.")));
			break;
		default:
			node_check(node, lev, "a scope condition");
			break;
	}
	return expression_tree_walker(node, scope_walker, (void *) lev);
}

/*
 * Parse a scope condition as one boolean expression over the table's
 * columns, the way CREATE POLICY parses its USING clause, and check that it
 * uses nothing but total functions and operators (src/policy/total.c):
 * it runs on rows the role must not see.  The text is parsed, never
 * spliced into a statement.
 */
/* an error in a scope condition points into the condition, not the statement */
static void
scope_error_callback(void *arg)
{
	int			pos = geterrposition();

	if (pos > 0)
	{
		errposition(0);
		internalerrposition(pos);
		internalerrquery((const char *) arg);
	}
	errcontext("scope condition");
}

static Node *
parse_scope(Relation rel, const char *condition)
{
	ErrorContextCallback errcb = {error_context_stack, scope_error_callback, unconstify(char *, condition)};
	List	   *raw;
	SelectStmt *sel = NULL;
	ParseState *pstate;
	ParseNamespaceItem *nsitem;
	Node	   *expr;
	Level		lev;
	int			nestlevel;
	size_t		i;
	const char *saved_sql;

	error_context_stack = &errcb;
	nestlevel = NewGUCNestLevel();
	for (i = 0; i < lengthof(scope_settings); i++)
		(void) set_config_option(scope_settings[i][0], scope_settings[i][1], PGC_SUSET,
								 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	raw = raw_parser(condition, RAW_PARSE_PLPGSQL_EXPR);
	if (list_length(raw) == 1 && IsA(linitial_node(RawStmt, raw)->stmt, SelectStmt))
		sel = (SelectStmt *) linitial_node(RawStmt, raw)->stmt;
	if (sel == NULL || list_length(sel->targetList) != 1 || sel->fromClause != NIL ||
		sel->whereClause != NULL || sel->groupClause != NIL || sel->havingClause != NULL ||
		sel->windowClause != NIL || sel->sortClause != NIL || sel->limitCount != NULL ||
		sel->limitOffset != NULL || sel->lockingClause != NIL || sel->distinctClause != NIL ||
		sel->withClause != NULL || sel->valuesLists != NIL || sel->intoClause != NULL ||
		((ResTarget *) linitial(sel->targetList))->name != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a scope condition must be one boolean expression over the table's columns"),
				 errhint("For example: privstat.set_scope('orders', 'analyst_eu', 'region = ''EU''').")));

	pstate = make_parsestate(NULL);
	pstate->p_sourcetext = condition;
	nsitem = addRangeTableEntryForRelation(pstate, rel, AccessShareLock, NULL, false, false);
	addNSItemToQuery(pstate, nsitem, false, true, true);
	expr = transformExpr(pstate, ((ResTarget *) linitial(sel->targetList))->val, EXPR_KIND_POLICY);
	expr = coerce_to_boolean(pstate, expr, "scope condition");
	assign_expr_collations(pstate, expr);
	free_parsestate(pstate);

	memset(&lev, 0, sizeof(lev));
	lev.example = RelationGetRelid(rel);
	lev.scope = true;
	/* refusals quote the condition */
	saved_sql = validating_sql;
	validating_sql = condition;
	PG_TRY();
	{
		(void) scope_walker(expr, &lev);
	}
	PG_FINALLY();
	{
		validating_sql = saved_sql;
	}
	PG_END_TRY();
	/* it runs for every role: PostgreSQL's functions that can raise, replaced */
	privstat_total_substitute_expr(expr);
	AtEOXact_GUC(true, nestlevel);
	error_context_stack = errcb.previous;
	return expr;
}

/* a row security policy of privstat's, on the columns of relation 1 */
static RowSecurityPolicy *
make_policy(const char *name, Oid role, Expr *qual, bool permissive)
{
	RowSecurityPolicy *p = palloc0(sizeof(RowSecurityPolicy));
	Datum		roleid = ObjectIdGetDatum(role);

	p->policy_name = pstrdup(name);
	p->polcmd = permissive ? '*' : ACL_SELECT_CHR;
	p->roles = construct_array(&roleid, 1, OIDOID, sizeof(Oid), true, TYPALIGN_INT);
	p->qual = copyObject(qual);
	p->with_check_qual = permissive ? copyObject(qual) : NULL;
	p->hassublinks = false;
	p->permissive = permissive;
	return p;
}

/* column IS NULL OR column >= now() - keep: the rows a retention rule keeps */
static Expr *
expiry_qual(Relation rel, RowRules *r)
{
	Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel), r->expiry_attno - 1);
	ParseState *pstate = make_parsestate(NULL);
	Var		   *col = makeVar(1, r->expiry_attno, att->atttypid, att->atttypmod, att->attcollation, 0);
	Node	   *now = (Node *) makeFuncExpr(F_NOW, TIMESTAMPTZOID, NIL, InvalidOid, InvalidOid,
										   COERCE_EXPLICIT_CALL);
	Node	   *keep = (Node *) makeConst(INTERVALOID, -1, InvalidOid, sizeof(Interval),
										  PointerGetDatum(&r->keep), false, false);
	Node	   *cutoff = (Node *) make_op(pstate, list_make2(makeString("pg_catalog"), makeString("-")),
											 now, keep, NULL, -1);
	Node	   *kept = (Node *) make_op(pstate, list_make2(makeString("pg_catalog"), makeString(">=")),
											(Node *) col, cutoff, NULL, -1);
	NullTest   *isnull = makeNode(NullTest);

	isnull->arg = (Expr *) copyObject(col);
	isnull->nulltesttype = IS_NULL;
	isnull->argisrow = false;
	isnull->location = -1;
	free_parsestate(pstate);
	return makeBoolExpr(OR_EXPR, list_make2(isnull, kept), -1);
}

/*
 * Restrictive policies, for reading (SELECT, and the rows UPDATE and
 * DELETE read): consent to the session's purpose, the role's scope, and
 * expiry.  Restrictive: they narrow what the table's other policies allow.
 */
List *
policy_rls_restrictive(CmdType cmdtype, Relation rel)
{
	List	   *result = prev_rls_restrictive ? prev_rls_restrictive(cmdtype, rel) : NIL;
	RowRules   *r;
	int			i;

	policy_ensure();
	if (!policy_cache.installed || (r = row_rules(RelationGetRelid(rel), false)) == NULL)
		return result;
	/*
	 * For reading only: PostgreSQL applies these to the rows an UPDATE or
	 * DELETE reads, and to an UPDATE's new row, as the SELECT policies.  (On
	 * a Citus table such a change by another role than the owner runs on
	 * the workers with these rules in its WHERE clause: src/citus.c.)
	 */
	if (cmdtype != CMD_SELECT)
		return result;

	if (r->consent_attno != 0 && OidIsValid(policy_cache.consent_ok))
	{
		Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel), r->consent_attno - 1);
		Var		   *col = makeVar(1, r->consent_attno, att->atttypid, att->atttypmod, att->attcollation, 0);

		result = lappend(result,
						 make_policy("privstat_consent", ACL_ID_PUBLIC,
									 (Expr *) makeFuncExpr(policy_cache.consent_ok, BOOLOID, list_make1(col),
														   InvalidOid, DEFAULT_COLLATION_OID,
														   COERCE_EXPLICIT_CALL),
									 false));
	}
	for (i = 0; i < r->nscopes; i++)
	{
		ScopeRule  *sc = &r->scopes[i];

		if (sc->expr == NULL)
		{
			Node	   *expr = parse_scope(rel, sc->condition);
			MemoryContext old = MemoryContextSwitchTo(policy_cxt);

			sc->expr = copyObject(expr);
			MemoryContextSwitchTo(old);
		}
		result = lappend(result, make_policy(psprintf("privstat_scope_%u", sc->role), sc->role,
											 (Expr *) sc->expr, false));
	}
	/* expired rows: hidden from all but the table's owner and the purge */
	if (r->expiry_attno != 0 && privstat_purging_relid != r->relid &&
		!has_privs_of_role(GetUserId(), rel->rd_rel->relowner))
		result = lappend(result, make_policy("privstat_expiry", ACL_ID_PUBLIC, expiry_qual(rel, r), false));
	return result;
}

/*
 * Is p privstat's CITUS_INSERT_POLICY: its name, for INSERT, with the check
 * privstat._citus_insert_ok(...)?  (A DBA's policy of that name is the DBA's.)
 */
static bool
is_citus_insert_policy(RowSecurityPolicy *p)
{
	FuncExpr   *check = (FuncExpr *) p->with_check_qual;

	return strcmp(p->policy_name, CITUS_INSERT_POLICY) == 0 && p->polcmd == ACL_INSERT_CHR &&
		check != NULL && IsA(check, FuncExpr) && OidIsValid(policy_cache.citus_insert_ok) &&
		check->funcid == policy_cache.citus_insert_ok;
}

/* Has the table a permissive policy of the DBA's own, for any command? */
static bool
own_permissive_policy(Relation rel)
{
	ListCell   *lc;

	if (rel->rd_rsdesc == NULL)
		return false;
	foreach(lc, rel->rd_rsdesc->policies)
	{
		RowSecurityPolicy *p = lfirst(lc);

		if (p->permissive && !is_citus_insert_policy(p))
			return true;
	}
	return false;
}

/*
 * Where privstat turned row security on, a permissive policy that lets
 * every row through, for every command, so that only privstat's restrictive
 * rules narrow what roles see.  Only while the table has no permissive
 * policy of the DBA's own: from the first one on, the DBA's permissive
 * policies decide alone which rows a role may see (PostgreSQL's rule), and
 * privstat's rules narrow those, never widen them.
 */
List *
policy_rls_permissive(CmdType cmdtype, Relation rel)
{
	List	   *result = prev_rls_permissive ? prev_rls_permissive(cmdtype, rel) : NIL;
	RowRules   *r;

	policy_ensure();
	if (!policy_cache.installed || (r = row_rules(RelationGetRelid(rel), false)) == NULL || !r->rls_by_privstat)
		return result;
	if (own_permissive_policy(rel))
		return result;
	return lappend(result, make_policy("privstat_all_rows", ACL_ID_PUBLIC,
									   (Expr *) makeBoolConst(true, false), true));
}

/* does role hold purpose (a grant to it, or to a role whose privileges it has)? */
static bool
purpose_granted(const char *purpose, Oid role)
{
	int			i;

	for (i = 0; i < policy_cache.ngrants; i++)
		if (strcmp(policy_cache.grants[i].purpose, purpose) == 0 &&
			has_privs_of_role(role, policy_cache.grants[i].role))
			return true;
	return false;
}

/*
 * The session's purpose if role holds it, else NULL, with its length.
 * Checked again only after a change of the purpose (the setting's assign
 * hook), the role or the policy: the consent qual calls this for every row.
 */
static const char *
effective_purpose(Oid role, size_t *len)
{
	static uint64 checked_generation = 0;
	static Oid	checked_role = InvalidOid;
	static char *purpose = NULL;
	static size_t purpose_len = 0;

	if (checked_generation != policy_generation || checked_role != role)
	{
		if (purpose != NULL)
			pfree(purpose);
		purpose = NULL;
		policy_ensure();
		if (privstat_purpose != NULL && privstat_purpose[0] != '\0' &&
			policy_cache.installed && purpose_granted(privstat_purpose, role))
		{
			purpose = MemoryContextStrdup(TopMemoryContext, privstat_purpose);
			purpose_len = strlen(purpose);
		}
		checked_role = role;
		checked_generation = policy_generation;
	}
	*len = purpose_len;
	return purpose;
}

/*
 * privstat.purpose's check hook: a role may declare only a purpose it was
 * granted.  Settings that are not interactive (the configuration file,
 * ALTER ROLE ... SET at login) are checked when rows are read instead.
 */
bool
privstat_purpose_check(char **newval, void **extra pg_attribute_unused(), GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	if (source < PGC_S_INTERACTIVE || !IsTransactionState() || !OidIsValid(GetUserId()))
		return true;
	policy_ensure();
	if (!policy_cache.installed || purpose_granted(*newval, GetUserId()))
		return true;
	GUC_check_errcode(ERRCODE_INSUFFICIENT_PRIVILEGE);
	GUC_check_errmsg("purpose \"%s\" is not granted to role %s", *newval,
					 GetUserNameFromId(GetUserId(), false));
	GUC_check_errhint("An administrator grants it: SELECT privstat.grant_purpose('%s', '%s');",
					  GetUserNameFromId(GetUserId(), false), *newval);
	return false;
}

/* a parameter's value is not known here: a function that needs it is not total as called */
static Const *
no_param_value(Param *p pg_attribute_unused())
{
	return NULL;
}

/* privstat_citus_total_call (src/citus.c) */
bool
policy_total_call(Oid funcid, List *args, Oid inputcollid)
{
	bool		wait = false;
	int			argno;

	return !OidIsValid(privstat_total_replacement(funcid)) &&
		privstat_total_check(funcid, args, inputcollid, no_param_value, &wait, &argno) == TOTAL_OK &&
		!wait;
}

PG_FUNCTION_INFO_V1(privstat_session_purpose);

/*
 * privstat._session_purpose(): the purpose the consent rule checks rows
 * against, the session's privstat.purpose if the current role holds it (or,
 * while an UPDATE or DELETE of a Citus table runs as its owner, the role
 * whose statement it is), or NULL.  An UPDATE or DELETE of a Citus table under the rules compares the
 * rows' consent with it on the workers (src/citus.c).
 */
Datum
privstat_session_purpose(PG_FUNCTION_ARGS)
{
	Oid			role = privstat_citus_changing_role();
	size_t		len;
	const char *purpose;

	/* while that change runs as the table's owner: the purpose of the role whose change it is */
	purpose = effective_purpose(OidIsValid(role) ? role : GetUserId(), &len);
	if (purpose == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text_with_len(purpose, len));
}

PG_FUNCTION_INFO_V1(privstat_consent_ok);

/*
 * privstat._consent_ok(consent text[]): the qual of the consent policy.
 * True when the row's consent holds the session's declared purpose and the
 * current role holds that purpose; a row without consent (NULL) is seen by
 * no purpose.  Evaluated at run time, so a cached plan follows SET
 * privstat.purpose.
 */
Datum
privstat_consent_ok(PG_FUNCTION_ARGS)
{
	const char *purpose;
	ArrayType  *consent;
	array_iter	it;
	int			n;
	int			i;
	size_t		len;

	if (PG_ARGISNULL(0) || (purpose = effective_purpose(GetUserId(), &len)) == NULL)
		PG_RETURN_BOOL(false);
	consent = PG_GETARG_ARRAYTYPE_P(0);
	if (ARR_ELEMTYPE(consent) != TEXTOID)
		PG_RETURN_BOOL(false);
	n = ArrayGetNItems(ARR_NDIM(consent), ARR_DIMS(consent));
	array_iter_setup(&it, (AnyArrayType *) consent);
	for (i = 0; i < n; i++)
	{
		bool		isnull;
		Datum		d = array_iter_next(&it, &isnull, i, -1, false, TYPALIGN_INT);

		if (!isnull && VARSIZE_ANY_EXHDR(DatumGetPointer(d)) == len &&
			memcmp(VARDATA_ANY(DatumGetPointer(d)), purpose, len) == 0)
			PG_RETURN_BOOL(true);
	}
	PG_RETURN_BOOL(false);
}

/*
 * A Citus table's shards get row security with the table (Citus copies
 * the command) but none of privstat's policies, so other roles than the
 * owner could not INSERT there.  A real policy, which Citus copies to the
 * shards, lets new rows in exactly where privstat_all_rows does on the
 * coordinator: on a table privstat turned row security on for, while the
 * table has no permissive policy of the DBA's own (its check,
 * privstat._citus_insert_ok, looks), so that it never widens the DBA's.
 * (privstat's rules restrict reading only.)  Made again by set_consent or
 * set_scope on a table distributed after its first rule.
 */
static void
citus_insert_policy(Oid relid, const char *qualname)
{
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};

	if (!privstat_citus_table(relid))
		return;
	SPI_connect();
	privstat_exec_as_superuser("SELECT 1 FROM pg_catalog.pg_policy WHERE polrelid OPERATOR(pg_catalog.=) $1 "
							   "AND polname OPERATOR(pg_catalog.=) '" CITUS_INSERT_POLICY "'",
							   1, types, values, NULL);
	if (SPI_processed == 0)
		privstat_exec_as_superuser(psprintf("CREATE POLICY " CITUS_INSERT_POLICY " ON %s AS PERMISSIVE FOR INSERT "
											"TO PUBLIC WITH CHECK (privstat._citus_insert_ok(%s::pg_catalog.regclass))",
											qualname, quote_literal_cstr(qualname)),
								   0, NULL, NULL, NULL);
	SPI_finish();
}

/*
 * Turn on row security for relid if it is off, note that privstat did, and
 * say so.  The caller's rights to the table were checked.
 */
void
privstat_policy_enable_rls(Oid relid)
{
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	char	   *qualname;
	FormData_pg_class form;

	privstat_class_form(relid, &form);
	qualname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
										  get_rel_name(relid));
	if (form.relrowsecurity)
	{
		RowRules   *r;

		/* only where privstat turned it on (a table distributed since, say), as privstat_all_rows */
		policy_ensure();
		if (policy_cache.installed && (r = row_rules(relid, false)) != NULL && r->rls_by_privstat)
			citus_insert_policy(relid, qualname);
		return;
	}
	SPI_connect();
	privstat_exec_as_superuser(psprintf("ALTER TABLE %s ENABLE ROW LEVEL SECURITY", qualname),
							   0, NULL, NULL, NULL);
	privstat_exec_as_superuser("INSERT INTO privstat.rls_table (tbl) VALUES ($1) ON CONFLICT DO NOTHING",
							   1, types, values, NULL);
	SPI_finish();
	citus_insert_policy(relid, qualname);
	ereport(NOTICE,
			(errmsg("row level security enabled on table %s", qualname),
			 errdetail("privstat's row rules apply to every role but the table's owner; with it, privstat added a policy that lets all other rows through."),
			 errhint("ALTER TABLE %s FORCE ROW LEVEL SECURITY applies them to the owner too.", qualname)));
}

PG_FUNCTION_INFO_V1(privstat_citus_insert_ok);

/*
 * privstat._citus_insert_ok(tbl): the check of CITUS_INSERT_POLICY: true
 * while tbl has no permissive INSERT policy of the DBA's own.  Once per
 * statement (fn_extra).
 */
Datum
privstat_citus_insert_ok(PG_FUNCTION_ARGS)
{
	bool	   *ok = fcinfo->flinfo->fn_extra;

	if (ok == NULL)
	{
		Oid			relid = PG_GETARG_OID(0);
		bool		result = false;

		/* only for a role that may insert there (which the INSERT locked already) */
		if (pg_class_aclcheck(relid, GetUserId(), ACL_INSERT) == ACLCHECK_OK)
		{
			Relation	rel;

			policy_ensure();	/* is_citus_insert_policy reads the cache */
			rel = table_open(relid, AccessShareLock);

			result = !own_permissive_policy(rel);
			table_close(rel, AccessShareLock);
		}
		ok = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(bool));
		*ok = result;
		fcinfo->flinfo->fn_extra = ok;
	}
	PG_RETURN_BOOL(*ok);
}

PG_FUNCTION_INFO_V1(privstat_enable_row_security);

/* privstat._enable_row_security(tbl) */
Datum
privstat_enable_row_security(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);

	if (pg_class_aclcheck(relid, GetUserId(), ACL_GRANT_OPTION_FOR(ACL_SELECT)) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to enable row level security on %s", get_rel_name(relid)),
				 errhint("Run it as the table's owner, or as a role that holds SELECT on it WITH GRANT OPTION.")));
	privstat_policy_enable_rls(relid);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(privstat_check_scope);

/* privstat._check_scope(tbl, condition): an error unless it is allowed */
Datum
privstat_check_scope(PG_FUNCTION_ARGS)
{
	Relation	rel = table_open(PG_GETARG_OID(0), AccessShareLock);

	(void) parse_scope(rel, text_to_cstring(PG_GETARG_TEXT_PP(1)));
	table_close(rel, AccessShareLock);
	PG_RETURN_VOID();
}
