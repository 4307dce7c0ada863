/*
 * expr_parse.c: the parser of the expression language (grammar/expr.ebnf).
 * Operators are parsed by precedence climbing over one table, `infix`
 * (level, node kind, whether a second one may follow) beside `prefix` for
 * "not" and unary "-": the precedence ladder of the grammar is the order of
 * enum prec, written once. Operands (literals, lists, calls, references,
 * parentheses) and their postfix ".field" and "[index]" are parsed by
 * recursive descent. The tree is bounded: at most 64 KiB of source, nesting
 * of 64 and a height of 256, so hostile input cannot exhaust the stack.
 * Also the tree's references to roots (expr_refs). Uses the lexer, the
 * builtin table (names and arity) and expr_regex.c for literal patterns.
 */
#include "expr_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"

const char *const expr_roots[6] = { "params", "env", "secret", "steps", "resources", "run" };

/* Precedence levels, lowest first. A prefix operator's operand is parsed at
 * its own level, an infix operator's right operand one level higher (they
 * associate to the left), the conditional's branches at P_COND (to the
 * right). */
enum prec { P_NONE, P_COND, P_OR, P_AND, P_NOT, P_CMP, P_ADD, P_MUL, P_NEG };

static const struct infix {
	unsigned char prec;     /* P_NONE: not an infix operator */
	unsigned char kind;     /* enum ekind of the node it makes */
	unsigned char nonassoc; /* another operator of its level may not follow (a < b < c) */
} infix[T_COUNT] = {
	[T_QUEST] = { .prec = P_COND, .kind = E_COND },
	[T_OR] = { .prec = P_OR, .kind = E_OR },
	[T_AND] = { .prec = P_AND, .kind = E_AND },
	[T_EQ] = { .prec = P_CMP, .kind = E_CMP, .nonassoc = 1 },
	[T_NE] = { .prec = P_CMP, .kind = E_CMP, .nonassoc = 1 },
	[T_LT] = { .prec = P_CMP, .kind = E_CMP, .nonassoc = 1 },
	[T_LE] = { .prec = P_CMP, .kind = E_CMP, .nonassoc = 1 },
	[T_GT] = { .prec = P_CMP, .kind = E_CMP, .nonassoc = 1 },
	[T_GE] = { .prec = P_CMP, .kind = E_CMP, .nonassoc = 1 },
	[T_MATCH] = { .prec = P_CMP, .kind = E_CMP, .nonassoc = 1 },
	[T_IN] = { .prec = P_CMP, .kind = E_CMP, .nonassoc = 1 },
	[T_PLUS] = { .prec = P_ADD, .kind = E_BIN },
	[T_MINUS] = { .prec = P_ADD, .kind = E_BIN },
	[T_STAR] = { .prec = P_MUL, .kind = E_BIN },
	[T_SLASH] = { .prec = P_MUL, .kind = E_BIN },
	[T_PERCENT] = { .prec = P_MUL, .kind = E_BIN },
};

static const struct prefix {
	unsigned char prec; /* P_NONE: not a prefix operator */
	unsigned char kind;
} prefix[T_COUNT] = {
	[T_NOT] = { .prec = P_NOT, .kind = E_NOT },
	[T_MINUS] = { .prec = P_NEG, .kind = E_NEG },
};

static struct enode *parse_prec(struct parser *P, int min);

static struct enode *mknode(struct parser *P, enum ekind k, size_t start, size_t end)
{
	struct enode *n = xcalloc(1, sizeof(*n));
	n->k = k;
	n->start = start - P->off0;
	n->end = end - P->off0;
	n->height = 1;
	return n;
}

/* Sets n's height from its children; fails the parse when too tall. */
static struct enode *grown(struct parser *P, struct enode *n)
{
	int h = 0;
	struct enode *kids[3] = { n->a, n->b, n->c };
	for (int i = 0; i < 3; i++)
		if (kids[i] && kids[i]->height > h)
			h = kids[i]->height;
	for (size_t i = 0; i < n->nargs; i++)
		if (n->args[i]->height > h)
			h = n->args[i]->height;
	n->height = h + 1;
	if (n->height > EXPR_MAX_HEIGHT) {
		expr_perr(P, n->start + P->off0,
			  "expression nested too deeply (more than %d operators deep); split it into simpler parts",
			  EXPR_MAX_HEIGHT);
		enode_free(n);
		return NULL;
	}
	return n;
}

static int enter(struct parser *P)
{
	if (++P->depth > EXPR_MAX_DEPTH) {
		expr_perr(P, P->tok.start, "expression nested too deeply (more than %d levels); simplify it",
			  EXPR_MAX_DEPTH);
		return -1;
	}
	return 0;
}

static void leave(struct parser *P)
{
	P->depth--;
}

/* ---- operands ---- */

static struct enode *lit_node(struct parser *P, enum vtype t)
{
	struct enode *n = mknode(P, E_LIT, P->tok.start, P->tok.end);
	n->lit.t = t;
	switch (P->tok.k) {
	case T_NUM:
		n->lit.u.n = P->tok.num;
		break;
	case T_STR:
		n->lit.u.s = P->tok.str;
		P->tok.str = NULL;
		break;
	case T_DUR:
	case T_TIME:
		n->lit.u.us = P->tok.us;
		break;
	case T_TRUE:
		n->lit.u.b = 1;
		break;
	default:
		break;
	}
	lex_next(P);
	return n;
}

static const char *find_root(const char *s, size_t n)
{
	for (size_t i = 0; i < ARRAY_SIZE(expr_roots); i++)
		if (strlen(expr_roots[i]) == n && !memcmp(expr_roots[i], s, n))
			return expr_roots[i];
	return NULL;
}

/* Parses a comma-separated list up to `close` into n->args. */
static int parse_items(struct parser *P, struct enode *n, enum tok_kind close, const char *what)
{
	size_t alloc = 0;
	while (P->tok.k != close) {
		struct enode *x = parse_expression(P);
		if (!x)
			return -1;
		if (n->nargs == alloc) {
			alloc = alloc ? alloc * 2 : 4;
			n->args = xrealloc(n->args, alloc * sizeof(*n->args));
		}
		n->args[n->nargs++] = x;
		if (P->tok.k == T_COMMA) {
			lex_next(P);
			continue;
		}
		if (P->tok.k != close) {
			lex_unexpected(P, what);
			return -1;
		}
	}
	n->end = P->tok.end - P->off0;
	lex_next(P);
	return 0;
}

/* A call has a known builtin, as many arguments as it takes, and a valid
 * pattern where a literal one is given. */
static int check_call(struct parser *P, struct enode *n, const struct builtin *b, size_t start)
{
	if (n->nargs < b->min_args || n->nargs > b->max_args) {
		if (b->min_args == b->max_args)
			expr_perr(P, start, "%s() takes %u argument%s, not %zu; see grammar/expr.ebnf", b->name,
				  b->min_args, b->min_args == 1 ? "" : "s", n->nargs);
		else
			expr_perr(P, start, "%s() takes %u to %u arguments, not %zu; see grammar/expr.ebnf", b->name,
				  b->min_args, b->max_args, n->nargs);
		return -1;
	}
	if (b->pattern_arg && n->nargs >= b->pattern_arg) {
		const struct enode *pat = n->args[b->pattern_arg - 1];
		if (pat->k == E_LIT && pat->lit.t == V_STR && regex_compile_literal(P, n, pat) != 0)
			return -1;
	}
	return 0;
}

static struct enode *parse_call(struct parser *P, size_t start, size_t nlen)
{
	const char *name = P->s + start;
	int f = builtin_find(name, nlen);
	if (f < 0) {
		struct strbuf m = STRBUF_INIT, names = STRBUF_INIT;
		builtin_names(&names);
		expr_perr(P, start, "unknown function %s; the functions are %s", expr_quote(&m, name, nlen),
			  sb_str(&names));
		sb_release(&m);
		sb_release(&names);
		return NULL;
	}
	if (enter(P) != 0)
		return NULL;
	struct enode *n = mknode(P, E_CALL, start, P->tok.end);
	n->op = f;
	lex_next(P); /* past '(' */
	char what[64];
	snprintf(what, sizeof(what), "',' or ')' in the arguments of %s()", expr_builtins[f].name);
	if (parse_items(P, n, T_RPAREN, what) != 0) {
		enode_free(n);
		return NULL;
	}
	leave(P);
	if (check_call(P, n, &expr_builtins[f], start) != 0) {
		enode_free(n);
		return NULL;
	}
	return grown(P, n);
}

/* A name: a call, or a root with its first member (root.name). */
static struct enode *parse_name(struct parser *P)
{
	size_t start = P->tok.start, nlen = P->tok.end - start;
	const char *word = P->s + start;
	lex_next(P);
	if (P->tok.k == T_LPAREN)
		return parse_call(P, start, nlen);
	const char *root = find_root(word, nlen);
	if (!root) {
		struct strbuf m = STRBUF_INIT;
		if (builtin_find(word, nlen) >= 0)
			expr_perr(P, start, "%s is a function; call it with parentheses, as in %.*s(...)",
				  expr_quote(&m, word, nlen), (int)nlen, word);
		else
			expr_perr(P, start, "unknown name %s; names start with params., env., secret., steps., "
					    "resources. or run.",
				  expr_quote(&m, word, nlen));
		sb_release(&m);
		return NULL;
	}
	struct enode *n = mknode(P, E_ROOT, start, start + nlen);
	n->root = root;
	n->loc = P->base;
	n->loc.col += (int)start;
	if (P->tok.k == T_DOT) {
		lex_member(P);
		if (P->tok.k != T_IDENT) {
			enode_free(n);
			return NULL;
		}
		n->name = xstrndup(P->s + P->tok.start, P->tok.end - P->tok.start);
		n->end = P->tok.end - P->off0;
		lex_next(P);
	}
	return n;
}

/* "(" expression ")". */
static struct enode *parse_paren(struct parser *P)
{
	size_t start = P->tok.start;
	if (enter(P) != 0)
		return NULL;
	lex_next(P);
	struct enode *n = parse_expression(P);
	if (!n)
		return NULL;
	if (P->tok.k != T_RPAREN) {
		char what[64];
		snprintf(what, sizeof(what), "')' to close the '(' at column %d", P->base.col + (int)start);
		lex_unexpected(P, what);
		enode_free(n);
		return NULL;
	}
	leave(P);
	lex_next(P);
	return n;
}

static struct enode *parse_primary(struct parser *P)
{
	struct enode *n;
	switch (P->tok.k) {
	case T_NUM:
		return lit_node(P, V_NUM);
	case T_STR:
		return lit_node(P, V_STR);
	case T_DUR:
		return lit_node(P, V_DUR);
	case T_TIME:
		return lit_node(P, V_TIME);
	case T_TRUE:
	case T_FALSE:
		return lit_node(P, V_BOOL);
	case T_NULL:
		return lit_node(P, V_NULL);
	case T_LPAREN:
		return parse_paren(P);
	case T_LBRACK:
		if (enter(P) != 0)
			return NULL;
		n = mknode(P, E_LIST, P->tok.start, P->tok.end);
		lex_next(P);
		if (parse_items(P, n, T_RBRACK, "',' or ']' in the list") != 0) {
			enode_free(n);
			return NULL;
		}
		leave(P);
		return grown(P, n);
	case T_IDENT:
		return parse_name(P);
	default:
		lex_unexpected(P, "a value");
		return NULL;
	}
}

/* e "[" expression "]"; root["name"] with a literal string is root.name. */
static struct enode *parse_index(struct parser *P, struct enode *e)
{
	size_t open = P->tok.start;
	if (enter(P) != 0) {
		enode_free(e);
		return NULL;
	}
	lex_next(P);
	struct enode *i = parse_expression(P);
	if (!i) {
		enode_free(e);
		return NULL;
	}
	if (P->tok.k != T_RBRACK) {
		char what[64];
		snprintf(what, sizeof(what), "']' to close the '[' at column %d", P->base.col + (int)open);
		lex_unexpected(P, what);
		enode_free(e);
		enode_free(i);
		return NULL;
	}
	leave(P);
	if (e->k == E_ROOT && !e->name && i->k == E_LIT && i->lit.t == V_STR) {
		e->name = i->lit.u.s;
		i->lit.u.s = NULL;
		i->lit.t = V_NULL;
		enode_free(i);
		e->end = P->tok.end - P->off0;
		lex_next(P);
		return e;
	}
	struct enode *n = mknode(P, E_INDEX, e->start + P->off0, P->tok.end);
	n->a = e;
	n->b = i;
	lex_next(P);
	return grown(P, n);
}

static struct enode *parse_postfix(struct parser *P)
{
	struct enode *e = parse_primary(P);
	while (e) {
		if (P->tok.k == T_DOT) {
			lex_member(P);
			if (P->tok.k != T_IDENT) {
				enode_free(e);
				return NULL;
			}
			struct enode *n = mknode(P, E_MEMBER, e->start + P->off0, P->tok.end);
			n->a = e;
			n->name = xstrndup(P->s + P->tok.start, P->tok.end - P->tok.start);
			lex_next(P);
			e = grown(P, n);
		} else if (P->tok.k == T_LBRACK) {
			e = parse_index(P, e);
		} else {
			break;
		}
	}
	return e;
}

/* ---- operators ---- */

/* A prefix operator allowed at level min and its operand, or a postfix
 * expression. A negative number or duration literal is folded. */
static struct enode *parse_unary(struct parser *P, int min)
{
	const struct prefix *op = &prefix[P->tok.k];
	if (op->prec == P_NONE || op->prec < min)
		return parse_postfix(P);
	size_t start = P->tok.start;
	if (enter(P) != 0)
		return NULL;
	lex_next(P);
	struct enode *x = parse_prec(P, op->prec);
	if (!x)
		return NULL;
	leave(P);
	if (op->kind == E_NEG && x->k == E_LIT &&
	    (x->lit.t == V_NUM || (x->lit.t == V_DUR && x->lit.u.us != INT64_MIN))) {
		if (x->lit.t == V_NUM)
			x->lit.u.n = -x->lit.u.n;
		else
			x->lit.u.us = -x->lit.u.us;
		x->start = start - P->off0;
		return x;
	}
	struct enode *n = mknode(P, op->kind, start, x->end + P->off0);
	n->a = x;
	return grown(P, n);
}

static struct enode *binary(struct parser *P, enum ekind k, int op, struct enode *a, struct enode *b)
{
	struct enode *n = mknode(P, k, a->start + P->off0, b->end + P->off0);
	n->op = op;
	n->a = a;
	n->b = b;
	return grown(P, n);
}

/* After a comparison e (operator op, right side r): no second comparison
 * may follow, and a literal pattern on the right of =~ is compiled now. */
static struct enode *compared(struct parser *P, struct enode *e, int op, const struct enode *r)
{
	if (infix[P->tok.k].nonassoc) {
		expr_perr(P, P->tok.start,
			  "comparisons cannot be chained: '%s' follows '%s'; join them with 'and', as in a < b and b < c",
			  expr_op_text[P->tok.k], expr_op_text[op]);
		enode_free(e);
		return NULL;
	}
	if (op == T_MATCH && r->k == E_LIT && r->lit.t == V_STR && regex_compile_literal(P, e, r) != 0) {
		enode_free(e);
		return NULL;
	}
	return e;
}

/* c "?" expression ":" expression, at the '?'. */
static struct enode *parse_cond(struct parser *P, struct enode *c)
{
	if (enter(P) != 0) {
		enode_free(c);
		return NULL;
	}
	lex_next(P);
	struct enode *a = parse_expression(P);
	if (!a) {
		enode_free(c);
		return NULL;
	}
	if (P->tok.k != T_COLON) {
		struct strbuf m = STRBUF_INIT;
		if (P->tmpl && P->tok.k == T_EOF)
			lex_unexpected(P, "':'");
		else if (P->tok.k != T_ERR)
			expr_perr(P, P->tok.start, "expected ':' after '?' branch, found %s; write COND ? THEN : ELSE",
				  lex_tokdesc(P, &m));
		sb_release(&m);
		enode_free(c);
		enode_free(a);
		return NULL;
	}
	lex_next(P);
	struct enode *b = parse_expression(P);
	if (!b) {
		enode_free(c);
		enode_free(a);
		return NULL;
	}
	leave(P);
	struct enode *n = mknode(P, E_COND, c->start + P->off0, b->end + P->off0);
	n->a = a;
	n->b = b;
	n->c = c;
	return grown(P, n);
}

/* Precedence climbing: an operand, then every infix operator of level min
 * or higher with its right operand. */
static struct enode *parse_prec(struct parser *P, int min)
{
	struct enode *e = parse_unary(P, min);
	while (e) {
		int op = P->tok.k;
		const struct infix *in = &infix[op];
		if (in->prec == P_NONE || in->prec < min)
			break;
		if (in->kind == E_COND) {
			e = parse_cond(P, e);
			continue;
		}
		lex_next(P);
		struct enode *r = parse_prec(P, in->prec + 1);
		if (!r) {
			enode_free(e);
			return NULL;
		}
		e = binary(P, in->kind, op, e, r);
		if (e && in->nonassoc)
			e = compared(P, e, op, r);
	}
	return e;
}

/* Parses a whole expression at the current token: the lowest level, a
 * conditional. NULL after one diagnostic. */
struct enode *parse_expression(struct parser *P)
{
	return parse_prec(P, P_COND);
}

/* Frees n and its subtree (patterns, and cached secret patterns wiped). */
void enode_free(struct enode *n)
{
	if (!n)
		return;
	enode_free(n->a);
	enode_free(n->b);
	enode_free(n->c);
	for (size_t i = 0; i < n->nargs; i++)
		enode_free(n->args[i]);
	free(n->args);
	value_release(&n->lit);
	free(n->name);
	regex_release(n);
	free(n);
}

/* Parses src (NUL-terminated, at most 64 KiB) into an AST. Returns it (free
 * with expr_free), or NULL after adding one "expr-syntax" diagnostic to d at
 * base.col + the offset of the offending token. */
struct expr *expr_parse(const char *src, struct loc base, struct diags *d)
{
	size_t len = strlen(src);
	if (len > EXPR_MAX_LEN) {
		if (d)
			diag_add(d, SEV_ERROR, "expr-syntax", base,
				 "expression is too long (%zu bytes; at most %zu); split it or move data into params",
				 len, EXPR_MAX_LEN);
		return NULL;
	}
	struct parser P;
	memset(&P, 0, sizeof(P));
	P.s = src;
	P.len = len;
	P.base = base;
	P.d = d;
	lex_next(&P);
	struct enode *root = NULL;
	if (P.tok.k == T_EOF)
		expr_perr(&P, P.tok.start, "empty expression; write a value or a condition");
	else
		root = parse_expression(&P);
	if (root && P.tok.k != T_EOF) {
		struct strbuf m = STRBUF_INIT;
		if (P.tok.k != T_ERR)
			expr_perr(&P, P.tok.start, "unexpected %s in expression; expected an operator or the end",
				  lex_tokdesc(&P, &m));
		sb_release(&m);
	}
	free(P.tok.str);
	if (P.failed || !root) {
		enode_free(root);
		return NULL;
	}
	struct expr *e = xcalloc(1, sizeof(*e));
	e->src = xstrdup(src);
	e->root = root;
	return e;
}

/* Frees an expression and everything it owns; NULL is ignored. */
void expr_free(struct expr *e)
{
	if (!e)
		return;
	enode_free(e->root);
	free(e->src);
	free(e);
}

/* The expression's source text as written (for a template part, the text
 * between "${" and "}"). */
const char *expr_text(const struct expr *e)
{
	return e->src;
}

/* ---- references ---- */

static int refs_walk(const struct enode *n, const char *field, int (*fn)(const struct expr_ref *, void *),
		     void *ud)
{
	int rc;
	if (!n)
		return 0;
	switch (n->k) {
	case E_ROOT: {
		struct expr_ref r = { n->root, n->name, n->name ? field : NULL, n->loc };
		return fn(&r, ud);
	}
	case E_MEMBER:
		return refs_walk(n->a, n->name, fn, ud);
	case E_INDEX:
		rc = refs_walk(n->a, n->b->k == E_LIT && n->b->lit.t == V_STR ? n->b->lit.u.s : NULL, fn, ud);
		return rc ? rc : refs_walk(n->b, NULL, fn, ud);
	case E_COND:
		if ((rc = refs_walk(n->c, NULL, fn, ud)) != 0)
			return rc;
		break;
	default:
		break;
	}
	if ((rc = refs_walk(n->a, NULL, fn, ud)) != 0)
		return rc;
	if ((rc = refs_walk(n->b, NULL, fn, ud)) != 0)
		return rc;
	for (size_t i = 0; i < n->nargs; i++)
		if ((rc = refs_walk(n->args[i], NULL, fn, ud)) != 0)
			return rc;
	return 0;
}

/* Calls fn for each root reference in e in source order (root, first and
 * second static member, where the root is written); returns fn's first
 * non-zero result, or 0. */
int expr_refs(const struct expr *e, int (*fn)(const struct expr_ref *ref, void *ud), void *ud)
{
	return e ? refs_walk(e->root, NULL, fn, ud) : 0;
}
