/*-------------------------------------------------------------------------
 *
 * policy_internal.h
 *	  What the files of the policy module share.  The rest of src/ uses
 *	  privstat/policy.h.
 *
 * The module, one concern per file, each calling only files listed before
 * it:
 *	catalog.c	the policy cache, read from privstat's tables;
 *	validate.c	the validation of a restricted role's query, one level at
 *				a time, and the rewrite of count/sum/avg into DP aggregates;
 *	fused.c		the one-pass bounding node (a Custom Scan) that runs the
 *				levels bound.c leaves it, and its planner hook;
 *	bound.c		user-level privacy: contribution bounding and group
 *				selection (sets fused.c's fused_this_statement);
 *	rowrules.c	row-level rules: consent to purposes, scopes, expiry;
 *	hooks.c		the hooks, and privstat_policy_init, which installs them.
 * One pair calls both ways: validate_level hands each aggregating level to
 * bound_level, and validate_aggref asks is_unit_expr of bound.c, whose
 * rewrite is built with validate.c's helpers.
 *
 * Everything declared here is hidden from the shared library's dynamic
 * symbol table (PostgreSQL 15's PGXS does not build with
 * -fvisibility=hidden), so that these names cannot collide with those of
 * PostgreSQL or of another library.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRIVSTAT_POLICY_INTERNAL_H
#define PRIVSTAT_POLICY_INTERNAL_H

#include "datatype/timestamp.h"
#include "nodes/params.h"
#include "nodes/parsenodes.h"
#include "rewrite/rowsecurity.h"
#include "utils/relcache.h"

#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

/* The policy, as catalog.c reads it from privstat's tables */

typedef enum AccessLevel
{
	LEVEL_DIRECT = 0,
	LEVEL_AGGREGATE,
	LEVEL_NONE					/* the most restrictive wins */
} AccessLevel;

typedef struct ColumnBounds
{
	AttrNumber	attno;
	double		lower;
	double		upper;
} ColumnBounds;

/* the declared public keys of one column, in their text form */
typedef struct PublicGroups
{
	char	   *col;
	int			nkeys;
	char	  **keys;
} PublicGroups;

typedef struct ProtectedRel
{
	Oid			relid;
	NameData	unit;			/* the privacy unit column */
	int			max_groups;		/* max_groups_contributed */
	int			max_rows;		/* max_rows_contributed */
	int			nbounds;
	ColumnBounds *bounds;
	int			npublic;
	PublicGroups *publics;
	/* whether select_user holds SELECT on it (user_holds_select) */
	bool		select_known;
	Oid			select_user;
	bool		select_held;
} ProtectedRel;

typedef struct RoleLevel
{
	Oid			role;
	AccessLevel level;
} RoleLevel;

typedef struct ScopeRule
{
	Oid			role;
	char	   *condition;		/* as the DBA wrote it */
	Node	   *expr;			/* parsed on first use */
} ScopeRule;

/* the row rules of one table */
typedef struct RowRules
{
	Oid			relid;
	bool		rls_by_privstat;	/* privstat turned its row security on */
	AttrNumber	consent_attno;	/* the consent column, or 0 */
	AttrNumber	expiry_attno;	/* the retention rule's column, or 0 */
	Interval	keep;
	int			nscopes;
	ScopeRule  *scopes;
} RowRules;

typedef struct PurposeGrant
{
	Oid			role;
	char	   *purpose;
} PurposeGrant;

/* The numeric input types of sum/avg and the matching dp_sum/dp_avg. */
#define N_NUMTYPES 5
extern const Oid numtypes[N_NUMTYPES];

/*
 * This backend's copy of the policy, loaded on first use and dropped by any
 * change to privstat's policy tables (their triggers invalidate the whole
 * relcache, which also replans every cached plan) or to role membership.
 */
typedef struct PolicyCache
{
	bool		valid;
	bool		installed;		/* privstat 0.2+ is installed in this database */
	Oid			tables[9];		/* privstat's tables the policy is read from */
	Oid			reader;			/* privstat_reader */
	int			nrels;
	ProtectedRel *rels;
	int			nroles;
	RoleLevel  *roles;
	Oid			dp_count_star;
	Oid			dp_count_any;
	Oid			dp_sum[N_NUMTYPES];
	Oid			dp_avg[N_NUMTYPES];
	/* user-level privacy: the pieces of the bounding rewrite */
	Oid			dp_sum_int8_eps;	/* dp_sum(bigint, lower, upper, epsilon) */
	Oid			dp_sum_float8_eps;	/* dp_sum(double precision, lower, upper, epsilon) */
	Oid			dp_percentile_float8;	/* dp_percentile(double precision, p, lower, upper) */
	Oid			dp_count_units[2];	/* (unit), (unit, epsilon) */
	Oid			dp_group_selected;
	Oid			contribution_rank;
	Oid			bounded_total;
	Oid			bounded_count_input;	/* privstat._bounded_count: fused.c's input */
	Oid			bounded_value_input;	/* privstat._bounded_value: fused.c's input */
	/* error bounds, rescaled in a bounded level (bound.c) */
	Oid			dp_count_error;
	Oid			dp_sum_error;
	Oid			dp_avg_error;
	Oid			dp_variance_error;
	Oid			dp_stddev_error;
	Oid			dp_percentile_rank_error;
	Oid			dp_mean;
	Oid			sample_rows;
	Oid			float8_of_numeric;	/* privstat._float8(numeric) */
	Oid			dp_variance_units;
	Oid			dp_stddev_units;
	Oid			dp_percentile_units;
	/* row rules: consent, scopes, expiry, by table; purpose grants */
	int			nrowrules;
	RowRules   *rowrules;
	int			ngrants;
	PurposeGrant *grants;
	Oid			consent_ok;		/* privstat._consent_ok(text[]) */
	Oid			citus_insert_ok;	/* privstat._citus_insert_ok(regclass) */
	/* the level of level_user, computed once per change */
	bool		level_valid;
	Oid			level_user;
	AccessLevel level;
} PolicyCache;

/* A query level being validated (validate.c) and bounded (bound.c) */

typedef struct Level Level;

typedef struct RteInfo
{
	bool		is_protected;	/* a protected relation */
	Level	   *sub;			/* subquery or CTE: its validated level */
} RteInfo;

typedef struct CteInfo
{
	CommonTableExpr *cte;
	Level	   *level;
} CteInfo;

typedef struct SublinkInfo
{
	SubLink    *sublink;
	Level	   *level;
} SublinkInfo;

struct Level
{
	Query	   *query;
	Level	   *parent;
	RteInfo    *rtes;			/* by range-table index - 1 */
	List	   *ctes;			/* CteInfo of this level's WITH */
	List	   *sublinks;		/* SublinkInfo of this level's expressions */
	bool		reads_protected;	/* rows come from protected data */
	bool		outer_taint;	/* refers to protected values of an outer level */
	bool		raw;			/* passes protected rows on, unaggregated */
	bool	   *out_tainted;	/* by output column: depends on protected values */
	int			nout;
	Oid			example;		/* a protected table it reads, for messages */
	bool		scope;			/* checking a scope condition, not a query */
	int			n_dp;			/* DP aggregates of this level */
	/* user-level privacy, for levels that read protected rows (level_unit) */
	Node	   *unit;			/* the privacy unit of its rows, or NULL until known */
	List	   *unit_vars;		/* columns equal to the unit */
	int			max_groups;		/* the contribution bounds of the tables it reads */
	int			max_rows;
	char	   *bounds_note;	/* its sources and their bounds, when they differ */
	AttrNumber	unit_resno;		/* raw level: the output column with the unit */
};

/* fused.c: the one-pass bounding node */
#define FUSED_MAX_GROUPS 256	/* the largest max_groups_contributed it serves */
extern bool bounds_noticed;	/* bound.c: the join notice given for this statement */
extern bool fused_this_statement;	/* bound.c wrote a level for fused.c's node */
extern void fused_init(void);

/* catalog.c */
extern PolicyCache policy_cache;
extern MemoryContext policy_cxt;	/* holds policy_cache's allocations */
extern uint64 policy_generation;
extern void policy_relcache_callback(Datum arg, Oid relid);
extern void policy_syscache_callback(Datum arg, int cacheid, uint32 hashvalue);
extern void policy_ensure(void);
extern RowRules *row_rules(Oid relid, bool create);
extern AccessLevel level_of(Oid user);
extern ProtectedRel *protected_rel(Oid relid);
extern bool user_holds_select(ProtectedRel *p, Oid relid);
extern const char *level_name(AccessLevel level);
extern void warn_restricted_readers(void);

/* level.c: the state of the statement being validated, and helpers on its levels */
extern ParamListInfo validating_params;
extern bool needs_custom_plan;
extern List *bounded_levels;
extern Oid	first_protected;
extern const char *example_name(Level *lev);
extern const char *table_phrase(Level *lev);
extern void refuse(Level *lev, const char *rule, const char *hint);
extern CteInfo *cte_info(Level *lev, RangeTblEntry *rte);
extern Const *param_value(Param *p);
extern bool trace_column(Level *lev, Node *expr, Oid *relid, AttrNumber *attno);
extern Node *coerce_to(Node *expr, Oid type);

/* the hint of most refusals */
#define ALLOWED_FORMS \
	"Aggregate protected rows with count(*), count(col), sum(col), avg(col) or a privstat.dp_* aggregate, and use the total functions of doc/policy.md in WHERE, JOIN and GROUP BY."

/* validate.c: the walk */
extern bool froze_mutable;
extern int	row_calls;
extern Level *validate_level(Query *q, Level *parent);
extern void node_check(Node *node, Level *lev, const char *clause);

/* excerpt.c: the SQL of an expression as the user wrote it, for refusals */
extern const char *validating_sql;
extern char *policy_sql_excerpt(Node *node, Query *q);
extern int	policy_sql_position(Node *node);

/* bound.c */
extern bool is_unit_expr(Level *lev, Node *expr);
extern void bound_level(Level *lev);

/* rowrules.c: the row security hooks, installed by privstat_policy_init */
extern row_security_policy_hook_type prev_rls_permissive;
extern row_security_policy_hook_type prev_rls_restrictive;
extern List *policy_rls_permissive(CmdType cmdtype, Relation rel);
extern List *policy_rls_restrictive(CmdType cmdtype, Relation rel);
extern bool policy_total_call(Oid funcid, List *args, Oid inputcollid);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif							/* PRIVSTAT_POLICY_INTERNAL_H */
