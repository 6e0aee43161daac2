/*-------------------------------------------------------------------------
 *
 * hooks.c
 *	  Access levels and the enforcement of protected tables: the hooks.
 *
 * A DBA protects tables (privstat.protect) and gives roles an access level
 * (privstat.set_access).  A role at level 'aggregate' holds no SELECT on a
 * protected table, so PostgreSQL's own checks stop every way of reading it;
 * privstat's planner hook validates each query of such a role that touches
 * a protected table, rewrites its plain count/sum/avg into DP aggregates,
 * and marks the protected range-table entries of the finished plan to be
 * checked as privstat_reader, a NOLOGIN role holding SELECT on every
 * protected table.  That role is neither an owner nor BYPASSRLS, and the
 * mark is made after the rewriter added row security for the analyst, so
 * every row-level policy keeps applying (DESIGN.md, "Policy enforcement").
 *
 * privstat_policy_init installs the hooks and the cache's invalidation
 * callbacks; the policy, its validation and its row rules are in the other
 * files of src/policy/ (policy_internal.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_proc.h"
#include "commands/defrem.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/planner.h"
#include "rewrite/rowsecurity.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/fmgrtab.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rls.h"
#include "utils/syscache.h"

#include "privstat/citus.h"
#include "privstat/dp_agg.h"
#include "privstat/guc.h"
#include "privstat/policy.h"

#include "policy_internal.h"
#include "session.h"
#include "total.h"

/* set while an EXPLAIN ANALYZE of a restricted role runs */
static bool in_explain_analyze = false;

static planner_hook_type prev_planner = NULL;
static ExecutorCheckPerms_hook_type prev_check_perms = NULL;
static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorEnd_hook_type prev_ExecutorEnd = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;
static object_access_hook_type prev_object_access = NULL;

static bool
touches_protected_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, RangeTblEntry))
	{
		RangeTblEntry *rte = (RangeTblEntry *) node;

		if (rte->rtekind == RTE_RELATION && protected_rel(rte->relid) != NULL)
		{
			first_protected = rte->relid;
			return true;
		}
		return false;
	}
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, touches_protected_walker, context,
								 QTW_EXAMINE_RTES_BEFORE);
	return expression_tree_walker(node, touches_protected_walker, context);
}

static bool
touches_protected(Query *q)
{
	return policy_cache.nrels > 0 && touches_protected_walker((Node *) q, NULL);
}

/*
 * PostgreSQL's cumulative statistics functions of one relation, function or
 * database (pg_stat_get_tuples_fetched(oid), ..., behind pg_stat_user_tables
 * and pg_stat_user_indexes) are executable by everyone and exact: an index
 * scan's tuples fetched is the exact answer to the query a DP count
 * answered with noise.  Restricted roles may not call them, however they
 * are reached (a view, an inlined SQL function, a column default): the
 * check is made where the executor checks the right to execute a function
 * (object_access_hook, OAT_FUNCTION_EXECUTE; built-in functions never reach
 * needs_fmgr_hook).
 */
static Oid *stats_oids = NULL;
static int	nstats_oids = 0;

static AccessLevel current_level(void);

/* the built-in pg_stat_get_*(oid, ...) functions, found once per backend */
static void
load_stats_oids(void)
{
	Oid		   *oids = MemoryContextAlloc(TopMemoryContext, fmgr_nbuiltins * sizeof(Oid));
	int			n = 0;
	int			i;

	for (i = 0; i < fmgr_nbuiltins; i++)
	{
		const FmgrBuiltin *f = &fmgr_builtins[i];
		HeapTuple	tup;

		if (f->nargs < 1 || strncmp(f->funcName, "pg_stat_get_", 12) != 0)
			continue;
		tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(f->foid));
		if (!HeapTupleIsValid(tup))
			continue;
		if (((Form_pg_proc) GETSTRUCT(tup))->proargtypes.values[0] == OIDOID)
			oids[n++] = f->foid;
		ReleaseSysCache(tup);
	}
	qsort(oids, n, sizeof(Oid), oid_cmp);
	nstats_oids = n;
	stats_oids = oids;
}

static void
policy_object_access(ObjectAccessType access, Oid classId, Oid objectId, int subId, void *arg)
{
	AccessLevel level;

	if (prev_object_access)
		prev_object_access(access, classId, objectId, subId, arg);
	if (access == OAT_FUNCTION_EXECUTE)
		privstat_session_check_function(objectId);
	if (access != OAT_FUNCTION_EXECUTE || objectId >= FirstGenbkiObjectId ||
		!IsTransactionState() || !OidIsValid(GetUserId()))
		return;
	level = current_level();
	if (level == LEVEL_DIRECT)
		return;
	if (stats_oids == NULL)
		load_stats_oids();
	if (bsearch(&objectId, stats_oids, nstats_oids, sizeof(Oid), oid_cmp) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("statistics of individual tables and functions are not available to a role at access level %s",
						level_name(level)),
				 errdetail("Counters such as the tuples an index scan fetched are exact answers about protected rows."),
				 errhint("Ask an administrator for such figures.")));
}

static AccessLevel
current_level(void)
{
	return level_of(GetUserId());
}

static void
refuse_level_none(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("role %s has access level none and cannot read protected tables",
					GetUserNameFromId(GetUserId(), false)),
			 errhint("An administrator can give it level aggregate: SELECT privstat.set_access('%s', 'aggregate');",
					 GetUserNameFromId(GetUserId(), false))));
}

#define GENERIC_PLAN_PENALTY 1.0e12

/* undo the marks of validate_level: the plan keeps the caller's rights */
static bool
unmark_reader(Node *node)
{
	if (node == NULL)
		return false;
	if (IsA(node, RangeTblEntry))
	{
		RangeTblEntry *rte = (RangeTblEntry *) node;

		if (rte->rtekind == RTE_RELATION && rte->checkAsUser == policy_cache.reader)
			rte->checkAsUser = InvalidOid;
		return false;
	}
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, unmark_reader, NULL, QTW_EXAMINE_RTES_BEFORE);
	return expression_tree_walker(node, unmark_reader, NULL);
}

static bool
extern_param_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Param))
		return ((Param *) node)->paramkind == PARAM_EXTERN;
	return expression_tree_walker(node, extern_param_walker, context);
}

/* a DP aggregate with a parameter among its arguments (an epsilon: $1) */
static bool
dp_params_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Aggref))
	{
		ListCell   *lc;

		/* a parameter first (rare); only then the catalog lookup of the aggregate */
		foreach(lc, ((Aggref *) node)->args)
			if (foreach_current_index(lc) > 0 &&
				extern_param_walker((Node *) lfirst_node(TargetEntry, lc)->expr, NULL))
				return privstat_is_dp_aggregate(((Aggref *) node)->aggfnoid) ||
					expression_tree_walker(node, dp_params_walker, context);
	}
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, dp_params_walker, context, 0);
	return expression_tree_walker(node, dp_params_walker, context);
}

static PlannedStmt *
policy_planner(Query *parse, const char *query_string, int cursorOptions,
			   ParamListInfo boundParams)
{
	AccessLevel level = current_level();
	bool		validated = false;
	bool		fused_outer = fused_this_statement;
	PlannedStmt *result;

	/* the bounding node plans only the levels this statement's rewrite wrote */
	fused_this_statement = false;
	if (level != LEVEL_DIRECT && touches_protected(parse))
	{
		if (level == LEVEL_NONE)
			refuse_level_none();
		if (!OidIsValid(policy_cache.reader))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("role privstat_reader does not exist"),
					 errhint("Recreate it (CREATE ROLE privstat_reader NOLOGIN) and protect the tables again.")));
		/* settings that would report on the rows (src/policy/session.c) */
		privstat_session_check(quote_identifier(get_rel_name(first_protected)));
		froze_mutable = false;
		needs_custom_plan = false;
		bounded_levels = NIL;
		bounds_noticed = false;
		validating_params = boundParams;
		validating_sql = query_string;
		row_calls = 0;
		PG_TRY();
		{
			(void) validate_level(parse, NULL);
		}
		PG_FINALLY();
		{
			validating_params = NULL;
			validating_sql = NULL;
			bounded_levels = NIL;
		}
		PG_END_TRY();
		/* functions that can raise: privstat's total versions instead */
		privstat_total_substitute(parse);
		validated = true;
		/* unchecked: read with the caller's rights, which are none */
		if (needs_custom_plan)
			unmark_reader((Node *) parse);
	}

	/* percentiles in the order of their p, sums within what their count allows */
	if (policy_cache.installed)
	{
		privstat_monotone_percentiles(parse);
		privstat_consistent_sums(parse);
	}

	PG_TRY();
	{
		if (prev_planner)
			result = prev_planner(parse, query_string, cursorOptions, boundParams);
		else
			result = standard_planner(parse, query_string, cursorOptions, boundParams);
	}
	PG_FINALLY();
	{
		fused_this_statement = fused_outer;
	}
	PG_END_TRY();

	if (validated && froze_mutable)
		result->transientPlan = true;	/* a value frozen from now() holds for this transaction */

	/*
	 * A generic plan whose checks (a LIKE pattern, a date_trunc unit) or DP
	 * parameters (an epsilon) wait for parameter values costs so much that
	 * PostgreSQL's plan cache keeps to custom plans, where the values are
	 * known.  Forced to run it (plan_cache_mode = force_generic_plan), it
	 * fails: without privstat_reader's rights, or for the DP aggregate's
	 * parameter that is not a constant.
	 */
	if (boundParams == NULL && ((validated && needs_custom_plan) || dp_params_walker((Node *) parse, NULL)))
	{
		result->planTree->startup_cost += GENERIC_PLAN_PENALTY;
		result->planTree->total_cost += GENERIC_PLAN_PENALTY;
	}
	return result;
}

/* does the plan read protected tables with privstat_reader's rights? */
static bool
reads_as_reader(PlannedStmt *stmt)
{
	ListCell   *lc;

	if (!OidIsValid(policy_cache.reader))
		return false;
	foreach(lc, stmt->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);

		/* a table, or a Citus table's rows gathered for it (src/citus.c) */
		if ((rte->rtekind == RTE_RELATION || privstat_citus_gathered(rte)) &&
			rte->checkAsUser == policy_cache.reader)
			return true;
	}
	return false;
}

/*
 * From the start of a restricted role's plan over protected rows to its end,
 * client_min_messages may not change (src/policy/session.c).  Counted before
 * PostgreSQL's ExecutorStart initialises the plan's functions, so that the
 * plan's own set_config() is caught.
 */
static bool
restricted_plan(QueryDesc *queryDesc)
{
	policy_ensure();
	return policy_cache.installed && reads_as_reader(queryDesc->plannedstmt);
}

/*
 * A parameter's value meets protected values like a constant, and must be of
 * bounded size like one (validation checks it where a custom plan knows it;
 * a generic plan learns it only here).
 */
static void
check_param_sizes(ParamListInfo params)
{
	int			i;

	if (params == NULL)
		return;
	for (i = 1; i <= params->numParams; i++)
	{
		ParamExternData prmdata;
		ParamExternData *prm;

		prm = params->paramFetch != NULL ? params->paramFetch(params, i, false, &prmdata)
			: &params->params[i - 1];
		if (prm->isnull || !OidIsValid(prm->ptype))
			continue;
		if (!privstat_total_value_ok(prm->value, get_typlen(prm->ptype), PRIVSTAT_MAX_CONSTANT))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("parameter $%d is longer than %d bytes in a query over protected tables",
							i, PRIVSTAT_MAX_CONSTANT),
					 errdetail("The time a comparison takes grows with the value: a long one that only some rows meet makes those rows' cost observable. Use shorter values, or a join to a table of values.")));
	}
}

static void
policy_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	if (!(eflags & EXEC_FLAG_EXPLAIN_ONLY) && restricted_plan(queryDesc))
	{
		check_param_sizes(queryDesc->params);
		privstat_session_plan_started(queryDesc);
	}
	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

static void
policy_ExecutorEnd(QueryDesc *queryDesc)
{
	if (prev_ExecutorEnd)
		prev_ExecutorEnd(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
	privstat_session_plan_ended(queryDesc);
}

/*
 * At executor start, after PostgreSQL's own checks passed: a plan that reads
 * protected tables as privstat_reader runs only for a role that may have DP
 * answers, and a restricted role runs no plan that privstat did not
 * validate (a plan cached before its level changed).
 */
static bool
policy_check_perms(List *rangeTable, bool ereport_on_violation)
{
	AccessLevel level;
	ListCell   *lc;

	if (prev_check_perms && !prev_check_perms(rangeTable, ereport_on_violation))
		return false;
	policy_ensure();
	if (!policy_cache.installed)
		return true;
	level = current_level();
	foreach(lc, rangeTable)
	{
		RangeTblEntry *rte = lfirst(lc);
		Oid			relid = rte->relid;
		bool		as_reader;

		/*
		 * A Citus table's rows gathered for the statement (src/citus.c) are
		 * checked as the table's own entry, with the rights of its
		 * checkAsUser.
		 */
		bool		gathered = privstat_citus_gathered(rte);

		if (rte->rtekind != RTE_RELATION && !gathered)
			continue;
		as_reader = OidIsValid(policy_cache.reader) && rte->checkAsUser == policy_cache.reader;
		if (gathered && as_reader && protected_rel(relid) == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("this plan reads table %s as privstat_reader, which it no longer protects",
							quote_identifier(get_rel_name(relid))),
					 errhint("Run the statement again.")));
		if (!as_reader && level == LEVEL_DIRECT)
			continue;
		if (protected_rel(relid) == NULL)
			continue;
		if (level == LEVEL_NONE)
			refuse_level_none();
		if (as_reader && level != LEVEL_DIRECT)
			privstat_session_check(quote_identifier(get_rel_name(relid)));
		/* at run time, so EXPLAIN ANALYZE EXECUTE of a cached plan is caught too */
		if (as_reader && in_explain_analyze && level != LEVEL_DIRECT)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("EXPLAIN ANALYZE of a query over protected tables is not allowed"),
					 errdetail("Actual row counts are exact answers about protected rows."),
					 errhint("Use EXPLAIN without ANALYZE.")));
		if (!as_reader && (rte->requiredPerms != 0 || gathered))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("this plan over protected table %s was not validated for a role at access level %s",
							quote_identifier(get_rel_name(relid)), level_name(level)),
					 errhint("Run the statement again; prepare it again if it was prepared before the role's level changed.")));
	}
	return true;
}

/* an EXPLAIN ANALYZE of a restricted role: flagged while it runs */
static void
explain_analyze_utility(PlannedStmt *pstmt, const char *queryString,
						bool readOnlyTree, ProcessUtilityContext context,
						ParamListInfo params, QueryEnvironment *queryEnv,
						DestReceiver *dest, QueryCompletion *qc)
{
	bool		save = in_explain_analyze;

	in_explain_analyze = true;
	PG_TRY();
	{
		if (prev_ProcessUtility)
			prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
									queryEnv, dest, qc);
	}
	PG_FINALLY();
	{
		in_explain_analyze = save;
	}
	PG_END_TRY();
}

static ResTarget *
copy_target(ColumnRef *cr)
{
	ResTarget  *target = makeNode(ResTarget);

	target->val = (Node *) cr;
	target->location = -1;
	return target;
}

/* privstat_citus_has_rules: the table has rules of privstat's */
static bool
policy_has_row_rules(Oid relid)
{
	policy_ensure();
	return policy_cache.installed && row_rules(relid, false) != NULL;
}

/* COPY relid [(columns)] TO as COPY (SELECT columns FROM ONLY relid) TO, as PostgreSQL's DoCopy does under row security */
static void
copy_as_query(CopyStmt *c, Oid relid)
{
	SelectStmt *select = makeNode(SelectStmt);
	RangeVar   *from = makeRangeVar(get_namespace_name(get_rel_namespace(relid)), get_rel_name(relid), -1);
	ListCell   *lc;

	if (c->attlist == NIL)
	{
		ColumnRef  *cr = makeNode(ColumnRef);

		cr->fields = list_make1(makeNode(A_Star));
		cr->location = -1;
		select->targetList = list_make1(copy_target(cr));
	}
	foreach(lc, c->attlist)
	{
		ColumnRef  *cr = makeNode(ColumnRef);

		cr->fields = list_make1(lfirst(lc));
		cr->location = -1;
		select->targetList = lappend(select->targetList, copy_target(cr));
	}
	from->inh = false;			/* ONLY, as COPY of a table copies no child */
	select->fromClause = list_make1(from);
	c->query = (Node *) select;
	c->relation = NULL;
	c->attlist = NIL;
}

static void
policy_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
					  bool readOnlyTree, ProcessUtilityContext context,
					  ParamListInfo params, QueryEnvironment *queryEnv,
					  DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *stmt = pstmt->utilityStmt;
	AccessLevel level = LEVEL_DIRECT;
	bool		analyze = false;

	if (IsTransactionState())
		level = current_level();
	if (IsA(stmt, VariableSetStmt))
		privstat_session_check_set(((VariableSetStmt *) stmt)->name,
								   ((VariableSetStmt *) stmt)->kind == VAR_RESET_ALL);

	if (level != LEVEL_DIRECT)
	{
		switch (nodeTag(stmt))
		{
			case T_LoadStmt:
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("LOAD is not allowed for a role at access level %s", level_name(level)),
						 errhint("Libraries are loaded by the server's configuration.")));
				break;
			case T_CopyStmt:
				{
					CopyStmt   *c = (CopyStmt *) stmt;

					if (c->is_from && c->relation != NULL)
					{
						Oid			relid = RangeVarGetRelid(c->relation, NoLock, true);

						if (OidIsValid(relid) && protected_rel(relid) != NULL)
							ereport(ERROR,
									(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
									 errmsg("COPY FROM into protected table %s is not allowed",
											quote_identifier(get_rel_name(relid))),
									 errhint("A role at access level aggregate only reads protected tables, through DP aggregates.")));
					}
					break;
				}
			case T_ExplainStmt:
				{
					ExplainStmt *e = (ExplainStmt *) stmt;
					ListCell   *lc;

					foreach(lc, e->options)
					{
						DefElem    *opt = lfirst(lc);

						if (strcmp(opt->defname, "analyze") == 0)
							analyze = defGetBoolean(opt);
					}

					/*
					 * Estimated row counts come from statistics about the
					 * protected columns: a restricted role's EXPLAIN shows
					 * plans without costs.  A later option wins.
					 */
					if (readOnlyTree)
					{
						pstmt = copyObject(pstmt);
						readOnlyTree = false;
						e = (ExplainStmt *) pstmt->utilityStmt;
					}
					e->options = lappend(e->options,
										 makeDefElem("costs", (Node *) makeBoolean(false), -1));
					break;
				}
			default:
				break;
		}
	}

	/*
	 * COPY of a Citus table TO a client, under privstat's row rules for
	 * this role: Citus would copy each shard as the role, and the shards,
	 * which have none of privstat's rules, show it no row.  As PostgreSQL
	 * itself does for COPY TO under row security, it runs as COPY (SELECT
	 * ...) TO, whose rows are read on the coordinator under the rules
	 * (src/citus.c).  A table under the DBA's own policies only is left
	 * to Citus, as there.
	 */
	if (IsA(stmt, CopyStmt) && !((CopyStmt *) stmt)->is_from && ((CopyStmt *) stmt)->relation != NULL &&
		IsTransactionState())
	{
		Oid			relid = RangeVarGetRelid(((CopyStmt *) stmt)->relation, NoLock, true);

		if (OidIsValid(relid) && policy_has_row_rules(relid) && privstat_citus_table(relid) &&
			check_enable_rls(relid, InvalidOid, true) == RLS_ENABLED)
		{
			if (readOnlyTree)
			{
				pstmt = copyObject(pstmt);
				readOnlyTree = false;
			}
			copy_as_query((CopyStmt *) pstmt->utilityStmt, relid);
		}
	}

	if (analyze)
		explain_analyze_utility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);
	else if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
							queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);

	if ((IsA(stmt, GrantStmt) || IsA(stmt, GrantRoleStmt)) && IsTransactionState())
	{
		CommandCounterIncrement();
		policy_ensure();
		if (policy_cache.installed)
			warn_restricted_readers();
	}
}

void
privstat_policy_init(void)
{
	privstat_citus_has_rules = policy_has_row_rules;
	privstat_citus_total_call = policy_total_call;

	/* here, not in guc.c: its check and assign hooks are the row rules' */
	DefineCustomStringVariable("privstat.purpose",
							   gettext_noop("The purpose this session reads data for."),
							   gettext_noop("Rows of tables with a consent column are visible only when their consent "
											"includes it. A role may declare only a purpose it was granted "
											"(privstat.grant_purpose)."),
							   &privstat_purpose,
							   "",
							   PGC_USERSET,
							   0,
							   privstat_purpose_check, privstat_purpose_assign, NULL);

	CacheRegisterRelcacheCallback(policy_relcache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, policy_syscache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHOID, policy_syscache_callback, (Datum) 0);

	prev_planner = planner_hook;
	planner_hook = policy_planner;
	fused_init();
	prev_check_perms = ExecutorCheckPerms_hook;
	ExecutorCheckPerms_hook = policy_check_perms;
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = policy_ExecutorStart;
	prev_ExecutorEnd = ExecutorEnd_hook;
	ExecutorEnd_hook = policy_ExecutorEnd;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = policy_ProcessUtility;
	prev_rls_permissive = row_security_policy_hook_permissive;
	row_security_policy_hook_permissive = policy_rls_permissive;
	prev_rls_restrictive = row_security_policy_hook_restrictive;
	row_security_policy_hook_restrictive = policy_rls_restrictive;
	prev_object_access = object_access_hook;
	object_access_hook = policy_object_access;
}
