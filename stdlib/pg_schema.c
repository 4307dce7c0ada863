/*
 * pg_schema.c: the canonical schema text of a database (SPEC.md, 'The canonical schema text'): one
 * line per object, "kind<TAB>name<TAB>definition", read from the catalogs
 * with the server's own pg_get_*def functions under an empty search_path
 * (so every name is schema-qualified the same way on every server), sorted
 * bytewise. It holds what a pg_dump restore brings back that changes how
 * the database behaves (definitions, enabled states of triggers and rules,
 * row-level security, comments, whether a materialized view is populated,
 * the database's encoding and locale); nothing in it depends on OIDs,
 * physical column numbers, statistics or sequence positions, and owners and
 * privileges only when asked for, so a database and its restored copy give
 * the same text, and two texts diff line by line.
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
/* ' disabled', ' enable replica', ' enable always' or nothing, from a
 * tgenabled / ev_enabled / evtenabled column (pg_dump restores each state) */
#define ENABLED(col) \
	"CASE " col " WHEN 'D' THEN '; disabled' WHEN 'R' THEN '; enable replica' WHEN 'A' THEN '; enable always' ELSE '' END"
/* Objects that pg_identify_object names (o: its result, whose schema and
 * identity are quoted): neither built in (initdb makes everything below OID
 * 16384) nor part of an extension, not in a system schema and, with a
 * schema list, in a listed one (objects outside any schema are kept). */
#define IDENT_OK(cls, oid, o)                                                                                    \
	"(" oid " >= 16384 AND NOT EXISTS (SELECT 1 FROM pg_depend dx WHERE dx.classid = " cls                   \
	" AND dx.objid = " oid " AND dx.deptype = 'e') AND coalesce(" o ".schema, CASE WHEN " o ".type = 'schema' "   \
	"THEN " o ".identity END, '') !~ '^(pg_catalog|information_schema|pg_toast.*|pg_temp.*)$' "                 \
	"AND ($1::text[] IS NULL OR (" o ".schema IS NULL AND " o ".type <> 'schema') OR coalesce(" o ".schema, " o \
	".identity) IN (SELECT quote_ident(x) FROM unnest($1::text[]) AS x)))"

/* Each query returns (kind, name, definition). */
static const char *const queries[] = {
	/* schemas */
	"SELECT 'schema', quote_ident(n.nspname), '' FROM pg_namespace n WHERE " USER_NSP("n.nspname")
	" AND " NOT_EXT("pg_namespace", "n.oid"),

	/* extensions (whatever schema they live in) */
	"SELECT 'extension', quote_ident(e.extname), 'version ' || e.extversion || ' schema ' || quote_ident(n.nspname) "
	"FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE $1::text[] IS NULL OR true",

	/* the database's own encoding and locale: sorting, case rules and
	 * unique indexes on text depend on them (not its name: a restore goes
	 * into another database; not its ALTER DATABASE settings, which a
	 * plain restore does not carry) */
	"SELECT 'database', x.k, x.v FROM (SELECT to_jsonb(d) AS j FROM pg_database d WHERE d.datname = current_database()) s "
	"CROSS JOIN LATERAL (VALUES ('encoding', pg_encoding_to_char((s.j ->> 'encoding')::int)), "
	"('lc_collate', s.j ->> 'datcollate'), ('lc_ctype', s.j ->> 'datctype'), "
	"('locale_provider', CASE s.j ->> 'datlocprovider' WHEN 'i' THEN 'icu' WHEN 'b' THEN 'builtin' WHEN 'c' THEN 'libc' END), "
	"('locale', coalesce(s.j ->> 'daticulocale', s.j ->> 'datlocale')), ('icu_rules', s.j ->> 'daticurules')) AS x(k, v) "
	"WHERE x.v IS NOT NULL AND ($1::text[] IS NULL OR true)",

	/* enum, composite, range and base types */
	"SELECT 'type', " QN("n", "t.typname") ", CASE t.typtype "
	"WHEN 'e' THEN 'enum (' || coalesce((SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder) "
	"  FROM pg_enum e WHERE e.enumtypid = t.oid), '') || ')' "
	"WHEN 'c' THEN 'composite (' || coalesce((SELECT string_agg(quote_ident(a.attname) || ' ' || "
	"  format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum) FROM pg_attribute a "
	"  WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped), '') || ')' "
	"WHEN 'b' THEN 'base type input ' || t.typinput::regprocedure::text || ' output ' || t.typoutput::regprocedure::text "
	"ELSE 'range of ' || format_type((SELECT r.rngsubtype FROM pg_range r WHERE r.rngtypid = t.oid), NULL) END "
	"FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE " USER_NSP("n.nspname")
	" AND (t.typtype IN ('e', 'r') OR (t.typtype = 'b' AND t.typcategory <> 'A') "
	"OR (t.typtype = 'c' AND (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c')) "
	"AND " NOT_EXT("pg_type", "t.oid"),

	/* domains */
	"SELECT 'domain', " QN("n", "t.typname") ", format_type(t.typbasetype, t.typtypmod) "
	"|| CASE WHEN t.typnotnull THEN ' not null' ELSE '' END "
	"|| coalesce(' default ' || pg_get_expr(t.typdefaultbin, 0), '') "
	"|| coalesce(' ' || (SELECT string_agg('constraint ' || quote_ident(c.conname) || ' ' || pg_get_constraintdef(c.oid, true), ' ' "
	"  ORDER BY c.conname) FROM pg_constraint c WHERE c.contypid = t.oid), '') "
	"FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.typtype = 'd' AND " USER_NSP("n.nspname")
	" AND " NOT_EXT("pg_type", "t.oid"),

	/* collations */
	"SELECT 'collation', " QN("n", "co.collname") ", 'provider ' || CASE x.j ->> 'collprovider' WHEN 'i' THEN 'icu' "
	"WHEN 'b' THEN 'builtin' WHEN 'c' THEN 'libc' ELSE 'default' END "
	"|| coalesce(' collate ' || quote_literal(x.j ->> 'collcollate'), '') || coalesce(' ctype ' || quote_literal(x.j ->> 'collctype'), '') "
	"|| coalesce(' locale ' || quote_literal(coalesce(x.j ->> 'colliculocale', x.j ->> 'colllocale')), '') "
	"|| coalesce(' rules ' || quote_literal(x.j ->> 'collicurules'), '') "
	"|| CASE WHEN co.collisdeterministic THEN '' ELSE ' nondeterministic' END "
	"|| CASE WHEN co.collencoding >= 0 THEN ' encoding ' || pg_encoding_to_char(co.collencoding) ELSE '' END "
	"FROM pg_collation co JOIN pg_namespace n ON n.oid = co.collnamespace CROSS JOIN LATERAL (SELECT to_jsonb(co) AS j) x "
	"WHERE " USER_NSP("n.nspname") " AND " NOT_EXT("pg_collation", "co.oid"),

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
	"|| CASE WHEN c.relforcerowsecurity THEN ' force row level security' ELSE '' END "
	"|| CASE WHEN c.relkind IN ('r', 'p') THEN CASE c.relreplident WHEN 'f' THEN ' replica identity full' "
	"  WHEN 'n' THEN ' replica identity nothing' WHEN 'i' THEN ' replica identity index' ELSE '' END ELSE '' END "
	"|| CASE WHEN c.relkind = 'm' AND NOT c.relispopulated THEN ' not populated' ELSE '' END "
	"|| CASE WHEN c.relkind = 'v' THEN coalesce(' with (' || (SELECT string_agg(o, ', ' ORDER BY o) "
	"  FROM unnest(c.reloptions) AS o) || ')', '') ELSE '' END "
	"FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
	"WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND " USER_NSP("n.nspname") " AND " NOT_EXT("pg_class", "c.oid"),

	/* columns: #rank among live columns, so dropped ones shift nothing; a
	 * default cannot refer to a column, so it is deparsed without the
	 * table's context (which costs a catalog lookup per column), a
	 * generated expression with it */
	"SELECT 'column', x.qn, '#' || x.rank || ' ' || x.def FROM (SELECT " QN("n", "c.relname") " || '.' || quote_ident(a.attname) AS qn, "
	"row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum) AS rank, "
	"format_type(a.atttypid, a.atttypmod) "
	"|| CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation THEN ' collate ' || "
	"  (SELECT quote_ident(cn.nspname) || '.' || quote_ident(co.collname) FROM pg_collation co "
	"  JOIN pg_namespace cn ON cn.oid = co.collnamespace WHERE co.oid = a.attcollation) ELSE '' END "
	"|| CASE WHEN a.attnotnull THEN ' not null' ELSE '' END "
	"|| CASE WHEN a.attgenerated = 's' THEN ' generated always as (' || pg_get_expr(d.adbin, d.adrelid) || ') stored' "
	"  WHEN d.adbin IS NOT NULL THEN ' default ' || pg_get_expr(d.adbin, 0) ELSE '' END "
	"|| CASE a.attidentity WHEN 'a' THEN ' identity always' WHEN 'd' THEN ' identity by default' ELSE '' END AS def "
	"FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
	"JOIN pg_type t ON t.oid = a.atttypid LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
	"WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND " USER_NSP("n.nspname")
	" AND " NOT_EXT("pg_class", "c.oid") ") x",

	/* table constraints; a foreign key whose enforcement triggers were
	 * disabled (ALTER TABLE ... DISABLE TRIGGER ALL) says so */
	"SELECT 'constraint', " QN("n", "c.relname") " || '.' || quote_ident(co.conname), pg_get_constraintdef(co.oid, true) "
	"|| coalesce('; internal triggers ' || it.states, '') "
	"|| CASE WHEN co.contype IN ('p', 'u', 'x') AND (SELECT ix.indisreplident FROM pg_index ix WHERE ix.indexrelid = co.conindid) "
	"  THEN '; replica identity' ELSE '' END "
	"FROM pg_constraint co JOIN pg_class c ON c.oid = co.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
	"LEFT JOIN (SELECT tg.tgconstraint, string_agg(DISTINCT CASE tg.tgenabled WHEN 'D' THEN 'disabled' "
	"  WHEN 'R' THEN 'enable replica' ELSE 'enable always' END, ', ') AS states FROM pg_trigger tg "
	"  WHERE tg.tgisinternal AND tg.tgenabled <> 'O' GROUP BY tg.tgconstraint) it ON it.tgconstraint = co.oid "
	"WHERE " USER_NSP("n.nspname") " AND " NOT_EXT("pg_class", "c.oid"),

	/* indexes; the index of a primary key, unique or exclusion constraint
	 * is described by its constraint's line (the same name, columns,
	 * method and options: what a dump recreates it from), which saves a
	 * pg_get_indexdef per table */
	"SELECT 'index', " QN("n", "ic.relname") ", pg_get_indexdef(i.indexrelid) "
	"|| CASE WHEN i.indisreplident THEN '; replica identity' ELSE '' END "
	"FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class c ON c.oid = i.indrelid "
	"JOIN pg_namespace n ON n.oid = ic.relnamespace WHERE " USER_NSP("n.nspname") " AND " NOT_EXT("pg_class", "c.oid")
	" AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid "
	"AND k.contype IN ('p', 'u', 'x'))",

	/* sequences (definition, not position: the state's `sequences` section holds that) */
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

	/* rules (not the _RETURN rule of a view), with their enabled state */
	"SELECT 'rule', " QN("n", "c.relname") " || '.' || quote_ident(r.rulename), "
	"rtrim(btrim(regexp_replace(pg_get_ruledef(r.oid, true), '\\s+', ' ', 'g')), ';') || " ENABLED("r.ev_enabled") " "
	"FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class JOIN pg_namespace n ON n.oid = c.relnamespace "
	"WHERE r.rulename <> '_RETURN' AND " USER_NSP("n.nspname") " AND " NOT_EXT("pg_class", "c.oid"),

	/* row-level security policies */
	"SELECT 'policy', " QN("n", "c.relname") " || '.' || quote_ident(p.polname), "
	"CASE WHEN p.polpermissive THEN 'permissive' ELSE 'restrictive' END || ' for ' "
	"|| CASE p.polcmd WHEN 'r' THEN 'select' WHEN 'a' THEN 'insert' WHEN 'w' THEN 'update' WHEN 'd' THEN 'delete' ELSE 'all' END "
	"|| ' to ' || (SELECT string_agg(x.r, ', ' ORDER BY x.r) FROM (SELECT CASE WHEN o = 0 THEN 'public' "
	"  ELSE quote_ident(pg_get_userbyid(o)) END AS r FROM unnest(p.polroles) AS o) x) "
	"|| coalesce(' using (' || pg_get_expr(p.polqual, p.polrelid) || ')', '') "
	"|| coalesce(' with check (' || pg_get_expr(p.polwithcheck, p.polrelid) || ')', '') "
	"FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
	"WHERE " USER_NSP("n.nspname") " AND " NOT_EXT("pg_class", "c.oid"),

	/* functions, procedures, aggregates */
	"SELECT CASE p.prokind WHEN 'a' THEN 'aggregate' WHEN 'p' THEN 'procedure' ELSE 'function' END, "
	QN("n", "p.proname") " || '(' || pg_get_function_identity_arguments(p.oid) || ')', "
	"CASE WHEN p.prokind = 'a' THEN 'returns ' || pg_get_function_result(p.oid) || coalesce((SELECT "
	"  ' sfunc ' || ag.aggtransfn::regprocedure::text || ' stype ' || format_type(ag.aggtranstype, NULL) "
	"  || coalesce(' initcond ' || quote_literal(ag.agginitval), '') "
	"  || CASE WHEN ag.aggfinalfn <> 0 THEN ' finalfunc ' || ag.aggfinalfn::regprocedure::text ELSE '' END "
	"  || CASE WHEN ag.aggcombinefn <> 0 THEN ' combinefunc ' || ag.aggcombinefn::regprocedure::text ELSE '' END "
	"  || CASE WHEN ag.aggsortop <> 0 THEN ' sortop ' || ag.aggsortop::regoperator::text ELSE '' END "
	"  || CASE ag.aggkind WHEN 'o' THEN ' ordered-set' WHEN 'h' THEN ' hypothetical' ELSE '' END "
	"  FROM pg_aggregate ag WHERE ag.aggfnoid = p.oid), '') "
	"ELSE coalesce('returns ' || pg_get_function_result(p.oid) || ' ', '') || 'language ' || quote_ident(l.lanname) "
	"|| CASE p.provolatile WHEN 'i' THEN ' immutable' WHEN 's' THEN ' stable' ELSE ' volatile' END "
	"|| CASE WHEN p.proisstrict THEN ' strict' ELSE '' END || CASE WHEN p.prosecdef THEN ' security definer' ELSE '' END "
	"|| ' body sha256:' || encode(sha256(convert_to(pg_get_functiondef(p.oid), 'UTF8')), 'hex') END "
	"FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang "
	"WHERE " USER_NSP("n.nspname") " AND " NOT_EXT("pg_proc", "p.oid"),

	/* operators */
	"SELECT 'operator', " QN("n", "o.oprname") " || '(' || CASE WHEN o.oprleft = 0 THEN 'none' "
	"ELSE format_type(o.oprleft, NULL) END || ', ' || CASE WHEN o.oprright = 0 THEN 'none' ELSE format_type(o.oprright, NULL) END || ')', "
	"'function ' || o.oprcode::regprocedure::text "
	"|| CASE WHEN o.oprcom <> 0 THEN ' commutator ' || o.oprcom::regoperator::text ELSE '' END "
	"|| CASE WHEN o.oprnegate <> 0 THEN ' negator ' || o.oprnegate::regoperator::text ELSE '' END "
	"|| CASE WHEN o.oprrest <> 0 THEN ' restrict ' || o.oprrest::regprocedure::text ELSE '' END "
	"|| CASE WHEN o.oprjoin <> 0 THEN ' join ' || o.oprjoin::regprocedure::text ELSE '' END "
	"|| CASE WHEN o.oprcanhash THEN ' hashes' ELSE '' END || CASE WHEN o.oprcanmerge THEN ' merges' ELSE '' END "
	"FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace WHERE " USER_NSP("n.nspname")
	" AND " NOT_EXT("pg_operator", "o.oid"),

	/* casts between user types (they belong to no schema) */
	"SELECT 'cast', '(' || format_type(c.castsource, NULL) || ' as ' || format_type(c.casttarget, NULL) || ')', "
	"CASE c.castmethod WHEN 'f' THEN 'with function ' || c.castfunc::regprocedure::text WHEN 'i' THEN 'with inout' "
	"ELSE 'without function' END || CASE c.castcontext WHEN 'a' THEN ' as assignment' WHEN 'i' THEN ' as implicit' ELSE '' END "
	"FROM pg_cast c WHERE c.oid >= 16384 AND " NOT_EXT("pg_cast", "c.oid") " AND ($1::text[] IS NULL OR true)",

	/* text search configurations and dictionaries (full-text columns and indexes use them) */
	"SELECT 'text search configuration', " QN("n", "cfg.cfgname") ", 'parser ' || (SELECT " QN("pn", "pr.prsname")
	" FROM pg_ts_parser pr JOIN pg_namespace pn ON pn.oid = pr.prsnamespace WHERE pr.oid = cfg.cfgparser) "
	"|| coalesce(' mapping ' || (SELECT string_agg(m.maptokentype || ':' || m.mapdict::regdictionary::text, ' ' "
	"  ORDER BY m.maptokentype, m.mapseqno) FROM pg_ts_config_map m WHERE m.mapcfg = cfg.oid), '') "
	"FROM pg_ts_config cfg JOIN pg_namespace n ON n.oid = cfg.cfgnamespace WHERE " USER_NSP("n.nspname")
	" AND " NOT_EXT("pg_ts_config", "cfg.oid"),
	"SELECT 'text search dictionary', " QN("n", "d.dictname") ", 'template ' || (SELECT " QN("tn", "tt.tmplname")
	" FROM pg_ts_template tt JOIN pg_namespace tn ON tn.oid = tt.tmplnamespace WHERE tt.oid = d.dicttemplate) "
	"|| coalesce(' options ' || d.dictinitoption, '') "
	"FROM pg_ts_dict d JOIN pg_namespace n ON n.oid = d.dictnamespace WHERE " USER_NSP("n.nspname")
	" AND " NOT_EXT("pg_ts_dict", "d.oid"),

	/* triggers (not the internal ones behind foreign keys), with their
	 * enabled state, which pg_get_triggerdef does not show */
	"SELECT 'trigger', " QN("n", "c.relname") " || '.' || quote_ident(t.tgname), pg_get_triggerdef(t.oid, true) || "
	ENABLED("t.tgenabled") " "
	"FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
	"WHERE NOT t.tgisinternal AND " USER_NSP("n.nspname") " AND " NOT_EXT("pg_class", "c.oid"),

	/* event triggers (database-wide, in no schema) */
	"SELECT 'event trigger', quote_ident(e.evtname), 'on ' || e.evtevent "
	"|| coalesce(' when tag in (' || (SELECT string_agg(quote_literal(g), ', ' ORDER BY g) FROM unnest(e.evttags) AS g) || ')', '') "
	"|| ' execute function ' || e.evtfoid::regprocedure::text || " ENABLED("e.evtenabled") " "
	"FROM pg_event_trigger e WHERE " NOT_EXT("pg_event_trigger", "e.oid") " AND ($1::text[] IS NULL OR true)",

	/* extended statistics objects */
	"SELECT 'statistics', " QN("n", "s.stxname") ", pg_get_statisticsobjdef(s.oid) "
	"|| CASE WHEN s.stxstattarget >= 0 THEN ' statistics target ' || s.stxstattarget ELSE '' END "
	"FROM pg_statistic_ext s JOIN pg_namespace n ON n.oid = s.stxnamespace WHERE " USER_NSP("n.nspname")
	" AND " NOT_EXT("pg_statistic_ext", "s.oid"),

	/* publications (logical replication) */
	"SELECT 'publication', quote_ident(p.pubname), CASE WHEN p.puballtables THEN 'all tables' ELSE 'tables ' "
	"|| coalesce((SELECT string_agg(x.t, ', ' ORDER BY x.t) FROM (SELECT quote_ident(pt.schemaname) || '.' || "
	"  quote_ident(pt.tablename) AS t FROM pg_publication_tables pt WHERE pt.pubname = p.pubname) x), '') END "
	"|| ' publish ' || concat_ws(', ', CASE WHEN p.pubinsert THEN 'insert' END, CASE WHEN p.pubupdate THEN 'update' END, "
	"  CASE WHEN p.pubdelete THEN 'delete' END, CASE WHEN (to_jsonb(p) ->> 'pubtruncate')::bool THEN 'truncate' END) "
	"|| CASE WHEN (to_jsonb(p) ->> 'pubviaroot')::bool THEN ' via root' ELSE '' END "
	"FROM pg_publication p WHERE " NOT_EXT("pg_publication", "p.oid") " AND ($1::text[] IS NULL OR true)",

	/* foreign-data wrappers and servers (user mappings, which hold
	 * credentials, are listed below by name only) */
	"SELECT 'foreign data wrapper', quote_ident(w.fdwname), "
	"'handler ' || CASE WHEN w.fdwhandler <> 0 THEN w.fdwhandler::regprocedure::text ELSE '-' END "
	"|| ' validator ' || CASE WHEN w.fdwvalidator <> 0 THEN w.fdwvalidator::regprocedure::text ELSE '-' END "
	"|| coalesce(' options (' || array_to_string(w.fdwoptions, ', ') || ')', '') "
	"FROM pg_foreign_data_wrapper w WHERE w.oid >= 16384 AND " NOT_EXT("pg_foreign_data_wrapper", "w.oid")
	" AND ($1::text[] IS NULL OR true)",
	"SELECT 'server', quote_ident(s.srvname), 'foreign data wrapper ' || quote_ident(w.fdwname) "
	"|| coalesce(' type ' || quote_literal(s.srvtype), '') || coalesce(' version ' || quote_literal(s.srvversion), '') "
	"|| coalesce(' options (' || array_to_string(s.srvoptions, ', ') || ')', '') "
	"FROM pg_foreign_server s JOIN pg_foreign_data_wrapper w ON w.oid = s.srvfdw "
	"WHERE " NOT_EXT("pg_foreign_server", "s.oid") " AND ($1::text[] IS NULL OR true)",

	/* every other kind of object a dump carries, by name only: operator
	 * classes and families, conversions, transforms, languages, access
	 * methods, user mappings, text search parsers and templates */
	"SELECT 'object', o.type || ' ' || o.identity, '' FROM (SELECT 'pg_opclass'::regclass AS cls, oid FROM pg_opclass "
	"UNION ALL SELECT 'pg_opfamily'::regclass, oid FROM pg_opfamily "
	"UNION ALL SELECT 'pg_conversion'::regclass, oid FROM pg_conversion "
	"UNION ALL SELECT 'pg_transform'::regclass, oid FROM pg_transform "
	"UNION ALL SELECT 'pg_language'::regclass, oid FROM pg_language "
	"UNION ALL SELECT 'pg_am'::regclass, oid FROM pg_am "
	"UNION ALL SELECT 'pg_user_mapping'::regclass, oid FROM pg_user_mapping "
	"UNION ALL SELECT 'pg_ts_parser'::regclass, oid FROM pg_ts_parser "
	"UNION ALL SELECT 'pg_ts_template'::regclass, oid FROM pg_ts_template) x "
	"CROSS JOIN LATERAL pg_identify_object(x.cls, x.oid, 0) o WHERE " IDENT_OK("x.cls", "x.oid", "o"),

	/* comments on every object that has one (pg_description; those on
	 * the database itself and on roles live in pg_shdescription and
	 * travel only with --create, like ALTER DATABASE settings) */
	"SELECT 'comment', o.type || ' ' || o.identity, d.description FROM pg_description d "
	"CROSS JOIN LATERAL pg_identify_object(d.classoid, d.objoid, d.objsubid) o "
	"WHERE " IDENT_OK("d.classoid", "d.objoid", "o"),
};

/* With `privileges`: owners and access privileges (GRANT/REVOKE, column
 * privileges, default privileges). Left out by default because a
 * throwaway restore runs with --no-owner --no-privileges. */
#define OWNED(cat, oidcol, owner) " UNION ALL SELECT '" cat "'::regclass, " oidcol ", " owner " FROM " cat
static const char *const privilege_queries[] = {
	"SELECT 'owner', o.type || ' ' || o.identity, quote_ident(pg_get_userbyid(x.owner)) FROM ("
	"SELECT 'pg_namespace'::regclass AS cls, oid, nspowner AS owner FROM pg_namespace"
	" UNION ALL SELECT 'pg_class'::regclass, oid, relowner FROM pg_class WHERE relkind IN ('r', 'p', 'v', 'm', 'f', 'S')"
	" UNION ALL SELECT 'pg_type'::regclass, t.oid, t.typowner FROM pg_type t WHERE t.typtype IN ('d', 'e', 'r') "
	"OR (t.typtype = 'b' AND t.typcategory <> 'A') OR (t.typtype = 'c' AND (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c')"
	OWNED("pg_proc", "oid", "proowner") OWNED("pg_collation", "oid", "collowner")
	OWNED("pg_conversion", "oid", "conowner") OWNED("pg_operator", "oid", "oprowner")
	OWNED("pg_opclass", "oid", "opcowner") OWNED("pg_opfamily", "oid", "opfowner")
	OWNED("pg_ts_config", "oid", "cfgowner") OWNED("pg_ts_dict", "oid", "dictowner")
	OWNED("pg_foreign_data_wrapper", "oid", "fdwowner") OWNED("pg_foreign_server", "oid", "srvowner")
	OWNED("pg_event_trigger", "oid", "evtowner") OWNED("pg_publication", "oid", "pubowner")
	OWNED("pg_statistic_ext", "oid", "stxowner") OWNED("pg_language", "oid", "lanowner")
	OWNED("pg_extension", "oid", "extowner") ") x "
	"CROSS JOIN LATERAL pg_identify_object(x.cls, x.oid, 0) o WHERE " IDENT_OK("x.cls", "x.oid", "o"),

	/* access privileges, written out in full (acldefault when none were
	 * granted or revoked), each item sorted */
	"SELECT 'privileges', o.type || ' ' || o.identity, coalesce((SELECT string_agg(i::text, ' ' ORDER BY i::text) "
	"FROM unnest(coalesce(x.acl, CASE WHEN x.sub = 0 THEN acldefault(x.t, x.owner) END)) AS i), '') FROM ("
	"SELECT 'pg_namespace'::regclass AS cls, oid, 0 AS sub, 'n'::\"char\" AS t, nspowner AS owner, nspacl AS acl FROM pg_namespace"
	" UNION ALL SELECT 'pg_class'::regclass, oid, 0, CASE relkind WHEN 'S' THEN 's' ELSE 'r' END::\"char\", relowner, relacl "
	"FROM pg_class WHERE relkind IN ('r', 'p', 'v', 'm', 'f', 'S')"
	" UNION ALL SELECT 'pg_class'::regclass, a.attrelid, a.attnum, 'c'::\"char\", 0, a.attacl FROM pg_attribute a "
	"WHERE a.attacl IS NOT NULL AND a.attnum > 0 AND NOT a.attisdropped"
	" UNION ALL SELECT 'pg_proc'::regclass, oid, 0, 'f'::\"char\", proowner, proacl FROM pg_proc"
	" UNION ALL SELECT 'pg_type'::regclass, oid, 0, 'T'::\"char\", typowner, typacl FROM pg_type "
	"WHERE typtype IN ('d', 'e', 'r') OR (typtype = 'b' AND typcategory <> 'A')"
	" UNION ALL SELECT 'pg_language'::regclass, oid, 0, 'l'::\"char\", lanowner, lanacl FROM pg_language"
	" UNION ALL SELECT 'pg_foreign_data_wrapper'::regclass, oid, 0, 'F'::\"char\", fdwowner, fdwacl FROM pg_foreign_data_wrapper"
	" UNION ALL SELECT 'pg_foreign_server'::regclass, oid, 0, 'S'::\"char\", srvowner, srvacl FROM pg_foreign_server) x "
	"CROSS JOIN LATERAL pg_identify_object(x.cls, x.oid, x.sub) o WHERE " IDENT_OK("x.cls", "x.oid", "o"),

	"SELECT 'default privileges', 'for role ' || quote_ident(pg_get_userbyid(d.defaclrole)) "
	"|| coalesce(' in schema ' || quote_ident(n.nspname), '') || ' on ' || CASE d.defaclobjtype WHEN 'r' THEN 'tables' "
	"WHEN 'S' THEN 'sequences' WHEN 'f' THEN 'functions' WHEN 'T' THEN 'types' ELSE 'schemas' END, "
	"coalesce((SELECT string_agg(i::text, ' ' ORDER BY i::text) FROM unnest(d.defaclacl) AS i), '') "
	"FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace "
	"WHERE n.oid IS NULL OR " USER_NSP("n.nspname"),
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

/* What a catalog query weighs when the worker pool orders its statements,
 * longest first, as if it read that many bytes of a table: the queries that
 * deparse an expression per object (pg_get_indexdef, pg_get_expr,
 * pg_get_constraintdef, pg_get_functiondef) take longest. */
static int64_t query_cost(const char *sql)
{
	static const char *const heavy[] = { "SELECT 'column'", "SELECT 'index'", "SELECT 'constraint'",
					     "SELECT CASE p.prokind" };
	for (size_t i = 0; i < ARRAY_SIZE(heavy); i++)
		if (!strncmp(sql, heavy[i], strlen(heavy[i])))
			return (int64_t)256 << 20;
	return (int64_t)64 << 20;
}

/* sql with every "$1" replaced by lit. New string. */
static char *bind1(const char *sql, const char *lit)
{
	struct strbuf sb = STRBUF_INIT;
	for (const char *p = sql; *p;) {
		const char *d = strstr(p, "$1");
		if (!d) {
			sb_adds(&sb, p);
			break;
		}
		sb_addf(&sb, "%.*s%s", (int)(d - p), p, lit);
		p = d + 2;
	}
	return sb_detach(&sb);
}

int pg_schema_units(struct act *a, PGconn *c, json_t *schemas, int privileges, size_t task, struct unit **u,
		    size_t *n, size_t *alloc)
{
	/* each statement runs with an empty search_path, so that every name
	 * comes out schema-qualified, then puts the transaction's back */
	PGresult *res = pg_exec(a, c, "reading the schema", "SELECT current_setting('search_path')");
	if (!res)
		return -1;
	char *saved = pg_literal(c, PQgetvalue(res, 0, 0));
	PQclear(res);
	char *arr = schemas && json_array_size(schemas) ? pg_text_array(schemas) : NULL;
	char *lit = arr ? pg_literal(c, arr) : xstrdup("NULL");
	free(arr);
	size_t nq = ARRAY_SIZE(queries) + (privileges ? ARRAY_SIZE(privilege_queries) : 0);
	for (size_t q = 0; q < nq; q++) {
		const char *sql = q < ARRAY_SIZE(queries) ? queries[q] : privilege_queries[q - ARRAY_SIZE(queries)];
		char *bound = bind1(sql, lit);
		if (*n == *alloc) {
			*alloc = *alloc ? *alloc * 2 : 16;
			*u = xrealloc(*u, *alloc * sizeof(**u));
		}
		struct unit *x = &(*u)[(*n)++];
		memset(x, 0, sizeof(*x));
		x->kind = U_ROWS;
		x->task = task;
		x->cost = query_cost(sql);
		x->sql = xasprintf("SET LOCAL search_path = ''; %s; SELECT set_config('search_path', %s, true)", bound, saved);
		free(bound);
	}
	free(lit);
	free(saved);
	return 0;
}

char *pg_schema_collect(const struct unit *u, size_t n, size_t task, int64_t *objects)
{
	*objects = 0;
	char **lines = NULL;
	size_t nl = 0, alloc = 0;
	for (size_t k = 0; k < n; k++) {
		if (u[k].task != task || u[k].kind != U_ROWS || !u[k].res)
			continue;
		PGresult *res = u[k].res;
		for (int i = 0; i < PQntuples(res); i++) {
			struct strbuf sb = STRBUF_INIT;
			add_escaped(&sb, PQgetvalue(res, i, 0));
			sb_addc(&sb, '\t');
			add_escaped(&sb, PQgetvalue(res, i, 1));
			sb_addc(&sb, '\t');
			add_escaped(&sb, PQgetvalue(res, i, 2));
			if (nl == alloc) {
				alloc = alloc ? alloc * 2 : 256;
				lines = xrealloc(lines, alloc * sizeof(*lines));
			}
			lines[nl++] = sb_detach(&sb);
		}
	}
	qsort(lines, nl, sizeof(*lines), cmp_str);
	struct strbuf out = STRBUF_INIT;
	sb_init(&out, (size_t)1 << 30);
	int64_t k = 0;
	for (size_t i = 0; i < nl; i++) {
		if (i && !strcmp(lines[i], lines[i - 1]))
			continue;
		if (k)
			sb_addc(&out, '\n');
		sb_adds(&out, lines[i]);
		k++;
	}
	for (size_t i = 0; i < nl; i++)
		free(lines[i]);
	free(lines);
	*objects = k;
	return sb_detach(&out);
}
