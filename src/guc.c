/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  The privstat.* settings that no module's hooks depend on.
 *
 * A setting with check or assign hooks, or read by one module alone, is
 * defined by that module's init function: privstat.purpose (policy/hooks.c),
 * privstat.audit_* (audit.c), privstat.release_cache_* (release_cache.c).
 * This file includes no other privstat header but its own.
 *
 * Anything that affects privacy is PGC_POSTMASTER or PGC_SUSET.  No setting
 * ever holds a secret: members of pg_monitor can read superuser-only
 * settings, so the key lives in a file and only its path is a setting.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "utils/guc.h"

#include "privstat/guc.h"

char	   *privstat_key_file = NULL;
double		privstat_default_epsilon = 1.0;
int			privstat_max_groups_contributed = 0;
int			privstat_max_rows_contributed = 0;
bool		privstat_one_pass_bounding = true;
bool		privstat_consistent_answers = true;
double		privstat_selection_epsilon = 1.0;
double		privstat_selection_delta = 1e-6;
double		privstat_max_epsilon = 10.0;
double		privstat_min_query_epsilon = 0.01;
int			privstat_max_roles = 1000;
int			privstat_journal_sync_delay = 200;
int			privstat_purge_interval = 3600;
int			privstat_purge_batch_size = 10000;
char	   *privstat_purge_lock_timeout = NULL;
char	   *privstat_purpose = NULL;

void
privstat_guc_init(void)
{
	DefineCustomStringVariable("privstat.key_file",
							   gettext_noop("Path of privstat's master key file."),
							   gettext_noop("A relative path is taken from the data directory. "
											"The file is created with mode 0600 at first start if it does not exist."),
							   &privstat_key_file,
							   "privstat.key",
							   PGC_POSTMASTER,
							   GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);

	DefineCustomRealVariable("privstat.epsilon",
							 gettext_noop("Epsilon of a DP aggregate called without one."),
							 gettext_noop("Smaller means more noise and more privacy. It may not exceed privstat.max_epsilon. "
										  "Superuser-only: the budget charges a query's epsilon when it starts and the noise "
										  "uses it when a group is released, so nobody else may change it in between."),
							 &privstat_default_epsilon,
							 1.0, 1.0 / (1 << 20), 1000.0,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomRealVariable("privstat.max_epsilon",
							 gettext_noop("Largest epsilon one DP aggregate may use."),
							 NULL,
							 &privstat_max_epsilon,
							 10.0, 1.0 / (1 << 20), 1000.0,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomRealVariable("privstat.min_query_epsilon",
							 gettext_noop("Least epsilon a query with DP aggregates is charged."),
							 gettext_noop("A query that asks for less is charged this much: it bounds how many "
										  "queries, each a probe of the data, one unit of budget buys (doc/security.md). "
										  "0 charges each query what its aggregates use."),
							 &privstat_min_query_epsilon,
							 0.01, 0.0, 1000.0,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("privstat.max_roles",
							gettext_noop("Roles that can have a privacy budget (shared memory entries)."),
							NULL,
							&privstat_max_roles,
							1000, 16, 1000000,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("privstat.journal_sync_delay",
							gettext_noop("Time between two syncs of the budget journal by the journal flusher."),
							gettext_noop("A charge is durable by its WAL record meanwhile; checkpoints wait for the flusher's next sync."),
							&privstat_journal_sync_delay,
							200, 1, 60000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("privstat.purge_interval",
							gettext_noop("Seconds between two purges of expired rows by the background workers; 0 disables them."),
							NULL,
							&privstat_purge_interval,
							3600, 0, INT_MAX / 1000,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("privstat.purge_batch_size",
							gettext_noop("Rows the background workers purge per transaction."),
							NULL,
							&privstat_purge_batch_size,
							10000, 1, INT_MAX,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomStringVariable("privstat.purge_lock_timeout",
							   gettext_noop("Longest a purge batch waits for a lock before giving up until the next try."),
							   NULL,
							   &privstat_purge_lock_timeout,
							   "1s",
							   PGC_SUSET,
							   0,
							   NULL, NULL, NULL);

	/*
	 * User-level privacy (src/policy/bound.c).  Each value is written into the
	 * rewritten query as a constant, so the charge and the noise read the
	 * same one: anybody may set them.
	 */
	DefineCustomIntVariable("privstat.max_groups_contributed",
							gettext_noop("Lowers the number of groups one privacy unit may count in."),
							gettext_noop("0 keeps the value the administrator set for each table "
										 "(privstat.protect); a larger value than that is ignored."),
							&privstat_max_groups_contributed,
							0, 0, INT_MAX,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("privstat.max_rows_contributed",
							gettext_noop("Lowers the number of rows of one privacy unit that count in one group."),
							gettext_noop("0 keeps the value the administrator set for each table "
										 "(privstat.protect); a larger value than that is ignored."),
							&privstat_max_rows_contributed,
							0, 0, INT_MAX,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);

	/*
	 * Both ways of bounding give the same guarantee and the same kind of
	 * answer; the setting exists to compare them (test/, bench/), so only a
	 * superuser changes it.
	 */
	DefineCustomBoolVariable("privstat.one_pass_bounding",
							 gettext_noop("Bounds contributions of grouped count, sum and avg queries in one pass."),
							 gettext_noop("Off: as three levels of SQL (group by unit, rank, aggregate), as for every other aggregate."),
							 &privstat_one_pass_bounding,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	/*
	 * Post-processing of released values: no privacy cost, so anybody may
	 * choose between consistent and unbiased answers.
	 */
	DefineCustomBoolVariable("privstat.consistent_answers",
							 gettext_noop("Makes DP answers consistent with what is known of them: counts never negative, sums of the sign their bounds allow."),
							 gettext_noop("Off: the raw noisy values, unbiased but possibly impossible (a negative count)."),
							 &privstat_consistent_answers,
							 true,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomRealVariable("privstat.selection_epsilon",
							 gettext_noop("Epsilon a GROUP BY spends to choose which groups it releases."),
							 gettext_noop("It may not exceed privstat.max_epsilon."),
							 &privstat_selection_epsilon,
							 1.0, 1.0 / (1 << 20), 1000.0,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomRealVariable("privstat.selection_delta",
							 gettext_noop("Delta a GROUP BY spends to choose which groups it releases."),
							 gettext_noop("The probability that a group of a single privacy unit is released at all."),
							 &privstat_selection_delta,
							 1e-6, 1e-300, 0.5,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

}
