/*-------------------------------------------------------------------------
 *
 * guc.h
 *	  privstat.* settings.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRIVSTAT_GUC_H
#define PRIVSTAT_GUC_H

/* privstat.key_file: path of the master key file (PGC_POSTMASTER) */
extern char *privstat_key_file;

/* privstat.epsilon: epsilon of a DP aggregate that is not given one */
extern double privstat_default_epsilon;

/* privstat.max_epsilon: the largest epsilon one DP aggregate may use (PGC_SUSET) */
extern double privstat_max_epsilon;

/* privstat.min_query_epsilon: the least epsilon a charging query is charged (PGC_SUSET) */
extern double privstat_min_query_epsilon;

/* privstat.max_roles: roles that can have a budget (PGC_POSTMASTER) */
extern int	privstat_max_roles;

/* privstat.journal_sync_delay: ms between the journal flusher's syncs (PGC_SIGHUP) */
extern int	privstat_journal_sync_delay;

/* privstat.purge_interval (seconds; 0 disables the workers) and batch size */
extern int	privstat_purge_interval;
extern int	privstat_purge_batch_size;

/* privstat.purge_lock_timeout: lock_timeout of each purge batch */
extern char *privstat_purge_lock_timeout;

/*
 * privstat.purpose: the purpose the session reads data for ('' for none);
 * defined by privstat_policy_init, whose hooks check and apply it
 */
extern char *privstat_purpose;

/* privstat.max_groups_contributed, privstat.max_rows_contributed: 0 = the table's */
extern int	privstat_max_groups_contributed;
extern int	privstat_max_rows_contributed;

/* privstat.one_pass_bounding: bound grouped count/sum/avg in one plan node (PGC_SUSET) */
extern bool privstat_one_pass_bounding;

/* privstat.consistent_answers: counts >= 0, sums of the sign their bounds allow */
extern bool privstat_consistent_answers;

/* privstat.selection_epsilon, privstat.selection_delta: group selection */
extern double privstat_selection_epsilon;
extern double privstat_selection_delta;

extern void privstat_guc_init(void);

#endif							/* PRIVSTAT_GUC_H */
