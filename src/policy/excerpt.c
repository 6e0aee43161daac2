/*-------------------------------------------------------------------------
 *
 * excerpt.c
 *	  The SQL of an expression as the user wrote it, for refusals.
 *
 * A refusal that says "function timestamptz_ge_date(timestamp with time
 * zone, date)" names something the user never wrote; one that quotes
 * "created_at >= DATE '2026-11-01'" says what to change.  The parser keeps
 * the offset of each node in the statement's text; the excerpt runs from an
 * expression's leftmost offset to the end of the token at its rightmost
 * one.  A view's expansion or a function's body carries offsets into other
 * texts, so an excerpt is used only when every column the expression reads
 * is named in it; otherwise the caller describes the expression instead.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "mb/pg_wchar.h"
#include "nodes/nodeFuncs.h"
#include "parser/parsetree.h"

#include "policy_internal.h"

/* the text of the statement being validated, or NULL */
const char *validating_sql = NULL;

#define EXCERPT_MAX 200

typedef struct ExcerptContext
{
	int			first;			/* leftmost offset */
	int			last;			/* rightmost offset */
	bool		last_const;		/* the node there is a constant */
	List	   *vars;			/* Vars of the expression's own level */
} ExcerptContext;

static bool
excerpt_walker(Node *node, ExcerptContext *cx)
{
	int			loc;

	if (node == NULL)
		return false;
	loc = exprLocation(node);
	if (loc >= 0)
	{
		if (cx->first < 0 || loc < cx->first)
			cx->first = loc;
		if (loc >= cx->last)
		{
			cx->last = loc;
			cx->last_const = IsA(node, Const);
		}
	}
	if (IsA(node, Var))
	{
		if (((Var *) node)->varlevelsup == 0)
			cx->vars = lappend(cx->vars, node);
		return false;
	}
	if (IsA(node, Query))
		return false;
	return expression_tree_walker(node, excerpt_walker, (void *) cx);
}

/* the offset just past the token that starts at pos */
static int
token_end(const char *s, int len, int pos)
{
	if (pos >= len)
		return len;
	/* a cast written x::type: the operator and the type */
	if (s[pos] == ':' && pos + 1 < len && s[pos + 1] == ':')
	{
		pos += 2;
		while (pos < len && s[pos] == ' ')
			pos++;
		return pos < len ? token_end(s, len, pos) : len;
	}
	if (s[pos] == '\'' || s[pos] == '"')
	{
		char		q = s[pos++];

		while (pos < len)
		{
			if (s[pos] == q && pos + 1 < len && s[pos + 1] == q)
				pos += 2;
			else if (s[pos++] == q)
				break;
		}
		return pos;
	}
	if (isalnum((unsigned char) s[pos]) || s[pos] == '_' || IS_HIGHBIT_SET(s[pos]))
	{
		while (pos < len && (isalnum((unsigned char) s[pos]) || s[pos] == '_' || s[pos] == '.' ||
							 s[pos] == '$' || IS_HIGHBIT_SET(s[pos])))
			pos++;
		/* a typed literal, DATE '2026-11-01': the literal after its type */
		{
			int			next = pos;

			while (next < len && s[next] == ' ')
				next++;
			if (next < len && s[next] == '\'')
				return token_end(s, len, next);
			/* a call: its arguments */
			if (next < len && s[next] == '(')
			{
				int			depth = 0;

				for (; next < len; next++)
				{
					if (s[next] == '\'' || s[next] == '"')
					{
						next = token_end(s, len, next) - 1;
						continue;
					}
					depth += s[next] == '(' ? 1 : s[next] == ')' ? -1 : 0;
					if (depth == 0)
						return next + 1;
				}
			}
		}
		return pos;
	}
	return pos + 1;
}

/* is the word at p (of the text that starts at start) the keyword kw? */
static bool
keyword_at(const char *start, const char *p, int left, const char *kw)
{
	size_t		n = strlen(kw);

	return (size_t) left >= n && pg_strncasecmp(p, kw, n) == 0 &&
		(p == start || !(isalnum((unsigned char) p[-1]) || p[-1] == '_')) &&
		((size_t) left == n || !(isalnum((unsigned char) p[n]) || p[n] == '_'));
}

/* CASEs opened and not closed by END in s[0 .. len) (quotes skipped) */
static int
case_depth(const char *s, int len)
{
	int			depth = 0;
	int			i;

	for (i = 0; i < len; i++)
	{
		if (s[i] == '\'' || s[i] == '"')
		{
			i = token_end(s, len, i) - 1;
			continue;
		}
		if (keyword_at(s, s + i, len - i, "case"))
			depth++;
		else if (keyword_at(s, s + i, len - i, "end"))
			depth--;
	}
	return depth;
}

static bool
name_in(const char *excerpt, const char *name)
{
	size_t		n = strlen(name);
	const char *p;

	for (p = excerpt; *p; p++)
		if (pg_strncasecmp(p, name, n) == 0)
			return true;
	return false;
}

char *
policy_sql_excerpt(Node *node, Query *q)
{
	ExcerptContext cx = {-1, -1, false, NIL};
	const char *s = validating_sql;
	int			len;
	int			end;
	int			depth = 0;
	int			i;
	char	   *excerpt;
	ListCell   *lc;

	if (s == NULL || node == NULL)
		return NULL;
	len = strlen(s);
	(void) excerpt_walker(node, &cx);
	if (cx.first < 0 || cx.last >= len)
		return NULL;
	end = token_end(s, len, cx.last);
	/* close what the excerpt opened: f(x, 'y') */
	for (i = cx.first; i < end; i++)
		depth += s[i] == '(' ? 1 : s[i] == ')' ? -1 : 0;
	while (depth > 0 && end < len)
	{
		depth += s[end] == '(' ? 1 : s[end] == ')' ? -1 : 0;
		end++;
	}
	if (depth != 0 || end - cx.first > EXCERPT_MAX)
		return NULL;
	/* a CASE ends with END, which no node marks */
	while (case_depth(s + cx.first, end - cx.first) > 0 && end < len)
		end = token_end(s, len, end + (s[end] == ' ' ? 1 : 0));
	/* a constant's cast is folded into it: 'EU'::region_t */
	if (cx.last_const && end + 1 < len && s[end] == ':' && s[end + 1] == ':')
		end = token_end(s, len, end);
	excerpt = pnstrdup(s + cx.first, end - cx.first);

	/* from this statement's text only: it names every column it reads */
	foreach(lc, cx.vars)
	{
		Var		   *v = lfirst(lc);
		char	   *col;

		if (q == NULL || v->varno < 1 || v->varno > list_length(q->rtable) || v->varattno <= 0)
			continue;
		col = get_rte_attribute_name(rt_fetch(v->varno, q->rtable), v->varattno);
		if (col != NULL && !name_in(excerpt, col))
			return NULL;
	}
	return excerpt;
}

/* errposition() for the excerpt's start, when it is from this statement */
int
policy_sql_position(Node *node)
{
	int			loc = exprLocation(node);

	if (validating_sql == NULL || loc < 0 || loc >= (int) strlen(validating_sql))
		return 0;
	return pg_mbstrlen_with_len(validating_sql, loc) + 1;
}
