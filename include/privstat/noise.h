/*-------------------------------------------------------------------------
 *
 * noise.h
 *	  privstat's only source of randomness: a CSPRNG from OpenSSL and exact
 *	  samplers that use integer arithmetic only.
 *
 * This header and src/noise.c use no PostgreSQL header, so the statistical
 * test harness (test/stat/) links noise.c alone.  Functions return false
 * only when OpenSSL's random generator fails; callers turn that into an
 * error.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRIVSTAT_NOISE_H
#define PRIVSTAT_NOISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef unsigned __int128 noise_u128;
typedef __int128 noise_i128;

/*
 * Loops whose iteration count would follow the sampled value run a fixed
 * number of rounds, so the sampling time does not reveal the noise.  Only
 * when every round of such a loop succeeds (probability below 2^-57 for
 * each) does the loop go on, so the samplers stay exact.
 */
#define NOISE_BERN_ROUNDS	20		/* Bernoulli(exp(-x)), x <= 1: 1/20! < 2^-61 */
#define NOISE_GEOM_ROUNDS	40		/* Bernoulli(exp(-1)) trials: e^-40 < 2^-57 */

/* Fill buf with n bytes from the per-process CSPRNG buffer. */
extern bool noise_random_bytes(void *buf, size_t n);

/* Uniform integer in [0, bound), bound >= 1, by rejection. */
extern bool noise_uniform(noise_u128 bound, noise_u128 *out);

/* Bernoulli(num / den), 0 <= num <= den, den >= 1. */
extern bool noise_bernoulli(noise_u128 num, noise_u128 den, bool *out);

/* Bernoulli(exp(-num / den)), num >= 0, den >= 1 (Canonne, Kamath, Steinke 2020, alg. 1). */
extern bool noise_bernoulli_exp(noise_u128 num, noise_u128 den, bool *out);

/*
 * Discrete Laplace: P(Z = z) proportional to exp(-|z| * s / t), s, t >= 1
 * (CKS 2020, alg. 2).  t < 2^100.  False also for parameters out of range.
 */
extern bool noise_discrete_laplace(noise_u128 s, noise_u128 t, noise_i128 *out);

/*
 * Discrete Gaussian: P(Z = z) proportional to exp(-z^2 / (2 sigma2)),
 * sigma2 an integer in [1, 2^40] (CKS 2020, alg. 3).
 */
extern bool noise_discrete_gaussian(uint64_t sigma2, noise_i128 *out);

#ifdef PRIVSTAT_NOISE_TESTING
/*
 * Test builds only: replace the CSPRNG by a deterministic stream, so a
 * failing statistical run can be replayed.  Never compiled into the server.
 */
extern void noise_test_seed(uint64_t seed);

/* test builds only: random draws made so far, a machine-independent measure of work */
extern uint64_t noise_test_draws;
#endif

#endif							/* PRIVSTAT_NOISE_H */
