/*-------------------------------------------------------------------------
 *
 * dp_agg.h
 *	  privstat's DP aggregates, and the interface through which the budget
 *	  reads what a plan will spend.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRIVSTAT_DP_AGG_H
#define PRIVSTAT_DP_AGG_H

#include "nodes/plannodes.h"
#include "nodes/primnodes.h"

/*
 * The privacy cost of one Aggref found in plan node "plan": true if it is
 * one of privstat's DP aggregates, with *epsilon and *delta set from its
 * constant arguments (or privstat.epsilon when it has none).  Errors as the
 * aggregate itself would for a non-constant or invalid parameter, so a
 * query is refused before it runs.  An Aggref whose Agg node skips the
 * final function (the partial half of a parallel aggregate) costs nothing:
 * noise is added once, in the final function.
 */
extern bool privstat_dp_aggref_cost(Aggref *aggref, Plan *plan,
									double *epsilon, double *delta);

/*
 * Sum the cost of every DP aggregate in a planned statement (all plan
 * nodes, init plans and subplans).  Sequential composition: epsilons and
 * deltas add up.  Returns the number of DP aggregates found.
 */
extern int	privstat_plan_cost(PlannedStmt *stmt, double *epsilon, double *delta);

#endif							/* PRIVSTAT_DP_AGG_H */
