/*-------------------------------------------------------------------------
 *
 * budget.h
 *	  Per-role privacy budgets: the journal of charges, the shared-memory
 *	  ledger, and the charge made at executor start.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRIVSTAT_BUDGET_H
#define PRIVSTAT_BUDGET_H

#include "port/atomics.h"
#include "storage/fd.h"
#include "storage/lwlock.h"
#include "utils/timestamp.h"

/* privstat.max_roles: budget entries in shared memory (PGC_POSTMASTER) */
extern int	privstat_max_roles;

/* from _PG_init: request shared memory and install the executor and EXPLAIN hooks */
extern void privstat_budget_init(void);

/*
 * Debit epsilon and delta from role's budget and write the charge to the
 * journal, starting its flush; an error, and no debit, if the budget cannot
 * cover it.  The charge is durable once privstat_budget_await returns.
 */
extern void privstat_budget_charge(Oid role, double epsilon, double delta);

/* wait until this backend's last charge is on disk (before any noisy value) */
extern void privstat_budget_await(void);

/* the journal flusher background worker */
extern PGDLLEXPORT void privstat_journal_flusher_main(Datum arg);

/* the budget journal's record types (never renumber: they are on disk) */
#define PRIVSTAT_BUDGET_CHARGE	1
#define PRIVSTAT_BUDGET_SET		2
#define PRIVSTAT_BUDGET_RESET	3
#define PRIVSTAT_BUDGET_ADOPT	4

/* one budget journal record, as the audit trail sees it */
typedef struct PrivstatBudgetEvent
{
	uint64		seq;			/* position in the budget journal */
	int			type;			/* PRIVSTAT_BUDGET_* */
	TimestampTz ts;
	Oid			role;			/* whose budget */
	Oid			actor;			/* who ran the query or made the change */
	Oid			dbid;
	double		epsilon;		/* charge, or limit */
	double		delta;
	int64		period_us;
} PrivstatBudgetEvent;

extern uint64 privstat_budget_journal_scan(uint64 from,
										   void (*fn) (const PrivstatBudgetEvent *ev));

/*
 * Chained record files (the budget journal and the audit trail): 128-byte
 * records whose body is followed by its CRC-32C and an HMAC-SHA-256 of the
 * previous record's HMAC and the body.  Implemented in budget.c.
 */
#define PRIVSTAT_RECORD_SIZE	128
#define PRIVSTAT_RECORD_BODY	92
#define PRIVSTAT_RECORD_MAC		(PRIVSTAT_RECORD_BODY + 4)

struct PrivstatKey;
extern void privstat_record_seal(void *rec, const uint8 *prev_mac, const struct PrivstatKey *key);
extern bool privstat_record_crc_ok(const void *rec);
extern bool privstat_record_mac_ok(const void *rec, const uint8 *prev_mac,
								   const struct PrivstatKey *key);
extern bool privstat_record_is_zero(const void *rec);
extern off_t privstat_record_tail(int fd, uint64 good, off_t size,
								  bool (*intact) (const void *rec), const char **problem);
extern void privstat_record_flush(LWLock *flush_lock, pg_atomic_uint64 *written,
								  pg_atomic_uint64 *flushed, uint64 seq,
								  int (*sync) (void), const char *path);
extern void privstat_record_flushed(pg_atomic_uint64 *flushed, uint64 target);
extern bool privstat_record_file_extend(File file, off_t at, int chunk);

#endif							/* PRIVSTAT_BUDGET_H */
