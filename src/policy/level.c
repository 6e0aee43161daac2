/*-------------------------------------------------------------------------
 *
 * level.c
 *	  The state of the statement being validated, and helpers on its query
 *	  levels that both the validation (validate.c) and the contribution
 *	  bounding rewrite (bound.c) use: refusals, CTEs, parameters, columns
 *	  traced through subqueries, and new aggregate calls.
 *
 * It calls neither of them, so each may call it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_aggregate.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "parser/parse_coerce.h"
#include "parser/parsetree.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "policy_internal.h"

/*
 * The parameters of the plan being validated (NULL when PostgreSQL builds a
 * generic plan), and whether a check had to wait for their values.
 */
ParamListInfo validating_params = NULL;
bool		needs_custom_plan = false;

/* the levels of the statement being validated that bound_level rewrote */
List	   *bounded_levels = NIL;

/* the first protected table of the statement being validated */
Oid			first_protected = InvalidOid;

const char *
example_name(Level *lev)
{
	char	   *name;

	while (!OidIsValid(lev->example) && lev->parent != NULL)
		lev = lev->parent;
	name = get_rel_name(OidIsValid(lev->example) ? lev->example : first_protected);

	return name ? quote_identifier(name) : "?";
}

/* "protected table t", or for a scope condition "table t" */
const char *
table_phrase(Level *lev)
{
	return psprintf("%s %s", lev->scope ? "table" : "protected table", example_name(lev));
}

void
refuse(Level *lev, const char *rule, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("%s is not allowed over %s", rule, table_phrase(lev)),
			 errhint("%s", hint ? hint : ALLOWED_FORMS)));
}

/* the level whose WITH defines the CTE rte names, ctelevelsup levels up */
static Level *
cte_owner(Level *lev, RangeTblEntry *rte)
{
	Index		up;

	for (up = rte->ctelevelsup; up > 0 && lev != NULL; up--)
		lev = lev->parent;
	return lev;
}

/* find the CTE that rte names, ctelevelsup levels up */
CteInfo *
cte_info(Level *lev, RangeTblEntry *rte)
{
	ListCell   *lc;

	lev = cte_owner(lev, rte);
	if (lev == NULL)
		return NULL;
	foreach(lc, lev->ctes)
	{
		CteInfo    *c = lfirst(lc);

		if (strcmp(c->cte->ctename, rte->ctename) == 0)
			return c;
	}
	return NULL;
}

/* the value of an external parameter in the plan being validated, or NULL */
Const *
param_value(Param *p)
{
	ParamExternData *prm;
	ParamExternData prmdata;

	if (validating_params == NULL || p->paramid <= 0 || p->paramid > validating_params->numParams)
		return NULL;
	if (validating_params->paramFetch != NULL)
		prm = validating_params->paramFetch(validating_params, p->paramid, false, &prmdata);
	else
		prm = &validating_params->params[p->paramid - 1];
	if (!OidIsValid(prm->ptype) || prm->ptype != p->paramtype)
		return NULL;
	return makeConst(p->paramtype, p->paramtypmod, p->paramcollid, get_typlen(p->paramtype),
					 prm->value, prm->isnull, get_typbyval(p->paramtype));
}

/*
 * The column of a table an expression is, followed through subqueries,
 * joins and CTEs: false when it is not one.
 */
bool
trace_column(Level *lev, Node *expr, Oid *relid, AttrNumber *attno)
{
	Var		   *v;
	RangeTblEntry *rte;

	*relid = InvalidOid;
	for (;;)
	{
		expr = strip_implicit_coercions(expr);
		if (!IsA(expr, Var) || ((Var *) expr)->varlevelsup != 0 || ((Var *) expr)->varattno <= 0)
			return false;
		v = (Var *) expr;
		rte = rt_fetch(v->varno, lev->query->rtable);
		switch (rte->rtekind)
		{
			case RTE_RELATION:
				*relid = rte->relid;
				*attno = v->varattno;
				return true;
			case RTE_SUBQUERY:
			case RTE_CTE:
				{
					Level	   *sub = lev->rtes[v->varno - 1].sub;
					TargetEntry *tle;

					if (sub == NULL || sub->query->setOperations != NULL)
						return false;
					tle = get_tle_by_resno(sub->query->targetList, v->varattno);
					if (tle == NULL)
						return false;
					lev = sub;
					expr = (Node *) tle->expr;
					break;
				}
			case RTE_JOIN:
				if (v->varattno > list_length(rte->joinaliasvars))
					return false;
				expr = list_nth(rte->joinaliasvars, v->varattno - 1);
				if (expr == NULL)
					return false;
				break;
			default:
				return false;
		}
	}
}

Node *
coerce_to(Node *expr, Oid type)
{
	Node	   *r;

	if (exprType(expr) == type)
		return expr;
	r = coerce_to_target_type(NULL, expr, exprType(expr), type, -1,
							  COERCION_EXPLICIT, COERCE_IMPLICIT_CAST, -1);
	if (r == NULL)
		elog(ERROR, "privstat: no cast from %s to %s",
			 format_type_be(exprType(expr)), format_type_be(type));
	return r;
}
