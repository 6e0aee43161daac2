/*-------------------------------------------------------------------------
 *
 * audit.h
 *	  The tamper-evident audit trail: hash-chained segments in
 *	  $PGDATA/privstat/audit, and the events other modules record in it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRIVSTAT_AUDIT_H
#define PRIVSTAT_AUDIT_H

#include "access/xlogdefs.h"
#include "commands/trigger.h"
#include "utils/timestamp.h"

/* privstat.audit_segment_size (MB): a segment this large is rotated */
extern int	privstat_audit_segment_size;

/* privstat.audit_keep_segments: segments kept after a rotation (0: all) */
extern int	privstat_audit_keep_segments;

/* privstat.audit_archive_directory: where old segments are copied before removal ('' for none) */
extern char *privstat_audit_archive_directory;

/* from _PG_init, after privstat_budget_init (the trail catches up with its journal) */
extern void privstat_audit_init(void);

/* an error unless events can be recorded (the trail replayed and is intact) */
extern void privstat_audit_check_writable(void);

/*
 * The query a charge or refusal is for, normalized (constants removed) into
 * a backend buffer that the next budget event takes.  Call before charging.
 */
extern void privstat_audit_set_query(const char *source, int location, int len);

/* that normalized text (*len 0: none), which the budget's WAL record carries */
extern const char *privstat_audit_query_text(int *len);

/* the budget journal's record types (never renumber: they are on disk) */
#define PRIVSTAT_BUDGET_CHARGE	1
#define PRIVSTAT_BUDGET_SET		2
#define PRIVSTAT_BUDGET_RESET	3
#define PRIVSTAT_BUDGET_ADOPT	4
#define PRIVSTAT_BUDGET_LOST	5	/* a record lost from journal and trail alike */

/* no budget journal reaches this many records (128 TiB): a seq beyond is forged */
#define PRIVSTAT_BUDGET_SEQ_LIMIT	(UINT64CONST(1) << 40)

/* one budget journal record, as the audit trail records it */
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

/*
 * The budget journal as the trail reaches it at startup (in the postmaster),
 * registered by privstat_budget_init so that this module does not depend on
 * the budget's:
 *	- scan passes every journal record from seq from on to fn, oldest first,
 *	  and returns the journal's next seq (PG_UINT64_MAX when the journal
 *	  failed to replay): the trail records what it lacks;
 *	- restore appends an event the trail holds and the journal lost (cut,
 *	  truncated or removed while the server was stopped), which must be the
 *	  journal's next record; NULL after the last one, to make them durable.
 *	  False if it could not;
 *	- lost records that journal seqs from..to-1 are in neither file: the
 *	  budget marks them lost in the journal and fails closed until a
 *	  superuser adopts the journal; from == to adds one more mark, after
 *	  the records restored past the gap.
 */
typedef struct PrivstatBudgetJournal
{
	uint64		(*scan) (uint64 from, void (*fn) (const PrivstatBudgetEvent *ev));
	bool		(*restore) (const PrivstatBudgetEvent *ev);
	void		(*lost) (uint64 from, uint64 to);
	uint64		(*synced) (void);	/* records known to have been synced, or 0 */
} PrivstatBudgetJournal;
extern void privstat_audit_set_budget_journal(const PrivstatBudgetJournal *journal);

/*
 * Before journaling a budget event (the caller holds the budget ledger
 * lock): take the trail's lock and make room for the event, so that a full
 * disk fails before the debit.  privstat_audit_budget_event(ev, true)
 * writes it and releases the lock.
 */
extern void privstat_audit_budget_reserve(bool charge);

/*
 * A budget journal record, written in journal order: the caller holds the
 * budget ledger lock, and (live) the trail's lock from
 * privstat_audit_budget_reserve.  Not flushed: the journal's flush is the
 * durable copy, and the trail catches up from it at startup.
 */
extern void privstat_audit_budget_event(const PrivstatBudgetEvent *ev, bool live);

/*
 * Redo of an audit event's WAL record at lsn (the startup process): written
 * into this server's trail unless it has it (events keep their WAL record's
 * LSN).  Never raises an error.
 */
extern void privstat_audit_redo(XLogRecPtr lsn, const char *data, Size len);

/* a refused charge (reason: "no budget", "exhausted"), before the error is raised */
extern void privstat_audit_refusal(Oid role, double epsilon, double delta, const char *reason);

/* an answer returned again from the release cache, without a charge */
extern void privstat_audit_cached_release(Oid role, double epsilon, double delta);

/* from the triggers of privstat's configuration tables: recorded at commit */
extern void privstat_audit_config_change(TriggerData *trigdata);

/* one value unsealed: counted, recorded per statement (survives ROLLBACK) */
extern void privstat_audit_count_unseal(void);

/* one value resealed under a newer key version: recorded at commit */
extern void privstat_audit_count_reseal(void);

/* one purge batch: recorded at commit */
extern void privstat_audit_purge(Oid relid, int64 rows, const char *action);

/* the normalized text of a query (constants become ?), at most maxlen bytes */
extern int	privstat_normalize_query(const char *query, int len, char *out, int maxlen);

#endif							/* PRIVSTAT_AUDIT_H */
