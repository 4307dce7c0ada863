/*
 * pg_actions.c: the pg.* actions (SPEC.md, 'PostgreSQL'): pg.query, pg.counts,
 * pg.schema, pg.freshness, pg.checksum, pg.capture, pg.whoami, pg.freeze
 * and pg.unfreeze, and their table pg_actions[].
 *
 * pg.counts, pg.freshness, pg.checksum and pg.capture are one routine,
 * capture(), asked for different sections of a state: it opens the read
 * snapshot, finds and locks the tables, turns the work into statements for
 * the worker pool (pg_checksum.c), and assembles the state (SPEC.md, 'The state format').
 */
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "family.h"
#include "pg_int.h"
#include "credential.h"
#include "text.h"

#define DEFAULT_RANGES 64

/* The step's `db` resource and the run's connection to it; NULL after
 * act_fail. */
static PGconn *db_conn(struct act *a, struct resource **r)
{
	*r = act_resource(a, "db");
	return *r ? pg_connect(a, *r) : NULL;
}

/* ---- capture: the state of a database ---- */

struct capspec {
	const char *name;
	int counts, counts_all;
	json_t *counts_list;
	int schema;
	int privileges;      /* the schema text includes owners and privileges */
	int sequences;       /* record sequence positions (pg.capture) */
	json_t *freshness; /* table -> column */
	int checksums, checksums_all;
	json_t *checksums_list;
	json_t *schemas;
	json_t *ranges_from; /* a state or a checksums map */
	int jobs, ranges;
	int record_missing;  /* pg.capture: a listed table that does not exist is recorded, not fatal */
	int for_proof;       /* a dump's proof: a materialized view's rows are its query's (what a restore's REFRESH makes); counts from checksums */
};

enum section { S_COUNT, S_FRESH, S_CHECK, S_SEQ, S_SCHEMA };

struct task {
	enum section sec;
	size_t idx;
};

struct fresh {
	struct pgtab t;
	char *column; /* as found in the catalog */
	int type;     /* 1184 timestamptz, 1114 timestamp, 1082 date */
};

static int add_unique(struct pgtab **arr, size_t *n, struct pgtab *t)
{
	if (pgt_find(*arr, *n, t->key) >= 0) {
		pgt_release(t);
		return 0;
	}
	pgt_push(arr, n, t);
	return 1;
}

static void note_missing(struct act *a, json_t *missing, const char *name, const char *dblabel)
{
	size_t i;
	json_t *m;
	json_array_foreach(missing, i, m) if (!strcmp(json_string_value(m), name)) return;
	json_array_append_new(missing, json_string(name));
	act_log(a, "warning: table '%s' does not exist in database %s; the state records it as missing", name, dblabel);
}

/* Interprets `all` / true / a list / a single name for counts and checksums. */
static int want_tables(struct act *a, const char *param, json_t *v, int *want, int *all, json_t **list)
{
	*want = 0;
	*all = 0;
	*list = NULL;
	if (!v || json_is_false(v) || json_is_null(v))
		return 0;
	*want = 1;
	if (json_is_true(v) || (json_is_string(v) && !strcmp(json_string_value(v), "all"))) {
		*all = 1;
		return 0;
	}
	if (json_is_string(v)) {
		*list = json_pack("[O]", v);
		return 0;
	}
	if (json_is_array(v)) {
		size_t i;
		json_t *e;
		json_array_foreach(v, i, e) if (!json_is_string(e)) return act_fail(a, "'%s' must list table names as text; item %zu is not text", param, i + 1), -1;
		if (!json_array_size(v))
			return act_fail(a, "'%s' is an empty list; name tables, or write 'all'", param), -1;
		*list = json_incref(v);
		return 0;
	}
	return act_fail(a, "'%s' must be 'all' or a list of tables", param), -1;
}

/* Resolves listed tables; with `missing` (pg.capture), tables that do not
 * exist are recorded there instead of failing the step. */
static int resolve_list(struct act *a, PGconn *c, const char *dblabel, json_t *list, const char *kinds,
			const char *what, struct pgtab **out, size_t *n, json_t *missing)
{
	size_t i;
	json_t *e;
	json_array_foreach(list, i, e)
	{
		struct pgtab t;
		int rc = pgt_resolve(a, c, dblabel, json_string_value(e), &t, missing != NULL);
		if (rc == 1) {
			note_missing(a, missing, json_string_value(e), dblabel);
			continue;
		}
		if (rc != 0)
			return -1;
		if (!strchr(kinds, t.relkind)) {
			const char *k = t.relkind == 'v' ? "a view" : t.relkind == 'm' ? "a materialized view" :
				       t.relkind == 'f' ? "a foreign table" : "not a table";
			act_fail(a, "%s is %s; %s works on tables", t.key, k, what);
			pgt_release(&t);
			return -1;
		}
		add_unique(out, n, &t);
	}
	return 0;
}

/* Finds the freshness column of a table and checks its type. */
static int fresh_column(struct act *a, PGconn *c, struct fresh *f, const char *col)
{
	char oid[32];
	snprintf(oid, sizeof(oid), "%lld", (long long)f->t.oid);
	for (int pass = 0; pass < 2; pass++) {
		char name[256];
		snprintf(name, sizeof(name), "%s", col);
		if (pass == 1) {
			int changed = 0;
			for (char *p = name; *p; p++)
				if (*p >= 'A' && *p <= 'Z') {
					*p = (char)(*p - 'A' + 'a');
					changed = 1;
				}
			if (!changed)
				break;
		}
		const char *vals[2] = { oid, name };
		PGresult *res = pg_execp(a, c, "reading the freshness column",
					 "SELECT a.attname, format_type(a.atttypid, a.atttypmod), "
					 "coalesce(NULLIF(t.typbasetype, 0), a.atttypid)::int8 FROM pg_attribute a "
					 "JOIN pg_type t ON t.oid = a.atttypid WHERE a.attrelid = $1::oid AND a.attname = $2 "
					 "AND a.attnum > 0 AND NOT a.attisdropped",
					 2, vals);
		if (!res)
			return -1;
		if (PQntuples(res) == 1) {
			int64_t ty = 0;
			parse_int64(PQgetvalue(res, 0, 2), &ty);
			if (ty != 1184 && ty != 1114 && ty != 1082) {
				act_fail(a, "freshness column %s.%s is of type %s, not a timestamp; name a timestamptz, timestamp or date column",
					 f->t.key, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
				PQclear(res);
				return -1;
			}
			f->column = xstrdup(PQgetvalue(res, 0, 0));
			f->type = (int)ty;
			PQclear(res);
			return 0;
		}
		PQclear(res);
	}
	return act_fail(a, "column '%s' does not exist in table %s; check the freshness column's name", col, f->t.key), -1;
}

static void push_unit(struct unit **u, size_t *n, size_t *alloc, const struct unit *x)
{
	if (*n == *alloc) {
		*alloc = *alloc ? *alloc * 2 : 16;
		*u = xrealloc(*u, *alloc * sizeof(**u));
	}
	(*u)[(*n)++] = *x;
}

static int cmp_unit_cost(const void *x, const void *y)
{
	const struct unit *a = x, *b = y;
	int64_t ca = a->cost > a->bytes ? a->cost : a->bytes, cb = b->cost > b->bytes ? b->cost : b->bytes;
	if (ca != cb)
		return ca > cb ? -1 : 1;
	return a->task < b->task ? -1 : a->task > b->task;
}

static const char *section_verb(enum section s)
{
	return s == S_COUNT ? "counting rows of" : s == S_FRESH ? "reading the freshness of" : "checksumming";
}

/* The failure of a unit as a step error naming the table and the cause. */
static void unit_failure(struct act *a, const struct pgsnap *s, const struct unit *u, const char *table,
			 enum section sec)
{
	const char *e = u->error ? u->error : "unknown error";
	if (u->lost)
		act_fail(a, "%s table %s failed: the connection to %s was lost (%s); the server may have crashed or restarted; nothing was captured",
			 section_verb(sec), table, s->server, e);
	else if (strstr(e, "statement timeout"))
		act_fail(a, "%s table %s failed: %s; the statement ran longer than statement_timeout (the resource's or the server's): raise it, or give the step more time",
			 section_verb(sec), table, e);
	else if (strstr(e, "permission denied"))
		act_fail(a, "%s table %s failed: %s; grant role %s SELECT on it", section_verb(sec), table, e, s->user);
	else if (strstr(e, "row-level security"))
		act_fail(a, "%s table %s failed: %s; row-level security would hide rows from role %s, so nothing was read: read as a role that bypasses it (BYPASSRLS or a superuser)",
			 section_verb(sec), table, e, s->user);
	else
		act_fail(a, "%s table %s failed: %s", section_verb(sec), table, e);
}

static json_t *reuse_entry(json_t *ranges_from, const char *key)
{
	if (!json_is_object(ranges_from))
		return NULL;
	json_t *ck = json_object_get(ranges_from, "checksums");
	if (!json_is_object(ck))
		ck = ranges_from;
	return json_object_get(ck, key);
}

struct relsize {
	int64_t oid, bytes;
};

static int cmp_relsize(const void *x, const void *y)
{
	const struct relsize *a = x, *b = y;
	return a->oid < b->oid ? -1 : a->oid > b->oid;
}

/* The sum of the sizes of distinct relations, the largest figure of each
 * (sorts rs). */
static int64_t distinct_bytes(struct relsize *rs, size_t n)
{
	qsort(rs, n, sizeof(*rs), cmp_relsize);
	int64_t sum = 0, best = 0;
	for (size_t i = 0; i < n; i++) {
		if (i && rs[i].oid != rs[i - 1].oid) {
			sum += best;
			best = 0;
		}
		if (rs[i].bytes > best)
			best = rs[i].bytes;
	}
	return sum + best;
}

/* One capture, phase by phase: what it reads and what it found. */
struct cap {
	struct act *a;
	struct resource *r;
	const struct capspec *cs;
	struct pgsnap s;
	int64_t t0;
	char *dblabel;         /* "'db' (resource 'name')", for messages */
	json_t *missing;       /* listed tables that do not exist (record_missing) */
	struct pgtab *ct, *kt; /* the tables counted, checksummed */
	size_t nct, nkt, nft;
	struct fresh *ft;      /* the freshness columns */
	struct ckplan *plans;  /* one per checksummed table */
	struct pgseq *sq;      /* the sequences and the columns they feed */
	struct pgseqfeed *sf;
	size_t nsq, nsf;
	struct unit *u;        /* the statements, read by the pool */
	size_t nu, au;
	struct task *tasks;    /* what each statement's result is for */
	size_t ntasks;
	size_t schema_task, seq_task;
	json_t *mvdefs;        /* for_proof: oid (text) -> the view's query */
};

/* A new task of section sec (index idx in its table list); its number. */
static size_t cap_task(struct cap *c, enum section sec, size_t idx)
{
	c->tasks = xrealloc(c->tasks, (c->ntasks + 1) * sizeof(*c->tasks));
	c->tasks[c->ntasks].sec = sec;
	c->tasks[c->ntasks].idx = idx;
	return c->ntasks++;
}

/* The tables counted: all of them, or those listed with their partitions. */
static int cap_count_tables(struct cap *c)
{
	const struct capspec *cs = c->cs;
	if (cs->counts_all)
		return pgt_list(c->a, c->s.c, cs->schemas, "rpm", 1, &c->ct, &c->nct);
	if (resolve_list(c->a, c->s.c, c->dblabel, cs->counts_list, "rpmf", "pg.counts", &c->ct, &c->nct, c->missing) != 0)
		return -1;
	size_t base = c->nct;
	for (size_t i = 0; i < base; i++) {
		if (c->ct[i].relkind != 'p')
			continue;
		struct pgtab *parts = NULL;
		size_t np = 0;
		if (pgt_partitions(c->a, c->s.c, &c->ct[i], &parts, &np) != 0)
			return -1;
		for (size_t k = 0; k < np; k++)
			add_unique(&c->ct, &c->nct, &parts[k]);
		free(parts);
	}
	return 0;
}

/* The freshness columns, table: column. */
static int cap_fresh_tables(struct cap *c)
{
	const char *tname;
	json_t *col;
	c->ft = xcalloc(json_object_size(c->cs->freshness) + 1, sizeof(*c->ft));
	json_object_foreach(c->cs->freshness, tname, col)
	{
		if (!json_is_string(col))
			return act_fail(c->a, "freshness of '%s' must name a timestamp column (table: column)", tname), -1;
		struct fresh *f = &c->ft[c->nft];
		int rc = pgt_resolve(c->a, c->s.c, c->dblabel, tname, &f->t, c->missing != NULL);
		if (rc == 1) {
			note_missing(c->a, c->missing, tname, c->dblabel);
			continue;
		}
		if (rc != 0)
			return -1;
		c->nft++;
		if (fresh_column(c->a, c->s.c, f, json_string_value(col)) != 0)
			return -1;
	}
	return 0;
}

/* Which tables, columns and sequences are read. */
static int cap_tables(struct cap *c)
{
	const struct capspec *cs = c->cs;
	if (cs->counts && cap_count_tables(c) != 0)
		return -1;
	if (cs->freshness && cap_fresh_tables(c) != 0)
		return -1;
	if (cs->checksums) {
		int rc = cs->checksums_all ? pgt_list(c->a, c->s.c, cs->schemas, "rpm", 0, &c->kt, &c->nkt)
					   : resolve_list(c->a, c->s.c, c->dblabel, cs->checksums_list, "rpmf", "pg.checksum",
							  &c->kt, &c->nkt, c->missing);
		if (rc != 0)
			return -1;
	}
	if (cs->sequences && pgseq_list(c->a, &c->s, cs->schemas, &c->sq, &c->nsq, &c->sf, &c->nsf) != 0)
		return -1;
	return 0;
}

/* Locks what will be read, then reads the schema in the same snapshot (one
 * catalog query per unit, in parallel with the rest). */
static int cap_lock(struct cap *c)
{
	size_t nl = c->nct + c->nft + c->nkt + c->nsf;
	struct pgtab **lk = xcalloc(nl + 1, sizeof(*lk));
	size_t k = 0;
	for (size_t i = 0; i < c->nct; i++)
		lk[k++] = &c->ct[i];
	for (size_t i = 0; i < c->nft; i++)
		lk[k++] = &c->ft[i].t;
	for (size_t i = 0; i < c->nkt; i++)
		lk[k++] = &c->kt[i];
	for (size_t i = 0; i < c->nsf; i++)
		lk[k++] = &c->sf[i].t;
	int rc = pgsnap_lock(c->a, &c->s, lk, k);
	free(lk);
	if (rc != 0 || !c->cs->schema)
		return rc;
	c->schema_task = cap_task(c, S_SCHEMA, 0);
	return pg_schema_units(c->a, c->s.c, c->cs->schemas, c->cs->privileges, c->schema_task, &c->u, &c->nu, &c->au);
}

/* for_proof: the defining queries of the populated materialized views
 * read, in the snapshot (pg_get_viewdef, without its ';'). 0 or -1 after
 * act_fail. */
static int cap_mv_defs(struct cap *c)
{
	if (!c->cs->for_proof)
		return 0;
	c->mvdefs = json_object();
	PGresult *res = pg_exec(c->a, c->s.c, "reading the materialized views' queries",
				"SELECT c.oid::text, pg_get_viewdef(c.oid) FROM pg_class c WHERE c.relkind = 'm' AND c.relispopulated");
	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		char *d = xstrdup(PQgetvalue(res, i, 1));
		size_t l = strlen(d);
		while (l && (d[l - 1] == ';' || d[l - 1] == ' ' || d[l - 1] == '\n'))
			d[--l] = '\0';
		json_object_set_new(c->mvdefs, PQgetvalue(res, i, 0), json_string(d));
		free(d);
	}
	PQclear(res);
	return 0;
}

/* The query whose rows stand for materialized view t in a proof, or NULL
 * (t is read as it is). */
static const char *mv_query(const struct cap *c, const struct pgtab *t)
{
	if (!c->mvdefs || t->relkind != 'm' || t->unpopulated)
		return NULL;
	char oid[24];
	snprintf(oid, sizeof(oid), "%lld", (long long)t->oid);
	return json_string_value(json_object_get(c->mvdefs, oid));
}

/* A proof reads every table whole for its checksum: a table counted and
 * checksummed (not a partitioned table or a partition: those are counted
 * leaf by leaf, and the parent is the sum) takes
 * its count from the rows hashed instead of a second read. The S_CHECK task
 * of ct[i] then, else -1. */
static long count_from_checksum(const struct cap *c, size_t i)
{
	if (!c->cs->for_proof || c->ct[i].parent_key || c->ct[i].relkind == 'p')
		return -1;
	for (size_t t = 0; t < c->ntasks; t++)
		if (c->tasks[t].sec == S_CHECK && !strcmp(c->kt[c->tasks[t].idx].key, c->ct[i].key))
			return (long)t;
	return -1;
}

/* One count(*) per counted table, after the sizes of all, in one query:
 * the server may answer a count with a parallel (index-only) scan, faster
 * than block ranges. */
static int cap_count_units(struct cap *c)
{
	struct strbuf ids = STRBUF_INIT;
	sb_addc(&ids, '{');
	for (size_t i = 0; i < c->nct; i++)
		sb_addf(&ids, "%s%lld", i ? "," : "", (long long)c->ct[i].oid);
	sb_addc(&ids, '}');
	const char *vals[1] = { sb_str(&ids) };
	PGresult *res = pg_execp(c->a, c->s.c, "reading table sizes",
				 "SELECT o::int8, pg_relation_size(o) FROM unnest($1::oid[]) AS o", 1, vals);
	sb_release(&ids);
	if (!res)
		return -1;
	for (size_t i = 0; i < c->nct; i++) {
		int64_t bytes = 0;
		for (int k = 0; k < PQntuples(res); k++) {
			int64_t o = 0;
			parse_int64(PQgetvalue(res, k, 0), &o);
			if (o == c->ct[i].oid)
				parse_int64(PQgetvalue(res, k, 1), &bytes);
		}
		size_t task = cap_task(c, S_COUNT, i);
		if (c->ct[i].relkind != 'p' && !c->ct[i].unpopulated && count_from_checksum(c, i) < 0) {
			struct unit x;
			memset(&x, 0, sizeof(x));
			x.kind = U_SCALAR;
			x.task = task;
			const char *def = mv_query(c, &c->ct[i]);
			x.sql = def ? xasprintf("SELECT count(*) FROM (%s) AS mv", def)
				    : xasprintf("SELECT count(*) FROM ONLY %s", c->ct[i].qname);
			x.bytes = bytes;
			push_unit(&c->u, &c->nu, &c->au, &x);
		}
	}
	PQclear(res);
	return 0;
}

/* The newest value of each freshness column and its age. */
static void cap_fresh_units(struct cap *c)
{
	for (size_t i = 0; i < c->nft; i++) {
		struct fresh *f = &c->ft[i];
		char *q = pg_ident(c->s.c, f->column);
		const char *fmt = "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'";
		struct unit x;
		memset(&x, 0, sizeof(x));
		x.kind = U_SCALAR;
		x.task = cap_task(c, S_FRESH, i);
		if (f->type == 1184)
			x.sql = xasprintf("SELECT to_char(m AT TIME ZONE 'UTC', %s), extract(epoch FROM now() - m) "
					  "FROM (SELECT max(%s) AS m FROM %s) AS x", fmt, q, f->t.qname);
		else
			x.sql = xasprintf("SELECT to_char(m, %s), extract(epoch FROM (now() AT TIME ZONE 'UTC') - m) "
					  "FROM (SELECT max(%s)::timestamp AS m FROM %s) AS x", fmt, q, f->t.qname);
		free(q);
		push_unit(&c->u, &c->nu, &c->au, &x);
	}
}

/* The key ranges of each checksummed table, and their statements. */
static int cap_checksum_units(struct cap *c)
{
	c->plans = xcalloc(c->nkt + 1, sizeof(*c->plans));
	for (size_t i = 0; i < c->nkt; i++) {
		size_t task = cap_task(c, S_CHECK, i);
		if (c->kt[i].unpopulated) /* nothing to read: the state says so */
			continue;
		if (pgt_details(c->a, c->s.c, &c->kt[i]) != 0)
			return -1;
		if (ckplan_make(c->a, &c->s, &c->kt[i], reuse_entry(c->cs->ranges_from, c->kt[i].key), c->cs->ranges,
				&c->plans[i]) != 0)
			return -1;
		const char *def = mv_query(c, &c->kt[i]);
		if (def) {
			struct unit x = { .kind = U_HASH, .task = task, .keycol = -1,
					  .bytes = c->kt[i].nleaves ? c->kt[i].leaves[0].bytes : 0 };
			x.cost = x.bytes;
			x.sql = xasprintf("COPY (SELECT %s FROM (%s) AS mv(%s)) TO STDOUT", c->kt[i].collist, def,
					  c->kt[i].collist);
			push_unit(&c->u, &c->nu, &c->au, &x);
			continue;
		}
		ckplan_units(&c->s, &c->kt[i], &c->plans[i], task, c->cs->jobs, &c->u, &c->nu, &c->au);
	}
	return 0;
}

/* The statements of every section. */
static int cap_statements(struct cap *c)
{
	if (cap_mv_defs(c) != 0)
		return -1;
	/* a proof's counts come from its checksums where it can: those first */
	if (c->cs->for_proof && c->nkt && cap_checksum_units(c) != 0)
		return -1;
	if (c->nct && cap_count_units(c) != 0)
		return -1;
	cap_fresh_units(c);
	if (!c->cs->for_proof && c->nkt && cap_checksum_units(c) != 0)
		return -1;
	if (c->cs->sequences) {
		c->seq_task = cap_task(c, S_SEQ, 0);
		pgseq_units(c->sq, c->nsq, c->sf, c->nsf, c->seq_task, &c->u, &c->nu, &c->au);
	}
	return 0;
}

/* Orders the statements for the pool: a relation both counted and
 * checksummed is read in full once, so its count does not add to the bytes
 * progress measures; the longest go first. */
static void cap_order(struct cap *c)
{
	for (size_t i = 0; i < c->nu; i++) {
		if (c->tasks[c->u[i].task].sec != S_COUNT)
			continue;
		int64_t oid = c->ct[c->tasks[c->u[i].task].idx].oid;
		for (size_t k = 0; k < c->nkt && c->u[i].bytes; k++)
			for (size_t l = 0; l < c->kt[k].nleaves; l++)
				if (c->kt[k].leaves[l].oid == oid)
					c->u[i].bytes = 0;
	}
	if (c->nu)
		qsort(c->u, c->nu, sizeof(*c->u), cmp_unit_cost);
}

static const char *cap_phase(const struct cap *c)
{
	return c->nkt ? "checksum" : c->nct ? "count" : "read";
}

/* After the pool ran (rc as pool_run's): a failure names its table or
 * section. 0, or -1 after act_fail. */
static int cap_result(struct cap *c, int rc, size_t failed)
{
	if (rc <= 0)
		return rc;
	const struct unit *f = &c->u[failed];
	const struct task *tk = &c->tasks[f->task];
	if (tk->sec == S_SCHEMA || tk->sec == S_SEQ) {
		act_fail(c->a, "%s of database %s failed: %s%s",
			 tk->sec == S_SEQ ? "reading the sequences (positions, the columns they feed)" : "reading the schema",
			 c->s.database, f->error ? f->error : "unknown error",
			 f->lost ? "; the connection was lost: the server may have crashed or restarted; nothing was captured" : "");
		return -1;
	}
	const char *key = tk->sec == S_COUNT   ? c->ct[tk->idx].key
			  : tk->sec == S_FRESH ? c->ft[tk->idx].t.key
					       : c->kt[tk->idx].key;
	unit_failure(c->a, &c->s, f, key, tk->sec);
	return -1;
}

/* Runs the statements on the pool; a failure names its table or section. */
static int cap_read(struct cap *c)
{
	cap_order(c);
	size_t failed = 0;
	int rc = pool_run(c->a, &c->s, c->u, c->nu, c->cs->jobs, cap_phase(c), &failed);
	return cap_result(c, rc, failed);
}

/* The counts section: rows per table, a partitioned table's being its
 * partitions' (each leaf added to every ancestor that is counted too). */
static void cap_counts(struct cap *c, json_t *state)
{
	int64_t *cnt = xcalloc(c->nct + 1, sizeof(*cnt));
	long *from = xcalloc(c->nct + 1, sizeof(*from));
	for (size_t i = 0; i < c->nct; i++)
		from[i] = count_from_checksum(c, i);
	for (size_t i = 0; i < c->nu; i++) {
		const struct task *tk = &c->tasks[c->u[i].task];
		if (tk->sec == S_CHECK && c->u[i].acc) {
			for (size_t k = 0; k < c->nct; k++)
				if (from[k] == (long)c->u[i].task)
					for (int b = 0; b < (c->u[i].nb > 0 ? c->u[i].nb : 1); b++)
						cnt[k] += c->u[i].acc[b].rows;
			continue;
		}
		if (tk->sec != S_COUNT)
			continue;
		int64_t v = 0;
		parse_int64(c->u[i].v1 ? c->u[i].v1 : "0", &v);
		cnt[tk->idx] += v;
	}
	free(from);
	for (size_t i = 0; i < c->nct; i++) {
		if (c->ct[i].relkind == 'p')
			continue;
		const char *pk = c->ct[i].parent_key;
		for (int depth = 0; pk && depth < 64; depth++) {
			long p = pgt_find(c->ct, c->nct, pk);
			if (p < 0)
				break;
			cnt[p] += cnt[i];
			pk = c->ct[p].parent_key;
		}
	}
	json_t *counts = json_object();
	json_t *parts = json_object();
	for (size_t i = 0; i < c->nct; i++) {
		/* an unpopulated materialized view has no rows to count */
		json_object_set_new(counts, c->ct[i].key, c->ct[i].unpopulated ? json_null() : json_integer(cnt[i]));
		if (c->ct[i].parent_key)
			json_object_set_new(parts, c->ct[i].key, json_string(c->ct[i].parent_key));
	}
	free(cnt);
	json_object_set_new(state, "counts", counts);
	json_object_set_new(state, "partitions", parts);
}

/* The schema section: the canonical text, its SHA-256 and object count. */
static void cap_schema(struct cap *c, json_t *state)
{
	int64_t objects = 0;
	char *text = pg_schema_collect(c->u, c->nu, c->schema_task, &objects);
	char hex[65];
	sha256_hex(text, strlen(text), hex);
	json_t *sc = json_object();
	json_object_set_new(sc, "sha256", json_string(hex));
	json_object_set_new(sc, "objects", json_integer(objects));
	json_object_set_new(sc, "text", json_text(text));
	json_object_set_new(state, "schema", sc);
	free(text);
}

static void cap_freshness(struct cap *c, json_t *state)
{
	json_t *fr = json_object();
	for (size_t i = 0; i < c->nu; i++) {
		const struct task *tk = &c->tasks[c->u[i].task];
		if (tk->sec != S_FRESH)
			continue;
		struct fresh *f = &c->ft[tk->idx];
		json_t *e = json_object();
		json_object_set_new(e, "column", json_string(f->column));
		json_object_set_new(e, "newest", c->u[i].v1 ? json_string(c->u[i].v1) : json_null());
		json_object_set_new(e, "age_s", c->u[i].v2 ? json_real(strtod(c->u[i].v2, NULL)) : json_null());
		json_object_set_new(fr, f->t.key, e);
	}
	json_object_set_new(state, "freshness", fr);
}

static void cap_checksums(struct cap *c, json_t *state)
{
	json_t *ck = json_object();
	for (size_t t = 0; t < c->ntasks; t++) {
		if (c->tasks[t].sec != S_CHECK)
			continue;
		const struct pgtab *tb = &c->kt[c->tasks[t].idx];
		json_t *e = tb->unpopulated ? json_pack("{s:n,s:n,s:[],s:b}", "rows", "sha256", "key", "populated", 0)
					    : ckplan_entry(tb, &c->plans[c->tasks[t].idx], c->u, c->nu, t);
		json_object_set_new(ck, tb->key, e);
	}
	json_object_set_new(state, "checksums", ck);
}

/* The state (SPEC.md, 'The state format') from what was read. */
static json_t *cap_state(struct cap *c)
{
	const struct capspec *cs = c->cs;
	json_t *state = json_object();
	json_object_set_new(state, "drplay_state", json_integer(1));
	json_object_set_new(state, "name", json_string(cs->name ? cs->name : act_step_id(c->a)));
	json_object_set_new(state, "resource", json_string(c->r->name));
	json_object_set_new(state, "database", json_string(c->s.database));
	json_object_set_new(state, "server", json_string(c->s.server));
	json_object_set_new(state, "server_version", json_string(c->s.server_version));
	json_object_set_new(state, "captured_at", json_string(c->s.captured_at));
	if (json_array_size(c->missing))
		json_object_set(state, "missing", c->missing);
	if (cs->counts)
		cap_counts(c, state);
	if (cs->schema)
		cap_schema(c, state);
	if (cs->freshness)
		cap_freshness(c, state);
	if (cs->sequences) {
		pgseq_collect(c->sq, c->nsq, c->sf, c->nsf, c->u, c->nu, c->seq_task);
		json_object_set_new(state, "sequences", pgseq_section(c->a, c->sq, c->nsq, c->sf, c->nsf));
	}
	if (cs->checksums)
		cap_checksums(c, state);
	return state;
}

/* The journal's pg_read event and the log line: each relation's heap once,
 * whichever sections read it (the figure pg.counts, pg.checksum and
 * pg.capture report alike). */
static void cap_journal(struct cap *c)
{
	struct relsize *rs = xcalloc(c->nu + 1, sizeof(*rs));
	size_t nrs = 0;
	for (size_t i = 0; i < c->nu; i++)
		if (c->tasks[c->u[i].task].sec == S_COUNT)
			rs[nrs++] = (struct relsize){ c->ct[c->tasks[c->u[i].task].idx].oid, c->u[i].bytes };
	for (size_t i = 0; i < c->nkt; i++)
		for (size_t l = 0; l < c->kt[i].nleaves; l++) {
			rs = xrealloc(rs, (nrs + 1) * sizeof(*rs));
			rs[nrs++] = (struct relsize){ c->kt[i].leaves[l].oid, c->kt[i].leaves[l].bytes };
		}
	int64_t bytes = distinct_bytes(rs, nrs);
	free(rs);
	double secs = (double)(mono_us() - c->t0) / 1e6;
	json_t *ev = json_object();
	json_object_set_new(ev, "database", json_string(c->s.database));
	json_object_set_new(ev, "captured_at", json_string(c->s.captured_at));
	json_object_set_new(ev, "counted", json_integer((json_int_t)c->nct));
	json_object_set_new(ev, "checksummed", json_integer((json_int_t)c->nkt));
	json_object_set_new(ev, "freshness", json_integer((json_int_t)c->nft));
	json_object_set_new(ev, "schema", json_boolean(c->cs->schema));
	json_object_set_new(ev, "sequences", json_integer((json_int_t)c->nsq));
	json_object_set_new(ev, "statements", json_integer((json_int_t)c->nu));
	json_object_set_new(ev, "heap_bytes", json_integer(bytes));
	json_object_set_new(ev, "seconds", json_real(secs));
	act_journal(c->a, "pg_read", ev);
	act_log(c->a, "read database %s at %s: %zu counted, %zu checksummed, %zu freshness, %zu sequences, schema %s (%.2f MiB of table heap, %zu statements, %.2fs)",
		c->s.database, c->s.captured_at, c->nct, c->nkt, c->nft, c->nsq, c->cs->schema ? "yes" : "no",
		(double)bytes / 1048576.0, c->nu, secs);
}

static void cap_release(struct cap *c)
{
	pgsnap_end(&c->s);
	for (size_t i = 0; i < c->nu; i++)
		unit_release(&c->u[i]);
	free(c->u);
	free(c->tasks);
	for (size_t i = 0; i < c->nkt && c->plans; i++)
		ckplan_release(&c->plans[i]);
	free(c->plans);
	pgt_free_all(c->ct, c->nct);
	pgt_free_all(c->kt, c->nkt);
	for (size_t i = 0; c->ft && i < json_object_size(c->cs->freshness); i++) {
		pgt_release(&c->ft[i].t);
		free(c->ft[i].column);
	}
	free(c->ft);
	free(c->dblabel);
	pgseq_free(c->sq, c->nsq);
	pgseq_feeds_free(c->sf, c->nsf);
	json_decref(c->missing);
	json_decref(c->mvdefs);
}

/* Captures the sections asked for into a new state; NULL after act_fail. */
static json_t *capture(struct act *a, struct resource *r, const struct capspec *cs)
{
	struct cap c = { .a = a, .r = r, .cs = cs };
	if (pgsnap_begin(a, r, &c.s) != 0)
		return NULL;
	c.t0 = mono_us();
	c.dblabel = xasprintf("'%s' (resource '%s')", c.s.database, r->name);
	c.missing = cs->record_missing ? json_array() : NULL;
	json_t *state = NULL;
	if (cap_tables(&c) == 0 && cap_lock(&c) == 0 && cap_statements(&c) == 0 && cap_read(&c) == 0) {
		state = cap_state(&c);
		cap_journal(&c);
	}
	cap_release(&c);
	return state;
}

/* ---- the proof of a dump (dump.create) ---- */

struct pgproof {
	struct capspec cs;
	struct cap c;
	struct poolrun *pool;
};

int pg_proof_start(struct act *a, struct resource *r, const char *snapshot, const char *taken_at, int jobs,
		   struct pgproof **out)
{
	struct pgproof *p = xcalloc(1, sizeof(*p));
	*out = NULL;
	p->cs = (struct capspec){ .name = "proof", .counts = 1, .counts_all = 1, .schema = 1, .sequences = 1,
				  .checksums = 1, .checksums_all = 1, .for_proof = 1, .jobs = jobs > 0 ? jobs : pool_default_jobs(),
				  .ranges = DEFAULT_RANGES };
	p->c = (struct cap){ .a = a, .r = r, .cs = &p->cs };
	struct cap *c = &p->c;
	int rc = pgsnap_import(a, r, snapshot, &c->s);
	if (rc == 0) {
		snprintf(c->s.captured_at, sizeof(c->s.captured_at), "%s", taken_at);
		c->t0 = mono_us();
		c->dblabel = xasprintf("'%s' (resource '%s')", c->s.database, r->name);
		rc = cap_tables(c) == 0 && cap_lock(c) == 0 && cap_statements(c) == 0 ? 0 : -1;
	}
	if (rc == 0) {
		cap_order(c);
		rc = pool_start(a, &c->s, c->u, c->nu, p->cs.jobs, &p->pool);
	}
	if (rc != 0) {
		cap_release(c);
		free(p);
		return -1;
	}
	*out = p;
	return 0;
}

json_t *pg_proof_finish(struct act *a, struct pgproof *p)
{
	struct cap *c = &p->c;
	size_t failed = 0;
	int rc = pool_finish(a, p->pool, "proof", &failed);
	json_t *state = NULL;
	if (cap_result(c, rc, failed) == 0) {
		state = cap_state(c);
		cap_journal(c);
	}
	cap_release(c);
	free(p);
	return state;
}

void pg_proof_abort(struct pgproof *p)
{
	if (!p)
		return;
	pool_abort(p->pool);
	cap_release(&p->c);
	free(p);
}

static int spec_common(struct act *a, struct capspec *cs)
{
	memset(cs, 0, sizeof(*cs));
	cs->schemas = act_json(a, "schemas");
	if (cs->schemas && !json_is_array(cs->schemas))
		return act_fail(a, "'schemas' must be a list of schema names");
	int64_t jobs = act_int(a, "jobs", 0);
	cs->jobs = jobs > 0 ? (int)(jobs > 64 ? 64 : jobs) : pool_default_jobs();
	int64_t ranges = act_int(a, "ranges", DEFAULT_RANGES);
	if (ranges != 0 && (ranges < 4 || ranges > 1024))
		return act_fail(a, "'ranges' is %lld; give 0 (whole tables only) or 4 to 1024", (long long)ranges);
	cs->ranges = (int)ranges;
	cs->ranges_from = act_json(a, "ranges_from");
	return ACT_OK;
}

static void spec_release(struct capspec *cs)
{
	json_decref(cs->counts_list);
	json_decref(cs->checksums_list);
}

/* pg.counts and pg.checksum: one section (S_COUNT or S_CHECK) of the tables
 * named by `tables` (default all) of `db`, as a state; NULL after act_fail. */
static json_t *capture_tables(struct act *a, enum section sec)
{
	struct capspec cs;
	if (spec_common(a, &cs) != ACT_OK)
		return NULL;
	json_t *tv = act_json(a, "tables");
	json_t *all = json_string("all");
	int rc = sec == S_COUNT
			 ? want_tables(a, "tables", tv ? tv : all, &cs.counts, &cs.counts_all, &cs.counts_list)
			 : want_tables(a, "tables", tv ? tv : all, &cs.checksums, &cs.checksums_all, &cs.checksums_list);
	json_decref(all);
	struct resource *r = rc == 0 ? act_resource(a, "db") : NULL;
	json_t *st = r ? capture(a, r, &cs) : NULL;
	spec_release(&cs);
	return st;
}

/* ---- pg.counts ---- */

static int do_counts(struct act *a)
{
	json_t *st = capture_tables(a, S_COUNT);
	if (!st)
		return ACT_FAIL;
	json_t *counts = json_object_get(st, "counts");
	int64_t total = 0;
	const char *k;
	json_t *v;
	json_t *parts = json_object_get(st, "partitions");
	json_object_foreach(counts, k, v) if (!json_object_get(parts, k)) total += json_integer_value(v);
	act_out(a, "counts", json_incref(counts));
	act_out(a, "partitions", json_incref(parts));
	act_out_int(a, "total", total);
	act_out_int(a, "tables", (int64_t)json_object_size(counts));
	act_out(a, "state", st);
	return ACT_OK;
}

/* ---- pg.schema ---- */

static int do_schema(struct act *a)
{
	struct capspec cs;
	if (spec_common(a, &cs) != ACT_OK)
		return ACT_FAIL;
	cs.schema = 1;
	cs.privileges = act_bool(a, "privileges", 0);
	struct resource *r = act_resource(a, "db");
	json_t *st = r ? capture(a, r, &cs) : NULL;
	if (!st)
		return ACT_FAIL;
	json_t *sc = json_object_get(st, "schema");
	act_out(a, "sha256", json_incref(json_object_get(sc, "sha256")));
	act_out(a, "objects", json_incref(json_object_get(sc, "objects")));
	act_out(a, "text", json_incref(json_object_get(sc, "text")));
	act_log(a, "schema fingerprint %s (%lld objects)", json_string_value(json_object_get(sc, "sha256")),
		(long long)json_integer_value(json_object_get(sc, "objects")));
	act_out(a, "state", st);
	return ACT_OK;
}

/* ---- pg.freshness ---- */

static int do_freshness(struct act *a)
{
	struct capspec cs;
	if (spec_common(a, &cs) != ACT_OK)
		return ACT_FAIL;
	cs.freshness = act_json(a, "tables");
	if (!json_is_object(cs.freshness) || !json_object_size(cs.freshness))
		return act_fail(a, "'tables' must map each table to its timestamp column, e.g. {orders: created_at}");
	struct resource *r = act_resource(a, "db");
	json_t *st = r ? capture(a, r, &cs) : NULL;
	if (!st)
		return ACT_FAIL;
	json_t *fr = json_object_get(st, "freshness");
	json_t *newest = json_object(), *age = json_object();
	double max_age = -1;
	const char *k;
	json_t *v;
	json_object_foreach(fr, k, v)
	{
		json_object_set(newest, k, json_object_get(v, "newest"));
		json_object_set(age, k, json_object_get(v, "age_s"));
		json_t *ag = json_object_get(v, "age_s");
		if (json_is_number(ag) && json_number_value(ag) > max_age)
			max_age = json_number_value(ag);
		act_log(a, "%s.%s: newest %s", k, json_string_value(json_object_get(v, "column")),
			json_is_string(json_object_get(v, "newest")) ? json_string_value(json_object_get(v, "newest"))
								     : "(no rows)");
	}
	act_out(a, "freshness", json_incref(fr));
	act_out(a, "newest", newest);
	act_out(a, "age_s", age);
	if (max_age >= 0)
		act_out_dur(a, "max_age", (int64_t)(max_age * 1e6));
	else
		act_out(a, "max_age", json_null());
	act_out(a, "state", st);
	return ACT_OK;
}

/* ---- pg.checksum ---- */

static int do_checksum(struct act *a)
{
	json_t *st = capture_tables(a, S_CHECK);
	if (!st)
		return ACT_FAIL;
	json_t *ck = json_object_get(st, "checksums");
	int64_t rows = 0;
	const char *k;
	json_t *v;
	json_object_foreach(ck, k, v)
	{
		rows += json_integer_value(json_object_get(v, "rows"));
		act_log(a, "%s: %lld rows, sha256 %.16s...", k, (long long)json_integer_value(json_object_get(v, "rows")),
			json_string_value(json_object_get(v, "sha256")));
	}
	act_out(a, "checksums", json_incref(ck));
	act_out_int(a, "rows", rows);
	act_out(a, "state", st);
	return ACT_OK;
}

/* ---- pg.capture ---- */

static int do_capture(struct act *a)
{
	struct capspec cs;
	if (spec_common(a, &cs) != ACT_OK)
		return ACT_FAIL;
	cs.name = act_str(a, "name");
	cs.record_missing = 1;
	json_t *cv = act_json(a, "counts");
	json_t *all = json_string("all");
	int rc = want_tables(a, "counts", cv ? cv : all, &cs.counts, &cs.counts_all, &cs.counts_list);
	if (rc == 0)
		rc = want_tables(a, "checksums", act_json(a, "checksums"), &cs.checksums, &cs.checksums_all,
				 &cs.checksums_list);
	json_decref(all);
	if (rc != 0) {
		spec_release(&cs);
		return ACT_FAIL;
	}
	cs.schema = act_bool(a, "schema", 1);
	cs.privileges = act_bool(a, "privileges", 0);
	cs.sequences = act_bool(a, "sequences", 1);
	cs.freshness = act_json(a, "freshness");
	if (cs.freshness && (!json_is_object(cs.freshness) || !json_object_size(cs.freshness))) {
		spec_release(&cs);
		return act_fail(a, "'freshness' must map each table to its timestamp column, e.g. {orders: created_at}");
	}
	struct resource *r = act_resource(a, "db");
	json_t *st = r ? capture(a, r, &cs) : NULL;
	spec_release(&cs);
	if (!st)
		return ACT_FAIL;
	act_out(a, "name", json_incref(json_object_get(st, "name")));
	act_out(a, "captured_at", json_incref(json_object_get(st, "captured_at")));
	act_out(a, "state", st);
	return ACT_OK;
}

/* ---- pg.query ---- */

/* A result value as typed JSON (new reference). */
static json_t *typed_value(PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return json_null();
	const char *v = PQgetvalue(res, row, col);
	Oid t = PQftype(res, col);
	int64_t i;
	switch (t) {
	case 16: /* bool */
		return json_boolean(v[0] == 't');
	case 20: case 21: case 23: case 26: /* int8, int2, int4, oid */
		if (parse_int64(v, &i) == 0)
			return json_integer(i);
		break;
	case 700: case 701: { /* float4, float8 */
		char *end;
		double d = strtod(v, &end);
		if (*end == '\0' && d == d && d - d == 0)
			return json_real(d);
		break;
	}
	case 1700: { /* numeric: an integer when it is one, else a double */
		if (parse_int64(v, &i) == 0)
			return json_integer(i);
		char *end;
		double d = strtod(v, &end);
		if (*end == '\0' && d == d && d - d == 0)
			return json_real(d);
		break;
	}
	case 114: case 3802: { /* json, jsonb */
		json_t *j = json_loads(v, JSON_DECODE_ANY, NULL);
		if (j)
			return j;
		break;
	}
	case 1184: case 1114: { /* timestamps, as RFC 3339 UTC (the session's TimeZone is UTC) */
		int64_t us;
		char buf[64];
		snprintf(buf, sizeof(buf), "%s", v);
		if (strlen(buf) > 10 && buf[10] == ' ')
			buf[10] = 'T';
		if (t == 1114 && strlen(buf) < 60)
			strncat(buf, "Z", sizeof(buf) - strlen(buf) - 1);
		else if (strlen(buf) > 3 && !strcmp(buf + strlen(buf) - 3, "+00"))
			snprintf(buf + strlen(buf) - 3, 4, "Z");
		if (parse_timestamp(buf, &us) == 0)
			return json_string(buf);
		break;
	}
	default:
		break;
	}
	return json_text(v);
}

/* The text form of a JSON scalar, for comparisons and messages (new string). */
static char *scalar_text(json_t *v)
{
	if (!v || json_is_null(v))
		return xstrdup("null");
	if (json_is_string(v))
		return xstrdup(json_string_value(v));
	char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	return s ? s : xstrdup("?");
}

static int values_equal(json_t *x, json_t *y)
{
	if (json_is_number(x) && json_is_number(y))
		return json_number_value(x) == json_number_value(y);
	char *a = scalar_text(x), *b = scalar_text(y);
	int eq = !strcmp(a, b);
	free(a);
	free(b);
	return eq;
}

static int check_expect(struct act *a, json_t *expect, json_t *value, int64_t count)
{
	if (!expect)
		return ACT_OK;
	if (!json_is_object(expect)) {
		if (values_equal(value, expect))
			return ACT_OK;
		char *w = scalar_text(expect), *g = scalar_text(value);
		act_fail(a, "query result is '%s', expected '%s'", g, w);
		free(w);
		free(g);
		return ACT_FAIL;
	}
	const char *k;
	json_t *v;
	json_object_foreach(expect, k, v)
	{
		if (!strcmp(k, "equals")) {
			if (!values_equal(value, v)) {
				char *w = scalar_text(v), *g = scalar_text(value);
				act_fail(a, "query result is '%s', expected '%s'", g, w);
				free(w);
				free(g);
				return ACT_FAIL;
			}
		} else if (!strcmp(k, "matches")) {
			if (!json_is_string(v))
				return act_fail(a, "expect.matches must be a regular expression (text)");
			int ec;
			PCRE2_SIZE eo;
			pcre2_code *re = pcre2_compile((PCRE2_SPTR)json_string_value(v), PCRE2_ZERO_TERMINATED, PCRE2_UTF,
						       &ec, &eo, NULL);
			if (!re) {
				PCRE2_UCHAR msg[256];
				pcre2_get_error_message(ec, msg, sizeof(msg));
				return act_fail(a, "expect.matches '%s' is not a valid regular expression: %s at offset %zu",
						json_string_value(v), (char *)msg, (size_t)eo);
			}
			char *g = scalar_text(value);
			pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
			int m = pcre2_match(re, (PCRE2_SPTR)g, strlen(g), 0, 0, md, NULL);
			pcre2_match_data_free(md);
			pcre2_code_free(re);
			if (m < 0) {
				act_fail(a, "query result '%s' does not match /%s/", g, json_string_value(v));
				free(g);
				return ACT_FAIL;
			}
			free(g);
		} else if (!strcmp(k, "count")) {
			if (!json_is_integer(v))
				return act_fail(a, "expect.count must be an integer");
			if (json_integer_value(v) != count)
				return act_fail(a, "query returned %lld rows, expected %lld", (long long)count,
						(long long)json_integer_value(v));
		} else {
			return act_fail(a, "expect has unknown key '%s'; use equals, matches or count", k);
		}
	}
	return ACT_OK;
}

static int do_query(struct act *a)
{
	struct resource *r;
	PGconn *c = db_conn(a, &r);
	if (!c)
		return ACT_FAIL;
	const char *sql = act_str(a, "sql");
	int writes = act_bool(a, "writes", 0);
	json_t *params = act_json(a, "params");
	if (params && !json_is_array(params))
		return act_fail(a, "'params' must be a list of values for $1, $2, ...");
	size_t np = json_array_size(params);
	char **vals = xcalloc(np + 1, sizeof(*vals));
	for (size_t i = 0; i < np; i++) {
		json_t *v = json_array_get(params, i);
		vals[i] = json_is_null(v) ? NULL : scalar_text(v);
	}
	PGresult *res = NULL;
	int in_tx = 0;
	if (!writes) {
		res = pg_exec(a, c, "pg.query", "BEGIN READ ONLY");
		if (!res)
			goto fail;
		PQclear(res);
		in_tx = 1;
	}
	char what[600];
	snprintf(what, sizeof(what), "query on %s", pg_where(r));
	res = pg_execp(a, c, what, sql, (int)np, (const char *const *)vals);
	if (in_tx) {
		PGresult *rb = PQexec(c, "ROLLBACK");
		PQclear(rb);
	}
	if (!res) {
		const char *state = NULL;
		const char *m = pg_last_error(&state);
		if (!writes && !strcmp(state, "25006"))
			act_fail(a, "query on %s tried to change data (%s); pg.query is read-only unless the step says writes: true",
				 pg_where(r), m);
		goto fail;
	}
	int64_t max_rows = act_int(a, "max_rows", 1000);
	int nt = PQntuples(res), nf = PQnfields(res);
	int64_t count = PQresultStatus(res) == PGRES_TUPLES_OK ? nt : 0;
	const char *affected = PQcmdTuples(res);
	if (PQresultStatus(res) == PGRES_COMMAND_OK && affected && *affected)
		parse_int64(affected, &count);
	json_t *rows = json_array(), *cols = json_array();
	for (int f = 0; f < nf; f++)
		json_array_append_new(cols, json_string(PQfname(res, f)));
	for (int i = 0; i < nt && i < max_rows; i++) {
		json_t *row = json_object();
		for (int f = 0; f < nf; f++)
			json_object_set_new(row, PQfname(res, f), typed_value(res, i, f));
		json_array_append_new(rows, row);
	}
	json_t *value = nt > 0 && nf > 0 ? typed_value(res, 0, 0) : json_null();
	int command = PQresultStatus(res) == PGRES_COMMAND_OK;
	PQclear(res);
	for (size_t i = 0; i < np; i++)
		free(vals[i]);
	free(vals);
	if (nt > max_rows)
		act_log(a, "%d rows; the first %lld are in the output (max_rows)", nt, (long long)max_rows);
	{
		char *vt = scalar_text(value);
		act_log(a, "%lld row%s%s; first value: %.200s", (long long)count, count == 1 ? "" : "s",
			command ? " affected" : "", vt);
		free(vt);
	}
	act_out(a, "rows", rows);
	act_out(a, "columns", cols);
	act_out(a, "value", json_incref(value));
	act_out_int(a, "count", count);
	int rc = check_expect(a, act_json(a, "expect"), value, count);
	json_decref(value);
	return rc;
fail:
	for (size_t i = 0; i < np; i++)
		free(vals[i]);
	free(vals);
	return ACT_FAIL;
}

/* pg.query is read-only unless writes: true; then it may change anything
 * (destructive: on a live resource it runs only in disaster mode). */
static unsigned query_flags(const struct argq *q)
{
	int writes = 1;
	if (!argq_bool(q, "writes", &writes))
		writes = 1;
	return writes ? A_STATE | A_DESTRUCT : 0;
}

/* ---- pg.whoami ---- */

static json_t *str_list(PGresult *res, int col)
{
	json_t *l = json_array();
	for (int i = 0; i < PQntuples(res); i++)
		json_array_append_new(l, json_string(PQgetvalue(res, i, col)));
	return l;
}

static int same_set(json_t *want, json_t *have)
{
	if (json_array_size(want) != json_array_size(have))
		return 0;
	size_t i, k;
	json_t *w, *h;
	json_array_foreach(want, i, w)
	{
		int found = 0;
		json_array_foreach(have, k, h) found |= json_is_string(w) && json_is_string(h) &&
							!strcmp(json_string_value(w), json_string_value(h));
		if (!found)
			return 0;
	}
	return 1;
}

static int name_in(const char *k, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(k, *list))
			return 1;
	return 0;
}

/* The session's role, its attributes and the database's privileges: a new
 * object, or NULL after act_fail. */
static json_t *whoami_role(struct act *a, PGconn *c, struct resource *r)
{
	PGresult *res = pg_exec(a, c, "reading the session's role",
				"SELECT current_user, session_user, r.rolsuper, r.rolcreatedb, r.rolcreaterole, "
				"r.rolreplication, r.rolbypassrls, current_database(), "
				"has_database_privilege(current_database(), 'CONNECT'), "
				"has_database_privilege(current_database(), 'CREATE'), "
				"has_database_privilege(current_database(), 'TEMP') "
				"FROM pg_roles r WHERE r.rolname = current_user");
	if (!res)
		return NULL;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return act_fail(a, "cannot read the role of the session on %s", pg_where(r)), NULL;
	}
	json_t *o = json_object();
	json_object_set_new(o, "current_user", json_string(PQgetvalue(res, 0, 0)));
	json_object_set_new(o, "session_user", json_string(PQgetvalue(res, 0, 1)));
	static const char *const flags[] = { "superuser", "createdb", "createrole", "replication", "bypassrls" };
	for (int i = 0; i < 5; i++)
		json_object_set_new(o, flags[i], json_boolean(PQgetvalue(res, 0, 2 + i)[0] == 't'));
	json_t *dbp = json_object();
	json_object_set_new(dbp, "name", json_string(PQgetvalue(res, 0, 7)));
	json_object_set_new(dbp, "connect", json_boolean(PQgetvalue(res, 0, 8)[0] == 't'));
	json_object_set_new(dbp, "create", json_boolean(PQgetvalue(res, 0, 9)[0] == 't'));
	json_object_set_new(dbp, "temp", json_boolean(PQgetvalue(res, 0, 10)[0] == 't'));
	json_object_set_new(o, "database", dbp);
	PQclear(res);
	return o;
}

/* o.member_of: the roles the session's role is a member of, directly or not. */
static int whoami_members(struct act *a, PGconn *c, json_t *o)
{
	PGresult *res = pg_exec(a, c, "reading the role's memberships",
				"WITH RECURSIVE m(roleid) AS (SELECT am.roleid FROM pg_auth_members am "
				"WHERE am.member = (SELECT oid FROM pg_roles WHERE rolname = current_user) "
				"UNION SELECT am.roleid FROM pg_auth_members am JOIN m ON am.member = m.roleid) "
				"SELECT r.rolname FROM pg_roles r WHERE r.oid IN (SELECT roleid FROM m) ORDER BY 1");
	if (!res)
		return -1;
	json_object_set_new(o, "member_of", str_list(res, 0));
	PQclear(res);
	return 0;
}

/* o.schemas (per schema: usage, create, and how many tables each privilege
 * reaches) and the schemas it may read, write and create in. */
static int whoami_schemas(struct act *a, PGconn *c, json_t *o)
{
	PGresult *res = pg_exec(a, c, "reading the role's privileges",
		      "SELECT n.nspname, has_schema_privilege(n.oid, 'USAGE'), has_schema_privilege(n.oid, 'CREATE'), "
		      "count(c.oid), "
		      "count(c.oid) FILTER (WHERE has_table_privilege(c.oid, 'SELECT')), "
		      "count(c.oid) FILTER (WHERE c.relkind IN ('r', 'p') AND has_table_privilege(c.oid, 'INSERT')), "
		      "count(c.oid) FILTER (WHERE c.relkind IN ('r', 'p') AND has_table_privilege(c.oid, 'UPDATE')), "
		      "count(c.oid) FILTER (WHERE c.relkind IN ('r', 'p') AND has_table_privilege(c.oid, 'DELETE')), "
		      "count(c.oid) FILTER (WHERE c.relkind IN ('r', 'p') AND has_table_privilege(c.oid, 'TRUNCATE')) "
		      "FROM pg_namespace n LEFT JOIN pg_class c ON c.relnamespace = n.oid "
		      "AND c.relkind IN ('r', 'p', 'v', 'm', 'f') "
		      "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp)' "
		      "GROUP BY n.oid, n.nspname ORDER BY n.nspname COLLATE \"C\"");
	if (!res)
		return -1;
	static const char *const counted[] = { "tables", "select", "insert", "update", "delete", "truncate" };
	json_t *schemas = json_object(), *can_read = json_array(), *can_write = json_array(), *can_create = json_array();
	for (int i = 0; i < PQntuples(res); i++) {
		const char *nsp = PQgetvalue(res, i, 0);
		int usage = PQgetvalue(res, i, 1)[0] == 't', create = PQgetvalue(res, i, 2)[0] == 't';
		int64_t v[6];
		json_t *e = json_object();
		json_object_set_new(e, "usage", json_boolean(usage));
		json_object_set_new(e, "create", json_boolean(create));
		for (int k = 0; k < 6; k++) {
			v[k] = 0;
			parse_int64(PQgetvalue(res, i, 3 + k), &v[k]);
			json_object_set_new(e, counted[k], json_integer(v[k]));
		}
		json_object_set_new(schemas, nsp, e);
		if (usage && v[1] == v[0])
			json_array_append_new(can_read, json_string(nsp));
		if (usage && (create || v[2] || v[3] || v[4] || v[5]))
			json_array_append_new(can_write, json_string(nsp));
		if (create)
			json_array_append_new(can_create, json_string(nsp));
	}
	PQclear(res);
	json_object_set_new(o, "schemas", schemas);
	json_object_set_new(o, "can_read", can_read);
	json_object_set_new(o, "can_write", can_write);
	json_object_set_new(o, "can_create", can_create);
	return 0;
}

/* Whether the expectation `v` of key k holds against `have`: 0 (*bad set
 * when it does not), or -1 after act_fail when the expectation is malformed. */
static int whoami_expect_one(struct act *a, const char *k, json_t *v, json_t *have, int *bad)
{
	static const char *const attributes[] = { "superuser", "createdb", "createrole", "replication", "bypassrls", NULL };
	static const char *const schema_lists[] = { "can_read", "can_write", "can_create", NULL };
	*bad = 0;
	if (name_in(k, attributes)) {
		if (!json_is_boolean(v))
			return act_fail(a, "expect.%s must be true or false", k), -1;
		*bad = json_is_true(v) != json_is_true(have);
	} else if (!strcmp(k, "current_user") || !strcmp(k, "session_user")) {
		*bad = !json_is_string(v) || strcmp(json_string_value(v), json_string_value(have)) != 0;
	} else if (name_in(k, schema_lists)) {
		json_t *want = json_is_string(v) ? json_pack("[O]", v) : json_incref(v);
		if (!json_is_array(want)) {
			json_decref(want);
			return act_fail(a, "expect.%s must be a list of schemas", k), -1;
		}
		*bad = !same_set(want, have);
		json_decref(want);
	} else if (!strcmp(k, "member_of")) {
		json_t *want = json_is_string(v) ? json_pack("[O]", v) : json_incref(v);
		size_t i, kk;
		json_t *w, *h;
		json_array_foreach(want, i, w)
		{
			int found = 0;
			json_array_foreach(have, kk, h) found |= json_is_string(w) && !strcmp(json_string_value(w),
											  json_string_value(h));
			*bad |= !found;
		}
		json_decref(want);
	} else {
		return act_fail(a, "expect has unknown key '%s'; use current_user, session_user, superuser, createdb, createrole, replication, bypassrls, member_of, can_read, can_write or can_create",
				k), -1;
	}
	return 0;
}

/* The step's `expect` against what the role is: ACT_OK or ACT_FAIL. */
static int whoami_expect(struct act *a, struct resource *r, json_t *o)
{
	json_t *expect = act_json(a, "expect");
	if (expect && !json_is_object(expect))
		return act_fail(a, "'expect' must be a mapping such as {superuser: false, can_write: [public]}");
	const char *k;
	json_t *v;
	json_object_foreach(expect, k, v)
	{
		json_t *have = json_object_get(o, k);
		int bad;
		if (whoami_expect_one(a, k, v, have, &bad) != 0)
			return ACT_FAIL;
		if (bad) {
			char *w = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
			char *h = json_dumps(have, JSON_ENCODE_ANY | JSON_COMPACT);
			act_fail(a, "role %s on %s: %s is %s, expected %s; this credential is not the identity the playbook expects",
				 json_string_value(json_object_get(o, "current_user")), pg_where(r), k, h, w);
			free(w);
			free(h);
			return ACT_FAIL;
		}
	}
	return ACT_OK;
}

static int do_whoami(struct act *a)
{
	struct resource *r;
	PGconn *c = db_conn(a, &r);
	if (!c)
		return ACT_FAIL;
	json_t *o = whoami_role(a, c, r);
	if (!o)
		return ACT_FAIL;
	if (whoami_members(a, c, o) != 0 || whoami_schemas(a, c, o) != 0) {
		json_decref(o);
		return ACT_FAIL;
	}
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v) act_out(a, k, json_incref(v));
	struct strbuf sb = STRBUF_INIT;
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(o, "can_write"), i, e) sb_addf(&sb, "%s%s", i ? ", " : "", json_string_value(e));
	act_log(a, "role %s%s on %s; may write in: %s", json_string_value(json_object_get(o, "current_user")),
		json_is_true(json_object_get(o, "superuser")) ? " (superuser)" : "", pg_where(r),
		sb.len ? sb_str(&sb) : "(no schema)");
	sb_release(&sb);
	int rc = whoami_expect(a, r, o);
	json_decref(o);
	return rc;
}

/* ---- pg.freeze / pg.unfreeze ---- */

struct session {
	char pid[16], user[128], app[128], client[128], state[64], started[48];
};

/* Other client sessions of the current database (not this one, not any of
 * this run's), started at or before `before` when given. A role without
 * pg_read_all_stats does not see when (or what kind of) other users'
 * sessions started: those count as opened before, so they are not missed. */
static PGresult *other_sessions(struct act *a, PGconn *c, const char *before)
{
	int pids[64];
	size_t n = pg_own_backend_pids(pids, ARRAY_SIZE(pids));
	struct strbuf own = STRBUF_INIT;
	sb_addc(&own, '{');
	for (size_t i = 0; i < n; i++)
		sb_addf(&own, "%s%d", i ? "," : "", pids[i]);
	sb_addc(&own, '}');
	const char *vals[2] = { sb_str(&own), before };
	PGresult *res = pg_execp(a, c, "listing the sessions of the database",
				 "SELECT pid, coalesce(usename, ''), coalesce(application_name, ''), "
				 "coalesce(host(client_addr), 'local'), coalesce(state, ''), "
				 "to_char(backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
				 "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
				 "AND (backend_type = 'client backend' OR (backend_type IS NULL AND usename IS NOT NULL)) "
				 "AND NOT (pid = ANY($1::int[])) "
				 "AND ($2::timestamptz IS NULL OR backend_start IS NULL OR backend_start <= $2::timestamptz) ORDER BY pid",
				 2, vals);
	sb_release(&own);
	return res;
}

static json_t *session_json(PGresult *res, int i)
{
	json_t *e = json_object();
	int64_t pid = 0;
	parse_int64(PQgetvalue(res, i, 0), &pid);
	json_object_set_new(e, "pid", json_integer(pid));
	json_object_set_new(e, "user", json_string(PQgetvalue(res, i, 1)));
	json_object_set_new(e, "application", json_string(PQgetvalue(res, i, 2)));
	json_object_set_new(e, "client", json_string(PQgetvalue(res, i, 3)));
	json_object_set_new(e, "state", json_string(PQgetvalue(res, i, 4)));
	json_object_set_new(e, "backend_start", json_string(PQgetvalue(res, i, 5)));
	return e;
}

/* Ends the sessions listed in res; appends the ended ones to `ended` and
 * the ones that could not be ended (with why) to `kept`. */
static void end_sessions(struct act *a, PGconn *c, PGresult *res, int server_num, json_t *ended, json_t *kept)
{
	for (int i = 0; i < PQntuples(res); i++) {
		const char *vals[1] = { PQgetvalue(res, i, 0) };
		PGresult *t = PQexecParams(c, server_num >= 140000 ? "SELECT pg_terminate_backend($1::int, 5000)"
								   : "SELECT pg_terminate_backend($1::int)",
					   1, NULL, vals, NULL, NULL, 0);
		json_t *e = session_json(res, i);
		if (PQresultStatus(t) == PGRES_TUPLES_OK && PQgetvalue(t, 0, 0)[0] == 't') {
			json_array_append_new(ended, e);
			act_log(a, "ended session pid %s (user %s, application '%s', client %s)", PQgetvalue(res, i, 0),
				PQgetvalue(res, i, 1), PQgetvalue(res, i, 2), PQgetvalue(res, i, 3));
		} else {
			char *m = PQresultStatus(t) == PGRES_TUPLES_OK ? xstrdup("it did not end within 5s")
								       : pg_result_error(t, c);
			json_object_set_new(e, "error", json_string(m));
			json_array_append_new(kept, e);
			free(m);
		}
		PQclear(t);
	}
}

static char *current_db(struct act *a, PGconn *c, int *server_num)
{
	PGresult *res = pg_exec(a, c, "reading the database name", "SELECT current_database(), current_setting('server_version_num')");
	if (!res)
		return NULL;
	char *db = xstrdup(PQgetvalue(res, 0, 0));
	int64_t v = 0;
	parse_int64(PQgetvalue(res, 0, 1), &v);
	*server_num = (int)v;
	PQclear(res);
	return db;
}

/* 1 when the database's own settings say default_transaction_read_only = on. */
static int db_frozen(struct act *a, PGconn *c)
{
	PGresult *res = pg_exec(a, c, "reading the database's settings",
				"SELECT EXISTS (SELECT 1 FROM pg_db_role_setting s CROSS JOIN LATERAL unnest(s.setconfig) AS cfg "
				"WHERE s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database()) "
				"AND s.setrole = 0 AND lower(split_part(cfg, '=', 1)) = 'default_transaction_read_only' "
				"AND lower(split_part(cfg, '=', 2)) IN ('on', 'true', 'yes', '1'))");
	if (!res)
		return -1;
	int f = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	return f;
}

/* One pg.freeze: the database, and the sessions it ended or could not. */
struct freeze {
	struct act *a;
	PGconn *c;
	char *db, *qdb;        /* its name, and quoted */
	int server_num;        /* server_version_num */
	int was;               /* it was read-only before */
	char frozen_at[48];    /* when the ALTER took effect (the server's clock) */
	json_t *ended, *kept;
};

/* ALTER DATABASE ... SET default_transaction_read_only = on; reads the
 * server's clock after it. ACT_OK, or ACT_FAIL (nothing changed, unless the
 * connection broke). */
static int freeze_alter(struct freeze *f, struct resource *r)
{
	char *sql = xasprintf("ALTER DATABASE %s SET default_transaction_read_only = on", f->qdb);
	PGresult *res = PQexec(f->c, sql);
	free(sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		if (PQstatus(f->c) != CONNECTION_OK)
			act_changing(f->a); /* the connection broke: the ALTER may have run */
		char *m = pg_result_error(res, f->c);
		act_fail(f->a, "cannot freeze database %s on %s: %s; the role must own the database or be a superuser; nothing was changed",
			 f->db, pg_where(r), m);
		free(m);
		PQclear(res);
		return ACT_FAIL;
	}
	PQclear(res);
	act_changing(f->a);
	res = pg_exec(f->a, f->c, "reading the time",
		      "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')");
	if (res) {
		snprintf(f->frozen_at, sizeof(f->frozen_at), "%s", PQgetvalue(res, 0, 0));
		PQclear(res);
	}
	act_log(f->a, "database %s is read-only for new sessions since %s%s", f->db, f->frozen_at,
		f->was ? " (it already was)" : "");
	return ACT_OK;
}

/* How many sessions opened before the freeze are still there, or -1. */
static int freeze_others(struct freeze *f)
{
	PGresult *res = other_sessions(f->a, f->c, f->frozen_at);
	if (!res)
		return -1;
	int n = PQntuples(res);
	PQclear(res);
	return n;
}

/* The grace period: sessions that end by themselves are not ended. NULL,
 * or why the freeze cannot go on (new string). */
static char *freeze_grace(struct freeze *f)
{
	int64_t until = mono_us() + act_duration_us(f->a, "grace", 5000000);
	for (;;) {
		int n = freeze_others(f);
		if (n < 0)
			return xstrdup("cannot list the database's sessions");
		if (n == 0 || mono_us() >= until)
			return NULL;
		int64_t left = until - mono_us();
		if (act_sleep(f->a, left < 250000 ? left : 250000) != 0)
			return xstrdup("interrupted during the grace period");
	}
}

/* Ends the sessions opened before the freeze, then checks none is left.
 * NULL, or why the freeze cannot go on (new string). */
static char *freeze_end_sessions(struct freeze *f)
{
	PGresult *res = other_sessions(f->a, f->c, f->frozen_at);
	if (!res)
		return xstrdup("cannot list the database's sessions");
	end_sessions(f->a, f->c, res, f->server_num, f->ended, f->kept);
	PQclear(res);
	if (json_array_size(f->kept)) {
		json_t *k0 = json_array_get(f->kept, 0);
		return xasprintf("%zu session(s) opened before the freeze could not be ended (pid %lld: %s)",
				 json_array_size(f->kept), (long long)json_integer_value(json_object_get(k0, "pid")),
				 json_string_value(json_object_get(k0, "error")));
	}
	int left = freeze_others(f);
	if (left < 0)
		return xstrdup("cannot list the database's sessions");
	if (left)
		return xasprintf("%d session(s) opened before the freeze are still there after being ended", left);
	return NULL;
}

static void freeze_journal(struct freeze *f)
{
	json_t *ev = json_object();
	json_object_set_new(ev, "database", json_string(f->db));
	json_object_set_new(ev, "frozen_at", json_string(f->frozen_at));
	json_object_set_new(ev, "sessions", json_incref(f->ended));
	act_journal(f->a, "pg_sessions_ended", ev);
}

/* A freeze that did not complete is undone, so a failed step leaves the
 * database as it found it (the run stops before any outage). ACT_FAIL. */
static int freeze_undo(struct freeze *f, const char *why)
{
	char *undo = NULL;
	if (!f->was) {
		char *sql = xasprintf("ALTER DATABASE %s RESET default_transaction_read_only", f->qdb);
		PGresult *res = PQstatus(f->c) == CONNECTION_OK ? PQexec(f->c, sql) : NULL;
		free(sql);
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			undo = res ? pg_result_error(res, f->c) : xstrdup("the connection is gone");
		PQclear(res);
	}
	if (json_array_size(f->ended))
		freeze_journal(f);
	act_out(f->a, "ended", json_incref(f->ended));
	if (undo)
		act_fail(f->a, "freezing database %s failed: %s; the freeze could NOT be undone (%s): the database stays read-only for new sessions; run pg.unfreeze or ALTER DATABASE ... RESET default_transaction_read_only",
			 f->db, why, undo);
	else
		act_fail(f->a, "freezing database %s failed: %s; the freeze was undone%s", f->db, why,
			 f->was ? " (the database was already read-only before and stays so)" : "");
	free(undo);
	return ACT_FAIL;
}

/* Freezes, waits out the grace period, ends what is left; undoes the
 * freeze when that fails. */
static int freeze_run(struct freeze *f, struct resource *r)
{
	if (freeze_alter(f, r) != ACT_OK)
		return ACT_FAIL;
	char *why = NULL;
	if (!f->frozen_at[0])
		why = xstrdup("the server stopped answering after the freeze");
	if (!why)
		why = freeze_grace(f);
	if (!why && act_bool(f->a, "terminate", 1))
		why = freeze_end_sessions(f);
	if (why) {
		freeze_undo(f, why);
		free(why);
		return ACT_FAIL;
	}
	freeze_journal(f);
	act_log(f->a, "write freeze in place on %s: %zu session(s) ended", f->db, json_array_size(f->ended));
	act_out_str(f->a, "database", f->db);
	act_out_str(f->a, "frozen_at", f->frozen_at);
	act_out(f->a, "ended", json_incref(f->ended));
	act_out_int(f->a, "ended_count", (int64_t)json_array_size(f->ended));
	act_out_bool(f->a, "already_frozen", f->was);
	return ACT_OK;
}

static int do_freeze(struct act *a)
{
	act_unchanged(a); /* until the ALTER DATABASE below has run */
	struct freeze f = { .a = a };
	struct resource *r;
	f.c = db_conn(a, &r);
	if (!f.c)
		return ACT_FAIL;
	f.db = current_db(a, f.c, &f.server_num);
	if (!f.db)
		return ACT_FAIL;
	f.was = db_frozen(a, f.c);
	if (f.was < 0) {
		free(f.db);
		return ACT_FAIL;
	}
	f.qdb = pg_ident(f.c, f.db);
	f.ended = json_array();
	f.kept = json_array();
	int rc = freeze_run(&f, r);
	json_decref(f.ended);
	json_decref(f.kept);
	free(f.qdb);
	free(f.db);
	return rc;
}

static int do_unfreeze(struct act *a)
{
	struct resource *r;
	PGconn *c = db_conn(a, &r);
	if (!c)
		return ACT_FAIL;
	int server_num = 0;
	char *db = current_db(a, c, &server_num);
	if (!db)
		return ACT_FAIL;
	int was = db_frozen(a, c);
	if (was < 0) {
		free(db);
		return ACT_FAIL;
	}
	char *qdb = pg_ident(c, db);
	char *sql = xasprintf("ALTER DATABASE %s RESET default_transaction_read_only", qdb);
	PGresult *res = PQexec(c, sql);
	free(sql);
	free(qdb);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		char *m = pg_result_error(res, c);
		act_fail(a, "cannot lift the write freeze of database %s on %s: %s; the role must own the database or be a superuser",
			 db, pg_where(r), m);
		free(m);
		PQclear(res);
		free(db);
		return ACT_FAIL;
	}
	PQclear(res);
	act_log(a, "database %s accepts writes from new sessions again%s", db, was ? "" : " (it was not frozen)");
	json_t *ended = json_array(), *kept = json_array();
	if (act_bool(a, "end_sessions", 1)) {
		/* sessions opened during the freeze stay read-only until they
		 * reconnect: end them (only those since `since`, when given) */
		const char *since = act_str(a, "since");
		res = other_sessions(a, c, NULL);
		if (!res) {
			free(db);
			json_decref(ended);
			json_decref(kept);
			return ACT_FAIL;
		}
		if (since) {
			PQclear(res);
			int pids[64];
			size_t n = pg_own_backend_pids(pids, ARRAY_SIZE(pids));
			struct strbuf own = STRBUF_INIT;
			sb_addc(&own, '{');
			for (size_t i = 0; i < n; i++)
				sb_addf(&own, "%s%d", i ? "," : "", pids[i]);
			sb_addc(&own, '}');
			const char *vals[2] = { sb_str(&own), since };
			res = pg_execp(a, c, "listing the sessions of the database",
				       "SELECT pid, coalesce(usename, ''), coalesce(application_name, ''), "
				       "coalesce(host(client_addr), 'local'), coalesce(state, ''), "
				       "to_char(backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
				       "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
				       "AND (backend_type = 'client backend' OR (backend_type IS NULL AND usename IS NOT NULL)) "
				       "AND NOT (pid = ANY($1::int[])) "
				       "AND (backend_start IS NULL OR backend_start >= $2::timestamptz) ORDER BY pid",
				       2, vals);
			sb_release(&own);
			if (!res) {
				free(db);
				json_decref(ended);
				json_decref(kept);
				return ACT_FAIL;
			}
		}
		end_sessions(a, c, res, server_num, ended, kept);
		PQclear(res);
	}
	if (json_array_size(ended)) {
		json_t *ev = json_object();
		json_object_set_new(ev, "database", json_string(db));
		json_object_set_new(ev, "sessions", json_incref(ended));
		act_journal(a, "pg_sessions_ended", ev);
	}
	for (size_t i = 0; i < json_array_size(kept); i++)
		act_log(a, "warning: session pid %lld could not be ended (%s); it stays read-only until it reconnects",
			(long long)json_integer_value(json_object_get(json_array_get(kept, i), "pid")),
			json_string_value(json_object_get(json_array_get(kept, i), "error")));
	act_out_str(a, "database", db);
	act_out(a, "ended", ended);
	act_out_int(a, "ended_count", (int64_t)json_array_size(ended));
	act_out_bool(a, "was_frozen", was);
	json_decref(kept);
	free(db);
	return ACT_OK;
}

/* ---- declarations ---- */

#define END_PARAMS { .name = NULL }
#define END_OUTPUTS { .name = NULL }
#define DB_PARAM \
	{ .name = "db", .type = T_RESOURCE, .flags = P_REQUIRED, .kind = "postgres", .doc = "the database to read" }
#define JOBS_PARAM \
	{ .name = "jobs", .type = T_INT, .doc = "parallel connections (default: the number of processors)" }
#define SCHEMAS_PARAM \
	{ .name = "schemas", .type = T_LIST, .doc = "limit to these schemas (default: every non-system schema)" }
#define STATE_OUTPUT(what) \
	{ .name = "state", .type = T_MAP, .doc = "a state (SPEC.md, 'The state format') holding " what ", for verify.compare" }
#define PRIVILEGES_PARAM                                      \
	{ .name = "privileges", .type = T_BOOL, .def = "false", \
	  .doc = "the schema text also holds owners and access privileges (for disaster verification: a restore that keeps them)" }
#define RANGES_PARAMS                                                                                       \
	{ .name = "ranges", .type = T_INT, .def = "64",                                                      \
	  .doc = "key ranges per table for locating differences (0 = whole tables only, else 4 to 1024)" },  \
	{ .name = "ranges_from", .type = T_ANY,                                                              \
	  .doc = "a state whose key range bounds to reuse (e.g. ${steps.baseline.state}), so ranges compare one to one" }

static const struct param_spec capture_params[] = {
	{ .name = "checksums", .type = T_ANY, .doc = "'all' or a list of tables to checksum (default: none)" },
	{ .name = "counts", .type = T_ANY, .def = "all", .doc = "'all', a list of tables, or false" },
	DB_PARAM,
	{ .name = "freshness", .type = T_MAP, .doc = "table: timestamp column, e.g. {orders: created_at}" },
	JOBS_PARAM,
	{ .name = "name", .type = T_STRING, .doc = "the state's name (default: the step id)" },
	PRIVILEGES_PARAM,
	RANGES_PARAMS,
	{ .name = "schema", .type = T_BOOL, .def = "true", .doc = "record the schema fingerprint and text" },
	SCHEMAS_PARAM,
	{ .name = "sequences", .type = T_BOOL, .def = "true",
	  .doc = "record each sequence's position and whether it is ahead of the columns it feeds" },
	END_PARAMS,
};
static const struct output_spec capture_outputs[] = {
	{ .name = "captured_at", .type = T_TIMESTAMP, .doc = "server time of the snapshot" },
	{ .name = "name", .type = T_STRING, .doc = "the state's name" },
	{ .name = "state", .type = T_MAP,
	  .doc = "the state (SPEC.md, 'The state format'): pass it to verify.compare and report.write" },
	END_OUTPUTS,
};
static const struct action_def capture_def = {
	.name = "pg.capture",
	.run = do_capture,
	.cat = CAT_OTHER,
	.params = capture_params,
	.outputs = capture_outputs,
	.doc = "Records a named state of a database at one moment: row counts, schema fingerprint, freshness, sequence positions (and whether each is ahead of the columns it feeds) and content checksums, all read in one snapshot (server time recorded).",
};

static const struct param_spec checksum_params[] = {
	DB_PARAM,
	JOBS_PARAM,
	RANGES_PARAMS,
	SCHEMAS_PARAM,
	{ .name = "tables", .type = T_ANY, .def = "all",
	  .doc = "'all' (tables, partitions under their parent) or a list" },
	END_PARAMS,
};
static const struct output_spec checksum_outputs[] = {
	{ .name = "checksums", .type = T_MAP,
	  .doc = "per table: rows, sha256, key, bounds, ranges (SPEC.md, 'The state format')" },
	{ .name = "rows", .type = T_INT, .doc = "rows read in all" },
	STATE_OUTPUT("the checksums"),
	END_OUTPUTS,
};
static const struct action_def checksum_def = {
	.name = "pg.checksum",
	.run = do_checksum,
	.cat = CAT_OTHER,
	.params = checksum_params,
	.outputs = checksum_outputs,
	.doc = "Content checksum per table, independent of row order, in constant client memory: streams each table with COPY in block ranges over parallel connections in one snapshot and adds per-row SHA-256 digests modulo 2^256, per key range.",
};

static const struct param_spec counts_params[] = {
	DB_PARAM,
	JOBS_PARAM,
	SCHEMAS_PARAM,
	{ .name = "tables", .type = T_ANY, .def = "all", .doc = "'all' or a list of tables" },
	END_PARAMS,
};
static const struct output_spec counts_outputs[] = {
	{ .name = "counts", .type = T_MAP, .doc = "exact rows per table; partitioned tables and each partition" },
	{ .name = "partitions", .type = T_MAP, .doc = "partition: its parent" },
	STATE_OUTPUT("the counts"),
	{ .name = "tables", .type = T_INT, .doc = "number of tables counted" },
	{ .name = "total", .type = T_INT, .doc = "rows in all (partitions counted once, under their parent)" },
	END_OUTPUTS,
};
static const struct action_def counts_def = {
	.name = "pg.counts",
	.run = do_counts,
	.cat = CAT_OTHER,
	.params = counts_params,
	.outputs = counts_outputs,
	.doc = "Exact row counts of the listed tables, or of all tables of the listed schemas, in one snapshot; partitions are counted under their parent and individually.",
};

static const struct param_spec freeze_params[] = {
	{ .name = "db", .type = T_RESOURCE, .flags = P_REQUIRED | P_TARGET, .kind = "postgres",
	  .doc = "the database to freeze" },
	{ .name = "grace", .type = T_DURATION, .def = "5s",
	  .doc = "how long sessions opened before the freeze may finish by themselves" },
	{ .name = "terminate", .type = T_BOOL, .def = "true",
	  .doc = "end the sessions still open after the grace period" },
	END_PARAMS,
};
static const struct output_spec freeze_outputs[] = {
	{ .name = "already_frozen", .type = T_BOOL, .doc = "the database was read-only before" },
	{ .name = "database", .type = T_STRING, .doc = "the database frozen" },
	{ .name = "ended", .type = T_LIST,
	  .doc = "sessions ended: pid, user, application, client, state, backend_start" },
	{ .name = "ended_count", .type = T_INT, .doc = "how many" },
	{ .name = "frozen_at", .type = T_TIMESTAMP, .doc = "server time of the freeze" },
	END_OUTPUTS,
};
static const struct action_def freeze_def = {
	.name = "pg.freeze",
	.run = do_freeze,
	.flags = A_STATE,
	.cat = CAT_MAINT_ON,
	.params = freeze_params,
	.outputs = freeze_outputs,
	.doc = "The write freeze at the database: ALTER DATABASE ... SET default_transaction_read_only = on, then, after a grace period, ends the other sessions opened before it (never drplay's own). A freeze that cannot complete is undone.",
};

static const struct param_spec freshness_params[] = {
	DB_PARAM,
	JOBS_PARAM,
	{ .name = "tables", .type = T_MAP, .flags = P_REQUIRED,
	  .doc = "table: timestamp column, e.g. {orders: created_at}" },
	END_PARAMS,
};
static const struct output_spec freshness_outputs[] = {
	{ .name = "age_s", .type = T_MAP, .doc = "table: age of the newest value in seconds (at the snapshot)" },
	{ .name = "freshness", .type = T_MAP, .doc = "table: column, newest, age_s" },
	{ .name = "max_age", .type = T_DURATION, .doc = "the largest age among the tables" },
	{ .name = "newest", .type = T_MAP, .doc = "table: newest value (RFC 3339 UTC; null when empty)" },
	STATE_OUTPUT("the freshness"),
	END_OUTPUTS,
};
static const struct action_def freshness_def = {
	.name = "pg.freshness",
	.run = do_freshness,
	.cat = CAT_OTHER,
	.params = freshness_params,
	.outputs = freshness_outputs,
	.doc = "The newest value of a timestamp column per table, and its age at the server's time.",
};

static const struct param_spec query_params[] = {
	{ .name = "db", .type = T_RESOURCE, .flags = P_REQUIRED | P_TARGET, .kind = "postgres",
	  .doc = "the database" },
	{ .name = "expect", .type = T_ANY,
	  .doc = "a value the first column of the first row must equal, or {equals: V} / {matches: PCRE2} / {count: N}" },
	{ .name = "max_rows", .type = T_INT, .def = "1000", .doc = "rows kept in the output" },
	{ .name = "params", .type = T_LIST, .doc = "values for $1, $2, ..." },
	{ .name = "sql", .type = T_STRING, .flags = P_REQUIRED | P_PRINTED, .doc = "one SQL statement" },
	{ .name = "writes", .type = T_BOOL, .def = "false",
	  .doc = "the statement changes data (state-changing and destructive: on a live resource only in disaster mode)" },
	END_PARAMS,
};
static const struct output_spec query_outputs[] = {
	{ .name = "columns", .type = T_LIST, .doc = "column names" },
	{ .name = "count", .type = T_INT, .doc = "rows returned, or rows affected" },
	{ .name = "rows", .type = T_LIST, .doc = "rows as objects (typed values)" },
	{ .name = "value", .type = T_ANY, .doc = "first column of the first row" },
	END_OUTPUTS,
};
static const struct action_def query_def = {
	.name = "pg.query",
	.run = do_query,
	.flags = A_STATE | A_DESTRUCT,
	.cat = CAT_OTHER,
	.params = query_params,
	.outputs = query_outputs,
	.doc = "Runs one SQL statement, read-only (in a READ ONLY transaction) unless writes: true.",
	.flags_for = query_flags,
};

static const struct param_spec schema_params[] = {
	DB_PARAM,
	PRIVILEGES_PARAM,
	SCHEMAS_PARAM,
	END_PARAMS,
};
static const struct output_spec schema_outputs[] = {
	{ .name = "objects", .type = T_INT, .doc = "lines in the text" },
	{ .name = "sha256", .type = T_STRING, .doc = "the fingerprint: SHA-256 of the text" },
	STATE_OUTPUT("the schema"),
	{ .name = "text", .type = T_STRING,
	  .doc = "the canonical schema text, one object per line (SPEC.md, 'The canonical schema text')" },
	END_OUTPUTS,
};
static const struct action_def schema_def = {
	.name = "pg.schema",
	.run = do_schema,
	.cat = CAT_OTHER,
	.params = schema_params,
	.outputs = schema_outputs,
	.doc = "A canonical fingerprint of everything a restore brings back that changes how the database behaves (tables, columns, constraints, indexes, sequences, views, functions, triggers and their enabled state, rules, policies, comments, the database's encoding and locale, ...; owners and privileges with privileges: true): its SHA-256 and the text.",
};

static const struct param_spec unfreeze_params[] = {
	{ .name = "db", .type = T_RESOURCE, .flags = P_REQUIRED | P_TARGET, .kind = "postgres",
	  .doc = "the database to unfreeze" },
	{ .name = "end_sessions", .type = T_BOOL, .def = "true",
	  .doc = "end other sessions (opened during the freeze, they stay read-only until they reconnect)" },
	{ .name = "since", .type = T_TIMESTAMP,
	  .doc = "end only sessions opened since then (e.g. ${steps.freeze.frozen_at})" },
	END_PARAMS,
};
static const struct output_spec unfreeze_outputs[] = {
	{ .name = "database", .type = T_STRING, .doc = "the database" },
	{ .name = "ended", .type = T_LIST, .doc = "sessions ended" },
	{ .name = "ended_count", .type = T_INT, .doc = "how many" },
	{ .name = "was_frozen", .type = T_BOOL, .doc = "the database was frozen" },
	END_OUTPUTS,
};
static const struct action_def unfreeze_def = {
	.name = "pg.unfreeze",
	.run = do_unfreeze,
	.flags = A_STATE,
	.cat = CAT_MAINT_OFF,
	.params = unfreeze_params,
	.outputs = unfreeze_outputs,
	.doc = "Lifts pg.freeze: ALTER DATABASE ... RESET default_transaction_read_only, and ends the sessions opened during the freeze so they reconnect writable.",
};

static const struct param_spec whoami_params[] = {
	DB_PARAM,
	{ .name = "expect", .type = T_MAP,
	  .doc = "properties that must hold, e.g. {superuser: false, can_write: [public]} (lists are exact sets; member_of: at least these)" },
	END_PARAMS,
};
static const struct output_spec whoami_outputs[] = {
	{ .name = "bypassrls", .type = T_BOOL, .doc = "role attribute" },
	{ .name = "can_create", .type = T_LIST, .doc = "schemas where it may create objects" },
	{ .name = "can_read", .type = T_LIST, .doc = "schemas where it may read every table" },
	{ .name = "can_write", .type = T_LIST,
	  .doc = "schemas where it may create, insert, update, delete or truncate" },
	{ .name = "createdb", .type = T_BOOL, .doc = "role attribute" },
	{ .name = "createrole", .type = T_BOOL, .doc = "role attribute" },
	{ .name = "current_user", .type = T_STRING, .doc = "the role in effect" },
	{ .name = "database", .type = T_MAP, .doc = "name, connect, create, temp" },
	{ .name = "member_of", .type = T_LIST, .doc = "roles it is a member of, directly or not" },
	{ .name = "replication", .type = T_BOOL, .doc = "role attribute" },
	{ .name = "schemas", .type = T_MAP,
	  .doc = "per schema: usage, create, tables, select, insert, update, delete, truncate (tables it may)" },
	{ .name = "session_user", .type = T_STRING, .doc = "the role that logged in" },
	{ .name = "superuser", .type = T_BOOL, .doc = "role attribute" },
	END_OUTPUTS,
};
static const struct action_def whoami_def = {
	.name = "pg.whoami",
	.run = do_whoami,
	.cat = CAT_PREFLIGHT,
	.params = whoami_params,
	.outputs = whoami_outputs,
	.doc = "The session's role and what it may do (attributes, memberships, per-schema privileges); `expect` asserts properties, failing the step otherwise.",
};

static const struct action_def *const pg_actions[] = {
	&capture_def, &checksum_def, &counts_def, &pg_drop_def, &freeze_def, &freshness_def,
	&query_def, &schema_def, &unfreeze_def, &whoami_def, NULL,
};
static const struct kind_def *const pg_kinds[] = { &pg_kind, NULL };

/* libpq connection strings: URIs and keyword=value pairs. */
static const struct redact_pattern pg_patterns[] = {
	REDACT_URL_PASSWORD,
	REDACT_ASSIGNED("password|passwd|pwd"),
	{ .re = NULL },
};

const struct family pg_family = {
	.name = "pg",
	.actions = pg_actions,
	.kinds = pg_kinds,
	.patterns = pg_patterns,
};
