/*
 * pg.c: the `postgres` resource kind and its connections (see pg.h). The
 * pg.* actions of this family are declared in the table at the end.
 *
 * Queries go through pg_exec, which sends asynchronously and waits in a poll
 * loop so that an interruption or a step timeout cancels the statement on the
 * server (PQcancel) instead of hanging.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "family.h"
#include "pg_int.h"

#define PG_MAX_CACHED 8

struct pg_cached {
	char *dbname; /* NULL = the resource's own database */
	PGconn *conn;
};

struct pg_handle {
	struct pg_cached c[PG_MAX_CACHED];
	size_t n;
	char where[256];
	char dbname[128];
};

/* Every handle of the run, so that pg.freeze can tell drplay's own
 * sessions from the application's (pg_own_backend_pids). */
static struct pg_handle **all_handles;
static size_t n_handles, a_handles;

static void pg_release(void *h)
{
	struct pg_handle *ph = h;
	if (!ph)
		return;
	for (size_t i = 0; i < n_handles; i++) {
		if (all_handles[i] == ph) {
			all_handles[i] = all_handles[--n_handles];
			break;
		}
	}
	for (size_t i = 0; i < ph->n; i++) {
		PQfinish(ph->c[i].conn);
		free(ph->c[i].dbname);
	}
	free(ph);
}

static struct pg_handle *handle(struct resource *r)
{
	struct pg_handle *ph = res_handle(r);
	if (!ph) {
		ph = xcalloc(1, sizeof(*ph));
		res_set_handle(r, ph);
		if (n_handles == a_handles) {
			a_handles = a_handles ? a_handles * 2 : 8;
			all_handles = xrealloc(all_handles, a_handles * sizeof(*all_handles));
		}
		all_handles[n_handles++] = ph;
	}
	return ph;
}

size_t pg_own_backend_pids(int *pids, size_t max)
{
	size_t k = 0;
	for (size_t h = 0; h < n_handles; h++)
		for (size_t i = 0; i < all_handles[h]->n && k < max; i++)
			if (PQstatus(all_handles[h]->c[i].conn) == CONNECTION_OK)
				pids[k++] = PQbackendPID(all_handles[h]->c[i].conn);
	return k;
}

static const char *opt(PQconninfoOption *opts, const char *key)
{
	for (PQconninfoOption *o = opts; o->keyword; o++)
		if (!strcmp(o->keyword, key))
			return o->val;
	return NULL;
}

/* Parses the resource's DSN; registers its password as a secret. */
static PQconninfoOption *parse_dsn(struct act *a, struct resource *r)
{
	const char *dsn = res_str(r, "dsn");
	if (!dsn || !*dsn) {
		act_fail(a, "postgres resource '%s' has an empty dsn; set it (usually dsn: ${secret.NAME})", r->name);
		return NULL;
	}
	char *err = NULL;
	act_secret_url_password(a, dsn);
	PQconninfoOption *opts = PQconninfoParse(dsn, &err);
	if (!opts) {
		act_fail(a, "postgres resource '%s': the dsn is not a valid connection string or URI: %s",
			 r->name, err ? err : "syntax error");
		PQfreemem(err);
		return NULL;
	}
	for (PQconninfoOption *o = opts; o->keyword; o++)
		if (!strcmp(o->keyword, "password") && o->val && *o->val)
			act_secret(a, o->val);
	/* libpq ends a URI's password at its first '@': the rest of a password
	 * written with a raw '@' becomes the host, which messages would quote. */
	const char *host = opt(opts, "host");
	if (host && strchr(host, '@')) {
		act_fail(a, "postgres resource '%s': the dsn's password holds a raw '@', which ends it early; percent-encode it as %%40 (and ':' as %%3A, '/' as %%2F)",
			 r->name);
		PQconninfoFree(opts);
		return NULL;
	}
	return opts;
}

static void fill_where(struct pg_handle *ph, PQconninfoOption *opts)
{
	const char *host = opt(opts, "host");
	const char *hostaddr = opt(opts, "hostaddr");
	const char *port = opt(opts, "port");
	const char *db = opt(opts, "dbname");
	const char *user = opt(opts, "user");
	if (!host || !*host)
		host = hostaddr && *hostaddr ? hostaddr : getenv("PGHOST") ? getenv("PGHOST") : "localhost";
	if (!port || !*port)
		port = getenv("PGPORT") ? getenv("PGPORT") : "5432";
	if (!db || !*db)
		db = user && *user ? user : getenv("PGDATABASE") ? getenv("PGDATABASE") : "postgres";
	snprintf(ph->where, sizeof(ph->where), "%s:%s/%s", host, port, db);
	snprintf(ph->dbname, sizeof(ph->dbname), "%s", db);
}

/* Server notices (and the FATAL a dying server sends) would go to stderr
 * past the masking; drplay reports what matters through results and act_fail. */
static void quiet_notices(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* The libpq `options` for the tools drplay starts: the DSN's own options,
 * then default_transaction_read_only=off (pg.freeze freezes the application,
 * not the operator: pg_restore must write into a frozen database) and a
 * statement_timeout (0 = none). New string. */
static char *own_options(const char *dsn_options, int64_t statement_timeout_us)
{
	struct strbuf sb = STRBUF_INIT;
	if (dsn_options && *dsn_options)
		sb_addf(&sb, "%s ", dsn_options);
	sb_adds(&sb, "-c default_transaction_read_only=off");
	if (statement_timeout_us > 0)
		sb_addf(&sb, " -c statement_timeout=%lld", (long long)(statement_timeout_us / 1000));
	return sb_detach(&sb);
}

/* Opens a connection with the resource's settings, dbname overridden when set. */
static PGconn *open_conn(struct act *a, struct resource *r, const char *dbname)
{
	PQconninfoOption *opts = parse_dsn(a, r);
	if (!opts)
		return NULL;
	struct pg_handle *ph = handle(r);
	fill_where(ph, opts);
	const char *keys[64], *vals[64];
	int n = 0;
	char timeout[32], appname[128];
	int64_t ct = res_duration_us(r, "connect_timeout", 10000000) / 1000000;
	snprintf(timeout, sizeof(timeout), "%lld", (long long)(ct > 0 ? ct : 1));
	const char *an = res_str(r, "application_name");
	snprintf(appname, sizeof(appname), "%s", an && *an ? an : "drplay");
	for (PQconninfoOption *o = opts; o->keyword && n < 60; o++) {
		if (!o->val || !*o->val)
			continue;
		if (!strcmp(o->keyword, "dbname") && dbname)
			continue;
		if (!strcmp(o->keyword, "connect_timeout") || !strcmp(o->keyword, "application_name"))
			continue;
		keys[n] = o->keyword;
		vals[n] = o->val;
		n++;
	}
	if (dbname) {
		keys[n] = "dbname";
		vals[n] = dbname;
		n++;
	}
	keys[n] = "connect_timeout";
	vals[n] = timeout;
	n++;
	keys[n] = "application_name";
	vals[n] = appname;
	n++;
	keys[n] = NULL;
	vals[n] = NULL;
	PGconn *c = PQconnectdbParams(keys, vals, 0);
	PQconninfoFree(opts);
	if (c)
		PQsetNoticeProcessor(c, quiet_notices, NULL);
	if (!c || PQstatus(c) != CONNECTION_OK) {
		const char *m = c ? PQerrorMessage(c) : "out of memory";
		char first[512];
		snprintf(first, sizeof(first), "%s", m);
		first[strcspn(first, "\n")] = '\0';
		char where[400];
		if (dbname) {
			char host[256];
			snprintf(host, sizeof(host), "%s", ph->where);
			char *slash = strrchr(host, '/');
			if (slash)
				*slash = '\0';
			snprintf(where, sizeof(where), "%s/%s", host, dbname);
		} else {
			snprintf(where, sizeof(where), "%s", ph->where);
		}
		act_fail(a, "cannot connect to postgres resource '%s' at %s: %s; check that the server is running and reachable, and the user, password and database in its dsn",
			 r->name, where, first);
		PQfinish(c);
		return NULL;
	}
	/* drplay's own sessions write even while pg.freeze holds the database
	 * read-only for everybody else; statement_timeout is the resource's.
	 * Plain SETs rather than startup options, which poolers may refuse. */
	char sql[160];
	int64_t st = res_duration_us(r, "statement_timeout", 0);
	if (st > 0)
		snprintf(sql, sizeof(sql), "SET default_transaction_read_only = off; SET statement_timeout = %lld",
			 (long long)(st / 1000 > 0 ? st / 1000 : 1));
	else
		snprintf(sql, sizeof(sql), "SET default_transaction_read_only = off");
	PGresult *res = PQexec(c, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		char *m = pg_result_error(res, c);
		act_fail(a, "postgres resource '%s' at %s: cannot set up the session (%s): %s", r->name, ph->where, sql, m);
		free(m);
		PQclear(res);
		PQfinish(c);
		return NULL;
	}
	PQclear(res);
	return c;
}

static PGconn *cached(struct act *a, struct resource *r, const char *dbname)
{
	struct pg_handle *ph = handle(r);
	for (size_t i = 0; i < ph->n; i++) {
		int same = (!dbname && !ph->c[i].dbname) ||
			   (dbname && ph->c[i].dbname && !strcmp(dbname, ph->c[i].dbname));
		if (!same)
			continue;
		if (PQstatus(ph->c[i].conn) == CONNECTION_OK)
			return ph->c[i].conn;
		/* The server went away since: try once more with a new one. */
		PQfinish(ph->c[i].conn);
		free(ph->c[i].dbname);
		ph->c[i] = ph->c[--ph->n];
		break;
	}
	PGconn *c = open_conn(a, r, dbname);
	if (!c)
		return NULL;
	if (ph->n == PG_MAX_CACHED) {
		PQfinish(ph->c[0].conn);
		free(ph->c[0].dbname);
		ph->c[0] = ph->c[--ph->n];
	}
	ph->c[ph->n].conn = c;
	ph->c[ph->n].dbname = dbname ? xstrdup(dbname) : NULL;
	ph->n++;
	return c;
}

PGconn *pg_connect(struct act *a, struct resource *r)
{
	return cached(a, r, NULL);
}

PGconn *pg_connect_db(struct act *a, struct resource *r, const char *dbname)
{
	return cached(a, r, dbname);
}

PGconn *pg_connect_new(struct act *a, struct resource *r, const char *dbname)
{
	return open_conn(a, r, dbname);
}

void pg_forget(struct resource *r, const char *dbname)
{
	struct pg_handle *ph = res_handle(r);
	if (!ph)
		return;
	for (size_t i = 0; i < ph->n;) {
		int match = !dbname || (ph->c[i].dbname && !strcmp(ph->c[i].dbname, dbname)) ||
			    (!ph->c[i].dbname && !strcmp(ph->dbname, dbname));
		if (match) {
			PQfinish(ph->c[i].conn);
			free(ph->c[i].dbname);
			ph->c[i] = ph->c[--ph->n];
		} else {
			i++;
		}
	}
}

/* Appends key='value' to a conninfo string, quoted as libpq wants. */
static void add_kv(struct strbuf *sb, const char *key, const char *val)
{
	sb_addf(sb, "%s%s='", sb->len ? " " : "", key);
	for (const char *p = val; *p; p++) {
		if (*p == '\'' || *p == '\\')
			sb_addc(sb, '\\');
		sb_addc(sb, *p);
	}
	sb_addc(sb, '\'');
}

int pg_child_conninfo(struct act *a, struct resource *r, const char *dbname, char **conninfo,
		      char **password_env)
{
	*conninfo = NULL;
	*password_env = NULL;
	PQconninfoOption *opts = parse_dsn(a, r);
	if (!opts)
		return -1;
	fill_where(handle(r), opts);
	struct strbuf sb = STRBUF_INIT;
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		if (!o->val || !*o->val)
			continue;
		if (!strcmp(o->keyword, "password")) {
			*password_env = xasprintf("PGPASSWORD=%s", o->val);
			continue;
		}
		if (!strcmp(o->keyword, "dbname") && dbname)
			continue;
		if (!strcmp(o->keyword, "options"))
			continue; /* added below with drplay's own */
		add_kv(&sb, o->keyword, o->val);
	}
	if (dbname)
		add_kv(&sb, "dbname", dbname);
	const char *an = res_str(r, "application_name");
	add_kv(&sb, "application_name", an && *an ? an : "drplay");
	/* children (pg_dump, pg_restore, psql) write even into a frozen
	 * database; no statement_timeout: a restore's COPY may be long */
	char *options = own_options(opt(opts, "options"), 0);
	add_kv(&sb, "options", options);
	free(options);
	PQconninfoFree(opts);
	*conninfo = sb_detach(&sb);
	return 0;
}

const char *pg_where(struct resource *r)
{
	struct pg_handle *ph = handle(r);
	if (!ph->where[0]) {
		char *err = NULL;
		const char *dsn = res_str(r, "dsn");
		PQconninfoOption *opts = dsn ? PQconninfoParse(dsn, &err) : NULL;
		PQfreemem(err);
		if (opts) {
			fill_where(ph, opts);
			PQconninfoFree(opts);
		}
	}
	return ph->where[0] ? ph->where : "(unknown server)";
}

const char *pg_dbname(struct resource *r)
{
	pg_where(r);
	return handle(r)->dbname;
}

/* The last failure seen by pg_exec/pg_execp (pg_last_error). */
static char last_state[8];
static char last_msg[1024];

const char *pg_last_error(const char **sqlstate)
{
	if (sqlstate)
		*sqlstate = last_state;
	return last_msg;
}

static void note_error(const char *state, const char *msg)
{
	snprintf(last_state, sizeof(last_state), "%s", state ? state : "");
	snprintf(last_msg, sizeof(last_msg), "%s", msg ? msg : "");
	last_msg[strcspn(last_msg, "\n")] = '\0';
}

const char *pg_first_line(const char *msg)
{
	static _Thread_local char buf[512];
	if (!msg)
		msg = "";
	if (!strncmp(msg, "ERROR:  ", 8))
		msg += 8;
	else if (!strncmp(msg, "FATAL:  ", 8))
		msg += 8;
	snprintf(buf, sizeof(buf), "%s", msg);
	buf[strcspn(buf, "\n")] = '\0';
	size_t n = strlen(buf);
	while (n && (buf[n - 1] == ' ' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	return buf;
}

char *pg_result_error(const PGresult *res, PGconn *c)
{
	const char *m = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	if (!m) {
		const char *t = res ? PQresultErrorMessage(res) : NULL;
		if (!t || !*t)
			t = c ? PQerrorMessage(c) : "unknown error";
		const char *l = pg_first_line(t);
		return xstrdup(*l ? l : "unknown error");
	}
	/* the DETAIL line is often the only part that says why (a relation
	 * kind an operation does not support, the row that broke a
	 * constraint); the HINT says what to do */
	const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
	const char *hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
	struct strbuf sb = STRBUF_INIT;
	sb_adds(&sb, m);
	if (detail && *detail)
		sb_addf(&sb, "; detail: %s", detail);
	if (hint && *hint)
		sb_addf(&sb, "; hint: %s", hint);
	return sb_detach(&sb);
}

/* Waits for the result of a sent query, cancelling it on interruption. */
static PGresult *wait_result(struct act *a, PGconn *c, const char *what)
{
	PGresult *last = NULL;
	int cancelled = 0;
	for (;;) {
		if (!cancelled && act_cancelled(a)) {
			PGcancel *cn = PQgetCancel(c);
			char eb[256];
			if (cn) {
				PQcancel(cn, eb, sizeof(eb));
				PQfreeCancel(cn);
			}
			cancelled = 1;
		}
		if (PQconsumeInput(c) == 0)
			break;
		if (PQisBusy(c)) {
			struct pollfd pf = { PQsocket(c), POLLIN, 0 };
			poll(&pf, 1, 100);
			continue;
		}
		PGresult *res = PQgetResult(c);
		if (!res)
			break;
		PQclear(last);
		last = res;
		ExecStatusType st = PQresultStatus(res);
		if (st == PGRES_COPY_OUT || st == PGRES_COPY_IN || st == PGRES_COPY_BOTH)
			return last; /* the caller streams it */
	}
	if (!last) {
		char m[512];
		snprintf(m, sizeof(m), "%s", PQerrorMessage(c));
		m[strcspn(m, "\n")] = '\0';
		note_error("08006", *m ? m : "no result");
		act_fail(a, "%s: the connection failed: %s", what, *m ? m : "no result");
		return NULL;
	}
	ExecStatusType st = PQresultStatus(last);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		const char *m = PQresultErrorField(last, PG_DIAG_MESSAGE_PRIMARY);
		note_error(PQresultErrorField(last, PG_DIAG_SQLSTATE), m ? m : PQerrorMessage(c));
		if (cancelled) {
			act_fail(a, "%s: cancelled (interrupted or timed out)", what);
		} else {
			char *e = pg_result_error(last, c);
			act_fail(a, "%s: %s", what, e);
			free(e);
		}
		PQclear(last);
		return NULL;
	}
	return last;
}

PGresult *pg_execp(struct act *a, PGconn *c, const char *what, const char *sql, int nparams,
		   const char *const *values)
{
	int ok = values ? PQsendQueryParams(c, sql, nparams, NULL, values, NULL, NULL, 0)
			: PQsendQuery(c, sql);
	if (!ok) {
		char m[512];
		snprintf(m, sizeof(m), "%s", PQerrorMessage(c));
		m[strcspn(m, "\n")] = '\0';
		act_fail(a, "%s: cannot send the query: %s", what, m);
		return NULL;
	}
	return wait_result(a, c, what);
}

PGresult *pg_exec(struct act *a, PGconn *c, const char *what, const char *sql)
{
	return pg_execp(a, c, what, sql, 0, NULL);
}

char *pg_ident(PGconn *c, const char *name)
{
	char *q = PQescapeIdentifier(c, name, strlen(name));
	char *r = xstrdup(q ? q : "\"\"");
	PQfreemem(q);
	return r;
}

char *pg_literal(PGconn *c, const char *value)
{
	char *q = PQescapeLiteral(c, value, strlen(value));
	char *r = xstrdup(q ? q : "''");
	PQfreemem(q);
	return r;
}

static const struct param_spec pg_fields[] = {
	{ .name = "application_name", .type = T_STRING, .def = "drplay", .doc = "shown in pg_stat_activity" },
	{ .name = "bin_dir", .type = T_STRING,
	  .doc = "the directory of the PostgreSQL client tools (pg_dump, pg_restore, psql) for this server, of its major version or newer (default: $DRPLAY_PG_BINDIR, else the newest of /usr/lib/postgresql/N/bin and PATH that is new enough)" },
	{ .name = "connect_timeout", .type = T_DURATION, .def = "10s", .doc = "how long to wait for a connection" },
	{ .name = "dsn", .type = T_STRING, .flags = P_REQUIRED,
	  .doc = "a libpq connection string or URI; one with a password must come from ${secret.NAME}" },
	{ .name = "statement_timeout", .type = T_DURATION, .doc = "server-side limit for each statement" },
	{ .name = NULL },
};

/* The server a dsn points at, "host:port" as libpq reads it (no host: the
 * local socket; no port: 5432), or NULL when it does not parse. */
static char *pg_server_of(json_t *fields)
{
	const char *dsn = json_string_value(json_object_get(fields, "dsn"));
	if (!dsn)
		return NULL;
	char *err = NULL;
	PQconninfoOption *o = PQconninfoParse(dsn, &err);
	PQfreemem(err);
	if (!o)
		return NULL;
	const char *host = NULL, *port = NULL;
	for (PQconninfoOption *x = o; x->keyword; x++) {
		if (!strcmp(x->keyword, "host") && x->val && *x->val)
			host = x->val;
		else if (!strcmp(x->keyword, "hostaddr") && x->val && *x->val && !host)
			host = x->val;
		else if (!strcmp(x->keyword, "port") && x->val && *x->val)
			port = x->val;
	}
	/* localhost and 127.0.0.1 are one server */
	if (host && (!strcmp(host, "localhost") || !strcmp(host, "::1")))
		host = "127.0.0.1";
	char *s = xasprintf("%s:%s", host ? host : "(local socket)", port ? port : "5432");
	PQconninfoFree(o);
	return s;
}

const struct kind_def pg_kind = {
	.name = "postgres",
	.server_of = pg_server_of,
	.fields = pg_fields,
	.doc = "A PostgreSQL database reached through libpq. Connections are opened on first use, reused within the run and closed at its end.",
	.release = pg_release,
};


