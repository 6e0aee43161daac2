/*-------------------------------------------------------------------------
 *
 * pricing.h
 *	  What a plan costs in privacy (src/pricing.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRIVSTAT_PRICING_H
#define PRIVSTAT_PRICING_H

#include "nodes/plannodes.h"

/*
 * Sum the cost of every DP aggregate in a planned statement (all plan
 * nodes, init plans and subplans), from their constant arguments or
 * privstat.epsilon.  Sequential composition: epsilons and deltas add up.
 * Partial aggregates (the workers' half of a parallel aggregate) cost
 * nothing: noise is added once, when the leader finalizes.  Errors as the
 * aggregates would for invalid parameters, and refuses DP aggregates that
 * could be released more than once per execution, so a query is refused
 * before it runs.  Returns the number of DP aggregates found.
 */
extern int	privstat_plan_cost(PlannedStmt *stmt, double *epsilon, double *delta);

extern int	privstat_plan_cost(PlannedStmt *stmt, double *epsilon, double *delta);

#endif							/* PRIVSTAT_PRICING_H */
