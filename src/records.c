/*-------------------------------------------------------------------------
 *
 * records.c
 *	  Files of chained, fixed-size records: the storage that the budget
 *	  journal (journal.c) and the audit trail (audit.c) share.
 *
 * A record is PRIVSTAT_RECORD_SIZE bytes: a body, a CRC-32C of the body (to
 * find a torn write) and an HMAC-SHA-256 of the previous record's HMAC and
 * the body (a hash chain: a changed, removed or reordered record breaks
 * it).  Files grow in preallocated chunks of zeros, and flushes are shared
 * among concurrent writers as WAL flushes are.  What a body holds, and
 * where a file lives, is its owner's business.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unistd.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "port/pg_crc32c.h"
#include "storage/fd.h"
#include "storage/lwlock.h"
#include "utils/wait_event.h"

#include "privstat/keys.h"
#include "privstat/records.h"


static pg_crc32c
body_crc(const void *rec)
{
	pg_crc32c	crc;

	INIT_CRC32C(crc);
	COMP_CRC32C(crc, rec, PRIVSTAT_RECORD_BODY);
	FIN_CRC32C(crc);
	return crc;
}

void
privstat_record_seal(void *rec, const uint8 *prev_mac, const PrivstatKey *key)
{
	uint8	   *p = rec;
	pg_crc32c	crc = body_crc(rec);
	uint8		buf[32 + PRIVSTAT_RECORD_BODY];

	memcpy(p + PRIVSTAT_RECORD_BODY, &crc, sizeof(crc));
	memcpy(buf, prev_mac, 32);
	memcpy(buf + 32, rec, PRIVSTAT_RECORD_BODY);
	privstat_hmac_sha256(key, buf, sizeof(buf), p + PRIVSTAT_RECORD_MAC);
}

bool
privstat_record_crc_ok(const void *rec)
{
	pg_crc32c	crc = body_crc(rec);

	return memcmp(&crc, (const uint8 *) rec + PRIVSTAT_RECORD_BODY, sizeof(crc)) == 0;
}

bool
privstat_record_mac_ok(const void *rec, const uint8 *prev_mac, const PrivstatKey *key)
{
	uint8		copy[PRIVSTAT_RECORD_SIZE];

	memcpy(copy, rec, PRIVSTAT_RECORD_SIZE);
	privstat_record_seal(copy, prev_mac, key);
	return memcmp(copy + PRIVSTAT_RECORD_BODY, (const uint8 *) rec + PRIVSTAT_RECORD_BODY,
				  PRIVSTAT_RECORD_SIZE - PRIVSTAT_RECORD_BODY) == 0;
}

bool
privstat_record_is_zero(const void *rec)
{
	const uint8 *p = rec;
	size_t		i;

	for (i = 0; i < PRIVSTAT_RECORD_SIZE; i++)
		if (p[i] != 0)
			return false;
	return true;
}

/*
 * Past the last good record (good records from the start of the file): the
 * end of a torn tail to cut, or -1 with *problem set.  Grouped flushes leave
 * up to one unflushed record per backend, and the OS may persist a later
 * page before an earlier one: a damaged record followed by intact ones
 * within window records (MaxBackends, for files whose every writer syncs its
 * own record before it is acknowledged) is such a tail.  (An intact record
 * after a hole was never acknowledged: the fdatasync that would have
 * acknowledged it persists the earlier record too.)  Farther on, it is
 * damage or tampering.  A window of PG_UINT64_MAX cuts whatever follows.
 */
off_t
privstat_record_tail(int fd, uint64 good, off_t size, uint64 window,
					 bool (*intact) (const void *rec), const char **problem)
{
	uint8		r[PRIVSTAT_RECORD_SIZE];
	off_t		torn_end = good * PRIVSTAT_RECORD_SIZE;
	uint64		m;

	for (m = good; (off_t) (m * PRIVSTAT_RECORD_SIZE) < size; m++)
	{
		ssize_t		got = pg_pread(fd, r, sizeof(r), m * sizeof(r));

		if (got <= 0)
			break;
		if (got < (ssize_t) sizeof(r))
			memset(r + got, 0, sizeof(r) - got);
		if (privstat_record_is_zero(r))
			continue;
		if (got == (ssize_t) sizeof(r) && intact(r) && m - good > window)
		{
			*problem = "a damaged record is followed by intact ones";
			return -1;
		}
		torn_end = m * sizeof(r) + got;
	}
	return torn_end;
}

/*
 * Make every record up to seq durable, sharing the flush with concurrent
 * writers as XLogFlush does: whoever holds flush_lock syncs every record
 * written so far (sync() is called with it held), and a backend whose
 * record is already covered returns without its own sync.  sync() returns
 * 0 or sets errno.
 */
void
privstat_record_flush(LWLock *flush_lock, pg_atomic_uint64 *written, pg_atomic_uint64 *flushed,
					  uint64 seq, int (*sync) (void), const char *path)
{
	for (;;)
	{
		uint64		target;

		if (pg_atomic_read_u64(flushed) > seq)
		{
			pg_read_barrier();
			return;
		}
		/* false: someone else held the lock and has released it; look again */
		if (!LWLockAcquireOrWait(flush_lock, LW_EXCLUSIVE))
			continue;
		if (pg_atomic_read_u64(flushed) > seq)
		{
			LWLockRelease(flush_lock);
			return;
		}
		target = pg_atomic_read_u64(written);
		pgstat_report_wait_start(WAIT_EVENT_DATA_FILE_SYNC);
		if (sync() != 0)
		{
			pgstat_report_wait_end();
			LWLockRelease(flush_lock);
			ereport(data_sync_elevel(ERROR),
					(errcode_for_file_access(),
					 errmsg("could not fsync file \"%s\": %m", path)));
		}
		pgstat_report_wait_end();
		privstat_record_flushed(flushed, target);
		LWLockRelease(flush_lock);
		return;
	}
}

/*
 * Records below target are durable: raise *flushed to target, never lower
 * it (a sync made without flush_lock may finish after one made with it).
 */
void
privstat_record_flushed(pg_atomic_uint64 *flushed, uint64 target)
{
	uint64		cur = pg_atomic_read_u64(flushed);

	while (cur < target && !pg_atomic_compare_exchange_u64(flushed, &cur, target))
		;
}

/*
 * Grow a record file by chunk bytes of zeros at offset at, durably (size
 * and all).  False, with errno set, on failure; the file is then cut back
 * to at, so a full disk keeps no partial chunk that would take the space
 * freed later.
 *
 * The zeros go in BLCKSZ writes, as PostgreSQL zero-fills a WAL segment: the
 * kernel sizes the page-cache folio a buffered write creates by the write,
 * and every later 128-byte record written into a 1 MB folio paid for all of
 * its 256 blocks (ext4_block_write_begin walks them): 12% of a charging
 * backend's time on Linux 6.18 (perf, bench/budget.sh's one-row query).
 */
bool
privstat_record_file_extend(File file, off_t at, int chunk)
{
	static PGAlignedBlock zeros;	/* FileWrite takes a char *: never written to */
	int			done = 0;
	int			save_errno;

	while (done < chunk)
	{
		int			len = Min(chunk - done, (int) BLCKSZ);
		int			written = FileWrite(file, zeros.data, len, at + done, WAIT_EVENT_DATA_FILE_EXTEND);

		if (written != len)
		{
			save_errno = written >= 0 ? ENOSPC : errno;
			(void) FileTruncate(file, at, WAIT_EVENT_DATA_FILE_TRUNCATE);
			errno = save_errno;
			return false;
		}
		done += len;
	}
	if (FileSync(file, WAIT_EVENT_DATA_FILE_SYNC) == 0)
		return true;
	save_errno = errno;
	(void) FileTruncate(file, at, WAIT_EVENT_DATA_FILE_TRUNCATE);
	errno = save_errno;
	return false;
}
