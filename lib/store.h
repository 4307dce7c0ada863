/*
 * store.h: off-site stores, one interface over two resource kinds:
 *   - `s3`: an S3 bucket (AWS or compatible) through s3.c;
 *   - `dir`: a directory, usually an NFS or rclone mount.
 * Keys are relative to the store (`prefix` included by the caller through
 * store_key()); objects are streamed in both directions with constant
 * memory. Writes are atomic: a dir object appears under its name only once
 * it is complete and synced (temporary name, fsync, rename, fsync of the
 * directory); an S3 object only when its upload completes (a multipart
 * upload is aborted on failure).
 *
 * Every function that can fail leaves a message in the context's err
 * (libctx.h) that names the store, the object and the cause and says what
 * to check, and returns -1. The `s3` and `dir` resource kinds, and the store
 * kept per resource for a run, are the stores family's (stdlib/stores.h):
 * any family (a report uploader, say) can reuse all of it.
 */
#ifndef DRPLAY_STORE_H
#define DRPLAY_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "libctx.h"
#include "s3.h"

struct store;

/* How to open a store. */
struct store_conf {
	const char *name;       /* the resource's name, for messages */
	const char *prefix;     /* the folder inside the store, NULL or "" for none */
	int is_s3;
	const char *path;       /* dir: the directory */
	struct s3_conf s3;      /* s3: taken over by store_new (even when it fails);
				 * region and endpoint default to AWS's us-east-1 */
	int64_t part_mb;        /* s3: the multipart part size in MiB */
};
/* Opens a store: checks the configuration (a dir must exist; an S3
 * configuration must be complete), registers the S3 secret key and session
 * token as secrets (lib_secret). NULL with ctx->err set when it cannot. */
struct store *store_new(struct libctx *ctx, struct store_conf *c);
void store_free(struct store *s);
/* The resource's name, for messages. */
const char *store_name(const struct store *s);
/* Where it is: "s3://bucket/prefix" or "/path/prefix". */
const char *store_where(const struct store *s);
/* The prefix, "" or ending in '/'. */
const char *store_prefix(const struct store *s);
int store_is_s3(const struct store *s);
/* Whether key can name an object of this store (dir: a relative path that
 * stays below the directory; s3: not empty). 0, or -1 after lib_fail. */
int store_key_ok(struct libctx *ctx, struct store *s, const char *key);
/* A full key: the prefix followed by rel (new string). */
char *store_key(const struct store *s, const char *rel);

/* An object. */
struct store_obj {
	char *key;
	uint64_t size;
	int64_t mtime;      /* last modified, microseconds (0 unknown) */
};
struct store_objs {
	struct store_obj *v;
	size_t n;
};
void store_objs_release(struct store_objs *o);

/* Every object whose key starts with the store's prefix (dir: regular files
 * below the prefix, hidden and temporary ones left out); with max > 0 the
 * listing may stop after max objects. 0 or -1. */
int store_list(struct libctx *ctx, struct store *s, size_t max, struct store_objs *out);

/* Facts about one object: 0 found (*o filled; o->key is NULL), 1 missing,
 * -1 failure. */
int store_stat(struct libctx *ctx, struct store *s, const char *key, struct store_obj *o);

/* Receives bytes in order: returns 0, or -1 to stop; it says why itself
 * (the reading call then returns -1 with no reason in ctx->err). */
typedef int (*store_sink)(void *ud, const void *data, size_t n);

/* What a read did. */
struct store_xfer {
	uint64_t size;      /* the object's size: set before the sink's first call */
	uint64_t bytes;     /* bytes delivered */
	int resumes;        /* resumed after a dropped connection */
	int attempts;
};

/* Streams an object from `offset` (up to `limit` bytes when > 0) into sink.
 * Returns 0, 1 when the object does not exist (nothing delivered, no
 * reason), or -1 (the reason in ctx->err, or none when the sink stopped). */
int store_read(struct libctx *ctx, struct store *s, const char *key, uint64_t offset, uint64_t limit, store_sink sink,
	       void *ud, struct store_xfer *x);

/* Reads a small object (at most max bytes) into *buf (NUL-terminated,
 * caller frees). 0, 1 missing, -1 failure (also when larger than max). */
int store_read_small(struct libctx *ctx, struct store *s, const char *key, size_t max, char **buf, size_t *len);

/* Writes a small object atomically. 0 or -1. */
int store_write_small(struct libctx *ctx, struct store *s, const char *key, const void *buf, size_t n,
		      const char *content_type);

/* Deletes an object. 0 or -1. */
int store_remove(struct libctx *ctx, struct store *s, const char *key);

/* A streaming upload. Blocks are handed over in order; the first must be
 * store_writer_first_block() bytes and every later one but the last
 * store_writer_block() bytes (S3: parts of at least 5 MiB; a small first
 * part lets the upload start early). sha_hex is the block's SHA-256 when
 * the caller has it (else NULL). Nothing is visible under the key before
 * store_writer_commit(). */
struct store_writer;
/* Starts a writer; fails when the key exists already. NULL after lib_fail. */
struct store_writer *store_writer_new(struct libctx *ctx, struct store *s, const char *key);
size_t store_writer_block(const struct store_writer *w);
size_t store_writer_first_block(const struct store_writer *w);
int store_writer_put(struct libctx *ctx, struct store_writer *w, const void *buf, size_t n, int last, const char *sha_hex);
/* Makes the object visible. 0 or -1 (then abort it). */
int store_writer_commit(struct libctx *ctx, struct store_writer *w);
/* Removes whatever was written (temporary file, multipart parts). Keeps the
 * step's error message. */
void store_writer_abort(struct libctx *ctx, struct store_writer *w);
/* Frees a committed or aborted writer. */
void store_writer_free(struct store_writer *w);
/* Parts uploaded (S3 multipart; 0 for a single PUT or a dir). */
int store_writer_parts(const struct store_writer *w);

/* Least-privilege probes (offsite.whoami). Each returns 1 when the store
 * refused the operation, 0 when it allowed it, -1 on a failure that proves
 * neither (lib_fail done). *detail gets what the store said. */
int store_probe_write(struct libctx *ctx, struct store *s, const char *key, char *detail, size_t n);
int store_probe_delete(struct libctx *ctx, struct store *s, const char *key, char *detail, size_t n);
/* Reading a key that does not exist: 1 refused (403), 0 allowed (404). */
int store_probe_read_missing(struct libctx *ctx, struct store *s, const char *key, char *detail, size_t n);
/* Who the store sees: "key id DRPL…0002" or "uid 0 (root)"; and the key id,
 * partly masked (s3) or the user name (dir). */
void store_identity(const struct store *s, char *identity, size_t n, char *key_id, size_t kn);
/* The full access key id (s3), or NULL. */
const char *store_access_key(const struct store *s);

#endif
