/*-------------------------------------------------------------------------
 *
 * citus.h
 *	  privstat on a Citus cluster (src/citus.c): DP queries over distributed
 *	  tables run on the coordinator, and workers never charge.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRIVSTAT_CITUS_H
#define PRIVSTAT_CITUS_H

#include "nodes/parsenodes.h"

extern void privstat_citus_init(void);

/* an ERROR on a Citus worker, where no budget is charged or changed: what is refused */
extern void privstat_citus_refuse_on_worker(const char *what);

/*
 * The protected table a plan's range-table entry reads with privstat_reader's
 * rights through privstat._citus_reader_rows (a restricted role's query
 * over a Citus table), or InvalidOid.
 */
extern Oid	privstat_citus_reader_table(RangeTblEntry *rte);

/*
 * The Citus table whose rows a plan's range-table entry gathers through
 * _citus_rows or _citus_reader_rows (its checkAsUser: the rights the read
 * stands for, or InvalidOid for the caller's), or InvalidOid.
 */
extern Oid	privstat_citus_gathered_table(RangeTblEntry *rte);

/*
 * Has relid privstat's row rules (consent, scopes, expiry)?  Set by the
 * policy module (src/policy/rowrules.c), which uses this one: a table whose
 * row security is only the DBA's own, which Citus copies to the shards, is
 * left to Citus.
 */
extern bool (*privstat_citus_has_rules) (Oid relid);

/* is relid a Citus table (distributed, reference or Citus-local)? false without Citus */
extern bool privstat_citus_table(Oid relid);

/*
 * An ERROR if relid is a Citus table, whose shards privstat's row rules
 * (consent, scopes, retention) do not reach: what was attempted, as
 * RULES_WRITE ("... Citus table "t" is not supported yet").
 */
extern void privstat_citus_refuse_row_rules(Oid relid, const char *what);

#define RULES_WRITE "changing rows under consent, scope or retention rules, as a role other than the owner, in"

/* the policy privstat puts on a Citus table under its rules, for INSERT on the shards (src/policy/rowrules.c) */
#define CITUS_INSERT_POLICY "privstat_citus_insert"


#endif							/* PRIVSTAT_CITUS_H */
