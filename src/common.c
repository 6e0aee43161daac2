/*-------------------------------------------------------------------------
 *
 * common.c
 *	  Helpers every privstat module uses: the preload check, role and table
 *	  checks, background worker registration, SQL as the superuser, and
 *	  per-executor state.
 *
 * The bottom layer: it includes no other privstat header but its own, so
 * any module may call it and it calls none.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "catalog/namespace.h"
#include "catalog/pg_aggregate.h"
#include "catalog/pg_authid.h"
#include "commands/trigger.h"
#include "executor/execdesc.h"
#include "executor/spi.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/plannodes.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "replication/walreceiver.h"
#include "storage/lwlock.h"
#include "storage/spin.h"
#include "utils/acl.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "privstat/common.h"

/* set by _PG_init (privstat.c) when loaded through shared_preload_libraries */
bool		privstat_preloaded = false;

void
privstat_require_preload(void)
{
	if (!privstat_preloaded)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("privstat must be loaded via shared_preload_libraries"),
				 errhint("Add privstat to shared_preload_libraries in postgresql.conf and restart the server.")));
}

void
privstat_register_worker(const char *name, const char *function, int flags, int restart_time)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = flags;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = restart_time;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "privstat");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "%s", function);
	snprintf(worker.bgw_name, BGW_MAXLEN, "%s", name);
	snprintf(worker.bgw_type, BGW_MAXLEN, "%s", name);
	RegisterBackgroundWorker(&worker);
}

void
privstat_require_own_table(struct TriggerData *trigdata, const char *fn)
{
	Relation	rel = trigdata->tg_relation;
	Oid			nsp = get_namespace_oid("privstat", true);

	if (!OidIsValid(nsp) || RelationGetNamespace(rel) != nsp)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s must be fired by a table of privstat's, not by table %s",
						fn, RelationGetRelationName(rel)),
				 errhint("It is privstat's internal trigger function; privstat installs its triggers itself.")));
}

bool
privstat_has_role(const char *rolename)
{
	Oid			role;

	if (superuser())
		return true;
	role = get_role_oid(rolename, true);
	return OidIsValid(role) && has_privs_of_role(GetUserId(), role);
}

/*
 * Run SQL through SPI (the caller is connected) as the bootstrap superuser,
 * after the caller's own rights were checked.  An error restores the user
 * with the transaction's abort.
 */
void
privstat_exec_as_superuser(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls)
{
	Oid			save_userid;
	int			save_sec;
	int			ret;
	int			nest;

	/*
	 * With the caller's search_path, an operator or function the caller
	 * created in a schema of theirs would run as the superuser: only
	 * pg_catalog, then pg_temp (where no operator or function is looked up).
	 */
	nest = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	ret = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);
	SetUserIdAndSecContext(save_userid, save_sec);
	AtEOXact_GUC(true, nest);
	if (ret < 0)
		elog(ERROR, "privstat: SPI_execute failed: %s", SPI_result_code_string(ret));
}

PG_FUNCTION_INFO_V1(privstat_assert_preloaded);

/*
 * privstat._assert_preloaded(): the first statement of the install script, so
 * CREATE EXTENSION fails with a clear error in a server without the preload.
 */
Datum
privstat_assert_preloaded(PG_FUNCTION_ARGS)
{
	privstat_require_preload();
	PG_RETURN_VOID();
}

static void
query_state_unlink(void *arg)
{
	PrivstatQueryState *state = (PrivstatQueryState *) arg;
	PrivstatQueryState **p;

	for (p = state->list; *p != NULL; p = &(*p)->next)
		if (*p == state)
		{
			*p = state->next;
			break;
		}
}

void *
privstat_query_state_new(QueryDesc *qd, Size size, PrivstatQueryState **list)
{
	MemoryContext cxt = qd->estate->es_query_cxt;
	PrivstatQueryState *state = MemoryContextAllocZero(cxt, size);
	MemoryContextCallback *cb = MemoryContextAllocZero(cxt, sizeof(MemoryContextCallback));

	Assert(size >= sizeof(PrivstatQueryState));
	state->qd = qd;
	state->list = list;
	state->next = *list;
	*list = state;
	cb->func = query_state_unlink;
	cb->arg = state;
	MemoryContextRegisterResetCallback(cxt, cb);
	return state;
}

void *
privstat_query_state_find(QueryDesc *qd, PrivstatQueryState *list)
{
	for (; list != NULL; list = list->next)
		if (list->qd == qd)
			return list;
	return NULL;
}

/* the child plans of a plan node, besides lefttree and righttree */
List *
privstat_plan_children(Plan *plan)
{
	switch (nodeTag(plan))
	{
		case T_Append:
			return ((Append *) plan)->appendplans;
		case T_MergeAppend:
			return ((MergeAppend *) plan)->mergeplans;
		case T_BitmapAnd:
			return ((BitmapAnd *) plan)->bitmapplans;
		case T_BitmapOr:
			return ((BitmapOr *) plan)->bitmapplans;
		case T_SubqueryScan:
			return list_make1(((SubqueryScan *) plan)->subplan);
		case T_CustomScan:
			return ((CustomScan *) plan)->custom_plans;
		default:
			return NIL;
	}
}

/*
 * On a hot standby, where its primary is as this standby's WAL receiver
 * sees it: "host:port", or NULL (no WAL receiver connected: a standby fed
 * from an archive).  Never the connection string, which may hold a
 * password.
 */
char *
privstat_standby_primary(void)
{
	char		host[NI_MAXHOST];
	int			port;

	if (WalRcv == NULL)
		return NULL;
	SpinLockAcquire(&WalRcv->mutex);
	strlcpy(host, WalRcv->sender_host, sizeof(host));
	port = WalRcv->sender_port;
	SpinLockRelease(&WalRcv->mutex);
	if (host[0] == '\0')
		return NULL;
	return psprintf("%s:%d", host, port);
}

/*
 * In a PG_CATCH of the startup process's redo, where an error would stop
 * recovery: the error caught, written to the log after what, and cleared,
 * with every LWLock released.
 */
void
privstat_error_to_log(const char *what)
{
	ErrorData  *edata = CopyErrorData();

	FlushErrorState();
	LWLockReleaseAll();
	ereport(LOG, (errmsg("%s: %s", what, edata->message)));
	FreeErrorData(edata);
}

/* a copy of relid's pg_class row (its fixed part); an error if there is none */
void
privstat_class_form(Oid relid, FormData_pg_class *form)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	memcpy(form, GETSTRUCT(tup), sizeof(FormData_pg_class));
	ReleaseSysCache(tup);
}

/* a new Aggref of an aggregate (of privstat's: an error if it is missing) */
Aggref *
privstat_plain_aggref(Oid fnoid, List *args, Expr *filter)
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
