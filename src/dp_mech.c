/*-------------------------------------------------------------------------
 *
 * dp_mech.c
 *	  Parameters, fixed-point grid and noisy release of privstat's DP
 *	  aggregates.  Pure C: see dp_mech.h.
 *
 * Every input row counts as one contributor here (the user-level bounding
 * of src/policy/bound.c happens before the state is built).  Neighbouring
 * inputs differ by one row, added or removed.
 *
 * The grid.  Values are clamped to the declared bounds [L, U] and rounded to
 * multiples of g = 2^k, where k makes the sensitivity Delta about
 * 2^DP_GRID_BITS * epsilon grid steps: the rounding error (half a step) is
 * then about 2^-21 of the noise's scale.  Integer inputs never use a step
 * below 1.  Sums accumulate exactly in 128-bit integers, and the noise, a
 * discrete Laplace variable in grid steps, is added on the same grid.  The
 * floating-point arithmetic here only derives parameters (k, the grid
 * bounds) and post-processes already-noisy integers; it never produces noise.
 *
 * Epsilon.  The noise uses epsilon rounded down to a multiple of 2^-20
 * (more noise, never less) so that every exponent is an exact rational.
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <string.h>

#include "privstat/dp_mech.h"

#define INT64_MAX_D		9223372036854775807.0

/* integer bounds within 2^62 can be clamped and rounded in int64 (see dp_quantize_int) */

bool
dp_epsilon_units(double epsilon, uint32_t *units)
{
	double		scaled;

	if (!(epsilon >= DP_MIN_EPSILON) || !isfinite(epsilon))
		return false;
	scaled = floor(ldexp(epsilon, DP_EPS_BITS));
	if (scaled > 4294967295.0)
		return false;
	*units = (uint32_t) scaled;
	return true;
}

static int64_t
round_to_int64(double x)
{
	if (x >= INT64_MAX_D)
		return INT64_MAX;
	if (x <= -INT64_MAX_D)
		return -INT64_MAX;
	return (int64_t) llround(x);
}

void
dp_params_init(DpParams *params, DpKind kind, double epsilon,
			   double lower, double upper, double p, bool integer_input)
{
	double		delta = 0.0;
	double		eff_eps;

	memset(params, 0, sizeof(*params));
	params->kind = kind;
	params->integer_input = integer_input;
	params->epsilon = epsilon;
	params->lower = lower;
	params->upper = upper;
	(void) dp_epsilon_units(epsilon, &params->eps_units);
	eff_eps = ldexp((double) params->eps_units, -DP_EPS_BITS);

	switch (kind)
	{
		case DP_SUM:
			delta = fmax(fabs(lower), fabs(upper));
			break;
		case DP_AVG:
		case DP_VARIANCE:
		case DP_STDDEV:
			delta = (upper - lower) / 2.0;
			break;
		case DP_PERCENTILE:
			params->p_units = (uint32_t) llround(ldexp(p, DP_P_BITS));
			return;
		case DP_COUNT:
			return;
		case DP_SELECT:
			/* lower and upper hold delta and max_groups_contributed */
			return;
	}

	if (delta > 0.0 && isfinite(delta / eff_eps))
	{
		int			e = 0;

		(void) frexp(delta / eff_eps, &e);
		params->grid_exp = (e - 1) - DP_GRID_BITS;
	}
	if (integer_input && params->grid_exp < 0)
		params->grid_exp = 0;

	if (kind == DP_SUM)
	{
		params->lower_q = round_to_int64(ldexp(lower, -params->grid_exp));
		params->upper_q = round_to_int64(ldexp(upper, -params->grid_exp));
		if (integer_input && fabs(lower) < 4.6e18 && fabs(upper) < 4.6e18)
		{
			params->exact_int = 1;
			params->clamp_lo = (int64_t) ceil(lower);
			params->clamp_hi = (int64_t) floor(upper);
		}
	}
	else
	{
		/* avg and variance quantize x - L, so large bounds keep precision */
		params->lower_q = 0;
		params->upper_q = round_to_int64(ldexp(upper - lower, -params->grid_exp));
		/* integer values and bounds: x - L exactly, in integers */
		if (integer_input && lower == floor(lower) && upper == floor(upper) &&
			fabs(lower) < 9007199254740992.0 && fabs(upper) < 9007199254740992.0)
		{
			params->exact_int = 1;
			params->clamp_lo = (int64_t) lower;
			params->clamp_hi = (int64_t) upper;
		}
	}
}

int64_t
dp_quantize_float(const DpParams *params, double x)
{
	int64_t		q;

	/* NaN sorts above every number in PostgreSQL: clamp it to the top */
	if (isnan(x) || x > params->upper)
		x = params->upper;
	else if (x < params->lower)
		x = params->lower;
	if (params->kind == DP_SUM)
		q = round_to_int64(ldexp(x, -params->grid_exp));
	else
		q = round_to_int64(ldexp(x - params->lower, -params->grid_exp));
	if (q < params->lower_q)
		q = params->lower_q;
	if (q > params->upper_q)
		q = params->upper_q;
	return q;
}

int
dp_hist_bin(const DpParams *params, double x)
{
	double		width = params->upper - params->lower;
	double		pos;
	int			bin;

	if (isnan(x) || x >= params->upper)
		return DP_HIST_BINS - 1;
	if (x <= params->lower || !(width > 0.0))
		return 0;
	pos = (x - params->lower) / width * DP_HIST_BINS;
	bin = (int) pos;
	if (bin < 0)
		bin = 0;
	if (bin >= DP_HIST_BINS)
		bin = DP_HIST_BINS - 1;
	return bin;
}

/*
 * Discrete Laplace noise for a query of sensitivity sens (grid steps) that
 * spends 1/share of epsilon: scale sens * share / eps_eff.
 */
static DpMechError
laplace(const DpParams *params, noise_u128 sens, unsigned share, noise_i128 *z)
{
	noise_u128	t;

	if (sens == 0)
	{
		*z = 0;
		return DP_OK;
	}
	/* check before multiplying, so t cannot wrap */
	if (sens >> (100 - DP_EPS_BITS - 2))
		return DP_ERR_OVERFLOW;
	t = sens * share * (noise_u128) DP_EPS_SCALE;
	if (!noise_discrete_laplace(params->eps_units, t, z))
		return DP_ERR_RANDOM;
	return DP_OK;
}

DpMechError
dp_release_count(const DpParams *params, int64_t n, int64_t *out)
{
	noise_i128	z;
	noise_i128	r;
	DpMechError err = laplace(params, 1, 1, &z);

	if (err != DP_OK)
		return err;
	r = (noise_i128) n + z;
	if (r > INT64_MAX || r < INT64_MIN)
		return DP_ERR_OVERFLOW;
	*out = (int64_t) r;
	return DP_OK;
}

static noise_u128
abs_u128(int64_t v)
{
	return (noise_u128) (v < 0 ? -(noise_i128) v : (noise_i128) v);
}

DpMechError
dp_release_sum(const DpParams *params, noise_i128 sum_q, noise_i128 *out_q)
{
	noise_u128	sens = abs_u128(params->lower_q);
	noise_i128	z;
	DpMechError err;

	if (abs_u128(params->upper_q) > sens)
		sens = abs_u128(params->upper_q);
	err = laplace(params, sens, 1, &z);
	if (err != DP_OK)
		return err;
	*out_q = sum_q + z;
	return DP_OK;
}

static double
clamp_double(double v, double lo, double hi)
{
	return v < lo ? lo : (v > hi ? hi : v);
}

/*
 * avg: a noisy count and a noisy sum of centred values c = 2 x_q - R
 * (R = upper_q, so c lies in [-R, R], sensitivity R), each with epsilon/2.
 */
DpMechError
dp_release_avg(const DpParams *params, int64_t n, noise_i128 sum_c, double *out)
{
	noise_u128	range = (noise_u128) params->upper_q;
	noise_i128	zn;
	noise_i128	zs;
	double		count;
	double		mid_q;
	DpMechError err;

	if ((err = laplace(params, 1, 2, &zn)) != DP_OK ||
		(err = laplace(params, range, 2, &zs)) != DP_OK)
		return err;
	count = (double) ((noise_i128) n + zn);
	if (count < 1.0)
		count = 1.0;
	mid_q = (double) params->upper_q / 2.0 + (double) (sum_c + zs) / (2.0 * count);
	*out = clamp_double(params->lower + ldexp(mid_q, params->grid_exp),
						params->lower, params->upper);
	return DP_OK;
}

/*
 * variance: a noisy count, sum of c and sum of c^2 (sensitivity R^2), each
 * with epsilon/3.  The variance of x is the variance of c over 4, in grid
 * steps squared.
 */
DpMechError
dp_release_variance(const DpParams *params, int64_t n, noise_i128 sum_c,
					noise_i128 sum_c2, double *out)
{
	noise_u128	range = (noise_u128) params->upper_q;
	noise_i128	zn;
	noise_i128	zs;
	noise_i128	zs2;
	double		count;
	double		mean_c;
	double		var_c;
	double		half = (params->upper - params->lower) / 2.0;
	DpMechError err;

	if ((err = laplace(params, 1, 3, &zn)) != DP_OK ||
		(err = laplace(params, range, 3, &zs)) != DP_OK ||
		(err = laplace(params, range * range, 3, &zs2)) != DP_OK)
		return err;
	count = (double) ((noise_i128) n + zn);
	if (count < 1.0)
		count = 1.0;
	mean_c = (double) (sum_c + zs) / count;
	var_c = (double) (sum_c2 + zs2) / count - mean_c * mean_c;
	*out = clamp_double(ldexp(var_c / 4.0, 2 * params->grid_exp), 0.0, half * half);
	return DP_OK;
}

/*
 * percentile: permute-and-flip (McKenna and Sheldon, NeurIPS 2020) over the
 * DP_HIST_BINS + 1 bin boundaries, with utility -|rank below - p n|
 * (sensitivity 1).  Visiting candidates in a random order, each is taken
 * with probability exp(-epsilon (u* - u) / 2), the best always; it is
 * epsilon-DP and never worse in expectation than the exponential mechanism.
 * All in integers: utilities are scaled by 2^DP_P_BITS.
 */
DpMechError
dp_release_percentile(const DpParams *params, const int64_t *hist, double *out)
{
	noise_i128	below[DP_HIST_BINS + 1];
	noise_u128	dist[DP_HIST_BINS + 1];
	int			order[DP_HIST_BINS + 1];
	noise_i128	n = 0;
	noise_u128	best;
	int			i;

	below[0] = 0;
	for (i = 0; i < DP_HIST_BINS; i++)
	{
		n += hist[i];
		below[i + 1] = n;
	}
	best = ~(noise_u128) 0;
	for (i = 0; i <= DP_HIST_BINS; i++)
	{
		noise_i128	d = (below[i] << DP_P_BITS) - (noise_i128) params->p_units * n;

		dist[i] = (noise_u128) (d < 0 ? -d : d);
		if (dist[i] < best)
			best = dist[i];
		order[i] = i;
	}
	/* Fisher-Yates shuffle of the candidates */
	for (i = DP_HIST_BINS; i > 0; i--)
	{
		noise_u128	j;
		int			tmp;

		if (!noise_uniform((noise_u128) i + 1, &j))
			return DP_ERR_RANDOM;
		tmp = order[i];
		order[i] = order[(int) j];
		order[(int) j] = tmp;
	}
	for (i = 0; i <= DP_HIST_BINS; i++)
	{
		int			c = order[i];
		bool		take;

		/* exp(-eps (dist - best) / 2^(DP_P_BITS + 1)), eps = E / 2^DP_EPS_BITS */
		if (!noise_bernoulli_exp((noise_u128) params->eps_units * (dist[c] - best),
								 (noise_u128) 1 << (DP_EPS_BITS + DP_P_BITS + 1),
								 &take))
			return DP_ERR_RANDOM;
		if (take)
		{
			*out = params->lower + (params->upper - params->lower) * c / DP_HIST_BINS;
			return DP_OK;
		}
	}
	/* unreachable: the best candidate is always taken */
	*out = params->lower;
	return DP_OK;
}

/*
 * Group selection (Laplace thresholding, with discrete Laplace noise).  Each
 * privacy unit counts once in at most k groups, so the vector of the groups'
 * unit counts has L1 sensitivity k, and noise of scale k / eps makes the
 * noisy counts eps-DP.  A group whose only unit is the one added or removed
 * exists in one dataset only: it must be released with probability at most
 * delta / k, so that the unit's (at most k) such groups together stay within
 * delta.  For the discrete Laplace variable Z with a = exp(-eps / k),
 * P(Z >= j) = a^j / (1 + a) for j >= 1, so a group of one unit is released,
 * 1 + Z >= tau, with probability a^(tau-1) / (1 + a) <= delta / k when
 *	  tau = 1 + ceil((k / eps) * ln(k / (delta (1 + a)))),  and tau >= 2.
 * eps is the effective epsilon (rounded down to the 2^-20 grid, as for the
 * noise), so the bound holds for the noise actually drawn.
 */
int64_t
dp_select_threshold(const DpParams *params)
{
	double		k = params->upper;
	double		delta = params->lower;
	double		eps = ldexp((double) params->eps_units, -DP_EPS_BITS);
	double		a = exp(-eps / k);
	double		j = ceil(k / eps * log(k / (delta * (1.0 + a))));

	if (!(j >= 1.0))
		j = 1.0;
	/* guard against rounding in log and exp: step up while the bound fails */
	while (j < 4.0e18 && k * pow(a, j) / (1.0 + a) > delta)
		j += 1.0;
	if (j >= 4.0e18)
		return INT64_MAX;
	return 1 + (int64_t) j;
}

DpMechError
dp_release_select(const DpParams *params, int64_t n, bool *selected)
{
	noise_i128	z;
	DpMechError err = laplace(params, (noise_u128) params->upper, 1, &z);

	if (err != DP_OK)
		return err;
	*selected = ((noise_i128) n + z) >= (noise_i128) dp_select_threshold(params);
	return DP_OK;
}

double
dp_laplace_bound(double scale_steps, double level)
{
	double		a = 1.0 / scale_steps;
	double		alpha = 1.0 - level;

	/* P(|Z| > k) = 2 e^{-a(k+1)} / (1 + e^{-a}) for discrete Laplace */
	return fmax(0.0, ceil(log(2.0 / (alpha * (1.0 + exp(-a)))) / a - 1.0));
}
