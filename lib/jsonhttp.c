/*
 * jsonhttp.c: JSON-over-HTTP requests on libcurl (see jsonhttp.h). libcurl
 * does the protocol (TLS, redirects off, keep-alive); this file only adds the
 * step's deadline and interruption (through the transfer-info callback) and
 * jansson parsing of the answer.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonhttp.h"
#include "util.h"

#define JH_BODY_CAP (4u << 20)

struct sink {
	struct strbuf sb;
};

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
	struct sink *s = ud;
	sb_add(&s->sb, p, sz * n);
	return sz * n;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	(void)dt;
	(void)dn;
	(void)ut;
	(void)un;
	return lib_cancelled(ud) ? 1 : 0;
}

static void global_init(void)
{
	static int done;
	if (!done) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		done = 1;
	}
}

int jh_request(struct libctx *ctx, struct jh_client *c, const char *method, const char *url,
	       const char *const *headers, const char *bearer, const char *body, long timeout_ms,
	       struct jh_resp *r)
{
	memset(r, 0, sizeof(*r));
	global_init();
	if (!c->curl)
		c->curl = curl_easy_init();
	CURL *h = c->curl;
	if (!h) {
		snprintf(r->err, sizeof(r->err), "cannot create a libcurl handle");
		return -1;
	}
	curl_easy_reset(h);
	struct sink s;
	sb_init(&s.sb, JH_BODY_CAP);
	struct curl_slist *hl = NULL;
	char *auth = NULL;
	if (bearer && *bearer) {
		auth = xasprintf("Authorization: Bearer %s", bearer);
		hl = curl_slist_append(hl, auth);
	}
	hl = curl_slist_append(hl, "Accept: application/json");
	if (body)
		hl = curl_slist_append(hl, "Content-Type: application/json");
	for (const char *const *p = headers; p && *p; p++)
		hl = curl_slist_append(hl, *p);
	int64_t left = lib_remaining_us(ctx) / 1000;
	if (left < timeout_ms)
		timeout_ms = left > 0 ? (long)left : 1;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (!strcmp(method, "GET"))
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	if (body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	} else if (strcmp(method, "GET") != 0 && strcmp(method, "DELETE") != 0) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, ctx);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "drplay");
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	char ebuf[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
	CURLcode rc = curl_easy_perform(h);
	curl_slist_free_all(hl);
	free_secret(auth);
	r->len = s.sb.len;
	r->body = sb_detach(&s.sb);
	if (rc != CURLE_OK) {
		r->cancelled = rc == CURLE_ABORTED_BY_CALLBACK || lib_cancelled(ctx);
		r->timed_out = rc == CURLE_OPERATION_TIMEDOUT;
		snprintf(r->err, sizeof(r->err), "%s", r->cancelled ? "cancelled (interrupted or the step timed out)"
							       : *ebuf ? ebuf : curl_easy_strerror(rc));
		return -1;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	if (r->len) {
		json_error_t je;
		r->json = json_loadb(r->body, r->len, JSON_DECODE_ANY, &je);
	}
	return 0;
}

void jh_resp_release(struct jh_resp *r)
{
	free(r->body);
	json_decref(r->json);
	r->body = NULL;
	r->json = NULL;
}

void jh_client_release(struct jh_client *c)
{
	if (c->curl)
		curl_easy_cleanup(c->curl);
	c->curl = NULL;
}

const char *jh_describe(const struct jh_resp *r)
{
	static char buf[600];
	const char *msg = NULL;
	if (json_is_object(r->json)) {
		msg = json_string_value(json_object_get(r->json, "message"));
		if (!msg)
			msg = json_string_value(json_object_get(r->json, "error"));
	}
	if (msg) {
		snprintf(buf, sizeof(buf), "HTTP %ld: %s", r->status, msg);
	} else {
		char first[200];
		snprintf(first, sizeof(first), "%s", r->body ? r->body : "");
		for (char *p = first; *p; p++)
			if (*p == '\n' || *p == '\r')
				*p = ' ';
		snprintf(buf, sizeof(buf), "HTTP %ld%s%s", r->status, *first ? ": " : "", first);
	}
	return buf;
}

char *jh_escape(const char *s)
{
	/* libcurl keeps exactly RFC 3986's unreserved characters. */
	char *e = curl_easy_escape(NULL, s, 0);
	char *r = xstrdup(e ? e : "");
	curl_free(e);
	return r;
}
