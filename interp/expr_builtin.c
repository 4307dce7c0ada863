/*
 * expr_builtin.c: the builtin functions of the expression language
 * (grammar/expr.ebnf, "Functions"), one table: each entry names the
 * function, its arity (checked at parse time), how secrets taint its result
 * (applied by the evaluator), whether it evaluates its own arguments
 * (default() is lazy) and which argument is a pattern (compiled at parse
 * time when literal). Each builtin is its own small function over values.
 * To add one: write the function, add its entry, and describe it in
 * grammar/expr.ebnf and tests/expr/functions.test. Uses expr_value.c,
 * expr_ops.c and expr_regex.c; the evaluator calls the table.
 */
#include "expr_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int fn_now(struct call *c, struct value *out)
{
	set_us(out, V_TIME, ev_now(c->E), 0);
	return 0;
}

static int fn_duration(struct call *c, struct value *out)
{
	char sp[SPAN_MAX], qb[SPAN_MAX];
	int64_t us;
	if (value_dur(&c->a[0], &us) == 0) {
		set_us(out, V_DUR, us, 0);
		return 0;
	}
	return ev_fail(c->E, "duration() cannot read %s as a duration in %s; write it like 90s or 1h30m",
		       ev_qval(&c->a[0], qb, sizeof(qb)), ev_span(c->E, c->n, sp, sizeof(sp)));
}

static int fn_timestamp(struct call *c, struct value *out)
{
	char sp[SPAN_MAX], qb[SPAN_MAX];
	const struct value *a = &c->a[0];
	int64_t us;
	if ((a->t == V_NUM && secs_to_us(a->u.n, &us) == 0 && us >= TIME_MIN && us <= TIME_MAX) ||
	    (a->t != V_NUM && value_time(a, &us) == 0)) {
		set_us(out, V_TIME, us, 0);
		return 0;
	}
	return ev_fail(c->E, "timestamp() cannot read %s as a timestamp in %s; write RFC 3339 such as "
			     "2026-11-29T09:10:00Z",
		       ev_qval(a, qb, sizeof(qb)), ev_span(c->E, c->n, sp, sizeof(sp)));
}

static int fn_age(struct call *c, struct value *out)
{
	char sp[SPAN_MAX], qb[SPAN_MAX];
	int64_t us, r;
	if (value_time(&c->a[0], &us) != 0)
		return ev_fail(c->E, "age() needs a timestamp, and %s is not one, in %s",
			       ev_qval(&c->a[0], qb, sizeof(qb)), ev_span(c->E, c->n, sp, sizeof(sp)));
	if (__builtin_sub_overflow(ev_now(c->E), us, &r) || r == INT64_MIN)
		return ev_overflow(c->E, c->n);
	set_us(out, V_DUR, r, 0);
	return 0;
}

static int fn_len(struct call *c, struct value *out)
{
	char sp[SPAN_MAX];
	const struct value *a = &c->a[0];
	if (a->t == V_STR)
		set_num(out, (double)strlen(a->u.s), 0);
	else if (a->t == V_JSON && json_is_array(a->u.j))
		set_num(out, (double)json_array_size(a->u.j), 0);
	else if (a->t == V_JSON && json_is_object(a->u.j))
		set_num(out, (double)json_object_size(a->u.j), 0);
	else
		return ev_fail(c->E, "len() needs a string, a list or an object, not %s, in %s", value_an(a),
			       ev_span(c->E, c->n, sp, sizeof(sp)));
	return 0;
}

/* lower() and upper(): ASCII letters from..from+25 become to..to+25. */
static int map_case(struct call *c, struct value *out, char from, char to)
{
	char sp[SPAN_MAX];
	if (c->a[0].t != V_STR)
		return ev_fail(c->E, "%s() needs a string, not %s, in %s", c->name, value_an(&c->a[0]),
			       ev_span(c->E, c->n, sp, sizeof(sp)));
	char *s = xstrdup(c->a[0].u.s);
	for (char *p = s; *p; p++)
		if (*p >= from && *p <= from + 25)
			*p = (char)(*p - from + to);
	set_str(out, s, 0);
	return 0;
}

static int fn_lower(struct call *c, struct value *out)
{
	return map_case(c, out, 'A', 'a');
}

static int fn_upper(struct call *c, struct value *out)
{
	return map_case(c, out, 'a', 'A');
}

static int fn_contains(struct call *c, struct value *out)
{
	char sp[SPAN_MAX];
	const struct value *h = &c->a[0], *x = &c->a[1];
	int r = 0;
	if (h->t == V_STR && x->t == V_STR) {
		set_bool(out, strstr(h->u.s, x->u.s) != NULL, 0);
		return 0;
	}
	if (h->t == V_JSON && json_is_array(h->u.j)) {
		op_in(c->E, c->n, x, h, &r); /* a list: cannot fail */
		set_bool(out, r, 0);
		return 0;
	}
	return ev_fail(c->E, "contains() needs a string and a string, or a list and a value, not %s and %s, in %s",
		       value_an(h), value_an(x), ev_span(c->E, c->n, sp, sizeof(sp)));
}

static int fn_matches(struct call *c, struct value *out)
{
	int r = 0;
	if (regex_match(c->E, c->n, &c->a[0], &c->a[1], &r, NULL) != 0)
		return -1;
	set_bool(out, r, 0);
	return 0;
}

static int fn_capture(struct call *c, struct value *out)
{
	int r = 0;
	char *cap = NULL;
	if (regex_match(c->E, c->n, &c->a[0], &c->a[1], &r, &cap) != 0) {
		free(cap);
		return -1;
	}
	if (r)
		set_str(out, cap, 0);
	return 0;
}

/* default(a, b): a, unless evaluating it fails (a resource limit aside) or
 * yields null; then b, evaluated only then. */
static int fn_default(struct call *c, struct value *out)
{
	if (c->arg(c, 0, out) == 0) {
		if (out->t != V_NULL)
			return 0;
		value_release(out);
	} else if (c->E->fatal) {
		return -1;
	} else {
		free(c->E->err);
		c->E->err = NULL;
	}
	return c->arg(c, 1, out);
}

/* int() and number(): the argument as a number, or -1. */
static int to_number(struct call *c, double *d)
{
	char sp[SPAN_MAX], qb[SPAN_MAX];
	const struct value *a = &c->a[0];
	int ok = 1;
	*d = 0;
	if (a->t == V_NUM)
		*d = a->u.n;
	else if (a->t == V_BOOL)
		*d = a->u.b;
	else if (a->t == V_STR)
		ok = parse_decimal(a->u.s, d) == 0;
	else if (a->t == V_DUR || a->t == V_TIME)
		*d = (double)a->u.us / 1e6;
	else
		ok = 0;
	if (ok)
		return 0;
	return ev_fail(c->E, "%s() cannot read %s as a number in %s", c->name, ev_qval(a, qb, sizeof(qb)),
		       ev_span(c->E, c->n, sp, sizeof(sp)));
}

static int fn_int(struct call *c, struct value *out)
{
	double d;
	if (to_number(c, &d) != 0)
		return -1;
	set_num(out, trunc(d), 0);
	return 0;
}

static int fn_number(struct call *c, struct value *out)
{
	double d;
	if (to_number(c, &d) != 0)
		return -1;
	set_num(out, d, 0);
	return 0;
}

static int fn_string(struct call *c, struct value *out)
{
	char sp[SPAN_MAX];
	char *s = value_text_max(&c->a[0], STR_MAX);
	if (!s)
		return ev_limit(c->E, "the text of %s is larger than 1 MiB", ev_span(c->E, c->n, sp, sizeof(sp)));
	set_str(out, s, 0);
	return 0;
}

/* min() and max(): the first argument when it orders as `first` against the
 * second (or equal), else the second. */
static int pick(struct call *c, struct value *out, int first)
{
	int r;
	if (op_order(c->E, c->n, &c->a[0], &c->a[1], &r) != 0)
		return -1;
	value_copy(out, (first < 0 ? r <= 0 : r >= 0) ? &c->a[0] : &c->a[1]);
	return 0;
}

static int fn_min(struct call *c, struct value *out)
{
	return pick(c, out, -1);
}

static int fn_max(struct call *c, struct value *out)
{
	return pick(c, out, 1);
}

static int fn_keys(struct call *c, struct value *out)
{
	char sp[SPAN_MAX];
	const struct value *a = &c->a[0];
	if (a->t != V_JSON || !json_is_object(a->u.j))
		return ev_fail(c->E, "keys() needs an object, not %s, in %s", value_an(a),
			       ev_span(c->E, c->n, sp, sizeof(sp)));
	json_t *arr = json_array();
	const char *k;
	json_t *x;
	json_object_foreach(a->u.j, k, x)
		json_array_append_new(arr, json_string(k));
	memset(out, 0, sizeof(*out));
	out->t = V_JSON;
	out->u.j = arr;
	return 0;
}

/* In the order "unknown function" lists them. */
const struct builtin expr_builtins[] = {
	{ .name = "now", .min_args = 0, .max_args = 0, .taint = TAINT_NONE, .fn = fn_now },
	{ .name = "duration", .min_args = 1, .max_args = 1, .taint = TAINT_ARGS, .fn = fn_duration },
	{ .name = "timestamp", .min_args = 1, .max_args = 1, .taint = TAINT_ARGS, .fn = fn_timestamp },
	{ .name = "age", .min_args = 1, .max_args = 1, .taint = TAINT_ARGS, .fn = fn_age },
	{ .name = "len", .min_args = 1, .max_args = 1, .taint = TAINT_ARGS, .fn = fn_len },
	{ .name = "lower", .min_args = 1, .max_args = 1, .taint = TAINT_ARGS, .fn = fn_lower },
	{ .name = "upper", .min_args = 1, .max_args = 1, .taint = TAINT_ARGS, .fn = fn_upper },
	{ .name = "contains", .min_args = 2, .max_args = 2, .taint = TAINT_ARGS, .fn = fn_contains },
	{ .name = "matches", .min_args = 2, .max_args = 2, .taint = TAINT_ARGS, .pattern_arg = 2,
	  .fn = fn_matches },
	{ .name = "default", .min_args = 2, .max_args = 2, .taint = TAINT_CHOSEN, .lazy = 1, .fn = fn_default },
	{ .name = "int", .min_args = 1, .max_args = 1, .taint = TAINT_ARGS, .fn = fn_int },
	{ .name = "string", .min_args = 1, .max_args = 1, .taint = TAINT_ARGS, .fn = fn_string },
	{ .name = "number", .min_args = 1, .max_args = 1, .taint = TAINT_ARGS, .fn = fn_number },
	{ .name = "min", .min_args = 2, .max_args = 2, .taint = TAINT_ARGS, .fn = fn_min },
	{ .name = "max", .min_args = 2, .max_args = 2, .taint = TAINT_ARGS, .fn = fn_max },
	{ .name = "keys", .min_args = 1, .max_args = 1, .taint = TAINT_ARGS, .fn = fn_keys },
	{ .name = "capture", .min_args = 2, .max_args = 2, .taint = TAINT_ARGS, .pattern_arg = 2,
	  .fn = fn_capture },
};
const size_t expr_nbuiltins = ARRAY_SIZE(expr_builtins);

/* The index in expr_builtins of the builtin named s[0..n), or -1. */
int builtin_find(const char *s, size_t n)
{
	for (size_t i = 0; i < ARRAY_SIZE(expr_builtins); i++)
		if (strlen(expr_builtins[i].name) == n && !memcmp(expr_builtins[i].name, s, n))
			return (int)i;
	return -1;
}

/* Appends every builtin's name to sb: "now, duration, ... and capture". */
void builtin_names(struct strbuf *sb)
{
	for (size_t i = 0; i < ARRAY_SIZE(expr_builtins); i++)
		sb_addf(sb, "%s%s", i == 0 ? "" : i + 1 == ARRAY_SIZE(expr_builtins) ? " and " : ", ",
			expr_builtins[i].name);
}
