/*
 * fuzz_records.h: the input format shared by fuzz_journal and fuzz_audit.
 *
 *	byte 0: mode bits
 *		FIX_CHAIN	recompute the CRC-32C and HMAC chain of the records
 *					(with the harness's key) before the reader sees them, so
 *					mutations reach the logic past the checks; without it
 *					the bytes are read as they are
 *		FIX_SEQ		also set each record's seq to its position
 *		WRITE_MORE	after a clean replay, the writer appends to the file and
 *					the reader must accept the result (the chain continues)
 *		bits 3-4	fuzz_audit: which segment number the file is (1, 2, 3, 16)
 *		SYNCED_MARK	fuzz_journal: a budget.synced that says the first
 *					(bits 5-7) * 8 records were synced, so that damage past
 *					them is a torn tail of any length (the lazy flusher's);
 *					without it there is no mark
 *	byte 1: with FIX_CHAIN, how many records to fix (255: all); records
 *			after these keep their bytes (a tail the chain does not cover)
 *	bytes 2...: the file
 */
#ifndef PRIVSTAT_FUZZ_RECORDS_H
#define PRIVSTAT_FUZZ_RECORDS_H

#define FIX_CHAIN	0x01
#define FIX_SEQ		0x02
#define WRITE_MORE	0x04
#define SYNCED_MARK	0x08
#define RECORDS_HDR	2
#define MAX_FILE	(64 * 128 + 127)	/* 64 records and a torn one */

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

static void
write_file(const char *path, const void *data, size_t len)
{
	int			fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || (len > 0 && write(fd, data, len) != (ssize_t) len) || close(fd) != 0)
		fuzz_fail("cannot write %s: %s", path, strerror(errno));
}

/* the whole file at path (malloc'd), its length in *len */
static uint8_t *
read_file(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	uint8_t    *buf;
	long		n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
		fuzz_fail("cannot read %s: %s", path, strerror(errno));
	buf = malloc(n + 1);
	if ((long) fread(buf, 1, n, f) != n)
		fuzz_fail("cannot read %s", path);
	fclose(f);
	*len = n;
	return buf;
}

static bool
all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != 0)
			return false;
	return true;
}

/*
 * A file as the server leaves it: its records, then a few zero records of
 * the preallocated chunk (the rest cut off, to keep seeds small).
 */
static size_t
trim_zeros(const uint8_t *file, size_t len)
{
	size_t		n = len / 128;

	while (n > 0 && all_zero(file + (n - 1) * 128, 128))
		n--;
	return Min(len, (n + 2) * 128);
}

static void
write_seed(const char *dir, const char *name, int mode, int fix, const uint8_t *file, size_t len)
{
	char		path[1024];
	uint8_t    *buf = malloc(len + RECORDS_HDR);

	buf[0] = (uint8_t) mode;
	buf[1] = (uint8_t) fix;
	memcpy(buf + RECORDS_HDR, file, len);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	write_file(path, buf, len + RECORDS_HDR);
	free(buf);
}

#endif
