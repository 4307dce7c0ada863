/*
 * expr_ops.c: the operators of the expression language over values
 * (grammar/expr.ebnf, "semantics"): ordering, arithmetic on numbers,
 * strings, timestamps and durations, 'in', and member access into JSON;
 * and the errors of an evaluation, which name the sub-expression that
 * failed and never quote a secret. The evaluator and the builtins call
 * these; they use expr_value.c and the operator names of expr_lex.c.
 */
#include "expr_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- errors ---- */

static void set_err(struct ev *E, int fatal, const char *fmt, va_list ap)
{
	if (E->err)
		return;
	E->err = xvasprintf(fmt, ap);
	if (fatal)
		E->fatal = 1;
}

/* Sets the evaluation's error (the first one stays) and returns -1. */
int ev_fail(struct ev *E, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_err(E, 0, fmt, ap);
	va_end(ap);
	return -1;
}

/* Sets the error of a resource limit (a string over 1 MiB, a runaway
 * pattern): the expression itself must change, so default() does not catch
 * it. Returns -1. */
int ev_limit(struct ev *E, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_err(E, 1, fmt, ap);
	va_end(ap);
	return -1;
}

/* n's source text quoted, for messages. */
const char *ev_span(struct ev *E, const struct enode *n, char *buf, size_t bn)
{
	struct strbuf sb = STRBUF_INIT;
	expr_quote(&sb, E->src + n->start, n->end - n->start);
	snprintf(buf, bn, "%s", sb_str(&sb));
	sb_release(&sb);
	return buf;
}

/* The path part of n's source without quotes ("steps.dump"). */
const char *ev_path(struct ev *E, const struct enode *n, char *buf, size_t bn)
{
	struct strbuf sb = STRBUF_INIT;
	expr_sb_quote(&sb, E->src + n->start, n->end - n->start);
	snprintf(buf, bn, "%s", sb_str(&sb));
	sb_release(&sb);
	return buf;
}

/* A value quoted for a message, or "a secret value". */
const char *ev_qval(const struct value *v, char *buf, size_t bn)
{
	if (v->secret)
		return "a secret value";
	if (v->t != V_STR)
		return value_an(v);
	struct strbuf sb = STRBUF_INIT;
	expr_quote(&sb, v->u.s, strlen(v->u.s));
	snprintf(buf, bn, "%s", sb_str(&sb));
	sb_release(&sb);
	return buf;
}

/* now(): the context's clock, else the wall clock, read once and then the
 * same for the rest of the evaluation (and the template it belongs to). */
int64_t ev_now(struct ev *E)
{
	if (!E->sh->have_now) {
		E->sh->now = E->ctx && E->ctx->now_us ? E->ctx->now_us : now_us();
		E->sh->have_now = 1;
	}
	return E->sh->now;
}

/* ---- operators ---- */

static int sign64(int64_t x, int64_t y)
{
	return (x > y) - (x < y);
}

/* Ordering of numbers, strings (bytes), timestamps and durations, with the
 * same string coercions as value_eq. Sets *r to -1/0/1 or fails. */
int op_order(struct ev *E, const struct enode *n, const struct value *a, const struct value *b, int *r)
{
	char sp[SPAN_MAX], qb[SPAN_MAX];
	int64_t x, y;
	if (a->t == b->t && a->t == V_NUM) {
		*r = (a->u.n > b->u.n) - (a->u.n < b->u.n);
		return 0;
	}
	if (a->t == b->t && a->t == V_STR) {
		int c = strcmp(a->u.s, b->u.s);
		*r = (c > 0) - (c < 0);
		return 0;
	}
	if (a->t == V_TIME || b->t == V_TIME) {
		const struct value *o = a->t == V_TIME ? b : a;
		if (o->t == V_TIME || o->t == V_STR) {
			if (value_time(a, &x) == 0 && value_time(b, &y) == 0) {
				*r = sign64(x, y);
				return 0;
			}
			return ev_fail(E, "cannot compare a timestamp with %s in %s: it is not an RFC 3339 time; "
				       "write it like 2026-11-29T09:10:00Z",
				       ev_qval(o, qb, sizeof(qb)), ev_span(E, n, sp, sizeof(sp)));
		}
	} else if (a->t == V_DUR || b->t == V_DUR) {
		const struct value *o = a->t == V_DUR ? b : a;
		if (o->t == V_DUR || o->t == V_STR || o->t == V_NUM) {
			if (value_dur(a, &x) == 0 && value_dur(b, &y) == 0) {
				*r = sign64(x, y);
				return 0;
			}
			return ev_fail(E, "cannot compare a duration with %s in %s: it is not a duration; "
				       "write it like 90s or 1h30m",
				       ev_qval(o, qb, sizeof(qb)), ev_span(E, n, sp, sizeof(sp)));
		}
	}
	if ((a->t == V_NUM && b->t == V_STR) || (a->t == V_STR && b->t == V_NUM))
		return ev_fail(E, "cannot compare %s with %s in %s; convert one side with number() or string()",
			       value_an(a), value_an(b), ev_span(E, n, sp, sizeof(sp)));
	return ev_fail(E, "cannot compare %s with %s in %s; only numbers, strings, timestamps and durations are "
		       "ordered",
		       value_an(a), value_an(b), ev_span(E, n, sp, sizeof(sp)));
}

static int time_ok(struct ev *E, const struct enode *n, int64_t us)
{
	char sp[SPAN_MAX];
	if (us < TIME_MIN || us > TIME_MAX)
		return ev_fail(E, "timestamp out of range in %s: years run from 0000 to 9999",
			       ev_span(E, n, sp, sizeof(sp)));
	return 0;
}

/* Fails with "the result of N is out of range"; returns -1. */
int ev_overflow(struct ev *E, const struct enode *n)
{
	char sp[SPAN_MAX];
	return ev_fail(E, "the result of %s is out of range", ev_span(E, n, sp, sizeof(sp)));
}

/* A string on one side of time/duration arithmetic is read as a timestamp
 * or a duration (like a comparison); 0 when converted. */
static int coerce_str(struct value *v, enum vtype other)
{
	int64_t us;
	if (v->t != V_STR || (other != V_TIME && other != V_DUR))
		return -1;
	if (parse_timestamp(v->u.s, &us) == 0) {
		int secret = v->secret;
		value_release(v);
		set_us(v, V_TIME, us, secret);
		return 0;
	}
	if (parse_duration(v->u.s, &us) == 0) {
		int secret = v->secret;
		value_release(v);
		set_us(v, V_DUR, us, secret);
		return 0;
	}
	return -1;
}

/* number OP number. */
static int arith_num(struct ev *E, const struct enode *n, double x, double y, int secret, struct value *out)
{
	char sp[SPAN_MAX];
	double z;
	switch (n->op) {
	case T_PLUS: z = x + y; break;
	case T_MINUS: z = x - y; break;
	case T_STAR: z = x * y; break;
	case T_SLASH:
		if (y == 0)
			return ev_fail(E, "division by zero in %s", ev_span(E, n, sp, sizeof(sp)));
		z = x / y;
		break;
	default:
		if (y == 0)
			return ev_fail(E, "division by zero in %s (the remainder of a division by 0)",
				       ev_span(E, n, sp, sizeof(sp)));
		z = fmod(x, y);
		break;
	}
	if (!isfinite(z))
		return ev_overflow(E, n);
	set_num(out, z, secret);
	return 0;
}

/* string + string, at most STR_MAX bytes. */
static int concat(struct ev *E, const struct enode *n, const char *a, const char *b, int secret, struct value *out)
{
	char sp[SPAN_MAX];
	size_t la = strlen(a), lb = strlen(b);
	if (la + lb > STR_MAX)
		return ev_limit(E, "the string %s would be larger than 1 MiB", ev_span(E, n, sp, sizeof(sp)));
	char *s = xmalloc(la + lb + 1);
	memcpy(s, a, la);
	memcpy(s + la, b, lb + 1);
	set_str(out, s, secret);
	return 0;
}

/* Timestamp and duration arithmetic: 0 or -1 when the operator applies to
 * the types of a and b, 1 when it does not. */
static int arith_time(struct ev *E, const struct enode *n, const struct value *a, const struct value *b, int secret,
		      struct value *out)
{
	char sp[SPAN_MAX];
	int op = n->op;
	enum vtype ta = a->t, tb = b->t;
	int64_t r;
	if ((ta == V_TIME && tb == V_DUR && (op == T_PLUS || op == T_MINUS)) ||
	    (ta == V_DUR && tb == V_TIME && op == T_PLUS)) {
		if (op == T_PLUS ? __builtin_add_overflow(a->u.us, b->u.us, &r)
				 : __builtin_sub_overflow(a->u.us, b->u.us, &r))
			return ev_overflow(E, n);
		if (time_ok(E, n, r) != 0)
			return -1;
		set_us(out, V_TIME, r, secret);
		return 0;
	}
	if ((ta == V_DUR && tb == V_DUR && (op == T_PLUS || op == T_MINUS)) ||
	    (ta == V_TIME && tb == V_TIME && op == T_MINUS)) {
		if (op == T_PLUS ? __builtin_add_overflow(a->u.us, b->u.us, &r)
				 : __builtin_sub_overflow(a->u.us, b->u.us, &r))
			return ev_overflow(E, n);
		if (r == INT64_MIN)
			return ev_overflow(E, n);
		set_us(out, V_DUR, r, secret);
		return 0;
	}
	if (ta == V_DUR && tb == V_DUR && op == T_SLASH) {
		if (b->u.us == 0)
			return ev_fail(E, "division by zero in %s", ev_span(E, n, sp, sizeof(sp)));
		set_num(out, (double)a->u.us / (double)b->u.us, secret);
		return 0;
	}
	if ((ta == V_DUR && tb == V_NUM && (op == T_STAR || op == T_SLASH)) ||
	    (ta == V_NUM && tb == V_DUR && op == T_STAR)) {
		double d = (double)(ta == V_DUR ? a->u.us : b->u.us), x = ta == V_DUR ? b->u.n : a->u.n;
		if (op == T_SLASH && x == 0)
			return ev_fail(E, "division by zero in %s", ev_span(E, n, sp, sizeof(sp)));
		double z = op == T_SLASH ? d / x : d * x;
		if (!(fabs(z) < US_LIMIT))
			return ev_overflow(E, n);
		set_us(out, V_DUR, (int64_t)llround(z), secret);
		return 0;
	}
	return 1;
}

/* a OP b for the arithmetic operator n->op (grammar/expr.ebnf, "Arithmetic"):
 * a string beside a timestamp or a duration is read as one first (in place).
 * 0 and *out, tainted when either side is secret, or -1. */
int op_arith(struct ev *E, const struct enode *n, struct value *a, struct value *b, struct value *out)
{
	char sp[SPAN_MAX];
	int secret = a->secret || b->secret;
	enum vtype ta = a->t, tb = b->t;
	if (ta == V_STR && tb != V_STR && coerce_str(a, tb) == 0)
		ta = a->t;
	if (tb == V_STR && ta != V_STR && coerce_str(b, ta) == 0)
		tb = b->t;
	if (ta == V_NUM && tb == V_NUM)
		return arith_num(E, n, a->u.n, b->u.n, secret, out);
	if (ta == V_STR && tb == V_STR && n->op == T_PLUS)
		return concat(E, n, a->u.s, b->u.s, secret, out);
	int rc = arith_time(E, n, a, b, secret, out);
	if (rc <= 0)
		return rc;
	return ev_fail(E, "cannot apply '%s' to %s and %s in %s%s", expr_op_text[n->op], value_an(a), value_an(b),
		       ev_span(E, n, sp, sizeof(sp)),
		       (ta == V_STR) != (tb == V_STR) && (ta == V_NUM || tb == V_NUM)
			       ? "; convert one side with number() or string()"
			       : "");
}

/* `a in b`: element of a list, key of an object, substring of a string. */
int op_in(struct ev *E, const struct enode *n, const struct value *a, const struct value *b, int *res)
{
	char sp[SPAN_MAX];
	*res = 0;
	if (b->t == V_JSON && json_is_array(b->u.j)) {
		size_t i;
		json_t *x;
		json_array_foreach(b->u.j, i, x) {
			struct value v;
			value_from_json(&v, x);
			int eq = value_eq(a, &v);
			value_release(&v);
			if (eq) {
				*res = 1;
				break;
			}
		}
		return 0;
	}
	if (b->t == V_JSON && json_is_object(b->u.j) && a->t == V_STR) {
		*res = json_object_get(b->u.j, a->u.s) != NULL;
		return 0;
	}
	if (b->t == V_STR && a->t == V_STR) {
		*res = strstr(b->u.s, a->u.s) != NULL;
		return 0;
	}
	if (b->t == V_JSON || b->t == V_STR)
		return ev_fail(E, "'in' cannot look for %s in %s in %s; look for a string", value_an(a), value_an(b),
			       ev_span(E, n, sp, sizeof(sp)));
	return ev_fail(E, "'in' needs a list, an object or a string on its right, not %s, in %s", value_an(b),
		       ev_span(E, n, sp, sizeof(sp)));
}

/* obj.name, where objn is the node obj came from (named in messages): 0 and
 * *out with obj's taint, or the field's own (resources.NAME.FIELD) when the
 * context knows it; or -1 naming the path. */
int op_member(struct ev *E, const struct enode *objn, struct value *obj, const char *name, struct value *out)
{
	char p[SPAN_MAX];
	struct strbuf m = STRBUF_INIT;
	int rc;
	if (obj->t == V_JSON && json_is_object(obj->u.j)) {
		json_t *j = json_object_get(obj->u.j, name);
		if (j) {
			value_from_json(out, j);
			out->secret = obj->secret;
			/* resources.NAME.FIELD: the field's own taint, when known */
			if (objn->k == E_ROOT && objn->name && E->ctx && E->ctx->field_secret) {
				int fs = E->ctx->field_secret(E->ctx->ud, objn->root, objn->name, name);
				if (fs >= 0)
					out->secret = fs;
			}
			return 0;
		}
		rc = ev_fail(E, "%s has no field %s", ev_path(E, objn, p, sizeof(p)),
			     expr_quote(&m, name, strlen(name)));
	} else if (obj->t == V_JSON && json_is_array(obj->u.j)) {
		rc = ev_fail(E, "%s is a list, not an object, so it has no field %s; take an element with [index]",
			     ev_path(E, objn, p, sizeof(p)), expr_quote(&m, name, strlen(name)));
	} else {
		rc = ev_fail(E, "%s is %s, not an object, so it has no field %s", ev_path(E, objn, p, sizeof(p)),
			     value_an(obj), expr_quote(&m, name, strlen(name)));
	}
	sb_release(&m);
	return rc;
}
