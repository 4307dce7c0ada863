/*
 * pg_catalog.c: finding tables in the catalogs for the pg family: a name as
 * a playbook writes it (SPEC.md, 'Table names') to a relation, the list of every table
 * of some schemas, the partitions of a partitioned table, and a table's
 * columns, primary key and the relations that hold its rows (itself, or its
 * leaf partitions). Everything is read from pg_catalog with parameters, so
 * a name is never pasted into SQL unquoted.
 */
#include <stdlib.h>
#include <string.h>
#include <ctype.h>

#include "pg_int.h"

int pg_system_schema(const char *nsp)
{
	return !strcmp(nsp, "pg_catalog") || !strcmp(nsp, "information_schema") || !strncmp(nsp, "pg_toast", 8) ||
	       !strncmp(nsp, "pg_temp", 7);
}

const char **json_strings(json_t *v, size_t *n)
{
	*n = 0;
	if (json_is_string(v)) {
		const char **r = xcalloc(2, sizeof(*r));
		r[0] = json_string_value(v);
		*n = 1;
		return r;
	}
	if (!json_is_array(v))
		return NULL;
	const char **r = xcalloc(json_array_size(v) + 1, sizeof(*r));
	size_t i;
	json_t *e;
	json_array_foreach(v, i, e)
	{
		if (!json_is_string(e)) {
			free(r);
			return NULL;
		}
		r[(*n)++] = json_string_value(e);
	}
	return r;
}


char *pg_text_array(json_t *list)
{
	struct strbuf sb = STRBUF_INIT;
	sb_addc(&sb, '{');
	size_t i;
	json_t *e;
	json_array_foreach(list, i, e)
	{
		const char *s = json_string_value(e);
		sb_adds(&sb, i ? ",\"" : "\"");
		for (; s && *s; s++) {
			if (*s == '"' || *s == '\\')
				sb_addc(&sb, '\\');
			sb_addc(&sb, *s);
		}
		sb_addc(&sb, '"');
	}
	sb_addc(&sb, '}');
	return sb_detach(&sb);
}

void pgt_release(struct pgtab *t)
{
	free(t->schema);
	free(t->name);
	free(t->key);
	free(t->qname);
	free(t->parent_key);
	for (size_t i = 0; i < t->ncols; i++) {
		free(t->cols[i]);
		free(t->coltypes[i]);
	}
	free(t->cols);
	free(t->coltypes);
	free(t->collist);
	for (size_t i = 0; i < t->npk; i++) {
		free(t->pk[i]);
		free(t->pkq[i]);
		free(t->pktypes[i]);
	}
	free(t->pk);
	free(t->pkq);
	free(t->pktypes);
	free(t->pk1q);
	free(t->pk1_type);
	free(t->pkrow);
	for (size_t i = 0; i < t->nleaves; i++) {
		free(t->leaves[i].qname);
		free(t->leaves[i].key);
	}
	free(t->leaves);
	memset(t, 0, sizeof(*t));
}

void pgt_free_all(struct pgtab *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		pgt_release(&t[i]);
	free(t);
}

void pgt_push(struct pgtab **arr, size_t *n, const struct pgtab *t)
{
	*arr = xrealloc(*arr, (*n + 1) * sizeof(**arr));
	(*arr)[(*n)++] = *t;
}

long pgt_find(const struct pgtab *arr, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(arr[i].key, key))
			return (long)i;
	return -1;
}

/* The columns every table query below returns, in this order. */
#define REL_COLS                                                                                                 \
	"c.oid::int8, n.nspname, c.relname, c.relkind::text, "                                                  \
	"quote_ident(n.nspname) || '.' || quote_ident(c.relname), "                                            \
	"(SELECT pn.nspname || '.' || pc.relname FROM pg_inherits i JOIN pg_class pc ON pc.oid = i.inhparent " \
	"JOIN pg_namespace pn ON pn.oid = pc.relnamespace WHERE i.inhrelid = c.oid AND c.relispartition LIMIT 1), " \
	"c.relispopulated"

static void fill_rel(struct pgtab *t, PGresult *res, int row)
{
	memset(t, 0, sizeof(*t));
	int64_t oid = 0;
	parse_int64(PQgetvalue(res, row, 0), &oid);
	t->oid = oid;
	t->schema = xstrdup(PQgetvalue(res, row, 1));
	t->name = xstrdup(PQgetvalue(res, row, 2));
	t->key = xasprintf("%s.%s", t->schema, t->name);
	t->relkind = PQgetvalue(res, row, 3)[0];
	t->qname = xstrdup(PQgetvalue(res, row, 4));
	t->parent_key = PQgetisnull(res, row, 5) ? NULL : xstrdup(PQgetvalue(res, row, 5));
	t->unpopulated = PQgetvalue(res, row, 6)[0] == 'f';
}

/* Splits a written name into up to two identifiers. Quoted parts keep
 * their case; unquoted ones are returned as written (the caller tries them
 * as written, then folded). Returns the number of parts (1 or 2), 0 when
 * malformed. quoted[i] says whether part i was quoted. */
static int split_name(const char *s, char parts[2][256], int quoted[2])
{
	int np = 0;
	const char *p = s;
	if (!strchr(s, '"')) {
		const char *dot = strchr(s, '.');
		if (!dot) {
			snprintf(parts[0], 256, "%s", s);
			quoted[0] = 0;
			return 1;
		}
		snprintf(parts[0], 256, "%.*s", (int)(dot - s), s);
		snprintf(parts[1], 256, "%s", dot + 1);
		quoted[0] = quoted[1] = 0;
		return parts[0][0] && parts[1][0] ? 2 : 0;
	}
	while (*p) {
		if (np == 2)
			return 0;
		size_t k = 0;
		if (*p == '"') {
			p++;
			for (;;) {
				if (!*p)
					return 0;
				if (*p == '"') {
					if (p[1] == '"') {
						p += 2;
						if (k < 255)
							parts[np][k++] = '"';
						continue;
					}
					p++;
					break;
				}
				if (k < 255)
					parts[np][k++] = *p;
				p++;
			}
			quoted[np] = 1;
		} else {
			while (*p && *p != '.') {
				if (k < 255)
					parts[np][k++] = *p;
				p++;
			}
			quoted[np] = 0;
		}
		parts[np][k] = '\0';
		if (!k)
			return 0;
		np++;
		if (*p == '.')
			p++;
		else if (*p)
			return 0;
	}
	return np;
}

static void fold(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 128)
			*s = (char)tolower((unsigned char)*s);
}

static const char *find_sql =
	"SELECT " REL_COLS ", array_position(current_schemas(false), n.nspname::text) "
	"FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
	"WHERE c.relname = $2 AND ($1::text IS NULL OR n.nspname = $1) "
	"AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND "
	"(n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp)') "
	"ORDER BY 8 NULLS LAST, 2";

/* One lookup: 1 found, 0 not found, 2 ambiguous (message in amb), -1 failed. */
static int find_one(struct act *a, PGconn *c, const char *schema, const char *rel, struct pgtab *t, char *amb,
		    size_t amblen)
{
	const char *vals[2] = { schema, rel };
	PGresult *res = pg_execp(a, c, "looking up a table", find_sql, 2, vals);
	if (!res)
		return -1;
	int n = PQntuples(res);
	if (n == 0) {
		PQclear(res);
		return 0;
	}
	if (!schema && n > 1 && PQgetisnull(res, 0, 7)) {
		snprintf(amb, amblen, "%s.%s and %s.%s", PQgetvalue(res, 0, 1), rel, PQgetvalue(res, 1, 1), rel);
		PQclear(res);
		return 2;
	}
	fill_rel(t, res, 0);
	PQclear(res);
	return 1;
}

int pgt_resolve(struct act *a, PGconn *c, const char *dblabel, const char *name, struct pgtab *t, int missing_ok)
{
	memset(t, 0, sizeof(*t));
	char parts[2][256];
	int quoted[2] = { 0, 0 };
	int np = name && *name ? split_name(name, parts, quoted) : 0;
	if (!np)
		return act_fail(a, "table name '%s' is not valid; write table, schema.table or a quoted SQL name", name ? name : ""), -1;
	char amb[600] = "";
	for (int pass = 0; pass < 2; pass++) {
		char s[256], rname[256];
		if (np == 2) {
			snprintf(s, sizeof(s), "%s", parts[0]);
			snprintf(rname, sizeof(rname), "%s", parts[1]);
		} else {
			snprintf(rname, sizeof(rname), "%s", parts[0]);
		}
		if (pass == 1) {
			/* SQL folds unquoted names to lower case */
			int changed = 0;
			char before[256];
			if (np == 2 && !quoted[0]) {
				snprintf(before, sizeof(before), "%s", s);
				fold(s);
				changed |= strcmp(before, s) != 0;
			}
			if (!quoted[np - 1]) {
				snprintf(before, sizeof(before), "%s", rname);
				fold(rname);
				changed |= strcmp(before, rname) != 0;
			}
			if (!changed)
				break;
		}
		int rc = find_one(a, c, np == 2 ? s : NULL, rname, t, amb, sizeof(amb));
		if (rc < 0)
			return -1;
		if (rc == 1)
			return 0;
		if (rc == 2)
			return act_fail(a, "table '%s' is ambiguous in database %s: it could be %s; qualify it with its schema",
					name, dblabel, amb), -1;
	}
	/* "a.b" may also be a table whose own name has a dot */
	if (np == 2 && !strchr(name, '"')) {
		int rc = find_one(a, c, NULL, name, t, amb, sizeof(amb));
		if (rc < 0)
			return -1;
		if (rc == 1)
			return 0;
	}
	if (missing_ok)
		return 1;
	return act_fail(a, "table '%s' does not exist in database %s; check the name (schema.table) and that the role may see its schema",
			name, dblabel), -1;
}

int pgt_resolve_key(struct act *a, PGconn *c, const char *key, struct pgtab *t)
{
	memset(t, 0, sizeof(*t));
	for (const char *dot = strchr(key, '.'); dot; dot = strchr(dot + 1, '.')) {
		char *schema = xstrndup(key, (size_t)(dot - key));
		char amb[256];
		int rc = find_one(a, c, schema, dot + 1, t, amb, sizeof(amb));
		free(schema);
		if (rc < 0)
			return -1;
		if (rc == 1)
			return 0;
	}
	return 1;
}

static int check_schemas(struct act *a, PGconn *c, const char *arr)
{
	const char *vals[1] = { arr };
	PGresult *res = pg_execp(a, c, "checking the listed schemas",
				 "SELECT s FROM unnest($1::text[]) AS s WHERE NOT EXISTS "
				 "(SELECT 1 FROM pg_namespace WHERE nspname = s)",
				 1, vals);
	if (!res)
		return -1;
	if (PQntuples(res) > 0) {
		act_fail(a, "schema '%s' does not exist in this database; check the schemas list",
			 PQgetvalue(res, 0, 0));
		PQclear(res);
		return -1;
	}
	PQclear(res);
	return 0;
}

int pgt_list(struct act *a, PGconn *c, json_t *schemas, const char *relkinds, int with_partitions,
	     struct pgtab **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	char *arr = schemas && json_array_size(schemas) ? pg_text_array(schemas) : NULL;
	if (arr && check_schemas(a, c, arr) != 0) {
		free(arr);
		return -1;
	}
	struct strbuf kinds = STRBUF_INIT;
	sb_addc(&kinds, '{');
	for (const char *k = relkinds; *k; k++)
		sb_addf(&kinds, "%s%c", k == relkinds ? "" : ",", *k);
	sb_addc(&kinds, '}');
	const char *vals[3] = { sb_str(&kinds), arr, with_partitions ? "t" : "f" };
	PGresult *res = pg_execp(a, c, "listing tables",
				 "SELECT " REL_COLS " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
				 "WHERE c.relkind = ANY($1::\"char\"[]) AND "
				 "(n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp)') "
				 "AND ($2::text[] IS NULL OR n.nspname = ANY($2::text[])) "
				 "AND ($3::bool OR NOT c.relispartition) "
				 "ORDER BY n.nspname COLLATE \"C\", c.relname COLLATE \"C\"",
				 3, vals);
	sb_release(&kinds);
	free(arr);
	if (!res)
		return -1;
	int rows = PQntuples(res);
	*out = xcalloc((size_t)rows + 1, sizeof(**out));
	for (int i = 0; i < rows; i++)
		fill_rel(&(*out)[i], res, i);
	*n = (size_t)rows;
	PQclear(res);
	return 0;
}

int pgt_partitions(struct act *a, PGconn *c, const struct pgtab *t, struct pgtab **out, size_t *n)
{
	char oid[32];
	snprintf(oid, sizeof(oid), "%lld", (long long)t->oid);
	const char *vals[1] = { oid };
	PGresult *res = pg_execp(a, c, "listing partitions",
				 "SELECT " REL_COLS " FROM pg_partition_tree($1::oid::regclass) p "
				 "JOIN pg_class c ON c.oid = p.relid JOIN pg_namespace n ON n.oid = c.relnamespace "
				 "WHERE p.level > 0 ORDER BY n.nspname COLLATE \"C\", c.relname COLLATE \"C\"",
				 1, vals);
	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		struct pgtab p;
		fill_rel(&p, res, i);
		pgt_push(out, n, &p);
	}
	PQclear(res);
	return 0;
}

int pgt_details(struct act *a, PGconn *c, struct pgtab *t)
{
	if (t->detailed)
		return 0;
	char oid[32];
	snprintf(oid, sizeof(oid), "%lld", (long long)t->oid);
	const char *vals[1] = { oid };
	PGresult *res = pg_execp(a, c, "reading the columns of a table",
				 "SELECT quote_ident(attname), format_type(atttypid, atttypmod) FROM pg_attribute "
				 "WHERE attrelid = $1::oid AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
				 1, vals);
	if (!res)
		return -1;
	int nc = PQntuples(res);
	t->ncols = (size_t)nc;
	t->cols = xcalloc((size_t)nc + 1, sizeof(char *));
	t->coltypes = xcalloc((size_t)nc + 1, sizeof(char *));
	struct strbuf sb = STRBUF_INIT;
	for (int i = 0; i < nc; i++) {
		t->cols[i] = xstrdup(PQgetvalue(res, i, 0));
		t->coltypes[i] = xstrdup(PQgetvalue(res, i, 1));
		sb_addf(&sb, "%s%s", i ? ", " : "", t->cols[i]);
	}
	t->collist = sb_detach(&sb);
	PQclear(res);

	res = pg_execp(a, c, "reading the primary key of a table",
		       "SELECT a.attname, quote_ident(a.attname), format_type(a.atttypid, NULL), "
		       "a.atttypid IN (20, 21, 23) FROM pg_index i "
		       "CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) "
		       "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
		       "WHERE i.indrelid = $1::oid AND i.indisprimary ORDER BY k.ord",
		       1, vals);
	if (!res)
		return -1;
	int np = PQntuples(res);
	t->npk = (size_t)np;
	t->pk = xcalloc((size_t)np + 1, sizeof(char *));
	t->pkq = xcalloc((size_t)np + 1, sizeof(char *));
	t->pktypes = xcalloc((size_t)np + 1, sizeof(char *));
	struct strbuf row = STRBUF_INIT;
	for (int i = 0; i < np; i++) {
		t->pk[i] = xstrdup(PQgetvalue(res, i, 0));
		t->pkq[i] = xstrdup(PQgetvalue(res, i, 1));
		t->pktypes[i] = xstrdup(PQgetvalue(res, i, 2));
		sb_addf(&row, "%s%s", i ? ", " : "", PQgetvalue(res, i, 1));
	}
	if (np) {
		t->pk1q = xstrdup(PQgetvalue(res, 0, 1));
		t->pk1_type = xstrdup(PQgetvalue(res, 0, 2));
		t->pk1_int = PQgetvalue(res, 0, 3)[0] == 't';
		t->pkrow = np == 1 ? xasprintf("%s::text", t->pk1q) : xasprintf("ROW(%s)::text", sb_str(&row));
	}
	sb_release(&row);
	PQclear(res);

	if (t->relkind == 'p') {
		res = pg_execp(a, c, "listing the partitions of a table",
			       "SELECT c.oid::int8, quote_ident(n.nspname) || '.' || quote_ident(c.relname), "
			       "n.nspname || '.' || c.relname, pg_relation_size(c.oid) "
			       "FROM pg_partition_tree($1::oid::regclass) p JOIN pg_class c ON c.oid = p.relid "
			       "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE p.isleaf "
			       "ORDER BY n.nspname COLLATE \"C\", c.relname COLLATE \"C\"",
			       1, vals);
	} else {
		res = pg_execp(a, c, "reading the size of a table",
			       "SELECT c.oid::int8, quote_ident(n.nspname) || '.' || quote_ident(c.relname), "
			       "n.nspname || '.' || c.relname, pg_relation_size(c.oid) "
			       "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1::oid",
			       1, vals);
	}
	if (!res)
		return -1;
	int nl = PQntuples(res);
	t->nleaves = (size_t)nl;
	t->leaves = xcalloc((size_t)nl + 1, sizeof(*t->leaves));
	for (int i = 0; i < nl; i++) {
		int64_t v = 0;
		parse_int64(PQgetvalue(res, i, 0), &v);
		t->leaves[i].oid = v;
		t->leaves[i].qname = xstrdup(PQgetvalue(res, i, 1));
		t->leaves[i].key = xstrdup(PQgetvalue(res, i, 2));
		v = 0;
		parse_int64(PQgetvalue(res, i, 3), &v);
		t->leaves[i].bytes = v;
	}
	PQclear(res);
	t->detailed = 1;
	return 0;
}
