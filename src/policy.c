/*-------------------------------------------------------------------------
 *
 * policy.c
 *	  Access levels and the enforcement of protected tables.
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
 * Validation walks the rewritten query (views expanded) one query level at
 * a time.  A level whose rows come from protected data is either
 *	- raw: it passes protected rows on; allowed only as a FROM subquery, CTE
 *	  or sublink feeding a level below that aggregates them, and only with
 *	  expressions that cannot fail or leak (see check_row);
 *	- aggregating: every aggregate is a DP aggregate (or a count/sum/avg
 *	  rewritten into one), and its outputs are DP results and group keys.
 * Levels above aggregating ones (post-processing) are free.
 *
 * The rules, and why each exists, are in doc/policy.md.  Every refusal is
 * SQLSTATE 42501 with a message naming the rule and a hint with the allowed
 * form.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/objectaccess.h"
#include "catalog/partition.h"
#include "catalog/pg_aggregate.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/clauses.h"
#include "optimizer/optimizer.h"
#include "optimizer/planner.h"
#include "parser/parse_coerce.h"
#include "parser/parse_collate.h"
#include "parser/parse_expr.h"
#include "parser/parse_oper.h"
#include "parser/parse_relation.h"
#include "parser/parser.h"
#include "rewrite/rewriteManip.h"
#include "rewrite/rowsecurity.h"
#include "utils/rls.h"
#include "utils/array.h"
#include "utils/arrayaccess.h"
#include "utils/guc.h"
#include "catalog/pg_class.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_collation.h"
#include "executor/spi.h"
#include "parser/parse_func.h"
#include "parser/parsetree.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/fmgrtab.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "privstat/audit.h"
#include "privstat/dp_agg.h"
#include "privstat/dp_mech.h"
#include "privstat/policy.h"
#include "privstat/guc.h"
#include "privstat/privstat.h"
#include "privstat/retention.h"

typedef enum AccessLevel
{
	LEVEL_DIRECT = 0,
	LEVEL_AGGREGATE,
	LEVEL_NONE					/* the most restrictive wins */
} AccessLevel;

typedef struct ColumnBounds
{
	AttrNumber	attno;
	double		lower;
	double		upper;
} ColumnBounds;

/* the declared public keys of one column, in their text form */
typedef struct PublicGroups
{
	char	   *col;
	int			nkeys;
	char	  **keys;
} PublicGroups;

typedef struct ProtectedRel
{
	Oid			relid;
	NameData	unit;			/* the privacy unit column */
	int			max_groups;		/* max_groups_contributed */
	int			max_rows;		/* max_rows_contributed */
	int			nbounds;
	ColumnBounds *bounds;
	int			npublic;
	PublicGroups *publics;
	/* whether select_user holds SELECT on it (user_holds_select) */
	bool		select_known;
	Oid			select_user;
	bool		select_held;
} ProtectedRel;

typedef struct RoleLevel
{
	Oid			role;
	AccessLevel level;
} RoleLevel;

typedef struct ScopeRule
{
	Oid			role;
	char	   *condition;		/* as the DBA wrote it */
	Node	   *expr;			/* parsed on first use */
} ScopeRule;

/* the row rules of one table */
typedef struct RowRules
{
	Oid			relid;
	bool		rls_by_privstat;	/* privstat turned its row security on */
	AttrNumber	consent_attno;	/* the consent column, or 0 */
	AttrNumber	expiry_attno;	/* the retention rule's column, or 0 */
	Interval	keep;
	int			nscopes;
	ScopeRule  *scopes;
} RowRules;

typedef struct PurposeGrant
{
	Oid			role;
	char	   *purpose;
} PurposeGrant;

/* The numeric input types of sum/avg and the matching dp_sum/dp_avg. */
#define N_NUMTYPES 5
static const Oid numtypes[N_NUMTYPES] = {INT2OID, INT4OID, INT8OID, NUMERICOID, FLOAT8OID};

/*
 * This backend's copy of the policy, loaded on first use and dropped by any
 * change to privstat's policy tables (their triggers invalidate the whole
 * relcache, which also replans every cached plan) or to role membership.
 */
static struct
{
	bool		valid;
	bool		installed;		/* privstat 0.2+ is installed in this database */
	Oid			tables[9];		/* privstat's tables the policy is read from */
	Oid			reader;			/* privstat_reader */
	int			nrels;
	ProtectedRel *rels;
	int			nroles;
	RoleLevel  *roles;
	Oid			dp_count_star;
	Oid			dp_count_any;
	Oid			dp_sum[N_NUMTYPES];
	Oid			dp_avg[N_NUMTYPES];
	/* user-level privacy: the pieces of the bounding rewrite */
	Oid			dp_sum_int8_eps;	/* dp_sum(bigint, lower, upper, epsilon) */
	Oid			dp_sum_float8_eps;	/* dp_sum(double precision, lower, upper, epsilon) */
	Oid			dp_count_units[2];	/* (unit), (unit, epsilon) */
	Oid			dp_group_selected;
	Oid			contribution_rank;
	Oid			bounded_total;
	Oid			dp_mean;
	Oid			sample_rows;
	Oid			float8_of_numeric;	/* privstat._float8(numeric) */
	Oid			dp_variance_units;
	Oid			dp_stddev_units;
	Oid			dp_percentile_units;
	/* row rules: consent, scopes, expiry, by table; purpose grants */
	int			nrowrules;
	RowRules   *rowrules;
	int			ngrants;
	PurposeGrant *grants;
	Oid			consent_ok;		/* privstat._consent_ok(text[]) */
	/* the level of level_user, computed once per change */
	bool		level_valid;
	Oid			level_user;
	AccessLevel level;
} cache;

static MemoryContext policy_cxt = NULL;

/* counts invalidations, so that caches derived from the policy can tell */
static uint64 policy_generation = 0;

/*
 * The parameters of the plan being validated (NULL when PostgreSQL builds a
 * generic plan), and whether a check had to wait for their values.
 */
static ParamListInfo validating_params = NULL;
static bool needs_custom_plan = false;

/* set while an EXPLAIN ANALYZE of a restricted role runs */
static bool in_explain_analyze = false;

static planner_hook_type prev_planner = NULL;
static ExecutorCheckPerms_hook_type prev_check_perms = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;
static row_security_policy_hook_type prev_rls_permissive = NULL;
static row_security_policy_hook_type prev_rls_restrictive = NULL;
static object_access_hook_type prev_object_access = NULL;

static List *policy_rls_permissive(CmdType cmdtype, Relation rel);
static List *policy_rls_restrictive(CmdType cmdtype, Relation rel);


/* ---------------------------------------------------------------------------
 * The policy cache
 * ---------------------------------------------------------------------------
 */

static void
policy_relcache_callback(Datum arg pg_attribute_unused(), Oid relid)
{
	int			i;

	if (!cache.valid)
		return;

	/*
	 * Only what the policy depends on: everything (relid invalid, which is
	 * how privstat's own tables' triggers announce a change), privstat's
	 * tables, the protected tables and those with row rules (their columns
	 * and ACLs).  Where privstat is not installed, any relation: it may be
	 * the install creating them.
	 */
	if (OidIsValid(relid) && cache.installed)
	{
		bool		ours = false;

		for (i = 0; !ours && i < (int) lengthof(cache.tables); i++)
			ours = cache.tables[i] == relid;
		for (i = 0; !ours && i < cache.nrels; i++)
			ours = cache.rels[i].relid == relid;
		for (i = 0; !ours && i < cache.nrowrules; i++)
			ours = cache.rowrules[i].relid == relid;
		if (!ours)
			return;
	}
	cache.valid = false;
	cache.level_valid = false;
	policy_generation++;
}

static void
policy_syscache_callback(Datum arg pg_attribute_unused(), int cacheid pg_attribute_unused(),
						 uint32 hashvalue pg_attribute_unused())
{
	int			i;

	/* levels, purpose grants and SELECT held through a role all follow membership */
	cache.level_valid = false;
	for (i = 0; i < cache.nrels; i++)
		cache.rels[i].select_known = false;
	policy_generation++;
}

/* privstat.purpose's assign hook: the declared purpose is checked again */
void
privstat_purpose_assign(const char *newval pg_attribute_unused(), void *extra pg_attribute_unused())
{
	policy_generation++;
}

static Oid
lookup_agg(const char *name, int nargs, Oid arg0)
{
	Oid			argtypes[4] = {arg0, FLOAT8OID, FLOAT8OID, FLOAT8OID};

	return LookupFuncName(list_make2(makeString("privstat"), makeString(unconstify(char *, name))),
						  nargs, argtypes, true);
}

/*
 * Call fn for each row of one of privstat's tables (in policy_cxt): a
 * heap scan with a catalog snapshot, so a reload after an invalidation sees
 * the change that caused it.  The loaders read only NOT NULL columns.
 */
static void
scan_table(Oid relid, void (*fn) (Datum *values))
{
	Relation	rel = table_open(relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	HeapTuple	tup;
	Datum	   *values = palloc(desc->natts * sizeof(Datum));
	bool	   *nulls = palloc(desc->natts * sizeof(bool));

	while ((tup = systable_getnext(scan)) != NULL)
	{
		heap_deform_tuple(tup, desc, values, nulls);
		fn(values);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

/* grow an array of the cache by one element; returns the new element */
static void *
cache_append(void **array, int *n, Size size)
{
	*array = *n == 0 ? MemoryContextAllocZero(policy_cxt, size)
		: repalloc(*array, (*n + 1) * size);
	memset((char *) *array + *n * size, 0, size);
	return (char *) *array + (*n)++ * size;
}

static void
load_protected_row(Datum *values)
{
	ProtectedRel *p = cache_append((void **) &cache.rels, &cache.nrels, sizeof(ProtectedRel));

	p->relid = DatumGetObjectId(values[0]);
	p->unit = *DatumGetName(values[1]);
	/* values[2] is created_at */
	p->max_groups = Max(DatumGetInt32(values[3]), 1);
	p->max_rows = Max(DatumGetInt32(values[4]), 1);
}

static void
load_public_row(Datum *values)
{
	Oid			relid = DatumGetObjectId(values[0]);
	int			i;

	for (i = 0; i < cache.nrels; i++)
	{
		ProtectedRel *p = &cache.rels[i];
		PublicGroups *g;
		Datum	   *elems;
		bool	   *nulls;
		int			n;
		int			j;

		if (p->relid != relid)
			continue;
		g = cache_append((void **) &p->publics, &p->npublic, sizeof(PublicGroups));
		g->col = pstrdup(NameStr(*DatumGetName(values[1])));
		deconstruct_array(DatumGetArrayTypeP(values[2]), TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, &nulls, &n);
		g->keys = palloc(Max(n, 1) * sizeof(char *));
		for (j = 0; j < n; j++)
			if (!nulls[j])
				g->keys[g->nkeys++] = TextDatumGetCString(elems[j]);
	}
}

static void
load_bounds_row(Datum *values)
{
	Oid			relid = DatumGetObjectId(values[0]);
	AttrNumber	attno = get_attnum(relid, NameStr(*DatumGetName(values[1])));
	int			i;

	if (attno == InvalidAttrNumber)
		return;
	for (i = 0; i < cache.nrels; i++)
	{
		ProtectedRel *p = &cache.rels[i];
		ColumnBounds *b;

		if (p->relid != relid)
			continue;
		b = cache_append((void **) &p->bounds, &p->nbounds, sizeof(ColumnBounds));
		b->attno = attno;
		b->lower = DatumGetFloat8(DirectFunctionCall1(numeric_float8, values[2]));
		b->upper = DatumGetFloat8(DirectFunctionCall1(numeric_float8, values[3]));
	}
}

static void
load_level_row(Datum *values)
{
	RoleLevel  *r = cache_append((void **) &cache.roles, &cache.nroles, sizeof(RoleLevel));
	char	   *level = TextDatumGetCString(values[1]);

	r->role = DatumGetObjectId(values[0]);
	/* the table's CHECK allows only these two; anything else fails closed */
	r->level = strcmp(level, "aggregate") == 0 ? LEVEL_AGGREGATE : LEVEL_NONE;
}

static RowRules *
row_rules(Oid relid, bool create)
{
	int			i;

	for (i = 0; i < cache.nrowrules; i++)
		if (cache.rowrules[i].relid == relid)
			return &cache.rowrules[i];
	if (!create)
		return NULL;
	((RowRules *) cache_append((void **) &cache.rowrules, &cache.nrowrules, sizeof(RowRules)))->relid = relid;
	return &cache.rowrules[cache.nrowrules - 1];
}

static void
load_rls_row(Datum *values)
{
	row_rules(DatumGetObjectId(values[0]), true)->rls_by_privstat = true;
}

static void
load_consent_row(Datum *values)
{
	Oid			relid = DatumGetObjectId(values[0]);
	AttrNumber	attno = get_attnum(relid, NameStr(*DatumGetName(values[1])));

	if (attno != InvalidAttrNumber)
		row_rules(relid, true)->consent_attno = attno;
}

static void
load_retention_row(Datum *values)
{
	Oid			relid = DatumGetObjectId(values[0]);
	AttrNumber	attno = get_attnum(relid, NameStr(*DatumGetName(values[1])));
	RowRules   *r;

	if (attno == InvalidAttrNumber)
		return;
	r = row_rules(relid, true);
	r->expiry_attno = attno;
	r->keep = *DatumGetIntervalP(values[2]);
}

static void
load_scope_row(Datum *values)
{
	RowRules   *r = row_rules(DatumGetObjectId(values[0]), true);
	ScopeRule  *sc = cache_append((void **) &r->scopes, &r->nscopes, sizeof(ScopeRule));

	sc->role = DatumGetObjectId(values[1]);
	sc->condition = TextDatumGetCString(values[2]);
}

static void
load_grant_row(Datum *values)
{
	PurposeGrant *g = cache_append((void **) &cache.grants, &cache.ngrants, sizeof(PurposeGrant));

	g->role = DatumGetObjectId(values[0]);
	g->purpose = TextDatumGetCString(values[1]);
}

static void
policy_ensure(void)
{
	Oid			nsp;
	MemoryContext old;
	int			i;

	if (cache.valid)
		return;
	if (policy_cxt == NULL)
		policy_cxt = AllocSetContextCreate(CacheMemoryContext, "privstat policy",
										   ALLOCSET_SMALL_SIZES);
	MemoryContextReset(policy_cxt);
	memset(&cache, 0, sizeof(cache));
	/* an invalidation that arrives while loading clears this again */
	cache.valid = true;

	if (!IsTransactionState())
		return;
	nsp = get_namespace_oid("privstat", true);
	if (!OidIsValid(nsp))
		return;
	{
		const char *names[] = {"protected_table", "column_bounds", "access_level", "rls_table",
		"consent_rule", "retention_rule", "scope_rule", "purpose_grant", "public_group"};
		void		(*loaders[]) (Datum *) = {load_protected_row, load_bounds_row, load_level_row,
		load_rls_row, load_consent_row, load_retention_row, load_scope_row, load_grant_row,
		load_public_row};
		StaticAssertStmt(lengthof(names) == lengthof(cache.tables), "one OID per table of privstat's");
		for (i = 0; i < (int) lengthof(names); i++)
			if (!OidIsValid(cache.tables[i] = get_relname_relid(names[i], nsp)))
				return;			/* not (yet) updated to 0.2: nothing to enforce */
		old = MemoryContextSwitchTo(policy_cxt);
		for (i = 0; i < (int) lengthof(names); i++)
			scan_table(cache.tables[i], loaders[i]);
		MemoryContextSwitchTo(old);
	}

	cache.reader = get_role_oid("privstat_reader", true);
	{
		Oid			textarray = TEXTARRAYOID;

		cache.consent_ok = LookupFuncName(list_make2(makeString("privstat"), makeString("_consent_ok")),
										  1, &textarray, true);
	}
	cache.dp_count_star = lookup_agg("dp_count", 0, InvalidOid);
	cache.dp_count_any = lookup_agg("dp_count", 1, ANYOID);
	for (i = 0; i < N_NUMTYPES; i++)
	{
		cache.dp_sum[i] = lookup_agg("dp_sum", 3, numtypes[i]);
		cache.dp_avg[i] = lookup_agg("dp_avg", 3, numtypes[i]);
	}
	cache.dp_sum_int8_eps = lookup_agg("dp_sum", 4, INT8OID);
	cache.dp_sum_float8_eps = lookup_agg("dp_sum", 4, FLOAT8OID);
	cache.dp_count_units[0] = lookup_agg("dp_count_units", 1, ANYOID);
	cache.dp_count_units[1] = lookup_agg("dp_count_units", 2, ANYOID);
	{
		Oid			sel[3] = {FLOAT8OID, FLOAT8OID, INT4OID};
		Oid			bt[4] = {FLOAT8OID, INT8OID, INT4OID, FLOAT8OID};
		Oid			mean[4] = {FLOAT8OID, NUMERICOID, FLOAT8OID, FLOAT8OID};

		cache.dp_group_selected = LookupFuncName(list_make2(makeString("privstat"), makeString("dp_group_selected")),
												 3, sel, true);
		cache.contribution_rank = LookupFuncName(list_make2(makeString("privstat"), makeString("_contribution_rank")),
												 0, NULL, true);
		cache.bounded_total = LookupFuncName(list_make2(makeString("privstat"), makeString("_bounded_total")),
											 4, bt, true);
		cache.dp_mean = LookupFuncName(list_make2(makeString("privstat"), makeString("_dp_mean")),
									   4, mean, true);
	}
	{
		Oid			sample[2] = {FLOAT8OID, INT4OID};
		Oid			var[5] = {FLOAT8ARRAYOID, FLOAT8OID, FLOAT8OID, FLOAT8OID, INT4OID};
		Oid			pct[6] = {FLOAT8ARRAYOID, FLOAT8OID, FLOAT8OID, FLOAT8OID, FLOAT8OID, INT4OID};

		Oid			num = NUMERICOID;

		cache.float8_of_numeric = LookupFuncName(list_make2(makeString("privstat"), makeString("_float8")),
												 1, &num, true);
		cache.sample_rows = LookupFuncName(list_make2(makeString("privstat"), makeString("_sample_rows")),
										   2, sample, true);
		cache.dp_variance_units = LookupFuncName(list_make2(makeString("privstat"), makeString("_dp_variance_units")),
												 5, var, true);
		cache.dp_stddev_units = LookupFuncName(list_make2(makeString("privstat"), makeString("_dp_stddev_units")),
											   5, var, true);
		cache.dp_percentile_units = LookupFuncName(list_make2(makeString("privstat"), makeString("_dp_percentile_units")),
												   6, pct, true);
	}
	cache.installed = true;
}

/*
 * The access level of a role: the most restrictive level of the roles whose
 * privileges it has (its own, and those it inherits).  Superusers are always
 * direct: they bypass every check privstat relies on (set_access refuses
 * them).
 */
static AccessLevel
level_of(Oid user)
{
	AccessLevel level = LEVEL_DIRECT;
	int			i;

	policy_ensure();
	if (!cache.installed || cache.nroles == 0)
		return LEVEL_DIRECT;
	if (cache.level_valid && cache.level_user == user)
		return cache.level;
	if (!superuser_arg(user))
		for (i = 0; i < cache.nroles; i++)
			if (cache.roles[i].level > level && has_privs_of_role(user, cache.roles[i].role))
				level = cache.roles[i].level;
	cache.level_user = user;
	cache.level = level;
	cache.level_valid = true;
	return level;
}

static ProtectedRel *
protected_rel(Oid relid)
{
	int			i;

	policy_ensure();
	if (!cache.installed)
		return NULL;
	for (i = 0; i < cache.nrels; i++)
		if (cache.rels[i].relid == relid)
			return &cache.rels[i];
	/* a partition of a protected table is protected too */
	if (cache.nrels > 0 && get_rel_relispartition(relid))
	{
		ListCell   *lc;

		foreach(lc, get_partition_ancestors(relid))
		{
			for (i = 0; i < cache.nrels; i++)
				if (cache.rels[i].relid == lfirst_oid(lc))
					return &cache.rels[i];
		}
	}
	return NULL;
}

/* does an ACL grant SELECT to PUBLIC or to a role that role may become? */
static bool
acl_grants_select_to_member(Datum acldatum, Oid role)
{
	Acl		   *acl = DatumGetAclP(acldatum);
	AclItem    *items = ACL_DAT(acl);
	int			i;

	for (i = 0; i < ACL_NUM(acl); i++)
		if ((ACLITEM_GET_PRIVS(items[i]) & ACL_SELECT) != 0 &&
			(items[i].ai_grantee == ACL_ID_PUBLIC || is_member_of_role(role, items[i].ai_grantee)))
			return true;
	return false;
}

/*
 * SELECT on the table or on any of its columns, held by PUBLIC, by the
 * table's owner or by a role this role is a member of, inheriting or not (a
 * role it may SET ROLE to).  Membership includes every role whose
 * privileges it inherits, so this one walk of the table's and columns' ACLs
 * answers for inherited grants too.
 */
static bool
holds_select(Oid relid, Oid role)
{
	HeapTuple	tup;
	bool		isnull;
	Datum		acl;
	bool		result;
	AttrNumber	attno;
	AttrNumber	natts;

	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		return false;
	natts = ((Form_pg_class) GETSTRUCT(tup))->relnatts;
	result = is_member_of_role(role, ((Form_pg_class) GETSTRUCT(tup))->relowner);
	acl = SysCacheGetAttr(RELOID, tup, Anum_pg_class_relacl, &isnull);
	if (!result && !isnull)
		result = acl_grants_select_to_member(acl, role);
	ReleaseSysCache(tup);
	for (attno = 1; !result && attno <= natts; attno++)
	{
		HeapTuple	atup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid), Int16GetDatum(attno));

		if (!HeapTupleIsValid(atup))
			continue;
		acl = SysCacheGetAttr(ATTNUM, atup, Anum_pg_attribute_attacl, &isnull);
		if (!isnull)
			result = acl_grants_select_to_member(acl, role);
		ReleaseSysCache(atup);
	}
	return result;
}

/*
 * holds_select for the current user, remembered in the protected table's
 * cache entry: the cache is dropped by any change to the table (a GRANT
 * invalidates its relcache entry) and to role membership.
 */
static bool
user_holds_select(ProtectedRel *p, Oid relid)
{
	Oid			user = GetUserId();

	if (relid != p->relid)		/* a partition: its own ACL */
		return holds_select(relid, user);
	if (!p->select_known || p->select_user != user)
	{
		p->select_held = holds_select(relid, user);
		p->select_user = user;
		p->select_known = true;
	}
	return p->select_held;
}

static const char *
level_name(AccessLevel level)
{
	return level == LEVEL_NONE ? "none" : level == LEVEL_AGGREGATE ? "aggregate" : "direct";
}


/* ---------------------------------------------------------------------------
 * Validation
 * ---------------------------------------------------------------------------
 */

typedef struct Level Level;

typedef struct RteInfo
{
	bool		is_protected;	/* a protected relation */
	Level	   *sub;			/* subquery or CTE: its validated level */
} RteInfo;

typedef struct CteInfo
{
	CommonTableExpr *cte;
	Level	   *level;
} CteInfo;

typedef struct SublinkInfo
{
	SubLink    *sublink;
	Level	   *level;
} SublinkInfo;

struct Level
{
	Query	   *query;
	Level	   *parent;
	RteInfo    *rtes;			/* by range-table index - 1 */
	List	   *ctes;			/* CteInfo of this level's WITH */
	List	   *sublinks;		/* SublinkInfo of this level's expressions */
	bool		reads_protected;	/* rows come from protected data */
	bool		outer_taint;	/* refers to protected values of an outer level */
	bool		raw;			/* passes protected rows on, unaggregated */
	bool	   *out_tainted;	/* by output column: depends on protected values */
	int			nout;
	Oid			example;		/* a protected table it reads, for messages */
	bool		scope;			/* checking a scope condition, not a query */
	int			n_dp;			/* DP aggregates of this level */
	/* user-level privacy, for levels that read protected rows (level_unit) */
	Node	   *unit;			/* the privacy unit of its rows, or NULL until known */
	List	   *unit_vars;		/* columns equal to the unit */
	int			max_groups;		/* the contribution bounds of the tables it reads */
	int			max_rows;
	AttrNumber	unit_resno;		/* raw level: the output column with the unit */
};

typedef enum CheckMode
{
	CHECK_ROW,					/* evaluated for each protected row */
	CHECK_POST					/* evaluated on DP results and group keys */
} CheckMode;

static Level *validate_level(Query *q, Level *parent);
static bool is_unit_expr(Level *lev, Node *expr);
static bool tainted_var_walker(Node *node, Level *lev);
static bool check_expr(Node *node, Level *lev, CheckMode mode, const char *clause);

/* the levels of the statement being validated that bound_level rewrote */
static List *bounded_levels = NIL;

/* the first protected table of the statement being validated */
static Oid	first_protected = InvalidOid;

static const char *
example_name(Level *lev)
{
	char	   *name;

	while (!OidIsValid(lev->example) && lev->parent != NULL)
		lev = lev->parent;
	name = get_rel_name(OidIsValid(lev->example) ? lev->example : first_protected);

	return name ? quote_identifier(name) : "?";
}

/* "protected table t", or for a scope condition "table t" */
static const char *
table_phrase(Level *lev)
{
	return psprintf("%s %s", lev->scope ? "table" : "protected table", example_name(lev));
}

#define ALLOWED_FORMS \
	"Aggregate protected rows with count(*), count(col), sum(col), avg(col) or a privstat.dp_* aggregate, and use LEAKPROOF functions in WHERE, JOIN and GROUP BY (doc/policy.md)."

static void
refuse(Level *lev, const char *rule, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("%s is not allowed over %s", rule, table_phrase(lev)),
			 errhint("%s", hint ? hint : ALLOWED_FORMS)));
}

static bool
rte_col_tainted(Level *lev, Index varno, AttrNumber attno)
{
	RangeTblEntry *rte = rt_fetch(varno, lev->query->rtable);
	RteInfo    *info = &lev->rtes[varno - 1];

	switch (rte->rtekind)
	{
		case RTE_RELATION:
			return info->is_protected;
		case RTE_SUBQUERY:
		case RTE_CTE:
			if (info->sub == NULL)
				return false;
			if (attno <= 0)
			{
				int			i;

				for (i = 0; i < info->sub->nout; i++)
					if (info->sub->out_tainted[i])
						return true;
				return false;
			}
			return attno <= info->sub->nout && info->sub->out_tainted[attno - 1];
		case RTE_JOIN:
			{
				ListCell   *lc;
				bool		tainted = false;
				int			i = 0;

				foreach(lc, rte->joinaliasvars)
				{
					i++;
					if ((attno <= 0 || attno == i) && tainted_var_walker(lfirst(lc), lev))
						tainted = true;
				}
				return tainted;
			}
		default:
			return false;
	}
}

static bool
var_tainted(Level *lev, Var *var)
{
	Index		up;

	for (up = var->varlevelsup; up > 0 && lev != NULL; up--)
		lev = lev->parent;
	if (lev == NULL || lev->rtes == NULL || var->varno < 1 ||
		var->varno > list_length(lev->query->rtable))
		return false;
	return rte_col_tainted(lev, var->varno, var->varattno);
}

/* the level whose WITH defines the CTE rte names, ctelevelsup levels up */
static Level *
cte_owner(Level *lev, RangeTblEntry *rte)
{
	Index		up;

	for (up = rte->ctelevelsup; up > 0 && lev != NULL; up--)
		lev = lev->parent;
	return lev;
}

/* find the CTE that rte names, ctelevelsup levels up */
static CteInfo *
cte_info(Level *lev, RangeTblEntry *rte)
{
	ListCell   *lc;

	lev = cte_owner(lev, rte);
	if (lev == NULL)
		return NULL;
	foreach(lc, lev->ctes)
	{
		CteInfo    *c = lfirst(lc);

		if (strcmp(c->cte->ctename, rte->ctename) == 0)
			return c;
	}
	return NULL;
}

/* the level of the CTE that rte names */
static Level *
cte_level(Level *lev, RangeTblEntry *rte)
{
	CteInfo    *c = cte_info(lev, rte);

	return c != NULL ? c->level : NULL;
}

/*
 * First pass over a level's own expressions: validate the queries of its
 * sublinks, and note references to protected values of outer levels.
 */
static bool
prepass_walker(Node *node, Level *lev)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var))
	{
		Var		   *v = (Var *) node;

		if (v->varlevelsup > 0 && var_tainted(lev, v))
			lev->outer_taint = true;
		return false;
	}
	if (IsA(node, SubLink))
	{
		SubLink    *s = (SubLink *) node;
		SublinkInfo *info = palloc(sizeof(SublinkInfo));

		info->sublink = s;
		info->level = validate_level(castNode(Query, s->subselect), lev);
		lev->sublinks = lappend(lev->sublinks, info);
		if (info->level->raw)
		{
			lev->reads_protected = true;
			if (!OidIsValid(lev->example))
				lev->example = info->level->example;
		}
		return prepass_walker(s->testexpr, lev);
	}
	if (IsA(node, Query))
		return false;
	return expression_tree_walker(node, prepass_walker, (void *) lev);
}

static Level *
sublink_level(Level *lev, SubLink *s)
{
	ListCell   *lc;

	foreach(lc, lev->sublinks)
	{
		SublinkInfo *info = lfirst(lc);

		if (info->sublink == s)
			return info->level;
	}
	elog(ERROR, "privstat: sublink was not validated");
	return NULL;
}

/*
 * Functions that are not marked LEAKPROOF but cannot fail or leak when the
 * argument named by const_arg (1-based; 0 for none) is a constant; that
 * constant is tried once at validation, so an invalid unit or pattern fails
 * before any row is read.  Kept short and documented in doc/policy.md.
 */
typedef struct AllowedFunc
{
	Oid			oid;
	int			const_arg;
	Oid			sample_type;	/* type of the other argument, for the trial */
} AllowedFunc;

static const AllowedFunc allowed_funcs[] = {
	{F_DATE_TRUNC_TEXT_TIMESTAMP, 1, TIMESTAMPOID},
	{F_DATE_TRUNC_TEXT_TIMESTAMPTZ, 1, TIMESTAMPTZOID},
	{F_DATE_PART_TEXT_TIMESTAMP, 1, TIMESTAMPOID},
	{F_DATE_PART_TEXT_TIMESTAMPTZ, 1, TIMESTAMPTZOID},
	{F_DATE_PART_TEXT_DATE, 1, DATEOID},
	{F_EXTRACT_TEXT_TIMESTAMP, 1, TIMESTAMPOID},
	{F_EXTRACT_TEXT_TIMESTAMPTZ, 1, TIMESTAMPTZOID},
	{F_EXTRACT_TEXT_DATE, 1, DATEOID},
	{F_TEXTLIKE, 2, TEXTOID},
	{F_TEXTNLIKE, 2, TEXTOID},
	{F_TEXTICLIKE, 2, TEXTOID},
	{F_TEXTICNLIKE, 2, TEXTOID},
	{F_DATE_TIMESTAMP, 0, InvalidOid},	/* date(timestamp) */
	{F_DATE_TIMESTAMPTZ, 0, InvalidOid},	/* date(timestamptz) */
	{F_LOWER_TEXT, 0, InvalidOid},
	{F_UPPER_TEXT, 0, InvalidOid},
	{F_NUMERIC_EQ, 0, InvalidOid},
	{F_NUMERIC_NE, 0, InvalidOid},
	{F_NUMERIC_LT, 0, InvalidOid},
	{F_NUMERIC_LE, 0, InvalidOid},
	{F_NUMERIC_GT, 0, InvalidOid},
	{F_NUMERIC_GE, 0, InvalidOid},
	{F_NUMERIC_CMP, 0, InvalidOid},
};

static Datum
sample_value(Oid type)
{
	switch (type)
	{
		case TEXTOID:
			return CStringGetTextDatum("");
		default:				/* timestamp, timestamptz, date: their epoch */
			return (Datum) 0;
	}
}

/*
 * A LIKE or ILIKE pattern that ends with its escape character fails only
 * when a value matches everything before it, so a trial on one sample
 * value does not find it: the pattern is checked as the matcher would.
 */
static void
check_like_pattern(text *pattern)
{
	const char *p = VARDATA_ANY(pattern);
	int			len = VARSIZE_ANY_EXHDR(pattern);
	int			i;

	for (i = 0; i < len; i++)
		if (p[i] == '\\' && ++i == len)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_ESCAPE_SEQUENCE),
					 errmsg("LIKE pattern must not end with escape character")));
}

/* the value of an external parameter in the plan being validated, or NULL */
static Const *
param_value(Param *p)
{
	ParamExternData *prm;
	ParamExternData prmdata;

	if (validating_params == NULL || p->paramid <= 0 || p->paramid > validating_params->numParams)
		return NULL;
	if (validating_params->paramFetch != NULL)
		prm = validating_params->paramFetch(validating_params, p->paramid, false, &prmdata);
	else
		prm = &validating_params->params[p->paramid - 1];
	if (!OidIsValid(prm->ptype) || prm->ptype != p->paramtype)
		return NULL;
	return makeConst(p->paramtype, p->paramtypmod, p->paramcollid, get_typlen(p->paramtype),
					 prm->value, prm->isnull, get_typbyval(p->paramtype));
}

/* may funcid run on protected rows with these arguments? */
static bool
function_allowed(Oid funcid, List *args, Oid inputcollid)
{
	size_t		i;

	if (get_func_leakproof(funcid))
		return true;
	for (i = 0; i < lengthof(allowed_funcs); i++)
	{
		const AllowedFunc *a = &allowed_funcs[i];
		Node	   *arg;
		Const	   *c;

		if (a->oid != funcid)
			continue;
		if (a->const_arg == 0)
			return true;
		if (list_length(args) != 2)
			return false;
		arg = strip_implicit_coercions(list_nth(args, a->const_arg - 1));
		if (IsA(arg, Param) && ((Param *) arg)->paramkind == PARAM_EXTERN)
		{
			/*
			 * A parameter: tried with its value in a custom plan.  A generic
			 * plan cannot be checked: it is built, but never run (see
			 * policy_planner), and PostgreSQL keeps to custom plans.
			 */
			Const	   *value = param_value((Param *) arg);

			if (value == NULL)
			{
				needs_custom_plan = true;
				return true;
			}
			arg = (Node *) value;
		}
		if (!IsA(arg, Const))
			return false;
		c = (Const *) arg;
		if (c->constisnull)
			return true;
		/* the trial: errors for a bad unit or pattern, before any row */
		if (a->sample_type == TEXTOID)
			check_like_pattern(DatumGetTextPP(c->constvalue));
		if (a->const_arg == 1)
			(void) OidFunctionCall2Coll(funcid, inputcollid, c->constvalue, sample_value(a->sample_type));
		else
			(void) OidFunctionCall2Coll(funcid, inputcollid, sample_value(a->sample_type), c->constvalue);
		return true;
	}
	return false;
}

/*
 * A subexpression that reads no row, no parameter and no sublink, and calls
 * nothing volatile and nothing stable but the clock (now(), CURRENT_DATE,
 * ...): its value does not depend on the data.  It is evaluated once here,
 * so an error it would raise is raised before any row is read, not lazily
 * when some protected row first reaches it.
 */
static bool
any_function(Oid funcid pg_attribute_unused(), void *context pg_attribute_unused())
{
	return true;
}

/* does the expression read a row, a parameter or a sublink, or do anything volatile? */
static bool
row_dependent_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	switch (nodeTag(node))
	{
		case T_Var:
		case T_Param:
		case T_SubLink:
		case T_Aggref:
		case T_WindowFunc:
		case T_GroupingFunc:
		case T_NextValueExpr:
		case T_CaseTestExpr:
		case T_CoerceToDomainValue:
		case T_SetToDefault:
		case T_CurrentOfExpr:
			return true;
		case T_FuncExpr:
			if (((FuncExpr *) node)->funcretset)
				return true;
			break;
		default:
			break;
	}
	return expression_tree_walker(node, row_dependent_walker, context);
}

/* set when a frozen constant came from a stable function: see policy_planner */
static bool froze_mutable = false;

/*
 * Freeze the row-free parts of an expression evaluated for each protected
 * row: a subexpression that reads no row, parameter or sublink and calls
 * nothing volatile (now() - interval '7 days') is evaluated once, here, and
 * replaced by its value.  An error it raises is then raised before any row
 * is read, never lazily when some protected row first reaches it.  The
 * plan of a frozen stable value (now()) is transient: replanned in the next
 * transaction.
 */
static Node *
freeze_mutator(Node *node, void *context)
{
	if (node == NULL)
		return NULL;
	/* (expression_tree_walker does not take a CaseWhen alone) */
	if (IsA(node, Const) || IsA(node, Var) || IsA(node, Param) || IsA(node, List) ||
		IsA(node, TargetEntry) || IsA(node, CaseWhen))
		return expression_tree_mutator(node, freeze_mutator, context);
	if (IsA(node, SubLink))
	{
		((SubLink *) node)->testexpr = freeze_mutator(((SubLink *) node)->testexpr, context);
		return node;
	}
	if (IsA(node, Query))
		return node;
	if (!row_dependent_walker(node, NULL) && !contain_volatile_functions(node) &&
		check_functions_in_node(node, any_function, NULL))
	{
		EState	   *estate = CreateExecutorState();
		MemoryContext old = MemoryContextSwitchTo(estate->es_query_cxt);
		Expr	   *expr = (Expr *) copyObject(node);
		Oid			type = exprType(node);
		int16		typlen;
		bool		typbyval;
		bool		isnull;
		Datum		value;
		ExprState  *state;

		fix_opfuncids((Node *) expr);
		state = ExecInitExpr(expr, NULL);
		value = ExecEvalExprSwitchContext(state, GetPerTupleExprContext(estate), &isnull);
		MemoryContextSwitchTo(old);
		get_typlenbyval(type, &typlen, &typbyval);
		if (!isnull)
			value = datumCopy(value, typbyval, typlen);
		FreeExecutorState(estate);
		if (contain_mutable_functions(node))
			froze_mutable = true;
		return (Node *) makeConst(type, exprTypmod(node), exprCollation(node), typlen,
								  value, isnull, typbyval);
	}
	return expression_tree_mutator(node, freeze_mutator, context);
}

#define FREEZE(expr) ((expr) = (void *) freeze_mutator((Node *) (expr), NULL))

static void
refuse_function(Level *lev, Oid funcid, const char *clause)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("function %s is not leakproof and is not allowed in %s over %s",
					format_procedure(funcid), clause, table_phrase(lev)),
			 errdetail("An error or a side effect of a function evaluated on rows the role may not see can reveal them."),
			 errhint("Use LEAKPROOF functions and operators, the functions listed in doc/policy.md, or a constant computed without the protected columns.")));
}

/* expression_tree_walker callback: collect a node's direct children */
static bool
collect_children(Node *node, List **parts)
{
	if (node != NULL)
		*parts = lappend(*parts, node);
	return false;
}

static bool
check_list(List *list, Level *lev, CheckMode mode, const char *clause)
{
	ListCell   *lc;
	bool		tainted = false;

	foreach(lc, list)
		tainted |= check_expr(lfirst(lc), lev, mode, clause);
	return tainted;
}


/*
 * The node itself, apart from its children, in an expression evaluated for
 * protected rows: an error unless it cannot fail or act on the world.
 */
static void
node_check(Node *node, Level *lev, const char *clause)
{
	switch (nodeTag(node))
	{
		case T_FuncExpr:
			{
				FuncExpr   *f = (FuncExpr *) node;

				if (f->funcretset)
					refuse(lev, "a set-returning function",
						   "Set-returning functions may run on DP results in an outer query, not on protected rows.");
				if (!function_allowed(f->funcid, f->args, f->inputcollid))
					refuse_function(lev, f->funcid, clause);
				break;
			}
		case T_OpExpr:
		case T_DistinctExpr:
		case T_NullIfExpr:
			{
				OpExpr	   *o = (OpExpr *) node;

				set_opfuncid(o);
				if (!function_allowed(o->opfuncid, o->args, o->inputcollid))
					refuse_function(lev, o->opfuncid, clause);
				break;
			}
		case T_ScalarArrayOpExpr:
			{
				ScalarArrayOpExpr *o = (ScalarArrayOpExpr *) node;

				set_sa_opfuncid(o);
				if (!function_allowed(o->opfuncid, o->args, o->inputcollid))
					refuse_function(lev, o->opfuncid, clause);
				break;
			}
		case T_RowCompareExpr:
			{
				ListCell   *lc;

				foreach(lc, ((RowCompareExpr *) node)->opnos)
				{
					Oid			fn = get_opcode(lfirst_oid(lc));

					if (!function_allowed(fn, NIL, InvalidOid))
						refuse_function(lev, fn, clause);
				}
				break;
			}
		case T_MinMaxExpr:
			{
				TypeCacheEntry *tc = lookup_type_cache(((MinMaxExpr *) node)->minmaxtype,
													   TYPECACHE_CMP_PROC);

				if (!OidIsValid(tc->cmp_proc) || !function_allowed(tc->cmp_proc, NIL, InvalidOid))
					refuse_function(lev, tc->cmp_proc, clause);
				break;
			}
		case T_CoerceViaIO:
			{
				CoerceViaIO *c = (CoerceViaIO *) node;
				Oid			target = getBaseType(c->resulttype);

				/* output functions do not fail; input functions but text's do */
				if (target != TEXTOID && target != VARCHAROID && target != BPCHAROID &&
					target != NAMEOID)
					ereport(ERROR,
							(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
							 errmsg("a cast to %s through text is not allowed in %s over %s",
									format_type_be(c->resulttype), clause, table_phrase(lev)),
							 errdetail("A failed cast evaluated for each protected row can reveal that row."),
							 errhint("Compare with a constant of the column's own type instead.")));
				break;
			}
		case T_CoerceToDomain:
			if (DomainHasConstraints(((CoerceToDomain *) node)->resulttype))
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("a cast to domain %s is not allowed in %s over %s",
								format_type_be(((CoerceToDomain *) node)->resulttype), clause,
								table_phrase(lev)),
						 errdetail("A failed domain check evaluated for each protected row can reveal that row."),
						 errhint("Compare with a value of the domain's base type instead.")));
			break;
		case T_SubscriptingRef:
			{
				SubscriptingRef *r = (SubscriptingRef *) node;

				/* array fetches return NULL out of range; other containers may fail */
				if (r->refassgnexpr != NULL || !OidIsValid(get_element_type(r->refcontainertype)))
					refuse(lev, "this subscript", "Only array elements can be read from protected rows.");
				break;
			}
		case T_ArrayExpr:
			if (((ArrayExpr *) node)->multidims)
				refuse(lev, "a multidimensional array constructor", NULL);
			break;
		case T_WindowFunc:
			refuse(lev, "a window function",
				   "Compute the DP aggregate in a subquery and apply the window function in the outer query.");
			break;
		case T_NextValueExpr:
			refuse(lev, "a sequence", NULL);
			break;
		case T_XmlExpr:
			refuse(lev, "an XML expression on protected data", NULL);
			break;
		case T_BoolExpr:
		case T_NullTest:
		case T_BooleanTest:
		case T_RelabelType:
		case T_ConvertRowtypeExpr:
		case T_CollateExpr:
		case T_CaseExpr:
		case T_CoalesceExpr:
		case T_RowExpr:
		case T_FieldSelect:
		case T_FieldStore:
		case T_ArrayCoerceExpr:
			/* cannot fail by themselves */
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("this kind of expression (node %d) is not allowed in %s over %s",
							(int) nodeTag(node), clause, table_phrase(lev)),
					 errhint(ALLOWED_FORMS)));
	}
}

/*
 * Everything a protected level evaluates lazily, as rows of protected data
 * reach it: a subquery in its WHERE, a FROM item joined to its rows (a
 * subquery, a CTE, a function, VALUES).  PostgreSQL runs such parts only
 * when a first row needs them, so an error raised there would say that
 * some protected row got that far.  Their whole tree must be unable to
 * fail: what node_check allows, and DP aggregates or count.
 */
static bool
strict_walker(Node *node, Level *lev)
{
	const char *clause = "a subquery or FROM item joined to protected rows";

	if (node == NULL)
		return false;
	check_stack_depth();
	if (IsA(node, Query))
	{
		/* a level privstat rewrote was validated before: its pieces are privstat's */
		if (list_member_ptr(bounded_levels, node))
			return false;
		return query_tree_walker((Query *) node, strict_walker, (void *) lev, 0);
	}
	switch (nodeTag(node))
	{
		case T_Aggref:
			{
				Aggref	   *a = (Aggref *) node;

				if (!privstat_is_dp_aggregate(a->aggfnoid) &&
					a->aggfnoid != F_COUNT_ && a->aggfnoid != F_COUNT_ANY)
					ereport(ERROR,
							(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
							 errmsg("aggregate %s is not allowed in %s over protected table %s",
									format_procedure(a->aggfnoid), clause, example_name(lev)),
							 errdetail("It is evaluated only when a protected row needs it, so an error it raises would reveal that row."),
							 errhint("Compute it in a query of its own and use its value as a constant.")));
				break;
			}
		case T_Const:
		case T_Var:
		case T_Param:
		case T_List:
		case T_TargetEntry:
		case T_FromExpr:
		case T_JoinExpr:
		case T_RangeTblRef:
		case T_RangeTblFunction:
		case T_SubLink:
		case T_SortGroupClause:
		case T_SetOperationStmt:
		case T_WindowClause:
		case T_CommonTableExpr:
		case T_CaseTestExpr:
		case T_SQLValueFunction:
		case T_GroupingFunc:
			break;
		default:
			node_check(node, lev, clause);
			break;
	}
	return expression_tree_walker(node, strict_walker, (void *) lev);
}

/*
 * Check one expression of a level and say whether its value depends on
 * protected values.  CHECK_ROW: it is evaluated for each protected row, so
 * every node in it must be unable to fail or to act on the world
 * (node_check: LEAKPROOF, allow-listed, row-free constants already frozen);
 * CHECK_POST: it is evaluated on DP results and group keys, and only the
 * nodes applied to group keys of protected data must be so.  Aggregates
 * are checked (and rewritten) before, by validate_aggref, and count as
 * clean here.
 */
static bool
check_expr(Node *node, Level *lev, CheckMode mode, const char *clause)
{
	if (node == NULL)
		return false;
	check_stack_depth();

	switch (nodeTag(node))
	{
		case T_List:
			return check_list((List *) node, lev, mode, clause);
		case T_TargetEntry:
			return check_expr((Node *) ((TargetEntry *) node)->expr, lev, mode, clause);
		case T_Var:
			{
				Var		   *v = (Var *) node;

				if (v->varlevelsup == 0 && v->varattno < 0 && v->varno >= 1 &&
					v->varno <= list_length(lev->query->rtable) &&
					rt_fetch(v->varno, lev->query->rtable)->rtekind == RTE_RELATION &&
					lev->rtes[v->varno - 1].is_protected)
					refuse(lev, "a system column",
						   "System columns (ctid, xmin, ...) of protected tables cannot be read; use ordinary columns.");
				return var_tainted(lev, v);
			}
		case T_Const:
		case T_Param:
		case T_CaseTestExpr:
		case T_CoerceToDomainValue:
		case T_SetToDefault:
		case T_SQLValueFunction:
		case T_GroupingFunc:
		case T_CurrentOfExpr:
			return false;
		case T_Aggref:
			if (mode == CHECK_ROW)
				refuse(lev, "an aggregate inside a row expression", NULL);
			return false;
		case T_SubLink:
			{
				SubLink    *s = (SubLink *) node;
				Level	   *sub = sublink_level(lev, s);
				bool		tainted = sub->raw || sub->outer_taint;
				int			i;

				for (i = 0; i < sub->nout; i++)
					tainted |= sub->out_tainted[i];
				if (mode == CHECK_POST && tainted)
					refuse(lev, "a subquery that returns protected values in the output",
						   "Return DP aggregates and group keys; filter with subqueries in WHERE.");
				if (mode == CHECK_ROW && !sub->raw && !sub->outer_taint)
					(void) strict_walker(s->subselect, lev);
				return check_expr(s->testexpr, lev, mode, clause) || tainted;
			}
		default:
			{
				List	   *parts = NIL;
				bool		tainted = false;
				ListCell   *lc;

				(void) expression_tree_walker(node, collect_children, (void *) &parts);
				foreach(lc, parts)
					tainted |= check_expr(lfirst(lc), lev, mode, clause);
				if (mode == CHECK_ROW || tainted || IsA(node, WindowFunc) || IsA(node, NextValueExpr))
					node_check(node, lev, clause);
				return tainted;
			}
	}
}

/*
 * The column of a table an expression is, followed through subqueries,
 * joins and CTEs: false when it is not one.
 */
static bool
trace_column(Level *lev, Node *expr, Oid *relid, AttrNumber *attno)
{
	Var		   *v;
	RangeTblEntry *rte;

	*relid = InvalidOid;
	for (;;)
	{
		expr = strip_implicit_coercions(expr);
		if (!IsA(expr, Var) || ((Var *) expr)->varlevelsup != 0 || ((Var *) expr)->varattno <= 0)
			return false;
		v = (Var *) expr;
		rte = rt_fetch(v->varno, lev->query->rtable);
		switch (rte->rtekind)
		{
			case RTE_RELATION:
				*relid = rte->relid;
				*attno = v->varattno;
				return true;
			case RTE_SUBQUERY:
			case RTE_CTE:
				{
					Level	   *sub = lev->rtes[v->varno - 1].sub;
					TargetEntry *tle;

					if (sub == NULL || sub->query->setOperations != NULL)
						return false;
					tle = get_tle_by_resno(sub->query->targetList, v->varattno);
					if (tle == NULL)
						return false;
					lev = sub;
					expr = (Node *) tle->expr;
					break;
				}
			case RTE_JOIN:
				if (v->varattno > list_length(rte->joinaliasvars))
					return false;
				expr = list_nth(rte->joinaliasvars, v->varattno - 1);
				if (expr == NULL)
					return false;
				break;
			default:
				return false;
		}
	}
}

/*
 * The column a sum or avg reads, followed down to a protected table: its
 * bounds, or NULL.  *relid and *attno say which column it was, when it is
 * one.
 */
static ColumnBounds *
bounds_of(Level *lev, Node *expr, Oid *relid, AttrNumber *attno)
{
	ProtectedRel *p;
	int			i;

	if (!trace_column(lev, expr, relid, attno) || (p = protected_rel(*relid)) == NULL)
		return NULL;
	for (i = 0; i < p->nbounds; i++)
		if (p->bounds[i].attno == *attno)
			return &p->bounds[i];
	return NULL;
}

static int
numtype_index(Oid type)
{
	int			i;

	for (i = 0; i < N_NUMTYPES; i++)
		if (numtypes[i] == type)
			return i;
	return -1;
}

/* a new Aggref of an aggregate (of privstat's: an error if it is missing) */
static Aggref *
plain_aggref(Oid fnoid, List *args, Expr *filter)
{
	Aggref	   *a = makeNode(Aggref);
	ListCell   *lc;
	int			resno = 0;

	if (!OidIsValid(fnoid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("privstat's DP aggregates are missing from schema privstat"),
				 errhint("ALTER EXTENSION privstat UPDATE.")));
	a->aggfnoid = fnoid;
	a->aggtype = get_func_rettype(fnoid);
	a->aggcollid = InvalidOid;
	a->inputcollid = args != NIL ? exprCollation(linitial(args)) : InvalidOid;
	foreach(lc, args)
	{
		a->aggargtypes = lappend_oid(a->aggargtypes, exprType(lfirst(lc)));
		a->args = lappend(a->args, makeTargetEntry(lfirst(lc), ++resno, NULL, false));
	}
	a->aggfilter = (Expr *) copyObject(filter);
	a->aggstar = (args == NIL);
	a->aggkind = AGGKIND_NORMAL;
	a->aggsplit = AGGSPLIT_SIMPLE;
	a->aggno = -1;
	a->aggtransno = -1;
	a->location = -1;
	return a;
}

static Node *
coerce_to(Node *expr, Oid type)
{
	Node	   *r;

	if (exprType(expr) == type)
		return expr;
	r = coerce_to_target_type(NULL, expr, exprType(expr), type, -1,
							  COERCION_EXPLICIT, COERCE_IMPLICIT_CAST, -1);
	if (r == NULL)
		elog(ERROR, "privstat: no cast from %s to %s",
			 format_type_be(exprType(expr)), format_type_be(type));
	return r;
}

/* a new Aggref of a DP aggregate in place of orig, cast back to orig's type */
static Node *
make_dp_aggref(Aggref *orig, Oid fnoid, List *args)
{
	Aggref	   *a = plain_aggref(fnoid, args, orig->aggfilter);

	a->inputcollid = orig->inputcollid;
	a->location = orig->location;
	return coerce_to((Node *) a, orig->aggtype);
}

/*
 * Rewrite sum(col) or avg(col) into dp_sum/dp_avg(col, lower, upper) with
 * the bounds the DBA declared for col.
 */
static Node *
rewrite_sum_avg(Aggref *agg, Level *lev, bool is_avg)
{
	const char *name = is_avg ? "avg" : "sum";
	Node	   *arg = (Node *) linitial_node(TargetEntry, agg->args)->expr;
	Oid			relid;
	AttrNumber	attno;
	ColumnBounds *b = bounds_of(lev, arg, &relid, &attno);
	Oid			argtype = exprType(arg);
	int			t;

	if (b == NULL)
	{
		if (OidIsValid(relid) && protected_rel(relid) != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("%s(%s) needs declared bounds for column %s of protected table %s",
							name, get_attname(relid, attno, false), get_attname(relid, attno, false),
							quote_identifier(get_rel_name(relid))),
					 errhint("An administrator declares them: SELECT privstat.set_bounds('%s', '%s', lower, upper); or call privstat.dp_%s(col, lower, upper).",
							 get_rel_name(relid), get_attname(relid, attno, false), name)));
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("%s() of an expression or an unprotected column is not allowed over protected table %s",
						name, example_name(lev)),
				 errdetail("Only a column of a protected table has declared bounds."),
				 errhint("Call privstat.dp_%s(expression, lower, upper) with bounds of your own.", name)));
	}
	if (argtype == FLOAT4OID)
	{
		arg = coerce_to(arg, FLOAT8OID);
		argtype = FLOAT8OID;
	}
	t = numtype_index(argtype);
	if (t < 0)
		refuse(lev, psprintf("%s() of type %s", name, format_type_be(argtype)),
			   "Sum and average numeric columns (smallint, integer, bigint, numeric, real, double precision).");
	return make_dp_aggref(agg, is_avg ? cache.dp_avg[t] : cache.dp_sum[t],
						  list_make3(arg,
									 makeConst(FLOAT8OID, -1, InvalidOid, 8, Float8GetDatum(b->lower), false, true),
									 makeConst(FLOAT8OID, -1, InvalidOid, 8, Float8GetDatum(b->upper), false, true)));
}

/*
 * One aggregate of an aggregating level over protected rows: its
 * arguments and filter are row expressions; it must be a DP aggregate, or
 * count/sum/avg, which become one.
 */
static Node *
validate_aggref(Aggref *agg, Level *lev)
{
	if (agg->agglevelsup != 0)
		refuse(lev, "an aggregate of an outer query inside a subquery", NULL);
	if (agg->aggdistinct != NIL)
	{
		/* count(DISTINCT unit) is the number of units: dp_count_units */
		if (agg->aggfnoid == F_COUNT_ANY && list_length(agg->args) == 1 && agg->aggorder == NIL &&
			is_unit_expr(lev, (Node *) linitial_node(TargetEntry, agg->args)->expr))
		{
			FREEZE(agg->aggfilter);
			(void) check_expr((Node *) agg->aggfilter, lev, CHECK_ROW, "FILTER");
			lev->n_dp++;
			return make_dp_aggref(agg, cache.dp_count_units[0],
								  list_make1(linitial_node(TargetEntry, agg->args)->expr));
		}
		refuse(lev, "DISTINCT inside an aggregate",
			   "Count rows with count(*), and people with count(DISTINCT <privacy unit>); counting distinct values of other columns reveals which values occur.");
	}
	if (agg->aggorder != NIL)
		refuse(lev, "ORDER BY inside an aggregate", NULL);
	FREEZE(agg->aggdirectargs);
	FREEZE(agg->args);
	FREEZE(agg->aggfilter);
	(void) check_list(agg->aggdirectargs, lev, CHECK_ROW, "an aggregate's arguments");
	(void) check_list(agg->args, lev, CHECK_ROW, "an aggregate's arguments");
	(void) check_expr((Node *) agg->aggfilter, lev, CHECK_ROW, "FILTER");

	lev->n_dp++;
	if (privstat_is_dp_aggregate(agg->aggfnoid) ||
		agg->aggfnoid == cache.dp_count_units[0] || agg->aggfnoid == cache.dp_count_units[1])
		return (Node *) agg;

	switch (agg->aggfnoid)
	{
		case F_COUNT_:
			return make_dp_aggref(agg, cache.dp_count_star, NIL);
		case F_COUNT_ANY:
			return make_dp_aggref(agg, cache.dp_count_any,
								  list_make1(linitial_node(TargetEntry, agg->args)->expr));
		case F_SUM_INT2:
		case F_SUM_INT4:
		case F_SUM_INT8:
		case F_SUM_FLOAT4:
		case F_SUM_FLOAT8:
		case F_SUM_NUMERIC:
			return rewrite_sum_avg(agg, lev, false);
		case F_AVG_INT2:
		case F_AVG_INT4:
		case F_AVG_INT8:
		case F_AVG_FLOAT4:
		case F_AVG_FLOAT8:
		case F_AVG_NUMERIC:
			return rewrite_sum_avg(agg, lev, true);
		default:
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("aggregate %s is not differentially private and is not allowed over protected table %s",
							format_procedure(agg->aggfnoid), example_name(lev)),
					 errhint("Use count, sum or avg (answered by DP aggregates) or privstat.dp_count, dp_sum, dp_avg, dp_variance, dp_stddev, dp_percentile or dp_median.")));
	}
	return NULL;				/* not reached */
}

static Node *
aggref_mutator(Node *node, Level *lev)
{
	if (node == NULL)
		return NULL;
	if (IsA(node, Aggref))
		return validate_aggref((Aggref *) node, lev);
	if (IsA(node, SubLink) || IsA(node, Query))
	{
		/* the subquery is its own level; keep the node, testexpr included */
		if (IsA(node, SubLink))
			((SubLink *) node)->testexpr = aggref_mutator(((SubLink *) node)->testexpr, lev);
		return node;
	}
	return expression_tree_mutator(node, aggref_mutator, (void *) lev);
}

/*
 * Does an expression of lev use a protected value: a Var of this level or
 * of an outer one (a correlated subquery's FROM function or VALUES refers
 * to the query around it)?  Sublinks are the caller's business.
 */
static bool
tainted_var_walker(Node *node, Level *lev)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var))
		return var_tainted(lev, (Var *) node);
	if (IsA(node, Query))
		return false;
	return expression_tree_walker(node, tainted_var_walker, (void *) lev);
}

/* expressions of FROM items evaluated per row: functions, VALUES, tables */
static bool
from_expr_tainted(Node *node, Level *lev)
{
	if (node == NULL)
		return false;
	if (contain_subplans(node))
	{
		/* a sublink in a FROM function: only over unprotected data */
		Level		probe = *lev;

		probe.sublinks = NIL;
		(void) prepass_walker(node, &probe);
		if (probe.reads_protected || probe.outer_taint)
			return true;
	}
	return tainted_var_walker(node, lev);
}

static void
note_protected(Level *lev, Oid relid)
{
	lev->reads_protected = true;
	if (!OidIsValid(lev->example))
		lev->example = relid;
}

/* the quals of the join tree: ON conditions and WHERE */
static void
check_jointree(Node *node, Level *lev)
{
	if (node == NULL)
		return;
	if (IsA(node, FromExpr))
	{
		FromExpr   *f = (FromExpr *) node;
		ListCell   *lc;

		foreach(lc, f->fromlist)
			check_jointree(lfirst(lc), lev);
		FREEZE(f->quals);
		(void) check_expr(f->quals, lev, CHECK_ROW, "WHERE");
	}
	else if (IsA(node, JoinExpr))
	{
		JoinExpr   *j = (JoinExpr *) node;

		check_jointree(j->larg, lev);
		check_jointree(j->rarg, lev);
		FREEZE(j->quals);
		(void) check_expr(j->quals, lev, CHECK_ROW, "JOIN ON");
	}
}

/* ---------------------------------------------------------------------------
 * User-level privacy: contribution bounding and group selection
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
 * ---------------------------------------------------------------------------
 */

static void level_unit(Level *lev);

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
	int			i = 0;

	if (lev->unit != NULL)
		return;
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
static bool
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
		return func_call(cache.float8_of_numeric, FLOAT8OID, list_make1(expr));
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
} BoundCtx;

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
	Aggref	   *count = arg ? plain_aggref(F_COUNT_ANY, list_make1(copyObject(arg)), filter)
		: plain_aggref(F_COUNT_, NIL, filter);

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
	Aggref	   *sum = plain_aggref(F_SUM_FLOAT8, list_make1(clamped), filter);
	Aggref	   *n = plain_aggref(F_COUNT_ANY, list_make1(copyObject(arg)), filter);

	return add_contribution(ctx, func_call(cache.bounded_total, FLOAT8OID,
										   list_make4(sum, n,
													  makeConst(INT4OID, -1, InvalidOid, 4, Int32GetDatum(ctx->m), false, true),
													  float8_const(centre))));
}

/* dp_sum over the contributions: integer ones as bigint, others as double */
static Node *
outer_sum(Node *contrib, double lower, double upper, double epsilon)
{
	return (Node *) plain_aggref(exprType(contrib) == INT8OID ? cache.dp_sum_int8_eps : cache.dp_sum_float8_eps,
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

	if (agg->aggfnoid == cache.dp_count_units[0] || agg->aggfnoid == cache.dp_count_units[1])
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
				double		b = Max(fabs(lower), fabs(upper));

				result = outer_sum(bounded_total(ctx, linitial(args), agg->aggfilter, lower, upper, 0.0),
								   -km * b, km * b, epsilon);
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

				return coerce_to(func_call(cache.dp_mean, FLOAT8OID,
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
				sample = add_contribution(ctx, (Node *) plain_aggref(cache.sample_rows,
																	 list_make2(value_float8((Node *) copyObject(linitial(args))),
																				makeConst(INT4OID, -1, InvalidOid, 4,
																						  Int32GetDatum(ctx->m), false, true)),
																	 agg->aggfilter));
				weight = (Node *) makeConst(INT4OID, -1, InvalidOid, 4, Int32GetDatum(ctx->k * ctx->m), false, true);
				if (kind == DP_PERCENTILE)
					outer = list_make5(sample, float8_const(p), float8_const(lower), float8_const(upper),
									   float8_const(epsilon));
				else
					outer = list_make4(sample, float8_const(lower), float8_const(upper), float8_const(epsilon));
				outer = lappend(outer, weight);
				result = (Node *) plain_aggref(kind == DP_PERCENTILE ? cache.dp_percentile_units :
											   kind == DP_VARIANCE ? cache.dp_variance_units : cache.dp_stddev_units,
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
		ctx->done_aggs = lappend(ctx->done_aggs, node);
		ctx->done_repl = lappend(ctx->done_repl, repl);
		return copyObject(repl);
	}
	return expression_tree_mutator(node, replace_aggrefs_mutator, (void *) ctx);
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
 * Rewrite an aggregating level over protected rows (validated, its
 * aggregates already DP ones) as described above.  The level's Query node
 * becomes the outer query, so whatever points to it keeps pointing to it.
 */
static void
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
		TargetEntry *tle = makeTargetEntry((Expr *) copyObject(orig->expr),
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
		rank = makeTargetEntry((Expr *) func_call(cache.contribution_rank, INT8OID, NIL),
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
	{
		/* release a group only if its noisy count of units passes the threshold */
		Node	   *select = (Node *) plain_aggref(cache.dp_group_selected,
												   list_make3(float8_const(privstat_selection_epsilon),
															  float8_const(privstat_selection_delta),
															  makeConst(INT4OID, -1, InvalidOid, 4,
																		Int32GetDatum(ctx.k), false, true)),
												   NULL);

		having = having ? (Node *) make_andclause(list_make2(having, select)) : select;
	}
	q->targetList = tlist;
	q->havingQual = having;
	bounded_levels = lappend(bounded_levels, q);
}

static Level *
validate_level(Query *q, Level *parent)
{
	Level	   *lev = palloc0(sizeof(Level));
	ListCell   *lc;
	int			i;
	bool		aggregating;
	ProtectedRel *prel;

	check_stack_depth();
	lev->query = q;
	lev->parent = parent;

	/* WITH: each CTE is a level of its own, seen by the levels below */
	foreach(lc, q->cteList)
	{
		CommonTableExpr *cte = lfirst(lc);
		Query	   *cq = castNode(Query, cte->ctequery);
		CteInfo    *info = palloc(sizeof(CteInfo));

		if (cq->commandType != CMD_SELECT)
			refuse(lev, "a data-modifying WITH", "Use WITH queries that only read.");
		if (cte->cterecursive)
			refuse(lev, "WITH RECURSIVE", "Use a WITH query that is not recursive.");
		info->cte = cte;
		info->level = validate_level(cq, lev);
		lev->ctes = lappend(lev->ctes, info);
	}

	/* FROM items, in order: a LATERAL item sees the ones before it */
	lev->rtes = palloc0(Max(list_length(q->rtable), 1) * sizeof(RteInfo));
	i = 0;
	foreach(lc, q->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);
		RteInfo    *info = &lev->rtes[i++];

		switch (rte->rtekind)
		{
			case RTE_RELATION:
				if ((prel = protected_rel(rte->relid)) == NULL)
					break;
				info->is_protected = true;
				note_protected(lev, rte->relid);
				if (i == q->resultRelation || (rte->requiredPerms & ~ACL_SELECT) != 0)
					ereport(ERROR,
							(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
							 errmsg("%s on protected table %s is not allowed",
									q->commandType == CMD_INSERT ? "INSERT" :
									q->commandType == CMD_UPDATE ? "UPDATE" :
									q->commandType == CMD_DELETE ? "DELETE" :
									q->commandType == CMD_MERGE ? "MERGE" : "FOR UPDATE/SHARE",
									example_name(lev)),
							 errhint("A role at access level aggregate only reads protected tables, through DP aggregates.")));
				if (rte->tablesample != NULL)
					refuse(lev, "TABLESAMPLE", "Aggregate the whole table; sampling reveals which rows exist.");
				/*
				 * Validated: read it as privstat_reader.  Marked here, on
				 * the query, not on the finished plan: the planner may
				 * inline a set-returning SQL function, whose body nobody
				 * validated and which must keep the caller's rights.
				 */
				rte->checkAsUser = cache.reader;
				if (user_holds_select(prel, rte->relid))
					ereport(ERROR,
							(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
							 errmsg("role %s at access level aggregate holds SELECT on protected table %s",
									GetUserNameFromId(GetUserId(), false), example_name(lev)),
							 errdetail("privstat refuses the role's queries over the table until the grant is revoked."),
							 errhint("An administrator runs: REVOKE SELECT ON %s FROM %s;",
									 quote_identifier(get_rel_name(rte->relid)),
									 quote_identifier(GetUserNameFromId(GetUserId(), false)))));
				break;
			case RTE_SUBQUERY:
				info->sub = validate_level(rte->subquery, lev);
				if (info->sub->raw || info->sub->outer_taint)
					note_protected(lev, info->sub->example);
				break;
			case RTE_CTE:
				info->sub = cte_level(lev, rte);
				if (info->sub != NULL && info->sub->raw)
					note_protected(lev, info->sub->example);
				break;
			case RTE_FUNCTION:
				{
					ListCell   *fl;

					foreach(fl, rte->functions)
						if (from_expr_tainted(((RangeTblFunction *) lfirst(fl))->funcexpr, lev))
							refuse(lev, "a set-returning function over protected values",
								   "Set-returning functions may run on DP results in an outer query, not on protected rows.");
				}
				break;
			case RTE_VALUES:
				if (from_expr_tainted((Node *) rte->values_lists, lev))
					refuse(lev, "VALUES built from protected values", NULL);
				break;
			case RTE_TABLEFUNC:
				if (from_expr_tainted((Node *) rte->tablefunc, lev))
					refuse(lev, "a table function over protected values", NULL);
				break;
			default:
				break;
		}
	}

	/* this level's own expressions: validate their sublinks first */
	(void) prepass_walker((Node *) q->targetList, lev);
	(void) prepass_walker((Node *) q->jointree, lev);
	(void) prepass_walker(q->havingQual, lev);
	(void) prepass_walker(q->limitCount, lev);
	(void) prepass_walker(q->limitOffset, lev);
	(void) prepass_walker((Node *) q->returningList, lev);
	if (q->onConflict != NULL)
		(void) prepass_walker((Node *) q->onConflict, lev);
	(void) prepass_walker((Node *) q->mergeActionList, lev);

	lev->nout = list_length(q->targetList);
	lev->out_tainted = palloc0(Max(lev->nout, 1) * sizeof(bool));

	if (!lev->reads_protected && !lev->outer_taint)
		return lev;				/* post-processing, or no protected data */

	/* a level whose rows come from protected data */
	if (q->commandType != CMD_SELECT)
		refuse(lev, "writing values derived from protected rows",
			   "Write DP results: INSERT INTO t SELECT count(*) FROM protected_table.");
	if (q->rowMarks != NIL)
		refuse(lev, "FOR UPDATE or FOR SHARE", NULL);
	if (q->hasWindowFuncs)
		refuse(lev, "a window function",
			   "Compute the DP aggregate in a subquery and apply the window function in the outer query.");
	if (q->hasTargetSRFs)
		refuse(lev, "a set-returning function",
			   "Set-returning functions may run on DP results in an outer query, not on protected rows.");
	if (q->setOperations != NULL)
		refuse(lev, "UNION, INTERSECT or EXCEPT of protected rows",
			   "Aggregate each side first, then combine the DP results.");
	if (q->groupingSets != NIL)
		refuse(lev, "GROUPING SETS, ROLLUP or CUBE",
			   "Run one GROUP BY per grouping: each row would count in several groups.");

	check_jointree((Node *) q->jointree, lev);

	/* FROM items that do not read protected rows are evaluated lazily */
	i = 0;
	foreach(lc, q->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);
		RteInfo    *info = &lev->rtes[i++];

		switch (rte->rtekind)
		{
			case RTE_SUBQUERY:
				if (!info->sub->raw && !info->sub->outer_taint)
					(void) strict_walker((Node *) rte->subquery, lev);
				break;
			case RTE_CTE:
				if (info->sub != NULL && !info->sub->raw)
					(void) strict_walker((Node *) info->sub->query, lev);
				break;
			case RTE_FUNCTION:
				(void) strict_walker((Node *) rte->functions, lev);
				break;
			case RTE_VALUES:
				(void) strict_walker((Node *) rte->values_lists, lev);
				break;
			case RTE_TABLEFUNC:
				refuse(lev, "a table function joined to protected rows", NULL);
				break;
			default:
				break;
		}
	}

	aggregating = q->hasAggs || q->groupClause != NIL;
	if (!aggregating)
	{
		/* raw: protected rows pass on to a level that aggregates them */
		if (q->distinctClause != NIL)
			refuse(lev, "DISTINCT over protected rows",
				   "Use GROUP BY with a DP aggregate: SELECT col, count(*) FROM t GROUP BY col.");
		if (q->limitCount != NULL || q->limitOffset != NULL)
			refuse(lev, "LIMIT or OFFSET over protected rows", "Apply LIMIT to DP results.");
		if (q->sortClause != NIL)
			refuse(lev, "ORDER BY over protected rows", "Apply ORDER BY to DP results.");
		i = 0;
		FREEZE(q->targetList);
		foreach(lc, q->targetList)
			lev->out_tainted[i++] = check_expr(lfirst(lc), lev, CHECK_ROW, "the select list");
		lev->raw = true;
		if (parent == NULL)
			refuse(lev, "returning protected rows",
				   "Return aggregates: SELECT count(*), avg(col) FROM t, with GROUP BY for groups.");
		return lev;
	}

	if (lev->outer_taint)
		refuse(lev, "an aggregate in a subquery correlated with protected rows",
			   "Aggregate the protected rows themselves, joining what the subquery reads.");
	if (q->constraintDeps != NIL)
		refuse(lev, "selecting columns that depend on a grouped primary key",
			   "Name every output column in GROUP BY.");
	foreach(lc, q->groupClause)
	{
		TargetEntry *tle = get_sortgroupclause_tle(lfirst(lc), q->targetList);

		FREEZE(tle->expr);
		(void) check_expr((Node *) tle->expr, lev, CHECK_ROW, "GROUP BY");
	}
	/* aggregates: checked and rewritten into DP ones in place */
	q->targetList = (List *) aggref_mutator((Node *) q->targetList, lev);
	q->havingQual = aggref_mutator(q->havingQual, lev);
	if (lev->n_dp == 0)
		refuse(lev, "GROUP BY without an aggregate",
			   "Add a DP aggregate: SELECT col, count(*) FROM t GROUP BY col.");
	/* outputs, HAVING, ORDER BY: DP results and group keys */
	foreach(lc, q->targetList)
		(void) check_expr(lfirst(lc), lev, CHECK_POST, "the select list");
	(void) check_expr(q->havingQual, lev, CHECK_POST, "HAVING");
	(void) check_expr(q->limitCount, lev, CHECK_POST, "LIMIT");
	(void) check_expr(q->limitOffset, lev, CHECK_POST, "OFFSET");
	/* each privacy unit's contribution bounded, groups selected */
	bound_level(lev);
	/* the outputs are released: DP results, and group keys */
	return lev;
}


/* ---------------------------------------------------------------------------
 * Hooks
 * ---------------------------------------------------------------------------
 */

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
	return cache.nrels > 0 && touches_protected_walker((Node *) q, NULL);
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

		if (rte->rtekind == RTE_RELATION && rte->checkAsUser == cache.reader)
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
	PlannedStmt *result;

	if (level != LEVEL_DIRECT && touches_protected(parse))
	{
		if (level == LEVEL_NONE)
			refuse_level_none();
		if (!OidIsValid(cache.reader))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("role privstat_reader does not exist"),
					 errhint("Recreate it (CREATE ROLE privstat_reader NOLOGIN) and protect the tables again.")));
		froze_mutable = false;
		needs_custom_plan = false;
		bounded_levels = NIL;
		validating_params = boundParams;
		PG_TRY();
		{
			(void) validate_level(parse, NULL);
		}
		PG_FINALLY();
		{
			validating_params = NULL;
			bounded_levels = NIL;
		}
		PG_END_TRY();
		validated = true;
		/* unchecked: read with the caller's rights, which are none */
		if (needs_custom_plan)
			unmark_reader((Node *) parse);
	}

	if (prev_planner)
		result = prev_planner(parse, query_string, cursorOptions, boundParams);
	else
		result = standard_planner(parse, query_string, cursorOptions, boundParams);

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
	if (!cache.installed)
		return true;
	level = current_level();
	foreach(lc, rangeTable)
	{
		RangeTblEntry *rte = lfirst(lc);
		bool		as_reader;

		if (rte->rtekind != RTE_RELATION)
			continue;
		as_reader = OidIsValid(cache.reader) && rte->checkAsUser == cache.reader;
		if (!as_reader && level == LEVEL_DIRECT)
			continue;
		if (protected_rel(rte->relid) == NULL)
			continue;
		if (level == LEVEL_NONE)
			refuse_level_none();
		/* at run time, so EXPLAIN ANALYZE EXECUTE of a cached plan is caught too */
		if (as_reader && in_explain_analyze && level != LEVEL_DIRECT)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("EXPLAIN ANALYZE of a query over protected tables is not allowed"),
					 errdetail("Actual row counts are exact answers about protected rows."),
					 errhint("Use EXPLAIN without ANALYZE.")));
		if (!as_reader && rte->requiredPerms != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("this plan over protected table %s was not validated for a role at access level %s",
							quote_identifier(get_rel_name(rte->relid)), level_name(level)),
					 errhint("Run the statement again; prepare it again if it was prepared before the role's level changed.")));
	}
	return true;
}

/* after a GRANT or set_access: warn of aggregate roles that can read protected rows */
static void
warn_restricted_readers(void)
{
	int			r;
	int			t;

	for (t = 0; t < cache.nrels; t++)
		for (r = 0; r < cache.nroles; r++)
		{
			Oid			relid = cache.rels[t].relid;
			Oid			role = cache.roles[r].role;
			char	   *relname;
			char	   *rolename;

			if (cache.roles[r].level != LEVEL_AGGREGATE || !holds_select(relid, role))
				continue;
			relname = get_rel_name(relid);
			rolename = GetUserNameFromId(role, true);
			if (relname == NULL || rolename == NULL)
				continue;
			ereport(WARNING,
					(errcode(ERRCODE_WARNING),
					 errmsg("role %s at access level aggregate holds SELECT on protected table %s",
							quote_identifier(rolename), quote_identifier(relname)),
					 errdetail("privstat refuses every query of that role over the table until the grant is revoked."),
					 errhint("REVOKE SELECT ON %s FROM %s;",
							 quote_identifier(relname), quote_identifier(rolename))));
		}
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
		if (cache.installed)
			warn_restricted_readers();
	}
}

void
privstat_policy_init(void)
{
	CacheRegisterRelcacheCallback(policy_relcache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, policy_syscache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHOID, policy_syscache_callback, (Datum) 0);

	prev_planner = planner_hook;
	planner_hook = policy_planner;
	prev_check_perms = ExecutorCheckPerms_hook;
	ExecutorCheckPerms_hook = policy_check_perms;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = policy_ProcessUtility;
	prev_rls_permissive = row_security_policy_hook_permissive;
	row_security_policy_hook_permissive = policy_rls_permissive;
	prev_rls_restrictive = row_security_policy_hook_restrictive;
	row_security_policy_hook_restrictive = policy_rls_restrictive;
	prev_object_access = object_access_hook;
	object_access_hook = policy_object_access;
}


/* ---------------------------------------------------------------------------
 * SQL interface
 * ---------------------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(privstat_policy_changed);

/*
 * Trigger on privstat's policy tables: every session drops its copy of the
 * policy, and every cached plan is replanned (and so validated again), when
 * this transaction commits.
 */
Datum
privstat_policy_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("privstat._policy_changed() must be called as a trigger")));
	CacheInvalidateRelcacheAll();
	privstat_audit_config_change(trigdata);
	return PointerGetDatum(TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ? trigdata->tg_trigtuple : NULL);
}


/* ---------------------------------------------------------------------------
 * Row-level rules: consent to purposes, scopes, expiry
 * ---------------------------------------------------------------------------
 */

/* a scope condition: columns, constants, and nodes node_check allows */
static bool
scope_walker(Node *node, Level *lev)
{
	if (node == NULL)
		return false;
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
 * uses nothing but LEAKPROOF functions and operators (or the allow-list):
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

	error_context_stack = &errcb;
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
	(void) scope_walker(expr, &lev);
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
	Node	   *cutoff = (Node *) make_op(pstate, list_make1(makeString("-")), now, keep, NULL, -1);
	Node	   *kept = (Node *) make_op(pstate, list_make1(makeString(">=")), (Node *) col, cutoff, NULL, -1);
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
static List *
policy_rls_restrictive(CmdType cmdtype, Relation rel)
{
	List	   *result = prev_rls_restrictive ? prev_rls_restrictive(cmdtype, rel) : NIL;
	RowRules   *r;
	int			i;

	if (cmdtype != CMD_SELECT)
		return result;
	policy_ensure();
	if (!cache.installed || (r = row_rules(RelationGetRelid(rel), false)) == NULL)
		return result;

	if (r->consent_attno != 0 && OidIsValid(cache.consent_ok))
	{
		Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel), r->consent_attno - 1);
		Var		   *col = makeVar(1, r->consent_attno, att->atttypid, att->atttypmod, att->attcollation, 0);

		result = lappend(result,
						 make_policy("privstat_consent", ACL_ID_PUBLIC,
									 (Expr *) makeFuncExpr(cache.consent_ok, BOOLOID, list_make1(col),
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
 * Where privstat turned row security on, a permissive policy that lets
 * every row through, for every command, so that only privstat's restrictive
 * rules narrow what roles see.  Only while the table has no permissive
 * policy of the DBA's own: from the first one on, the DBA's permissive
 * policies decide alone which rows a role may see (PostgreSQL's rule), and
 * privstat's rules narrow those, never widen them.
 */
static List *
policy_rls_permissive(CmdType cmdtype, Relation rel)
{
	List	   *result = prev_rls_permissive ? prev_rls_permissive(cmdtype, rel) : NIL;
	RowRules   *r;
	ListCell   *lc;

	policy_ensure();
	if (!cache.installed || (r = row_rules(RelationGetRelid(rel), false)) == NULL || !r->rls_by_privstat)
		return result;
	if (rel->rd_rsdesc != NULL)
		foreach(lc, rel->rd_rsdesc->policies)
			if (((RowSecurityPolicy *) lfirst(lc))->permissive)
				return result;
	return lappend(result, make_policy("privstat_all_rows", ACL_ID_PUBLIC,
									   (Expr *) makeBoolConst(true, false), true));
}

/* may the current role declare this purpose? */
static bool
purpose_granted(const char *purpose)
{
	int			i;

	for (i = 0; i < cache.ngrants; i++)
		if (strcmp(cache.grants[i].purpose, purpose) == 0 &&
			has_privs_of_role(GetUserId(), cache.grants[i].role))
			return true;
	return false;
}

/*
 * The session's purpose if the current role holds it, else NULL, with its
 * length.  Checked again only after a change of the purpose (the setting's
 * assign hook), the role or the policy: the consent qual calls this for
 * every row.
 */
static const char *
effective_purpose(size_t *len)
{
	static uint64 checked_generation = 0;
	static Oid	checked_user = InvalidOid;
	static char *purpose = NULL;
	static size_t purpose_len = 0;

	if (checked_generation != policy_generation || checked_user != GetUserId())
	{
		if (purpose != NULL)
			pfree(purpose);
		purpose = NULL;
		policy_ensure();
		if (privstat_purpose != NULL && privstat_purpose[0] != '\0' &&
			cache.installed && purpose_granted(privstat_purpose))
		{
			purpose = MemoryContextStrdup(TopMemoryContext, privstat_purpose);
			purpose_len = strlen(purpose);
		}
		checked_user = GetUserId();
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
	if (!cache.installed || purpose_granted(*newval))
		return true;
	GUC_check_errcode(ERRCODE_INSUFFICIENT_PRIVILEGE);
	GUC_check_errmsg("purpose \"%s\" is not granted to role %s", *newval,
					 GetUserNameFromId(GetUserId(), false));
	GUC_check_errhint("An administrator grants it: SELECT privstat.grant_purpose('%s', '%s');",
					  GetUserNameFromId(GetUserId(), false), *newval);
	return false;
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

	if (PG_ARGISNULL(0) || (purpose = effective_purpose(&len)) == NULL)
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
 * Turn on row security for relid if it is off, note that privstat did, and
 * say so.  The caller's rights to the table were checked.
 */
void
privstat_policy_enable_rls(Oid relid)
{
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	char	   *qualname;
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	bool		enabled;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	enabled = ((Form_pg_class) GETSTRUCT(tup))->relrowsecurity;
	ReleaseSysCache(tup);
	if (enabled)
		return;
	qualname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
										  get_rel_name(relid));
	SPI_connect();
	privstat_exec_as_superuser(psprintf("ALTER TABLE %s ENABLE ROW LEVEL SECURITY", qualname),
							   0, NULL, NULL, NULL);
	privstat_exec_as_superuser("INSERT INTO privstat.rls_table (tbl) VALUES ($1) ON CONFLICT DO NOTHING",
							   1, types, values, NULL);
	SPI_finish();
	ereport(NOTICE,
			(errmsg("row level security enabled on table %s", qualname),
			 errdetail("privstat's row rules apply to every role but the table's owner; with it, privstat added a policy that lets all other rows through."),
			 errhint("ALTER TABLE %s FORCE ROW LEVEL SECURITY applies them to the owner too.", qualname)));
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

PG_FUNCTION_INFO_V1(privstat_warn_restricted_readers);

/* privstat._warn_restricted_readers(), for set_access */
Datum
privstat_warn_restricted_readers(PG_FUNCTION_ARGS pg_attribute_unused())
{
	policy_ensure();
	if (cache.installed)
		warn_restricted_readers();
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
