/*-------------------------------------------------------------------------
 *
 * citus.h
 *	  privstat on a Citus cluster (src/citus.c): DP queries over distributed
 *	  tables run on the coordinator, and workers never charge.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRIVSTAT_CITUS_H
#define PRIVSTAT_CITUS_H

extern void privstat_citus_init(void);

/* an ERROR on a Citus worker, where no budget is charged or changed: what is refused */
extern void privstat_citus_refuse_on_worker(const char *what);

#endif							/* PRIVSTAT_CITUS_H */
