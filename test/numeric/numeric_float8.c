/*
 * Checks dp_numeric_to_float8() (src/numeric_float8.c), the numeric to
 * float8 conversion of the DP aggregates' transition functions, against what
 * PostgreSQL 15's numeric_float8_no_overflow() computes: the numeric printed
 * as get_str_from_var() prints it (replicated below), parsed by strtod,
 * ERANGE ignored.  Every case must agree to the bit (NaN with NaN).
 *
 * Cases: random numerics of every size, weight, sign and display scale, in
 * the short and the long header forms; decimal strings at and next to the
 * midpoints between adjacent doubles (the hard cases of rounding), also
 * with hundreds of zeros and then a nonzero digit past the 200 base-10000
 * digits the conversion keeps; the ends of the double range (DBL_MAX,
 * 2^1024, subnormals, 2^-1075); values outside it; NaN, +/-Infinity and the
 * other special header words; zeros; and non-canonical forms PostgreSQL
 * itself never stores (leading and trailing zero digits, digits past the
 * display scale) but that the conversion must read as numeric.c would.
 *
 * Build (see test/run.sh):
 *   cc -O2 -Wall -Wextra -Iinclude -isystem "$(pg_config --includedir-server)" \
 *      -o numeric_float8 test/numeric/numeric_float8.c src/numeric_float8.c -lm
 * Usage: numeric_float8 [--seed N] [--long]
 * Output is TAP: "ok N - ..." / "not ok N - ...", then "1..N".
 */
#include "postgres.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "privstat/numeric_float8.h"

/* postgres.h routes these to libpgport's versions; this program uses libc's */
#undef printf
#undef fprintf
#undef snprintf
#undef sprintf
#undef vsnprintf
#undef vfprintf
#undef vprintf

#include "../tap.h"

#define MAX_NDIGITS		40000	/* base-10000 digits of a test numeric */

typedef struct TestNum
{
	bool		neg;
	int			weight;
	int			dscale;
	int			ndigits;
	int16_t		digits[MAX_NDIGITS];
} TestNum;

static long scale = 1;			/* --long multiplies the random cases */
static uint64_t rng_state;

static uint64_t
rng(void)						/* splitmix64 */
{
	uint64_t	z = (rng_state += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static int
rng_int(int lo, int hi)			/* uniform in [lo, hi] */
{
	return lo + (int) (rng() % (uint64_t) (hi - lo + 1));
}

/* ---------------------------------------------------------------------------
 * PostgreSQL's side
 * ---------------------------------------------------------------------------
 */

/* get_str_from_var() of PostgreSQL 15's numeric.c, DEC_DIGITS = 4 */
static char *
get_str_from_var(const TestNum *var, char *str)
{
	int			dscale = var->dscale;
	char	   *cp = str;
	char	   *endcp;
	int			i;
	int			d;
	int			dig;
	int			d1;

	if (var->neg)
		*cp++ = '-';
	if (var->weight < 0)
	{
		d = var->weight + 1;
		*cp++ = '0';
	}
	else
	{
		for (d = 0; d <= var->weight; d++)
		{
			bool		putit = (d > 0);

			dig = (d < var->ndigits) ? var->digits[d] : 0;
			d1 = dig / 1000;
			dig -= d1 * 1000;
			putit |= (d1 > 0);
			if (putit)
				*cp++ = d1 + '0';
			d1 = dig / 100;
			dig -= d1 * 100;
			putit |= (d1 > 0);
			if (putit)
				*cp++ = d1 + '0';
			d1 = dig / 10;
			dig -= d1 * 10;
			putit |= (d1 > 0);
			if (putit)
				*cp++ = d1 + '0';
			*cp++ = dig + '0';
		}
	}
	if (dscale > 0)
	{
		*cp++ = '.';
		endcp = cp + dscale;
		for (i = 0; i < dscale; d++, i += 4)
		{
			dig = (d >= 0 && d < var->ndigits) ? var->digits[d] : 0;
			d1 = dig / 1000;
			dig -= d1 * 1000;
			*cp++ = d1 + '0';
			d1 = dig / 100;
			dig -= d1 * 100;
			*cp++ = d1 + '0';
			d1 = dig / 10;
			dig -= d1 * 10;
			*cp++ = d1 + '0';
			*cp++ = dig + '0';
		}
		cp = endcp;
	}
	*cp = '\0';
	return str;
}

static char *strbuf;

/* numeric_float8_no_overflow() of a finite numeric: strtod, ERANGE ignored */
static double
reference(const TestNum *var)
{
	char	   *end;
	double		v;

	get_str_from_var(var, strbuf);
	errno = 0;
	v = strtod(strbuf, &end);
	if (*end != '\0')
	{
		fprintf(stderr, "bad reference string %s\n", strbuf);
		exit(2);
	}
	return v;
}

/* the stored bytes after the varlena header: short form when it fits */
static size_t
encode(const TestNum *var, bool force_long, uint8_t *out)
{
	size_t		len;

	if (!force_long && var->dscale <= 63 && var->weight >= -64 && var->weight <= 63)
	{
		uint16_t	h = 0x8000 | (var->neg ? 0x2000 : 0) | (uint16_t) (var->dscale << 7) |
			(var->weight < 0 ? 0x0040 : 0) | (uint16_t) (var->weight & 0x003F);

		memcpy(out, &h, 2);
		len = 2;
	}
	else
	{
		uint16_t	h = (var->neg ? 0x4000 : 0) | (uint16_t) (var->dscale & 0x3FFF);
		int16_t		w = (int16_t) var->weight;

		memcpy(out, &h, 2);
		memcpy(out + 2, &w, 2);
		len = 4;
	}
	memcpy(out + len, var->digits, 2 * (size_t) var->ndigits);
	return len + 2 * (size_t) var->ndigits;
}

/* ---------------------------------------------------------------------------
 * Cases
 * ---------------------------------------------------------------------------
 */

static uint8_t *encbuf;
static long cases;
static long mismatches;

static bool
same(double a, double b)
{
	return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof(a)) == 0;
}

/* one numeric, in the forms it can take (and at an odd address) */
static void
try_num(const TestNum *var)
{
	double		want = reference(var);
	int			form;

	for (form = 0; form < 2; form++)
	{
		size_t		len = encode(var, form == 1, encbuf + 1);
		double		got = dp_numeric_to_float8(encbuf + 1, len);

		cases++;
		if (!same(got, want))
		{
			if (mismatches++ < 10)
				fprintf(stderr, "# MISMATCH (%s form) %.60s%s: got %a, strtod %a\n",
						form ? "long" : "short", strbuf,
						strlen(strbuf) > 60 ? "..." : "", got, want);
		}
	}
}

/* strip leading and trailing zero digits, as make_result does */
static void
strip(TestNum *var)
{
	int			lead = 0;

	while (lead < var->ndigits && var->digits[lead] == 0)
		lead++;
	if (lead > 0)
	{
		memmove(var->digits, var->digits + lead, 2 * (size_t) (var->ndigits - lead));
		var->ndigits -= lead;
		var->weight -= lead;
	}
	while (var->ndigits > 0 && var->digits[var->ndigits - 1] == 0)
		var->ndigits--;
	if (var->ndigits == 0)
	{
		var->weight = 0;
		var->neg = false;
	}
}

/*
 * A numeric from a decimal string "[-]digits[.digits][e[-]N]", as numeric_in
 * stores it: dscale the number of decimal places (less the exponent, at
 * least 0), the digits aligned on base-10000 places, stripped.
 */
static void
from_string(const char *s, TestNum *var)
{
	static char dec[200000];
	int			ndec = 0;
	int			point = -1;		/* decimal digits before the point */
	long		exp10 = 0;
	int			lowest;			/* place value 10^lowest of the last digit */
	int			i;

	memset(var, 0, offsetof(TestNum, digits));
	if (*s == '-')
	{
		var->neg = true;
		s++;
	}
	for (; *s; s++)
	{
		if (*s == '.')
			point = ndec;
		else if (*s == 'e' || *s == 'E')
		{
			exp10 = strtol(s + 1, NULL, 10);
			break;
		}
		else
			dec[ndec++] = *s - '0';
	}
	if (point < 0)
		point = ndec;
	/* digit i has place point - 1 - i + exp10 */
	lowest = (int) (point - ndec + exp10);
	var->dscale = lowest < 0 ? -lowest : 0;
	{
		int			top = (int) (point - 1 + exp10);
		int			wtop = top >= 0 ? top / 4 : -((-top + 3) / 4);
		int			wlow = lowest >= 0 ? lowest / 4 : -((-lowest + 3) / 4);

		var->weight = wtop;
		var->ndigits = wtop - wlow + 1;
		if (var->ndigits > MAX_NDIGITS)
		{
			fprintf(stderr, "test numeric too long\n");
			exit(2);
		}
		memset(var->digits, 0, 2 * (size_t) var->ndigits);
		for (i = 0; i < ndec; i++)
		{
			int			place = (int) (point - 1 - i + exp10);
			int			w = place >= 0 ? place / 4 : -((-place + 3) / 4);
			static const int pw[4] = {1, 10, 100, 1000};

			var->digits[wtop - w] += dec[i] * pw[place - 4 * w];
		}
	}
	strip(var);
}

static void
try_string(const char *s)
{
	static TestNum var;

	from_string(s, &var);
	try_num(&var);
}

/* random canonical numerics: ndigits in [1, maxd], weight in [wlo, whi] */
static void
random_nums(long count, int maxd, int wlo, int whi)
{
	static TestNum var;
	long		k;

	for (k = 0; k < count; k++)
	{
		int			i;
		int			nd = rng_int(1, maxd);
		int			frac;

		var.neg = rng() & 1;
		var.weight = rng_int(wlo, whi);
		var.ndigits = nd;
		for (i = 0; i < nd; i++)
		{
			/* mostly random digits; some runs of 0 and 9999 */
			uint64_t	r = rng();

			var.digits[i] = (r & 7) == 0 ? 0 : (r & 7) == 1 ? 9999 : (int16_t) ((r >> 8) % 10000);
		}
		if (var.digits[0] == 0)
			var.digits[0] = 1 + rng() % 9999;
		if (var.digits[nd - 1] == 0)
			var.digits[nd - 1] = 1 + rng() % 9999;
		/* dscale: the decimal places the digits need, sometimes more */
		frac = 4 * (nd - 1 - var.weight);
		if (frac > 0)
		{
			int			d = var.digits[nd - 1];

			while (d % 10 == 0)
			{
				d /= 10;
				frac--;
			}
		}
		var.dscale = frac > 0 ? frac : 0;
		if ((rng() & 3) == 0)
			var.dscale += rng_int(0, 20);
		if (var.dscale > 0x3FFF)
			continue;
		try_num(&var);
	}
}

/* random non-canonical numerics: zero digits at both ends, any dscale */
static void
random_odd_nums(long count)
{
	static TestNum var;
	long		k;

	for (k = 0; k < count; k++)
	{
		int			i;
		int			nd = rng_int(0, 12);

		var.neg = rng() & 1;
		var.weight = rng_int(-8, 8);
		var.ndigits = nd;
		for (i = 0; i < nd; i++)
			var.digits[i] = (rng() & 3) == 0 ? 0 : (int16_t) (rng() % 10000);
		var.dscale = rng_int(0, 50);
		try_num(&var);
	}
}

/* random doubles, printed with 15 to 17 significant digits and exactly */
static void
random_doubles(long count)
{
	char		buf[1200];
	long		k;

	for (k = 0; k < count; k++)
	{
		double		d;
		uint64_t	bits = rng();

		memcpy(&d, &bits, sizeof(d));
		if (!isfinite(d))
			continue;
		snprintf(buf, sizeof(buf), "%.*e", rng_int(14, 16), d);
		try_string(buf);
		if ((k & 15) == 0)
		{
			snprintf(buf, sizeof(buf), "%.800e", d);	/* exact, then zeros */
			try_string(buf);
		}
	}
}

/*
 * Midpoints between adjacent doubles, exactly (a long double holds them:
 * 54 significant bits), and the strings just above and below: the last
 * digit changed by one, the expansion cut short, and zeros then a 1 far
 * beyond the 200 base-10000 digits kept.
 */
static void
midpoint_strings(double d)
{
	static char buf[8000];
	static char alt[8000];
	long double mid;
	char	   *e;
	char	   *last;
	size_t		mant_len;

	/* a long double must hold the midpoint: 54 significant bits (x86-64: 64) */
	if (LDBL_MANT_DIG < 54 || !isfinite(d) || d <= 0 || d == DBL_MAX)
		return;
	mid = ((long double) d + (long double) nextafter(d, INFINITY)) / 2;
	snprintf(buf, sizeof(buf), "%.1200Le", mid);
	try_string(buf);
	e = strchr(buf, 'e');
	/* strip trailing zeros of the mantissa: the exact expansion */
	last = e - 1;
	while (*last == '0')
		last--;
	mant_len = last - buf + 1;

	/* one unit up and down in the last nonzero digit */
	snprintf(alt, sizeof(alt), "%.*s%s", (int) mant_len, buf, e);
	try_string(alt);
	if (*last != '.')
	{
		char		c = *last;

		*last = c + 1 <= '9' ? c + 1 : c;
		snprintf(alt, sizeof(alt), "%.*s%s", (int) mant_len, buf, e);
		try_string(alt);
		*last = c - 1 >= '0' ? c - 1 : c;
		snprintf(alt, sizeof(alt), "%.*s%s", (int) mant_len, buf, e);
		try_string(alt);
		*last = c;
	}
	/* the exact midpoint followed by zeros and a 1 at digit 1000 or 3000 */
	snprintf(alt, sizeof(alt), "%.*s%0*d1%s", (int) mant_len, buf,
			 (int) (1000 - mant_len), 0, e);
	try_string(alt);
	snprintf(alt, sizeof(alt), "%.*s%0*d1%s", (int) mant_len, buf,
			 (int) (3000 - mant_len), 0, e);
	try_string(alt);
	/*
	 * Cut short to 16..40 significant digits (just below the midpoint), and
	 * the same plus one unit in the last digit (just above it): with up to
	 * 36 digits, the 128-bit path must round these on its remainder.
	 */
	{
		int			nsig;

		for (nsig = 16; nsig <= 40; nsig++)
		{
			size_t		cut = (size_t) nsig + 1;	/* "d." and nsig - 1 more */
			int			j;

			if (cut >= mant_len)
				break;
			snprintf(alt, sizeof(alt), "%.*s%s", (int) cut, buf, e);
			try_string(alt);
			/* add one unit in the last place kept, carrying */
			memcpy(alt, buf, cut);
			for (j = (int) cut - 1; j >= 0; j--)
			{
				if (alt[j] == '.')
					continue;
				if (alt[j] != '9')
				{
					alt[j]++;
					break;
				}
				alt[j] = '0';
			}
			if (j < 0)
				continue;		/* 9.99...: carried out of the first digit */
			snprintf(alt + cut, sizeof(alt) - cut, "%s", e);
			try_string(alt);
		}
	}
}

static void
random_midpoints(long count)
{
	long		k;

	for (k = 0; k < count; k++)
	{
		double		d;
		uint64_t	bits = rng() & ~((uint64_t) 1 << 63);

		/* mostly ordinary magnitudes, some anywhere */
		if ((k & 3) != 0)
			bits = (bits & 0x000FFFFFFFFFFFFFull) |
				((uint64_t) rng_int(1023 - 80, 1023 + 80) << 52);
		memcpy(&d, &bits, sizeof(d));
		midpoint_strings(d);
	}
}

static const char *const edge_strings[] = {
	/* around DBL_MAX and 2^1024 */
	"1.7976931348623157e308", "1.7976931348623158e308", "1.7976931348623159e308",
	"179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497791",
	"179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792",
	"179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497790.99999",
	"1e308", "9.99999e308", "1e309", "-1e309", "1e400", "1e1000", "1e100000", "-1e100000",
	/* subnormals, 2^-1022, 2^-1074 and half of it (a tie, to 0) */
	"2.2250738585072014e-308", "2.2250738585072011e-308", "2.2250738585072009e-308",
	"4.9406564584124654e-324", "4.9e-324", "5e-324", "3e-324", "2.5e-324",
	"2.4703282292062327e-324", "2.4703282292062328e-324", "2.4703282292062327208828439643411068618252990130716238221279284125033775363510437593264991818081799618989828234772285886546332835517796989819938739800539093906315035659515570226392290858392449105184435931802849936536152500319370457678249219365623669863658480757001585769269903706311928279558551332927834338409351978015531246597263579574622766465272827220056374006485499977096599470454020828166226237857393450736339007967761930577506740176324673600968951340535537458516661134223766678604162159680461914467291840300530057530849048765391711386591646239524912623653881879636239373280423891018672348497668235089863388587925628302755995657524455507255189313690836254779186948667994968324049705821028513185451396213837722826145437693412532098591327667236328125e-324",
	"2.4703282292062327208828439643411068618252990130716238221279284125033775363510437593264991818081799618989828234772285886546332835517796989819938739800539093906315035659515570226392290858392449105184435931802849936536152500319370457678249219365623669863658480757001585769269903706311928279558551332927834338409351978015531246597263579574622766465272827220056374006485499977096599470454020828166226237857393450736339007967761930577506740176324673600968951340535537458516661134223766678604162159680461914467291840300530057530849048765391711386591646239524912623653881879636239373280423891018672348497668235089863388587925628302755995657524455507255189313690836254779186948667994968324049705821028513185451396213837722826145437693412532098591327667236328125000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000001e-324",
	"1e-324", "1e-325", "9.9999e-326", "1e-400", "1e-16383", "-1e-16383",
	/* the fast path's limits: 2^53 and 2^53 + 1, 10^22 and 10^23 */
	"9007199254740992", "9007199254740993", "9007199254740993.5", "9007199254740995",
	"1e22", "1e23", "8.589973e22", "1.2345e-22", "1.2345e-23", "1e-27", "1e-28", "1e27", "1e28",
	/* dollars and cents, and the classic hard cases */
	"0.1", "0.2", "0.3", "99.99", "12.34", "0.01", "-0.01", "1234567.89",
	"2.2250738585072012e-308", "0.500000000000000166533453693773481063544750213623046875",
	"3.518437208883201171875e13", "62.5364939768271845828", "8.10109172351e-10",
	"1.00000000000000011102230246251565404236316680908203125",
	"1.00000000000000011102230246251565404236316680908203124",
	"1.00000000000000011102230246251565404236316680908203126",
	"7.038531e-26", "9007199254740993.0000000000000000000000000001",
	/* zeros */
	"0", "0.000", "-0", "-0.000", "0e-500",
	NULL
};

/* the header words of special values: NaN, +/-Infinity and the unused ones */
static void
specials(void)
{
	static const uint16_t words[] = {0xC000, 0xD000, 0xF000, 0xE000, 0xC001, 0xD001, 0xFFFF};
	int			i;
	bool		ok = true;

	for (i = 0; i < (int) lengthof(words); i++)
	{
		uint8_t		b[5] = {0, 0, 0, 0, 0};
		double		want = words[i] == 0xD000 ? HUGE_VAL : words[i] == 0xF000 ? -HUGE_VAL : NAN;

		/* the 2-byte form, and the 4-byte NaN of old releases (pg_upgrade) */
		memcpy(b + 1, &words[i], 2);
		ok &= same(dp_numeric_to_float8(b + 1, 2), want);
		ok &= same(dp_numeric_to_float8(b + 1, 4), want);
	}
	check(ok, "special values: NaN, +Infinity, -Infinity, other special words are NaN");
}

/* no crash, and no read past len, on any bytes */
static void
garbage(long count)
{
	long		k;
	double		sink = 0;

	for (k = 0; k < count; k++)
	{
		size_t		len = (k & 7) == 0 ? rng_int(40, 3000) : rng_int(0, 40);
		size_t		i;
		uint8_t    *p;

		p = malloc(len ? len : 1);	/* exact size: ASan/valgrind see overreads */
		for (i = 0; i < len; i++)
			p[i] = (uint8_t) rng();
		/* often a plausible header: short or long, any weight, big digits */
		if (len >= 4 && (k & 1))
			p[1] &= 0x7F;
		sink += dp_numeric_to_float8(p, len);
		free(p);
	}
	check(true, "%ld random byte strings read without a crash (sum %g)", count, sink);
}

/* what one conversion costs, next to PostgreSQL 15's way (diagnostic only) */
static void
timing(void)
{
	static const char *const samples[] = {"12.34", "99.99", "0.5", "1234.5678", "-17.25", "3"};
	static TestNum vars[6];
	uint8_t		enc[6][64];
	size_t		len[6];
	struct timespec t0,
				t1;
	volatile double sink = 0;
	long		i;
	long		n = 5000000;
	double		ns_new,
				ns_old;

	for (i = 0; i < 6; i++)
	{
		from_string(samples[i], &vars[i]);
		len[i] = encode(&vars[i], false, enc[i]);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < n; i++)
		sink += dp_numeric_to_float8(enc[i % 6], len[i % 6]);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ns_new = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / n;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < n; i++)
	{
		char		s[64];

		get_str_from_var(&vars[i % 6], s);
		sink += strtod(s, NULL);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ns_old = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / n;
	printf("# prices like 12.34: %.1f ns per value; print and strtod (no palloc): %.1f ns\n",
		   ns_new, ns_old);
}

int
main(int argc, char **argv)
{
	uint64_t	seed = 20241129;
	int			i;

	for (i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--long") == 0)
			scale = 20;
		else
		{
			fprintf(stderr, "usage: %s [--seed N] [--long]\n", argv[0]);
			return 2;
		}
	}
	rng_state = seed;
	strbuf = malloc(4 * MAX_NDIGITS + 16400 + 64);
	encbuf = malloc(2 * MAX_NDIGITS + 16);
	printf("# seed %llu\n", (unsigned long long) seed);

	specials();

#define RUN(desc, stmt) \
	do { \
		cases = 0; mismatches = 0; \
		stmt; \
		check(mismatches == 0, "%s: %ld conversions, %ld differ from strtod", desc, cases, mismatches); \
	} while (0)

	RUN("prices and small numbers (1-4 digits, weight -6..5)",
		random_nums(500000 * scale, 4, -6, 5));
	RUN("17 to 36 significant digits (5-9 digits, weight -12..10)",
		random_nums(300000 * scale, 9, -12, 10));
	RUN("long numerics (up to 60 digits, weight -90..80)",
		random_nums(50000 * scale, 60, -90, 80));
	RUN("near and beyond the double range (weight -90..-70, 70..90)",
		(random_nums(20000 * scale, 30, -90, -70), random_nums(20000 * scale, 30, 70, 90)));
	RUN("very long numerics (up to 1500 digits, past the 200 kept)",
		random_nums(300 * scale, 1500, -300, 200));
	RUN("non-canonical forms: zero digits at both ends, digits past dscale",
		random_odd_nums(200000 * scale));
	RUN("random doubles printed with 15-17 digits, and exactly",
		random_doubles(200000 * scale));
	RUN("midpoints between adjacent doubles and their neighbours",
		random_midpoints(5000 * scale));
	RUN("the ends of the double range, fast-path limits, known hard cases",
		for (i = 0; edge_strings[i] != NULL; i++) try_string(edge_strings[i]));
	RUN("midpoints at the ends of the range",
		{
			double		d;

			for (d = DBL_MAX; d > 1e300; d = nextafter(d, 0) / 1.5)
				midpoint_strings(d);
			for (d = 4.9406564584124654e-324; d < 1e-300; d = nextafter(d * 1.7, INFINITY))
				midpoint_strings(d);
			midpoint_strings(nextafter(DBL_MAX, 0));
			midpoint_strings(DBL_MIN);
			midpoint_strings(nextafter(DBL_MIN, 0));
		});
	garbage(200000);
	timing();

	return tap_done();
}
