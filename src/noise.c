/*-------------------------------------------------------------------------
 *
 * noise.c
 *	  The CSPRNG and the exact samplers behind every DP answer.
 *
 * Nothing else in privstat touches randomness.  Random bytes come from
 * OpenSSL's RAND_bytes into a small per-process buffer; the buffer is
 * dropped whenever the process id changes, so a forked process (a backend,
 * a parallel worker) never reuses bytes of its parent, and consumed bytes
 * are wiped, since knowing them would reveal the noise and with it the true
 * value.
 *
 * The samplers follow Canonne, Kamath and Steinke, "The Discrete Gaussian
 * for Differential Privacy" (NeurIPS 2020), algorithms 1-3.  They use only
 * integer arithmetic on exact rationals (no floating point, so none of the
 * attacks on floating-point Laplace noise of Mironov, CCS 2012, apply) and
 * are exact: the distributions are those stated, not approximations.
 *
 * Timing: the loops whose number of rounds would follow the sampled value
 * (the "K" loop of Bernoulli(exp(-x)), the geometric "V" loop of the
 * discrete Laplace, the integer part of exp(-x) for x > 1) run a fixed
 * number of rounds and combine the results without branching on them.
 * Rejection loops remain, but the number of rejections is independent of
 * the value finally returned.  Only when all fixed rounds succeed, with
 * probability below 2^-69, does a loop run longer (keeping the sampler
 * exact).  test/stat checks that sampling time does not depend on |noise|.
 *
 * This file includes no PostgreSQL header: see noise.h.
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "privstat/noise.h"

#define POOL_SIZE	4096

static unsigned char pool[POOL_SIZE];
static size_t pool_pos = POOL_SIZE;
static pid_t pool_pid = 0;		/* the process that owns the buffers */

/* bits not yet used of the last 8 bytes taken from the pool */
static uint64_t reservoir = 0;
static int	reservoir_bits = 0;


#ifdef PRIVSTAT_NOISE_TESTING
uint64_t	noise_test_draws = 0;
static bool test_seeded = false;
static uint64_t test_state[4];

static uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* xoshiro256**: test builds only, to replay a statistical run */
static uint64_t
test_next(void)
{
	uint64_t	result = rotl(test_state[1] * 5, 7) * 9;
	uint64_t	t = test_state[1] << 17;

	test_state[2] ^= test_state[0];
	test_state[3] ^= test_state[1];
	test_state[1] ^= test_state[2];
	test_state[0] ^= test_state[3];
	test_state[2] ^= t;
	test_state[3] = rotl(test_state[3], 45);
	return result;
}

void
noise_test_seed(uint64_t seed)
{
	int			i;

	for (i = 0; i < 4; i++)
	{
		/* splitmix64 to spread the seed */
		uint64_t	z = (seed += 0x9e3779b97f4a7c15ULL);

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		test_state[i] = z ^ (z >> 31);
	}
	test_seeded = true;
	pool_pos = POOL_SIZE;
	reservoir = 0;
	reservoir_bits = 0;
}
#endif

static bool
pool_refill(void)
{
#ifdef PRIVSTAT_NOISE_TESTING
	if (test_seeded)
	{
		size_t		i;

		for (i = 0; i < POOL_SIZE; i += 8)
		{
			uint64_t	r = test_next();

			memcpy(pool + i, &r, 8);
		}
		pool_pos = 0;
		return true;
	}
#endif
	if (RAND_bytes(pool, POOL_SIZE) != 1)
		return false;
	pool_pos = 0;
	return true;
}


/*
 * Called at every public entry point: a process that is not the one that
 * filled the buffers (a forked child) drops them.  One getpid() per sample.
 */
static void
fork_guard(void)
{
	pid_t		pid = getpid();

	if (pid != pool_pid)
	{
		memset(pool, 0, sizeof(pool));
		pool_pos = POOL_SIZE;
		reservoir = 0;
		reservoir_bits = 0;
		pool_pid = pid;
	}
}

static bool
take_bytes(void *buf, size_t n)
{
	unsigned char *dst = buf;

	while (n > 0)
	{
		size_t		take;

		if (pool_pos == POOL_SIZE && !pool_refill())
			return false;
		take = POOL_SIZE - pool_pos;
		if (take > n)
			take = n;
		memcpy(dst, pool + pool_pos, take);
		memset(pool + pool_pos, 0, take);	/* used bytes would reveal noise */
		pool_pos += take;
		dst += take;
		n -= take;
	}
	return true;
}

bool
noise_random_bytes(void *buf, size_t n)
{
	fork_guard();
	return take_bytes(buf, n);
}

/* n random bits, 1 <= n <= 64 */
static bool
take_bits(int n, uint64_t *out)
{
	uint64_t	r;

#ifdef PRIVSTAT_NOISE_TESTING
	noise_test_draws++;
#endif
	if (n == 64)
		return take_bytes(out, 8);
	if (reservoir_bits < n)
	{
		if (!take_bytes(&reservoir, sizeof(reservoir)))
			return false;
		reservoir_bits = 64;
	}
	r = reservoir & (((uint64_t) 1 << n) - 1);
	reservoir >>= n;
	reservoir_bits -= n;
	*out = r;
	return true;
}

static int
bit_length(noise_u128 v)
{
	uint64_t	hi = (uint64_t) (v >> 64);
	uint64_t	lo = (uint64_t) v;

	if (hi != 0)
		return 128 - __builtin_clzll(hi);
	if (lo != 0)
		return 64 - __builtin_clzll(lo);
	return 0;
}

/*
 * Uniform in [0, bound) by rejection: each try succeeds with probability
 * above 1/2, and the number of tries is independent of the value returned.
 */
static bool
uniform(noise_u128 bound, noise_u128 *out)
{
	int			bits;

	if (bound <= 1)
	{
		*out = 0;
		return true;
	}
	bits = bit_length(bound - 1);
	for (;;)
	{
		noise_u128	r;
		uint64_t	lo;

		if (bits <= 64)
		{
			if (!take_bits(bits, &lo))
				return false;
			r = lo;
		}
		else
		{
			uint64_t	hi;

			if (!take_bits(64, &lo) || !take_bits(bits - 64, &hi))
				return false;
			r = ((noise_u128) hi << 64) | lo;
		}
		if (r < bound)
		{
			*out = r;
			return true;
		}
	}
}

bool
noise_uniform(noise_u128 bound, noise_u128 *out)
{
	fork_guard();
	return uniform(bound, out);
}

static bool
bernoulli(noise_u128 num, noise_u128 den, bool *out)
{
	noise_u128	u;

	if (!uniform(den, &u))
		return false;
	*out = (u < num);
	return true;
}

bool
noise_bernoulli(noise_u128 num, noise_u128 den, bool *out)
{
	fork_guard();
	return bernoulli(num, den, out);
}

/*
 * Bernoulli(exp(-num/den)) for num <= den (CKS alg. 1, first case):
 * draw A_k ~ Bernoulli(x/k) for k = 1, 2, ... until the first A_k = 0 at
 * k = K; return whether K is odd.  All NOISE_BERN_ROUNDS draws are made.
 */
static bool
bernoulli_exp_le1(noise_u128 num, noise_u128 den, bool *out)
{
	unsigned	alive = 1;
	unsigned	first_fail = 0;
	unsigned	k;

	for (k = 1; k <= NOISE_BERN_ROUNDS; k++)
	{
		bool		a;

		if (!bernoulli(num, den * k, &a))
			return false;
		/* branch-free: record k at the first failure */
		first_fail |= (alive & (unsigned) !a) * k;
		alive &= (unsigned) a;
	}
	for (k = NOISE_BERN_ROUNDS + 1; alive; k++)
	{
		bool		a;

		if (!bernoulli(num, den * k, &a))
			return false;
		if (!a)
		{
			first_fail = k;
			alive = 0;
		}
	}
	*out = (first_fail & 1) != 0;
	return true;
}

/* 20!: the number of ways to draw the first NOISE_BERN_ROUNDS uniforms of exp(-1) */
#define FACT_BERN_ROUNDS	UINT64_C(2432902008176640000)

_Static_assert(NOISE_BERN_ROUNDS == 20, "FACT_BERN_ROUNDS is NOISE_BERN_ROUNDS!");

/*
 * Bernoulli(exp(-1)): bernoulli_exp_le1(1, 1) with its first
 * NOISE_BERN_ROUNDS draws taken from one uniform integer.  Those draws are
 * A_k = [U_k = 0] with U_k uniform below k, k = 1..20, and the digits of a
 * uniform r below 20! in the mixed radix 1, 2, ..., 20 (d_k = r mod k, then
 * r /= k) are exactly such independent U_k: the map between r and the
 * digits is a bijection of two sets of 20! equally likely values.
 *
 * r is drawn below 7 * 20!, the largest multiple of 20! under 2^64 (one
 * 64-bit draw, accepted with probability 0.92, independent of the result):
 * r mod 20! is then uniform below 20!, and has the same digits d_1..d_20.
 * Digits d_1..d_k are all zero iff r mod k! = 0 (r mod k! is
 * d_1 + 1! d_2 + ... + (k-1)! d_k), so the number of leading successes is
 * the number of k with k! dividing r: nineteen independent remainders by
 * constants, always all computed, instead of a chain of twenty divisions.
 * The rest is the same algorithm.
 */
static bool
bernoulli_exp_minus1(bool *out)
{
	noise_u128	r128;
	uint64_t	r;
	unsigned	lead;
	unsigned	k;

	if (!uniform((noise_u128) 7 * FACT_BERN_ROUNDS, &r128))
		return false;
	r = (uint64_t) r128;

	/*
	 * A_1 always succeeds; lead = 1 + #{k in 2..20 : k! | r}, branch-free.
	 * Written out, so that each remainder is by a constant (a
	 * multiplication, not a division instruction).
	 */
#define DIVIDES(F)	((unsigned) (r % UINT64_C(F) == 0))
	lead = 1 + DIVIDES(2) + DIVIDES(6) + DIVIDES(24) + DIVIDES(120) + DIVIDES(720)
		+ DIVIDES(5040) + DIVIDES(40320) + DIVIDES(362880) + DIVIDES(3628800)
		+ DIVIDES(39916800) + DIVIDES(479001600) + DIVIDES(6227020800)
		+ DIVIDES(87178291200) + DIVIDES(1307674368000) + DIVIDES(20922789888000)
		+ DIVIDES(355687428096000) + DIVIDES(6402373705728000)
		+ DIVIDES(121645100408832000) + DIVIDES(2432902008176640000);
#undef DIVIDES

	if (lead < NOISE_BERN_ROUNDS)
	{
		/* the first failure is at k = lead + 1 */
		*out = ((lead + 1) & 1) != 0;
		return true;
	}
	/* all twenty succeeded (probability 1/20!): go on as bernoulli_exp_le1 does */
	for (k = NOISE_BERN_ROUNDS + 1;; k++)
	{
		bool		a;

		if (!bernoulli(1, k, &a))
			return false;
		if (!a)
		{
			*out = (k & 1) != 0;
			return true;
		}
	}
}

/*
 * Bernoulli(exp(-num/den)) for any num >= 0 (CKS alg. 1): exp(-x) is the
 * probability that floor(x) draws of Bernoulli(exp(-1)) and one draw of
 * Bernoulli(exp(-(x - floor(x)))) all succeed.  At least NOISE_GEOM_ROUNDS
 * draws of Bernoulli(exp(-1)) are always made.
 */
static bool
bernoulli_exp(noise_u128 num, noise_u128 den, bool *out)
{
	noise_u128	whole = num / den;
	noise_u128	k;
	unsigned	all = 1;
	bool		b;

	for (k = 0; k < NOISE_GEOM_ROUNDS || k < whole; k++)
	{
		if (!bernoulli_exp_minus1(&b))
			return false;
		/* only the first floor(x) draws count */
		all &= (unsigned) (b | (k >= whole));
		if (k >= NOISE_GEOM_ROUNDS && !all)
			break;				/* past the fixed rounds: outcome known */
	}
	if (!bernoulli_exp_le1(num - whole * den, den, &b))
		return false;
	*out = (all & (unsigned) b) != 0;
	return true;
}

bool
noise_bernoulli_exp(noise_u128 num, noise_u128 den, bool *out)
{
	fork_guard();
	return bernoulli_exp(num, den, out);
}

static bool
discrete_laplace(noise_u128 s, noise_u128 t, noise_i128 *out)
{
	for (;;)
	{
		noise_u128	u;
		noise_u128	v = 0;
		noise_u128	y;
		unsigned	alive = 1;
		unsigned	k;
		bool		d;
		bool		b;

		if (!uniform(t, &u) || !bernoulli_exp_le1(u, t, &d))
			return false;

		/* V ~ Geometric(1 - exp(-1)): leading successes of Bernoulli(exp(-1)) */
		for (k = 0; k < NOISE_GEOM_ROUNDS; k++)
		{
			bool		a;

			if (!bernoulli_exp_minus1(&a))
				return false;
			alive &= (unsigned) a;
			v += alive;
		}
		while (alive)
		{
			bool		a;

			if (!bernoulli_exp_minus1(&a))
				return false;
			alive &= (unsigned) a;
			v += alive;
		}
		if (!bernoulli(1, 2, &b))
			return false;

		/* rejections are independent of the value finally returned */
		if (!d)
			continue;
		y = (u + t * v) / s;
		if (b && y == 0)
			continue;
		*out = b ? -(noise_i128) y : (noise_i128) y;
		return true;
	}
}

bool
noise_discrete_laplace(noise_u128 s, noise_u128 t, noise_i128 *out)
{
	if (s == 0 || t == 0 || (t >> 100) != 0)
		return false;
	fork_guard();
	return discrete_laplace(s, t, out);
}

static uint64_t
isqrt_u64(uint64_t n)
{
	uint64_t	r = 0;
	uint64_t	bit = (uint64_t) 1 << 62;

	while (bit > n)
		bit >>= 2;
	while (bit != 0)
	{
		if (n >= r + bit)
		{
			n -= r + bit;
			r = (r >> 1) + bit;
		}
		else
			r >>= 1;
		bit >>= 2;
	}
	return r;
}

bool
noise_discrete_gaussian(uint64_t sigma2, noise_i128 *out)
{
	noise_u128	t = (noise_u128) isqrt_u64(sigma2) + 1;

	if (sigma2 == 0 || sigma2 > ((uint64_t) 1 << 40))
		return false;
	fork_guard();
	for (;;)
	{
		noise_i128	y;
		noise_u128	ay;
		noise_i128	diff;
		noise_u128	num;
		noise_u128	den;
		bool		c;

		if (!discrete_laplace(1, t, &y))
			return false;
		ay = (noise_u128) (y < 0 ? -y : y);
		/* C ~ Bernoulli(exp(-(|y| - sigma2/t)^2 / (2 sigma2))), scaled by t^2 */
		diff = (noise_i128) (ay * t) - (noise_i128) sigma2;
		num = (noise_u128) (diff < 0 ? -diff : diff);
		num = num * num;
		den = 2 * (noise_u128) sigma2 * t * t;
		if (!bernoulli_exp(num, den, &c))
			return false;
		if (c)
		{
			*out = y;
			return true;
		}
	}
}
