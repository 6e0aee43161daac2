/*-------------------------------------------------------------------------
 *
 * policy.h
 *	  Access levels, the protected-table catalog, and the validation and
 *	  rewriting of the queries of restricted roles.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRIVSTAT_POLICY_H
#define PRIVSTAT_POLICY_H

/* from _PG_init: install the planner, permission-check and utility hooks */
extern void privstat_policy_init(void);

#include "utils/guc.h"

/* privstat.purpose's check hook: a role may declare only a purpose it holds */
extern bool privstat_purpose_check(char **newval, void **extra, GucSource source);

/* its assign hook: the consent qual checks the new purpose again */
extern void privstat_purpose_assign(const char *newval, void *extra);

/*
 * Turn on row security for a table if it is off, and note that privstat
 * did (the caller checked its rights).
 */
extern void privstat_policy_enable_rls(Oid relid);

/*
 * The table whose purge batch runs in this backend (set by retention.c), or
 * InvalidOid: its expired rows stay visible to the purge that deletes them.
 */
extern Oid	privstat_purging_relid;

#endif							/* PRIVSTAT_POLICY_H */
