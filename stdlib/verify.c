/*
 * verify.c: verify.compare, the verification engine (SPEC.md, 'Verdicts' and 'Tolerances').
 * It compares two states (SPEC.md, 'The state format') check by check and table by table,
 * exactly unless tolerances say otherwise, and fails the step on any
 * difference, naming it. For content checksums it first compares the
 * per-key-range sums the states carry, then, when the databases the states
 * came from are still reachable and still hold what was captured (checked
 * by re-reading the range on each side), it narrows each differing range
 * by bisection with live range checksums, like data-diff, within a budget
 * of queries, down to the keys of the rows that differ when few remain.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "family.h"
#include "pg_tables.h"
#include "text.h"
#include "verify_int.h"

#define LEAF_ROWS 8 /* list keys when a range holds at most this many rows per side */

/* How far WAL replay may move a sequence ahead: nextval logs 32 values
 * beyond the ones it hands out (SEQ_LOG_VALS in PostgreSQL's sequence.c),
 * plus the values a session caches, and a point-in-time restore comes back
 * at the last value logged. */
#define SEQ_LOG_VALS 32

/* ---- helpers ---- */

static char *cell(json_t *v, size_t max);

static int table_wanted(const struct cmp *C, const char *key)
{
	if (!C->tables)
		return 1;
	const char *after = strchr(key, '.');
	size_t i;
	json_t *t;
	json_array_foreach(C->tables, i, t)
	{
		const char *s = json_string_value(t);
		if (s && (!strcmp(s, key) || (after && !strcmp(s, after + 1))))
			return 1;
	}
	return 0;
}

static json_t *verdict(struct cmp *C, const char *check, const char *table, const char *v, json_t *expected,
		       json_t *actual, const char *detail)
{
	json_t *e = json_object();
	json_object_set_new(e, "check", json_string(check));
	json_object_set_new(e, "table", table ? json_string(table) : json_null());
	json_object_set_new(e, "verdict", json_string(v));
	json_object_set_new(e, "expected", expected ? expected : json_null());
	json_object_set_new(e, "actual", actual ? actual : json_null());
	if (detail) {
		json_object_set_new(e, "detail", json_text(detail));
	}
	json_array_append_new(C->verdicts, e);
	if (strcmp(v, "ok") != 0)
		C->ndiff++;
	return e;
}

/* Sorted union of the keys of two objects (new array of borrowed keys). */
static const char **key_union(json_t *x, json_t *y, size_t *n)
{
	size_t cap = json_object_size(x) + json_object_size(y) + 1;
	const char **k = xcalloc(cap, sizeof(*k));
	*n = 0;
	const char *key;
	json_t *v;
	json_object_foreach(x, key, v) k[(*n)++] = key;
	json_object_foreach(y, key, v) if (!json_object_get(x, key)) k[(*n)++] = key;
	for (size_t i = 1; i < *n; i++)
		for (size_t j = i; j > 0 && strcmp(k[j - 1], k[j]) > 0; j--) {
			const char *t = k[j];
			k[j] = k[j - 1];
			k[j - 1] = t;
		}
	return k;
}

/* When a key is in one state only: a `missing` or `extra` verdict (the
 * figure shown is ev or xv) and 1; else 0. */
static int one_sided(struct cmp *C, const char *check, const char *key, json_t *e, json_t *x, json_t *ev, json_t *xv,
		     const char *what)
{
	char d[64];
	if (!x) {
		snprintf(d, sizeof(d), "%s missing in the actual state", what);
		verdict(C, check, key, "missing", json_incref(ev), NULL, d);
		return 1;
	}
	if (!e) {
		snprintf(d, sizeof(d), "%s not in the expected state", what);
		verdict(C, check, key, "extra", NULL, json_incref(xv), d);
		return 1;
	}
	return 0;
}

/* ---- counts ---- */

static void compare_counts(struct cmp *C, json_t *E, json_t *A)
{
	size_t n;
	const char **keys = key_union(E, A, &n);
	for (size_t i = 0; i < n; i++) {
		if (!table_wanted(C, keys[i]))
			continue;
		json_t *e = json_object_get(E, keys[i]), *x = json_object_get(A, keys[i]);
		if (one_sided(C, "counts", keys[i], e, x, e, x, "table"))
			continue;
		if (json_is_null(e) || json_is_null(x)) { /* an unpopulated materialized view */
			int both = json_is_null(e) && json_is_null(x);
			verdict(C, "counts", keys[i], both ? "ok" : "mismatch", json_incref(e), json_incref(x),
				both ? "not populated on either side"
				     : json_is_null(x) ? "the materialized view is not populated in the actual database"
						       : "the materialized view is not populated in the expected database");
			continue;
		}
		int64_t ev = json_integer_value(e), av = json_integer_value(x);
		int ok;
		if (!C->tol.counts || ev == 0)
			ok = av == ev;
		else
			ok = (double)av >= C->tol.min_ratio * (double)ev && (double)av <= C->tol.max_ratio * (double)ev;
		char d[160];
		if (av == ev)
			snprintf(d, sizeof(d), "equal");
		else
			snprintf(d, sizeof(d), "%lld row%s %s (ratio %.4f%s)", (long long)llabs(av - ev),
				 llabs(av - ev) == 1 ? "" : "s", av < ev ? "fewer" : "more",
				 ev ? (double)av / (double)ev : 0.0, ok ? ", within tolerance" : "");
		verdict(C, "counts", keys[i], ok ? "ok" : "mismatch", json_incref(e), json_incref(x), d);
	}
	free(keys);
}

/* ---- freshness ---- */

static void compare_freshness(struct cmp *C, json_t *E, json_t *A)
{
	size_t n;
	const char **keys = key_union(E, A, &n);
	for (size_t i = 0; i < n; i++) {
		if (!table_wanted(C, keys[i]))
			continue;
		json_t *e = json_object_get(E, keys[i]), *x = json_object_get(A, keys[i]);
		json_t *en = json_object_get(e, "newest"), *an = json_object_get(x, "newest");
		if (one_sided(C, "freshness", keys[i], e, x, en, an, "table"))
			continue;
		const char *ec = json_string_value(json_object_get(e, "column"));
		const char *ac = json_string_value(json_object_get(x, "column"));
		if (ec && ac && strcmp(ec, ac) != 0) {
			char d[600];
			snprintf(d, sizeof(d), "different columns: expected %s, actual %s", ec, ac);
			verdict(C, "freshness", keys[i], "mismatch", json_incref(en), json_incref(an), d);
			continue;
		}
		int64_t et = 0, at = 0;
		int eok = json_is_string(en) && parse_timestamp(json_string_value(en), &et) == 0;
		int aok = json_is_string(an) && parse_timestamp(json_string_value(an), &at) == 0;
		char d[200];
		int ok;
		if (!eok || !aok) {
			ok = !eok && !aok;
			snprintf(d, sizeof(d), "%s", ok ? "both empty" : eok ? "the actual table is empty" : "the expected table is empty");
		} else if (!C->tol.fresh) {
			ok = at == et;
			char dur[40];
			fmt_duration(llabs(et - at), dur, sizeof(dur));
			if (ok)
				snprintf(d, sizeof(d), "equal");
			else
				snprintf(d, sizeof(d), "actual newest is %s %s", dur, at < et ? "older" : "newer");
		} else {
			ok = at >= et - C->tol.max_age_us;
			char dur[40], lim[40];
			fmt_duration(at < et ? et - at : 0, dur, sizeof(dur));
			fmt_duration(C->tol.max_age_us, lim, sizeof(lim));
			snprintf(d, sizeof(d), "actual newest lags by %s (max_age %s)", dur, lim);
		}
		verdict(C, "freshness", keys[i], ok ? "ok" : "mismatch", json_incref(en), json_incref(an), d);
	}
	free(keys);
}

/* ---- sequences ---- */

static int64_t int_field(json_t *o, const char *k, int *ok)
{
	json_t *v = json_object_get(o, k);
	*ok = json_is_integer(v);
	return *ok ? json_integer_value(v) : 0;
}

/* Positions: equal, or the actual one ahead by no more than WAL replay can
 * move it; a tolerance lets a copy lag a live database that moved on. */
static void compare_sequences(struct cmp *C, json_t *E, json_t *A)
{
	size_t n;
	const char **keys = key_union(E, A, &n);
	for (size_t i = 0; i < n; i++) {
		if (!table_wanted(C, keys[i]))
			continue;
		json_t *e = json_object_get(E, keys[i]), *x = json_object_get(A, keys[i]);
		json_t *en = json_object_get(e, "next"), *an = json_object_get(x, "next");
		if (one_sided(C, "sequences", keys[i], e, x, en, an, "sequence"))
			continue;
		int ok1, ok2, ok3, ok4;
		int64_t ev = int_field(e, "next", &ok1), av = int_field(x, "next", &ok2);
		int64_t inc = int_field(e, "increment", &ok3), cache = int_field(e, "cache", &ok4);
		char d[300];
		int ok;
		if (json_equal(json_object_get(e, "last_value"), json_object_get(x, "last_value")) &&
		    json_equal(json_object_get(e, "is_called"), json_object_get(x, "is_called"))) {
			ok = 1;
			snprintf(d, sizeof(d), "equal");
		} else if (!ok1 || !ok2 || !ok3 || inc == 0 || ((__int128)av - ev) % inc != 0) {
			ok = 0;
			snprintf(d, sizeof(d), "%s", !ok1 || !ok2 ? "one of them is exhausted (no next value)"
							      : "the positions are not a whole number of increments apart");
		} else {
			__int128 steps = ((__int128)av - ev) / inc; /* > 0: the actual one is ahead */
			int64_t lead = SEQ_LOG_VALS + (ok4 && cache > 0 ? cache : 1);
			if (C->tol.seqs)
				ok = C->tol.max_behind < 0 || steps >= -(__int128)C->tol.max_behind;
			else
				ok = steps >= 0 && steps <= lead;
			long long k = (long long)(steps < 0 ? -steps : steps);
			if (steps > 0 && !C->tol.seqs && ok)
				snprintf(d, sizeof(d), "the actual sequence is %lld value%s ahead, within the %lld that WAL replay may skip",
					 k, k == 1 ? "" : "s", (long long)lead);
			else if (C->tol.seqs)
				snprintf(d, sizeof(d), "the actual sequence is %lld value%s %s (max_behind %s)", k, k == 1 ? "" : "s",
					 steps < 0 ? "behind" : "ahead", C->tol.max_behind < 0 ? "any" : "given");
			else
				snprintf(d, sizeof(d), "the actual sequence is %lld value%s %s", k, k == 1 ? "" : "s",
					 steps < 0 ? "behind: values the expected database handed out would be handed out again" : "ahead");
		}
		verdict(C, "sequences", keys[i], ok ? "ok" : "mismatch", json_incref(en), json_incref(an), d);
	}
	free(keys);
}

/* A sequence behind a column it feeds, in one state: whatever the other
 * state says, the next insert that takes a value from it fails. */
static void sequences_behind(struct cmp *C, json_t *S, const char *side)
{
	const char *k;
	json_t *e;
	json_object_foreach(S, k, e)
	{
		if (!table_wanted(C, k))
			continue;
		size_t i;
		json_t *f;
		json_array_foreach(json_object_get(e, "feeds"), i, f)
		{
			if (!json_is_true(json_object_get(f, "behind")))
				continue;
			json_t *edge = json_object_get(f, "max") ? json_object_get(f, "max") : json_object_get(f, "min");
			char *ev = cell(edge, 60), *nv = cell(json_object_get(e, "next"), 40);
			char d[600];
			snprintf(d, sizeof(d), "in the %s database sequence %s would return %s next, but column %s already holds %s: the next insert that takes a value from it fails with a duplicate key; setval it past the column's %s",
				 side, k, nv, json_string_value(json_object_get(f, "column")), ev,
				 json_object_get(f, "max") ? "maximum" : "minimum");
			json_t *v = verdict(C, "sequences", k, "behind", json_incref(json_object_get(e, "next")), json_incref(edge), d);
			json_object_set(v, "column", json_object_get(f, "column"));
			json_object_set_new(v, "side", json_string(side));
			free(ev);
			free(nv);
		}
	}
}

/* ---- schema ---- */

struct sline {
	const char *s; /* the whole line */
	size_t keylen; /* length of "kind\tname" */
};

static struct sline *split_lines(char *text, size_t *n)
{
	*n = 0;
	size_t cap = 16;
	struct sline *l = xcalloc(cap, sizeof(*l));
	for (char *p = text; p && *p;) {
		char *nl = strchr(p, '\n');
		if (nl)
			*nl = '\0';
		if (*n == cap) {
			cap *= 2;
			l = xrealloc(l, cap * sizeof(*l));
		}
		const char *t1 = strchr(p, '\t');
		const char *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
		l[*n].s = p;
		l[*n].keylen = t2 ? (size_t)(t2 - p) : strlen(p);
		(*n)++;
		p = nl ? nl + 1 : NULL;
	}
	return l;
}

static int line_cmp(const struct sline *x, const struct sline *y)
{
	size_t m = x->keylen < y->keylen ? x->keylen : y->keylen;
	int c = memcmp(x->s, y->s, m);
	if (c)
		return c;
	return x->keylen < y->keylen ? -1 : x->keylen > y->keylen;
}

static json_t *def_of(const struct sline *l)
{
	const char *d = l->s + l->keylen;
	return json_string(*d == '\t' ? d + 1 : d);
}

static void compare_schema(struct cmp *C, json_t *E, json_t *A, struct strbuf *diff)
{
	const char *es = json_string_value(json_object_get(E, "sha256"));
	const char *as = json_string_value(json_object_get(A, "sha256"));
	if (es && as && !strcmp(es, as)) {
		char d[64];
		snprintf(d, sizeof(d), "%lld objects, equal", (long long)json_integer_value(json_object_get(E, "objects")));
		verdict(C, "schema", NULL, "ok", json_string(es), json_string(as), d);
		return;
	}
	const char *et = json_string_value(json_object_get(E, "text"));
	const char *at = json_string_value(json_object_get(A, "text"));
	if (!et || !at) {
		verdict(C, "schema", NULL, "mismatch", es ? json_string(es) : NULL, as ? json_string(as) : NULL,
			"fingerprints differ and a state has no schema text to diff");
		return;
	}
	char *ec = xstrdup(et), *ac = xstrdup(at);
	size_t ne, na;
	struct sline *el = split_lines(ec, &ne), *al = split_lines(ac, &na);
	size_t i = 0, j = 0;
	int before = C->ndiff;
	while (i < ne || j < na) {
		int c = i >= ne ? 1 : j >= na ? -1 : line_cmp(&el[i], &al[j]);
		char name[1024];
		if (c == 0) {
			if (strcmp(el[i].s, al[j].s) != 0) {
				snprintf(name, sizeof(name), "%.*s", (int)el[i].keylen, el[i].s);
				char *tab = strchr(name, '\t');
				const char *kind = name;
				if (tab)
					*tab = '\0';
				char d[1100];
				snprintf(d, sizeof(d), "%s differs", kind);
				json_t *v = verdict(C, "schema", tab ? tab + 1 : name, "mismatch", def_of(&el[i]), def_of(&al[j]), d);
				json_object_set_new(v, "kind", json_string(kind));
				sb_addf(diff, "- %s\n+ %s\n", el[i].s, al[j].s);
			}
			i++;
			j++;
			continue;
		}
		const struct sline *l = c < 0 ? &el[i] : &al[j];
		snprintf(name, sizeof(name), "%.*s", (int)l->keylen, l->s);
		char *tab = strchr(name, '\t');
		if (tab)
			*tab = '\0';
		char d[1100];
		snprintf(d, sizeof(d), "%s %s", name, c < 0 ? "missing in the actual database" : "only in the actual database");
		json_t *v = verdict(C, "schema", tab ? tab + 1 : name, c < 0 ? "missing" : "extra",
				    c < 0 ? def_of(l) : NULL, c > 0 ? def_of(l) : NULL, d);
		json_object_set_new(v, "kind", json_string(name));
		sb_addf(diff, "%c %s\n", c < 0 ? '-' : '+', l->s);
		if (c < 0)
			i++;
		else
			j++;
	}
	if (C->ndiff == before) /* same lines, different fingerprints: a state was edited */
		verdict(C, "schema", NULL, "mismatch", json_string(es ? es : ""), json_string(as ? as : ""),
			"fingerprints differ although the texts are equal");
	free(el);
	free(al);
	free(ec);
	free(ac);
}

/* ---- checksums: live sides ---- */

struct side {
	const char *label;   /* "expected" / "actual" */
	json_t *state;
	const char *param;   /* expected_db / actual_db */
	int tried, ok;
	char *why;           /* why it cannot be used */
	struct resource *r;
	PGconn *c;
};

static void side_disable(struct side *s, char *why)
{
	if (!s->why)
		s->why = why;
	else
		free(why);
	s->ok = 0;
}

static int side_open(struct cmp *C, struct side *s)
{
	if (s->tried)
		return s->ok;
	s->tried = 1;
	const char *name = act_str(C->a, s->param);
	if (!name)
		name = json_string_value(json_object_get(s->state, "resource"));
	if (!name) {
		side_disable(s, xasprintf("the %s state does not name its resource", s->label));
		return 0;
	}
	s->r = act_resource_named(C->a, name);
	s->c = s->r ? pg_connect(C->a, s->r) : NULL;
	if (!s->c) {
		side_disable(s, xasprintf("the %s database (resource '%s') cannot be reached", s->label, name));
		return 0;
	}
	PGresult *res = pg_exec(C->a, s->c, "opening a read for verification",
				"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
	if (!res) {
		side_disable(s, xasprintf("the %s database (resource '%s') cannot be read", s->label, name));
		return 0;
	}
	PQclear(res);
	if (pg_canonical_settings(C->a, s->c, 1) != 0) {
		side_disable(s, xasprintf("the %s database (resource '%s') cannot be read", s->label, name));
		return 0;
	}
	res = pg_exec(C->a, s->c, "opening a read for verification", "SELECT current_database()");
	const char *want = json_string_value(json_object_get(s->state, "database"));
	if (!res || (want && strcmp(PQgetvalue(res, 0, 0), want) != 0)) {
		side_disable(s, xasprintf("resource '%s' is now database %s, not %s of the %s state", name,
					  res ? PQgetvalue(res, 0, 0) : "?", want ? want : "?", s->label));
		PQclear(res);
		return 0;
	}
	PQclear(res);
	s->ok = 1;
	return 1;
}

static void side_close(struct side *s)
{
	if (s->c && PQstatus(s->c) == CONNECTION_OK && s->tried) {
		PGresult *res = PQexec(s->c, "ROLLBACK");
		PQclear(res);
	}
	free(s->why);
	s->why = NULL;
}

/* A table as seen live on one side, checked against the state's key. */
struct livetab {
	int ok;
	struct pgtab t;
};

static int live_table(struct cmp *C, struct side *s, const char *key, json_t *entry, struct livetab *lt)
{
	memset(lt, 0, sizeof(*lt));
	if (!side_open(C, s))
		return 0;
	int rc = pgt_resolve_key(C->a, s->c, key, &lt->t);
	if (rc != 0 || pgt_details(C->a, s->c, &lt->t) != 0) {
		side_disable(s, xasprintf("table %s is no longer in the %s database", key, s->label));
		return 0;
	}
	json_t *k = json_object_get(entry, "key");
	const char *kt = json_string_value(json_object_get(entry, "key_type"));
	int same = json_array_size(k) == lt->t.npk && kt && lt->t.pk1_type && !strcmp(kt, lt->t.pk1_type);
	for (size_t i = 0; same && i < lt->t.npk; i++)
		same = !strcmp(json_string_value(json_array_get(k, i)), lt->t.pk[i]);
	if (!same) {
		side_disable(s, xasprintf("the key of table %s changed in the %s database", key, s->label));
		return 0;
	}
	lt->ok = 1;
	return 1;
}

/* A bound of a key range is a prefix of the key, as a JSON array of the
 * key columns' values as text (NULL: unbounded). A row is in [lo, hi) when
 * the first len(lo) columns of its key compare >= lo and the first len(hi)
 * compare < hi, as rows of SQL values do; the ranges of a state bound only
 * the first key column, the narrowing goes on over the whole key. */
static json_t *bound1(const char *v)
{
	return v ? json_pack("[s]", v) : NULL;
}

static void bound_sql(struct strbuf *sb, PGconn *c, const struct pgtab *t, json_t *b, const char *op)
{
	size_t n = json_array_size(b);
	if (n > t->npk)
		n = t->npk;
	for (size_t k = 0; k < n; k++)
		sb_addf(sb, "%s%s", k ? ", " : n > 1 ? "(" : "", t->pkq[k]);
	sb_addf(sb, "%s %s ", n > 1 ? ")" : "", op);
	for (size_t k = 0; k < n; k++) {
		char *l = pg_literal(c, json_string_value(json_array_get(b, k)));
		sb_addf(sb, "%s%s::%s", k ? ", " : n > 1 ? "(" : "", l, t->pktypes[k]);
		free(l);
	}
	if (n > 1)
		sb_addc(sb, ')');
}

static char *range_where(PGconn *c, const struct pgtab *t, json_t *lo, json_t *hi)
{
	struct strbuf sb = STRBUF_INIT;
	if (lo) {
		sb_adds(&sb, " WHERE ");
		bound_sql(&sb, c, t, lo, ">=");
	}
	if (hi) {
		sb_adds(&sb, lo ? " AND " : " WHERE ");
		bound_sql(&sb, c, t, hi, "<");
	}
	return sb_detach(&sb);
}

/* A bound as text: one value as it is, several as a row literal, quoted as
 * PostgreSQL prints a record ("(7,\"a b\")"); width > 1 writes a one-value
 * bound as a row too, so that bounds of one range read alike. */
static void bound_text(struct strbuf *sb, json_t *b, size_t width, const char *unbounded)
{
	size_t n = json_array_size(b);
	if (!b) {
		sb_adds(sb, unbounded);
		return;
	}
	if (n == 1 && width <= 1) {
		sb_adds(sb, json_string_value(json_array_get(b, 0)));
		return;
	}
	sb_addc(sb, '(');
	for (size_t k = 0; k < n; k++) {
		const char *v = json_string_value(json_array_get(b, k));
		if (k)
			sb_addc(sb, ',');
		if (*v && !strpbrk(v, "(),\"\\ \t\n")) {
			sb_adds(sb, v);
			continue;
		}
		sb_addc(sb, '"');
		for (; *v; v++) {
			if (*v == '"' || *v == '\\')
				sb_addc(sb, *v);
			sb_addc(sb, *v);
		}
		sb_addc(sb, '"');
	}
	sb_addc(sb, ')');
}

static const char *only_kw(const struct pgtab *t)
{
	return t->relkind == 'p' ? "" : "ONLY ";
}

/* Live sum of a key range on one side. 0, or -1 (side disabled). */
static int live_sum(struct cmp *C, struct side *s, const struct pgtab *t, json_t *lo, json_t *hi, struct acc *out,
		    json_t **keys)
{
	char *w = range_where(s->c, t, lo, hi);
	char *sql = keys ? xasprintf("COPY (SELECT %s%s%s FROM %s%s%s) TO STDOUT", t->pkrow, t->ncols ? ", " : "",
				     t->collist, only_kw(t), t->qname, w)
			 : xasprintf("COPY (SELECT %s FROM %s%s%s) TO STDOUT", t->collist, only_kw(t), t->qname, w);
	free(w);
	char *err = NULL;
	C->queries++;
	int rc = pg_copy_hash(C->a, s->c, sql, keys != NULL, out, keys, (size_t)C->leaf_rows + 1, &err);
	free(sql);
	if (rc != 0) {
		side_disable(s, xasprintf("reading table %s in the %s database failed: %s", t->key, s->label,
					  err ? err : "?"));
		free(err);
		return -1;
	}
	return 0;
}

/* The first row of a query as a JSON array of texts (*out NULL when there
 * is no row or a value is NULL). 0, or -1 (side disabled). */
static int live_row(struct cmp *C, struct side *s, const char *sql, json_t **out)
{
	*out = NULL;
	C->queries++;
	PGresult *res = pg_exec(C->a, s->c, "narrowing a difference", sql);
	if (!res) {
		side_disable(s, xasprintf("a query in the %s database failed", s->label));
		return -1;
	}
	if (PQntuples(res) > 0) {
		json_t *row = json_array();
		for (int k = 0; k < PQnfields(res) && row; k++) {
			json_t *v = PQgetisnull(res, 0, k) ? NULL : json_string(PQgetvalue(res, 0, k));
			if (!v) {
				json_decref(row);
				row = NULL;
				break;
			}
			json_array_append_new(row, v);
		}
		*out = row;
	}
	PQclear(res);
	return 0;
}

/* ---- checksums: ranges ---- */

struct rng {
	json_t *lo, *hi; /* bounds (see bound1); NULL = unbounded */
	struct acc e, x;
	int final;       /* cannot be narrowed further */
	json_t *keys;    /* changed/missing/extra, when listed */
};

static void rng_free(struct rng *r)
{
	json_decref(r->lo);
	json_decref(r->hi);
	json_decref(r->keys);
}

static int acc_from_range(json_t *r, struct acc *out)
{
	memset(out, 0, sizeof(*out));
	if (acc_parse(out, json_string_value(json_object_get(r, "sum"))) != 0)
		return -1;
	out->rows = json_integer_value(json_object_get(r, "rows"));
	return 0;
}

static int str_eq(const char *x, const char *y)
{
	return (!x && !y) || (x && y && !strcmp(x, y));
}

/* A one-value bound equal to a state's bound text (NULL = unbounded). */
static int bound_is(json_t *b, const char *v)
{
	return b ? json_array_size(b) == 1 && str_eq(json_string_value(json_array_get(b, 0)), v) : !v;
}

/* How many key columns the bounds of a range name. */
static size_t range_width(const struct rng *r)
{
	size_t w = json_array_size(r->lo);
	return json_array_size(r->hi) > w ? json_array_size(r->hi) : w;
}

/* The key columns a range names, as text: "id", "(playlist_id, track_id)". */
static void range_key(struct strbuf *sb, json_t *key, size_t width)
{
	if (width <= 1) {
		sb_adds(sb, json_string_value(json_array_get(key, 0)));
		return;
	}
	for (size_t k = 0; k < width && k < json_array_size(key); k++)
		sb_addf(sb, "%s%s", k ? ", " : "(", json_string_value(json_array_get(key, k)));
	sb_addc(sb, ')');
}

static void range_text(struct strbuf *sb, const struct rng *r)
{
	size_t w = range_width(r);
	sb_addc(sb, '[');
	bound_text(sb, r->lo, w, "-inf");
	sb_adds(sb, ", ");
	bound_text(sb, r->hi, w, "+inf");
	sb_addc(sb, ')');
}

/* Splits the range's key space at a point: for an integer first key
 * column spanning at least two values, their middle; otherwise the median
 * key (all key columns) of the side with more rows, so that ranges within
 * one value of the first column (a tenant, a playlist) narrow on the
 * columns after it. 1 with *mid set (a bound), 0 when it cannot be split. */
static int split_point(struct cmp *C, struct side *es, struct side *as, const struct pgtab *et,
		       const struct pgtab *at, struct rng *r, json_t **mid)
{
	*mid = NULL;
	if (et->pk1_int && json_array_size(r->lo) <= 1 && json_array_size(r->hi) <= 1) {
		/* replace open ends by the data's own bounds */
		for (int end = 0; end < 2; end++) {
			if (end == 0 ? r->lo != NULL : r->hi != NULL)
				continue;
			int64_t best = 0;
			int have = 0;
			struct side *sd[2] = { es, as };
			const struct pgtab *tb[2] = { et, at };
			const struct acc *cnt[2] = { &r->e, &r->x };
			for (int k = 0; k < 2; k++) {
				if (!cnt[k]->rows)
					continue;
				char *w = range_where(sd[k]->c, tb[k], r->lo, r->hi);
				char *sql = xasprintf("SELECT %s(%s)::text FROM %s%s%s", end == 0 ? "min" : "max", tb[k]->pk1q,
						      only_kw(tb[k]), tb[k]->qname, w);
				free(w);
				json_t *v = NULL;
				int rc = live_row(C, sd[k], sql, &v);
				free(sql);
				if (rc != 0)
					return 0;
				int64_t x;
				if (v && parse_int64(json_string_value(json_array_get(v, 0)), &x) == 0 &&
				    (!have || (end == 0 ? x < best : x > best))) {
					best = x;
					have = 1;
				}
				json_decref(v);
			}
			if (!have)
				return 0;
			char buf[32];
			if (end == 0) {
				snprintf(buf, sizeof(buf), "%lld", (long long)best);
				r->lo = bound1(buf);
			} else {
				if (best == INT64_MAX)
					return 0;
				snprintf(buf, sizeof(buf), "%lld", (long long)best + 1);
				r->hi = bound1(buf);
			}
		}
		int64_t lo, hi;
		if (parse_int64(json_string_value(json_array_get(r->lo, 0)), &lo) != 0 ||
		    parse_int64(json_string_value(json_array_get(r->hi, 0)), &hi) != 0)
			return 0;
		if ((__int128)hi - lo >= 2) {
			char buf[32];
			snprintf(buf, sizeof(buf), "%lld", (long long)(lo + (int64_t)(((__int128)hi - lo) / 2)));
			*mid = bound1(buf);
			return 1;
		}
		if (et->npk == 1)
			return 0; /* one key value: one row */
	}
	/* the median key of the side with more rows */
	int use_e = r->e.rows >= r->x.rows;
	struct side *sd = use_e ? es : as;
	const struct pgtab *tb = use_e ? et : at;
	int64_t n = use_e ? r->e.rows : r->x.rows;
	if (n < 2)
		return 0;
	struct strbuf cols = STRBUF_INIT, order = STRBUF_INIT;
	/* ORDER BY names the table's columns through its alias: bare, they
	 * would name the text output columns and sort as text */
	for (size_t k = 0; k < tb->npk; k++) {
		sb_addf(&cols, "%s%s::text", k ? ", " : "", tb->pkq[k]);
		sb_addf(&order, "%s_k.%s", k ? ", " : "", tb->pkq[k]);
	}
	char *w = range_where(sd->c, tb, r->lo, r->hi);
	char *sql = xasprintf("SELECT %s FROM %s%s AS _k%s ORDER BY %s OFFSET %lld LIMIT 1", sb_str(&cols), only_kw(tb),
			      tb->qname, w, sb_str(&order), (long long)(n / 2));
	free(w);
	sb_release(&cols);
	sb_release(&order);
	json_t *v = NULL;
	int rc = live_row(C, sd, sql, &v);
	free(sql);
	/* OFFSET n/2 >= 1 puts the median above the range's first row, so
	 * [lo, mid) and [mid, hi) are both smaller; equal to lo only when the
	 * side no longer holds what was counted */
	if (rc != 0 || !v || (r->lo && json_equal(v, r->lo))) {
		json_decref(v);
		return 0;
	}
	*mid = v;
	return 1;
}

/* Lists the keys of the rows that differ in a small range. */
static int list_keys(struct cmp *C, struct side *es, struct side *as, const struct pgtab *et, const struct pgtab *at,
		     struct rng *r)
{
	json_t *ek = NULL, *ak = NULL;
	struct acc e, x;
	if (live_sum(C, es, et, r->lo, r->hi, &e, &ek) != 0 || live_sum(C, as, at, r->lo, r->hi, &x, &ak) != 0) {
		json_decref(ek);
		json_decref(ak);
		return -1;
	}
	/* the keys are those of the states only while each side still holds
	 * what its state says */
	if (!acc_eq(&e, &r->e) || !acc_eq(&x, &r->x)) {
		struct side *s = !acc_eq(&e, &r->e) ? es : as;
		side_disable(s, xasprintf("the %s database has changed since its state was captured", s->label));
		json_decref(ek);
		json_decref(ak);
		return -1;
	}
	json_t *changed = json_array(), *missing = json_array(), *extra = json_array();
	const char *k;
	json_t *v;
	json_object_foreach(ek, k, v)
	{
		json_t *w = json_object_get(ak, k);
		if (!w)
			json_array_append_new(missing, json_string(k));
		else if (strcmp(json_string_value(v), json_string_value(w)) != 0)
			json_array_append_new(changed, json_string(k));
	}
	json_object_foreach(ak, k, v) if (!json_object_get(ek, k)) json_array_append_new(extra, json_string(k));
	r->keys = json_pack("{s:o,s:o,s:o}", "changed", changed, "missing", missing, "extra", extra);
	json_decref(ek);
	json_decref(ak);
	return 0;
}

/* Adds a note to a list of notes separated by "; ". */
static void note(struct strbuf *sb, const char *fmt, ...) PRINTF_LIKE(2, 3);
static void note(struct strbuf *sb, const char *fmt, ...)
{
	if (sb->len)
		sb_adds(sb, "; ");
	va_list ap;
	va_start(ap, fmt);
	sb_vaddf(sb, fmt, ap);
	va_end(ap);
}

/* Narrows the differing ranges of one table by live bisection. `why`
 * receives a note when it could not go (further). */
static void narrow(struct cmp *C, const char *key, json_t *eentry, struct side *es, struct side *as,
		   struct rng **rs, size_t *nr, struct strbuf *why)
{
	if (!C->bisect) {
		note(why, "not narrowed further (bisect: false)");
		return;
	}
	/* zeroed: when the first side fails the second is never looked at, and
	 * both are released below */
	struct livetab el = { 0 }, al = { 0 };
	if (!live_table(C, es, key, eentry, &el) || !live_table(C, as, key, eentry, &al)) {
		note(why, "not narrowed further: %s", es->why ? es->why : as->why ? as->why : "a database cannot be read");
		pgt_release(&el.t);
		pgt_release(&al.t);
		return;
	}
	/* each side must still hold what its state says, range by range */
	size_t n = *nr;
	for (size_t i = 0; i < n; i++) {
		if (C->diff && (*rs)[i].e.rows <= C->leaf_rows && (*rs)[i].x.rows <= C->leaf_rows)
			continue; /* listing its keys re-reads it */
		if (C->queries + 2 > C->max_queries) {
			note(why, "not narrowed further: max_queries (%lld) reached", (long long)C->max_queries);
			goto out;
		}
		struct acc e, x;
		if (live_sum(C, es, &el.t, (*rs)[i].lo, (*rs)[i].hi, &e, NULL) != 0 ||
		    live_sum(C, as, &al.t, (*rs)[i].lo, (*rs)[i].hi, &x, NULL) != 0) {
			note(why, "not narrowed further: %s", es->why ? es->why : as->why);
			goto out;
		}
		if (!acc_eq(&e, &(*rs)[i].e)) {
			side_disable(es, xasprintf("the expected database has changed since its state was captured"));
			note(why, "not narrowed further: %s", es->why);
			goto out;
		}
		if (!acc_eq(&x, &(*rs)[i].x)) {
			side_disable(as, xasprintf("the actual database has changed since its state was captured"));
			note(why, "not narrowed further: %s", as->why);
			goto out;
		}
	}
	/* breadth first over the worklist, appending halves */
	for (size_t i = 0; i < *nr; i++) {
		struct rng *r = &(*rs)[i];
		if (r->final)
			continue;
		if (r->e.rows <= C->leaf_rows && r->x.rows <= C->leaf_rows) {
			if (C->queries + 2 > C->max_queries) {
				note(why, "not narrowed further: max_queries (%lld) reached", (long long)C->max_queries);
				break;
			}
			if (list_keys(C, es, as, &el.t, &al.t, r) != 0) {
				note(why, "not narrowed further: %s", es->why ? es->why : as->why);
				break;
			}
			r->final = 1;
			continue;
		}
		if (C->queries + 4 > C->max_queries) {
			note(why, "not narrowed further: max_queries (%lld) reached", (long long)C->max_queries);
			break;
		}
		json_t *mid = NULL;
		if (!split_point(C, es, as, &el.t, &al.t, r, &mid)) {
			r->final = 1;
			if (!es->ok || !as->ok) {
				note(why, "not narrowed further: %s", es->ok ? as->why : es->why);
				break;
			}
			struct strbuf rt = STRBUF_INIT;
			range_text(&rt, r);
			note(why, "range %s could not be split further", sb_str(&rt));
			sb_release(&rt);
			continue;
		}
		struct acc le, lx;
		if (live_sum(C, es, &el.t, r->lo, mid, &le, NULL) != 0 || live_sum(C, as, &al.t, r->lo, mid, &lx, NULL) != 0) {
			json_decref(mid);
			note(why, "not narrowed further: %s", es->why ? es->why : as->why);
			break;
		}
		struct acc re = r->e, rx = r->x;
		acc_sub(&re, &le);
		acc_sub(&rx, &lx);
		int ldiff = !acc_eq(&le, &lx), rdiff = !acc_eq(&re, &rx);
		/* both halves are strictly smaller key spaces ([lo, mid), [mid, hi)
		 * with lo < mid < hi), so this ends */
		struct rng halves[2] = {
			{ json_incref(r->lo), json_incref(mid), le, lx, 0, NULL },
			{ json_incref(mid), json_incref(r->hi), re, rx, 0, NULL },
		};
		int diff[2] = { ldiff, rdiff };
		json_decref(mid);
		/* replace r by its differing halves */
		int placed = 0;
		for (int h = 0; h < 2; h++) {
			if (!diff[h]) {
				rng_free(&halves[h]);
				continue;
			}
			if (!placed) {
				rng_free(r);
				*r = halves[h];
				placed = 1;
			} else {
				*rs = xrealloc(*rs, (*nr + 1) * sizeof(**rs));
				(*rs)[(*nr)++] = halves[h];
				r = &(*rs)[i];
			}
		}
		if (!placed) { /* both halves equal: cannot be (sums add up); stop here */
			r->final = 1;
			continue;
		}
		i--; /* look at the range now in slot i again */
	}
out:
	pgt_release(&el.t);
	pgt_release(&al.t);
}

/* A materialized view not populated on one side (or both): its verdict. */
static void checksum_unpopulated(struct cmp *C, const char *key, json_t *e, json_t *x, int eunpop, int aunpop)
{
	char d[200];
	if (eunpop && aunpop)
		snprintf(d, sizeof(d), "not populated on either side");
	else
		snprintf(d, sizeof(d), "the materialized view is not populated in the %s database (%lld rows in the %s)",
			 aunpop ? "actual" : "expected", (long long)json_integer_value(json_object_get(aunpop ? e : x, "rows")),
			 aunpop ? "expected" : "actual");
	verdict(C, "checksums", key, eunpop && aunpop ? "ok" : "mismatch", json_incref(json_object_get(e, "sha256")),
		json_incref(json_object_get(x, "sha256")), d);
}

/* The same key ranges on both sides (same bounds, same key): the ranges
 * whose sums differ, each once, into *rs. */
static void ranges_same_grid(json_t *er, json_t *ar, struct rng **rs, size_t *nr)
{
	json_t *all = json_array();
	size_t k;
	json_t *r;
	json_array_foreach(er, k, r) json_array_append(all, r);
	json_array_foreach(ar, k, r) json_array_append(all, r);
	size_t nu = json_array_size(all);
	for (size_t a = 0; a < nu; a++) {
		json_t *ra = json_array_get(all, a);
		const char *lo = json_string_value(json_object_get(ra, "lo"));
		const char *hi = json_string_value(json_object_get(ra, "hi"));
		int dup = 0;
		for (size_t q = 0; q < *nr && !dup; q++)
			dup = bound_is((*rs)[q].lo, lo) && bound_is((*rs)[q].hi, hi);
		if (dup)
			continue;
		struct acc sa, sb2;
		memset(&sa, 0, sizeof(sa));
		memset(&sb2, 0, sizeof(sb2));
		json_array_foreach(er, k, r) if (str_eq(json_string_value(json_object_get(r, "lo")), lo) &&
						 str_eq(json_string_value(json_object_get(r, "hi")), hi))
			acc_from_range(r, &sa);
		json_array_foreach(ar, k, r) if (str_eq(json_string_value(json_object_get(r, "lo")), lo) &&
						 str_eq(json_string_value(json_object_get(r, "hi")), hi))
			acc_from_range(r, &sb2);
		*rs = xrealloc(*rs, (*nr + 1) * sizeof(**rs));
		struct rng *n = &(*rs)[*nr];
		n->lo = bound1(lo);
		n->hi = bound1(hi);
		n->e = sa;
		n->x = sb2;
		n->final = 0;
		n->keys = NULL;
		if (acc_eq(&sa, &sb2)) {
			rng_free(n);
			continue;
		}
		(*nr)++;
	}
	json_decref(all);
}

/* Different split points: one range, the whole key space, with the sums of
 * every range on each side. */
static void ranges_whole(json_t *er, json_t *ar, struct rng **rs, size_t *nr)
{
	*rs = xcalloc(1, sizeof(**rs));
	size_t k;
	json_t *r;
	json_array_foreach(er, k, r)
	{
		struct acc t;
		if (acc_from_range(r, &t) == 0)
			acc_add(&(*rs)[0].e, &t);
	}
	json_array_foreach(ar, k, r)
	{
		struct acc t;
		if (acc_from_range(r, &t) == 0)
			acc_add(&(*rs)[0].x, &t);
	}
	*nr = 1;
}

/* " (changed keys a b ...)" for each kind of differing key a range names. */
static void range_keys_text(struct strbuf *det, json_t *keys)
{
	static const char *const kinds[] = { "changed", "missing", "extra" };
	for (int kk = 0; kk < 3; kk++) {
		json_t *l = json_object_get(keys, kinds[kk]);
		if (!json_array_size(l))
			continue;
		sb_addf(det, " (%s key%s", kinds[kk], json_array_size(l) == 1 ? "" : "s");
		size_t z;
		json_t *kv;
		json_array_foreach(l, z, kv)
		{
			if (z == 5) {
				sb_addf(det, " ...");
				break;
			}
			sb_addf(det, " %s", json_string_value(kv));
		}
		sb_addc(det, ')');
	}
}

/* The differing ranges: into out (the verdict's "ranges"), the first five
 * into det. Frees them. */
static void ranges_report(json_t *key, struct rng *rs, size_t nr, struct strbuf *det, json_t *out)
{
	for (size_t q = 0; q < nr; q++) {
		size_t width = range_width(&rs[q]);
		struct strbuf kt = STRBUF_INIT, rt = STRBUF_INIT, lo = STRBUF_INIT, hi = STRBUF_INIT;
		range_key(&kt, key, width);
		range_text(&rt, &rs[q]);
		bound_text(&lo, rs[q].lo, width, "");
		bound_text(&hi, rs[q].hi, width, "");
		json_t *ro = json_object();
		json_object_set_new(ro, "key", json_string(sb_str(&kt)));
		json_object_set_new(ro, "lo", rs[q].lo ? json_string(sb_str(&lo)) : json_null());
		json_object_set_new(ro, "hi", rs[q].hi ? json_string(sb_str(&hi)) : json_null());
		sb_release(&lo);
		sb_release(&hi);
		json_object_set_new(ro, "expected_rows", json_integer(rs[q].e.rows));
		json_object_set_new(ro, "actual_rows", json_integer(rs[q].x.rows));
		if (rs[q].keys)
			json_object_update(ro, rs[q].keys);
		json_array_append_new(out, ro);
		if (q < 5) {
			sb_addf(det, "%s %s %s: %lld row%s expected, %lld actual", q ? ";" : ":", sb_str(&kt), sb_str(&rt),
				(long long)rs[q].e.rows, rs[q].e.rows == 1 ? "" : "s", (long long)rs[q].x.rows);
			if (rs[q].keys)
				range_keys_text(det, rs[q].keys);
		}
		sb_release(&kt);
		sb_release(&rt);
		rng_free(&rs[q]);
	}
	if (nr > 5)
		sb_addf(det, "; and %zu more ranges", nr - 5);
	free(rs);
}

/* A table whose content differs: the key ranges that differ, narrowed
 * against the live databases when they can be reached, in its verdict. */
static void checksum_mismatch(struct cmp *C, const char *table, json_t *e, json_t *x, struct side *es,
			      struct side *as)
{
	int64_t erows = json_integer_value(json_object_get(e, "rows"));
	int64_t arows = json_integer_value(json_object_get(x, "rows"));
	struct strbuf det = STRBUF_INIT, why = STRBUF_INIT;
	if (erows != arows)
		sb_addf(&det, "content differs (%lld rows expected, %lld actual)", (long long)erows, (long long)arows);
	else
		sb_addf(&det, "content differs (%lld rows on both sides)", (long long)erows);
	json_t *key = json_object_get(e, "key");
	json_t *ranges_out = json_array();
	if (!json_array_size(key)) {
		sb_adds(&det, "; the table has no primary key, so no key ranges can be named");
		note(&why, "not narrowed: the table has no primary key");
	} else {
		struct rng *rs = NULL;
		size_t nr = 0;
		json_t *eb = json_object_get(e, "bounds"), *ab = json_object_get(x, "bounds");
		json_t *er = json_object_get(e, "ranges"), *ar = json_object_get(x, "ranges");
		if (json_equal(eb, ab) && json_equal(key, json_object_get(x, "key"))) {
			ranges_same_grid(er, ar, &rs, &nr);
		} else {
			ranges_whole(er, ar, &rs, &nr);
			sb_adds(&why, "the states split the table at different key bounds (capture the second with ranges_from: ${steps.<first>.state} to compare range by range)");
		}
		if (nr)
			narrow(C, table, e, es, as, &rs, &nr, &why);
		ranges_report(key, rs, nr, &det, ranges_out);
		if (why.len)
			sb_addf(&det, " (%s)", sb_str(&why));
	}
	/* why the narrowing stopped before naming every differing key */
	json_t *v = verdict(C, "checksums", table, "mismatch", json_incref(json_object_get(e, "sha256")),
			    json_incref(json_object_get(x, "sha256")), sb_str(&det));
	json_object_set_new(v, "expected_rows", json_integer(erows));
	json_object_set_new(v, "actual_rows", json_integer(arows));
	json_object_set_new(v, "ranges", ranges_out);
	if (why.len)
		json_object_set_new(v, "stopped", json_string(sb_str(&why)));
	sb_release(&det);
	sb_release(&why);
}

static void compare_checksums(struct cmp *C, json_t *E, json_t *A, struct side *es, struct side *as)
{
	size_t n;
	const char **keys = key_union(E, A, &n);
	for (size_t i = 0; i < n; i++) {
		if (!table_wanted(C, keys[i]))
			continue;
		json_t *e = json_object_get(E, keys[i]), *x = json_object_get(A, keys[i]);
		json_t *esha = json_object_get(e, "sha256"), *asha = json_object_get(x, "sha256");
		if (one_sided(C, "checksums", keys[i], e, x, esha, asha, "table"))
			continue;
		int eunpop = json_is_false(json_object_get(e, "populated"));
		int aunpop = json_is_false(json_object_get(x, "populated"));
		if (eunpop || aunpop) {
			checksum_unpopulated(C, keys[i], e, x, eunpop, aunpop);
			continue;
		}
		int64_t erows = json_integer_value(json_object_get(e, "rows"));
		if (json_is_string(esha) && json_equal(esha, asha) && erows == json_integer_value(json_object_get(x, "rows"))) {
			char d[64];
			snprintf(d, sizeof(d), "%lld rows, equal", (long long)erows);
			verdict(C, "checksums", keys[i], "ok", json_incref(esha), json_incref(asha), d);
			continue;
		}
		checksum_mismatch(C, keys[i], e, x, es, as);
	}
	free(keys);
}

/* ---- the action ---- */

static const char *const all_checks[] = { "schema", "counts", "freshness", "sequences", "checksums", NULL };

static int parse_tolerances(struct act *a, json_t *t, struct tol *tol)
{
	memset(tol, 0, sizeof(*tol));
	tol->min_ratio = tol->max_ratio = 1;
	if (!t)
		return 0;
	const char *k;
	json_t *v;
	json_object_foreach(t, k, v)
	{
		if (!strcmp(k, "counts")) {
			json_t *mn = json_object_get(v, "min_ratio"), *mx = json_object_get(v, "max_ratio");
			if (!json_is_object(v) || (!mn && !mx) || (mn && !json_is_number(mn)) || (mx && !json_is_number(mx)))
				return act_fail(a, "tolerances.counts must be {min_ratio: R} and/or {max_ratio: M} with numbers"), -1;
			const char *kk;
			json_t *vv;
			json_object_foreach(v, kk, vv) if (strcmp(kk, "min_ratio") && strcmp(kk, "max_ratio")) return act_fail(a, "tolerances.counts has unknown key '%s'; use min_ratio or max_ratio", kk), -1;
			tol->counts = 1;
			tol->min_ratio = mn ? json_number_value(mn) : 1;
			if (tol->min_ratio <= 0 || tol->min_ratio > 1)
				return act_fail(a, "tolerances.counts.min_ratio is %g; it must be above 0 and at most 1", tol->min_ratio), -1;
			tol->max_ratio = mx ? json_number_value(mx) : 1 / tol->min_ratio;
			if (tol->max_ratio < 1)
				return act_fail(a, "tolerances.counts.max_ratio is %g; it must be at least 1", tol->max_ratio), -1;
		} else if (!strcmp(k, "freshness")) {
			json_t *ma = json_object_get(v, "max_age");
			int64_t us;
			if (!json_is_object(v) || !ma || json_object_size(v) != 1 ||
			    !((json_is_string(ma) && parse_duration(json_string_value(ma), &us) == 0) ||
			      (json_is_integer(ma) && (us = json_integer_value(ma) * 1000000) >= 0)))
				return act_fail(a, "tolerances.freshness must be {max_age: DURATION}, e.g. {max_age: 26h}"), -1;
			tol->fresh = 1;
			tol->max_age_us = us;
		} else if (!strcmp(k, "sequences")) {
			json_t *mb = json_object_get(v, "max_behind");
			if (!json_is_object(v) || !mb || json_object_size(v) != 1 ||
			    !((json_is_integer(mb) && json_integer_value(mb) >= 0) ||
			      (json_is_string(mb) && !strcmp(json_string_value(mb), "any"))))
				return act_fail(a, "tolerances.sequences must be {max_behind: N} (values a position may lag, N >= 0) or {max_behind: any}"), -1;
			tol->seqs = 1;
			tol->max_behind = json_is_integer(mb) ? json_integer_value(mb) : -1;
		} else if (!strcmp(k, "schema") || !strcmp(k, "checksums")) {
			return act_fail(a, "tolerances.%s: %s is always compared exactly", k, k), -1;
		} else {
			return act_fail(a, "tolerances has unknown key '%s'; use counts, freshness or sequences", k), -1;
		}
	}
	return 0;
}

static int is_state(json_t *s)
{
	return json_is_object(s) && (json_object_get(s, "drplay_state") || json_object_get(s, "counts") ||
				     json_object_get(s, "schema") || json_object_get(s, "freshness") ||
				     json_object_get(s, "checksums"));
}

/* A window of at most max bytes of s from byte `from` (moved back to the
 * start of a UTF-8 character), with "..." where it was cut. New string. */
static char *window(const char *s, size_t from, size_t max)
{
	size_t len = strlen(s);
	if (len <= max)
		return xstrdup(s);
	if (max < 10)
		max = 10;
	if (from > len)
		from = len;
	while (from > 0 && ((unsigned char)s[from] & 0xC0) == 0x80)
		from--;
	size_t room = max - (from ? 3 : 0);
	size_t n = len - from;
	if (n > room) {
		n = room - 3;
		while (n > 0 && ((unsigned char)s[from + n] & 0xC0) == 0x80)
			n--;
	}
	return xasprintf("%s%.*s%s", from ? "..." : "", (int)n, s + from, from + n < len ? "..." : "");
}

static char *cell(json_t *v, size_t max)
{
	char *s = json_is_null(v) || !v ? xstrdup("-") : json_is_string(v) ? xstrdup(json_string_value(v))
									 : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	if (!s)
		s = xstrdup("?");
	char *w = window(s, 0, max);
	free(s);
	return w;
}

/* The expected and actual figures of a verdict, each at most max bytes:
 * two texts too long to show whole are cut around their first differing
 * character, so that what differs is on the screen (two long schema lines
 * that differ near their end would otherwise look the same). */
static void cells(json_t *v, size_t max, char **e, char **x)
{
	json_t *ev = json_object_get(v, "expected"), *xv = json_object_get(v, "actual");
	const char *es = json_string_value(ev), *xs = json_string_value(xv);
	if (!es || !xs || (strlen(es) <= max && strlen(xs) <= max)) {
		*e = cell(ev, max);
		*x = cell(xv, max);
		return;
	}
	size_t d = 0;
	while (es[d] && es[d] == xs[d])
		d++;
	size_t from = d > max / 3 ? d - max / 3 : 0;
	*e = window(es, from, max);
	*x = window(xs, from, max);
}

/* The tolerances: under `tolerances:` or (counts, freshness, sequences)
 * given directly. 0, or -1 after act_fail. */
static int compare_tolerances(struct act *a, struct cmp *C)
{
	json_t *tol = json_deep_copy(act_json(a, "tolerances"));
	static const char *const direct[] = { "counts", "freshness", "sequences" };
	for (int k = 0; k < 3; k++) {
		json_t *v = act_json(a, direct[k]);
		if (!v)
			continue;
		if (!tol)
			tol = json_object();
		if (json_object_get(tol, direct[k])) {
			json_decref(tol);
			return act_fail(a, "'%s' is given twice (directly and under tolerances); keep one", direct[k]), -1;
		}
		json_object_set(tol, direct[k], v);
	}
	int trc = parse_tolerances(a, tol, &C->tol);
	json_decref(tol);
	return trc != 0 ? -1 : 0;
}

/* The checks to make: those asked for, else every section both states
 * hold. A new array, or NULL after act_fail. */
static json_t *compare_list(struct act *a, json_t *E, json_t *A, const char *const *all)
{
	json_t *checks = act_json(a, "checks");
	json_t *list = json_array();
	if (checks) {
		size_t i;
		json_t *c;
		json_array_foreach(checks, i, c) json_array_append(list, c);
		return list;
	}
	for (int i = 0; all[i]; i++)
		if (json_object_get(E, all[i]) && json_object_get(A, all[i]))
			json_array_append_new(list, json_string(all[i]));
	if (json_array_size(list))
		return list;
	json_decref(list);
	return act_fail(a, "the two states have no check in common; capture the same sections (counts, schema, freshness, checksums) in both"),
	       NULL;
}

/* A table a state could not find is always a difference. */
static void compare_missing(struct cmp *C, json_t *E, json_t *A)
{
	for (int side = 0; side < 2; side++) {
		json_t *S = side ? A : E;
		size_t k;
		json_t *t;
		json_array_foreach(json_object_get(S, "missing"), k, t)
		{
			if (!json_is_string(t) || !table_wanted(C, json_string_value(t)))
				continue;
			const char *db = json_string_value(json_object_get(S, "database"));
			char d[600];
			snprintf(d, sizeof(d), "table '%s' does not exist in the %s database (%s)", json_string_value(t),
				 side ? "actual" : "expected", db ? db : "?");
			verdict(C, "tables", json_string_value(t), "missing", NULL, NULL, d);
		}
	}
}

/* Each check on its section of both states. */
static void compare_sections(struct cmp *C, json_t *E, json_t *A, json_t *list, struct strbuf *diff)
{
	struct side es = { "expected", E, "expected_db", 0, 0, NULL, NULL, NULL };
	struct side as = { "actual", A, "actual_db", 0, 0, NULL, NULL, NULL };
	size_t i;
	json_t *c;
	int listed = 0;
	json_array_foreach(list, i, c)
	{
		const char *ck = json_string_value(c);
		listed |= !strcmp(ck, "sequences");
		json_t *ES = json_object_get(E, ck), *AS = json_object_get(A, ck);
		if (!ES || !AS) {
			char d[200];
			snprintf(d, sizeof(d), "the %s state has no %s; capture them in both states", ES ? "actual" : "expected", ck);
			verdict(C, ck, NULL, ES ? "missing" : "extra", NULL, NULL, d);
			continue;
		}
		if (!strcmp(ck, "counts"))
			compare_counts(C, ES, AS);
		else if (!strcmp(ck, "freshness"))
			compare_freshness(C, ES, AS);
		else if (!strcmp(ck, "schema"))
			compare_schema(C, ES, AS, diff);
		else if (!strcmp(ck, "sequences"))
			compare_sequences(C, ES, AS);
		else
			compare_checksums(C, ES, AS, &es, &as);
	}
	/* a sequence behind a column it feeds is a difference whatever the
	 * other state says (also when only one state records sequences) */
	if (listed || !act_json(C->a, "checks"))
		for (int side = 0; side < 2; side++)
			if (json_is_object(json_object_get(side ? A : E, "sequences")))
				sequences_behind(C, json_object_get(side ? A : E, "sequences"), side ? "actual" : "expected");
	side_close(&es);
	side_close(&as);
}

static const char *verdict_word(const char *vd)
{
	if (!strcmp(vd, "ok"))
		return "ok";
	return !strcmp(vd, "mismatch") ? "MISMATCH" : !strcmp(vd, "missing") ? "MISSING" : !strcmp(vd, "behind") ? "BEHIND" : "EXTRA";
}

/* The readable table of verdicts (the summary output). */
static void compare_summary(const struct cmp *C, struct strbuf *sum)
{
	sb_addf(sum, "%-10s %-40s %-22s %-22s %s\n", "check", "table", "expected", "actual", "verdict");
	size_t i;
	json_t *v;
	json_array_foreach(C->verdicts, i, v)
	{
		char *t = cell(json_object_get(v, "table"), 40), *e, *x;
		cells(v, 22, &e, &x);
		sb_addf(sum, "%-10s %-40s %-22s %-22s %s\n", json_string_value(json_object_get(v, "check")), t, e, x,
			verdict_word(json_string_value(json_object_get(v, "verdict"))));
		free(t);
		free(e);
		free(x);
	}
}

/* A line per check, a line per difference, the schema diff. */
static void compare_log(struct cmp *C, json_t *list, const struct strbuf *diff)
{
	struct act *a = C->a;
	size_t i, k;
	json_t *c, *v;
	json_array_foreach(list, i, c)
	{
		const char *ck = json_string_value(c);
		int total = 0, bad = 0;
		json_array_foreach(C->verdicts, k, v)
		{
			if (strcmp(json_string_value(json_object_get(v, "check")), ck))
				continue;
			total++;
			bad += strcmp(json_string_value(json_object_get(v, "verdict")), "ok") != 0;
		}
		act_log(a, "%s: %d compared, %d ok, %d difference%s", ck, total, total - bad, bad, bad == 1 ? "" : "s");
	}
	json_array_foreach(C->verdicts, i, v)
	{
		const char *vd = json_string_value(json_object_get(v, "verdict"));
		const char *detail = json_string_value(json_object_get(v, "detail"));
		if (!strcmp(vd, "ok"))
			continue;
		if (!strcmp(vd, "behind")) {
			act_log(a, "  behind sequences %s: %s", json_string_value(json_object_get(v, "table")), detail);
			continue;
		}
		char *e, *x;
		cells(v, 80, &e, &x);
		act_log(a, "  %s %s %s: expected %s, actual %s; %s", vd, json_string_value(json_object_get(v, "check")),
			json_is_string(json_object_get(v, "table")) ? json_string_value(json_object_get(v, "table")) : "-", e,
			x, detail ? detail : "");
		free(e);
		free(x);
	}
	if (diff->len) {
		/* one log line per diff line: a value's line breaks are escaped on the terminal */
		act_log(a, "schema diff (- expected, + actual):");
		for (const char *l = sb_str(diff), *nl; *l; l = nl ? nl + 1 : l + strlen(l)) {
			nl = strchr(l, '\n');
			act_log(a, "%.*s", nl ? (int)(nl - l) : (int)strlen(l), l);
		}
	}
	if (C->queries)
		act_log(a, "%lld live quer%s to locate differences", (long long)C->queries, C->queries == 1 ? "y" : "ies");
}

/* The step's failure: the first ten differences, each with its detail. */
static int compare_fail(const struct cmp *C, json_t *E, json_t *A)
{
	struct strbuf m = STRBUF_INIT;
	const char *en = json_string_value(json_object_get(E, "name")), *an = json_string_value(json_object_get(A, "name"));
	sb_addf(&m, "verification failed: %d difference%s between '%s' and '%s'", C->ndiff, C->ndiff == 1 ? "" : "s",
		en ? en : "expected", an ? an : "actual");
	int shown = 0;
	size_t i;
	json_t *v;
	json_array_foreach(C->verdicts, i, v)
	{
		const char *vd = json_string_value(json_object_get(v, "verdict"));
		if (!strcmp(vd, "ok"))
			continue;
		if (shown == 10) {
			sb_addf(&m, "; and %d more (see the verdicts output)", C->ndiff - 10);
			break;
		}
		const char *t = json_string_value(json_object_get(v, "table"));
		const char *d = json_string_value(json_object_get(v, "detail"));
		shown++;
		if (!strcmp(vd, "behind")) {
			sb_addf(&m, "%s sequences behind %s: %s", shown > 1 ? ";" : ":", t ? t : "-", d ? d : "");
			continue;
		}
		char *e, *x;
		cells(v, 70, &e, &x);
		sb_addf(&m, "%s %s %s%s%s: expected %s, actual %s%s%s", shown > 1 ? ";" : ":",
			json_string_value(json_object_get(v, "check")), vd, t ? " " : "", t ? t : "", e, x, d ? "; " : "",
			d ? d : "");
		free(e);
		free(x);
	}
	int rc = act_fail(C->a, "%s", sb_str(&m));
	sb_release(&m);
	return rc;
}

/* The outputs and the journal's verify_result. */
static void compare_report(struct cmp *C, json_t *E, json_t *A, json_t *list, const struct strbuf *sum,
			   const struct strbuf *diff)
{
	struct act *a = C->a;
	act_out(a, "verdicts", json_incref(C->verdicts));
	act_out_bool(a, "passed", C->ndiff == 0);
	act_out_int(a, "differences", C->ndiff);
	act_out(a, "checks", json_incref(list));
	act_out_str(a, "summary", sb_str(sum));
	act_out_str(a, "schema_diff", sb_str(diff));
	act_out_int(a, "queries", C->queries);
	json_t *bad = json_array();
	size_t i;
	json_t *v;
	json_array_foreach(C->verdicts, i, v) if (strcmp(json_string_value(json_object_get(v, "verdict")), "ok"))
		json_array_append(bad, v);
	json_t *ev = json_pack("{s:b,s:i,s:O,s:o,s:s?,s:s?}", "passed", C->ndiff == 0, "differences", C->ndiff, "checks",
			       list, "mismatches", bad, "expected", json_string_value(json_object_get(E, "name")), "actual",
			       json_string_value(json_object_get(A, "name")));
	act_journal(a, "verify_result", ev);
}

int verify_prepare(struct act *a, struct cmp *C, int64_t def_queries, const char *const *checks_all, json_t **list)
{
	json_t *E = act_json(a, "expected"), *A = act_json(a, "actual");
	memset(C, 0, sizeof(*C));
	*list = NULL;
	if (!is_state(E))
		return act_fail(a, "'expected' is not a state; pass the state output of a pg.capture step, e.g. ${steps.baseline.state}"), -1;
	if (!is_state(A))
		return act_fail(a, "'actual' is not a state; pass the state output of a pg.capture step, e.g. ${steps.after.state}"), -1;
	C->a = a;
	if (compare_tolerances(a, C) != 0)
		return -1;
	C->tables = act_json(a, "tables");
	C->bisect = act_bool(a, "bisect", 1);
	C->max_queries = act_int(a, "max_queries", def_queries);
	if (C->max_queries < 0)
		C->max_queries = 0;
	C->leaf_rows = LEAF_ROWS;
	*list = compare_list(a, E, A, checks_all);
	return *list ? 0 : -1;
}

void verify_run(struct cmp *C, json_t *list, struct strbuf *diff)
{
	json_t *E = act_json(C->a, "expected"), *A = act_json(C->a, "actual");
	C->verdicts = json_array();
	compare_missing(C, E, A);
	compare_sections(C, E, A, list, diff);
}

static int do_compare(struct act *a)
{
	struct cmp C;
	json_t *list;
	if (verify_prepare(a, &C, 64, all_checks, &list) != 0)
		return ACT_FAIL;
	json_t *E = act_json(a, "expected"), *A = act_json(a, "actual");
	struct strbuf diff = STRBUF_INIT, sum = STRBUF_INIT;
	verify_run(&C, list, &diff);
	compare_summary(&C, &sum);
	compare_log(&C, list, &diff);
	compare_report(&C, E, A, list, &sum, &diff);
	int rc = C.ndiff ? compare_fail(&C, E, A) : ACT_OK;
	sb_release(&sum);
	sb_release(&diff);
	json_decref(list);
	json_decref(C.verdicts);
	return rc;
}

static const char *const check_names[] = { "schema", "counts", "freshness", "sequences", "checksums", NULL };

static const struct param_spec compare_params[] = {
	{ .name = "actual", .type = T_ANY, .flags = P_REQUIRED,
	  .doc = "the state to check, e.g. ${steps.after.state}" },
	{ .name = "actual_db", .type = T_RESOURCE, .kind = "postgres",
	  .doc = "where to read the actual side live when narrowing (default: the state's resource)" },
	{ .name = "bisect", .type = T_BOOL, .def = "true",
	  .doc = "narrow differing key ranges with live queries when both databases still hold their states" },
	{ .name = "checks", .type = T_LIST, .allowed = check_names,
	  .doc = "what to compare (default: every section both states have)" },
	{ .name = "counts", .type = T_MAP,
	  .doc = "the counts tolerance, same as tolerances.counts, e.g. {min_ratio: 0.99}" },
	{ .name = "expected", .type = T_ANY, .flags = P_REQUIRED,
	  .doc = "the reference state, e.g. ${steps.baseline.state}" },
	{ .name = "expected_db", .type = T_RESOURCE, .kind = "postgres",
	  .doc = "where to read the expected side live when narrowing (default: the state's resource)" },
	{ .name = "freshness", .type = T_MAP,
	  .doc = "the freshness tolerance, same as tolerances.freshness, e.g. {max_age: 26h}" },
	{ .name = "max_queries", .type = T_INT, .def = "64", .doc = "live queries allowed for narrowing differences" },
	{ .name = "sequences", .type = T_MAP,
	  .doc = "the sequences tolerance, same as tolerances.sequences, e.g. {max_behind: any} against a live database that moved on" },
	{ .name = "tables", .type = T_LIST, .doc = "compare only these tables (default: all in the states)" },
	{ .name = "tolerances", .type = T_MAP,
	  .doc = "e.g. {counts: {min_ratio: 0.99}, freshness: {max_age: 26h}, sequences: {max_behind: any}} (default: exact)" },
	{ .name = NULL },
};
static const struct output_spec compare_outputs[] = {
	{ .name = "checks", .type = T_LIST, .doc = "the checks compared" },
	{ .name = "differences", .type = T_INT, .doc = "number of verdicts other than ok" },
	{ .name = "passed", .type = T_BOOL, .doc = "no difference" },
	{ .name = "queries", .type = T_INT, .doc = "live queries made to locate differences" },
	{ .name = "schema_diff", .type = T_STRING, .doc = "differing schema lines, '- expected' / '+ actual'" },
	{ .name = "summary", .type = T_STRING, .doc = "the verdict table as text" },
	{ .name = "verdicts", .type = T_LIST,
	  .doc = "one per check and table: check, table, verdict, expected, actual, detail, ranges (SPEC.md, 'Verdicts')" },
	{ .name = NULL },
};
const struct action_def verify_compare_def = {
	.name = "verify.compare",
	.run = do_compare,
	.cat = CAT_VERIFY,
	.params = compare_params,
	.outputs = compare_outputs,
	.doc = "Compares two states check by check and table by table (exact unless tolerances say otherwise) and fails on any difference, naming it; differing checksums are narrowed to key ranges (and keys) by bisection with live queries, within max_queries.",
};

