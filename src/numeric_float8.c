/*-------------------------------------------------------------------------
 *
 * numeric_float8.c
 *	  numeric to float8, from the stored bytes (the dp_* transition functions of
 * numeric values; doc/dp-aggregates.md, "Numeric values")
 *
 * The answer is the one PostgreSQL's numeric_float8_no_overflow() gives, to
 * the bit: the double nearest to the decimal value PostgreSQL prints (ties
 * to even: glibc's strtod rounds correctly), +/-HUGE_VAL beyond the double
 * range, NaN for NaN, +/-Infinity for +/-Infinity.  In PostgreSQL 15 that
 * function prints the numeric and parses the string with strtod, a palloc'd
 * string per row; this reads the base-10000 digits instead and allocates
 * nothing:
 *	- up to 16 decimal digits whose value fits in 2^53, times 10^e with
 *	  |e| <= 22: one IEEE multiplication or division of two exact doubles,
 *	  which rounds correctly (Clinger's fast path; most stored values);
 *	- up to 36 digits times 10^e, |e| <= 27: exactly, in 128-bit integers;
 *	- anything else: exactly, in big integers on the stack, after keeping at
 *	  most 200 base-10000 digits (797 or more significant decimal digits)
 *	  and one sticky digit for the rest.  No midpoint between two adjacent
 *	  doubles has more than 767 significant digits, so the sticky digit
 *	  decides the rounding exactly as all the dropped digits would.
 *
 * In plain C, apart from the server, so that test/numeric compiles it and
 * checks it against strtod without a server.
 * ---------------------------------------------------------------------------
 */
#include "privstat/numeric_float8.h"
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * The stored format of numeric: struct NumericShort / NumericLong and the
 * NUMERIC_* macros of PostgreSQL's src/backend/utils/adt/numeric.c
 * (REL_15_STABLE).  They are private to numeric.c, but the format is fixed:
 * pg_upgrade keeps data files as they are.  After the varlena header comes
 * a uint16 header word:
 *	- both top bits (NUMERIC_SPECIAL 0xC000): a special value, the whole word
 *	  0xC000 NaN, 0xD000 +Infinity, 0xF000 -Infinity (NUMERIC_IS_NAN etc.
 *	  compare the whole word; numeric_float8_no_overflow takes any other
 *	  special word for NaN, and so does this);
 *	- top bit only (NUMERIC_SHORT 0x8000), the 2-byte header: sign 0x2000,
 *	  dscale 0x1F80 >> 7, weight 0x007F as a 7-bit two's complement
 *	  (sign 0x0040, NUMERIC_SHORT_WEIGHT_SIGN_MASK);
 *	- otherwise the 4-byte header: sign 0x4000 (NUMERIC_NEG), dscale 0x3FFF,
 *	  then an int16 weight.
 * Then the digits (NumericDigit: int16, native byte order), base NBASE =
 * 10000, most significant first; the first is worth NBASE^weight.  make_result
 * strips leading and trailing zero digits (zero has no digits at all); this
 * code does not rely on it.  dscale is the number of decimal places
 * get_str_from_var prints: digits past it are not printed, so here they do
 * not count (stored values have none).
 */
#define DP_NUMERIC_SPECIAL		0xC000
#define DP_NUMERIC_SHORT		0x8000
#define DP_NUMERIC_NEG			0x4000
#define DP_NUMERIC_PINF			0xD000
#define DP_NUMERIC_NINF			0xF000
#define DP_NUMERIC_SHORT_SIGN	0x2000
#define DP_NUMERIC_SHORT_DSCALE_MASK 0x1F80
#define DP_NUMERIC_SHORT_DSCALE_SHIFT 7
#define DP_NUMERIC_SHORT_WEIGHT_SIGN 0x0040
#define DP_NUMERIC_SHORT_WEIGHT_MASK 0x003F
#define DP_NUMERIC_DSCALE_MASK	0x3FFF
#define DP_NBASE				10000
#define DP_DEC_DIGITS			4

/* base-10000 digits kept exactly before the sticky digit (see above) */
#define DP_NUMERIC_MAX_DIGITS	200
/* 32-bit limbs of the big integers: 10^801 and 5^1124 * 2^63 fit in 84 */
#define DP_BIG_LIMBS			96

typedef unsigned __int128 dp_u128;

typedef struct DpBig
{
	int			n;				/* limbs in use; the top one is not zero */
	uint32_t	d[DP_BIG_LIMBS];	/* little-endian */
} DpBig;

static uint64_t
dp_pow5_u64(int n)				/* 5^n, n <= 27 (5^27 < 2^63) */
{
	uint64_t	r = 1;

	while (n-- > 0)
		r *= 5;
	return r;
}

static int
dp_bitlen128(dp_u128 x)
{
	uint64_t	hi = (uint64_t) (x >> 64);

	if (hi != 0)
		return 128 - __builtin_clzll(hi);
	return x == 0 ? 0 : 64 - __builtin_clzll((uint64_t) x);
}

/*
 * The double nearest to (q + f) * 2^e2, q > 0, where 0 < f < 1 if sticky
 * (the part of the value below q's last bit is not zero) and f = 0
 * otherwise; ties to even; subnormal results rounded at 2^-1074, and
 * HUGE_VAL from 2^1024 - 2^970 up.  A sticky q must have at least 55 bits,
 * so that f lies wholly below the rounding bit.
 */
static double
dp_round_binary(dp_u128 q, bool sticky, int e2)
{
	int			bl = dp_bitlen128(q);
	int			top = e2 + bl - 1;	/* q * 2^e2 is in [2^top, 2^(top+1)) */
	int			prec;
	int			drop;
	dp_u128		mant;
	dp_u128		rem;
	dp_u128		half;

	if (top > 1023)
		return HUGE_VAL;
	/* significant bits the double keeps: 53, fewer below 2^-1022 */
	prec = top >= -1022 ? 53 : top + 1075;
	if (prec < 0)
		return 0.0;				/* below 2^-1075, half the smallest subnormal */
	drop = bl - prec;
	if (drop <= 0)
		return ldexp((double) (uint64_t) q, e2);	/* exact */
	if (drop >= 128)
	{
		mant = 0;
		rem = q;
		half = (dp_u128) 1 << 127;
	}
	else
	{
		mant = q >> drop;
		rem = q & (((dp_u128) 1 << drop) - 1);
		half = (dp_u128) 1 << (drop - 1);
	}
	if (rem > half || (rem == half && (sticky || (mant & 1))))
		mant++;
	/* mant <= 2^53: exact; 2^53 * 2^971 overflows to HUGE_VAL as it should */
	return ldexp((double) (uint64_t) mant, e2 + drop);
}

/* the big integers of the exact path: only what it needs */
static void
dp_big_mul_add(DpBig *b, uint32_t m, uint32_t add)	/* b = b * m + add */
{
	uint64_t	carry = add;
	int			i;

	for (i = 0; i < b->n; i++)
	{
		uint64_t	t = (uint64_t) b->d[i] * m + carry;

		b->d[i] = (uint32_t) t;
		carry = t >> 32;
	}
	if (carry != 0)
		b->d[b->n++] = (uint32_t) carry;
}

static void
dp_big_mul_pow5(DpBig *b, int n)	/* b *= 5^n */
{
	for (; n >= 13; n -= 13)
		dp_big_mul_add(b, 1220703125u, 0);	/* 5^13 < 2^32 */
	if (n > 0)
		dp_big_mul_add(b, (uint32_t) dp_pow5_u64(n), 0);
}

static int
dp_big_bitlen(const DpBig *b)
{
	return b->n == 0 ? 0 : 32 * (b->n - 1) + 32 - __builtin_clz(b->d[b->n - 1]);
}

static void
dp_big_shl(DpBig *b, int bits)	/* b <<= bits */
{
	int			words = bits / 32;
	int			r = bits % 32;
	int			i;

	if (b->n == 0 || bits == 0)
		return;
	if (r == 0)
	{
		b->d[b->n + words] = 0;
		for (i = b->n - 1; i >= 0; i--)
			b->d[i + words] = b->d[i];
	}
	else
	{
		b->d[b->n + words] = b->d[b->n - 1] >> (32 - r);
		for (i = b->n - 1; i > 0; i--)
			b->d[i + words] = (b->d[i] << r) | (b->d[i - 1] >> (32 - r));
		b->d[words] = b->d[0] << r;
	}
	for (i = 0; i < words; i++)
		b->d[i] = 0;
	b->n += words + 1;
	while (b->n > 0 && b->d[b->n - 1] == 0)
		b->n--;
}

static void
dp_big_shr1(DpBig *b)			/* b >>= 1 */
{
	int			i;

	for (i = 0; i < b->n; i++)
		b->d[i] = (b->d[i] >> 1) | (i + 1 < b->n ? b->d[i + 1] << 31 : 0);
	while (b->n > 0 && b->d[b->n - 1] == 0)
		b->n--;
}

static int
dp_big_cmp(const DpBig *a, const DpBig *b)
{
	int			i;

	if (a->n != b->n)
		return a->n < b->n ? -1 : 1;
	for (i = a->n - 1; i >= 0; i--)
	{
		if (a->d[i] != b->d[i])
			return a->d[i] < b->d[i] ? -1 : 1;
	}
	return 0;
}

static void
dp_big_sub(DpBig *a, const DpBig *b)	/* a -= b, a >= b */
{
	int64_t		borrow = 0;
	int			i;

	for (i = 0; i < a->n; i++)
	{
		int64_t		t = (int64_t) a->d[i] - (i < b->n ? b->d[i] : 0) - borrow;

		borrow = t < 0;
		a->d[i] = (uint32_t) (t + (borrow << 32));
	}
	while (a->n > 0 && a->d[a->n - 1] == 0)
		a->n--;
}

static unsigned
dp_numeric_digit(const uint8_t *digits, int i)
{
	uint16_t	d;

	memcpy(&d, digits + 2 * i, sizeof(d));	/* a 1-byte varlena header leaves it unaligned */
	return d;
}

/*
 * The exact path: |value| = digits[first..n) * 10000^(weight - (n-1-first)),
 * with lastd standing for digits[n-1] (cut to dscale); digits[first] is
 * not zero.
 */
static __attribute__((noinline, unused)) double
dp_numeric_exact(const uint8_t *digits, int first, int n, unsigned lastd, int weight)
{
	unsigned	d0 = first == n - 1 ? lastd : dp_numeric_digit(digits, first);
	int			lead10;			/* |value| is in [10^lead10, 10^(lead10+1)) */
	int			last;
	int			e10;
	int			i;
	DpBig		m;

	lead10 = DP_DEC_DIGITS * weight + (d0 >= 1000 ? 3 : d0 >= 100 ? 2 : d0 >= 10 ? 1 : 0);
	if (lead10 >= 309)
		return HUGE_VAL;		/* above DBL_MAX (1.8e308) plus half an ulp */
	if (lead10 <= -325)
		return 0.0;				/* below 2^-1075 (2.5e-324) */

	m.n = 0;
	last = n - first > DP_NUMERIC_MAX_DIGITS ? first + DP_NUMERIC_MAX_DIGITS : n;
	for (i = first; i < last; i++)
		dp_big_mul_add(&m, DP_NBASE, i == n - 1 ? lastd : dp_numeric_digit(digits, i));
	e10 = DP_DEC_DIGITS * (weight - (last - 1 - first));
	for (i = last; i < n; i++)
	{
		if ((i == n - 1 ? lastd : dp_numeric_digit(digits, i)) != 0)
		{
			dp_big_mul_add(&m, 10, 1);	/* the sticky digit */
			e10--;
			break;
		}
	}

	if (e10 >= 0)
	{
		/* an integer, m * 5^e10 * 2^e10 < 10^309: round its top 128 bits */
		int			shift;
		dp_u128		q = 0;
		bool		sticky = false;

		dp_big_mul_pow5(&m, e10);
		shift = dp_big_bitlen(&m) - 128;
		if (shift > 0)
		{
			for (i = 0; i < shift / 32; i++)
				sticky |= m.d[i] != 0;
			if (shift % 32 != 0)
				sticky |= (m.d[shift / 32] & ((1u << (shift % 32)) - 1)) != 0;
			for (i = m.n - 1; i >= 0; i--)
			{
				/* bits [32i, 32i+32) of m, shifted down by shift */
				int			pos = 32 * i - shift;

				if (pos >= 0)
					q |= (dp_u128) m.d[i] << pos;
				else if (pos > -32)
					q |= (dp_u128) (m.d[i] >> -pos);
			}
		}
		else
		{
			for (i = m.n - 1; i >= 0; i--)
				q = (q << 32) | m.d[i];
			shift = 0;
		}
		return dp_round_binary(q, sticky, e10 + shift);
	}
	else
	{
		/*
		 * m / (5^k * 2^k), k = -e10: divide m * 2^s by 5^k (s chosen to give
		 * a quotient of 63 or 64 bits), the remainder is the sticky part.
		 */
		int			k = -e10;
		int			s;
		uint64_t	q = 0;
		DpBig		den;
		int			bit;

		den.n = 1;
		den.d[0] = 1;
		dp_big_mul_pow5(&den, k);
		s = dp_big_bitlen(&den) + 63 - dp_big_bitlen(&m);
		if (s >= 0)
			dp_big_shl(&m, s);
		else
			dp_big_shl(&den, -s);
		/* m < den * 2^64: restoring division, one quotient bit at a time */
		dp_big_shl(&den, 63);
		for (bit = 63; bit >= 0; bit--)
		{
			if (dp_big_cmp(&m, &den) >= 0)
			{
				dp_big_sub(&m, &den);
				q |= (uint64_t) 1 << bit;
			}
			if (bit > 0)
				dp_big_shr1(&den);
		}
		return dp_round_binary(q, m.n != 0, -s - k);
	}
}

/*
 * payload: the numeric's bytes after its varlena header (VARDATA_ANY), len
 * of them (VARSIZE_ANY_EXHDR).  The value must be detoasted, but may have a
 * 1-byte varlena header, so nothing here assumes alignment.
 */
double
dp_numeric_to_float8(const void *payload, size_t len)
{
	/* 10^0 .. 10^22: exact doubles */
	static const double exact_pow10[23] = {
		1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
		1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22
	};
	const uint8_t *p = (const uint8_t *) payload;
	uint16_t	header;
	bool		neg;
	int			dscale;
	int			weight;
	int			ndigits;
	const uint8_t *digits;
	int			minw;
	int			n;
	int			first;
	int			count;
	int			e10;
	int			i;
	unsigned	lastd;
	dp_u128		m128;
	dp_u128		prod;
	double		r;

	if (len < sizeof(uint16_t))
		return 0.0;				/* not a numeric */
	memcpy(&header, p, sizeof(header));
	if ((header & DP_NUMERIC_SPECIAL) == DP_NUMERIC_SPECIAL)
	{
		if (header == DP_NUMERIC_PINF)
			return HUGE_VAL;
		if (header == DP_NUMERIC_NINF)
			return -HUGE_VAL;
		return NAN;
	}
	if (header & DP_NUMERIC_SHORT)
	{
		neg = (header & DP_NUMERIC_SHORT_SIGN) != 0;
		dscale = (header & DP_NUMERIC_SHORT_DSCALE_MASK) >> DP_NUMERIC_SHORT_DSCALE_SHIFT;
		weight = (header & DP_NUMERIC_SHORT_WEIGHT_MASK) -
			((header & DP_NUMERIC_SHORT_WEIGHT_SIGN) ? DP_NUMERIC_SHORT_WEIGHT_MASK + 1 : 0);
		digits = p + 2;
		ndigits = (int) ((len - 2) / 2);
	}
	else
	{
		int16_t		w = 0;

		neg = (header & DP_NUMERIC_NEG) != 0;
		dscale = header & DP_NUMERIC_DSCALE_MASK;
		if (len >= 4)
			memcpy(&w, p + 2, sizeof(w));
		weight = w;
		digits = p + 4;
		ndigits = len >= 4 ? (int) ((len - 4) / 2) : 0;
	}

	/*
	 * Digits get_str_from_var does not print: those below 10^-dscale.  The
	 * last printed digit has weight -ceil(dscale / 4); of it, the low
	 * 4 - dscale % 4 decimal digits are not printed (when dscale % 4 > 0).
	 */
	minw = -((dscale + 3) / 4);
	n = ndigits;
	if (weight - (n - 1) < minw)
		n = weight - minw + 1;
	if (n <= 0)
		return neg ? -0.0 : 0.0;	/* strtod("-0.00") is -0.0 */
	lastd = dp_numeric_digit(digits, n - 1);
	if (weight - (n - 1) == minw)
	{
		switch (dscale % 4)		/* constant divisors: no division */
		{
			case 1:
				lastd -= lastd % 1000;
				break;
			case 2:
				lastd -= lastd % 100;
				break;
			case 3:
				lastd -= lastd % 10;
				break;
		}
	}
	/* leading zero digits (none in stored values) */
	for (first = 0; first < n - 1 && dp_numeric_digit(digits, first) == 0; first++)
		weight--;
	if (first == n - 1 && lastd == 0)
		return neg ? -0.0 : 0.0;
	count = n - first;
	e10 = DP_DEC_DIGITS * (weight - (count - 1));	/* of the last digit */

	if (count <= 4)
	{
		/* below 10^16 */
		uint64_t	m = 0;

		for (i = first; i < n - 1; i++)
			m = m * DP_NBASE + dp_numeric_digit(digits, i);
		m = m * DP_NBASE + lastd;
#if FLT_EVAL_METHOD == 0
		/* Clinger: m and 10^|e10| are exact doubles, one operation rounds */
		if (m <= ((uint64_t) 1 << 53) && e10 >= -22 && e10 <= 22)
		{
			r = e10 >= 0 ? (double) (int64_t) m * exact_pow10[e10]
				: (double) (int64_t) m / exact_pow10[-e10];
			return neg ? -r : r;
		}
#endif
		m128 = m;
	}
	else if (count <= 9)
	{
		/* below 10^36 < 2^128 */
		m128 = 0;
		for (i = first; i < n - 1; i++)
			m128 = m128 * DP_NBASE + dp_numeric_digit(digits, i);
		m128 = m128 * DP_NBASE + lastd;
	}
	else
	{
		r = dp_numeric_exact(digits, first, n, lastd, weight);
		return neg ? -r : r;
	}

	/* exactly in 128 bits: m * 5^e10 * 2^e10, or m / 5^-e10 / 2^-e10 */
	if (e10 >= 0 && e10 <= 27 && !__builtin_mul_overflow(m128, (dp_u128) dp_pow5_u64(e10), &prod))
		r = dp_round_binary(prod, false, e10);
	else if (e10 < 0 && e10 >= -27)
	{
		/* m * 2^s / 5^-e10 with m * 2^s in [2^127, 2^128): 65 bits or more */
		uint64_t	den = dp_pow5_u64(-e10);
		int			s = 128 - dp_bitlen128(m128);
		dp_u128		x = m128 << s;
		dp_u128		q = x / den;

		r = dp_round_binary(q, x - q * den != 0, -s + e10);
	}
	else
		r = dp_numeric_exact(digits, first, n, lastd, weight);
	return neg ? -r : r;
}

