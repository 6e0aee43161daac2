/*-------------------------------------------------------------------------
 *
 * journal.c
 *	  The budget journal's storage: $PGDATA/privstat/budget.journal, the
 *	  durable store of every charge and budget change, which the ledger
 *	  (budget.c) is a cache of.
 *
 * Every charge, budget change and reset is a fixed-size record of
 * src/records.c: a body, its CRC-32C (to find a torn write) and an
 * HMAC-SHA-256, under a key derived from the master key, of the previous
 * record's HMAC and its own body (a hash chain: a changed, removed or
 * reordered record breaks it).  Ordinary tables cannot hold spends, because
 * they roll back; the journal does not.  It lives in the data directory, so
 * base backups and pg_upgrade carry it.
 *
 * Each record is also a WAL record of privstat's resource manager, inserted
 * under the same hold of the ledger lock as its write, so the WAL holds the
 * records in journal order (redo is budget.c's).  The file stays each
 * server's store, replayed at startup; while the journal flusher is lazy
 * (below) a record is durable by its WAL record, and the flusher syncs the
 * file before any checkpoint whose redo point follows that WAL record
 * completes, so crash recovery, which replays the WAL from that point on,
 * always finds the older records in the file.
 *
 * Replay.  At startup (and after a crash restart) the postmaster reads the
 * journal and hands each record to the ledger.  A torn tail, the trace of a
 * crash in the middle of an append, is cut back to the last complete record
 * and logged; a bad record followed by good ones, or a record whose CRC is
 * right but whose HMAC is not, is corruption or tampering: the journal then
 * fails closed (privstat refuses to charge) and says so in the log.
 *
 * The file grows in preallocated chunks of zeros (see JOURNAL_CHUNK), so a
 * flush is an fdatasync that changes no metadata.
 *
 * Flushing.  While the journal flusher (a background worker) is lazy, a
 * charging backend flushes its record's WAL record (XLogFlush, shared with
 * commits) before anything that depends on the charge leaves it, and the
 * flusher syncs the file every privstat.journal_sync_delay and whenever a
 * checkpoint waits for it (see "The flusher holds checkpoints" below).
 * Otherwise the backend wakes the flusher, which fdatasyncs every record
 * written so far while the backend runs its query, and the backend waits
 * for its record (privstat_journal_flush).  Flushes are grouped, the way
 * commits share WAL flushes: whoever holds the flush lock fsyncs every
 * record written so far, and a backend whose record is already covered
 * returns without its own fsync.
 *
 * Locking protocol:
 *	- lock, the ledger's (exclusive), covers next_seq, last_mac, allocated,
 *	  timeline and the write of a record: callers of privstat_journal_append
 *	  hold it, so the journal and the ledger change together.
 *	- flush_lock (exclusive) covers the fdatasync; flushed only grows
 *	  (privstat_record_flushed), also after the lock-free sync of the error
 *	  path.  Waiters use LWLockAcquireOrWait, as XLogFlush does, so all of
 *	  them wake when a flush ends and most find their record covered.
 *	- A backend never holds both; the flusher, leaving lazy mode as it
 *	  exits, takes flush_lock while holding lock (nowhere the other way).
 *	- lazy is set and cleared under lock, by the flusher alone, so a record
 *	  is written entirely in one mode; lsn_ring under lock too.
 *	- flusher_latch and flusher_pid are set by the flusher alone; a stale
 *	  latch only wakes some other process once.
 *	- In the postmaster (replay, and records written at startup) and the
 *	  startup process (redo, under lock) there are no concurrent writers.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <unistd.h>

#include "access/xlog.h"
#include "catalog/pg_control.h"
#include "common/controldata_utils.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "port/pg_crc32c.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/sinvaladt.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "privstat/guc.h"
#include "privstat/journal.h"
#include "privstat/keys.h"
#include "privstat/records.h"
#include "privstat/wal.h"

#define JOURNAL_DIR			"privstat"
#define JOURNAL_FILE		PRIVSTAT_JOURNAL_FILE
#define JOURNAL_MAGIC		0x4a425350	/* "PSBJ" */
#define JOURNAL_FORMAT		1
#define JOURNAL_KEY_DOMAIN	"budget"

/*
 * The journal grows by this much at a time, written with zeros and synced
 * once, so that a flush is an fdatasync that touches no file metadata, like
 * a WAL flush into a preallocated segment.  An all-zero record marks the
 * end of the journal.
 */
#define JOURNAL_CHUNK		(1024 * 1024)

StaticAssertDecl(sizeof(JournalRecord) == PRIVSTAT_RECORD_SIZE, "journal records are 128 bytes");
StaticAssertDecl(offsetof(JournalRecord, crc) == PRIVSTAT_RECORD_BODY, "journal record body");
StaticAssertDecl(offsetof(JournalRecord, mac) == PRIVSTAT_RECORD_MAC, "journal record mac");

/* records whose WAL record's end is remembered, for budget_journal_status */
#define LSN_RING			1024

typedef struct JournalShared
{
	LWLock	   *lock;			/* the ledger's: see the locking protocol */
	LWLock	   *flush_lock;
	uint64		next_seq;		/* under lock */
	uint8		last_mac[32];	/* under lock */
	uint64		allocated;		/* under lock: bytes of the file (zeros past the end) */
	uint32		timeline;		/* under lock: of the last record replayed or written */
	pg_atomic_uint64 written;	/* records written to the file */
	pg_atomic_uint64 flushed;	/* records durable (only grows) */
	pg_atomic_uint64 early_lsn;	/* lazy: WAL the flusher is asked to flush early */
	bool		fail_closed;	/* journal unreadable or corrupt: refuse to charge */
	bool		lazy;			/* under lock: the flusher holds checkpoints (below) */
	XLogRecPtr	lsn_ring[LSN_RING];	/* under lock: the end of record seq's WAL record
									 * at [seq % LSN_RING], for the last records
									 * backends wrote */
	Latch	   *flusher_latch;	/* the journal flusher's, or NULL */
	pid_t		flusher_pid;	/* its process id, or 0 */
} JournalShared;

/*
 * $PGDATA/privstat/budget.synced: how many records of the journal the
 * flusher last made durable, rewritten (and synced) after each of its
 * syncs.  Replay allows a torn tail of any length past it: those records
 * were durable by their WAL records, which recovery writes back.
 */
#define SYNCED_FILE			"privstat/budget.synced"
#define SYNCED_MAGIC		0x53425350	/* "PSBS" */

typedef struct JournalSynced
{
	uint32		magic;
	uint32		format;
	uint64		records;
	pg_crc32c	crc;			/* of the bytes before it */
} JournalSynced;

static JournalShared *js = NULL;
static File journal_fd = -1;

/* the postmaster's descriptor for records written at startup */
static int	startup_fd = -1;


Size
privstat_journal_shmem_size(void)
{
	return MAXALIGN(sizeof(JournalShared));
}

/* attach; true if this call created the shared state (the postmaster) */
bool
privstat_journal_shmem_init(LWLock *lock, LWLock *flush_lock)
{
	bool		found;

	js = ShmemInitStruct("privstat budget journal", sizeof(JournalShared), &found);
	if (!found)
	{
		memset(js, 0, sizeof(JournalShared));
		js->lock = lock;
		js->flush_lock = flush_lock;
		pg_atomic_init_u64(&js->written, 0);
		pg_atomic_init_u64(&js->flushed, 0);
		pg_atomic_init_u64(&js->early_lsn, 0);
	}
	return !found;
}

bool
privstat_journal_failed(void)
{
	return js == NULL || js->fail_closed;
}

/* the ledger cannot follow the journal: refuse to charge from now on */
void
privstat_journal_fail(void)
{
	js->fail_closed = true;
}

/* the seq the next record gets; caller holds lock (or is the postmaster) */
uint64
privstat_journal_next_seq(void)
{
	return js->next_seq;
}

/* the timeline records written in recovery carry: the primary's */
void
privstat_journal_set_timeline(uint32 timeline)
{
	js->timeline = timeline;
}

/*
 * Records written, records known durable (synced in the journal, or with
 * their WAL record flushed: of the last LSN_RING records, whose WAL records
 * end in the order of their numbers), records synced in the journal, and
 * the flusher's pid.
 */
void
privstat_journal_status(uint64 *written, uint64 *durable, uint64 *synced, int *flusher_pid)
{
	XLogRecPtr	flushed_to = RecoveryInProgress() ? InvalidXLogRecPtr : GetFlushRecPtr(NULL);
	uint64		lo;
	uint64		hi;

	*written = *durable = *synced = 0;
	*flusher_pid = 0;
	if (js == NULL)
		return;
	LWLockAcquire(js->lock, LW_SHARED);
	*written = pg_atomic_read_u64(&js->written);
	*synced = pg_atomic_read_u64(&js->flushed);
	*flusher_pid = js->flusher_pid;
	/* the first record not durable: binary search of the ring, past those synced */
	lo = *written > LSN_RING ? Max(*synced, *written - LSN_RING) : *synced;
	hi = *written;
	if (lo > *synced && js->lsn_ring[lo % LSN_RING] > flushed_to)
		lo = hi = *synced;		/* older ones, not remembered, may not be either */
	while (lo < hi)
	{
		uint64		mid = lo + (hi - lo) / 2;

		if (js->lsn_ring[mid % LSN_RING] <= flushed_to)
			lo = mid + 1;
		else
			hi = mid;
	}
	*durable = lo;
	LWLockRelease(js->lock);
}

/*
 * Whether a record written now is durable once its WAL record is flushed:
 * the flusher holds checkpoints until it has synced it.  Caller holds lock.
 */
bool
privstat_journal_lazy(void)
{
	return js->lazy;
}


/* ---------------------------------------------------------------------------
 * Records
 * ---------------------------------------------------------------------------
 */

static PrivstatKey *
journal_key(void)
{
	return privstat_get_key(KEY_PURPOSE_JOURNAL, JOURNAL_KEY_DOMAIN, 1);
}

/* give r its place in the chain: number, format and seal */
static void
record_place(JournalRecord *r)
{
	r->magic = JOURNAL_MAGIC;
	r->format = JOURNAL_FORMAT;
	r->seq = js->next_seq;
	privstat_record_seal(r, js->last_mac, journal_key());
}

/* r is written at its place: the chain moves on; caller holds lock */
static void
record_placed(const JournalRecord *r)
{
	js->next_seq++;
	memcpy(js->last_mac, r->mac, 32);
	js->allocated = Max(js->allocated, js->next_seq * sizeof(*r));
}

static bool
record_intact(const void *rec)
{
	const JournalRecord *r = rec;

	return r->magic == JOURNAL_MAGIC && r->format == JOURNAL_FORMAT && privstat_record_crc_ok(r);
}


/* ---------------------------------------------------------------------------
 * Startup: replay, and records written back in the postmaster
 * ---------------------------------------------------------------------------
 */

/* the journal cannot be read or repaired: log why and refuse to charge */
static void
replay_failed(const char *action, const char *path)
{
	int			save_errno = errno;

	js->fail_closed = true;
	errno = save_errno;
	ereport(LOG,
			(errcode_for_file_access(),
			 errmsg("could not %s \"%s\": %m", action, path),
			 errdetail("privstat refuses to charge privacy budgets until this is fixed and the server restarted; other queries run.")));
}

/*
 * The records the flusher last made durable (budget.synced), read at
 * replay; PG_UINT64_MAX when there is no such mark, or it is damaged: then
 * every record counts as synced by its own writer (the strict torn-tail
 * rule), which can only refuse to charge, never give budget back.
 */
static bool synced_entry_durable = false;

/*
 * The state pg_control recorded when the server last stopped (the
 * postmaster, at startup, reads it before recovery changes it).  A lazy
 * tail can only be left by a primary that did not shut down cleanly
 * (DB_IN_PRODUCTION, as a copy taken while it ran also says); at a clean
 * shutdown the flusher synced everything as it exited, and a standby syncs
 * each record it replays.
 */
static DBState
control_state(void)
{
	bool		crc_ok;
	ControlFileData *cf = get_controlfile(DataDir, &crc_ok);
	DBState		state = crc_ok ? cf->state : DB_IN_PRODUCTION;

	pfree(cf);
	return state;
}

static uint64
synced_mark(void)
{
	JournalSynced m;
	pg_crc32c	crc;
	int			fd = OpenTransientFile(SYNCED_FILE, O_RDONLY | PG_BINARY);
	bool		ok;

	if (fd < 0)
		return PG_UINT64_MAX;
	ok = pg_pread(fd, &m, sizeof(m), 0) == sizeof(m);
	CloseTransientFile(fd);
	if (!ok || m.magic != SYNCED_MAGIC || m.format != JOURNAL_FORMAT)
		return PG_UINT64_MAX;
	INIT_CRC32C(crc);
	COMP_CRC32C(crc, &m, offsetof(JournalSynced, crc));
	FIN_CRC32C(crc);
	return EQ_CRC32C(crc, m.crc) ? m.records : PG_UINT64_MAX;
}

/*
 * How many records the journal held, synced, when the flusher last said so
 * (0 if unknown), so that a journal cut or removed while the server was
 * stopped, with the audit trail, is not taken for a journal that never had
 * them: the postmaster, at startup.
 */
uint64
privstat_journal_synced_mark(void)
{
	uint64		m = synced_mark();

	return m == PG_UINT64_MAX ? 0 : m;
}

/* did the server last stop in archive recovery (a standby's, or a restore's)? postmaster, at startup */
bool
privstat_journal_stopped_in_recovery(void)
{
	DBState		state = control_state();

	return state == DB_IN_ARCHIVE_RECOVERY || state == DB_SHUTDOWNED_IN_RECOVERY;
}

/*
 * Record that the first records of the journal are durable: the flusher,
 * after its syncs.  A failure is a WARNING and leaves the mark where it
 * was: a mark behind only makes replay take less as synced (more of the
 * tail may be cut, and comes back from the WAL or the audit trail), so it
 * never makes a spend come back; an ERROR here would take the flusher, and
 * the hold it keeps on checkpoints, away.  False if it failed.
 */
static bool
synced_write(uint64 records)
{
	JournalSynced m;
	int			fd;
	bool		ok;

	memset(&m, 0, sizeof(m));
	m.magic = SYNCED_MAGIC;
	m.format = JOURNAL_FORMAT;
	m.records = records;
	INIT_CRC32C(m.crc);
	COMP_CRC32C(m.crc, &m, offsetof(JournalSynced, crc));
	FIN_CRC32C(m.crc);
	fd = OpenTransientFilePerm(SYNCED_FILE, O_RDWR | O_CREAT | PG_BINARY, S_IRUSR | S_IWUSR);
	if (fd < 0)
	{
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\": %m", SYNCED_FILE)));
		return false;
	}
	errno = 0;
	ok = pg_pwrite(fd, &m, sizeof(m), 0) == sizeof(m);
	if (!ok && errno == 0)
		errno = ENOSPC;
	if (ok && pg_fsync(fd) != 0)
		ok = false;
	if (!ok)
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", SYNCED_FILE)));
	CloseTransientFile(fd);
	/* its directory entry, once per flusher */
	if (ok && !synced_entry_durable)
	{
		ok = fsync_fname_ext(JOURNAL_DIR, true, false, WARNING) == 0;
		synced_entry_durable = ok;
	}
	return ok;
}

/*
 * Replay the journal into the ledger (apply): in the postmaster at startup,
 * and again after a crash restart.  The journal ends at its first all-zero
 * record (or the end of the file).  A damaged record there with nothing
 * intact after it is a torn tail: it is zeroed, which cuts it off, and
 * logged.  Anything else that is wrong makes the journal fail closed.
 * Nothing here stops the server: the rest of PostgreSQL runs on.
 */
void
privstat_journal_replay(JournalApply apply)
{
	int			fd;
	struct stat st;
	JournalRecord r;
	uint64		n;
	uint64		good = 0;
	uint8		prev[32];
	off_t		size;
	off_t		torn_end;
	bool		lazy_tail;
	const char *problem = NULL;

	memset(prev, 0, sizeof(prev));
	js->fail_closed = false;
	pg_atomic_write_u64(&js->written, 0);
	pg_atomic_write_u64(&js->flushed, 0);

	if (MakePGDirectory(JOURNAL_DIR) < 0 && errno != EEXIST)
	{
		replay_failed("create privstat's directory", JOURNAL_DIR);
		return;
	}
	fd = OpenTransientFilePerm(JOURNAL_FILE, O_RDWR | O_CREAT | PG_BINARY, S_IRUSR | S_IWUSR);
	if (fd < 0 || fstat(fd, &st) != 0)
	{
		replay_failed("open privstat budget journal", JOURNAL_FILE);
		if (fd >= 0)
			CloseTransientFile(fd);
		return;
	}
	size = st.st_size;
	if (size == 0)
	{
		/* a new journal: make the file and its directory entries durable */
		CloseTransientFile(fd);
		fsync_fname(JOURNAL_FILE, false);
		fsync_fname(JOURNAL_DIR, true);
		fsync_fname(".", true);
		fd = OpenTransientFilePerm(JOURNAL_FILE, O_RDWR | PG_BINARY, S_IRUSR | S_IWUSR);
		if (fd < 0)
		{
			replay_failed("open privstat budget journal", JOURNAL_FILE);
			return;
		}
	}

	for (n = 0; (off_t) ((n + 1) * sizeof(r)) <= size; n++)
	{
		if (pg_pread(fd, &r, sizeof(r), n * sizeof(r)) != sizeof(r))
		{
			replay_failed("read privstat budget journal", JOURNAL_FILE);
			CloseTransientFile(fd);
			return;
		}
		if (privstat_record_is_zero(&r) || !record_intact(&r))
			break;
		if (r.seq != n || !privstat_record_mac_ok(&r, prev, journal_key()))
		{
			problem = "a record's HMAC or position does not match the chain (changed, removed or reordered records)";
			break;
		}
		if (!apply(&r))
		{
			problem = "the journal has more roles than privstat.max_roles; raise it and restart";
			break;
		}
		memcpy(prev, r.mac, 32);
		js->timeline = r.timeline;
		good = n + 1;
	}

	/*
	 * Past the last good record: zeros to the end, or a torn tail, or worse.
	 * Past the records the flusher last synced, any tail is torn: those were
	 * written while checkpoints waited for the flusher, and their WAL
	 * records are replayed after this.
	 */
	torn_end = good * sizeof(r);
	lazy_tail = good >= synced_mark() && control_state() == DB_IN_PRODUCTION;
	if (problem == NULL)
		torn_end = privstat_record_tail(fd, good, size, lazy_tail ? PG_UINT64_MAX : (uint64) MaxBackends,
										record_intact, &problem);

	if (problem != NULL)
	{
		js->fail_closed = true;
		ereport(LOG,
				(errmsg("privstat budget journal \"%s\" is corrupt at record " UINT64_FORMAT ": privstat refuses to charge privacy budgets",
						JOURNAL_FILE, good),
				 errdetail("%s.", problem),
				 errhint("Restore the journal from a backup and restart; or move the file away and restart: privstat rebuilds it from the audit trail, and marks lost what the trail no longer holds.")));
	}
	else if (torn_end > (off_t) (good * sizeof(r)))
	{
		off_t		len = torn_end - good * sizeof(r);
		char	   *zeros = palloc0(len);

		if (pg_pwrite(fd, zeros, len, good * sizeof(r)) != len || pg_fsync(fd) != 0)
		{
			replay_failed("cut the torn tail of privstat budget journal", JOURNAL_FILE);
			CloseTransientFile(fd);
			return;
		}
		pfree(zeros);
		ereport(LOG,
				(errmsg("privstat budget journal \"%s\": cut a torn tail of %lld bytes after record " UINT64_FORMAT,
						JOURNAL_FILE, (long long) len, good),
				 lazy_tail ?
				 errdetail("The operating system stopped before the journal flusher synced them; recovery writes back from the WAL every charge whose answer left the server.") :
				 errdetail("The server stopped in the middle of writing charges; their queries never ran.")));
	}
	CloseTransientFile(fd);

	js->next_seq = good;
	js->allocated = size - size % sizeof(r);
	memcpy(js->last_mac, prev, 32);
	pg_atomic_write_u64(&js->written, good);
	pg_atomic_write_u64(&js->flushed, good);
}

/*
 * Append r at the journal's end and apply it to the ledger, with no flush
 * (privstat_journal_startup_done makes the records durable): the postmaster
 * at startup, writing back what the audit trail holds, and the startup
 * process in recovery (under lock).  False, logged and failing closed, if
 * it cannot be written or applied.
 */
bool
privstat_journal_write_at_startup(JournalRecord *r, JournalApply apply)
{
	if (js->fail_closed)
		return false;
	if (js->next_seq >= PRIVSTAT_BUDGET_SEQ_LIMIT)
	{
		js->fail_closed = true;
		ereport(LOG,
				(errmsg("privstat budget journal \"%s\" has used up its record numbers: privstat refuses to charge privacy budgets",
						JOURNAL_FILE),
				 errhint("Restore the data directory from a backup taken before the journal was damaged.")));
		return false;
	}
	r->timeline = js->timeline;
	record_place(r);
	if (startup_fd < 0)
		startup_fd = OpenTransientFilePerm(JOURNAL_FILE, O_RDWR | PG_BINARY, S_IRUSR | S_IWUSR);
	if (startup_fd < 0)
	{
		replay_failed("open privstat budget journal", JOURNAL_FILE);
		return false;
	}
	errno = 0;
	if (pg_pwrite(startup_fd, r, sizeof(*r), r->seq * sizeof(*r)) != sizeof(*r))
	{
		if (errno == 0)
			errno = ENOSPC;
		replay_failed("write privstat budget journal", JOURNAL_FILE);
		return false;
	}
	if (!apply(r))
	{
		js->fail_closed = true;
		ereport(LOG,
				(errmsg("privstat budget journal \"%s\": restoring it needs more roles than privstat.max_roles: privstat refuses to charge privacy budgets",
						JOURNAL_FILE),
				 errhint("Raise privstat.max_roles and restart.")));
		return false;
	}
	record_placed(r);
	return true;
}

/* make the records written at startup durable; false (logged) if that fails */
bool
privstat_journal_startup_done(void)
{
	bool		ok = true;

	if (startup_fd >= 0)
	{
		ok = pg_fsync(startup_fd) == 0;
		if (!ok)
			replay_failed("fsync privstat budget journal", JOURNAL_FILE);
		CloseTransientFile(startup_fd);
		startup_fd = -1;
	}
	pg_atomic_write_u64(&js->written, js->next_seq);
	pg_atomic_write_u64(&js->flushed, js->next_seq);
	return ok;
}

/*
 * Pass every journal record from seq from on to fn, oldest first: the audit
 * trail catches up with the journal at startup (audit.c), in the postmaster,
 * after replay.  Returns the journal's next seq, or PG_UINT64_MAX when the
 * journal failed to replay (nothing is passed then).
 */
uint64
privstat_journal_scan(uint64 from, void (*fn) (const JournalRecord *r))
{
	int			fd;
	JournalRecord r;

	if (js == NULL || js->fail_closed)
		return PG_UINT64_MAX;
	if (from >= js->next_seq)
		return js->next_seq;
	fd = OpenTransientFile(JOURNAL_FILE, O_RDONLY | PG_BINARY);
	if (fd < 0)
		return PG_UINT64_MAX;
	for (uint64 n = from; n < js->next_seq; n++)
	{
		if (pg_pread(fd, &r, sizeof(r), n * sizeof(r)) != sizeof(r))
			break;
		fn(&r);
	}
	CloseTransientFile(fd);
	return js->next_seq;
}


/* ---------------------------------------------------------------------------
 * Backends: append and flush
 * ---------------------------------------------------------------------------
 */

/* open the journal in this backend (once): a journal that failed closed is never written */
void
privstat_journal_open(void)
{
	if (journal_fd >= 0)
		return;
	journal_fd = PathNameOpenFilePerm(JOURNAL_FILE, O_RDWR | PG_BINARY, S_IRUSR | S_IWUSR);
	if (journal_fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open privstat budget journal \"%s\": %m", JOURNAL_FILE)));
}

static int
journal_sync(void)
{
	/* the VFD may have been closed by fd.c's LRU: FileSync reopens it */
	if (FileGetRawDesc(journal_fd) >= 0)
		return pg_fdatasync(FileGetRawDesc(journal_fd));
	return FileSync(journal_fd, WAIT_EVENT_DATA_FILE_SYNC);
}

/*
 * Grow the journal by JOURNAL_CHUNK bytes of zeros, durably (size and
 * all); caller holds lock exclusively, which an error releases.
 */
static void
journal_extend(void)
{
	if (!privstat_record_file_extend(journal_fd, js->allocated, JOURNAL_CHUNK))
	{
		LWLockRelease(js->lock);
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not extend privstat budget journal \"%s\": %m", JOURNAL_FILE)));
	}
	js->allocated += JOURNAL_CHUNK;
}

/*
 * Append r, and its WAL record (r, then text: a charge's normalized query,
 * which its audit event carries), under the same hold of lock, which the
 * caller holds exclusively; an error releases it, and then nothing changed
 * (the next record takes the same position).  Returns r's seq, and in *lsn
 * the end of its WAL record.  The record is written, not yet durable:
 * privstat_journal_flush.
 */
uint64
privstat_journal_append(JournalRecord *r, const char *text, int textlen, XLogRecPtr *lsn)
{
	int			written;

	/* record numbers stop where the trail's replay takes them for forged */
	if (js->next_seq >= PRIVSTAT_BUDGET_SEQ_LIMIT)
	{
		LWLockRelease(js->lock);
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("privstat budget journal has used up its record numbers"),
				 errhint("Restore the data directory from a backup taken before the journal was damaged.")));
	}
	r->ts = GetCurrentTimestamp();
	r->dbid = MyDatabaseId;
	r->timeline = RecoveryInProgress() ? 0 : GetWALInsertionTimeLine();
	record_place(r);
	if ((r->seq + 1) * sizeof(*r) > js->allocated)
		journal_extend();

	written = FileWrite(journal_fd, (char *) r, sizeof(*r), r->seq * sizeof(*r),
						WAIT_EVENT_DATA_FILE_WRITE);
	if (written != sizeof(*r))
	{
		if (written >= 0)
			errno = ENOSPC;
		LWLockRelease(js->lock);
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write privstat budget journal \"%s\": %m", JOURNAL_FILE)));
	}
	record_placed(r);
	js->timeline = r->timeline;
	pg_write_barrier();
	pg_atomic_write_u64(&js->written, js->next_seq);

	/* into the WAL too, under the same lock, so the WAL holds the records in journal order */
	*lsn = privstat_wal_insert(XLOG_PRIVSTAT_JOURNAL, r, sizeof(*r), text, textlen);
	js->lsn_ring[r->seq % LSN_RING] = *lsn;
	return r->seq;
}

/* make every record up to seq durable, sharing the flush with concurrent writers */
void
privstat_journal_flush(uint64 seq)
{
	privstat_record_flush(js->flush_lock, &js->written, &js->flushed, seq,
						  journal_sync, JOURNAL_FILE);
}

/*
 * A charge's record is written: wake the journal flusher to make it
 * durable while the query runs.  (Starting the page's writeback here with
 * sync_file_range made it slower: that call waits for the writeback of the
 * previous record in the same page.)
 */
void
privstat_journal_flush_start(void)
{
	Latch	   *latch;

	if (!enableFsync)
		return;
	latch = js->flusher_latch;
	if (latch != NULL)
		SetLatch(latch);
}

/*
 * A charge written lazily, whose WAL record ends at lsn: if the WAL before
 * it is already flushed (no other charge or commit is in flight to share a
 * flush with), ask the flusher to flush it while the query runs, so that
 * the backend's own XLogFlush finds it done.  Under load the backends'
 * flushes group by themselves, and an early flush would only add flushes.
 */
void
privstat_journal_wal_flush_start(XLogRecPtr start, XLogRecPtr lsn)
{
	Latch	   *latch;
	uint64		cur;

	if (!enableFsync || GetFlushRecPtr(NULL) < start)
		return;
	latch = js->flusher_latch;
	if (latch == NULL)
		return;
	cur = pg_atomic_read_u64(&js->early_lsn);
	while (cur < lsn && !pg_atomic_compare_exchange_u64(&js->early_lsn, &cur, lsn))
		;
	SetLatch(latch);
}

/*
 * From an error path (emit_log_hook): no locks, no ereport.  Sync every
 * record this backend's journal_fd has written; true if that worked.
 */
bool
privstat_journal_sync_written(void)
{
	uint64		target = pg_atomic_read_u64(&js->written);

	if (journal_sync() != 0)
		return false;
	privstat_record_flushed(&js->flushed, target);
	return true;
}


/* ---------------------------------------------------------------------------
 * The journal flusher
 * ---------------------------------------------------------------------------
 */

/*
 * The flusher holds checkpoints.  While it is lazy, a charge is durable
 * once its WAL record is flushed (the backend's XLogFlush, shared with
 * every commit's), and its journal record is synced later, by the flusher,
 * every privstat.journal_sync_delay.  Crash recovery replays the WAL from
 * the last checkpoint's redo point only, so a record whose WAL record lies
 * before that point must be synced in the journal before the checkpoint
 * completes.  PostgreSQL 15 gives extensions no checkpoint hook; what it
 * has is DELAY_CHKPT_START, by which a commit keeps a checkpoint from
 * completing between its WAL record and its pg_xact update: a checkpoint
 * that chose its redo point waits for every process that had the flag set
 * then, identified by its virtual transaction id, to clear it or move to
 * another one.  The flusher keeps the flag set all the time it is lazy,
 * and moves its virtual transaction id on (cycle) only after a sync that
 * covers every record written before the redo point of any checkpoint
 * waiting for it:
 *
 *	- a lazy record is written with the lock held and js->lazy set, which
 *	  the flusher sets (under the same lock) only after it set the flag:
 *	  a checkpoint whose redo point follows the record's WAL record sees
 *	  the flag (the WAL insertion locks order the two);
 *	- cycle reads the redo point (r1), then the records written (w), syncs
 *	  them, and moves on under ProcArrayLock, which the checkpointer holds
 *	  to read the flags, only if the redo point is still r1.  A checkpoint
 *	  that read the old id chose its redo point R before it did, so the
 *	  flusher's second read, after that, sees R: R = r1, set before w was
 *	  read, and each record before R was written before w was read;
 *	- leaving lazy mode (idle, or exiting) clears the flag under lock,
 *	  after everything written is synced.
 *
 * If the flusher is not lazy (not running, starting, or idle), each charge
 * syncs its own record, as the WAL writer's absence makes commits flush
 * their own WAL.
 *
 * The flusher never starts a transaction nor touches a buffer: with
 * DELAY_CHKPT_START held outside any critical section, a commit
 * (RecordTransactionCommit) or a hint bit's WAL record (MarkBufferDirtyHint)
 * in this process would trip their assertions that the flag is clear.
 */
#define FLUSHER_POLL_MS		10	/* the checkpointer waits in 10 ms steps too */

static XLogRecPtr flusher_redo = InvalidXLogRecPtr;	/* redo point at the last cycle */
static TimestampTz flusher_next_sync = 0;
static uint64 flusher_marked = PG_UINT64_MAX;	/* last value of budget.synced */

/* sync every record written so far; record it in budget.synced */
static void
flusher_sync_all(void)
{
	uint64		w = pg_atomic_read_u64(&js->written);

	if (w > pg_atomic_read_u64(&js->flushed))
	{
		/* opened on first use: a journal that failed closed is never written */
		privstat_journal_open();
		privstat_journal_flush(w - 1);
	}
	w = pg_atomic_read_u64(&js->flushed);
	if (w != flusher_marked && synced_write(w))
		flusher_marked = w;
}

/* sync, then let go of checkpoints that wait for records synced now; true if it did */
static bool
flusher_cycle(void)
{
	XLogRecPtr	r1 = GetRedoRecPtr();
	bool		moved;

	pg_memory_barrier();
	flusher_sync_all();
	LWLockAcquire(ProcArrayLock, LW_EXCLUSIVE);
	moved = GetRedoRecPtr() == r1;
	if (moved)
		MyProc->lxid = GetNextLocalTransactionId();
	LWLockRelease(ProcArrayLock);
	flusher_redo = r1;
	return moved;
}

static void
flusher_go_lazy(void)
{
	flusher_sync_all();
	/* before the flag: a checkpoint that begins after it is seen at once */
	flusher_redo = GetRedoRecPtr();
	MyProc->lxid = GetNextLocalTransactionId();
	MyProc->delayChkptFlags |= DELAY_CHKPT_START;
	LWLockAcquire(js->lock, LW_EXCLUSIVE);
	js->lazy = true;
	LWLockRelease(js->lock);
	flusher_next_sync = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), privstat_journal_sync_delay);
}

/* leave lazy mode if nothing was written since the last sync; true if it did */
static bool
flusher_go_eager(bool force)
{
	bool		left = false;

	LWLockAcquire(js->lock, LW_EXCLUSIVE);
	if (force || pg_atomic_read_u64(&js->written) == pg_atomic_read_u64(&js->flushed))
	{
		if (force)
			flusher_sync_all();
		js->lazy = false;
		MyProc->delayChkptFlags &= ~DELAY_CHKPT_START;
		left = true;
	}
	LWLockRelease(js->lock);
	return left;
}

/*
 * Exit: charges sync their own records from now on, and everything the
 * flusher left unsynced is synced before its flag goes.  In a critical
 * section, so that any error is a PANIC (an ERROR at exit would only end
 * this process and let waiting checkpoints complete): the crash restart
 * then replays the WAL from a checkpoint that could not complete without
 * this sync.  Backends stop waking a flusher that is gone.
 */
static void
flusher_detach(int code pg_attribute_unused(), Datum arg pg_attribute_unused())
{
	LWLockReleaseAll();
	if (js->lazy)
	{
		START_CRIT_SECTION();
		(void) flusher_go_eager(true);
		END_CRIT_SECTION();
	}
	js->flusher_latch = NULL;
	js->flusher_pid = 0;
}

/*
 * The journal flusher, a background worker.  Woken by a charge made while
 * it is not lazy, it syncs that record and goes lazy; while lazy it syncs
 * the journal every privstat.journal_sync_delay, and at once when a
 * checkpoint waits for it; once a sync finds nothing new, it stops holding
 * checkpoints and sleeps until the next charge.  Backends never depend on
 * it for correctness: a charge made while it is not lazy syncs its record
 * itself if the flusher has not.  It connects to no database: it needs a
 * backend id, for the virtual transaction id checkpoints wait on.
 */
void
privstat_journal_flusher_main(Datum arg pg_attribute_unused())
{
	bool		woken = false;

	pqsignal(SIGTERM, die);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	before_shmem_exit(flusher_detach, 0);
	/*
	 * A flusher's exit always clears lazy mode (or PANICs); should a
	 * predecessor have left it on all the same, hold checkpoints at once.
	 */
	if (js->lazy)
	{
		MyProc->lxid = GetNextLocalTransactionId();
		MyProc->delayChkptFlags |= DELAY_CHKPT_START;
	}
	js->flusher_pid = MyProcPid;
	js->flusher_latch = MyLatch;

	for (;;)
	{
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (!js->lazy)
		{
			/* woken by a charge: sync its record, then hold checkpoints */
			if (woken || pg_atomic_read_u64(&js->written) > pg_atomic_read_u64(&js->flushed))
			{
				woken = false;
				flusher_go_lazy();
				continue;
			}
			woken = (WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH, -1L,
							   PG_WAIT_EXTENSION) & WL_LATCH_SET) != 0;
			continue;
		}

		/* a charge asked for its WAL record to be flushed early */
		if ((XLogRecPtr) pg_atomic_read_u64(&js->early_lsn) > GetFlushRecPtr(NULL))
			XLogFlush((XLogRecPtr) pg_atomic_read_u64(&js->early_lsn));

		if (GetRedoRecPtr() != flusher_redo ||
			GetCurrentTimestamp() >= flusher_next_sync)
		{
			bool		idle = pg_atomic_read_u64(&js->written) == pg_atomic_read_u64(&js->flushed);

			if (!flusher_cycle())
				continue;		/* a checkpoint began meanwhile: at once again */
			flusher_next_sync = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
															privstat_journal_sync_delay);
			if (idle && flusher_go_eager(false))
				continue;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 FLUSHER_POLL_MS, PG_WAIT_EXTENSION);
	}
}
