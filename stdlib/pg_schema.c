/*
 * pg_schema.c: the canonical schema text of a database (SPEC.md, 'The canonical schema text'): one
 * line per object, "kind<TAB>name<TAB>definition", read from the catalogs
 * with the server's own pg_get_*def functions under an empty search_path
 * (so every name is schema-qualified the same way on every server), sorted
 * bytewise. Nothing in it depends on OIDs, owners, privileges, physical
 * column numbers, statistics or sequence positions, so a database and its
 * restored copy give the same text, and two texts diff line by line.
 */
#include <stdlib.h>
#include <string.h>

#include "pg_int.h"

#define USER_NSP(col) \
	"(" col " NOT IN ('pg_catalog', 'information_schema') AND " col " !~ '^pg_(toast|temp)' " \
	"AND ($1::text[] IS NULL OR " col " = ANY($1::text[])))"
#define NOT_EXT(catalog, oidcol)                                                                   \
	"NOT EXISTS (SELECT 1 FROM pg_depend dx WHERE dx.classid = '" catalog "'::regclass AND dx.objid = " \
	oidcol " AND dx.deptype = 'e')"
#define QN(nsp, rel) "quote_ident(" nsp ".nspname) || '.' || quote_ident(" rel ")"

/* Each query returns (kind, name, definition). */
static const char *const queries[] = {
	/* schemas */
	"SELECT 'schema', quote_ident(n.nspname), '' FROM pg_namespace n WHERE " USER_NSP("n.nspname")
	" AND " NOT_EXT("pg_namespace", "n.oid"),

	/* extensions (whatever schema they live in) */
	"SELECT 'extension', quote_ident(e.extname), 'version ' || e.extversion || ' schema ' || quote_ident(n.nspname) "
	"FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE $1::text[] IS NULL OR true",

	/* enum, composite and range types */
	"SELECT 'type', " QN("n", "t.typname") ", CASE t.typtype "
	"WHEN 'e' THEN 'enum (' || coalesce((SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder) "
	"  FROM pg_enum e WHERE e.enumtypid = t.oid), '') || ')' "
	"WHEN 'c' THEN 'composite (' || coalesce((SELECT string_agg(quote_ident(a.attname) || ' ' || "
	"  format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum) FROM pg_attribute a "
	"  WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped), '') || ')' "
	"ELSE 'range of ' || format_type((SELECT r.rngsubtype FROM pg_range r WHERE r.rngtypid = t.oid), NULL) END "
	"FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE " USER_NSP("n.nspname")
	" AND (t.typtype IN ('e', 'r') OR (t.typtype = 'c' AND (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c')) "
	"AND " NOT_EXT("pg_type", "t.oid"),

	/* domains */
	"SELECT 'domain', " QN("n", "t.typname") ", format_type(t.typbasetype, t.typtypmod) "
	"|| CASE WHEN t.typnotnull THEN ' not null' ELSE '' END "
	"|| coalesce(' default ' || pg_get_expr(t.typdefaultbin, 0), '') "
	"|| coalesce(' ' || (SELECT string_agg('constraint ' || quote_ident(c.conname) || ' ' || pg_get_constraintdef(c.oid, true), ' ' "
	"  ORDER BY c.conname) FROM pg_constraint c WHERE c.contypid = t.oid), '') "
	"FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.typtype = 'd' AND " USER_NSP("n.nspname")
	" AND " NOT_EXT("pg_type", "t.oid"),

	/* tables, views, partitions */
	"SELECT 'table', " QN("n", "c.relname") ", CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table' "
	"WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' ELSE 'foreign table' END "
	"|| CASE WHEN c.relpersistence = 'u' THEN ' unlogged' ELSE '' END "
	"|| CASE WHEN c.relkind = 'p' THEN ' ' || pg_get_partkeydef(c.oid) ELSE '' END "
	"|| CASE WHEN c.relispartition THEN ' partition of ' || (SELECT " QN("pn", "pc.relname") " FROM pg_inherits i "
	"  JOIN pg_class pc ON pc.oid = i.inhparent JOIN pg_namespace pn ON pn.oid = pc.relnamespace "
	"  WHERE i.inhrelid = c.oid LIMIT 1) || ' ' || pg_get_expr(c.relpartbound, c.oid) ELSE '' END "
	"|| CASE WHEN NOT c.relispartition THEN coalesce(' inherits ' || (SELECT string_agg(" QN("pn", "pc.relname") ", ', ' "
	"  ORDER BY i.inhseqno) FROM pg_inherits i JOIN pg_class pc ON pc.oid = i.inhparent "
	"  JOIN pg_namespace pn ON pn.oid = pc.relnamespace WHERE i.inhrelid = c.oid), '') ELSE '' END "
	"|| CASE WHEN c.relrowsecurity THEN ' row level security' ELSE '' END "
	"FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
	"WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND " USER_NSP("n.nspname") " AND " NOT_EXT("pg_class", "c.oid"),

	/* columns: #rank among live columns, so dropped ones shift nothing */
	"SELECT 'column', x.qn, '#' || x.rank || ' ' || x.def FROM (SELECT " QN("n", "c.relname") " || '.' || quote_ident(a.attname) AS qn, "
	"row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum) AS rank, "
	"format_type(a.atttypid, a.atttypmod) "
	"|| CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation THEN ' collate ' || "
	"  (SELECT quote_ident(cn.nspname) || '.' || quote_ident(co.collname) FROM pg_collation co "
	"  JOIN pg_namespace cn ON cn.oid = co.collnamespace WHERE co.oid = a.attcollation) ELSE '' END "
	"|| CASE WHEN a.attnotnull THEN ' not null' ELSE '' END "
	"|| CASE WHEN a.attgenerated = 's' THEN ' generated always as (' || pg_get_expr(d.adbin, d.adrelid) || ') stored' "
	"  WHEN d.adbin IS NOT NULL THEN ' default ' || pg_get_expr(d.adbin, d.adrelid) ELSE '' END "
	"|| CASE a.attidentity WHEN 'a' THEN ' identity always' WHEN 'd' THEN ' identity by default' ELSE '' END AS def "
	"FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
	"JOIN pg_type t ON t.oid = a.atttypid LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
	"WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND " USER_NSP("n.nspname")
	" AND " NOT_EXT("pg_class", "c.oid") ") x",

	/* table constraints */
	"SELECT 'constraint', " QN("n", "c.relname") " || '.' || quote_ident(co.conname), pg_get_constraintdef(co.oid, true) "
	"FROM pg_constraint co JOIN pg_class c ON c.oid = co.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
	"WHERE " USER_NSP("n.nspname") " AND " NOT_EXT("pg_class", "c.oid"),

	/* indexes */
	"SELECT 'index', " QN("n", "ic.relname") ", pg_get_indexdef(i.indexrelid) "
	"FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class c ON c.oid = i.indrelid "
	"JOIN pg_namespace n ON n.oid = ic.relnamespace WHERE " USER_NSP("n.nspname") " AND " NOT_EXT("pg_class", "c.oid"),

	/* sequences (definition, not position) */
	"SELECT 'sequence', " QN("n", "c.relname") ", format_type(s.seqtypid, NULL) || ' start ' || s.seqstart "
	"|| ' increment ' || s.seqincrement || ' min ' || s.seqmin || ' max ' || s.seqmax || ' cache ' || s.seqcache "
	"|| CASE WHEN s.seqcycle THEN ' cycle' ELSE '' END "
	"|| coalesce(' owned by ' || (SELECT " QN("tn", "tc.relname") " || '.' || quote_ident(ta.attname) "
	"  FROM pg_depend d JOIN pg_class tc ON tc.oid = d.refobjid JOIN pg_namespace tn ON tn.oid = tc.relnamespace "
	"  JOIN pg_attribute ta ON ta.attrelid = d.refobjid AND ta.attnum = d.refobjsubid "
	"  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass "
	"  AND d.deptype IN ('a', 'i') LIMIT 1), '') "
	"FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
	"WHERE " USER_NSP("n.nspname") " AND " NOT_EXT("pg_class", "c.oid"),

	/* view definitions */
	"SELECT 'view', " QN("n", "c.relname") ", btrim(regexp_replace(pg_get_viewdef(c.oid, true), '\\s+', ' ', 'g')) "
	"FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('v', 'm') AND "
	USER_NSP("n.nspname") " AND " NOT_EXT("pg_class", "c.oid"),

	/* functions, procedures, aggregates */
	"SELECT CASE p.prokind WHEN 'a' THEN 'aggregate' WHEN 'p' THEN 'procedure' ELSE 'function' END, "
	QN("n", "p.proname") " || '(' || pg_get_function_identity_arguments(p.oid) || ')', "
	"CASE WHEN p.prokind = 'a' THEN 'returns ' || pg_get_function_result(p.oid) "
	"ELSE coalesce('returns ' || pg_get_function_result(p.oid) || ' ', '') || 'language ' || quote_ident(l.lanname) "
	"|| CASE p.provolatile WHEN 'i' THEN ' immutable' WHEN 's' THEN ' stable' ELSE ' volatile' END "
	"|| CASE WHEN p.proisstrict THEN ' strict' ELSE '' END || CASE WHEN p.prosecdef THEN ' security definer' ELSE '' END "
	"|| ' body sha256:' || encode(sha256(convert_to(pg_get_functiondef(p.oid), 'UTF8')), 'hex') END "
	"FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang "
	"WHERE " USER_NSP("n.nspname") " AND " NOT_EXT("pg_proc", "p.oid"),

	/* triggers (not the internal ones behind foreign keys) */
	"SELECT 'trigger', " QN("n", "c.relname") " || '.' || quote_ident(t.tgname), pg_get_triggerdef(t.oid, true) "
	"FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
	"WHERE NOT t.tgisinternal AND " USER_NSP("n.nspname") " AND " NOT_EXT("pg_class", "c.oid"),
};

/* Appends s with line breaks and tabs escaped, so one object is one line. */
static void add_escaped(struct strbuf *sb, const char *s)
{
	for (; *s; s++) {
		if (*s == '\n')
			sb_adds(sb, "\\n");
		else if (*s == '\r')
			sb_adds(sb, "\\r");
		else if (*s == '\t')
			sb_adds(sb, "\\t");
		else
			sb_addc(sb, *s);
	}
}

static int cmp_str(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

char *pg_schema_text(struct act *a, PGconn *c, json_t *schemas, int64_t *objects)
{
	*objects = 0;
	PGresult *res = pg_exec(a, c, "reading the schema", "SELECT current_setting('search_path')");
	if (!res)
		return NULL;
	char *saved = xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	res = pg_exec(a, c, "reading the schema",
		      "SELECT set_config('search_path', '', true), set_config('DateStyle', 'ISO, YMD', true)");
	if (!res) {
		free(saved);
		return NULL;
	}
	PQclear(res);
	char *arr = schemas && json_array_size(schemas) ? pg_text_array(schemas) : NULL;
	const char *vals[1] = { arr };
	char **lines = NULL;
	size_t n = 0, alloc = 0;
	int failed = 0;
	for (size_t q = 0; q < ARRAY_SIZE(queries) && !failed; q++) {
		res = pg_execp(a, c, "reading the schema", queries[q], 1, vals);
		if (!res) {
			failed = 1;
			break;
		}
		for (int i = 0; i < PQntuples(res); i++) {
			struct strbuf sb = STRBUF_INIT;
			add_escaped(&sb, PQgetvalue(res, i, 0));
			sb_addc(&sb, '\t');
			add_escaped(&sb, PQgetvalue(res, i, 1));
			sb_addc(&sb, '\t');
			add_escaped(&sb, PQgetvalue(res, i, 2));
			if (n == alloc) {
				alloc = alloc ? alloc * 2 : 256;
				lines = xrealloc(lines, alloc * sizeof(*lines));
			}
			lines[n++] = sb_detach(&sb);
		}
		PQclear(res);
	}
	free(arr);
	/* back to the search_path of the session for what follows in this transaction */
	if (!failed) {
		const char *sv[1] = { saved };
		res = pg_execp(a, c, "reading the schema", "SELECT set_config('search_path', $1, true)", 1, sv);
		if (!res)
			failed = 1;
		PQclear(res);
	}
	free(saved);
	if (failed) {
		for (size_t i = 0; i < n; i++)
			free(lines[i]);
		free(lines);
		return NULL;
	}
	qsort(lines, n, sizeof(*lines), cmp_str);
	struct strbuf out = STRBUF_INIT;
	sb_init(&out, (size_t)1 << 30);
	int64_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (i && !strcmp(lines[i], lines[i - 1]))
			continue;
		if (k)
			sb_addc(&out, '\n');
		sb_adds(&out, lines[i]);
		k++;
	}
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
	*objects = k;
	return sb_detach(&out);
}
