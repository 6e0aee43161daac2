/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  All privstat.* settings.
 *
 * Anything that affects privacy is PGC_POSTMASTER or PGC_SUSET.  No setting
 * ever holds a secret: members of pg_monitor can read superuser-only
 * settings, so the key lives in a file and only its path is a setting.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/guc.h"

#include "privstat/budget.h"
#include "privstat/guc.h"

char	   *privstat_key_file = NULL;
double		privstat_default_epsilon = 1.0;
double		privstat_max_epsilon = 10.0;

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
							 gettext_noop("Smaller means more noise and more privacy. It may not exceed privstat.max_epsilon."),
							 &privstat_default_epsilon,
							 1.0, 1.0 / (1 << 20), 1000.0,
							 PGC_USERSET,
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

	DefineCustomIntVariable("privstat.max_roles",
							gettext_noop("Roles that can have a privacy budget (shared memory entries)."),
							NULL,
							&privstat_max_roles,
							1000, 16, 1000000,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("privstat");
}
