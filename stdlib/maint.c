/*
 * maint.c: the `maintenance` resource kind (a switch the application reads on
 * every request, flipped without a deploy) and maintenance.on / .off /
 * .status, with four drivers:
 *   http      an edge-config style JSON API: GET returns the flag, PATCH/PUT
 *             (or POST) writes it; URL, method, headers and body shape are
 *             fields; a bearer token comes from a secret (libcurl, jsonhttp.c)
 *   redis     a key on a Redis server (hiredis)
 *   postgres  a flag row in a table the application reads (libpq, pg.h)
 *   file      a JSON file, replaced atomically
 * on/off write the flag, then read it back until the change is visible or
 * the resource's confirm_timeout passes, and output the measured flip time.
 *
 * `fail: open|closed` is declared by the playbook (never defaulted): it is
 * what the APPLICATION does when it cannot read the flag. drplay cannot
 * change it; it states it in every output and, when the store is down or
 * answers garbage, fails the step and says what the application is doing
 * meanwhile: closed = it shows maintenance (writes gated), open = it serves
 * traffic and writes are NOT gated.
 */
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "family.h"
#include "jsonhttp.h"
#include "stepctx.h"
#include "pg.h"
#include "credential.h"
#include "text.h"

/* Outcome of a driver call. */
enum { M_OK = 0, M_DOWN = 1, M_REFUSED = 2 };

struct mflag {
	int on;
	char *message;
	char *eta;
};

/* Per-run state of one switch, kept on the resource (connections reused by
 * the steps of a run) and released with it. */
struct mhandle {
	struct jh_client http;
	redisContext *redis;
	int table_ready;
};

struct mctx {
	struct act *a;
	struct libctx lc;     /* for the http driver's requests (never fails through it) */
	struct resource *r;
	struct mhandle *h;
	const char *driver;
	long req_timeout_ms;
	char err[900];
};

static void mflag_release(struct mflag *f)
{
	free(f->message);
	free(f->eta);
	f->message = f->eta = NULL;
}

static void mhandle_release(void *p)
{
	struct mhandle *h = p;
	if (!h)
		return;
	jh_client_release(&h->http);
	if (h->redis)
		redisFree(h->redis);
	free(h);
}

static void seterr(struct mctx *m, const char *fmt, ...) PRINTF_LIKE(2, 3);
static void seterr(struct mctx *m, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(m->err, sizeof(m->err), fmt, ap);
	va_end(ap);
	for (char *p = m->err; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
}

static const char *fkey(struct mctx *m)
{
	const char *k = res_str(m->r, "flag_key");
	return k && *k ? k : "maintenanceMode";
}

/* Interprets a stored value as the flag: booleans, 0/1, and the words
 * true/false, on/off, yes/no, 1/0. Returns 1/0, or -1 when it is none. */
static int flag_value(json_t *v)
{
	if (json_is_boolean(v))
		return json_is_true(v);
	if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1))
		return (int)json_integer_value(v);
	if (json_is_null(v) || !v)
		return 0;
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		static const char *const yes[] = { "true", "on", "yes", "1", NULL };
		static const char *const no[] = { "false", "off", "no", "0", "", NULL };
		for (size_t i = 0; yes[i]; i++)
			if (!strcasecmp(s, yes[i]))
				return 1;
		for (size_t i = 0; no[i]; i++)
			if (!strcasecmp(s, no[i]))
				return 0;
	}
	return -1;
}

/* The flag document the json-speaking drivers store: {flag_key: bool,
 * message_key: text, eta_key: text or null}. */
static json_t *flag_doc(struct mctx *m, const struct mflag *f)
{
	const char *mk = res_str(m->r, "message_key"), *ek = res_str(m->r, "eta_key");
	json_t *o = json_object();
	json_object_set_new(o, fkey(m), json_boolean(f->on));
	json_object_set_new(o, mk && *mk ? mk : "message", json_string(f->message ? f->message : ""));
	json_object_set_new(o, ek && *ek ? ek : "eta", f->eta && *f->eta ? json_string(f->eta) : json_null());
	return o;
}

/* Reads a flag document (object) into f. Returns M_OK or M_DOWN (garbage). */
static int parse_doc(struct mctx *m, json_t *doc, const char *what, struct mflag *f)
{
	if (!json_is_object(doc)) {
		seterr(m, "%s is not a JSON object", what);
		return M_DOWN;
	}
	int v = flag_value(json_object_get(doc, fkey(m)));
	if (v < 0) {
		seterr(m, "%s has no boolean '%s'", what, fkey(m));
		return M_DOWN;
	}
	f->on = v;
	const char *mk = res_str(m->r, "message_key"), *ek = res_str(m->r, "eta_key");
	const char *ms = json_string_value(json_object_get(doc, mk && *mk ? mk : "message"));
	const char *es = json_string_value(json_object_get(doc, ek && *ek ? ek : "eta"));
	f->message = ms ? xstrdup(ms) : NULL;
	f->eta = es ? xstrdup(es) : NULL;
	return M_OK;
}

/* ---- http ---- */

static char **http_headers(struct mctx *m)
{
	json_t *hm = json_object_get(m->r->fields, "headers");
	size_t n = json_object_size(hm);
	char **h = xcalloc(n + 1, sizeof(*h));
	size_t k = 0;
	const char *key;
	json_t *v;
	json_object_foreach(hm, key, v)
	{
		char *num = json_is_string(v) ? NULL : json_dumps(v, JSON_ENCODE_ANY);
		h[k++] = xasprintf("%s: %s", key, num ? num : json_string_value(v));
		free(num);
	}
	return h;
}

static void free_headers(char **h)
{
	for (size_t i = 0; h && h[i]; i++)
		free_secret(h[i]);
	free(h);
}

/* Follows a dotted path ("a.b") into a document; "" is the document. */
static json_t *json_path(json_t *doc, const char *path)
{
	if (!path || !*path)
		return doc;
	char *p = xstrdup(path);
	json_t *cur = doc;
	char *save = NULL;
	for (char *tok = strtok_r(p, ".", &save); tok && cur; tok = strtok_r(NULL, ".", &save))
		cur = json_is_object(cur) ? json_object_get(cur, tok) : NULL;
	free(p);
	return cur;
}

static int http_status_class(struct mctx *m, const struct jh_resp *rs, const char *what)
{
	if (rs->status >= 200 && rs->status < 300)
		return M_OK;
	seterr(m, "%s answered %s", what, jh_describe(rs));
	return rs->status >= 500 || rs->status == 429 ? M_DOWN : M_REFUSED;
}

static int http_read(struct mctx *m, struct mflag *f)
{
	const char *url = res_str(m->r, "read_url");
	if (!url || !*url)
		url = res_str(m->r, "url");
	char **hd = http_headers(m);
	struct jh_resp rs;
	int rc = jh_request(&m->lc, &m->h->http, "GET", url, (const char *const *)hd, res_str(m->r, "token"), NULL,
			    m->req_timeout_ms, &rs);
	free_headers(hd);
	if (rc != 0) {
		seterr(m, "GET %s: %s", url, rs.err);
		jh_resp_release(&rs);
		return M_DOWN;
	}
	char what[300];
	snprintf(what, sizeof(what), "GET %s", url);
	int st = http_status_class(m, &rs, what);
	if (st != M_OK) {
		jh_resp_release(&rs);
		return st;
	}
	if (!rs.json) {
		char first[120];
		snprintf(first, sizeof(first), "%s", rs.body ? rs.body : "");
		first[strcspn(first, "\r\n")] = '\0';
		seterr(m, "GET %s answered something that is not JSON (%.100s)", url, first);
		jh_resp_release(&rs);
		return M_DOWN;
	}
	const char *rk = res_str(m->r, "read_key");
	if (!rk)
		rk = fkey(m);
	json_t *v = json_path(rs.json, rk);
	int on = v ? flag_value(v) : -1;
	if (on < 0) {
		seterr(m, "GET %s answered JSON without a boolean at '%s'", url, *rk ? rk : "(the document)");
		jh_resp_release(&rs);
		return M_DOWN;
	}
	f->on = on;
	if (json_is_object(rs.json) && !strchr(rk, '.') && *rk) {
		const char *mk = res_str(m->r, "message_key"), *ek = res_str(m->r, "eta_key");
		const char *ms = json_string_value(json_object_get(rs.json, mk && *mk ? mk : "message"));
		const char *es = json_string_value(json_object_get(rs.json, ek && *ek ? ek : "eta"));
		f->message = ms ? xstrdup(ms) : NULL;
		f->eta = es ? xstrdup(es) : NULL;
	}
	jh_resp_release(&rs);
	return M_OK;
}

/* Fills the body template: the strings "$on", "$message", "$eta" and
 * "$state" are replaced by the flag (boolean), message, ETA (or null) and
 * "on"/"off"; everything else is kept. */
static json_t *fill_template(json_t *t, const struct mflag *f)
{
	if (json_is_string(t)) {
		const char *s = json_string_value(t);
		if (!strcmp(s, "$on"))
			return json_boolean(f->on);
		if (!strcmp(s, "$state"))
			return json_string(f->on ? "on" : "off");
		if (!strcmp(s, "$message"))
			return json_string(f->message ? f->message : "");
		if (!strcmp(s, "$eta"))
			return f->eta && *f->eta ? json_string(f->eta) : json_null();
		return json_incref(t);
	}
	if (json_is_object(t)) {
		json_t *o = json_object();
		const char *k;
		json_t *v;
		json_object_foreach(t, k, v) json_object_set_new(o, k, fill_template(v, f));
		return o;
	}
	if (json_is_array(t)) {
		json_t *o = json_array();
		size_t i;
		json_t *v;
		json_array_foreach(t, i, v) json_array_append_new(o, fill_template(v, f));
		return o;
	}
	return json_incref(t);
}

static int http_write(struct mctx *m, const struct mflag *f)
{
	const char *url = res_str(m->r, "url");
	const char *method = res_str(m->r, "method");
	if (!method)
		method = "PATCH";
	json_t *tmpl = json_object_get(m->r->fields, "body");
	json_t *doc = tmpl ? fill_template(tmpl, f) : flag_doc(m, f);
	char *body = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(doc);
	char **hd = http_headers(m);
	struct jh_resp rs;
	int rc = jh_request(&m->lc, &m->h->http, method, url, (const char *const *)hd, res_str(m->r, "token"), body,
			    m->req_timeout_ms, &rs);
	free_headers(hd);
	free(body);
	if (rc != 0) {
		seterr(m, "%s %s: %s", method, url, rs.err);
		jh_resp_release(&rs);
		return M_DOWN;
	}
	char what[300];
	snprintf(what, sizeof(what), "%s %s", method, url);
	int st = http_status_class(m, &rs, what);
	jh_resp_release(&rs);
	return st;
}

static const char *http_where(struct mctx *m)
{
	return res_str(m->r, "url");
}

/* ---- redis ---- */

struct redis_url {
	char host[256];
	int port;
	int db;
	char user[128];
	char *password;
};

/* Parses redis://[[user]:password@]host[:port][/db]. Returns 0 or -1. */
static int parse_redis_url(const char *url, struct redis_url *u)
{
	memset(u, 0, sizeof(*u));
	u->port = 6379;
	if (strncmp(url, "redis://", 8) != 0)
		return -1;
	const char *p = url + 8;
	const char *at = strrchr(p, '@');
	if (at) {
		const char *colon = memchr(p, ':', (size_t)(at - p));
		if (colon) {
			snprintf(u->user, sizeof(u->user), "%.*s", (int)(colon - p), p);
			u->password = xstrndup(colon + 1, (size_t)(at - colon - 1));
		} else {
			snprintf(u->user, sizeof(u->user), "%.*s", (int)(at - p), p);
		}
		p = at + 1;
	}
	size_t hl = strcspn(p, ":/");
	if (hl == 0 || hl >= sizeof(u->host))
		return -1;
	snprintf(u->host, sizeof(u->host), "%.*s", (int)hl, p);
	p += hl;
	if (*p == ':') {
		char *end;
		long port = strtol(p + 1, &end, 10);
		if (port <= 0 || port > 65535)
			return -1;
		u->port = (int)port;
		p = end;
	}
	if (*p == '/' && p[1]) {
		char *end;
		long db = strtol(p + 1, &end, 10);
		if (db < 0 || *end)
			return -1;
		u->db = (int)db;
	}
	return 0;
}

static void redis_drop(struct mctx *m)
{
	if (m->h->redis)
		redisFree(m->h->redis);
	m->h->redis = NULL;
}

static redisReply *redis_cmd(struct mctx *m, int *st, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	redisReply *rep = redisvCommand(m->h->redis, fmt, ap);
	va_end(ap);
	if (!rep) {
		seterr(m, "redis at %s: %s", res_str(m->r, "url"), m->h->redis->errstr[0] ? m->h->redis->errstr : "no reply");
		redis_drop(m);
		*st = M_DOWN;
		return NULL;
	}
	if (rep->type == REDIS_REPLY_ERROR) {
		seterr(m, "redis at %s refused: %s", res_str(m->r, "url"), rep->str);
		freeReplyObject(rep);
		*st = M_REFUSED;
		return NULL;
	}
	*st = M_OK;
	return rep;
}

static int redis_open(struct mctx *m)
{
	if (m->h->redis)
		return M_OK;
	struct redis_url u;
	const char *url = res_str(m->r, "url");
	if (parse_redis_url(url, &u) != 0) {
		free_secret(u.password);
		seterr(m, "redis url '%s' is not redis://[user:password@]host[:port][/db]", url);
		return M_REFUSED;
	}
	if (u.password)
		act_secret(m->a, u.password);
	const char *pw = res_str(m->r, "password");
	if (pw && *pw) {
		free_secret(u.password);
		u.password = xstrdup(pw);
	}
	struct timeval tv = { m->req_timeout_ms / 1000, (m->req_timeout_ms % 1000) * 1000 };
	redisContext *c = redisConnectWithTimeout(u.host, u.port, tv);
	if (!c || c->err) {
		seterr(m, "cannot connect to redis at %s:%d: %s", u.host, u.port, c ? c->errstr : "out of memory");
		if (c)
			redisFree(c);
		free_secret(u.password);
		return M_DOWN;
	}
	redisSetTimeout(c, tv);
	m->h->redis = c;
	int st = M_OK;
	redisReply *rep = NULL;
	if (u.password && *u.user)
		rep = redis_cmd(m, &st, "AUTH %s %s", u.user, u.password);
	else if (u.password)
		rep = redis_cmd(m, &st, "AUTH %s", u.password);
	free_secret(u.password);
	if (rep)
		freeReplyObject(rep);
	if (st == M_OK && u.db) {
		rep = redis_cmd(m, &st, "SELECT %d", u.db);
		if (rep)
			freeReplyObject(rep);
	}
	if (st != M_OK)
		redis_drop(m);
	return st;
}

static const char *rkey(struct mctx *m)
{
	const char *k = res_str(m->r, "key");
	return k && *k ? k : "maintenance";
}

static int redis_plain(struct mctx *m)
{
	const char *f = res_str(m->r, "format");
	return f && !strcmp(f, "plain");
}

static int redis_read(struct mctx *m, struct mflag *f)
{
	int st = redis_open(m);
	if (st != M_OK)
		return st;
	const char *k = rkey(m);
	if (redis_plain(m)) {
		char *km = xasprintf("%s:message", k), *ke = xasprintf("%s:eta", k);
		redisReply *rep = redis_cmd(m, &st, "MGET %s %s %s", k, km, ke);
		free(km);
		free(ke);
		if (!rep)
			return st;
		if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 3) {
			freeReplyObject(rep);
			seterr(m, "redis answered MGET with something other than 3 values");
			return M_DOWN;
		}
		redisReply *v = rep->element[0];
		json_t *j = v->type == REDIS_REPLY_STRING ? json_stringn(v->str, v->len) : json_null();
		int on = flag_value(j ? j : json_null());
		json_decref(j);
		if (on < 0) {
			seterr(m, "redis key '%s' holds '%.60s', which is not a flag (1/0, true/false, on/off)", k,
			       v->str ? v->str : "");
			freeReplyObject(rep);
			return M_DOWN;
		}
		f->on = on;
		if (rep->element[1]->type == REDIS_REPLY_STRING)
			f->message = xstrndup(rep->element[1]->str, rep->element[1]->len);
		if (rep->element[2]->type == REDIS_REPLY_STRING)
			f->eta = xstrndup(rep->element[2]->str, rep->element[2]->len);
		freeReplyObject(rep);
		return M_OK;
	}
	redisReply *rep = redis_cmd(m, &st, "GET %s", k);
	if (!rep)
		return st;
	if (rep->type == REDIS_REPLY_NIL) {
		freeReplyObject(rep);
		f->on = 0;
		return M_OK;
	}
	if (rep->type != REDIS_REPLY_STRING) {
		freeReplyObject(rep);
		seterr(m, "redis key '%s' is not a string", k);
		return M_DOWN;
	}
	json_error_t je;
	json_t *doc = json_loadb(rep->str, rep->len, 0, &je);
	if (!doc) {
		seterr(m, "redis key '%s' holds something that is not JSON (%.60s); set format: plain for 1/0 values", k,
		       rep->str);
		freeReplyObject(rep);
		return M_DOWN;
	}
	freeReplyObject(rep);
	char what[200];
	snprintf(what, sizeof(what), "redis key '%s'", k);
	st = parse_doc(m, doc, what, f);
	json_decref(doc);
	return st;
}

static int redis_write(struct mctx *m, const struct mflag *f)
{
	int st = redis_open(m);
	if (st != M_OK)
		return st;
	const char *k = rkey(m);
	redisReply *rep;
	if (redis_plain(m)) {
		char *km = xasprintf("%s:message", k), *ke = xasprintf("%s:eta", k);
		rep = redis_cmd(m, &st, "MSET %s %s %s %s %s %s", k, f->on ? "1" : "0", km, f->message ? f->message : "",
				ke, f->eta ? f->eta : "");
		free(km);
		free(ke);
	} else {
		json_t *doc = flag_doc(m, f);
		char *s = json_dumps(doc, JSON_COMPACT);
		json_decref(doc);
		rep = redis_cmd(m, &st, "SET %s %s", k, s);
		free(s);
	}
	if (rep)
		freeReplyObject(rep);
	return st;
}

static const char *redis_where(struct mctx *m)
{
	static char buf[400];
	snprintf(buf, sizeof(buf), "%s key %s", res_str(m->r, "url"), rkey(m));
	return buf;
}

/* ---- postgres ---- */

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
	seterr(m, "%s (postgres resource '%s'): %s", what, db ? db->name : "?", e ? e : "failed");
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

static int pgm_read(struct mctx *m, struct mflag *f)
{
	struct resource *db = pg_res(m);
	if (!db)
		return pg_fail(m, NULL, NULL, "cannot resolve the flag database");
	PGconn *c = pg_connect(m->a, db);
	if (!c)
		return pg_fail(m, NULL, db, "cannot connect to the flag database");
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
		seterr(m, "the flag table '%s' does not exist in %s; create it or set create_table: true", t,
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
	struct resource *db = pg_res(m);
	if (!db)
		return pg_fail(m, NULL, NULL, "cannot resolve the flag database");
	PGconn *c = pg_connect(m->a, db);
	if (!c)
		return pg_fail(m, NULL, db, "cannot connect to the flag database");
	char *qt = qtable(c, ptable(m));
	if (!m->h->table_ready && res_bool(m->r, "create_table", 1)) {
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
		m->h->table_ready = 1;
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

/* ---- file ---- */

static int file_read(struct mctx *m, struct mflag *f)
{
	const char *path = res_str(m->r, "path");
	char *text = NULL;
	size_t len = 0;
	if (read_file(path, 1 << 20, &text, &len) != 0) {
		if (errno == ENOENT) {
			char *dir = xstrdup(path);
			struct stat st;
			int dir_ok = stat(dirname(dir), &st) == 0 && S_ISDIR(st.st_mode);
			free(dir);
			if (dir_ok) {
				f->on = 0; /* never set */
				return M_OK;
			}
		}
		seterr(m, "cannot read the flag file '%s': %s", path, strerror(errno));
		return M_DOWN;
	}
	json_error_t je;
	json_t *doc = json_loadb(text, len, 0, &je);
	free(text);
	if (!doc) {
		seterr(m, "the flag file '%s' is not JSON (line %d: %s)", path, je.line, je.text);
		return M_DOWN;
	}
	char what[600];
	snprintf(what, sizeof(what), "the flag file '%s'", path);
	int st = parse_doc(m, doc, what, f);
	json_decref(doc);
	return st;
}

/* Replaces the file atomically: a temporary beside it, fsync, rename, fsync
 * of the directory, so a reader sees the old or the new flag, never half. */
static int file_write(struct mctx *m, const struct mflag *f)
{
	const char *path = res_str(m->r, "path");
	json_t *doc = flag_doc(m, f);
	char *s = json_dumps(doc, JSON_INDENT(2));
	json_decref(doc);
	char *tmp = xasprintf("%s.drplay-%ld.tmp", path, (long)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int rc = M_OK;
	if (fd < 0 || write_all(fd, s, strlen(s)) != 0 || write_all(fd, "\n", 1) != 0 || fsync(fd) != 0) {
		seterr(m, "cannot write the flag file '%s': %s", tmp, strerror(errno));
		rc = M_DOWN;
	}
	if (fd >= 0)
		close(fd);
	if (rc == M_OK && rename(tmp, path) != 0) {
		seterr(m, "cannot replace the flag file '%s': %s", path, strerror(errno));
		rc = M_DOWN;
	}
	if (rc != M_OK)
		unlink(tmp);
	else {
		char *d = xstrdup(path);
		int dfd = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
		free(d);
	}
	free(tmp);
	free(s);
	return rc;
}

static const char *file_where(struct mctx *m)
{
	return res_str(m->r, "path");
}

/* ---- drivers ---- */

struct mdriver {
	const char *name;
	int (*read)(struct mctx *m, struct mflag *f);
	int (*write)(struct mctx *m, const struct mflag *f);
	const char *(*where)(struct mctx *m);
	const char *const *fields; /* the fields only this driver takes */
	const char *required;      /* the field it cannot do without */
};

static const char *const http_only[] = { "url", "read_url", "method", "headers", "token", "body", "read_key", NULL };
static const char *const redis_only[] = { "url", "password", "key", "format", NULL };
static const char *const pg_only[] = { "database", "table", "flag", "create_table", NULL };
static const char *const file_only[] = { "path", NULL };

static const struct mdriver drivers[] = {
	{ "file", file_read, file_write, file_where, file_only, "path" },
	{ "http", http_read, http_write, http_where, http_only, "url" },
	{ "postgres", pgm_read, pgm_write, pgm_where, pg_only, "database" },
	{ "redis", redis_read, redis_write, redis_where, redis_only, "url" },
};

static const struct mdriver *find_driver(const char *name)
{
	for (size_t i = 0; name && i < ARRAY_SIZE(drivers); i++)
		if (!strcmp(drivers[i].name, name))
			return &drivers[i];
	return NULL;
}

/* ---- the actions ---- */

static int setup(struct act *a, struct mctx *m, const struct mdriver **d)
{
	memset(m, 0, sizeof(*m));
	m->a = a;
	m->lc = stepctx(a);
	m->r = act_resource(a, "switch");
	if (!m->r)
		return -1;
	m->driver = res_str(m->r, "driver");
	*d = find_driver(m->driver);
	if (!*d) {
		act_fail(a, "maintenance switch '%s' has driver '%s', which is not one of http, redis, postgres, file",
			 m->r->name, m->driver ? m->driver : "");
		return -1;
	}
	m->h = res_handle(m->r);
	if (!m->h) {
		m->h = xcalloc(1, sizeof(*m->h));
		res_set_handle(m->r, m->h);
	}
	m->req_timeout_ms = (long)(res_duration_us(m->r, "request_timeout", 5000000) / 1000);
	if (m->req_timeout_ms < 1)
		m->req_timeout_ms = 1;
	const char *tok = res_str(m->r, "token");
	if (tok && *tok)
		act_secret(a, tok);
	return 0;
}

static const char *fail_mode(struct mctx *m)
{
	const char *f = res_str(m->r, "fail");
	return f ? f : "closed";
}

static int fail_open(struct mctx *m)
{
	return !strcmp(fail_mode(m), "open");
}

/* What the application does while the store cannot be read. */
static const char *down_effect(struct mctx *m)
{
	return fail_open(m) ? "fail: open: the application SERVES TRAFFIC and writes are NOT gated while it cannot read the flag"
			    : "fail: closed: the application shows maintenance (writes gated) while it cannot read the flag";
}

static void out_common(struct act *a, struct mctx *m, const struct mdriver *d)
{
	act_out_str(a, "fail_mode", fail_mode(m));
	act_out_str(a, "driver", d->name);
	act_out_str(a, "store", d->where(m));
}

/* The store cannot be read (down, or garbage): say what the application is
 * doing meanwhile, loudly, in the output, the log, the journal and the
 * error. */
static int store_down(struct act *a, struct mctx *m, const struct mdriver *d, const char *doing)
{
	char err[900];
	snprintf(err, sizeof(err), "%s", m->err);
	act_out_str(a, "state", "unknown");
	act_out_str(a, "effective", fail_open(m) ? "serving traffic, writes NOT gated (store down, fail: open)"
						 : "maintenance shown, writes gated (store down, fail: closed)");
	act_log(a, "%sflag store of switch '%s' (%s) cannot be read: %s", fail_open(m) ? "WARNING: " : "",
		m->r->name, d->name, err);
	act_log(a, "%s%s", fail_open(m) ? "WARNING: " : "", down_effect(m));
	json_t *f = json_object();
	json_object_set_new(f, "resource", json_string(m->r->name));
	json_object_set_new(f, "state", json_string(fail_open(m) ? "store down: fail open: application serving, writes NOT gated"
								 : "store down: fail closed: application gated"));
	json_object_set_new(f, "fail_mode", json_string(fail_mode(m)));
	json_object_set_new(f, "message", json_text(err));
	act_journal(a, "maintenance_store_down", f);
	const char *then;
	if (!strcmp(doing, "status"))
		then = "";
	else if (fail_open(m))
		then = !strcmp(doing, "on")
			       ? "; WRITES ARE NOT GATED: do not restore now; fix the store (or freeze writes in the database, e.g. pg.freeze), then turn maintenance on again"
			       : "; the flag still says ON, so the site goes back into maintenance when the store returns: run maintenance off again then";
	else
		then = !strcmp(doing, "on")
			       ? "; the flag itself is NOT set: when the store returns the site reopens, so fix the store and turn maintenance on again before restoring"
			       : "; the site stays in maintenance until the store returns and maintenance is turned off again";
	return act_fail(a, "cannot %s maintenance switch '%s': the flag store (%s, %s) cannot be read: %s; %s%s",
			!strcmp(doing, "status") ? "read" : !strcmp(doing, "on") ? "turn on" : "turn off", m->r->name,
			d->name, d->where(m), err, down_effect(m), then);
}

static int refused(struct act *a, struct mctx *m, const struct mdriver *d, const char *doing)
{
	return act_fail(a, "cannot %s maintenance switch '%s': %s; check the switch's %s settings and credentials",
			doing, m->r->name, m->err, d->name);
}

static int do_status(struct act *a)
{
	struct mctx m;
	const struct mdriver *d;
	if (setup(a, &m, &d) != 0)
		return ACT_FAIL;
	out_common(a, &m, d);
	struct mflag f = { 0 };
	int st = d->read(&m, &f);
	if (st == M_DOWN)
		return store_down(a, &m, d, "status");
	if (st != M_OK)
		return refused(a, &m, d, "read");
	act_out_str(a, "state", f.on ? "on" : "off");
	act_out_str(a, "effective", f.on ? "maintenance shown, writes gated" : "serving traffic");
	act_out_str(a, "message", f.message ? f.message : "");
	act_out_str(a, "eta", f.eta ? f.eta : "");
	act_log(a, "switch '%s' (%s, fail: %s) is %s%s%s%s%s", m.r->name, d->name, fail_mode(&m), f.on ? "ON" : "OFF",
		f.message && *f.message ? ": " : "", f.message ? f.message : "", f.eta && *f.eta ? ", ETA " : "",
		f.eta ? f.eta : "");
	mflag_release(&f);
	return ACT_OK;
}

static int flip(struct act *a, int on)
{
	struct mctx m;
	const struct mdriver *d;
	const char *doing = on ? "on" : "off";
	if (setup(a, &m, &d) != 0)
		return ACT_FAIL;
	out_common(a, &m, d);
	struct mflag prev = { 0 };
	int st = d->read(&m, &prev);
	if (st == M_DOWN)
		return store_down(a, &m, d, doing);
	if (st != M_OK)
		return refused(a, &m, d, "read");
	act_out_str(a, "previous", prev.on ? "on" : "off");
	mflag_release(&prev);
	struct mflag want = { 0 };
	want.on = on;
	if (on) {
		const char *msg = act_str(a, "message");
		const char *eta = act_str(a, "eta");
		want.message = xstrdup(msg ? msg : res_str(m.r, "message") ? res_str(m.r, "message") : "");
		want.eta = eta ? xstrdup(eta) : res_str(m.r, "eta") ? xstrdup(res_str(m.r, "eta")) : NULL;
	}
	int64_t t0 = mono_us();
	st = d->write(&m, &want);
	int64_t t_written = mono_us();
	if (st == M_DOWN) {
		mflag_release(&want);
		return store_down(a, &m, d, doing);
	}
	if (st != M_OK) {
		mflag_release(&want);
		return refused(a, &m, d, on ? "turn on" : "turn off");
	}
	/* Read back until the change is visible or the deadline passes. */
	int64_t limit = res_duration_us(m.r, "confirm_timeout", 10000000);
	int64_t deadline = t0 + limit;
	int64_t wait = 2000;
	int reads = 0;
	int seen = -1;
	for (;;) {
		struct mflag got = { 0 };
		st = d->read(&m, &got);
		reads++;
		if (st == M_DOWN) {
			mflag_release(&want);
			return store_down(a, &m, d, doing);
		}
		if (st != M_OK) {
			mflag_release(&want);
			return refused(a, &m, d, "read back");
		}
		seen = got.on;
		mflag_release(&got);
		if (seen == on)
			break;
		if (mono_us() + wait > deadline || act_cancelled(a)) {
			mflag_release(&want);
			char lim[32];
			act_out_int(a, "reads", reads);
			return act_fail(a, "maintenance switch '%s' (%s, %s): the flag was written but %d read%s in %s still show it %s; the store may be slow to propagate or another writer changed it back; check %s, then run maintenance %s again (raise confirm_timeout if the store is known to be slow)",
					m.r->name, d->name, d->where(&m), reads, reads == 1 ? "" : "s",
					fmt_duration(limit, lim, sizeof(lim)), seen ? "ON" : "OFF", d->where(&m), doing);
		}
		if (act_sleep(a, wait) != 0)
			continue;
		if (wait < 50000)
			wait *= 2;
	}
	int64_t t1 = mono_us();
	double ms = (double)(t1 - t0) / 1000.0;
	act_out_str(a, "state", doing);
	act_out(a, "flip_ms", json_real(ms));
	act_out_dur(a, "flip_time", t1 - t0);
	act_out(a, "write_ms", json_real((double)(t_written - t0) / 1000.0));
	act_out_int(a, "reads", reads);
	/* Rounded up to the second: everything the application wrote before
	 * the freeze is at or before it (a restore `to:` it loses nothing). */
	act_out_time(a, "confirmed_at", (now_us() / 1000000 + 1) * 1000000);
	act_out_str(a, "effective", on ? "maintenance shown, writes gated" : "serving traffic");
	act_out_str(a, "message", want.message ? want.message : "");
	act_out_str(a, "eta", want.eta ? want.eta : "");
	act_log(a, "switch '%s' (%s, fail: %s) is %s, confirmed by reading it back after %.1f ms (%d read%s)", m.r->name,
		d->name, fail_mode(&m), on ? "ON" : "OFF", ms, reads, reads == 1 ? "" : "s");
	json_t *j = json_object();
	json_object_set_new(j, "resource", json_string(m.r->name));
	json_object_set_new(j, "state", json_string(on ? "maintenance on" : "maintenance off"));
	json_object_set_new(j, "flip_ms", json_real(ms));
	json_object_set_new(j, "fail_mode", json_string(fail_mode(&m)));
	json_object_set_new(j, "driver", json_string(d->name));
	act_journal(a, "maintenance_changed", j);
	mflag_release(&want);
	return ACT_OK;
}

static int do_on(struct act *a)
{
	return flip(a, 1);
}

static int do_off(struct act *a)
{
	return flip(a, 0);
}

/* Static checks of a maintenance resource: the driver's required field is
 * there, and no field of another driver is given. */
static int maint_check(const struct argq *q)
{
	int absent = 0;
	const char *dn = argq_str(q, "driver", &absent);
	const struct mdriver *d = find_driver(dn);
	if (!d)
		return 0; /* unknown or templated: the allowed list / run time say so */
	int errs = 0;
	argq_str(q, d->required, &absent);
	if (absent) {
		argq_error(q, "driver", "the %s driver needs the field '%s'", d->name, d->required);
		errs++;
	}
	for (size_t i = 0; i < ARRAY_SIZE(drivers); i++) {
		if (&drivers[i] == d)
			continue;
		for (const char *const *f = drivers[i].fields; *f; f++) {
			int mine = 0;
			for (const char *const *g = d->fields; *g; g++)
				mine |= !strcmp(*f, *g);
			if (mine)
				continue;
			argq_str(q, *f, &absent);
			if (!absent) {
				argq_error(q, *f, "field '%s' belongs to the %s driver, and this switch uses the %s driver; remove it",
					   *f, drivers[i].name, d->name);
				errs++;
			}
		}
	}
	return errs;
}

static const char *const maint_drivers[] = { "http", "redis", "postgres", "file", NULL };
static const char *const fail_modes[] = { "open", "closed", NULL };
static const char *const http_methods[] = { "PATCH", "PUT", "POST", NULL };
static const char *const redis_formats[] = { "json", "plain", NULL };

static const struct param_spec maint_fields[] = {
	{ .name = "body", .type = T_ANY,
	  .doc = "http: the JSON body template; the strings \"$on\", \"$message\", \"$eta\", \"$state\" are replaced (default {flag_key: $on, message_key: $message, eta_key: $eta})" },
	{ .name = "confirm_timeout", .type = T_DURATION, .def = "10s",
	  .doc = "how long on/off read the flag back waiting for the change" },
	{ .name = "create_table", .type = T_BOOL, .def = "true",
	  .doc = "postgres: create the flag table if it is missing" },
	{ .name = "database", .type = T_RESOURCE, .kind = "postgres",
	  .doc = "postgres: the database holding the flag table" },
	{ .name = "driver", .type = T_STRING, .flags = P_REQUIRED, .allowed = maint_drivers,
	  .doc = "http, redis, postgres or file" },
	{ .name = "eta", .type = T_STRING,
	  .doc = "the ETA stored with the flag when it goes on (\"back by 10:30 ET\")" },
	{ .name = "eta_key", .type = T_STRING, .def = "eta",
	  .doc = "http, redis (json), file: the key of the ETA in the document" },
	{ .name = "fail", .type = T_STRING, .flags = P_REQUIRED, .allowed = fail_modes,
	  .doc = "what the APPLICATION does when it cannot read the flag: closed = shows maintenance, open = serves traffic (declared, never defaulted)" },
	{ .name = "flag", .type = T_STRING, .doc = "postgres: the flag row's name (default: the resource name)" },
	{ .name = "flag_key", .type = T_STRING, .def = "maintenanceMode",
	  .doc = "http, redis (json), file: the key of the boolean in the document" },
	{ .name = "format", .type = T_STRING, .def = "json", .allowed = redis_formats,
	  .doc = "redis: json (a document like http's) or plain (1/0, with KEY:message and KEY:eta beside it)" },
	{ .name = "headers", .type = T_MAP, .doc = "http: extra request headers (values may come from secrets)" },
	{ .name = "key", .type = T_STRING, .def = "maintenance", .doc = "redis: the key" },
	{ .name = "message", .type = T_STRING, .doc = "the maintenance page's message stored with the flag" },
	{ .name = "message_key", .type = T_STRING, .def = "message",
	  .doc = "http, redis (json), file: the key of the message in the document" },
	{ .name = "method", .type = T_STRING, .def = "PATCH", .allowed = http_methods,
	  .doc = "http: the method that writes the flag" },
	{ .name = "password", .type = T_STRING, .flags = P_SECRET,
	  .doc = "redis: the password (instead of one in the url)" },
	{ .name = "path", .type = T_STRING, .doc = "file: the JSON file the application reads" },
	{ .name = "read_key", .type = T_STRING,
	  .doc = "http: dotted path of the boolean in the GET answer (default: flag_key; \"\" = the answer itself)" },
	{ .name = "read_url", .type = T_STRING, .doc = "http: the URL that returns the flag (default: url)" },
	{ .name = "request_timeout", .type = T_DURATION, .def = "5s",
	  .doc = "the limit for one request to the store" },
	{ .name = "table", .type = T_STRING, .def = "drplay_maintenance",
	  .doc = "postgres: the flag table (name text primary key, enabled boolean, message text, eta text, updated_at timestamptz)" },
	{ .name = "token", .type = T_STRING, .flags = P_SECRET, .doc = "http: a bearer token (from ${secret.NAME})" },
	{ .name = "url", .type = T_STRING,
	  .doc = "http: the URL written (and read); redis: redis://[user:password@]host[:port][/db]" },
	{ .name = NULL },
};

static const struct kind_def maint_kind = {
	.name = "maintenance",
	.fields = maint_fields,
	.doc = "A maintenance switch the application reads on every request, flipped in seconds without a deploy: an HTTP (edge-config style) flag, a Redis key, a flag row in PostgreSQL, or a file. `fail` declares what the application does when it cannot read the flag.",
	.release = mhandle_release,
	.check = maint_check,
};

static const struct param_spec flip_params[] = {
	{ .name = "eta", .type = T_STRING, .flags = P_PRINTED,
	  .doc = "the ETA to store (default: the switch's eta; on only)" },
	{ .name = "message", .type = T_STRING, .flags = P_PRINTED,
	  .doc = "the message to store (default: the switch's message; on only)" },
	{ .name = "switch", .type = T_RESOURCE, .flags = P_REQUIRED | P_TARGET, .kind = "maintenance",
	  .doc = "the maintenance switch" },
	{ .name = NULL },
};
static const struct param_spec status_params[] = {
	{ .name = "switch", .type = T_RESOURCE, .flags = P_REQUIRED | P_TARGET, .kind = "maintenance",
	  .doc = "the maintenance switch" },
	{ .name = NULL },
};

#define COMMON_OUTPUTS                                                                                    \
	{ .name = "driver", .type = T_STRING, .doc = "http, redis, postgres or file" },                  \
	{ .name = "effective", .type = T_STRING,                                                          \
	  .doc = "what the application does now (from the flag, or from `fail` when the store is down)" }, \
	{ .name = "fail_mode", .type = T_STRING, .doc = "the switch's declared fail mode: open or closed" }, \
	{ .name = "state", .type = T_STRING, .doc = "on, off, or unknown (the store cannot be read)" },   \
	{ .name = "store", .type = T_STRING, .doc = "where the flag lives (URL, key, table row or file)" }

static const struct output_spec flip_outputs[] = {
	{ .name = "confirmed_at", .type = T_TIMESTAMP,
	  .doc = "when the read-back first showed the change, rounded up to the second (a restore target that keeps every write made before the freeze)" },
	COMMON_OUTPUTS,
	{ .name = "eta", .type = T_STRING, .doc = "the ETA stored" },
	{ .name = "flip_ms", .type = T_NUMBER, .doc = "milliseconds from the write to the read-back that showed it" },
	{ .name = "flip_time", .type = T_DURATION, .doc = "the same as a duration" },
	{ .name = "message", .type = T_STRING, .doc = "the message stored" },
	{ .name = "previous", .type = T_STRING, .doc = "on or off before the flip" },
	{ .name = "reads", .type = T_INT, .doc = "read-backs it took" },
	{ .name = "write_ms", .type = T_NUMBER, .doc = "milliseconds the write request took" },
	{ .name = NULL },
};
static const struct output_spec status_outputs[] = {
	COMMON_OUTPUTS,
	{ .name = "eta", .type = T_STRING, .doc = "the ETA stored with the flag" },
	{ .name = "message", .type = T_STRING, .doc = "the message stored with the flag" },
	{ .name = NULL },
};

static const struct action_def maint_off_def = {
	.name = "maintenance.off",
	.run = do_off,
	.flags = A_STATE,
	.cat = CAT_MAINT_OFF,
	.params = flip_params,
	.outputs = flip_outputs,
	.doc = "Turns the switch off (clearing message and ETA), then reads it back until the change is visible or confirm_timeout passes; outputs the measured flip time. The executor never runs it after a failed gate or verification. If the store cannot be read the step fails and says what the application does meanwhile (the switch's `fail`).",
};
static const struct action_def maint_on_def = {
	.name = "maintenance.on",
	.run = do_on,
	.flags = A_STATE,
	.cat = CAT_MAINT_ON,
	.params = flip_params,
	.outputs = flip_outputs,
	.doc = "Turns the switch on with a message and ETA, then reads it back until the change is visible or confirm_timeout passes; outputs the measured flip time. If the store cannot be read the step fails and says what the application does meanwhile: with fail: closed it shows maintenance; with fail: open it serves traffic and writes are NOT gated.",
};
static const struct action_def maint_status_def = {
	.name = "maintenance.status",
	.run = do_status,
	.cat = CAT_PREFLIGHT,
	.params = status_params,
	.outputs = status_outputs,
	.doc = "Reads the switch: on or off, message, ETA, and the declared fail mode. A preflight: as a gate before maintenance.on it proves the switch can be read before any outage. Fails when the store cannot be read, saying what the application does meanwhile.",
};

static const struct action_def *const maint_actions[] = { &maint_off_def, &maint_on_def, &maint_status_def, NULL };
static const struct kind_def *const maint_kinds[] = { &maint_kind, NULL };

/* A redis URL's password; the http driver's bearer token. */
static const struct redact_pattern maint_patterns[] = {
	REDACT_URL_PASSWORD,
	REDACT_BEARER,
	{ NULL, 0, NULL },
};

const struct family maint_family = {
	.name = "maintenance",
	.actions = maint_actions,
	.kinds = maint_kinds,
	.patterns = maint_patterns,
};
