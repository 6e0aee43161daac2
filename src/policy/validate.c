/*-------------------------------------------------------------------------
 *
 * validate.c
 *	  Validation of the queries of restricted roles over protected tables.
 *
 * Validation walks the rewritten query (views expanded) one query level at
 * a time.  A level whose rows come from protected data is either
 *	- raw: it passes protected rows on; allowed only as a FROM subquery, CTE
 *	  or sublink feeding a level below that aggregates them, and only with
 *	  expressions that cannot fail or leak (see check_row);
 *	- aggregating: every aggregate is a DP aggregate (or a count/sum/avg
 *	  rewritten into one), and its outputs are DP results and group keys.
 * Levels above aggregating ones (post-processing) are free.
 *
 * The rules, and why each exists, are in doc/policy.md.  Every refusal is
 * SQLSTATE 42501 with a message naming the rule and a hint with the allowed
 * form.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_aggregate.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/clauses.h"
#include "optimizer/optimizer.h"
#include "parser/parse_coerce.h"
#include "parser/parsetree.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/typcache.h"

#include "privstat/common.h"
#include "privstat/dp_agg.h"

#include "policy_internal.h"
#include "total.h"

typedef enum CheckMode
{
	CHECK_ROW,					/* evaluated for each protected row */
	CHECK_POST					/* evaluated on DP results and group keys */
} CheckMode;

static bool tainted_var_walker(Node *node, Level *lev);
static bool check_expr(Node *node, Level *lev, CheckMode mode, const char *clause);

static bool
rte_col_tainted(Level *lev, Index varno, AttrNumber attno)
{
	RangeTblEntry *rte = rt_fetch(varno, lev->query->rtable);
	RteInfo    *info = &lev->rtes[varno - 1];

	switch (rte->rtekind)
	{
		case RTE_RELATION:
			return info->is_protected;
		case RTE_SUBQUERY:
		case RTE_CTE:
			if (info->sub == NULL)
				return false;
			if (attno <= 0)
			{
				int			i;

				for (i = 0; i < info->sub->nout; i++)
					if (info->sub->out_tainted[i])
						return true;
				return false;
			}
			return attno <= info->sub->nout && info->sub->out_tainted[attno - 1];
		case RTE_JOIN:
			{
				ListCell   *lc;
				bool		tainted = false;
				int			i = 0;

				foreach(lc, rte->joinaliasvars)
				{
					i++;
					if ((attno <= 0 || attno == i) && tainted_var_walker(lfirst(lc), lev))
						tainted = true;
				}
				return tainted;
			}
		default:
			return false;
	}
}

static bool
var_tainted(Level *lev, Var *var)
{
	Index		up;

	for (up = var->varlevelsup; up > 0 && lev != NULL; up--)
		lev = lev->parent;
	if (lev == NULL || lev->rtes == NULL || var->varno < 1 ||
		var->varno > list_length(lev->query->rtable))
		return false;
	return rte_col_tainted(lev, var->varno, var->varattno);
}

/* the level of the CTE that rte names */
static Level *
cte_level(Level *lev, RangeTblEntry *rte)
{
	CteInfo    *c = cte_info(lev, rte);

	return c != NULL ? c->level : NULL;
}

/*
 * First pass over a level's own expressions: validate the queries of its
 * sublinks, and note references to protected values of outer levels.
 */
static bool
prepass_walker(Node *node, Level *lev)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var))
	{
		Var		   *v = (Var *) node;

		if (v->varlevelsup > 0 && var_tainted(lev, v))
			lev->outer_taint = true;
		return false;
	}
	if (IsA(node, SubLink))
	{
		SubLink    *s = (SubLink *) node;
		SublinkInfo *info = palloc(sizeof(SublinkInfo));

		info->sublink = s;
		info->level = validate_level(castNode(Query, s->subselect), lev);
		lev->sublinks = lappend(lev->sublinks, info);
		if (info->level->raw)
		{
			lev->reads_protected = true;
			if (!OidIsValid(lev->example))
				lev->example = info->level->example;
		}
		return prepass_walker(s->testexpr, lev);
	}
	if (IsA(node, Query))
		return false;
	return expression_tree_walker(node, prepass_walker, (void *) lev);
}

static Level *
sublink_level(Level *lev, SubLink *s)
{
	ListCell   *lc;

	foreach(lc, lev->sublinks)
	{
		SublinkInfo *info = lfirst(lc);

		if (info->sublink == s)
			return info->level;
	}
	elog(ERROR, "privstat: sublink was not validated");
	return NULL;
}

/*
 * A subexpression that reads no row, no parameter and no sublink, and calls
 * nothing volatile and nothing stable but the clock (now(), CURRENT_DATE,
 * ...): its value does not depend on the data.  It is evaluated once here,
 * so an error it would raise is raised before any row is read, not lazily
 * when some protected row first reaches it.
 */
static bool
any_function(Oid funcid pg_attribute_unused(), void *context pg_attribute_unused())
{
	return true;
}

/* does the expression read a row, a parameter or a sublink, or do anything volatile? */
static bool
row_dependent_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	switch (nodeTag(node))
	{
		case T_Var:
		case T_Param:
		case T_SubLink:
		case T_Aggref:
		case T_WindowFunc:
		case T_GroupingFunc:
		case T_NextValueExpr:
		case T_CaseTestExpr:
		case T_CoerceToDomainValue:
		case T_SetToDefault:
		case T_CurrentOfExpr:
			return true;
		case T_FuncExpr:
			if (((FuncExpr *) node)->funcretset)
				return true;
			break;
		default:
			break;
	}
	return expression_tree_walker(node, row_dependent_walker, context);
}

/* set when a frozen constant came from a stable function: see policy_planner */
bool		froze_mutable = false;

/*
 * Freeze the row-free parts of an expression evaluated for each protected
 * row: a subexpression that reads no row, parameter or sublink and calls
 * nothing volatile (now() - interval '7 days') is evaluated once, here, and
 * replaced by its value.  An error it raises is then raised before any row
 * is read, never lazily when some protected row first reaches it.  The
 * plan of a frozen stable value (now()) is transient: replanned in the next
 * transaction.
 */
static Node *
freeze_mutator(Node *node, void *context)
{
	if (node == NULL)
		return NULL;
	/* (expression_tree_walker does not take a CaseWhen alone) */
	if (IsA(node, Const) || IsA(node, Var) || IsA(node, Param) || IsA(node, List) ||
		IsA(node, TargetEntry) || IsA(node, CaseWhen))
		return expression_tree_mutator(node, freeze_mutator, context);
	if (IsA(node, SubLink))
	{
		((SubLink *) node)->testexpr = freeze_mutator(((SubLink *) node)->testexpr, context);
		return node;
	}
	if (IsA(node, Query))
		return node;
	if (!row_dependent_walker(node, NULL) && !contain_volatile_functions(node) &&
		check_functions_in_node(node, any_function, NULL))
	{
		EState	   *estate = CreateExecutorState();
		MemoryContext old = MemoryContextSwitchTo(estate->es_query_cxt);
		Expr	   *expr = (Expr *) copyObject(node);
		Oid			type = exprType(node);
		int16		typlen;
		bool		typbyval;
		bool		isnull;
		Datum		value;
		ExprState  *state;

		fix_opfuncids((Node *) expr);
		state = ExecInitExpr(expr, NULL);
		value = ExecEvalExprSwitchContext(state, GetPerTupleExprContext(estate), &isnull);
		MemoryContextSwitchTo(old);
		get_typlenbyval(type, &typlen, &typbyval);
		if (!isnull)
			value = datumCopy(value, typbyval, typlen);
		FreeExecutorState(estate);
		if (contain_mutable_functions(node))
			froze_mutable = true;
		return (Node *) makeConst(type, exprTypmod(node), exprCollation(node), typlen,
								  value, isnull, typbyval);
	}
	return expression_tree_mutator(node, freeze_mutator, context);
}

#define FREEZE(expr) ((expr) = (void *) freeze_mutator((Node *) (expr), NULL))

/* calls of functions evaluated on protected rows in the statement being validated */
int			row_calls = 0;

/* what a call is, in words, when its SQL cannot be quoted */
static char *
describe_call(Node *node, Oid funcid)
{
	if (IsA(node, OpExpr) || IsA(node, DistinctExpr) || IsA(node, NullIfExpr))
		return psprintf("operator %s", format_operator(((OpExpr *) node)->opno));
	if (IsA(node, ScalarArrayOpExpr))
		return psprintf("operator %s", format_operator(((ScalarArrayOpExpr *) node)->opno));
	if (IsA(node, FuncExpr) && ((FuncExpr *) node)->funcformat != COERCE_EXPLICIT_CALL)
		return psprintf("the cast to %s", format_type_be(((FuncExpr *) node)->funcresulttype));
	if (IsA(node, MinMaxExpr))
		return pstrdup(((MinMaxExpr *) node)->op == IS_GREATEST ? "GREATEST" : "LEAST");
	return psprintf("function %s", format_procedure(funcid));
}

/* the same, to start a sentence */
static char *
describe_call_sentence(Node *node, Oid funcid)
{
	char	   *d = describe_call(node, funcid);

	d[0] = pg_toupper((unsigned char) d[0]);
	return d;
}

/*
 * Refuse a call that could raise, print or take a data-dependent time on a
 * protected row.  The message quotes the SQL as the user wrote it where it
 * can, and the DETAIL (which every driver shows; psqlODBC drops HINTs) says
 * what to do.
 */
static void
refuse_call(Level *lev, Node *node, Oid funcid, TotalVerdict verdict, int argno,
			const char *clause)
{
	char	   *excerpt = policy_sql_excerpt(node, lev->query);
	char	   *what = excerpt ? psprintf("\"%s\"", excerpt) : describe_call(node, funcid);
	char	   *detail;
	char	   *message;

	switch (verdict)
	{
		case TOTAL_NO_COLLATION:
			message = psprintf("%s has no determinate collation in %s over %s", what, clause,
							   table_phrase(lev));
			detail = psprintf("Its text arguments carry different implicit collations, so %s would raise an error when it runs on a row, which reveals that row. Give one side a COLLATE clause, for example COLLATE \"C\".",
							  describe_call(node, funcid));
			break;
		case TOTAL_NONDETERMINISTIC:
			message = psprintf("%s is not allowed under a nondeterministic collation in %s over %s",
							   what, clause, table_phrase(lev));
			detail = psprintf("%s raises an error under a nondeterministic collation when it runs on a row, which reveals that row. Give it a deterministic collation with a COLLATE clause.",
							  describe_call_sentence(node, funcid));
			break;
		case TOTAL_NOT_CONSTANT:
			message = psprintf("argument %d of %s must be a constant in %s over %s", argno, what, clause,
							   table_phrase(lev));
			detail = pstrdup("A unit, time zone, format, pattern or bound chosen per row could make the function raise an error on one row, which reveals that row. Write a constant, or a parameter.");
			break;
		case TOTAL_CONSTANT_TOO_LARGE:
			message = psprintf("the pattern of %s is longer than %d bytes in %s over %s", what,
							   PRIVSTAT_MAX_PATTERN, clause, table_phrase(lev));
			detail = pstrdup("The time a pattern match takes grows with its pattern: a long one that only some rows meet makes those rows' cost observable. Shorten the pattern.");
			break;
		case TOTAL_NOT_INSTALLED:
			message = psprintf("%s is not allowed in %s over %s", what, clause, table_phrase(lev));
			detail = psprintf("%s can raise an error on some rows, and privstat's total version of it is not installed in this database. An administrator installs it: ALTER EXTENSION privstat UPDATE.",
							  describe_call_sentence(node, funcid));
			break;
		default:
			message = psprintf("%s is not allowed in %s over %s", what, clause, table_phrase(lev));
			detail = psprintf("%s is not in privstat's table of total functions: on a protected row it could raise an error, or take a time that depends on that row, and so reveal it. Use the functions, operators and casts listed in doc/policy.md (\"Total expressions\"), or compute this on DP results in an outer query.",
							  describe_call_sentence(node, funcid));
			break;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg_internal("%s", message),
			 errdetail_internal("%s", detail),
			 errhint("doc/policy.md lists what may be evaluated on protected rows, and the NULL each replacement returns where PostgreSQL's function would raise."),
			 excerpt ? errposition(policy_sql_position(node)) : 0));
}

/*
 * A call evaluated on protected rows: an error unless privstat's table of
 * total functions allows it as called (src/policy/total.c).
 */
static void
check_call(Level *lev, Node *node, Oid funcid, List *args, Oid inputcollid, const char *clause)
{
	bool		wait = false;
	int			argno = 0;
	TotalVerdict verdict;

	verdict = privstat_total_check(funcid, args, inputcollid, param_value, &wait, &argno);
	if (wait)
		needs_custom_plan = true;
	if (verdict != TOTAL_OK)
		refuse_call(lev, node, funcid, verdict, argno, clause);
	if (++row_calls > PRIVSTAT_MAX_ROW_CALLS)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("more than %d function calls are evaluated on each protected row of %s",
						PRIVSTAT_MAX_ROW_CALLS, table_phrase(lev)),
				 errdetail("The time an expression takes on a row grows with its size: a large one that only some rows reach makes those rows' cost observable. Simplify the expressions in WHERE, JOIN, GROUP BY and the aggregates' arguments.")));
}

/* expression_tree_walker callback: collect a node's direct children */
static bool
collect_children(Node *node, List **parts)
{
	if (node != NULL)
		*parts = lappend(*parts, node);
	return false;
}

static bool
check_list(List *list, Level *lev, CheckMode mode, const char *clause)
{
	ListCell   *lc;
	bool		tainted = false;

	foreach(lc, list)
		tainted |= check_expr(lfirst(lc), lev, mode, clause);
	return tainted;
}


/*
 * The node itself, apart from its children, in an expression evaluated for
 * protected rows: an error unless it cannot fail or act on the world.
 */
void
node_check(Node *node, Level *lev, const char *clause)
{
	switch (nodeTag(node))
	{
		case T_FuncExpr:
			{
				FuncExpr   *f = (FuncExpr *) node;

				if (f->funcretset)
					refuse(lev, "a set-returning function",
						   "Set-returning functions may run on DP results in an outer query, not on protected rows.");
				check_call(lev, node, f->funcid, f->args, f->inputcollid, clause);
				break;
			}
		case T_OpExpr:
		case T_DistinctExpr:
		case T_NullIfExpr:
			{
				OpExpr	   *o = (OpExpr *) node;

				set_opfuncid(o);
				check_call(lev, node, o->opfuncid, o->args, o->inputcollid, clause);
				break;
			}
		case T_ScalarArrayOpExpr:
			{
				ScalarArrayOpExpr *o = (ScalarArrayOpExpr *) node;

				set_sa_opfuncid(o);
				check_call(lev, node, o->opfuncid, o->args, o->inputcollid, clause);
				break;
			}
		case T_RowCompareExpr:
			{
				RowCompareExpr *r = (RowCompareExpr *) node;
				int			i;

				for (i = 0; i < list_length(r->opnos); i++)
					check_call(lev, node, get_opcode(list_nth_oid(r->opnos, i)),
							   list_make2(list_nth(r->largs, i), list_nth(r->rargs, i)),
							   list_nth_oid(r->inputcollids, i), clause);
				break;
			}
		case T_MinMaxExpr:
			{
				MinMaxExpr *m = (MinMaxExpr *) node;
				TypeCacheEntry *tc = lookup_type_cache(m->minmaxtype, TYPECACHE_CMP_PROC);

				if (!OidIsValid(tc->cmp_proc))
					refuse(lev, "GREATEST or LEAST of a type without a comparison", NULL);
				check_call(lev, node, tc->cmp_proc, m->args, m->inputcollid, clause);
				break;
			}
		case T_CoerceViaIO:
			{
				CoerceViaIO *c = (CoerceViaIO *) node;
				Oid			target = getBaseType(c->resulttype);

				/* output functions do not fail; input functions but text's do */
				if (target != TEXTOID && target != VARCHAROID && target != BPCHAROID &&
					target != NAMEOID)
					ereport(ERROR,
							(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
							 errmsg("a cast to %s through text is not allowed in %s over %s",
									format_type_be(c->resulttype), clause, table_phrase(lev)),
							 errdetail("A failed cast evaluated for each protected row can reveal that row."),
							 errhint("Compare with a constant of the column's own type instead.")));
				break;
			}
		case T_CoerceToDomain:
			if (DomainHasConstraints(((CoerceToDomain *) node)->resulttype))
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("a cast to domain %s is not allowed in %s over %s",
								format_type_be(((CoerceToDomain *) node)->resulttype), clause,
								table_phrase(lev)),
						 errdetail("A failed domain check evaluated for each protected row can reveal that row."),
						 errhint("Compare with a value of the domain's base type instead.")));
			break;
		case T_SubscriptingRef:
			{
				SubscriptingRef *r = (SubscriptingRef *) node;

				/* array fetches return NULL out of range; other containers may fail */
				if (r->refassgnexpr != NULL || !OidIsValid(get_element_type(r->refcontainertype)))
					refuse(lev, "this subscript", "Only array elements can be read from protected rows.");
				break;
			}
		case T_ArrayExpr:
			if (((ArrayExpr *) node)->multidims)
				refuse(lev, "a multidimensional array constructor", NULL);
			break;
		case T_WindowFunc:
			refuse(lev, "a window function",
				   "Compute the DP aggregate in a subquery and apply the window function in the outer query.");
			break;
		case T_NextValueExpr:
			refuse(lev, "a sequence", NULL);
			break;
		case T_XmlExpr:
			refuse(lev, "an XML expression on protected data", NULL);
			break;
		case T_BoolExpr:
		case T_NullTest:
		case T_BooleanTest:
		case T_RelabelType:
		case T_ConvertRowtypeExpr:
		case T_CollateExpr:
		case T_CaseExpr:
		case T_CoalesceExpr:
		case T_RowExpr:
		case T_FieldSelect:
		case T_FieldStore:
		case T_ArrayCoerceExpr:
			/* cannot fail by themselves */
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("this kind of expression (node %d) is not allowed in %s over %s",
							(int) nodeTag(node), clause, table_phrase(lev)),
					 errhint(ALLOWED_FORMS)));
	}
}

/*
 * Can this scalar subquery return more than one row?  "more than one row
 * returned by a subquery used as an expression" is raised where the
 * subquery is evaluated: lazily, once a protected row reaches it, or per
 * protected row when it is correlated.  Provably one row at most: an
 * aggregate without GROUP BY, a LIMIT of 0 or 1, or no FROM; and no
 * set-returning function or set operation.
 */
/* a LIMIT or OFFSET folded to a constant (LIMIT 1 is int8(1)), or NULL if none */
static Node *
folded_limit(Node *expr)
{
	return expr == NULL ? NULL : eval_const_expressions(NULL, copyObject(expr));
}

static bool
at_most_one_row(Query *q)
{
	Const	   *limit = (Const *) folded_limit(q->limitCount);

	if (q->setOperations != NULL || q->hasTargetSRFs)
		return false;
	if (q->hasAggs && q->groupClause == NIL && q->groupingSets == NIL)
		return true;
	if (limit != NULL && IsA(limit, Const) && !limit->constisnull &&
		q->limitOption == LIMIT_OPTION_COUNT && DatumGetInt64(limit->constvalue) <= 1)
		return true;
	return q->jointree->fromlist == NIL;
}

static void
check_scalar_sublink(SubLink *s, Level *lev, const char *clause)
{
	if ((s->subLinkType == EXPR_SUBLINK || s->subLinkType == ROWCOMPARE_SUBLINK ||
		 s->subLinkType == MULTIEXPR_SUBLINK) &&
		!at_most_one_row(castNode(Query, s->subselect)))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("a scalar subquery that may return more than one row is not allowed in %s over %s",
						clause, table_phrase(lev)),
				 errdetail("Its error for a second row is raised only where it is evaluated: when, and for, the protected rows that reach it. Make it return one row: add LIMIT 1, or aggregate it."),
				 errposition(policy_sql_position((Node *) s))));
}

/* a LIMIT or OFFSET that cannot fail when it is evaluated: none, or a constant >= 0 */
static bool
safe_limit(Node *expr)
{
	Const	   *c = (Const *) folded_limit(expr);

	return c == NULL || (IsA(c, Const) && !c->constisnull && DatumGetInt64(c->constvalue) >= 0);
}

/*
 * The parts of a subquery that PostgreSQL's executor checks only when it
 * runs them, refused where protected rows reach them lazily: a LIMIT or
 * OFFSET that may be negative, TABLESAMPLE arguments, window frame offsets,
 * row locks, recursion.
 */
static void
strict_query(Query *q, Level *lev, const char *clause)
{
	ListCell   *lc;
	const char *what = NULL;

	if (!safe_limit(q->limitCount) || !safe_limit(q->limitOffset))
		what = "a LIMIT or OFFSET other than a constant of 0 or more";
	else if (q->rowMarks != NIL)
		what = "FOR UPDATE or FOR SHARE";
	else if (q->hasRecursive)
		what = "WITH RECURSIVE";
	foreach(lc, q->rtable)
		if (((RangeTblEntry *) lfirst(lc))->tablesample != NULL)
			what = "TABLESAMPLE";
	foreach(lc, q->windowClause)
	{
		WindowClause *w = lfirst(lc);

		if (w->startOffset != NULL || w->endOffset != NULL)
			what = "a window frame with an offset";
	}
	if (what != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("%s is not allowed in %s over %s", what, clause, table_phrase(lev)),
				 errdetail("PostgreSQL checks it only when it runs that part of the query, which it does only when a protected row reaches it: an error there would reveal that row. Compute it in a query of its own and use its result as a constant.")));
}

/*
 * Everything a protected level evaluates lazily, as rows of protected data
 * reach it: a subquery in its WHERE, a FROM item joined to its rows (a
 * subquery, a CTE, a function, VALUES).  PostgreSQL runs such parts only
 * when a first row needs them, so an error raised there would say that
 * some protected row got that far.  Their whole tree must be unable to
 * fail: what node_check allows, and DP aggregates or count.
 */
static bool
strict_walker(Node *node, Level *lev)
{
	const char *clause = "a subquery or FROM item joined to protected rows";

	if (node == NULL)
		return false;
	check_stack_depth();
	if (IsA(node, Query))
	{
		/* a level privstat rewrote was validated before: its pieces are privstat's */
		if (list_member_ptr(bounded_levels, node))
			return false;
		strict_query((Query *) node, lev, clause);
		return query_tree_walker((Query *) node, strict_walker, (void *) lev, 0);
	}
	switch (nodeTag(node))
	{
		case T_Aggref:
			{
				Aggref	   *a = (Aggref *) node;

				if (!privstat_is_dp_aggregate(a->aggfnoid) &&
					a->aggfnoid != F_COUNT_ && a->aggfnoid != F_COUNT_ANY)
					ereport(ERROR,
							(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
							 errmsg("aggregate %s is not allowed in %s over protected table %s",
									format_procedure(a->aggfnoid), clause, example_name(lev)),
							 errdetail("It is evaluated only when a protected row needs it, so an error it raises would reveal that row."),
							 errhint("Compute it in a query of its own and use its value as a constant.")));
				break;
			}
		case T_SubLink:
			check_scalar_sublink((SubLink *) node, lev, clause);
			break;
		case T_Const:
		case T_Var:
		case T_Param:
		case T_List:
		case T_TargetEntry:
		case T_FromExpr:
		case T_JoinExpr:
		case T_RangeTblRef:
		case T_RangeTblFunction:
		case T_SortGroupClause:
		case T_SetOperationStmt:
		case T_WindowClause:
		case T_CommonTableExpr:
		case T_CaseTestExpr:
		case T_SQLValueFunction:
		case T_GroupingFunc:
			break;
		default:
			node_check(node, lev, clause);
			break;
	}
	return expression_tree_walker(node, strict_walker, (void *) lev);
}

/*
 * A constant (or a parameter's value) that meets protected values: of
 * bounded size, so that the time one row takes to compare with it is
 * bounded too (a long constant under LIKE that only one person's row
 * reaches would make that row's cost observable).
 */
static void
check_constant_size(Node *node, Level *lev, const char *clause)
{
	Const	   *c = IsA(node, Const) ? (Const *) node : NULL;

	if (IsA(node, Param) && ((Param *) node)->paramkind == PARAM_EXTERN)
		c = param_value((Param *) node);
	if (c == NULL || privstat_total_const_ok(c, PRIVSTAT_MAX_CONSTANT))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("a constant of more than %d bytes is not allowed in %s over %s",
					PRIVSTAT_MAX_CONSTANT, clause, table_phrase(lev)),
			 errdetail("The time a comparison takes grows with the constant: a long one that only some rows meet makes those rows' cost observable. Use shorter constants, or a join to a table of values.")));
}

/*
 * Check one expression of a level and say whether its value depends on
 * protected values.  CHECK_ROW: it is evaluated for each protected row, so
 * every node in it must be unable to fail or to act on the world
 * (node_check: the total functions of src/policy/total.c, row-free
 * constants already frozen);
 * CHECK_POST: it is evaluated on DP results and group keys, and only the
 * nodes applied to group keys of protected data must be so.  Aggregates
 * are checked (and rewritten) before, by validate_aggref, and count as
 * clean here.
 */
static bool
check_expr(Node *node, Level *lev, CheckMode mode, const char *clause)
{
	if (node == NULL)
		return false;
	check_stack_depth();

	switch (nodeTag(node))
	{
		case T_List:
			return check_list((List *) node, lev, mode, clause);
		case T_TargetEntry:
			return check_expr((Node *) ((TargetEntry *) node)->expr, lev, mode, clause);
		case T_Var:
			{
				Var		   *v = (Var *) node;

				if (v->varlevelsup == 0 && v->varattno < 0 && v->varno >= 1 &&
					v->varno <= list_length(lev->query->rtable) &&
					rt_fetch(v->varno, lev->query->rtable)->rtekind == RTE_RELATION &&
					lev->rtes[v->varno - 1].is_protected)
					refuse(lev, "a system column",
						   "System columns (ctid, xmin, ...) of protected tables cannot be read; use ordinary columns.");
				return var_tainted(lev, v);
			}
		case T_Const:
		case T_Param:
			if (mode == CHECK_ROW)
				check_constant_size(node, lev, clause);
			return false;
		case T_CaseTestExpr:
		case T_CoerceToDomainValue:
		case T_SetToDefault:
		case T_SQLValueFunction:
		case T_GroupingFunc:
		case T_CurrentOfExpr:
			return false;
		case T_Aggref:
			if (mode == CHECK_ROW)
				refuse(lev, "an aggregate inside a row expression", NULL);
			return false;
		case T_SubLink:
			{
				SubLink    *s = (SubLink *) node;
				Level	   *sub = sublink_level(lev, s);
				bool		tainted = sub->raw || sub->outer_taint;
				int			i;

				for (i = 0; i < sub->nout; i++)
					tainted |= sub->out_tainted[i];
				if (mode == CHECK_POST && tainted)
					refuse(lev, "a subquery that returns protected values in the output",
						   "Return DP aggregates and group keys; filter with subqueries in WHERE.");
				if (mode == CHECK_ROW)
					check_scalar_sublink(s, lev, clause);
				if (mode == CHECK_ROW && !sub->raw && !sub->outer_taint)
					(void) strict_walker(s->subselect, lev);
				return check_expr(s->testexpr, lev, mode, clause) || tainted;
			}
		default:
			{
				List	   *parts = NIL;
				bool		tainted = false;
				ListCell   *lc;

				(void) expression_tree_walker(node, collect_children, (void *) &parts);
				foreach(lc, parts)
					tainted |= check_expr(lfirst(lc), lev, mode, clause);
				if (mode == CHECK_ROW || tainted || IsA(node, WindowFunc) || IsA(node, NextValueExpr))
					node_check(node, lev, clause);
				return tainted;
			}
	}
}

/* a numeric constant as a double, or false */
static bool
const_double(Node *expr, double *v)
{
	Const	   *c;

	expr = strip_implicit_coercions(expr);
	if (!IsA(expr, Const) || ((Const *) expr)->constisnull)
		return false;
	c = (Const *) expr;
	switch (c->consttype)
	{
		case INT2OID:
			*v = DatumGetInt16(c->constvalue);
			return true;
		case INT4OID:
			*v = DatumGetInt32(c->constvalue);
			return true;
		case INT8OID:
			*v = (double) DatumGetInt64(c->constvalue);
			return true;
		case FLOAT4OID:
			*v = DatumGetFloat4(c->constvalue);
			return true;
		case FLOAT8OID:
			*v = DatumGetFloat8(c->constvalue);
			return !isnan(*v);
		case NUMERICOID:
			*v = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow, c->constvalue));
			return !isnan(*v);
		default:
			return false;
	}
}

static void
set_interval(double *lo, double *hi, double a, double b, double c, double d)
{
	*lo = Min(Min(a, b), Min(c, d));
	*hi = Max(Max(a, b), Max(c, d));
}

/*
 * Bounds of an expression that an aggregate sums, derived from the bounds
 * declared for the protected columns it reads: a column; a constant; casts
 * between numeric types; +, -, * of two such; / by a nonzero constant;
 * floor, ceil and round.  Interval arithmetic, so the bounds hold for every
 * row.  They decide only how much noise the answer gets: dp_sum clamps every
 * value to them, so a loose bound costs accuracy, never privacy.  False if
 * the expression is none of these; *relid and *attno then name a protected
 * column it reads that has no declared bounds, if it is one.
 */
static bool
expr_bounds(Level *lev, Node *expr, double *lo, double *hi, Oid *relid, AttrNumber *attno)
{
	ProtectedRel *p;
	double		a1,
				a2,
				b1,
				b2,
				c;
	int			i;

	check_stack_depth();
	expr = strip_implicit_coercions(expr);
	if (const_double(expr, &c))
	{
		*lo = *hi = c;
		return true;
	}
	if (IsA(expr, FuncExpr) && list_length(((FuncExpr *) expr)->args) == 1)
	{
		FuncExpr   *f = (FuncExpr *) expr;

		switch (f->funcid)
		{
			case F_FLOAT8_NUMERIC:
			case F_FLOAT8_INT4:
			case F_FLOAT8_INT8:
			case F_FLOAT8_INT2:
			case F_NUMERIC_INT4:
			case F_NUMERIC_INT8:
			case F_NUMERIC_INT2:
			case F_NUMERIC_FLOAT8:
			case F_INT8_INT4:
			case F_INT8_INT2:
			case F_INT4_INT2:
				return expr_bounds(lev, linitial(f->args), lo, hi, relid, attno);
			case F_INT4_NUMERIC:
			case F_INT8_NUMERIC:
			case F_INT2_NUMERIC:
			case F_INT4_FLOAT8:
			case F_INT8_FLOAT8:
			case F_INT2_FLOAT8:
			case F_INT4_INT8:
			case F_INT2_INT4:
			case F_INT2_INT8:
			case F_ROUND_NUMERIC:
			case F_ROUND_FLOAT8:
				if (!expr_bounds(lev, linitial(f->args), lo, hi, relid, attno))
					return false;
				*lo = rint(*lo);
				*hi = rint(*hi);
				return true;
			case F_FLOOR_NUMERIC:
			case F_FLOOR_FLOAT8:
				if (!expr_bounds(lev, linitial(f->args), lo, hi, relid, attno))
					return false;
				*lo = floor(*lo);
				*hi = floor(*hi);
				return true;
			case F_CEIL_NUMERIC:
			case F_CEIL_FLOAT8:
			case F_CEILING_NUMERIC:
			case F_CEILING_FLOAT8:
				if (!expr_bounds(lev, linitial(f->args), lo, hi, relid, attno))
					return false;
				*lo = ceil(*lo);
				*hi = ceil(*hi);
				return true;
			default:
				break;
		}
	}
	if (IsA(expr, OpExpr) && list_length(((OpExpr *) expr)->args) == 2)
	{
		OpExpr	   *o = (OpExpr *) expr;

		set_opfuncid(o);
		switch (o->opfuncid)
		{
			case F_INT4PL:
			case F_INT8PL:
			case F_NUMERIC_ADD:
			case F_FLOAT8PL:
			case F_INT4MI:
			case F_INT8MI:
			case F_NUMERIC_SUB:
			case F_FLOAT8MI:
			case F_INT4MUL:
			case F_INT8MUL:
			case F_NUMERIC_MUL:
			case F_FLOAT8MUL:
			case F_NUMERIC_DIV:
			case F_FLOAT8DIV:
				if (!expr_bounds(lev, linitial(o->args), &a1, &a2, relid, attno) ||
					!expr_bounds(lev, lsecond(o->args), &b1, &b2, relid, attno))
					return false;
				break;
			default:
				return false;
		}
		switch (o->opfuncid)
		{
			case F_INT4PL:
			case F_INT8PL:
			case F_NUMERIC_ADD:
			case F_FLOAT8PL:
				*lo = a1 + b1;
				*hi = a2 + b2;
				return true;
			case F_INT4MI:
			case F_INT8MI:
			case F_NUMERIC_SUB:
			case F_FLOAT8MI:
				*lo = a1 - b2;
				*hi = a2 - b1;
				return true;
			case F_NUMERIC_DIV:
			case F_FLOAT8DIV:
				/* by a nonzero constant only: a divisor near zero has no bound */
				if (b1 != b2 || b1 == 0)
					return false;
				set_interval(lo, hi, a1 / b1, a2 / b1, a1 / b1, a2 / b1);
				return true;
			default:
				set_interval(lo, hi, a1 * b1, a1 * b2, a2 * b1, a2 * b2);
				return isfinite(*lo) && isfinite(*hi);
		}
	}
	/* a column of a subquery, CTE or join: what it is, in its own level */
	if (IsA(expr, Var) && ((Var *) expr)->varlevelsup == 0 && ((Var *) expr)->varattno > 0)
	{
		Var		   *v = (Var *) expr;
		RangeTblEntry *rte = rt_fetch(v->varno, lev->query->rtable);
		Level	   *sub = lev->rtes[v->varno - 1].sub;
		TargetEntry *tle;

		if ((rte->rtekind == RTE_SUBQUERY || rte->rtekind == RTE_CTE) && sub != NULL &&
			sub->query->setOperations == NULL &&
			(tle = get_tle_by_resno(sub->query->targetList, v->varattno)) != NULL &&
			!IsA(strip_implicit_coercions((Node *) tle->expr), Var))
			return expr_bounds(sub, (Node *) tle->expr, lo, hi, relid, attno);
		if (rte->rtekind == RTE_JOIN && v->varattno <= list_length(rte->joinaliasvars) &&
			list_nth(rte->joinaliasvars, v->varattno - 1) != NULL &&
			!IsA(strip_implicit_coercions(list_nth(rte->joinaliasvars, v->varattno - 1)), Var))
			return expr_bounds(lev, list_nth(rte->joinaliasvars, v->varattno - 1), lo, hi, relid, attno);
	}
	if (!trace_column(lev, expr, relid, attno) || (p = protected_rel(*relid)) == NULL)
		return false;
	for (i = 0; i < p->nbounds; i++)
		if (p->bounds[i].attno == *attno)
		{
			*lo = p->bounds[i].lower;
			*hi = p->bounds[i].upper;
			return true;
		}
	return false;
}

static int
numtype_index(Oid type)
{
	int			i;

	for (i = 0; i < N_NUMTYPES; i++)
		if (numtypes[i] == type)
			return i;
	return -1;
}

/* a new Aggref of a DP aggregate in place of orig, cast back to orig's type */
static Node *
make_dp_aggref(Aggref *orig, Oid fnoid, List *args)
{
	Aggref	   *a = privstat_plain_aggref(fnoid, args, orig->aggfilter);

	a->inputcollid = orig->inputcollid;
	a->location = orig->location;
	return coerce_to((Node *) a, orig->aggtype);
}

/*
 * Rewrite sum(col) or avg(col) into dp_sum/dp_avg(col, lower, upper) with
 * the bounds the DBA declared for col.
 */
static Node *
rewrite_sum_avg(Aggref *agg, Level *lev, bool is_avg)
{
	const char *name = is_avg ? "avg" : "sum";
	Node	   *arg = (Node *) linitial_node(TargetEntry, agg->args)->expr;
	Oid			relid = InvalidOid;
	AttrNumber	attno = 0;
	double		lower;
	double		upper;
	Oid			argtype = exprType(arg);
	int			t;

	if (!expr_bounds(lev, arg, &lower, &upper, &relid, &attno))
	{
		if (trace_column(lev, arg, &relid, &attno) && protected_rel(relid) != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("%s(%s) needs declared bounds for column %s of protected table %s",
							name, get_attname(relid, attno, false), get_attname(relid, attno, false),
							quote_identifier(get_rel_name(relid))),
					 errhint("An administrator declares them: SELECT privstat.set_bounds('%s', '%s', lower, upper); or call privstat.dp_%s(col, lower, upper).",
							 get_rel_name(relid), get_attname(relid, attno, false), name)));
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("%s() of an expression or an unprotected column is not allowed over protected table %s",
						name, example_name(lev)),
				 errdetail("Its bounds come from the bounds declared for protected columns, through casts, +, -, *, / by a constant, floor, ceil and round; this expression has none. Call privstat.dp_%s(expression, lower, upper) with bounds of your own.", name),
				 errhint("Call privstat.dp_%s(expression, lower, upper) with bounds of your own.", name)));
	}
	if (argtype == FLOAT4OID)
	{
		arg = coerce_to(arg, FLOAT8OID);
		argtype = FLOAT8OID;
	}
	t = numtype_index(argtype);
	if (t < 0)
		refuse(lev, psprintf("%s() of type %s", name, format_type_be(argtype)),
			   "Sum and average numeric columns (smallint, integer, bigint, numeric, real, double precision).");
	return make_dp_aggref(agg, is_avg ? policy_cache.dp_avg[t] : policy_cache.dp_sum[t],
						  list_make3(arg,
									 makeConst(FLOAT8OID, -1, InvalidOid, 8, Float8GetDatum(lower), false, true),
									 makeConst(FLOAT8OID, -1, InvalidOid, 8, Float8GetDatum(upper), false, true)));
}

/*
 * percentile_cont(p) WITHIN GROUP (ORDER BY x), as BI tools write a median:
 * dp_percentile(x, p, lower, upper) with the bounds of x (expr_bounds).
 * Its arguments were checked by validate_aggref.
 */
static Node *
rewrite_percentile(Aggref *agg, Level *lev)
{
	Node	   *x;
	Node	   *p;
	double		pv;
	double		lower;
	double		upper;
	Oid			relid = InvalidOid;
	AttrNumber	attno = 0;

	p = linitial(agg->aggdirectargs);
	x = (Node *) linitial_node(TargetEntry, agg->args)->expr;
	if (!const_double(p, &pv) || pv < 0 || pv > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("the fraction of percentile_cont must be a constant between 0 and 1 over protected table %s",
						example_name(lev)),
				 errdetail("It becomes privstat.dp_percentile(value, fraction, lower, upper), whose fraction is fixed when the query is planned.")));
	if (!expr_bounds(lev, x, &lower, &upper, &relid, &attno))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("percentile_cont needs declared bounds for what it orders over protected table %s",
						example_name(lev)),
				 errdetail("Its bounds come from the bounds declared for protected columns (privstat.set_bounds); or call privstat.dp_percentile(value, fraction, lower, upper) with bounds of your own.")));
	return make_dp_aggref(agg, policy_cache.dp_percentile_float8,
						  list_make4(coerce_to(x, FLOAT8OID),
									 makeConst(FLOAT8OID, -1, InvalidOid, 8, Float8GetDatum(pv), false, true),
									 makeConst(FLOAT8OID, -1, InvalidOid, 8, Float8GetDatum(lower), false, true),
									 makeConst(FLOAT8OID, -1, InvalidOid, 8, Float8GetDatum(upper), false, true)));
}

/*
 * One aggregate of an aggregating level over protected rows: its
 * arguments and filter are row expressions; it must be a DP aggregate, or
 * count/sum/avg, which become one.
 */
static Node *
validate_aggref(Aggref *agg, Level *lev)
{
	if (agg->agglevelsup != 0)
		refuse(lev, "an aggregate of an outer query inside a subquery", NULL);
	if (agg->aggdistinct != NIL)
	{
		/* count(DISTINCT unit) is the number of units: dp_count_units */
		if (agg->aggfnoid == F_COUNT_ANY && list_length(agg->args) == 1 && agg->aggorder == NIL &&
			is_unit_expr(lev, (Node *) linitial_node(TargetEntry, agg->args)->expr))
		{
			FREEZE(agg->aggfilter);
			(void) check_expr((Node *) agg->aggfilter, lev, CHECK_ROW, "FILTER");
			lev->n_dp++;
			return make_dp_aggref(agg, policy_cache.dp_count_units[0],
								  list_make1(linitial_node(TargetEntry, agg->args)->expr));
		}
		refuse(lev, "DISTINCT inside an aggregate",
			   "Count rows with count(*), and people with count(DISTINCT <privacy unit>); counting distinct values of other columns reveals which values occur.");
	}
	/* the one ordered-set aggregate rewritten into a DP one */
	if (agg->aggorder != NIL && agg->aggfnoid != F_PERCENTILE_CONT_FLOAT8_FLOAT8)
		refuse(lev, "ORDER BY inside an aggregate", NULL);
	FREEZE(agg->aggdirectargs);
	FREEZE(agg->args);
	FREEZE(agg->aggfilter);
	(void) check_list(agg->aggdirectargs, lev, CHECK_ROW, "an aggregate's arguments");
	(void) check_list(agg->args, lev, CHECK_ROW, "an aggregate's arguments");
	(void) check_expr((Node *) agg->aggfilter, lev, CHECK_ROW, "FILTER");

	lev->n_dp++;
	if (privstat_is_dp_aggregate(agg->aggfnoid) ||
		agg->aggfnoid == policy_cache.dp_count_units[0] || agg->aggfnoid == policy_cache.dp_count_units[1])
		return (Node *) agg;

	switch (agg->aggfnoid)
	{
		case F_COUNT_:
			return make_dp_aggref(agg, policy_cache.dp_count_star, NIL);
		case F_COUNT_ANY:
			return make_dp_aggref(agg, policy_cache.dp_count_any,
								  list_make1(linitial_node(TargetEntry, agg->args)->expr));
		case F_SUM_INT2:
		case F_SUM_INT4:
		case F_SUM_INT8:
		case F_SUM_FLOAT4:
		case F_SUM_FLOAT8:
		case F_SUM_NUMERIC:
			return rewrite_sum_avg(agg, lev, false);
		case F_AVG_INT2:
		case F_AVG_INT4:
		case F_AVG_INT8:
		case F_AVG_FLOAT4:
		case F_AVG_FLOAT8:
		case F_AVG_NUMERIC:
			return rewrite_sum_avg(agg, lev, true);
		case F_PERCENTILE_CONT_FLOAT8_FLOAT8:
			return rewrite_percentile(agg, lev);
		default:
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("aggregate %s is not differentially private and is not allowed over protected table %s",
							format_procedure(agg->aggfnoid), example_name(lev)),
					 errhint("Use count, sum or avg (answered by DP aggregates) or privstat.dp_count, dp_sum, dp_avg, dp_variance, dp_stddev, dp_percentile or dp_median.")));
	}
	return NULL;				/* not reached */
}

static Node *
aggref_mutator(Node *node, Level *lev)
{
	if (node == NULL)
		return NULL;
	if (IsA(node, Aggref))
		return validate_aggref((Aggref *) node, lev);
	if (IsA(node, SubLink) || IsA(node, Query))
	{
		/* the subquery is its own level; keep the node, testexpr included */
		if (IsA(node, SubLink))
			((SubLink *) node)->testexpr = aggref_mutator(((SubLink *) node)->testexpr, lev);
		return node;
	}
	return expression_tree_mutator(node, aggref_mutator, (void *) lev);
}

/*
 * Does an expression of lev use a protected value: a Var of this level or
 * of an outer one (a correlated subquery's FROM function or VALUES refers
 * to the query around it)?  Sublinks are the caller's business.
 */
static bool
tainted_var_walker(Node *node, Level *lev)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var))
		return var_tainted(lev, (Var *) node);
	if (IsA(node, Query))
		return false;
	return expression_tree_walker(node, tainted_var_walker, (void *) lev);
}

/* expressions of FROM items evaluated per row: functions, VALUES, tables */
static bool
from_expr_tainted(Node *node, Level *lev)
{
	if (node == NULL)
		return false;
	if (contain_subplans(node))
	{
		/* a sublink in a FROM function: only over unprotected data */
		Level		probe = *lev;

		probe.sublinks = NIL;
		(void) prepass_walker(node, &probe);
		if (probe.reads_protected || probe.outer_taint)
			return true;
	}
	return tainted_var_walker(node, lev);
}

static void
note_protected(Level *lev, Oid relid)
{
	lev->reads_protected = true;
	if (!OidIsValid(lev->example))
		lev->example = relid;
}

/* the quals of the join tree: ON conditions and WHERE */
static void
check_jointree(Node *node, Level *lev)
{
	if (node == NULL)
		return;
	if (IsA(node, FromExpr))
	{
		FromExpr   *f = (FromExpr *) node;
		ListCell   *lc;

		foreach(lc, f->fromlist)
			check_jointree(lfirst(lc), lev);
		FREEZE(f->quals);
		(void) check_expr(f->quals, lev, CHECK_ROW, "WHERE");
	}
	else if (IsA(node, JoinExpr))
	{
		JoinExpr   *j = (JoinExpr *) node;

		check_jointree(j->larg, lev);
		check_jointree(j->rarg, lev);
		FREEZE(j->quals);
		(void) check_expr(j->quals, lev, CHECK_ROW, "JOIN ON");
	}
}

/*
 * Validate one query level of a restricted role's statement, and the levels
 * in it (CTEs, FROM subqueries, sublinks), rewriting its aggregates in
 * place.  Called by policy_planner, which sets validating_params and resets
 * needs_custom_plan, froze_mutable and bounded_levels for each statement,
 * and by itself.
 */
Level *
validate_level(Query *q, Level *parent)
{
	Level	   *lev = palloc0(sizeof(Level));
	ListCell   *lc;
	int			i;
	bool		aggregating;
	ProtectedRel *prel;

	check_stack_depth();
	lev->query = q;
	lev->parent = parent;

	/* WITH: each CTE is a level of its own, seen by the levels below */
	foreach(lc, q->cteList)
	{
		CommonTableExpr *cte = lfirst(lc);
		Query	   *cq = castNode(Query, cte->ctequery);
		CteInfo    *info = palloc(sizeof(CteInfo));

		if (cq->commandType != CMD_SELECT)
			refuse(lev, "a data-modifying WITH", "Use WITH queries that only read.");
		if (cte->cterecursive)
			refuse(lev, "WITH RECURSIVE", "Use a WITH query that is not recursive.");
		info->cte = cte;
		info->level = validate_level(cq, lev);
		lev->ctes = lappend(lev->ctes, info);
	}

	/* FROM items, in order: a LATERAL item sees the ones before it */
	lev->rtes = palloc0(Max(list_length(q->rtable), 1) * sizeof(RteInfo));
	i = 0;
	foreach(lc, q->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);
		RteInfo    *info = &lev->rtes[i++];

		switch (rte->rtekind)
		{
			case RTE_RELATION:
				if ((prel = protected_rel(rte->relid)) == NULL)
					break;
				info->is_protected = true;
				note_protected(lev, rte->relid);
				if (i == q->resultRelation || (rte->requiredPerms & ~ACL_SELECT) != 0)
					ereport(ERROR,
							(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
							 errmsg("%s on protected table %s is not allowed",
									q->commandType == CMD_INSERT ? "INSERT" :
									q->commandType == CMD_UPDATE ? "UPDATE" :
									q->commandType == CMD_DELETE ? "DELETE" :
									q->commandType == CMD_MERGE ? "MERGE" : "FOR UPDATE/SHARE",
									example_name(lev)),
							 errhint("A role at access level aggregate only reads protected tables, through DP aggregates.")));
				if (rte->tablesample != NULL)
					refuse(lev, "TABLESAMPLE", "Aggregate the whole table; sampling reveals which rows exist.");
				/*
				 * Validated: read it as privstat_reader.  Marked here, on
				 * the query, not on the finished plan: the planner may
				 * inline a set-returning SQL function, whose body nobody
				 * validated and which must keep the caller's rights.
				 */
				rte->checkAsUser = policy_cache.reader;

				/*
				 * protect() grants privstat_reader SELECT; a restore without
				 * privileges (pg_restore -x, pg_dump -x) or a REVOKE loses
				 * the grant, and the query would fail with a bare
				 * "permission denied" for a table the role never named.
				 */
				if (pg_class_aclcheck(rte->relid, policy_cache.reader, ACL_SELECT) != ACLCHECK_OK)
					ereport(ERROR,
							(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
							 errmsg("protected table %s cannot be read by privstat_reader",
									quote_identifier(get_rel_name(rte->relid))),
							 errdetail("protect() granted it SELECT; the grant is gone (a restore without privileges, such as pg_restore -x, or a REVOKE)."),
							 errhint("An administrator runs privstat.protect() on the table again, or: GRANT SELECT ON %s TO privstat_reader;",
									 quote_identifier(get_rel_name(rte->relid)))));
				if (user_holds_select(prel, rte->relid))
					ereport(ERROR,
							(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
							 errmsg("role %s at access level aggregate holds SELECT on protected table %s",
									GetUserNameFromId(GetUserId(), false), example_name(lev)),
							 errdetail("privstat refuses the role's queries over the table until the grant is revoked."),
							 errhint("An administrator runs: REVOKE SELECT ON %s FROM %s;",
									 quote_identifier(get_rel_name(rte->relid)),
									 quote_identifier(GetUserNameFromId(GetUserId(), false)))));
				break;
			case RTE_SUBQUERY:
				info->sub = validate_level(rte->subquery, lev);
				if (info->sub->raw || info->sub->outer_taint)
					note_protected(lev, info->sub->example);
				break;
			case RTE_CTE:
				info->sub = cte_level(lev, rte);
				if (info->sub != NULL && info->sub->raw)
					note_protected(lev, info->sub->example);
				break;
			case RTE_FUNCTION:
				{
					ListCell   *fl;

					foreach(fl, rte->functions)
						if (from_expr_tainted(((RangeTblFunction *) lfirst(fl))->funcexpr, lev))
							refuse(lev, "a set-returning function over protected values",
								   "Set-returning functions may run on DP results in an outer query, not on protected rows.");
				}
				break;
			case RTE_VALUES:
				if (from_expr_tainted((Node *) rte->values_lists, lev))
					refuse(lev, "VALUES built from protected values", NULL);
				break;
			case RTE_TABLEFUNC:
				if (from_expr_tainted((Node *) rte->tablefunc, lev))
					refuse(lev, "a table function over protected values", NULL);
				break;
			default:
				break;
		}
	}

	/* this level's own expressions: validate their sublinks first */
	(void) prepass_walker((Node *) q->targetList, lev);
	(void) prepass_walker((Node *) q->jointree, lev);
	(void) prepass_walker(q->havingQual, lev);
	(void) prepass_walker(q->limitCount, lev);
	(void) prepass_walker(q->limitOffset, lev);
	(void) prepass_walker((Node *) q->returningList, lev);
	if (q->onConflict != NULL)
		(void) prepass_walker((Node *) q->onConflict, lev);
	(void) prepass_walker((Node *) q->mergeActionList, lev);

	lev->nout = list_length(q->targetList);
	lev->out_tainted = palloc0(Max(lev->nout, 1) * sizeof(bool));

	if (!lev->reads_protected && !lev->outer_taint)
		return lev;				/* post-processing, or no protected data */

	/* a level whose rows come from protected data */
	if (q->commandType != CMD_SELECT)
		refuse(lev, "writing values derived from protected rows",
			   "Write DP results: INSERT INTO t SELECT count(*) FROM protected_table.");
	if (q->rowMarks != NIL)
		refuse(lev, "FOR UPDATE or FOR SHARE", NULL);
	if (q->hasWindowFuncs)
		refuse(lev, "a window function",
			   "Compute the DP aggregate in a subquery and apply the window function in the outer query.");
	if (q->hasTargetSRFs)
		refuse(lev, "a set-returning function",
			   "Set-returning functions may run on DP results in an outer query, not on protected rows.");
	if (q->setOperations != NULL)
		refuse(lev, "UNION, INTERSECT or EXCEPT of protected rows",
			   "Aggregate each side first, then combine the DP results.");
	if (q->groupingSets != NIL)
		refuse(lev, "GROUPING SETS, ROLLUP or CUBE",
			   "Run one GROUP BY per grouping: each row would count in several groups.");

	check_jointree((Node *) q->jointree, lev);

	/* FROM items that do not read protected rows are evaluated lazily */
	i = 0;
	foreach(lc, q->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);
		RteInfo    *info = &lev->rtes[i++];

		switch (rte->rtekind)
		{
			case RTE_SUBQUERY:
				if (!info->sub->raw && !info->sub->outer_taint)
					(void) strict_walker((Node *) rte->subquery, lev);
				break;
			case RTE_CTE:
				if (info->sub != NULL && !info->sub->raw)
					(void) strict_walker((Node *) info->sub->query, lev);
				break;
			case RTE_FUNCTION:
				(void) strict_walker((Node *) rte->functions, lev);
				break;
			case RTE_VALUES:
				(void) strict_walker((Node *) rte->values_lists, lev);
				break;
			case RTE_TABLEFUNC:
				refuse(lev, "a table function joined to protected rows", NULL);
				break;
			default:
				break;
		}
	}

	aggregating = q->hasAggs || q->groupClause != NIL;
	if (!aggregating)
	{
		/* raw: protected rows pass on to a level that aggregates them */
		if (q->distinctClause != NIL)
			refuse(lev, "DISTINCT over protected rows",
				   "Use GROUP BY with a DP aggregate: SELECT col, count(*) FROM t GROUP BY col.");
		if (q->limitCount != NULL || q->limitOffset != NULL)
			refuse(lev, "LIMIT or OFFSET over protected rows", "Apply LIMIT to DP results.");
		if (q->sortClause != NIL)
			refuse(lev, "ORDER BY over protected rows", "Apply ORDER BY to DP results.");
		i = 0;
		FREEZE(q->targetList);
		foreach(lc, q->targetList)
			lev->out_tainted[i++] = check_expr(lfirst(lc), lev, CHECK_ROW, "the select list");
		lev->raw = true;
		if (parent == NULL)
			refuse(lev, "returning protected rows",
				   "Return aggregates: SELECT count(*), avg(col) FROM t, with GROUP BY for groups.");
		return lev;
	}

	if (lev->outer_taint)
		refuse(lev, "an aggregate in a subquery correlated with protected rows",
			   "Aggregate the protected rows themselves, joining what the subquery reads.");
	if (q->constraintDeps != NIL)
		refuse(lev, "selecting columns that depend on a grouped primary key",
			   "Name every output column in GROUP BY.");
	foreach(lc, q->groupClause)
	{
		TargetEntry *tle = get_sortgroupclause_tle(lfirst(lc), q->targetList);

		FREEZE(tle->expr);
		(void) check_expr((Node *) tle->expr, lev, CHECK_ROW, "GROUP BY");
		/* grouping compares the keys: text keys need a determinate collation */
		if (type_is_collatable(exprType((Node *) tle->expr)) &&
			!OidIsValid(exprCollation((Node *) tle->expr)))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("a GROUP BY key without a determinate collation is not allowed over %s",
							table_phrase(lev)),
					 errdetail("Its text values carry different implicit collations, so grouping them could raise an error. Give the key a COLLATE clause, for example COLLATE \"C\".")));
	}
	/* aggregates: checked and rewritten into DP ones in place */
	q->targetList = (List *) aggref_mutator((Node *) q->targetList, lev);
	q->havingQual = aggref_mutator(q->havingQual, lev);
	if (lev->n_dp == 0)
		refuse(lev, "GROUP BY without an aggregate",
			   "Add a DP aggregate: SELECT col, count(*) FROM t GROUP BY col.");
	/* outputs, HAVING, ORDER BY: DP results and group keys */
	foreach(lc, q->targetList)
		(void) check_expr(lfirst(lc), lev, CHECK_POST, "the select list");
	(void) check_expr(q->havingQual, lev, CHECK_POST, "HAVING");
	(void) check_expr(q->limitCount, lev, CHECK_POST, "LIMIT");
	(void) check_expr(q->limitOffset, lev, CHECK_POST, "OFFSET");
	/* each privacy unit's contribution bounded, groups selected */
	bound_level(lev);
	/* the outputs are released: DP results, and group keys */
	return lev;
}
