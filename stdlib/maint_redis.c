/*
 * maint_redis.c: the maintenance switch's redis driver: the flag is a key
 * on a Redis server (hiredis), holding a JSON document like the http
 * driver's, or (format: plain) 1/0 with KEY:message and KEY:eta beside it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	if (parse_redis_url(url, &u) != 0) {
		free_secret(u.password);
		maint_seterr(m, "redis url '%s' is not redis://[user:password@]host[:port][/db]", url);
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
		maint_seterr(m, "cannot connect to redis at %s:%d: %s", u.host, u.port, c ? c->errstr : "out of memory");
		if (c)
			redisFree(c);
		free_secret(u.password);
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
	{ .name = "url", .type = T_STRING, .flags = P_REQUIRED, .doc = "redis://[user:password@]host[:port][/db]" },
	{ .name = NULL },
};

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
};
DRIVER_REGISTER(maint_redis_driver)
