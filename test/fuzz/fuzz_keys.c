/*
 * fuzz_keys.c: the real src/keys.c (domain checks, HKDF derivation, HMAC
 * midstates, the derived-key cache), with a way for the harness to set the
 * master key that the server would load from its key file.
 */
#include "../../src/keys.c"

#include "fuzz_shim.h"

void
fuzz_set_master_key(const uint8_t *key32)
{
	memcpy(master_key, key32, PRIVSTAT_MASTER_KEY_LEN);
	master_key_loaded = true;
}
