/*-------------------------------------------------------------------------
 *
 * records.h
 *	  Files of chained, fixed-size records (src/records.c): the storage
 *	  shared by the budget journal and the audit trail.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRIVSTAT_RECORDS_H
#define PRIVSTAT_RECORDS_H

#include "port/atomics.h"
#include "storage/fd.h"
#include "storage/lwlock.h"

/*
 * Chained record files (the budget journal and the audit trail): 128-byte
 * records whose body is followed by its CRC-32C and an HMAC-SHA-256 of the
 * previous record's HMAC and the body.
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
extern off_t privstat_record_tail(int fd, uint64 good, off_t size, uint64 window,
								  bool (*intact) (const void *rec), const char **problem);
extern void privstat_record_flush(LWLock *flush_lock, pg_atomic_uint64 *written,
								  pg_atomic_uint64 *flushed, uint64 seq,
								  int (*sync) (void), const char *path);
extern void privstat_record_flushed(pg_atomic_uint64 *flushed, uint64 target);
extern bool privstat_record_file_extend(File file, off_t at, int chunk);

#endif							/* PRIVSTAT_RECORDS_H */
