/*
 * test_expr.c: the tests of the expression language and templates
 * (interp/expr_*.c). Most are data: every file tests/expr/NAME.test holds
 * cases (an expression or a template and what it must give: a value, an
 * evaluation error or a syntax error at a column, a type, the taint, the
 * references...), evaluated against the world of tests/expr/world.json;
 * the format is described in tests/expr/README. Each case prints its own
 * PASS or FAIL line. What a case cannot say stays in C below: the value API
 * on hand-made values, a misbehaving resolver, the wall clock, a pattern
 * cache across evaluations, a reference walk stopped early and evaluation
 * without a place for the message.
 *
 *   build/unit/test_expr [DIR]     DIR defaults to tests/expr
 */
#include "expr.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "text.h"
#include "util.h"
#include "unit.h"

/* ---- the world the cases are evaluated against ---- */

static json_t *roots;  /* world.json "roots": params, steps, secret... */
static json_t *typed;  /* world.json "typed": "root.name" -> a timestamp, a duration, a long string */
static int resolve_calls;
static struct eval_ctx ctx;
static struct diags D;
static const struct loc L = { "t.yml", 3, 10 };

/* A typed value of world.json: {"timestamp_us": N}, {"duration_us": N} or
 * {"string_of": "c", "times": N}. */
static int typed_value(json_t *j, struct value *out)
{
	json_t *x;
	if ((x = json_object_get(j, "timestamp_us")) != NULL) {
		out->t = V_TIME;
		out->u.us = json_integer_value(x);
	} else if ((x = json_object_get(j, "duration_us")) != NULL) {
		out->t = V_DUR;
		out->u.us = json_integer_value(x);
	} else if ((x = json_object_get(j, "string_of")) != NULL) {
		size_t n = (size_t)json_integer_value(json_object_get(j, "times"));
		const char *c = json_string_value(x);
		out->t = V_STR;
		out->u.s = xmalloc(n + 1);
		memset(out->u.s, c && c[0] ? c[0] : '?', n);
		out->u.s[n] = '\0';
	} else {
		return -1;
	}
	return 0;
}

/* The resolver: a root's object, a typed value, or a member; a step whose
 * value is null was skipped. */
static int resolve(void *ud, const char *root, const char *name, struct value *out, char **err)
{
	(void)ud;
	resolve_calls++;
	memset(out, 0, sizeof(*out));
	json_t *r = json_object_get(roots, root);
	if (!r) {
		*err = xasprintf("no such root %s", root);
		return -1;
	}
	if (!name) {
		value_from_json(out, r);
		return 0;
	}
	char *key = xasprintf("%s.%s", root, name);
	json_t *t = json_object_get(typed, key);
	free(key);
	if (t)
		return typed_value(t, out);
	json_t *v = json_object_get(r, name);
	if (!v) {
		*err = xasprintf("there is no %s '%s'", root, name);
		return -1;
	}
	if (!strcmp(root, "steps") && json_is_null(v)) {
		*err = xasprintf("step '%s' was skipped", name);
		return -1;
	}
	value_from_json(out, v);
	return 0;
}

static int load_world(const char *dir)
{
	char *path = xasprintf("%s/world.json", dir);
	json_error_t je;
	json_t *w = json_load_file(path, 0, &je);
	if (!w) {
		printf("FAIL: unit/expr/world: %s:%d: %s\n", path, je.line, je.text);
		free(path);
		return -1;
	}
	free(path);
	roots = json_incref(json_object_get(w, "roots"));
	typed = json_incref(json_object_get(w, "typed"));
	ctx.now_us = json_integer_value(json_object_get(w, "now_us"));
	json_decref(w);
	if (!json_is_object(roots) || !json_is_object(typed) || !ctx.now_us) {
		printf("FAIL: unit/expr/world: %s/world.json needs \"roots\", \"typed\" and \"now_us\"\n", dir);
		return -1;
	}
	ctx.resolve = resolve;
	return 0;
}

/* ---- reading the case files ---- */

struct check {
	char key[16];
	int contains;      /* "key~:": a substring */
	int line;
	char *text;
};

struct tcase {
	const char *file;
	int ran;           /* cases of the file run so far */
	int line;
	int tmpl;          /* "tmpl:" rather than "expr:" */
	char *src;
	struct check *checks;
	size_t n, alloc;
};

/* Decodes a "key*:" value: pieces "..." (escapes \n \t \r \\ \" \' \xNN),
 * each optionally followed by "* N" for N copies. NULL when malformed. */
static char *pieces(const char *s)
{
	struct strbuf sb = STRBUF_INIT;
	for (;;) {
		while (*s == ' ')
			s++;
		if (!*s)
			return sb_detach(&sb);
		if (*s != '"')
			break;
		struct strbuf one = STRBUF_INIT;
		for (s++; *s && *s != '"'; s++) {
			char c = *s;
			if (c == '\\') {
				c = *++s;
				if (c == 'n')
					c = '\n';
				else if (c == 't')
					c = '\t';
				else if (c == 'r')
					c = '\r';
				else if (c == 'x' && s[1] && s[2]) {
					char hex[3] = { s[1], s[2], '\0' }, *e;
					c = (char)strtol(hex, &e, 16);
					if (*e)
						break;
					s += 2;
				} else if (c != '\\' && c != '"' && c != '\'') {
					break;
				}
			}
			sb_addc(&one, c);
		}
		if (*s != '"') {
			sb_release(&one);
			break;
		}
		s++;
		long times = 1;
		while (*s == ' ')
			s++;
		if (*s == '*') {
			char *e;
			times = strtol(s + 1, &e, 10);
			s = e;
		}
		for (long i = 0; i < times && one.len; i++)
			sb_add(&sb, sb_str(&one), one.len);
		sb_release(&one);
	}
	sb_release(&sb);
	return NULL;
}

static const char *const keys[] = {
	"value", "error", "syntax", "at", "lacks", "type", "us", "secret", "resolves", "refs", "source", "is-literal",
	"literal",
};

/* Reads one "key: text" line into c; an error message (caller frees) when
 * the line is not one. */
static char *read_check(char *l, struct check *c)
{
	char *colon = strchr(l, ':');
	if (!colon || colon == l || (size_t)(colon - l) >= sizeof(c->key))
		return xasprintf("expected \"key: text\", found \"%.40s\"", l);
	int star = colon[-1] == '*';
	*colon = '\0';
	if (star)
		colon[-1] = '\0';
	size_t kl = strlen(l);
	c->contains = kl > 1 && l[kl - 1] == '~';
	if (c->contains)
		l[kl - 1] = '\0';
	snprintf(c->key, sizeof(c->key), "%s", l);
	char *v = colon + 1;
	if (*v == ' ')
		v++;
	c->text = star ? pieces(v) : xstrdup(v);
	if (!c->text)
		return xasprintf("malformed quoted pieces after \"%s*:\"", l);
	return NULL;
}

/* ---- running a case ---- */

/* What parsing and evaluating a case gave. */
struct outcome {
	struct expr *e;
	struct tmpl *t;
	int rc;            /* of the evaluation */
	char *err;
	struct value v;
	int resolves;
};

static int collect(const struct expr_ref *r, void *ud)
{
	struct strbuf *sb = ud;
	sb_addf(sb, "%s|%s|%s|%d;", r->root, r->name ? r->name : "-", r->field ? r->field : "-", r->loc.col);
	return 0;
}

/* The actual text a check compares, into *got (caller frees), or an error
 * message (caller frees) when the case did not get that far. */
static char *actual(const struct tcase *tc, struct outcome *o, const struct check *c, char **got)
{
	int parsed = o->e || o->t;
	*got = NULL;
	if (!strcmp(c->key, "lacks")) {
		/* whatever the case gave: the syntax error, the evaluation error or the value */
		*got = !parsed ? xstrdup(D.n ? D.v[D.n - 1].msg : "") : o->rc ? xstrdup(o->err ? o->err : "")
									: value_to_text(&o->v);
		return NULL;
	}
	if (!strcmp(c->key, "syntax") || !strcmp(c->key, "at")) {
		if (parsed)
			return xstrdup("it parsed; expected a syntax error");
		if (D.n != 1 || strcmp(D.v[0].rule, "expr-syntax") != 0)
			return xasprintf("%zu diagnostics, expected one expr-syntax", D.n);
		*got = !strcmp(c->key, "at") ? xasprintf("%s:%d:%d", D.v[0].loc.file, D.v[0].loc.line, D.v[0].loc.col)
					     : xstrdup(D.v[0].msg);
		return NULL;
	}
	if (!parsed)
		return xasprintf("syntax error: %s", D.n ? D.v[D.n - 1].msg : "(no diagnostic)");
	if (!strcmp(c->key, "error")) {
		if (o->rc == 0)
			return xstrdup("it evaluated; expected an error");
		*got = xstrdup(o->err ? o->err : "(no message)");
		return NULL;
	}
	if (!strcmp(c->key, "resolves")) {
		*got = xasprintf("%d", o->resolves);
		return NULL;
	}
	if (!strcmp(c->key, "refs")) {
		struct strbuf sb = STRBUF_INIT;
		if (o->e)
			expr_refs(o->e, collect, &sb);
		else
			tmpl_refs(o->t, collect, &sb);
		*got = xstrdup(sb_str(&sb));
		sb_release(&sb);
		return NULL;
	}
	if (!strcmp(c->key, "source")) {
		*got = xstrdup(o->e ? expr_text(o->e) : tmpl_text(o->t));
		return NULL;
	}
	if (!strcmp(c->key, "is-literal") || !strcmp(c->key, "literal")) {
		if (!o->t)
			return xstrdup("only a template (tmpl:) has a literal");
		if (!strcmp(c->key, "is-literal"))
			/* a literal template, and only one, has its literal text */
			*got = xstrdup(tmpl_is_literal(o->t) != (tmpl_literal(o->t) != NULL) ? "inconsistent"
				       : tmpl_is_literal(o->t)				   ? "yes"
											   : "no");
		else if (tmpl_literal(o->t))
			*got = xstrdup(tmpl_literal(o->t));
		else
			return xstrdup("the template has ${...} parts: it has no literal");
		return NULL;
	}
	if (o->rc != 0)
		return xasprintf("evaluation failed: %s", o->err ? o->err : "(no message)");
	if (!strcmp(c->key, "value"))
		*got = value_to_text(&o->v);
	else if (!strcmp(c->key, "type"))
		*got = xstrdup(vtype_name(o->v.t));
	else if (!strcmp(c->key, "secret"))
		*got = xstrdup(o->v.secret ? "yes" : "no");
	else if (!strcmp(c->key, "us") && (o->v.t == V_TIME || o->v.t == V_DUR))
		*got = xasprintf("%lld", (long long)o->v.u.us);
	else
		return xasprintf("%s is %s, which has no %s", tc->tmpl ? "the template" : "the expression",
				 vtype_name(o->v.t), c->key);
	return NULL;
}

/* s for a PASS or FAIL line (caller frees): escaped for the terminal as
 * text_term does, so that the line is valid UTF-8 (tests/run.sh reads it as
 * text), and cut to at most max bytes at a character boundary. */
static char *shown(const char *s, size_t max)
{
	struct strbuf sb = STRBUF_INIT;
	text_term(&sb, s, strlen(s));
	if (sb.len > max) {
		size_t cut = max - 3;
		while (cut > 0 && ((unsigned char)sb.buf[cut] & 0xc0) == 0x80)
			cut--;
		sb.len = cut;
		sb.buf[cut] = '\0';
		sb_adds(&sb, "...");
	}
	return sb_detach(&sb);
}

/* Runs one case: the first check that fails is its FAIL line. */
static void run_case(struct tcase *tc)
{
	struct outcome o;
	memset(&o, 0, sizeof(o));
	diags_release(&D);
	if (tc->tmpl)
		o.t = tmpl_parse(tc->src, L, &D);
	else
		o.e = expr_parse(tc->src, L, &D);
	if (o.e || o.t) {
		resolve_calls = 0;
		o.rc = o.t ? tmpl_eval(o.t, &ctx, &o.v, &o.err) : expr_eval(o.e, &ctx, &o.v, &o.err);
		o.resolves = resolve_calls;
	}
	char *why = tc->n ? NULL : xstrdup("the case asserts nothing");
	for (size_t i = 0; i < tc->n && !why; i++) {
		const struct check *c = &tc->checks[i];
		char *got = NULL;
		char *err = actual(tc, &o, c, &got);
		if (err) {
			why = xasprintf("%s:%d: %s", tc->file, c->line, err);
			free(err);
		} else if (!strcmp(c->key, "lacks") ? strstr(got, c->text) != NULL
			   : c->contains ? !strstr(got, c->text) : strcmp(got, c->text) != 0) {
			char *g = shown(got, 300), *w = shown(c->text, 300);
			why = xasprintf("%s:%d: %s is \"%s\", expected %s\"%s\"", tc->file, c->line,
					!strcmp(c->key, "lacks") ? "the outcome" : c->key, g,
					!strcmp(c->key, "lacks") ? "it not to contain "
					: c->contains	      ? "it to contain "
								: "",
					w);
			free(g);
			free(w);
		}
		free(got);
	}
	char *name = shown(tc->src, 60);
	if (why) {
		unit_failures++;
		printf("FAIL: unit/expr/%s:%d %s: %s\n", tc->file, tc->line, name, why);
	} else {
		printf("PASS: unit/expr/%s:%d %s\n", tc->file, tc->line, name);
	}
	fflush(stdout);
	tc->ran++;
	free(name);
	free(why);
	value_release(&o.v);
	free(o.err);
	expr_free(o.e);
	tmpl_free(o.t);
}

static void case_reset(struct tcase *tc)
{
	for (size_t i = 0; i < tc->n; i++)
		free(tc->checks[i].text);
	free(tc->checks);
	free(tc->src);
	tc->checks = NULL;
	tc->src = NULL;
	tc->n = tc->alloc = 0;
}

/* Reads one line of a case file into tc: a new case (running the one
 * before), a check, or nothing. An error message (caller frees) when the
 * line is malformed. */
static char *case_line(struct tcase *tc, char *l, int lineno)
{
	if (!l[0] || l[0] == '#')
		return NULL;
	struct check c;
	memset(&c, 0, sizeof(c));
	char *err = read_check(l, &c);
	if (err)
		return err;
	if (!strcmp(c.key, "expr") || !strcmp(c.key, "tmpl")) {
		if (tc->src)
			run_case(tc);
		case_reset(tc);
		tc->line = lineno;
		tc->tmpl = !strcmp(c.key, "tmpl");
		tc->src = c.text;
		return c.contains ? xstrdup("a source cannot be \"~:\"") : NULL;
	}
	size_t k = 0;
	while (k < ARRAY_SIZE(keys) && strcmp(keys[k], c.key) != 0)
		k++;
	if (k == ARRAY_SIZE(keys) || !tc->src) {
		free(c.text);
		return xasprintf(!tc->src ? "\"%s:\" before the first expr: or tmpl:" : "unknown key \"%s\"", c.key);
	}
	c.line = lineno;
	if (tc->n == tc->alloc) {
		tc->alloc = tc->alloc ? 2 * tc->alloc : 8;
		tc->checks = xrealloc(tc->checks, tc->alloc * sizeof(*tc->checks));
	}
	tc->checks[tc->n++] = c;
	return NULL;
}

/* Runs every case of one file; the number of cases run, or -1 after a FAIL
 * line for a file that cannot be read or is malformed (the cases before the
 * malformed line have run). */
static int run_file(const char *dir, const char *name)
{
	char *path = xasprintf("%s/%s", dir, name), *data = NULL, *err = NULL;
	size_t len = 0;
	int lineno = 0;
	struct tcase tc;
	memset(&tc, 0, sizeof(tc));
	tc.file = name;
	if (read_file(path, (size_t)64 << 20, &data, &len) != 0)
		err = xasprintf("cannot read %s: %s", path, strerror(errno));
	for (char *l = data, *next; !err && l && l < data + len; l = next) {
		next = strchr(l, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		if ((err = case_line(&tc, l, lineno)) != NULL) {
			char *e = xasprintf("%s:%d: %s", path, lineno, err);
			free(err);
			err = e;
		}
	}
	if (!err && tc.src)
		run_case(&tc);
	if (!err && tc.ran == 0)
		err = xasprintf("%s holds no cases", path);
	if (err) {
		unit_failures++;
		printf("FAIL: unit/expr/%s: %s\n", name, err);
	}
	case_reset(&tc);
	free(data);
	free(path);
	free(err);
	return err ? -1 : tc.ran;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every file of dir named *.test, in name order; fails when there are
 * none. */
static void run_files(const char *dir)
{
	DIR *d = opendir(dir);
	char **names = NULL;
	size_t n = 0;
	if (!d) {
		unit_failures++;
		printf("FAIL: unit/expr/files: cannot open %s: %s (run from the repository root)\n", dir, strerror(errno));
		return;
	}
	for (struct dirent *de; (de = readdir(d)) != NULL;) {
		size_t l = strlen(de->d_name);
		if (l > 5 && !strcmp(de->d_name + l - 5, ".test")) {
			names = xrealloc(names, (n + 1) * sizeof(*names));
			names[n++] = xstrdup(de->d_name);
		}
	}
	closedir(d);
	if (n == 0) {
		unit_failures++;
		printf("FAIL: unit/expr/files: no *.test files in %s\n", dir);
	}
	qsort(names, n, sizeof(*names), by_name);
	for (size_t i = 0; i < n; i++) {
		run_file(dir, names[i]);
		free(names[i]);
	}
	free(names);
}

/* ---- what cannot be data ---- */

/* value_to_json, value_from_json, vtype_name, value_truthy and
 * value_to_text on values made by hand. */
static void value_api(void)
{
	struct value v;
	json_t *j;
	memset(&v, 0, sizeof(v));
	v.t = V_TIME;
	v.u.us = INT64_C(1795932000000000);
	j = value_to_json(&v);
	CHECK(json_is_string(j) && !strcmp(json_string_value(j), "2026-11-29T06:00:00Z"));
	json_decref(j);
	v.t = V_DUR;
	v.u.us = INT64_C(5400000000);
	j = value_to_json(&v);
	CHECK(json_is_string(j) && !strcmp(json_string_value(j), "1h30m"));
	json_decref(j);
	v.t = V_NUM;
	v.u.n = 3;
	j = value_to_json(&v);
	CHECK(json_is_integer(j) && json_integer_value(j) == 3);
	json_decref(j);
	v.u.n = 2.5;
	j = value_to_json(&v);
	CHECK(json_is_real(j) && json_real_value(j) == 2.5);
	json_decref(j);
	v.t = V_BOOL;
	v.u.b = 1;
	j = value_to_json(&v);
	CHECK(json_is_true(j));
	json_decref(j);
	v.t = V_NULL;
	j = value_to_json(&v);
	CHECK(json_is_null(j));
	json_decref(j);
	v.t = V_STR;
	v.u.s = "\xff";
	CHECK(value_to_json(&v) == NULL); /* JSON cannot hold invalid UTF-8 */
	v.u.s = "ok";
	j = value_to_json(&v);
	CHECK(json_is_string(j));
	json_decref(j);

	value_from_json(&v, json_object_get(roots, "params"));
	CHECK(v.t == V_JSON);
	value_release(&v);
	CHECK(v.t == V_NULL);
	j = json_string("s");
	value_from_json(&v, j);
	CHECK(v.t == V_STR && !strcmp(v.u.s, "s"));
	value_release(&v);
	json_decref(j);
	j = json_integer(7);
	value_from_json(&v, j);
	CHECK(v.t == V_NUM && v.u.n == 7);
	json_decref(j);
	value_from_json(&v, json_true());
	CHECK(v.t == V_BOOL && v.u.b);
	value_from_json(&v, json_null());
	CHECK(v.t == V_NULL);
	value_from_json(&v, NULL);
	CHECK(v.t == V_NULL);

	CHECK_STR(vtype_name(V_TIME), "timestamp");
	CHECK_STR(vtype_name(V_DUR), "duration");
	CHECK_STR(vtype_name(V_JSON), "json");
	CHECK_STR(vtype_name(V_NUM), "number");

	struct value t = { .t = V_NUM };
	t.u.n = 0;
	CHECK(!value_truthy(&t));
	t.u.n = -1;
	CHECK(value_truthy(&t));
	t.t = V_STR;
	t.u.s = "";
	CHECK(!value_truthy(&t));
	t.u.s = "0";
	CHECK(value_truthy(&t));
	t.t = V_NULL;
	CHECK(!value_truthy(&t));

	char *s;
	t.t = V_NUM;
	t.u.n = 1e20;
	s = value_to_text(&t);
	CHECK_STR(s, "1e+20");
	free(s);
	t.u.n = -0.0;
	s = value_to_text(&t);
	CHECK_STR(s, "0");
	free(s);
	t.u.n = 123456789012;
	s = value_to_text(&t);
	CHECK_STR(s, "123456789012");
	free(s);
	t.u.n = 4e15;
	s = value_to_text(&t);
	CHECK_STR(s, "4000000000000000");
	free(s);
	t.u.n = -2.5e-7;
	s = value_to_text(&t);
	CHECK_STR(s, "-2.5e-07");
	free(s);
}

/* A resolver that misbehaves: a NULL string, a scalar in V_JSON, an error
 * without a message. */
static int odd_resolve(void *ud, const char *root, const char *name, struct value *out, char **err)
{
	(void)ud;
	(void)root;
	memset(out, 0, sizeof(*out));
	if (name && !strcmp(name, "nullstr")) {
		out->t = V_STR;
		return 0;
	}
	if (name && !strcmp(name, "scalar")) {
		out->t = V_JSON;
		out->u.j = json_integer(4);
		return 0;
	}
	(void)err;
	return -1;
}

static void odd_resolver(void)
{
	struct eval_ctx oc = { odd_resolve, NULL, ctx.now_us, NULL, NULL };
	struct value v;
	char *err = NULL;
	struct expr *e = expr_parse("params.nullstr + 'x'", L, &D);
	CHECK(e && expr_eval(e, &oc, &v, &err) == 0 && v.t == V_STR && !strcmp(v.u.s, "x"));
	value_release(&v);
	expr_free(e);
	e = expr_parse("params.scalar + 1", L, &D);
	CHECK(e && expr_eval(e, &oc, &v, &err) == 0 && v.t == V_NUM && v.u.n == 5);
	value_release(&v);
	expr_free(e);
	e = expr_parse("params.other", L, &D);
	CHECK(e && expr_eval(e, &oc, &v, &err) == -1 && err && strstr(err, "params.other cannot be resolved"));
	free(err);
	err = NULL;
	expr_free(e);
	/* no resolver at all */
	e = expr_parse("params.n", L, &D);
	CHECK(e && expr_eval(e, NULL, &v, &err) == -1 && err && strstr(err, "cannot be resolved here"));
	free(err);
	expr_free(e);
}

/* now() follows the wall clock when the context does not fix it. */
static void now_wall_clock(void)
{
	struct eval_ctx wall = ctx;
	struct value v;
	char *err = NULL;
	wall.now_us = 0;
	struct expr *e = expr_parse("now()", L, &D);
	int64_t before = now_us();
	CHECK(e && expr_eval(e, &wall, &v, &err) == 0 && v.t == V_TIME && v.u.us >= before);
	value_release(&v);
	free(err);
	expr_free(e);
}

/* A computed pattern is compiled at run time and cached in its node: the
 * same parsed expression evaluated again, and again after the pattern
 * changed, matches by the pattern of the moment. */
static void pattern_cache(void)
{
	diags_release(&D);
	struct expr *e = expr_parse("params.db =~ params.pat", L, &D);
	CHECK(e != NULL);
	if (!e)
		return;
	for (int i = 0; i < 3; i++) {
		struct value v;
		char *err = NULL;
		CHECK(expr_eval(e, &ctx, &v, &err) == 0 && v.t == V_BOOL && v.u.b == 1);
		value_release(&v);
		free(err);
	}
	const char *pats[] = { "^or", "^x", "^x", "s$", "(secret)" };
	int want[] = { 1, 0, 0, 1, 0 };
	json_t *params = json_object_get(roots, "params");
	json_t *keep = json_incref(json_object_get(params, "pat"));
	for (int i = 0; i < 5; i++) {
		struct value v;
		char *err = NULL;
		json_object_set_new(params, "pat", json_string(pats[i]));
		CHECK(expr_eval(e, &ctx, &v, &err) == 0 && v.t == V_BOOL && v.u.b == want[i]);
		value_release(&v);
		free(err);
	}
	json_object_set_new(params, "pat", keep);
	expr_free(e);
}

static int stop_at_second(const struct expr_ref *r, void *ud)
{
	int *n = ud;
	(void)r;
	return ++*n == 2 ? 42 : 0;
}

/* expr_refs stops at the callback's first non-zero result and returns it. */
static void refs_stop_early(void)
{
	struct expr *e = expr_parse("steps.dump.bytes > 0 and params.db == 'x' or "
				    "default(steps.skip.out, secret.token) != env.HOME and "
				    "resources.primary-db.host and params and steps.x['y'].z and run.id",
				    L, &D);
	int n = 0;
	CHECK(e && expr_refs(e, stop_at_second, &n) == 42 && n == 2);
	expr_free(e);
}

/* Catastrophic backtracking ends, never hangs: false (PCRE2's own
 * optimisations) or a match limit, as PCRE2's version has it. */
static void backtracking_ends(void)
{
	struct expr *e = expr_parse("'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!' =~ '^(a|a)+$'", L, &D);
	struct value v;
	char *err = NULL;
	int rc = e ? expr_eval(e, &ctx, &v, &err) : -2;
	CHECK((rc == 0 && v.t == V_BOOL && !v.u.b) || (rc == -1 && err && strstr(err, "cannot match")));
	if (rc == 0)
		value_release(&v);
	free(err);
	expr_free(e);
}

/* expr_eval without a place for the message still fails cleanly. */
static void eval_without_message(void)
{
	struct expr *e = expr_parse("1 / 0", L, &D);
	struct value v;
	CHECK(e && expr_eval(e, &ctx, &v, NULL) == -1 && v.t == V_NULL);
	expr_free(e);
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "tests/expr";
	unit_group = "expr";
	diags_init(&D);
	if (load_world(dir) != 0)
		return 1;
	run_files(dir);
	RUN(value_api);
	RUN(odd_resolver);
	RUN(now_wall_clock);
	RUN(pattern_cache);
	RUN(backtracking_ends);
	RUN(refs_stop_early);
	RUN(eval_without_message);
	diags_release(&D);
	json_decref(roots);
	json_decref(typed);
	return UNIT_RESULT();
}
