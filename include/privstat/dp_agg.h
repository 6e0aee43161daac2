/*-------------------------------------------------------------------------
 *
 * dp_agg.h
 *	  privstat's DP aggregates: their parameters and price, their states,
 *	  and the rewrites that keep answers consistent.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRIVSTAT_DP_AGG_H
#define PRIVSTAT_DP_AGG_H

#include "nodes/plannodes.h"
#include "nodes/parsenodes.h"
#include "nodes/primnodes.h"

/*
 * The epsilon and delta one DP aggregate call spends when released, from
 * its constant arguments or privstat.epsilon, checked as the aggregate
 * checks them; plan is the node whose expressions hold aggref (a Finalize
 * Agg's arguments live on in the partial Aggref below it).
 */
extern void privstat_dp_aggref_price(Aggref *aggref, Plan *plan, double *epsilon, double *delta);

/*
 * Called before a DP aggregate draws noise, to wait until this backend's
 * charge is durable: set by the budget module (privstat_budget_init).
 */
extern void (*privstat_await_charge_hook) (void);

/* true if aggfnoid is one of privstat's DP aggregates (dp_count, dp_sum, ...) */
extern bool privstat_is_dp_aggregate(Oid aggfnoid);

/* which DP aggregate (a DpKind of privstat/dp_mech.h), or 0 */
extern int	privstat_dp_aggregate_kind(Oid aggfnoid);

/* check epsilon and bounds as the aggregate of that kind would */
extern void privstat_check_dp_params(int kind, double epsilon, double lower, double upper);

/*
 * The state of a dp_sum or dp_group_selected call, for a plan node that
 * feeds it itself (src/policy/fused.c): made from the call's Aggref (its
 * parameters checked as the aggregate checks them), fed one value per unit
 * and group, released once with the aggregate's own mechanism.
 */
struct DpState;
extern struct DpState *privstat_dp_state_new(Aggref *aggref);
extern void privstat_dp_state_add(struct DpState *state, bool is_int, int64 ival, double fval);
extern Datum privstat_dp_state_release(struct DpState *state, Oid aggtype);

/*
 * A unit's contribution to a sum in one group from n rows (values already
 * clamped), centred and scaled to at most m rows (privstat._bounded_total).
 */
extern double privstat_bounded_total_value(double total, int64 n, int32 m, double centre);

/* privstat.consistent_answers: percentiles of one column in one row monotone in p */
extern void privstat_monotone_percentiles(Query *query);

/* privstat.consistent_answers: a sum within what the count released beside it allows */
extern void privstat_consistent_sums(Query *query);
extern Aggref *privstat_count_for_sum(Aggref *sum, List *aggs, bool *exact,
									  double *lower, double *upper);
/* append the Aggrefs of node (not those of subqueries) to *aggs; a walker */
extern bool privstat_collect_aggrefs(Node *node, List **aggs);
extern Node *privstat_consistent_sum_expr(Node *sum, Node *count, double lower, double upper,
										  bool exact);

/* Citus (src/citus.c): the state types, and a partial state stamped for a merge */
extern Oid	privstat_dp_state_type(bool hist);
extern Datum privstat_dp_state_stamp(Datum state, bool hist);
extern Datum privstat_dp_state_of(int32 kind, bool integer_input, double lower, double upper,
								  double epsilon, int64 n, Datum sum, bool sum_null);

#endif							/* PRIVSTAT_DP_AGG_H */
