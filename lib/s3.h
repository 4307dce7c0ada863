/*
 * s3.h: a small S3 client on libcurl, for the `s3` store kind (store.c).
 * Requests are signed by libcurl itself (CURLOPT_AWS_SIGV4); the caller-set
 * x-amz-content-sha256 header carries the payload hash, which the libcurl of
 * Debian 12 (7.88) needs. One CURL easy handle per client keeps connections
 * alive across requests. Failed requests are retried with exponential backoff
 * on connection errors, 5xx and 429 only (never on another 4xx); a download
 * that breaks off resumes with a Range request (If-Match the ETag). Error
 * documents are parsed with expat: the S3 error Code and Message come back
 * in struct s3_err, without secrets.
 */
#ifndef DRPLAY_S3_H
#define DRPLAY_S3_H

#include <stddef.h>
#include <stdint.h>

#include "libctx.h"

struct s3_conf {
	char *endpoint;      /* scheme://host[:port] (no trailing slash) */
	char *region;
	char *bucket;
	char *access_key;
	char *secret_key;    /* wiped on release */
	char *session_token; /* NULL when none; wiped on release */
	char *ca_file;       /* an extra CA bundle (added to the system's), or NULL */
	int path_style;      /* 1: endpoint/bucket/key, 0: bucket.host/key */
	int tls_verify;
	int64_t connect_timeout_us;
	int64_t read_timeout_us;   /* a transfer with no bytes for this long fails */
	int retries;               /* extra attempts after the first */
	int64_t retry_delay_us;    /* first backoff delay; doubles, capped at 20 s */
	int list_page;             /* max-keys per ListObjectsV2 page */
};

/* What went wrong with a request, for messages. */
struct s3_err {
	long http;          /* HTTP status, 0 when there was no answer */
	char code[64];      /* S3 error Code ("NoSuchKey"), or "" */
	char message[512];  /* S3 error Message, or the transport error */
	int transport;      /* 1: no complete HTTP answer (connection, timeout) */
	int cancelled;      /* ended by interruption or the step's timeout */
	int sink_failed;    /* the caller's sink refused data (its own message) */
	int attempts;
};

struct s3;

/* Creates a client; takes ownership of the strings in *c (the struct itself
 * is copied). Never NULL. */
struct s3 *s3_new(const struct s3_conf *c);
void s3_free(struct s3 *s);
/* Frees the strings of a configuration that was not given to s3_new. */
void s3_conf_release(struct s3_conf *c);
const struct s3_conf *s3_conf(const struct s3 *s);

/* A response's facts. */
struct s3_head {
	uint64_t size;          /* Content-Length (HEAD/GET: the object's size) */
	int64_t last_modified;  /* microseconds, 0 when unknown */
	char etag[130];
};

/* An object in a listing. */
struct s3_obj {
	char *key;
	uint64_t size;
	int64_t last_modified;
	char etag[130];
};

/* A sink receives downloaded bytes in order; returns 0, or -1 to stop (it
 * says why itself: e->sink_failed is then set). */
typedef int (*s3_sink)(void *ud, const void *data, size_t n);

/* HEAD of an object. Returns 0 (found, *h filled), 1 (no such key), or -1
 * with *e filled. */
int s3_head(struct s3 *s, struct libctx *ctx, const char *key, struct s3_head *h, struct s3_err *e);

/* Streams an object (from byte `offset`, up to `limit` bytes when limit > 0)
 * into sink, resuming after a dropped connection with a Range request.
 * *h gets the object's size and ETag; *resumes counts the resumptions;
 * *total_live (when not NULL, and 0) is set to the object's size as soon as
 * the answer starts, before the sink sees a byte. Returns 0 or -1 with *e
 * filled. */
int s3_get(struct s3 *s, struct libctx *ctx, const char *key, uint64_t offset, uint64_t limit, s3_sink sink,
	   void *ud, struct s3_head *h, int *resumes, uint64_t *total_live, struct s3_err *e);

/* Uploads a buffer (PutObject) with its SHA-256 as the payload hash
 * (sha_hex when the caller has it, else computed). Returns 0 or -1 with
 * *e filled. */
int s3_put(struct s3 *s, struct libctx *ctx, const char *key, const void *buf, size_t n, const char *content_type,
	   const char *sha_hex, struct s3_err *e);

/* Deletes an object. Returns 0 or -1 with *e filled. Deletes (and
 * s3_mpu_abort) are clean-up: after an interruption they still run, as one
 * attempt bounded to 15 seconds. */
int s3_delete(struct s3 *s, struct libctx *ctx, const char *key, struct s3_err *e);

/* Lists every object whose key starts with prefix, following continuation
 * tokens (at most max_objects when > 0). *objs is a new array (free with
 * s3_objs_free). Returns 0 or -1 with *e filled. */
int s3_list(struct s3 *s, struct libctx *ctx, const char *prefix, size_t max_objects, struct s3_obj **objs,
	    size_t *n, struct s3_err *e);
void s3_objs_free(struct s3_obj *objs, size_t n);

/* Multipart upload: initiate (sets *upload_id, caller frees), upload part
 * `part` (1..10000; every part but the last at least 5 MiB; its SHA-256 as
 * sha_hex or NULL; the part's ETag into etag[130]), complete with the
 * parts' ETags, abort. Each returns 0 or -1 with *e filled. */
int s3_mpu_start(struct s3 *s, struct libctx *ctx, const char *key, char **upload_id, struct s3_err *e);
int s3_mpu_part(struct s3 *s, struct libctx *ctx, const char *key, const char *upload_id, int part, const void *buf,
		size_t n, const char *sha_hex, char etag[130], struct s3_err *e);
int s3_mpu_complete(struct s3 *s, struct libctx *ctx, const char *key, const char *upload_id, char *const *etags,
		    int nparts, struct s3_err *e);
int s3_mpu_abort(struct s3 *s, struct libctx *ctx, const char *key, const char *upload_id, struct s3_err *e);

/* "Code: Message (HTTP 404)" or the transport error, in buf. */
const char *s3_err_text(const struct s3_err *e, char *buf, size_t n);
/* What to check for a given error, or "" (a sentence starting with "; "). */
const char *s3_err_hint(const struct s3_err *e);

/* Percent-encodes s for a URL path (keep_slash) or a query value. */
char *s3_uri_encode(const char *s, int keep_slash);

#endif
