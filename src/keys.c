/*-------------------------------------------------------------------------
 *
 * keys.c
 *	  privstat's master key and the keys derived from it.
 *
 * The master key is 256 bits from OpenSSL's CSPRNG, kept in the file named by
 * privstat.key_file as 64 hex digits.  The postmaster reads it once, in
 * _PG_init, and every backend inherits it through fork; no SQL function,
 * setting or log line ever shows it.  A key file that group or others may
 * read, that is too short or that is malformed stops the server at start,
 * with a log line that names the file and the fix: privstat never runs with
 * a key it cannot trust, and never silently replaces one.
 *
 * Keys are derived with HKDF-SHA-256 per purpose (pseudonym, sealed), per
 * domain (a short name such as "customer") and per key version.  The current
 * version of each domain lives in the table privstat.key_version, so that it
 * is transactional and travels with pg_dump; privstat.rotate_key() bumps it.
 *
 * Each backend caches derived keys (and, for pseudonyms, the HMAC inner and
 * outer SHA-256 midstates, so that a value costs two SHA-256 finishes and no
 * key setup) for its whole life, and the current version of each domain until privstat.key_version
 * changes: a statement trigger on that table sends a relcache invalidation,
 * and our relcache callback then forgets every cached version.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * HMAC-SHA-256 per value is built on OpenSSL's low-level SHA256_* functions,
 * deprecated in OpenSSL 3 but still provided: they let a keyed midstate be
 * copied by value.  EVP_MAC re-initialisation duplicates the digest context
 * on the heap twice per value, which costs more than the hashing itself.
 * Only this file uses them.
 */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "privstat/guc.h"
#include "privstat/keys.h"
#include "privstat/common.h"

/* the key file holds exactly this many hex digits, then an optional newline */
#define KEY_FILE_HEX_LEN	(2 * PRIVSTAT_MASTER_KEY_LEN)

/* derived keys cached per backend before the cache is emptied and refilled */
#define KEY_CACHE_MAX		1024

/* HKDF salt: fixed, so derivation depends on the master key and info only */
#define HKDF_SALT			"privstat key derivation v1"

/*
 * Set by the postmaster in _PG_init and inherited by every backend through
 * fork.  Process memory only: never in shared memory, a setting or a file
 * other than the key file.
 */
static uint8 master_key[PRIVSTAT_MASTER_KEY_LEN];
static bool master_key_loaded = false;

/* hash key of the derived-key cache; zero-padded so HASH_BLOBS works */
typedef struct KeyCacheTag
{
	int32		purpose;
	int32		version;
	char		domain[PRIVSTAT_DOMAIN_MAX_LEN + 1];
} KeyCacheTag;

struct PrivstatHmacState
{
	SHA256_CTX	inner;			/* SHA-256 after absorbing key XOR ipad */
	SHA256_CTX	outer;			/* SHA-256 after absorbing key XOR opad */
};

typedef struct KeyCacheEntry
{
	KeyCacheTag tag;			/* hash key: must be first */
	PrivstatKey key;
} KeyCacheEntry;

typedef struct VersionCacheEntry
{
	char		domain[PRIVSTAT_DOMAIN_MAX_LEN + 1];	/* hash key */
	uint16		version;
} VersionCacheEntry;

static MemoryContext keys_context = NULL;
static HTAB *key_cache = NULL;
static HTAB *version_cache = NULL;
static bool version_cache_valid = false;
static Oid	key_version_relid = InvalidOid;
static bool relcache_callback_registered = false;

/*
 * Bumped whenever cached versions are forgotten, so callers that keep a
 * resolved key in fn_extra know to look it up again.
 */
static uint64 key_generation = 1;

static char *key_file_path(void);
static void write_file_durably(const char *path, const char *what, const char *data, size_t len);
static void create_key_file(const char *path);
static void check_key_against_cluster(const char *path, bool created);
static void load_key_file(const char *path);
static void derive_key(PrivstatKeyPurpose purpose, const char *domain,
					   uint16 version, uint8 *out, int outlen);
static void keys_relcache_callback(Datum arg, Oid relid);


/* ---------------------------------------------------------------------------
 * The key file (postmaster only)
 * ---------------------------------------------------------------------------
 */

/*
 * Called from _PG_init in the postmaster.  Any problem is FATAL: the server
 * does not start rather than run privstat with a key it cannot trust.
 */
void
privstat_keys_init(void)
{
	char	   *path = key_file_path();
	struct stat st;
	bool		created = false;

	if (stat(path, &st) != 0)
	{
		if (errno != ENOENT)
			ereport(FATAL,
					(errcode_for_file_access(),
					 errmsg("could not stat privstat key file \"%s\": %m", path)));
		check_key_against_cluster(path, false);	/* refuses if the cluster had a key */
		create_key_file(path);
		created = true;
	}
	load_key_file(path);
	check_key_against_cluster(path, created);
	pfree(path);
}

/*
 * The cluster's key check: privstat.key_check in the data directory holds a
 * check value of the master key the cluster uses (16 bytes of
 * HMAC-SHA-256 of a fixed label under the key, as hex: nothing of the key
 * itself), written at the first start with a key.  A later start with the
 * key file missing, or with a key of another check value, is refused: a new
 * key would make every new pseudonym differ from the stored ones, and no
 * sealed value would unseal.  The file travels with the data directory
 * (base backups, pg_rewind), so a standby or a restore is checked too.
 */
#define KEY_CHECK_FILE		"privstat.key_check"
#define KEY_CHECK_HEX_LEN	32

static void
key_check_value(char *hex)
{
	static const char label[] = "privstat master key check value, version 1";
	uint8		mac[32];
	size_t		len = 0;

	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, master_key, sizeof(master_key),
				  (const unsigned char *) label, strlen(label), mac, sizeof(mac), &len) == NULL ||
		len != sizeof(mac))
		ereport(FATAL,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute the check value of the privstat master key")));
	hex_encode((const char *) mac, KEY_CHECK_HEX_LEN / 2, hex);
	hex[KEY_CHECK_HEX_LEN] = '\0';
}

/*
 * At start, before a key file is created (created false, no key loaded:
 * refuses if the cluster had one) and after it is loaded (compares, or
 * records the check value of a cluster's first key).
 */
static void
check_key_against_cluster(const char *path, bool created)
{
	char	   *check_path = psprintf("%s/%s", DataDir, KEY_CHECK_FILE);
	char		stored[KEY_CHECK_HEX_LEN + 8];
	char		current[KEY_CHECK_HEX_LEN + 2];
	ssize_t		len = -1;
	int			fd;

	fd = open(check_path, O_RDONLY | PG_BINARY, 0);
	if (fd < 0 && errno != ENOENT)
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("could not open privstat key check file \"%s\": %m", check_path)));
	if (fd >= 0)
	{
		len = read(fd, stored, sizeof(stored));
		close(fd);
		if (len > 0 && stored[len - 1] == '\n')
			len--;
		if (len != KEY_CHECK_HEX_LEN)
			ereport(FATAL,
					(errcode(ERRCODE_CONFIG_FILE_ERROR),
					 errmsg("privstat key check file \"%s\" is malformed", check_path),
					 errdetail("It must hold the %d hexadecimal digits of the master key's check value.",
							   KEY_CHECK_HEX_LEN),
					 errhint("Restore it from the data directory's backup, or remove it: the key file \"%s\" is then taken as the cluster's key at the next start.",
							 path)));
		stored[len] = '\0';
	}

	if (!master_key_loaded)
	{
		/* the key file is missing */
		if (fd >= 0)
			ereport(FATAL,
					(errcode(ERRCODE_CONFIG_FILE_ERROR),
					 errmsg("privstat key file \"%s\" is missing", path),
					 errdetail("This cluster has used a master key (\"%s\" holds its check value): a new key would give pseudonyms that match none of those stored, and could unseal no sealed value.",
							   check_path),
					 errhint("Restore the key file from its backup.  Only if no pseudonym or sealed value made with the old key must survive, remove \"%s\" as well, and a new key is created at the next start.",
							 check_path)));
		pfree(check_path);
		return;
	}

	key_check_value(current);
	if (fd >= 0)
	{
		if (strcmp(stored, current) != 0)
			ereport(FATAL,
					(errcode(ERRCODE_CONFIG_FILE_ERROR),
					 errmsg("privstat key file \"%s\" does not hold this cluster's master key", path),
					 errdetail("Its check value differs from the one in \"%s\": pseudonyms made with it would match none of those stored, and sealed values would not unseal.",
							   check_path),
					 errhint("Restore the cluster's key file from its backup.  Only if no pseudonym or sealed value made with the old key must survive, remove \"%s\", and this key is taken at the next start.",
							 check_path)));
	}
	else
	{
		/* the cluster's first key (or its first start with this release) */
		current[KEY_CHECK_HEX_LEN] = '\n';
		write_file_durably(check_path, "privstat key check file", current, KEY_CHECK_HEX_LEN + 1);
		if (!created)
			ereport(LOG,
					(errmsg("privstat recorded the check value of its master key in \"%s\"", check_path),
					 errdetail("A later start without the key file \"%s\", or with another key, is refused.", path)));
	}
	pfree(check_path);
}

/* absolute path of the key file; a relative setting is taken from DataDir */
static char *
key_file_path(void)
{
	const char *setting = privstat_key_file;

	if (setting == NULL || setting[0] == '\0')
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("privstat.key_file must not be empty"),
				 errhint("Leave privstat.key_file unset to use \"privstat.key\" in the data directory.")));
	if (is_absolute_path(setting))
		return pstrdup(setting);
	return psprintf("%s/%s", DataDir, setting);
}

/*
 * Write a small file of the postmaster's durably: to path.tmp (mode 0600),
 * fsync, then renamed over path, so a crash never leaves a torn file.  Any
 * failure is FATAL; what names the file in the message.
 */
static void
write_file_durably(const char *path, const char *what, const char *data, size_t len)
{
	char	   *tmppath = psprintf("%s.tmp", path);
	ssize_t		written;
	int			fd;

	(void) unlink(tmppath);
	fd = open(tmppath, O_WRONLY | O_CREAT | O_EXCL | PG_BINARY, S_IRUSR | S_IWUSR);
	if (fd < 0)
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("could not create %s \"%s\": %m", what, tmppath)));
	written = write(fd, data, len);
	if (written != (ssize_t) len)
	{
		if (written >= 0)
			errno = ENOSPC;
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("could not write %s \"%s\": %m", what, tmppath)));
	}
	if (pg_fsync(fd) != 0)
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("could not fsync %s \"%s\": %m", what, tmppath)));
	if (close(fd) != 0)
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("could not close %s \"%s\": %m", what, tmppath)));
	(void) durable_rename(tmppath, path, FATAL);
	pfree(tmppath);
}

/*
 * Write a new random master key.  Written to a temporary file first and then
 * renamed, so a crash never leaves a truncated key file behind.
 */
static void
create_key_file(const char *path)
{
	uint8		key[PRIVSTAT_MASTER_KEY_LEN];
	char		hex[KEY_FILE_HEX_LEN + 2];

	if (RAND_priv_bytes(key, sizeof(key)) != 1)
		ereport(FATAL,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a privstat master key: OpenSSL's random generator failed")));
	hex_encode((const char *) key, sizeof(key), hex);
	hex[KEY_FILE_HEX_LEN] = '\n';
	hex[KEY_FILE_HEX_LEN + 1] = '\0';
	explicit_bzero(key, sizeof(key));

	write_file_durably(path, "privstat key file", hex, KEY_FILE_HEX_LEN + 1);
	explicit_bzero(hex, sizeof(hex));

	ereport(LOG,
			(errmsg("privstat created a new master key file \"%s\"", path),
			 errdetail("Pseudonyms and sealed values made with this key cannot be reproduced or unsealed without it."),
			 errhint("Back this file up now, securely and apart from the database backups.")));
}

static void
load_key_file(const char *path)
{
	char		buf[KEY_FILE_HEX_LEN + 8];
	int			fd;
	ssize_t		len;
	struct stat st;
	int			i;

	fd = open(path, O_RDONLY | PG_BINARY, 0);
	if (fd < 0)
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("could not open privstat key file \"%s\": %m", path),
				 errhint("The key file must be readable by the user the server runs as.")));
	if (fstat(fd, &st) != 0)
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("could not stat privstat key file \"%s\": %m", path)));
	if (!S_ISREG(st.st_mode))
		ereport(FATAL,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("privstat key file \"%s\" is not a regular file", path)));
	if (st.st_mode & (S_IRWXG | S_IRWXO))
		ereport(FATAL,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("privstat key file \"%s\" has group or world access", path),
				 errdetail("The key file must be readable and writable by its owner only."),
				 errhint("Run chmod 0600 on the file, then start the server again.")));

	len = read(fd, buf, sizeof(buf));
	if (len < 0)
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("could not read privstat key file \"%s\": %m", path)));
	close(fd);

	/* one trailing newline (or CRLF) is allowed */
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len > 0 && buf[len - 1] == '\r')
		len--;

	for (i = 0; i < len; i++)
	{
		if (!isxdigit((unsigned char) buf[i]))
			break;
	}
	if (i == len && len < KEY_FILE_HEX_LEN)
	{
		explicit_bzero(buf, sizeof(buf));
		ereport(FATAL,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("privstat key file \"%s\" is too short", path),
				 errdetail("The file must hold exactly %d hexadecimal digits (a 256-bit key).",
						   KEY_FILE_HEX_LEN),
				 errhint("Restore the key file from its backup.  Only if no pseudonym or sealed value made with it must survive, move it away and restart to create a new key.")));
	}
	if (i != len || len != KEY_FILE_HEX_LEN)
	{
		explicit_bzero(buf, sizeof(buf));
		ereport(FATAL,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("privstat key file \"%s\" is malformed", path),
				 errdetail("The file must hold exactly %d hexadecimal digits (a 256-bit key) and an optional newline.",
						   KEY_FILE_HEX_LEN),
				 errhint("Restore the key file from its backup.  Only if no pseudonym or sealed value made with it must survive, move it away and restart to create a new key.")));
	}

	hex_decode(buf, KEY_FILE_HEX_LEN, (char *) master_key);
	explicit_bzero(buf, sizeof(buf));
	master_key_loaded = true;
}


/* ---------------------------------------------------------------------------
 * Domains and derivation
 * ---------------------------------------------------------------------------
 */

/* whether domain[0..len) is a valid domain name (see privstat_check_domain) */
bool
privstat_domain_is_valid(const char *domain, int len)
{
	bool		ok = (len >= 1 && len <= PRIVSTAT_DOMAIN_MAX_LEN &&
					  domain[0] >= 'a' && domain[0] <= 'z');
	int			i;

	for (i = 1; ok && i < len; i++)
	{
		char		c = domain[i];

		ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
	}
	return ok;
}

/*
 * Check a domain name: 1 to PRIVSTAT_DOMAIN_MAX_LEN characters of [a-z0-9_],
 * starting with a letter.  The name feeds key derivation and the text form of
 * sealed values, so it must be short and unambiguous.  The name is not echoed
 * in the error, as a caller may have passed a raw value by mistake.
 */
void
privstat_check_domain(const char *domain, int len)
{
	if (!privstat_domain_is_valid(domain, len))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid privstat domain name"),
				 errdetail("A domain name has 1 to %d characters: lowercase letters, digits and underscores, starting with a letter.",
						   PRIVSTAT_DOMAIN_MAX_LEN),
				 errhint("Use a short name such as 'customer' or 'device'.")));
}

/*
 * HKDF-SHA-256(master key, info = "privstat:<purpose>:<domain>:<version>").
 * Domain names cannot hold ':', so info strings are unambiguous.
 */
static void
derive_key(PrivstatKeyPurpose purpose, const char *domain, uint16 version,
		   uint8 *out, int outlen)
{
	EVP_KDF    *kdf;
	EVP_KDF_CTX *kctx = NULL;
	OSSL_PARAM	params[5];
	char		info[64 + PRIVSTAT_DOMAIN_MAX_LEN];
	int			infolen;
	bool		ok = false;

	infolen = snprintf(info, sizeof(info), "privstat:%s:%s:%u",
					   purpose == KEY_PURPOSE_PSEUDONYM ? "pseudonym" :
					   purpose == KEY_PURPOSE_SEALED ? "sealed" :
					   purpose == KEY_PURPOSE_JOURNAL ? "journal" : "audit",
					   domain, (unsigned) version);

	kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	if (kdf != NULL)
		kctx = EVP_KDF_CTX_new(kdf);
	if (kctx != NULL)
	{
		params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0);
		params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
													  master_key, sizeof(master_key));
		params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
													  HKDF_SALT, strlen(HKDF_SALT));
		params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
													  info, infolen);
		params[4] = OSSL_PARAM_construct_end();
		ok = (EVP_KDF_derive(kctx, out, outlen, params) == 1);
	}
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);

	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not derive a privstat key: OpenSSL's HKDF failed")));
}

/*
 * HMAC (RFC 2104) midstates for a key of at most one SHA-256 block: the
 * states after hashing key XOR ipad and key XOR opad.
 */
static struct PrivstatHmacState *
hmac_setup(const uint8 *key, int keylen)
{
	struct PrivstatHmacState *st = MemoryContextAllocZero(keys_context, sizeof(*st));
	uint8		ipad[SHA256_CBLOCK];
	uint8		opad[SHA256_CBLOCK];
	int			i;

	Assert(keylen <= SHA256_CBLOCK);
	for (i = 0; i < SHA256_CBLOCK; i++)
	{
		uint8		k = (i < keylen) ? key[i] : 0;

		ipad[i] = k ^ 0x36;
		opad[i] = k ^ 0x5c;
	}
	if (SHA256_Init(&st->inner) != 1 ||
		SHA256_Update(&st->inner, ipad, sizeof(ipad)) != 1 ||
		SHA256_Init(&st->outer) != 1 ||
		SHA256_Update(&st->outer, opad, sizeof(opad)) != 1)
	{
		explicit_bzero(st, sizeof(*st));
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not set up HMAC-SHA-256 in OpenSSL")));
	}
	explicit_bzero(ipad, sizeof(ipad));
	explicit_bzero(opad, sizeof(opad));
	return st;
}

/*
 * HMAC-SHA-256 of data under a pseudonym key: out receives 32 bytes.  The
 * midstates are copied by value, so nothing is allocated per call and an
 * error cannot leak OpenSSL memory.
 */
void
privstat_hmac_sha256(const PrivstatKey *key, const void *data, size_t len,
					 uint8 *out)
{
	SHA256_CTX	c;
	uint8		inner[SHA256_DIGEST_LENGTH];
	bool		ok;

	Assert(key->hmac != NULL);
	c = key->hmac->inner;
	ok = (SHA256_Update(&c, data, len) == 1 && SHA256_Final(inner, &c) == 1);
	c = key->hmac->outer;
	ok = ok && (SHA256_Update(&c, inner, sizeof(inner)) == 1 && SHA256_Final(out, &c) == 1);
	explicit_bzero(&c, sizeof(c));
	explicit_bzero(inner, sizeof(inner));
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute HMAC-SHA-256 in OpenSSL")));
}

/* make the backend-lifetime context and hash tables on first use */
static void
keys_cache_setup(void)
{
	HASHCTL		ctl;

	if (keys_context == NULL)
		keys_context = AllocSetContextCreate(TopMemoryContext,
											 "privstat keys",
											 ALLOCSET_SMALL_SIZES);
	if (key_cache == NULL)
	{
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(KeyCacheTag);
		ctl.entrysize = sizeof(KeyCacheEntry);
		ctl.hcxt = keys_context;
		key_cache = hash_create("privstat derived keys", 16, &ctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	if (version_cache == NULL)
	{
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = PRIVSTAT_DOMAIN_MAX_LEN + 1;
		ctl.entrysize = sizeof(VersionCacheEntry);
		ctl.hcxt = keys_context;
		version_cache = hash_create("privstat key versions", 16, &ctl,
									HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}
	if (!relcache_callback_registered)
	{
		CacheRegisterRelcacheCallback(keys_relcache_callback, (Datum) 0);
		relcache_callback_registered = true;
	}
}

/* free every derived key and its OpenSSL context */
static void
key_cache_reset(void)
{
	HASH_SEQ_STATUS status;
	KeyCacheEntry *entry;

	hash_seq_init(&status, key_cache);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		explicit_bzero(entry->key.key, sizeof(entry->key.key));
		if (entry->key.hmac != NULL)
		{
			explicit_bzero(entry->key.hmac, sizeof(struct PrivstatHmacState));
			pfree(entry->key.hmac);
		}
	}
	hash_destroy(key_cache);
	key_cache = NULL;
	key_generation++;
	keys_cache_setup();
}

/*
 * The derived key for (purpose, domain, version), from the backend's cache.
 * The domain must already have passed privstat_check_domain.  The result
 * stays valid until the next call (which may empty a full cache).
 */
PrivstatKey *
privstat_get_key(PrivstatKeyPurpose purpose, const char *domain, uint16 version)
{
	KeyCacheTag tag;
	KeyCacheEntry *entry;
	bool		found;

	privstat_require_preload();
	if (!master_key_loaded)
		elog(ERROR, "privstat master key is not loaded");
	keys_cache_setup();

	memset(&tag, 0, sizeof(tag));
	tag.purpose = (int32) purpose;
	tag.version = version;
	strlcpy(tag.domain, domain, sizeof(tag.domain));

	entry = hash_search(key_cache, &tag, HASH_FIND, NULL);
	if (entry != NULL)
		return &entry->key;

	if (hash_get_num_entries(key_cache) >= KEY_CACHE_MAX)
		key_cache_reset();

	/* derive and key the context before entering it, so errors leave no half entry */
	{
		PrivstatKey key;

		memset(&key, 0, sizeof(key));
		key.purpose = purpose;
		key.version = version;
		strlcpy(key.domain, domain, sizeof(key.domain));
		key.keylen = (purpose == KEY_PURPOSE_SEALED) ? 64 : 32;
		derive_key(purpose, domain, version, key.key, key.keylen);

		if (purpose != KEY_PURPOSE_SEALED)
			key.hmac = hmac_setup(key.key, key.keylen);

		entry = hash_search(key_cache, &tag, HASH_ENTER, &found);
		entry->key = key;
		explicit_bzero(key.key, sizeof(key.key));
	}
	return &entry->key;
}


/* ---------------------------------------------------------------------------
 * Current key version per domain
 * ---------------------------------------------------------------------------
 */

static void
keys_relcache_callback(Datum arg pg_attribute_unused(), Oid relid)
{
	if (relid == InvalidOid || relid == key_version_relid)
		version_cache_valid = false;
}

uint64
privstat_key_generation(void)
{
	if (!version_cache_valid)
		return 0;
	return key_generation;
}

/*
 * The version new values of this domain are made with: the domain's row in
 * privstat.key_version, or 1 if it has never been rotated.
 */
uint16
privstat_current_key_version(const char *domain)
{
	VersionCacheEntry *entry;
	bool		found;
	uint16		version = 1;

	keys_cache_setup();

	if (!version_cache_valid)
	{
		HASH_SEQ_STATUS status;

		hash_seq_init(&status, version_cache);
		while ((entry = hash_seq_search(&status)) != NULL)
			hash_search(version_cache, entry->domain, HASH_REMOVE, NULL);
		key_version_relid = get_relname_relid("key_version",
											  get_namespace_oid("privstat", false));
		version_cache_valid = true;
		key_generation++;
	}

	entry = hash_search(version_cache, domain, HASH_FIND, NULL);
	if (entry != NULL)
		return entry->version;

	if (OidIsValid(key_version_relid))
	{
		Oid			argtypes[1] = {TEXTOID};
		Datum		values[1];
		int			ret;

		values[0] = CStringGetTextDatum(domain);

		/*
		 * Read with a snapshot taken now, after the invalidation that emptied
		 * the cache: under the transaction's own snapshot (REPEATABLE READ,
		 * or a statement that started before the rotation committed) the
		 * old version would be read and then cached as current for good.
		 */
		/*
		 * In parallel mode (a parallel query's leader or worker) no new
		 * snapshot may be taken: read with the statement's, shared by the
		 * leader and its workers.
		 */
		PushActiveSnapshot(IsInParallelMode() ? GetActiveSnapshot() : GetLatestSnapshot());
		SPI_connect();
		ret = SPI_execute_with_args("SELECT version FROM privstat.key_version "
									"WHERE domain OPERATOR(pg_catalog.=) $1",
									1, argtypes, values, NULL, true, 1);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "could not read privstat.key_version: %s",
				 SPI_result_code_string(ret));
		if (SPI_processed == 1)
		{
			bool		isnull;
			int32		v = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
														SPI_tuptable->tupdesc,
														1, &isnull));

			if (isnull || v < 1 || v > PRIVSTAT_MAX_KEY_VERSION)
				elog(ERROR, "privstat.key_version holds an invalid version for a domain");
			version = (uint16) v;
		}
		SPI_finish();
		PopActiveSnapshot();
	}

	/* an invalidation may have arrived while we read: then don't cache */
	if (version_cache_valid)
	{
		entry = hash_search(version_cache, domain, HASH_ENTER, &found);
		entry->version = version;
	}
	return version;
}

PG_FUNCTION_INFO_V1(privstat_key_version_changed);

/*
 * Statement trigger on privstat.key_version: make every backend forget its
 * cached key versions once this transaction commits.
 */
Datum
privstat_key_version_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("privstat._key_version_changed() was not called by the trigger manager")));
	if (!TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("privstat._key_version_changed() must be fired AFTER ... FOR EACH STATEMENT")));
	privstat_require_own_table(trigdata, "privstat._key_version_changed()");

	CacheInvalidateRelcache(trigdata->tg_relation);
	return PointerGetDatum(NULL);
}

PG_FUNCTION_INFO_V1(privstat_check_domain_sql);

/* privstat._check_domain(text): used by the SQL-level admin functions */
Datum
privstat_check_domain_sql(PG_FUNCTION_ARGS)
{
	text	   *domain = PG_GETARG_TEXT_PP(0);

	privstat_check_domain(VARDATA_ANY(domain), VARSIZE_ANY_EXHDR(domain));
	PG_RETURN_TEXT_P(domain);
}
