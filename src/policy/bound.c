/*-------------------------------------------------------------------------
 *
 * bound.c
 *	  User-level privacy: contribution bounding and group selection.
 *
 * Neighbouring datasets differ by all rows of one privacy unit.  An
 * aggregating level over protected rows is rewritten so that each unit
 * counts in at most k = max_groups_contributed groups, with at most m =
 * max_rows_contributed rows in each, and so that a group is released only
 * when its noisy count of units passes a threshold (or its keys are public):
 *
 *	 SELECT keys..., count(*), sum(x) FROM t WHERE w GROUP BY keys HAVING h
 * becomes
 *	 SELECT keys..., <DP aggregates over the contributions> FROM
 *	   (SELECT keys..., contributions..., row_number() OVER
 *			   (PARTITION BY unit ORDER BY privstat._contribution_rank())
 *		  FROM (SELECT keys..., unit, contributions...	-- the level itself
 *				  FROM t WHERE w GROUP BY keys..., unit) AS privstat_contributions
 *	   ) AS privstat_units
 *	 WHERE row_number <= k GROUP BY keys...
 *	 HAVING h AND privstat.dp_group_selected(selection epsilon, delta, k)
 *
 * The innermost level keeps the original FROM and WHERE (row security and
 * everything validated above stay with them) and computes, per unit and
 * group, its contribution: least(count, m) for counts, and for sums its
 * total of clamped values scaled to at most m rows.  The middle level picks
 * k of each unit's groups uniformly at random (a CSPRNG rank, never "first
 * seen").  The outer DP aggregates add noise scaled to k m times the bound
 * of one row (doc/user-level.md gives the formulas).  Every unit's
 * contribution is bounded in the innermost level, before any state is
 * merged, so a table distributed by its unit can bound on each node.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_oper.h"
#include "parser/parsetree.h"
#include "rewrite/rewriteManip.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/syscache.h"

#include "privstat/common.h"
#include "privstat/dp_agg.h"
#include "privstat/dp_mech.h"
#include "privstat/guc.h"

#include "policy_internal.h"

static void level_unit(Level *lev);

/* the notice of a join whose protected tables have different bounds: once per statement */
bool		bounds_noticed = false;

static Var *
plain_var(Node *node)
{
	while (node != NULL && IsA(node, RelabelType))
		node = (Node *) ((RelabelType *) node)->arg;
	if (node != NULL && IsA(node, Var) && ((Var *) node)->varlevelsup == 0 &&
		((Var *) node)->varattno > 0)
		return (Var *) node;
	return NULL;
}

/* a source of a level's rows and its bounds, for the join notice */
static void
note_bounds(StringInfo note, const char *name, int k, int m, int *first_k, int *first_m, bool *differ)
{
	if (note->len == 0)
	{
		*first_k = k;
		*first_m = m;
	}
	else
	{
		appendStringInfoString(note, ", ");
		if (k != *first_k || m != *first_m)
			*differ = true;
	}
	appendStringInfo(note, "%s (%d %s, %d %s)", name, k, k == 1 ? "group" : "groups",
					 m, m == 1 ? "row" : "rows");
}

/*
 * The output column of a raw sub-level (subquery or CTE) that carries its
 * privacy unit: one of its columns when it already selects the unit, else a
 * new last column.
 */
static AttrNumber
sub_unit_column(Level *lev, Level *sub, RangeTblEntry *rte)
{
	ListCell   *lc;
	TargetEntry *tle;
	Oid			type;
	int32		typmod;
	Oid			coll;

	level_unit(sub);
	if (sub->unit_resno == 0)
	{
		foreach(lc, sub->query->targetList)
		{
			tle = lfirst(lc);
			if (!tle->resjunk && equal(tle->expr, sub->unit))
			{
				sub->unit_resno = tle->resno;
				break;
			}
		}
	}
	if (sub->unit_resno == 0)
	{
		tle = makeTargetEntry((Expr *) copyObject(sub->unit),
							  list_length(sub->query->targetList) + 1,
							  pstrdup("privstat_unit"), false);
		sub->query->targetList = lappend(sub->query->targetList, tle);
		sub->unit_resno = tle->resno;
	}
	type = exprType(sub->unit);
	typmod = exprTypmod(sub->unit);
	coll = exprCollation(sub->unit);
	/* the range table entry (and a CTE's column lists) must know the column */
	while (list_length(rte->eref->colnames) < sub->unit_resno)
		rte->eref->colnames = lappend(rte->eref->colnames, makeString(pstrdup("privstat_unit")));
	if (rte->rtekind == RTE_CTE)
	{
		CteInfo    *info = cte_info(lev, rte);
		CommonTableExpr *cte;

		if (info == NULL)
			elog(ERROR, "privstat: WITH query \"%s\" not found", rte->ctename);
		cte = info->cte;
		while (list_length(cte->ctecolnames) < sub->unit_resno)
		{
			cte->ctecolnames = lappend(cte->ctecolnames, makeString(pstrdup("privstat_unit")));
			cte->ctecoltypes = lappend_oid(cte->ctecoltypes, type);
			cte->ctecoltypmods = lappend_int(cte->ctecoltypmods, typmod);
			cte->ctecolcollations = lappend_oid(cte->ctecolcollations, coll);
		}
		while (list_length(rte->coltypes) < sub->unit_resno)
		{
			rte->coltypes = lappend_oid(rte->coltypes, type);
			rte->coltypmods = lappend_int(rte->coltypmods, typmod);
			rte->colcollations = lappend_oid(rte->colcollations, coll);
		}
	}
	return sub->unit_resno;
}

/* the equalities a = b between two columns in the level's join tree */
static void
collect_equalities(Node *quals, List **pairs)
{
	ListCell   *lc;

	foreach(lc, make_ands_implicit((Expr *) quals))
	{
		OpExpr	   *op = lfirst(lc);
		Var		   *a;
		Var		   *b;

		if (!IsA(op, OpExpr) || list_length(op->args) != 2)
			continue;
		a = plain_var(linitial(op->args));
		b = plain_var(lsecond(op->args));
		if (a == NULL || b == NULL || !op_mergejoinable(op->opno, exprType((Node *) a)))
			continue;
		*pairs = lappend(*pairs, list_make2(a, b));
	}
}

static void
jointree_equalities(Node *node, List **pairs)
{
	ListCell   *lc;

	if (node == NULL)
		return;
	if (IsA(node, FromExpr))
	{
		foreach(lc, ((FromExpr *) node)->fromlist)
			jointree_equalities(lfirst(lc), pairs);
		collect_equalities(((FromExpr *) node)->quals, pairs);
	}
	else if (IsA(node, JoinExpr))
	{
		jointree_equalities(((JoinExpr *) node)->larg, pairs);
		jointree_equalities(((JoinExpr *) node)->rarg, pairs);
		collect_equalities(((JoinExpr *) node)->quals, pairs);
	}
}

/* a Var of a join's output column is the column it stands for */
static Node *
resolve_join_var(Query *q, Var *v)
{
	RangeTblEntry *rte = rt_fetch(v->varno, q->rtable);
	Node	   *alias;

	if (rte->rtekind != RTE_JOIN || v->varattno > list_length(rte->joinaliasvars))
		return (Node *) v;
	alias = list_nth(rte->joinaliasvars, v->varattno - 1);
	if (plain_var(alias) == NULL)
		return (Node *) v;
	return resolve_join_var(q, plain_var(alias));
}

/* the class (a list of Vars) holding v, or NULL */
static List *
class_of(List *classes, Node *v)
{
	ListCell   *lc;

	foreach(lc, classes)
	{
		if (list_member(lfirst(lc), v))
			return lfirst(lc);
	}
	return NULL;
}

/*
 * The privacy unit of each row of a level that reads protected rows, the
 * Vars equal to it, and the contribution bounds of the tables it reads (the
 * smallest).  Two protected sources must be joined on their units.
 */
static void
level_unit(Level *lev)
{
	Query	   *q = lev->query;
	List	   *sources = NIL;
	List	   *names = NIL;
	List	   *pairs = NIL;
	List	   *classes = NIL;
	List	   *mine;
	ListCell   *lc;
	StringInfoData note;
	bool		differ = false;
	int			first_k = 0;
	int			first_m = 0;
	int			i = 0;

	if (lev->unit != NULL)
		return;
	initStringInfo(&note);
	check_stack_depth();
	lev->max_groups = INT_MAX;
	lev->max_rows = INT_MAX;
	foreach(lc, q->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);
		RteInfo    *info = &lev->rtes[i++];
		Var		   *v = NULL;

		if (rte->rtekind == RTE_RELATION && info->is_protected)
		{
			ProtectedRel *p = protected_rel(rte->relid);
			AttrNumber	attno = get_attnum(rte->relid, NameStr(p->unit));
			Oid			type;
			int32		typmod;
			Oid			coll;

			if (attno == InvalidAttrNumber)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_COLUMN),
						 errmsg("privacy unit column \"%s\" of protected table %s does not exist",
								NameStr(p->unit), quote_identifier(get_rel_name(rte->relid))),
						 errhint("An administrator names the column again: SELECT privstat.protect('%s', 'user_id');",
								 get_rel_name(rte->relid))));
			get_atttypetypmodcoll(rte->relid, attno, &type, &typmod, &coll);
			v = makeVar(i, attno, type, typmod, coll, 0);
			lev->max_groups = Min(lev->max_groups, p->max_groups);
			lev->max_rows = Min(lev->max_rows, p->max_rows);
			names = lappend(names, get_rel_name(rte->relid));
			note_bounds(&note, quote_identifier(get_rel_name(rte->relid)), p->max_groups, p->max_rows,
						&first_k, &first_m, &differ);
		}
		else if ((rte->rtekind == RTE_SUBQUERY || rte->rtekind == RTE_CTE) &&
				 info->sub != NULL && info->sub->raw)
		{
			AttrNumber	resno = sub_unit_column(lev, info->sub, rte);

			v = makeVar(i, resno, exprType(info->sub->unit), exprTypmod(info->sub->unit),
						exprCollation(info->sub->unit), 0);
			lev->max_groups = Min(lev->max_groups, info->sub->max_groups);
			lev->max_rows = Min(lev->max_rows, info->sub->max_rows);
			names = lappend(names, rte->eref->aliasname);
			note_bounds(&note, quote_identifier(rte->eref->aliasname), info->sub->max_groups,
						info->sub->max_rows, &first_k, &first_m, &differ);
		}
		if (v != NULL)
			sources = lappend(sources, v);
	}
	foreach(lc, lev->sublinks)
	{
		SublinkInfo *s = lfirst(lc);

		if (s->level->raw)
			refuse(lev, "a subquery over protected rows in an expression of an aggregate over protected rows",
				   "Join the protected table in FROM on the privacy unit (ON a.user_id = b.user_id) instead.");
	}
	if (sources == NIL)
		refuse(lev, "an aggregate over protected rows that reach it only through a subquery in an expression",
			   "Join the protected table in FROM, so that every row has its privacy unit.");

	/* classes of columns equal to each other, from the join tree */
	jointree_equalities((Node *) q->jointree, &pairs);
	foreach(lc, sources)
		classes = lappend(classes, list_make1(lfirst(lc)));
	foreach(lc, pairs)
	{
		Node	   *a = resolve_join_var(q, linitial(lfirst(lc)));
		Node	   *b = resolve_join_var(q, lsecond(lfirst(lc)));
		List	   *ca = class_of(classes, a);
		List	   *cb = class_of(classes, b);

		if (ca == NULL)
			classes = lappend(classes, ca = list_make1(a));
		if (cb == NULL)
			cb = list_make1(b);
		else if (ca == cb)
			continue;
		else
			classes = list_delete_ptr(classes, cb);
		/* merge cb into ca (lappend keeps a non-empty list's header) */
		ca = list_concat(ca, cb);
	}
	mine = class_of(classes, linitial(sources));
	for (i = 1; i < list_length(sources); i++)
	{
		if (!list_member(mine, list_nth(sources, i)) ||
			exprType(list_nth(sources, i)) != exprType(linitial(sources)))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("protected tables %s and %s are not joined on their privacy units",
							quote_identifier(linitial(names)), quote_identifier(list_nth(names, i))),
					 errdetail("A row built from both would belong to two people, and privstat bounds what one person contributes."),
					 errhint("Join protected tables on equal privacy units (ON a.user_id = b.user_id), or aggregate each one alone.")));
	}
	lev->unit_vars = mine;
	lev->bounds_note = differ ? note.data : NULL;
	if (list_length(sources) == 1)
		lev->unit = linitial(sources);
	else
	{
		CoalesceExpr *c = makeNode(CoalesceExpr);

		c->coalescetype = exprType(linitial(sources));
		c->coalescecollid = exprCollation(linitial(sources));
		c->args = sources;
		c->location = -1;
		lev->unit = (Node *) c;
	}
}

/* is expr (an aggregate's argument) the level's privacy unit? */
bool
is_unit_expr(Level *lev, Node *expr)
{
	Var		   *v = plain_var(expr);

	level_unit(lev);
	if (equal(expr, lev->unit))
		return true;
	return v != NULL && list_member(lev->unit_vars, resolve_join_var(lev->query, v));
}

/* ---- building query pieces ---- */

static Node *
float8_const(double v)
{
	return (Node *) makeConst(FLOAT8OID, -1, InvalidOid, 8, Float8GetDatum(v), false, true);
}

static Node *
int8_const(int64 v)
{
	return (Node *) makeConst(INT8OID, -1, InvalidOid, 8, Int64GetDatum(v), false, true);
}

static Node *
func_call(Oid fnoid, Oid rettype, List *args)
{
	if (!OidIsValid(fnoid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("privstat's user-level functions are missing from schema privstat"),
				 errhint("ALTER EXTENSION privstat UPDATE.")));
	return (Node *) makeFuncExpr(fnoid, rettype, args, InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
}

static Node *
minmax(MinMaxOp op, Oid type, Node *a, Node *b)
{
	MinMaxExpr *m = makeNode(MinMaxExpr);

	m->minmaxtype = type;
	m->op = op;
	m->args = list_make2(a, b);
	m->location = -1;
	return (Node *) m;
}

/*
 * A value of a protected row as double precision, without an error for any
 * value: numeric through privstat._float8 (PostgreSQL's cast fails beyond
 * the double range, which would tell that such a row exists); the casts of
 * the other numeric types cannot fail.
 */
static Node *
value_float8(Node *expr)
{
	if (exprType(expr) == NUMERICOID)
		return func_call(policy_cache.float8_of_numeric, FLOAT8OID, list_make1(expr));
	return coerce_to(expr, FLOAT8OID);
}

static RangeTblEntry *
subquery_rte(Query *sub, const char *name)
{
	RangeTblEntry *rte = makeNode(RangeTblEntry);
	ListCell   *lc;
	List	   *cols = NIL;

	foreach(lc, sub->targetList)
	{
		TargetEntry *tle = lfirst(lc);

		if (!tle->resjunk)
			cols = lappend(cols, makeString(pstrdup(tle->resname ? tle->resname : "?column?")));
	}
	rte->rtekind = RTE_SUBQUERY;
	rte->subquery = sub;
	rte->eref = makeAlias(name, cols);
	rte->inFromCl = true;
	return rte;
}

static Var *
var_of_tle(Index varno, TargetEntry *tle)
{
	return makeVar(varno, tle->resno, exprType((Node *) tle->expr), exprTypmod((Node *) tle->expr),
				   exprCollation((Node *) tle->expr), 0);
}

static SortGroupClause *
group_clause_for(Oid type, Index ref)
{
	SortGroupClause *g = makeNode(SortGroupClause);
	Oid			sortop;
	Oid			eqop;
	bool		hashable;

	get_sort_group_operators(type, true, true, false, &sortop, &eqop, NULL, &hashable);
	g->tleSortGroupRef = ref;
	g->eqop = eqop;
	g->sortop = sortop;
	g->nulls_first = false;
	g->hashable = hashable;
	return g;
}

static Node *
pg_operator(const char *name, Oid type, Node *a, Node *b, Oid coll)
{
	Oid			opno = LookupOperName(NULL, list_make2(makeString("pg_catalog"), makeString(unconstify(char *, name))),
									  type, type, false, -1);

	return (Node *) make_opclause(opno, BOOLOID, false, (Expr *) a, (Expr *) b, InvalidOid, coll);
}

/* ---- the rewrite of one aggregating level ---- */

typedef struct BoundCtx
{
	Level	   *lev;
	Query	   *inner;			/* the level's FROM and WHERE, grouped by keys and unit */
	int			k;				/* groups per unit (1 without GROUP BY) */
	int			m;				/* rows per unit and group */
	List	   *keys;			/* the group keys' expressions, as in the level */
	List	   *key_vars;		/* what replaces them in the outer query */
	Index		src;			/* range table index of the contributions in the outer query */
	bool		custom;			/* a parameter has no value yet: leave the level as is */
	List	   *done_aggs;		/* aggregates replaced so far ... */
	List	   *done_repl;		/* ... and their replacements */
	List	   *level_aggs;		/* the level's DP aggregates, before replacement */
	bool		fused;			/* one level, bounded by privstat's node (fused.c) */
} BoundCtx;

static Node *
is_not_null(Node *arg)
{
	NullTest   *nt = makeNode(NullTest);

	nt->arg = (Expr *) arg;
	nt->nulltesttype = IS_NOT_NULL;
	nt->argisrow = false;
	nt->location = -1;
	return (Node *) nt;
}

/* the rows a contribution counts: the aggregate's FILTER, and a value that is not NULL */
static Node *
counted_rows(Node *arg, Expr *filter)
{
	List	   *conds = NIL;

	if (arg != NULL)
		conds = lappend(conds, is_not_null(copyObject(arg)));
	if (filter != NULL)
		conds = lappend(conds, copyObject(filter));
	if (conds == NIL)
		return makeBoolConst(true, false);
	return list_length(conds) == 1 ? linitial(conds) : (Node *) make_andclause(conds);
}

static Node *
int4_const(int32 v)
{
	return (Node *) makeConst(INT4OID, -1, InvalidOid, 4, Int32GetDatum(v), false, true);
}

/* a new output column of the inner level; a Var for it in the outer one */
static Node *
add_contribution(BoundCtx *ctx, Node *expr)
{
	TargetEntry *tle = makeTargetEntry((Expr *) expr, list_length(ctx->inner->targetList) + 1,
									   psprintf("privstat_c%d", list_length(ctx->inner->targetList) + 1),
									   false);

	ctx->inner->targetList = lappend(ctx->inner->targetList, tle);
	return (Node *) var_of_tle(ctx->src, tle);
}

/* the value of a DP aggregate's constant argument (a parameter's, when known) */
static bool
arg_value(BoundCtx *ctx, Node *arg, double *out, const char *what, const char *agg)
{
	while (IsA(arg, RelabelType))
		arg = (Node *) ((RelabelType *) arg)->arg;
	if (IsA(arg, Param))
	{
		Const	   *c = param_value((Param *) arg);

		if (c == NULL)
		{
			ctx->custom = true;
			needs_custom_plan = true;
			return false;
		}
		arg = (Node *) c;
	}
	if (!IsA(arg, Const) || ((Const *) arg)->consttype != FLOAT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s of %s must be a constant", what, agg),
				 errdetail("The bounds, epsilon and p of a DP aggregate decide its noise and its cost before the query runs."),
				 errhint("Write the value as a literal, or as an expression of literals.")));
	if (((Const *) arg)->constisnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s of %s must not be null", what, agg)));
	*out = DatumGetFloat8(((Const *) arg)->constvalue);
	return true;
}

/* count rows (count(*)) or values (count(x)) of a unit in a group, at most m */
static Node *
bounded_count(BoundCtx *ctx, Node *arg, Expr *filter, int64 limit)
{
	Aggref	   *count;

	if (ctx->fused)
		return func_call(policy_cache.bounded_count_input, INT8OID,
						 list_make4(int4_const(ctx->k), int4_const((int32) limit),
									copyObject(ctx->lev->unit), counted_rows(arg, filter)));
	count = arg ? privstat_plain_aggref(F_COUNT_ANY, list_make1(copyObject(arg)), filter)
		: privstat_plain_aggref(F_COUNT_, NIL, filter);
	return add_contribution(ctx, minmax(IS_LEAST, INT8OID, (Node *) count, int8_const(limit)));
}

/* a unit's total of clamped values in a group, centred and scaled to m rows */
static Node *
bounded_total(BoundCtx *ctx, Node *arg, Expr *filter, double lower, double upper, double centre)
{
	Node	   *x = value_float8((Node *) copyObject(arg));
	Node	   *clamped = minmax(IS_GREATEST, FLOAT8OID,
								 minmax(IS_LEAST, FLOAT8OID, x, float8_const(upper)),
								 float8_const(lower));
	Aggref	   *sum;
	Aggref	   *n;

	if (ctx->fused)
		return func_call(policy_cache.bounded_value_input, FLOAT8OID,
						 lappend(list_make5(int4_const(ctx->k), int4_const(ctx->m), float8_const(centre),
											copyObject(ctx->lev->unit), clamped),
								 counted_rows(arg, filter)));

	/*
	 * LEAST and GREATEST skip a NULL: the clamp of a NULL value is the upper
	 * bound, so the sum takes only the rows with a value (as n does).
	 */
	sum = privstat_plain_aggref(F_SUM_FLOAT8, list_make1(clamped), (Expr *) counted_rows(arg, filter));
	n = privstat_plain_aggref(F_COUNT_ANY, list_make1(copyObject(arg)), filter);

	return add_contribution(ctx, func_call(policy_cache.bounded_total, FLOAT8OID,
										   list_make4(sum, n,
													  int4_const(ctx->m),
													  float8_const(centre))));
}

/* dp_sum over the contributions: integer ones as bigint, others as double */
static Node *
outer_sum(Node *contrib, double lower, double upper, double epsilon)
{
	return (Node *) privstat_plain_aggref(exprType(contrib) == INT8OID ? policy_cache.dp_sum_int8_eps : policy_cache.dp_sum_float8_eps,
								 list_make4(contrib, float8_const(lower), float8_const(upper),
											float8_const(epsilon)),
								 NULL);
}

/* the bounded replacement of one DP aggregate of the level */
static Node *
bound_aggref(BoundCtx *ctx, Aggref *agg)
{
	List	   *args = NIL;
	ListCell   *lc;
	int			nargs;
	int			kind = privstat_dp_aggregate_kind(agg->aggfnoid);
	double		km = (double) ctx->k * ctx->m;
	double		epsilon = privstat_default_epsilon;
	double		lower = 0.0;
	double		upper = 0.0;
	Node	   *result;

	foreach(lc, agg->args)
		args = lappend(args, ((TargetEntry *) lfirst(lc))->expr);
	nargs = list_length(args);

	if (agg->aggfnoid == policy_cache.dp_count_units[0] || agg->aggfnoid == policy_cache.dp_count_units[1])
	{
		if (!is_unit_expr(ctx->lev, linitial(args)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("dp_count_units() counts the privacy unit of protected table %s",
							example_name(ctx->lev)),
					 errhint("Pass the privacy unit column, as declared by privstat.protect().")));
		if (nargs == 2 && !arg_value(ctx, lsecond(args), &epsilon, "epsilon", "dp_count_units"))
			return (Node *) agg;
		privstat_check_dp_params(DP_COUNT, epsilon, 0.0, 0.0);
		/* each unit counts once in each of its (at most k) groups */
		result = outer_sum(bounded_count(ctx, NULL, agg->aggfilter, 1), 0.0, ctx->k, epsilon);
		return coerce_to(result, agg->aggtype);
	}

	switch (kind)
	{
		case DP_COUNT:
			if (nargs == 2 && !arg_value(ctx, lsecond(args), &epsilon, "epsilon", "dp_count"))
				return (Node *) agg;
			privstat_check_dp_params(kind, epsilon, 0.0, 0.0);
			result = outer_sum(bounded_count(ctx, nargs > 0 ? linitial(args) : NULL, agg->aggfilter, ctx->m),
							   0.0, km, epsilon);
			return coerce_to(result, agg->aggtype);
		case DP_SUM:
		case DP_AVG:
			{
				const char *name = kind == DP_SUM ? "dp_sum" : "dp_avg";

				if (!arg_value(ctx, lsecond(args), &lower, "lower bound", name) ||
					!arg_value(ctx, lthird(args), &upper, "upper bound", name) ||
					(nargs == 4 && !arg_value(ctx, lfourth(args), &epsilon, "epsilon", name)))
					return (Node *) agg;
			}
			privstat_check_dp_params(kind, epsilon, lower, upper);
			if (kind == DP_SUM)
			{
				/*
				 * A contribution lies in min(n, m) [L, U], within
				 * m [min(L, 0), max(U, 0)]: the outer bounds keep the sign
				 * the values have (privstat.consistent_answers reads them),
				 * and their largest magnitude, k m max(|L|, |U|), sets the
				 * noise as before.
				 */
				result = outer_sum(bounded_total(ctx, linitial(args), agg->aggfilter, lower, upper, 0.0),
								   km * Min(lower, 0.0), km * Max(upper, 0.0), epsilon);
				return coerce_to(result, agg->aggtype);
			}
			else
			{
				double		half = (upper - lower) / 2.0;
				Node	   *sum = outer_sum(bounded_total(ctx, linitial(args), agg->aggfilter,
														 lower, upper, lower + half),
											-km * half, km * half, epsilon / 2.0);
				Node	   *count = outer_sum(bounded_count(ctx, linitial(args), agg->aggfilter, ctx->m),
											  0.0, km, epsilon / 2.0);

				return coerce_to(func_call(policy_cache.dp_mean, FLOAT8OID,
										   list_make4(sum, count, float8_const(lower), float8_const(upper))),
								 agg->aggtype);
			}
		case DP_VARIANCE:
		case DP_STDDEV:
		case DP_PERCENTILE:
			{
				/* dp_percentile(x, p, L, U [, e]), dp_median(x, L, U [, e]), dp_variance(x, L, U [, e]) */
				char	   *name = get_func_name(agg->aggfnoid);
				bool		with_p = (kind == DP_PERCENTILE && strcmp(name, "dp_median") != 0);
				int			first = with_p ? 2 : 1;
				double		p = 0.5;
				Node	   *sample;
				Node	   *weight;
				List	   *outer;

				if (nargs == 0 || exprType(linitial(args)) == FLOAT8ARRAYOID)
					break;		/* the rewrite's own pieces, written by hand */
				if ((with_p && !arg_value(ctx, lsecond(args), &p, "p", name)) ||
					!arg_value(ctx, list_nth(args, first), &lower, "lower bound", name) ||
					!arg_value(ctx, list_nth(args, first + 1), &upper, "upper bound", name) ||
					(nargs == first + 3 && !arg_value(ctx, list_nth(args, first + 2), &epsilon, "epsilon", name)))
					return (Node *) agg;
				privstat_check_dp_params(kind, epsilon, lower, upper);
				/* a uniform sample of at most m of the unit's values in the group */
				sample = add_contribution(ctx, (Node *) privstat_plain_aggref(policy_cache.sample_rows,
																	 list_make2(value_float8((Node *) copyObject(linitial(args))),
																				makeConst(INT4OID, -1, InvalidOid, 4,
																						  Int32GetDatum(ctx->m), false, true)),
																	 agg->aggfilter));
				weight = int4_const(ctx->k * ctx->m);
				if (kind == DP_PERCENTILE)
					outer = list_make5(sample, float8_const(p), float8_const(lower), float8_const(upper),
									   float8_const(epsilon));
				else
					outer = list_make4(sample, float8_const(lower), float8_const(upper), float8_const(epsilon));
				outer = lappend(outer, weight);
				result = (Node *) privstat_plain_aggref(kind == DP_PERCENTILE ? policy_cache.dp_percentile_units :
											   kind == DP_VARIANCE ? policy_cache.dp_variance_units : policy_cache.dp_stddev_units,
											   outer, NULL);
				return coerce_to(result, agg->aggtype);
			}
		default:
			break;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("%s is privstat's own part of a bounded query and is not allowed over protected table %s",
					format_procedure(agg->aggfnoid), example_name(ctx->lev)),
			 errhint("Use count, sum, avg, count(DISTINCT <privacy unit>) or a privstat.dp_* aggregate.")));
	return NULL;				/* not reached */
}

/*
 * Error bounds in a bounded level describe its releases, not row-level ones:
 * a count is a dp_sum over contributions in [0, k m], a sum one over
 * k m [min(L, 0), max(U, 0)], and averages, variances and percentiles use
 * epsilon / (k m) per row.  So dp_count_error() next to count(*) is right
 * for the role that runs it.  (For count(DISTINCT unit), whose
 * contributions are at most 1, the bound is conservative.)
 */
static Node *
scaled_epsilon(Node *eps, double km)
{
	CoalesceExpr *c;

	if (IsA(eps, Const))
		return float8_const((((Const *) eps)->constisnull ? privstat_default_epsilon :
							 DatumGetFloat8(((Const *) eps)->constvalue)) / km);
	c = makeNode(CoalesceExpr);
	c->coalescetype = FLOAT8OID;
	c->args = list_make2(copyObject(eps), float8_const(privstat_default_epsilon));
	c->location = -1;
	return pg_operator("/", FLOAT8OID, (Node *) c, float8_const(km), InvalidOid);
}

static Node *
scaled_bound(Node *b, double km, MinMaxOp op)
{
	return pg_operator("*", FLOAT8OID, float8_const(km),
					   minmax(op, FLOAT8OID, copyObject(b), float8_const(0.0)), InvalidOid);
}

static Node *
bounded_error_mutator(Node *node, BoundCtx *ctx)
{
	if (node == NULL)
		return NULL;
	if (IsA(node, FuncExpr))
	{
		FuncExpr   *f = (FuncExpr *) node;
		double		km = (double) ctx->k * ctx->m;
		bool		sum = (f->funcid == policy_cache.dp_sum_error);
		int			eps_arg = -1;
		HeapTuple	tup;

		if (f->funcid == policy_cache.dp_count_error || f->funcid == policy_cache.dp_percentile_rank_error)
			eps_arg = 0;
		else if (f->funcid == policy_cache.dp_avg_error || f->funcid == policy_cache.dp_variance_error ||
				 f->funcid == policy_cache.dp_stddev_error)
			eps_arg = 3;
		if (sum || eps_arg >= 0)
		{
			/* the arguments left to their defaults, as the planner would add them */
			tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(f->funcid));
			if (!HeapTupleIsValid(tup))
				elog(ERROR, "cache lookup failed for function %u", f->funcid);
			f = copyObject(f);
			f->args = expand_function_arguments(f->args, false, f->funcresulttype, tup);
			ReleaseSysCache(tup);
			if (sum)
				f->args = list_make4(scaled_bound(linitial(f->args), km, IS_LEAST),
									 scaled_bound(lsecond(f->args), km, IS_GREATEST),
									 lthird(f->args), lfourth(f->args));
			else
				lfirst(list_nth_cell(f->args, eps_arg)) = scaled_epsilon(list_nth(f->args, eps_arg), km);
			return (Node *) f;
		}
	}
	if (IsA(node, Query) || IsA(node, SubLink))
		return node;
	return expression_tree_mutator(node, bounded_error_mutator, (void *) ctx);
}

/* outer expressions: group keys become the contributions' key columns */
static Node *
replace_keys_mutator(Node *node, BoundCtx *ctx)
{
	ListCell   *k;
	ListCell   *v;

	if (node == NULL)
		return NULL;
	forboth(k, ctx->keys, v, ctx->key_vars)
	{
		if (equal(node, lfirst(k)))
			return copyObject(lfirst(v));
	}
	if (IsA(node, Aggref))
		return node;			/* replaced as a whole, below */
	if (IsA(node, SubLink) || IsA(node, Query))
		refuse(ctx->lev, "a subquery in the select list, HAVING or ORDER BY of an aggregate over protected rows",
			   "Compute the aggregate in a subquery and apply the other subquery in an outer query.");
	if (IsA(node, Var) && ((Var *) node)->varlevelsup == 0)
		refuse(ctx->lev, "a column outside GROUP BY and outside an aggregate", "Name every output column in GROUP BY.");
	return expression_tree_mutator(node, replace_keys_mutator, (void *) ctx);
}

static Node *consistent_sum(BoundCtx *ctx, Aggref *sum, Node *repl);

static Node *
replace_aggrefs_mutator(Node *node, BoundCtx *ctx)
{
	if (node == NULL)
		return NULL;
	if (IsA(node, Aggref))
	{
		ListCell   *a;
		ListCell   *r;
		Node	   *repl;

		/* the same aggregate twice (select list and HAVING): one release */
		forboth(a, ctx->done_aggs, r, ctx->done_repl)
		{
			if (equal(node, lfirst(a)))
				return copyObject(lfirst(r));
		}
		repl = bound_aggref(ctx, (Aggref *) node);
		repl = consistent_sum(ctx, (Aggref *) node, repl);
		ctx->done_aggs = lappend(ctx->done_aggs, node);
		ctx->done_repl = lappend(ctx->done_repl, repl);
		return copyObject(repl);
	}
	return expression_tree_mutator(node, replace_aggrefs_mutator, (void *) ctx);
}

/*
 * privstat.consistent_answers: a sum released beside a count of the same
 * rows stays within what the count allows.  Bounding keeps that true: a
 * unit's total in a group is its clamped values scaled to the min(n, m)
 * rows it counts there, so it lies in min(n, m) [L, U].
 */
static Node *
consistent_sum(BoundCtx *ctx, Aggref *sum, Node *repl)
{
	bool		exact;
	double		lower,
				upper;
	Aggref	   *count;

	if (!privstat_consistent_answers || repl == (Node *) sum ||
		(count = privstat_count_for_sum(sum, ctx->level_aggs, &exact, &lower, &upper)) == NULL)
		return repl;
	return privstat_consistent_sum_expr(repl, replace_aggrefs_mutator((Node *) count, ctx),
										lower, upper, exact);
}


/*
 * The public keys of a group key, when it is a column with declared public
 * groups: a list of Consts of its type, or NIL.
 */
static List *
public_keys(Level *lev, Node *key)
{
	Oid			relid;
	AttrNumber	attno;
	ProtectedRel *p;
	char	   *col;
	int			i;

	if (!trace_column(lev, key, &relid, &attno) || (p = protected_rel(relid)) == NULL)
		return NIL;
	col = get_attname(relid, attno, true);
	for (i = 0; col != NULL && i < p->npublic; i++)
	{
		PublicGroups *g = &p->publics[i];
		Oid			type = exprType(key);
		Oid			input;
		Oid			ioparam;
		int16		typlen;
		bool		typbyval;
		List	   *consts = NIL;
		int			j;

		if (strcmp(g->col, col) != 0)
			continue;
		getTypeInputInfo(type, &input, &ioparam);
		get_typlenbyval(type, &typlen, &typbyval);
		for (j = 0; j < g->nkeys; j++)
			consts = lappend(consts, makeConst(type, exprTypmod(key), exprCollation(key), typlen,
											   OidInputFunctionCall(input, g->keys[j], ioparam, exprTypmod(key)),
											   false, typbyval));
		return consts;
	}
	return NIL;
}

/* the rows of all combinations of the keys' public values */
static List *
cross_product(List *lists)
{
	List	   *rows = list_make1(NIL);
	ListCell   *l;

	foreach(l, lists)
	{
		List	   *next = NIL;
		ListCell   *r;
		ListCell   *v;

		foreach(r, rows)
			foreach(v, (List *) lfirst(l))
				next = lappend(next, lappend(list_copy(lfirst(r)), lfirst(v)));
		rows = next;
		if (list_length(rows) > 100000)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("the public groups of this GROUP BY have more than 100000 combinations"),
					 errhint("Group by fewer columns with public groups.")));
	}
	return rows;
}

/*
 * Public groups: FROM (VALUES <all public key combinations>) AS keys LEFT
 * JOIN contributions ON contribution keys = keys AND row_number <= k.  Each
 * public group is released, even when empty; rows of other keys count
 * nowhere.
 */
static void
public_from(BoundCtx *ctx, Query *outer, List *publics, List *key_tles, Index rn_resno, Query *middle)
{
	RangeTblEntry *values = makeNode(RangeTblEntry);
	RangeTblEntry *join = makeNode(RangeTblEntry);
	JoinExpr   *j = makeNode(JoinExpr);
	RangeTblRef *l = makeNode(RangeTblRef);
	RangeTblRef *r = makeNode(RangeTblRef);
	List	   *quals = NIL;
	List	   *colnames = NIL;
	ListCell   *lc;
	ListCell   *kc;
	int			i = 0;

	values->rtekind = RTE_VALUES;
	values->values_lists = cross_product(publics);
	foreach(kc, ctx->keys)
	{
		Node	   *key = lfirst(kc);

		values->coltypes = lappend_oid(values->coltypes, exprType(key));
		values->coltypmods = lappend_int(values->coltypmods, exprTypmod(key));
		values->colcollations = lappend_oid(values->colcollations, exprCollation(key));
		colnames = lappend(colnames, makeString(psprintf("privstat_key%d", ++i)));
	}
	values->eref = makeAlias("privstat_public_groups", colnames);
	values->inFromCl = true;
	outer->rtable = lappend(outer->rtable, values);	/* index 2 */

	/* ON: the contribution's keys are the public keys, and it is among the unit's k */
	forboth(kc, ctx->key_vars, lc, key_tles)
	{
		Var		   *pv = lfirst(kc);
		SortGroupClause *g = group_clause_for(pv->vartype, 0);

		quals = lappend(quals, make_opclause(g->eqop, BOOLOID, false, (Expr *) copyObject(pv),
											 (Expr *) var_of_tle(1, lfirst(lc)),
											 InvalidOid, pv->varcollid));
	}
	quals = lappend(quals, pg_operator("<=", INT8OID,
									   (Node *) makeVar(1, rn_resno, INT8OID, -1, InvalidOid, 0),
									   int8_const(ctx->k), InvalidOid));

	/* the join's range table entry: the keys' columns, then the contributions' */
	join->rtekind = RTE_JOIN;
	join->jointype = JOIN_LEFT;
	colnames = NIL;
	i = 0;
	foreach(lc, ctx->key_vars)
	{
		join->joinaliasvars = lappend(join->joinaliasvars, copyObject(lfirst(lc)));
		join->joinleftcols = lappend_int(join->joinleftcols, ++i);
		colnames = lappend(colnames, makeString(psprintf("privstat_key%d", i)));
	}
	foreach(lc, middle->targetList)
	{
		TargetEntry *tle = lfirst(lc);

		if (tle->resjunk)
			continue;
		join->joinaliasvars = lappend(join->joinaliasvars, var_of_tle(1, tle));
		join->joinrightcols = lappend_int(join->joinrightcols, tle->resno);
		colnames = lappend(colnames, makeString(pstrdup(tle->resname)));
	}
	join->eref = makeAlias("privstat_public_join", colnames);
	join->inFromCl = true;
	outer->rtable = lappend(outer->rtable, join);	/* index 3 */

	l->rtindex = 2;
	r->rtindex = 1;
	j->jointype = JOIN_LEFT;
	j->larg = (Node *) l;
	j->rarg = (Node *) r;
	j->quals = (Node *) make_ands_explicit(quals);
	j->rtindex = 3;
	outer->jointree = makeFromExpr(list_make1(j), NULL);
}

/*
 * Can privstat's bounding node (fused.c) run the level?  Its DP aggregates
 * must be counts, sums, averages or counts of units (what needs only a row
 * count and a total per unit and group), evaluated without subqueries, over
 * group keys and a unit it can hash, with at most FUSED_MAX_GROUPS groups
 * per unit (each row scans its unit's kept groups).
 */
static bool
fused_aggs_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Aggref))
	{
		Aggref	   *a = (Aggref *) node;
		int			kind = privstat_dp_aggregate_kind(a->aggfnoid);

		if (a->agglevelsup != 0)
			return false;
		if (a->aggdistinct != NIL || a->aggorder != NIL ||
			checkExprHasSubLink((Node *) a->args) || checkExprHasSubLink((Node *) a->aggfilter))
			return true;
		if (a->aggfnoid == policy_cache.dp_count_units[0] || a->aggfnoid == policy_cache.dp_count_units[1])
			return false;
		return kind != DP_COUNT && kind != DP_SUM && kind != DP_AVG;
	}
	return expression_tree_walker(node, fused_aggs_walker, context);
}

static bool
fused_level(BoundCtx *ctx, List *groups, List *tlist, Node *having)
{
	Query	   *q = ctx->lev->query;
	ListCell   *lc;
	bool		hashable;

	if (!privstat_one_pass_bounding || groups == NIL || q->groupingSets != NIL ||
		q->constraintDeps != NIL || ctx->k > FUSED_MAX_GROUPS ||
		!OidIsValid(policy_cache.bounded_count_input) || !OidIsValid(policy_cache.bounded_value_input))
		return false;
	foreach(lc, groups)
	{
		if (!((SortGroupClause *) lfirst(lc))->hashable)
			return false;
	}
	get_sort_group_operators(exprType(ctx->lev->unit), false, false, false, NULL, NULL, NULL, &hashable);
	if (!hashable)
		return false;
	return !fused_aggs_walker((Node *) tlist, NULL) && !fused_aggs_walker(having, NULL);
}

/*
 * Release a group only if its noisy count of units passes the threshold.
 * In a level bounded in one pass, the call carries a marker as its FILTER:
 * the level's HAVING always holds one, so fused.c always finds the level
 * (PostgreSQL may drop the other aggregates' columns when a query does not
 * read them), and an Agg that ran the call over raw rows would refuse.
 */
static Node *
with_group_selection(BoundCtx *ctx, Node *having)
{
	Node	   *select = (Node *) privstat_plain_aggref(policy_cache.dp_group_selected,
											   list_make3(float8_const(privstat_selection_epsilon),
														  float8_const(privstat_selection_delta),
														  int4_const(ctx->k)),
											   ctx->fused ? (Expr *) is_not_null(bounded_count(ctx, NULL, NULL, 1)) : NULL);

	return having ? (Node *) make_andclause(list_make2(having, select)) : select;
}

/*
 * Rewrite an aggregating level over protected rows (validated, its
 * aggregates already DP ones) as described above.  The level's Query node
 * becomes the outer query, so whatever points to it keeps pointing to it.
 */
void
bound_level(Level *lev)
{
	Query	   *q = lev->query;
	Query	   *inner = makeNode(Query);
	Query	   *middle = NULL;
	BoundCtx	ctx;
	List	   *tlist = q->targetList;
	Node	   *having = q->havingQual;
	List	   *groups = q->groupClause;
	List	   *publics = NIL;
	List	   *key_tles = NIL;
	bool		grouped = (groups != NIL);
	bool		all_public = grouped;
	ListCell   *lc;
	Index		maxref = 0;
	Index		unit_ref;
	AttrNumber	unit_resno;
	AttrNumber	rn_resno = 0;
	int			i;

	level_unit(lev);

	/*
	 * A join of protected tables bounds each person by the smallest bounds:
	 * counts of the rows of a table with larger ones come out lower than a
	 * reader expects (orders counted as customers).  Said once per
	 * statement, from the policy alone.
	 */
	if (lev->bounds_note != NULL && !bounds_noticed)
	{
		bounds_noticed = true;
		ereport(NOTICE,
				(errmsg("contributions are bounded by the smallest bounds of the joined tables: %d %s and %d %s per person",
						lev->max_groups, lev->max_groups == 1 ? "group" : "groups",
						lev->max_rows, lev->max_rows == 1 ? "row" : "rows"),
				 errdetail("The query reads %s; each person counts in at most %d %s, with at most %d %s in each, so counts and sums over a table with larger bounds come out lower.",
						   lev->bounds_note, lev->max_groups, lev->max_groups == 1 ? "group" : "groups",
						   lev->max_rows, lev->max_rows == 1 ? "row" : "rows"),
				 errhint("Query the table with the larger bounds alone, or ask an administrator to raise the smaller ones with privstat.protect().")));
	}
	memset(&ctx, 0, sizeof(ctx));
	ctx.lev = lev;
	ctx.inner = inner;
	ctx.k = grouped ? lev->max_groups : 1;
	ctx.m = lev->max_rows;
	if (privstat_max_groups_contributed > 0)
		ctx.k = Min(ctx.k, privstat_max_groups_contributed);
	if (privstat_max_rows_contributed > 0)
		ctx.m = Min(ctx.m, privstat_max_rows_contributed);
	ctx.src = 1;

	/* the inner level: the original FROM and WHERE, grouped by keys and unit */
	memcpy(inner, q, sizeof(Query));
	inner->targetList = NIL;
	inner->havingQual = NULL;
	inner->sortClause = NIL;
	inner->distinctClause = NIL;
	inner->hasDistinctOn = false;
	inner->limitCount = NULL;
	inner->limitOffset = NULL;
	inner->limitOption = LIMIT_OPTION_DEFAULT;
	inner->hasAggs = true;
	inner->canSetTag = false;
	inner->groupClause = NIL;
	foreach(lc, groups)
	{
		SortGroupClause *g = lfirst(lc);
		TargetEntry *orig = get_sortgroupclause_tle(g, tlist);
		TargetEntry *tle;

		/*
		 * Each group of the privacy unit holds one person's rows: group
		 * selection releases none, so the query would be charged for an
		 * empty answer.  Refused here, before anything is charged.
		 */
		if (is_unit_expr(lev, (Node *) orig->expr))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("GROUP BY the privacy unit is not allowed over protected table %s",
							example_name(lev)),
					 errdetail("Each group would hold one person's rows, and no such group is ever released: the query would spend budget on an empty answer. Group by other columns, and count people with count(DISTINCT <privacy unit>).")));
		tle = makeTargetEntry((Expr *) copyObject(orig->expr),
										   list_length(inner->targetList) + 1,
										   psprintf("privstat_key%d", list_length(inner->targetList) + 1),
										   false);

		tle->ressortgroupref = g->tleSortGroupRef;
		maxref = Max(maxref, g->tleSortGroupRef);
		inner->targetList = lappend(inner->targetList, tle);
		inner->groupClause = lappend(inner->groupClause, copyObject(g));
		ctx.keys = lappend(ctx.keys, orig->expr);
		key_tles = lappend(key_tles, tle);
		if (all_public)
		{
			List	   *keys = public_keys(lev, (Node *) orig->expr);

			if (keys == NIL)
				all_public = false;
			publics = lappend(publics, keys);
		}
	}
	{
		TargetEntry *tle = makeTargetEntry((Expr *) copyObject(lev->unit),
										   list_length(inner->targetList) + 1,
										   pstrdup("privstat_unit"), false);

		unit_ref = maxref + 1;
		tle->ressortgroupref = unit_ref;
		inner->targetList = lappend(inner->targetList, tle);
		inner->groupClause = lappend(inner->groupClause,
									 group_clause_for(exprType(lev->unit), unit_ref));
		unit_resno = tle->resno;
	}

	/*
	 * The keys of the outer query: the contributions' (through the middle
	 * level, which keeps the inner level's column numbers), or the public
	 * values' (range table index 2, see public_from).
	 */
	i = 0;
	foreach(lc, key_tles)
	{
		TargetEntry *t = lfirst(lc);

		ctx.key_vars = lappend(ctx.key_vars, grouped && all_public ?
							   makeVar(2, ++i, exprType((Node *) t->expr), exprTypmod((Node *) t->expr),
									   exprCollation((Node *) t->expr), 0) :
							   var_of_tle(1, t));
	}

	/*
	 * Grouped counts, sums and averages over groups that are not all public:
	 * the level stays one level, bounded in one pass by fused.c's node.
	 */
	tlist = (List *) bounded_error_mutator((Node *) tlist, &ctx);
	having = bounded_error_mutator(having, &ctx);
	(void) privstat_collect_aggrefs((Node *) tlist, &ctx.level_aggs);
	(void) privstat_collect_aggrefs(having, &ctx.level_aggs);
	ctx.fused = grouped && !all_public && fused_level(&ctx, groups, tlist, having);
	if (ctx.fused)
	{
		tlist = (List *) replace_aggrefs_mutator((Node *) tlist, &ctx);
		having = replace_aggrefs_mutator(having, &ctx);
		if (ctx.custom)
			return;				/* a generic plan: see arg_value */
		having = with_group_selection(&ctx, having);
		q->targetList = tlist;
		q->havingQual = having;
		fused_this_statement = true;
		bounded_levels = lappend(bounded_levels, q);
		return;
	}

	/* the outer expressions: keys replaced, DP aggregates bounded */
	tlist = (List *) replace_keys_mutator((Node *) tlist, &ctx);
	having = replace_keys_mutator(having, &ctx);
	tlist = (List *) replace_aggrefs_mutator((Node *) tlist, &ctx);
	having = replace_aggrefs_mutator(having, &ctx);
	if (ctx.custom)
		return;					/* a generic plan: see arg_value */

	/* outer references of the inner level now have more levels to climb */
	IncrementVarSublevelsUp((Node *) inner, grouped ? 2 : 1, 1);

	if (grouped)
	{
		TargetEntry *rank;
		TargetEntry *rn;
		WindowFunc *wf = makeNode(WindowFunc);
		WindowClause *wc = makeNode(WindowClause);

		/* the middle level: a random rank of each unit's groups */
		middle = makeNode(Query);
		middle->commandType = CMD_SELECT;
		middle->querySource = QSRC_ORIGINAL;
		middle->rtable = list_make1(subquery_rte(inner, "privstat_contributions"));
		middle->jointree = makeFromExpr(list_make1(makeNode(RangeTblRef)), NULL);
		((RangeTblRef *) linitial(middle->jointree->fromlist))->rtindex = 1;
		foreach(lc, inner->targetList)
		{
			TargetEntry *t = lfirst(lc);
			TargetEntry *copy = makeTargetEntry((Expr *) var_of_tle(1, t), t->resno,
												pstrdup(t->resname), false);

			if (t->resno == unit_resno)
				copy->ressortgroupref = 1;
			middle->targetList = lappend(middle->targetList, copy);
		}
		rank = makeTargetEntry((Expr *) func_call(policy_cache.contribution_rank, INT8OID, NIL),
							   list_length(middle->targetList) + 1, pstrdup("privstat_rank"), true);
		rank->ressortgroupref = 2;
		wf->winfnoid = F_ROW_NUMBER;
		wf->wintype = INT8OID;
		wf->winref = 1;
		wf->location = -1;
		rn = makeTargetEntry((Expr *) wf, list_length(middle->targetList) + 1,
							 pstrdup("privstat_row_number"), false);
		/* non-junk columns first */
		middle->targetList = lappend(middle->targetList, rn);
		rank->resno = list_length(middle->targetList) + 1;
		middle->targetList = lappend(middle->targetList, rank);
		rn_resno = rn->resno;
		wc->partitionClause = list_make1(group_clause_for(exprType(lev->unit), 1));
		wc->orderClause = list_make1(group_clause_for(INT8OID, 2));
		wc->frameOptions = FRAMEOPTION_DEFAULTS;
		wc->winref = 1;
		middle->windowClause = list_make1(wc);
		middle->hasWindowFuncs = true;
	}

	/* the outer level, in the level's own Query node */
	q->rtable = list_make1(subquery_rte(grouped ? middle : inner,
										grouped ? "privstat_units" : "privstat_contributions"));
	q->cteList = NIL;
	q->hasSubLinks = false;
	q->hasModifyingCTE = false;
	q->hasRecursive = false;
	q->hasAggs = true;
	q->groupClause = groups;
	if (grouped && all_public)
		public_from(&ctx, q, publics, key_tles, rn_resno, middle);
	else
	{
		RangeTblRef *r = makeNode(RangeTblRef);
		Node	   *quals = NULL;

		r->rtindex = 1;
		if (grouped)
			quals = pg_operator("<=", INT8OID, (Node *) makeVar(1, rn_resno, INT8OID, -1, InvalidOid, 0),
								int8_const(ctx.k), InvalidOid);
		q->jointree = makeFromExpr(list_make1(r), quals);
	}
	if (grouped && !all_public)
		having = with_group_selection(&ctx, having);
	q->targetList = tlist;
	q->havingQual = having;
	bounded_levels = lappend(bounded_levels, q);
}
