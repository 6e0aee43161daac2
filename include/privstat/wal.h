/*-------------------------------------------------------------------------
 *
 * wal.h
 *	  privstat's WAL records: one resource manager (registered by
 *	  privstat_budget_init, src/budget.c) for the budget journal's records
 *	  and the audit trail's other events.
 *
 * RM_EXPERIMENTAL_ID: PostgreSQL's ID for extensions that have not
 * registered one on the PostgreSQL wiki (doc/budgets.md, "The journal in
 * the WAL").
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRIVSTAT_WAL_H
#define PRIVSTAT_WAL_H

#include "access/rmgr.h"

#define PRIVSTAT_RMGR_ID		RM_EXPERIMENTAL_ID

/* a budget journal record, and for a charge its audit query text (budget.c) */
#define XLOG_PRIVSTAT_JOURNAL	0x00
/* an audit event that is not a budget journal record, and its text (audit.c) */
#define XLOG_PRIVSTAT_AUDIT		0x10

#endif							/* PRIVSTAT_WAL_H */
