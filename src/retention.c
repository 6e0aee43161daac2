/*-------------------------------------------------------------------------
 *
 * retention.c
 *	  Retention rules enforced without anyone remembering to.
 *
 * The rules live in privstat.retention_rule (one per table: timestamp
 * column, how long to keep, delete or anonymize).  Two mechanisms act on
 * them:
 *
 *	- a C row trigger, installed by privstat.set_retention, that refuses an
 *	  INSERT (or an UPDATE of the timestamp) whose timestamp is NULL or
 *	  already older than the keep interval;
 *	- background workers that purge.  A launcher, registered when privstat
 *	  is preloaded, wakes every privstat.purge_interval seconds and starts,
 *	  one after the other, a worker for each database that accepts
 *	  connections; a worker in a database with privstat installed purges
 *	  every rule in batches of privstat.purge_batch_size rows, each batch in
 *	  its own short transaction (privstat._purge_batch, shared with the
 *	  CALL privstat.purge_expired procedure), with a lock timeout so the
 *	  application is never blocked for long.  A worker that fails logs the
 *	  error and exits; the launcher tries again at the next interval.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/catalog.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_database.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "utils/acl.h"
#include "utils/guc.h"
#include "utils/syscache.h"

#include "privstat/audit.h"
#include "privstat/citus.h"
#include "privstat/common.h"
#include "privstat/guc.h"
#include "privstat/policy.h"
#include "privstat/retention.h"


PGDLLEXPORT void privstat_retention_launcher_main(Datum arg);
PGDLLEXPORT void privstat_retention_worker_main(Datum arg);


/* ---------------------------------------------------------------------------
 * The trigger
 * ---------------------------------------------------------------------------
 */

/* per trigger call site: the column and the interval, parsed once */
typedef struct RetentionTrigCache
{
	Oid			tgoid;
	AttrNumber	attnum;
	Oid			atttype;
	Interval	keep;
} RetentionTrigCache;

/*
 * Is tgname privstat_retention_<n> on a relation named <table>_<n>: the
 * trigger Citus made on a shard (<n> the shard id) from set_retention's?
 */
static bool
shard_trigger(const char *tgname, const char *relname)
{
	const char *suffix = tgname + strlen("privstat_retention");
	size_t		len = strlen(suffix);
	size_t		rlen = strlen(relname);

	if (strncmp(tgname, "privstat_retention_", strlen("privstat_retention_")) != 0 || len < 2 ||
		strspn(suffix + 1, "0123456789") != len - 1 || rlen <= len)
		return false;
	return strcmp(relname + rlen - len, suffix) == 0;
}

/* the table a message names: on a Citus shard, its distributed table (the name without _<shard id>) */
static char *
trigger_table_name(TriggerData *trigdata)
{
	char	   *name = pstrdup(RelationGetRelationName(trigdata->tg_relation));

	if (shard_trigger(trigdata->tg_trigger->tgname, name))
		name[strlen(name) - strlen(trigdata->tg_trigger->tgname + strlen("privstat_retention"))] = '\0';
	return name;
}

PG_FUNCTION_INFO_V1(privstat_retention_check);

/*
 * privstat._retention_check(): BEFORE INSERT OR UPDATE OF <column> FOR EACH
 * ROW; arguments: the timestamp column and the keep interval.  Refuses a
 * row whose timestamp is NULL or older than now() - keep.  The error names
 * the rule, never the row's values.
 */
Datum
privstat_retention_check(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	RetentionTrigCache *cache;
	HeapTuple	tuple;
	Datum		value;
	bool		isnull;
	TimestampTz ts;
	TimestampTz cutoff;
	const char *colname;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("privstat._retention_check() was not called by the trigger manager")));
	if (!TRIGGER_FIRED_BEFORE(trigdata->tg_event) || !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) || TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("privstat._retention_check() must be fired BEFORE INSERT OR UPDATE ... FOR EACH ROW")));
	cache = (RetentionTrigCache *) fcinfo->flinfo->fn_extra;
	if (cache == NULL || cache->tgoid != trigdata->tg_trigger->tgoid)
	{
		TupleDesc	desc = RelationGetDescr(trigdata->tg_relation);
		int			attnum;
		Interval   *keep;

		/*
		 * The trigger set_retention installs, and no other (on a Citus
		 * shard, with the shard's suffix): checked once per trigger, as
		 * what follows.
		 */
		if (strcmp(trigdata->tg_trigger->tgname, "privstat_retention") != 0 &&
			!shard_trigger(trigdata->tg_trigger->tgname, RelationGetRelationName(trigdata->tg_relation)))
			ereport(ERROR,
					(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
					 errmsg("privstat._retention_check() must be fired by the trigger privstat_retention, not by %s",
							trigdata->tg_trigger->tgname),
					 errhint("privstat.set_retention() installs it.")));
		if (trigdata->tg_trigger->tgnargs != 2 || trigdata->tg_trigger->tgnattr != 1)
			ereport(ERROR,
					(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
					 errmsg("privstat._retention_check() needs UPDATE OF the timestamp column, and the column and the keep interval as arguments")));

		/* the UPDATE OF column: an attribute number, so it follows renames */
		attnum = trigdata->tg_trigger->tgattr[0];

		if (attnum <= 0 || attnum > desc->natts || TupleDescAttr(desc, attnum - 1)->attisdropped)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("retention column of table \"%s\" does not exist",
							trigger_table_name(trigdata)),
					 errhint("Set the rule again with privstat.set_retention().")));
		keep = DatumGetIntervalP(DirectFunctionCall3(interval_in,
													 CStringGetDatum(trigdata->tg_trigger->tgargs[1]),
													 ObjectIdGetDatum(InvalidOid),
													 Int32GetDatum(-1)));
		cache = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(RetentionTrigCache));
		cache->tgoid = trigdata->tg_trigger->tgoid;
		cache->attnum = attnum;
		cache->atttype = TupleDescAttr(desc, attnum - 1)->atttypid;
		cache->keep = *keep;
		fcinfo->flinfo->fn_extra = cache;
	}

	tuple = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ? trigdata->tg_newtuple : trigdata->tg_trigtuple;
	/* the column's current name (tgargs[0] is its name when the rule was set) */
	colname = NameStr(TupleDescAttr(RelationGetDescr(trigdata->tg_relation), cache->attnum - 1)->attname);
	value = heap_getattr(tuple, cache->attnum, RelationGetDescr(trigdata->tg_relation), &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("retention column \"%s\" of table \"%s\" must not be null",
						colname, trigger_table_name(trigdata)),
				 errdetail("A retention rule keeps rows for %s after this column's time.",
						   trigdata->tg_trigger->tgargs[1])));

	switch (cache->atttype)
	{
		case TIMESTAMPTZOID:
			ts = DatumGetTimestampTz(value);
			break;
		case TIMESTAMPOID:
			ts = DatumGetTimestampTz(DirectFunctionCall1(timestamp_timestamptz, value));
			break;
		case DATEOID:
			ts = DatumGetTimestampTz(DirectFunctionCall1(date_timestamptz, value));
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("retention column \"%s\" of table \"%s\" is not a date or timestamp",
							colname, trigger_table_name(trigdata))));
	}
	cutoff = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_mi_interval,
													 TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()),
													 IntervalPGetDatum(&cache->keep)));
	if (ts < cutoff)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("row of table \"%s\" is already past its retention period",
						trigger_table_name(trigdata)),
				 errdetail("Rows are kept for %s after \"%s\"; this row's \"%s\" is older.",
						   trigdata->tg_trigger->tgargs[1], colname, colname),
				 errhint("Expired data must not be stored; drop the row or fix its timestamp.")));

	return PointerGetDatum(tuple);
}


/* ---------------------------------------------------------------------------
 * Writing rules: only who may put triggers on the table
 * ---------------------------------------------------------------------------
 */

/*
 * The caller must hold the TRIGGER privilege on the table (its owner and
 * superusers do), and the table must not be a system catalog or one of
 * privstat's own.
 */
static void
check_rule_target(Oid relid)
{
	Oid			nsp = get_rel_namespace(relid);
	char	   *nspname;

	if (!OidIsValid(nsp))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	nspname = get_namespace_name(nsp);
	if (IsCatalogNamespace(nsp) || IsToastNamespace(nsp) ||
		strcmp(nspname, "information_schema") == 0 || strcmp(nspname, "privstat") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("retention rules cannot be set on system tables or privstat's own")));
	if (pg_class_aclcheck(relid, GetUserId(), ACL_TRIGGER) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to set or drop a retention rule on table \"%s\"",
						get_rel_name(relid)),
				 errdetail("A retention rule needs the TRIGGER privilege on its table."),
				 errhint("The table's owner can GRANT TRIGGER ON the table TO this role.")));
}

/*
 * Run sql, a CREATE or DROP of the table's retention trigger, as the
 * superuser (caller is connected to SPI).  On a Citus table, Citus makes or
 * drops the trigger on every shard too (privstat_retention_<shard id>
 * there) only when told the trigger is safe: this one reads nothing but
 * its row.
 */
static void
trigger_ddl(Oid relid, const char *sql)
{
	int			nest = NewGUCNestLevel();

	if (privstat_citus_table(relid))
		(void) set_config_option("citus.enable_unsafe_triggers", "on", PGC_SUSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	privstat_exec_as_superuser(sql, 0, NULL, NULL, NULL);
	AtEOXact_GUC(true, nest);
}

/* drop privstat's retention trigger of the table, if it has one; caller is connected to SPI */
static void
drop_rule_trigger(Oid relid)
{
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	char	   *qualname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
													  get_rel_name(relid));

	privstat_exec_as_superuser("SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid OPERATOR(pg_catalog.=) $1 "
					  "AND tgname OPERATOR(pg_catalog.=) 'privstat_retention' "
					  "AND tgfoid OPERATOR(pg_catalog.=) 'privstat._retention_check()'::pg_catalog.regprocedure",
					  1, types, values, NULL);
	if (SPI_processed > 0)
		trigger_ddl(relid, psprintf("DROP TRIGGER privstat_retention ON %s", qualname));
}

PG_FUNCTION_INFO_V1(privstat_retention_apply);

/*
 * privstat._retention_apply(tbl, ts_column, keep, action, anonymize_columns):
 * store the rule and (re)create its trigger.  set_retention has checked
 * the arguments; the checks that guard rights are repeated here, since
 * administrators may call this directly.
 */
Datum
privstat_retention_apply(PG_FUNCTION_ARGS)
{
	Oid			relid;
	Name		column;
	Interval   *keep;
	text	   *action;
	Interval	zero;
	char	   *keep_text;
	char	   *qualname;
	int			nest;
	Oid			types[5] = {OIDOID, NAMEOID, INTERVALOID, TEXTOID, NAMEARRAYOID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table, timestamp column, keep interval and action must not be null")));
	relid = PG_GETARG_OID(0);
	column = PG_GETARG_NAME(1);
	keep = PG_GETARG_INTERVAL_P(2);
	action = PG_GETARG_TEXT_PP(3);
	check_rule_target(relid);

	memset(&zero, 0, sizeof(zero));
	if (!DatumGetBool(DirectFunctionCall2(interval_gt, IntervalPGetDatum(keep), IntervalPGetDatum(&zero))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("keep interval must be positive")));
	/* now() - keep must stay a timestamp, or every INSERT and purge would fail */
	if (DatumGetBool(DirectFunctionCall2(interval_gt, IntervalPGetDatum(keep),
										 DirectFunctionCall3(interval_in, CStringGetDatum("1000 years"),
															 ObjectIdGetDatum(InvalidOid),
															 Int32GetDatum(-1)))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("keep interval must be at most 1000 years"),
				 errdetail("The trigger and the purge compare each row with now() - keep, which must remain a timestamp."),
				 errhint("Drop the rule to keep rows forever: privstat.drop_retention(table).")));
	if (strcmp(text_to_cstring(action), "delete") != 0 &&
		(strcmp(text_to_cstring(action), "anonymize") != 0 || PG_ARGISNULL(4)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("retention action must be 'delete', or 'anonymize' with the columns to clear")));

	/* the trigger argument in one interval style, whatever the session's */
	nest = NewGUCNestLevel();
	(void) set_config_option("intervalstyle", "postgres", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	keep_text = DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(keep)));
	AtEOXact_GUC(true, nest);

	qualname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
										  get_rel_name(relid));
	values[0] = ObjectIdGetDatum(relid);
	values[1] = NameGetDatum(column);
	values[2] = IntervalPGetDatum(keep);
	values[3] = PointerGetDatum(action);
	if (PG_ARGISNULL(4))
		nulls[4] = 'n';
	else
		values[4] = PG_GETARG_DATUM(4);

	SPI_connect();
	/* Citus refuses to change a row's distribution column: its purge would fail at every run */
	if (!PG_ARGISNULL(4) && privstat_citus_table(relid))
	{
		Oid			argtypes[2] = {OIDOID, NAMEARRAYOID};
		Datum		args[2] = {ObjectIdGetDatum(relid), PG_GETARG_DATUM(4)};

		privstat_exec_as_superuser("SELECT pg_catalog.column_to_column_name(p.logicalrelid, p.partkey) "
								   "FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) $1 "
								   "AND p.partkey IS NOT NULL AND pg_catalog.column_to_column_name(p.logicalrelid, p.partkey) "
								   "OPERATOR(pg_catalog.=) ANY ($2::pg_catalog.text[])",
								   2, argtypes, args, NULL);
		if (SPI_processed > 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("an anonymizing retention rule cannot clear the distribution column of Citus table \"%s\"",
							get_rel_name(relid)),
					 errhint("Clear other columns, or delete the expired rows: action 'delete'.")));
	}
	privstat_exec_as_superuser("INSERT INTO privstat.retention_rule AS r (tbl, ts_column, keep, action, anonymize_columns) "
					  "VALUES ($1, $2, $3, $4, $5) "
					  "ON CONFLICT ON CONSTRAINT retention_rule_pkey DO UPDATE "
					  "SET ts_column = EXCLUDED.ts_column, keep = EXCLUDED.keep, action = EXCLUDED.action, "
					  "anonymize_columns = EXCLUDED.anonymize_columns, created_at = pg_catalog.now()",
					  5, types, values, nulls);
	drop_rule_trigger(relid);
	trigger_ddl(relid, psprintf("CREATE TRIGGER privstat_retention BEFORE INSERT OR UPDATE OF %s ON %s "
								"FOR EACH ROW EXECUTE FUNCTION privstat._retention_check(%s, %s)",
								quote_identifier(NameStr(*column)), qualname,
								quote_literal_cstr(NameStr(*column)), quote_literal_cstr(keep_text)));
	SPI_finish();
	/* expired rows are hidden at once, by privstat's row security hooks */
	privstat_policy_enable_rls(relid);
	PG_RETURN_VOID();
}

/*
 * The purge of a Citus table: one statement of all its expired rows, which
 * Citus runs on every shard at once.  _purge_batch_rows's batches go by
 * ctid, which is unique only within one shard.  The rows it purged.
 */
static int64
purge_citus(FunctionCallInfo fcinfo)
{
	Oid			relid = PG_GETARG_OID(0);
	const char *column;
	char	   *action;
	char	   *qualname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
													  get_rel_name(relid));
	Oid			types[1] = {TIMESTAMPTZOID};
	Datum		values[1];
	StringInfoData sql;
	Oid			save_userid;
	int			save_sec_context;
	FormData_pg_class form;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the timestamp column, the cutoff and the action of a purge must not be null")));
	column = quote_identifier(NameStr(*PG_GETARG_NAME(1)));
	action = text_to_cstring(PG_GETARG_TEXT_PP(3));
	(void) set_config_option("lock_timeout", GetConfigOption("privstat.purge_lock_timeout", false, false),
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_LOCAL, true, 0, false);
	initStringInfo(&sql);
	if (strcmp(action, "delete") == 0)
		appendStringInfo(&sql, "DELETE FROM %s WHERE %s OPERATOR(pg_catalog.<) $1", qualname, column);
	else if (strcmp(action, "anonymize") == 0 && !PG_ARGISNULL(4))
	{
		Datum	   *names;
		bool	   *nameisnull;
		int			n;
		StringInfoData any;

		deconstruct_array(PG_GETARG_ARRAYTYPE_P(4), NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR,
						  &names, &nameisnull, &n);
		initStringInfo(&any);
		appendStringInfo(&sql, "UPDATE %s SET ", qualname);
		for (int i = 0; i < n; i++)
		{
			const char *c;

			if (nameisnull[i])
				continue;
			c = quote_identifier(NameStr(*DatumGetName(names[i])));
			appendStringInfo(&sql, "%s%s = NULL", any.len > 0 ? ", " : "", c);
			appendStringInfo(&any, "%s%s IS NOT NULL", any.len > 0 ? " OR " : "", c);
		}
		if (any.len == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("retention action must be 'delete', or 'anonymize' with the columns to clear")));
		appendStringInfo(&sql, " WHERE %s OPERATOR(pg_catalog.<) $1 AND (%s)", column, any.data);
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("retention action must be 'delete', or 'anonymize' with the columns to clear")));
	values[0] = PG_GETARG_DATUM(2);

	/*
	 * As the table's owner (the caller is it or an administrator), in a
	 * security-restricted operation: the workers' shards, which have none of
	 * privstat's rules, show other roles no row to delete.
	 */
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	privstat_class_form(relid, &form);
	SetUserIdAndSecContext(form.relowner, save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	PG_TRY();
	{
		int			ret = SPI_execute_with_args(sql.data, 1, types, values, NULL, false, 0);

		if (ret != SPI_OK_DELETE && ret != SPI_OK_UPDATE)
			elog(ERROR, "privstat: the purge of %s failed", qualname);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec_context);
	}
	PG_END_TRY();
	return (int64) SPI_processed;
}

PG_FUNCTION_INFO_V1(privstat_purge_batch);

/*
 * privstat._purge_batch(...): one batch of a purge (privstat._purge_batch_rows
 * does the work, with the caller's rights).  While it runs, and only then,
 * the table's expired rows are visible in this backend: the expiry rule of
 * the row security hooks makes an exception for the purge itself.
 */
Datum
privstat_purge_batch(PG_FUNCTION_ARGS)
{
	Oid			types[7] = {OIDOID, NAMEOID, TIMESTAMPTZOID, TEXTOID, NAMEARRAYOID, INT4OID, TIMESTAMPTZOID};
	Datum		values[7];
	char		nulls[7];
	TupleDesc	tupdesc;
	HeapTupleHeader volatile result = NULL;
	Oid			save = privstat_purging_relid;
	int			i;
	bool		citus;
	volatile int64 citus_rows = 0;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "privstat._purge_batch must return a record");
	for (i = 0; i < 7; i++)
	{
		nulls[i] = PG_ARGISNULL(i) ? 'n' : ' ';
		values[i] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
	}
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table must not be null")));
	/* it shows the table's expired rows to the batch: owners and administrators only */
	if (!pg_class_ownercheck(PG_GETARG_OID(0), GetUserId()) && !privstat_has_role("privstat_admin"))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to purge table %s", get_rel_name(PG_GETARG_OID(0))),
				 errdetail("privstat._purge_batch is run by the retention workers as the table's owner, and by privstat.purge_expired."),
				 errhint("CALL privstat.purge_expired() as an administrator.")));

	citus = privstat_citus_table(PG_GETARG_OID(0));
	SPI_connect();
	PG_TRY();
	{
		privstat_purging_relid = PG_GETARG_OID(0);
		if (citus)
		{
			citus_rows = purge_citus(fcinfo);
			if (citus_rows > 0)
				privstat_audit_purge(PG_GETARG_OID(0), citus_rows, TextDatumGetCString(PG_GETARG_DATUM(3)));
		}
		else
		{
			bool		rows_null;
			bool		done_null;
			Datum		rows;
			Datum		done;

			if (SPI_execute_with_args("SELECT rows, last, done FROM privstat._purge_batch_rows($1::pg_catalog.regclass, "
									  "$2, $3, $4, $5, $6, $7)", 7, types, values, nulls, false, 1) != SPI_OK_SELECT ||
				SPI_processed != 1)
				elog(ERROR, "privstat._purge_batch_rows returned no row");
			result = SPI_returntuple(SPI_tuptable->vals[0], tupdesc);
			rows = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &rows_null);
			done = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &done_null);

			/* each batch commits on its own: recorded when it does */
			if (!rows_null && DatumGetInt64(rows) > 0)
				privstat_audit_purge(PG_GETARG_OID(0), DatumGetInt64(rows),
									 done_null ? "" : TextDatumGetCString(done));
		}
	}
	PG_FINALLY();
	{
		privstat_purging_relid = save;
	}
	PG_END_TRY();
	SPI_finish();
	if (citus)
	{
		/* the row _purge_batch_rows returns: rows, last (the cutoff), done (the action) */
		Datum		row[3] = {Int64GetDatum(citus_rows), PG_GETARG_DATUM(2), PG_GETARG_DATUM(3)};
		bool		rownulls[3] = {false, false, false};

		PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), row, rownulls)));
	}
	PG_RETURN_DATUM(PointerGetDatum(result));
}

PG_FUNCTION_INFO_V1(privstat_retention_remove);

/* privstat._retention_remove(tbl): drop the rule and its trigger; false if there was none */
Datum
privstat_retention_remove(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	bool		found;

	check_rule_target(relid);
	SPI_connect();
	privstat_exec_as_superuser("DELETE FROM privstat.retention_rule WHERE tbl OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
					  1, types, values, NULL);
	found = SPI_processed > 0;
	drop_rule_trigger(relid);
	SPI_finish();
	PG_RETURN_BOOL(found);
}


/* ---------------------------------------------------------------------------
 * Background workers
 * ---------------------------------------------------------------------------
 */

void
privstat_retention_init(void)
{
	privstat_register_worker("privstat retention launcher", "privstat_retention_launcher_main",
							 BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION, 10);
}

/* the databases a worker should visit: all that accept connections */
static List *
database_oids(void)
{
	List	   *oids = NIL;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	MemoryContext caller = CurrentMemoryContext;

	StartTransactionCommand();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		if (db->datallowconn && !db->datistemplate)
		{
			MemoryContext old = MemoryContextSwitchTo(caller);

			oids = lappend_oid(oids, db->oid);
			MemoryContextSwitchTo(old);
		}
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	return oids;
}

/* start the worker for one database and wait for it to finish */
static void
run_database_worker(Oid dboid)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	pid_t		pid;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "privstat");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "privstat_retention_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "privstat retention worker");
	snprintf(worker.bgw_type, BGW_MAXLEN, "privstat retention worker");
	worker.bgw_main_arg = ObjectIdGetDatum(dboid);
	worker.bgw_notify_pid = MyProcPid;

	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		ereport(LOG,
				(errmsg("privstat retention: could not start a worker; will try at the next interval"),
				 errhint("Raise max_worker_processes.")));
		return;
	}
	if (WaitForBackgroundWorkerStartup(handle, &pid) == BGWH_STARTED)
		(void) WaitForBackgroundWorkerShutdown(handle);
	pfree(handle);
}

void
privstat_retention_launcher_main(Datum arg pg_attribute_unused())
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("privstat retention launcher");

	for (;;)
	{
		long		timeout_ms;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (privstat_purge_interval > 0)
		{
			ListCell   *lc;
			List	   *dbs = database_oids();

			foreach(lc, dbs)
			{
				CHECK_FOR_INTERRUPTS();
				run_database_worker(lfirst_oid(lc));
			}
			list_free(dbs);
			timeout_ms = privstat_purge_interval * 1000L;
		}
		else
			timeout_ms = 60 * 1000L;	/* disabled: look at the setting again later */

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* a worker's own transaction, with a snapshot and SPI, as the superuser */
static void
spi_transaction_begin(void)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	SPI_connect();
}

static void
spi_transaction_end(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
}

/* run one statement as the superuser in its own transaction; first column as int8 */
static int64
run_in_transaction(const char *sql, bool *isnull_out)
{
	int64		result = 0;

	spi_transaction_begin();
	if (SPI_execute(sql, false, 0) < 0)
		elog(ERROR, "privstat retention: could not run \"%s\"", sql);
	*isnull_out = true;
	if (SPI_processed > 0 && SPI_tuptable != NULL)
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, isnull_out);

		if (!*isnull_out)
			result = DatumGetInt64(d);
	}
	spi_transaction_end();
	return result;
}

typedef struct PurgeTarget
{
	Oid			relid;
	Oid			owner;
	TimestampTz cutoff;			/* fixed for the whole run */
} PurgeTarget;

/*
 * One batch of one table, in its own transaction: the rule is read as the
 * superuser, the batch runs as the table's owner (a restricted operation,
 * like VACUUM's), and the log row is written as the superuser again.
 * Returns the rows affected; *after is where the next batch resumes.
 */
static int64
purge_one_batch(int64 run_id, const PurgeTarget *t, Datum *after, bool *after_isnull)
{
	Oid			ruletypes[1] = {OIDOID};
	Datum		rulevalues[1];
	Oid			types[7] = {OIDOID, NAMEOID, TIMESTAMPTZOID, TEXTOID, NAMEARRAYOID, INT4OID, TIMESTAMPTZOID};
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	Oid			save_userid;
	int			save_sec;
	int			nest;
	int			ret;
	bool		isnull;
	int64		rows = 0;
	Datum		done = (Datum) 0;

	spi_transaction_begin();
	pgstat_report_activity(STATE_RUNNING, "privstat retention purge");

	rulevalues[0] = ObjectIdGetDatum(t->relid);
	ret = SPI_execute_with_args("SELECT ts_column, action, anonymize_columns FROM privstat.retention_rule "
								"WHERE tbl OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
								1, ruletypes, rulevalues, NULL, true, 1);
	if (ret == SPI_OK_SELECT && SPI_processed == 1)
	{
		HeapTuple	rule = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;

		values[0] = ObjectIdGetDatum(t->relid);
		values[1] = SPI_getbinval(rule, desc, 1, &isnull);
		values[2] = TimestampTzGetDatum(t->cutoff);
		values[3] = SPI_getbinval(rule, desc, 2, &isnull);
		values[4] = SPI_getbinval(rule, desc, 3, &isnull);
		if (isnull)
			nulls[4] = 'n';
		values[5] = Int32GetDatum(privstat_purge_batch_size);
		values[6] = *after;
		if (*after_isnull)
			nulls[6] = 'n';

		GetUserIdAndSecContext(&save_userid, &save_sec);
		SetUserIdAndSecContext(t->owner, save_sec | SECURITY_LOCAL_USERID_CHANGE |
							   SECURITY_RESTRICTED_OPERATION);
		nest = NewGUCNestLevel();
		ret = SPI_execute_with_args("SELECT rows, last, done FROM privstat._purge_batch($1::pg_catalog.regclass, "
									"$2, $3, $4, $5, $6, $7)",
									7, types, values, nulls, false, 1);
		AtEOXact_GUC(true, nest);
		SetUserIdAndSecContext(save_userid, save_sec);
		if (ret != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "privstat retention: purge batch failed");
		rows = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		/* timestamptz is by value: safe to keep past SPI_finish */
		*after = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, after_isnull);
		done = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);
		if (rows > 0)
		{
			Oid			logtypes[5] = {INT8OID, OIDOID, TIMESTAMPTZOID, TEXTOID, INT8OID};
			Datum		logvalues[5];

			logvalues[0] = Int64GetDatum(run_id);
			logvalues[1] = ObjectIdGetDatum(t->relid);
			logvalues[2] = TimestampTzGetDatum(t->cutoff);
			logvalues[3] = done;
			logvalues[4] = Int64GetDatum(rows);
			if (SPI_execute_with_args("INSERT INTO privstat.purge_log (run, tbl, cutoff, action, rows) "
									  "VALUES ($1, $2::pg_catalog.regclass, $3, $4, $5)",
									  5, logtypes, logvalues, NULL, false, 0) != SPI_OK_INSERT)
				elog(ERROR, "privstat retention: could not log a purge");
		}
	}
	spi_transaction_end();
	pgstat_report_activity(STATE_IDLE, NULL);
	return rows;
}

/* all batches of one table; an error is logged and the worker goes on with the next table */
static void
purge_target(int64 run_id, const PurgeTarget *t)
{
	MemoryContext oldcontext = CurrentMemoryContext;

	PG_TRY();
	{
		Datum		after = (Datum) 0;
		bool		after_isnull = true;

		for (;;)
		{
			CHECK_FOR_INTERRUPTS();
			if (purge_one_batch(run_id, t, &after, &after_isnull) == 0)
				break;
		}
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcontext);
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
		pgstat_report_activity(STATE_IDLE, NULL);
	}
	PG_END_TRY();
}

void
privstat_retention_worker_main(Datum arg)
{
	Oid			dboid = DatumGetObjectId(arg);
	bool		isnull;
	int64		run_id;
	List	   *targets = NIL;
	ListCell   *lc;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgstat_report_appname("privstat retention worker");

	/* nothing to do where privstat is not installed */
	(void) run_in_transaction("SELECT 1::int8 FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) 'privstat'",
							  &isnull);
	if (isnull)
		proc_exit(0);
	run_id = run_in_transaction("SELECT pg_catalog.nextval('privstat.purge_run_seq')", &isnull);

	/* the tables, their owners and their cutoffs, fixed for this run */
	spi_transaction_begin();
	if (SPI_execute("SELECT r.tbl::pg_catalog.oid, c.relowner, pg_catalog.now() OPERATOR(pg_catalog.-) r.keep "
					"FROM privstat.retention_rule r JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) r.tbl "
					"ORDER BY 1", true, 0) == SPI_OK_SELECT)
	{
		uint64		i;

		/*
		 * The list, like its elements, must outlive this transaction: SPI's
		 * memory is freed by spi_transaction_end.
		 */
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		for (i = 0; i < SPI_processed; i++)
		{
			PurgeTarget *t = palloc(sizeof(PurgeTarget));
			bool		n;

			t->relid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &n));
			t->owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &n));
			t->cutoff = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3, &n));
			targets = lappend(targets, t);
		}
		MemoryContextSwitchTo(old);
	}
	spi_transaction_end();

	foreach(lc, targets)
		purge_target(run_id, lfirst(lc));
	proc_exit(0);
}
