/*-------------------------------------------------------------------------
 *
 * session.c
 *	  Session settings that would make the server describe, to a restricted
 *	  role, its work over protected rows.
 *
 * With client_min_messages at LOG or below, the client receives what the
 * server logs: trace_sort's sort sizes (which follow the number of rows a
 * filter kept), debug_print_plan's row estimates, log_*_stats' resource
 * usage, and so on.  Each is an exact, noise-free answer about the rows.
 * Every such report is sent at LOG or DEBUG level, so one setting is the
 * gate for all of them, those PostgreSQL has today and those it adds later:
 *	- a restricted role's query over protected tables is refused while
 *	  client_min_messages is below NOTICE, when it is planned (where the plan
 *	  is printed) and when each execution starts;
 *	- from the start of such a plan to its end (a cursor's plan ends when
 *	  the cursor is closed: a sort reports when it is freed), nothing may
 *	  change client_min_messages: not SET or RESET ALL (from the client or a
 *	  function), not set_config(), not a function with a SET clause for it.
 * INFO messages reach the client whatever the setting; PostgreSQL sends
 * none about a query's rows.
 *
 * The open plans are kept per backend; the list is emptied when the
 * transaction ends, since a plan that failed is not ended one by one.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/syscache.h"

#include "session.h"

/* restricted plans over protected rows started and not yet ended (their QueryDescs) */
static List *open_plans = NIL;
static bool callback_registered = false;

static void
session_xact_callback(XactEvent event, void *arg pg_attribute_unused())
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
	{
		list_free(open_plans);
		open_plans = NIL;
	}
}

/*
 * An error unless the session's messages stay at NOTICE or above; table
 * names a protected table the query reads, for the message.
 */
void
privstat_session_check(const char *table)
{
	if (client_min_messages >= NOTICE)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("client_min_messages = %s is not allowed for a query over protected table %s",
					GetConfigOption("client_min_messages", false, false), table),
			 errdetail("At that level the server reports its work on the rows (sort sizes, row estimates, "
					   "resource usage) to the client: exact answers about protected rows. "
					   "Set client_min_messages to notice or above."),
			 errhint("SET client_min_messages = notice;")));
}

void
privstat_session_plan_started(void *plan)
{
	MemoryContext old;

	if (!callback_registered)
	{
		RegisterXactCallback(session_xact_callback, NULL);
		callback_registered = true;
	}
	old = MemoryContextSwitchTo(TopMemoryContext);
	open_plans = lappend(open_plans, plan);
	MemoryContextSwitchTo(old);
}

void
privstat_session_plan_ended(void *plan)
{
	open_plans = list_delete_ptr(open_plans, plan);
}

static void
refuse_change(const char *how)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("client_min_messages cannot be changed (%s) while a query over protected tables is open",
					how),
			 errdetail("Lowered while such a query runs, or before its cursor is closed, it would let the "
					   "server report its work on protected rows to the client. Change it before the query, "
					   "or after it ends."),
			 errhint("CLOSE the cursor first, or end the transaction.")));
}

/* SET, RESET, SET LOCAL of a setting: refused for client_min_messages */
void
privstat_session_check_set(const char *name, bool reset_all)
{
	if (open_plans == NIL)
		return;
	if (reset_all)
		refuse_change("RESET ALL");
	if (name != NULL && pg_strcasecmp(name, "client_min_messages") == 0)
		refuse_change("SET");
}

/*
 * A function about to run: set_config(), and a function whose SET clause
 * names client_min_messages, are refused while a plan is open.
 */
void
privstat_session_check_function(Oid funcid)
{
	HeapTuple	tup;
	Datum		config;
	bool		isnull;

	if (open_plans == NIL)
		return;
	if (funcid == F_SET_CONFIG)
		refuse_change("set_config()");
	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	if (!HeapTupleIsValid(tup))
		return;
	config = SysCacheGetAttr(PROCOID, tup, Anum_pg_proc_proconfig, &isnull);
	if (!isnull)
	{
		ArrayType  *array = DatumGetArrayTypeP(config);
		Datum	   *items;
		bool	   *nulls;
		int			n;
		int			i;

		deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT, &items, &nulls, &n);
		for (i = 0; i < n; i++)
		{
			char	   *item;

			if (nulls[i])
				continue;
			item = TextDatumGetCString(items[i]);
			if (pg_strncasecmp(item, "client_min_messages=", 20) == 0)
			{
				ReleaseSysCache(tup);
				refuse_change(psprintf("the SET clause of function %s", format_procedure(funcid)));
			}
		}
	}
	ReleaseSysCache(tup);
}
