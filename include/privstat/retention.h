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

/* from _PG_init: register the launcher */
extern void privstat_retention_init(void);

#endif							/* PRIVSTAT_RETENTION_H */
