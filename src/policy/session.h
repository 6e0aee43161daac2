/*-------------------------------------------------------------------------
 *
 * session.h
 *	  Session settings and restricted roles' queries (src/policy/session.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRIVSTAT_POLICY_SESSION_H
#define PRIVSTAT_POLICY_SESSION_H

extern void privstat_session_check(const char *table);
extern void privstat_session_plan_started(void *plan);
extern void privstat_session_plan_ended(void *plan);
extern void privstat_session_check_set(const char *name, bool reset_all);
extern void privstat_session_check_function(Oid funcid);

#endif							/* PRIVSTAT_POLICY_SESSION_H */
