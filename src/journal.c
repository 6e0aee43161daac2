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
 * server's durable store: PostgreSQL 15 gives a custom resource manager no
 * checkpoint hook, so nothing would make a record durable before a
 * checkpoint's redo point passed its WAL record.
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
 * Flushing.  A charging backend wakes the journal flusher (a background
 * worker), which fdatasyncs every record written so far while the backend
 * runs its query; the backend waits for its record (privstat_journal_flush)
 * before anything that depends on the charge leaves it.  Flushes are
 * grouped, the way commits share WAL flushes: whoever holds the flush lock
 * fsyncs every record written so far, and a backend whose record is already
 * covered returns without its own fsync.
 *
 * Locking protocol:
 *	- lock, the ledger's (exclusive), covers next_seq, last_mac, allocated,
 *	  timeline and the write of a record: callers of privstat_journal_append
 *	  hold it, so the journal and the ledger change together.
 *	- flush_lock (exclusive) covers the fdatasync; flushed only grows
 *	  (privstat_record_flushed), also after the lock-free sync of the error
 *	  path.  Waiters use LWLockAcquireOrWait, as XLogFlush does, so all of
 *	  them wake when a flush ends and most find their record covered.
 *	- A backend never holds both.
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
#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "postmaster/bgworker.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/timestamp.h"

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
	bool		fail_closed;	/* journal unreadable or corrupt: refuse to charge */
	Latch	   *flusher_latch;	/* the journal flusher's, or NULL */
	pid_t		flusher_pid;	/* its process id, or 0 */
} JournalShared;

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

void
privstat_journal_status(uint64 *written, uint64 *flushed, int *flusher_pid)
{
	*written = js != NULL ? pg_atomic_read_u64(&js->written) : 0;
	*flushed = js != NULL ? pg_atomic_read_u64(&js->flushed) : 0;
	*flusher_pid = js != NULL ? js->flusher_pid : 0;
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

	/* past the last good record: zeros to the end, or a torn tail, or worse */
	torn_end = good * sizeof(r);
	if (problem == NULL)
		torn_end = privstat_record_tail(fd, good, size, record_intact, &problem);

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

/* detach from shared memory: backends stop waking a flusher that is gone */
static void
flusher_detach(int code pg_attribute_unused(), Datum arg pg_attribute_unused())
{
	js->flusher_latch = NULL;
	js->flusher_pid = 0;
}

/*
 * The journal flusher, a background worker: woken by each charge, it
 * fdatasyncs every record written so far while the charging backends run
 * their queries, the way the WAL writer flushes for asynchronous commits.
 * Backends never depend on it for correctness: one that finds its record
 * not yet durable when it must be flushes the journal itself.
 */
void
privstat_journal_flusher_main(Datum arg pg_attribute_unused())
{
	pqsignal(SIGTERM, die);
	pqsignal(SIGHUP, SIG_IGN);
	BackgroundWorkerUnblockSignals();

	before_shmem_exit(flusher_detach, 0);
	js->flusher_pid = MyProcPid;
	js->flusher_latch = MyLatch;

	for (;;)
	{
		uint64		written;

		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		written = pg_atomic_read_u64(&js->written);
		if (written > pg_atomic_read_u64(&js->flushed))
		{
			/* opened on first use: a journal that failed closed is never written */
			privstat_journal_open();
			privstat_journal_flush(written - 1);
		}
		else
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH, -1L,
							 PG_WAIT_EXTENSION);
	}
}
