/*-------------------------------------------------------------------------
 *
 * audit.c
 *	  The tamper-evident audit trail of privacy-relevant events.
 *
 * The trail.  Every event is a 128-byte record of the same shape as the
 * budget journal's (budget.c, "Chained records"): a body, its CRC-32C, and
 * an HMAC-SHA-256, under a key of its own (KEY_PURPOSE_AUDIT), of the
 * previous record's HMAC and the body.  A changed byte, a removed record and
 * two swapped records all break the chain; privstat.verify_audit_log() names
 * the first record that does not fit.  An event whose text (a normalized
 * query, a key domain) does not fit in its record is followed by text
 * records, chained like any other.
 *
 * Segments.  Records go to files $PGDATA/privstat/audit/<segment number, 16
 * hex digits>.  Each segment starts with a header record that carries the
 * HMAC of the previous segment's last record, so a segment verifies on its
 * own once older ones are archived away; seq numbers continue across
 * segments.  A segment larger than privstat.audit_segment_size is closed and
 * a new one started by the next event; privstat.rotate_audit_log() does so
 * at once.  Only the newest segment is ever written.  A new segment is
 * created atomically (header in a temporary file, durable_rename()).  After
 * a rotation, segments beyond the newest privstat.audit_keep_segments are
 * removed, each copied first to privstat.audit_archive_directory if set
 * (trail_prune); privstat.audit_segments() lists those present.
 *
 * When events are recorded.
 *	- Budget events (charges, set/reset/adopt) are written under the budget
 *	  ledger lock right after their journal record, so the trail holds them
 *	  in journal order.  They are not flushed: the budget journal's flush is
 *	  their durable copy, and at startup the trail catches up with every
 *	  journal record past the last one it holds (marked "recovered").  A
 *	  charge thus costs no second fsync, and a crash loses no charge.
 *	- Refusals are written (not flushed) before the error is raised.
 *	- Unseals are counted per statement and written, and flushed, when its
 *	  executor ends, or when the transaction ends or aborts: not
 *	  transactional, they survive ROLLBACK.
 *	- Configuration changes (policy, access levels, retention rules, key
 *	  rotations), rekeys and purges are transactional: collected by row
 *	  triggers and C entry points, written and flushed at PRE_COMMIT, and
 *	  forgotten when the (sub)transaction aborts.  A failure to record makes
 *	  the commit fail: a change never commits unrecorded.
 *
 * Never in the trail: values, un-noised results, keys.  Query text is
 * lexed and every literal replaced by "?".
 *
 * Locking protocol (as the budget journal's):
 *	- lock (exclusive) covers next_seq, last_mac, the current segment, its
 *	  allocated size, budget_next, and the write of records.
 *	- flush_lock (exclusive) covers the fdatasync of the current segment and
 *	  flushed.  Rotation takes flush_lock while holding lock (the only place
 *	  both are held, always in that order), so a flusher sees a stable
 *	  segment number.
 *	- The budget ledger lock may be held when lock is taken, never the
 *	  other way round.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/htup_details.h"
#include "access/parallel.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "parser/parser.h"
#include "parser/scanner.h"
#include "parser/gram.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "privstat/audit.h"
#include "privstat/common.h"
#include "privstat/keys.h"
#include "privstat/records.h"
#include "privstat/wal.h"

#define AUDIT_DIR			"privstat/audit"
#define AUDIT_MAGIC			0x41545350	/* "PSTA" */
#define AUDIT_FORMAT		1
#define AUDIT_KEY_DOMAIN	"trail"
#define AUDIT_CHUNK			(256 * 1024)

/*
 * The highest sequence number a record may have: 2^40 below 2^64, far
 * beyond any real trail (2^40 records are 128 TB), so that no arithmetic on
 * sequence numbers of a segment can wrap.  A record past it is forged, and
 * replay fails closed; the writer refuses to pass it, so whatever it writes
 * after a clean replay replays clean too.
 */
#define AUDIT_SEQ_LIMIT		(PG_UINT64_MAX - ((uint64) 1 << 40))
#define AUDIT_TEXT_MAX		1024	/* bytes of query text kept per event */
#define AUDIT_TEXT_PER_RECORD 72

/* Record types.  Never renumber: they are on disk. */
typedef enum AuditType
{
	AR_SEGMENT = 1,				/* segment header */
	AR_TEXT = 2,				/* text of the event before it */
	AR_CHARGE = 10,
	AR_REFUSAL = 11,
	AR_BUDGET_SET = 12,
	AR_BUDGET_RESET = 13,
	AR_BUDGET_ADOPT = 14,
	AR_CACHED_RELEASE = 15,		/* an answer released again, without a charge */
	AR_BUDGET_LOST = 16,		/* budget journal records lost from journal and trail */
	AR_POLICY = 20,
	AR_ACCESS = 21,
	AR_RETENTION = 22,
	AR_KEY_ROTATION = 23,
	AR_UNSEAL = 30,
	AR_REKEY = 31,
	AR_PURGE = 32
} AuditType;

/* an event of a budget journal record: its ref is the record's seq */
static inline bool
is_budget_event(int type)
{
	return type == AR_CHARGE || type == AR_BUDGET_SET || type == AR_BUDGET_RESET ||
		type == AR_BUDGET_ADOPT || type == AR_BUDGET_LOST;
}

typedef enum AuditOp
{
	AOP_NONE = 0,
	AOP_INSERT,
	AOP_UPDATE,
	AOP_DELETE,
	AOP_TRUNCATE,
	AOP_RECOVERED				/* budget event recovered from the journal */
} AuditOp;

/* One record: 128 bytes, written and read as is; every byte is checked. */
typedef struct AuditRecord
{
	uint32		magic;
	uint16		format;
	uint16		type;			/* AuditType */
	uint64		seq;			/* 0, 1, 2, ... across segments */
	union
	{
		struct
		{
			int64		ts;		/* TimestampTz */
			Oid			actor;	/* the role that acted */
			Oid			role;	/* the role concerned (whose budget, ...) */
			Oid			dbid;
			Oid			relid;	/* table concerned, in dbid */
			double		epsilon;
			double		delta;
			int64		count;	/* values unsealed, rows purged, key version */
			uint64		ref;	/* budget journal seq of budget events */
			uint16		op;		/* AuditOp */
			uint16		textlen;	/* bytes in the AR_TEXT records that follow */
			char		detail[12]; /* short, NUL-padded */
		}			ev;
		struct
		{
			int64		ts;
			uint64		segno;
			uint64		budget_next;	/* budget journal seq the trail expects next */
			uint8		prev_mac[32];	/* HMAC of the previous segment's last record */
			uint64		audit_lsn;	/* WAL record of the last logged event before it */
			uint8		zero[8];
		}			seg;
		char		text[AUDIT_TEXT_PER_RECORD];
	}			u;
	uint32		reserved;		/* zero */
	pg_crc32c	crc;
	uint8		mac[32];
} AuditRecord;

StaticAssertDecl(sizeof(AuditRecord) == PRIVSTAT_RECORD_SIZE, "audit records are 128 bytes");
StaticAssertDecl(offsetof(AuditRecord, crc) == PRIVSTAT_RECORD_BODY, "audit record body");

typedef struct AuditShared
{
	LWLock	   *lock;
	LWLock	   *flush_lock;
	uint64		next_seq;		/* under lock */
	uint8		last_mac[32];	/* under lock */
	uint64		segno;			/* current segment; under lock and flush_lock */
	uint64		seg_first;		/* seq of its header */
	uint64		allocated;		/* bytes of its file */
	uint64		budget_next;	/* next budget journal seq to record */
	XLogRecPtr	audit_lsn;		/* under lock: WAL record of the last logged event in the trail */
	pg_atomic_uint64 written;	/* records written (seq + 1) */
	pg_atomic_uint64 flushed;	/* records durable (under flush_lock) */
	pg_atomic_flag pruning;		/* a process is removing old segments */
	bool		fail_closed;
} AuditShared;

/* a transactional event waiting for commit */
typedef struct PendingEvent
{
	int			level;			/* transaction nest level that made it */
	AuditRecord rec;
	char		text[PRIVSTAT_DOMAIN_MAX_LEN + NAMEDATALEN + 2];
} PendingEvent;

int			privstat_audit_segment_size = 64;
int			privstat_audit_keep_segments = 16;
char	   *privstat_audit_archive_directory = NULL;

static AuditShared *shared = NULL;
static File seg_file = -1;
static int	pm_fd = -1;
static uint64 seg_file_no = 0;
static bool prune_due = false;	/* this process rotated: old segments may go */

/* backend state */
static char query_buf[AUDIT_TEXT_MAX + 1];
static int	query_len = 0;
static int64 unseal_count = 0;
static List *pending = NIL;		/* of PendingEvent, in TopTransactionContext */
static int64 reseal_count = 0;
static int	reseal_level = 0;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static ExecutorEnd_hook_type prev_ExecutorEnd = NULL;

static void segment_close(void);
static void trail_prune(void);
static void audit_shmem_request(void);
static void audit_shmem_startup(void);
static void audit_ExecutorEnd(QueryDesc *queryDesc);
static void audit_xact_callback(XactEvent event, void *arg);
static void audit_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
								   SubTransactionId parentSubid, void *arg);


/* ---------------------------------------------------------------------------
 * Records and segments
 * ---------------------------------------------------------------------------
 */

static PrivstatKey *
audit_key(void)
{
	return privstat_get_key(KEY_PURPOSE_AUDIT, AUDIT_KEY_DOMAIN, 1);
}

static bool
audit_crc_ok(const void *rec)
{
	const AuditRecord *r = rec;

	return r->magic == AUDIT_MAGIC && r->format == AUDIT_FORMAT && privstat_record_crc_ok(r);
}

static void
segment_path(uint64 segno, char *path)
{
	snprintf(path, MAXPGPATH, AUDIT_DIR "/%016llX", (unsigned long long) segno);
}

static int
segno_cmp(const ListCell *a, const ListCell *b)
{
	uint64		x = *(uint64 *) lfirst(a);
	uint64		y = *(uint64 *) lfirst(b);

	return x < y ? -1 : x > y ? 1 : 0;
}

/* the segment numbers present in AUDIT_DIR, oldest first */
static List *
list_segments(void)
{
	DIR		   *dir = AllocateDir(AUDIT_DIR);
	struct dirent *de;
	List	   *segs = NIL;

	while ((de = ReadDir(dir, AUDIT_DIR)) != NULL)
	{
		uint64	   *n;

		if (strlen(de->d_name) != 16 || strspn(de->d_name, "0123456789ABCDEF") != 16)
			continue;
		n = palloc(sizeof(uint64));
		*n = strtou64(de->d_name, NULL, 16);
		segs = lappend(segs, n);
	}
	FreeDir(dir);
	list_sort(segs, segno_cmp);
	return segs;
}

/*
 * This process's handle on the current segment; caller holds lock or
 * flush_lock.  Backends use a VFD; the postmaster, which writes at startup
 * only and has no VFD cache, a transient file (pm_fd).
 */
static void
segment_open(void)
{
	char		path[MAXPGPATH];

	if ((seg_file >= 0 || pm_fd >= 0) && seg_file_no == shared->segno)
		return;
	segment_close();
	segment_path(shared->segno, path);
	if (IsUnderPostmaster)
		seg_file = PathNameOpenFilePerm(path, O_RDWR | PG_BINARY, S_IRUSR | S_IWUSR);
	else
		pm_fd = OpenTransientFilePerm(path, O_RDWR | PG_BINARY, S_IRUSR | S_IWUSR);
	if (seg_file < 0 && pm_fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open privstat audit segment \"%s\": %m", path)));
	seg_file_no = shared->segno;
}

static void
segment_close(void)
{
	if (seg_file >= 0)
		FileClose(seg_file);
	if (pm_fd >= 0)
		CloseTransientFile(pm_fd);
	seg_file = -1;
	pm_fd = -1;
}

static int
segment_pwrite(const void *buf, int len, off_t pos)
{
	if (pm_fd >= 0)
		return pg_pwrite(pm_fd, buf, len, pos);
	return FileWrite(seg_file, (char *) buf, len, pos, WAIT_EVENT_DATA_FILE_WRITE);
}

static int
segment_sync(void)
{
	segment_open();
	if (pm_fd >= 0)
		return pg_fsync(pm_fd);
	if (FileGetRawDesc(seg_file) >= 0)
		return pg_fdatasync(FileGetRawDesc(seg_file));
	return FileSync(seg_file, WAIT_EVENT_DATA_FILE_SYNC);
}

static bool
segment_extend(off_t at)
{
	char	   *zeros;
	int			written;

	if (seg_file >= 0)
		return privstat_record_file_extend(seg_file, at, AUDIT_CHUNK);
	/* the postmaster, at startup: the same, on its transient file */
	zeros = palloc0(AUDIT_CHUNK);
	written = segment_pwrite(zeros, AUDIT_CHUNK, at);
	pfree(zeros);
	if (written == AUDIT_CHUNK && pg_fsync(pm_fd) == 0)
		return true;
	{
		int			save_errno = written >= 0 && written != AUDIT_CHUNK ? ENOSPC : errno;

		if (ftruncate(pm_fd, at) != 0)
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("could not truncate privstat audit segment: %m")));
		errno = save_errno;
	}
	return false;
}

/*
 * Fail, before writing anything, when n more records would pass
 * AUDIT_SEQ_LIMIT (which replay refuses).
 */
static void
reserve_seqs(uint64 n)
{
	if (shared->next_seq > AUDIT_SEQ_LIMIT + 1 - n)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("privstat audit trail has used up its sequence numbers")));
}

/*
 * Seal n records for the next n positions of the current segment and write
 * them with one write; caller holds lock exclusively (or is the postmaster).
 * On a failed write nothing changes.  Returns the first record's seq.
 */
static uint64
trail_write(AuditRecord *recs, int n)
{
	uint64		first = shared->next_seq;
	uint8		mac[32];
	off_t		pos;
	size_t		len = n * sizeof(AuditRecord);
	int			written;
	char		path[MAXPGPATH];

	segment_open();
	memcpy(mac, shared->last_mac, sizeof(mac));
	for (int i = 0; i < n; i++)
	{
		recs[i].magic = AUDIT_MAGIC;
		recs[i].format = AUDIT_FORMAT;
		recs[i].seq = first + i;
		privstat_record_seal(&recs[i], mac, audit_key());
		memcpy(mac, recs[i].mac, sizeof(mac));
	}
	pos = (first - shared->seg_first) * sizeof(AuditRecord);
	segment_path(shared->segno, path);
	while (pos + len > shared->allocated)
	{
		if (!segment_extend(shared->allocated))
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not extend privstat audit segment \"%s\": %m", path)));
		shared->allocated += AUDIT_CHUNK;
	}
	written = segment_pwrite(recs, len, pos);
	if (written != (int) len)
	{
		if (written >= 0)
			errno = ENOSPC;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write privstat audit segment \"%s\": %m", path)));
	}
	shared->next_seq = first + n;
	memcpy(shared->last_mac, mac, sizeof(mac));
	pg_write_barrier();
	pg_atomic_write_u64(&shared->written, shared->next_seq);
	return first;
}

static void
trail_flush(uint64 seq)
{
	privstat_record_flush(shared->flush_lock, &shared->written, &shared->flushed, seq,
						  segment_sync, AUDIT_DIR);
}

/*
 * Close the current segment (durably) and start segment segno + 1 with a
 * header that carries the chain on.  Caller holds lock exclusively, or is
 * the postmaster with shared->segno == 0 (no segment yet).
 *
 * The header is written to a temporary file, fsynced, and renamed into
 * place with durable_rename() (which fsyncs the file and the directory): a
 * crash leaves either no new segment or one with its header, never an empty
 * one.  (An empty newest segment left by an older version is removed at
 * start: trail_replay.)
 */
static void
trail_rotate(void)
{
	char		path[MAXPGPATH];
	char		tmppath[MAXPGPATH];
	int			fd;
	int			written;
	struct stat st;
	AuditRecord h;
	bool		postmaster = !IsUnderPostmaster;

	reserve_seqs(1);
	if (!postmaster)
		LWLockAcquire(shared->flush_lock, LW_EXCLUSIVE);
	if (shared->segno != 0)
	{
		if (segment_sync() != 0)
			ereport(data_sync_elevel(ERROR),
					(errcode_for_file_access(),
					 errmsg("could not fsync privstat audit segment: %m")));
	}

	memset(&h, 0, sizeof(h));
	h.magic = AUDIT_MAGIC;
	h.format = AUDIT_FORMAT;
	h.type = AR_SEGMENT;
	h.seq = shared->next_seq;
	h.u.seg.ts = GetCurrentTimestamp();
	h.u.seg.segno = shared->segno + 1;
	h.u.seg.budget_next = shared->budget_next;
	h.u.seg.audit_lsn = shared->audit_lsn;
	memcpy(h.u.seg.prev_mac, shared->last_mac, 32);
	privstat_record_seal(&h, shared->last_mac, audit_key());

	segment_path(h.u.seg.segno, path);
	snprintf(tmppath, MAXPGPATH, "%s.tmp", path);
	if (stat(path, &st) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_FILE),
				 errmsg("could not create privstat audit segment \"%s\": it already exists", path)));
	fd = OpenTransientFilePerm(tmppath, O_RDWR | O_CREAT | O_TRUNC | PG_BINARY, S_IRUSR | S_IWUSR);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create privstat audit segment \"%s\": %m", tmppath)));
	written = pg_pwrite(fd, &h, sizeof(h), 0);
	if (written != sizeof(h))
	{
		if (written >= 0)
			errno = ENOSPC;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write privstat audit segment \"%s\": %m", tmppath)));
	}
	if (pg_fsync(fd) != 0)
		ereport(data_sync_elevel(ERROR),
				(errcode_for_file_access(),
				 errmsg("could not fsync privstat audit segment \"%s\": %m", tmppath)));
	CloseTransientFile(fd);
	durable_rename(tmppath, path, ERROR);

	segment_close();
	shared->segno = h.u.seg.segno;
	shared->seg_first = h.seq;
	shared->allocated = sizeof(h);
	shared->next_seq++;
	memcpy(shared->last_mac, h.mac, 32);
	pg_write_barrier();
	pg_atomic_write_u64(&shared->written, shared->next_seq);
	pg_atomic_write_u64(&shared->flushed, shared->next_seq);
	prune_due = true;
	if (!postmaster)
		LWLockRelease(shared->flush_lock);
}

/* records an event with textlen bytes of text takes */
static int
event_records(int textlen)
{
	return 1 + (textlen + AUDIT_TEXT_PER_RECORD - 1) / AUDIT_TEXT_PER_RECORD;
}

/*
 * Make the current segment ready for n more records: rotated if they would
 * take it past privstat.audit_segment_size, grown (durably) until they fit
 * in its preallocated zeros.  After this, writing them cannot fail for want
 * of space.  Caller holds lock exclusively (or is the postmaster).
 */
static void
trail_reserve(int n)
{
	uint64		limit = (uint64) privstat_audit_segment_size * 1024 * 1024;
	bool		rotate = (shared->next_seq + n - shared->seg_first) * sizeof(AuditRecord) > limit &&
		shared->next_seq > shared->seg_first + 1;
	char		path[MAXPGPATH];

	/* all of the event's records (and a new segment's header), or none */
	reserve_seqs((rotate ? 1 : 0) + n);
	if (rotate)
		trail_rotate();
	segment_open();
	while ((shared->next_seq + n - shared->seg_first) * sizeof(AuditRecord) > shared->allocated)
	{
		if (!segment_extend(shared->allocated))
		{
			segment_path(shared->segno, path);
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not extend privstat audit segment \"%s\": %m", path)));
		}
		shared->allocated += AUDIT_CHUNK;
	}
}

/*
 * Write an event and its text records, all in one segment; caller holds
 * lock exclusively.  Returns the event's seq.
 */
static uint64
trail_event(AuditRecord *r, const char *text, int textlen)
{
	AuditRecord recs[1 + (AUDIT_TEXT_MAX + AUDIT_TEXT_PER_RECORD - 1) / AUDIT_TEXT_PER_RECORD];
	int			n = event_records(textlen);

	Assert(textlen >= 0 && textlen <= AUDIT_TEXT_MAX);
	trail_reserve(n);
	r->u.ev.textlen = textlen;
	recs[0] = *r;
	memset(recs + 1, 0, (n - 1) * sizeof(AuditRecord));
	for (int i = 1; i < n; i++)
	{
		recs[i].type = AR_TEXT;
		memcpy(recs[i].u.text, text + (i - 1) * AUDIT_TEXT_PER_RECORD,
			   Min(AUDIT_TEXT_PER_RECORD, textlen - (i - 1) * AUDIT_TEXT_PER_RECORD));
	}
	/* the event and its text in one write */
	return trail_write(recs, n);
}

/* a record of an event, filled with what every event carries */
static void
event_init(AuditRecord *r, AuditType type)
{
	memset(r, 0, sizeof(*r));
	r->type = type;
	r->u.ev.ts = GetCurrentTimestamp();
	r->u.ev.actor = GetUserId();
	r->u.ev.dbid = MyDatabaseId;
}

/* write (and optionally flush) one event, taking the lock */
/*
 * An event written live on a primary: room made in the trail, then into the
 * WAL (under the trail's lock, so the WAL has the events in trail order),
 * its WAL record's LSN kept in the event's ref, then into the trail.  A
 * standby's redo (privstat_audit_redo) writes the same event into its own
 * trail; crash recovery skips what the trail has by that LSN.  Budget events
 * are not written here: their journal records carry them.  Caller holds
 * lock exclusively.
 */
static uint64
trail_event_logged(AuditRecord *r, const char *text, int textlen)
{
	if (IsUnderPostmaster && !RecoveryInProgress())
	{
		trail_reserve(event_records(textlen));
		r->u.ev.textlen = textlen;
		r->u.ev.ref = 0;
		(void) privstat_wal_insert(XLOG_PRIVSTAT_AUDIT, r, sizeof(*r), text, textlen);
		/* where the record starts: what redo sees as its LSN */
		r->u.ev.ref = ProcLastRecPtr;
		shared->audit_lsn = Max(shared->audit_lsn, ProcLastRecPtr);
	}
	return trail_event(r, text, textlen);
}

void
privstat_audit_redo(XLogRecPtr lsn, const char *data, Size len)
{
	AuditRecord r;
	int			textlen;

	if (shared == NULL || shared->fail_closed)
		return;
	if (len < sizeof(r) || len > sizeof(r) + AUDIT_TEXT_MAX)
	{
		ereport(LOG,
				(errmsg("privstat: an audit WAL record of %zu bytes was skipped", len)));
		return;
	}
	memcpy(&r, data, sizeof(r));
	if (r.type < AR_CHARGE || is_budget_event(r.type))
		return;
	textlen = (int) (len - sizeof(r));
	PG_TRY();
	{
		LWLockAcquire(shared->lock, LW_EXCLUSIVE);
		if (lsn > shared->audit_lsn)
		{
			r.u.ev.ref = lsn;
			trail_event(&r, textlen > 0 ? data + sizeof(r) : NULL, textlen);
			shared->audit_lsn = lsn;
		}
		LWLockRelease(shared->lock);
	}
	PG_CATCH();
	{
		privstat_error_to_log("privstat could not record an audit event during recovery");
	}
	PG_END_TRY();
}

static void
record_event(AuditRecord *r, const char *text, int textlen, bool flush)
{
	uint64		seq;

	privstat_audit_check_writable();
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	seq = trail_event_logged(r, text, textlen);
	LWLockRelease(shared->lock);
	if (flush)
		trail_flush(seq);
	if (prune_due)
		trail_prune();
}


/* ---------------------------------------------------------------------------
 * Bounded growth: removing (and archiving) old segments
 * ---------------------------------------------------------------------------
 */

/* the header of a segment: false if it cannot be read or is not one */
static bool
segment_header(uint64 segno, AuditRecord *h)
{
	char		path[MAXPGPATH];
	int			fd;
	bool		ok;

	segment_path(segno, path);
	fd = open(path, O_RDONLY | PG_BINARY, 0);
	if (fd < 0)
		return false;
	ok = pg_pread(fd, h, sizeof(*h), 0) == sizeof(*h) && audit_crc_ok(h) &&
		h->type == AR_SEGMENT && h->u.seg.segno == segno;
	close(fd);
	return ok;
}

/*
 * Copy a segment durably to the archive directory (to a temporary name,
 * fsynced, then durable_rename()).  A file of that name already there is
 * accepted only if it holds the same bytes.  Reports at LOG and returns
 * false on any failure; never raises an error.
 */
static bool
segment_archive(const char *src, const char *name)
{
	char		dst[MAXPGPATH];
	char		tmp[MAXPGPATH];
	char	   *a = palloc(BLCKSZ * 8);
	char	   *b = palloc(BLCKSZ * 8);
	int			in = -1;
	int			out = -1;
	bool		ok = false;
	bool		exists;
	ssize_t		n;
	struct stat st;

	snprintf(dst, MAXPGPATH, "%s/%s", privstat_audit_archive_directory, name);
	snprintf(tmp, MAXPGPATH, "%s.tmp", dst);
	exists = stat(dst, &st) == 0;
	in = open(src, O_RDONLY | PG_BINARY, 0);
	if (in < 0)
		goto fail;
	out = exists ? open(dst, O_RDONLY | PG_BINARY, 0) :
		open(tmp, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY, S_IRUSR | S_IWUSR);
	if (out < 0)
		goto fail;
	while ((n = read(in, a, BLCKSZ * 8)) > 0)
	{
		errno = 0;
		if (exists ? read(out, b, n) != n || memcmp(a, b, n) != 0 : write(out, a, n) != n)
		{
			if (exists)
			{
				ereport(LOG,
						(errmsg("privstat audit segment \"%s\" is not archived: \"%s\" exists with other contents",
								src, dst)));
				goto done;
			}
			if (errno == 0)
				errno = ENOSPC;
			goto fail;
		}
	}
	if (n < 0 || (exists && read(out, b, 1) != 0))
		goto fail;
	if (!exists && pg_fsync(out) != 0)
		goto fail;
	if (close(out) != 0 && !exists)
	{
		out = -1;
		goto fail;
	}
	out = -1;
	ok = exists || durable_rename(tmp, dst, LOG) == 0;
	goto done;

fail:
	ereport(LOG,
			(errcode_for_file_access(),
			 errmsg("could not archive privstat audit segment \"%s\" to \"%s\": %m", src, dst)));
done:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	if (!ok && !exists)
		unlink(tmp);
	pfree(a);
	pfree(b);
	return ok;
}

/*
 * Remove the segments beyond the newest privstat.audit_keep_segments, oldest
 * first, each copied to privstat.audit_archive_directory first if that is
 * set; each removal is logged with the records it held.  Runs after a
 * rotation, outside the trail's locks, in whichever process rotated; one
 * process at a time (others skip).  A segment that cannot be read, archived
 * or removed is kept (and logged): removal stops there and is tried again
 * after the next rotation.  Never raises an error.
 */
static void
trail_prune(void)
{
	MemoryContext cxt = CurrentMemoryContext;

	prune_due = false;
	if (privstat_audit_keep_segments <= 0 || shared == NULL || shared->fail_closed ||
		!pg_atomic_test_set_flag(&shared->pruning))
		return;
	PG_TRY();
	{
		List	   *segs = list_segments();
		int			excess = list_length(segs) - privstat_audit_keep_segments;
		bool		removed = false;

		for (int i = 0; i < excess; i++)
		{
			uint64		segno = *(uint64 *) list_nth(segs, i);
			uint64		next = *(uint64 *) list_nth(segs, i + 1);
			char		path[MAXPGPATH];
			AuditRecord h;
			AuditRecord hnext;

			segment_path(segno, path);
			if (!segment_header(segno, &h) || !segment_header(next, &hnext) || hnext.seq <= h.seq)
			{
				ereport(LOG,
						(errmsg("privstat audit segment \"%s\" is kept: it or the next segment has no valid header", path),
						 errhint("Verify the trail with privstat.verify_audit_log().")));
				break;
			}
			if (privstat_audit_archive_directory[0] != '\0' &&
				!segment_archive(path, path + strlen(AUDIT_DIR) + 1))
				break;
			if (unlink(path) != 0)
			{
				ereport(LOG,
						(errcode_for_file_access(),
						 errmsg("could not remove privstat audit segment \"%s\": %m", path)));
				break;
			}
			removed = true;
			ereport(LOG,
					(errmsg("privstat audit trail: removed segment \"%s\" holding records %llu to %llu%s",
							path, (unsigned long long) h.seq, (unsigned long long) (hnext.seq - 1),
							privstat_audit_archive_directory[0] != '\0' ? ", archived first" : ""),
					 errdetail("privstat.audit_keep_segments is %d.", privstat_audit_keep_segments)));
		}
		if (removed)
			fsync_fname(AUDIT_DIR, true);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		ereport(LOG,
				(errmsg("privstat audit trail: could not remove old segments: %s", edata->message)));
		FreeErrorData(edata);
	}
	PG_END_TRY();
	pg_atomic_clear_flag(&shared->pruning);
}

/* ---------------------------------------------------------------------------
 * Startup: replay the newest segment, catch up with the budget journal
 * ---------------------------------------------------------------------------
 */

/* the budget journal, registered by the budget module */
static const PrivstatBudgetJournal *budget_journal = NULL;

void
privstat_audit_set_budget_journal(const PrivstatBudgetJournal *journal)
{
	budget_journal = journal;
}

static void
recover_budget_event(const PrivstatBudgetEvent *ev)
{
	privstat_audit_budget_event(ev, false);
}

static void
audit_failed(const char *what, const char *detail)
{
	shared->fail_closed = true;
	ereport(LOG,
			(errmsg("privstat audit trail: %s: privstat refuses to record events, and so to charge budgets, unseal values or change its configuration", what),
			 detail ? errdetail("%s", detail) : 0,
			 errhint("See doc/audit.md, \"Recovery\": restore the segment from an archive, or move it away, and restart.")));
}

/* a segment file holding nothing but zeros (or nothing at all) */
static bool
segment_is_empty(uint64 segno)
{
	char		path[MAXPGPATH];
	char		buf[PRIVSTAT_RECORD_SIZE * 64];
	int			fd;
	ssize_t		n;
	bool		empty = true;

	segment_path(segno, path);
	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
		return false;
	while (empty && (n = read(fd, buf, sizeof(buf))) != 0)
	{
		if (n < 0)
			empty = false;
		for (ssize_t i = 0; empty && i < n; i++)
			empty = buf[i] == 0;
	}
	CloseTransientFile(fd);
	return empty;
}

/*
 * Before replay: remove the temporary files of a segment creation that a
 * crash interrupted (trail_rotate), and a newest segment that is empty, all
 * zeros (a crash between its creation and its header, by a version that did
 * not create segments atomically): a torn tail, cut and logged.  It is not
 * cut if it is the only segment and older ones were archived away (the chain
 * could not be carried on): replay then fails closed.  Returns the segments
 * left.
 */
static List *
trail_cut_torn_segments(List *segs)
{
	DIR		   *dir = AllocateDir(AUDIT_DIR);
	struct dirent *de;
	char		path[MAXPGPATH];
	bool		cut = false;

	while ((de = ReadDir(dir, AUDIT_DIR)) != NULL)
	{
		if (strlen(de->d_name) != 20 || strspn(de->d_name, "0123456789ABCDEF") != 16 ||
			strcmp(de->d_name + 16, ".tmp") != 0)
			continue;
		snprintf(path, MAXPGPATH, AUDIT_DIR "/%s", de->d_name);
		if (unlink(path) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not remove \"%s\": %m", path)));
		ereport(LOG,
				(errmsg("privstat audit trail: removed \"%s\", left by a crash while a segment was created", path)));
		cut = true;
	}
	FreeDir(dir);

	while (segs != NIL)
	{
		uint64		segno = *(uint64 *) llast(segs);

		if (!segment_is_empty(segno) || (list_length(segs) == 1 && segno != 1))
			break;
		segment_path(segno, path);
		if (unlink(path) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not remove empty privstat audit segment \"%s\": %m", path)));
		ereport(LOG,
				(errmsg("privstat audit trail: removed empty newest segment \"%s\" (a torn tail: a crash came before its header was written)",
						path)));
		segs = list_delete_last(segs);
		cut = true;
	}
	if (cut)
		fsync_fname(AUDIT_DIR, true);
	return segs;
}

/*
 * Replay the newest segment into shared memory: in the postmaster, at start
 * and after a crash restart.  A torn tail is cut and logged; anything else
 * wrong makes privstat fail closed.
 */
static void
trail_replay(void)
{
	List	   *segs;
	char		path[MAXPGPATH];
	int			fd;
	struct stat st;
	AuditRecord r;
	uint64		n;
	uint64		good = 0;
	uint8		prev[32];
	const char *problem = NULL;
	off_t		torn_end;

	if (MakePGDirectory(AUDIT_DIR) < 0 && errno != EEXIST)
	{
		audit_failed("could not create its directory", strerror(errno));
		return;
	}
	segs = list_segments();
	segs = trail_cut_torn_segments(segs);
	if (segs == NIL)
	{
		/* a new trail: segment 1 starts the chain; budget events since the journal began follow */
		memset(shared->last_mac, 0, 32);
		trail_rotate();
		segment_close();
		fsync_fname(AUDIT_DIR, true);
		fsync_fname("privstat", true);
		return;
	}
	shared->segno = *(uint64 *) llast(segs);
	segment_path(shared->segno, path);
	fd = OpenTransientFilePerm(path, O_RDWR | PG_BINARY, S_IRUSR | S_IWUSR);
	if (fd < 0 || fstat(fd, &st) != 0)
	{
		audit_failed("could not open its newest segment", path);
		if (fd >= 0)
			CloseTransientFile(fd);
		return;
	}
	for (n = 0; (off_t) ((n + 1) * sizeof(r)) <= st.st_size; n++)
	{
		if (pg_pread(fd, &r, sizeof(r), n * sizeof(r)) != sizeof(r))
			break;
		if (privstat_record_is_zero(&r) || !audit_crc_ok(&r))
			break;
		if (n == 0)
		{
			if (r.type != AR_SEGMENT || r.u.seg.segno != shared->segno)
			{
				problem = "the segment does not start with its header";
				break;
			}
		}
		/* sequence numbers past the limit: forged (see AUDIT_SEQ_LIMIT) */
		if (r.seq > AUDIT_SEQ_LIMIT)
		{
			problem = "a record's sequence number is out of range";
			break;
		}
		if (n == 0)
		{
			memcpy(prev, r.u.seg.prev_mac, 32);
			shared->seg_first = r.seq;
			shared->budget_next = r.u.seg.budget_next;
			shared->audit_lsn = r.u.seg.audit_lsn;
		}
		/* a header only at the start, as verify_audit_log() checks too */
		if (r.seq != shared->seg_first + n || (n > 0 && r.type == AR_SEGMENT) ||
			!privstat_record_mac_ok(&r, prev, audit_key()))
		{
			problem = "a record's HMAC or position does not match the chain (changed, removed or reordered records)";
			break;
		}
		if ((n == 0 && r.u.seg.budget_next > PRIVSTAT_BUDGET_SEQ_LIMIT) ||
			(is_budget_event(r.type) && r.u.ev.ref >= PRIVSTAT_BUDGET_SEQ_LIMIT))
		{
			problem = "a budget journal record number is out of range";
			break;
		}
		if (is_budget_event(r.type))
			shared->budget_next = Max(shared->budget_next, r.u.ev.ref + 1);
		else if (r.type >= AR_CHARGE)
			shared->audit_lsn = Max(shared->audit_lsn, r.u.ev.ref);
		memcpy(prev, r.mac, 32);
		good = n + 1;
	}
	if (good == 0 && problem == NULL)
		problem = "the segment has no intact header";
	torn_end = good * sizeof(r);
	if (problem == NULL)
		torn_end = privstat_record_tail(fd, good, st.st_size, MaxBackends, audit_crc_ok, &problem);
	if (problem != NULL)
	{
		CloseTransientFile(fd);
		audit_failed(psprintf("segment \"%s\" is corrupt at record %llu", path,
							  (unsigned long long) (shared->seg_first + good)), problem);
		return;
	}
	if (torn_end > (off_t) (good * sizeof(r)))
	{
		off_t		len = torn_end - good * sizeof(r);
		char	   *zeros = palloc0(len);

		if (pg_pwrite(fd, zeros, len, good * sizeof(r)) != len || pg_fsync(fd) != 0)
		{
			CloseTransientFile(fd);
			audit_failed("could not cut a torn tail", path);
			return;
		}
		ereport(LOG,
				(errmsg("privstat audit segment \"%s\": cut a torn tail of %lld bytes after record %llu",
						path, (long long) len, (unsigned long long) (shared->seg_first + good - 1))));
	}
	CloseTransientFile(fd);
	shared->next_seq = shared->seg_first + good;
	shared->allocated = st.st_size - st.st_size % sizeof(r);
	memcpy(shared->last_mac, prev, 32);
	pg_atomic_write_u64(&shared->written, shared->next_seq);
	pg_atomic_write_u64(&shared->flushed, shared->next_seq);
}

static void journal_restore(uint64 next, uint64 target);

/*
 * The budget journal's records the trail lacks (a crash came between them),
 * and the trail's (or, past both, those budget.synced says the journal had)
 * that the journal lacks.
 */
static void
trail_catch_up(void)
{
	uint64		before = shared->next_seq;
	uint64		next;

	if (budget_journal != NULL)
	{
		uint64		target = Max(shared->budget_next, budget_journal->synced());

		next = budget_journal->scan(shared->budget_next, recover_budget_event);
		if (next != PG_UINT64_MAX && next < target)
			journal_restore(next, target);
	}
	if (shared->next_seq > before)
	{
		if (segment_sync() != 0)
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("could not fsync privstat audit segment: %m")));
		ereport(LOG,
				(errmsg("privstat audit trail: recorded %llu budget events from the budget journal",
						(unsigned long long) (shared->next_seq - before)),
				 errdetail("The server stopped after they were journaled and before the trail was written.")));
	}
	segment_close();
	pg_atomic_write_u64(&shared->flushed, shared->next_seq);
}


/* ---------------------------------------------------------------------------
 * Shared memory, hooks, callbacks
 * ---------------------------------------------------------------------------
 */

void
privstat_audit_init(void)
{
	DefineCustomIntVariable("privstat.audit_segment_size",
							gettext_noop("Size at which the audit trail starts a new segment."),
							gettext_noop("Older segments may then be archived; see doc/audit.md."),
							&privstat_audit_segment_size,
							64, 1, 1024,
							PGC_SIGHUP, GUC_UNIT_MB,
							NULL, NULL, NULL);
	DefineCustomIntVariable("privstat.audit_keep_segments",
							gettext_noop("Audit trail segments kept: older ones are removed after a rotation; 0 keeps all."),
							gettext_noop("With privstat.audit_archive_directory set, each is copied there first."),
							&privstat_audit_keep_segments,
							16, 0, INT_MAX,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomStringVariable("privstat.audit_archive_directory",
							   gettext_noop("Directory old audit trail segments are copied to before they are removed."),
							   gettext_noop("A relative path is taken from the data directory. Empty: they are removed without a copy. "
											"A segment that cannot be copied is kept."),
							   &privstat_audit_archive_directory,
							   "",
							   PGC_SIGHUP, 0,
							   NULL, NULL, NULL);
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = audit_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = audit_shmem_startup;
	prev_ExecutorEnd = ExecutorEnd_hook;
	ExecutorEnd_hook = audit_ExecutorEnd;
	RegisterXactCallback(audit_xact_callback, NULL);
	RegisterSubXactCallback(audit_subxact_callback, NULL);
}

static void
audit_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(AuditShared)));
	RequestNamedLWLockTranche("privstat_audit", 2);
}

/* after the budget's startup (which runs first, as the previous hook) replayed the journal */
static void
audit_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("privstat audit", sizeof(AuditShared), &found);
	if (!found)
	{
		LWLockPadded *locks = GetNamedLWLockTranche("privstat_audit");

		memset(shared, 0, sizeof(AuditShared));
		shared->lock = &locks[0].lock;
		shared->flush_lock = &locks[1].lock;
		pg_atomic_init_u64(&shared->written, 0);
		pg_atomic_init_u64(&shared->flushed, 0);
		pg_atomic_init_flag(&shared->pruning);
	}
	LWLockRelease(AddinShmemInitLock);

	if (!found)
	{
		/* nothing here stops the server: a trail that cannot be written fails closed */
		MemoryContext cxt = CurrentMemoryContext;

		PG_TRY();
		{
			trail_replay();
			if (!shared->fail_closed)
				trail_catch_up();
			if (!shared->fail_closed)
				trail_prune();
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(cxt);
			edata = CopyErrorData();
			FlushErrorState();
			segment_close();
			audit_failed("could not be replayed", edata->message);
		}
		PG_END_TRY();
	}
}

void
privstat_audit_check_writable(void)
{
	privstat_require_preload();
	if (shared == NULL)
		elog(ERROR, "privstat audit trail is not initialized");
	if (shared->fail_closed)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("privstat refuses to act: its audit trail is damaged"),
				 errdetail("Charges, unseals and configuration changes are refused while they cannot be recorded."),
				 errhint("The server log, at the last start, says what was found and what to do.")));
}

/* write the unseals counted so far as one event of the statement text given */
static void
record_unseals(const char *source, int location, int len)
{
	AuditRecord r;
	char		text[AUDIT_TEXT_MAX + 1];
	int			n = 0;
	int64		count = unseal_count;

	if (count == 0)
		return;
	unseal_count = 0;
	if (source != NULL)
	{
		if (location > 0 && location < (int) strlen(source))
			source += location;
		n = privstat_normalize_query(source, len > 0 ? len : (int) strlen(source), text, AUDIT_TEXT_MAX);
	}
	event_init(&r, AR_UNSEAL);
	r.u.ev.role = GetUserId();
	r.u.ev.count = count;
	record_event(&r, text, n, true);
}

/*
 * One record per statement that unsealed values, when its executor ends:
 * the values have been produced, and the record is flushed before the
 * statement completes.  (Queries nested in a function get their own.)
 */
static void
audit_ExecutorEnd(QueryDesc *queryDesc)
{
	if (prev_ExecutorEnd)
		prev_ExecutorEnd(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
	if (unseal_count > 0)
		record_unseals(queryDesc->sourceText, queryDesc->plannedstmt->stmt_location,
					   queryDesc->plannedstmt->stmt_len);
	if (prune_due)
		trail_prune();
}

/* the pending list lives as long as the transaction */
static void
pending_append(PendingEvent *p)
{
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

	pending = lappend(pending, p);
	MemoryContextSwitchTo(old);
}

/* write pending transactional events, and flush them; caller is at PRE_COMMIT */
static void
write_pending(void)
{
	ListCell   *lc;
	uint64		seq = 0;

	if (reseal_count > 0)
	{
		PendingEvent *p = MemoryContextAllocZero(TopTransactionContext, sizeof(PendingEvent));

		event_init(&p->rec, AR_REKEY);
		p->rec.u.ev.count = reseal_count;
		pending_append(p);
		reseal_count = 0;
	}
	if (pending == NIL)
		return;
	privstat_audit_check_writable();
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	foreach(lc, pending)
	{
		PendingEvent *p = lfirst(lc);

		seq = trail_event_logged(&p->rec, p->text, strlen(p->text));
	}
	LWLockRelease(shared->lock);
	pending = NIL;
	trail_flush(seq);
	if (prune_due)
		trail_prune();
}

/* after an abort: the unseals counted still happened; record them, quietly on failure */
static void
record_unseals_quietly(void)
{
	MemoryContext cxt = CurrentMemoryContext;

	PG_TRY();
	{
		record_unseals(debug_query_string, 0, 0);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		EmitErrorReport();
		FlushErrorState();
		unseal_count = 0;
	}
	PG_END_TRY();
}

static void
audit_xact_callback(XactEvent event, void *arg pg_attribute_unused())
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PARALLEL_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			if (unseal_count > 0)
				record_unseals(debug_query_string, 0, 0);
			write_pending();
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			pending = NIL;
			reseal_count = 0;
			if (unseal_count > 0 && shared != NULL)
				record_unseals_quietly();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			/* a charge rotated the trail under the budget ledger lock */
			if (prune_due)
				trail_prune();
			break;
		default:
			break;
	}
}

static void
audit_subxact_callback(SubXactEvent event, SubTransactionId mySubid pg_attribute_unused(),
					   SubTransactionId parentSubid pg_attribute_unused(),
					   void *arg pg_attribute_unused())
{
	int			level = GetCurrentTransactionNestLevel();
	ListCell   *lc;

	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		/* the subtransaction's changes are gone: so are their events */
		foreach(lc, pending)
		{
			PendingEvent *p = lfirst(lc);

			if (p->level >= level)
				pending = foreach_delete_current(pending, lc);
		}
		if (reseal_level >= level)
			reseal_count = 0;
		if (unseal_count > 0 && shared != NULL)
			record_unseals_quietly();
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		foreach(lc, pending)
		{
			PendingEvent *p = lfirst(lc);

			if (p->level >= level)
				p->level = level - 1;
		}
		if (reseal_level >= level)
			reseal_level = level - 1;
	}
}


/* ---------------------------------------------------------------------------
 * Events
 * ---------------------------------------------------------------------------
 */

/*
 * The last statement text normalized (query_buf holds what it became: only
 * this function writes it): a prepared DP query is charged at every run,
 * and re-lexing the same text each time cost a charging backend 1.5% of
 * its time.  The lexer's result depends on standard_conforming_strings too.
 */
#define NORMALIZED_CACHE_MAX	8192
static char *normalized_src = NULL;
static int	normalized_src_len = -1;
static bool normalized_scs;
static int	normalized_len;

void
privstat_audit_set_query(const char *source, int location, int len)
{
	query_len = 0;
	if (source == NULL)
		return;
	if (location > 0 && location < (int) strlen(source))
		source += location;
	if (len <= 0)
		len = (int) strlen(source);
	if (len == normalized_src_len && normalized_scs == standard_conforming_strings &&
		memcmp(source, normalized_src, len) == 0)
	{
		query_len = normalized_len;
		return;
	}
	normalized_src_len = -1;	/* query_buf is about to change */
	query_len = privstat_normalize_query(source, len, query_buf, AUDIT_TEXT_MAX);
	if (len <= NORMALIZED_CACHE_MAX)
	{
		if (normalized_src == NULL)
			normalized_src = MemoryContextAlloc(TopMemoryContext, NORMALIZED_CACHE_MAX);
		memcpy(normalized_src, source, len);
		normalized_src_len = len;
		normalized_scs = standard_conforming_strings;
		normalized_len = query_len;
	}
}

/*
 * Before a budget event is journaled: take the trail's lock and make room
 * for the event (with this backend's query text if it is a charge), so that
 * a full disk fails the query before anything is debited, never between
 * the debit and its audit event.  The lock is held until
 * privstat_audit_budget_event writes the event (or an error releases it).
 */
void
privstat_audit_budget_reserve(bool charge)
{
	privstat_audit_check_writable();
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	trail_reserve(event_records(charge ? query_len : 0));
}

const char *
privstat_audit_query_text(int *len)
{
	*len = query_len;
	return query_buf;
}

void
privstat_audit_budget_event(const PrivstatBudgetEvent *ev, bool live)
{
	AuditRecord r;
	int			textlen = 0;

	memset(&r, 0, sizeof(r));
	switch (ev->type)
	{
		case PRIVSTAT_BUDGET_CHARGE:
			r.type = AR_CHARGE;
			break;
		case PRIVSTAT_BUDGET_SET:
			r.type = AR_BUDGET_SET;
			r.u.ev.count = ev->period_us;
			break;
		case PRIVSTAT_BUDGET_RESET:
			r.type = AR_BUDGET_RESET;
			break;
		case PRIVSTAT_BUDGET_LOST:
			r.type = AR_BUDGET_LOST;
			break;
		default:
			r.type = AR_BUDGET_ADOPT;
			break;
	}
	r.u.ev.ts = ev->ts;
	r.u.ev.actor = ev->actor;
	r.u.ev.role = ev->role;
	r.u.ev.dbid = ev->dbid;
	r.u.ev.epsilon = ev->epsilon;
	r.u.ev.delta = ev->delta;
	r.u.ev.ref = ev->seq;
	r.u.ev.op = live ? AOP_NONE : AOP_RECOVERED;
	if (live && ev->type == PRIVSTAT_BUDGET_CHARGE)
		textlen = query_len;

	if (live)
	{
		/* under the lock privstat_audit_budget_reserve took, into the room it made */
		Assert(LWLockHeldByMeInMode(shared->lock, LW_EXCLUSIVE));
		trail_event(&r, query_buf, textlen);
		shared->budget_next = Max(shared->budget_next, ev->seq + 1);
		LWLockRelease(shared->lock);
		query_len = 0;
	}
	else
	{
		trail_event(&r, NULL, 0);
		shared->budget_next = Max(shared->budget_next, ev->seq + 1);
	}
}

void
privstat_audit_refusal(Oid role, double epsilon, double delta, const char *reason)
{
	AuditRecord r;

	event_init(&r, AR_REFUSAL);
	r.u.ev.role = role;
	r.u.ev.epsilon = epsilon;
	r.u.ev.delta = delta;
	strlcpy(r.u.ev.detail, reason, sizeof(r.u.ev.detail));
	record_event(&r, query_buf, query_len, false);
	query_len = 0;
}

/*
 * An answer already released to role returned again from the release
 * cache: no charge; epsilon and delta are what a new run would have cost.
 * Written like a refusal, not flushed.
 */
void
privstat_audit_cached_release(Oid role, double epsilon, double delta)
{
	AuditRecord r;

	event_init(&r, AR_CACHED_RELEASE);
	r.u.ev.role = role;
	r.u.ev.epsilon = epsilon;
	r.u.ev.delta = delta;
	record_event(&r, query_buf, query_len, false);
	query_len = 0;
}

/* a transactional event to record at commit; text is copied (truncated to fit) */
static PendingEvent *
pending_add(AuditType type, const char *text)
{
	PendingEvent *p = MemoryContextAllocZero(TopTransactionContext, sizeof(PendingEvent));

	event_init(&p->rec, type);
	p->level = GetCurrentTransactionNestLevel();
	if (text != NULL)
		strlcpy(p->text, text, sizeof(p->text));
	pending_append(p);
	return p;
}

static Datum
column_value(TriggerData *td, HeapTuple tuple, const char *name, bool *isnull)
{
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	int			attno = SPI_fnumber(desc, name);

	*isnull = true;
	if (attno <= 0)
		return (Datum) 0;
	return heap_getattr(tuple, attno, desc, isnull);
}

/*
 * A row (or a TRUNCATE) of one of privstat's configuration tables.  Kept:
 * the table of the rule, the role it is for, the access level, the
 * retention action, the key domain and version.  A scope's condition may
 * hold constants about people: it is not kept.
 */
void
privstat_audit_config_change(TriggerData *td)
{
	const char *table = RelationGetRelationName(td->tg_relation);
	HeapTuple	tuple = NULL;
	PendingEvent *p;
	AuditType	type;
	Datum		d;
	bool		isnull;

	if (strcmp(table, "access_level") == 0)
		type = AR_ACCESS;
	else if (strcmp(table, "retention_rule") == 0)
		type = AR_RETENTION;
	else if (strcmp(table, "key_version") == 0)
		type = AR_KEY_ROTATION;
	else
		type = AR_POLICY;
	p = pending_add(type, type == AR_POLICY ? table : NULL);

	if (TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
		p->rec.u.ev.op = AOP_TRUNCATE;
	else if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
		p->rec.u.ev.op = AOP_INSERT, tuple = td->tg_trigtuple;
	else if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
		p->rec.u.ev.op = AOP_UPDATE, tuple = td->tg_newtuple;
	else
		p->rec.u.ev.op = AOP_DELETE, tuple = td->tg_trigtuple;
	if (tuple == NULL)
		return;

	d = column_value(td, tuple, "tbl", &isnull);
	if (!isnull)
		p->rec.u.ev.relid = DatumGetObjectId(d);
	d = column_value(td, tuple, "role", &isnull);
	if (!isnull)
		p->rec.u.ev.role = DatumGetObjectId(d);
	d = column_value(td, tuple, type == AR_RETENTION ? "action" : "level", &isnull);
	if (!isnull)
		text_to_cstring_buffer(DatumGetTextPP(d), p->rec.u.ev.detail, sizeof(p->rec.u.ev.detail));
	if (type == AR_KEY_ROTATION)
	{
		d = column_value(td, tuple, "domain", &isnull);
		if (!isnull)
			text_to_cstring_buffer(DatumGetTextPP(d), p->text, sizeof(p->text));
		d = column_value(td, tuple, "version", &isnull);
		if (!isnull)
			p->rec.u.ev.count = DatumGetInt32(d);
	}
}

void
privstat_audit_count_unseal(void)
{
	unseal_count++;
}

void
privstat_audit_count_reseal(void)
{
	if (reseal_count == 0)
		reseal_level = GetCurrentTransactionNestLevel();
	reseal_count++;
}

void
privstat_audit_purge(Oid relid, int64 rows, const char *action)
{
	PendingEvent *p = pending_add(AR_PURGE, NULL);

	p->rec.u.ev.relid = relid;
	p->rec.u.ev.count = rows;
	strlcpy(p->rec.u.ev.detail, action, sizeof(p->rec.u.ev.detail));
}


/* ---------------------------------------------------------------------------
 * Query normalization
 * ---------------------------------------------------------------------------
 */

/*
 * The tokens of query, separated by single spaces, with every literal
 * replaced by "?": no constant, comment or layout of the original survives.
 * At most maxlen bytes (a cut query ends with "..."); returns the length.
 * A query the scanner rejects is kept as "?".
 */
int
privstat_normalize_query(const char *query, int len, char *out, int maxlen)
{
	char	   *copy = pnstrdup(query, len);
	StringInfoData buf;
	MemoryContext cxt = CurrentMemoryContext;
	int			n;

	initStringInfo(&buf);
	PG_TRY();
	{
		core_yyscan_t yyscanner;
		core_yy_extra_type yyextra;
		core_YYSTYPE yylval;
		YYLTYPE		yylloc;

		yyscanner = scanner_init(copy, &yyextra, &ScanKeywords, ScanKeywordTokens);
		for (;;)
		{
			int			tok = core_yylex(&yylval, &yylloc, yyscanner);
			const char *tokstart;

			if (tok == 0 || (tok == ';' && buf.len > 0))
				break;
			if (buf.len > 0)
				appendStringInfoChar(&buf, ' ');
			switch (tok)
			{
				case ICONST:
				case FCONST:
				case SCONST:
				case USCONST:
				case BCONST:
				case XCONST:
					appendStringInfoChar(&buf, '?');
					break;
				default:
					/* flex has put a NUL after the current token in its buffer */
					tokstart = yyextra.scanbuf + yylloc;
					appendBinaryStringInfo(&buf, copy + yylloc, strlen(tokstart));
					break;
			}
			if (buf.len > maxlen)
				break;
		}
		scanner_finish(yyscanner);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		resetStringInfo(&buf);
		appendStringInfoChar(&buf, '?');
	}
	PG_END_TRY();
	n = buf.len;
	if (n > maxlen)
	{
		n = pg_mbcliplen(buf.data, maxlen - 3, maxlen - 3);
		memcpy(buf.data + n, "...", 3);
		n += 3;
	}
	memcpy(out, buf.data, n);
	out[n] = '\0';
	pfree(buf.data);
	pfree(copy);
	return n;
}


/* ---------------------------------------------------------------------------
 * Reading and verifying
 * ---------------------------------------------------------------------------
 */

static void
check_reader(void)
{
	privstat_require_preload();
	if (!privstat_has_role("privstat_admin") && !privstat_has_role("privstat_auditor"))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to read the privstat audit trail"),
				 errdetail("Only superusers and members of privstat_admin or privstat_auditor may read it."),
				 errhint("Ask an administrator to GRANT privstat_auditor to this role.")));
	if (shared == NULL)
		elog(ERROR, "privstat audit trail is not initialized");
}

/* the end of the trail as written so far */
static uint64
trail_end(uint8 *last_mac)
{
	uint64		end;

	LWLockAcquire(shared->lock, LW_SHARED);
	end = shared->next_seq;
	if (last_mac)
		memcpy(last_mac, shared->last_mac, 32);
	LWLockRelease(shared->lock);
	return end;
}

typedef struct TrailScan
{
	List	   *segs;
	ListCell   *cur;
	int			fd;
	uint64		pos;			/* record index in the open segment */
	uint64		end;			/* seq the trail ends at */
	uint64		segno;
	bool		started;		/* a record was returned */
} TrailScan;

static void
scan_begin(TrailScan *s)
{
	memset(s, 0, sizeof(*s));
	s->end = trail_end(NULL);
	s->segs = list_segments();
	s->cur = list_head(s->segs);
	s->fd = -1;
}

/*
 * The next record of the trail, oldest segment first; false at the end.
 * *segstart tells that the record is the first of its segment.  A segment
 * ends at its first all-zero record or its end.
 */
static bool
scan_next(TrailScan *s, AuditRecord *r, bool *segstart)
{
	char		path[MAXPGPATH];

	for (;;)
	{
		if (s->fd < 0)
		{
			if (s->cur == NULL)
				return false;
			s->segno = *(uint64 *) lfirst(s->cur);
			segment_path(s->segno, path);
			s->fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
			if (s->fd < 0 && errno == ENOENT && !s->started)
			{
				/* removed (trail_prune) since it was listed, before anything was read */
				s->cur = lnext(s->segs, s->cur);
				continue;
			}
			if (s->fd < 0)
				ereport(ERROR,
						(errcode_for_file_access(),
						 errmsg("could not open privstat audit segment \"%s\": %m", path)));
			s->pos = 0;
		}
		if (pg_pread(s->fd, r, sizeof(*r), s->pos * sizeof(*r)) == sizeof(*r) &&
			!privstat_record_is_zero(r) &&
			!(lnext(s->segs, s->cur) == NULL && r->seq >= s->end && audit_crc_ok(r)))
		{
			*segstart = (s->pos == 0);
			s->pos++;
			s->started = true;
			return true;
		}
		CloseTransientFile(s->fd);
		s->fd = -1;
		s->cur = lnext(s->segs, s->cur);
	}
}

static void
scan_end(TrailScan *s)
{
	if (s->fd >= 0)
		CloseTransientFile(s->fd);
	s->fd = -1;
}

/* the chain check of a walk over the trail from its oldest segment kept */
typedef struct ChainCheck
{
	bool		started;
	bool		bad;			/* stopped at a record that does not verify */
	uint8		prev[32];		/* HMAC of the last record verified */
	uint64		expect;			/* seq of the next record */
	uint64		first;			/* seq of the first record */
} ChainCheck;

/*
 * The next record of the trail whose chain verifies, from the HMAC the
 * oldest segment's header carries; false at the end, or (c->bad) at the
 * first record that does not verify.
 */
static bool
scan_next_verified(TrailScan *s, AuditRecord *r, ChainCheck *c)
{
	bool		segstart;

	if (!scan_next(s, r, &segstart))
		return false;
	if (!c->started)
	{
		if (!audit_crc_ok(r) || r->type != AR_SEGMENT)
		{
			c->bad = true;
			return false;
		}
		memcpy(c->prev, r->u.seg.prev_mac, 32);
		c->expect = c->first = r->seq;
		c->started = true;
	}
	if (!audit_crc_ok(r) || r->seq != c->expect ||
		segstart != (r->type == AR_SEGMENT) ||
		(segstart && r->u.seg.segno != s->segno) ||
		!privstat_record_mac_ok(r, c->prev, audit_key()))
	{
		c->bad = true;
		return false;
	}
	memcpy(c->prev, r->mac, 32);
	c->expect++;
	return true;
}

/*
 * The budget journal ends at record next, but the trail recorded budget
 * events up to shared->budget_next, or budget.synced says the journal held
 * target records: the journal lost records (cut, truncated or removed while
 * the server was stopped).  Write them back from the trail, in order, from
 * its records whose chain verifies, so no spend comes back; those the trail
 * does not hold (its older segments removed, or the trail removed too) are
 * marked lost in the journal, and the budget fails closed.  Postmaster, at
 * startup.
 */
static void
journal_restore(uint64 next, uint64 target)
{
	TrailScan	s;
	AuditRecord r;
	ChainCheck	c = {0};
	uint64		want = next;
	uint64		restored = 0;
	bool		failed = false;
	bool		lost = false;

	/* scan_begin without its lock: the postmaster is alone */
	memset(&s, 0, sizeof(s));
	s.end = shared->next_seq;
	s.segs = list_segments();
	s.cur = list_head(s.segs);
	s.fd = -1;
	while (want < target && !failed && scan_next_verified(&s, &r, &c))
	{
		PrivstatBudgetEvent ev;

		if (!is_budget_event(r.type) || r.u.ev.ref < want || r.u.ev.ref >= target)
			continue;		/* not a budget event, or one the journal holds */
		if (r.u.ev.ref > want)
		{
			/* records the trail no longer holds either (older segments removed) */
			budget_journal->lost(want, r.u.ev.ref);
			want = r.u.ev.ref;
			lost = true;
		}
		memset(&ev, 0, sizeof(ev));
		ev.seq = r.u.ev.ref;
		ev.type = r.type == AR_CHARGE ? PRIVSTAT_BUDGET_CHARGE :
			r.type == AR_BUDGET_SET ? PRIVSTAT_BUDGET_SET :
			r.type == AR_BUDGET_RESET ? PRIVSTAT_BUDGET_RESET :
			r.type == AR_BUDGET_ADOPT ? PRIVSTAT_BUDGET_ADOPT : PRIVSTAT_BUDGET_LOST;
		ev.ts = r.u.ev.ts;
		ev.role = r.u.ev.role;
		ev.actor = r.u.ev.actor;
		ev.dbid = r.u.ev.dbid;
		ev.epsilon = r.u.ev.epsilon;
		ev.delta = r.u.ev.delta;
		ev.period_us = r.type == AR_BUDGET_SET ? r.u.ev.count : 0;
		if (budget_journal->restore(&ev))
		{
			want++;
			restored++;
		}
		else
			failed = true;
	}
	scan_end(&s);
	if (!failed && !budget_journal->restore(NULL))
		failed = true;
	if (restored > 0)
		ereport(LOG,
				(errmsg("privstat budget journal ended at record %llu: restored %llu of its records up to %llu from the audit trail",
						(unsigned long long) next, (unsigned long long) restored,
						(unsigned long long) (want - 1)),
				 errdetail("The journal lost records the audit trail holds (it was cut, truncated or removed while the server was stopped); no spend comes back.")));
	if (want < target && !failed)
	{
		budget_journal->lost(want, target);
		lost = true;
	}
	if (lost && !failed)
	{
		/*
		 * A last mark after everything restored, so that an adoption
		 * restored after the gap cannot end the refusal at the next replay;
		 * and into the trail at once, like any journal record it lacks.
		 */
		budget_journal->lost(target, target);
		(void) budget_journal->scan(target, recover_budget_event);
	}
}

PG_FUNCTION_INFO_V1(privstat_verify_audit_log);

/*
 * verify_audit_log(): walk the chain from the oldest segment present (from
 * the HMAC its header carries) to the end of the trail as written.
 * Returns ok, the records that verified, the first bad record's seq (NULL
 * if none), and the seq the verification started from (0 unless older
 * segments were archived away).
 */
Datum
privstat_verify_audit_log(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	TrailScan	s;
	AuditRecord r;
	ChainCheck	c = {0};
	uint8		last_mac[32];
	int64		records = 0;
	bool		bad;

	check_reader();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	scan_begin(&s);
	s.end = trail_end(last_mac);
	while (scan_next_verified(&s, &r, &c))
		records++;
	scan_end(&s);
	/* records cut from the end: the chain stops short of what was written */
	bad = c.bad || c.expect != s.end || memcmp(c.prev, last_mac, 32) != 0;
	values[0] = BoolGetDatum(!bad);
	values[1] = Int64GetDatum(records);
	if (bad)
		values[2] = Int64GetDatum(c.expect);
	else
		nulls[2] = true;
	values[3] = Int64GetDatum(c.first);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

static const char *
type_name(int type)
{
	switch ((AuditType) type)
	{
		case AR_SEGMENT:
			return "segment";
		case AR_TEXT:
			return "text";
		case AR_CHARGE:
			return "charge";
		case AR_REFUSAL:
			return "refusal";
		case AR_CACHED_RELEASE:
			return "cached_release";
		case AR_BUDGET_SET:
			return "budget_set";
		case AR_BUDGET_RESET:
			return "budget_reset";
		case AR_BUDGET_ADOPT:
			return "budget_adopt";
		case AR_BUDGET_LOST:
			return "budget_lost";
		case AR_POLICY:
			return "policy_change";
		case AR_ACCESS:
			return "access_change";
		case AR_RETENTION:
			return "retention_change";
		case AR_KEY_ROTATION:
			return "key_rotation";
		case AR_UNSEAL:
			return "unseal";
		case AR_REKEY:
			return "rekey";
		case AR_PURGE:
			return "purge";
	}
	return "unknown";
}

static const char *const op_names[] = {NULL, "INSERT", "UPDATE", "DELETE", "TRUNCATE", "recovered"};

#define LOG_COLS 14

static void
emit_event(ReturnSetInfo *rsinfo, const AuditRecord *r, const char *text, int textlen)
{
	Datum		values[LOG_COLS];
	bool		nulls[LOG_COLS];
	bool		query_text = (r->type == AR_CHARGE || r->type == AR_REFUSAL ||
							  r->type == AR_CACHED_RELEASE || r->type == AR_UNSEAL);

	memset(nulls, true, sizeof(nulls));
	values[0] = Int64GetDatum(r->seq);
	nulls[0] = false;
	values[2] = CStringGetTextDatum(type_name(r->type));
	nulls[2] = false;
	if (r->type == AR_SEGMENT)
	{
		values[1] = TimestampTzGetDatum(r->u.seg.ts);
		nulls[1] = false;
		values[9] = Int64GetDatum(r->u.seg.segno);
		nulls[9] = false;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		return;
	}
	values[1] = TimestampTzGetDatum(r->u.ev.ts);
	nulls[1] = false;
	if (OidIsValid(r->u.ev.actor))
		values[3] = ObjectIdGetDatum(r->u.ev.actor), nulls[3] = false;
	if (OidIsValid(r->u.ev.role))
		values[4] = ObjectIdGetDatum(r->u.ev.role), nulls[4] = false;
	if (OidIsValid(r->u.ev.dbid))
	{
		char	   *db = get_database_name(r->u.ev.dbid);

		values[5] = CStringGetTextDatum(db ? db : psprintf("%u", r->u.ev.dbid));
		nulls[5] = false;
	}
	if (OidIsValid(r->u.ev.relid))
	{
		/* a name only within the database it belongs to */
		char	   *rel = r->u.ev.dbid == MyDatabaseId ?
			DatumGetCString(DirectFunctionCall1(regclassout, ObjectIdGetDatum(r->u.ev.relid))) :
			psprintf("%u", r->u.ev.relid);

		values[6] = CStringGetTextDatum(rel);
		nulls[6] = false;
	}
	if (r->type == AR_CHARGE || r->type == AR_REFUSAL || r->type == AR_CACHED_RELEASE ||
		r->type == AR_BUDGET_SET)
	{
		values[7] = Float8GetDatum(r->u.ev.epsilon);
		values[8] = Float8GetDatum(r->u.ev.delta);
		nulls[7] = nulls[8] = false;
	}
	if (r->u.ev.count != 0 || r->type == AR_UNSEAL || r->type == AR_PURGE || r->type == AR_REKEY)
	{
		values[9] = Int64GetDatum(r->u.ev.count);
		nulls[9] = false;
	}
	if (is_budget_event(r->type))
	{
		values[10] = Int64GetDatum((int64) r->u.ev.ref);
		nulls[10] = false;
	}
	if (r->u.ev.op > AOP_NONE && r->u.ev.op <= AOP_RECOVERED)
	{
		values[11] = CStringGetTextDatum(op_names[r->u.ev.op]);
		nulls[11] = false;
	}
	if (r->u.ev.detail[0] != '\0')
	{
		values[12] = CStringGetTextDatum(pnstrdup(r->u.ev.detail, sizeof(r->u.ev.detail)));
		nulls[12] = false;
	}
	if (textlen > 0 && !query_text)
	{
		values[12] = PointerGetDatum(cstring_to_text_with_len(text, textlen));
		nulls[12] = false;
	}
	if (textlen > 0 && query_text)
	{
		values[13] = PointerGetDatum(cstring_to_text_with_len(text, textlen));
		nulls[13] = false;
	}
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

PG_FUNCTION_INFO_V1(privstat_audit_log);

/*
 * _audit_log(): every event of the segments present, oldest first, with its
 * text.  Reads, does not verify: verify_audit_log() does.
 */
Datum
privstat_audit_log(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TrailScan	s;
	AuditRecord r;
	AuditRecord ev;
	bool		have = false;
	bool		segstart;
	char		text[AUDIT_TEXT_MAX + AUDIT_TEXT_PER_RECORD];
	int			textlen = 0;

	check_reader();
	InitMaterializedSRF(fcinfo, 0);
	scan_begin(&s);
	while (scan_next(&s, &r, &segstart))
	{
		if (r.type == AR_TEXT)
		{
			int			n = Min(AUDIT_TEXT_PER_RECORD, (int) sizeof(text) - textlen);

			if (have && textlen < ev.u.ev.textlen && n > 0)
			{
				n = Min(n, ev.u.ev.textlen - textlen);
				memcpy(text + textlen, r.u.text, n);
				textlen += n;
			}
			continue;
		}
		if (have)
			emit_event(rsinfo, &ev, text, textlen);
		ev = r;
		have = true;
		textlen = 0;
	}
	if (have)
		emit_event(rsinfo, &ev, text, textlen);
	scan_end(&s);
	PG_RETURN_VOID();
}

/* record i of an open segment: false if past its end or all zeros */
static bool
segment_record(int fd, uint64 i, AuditRecord *r)
{
	return pg_pread(fd, r, sizeof(*r), i * sizeof(*r)) == sizeof(*r) && !privstat_record_is_zero(r);
}

PG_FUNCTION_INFO_V1(privstat_audit_segments);

/*
 * audit_segments(): one row per segment present, oldest first: its file,
 * number, first and last seq, size on disk (preallocated space included),
 * and the time of its header and of its last event.  Reads the header and
 * finds the last record by bisection (records are followed by zeros only):
 * a few reads per segment.  Does not verify.
 */
Datum
privstat_audit_segments(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *segs;
	ListCell   *lc;

	check_reader();
	InitMaterializedSRF(fcinfo, 0);
	segs = list_segments();
	foreach(lc, segs)
	{
		uint64		segno = *(uint64 *) lfirst(lc);
		char		path[MAXPGPATH];
		Datum		values[7];
		bool		nulls[7] = {false, false, true, true, false, true, true};
		struct stat st;
		AuditRecord r;
		int			fd;

		segment_path(segno, path);
		fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
		if (fd < 0 && errno == ENOENT)
			continue;			/* removed since it was listed */
		if (fd < 0 || fstat(fd, &st) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not open privstat audit segment \"%s\": %m", path)));
		values[0] = CStringGetTextDatum(path + strlen(AUDIT_DIR) + 1);
		values[1] = Int64GetDatum((int64) segno);
		values[4] = Int64GetDatum((int64) st.st_size);
		if (segment_record(fd, 0, &r) && audit_crc_ok(&r) && r.type == AR_SEGMENT)
		{
			uint64		lo = 0;		/* a record */
			uint64		hi = st.st_size / sizeof(r);	/* past the last one */

			values[2] = Int64GetDatum((int64) r.seq);
			values[5] = TimestampTzGetDatum(r.u.seg.ts);
			nulls[2] = nulls[5] = false;
			while (hi - lo > 1)
			{
				uint64		mid = lo + (hi - lo) / 2;

				if (segment_record(fd, mid, &r))
					lo = mid;
				else
					hi = mid;
			}
			if (segment_record(fd, lo, &r) && audit_crc_ok(&r))
			{
				values[3] = Int64GetDatum((int64) r.seq);
				nulls[3] = false;
			}
			/* the last event: text records carry no time */
			for (uint64 i = lo + 1; i-- > 0 && segment_record(fd, i, &r) && audit_crc_ok(&r);)
			{
				if (r.type == AR_TEXT)
					continue;
				values[6] = TimestampTzGetDatum(r.type == AR_SEGMENT ? r.u.seg.ts : r.u.ev.ts);
				nulls[6] = false;
				break;
			}
		}
		CloseTransientFile(fd);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(privstat_rotate_audit_log);

/* rotate_audit_log(): close the current segment and start a new one; returns its number */
Datum
privstat_rotate_audit_log(PG_FUNCTION_ARGS)
{
	uint64		segno;

	if (!privstat_has_role("privstat_admin"))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to rotate the privstat audit trail"),
				 errdetail("Only superusers and members of privstat_admin may rotate it.")));
	privstat_audit_check_writable();
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	trail_rotate();
	segno = shared->segno;
	LWLockRelease(shared->lock);
	trail_prune();
	PG_RETURN_INT64((int64) segno);
}

PG_FUNCTION_INFO_V1(privstat_audit_changed);

/* privstat._audit_changed(): row trigger of configuration tables without privstat_policy_changed */
Datum
privstat_audit_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("privstat._audit_changed() must be called as an AFTER trigger")));
	privstat_require_own_table(trigdata, "privstat._audit_changed()");
	privstat_audit_config_change(trigdata);
	return PointerGetDatum(NULL);
}
