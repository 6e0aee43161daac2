/*-------------------------------------------------------------------------
 *
 * total.h
 *	  The table of total functions (src/policy/total.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRIVSTAT_POLICY_TOTAL_H
#define PRIVSTAT_POLICY_TOTAL_H

#include "nodes/parsenodes.h"
#include "nodes/primnodes.h"

/* the largest constant that may meet a protected row's value, in bytes */
#define PRIVSTAT_MAX_CONSTANT 4096
/* function calls evaluated on each protected row, per statement */
#define PRIVSTAT_MAX_ROW_CALLS 1000
/* the longest LIKE pattern, in bytes: the matcher's time grows with it */
#define PRIVSTAT_MAX_PATTERN 256

typedef enum TotalVerdict
{
	TOTAL_OK,					/* total as called */
	TOTAL_UNKNOWN,				/* not in the table */
	TOTAL_NOT_INSTALLED,		/* replaced, but privstat's SQL is older than its replacement */
	TOTAL_NO_COLLATION,			/* collatable arguments, no determinate collation */
	TOTAL_NONDETERMINISTIC,		/* pattern matching under a nondeterministic collation */
	TOTAL_NOT_CONSTANT,			/* an argument that must be a constant is not */
	TOTAL_CONSTANT_TOO_LARGE	/* a pattern longer than PRIVSTAT_MAX_PATTERN */
} TotalVerdict;

/* the value of an external parameter in the plan being made, or NULL */
typedef Const *(*TotalParamValue) (Param *p);

extern bool privstat_total_known(Oid funcid);
extern TotalVerdict privstat_total_check(Oid funcid, List *args, Oid inputcollid,
										 TotalParamValue param_value, bool *wait_for_params,
										 int *argno);
extern bool privstat_total_value_ok(Datum value, int16 typlen, Size limit);
extern bool privstat_total_const_ok(Const *c, Size limit);
extern Oid	privstat_total_replacement(Oid funcid);
extern void privstat_total_substitute(Query *query);
extern void privstat_total_substitute_expr(Node *expr);

#endif							/* PRIVSTAT_POLICY_TOTAL_H */
