/*
 * stores.c: the family of the off-site stores: the `s3` and `dir` resource
 * kinds, and the store (lib/store.h) each such resource opens, created the
 * first time a step uses it and kept as the resource's per-run handle, so
 * that the S3 client's connection is reused by every step of the run. The
 * families that read and write dumps (dump.c, offsite.c) take a store from
 * here.
 */
#include "stores.h"

#include <stdlib.h>
#include <string.h>

#include "credential.h"
#include "stepctx.h"

static void release_store(void *h)
{
	store_free(h);
}

static char *field_dup(struct resource *r, const char *f)
{
	const char *v = res_str(r, f);
	return v && *v ? xstrdup(v) : NULL;
}

/* The S3 client's configuration from the resource's fields (their declared
 * defaults are the same as below). */
static void s3_conf_from(struct resource *r, struct s3_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->region = field_dup(r, "region");
	c->endpoint = field_dup(r, "endpoint");
	c->bucket = field_dup(r, "bucket");
	c->access_key = field_dup(r, "access_key");
	c->secret_key = field_dup(r, "secret_key");
	c->session_token = field_dup(r, "session_token");
	c->ca_file = field_dup(r, "ca_file");
	c->path_style = res_bool(r, "path_style", 0);
	c->tls_verify = res_bool(r, "tls_verify", 1);
	c->connect_timeout_us = res_duration_us(r, "connect_timeout", 10000000);
	c->read_timeout_us = res_duration_us(r, "read_timeout", 60000000);
	c->retries = (int)res_int(r, "retries", 5);
	c->retry_delay_us = res_duration_us(r, "retry_delay", 250000);
	c->list_page = (int)res_int(r, "list_page_size", 1000);
}

struct store *store_open(struct act *a, struct resource *r)
{
	if (!r)
		return NULL;
	struct store *s = res_handle(r);
	if (s)
		return s;
	const char *kind = r->kind ? r->kind->name : "";
	if (strcmp(kind, "s3") != 0 && strcmp(kind, "dir") != 0) {
		act_fail(a, "resource '%s' is of kind %s, not a store; give an s3 or dir resource", r->name, kind);
		return NULL;
	}
	struct store_conf conf = {
		.name = r->name,
		.prefix = res_str(r, "prefix"),
		.is_s3 = !strcmp(kind, "s3"),
		.path = res_str(r, "path"),
		.part_mb = res_int(r, "part_size_mb", 16),
	};
	if (conf.is_s3)
		s3_conf_from(r, &conf.s3);
	struct libctx c = stepctx(a);
	s = store_new(&c, &conf);
	if (s)
		res_set_handle(r, s);
	else
		stepctx_fail(a, &c);
	libctx_release(&c);
	return s;
}

static int s3_kind_check(const struct argq *q)
{
	int absent = 0;
	const char *ep = argq_str(q, "endpoint", &absent);
	if (ep && *ep && strncmp(ep, "http://", 7) != 0 && strncmp(ep, "https://", 8) != 0) {
		argq_error(q, "endpoint", "endpoint '%s' must start with https:// (or http:// on a trusted network)", ep);
		return 1;
	}
	return 0;
}

static int dir_kind_check(const struct argq *q)
{
	int absent = 0;
	const char *p = argq_str(q, "path", &absent);
	if (p && !*p) {
		argq_error(q, "path", "path is empty; give the directory that holds the dumps");
		return 1;
	}
	return 0;
}

/* The keys of signed manifests (SPEC.md, 'Signed manifests'), the same
 * on both kinds (kept in alphabetical order within each table). */
#define STORE_SIGNING_FIELDS                                                                          \
	{ .name = "signing_key", .type = T_STRING, .flags = P_SECRET,                                 \
	  .doc = "an Ed25519 private key (PEM, from a secret): dump.create signs the manifests it writes" }
#define STORE_VERIFY_FIELDS                                                                           \
	{ .name = "verify_key", .type = T_STRING,                                                     \
	  .doc = "an Ed25519 public key (PEM): offsite.check and dump.restore refuse a dump whose manifest it did not sign" }

static const struct param_spec s3_fields[] = {
	{ .name = "access_key", .type = T_STRING, .flags = P_REQUIRED,
	  .doc = "the access key id (outputs show it partly masked)" },
	{ .name = "bucket", .type = T_STRING, .flags = P_REQUIRED, .doc = "the bucket" },
	{ .name = "ca_file", .type = T_STRING, .doc = "a PEM file of extra CA certificates, added to the system's" },
	{ .name = "connect_timeout", .type = T_DURATION, .def = "10s", .doc = "how long to wait for a connection" },
	{ .name = "endpoint", .type = T_STRING,
	  .doc = "https://host[:port] of an S3-compatible service (default: AWS, https://s3.REGION.amazonaws.com)" },
	{ .name = "list_page_size", .type = T_INT, .def = "1000", .doc = "objects per ListObjectsV2 page (1-1000)" },
	{ .name = "part_size_mb", .type = T_INT, .def = "16",
	  .doc = "multipart upload part size in MiB (5-512); uploads hold two parts in memory" },
	{ .name = "path_style", .type = T_BOOL, .def = "false",
	  .doc = "address the bucket as endpoint/bucket/key (most S3-compatible servers) instead of bucket.host/key" },
	{ .name = "prefix", .type = T_STRING, .def = "",
	  .doc = "the folder of the dumps inside the bucket (a '/' is added)" },
	{ .name = "read_timeout", .type = T_DURATION, .def = "60s",
	  .doc = "a request that moves no data for this long fails (and is retried)" },
	{ .name = "region", .type = T_STRING, .def = "us-east-1", .doc = "the region, part of the signature" },
	{ .name = "retries", .type = T_INT, .def = "5",
	  .doc = "retries of a request after connection errors, 5xx and 429 answers (never other 4xx)" },
	{ .name = "retry_delay", .type = T_DURATION, .def = "250ms",
	  .doc = "the first backoff delay; it doubles up to 20s" },
	{ .name = "secret_key", .type = T_STRING, .flags = P_REQUIRED | P_SECRET, .doc = "the secret access key" },
	{ .name = "session_token", .type = T_STRING, .flags = P_SECRET,
	  .doc = "a session token, for temporary credentials" },
	STORE_SIGNING_FIELDS,
	{ .name = "tls_verify", .type = T_BOOL, .def = "true", .doc = "verify the server's TLS certificate" },
	STORE_VERIFY_FIELDS,
	{ .name = NULL },
};

const struct kind_def s3_kind = {
	.name = "s3",
	.fields = s3_fields,
	.doc = "An S3 bucket (AWS or an S3-compatible service) holding dumps under a prefix. Requests are signed with SigV4 by libcurl, reuse one connection for the run, time out, and are retried with exponential backoff on connection errors, 5xx and 429 only.",
	.release = release_store,
	.check = s3_kind_check,
};

static const struct param_spec dir_fields[] = {
	{ .name = "path", .type = T_STRING, .flags = P_REQUIRED,
	  .doc = "the directory (usually an NFS or rclone mount)" },
	{ .name = "prefix", .type = T_STRING, .def = "",
	  .doc = "a sub-folder of path for the dumps (a '/' is added)" },
	STORE_SIGNING_FIELDS,
	STORE_VERIFY_FIELDS,
	{ .name = NULL },
};

const struct kind_def dir_kind = {
	.name = "dir",
	.fields = dir_fields,
	.doc = "A directory holding dumps, usually an off-site NFS or rclone mount. Writes are atomic: a temporary name, fsync, rename, fsync of the directory.",
	.release = release_store,
	.check = dir_kind_check,
};

static const struct kind_def *const stores_kinds[] = { &dir_kind, &s3_kind, NULL };

/* AWS credentials: key ids, a secret key beside its id, and the settings
 * that assign them. */
static const struct redact_pattern stores_patterns[] = {
	REDACT_ASSIGNED("secret_key|secret_access_key|aws_secret_access_key"),
	{ .re = "\\b((?:AKIA|ASIA)[A-Z0-9]{16})\\b", .group = 1, .what = "an AWS access key id" },
	{ .re = "\\b(?:AKIA|ASIA)[A-Z0-9]{16}.{0,40}?(?<![A-Za-z0-9/+=])([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])",
	  .group = 1, .what = "an AWS secret access key" },
	REDACT_URL_PASSWORD,
	{ .re = NULL },
};

const struct family stores_family = {
	.name = "stores",
	.kinds = stores_kinds,
	.patterns = stores_patterns,
};
