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
 * Does a plan's range-table entry gather a Citus table's rows through
 * _citus_rows or _citus_reader_rows?  Such an entry keeps the table's relid
 * and, in checkAsUser, the rights the read stands for (InvalidOid: the
 * caller's), so it is checked as the table's own entry would be.
 */
extern bool privstat_citus_gathered(RangeTblEntry *rte);

/*
 * Has relid privstat's row rules (consent, scopes, expiry)?  Set by the
 * policy module (src/policy/rowrules.c), which uses this one: a table whose
 * row security is only the DBA's own, which Citus copies to the shards, is
 * left to Citus.
 */
extern bool (*privstat_citus_has_rules) (Oid relid);

/*
 * May a call of funcid on these arguments run on rows the rules hide: total
 * as it is, in privstat's table of total functions (src/policy/total.c),
 * with no replacement and no constant left to check?  Set by the policy
 * module, like privstat_citus_has_rules; src/citus.c asks it of the
 * conditions of an UPDATE or DELETE under the rules.
 */
extern bool (*privstat_citus_total_call) (Oid funcid, List *args, Oid inputcollid);

/*
 * While an UPDATE or DELETE of a Citus table under privstat's rules runs as
 * the table's owner (src/citus.c), the role whose statement it is; else
 * InvalidOid.  privstat._session_purpose() answers for that role.
 */
extern Oid	privstat_citus_changing_role(void);

/* is relid a Citus table (distributed, reference or Citus-local)? false without Citus */
extern bool privstat_citus_table(Oid relid);

/* the policy privstat puts on a Citus table under its rules, for INSERT on the shards (src/policy/rowrules.c) */
#define CITUS_INSERT_POLICY "privstat_citus_insert"

#endif							/* PRIVSTAT_CITUS_H */
