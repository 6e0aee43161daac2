/*-------------------------------------------------------------------------
 *
 * retention.h
 *	  Retention rules: the row trigger that refuses expired rows, and the
 *	  background workers that purge on their own.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRIVSTAT_RETENTION_H
#define PRIVSTAT_RETENTION_H

/* privstat.purge_interval (seconds; 0 disables the workers) and batch size */
extern int	privstat_purge_interval;
extern int	privstat_purge_batch_size;

/* from _PG_init: register the launcher */
extern void privstat_retention_init(void);

/* the table whose purge batch runs in this backend, or InvalidOid */
extern Oid	privstat_purging_relid;

#endif							/* PRIVSTAT_RETENTION_H */
