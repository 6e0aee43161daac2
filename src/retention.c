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
#include "catalog/pg_database.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
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
#include "utils/guc.h"

#include "privstat/privstat.h"
#include "privstat/retention.h"

int			privstat_purge_interval = 3600;
int			privstat_purge_batch_size = 10000;

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

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("privstat._retention_check() was not called by the trigger manager")));
	if (!TRIGGER_FIRED_BEFORE(trigdata->tg_event) || !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) || TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("privstat._retention_check() must be fired BEFORE INSERT OR UPDATE ... FOR EACH ROW")));
	if (trigdata->tg_trigger->tgnargs != 2)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("privstat._retention_check() needs the timestamp column and the keep interval as arguments")));

	cache = (RetentionTrigCache *) fcinfo->flinfo->fn_extra;
	if (cache == NULL || cache->tgoid != trigdata->tg_trigger->tgoid)
	{
		TupleDesc	desc = RelationGetDescr(trigdata->tg_relation);
		int			attnum = SPI_fnumber(desc, trigdata->tg_trigger->tgargs[0]);
		Interval   *keep;

		if (attnum <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("retention column \"%s\" of table \"%s\" does not exist",
							trigdata->tg_trigger->tgargs[0], RelationGetRelationName(trigdata->tg_relation)),
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
	value = heap_getattr(tuple, cache->attnum, RelationGetDescr(trigdata->tg_relation), &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("retention column \"%s\" of table \"%s\" must not be null",
						trigdata->tg_trigger->tgargs[0], RelationGetRelationName(trigdata->tg_relation)),
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
							trigdata->tg_trigger->tgargs[0], RelationGetRelationName(trigdata->tg_relation))));
	}
	cutoff = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_mi_interval,
													 TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()),
													 IntervalPGetDatum(&cache->keep)));
	if (ts < cutoff)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("row of table \"%s\" is already past its retention period",
						RelationGetRelationName(trigdata->tg_relation)),
				 errdetail("Rows are kept for %s after \"%s\"; this row's \"%s\" is older.",
						   trigdata->tg_trigger->tgargs[1], trigdata->tg_trigger->tgargs[0],
						   trigdata->tg_trigger->tgargs[0]),
				 errhint("Expired data must not be stored; drop the row or fix its timestamp.")));

	return PointerGetDatum(tuple);
}


/* ---------------------------------------------------------------------------
 * Background workers
 * ---------------------------------------------------------------------------
 */

void
privstat_retention_init(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 10;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "privstat");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "privstat_retention_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "privstat retention launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "privstat retention launcher");
	RegisterBackgroundWorker(&worker);
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
	if (WaitForBackgroundWorkerStartup(handle, &pid) != BGWH_STARTED)
		return;
	(void) WaitForBackgroundWorkerShutdown(handle);
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

/*
 * Run one statement in its own transaction; returns the first column of the
 * first row (an int8) and, if last is given, the second (a timestamptz).
 */
static int64
run_in_transaction(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls,
				   bool *isnull_out, Datum *last, bool *last_isnull)
{
	int64		result = 0;
	int			ret;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	SPI_connect();
	pgstat_report_activity(STATE_RUNNING, sql);
	ret = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);
	if (ret < 0)
		elog(ERROR, "privstat retention: SPI_execute failed: %s", SPI_result_code_string(ret));
	*isnull_out = true;
	if (SPI_processed > 0 && SPI_tuptable != NULL)
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, isnull_out);

		if (!*isnull_out)
			result = DatumGetInt64(d);
		if (last != NULL)
			*last = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, last_isnull);
	}
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	return result;
}

void
privstat_retention_worker_main(Datum arg)
{
	Oid			dboid = DatumGetObjectId(arg);
	bool		isnull;
	int64		run_id;
	List	   *rules = NIL;
	ListCell   *lc;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgstat_report_appname("privstat retention worker");

	/* nothing to do where privstat is not installed */
	(void) run_in_transaction("SELECT 1::int8 FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) 'privstat'",
							  0, NULL, NULL, NULL, &isnull, NULL, NULL);
	if (isnull)
		proc_exit(0);

	run_id = run_in_transaction("SELECT pg_catalog.nextval('privstat.purge_run_seq')",
								0, NULL, NULL, NULL, &isnull, NULL, NULL);

	/* the rules, read once; each purged in batches, a transaction each */
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	SPI_connect();
	if (SPI_execute("SELECT tbl::oid::int8 FROM privstat.retention_rule ORDER BY tbl", true, 0) == SPI_OK_SELECT)
	{
		uint64		i;
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		for (i = 0; i < SPI_processed; i++)
		{
			bool		n;

			rules = lappend_oid(rules, (Oid) DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
																		 SPI_tuptable->tupdesc, 1, &n)));
		}
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();

	foreach(lc, rules)
	{
		Oid			types[4] = {OIDOID, INT4OID, INT8OID, TIMESTAMPTZOID};
		Datum		values[4];
		char		nulls[4] = {' ', ' ', ' ', 'n'};

		values[0] = ObjectIdGetDatum(lfirst_oid(lc));
		values[1] = Int32GetDatum(privstat_purge_batch_size);
		values[2] = Int64GetDatum(run_id);
		values[3] = (Datum) 0;
		for (;;)
		{
			int64		n;
			Datum		last;
			bool		last_isnull = true;

			CHECK_FOR_INTERRUPTS();
			n = run_in_transaction("SELECT rows, last FROM privstat._purge_batch($1::oid::regclass, $2, $3, $4)",
								   4, types, values, nulls, &isnull, &last, &last_isnull);
			if (isnull || n == 0)
				break;
			/* the next batch resumes where this one ended */
			values[3] = last;
			nulls[3] = last_isnull ? 'n' : ' ';
		}
	}
	proc_exit(0);
}
