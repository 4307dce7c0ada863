/*
 * pitr_salvage.c: pitr.salvage (SPEC.md, 'pitr.salvage'), the writes after
 * the restore point. A restore keeps the state it replaced (a preserved
 * data directory, a preserved branch); this starts it as a throwaway server
 * through its driver (which never starts the preserved state itself),
 * compares it table by table with the restored database by primary key,
 * and writes the rows the restore discarded (in the preserved state only)
 * and changed (same key, other content) into files a person reviews and
 * re-applies: one SQL file of INSERT and UPDATE statements, quoted by
 * libpq (PQescapeLiteral), and one CSV per table, written by the server's
 * COPY ... (FORMAT csv). The throwaway server is stopped and removed on
 * every path, interruptions included (the cleanup runs shielded).
 *
 * The comparison streams each table once per side (COPY of the key and the
 * row), both sides at once on two connections, through pg_rowdiff.c's
 * compact table of digests; the keys of
 * differing rows are kept as COPY printed them. A table without a primary
 * key is compared as a multiset of whole rows: counted, never extracted.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pg_tables.h"
#include "pitr.h"

#define SALVAGE_BATCH 5000 /* keys per statement when reading rows back */

/* ---- one table ---- */

struct salv_conns {
	struct act *a;
	PGconn *pc, *rc; /* the preserved state's throwaway server, the restored database */
};

struct strs {
	char **v;
	size_t n, cap;
};

static void strs_add(struct strs *s, const char *p, size_t len)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	s->v[s->n++] = xstrndup(p, len);
}

static void strs_release(struct strs *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

struct tdiff {
	struct rowdiff rd;
	int64_t discarded, changed, back;
	struct strs disc, chg; /* COPY-escaped key texts */
};

/* A key the preserved state holds alone (discarded) or with other
 * content (changed): kept to read the row back. */
static void salv_key(void *ud, int kind, const char *key, size_t len)
{
	struct tdiff *t = ud;
	if (kind == 1)
		strs_add(&t->disc, key, len);
	else if (kind == 2)
		strs_add(&t->chg, key, len);
}

/* The columns both sides have, in the preserved table's order (new string). */
static char *common_cols(const struct pgtab *pt, const struct pgtab *rt, int *same)
{
	struct strbuf sb = STRBUF_INIT;
	*same = pt->ncols == rt->ncols;
	for (size_t i = 0; i < pt->ncols; i++) {
		int found = 0;
		for (size_t j = 0; j < rt->ncols && !found; j++)
			found = !strcmp(pt->cols[i], rt->cols[j]) && !strcmp(pt->coltypes[i], rt->coltypes[j]);
		if (!found) {
			*same = 0;
			continue;
		}
		sb_addf(&sb, "%s%s", sb.len ? ", " : "", pt->cols[i]);
	}
	return sb_detach(&sb);
}

static const char *only_of(const struct pgtab *t)
{
	return t->relkind == 'p' ? "" : "ONLY ";
}

/* The COPY of a table's key and row (or whole row) on one side (new string). */
static char *side_sql(const struct pgtab *tb, const char *cols, int keyed)
{
	return keyed ? xasprintf("COPY (SELECT %s, %s FROM %s%s) TO STDOUT", tb->pkrow, cols, only_of(tb), tb->qname)
		     : xasprintf("COPY (SELECT %s FROM %s%s) TO STDOUT", cols, only_of(tb), tb->qname);
}

/* Streams the table from both sides into t, the restored database (rt,
 * side 0; NULL when it has no such table) and the preserved state (pt,
 * side 1) read at the same time. 0, or -1 after act_fail. */
static int diff_sides(struct salv_conns *sc, const struct pgtab *rt, const struct pgtab *pt, const char *cols,
		      struct tdiff *t)
{
	char *sql1 = side_sql(pt, cols, t->rd.keyed), *sql0 = rt ? side_sql(rt, cols, t->rd.keyed) : NULL;
	char *err0 = NULL, *err1 = NULL;
	if (rt) {
		char oid[32];
		snprintf(oid, sizeof(oid), "%lld", (long long)rt->oid);
		const char *v[] = { oid };
		PGresult *res = pg_execp(sc->a, sc->rc, "estimating the rows of a table",
					 "SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = $1::oid", 1, v);
		if (!res)
			return free(sql0), free(sql1), -1;
		if (PQntuples(res) == 1)
			rowdiff_reserve(&t->rd, strtoll(PQgetvalue(res, 0, 0), NULL, 10));
		PQclear(res);
	}
	int rc = rt ? rowdiff_read_pair(sc->a, sc->rc, sql0, sc->pc, sql1, &t->rd, &err0, &err1)
		    : rowdiff_read(sc->a, sc->pc, sql1, &t->rd, 1, &err1);
	if (rc != 0)
		act_fail(sc->a, "reading table %s in the %s failed: %s", pt->key, err0 ? "restored database" : "preserved state",
			 err0 ? err0 : err1 ? err1 : "?");
	free(sql0);
	free(sql1);
	free(err0);
	free(err1);
	return rc != 0 ? -1 : 0;
}

/* ---- reading rows back, writing them out ---- */

/* A key as COPY's text format printed it, unescaped (new string). */
static char *copy_unescape(const char *s)
{
	struct strbuf sb = STRBUF_INIT;
	for (; *s; s++) {
		if (*s != '\\' || !s[1]) {
			sb_addc(&sb, *s);
			continue;
		}
		s++;
		switch (*s) {
		case 'b': sb_addc(&sb, '\b'); break;
		case 'f': sb_addc(&sb, '\f'); break;
		case 'n': sb_addc(&sb, '\n'); break;
		case 'r': sb_addc(&sb, '\r'); break;
		case 't': sb_addc(&sb, '\t'); break;
		case 'v': sb_addc(&sb, '\v'); break;
		default: sb_addc(&sb, *s); break; /* \\ and any other character as itself */
		}
	}
	return sb_detach(&sb);
}

struct outcols {
	struct strbuf ins;  /* the columns an INSERT names (not generated ones) */
	char **names;       /* their quoted names */
	int *is_key;
	size_t n;
	int overriding;     /* an identity column GENERATED ALWAYS */
	struct strbuf seqs; /* setval statements for serial and identity columns */
};

static void outcols_release(struct outcols *o)
{
	sb_release(&o->ins);
	sb_release(&o->seqs);
	for (size_t i = 0; i < o->n; i++)
		free(o->names[i]);
	free(o->names);
	free(o->is_key);
}

/* The writable columns of a table and the sequences feeding them. */
static int out_columns(struct act *a, PGconn *c, const struct pgtab *t, struct outcols *o)
{
	memset(o, 0, sizeof(*o));
	char oid[32];
	snprintf(oid, sizeof(oid), "%lld", (long long)t->oid);
	const char *vals[] = { oid, t->qname };
	PGresult *res = pg_execp(a, c, "reading the columns of a table",
				 "SELECT quote_ident(attname), attgenerated <> '', attidentity = 'a', "
				 "pg_get_serial_sequence($2, attname) FROM pg_attribute "
				 "WHERE attrelid = $1::oid AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
				 2, vals);
	if (!res)
		return -1;
	o->names = xcalloc((size_t)PQntuples(res) + 1, sizeof(*o->names));
	o->is_key = xcalloc((size_t)PQntuples(res) + 1, sizeof(*o->is_key));
	for (int i = 0; i < PQntuples(res); i++) {
		const char *name = PQgetvalue(res, i, 0);
		if (PQgetvalue(res, i, 1)[0] == 't')
			continue;
		o->overriding |= PQgetvalue(res, i, 2)[0] == 't';
		for (size_t k = 0; k < t->npk; k++)
			o->is_key[o->n] |= !strcmp(t->pkq[k], name);
		o->names[o->n++] = xstrdup(name);
		sb_addf(&o->ins, "%s%s", o->ins.len ? ", " : "", name);
		if (!PQgetisnull(res, i, 3)) {
			char *sl = pg_literal(c, PQgetvalue(res, i, 3));
			sb_addf(&o->seqs, "SELECT setval(%s, m) FROM (SELECT max(%s) AS m FROM %s) x WHERE m > coalesce(pg_sequence_last_value(%s), 0);\n",
				sl, name, t->qname, sl);
			free(sl);
		}
	}
	PQclear(res);
	return 0;
}

/* "ARRAY[...]::text[]" of keys[from, to), unescaped and quoted. */
static char *key_array(PGconn *c, char **keys, size_t from, size_t to)
{
	struct strbuf sb = STRBUF_INIT;
	sb_adds(&sb, "ARRAY[");
	for (size_t i = from; i < to; i++) {
		char *raw = copy_unescape(keys[i]), *l = pg_literal(c, raw);
		sb_addf(&sb, "%s%s", i > from ? ", " : "", l);
		free(raw);
		free(l);
	}
	sb_adds(&sb, "]::text[]");
	return sb_detach(&sb);
}

/* "key = ANY(ARRAY[...])" for keys[from, to) (unescaped and quoted): a
 * one-column key compared as its own type, so that its index is used; a
 * composite key as the text of its row. */
static char *key_match(PGconn *c, const struct pgtab *t, char **keys, size_t from, size_t to)
{
	char *arr = key_array(c, keys, from, to);
	char *m = t->npk == 1 ? xasprintf("%s = ANY(%s::%s[])", t->pk1q, arr, t->pk1_type)
			      : xasprintf("%s = ANY(%s)", t->pkrow, arr);
	free(arr);
	return m;
}

struct csvout {
	FILE *f;
	int header_done, skip_header;
	int64_t lines;
};

static int csv_line(void *ud, const char *buf, size_t len)
{
	struct csvout *o = ud;
	o->lines++;
	if (o->skip_header && o->lines == 1)
		return 0;
	return fwrite(buf, 1, len, o->f) == len ? 0 : -1;
}

/* The statements for one batch of rows (INSERT for discarded, UPDATE for
 * changed) into sql, and the same rows into the CSV. */
static int write_batch(struct act *a, PGconn *c, const struct pgtab *t, const struct outcols *o, const char *arr,
		       int changed, FILE *sql, struct csvout *csv)
{
	char *q = xasprintf("SELECT %s FROM %s%s WHERE %s", sb_str(&o->ins), only_of(t), t->qname, arr);
	PGresult *res = pg_exec(a, c, "reading the rows to salvage", q);
	free(q);
	if (!res)
		return -1;
	for (int r = 0; r < PQntuples(res); r++) {
		struct strbuf st = STRBUF_INIT, where = STRBUF_INIT;
		if (!changed)
			sb_addf(&st, "INSERT INTO %s (%s)%s VALUES (", t->qname, sb_str(&o->ins),
				o->overriding ? " OVERRIDING SYSTEM VALUE" : "");
		else
			sb_addf(&st, "UPDATE %s SET ", t->qname);
		int first = 1;
		for (size_t k = 0; k < o->n; k++) {
			char *v = PQgetisnull(res, r, (int)k) ? xstrdup("NULL") : pg_literal(c, PQgetvalue(res, r, (int)k));
			if (!changed) {
				sb_addf(&st, "%s%s", k ? ", " : "", v);
			} else if (o->is_key[k]) {
				sb_addf(&where, "%s%s = %s", where.len ? " AND " : "", o->names[k], v);
			} else {
				sb_addf(&st, "%s%s = %s", first ? "" : ", ", o->names[k], v);
				first = 0;
			}
			free(v);
		}
		if (!changed)
			sb_adds(&st, ");\n");
		else
			sb_addf(&st, " WHERE %s;\n", sb_str(&where));
		fwrite(st.buf, 1, st.len, sql);
		sb_release(&st);
		sb_release(&where);
	}
	PQclear(res);
	char *cq = xasprintf("COPY (SELECT '%s' AS drplay_change, %s FROM %s%s WHERE %s) TO STDOUT WITH (FORMAT csv, HEADER true)",
			     changed ? "changed" : "discarded", sb_str(&o->ins), only_of(t), t->qname, arr);
	csv->lines = 0;
	csv->skip_header = csv->header_done;
	char *err = NULL;
	int rc = pg_copy_each(a, c, cq, csv_line, csv, &err);
	free(cq);
	if (rc != 0) {
		act_fail(a, "writing the CSV of table %s failed: %s", t->key, err ? err : "?");
		free(err);
		return -1;
	}
	csv->header_done = 1;
	return 0;
}

/* A file name for a table key: letters, digits, '.' and '-' kept, the
 * rest as _XX (hex), so that no two tables share one. New string. */
static char *file_name(const char *key)
{
	struct strbuf sb = STRBUF_INIT;
	for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
		    *p == '-')
			sb_addc(&sb, (char)*p);
		else
			sb_addf(&sb, "_%02X", *p);
	}
	sb_adds(&sb, ".csv");
	return sb_detach(&sb);
}

/* Writes a table's discarded and changed rows. Returns 0 or -1 after act_fail. */
static int extract_table(struct act *a, PGconn *c, const struct pgtab *t, struct tdiff *d, const char *dir, FILE *sql,
			 json_t *files, struct strbuf *seqs)
{
	struct outcols o;
	if (out_columns(a, c, t, &o) != 0)
		return -1;
	char *fn = file_name(t->key), *path = xasprintf("%s/%s", dir, fn);
	free(fn);
	struct csvout csv = { fopen(path, "wx"), 0, 0, 0 };
	if (!csv.f) {
		act_fail(a, "cannot create '%s': %s; nothing was salvaged into it (choose an empty --out directory)", path,
			 strerror(errno));
		free(path);
		outcols_release(&o);
		return -1;
	}
	fprintf(sql, "\n-- %s: %lld row%s discarded by the restore (INSERT), %lld changed by it (UPDATE to the preserved content)\n",
		t->key, (long long)d->discarded, d->discarded == 1 ? "" : "s", (long long)d->changed);
	int rc = 0;
	for (int kind = 0; kind < 2 && rc == 0; kind++) {
		struct strs *ks = kind ? &d->chg : &d->disc;
		for (size_t i = 0; i < ks->n && rc == 0; i += SALVAGE_BATCH) {
			if (act_cancelled(a)) {
				act_fail(a, "interrupted while writing the rows of table %s", t->key);
				rc = -1;
				break;
			}
			size_t to = i + SALVAGE_BATCH < ks->n ? i + SALVAGE_BATCH : ks->n;
			char *arr = key_match(c, t, ks->v, i, to);
			rc = write_batch(a, c, t, &o, arr, kind, sql, &csv);
			free(arr);
		}
	}
	if (fclose(csv.f) != 0 && rc == 0) {
		act_fail(a, "cannot write '%s': %s", path, strerror(errno));
		rc = -1;
	}
	json_array_append_new(files, json_string(path));
	sb_adds(seqs, sb_str(&o.seqs));
	free(path);
	outcols_release(&o);
	return rc;
}

/* ---- the tables ---- */

struct salv {
	struct act *a;
	PGconn *pc, *rc;   /* the preserved state's throwaway server, the restored database */
	json_t *filter;    /* `tables`, or NULL */
	struct pgtab *tabs; /* of the preserved state */
	size_t ntabs;
	struct tdiff *d;   /* one per table */
	int *diff;         /* the table differs */
	int *keyless;      /* compared as whole rows */
	char **notes;
	int64_t discarded, changed, back;
};

static int wanted(json_t *filter, const char *key)
{
	if (!filter)
		return 1;
	const char *after = strchr(key, '.');
	size_t i;
	json_t *t;
	json_array_foreach(filter, i, t)
	{
		const char *s = json_string_value(t);
		if (s && (!strcmp(s, key) || (after && !strcmp(s, after + 1))))
			return 1;
	}
	return 0;
}

static int same_key(const struct pgtab *x, const struct pgtab *y)
{
	if (x->npk != y->npk || !x->npk)
		return 0;
	for (size_t i = 0; i < x->npk; i++)
		if (strcmp(x->pk[i], y->pk[i]) || strcmp(x->pktypes[i], y->pktypes[i]))
			return 0;
	return 1;
}

/* Compares table i of the preserved state with the restored database. */
static int compare_table(struct salv *S, size_t i)
{
	struct act *a = S->a;
	struct pgtab *pt = &S->tabs[i], rt;
	struct tdiff *d = &S->d[i];
	if (pgt_details(a, S->pc, pt) != 0)
		return -1;
	int rc = pgt_resolve_key(a, S->rc, pt->key, &rt);
	if (rc < 0 || (rc == 0 && pgt_details(a, S->rc, &rt) != 0)) {
		pgt_release(&rt);
		return -1;
	}
	int present = rc == 0, same = 1;
	char *cols = present ? common_cols(pt, &rt, &same) : xstrdup(pt->collist);
	d->rd.keyed = present ? same_key(pt, &rt) : pt->npk > 0;
	d->rd.on_key = salv_key;
	d->rd.ud = d;
	S->keyless[i] = !d->rd.keyed;
	if (!present)
		S->notes[i] = xstrdup("not in the restored database: every row is discarded");
	else if (!same)
		S->notes[i] = xstrdup("the columns differ between the two: compared on the columns both have");
	else if (!d->rd.keyed)
		S->notes[i] = xstrdup(pt->npk ? "the primary keys differ: compared as whole rows, counted, not extracted"
					      : "no primary key: compared as whole rows, counted, not extracted");
	int r = 0;
	if (*cols == '\0') {
		S->notes[i] = (free(S->notes[i]), xstrdup("no column in common: not compared"));
	} else {
		struct salv_conns sc = { a, S->pc, S->rc };
		r = diff_sides(&sc, present ? &rt : NULL, pt, cols, d);
	}
	rowdiff_finish(&d->rd);
	d->discarded = d->rd.only1;
	d->changed = d->rd.changed;
	d->back = d->rd.only0;
	rowdiff_release(&d->rd);
	free(cols);
	pgt_release(&rt);
	if (r != 0)
		return -1;
	S->diff[i] = d->discarded || d->changed || d->back;
	S->discarded += d->discarded;
	S->changed += d->changed;
	S->back += d->back;
	return 0;
}

/* The order to write tables in: a table after the tables its foreign keys
 * reference, so that the statements apply in order (a cycle keeps the
 * rest in name order). New array of indexes into S->tabs. */
static size_t *fk_order(struct salv *S)
{
	size_t n = S->ntabs, *order = xcalloc(n + 1, sizeof(*order)), done = 0;
	int *placed = xcalloc(n + 1, sizeof(*placed));
	PGresult *res = pg_exec(S->a, S->pc, "reading foreign keys",
				"SELECT c.conrelid::bigint, c.confrelid::bigint FROM pg_constraint c WHERE c.contype = 'f' AND c.conrelid <> c.confrelid");
	while (done < n) {
		size_t before = done;
		for (size_t i = 0; i < n; i++) {
			if (placed[i])
				continue;
			int ready = 1;
			for (int r = 0; res && r < PQntuples(res) && ready; r++) {
				if (strtoll(PQgetvalue(res, r, 0), NULL, 10) != S->tabs[i].oid)
					continue;
				int64_t parent = strtoll(PQgetvalue(res, r, 1), NULL, 10);
				for (size_t j = 0; j < n && ready; j++)
					ready = placed[j] || S->tabs[j].oid != parent || !S->diff[j];
			}
			if (ready) {
				placed[i] = 1;
				order[done++] = i;
			}
		}
		if (done == before) /* a cycle: the rest as they are */
			for (size_t i = 0; i < n; i++)
				if (!placed[i]) {
					placed[i] = 1;
					order[done++] = i;
				}
	}
	PQclear(res);
	free(placed);
	return order;
}

/* Writes salvage.sql and the CSVs into dir. 0 or -1 after act_fail. */
static int extract_all(struct salv *S, const char *dir, const char *state, const char *against, json_t *files)
{
	struct act *a = S->a;
	char *path = xasprintf("%s/salvage.sql", dir);
	FILE *sql = fopen(path, "wx");
	if (!sql) {
		act_fail(a, "cannot create '%s': %s; choose an empty --out directory", path, strerror(errno));
		free(path);
		return -1;
	}
	char ts[40];
	fprintf(sql, "-- drplay salvage of preserved state '%s', written %s\n", state, fmt_timestamp(now_us(), ts, sizeof(ts)));
	fprintf(sql, "-- Rows the restore discarded (INSERT) or changed (UPDATE back to the preserved content), by primary\n"
		     "-- key, against the restored database of resource '%s'. Review, then apply in one transaction,\n"
		     "-- e.g. psql -v ON_ERROR_STOP=1 -f salvage.sql; tables come after those they reference.\n"
		     "BEGIN;\n",
		against);
	struct strbuf seqs = STRBUF_INIT;
	size_t *order = fk_order(S);
	int rc = 0;
	for (size_t k = 0; k < S->ntabs && rc == 0; k++) {
		size_t i = order[k];
		struct tdiff *d = &S->d[i];
		if (!S->diff[i])
			continue;
		if (S->keyless[i]) {
			fprintf(sql, "\n-- %s: %lld row%s only in the preserved state, %lld only in the restored database: %s\n",
				S->tabs[i].key, (long long)d->discarded, d->discarded == 1 ? "" : "s", (long long)d->back,
				S->notes[i] ? S->notes[i] : "");
			continue;
		}
		if (d->discarded || d->changed)
			rc = extract_table(a, S->pc, &S->tabs[i], d, dir, sql, files, &seqs);
	}
	if (seqs.len)
		fprintf(sql, "\n-- sequences past the values the rows above hold\n%s", sb_str(&seqs));
	fprintf(sql, "\nCOMMIT;\n");
	if (fclose(sql) != 0 && rc == 0) {
		act_fail(a, "cannot write '%s': %s", path, strerror(errno));
		rc = -1;
	}
	json_array_insert_new(files, 0, json_string(path));
	free(order);
	free(path);
	sb_release(&seqs);
	return rc;
}

static int compare_all(struct salv *S)
{
	if (pgt_list(S->a, S->pc, NULL, "rp", 0, &S->tabs, &S->ntabs) != 0)
		return -1;
	size_t n = S->ntabs + 1;
	S->d = xcalloc(n, sizeof(*S->d));
	S->diff = xcalloc(n, sizeof(*S->diff));
	S->keyless = xcalloc(n, sizeof(*S->keyless));
	S->notes = xcalloc(n, sizeof(*S->notes));
	int rc = 0;
	for (size_t i = 0; i < S->ntabs && rc == 0; i++) {
		if (!wanted(S->filter, S->tabs[i].key))
			continue;
		rc = compare_table(S, i);
	}
	return rc;
}

static void salv_release(struct salv *S)
{
	for (size_t i = 0; S->d && i < S->ntabs; i++) {
		strs_release(&S->d[i].disc);
		strs_release(&S->d[i].chg);
		rowdiff_release(&S->d[i].rd);
		free(S->notes[i]);
	}
	free(S->d);
	free(S->diff);
	free(S->keyless);
	free(S->notes);
	pgt_free_all(S->tabs, S->ntabs);
}

/* The differing tables as the `tables` output (new array). */
static json_t *tables_out(struct salv *S)
{
	json_t *out = json_array();
	for (size_t i = 0; i < S->ntabs; i++) {
		if (!S->diff[i])
			continue;
		json_t *t = json_pack("{s:s,s:I,s:I,s:I,s:b}", "table", S->tabs[i].key, "discarded", (json_int_t)S->d[i].discarded,
				      "changed", (json_int_t)S->d[i].changed, "brought_back", (json_int_t)S->d[i].back,
				      "extractable", !S->keyless[i]);
		if (S->notes[i])
			json_object_set_new(t, "note", json_string(S->notes[i]));
		json_array_append_new(out, t);
	}
	return out;
}

/* ---- the action ---- */

/* An empty directory to write into (created when missing). 0 or -1 after act_fail. */
static int out_dir(struct act *a, const char *dir)
{
	if (mkdir(dir, 0700) == 0)
		return 0;
	if (errno != EEXIST)
		return act_fail(a, "cannot create the output directory '%s': %s; nothing was started", dir, strerror(errno)), -1;
	DIR *d = opendir(dir);
	if (!d)
		return act_fail(a, "'%s' exists and is not a readable directory; nothing was started; choose another --out", dir), -1;
	struct dirent *e;
	int empty = 1;
	while ((e = readdir(d)) && empty)
		empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
	closedir(d);
	if (!empty)
		return act_fail(a, "the output directory '%s' is not empty; nothing was started; choose a new --out directory so that no earlier salvage is overwritten", dir), -1;
	return 0;
}

static PGconn *open_dsn(struct act *a, const char *dsn, const char *state)
{
	const char *keys[] = { "dbname", "application_name", NULL };
	const char *vals[] = { dsn, "drplay salvage", NULL };
	PGconn *c = PQconnectdbParams(keys, vals, 1);
	if (!c || PQstatus(c) != CONNECTION_OK) {
		act_fail(a, "cannot connect to the server started on preserved state '%s': %s", state,
			 c ? pg_first_line(PQerrorMessage(c)) : "out of memory");
		PQfinish(c);
		return NULL;
	}
	return c;
}

static void salvage_log(struct act *a, struct salv *S, const char *state, json_t *tables)
{
	size_t i;
	json_t *t;
	json_array_foreach(tables, i, t)
	{
		const char *note = json_string_value(json_object_get(t, "note"));
		act_log(a, "  %-40s %8lld discarded %8lld changed %8lld brought back%s%s",
			json_string_value(json_object_get(t, "table")),
			(long long)json_integer_value(json_object_get(t, "discarded")),
			(long long)json_integer_value(json_object_get(t, "changed")),
			(long long)json_integer_value(json_object_get(t, "brought_back")), note ? "; " : "", note ? note : "");
	}
	act_log(a, "preserved state '%s' holds %lld row%s the restore discarded and %lld it changed (%lld row%s the restore brought back)",
		state, (long long)S->discarded, S->discarded == 1 ? "" : "s", (long long)S->changed, (long long)S->back,
		S->back == 1 ? "" : "s");
}

/* The comparison (and the files) once the throwaway server runs. */
static int salvage_run(struct act *a, struct salv *S, const char *state, struct resource *against, const char *dir)
{
	if (pg_canonical_settings(a, S->pc, 0) != 0 || pg_canonical_settings(a, S->rc, 0) != 0)
		return -1;
	PGresult *res = pg_exec(a, S->rc, "opening a read of the restored database", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
	if (!res)
		return -1;
	PQclear(res);
	if (compare_all(S) != 0)
		return -1;
	json_t *tables = tables_out(S), *files = json_array();
	salvage_log(a, S, state, tables);
	int rc = 0;
	if (dir) {
		rc = extract_all(S, dir, state, against->name, files);
		if (rc == 0)
			act_log(a, "wrote %s (review it, then apply it to the restored database)",
				json_string_value(json_array_get(files, 0)));
	}
	act_out_int(a, "discarded", S->discarded);
	act_out_int(a, "changed", S->changed);
	act_out_int(a, "brought_back", S->back);
	act_out(a, "tables", tables);
	act_out(a, "files", files);
	act_out_str(a, "dir", dir ? dir : "");
	res = PQexec(S->rc, "ROLLBACK");
	PQclear(res);
	return rc;
}

static int do_salvage(struct act *a)
{
	struct pitr p = { 0 };
	if (pitr_setup(a, &p) != 0)
		return ACT_FAIL;
	int rc = ACT_FAIL;
	const char *state = act_str(a, "state"), *dir = act_str(a, "out");
	int count_only = act_bool(a, "count_only", 0);
	struct resource *against = act_has(a, "against") ? act_resource(a, "against") : p.db;
	PGconn *rconn = NULL, *pconn = NULL;
	char *dsn = NULL, *handle = NULL;
	act_unchanged(a);
	if (!against)
		goto out;
	if (!p.ops->open_preserved) {
		act_fail(a, "pitr resource '%s' (driver %s): salvage cannot start this driver's preserved states; nothing was started",
			 p.r->name, p.driver);
		goto out;
	}
	if (count_only)
		dir = NULL;
	else if (!dir) {
		act_fail(a, "give out: a new directory for the salvaged rows (or count_only: true)");
		goto out;
	}
	if (!(rconn = pg_connect_new(a, against, NULL)) || (dir && out_dir(a, dir) != 0))
		goto out;
	if (p.ops->open_preserved(&p, state, &dsn, &handle) != ACT_OK)
		goto out;
	/* from here on the throwaway server runs: every path stops it */
	struct salv S = { .a = a, .rc = rconn, .filter = act_json(a, "tables") };
	if ((pconn = open_dsn(a, dsn, state)) != NULL) {
		S.pc = pconn;
		rc = salvage_run(a, &S, state, against, dir) == 0 ? ACT_OK : ACT_FAIL;
	}
	salv_release(&S);
	PQfinish(pconn);
	char *m = rc == ACT_OK || !act_error(a) ? NULL : xstrdup(act_error(a));
	act_shield(a); /* stop it even when interrupted */
	int closed = p.ops->close_preserved(&p, handle);
	if (closed == ACT_OK)
		act_log(a, "the server started on preserved state '%s' is stopped and its copy removed", state);
	if (m)
		act_fail(a, "%s%s", m, closed == ACT_OK ? "; the server started on the preserved state was stopped and removed" : "");
	else if (closed != ACT_OK)
		rc = ACT_FAIL;
	free(m);
	if (rc == ACT_OK && p.ops->note_preserved) {
		json_t *note = json_pack("{s:I,s:I,s:I,s:s,s:s}", "discarded", (json_int_t)S.discarded, "changed",
					 (json_int_t)S.changed, "brought_back", (json_int_t)S.back, "against", against->name,
					 "counted_by", act_run_id(a));
		p.ops->note_preserved(&p, state, note);
		json_decref(note);
	}
out:
	PQfinish(rconn);
	free(dsn);
	free(handle);
	json_decref(p.cache);
	return rc;
}

static const struct param_spec salvage_params[] = {
	{ .name = "against", .type = T_RESOURCE, .kind = "postgres",
	  .doc = "the restored database to compare with (default: the pitr resource's database)" },
	{ .name = "count_only", .type = T_BOOL, .def = "false", .doc = "count the rows only, write no files" },
	{ .name = "out", .type = T_STRING, .flags = P_PRINTED,
	  .doc = "a new (or empty) directory for salvage.sql and one CSV per table; required unless count_only" },
	{ .name = "resource", .type = T_RESOURCE, .kind = "pitr", .flags = P_REQUIRED,
	  .doc = "the pitr resource that kept the state" },
	{ .name = "state", .type = T_STRING, .flags = P_REQUIRED | P_PRINTED,
	  .doc = "the preserved state's name, e.g. ${steps.restore.preserved_as}" },
	{ .name = "tables", .type = T_LIST, .doc = "compare only these tables (default: every table of the preserved state)" },
	{ .name = NULL },
};
static const struct output_spec salvage_outputs[] = {
	{ .name = "brought_back", .type = T_INT, .doc = "rows in the restored database only (what the restore brought back)" },
	{ .name = "changed", .type = T_INT, .doc = "rows with the same key and other content: the restore changed them" },
	{ .name = "dir", .type = T_STRING, .doc = "where the files are ('' with count_only)" },
	{ .name = "discarded", .type = T_INT, .doc = "rows in the preserved state only: the writes the restore discarded" },
	{ .name = "files", .type = T_LIST, .doc = "salvage.sql first, then one CSV per table" },
	{ .name = "tables", .type = T_LIST,
	  .doc = "one per differing table: table, discarded, changed, brought_back, extractable, note" },
	{ .name = NULL },
};
const struct action_def pitr_salvage_def = {
	.name = "pitr.salvage",
	.run = do_salvage,
	.cat = CAT_OTHER,
	.params = salvage_params,
	.outputs = salvage_outputs,
	.doc = "Starts a preserved state (what a restore replaced) as a throwaway server without altering it, compares it with the restored database by primary key, writes the rows the restore discarded or changed as SQL and CSV for review (or only counts them), and stops the server again on every path.",
};
