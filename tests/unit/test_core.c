/*
 * test_core.c: unit tests of the interpreter's plumbing: durations and
 * timestamps, the redaction registry, the loader's limits and locations, and
 * the registry's order.
 */
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "../../interp/diag.h"
#include "../../interp/node.h"
#include "../../lib/redact.h"
#include "../../lib/util.h"
#include "../../stdlib/family.h"

static void durations(void)
{
	int64_t us;
	char buf[32];
	CHECK(parse_duration("90s", &us) == 0 && us == 90000000);
	CHECK(parse_duration("15m", &us) == 0 && us == 900000000LL);
	CHECK(parse_duration("24h", &us) == 0 && us == 86400000000LL);
	CHECK(parse_duration("1h30m", &us) == 0 && us == 5400000000LL);
	CHECK(parse_duration("250ms", &us) == 0 && us == 250000);
	CHECK(parse_duration("7d", &us) == 0 && us == 604800000000LL);
	CHECK(parse_duration("1.5h", &us) == 0 && us == 5400000000LL);
	CHECK(parse_duration("30", &us) == 0 && us == 30000000);
	CHECK(parse_duration("soon", &us) == -1);
	CHECK(parse_duration("", &us) == -1);
	CHECK(parse_duration("5x", &us) == -1);
	CHECK(parse_duration("m", &us) == -1);
	CHECK_STR(fmt_duration(5400000000LL, buf, sizeof(buf)), "1h30m");
	CHECK_STR(fmt_duration(250000, buf, sizeof(buf)), "250ms");
	CHECK_STR(fmt_duration(90000000, buf, sizeof(buf)), "1m30s");
	CHECK_STR(fmt_duration(0, buf, sizeof(buf)), "0s");
}

static void timestamps(void)
{
	int64_t us;
	char buf[40];
	CHECK(parse_timestamp("2026-11-29T09:10:00Z", &us) == 0);
	CHECK_STR(fmt_timestamp(us, buf, sizeof(buf)), "2026-11-29T09:10:00Z");
	CHECK(parse_timestamp("2026-11-29T10:10:00+01:00", &us) == 0);
	CHECK_STR(fmt_timestamp(us, buf, sizeof(buf)), "2026-11-29T09:10:00Z");
	CHECK(parse_timestamp("2026-11-29T09:10:00.250Z", &us) == 0 && us % 1000000 == 250000);
	CHECK(parse_timestamp("1970-01-01T00:00:00Z", &us) == 0 && us == 0);
	CHECK(parse_timestamp("2024-02-29T00:00:00Z", &us) == 0);
	CHECK(parse_timestamp("2026-02-29T00:00:00Z", &us) == -1); /* not a leap year */
	CHECK(parse_timestamp("2026-11-29T09:10:00", &us) == -1);  /* RFC 3339 needs an offset */
	CHECK(parse_timestamp("2026-13-01T00:00:00Z", &us) == -1);
	CHECK(parse_timestamp("yesterday", &us) == -1);
	CHECK(parse_timestamp("2026-11-29T09:10:00Zjunk", &us) == -1);
	CHECK_STR(fmt_timestamp_compact(0, buf, sizeof(buf)), "19700101T000000Z");
}

static void strbuf_cap(void)
{
	struct strbuf sb;
	sb_init(&sb, 8);
	sb_adds(&sb, "0123456789");
	CHECK(sb.len == 8 && sb.truncated);
	CHECK_STR(sb_str(&sb), "01234567");
	sb_release(&sb);
}

static void redaction(void)
{
	redact_register("hunter2-secret");
	char *m = redact("password is hunter2-secret, again hunter2-secret.");
	CHECK_STR(m, "password is ***, again ***.");
	free(m);
	m = redact("postgresql://app:pa55word@db.internal:5432/app");
	CHECK_STR(m, "postgresql://app:***@db.internal:5432/app");
	free(m);
	m = redact("host=db user=app password=pa55word dbname=app");
	CHECK_STR(m, "host=db user=app password=*** dbname=app");
	free(m);
	m = redact("key AKIAIOSFODNN7EXAMPLE secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
	CHECK(strstr(m, "AKIAIOSFODNN7EXAMPLE") == NULL);
	CHECK(strstr(m, "wJalrXUtnFEMI") == NULL);
	free(m);
	m = redact("Authorization: Bearer abcdefghijklmnop.qrs");
	CHECK_STR(m, "Authorization: Bearer ***");
	free(m);
	m = redact("nothing to hide here: ${secret.NAME} and password: ${secret.PW}");
	CHECK_STR(m, "nothing to hide here: ${secret.NAME} and password: ${secret.PW}");
	free(m);
	CHECK(redact_contains_secret("x hunter2-secret y"));
	CHECK(!redact_contains_secret("x hunter2 y"));
	CHECK(redact_find_credential("postgresql://u:p@h/db") != NULL);
	CHECK(redact_find_credential("postgresql://u@h/db") == NULL);
	json_t *j = json_pack("{s:s,s:[s]}", "a", "hunter2-secret", "b", "x hunter2-secret");
	json_t *r = redact_json(j);
	CHECK_STR(json_string_value(json_object_get(r, "a")), "***");
	CHECK_STR(json_string_value(json_array_get(json_object_get(r, "b"), 0)), "x ***");
	json_decref(j);
	json_decref(r);
	redact_release();
	m = redact("hunter2-secret");
	CHECK_STR(m, "hunter2-secret");
	free(m);
}

static struct doc *load(const char *text, struct diags *d)
{
	diags_init(d);
	return doc_load_buf("t.yaml", text, strlen(text), d);
}

static void loader_locations(void)
{
	struct diags d;
	struct doc *doc = load("drplay: 1\nsteps:\n  - id: a\n    action: log\n", &d);
	CHECK(d.nerr == 0 && doc->root);
	struct node *steps = node_get(doc->root, "steps");
	CHECK(steps && steps->kind == N_SEQ && steps->n == 1);
	struct node *act = node_get(steps->vals[0], "action");
	CHECK(act && act->loc.line == 4 && act->loc.col == 13);
	doc_free(doc);
	diags_release(&d);
}

static void loader_errors(void)
{
	struct diags d;
	struct doc *doc = load("a: 1\n\tb: 2\n", &d);
	CHECK(d.nerr == 1 && !doc->root);
	CHECK(d.v[0].loc.line == 2 && d.v[0].loc.col == 1 && strstr(d.v[0].msg, "tab"));
	doc_free(doc);
	diags_release(&d);
	doc = load("a: 1\nb: \xff\n", &d);
	CHECK(d.nerr == 1 && d.v[0].loc.line == 2 && d.v[0].loc.col == 4 && strstr(d.v[0].msg, "UTF-8"));
	doc_free(doc);
	diags_release(&d);
	doc = load("a: 1\na: 2\n", &d);
	CHECK(d.nerr == 1 && !strcmp(d.v[0].rule, "yaml-duplicate-key") && d.v[0].loc.line == 2);
	doc_free(doc);
	diags_release(&d);
	doc = load("a: 1\n---\nb: 2\n", &d);
	CHECK(d.nerr == 1 && strstr(d.v[0].msg, "second YAML document"));
	doc_free(doc);
	diags_release(&d);
	doc = load("a: *nope\n", &d);
	CHECK(d.nerr == 1 && strstr(d.v[0].msg, "no anchor"));
	doc_free(doc);
	diags_release(&d);
	doc = load("", &d);
	CHECK(d.nerr == 0 && doc->root == NULL);
	doc_free(doc);
	diags_release(&d);
}

static void loader_limits(void)
{
	struct diags d;
	/* nesting */
	struct strbuf sb = STRBUF_INIT;
	for (int i = 0; i < 100; i++)
		sb_addc(&sb, '[');
	for (int i = 0; i < 100; i++)
		sb_addc(&sb, ']');
	struct doc *doc = load(sb_str(&sb), &d);
	CHECK(d.nerr == 1 && !strcmp(d.v[0].rule, "yaml-limit"));
	doc_free(doc);
	diags_release(&d);
	sb_release(&sb);
	/* billion laughs */
	const char *bomb = "a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
			   "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
			   "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
			   "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
			   "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h,*h]\n";
	int64_t t0 = mono_us();
	doc = load(bomb, &d);
	CHECK(d.nerr == 1 && !strcmp(d.v[0].rule, "yaml-limit"));
	CHECK(mono_us() - t0 < 2000000);
	doc_free(doc);
	diags_release(&d);
	/* merge keys */
	doc = load("base: &b {x: 1, y: 2}\nm: {<<: *b, y: 3}\n", &d);
	CHECK(d.nerr == 0);
	struct node *m = node_get(doc->root, "m");
	CHECK(m && node_get(m, "x") && !strcmp(node_get(m, "y")->str, "3"));
	doc_free(doc);
	diags_release(&d);
}

static void scalar_types(void)
{
	struct diags d;
	struct doc *doc = load("a: 1\nb: '1'\nc: true\nd: yes\ne: ~\nf: 1.5\ng: 0x1F\nh: 90s\n", &d);
	CHECK(d.nerr == 0);
	CHECK(node_scalar_type(node_get(doc->root, "a")) == S_INT);
	CHECK(node_scalar_type(node_get(doc->root, "b")) == S_STR);
	CHECK(node_scalar_type(node_get(doc->root, "c")) == S_BOOL);
	CHECK(node_scalar_type(node_get(doc->root, "d")) == S_STR); /* YAML 1.2: yes is a string */
	CHECK(node_scalar_type(node_get(doc->root, "e")) == S_NULL);
	CHECK(node_scalar_type(node_get(doc->root, "f")) == S_FLOAT);
	int64_t v;
	CHECK(node_int(node_get(doc->root, "g"), &v) == 0 && v == 31);
	CHECK(node_scalar_type(node_get(doc->root, "h")) == S_STR);
	doc_free(doc);
	diags_release(&d);
}

static void registry_sorted(void)
{
	const char *bad = registry_self_check();
	CHECK_STR(bad ? bad : "(sorted)", "(sorted)");
	size_t n;
	const struct action_def *const *all = registry_all(&n);
	CHECK(n >= 5);
	for (size_t i = 0; i < n; i++) {
		const struct action_def *a = all[i];
		CHECK(a->run && a->doc && *a->doc);
		CHECK(registry_find(a->name) == a);
		for (const struct param_spec *p = a->params; p && p->name; p++) {
			CHECK(p->doc && *p->doc);
			/* a default must fit its own declaration */
			if (p->def && p->allowed && p->type == T_LIST) {
				json_error_t je;
				json_t *l = json_loads(p->def, 0, &je);
				CHECK(json_is_array(l));
				size_t k;
				json_t *e;
				json_array_foreach(l, k, e)
				{
					int ok = 0;
					for (const char *const *al = p->allowed; *al; al++)
						ok |= json_is_string(e) && !strcmp(*al, json_string_value(e));
					CHECK(ok);
				}
				json_decref(l);
			} else if (p->def && p->allowed) {
				int ok = 0;
				for (const char *const *al = p->allowed; *al; al++)
					ok |= !strcmp(*al, p->def);
				CHECK(ok);
			}
		}
		if (a->flags & A_DESTRUCT)
			CHECK(a->flags & A_STATE);
	}
	CHECK(registry_find("no.such.action") == NULL);
}

int main(void)
{
	unit_group = "core";
	stdlib_register(); /* the families, and the credential shapes they mask */
	RUN(durations);
	RUN(timestamps);
	RUN(strbuf_cap);
	RUN(redaction);
	RUN(loader_locations);
	RUN(loader_errors);
	RUN(loader_limits);
	RUN(scalar_types);
	RUN(registry_sorted);
	return UNIT_RESULT();
}
