/*
 * test_expr.c: unit tests of the expression language and templates
 * (interp/expr.c): every operator and its precedence, each function, type
 * errors, string/timestamp/duration coercion, secret taint, templates,
 * parse-error columns, reference enumeration and the size/depth bounds.
 */
#include "expr.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "util.h"
#include "unit.h"

/* ---- a resolver over a JSON world ---- */

static json_t *world;
static int resolve_calls;
static char *big; /* a 600 KB string served as params.big */

#define T_2026_11_29_06 INT64_C(1795932000000000) /* 2026-11-29T06:00:00Z */
#define NOW (T_2026_11_29_06 + INT64_C(3600000000) * 3) /* 2026-11-29T09:00:00Z */

static int resolve(void *ud, const char *root, const char *name, struct value *out, char **err)
{
	json_t *w = ud;
	resolve_calls++;
	memset(out, 0, sizeof(*out));
	json_t *r = json_object_get(w, root);
	if (!r) {
		*err = xasprintf("no such root %s", root);
		return -1;
	}
	if (!name) {
		value_from_json(out, r);
		return 0;
	}
	if (!strcmp(root, "params") && !strcmp(name, "started")) {
		out->t = V_TIME;
		out->u.us = T_2026_11_29_06;
		return 0;
	}
	if (!strcmp(root, "params") && !strcmp(name, "lag")) {
		out->t = V_DUR;
		out->u.us = INT64_C(90000000);
		return 0;
	}
	if (!strcmp(root, "params") && !strcmp(name, "big")) {
		out->t = V_STR;
		out->u.s = xstrdup(big);
		return 0;
	}
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

static const struct loc L = { "t.yml", 3, 10 };
static struct eval_ctx ctx;
static struct diags D;

/* A ring of result strings so that tests can compare them inline. */
static char *ring[16];
static int ringi;
static const char *keep(char *s)
{
	free(ring[ringi]);
	ring[ringi] = s;
	ringi = (ringi + 1) % 16;
	return s;
}

/* Parses and evaluates src: its text, "ERR: message" or "PARSE: message". */
static const char *ev(const char *src)
{
	diags_release(&D);
	struct expr *e = expr_parse(src, L, &D);
	if (!e)
		return keep(xasprintf("PARSE: %s", D.n ? D.v[D.n - 1].msg : "(no diagnostic)"));
	struct value v;
	char *err = NULL;
	const char *r;
	if (expr_eval(e, &ctx, &v, &err) != 0) {
		r = keep(xasprintf("ERR: %s", err ? err : "(no message)"));
	} else {
		r = keep(value_to_text(&v));
		value_release(&v);
	}
	free(err);
	expr_free(e);
	return r;
}

/* Evaluates src into *v; 0 or -1. */
static int evv(const char *src, struct value *v)
{
	diags_release(&D);
	memset(v, 0, sizeof(*v));
	struct expr *e = expr_parse(src, L, &D);
	if (!e)
		return -1;
	char *err = NULL;
	int rc = expr_eval(e, &ctx, v, &err);
	free(err);
	expr_free(e);
	return rc;
}

/* The type of src's value, or -1. */
static int evt(const char *src)
{
	struct value v;
	if (evv(src, &v) != 0)
		return -1;
	int t = v.t;
	value_release(&v);
	return t;
}

/* 1 when src evaluates to a secret value. */
static int secret_of(const char *src)
{
	struct value v;
	if (evv(src, &v) != 0)
		return -1;
	int s = v.secret;
	value_release(&v);
	return s;
}

/* Parses src expecting a syntax error; returns the diagnostic. */
static const struct diag *perr(const char *src)
{
	diags_release(&D);
	struct expr *e = expr_parse(src, L, &D);
	if (e) {
		expr_free(e);
		return NULL;
	}
	return D.n == 1 ? &D.v[0] : NULL;
}

static int has(const char *s, const char *sub)
{
	return s && strstr(s, sub) != NULL;
}

static const char *tv(const char *s);
static char *repeat(const char *a, int n, const char *mid, const char *b);

/* ---- literals ---- */

static void literals_numbers(void)
{
	CHECK_STR(ev("42"), "42");
	CHECK_STR(ev("1.5"), "1.5");
	CHECK_STR(ev("0.25"), "0.25");
	CHECK_STR(ev("-7"), "-7");
	CHECK_STR(ev("10.0"), "10");
	CHECK(evt("3") == V_NUM);
	CHECK_STR(ev("0.1 + 0.2"), "0.30000000000000004");
	CHECK(has(ev("1e5"), "PARSE: invalid number '1e5'"));
}

static void literals_strings(void)
{
	CHECK_STR(ev("'single'"), "single");
	CHECK_STR(ev("\"double\""), "double");
	CHECK_STR(ev("\"a\\\"b\""), "a\"b");
	CHECK_STR(ev("'it\\'s'"), "it's");
	CHECK_STR(ev("'back\\\\slash'"), "back\\slash");
	CHECK_STR(ev("'a\\nb\\tc'"), "a\nb\tc");
	CHECK_STR(ev("'caf\\u00e9'"), "caf\xc3\xa9");
	CHECK_STR(ev("'\\u20AC'"), "\xe2\x82\xac");
	CHECK_STR(ev("'\\ud83d\\ude00'"), "\xf0\x9f\x98\x80");
	CHECK_STR(ev("''"), "");
	CHECK_STR(ev("'don\"t'"), "don\"t");
	/* other backslashes stay as written, for patterns */
	CHECK_STR(ev("'\\q\\d\\)'"), "\\q\\d\\)");
	CHECK_STR(ev("'a\\'"), "PARSE: unterminated string starting here; close it with a single quote (')");
	CHECK(has(ev("'\\u00'"), "PARSE: invalid escape"));
	CHECK(has(ev("'\\ud800'"), "lone UTF-16 surrogate"));
	CHECK(has(ev("'\\u0000'"), "NUL"));
}

static void literals_keywords(void)
{
	CHECK_STR(ev("true"), "true");
	CHECK_STR(ev("false"), "false");
	CHECK_STR(ev("null"), "");
	CHECK(evt("null") == V_NULL);
	CHECK(evt("true") == V_BOOL);
}

static void literals_durations(void)
{
	struct value v;
	CHECK(evv("90s", &v) == 0 && v.t == V_DUR && v.u.us == INT64_C(90000000));
	value_release(&v);
	CHECK(evv("1h30m", &v) == 0 && v.t == V_DUR && v.u.us == INT64_C(5400000000));
	value_release(&v);
	CHECK(evv("250ms", &v) == 0 && v.u.us == 250000);
	value_release(&v);
	CHECK(evv("1.5h", &v) == 0 && v.u.us == INT64_C(5400000000));
	value_release(&v);
	CHECK(evv("7d", &v) == 0 && v.u.us == INT64_C(604800000000));
	value_release(&v);
	CHECK(evv("-15m", &v) == 0 && v.u.us == -INT64_C(900000000));
	value_release(&v);
	CHECK_STR(ev("90s"), "1m30s");
	CHECK_STR(ev("15m"), "15m");
	CHECK(has(ev("5min"), "PARSE: invalid duration '5min'"));
	CHECK(has(ev("1h30"), "PARSE: invalid duration '1h30'"));
	CHECK(has(ev("99999999999999999d"), "PARSE: invalid duration"));
}

static void literals_timestamps(void)
{
	struct value v;
	CHECK(evv("2026-11-29T06:00:00Z", &v) == 0 && v.t == V_TIME && v.u.us == T_2026_11_29_06);
	value_release(&v);
	CHECK_STR(ev("2026-11-29T09:10:00+03:10"), "2026-11-29T06:00:00Z");
	CHECK_STR(ev("2026-11-29T06:00:00.25Z"), "2026-11-29T06:00:00.25Z");
	CHECK_STR(ev("1999-12-31t23:59:59z"), "1999-12-31T23:59:59Z");
	CHECK(has(ev("2026-13-01T00:00:00Z"), "PARSE: invalid timestamp '2026-13-01T00:00:00Z'"));
	CHECK(has(ev("2026-11-29"), "PARSE: invalid timestamp '2026-11-29'"));
	CHECK(has(ev("2026-11-29T06:00:00"), "a time and a zone"));
	/* a timestamp next to an operator without spaces */
	CHECK_STR(ev("2026-11-29T06:00:00Z-1h"), "2026-11-29T05:00:00Z");
}

static void literals_lists(void)
{
	CHECK_STR(ev("[1, 'a', true, null]"), "[1,\"a\",true,null]");
	CHECK_STR(ev("[]"), "[]");
	CHECK_STR(ev("[1, [2, 3],]"), "[1,[2,3]]");
	CHECK_STR(ev("[90s, 2026-11-29T06:00:00Z]"), "[\"1m30s\",\"2026-11-29T06:00:00Z\"]");
	CHECK(evt("[1]") == V_JSON);
	CHECK(has(ev("[1, 2"), "PARSE: unexpected end of expression; expected ',' or ']' in the list"));
}

/* ---- operators ---- */

static void arithmetic_numbers(void)
{
	CHECK_STR(ev("1 + 2"), "3");
	CHECK_STR(ev("5 - 7"), "-2");
	CHECK_STR(ev("6 * 7"), "42");
	CHECK_STR(ev("7 / 2"), "3.5");
	CHECK_STR(ev("7 % 3"), "1");
	CHECK_STR(ev("-7 % 3"), "-1");
	CHECK_STR(ev("-(2 + 3)"), "-5");
	CHECK_STR(ev("- -4"), "4");
	CHECK_STR(ev("-params.lag"), "-1m30s");
	CHECK_STR(ev("params.n- 1"), "4");
	CHECK(has(ev("1" "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
		     "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
		     "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
		     "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"),
		  "PARSE: number '100000000000000000000000000000000000000000000000...' is too large"));
	CHECK_STR(ev("params.n * 2"), "10");
	CHECK_STR(ev("'ab' + 'cd'"), "abcd");
	CHECK_STR(ev("params.db + '_copy'"), "orders_copy");
	CHECK(has(ev("1 / 0"), "ERR: division by zero in '1 / 0'"));
	CHECK(has(ev("1 % 0"), "ERR: division by zero"));
	CHECK(has(ev("1e300"), "PARSE"));
	CHECK(has(ev("99999999999999999999999999999999 * 99999999999999999999999999999999 * "
		     "99999999999999999999999999999999 * 99999999999999999999999999999999 * "
		     "99999999999999999999999999999999 * 99999999999999999999999999999999 * "
		     "99999999999999999999999999999999 * 99999999999999999999999999999999 * "
		     "99999999999999999999999999999999 * 99999999999999999999999999999999"),
		  "ERR: the result of"));
}

static void arithmetic_type_errors(void)
{
	CHECK_STR(ev("1 + 'a'"), "ERR: cannot apply '+' to a number and a string in '1 + 'a''; "
				 "convert one side with number() or string()");
	CHECK(has(ev("true + 1"), "ERR: cannot apply '+' to a bool and a number"));
	CHECK(has(ev("'a' - 'b'"), "ERR: cannot apply '-' to a string and a string"));
	CHECK(has(ev("null * 2"), "cannot apply '*' to null and a number"));
	CHECK(has(ev("[1] + [2]"), "cannot apply '+' to a list and a list"));
	CHECK(has(ev("2026-01-01T00:00:00Z + 2026-01-01T00:00:00Z"), "cannot apply '+' to a timestamp and a timestamp"));
	CHECK(has(ev("1h - 2026-01-01T00:00:00Z"), "cannot apply '-' to a duration and a timestamp"));
	CHECK(has(ev("2 / 1h"), "cannot apply '/' to a number and a duration"));
	CHECK(has(ev("1h % 2"), "cannot apply '%' to a duration and a number"));
	CHECK(has(ev("-'a'"), "ERR: cannot negate a string in '-'a''"));
	CHECK(has(ev("params.n + steps.dump.meta"), "to a number and an object in 'params.n + steps.dump.meta'"));
}

static void arithmetic_time(void)
{
	CHECK_STR(ev("2026-01-02T00:00:00Z - 2026-01-01T00:00:00Z == 24h"), "true");
	CHECK_STR(ev("2026-01-02T00:00:00Z - 2026-01-01T00:00:00Z"), "1d");
	CHECK_STR(ev("2026-11-29T06:00:00Z + 90m"), "2026-11-29T07:30:00Z");
	CHECK_STR(ev("30m + 2026-11-29T06:00:00Z"), "2026-11-29T06:30:00Z");
	CHECK_STR(ev("2026-11-29T06:00:00Z - 1d"), "2026-11-28T06:00:00Z");
	CHECK_STR(ev("1h + 30m"), "1h30m");
	CHECK_STR(ev("1h - 90m"), "-30m");
	CHECK_STR(ev("1h30m == 90m"), "true");
	CHECK_STR(ev("15m * 4"), "1h");
	CHECK_STR(ev("2 * 15m"), "30m");
	CHECK_STR(ev("1h / 4"), "15m");
	CHECK_STR(ev("1h / 15m"), "4");
	CHECK(evt("1h / 15m") == V_NUM);
	CHECK(has(ev("1h / 0"), "division by zero"));
	CHECK(has(ev("1h / 0s"), "division by zero"));
	/* a string next to a time or a duration is read as one */
	CHECK_STR(ev("params.restore_to + 1h"), "2026-11-29T07:00:00Z");
	CHECK_STR(ev("1h + '30m'"), "1h30m");
	CHECK(has(ev("1h + 'soon'"), "cannot apply '+' to a duration and a string"));
	CHECK(has(ev("9999-12-31T00:00:00Z + 2d"), "ERR: timestamp out of range"));
	CHECK(has(ev("36500d * 100000"), "ERR: the result of"));
	/* a literal past the longest duration is a syntax error, not a wrap */
	CHECK(has(ev("100000d * 2"), "the longest is 36500d"));
	CHECK(has(ev("duration('5555555555555s5555555555555s')"), "ERR:"));
}

static void comparisons(void)
{
	CHECK_STR(ev("1 == 1"), "true");
	CHECK_STR(ev("1 != 1"), "false");
	CHECK_STR(ev("1 < 2"), "true");
	CHECK_STR(ev("2 <= 2"), "true");
	CHECK_STR(ev("3 > 2"), "true");
	CHECK_STR(ev("2 >= 3"), "false");
	CHECK_STR(ev("'abc' < 'abd'"), "true");
	CHECK_STR(ev("'B' < 'a'"), "true");
	CHECK_STR(ev("'a' == 'a'"), "true");
	CHECK_STR(ev("null == null"), "true");
	CHECK_STR(ev("null == false"), "false");
	CHECK_STR(ev("true == true"), "true");
	CHECK_STR(ev("1 == '1'"), "false");
	CHECK_STR(ev("1 != '1'"), "true");
	CHECK(has(ev("1 < '1'"), "ERR: cannot compare a number with a string"));
	CHECK(has(ev("true < false"), "ERR: cannot compare a bool with a bool"));
	CHECK_STR(ev("steps.dump.files == ['x.sql', 'y.sql']"), "true");
	CHECK_STR(ev("steps.dump.meta == steps.dump.meta"), "true");
	CHECK_STR(ev("steps.dump.files == ['y.sql', 'x.sql']"), "false");
	CHECK_STR(ev("1h < 2h"), "true");
	CHECK_STR(ev("2026-01-01T00:00:00Z < 2026-01-02T00:00:00Z"), "true");
	CHECK(evt("1 < 2") == V_BOOL);
}

static void comparison_coercion(void)
{
	/* params.restore_to arrives as an RFC 3339 string */
	CHECK_STR(ev("params.restore_to < now()"), "true");
	CHECK_STR(ev("params.restore_to == 2026-11-29T06:00:00Z"), "true");
	CHECK_STR(ev("2026-11-29T07:00:00+01:00 == params.restore_to"), "true");
	CHECK_STR(ev("params.started == '2026-11-29T06:00:00Z'"), "true");
	CHECK_STR(ev("params.started < '2026-11-29T07:00:00Z'"), "true");
	CHECK_STR(ev("params.started == 'latest'"), "false");
	CHECK(has(ev("params.started < 'latest'"), "ERR: cannot compare a timestamp with 'latest'"));
	/* durations: strings and numbers of seconds */
	CHECK_STR(ev("params.lag > '1m'"), "true");
	CHECK_STR(ev("params.lag == '90s'"), "true");
	CHECK_STR(ev("params.lag == '1m30s'"), "true");
	CHECK_STR(ev("params.lag < 100"), "true");
	CHECK_STR(ev("params.lag == 90"), "true");
	CHECK_STR(ev("duration(steps.dump.age) > '26h'"), "true");
	CHECK_STR(ev("age(params.restore_to) > '2h'"), "true");
	CHECK(has(ev("params.lag < 'slow'"), "ERR: cannot compare a duration with 'slow'"));
	CHECK_STR(ev("params.lag == 'slow'"), "false");
	/* a timestamp and a duration are different things */
	CHECK_STR(ev("params.lag == params.started"), "false");
}

static void chained_comparison_is_an_error(void)
{
	const struct diag *g = perr("1 < 2 < 3");
	CHECK(g != NULL);
	if (!g)
		return;
	CHECK_STR(g->rule, "expr-syntax");
	CHECK(g->loc.col == 10 + 6);
	CHECK(has(g->msg, "comparisons cannot be chained"));
	g = perr("a == b");
	CHECK(g && has(g->msg, "unknown name 'a'"));
	g = perr("params.a == params.b != true");
	CHECK(g && g->loc.col == 10 + 21 && has(g->msg, "'!=' follows '=='"));
}

static void logic(void)
{
	CHECK_STR(ev("true and false"), "false");
	CHECK_STR(ev("true && true"), "true");
	CHECK_STR(ev("false or true"), "true");
	CHECK_STR(ev("false || false"), "false");
	CHECK_STR(ev("not true"), "false");
	CHECK_STR(ev("!false"), "true");
	CHECK_STR(ev("!!1"), "true");
	CHECK_STR(ev("1 and 'x'"), "true");
	CHECK(evt("1 and 'x'") == V_BOOL);
	CHECK_STR(ev("0 or ''"), "false");
	CHECK(evt("0 or ''") == V_BOOL);
	/* short-circuit: the right side is not evaluated */
	resolve_calls = 0;
	CHECK_STR(ev("false and steps.nope.x"), "false");
	CHECK_STR(ev("true or steps.nope.x"), "true");
	CHECK(resolve_calls == 0);
	CHECK(has(ev("true and steps.nope.x"), "ERR: there is no steps 'nope'"));
	/* truthiness */
	CHECK_STR(ev("not params.empty"), "true");
	CHECK_STR(ev("not params.nothing"), "true");
	CHECK_STR(ev("not []"), "true");
	CHECK_STR(ev("not params.tags"), "false");
	CHECK_STR(ev("not 0s"), "true");
	CHECK_STR(ev("not 2026-01-01T00:00:00Z"), "false");
}

static void conditional(void)
{
	CHECK_STR(ev("true ? 1 : 2"), "1");
	CHECK_STR(ev("false ? 1 : 2"), "2");
	CHECK_STR(ev("false ? 1 : true ? 2 : 3"), "2");
	CHECK_STR(ev("false ? 1 : false ? 2 : 3"), "3");
	CHECK_STR(ev("true ? false ? 1 : 2 : 3"), "2");
	CHECK_STR(ev("params.n > 3 ? 'big' : 'small'"), "big");
	/* the branch not taken is not evaluated */
	CHECK_STR(ev("true ? 1 : steps.nope.x"), "1");
	const struct diag *g = perr("true ? 1 2");
	CHECK(g && g->loc.col == 10 + 9);
	CHECK(g && has(g->msg, "expected ':' after '?' branch, found '2'"));
}

static void precedence(void)
{
	CHECK_STR(ev("1 + 2 * 3"), "7");
	CHECK_STR(ev("(1 + 2) * 3"), "9");
	CHECK_STR(ev("2 * 3 + 4 * 5"), "26");
	CHECK_STR(ev("10 - 4 - 3"), "3");
	CHECK_STR(ev("16 / 4 / 2"), "2");
	CHECK_STR(ev("2 * 3 % 4"), "2");
	CHECK_STR(ev("-2 * -3"), "6");
	CHECK_STR(ev("-params.n * 2"), "-10");
	CHECK_STR(ev("1 + 2 == 3"), "true");
	CHECK_STR(ev("true or false and false"), "true");
	CHECK_STR(ev("false and true or true"), "true");
	CHECK_STR(ev("not true or true"), "true");
	CHECK_STR(ev("not 1 == 2"), "true");
	CHECK_STR(ev("!true == false"), "true");
	CHECK_STR(ev("1 + 2 == 3 and not false"), "true");
	CHECK_STR(ev("true ? 1 : 2 + 10"), "1");
	CHECK_STR(ev("false or true ? 'y' : 'n'"), "y");
	CHECK_STR(ev("'a' in ['a'] and 1 < 2"), "true");
	CHECK_STR(ev("'x' + 'y' in 'axyb'"), "true");
	CHECK_STR(ev("steps.dump.files[0] + '!'"), "x.sql!");
	CHECK_STR(ev("len('ab') * 2"), "4");
}

static void regex_match(void)
{
	CHECK_STR(ev("params.db =~ '^ord'"), "true");
	CHECK_STR(ev("params.db =~ 'ERS$'"), "false");
	CHECK_STR(ev("params.db =~ '(?i)ERS$'"), "true");
	CHECK_STR(ev("'12.5' =~ '^\\d+\\.\\d+$'"), "true");
	CHECK_STR(ev("'12x5' =~ '^\\d+\\.\\d+$'"), "false");
	CHECK_STR(ev("'pg_restore (PostgreSQL) 16.2' =~ '\\) 1[5-9]'"), "true");
	/* a literal backslash: \\ in the string makes \ in the pattern */
	CHECK_STR(ev("'a\\\\b' =~ '^a\\\\\\\\b$'"), "true");
	CHECK_STR(ev("'a\\\\b'"), "a\\b");
	CHECK_STR(ev("'caf\\u00e9' =~ '^caf.$'"), "true");
	CHECK(evt("params.db =~ 'o'") == V_BOOL);
	/* a computed pattern, compiled at run time and cached */
	diags_release(&D);
	struct expr *e = expr_parse("params.db =~ params.pat", L, &D);
	CHECK(e != NULL);
	if (e) {
		for (int i = 0; i < 3; i++) {
			struct value v;
			char *err = NULL;
			CHECK(expr_eval(e, &ctx, &v, &err) == 0 && v.t == V_BOOL && v.u.b == 1);
			value_release(&v);
			free(err);
		}
		expr_free(e);
	}
	/* the cache follows a pattern that changes between evaluations */
	e = expr_parse("params.db =~ params.pat", L, &D);
	CHECK(e != NULL);
	if (e) {
		const char *pats[] = { "^or", "^x", "^x", "s$", "(secret)" };
		int want[] = { 1, 0, 0, 1, 0 };
		json_t *params = json_object_get(world, "params");
		for (int i = 0; i < 5; i++) {
			struct value v;
			char *err = NULL;
			json_object_set_new(params, "pat", json_string(pats[i]));
			CHECK(expr_eval(e, &ctx, &v, &err) == 0 && v.t == V_BOOL && v.u.b == want[i]);
			value_release(&v);
			free(err);
		}
		json_object_set_new(params, "pat", json_string("^or.*s$"));
		expr_free(e);
	}
	/* a secret pattern is cached too, and never quoted */
	e = expr_parse("'hunter2' =~ secret.pw", L, &D);
	if (e) {
		struct value v;
		char *err = NULL;
		CHECK(expr_eval(e, &ctx, &v, &err) == 0 && v.u.b == 1 && v.secret == 0);
		value_release(&v);
		free(err);
		expr_free(e);
	}
	CHECK(has(ev("'a' =~ params.badpat"), "ERR: invalid regular expression '(unclosed'"));
	CHECK(has(ev("1 =~ 'a'"), "ERR: '=~' needs a string and a pattern string, not a number"));
	/* a literal pattern is compiled at parse time */
	const struct diag *g = perr("params.db =~ '(oops'");
	CHECK(g && g->loc.col == 10 + 13);
	CHECK(g && has(g->msg, "invalid regular expression '(oops'"));
	/* catastrophic backtracking ends (a match limit or PCRE2's own
	 * optimisations), never hangs */
	const char *r = ev("'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!' =~ '^(a|a)+$'");
	CHECK(!strcmp(r, "false") || has(r, "ERR: cannot match"));
	r = ev("'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!' =~ '^(a|aa)+$'");
	CHECK(has(r, "ERR: cannot match ''aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!' =~ '^(a|aa)+$'': match limit exceeded"));
	/* a match over its budget is not hidden by default() */
	CHECK(has(ev("default('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!' =~ '^(a|aa)+$', false)"), "match limit exceeded"));
	/* at most 64 matches in one evaluation, a template's parts together */
	char *many = repeat("'a' =~ 'a', ", 64, "", "");
	char *list = xasprintf("[%s]", many);
	CHECK(has(ev(list), "true,true]"));
	free(list);
	list = xasprintf("[%s 'b' =~ 'b']", many);
	CHECK(has(ev(list), "ERR: more than 64 pattern matches in one evaluation, at ''b' =~ 'b''"));
	free(list);
	free(many);
	many = repeat("${'a' =~ 'a'}", 65, "", "");
	CHECK(has(tv(many), "ERR: more than 64 pattern matches"));
	free(many);
	many = repeat("${'a' =~ 'a'}", 64, "", "");
	CHECK(has(tv(many), "truetrue"));
	free(many);
}

static void in_operator(void)
{
	CHECK_STR(ev("'a' in params.tags"), "true");
	CHECK_STR(ev("'z' in params.tags"), "false");
	CHECK_STR(ev("'ord' in params.db"), "true");
	CHECK_STR(ev("'k' in steps.dump.meta"), "true");
	CHECK_STR(ev("'nope' in steps.dump.meta"), "false");
	CHECK_STR(ev("5 in [1, 5]"), "true");
	CHECK_STR(ev("'5' in [1, 5]"), "false");
	CHECK_STR(ev("[2] in [[1], [2]]"), "true");
	CHECK_STR(ev("params.restore_to in [2026-11-29T06:00:00Z]"), "true");
	CHECK(has(ev("1 in 5"), "ERR: 'in' needs a list, an object or a string on its right, not a number"));
	CHECK(has(ev("1 in 'abc'"), "ERR: 'in' cannot look for a number in a string"));
	CHECK(evt("'a' in 'abc'") == V_BOOL);
}

/* ---- members, indexes, roots ---- */

static void members_and_indexes(void)
{
	CHECK_STR(ev("steps.dump.meta.k"), "v");
	CHECK_STR(ev("steps.dump.meta['my-key']"), "1");
	CHECK_STR(ev("steps.dump.meta.my-key"), "1");
	CHECK_STR(ev("steps.dump.meta.my-key-1"), "ERR: steps.dump.meta has no field 'my-key-1'");
	CHECK_STR(ev("steps.dump.meta.my-key - 1"), "0");
	CHECK_STR(ev("steps.dump.files[1]"), "y.sql");
	CHECK_STR(ev("steps.dump.files[params.n - 5]"), "x.sql");
	CHECK_STR(ev("resources.primary-db.host"), "db1");
	CHECK_STR(ev("resources['primary-db'].port + 1"), "5433");
	CHECK_STR(ev("env.HOME"), "/root");
	CHECK_STR(ev("run.mode"), "drill");
	CHECK_STR(ev("steps.baseline.state.tables[0]"), "a");
	CHECK_STR(ev("steps.dump.kye"), "ERR: steps.dump has no field 'kye'");
	CHECK_STR(ev("steps.baseline.state.rowz"), "ERR: steps.baseline.state has no field 'rowz'");
	CHECK(has(ev("steps.dump.files[2]"), "ERR: steps.dump.files has no element 2 (it has 2"));
	CHECK(has(ev("steps.dump.files[0.5]"), "has no element 0.5"));
	CHECK(has(ev("steps.dump.files[-1]"), "has no element -1"));
	CHECK(has(ev("steps.dump.files.first"), "ERR: steps.dump.files is a list, not an object"));
	CHECK(has(ev("params.db.x"), "ERR: params.db is a string, not an object, so it has no field 'x'"));
	CHECK(has(ev("params.n['x']"), "ERR: cannot index params.n (a number) with a string"));
	CHECK(has(ev("steps.dump.files['x']"), "cannot index steps.dump.files (a list) with a string"));
	CHECK(has(ev("steps.skipped.out"), "ERR: step 'skipped' was skipped"));
	/* a bare root asks the resolver with no name */
	CHECK(evt("params") == V_JSON);
	CHECK_STR(ev("params.tags"), "[\"a\",\"b\"]");
	CHECK_STR(ev("params['db']"), "orders");
	CHECK_STR(ev("params . db"), "orders");
	/* field names may be keywords or start with digits */
	CHECK_STR(ev("steps.dump.meta.in"), "ERR: steps.dump.meta has no field 'in'");
	const struct diag *g = perr("params.");
	CHECK(g && g->loc.col == 10 + 7 && has(g->msg, "expected a field name after '.'"));
	g = perr("params.+");
	CHECK(g && has(g->msg, "found '+'"));
}

static void unknown_names(void)
{
	const struct diag *g = perr("foo == 1");
	CHECK(g != NULL);
	CHECK(g && g->loc.col == 10 && g->loc.line == 3);
	CHECK(g && !strcmp(g->msg, "unknown name 'foo'; names start with params., env., secret., steps., "
				   "resources. or run."));
	g = perr("params.x and stepz.y");
	CHECK(g && g->loc.col == 10 + 13);
	g = perr("now + 1h");
	CHECK(g && has(g->msg, "'now' is a function; call it with parentheses"));
}

/* ---- functions ---- */

static void fn_time(void)
{
	struct value v;
	CHECK(evv("now()", &v) == 0 && v.t == V_TIME && v.u.us == NOW);
	value_release(&v);
	CHECK_STR(ev("now()"), "2026-11-29T09:00:00Z");
	CHECK_STR(ev("age(params.restore_to)"), "3h");
	CHECK_STR(ev("age(params.started)"), "3h");
	CHECK(evt("age(params.started)") == V_DUR);
	CHECK_STR(ev("age(2026-11-29T10:00:00Z)"), "-1h");
	CHECK(has(ev("age(5)"), "ERR: age() needs a timestamp"));
	CHECK(evt("timestamp('2026-11-29T06:00:00Z')") == V_TIME);
	CHECK_STR(ev("timestamp('2026-11-29T06:00:00Z') == params.started"), "true");
	CHECK_STR(ev("timestamp(0)"), "1970-01-01T00:00:00Z");
	CHECK(has(ev("timestamp('yesterday')"), "ERR: timestamp() cannot read 'yesterday' as a timestamp"));
	CHECK(evt("duration('1h30m')") == V_DUR);
	CHECK_STR(ev("duration('1h30m') == 90m"), "true");
	CHECK_STR(ev("duration(90)"), "1m30s");
	CHECK_STR(ev("duration(1h)"), "1h");
	CHECK(has(ev("duration('soon')"), "ERR: duration() cannot read 'soon' as a duration"));
	CHECK(has(ev("duration(true)"), "duration() cannot read a bool"));
	/* now() is fixed within one evaluation and follows ctx.now_us */
	CHECK_STR(ev("now() - now()"), "0s");
	struct eval_ctx wall = ctx;
	wall.now_us = 0;
	struct expr *e = expr_parse("now()", L, &D);
	int64_t before = now_us();
	char *err = NULL;
	CHECK(e && expr_eval(e, &wall, &v, &err) == 0 && v.t == V_TIME && v.u.us >= before);
	value_release(&v);
	free(err);
	expr_free(e);
}

static void fn_strings(void)
{
	CHECK_STR(ev("len('h\\u00e9llo')"), "6");
	CHECK_STR(ev("len(params.tags)"), "2");
	CHECK_STR(ev("len(steps.dump.meta)"), "2");
	CHECK_STR(ev("len('')"), "0");
	CHECK(has(ev("len(5)"), "ERR: len() needs a string, a list or an object, not a number"));
	CHECK_STR(ev("lower('MiXeD 1')"), "mixed 1");
	CHECK_STR(ev("upper('MiXeD 1')"), "MIXED 1");
	CHECK(has(ev("upper(1)"), "ERR: upper() needs a string, not a number"));
	CHECK_STR(ev("contains('orders_db', 'ders')"), "true");
	CHECK_STR(ev("contains(params.tags, 'b')"), "true");
	CHECK_STR(ev("contains(params.tags, 'c')"), "false");
	CHECK(has(ev("contains(5, 'b')"), "ERR: contains() needs"));
	CHECK_STR(ev("matches('db-01', '^db-[0-9]+$')"), "true");
	CHECK_STR(ev("matches(params.db, params.pat)"), "true");
	CHECK(has(ev("matches('a', 'b(')"), "PARSE: invalid regular expression"));
	CHECK(has(ev("matches(1, 'b')"), "ERR: matches() needs a string"));
	CHECK_STR(ev("capture('pg_restore (PostgreSQL) 15.20', '\\\\) ([0-9]+)')"), "15");
	CHECK_STR(ev("capture('abc', 'b')"), "b");
	CHECK_STR(ev("capture('abc', 'x(y)')"), "");
	CHECK_STR(ev("int(capture(' Avail\\n81660M\\n', '([0-9]+)M')) + 1"), "81661");
}

static void fn_conversions(void)
{
	CHECK_STR(ev("int(3.7)"), "3");
	CHECK_STR(ev("int(-3.7)"), "-3");
	CHECK_STR(ev("int('42')"), "42");
	CHECK_STR(ev("int(' 42\\n')"), "42");
	CHECK_STR(ev("int(true)"), "1");
	CHECK_STR(ev("int(90s)"), "90");
	CHECK(has(ev("int('4x')"), "ERR: int() cannot read '4x' as a number"));
	CHECK(has(ev("int(null)"), "ERR: int() cannot read null as a number"));
	CHECK_STR(ev("number('2.5')"), "2.5");
	CHECK_STR(ev("number('-1e3')"), "-1000");
	CHECK_STR(ev("number(1500ms)"), "1.5");
	CHECK_STR(ev("number(1970-01-01T00:01:00Z)"), "60");
	CHECK(has(ev("number('inf')"), "ERR: number() cannot read 'inf'"));
	CHECK(has(ev("number('0x10')"), "ERR"));
	CHECK_STR(ev("string(5)"), "5");
	CHECK(evt("string(5)") == V_STR);
	CHECK_STR(ev("string(5) + '!'"), "5!");
	CHECK_STR(ev("string(2.5)"), "2.5");
	CHECK_STR(ev("string(null)"), "");
	CHECK_STR(ev("string([1, 'a'])"), "[1,\"a\"]");
	CHECK_STR(ev("string(steps.baseline.state)"), "{\"rows\":10,\"tables\":[\"a\",\"b\"]}");
	CHECK_STR(ev("string(90m)"), "1h30m");
	CHECK_STR(ev("string(params.started)"), "2026-11-29T06:00:00Z");
}

static void fn_min_max_keys(void)
{
	CHECK_STR(ev("min(3, 2)"), "2");
	CHECK_STR(ev("max(3, 2)"), "3");
	CHECK_STR(ev("min(1h, 30m)"), "30m");
	CHECK_STR(ev("max('a', 'b')"), "b");
	CHECK_STR(ev("max(params.restore_to, 2026-01-01T00:00:00Z)"), "2026-11-29T06:00:00Z");
	CHECK(has(ev("min(1, 'a')"), "ERR: cannot compare a number with a string"));
	CHECK_STR(ev("keys(steps.dump.meta)"), "[\"k\",\"my-key\"]");
	CHECK_STR(ev("keys(steps.baseline.state)"), "[\"rows\",\"tables\"]");
	CHECK(has(ev("keys(params.tags)"), "ERR: keys() needs an object, not a list"));
}

static void fn_default(void)
{
	CHECK_STR(ev("default(steps.skipped.out, 'none')"), "none");
	CHECK_STR(ev("default(steps.dump.kye, 'd')"), "d");
	CHECK_STR(ev("default(params.nothing, 7)"), "7");
	CHECK_STR(ev("default(params.n, 7)"), "5");
	CHECK_STR(ev("default(steps.dump.files[9], 'x')"), "x");
	CHECK_STR(ev("default(1 / 0, 'inf')"), "inf");
	CHECK_STR(ev("default(default(steps.nope.a, null), 3)"), "3");
	/* the second argument is not evaluated when the first is fine */
	CHECK_STR(ev("default(1, steps.nope.x)"), "1");
	/* an error in the fallback is reported */
	CHECK(has(ev("default(steps.skipped.out, steps.nope.x)"), "ERR: there is no steps 'nope'"));
	CHECK(evt("default(steps.skipped.out, 90s)") == V_DUR);
}

static void function_errors(void)
{
	const struct diag *g = perr("1 + foo(2)");
	CHECK(g && g->loc.col == 10 + 4);
	CHECK(g && has(g->msg, "unknown function 'foo'; the functions are now,"));
	g = perr("len(1, 2)");
	CHECK(g && g->loc.col == 10);
	CHECK(g && has(g->msg, "len() takes 1 argument, not 2"));
	g = perr("x == now(1)");
	CHECK(g && has(g->msg, "unknown name 'x'"));
	g = perr("params.a == now(1)");
	CHECK(g && g->loc.col == 10 + 12 && has(g->msg, "now() takes 0 arguments, not 1"));
	g = perr("default(1)");
	CHECK(g && has(g->msg, "default() takes 2 arguments, not 1"));
	g = perr("min(1 2)");
	CHECK(g && g->loc.col == 10 + 6 && has(g->msg, "expected ',' or ')' in the arguments of min()"));
}

/* ---- secrets ---- */

static void secret_taint(void)
{
	CHECK(secret_of("secret.token") == 1);
	CHECK(secret_of("params.db") == 0);
	CHECK(secret_of("'Bearer ' + secret.token") == 1);
	CHECK(secret_of("secret.token + '!'") == 1);
	CHECK(secret_of("lower(secret.token)") == 1);
	CHECK(secret_of("len(secret.token)") == 1);
	CHECK(secret_of("string(secret.token)") == 1);
	CHECK(secret_of("default(secret.token, 'x')") == 1);
	CHECK(secret_of("default(steps.skipped.x, secret.token)") == 1);
	CHECK(secret_of("[secret.token]") == 1);
	CHECK(secret_of("not secret.token") == 1);
	CHECK(secret_of("params.n > 1 ? secret.token : 'x'") == 1);
	CHECK(secret_of("params.n > 1 ? 'x' : secret.token") == 0);
	CHECK(secret_of("max(secret.pw, 'a')") == 1);
	/* comparisons yield plain booleans */
	CHECK(secret_of("secret.token == 'x'") == 0);
	CHECK(secret_of("secret.token != ''") == 0);
	CHECK(secret_of("'s3' in secret.token") == 0);
	CHECK(secret_of("secret.token =~ '^s'") == 0);
	CHECK_STR(ev("secret.token == 's3cr3t'"), "true");
	/* error messages do not quote secret values */
	const char *r = ev("int(secret.token)");
	CHECK(has(r, "ERR: int() cannot read a secret value as a number"));
	CHECK(!has(r, "s3cr3t"));
	r = ev("params.started < secret.token");
	CHECK(has(r, "a secret value") && !has(r, "s3cr3t"));
	r = ev("'a' =~ secret.token");
	CHECK(!has(r, "s3cr3t"));
}

/* ---- templates ---- */

static const char *tv(const char *s)
{
	diags_release(&D);
	struct tmpl *t = tmpl_parse(s, L, &D);
	if (!t)
		return keep(xasprintf("PARSE: %s", D.n ? D.v[D.n - 1].msg : "(no diagnostic)"));
	struct value v;
	char *err = NULL;
	const char *r;
	if (tmpl_eval(t, &ctx, &v, &err) != 0) {
		r = keep(xasprintf("ERR: %s", err ? err : "(no message)"));
	} else {
		r = keep(value_to_text(&v));
		value_release(&v);
	}
	free(err);
	tmpl_free(t);
	return r;
}

static void templates_text(void)
{
	CHECK_STR(tv("plain text"), "plain text");
	CHECK_STR(tv(""), "");
	CHECK_STR(tv("db=${params.db}"), "db=orders");
	CHECK_STR(tv("${params.db}-${params.n}"), "orders-5");
	CHECK_STR(tv("n=${params.n} r=${params.ratio} b=${true} null=[${null}] d=${90s} t=${params.started}"),
		  "n=5 r=0.25 b=true null=[] d=1m30s t=2026-11-29T06:00:00Z");
	CHECK_STR(tv("state=${steps.baseline.state}"), "state={\"rows\":10,\"tables\":[\"a\",\"b\"]}");
	CHECK_STR(tv("tags ${params.tags} "), "tags [\"a\",\"b\"] ");
	CHECK_STR(tv("${ params.n + 1 } items"), "6 items");
	CHECK_STR(tv("cost $5 and $x and $"), "cost $5 and $x and $");
	CHECK_STR(tv("$${literal}"), "${literal}");
	CHECK_STR(tv("a $${b} ${params.n}"), "a ${b} 5");
	CHECK_STR(tv("$$${params.n}"), "$${params.n}");
	CHECK_STR(tv("$$$${params.n}"), "$$${params.n}"); /* scanned left to right */
	CHECK_STR(tv("x${'}'}y"), "x}y");
	CHECK_STR(tv("${\"a}b\" + '}'}"), "a}b}");
	CHECK_STR(tv("${params.n > 3 ? 'big' : 'small'}!"), "big!");
	CHECK_STR(tv("${steps.dump.meta['my-key']}"), "1");
	CHECK(has(tv("x ${steps.skipped.y}"), "ERR: step 'skipped' was skipped"));
}

static void templates_typed(void)
{
	struct value v;
	char *err = NULL;
	struct tmpl *t = tmpl_parse("${steps.baseline.state}", L, &D);
	CHECK(t && !tmpl_is_literal(t) && tmpl_literal(t) == NULL);
	CHECK(t && tmpl_eval(t, &ctx, &v, &err) == 0 && v.t == V_JSON && json_is_object(v.u.j));
	CHECK(v.t == V_JSON && json_integer_value(json_object_get(v.u.j, "rows")) == 10);
	value_release(&v);
	CHECK_STR(t ? tmpl_text(t) : NULL, "${steps.baseline.state}");
	tmpl_free(t);
	t = tmpl_parse("${params.n}", L, &D);
	CHECK(t && tmpl_eval(t, &ctx, &v, &err) == 0 && v.t == V_NUM && v.u.n == 5);
	value_release(&v);
	tmpl_free(t);
	t = tmpl_parse("${90s}", L, &D);
	CHECK(t && tmpl_eval(t, &ctx, &v, &err) == 0 && v.t == V_DUR);
	value_release(&v);
	tmpl_free(t);
	/* anything around the part makes it text */
	t = tmpl_parse(" ${params.n}", L, &D);
	CHECK(t && tmpl_eval(t, &ctx, &v, &err) == 0 && v.t == V_STR);
	CHECK_STR(v.t == V_STR ? v.u.s : NULL, " 5");
	value_release(&v);
	tmpl_free(t);
	/* a literal template */
	t = tmpl_parse("a $${b} c", L, &D);
	CHECK(t && tmpl_is_literal(t));
	CHECK_STR(t ? tmpl_literal(t) : NULL, "a ${b} c");
	CHECK_STR(t ? tmpl_text(t) : NULL, "a $${b} c");
	CHECK(t && tmpl_eval(t, &ctx, &v, &err) == 0 && v.t == V_STR && !strcmp(v.u.s, "a ${b} c"));
	value_release(&v);
	tmpl_free(t);
	free(err);
}

static void templates_secret(void)
{
	struct value v;
	char *err = NULL;
	struct tmpl *t = tmpl_parse("postgres://app:${secret.pw}@db/${params.db}", L, &D);
	CHECK(t && tmpl_eval(t, &ctx, &v, &err) == 0 && v.t == V_STR && v.secret == 1);
	CHECK_STR(v.t == V_STR ? v.u.s : NULL, "postgres://app:hunter2@db/orders");
	value_release(&v);
	tmpl_free(t);
	t = tmpl_parse("db ${params.db}", L, &D);
	CHECK(t && tmpl_eval(t, &ctx, &v, &err) == 0 && v.secret == 0);
	value_release(&v);
	tmpl_free(t);
	t = tmpl_parse("${secret.pw}", L, &D);
	CHECK(t && tmpl_eval(t, &ctx, &v, &err) == 0 && v.secret == 1);
	value_release(&v);
	tmpl_free(t);
	free(err);
}

static void templates_errors(void)
{
	diags_release(&D);
	CHECK(tmpl_parse("abc ${params.n", L, &D) == NULL);
	CHECK(D.n == 1 && D.v[0].loc.col == 10 + 4 && !strcmp(D.v[0].msg, "unterminated '${': expected '}'"));
	CHECK(D.n == 1 && !strcmp(D.v[0].rule, "expr-syntax"));
	diags_release(&D);
	CHECK(tmpl_parse("ab ${params.n +", L, &D) == NULL);
	CHECK(D.n == 1 && D.v[0].loc.col == 10 + 3 && has(D.v[0].msg, "unterminated '${'"));
	diags_release(&D);
	CHECK(tmpl_parse("x ${'}", L, &D) == NULL);
	CHECK(D.n == 1 && D.v[0].loc.col == 10 + 4 && has(D.v[0].msg, "unterminated string starting here"));
	diags_release(&D);
	CHECK(tmpl_parse("abc ${foo}", L, &D) == NULL);
	CHECK(D.n == 1 && D.v[0].loc.col == 10 + 6 && has(D.v[0].msg, "unknown name 'foo'"));
	diags_release(&D);
	CHECK(tmpl_parse("a ${} b", L, &D) == NULL);
	CHECK(D.n == 1 && D.v[0].loc.col == 10 + 2 && has(D.v[0].msg, "empty '${}'"));
	diags_release(&D);
	CHECK(tmpl_parse("${params.a params.b}", L, &D) == NULL);
	CHECK(D.n == 1 && D.v[0].loc.col == 10 + 11 && has(D.v[0].msg, "unexpected 'params' in '${...}'"));
	diags_release(&D);
	CHECK(tmpl_parse("${ {a} }", L, &D) == NULL);
	CHECK(D.n == 1 && D.v[0].loc.col == 10 + 3);
	diags_release(&D);
	CHECK(tmpl_parse("ok ${params.x} then ${1 +} end", L, &D) == NULL);
	CHECK(D.n == 1 && D.v[0].loc.col == 10 + 25 && has(D.v[0].msg, "unexpected '}' in expression"));
}

static int collect(const struct expr_ref *r, void *ud)
{
	struct strbuf *sb = ud;
	sb_addf(sb, "%s|%s|%s|%d;", r->root, r->name ? r->name : "-", r->field ? r->field : "-", r->loc.col);
	return 0;
}

static int stop_at_second(const struct expr_ref *r, void *ud)
{
	int *n = ud;
	(void)r;
	return ++*n == 2 ? 42 : 0;
}

static void refs(void)
{
	struct strbuf sb = STRBUF_INIT;
	diags_release(&D);
	struct expr *e = expr_parse("steps.dump.bytes > 0 and params.db == 'x' or "
				    "default(steps.skip.out, secret.token) != env.HOME and "
				    "resources.primary-db.host and params and steps.x['y'].z and run.id",
				    L, &D);
	CHECK(e != NULL);
	if (!e)
		return;
	expr_refs(e, collect, &sb);
	CHECK_STR(sb_str(&sb), "steps|dump|bytes|10;params|db|-|35;steps|skip|out|63;secret|token|-|79;"
			       "env|HOME|-|96;resources|primary-db|host|109;params|-|-|139;steps|x|y|150;"
			       "run|id|-|169;");
	int n = 0;
	CHECK(expr_refs(e, stop_at_second, &n) == 42 && n == 2);
	CHECK_STR(expr_text(e), "steps.dump.bytes > 0 and params.db == 'x' or "
				"default(steps.skip.out, secret.token) != env.HOME and "
				"resources.primary-db.host and params and steps.x['y'].z and run.id");
	expr_free(e);
	sb_release(&sb);

	e = expr_parse("params.a ? steps.b.c : env.D", L, &D);
	CHECK(e != NULL);
	if (e) {
		expr_refs(e, collect, &sb);
		CHECK_STR(sb_str(&sb), "params|a|-|10;steps|b|c|21;env|D|-|33;");
		expr_free(e);
	}
	sb_release(&sb);

	/* templates: columns within the whole string */
	struct tmpl *t = tmpl_parse("a ${params.db} b ${steps.s.o[0]} $${params.no}", L, &D);
	CHECK(t != NULL);
	if (!t)
		return;
	tmpl_refs(t, collect, &sb);
	CHECK_STR(sb_str(&sb), "params|db|-|14;steps|s|o|29;");
	tmpl_free(t);
	sb_release(&sb);
}

/* ---- parse errors and their columns ---- */

static void parse_error_columns(void)
{
	const struct diag *g = perr("1 + )");
	CHECK(g && g->loc.col == 14 && g->loc.line == 3);
	CHECK_STR(g ? g->msg : NULL, "unexpected ')' in expression; expected a value");
	CHECK(g && g->loc.file && !strcmp(g->loc.file, "t.yml"));
	g = perr("params.db == \"abc");
	CHECK(g && g->loc.col == 10 + 13);
	CHECK(g && has(g->msg, "unterminated string starting here"));
	g = perr("params.n +");
	CHECK(g && g->loc.col == 10 + 10);
	CHECK_STR(g ? g->msg : NULL, "unexpected end of expression; expected a value");
	g = perr("params.a params.b");
	CHECK(g && g->loc.col == 10 + 9);
	CHECK(g && has(g->msg, "unexpected 'params' in expression; expected an operator or the end"));
	g = perr("params.n = 1");
	CHECK(g && g->loc.col == 10 + 9 && has(g->msg, "write '=='"));
	g = perr("params.n & 1");
	CHECK(g && has(g->msg, "write '&&' or 'and'"));
	g = perr("(1 + 2");
	CHECK(g && g->loc.col == 10 + 6 && has(g->msg, "expected ')' to close the '(' at column 10"));
	g = perr("steps.x[1");
	CHECK(g && has(g->msg, "expected ']' to close the '[' at column 17"));
	g = perr("");
	CHECK(g && g->loc.col == 10 && has(g->msg, "empty expression"));
	g = perr("   ");
	CHECK(g && has(g->msg, "empty expression"));
	g = perr("1 # 2");
	CHECK(g && g->loc.col == 12 && has(g->msg, "unexpected character '#'"));
	g = perr("params.x == '\\u12'");
	CHECK(g && g->loc.col == 10 + 13 && has(g->msg, "invalid escape '\\u12'' in string"));
	g = perr("params.x == 5min");
	CHECK(g && g->loc.col == 10 + 12 && has(g->msg, "invalid duration '5min'"));
	g = perr("\x01");
	CHECK(g && has(g->msg, "'\\x01'"));
	g = perr("'\xff");
	CHECK(g && has(g->msg, "unterminated"));
	g = perr("1 )");
	CHECK(g && g->loc.col == 12);
	g = perr("[1 2]");
	CHECK(g && g->loc.col == 13);
}

/* ---- bounds ---- */

static char *repeat(const char *a, int n, const char *mid, const char *b)
{
	struct strbuf sb = STRBUF_INIT;
	for (int i = 0; i < n; i++)
		sb_adds(&sb, a);
	sb_adds(&sb, mid);
	for (int i = 0; i < n; i++)
		sb_adds(&sb, b);
	return sb_detach(&sb);
}

static void nesting_limit(void)
{
	char *s = repeat("(", 64, "1", ")");
	CHECK_STR(ev(s), "1");
	free(s);
	s = repeat("(", 65, "1", ")");
	const struct diag *g = perr(s);
	CHECK(g && has(g->msg, "expression nested too deeply"));
	CHECK(g && g->loc.col == 10 + 64);
	free(s);
	s = repeat("[", 100, "1", "]");
	CHECK(has(ev(s), "PARSE: expression nested too deeply"));
	free(s);
	s = repeat("-", 100, "1", "");
	CHECK(has(ev(s), "PARSE: expression nested too deeply"));
	free(s);
	s = repeat("not ", 10000, "true", "");
	CHECK(has(ev(s), "PARSE: expression nested too deeply"));
	free(s);
	s = repeat("len(", 1000, "'x'", ")");
	CHECK(has(ev(s), "PARSE: expression nested too deeply"));
	free(s);
	s = repeat("true ? 1 : ", 1000, "2", "");
	CHECK(has(ev(s), "PARSE: expression nested too deeply"));
	free(s);
	/* long chains are bounded by the height of the tree */
	s = repeat("1 + ", 200, "1", "");
	CHECK_STR(ev(s), "201");
	free(s);
	s = repeat("1 + ", 5000, "1", "");
	CHECK(has(ev(s), "PARSE: expression nested too deeply"));
	free(s);
	/* length */
	s = repeat(" ", 70000, "1", "");
	g = perr(s);
	CHECK(g && has(g->msg, "expression is too long (70001 bytes; at most 65536)"));
	free(s);
}

static void string_size_limit(void)
{
	CHECK_STR(ev("len(params.big)"), "600000");
	CHECK(has(ev("params.big + params.big"), "ERR: the string 'params.big + params.big' would be larger than 1 MiB"));
	CHECK(has(tv("${params.big}${params.big}"), "ERR: the text of '${params.big}' makes the string larger than 1 MiB"));
	CHECK(has(tv("${params.big}-${params.big}"), "larger than 1 MiB"));
	CHECK_STR(ev("len(params.big + 'x')"), "600001");
	CHECK(has(ev("string([params.big, params.big])"), "ERR: the text of 'string([params.big, params.big])' is larger than 1 MiB"));
	CHECK_STR(ev("len(string([params.big]))"), "600004");
	char *s = xmalloc((1 << 20) + 2);
	memset(s, 'a', (1 << 20) + 1);
	s[(1 << 20) + 1] = '\0';
	s[0] = '$';
	s[1] = '{';
	s[2] = '1';
	s[3] = '}';
	CHECK(has(tv(s), "PARSE: text with '${...}' is too long (1048577 bytes; at most 1048576)"));
	free(s);
	/* default() does not hide a resource limit */
	CHECK(has(ev("default(params.big + params.big, 'x')"), "ERR: the string 'params.big + params.big' would be larger than 1 MiB"));
	CHECK(has(ev("default(string([params.big, params.big]), 'x')"), "larger than 1 MiB"));
	/* expr_eval and tmpl_eval without a place for the message */
	struct expr *e = expr_parse("1 / 0", L, &D);
	struct value v;
	CHECK(e && expr_eval(e, &ctx, &v, NULL) == -1 && v.t == V_NULL);
	expr_free(e);
}

/* ---- values ---- */

static void value_api(void)
{
	struct value v;
	json_t *j;
	memset(&v, 0, sizeof(v));
	v.t = V_TIME;
	v.u.us = T_2026_11_29_06;
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

	value_from_json(&v, json_object_get(world, "params"));
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
	struct eval_ctx oc = { odd_resolve, NULL, NOW };
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
	CHECK(e && expr_eval(e, &oc, &v, &err) == -1 && err && has(err, "params.other cannot be resolved"));
	free(err);
	err = NULL;
	expr_free(e);
	/* no resolver at all */
	e = expr_parse("params.n", L, &D);
	CHECK(e && expr_eval(e, NULL, &v, &err) == -1 && err && has(err, "cannot be resolved here"));
	free(err);
	expr_free(e);
}

int main(void)
{
	unit_group = "expr";
	json_error_t je;
	world = json_loads(
		"{\"params\": {\"db\": \"orders\", \"n\": 5, \"ratio\": 0.25, \"restore_to\": \"2026-11-29T06:00:00Z\","
		"  \"tags\": [\"a\", \"b\"], \"empty\": \"\", \"nothing\": null, \"pat\": \"^or.*s$\","
		"  \"badpat\": \"(unclosed\"},"
		" \"steps\": {\"dump\": {\"outcome\": \"ok\", \"bytes\": 1024, \"age\": \"30h\","
		"    \"files\": [\"x.sql\", \"y.sql\"], \"meta\": {\"k\": \"v\", \"my-key\": 1}},"
		"  \"baseline\": {\"state\": {\"rows\": 10, \"tables\": [\"a\", \"b\"]}}, \"skipped\": null},"
		" \"secret\": {\"token\": \"s3cr3t\", \"pw\": \"hunter2\"},"
		" \"env\": {\"HOME\": \"/root\"},"
		" \"resources\": {\"primary-db\": {\"host\": \"db1\", \"port\": 5432}},"
		" \"run\": {\"id\": \"r1\", \"mode\": \"drill\"}}",
		0, &je);
	if (!world) {
		printf("FAIL: unit/expr/setup: %s\n", je.text);
		return 1;
	}
	big = xmalloc(600001);
	memset(big, 'b', 600000);
	big[600000] = '\0';
	ctx.resolve = resolve;
	ctx.ud = world;
	ctx.now_us = NOW;
	diags_init(&D);

	RUN(literals_numbers);
	RUN(literals_strings);
	RUN(literals_keywords);
	RUN(literals_durations);
	RUN(literals_timestamps);
	RUN(literals_lists);
	RUN(arithmetic_numbers);
	RUN(arithmetic_type_errors);
	RUN(arithmetic_time);
	RUN(comparisons);
	RUN(comparison_coercion);
	RUN(chained_comparison_is_an_error);
	RUN(logic);
	RUN(conditional);
	RUN(precedence);
	RUN(regex_match);
	RUN(in_operator);
	RUN(members_and_indexes);
	RUN(unknown_names);
	RUN(fn_time);
	RUN(fn_strings);
	RUN(fn_conversions);
	RUN(fn_min_max_keys);
	RUN(fn_default);
	RUN(function_errors);
	RUN(secret_taint);
	RUN(templates_text);
	RUN(templates_typed);
	RUN(templates_secret);
	RUN(templates_errors);
	RUN(refs);
	RUN(parse_error_columns);
	RUN(nesting_limit);
	RUN(string_size_limit);
	RUN(value_api);
	RUN(odd_resolver);

	for (int i = 0; i < 16; i++)
		free(ring[i]);
	diags_release(&D);
	json_decref(world);
	free(big);
	return UNIT_RESULT();
}
