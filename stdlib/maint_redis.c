/*
 * maint_redis.c: the maintenance switch's redis driver: the flag is a key
 * on a Redis server (hiredis), holding a JSON document like the http
 * driver's, or (format: plain) 1/0 with KEY:message and KEY:eta beside it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <hiredis/hiredis.h>

#include "maint.h"

struct redis_state {
	redisContext *c;
};

static void redis_release(void *p)
{
	struct redis_state *st = p;
	if (st->c)
		redisFree(st->c);
	free(st);
}

static struct redis_state *redis_state(struct mctx *m)
{
	return maint_state(m, sizeof(struct redis_state));
}

struct redis_url {
	char host[256];
	int port;
	int db;
	char user[128];
	char *password;     /* percent-decoded, or NULL */
	char *password_raw; /* as written in the url (still encoded), or NULL */
};

static void redis_url_release(struct redis_url *u)
{
	free_secret(u->password);
	free_secret(u->password_raw);
	u->password = u->password_raw = NULL;
}

/* What to use instead of rediss://, in every message refusing it. */
#define REDISS_ALTERNATIVES                                                                          \
	"this build's hiredis (0.14) has no TLS; reach the server through a local TLS tunnel (stunnel or " \
	"spiped on loopback, then redis://127.0.0.1:PORT), or use the http, postgres or file driver"

/* Parses redis://[[user]:password@]host[:port][/db] with libcurl's URL API
 * (user and password percent-decoded, IPv6 hosts in brackets). Returns 0,
 * or -1 with a reason in err (never the password). u is released by
 * redis_url_release either way. */
static int parse_redis_url(const char *url, struct redis_url *u, char *err, size_t errsz)
{
	memset(u, 0, sizeof(*u));
	u->port = 6379;
	if (!strncmp(url, "rediss://", 9)) {
		snprintf(err, errsz, "rediss:// (TLS) is not supported: %s", REDISS_ALTERNATIVES);
		return -1;
	}
	if (strncmp(url, "redis://", 8) != 0) {
		snprintf(err, errsz, "it does not start with redis://");
		return -1;
	}
	CURLU *h = curl_url();
	CURLUcode rc = h ? curl_url_set(h, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) : CURLUE_OUT_OF_MEMORY;
	char *host = NULL, *port = NULL, *user = NULL, *path = NULL, *query = NULL;
	int ret = -1;
	if (rc != CURLUE_OK) {
		snprintf(err, errsz, "%s", curl_url_strerror(rc));
		goto out;
	}
	curl_url_get(h, CURLUPART_HOST, &host, 0);
	curl_url_get(h, CURLUPART_PORT, &port, 0);
	curl_url_get(h, CURLUPART_USER, &user, CURLU_URLDECODE);
	curl_url_get(h, CURLUPART_PASSWORD, &u->password, CURLU_URLDECODE);
	curl_url_get(h, CURLUPART_PASSWORD, &u->password_raw, 0);
	curl_url_get(h, CURLUPART_PATH, &path, 0);
	curl_url_get(h, CURLUPART_QUERY, &query, 0);
	/* curl's strings are freed with curl_free: keep copies of ours. */
	if (u->password) {
		char *p = xstrdup(u->password), *r = xstrdup(u->password_raw ? u->password_raw : "");
		explicit_bzero(u->password, strlen(u->password));
		curl_free(u->password);
		if (u->password_raw) {
			explicit_bzero(u->password_raw, strlen(u->password_raw));
			curl_free(u->password_raw);
		}
		u->password = p;
		u->password_raw = r;
	}
	size_t hl = host ? strlen(host) : 0;
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') { /* IPv6: hiredis wants it bare */
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
		hl -= 2;
	}
	if (hl == 0 || hl >= sizeof(u->host)) {
		snprintf(err, errsz, "the host is %s", hl ? "too long" : "missing");
		goto out;
	}
	memcpy(u->host, host, hl + 1);
	if (user && strlen(user) >= sizeof(u->user)) {
		snprintf(err, errsz, "the user name is too long");
		goto out;
	}
	snprintf(u->user, sizeof(u->user), "%s", user ? user : "");
	if (port)
		u->port = (int)strtol(port, NULL, 10); /* curl checked it is 1..65535 */
	if (query) {
		snprintf(err, errsz, "it has a query ('?%s'), which drplay does not read", query);
		goto out;
	}
	if (path && path[0] == '/' && path[1]) {
		char *end;
		long db = strtol(path + 1, &end, 10);
		if (db < 0 || db > 100000 || *end || end == path + 1) {
			snprintf(err, errsz, "the path '%s' is not a database number (/0, /1, ...)", path);
			goto out;
		}
		u->db = (int)db;
	}
	ret = 0;
out:
	curl_free(host);
	curl_free(port);
	curl_free(user);
	curl_free(path);
	curl_free(query);
	curl_url_cleanup(h);
	return ret;
}

static void redis_drop(struct mctx *m)
{
	if (redis_state(m)->c)
		redisFree(redis_state(m)->c);
	redis_state(m)->c = NULL;
}

static redisReply *redis_cmd(struct mctx *m, int *st, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	redisReply *rep = redisvCommand(redis_state(m)->c, fmt, ap);
	va_end(ap);
	if (!rep) {
		maint_seterr(m, "redis at %s: %s", res_str(m->r, "url"), redis_state(m)->c->errstr[0] ? redis_state(m)->c->errstr : "no reply");
		redis_drop(m);
		*st = M_DOWN;
		return NULL;
	}
	if (rep->type == REDIS_REPLY_ERROR) {
		maint_seterr(m, "redis at %s refused: %s", res_str(m->r, "url"), rep->str);
		freeReplyObject(rep);
		*st = M_REFUSED;
		return NULL;
	}
	*st = M_OK;
	return rep;
}

static int redis_open(struct mctx *m)
{
	if (redis_state(m)->c)
		return M_OK;
	struct redis_url u;
	const char *url = res_str(m->r, "url");
	char why[300];
	act_secret_url_password(m->a, url);
	int bad = parse_redis_url(url, &u, why, sizeof(why));
	if (u.password) {
		act_secret(m->a, u.password);
		act_secret(m->a, u.password_raw);
	}
	if (bad) {
		redis_url_release(&u);
		maint_seterr(m, "redis url '%s' cannot be used: %s", url, why);
		return M_REFUSED;
	}
	const char *pw = res_str(m->r, "password");
	if (pw && *pw) {
		free_secret(u.password);
		u.password = xstrdup(pw);
	}
	struct timeval tv = { m->req_timeout_ms / 1000, (m->req_timeout_ms % 1000) * 1000 };
	redisContext *c = redisConnectWithTimeout(u.host, u.port, tv);
	if (!c || c->err) {
		maint_seterr(m, "cannot connect to redis at %s:%d: %s", u.host, u.port, c ? c->errstr : "out of memory");
		if (c)
			redisFree(c);
		redis_url_release(&u);
		return M_DOWN;
	}
	redisSetTimeout(c, tv);
	redis_state(m)->c = c;
	int st = M_OK;
	redisReply *rep = NULL;
	if (u.password && *u.user)
		rep = redis_cmd(m, &st, "AUTH %s %s", u.user, u.password);
	else if (u.password)
		rep = redis_cmd(m, &st, "AUTH %s", u.password);
	redis_url_release(&u);
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
			maint_seterr(m, "redis answered MGET with something other than 3 values");
			return M_DOWN;
		}
		redisReply *v = rep->element[0];
		json_t *j = v->type == REDIS_REPLY_STRING ? json_stringn(v->str, v->len) : json_null();
		int on = maint_flag_value(j ? j : json_null());
		json_decref(j);
		if (on < 0) {
			maint_seterr(m, "redis key '%s' holds '%.60s', which is not a flag (1/0, true/false, on/off)", k,
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
		maint_seterr(m, "redis key '%s' is not a string", k);
		return M_DOWN;
	}
	json_error_t je;
	json_t *doc = json_loadb(rep->str, rep->len, 0, &je);
	if (!doc) {
		maint_seterr(m, "redis key '%s' holds something that is not JSON (%.60s); set format: plain for 1/0 values", k,
			     rep->str);
		freeReplyObject(rep);
		return M_DOWN;
	}
	freeReplyObject(rep);
	char what[200];
	snprintf(what, sizeof(what), "redis key '%s'", k);
	st = maint_parse_doc(m, doc, what, f);
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
		json_t *doc = maint_flag_doc(m, f);
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

static const char *const redis_formats[] = { "json", "plain", NULL };

static const struct param_spec redis_fields[] = {
	{ .name = "format", .type = T_STRING, .def = "json", .allowed = redis_formats,
	  .doc = "json (a document like http's) or plain (1/0, with KEY:message and KEY:eta beside it)" },
	{ .name = "key", .type = T_STRING, .def = "maintenance", .doc = "the key" },
	{ .name = "password", .type = T_STRING, .flags = P_SECRET, .doc = "the password (instead of one in the url)" },
	{ .name = "url", .type = T_STRING, .flags = P_REQUIRED, .doc = "redis://[user:password@]host[:port][/db], user and password percent-encoded (%40 for @); rediss:// is refused (no TLS in hiredis 0.14: use a local TLS tunnel)" },
	{ .name = NULL },
};

/* Static check of a literal url (a templated one is checked when the run
 * resolves it, before the switch is used): its form, and rediss:// refused
 * at lint time rather than in the middle of a drill. */
static int redis_check(const struct argq *q)
{
	const char *url = argq_str(q, "url", NULL);
	if (!url)
		return 0;
	struct redis_url u;
	char why[300];
	int bad = parse_redis_url(url, &u, why, sizeof(why));
	redis_url_release(&u);
	if (!bad)
		return 0;
	argq_error(q, "url", "the redis url cannot be used: %s", why);
	return 1;
}

static const struct maint_ops redis_ops = {
	.read = redis_read,
	.write = redis_write,
	.where = redis_where,
	.release = redis_release,
};

static const struct driver_def maint_redis_driver = {
	.kind = MAINT_KIND,
	.name = "redis",
	.doc = "a key on a Redis server (hiredis)",
	.fields = redis_fields,
	.ops = &redis_ops,
	.check = redis_check,
};
DRIVER_REGISTER(maint_redis_driver)
