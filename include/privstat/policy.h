/*-------------------------------------------------------------------------
 *
 * policy.h
 *	  Access levels, the protected-table catalog, and the validation and
 *	  rewriting of the queries of restricted roles.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRIVSTAT_POLICY_H
#define PRIVSTAT_POLICY_H

/* from _PG_init: install the planner, permission-check and utility hooks */
extern void privstat_policy_init(void);

#endif							/* PRIVSTAT_POLICY_H */
