/*
 * http.c: HTTP from playbooks, over libcurl: `http.check` (the smoke test:
 * "homepage 200, login redirect works") and `notify` (a JSON POST to a
 * Slack-compatible webhook for milestones; a failing webhook is recorded but
 * never fails the run). TLS verification is always on; a transfer polls the
 * step's cancellation so an interruption or timeout ends it promptly.
 */
#include <string.h>
#include <curl/curl.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "family.h"
#include "credential.h"
#include "text.h"

#define BODY_CAP (1u << 20)

struct xfer {
	struct act *a;
	struct strbuf body;
};

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
	struct xfer *x = ud;
	sb_add(&x->body, p, sz * n);
	return sz * n; /* past the cap the rest is dropped, not an error */
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	(void)dt;
	(void)dn;
	(void)ut;
	(void)un;
	struct xfer *x = ud;
	return act_cancelled(x->a) ? 1 : 0;
}

static void curl_init_once(void)
{
	static int done;
	if (!done) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		done = 1;
	}
}

/* Performs one request. Returns the CURLcode; *err gets curl's message. */
static CURLcode perform(struct act *a, CURL *c, struct xfer *x, const char *url, int64_t timeout_us,
			char *errbuf)
{
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "drplay");
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	int64_t left = act_remaining_us(a);
	if (timeout_us <= 0 || (left < timeout_us && left > 0))
		timeout_us = left;
	if (timeout_us > 0 && timeout_us < INT64_MAX)
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(timeout_us / 1000 > 0 ? timeout_us / 1000 : 1));
	errbuf[0] = '\0';
	return curl_easy_perform(c);
}

static struct curl_slist *header_list(struct act *a, json_t *headers, struct curl_slist *l)
{
	const char *k;
	json_t *v;
	json_object_foreach(headers, k, v)
	{
		char *h = json_is_string(v) ? xasprintf("%s: %s", k, json_string_value(v)) : NULL;
		if (!h) {
			char *s = json_dumps(v, JSON_ENCODE_ANY);
			h = xasprintf("%s: %s", k, s ? s : "");
			free(s);
		}
		l = curl_slist_append(l, h);
		free_secret(h);
	}
	(void)a;
	return l;
}

static int status_expected(json_t *want, long status)
{
	if (!want)
		return status == 200;
	if (json_is_integer(want))
		return json_integer_value(want) == status;
	if (json_is_string(want)) {
		/* "2xx" style classes */
		const char *s = json_string_value(want);
		if (strlen(s) == 3 && s[1] == 'x' && s[2] == 'x')
			return status / 100 == s[0] - '0';
		int64_t v;
		return parse_int64(s, &v) == 0 && v == status;
	}
	if (json_is_array(want)) {
		size_t i;
		json_t *e;
		json_array_foreach(want, i, e) if (status_expected(e, status)) return 1;
	}
	return 0;
}

/* The path+query of an absolute URL ("/login?next=/"), or the URL itself. */
static const char *url_path(const char *u)
{
	const char *p = strstr(u, "://");
	if (!p)
		return u;
	p = strchr(p + 3, '/');
	return p ? p : "/";
}

static int do_http_check(struct act *a)
{
	curl_init_once();
	const char *url = act_str(a, "url");
	const char *method = act_str(a, "method");
	CURL *c = curl_easy_init();
	if (!c)
		return act_fail(a, "cannot start an HTTP client");
	struct xfer x = { a, STRBUF_INIT };
	sb_init(&x.body, BODY_CAP);
	char errbuf[CURL_ERROR_SIZE];
	struct curl_slist *hl = header_list(a, act_json(a, "headers"), NULL);
	if (hl)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	if (method && strcmp(method, "GET") != 0) {
		if (!strcmp(method, "HEAD"))
			curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
		else
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	}
	if (act_has(a, "body"))
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, act_str(a, "body"));
	if (act_has(a, "ca_file"))
		curl_easy_setopt(c, CURLOPT_CAINFO, act_str(a, "ca_file"));
	int follow = act_bool(a, "follow_redirects", 0) && !act_has(a, "expect_redirect");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, follow ? 1L : 0L);
	int64_t t0 = mono_us();
	CURLcode rc = perform(a, c, &x, url, act_duration_us(a, "timeout", 10000000), errbuf);
	int64_t took = mono_us() - t0;
	int ret = ACT_OK;
	if (rc != CURLE_OK) {
		if (rc == CURLE_ABORTED_BY_CALLBACK)
			ret = act_fail(a, "GET %s: cancelled", url);
		else
			ret = act_fail(a, "%s %s: %s; check that the service is up and the URL is right",
				       method ? method : "GET", url, *errbuf ? errbuf : curl_easy_strerror(rc));
		goto out;
	}
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	char *redir = NULL;
	curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &redir);
	act_out_int(a, "status", status);
	act_out_str(a, "location", redir ? redir : "");
	act_out(a, "duration_ms", json_real((double)took / 1000.0));
	act_out(a, "body", json_textn(sb_str(&x.body), x.body.len));
	act_log(a, "%s %s -> %ld%s%s in %.0f ms", method ? method : "GET", url, status, redir ? " -> " : "",
		redir ? redir : "", (double)took / 1000.0);
	json_t *want = act_json(a, "expect_status");
	if (act_has(a, "expect_redirect") && !want) {
		if (status < 300 || status > 399) {
			ret = act_fail(a, "%s answered %ld, not a redirect to %s", url, status, act_str(a, "expect_redirect"));
			goto out;
		}
	} else if (!status_expected(want, status)) {
		char *w = want ? json_dumps(want, JSON_ENCODE_ANY) : xstrdup("200");
		ret = act_fail(a, "%s answered %ld, expected %s", url, status, w);
		free(w);
		goto out;
	}
	if (act_has(a, "expect_redirect")) {
		const char *er = act_str(a, "expect_redirect");
		int ok = redir && (!strcmp(redir, er) || (er[0] == '/' && !strcmp(url_path(redir), er)));
		if (!ok) {
			ret = act_fail(a, "%s redirects to %s, expected %s", url, redir ? redir : "(nowhere)", er);
			goto out;
		}
	}
	if (act_has(a, "expect_body")) {
		const char *pat = act_str(a, "expect_body");
		int errc;
		PCRE2_SIZE erroff;
		pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_MATCH_INVALID_UTF,
					       &errc, &erroff, NULL);
		if (!re) {
			PCRE2_UCHAR m[256];
			pcre2_get_error_message(errc, m, sizeof(m));
			ret = act_fail(a, "expect_body '%s' is not a valid pattern: %s at offset %zu", pat, (char *)m,
				       (size_t)erroff);
			goto out;
		}
		pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
		int m = pcre2_match(re, (PCRE2_SPTR)sb_str(&x.body), x.body.len, 0, 0, md, NULL);
		pcre2_match_data_free(md);
		pcre2_code_free(re);
		if (m < 0)
			ret = act_fail(a, "the body of %s (%zu bytes%s) does not match /%s/", url, x.body.len,
				       x.body.truncated ? ", first 1 MiB" : "", pat);
	}
out:
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	sb_release(&x.body);
	return ret;
}

static const char *const methods[] = { "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", NULL };
static const struct param_spec http_check_params[] = {
	{ .name = "body", .type = T_STRING, .doc = "request body" },
	{ .name = "ca_file", .type = T_STRING, .doc = "an extra CA bundle to trust (TLS is always verified)" },
	{ .name = "expect_body", .type = T_STRING, .doc = "a PCRE2 pattern the body (first 1 MiB) must match" },
	{ .name = "expect_redirect", .type = T_STRING,
	  .doc = "the redirect target expected: an absolute URL, or a path such as /login (then any 3xx status is accepted unless expect_status is given)" },
	{ .name = "expect_status", .type = T_ANY,
	  .doc = "status, list of statuses, or a class like \"2xx\" (default 200)" },
	{ .name = "follow_redirects", .type = T_BOOL, .def = "false",
	  .doc = "follow redirects before checking (not with expect_redirect)" },
	{ .name = "headers", .type = T_MAP, .doc = "request headers (values may come from secrets)" },
	{ .name = "method", .type = T_STRING, .def = "GET", .allowed = methods, .doc = "request method" },
	{ .name = "timeout", .type = T_DURATION, .def = "10s", .doc = "the request's time limit" },
	{ .name = "url", .type = T_STRING, .flags = P_REQUIRED | P_URL, .doc = "the URL to request" },
	{ .name = NULL },
};
static const struct output_spec http_check_outputs[] = {
	{ .name = "body", .type = T_STRING, .doc = "the response body (first 1 MiB)" },
	{ .name = "duration_ms", .type = T_NUMBER, .doc = "how long the request took" },
	{ .name = "location", .type = T_STRING, .doc = "the redirect target, if any" },
	{ .name = "status", .type = T_INT, .doc = "the HTTP status" },
	{ .name = NULL },
};
static const struct action_def http_check_def = {
	.name = "http.check",
	.run = do_http_check,
	.cat = CAT_OTHER,
	.params = http_check_params,
	.outputs = http_check_outputs,
	.doc = "Requests a URL and checks the status, the redirect and the body: the smoke test after a restore (homepage 200, login redirect works).",
};

/* ---- notify ---- */

static int do_notify(struct act *a)
{
	curl_init_once();
	const char *url = act_str(a, "url");
	const char *msg = act_str(a, "message");
	json_t *payload = json_object();
	char *text = xasprintf("[drplay %s %s] %s", act_mode(a), act_run_id(a), msg);
	json_object_set_new(payload, "text", json_string(text));
	free(text);
	json_object_set_new(payload, "run", json_string(act_run_id(a)));
	json_object_set_new(payload, "mode", json_string(act_mode(a)));
	json_object_set_new(payload, "step", json_string(act_step_id(a)));
	if (act_has(a, "milestone"))
		json_object_set_new(payload, "milestone", json_string(act_str(a, "milestone")));
	json_t *extra = act_json(a, "fields");
	if (extra)
		json_object_update(payload, extra);
	char *body = json_dumps(payload, JSON_COMPACT);
	json_decref(payload);
	CURL *c = curl_easy_init();
	struct xfer x = { a, STRBUF_INIT };
	sb_init(&x.body, 4096);
	char errbuf[CURL_ERROR_SIZE];
	struct curl_slist *hl = curl_slist_append(NULL, "Content-Type: application/json");
	hl = header_list(a, act_json(a, "headers"), hl);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	CURLcode rc = perform(a, c, &x, url, act_duration_us(a, "timeout", 5000000), errbuf);
	long status = 0;
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	int delivered = rc == CURLE_OK && status >= 200 && status < 300;
	act_out_bool(a, "delivered", delivered);
	act_out_int(a, "status", status);
	if (delivered) {
		act_log(a, "notified: %s", msg);
	} else {
		char *why = rc != CURLE_OK ? xasprintf("%s", *errbuf ? errbuf : curl_easy_strerror(rc))
					   : xasprintf("the webhook answered %ld", status);
		act_out_str(a, "error", why);
		act_log(a, "warning: the notification was not delivered (%s); the run goes on", why);
		act_journal(a, "notify_failed", json_pack("{s:s,s:s}", "message", msg, "error", why));
		free(why);
	}
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	sb_release(&x.body);
	free(body);
	return ACT_OK; /* a notification never fails the run */
}

static const struct param_spec notify_params[] = {
	{ .name = "fields", .type = T_MAP, .flags = P_PRINTED, .doc = "extra fields for the JSON body" },
	{ .name = "headers", .type = T_MAP, .doc = "request headers" },
	{ .name = "message", .type = T_STRING, .flags = P_REQUIRED | P_PRINTED,
	  .doc = "the milestone text ('maintenance ON', 'verified')" },
	{ .name = "milestone", .type = T_STRING, .flags = P_PRINTED,
	  .doc = "a short machine-readable name for the milestone" },
	{ .name = "timeout", .type = T_DURATION, .def = "5s", .doc = "how long to try" },
	{ .name = "url", .type = T_STRING, .flags = P_REQUIRED | P_URL,
	  .doc = "the webhook URL (usually ${secret.NAME}: webhook URLs are credentials)" },
	{ .name = NULL },
};
static const struct output_spec notify_outputs[] = {
	{ .name = "delivered", .type = T_BOOL, .doc = "whether the webhook accepted it (2xx)" },
	{ .name = "error", .type = T_STRING, .doc = "why not, when it was not delivered" },
	{ .name = "status", .type = T_INT, .doc = "the webhook's HTTP status (0 when unreachable)" },
	{ .name = NULL },
};
static const struct action_def notify_def = {
	.name = "notify",
	.run = do_notify,
	.cat = CAT_OTHER,
	.params = notify_params,
	.outputs = notify_outputs,
	.doc = "POSTs a Slack-compatible JSON body ({\"text\": ...} plus run, mode, step) to a webhook. A failing webhook never fails the run: the step succeeds with delivered: false and the failure is logged and journaled (notify_failed).",
};

static const struct action_def *const http_actions[] = { &http_check_def, &notify_def, NULL };

/* URLs may carry a password; API keys and tokens travel in query strings,
 * bodies and headers. */
static const struct redact_pattern http_patterns[] = {
	REDACT_URL_PASSWORD,
	REDACT_ASSIGNED("api_key|apikey|access_token|auth_token"),
	REDACT_BEARER,
	{ .re = NULL },
};

const struct family http_family = {
	.name = "http",
	.actions = http_actions,
	.patterns = http_patterns,
};
