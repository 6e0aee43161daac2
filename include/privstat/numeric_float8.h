/*-------------------------------------------------------------------------
 *
 * numeric_float8.h
 *	  The DP aggregates' conversion of a stored numeric to float8, from its
 *	  bytes, the same to the bit as PostgreSQL 15's numeric_float8 and with
 *	  no string and no allocation (src/numeric_float8.c).
 *
 * Plain C: test/numeric/numeric_float8.c compiles it without a server.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRIVSTAT_NUMERIC_FLOAT8_H
#define PRIVSTAT_NUMERIC_FLOAT8_H

#include <stddef.h>

/*
 * payload and len: a numeric's bytes after its varlena header.  Returns the
 * nearest double (ties to even), +/-HUGE_VAL beyond the double range, NaN
 * for NaN, +/-Infinity for +/-Infinity.
 */
extern double dp_numeric_to_float8(const void *payload, size_t len);

#endif							/* PRIVSTAT_NUMERIC_FLOAT8_H */
