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
#include "access/xact.h"
#include "access/xlog.h"
#include "access/xloginsert.h"

#define PRIVSTAT_RMGR_ID		RM_EXPERIMENTAL_ID

/* a budget journal record, and for a charge its audit query text (budget.c) */
#define XLOG_PRIVSTAT_JOURNAL	0x00
/* an audit event that is not a budget journal record, and its text (audit.c) */
#define XLOG_PRIVSTAT_AUDIT		0x10

/*
 * Insert a record of privstat's (rec, then text if textlen > 0); returns
 * where it ends (ProcLastRecPtr is where it starts).  Not the transaction's WAL: counted as such, its end would
 * have every read-only DP query wake the WAL writer for a flush of its own,
 * competing with the journal's (12-19% of the throughput).  The journal and
 * the trail make privstat's records durable on this server; the WAL writer
 * sends them on within wal_writer_delay, and a wait for synchronous
 * replication flushes them itself.
 */
static inline XLogRecPtr
privstat_wal_insert(uint8 info, const void *rec, int reclen, const char *text, int textlen)
{
	XLogRecPtr	last_end = XactLastRecEnd;
	XLogRecPtr	end;

	XLogBeginInsert();
	XLogRegisterData((char *) rec, reclen);
	if (textlen > 0)
		XLogRegisterData((char *) text, textlen);
	end = XLogInsert(PRIVSTAT_RMGR_ID, info);
	XactLastRecEnd = last_end;
	return end;
}

#endif							/* PRIVSTAT_WAL_H */
