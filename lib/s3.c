/*
 * s3.c: the S3 protocol on libcurl (see s3.h for the contract).
 *
 * Signing is libcurl's (CURLOPT_AWS_SIGV4 "aws:amz:REGION:s3"). libcurl 7.88
 * signs every header set with CURLOPT_HTTPHEADER and takes the payload hash
 * from our x-amz-content-sha256 header; it signs the URL's path and query as
 * they are written, so this file writes them in canonical form: the path
 * percent-encoded once (unreserved characters and '/' kept) with
 * CURLOPT_PATH_AS_IS, the query parameters sorted by name, each encoded, and
 * `name=` for parameters without a value.
 *
 * XML answers (errors, listings, multipart results) are walked with expat:
 * each element's end is reported with its path ("Error/Code") and text.
 */
#include <curl/curl.h>
#include <expat.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "s3.h"
#include "util.h"
#include "version.h"

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define MAX_BACKOFF_US (20LL * 1000000)
#define MAX_RETRY_AFTER_US (30LL * 1000000)
#define XML_BODY_CAP (32u << 20)
#define CLEANUP_TIMEOUT_MS 15000L /* a clean-up request after an interruption */

struct s3 {
	struct s3_conf c;
	CURL *h;
	char sigv4[200];
	char errbuf[CURL_ERROR_SIZE];
};

static void global_init(void)
{
	static int done;
	if (!done) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		done = 1;
	}
}

struct s3 *s3_new(const struct s3_conf *c)
{
	global_init();
	struct s3 *s = xcalloc(1, sizeof(*s));
	s->c = *c;
	s->h = curl_easy_init();
	if (!s->h) {
		fprintf(stderr, "drplay: cannot create a libcurl handle\n");
		abort();
	}
	snprintf(s->sigv4, sizeof(s->sigv4), "aws:amz:%s:s3", c->region ? c->region : "us-east-1");
	return s;
}

void s3_conf_release(struct s3_conf *c)
{
	free(c->endpoint);
	free(c->region);
	free(c->bucket);
	free(c->access_key);
	if (c->secret_key)
		free_secret(c->secret_key);
	if (c->session_token)
		free_secret(c->session_token);
	free(c->ca_file);
	memset(c, 0, sizeof(*c));
}

void s3_free(struct s3 *s)
{
	if (!s)
		return;
	curl_easy_cleanup(s->h);
	s3_conf_release(&s->c);
	free(s);
}

const struct s3_conf *s3_conf(const struct s3 *s)
{
	return &s->c;
}

/* ---- small helpers ---- */

char *s3_uri_encode(const char *s, int keep_slash)
{
	/* SigV4 wants RFC 3986's unreserved characters kept and everything else
	 * as %XX (upper case), which is exactly curl_easy_escape's set; a key's
	 * '/' must stay, so with keep_slash each segment is escaped alone. */
	struct strbuf sb = STRBUF_INIT;
	for (;;) {
		size_t n = keep_slash ? strcspn(s, "/") : strlen(s);
		if (n) { /* a length of 0 would mean the whole string to curl */
			char *e = curl_easy_escape(NULL, s, (int)n);
			sb_adds(&sb, e ? e : "");
			curl_free(e);
		}
		if (!s[n])
			break;
		sb_addc(&sb, '/');
		s += n + 1;
	}
	return sb_detach(&sb);
}

static void sha256_buf_hex(const void *p, size_t n, char out[65])
{
	sha256_hex(p, n, out);
}

static void copy_str(char *dst, size_t cap, const char *src, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* ---- XML ---- */

typedef void (*xml_cb)(void *ud, const char *path, const char *text);

struct xml_walk {
	xml_cb cb;
	void *ud;
	char path[1024];
	size_t len;
	size_t stack[64];
	int depth;
	struct strbuf text;
};

static void XMLCALL xw_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	(void)attrs;
	struct xml_walk *w = ud;
	if (w->depth < 64)
		w->stack[w->depth] = w->len;
	w->depth++;
	size_t n = strlen(name);
	if (w->len + n + 2 < sizeof(w->path)) {
		w->path[w->len++] = '/';
		memcpy(w->path + w->len, name, n);
		w->len += n;
		w->path[w->len] = '\0';
	}
	sb_reset(&w->text);
}

static void XMLCALL xw_end(void *ud, const XML_Char *name)
{
	(void)name;
	struct xml_walk *w = ud;
	w->cb(w->ud, w->len ? w->path + 1 : "", sb_str(&w->text));
	w->depth--;
	if (w->depth >= 0 && w->depth < 64)
		w->len = w->stack[w->depth];
	w->path[w->len] = '\0';
	sb_reset(&w->text);
}

static void XMLCALL xw_text(void *ud, const XML_Char *s, int len)
{
	struct xml_walk *w = ud;
	sb_add(&w->text, s, (size_t)len);
}

/* Walks an XML document; returns 0, or -1 when it is not well-formed. */
static int xml_walk(const char *buf, size_t n, xml_cb cb, void *ud)
{
	XML_Parser p = XML_ParserCreate(NULL);
	if (!p)
		return -1;
	struct xml_walk w = { 0 };
	w.cb = cb;
	w.ud = ud;
	sb_init(&w.text, 1u << 20);
	XML_SetUserData(p, &w);
	XML_SetElementHandler(p, xw_start, xw_end);
	XML_SetCharacterDataHandler(p, xw_text);
	int ok = n <= (size_t)INT32_MAX && XML_Parse(p, buf, (int)n, 1) == XML_STATUS_OK;
	XML_ParserFree(p);
	sb_release(&w.text);
	return ok ? 0 : -1;
}

struct err_doc {
	char code[64];
	char message[256];
	int is_error;
};

static void err_cb(void *ud, const char *path, const char *text)
{
	struct err_doc *d = ud;
	if (!strcmp(path, "Error"))
		d->is_error = 1;
	else if (!strcmp(path, "Error/Code"))
		copy_str(d->code, sizeof(d->code), text, strlen(text));
	else if (!strcmp(path, "Error/Message"))
		copy_str(d->message, sizeof(d->message), text, strlen(text));
}

/* Fills e from an S3 error document (or the bare status when there is none). */
static void parse_error(const char *body, size_t n, long status, struct s3_err *e)
{
	struct err_doc d = { 0 };
	e->http = status;
	e->transport = 0;
	if (n && xml_walk(body, n, err_cb, &d) == 0 && d.is_error) {
		snprintf(e->code, sizeof(e->code), "%s", d.code);
		snprintf(e->message, sizeof(e->message), "%s", d.message);
		return;
	}
	const char *code = status == 404 ? "NotFound" : status == 403 ? "Forbidden" : status == 400 ? "BadRequest"
			   : status == 301 || status == 307 ? "Redirect" : status == 503 ? "ServiceUnavailable"
			   : "";
	snprintf(e->code, sizeof(e->code), "%s", code);
	snprintf(e->message, sizeof(e->message), "HTTP status %ld%s", status,
		 n ? " with a body that is not an S3 error document" : "");
}

const char *s3_err_text(const struct s3_err *e, char *buf, size_t n)
{
	if (e->cancelled)
		snprintf(buf, n, "cancelled (interrupted or the step timed out)");
	else if (e->transport)
		snprintf(buf, n, "%s", e->message);
	else if (e->code[0] && e->message[0])
		snprintf(buf, n, "%s: %s (HTTP %ld)", e->code, e->message, e->http);
	else
		snprintf(buf, n, "%s (HTTP %ld)", e->code[0] ? e->code : e->message, e->http);
	return buf;
}

const char *s3_err_hint(const struct s3_err *e)
{
	if (e->cancelled || e->sink_failed)
		return "";
	if (e->transport)
		return "; check the endpoint, the network and that the store is up";
	static const struct {
		const char *code, *hint;
	} hints[] = {
		{ "InvalidAccessKeyId", "; the access key id is not known to the store: check access_key" },
		{ "SignatureDoesNotMatch", "; check secret_key (and region)" },
		{ "AccessDenied", "; the credentials lack permission for this: check the key's policy" },
		{ "Forbidden", "; the credentials lack permission for this: check access_key, secret_key and the key's policy" },
		{ "NoSuchBucket", "; check bucket (and region)" },
		{ "NoSuchKey", "; check the key (offsite.list shows what the store holds)" },
		{ "NotFound", "; check the key (offsite.list shows what the store holds)" },
		{ "ExpiredToken", "; the session token expired: get fresh credentials" },
		{ "InvalidToken", "; check session_token" },
		{ "PermanentRedirect", "; the bucket is in another region: check region and endpoint" },
		{ "AuthorizationHeaderMalformed", "; check region" },
		{ "Redirect", "; the bucket is in another region: check region and endpoint" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(hints); i++)
		if (!strcmp(e->code, hints[i].code))
			return hints[i].hint;
	if (e->http >= 500 || e->http == 429)
		return "; the store kept failing: try again later";
	return "";
}

/* ---- one HTTP exchange ---- */

struct req {
	const char *method;        /* GET HEAD PUT POST DELETE */
	const char *key;           /* NULL: the bucket itself */
	const char *query;         /* canonical query, or NULL */
	const void *body;          /* PUT/POST payload (may be empty) */
	size_t body_len;
	const char *body_sha;      /* its SHA-256 (hex) when known, else computed */
	const char *content_type;
	int range;                 /* send Range: bytes=from-[to] */
	uint64_t range_from, range_to; /* range_to UINT64_MAX = open */
	const char *if_match;
	s3_sink sink;              /* NULL: collect the body */
	void *ud;
	uint64_t limit;            /* with sink: deliver at most this many bytes (0 = all) */
	int cleanup;               /* runs even after cancellation: one bounded attempt then */
	uint64_t *total_live;      /* GET: set to the object's size once the answer starts */
};

struct xfer {
	struct s3 *s;
	struct libctx *ctx;
	const struct req *rq;
	long status;
	int decided, ok;
	struct strbuf body;
	uint64_t skip;
	uint64_t delivered;
	int sink_failed;
	int limit_hit;
	size_t up_pos;
	struct s3_head head;
	int64_t retry_after_us;
};

static size_t on_header(char *p, size_t sz, size_t nm, void *ud)
{
	struct xfer *x = ud;
	size_t n = sz * nm;
	if (n >= 5 && !strncmp(p, "HTTP/", 5)) {
		/* a new response (after 100 Continue): forget earlier headers */
		memset(&x->head, 0, sizeof(x->head));
		x->retry_after_us = 0;
		return n;
	}
	const char *colon = memchr(p, ':', n);
	if (!colon)
		return n;
	size_t kl = (size_t)(colon - p);
	const char *v = colon + 1;
	const char *end = p + n;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		end--;
	size_t vl = (size_t)(end - v);
	char val[256];
	copy_str(val, sizeof(val), v, vl);
	if (kl == 4 && !strncasecmp(p, "etag", 4)) {
		copy_str(x->head.etag, sizeof(x->head.etag), v, vl);
	} else if (kl == 14 && !strncasecmp(p, "content-length", 14)) {
		int64_t len;
		if (parse_int64(val, &len) == 0 && len >= 0)
			x->head.size = (uint64_t)len;
	} else if (kl == 13 && !strncasecmp(p, "last-modified", 13)) {
		time_t t = curl_getdate(val, NULL);
		if (t > 0)
			x->head.last_modified = (int64_t)t * 1000000;
	} else if (kl == 11 && !strncasecmp(p, "retry-after", 11)) {
		int64_t secs;
		if (parse_int64(val, &secs) == 0 && secs > 0)
			x->retry_after_us = secs * 1000000;
	} else if (kl == 13 && !strncasecmp(p, "content-range", 13)) {
		/* bytes A-B/TOTAL: the object's size is TOTAL */
		const char *slash = strrchr(val, '/');
		int64_t total;
		if (slash && parse_int64(slash + 1, &total) == 0 && total >= 0)
			x->head.size = (uint64_t)total | (1ull << 63); /* marked: from Content-Range */
	}
	return n;
}

static size_t on_write(char *p, size_t sz, size_t nm, void *ud)
{
	struct xfer *x = ud;
	size_t n = sz * nm;
	if (!x->decided) {
		curl_easy_getinfo(x->s->h, CURLINFO_RESPONSE_CODE, &x->status);
		x->ok = x->status >= 200 && x->status < 300;
		x->decided = 1;
		/* The server ignored our Range: drop the bytes we already have. */
		if (x->ok && x->rq->range && x->rq->range_from > 0 && x->status == 200)
			x->skip = x->rq->range_from;
		if (x->ok && x->rq->total_live && !*x->rq->total_live) {
			uint64_t cl = x->head.size;
			if (cl & (1ull << 63))
				*x->rq->total_live = cl & ~(1ull << 63);
			else if (x->status == 206)
				*x->rq->total_live = cl + x->rq->range_from;
			else
				*x->rq->total_live = cl;
		}
	}
	if (!x->ok || !x->rq->sink) {
		sb_add(&x->body, p, n);
		return n;
	}
	size_t off = 0;
	if (x->skip) {
		size_t k = n < x->skip ? n : (size_t)x->skip;
		x->skip -= k;
		off = k;
	}
	size_t give = n - off;
	if (x->rq->limit) {
		uint64_t left = x->rq->limit - x->delivered;
		if (give > left) {
			give = (size_t)left;
			x->limit_hit = 1;
		}
	}
	if (give) {
		if (x->rq->sink(x->rq->ud, p + off, give) != 0) {
			x->sink_failed = 1;
			return 0;
		}
		x->delivered += give;
	}
	if (x->limit_hit || (x->rq->limit && x->delivered >= x->rq->limit)) {
		x->limit_hit = 1;
		return 0; /* enough: ends the transfer (not an error) */
	}
	return n;
}

static size_t on_read(char *p, size_t sz, size_t nm, void *ud)
{
	struct xfer *x = ud;
	size_t n = sz * nm;
	size_t left = x->rq->body_len - x->up_pos;
	if (n > left)
		n = left;
	if (n)
		memcpy(p, (const char *)x->rq->body + x->up_pos, n);
	x->up_pos += n;
	return n;
}

static int on_seek(void *ud, curl_off_t off, int origin)
{
	struct xfer *x = ud;
	if (origin != SEEK_SET || off < 0 || (uint64_t)off > x->rq->body_len)
		return CURL_SEEKFUNC_CANTSEEK;
	x->up_pos = (size_t)off;
	return CURL_SEEKFUNC_OK;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	(void)dt;
	(void)dn;
	(void)ut;
	(void)un;
	struct xfer *x = ud;
	if (x->rq->cleanup)
		return 0; /* bounded by CURLOPT_TIMEOUT instead */
	return lib_cancelled(x->ctx) ? 1 : 0;
}

static char *make_url(struct s3 *s, const char *key, const char *query)
{
	struct strbuf sb = STRBUF_INIT;
	const char *ep = s->c.endpoint;
	char *bucket = s3_uri_encode(s->c.bucket, 0);
	if (s->c.path_style) {
		sb_adds(&sb, ep);
		sb_addc(&sb, '/');
		sb_adds(&sb, bucket);
		if (key) {
			sb_addc(&sb, '/');
			char *k = s3_uri_encode(key, 1);
			sb_adds(&sb, k);
			free(k);
		}
	} else {
		const char *host = strstr(ep, "://");
		host = host ? host + 3 : ep;
		sb_add(&sb, ep, (size_t)(host - ep));
		sb_adds(&sb, bucket);
		sb_addc(&sb, '.');
		sb_adds(&sb, host);
		sb_addc(&sb, '/');
		if (key) {
			char *k = s3_uri_encode(key, 1);
			sb_adds(&sb, k);
			free(k);
		}
	}
	free(bucket);
	if (query && *query) {
		sb_addc(&sb, '?');
		sb_adds(&sb, query);
	}
	return sb_detach(&sb);
}

static struct curl_slist *add_header(struct curl_slist *l, const char *fmt, ...) PRINTF_LIKE(2, 3);
static struct curl_slist *add_header(struct curl_slist *l, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *h = xvasprintf(fmt, ap);
	va_end(ap);
	struct curl_slist *n = curl_slist_append(l, h);
	free_secret(h);
	if (!n) {
		fprintf(stderr, "drplay: out of memory\n");
		abort();
	}
	return n;
}

static void free_headers(struct curl_slist *l)
{
	for (struct curl_slist *p = l; p; p = p->next)
		explicit_bzero(p->data, strlen(p->data));
	curl_slist_free_all(l);
}

/* Performs one attempt. Returns the curl code; x holds what came back. */
static CURLcode perform(struct s3 *s, struct libctx *ctx, const struct req *rq, struct xfer *x)
{
	CURL *h = s->h;
	curl_easy_reset(h); /* keeps live connections, the DNS and TLS session caches */
	memset(x, 0, sizeof(*x));
	x->s = s;
	x->ctx = ctx;
	x->rq = rq;
	sb_init(&x->body, XML_BODY_CAP);
	s->errbuf[0] = '\0';

	char *url = make_url(s, rq->key, rq->query);
	struct curl_slist *hd = NULL;
	char hash[65];
	int has_body = !strcmp(rq->method, "PUT") || !strcmp(rq->method, "POST");
	if (has_body && rq->body_len && rq->body_sha)
		snprintf(hash, sizeof(hash), "%s", rq->body_sha);
	else if (has_body && rq->body_len)
		sha256_buf_hex(rq->body, rq->body_len, hash);
	else
		snprintf(hash, sizeof(hash), "%s", EMPTY_SHA256);
	hd = add_header(hd, "x-amz-content-sha256: %s", hash);
	if (s->c.session_token && *s->c.session_token)
		hd = add_header(hd, "x-amz-security-token: %s", s->c.session_token);
	if (rq->content_type)
		hd = add_header(hd, "Content-Type: %s", rq->content_type);
	if (rq->range) {
		if (rq->range_to == UINT64_MAX)
			hd = add_header(hd, "Range: bytes=%llu-", (unsigned long long)rq->range_from);
		else
			hd = add_header(hd, "Range: bytes=%llu-%llu", (unsigned long long)rq->range_from,
					(unsigned long long)rq->range_to);
	}
	if (rq->if_match && *rq->if_match)
		hd = add_header(hd, "If-Match: %s", rq->if_match);

	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "drplay/" DRPLAY_VERSION);
	curl_easy_setopt(h, CURLOPT_AWS_SIGV4, s->sigv4);
	curl_easy_setopt(h, CURLOPT_USERNAME, s->c.access_key ? s->c.access_key : "");
	curl_easy_setopt(h, CURLOPT_PASSWORD, s->c.secret_key ? s->c.secret_key : "");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, s->errbuf);
	long ct = (long)(s->c.connect_timeout_us / 1000);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, ct > 0 ? ct : 10000L);
	long rt = (long)((s->c.read_timeout_us + 999999) / 1000000);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, rt > 0 ? rt : 60L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 256L * 1024);
	curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 1024L * 1024);
	curl_easy_setopt(h, CURLOPT_EXPECT_100_TIMEOUT_MS, 250L);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	if (rq->cleanup && lib_cancelled(ctx))
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, CLEANUP_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, s->c.tls_verify ? 1L : 0L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, s->c.tls_verify ? 2L : 0L);
	if (s->c.ca_file && *s->c.ca_file) {
		/* Added to the system's CAs: the file, plus the hashed directory. */
		curl_easy_setopt(h, CURLOPT_CAINFO, s->c.ca_file);
		curl_easy_setopt(h, CURLOPT_CAPATH, "/etc/ssl/certs");
	}
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, x);
	if (!strcmp(rq->method, "HEAD")) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (!strcmp(rq->method, "PUT")) {
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)rq->body_len);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(h, CURLOPT_READDATA, x);
		curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(h, CURLOPT_SEEKDATA, x);
	} else if (!strcmp(rq->method, "POST")) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body_len ? (const char *)rq->body : "");
	} else if (strcmp(rq->method, "GET") != 0) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
	}
	CURLcode rc = curl_easy_perform(h);
	if (!x->decided)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &x->status);
	if (rc == CURLE_WRITE_ERROR && x->limit_hit && !x->sink_failed)
		rc = CURLE_OK;
	free_headers(hd);
	free(url);
	return rc;
}

static int retryable_curl(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return 1;
	default:
		return 0;
	}
}

/* Classifies an attempt: 0 success, 1 retryable failure, -1 final failure;
 * fills e for failures. */
static int classify(struct s3 *s, struct libctx *ctx, CURLcode rc, struct xfer *x, struct s3_err *e)
{
	if (x->sink_failed) {
		e->sink_failed = 1;
		snprintf(e->message, sizeof(e->message), "the data could not be used");
		return -1;
	}
	if (rc == CURLE_ABORTED_BY_CALLBACK || (lib_cancelled(ctx) && !x->rq->cleanup)) {
		e->cancelled = 1;
		snprintf(e->message, sizeof(e->message), "cancelled");
		return -1;
	}
	if (rc != CURLE_OK) {
		e->transport = 1;
		e->http = x->status;
		e->code[0] = '\0';
		if (rc == CURLE_OPERATION_TIMEDOUT && s->errbuf[0] && strstr(s->errbuf, "too slow"))
			snprintf(e->message, sizeof(e->message),
				 "no data for %llds (read_timeout): the store stopped answering",
				 (long long)((s->c.read_timeout_us + 999999) / 1000000));
		else
			snprintf(e->message, sizeof(e->message), "%.150s%s%.300s", curl_easy_strerror(rc),
				 s->errbuf[0] ? ": " : "", s->errbuf);
		return retryable_curl(rc) ? 1 : -1;
	}
	if (x->status >= 200 && x->status < 300)
		return 0;
	parse_error(x->body.buf, x->body.len, x->status, e);
	if (x->status >= 500 || x->status == 429)
		return 1;
	return -1;
}

static int backoff(struct s3 *s, struct libctx *ctx, int failures, int64_t retry_after_us, const char *what,
		   const struct s3_err *e)
{
	int64_t d = s->c.retry_delay_us > 0 ? s->c.retry_delay_us : 250000;
	for (int i = 1; i < failures && d < MAX_BACKOFF_US; i++)
		d *= 2;
	if (d > MAX_BACKOFF_US)
		d = MAX_BACKOFF_US;
	/* jitter: between half and all of the delay */
	char rnd[5];
	random_hex(rnd, 2);
	long r = strtol(rnd, NULL, 16);
	d = d / 2 + (d / 2) * r / 65535;
	if (retry_after_us > d)
		d = retry_after_us < MAX_RETRY_AFTER_US ? retry_after_us : MAX_RETRY_AFTER_US;
	char eb[400], db[32];
	lib_log(ctx, "%s: %s; retrying in %s (attempt %d of %d)", what, s3_err_text(e, eb, sizeof(eb)),
		fmt_duration(d, db, sizeof(db)), failures + 1, s->c.retries + 1);
	return lib_sleep(ctx, d);
}

/* A request with retries; collected body in *body when asked (caller
 * releases). Returns 0 or -1 with e filled. */
static int request(struct s3 *s, struct libctx *ctx, const struct req *rq, struct strbuf *body, struct s3_head *head,
		   struct s3_err *e)
{
	memset(e, 0, sizeof(*e));
	char what[300];
	snprintf(what, sizeof(what), "%s %s", rq->method, rq->key ? rq->key : s->c.bucket);
	for (int failures = 0;;) {
		struct xfer x;
		CURLcode rc = perform(s, ctx, rq, &x);
		e->attempts++;
		int k = classify(s, ctx, rc, &x, e);
		if (k == 0) {
			if (head)
				*head = x.head;
			if (body) {
				*body = x.body;
				x.body = (struct strbuf)STRBUF_INIT;
			}
			sb_release(&x.body);
			return 0;
		}
		int64_t ra = x.retry_after_us;
		sb_release(&x.body);
		failures++;
		if (k < 0 || failures > s->c.retries || (rq->cleanup && lib_cancelled(ctx)))
			return -1;
		if (backoff(s, ctx, failures, ra, what, e) != 0) {
			e->cancelled = 1;
			return -1;
		}
	}
}

/* ---- operations ---- */

int s3_head(struct s3 *s, struct libctx *ctx, const char *key, struct s3_head *h, struct s3_err *e)
{
	struct req rq = { 0 };
	rq.method = "HEAD";
	rq.key = key;
	struct s3_head hh = { 0 };
	if (request(s, ctx, &rq, NULL, &hh, e) == 0) {
		hh.size &= ~(1ull << 63);
		*h = hh;
		return 0;
	}
	if (!e->transport && !e->cancelled && e->http == 404)
		return 1;
	if (!e->transport && !e->cancelled && e->http >= 400 && e->http < 500) {
		/* HEAD answers carry no error document: ask again with a one-byte
		 * GET to learn the store's error code and message. */
		struct req g = { 0 };
		g.method = "GET";
		g.key = key;
		g.range = 1;
		g.range_from = 0;
		g.range_to = 0;
		struct strbuf body = STRBUF_INIT;
		struct s3_err e2;
		if (request(s, ctx, &g, &body, NULL, &e2) != 0 && !e2.transport && e2.http >= 400)
			*e = e2;
		sb_release(&body);
	}
	return -1;
}

int s3_get(struct s3 *s, struct libctx *ctx, const char *key, uint64_t offset, uint64_t limit, s3_sink sink,
	   void *ud, struct s3_head *h, int *resumes, uint64_t *total_live, struct s3_err *e)
{
	memset(e, 0, sizeof(*e));
	memset(h, 0, sizeof(*h));
	*resumes = 0;
	uint64_t got = 0;
	char etag[130] = "";
	char what[300];
	snprintf(what, sizeof(what), "GET %s", key);
	for (int failures = 0;;) {
		struct req rq = { 0 };
		rq.method = "GET";
		rq.key = key;
		rq.sink = sink;
		rq.ud = ud;
		rq.total_live = total_live;
		if (offset + got > 0 || limit) {
			rq.range = 1;
			rq.range_from = offset + got;
			rq.range_to = limit ? offset + limit - 1 : UINT64_MAX;
		}
		if (limit)
			rq.limit = limit - got;
		rq.if_match = got ? etag : NULL;
		struct xfer x;
		CURLcode rc = perform(s, ctx, &rq, &x);
		e->attempts++;
		got += x.delivered;
		if (!etag[0] && x.head.etag[0])
			snprintf(etag, sizeof(etag), "%s", x.head.etag);
		if (x.ok && !h->size && x.head.size) {
			uint64_t sz = x.head.size;
			if (sz & (1ull << 63))
				h->size = sz & ~(1ull << 63);
			else if (x.status == 206)
				h->size = sz + rq.range_from; /* Content-Length of the rest */
			else
				h->size = sz;
			h->last_modified = x.head.last_modified;
		}
		int k = classify(s, ctx, rc, &x, e);
		if (k == 0 && x.status == 412) /* not reached: 412 is not 2xx */
			k = -1;
		int64_t ra = x.retry_after_us;
		sb_release(&x.body);
		if (k == 0) {
			snprintf(h->etag, sizeof(h->etag), "%s", etag);
			return 0;
		}
		if (!e->transport && e->http == 412) {
			snprintf(e->code, sizeof(e->code), "PreconditionFailed");
			snprintf(e->message, sizeof(e->message),
				 "the object changed while it was being read (its ETag is no longer %s)", etag);
			return -1;
		}
		if (k < 0)
			return -1;
		if (x.delivered > 0) {
			/* progress was made: resume where it broke off */
			failures = 0;
			(*resumes)++;
			lib_log(ctx, "%s: %s after %llu bytes; resuming with a Range request", what,
				e->message, (unsigned long long)(offset + got));
			if (*resumes > 1000)
				return -1;
			continue;
		}
		failures++;
		if (failures > s->c.retries)
			return -1;
		if (got)
			(*resumes)++;
		if (backoff(s, ctx, failures, ra, what, e) != 0) {
			e->cancelled = 1;
			return -1;
		}
	}
}

int s3_put(struct s3 *s, struct libctx *ctx, const char *key, const void *buf, size_t n, const char *content_type,
	   const char *sha_hex, struct s3_err *e)
{
	struct req rq = { 0 };
	rq.method = "PUT";
	rq.key = key;
	rq.body = buf;
	rq.body_len = n;
	rq.body_sha = sha_hex;
	rq.content_type = content_type;
	return request(s, ctx, &rq, NULL, NULL, e);
}

int s3_delete(struct s3 *s, struct libctx *ctx, const char *key, struct s3_err *e)
{
	struct req rq = { 0 };
	rq.method = "DELETE";
	rq.key = key;
	rq.cleanup = 1;
	return request(s, ctx, &rq, NULL, NULL, e);
}

struct list_doc {
	struct s3_obj *v;
	size_t n, alloc;
	struct s3_obj cur;
	int truncated;
	char *next;
	int is_list;
};

static void list_cb(void *ud, const char *path, const char *text)
{
	struct list_doc *d = ud;
	if (!strcmp(path, "ListBucketResult")) {
		d->is_list = 1;
	} else if (!strcmp(path, "ListBucketResult/Contents/Key")) {
		free(d->cur.key);
		d->cur.key = xstrdup(text);
	} else if (!strcmp(path, "ListBucketResult/Contents/Size")) {
		int64_t v;
		if (parse_int64(text, &v) == 0 && v >= 0)
			d->cur.size = (uint64_t)v;
	} else if (!strcmp(path, "ListBucketResult/Contents/LastModified")) {
		int64_t t;
		if (parse_timestamp(text, &t) == 0)
			d->cur.last_modified = t;
	} else if (!strcmp(path, "ListBucketResult/Contents/ETag")) {
		snprintf(d->cur.etag, sizeof(d->cur.etag), "%s", text);
	} else if (!strcmp(path, "ListBucketResult/Contents")) {
		if (d->cur.key) {
			if (d->n == d->alloc) {
				d->alloc = d->alloc ? d->alloc * 2 : 64;
				d->v = xrealloc(d->v, d->alloc * sizeof(*d->v));
			}
			d->v[d->n++] = d->cur;
		}
		memset(&d->cur, 0, sizeof(d->cur));
	} else if (!strcmp(path, "ListBucketResult/IsTruncated")) {
		d->truncated = !strcmp(text, "true");
	} else if (!strcmp(path, "ListBucketResult/NextContinuationToken")) {
		free(d->next);
		d->next = xstrdup(text);
	}
}

int s3_list(struct s3 *s, struct libctx *ctx, const char *prefix, size_t max_objects, struct s3_obj **objs,
	    size_t *n, struct s3_err *e)
{
	struct list_doc d = { 0 };
	char *token = NULL;
	int page = s->c.list_page > 0 && s->c.list_page <= 1000 ? s->c.list_page : 1000;
	int rc = 0;
	for (;;) {
		struct strbuf q = STRBUF_INIT;
		if (token) {
			char *t = s3_uri_encode(token, 0);
			sb_addf(&q, "continuation-token=%s&", t);
			free(t);
		}
		char *p = s3_uri_encode(prefix ? prefix : "", 0);
		sb_addf(&q, "list-type=2&max-keys=%d&prefix=%s", page, p);
		free(p);
		struct req rq = { 0 };
		rq.method = "GET";
		rq.query = sb_str(&q);
		struct strbuf body = STRBUF_INIT;
		int r = request(s, ctx, &rq, &body, NULL, e);
		sb_release(&q);
		if (r != 0) {
			rc = -1;
			break;
		}
		d.truncated = 0;
		free(d.next);
		d.next = NULL;
		d.is_list = 0;
		if (xml_walk(body.buf, body.len, list_cb, &d) != 0 || !d.is_list) {
			memset(e, 0, sizeof(*e));
			e->http = 200;
			snprintf(e->code, sizeof(e->code), "MalformedResponse");
			snprintf(e->message, sizeof(e->message), "the listing answer is not a ListBucketResult document");
			sb_release(&body);
			rc = -1;
			break;
		}
		sb_release(&body);
		free(d.cur.key);
		memset(&d.cur, 0, sizeof(d.cur));
		if (max_objects && d.n >= max_objects)
			break;
		if (!d.truncated || !d.next || !*d.next)
			break;
		free(token);
		token = d.next;
		d.next = NULL;
	}
	free(token);
	free(d.next);
	free(d.cur.key);
	if (rc != 0) {
		s3_objs_free(d.v, d.n);
		*objs = NULL;
		*n = 0;
		return -1;
	}
	*objs = d.v;
	*n = d.n;
	return 0;
}

void s3_objs_free(struct s3_obj *objs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(objs[i].key);
	free(objs);
}

struct mpu_doc {
	char *upload_id;
	struct err_doc err;
};

static void mpu_cb(void *ud, const char *path, const char *text)
{
	struct mpu_doc *d = ud;
	if (!strcmp(path, "InitiateMultipartUploadResult/UploadId")) {
		free(d->upload_id);
		d->upload_id = xstrdup(text);
	}
	err_cb(&d->err, path, text);
}

int s3_mpu_start(struct s3 *s, struct libctx *ctx, const char *key, char **upload_id, struct s3_err *e)
{
	*upload_id = NULL;
	struct req rq = { 0 };
	rq.method = "POST";
	rq.key = key;
	rq.query = "uploads=";
	rq.content_type = "application/octet-stream";
	struct strbuf body = STRBUF_INIT;
	if (request(s, ctx, &rq, &body, NULL, e) != 0)
		return -1;
	struct mpu_doc d = { 0 };
	int ok = xml_walk(body.buf, body.len, mpu_cb, &d) == 0 && d.upload_id && *d.upload_id;
	sb_release(&body);
	if (!ok) {
		free(d.upload_id);
		memset(e, 0, sizeof(*e));
		e->http = 200;
		snprintf(e->code, sizeof(e->code), "MalformedResponse");
		snprintf(e->message, sizeof(e->message), "no UploadId in the answer to InitiateMultipartUpload");
		return -1;
	}
	*upload_id = d.upload_id;
	return 0;
}

int s3_mpu_part(struct s3 *s, struct libctx *ctx, const char *key, const char *upload_id, int part, const void *buf,
		size_t n, const char *sha_hex, char etag[130], struct s3_err *e)
{
	char *id = s3_uri_encode(upload_id, 0);
	char *q = xasprintf("partNumber=%d&uploadId=%s", part, id);
	free(id);
	struct req rq = { 0 };
	rq.method = "PUT";
	rq.key = key;
	rq.query = q;
	rq.body = buf;
	rq.body_len = n;
	rq.body_sha = sha_hex;
	struct s3_head h = { 0 };
	int r = request(s, ctx, &rq, NULL, &h, e);
	free(q);
	if (r != 0)
		return -1;
	if (!h.etag[0]) {
		memset(e, 0, sizeof(*e));
		e->http = 200;
		snprintf(e->code, sizeof(e->code), "MalformedResponse");
		snprintf(e->message, sizeof(e->message), "no ETag in the answer to UploadPart %d", part);
		return -1;
	}
	snprintf(etag, 130, "%s", h.etag);
	return 0;
}

int s3_mpu_complete(struct s3 *s, struct libctx *ctx, const char *key, const char *upload_id, char *const *etags,
		    int nparts, struct s3_err *e)
{
	struct strbuf x = STRBUF_INIT;
	sb_adds(&x, "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
	for (int i = 0; i < nparts; i++) {
		sb_addf(&x, "<Part><PartNumber>%d</PartNumber><ETag>", i + 1);
		for (const char *p = etags[i]; *p; p++) {
			if (*p == '&')
				sb_adds(&x, "&amp;");
			else if (*p == '<')
				sb_adds(&x, "&lt;");
			else if (*p == '"')
				sb_adds(&x, "&quot;");
			else
				sb_addc(&x, *p);
		}
		sb_adds(&x, "</ETag></Part>");
	}
	sb_adds(&x, "</CompleteMultipartUpload>");
	char *id = s3_uri_encode(upload_id, 0);
	char *q = xasprintf("uploadId=%s", id);
	free(id);
	struct req rq = { 0 };
	rq.method = "POST";
	rq.key = key;
	rq.query = q;
	rq.body = x.buf;
	rq.body_len = x.len;
	rq.content_type = "application/xml";
	int rc = -1;
	/* S3 may answer 200 with an <Error> document: retried like a 5xx. */
	for (int failures = 0;;) {
		struct strbuf body = STRBUF_INIT;
		if (request(s, ctx, &rq, &body, NULL, e) != 0)
			break;
		struct err_doc d = { 0 };
		if (xml_walk(body.buf, body.len, err_cb, &d) == 0 && d.is_error) {
			sb_release(&body);
			memset(e, 0, sizeof(*e));
			e->http = 200;
			snprintf(e->code, sizeof(e->code), "%s", d.code);
			snprintf(e->message, sizeof(e->message), "%s", d.message);
			failures++;
			if ((strcmp(d.code, "InternalError") && strcmp(d.code, "SlowDown")) || failures > s->c.retries)
				break;
			if (backoff(s, ctx, failures, 0, "CompleteMultipartUpload", e) != 0)
				break;
			continue;
		}
		sb_release(&body);
		rc = 0;
		break;
	}
	free(q);
	sb_release(&x);
	return rc;
}

int s3_mpu_abort(struct s3 *s, struct libctx *ctx, const char *key, const char *upload_id, struct s3_err *e)
{
	char *id = s3_uri_encode(upload_id, 0);
	char *q = xasprintf("uploadId=%s", id);
	free(id);
	struct req rq = { 0 };
	rq.method = "DELETE";
	rq.key = key;
	rq.query = q;
	rq.cleanup = 1;
	int r = request(s, ctx, &rq, NULL, NULL, e);
	free(q);
	return r;
}
