/*
 * expr_eval.c: the evaluator of the expression language. It walks the tree
 * the parser built, asks the caller's resolver for the roots (params, env,
 * secret, steps, resources, run), navigates JSON itself, short-circuits
 * and/or/?:, calls the operators (expr_ops.c, expr_regex.c) and the
 * builtins (expr_builtin.c, whose taint rule it applies), and carries the
 * secret taint through every step. The first error ends the evaluation
 * with a message naming the sub-expression that failed.
 */
#include "expr_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int eval(struct ev *E, struct enode *n, struct value *out);

/* Evaluates both operands of n into a and b; on failure neither is set. */
static int operands(struct ev *E, struct enode *n, struct value *a, struct value *b)
{
	if (eval(E, n->a, a) != 0)
		return -1;
	if (eval(E, n->b, b) != 0) {
		value_release(a);
		return -1;
	}
	return 0;
}

/* ==, !=, <, <=, >, >=, =~ and in: a plain (never secret) bool. */
static int compare(struct ev *E, struct enode *n, struct value *out)
{
	struct value a, b;
	int r = 0, rc = 0;
	if (operands(E, n, &a, &b) != 0)
		return -1;
	switch (n->op) {
	case T_EQ:
		r = value_eq(&a, &b);
		break;
	case T_NE:
		r = !value_eq(&a, &b);
		break;
	case T_MATCH:
		rc = regex_match(E, n, &a, &b, &r, NULL);
		break;
	case T_IN:
		rc = op_in(E, n, &a, &b, &r);
		break;
	default:
		rc = op_order(E, n, &a, &b, &r);
		if (rc == 0)
			r = n->op == T_LT ? r < 0 : n->op == T_LE ? r <= 0 : n->op == T_GT ? r > 0 : r >= 0;
		break;
	}
	value_release(&a);
	value_release(&b);
	if (rc != 0)
		return -1;
	set_bool(out, r, 0);
	return 0;
}

static int arith(struct ev *E, struct enode *n, struct value *out)
{
	struct value a, b;
	if (operands(E, n, &a, &b) != 0)
		return -1;
	int rc = op_arith(E, n, &a, &b, out);
	value_release(&a);
	value_release(&b);
	return rc;
}

static int member(struct ev *E, struct enode *n, struct value *out)
{
	struct value a;
	if (eval(E, n->a, &a) != 0)
		return -1;
	int rc = op_member(E, n->a, &a, n->name, out);
	value_release(&a);
	return rc;
}

/* a[i]: an element of a list by a whole number, a member by a string. */
static int index_op(struct ev *E, struct enode *n, struct value *out)
{
	char p[SPAN_MAX];
	struct value a, i;
	int rc = -1;
	if (operands(E, n, &a, &i) != 0)
		return -1;
	if (a.t == V_JSON && json_is_array(a.u.j) && i.t == V_NUM) {
		size_t size = json_array_size(a.u.j);
		if (i.u.n != trunc(i.u.n) || i.u.n < 0 || i.u.n >= (double)size) {
			char nb[64];
			value_fmt_num(i.u.n, nb, sizeof(nb));
			rc = ev_fail(E, "%s has no element %s (it has %zu, numbered from 0)",
				     ev_path(E, n->a, p, sizeof(p)), i.secret ? "(secret)" : nb, size);
		} else {
			value_from_json(out, json_array_get(a.u.j, (size_t)i.u.n));
			out->secret = a.secret || i.secret;
			rc = 0;
		}
	} else if (a.t == V_JSON && json_is_object(a.u.j) && i.t == V_STR) {
		rc = op_member(E, n->a, &a, i.u.s, out);
		if (rc == 0)
			out->secret |= i.secret;
	} else {
		rc = ev_fail(E, "cannot index %s (%s) with %s; index a list with a number or an object with a string",
			     ev_path(E, n->a, p, sizeof(p)), value_an(&a), value_an(&i));
	}
	value_release(&a);
	value_release(&i);
	return rc;
}

/* root or root.name, from the resolver; secret.* is secret. */
static int eval_root(struct ev *E, struct enode *n, struct value *out)
{
	char p[SPAN_MAX];
	if (!E->ctx || !E->ctx->resolve)
		return ev_fail(E, "%s cannot be resolved here", ev_path(E, n, p, sizeof(p)));
	struct value v;
	char *rerr = NULL;
	memset(&v, 0, sizeof(v));
	if (E->ctx->resolve(E->ctx->ud, n->root, n->name, &v, &rerr) != 0) {
		if (E->err)
			free(rerr);
		else
			E->err = rerr ? rerr : xasprintf("%s cannot be resolved", ev_path(E, n, p, sizeof(p)));
		return -1;
	}
	free(rerr);
	value_normalize(&v);
	if (n->root == expr_roots[ROOT_SECRET])
		v.secret = 1;
	*out = v;
	return 0;
}

/* [a, b, ...]: a JSON list, secret when an element is. */
static int eval_list(struct ev *E, struct enode *n, struct value *out)
{
	char sp[SPAN_MAX];
	json_t *arr = json_array();
	int secret = 0;
	for (size_t i = 0; i < n->nargs; i++) {
		struct value v;
		if (eval(E, n->args[i], &v) != 0) {
			json_decref(arr);
			return -1;
		}
		json_t *j = value_to_json(&v);
		secret |= v.secret;
		value_release(&v);
		if (!j) {
			json_decref(arr);
			return ev_fail(E, "the list element %s is not valid UTF-8 text",
				       ev_span(E, n->args[i], sp, sizeof(sp)));
		}
		json_array_append_new(arr, j);
	}
	memset(out, 0, sizeof(*out));
	out->t = V_JSON;
	out->u.j = arr;
	out->secret = secret;
	return 0;
}

static int eval_neg(struct ev *E, struct enode *n, struct value *out)
{
	char sp[SPAN_MAX];
	struct value a;
	if (eval(E, n->a, &a) != 0)
		return -1;
	if (a.t == V_NUM) {
		set_num(out, -a.u.n, a.secret);
	} else if (a.t == V_DUR && a.u.us != INT64_MIN) {
		set_us(out, V_DUR, -a.u.us, a.secret);
	} else {
		ev_fail(E, "cannot negate %s in %s; '-' applies to numbers and durations", value_an(&a),
			ev_span(E, n, sp, sizeof(sp)));
		value_release(&a);
		return -1;
	}
	return 0;
}

/* and, or: a bool from the operands' truthiness; the right side only when
 * the left does not decide. */
static int eval_logic(struct ev *E, struct enode *n, struct value *out)
{
	struct value a, b;
	if (eval(E, n->a, &a) != 0)
		return -1;
	int t = value_truthy(&a), secret = a.secret;
	value_release(&a);
	if (t == (n->k == E_OR)) {
		set_bool(out, t, secret);
		return 0;
	}
	if (eval(E, n->b, &b) != 0)
		return -1;
	set_bool(out, value_truthy(&b), secret || b.secret);
	value_release(&b);
	return 0;
}

/* c ? a : b: only the chosen branch, tainted by the condition too. */
static int eval_cond(struct ev *E, struct enode *n, struct value *out)
{
	struct value c;
	if (eval(E, n->c, &c) != 0)
		return -1;
	int t = value_truthy(&c), secret = c.secret;
	value_release(&c);
	if (eval(E, t ? n->a : n->b, out) != 0)
		return -1;
	out->secret |= secret;
	return 0;
}

/* A lazy builtin's argument i, evaluated when it asks. */
static int call_arg(struct call *c, size_t i, struct value *out)
{
	return eval(c->E, c->n->args[i], out);
}

/* A builtin: its arguments evaluated (unless it is lazy), its function,
 * then its taint rule. */
static int call(struct ev *E, struct enode *n, struct value *out)
{
	const struct builtin *b = &expr_builtins[n->op];
	struct value a[BUILTIN_MAX_ARGS];
	struct call c = { E, n, b->name, a, n->nargs, call_arg };
	int secret = 0;
	memset(a, 0, sizeof(a));
	if (b->lazy)
		return b->fn(&c, out);
	for (size_t i = 0; i < n->nargs; i++) {
		if (eval(E, n->args[i], &a[i]) != 0) {
			for (size_t k = 0; k < i; k++)
				value_release(&a[k]);
			return -1;
		}
		secret |= a[i].secret;
	}
	int rc = b->fn(&c, out);
	if (rc == 0 && b->taint == TAINT_ARGS && out->t != V_NULL)
		out->secret = secret;
	for (size_t i = 0; i < n->nargs; i++)
		value_release(&a[i]);
	if (rc != 0)
		value_release(out);
	return rc;
}

static int eval(struct ev *E, struct enode *n, struct value *out)
{
	memset(out, 0, sizeof(*out));
	switch (n->k) {
	case E_LIT:
		value_copy(out, &n->lit);
		return 0;
	case E_LIST:
		return eval_list(E, n, out);
	case E_ROOT:
		return eval_root(E, n, out);
	case E_MEMBER:
		return member(E, n, out);
	case E_INDEX:
		return index_op(E, n, out);
	case E_NEG:
		return eval_neg(E, n, out);
	case E_NOT: {
		struct value a;
		if (eval(E, n->a, &a) != 0)
			return -1;
		set_bool(out, !value_truthy(&a), a.secret);
		value_release(&a);
		return 0;
	}
	case E_BIN:
		return arith(E, n, out);
	case E_CMP:
		return compare(E, n, out);
	case E_AND:
	case E_OR:
		return eval_logic(E, n, out);
	case E_COND:
		return eval_cond(E, n, out);
	case E_CALL:
		return call(E, n, out);
	}
	return ev_fail(E, "internal error: unknown expression node");
}

/* Evaluates e with the clock and the match budget of sh, which the parts of
 * one template share. 0 and *out, or -1 with *err (when err is not NULL;
 * the caller frees it) and *out null. */
int expr_eval_shared(const struct expr *e, const struct eval_ctx *ctx, struct value *out, char **err,
		     struct shared *sh)
{
	struct ev E;
	memset(&E, 0, sizeof(E));
	memset(out, 0, sizeof(*out));
	if (err)
		*err = NULL;
	E.ctx = ctx;
	E.src = e->src;
	E.sh = sh;
	if (eval(&E, e->root, out) != 0) {
		value_release(out);
		if (!E.err)
			E.err = xstrdup("the expression could not be evaluated");
		if (err)
			*err = E.err;
		else
			free(E.err);
		return -1;
	}
	free(E.err);
	return 0;
}

/* Evaluates e with ctx's resolver. Returns 0 with *out set (release it), or
 * -1 with *err (free it) naming the sub-expression that failed; *out is then
 * null. Not safe to call on the same expression from two threads at once. */
int expr_eval(const struct expr *e, const struct eval_ctx *ctx, struct value *out, char **err)
{
	struct shared sh;
	memset(&sh, 0, sizeof(sh));
	return expr_eval_shared(e, ctx, out, err, &sh);
}
