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

/* from _PG_init: request shared memory and install the executor and EXPLAIN hooks */
extern void privstat_budget_init(void);

/*
 * Debit epsilon and delta from role's budget and write the charge to the
 * journal, starting its flush; an error, and no debit, if the budget cannot
 * cover it.  The charge is durable once privstat_budget_await returns.
 */
extern void privstat_budget_charge(Oid role, double epsilon, double delta);

/* wait until this backend's last charge is on disk (before any noisy value) */
extern void privstat_budget_await(void);

#endif							/* PRIVSTAT_BUDGET_H */
