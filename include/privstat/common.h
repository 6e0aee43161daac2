/*-------------------------------------------------------------------------
 *
 * common.h
 *	  The helpers of src/common.c, which every privstat module may use.
 *
 * src/common.c is the bottom layer: it includes no other privstat header.
 * src/privstat.c owns _PG_init and only calls each module's init function.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRIVSTAT_COMMON_H
#define PRIVSTAT_COMMON_H

#include "catalog/pg_class.h"

/* true once _PG_init ran from shared_preload_libraries */
extern bool privstat_preloaded;

/*
 * Raise an error unless privstat was loaded through shared_preload_libraries.
 * Every SQL-callable entry point that needs keys or shared state calls this.
 */
extern void privstat_require_preload(void);

/*
 * true if the current user is a superuser or has the privileges of the named
 * role (one of the roles the install script creates); false if that role is
 * missing.
 */
extern bool privstat_has_role(const char *rolename);

/*
 * Raise an error unless the trigger that called fn was fired by one of
 * privstat's own tables (in the extension's schema): its trigger functions
 * change every session's caches and write the audit trail, and must not be
 * fired by a table of anybody else's.
 */
struct TriggerData;
extern void privstat_require_own_table(struct TriggerData *trigdata, const char *fn);

/*
 * From _PG_init: register one of privstat's background workers, started
 * once recovery has finished and restarted restart_time seconds after it
 * exits with an error.  name is also its bgw_type; flags are BGWORKER_*.
 */
extern void privstat_register_worker(const char *name, const char *function, int flags,
									 int restart_time);

/*
 * Run SQL through SPI (the caller is connected) as the bootstrap superuser,
 * after the caller's own rights were checked.
 */
extern void privstat_exec_as_superuser(const char *sql, int nargs, Oid *types,
									   Datum *values, const char *nulls);

/*
 * State a module keeps for one executor run, found by its QueryDesc and
 * gone with the executor's memory (es_query_cxt), after an error too.  The
 * module's struct starts with a PrivstatQueryState; each module keeps its
 * own list.
 */
struct QueryDesc;
typedef struct PrivstatQueryState
{
	struct QueryDesc *qd;
	struct PrivstatQueryState *next;
	struct PrivstatQueryState **list;
} PrivstatQueryState;

extern void *privstat_query_state_new(struct QueryDesc *qd, Size size, PrivstatQueryState **list);
extern void *privstat_query_state_find(struct QueryDesc *qd, PrivstatQueryState *list);

/* in a PG_CATCH of redo: log the caught error after what, clear it, release LWLocks */
extern void privstat_error_to_log(const char *what);

/* on a hot standby: "host:port" of its primary as its WAL receiver sees it, or NULL */
extern char *privstat_standby_primary(void);

/* the child plans of a plan node, besides lefttree and righttree */
struct Plan;
extern struct List *privstat_plan_children(struct Plan *plan);

/* a new Aggref of an aggregate (of privstat's: an error if fnoid is invalid) */
struct Aggref;
struct Expr;
extern struct Aggref *privstat_plain_aggref(Oid fnoid, struct List *args, struct Expr *filter);

/* a copy of relid's pg_class row (its fixed part); an error if there is none */
extern void privstat_class_form(Oid relid, FormData_pg_class *form);

#endif							/* PRIVSTAT_COMMON_H */
