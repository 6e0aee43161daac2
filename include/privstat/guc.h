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

extern void privstat_guc_init(void);

#endif							/* PRIVSTAT_GUC_H */
