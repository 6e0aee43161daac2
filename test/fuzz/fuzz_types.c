/*
 * fuzz_types: the text input and binary receive functions of
 * privstat.pseudonym and privstat.sealed (src/pseudonym.c, linked as is).
 *
 * Input: one selector byte, then the payload.
 *	selector % 4 == 0: pseudonym_in(payload as a C string, up to its first NUL)
 *	             == 1: pseudonym_recv(payload)
 *	             == 2: sealed_in(payload as a C string)
 *	             == 3: sealed_recv(payload)
 *
 * Besides ASan/UBSan, every accepted value must round-trip: out() gives text
 * that in() accepts and turns into the same bytes, recv() accepts what in()
 * made and send() gives back the same bytes, and recv() consumes its whole
 * message.  A rejected input must not be echoed in the error message.
 */
#include "../../src/pseudonym.c"

#include <stdlib.h>

#include "fuzz_shim.h"

static const uint8 master[32] = {
	0x70, 0x72, 0x69, 0x76, 0x73, 0x74, 0x61, 0x74, 0x2d, 0x66, 0x75, 0x7a, 0x7a, 0x2d, 0x6b, 0x65,
	0x79, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e
};

/* call a type I/O function of one argument; false if it raised an error */
static bool
call1(PGFunction fn, Datum arg, Datum *result)
{
	LOCAL_FCINFO(fcinfo, 3);

	InitFunctionCallInfoData(*fcinfo, NULL, 3, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = arg;
	fcinfo->args[0].isnull = false;
	fcinfo->args[1].value = ObjectIdGetDatum(InvalidOid);
	fcinfo->args[1].isnull = false;
	fcinfo->args[2].value = Int32GetDatum(-1);
	fcinfo->args[2].isnull = false;
	if (FUZZ_TRY())
	{
		*result = fn(fcinfo);
		FUZZ_END();
		if (fcinfo->isnull)
			fuzz_fail("a type I/O function returned NULL");
		return true;
	}
	FUZZ_END();
	return false;
}

static bool
recv_bytes(PGFunction fn, const uint8 *data, int len, Datum *result)
{
	StringInfoData buf;
	bool		ok;

	buf.data = palloc(len + 1);
	memcpy(buf.data, data, len);
	buf.data[len] = '\0';		/* as the server's StringInfo is */
	buf.len = len;
	buf.maxlen = len + 1;
	buf.cursor = 0;
	ok = call1(fn, PointerGetDatum(&buf), result);
	if (ok && buf.cursor != buf.len)
		fuzz_fail("recv left %d of %d bytes unread", buf.len - buf.cursor, buf.len);
	return ok;
}

/* the bytes a value is made of: a pseudonym's 18, a sealed value's payload */
static void
value_bytes(bool sealed, Datum v, const uint8 **p, int *len)
{
	if (sealed)
	{
		bytea	   *b = (bytea *) DatumGetPointer(v);

		*p = (const uint8 *) VARDATA_ANY(b);
		*len = VARSIZE_ANY_EXHDR(b);
	}
	else
	{
		*p = ((Pseudonym *) DatumGetPointer(v))->data;
		*len = PSEUDONYM_LEN;
	}
}

static void
check_value(bool sealed, Datum v)
{
	PGFunction in = sealed ? sealed_in : pseudonym_in;
	PGFunction out = sealed ? sealed_out : pseudonym_out;
	PGFunction recv = sealed ? sealed_recv : pseudonym_recv;
	PGFunction send = sealed ? sealed_send : pseudonym_send;
	const uint8 *p,
			   *q;
	int			plen,
				qlen;
	Datum		text,
				again,
				sent;
	bytea	   *s;

	value_bytes(sealed, v, &p, &plen);
	if (!call1(out, v, &text))
		fuzz_fail("out() refused a value that in()/recv() accepted: %s", fuzz_last_message);
	if (strncmp(DatumGetCString(text), sealed ? "sl:" : "pn:", 3) != 0)
		fuzz_fail("out() gave \"%s\"", DatumGetCString(text));
	fuzz_forbidden_echo = NULL;
	if (!call1(in, text, &again))
		fuzz_fail("in() refused out()'s \"%s\": %s", DatumGetCString(text), fuzz_last_message);
	value_bytes(sealed, again, &q, &qlen);
	if (plen != qlen || memcmp(p, q, plen) != 0)
		fuzz_fail("in(out(v)) != v for \"%s\"", DatumGetCString(text));
	if (!call1(send, v, &sent))
		fuzz_fail("send() failed: %s", fuzz_last_message);
	s = (bytea *) DatumGetPointer(sent);
	if ((int) VARSIZE(s) - VARHDRSZ != plen || memcmp(VARDATA(s), p, plen) != 0)
		fuzz_fail("send(v) is not v's bytes");
	if (!recv_bytes(recv, (const uint8 *) VARDATA(s), plen, &again))
		fuzz_fail("recv() refused send()'s bytes: %s", fuzz_last_message);
	value_bytes(sealed, again, &q, &qlen);
	if (plen != qlen || memcmp(p, q, plen) != 0)
		fuzz_fail("recv(send(v)) != v");
	if (sealed)
	{
		Datum		version,
					domain;

		if (!call1(sealed_version, v, &version) || DatumGetInt32(version) < 1 ||
			DatumGetInt32(version) > PRIVSTAT_MAX_KEY_VERSION)
			fuzz_fail("sealed_version() failed on a valid value");
		if (!call1(sealed_domain, v, &domain) ||
			!privstat_domain_is_valid(VARDATA_ANY(DatumGetPointer(domain)),
									  VARSIZE_ANY_EXHDR(DatumGetPointer(domain))))
			fuzz_fail("sealed_domain() gave an invalid domain");
	}
}

static void write_seeds(const char *dir);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *seeds = getenv("PRIVSTAT_FUZZ_MAKE_SEEDS");

	(void) argc;
	(void) argv;
	fuzz_set_master_key(master);
	if (seeds)
	{
		write_seeds(seeds);
		exit(0);
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int			mode;
	bool		sealed;
	Datum		v;

	if (size < 1 || size > 1 << 16)
		return 0;
	mode = data[0] & 3;
	sealed = mode >= 2;
	data++;
	size--;
	if (mode == 0 || mode == 2)
	{
		char	   *str = pnstrdup((const char *) data, size);

		fuzz_forbidden_echo = strlen(str) >= 4 ? str : NULL;
		if (call1(sealed ? sealed_in : pseudonym_in, CStringGetDatum(str), &v))
		{
			const uint8 *p;
			int			len;
			Datum		r;

			check_value(sealed, v);
			/* recv() accepts exactly what in() makes */
			value_bytes(sealed, v, &p, &len);
			if (!recv_bytes(sealed ? sealed_recv : pseudonym_recv, p, len, &r))
				fuzz_fail("recv() refused in()'s bytes: %s", fuzz_last_message);
		}
		fuzz_forbidden_echo = NULL;
	}
	else if (recv_bytes(sealed ? sealed_recv : pseudonym_recv, data, (int) size, &v))
		check_value(sealed, v);
	fuzz_free_all();
	return 0;
}

/* ---------------------------------------------------------------- seeds */

static void
seed(const char *dir, const char *name, int mode, const void *payload, size_t len)
{
	char		path[1024];
	FILE	   *f;
	uint8		m = (uint8) mode;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(&m, 1, 1, f) != 1 || fwrite(payload, 1, len, f) != len || fclose(f) != 0)
		fuzz_fail("cannot write seed %s", path);
}

static void
write_seeds(const char *dir)
{
	static const uint8 pn_bin[18] = {0, 1, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
	uint8		sl_bin[3 + 8 + 16 + 5];
	const char *t;

	t = "pn:1:00112233445566778899aabbccddeeff";
	seed(dir, "pseudonym-text", 0, t, strlen(t));
	t = "pn:65535:00112233445566778899AABBCCDDEEFF";
	seed(dir, "pseudonym-text-upper", 0, t, strlen(t));
	t = "pn:0:00112233445566778899aabbccddeeff";
	seed(dir, "pseudonym-text-v0", 0, t, strlen(t));
	seed(dir, "pseudonym-bin", 1, pn_bin, sizeof(pn_bin));
	t = "sl:customer:1:00112233445566778899aabbccddeeff0102030405";
	seed(dir, "sealed-text", 2, t, strlen(t));
	t = "sl:a_2:300:00112233445566778899AABBCCDDEEFF01";
	seed(dir, "sealed-text-short", 2, t, strlen(t));
	sl_bin[0] = 0;
	sl_bin[1] = 2;
	sl_bin[2] = 8;
	memcpy(sl_bin + 3, "customer", 8);
	for (int i = 0; i < 21; i++)
		sl_bin[11 + i] = (uint8) (i * 37);
	seed(dir, "sealed-bin", 3, sl_bin, sizeof(sl_bin));
}
