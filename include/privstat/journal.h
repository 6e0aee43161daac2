/*-------------------------------------------------------------------------
 *
 * journal.h
 *	  The budget journal's storage (src/journal.c): the file of sealed,
 *	  chained records that the ledger of src/budget.c is a cache of.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRIVSTAT_JOURNAL_H
#define PRIVSTAT_JOURNAL_H

#include "access/xlogdefs.h"
#include "port/pg_crc32c.h"
#include "storage/lwlock.h"

#include "privstat/audit.h"

#define PRIVSTAT_JOURNAL_FILE	"privstat/budget.journal"

typedef enum JournalType
{
	JR_CHARGE = PRIVSTAT_BUDGET_CHARGE,	/* a query spent epsilon and delta */
	JR_SET = PRIVSTAT_BUDGET_SET,	/* set_budget: limits and period */
	JR_RESET = PRIVSTAT_BUDGET_RESET,	/* reset_budget: spends forgotten */
	JR_ADOPT = PRIVSTAT_BUDGET_ADOPT,	/* adopt_budget_journal: continue anyway */
	JR_LOST = PRIVSTAT_BUDGET_LOST	/* in place of a record lost from journal and trail */
} JournalType;

/* One journal record: 128 bytes, written and read as is. */
typedef struct JournalRecord
{
	uint32		magic;
	uint16		format;
	uint16		type;			/* JournalType */
	uint64		seq;			/* 0, 1, 2, ...: also its position */
	int64		ts;				/* TimestampTz */
	Oid			roleid;			/* whose budget */
	Oid			dbid;			/* database it happened in */
	double		epsilon;		/* charge, or limit (JR_SET) */
	double		delta;
	int64		period_us;		/* JR_SET: 0 = lifetime budget */
	Oid			actor;			/* the role that ran the query or the admin */
	uint32		timeline;		/* WAL timeline when written */
	uint8		reserved[28];
	pg_crc32c	crc;			/* of the bytes before it */
	uint8		mac[32];		/* HMAC(key, previous mac || bytes before crc) */
} JournalRecord;

/* what the ledger does with each record replayed or written at startup */
typedef bool (*JournalApply) (const JournalRecord *r);

/* shared memory: the caller holds AddinShmemInitLock; the journal's writers hold lock */
extern Size privstat_journal_shmem_size(void);
extern bool privstat_journal_shmem_init(LWLock *lock, LWLock *flush_lock);

/* the postmaster, at startup and after a crash restart */
extern void privstat_journal_replay(JournalApply apply);
extern bool privstat_journal_write_at_startup(JournalRecord *r, JournalApply apply);
extern bool privstat_journal_startup_done(void);

extern bool privstat_journal_failed(void);
extern void privstat_journal_fail(void);
extern uint64 privstat_journal_next_seq(void);
extern void privstat_journal_set_timeline(uint32 timeline);
extern uint64 privstat_journal_scan(uint64 from, void (*fn) (const JournalRecord *r));
extern uint64 privstat_journal_synced_mark(void);
extern bool privstat_journal_stopped_in_recovery(void);

/* backends */
extern void privstat_journal_open(void);
extern uint64 privstat_journal_append(JournalRecord *r, const char *text, int textlen,
									  XLogRecPtr *lsn);
extern void privstat_journal_flush(uint64 seq);
extern void privstat_journal_flush_start(void);
extern void privstat_journal_wal_flush_start(XLogRecPtr start, XLogRecPtr lsn);
extern bool privstat_journal_sync_written(void);
extern bool privstat_journal_lazy(void);
extern void privstat_journal_status(uint64 *written, uint64 *durable, uint64 *synced,
									 int *flusher_pid);

extern PGDLLEXPORT void privstat_journal_flusher_main(Datum arg);

#endif							/* PRIVSTAT_JOURNAL_H */
