/*-------------------------------------------------------------------------
 *
 * dp_mech.h
 *	  The mechanisms behind privstat's DP aggregates: parameters, the
 *	  fixed-point grid, and the release of a noisy answer from an exact
 *	  state.
 *
 * Like noise.h, this uses no PostgreSQL header, so test/stat runs the very
 * code the aggregates run, millions of times, to check the DP guarantee
 * empirically.  src/dp_agg.c wraps it in aggregate support functions.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRIVSTAT_DP_MECH_H
#define PRIVSTAT_DP_MECH_H

#include "privstat/noise.h"

/* epsilon is used as E / 2^DP_EPS_BITS, E = floor(epsilon * 2^DP_EPS_BITS) */
#define DP_EPS_BITS			20
#define DP_EPS_SCALE		((uint64_t) 1 << DP_EPS_BITS)
#define DP_MIN_EPSILON		(1.0 / DP_EPS_SCALE)

/* the grid makes a sensitivity about 2^DP_GRID_BITS * epsilon grid steps */
#define DP_GRID_BITS		20

/* the largest grid bound a parameter set may have (sums, avg, variance) */
#define DP_MAX_GRID_STEPS	((int64_t) 1 << 40)

/* percentile histogram: bins over [lower, upper] */
#define DP_HIST_BINS		256
/* p is used as P / 2^DP_P_BITS */
#define DP_P_BITS			30

typedef enum DpKind
{
	DP_COUNT = 1,
	DP_SUM,
	DP_AVG,
	DP_VARIANCE,
	DP_STDDEV,
	DP_PERCENTILE,
	DP_SELECT					/* group selection: lower is delta, upper is k */
} DpKind;

typedef enum DpMechError
{
	DP_OK = 0,
	DP_ERR_RANDOM,				/* OpenSSL's random generator failed */
	DP_ERR_OVERFLOW				/* the answer does not fit its type */
} DpMechError;

/* everything fixed for one aggregate call; derived once from its arguments */
typedef struct DpParams
{
	int32_t		kind;			/* DpKind */
	int32_t		integer_input;	/* values are integers: grid step >= 1 */
	int32_t		grid_exp;		/* grid step g = 2^grid_exp */
	uint32_t	eps_units;		/* E: epsilon = E / 2^DP_EPS_BITS */
	double		epsilon;		/* as given, for the cost */
	double		lower;			/* declared bounds, as given */
	double		upper;
	int64_t		lower_q;		/* the bounds on the grid */
	int64_t		upper_q;
	uint32_t	p_units;		/* percentile: p = P / 2^DP_P_BITS */
	int32_t		exact_int;		/* integer input: quantize with clamp_lo/hi */
	int64_t		clamp_lo;		/* integer input: ceil(lower), floor(upper) */
	int64_t		clamp_hi;
} DpParams;

/* epsilon to units; false if below DP_MIN_EPSILON or not finite */
extern bool dp_epsilon_units(double epsilon, uint32_t *units);

/* fill params for kind from checked epsilon, bounds and p */
extern void dp_params_init(DpParams *params, DpKind kind, double epsilon,
						   double lower, double upper, double p,
						   bool integer_input);

/* a value clamped to the bounds and rounded to the grid */
extern int64_t dp_quantize_float(const DpParams *params, double x);

/*
 * An integer value on the grid: clamped, counted from the lower bound for
 * avg and variance, and divided by the grid step 2^grid_exp (>= 1 for
 * integers) rounding half away from zero.  Inline and in int64: it runs
 * once per row.  exact_int is set only where the bounds lie within 2^62.
 */
static inline int64_t
dp_quantize_int(const DpParams *params, int64_t x)
{
	int64_t		v;
	int64_t		half;

	if (!params->exact_int)
		return dp_quantize_float(params, (double) x);
	v = x < params->clamp_lo ? params->clamp_lo :
		(x > params->clamp_hi ? params->clamp_hi : x);
	if (params->kind != DP_SUM)
		v -= params->clamp_lo;
	if (params->grid_exp == 0)
		return v;
	half = (int64_t) 1 << (params->grid_exp - 1);
	return v >= 0 ? (v + half) >> params->grid_exp : -((-v + half) >> params->grid_exp);
}

/* the histogram bin of a value clamped to the bounds */
extern int dp_hist_bin(const DpParams *params, double x);

/* releases: the exact state in, the noisy answer out */
extern DpMechError dp_release_count(const DpParams *params, int64_t n,
									int64_t *out);
extern DpMechError dp_release_sum(const DpParams *params, noise_i128 sum_q,
								  noise_i128 *out_q);
extern DpMechError dp_release_avg(const DpParams *params, int64_t n,
								  noise_i128 sum_c, double *out);
extern DpMechError dp_release_variance(const DpParams *params, int64_t n,
									   noise_i128 sum_c, noise_i128 sum_c2,
									   double *out);
extern DpMechError dp_release_percentile(const DpParams *params,
										 const int64_t *hist, double *out);

/*
 * Group selection: the threshold a group's count of units plus noise must
 * reach, and the decision for a group of n units.
 */
extern int64_t dp_select_threshold(const DpParams *params);
extern DpMechError dp_release_select(const DpParams *params, int64_t n,
									 bool *selected);

/* half-width of the interval holding the noise with probability level */
extern double dp_laplace_bound(double scale_steps, double level);

#endif							/* PRIVSTAT_DP_MECH_H */
