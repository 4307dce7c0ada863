/*
 * pg_sequences.c: sequence positions for pg.capture (SPEC.md, 'Sequence
 * positions'). A restore whose sequences lag its data passes every count
 * and checksum, and the application's first insert then fails with a
 * duplicate key; so a state records where each sequence stands and, for
 * every column a sequence feeds (the column it is owned by, an identity
 * column, or a column whose default calls nextval on it), whether the
 * value nextval would return next is already taken: at or below the
 * column's maximum (at or above its minimum for a descending sequence).
 *
 * Positions are read the way pg_dump reads them (SELECT last_value,
 * is_called FROM the sequence); they are not transactional, so they are
 * read after the snapshot began: a sequence only moves forward, and a value
 * the snapshot's rows hold was handed out before, so an application writing
 * meanwhile can never make a sound sequence look behind. The column
 * extremes are read in the snapshot, by the worker pool.
 */
#include <stdlib.h>
#include <string.h>

#include "pg_int.h"

void pgseq_free(struct pgseq *q, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(q[i].key);
		free(q[i].qname);
		free(q[i].next);
		free(q[i].last);
	}
	free(q);
}

void pgseq_feeds_free(struct pgseqfeed *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(f[i].column);
		free(f[i].colq);
		free(f[i].edge);
		pgt_release(&f[i].t);
	}
	free(f);
}

/* Sequences of the user schemas (listed ones when schemas is given), with
 * the columns each feeds, deduplicated; partitions are left out (their
 * partitioned table's extreme covers them). */
static const char seq_sql[] =
	"SELECT c.oid::int8, n.nspname || '.' || c.relname, quote_ident(n.nspname) || '.' || quote_ident(c.relname), "
	"s.seqincrement, s.seqmin, s.seqmax, s.seqcycle, s.seqcache, "
	"f.relid::int8, fn.nspname, fc.relname, fc.relkind::text, quote_ident(fn.nspname) || '.' || quote_ident(fc.relname), "
	"fn.nspname || '.' || fc.relname || '.' || fa.attname, quote_ident(fa.attname) "
	"FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
	"LEFT JOIN LATERAL (SELECT d.refobjid AS relid, d.refobjsubid AS attnum FROM pg_depend d "
	"  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass "
	"  AND d.refobjsubid > 0 AND d.deptype IN ('a', 'i') "
	"  UNION SELECT ad.adrelid, ad.adnum FROM pg_depend d JOIN pg_attrdef ad ON ad.oid = d.objid "
	"  WHERE d.classid = 'pg_attrdef'::regclass AND d.refclassid = 'pg_class'::regclass AND d.refobjid = c.oid) f ON true "
	"LEFT JOIN pg_class fc ON fc.oid = f.relid AND fc.relkind IN ('r', 'p') AND NOT fc.relispartition "
	"LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace "
	"LEFT JOIN pg_attribute fa ON fa.attrelid = fc.oid AND fa.attnum = f.attnum AND NOT fa.attisdropped "
	"WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp)' "
	"AND ($1::text[] IS NULL OR n.nspname = ANY($1::text[])) "
	"AND NOT EXISTS (SELECT 1 FROM pg_depend dx WHERE dx.classid = 'pg_class'::regclass AND dx.objid = c.oid AND dx.deptype = 'e') "
	"ORDER BY n.nspname COLLATE \"C\", c.relname COLLATE \"C\", (fn.nspname || fc.relname || fa.attname) COLLATE \"C\"";

/* The value nextval returns next, as text, or NULL when the sequence is
 * exhausted (is_called at its limit without CYCLE). New string. */
static char *next_value(const struct pgseq *q)
{
	__int128 v = q->is_called ? (__int128)q->last_v + q->inc : (__int128)q->last_v;
	if (v > q->max || v < q->min) {
		if (!q->cycle)
			return NULL;
		v = q->inc > 0 ? q->min : q->max;
	}
	return xasprintf("%lld", (long long)v);
}

int pgseq_list(struct act *a, struct pgsnap *s, json_t *schemas, struct pgseq **out, size_t *n,
	       struct pgseqfeed **feeds, size_t *nfeeds)
{
	*out = NULL;
	*feeds = NULL;
	*n = *nfeeds = 0;
	char *arr = schemas && json_array_size(schemas) ? pg_text_array(schemas) : NULL;
	const char *vals[1] = { arr };
	PGresult *res = pg_execp(a, s->c, "listing sequences", seq_sql, 1, vals);
	free(arr);
	if (!res)
		return -1;
	int rows = PQntuples(res);
	struct pgseq *q = xcalloc((size_t)rows + 1, sizeof(*q));
	struct pgseqfeed *f = xcalloc((size_t)rows + 1, sizeof(*f));
	size_t nq = 0, nf = 0;
	for (int i = 0; i < rows; i++) {
		int64_t oid = 0;
		parse_int64(PQgetvalue(res, i, 0), &oid);
		if (!nq || q[nq - 1].oid != oid) {
			struct pgseq *x = &q[nq++];
			x->oid = oid;
			x->key = xstrdup(PQgetvalue(res, i, 1));
			x->qname = xstrdup(PQgetvalue(res, i, 2));
			parse_int64(PQgetvalue(res, i, 3), &x->inc);
			parse_int64(PQgetvalue(res, i, 4), &x->min);
			parse_int64(PQgetvalue(res, i, 5), &x->max);
			x->cycle = PQgetvalue(res, i, 6)[0] == 't';
			parse_int64(PQgetvalue(res, i, 7), &x->cache);
		}
		if (PQgetisnull(res, i, 13) || PQgetisnull(res, i, 10))
			continue; /* feeds nothing we read (or a partition, a view) */
		struct pgseqfeed *e = &f[nf++];
		e->seq = nq - 1;
		int64_t toid = 0;
		parse_int64(PQgetvalue(res, i, 8), &toid);
		e->t.oid = toid;
		e->t.schema = xstrdup(PQgetvalue(res, i, 9));
		e->t.name = xstrdup(PQgetvalue(res, i, 10));
		e->t.key = xasprintf("%s.%s", e->t.schema, e->t.name);
		e->t.relkind = PQgetvalue(res, i, 11)[0];
		e->t.qname = xstrdup(PQgetvalue(res, i, 12));
		e->column = xstrdup(PQgetvalue(res, i, 13));
		e->colq = xstrdup(PQgetvalue(res, i, 14));
	}
	PQclear(res);
	*out = q;
	*n = nq;
	*feeds = f;
	*nfeeds = nf;
	return 0;
}

static struct unit *new_unit(struct unit **u, size_t *n, size_t *alloc, size_t task)
{
	if (*n == *alloc) {
		*alloc = *alloc ? *alloc * 2 : 16;
		*u = xrealloc(*u, *alloc * sizeof(**u));
	}
	struct unit *x = &(*u)[(*n)++];
	memset(x, 0, sizeof(*x));
	x->kind = U_ROWS;
	x->task = task;
	return x;
}

/* Statements of a few hundred parts each: one round trip per batch, and
 * batches spread over the pool's connections. */
#define POS_BATCH 250
#define FEED_BATCH 100

void pgseq_units(const struct pgseq *q, size_t nq, const struct pgseqfeed *f, size_t nf, size_t task,
		 struct unit **u, size_t *n, size_t *alloc)
{
	/* positions: (index, last_value, is_called), as pg_dump reads them */
	for (size_t from = 0; from < nq; from += POS_BATCH) {
		struct strbuf sb = STRBUF_INIT;
		size_t to = from + POS_BATCH < nq ? from + POS_BATCH : nq;
		for (size_t i = from; i < to; i++)
			sb_addf(&sb, "%sSELECT %zu, last_value, is_called FROM %s", i > from ? " UNION ALL " : "", i,
				q[i].qname);
		struct unit *x = new_unit(u, n, alloc, task);
		x->sql = sb_detach(&sb);
		x->cost = (int64_t)(to - from) << 16;
	}
	/* the extreme of each column fed, the one nextval moves towards:
	 * (index, max or min) */
	for (size_t from = 0; from < nf; from += FEED_BATCH) {
		struct strbuf sb = STRBUF_INIT;
		size_t to = from + FEED_BATCH < nf ? from + FEED_BATCH : nf;
		for (size_t i = from; i < to; i++)
			sb_addf(&sb, "%sSELECT %zu, (SELECT %s(%s) FROM %s)::text", i > from ? " UNION ALL " : "", i,
				q[f[i].seq].inc > 0 ? "max" : "min", f[i].colq, f[i].t.qname);
		struct unit *x = new_unit(u, n, alloc, task);
		x->sql = sb_detach(&sb);
		x->cost = (int64_t)(to - from) << 16;
	}
}

/* -1, 0, 1 as a decimal integer text compares with v; a text that is not
 * an int64 (a numeric column with a fraction) compares as a long double. */
static int cmp_num(const char *text, int64_t v)
{
	int64_t x;
	if (parse_int64(text, &x) == 0)
		return x < v ? -1 : x > v;
	long double d = strtold(text, NULL);
	return d < (long double)v ? -1 : d > (long double)v;
}

void pgseq_collect(struct pgseq *q, size_t nq, struct pgseqfeed *f, size_t nf, const struct unit *u, size_t n,
		   size_t task)
{
	for (size_t k = 0; k < n; k++) {
		if (u[k].task != task || u[k].kind != U_ROWS || !u[k].res)
			continue;
		PGresult *res = u[k].res;
		int positions = PQnfields(res) == 3;
		for (int r = 0; r < PQntuples(res); r++) {
			int64_t i = -1;
			parse_int64(PQgetvalue(res, r, 0), &i);
			if (positions && i >= 0 && (size_t)i < nq) {
				struct pgseq *x = &q[i];
				free(x->last);
				x->last = xstrdup(PQgetvalue(res, r, 1));
				parse_int64(x->last, &x->last_v);
				x->is_called = PQgetvalue(res, r, 2)[0] == 't';
				x->read = 1;
			} else if (!positions && i >= 0 && (size_t)i < nf) {
				f[i].checked = 1;
				free(f[i].edge);
				f[i].edge = PQgetisnull(res, r, 1) ? NULL : xstrdup(PQgetvalue(res, r, 1));
			}
		}
	}
	for (size_t i = 0; i < nq; i++) {
		free(q[i].next);
		q[i].next = q[i].read ? next_value(&q[i]) : NULL;
	}
	/* behind: the value nextval returns next is already taken (at or
	 * below a column's maximum; at or above its minimum when descending) */
	for (size_t i = 0; i < nf; i++) {
		const struct pgseq *x = &q[f[i].seq];
		int64_t nv;
		f[i].behind = 0;
		if (!f[i].checked || !f[i].edge || !x->next || parse_int64(x->next, &nv) != 0)
			continue;
		int c = cmp_num(f[i].edge, nv);
		f[i].behind = x->inc > 0 ? c >= 0 : c <= 0;
	}
}

json_t *pgseq_section(struct act *a, const struct pgseq *q, size_t n, const struct pgseqfeed *f, size_t nf)
{
	json_t *sec = json_object();
	for (size_t i = 0; i < n; i++) {
		if (!q[i].read)
			continue;
		json_t *e = json_object();
		json_object_set_new(e, "last_value", json_integer(q[i].last_v));
		json_object_set_new(e, "is_called", json_boolean(q[i].is_called));
		json_object_set_new(e, "increment", json_integer(q[i].inc));
		json_object_set_new(e, "cache", json_integer(q[i].cache));
		int64_t nv = 0;
		json_object_set_new(e, "next", q[i].next && parse_int64(q[i].next, &nv) == 0 ? json_integer(nv) : json_null());
		json_t *fa = json_array();
		for (size_t k = 0; k < nf; k++) {
			if (f[k].seq != i || !f[k].checked)
				continue;
			json_t *fe = json_object();
			json_object_set_new(fe, "column", json_string(f[k].column));
			int64_t ev;
			const char *which = q[i].inc > 0 ? "max" : "min";
			json_object_set_new(fe, which, !f[k].edge ? json_null() : parse_int64(f[k].edge, &ev) == 0 ? json_integer(ev)
													  : json_string(f[k].edge));
			json_object_set_new(fe, "behind", json_boolean(f[k].behind));
			json_array_append_new(fa, fe);
			if (f[k].behind)
				act_log(a, "warning: sequence %s would return %s next, but column %s already holds %s (its %s): the next insert that uses the sequence fails with a duplicate key",
					q[i].key, q[i].next, f[k].column, f[k].edge, which);
		}
		json_object_set_new(e, "feeds", fa);
		json_object_set_new(sec, q[i].key, e);
	}
	return sec;
}
