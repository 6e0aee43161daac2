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
 *	  aggregates, each Citus table it reads is replaced by a call of
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
 *	- A worker (a node whose Citus group is not the coordinator's) never
 *	  charges, releases an answer or changes a budget: a DP query or a
 *	  budget change there is refused (privstat_citus_refuse_on_worker), so
 *	  no role can spend a second budget by connecting to a worker.
 *
 * This module reads Citus's catalog tables (pg_dist_partition,
 * pg_dist_local_group) directly and calls nothing of Citus's, so it needs
 * no Citus headers and does nothing where Citus is not loaded.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/planner.h"
#include "parser/parse_func.h"
#include "parser/parsetree.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "privstat/citus.h"
#include "privstat/dp_agg.h"

static planner_hook_type prev_planner = NULL;

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


/* ---------------------------------------------------------------------------
 * The coordinator: DP statements read Citus tables through privstat._citus_rows
 * ---------------------------------------------------------------------------
 */

typedef struct GatherContext
{
	Oid			partition_rel;	/* pg_dist_partition */
	Oid			partition_index;	/* its index on logicalrelid */
	Oid			rows_function;	/* privstat._citus_rows */
	List	   *gathered;		/* the tables replaced */
} GatherContext;

/* is relid in pg_dist_partition: a distributed, reference or Citus-local table? */
static bool
citus_table(Oid relid, GatherContext *ctx)
{
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	bool		found;

	rel = table_open(ctx->partition_rel, AccessShareLock);
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, ctx->partition_index, OidIsValid(ctx->partition_index),
							  NULL, 1, &key);
	found = HeapTupleIsValid(systable_getnext(scan));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
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

	/*
	 * The function's SELECT runs as the caller, and Citus's queries on the
	 * workers too: a table read with another role's rights (a view owner's,
	 * or privstat_reader's for a restricted role's validated query) would
	 * lose them.  Refused here, before anything is charged.
	 */
	if (OidIsValid(rte->checkAsUser) && rte->checkAsUser != GetUserId())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a DP query cannot read Citus table \"%s\" with the rights of role \"%s\"",
						get_rel_name(rte->relid), GetUserNameFromId(rte->checkAsUser, false)),
				 errdetail("Through Citus the table is read with the rights of the role running the query; views over Citus tables and restricted roles' queries are not supported with DP aggregates yet."),
				 errhint("Run the DP query over the table itself, as a role that may read it.")));

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
	call = makeFuncExpr(ctx->rows_function, RECORDOID,
						list_make3(makeConst(REGCLASSOID, -1, InvalidOid, sizeof(Oid),
											 ObjectIdGetDatum(rte->relid), false, true),
								   makeConst(INT2ARRAYOID, -1, InvalidOid, -1,
											 PointerGetDatum(array), false, false),
								   makeBoolConst(!rte->inh, false)),
						InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
	call->funcretset = true;
	rtfunc->funcexpr = (Node *) call;
	ctx->gathered = lappend_oid(ctx->gathered, rte->relid);

	/* the entry becomes the function's, with the table's column names */
	rte->rtekind = RTE_FUNCTION;
	rte->functions = list_make1(rtfunc);
	rte->funcordinality = false;
	rte->relid = InvalidOid;
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
	rte->securityQuals = NIL;
}

static bool gather_walker(Node *node, GatherContext *ctx);

/* this level's Citus tables (not the one it writes), after the levels below */
static void
gather_query(Query *query, GatherContext *ctx)
{
	int			rti = 0;
	ListCell   *lc;

	(void) query_tree_walker(query, gather_walker, ctx, 0);
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

/* privstat._citus_rows(regclass, smallint[], boolean), or InvalidOid before 0.3.0 */
static Oid
rows_function(void)
{
	Oid			args[3] = {REGCLASSOID, INT2ARRAYOID, BOOLOID};

	return LookupFuncName(list_make2(makeString("privstat"), makeString("_citus_rows")), 3, args, true);
}

static PlannedStmt *
citus_planner(Query *parse, const char *query_string, int cursorOptions,
			  ParamListInfo boundParams)
{
	GatherContext ctx;
	PlannedStmt *result;

	ctx.gathered = NIL;
	if (citus_loaded() && parse->commandType != CMD_UTILITY &&
		OidIsValid(ctx.partition_rel = citus_catalog("pg_dist_partition")) &&
		has_dp_aggregate_walker((Node *) parse, NULL))
	{
		ctx.partition_index = citus_catalog("pg_dist_partition_logical_relid_index");
		ctx.rows_function = rows_function();
		if (OidIsValid(ctx.rows_function))
			gather_query(parse, &ctx);
	}
	if (prev_planner)
		result = prev_planner(parse, query_string, cursorOptions, boundParams);
	else
		result = standard_planner(parse, query_string, cursorOptions, boundParams);
	/* a cached plan is made again when a table it gathers changes */
	result->relationOids = list_concat_unique_oid(result->relationOids, ctx.gathered);
	return result;
}

void
privstat_citus_init(void)
{
	prev_planner = planner_hook;
	planner_hook = citus_planner;
}

/*
 * privstat._citus_rows(table, columns, only): the rows of a Citus table, as
 * the coordinator's statement that replaced the table by this call expects
 * them (its column definition list, which has the table's column positions
 * at plan time): the columns listed, NULL in the others.  The SELECT runs
 * through SPI as the caller, so Citus distributes it to the workers as any
 * other, and the caller's permissions and the table's row security apply.
 */
PG_FUNCTION_INFO_V1(privstat_citus_rows);
Datum
privstat_citus_rows(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	ArrayType  *array = PG_GETARG_ARRAYTYPE_P(1);
	bool		only = PG_GETARG_BOOL(2);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TupleDesc	expected;
	Relation	rel;
	TupleDesc	desc;
	Datum	   *attnos;
	bool	   *attnulls;
	int			nattnos;
	bool	   *listed;
	StringInfoData sql;
	Portal		portal;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	expected = rsinfo->setDesc;
	deconstruct_array(array, INT2OID, sizeof(int16), true, TYPALIGN_SHORT,
					  &attnos, &attnulls, &nattnos);

	rel = table_open(relid, AccessShareLock);
	desc = RelationGetDescr(rel);
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

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	for (int attno = 1; attno <= expected->natts; attno++)
	{
		Form_pg_attribute att = TupleDescAttr(expected, attno - 1);

		if (attno > 1)
			appendStringInfoString(&sql, ", ");
		if (listed[attno])
			appendStringInfoString(&sql,
								   quote_identifier(NameStr(TupleDescAttr(desc, attno - 1)->attname)));
		else
			appendStringInfo(&sql, "NULL::%s",
							 format_type_with_typemod(att->atttypid, att->atttypmod));
	}
	if (expected->natts == 0)
		appendStringInfoString(&sql, "1");
	appendStringInfo(&sql, " FROM %s%s", only ? "ONLY " : "",
					 quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
												RelationGetRelationName(rel)));
	table_close(rel, AccessShareLock);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	portal = SPI_cursor_open_with_args(NULL, sql.data, 0, NULL, NULL, NULL, true, 0);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, 1000);
		if (SPI_processed == 0)
			break;
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			Datum	   *values = palloc(sizeof(Datum) * (expected->natts + 1));
			bool	   *nulls = palloc(sizeof(bool) * (expected->natts + 1));

			heap_deform_tuple(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, values, nulls);
			tuplestore_putvalues(rsinfo->setResult, expected, values, nulls);
			pfree(values);
			pfree(nulls);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	SPI_finish();
	return (Datum) 0;
}
