/*
 * fuzz_expr.c: libFuzzer target for the expression language. Each input is
 * parsed both as a template and as an expression; whatever parses is
 * enumerated for references and evaluated (twice, to exercise the pattern
 * cache) against a resolver with fixed values, including a secret, a
 * timestamp, a duration, JSON objects and lists, and a failing step.
 * Besides crashes, leaks and UB, it aborts when an invariant breaks: a
 * failed parse adds exactly one "expr-syntax" diagnostic inside the input,
 * a successful one adds none, an evaluation error has a message, and a
 * result is secret only when the input mentions secret. The input is also
 * read as a duration and a number on its own: a duration that parses lies
 * in [0, DURATION_MAX_US] and whole seconds survive a round trip through
 * fmt_duration; a number that parses is finite.
 *
 *   make fuzz && build/fuzz/fuzz_expr tests/fuzz/corpus/expr -max_total_time=120
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "expr.h"
#include "util.h"

static json_t *world;

static void setup(void)
{
	if (world)
		return;
	world = json_loads("{\"params\": {\"db\": \"orders\", \"n\": 5, \"ratio\": 0.5, \"empty\": \"\","
			   "   \"none\": null, \"t\": \"2026-11-29T06:00:00Z\", \"pat\": \"^o(r|x)+\","
			   "   \"list\": [1, \"a\", {\"k\": \"v\"}, [2, 3], null, true],"
			   "   \"obj\": {\"a\": 1, \"b-c\": [\"x\"], \"nested\": {\"deep\": {\"er\": 1}}}},"
			   " \"steps\": {\"dump\": {\"outcome\": \"ok\", \"age\": \"30h\", \"bytes\": 1024,"
			   "   \"files\": [\"x.sql\", \"y.sql\"]}, \"skipped\": null},"
			   " \"env\": {\"HOME\": \"/root\"},"
			   " \"resources\": {\"primary-db\": {\"host\": \"db1\", \"port\": 5432}},"
			   " \"run\": {\"id\": \"r1\", \"mode\": \"drill\"}}",
			   0, NULL);
	if (!world)
		abort();
}

static int resolve(void *ud, const char *root, const char *name, struct value *out, char **err)
{
	json_t *w = ud;
	memset(out, 0, sizeof(*out));
	if (!strcmp(root, "secret")) {
		if (!name) {
			*err = xstrdup("'secret' needs a name after it");
			return -1;
		}
		out->t = V_STR;
		out->u.s = xstrdup("hunter2");
		out->secret = 1;
		return 0;
	}
	json_t *r = json_object_get(w, root);
	if (!name) {
		if (strcmp(root, "params") != 0) {
			*err = xasprintf("'%s' needs a name after it", root);
			return -1;
		}
		value_from_json(out, r);
		return 0;
	}
	if (!strcmp(root, "params") && !strcmp(name, "started")) {
		out->t = V_TIME;
		out->u.us = INT64_C(1795932000000000);
		return 0;
	}
	if (!strcmp(root, "params") && !strcmp(name, "lag")) {
		out->t = V_DUR;
		out->u.us = INT64_C(90000000);
		return 0;
	}
	json_t *v = json_object_get(r, name);
	if (!v || (!strcmp(root, "steps") && json_is_null(v))) {
		*err = xasprintf("%s '%s' is not available", root, name);
		return -1;
	}
	value_from_json(out, v);
	return 0;
}

struct refcheck {
	size_t len;
};

static int check_ref(const struct expr_ref *r, void *ud)
{
	struct refcheck *rc = ud;
	if (!r->root || r->loc.col < 1 || (size_t)r->loc.col > rc->len + 1 || (r->field && !r->name))
		abort();
	return 0;
}

/* A parse added exactly one diagnostic inside the input, or none. */
static void check_diags(const struct diags *d, int parsed, size_t len)
{
	if (parsed) {
		if (d->n != 0)
			abort();
		return;
	}
	if (d->n != 1 || strcmp(d->v[0].rule, "expr-syntax") != 0 || !d->v[0].msg[0])
		abort();
	if (d->v[0].loc.col < 1 || (size_t)d->v[0].loc.col > len + 1 || d->v[0].loc.line != 1)
		abort();
}

static void check_value(const struct value *v, int may_be_secret)
{
	if ((unsigned)v->t > V_JSON || (v->secret && !may_be_secret))
		abort();
	char *text = value_to_text(v);
	free(text);
	json_t *j = value_to_json(v);
	json_decref(j);
	(void)value_truthy(v);
	(void)vtype_name(v->t);
}

static void eval_twice(int (*fn)(const void *, const struct eval_ctx *, struct value *, char **), const void *x,
		       int may_be_secret)
{
	struct eval_ctx ctx = { resolve, world, INT64_C(1795942800000000) };
	for (int i = 0; i < 2; i++) {
		struct value v;
		char *err = NULL;
		if (fn(x, &ctx, &v, &err) == 0) {
			if (err)
				abort();
			check_value(&v, may_be_secret);
			value_release(&v);
		} else {
			if (!err || !err[0] || v.t != V_NULL)
				abort();
			free(err);
		}
	}
}

static int eval_expr(const void *e, const struct eval_ctx *ctx, struct value *v, char **err)
{
	return expr_eval(e, ctx, v, err);
}

static int eval_tmpl(const void *t, const struct eval_ctx *ctx, struct value *v, char **err)
{
	return tmpl_eval(t, ctx, v, err);
}

/* The scalar parsers never return what they cannot represent. */
static void check_scalars(const char *s)
{
	int64_t us, back;
	if (parse_duration(s, &us) == 0) {
		if (us < 0 || us > DURATION_MAX_US)
			abort();
		char buf[64];
		if (us % 1000000 == 0 &&
		    (parse_duration(fmt_duration(us, buf, sizeof(buf)), &back) != 0 || back != us))
			abort();
	}
	double d;
	if (parse_decimal(s, &d) == 0 && !isfinite(d))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > ((size_t)256 << 10))
		return 0;
	setup();
	char *s = xstrndup((const char *)data, size);
	size_t len = strlen(s);
	check_scalars(s);
	int may_be_secret = strstr(s, "secret") != NULL;
	struct loc loc = { "fuzz.yml", 1, 1 };
	struct refcheck rc = { len };
	struct diags d;
	diags_init(&d);

	struct tmpl *t = tmpl_parse(s, loc, &d);
	check_diags(&d, t != NULL, len);
	if (t) {
		if (strcmp(tmpl_text(t), s) != 0 || (tmpl_is_literal(t) != (tmpl_literal(t) != NULL)))
			abort();
		tmpl_refs(t, check_ref, &rc);
		eval_twice(eval_tmpl, t, may_be_secret);
		tmpl_free(t);
	}
	diags_release(&d);

	struct expr *e = expr_parse(s, loc, &d);
	check_diags(&d, e != NULL, len);
	if (e) {
		if (strcmp(expr_text(e), s) != 0)
			abort();
		expr_refs(e, check_ref, &rc);
		eval_twice(eval_expr, e, may_be_secret);
		expr_free(e);
	}
	diags_release(&d);
	free(s);
	return 0;
}
