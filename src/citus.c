/*-------------------------------------------------------------------------
 *
 * citus.c
 *	  privstat on a Citus cluster: one budget for the cluster, charged on
 *	  the coordinator.
 *
 * Citus plans a query over distributed tables by sending SQL to the
 * workers.  A DP aggregate sent that way would be charged on each worker
 * that runs a shard of it (eight charges for one query with eight shards),
 * against the worker's own ledger, and the coordinator would charge nothing
 * and price the query at epsilon 0.  So:
 *
 *	- On the coordinator, before Citus plans a statement with DP
 *	  aggregates, a query level that reads one Citus table and aggregates it
 *	  only with DP aggregates is split in two (partials_query): a query
 *	  that Citus runs on the workers, with PostgreSQL's own count() and
 *	  sum() for counts, sums and averages (counted_columns) and partial
 *	  aggregates, whose exact states leave the workers only sealed, for the
 *	  others; and a merge on the coordinator, a DP aggregate priced, charged
 *	  and noised as the call it replaces, of the states _citus_partials
 *	  builds or passes on.
 *	- Otherwise each Citus table the statement reads is replaced by a call of
 *	  privstat._citus_rows(), a set-returning function that selects the
 *	  columns the statement uses from the table (gather_rte).  Citus then
 *	  sees no distributed table in the statement and leaves it to
 *	  PostgreSQL on the coordinator, where every DP aggregate in it runs:
 *	  priced, charged once and noised once, with EXPLAIN and dp_cost()
 *	  showing the price.  When the function runs, its SELECT is an ordinary
 *	  distributed query that Citus sends to the workers: they see no DP
 *	  aggregate, and the rows pass to the coordinator only.  (A materialized
 *	  CTE instead leaves Citus planning the rest of the statement as a task
 *	  over the CTE's intermediate result, DP aggregates and all.)
 *	- In any statement, a Citus table read with another role's rights (a
 *	  restricted role's privstat_reader, a view's owner) or under row
 *	  security (privstat's rules are not on the workers) is replaced by a
 *	  call of privstat._citus_reader_rows(), which reads it as the table's
 *	  owner for that role, from the rewrite's own call node only; the row
 *	  security quals stay on the function's entry and apply on the
 *	  coordinator (gather_rte).
 *	- A worker (a node whose Citus group is not the coordinator's) never
 *	  charges, releases an answer or changes a budget: a DP query or a
 *	  budget change there is refused (privstat_citus_refuse_on_worker), so
 *	  no role can spend a second budget by connecting to a worker.
 *
 *	- An UPDATE or DELETE of a Citus table under privstat's rules by another
 *	  role than the owner runs on the workers as the owner, with the rules
 *	  written into it (owner_write).
 *
 *	- rotate_key (SQL, privstat--0.2.0--0.3.0.sql) sets a new key version on
 *	  every worker; retention (src/retention.c) puts its trigger on every
 *	  shard and purges a Citus table in one statement.
 *
 * This module reads Citus's catalog tables (pg_dist_partition,
 * pg_dist_local_group) directly and calls nothing of Citus's, so it needs
 * no Citus headers and does nothing where Citus is not loaded.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/crypto.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_aggregate.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_policy.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_inherits.h"
#include "commands/trigger.h"
#include "catalog/pg_proc.h"
#include "catalog/dependency.h"
#include "commands/extension.h"
#include "utils/regproc.h"
#include "utils/rls.h"
#include "utils/typcache.h"
#include "access/transam.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "access/xact.h"
#include "tcop/utility.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/planner.h"
#include "parser/parse_func.h"
#include "parser/parser.h"
#include "parser/parsetree.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"
#include "utils/syscache.h"
#include "catalog/pg_class.h"
#include "utils/acl.h"
#include "optimizer/optimizer.h"
#include "optimizer/tlist.h"

#include "privstat/citus.h"
#include "privstat/common.h"
#include "privstat/dp_agg.h"
#include "privstat/dp_mech.h"
#include "privstat/guc.h"
#include "privstat/keys.h"

static planner_hook_type prev_planner = NULL;
static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorRun_hook_type prev_ExecutorRun = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/*
 * Is Citus loaded in this backend?  (Its library defines citus.version.)
 * Citus loads only from shared_preload_libraries, so once known, it stays.
 */
static bool
citus_loaded(void)
{
	static int	loaded = -1;

	if (loaded < 0)
		loaded = GetConfigOption("citus.version", true, false) != NULL;
	return loaded;
}

/* a Citus catalog table (or index) of this database, or InvalidOid */
static Oid
citus_catalog(const char *name)
{
	return get_relname_relid(name, PG_CATALOG_NAMESPACE);
}

/*
 * Is this node a Citus worker?  Its group in pg_dist_local_group is the one
 * the coordinator gave it when it was added; the coordinator's is 0.
 */
static bool
citus_worker(void)
{
	Oid			relid;
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		worker = false;

	if (!citus_loaded() || !OidIsValid(relid = citus_catalog("pg_dist_local_group")))
		return false;
	rel = table_open(relid, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		groupid = heap_getattr(tup, 1, RelationGetDescr(rel), &isnull);

		worker = !isnull && DatumGetInt32(groupid) != 0;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return worker;
}

void
privstat_citus_refuse_on_worker(const char *what)
{
	if (citus_worker())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s are refused on a Citus worker", what),
				 errdetail("Privacy budgets are kept and charged on the Citus coordinator only, so that a role has one budget for the whole cluster."),
				 errhint("Run it on the coordinator, which reads the workers' shards.")));
}

bool		(*privstat_citus_has_rules) (Oid relid) = NULL;
bool		(*privstat_citus_total_call) (Oid funcid, List *args, Oid inputcollid) = NULL;

/* does privstat apply row rules to relid, which the workers do not have? */
static bool
has_rules(Oid relid)
{
	return privstat_citus_has_rules != NULL && privstat_citus_has_rules(relid);
}

/* is relid a Citus table (in pg_dist_partition: distributed, reference or Citus-local)? */
static bool
citus_table_of_catalog(Oid relid, Oid partition_rel, Oid partition_index, AttrNumber *partition)
{
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	bool		found;

	rel = table_open(partition_rel, AccessShareLock);
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, partition_index, OidIsValid(partition_index), NULL, 1, &key);
	tup = systable_getnext(scan);
	found = HeapTupleIsValid(tup);
	if (found && partition != NULL)
	{
		bool		isnull;
		Datum		partkey = heap_getattr(tup, get_attnum(partition_rel, "partkey"),
										   RelationGetDescr(rel), &isnull);
		Node	   *var = isnull ? NULL : stringToNode(TextDatumGetCString(partkey));

		/* a reference table has none */
		*partition = var != NULL && IsA(var, Var) ? ((Var *) var)->varattno : 0;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

bool
privstat_citus_table(Oid relid)
{
	Oid			partition_rel;

	return citus_loaded() && OidIsValid(partition_rel = citus_catalog("pg_dist_partition")) &&
		citus_table_of_catalog(relid, partition_rel, citus_catalog("pg_dist_partition_logical_relid_index"), NULL);
}

/* ---------------------------------------------------------------------------
 * The coordinator: DP statements read Citus tables through privstat._citus_rows
 * ---------------------------------------------------------------------------
 */

/*
 * The location of a _citus_reader_rows (_citus_partials) call this rewrite
 * wrote.  The parser gives a node the position of its text (0 or more) or
 * -1, and a stored view or rule reads back -1: no SQL can write a call
 * with this location.
 */
#define READER_CALL_MARK	(-0x5052)
#define PARTIALS_CALL_MARK	(-0x5054)

typedef struct GatherContext
{
	Oid			partition_rel;	/* pg_dist_partition */
	Oid			partition_index;	/* its index on logicalrelid */
	Oid			rows_function;	/* privstat._citus_rows */
	Oid			reader_function;	/* privstat._citus_reader_rows */
	bool		reader_used;	/* a call of it was written */
	bool		secured_only;	/* citus_rte_walker: only tables under privstat's rules */
	Oid			found;			/* citus_rte_walker: the table it found */
	List	   *gathered;		/* the tables replaced */
	List	   *marks;			/* of the _citus_partials calls written (mark_of) */
} GatherContext;

/* is relid in pg_dist_partition: a distributed, reference or Citus-local table? */
static bool
citus_table(Oid relid, GatherContext *ctx)
{
	return citus_table_of_catalog(relid, ctx->partition_rel, ctx->partition_index, NULL);
}

static bool
has_dp_aggregate_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Aggref) && privstat_is_dp_aggregate(((Aggref *) node)->aggfnoid))
		return true;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, has_dp_aggregate_walker, context, 0);
	return expression_tree_walker(node, has_dp_aggregate_walker, context);
}

/* the columns of range table entry rti of a query that the query (at any level) uses */
typedef struct UsedColumns
{
	int			rti;
	int			levels_up;
	Bitmapset  *columns;
	bool		other;			/* a whole-row or system column */
} UsedColumns;

static bool
used_columns_walker(Node *node, UsedColumns *used)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var))
	{
		Var		   *var = (Var *) node;

		if (var->varno == used->rti && var->varlevelsup == (Index) used->levels_up)
		{
			if (var->varattno > 0)
				used->columns = bms_add_member(used->columns, var->varattno);
			else
				used->other = true;
		}
		return false;
	}
	if (IsA(node, Query))
	{
		bool		result;

		used->levels_up++;
		result = query_tree_walker((Query *) node, used_columns_walker, used, 0);
		used->levels_up--;
		return result;
	}
	return expression_tree_walker(node, used_columns_walker, used);
}

/*
 * Replace range table entry rti of query, a Citus table, by a call of
 * privstat._citus_rows(table, columns, only), which selects the columns the
 * query uses from it (NULL for the others) and returns its rows in the
 * table's column positions, so the query's Vars need no change.  The table
 * leaves the statement Citus plans: it sees a function scan and plans the
 * statement on the coordinator.  The SELECT inside is planned and checked
 * when the function runs: the caller's permissions (of the columns it
 * names) and row security apply to it as to the table before.
 */
static void
gather_rte(Query *query, int rti, GatherContext *ctx)
{
	RangeTblEntry *rte = rt_fetch(rti, query->rtable);
	RangeTblFunction *rtfunc = makeNode(RangeTblFunction);
	FuncExpr   *call;
	UsedColumns used;
	Relation	rel;
	TupleDesc	desc;
	Datum	   *columns;
	int			ncolumns = 0;
	ArrayType  *array;

	Oid			fn = ctx->rows_function;
	bool		owner_read;
	Oid			as_role = InvalidOid;
	List	   *quals = NIL;

	/*
	 * _citus_rows runs its SELECT as the caller, and Citus's queries on the
	 * workers too.  A table read with another role's rights (a view
	 * owner's, or privstat_reader's for a restricted role's validated
	 * query: that role cannot log in), or under row security (privstat's
	 * rules are not on the workers, whose shards show non-owners no row),
	 * comes through _citus_reader_rows instead.  It reads as the table's
	 * owner, after checking the reading role's right to the columns, and
	 * only from a call this rewrite wrote (READER_CALL_MARK).  The table's
	 * row security quals, made for the reading role when the statement was
	 * rewritten, stay on the function's entry: PostgreSQL applies them
	 * here, on the coordinator, first (as security barrier quals), as it
	 * would on the table.
	 */
	owner_read = (OidIsValid(rte->checkAsUser) && rte->checkAsUser != GetUserId()) ||
		(rte->securityQuals != NIL && has_rules(rte->relid));
	if (owner_read)
	{
		FormData_pg_class form;

		if (!OidIsValid(ctx->reader_function))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_FUNCTION),
					 errmsg("privstat._citus_reader_rows is missing"),
					 errhint("ALTER EXTENSION privstat UPDATE.")));
		if ((rte->requiredPerms & ~ACL_SELECT) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("Citus table \"%s\" cannot be locked FOR UPDATE or FOR SHARE under row security or with another role's rights",
							get_rel_name(rte->relid))));
		privstat_class_form(rte->relid, &form);
		if (form.relforcerowsecurity)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("Citus table \"%s\" forces row level security on its owner, which privstat reads it as",
							get_rel_name(rte->relid)),
					 errdetail("Rows read under row security or with another role's rights are read on the coordinator as the table's owner, and the rules applied there."),
					 errhint("ALTER TABLE %s NO FORCE ROW LEVEL SECURITY;", get_rel_name(rte->relid))));
		fn = ctx->reader_function;
		/* the rights the read stands for: fixed now, as the executor would check them at its start */
		as_role = OidIsValid(rte->checkAsUser) ? rte->checkAsUser : GetUserId();
		quals = rte->securityQuals;
		ctx->reader_used = true;
	}

	used.rti = rti;
	used.levels_up = 0;
	used.columns = NULL;
	used.other = false;
	(void) query_tree_walker(query, used_columns_walker, &used, 0);
	if (used.other || rte->tablesample != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a DP query cannot read whole rows, system columns or a sample of Citus table \"%s\"",
						get_rel_name(rte->relid)),
				 errhint("Name the columns it needs.")));

	/* the parser locked it */
	rel = table_open(rte->relid, NoLock);
	desc = RelationGetDescr(rel);
	columns = palloc(sizeof(Datum) * (desc->natts + 1));
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		AttrNumber	attno = i + 1;

		/* a dropped column reads as a NULL integer, which nothing refers to */
		rtfunc->funccolnames = lappend(rtfunc->funccolnames,
									   makeString(att->attisdropped ? "" : pstrdup(NameStr(att->attname))));
		rtfunc->funccoltypes = lappend_oid(rtfunc->funccoltypes,
										   att->attisdropped ? INT4OID : att->atttypid);
		rtfunc->funccoltypmods = lappend_int(rtfunc->funccoltypmods,
											 att->attisdropped ? -1 : att->atttypmod);
		rtfunc->funccolcollations = lappend_oid(rtfunc->funccolcollations,
												att->attisdropped ? InvalidOid : att->attcollation);
		if (!att->attisdropped && bms_is_member(attno, used.columns))
			columns[ncolumns++] = Int16GetDatum(attno);
	}
	rtfunc->funccolcount = desc->natts;
	table_close(rel, NoLock);

	array = ncolumns > 0 ?
		construct_array(columns, ncolumns, INT2OID, sizeof(int16), true, TYPALIGN_SHORT) :
		construct_empty_array(INT2OID);
	call = makeFuncExpr(fn, RECORDOID,
						list_make3(makeConst(REGCLASSOID, -1, InvalidOid, sizeof(Oid),
											 ObjectIdGetDatum(rte->relid), false, true),
								   makeConst(INT2ARRAYOID, -1, InvalidOid, -1,
											 PointerGetDatum(array), false, false),
								   makeBoolConst(!rte->inh, false)),
						InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
	call->funcretset = true;
	if (owner_read)
	{
		call->args = lappend(call->args, makeConst(OIDOID, -1, InvalidOid, sizeof(Oid),
												   ObjectIdGetDatum(as_role), false, true));
		call->location = READER_CALL_MARK;
	}
	rtfunc->funcexpr = (Node *) call;
	ctx->gathered = lappend_oid(ctx->gathered, rte->relid);

	/* the entry becomes the function's, with the table's column names */
	rte->rtekind = RTE_FUNCTION;
	rte->functions = list_make1(rtfunc);
	rte->funcordinality = false;
	rte->relkind = 0;
	rte->rellockmode = 0;
	rte->tablesample = NULL;
	rte->inh = false;
	rte->requiredPerms = 0;
	rte->checkAsUser = InvalidOid;
	rte->selectedCols = NULL;
	rte->insertedCols = NULL;
	rte->updatedCols = NULL;
	rte->extraUpdatedCols = NULL;
	rte->securityQuals = quals;

	/*
	 * relid stays, and checkAsUser holds the rights the read stands for:
	 * the policy's checks at run time (privstat_citus_gathered) treat the
	 * entry as the table's own.  Scalar fields, which the plan's range
	 * table keeps, unlike the function's call; PostgreSQL reads neither in
	 * a function's entry.
	 */
	rte->checkAsUser = as_role;
}

static bool gather_walker(Node *node, GatherContext *ctx);

/* ---------------------------------------------------------------------------
 * The coordinator, fast path: DP aggregates of one Citus table aggregated on
 * the workers
 *
 *	SELECT g, dp_sum(x, 0, 10, 1) FROM t WHERE q GROUP BY g
 * becomes
 *	SELECT p.g_1, privstat._dp_merge_sum_int8(p.s_1, 0, 10, 1, 'integer')
 *	FROM privstat._citus_partials('<the query below>', '<its HMAC>')
 *		AS p(g_1 <type of g>, s_1 privstat.dp_state)
 *	GROUP BY p.g_1
 * where the query run through Citus is
 *	SELECT g, privstat._dp_partial(x, 2, 0, 10, 1) FROM t WHERE q GROUP BY g
 * Citus runs it on the workers (partial states, sent sealed, combined on
 * the coordinator by its own aggregation), and the merge, a DP aggregate,
 * is priced, charged and released on the coordinator as the call it
 * replaces.  Statements of other shapes take the slow path (gather_rte).
 * ---------------------------------------------------------------------------
 */

#define PARTIALS_VAR_MARK	(-31)	/* the location of the Vars this rewrite makes */

typedef struct PartialsContext
{
	List	   *aggs;			/* the DP Aggrefs of the level */
	List	   *merges;			/* their merges, in the same order */
	List	   *keys;			/* the grouping expressions */
	int			nkeys;
	Oid			state_type;		/* privstat.dp_state */
	Oid			hist_type;		/* privstat.dp_hist_state, of percentiles */
	List	   *state_types;	/* of each partial, in the order of aggs */
	bool		ok;
} PartialsContext;

/* privstat's function name(args): an error if it is missing, unless missing_ok */
static Oid
privstat_function_ok(const char *name, int nargs, const Oid *args, bool missing_ok)
{
	return LookupFuncName(list_make2(makeString("privstat"), makeString(pstrdup(name))), nargs, args,
						  missing_ok);
}

static Oid
privstat_function(const char *name, int nargs, const Oid *args)
{
	return privstat_function_ok(name, nargs, args, false);
}

/* an Aggref of aggregate fn (the planner fills in its transition type) */
static Aggref *
make_aggref(Oid fn, List *args)
{
	return privstat_plain_aggref(fn, args, NULL);
}

static Node *
arg_expr(Aggref *a, int i)
{
	return (Node *) list_nth_node(TargetEntry, a->args, i)->expr;
}

/* a parameter argument, folded as the planner will fold it (1 is float8(1) until then) */
static Node *
param_expr(Aggref *a, int i)
{
	return eval_const_expressions(NULL, copyObject(arg_expr(a, i)));
}

static bool
float8_const(Node *n)
{
	return IsA(n, Const) && ((Const *) n)->consttype == FLOAT8OID && !((Const *) n)->constisnull;
}

/*
 * privstat.epsilon, read when the statement runs: _citus_partials passes it
 * as $1, and a merge without an epsilon reads it too.
 */
static Param *
epsilon_param(void)
{
	Param	   *p = makeNode(Param);

	p->paramkind = PARAM_EXTERN;
	p->paramid = 1;
	p->paramtype = FLOAT8OID;
	p->paramtypmod = -1;
	p->paramcollid = InvalidOid;
	p->location = -1;
	return p;
}

/*
 * The columns from which _citus_partials builds a count's, a sum's or an
 * average's state (spi_rows): its kind, whether its input is of integers,
 * its bounds and epsilon, and what PostgreSQL's own count() and sum() give
 * on the workers.  Citus distributes those as it does for any query, with
 * no wrapper around each row (worker_partial_agg costs 2 to 4 times the
 * scan).
 */
#define COUNTED_COLUMNS 7

static const Oid counted_types[COUNTED_COLUMNS] = {
	INT4OID, BOOLOID, FLOAT8OID, FLOAT8OID, FLOAT8OID, INT8OID, NUMERICOID
};

static Const *
float8_value(double v)
{
	return makeConst(FLOAT8OID, -1, InvalidOid, 8, Float8GetDatum(v), false, FLOAT8PASSBYVAL);
}

static List *
counted_columns(DpKind kind, bool integer_input, Node *lower, Node *upper, Node *epsilon,
				Aggref *n, Node *sum)
{
	List	   *cols = list_make5(makeConst(INT4OID, -1, InvalidOid, 4, Int32GetDatum(kind), false, true),
								  makeBoolConst(integer_input, false),
								  lower, upper, epsilon);

	return lappend(lappend(cols, n), sum);
}

/*
 * The partial of DP Aggref a (for the workers: the inner query's columns
 * of it) and its merge (for the coordinator, over column state of the
 * partials' function); false for a call the fast path does not take.
 */
static bool
partial_and_merge(Aggref *a, Var *state, Oid state_type, List **partial, Aggref **merge)
{
	int			kind = privstat_dp_aggregate_kind(a->aggfnoid);
	int			nargs = list_length(a->args);

	if (a->aggfilter != NULL || a->aggdistinct != NIL || a->aggorder != NIL ||
		a->agglevelsup != 0 || a->aggkind != AGGKIND_NORMAL || a->aggdirectargs != NIL)
		return false;
	if (kind == DP_COUNT)
	{
		Aggref	   *counted;
		List	   *margs = list_make1(state);
		Oid			margtypes[2] = {state_type, FLOAT8OID};

		if (nargs == 2 && !float8_const(param_expr(a, 1)))
			return false;
		/* "x IS NOT NULL" of a row reads as a test of each field once deparsed */
		if (nargs > 0 && type_is_rowtype(exprType(arg_expr(a, 0))))
			return false;
		if (nargs == 0)
			counted = privstat_plain_aggref(F_COUNT_, NIL, NULL);
		else
			counted = privstat_plain_aggref(F_COUNT_ANY, list_make1(copyObject(arg_expr(a, 0))), NULL);
		if (nargs == 2)
			margs = lappend(margs, param_expr(a, 1));
		*partial = counted_columns(DP_COUNT, false, (Node *) float8_value(0.0), (Node *) float8_value(0.0),
								   (Node *) float8_value(1.0), counted,
								   (Node *) makeNullConst(NUMERICOID, -1, InvalidOid));
		*merge = make_aggref(privstat_function("_dp_merge_count", list_length(margs), margtypes),
							 margs);
		return true;
	}
	if (kind == DP_SUM || kind == DP_AVG || kind == DP_VARIANCE || kind == DP_STDDEV)
	{
		Node	   *value;
		Oid			valtype;
		Oid			pargtypes[5];
		Oid			margtypes[5] = {state_type, FLOAT8OID, FLOAT8OID, FLOAT8OID, REGTYPEOID};
		const char *merge_name;
		Node	   *lower;
		Node	   *upper;
		Node	   *epsilon;

		if (nargs != 3 && nargs != 4)
			return false;
		lower = param_expr(a, 1);
		upper = param_expr(a, 2);
		if (nargs == 4)
			epsilon = param_expr(a, 3);
		else
			epsilon = (Node *) epsilon_param();
		if (!float8_const(lower) || !float8_const(upper) || (nargs == 4 && !float8_const(epsilon)))
			return false;
		value = arg_expr(a, 0);
		valtype = exprType(value);
		if (valtype != INT2OID && valtype != INT4OID && valtype != INT8OID &&
			valtype != NUMERICOID && valtype != FLOAT8OID)
			return false;
		if (kind == DP_AVG)
			merge_name = "_dp_merge_avg";
		else if (kind == DP_VARIANCE)
			merge_name = "_dp_merge_variance";
		else if (kind == DP_STDDEV)
			merge_name = "_dp_merge_stddev";
		else if (a->aggtype == INT8OID)
			merge_name = "_dp_merge_sum_int8";
		else if (a->aggtype == NUMERICOID)
			merge_name = "_dp_merge_sum_numeric";
		else if (a->aggtype == FLOAT8OID)
			merge_name = "_dp_merge_sum_float8";
		else
			return false;
		pargtypes[0] = valtype;
		pargtypes[1] = INT4OID;
		pargtypes[2] = pargtypes[3] = pargtypes[4] = FLOAT8OID;
		if (kind == DP_SUM || kind == DP_AVG)
		{
			/* count(value), sum(_dp_grid(value, kind, lower, upper, epsilon)) */
			List	   *gargs = list_make5(copyObject(value),
										   makeConst(INT4OID, -1, InvalidOid, 4, Int32GetDatum(kind), false, true),
										   copyObject(lower), copyObject(upper), copyObject(epsilon));
			FuncExpr   *grid = makeFuncExpr(privstat_function("_dp_grid", 5, pargtypes), INT8OID, gargs,
											InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);

			*partial = counted_columns(kind, valtype != NUMERICOID && valtype != FLOAT8OID,
									   lower, upper, epsilon,
									   privstat_plain_aggref(F_COUNT_ANY, list_make1(copyObject(value)), NULL),
									   (Node *) privstat_plain_aggref(F_SUM_INT8, list_make1(grid), NULL));
		}
		else
			*partial = list_make1(make_aggref(privstat_function("_dp_partial", 5, pargtypes),
											  list_make5(copyObject(value),
														 makeConst(INT4OID, -1, InvalidOid, 4, Int32GetDatum(kind), false, true),
														 lower, upper, epsilon)));
		{
			List	   *margs = list_make3(state, copyObject(lower), copyObject(upper));

			if (nargs == 4)
				margs = lappend(margs, copyObject(epsilon));
			else
				margtypes[3] = REGTYPEOID;
			margs = lappend(margs, makeConst(REGTYPEOID, -1, InvalidOid, sizeof(Oid),
											 ObjectIdGetDatum(valtype), false, true));
			*merge = make_aggref(privstat_function(merge_name, list_length(margs), margtypes),
								 margs);
		}
		return true;
	}
	if (kind == DP_PERCENTILE)
	{
		/* dp_percentile(x, p, lower, upper [, epsilon]), dp_median(x, lower, upper [, epsilon]) */
		char	   *name = get_func_name(a->aggfnoid);
		bool		with_p = strcmp(name, "dp_percentile") == 0;
		int			first = with_p ? 2 : 1;
		Node	   *value;
		Oid			valtype;
		Node	   *p;
		Node	   *lower;
		Node	   *upper;
		Node	   *epsilon;
		Oid			pargtypes[5] = {InvalidOid, FLOAT8OID, FLOAT8OID, FLOAT8OID, FLOAT8OID};
		Oid			margtypes[6];
		List	   *margs = list_make1(state);
		int			m = 0;

		if (!with_p && strcmp(name, "dp_median") != 0)
			return false;		/* the policy's _dp_percentile_units */
		if (nargs != first + 2 && nargs != first + 3)
			return false;
		value = arg_expr(a, 0);
		valtype = exprType(value);
		if (valtype != INT2OID && valtype != INT4OID && valtype != INT8OID &&
			valtype != NUMERICOID && valtype != FLOAT8OID)
			return false;
		p = with_p ? param_expr(a, 1) : (Node *) makeConst(FLOAT8OID, -1, InvalidOid, 8,
														   Float8GetDatum(0.5), false, FLOAT8PASSBYVAL);
		lower = param_expr(a, first);
		upper = param_expr(a, first + 1);
		epsilon = nargs == first + 3 ? param_expr(a, first + 2) : (Node *) epsilon_param();
		if (!float8_const(p) || !float8_const(lower) || !float8_const(upper) ||
			(nargs == first + 3 && !float8_const(epsilon)))
			return false;
		pargtypes[0] = valtype;
		*partial = list_make1(make_aggref(privstat_function("_dp_partial_hist", 5, pargtypes),
										  list_make5(copyObject(value), p, lower, upper, epsilon)));
		margtypes[m++] = state_type;
		if (with_p)
		{
			margs = lappend(margs, copyObject(p));
			margtypes[m++] = FLOAT8OID;
		}
		margs = lappend(lappend(margs, copyObject(lower)), copyObject(upper));
		margtypes[m++] = FLOAT8OID;
		margtypes[m++] = FLOAT8OID;
		if (nargs == first + 3)
		{
			margs = lappend(margs, copyObject(epsilon));
			margtypes[m++] = FLOAT8OID;
		}
		margs = lappend(margs, makeConst(REGTYPEOID, -1, InvalidOid, sizeof(Oid),
										 ObjectIdGetDatum(valtype), false, true));
		margtypes[m++] = REGTYPEOID;
		*merge = make_aggref(privstat_function(with_p ? "_dp_merge_percentile" : "_dp_merge_median",
											   m, margtypes), margs);
		return true;
	}
	return false;
}

/* the DP Aggrefs by their merges, the grouping expressions by the partials' key columns */
static Node *
partials_mutator(Node *node, PartialsContext *pc)
{
	ListCell   *lc;
	ListCell   *lc2;
	int			i = 0;

	if (node == NULL)
		return NULL;
	if (IsA(node, Aggref))
	{
		forboth(lc, pc->aggs, lc2, pc->merges)
		{
			if (equal(lfirst(lc), node))
				return copyObject(lfirst(lc2));
		}
		pc->ok = false;
		return node;
	}
	foreach(lc, pc->keys)
	{
		Node	   *key = lfirst(lc);

		i++;
		if (equal(node, key))
		{
			Var		   *v = makeVar(1, i, exprType(key), exprTypmod(key), exprCollation(key), 0);

			v->location = PARTIALS_VAR_MARK;
			return (Node *) v;
		}
	}
	return expression_tree_mutator(node, partials_mutator, pc);
}

/* a Var of the table left after the rewrite: a column neither grouped nor aggregated */
static bool
leftover_var(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var))
		return ((Var *) node)->varlevelsup == 0 && ((Var *) node)->location != PARTIALS_VAR_MARK;
	return expression_tree_walker(node, leftover_var, context);
}

/*
 * Something the partials' query, run on its own, could not mean: a
 * parameter of the statement ($n) or a reference to an outer query level.
 */
static bool
not_standalone(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Param))
		return true;
	if (IsA(node, Var) && ((Var *) node)->varlevelsup > 0)
		return true;
	if (IsA(node, Aggref) && ((Aggref *) node)->agglevelsup > 0)
		return true;
	if (IsA(node, PlaceHolderVar) && ((PlaceHolderVar *) node)->phlevelsup > 0)
		return true;
	return expression_tree_walker(node, not_standalone, context);
}

/*
 * search_path = pg_catalog until AtEOXact_GUC(true, the level returned): the
 * partials' query is written and run under it, so its names, all qualified,
 * mean the same in both places.
 */
static int
pin_search_path(void)
{
	int			nest = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nest;
}

/* SQL text of query, with every name qualified */
static char *
deparse_qualified(Query *query)
{
	int			nest = pin_search_path();
	char	   *sql = pg_get_querydef(query, false);

	AtEOXact_GUC(true, nest);
	return sql;
}

static bytea *
partials_mac(const char *sql)
{
	bytea	   *mac = palloc(VARHDRSZ + 32);

	SET_VARSIZE(mac, VARHDRSZ + 32);
	privstat_hmac_sha256(privstat_get_key(KEY_PURPOSE_PSEUDONYM, "citus_partials", 1),
						 sql, strlen(sql), (uint8 *) VARDATA(mac));
	return mac;
}

/*
 * The plan of a statement this rewrite wrote _citus_partials calls into
 * carries, for each call, a PlanInvalItem of a cache that does not exist
 * (PARTIALS_MARK: PostgreSQL's plan cache compares cache ids and never
 * matches it), holding the first bytes of the call's HMAC.  A plan is
 * copied with it, but no SQL can put one into a plan of its own.  While a
 * marked plan runs (marked_runs), the calls it marks may run; a call
 * copied into another statement (from EXPLAIN VERBOSE, say) may not.
 */
#define PARTIALS_MARK	(-0x5053)

static uint32
mark_of(const bytea *mac)
{
	uint32		mark;

	memcpy(&mark, VARDATA_ANY(mac), sizeof(mark));
	return mark;
}

typedef struct MarkedRun
{
	PrivstatQueryState link;
	List	   *marks;			/* in the query's memory */
} MarkedRun;

static PrivstatQueryState *marked_runs = NULL;

/* is a plan running now that marks a call with this HMAC? */
static bool
mark_running(const bytea *mac)
{
	uint32		mark = mark_of(mac);

	for (PrivstatQueryState *s = marked_runs; s != NULL; s = s->next)
		if (list_member_int(((MarkedRun *) s)->marks, (int) mark))
			return true;
	return false;
}

/* rewrite this level the fast way if it has that shape; false (nothing changed) if not */
static bool
partials_query(Query *query, GatherContext *ctx)
{
	Query	   *q;
	RangeTblEntry *rte;
	PartialsContext pc;
	Query	   *inner;
	RangeTblEntry *frte;
	RangeTblFunction *rtfunc;
	FuncExpr   *call;
	ListCell   *lc;
	List	   *inner_tlist = NIL;
	List	   *inner_group = NIL;
	List	   *colnames = NIL;
	char	   *sql;
	bytea	   *mac;
	int			resno = 0;
	int			j = 0;
	Oid			fnargs[2] = {TEXTOID, BYTEAOID};
	List	   *aggs = NIL;

	if (query->commandType != CMD_SELECT || !query->hasAggs || query->hasWindowFuncs ||
		query->hasTargetSRFs || query->hasSubLinks || query->hasDistinctOn ||
		query->distinctClause != NIL || query->setOperations != NULL || query->cteList != NIL ||
		query->groupingSets != NIL || query->rowMarks != NIL || query->utilityStmt != NULL ||
		list_length(query->rtable) != 1 || list_length(query->jointree->fromlist) != 1 ||
		!IsA(linitial(query->jointree->fromlist), RangeTblRef))
		return false;
	rte = linitial(query->rtable);
	if (not_standalone((Node *) query->jointree, NULL) || not_standalone((Node *) query->targetList, NULL) ||
		not_standalone(query->havingQual, NULL))
		return false;
	if (rte->rtekind != RTE_RELATION || rte->tablesample != NULL || rte->securityQuals != NIL ||
		(OidIsValid(rte->checkAsUser) && rte->checkAsUser != GetUserId()))
		return false;

	/* the level's aggregates (no sublink: checked above), one per distinct call, as PostgreSQL keeps them */
	memset(&pc, 0, sizeof(pc));
	pc.ok = true;
	(void) privstat_collect_aggrefs((Node *) query->targetList, &aggs);
	(void) privstat_collect_aggrefs(query->havingQual, &aggs);
	foreach(lc, aggs)
	{
		if (privstat_dp_aggregate_kind(((Aggref *) lfirst(lc))->aggfnoid) == 0)
			return false;
		pc.aggs = list_append_unique(pc.aggs, lfirst(lc));
	}
	if (pc.aggs == NIL || !citus_table(rte->relid, ctx))
		return false;
	pc.state_type = privstat_dp_state_type(false);
	pc.hist_type = privstat_dp_state_type(true);

	/* the grouping expressions: the partials' key columns g_1 .. g_n */
	foreach(lc, query->groupClause)
	{
		SortGroupClause *sgc = lfirst_node(SortGroupClause, lc);
		TargetEntry *tle = get_sortgroupclause_tle(sgc, query->targetList);
		SortGroupClause *isgc = copyObject(sgc);

		if (contain_volatile_functions((Node *) tle->expr))
			return false;
		pc.keys = lappend(pc.keys, tle->expr);
		resno++;
		inner_tlist = lappend(inner_tlist, makeTargetEntry(copyObject(tle->expr), resno,
															psprintf("g_%d", resno), false));
		((TargetEntry *) llast(inner_tlist))->ressortgroupref = resno;
		isgc->tleSortGroupRef = resno;
		inner_group = lappend(inner_group, isgc);
		colnames = lappend(colnames, makeString(psprintf("g_%d", resno)));
	}
	pc.nkeys = resno;

	/* the DP aggregates: the partials' state columns s_1 .. s_m, and their merges */
	foreach(lc, pc.aggs)
	{
		List	   *partial;
		Aggref	   *merge;
		Oid			type = privstat_dp_aggregate_kind(((Aggref *) lfirst(lc))->aggfnoid) == DP_PERCENTILE ?
			pc.hist_type : pc.state_type;
		Var		   *state = makeVar(1, pc.nkeys + (++j), type, -1, InvalidOid, 0);
		ListCell   *lc2;
		int			k = 0;

		state->location = PARTIALS_VAR_MARK;
		if (!partial_and_merge(lfirst(lc), state, type, &partial, &merge))
			return false;
		pc.merges = lappend(pc.merges, merge);
		pc.state_types = lappend_oid(pc.state_types, type);
		foreach(lc2, partial)
		{
			resno++;
			inner_tlist = lappend(inner_tlist,
								  makeTargetEntry(lfirst(lc2), resno,
												  list_length(partial) == 1 ? psprintf("s_%d", j) :
												  psprintf("s_%d_%d", j, ++k), false));
		}
		colnames = lappend(colnames, makeString(psprintf("s_%d", j)));
	}

	/* the outer level, on a copy until it proves complete */
	q = copyObject(query);
	q->targetList = (List *) partials_mutator((Node *) query->targetList, &pc);
	q->havingQual = partials_mutator(query->havingQual, &pc);
	if (!pc.ok || leftover_var((Node *) q->targetList, NULL) || leftover_var(q->havingQual, NULL))
		return false;

	/* the query Citus runs: the table, its quals, the keys and the partials */
	inner = makeNode(Query);
	inner->commandType = CMD_SELECT;
	inner->querySource = QSRC_ORIGINAL;
	inner->canSetTag = true;
	inner->rtable = list_make1(copyObject(rte));
	inner->jointree = copyObject(query->jointree);
	inner->targetList = inner_tlist;
	inner->groupClause = inner_group;
	inner->hasAggs = true;
	inner->stmt_location = -1;
	sql = deparse_qualified(inner);
	mac = partials_mac(sql);
	ctx->marks = lappend_int(ctx->marks, (int) mark_of(mac));

	call = makeFuncExpr(privstat_function("_citus_partials", 2, fnargs), RECORDOID,
						list_make2(makeConst(TEXTOID, -1, DEFAULT_COLLATION_OID, -1,
											 PointerGetDatum(cstring_to_text(sql)), false, false),
								   makeConst(BYTEAOID, -1, InvalidOid, -1,
											 PointerGetDatum(mac), false, false)),
						InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
	call->funcretset = true;
	call->location = PARTIALS_CALL_MARK;
	rtfunc = makeNode(RangeTblFunction);
	rtfunc->funcexpr = (Node *) call;
	rtfunc->funccolcount = list_length(colnames);
	rtfunc->funccolnames = colnames;
	foreach(lc, pc.keys)
	{
		rtfunc->funccoltypes = lappend_oid(rtfunc->funccoltypes, exprType(lfirst(lc)));
		rtfunc->funccoltypmods = lappend_int(rtfunc->funccoltypmods, exprTypmod(lfirst(lc)));
		rtfunc->funccolcollations = lappend_oid(rtfunc->funccolcollations, exprCollation(lfirst(lc)));
	}
	foreach(lc, pc.state_types)
	{
		rtfunc->funccoltypes = lappend_oid(rtfunc->funccoltypes, lfirst_oid(lc));
		rtfunc->funccoltypmods = lappend_int(rtfunc->funccoltypmods, -1);
		rtfunc->funccolcollations = lappend_oid(rtfunc->funccolcollations, InvalidOid);
	}
	frte = makeNode(RangeTblEntry);
	frte->rtekind = RTE_FUNCTION;
	frte->functions = list_make1(rtfunc);
	frte->eref = makeAlias("privstat_partials", colnames);
	frte->inFromCl = true;

	q->rtable = list_make1(frte);
	q->jointree = makeFromExpr(list_make1(linitial(query->jointree->fromlist)), NULL);
	q->hasRowSecurity = false;
	ctx->gathered = lappend_oid(ctx->gathered, rte->relid);
	memcpy(query, q, sizeof(Query));
	return true;
}

/* this level's Citus tables (not the one it writes), after the levels below */
static void
gather_query(Query *query, GatherContext *ctx)
{
	int			rti = 0;
	ListCell   *lc;

	(void) query_tree_walker(query, gather_walker, ctx, 0);
	if (partials_query(query, ctx))
		return;
	foreach(lc, query->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);

		rti++;
		if (rte->rtekind == RTE_RELATION && rti != query->resultRelation &&
			citus_table(rte->relid, ctx))
			gather_rte(query, rti, ctx);
	}
}

static bool
gather_walker(Node *node, GatherContext *ctx)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
	{
		gather_query((Query *) node, ctx);
		return false;
	}
	return expression_tree_walker(node, gather_walker, ctx);
}

/*
 * A Citus table that the statement reads (ctx->found): with secured_only,
 * one read under privstat's row rules, whose reads must come through
 * _citus_reader_rows (gather_rte) since the workers do not have the rules;
 * otherwise any, as the one a statement writes after gather_query.
 */
static bool
citus_rte_walker(Node *node, GatherContext *ctx)
{
	if (node == NULL)
		return false;
	if (IsA(node, RangeTblEntry))
	{
		RangeTblEntry *rte = (RangeTblEntry *) node;

		if (rte->rtekind != RTE_RELATION || (ctx->secured_only && rte->securityQuals == NIL) ||
			!citus_table(rte->relid, ctx) || (ctx->secured_only && !has_rules(rte->relid)))
			return false;
		ctx->found = rte->relid;
		return true;
	}
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, citus_rte_walker, ctx, QTW_EXAMINE_RTES_BEFORE);
	return expression_tree_walker(node, citus_rte_walker, ctx);
}

/* ---------------------------------------------------------------------------
 * The coordinator: UPDATE and DELETE under privstat's rules by other roles
 * ---------------------------------------------------------------------------
 *
 * The shards of a Citus table have none of privstat's row rules, and show
 * other roles than the owner no row (src/policy/rowrules.c puts only an
 * INSERT policy there).  An UPDATE or DELETE of such a table by another role
 * therefore runs on the workers as the table's owner, with the row security
 * PostgreSQL built for the changing role written into the statement
 * (owner_write):
 *
 *	- the security quals join the WHERE clause.  The consent rule compares
 *	  the rows' consent with _session_purpose(), and the expiry rule with
 *	  now() - keep, which Citus evaluates on the coordinator, as the
 *	  changing role, before it sends the statement (a worker, which has no
 *	  purpose grants, would find no purpose: no row);
 *	- each check of an UPDATE's new row (PostgreSQL's WITH CHECK options)
 *	  wraps the value of a SET column, _citus_new_row_ok(check, table,
 *	  policy, value), which raises PostgreSQL's own error: computed only for
 *	  the rows the UPDATE changes, the first check innermost.
 *
 * On the workers the conditions are not ordered after the rules (there they
 * are plain quals, not security barrier quals, and Citus refuses the CASE
 * that would order them when it holds a function that is not immutable), so
 * a condition of the statement on a column must not be able to fail: it may
 * use only privstat's table of total functions, as a restricted role's query
 * on protected rows (privstat_citus_total_call).
 *
 * Only the role's rights are checked on the coordinator (the executor's
 * check at its start, as the changing role); what runs on the workers as the
 * owner is what the statement wrote, so it may contain only the table's own
 * columns, constants, parameters and built-in immutable functions (and
 * privstat's), or built-in stable ones on no column, which Citus evaluates
 * on the coordinator.  Statements that read other tables (FROM, USING,
 * subqueries, CTEs) are refused, and so are tables with row security
 * policies of the DBA's own, whose conditions may name current_user; and
 * MERGE, INSERT ... ON CONFLICT DO UPDATE and changes in WITH queries,
 * which would run as the role (refuse_changes_under_rules).
 */

/*
 * The plan of a statement owner_write rewrote carries a PlanInvalItem of a
 * cache that does not exist (PostgreSQL's plan cache compares cache ids and
 * never matches it) holding the table's OID: it runs as the table's owner.
 * No SQL can put one into a plan.
 */
#define OWNER_WRITE_MARK	(-0x5055)

typedef struct OwnerWrite
{
	Relation	rel;
	int			rti;			/* the changed table's range-table index */
	Oid			extension;		/* privstat's pg_extension OID */
	Oid			consent_ok;		/* privstat._consent_ok(text[]) */
	Oid			session_purpose;	/* privstat._session_purpose() */
	bool		var_free;		/* owner_write_func_bad: the node reads no column */
	bool		in_where;		/* owner_write_check_func: the node is in the WHERE clause */
	List	   *targetlist;		/* owner_write_new_row_mutator: the UPDATE's SET list */
} OwnerWrite;

static void
owner_write_refuse(OwnerWrite *ow, const char *what, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("%s cannot be used in an UPDATE or DELETE of Citus table \"%s\" under consent, scope or retention rules",
					what, RelationGetRelationName(ow->rel)),
			 errdetail("Other roles than the owner change such rows on the workers as the table's owner, once the coordinator has checked their rights: only the table's own columns, constants, parameters and built-in immutable functions run there."),
			 hint ? errhint("%s", hint) : 0));
}

/* is object objid (of catalog classid) PostgreSQL's own or privstat's? */
static bool
builtin_or_ours(Oid classid, Oid objid, OwnerWrite *ow)
{
	return objid < FirstGenbkiObjectId || getExtensionOfObject(classid, objid) == ow->extension;
}

/*
 * Does node read a column of the changed row: a Var, or a CaseTestExpr,
 * which stands for a column's value inside a CASE arm or an array
 * coercion's per-element expression?
 */
static bool
reads_column(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var) || IsA(node, CaseTestExpr) || IsA(node, CoerceToDomainValue))
		return true;
	return expression_tree_walker(node, reads_column, context);
}

/*
 * May a value of this type travel to the workers, as text their input
 * function reads as the owner, and back?  PostgreSQL's own types and
 * privstat's, arrays of them, and the table's own column types (the
 * owner's); never a domain or a type of another role's (its input function
 * or check would run as the owner).
 */
static bool
owner_write_type_ok(Oid type, OwnerWrite *ow)
{
	TupleDesc	desc = RelationGetDescr(ow->rel);
	Oid			elem;

	for (int i = 0; i < desc->natts; i++)
		if (!TupleDescAttr(desc, i)->attisdropped && TupleDescAttr(desc, i)->atttypid == type)
			return true;
	if (OidIsValid(elem = get_element_type(type)))
		return owner_write_type_ok(elem, ow);
	if (type < FirstGenbkiObjectId)
		return get_typtype(type) != TYPTYPE_DOMAIN;
	/* privstat's base types (pseudonym, sealed) */
	return builtin_or_ours(TypeRelationId, type, ow) && get_typtype(type) == TYPTYPE_BASE;
}

/* a condition of the WHERE clause on a column that could fail on a row the rules hide */
static void
owner_write_refuse_failing(OwnerWrite *ow)
{
	owner_write_refuse(ow, "a condition on a column that can fail (a division, a cast, a function outside privstat's table of total functions)",
					   "Conditions on the columns run on rows the rules hide too: compare columns with constants (=, <, IN, IS NULL).");
}

/* check_functions_in_node's callback: may the changing role not execute this function? */
static bool
not_executable(Oid funcid, void *context pg_attribute_unused())
{
	return pg_proc_aclcheck(funcid, GetUserId(), ACL_EXECUTE) != ACLCHECK_OK;
}

/*
 * check_functions_in_node's callback: may this function not run on the
 * workers as the owner?  Built-in immutable functions (and privstat's) may;
 * a built-in stable one may on no column, where Citus evaluates it on the
 * coordinator, as the role.
 */
static bool
owner_write_func_bad(Oid funcid, void *context)
{
	OwnerWrite *ow = context;
	char		volatility = func_volatile(funcid);
	bool		known = builtin_or_ours(ProcedureRelationId, funcid, ow);

	if (ow->var_free)
		return !(known && volatility != PROVOLATILE_VOLATILE);
	return !(known && volatility == PROVOLATILE_IMMUTABLE);
}

/* one call in a condition on the columns: total as called (privstat_citus_total_call)? */
static bool
owner_write_total_call(Oid funcid, List *args, Oid inputcollid)
{
	return privstat_citus_total_call != NULL && OidIsValid(funcid) &&
		privstat_citus_total_call(funcid, args, inputcollid);
}

/*
 * A node of the WHERE clause that reads a column: it runs on rows the rules
 * hide too (the conditions are not ordered on the workers), so its function
 * must be total by privstat's table of total functions, as in the
 * conditions a restricted role's query evaluates on protected rows (the
 * nodes without a function that can fail, multidimensional arrays and
 * subscripts of other containers than arrays, are refused in
 * owner_write_walker, as node_check refuses them there).
 */
static bool
owner_write_total(Node *node)
{
	switch (nodeTag(node))
	{
		case T_FuncExpr:
			return owner_write_total_call(((FuncExpr *) node)->funcid, ((FuncExpr *) node)->args,
										  ((FuncExpr *) node)->inputcollid);
		case T_OpExpr:
		case T_DistinctExpr:
		case T_NullIfExpr:
			set_opfuncid((OpExpr *) node);
			return owner_write_total_call(((OpExpr *) node)->opfuncid, ((OpExpr *) node)->args,
										  ((OpExpr *) node)->inputcollid);
		case T_ScalarArrayOpExpr:
			set_sa_opfuncid((ScalarArrayOpExpr *) node);
			return owner_write_total_call(((ScalarArrayOpExpr *) node)->opfuncid,
										  ((ScalarArrayOpExpr *) node)->args,
										  ((ScalarArrayOpExpr *) node)->inputcollid);
		case T_RowCompareExpr:
			{
				RowCompareExpr *r = (RowCompareExpr *) node;

				for (int i = 0; i < list_length(r->opnos); i++)
					if (!owner_write_total_call(get_opcode(list_nth_oid(r->opnos, i)),
												list_make2(list_nth(r->largs, i), list_nth(r->rargs, i)),
												list_nth_oid(r->inputcollids, i)))
						return false;
				return true;
			}
		case T_MinMaxExpr:
			return owner_write_total_call(lookup_type_cache(((MinMaxExpr *) node)->minmaxtype,
															TYPECACHE_CMP_PROC)->cmp_proc,
										  ((MinMaxExpr *) node)->args, ((MinMaxExpr *) node)->inputcollid);
		case T_CoerceViaIO:
			{
				Oid			target = getBaseType(((CoerceViaIO *) node)->resulttype);

				/* output functions do not fail; input functions but text's may */
				return target == TEXTOID || target == VARCHAROID || target == BPCHAROID || target == NAMEOID;
			}
		default:
			return false;
	}
}

static void
owner_write_check_func(Node *node, Oid funcid, OwnerWrite *ow)
{
	ow->var_free = !reads_column(node, NULL);
	if (check_functions_in_node(node, not_executable, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for a function of the UPDATE or DELETE of Citus table \"%s\"",
						RelationGetRelationName(ow->rel))));
	if (ow->in_where && !ow->var_free && !owner_write_total(node))
		owner_write_refuse_failing(ow);
	if (OidIsValid(funcid) ? owner_write_func_bad(funcid, ow)
		: check_functions_in_node(node, owner_write_func_bad, ow))
		owner_write_refuse(ow, "a function that is not a built-in immutable one",
						   "Change such rows as the table's owner, or write the value the function gives.");
}

/* a collation PostgreSQL made (initdb's included), or one of the table's columns' */
static bool
owner_write_collation_ok(Oid collation, OwnerWrite *ow)
{
	TupleDesc	desc = RelationGetDescr(ow->rel);

	if (collation < FirstNormalObjectId)
		return true;
	for (int i = 0; i < desc->natts; i++)
		if (!TupleDescAttr(desc, i)->attisdropped && TupleDescAttr(desc, i)->attcollation == collation)
			return true;
	return false;
}

/*
 * The workers find an operator by its name, and their planner may use its
 * negator or commutator: only PostgreSQL's own operators and privstat's,
 * whatever function this one calls here.
 */
static void
owner_write_check_operator(Oid opno, OwnerWrite *ow)
{
	if (!builtin_or_ours(OperatorRelationId, opno, ow))
		owner_write_refuse(ow, psprintf("operator %s", format_operator(opno)),
						   "Only PostgreSQL's own operators and privstat's may be sent to the workers.");
}

/* check_functions_in_node's callback: not PostgreSQL's or privstat's, or not immutable? */
static bool
domain_func_bad(Oid funcid, void *context)
{
	OwnerWrite *ow = context;

	return func_volatile(funcid) != PROVOLATILE_IMMUTABLE || !builtin_or_ours(ProcedureRelationId, funcid, ow);
}

static bool
domain_check_walker(Node *node, OwnerWrite *ow)
{
	if (node == NULL)
		return false;
	if (check_functions_in_node(node, domain_func_bad, ow) || IsA(node, SubLink))
		return true;
	if ((IsA(node, OpExpr) || IsA(node, DistinctExpr) || IsA(node, NullIfExpr)) &&
		!builtin_or_ours(OperatorRelationId, ((OpExpr *) node)->opno, ow))
		return true;
	return expression_tree_walker(node, domain_check_walker, (void *) ow);
}

/* may the CHECK constraints of domain (its base domains' too) run on the workers as the owner? */
static bool
domain_checks_ok(Oid domain, OwnerWrite *ow)
{
	Relation	rel = table_open(ConstraintRelationId, AccessShareLock);
	Oid			type = domain;
	bool		ok = true;

	while (ok && OidIsValid(type) && get_typtype(type) == TYPTYPE_DOMAIN)
	{
		ScanKeyData key;
		SysScanDesc scan;
		HeapTuple	tup;

		ScanKeyInit(&key, Anum_pg_constraint_contypid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(type));
		scan = systable_beginscan(rel, ConstraintTypidIndexId, true, NULL, 1, &key);
		while (ok && HeapTupleIsValid(tup = systable_getnext(scan)))
		{
			bool		isnull;
			Datum		bin;

			if (((Form_pg_constraint) GETSTRUCT(tup))->contype != CONSTRAINT_CHECK)
				continue;
			bin = heap_getattr(tup, Anum_pg_constraint_conbin, RelationGetDescr(rel), &isnull);
			ok = !isnull && !domain_check_walker(stringToNode(TextDatumGetCString(bin)), ow);
		}
		systable_endscan(scan);
		/* the next domain down */
		tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(type));
		if (!HeapTupleIsValid(tup))
			break;
		type = ((Form_pg_type) GETSTRUCT(tup))->typbasetype;
		ReleaseSysCache(tup);
	}
	table_close(rel, AccessShareLock);
	return ok;
}

/* what the statement writes on the workers: refused unless it may run there as the owner */
static bool
owner_write_walker(Node *node, OwnerWrite *ow)
{
	if (node == NULL)
		return false;
	if (!IsA(node, List) && !IsA(node, TargetEntry) && !IsA(node, CaseWhen))
	{
		if (!owner_write_type_ok(exprType(node), ow))
			owner_write_refuse(ow, psprintf("a value of type %s", format_type_be(exprType(node))),
							   "Only PostgreSQL's own types, privstat's and the table's column types may be sent to the workers.");
		/* the workers find a collation by its name, which another role may define there otherwise */
		if (!owner_write_collation_ok(exprCollation(node), ow) ||
			!owner_write_collation_ok(exprInputCollation(node), ow) ||
			(IsA(node, CollateExpr) && !owner_write_collation_ok(((CollateExpr *) node)->collOid, ow)))
			owner_write_refuse(ow, "a collation that is not PostgreSQL's own or a column's", NULL);
	}
	switch (nodeTag(node))
	{
		case T_Var:
			{
				Var		   *v = (Var *) node;

				if (v->varlevelsup != 0 || v->varno != ow->rti)
					owner_write_refuse(ow, "another table's column", NULL);
				if (v->varattno <= 0)
					owner_write_refuse(ow, "a system column or a whole row", NULL);
				return false;
			}
		case T_Const:
		case T_CaseTestExpr:
			return false;
		case T_Param:
			if (((Param *) node)->paramkind != PARAM_EXTERN)
				owner_write_refuse(ow, "a subquery", NULL);
			return false;
		case T_SQLValueFunction:
			switch (((SQLValueFunction *) node)->op)
			{
				case SVFOP_CURRENT_TIMESTAMP:
				case SVFOP_CURRENT_TIMESTAMP_N:
					return false;
				case SVFOP_CURRENT_DATE:
				case SVFOP_CURRENT_TIME:
				case SVFOP_CURRENT_TIME_N:
				case SVFOP_LOCALTIME:
				case SVFOP_LOCALTIME_N:
				case SVFOP_LOCALTIMESTAMP:
				case SVFOP_LOCALTIMESTAMP_N:
					owner_write_refuse(ow, "CURRENT_DATE, CURRENT_TIME, LOCALTIME or LOCALTIMESTAMP",
									   "The workers would read it in their own time zone: write now()::date (or ::timestamp), which the coordinator evaluates.");
					return false;
				default:
					owner_write_refuse(ow, "CURRENT_USER, CURRENT_ROLE, USER, SESSION_USER, CURRENT_CATALOG or CURRENT_SCHEMA",
									   "On the workers it would name the table's owner.");
			}
			return false;
		case T_OpExpr:
		case T_DistinctExpr:
		case T_NullIfExpr:
			owner_write_check_operator(((OpExpr *) node)->opno, ow);
			owner_write_check_func(node, InvalidOid, ow);
			break;
		case T_ScalarArrayOpExpr:
			owner_write_check_operator(((ScalarArrayOpExpr *) node)->opno, ow);
			owner_write_check_func(node, InvalidOid, ow);
			break;
		case T_RowCompareExpr:
			{
				ListCell   *lc;

				foreach(lc, ((RowCompareExpr *) node)->opnos)
					owner_write_check_operator(lfirst_oid(lc), ow);
				owner_write_check_func(node, InvalidOid, ow);
				break;
			}
		case T_FuncExpr:
		case T_CoerceViaIO:
			owner_write_check_func(node, InvalidOid, ow);
			break;
		case T_MinMaxExpr:
			owner_write_check_func(node, lookup_type_cache(((MinMaxExpr *) node)->minmaxtype,
														   TYPECACHE_CMP_PROC)->cmp_proc, ow);
			break;
		case T_SubscriptingRef:
			if (get_typsubscript(((SubscriptingRef *) node)->refcontainertype, NULL) >= FirstGenbkiObjectId)
				owner_write_refuse(ow, "a subscript of a type that is not built in", NULL);
			/* as on protected rows (node_check): array fetches return NULL out of range, others may fail */
			if (ow->in_where && reads_column(node, NULL) &&
				(((SubscriptingRef *) node)->refassgnexpr != NULL ||
				 !OidIsValid(get_element_type(((SubscriptingRef *) node)->refcontainertype))))
				owner_write_refuse_failing(ow);
			break;
		case T_ArrayExpr:
			/* as on protected rows (node_check): arrays of unequal dimensions fail */
			if (ow->in_where && ((ArrayExpr *) node)->multidims && reads_column(node, NULL))
				owner_write_refuse_failing(ow);
			break;
		case T_CoerceToDomain:
			{
				Oid			domain = ((CoerceToDomain *) node)->resulttype;
				HeapTuple	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(domain));
				Oid			owner = InvalidOid;

				if (HeapTupleIsValid(tup))
				{
					owner = ((Form_pg_type) GETSTRUCT(tup))->typowner;
					ReleaseSysCache(tup);
				}
				/* its constraints run on the workers: the table owner's domains only */
				if (owner != ow->rel->rd_rel->relowner)
					owner_write_refuse(ow, "a domain of another owner than the table's", NULL);
				if (ow->in_where && reads_column(node, NULL))
					owner_write_refuse(ow, "a domain check on a column", NULL);
				/*
				 * Of a value that reads a column, the check runs on the
				 * workers as the owner, on a value the role chooses: its
				 * functions must be such as may run there (a function of the
				 * DBA's would run with the owner's rights).
				 */
				if (reads_column((Node *) ((CoerceToDomain *) node)->arg, NULL) && !domain_checks_ok(domain, ow))
					owner_write_refuse(ow, "a value of a column put through a domain whose check calls a function that is not a built-in immutable one",
									   "Change such rows as the table's owner.");
				break;
			}
		case T_CaseExpr:
			/* Citus evaluates the placeholder of CASE x WHEN ... on the coordinator, as NULL */
			if (reads_column((Node *) ((CaseExpr *) node)->arg, NULL))
				owner_write_refuse(ow, "CASE x WHEN ... on a column", "Write CASE WHEN x = ... THEN ... instead.");
			break;
		case T_ArrayCoerceExpr:
			{
				Node	   *elem = (Node *) ((ArrayCoerceExpr *) node)->elemexpr;

				/*
				 * An element-by-element cast of a column: Citus would evaluate
				 * the element's expression apart, on the coordinator, as NULL.
				 */
				while (elem != NULL && IsA(elem, RelabelType))
					elem = (Node *) ((RelabelType *) elem)->arg;
				if (elem != NULL && !IsA(elem, CaseTestExpr) &&
					reads_column((Node *) ((ArrayCoerceExpr *) node)->arg, NULL))
					owner_write_refuse(ow, "a cast of an array column element by element", NULL);
				break;
			}
		case T_BoolExpr:
		case T_NullTest:
		case T_BooleanTest:
		case T_CaseWhen:
		case T_CoalesceExpr:
		case T_RelabelType:
		case T_CollateExpr:
		case T_RowExpr:
		case T_FieldSelect:
		case T_FieldStore:
		case T_TargetEntry:
		case T_List:
			break;
		default:
			owner_write_refuse(ow, "a subquery, an aggregate, WHERE CURRENT OF or this kind of expression",
							   "Use conditions on the table's own columns.");
	}
	return expression_tree_walker(node, owner_write_walker, (void *) ow);
}

static bool
not_immutable(Oid funcid, void *context pg_attribute_unused())
{
	return func_volatile(funcid) != PROVOLATILE_IMMUTABLE;
}

/* does a rule call a function that is not immutable on a column (which Citus refuses)? */
static bool
rule_mutable_on_columns(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (check_functions_in_node(node, not_immutable, NULL) && reads_column(node, NULL))
		return true;
	return expression_tree_walker(node, rule_mutable_on_columns, context);
}

/*
 * A rule's operator whose function privstat replaced by its total version
 * (privstat_total_substitute_expr keeps the operator): the workers would
 * read the operator's name and run PostgreSQL's, which may fail on a
 * hidden row.  Written as a call of the replacement.
 */
static Node *
explicit_replacements(Node *node, void *context)
{
	if (node == NULL)
		return NULL;
	if (IsA(node, OpExpr) || IsA(node, DistinctExpr) || IsA(node, NullIfExpr) || IsA(node, ScalarArrayOpExpr))
	{
		Oid			opno = IsA(node, ScalarArrayOpExpr) ? ((ScalarArrayOpExpr *) node)->opno : ((OpExpr *) node)->opno;
		Oid			fn = IsA(node, ScalarArrayOpExpr) ? ((ScalarArrayOpExpr *) node)->opfuncid : ((OpExpr *) node)->opfuncid;

		if (OidIsValid(fn) && fn != get_opcode(opno))
		{
			OpExpr	   *op = (OpExpr *) node;

			if (!IsA(node, OpExpr))
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("a rule of this Citus table cannot be sent to the workers for an UPDATE or DELETE by another role than the owner"),
						 errhint("Change such rows as the table's owner.")));
			return (Node *) makeFuncExpr(fn, op->opresulttype,
										 (List *) explicit_replacements((Node *) op->args, context),
										 op->opcollid, op->inputcollid, COERCE_EXPLICIT_CALL);
		}
	}
	return expression_tree_mutator(node, explicit_replacements, context);
}

/* the consent rule's _consent_ok(consent), made consent @> ARRAY[_session_purpose()] */
static Node *
owner_write_consent_mutator(Node *node, OwnerWrite *ow)
{
	if (node == NULL)
		return NULL;
	if (IsA(node, FuncExpr) && ((FuncExpr *) node)->funcid == ow->consent_ok)
	{
		FuncExpr   *ok = (FuncExpr *) node;
		ArrayExpr  *purposes = makeNode(ArrayExpr);
		OpExpr	   *contains;

		purposes->array_typeid = TEXTARRAYOID;
		purposes->array_collid = DEFAULT_COLLATION_OID;
		purposes->element_typeid = TEXTOID;
		purposes->elements = list_make1(makeFuncExpr(ow->session_purpose, TEXTOID, NIL, InvalidOid,
													 DEFAULT_COLLATION_OID, COERCE_EXPLICIT_CALL));
		purposes->multidims = false;
		purposes->location = -1;
		contains = (OpExpr *) make_opclause(OID_ARRAY_CONTAINS_OP, BOOLOID, false,
											copyObject(linitial(ok->args)), (Expr *) purposes,
											InvalidOid, DEFAULT_COLLATION_OID);
		contains->opfuncid = F_ARRAYCONTAINS;
		/* NULL for a NULL consent: no row, and a new row that fails */
		return (Node *) contains;
	}
	return expression_tree_mutator(node, owner_write_consent_mutator, (void *) ow);
}

/* a qual on the UPDATE's new row, on the old row's columns: each SET column replaced by its value */
static Node *
owner_write_new_row_mutator(Node *node, OwnerWrite *ow)
{
	if (node == NULL)
		return NULL;
	if (IsA(node, Var) && ((Var *) node)->varno == ow->rti && ((Var *) node)->varlevelsup == 0)
	{
		ListCell   *lc;

		foreach(lc, ow->targetlist)
		{
			TargetEntry *te = lfirst_node(TargetEntry, lc);

			if (!te->resjunk && te->resno == ((Var *) node)->varattno)
				return copyObject((Node *) te->expr);
		}
		return copyObject(node);
	}
	return expression_tree_mutator(node, owner_write_new_row_mutator, (void *) ow);
}

static Node *
text_const(const char *s)
{
	return (Node *) makeConst(TEXTOID, -1, DEFAULT_COLLATION_OID, -1, CStringGetTextDatum(s), false, false);
}

/* a qual as one expression: the AND of a list, or the node itself */
static Node *
qual_expr(Node *q)
{
	if (q != NULL && IsA(q, List))
		return (Node *) make_ands_explicit((List *) q);
	return q;
}

/*
 * Has relid, or one of its partitions, a deferrable constraint, or a
 * trigger of its own (but privstat's retention trigger)?  A trigger fires on
 * the workers as the owner, who sees every row, and what it raises or
 * notices reaches the role; it may also change the new row after its check.
 */
static bool
has_deferrable_or_trigger(Oid relid)
{
	Oid			retention = privstat_function_ok("_retention_check", 0, NULL, true);
	List	   *rels = find_all_inheritors(relid, NoLock, NULL);
	ListCell   *lc;
	bool		found = false;

	foreach(lc, rels)
	{
		Relation	rel;
		SysScanDesc scan;
		ScanKeyData key;
		HeapTuple	tup;

		rel = table_open(ConstraintRelationId, AccessShareLock);
		ScanKeyInit(&key, Anum_pg_constraint_conrelid, BTEqualStrategyNumber, F_OIDEQ,
					ObjectIdGetDatum(lfirst_oid(lc)));
		scan = systable_beginscan(rel, ConstraintRelidTypidNameIndexId, true, NULL, 1, &key);
		while (!found && HeapTupleIsValid(tup = systable_getnext(scan)))
			found = ((Form_pg_constraint) GETSTRUCT(tup))->condeferrable;
		systable_endscan(scan);
		table_close(rel, AccessShareLock);

		rel = table_open(TriggerRelationId, AccessShareLock);
		ScanKeyInit(&key, Anum_pg_trigger_tgrelid, BTEqualStrategyNumber, F_OIDEQ,
					ObjectIdGetDatum(lfirst_oid(lc)));
		scan = systable_beginscan(rel, TriggerRelidNameIndexId, true, NULL, 1, &key);
		while (!found && HeapTupleIsValid(tup = systable_getnext(scan)))
		{
			Form_pg_trigger t = (Form_pg_trigger) GETSTRUCT(tup);

			found = t->tgdeferrable || (!t->tgisinternal && t->tgfoid != retention);
		}
		systable_endscan(scan);
		table_close(rel, AccessShareLock);
	}
	return found;
}

/* does a new-row check read a generated column, whose new value it does not have? */
static bool
reads_generated(Node *node, OwnerWrite *ow)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var) && ((Var *) node)->varno == ow->rti && ((Var *) node)->varlevelsup == 0 &&
		((Var *) node)->varattno > 0 &&
		TupleDescAttr(RelationGetDescr(ow->rel), ((Var *) node)->varattno - 1)->attgenerated)
		return true;
	return expression_tree_walker(node, reads_generated, (void *) ow);
}

/*
 * An UPDATE or DELETE of Citus table rte under privstat's rules, by a role
 * to whom row security applies: rewritten to run on the workers as the
 * owner (see above), or refused.  Returns the table's OID for the plan's
 * mark.
 */
static Oid
owner_write(Query *parse, RangeTblEntry *rte, GatherContext *ctx)
{
	OwnerWrite	ow;
	Oid			args[1] = {TEXTARRAYOID};
	List	   *sec = NIL;
	List	   *checks = NIL;
	ListCell   *lc;
	Relation	pol;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	Oid			check_args[4] = {BOOLOID, TEXTOID, TEXTOID, ANYELEMENTOID};
	Oid			new_row_ok;

	memset(&ow, 0, sizeof(ow));
	ow.rel = table_open(rte->relid, NoLock);
	ow.rti = parse->resultRelation;
	ow.extension = get_extension_oid("privstat", false);
	ow.consent_ok = privstat_function_ok("_consent_ok", 1, args, true);
	ow.session_purpose = privstat_function_ok("_session_purpose", 0, NULL, true);
	ow.targetlist = parse->commandType == CMD_UPDATE ? parse->targetList : NIL;
	new_row_ok = privstat_function_ok("_citus_new_row_ok", 4, check_args, true);
	if (!OidIsValid(ow.session_purpose) || !OidIsValid(new_row_ok))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("privstat._citus_new_row_ok is missing"),
				 errhint("ALTER EXTENSION privstat UPDATE.")));

	if (ow.rel->rd_rel->relforcerowsecurity)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("Citus table \"%s\" forces row level security on its owner, which privstat changes its rows as",
						RelationGetRelationName(ow.rel)),
				 errhint("ALTER TABLE %s NO FORCE ROW LEVEL SECURITY;", RelationGetRelationName(ow.rel))));
	/*
	 * The rules, the rights and _session_purpose() are the current role's:
	 * a change written by a rule (or a view) of another role is refused.
	 */
	if (OidIsValid(rte->checkAsUser) && rte->checkAsUser != GetUserId())
		owner_write_refuse(&ow, "a rule or a view of another role", NULL);
	/*
	 * The DBA's own policies may name current_user, which is the owner on
	 * the workers.  (An INSERT policy, privstat's own among them, has no say
	 * in an UPDATE or DELETE.)
	 */
	pol = table_open(PolicyRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_policy_polrelid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(rte->relid));
	scan = systable_beginscan(pol, PolicyPolrelidPolnameIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
		if (((Form_pg_policy) GETSTRUCT(tup))->polcmd != ACL_INSERT_CHR)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("an UPDATE or DELETE of Citus table \"%s\" under consent, scope or retention rules by another role than the owner is not supported on a table with row security policies of its own",
							RelationGetRelationName(ow.rel)),
					 errdetail("Such a change runs on the workers as the table's owner, with the rules in its WHERE clause; a policy of the DBA's own may name current_user, which would be the owner there."),
					 errhint("Change such rows as the table's owner.")));
	systable_endscan(scan);
	table_close(pol, AccessShareLock);

	/*
	 * A deferred constraint fails at COMMIT, where Citus reports the worker's
	 * error with its detail (a hidden row's key), after the statement (and
	 * citus_ExecutorRun's withholding) ended; a trigger runs as the owner.
	 */
	if (has_deferrable_or_trigger(rte->relid))
		owner_write_refuse(&ow, "a table (or a partition) with a deferrable constraint or a trigger of its own",
						   "A trigger would run on the workers as the owner, and a deferred error come at COMMIT with the workers' details.");

	/* it reads and writes this table only */
	if (list_length(parse->rtable) != 1 || parse->cteList != NIL || parse->hasSubLinks ||
		parse->hasTargetSRFs || parse->hasModifyingCTE || parse->rowMarks != NIL ||
		list_length(parse->jointree->fromlist) != 1 || !IsA(linitial(parse->jointree->fromlist), RangeTblRef))
		owner_write_refuse(&ow, "another table, a view, a subquery or a WITH query",
						   "Change such rows with conditions on the table's own columns.");
	ow.in_where = true;
	(void) owner_write_walker(parse->jointree->quals, &ow);
	ow.in_where = false;
	(void) owner_write_walker((Node *) ow.targetlist, &ow);
	(void) owner_write_walker((Node *) parse->returningList, &ow);

	/* the role's row security: the quals on its rows, the checks of an UPDATE's new row */
	foreach(lc, rte->securityQuals)
		sec = lappend(sec, explicit_replacements(owner_write_consent_mutator(qual_expr(lfirst(lc)), &ow), NULL));
	if (rule_mutable_on_columns((Node *) sec, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a rule of Citus table \"%s\" calls a function that is not immutable on its columns, which an UPDATE or DELETE by another role than the owner cannot send to the workers",
						RelationGetRelationName(ow.rel)),
				 errdetail("Citus refuses stable functions of columns in an UPDATE or DELETE; a retention rule on a timestamp without time zone column compares it with now() through the session's time zone, and a scope may call such a function too."),
				 errhint("Keep the retention rule on a timestamp with time zone column, or change such rows as the table's owner.")));
	foreach(lc, parse->withCheckOptions)
	{
		WithCheckOption *wco = lfirst_node(WithCheckOption, lc);

		if (wco->kind != WCO_RLS_UPDATE_CHECK)
			owner_write_refuse(&ow, "a view's CHECK OPTION", NULL);
		checks = lappend(checks, owner_write_new_row_mutator(
									explicit_replacements(owner_write_consent_mutator(qual_expr(wco->qual), &ow), NULL),
									&ow));
	}

	/*
	 * The new row's checks wrap the value of a SET column (not the
	 * distribution column, which Citus would then see changed), computed
	 * only for the rows the UPDATE changes, after every condition: the
	 * first check innermost, so that it fails first, as in PostgreSQL.
	 */
	if (checks != NIL && reads_generated((Node *) checks, &ow))
		owner_write_refuse(&ow, "a rule on a generated column",
						   "The new row's check would not see the value the column gives.");
	if (checks != NIL)
	{
		AttrNumber	partition = 0;
		TargetEntry *wrapped = NULL;
		Expr	  **value;
		ListCell   *lc2;

		(void) citus_table_of_catalog(rte->relid, ctx->partition_rel, ctx->partition_index, &partition);
		foreach(lc, ow.targetlist)
		{
			TargetEntry *te = lfirst_node(TargetEntry, lc);
			Node	   *e = (Node *) te->expr;

			/* the checks read the new row, which Citus cannot write with an element assigned (a[1] := x) */
			if ((IsA(e, SubscriptingRef) && ((SubscriptingRef *) e)->refassgnexpr != NULL) || IsA(e, FieldStore))
				owner_write_refuse(&ow, "an assignment to an element or a field of a column",
								   "Assign the whole column: SET a = array_replace(a, ...) or SET a = ARRAY[...].");
			if (!te->resjunk && te->resno != partition)
				wrapped = te;
		}
		if (wrapped == NULL)
			owner_write_refuse(&ow, "an UPDATE of the distribution column alone",
							   "Set another column too, or change such rows as the table's owner.");
		value = &wrapped->expr;
		forboth(lc, checks, lc2, parse->withCheckOptions)
		{
			WithCheckOption *wco = lfirst_node(WithCheckOption, lc2);
			Oid			type = exprType((Node *) *value);
			Oid			collation = exprCollation((Node *) *value);

			*value = (Expr *)
				makeFuncExpr(new_row_ok, type,
							 list_make4(lfirst(lc), text_const(wco->relname),
										wco->polname ? text_const(wco->polname)
										: (Node *) makeNullConst(TEXTOID, -1, DEFAULT_COLLATION_OID),
										*value),
							 collation, InvalidOid, COERCE_EXPLICIT_CALL);
		}
	}
	/*
	 * The rules, and the statement's own conditions, which are leakproof
	 * (above): in any order, none fails or tells anything on a row the rules
	 * hide.
	 */
	if (parse->jointree->quals != NULL)
		sec = list_concat(sec, make_ands_implicit((Expr *) qual_expr(parse->jointree->quals)));
	parse->jointree->quals = sec != NIL ? (Node *) make_ands_explicit(sec) : NULL;
	rte->securityQuals = NIL;
	parse->withCheckOptions = NIL;
	table_close(ow.rel, NoLock);
	return rte->relid;
}

/*
 * The Citus table under privstat's rules that query q changes (UPDATE,
 * DELETE, MERGE or INSERT ... ON CONFLICT DO UPDATE) as a role the rules
 * apply to, or NULL.
 */
static RangeTblEntry *
changed_under_rules(Query *q, GatherContext *ctx)
{
	RangeTblEntry *target;

	if (q->resultRelation == 0 || q->commandType == CMD_SELECT ||
		(q->commandType == CMD_INSERT && (q->onConflict == NULL || q->onConflict->action != ONCONFLICT_UPDATE)))
		return NULL;
	target = rt_fetch(q->resultRelation, q->rtable);
	/* the role the rights and the rules are for: a rule's or a view's owner, or the current one */
	if (target->rtekind == RTE_RELATION && citus_table(target->relid, ctx) && has_rules(target->relid) &&
		check_enable_rls(target->relid, target->checkAsUser, true) == RLS_ENABLED)
		return target;
	return NULL;
}

/*
 * Other changes of such a table, and an UPDATE or DELETE in a WITH query,
 * would run on the workers as the role, whose shards show it no row:
 * refused, saying why, rather than changing nothing (or, for MERGE,
 * inserting rows it should have matched).
 */
static void
refuse_changes_under_rules(Query *parse, RangeTblEntry *target, GatherContext *ctx)
{
	ListCell   *lc;

	if (target == NULL && parse->hasModifyingCTE)
		foreach(lc, parse->cteList)
		{
			CommonTableExpr *cte = lfirst_node(CommonTableExpr, lc);

			if (IsA(cte->ctequery, Query) &&
				(target = changed_under_rules((Query *) cte->ctequery, ctx)) != NULL)
				break;
		}
	if (target != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("MERGE, INSERT ... ON CONFLICT DO UPDATE, and UPDATE or DELETE in a WITH query, of Citus table \"%s\" under consent, scope or retention rules, by another role than the owner, are not supported",
						get_rel_name(target->relid)),
				 errdetail("Only a plain UPDATE or DELETE of such a table runs on the workers with the rules; the shards show other roles than the owner no row."),
				 errhint("Use a plain INSERT, UPDATE or DELETE, or change such rows as the table's owner.")));
}

/*
 * Citus never applies a changed table's row security quals on the
 * coordinator (it leaves row security to the shards, which do not have
 * privstat's rules): a change of a Citus table under the rules that still
 * carries them, whichever role they are for, would run without them.
 */
static void
refuse_unapplied_row_security(Query *parse, GatherContext *ctx)
{
	RangeTblEntry *target;

	if (parse->resultRelation == 0 || parse->commandType == CMD_INSERT)
		return;
	target = rt_fetch(parse->resultRelation, parse->rtable);
	if (target->rtekind == RTE_RELATION && target->securityQuals != NIL &&
		citus_table(target->relid, ctx) && has_rules(target->relid))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("this change of Citus table \"%s\" under consent, scope or retention rules is not supported",
						get_rel_name(target->relid)),
				 errdetail("Its row security is another role's (a rule's or a view's owner's), and Citus would not apply it."),
				 errhint("Change such rows as the table's owner, or in a plain UPDATE or DELETE of the role's own.")));
}

/* privstat._citus_rows(regclass, smallint[], boolean), or InvalidOid before 0.3.0 */
static Oid
rows_function(void)
{
	Oid			args[3] = {REGCLASSOID, INT2ARRAYOID, BOOLOID};

	return privstat_function_ok("_citus_rows", 3, args, true);
}

/*
 * The settings a plan owner_write rewrote runs under, while Citus writes it
 * as text and sends it (when it plans it, and again when it evaluates its
 * parameters and stable functions): values in the one output a worker
 * reads back the same whatever its own settings (a date in the session's
 * DateStyle could be read as another day, a float with fewer digits as
 * another number, widening the rules); and no local execution of a shard
 * on the coordinator, which Citus plans once, as the role, and keeps for a
 * prepared statement (its row security on the shard, no row, included).
 * Returns the GUC nest level to end.
 */
static const char *const owner_write_settings[][2] = {
	{"DateStyle", "ISO, MDY"},
	{"IntervalStyle", "postgres"},
	{"extra_float_digits", "3"},
	{"standard_conforming_strings", "on"},
	{"lc_monetary", "C"},
	{"bytea_output", "hex"},
	{"citus.enable_local_execution", "off"},
};

static int
owner_write_settings_pin(void)
{
	int			nest = NewGUCNestLevel();

	for (size_t i = 0; i < lengthof(owner_write_settings); i++)
		if (GetConfigOption(owner_write_settings[i][0], true, false) != NULL)
			(void) set_config_option(owner_write_settings[i][0], owner_write_settings[i][1], PGC_SUSET,
									 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	return nest;
}

/*
 * Citus passes SET LOCAL, RESET and SET TRANSACTION on to the workers while
 * citus.propagate_set_commands = local: the query string that holds them,
 * to every connection of the transaction (the owner's too, which are kept
 * for the session) and again at the start of each later one.  A
 * search_path of the role's there would choose the functions the owner
 * runs.  So: a change under the rules is refused after such a command in
 * its transaction (set_local_passed_on); such a command is refused after a
 * change under the rules in its transaction (owner_write_ran: the owner's
 * connections are open, and deferred triggers of the shards yet to fire),
 * and in a query string that holds anything else (a plain SET there would
 * reach the owner's connections for the rest of the session).
 */
static bool set_local_passed_on = false;
static bool owner_write_ran = false;

static void
refuse_set_local_passed_on(void)
{
	if (set_local_passed_on)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("an UPDATE or DELETE under consent, scope or retention rules of a Citus table cannot follow a SET LOCAL that Citus passed on to the workers"),
				 errdetail("It runs on the workers as the table's owner; Citus sends the transaction's SET LOCAL commands on the owner's connections too."),
				 errhint("Run it in a transaction without SET LOCAL, or with citus.propagate_set_commands = none.")));
}

/* is the statement at [location, location + len) all of the query string (but blanks and semicolons)? */
static bool
whole_query_string(const char *query, int location, int len)
{
	int			n = strlen(query);
	int			end = len > 0 ? location + len : n;

	for (int i = 0; i < n; i++)
		if ((i < location || i >= end) && !isspace((unsigned char) query[i]) && query[i] != ';')
			return false;
	return true;
}

static void
citus_ProcessUtility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
					 ProcessUtilityContext context, ParamListInfo params, QueryEnvironment *queryEnv,
					 DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *stmt = pstmt->utilityStmt;

	if (IsA(stmt, VariableSetStmt) && citus_loaded())
	{
		VariableSetStmt *set = (VariableSetStmt *) stmt;
		const char *propagate = GetConfigOption("citus.propagate_set_commands", true, false);
		bool		passed_on = set->kind == VAR_RESET || set->kind == VAR_RESET_ALL ||
			(set->kind == VAR_SET_MULTI && strcmp(set->name, "TRANSACTION") == 0) || set->is_local;

		if (passed_on && propagate != NULL && pg_strcasecmp(propagate, "none") != 0)
		{
			if (owner_write_ran || queryString == NULL ||
				!whole_query_string(queryString, pstmt->stmt_location, pstmt->stmt_len))
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("a SET, RESET or SET TRANSACTION that Citus passes on to the workers must be a statement of its own, before any UPDATE or DELETE under consent, scope or retention rules in its transaction"),
						 errdetail("Citus sends the whole query string on the table owner's connections, which privstat uses for such changes."),
						 errhint("Send it alone, or set citus.propagate_set_commands = none.")));
			set_local_passed_on = true;
		}
	}
	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
}

static void
citus_xact_callback(XactEvent event, void *arg pg_attribute_unused())
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT || event == XACT_EVENT_PREPARE ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT)
	{
		set_local_passed_on = false;
		owner_write_ran = false;
	}
}

static PlannedStmt *
citus_planner(Query *parse, const char *query_string, int cursorOptions,
			  ParamListInfo boundParams)
{
	GatherContext ctx;
	PlannedStmt *result;
	ListCell   *lc;
	Oid			owner_write_relid = InvalidOid;
	int			nest = -1;

	/*
	 * A statement the coordinator sends is text, written with
	 * standard_conforming_strings and array_nulls on: read otherwise, a
	 * backslash in a string ends it early (the rest would run as SQL, as the
	 * owner, for a change under the rules).  Refused here, on the node that
	 * reads it.
	 */
	if ((!standard_conforming_strings || !Array_nulls) && application_name != NULL &&
		strncmp(application_name, "citus_internal", 14) == 0 && citus_loaded())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("privstat needs standard_conforming_strings and array_nulls on, on every Citus node"),
				 errdetail("The coordinator sends statements as text written with both on."),
				 errhint("Reset standard_conforming_strings and array_nulls on this node (both are on by default).")));

	ctx.gathered = NIL;
	ctx.marks = NIL;
	ctx.partition_rel = InvalidOid;
	if (citus_loaded() && parse->commandType != CMD_UTILITY)
	{
		ctx.partition_rel = citus_catalog("pg_dist_partition");
		ctx.partition_index = citus_catalog("pg_dist_partition_logical_relid_index");
		ctx.secured_only = true;
	}
	/* an UPDATE or DELETE under privstat's rules by a role they apply to */
	if (OidIsValid(ctx.partition_rel))
	{
		RangeTblEntry *target = changed_under_rules(parse, &ctx);

		if (target != NULL && (parse->commandType == CMD_UPDATE || parse->commandType == CMD_DELETE))
			owner_write_relid = owner_write(parse, target, &ctx);
		else
			refuse_changes_under_rules(parse, target, &ctx);
		refuse_unapplied_row_security(parse, &ctx);
	}
	if (OidIsValid(ctx.partition_rel) &&
		(has_dp_aggregate_walker((Node *) parse, NULL) || citus_rte_walker((Node *) parse, &ctx)))
	{
		Oid			args[4] = {REGCLASSOID, INT2ARRAYOID, BOOLOID, OIDOID};

		ctx.rows_function = rows_function();
		ctx.reader_function = privstat_function_ok("_citus_reader_rows", 4, args, true);
		ctx.reader_used = false;
		if (OidIsValid(ctx.rows_function))
			gather_query(parse, &ctx);

		/*
		 * A statement that still has a Citus table (the one it writes) is
		 * planned by Citus, which may keep a part of it, rows read by
		 * _citus_reader_rows included (before the row security quals that
		 * stay on the coordinator), as an intermediate result that
		 * read_intermediate_result() shows to anyone.  Refused.
		 */
		ctx.secured_only = false;
		if (ctx.reader_used && citus_rte_walker((Node *) parse, &ctx))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("a statement that writes Citus table \"%s\" cannot read Citus tables under row security or with another role's rights",
							get_rel_name(ctx.found)),
					 errdetail("The rows are read on the coordinator, as the table's owner, and Citus could keep them for the write."),
					 errhint("Write into a table that is not distributed.")));
	}
	if (OidIsValid(owner_write_relid))
		nest = owner_write_settings_pin();
	if (prev_planner)
		result = prev_planner(parse, query_string, cursorOptions, boundParams);
	else
		result = standard_planner(parse, query_string, cursorOptions, boundParams);
	if (nest >= 0)
		AtEOXact_GUC(true, nest);
	/* a cached plan is made again when a table it gathers changes */
	result->relationOids = list_concat_unique_oid(result->relationOids, ctx.gathered);
	foreach(lc, ctx.marks)
	{
		PlanInvalItem *item = makeNode(PlanInvalItem);

		item->cacheId = PARTIALS_MARK;
		item->hashValue = (uint32) lfirst_int(lc);
		result->invalItems = lappend(result->invalItems, item);
	}
	if (OidIsValid(owner_write_relid))
	{
		PlanInvalItem *item = makeNode(PlanInvalItem);

		item->cacheId = OWNER_WRITE_MARK;
		item->hashValue = (uint32) owner_write_relid;
		result->invalItems = lappend(result->invalItems, item);
	}
	return result;
}

/* the table a plan owner_write rewrote changes, or InvalidOid */
static Oid
owner_write_mark(PlannedStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->invalItems)
	{
		PlanInvalItem *item = lfirst_node(PlanInvalItem, lc);

		if (item->cacheId == OWNER_WRITE_MARK)
			return (Oid) item->hashValue;
	}
	return InvalidOid;
}

/* the role whose UPDATE or DELETE owner_write made runs now as the table's owner, or InvalidOid */
static Oid	changing_role = InvalidOid;

Oid
privstat_citus_changing_role(void)
{
	return changing_role;
}

/* a plan marked by the rewrite: its _citus_partials calls may run while it runs */
static void
citus_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	MarkedRun  *run = NULL;
	MemoryContext old;
	ListCell   *lc;
	int			nest = -1;

	if (OidIsValid(owner_write_mark(queryDesc->plannedstmt)))
	{
		refuse_set_local_passed_on();
		/* the workers' plans, run as the owner, would count the hidden rows each condition removes */
		if (queryDesc->instrument_options != 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("EXPLAIN ANALYZE of an UPDATE or DELETE under consent, scope or retention rules of a Citus table is not supported"),
					 errdetail("Its plans on the workers run as the table's owner and would count the rows the rules hide."),
					 errhint("Use EXPLAIN without ANALYZE.")));
		nest = owner_write_settings_pin();
	}
	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
	if (nest >= 0)
		AtEOXact_GUC(true, nest);
	if (!citus_loaded() || (eflags & EXEC_FLAG_EXPLAIN_ONLY))
		return;
	old = MemoryContextSwitchTo(queryDesc->estate->es_query_cxt);
	foreach(lc, queryDesc->plannedstmt->invalItems)
	{
		PlanInvalItem *item = lfirst_node(PlanInvalItem, lc);

		if (item->cacheId != PARTIALS_MARK)
			continue;
		if (run == NULL)
			run = privstat_query_state_new(queryDesc, sizeof(MarkedRun), &marked_runs);
		/* in the query's memory, which ends with the run */
		run->marks = lappend_int(run->marks, (int) item->hashValue);
	}
	MemoryContextSwitchTo(old);
}

static void
run_next(QueryDesc *queryDesc, ScanDirection direction, uint64 count, bool execute_once)
{
	if (prev_ExecutorRun)
		prev_ExecutorRun(queryDesc, direction, count, execute_once);
	else
		standard_ExecutorRun(queryDesc, direction, count, execute_once);
}

/* a plan owner_write rewrote runs as the owner of the table it changes */
static void
citus_ExecutorRun(QueryDesc *queryDesc, ScanDirection direction, uint64 count, bool execute_once)
{
	Oid			relid = owner_write_mark(queryDesc->plannedstmt);
	Oid			save_userid;
	int			save_sec_context;
	Oid			save_changing_role = changing_role;
	MemoryContext old_context = CurrentMemoryContext;
	HeapTuple	tup;
	int			nest;

	if (!OidIsValid(relid))
	{
		run_next(queryDesc, direction, count, execute_once);
		return;
	}
	/* locked since ExecutorStart: the owner it was planned for (a new owner invalidates the plan) */
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	/* refuse_set_local_passed_on() ran at ExecutorStart, just before: nothing runs between them */
	nest = owner_write_settings_pin();
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	changing_role = save_userid;
	SetUserIdAndSecContext(((Form_pg_class) GETSTRUCT(tup))->relowner,
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	ReleaseSysCache(tup);
	owner_write_ran = true;
	PG_TRY();
	{
		run_next(queryDesc, direction, count, execute_once);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		SetUserIdAndSecContext(save_userid, save_sec_context);
		changing_role = save_changing_role;

		/*
		 * The workers show the owner, who sees every row, the values of
		 * rows in an error's detail (a key a hidden row holds, a failing
		 * row): PostgreSQL shows none to a role under row security.
		 */
		MemoryContextSwitchTo(old_context);
		edata = CopyErrorData();
		FlushErrorState();
		if (edata->detail != NULL)
			edata->detail = pstrdup("privstat withholds the detail: it may show values of rows the rules hide.");
		ReThrowError(edata);
	}
	PG_END_TRY();
	SetUserIdAndSecContext(save_userid, save_sec_context);
	changing_role = save_changing_role;
	AtEOXact_GUC(true, nest);
}

PG_FUNCTION_INFO_V1(privstat_citus_new_row_ok);

/*
 * privstat._citus_new_row_ok(ok, tbl, policy, value): value, or
 * PostgreSQL's error for a new row that fails row security (ok false or
 * NULL), in an UPDATE owner_write rewrote.
 */
Datum
privstat_citus_new_row_ok(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0) || !PG_GETARG_BOOL(0))
	{
		const char *table = PG_ARGISNULL(1) ? "?" : text_to_cstring(PG_GETARG_TEXT_PP(1));

		if (!PG_ARGISNULL(2))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("new row violates row-level security policy \"%s\" for table \"%s\"",
							text_to_cstring(PG_GETARG_TEXT_PP(2)), table)));
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("new row violates row-level security policy for table \"%s\"", table)));
	}
	if (PG_ARGISNULL(3))
		PG_RETURN_NULL();
	PG_RETURN_DATUM(PG_GETARG_DATUM(3));
}

void
privstat_citus_init(void)
{
	prev_planner = planner_hook;
	planner_hook = citus_planner;
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = citus_ExecutorStart;
	prev_ExecutorRun = ExecutorRun_hook;
	ExecutorRun_hook = citus_ExecutorRun;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = citus_ProcessUtility;
	RegisterXactCallback(citus_xact_callback, NULL);
}

/*
 * Run sql (read-only, through SPI, as the caller) and put its rows into the
 * set-returning function's tuplestore, whose expected columns its columns
 * must match in number and type.  With states, the states in its rows are
 * stamped for their merges (privstat_dp_state_stamp), and a state may come
 * as the COUNTED_COLUMNS columns it is built from (counted_columns).
 */
static void
spi_rows(FunctionCallInfo fcinfo, const char *sql, int nargs, Oid *argtypes, Datum *args, bool states,
		 const int *fixed_from)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TupleDesc	expected = rsinfo->setDesc;
	Oid			state_type = states ? privstat_dp_state_type(false) : InvalidOid;
	Oid			hist_type = states ? privstat_dp_state_type(true) : InvalidOid;
	Datum	   *values = palloc(sizeof(Datum) * (expected->natts + 1));
	bool	   *nulls = palloc(sizeof(bool) * (expected->natts + 1));
	int		   *from = palloc(sizeof(int) * (expected->natts + 1));	/* its first column in the query */
	bool	   *built = palloc0(sizeof(bool) * (expected->natts + 1));	/* from counted columns */
	Datum	   *got_values = NULL;
	bool	   *got_nulls = NULL;
	MemoryContext rowcxt = AllocSetContextCreate(CurrentMemoryContext, "privstat partials row",
												 ALLOCSET_SMALL_SIZES);
	Portal		portal;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	portal = SPI_cursor_open_with_args(NULL, sql, nargs, argtypes, args, NULL, true, 0);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, 1000);
		if (SPI_processed == 0)
			break;
		if (got_values == NULL)
		{
			TupleDesc	got = SPI_tuptable->tupdesc;
			int			g = 0;

			for (int i = 0; i < expected->natts; i++)
			{
				Oid			type = TupleDescAttr(expected, i)->atttypid;

				if (fixed_from != NULL)
				{
					/* the query's column, or -1 for a NULL */
					from[i] = fixed_from[i];
					if (from[i] >= 0 &&
						(from[i] >= got->natts || TupleDescAttr(got, from[i])->atttypid != type))
						elog(ERROR, "privstat: column %d is of another type than expected", from[i] + 1);
					g += from[i] >= 0;
					continue;
				}
				from[i] = g;
				if (g < got->natts && type == state_type && TupleDescAttr(got, g)->atttypid == INT4OID)
				{
					for (int k = 0; k < COUNTED_COLUMNS; k++, g++)
						if (g >= got->natts || TupleDescAttr(got, g)->atttypid != counted_types[k])
							elog(ERROR, "privstat: column %d is of another type than expected", g + 1);
					built[i] = true;
				}
				else if (g >= got->natts || TupleDescAttr(got, g++)->atttypid != type)
					elog(ERROR, "privstat: column %d is of another type than expected", g);
			}
			if (g != got->natts)
				elog(ERROR, "privstat: %d columns, %d expected", got->natts, g);
			got_values = palloc(sizeof(Datum) * (got->natts + 1));
			got_nulls = palloc(sizeof(bool) * (got->natts + 1));
		}
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			MemoryContext old = MemoryContextSwitchTo(rowcxt);

			heap_deform_tuple(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, got_values, got_nulls);
			for (int i = 0; i < expected->natts; i++)
			{
				Oid			type = TupleDescAttr(expected, i)->atttypid;
				Datum	   *v = got_values + from[i];
				bool	   *n = got_nulls + from[i];

				if (from[i] < 0)
				{
					values[i] = (Datum) 0;
					nulls[i] = true;
					continue;
				}
				if (built[i])
				{
					/* kind, integer input, lower, upper, epsilon, count: never null */
					for (int k = 0; k < COUNTED_COLUMNS - 1; k++)
						if (n[k])
							elog(ERROR, "privstat: a partial count of column %d is null", from[i] + k + 1);
					values[i] = privstat_dp_state_of(DatumGetInt32(v[0]), DatumGetBool(v[1]),
													 DatumGetFloat8(v[2]), DatumGetFloat8(v[3]),
													 DatumGetFloat8(v[4]), DatumGetInt64(v[5]),
													 v[6], n[6]);
					nulls[i] = false;
				}
				else
				{
					values[i] = v[0];
					nulls[i] = n[0];
				}
				if (states && !nulls[i] && (type == state_type || type == hist_type))
					values[i] = privstat_dp_state_stamp(values[i], type == hist_type);
			}
			tuplestore_putvalues(rsinfo->setResult, expected, values, nulls);
			MemoryContextSwitchTo(old);
			MemoryContextReset(rowcxt);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	SPI_finish();
	MemoryContextDelete(rowcxt);
}

/* the number of columns the set-returning function's caller expects */
static int
rsinfo_natts(FunctionCallInfo fcinfo)
{
	return ((ReturnSetInfo *) fcinfo->resultinfo)->setDesc->natts;
}

/*
 * The SELECT of _citus_rows and _citus_reader_rows: the columns listed of
 * the table, which fill their places in the calling statement's column
 * definition list (the table's column positions at plan time); from[i] is
 * the SELECT's column of place i, or -1 for a NULL.  (A NULL cast to the
 * column's type would fail for a domain that is NOT NULL.)
 */
static char *
rows_query(FunctionCallInfo fcinfo, Relation rel, ArrayType *array, bool only, int **from)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TupleDesc	expected = rsinfo->setDesc;
	TupleDesc	desc = RelationGetDescr(rel);
	Datum	   *attnos;
	bool	   *attnulls;
	int			nattnos;
	bool	   *listed;
	int			n = 0;
	StringInfoData sql;

	deconstruct_array(array, INT2OID, sizeof(int16), true, TYPALIGN_SHORT,
					  &attnos, &attnulls, &nattnos);
	listed = palloc0(sizeof(bool) * (expected->natts + 1));
	for (int i = 0; i < nattnos; i++)
	{
		int			attno = attnulls[i] ? 0 : DatumGetInt16(attnos[i]);

		if (attno < 1 || attno > expected->natts || attno > desc->natts ||
			TupleDescAttr(desc, attno - 1)->attisdropped ||
			TupleDescAttr(desc, attno - 1)->atttypid != TupleDescAttr(expected, attno - 1)->atttypid)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("column %d of table \"%s\" is not what the query was planned for", attno,
							RelationGetRelationName(rel)),
					 errhint("Run the query again: its plan is from before the table changed.")));
		listed[attno] = true;
	}

	*from = palloc(sizeof(int) * (expected->natts + 1));
	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	for (int attno = 1; attno <= expected->natts; attno++)
	{
		(*from)[attno - 1] = listed[attno] ? n : -1;
		if (!listed[attno])
			continue;
		if (n++ > 0)
			appendStringInfoString(&sql, ", ");
		appendStringInfoString(&sql, quote_identifier(NameStr(TupleDescAttr(desc, attno - 1)->attname)));
	}
	appendStringInfo(&sql, " FROM %s%s", only ? "ONLY " : "",
					 quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
												RelationGetRelationName(rel)));
	return sql.data;
}

/*
 * privstat._citus_rows(table, columns, only): the rows of a Citus table, as
 * the coordinator's statement that replaced the table by this call expects
 * them (rows_query).  The SELECT runs through SPI as the caller, so Citus
 * distributes it to the workers as any other, and the caller's permissions
 * and the table's row security apply.
 */
PG_FUNCTION_INFO_V1(privstat_citus_rows);
Datum
privstat_citus_rows(PG_FUNCTION_ARGS)
{
	Relation	rel;
	char	   *sql;
	int		   *from;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	rel = table_open(PG_GETARG_OID(0), AccessShareLock);
	sql = rows_query(fcinfo, rel, PG_GETARG_ARRAYTYPE_P(1), PG_GETARG_BOOL(2), &from);
	table_close(rel, NoLock);
	spi_rows(fcinfo, sql, 0, NULL, NULL, false, from);
	return (Datum) 0;
}

/*
 * privstat._citus_reader_rows(table, columns, only): the same rows, for a
 * restricted role's validated statement, which reads the protected table
 * with privstat_reader's rights.  Those cannot reach the workers (the role
 * cannot log in), so the SELECT runs as the table's owner, with privstat
 * checking that privstat_reader may read the table (as the executor would
 * have), and only for the call the rewrite wrote into that statement: a
 * call whose node carries READER_CALL_MARK, which no SQL can write.  Its
 * rows go nowhere but into the statement privstat validated.  (gather_rte
 * refuses tables with row security, which the owner would not be subject
 * to.)
 */
PG_FUNCTION_INFO_V1(privstat_citus_reader_rows);
Datum
privstat_citus_reader_rows(PG_FUNCTION_ARGS)
{
	Node	   *call = fcinfo->flinfo->fn_expr;
	Oid			relid = PG_GETARG_OID(0);
	Oid			role = OidIsValid(PG_GETARG_OID(3)) ? PG_GETARG_OID(3) : GetUserId();
	Relation	rel;
	char	   *sql;
	int		   *from;
	bool		any = false;
	Oid			owner;
	Oid			save_userid;
	int			save_sec_context;
	int			nest;

	if (call == NULL || !IsA(call, FuncExpr) || ((FuncExpr *) call)->location != READER_CALL_MARK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("privstat._citus_reader_rows runs only in the statement privstat rewrote for it"),
				 errhint("Write the DP query over the distributed table itself.")));
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	rel = table_open(relid, AccessShareLock);
	owner = rel->rd_rel->relowner;

	/*
	 * Written and run under search_path pg_catalog, its names all
	 * qualified; the table stays locked to the end of the transaction, so
	 * the name means this table when the SELECT runs.  pg_stat_statements
	 * keeps to top-level statements meanwhile: with track = all it would
	 * show the row count of this SELECT, an exact answer, to every role.
	 */
	nest = pin_search_path();
	if (GetConfigOption("pg_stat_statements.track", true, false) != NULL)
		(void) set_config_option("pg_stat_statements.track", "top", PGC_SUSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	sql = rows_query(fcinfo, rel, PG_GETARG_ARRAYTYPE_P(1), PG_GETARG_BOOL(2), &from);

	/*
	 * The reading role's right to the columns, as the executor checks it
	 * on a table: the columns read, or any column when none is (count(*)).
	 */
	if (pg_class_aclcheck(relid, role, ACL_SELECT) != ACLCHECK_OK)
	{
		bool		ok = true;

		for (int i = 0; i < rsinfo_natts(fcinfo); i++)
			if (from[i] >= 0)
			{
				any = true;
				ok &= pg_attribute_aclcheck(relid, i + 1, role, ACL_SELECT) == ACLCHECK_OK;
			}
		if (!any)
			ok = pg_attribute_aclcheck_all(relid, role, ACL_SELECT, ACLMASK_ANY) == ACLCHECK_OK;
		if (!ok)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied for table %s", RelationGetRelationName(rel)),
					 errdetail("The rows of Citus table \"%s\" are read for role \"%s\", which may not read them.",
							   RelationGetRelationName(rel), GetUserNameFromId(role, false))));
	}
	table_close(rel, NoLock);

	/* as the owner, in a security-restricted operation, as a maintenance command runs */
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(owner, save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	PG_TRY();
	{
		spi_rows(fcinfo, sql, 0, NULL, NULL, false, from);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec_context);
	}
	PG_END_TRY();
	AtEOXact_GUC(true, nest);
	return (Datum) 0;
}

bool
privstat_citus_gathered(RangeTblEntry *rte)
{
	/* gather_rte keeps relid on the function entries it makes; no SQL makes another */
	return rte->rtekind == RTE_FUNCTION && OidIsValid(rte->relid);
}

/*
 * privstat._citus_partials(query, mac): the rows of a query of partial
 * states that the coordinator's rewrite wrote (partials_query), with each
 * state stamped for its merge.  The query must carry its HMAC under a key
 * derived from the master key, so no other query's states (states combined
 * twice, say) can be stamped.  It runs through SPI as the caller, under
 * search_path pg_catalog (its names are all qualified), so Citus sends it
 * to the workers as any other query.  Its states arrive sealed from the
 * workers and are opened here, in this backend, only.
 */
PG_FUNCTION_INFO_V1(privstat_citus_partials);
Datum
privstat_citus_partials(PG_FUNCTION_ARGS)
{
	char	   *sql = text_to_cstring(PG_GETARG_TEXT_PP(0));
	bytea	   *mac = PG_GETARG_BYTEA_PP(1);
	bytea	   *expect = partials_mac(sql);
	Oid			argtypes[1] = {FLOAT8OID};
	Datum		args[1] = {Float8GetDatum(privstat_default_epsilon)};
	int			nest;

	if (VARSIZE_ANY_EXHDR(mac) != 32 || CRYPTO_memcmp(VARDATA_ANY(mac), VARDATA(expect), 32) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("privstat._citus_partials runs only the queries privstat writes for it"),
				 errhint("Write the DP query over the distributed table itself.")));
	if (!mark_running(mac) || fcinfo->flinfo->fn_expr == NULL || !IsA(fcinfo->flinfo->fn_expr, FuncExpr) ||
		((FuncExpr *) fcinfo->flinfo->fn_expr)->location != PARTIALS_CALL_MARK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("privstat._citus_partials runs only in the statement privstat rewrote for it"),
				 errhint("Write the DP query over the distributed table itself.")));

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	nest = pin_search_path();
	/* $1: privstat.epsilon now, for the partials of calls without an epsilon */
	spi_rows(fcinfo, sql, 1, argtypes, args, true, NULL);
	AtEOXact_GUC(true, nest);
	return (Datum) 0;
}
