/*-------------------------------------------------------------------------
 *
 * budget.c
 *	  Per-role privacy budgets that nothing can refund.
 *
 * A budget belongs to a role for the whole cluster (role OIDs are
 * cluster-wide, and so is this ledger): spending in one database spends
 * the same budget in every other.
 *
 * The journal (src/journal.c) is the durable store: every charge, budget
 * change and reset is a sealed, chained record appended to
 * $PGDATA/privstat/budget.journal.  Ordinary tables cannot hold spends,
 * because they roll back; the journal does not.
 *
 * The WAL.  Each record is also a WAL record of privstat's resource manager,
 * inserted under the ledger lock, so the WAL has them in journal order.
 * Redo (standbys, crash and point-in-time recovery; below) appends those the
 * journal lacks to the journal, the ledger and the audit trail: standbys are
 * current and a promoted one charges on at once.  With synchronous
 * replication a charge's answer waits for the standbys to confirm its WAL
 * record (await_sync_rep).
 *
 * The ledger.  At startup (and after a crash restart) the journal is
 * replayed into a shared hash table, one entry per role; the ledger is a
 * cache of the journal.  A journal that cannot be read, or is corrupt,
 * makes privstat refuse to charge (fails closed).
 *
 * Charging.  At executor start, after PostgreSQL's own permission checks
 * and before any row exists, the cost of the plan's DP aggregates
 * (privstat_plan_cost) is checked against the role's budget and debited
 * under one exclusive hold of the ledger lock, the record is written, and
 * the lock is released; then the query runs while the record becomes
 * durable (by its WAL record, or synced in the journal: journal.c).  The
 * backend waits for that (privstat_budget_await)
 * before a DP aggregate draws noise, when ExecutorRun returns, before its
 * next charge, and (syncing by itself) before an error is reported.
 * Nothing that depends on a charge leaves the backend before it is durable,
 * and a backend has at most one record not yet durable.  A ROLLBACK, an
 * error later in the query, a cancel or a crash all come after the debit,
 * and nothing gives a charge back.
 *
 * Locking protocol:
 *	- lock (exclusive) covers the ledger hash and the journal's writes
 *	  (journal.c's protocol), so both change together; (shared) for readers
 *	  of the ledger.
 *	- lost and from_backup: written under lock, or by the postmaster and
 *	  the startup process before any backend charges.
 *
 * Rolling windows.  A budget with a period counts the spends of the last
 * period.  Spends are kept in WINDOW_SLOTS + 1 slots of period/WINDOW_SLOTS;
 * a slot stops counting only once all of it is older than the period, so a
 * spend may count up to one slot longer than the period, never shorter.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/parallel.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "access/xlogreader.h"
#include "catalog/pg_authid.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "optimizer/planner.h"
#include "pgstat.h"
#include "replication/syncrep.h"
#include "replication/walsender.h"
#include "replication/walsender_private.h"
#include "port/atomics.h"
#include "port/pg_crc32c.h"
#include "postmaster/bgworker.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "tcop/pquery.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/hsearch.h"
#include "utils/portal.h"
#include "utils/timestamp.h"

#include "privstat/audit.h"
#include "privstat/budget.h"
#include "privstat/citus.h"
#include "privstat/dp_agg.h"
#include "privstat/pricing.h"
#include "privstat/guc.h"
#include "privstat/common.h"
#include "privstat/journal.h"
#include "privstat/wal.h"
#include "privstat/release_cache.h"

#define WINDOW_SLOTS		64

/* amounts are kept as integers: nano-epsilon and femto-delta */
#define EPS_UNIT			1e9
#define DELTA_UNIT			1e15

/* One role's budget in the ledger. */
typedef struct BudgetEntry
{
	Oid			roleid;			/* hash key */
	bool		has_budget;
	bool		eps_unlimited;
	bool		delta_unlimited;
	int64		eps_limit;		/* in EPS_UNIT */
	int64		delta_limit;	/* in DELTA_UNIT */
	int64		period_us;		/* 0: lifetime */
	int64		eps_total;		/* since the last reset */
	int64		delta_total;
	int64		charges;		/* since the last reset */
	int64		slot[WINDOW_SLOTS + 1]; /* slot number held by each bucket */
	int64		slot_eps[WINDOW_SLOTS + 1];
	int64		slot_delta[WINDOW_SLOTS + 1];
} BudgetEntry;

typedef struct BudgetShared
{
	LWLock	   *lock;			/* the ledger's, and the journal's writes' */
	bool		lost;			/* a JR_LOST not yet adopted: refuse to charge */
	bool		from_backup;	/* started from a base backup, not as a standby */
} BudgetShared;

static BudgetShared *shared = NULL;
static HTAB *ledger = NULL;

/* this backend's last charge, written and maybe not yet durable */
/* present from a first start from a base backup until its recovery ends */
#define FROM_BACKUP_FILE	"privstat/from_backup"

static bool await_pending = false;
static uint64 await_seq = 0;
static XLogRecPtr await_lsn = InvalidXLogRecPtr;	/* its WAL record */
static bool await_wal = false;	/* written lazily: durable by its WAL record */

/*
 * The WAL record of a journal record: the record (128 bytes, sealed) and,
 * for a charge, the normalized query text its audit event carries.  A
 * standby's redo writes both into its own journal and trail, so it is
 * current, and a promoted standby charges on at once.  (RM_EXPERIMENTAL_ID:
 * see doc/budgets.md, "The journal in the WAL".)
 */

static void privstat_rmgr_redo(XLogReaderState *record);
static void privstat_rmgr_desc(StringInfo buf, XLogReaderState *record);
static const char *privstat_rmgr_identify(uint8 info);
static void privstat_rmgr_cleanup(void);

static RmgrData privstat_rmgr = {
	.rm_name = "privstat",
	.rm_redo = privstat_rmgr_redo,
	.rm_desc = privstat_rmgr_desc,
	.rm_identify = privstat_rmgr_identify,
	.rm_cleanup = privstat_rmgr_cleanup,
};

/*
 * The charged DP queries whose executor is open, and whether it has run.
 * A run of such a plan after a rewind would draw new noise under the same
 * charge: PostgreSQL rewinds and runs again a cursor WITH HOLD when its
 * transaction commits (PersistHoldablePortal, into a tuplestore).
 */
typedef struct ChargedRun
{
	PrivstatQueryState link;
	bool		ran;
	bool		done;			/* ran to its end */
} ChargedRun;
static PrivstatQueryState *charged_runs = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorRun_hook_type prev_ExecutorRun = NULL;
static ExplainOneQuery_hook_type prev_ExplainOneQuery = NULL;
static planner_hook_type prev_planner = NULL;

/*
 * EXPLAIN through another module's ExplainOneQuery hook (Citus's): the plan
 * it made, caught by the planner hook, for the privacy lines after it.
 */
static int	explain_depth = 0;
static PlannedStmt *explained_plan = NULL;
/* the explained statement has started running: later plans are of queries it runs */
static bool explain_running = false;
static emit_log_hook_type prev_emit_log_hook = NULL;

static void budget_shmem_request(void);
static void budget_shmem_startup(void);
static void budget_ExecutorStart(QueryDesc *queryDesc, int eflags);
static void budget_ExecutorRun(QueryDesc *queryDesc, ScanDirection direction,
							   uint64 count, bool execute_once);
static void budget_emit_log(ErrorData *edata);
static PlannedStmt *budget_planner(Query *parse, const char *query_string, int cursorOptions,
									ParamListInfo boundParams);
static void budget_ExplainOneQuery(Query *query, int cursorOptions,
								   IntoClause *into, ExplainState *es,
								   const char *queryString, ParamListInfo params,
								   QueryEnvironment *queryEnv);


/* ---------------------------------------------------------------------------
 * Amounts and windows
 * ---------------------------------------------------------------------------
 */

/* a spend in integer units, rounded up: charges never shrink */
static int64
units_up(double v, double unit)
{
	double		u = ceil(v * unit);

	/* NaN counts as everything, and nothing is negative (only a forged record has either) */
	if (isnan(u) || u >= (double) PG_INT64_MAX)
		return PG_INT64_MAX;
	return u > 0 ? (int64) u : 0;
}

/* a limit in integer units, rounded down: limits never grow */
static int64
units_down(double v, double unit)
{
	double		u = floor(v * unit);

	/* NaN and negative limits (only in a forged record) allow nothing */
	if (isnan(u) || u <= 0)
		return 0;
	return u >= (double) PG_INT64_MAX ? PG_INT64_MAX : (int64) u;
}

/* slot width rounded up, so a spend never stops counting before the period ends */
static int64
slot_width(const BudgetEntry *e)
{
	return Max((e->period_us + WINDOW_SLOTS - 1) / WINDOW_SLOTS, 1);
}

static int64
slot_of(const BudgetEntry *e, TimestampTz ts)
{
	int64		width = slot_width(e);

	return ts >= 0 ? ts / width : -((-ts + width - 1) / width);
}

/* the spends that count at time now: all of them, or the window's */
static void
spent(const BudgetEntry *e, TimestampTz now, int64 *eps, int64 *delta)
{
	int64		current;
	int			i;

	if (e->period_us == 0)
	{
		*eps = e->eps_total;
		*delta = e->delta_total;
		return;
	}
	current = slot_of(e, now);
	*eps = 0;
	*delta = 0;
	/* slots newer than now count too: the clock may have been set back */
	for (i = 0; i <= WINDOW_SLOTS; i++)
	{
		if (e->slot[i] >= current - WINDOW_SLOTS)
		{
			*eps += e->slot_eps[i];
			*delta += e->slot_delta[i];
		}
	}
}

/* when the oldest counted spend stops counting; 0 if none or lifetime */
static TimestampTz
next_free(const BudgetEntry *e, TimestampTz now)
{
	int64		current;
	int64		width;
	int64		oldest = PG_INT64_MAX;
	int			i;

	if (e->period_us == 0)
		return 0;
	current = slot_of(e, now);
	width = slot_width(e);
	for (i = 0; i <= WINDOW_SLOTS; i++)
	{
		if (e->slot[i] >= current - WINDOW_SLOTS &&
			(e->slot_eps[i] > 0 || e->slot_delta[i] > 0) && e->slot[i] < oldest)
			oldest = e->slot[i];
	}
	if (oldest == PG_INT64_MAX)
		return 0;
	return (oldest + WINDOW_SLOTS + 1) * width;
}

static void
add_spend(BudgetEntry *e, TimestampTz ts, int64 eps, int64 delta)
{
	e->eps_total = (e->eps_total > PG_INT64_MAX - eps) ? PG_INT64_MAX : e->eps_total + eps;
	e->delta_total = (e->delta_total > PG_INT64_MAX - delta) ? PG_INT64_MAX : e->delta_total + delta;
	e->charges++;
	if (e->period_us > 0)
	{
		int64		s = slot_of(e, ts);
		int			b = (int) (((s % (WINDOW_SLOTS + 1)) + (WINDOW_SLOTS + 1)) % (WINDOW_SLOTS + 1));

		/* never overwrite a newer slot (the clock went back): add to it */
		if (e->slot[b] < s)
		{
			e->slot[b] = s;
			e->slot_eps[b] = 0;
			e->slot_delta[b] = 0;
		}
		e->slot_eps[b] += eps;
		e->slot_delta[b] += delta;
	}
}

static void
clear_slots(BudgetEntry *e)
{
	int			i;

	for (i = 0; i <= WINDOW_SLOTS; i++)
	{
		e->slot[i] = PG_INT64_MIN;
		e->slot_eps[i] = 0;
		e->slot_delta[i] = 0;
	}
}

/*
 * Apply one record to the ledger; caller holds lock exclusively (or is the
 * postmaster).  False if the ledger has no room for a new role.
 */
static bool
apply_record(const JournalRecord *r)
{
	BudgetEntry *e;
	bool		found;

	/* records lost from journal and trail: no charge until a superuser adopts */
	if (r->type == JR_LOST || r->type == JR_ADOPT)
	{
		shared->lost = (r->type == JR_LOST);
		return true;
	}
	/* a shared hash grows past its size into memory others need: hold it to max_roles */
	if (hash_search(ledger, &r->roleid, HASH_FIND, NULL) == NULL &&
		hash_get_num_entries(ledger) >= privstat_max_roles)
		return false;
	e = hash_search(ledger, &r->roleid, HASH_ENTER_NULL, &found);
	if (e == NULL)
		return false;
	if (!found)
	{
		memset(((char *) e) + sizeof(Oid), 0, sizeof(BudgetEntry) - sizeof(Oid));
		clear_slots(e);
	}
	switch ((JournalType) r->type)
	{
		case JR_CHARGE:
			add_spend(e, r->ts, units_up(r->epsilon, EPS_UNIT), units_up(r->delta, DELTA_UNIT));
			break;
		case JR_SET:
			if (e->period_us != r->period_us)
			{
				/* keep every counted spend, now counted from this moment: never a refund */
				int64		eps;
				int64		delta;

				spent(e, r->ts, &eps, &delta);
				clear_slots(e);
				e->period_us = r->period_us;
				if (e->period_us > 0)
				{
					int64		total_eps = e->eps_total;
					int64		total_delta = e->delta_total;
					int64		charges = e->charges;

					add_spend(e, r->ts, eps, delta);
					e->eps_total = total_eps;
					e->delta_total = total_delta;
					e->charges = charges;
				}
			}
			e->has_budget = true;
			e->eps_unlimited = isinf(r->epsilon);
			e->delta_unlimited = isinf(r->delta);
			e->eps_limit = e->eps_unlimited ? PG_INT64_MAX : units_down(r->epsilon, EPS_UNIT);
			e->delta_limit = e->delta_unlimited ? PG_INT64_MAX : units_down(r->delta, DELTA_UNIT);
			break;
		case JR_RESET:
			e->eps_total = 0;
			e->delta_total = 0;
			e->charges = 0;
			clear_slots(e);
			break;
		case JR_ADOPT:
		case JR_LOST:
			break;
	}
	return true;
}


/* ---------------------------------------------------------------------------
 * Writing to the journal (src/journal.c)
 * ---------------------------------------------------------------------------
 */

/*
 * Append a record (and its WAL record: a charge's carries its audit query
 * text); caller holds shared->lock exclusively, which an error releases.
 */
static uint64
journal_append(JournalRecord *r)
{
	int			textlen = 0;
	const char *text = r->type == JR_CHARGE ? privstat_audit_query_text(&textlen) : NULL;

	return privstat_journal_append(r, text, textlen, &await_lsn);
}

/*
 * With synchronous replication: wait, as a commit would, until the
 * synchronous standbys confirm the WAL record of this backend's last
 * charge; if the wait ends without it (a cancel, a statement_timeout), no
 * answer leaves: an error.
 */
static void
await_sync_rep(XLogRecPtr lsn)
{
	int			mode;
	bool		confirmed;

	if (XLogRecPtrIsInvalid(lsn) || !SyncRepRequested() || SyncRepStandbyNames == NULL ||
		SyncRepStandbyNames[0] == '\0')
		return;
	XLogFlush(lsn);
	SyncRepWaitForLSN(lsn, false);
	mode = synchronous_commit == SYNCHRONOUS_COMMIT_REMOTE_WRITE ? SYNC_REP_WAIT_WRITE
		: SYNC_REP_WAIT_FLUSH;
	LWLockAcquire(SyncRepLock, LW_SHARED);
	confirmed = (WalSndCtl->sync_standbys_status & SYNC_STANDBY_DEFINED) == 0 ||
		lsn <= WalSndCtl->lsn[mode];
	LWLockRelease(SyncRepLock);
	if (!confirmed)
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("the answer is withheld: its privacy budget charge was not confirmed by the synchronous standby"),
				 errdetail("The charge stands (it is in this server's journal and WAL); the wait for the standby ended first.")));
}

/*
 * Wait until this backend's last charge is durable.  Called before a DP
 * aggregate draws its noise (so no noisy value exists before its charge is
 * on disk), when ExecutorRun returns (so nothing a statement says about
 * its result, even "no rows", precedes it), and before the next charge (so
 * a backend has at most one record not yet durable, which the journal's
 * torn-tail rule relies on).  A record written while the journal flusher
 * is lazy (journal.c) is durable once its WAL record is flushed: XLogFlush,
 * shared with concurrent commits and charges.  Otherwise the journal is
 * synced: if the flusher is busy with the record, this waits for its
 * flush; if not, the backend syncs it itself.
 */
void
privstat_budget_await(void)
{
	if (!await_pending)
		return;
	if (await_wal)
		XLogFlush(await_lsn);
	else
		privstat_journal_flush(await_seq);
	await_sync_rep(await_lsn);
	await_pending = false;
}

static void
record_event(const JournalRecord *r, PrivstatBudgetEvent *ev)
{
	ev->seq = r->seq;
	ev->type = r->type;
	ev->ts = r->ts;
	ev->role = r->roleid;
	ev->actor = r->actor;
	ev->dbid = r->dbid;
	ev->epsilon = r->epsilon;
	ev->delta = r->delta;
	ev->period_us = r->period_us;
}

/* the audit trail catches up with the journal at startup (audit.c) */
static void (*scan_fn) (const PrivstatBudgetEvent *ev);

static void
scan_record(const JournalRecord *r)
{
	PrivstatBudgetEvent ev;

	record_event(r, &ev);
	scan_fn(&ev);
}

static uint64
budget_journal_scan(uint64 from, void (*fn) (const PrivstatBudgetEvent *ev))
{
	scan_fn = fn;
	return privstat_journal_scan(from, scan_record);
}

/* ---------------------------------------------------------------------------
 * Records the journal lost: written back from the audit trail at startup
 * ---------------------------------------------------------------------------
 */

/* the audit trail's copy of a record the journal lost (audit.c) */
static bool
budget_journal_restore(const PrivstatBudgetEvent *ev)
{
	JournalRecord r;

	/* the end of the restore: make what it wrote durable */
	if (ev == NULL)
		return privstat_journal_startup_done();
	if (privstat_journal_failed() || ev->seq != privstat_journal_next_seq())
		return false;
	memset(&r, 0, sizeof(r));
	r.type = ev->type;
	r.ts = ev->ts;
	r.roleid = ev->role;
	r.actor = ev->actor;
	r.dbid = ev->dbid;
	r.epsilon = ev->epsilon;
	r.delta = ev->delta;
	r.period_us = ev->period_us;
	return privstat_journal_write_at_startup(&r, apply_record);
}

/*
 * Journal records from..to-1 are in neither the journal nor the trail:
 * write a JR_LOST record in place of each, so both files stay aligned, and
 * refuse to charge until a superuser adopts the journal (JR_ADOPT).  With
 * from == to, one JR_LOST after the records restored past the gap: replay
 * then ends refusing even if one of them was an older adoption.
 */
static void
budget_journal_lost(uint64 from, uint64 to)
{
	JournalRecord r;

	/* placeholders for more than a journal of 2 GB: restoring from a backup is the way */
	if (to - from > (1 << 24))
	{
		privstat_journal_fail();
		ereport(LOG,
				(errmsg("privstat budget journal records %llu to %llu are lost: privstat refuses to charge privacy budgets",
						(unsigned long long) from, (unsigned long long) (to - 1)),
				 errdetail("Too many to mark lost one by one."),
				 errhint("Restore privstat/budget.journal and privstat/audit from a backup and restart.")));
		return;
	}
	if (from == to)
		to = from + 1;
	else
		ereport(LOG,
				(errmsg("privstat budget journal records %llu to %llu are lost: privstat refuses to charge privacy budgets",
						(unsigned long long) from, (unsigned long long) (to - 1)),
				 errdetail("The journal lost them, and the audit trail no longer holds them (its older segments were removed or archived), so spends may be missing."),
				 errhint("Restore privstat/budget.journal and privstat/audit from a backup and restart; or a superuser runs privstat.adopt_budget_journal() and records the spends known to be missing with privstat.record_spend().")));
	for (uint64 n = from; n < to; n++)
	{
		memset(&r, 0, sizeof(r));
		r.type = JR_LOST;
		r.ts = GetCurrentTimestamp();
		if (!privstat_journal_write_at_startup(&r, apply_record))
			break;
	}
	(void) budget_journal_restore(NULL);
	shared->lost = true;
}

/*
 * A first start from a base backup (backup_label is there until recovery
 * renames it) that is not a standby's: once recovery ends, the journal is
 * as of the recovery's end, and the spends the source server made after it
 * are missing.  A JR_LOST record then says so for good (a later start has no
 * backup_label), so privstat refuses to charge until a superuser decides:
 * never a silent refund.  Postmaster, after the journal's replay.
 */
static void
check_base_backup(void)
{
	struct stat st;
	int			fd;

	if (privstat_journal_failed())
		return;
	/* a start before recovery from the backup ended: the mark it left */
	if (stat(FROM_BACKUP_FILE, &st) == 0)
	{
		shared->from_backup = true;
		return;
	}
	/* a standby: the WAL it replays keeps the journal up to date (redo below) */
	if (stat(BACKUP_LABEL_FILE, &st) != 0 || stat(STANDBY_SIGNAL_FILE, &st) == 0)
		return;
	/*
	 * Marked when recovery ends (privstat_rmgr_cleanup): the WAL first brings
	 * it forward.  PostgreSQL renames backup_label as recovery begins, so a
	 * restart before it ends would not know: a file says so until then.
	 */
	shared->from_backup = true;
	fd = OpenTransientFilePerm(FROM_BACKUP_FILE, O_RDWR | O_CREAT | PG_BINARY, S_IRUSR | S_IWUSR);
	if (fd < 0 || pg_fsync(fd) != 0 || CloseTransientFile(fd) != 0 ||
		fsync_fname_ext("privstat", true, false, LOG) != 0)
	{
		privstat_journal_fail();
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m: privstat refuses to charge privacy budgets", FROM_BACKUP_FILE),
				 errdetail("This server starts from a base backup; a restart before its recovery ends would not know it.")));
	}
}

/* ---------------------------------------------------------------------------
 * The journal in the WAL: redo on standbys and in recovery
 * ---------------------------------------------------------------------------
 */

/*
 * A journal record from the WAL (the startup process: a standby's replay,
 * crash recovery, point-in-time recovery).  One the journal has (its seq is
 * below the journal's end: written here before a crash, or copied with a
 * base backup) is skipped; the next one is appended, durably, to the
 * journal and the ledger, and its event to the audit trail, so a standby's
 * budget_status and audit_log are current and a promoted standby charges on
 * at once.  A record past the end means the journal lacks some: they are
 * marked lost.  Nothing here raises an error, which would stop recovery:
 * what cannot be written is logged and makes privstat fail closed.
 */
/*
 * Append a record in recovery (the startup process), durably, to the journal
 * and the ledger, and its event to the audit trail.
 */
static void
recovery_append(JournalRecord *r, const char *text, int textlen)
{
	PrivstatBudgetEvent ev;
	bool		ok;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	ok = privstat_journal_write_at_startup(r, apply_record);
	if (ok)
		ok = budget_journal_restore(NULL);
	LWLockRelease(shared->lock);
	if (!ok)
		return;

	record_event(r, &ev);
	PG_TRY();
	{
		/* the WAL's text has no terminating zero: never read it without a length */
		privstat_audit_set_query(textlen > 0 ? text : NULL, 0, textlen);
		privstat_audit_budget_reserve(r->type == JR_CHARGE);
		privstat_audit_budget_event(&ev, true);
	}
	PG_CATCH();
	{
		/* the journal has it: the trail catches up at the next start */
		privstat_error_to_log(psprintf("privstat could not record budget journal record " UINT64_FORMAT " in the audit trail during recovery",
									   r->seq));
	}
	PG_END_TRY();
}

static void
journal_redo(const JournalRecord *wal, const char *text, int textlen)
{
	JournalRecord r = *wal;

	if (shared == NULL || privstat_journal_failed())
		return;
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	if (r.seq < privstat_journal_next_seq())
	{
		LWLockRelease(shared->lock);
		return;
	}
	if (r.seq > privstat_journal_next_seq())
		budget_journal_lost(privstat_journal_next_seq(), r.seq);
	/* the primary's timeline, which the record's body (and so its HMAC) holds */
	privstat_journal_set_timeline(wal->timeline);
	LWLockRelease(shared->lock);
	recovery_append(&r, text, textlen);
}

/* was this recovery given a target (point-in-time recovery)? */
static bool
recovery_target_set(void)
{
	static const char *const names[] = {"recovery_target", "recovery_target_lsn",
	"recovery_target_name", "recovery_target_time", "recovery_target_xid"};

	for (int i = 0; i < (int) lengthof(names); i++)
	{
		const char *v = GetConfigOption(names[i], true, false);

		if (v != NULL && v[0] != '\0')
			return true;
	}
	return false;
}

/*
 * The end of redo.  A recovery that went back in time (to a recovery
 * target), or a server started from a base backup other than as a standby,
 * has a journal as of the end of recovery, without the spends recorded
 * after it: it says so and marks the journal, so privstat refuses to charge
 * until a superuser decides.  A standby promoted at the end of its WAL does
 * neither: its journal is as current as its data.
 */
static void
privstat_rmgr_cleanup(void)
{
	JournalRecord r;
	bool		target = recovery_target_set();

	if (shared == NULL || (!shared->from_backup && !target))
		return;
	shared->from_backup = false;
	ereport(LOG,
			(target ?
			 errmsg("privstat: recovery stopped at its target: privstat refuses to charge privacy budgets") :
			 errmsg("privstat: this server starts from a base backup: privstat refuses to charge privacy budgets"),
			 errdetail("Its budget journal is as of the end of recovery; spends recorded after that are not in it."),
			 errhint("Copy the newest privstat/budget.journal and privstat/audit of the source server here and restart; or a superuser runs privstat.adopt_budget_journal() and records the spends known to be missing with privstat.record_spend().")));
	memset(&r, 0, sizeof(r));
	r.type = JR_LOST;
	r.ts = GetCurrentTimestamp();
	recovery_append(&r, NULL, 0);
	/* the journal says it now: later starts refuse from its replay */
	if (unlink(FROM_BACKUP_FILE) != 0 && errno != ENOENT)
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("could not remove file \"%s\": %m", FROM_BACKUP_FILE)));
	else
		(void) fsync_fname_ext("privstat", true, false, LOG);
}

static void
privstat_rmgr_redo(XLogReaderState *record)
{
	uint8		info = XLogRecGetInfo(record) & ~XLR_INFO_MASK;
	char	   *data = XLogRecGetData(record);
	Size		len = XLogRecGetDataLen(record);
	JournalRecord r;

	if (info == XLOG_PRIVSTAT_AUDIT)
	{
		privstat_audit_redo(record->ReadRecPtr, data, len);
		return;
	}
	if (info != XLOG_PRIVSTAT_JOURNAL || len < sizeof(r) ||
		len > sizeof(r) + PG_UINT16_MAX)
	{
		ereport(LOG,
				(errmsg("privstat: a WAL record of an unknown kind (info %u, %zu bytes) was skipped", info, len)));
		return;
	}
	memcpy(&r, data, sizeof(r));
	journal_redo(&r, data + sizeof(r), (int) (len - sizeof(r)));
}

static void
privstat_rmgr_desc(StringInfo buf, XLogReaderState *record)
{
	JournalRecord r;

	if ((XLogRecGetInfo(record) & ~XLR_INFO_MASK) == XLOG_PRIVSTAT_AUDIT)
	{
		appendStringInfo(buf, "audit event, %u bytes", XLogRecGetDataLen(record));
		return;
	}
	if (XLogRecGetDataLen(record) < sizeof(r))
		return;
	memcpy(&r, XLogRecGetData(record), sizeof(r));
	appendStringInfo(buf, "budget journal record " UINT64_FORMAT ": type %u, role %u, epsilon %g, delta %g",
					 r.seq, r.type, r.roleid, r.epsilon, r.delta);
}

static const char *
privstat_rmgr_identify(uint8 info)
{
	switch (info & ~XLR_INFO_MASK)
	{
		case XLOG_PRIVSTAT_JOURNAL:
			return "JOURNAL";
		case XLOG_PRIVSTAT_AUDIT:
			return "AUDIT";
	}
	return NULL;
}

/*
 * Records the journal is known to have held, synced (budget.synced), for
 * the trail's comparison at startup: a journal removed or cut back together
 * with the trail still falls short of it.  A primary's journal never does
 * (after a crash, what is cut of it is past the mark).  Not on a server
 * whose journal the WAL is still bringing forward: a first start from a
 * base backup (backup_label: pg_rewind leaves one too), a later start before
 * that recovery ended (FROM_BACKUP_FILE), a standby or an archive recovery
 * (pg_control says so), whose copy of the mark may be newer than its copy
 * of the journal.
 */
static uint64
budget_journal_synced(void)
{
	struct stat st;

	if (stat(BACKUP_LABEL_FILE, &st) == 0 || stat(FROM_BACKUP_FILE, &st) == 0 ||
		privstat_journal_stopped_in_recovery())
		return 0;
	return privstat_journal_synced_mark();
}

static const PrivstatBudgetJournal budget_journal = {
	.scan = budget_journal_scan,
	.restore = budget_journal_restore,
	.lost = budget_journal_lost,
	.synced = budget_journal_synced,
};

static void
check_can_write(void)
{
	privstat_require_preload();
	if (shared == NULL)
		elog(ERROR, "privstat budget ledger is not initialized");
	if (RecoveryInProgress())
	{
		char	   *primary = privstat_standby_primary();

		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("privacy budgets cannot be charged or changed on a hot standby"),
				 errdetail("The budget journal lives on the primary; a standby cannot record spends."),
				 primary ?
				 errhint("Run DP queries and budget changes on the primary, %s (where this standby receives its WAL from).", primary) :
				 errhint("Run DP queries and budget changes on the primary.")));
	}
	if (privstat_journal_failed())
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("privstat refuses to charge privacy budgets: the budget journal is corrupt"),
				 errhint("The server log, at the last start, says what was found and what to do.")));
	privstat_audit_check_writable();
	privstat_journal_open();
}

static char *
role_name(Oid role)
{
	char	   *name = GetUserNameFromId(role, true);

	return name ? name : psprintf("%u", role);
}

/*
 * The audit record of a journal record, written (not flushed) under the
 * same hold of shared->lock, so the trail holds budget events in journal
 * order; after a crash, the trail catches up from the durable journal
 * (budget_journal_scan), so the journal's flush covers both.
 */
static void
audit_record(const JournalRecord *r)
{
	PrivstatBudgetEvent ev;

	record_event(r, &ev);
	privstat_audit_budget_event(&ev, true);
}

void
privstat_budget_charge(Oid role, double epsilon, double delta)
{
	JournalRecord r;
	BudgetEntry *e;
	int64		eps_u = units_up(epsilon, EPS_UNIT);
	int64		delta_u = units_up(delta, DELTA_UNIT);
	int64		eps_spent;
	int64		delta_spent;
	TimestampTz now;
	uint64		seq;

	check_can_write();
	privstat_budget_await();

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	if (shared->lost)
	{
		LWLockRelease(shared->lock);
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("privstat refuses to charge privacy budgets: spends may be missing from the budget journal"),
				 errdetail("Budget journal records were lost from the journal and the audit trail alike, or this server was started from a base backup; the server log of that start says which."),
				 errhint("Restore privstat/budget.journal and privstat/audit from a backup and restart; or a superuser runs privstat.adopt_budget_journal() and records the spends known to be missing with privstat.record_spend().")));
	}
	e = hash_search(ledger, &role, HASH_FIND, NULL);
	if (e == NULL || !e->has_budget)
	{
		LWLockRelease(shared->lock);
		privstat_audit_refusal(role, epsilon, delta, "no budget");
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" has no privacy budget", role_name(role)),
				 errdetail("Every role that runs DP aggregates needs a budget, even an unlimited one."),
				 errhint("An administrator can grant one with privstat.set_budget('%s', epsilon).",
						 role_name(role))));
	}
	now = GetCurrentTimestamp();
	spent(e, now, &eps_spent, &delta_spent);
	if ((!e->eps_unlimited && eps_u > e->eps_limit - eps_spent) ||
		(!e->delta_unlimited && delta_u > e->delta_limit - delta_spent))
	{
		double		eps_left = e->eps_unlimited ? INFINITY :
			Max(e->eps_limit - eps_spent, 0) / EPS_UNIT;
		double		delta_left = e->delta_unlimited ? INFINITY :
			Max(e->delta_limit - delta_spent, 0) / DELTA_UNIT;
		TimestampTz free_at = next_free(e, now);

		LWLockRelease(shared->lock);
		privstat_audit_refusal(role, epsilon, delta, "exhausted");
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("privacy budget of role \"%s\" is exhausted", role_name(role)),
				 errdetail("The query needs epsilon %g and delta %g; the role has epsilon %g and delta %g left.",
						   epsilon, delta, eps_left, delta_left),
				 free_at != 0 ?
				 errhint("Budget frees up from %s on, or an administrator can raise it with privstat.set_budget().",
						 timestamptz_to_str(free_at)) :
				 errhint("An administrator can raise it with privstat.set_budget().")));
	}

	memset(&r, 0, sizeof(r));
	r.type = JR_CHARGE;
	r.roleid = role;
	r.actor = GetUserId();
	r.epsilon = epsilon;
	r.delta = delta;
	/* room in the trail first: a full disk fails here, before the debit */
	privstat_audit_budget_reserve(true);
	seq = journal_append(&r);
	await_wal = privstat_journal_lazy();
	add_spend(e, r.ts, eps_u, delta_u);
	audit_record(&r);
	LWLockRelease(shared->lock);

	await_seq = seq;
	await_pending = true;
	if (await_wal)
		privstat_journal_wal_flush_start(ProcLastRecPtr, await_lsn);
	else
		privstat_journal_flush_start();
}

/*
 * Write a budget change (JR_SET, JR_RESET, JR_ADOPT, or JR_CHARGE for a spend an
 * administrator records) by the current user, apply it and flush it.
 * The checks against the ledger are made under the same lock hold as the
 * write, so a concurrent change cannot slip between them.
 */
static void
budget_change(JournalType type, Oid role, double epsilon, double delta, int64 period_us)
{
	JournalRecord rec;
	JournalRecord *r = &rec;
	uint64		seq;
	bool		known;

	memset(r, 0, sizeof(*r));
	r->type = type;
	r->roleid = role;
	r->actor = GetUserId();
	r->epsilon = epsilon;
	r->delta = delta;
	r->period_us = period_us;

	check_can_write();
	/* (a charge's query was refused on a worker in budget_ExecutorStart, before the release cache) */
	privstat_citus_refuse_on_worker("privacy budget charges and changes");
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	known = hash_search(ledger, &r->roleid, HASH_FIND, NULL) != NULL;
	if ((r->type == JR_SET || r->type == JR_CHARGE) && !known &&
		hash_get_num_entries(ledger) >= privstat_max_roles)
	{
		LWLockRelease(shared->lock);
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("privstat.max_roles (%d) roles already have privacy budgets", privstat_max_roles),
				 errhint("Raise privstat.max_roles and restart the server.")));
	}
	if (r->type == JR_RESET && !known)
	{
		LWLockRelease(shared->lock);
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role \"%s\" has no privacy budget to reset", role_name(r->roleid))));
	}
	privstat_audit_budget_reserve(r->type == JR_CHARGE);
	seq = journal_append(r);
	if (!apply_record(r))
		elog(PANIC, "privstat budget ledger is full after a capacity check");
	audit_record(r);
	LWLockRelease(shared->lock);
	privstat_journal_flush(seq);
}


/* ---------------------------------------------------------------------------
 * Shared memory and hooks
 * ---------------------------------------------------------------------------
 */

void
privstat_budget_init(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = budget_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = budget_shmem_startup;
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = budget_ExecutorStart;
	prev_ExecutorRun = ExecutorRun_hook;
	ExecutorRun_hook = budget_ExecutorRun;
	prev_ExplainOneQuery = ExplainOneQuery_hook;
	ExplainOneQuery_hook = budget_ExplainOneQuery;
	prev_planner = planner_hook;
	planner_hook = budget_planner;
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = budget_emit_log;
	privstat_audit_set_budget_journal(&budget_journal);
	privstat_await_charge_hook = privstat_budget_await;
	RegisterCustomRmgr(PRIVSTAT_RMGR_ID, &privstat_rmgr);
	privstat_register_worker("privstat journal flusher", "privstat_journal_flusher_main",
							 BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION, 1);
}

static Size
budget_shmem_size(void)
{
	return add_size(add_size(MAXALIGN(sizeof(BudgetShared)), privstat_journal_shmem_size()),
					hash_estimate_size(privstat_max_roles, sizeof(BudgetEntry)));
}

static void
budget_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(budget_shmem_size());
	RequestNamedLWLockTranche("privstat", 2);
}

static void
budget_shmem_startup(void)
{
	bool		found;
	HASHCTL		info;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("privstat budget", sizeof(BudgetShared), &found);
	if (!found)
	{
		LWLockPadded *locks = GetNamedLWLockTranche("privstat");

		memset(shared, 0, sizeof(BudgetShared));
		shared->lock = &locks[0].lock;
		(void) privstat_journal_shmem_init(&locks[0].lock, &locks[1].lock);
	}
	else
		(void) privstat_journal_shmem_init(NULL, NULL);
	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(Oid);
	info.entrysize = sizeof(BudgetEntry);
	ledger = ShmemInitHash("privstat budget ledger", privstat_max_roles, privstat_max_roles,
						   &info, HASH_ELEM | HASH_BLOBS);
	LWLockRelease(AddinShmemInitLock);

	/* the postmaster replays; backends of EXEC_BACKEND builds attach only */
	if (!found)
	{
		privstat_journal_replay(apply_record);
		check_base_backup();
	}
}

/*
 * Charge the plan's DP aggregates to the current role: after PostgreSQL's
 * own checks (standard_ExecutorStart) and before ExecutorRun produces any
 * row.  Plain EXPLAIN charges nothing; parallel workers run a fragment of a
 * plan the leader has already paid for.
 */
static void
budget_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	/*
	 * Under an EXPLAIN through another module's hook (Citus's), the plan
	 * kept for the privacy lines is the explained one: what is planned once
	 * it runs (EXPLAIN ANALYZE of a query that runs queries) is not, and is
	 * freed before the lines are printed.
	 */
	if (explain_depth > 0)
		explain_running = true;
	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);

	if (!(eflags & EXEC_FLAG_EXPLAIN_ONLY) && shared != NULL)
	{
		double		epsilon;
		double		delta;
		static bool worker_fragment_started = false;

		/*
		 * A parallel worker runs one fragment of a plan the leader has paid
		 * for: its first ExecutorStart.  Any query nested below it (a
		 * function called per row) would release answers in every worker,
		 * and a worker must not charge: such DP queries are refused.
		 */
		if (IsParallelWorker() && !worker_fragment_started)
			worker_fragment_started = true;
		else if (privstat_plan_cost(queryDesc->plannedstmt, &epsilon, &delta) > 0)
		{
			privstat_audit_set_query(queryDesc->sourceText,
									 queryDesc->plannedstmt->stmt_location,
									 queryDesc->plannedstmt->stmt_len);
			if (IsParallelWorker())
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("DP aggregates cannot run inside a parallel worker"),
						 errhint("Mark functions that run DP queries PARALLEL RESTRICTED or UNSAFE.")));
			privstat_citus_refuse_on_worker("DP queries");
			if (privstat_release_cache_lookup(queryDesc, eflags, epsilon, delta))
				privstat_audit_cached_release(GetUserId(), epsilon, delta);
			else
			{
				privstat_budget_charge(GetUserId(), epsilon, delta);
				(void) privstat_query_state_new(queryDesc, sizeof(ChargedRun), &charged_runs);
			}
		}
	}
}

/*
 * Rows a DP aggregate produced passed privstat_budget_await when it drew
 * its noise; what the statement says when it ends (a row count, "no rows"
 * from a grouped query with no groups) waits here.
 *
 * A charged plan that has run is never run again to keep a cursor WITH
 * HOLD at COMMIT (PersistHoldablePortal rewinds it and runs it from the start),
 * which would release its groups a second time with new noise (another
 * order, other groups selected) under one charge.  Read to its end, it
 * keeps nothing more to read, and the second run sends no row; read in
 * part, the COMMIT fails.
 */
/* a cursor WITH HOLD being kept at COMMIT (PersistHoldablePortal) */
static bool
persisting(QueryDesc *queryDesc)
{
	return ActivePortal != NULL && ActivePortal->queryDesc == queryDesc &&
		ActivePortal->holdStore != NULL;
}

static void
budget_ExecutorRun(QueryDesc *queryDesc, ScanDirection direction, uint64 count,
				   bool execute_once)
{
	ChargedRun *r = privstat_query_state_find(queryDesc, charged_runs);

	if (r != NULL)
	{
		if (r->ran && persisting(queryDesc))
		{
			if (!r->done)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("a cursor WITH HOLD over DP aggregates cannot be kept after it was read in part"),
						 errdetail("Keeping it would run its query again and release its answers a second time."),
						 errhint("Fetch all of it, or none of it, before COMMIT, or declare it without HOLD.")));
			queryDesc->estate->es_processed = 0;
			queryDesc->dest->rStartup(queryDesc->dest, queryDesc->operation, queryDesc->tupDesc);
			queryDesc->dest->rShutdown(queryDesc->dest);
			return;
		}
		r->ran = true;
	}
	if (prev_ExecutorRun)
		prev_ExecutorRun(queryDesc, direction, count, execute_once);
	else
		standard_ExecutorRun(queryDesc, direction, count, execute_once);
	if (r != NULL && (count == 0 || queryDesc->estate->es_processed < count))
		r->done = true;
	privstat_budget_await();
}

/*
 * An error (or FATAL: a cancel, pg_terminate_backend) after a charge and
 * before its flush: make the journal durable before the report leaves.
 * PostgreSQL calls this hook for what it writes to the server log, which
 * includes every error unless log_min_messages is raised above ERROR.  A
 * message never carries a noisy value drawn before the wait: the noise is
 * drawn only after privstat_budget_await.
 * No locks and no ereport here (privstat_journal_sync_written).  If the sync
 * fails the journal flusher still syncs the record; the report carries no
 * DP value.
 */
static void
budget_emit_log(ErrorData *edata)
{
	/* a pending charge was written through the journal's descriptor, which is open */
	if (await_pending && edata->elevel >= ERROR && privstat_journal_sync_written())
		await_pending = false;
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

/* JSON has no number for infinity: an unlimited budget is the string "Infinity" */
static void
explain_remaining(const char *label, bool unlimited, double remaining, ExplainState *es)
{
	if (unlimited)
		ExplainPropertyText(label, "Infinity", es);
	else
		ExplainPropertyFloat(label, NULL, remaining, 6, es);
}

/*
 * EXPLAIN: the plan as usual, then what it would cost and what the role has
 * left.  Charges nothing.  In the structured formats the privacy figures are
 * a sibling group of the plan.
 */
/* the privacy lines after a plan: its cost, and what the role has left */
static void
explain_privacy(PlannedStmt *plan, ExplainState *es)
{
	double		epsilon;
	double		delta;
	BudgetEntry *e;
	Oid			role = GetUserId();

	if (privstat_plan_cost(plan, &epsilon, &delta) == 0 || shared == NULL)
		return;

	/*
	 * An object of its own, a sibling of the plan's in the outer list: in
	 * JSON {"Privacy Cost Epsilon": ...}, in YAML a "- " item, in XML a
	 * <Privacy> element.
	 */
	ExplainOpenGroup("Privacy", NULL, true, es);
	ExplainPropertyFloat("Privacy Cost Epsilon", NULL, epsilon, 6, es);
	/* a delta below 1e-6 (privstat.selection_delta 1e-9) must not show as 0 */
	ExplainPropertyFloat("Privacy Cost Delta", NULL, delta,
						 delta > 0.0 && delta < 5e-7 ? 2 - (int) floor(log10(delta)) : 6, es);
	LWLockAcquire(shared->lock, LW_SHARED);
	e = hash_search(ledger, &role, HASH_FIND, NULL);
	if (e != NULL && e->has_budget)
	{
		int64		eps_spent;
		int64		delta_spent;

		spent(e, GetCurrentTimestamp(), &eps_spent, &delta_spent);
		explain_remaining("Privacy Budget Epsilon Remaining", e->eps_unlimited,
						  Max(e->eps_limit - eps_spent, 0) / EPS_UNIT, es);
		explain_remaining("Privacy Budget Delta Remaining", e->delta_unlimited,
						  Max(e->delta_limit - delta_spent, 0) / DELTA_UNIT, es);
	}
	else
		ExplainPropertyText("Privacy Budget", "none (the query would be refused)", es);
	LWLockRelease(shared->lock);
	ExplainCloseGroup("Privacy", NULL, true, es);
}

/* remembers the plan an EXPLAIN made through another module's hook */
static PlannedStmt *
budget_planner(Query *parse, const char *query_string, int cursorOptions,
			   ParamListInfo boundParams)
{
	PlannedStmt *result;

	if (prev_planner)
		result = prev_planner(parse, query_string, cursorOptions, boundParams);
	else
		result = standard_planner(parse, query_string, cursorOptions, boundParams);
	/* the last one: a query planned while planning it (a function folded) comes first */
	if (explain_depth > 0 && !explain_running)
		explained_plan = result;
	return result;
}

/* run the ExplainOneQuery hook before ours, catching the plan it makes */
static PlannedStmt *
explain_through_prev(Query *query, int cursorOptions, IntoClause *into,
					 ExplainState *es, const char *queryString,
					 ParamListInfo params, QueryEnvironment *queryEnv)
{
	PlannedStmt *saved = explained_plan;
	bool		saved_running = explain_running;
	PlannedStmt *plan;

	explained_plan = NULL;
	explain_running = false;
	explain_depth++;
	PG_TRY();
	{
		prev_ExplainOneQuery(query, cursorOptions, into, es, queryString, params, queryEnv);
	}
	PG_FINALLY();
	{
		explain_depth--;
		explain_running = saved_running;
	}
	PG_END_TRY();
	plan = explained_plan;
	explained_plan = saved;
	return plan;
}

static void
budget_ExplainOneQuery(Query *query, int cursorOptions, IntoClause *into,
					   ExplainState *es, const char *queryString,
					   ParamListInfo params, QueryEnvironment *queryEnv)
{
	PlannedStmt *plan;
	instr_time	planstart,
				planduration;
	BufferUsage bufusage_start,
				bufusage;

	if (prev_ExplainOneQuery)
	{
		plan = explain_through_prev(query, cursorOptions, into, es, queryString, params, queryEnv);
		if (plan != NULL)
			explain_privacy(plan, es);
		return;
	}

	if (es->buffers)
		bufusage_start = pgBufferUsage;
	INSTR_TIME_SET_CURRENT(planstart);
	plan = pg_plan_query(query, queryString, cursorOptions, params);
	INSTR_TIME_SET_CURRENT(planduration);
	INSTR_TIME_SUBTRACT(planduration, planstart);
	if (es->buffers)
	{
		memset(&bufusage, 0, sizeof(BufferUsage));
		BufferUsageAccumDiff(&bufusage, &pgBufferUsage, &bufusage_start);
	}
	ExplainOnePlan(plan, into, es, queryString, params, queryEnv, &planduration,
				   es->buffers ? &bufusage : NULL);
	explain_privacy(plan, es);
}


/* ---------------------------------------------------------------------------
 * SQL interface
 * ---------------------------------------------------------------------------
 */

static void
check_admin(const char *what)
{
	if (!privstat_has_role("privstat_admin"))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s", what),
				 errdetail("Only superusers and members of privstat_admin may change privacy budgets."),
				 errhint("Ask an administrator to GRANT privstat_admin to this role.")));
}

static Oid
checked_role(Oid role)
{
	if (!OidIsValid(role) || GetUserNameFromId(role, true) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role with OID %u does not exist", role)));
	return role;
}

PG_FUNCTION_INFO_V1(privstat_set_budget);

/* set_budget(role regrole, epsilon float8, delta float8, period interval) */
Datum
privstat_set_budget(PG_FUNCTION_ARGS)
{
	double		epsilon;
	double		delta;
	int64		period_us = 0;

	check_admin("change privacy budgets");
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("role, epsilon and delta of a privacy budget must not be null"),
				 errhint("Use 'infinity' for an unlimited budget.")));
	epsilon = PG_GETARG_FLOAT8(1);
	delta = PG_GETARG_FLOAT8(2);
	if (isnan(epsilon) || epsilon < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("epsilon of a privacy budget must be zero or more"),
				 errhint("Use 'infinity' for an unlimited budget.")));
	/* the ledger counts nano-epsilon in 64 bits: larger finite limits do not fit */
	if (!isinf(epsilon) && epsilon > 1e9)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("epsilon of a privacy budget must be at most 1e9, or infinity"),
				 errhint("Use 'infinity' for an unlimited budget.")));
	if (isnan(delta) || delta < 0 || (delta > 1 && !isinf(delta)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("delta of a privacy budget must be between 0 and 1, or infinity")));
	if (!PG_ARGISNULL(3))
	{
		Interval   *period = PG_GETARG_INTERVAL_P(3);
		int64		days_us;
		int64		months_us;

		/* in microseconds, within 64 bits, and at most 1000 years */
		if (pg_mul_s64_overflow((int64) period->day, USECS_PER_DAY, &days_us) ||
			pg_mul_s64_overflow((int64) period->month, (int64) DAYS_PER_MONTH * USECS_PER_DAY, &months_us) ||
			pg_add_s64_overflow(period->time, days_us, &period_us) ||
			pg_add_s64_overflow(period_us, months_us, &period_us) ||
			period_us > (int64) 1000 * MONTHS_PER_YEAR * DAYS_PER_MONTH * USECS_PER_DAY)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("period of a privacy budget must be at most 1000 years"),
					 errhint("Leave the period NULL for a lifetime budget.")));
		if (period_us < WINDOW_SLOTS * USECS_PER_SEC)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("period of a privacy budget must be at least %d seconds", WINDOW_SLOTS),
					 errhint("Leave the period NULL for a lifetime budget.")));
	}

	budget_change(JR_SET, checked_role(PG_GETARG_OID(0)), epsilon, delta, period_us);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(privstat_record_spend);

/*
 * privstat.record_spend(role, epsilon, delta): record a spend the ledger
 * lacks (one lost with the journal, or made elsewhere), as a charge by the
 * administrator.  It only adds: nothing can subtract a spend.  Unlike a
 * query's charge it is recorded even beyond the role's budget (it happened).
 */
Datum
privstat_record_spend(PG_FUNCTION_ARGS)
{
	double		epsilon = PG_GETARG_FLOAT8(1);
	double		delta = PG_GETARG_FLOAT8(2);

	check_admin("record privacy spends");
	if (isnan(epsilon) || epsilon < 0 || epsilon > 1e9)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("epsilon of a recorded spend must be between 0 and 1e9"),
				 errhint("Record what was spent, as a finite epsilon; a spend can only be added.")));
	if (isnan(delta) || delta < 0 || delta > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("delta of a recorded spend must be between 0 and 1"),
				 errhint("Record what was spent; leave delta out for a pure epsilon spend.")));
	if (epsilon == 0 && delta == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a recorded spend must have an epsilon or a delta above 0"),
				 errhint("There is nothing to record.")));
	budget_change(JR_CHARGE, checked_role(PG_GETARG_OID(0)), epsilon, delta, 0);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(privstat_reset_budget);
Datum
privstat_reset_budget(PG_FUNCTION_ARGS)
{
	check_admin("reset privacy budgets");
	budget_change(JR_RESET, checked_role(PG_GETARG_OID(0)), 0, 0, 0);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(privstat_budget_journal_status);

/*
 * budget_journal_status(): records written to the journal, records known
 * durable (synced, or by their WAL record), the journal flusher's pid (NULL
 * when it is not running), and records synced in the journal file.
 */
Datum
privstat_budget_journal_status(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	uint64		written;
	uint64		durable;
	uint64		synced;
	int			pid;

	privstat_require_preload();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	privstat_journal_status(&written, &durable, &synced, &pid);
	values[0] = Int64GetDatum((int64) written);
	values[1] = Int64GetDatum((int64) durable);
	values[2] = Int32GetDatum((int32) pid);
	nulls[2] = pid == 0;
	values[3] = Int64GetDatum((int64) synced);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

PG_FUNCTION_INFO_V1(privstat_budget_status);

/*
 * budget_status(): one row per role with a budget.  Administrators see
 * every role; others see the roles whose privileges they have (their own).
 */
Datum
privstat_budget_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	HASH_SEQ_STATUS status;
	BudgetEntry *e;
	BudgetEntry *copies;
	int			ncopies = 0;
	bool		all;
	TimestampTz now = GetCurrentTimestamp();

	privstat_require_preload();
	InitMaterializedSRF(fcinfo, 0);
	if (shared == NULL)
		PG_RETURN_VOID();
	all = privstat_has_role("privstat_admin") || privstat_has_role("privstat_auditor");

	/*
	 * Copy the entries under the lock, then filter and return them without
	 * it: role checks take catalog locks, which must not be waited for while
	 * holding an LWLock that every charge needs.
	 */
	LWLockAcquire(shared->lock, LW_SHARED);
	copies = palloc(Max(hash_get_num_entries(ledger), 1) * sizeof(BudgetEntry));
	hash_seq_init(&status, ledger);
	while ((e = hash_seq_search(&status)) != NULL)
		copies[ncopies++] = *e;
	LWLockRelease(shared->lock);

	for (int k = 0; k < ncopies; k++)
	{
		Datum		values[11];
		bool		nulls[11];
		int64		eps_spent;
		int64		delta_spent;
		TimestampTz free_at;

		e = &copies[k];
		if (!e->has_budget || (!all && !has_privs_of_role(GetUserId(), e->roleid)))
			continue;
		memset(nulls, 0, sizeof(nulls));
		spent(e, now, &eps_spent, &delta_spent);
		free_at = next_free(e, now);
		values[0] = ObjectIdGetDatum(e->roleid);
		values[1] = Float8GetDatum(e->eps_unlimited ? INFINITY : e->eps_limit / EPS_UNIT);
		values[2] = Float8GetDatum(eps_spent / EPS_UNIT);
		values[3] = Float8GetDatum(e->eps_unlimited ? INFINITY : Max(e->eps_limit - eps_spent, 0) / EPS_UNIT);
		values[4] = Float8GetDatum(e->delta_unlimited ? INFINITY : e->delta_limit / DELTA_UNIT);
		values[5] = Float8GetDatum(delta_spent / DELTA_UNIT);
		values[6] = Float8GetDatum(e->delta_unlimited ? INFINITY : Max(e->delta_limit - delta_spent, 0) / DELTA_UNIT);
		if (e->period_us > 0)
		{
			Interval   *iv = palloc0(sizeof(Interval));

			iv->time = e->period_us;
			values[7] = IntervalPGetDatum(iv);
		}
		else
			nulls[7] = true;
		if (free_at != 0)
			values[8] = TimestampTzGetDatum(free_at);
		else
			nulls[8] = true;
		values[9] = Int64GetDatum(e->charges);
		values[10] = Float8GetDatum(e->eps_total / EPS_UNIT);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(privstat_adopt_budget_journal);

/*
 * adopt_budget_journal(): continue charging with this journal although
 * spends may be missing from it (records lost, a start from a base backup):
 * superuser only, and recorded in the journal.
 */
Datum
privstat_adopt_budget_journal(PG_FUNCTION_ARGS)
{
	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to adopt the privacy budget journal"),
				 errdetail("Only superusers may accept a journal that may lack spends.")));
	budget_change(JR_ADOPT, InvalidOid, 0, 0, 0);
	PG_RETURN_VOID();
}
