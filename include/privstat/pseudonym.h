/*-------------------------------------------------------------------------
 *
 * pseudonym.h
 *	  The pseudonym (keyed one-way token) and sealed (deterministic
 *	  authenticated encryption) types.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRIVSTAT_PSEUDONYM_H
#define PRIVSTAT_PSEUDONYM_H

/* bytes of HMAC-SHA-256 kept in a pseudonym: 128 bits */
#define PSEUDONYM_MAC_LEN	16

/*
 * On-disk and binary wire form of a pseudonym: the key version, big-endian,
 * then the truncated MAC.  Fixed length, byte-aligned, compared bytewise.
 */
typedef struct Pseudonym
{
	uint8		data[2 + PSEUDONYM_MAC_LEN];
} Pseudonym;

#define PSEUDONYM_LEN		((int) sizeof(Pseudonym))

#endif							/* PRIVSTAT_PSEUDONYM_H */
