/*
 * jsonhttp.h: small JSON-over-HTTP requests on libcurl for the families that
 * talk to HTTP APIs (the maintenance switch's http driver, the pitr neon
 * driver). A client keeps one CURL handle so that repeated requests reuse
 * the connection (a read-back loop costs one round trip per read, not a new
 * TCP connection). Every request is bounded by its own timeout and the
 * step's remaining time, and stops when the run is interrupted.
 */
#ifndef DRPLAY_JSONHTTP_H
#define DRPLAY_JSONHTTP_H

#include <jansson.h>

#include "libctx.h"

struct jh_client {
	void *curl;          /* CURL *, created on first use */
};

struct jh_resp {
	long status;         /* HTTP status, 0 when no response came */
	char *body;          /* NUL-terminated (capped at 4 MiB), masked on output only */
	size_t len;
	json_t *json;        /* the body parsed as JSON, or NULL */
	char err[512];       /* why no response came (connect refused, timeout, cancelled) */
	int cancelled;       /* the run was interrupted or the step timed out */
	int timed_out;       /* the request's own timeout passed */
};

/* Sends one request. method: GET, POST, PUT, PATCH, DELETE. body (JSON
 * text) may be NULL. headers: NULL-terminated "Name: value" strings or NULL.
 * bearer: a token sent as "Authorization: Bearer ..." (register it as a
 * secret first) or NULL. timeout_ms bounds the whole request (and the step's
 * remaining time bounds it further). Returns 0 when a response arrived (any
 * status: look at r->status), -1 when none did (r->err says why). The
 * caller releases r with jh_resp_release. Nothing is act_fail'ed. */
int jh_request(struct libctx *ctx, struct jh_client *c, const char *method, const char *url,
	       const char *const *headers, const char *bearer, const char *body, long timeout_ms,
	       struct jh_resp *r);
void jh_resp_release(struct jh_resp *r);
void jh_client_release(struct jh_client *c);

/* A one-line summary of a failed response for messages: "HTTP 503: <the
 * API's message or the start of the body>" (static buffer, masked later by
 * the sinks). */
const char *jh_describe(const struct jh_resp *r);

/* Percent-encodes s for a URL path segment or query value (new string). */
char *jh_escape(const char *s);

#endif
