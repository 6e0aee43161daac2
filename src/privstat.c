/*-------------------------------------------------------------------------
 *
 * privstat.c
 *	  Entry point of the privstat extension.
 *
 * privstat must be loaded through shared_preload_libraries: the master key
 * is read (or created) by the postmaster before any backend starts, and the
 * budget ledger lives in shared memory, replayed from its journal at start.  _PG_init only records
 * that it ran from the preload list and calls each module's init function;
 * the modules own their state.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "privstat/audit.h"
#include "privstat/budget.h"
#include "privstat/citus.h"
#include "privstat/common.h"
#include "privstat/guc.h"
#include "privstat/keys.h"
#include "privstat/policy.h"
#include "privstat/release_cache.h"
#include "privstat/retention.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	/*
	 * Loaded some other way (CREATE EXTENSION, LOAD, a function call): define
	 * nothing.  Every entry point then refuses with privstat_require_preload,
	 * and the install script does so before creating any object.
	 */
	if (!process_shared_preload_libraries_in_progress)
		return;

	privstat_guc_init();
	privstat_keys_init();
	privstat_budget_init();
	privstat_audit_init();	/* after the budget: its startup follows the journal's replay */
	privstat_citus_init();		/* its planner hook runs after the policy's, before Citus's */
	privstat_policy_init();
	privstat_retention_init();
	privstat_release_cache_init();	/* last: its executor hooks wrap the budget's */

	/*
	 * Only now that every module defined its settings: this removes the
	 * placeholders of privstat.* names still undefined, so a setting
	 * defined after it would lose its value from postgresql.conf.
	 */
	MarkGUCPrefixReserved("privstat");

	privstat_preloaded = true;
}
