/*
 * maint_postgres.c: the maintenance switch's postgres driver: the flag is a
 * row of a table the application reads (name, enabled, message, eta,
 * updated_at), in the database of a postgres resource (libpq, pg.h); the
 * table is created with the first flip unless create_table: false.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maint.h"
#include "pg.h"

struct pgm_state {
	int table_ready;
};

static struct pgm_state *pgm_state(struct mctx *m)
{
	return maint_state(m, sizeof(struct pgm_state));
}

static struct resource *pg_res(struct mctx *m)
{
	return act_resource_named(m->a, res_str(m->r, "database"));
}

static const char *ptable(struct mctx *m)
{
	const char *t = res_str(m->r, "table");
	return t && *t ? t : "drplay_maintenance";
}

static const char *pflag(struct mctx *m)
{
	const char *f = res_str(m->r, "flag");
	return f && *f ? f : m->r->name;
}

/* Classifies a failed libpq call: the server gone is the store down. */
static int pg_fail(struct mctx *m, PGconn *c, struct resource *db, const char *what)
{
	const char *e = act_error(m->a);
	maint_seterr(m, "%s (postgres resource '%s'): %s", what, db ? db->name : "?", e ? e : "failed");
	if (!c || PQstatus(c) != CONNECTION_OK) {
		if (db)
			pg_forget(db, NULL);
		return M_DOWN;
	}
	return M_REFUSED;
}

/* A qualified table name "schema.table" or "table", quoted. */
static char *qtable(PGconn *c, const char *t)
{
	const char *dot = strchr(t, '.');
	if (!dot)
		return pg_ident(c, t);
	char *schema = xstrndup(t, (size_t)(dot - t));
	char *a = pg_ident(c, schema), *b = pg_ident(c, dot + 1);
	char *r = xasprintf("%s.%s", a, b);
	free(schema);
	free(a);
	free(b);
	return r;
}

/* The flag database and the run's connection to it: M_OK, or the failure. */
static int pgm_open(struct mctx *m, struct resource **db, PGconn **c)
{
	*db = pg_res(m);
	if (!*db)
		return pg_fail(m, NULL, NULL, "cannot resolve the flag database");
	*c = pg_connect(m->a, *db);
	if (!*c)
		return pg_fail(m, NULL, *db, "cannot connect to the flag database");
	return M_OK;
}

static int pgm_read(struct mctx *m, struct mflag *f)
{
	struct resource *db;
	PGconn *c;
	int st = pgm_open(m, &db, &c);
	if (st != M_OK)
		return st;
	const char *t = ptable(m);
	const char *v1[] = { t };
	PGresult *res = pg_execp(m->a, c, "looking for the flag table", "SELECT to_regclass($1) IS NOT NULL", 1, v1);
	if (!res)
		return pg_fail(m, c, db, "reading the flag");
	int exists = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	if (!exists) {
		if (res_bool(m->r, "create_table", 1)) {
			f->on = 0; /* never set: the table comes with the first flip */
			return M_OK;
		}
		maint_seterr(m, "the flag table '%s' does not exist in %s; create it or set create_table: true", t,
			     pg_where(db));
		return M_REFUSED;
	}
	char *qt = qtable(c, t);
	char *sql = xasprintf("SELECT enabled, message, eta FROM %s WHERE name = $1", qt);
	free(qt);
	const char *v2[] = { pflag(m) };
	res = pg_execp(m->a, c, "reading the flag row", sql, 1, v2);
	free(sql);
	if (!res)
		return pg_fail(m, c, db, "reading the flag");
	f->on = PQntuples(res) > 0 && PQgetvalue(res, 0, 0)[0] == 't';
	if (PQntuples(res) > 0) {
		if (!PQgetisnull(res, 0, 1))
			f->message = xstrdup(PQgetvalue(res, 0, 1));
		if (!PQgetisnull(res, 0, 2))
			f->eta = xstrdup(PQgetvalue(res, 0, 2));
	}
	PQclear(res);
	return M_OK;
}

static int pgm_write(struct mctx *m, const struct mflag *f)
{
	struct resource *db;
	PGconn *c;
	int st = pgm_open(m, &db, &c);
	if (st != M_OK)
		return st;
	char *qt = qtable(c, ptable(m));
	if (!pgm_state(m)->table_ready && res_bool(m->r, "create_table", 1)) {
		char *ddl = xasprintf("CREATE TABLE IF NOT EXISTS %s (name text PRIMARY KEY, enabled boolean NOT NULL DEFAULT false, "
				      "message text, eta text, updated_at timestamptz NOT NULL DEFAULT now())",
				      qt);
		PGresult *res = pg_exec(m->a, c, "creating the flag table", ddl);
		free(ddl);
		if (!res) {
			free(qt);
			return pg_fail(m, c, db, "creating the flag table");
		}
		PQclear(res);
		pgm_state(m)->table_ready = 1;
	}
	char *sql = xasprintf("INSERT INTO %s (name, enabled, message, eta, updated_at) VALUES ($1, $2, $3, $4, now()) "
			      "ON CONFLICT (name) DO UPDATE SET enabled = EXCLUDED.enabled, message = EXCLUDED.message, "
			      "eta = EXCLUDED.eta, updated_at = now()",
			      qt);
	free(qt);
	const char *v[] = { pflag(m), f->on ? "true" : "false", f->message ? f->message : "",
			    f->eta && *f->eta ? f->eta : NULL };
	PGresult *res = pg_execp(m->a, c, "writing the flag row", sql, 4, v);
	free(sql);
	if (!res)
		return pg_fail(m, c, db, "writing the flag");
	PQclear(res);
	return M_OK;
}

static const char *pgm_where(struct mctx *m)
{
	static char buf[400];
	struct resource *db = pg_res(m);
	snprintf(buf, sizeof(buf), "table %s row '%s' in %s", ptable(m), pflag(m), db ? pg_where(db) : "?");
	return buf;
}

static const struct param_spec pgm_fields[] = {
	{ .name = "create_table", .type = T_BOOL, .def = "true", .doc = "create the flag table if it is missing" },
	{ .name = "database", .type = T_RESOURCE, .flags = P_REQUIRED, .kind = "postgres",
	  .doc = "the database holding the flag table" },
	{ .name = "flag", .type = T_STRING, .doc = "the flag row's name (default: the resource name)" },
	{ .name = "table", .type = T_STRING, .def = "drplay_maintenance",
	  .doc = "the flag table (name text primary key, enabled boolean, message text, eta text, updated_at timestamptz)" },
	{ .name = NULL },
};

static const struct maint_ops pgm_ops = {
	.read = pgm_read,
	.write = pgm_write,
	.where = pgm_where,
};

static const struct driver_def maint_postgres_driver = {
	.kind = MAINT_KIND,
	.name = "postgres",
	.doc = "a flag row in a table the application reads (libpq)",
	.fields = pgm_fields,
	.ops = &pgm_ops,
};
DRIVER_REGISTER(maint_postgres_driver)
