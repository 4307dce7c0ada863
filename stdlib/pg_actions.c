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

/* Captures the sections asked for into a new state; NULL after act_fail. */
static json_t *capture(struct act *a, struct resource *r, const struct capspec *cs)
{
	struct pgsnap s;
	if (pgsnap_begin(a, r, &s) != 0)
		return NULL;
	int64_t t0 = mono_us();
	char *dblabel = xasprintf("'%s' (resource '%s')", s.database, r->name);
	struct pgtab *ct = NULL, *kt = NULL;
	size_t nct = 0, nkt = 0, nft = 0;
	struct fresh *ft = NULL;
	struct ckplan *plans = NULL;
	struct unit *u = NULL;
	size_t nu = 0, au = 0;
	struct task *tasks = NULL;
	size_t ntasks = 0;
	char *schema_text = NULL;
	int64_t objects = 0;
	json_t *state = NULL;
	json_t *missing = cs->record_missing ? json_array() : NULL;
	struct pgseq *sq = NULL;
	struct pgseqfeed *sf = NULL;
	size_t nsq = 0, nsf = 0;
	int ok = 0;

	/* -- which tables -- */
	if (cs->counts) {
		if (cs->counts_all) {
			if (pgt_list(a, s.c, cs->schemas, "rpm", 1, &ct, &nct) != 0)
				goto out;
		} else {
			if (resolve_list(a, s.c, dblabel, cs->counts_list, "rpmf", "pg.counts", &ct, &nct, missing) != 0)
				goto out;
			size_t base = nct;
			for (size_t i = 0; i < base; i++) {
				if (ct[i].relkind != 'p')
					continue;
				struct pgtab *parts = NULL;
				size_t np = 0;
				if (pgt_partitions(a, s.c, &ct[i], &parts, &np) != 0)
					goto out;
				for (size_t k = 0; k < np; k++)
					add_unique(&ct, &nct, &parts[k]);
				free(parts);
			}
		}
	}
	if (cs->freshness) {
		const char *tname;
		json_t *col;
		ft = xcalloc(json_object_size(cs->freshness) + 1, sizeof(*ft));
		json_object_foreach(cs->freshness, tname, col)
		{
			if (!json_is_string(col)) {
				act_fail(a, "freshness of '%s' must name a timestamp column (table: column)", tname);
				goto out;
			}
			struct fresh *f = &ft[nft];
			int rc = pgt_resolve(a, s.c, dblabel, tname, &f->t, missing != NULL);
			if (rc == 1) {
				note_missing(a, missing, tname, dblabel);
				continue;
			}
			if (rc != 0)
				goto out;
			nft++;
			if (fresh_column(a, s.c, f, json_string_value(col)) != 0)
				goto out;
		}
	}
	if (cs->checksums) {
		if (cs->checksums_all) {
			if (pgt_list(a, s.c, cs->schemas, "rpm", 0, &kt, &nkt) != 0)
				goto out;
		} else if (resolve_list(a, s.c, dblabel, cs->checksums_list, "rpmf", "pg.checksum", &kt, &nkt, missing) != 0) {
			goto out;
		}
	}

	if (cs->sequences && pgseq_list(a, &s, cs->schemas, &sq, &nsq, &sf, &nsf) != 0)
		goto out;

	/* -- lock what will be read, then read the schema in the same snapshot -- */
	{
		size_t nl = nct + nft + nkt + nsf;
		struct pgtab **lk = xcalloc(nl + 1, sizeof(*lk));
		size_t k = 0;
		for (size_t i = 0; i < nct; i++)
			lk[k++] = &ct[i];
		for (size_t i = 0; i < nft; i++)
			lk[k++] = &ft[i].t;
		for (size_t i = 0; i < nkt; i++)
			lk[k++] = &kt[i];
		for (size_t i = 0; i < nsf; i++)
			lk[k++] = &sf[i].t;
		int rc = pgsnap_lock(a, &s, lk, k);
		free(lk);
		if (rc != 0)
			goto out;
	}
	size_t schema_task = 0;
	if (cs->schema) {
		/* one catalog query per unit, in parallel with the rest */
		schema_task = ntasks;
		tasks = xrealloc(tasks, (ntasks + 1) * sizeof(*tasks));
		tasks[ntasks].sec = S_SCHEMA;
		tasks[ntasks].idx = 0;
		ntasks++;
		if (pg_schema_units(a, s.c, cs->schemas, cs->privileges, schema_task, &u, &nu, &au) != 0)
			goto out;
	}

	/* -- the statements -- */
	if (nct) {
		/* sizes of every table counted, in one query */
		struct strbuf ids = STRBUF_INIT;
		sb_addc(&ids, '{');
		for (size_t i = 0; i < nct; i++)
			sb_addf(&ids, "%s%lld", i ? "," : "", (long long)ct[i].oid);
		sb_addc(&ids, '}');
		const char *vals[1] = { sb_str(&ids) };
		PGresult *res = pg_execp(a, s.c, "reading table sizes",
					 "SELECT o::int8, pg_relation_size(o) FROM unnest($1::oid[]) AS o", 1, vals);
		sb_release(&ids);
		if (!res)
			goto out;
		tasks = xrealloc(tasks, (ntasks + nct) * sizeof(*tasks));
		for (size_t i = 0; i < nct; i++) {
			int64_t bytes = 0;
			for (int k = 0; k < PQntuples(res); k++) {
				int64_t o = 0;
				parse_int64(PQgetvalue(res, k, 0), &o);
				if (o == ct[i].oid)
					parse_int64(PQgetvalue(res, k, 1), &bytes);
			}
			tasks[ntasks].sec = S_COUNT;
			tasks[ntasks].idx = i;
			if (ct[i].relkind != 'p' && !ct[i].unpopulated) {
				/* one count(*) per table: the server may answer it with a
				 * parallel (index-only) scan, faster than block ranges */
				struct unit x;
				memset(&x, 0, sizeof(x));
				x.kind = U_SCALAR;
				x.task = ntasks;
				x.sql = xasprintf("SELECT count(*) FROM ONLY %s", ct[i].qname);
				x.bytes = bytes;
				push_unit(&u, &nu, &au, &x);
			}
			ntasks++;
		}
		PQclear(res);
	}
	for (size_t i = 0; i < nft; i++) {
		struct fresh *f = &ft[i];
		char *q = pg_ident(s.c, f->column);
		const char *fmt = "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'";
		struct unit x;
		memset(&x, 0, sizeof(x));
		x.kind = U_SCALAR;
		x.task = ntasks;
		if (f->type == 1184)
			x.sql = xasprintf("SELECT to_char(m AT TIME ZONE 'UTC', %s), extract(epoch FROM now() - m) "
					  "FROM (SELECT max(%s) AS m FROM %s) AS x", fmt, q, f->t.qname);
		else
			x.sql = xasprintf("SELECT to_char(m, %s), extract(epoch FROM (now() AT TIME ZONE 'UTC') - m) "
					  "FROM (SELECT max(%s)::timestamp AS m FROM %s) AS x", fmt, q, f->t.qname);
		free(q);
		push_unit(&u, &nu, &au, &x);
		tasks = xrealloc(tasks, (ntasks + 1) * sizeof(*tasks));
		tasks[ntasks].sec = S_FRESH;
		tasks[ntasks].idx = i;
		ntasks++;
	}
	if (nkt) {
		plans = xcalloc(nkt, sizeof(*plans));
		tasks = xrealloc(tasks, (ntasks + nkt) * sizeof(*tasks));
		for (size_t i = 0; i < nkt; i++) {
			tasks[ntasks].sec = S_CHECK;
			tasks[ntasks].idx = i;
			if (kt[i].unpopulated) { /* nothing to read: the state says so */
				ntasks++;
				continue;
			}
			if (pgt_details(a, s.c, &kt[i]) != 0)
				goto out;
			if (ckplan_make(a, &s, &kt[i], reuse_entry(cs->ranges_from, kt[i].key), cs->ranges, &plans[i]) != 0)
				goto out;
			ckplan_units(&s, &kt[i], &plans[i], ntasks, cs->jobs, &u, &nu, &au);
			ntasks++;
		}
	}

	size_t seq_task = 0;
	if (cs->sequences) {
		seq_task = ntasks;
		tasks = xrealloc(tasks, (ntasks + 1) * sizeof(*tasks));
		tasks[ntasks].sec = S_SEQ;
		tasks[ntasks].idx = 0;
		ntasks++;
		pgseq_units(sq, nsq, sf, nsf, seq_task, &u, &nu, &au);
	}

	/* -- read -- */
	/* a relation both counted and checksummed is read in full once: its
	 * count does not add to the bytes progress measures */
	for (size_t i = 0; i < nu; i++) {
		if (tasks[u[i].task].sec != S_COUNT)
			continue;
		int64_t oid = ct[tasks[u[i].task].idx].oid;
		for (size_t k = 0; k < nkt && u[i].bytes; k++)
			for (size_t l = 0; l < kt[k].nleaves; l++)
				if (kt[k].leaves[l].oid == oid)
					u[i].bytes = 0;
	}
	if (nu)
		qsort(u, nu, sizeof(*u), cmp_unit_cost);
	size_t failed = 0;
	int rc = pool_run(a, &s, u, nu, cs->jobs, nkt ? "checksum" : nct ? "count" : "read", &failed);
	if (rc < 0)
		goto out;
	if (rc > 0 && (tasks[u[failed].task].sec == S_SCHEMA || tasks[u[failed].task].sec == S_SEQ)) {
		const struct unit *f = &u[failed];
		act_fail(a, "%s of database %s failed: %s%s",
			 tasks[f->task].sec == S_SEQ ? "reading the sequences (positions, the columns they feed)" : "reading the schema",
			 s.database, f->error ? f->error : "unknown error",
			 f->lost ? "; the connection was lost: the server may have crashed or restarted; nothing was captured" : "");
		goto out;
	}
	if (rc > 0) {
		const struct task *tk = &tasks[u[failed].task];
		const char *key = tk->sec == S_COUNT ? ct[tk->idx].key : tk->sec == S_FRESH ? ft[tk->idx].t.key : kt[tk->idx].key;
		unit_failure(a, &s, &u[failed], key, tk->sec);
		goto out;
	}

	/* -- the state -- */
	state = json_object();
	json_object_set_new(state, "drplay_state", json_integer(1));
	json_object_set_new(state, "name", json_string(cs->name ? cs->name : act_step_id(a)));
	json_object_set_new(state, "resource", json_string(r->name));
	json_object_set_new(state, "database", json_string(s.database));
	json_object_set_new(state, "server", json_string(s.server));
	json_object_set_new(state, "server_version", json_string(s.server_version));
	json_object_set_new(state, "captured_at", json_string(s.captured_at));
	if (json_array_size(missing))
		json_object_set(state, "missing", missing);
	if (cs->counts) {
		int64_t *cnt = xcalloc(nct + 1, sizeof(*cnt));
		for (size_t i = 0; i < nu; i++) {
			const struct task *tk = &tasks[u[i].task];
			if (tk->sec != S_COUNT)
				continue;
			int64_t v = 0;
			parse_int64(u[i].v1 ? u[i].v1 : "0", &v);
			cnt[tk->idx] += v;
		}
		/* a partitioned table counts its partitions' rows: add each
		 * leaf to every ancestor that is counted too */
		for (size_t i = 0; i < nct; i++) {
			if (ct[i].relkind == 'p')
				continue;
			const char *pk = ct[i].parent_key;
			for (int depth = 0; pk && depth < 64; depth++) {
				long p = pgt_find(ct, nct, pk);
				if (p < 0)
					break;
				cnt[p] += cnt[i];
				pk = ct[p].parent_key;
			}
		}
		json_t *counts = json_object();
		json_t *parts = json_object();
		for (size_t i = 0; i < nct; i++) {
			/* an unpopulated materialized view has no rows to count */
			json_object_set_new(counts, ct[i].key, ct[i].unpopulated ? json_null() : json_integer(cnt[i]));
			if (ct[i].parent_key)
				json_object_set_new(parts, ct[i].key, json_string(ct[i].parent_key));
		}
		free(cnt);
		json_object_set_new(state, "counts", counts);
		json_object_set_new(state, "partitions", parts);
	}
	if (cs->schema) {
		schema_text = pg_schema_collect(u, nu, schema_task, &objects);
		char hex[65];
		sha256_hex(schema_text, strlen(schema_text), hex);
		json_t *sc = json_object();
		json_object_set_new(sc, "sha256", json_string(hex));
		json_object_set_new(sc, "objects", json_integer(objects));
		json_object_set_new(sc, "text", json_text(schema_text));
		json_object_set_new(state, "schema", sc);
	}
	if (cs->freshness) {
		json_t *fr = json_object();
		for (size_t i = 0; i < nu; i++) {
			const struct task *tk = &tasks[u[i].task];
			if (tk->sec != S_FRESH)
				continue;
			struct fresh *f = &ft[tk->idx];
			json_t *e = json_object();
			json_object_set_new(e, "column", json_string(f->column));
			json_object_set_new(e, "newest", u[i].v1 ? json_string(u[i].v1) : json_null());
			json_object_set_new(e, "age_s", u[i].v2 ? json_real(strtod(u[i].v2, NULL)) : json_null());
			json_object_set_new(fr, f->t.key, e);
		}
		json_object_set_new(state, "freshness", fr);
	}
	if (cs->sequences) {
		pgseq_collect(sq, nsq, sf, nsf, u, nu, seq_task);
		json_object_set_new(state, "sequences", pgseq_section(a, sq, nsq, sf, nsf));
	}
	if (cs->checksums) {
		json_t *ck = json_object();
		for (size_t t = 0; t < ntasks; t++) {
			if (tasks[t].sec != S_CHECK)
				continue;
			const struct pgtab *tb = &kt[tasks[t].idx];
			json_t *e = tb->unpopulated ? json_pack("{s:n,s:n,s:[],s:b}", "rows", "sha256", "key", "populated", 0)
						    : ckplan_entry(tb, &plans[tasks[t].idx], u, nu, t);
			json_object_set_new(ck, kt[tasks[t].idx].key, e);
		}
		json_object_set_new(state, "checksums", ck);
	}
	{
		/* each relation once, whichever sections read it: the figure
		 * pg.counts, pg.checksum and pg.capture report alike */
		struct relsize *rs = xcalloc(nu + 1, sizeof(*rs));
		size_t nrs = 0;
		for (size_t i = 0; i < nu; i++)
			if (tasks[u[i].task].sec == S_COUNT)
				rs[nrs++] = (struct relsize){ ct[tasks[u[i].task].idx].oid, u[i].bytes };
		for (size_t i = 0; i < nkt; i++)
			for (size_t l = 0; l < kt[i].nleaves; l++) {
				rs = xrealloc(rs, (nrs + 1) * sizeof(*rs));
				rs[nrs++] = (struct relsize){ kt[i].leaves[l].oid, kt[i].leaves[l].bytes };
			}
		int64_t bytes = distinct_bytes(rs, nrs);
		free(rs);
		double secs = (double)(mono_us() - t0) / 1e6;
		json_t *ev = json_object();
		json_object_set_new(ev, "database", json_string(s.database));
		json_object_set_new(ev, "captured_at", json_string(s.captured_at));
		json_object_set_new(ev, "counted", json_integer((json_int_t)nct));
		json_object_set_new(ev, "checksummed", json_integer((json_int_t)nkt));
		json_object_set_new(ev, "freshness", json_integer((json_int_t)nft));
		json_object_set_new(ev, "schema", json_boolean(cs->schema));
		json_object_set_new(ev, "sequences", json_integer((json_int_t)nsq));
		json_object_set_new(ev, "statements", json_integer((json_int_t)nu));
		json_object_set_new(ev, "heap_bytes", json_integer(bytes));
		json_object_set_new(ev, "seconds", json_real(secs));
		act_journal(a, "pg_read", ev);
		act_log(a, "read database %s at %s: %zu counted, %zu checksummed, %zu freshness, %zu sequences, schema %s (%.2f MiB of table heap, %zu statements, %.2fs)",
			s.database, s.captured_at, nct, nkt, nft, nsq, cs->schema ? "yes" : "no", (double)bytes / 1048576.0,
			nu, secs);
	}
	ok = 1;
out:
	pgsnap_end(&s);
	for (size_t i = 0; i < nu; i++)
		unit_release(&u[i]);
	free(u);
	free(tasks);
	for (size_t i = 0; i < nkt && plans; i++)
		ckplan_release(&plans[i]);
	free(plans);
	pgt_free_all(ct, nct);
	pgt_free_all(kt, nkt);
	for (size_t i = 0; ft && i < json_object_size(cs->freshness); i++) {
		pgt_release(&ft[i].t);
		free(ft[i].column);
	}
	free(ft);
	free(schema_text);
	free(dblabel);
	pgseq_free(sq, nsq);
	pgseq_feeds_free(sf, nsf);
	json_decref(missing);
	if (!ok) {
		json_decref(state);
		return NULL;
	}
	return state;
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

/* ---- pg.counts ---- */

static int do_counts(struct act *a)
{
	struct capspec cs;
	if (spec_common(a, &cs) != ACT_OK)
		return ACT_FAIL;
	json_t *tv = act_json(a, "tables");
	json_t *all = json_string("all");
	int rc = want_tables(a, "tables", tv ? tv : all, &cs.counts, &cs.counts_all, &cs.counts_list);
	json_decref(all);
	if (rc != 0)
		return ACT_FAIL;
	struct resource *r = act_resource(a, "db");
	json_t *st = r ? capture(a, r, &cs) : NULL;
	spec_release(&cs);
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
	struct capspec cs;
	if (spec_common(a, &cs) != ACT_OK)
		return ACT_FAIL;
	json_t *tv = act_json(a, "tables");
	json_t *all = json_string("all");
	int rc = want_tables(a, "tables", tv ? tv : all, &cs.checksums, &cs.checksums_all, &cs.checksums_list);
	json_decref(all);
	if (rc != 0)
		return ACT_FAIL;
	struct resource *r = act_resource(a, "db");
	json_t *st = r ? capture(a, r, &cs) : NULL;
	spec_release(&cs);
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
	struct resource *r = act_resource(a, "db");
	if (!r)
		return ACT_FAIL;
	PGconn *c = pg_connect(a, r);
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

static int do_whoami(struct act *a)
{
	struct resource *r = act_resource(a, "db");
	if (!r)
		return ACT_FAIL;
	PGconn *c = pg_connect(a, r);
	if (!c)
		return ACT_FAIL;
	PGresult *res = pg_exec(a, c, "reading the session's role",
				"SELECT current_user, session_user, r.rolsuper, r.rolcreatedb, r.rolcreaterole, "
				"r.rolreplication, r.rolbypassrls, current_database(), "
				"has_database_privilege(current_database(), 'CONNECT'), "
				"has_database_privilege(current_database(), 'CREATE'), "
				"has_database_privilege(current_database(), 'TEMP') "
				"FROM pg_roles r WHERE r.rolname = current_user");
	if (!res)
		return ACT_FAIL;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return act_fail(a, "cannot read the role of the session on %s", pg_where(r));
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
	res = pg_exec(a, c, "reading the role's memberships",
		      "WITH RECURSIVE m(roleid) AS (SELECT am.roleid FROM pg_auth_members am "
		      "WHERE am.member = (SELECT oid FROM pg_roles WHERE rolname = current_user) "
		      "UNION SELECT am.roleid FROM pg_auth_members am JOIN m ON am.member = m.roleid) "
		      "SELECT r.rolname FROM pg_roles r WHERE r.oid IN (SELECT roleid FROM m) ORDER BY 1");
	if (!res) {
		json_decref(o);
		return ACT_FAIL;
	}
	json_object_set_new(o, "member_of", str_list(res, 0));
	PQclear(res);
	res = pg_exec(a, c, "reading the role's privileges",
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
	if (!res) {
		json_decref(o);
		return ACT_FAIL;
	}
	json_t *schemas = json_object(), *can_read = json_array(), *can_write = json_array(), *can_create = json_array();
	for (int i = 0; i < PQntuples(res); i++) {
		const char *nsp = PQgetvalue(res, i, 0);
		int usage = PQgetvalue(res, i, 1)[0] == 't', create = PQgetvalue(res, i, 2)[0] == 't';
		int64_t v[6];
		for (int k = 0; k < 6; k++) {
			v[k] = 0;
			parse_int64(PQgetvalue(res, i, 3 + k), &v[k]);
		}
		json_t *e = json_object();
		json_object_set_new(e, "usage", json_boolean(usage));
		json_object_set_new(e, "create", json_boolean(create));
		json_object_set_new(e, "tables", json_integer(v[0]));
		json_object_set_new(e, "select", json_integer(v[1]));
		json_object_set_new(e, "insert", json_integer(v[2]));
		json_object_set_new(e, "update", json_integer(v[3]));
		json_object_set_new(e, "delete", json_integer(v[4]));
		json_object_set_new(e, "truncate", json_integer(v[5]));
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
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v) act_out(a, k, json_incref(v));
	{
		struct strbuf sb = STRBUF_INIT;
		size_t i;
		json_t *e;
		json_array_foreach(can_write, i, e) sb_addf(&sb, "%s%s", i ? ", " : "", json_string_value(e));
		act_log(a, "role %s%s on %s; may write in: %s", json_string_value(json_object_get(o, "current_user")),
			json_is_true(json_object_get(o, "superuser")) ? " (superuser)" : "", pg_where(r),
			sb.len ? sb_str(&sb) : "(no schema)");
		sb_release(&sb);
	}
	/* expectations */
	json_t *expect = act_json(a, "expect");
	int rc = ACT_OK;
	if (expect && !json_is_object(expect)) {
		rc = act_fail(a, "'expect' must be a mapping such as {superuser: false, can_write: [public]}");
		goto done;
	}
	json_object_foreach(expect, k, v)
	{
		json_t *have = json_object_get(o, k);
		int bad = 0;
		if (!strcmp(k, "superuser") || !strcmp(k, "createdb") || !strcmp(k, "createrole") ||
		    !strcmp(k, "replication") || !strcmp(k, "bypassrls")) {
			if (!json_is_boolean(v)) {
				rc = act_fail(a, "expect.%s must be true or false", k);
				goto done;
			}
			bad = json_is_true(v) != json_is_true(have);
		} else if (!strcmp(k, "current_user") || !strcmp(k, "session_user")) {
			bad = !json_is_string(v) || strcmp(json_string_value(v), json_string_value(have)) != 0;
		} else if (!strcmp(k, "can_read") || !strcmp(k, "can_write") || !strcmp(k, "can_create")) {
			json_t *want = json_is_string(v) ? json_pack("[O]", v) : json_incref(v);
			if (!json_is_array(want)) {
				json_decref(want);
				rc = act_fail(a, "expect.%s must be a list of schemas", k);
				goto done;
			}
			bad = !same_set(want, have);
			json_decref(want);
		} else if (!strcmp(k, "member_of")) {
			json_t *want = json_is_string(v) ? json_pack("[O]", v) : json_incref(v);
			size_t i;
			json_t *w;
			json_array_foreach(want, i, w)
			{
				json_t *one = json_pack("[O]", w);
				size_t kk;
				json_t *h;
				int found = 0;
				json_array_foreach(have, kk, h) found |= json_is_string(w) &&
									 !strcmp(json_string_value(w), json_string_value(h));
				json_decref(one);
				bad |= !found;
			}
			json_decref(want);
		} else {
			rc = act_fail(a, "expect has unknown key '%s'; use current_user, session_user, superuser, createdb, createrole, replication, bypassrls, member_of, can_read, can_write or can_create",
				      k);
			goto done;
		}
		if (bad) {
			char *w = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
			char *h = json_dumps(have, JSON_ENCODE_ANY | JSON_COMPACT);
			rc = act_fail(a, "role %s on %s: %s is %s, expected %s; this credential is not the identity the playbook expects",
				      json_string_value(json_object_get(o, "current_user")), pg_where(r), k, h, w);
			free(w);
			free(h);
			goto done;
		}
	}
done:
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

static int do_freeze(struct act *a)
{
	act_unchanged(a); /* until the ALTER DATABASE below has run */
	struct resource *r = act_resource(a, "db");
	if (!r)
		return ACT_FAIL;
	PGconn *c = pg_connect(a, r);
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
	char *sql = xasprintf("ALTER DATABASE %s SET default_transaction_read_only = on", qdb);
	PGresult *res = PQexec(c, sql);
	free(sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		if (PQstatus(c) != CONNECTION_OK)
			act_changing(a); /* the connection broke: the ALTER may have run */
		char *m = pg_result_error(res, c);
		act_fail(a, "cannot freeze database %s on %s: %s; the role must own the database or be a superuser; nothing was changed",
			 db, pg_where(r), m);
		free(m);
		PQclear(res);
		free(qdb);
		free(db);
		return ACT_FAIL;
	}
	PQclear(res);
	act_changing(a);
	res = pg_exec(a, c, "reading the time", "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')");
	char frozen_at[48] = "";
	if (res) {
		snprintf(frozen_at, sizeof(frozen_at), "%s", PQgetvalue(res, 0, 0));
		PQclear(res);
	}
	act_log(a, "database %s is read-only for new sessions since %s%s", db, frozen_at,
		was ? " (it already was)" : "");
	json_t *ended = json_array(), *kept = json_array();
	char *why = NULL;
	if (!frozen_at[0]) {
		why = xstrdup("the server stopped answering after the freeze");
		goto rollback;
	}
	/* the grace period: sessions that end by themselves are not ended */
	int64_t grace = act_duration_us(a, "grace", 5000000);
	int64_t until = mono_us() + grace;
	for (;;) {
		res = other_sessions(a, c, frozen_at);
		if (!res) {
			why = xstrdup("cannot list the database's sessions");
			goto rollback;
		}
		int n = PQntuples(res);
		PQclear(res);
		if (n == 0 || mono_us() >= until)
			break;
		int64_t left = until - mono_us();
		if (act_sleep(a, left < 250000 ? left : 250000) != 0) {
			why = xstrdup("interrupted during the grace period");
			goto rollback;
		}
	}
	if (act_bool(a, "terminate", 1)) {
		res = other_sessions(a, c, frozen_at);
		if (!res) {
			why = xstrdup("cannot list the database's sessions");
			goto rollback;
		}
		end_sessions(a, c, res, server_num, ended, kept);
		PQclear(res);
		if (json_array_size(kept)) {
			json_t *k0 = json_array_get(kept, 0);
			why = xasprintf("%zu session(s) opened before the freeze could not be ended (pid %lld: %s)",
					json_array_size(kept), (long long)json_integer_value(json_object_get(k0, "pid")),
					json_string_value(json_object_get(k0, "error")));
			goto rollback;
		}
		res = other_sessions(a, c, frozen_at);
		if (!res) {
			why = xstrdup("cannot list the database's sessions");
			goto rollback;
		}
		int left = PQntuples(res);
		PQclear(res);
		if (left) {
			why = xasprintf("%d session(s) opened before the freeze are still there after being ended", left);
			goto rollback;
		}
	}
	{
		json_t *ev = json_object();
		json_object_set_new(ev, "database", json_string(db));
		json_object_set_new(ev, "frozen_at", json_string(frozen_at));
		json_object_set_new(ev, "sessions", json_incref(ended));
		act_journal(a, "pg_sessions_ended", ev);
	}
	act_log(a, "write freeze in place on %s: %zu session(s) ended", db, json_array_size(ended));
	act_out_str(a, "database", db);
	act_out_str(a, "frozen_at", frozen_at);
	act_out(a, "ended", ended);
	act_out_int(a, "ended_count", (int64_t)json_array_size(ended));
	act_out_bool(a, "already_frozen", was);
	json_decref(kept);
	free(qdb);
	free(db);
	return ACT_OK;

rollback:
	/* A freeze that did not complete is undone, so a failed step leaves the
	 * database as it found it (the run stops before any outage). */
	{
		char *undo = NULL;
		if (!was) {
			sql = xasprintf("ALTER DATABASE %s RESET default_transaction_read_only", qdb);
			res = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
			free(sql);
			if (PQresultStatus(res) != PGRES_COMMAND_OK)
				undo = res ? pg_result_error(res, c) : xstrdup("the connection is gone");
			PQclear(res);
		}
		if (json_array_size(ended)) {
			json_t *ev = json_object();
			json_object_set_new(ev, "database", json_string(db));
			json_object_set_new(ev, "frozen_at", json_string(frozen_at));
			json_object_set_new(ev, "sessions", json_incref(ended));
			act_journal(a, "pg_sessions_ended", ev);
		}
		act_out(a, "ended", json_incref(ended));
		if (undo)
			act_fail(a, "freezing database %s failed: %s; the freeze could NOT be undone (%s): the database stays read-only for new sessions; run pg.unfreeze or ALTER DATABASE ... RESET default_transaction_read_only",
				 db, why, undo);
		else
			act_fail(a, "freezing database %s failed: %s; the freeze was undone%s", db, why,
				 was ? " (the database was already read-only before and stays so)" : "");
		free(undo);
	}
	free(why);
	json_decref(ended);
	json_decref(kept);
	free(qdb);
	free(db);
	return ACT_FAIL;
}

static int do_unfreeze(struct act *a)
{
	struct resource *r = act_resource(a, "db");
	if (!r)
		return ACT_FAIL;
	PGconn *c = pg_connect(a, r);
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
	{ NULL, 0, NULL },
};

const struct family pg_family = {
	.name = "pg",
	.actions = pg_actions,
	.kinds = pg_kinds,
	.patterns = pg_patterns,
};
