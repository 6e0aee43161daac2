/*-------------------------------------------------------------------------
 *
 * pricing.c
 *	  What a plan costs in privacy: the walk over a planned query that adds
 *	  up the epsilon and delta of its DP aggregates, for the budget's charge
 *	  at executor start, EXPLAIN and privstat.dp_cost().
 *
 * The price of each aggregate call comes from its parameters
 * (privstat_dp_aggref_price, dp_agg.c); this file decides which calls are
 * released, and how often, from the shape of the plan.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "nodes/bitmapset.h"
#include "nodes/nodeFuncs.h"
#include "nodes/plannodes.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"

#include "privstat/common.h"
#include "privstat/dp_agg.h"
#include "privstat/guc.h"
#include "privstat/pricing.h"

/*
 * The walk over a plan.  A DP aggregate must be released exactly once per
 * execution of the query, because the budget charges once, at executor
 * start.  Refused, before anything is charged or run, are DP aggregates
 * where PostgreSQL may release them more than once:
 *	- in a plan part that may run more than once: the inner side of a nested
 *	  loop, the recursive term of a recursive CTE, and every subplan that is
 *	  not an init plan of a part that runs once (correlated subqueries, and
 *	  uncorrelated ones that are rescanned, such as ANY/ALL);
 *	- in an Agg with grouping sets (each set releases its own groups);
 *	- finalized below a Gather, where every worker runs the same subtree
 *	  (partial aggregates there are fine: the leader finalizes once).
 */
typedef struct CostContext
{
	double		epsilon;
	double		delta;
	int			count;
	Plan	   *plan;			/* the plan node being walked */
	Bitmapset  *seen;			/* aggnos of that node already counted */
	bool		may_rescan;		/* the node may run more than once */
	bool		under_gather;	/* the node runs in every parallel worker */
	bool		grouping_sets;	/* the node is an Agg with grouping sets */
	bool	   *once;			/* by plan_id: subplans known to run once */
	bool		changed;		/* a subplan was newly found to run once */
	bool		final_pass;		/* marks are settled: count and check */
} CostContext;

static void
refuse_release(const char *where)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("DP aggregates cannot run in a part of the query that may release them more than once"),
			 errdetail("Here: %s.  Each release would spend budget that is charged only once.", where),
			 errhint("Compute the DP aggregate in a subquery that does not refer to the outer query, or in a WITH ... AS MATERIALIZED query, and join its result.")));
}

static bool
cost_expr_walker(Node *node, CostContext *ctx)
{
	if (node == NULL)
		return false;
	if (IsA(node, Aggref))
	{
		Aggref	   *aggref = (Aggref *) node;
		double		epsilon;
		double		delta;

		if (!ctx->final_pass || !privstat_is_dp_aggregate(aggref->aggfnoid))
			return false;
		if (ctx->may_rescan)
			refuse_release("a correlated or rescanned subquery, a LATERAL or nested-loop join, or a recursive query");
		if (ctx->grouping_sets)
			refuse_release("GROUPING SETS, ROLLUP or CUBE");
		if (ctx->under_gather && !DO_AGGSPLIT_SKIPFINAL(aggref->aggsplit))
			refuse_release("a part of a parallel plan that every worker runs");
		/*
		 * Partial aggregates release nothing; identical aggregates share one
		 * state and one release.
		 */
		if (!DO_AGGSPLIT_SKIPFINAL(aggref->aggsplit) &&
			!bms_is_member(aggref->aggno, ctx->seen))
		{
			privstat_dp_aggref_price(aggref, ctx->plan, &epsilon, &delta);
			ctx->seen = bms_add_member(ctx->seen, aggref->aggno);
			ctx->epsilon += epsilon;
			ctx->delta += delta;
			ctx->count++;
		}
		return false;
	}
	return expression_tree_walker(node, cost_expr_walker, (void *) ctx);
}

/* a LIMIT whose count is the constant 0 */
static bool
limit_is_zero(Limit *limit)
{
	Const	   *c = (Const *) limit->limitCount;

	return c != NULL && IsA(c, Const) && !c->constisnull && c->consttype == INT8OID &&
		DatumGetInt64(c->constvalue) == 0;
}

static void
cost_plan_walker(Plan *plan, CostContext *ctx)
{
	ListCell   *lc;
	bool		outer_rescan = ctx->may_rescan;
	bool		outer_gather = ctx->under_gather;

	if (plan == NULL)
		return;

	/* init plans of a part that runs once run once */
	foreach(lc, plan->initPlan)
	{
		SubPlan    *sp = lfirst_node(SubPlan, lc);

		if (!ctx->may_rescan && !ctx->once[sp->plan_id])
		{
			ctx->once[sp->plan_id] = true;
			ctx->changed = true;
		}
	}

	bms_free(ctx->seen);
	ctx->seen = NULL;
	ctx->plan = plan;
	ctx->grouping_sets = IsA(plan, Agg) && ((Agg *) plan)->groupingSets != NIL;
	cost_expr_walker((Node *) plan->targetlist, ctx);
	cost_expr_walker((Node *) plan->qual, ctx);
	/* a custom node that computes aggregates (privstat's bounding node) lists them here */
	if (IsA(plan, CustomScan))
		cost_expr_walker((Node *) ((CustomScan *) plan)->custom_scan_tlist, ctx);
	ctx->grouping_sets = false;

	/*
	 * LIMIT 0 (a client's probe of a result's columns): the executor never
	 * asks the part below for a row, so nothing there is released or paid.
	 */
	if (IsA(plan, Limit) && limit_is_zero((Limit *) plan))
		return;

	if ((IsA(plan, Gather) && !((Gather *) plan)->single_copy) || IsA(plan, GatherMerge))
		ctx->under_gather = true;
	foreach(lc, privstat_plan_children(plan))
		cost_plan_walker((Plan *) lfirst(lc), ctx);
	cost_plan_walker(plan->lefttree, ctx);
	if (IsA(plan, NestLoop) || IsA(plan, RecursiveUnion))
		ctx->may_rescan = true;
	cost_plan_walker(plan->righttree, ctx);
	ctx->may_rescan = outer_rescan;
	ctx->under_gather = outer_gather;
}

static void
cost_walk_all(PlannedStmt *stmt, CostContext *ctx)
{
	ListCell   *lc;
	int			id = 1;			/* plan_ids start at 1 */

	ctx->may_rescan = false;
	ctx->under_gather = false;
	cost_plan_walker(stmt->planTree, ctx);
	foreach(lc, stmt->subplans)
	{
		/* deny by default: only subplans found to be run-once init plans run once */
		ctx->may_rescan = !ctx->once[id++];
		ctx->under_gather = false;
		cost_plan_walker((Plan *) lfirst(lc), ctx);
	}
}

int
privstat_plan_cost(PlannedStmt *stmt, double *epsilon, double *delta)
{
	CostContext ctx = {0};

	ctx.once = palloc0((list_length(stmt->subplans) + 1) * sizeof(bool));
	/* find the subplans that run once, until nothing changes */
	do
	{
		ctx.changed = false;
		cost_walk_all(stmt, &ctx);
	} while (ctx.changed);
	/* then count, and refuse DP aggregates that could be released more than once */
	ctx.final_pass = true;
	cost_walk_all(stmt, &ctx);
	bms_free(ctx.seen);
	pfree(ctx.once);
	/* privstat.min_query_epsilon: a floor under what one query is charged */
	*epsilon = ctx.count > 0 ? Max(ctx.epsilon, privstat_min_query_epsilon) : ctx.epsilon;
	*delta = ctx.delta;
	return ctx.count;
}

PG_FUNCTION_INFO_V1(privstat_dp_cost);

/*
 * privstat.dp_cost(query text): plan a SELECT (without running it) and
 * return what it would spend: (epsilon, delta, dp_aggregates).
 */
Datum
privstat_dp_cost(PG_FUNCTION_ARGS)
{
	char	   *sql = text_to_cstring(PG_GETARG_TEXT_PP(0));
	List	   *raw = pg_parse_query(sql);
	List	   *queries;
	Query	   *query;
	PlannedStmt *stmt;
	TupleDesc	tupdesc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	double		epsilon;
	double		delta;
	int			count;

	if (list_length(raw) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("privstat.dp_cost() takes exactly one query")));
	queries = pg_analyze_and_rewrite_fixedparams(linitial_node(RawStmt, raw), sql,
												 NULL, 0, NULL);
	if (list_length(queries) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("privstat.dp_cost() cannot cost a query that rules rewrite into several")));
	query = linitial_node(Query, queries);
	if (query->commandType != CMD_SELECT || query->utilityStmt != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("privstat.dp_cost() costs SELECT queries only")));
	stmt = pg_plan_query(query, sql, CURSOR_OPT_PARALLEL_OK, NULL);
	count = privstat_plan_cost(stmt, &epsilon, &delta);

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	values[0] = Float8GetDatum(epsilon);
	values[1] = Float8GetDatum(delta);
	values[2] = Int32GetDatum(count);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}
