/*-------------------------------------------------------------------------
 *
 * budget.h
 *	  Per-role privacy budgets: the journal of charges, the shared-memory
 *	  ledger, and the charge made at executor start.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRIVSTAT_BUDGET_H
#define PRIVSTAT_BUDGET_H

/* privstat.max_roles: budget entries in shared memory (PGC_POSTMASTER) */
extern int	privstat_max_roles;

/* from _PG_init: request shared memory and install the executor and EXPLAIN hooks */
extern void privstat_budget_init(void);

/*
 * Debit epsilon and delta from role's budget and make the charge durable
 * before returning; an error, and no debit, if the budget cannot cover it.
 */
extern void privstat_budget_charge(Oid role, double epsilon, double delta);

#endif							/* PRIVSTAT_BUDGET_H */
