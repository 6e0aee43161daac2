/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  The policy cache: privstat's policy tables as this backend sees them.
 *
 * The protected tables, the access levels of roles and the row rules are
 * read from privstat's tables on first use and kept in policy_cache until
 * an invalidation drops them.  The rest of the policy module reads the
 * policy through policy_ensure(), level_of() and protected_rel(); nothing
 * here calls into the other files of src/policy/.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "miscadmin.h"
#include "parser/parse_func.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "privstat/audit.h"
#include "privstat/policy.h"
#include "privstat/common.h"

#include "policy_internal.h"

/* The numeric input types of sum/avg and the matching dp_sum/dp_avg. */
const Oid	numtypes[N_NUMTYPES] = {INT2OID, INT4OID, INT8OID, NUMERICOID, FLOAT8OID};

/* this backend's copy of the policy: see policy_internal.h */
PolicyCache policy_cache;

MemoryContext policy_cxt = NULL;

/* counts invalidations, so that caches derived from the policy can tell */
uint64		policy_generation = 0;


void
policy_relcache_callback(Datum arg pg_attribute_unused(), Oid relid)
{
	int			i;

	if (!policy_cache.valid)
		return;

	/*
	 * Only what the policy depends on: everything (relid invalid, which is
	 * how privstat's own tables' triggers announce a change), privstat's
	 * tables, the protected tables and those with row rules (their columns
	 * and ACLs).  Where privstat is not installed, any relation: it may be
	 * the install creating them.
	 */
	if (OidIsValid(relid) && policy_cache.installed)
	{
		bool		ours = false;

		for (i = 0; !ours && i < (int) lengthof(policy_cache.tables); i++)
			ours = policy_cache.tables[i] == relid;
		for (i = 0; !ours && i < policy_cache.nrels; i++)
			ours = policy_cache.rels[i].relid == relid;
		for (i = 0; !ours && i < policy_cache.nrowrules; i++)
			ours = policy_cache.rowrules[i].relid == relid;
		if (!ours)
			return;
	}
	policy_cache.valid = false;
	policy_cache.level_valid = false;
	policy_generation++;
}

void
policy_syscache_callback(Datum arg pg_attribute_unused(), int cacheid pg_attribute_unused(),
						 uint32 hashvalue pg_attribute_unused())
{
	int			i;

	/* levels, purpose grants and SELECT held through a role all follow membership */
	policy_cache.level_valid = false;
	for (i = 0; i < policy_cache.nrels; i++)
		policy_cache.rels[i].select_known = false;
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
	ProtectedRel *p = cache_append((void **) &policy_cache.rels, &policy_cache.nrels, sizeof(ProtectedRel));

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

	for (i = 0; i < policy_cache.nrels; i++)
	{
		ProtectedRel *p = &policy_cache.rels[i];
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
	for (i = 0; i < policy_cache.nrels; i++)
	{
		ProtectedRel *p = &policy_cache.rels[i];
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
	RoleLevel  *r = cache_append((void **) &policy_cache.roles, &policy_cache.nroles, sizeof(RoleLevel));
	char	   *level = TextDatumGetCString(values[1]);

	r->role = DatumGetObjectId(values[0]);
	/* the table's CHECK allows only these two; anything else fails closed */
	r->level = strcmp(level, "aggregate") == 0 ? LEVEL_AGGREGATE : LEVEL_NONE;
}

RowRules *
row_rules(Oid relid, bool create)
{
	int			i;

	for (i = 0; i < policy_cache.nrowrules; i++)
		if (policy_cache.rowrules[i].relid == relid)
			return &policy_cache.rowrules[i];
	if (!create)
		return NULL;
	((RowRules *) cache_append((void **) &policy_cache.rowrules, &policy_cache.nrowrules, sizeof(RowRules)))->relid = relid;
	return &policy_cache.rowrules[policy_cache.nrowrules - 1];
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
	PurposeGrant *g = cache_append((void **) &policy_cache.grants, &policy_cache.ngrants, sizeof(PurposeGrant));

	g->role = DatumGetObjectId(values[0]);
	g->purpose = TextDatumGetCString(values[1]);
}

void
policy_ensure(void)
{
	Oid			nsp;
	MemoryContext old;
	int			i;

	if (policy_cache.valid)
		return;
	if (policy_cxt == NULL)
		policy_cxt = AllocSetContextCreate(CacheMemoryContext, "privstat policy",
										   ALLOCSET_SMALL_SIZES);
	MemoryContextReset(policy_cxt);
	memset(&policy_cache, 0, sizeof(policy_cache));
	/* an invalidation that arrives while loading clears this again */
	policy_cache.valid = true;

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
		StaticAssertStmt(lengthof(names) == lengthof(policy_cache.tables), "one OID per table of privstat's");
		for (i = 0; i < (int) lengthof(names); i++)
			if (!OidIsValid(policy_cache.tables[i] = get_relname_relid(names[i], nsp)))
				return;			/* not (yet) updated to 0.2: nothing to enforce */
		old = MemoryContextSwitchTo(policy_cxt);
		for (i = 0; i < (int) lengthof(names); i++)
			scan_table(policy_cache.tables[i], loaders[i]);
		MemoryContextSwitchTo(old);
	}

	policy_cache.reader = get_role_oid("privstat_reader", true);
	{
		Oid			textarray = TEXTARRAYOID;
		Oid			regclass = REGCLASSOID;

		policy_cache.consent_ok = LookupFuncName(list_make2(makeString("privstat"), makeString("_consent_ok")),
										  1, &textarray, true);
		policy_cache.citus_insert_ok = LookupFuncName(list_make2(makeString("privstat"),
																 makeString("_citus_insert_ok")),
													  1, &regclass, true);
	}
	policy_cache.dp_count_star = lookup_agg("dp_count", 0, InvalidOid);
	policy_cache.dp_count_any = lookup_agg("dp_count", 1, ANYOID);
	for (i = 0; i < N_NUMTYPES; i++)
	{
		policy_cache.dp_sum[i] = lookup_agg("dp_sum", 3, numtypes[i]);
		policy_cache.dp_avg[i] = lookup_agg("dp_avg", 3, numtypes[i]);
	}
	policy_cache.dp_sum_int8_eps = lookup_agg("dp_sum", 4, INT8OID);
	policy_cache.dp_sum_float8_eps = lookup_agg("dp_sum", 4, FLOAT8OID);
	policy_cache.dp_percentile_float8 = lookup_agg("dp_percentile", 4, FLOAT8OID);
	policy_cache.dp_count_units[0] = lookup_agg("dp_count_units", 1, ANYOID);
	policy_cache.dp_count_units[1] = lookup_agg("dp_count_units", 2, ANYOID);
	{
		Oid			sel[3] = {FLOAT8OID, FLOAT8OID, INT4OID};
		Oid			bt[4] = {FLOAT8OID, INT8OID, INT4OID, FLOAT8OID};
		Oid			mean[4] = {FLOAT8OID, NUMERICOID, FLOAT8OID, FLOAT8OID};

		policy_cache.dp_group_selected = LookupFuncName(list_make2(makeString("privstat"), makeString("dp_group_selected")),
												 3, sel, true);
		policy_cache.contribution_rank = LookupFuncName(list_make2(makeString("privstat"), makeString("_contribution_rank")),
												 0, NULL, true);
		policy_cache.bounded_total = LookupFuncName(list_make2(makeString("privstat"), makeString("_bounded_total")),
											 4, bt, true);
		policy_cache.dp_mean = LookupFuncName(list_make2(makeString("privstat"), makeString("_dp_mean")),
									   4, mean, true);
	}
	{
		Oid			cnt[4] = {INT4OID, INT4OID, ANYOID, BOOLOID};
		Oid			val[6] = {INT4OID, INT4OID, FLOAT8OID, ANYOID, FLOAT8OID, BOOLOID};

		policy_cache.bounded_count_input = LookupFuncName(list_make2(makeString("privstat"), makeString("_bounded_count")),
														  4, cnt, true);
		policy_cache.bounded_value_input = LookupFuncName(list_make2(makeString("privstat"), makeString("_bounded_value")),
														  6, val, true);
	}
	{
		Oid			f[5] = {FLOAT8OID, FLOAT8OID, FLOAT8OID, FLOAT8OID, FLOAT8OID};

#define ERROR_FN(field, name, n) \
		policy_cache.field = LookupFuncName(list_make2(makeString("privstat"), makeString(name)), n, f, true)
		ERROR_FN(dp_count_error, "dp_count_error", 2);
		ERROR_FN(dp_sum_error, "dp_sum_error", 4);
		ERROR_FN(dp_avg_error, "dp_avg_error", 5);
		ERROR_FN(dp_variance_error, "dp_variance_error", 5);
		ERROR_FN(dp_stddev_error, "dp_stddev_error", 5);
		ERROR_FN(dp_percentile_rank_error, "dp_percentile_rank_error", 2);
#undef ERROR_FN
	}
	{
		Oid			sample[2] = {FLOAT8OID, INT4OID};
		Oid			var[5] = {FLOAT8ARRAYOID, FLOAT8OID, FLOAT8OID, FLOAT8OID, INT4OID};
		Oid			pct[6] = {FLOAT8ARRAYOID, FLOAT8OID, FLOAT8OID, FLOAT8OID, FLOAT8OID, INT4OID};

		Oid			num = NUMERICOID;

		policy_cache.float8_of_numeric = LookupFuncName(list_make2(makeString("privstat"), makeString("_float8")),
												 1, &num, true);
		policy_cache.sample_rows = LookupFuncName(list_make2(makeString("privstat"), makeString("_sample_rows")),
										   2, sample, true);
		policy_cache.dp_variance_units = LookupFuncName(list_make2(makeString("privstat"), makeString("_dp_variance_units")),
												 5, var, true);
		policy_cache.dp_stddev_units = LookupFuncName(list_make2(makeString("privstat"), makeString("_dp_stddev_units")),
											   5, var, true);
		policy_cache.dp_percentile_units = LookupFuncName(list_make2(makeString("privstat"), makeString("_dp_percentile_units")),
												   6, pct, true);
	}
	policy_cache.installed = true;
}

/*
 * The access level of a role: the most restrictive level of the roles whose
 * privileges it has (its own, and those it inherits).  Superusers are always
 * direct: they bypass every check privstat relies on (set_access refuses
 * them).
 */
AccessLevel
level_of(Oid user)
{
	AccessLevel level = LEVEL_DIRECT;
	int			i;

	policy_ensure();
	if (!policy_cache.installed || policy_cache.nroles == 0)
		return LEVEL_DIRECT;
	if (policy_cache.level_valid && policy_cache.level_user == user)
		return policy_cache.level;
	if (!superuser_arg(user))
		for (i = 0; i < policy_cache.nroles; i++)
			if (policy_cache.roles[i].level > level && has_privs_of_role(user, policy_cache.roles[i].role))
				level = policy_cache.roles[i].level;
	policy_cache.level_user = user;
	policy_cache.level = level;
	policy_cache.level_valid = true;
	return level;
}

ProtectedRel *
protected_rel(Oid relid)
{
	int			i;

	policy_ensure();
	if (!policy_cache.installed)
		return NULL;
	for (i = 0; i < policy_cache.nrels; i++)
		if (policy_cache.rels[i].relid == relid)
			return &policy_cache.rels[i];
	/* a partition of a protected table is protected too */
	if (policy_cache.nrels > 0 && get_rel_relispartition(relid))
	{
		ListCell   *lc;

		foreach(lc, get_partition_ancestors(relid))
		{
			for (i = 0; i < policy_cache.nrels; i++)
				if (policy_cache.rels[i].relid == lfirst_oid(lc))
					return &policy_cache.rels[i];
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
bool
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

const char *
level_name(AccessLevel level)
{
	return level == LEVEL_NONE ? "none" : level == LEVEL_AGGREGATE ? "aggregate" : "direct";
}


/* after a GRANT or set_access: warn of aggregate roles that can read protected rows */
void
warn_restricted_readers(void)
{
	int			r;
	int			t;

	for (t = 0; t < policy_cache.nrels; t++)
		for (r = 0; r < policy_cache.nroles; r++)
		{
			Oid			relid = policy_cache.rels[t].relid;
			Oid			role = policy_cache.roles[r].role;
			char	   *relname;
			char	   *rolename;

			if (policy_cache.roles[r].level != LEVEL_AGGREGATE || !holds_select(relid, role))
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
	privstat_require_own_table(trigdata, "privstat._policy_changed()");
	CacheInvalidateRelcacheAll();
	privstat_audit_config_change(trigdata);
	return PointerGetDatum(TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ? trigdata->tg_trigtuple : NULL);
}

PG_FUNCTION_INFO_V1(privstat_warn_restricted_readers);

/* privstat._warn_restricted_readers(), for set_access */
Datum
privstat_warn_restricted_readers(PG_FUNCTION_ARGS pg_attribute_unused())
{
	policy_ensure();
	if (policy_cache.installed)
		warn_restricted_readers();
	PG_RETURN_VOID();
}
