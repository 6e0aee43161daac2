/*-------------------------------------------------------------------------
 *
 * release_cache.h
 *	  The release cache: a DP answer already released to a role is returned
 *	  to that role again, without a new charge, while nothing it read has
 *	  changed.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRIVSTAT_RELEASE_CACHE_H
#define PRIVSTAT_RELEASE_CACHE_H

#include "executor/execdesc.h"

/* privstat.release_cache_size (kB, PGC_POSTMASTER): 0 turns the cache off */
extern int	privstat_release_cache_size;

/* privstat.release_cache_ttl (s): the oldest release reused; 0 none, -1 any */
extern int	privstat_release_cache_ttl;

/* from _PG_init, after the budget's hooks: shared memory and hooks */
extern void privstat_release_cache_init(void);

/*
 * At executor start of a DP query, after PostgreSQL's checks and before the
 * charge: true if the answer is served from the cache (ExecutorRun replays
 * it; the caller charges nothing).  On false the caller charges, and the
 * answer is kept when the query completes, if it may be.
 */
extern bool privstat_release_cache_lookup(QueryDesc *queryDesc, int eflags,
										  double epsilon, double delta);

#endif							/* PRIVSTAT_RELEASE_CACHE_H */
