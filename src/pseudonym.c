/*-------------------------------------------------------------------------
 *
 * pseudonym.c
 *	  The privstat.pseudonym and privstat.sealed types.
 *
 * pseudonym: a keyed one-way token.  HMAC-SHA-256 of the value under the
 * domain's pseudonym key, truncated to 128 bits, behind the two-byte key
 * version: 18 bytes, fixed length.  Text form "pn:<version>:<32 hex>".
 *
 * sealed: deterministic authenticated encryption with AES-256-SIV (RFC 5297)
 * under the domain's sealing key.  The associated data is the value's own
 * header (key version and domain), so a changed header fails authentication
 * just as a changed ciphertext does.  Layout after the varlena header:
 *
 *		version (2 bytes, big-endian) | domain length (1) | domain |
 *		SIV tag (16) | ciphertext (as long as the plaintext)
 *
 * Text form "sl:<domain>:<version>:<hex of tag and ciphertext>".
 *
 * Both types compare bytewise, so equal inputs under the same domain and key
 * version give equal values: they join, group, hash and index.  Input
 * functions never echo what they were given: a raw identifier typed into a
 * pseudonym column by mistake must not end up in an error message or the
 * server log.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/evp.h>

#include "access/hash.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/uuid.h"

#include "privstat/audit.h"
#include "privstat/keys.h"
#include "privstat/common.h"
#include "privstat/pseudonym.h"

#define PSEUDONYM_PREFIX		"pn:"
#define SEALED_PREFIX			"sl:"
#define SIV_TAG_LEN				16

/* bytes before the tag: version (2), domain length (1) */
#define SEALED_FIXED_HDR		3

#define DatumGetPseudonymP(X)	((Pseudonym *) DatumGetPointer(X))
#define PG_GETARG_PSEUDONYM_P(n) DatumGetPseudonymP(PG_GETARG_DATUM(n))
#define PG_GETARG_SEALED_P(n)	((bytea *) PG_GETARG_VARLENA_PP(n))

/*
 * Per call site cache (fn_extra) of the key a function last used, so a
 * column of values under one domain costs one key lookup per query.
 */
typedef struct KeyLookupCache
{
	uint64		generation;		/* privstat_key_generation() when filled */
	bool		explicit_version;	/* false: the domain's current version */
	int32		requested;		/* the explicit version asked for */
	int			domain_len;
	char		domain[PRIVSTAT_DOMAIN_MAX_LEN + 1];
	PrivstatKey *key;
} KeyLookupCache;

static EVP_CIPHER *siv_cipher = NULL;
static EVP_CIPHER_CTX *siv_ctx = NULL;


/* ---------------------------------------------------------------------------
 * Shared helpers
 * ---------------------------------------------------------------------------
 */

static void
invalid_pseudonym_text(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type pseudonym"),
			 errdetail("A pseudonym is written as pn:<key version>:<32 hexadecimal digits>."),
			 errhint("Use privstat.pseudonymize() to make a pseudonym from a raw value.")));
}

static void
invalid_sealed_text(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type sealed"),
			 errdetail("A sealed value is written as sl:<domain>:<key version>:<hexadecimal digits>."),
			 errhint("Use privstat.seal() to make a sealed value from a raw value.")));
}

/*
 * Parse a key version written in decimal, 1..65535, without sign or leading
 * zeros (so every value has exactly one text form).  Returns the number of
 * characters used, or 0 if there is no valid version at str.
 */
static int
parse_version(const char *str, uint16 *version)
{
	int			n = 0;
	long		v = 0;

	if (str[0] < '1' || str[0] > '9')
		return 0;
	while (str[n] >= '0' && str[n] <= '9' && n < 6)
	{
		v = v * 10 + (str[n] - '0');
		n++;
	}
	if (v < 1 || v > PRIVSTAT_MAX_KEY_VERSION)
		return 0;
	*version = (uint16) v;
	return n;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* decode exactly len hex digits into dst; false on any non-hex digit */
static bool
decode_hex(const char *src, size_t len, uint8 *dst)
{
	size_t		i;

	for (i = 0; i < len; i += 2)
	{
		int			hi = hexval(src[i]);
		int			lo = hexval(src[i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		dst[i / 2] = (uint8) ((hi << 4) | lo);
	}
	return true;
}

/*
 * The key for this call site: the domain's current version, or the version
 * requested when explicit_version is set.  Checks the domain name and, for
 * an explicit version, that the domain has reached it.
 */
static PrivstatKey *
lookup_key(FunctionCallInfo fcinfo, PrivstatKeyPurpose purpose,
		   const char *domain, int domain_len,
		   bool explicit_version, int32 requested)
{
	KeyLookupCache *cache = (KeyLookupCache *) fcinfo->flinfo->fn_extra;
	uint64		generation = privstat_key_generation();
	uint16		version;

	if (cache == NULL)
	{
		cache = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt,
									   sizeof(KeyLookupCache));
		fcinfo->flinfo->fn_extra = cache;
	}
	else if (generation != 0 && cache->generation == generation &&
			 cache->explicit_version == explicit_version &&
			 cache->requested == requested &&
			 cache->domain_len == domain_len &&
			 memcmp(cache->domain, domain, domain_len) == 0 &&
			 cache->key->purpose == purpose)
		return cache->key;

	privstat_require_preload();
	privstat_check_domain(domain, domain_len);
	cache->generation = 0;
	memcpy(cache->domain, domain, domain_len);
	cache->domain[domain_len] = '\0';
	cache->domain_len = domain_len;
	cache->explicit_version = explicit_version;
	cache->requested = requested;

	version = privstat_current_key_version(cache->domain);
	if (explicit_version)
	{
		if (requested < 1 || requested > version)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("key version %d does not exist for this domain", requested),
					 errdetail("The domain's current key version is %d.", (int) version),
					 errhint("Key versions start at 1; privstat.rotate_key() adds one.")));
		version = (uint16) requested;
	}
	cache->key = privstat_get_key(purpose, cache->domain, version);
	cache->generation = privstat_key_generation();
	return cache->key;
}

static void
refuse_empty(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_ZERO_LENGTH_CHARACTER_STRING),
			 errmsg("cannot %s an empty string", what),
			 errhint("Store NULL for a missing identifier.")));
}


/* ---------------------------------------------------------------------------
 * pseudonym: I/O
 * ---------------------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(pseudonym_in);
Datum
pseudonym_in(PG_FUNCTION_ARGS)
{
	const char *str = PG_GETARG_CSTRING(0);
	Pseudonym  *result = palloc(PSEUDONYM_LEN);
	uint16		version;
	int			n;

	if (strncmp(str, PSEUDONYM_PREFIX, strlen(PSEUDONYM_PREFIX)) != 0)
		invalid_pseudonym_text();
	str += strlen(PSEUDONYM_PREFIX);
	n = parse_version(str, &version);
	if (n == 0 || str[n] != ':')
		invalid_pseudonym_text();
	str += n + 1;
	if (strlen(str) != 2 * PSEUDONYM_MAC_LEN ||
		!decode_hex(str, 2 * PSEUDONYM_MAC_LEN, result->data + 2))
		invalid_pseudonym_text();
	result->data[0] = (uint8) (version >> 8);
	result->data[1] = (uint8) (version & 0xff);
	PG_RETURN_POINTER(result);
}

static uint16
pseudonym_get_version(const Pseudonym *p)
{
	return (uint16) ((p->data[0] << 8) | p->data[1]);
}

PG_FUNCTION_INFO_V1(pseudonym_out);
Datum
pseudonym_out(PG_FUNCTION_ARGS)
{
	Pseudonym  *p = PG_GETARG_PSEUDONYM_P(0);
	char	   *result = palloc(strlen(PSEUDONYM_PREFIX) + 6 + 2 * PSEUDONYM_MAC_LEN + 1);
	int			n;

	n = sprintf(result, PSEUDONYM_PREFIX "%u:", (unsigned) pseudonym_get_version(p));
	n += hex_encode((const char *) p->data + 2, PSEUDONYM_MAC_LEN, result + n);
	result[n] = '\0';
	PG_RETURN_CSTRING(result);
}

PG_FUNCTION_INFO_V1(pseudonym_recv);
Datum
pseudonym_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	Pseudonym  *result;

	if (buf->len - buf->cursor != PSEUDONYM_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid length in external pseudonym value"),
				 errdetail("A pseudonym is %d bytes in binary form, not %d.",
						   PSEUDONYM_LEN, buf->len - buf->cursor)));
	result = palloc(PSEUDONYM_LEN);
	pq_copymsgbytes(buf, (char *) result->data, PSEUDONYM_LEN);
	if (pseudonym_get_version(result) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid key version in external pseudonym value"),
				 errdetail("Key versions start at 1.")));
	PG_RETURN_POINTER(result);
}

PG_FUNCTION_INFO_V1(pseudonym_send);
Datum
pseudonym_send(PG_FUNCTION_ARGS)
{
	Pseudonym  *p = PG_GETARG_PSEUDONYM_P(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbytes(&buf, (const char *) p->data, PSEUDONYM_LEN);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}


/* ---------------------------------------------------------------------------
 * pseudonym: comparison and hashing (all leakproof: they never raise errors)
 * ---------------------------------------------------------------------------
 */

static int
pseudonym_cmp_internal(const Pseudonym *a, const Pseudonym *b)
{
	return memcmp(a->data, b->data, PSEUDONYM_LEN);
}

#define PSEUDONYM_CMP_FN(name, op) \
PG_FUNCTION_INFO_V1(name); \
Datum \
name(PG_FUNCTION_ARGS) \
{ \
	PG_RETURN_BOOL(pseudonym_cmp_internal(PG_GETARG_PSEUDONYM_P(0), \
										  PG_GETARG_PSEUDONYM_P(1)) op 0); \
}

PSEUDONYM_CMP_FN(pseudonym_eq, ==)
PSEUDONYM_CMP_FN(pseudonym_ne, !=)
PSEUDONYM_CMP_FN(pseudonym_lt, <)
PSEUDONYM_CMP_FN(pseudonym_le, <=)
PSEUDONYM_CMP_FN(pseudonym_gt, >)
PSEUDONYM_CMP_FN(pseudonym_ge, >=)

PG_FUNCTION_INFO_V1(pseudonym_cmp);
Datum
pseudonym_cmp(PG_FUNCTION_ARGS)
{
	int			c = pseudonym_cmp_internal(PG_GETARG_PSEUDONYM_P(0),
										   PG_GETARG_PSEUDONYM_P(1));

	PG_RETURN_INT32(c < 0 ? -1 : (c > 0 ? 1 : 0));
}

PG_FUNCTION_INFO_V1(pseudonym_hash);
Datum
pseudonym_hash(PG_FUNCTION_ARGS)
{
	Pseudonym  *p = PG_GETARG_PSEUDONYM_P(0);

	return hash_any(p->data, PSEUDONYM_LEN);
}

PG_FUNCTION_INFO_V1(pseudonym_hash_extended);
Datum
pseudonym_hash_extended(PG_FUNCTION_ARGS)
{
	Pseudonym  *p = PG_GETARG_PSEUDONYM_P(0);

	return hash_any_extended(p->data, PSEUDONYM_LEN, PG_GETARG_INT64(1));
}

PG_FUNCTION_INFO_V1(pseudonym_version);
Datum
pseudonym_version(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32((int32) pseudonym_get_version(PG_GETARG_PSEUDONYM_P(0)));
}


/* ---------------------------------------------------------------------------
 * pseudonymize()
 * ---------------------------------------------------------------------------
 */

static Datum
make_pseudonym(PrivstatKey *key, const char *data, size_t len)
{
	Pseudonym  *result = palloc(PSEUDONYM_LEN);
	uint8		mac[32];

	privstat_hmac_sha256(key, data, len, mac);
	result->data[0] = (uint8) (key->version >> 8);
	result->data[1] = (uint8) (key->version & 0xff);
	memcpy(result->data + 2, mac, PSEUDONYM_MAC_LEN);
	return PointerGetDatum(result);
}

static Datum
pseudonymize_bytes(FunctionCallInfo fcinfo, const char *data, size_t len,
				   text *domain, bool explicit_version, int32 requested)
{
	PrivstatKey *key;

	if (len == 0)
		refuse_empty("pseudonymize");
	key = lookup_key(fcinfo, KEY_PURPOSE_PSEUDONYM, VARDATA_ANY(domain),
					 VARSIZE_ANY_EXHDR(domain), explicit_version, requested);
	return make_pseudonym(key, data, len);
}

PG_FUNCTION_INFO_V1(pseudonymize_text);
Datum
pseudonymize_text(PG_FUNCTION_ARGS)
{
	text	   *value = PG_GETARG_TEXT_PP(0);

	return pseudonymize_bytes(fcinfo, VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value),
							  PG_GETARG_TEXT_PP(1), false, 0);
}

PG_FUNCTION_INFO_V1(pseudonymize_text_version);
Datum
pseudonymize_text_version(PG_FUNCTION_ARGS)
{
	text	   *value = PG_GETARG_TEXT_PP(0);

	return pseudonymize_bytes(fcinfo, VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value),
							  PG_GETARG_TEXT_PP(1), true, PG_GETARG_INT32(2));
}

/*
 * bigint and uuid are pseudonymized through their canonical text form, so
 * pseudonymize(42) = pseudonymize('42') and a uuid gives the same token as
 * its lowercase text: tables that keep one identifier in different types
 * still join on the pseudonym.
 */
PG_FUNCTION_INFO_V1(pseudonymize_int8);
Datum
pseudonymize_int8(PG_FUNCTION_ARGS)
{
	char		buf[MAXINT8LEN + 1];
	int			len = pg_lltoa(PG_GETARG_INT64(0), buf);

	return pseudonymize_bytes(fcinfo, buf, len, PG_GETARG_TEXT_PP(1), false, 0);
}

PG_FUNCTION_INFO_V1(pseudonymize_uuid);
Datum
pseudonymize_uuid(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *uuid = PG_GETARG_UUID_P(0);
	char		buf[2 * UUID_LEN + 5];
	int			i,
				n = 0;

	for (i = 0; i < UUID_LEN; i++)
	{
		if (i == 4 || i == 6 || i == 8 || i == 10)
			buf[n++] = '-';
		n += hex_encode((const char *) &uuid->data[i], 1, buf + n);
	}
	return pseudonymize_bytes(fcinfo, buf, n, PG_GETARG_TEXT_PP(1), false, 0);
}


/* ---------------------------------------------------------------------------
 * sealed: I/O
 * ---------------------------------------------------------------------------
 */

typedef struct SealedParts
{
	uint16		version;
	int			domain_len;
	const char *domain;			/* not NUL-terminated */
	const uint8 *tag;
	const uint8 *ct;
	int			ct_len;
	int			aad_len;		/* the header: version, length, domain */
} SealedParts;

/*
 * Split a sealed payload into its parts.  Returns false if the layout is
 * impossible; authentication is unseal's business.
 */
static bool
sealed_parse(const uint8 *p, int len, SealedParts *parts)
{
	if (len < SEALED_FIXED_HDR)
		return false;
	parts->version = (uint16) ((p[0] << 8) | p[1]);
	parts->domain_len = p[2];
	if (parts->version == 0)
		return false;
	parts->aad_len = SEALED_FIXED_HDR + parts->domain_len;
	if (len < parts->aad_len + SIV_TAG_LEN + 1)
		return false;
	parts->domain = (const char *) p + SEALED_FIXED_HDR;
	if (!privstat_domain_is_valid(parts->domain, parts->domain_len))
		return false;
	parts->tag = p + parts->aad_len;
	parts->ct = parts->tag + SIV_TAG_LEN;
	parts->ct_len = len - parts->aad_len - SIV_TAG_LEN;
	return true;
}

PG_FUNCTION_INFO_V1(sealed_in);
Datum
sealed_in(PG_FUNCTION_ARGS)
{
	const char *str = PG_GETARG_CSTRING(0);
	const char *colon;
	int			domain_len;
	uint16		version;
	int			n;
	size_t		hexlen;
	bytea	   *result;
	uint8	   *p;
	SealedParts parts;

	if (strncmp(str, SEALED_PREFIX, strlen(SEALED_PREFIX)) != 0)
		invalid_sealed_text();
	str += strlen(SEALED_PREFIX);
	colon = strchr(str, ':');
	if (colon == NULL)
		invalid_sealed_text();
	domain_len = colon - str;
	if (domain_len < 1 || domain_len > PRIVSTAT_DOMAIN_MAX_LEN)
		invalid_sealed_text();
	n = parse_version(colon + 1, &version);
	if (n == 0 || colon[1 + n] != ':')
		invalid_sealed_text();
	hexlen = strlen(colon + 2 + n);
	if (hexlen % 2 != 0 || hexlen < 2 * (SIV_TAG_LEN + 1) ||
		hexlen / 2 > MaxAllocSize - VARHDRSZ - SEALED_FIXED_HDR - domain_len)
		invalid_sealed_text();

	result = palloc(VARHDRSZ + SEALED_FIXED_HDR + domain_len + hexlen / 2);
	SET_VARSIZE(result, VARHDRSZ + SEALED_FIXED_HDR + domain_len + hexlen / 2);
	p = (uint8 *) VARDATA(result);
	p[0] = (uint8) (version >> 8);
	p[1] = (uint8) (version & 0xff);
	p[2] = (uint8) domain_len;
	memcpy(p + SEALED_FIXED_HDR, str, domain_len);
	if (!decode_hex(colon + 2 + n, hexlen, p + SEALED_FIXED_HDR + domain_len) ||
		!sealed_parse(p, VARSIZE(result) - VARHDRSZ, &parts))
		invalid_sealed_text();
	PG_RETURN_BYTEA_P(result);
}

PG_FUNCTION_INFO_V1(sealed_out);
Datum
sealed_out(PG_FUNCTION_ARGS)
{
	bytea	   *v = PG_GETARG_SEALED_P(0);
	SealedParts parts;
	char	   *result;
	int			n;

	if (!sealed_parse((const uint8 *) VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v), &parts))
		elog(ERROR, "corrupt sealed value");
	result = palloc(strlen(SEALED_PREFIX) + parts.domain_len + 8 +
					2 * (SIV_TAG_LEN + parts.ct_len) + 1);
	n = sprintf(result, SEALED_PREFIX "%.*s:%u:", parts.domain_len, parts.domain,
				(unsigned) parts.version);
	n += hex_encode((const char *) parts.tag, SIV_TAG_LEN + parts.ct_len, result + n);
	result[n] = '\0';
	PG_RETURN_CSTRING(result);
}

PG_FUNCTION_INFO_V1(sealed_recv);
Datum
sealed_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			len = buf->len - buf->cursor;
	bytea	   *result;
	SealedParts parts;

	result = palloc(VARHDRSZ + len);
	SET_VARSIZE(result, VARHDRSZ + len);
	pq_copymsgbytes(buf, VARDATA(result), len);
	if (!sealed_parse((const uint8 *) VARDATA(result), len, &parts))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid external sealed value"),
				 errdetail("The binary form is a key version, a domain, a 16-byte tag and at least one byte of ciphertext.")));
	PG_RETURN_BYTEA_P(result);
}

PG_FUNCTION_INFO_V1(sealed_send);
Datum
sealed_send(PG_FUNCTION_ARGS)
{
	bytea	   *v = PG_GETARG_SEALED_P(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbytes(&buf, VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}


/* ---------------------------------------------------------------------------
 * sealed: comparison and hashing (leakproof)
 * ---------------------------------------------------------------------------
 */

static int
sealed_cmp_internal(bytea *a, bytea *b)
{
	int			la = VARSIZE_ANY_EXHDR(a);
	int			lb = VARSIZE_ANY_EXHDR(b);
	int			c = memcmp(VARDATA_ANY(a), VARDATA_ANY(b), Min(la, lb));

	if (c != 0)
		return c;
	return (la > lb) - (la < lb);
}

#define SEALED_CMP_FN(name, op) \
PG_FUNCTION_INFO_V1(name); \
Datum \
name(PG_FUNCTION_ARGS) \
{ \
	bytea	   *a = PG_GETARG_SEALED_P(0); \
	bytea	   *b = PG_GETARG_SEALED_P(1); \
	int			c = sealed_cmp_internal(a, b); \
\
	PG_FREE_IF_COPY(a, 0); \
	PG_FREE_IF_COPY(b, 1); \
	PG_RETURN_BOOL(c op 0); \
}

SEALED_CMP_FN(sealed_eq, ==)
SEALED_CMP_FN(sealed_ne, !=)
SEALED_CMP_FN(sealed_lt, <)
SEALED_CMP_FN(sealed_le, <=)
SEALED_CMP_FN(sealed_gt, >)
SEALED_CMP_FN(sealed_ge, >=)

PG_FUNCTION_INFO_V1(sealed_cmp);
Datum
sealed_cmp(PG_FUNCTION_ARGS)
{
	bytea	   *a = PG_GETARG_SEALED_P(0);
	bytea	   *b = PG_GETARG_SEALED_P(1);
	int			c = sealed_cmp_internal(a, b);

	PG_FREE_IF_COPY(a, 0);
	PG_FREE_IF_COPY(b, 1);
	PG_RETURN_INT32(c < 0 ? -1 : (c > 0 ? 1 : 0));
}

PG_FUNCTION_INFO_V1(sealed_hash);
Datum
sealed_hash(PG_FUNCTION_ARGS)
{
	bytea	   *v = PG_GETARG_SEALED_P(0);
	Datum		h = hash_any((const unsigned char *) VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));

	PG_FREE_IF_COPY(v, 0);
	return h;
}

PG_FUNCTION_INFO_V1(sealed_hash_extended);
Datum
sealed_hash_extended(PG_FUNCTION_ARGS)
{
	bytea	   *v = PG_GETARG_SEALED_P(0);
	Datum		h = hash_any_extended((const unsigned char *) VARDATA_ANY(v),
									  VARSIZE_ANY_EXHDR(v), PG_GETARG_INT64(1));

	PG_FREE_IF_COPY(v, 0);
	return h;
}

static void
sealed_parts_or_error(bytea *v, SealedParts *parts)
{
	if (!sealed_parse((const uint8 *) VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v), parts))
		elog(ERROR, "corrupt sealed value");
}

PG_FUNCTION_INFO_V1(sealed_version);
Datum
sealed_version(PG_FUNCTION_ARGS)
{
	SealedParts parts;

	sealed_parts_or_error(PG_GETARG_SEALED_P(0), &parts);
	PG_RETURN_INT32((int32) parts.version);
}

PG_FUNCTION_INFO_V1(sealed_domain);
Datum
sealed_domain(PG_FUNCTION_ARGS)
{
	SealedParts parts;

	sealed_parts_or_error(PG_GETARG_SEALED_P(0), &parts);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(parts.domain, parts.domain_len));
}


/* ---------------------------------------------------------------------------
 * seal(), unseal(), reseal(): AES-256-SIV
 * ---------------------------------------------------------------------------
 */

/*
 * The cipher and one context live for the backend's life, so an error in
 * the middle of a call leaks no OpenSSL memory: the next call re-initialises.
 */
static EVP_CIPHER_CTX *
siv_context(void)
{
	if (siv_cipher == NULL)
	{
		siv_cipher = EVP_CIPHER_fetch(NULL, "AES-256-SIV", NULL);
		if (siv_cipher == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("OpenSSL does not provide AES-256-SIV")));
	}
	if (siv_ctx == NULL)
	{
		siv_ctx = EVP_CIPHER_CTX_new();
		if (siv_ctx == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory in OpenSSL")));
	}
	return siv_ctx;
}

static bytea *
seal_bytes(PrivstatKey *key, const char *data, int len)
{
	EVP_CIPHER_CTX *ctx = siv_context();
	int			domain_len = strlen(key->domain);
	int			aad_len = SEALED_FIXED_HDR + domain_len;
	bytea	   *result;
	uint8	   *p;
	int			outl = 0,
				finl = 0;

	if ((Size) len > MaxAllocSize - VARHDRSZ - aad_len - SIV_TAG_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("value is too long to seal")));
	result = palloc(VARHDRSZ + aad_len + SIV_TAG_LEN + len);
	SET_VARSIZE(result, VARHDRSZ + aad_len + SIV_TAG_LEN + len);
	p = (uint8 *) VARDATA(result);
	p[0] = (uint8) (key->version >> 8);
	p[1] = (uint8) (key->version & 0xff);
	p[2] = (uint8) domain_len;
	memcpy(p + SEALED_FIXED_HDR, key->domain, domain_len);

	if (EVP_EncryptInit_ex2(ctx, siv_cipher, key->key, NULL, NULL) != 1 ||
		EVP_EncryptUpdate(ctx, NULL, &outl, p, aad_len) != 1 ||
		EVP_EncryptUpdate(ctx, p + aad_len + SIV_TAG_LEN, &outl,
						  (const unsigned char *) data, len) != 1 ||
		EVP_EncryptFinal_ex(ctx, p + aad_len + SIV_TAG_LEN + outl, &finl) != 1 ||
		outl + finl != len ||
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, SIV_TAG_LEN,
							p + aad_len) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not seal a value: AES-256-SIV failed in OpenSSL")));
	return result;
}

/* decrypt and authenticate; the plaintext is palloc'd, *len set */
static char *
unseal_bytes(FunctionCallInfo fcinfo, bytea *v, int *len)
{
	EVP_CIPHER_CTX *ctx;
	SealedParts parts;
	PrivstatKey *key;
	char	   *plain;
	int			outl = 0,
				finl = 0;
	bool		ok;

	sealed_parts_or_error(v, &parts);
	key = lookup_key(fcinfo, KEY_PURPOSE_SEALED, parts.domain, parts.domain_len,
					 true, parts.version);
	ctx = siv_context();
	plain = palloc(parts.ct_len + 1);
	ok = (EVP_DecryptInit_ex2(ctx, siv_cipher, key->key, NULL, NULL) == 1 &&
		  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, SIV_TAG_LEN,
							  (void *) parts.tag) == 1 &&
		  EVP_DecryptUpdate(ctx, NULL, &outl,
							(const unsigned char *) VARDATA_ANY(v), parts.aad_len) == 1 &&
		  EVP_DecryptUpdate(ctx, (unsigned char *) plain, &outl,
							parts.ct, parts.ct_len) == 1 &&
		  EVP_DecryptFinal_ex(ctx, (unsigned char *) plain + outl, &finl) == 1 &&
		  outl + finl == parts.ct_len);
	if (!ok)
	{
		explicit_bzero(plain, parts.ct_len);
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("sealed value failed authentication"),
				 errdetail("The value was changed, or it was sealed under another master key.")));
	}
	*len = parts.ct_len;
	return plain;
}

PG_FUNCTION_INFO_V1(privstat_seal);
Datum
privstat_seal(PG_FUNCTION_ARGS)
{
	text	   *value = PG_GETARG_TEXT_PP(0);
	text	   *domain = PG_GETARG_TEXT_PP(1);
	PrivstatKey *key;

	if (VARSIZE_ANY_EXHDR(value) == 0)
		refuse_empty("seal");
	key = lookup_key(fcinfo, KEY_PURPOSE_SEALED, VARDATA_ANY(domain),
					 VARSIZE_ANY_EXHDR(domain), false, 0);
	PG_RETURN_BYTEA_P(seal_bytes(key, VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value)));
}

/*
 * Only superusers and members of privstat_unsealer may unseal.  EXECUTE is
 * granted to that role alone, and this check holds even if a DBA grants
 * EXECUTE more widely by mistake.
 */
static void
check_unsealer(void)
{
	if (!privstat_has_role("privstat_unsealer"))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to unseal values"),
				 errdetail("Only superusers and members of privstat_unsealer may unseal."),
				 errhint("Ask an administrator to GRANT privstat_unsealer to this role.")));
}

PG_FUNCTION_INFO_V1(privstat_unseal);
Datum
privstat_unseal(PG_FUNCTION_ARGS)
{
	char	   *plain;
	int			len;
	text	   *result;

	check_unsealer();
	/* the audit trail of a standby is its own, seen by nobody on the primary */
	if (RecoveryInProgress())
	{
		char	   *primary = privstat_standby_primary();

		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("values cannot be unsealed on a hot standby"),
				 errdetail("Every unseal is recorded in the audit trail, which a standby cannot add to the primary's."),
				 primary ?
				 errhint("Unseal on the primary, %s (where this standby receives its WAL from).", primary) :
				 errhint("Unseal on the primary.")));
	}
	plain = unseal_bytes(fcinfo, PG_GETARG_SEALED_P(0), &len);
	privstat_audit_count_unseal();
	result = cstring_to_text_with_len(plain, len);
	explicit_bzero(plain, len);
	pfree(plain);
	PG_RETURN_TEXT_P(result);
}

/*
 * reseal(sealed): the same plaintext sealed under its domain's current key
 * version, without the plaintext ever reaching SQL.  privstat.rekey() calls
 * it in batches.
 */
PG_FUNCTION_INFO_V1(privstat_reseal);
Datum
privstat_reseal(PG_FUNCTION_ARGS)
{
	bytea	   *v = PG_GETARG_SEALED_P(0);
	SealedParts parts;
	char		domain[PRIVSTAT_DOMAIN_MAX_LEN + 1];
	uint16		current;
	char	   *plain;
	int			len;
	bytea	   *result;

	privstat_require_preload();
	sealed_parts_or_error(v, &parts);
	memcpy(domain, parts.domain, parts.domain_len);
	domain[parts.domain_len] = '\0';
	current = privstat_current_key_version(domain);
	if (parts.version == current)
		PG_RETURN_BYTEA_P(PG_GETARG_BYTEA_P_COPY(0));

	plain = unseal_bytes(fcinfo, v, &len);
	privstat_audit_count_reseal();
	result = seal_bytes(privstat_get_key(KEY_PURPOSE_SEALED, domain, current),
						plain, len);
	explicit_bzero(plain, len);
	pfree(plain);
	PG_RETURN_BYTEA_P(result);
}

PG_FUNCTION_INFO_V1(privstat_current_key_version_sql);
Datum
privstat_current_key_version_sql(PG_FUNCTION_ARGS)
{
	text	   *domain = PG_GETARG_TEXT_PP(0);
	char		buf[PRIVSTAT_DOMAIN_MAX_LEN + 1];
	int			len = VARSIZE_ANY_EXHDR(domain);

	privstat_require_preload();
	privstat_check_domain(VARDATA_ANY(domain), len);
	memcpy(buf, VARDATA_ANY(domain), len);
	buf[len] = '\0';
	PG_RETURN_INT32((int32) privstat_current_key_version(buf));
}
