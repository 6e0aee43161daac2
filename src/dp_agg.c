/*-------------------------------------------------------------------------
 *
 * dp_agg.c
 *	  Support functions of privstat's DP aggregates: dp_count, dp_sum,
 *	  dp_avg, dp_variance, dp_stddev, dp_percentile and dp_median.
 *
 * State.  The transition state is a concrete, fixed-length type of
 * privstat's own (privstat.dp_state, or privstat.dp_hist_state for
 * percentiles), never "internal", so Citus and PostgreSQL's own parallel
 * query can ship partial states between processes and combine them.  A
 * state holds exact integers only (row count, sums on the fixed-point grid,
 * a histogram): combining is exact and order-independent, and it holds no
 * noise.  Transition functions update the state in place in the aggregate
 * context, so no row pays for a copy.
 *
 * Parameters.  Bounds, epsilon and p must be constants: they decide the
 * noise and the cost, which the budget must know before the query runs,
 * and they must be known even for an empty input, where no transition
 * function ever sees them.  They are read from the Aggref, checked once per
 * group, and kept in the state (and cached in fn_extra).
 *
 * Release.  Noise is added once, in the final function (src/dp_mech.c, on
 * src/noise.c).  The final function stores its answer in the state, so a
 * second call for the same state (a rescan of a hashed aggregate) returns
 * the same answer instead of spending the budget again: FINALFUNC_MODIFY =
 * READ_WRITE.  DP aggregates cannot be window functions, where the final
 * function would release a new answer for every row.
 *
 * Every input row counts as one contributor.  User-level contribution
 * bounding is the policy's rewrite (src/policy/bound.c): it feeds these
 * aggregates each privacy unit's bounded contributions, or samples of its
 * values, and scales their bounds or epsilon (doc/user-level.md).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include <openssl/evp.h>

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "nodes/execnodes.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "nodes/bitmapset.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/parsenodes.h"
#include "optimizer/optimizer.h"
#include "parser/parse_coerce.h"
#include "parser/parse_func.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/regproc.h"
#include "utils/syscache.h"

#include "privstat/common.h"
#include "privstat/dp_agg.h"
#include "privstat/numeric_float8.h"
#include "privstat/dp_mech.h"
#include "privstat/guc.h"
#include "privstat/keys.h"


/* State of dp_count, dp_sum, dp_avg, dp_variance, dp_stddev. */
typedef struct DpState
{
	DpParams	params;
	int64		n;				/* rows */
	uint8		sum[16];		/* int128: sum of grid values (centred for avg/var) */
	uint8		sum2[16];		/* int128: sum of squared centred grid values */
	int32		released;		/* the final function ran: result holds the answer */
	int32		pad;
	uint8		result[16];		/* int128 or double, by kind */
} DpState;

/* State of dp_percentile and dp_median. */
typedef struct DpHistState
{
	DpParams	params;
	int64		n;
	int32		released;
	int32		pad;
	float8		result;
	int64		hist[DP_HIST_BINS];
} DpHistState;

#define DP_STATE_SIZE		((int) sizeof(DpState))
#define DP_HIST_STATE_SIZE	((int) sizeof(DpHistState))

/* the INTERNALLENGTHs of the SQL types privstat.dp_state and dp_hist_state */
StaticAssertDecl(sizeof(DpParams) == 80, "DpParams changed size");
StaticAssertDecl(sizeof(DpState) == 144, "dp_state INTERNALLENGTH is 144");
StaticAssertDecl(sizeof(DpHistState) == 2152, "dp_hist_state INTERNALLENGTH is 2152");

static inline noise_i128
load128(const uint8 *p)
{
	noise_i128	v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline void
store128(uint8 *p, noise_i128 v)
{
	memcpy(p, &v, sizeof(v));
}


/* ---------------------------------------------------------------------------
 * Parameters
 * ---------------------------------------------------------------------------
 */

/*
 * Which aggregate an Aggref calls, by name in schema privstat; 0 if none.
 * *with_p, if given, says whether it takes p (dp_percentile, not dp_median).
 */
static DpKind
dp_kind_lookup(Oid aggfnoid, bool *with_p)
{
	char	   *name;
	Oid			nsp = get_func_namespace(aggfnoid);
	DpKind		kind = 0;

	*with_p = false;
	if (!OidIsValid(nsp) || nsp != get_namespace_oid("privstat", true))
		return 0;
	name = get_func_name(aggfnoid);
	if (name == NULL)
		return 0;
	if (strcmp(name, "dp_count") == 0)
		kind = DP_COUNT;
	else if (strcmp(name, "dp_sum") == 0)
		kind = DP_SUM;
	else if (strcmp(name, "dp_avg") == 0)
		kind = DP_AVG;
	else if (strcmp(name, "dp_variance") == 0)
		kind = DP_VARIANCE;
	else if (strcmp(name, "dp_stddev") == 0)
		kind = DP_STDDEV;
	else if (strcmp(name, "dp_group_selected") == 0)
		kind = DP_SELECT;
	/* merges of Citus partial states, priced and released as the calls they replace */
	else if (strcmp(name, "_dp_merge_count") == 0)
		kind = DP_COUNT;
	else if (strcmp(name, "_dp_merge_sum_int8") == 0 || strcmp(name, "_dp_merge_sum_numeric") == 0 ||
			 strcmp(name, "_dp_merge_sum_float8") == 0)
		kind = DP_SUM;
	else if (strcmp(name, "_dp_merge_avg") == 0)
		kind = DP_AVG;
	else if (strcmp(name, "_dp_merge_percentile") == 0)
	{
		kind = DP_PERCENTILE;
		*with_p = true;
	}
	else if (strcmp(name, "_dp_merge_median") == 0)
		kind = DP_PERCENTILE;
	else if (strcmp(name, "_dp_merge_variance") == 0)
		kind = DP_VARIANCE;
	else if (strcmp(name, "_dp_merge_stddev") == 0)
		kind = DP_STDDEV;
	/* the rewrite's versions over samples of each unit's values (src/policy/bound.c) */
	else if (strcmp(name, "_dp_variance_units") == 0)
		kind = DP_VARIANCE;
	else if (strcmp(name, "_dp_stddev_units") == 0)
		kind = DP_STDDEV;
	else if (strcmp(name, "_dp_percentile_units") == 0)
	{
		kind = DP_PERCENTILE;
		*with_p = true;
	}
	else if (strcmp(name, "dp_percentile") == 0 || strcmp(name, "dp_median") == 0)
	{
		kind = DP_PERCENTILE;
		*with_p = (strcmp(name, "dp_percentile") == 0);
	}
	pfree(name);
	return kind;
}

/*
 * The kinds looked up so far in this backend: every plan is priced, and
 * every Aggref of it looked up, before it runs, so a prepared DP query
 * would look up its aggregates' names and schema in the catalogs at each
 * run.  Any change to a function or a schema empties the cache.
 */
#define KIND_CACHE_SIZE	32

typedef struct KindCacheEntry
{
	Oid			aggfnoid;		/* InvalidOid: empty */
	DpKind		kind;
	bool		with_p;
} KindCacheEntry;

static KindCacheEntry kind_cache[KIND_CACHE_SIZE];
static bool kind_cache_registered = false;
static uint64 kind_cache_resets = 0;

static void
kind_cache_reset(Datum arg pg_attribute_unused(), int cacheid pg_attribute_unused(),
				 uint32 hashvalue pg_attribute_unused())
{
	memset(kind_cache, 0, sizeof(kind_cache));
	kind_cache_resets++;
}

static DpKind
dp_kind_of(Oid aggfnoid, bool *with_p)
{
	KindCacheEntry *e = &kind_cache[aggfnoid % KIND_CACHE_SIZE];

	if (!kind_cache_registered)
	{
		CacheRegisterSyscacheCallback(PROCOID, kind_cache_reset, (Datum) 0);
		CacheRegisterSyscacheCallback(NAMESPACEOID, kind_cache_reset, (Datum) 0);
		kind_cache_registered = true;
		kind_cache_reset((Datum) 0, 0, 0);
	}
	if (!OidIsValid(aggfnoid))
	{
		if (with_p)
			*with_p = false;
		return 0;
	}
	if (e->aggfnoid != aggfnoid)
	{
		bool		p;
		uint64		resets = kind_cache_resets;
		DpKind		kind = dp_kind_lookup(aggfnoid, &p);

		/* kept unless the catalogs changed during the lookup (or it failed) */
		if (resets == kind_cache_resets)
		{
			e->kind = kind;
			e->with_p = p;
			e->aggfnoid = aggfnoid;
		}
		if (with_p)
			*with_p = p;
		return kind;
	}
	if (with_p)
		*with_p = e->with_p;
	return e->kind;
}

bool
privstat_is_dp_aggregate(Oid aggfnoid)
{
	return dp_kind_of(aggfnoid, NULL) != 0;
}

static void check_epsilon(double epsilon, DpKind kind);
static void check_bounds(double lower, double upper, DpKind kind);

/*
 * Check a DP aggregate's epsilon and bounds (those of a kind without bounds
 * are ignored) as its support functions would, with its name in the errors:
 * for the policy, which rewrites the call before it runs.
 */
void
privstat_check_dp_params(int kind, double epsilon, double lower, double upper)
{
	check_epsilon(epsilon, (DpKind) kind);
	if (kind != DP_COUNT && kind != DP_SELECT)
		check_bounds(lower, upper, (DpKind) kind);
}

int
privstat_dp_aggregate_kind(Oid aggfnoid)
{
	return (int) dp_kind_of(aggfnoid, NULL);
}

static const char *
dp_kind_name(DpKind kind)
{
	switch (kind)
	{
		case DP_COUNT:
			return "dp_count";
		case DP_SUM:
			return "dp_sum";
		case DP_AVG:
			return "dp_avg";
		case DP_VARIANCE:
			return "dp_variance";
		case DP_STDDEV:
			return "dp_stddev";
		case DP_PERCENTILE:
			return "dp_percentile";
		case DP_SELECT:
			return "dp_group_selected";
	}
	return "dp aggregate";
}

/*
 * The float8 value of the constant argument argno (0-based) of an Aggref
 * that still has its original arguments (not a combining Aggref: see
 * original_aggref).
 */
static double
const_arg(Aggref *aggref, int argno, const char *what, DpKind kind)
{
	TargetEntry *tle;
	Node	   *expr;
	Const	   *c;

	if (argno >= list_length(aggref->args))
		elog(ERROR, "%s of %s is missing from the Aggref", what, dp_kind_name(kind));
	tle = list_nth_node(TargetEntry, aggref->args, argno);
	expr = (Node *) tle->expr;
	while (IsA(expr, RelabelType))
		expr = (Node *) ((RelabelType *) expr)->arg;
	if (!IsA(expr, Const))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s of %s must be a constant", what, dp_kind_name(kind)),
				 errdetail("The bounds, epsilon and p of a DP aggregate decide its noise and its cost before the query runs."),
				 errhint("Write the value as a literal, or as an expression of literals.")));
	c = (Const *) expr;
	if (c->constisnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s of %s must not be null", what, dp_kind_name(kind))));
	if (c->consttype != FLOAT8OID)
		elog(ERROR, "unexpected type %u for %s of %s", c->consttype, what, dp_kind_name(kind));
	return DatumGetFloat8(c->constvalue);
}

static void
check_epsilon(double epsilon, DpKind kind)
{
	if (isnan(epsilon) || isinf(epsilon) || epsilon <= 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("epsilon of %s must be a positive finite number", dp_kind_name(kind)),
				 errhint("Smaller epsilon means more noise and more privacy; 0.1 to 1 is usual.")));
	if (epsilon < DP_MIN_EPSILON)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("epsilon of %s must be at least 2^-%d (about %.2g)",
						dp_kind_name(kind), DP_EPS_BITS, DP_MIN_EPSILON)));
	if (epsilon > privstat_max_epsilon)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("epsilon %g of %s exceeds privstat.max_epsilon (%g)",
						epsilon, dp_kind_name(kind), privstat_max_epsilon),
				 errhint("Use a smaller epsilon; only a superuser can raise privstat.max_epsilon.")));
}

static void
check_bounds(double lower, double upper, DpKind kind)
{
	if (isnan(lower) || isinf(lower) || isnan(upper) || isinf(upper) ||
		!isfinite(upper - lower))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("bounds of %s must be finite numbers", dp_kind_name(kind)),
				 errhint("Declare the range a value can take, such as 0 and 1000.")));
	if (lower > upper)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lower bound of %s must not be greater than its upper bound",
						dp_kind_name(kind))));
}

/*
 * The grid keeps a sensitivity near 2^20 epsilon steps; bounds that
 * overflow it are refused before any row, so no error can depend on the
 * data.
 */
static void
check_grid(const DpParams *params, DpKind kind)
{
	if (params->upper_q > DP_MAX_GRID_STEPS || params->lower_q < -DP_MAX_GRID_STEPS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("bounds of %s are too far apart for its epsilon", dp_kind_name(kind)),
				 errhint("Use bounds that fit the data.")));
}

typedef struct PartialSearch
{
	Aggref	   *combining;
	Aggref	   *found;
} PartialSearch;

static bool
partial_aggref_walker(Node *node, PartialSearch *search)
{
	if (node == NULL)
		return false;
	if (IsA(node, Aggref))
	{
		Aggref	   *a = (Aggref *) node;

		if (DO_AGGSPLIT_SKIPFINAL(a->aggsplit) &&
			a->aggno == search->combining->aggno &&
			a->aggfnoid == search->combining->aggfnoid)
		{
			search->found = a;
			return true;
		}
		return false;
	}
	return expression_tree_walker(node, partial_aggref_walker, (void *) search);
}

static bool
find_partial_aggref(Plan *plan, PartialSearch *search)
{
	ListCell   *lc;

	if (plan == NULL)
		return false;
	if (IsA(plan, Agg) &&
		partial_aggref_walker((Node *) plan->targetlist, search))
		return true;
	foreach(lc, privstat_plan_children(plan))
	{
		if (find_partial_aggref((Plan *) lfirst(lc), search))
			return true;
	}
	return find_partial_aggref(plan->lefttree, search) ||
		find_partial_aggref(plan->righttree, search);
}

/*
 * Where the final functions wait for this backend's charge to be durable
 * (set by privstat_budget_init; budget.c).
 */
void		(*privstat_await_charge_hook) (void) = NULL;

static void
await_charge(void)
{
	/* no noisy value before the query's charge is durable */
	if (privstat_await_charge_hook == NULL)
		elog(ERROR, "privstat: no budget module to wait for");
	privstat_await_charge_hook();
}

/*
 * The Aggref with the call's original arguments.  The Aggref of a Finalize
 * Agg (parallel query) has a single argument, the partial result; the
 * arguments live on in the partial Aggref of the same aggno below it.
 */
static Aggref *
original_aggref(Aggref *aggref, Plan *plan)
{
	PartialSearch search;

	if (!DO_AGGSPLIT_COMBINE(aggref->aggsplit))
		return aggref;
	search.combining = aggref;
	search.found = NULL;
	if (!find_partial_aggref(plan, &search))
		elog(ERROR, "could not find the partial aggregate of a DP aggregate");
	return search.found;
}

/*
 * dp_group_selected(epsilon, delta, max_groups_contributed): the epsilon and
 * delta it is charged, and the most groups one unit counts in.
 */
static void
select_params(Aggref *aggref, DpParams *params)
{
	double		epsilon = const_arg(aggref, 0, "epsilon", DP_SELECT);
	double		delta = const_arg(aggref, 1, "delta", DP_SELECT);
	TargetEntry *tle = list_nth_node(TargetEntry, aggref->args, 2);
	Node	   *k = (Node *) tle->expr;

	check_epsilon(epsilon, DP_SELECT);
	if (!(delta > 0.0 && delta < 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("delta of group selection must be greater than 0 and less than 1"),
				 errhint("privstat.selection_delta is usually 1e-6 or smaller.")));
	if (!IsA(k, Const) || ((Const *) k)->consttype != INT4OID || ((Const *) k)->constisnull ||
		DatumGetInt32(((Const *) k)->constvalue) < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_groups_contributed of dp_group_selected must be a positive integer constant")));
	dp_params_init(params, DP_SELECT, epsilon, delta,
				   (double) DatumGetInt32(((Const *) k)->constvalue), 0.0, true);
}

/*
 * Derive and check the parameters of a DP aggregate call from its Aggref.
 * Integer values (smallint, integer, bigint) never use a grid step below 1.
 */
static void
params_of_kind(Aggref *aggref, DpKind kind, bool with_p, DpParams *params)
{
	bool		integer_input = false;
	int			nargs;
	int			first;			/* argument number of the first parameter */
	double		p = 0.5;
	double		lower = 0.0;
	double		upper = 0.0;
	double		epsilon;
	bool		has_eps;
	int			weight = 1;

	nargs = list_length(aggref->aggargtypes);
	if (nargs > 0)
	{
		Oid			valtype = linitial_oid(aggref->aggargtypes);

		/*
		 * A merge of Citus partial states (privstat._dp_merge_*, whose first
		 * argument is a state): the values' type, which decides the grid, is
		 * its last argument (src/citus.c writes the calls).
		 */
		if (valtype == aggref->aggtranstype && kind != DP_COUNT)
		{
			Node	   *t = (Node *) list_nth_node(TargetEntry, aggref->args, nargs - 1)->expr;

			if (!IsA(t, Const) || ((Const *) t)->consttype != REGTYPEOID || ((Const *) t)->constisnull)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("the value type of a merge of DP partial states must be a constant")));
			valtype = DatumGetObjectId(((Const *) t)->constvalue);
			nargs--;
		}

		integer_input = (valtype == INT2OID || valtype == INT4OID || valtype == INT8OID);
		/*
		 * _dp_variance_units, _dp_stddev_units, _dp_percentile_units: samples
		 * of units' values, and last, the weight of a unit in rows
		 */
		if (valtype == FLOAT8ARRAYOID && kind != DP_SELECT)
		{
			Node	   *w = (Node *) list_nth_node(TargetEntry, aggref->args, nargs - 1)->expr;

			if (!IsA(w, Const) || ((Const *) w)->consttype != INT4OID || ((Const *) w)->constisnull ||
				DatumGetInt32(((Const *) w)->constvalue) < 1)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("weight of %s must be a positive integer constant", dp_kind_name(kind))));
			weight = DatumGetInt32(((Const *) w)->constvalue);
			nargs--;
		}
	}
	switch (kind)
	{
		case DP_SELECT:
			select_params(aggref, params);
			return;
		case DP_COUNT:
			has_eps = (nargs == 2);
			first = 1;
			break;
		case DP_PERCENTILE:
			/* dp_percentile(x, p, lo, hi [, eps]) or dp_median(x, lo, hi [, eps]) */
			if (with_p)
			{
				p = const_arg(aggref, 1, "p", kind);
				if (isnan(p) || p < 0.0 || p > 1.0)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("p of dp_percentile must be between 0 and 1")));
				first = 2;
			}
			else
				first = 1;
			lower = const_arg(aggref, first, "lower bound", kind);
			upper = const_arg(aggref, first + 1, "upper bound", kind);
			check_bounds(lower, upper, kind);
			has_eps = (nargs == first + 3);
			first += 2;
			break;
		default:
			lower = const_arg(aggref, 1, "lower bound", kind);
			upper = const_arg(aggref, 2, "upper bound", kind);
			check_bounds(lower, upper, kind);
			has_eps = (nargs == 4);
			first = 3;
			break;
	}
	epsilon = has_eps ? const_arg(aggref, first, "epsilon", kind) : privstat_default_epsilon;
	check_epsilon(epsilon, kind);
	if (weight > 1 && epsilon / weight < DP_MIN_EPSILON)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("epsilon %g of %s is too small for contributions of %d rows per privacy unit",
						epsilon, dp_kind_name(kind), weight),
				 errhint("Use a larger epsilon, or lower privstat.max_groups_contributed or privstat.max_rows_contributed.")));
	/*
	 * A unit is at most weight rows: noise for epsilon / weight per row
	 * makes it epsilon-DP per unit (group privacy), and epsilon is charged.
	 */
	dp_params_init(params, kind, epsilon / weight, lower, upper, p, integer_input);
	params->epsilon = epsilon;
	check_grid(params, kind);
}

static void
params_from_aggref(Aggref *aggref, DpParams *params)
{
	bool		with_p;
	DpKind		kind = dp_kind_of(aggref->aggfnoid, &with_p);

	if (kind == 0)
		elog(ERROR, "DP aggregate support function called for another aggregate");
	params_of_kind(aggref, kind, with_p, params);
}

/*
 * The Aggref a support function runs for, which must be one of privstat's
 * DP aggregates: an aggregate of someone else's, built on these support
 * functions with a final function that shows the exact state, must fail.
 */
static void
not_our_aggregate(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("privstat's DP aggregate support functions serve only privstat's DP aggregates"),
			 errhint("Call the aggregates, such as privstat.dp_sum(), not their support functions.")));
}

static Aggref *
dp_aggref(FunctionCallInfo fcinfo)
{
	Aggref	   *aggref = AggGetAggref(fcinfo);

	if (aggref == NULL || dp_kind_of(aggref->aggfnoid, NULL) == 0)
		not_our_aggregate();
	return aggref;
}

/*
 * A state that did not come from params_from_aggref (a state type's input
 * function can make any bytes) must not crash the release.
 */
static void
check_state_params(const DpParams *params)
{
	if (params->kind < DP_COUNT || params->kind > DP_SELECT ||
		(params->kind == DP_SELECT &&
		 !(params->lower > 0.0 && params->lower < 1.0 && params->upper >= 1.0 &&
		   params->upper <= (double) PG_INT32_MAX && params->upper == floor(params->upper))) ||
		params->eps_units == 0 || params->eps_units > (uint32) (1000 * DP_EPS_SCALE) ||
		params->upper_q > DP_MAX_GRID_STEPS || params->lower_q < -DP_MAX_GRID_STEPS ||
		params->p_units > ((uint32) 1 << DP_P_BITS) ||
		params->grid_exp < -1100 || params->grid_exp > 1100 ||
		params->lower_q > params->upper_q ||
		(params->kind != DP_SUM && params->lower_q != 0) ||
		!(params->lower <= params->upper))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid DP aggregate state")));
}

/*
 * The state for this group: created on the first row (params checked once
 * per aggregate and cached in fn_extra), updated in place afterwards.
 */
static inline void *
get_state(FunctionCallInfo fcinfo, bool hist)
{
	MemoryContext aggcontext;
	int			ctx;
	DpParams   *cached;
	void	   *state;

	/*
	 * Fast path, once per row: this call site was checked (aggregate
	 * context, not a window, the Aggref is ours) on its first call, and a
	 * call site's context never changes.
	 */
	if (likely(fcinfo->flinfo->fn_extra != NULL && !PG_ARGISNULL(0)))
		return PG_GETARG_POINTER(0);

	/* without the preload there is no budget: no DP answer either */
	privstat_require_preload();
	ctx = AggCheckCallContext(fcinfo, &aggcontext);
	if (ctx == AGG_CONTEXT_WINDOW)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("DP aggregates cannot be used as window functions"),
				 errdetail("A window function would release a new noisy answer for every row."),
				 errhint("Aggregate in a subquery, then use window functions on its result.")));
	if (ctx == 0)
		not_our_aggregate();

	cached = (DpParams *) fcinfo->flinfo->fn_extra;
	if (unlikely(cached == NULL))
	{
		Aggref	   *aggref = dp_aggref(fcinfo);

		cached = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(DpParams));
		params_from_aggref(aggref, cached);
		fcinfo->flinfo->fn_extra = cached;
	}
	if (!PG_ARGISNULL(0))
		return PG_GETARG_POINTER(0);

	state = MemoryContextAllocZero(aggcontext, hist ? DP_HIST_STATE_SIZE : DP_STATE_SIZE);
	memcpy(state, cached, sizeof(DpParams));
	return state;
}

/*
 * A NULL input is skipped, as by sum() and avg(): the state as it is, made
 * now if this is the group's first row (so an all-NULL group is answered).
 */
static Datum
skip_null(FunctionCallInfo fcinfo, bool hist)
{
	if (PG_ARGISNULL(0))
		PG_RETURN_POINTER(get_state(fcinfo, hist));
	PG_RETURN_DATUM(PG_GETARG_DATUM(0));
}


/* ---------------------------------------------------------------------------
 * Transition functions
 * ---------------------------------------------------------------------------
 */

/* what: "row count" or "sum" */
static pg_attribute_noreturn() void
out_of_range(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("DP aggregate %s out of range", what)));
	pg_unreachable();
}

static inline void
count_row(int64 *n)
{
	if (unlikely(*n == PG_INT64_MAX))
		out_of_range("row count");
	(*n)++;
}

/* add a grid value to the state of sum, avg, variance or stddev */
static void
accumulate(DpState *state, int64 q)
{
	noise_i128	sum = load128(state->sum);
	noise_i128	c;

	count_row(&state->n);
	if (state->params.kind == DP_SUM)
		c = q;
	else
		c = 2 * (noise_i128) q - state->params.upper_q;	/* centred, in [-R, R] */
	if (__builtin_add_overflow(sum, c, &sum))
		out_of_range("sum");
	store128(state->sum, sum);
	if (state->params.kind == DP_VARIANCE || state->params.kind == DP_STDDEV)
	{
		noise_i128	sum2 = load128(state->sum2);

		if (__builtin_add_overflow(sum2, c * c, &sum2))
			out_of_range("sum");
		store128(state->sum2, sum2);
	}
}

PG_FUNCTION_INFO_V1(dp_count_trans);

/* dp_count(*), dp_count(expr), dp_count(expr, epsilon) */
Datum
dp_count_trans(PG_FUNCTION_ARGS)
{
	DpState    *state = get_state(fcinfo, false);

	if (PG_NARGS() == 1 || !PG_ARGISNULL(1))
		count_row(&state->n);
	PG_RETURN_POINTER(state);
}

static Datum
value_trans(FunctionCallInfo fcinfo, bool integer_input, int64 ival, double fval)
{
	DpState    *state = get_state(fcinfo, false);

	accumulate(state, integer_input ? dp_quantize_int(&state->params, ival)
			   : dp_quantize_float(&state->params, fval));
	PG_RETURN_POINTER(state);
}

/*
 * One transition function per input type, shared by dp_sum, dp_avg,
 * dp_variance and dp_stddev: the kind is in the state.  A NULL value is
 * skipped, as by sum() and avg().
 */
#define VALUE_TRANS(fname, is_int, getarg) \
PG_FUNCTION_INFO_V1(fname); \
Datum \
fname(PG_FUNCTION_ARGS) \
{ \
	if (PG_ARGISNULL(1)) \
		return skip_null(fcinfo, false); \
	return value_trans(fcinfo, is_int, is_int ? (int64) (getarg) : 0, is_int ? 0.0 : (double) (getarg)); \
}

/*
 * A numeric value as float8: the double numeric_float8_no_overflow() gives,
 * to the bit (NaN for NaN, +/-HUGE_VAL for the infinities and beyond the
 * double range), but read from the stored digits (dp_numeric_to_float8 in
 * numeric_float8.c) instead of printed and parsed back with strtod.  A value with a
 * 1-byte varlena header is read where it lies; only a compressed or
 * out-of-line one is detoasted, into memory freed here.
 */
static inline double
numeric_arg_float8(FunctionCallInfo fcinfo, int argno)
{
	Datum		d = PG_GETARG_DATUM(argno);
	struct varlena *v = PG_DETOAST_DATUM_PACKED(d);
	double		x = dp_numeric_to_float8(VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));

	if ((Pointer) v != DatumGetPointer(d))
		pfree(v);
	return x;
}

PG_FUNCTION_INFO_V1(privstat_float8_of_numeric);

/* privstat._float8(numeric): the DP aggregates' conversion, which cannot fail */
Datum
privstat_float8_of_numeric(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(numeric_arg_float8(fcinfo, 0));
}

VALUE_TRANS(dp_trans_int2, true, PG_GETARG_INT16(1))
VALUE_TRANS(dp_trans_int4, true, PG_GETARG_INT32(1))
VALUE_TRANS(dp_trans_int8, true, PG_GETARG_INT64(1))
VALUE_TRANS(dp_trans_float8, false, PG_GETARG_FLOAT8(1))
VALUE_TRANS(dp_trans_numeric, false, numeric_arg_float8(fcinfo, 1))

static inline void
hist_add(DpHistState *state, double x)
{
	count_row(&state->n);
	state->hist[dp_hist_bin(&state->params, x)]++;
}

static Datum
hist_trans(FunctionCallInfo fcinfo, double x)
{
	DpHistState *state = get_state(fcinfo, true);

	hist_add(state, x);
	PG_RETURN_POINTER(state);
}

#define HIST_TRANS(fname, getarg) \
PG_FUNCTION_INFO_V1(fname); \
Datum \
fname(PG_FUNCTION_ARGS) \
{ \
	if (PG_ARGISNULL(1)) \
		return skip_null(fcinfo, true); \
	return hist_trans(fcinfo, (double) (getarg)); \
}

HIST_TRANS(dp_hist_trans_int2, PG_GETARG_INT16(1))
HIST_TRANS(dp_hist_trans_int4, PG_GETARG_INT32(1))
HIST_TRANS(dp_hist_trans_int8, PG_GETARG_INT64(1))
HIST_TRANS(dp_hist_trans_float8, PG_GETARG_FLOAT8(1))
HIST_TRANS(dp_hist_trans_numeric, numeric_arg_float8(fcinfo, 1))


static void mech_error(DpMechError err);

/* the elements of a sample (a float8[] without NULLs, from _sample_rows) */
static void
sample_values(FunctionCallInfo fcinfo, double **values, int *n)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(1);

	if (ARR_ELEMTYPE(a) != FLOAT8OID || ARR_NDIM(a) > 1 || ARR_HASNULL(a))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a sample of a DP aggregate must be a one-dimensional double precision array without nulls")));
	*values = (double *) ARR_DATA_PTR(a);
	*n = ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));
}

PG_FUNCTION_INFO_V1(dp_trans_sample);

/* _dp_variance_units, _dp_stddev_units: each value of a sample is a row */
Datum
dp_trans_sample(PG_FUNCTION_ARGS)
{
	DpState    *state;
	double	   *values;
	int			n;

	if (PG_ARGISNULL(1))
		return skip_null(fcinfo, false);
	state = get_state(fcinfo, false);
	sample_values(fcinfo, &values, &n);
	for (int i = 0; i < n; i++)
		accumulate(state, dp_quantize_float(&state->params, values[i]));
	PG_RETURN_POINTER(state);
}

PG_FUNCTION_INFO_V1(dp_hist_trans_sample);

/* _dp_percentile_units */
Datum
dp_hist_trans_sample(PG_FUNCTION_ARGS)
{
	DpHistState *state;
	double	   *values;
	int			n;

	if (PG_ARGISNULL(1))
		return skip_null(fcinfo, true);
	state = get_state(fcinfo, true);
	sample_values(fcinfo, &values, &n);
	for (int i = 0; i < n; i++)
		hist_add(state, values[i]);
	PG_RETURN_POINTER(state);
}

/* a reservoir: a uniform sample of at most m of the values seen */
typedef struct Reservoir
{
	int64		seen;
	int32		m;
	int32		n;
	double		values[FLEXIBLE_ARRAY_MEMBER];
} Reservoir;

#define RESERVOIR_MAX	100000

PG_FUNCTION_INFO_V1(privstat_sample_trans);

/*
 * _sample_rows(x, m): Algorithm R, with OpenSSL's CSPRNG.  Not a DP
 * aggregate: the rewrite (src/policy/bound.c) feeds its samples, per unit and
 * group, to _dp_*_units; a role at level aggregate cannot call it.
 */
Datum
privstat_sample_trans(PG_FUNCTION_ARGS)
{
	Reservoir  *r = PG_ARGISNULL(0) ? NULL : (Reservoir *) PG_GETARG_POINTER(0);
	double		x;

	/* the first row of a group makes the state (the context is checked then) */
	if (r == NULL)
	{
		MemoryContext aggcontext;
		int32		m = PG_ARGISNULL(2) ? 0 : PG_GETARG_INT32(2);

		if (!AggCheckCallContext(fcinfo, &aggcontext))
			elog(ERROR, "privstat._sample_trans called in non-aggregate context");
		if (m < 1 || m > RESERVOIR_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a sample holds between 1 and %d values, not %d", RESERVOIR_MAX, m)));
		r = MemoryContextAllocZero(aggcontext, offsetof(Reservoir, values) + m * sizeof(double));
		r->m = m;
	}
	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(r);
	x = PG_GETARG_FLOAT8(1);
	r->seen++;
	if (r->n < r->m)
		r->values[r->n++] = x;
	else
	{
		noise_u128	j;

		if (!noise_uniform((noise_u128) r->seen, &j))
			mech_error(DP_ERR_RANDOM);
		if (j < (noise_u128) r->m)
			r->values[j] = x;
	}
	PG_RETURN_POINTER(r);
}

PG_FUNCTION_INFO_V1(privstat_sample_final);
Datum
privstat_sample_final(PG_FUNCTION_ARGS)
{
	Reservoir  *r = PG_ARGISNULL(0) ? NULL : (Reservoir *) PG_GETARG_POINTER(0);
	Datum	   *d;

	if (r == NULL || r->n == 0)
		PG_RETURN_NULL();
	d = palloc(r->n * sizeof(Datum));
	for (int i = 0; i < r->n; i++)
		d[i] = Float8GetDatum(r->values[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(d, r->n, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* ---------------------------------------------------------------------------
 * Combine functions (parallel query, Citus)
 * ---------------------------------------------------------------------------
 */

static void *
combine_prepare(FunctionCallInfo fcinfo, int size, void **other)
{
	MemoryContext aggcontext;
	void	   *s1;
	void	   *s2;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		not_our_aggregate();
	(void) dp_aggref(fcinfo);
	*other = NULL;
	if (PG_ARGISNULL(1))
		return PG_ARGISNULL(0) ? NULL : PG_GETARG_POINTER(0);
	s2 = PG_GETARG_POINTER(1);
	if (PG_ARGISNULL(0))
	{
		s1 = MemoryContextAlloc(aggcontext, size);
		memcpy(s1, s2, size);
		return s1;
	}
	s1 = PG_GETARG_POINTER(0);
	check_state_params((DpParams *) s1);
	if (memcmp(s1, s2, sizeof(DpParams)) != 0)
		elog(ERROR, "cannot combine DP aggregate states with different parameters");
	*other = s2;
	return s1;
}

/* s1 += s2: rows, sums and sums of squares */
static void
state_add(DpState *s1, const DpState *s2)
{
	noise_i128	a;

	if (__builtin_add_overflow(s1->n, s2->n, &s1->n) ||
		__builtin_add_overflow(load128(s1->sum), load128(s2->sum), &a))
		out_of_range("sum");
	store128(s1->sum, a);
	if (__builtin_add_overflow(load128(s1->sum2), load128(s2->sum2), &a))
		out_of_range("sum");
	store128(s1->sum2, a);
}

PG_FUNCTION_INFO_V1(dp_state_combine);
Datum
dp_state_combine(PG_FUNCTION_ARGS)
{
	DpState    *s2;
	DpState    *s1 = combine_prepare(fcinfo, DP_STATE_SIZE, (void **) &s2);

	if (s1 == NULL)
		PG_RETURN_NULL();
	if (s2 != NULL)
		state_add(s1, s2);
	PG_RETURN_POINTER(s1);
}

/* s1 += s2: rows and the histogram */
static void
hist_state_add(DpHistState *s1, const DpHistState *s2)
{
	if (__builtin_add_overflow(s1->n, s2->n, &s1->n))
		out_of_range("row count");
	for (int i = 0; i < DP_HIST_BINS; i++)
		s1->hist[i] += s2->hist[i];
}

PG_FUNCTION_INFO_V1(dp_hist_state_combine);
Datum
dp_hist_state_combine(PG_FUNCTION_ARGS)
{
	DpHistState *s2;
	DpHistState *s1 = combine_prepare(fcinfo, DP_HIST_STATE_SIZE, (void **) &s2);

	if (s1 == NULL)
		PG_RETURN_NULL();
	if (s2 != NULL)
		hist_state_add(s1, s2);
	PG_RETURN_POINTER(s1);
}


/* ---------------------------------------------------------------------------
 * Final functions
 * ---------------------------------------------------------------------------
 */

static void
mech_error(DpMechError err)
{
	if (err == DP_ERR_RANDOM)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not draw noise: OpenSSL's random generator failed")));
	if (err == DP_ERR_OVERFLOW)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("DP aggregate result out of range")));
}

/*
 * The state to release: an empty input (no state) gets one built from the
 * Aggref's parameters, so it is answered like any other input.
 */
static void *
final_state(FunctionCallInfo fcinfo, bool hist)
{
	MemoryContext aggcontext;
	void	   *state;

	Aggref	   *aggref;

	privstat_require_preload();
	if (!AggCheckCallContext(fcinfo, &aggcontext))
		not_our_aggregate();
	await_charge();
	aggref = dp_aggref(fcinfo);
	if (!PG_ARGISNULL(0))
	{
		state = PG_GETARG_POINTER(0);
		check_state_params((DpParams *) state);
		return state;
	}
	state = MemoryContextAllocZero(aggcontext, hist ? DP_HIST_STATE_SIZE : DP_STATE_SIZE);
	params_from_aggref(original_aggref(aggref, ((AggState *) fcinfo->context)->ss.ps.plan),
					   (DpParams *) state);
	return state;
}

/*
 * Post-processing of a released count or sum (privstat.consistent_answers):
 * a count is never negative, and a sum of values in [lower, upper] over
 * any number of rows is never negative when lower >= 0 and never positive
 * when upper <= 0.  The nearest possible value is never farther from the
 * true one than the noisy value: the error can only shrink.  It reads only
 * the released value and the declared bounds, so it costs no privacy.
 */
static noise_i128
consistent_integer(const DpState *state, noise_i128 r)
{
	if (!privstat_consistent_answers)
		return r;
	if (state->params.kind == DP_COUNT && r < 0)
		return 0;
	if (state->params.kind == DP_SUM)
	{
		if (state->params.lower >= 0.0 && r < 0)
			return 0;
		if (state->params.upper <= 0.0 && r > 0)
			return 0;
	}
	return r;
}

/*
 * The released answer as a grid integer (count and sum): drawn once per
 * state, then made consistent as the setting says when it is read.
 */
static noise_i128
release_integer(DpState *state)
{
	if (!state->released)
	{
		noise_i128	r = 0;
		DpMechError err;

		if (state->params.kind == DP_COUNT)
		{
			int64		c;

			err = dp_release_count(&state->params, state->n, &c);
			r = c;
		}
		else
			err = dp_release_sum(&state->params, load128(state->sum), &r);
		mech_error(err);
		store128(state->result, r);
		state->released = 1;
	}
	return consistent_integer(state, load128(state->result));
}

PG_FUNCTION_INFO_V1(dp_select_trans);

/* dp_group_selected(epsilon, delta, max_groups): one row per unit */
Datum
dp_select_trans(PG_FUNCTION_ARGS)
{
	DpState    *state = get_state(fcinfo, false);

	count_row(&state->n);
	PG_RETURN_POINTER(state);
}

/* is the group released?  once per state */
static bool
release_select(DpState *state)
{
	if (state->params.kind != DP_SELECT)
		not_our_aggregate();
	if (!state->released)
	{
		bool		selected;

		mech_error(dp_release_select(&state->params, state->n, &selected));
		state->result[0] = selected ? 1 : 0;
		state->released = 1;
	}
	return state->result[0] != 0;
}

PG_FUNCTION_INFO_V1(dp_select_final);
Datum
dp_select_final(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(release_select(final_state(fcinfo, false)));
}

/*
 * dp_count_units() is answered by the policy's rewrite (src/policy/bound.c),
 * which replaces it before the query runs; anywhere else it refuses.
 */
static pg_attribute_noreturn() void
count_units_outside_rewrite(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("privstat.dp_count_units() runs only in queries that privstat bounds per privacy unit"),
			 errdetail("Those are the queries of a role at access level aggregate over protected tables."),
			 errhint("Count distinct units as such a role, with count(DISTINCT unit) or dp_count_units(unit).")));
	pg_unreachable();
}

PG_FUNCTION_INFO_V1(dp_count_units_trans);
Datum
dp_count_units_trans(PG_FUNCTION_ARGS pg_attribute_unused())
{
	count_units_outside_rewrite();
}

PG_FUNCTION_INFO_V1(dp_count_units_final);
Datum
dp_count_units_final(PG_FUNCTION_ARGS pg_attribute_unused())
{
	count_units_outside_rewrite();
}

PG_FUNCTION_INFO_V1(privstat_contribution_rank);

/* a uniformly random bigint from the CSPRNG: the order of a unit's groups */
Datum
privstat_contribution_rank(PG_FUNCTION_ARGS pg_attribute_unused())
{
	uint64		r;

	if (!noise_random_bytes(&r, sizeof(r)))
		mech_error(DP_ERR_RANDOM);
	PG_RETURN_INT64((int64) (r >> 1));
}

PG_FUNCTION_INFO_V1(privstat_bounded_total);

/*
 * A unit's total in one group from n rows (values already clamped),
 * centred on centre and scaled to the contribution of at most m rows:
 * (total - n centre) min(n, m) / n, the mean of its rows times the rows
 * that count.  It lies within min(n, m) times the centred bounds.
 */
double
privstat_bounded_total_value(double total, int64 n, int32 m, double centre)
{
	double		c;

	if (n <= 0 || m <= 0)
		return 0.0;
	c = total - (double) n * centre;
	if (n > m)
		c = c / (double) n * (double) m;
	return c;
}

Datum
privstat_bounded_total(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(privstat_bounded_total_value(PG_GETARG_FLOAT8(0), PG_GETARG_INT64(1),
												  PG_GETARG_INT32(2), PG_GETARG_FLOAT8(3)));
}

PG_FUNCTION_INFO_V1(privstat_bounded_input);

/*
 * privstat._bounded_count and privstat._bounded_value: markers that the
 * bounding node (src/policy/fused.c) reads and never calls.
 */
Datum
privstat_bounded_input(PG_FUNCTION_ARGS pg_attribute_unused())
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("privstat._bounded_count() and privstat._bounded_value() run only inside privstat's bounding node"),
			 errhint("Use privstat.dp_count() or privstat.dp_sum().")));
	PG_RETURN_NULL();
}

PG_FUNCTION_INFO_V1(privstat_dp_mean);

/* the mean from a noisy centred sum and a noisy count, within the bounds */
Datum
privstat_dp_mean(PG_FUNCTION_ARGS)
{
	double		sum = PG_GETARG_FLOAT8(0);
	double		n = DatumGetFloat8(DirectFunctionCall1(numeric_float8, PG_GETARG_DATUM(1)));
	double		lower = PG_GETARG_FLOAT8(2);
	double		upper = PG_GETARG_FLOAT8(3);
	double		mean;

	if (!(lower <= upper))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lower bound must not be greater than upper bound")));
	mean = lower / 2.0 + upper / 2.0 + sum / (n < 1.0 ? 1.0 : n);
	if (!(mean >= lower))
		mean = lower;
	if (mean > upper)
		mean = upper;
	PG_RETURN_FLOAT8(mean);
}

static double
release_double(DpState *state)
{
	double		r;

	if (!state->released)
	{
		DpMechError err;

		if (state->params.kind == DP_AVG)
			err = dp_release_avg(&state->params, state->n, load128(state->sum), &r);
		else
		{
			err = dp_release_variance(&state->params, state->n, load128(state->sum),
									  load128(state->sum2), &r);
			if (state->params.kind == DP_STDDEV)
				r = sqrt(r);
		}
		mech_error(err);
		memcpy(state->result, &r, sizeof(r));
		state->released = 1;
	}
	memcpy(&r, state->result, sizeof(r));
	return r;
}

PG_FUNCTION_INFO_V1(dp_count_final);
Datum
dp_count_final(PG_FUNCTION_ARGS)
{
	noise_i128	r = release_integer(final_state(fcinfo, false));

	PG_RETURN_INT64((int64) r);
}

/* dp_sum of smallint and integer: bigint; the grid step is 2^k, k >= 0 */
static Datum
sum_result_int8(DpState *state)
{
	noise_i128	r = release_integer(state);
	int			k = state->params.grid_exp;

	if (k < 0 || k > 62 || r > (PG_INT64_MAX >> k) || r < (PG_INT64_MIN >> k))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("dp_sum result is out of range for type bigint")));
	return Int64GetDatum((int64) (r * ((noise_i128) 1 << k)));
}

PG_FUNCTION_INFO_V1(dp_sum_final_int8);
Datum
dp_sum_final_int8(PG_FUNCTION_ARGS)
{
	return sum_result_int8(final_state(fcinfo, false));
}

/* an int128 as numeric, exactly */
static Numeric
int128_to_numeric(noise_i128 v)
{
	char		buf[48];
	char	   *p = buf + sizeof(buf) - 1;
	bool		neg = v < 0;
	noise_u128	u = neg ? -(noise_u128) v : (noise_u128) v;

	*p = '\0';
	do
	{
		*--p = '0' + (int) (u % 10);
		u /= 10;
	} while (u != 0);
	if (neg)
		*--p = '-';
	return DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(p),
											   ObjectIdGetDatum(InvalidOid),
											   Int32GetDatum(-1)));
}

/*
 * dp_sum of bigint and numeric: numeric, exactly r * 2^k.  For k < 0 that is
 * r * 5^-k / 10^-k: the digits of r * 5^-k with the decimal point moved.
 */
static Datum
sum_result_numeric(DpState *state)
{
	noise_i128	r = release_integer(state);
	int			k = state->params.grid_exp;
	Numeric		result = int128_to_numeric(r);
	Numeric		factor = int64_to_numeric(k >= 0 ? 2 : 5);
	int			i;

	for (i = 0; i < abs(k); i++)
		result = DatumGetNumeric(DirectFunctionCall2(numeric_mul, NumericGetDatum(result),
													 NumericGetDatum(factor)));
	if (k < 0)
	{
		char	   *digits = DatumGetCString(DirectFunctionCall1(numeric_out,
																 NumericGetDatum(result)));
		bool		neg = (digits[0] == '-');
		char	   *mag = neg ? digits + 1 : digits;
		int			m = -k;
		int			len = strlen(mag);
		StringInfoData buf;

		initStringInfo(&buf);
		if (neg)
			appendStringInfoChar(&buf, '-');
		if (len <= m)
		{
			appendStringInfoString(&buf, "0.");
			for (i = len; i < m; i++)
				appendStringInfoChar(&buf, '0');
			appendStringInfoString(&buf, mag);
		}
		else
		{
			appendBinaryStringInfo(&buf, mag, len - m);
			appendStringInfoChar(&buf, '.');
			appendStringInfoString(&buf, mag + len - m);
		}
		result = DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(buf.data),
													 ObjectIdGetDatum(InvalidOid),
													 Int32GetDatum(-1)));
	}
	return NumericGetDatum(result);
}

PG_FUNCTION_INFO_V1(dp_sum_final_numeric);
Datum
dp_sum_final_numeric(PG_FUNCTION_ARGS)
{
	return sum_result_numeric(final_state(fcinfo, false));
}

static Datum
sum_result_float8(DpState *state)
{
	noise_i128	r = release_integer(state);

	return Float8GetDatum(ldexp((double) r, state->params.grid_exp));
}

PG_FUNCTION_INFO_V1(dp_sum_final_float8);
Datum
dp_sum_final_float8(PG_FUNCTION_ARGS)
{
	return sum_result_float8(final_state(fcinfo, false));
}

PG_FUNCTION_INFO_V1(dp_double_final);

/* dp_avg, dp_variance, dp_stddev */
Datum
dp_double_final(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(release_double(final_state(fcinfo, false)));
}

PG_FUNCTION_INFO_V1(dp_percentile_final);
Datum
dp_percentile_final(PG_FUNCTION_ARGS)
{
	DpHistState *state = final_state(fcinfo, true);

	if (!state->released)
	{
		mech_error(dp_release_percentile(&state->params, state->hist, &state->result));
		state->released = 1;
	}
	PG_RETURN_FLOAT8(state->result);
}


/* ---------------------------------------------------------------------------
 * States fed by privstat's fused bounding node (src/policy/fused.c), which
 * does the work of dp_sum and dp_group_selected for a bounded query itself:
 * the same parameters (from the same Aggref), the same grid and the same
 * release as the aggregates' own functions.
 * ---------------------------------------------------------------------------
 */

struct DpState *
privstat_dp_state_new(Aggref *aggref)
{
	DpKind		kind = dp_kind_of(aggref->aggfnoid, NULL);
	DpState    *state;

	if (kind != DP_SUM && kind != DP_SELECT)
		elog(ERROR, "privstat: the bounding node cannot release %s", format_procedure(aggref->aggfnoid));
	state = palloc0(DP_STATE_SIZE);
	params_from_aggref(aggref, &state->params);
	return state;
}

/* one unit's contribution to a dp_sum (its bigint or double value), or a unit of dp_group_selected */
void
privstat_dp_state_add(struct DpState *state, bool is_int, int64 ival, double fval)
{
	if (state->params.kind == DP_SELECT)
		count_row(&state->n);
	else
		accumulate(state, is_int ? dp_quantize_int(&state->params, ival)
				   : dp_quantize_float(&state->params, fval));
}

/* the noisy answer, as the aggregate's final function gives it (of type aggtype) */
Datum
privstat_dp_state_release(struct DpState *state, Oid aggtype)
{
	privstat_require_preload();
	await_charge();
	if (state->params.kind == DP_SELECT)
		return BoolGetDatum(release_select(state));
	switch (aggtype)
	{
		case NUMERICOID:
			return sum_result_numeric(state);
		case FLOAT8OID:
			return sum_result_float8(state);
		case INT8OID:
			return sum_result_int8(state);
		default:
			elog(ERROR, "privstat: unexpected result type %u of dp_sum", aggtype);
	}
	return (Datum) 0;			/* not reached */
}

/* ---------------------------------------------------------------------------
 * Percentiles monotone in p (privstat.consistent_answers)
 * ---------------------------------------------------------------------------
 */

/*
 * A percentile call, normalised: the calls of one group differ only in p
 * (dp_median is p = 0.5).  key: the value, bounds, epsilon, weight and
 * filter, as a list to compare with equal().
 */
typedef struct PctCall
{
	Aggref	   *aggref;
	double		p;
	List	   *key;
} PctCall;

static bool
percentile_call(Aggref *a, PctCall *call)
{
	bool		with_p;
	List	   *args = NIL;
	ListCell   *lc;
	Node	   *p;

	if (a->agglevelsup != 0 || a->aggdistinct != NIL || a->aggorder != NIL ||
		dp_kind_of(a->aggfnoid, &with_p) != DP_PERCENTILE)
		return false;
	/* constants as the planner will fold them (0.9 is still a cast of a numeric here) */
	foreach(lc, a->args)
		args = lappend(args, eval_const_expressions(NULL, copyObject((Node *) ((TargetEntry *) lfirst(lc))->expr)));
	if (with_p)
	{
		p = lsecond(args);
		if (!IsA(p, Const) || ((Const *) p)->consttype != FLOAT8OID || ((Const *) p)->constisnull)
			return false;
		call->p = DatumGetFloat8(((Const *) p)->constvalue);
		args = list_delete_nth_cell(args, 1);
	}
	else
		call->p = 0.5;
	call->aggref = a;
	/* the calls a group may hold: the same value, bounds, epsilon and filter */
	call->key = lappend(args, a->aggfilter);
	call->key = lappend(call->key, makeInteger(list_length(a->args) - (with_p ? 1 : 0)));
	return true;
}

static bool
collect_percentiles(Node *node, List **calls)
{
	if (node == NULL || IsA(node, Query))
		return false;
	if (IsA(node, Aggref))
	{
		PctCall    *call = palloc(sizeof(PctCall));

		if (percentile_call((Aggref *) node, call))
			*calls = lappend(*calls, call);
		return false;
	}
	return expression_tree_walker(node, collect_percentiles, (void *) calls);
}

typedef struct MonotoneCtx
{
	List	   *calls;			/* PctCall of the level */
	Oid			nth;			/* privstat._nth_smallest, looked up when first needed */
} MonotoneCtx;

/* the replacement of a percentile call of a group: its rank among the sorted answers */
static Node *
monotone_mutator(Node *node, MonotoneCtx *ctx)
{
	if (node == NULL || IsA(node, Query))
		return node;
	if (IsA(node, Aggref))
	{
		PctCall    *me = NULL;
		List	   *group = NIL;
		ListCell   *lc;
		int			rank = 1;
		ArrayExpr  *arr;

		foreach(lc, ctx->calls)
		{
			PctCall    *c = lfirst(lc);

			if (equal(c->aggref, node))
			{
				me = c;
				break;
			}
		}
		if (me == NULL)
			return node;
		/* the group's distinct calls, ordered by p */
		foreach(lc, ctx->calls)
		{
			PctCall    *c = lfirst(lc);
			ListCell   *lc2;
			bool		seen = false;

			if (!equal(c->key, me->key))
				continue;
			foreach(lc2, group)
				if (equal(((PctCall *) lfirst(lc2))->aggref, c->aggref))
					seen = true;
			if (!seen)
				group = lappend(group, c);
		}
		if (list_length(group) < 2)
			return node;
		if (!OidIsValid(ctx->nth))
			ctx->nth = LookupFuncName(list_make2(makeString("privstat"), makeString("_nth_smallest")),
									  2, (Oid[]) {FLOAT8ARRAYOID, INT4OID}, true);
		if (!OidIsValid(ctx->nth))
			return node;		/* an installation without it (0.3.0 before it) */
		foreach(lc, group)
		{
			PctCall    *c = lfirst(lc);

			if (c->p < me->p)
				rank++;
		}
		arr = makeNode(ArrayExpr);
		arr->array_typeid = FLOAT8ARRAYOID;
		arr->array_collid = InvalidOid;
		arr->element_typeid = FLOAT8OID;
		arr->multidims = false;
		arr->location = -1;
		foreach(lc, group)
			arr->elements = lappend(arr->elements, copyObject(((PctCall *) lfirst(lc))->aggref));
		return (Node *) makeFuncExpr(ctx->nth, FLOAT8OID,
									 list_make2(arr, makeConst(INT4OID, -1, InvalidOid, 4,
															   Int32GetDatum(rank), false, true)),
									 InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
	}
	return expression_tree_mutator(node, monotone_mutator, (void *) ctx);
}

static bool
monotone_query_walker(Node *node, MonotoneCtx *ctx)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
	{
		Query	   *q = (Query *) node;

		if (q->hasAggs && q->groupingSets == NIL)
		{
			ctx->calls = NIL;
			(void) collect_percentiles((Node *) q->targetList, &ctx->calls);
			(void) collect_percentiles(q->havingQual, &ctx->calls);
			if (list_length(ctx->calls) >= 2)
			{
				q->targetList = (List *) monotone_mutator((Node *) q->targetList, ctx);
				q->havingQual = monotone_mutator(q->havingQual, ctx);
			}
		}
		return query_tree_walker(q, monotone_query_walker, (void *) ctx, 0);
	}
	return expression_tree_walker(node, monotone_query_walker, (void *) ctx);
}

/*
 * With privstat.consistent_answers, the percentiles of one column released
 * in one row (same value, bounds, epsilon and filter; different p) are
 * answered in the order of their p: each call becomes the r-th smallest of
 * the row's released values, r its p's rank.  Post-processing: the same
 * releases, the same charge.
 */
void
privstat_monotone_percentiles(Query *query)
{
	MonotoneCtx ctx;

	if (!privstat_consistent_answers)
		return;
	ctx.nth = InvalidOid;
	ctx.calls = NIL;
	(void) monotone_query_walker((Node *) query, &ctx);
}

/* ---------------------------------------------------------------------------
 * Sums within what their count allows (privstat.consistent_answers)
 * ---------------------------------------------------------------------------
 */

/* a constant argument, as the planner will fold it; false if it is not one */
static bool
const_float8_arg(Node *arg, double *out)
{
	Node	   *c = eval_const_expressions(NULL, copyObject(arg));

	if (!IsA(c, Const) || ((Const *) c)->consttype != FLOAT8OID || ((Const *) c)->constisnull)
		return false;
	*out = DatumGetFloat8(((Const *) c)->constvalue);
	return true;
}

/*
 * The count released beside a sum over the same rows: a dp_count of the
 * sum's own value (exact: the sum lies in [count L, count U]) or dp_count(*)
 * (rows without a value add 0: [count min(L, 0), count max(U, 0)]), with the
 * same filter, among aggs (the Aggrefs of the sum's query level).  NULL if
 * there is none, or the sum's bounds are not constants.
 */
Aggref *
privstat_count_for_sum(Aggref *sum, List *aggs, bool *exact, double *lower, double *upper)
{
	ListCell   *lc;
	Aggref	   *star = NULL;

	if (dp_kind_of(sum->aggfnoid, NULL) != DP_SUM || sum->aggdistinct != NIL ||
		sum->agglevelsup != 0 || list_length(sum->args) < 3 ||
		!const_float8_arg((Node *) ((TargetEntry *) lsecond(sum->args))->expr, lower) ||
		!const_float8_arg((Node *) ((TargetEntry *) lthird(sum->args))->expr, upper))
		return NULL;
	foreach(lc, aggs)
	{
		Aggref	   *c = lfirst(lc);

		if (!IsA(c, Aggref) || dp_kind_of(c->aggfnoid, NULL) != DP_COUNT ||
			c->aggdistinct != NIL || c->agglevelsup != 0 || !equal(c->aggfilter, sum->aggfilter))
			continue;
		if (c->args == NIL)
			star = star ? star : c;
		else if (equal(((TargetEntry *) linitial(c->args))->expr,
					   ((TargetEntry *) linitial(sum->args))->expr))
		{
			*exact = true;
			return c;
		}
	}
	*exact = false;
	return star;
}

/*
 * sum, as privstat._consistent_sum(sum, count, lower, upper, exact) of the
 * sum's own type; sum itself if the function is missing (an installation
 * of 0.3.0 before it).
 */
Node *
privstat_consistent_sum_expr(Node *sum, Node *count, double lower, double upper, bool exact)
{
	Oid			type = exprType(sum);
	Oid			fn;
	Node	   *call;

	fn = LookupFuncName(list_make2(makeString("privstat"), makeString("_consistent_sum")), 5,
							(Oid[]) {FLOAT8OID, FLOAT8OID, FLOAT8OID, FLOAT8OID, BOOLOID}, true);
	if (!OidIsValid(fn))
		return sum;
	call = (Node *) makeFuncExpr(fn, FLOAT8OID,
								 list_make5(coerce_to_target_type(NULL, sum, type, FLOAT8OID, -1, COERCION_EXPLICIT,
																  COERCE_IMPLICIT_CAST, -1),
											coerce_to_target_type(NULL, count, exprType(count), FLOAT8OID, -1,
																  COERCION_EXPLICIT, COERCE_IMPLICIT_CAST, -1),
											makeConst(FLOAT8OID, -1, InvalidOid, 8, Float8GetDatum(lower), false, FLOAT8PASSBYVAL),
											makeConst(FLOAT8OID, -1, InvalidOid, 8, Float8GetDatum(upper), false, FLOAT8PASSBYVAL),
											makeBoolConst(exact, false)),
								 InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
	return coerce_to_target_type(NULL, call, FLOAT8OID, type, -1, COERCION_EXPLICIT,
								 COERCE_IMPLICIT_CAST, -1);
}

bool
privstat_collect_aggrefs(Node *node, List **aggs)
{
	if (node == NULL || IsA(node, Query))
		return false;
	if (IsA(node, Aggref))
	{
		*aggs = lappend(*aggs, node);
		return false;
	}
	return expression_tree_walker(node, privstat_collect_aggrefs, (void *) aggs);
}

static Node *
consistent_sum_mutator(Node *node, List *aggs)
{
	if (node == NULL || IsA(node, Query))
		return node;
	if (IsA(node, Aggref))
	{
		bool		exact;
		double		lower,
					upper;
		Aggref	   *count = privstat_count_for_sum((Aggref *) node, aggs, &exact, &lower, &upper);

		if (count == NULL)
			return node;
		return privstat_consistent_sum_expr(node, copyObject((Node *) count), lower, upper, exact);
	}
	return expression_tree_mutator(node, consistent_sum_mutator, (void *) aggs);
}

static bool
consistent_sum_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
	{
		Query	   *q = (Query *) node;
		List	   *aggs = NIL;

		if (q->hasAggs && q->groupingSets == NIL)
		{
			(void) privstat_collect_aggrefs((Node *) q->targetList, &aggs);
			(void) privstat_collect_aggrefs(q->havingQual, &aggs);
			if (list_length(aggs) >= 2)
			{
				q->targetList = (List *) consistent_sum_mutator((Node *) q->targetList, aggs);
				q->havingQual = consistent_sum_mutator(q->havingQual, aggs);
			}
		}
		return query_tree_walker(q, consistent_sum_walker, context, 0);
	}
	return expression_tree_walker(node, consistent_sum_walker, context);
}

/*
 * With privstat.consistent_answers, a dp_sum released in one row with a
 * dp_count of the same rows is kept within what that count allows
 * (privstat_count_for_sum).  The queries of restricted roles get the same
 * from their rewrite (src/policy/bound.c), whose levels hold no dp_count.
 */
void
privstat_consistent_sums(Query *query)
{
	if (privstat_consistent_answers)
		(void) consistent_sum_walker((Node *) query, NULL);
}

PG_FUNCTION_INFO_V1(privstat_consistent_sum);

/*
 * privstat._consistent_sum(sum, count, lower, upper, exact): sum within
 * [count lower, count upper] (exact) or [count min(lower, 0), count
 * max(upper, 0)].  Both are released values: post-processing.
 */
Datum
privstat_consistent_sum(PG_FUNCTION_ARGS)
{
	double		sum,
				count,
				lower,
				upper,
				lo,
				hi;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	sum = PG_GETARG_FLOAT8(0);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3) || PG_ARGISNULL(4) ||
		!privstat_consistent_answers)
		PG_RETURN_FLOAT8(sum);
	count = Max(PG_GETARG_FLOAT8(1), 0.0);
	lower = PG_GETARG_FLOAT8(2);
	upper = PG_GETARG_FLOAT8(3);
	if (!PG_GETARG_BOOL(4))
	{
		lower = Min(lower, 0.0);
		upper = Max(upper, 0.0);
	}
	lo = count * lower;
	hi = count * upper;
	if (isnan(sum) || isnan(lo) || isnan(hi) || lo > hi)
		PG_RETURN_FLOAT8(sum);
	PG_RETURN_FLOAT8(Min(Max(sum, lo), hi));
}

PG_FUNCTION_INFO_V1(privstat_nth_smallest);

/* privstat._nth_smallest(values, n): the n-th smallest of the values that are not NULL */
Datum
privstat_nth_smallest(PG_FUNCTION_ARGS)
{
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(0);
	int32		n = PG_GETARG_INT32(1);
	Datum	   *elems;
	bool	   *nulls;
	int			count;
	int			k = 0;
	double	   *v;
	int			i;
	int			j;

	deconstruct_array(arr, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, &nulls, &count);
	v = palloc(Max(count, 1) * sizeof(double));
	for (i = 0; i < count; i++)
		if (!nulls[i])
			v[k++] = DatumGetFloat8(elems[i]);
	if (n < 1 || n > k)
		PG_RETURN_NULL();
	/* insertion sort: a row has a few percentiles */
	for (i = 1; i < k; i++)
		for (j = i; j > 0 && float8_gt(v[j - 1], v[j]); j--)
		{
			double		t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	PG_RETURN_FLOAT8(v[n - 1]);
}

/* ---------------------------------------------------------------------------
 * Citus: partial states on the workers, merged and released on the
 * coordinator (src/citus.c writes the calls; doc/citus.md)
 *
 * The workers count dp_count's rows and sum dp_sum's and dp_avg's grid
 * values (_dp_grid, below) with PostgreSQL's count() and sum(), and
 * _citus_partials builds those states on the coordinator.
 * privstat._dp_partial(value, kind, lower, upper, epsilon) (of dp_variance
 * and dp_stddev) and privstat._dp_partial_hist(value, p, lower, upper,
 * epsilon) (of percentiles) are plain aggregates, not DP ones:
 * their value is the exact state, which leaves a worker only sealed (the
 * state types' I/O, below), and which nothing but a merge reads.  They take
 * their parameters from their arguments, since Citus calls them through its
 * own aggregates (worker_partial_agg, coord_combine_agg) with its own
 * Aggref, and combine only states that were never stamped.
 *
 * privstat._citus_partials hands out the states its authenticated query
 * returned, each stamped (pad = STAMP_MAGIC).  A merge,
 * privstat._dp_merge_*(state, the original call's parameters), is a DP
 * aggregate: priced and charged as the call it replaces, it takes exactly
 * one stamped state per group, with the parameters of its own call, and
 * releases it as that call would have.  A state used twice in a group, or
 * states of several groups merged into one, is refused: no row can count
 * more than once in a release.
 * ---------------------------------------------------------------------------
 */

#define STAMP_MAGIC		0x50535453	/* "PSTS": handed out by _citus_partials */

/*
 * The parameters of a partial state of kind, checked as a DP aggregate
 * checks its own: what partial_state puts in a new state, and what
 * _dp_grid quantizes with.
 */
static void
partial_params(DpParams *params, DpKind kind, bool integer_input,
			   double lower, double upper, double epsilon, double p)
{
	if (kind != DP_COUNT && kind != DP_SUM && kind != DP_AVG && kind != DP_VARIANCE &&
		kind != DP_STDDEV && kind != DP_PERCENTILE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a DP partial state is of dp_count, dp_sum, dp_avg, dp_variance, dp_stddev or a percentile")));
	check_epsilon(epsilon, kind);
	if (kind != DP_COUNT)
		check_bounds(lower, upper, kind);
	if (isnan(p) || p < 0.0 || p > 1.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("p of dp_percentile must be between 0 and 1")));
	dp_params_init(params, kind, epsilon, lower, upper, p, integer_input);
	params->epsilon = epsilon;
	check_grid(params, kind);
}

/*
 * The group's partial state (a DpHistState for percentiles): made on its
 * first row from the call's arguments.
 */
static void *
partial_state(FunctionCallInfo fcinfo, DpKind kind, bool integer_input,
			  double lower, double upper, double epsilon, double p)
{
	static char checked;		/* fn_extra of a call site already checked */
	MemoryContext aggcontext;
	void	   *state;
	DpParams	params;

	/* fast path, once per row, as in get_state: a call site's context never changes */
	if (likely(fcinfo->flinfo->fn_extra == &checked && !PG_ARGISNULL(0)))
		return PG_GETARG_POINTER(0);
	if (AggCheckCallContext(fcinfo, &aggcontext) != AGG_CONTEXT_AGGREGATE)
		not_our_aggregate();
	fcinfo->flinfo->fn_extra = &checked;
	if (!PG_ARGISNULL(0))
		return PG_GETARG_POINTER(0);
	partial_params(&params, kind, integer_input, lower, upper, epsilon, p);
	state = MemoryContextAllocZero(aggcontext, kind == DP_PERCENTILE ? DP_HIST_STATE_SIZE : DP_STATE_SIZE);
	memcpy(state, &params, sizeof(DpParams));
	return state;
}

/* _dp_partial(value, kind, lower, upper, epsilon): as dp_trans_* would fill it */
#define PARTIAL_TRANS(fname, is_int, getarg) \
PG_FUNCTION_INFO_V1(fname); \
Datum \
fname(PG_FUNCTION_ARGS) \
{ \
	DpState    *state; \
\
	if (PG_ARGISNULL(2) || PG_ARGISNULL(3) || PG_ARGISNULL(4) || PG_ARGISNULL(5)) \
		ereport(ERROR, \
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), \
				 errmsg("the parameters of a DP partial state must not be null"))); \
	if (PG_GETARG_INT32(2) == DP_PERCENTILE) \
		ereport(ERROR, \
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE), \
				 errmsg("the partial state of a percentile is _dp_partial_hist's"))); \
	state = partial_state(fcinfo, (DpKind) PG_GETARG_INT32(2), is_int, PG_GETARG_FLOAT8(3), \
						  PG_GETARG_FLOAT8(4), PG_GETARG_FLOAT8(5), 0.5); \
	if (!PG_ARGISNULL(1)) \
		accumulate(state, is_int ? dp_quantize_int(&state->params, (int64) (getarg)) \
				   : dp_quantize_float(&state->params, (double) (getarg))); \
	PG_RETURN_POINTER(state); \
}

PARTIAL_TRANS(dp_partial_trans_int2, true, PG_GETARG_INT16(1))
PARTIAL_TRANS(dp_partial_trans_int4, true, PG_GETARG_INT32(1))
PARTIAL_TRANS(dp_partial_trans_int8, true, PG_GETARG_INT64(1))
PARTIAL_TRANS(dp_partial_trans_numeric, false, numeric_arg_float8(fcinfo, 1))
PARTIAL_TRANS(dp_partial_trans_float8, false, PG_GETARG_FLOAT8(1))

/* _dp_partial_hist(value, p, lower, upper, epsilon): as dp_hist_trans_* would fill it */
#define PARTIAL_HIST_TRANS(fname, is_int, getarg) \
PG_FUNCTION_INFO_V1(fname); \
Datum \
fname(PG_FUNCTION_ARGS) \
{ \
	DpHistState *state; \
\
	if (PG_ARGISNULL(2) || PG_ARGISNULL(3) || PG_ARGISNULL(4) || PG_ARGISNULL(5)) \
		ereport(ERROR, \
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), \
				 errmsg("the parameters of a DP partial state must not be null"))); \
	state = partial_state(fcinfo, DP_PERCENTILE, is_int, PG_GETARG_FLOAT8(3), PG_GETARG_FLOAT8(4), \
						  PG_GETARG_FLOAT8(5), PG_GETARG_FLOAT8(2)); \
	if (!PG_ARGISNULL(1)) \
		hist_add(state, (double) (getarg)); \
	PG_RETURN_POINTER(state); \
}

PARTIAL_HIST_TRANS(dp_partial_hist_trans_int2, true, PG_GETARG_INT16(1))
PARTIAL_HIST_TRANS(dp_partial_hist_trans_int4, true, PG_GETARG_INT32(1))
PARTIAL_HIST_TRANS(dp_partial_hist_trans_int8, true, PG_GETARG_INT64(1))
PARTIAL_HIST_TRANS(dp_partial_hist_trans_numeric, false, numeric_arg_float8(fcinfo, 1))
PARTIAL_HIST_TRANS(dp_partial_hist_trans_float8, false, PG_GETARG_FLOAT8(1))

/*
 * _dp_grid(value, kind, lower, upper, epsilon): the value as dp_sum
 * (kind 2) or dp_avg (kind 3) adds it to its state: clamped, on the grid,
 * and for dp_avg centred (accumulate).  NULL for NULL.  So the workers can
 * make a sum's or an average's partial with PostgreSQL's own count() and
 * sum(), which Citus distributes without a wrapper, and _citus_partials
 * builds the state from them (privstat_dp_state_of).  It gives nothing a
 * caller could not compute from the value itself.
 */
typedef struct GridCache
{
	int32		kind;
	double		lower;
	double		upper;
	double		epsilon;
	DpParams	params;
} GridCache;

static const DpParams *
grid_params(FunctionCallInfo fcinfo, bool integer_input)
{
	GridCache  *cache = fcinfo->flinfo->fn_extra;
	int32		kind;
	double		lower;
	double		upper;
	double		epsilon;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3) || PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the parameters of a DP grid value must not be null")));
	kind = PG_GETARG_INT32(1);
	lower = PG_GETARG_FLOAT8(2);
	upper = PG_GETARG_FLOAT8(3);
	epsilon = PG_GETARG_FLOAT8(4);
	/* the parameters are constants of a call site: checked once unless they change */
	if (likely(cache != NULL && cache->kind == kind && cache->lower == lower &&
			   cache->upper == upper && cache->epsilon == epsilon))
		return &cache->params;
	if (kind != DP_SUM && kind != DP_AVG)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a DP grid value is of dp_sum or dp_avg")));
	if (cache == NULL)
		cache = fcinfo->flinfo->fn_extra = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(GridCache));
	cache->kind = -1;
	partial_params(&cache->params, (DpKind) kind, integer_input, lower, upper, epsilon, 0.5);
	cache->kind = kind;
	cache->lower = lower;
	cache->upper = upper;
	cache->epsilon = epsilon;
	return &cache->params;
}

/* what accumulate adds for grid value q */
static inline int64
grid_addend(const DpParams *params, int64 q)
{
	/* |q| <= DP_MAX_GRID_STEPS (partial_params): 2q - upper_q fits */
	return params->kind == DP_SUM ? q : 2 * q - params->upper_q;
}

#define GRID_VALUE(fname, is_int, getarg) \
PG_FUNCTION_INFO_V1(fname); \
Datum \
fname(PG_FUNCTION_ARGS) \
{ \
	const DpParams *params = grid_params(fcinfo, is_int); \
\
	if (PG_ARGISNULL(0)) \
		PG_RETURN_NULL(); \
	PG_RETURN_INT64(grid_addend(params, is_int ? dp_quantize_int(params, (int64) (getarg)) \
								: dp_quantize_float(params, (double) (getarg)))); \
}

GRID_VALUE(dp_grid_int2, true, PG_GETARG_INT16(0))
GRID_VALUE(dp_grid_int4, true, PG_GETARG_INT32(0))
GRID_VALUE(dp_grid_int8, true, PG_GETARG_INT64(0))
GRID_VALUE(dp_grid_numeric, false, numeric_arg_float8(fcinfo, 0))
GRID_VALUE(dp_grid_float8, false, PG_GETARG_FLOAT8(0))

/* an integral numeric (a sum of int8s) as an int128; false beyond its range */
static bool
numeric_to_i128(Datum num, noise_i128 *out)
{
	char	   *text = DatumGetCString(DirectFunctionCall1(numeric_out, num));
	char	   *c = text;
	bool		negative = (*c == '-');
	noise_i128	v = 0;

	if (negative)
		c++;
	if (*c == '\0')
		return false;
	for (; *c != '\0'; c++)
	{
		if (*c < '0' || *c > '9' ||
			__builtin_mul_overflow(v, 10, &v) ||
			__builtin_add_overflow(v, negative ? -(*c - '0') : (*c - '0'), &v))
			return false;
	}
	*out = v;
	return true;
}

/*
 * A partial state of dp_count (kind 1), dp_sum (2) or dp_avg (3) made from
 * what the workers counted and summed with PostgreSQL's own aggregates: n
 * rows, and (not for a count) sum, the sum of their _dp_grid values, NULL
 * over no rows.  Its parameters are checked as partial_state checks them;
 * a count's are those _dp_merge_count expects of any count.
 */
Datum
privstat_dp_state_of(int32 kind, bool integer_input, double lower, double upper,
					 double epsilon, int64 n, Datum sum, bool sum_null)
{
	DpState    *state = palloc0(DP_STATE_SIZE);
	noise_i128	total = 0;

	if (kind != DP_COUNT && kind != DP_SUM && kind != DP_AVG)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a DP partial state made from counts is of dp_count, dp_sum or dp_avg")));
	if (kind == DP_COUNT)
		partial_params(&state->params, DP_COUNT, false, 0.0, 0.0, 1.0, 0.5);
	else
		partial_params(&state->params, (DpKind) kind, integer_input, lower, upper, epsilon, 0.5);
	if (n < 0 || (kind != DP_COUNT && n > 0 && sum_null))
		elog(ERROR, "privstat: a partial count of %lld rows is not a count", (long long) n);
	if (kind != DP_COUNT && !sum_null && !numeric_to_i128(sum, &total))
		out_of_range("sum");
	state->n = n;
	store128(state->sum, total);
	return PointerGetDatum(state);
}

/*
 * The two state types, seen alike here: their size, the fields a partial
 * state's handling reads, and how one is added to another.
 */
static int
state_size(bool hist)
{
	return hist ? DP_HIST_STATE_SIZE : DP_STATE_SIZE;
}

static int32 *
state_pad(void *state, bool hist)
{
	return hist ? &((DpHistState *) state)->pad : &((DpState *) state)->pad;
}

static int32
state_released(const void *state, bool hist)
{
	return hist ? ((const DpHistState *) state)->released : ((const DpState *) state)->released;
}

static void
state_add_any(void *s1, const void *s2, bool hist)
{
	if (hist)
		hist_state_add(s1, s2);
	else
		state_add(s1, s2);
}

/* a state a partial may combine: never stamped, never released, valid */
static void
check_partial(void *state, bool hist)
{
	check_state_params((const DpParams *) state);
	if (*state_pad(state, hist) != 0 || state_released(state, hist) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("only partial states that were never handed out can be combined")));
}

/* the combine function of the partial aggregates: partials only, of equal parameters */
static Datum
partial_combine(FunctionCallInfo fcinfo, bool hist)
{
	MemoryContext aggcontext;
	void	   *s1;
	void	   *s2;

	if (AggCheckCallContext(fcinfo, &aggcontext) != AGG_CONTEXT_AGGREGATE)
		not_our_aggregate();
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	s2 = PG_GETARG_POINTER(1);
	check_partial(s2, hist);
	if (PG_ARGISNULL(0))
	{
		s1 = MemoryContextAlloc(aggcontext, state_size(hist));
		memcpy(s1, s2, state_size(hist));
		PG_RETURN_POINTER(s1);
	}
	s1 = PG_GETARG_POINTER(0);
	check_partial(s1, hist);
	if (memcmp(s1, s2, sizeof(DpParams)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot combine DP partial states with different parameters")));
	state_add_any(s1, s2, hist);
	PG_RETURN_POINTER(s1);
}

PG_FUNCTION_INFO_V1(dp_partial_combine);
Datum
dp_partial_combine(PG_FUNCTION_ARGS)
{
	return partial_combine(fcinfo, false);
}

PG_FUNCTION_INFO_V1(dp_partial_hist_combine);
Datum
dp_partial_hist_combine(PG_FUNCTION_ARGS)
{
	return partial_combine(fcinfo, true);
}

/*
 * A state _citus_partials hands out: checked, copied and stamped.  The
 * states of its query's result are partials, never stamped.
 */
Datum
privstat_dp_state_stamp(Datum state, bool hist)
{
	void	   *copy = palloc(state_size(hist));

	memcpy(copy, DatumGetPointer(state), state_size(hist));
	check_partial(copy, hist);
	*state_pad(copy, hist) = STAMP_MAGIC;
	return PointerGetDatum(copy);
}

/*
 * _dp_merge_*(state, parameters...): the group's state, made from the
 * call's own parameters, takes the one stamped state of the group.  A
 * count's state holds no parameter but its kind.
 */
static Datum
merge_trans(FunctionCallInfo fcinfo, bool hist)
{
	void	   *state = get_state(fcinfo, hist);
	void	   *in;
	DpParams   *params = (DpParams *) state;

	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(state);
	in = PG_GETARG_POINTER(1);
	check_state_params((const DpParams *) in);
	if (*state_pad(in, hist) != STAMP_MAGIC || state_released(in, hist) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("a merge of DP partial states takes only the states privstat._citus_partials handed out")));
	if (*state_pad(state, hist) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("a merge of DP partial states takes one state per group"),
				 errdetail("A state used twice, or the states of several groups, would count rows more than once.")));
	if (((DpParams *) in)->kind != params->kind ||
		(params->kind != DP_COUNT && memcmp(in, params, sizeof(DpParams)) != 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a DP partial state was made for other parameters than its merge")));
	state_add_any(state, in, hist);
	*state_pad(state, hist) = 1;
	PG_RETURN_POINTER(state);
}

PG_FUNCTION_INFO_V1(dp_merge_trans);
Datum
dp_merge_trans(PG_FUNCTION_ARGS)
{
	return merge_trans(fcinfo, false);
}

PG_FUNCTION_INFO_V1(dp_merge_hist_trans);
Datum
dp_merge_hist_trans(PG_FUNCTION_ARGS)
{
	return merge_trans(fcinfo, true);
}

/* the OID of privstat.dp_state, or of privstat.dp_hist_state */
Oid
privstat_dp_state_type(bool hist)
{
	Oid			nsp = get_namespace_oid("privstat", false);

	return GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
						   CStringGetDatum(hist ? "dp_hist_state" : "dp_state"),
						   ObjectIdGetDatum(nsp));
}

/* ---------------------------------------------------------------------------
 * The state types' I/O: sealed
 *
 * A state holds exact counts and sums.  Whatever leaves a backend as a value
 * of the state types (a Citus worker's partial state, sent as text or
 * binary to the coordinator) is sealed: AES-256-GCM under a key derived from
 * the master key (so every node sharing the key file can open it), with a
 * random nonce, the type's name as associated data:
 *	text:	"ps1:" and hex of nonce (12) | ciphertext (the state) | tag (16)
 *	binary:	the same bytes
 * No SQL caller reads an exact state, and a changed one fails to open.
 * ---------------------------------------------------------------------------
 */

#define SEAL_PREFIX			"ps1:"
#define SEAL_NONCE_LEN		12
#define SEAL_TAG_LEN		16
#define SEALED_SIZE(size)	(SEAL_NONCE_LEN + (size) + SEAL_TAG_LEN)

static const uint8 *
seal_key(void)
{
	return privstat_get_key(KEY_PURPOSE_PSEUDONYM, "dp_state", 1)->key;
}

static pg_attribute_noreturn() void
seal_failed(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INTERNAL_ERROR),
			 errmsg("could not %s a DP aggregate state", what)));
	pg_unreachable();
}

/* out: SEALED_SIZE(size) bytes */
static void
seal_state(const void *state, int size, const char *type, uint8 *out)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int			len;
	bool		ok;

	if (ctx == NULL || !pg_strong_random(out, SEAL_NONCE_LEN))
		seal_failed("seal");
	ok = EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, seal_key(), out) == 1 &&
		EVP_EncryptUpdate(ctx, NULL, &len, (const uint8 *) type, strlen(type)) == 1 &&
		EVP_EncryptUpdate(ctx, out + SEAL_NONCE_LEN, &len, state, size) == 1 && len == size &&
		EVP_EncryptFinal_ex(ctx, out + SEAL_NONCE_LEN + size, &len) == 1 &&
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SEAL_TAG_LEN, out + SEAL_NONCE_LEN + size) == 1;
	EVP_CIPHER_CTX_free(ctx);
	if (!ok)
		seal_failed("seal");
}

/* in: SEALED_SIZE(size) bytes; a palloc'd state, or an error if it does not open */
static void *
open_state(const uint8 *in, int size, const char *type)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	uint8	   *state = palloc(size);
	uint8		tag[SEAL_TAG_LEN];
	uint8		rest[SEAL_TAG_LEN];	/* what the final call writes: nothing, for GCM */
	int			len;
	bool		ok;

	if (ctx == NULL)
		seal_failed("open");
	memcpy(tag, in + SEAL_NONCE_LEN + size, SEAL_TAG_LEN);
	ok = EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, seal_key(), in) == 1 &&
		EVP_DecryptUpdate(ctx, NULL, &len, (const uint8 *) type, strlen(type)) == 1 &&
		EVP_DecryptUpdate(ctx, state, &len, in + SEAL_NONCE_LEN, size) == 1 && len == size &&
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SEAL_TAG_LEN, tag) == 1 &&
		EVP_DecryptFinal_ex(ctx, rest, &len) == 1 && len == 0;
	EVP_CIPHER_CTX_free(ctx);
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid sealed %s", type),
				 errdetail("It was changed, or sealed under another key.")));
	check_state_params((DpParams *) state);
	return state;
}

static Datum
state_in(const char *str, int size, const char *type)
{
	size_t		len = strlen(str);
	size_t		prefix = strlen(SEAL_PREFIX);
	uint8	   *sealed;

	if (len != prefix + 2 * (size_t) SEALED_SIZE(size) || strncmp(str, SEAL_PREFIX, prefix) != 0 ||
		strspn(str + prefix, "0123456789abcdef") != len - prefix)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type %s", type),
				 errdetail("A %s is sealed: \"%s\" and %d hexadecimal digits.", type, SEAL_PREFIX,
						   2 * SEALED_SIZE(size))));
	sealed = palloc(SEALED_SIZE(size));
	hex_decode(str + prefix, len - prefix, (char *) sealed);
	PG_RETURN_POINTER(open_state(sealed, size, type));
}

static Datum
state_out(const void *state, int size, const char *type)
{
	size_t		prefix = strlen(SEAL_PREFIX);
	uint8	   *sealed = palloc(SEALED_SIZE(size));
	char	   *result = palloc(prefix + 2 * SEALED_SIZE(size) + 1);

	seal_state(state, size, type, sealed);
	memcpy(result, SEAL_PREFIX, prefix);
	hex_encode((const char *) sealed, SEALED_SIZE(size), result + prefix);
	result[prefix + 2 * SEALED_SIZE(size)] = '\0';
	PG_RETURN_CSTRING(result);
}

static Datum
state_recv(StringInfo buf, int size, const char *type)
{
	uint8	   *sealed;

	if (buf->len - buf->cursor != SEALED_SIZE(size))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid length in external %s value", type)));
	sealed = palloc(SEALED_SIZE(size));
	pq_copymsgbytes(buf, (char *) sealed, SEALED_SIZE(size));
	PG_RETURN_POINTER(open_state(sealed, size, type));
}

static Datum
state_send(const void *state, int size, const char *type)
{
	StringInfoData buf;
	uint8	   *sealed = palloc(SEALED_SIZE(size));

	seal_state(state, size, type, sealed);
	pq_begintypsend(&buf);
	pq_sendbytes(&buf, (char *) sealed, SEALED_SIZE(size));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

PG_FUNCTION_INFO_V1(dp_state_in);
Datum
dp_state_in(PG_FUNCTION_ARGS)
{
	return state_in(PG_GETARG_CSTRING(0), DP_STATE_SIZE, "dp_state");
}

PG_FUNCTION_INFO_V1(dp_state_out);
Datum
dp_state_out(PG_FUNCTION_ARGS)
{
	return state_out(PG_GETARG_POINTER(0), DP_STATE_SIZE, "dp_state");
}

PG_FUNCTION_INFO_V1(dp_state_recv);
Datum
dp_state_recv(PG_FUNCTION_ARGS)
{
	return state_recv((StringInfo) PG_GETARG_POINTER(0), DP_STATE_SIZE, "dp_state");
}

PG_FUNCTION_INFO_V1(dp_state_send);
Datum
dp_state_send(PG_FUNCTION_ARGS)
{
	return state_send(PG_GETARG_POINTER(0), DP_STATE_SIZE, "dp_state");
}

PG_FUNCTION_INFO_V1(dp_hist_state_in);
Datum
dp_hist_state_in(PG_FUNCTION_ARGS)
{
	return state_in(PG_GETARG_CSTRING(0), DP_HIST_STATE_SIZE, "dp_hist_state");
}

PG_FUNCTION_INFO_V1(dp_hist_state_out);
Datum
dp_hist_state_out(PG_FUNCTION_ARGS)
{
	return state_out(PG_GETARG_POINTER(0), DP_HIST_STATE_SIZE, "dp_hist_state");
}

PG_FUNCTION_INFO_V1(dp_hist_state_recv);
Datum
dp_hist_state_recv(PG_FUNCTION_ARGS)
{
	return state_recv((StringInfo) PG_GETARG_POINTER(0), DP_HIST_STATE_SIZE, "dp_hist_state");
}

PG_FUNCTION_INFO_V1(dp_hist_state_send);
Datum
dp_hist_state_send(PG_FUNCTION_ARGS)
{
	return state_send(PG_GETARG_POINTER(0), DP_HIST_STATE_SIZE, "dp_hist_state");
}


/*
 * The price of one DP aggregate call of a plan: its epsilon and delta, with
 * its parameters checked (src/pricing.c adds them up).  plan is the node
 * whose expressions hold aggref, for the arguments of a Finalize Agg's.
 */
void
privstat_dp_aggref_price(Aggref *aggref, Plan *plan, double *epsilon, double *delta)
{
	bool		with_p;
	DpKind		kind = dp_kind_of(aggref->aggfnoid, &with_p);
	DpParams	params;

	if (kind == 0)
		elog(ERROR, "privstat_dp_aggref_price called for another aggregate");
	params_of_kind(original_aggref(aggref, plan), kind, with_p, &params);
	/* discrete Laplace and permute-and-flip are pure DP: delta 0 */
	*epsilon = params.epsilon;
	*delta = kind == DP_SELECT ? params.lower : 0.0;
}


/* ---------------------------------------------------------------------------
 * Error bounds, for dashboards ("1,234 +/- 5")
 * ---------------------------------------------------------------------------
 */

/* epsilon argument argno, or privstat.epsilon when NULL; checked */
static double
error_epsilon(FunctionCallInfo fcinfo, int argno, DpKind kind)
{
	double		epsilon = PG_ARGISNULL(argno) ? privstat_default_epsilon
		: PG_GETARG_FLOAT8(argno);

	check_epsilon(epsilon, kind);
	return epsilon;
}

/* float8 argument argno, which must not be NULL; what names it in the error */
static double
error_arg(FunctionCallInfo fcinfo, int argno, const char *what)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
	return PG_GETARG_FLOAT8(argno);
}

static double
error_level(FunctionCallInfo fcinfo, int argno)
{
	double		level = error_arg(fcinfo, argno, "confidence level");

	if (!(level > 0.0 && level < 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("confidence level must be between 0 and 1, exclusive"),
				 errhint("Use 0.95 for a 95%% interval.")));
	return level;
}

static void
error_bounds(FunctionCallInfo fcinfo, double *lower, double *upper, DpKind kind)
{
	*lower = error_arg(fcinfo, 0, "bounds");
	*upper = error_arg(fcinfo, 1, "bounds");
	check_bounds(*lower, *upper, kind);
}

static double
eff_epsilon(const DpParams *params)
{
	return ldexp((double) params->eps_units, -DP_EPS_BITS);
}

PG_FUNCTION_INFO_V1(dp_count_error);

/* dp_count_error(epsilon, level): half-width of dp_count's noise interval */
Datum
dp_count_error(PG_FUNCTION_ARGS)
{
	DpParams	params;
	double		level = error_level(fcinfo, 1);

	dp_params_init(&params, DP_COUNT, error_epsilon(fcinfo, 0, DP_COUNT), 0, 0, 0, true);
	PG_RETURN_FLOAT8(dp_laplace_bound(1.0 / eff_epsilon(&params), level));
}

PG_FUNCTION_INFO_V1(dp_sum_error);

/* dp_sum_error(lower, upper, epsilon, level) */
Datum
dp_sum_error(PG_FUNCTION_ARGS)
{
	DpParams	params;
	double		lower;
	double		upper;
	double		level = error_level(fcinfo, 3);
	double		sens;

	error_bounds(fcinfo, &lower, &upper, DP_SUM);
	dp_params_init(&params, DP_SUM, error_epsilon(fcinfo, 2, DP_SUM), lower, upper, 0, false);
	sens = fmax(fabs((double) params.lower_q), fabs((double) params.upper_q));
	if (sens == 0.0)
		PG_RETURN_FLOAT8(0.0);
	PG_RETURN_FLOAT8(ldexp(dp_laplace_bound(sens / eff_epsilon(&params), level),
						   params.grid_exp));
}

/*
 * The noise terms of avg and variance, each at level^(1/terms), so that all
 * hold together at the requested level.  count is the (noisy) count the
 * dashboard shows next to the answer.
 */
PG_FUNCTION_INFO_V1(dp_avg_error);
Datum
dp_avg_error(PG_FUNCTION_ARGS)
{
	DpParams	params;
	double		lower;
	double		upper;
	double		count;
	double		level = error_level(fcinfo, 4);
	double		each = sqrt(level);
	double		r;
	double		bn;
	double		bs;

	error_bounds(fcinfo, &lower, &upper, DP_AVG);
	count = error_arg(fcinfo, 2, "count");
	dp_params_init(&params, DP_AVG, error_epsilon(fcinfo, 3, DP_AVG), lower, upper, 0, false);
	r = (double) params.upper_q;
	bn = dp_laplace_bound(2.0 / eff_epsilon(&params), each);
	bs = r > 0 ? dp_laplace_bound(2.0 * r / eff_epsilon(&params), each) : 0.0;
	/* |avg' - avg| <= g (|z_s| + R |z_n|) / (2 (n + z_n)) */
	PG_RETURN_FLOAT8(fmin(upper - lower,
						  ldexp((bs + r * bn) / (2.0 * fmax(count - bn, 1.0)), params.grid_exp)));
}

PG_FUNCTION_INFO_V1(dp_variance_error);
Datum
dp_variance_error(PG_FUNCTION_ARGS)
{
	DpParams	params;
	double		lower;
	double		upper;
	double		count;
	double		level = error_level(fcinfo, 4);
	double		each = cbrt(level);
	double		r;
	double		n;
	double		bn;
	double		b1;
	double		b2;
	double		half;

	error_bounds(fcinfo, &lower, &upper, DP_VARIANCE);
	count = error_arg(fcinfo, 2, "count");
	dp_params_init(&params, DP_VARIANCE, error_epsilon(fcinfo, 3, DP_VARIANCE), lower, upper, 0, false);
	r = (double) params.upper_q;
	bn = dp_laplace_bound(3.0 / eff_epsilon(&params), each);
	b1 = r > 0 ? dp_laplace_bound(3.0 * r / eff_epsilon(&params), each) : 0.0;
	b2 = r > 0 ? dp_laplace_bound(3.0 * r * r / eff_epsilon(&params), each) : 0.0;
	n = fmax(count - bn, 1.0);
	half = (upper - lower) / 2.0;
	/* first-order bound on |var(c)' - var(c)|, c = 2x on the grid, over 4 */
	PG_RETURN_FLOAT8(fmin(half * half,
						  ldexp((b2 + r * r * bn + 2.0 * r * b1 + b1 * b1 / n) / n / 4.0,
								2 * params.grid_exp)));
}

PG_FUNCTION_INFO_V1(dp_percentile_rank_error);

/*
 * dp_percentile_rank_error(epsilon, level): with probability level, the
 * released boundary is within this many rows of the requested rank (plus
 * the width of one histogram bin).  Permute-and-flip's utility is within
 * 2 (ln m + ln(1/alpha)) / epsilon of the best for m candidates.
 */
Datum
dp_percentile_rank_error(PG_FUNCTION_ARGS)
{
	DpParams	params;
	double		level = error_level(fcinfo, 1);

	dp_params_init(&params, DP_PERCENTILE, error_epsilon(fcinfo, 0, DP_PERCENTILE), 0, 0, 0.5, false);
	PG_RETURN_FLOAT8(ceil(2.0 * (log((double) (DP_HIST_BINS + 1)) + log(1.0 / (1.0 - level)))
						  / eff_epsilon(&params)));
}
