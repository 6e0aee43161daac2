/*-------------------------------------------------------------------------
 *
 * keys.h
 *	  Master key file, per-purpose/domain/version key derivation, and the
 *	  per-backend cache of keyed OpenSSL contexts.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRIVSTAT_KEYS_H
#define PRIVSTAT_KEYS_H

/* Master key: 256 bits, stored as 64 hex digits in the key file. */
#define PRIVSTAT_MASTER_KEY_LEN		32

/* A domain is 1..DOMAIN_MAX_LEN characters of [a-z0-9_], starting with a letter. */
#define PRIVSTAT_DOMAIN_MAX_LEN		32

/* Key versions are 1..65535 (stored in two bytes inside every token). */
#define PRIVSTAT_MAX_KEY_VERSION	65535

/* The purposes keys are derived for.  Never renumber: they feed HKDF. */
typedef enum PrivstatKeyPurpose
{
	KEY_PURPOSE_PSEUDONYM,		/* HMAC-SHA-256 key, 32 bytes */
	KEY_PURPOSE_SEALED,			/* AES-256-SIV key, 64 bytes */
	KEY_PURPOSE_JOURNAL,		/* HMAC-SHA-256 key of the budget journal's chain, 32 bytes */
	KEY_PURPOSE_AUDIT			/* HMAC-SHA-256 key of the audit trail's chain, 32 bytes */
} PrivstatKeyPurpose;

/* keyed HMAC-SHA-256 midstates; private to keys.c */
struct PrivstatHmacState;

/*
 * A derived key, cached for the backend's life.  For pseudonyms the HMAC
 * inner and outer midstates are kept too, so a value costs two SHA-256
 * finishes and no key setup.
 */
typedef struct PrivstatKey
{
	PrivstatKeyPurpose purpose;
	uint16		version;
	char		domain[PRIVSTAT_DOMAIN_MAX_LEN + 1];
	uint8		key[64];
	int			keylen;
	struct PrivstatHmacState *hmac; /* pseudonym and journal keys only */
} PrivstatKey;

extern void privstat_keys_init(void);

extern bool privstat_domain_is_valid(const char *domain, int len);
extern void privstat_check_domain(const char *domain, int len);
extern uint16 privstat_current_key_version(const char *domain);
extern PrivstatKey *privstat_get_key(PrivstatKeyPurpose purpose,
									 const char *domain, uint16 version);
extern uint64 privstat_key_generation(void);
extern void privstat_hmac_sha256(const PrivstatKey *key, const void *data,
								 size_t len, uint8 *out);

#endif							/* PRIVSTAT_KEYS_H */
