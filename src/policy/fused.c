/*-------------------------------------------------------------------------
 *
 * fused.c
 *	  User-level privacy in one pass: privstat's bounding node.
 *
 * bound.c writes a grouped level of a restricted role's query as three
 * levels of SQL: group by (keys, unit), rank each unit's groups, then the
 * DP aggregates over what is kept.  Correct for every aggregate, but each
 * row goes through a hash table of every (unit, group) pair, a sort and a
 * window: seven times the owner's query for a daily series.
 *
 * For the common aggregates (count, sum, avg, count of units) bound.c
 * instead leaves the level one level, with each outer dp_sum() fed by a
 * marker, privstat._bounded_count(k, m, unit, counted) or
 * privstat._bounded_value(k, m, centre, unit, value, counted), and this
 * file plans the level's grouping as one Custom Scan:
 *
 *	- per input row: find the group (a hash table of the groups) and the unit
 *	  (a hash table of the units); a unit keeps at most k groups, each with
 *	  its row count (and total of clamped values) for every contribution;
 *	- which k of a unit's groups: the k with the smallest rank, where the
 *	  rank of (unit, group) is SipHash-2-4 of the pair's numbers under a key
 *	  drawn from the CSPRNG for each execution.  The rank is a function of
 *	  the pair, so a pair dropped once is dropped again at its next row, and
 *	  the kept set is a uniformly random k of the unit's groups whatever the
 *	  order of the rows (bound.c's random rank, without a sort);
 *	- at the end, each kept pair's contributions go into the DP states of
 *	  the outer dp_sum() and dp_group_selected() calls (dp_agg.c's, built
 *	  from the same Aggrefs, so the same parameters, grid and release), and
 *	  each group with a kept pair is released once, in random order.
 *
 * The Aggrefs stay in the plan (custom_scan_tlist), so the budget's plan
 * walk charges them as it charges an Agg's.  A marker is never called: if
 * PostgreSQL ever ran the level as an ordinary Agg, the marker refuses.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/nbtree.h"
#include "catalog/pg_am_d.h"
#include "commands/defrem.h"
#include "commands/explain.h"
#include "common/hashfn.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "nodes/extensible.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/planner.h"
#include "optimizer/tlist.h"
#include "parser/parse_oper.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "privstat/dp_agg.h"
#include "privstat/noise.h"

#include "policy_internal.h"

/*
 * Set by bound.c when it writes a level for this node, for the statement
 * being planned (policy_planner saves and restores it around each planning):
 * markers a role wrote itself are never planned here, so their calls run,
 * and EXECUTE on them is checked.
 */
bool		fused_this_statement = false;

static create_upper_paths_hook_type prev_upper_paths = NULL;

/* contribution kinds */
#define CONTRIB_COUNT	0		/* least(rows counted, m) */
#define CONTRIB_VALUE	1		/* privstat._bounded_total of the clamped values */

/* rows read at a time when all inputs are by value (their lookups prefetched) */
#define FUSED_BATCH		32

/* ---- planning ---- */

typedef struct FusedInfo
{
	List	   *aggs;			/* distinct Aggrefs of the level */
	List	   *markers;		/* distinct marker calls (FuncExpr) */
	Node	   *unit;
	int			k;
} FusedInfo;

static bool
is_marker(Node *node)
{
	return node != NULL && IsA(node, FuncExpr) &&
		(((FuncExpr *) node)->funcid == policy_cache.bounded_count_input ||
		 ((FuncExpr *) node)->funcid == policy_cache.bounded_value_input);
}

static bool
has_marker_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (is_marker(node))
		return true;
	return expression_tree_walker(node, has_marker_walker, context);
}

static bool
collect_aggs_walker(Node *node, List **aggs)
{
	if (node == NULL)
		return false;
	if (IsA(node, Aggref))
	{
		if (!list_member(*aggs, node))
			*aggs = lappend(*aggs, node);
		return false;
	}
	return expression_tree_walker(node, collect_aggs_walker, (void *) aggs);
}

static int
const_int(Node *arg)
{
	if (!IsA(arg, Const) || ((Const *) arg)->consttype != INT4OID || ((Const *) arg)->constisnull)
		elog(ERROR, "privstat: a bounding marker's bound is not an integer constant");
	return DatumGetInt32(((Const *) arg)->constvalue);
}

/* the aggregates and markers of a level bound.c left to this node */
static void
fused_info(List *exprs, FusedInfo *info)
{
	ListCell   *lc;

	memset(info, 0, sizeof(*info));
	collect_aggs_walker((Node *) exprs, &info->aggs);
	foreach(lc, info->aggs)
	{
		Aggref	   *a = lfirst(lc);
		FuncExpr   *marker;
		Node	   *unit;
		int			k;

		if (a->aggdistinct != NIL || a->aggorder != NIL)
			elog(ERROR, "privstat: unexpected aggregate in a level bounded in one pass");
		if (a->aggfnoid == policy_cache.dp_group_selected)
		{
			/* its FILTER holds a marker (bound.c, with_group_selection) */
			if (a->aggfilter == NULL || !IsA(a->aggfilter, NullTest) ||
				!is_marker((Node *) ((NullTest *) a->aggfilter)->arg))
				elog(ERROR, "privstat: unexpected group selection in a level bounded in one pass");
			marker = (FuncExpr *) ((NullTest *) a->aggfilter)->arg;
		}
		else if ((a->aggfnoid != policy_cache.dp_sum_int8_eps && a->aggfnoid != policy_cache.dp_sum_float8_eps) ||
				 a->aggfilter != NULL || !is_marker((Node *) linitial_node(TargetEntry, a->args)->expr))
			elog(ERROR, "privstat: unexpected aggregate in a level bounded in one pass");
		else
			marker = (FuncExpr *) linitial_node(TargetEntry, a->args)->expr;
		k = const_int(linitial(marker->args));
		unit = list_nth(marker->args, marker->funcid == policy_cache.bounded_count_input ? 2 : 3);
		if (info->unit == NULL)
		{
			info->unit = unit;
			info->k = k;
		}
		else if (!equal(info->unit, unit) || info->k != k)
			elog(ERROR, "privstat: the bounding markers of one level disagree");
		if (!list_member(info->markers, marker))
			info->markers = lappend(info->markers, marker);
	}
	if (info->markers == NIL)
		elog(ERROR, "privstat: a level bounded in one pass without contributions");
}

static Plan *fused_plan(PlannerInfo *root, RelOptInfo *rel, CustomPath *best_path,
						List *tlist, List *clauses, List *custom_plans);

static const CustomPathMethods fused_path_methods = {
	.CustomName = "PrivstatBound",
	.PlanCustomPath = fused_plan,
};

static Node *fused_create_state(CustomScan *cscan);

static const CustomScanMethods fused_scan_methods = {
	.CustomName = "PrivstatBound",
	.CreateCustomScanState = fused_create_state,
};

/*
 * The grouping of a level with markers: this node, and nothing else.  Its
 * partitions' grouped relations (partitionwise aggregation) are left alone
 * and unused, since the parent's paths are replaced.
 */
static void
fused_upper_paths(PlannerInfo *root, UpperRelationKind stage, RelOptInfo *input_rel,
				  RelOptInfo *output_rel, void *extra)
{
	GroupPathExtraData *gextra = (GroupPathExtraData *) extra;
	Query	   *parse = root->parse;
	CustomPath *cp;
	Path	   *child;
	double		groups;
	FusedInfo	info;
	List	   *having;

	if (prev_upper_paths)
		prev_upper_paths(root, stage, input_rel, output_rel, extra);
	if (stage != UPPERREL_GROUP_AGG || output_rel->reloptkind != RELOPT_UPPER_REL ||
		!parse->hasAggs || !fused_this_statement ||
		(!has_marker_walker((Node *) output_rel->reltarget->exprs, NULL) &&
		 !has_marker_walker(gextra->havingQual, NULL)))
		return;
	if (parse->groupingSets != NIL || parse->groupClause == NIL)
		elog(ERROR, "privstat: a level bounded in one pass must have a plain GROUP BY");

	having = (List *) gextra->havingQual;
	fused_info(list_concat(list_copy(output_rel->reltarget->exprs), having), &info);

	child = input_rel->cheapest_total_path;
	groups = output_rel->pathlist != NIL ? ((Path *) linitial(output_rel->pathlist))->rows : 200.0;

	cp = makeNode(CustomPath);
	cp->path.pathtype = T_CustomScan;
	cp->path.parent = output_rel;
	cp->path.pathtarget = output_rel->reltarget;
	cp->path.param_info = NULL;
	cp->path.parallel_aware = false;
	cp->path.parallel_safe = false;
	cp->path.parallel_workers = 0;
	cp->path.rows = groups;
	cp->path.startup_cost = child->total_cost +
		child->rows * cpu_operator_cost * (2 + list_length(info.markers)) +
		groups * cpu_tuple_cost;
	cp->path.total_cost = cp->path.startup_cost + groups * cpu_tuple_cost;
	cp->path.pathkeys = NIL;
	cp->flags = 0;
	cp->custom_paths = list_make1(child);
	/* what fused_plan needs: the HAVING, and what fused_info found */
	cp->custom_private = list_make5(having, info.aggs, info.markers, info.unit, makeInteger(info.k));
	cp->methods = &fused_path_methods;

	/* the only way to run this level */
	output_rel->pathlist = NIL;
	output_rel->partial_pathlist = NIL;
	output_rel->cheapest_startup_path = NULL;
	output_rel->cheapest_total_path = NULL;
	output_rel->cheapest_unique_path = NULL;
	output_rel->cheapest_parameterized_paths = NIL;
	add_path(output_rel, &cp->path);
}

static int
marker_index(List *markers, Node *marker)
{
	ListCell   *lc;

	foreach(lc, markers)
	{
		if (equal(lfirst(lc), marker))
			return foreach_current_index(lc);
	}
	elog(ERROR, "privstat: a bounding marker went missing");
	return -1;					/* not reached */
}

/*
 * Columns of the child that the output or HAVING reads outside the
 * aggregates but that are not group keys: GROUP BY columns PostgreSQL
 * dropped because they depend on a grouped primary key
 * (remove_useless_groupby_columns).  Equal on all rows of a group, they
 * are carried with it, from its first row.
 */
typedef struct CarryCtx
{
	List	   *child_tlist;
	List	   *keys;
	List	   *carried;
} CarryCtx;

static bool
carried_walker(Node *node, CarryCtx *ctx)
{
	ListCell   *lc;

	if (node == NULL || IsA(node, Aggref))
		return false;
	foreach(lc, ctx->child_tlist)
	{
		Node	   *e = (Node *) ((TargetEntry *) lfirst(lc))->expr;

		if (equal(e, node))
		{
			if (!list_member(ctx->keys, node) && !list_member(ctx->carried, node))
				ctx->carried = lappend(ctx->carried, node);
			return false;
		}
	}
	return expression_tree_walker(node, carried_walker, (void *) ctx);
}

/* the position (from 0) of expr among the child's output columns */
static int
child_column(List *child_tlist, Node *expr)
{
	ListCell   *lc;
	int			i = 0;

	foreach(lc, child_tlist)
	{
		if (equal(((TargetEntry *) lfirst(lc))->expr, expr))
			return i;
		i++;
	}
	elog(ERROR, "privstat: a group key of a level bounded in one pass is not among its input");
	return -1;					/* not reached */
}

/*
 * The plan.  custom_scan_tlist, the node's own tuple: the child's columns
 * (a group's keys are written where the child has them, everything else of
 * the child is NULL), then the aggregates.  custom_exprs, evaluated on each
 * child row: the unit, the keys, then for each contribution its value (or
 * a NULL) and whether the row counts.  custom_private: k, the keys'
 * positions, the equality operators (unit first), and for each contribution
 * its kind, m and centre, and for each aggregate the contribution it takes
 * (-1 for dp_group_selected).
 */
static Plan *
fused_plan(PlannerInfo *root, RelOptInfo *rel pg_attribute_unused(), CustomPath *best_path,
		   List *tlist, List *clauses pg_attribute_unused(), List *custom_plans)
{
	CustomScan *cscan = makeNode(CustomScan);
	Plan	   *child = linitial(custom_plans);
	List	   *having = linitial(best_path->custom_private);
	FusedInfo	info = {
		.aggs = lsecond(best_path->custom_private),
		.markers = lthird(best_path->custom_private),
		.unit = lfourth(best_path->custom_private),
		.k = intVal(list_nth(best_path->custom_private, 4)),
	};
	ListCell   *lc;
	List	   *scan_tlist = NIL;
	List	   *exprs = NIL;
	List	   *key_pos = NIL;
	List	   *eqops = NIL;
	List	   *kinds = NIL;
	List	   *ms = NIL;
	List	   *centres = NIL;
	List	   *agg_contrib = NIL;
	List	   *carry_pos = NIL;
	CarryCtx	carry;
	Oid			eqop;
	bool		hashable;

	foreach(lc, child->targetlist)
	{
		TargetEntry *tle = lfirst(lc);

		scan_tlist = lappend(scan_tlist, makeTargetEntry((Expr *) copyObject(tle->expr),
														 list_length(scan_tlist) + 1, NULL, false));
	}
	foreach(lc, info.aggs)
		scan_tlist = lappend(scan_tlist, makeTargetEntry((Expr *) copyObject(lfirst(lc)),
														 list_length(scan_tlist) + 1, NULL, false));

	exprs = lappend(exprs, copyObject(info.unit));
	get_sort_group_operators(exprType(info.unit), false, true, false, NULL, &eqop, NULL, &hashable);
	if (!hashable)
		elog(ERROR, "privstat: the privacy unit of a level bounded in one pass is not hashable");
	eqops = lappend_oid(eqops, eqop);
	foreach(lc, root->parse->groupClause)
	{
		SortGroupClause *g = lfirst(lc);
		Node	   *key = get_sortgroupclause_expr(g, root->processed_tlist);

		if (!g->hashable)
			elog(ERROR, "privstat: a group key of a level bounded in one pass is not hashable");
		exprs = lappend(exprs, copyObject(key));
		key_pos = lappend_int(key_pos, child_column(child->targetlist, key));
		eqops = lappend_oid(eqops, g->eqop);
	}
	foreach(lc, info.markers)
	{
		FuncExpr   *marker = lfirst(lc);
		bool		value = (marker->funcid == policy_cache.bounded_value_input);

		kinds = lappend_int(kinds, value ? CONTRIB_VALUE : CONTRIB_COUNT);
		ms = lappend_int(ms, const_int(lsecond(marker->args)));
		if (value)
		{
			Const	   *c = lthird(marker->args);

			if (!IsA(c, Const) || c->consttype != FLOAT8OID || c->constisnull)
				elog(ERROR, "privstat: a bounding marker's centre is not a constant");
			centres = lappend(centres, makeString(psprintf("%.17g", DatumGetFloat8(c->constvalue))));
			exprs = lappend(exprs, copyObject(list_nth(marker->args, 4)));
		}
		else
		{
			centres = lappend(centres, makeString(pstrdup("0")));
			exprs = lappend(exprs, makeNullConst(FLOAT8OID, -1, InvalidOid));
		}
		exprs = lappend(exprs, copyObject(llast(marker->args)));
	}
	/* after the contributions' inputs: the columns carried with each group */
	memset(&carry, 0, sizeof(carry));
	carry.child_tlist = child->targetlist;
	foreach(lc, root->parse->groupClause)
		carry.keys = lappend(carry.keys, get_sortgroupclause_expr(lfirst(lc), root->processed_tlist));
	(void) carried_walker((Node *) tlist, &carry);
	(void) carried_walker((Node *) having, &carry);
	foreach(lc, carry.carried)
	{
		exprs = lappend(exprs, copyObject(lfirst(lc)));
		carry_pos = lappend_int(carry_pos, child_column(child->targetlist, lfirst(lc)));
	}

	foreach(lc, info.aggs)
	{
		Aggref	   *a = lfirst(lc);

		if (a->aggfnoid == policy_cache.dp_group_selected)
			agg_contrib = lappend_int(agg_contrib, -1);
		else
			agg_contrib = lappend_int(agg_contrib,
									  marker_index(info.markers, (Node *) linitial_node(TargetEntry, a->args)->expr));
	}

	cscan->scan.plan.targetlist = tlist;
	cscan->scan.plan.qual = having;
	cscan->scan.scanrelid = 0;
	cscan->flags = best_path->flags;
	cscan->custom_plans = custom_plans;
	cscan->custom_exprs = exprs;
	cscan->custom_scan_tlist = scan_tlist;
	cscan->custom_private = lappend(list_make5(makeInteger(info.k), key_pos, eqops,
											   list_make3(kinds, ms, centres), agg_contrib),
									carry_pos);
	cscan->methods = &fused_scan_methods;
	return &cscan->scan.plan;
}

/* ---- execution ---- */

typedef struct PairAcc
{
	int64		n;				/* rows that count */
	double		total;			/* their clamped values (CONTRIB_VALUE) */
} PairAcc;

/* one (unit, group) pair a unit keeps */
typedef struct PairSlot
{
	uint64		rank;
	uint32		group;
	uint32		pad;
	PairAcc		acc[FLEXIBLE_ARRAY_MEMBER];
} PairSlot;

/*
 * How a key column (the unit, a group key) is hashed and compared.  Where
 * the type's btree equality is equality of the stored image (integers,
 * dates, timestamps, text in a deterministic collation, uuid: its
 * BTEQUALIMAGE_PROC says so), the image is hashed and compared directly;
 * otherwise the type's hash function and equality operator are called.
 */
typedef struct KeyCol
{
	bool		image;
	bool		byval;
	int16		len;
	Oid			coll;
	FmgrInfo	eq;
	FmgrInfo	hash;
} KeyCol;

typedef struct BoundUnit
{
	Datum		key;
	char	   *slots;
	uint32		idx;			/* the unit's number, for its ranks */
	uint32		hash;
	uint16		nslots;			/* at most FUSED_MAX_GROUPS */
	uint16		cap;
	uint16		maxi;			/* the slot of the largest rank, once full */
	bool		null;
} BoundUnit;

typedef struct BoundGroup
{
	Datum	   *keys;
	bool	   *nulls;
	Datum	   *carried;		/* columns carried with the group, from its first row */
	bool	   *carried_nulls;
	uint32		hash;
	int64		pairs;			/* kept pairs */
	struct DpState **states;	/* by aggregate */
	Datum	   *values;			/* released answers, by aggregate */
} BoundGroup;

/*
 * An open-addressing table of indexes into an array: each slot holds an
 * entry's hash (high half) and its index + 1 (low half; 0: empty), so that a
 * probe reads an entry only when its hash matches.
 */
typedef struct IndexTable
{
	uint64	   *slots;
	uint32		mask;
} IndexTable;

#define ITABLE_HASH(e)	((uint32) ((e) >> 32))
#define ITABLE_INDEX(e) ((int32) ((uint32) (e)) - 1)

/* one value a row gives: a column of the child's tuple, a constant, or an expression */
typedef struct RowInput
{
	int			col;			/* >= 0: the child's column */
	ExprState  *expr;			/* else, if set: evaluated */
	Datum		value;			/* else: a constant */
	bool		isnull;
} RowInput;

typedef struct FusedState
{
	CustomScanState css;
	int			k;
	int			nkeys;
	int			ncontrib;
	int			naggs;
	int			nchild;			/* the child's columns, before the aggregates */
	int		   *key_pos;
	int			ncarried;
	int		   *carry_pos;		/* in the node's tuple */
	int			carry_input;	/* the first carried column among the inputs */
	int16	   *carry_len;
	bool	   *carry_byval;
	int		   *kind;
	int		   *m;
	double	   *centre;
	int		   *agg_contrib;
	Aggref	  **aggrefs;
	Size		stride;			/* bytes of a PairSlot */
	/* the row's inputs: unit, keys, then (value, counted) by contribution */
	int			ninputs;
	RowInput   *inputs;
	int			maxcol;
	Datum	   *vals;			/* the current row's inputs */
	bool	   *nulls;
	bool		byval;			/* all inputs by value: rows are read in batches */
	Datum	   *batch_vals;		/* FUSED_BATCH rows of inputs */
	bool	   *batch_nulls;
	ExprContext *rowcxt;
	KeyCol	   *cols;			/* unit, keys */
	MemoryContext groupcxt;
	MemoryContext unitcxt;
	BoundGroup *groups;
	int			ngroups;
	int			group_cap;
	IndexTable	group_index;
	BoundUnit  *units;
	int			nunits;
	int			unit_cap;
	IndexTable	unit_index;
	uint64		sipkey[2];
	uint32		next_unit;		/* the next unit's number, for its ranks */
	/* memory: when the units reach hash_mem, new units wait for a later pass */
	Size		mem_limit;
	bool		full;
	TupleDesc	rowdesc;
	TupleTableSlot *spillslot;
	bool		built;
	BoundGroup **out;			/* released groups, in random order */
	int			nout;
	int			next;
} FusedState;

/* SipHash-2-4 of one 64-bit word (the reference algorithm, 8-byte message) */
#define SIP_ROTL(x, b) (uint64) (((x) << (b)) | ((x) >> (64 - (b))))
#define SIP_ROUND \
	do { \
		v0 += v1; v1 = SIP_ROTL(v1, 13); v1 ^= v0; v0 = SIP_ROTL(v0, 32); \
		v2 += v3; v3 = SIP_ROTL(v3, 16); v3 ^= v2; \
		v0 += v3; v3 = SIP_ROTL(v3, 21); v3 ^= v0; \
		v2 += v1; v1 = SIP_ROTL(v1, 17); v1 ^= v2; v2 = SIP_ROTL(v2, 32); \
	} while (0)

static uint64
siphash24_word(const uint64 key[2], uint64 m)
{
	uint64		v0 = UINT64CONST(0x736f6d6570736575) ^ key[0];
	uint64		v1 = UINT64CONST(0x646f72616e646f6d) ^ key[1];
	uint64		v2 = UINT64CONST(0x6c7967656e657261) ^ key[0];
	uint64		v3 = UINT64CONST(0x7465646279746573) ^ key[1];
	uint64		b = UINT64CONST(8) << 56;

	v3 ^= m;
	SIP_ROUND;
	SIP_ROUND;
	v0 ^= m;
	v3 ^= b;
	SIP_ROUND;
	SIP_ROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIP_ROUND;
	SIP_ROUND;
	SIP_ROUND;
	SIP_ROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

static void
random_or_fail(void *buf, size_t len)
{
	if (!noise_random_bytes(buf, len))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not draw noise: OpenSSL's random generator failed")));
}

/* ---- key columns ---- */

static void
key_col_init(KeyCol *kc, Oid type, Oid eqop, Oid coll)
{
	Oid			opclass = GetDefaultOpClass(type, BTREE_AM_OID);
	Oid			hashfn;

	kc->coll = coll;
	get_typlenbyval(type, &kc->len, &kc->byval);
	kc->image = false;
	if (OidIsValid(opclass))
	{
		Oid			family = get_opclass_family(opclass);
		Oid			proc = get_opfamily_proc(family, type, type, BTEQUALIMAGE_PROC);

		kc->image = OidIsValid(proc) &&
			get_opfamily_member(family, type, type, BTEqualStrategyNumber) == eqop &&
			DatumGetBool(OidFunctionCall1Coll(proc, coll, ObjectIdGetDatum(type)));
	}
	fmgr_info(get_opcode(eqop), &kc->eq);
	if (!get_op_hash_functions(eqop, &hashfn, NULL))
		elog(ERROR, "privstat: no hash function for a key of a level bounded in one pass");
	fmgr_info(hashfn, &kc->hash);
}

static inline uint32
mix64(uint64 x)
{
	x ^= x >> 33;
	x *= UINT64CONST(0xff51afd7ed558ccd);
	x ^= x >> 33;
	x *= UINT64CONST(0xc4ceb9fe1a85ec53);
	x ^= x >> 33;
	return (uint32) x;
}

static uint32
hash_keys(const KeyCol *cols, int n, const Datum *vals, const bool *nulls)
{
	uint32		h = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		uint32		v;

		if (nulls[i])
			v = 0x9e3779b9;
		else if (cols[i].image && cols[i].byval)
			v = mix64((uint64) vals[i]);
		else if (cols[i].image)
			v = datum_image_hash(vals[i], false, cols[i].len);
		else
			v = DatumGetUInt32(FunctionCall1Coll(unconstify(FmgrInfo *, &cols[i].hash), cols[i].coll, vals[i]));
		h = hash_combine(h, v);
	}
	return h;
}

static bool
keys_equal(const KeyCol *cols, int n, const Datum *a, const bool *anull, const Datum *b, const bool *bnull)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		if (anull[i] || bnull[i])
		{
			if (anull[i] != bnull[i])
				return false;
			continue;
		}
		if (cols[i].image && cols[i].byval)
		{
			if (a[i] != b[i])
				return false;
		}
		else if (cols[i].image)
		{
			if (!datum_image_eq(a[i], b[i], false, cols[i].len))
				return false;
		}
		else if (!DatumGetBool(FunctionCall2Coll(unconstify(FmgrInfo *, &cols[i].eq), cols[i].coll, a[i], b[i])))
			return false;
	}
	return true;
}

static void
itable_init(IndexTable *t, MemoryContext cxt, Size size)
{
	t->slots = MemoryContextAllocHuge(cxt, size * sizeof(uint64));
	memset(t->slots, 0, size * sizeof(uint64));
	t->mask = (uint32) (size - 1);
}

static void
itable_insert(IndexTable *t, uint32 hash, int32 idx)
{
	uint32		pos = hash & t->mask;

	while (t->slots[pos] != 0)
		pos = (pos + 1) & t->mask;
	t->slots[pos] = ((uint64) hash << 32) | (uint32) (idx + 1);
}

/* ---- execution ---- */

static void fused_begin(CustomScanState *node, EState *estate, int eflags);
static TupleTableSlot *fused_exec(CustomScanState *node);
static void fused_end(CustomScanState *node);
static void fused_rescan(CustomScanState *node);
static void fused_explain(CustomScanState *node, List *ancestors, ExplainState *es);

static const CustomExecMethods fused_exec_methods = {
	.CustomName = "PrivstatBound",
	.BeginCustomScan = fused_begin,
	.ExecCustomScan = fused_exec,
	.EndCustomScan = fused_end,
	.ReScanCustomScan = fused_rescan,
	.ExplainCustomScan = fused_explain,
};

static Node *
fused_create_state(CustomScan *cscan pg_attribute_unused())
{
	FusedState *fs = (FusedState *) newNode(sizeof(FusedState), T_CustomScanState);

	fs->css.methods = &fused_exec_methods;
	return (Node *) fs;
}

static void
fused_begin(CustomScanState *node, EState *estate, int eflags)
{
	FusedState *fs = (FusedState *) node;
	CustomScan *cscan = (CustomScan *) node->ss.ps.plan;
	List	   *contrib = lfourth(cscan->custom_private);
	List	   *eqops = lthird(cscan->custom_private);
	ListCell   *lc;
	PlanState  *child;
	bool		fixed;
	int			i;

	if (eflags & (EXEC_FLAG_BACKWARD | EXEC_FLAG_MARK))
		elog(ERROR, "privstat: the bounding node cannot scan backward");
	child = ExecInitNode(linitial(cscan->custom_plans), estate, eflags);
	node->custom_ps = list_make1(child);
	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;

	fs->k = intVal(linitial(cscan->custom_private));
	fs->nkeys = list_length(lsecond(cscan->custom_private));
	fs->key_pos = palloc(Max(fs->nkeys, 1) * sizeof(int));
	i = 0;
	foreach(lc, (List *) lsecond(cscan->custom_private))
		fs->key_pos[i++] = lfirst_int(lc);
	fs->ncontrib = list_length(linitial(contrib));
	fs->kind = palloc(fs->ncontrib * sizeof(int));
	fs->m = palloc(fs->ncontrib * sizeof(int));
	fs->centre = palloc(fs->ncontrib * sizeof(double));
	for (i = 0; i < fs->ncontrib; i++)
	{
		fs->kind[i] = list_nth_int(linitial(contrib), i);
		fs->m[i] = list_nth_int(lsecond(contrib), i);
		fs->centre[i] = strtod(strVal(list_nth(lthird(contrib), i)), NULL);
	}
	fs->naggs = list_length(list_nth(cscan->custom_private, 4));
	fs->nchild = list_length(cscan->custom_scan_tlist) - fs->naggs;
	fs->agg_contrib = palloc(fs->naggs * sizeof(int));
	fs->aggrefs = palloc(fs->naggs * sizeof(Aggref *));
	for (i = 0; i < fs->naggs; i++)
	{
		fs->agg_contrib[i] = list_nth_int(list_nth(cscan->custom_private, 4), i);
		fs->aggrefs[i] = (Aggref *) list_nth_node(TargetEntry, cscan->custom_scan_tlist,
												  fs->nchild + i)->expr;
		Assert(IsA(fs->aggrefs[i], Aggref));
	}
	fs->stride = MAXALIGN(offsetof(PairSlot, acc) + fs->ncontrib * sizeof(PairAcc));
	fs->ncarried = list_length(list_nth(cscan->custom_private, 5));
	fs->carry_pos = palloc(Max(fs->ncarried, 1) * sizeof(int));
	fs->carry_len = palloc(Max(fs->ncarried, 1) * sizeof(int16));
	fs->carry_byval = palloc(Max(fs->ncarried, 1) * sizeof(bool));
	fs->carry_input = 1 + fs->nkeys + 2 * fs->ncontrib;
	for (i = 0; i < fs->ncarried; i++)
	{
		fs->carry_pos[i] = list_nth_int(list_nth(cscan->custom_private, 5), i);
		get_typlenbyval(exprType(list_nth(cscan->custom_exprs, fs->carry_input + i)),
						&fs->carry_len[i], &fs->carry_byval[i]);
	}

	/*
	 * The row's inputs.  A column of the child's tuple is read where it
	 * lies; an expression reads the child's tuple as its scan tuple, and is
	 * compiled as for a scan tuple of unknown kind (the node's own scan
	 * slot, which its projection reads, is virtual).
	 */
	fs->ninputs = list_length(cscan->custom_exprs);
	fs->inputs = palloc0(fs->ninputs * sizeof(RowInput));
	fs->batch_vals = palloc(FUSED_BATCH * fs->ninputs * sizeof(Datum));
	fs->batch_nulls = palloc(FUSED_BATCH * fs->ninputs * sizeof(bool));
	fs->vals = fs->batch_vals;
	fs->nulls = fs->batch_nulls;
	fs->byval = true;
	fs->rowcxt = CreateExprContext(estate);
	fs->maxcol = 0;
	fixed = node->ss.ps.scanopsfixed;
	node->ss.ps.scanopsfixed = false;
	i = 0;
	foreach(lc, cscan->custom_exprs)
	{
		Node	   *e = lfirst(lc);
		RowInput   *in = &fs->inputs[i++];

		if (!get_typbyval(exprType(e)))
			fs->byval = false;
		in->col = -1;
		if (IsA(e, Var) && ((Var *) e)->varno == INDEX_VAR && ((Var *) e)->varattno > 0)
		{
			in->col = ((Var *) e)->varattno - 1;
			fs->maxcol = Max(fs->maxcol, in->col + 1);
		}
		else if (IsA(e, Const))
		{
			in->value = ((Const *) e)->constvalue;
			in->isnull = ((Const *) e)->constisnull;
		}
		else
			in->expr = ExecInitExpr((Expr *) e, &node->ss.ps);
	}
	node->ss.ps.scanopsfixed = fixed;

	/* the unit's and the keys' hashing and equality */
	fs->cols = palloc0((fs->nkeys + 1) * sizeof(KeyCol));
	i = 0;
	foreach(lc, eqops)
	{
		Node	   *e = list_nth(cscan->custom_exprs, i);

		key_col_init(&fs->cols[i], exprType(e), lfirst_oid(lc), exprCollation(e));
		i++;
	}

	fs->rowdesc = ExecTypeFromExprList(cscan->custom_exprs);
	fs->spillslot = ExecInitExtraTupleSlot(estate, fs->rowdesc, &TTSOpsMinimalTuple);
	fs->mem_limit = get_hash_memory_limit();

	fs->groupcxt = AllocSetContextCreate(CurrentMemoryContext, "privstat bounding groups",
										 ALLOCSET_DEFAULT_SIZES);
	fs->unitcxt = AllocSetContextCreate(CurrentMemoryContext, "privstat bounding units",
										ALLOCSET_DEFAULT_SIZES);
}

/*
 * The entry of an index table with this hash for which match holds, or -1.
 * Inlined with each match function.
 */
static inline int32
itable_find(const IndexTable *t, uint32 hash, bool (*match) (FusedState *fs, int32 idx), FusedState *fs)
{
	uint32		pos;
	uint64		e;

	if (t->slots == NULL)
		return -1;
	for (pos = hash & t->mask; (e = t->slots[pos]) != 0; pos = (pos + 1) & t->mask)
	{
		if (ITABLE_HASH(e) == hash && match(fs, ITABLE_INDEX(e)))
			return ITABLE_INDEX(e);
	}
	return -1;
}

/* does group idx have the row's keys? */
static inline bool
group_matches(FusedState *fs, int32 idx)
{
	BoundGroup *g = &fs->groups[idx];

	return keys_equal(fs->cols + 1, fs->nkeys, g->keys, g->nulls, fs->vals + 1, fs->nulls + 1);
}

/* is unit idx the row's unit? */
static inline bool
unit_matches(FusedState *fs, int32 idx)
{
	BoundUnit  *u = &fs->units[idx];

	return keys_equal(fs->cols, 1, &u->key, &u->null, fs->vals, fs->nulls);
}

/* the group of the row's keys (fs->vals[1..nkeys]), new if not seen before */
static int
find_group(FusedState *fs)
{
	const Datum *keys = fs->vals + 1;
	const bool *nulls = fs->nulls + 1;
	uint32		hash = hash_keys(fs->cols + 1, fs->nkeys, keys, nulls);
	BoundGroup *g;
	MemoryContext old;
	int			i;

	if ((i = itable_find(&fs->group_index, hash, group_matches, fs)) >= 0)
		return i;

	old = MemoryContextSwitchTo(fs->groupcxt);
	if (fs->ngroups == fs->group_cap)
	{
		if (fs->group_cap >= PG_INT32_MAX / 4)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("too many groups for one query")));
		fs->group_cap = fs->group_cap == 0 ? 64 : fs->group_cap * 2;
		fs->groups = fs->groups == NULL ?
			MemoryContextAllocHuge(fs->groupcxt, (Size) fs->group_cap * sizeof(BoundGroup)) :
			repalloc_huge(fs->groups, (Size) fs->group_cap * sizeof(BoundGroup));
		/* at most half full */
		if (fs->group_index.slots != NULL)
			pfree(fs->group_index.slots);
		itable_init(&fs->group_index, fs->groupcxt, (Size) fs->group_cap * 2);
		for (i = 0; i < fs->ngroups; i++)
			itable_insert(&fs->group_index, fs->groups[i].hash, i);
	}
	g = &fs->groups[fs->ngroups];
	memset(g, 0, sizeof(BoundGroup));
	g->hash = hash;
	g->keys = palloc(Max(fs->nkeys, 1) * sizeof(Datum));
	g->nulls = palloc(Max(fs->nkeys, 1) * sizeof(bool));
	for (i = 0; i < fs->nkeys; i++)
	{
		g->nulls[i] = nulls[i];
		g->keys[i] = nulls[i] ? (Datum) 0 : datumCopy(keys[i], fs->cols[1 + i].byval, fs->cols[1 + i].len);
	}
	g->carried = palloc(Max(fs->ncarried, 1) * sizeof(Datum));
	g->carried_nulls = palloc(Max(fs->ncarried, 1) * sizeof(bool));
	for (i = 0; i < fs->ncarried; i++)
	{
		int			in = fs->carry_input + i;

		g->carried_nulls[i] = fs->nulls[in];
		g->carried[i] = fs->nulls[in] ? (Datum) 0 :
			datumCopy(fs->vals[in], fs->carry_byval[i], fs->carry_len[i]);
	}
	g->states = palloc(fs->naggs * sizeof(struct DpState *));
	for (i = 0; i < fs->naggs; i++)
		g->states[i] = privstat_dp_state_new(fs->aggrefs[i]);
	itable_insert(&fs->group_index, hash, fs->ngroups);
	MemoryContextSwitchTo(old);
	return fs->ngroups++;
}

/* the state of the row's unit (fs->vals[0]), new if not seen before */
static BoundUnit *
find_unit(FusedState *fs, uint32 hash)
{
	BoundUnit  *u;
	MemoryContext old;
	int			i;

	if ((i = itable_find(&fs->unit_index, hash, unit_matches, fs)) >= 0)
		return &fs->units[i];

	if (fs->full)
		return NULL;			/* this unit's rows wait for a later pass */
	old = MemoryContextSwitchTo(fs->unitcxt);
	if (fs->nunits == fs->unit_cap)
	{
		if (fs->unit_cap >= PG_INT32_MAX / 4)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("too many privacy units for one query")));
		fs->unit_cap = fs->unit_cap == 0 ? 1024 : fs->unit_cap * 2;
		fs->units = fs->units == NULL ?
			MemoryContextAllocHuge(fs->unitcxt, fs->unit_cap * sizeof(BoundUnit)) :
			repalloc_huge(fs->units, fs->unit_cap * sizeof(BoundUnit));
		if (fs->unit_index.slots != NULL)
			pfree(fs->unit_index.slots);
		itable_init(&fs->unit_index, fs->unitcxt, (Size) fs->unit_cap * 2);
		for (i = 0; i < fs->nunits; i++)
			itable_insert(&fs->unit_index, fs->units[i].hash, i);
	}
	u = &fs->units[fs->nunits];
	u->hash = hash;
	u->null = fs->nulls[0];
	u->key = u->null ? (Datum) 0 : datumCopy(fs->vals[0], fs->cols[0].byval, fs->cols[0].len);
	u->nslots = 0;
	u->cap = Min(fs->k, 4);
	u->maxi = 0;
	u->slots = palloc(u->cap * fs->stride);
	itable_insert(&fs->unit_index, hash, fs->nunits);
	fs->nunits++;
	u->idx = fs->next_unit++;
	MemoryContextSwitchTo(old);
	/* a unit once held is held to the end of the pass: all its rows count in it */
	if (fs->nunits % 1024 == 0 && MemoryContextMemAllocated(fs->unitcxt, true) > fs->mem_limit)
		fs->full = true;
	return u;
}

#define SLOT(fs, u, i) ((PairSlot *) ((u)->slots + (Size) (i) * (fs)->stride))

static void
find_max(FusedState *fs, BoundUnit *u)
{
	int			i;

	u->maxi = 0;
	for (i = 1; i < u->nslots; i++)
		if (SLOT(fs, u, i)->rank > SLOT(fs, u, u->maxi)->rank)
			u->maxi = i;
}

/* the slot of (unit, group) to count this row in, or NULL if the unit does not keep the group */
static PairSlot *
pair_slot(FusedState *fs, BoundUnit *u, uint32 unit_no, uint32 group)
{
	PairSlot   *p;
	uint64		rank;
	int			i;

	for (i = 0; i < u->nslots; i++)
	{
		p = SLOT(fs, u, i);
		if (p->group == group)
			return p;
	}
	rank = siphash24_word(fs->sipkey, ((uint64) unit_no << 32) | group);
	if (u->nslots < fs->k)
	{
		if (u->nslots == u->cap)
		{
			u->cap = Min(u->cap * 2, fs->k);
			u->slots = repalloc(u->slots, u->cap * fs->stride);
		}
		p = SLOT(fs, u, u->nslots++);
	}
	else
	{
		/* kept: the k smallest ranks; a pair dropped now has a rank above all kept */
		if (rank >= SLOT(fs, u, u->maxi)->rank)
			return NULL;
		p = SLOT(fs, u, u->maxi);
	}
	memset(p, 0, fs->stride);
	p->rank = rank;
	p->group = group;
	if (u->nslots == fs->k)
		find_max(fs, u);
	return p;
}

/* a unit's kept pairs' contributions into their groups' DP states */
static void
flush_unit(FusedState *fs, BoundUnit *u)
{
	int			i;
	int			a;

	for (i = 0; i < u->nslots; i++)
	{
		PairSlot   *p = SLOT(fs, u, i);
		BoundGroup *g = &fs->groups[p->group];

		g->pairs++;
		for (a = 0; a < fs->naggs; a++)
		{
			int			c = fs->agg_contrib[a];

			if (c < 0)
				privstat_dp_state_add(g->states[a], false, 0, 0.0);
			else if (fs->kind[c] == CONTRIB_COUNT)
				privstat_dp_state_add(g->states[a], true, Min(p->acc[c].n, (int64) fs->m[c]), 0.0);
			else if (p->acc[c].n > 0)
				privstat_dp_state_add(g->states[a], false, 0,
									  privstat_bounded_total_value(p->acc[c].total, p->acc[c].n,
																   fs->m[c], fs->centre[c]));
		}
	}
}

/* the row's inputs into fs->vals and fs->nulls */
static void
read_row(FusedState *fs, TupleTableSlot *in)
{
	int			i;

	if (fs->maxcol > 0)
		slot_getsomeattrs(in, fs->maxcol);
	for (i = 0; i < fs->ninputs; i++)
	{
		RowInput   *ri = &fs->inputs[i];

		if (ri->col >= 0)
		{
			fs->vals[i] = in->tts_values[ri->col];
			fs->nulls[i] = in->tts_isnull[ri->col];
		}
		else if (ri->expr != NULL)
			fs->vals[i] = ExecEvalExpr(ri->expr, fs->rowcxt, &fs->nulls[i]);
		else
		{
			fs->vals[i] = ri->value;
			fs->nulls[i] = ri->isnull;
		}
	}
}

/* one row's inputs into the unit's kept pair, if it keeps the row's group */
static void
count_row(FusedState *fs, BoundUnit *u, int group)
{
	PairSlot   *p = pair_slot(fs, u, u->idx, (uint32) group);
	int			c;

	if (p == NULL)
		return;
	for (c = 0; c < fs->ncontrib; c++)
	{
		int			v = 1 + fs->nkeys + 2 * c;

		if (fs->nulls[v + 1] || !DatumGetBool(fs->vals[v + 1]))
			continue;
		if (fs->kind[c] == CONTRIB_COUNT)
		{
			if (p->acc[c].n < fs->m[c])
				p->acc[c].n++;
		}
		else if (!fs->nulls[v])
		{
			p->acc[c].n++;
			p->acc[c].total += DatumGetFloat8(fs->vals[v]);
		}
	}
}

/* rows set aside by one pass, by partition of their unit's hash */
#define FUSED_PARTITIONS 32

typedef struct SetAside
{
	Tuplestorestate *rows;
	int			depth;			/* passes of partitioning behind it */
} SetAside;

/*
 * One pass over the rows (the child's, or a partition set aside): the units
 * it holds get all their rows.  Once the units reach hash_mem, the rows of
 * units it does not hold are set aside, in FUSED_PARTITIONS partitions by a
 * hash of the unit (new at each depth), each bounded in a pass of its own:
 * each unit is bounded whole, in one pass, whatever the memory, and each
 * row is written out about log32(units / units that fit) times.
 */
static List *
one_pass(FusedState *fs, Tuplestorestate *source, int depth)
{
	PlanState  *child = linitial(fs->css.custom_ps);
	Tuplestorestate *aside[FUSED_PARTITIONS] = {0};
	List	   *result = NIL;
	MemoryContext old;
	int			i;

	for (;;)
	{
		uint32		hashes[FUSED_BATCH];
		int			nrows = 0;
		bool		done = false;
		int			r;

		CHECK_FOR_INTERRUPTS();
		ResetExprContext(fs->rowcxt);

		/*
		 * Read a batch of rows (one, where an input is passed by reference:
		 * its value lives only until the next row), with their units' hashes.
		 */
		while (nrows < (fs->byval && source == NULL ? FUSED_BATCH : 1))
		{
			fs->vals = fs->batch_vals + nrows * fs->ninputs;
			fs->nulls = fs->batch_nulls + nrows * fs->ninputs;
			if (source == NULL)
			{
				TupleTableSlot *in = ExecProcNode(child);

				if (TupIsNull(in))
				{
					done = true;
					break;
				}
				fs->rowcxt->ecxt_scantuple = in;
				old = MemoryContextSwitchTo(fs->rowcxt->ecxt_per_tuple_memory);
				read_row(fs, in);
				MemoryContextSwitchTo(old);
			}
			else
			{
				if (!tuplestore_gettupleslot(source, true, false, fs->spillslot))
				{
					done = true;
					break;
				}
				slot_getallattrs(fs->spillslot);
				memcpy(fs->vals, fs->spillslot->tts_values, fs->ninputs * sizeof(Datum));
				memcpy(fs->nulls, fs->spillslot->tts_isnull, fs->ninputs * sizeof(bool));
			}
			old = MemoryContextSwitchTo(fs->rowcxt->ecxt_per_tuple_memory);
			hashes[nrows] = hash_keys(fs->cols, 1, fs->vals, fs->nulls);
			MemoryContextSwitchTo(old);
			nrows++;
		}

		/*
		 * The units' table is much larger than the caches: ask for each row's
		 * index slot, then its unit, then the unit's kept pairs, before they
		 * are needed.
		 */
		if (nrows > 1 && fs->unit_index.slots != NULL)
		{
			for (r = 0; r < nrows; r++)
				__builtin_prefetch(&fs->unit_index.slots[hashes[r] & fs->unit_index.mask]);
			for (r = 0; r < nrows; r++)
			{
				uint64		e = fs->unit_index.slots[hashes[r] & fs->unit_index.mask];

				if (e != 0 && ITABLE_HASH(e) == hashes[r])
					__builtin_prefetch(&fs->units[ITABLE_INDEX(e)]);
			}
			for (r = 0; r < nrows; r++)
			{
				uint64		e = fs->unit_index.slots[hashes[r] & fs->unit_index.mask];

				if (e != 0 && ITABLE_HASH(e) == hashes[r])
					__builtin_prefetch(fs->units[ITABLE_INDEX(e)].slots);
			}
		}

		for (r = 0; r < nrows; r++)
		{
			BoundUnit  *u;
			int			group;

			fs->vals = fs->batch_vals + r * fs->ninputs;
			fs->nulls = fs->batch_nulls + r * fs->ninputs;
			old = MemoryContextSwitchTo(fs->rowcxt->ecxt_per_tuple_memory);
			group = find_group(fs);
			u = find_unit(fs, hashes[r]);
			MemoryContextSwitchTo(old);
			if (u != NULL)
				count_row(fs, u, group);
			else
			{
				int			part = mix64(((uint64) hashes[r] << 8) | (uint64) depth) % FUSED_PARTITIONS;

				if (aside[part] == NULL)
				{
					old = MemoryContextSwitchTo(fs->groupcxt);
					aside[part] = tuplestore_begin_heap(false, false, Max(work_mem / FUSED_PARTITIONS, 64));
					MemoryContextSwitchTo(old);
				}
				tuplestore_putvalues(aside[part], fs->rowdesc, fs->vals, fs->nulls);
			}
		}
		if (done)
			break;
	}

	/* every unit's kept pairs into the groups, then the units are gone */
	for (i = 0; i < fs->nunits; i++)
		flush_unit(fs, &fs->units[i]);
	MemoryContextReset(fs->unitcxt);
	fs->units = NULL;
	fs->nunits = 0;
	fs->unit_cap = 0;
	fs->unit_index.slots = NULL;
	fs->full = false;
	for (i = 0; i < FUSED_PARTITIONS; i++)
	{
		if (aside[i] != NULL)
		{
			SetAside   *sa = MemoryContextAlloc(fs->groupcxt, sizeof(SetAside));

			sa->rows = aside[i];
			sa->depth = depth + 1;
			result = lappend(result, sa);
		}
	}
	return result;
}

static void
build(FusedState *fs)
{
	List	   *pending;
	MemoryContext old;
	int			i;

	random_or_fail(fs->sipkey, sizeof(fs->sipkey));
	pending = one_pass(fs, NULL, 0);
	while (pending != NIL)
	{
		SetAside   *sa = linitial(pending);
		List	   *more;

		pending = list_delete_first(pending);
		more = one_pass(fs, sa->rows, sa->depth);
		tuplestore_end(sa->rows);
		/* depth first: at most FUSED_PARTITIONS files open at each depth */
		pending = list_concat(more, pending);
	}

	/* release each group with a kept pair once, in an order that tells nothing */
	old = MemoryContextSwitchTo(fs->groupcxt);
	fs->out = palloc(Max(fs->ngroups, 1) * sizeof(BoundGroup *));
	for (i = 0; i < fs->ngroups; i++)
	{
		BoundGroup *g = &fs->groups[i];
		int			a;

		if (g->pairs == 0)
			continue;
		g->values = palloc(fs->naggs * sizeof(Datum));
		for (a = 0; a < fs->naggs; a++)
			g->values[a] = privstat_dp_state_release(g->states[a], fs->aggrefs[a]->aggtype);
		fs->out[fs->nout++] = g;
	}
	MemoryContextSwitchTo(old);
	for (i = fs->nout - 1; i > 0; i--)
	{
		uint64		r;
		int			j;
		BoundGroup *t;

		random_or_fail(&r, sizeof(r));
		j = (int) (r % (uint64) (i + 1));
		t = fs->out[i];
		fs->out[i] = fs->out[j];
		fs->out[j] = t;
	}
	fs->built = true;
}

static TupleTableSlot *
fused_next(ScanState *node)
{
	FusedState *fs = (FusedState *) node;
	TupleTableSlot *slot = node->ss_ScanTupleSlot;
	BoundGroup *g;
	int			i;

	if (!fs->built)
		build(fs);
	ExecClearTuple(slot);
	if (fs->next >= fs->nout)
		return slot;
	g = fs->out[fs->next++];
	memset(slot->tts_isnull, true, slot->tts_tupleDescriptor->natts * sizeof(bool));
	for (i = 0; i < fs->nkeys; i++)
	{
		slot->tts_values[fs->key_pos[i]] = g->keys[i];
		slot->tts_isnull[fs->key_pos[i]] = g->nulls[i];
	}
	for (i = 0; i < fs->ncarried; i++)
	{
		slot->tts_values[fs->carry_pos[i]] = g->carried[i];
		slot->tts_isnull[fs->carry_pos[i]] = g->carried_nulls[i];
	}
	for (i = 0; i < fs->naggs; i++)
	{
		slot->tts_values[fs->nchild + i] = g->values[i];
		slot->tts_isnull[fs->nchild + i] = false;
	}
	return ExecStoreVirtualTuple(slot);
}

static bool
fused_recheck(ScanState *node pg_attribute_unused(), TupleTableSlot *slot pg_attribute_unused())
{
	return true;
}

static TupleTableSlot *
fused_exec(CustomScanState *node)
{
	return ExecScan(&node->ss, fused_next, fused_recheck);
}

static void
fused_end(CustomScanState *node)
{
	ExecEndNode(linitial(node->custom_ps));
}

/* a rescan replays what was released; it never releases again */
static void
fused_rescan(CustomScanState *node)
{
	FusedState *fs = (FusedState *) node;

	if (node->ss.ps.chgParam != NULL && fs->built)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("DP aggregates cannot run in a part of the query that may release them more than once")));
	fs->next = 0;
}

static void
fused_explain(CustomScanState *node, List *ancestors pg_attribute_unused(), ExplainState *es)
{
	CustomScan *cscan = (CustomScan *) node->ss.ps.plan;

	ExplainPropertyInteger("Groups per Privacy Unit", NULL, intVal(linitial(cscan->custom_private)), es);
}

void
fused_init(void)
{
	RegisterCustomScanMethods(&fused_scan_methods);
	prev_upper_paths = create_upper_paths_hook;
	create_upper_paths_hook = fused_upper_paths;
}
