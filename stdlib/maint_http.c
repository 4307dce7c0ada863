/*
 * maint_http.c: the maintenance switch's http driver, an edge-config style
 * JSON API: GET returns the flag, PATCH/PUT (or POST) writes it. URL,
 * method, headers and the body's shape are fields; a bearer token comes
 * from a secret. Requests go through jsonhttp (libcurl), one connection
 * kept for the run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonhttp.h"
#include "maint.h"
#include "stepctx.h"

struct http_state {
	struct jh_client client;
};

static void http_release(void *p)
{
	struct http_state *st = p;
	jh_client_release(&st->client);
	free(st);
}

static struct http_state *http_state(struct mctx *m)
{
	return maint_state(m, sizeof(struct http_state));
}

/* One request through jsonhttp, which answers in rs (never through a
 * libctx error). */
static int http_request(struct mctx *m, const char *method, const char *url, const char *const *headers,
			const char *bearer, const char *body, struct jh_resp *rs)
{
	struct libctx lc = stepctx(m->a);
	int rc = jh_request(&lc, &http_state(m)->client, method, url, headers, bearer, body, m->req_timeout_ms, rs);
	libctx_release(&lc);
	return rc;
}

/* The bearer token, registered as a secret before it is sent. */
static const char *http_token(struct mctx *m)
{
	const char *tok = res_str(m->r, "token");
	if (tok && *tok)
		act_secret(m->a, tok);
	return tok;
}

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
	maint_seterr(m, "%s answered %s", what, jh_describe(rs));
	return rs->status >= 500 || rs->status == 429 ? M_DOWN : M_REFUSED;
}

static int http_read(struct mctx *m, struct mflag *f)
{
	const char *url = res_str(m->r, "read_url");
	if (!url || !*url)
		url = res_str(m->r, "url");
	char **hd = http_headers(m);
	struct jh_resp rs;
	int rc = http_request(m, "GET", url, (const char *const *)hd, http_token(m), NULL, &rs);
	free_headers(hd);
	if (rc != 0) {
		maint_seterr(m, "GET %s: %s", url, rs.err);
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
		maint_seterr(m, "GET %s answered something that is not JSON (%.100s)", url, first);
		jh_resp_release(&rs);
		return M_DOWN;
	}
	const char *rk = res_str(m->r, "read_key");
	if (!rk)
		rk = maint_flag_key(m);
	json_t *v = json_path(rs.json, rk);
	int on = v ? maint_flag_value(v) : -1;
	if (on < 0) {
		maint_seterr(m, "GET %s answered JSON without a boolean at '%s'", url, *rk ? rk : "(the document)");
		jh_resp_release(&rs);
		return M_DOWN;
	}
	f->on = on;
	if (json_is_object(rs.json) && !strchr(rk, '.') && *rk) {
		const char *ms = json_string_value(json_object_get(rs.json, maint_doc_key(m, "message_key", "message")));
		const char *es = json_string_value(json_object_get(rs.json, maint_doc_key(m, "eta_key", "eta")));
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
	json_t *doc = tmpl ? fill_template(tmpl, f) : maint_flag_doc(m, f);
	char *body = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(doc);
	char **hd = http_headers(m);
	struct jh_resp rs;
	int rc = http_request(m, method, url, (const char *const *)hd, http_token(m), body, &rs);
	free_headers(hd);
	free(body);
	if (rc != 0) {
		maint_seterr(m, "%s %s: %s", method, url, rs.err);
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

static const char *const http_methods[] = { "PATCH", "PUT", "POST", NULL };

static const struct param_spec http_fields[] = {
	{ .name = "body", .type = T_ANY,
	  .doc = "the JSON body template; the strings \"$on\", \"$message\", \"$eta\", \"$state\" are replaced (default {flag_key: $on, message_key: $message, eta_key: $eta})" },
	{ .name = "headers", .type = T_MAP, .doc = "extra request headers (values may come from secrets)" },
	{ .name = "method", .type = T_STRING, .def = "PATCH", .allowed = http_methods,
	  .doc = "the method that writes the flag" },
	{ .name = "read_key", .type = T_STRING,
	  .doc = "dotted path of the boolean in the GET answer (default: flag_key; \"\" = the answer itself)" },
	{ .name = "read_url", .type = T_STRING, .doc = "the URL that returns the flag (default: url)" },
	{ .name = "token", .type = T_STRING, .flags = P_SECRET, .doc = "a bearer token (from ${secret.NAME})" },
	{ .name = "url", .type = T_STRING, .flags = P_REQUIRED, .doc = "the URL written (and read)" },
	{ .name = NULL },
};

static const struct maint_ops http_ops = {
	.read = http_read,
	.write = http_write,
	.where = http_where,
	.release = http_release,
};

static const struct driver_def maint_http_driver = {
	.kind = MAINT_KIND,
	.name = "http",
	.doc = "an edge-config style JSON API: GET returns the flag, PATCH/PUT (or POST) writes it",
	.fields = http_fields,
	.ops = &http_ops,
};
DRIVER_REGISTER(maint_http_driver)
