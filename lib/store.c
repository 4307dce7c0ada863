/*
 * store.c: one interface over two kinds of off-site store, an S3 bucket
 * (s3.c) and a directory (see store.h). The `s3` and `dir` resource kinds
 * that configure them are declared by the family that owns them
 * (stdlib/stores.c), which keeps a store per resource for the run, so the
 * S3 client's connection is reused by every step.
 *
 * The dir store writes atomically: a temporary file beside the target
 * (".NAME.drplay-tmp-RANDOM"), fsync, renameat2(RENAME_NOREPLACE) (link+unlink
 * where the file system lacks it), then fsync of the directory, so that a
 * crash or a failure never leaves a partial object under the final name.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "s3.h"
#include "store.h"
#include "util.h"

#define DIR_BLOCK (1u << 20)
#define MIB (1024u * 1024u)
#define MAX_PARTS 10000

struct store {
	char *name;
	char *where;
	char *prefix;
	struct s3 *s3;      /* kind s3 */
	char *root;         /* kind dir: the directory, no trailing slash */
	size_t part_size;
};

void store_free(struct store *s)
{
	if (!s)
		return;
	s3_free(s->s3);
	free(s->name);
	free(s->where);
	free(s->prefix);
	free(s->root);
	free(s);
}

static char *norm_prefix(const char *p)
{
	if (!p)
		return xstrdup("");
	while (*p == '/')
		p++;
	size_t n = strlen(p);
	if (!n)
		return xstrdup("");
	return p[n - 1] == '/' ? xstrdup(p) : xasprintf("%s/", p);
}

static struct store *dir_new(struct libctx *ctx, struct store *s, const char *p)
{
	if (!p || !*p) {
		lib_fail(ctx, "dir store '%s' has an empty path; set it to the directory that holds the dumps", s->name);
		store_free(s);
		return NULL;
	}
	size_t n = strlen(p);
	while (n > 1 && p[n - 1] == '/')
		n--;
	s->root = xstrndup(p, n);
	struct stat st;
	if (stat(s->root, &st) != 0 || !S_ISDIR(st.st_mode)) {
		lib_fail(ctx, "dir store '%s': '%s' is not a directory (%s); check that the off-site mount is there",
			 s->name, s->root, errno ? strerror(errno) : "not a directory");
		store_free(s);
		return NULL;
	}
	s->where = xasprintf("%s/%s", s->root, s->prefix);
	if (s->where[strlen(s->where) - 1] == '/' && strlen(s->where) > 1)
		s->where[strlen(s->where) - 1] = '\0';
	s->part_size = DIR_BLOCK;
	return s;
}

/* What is wrong with an S3 configuration (why[] gets the text), or NULL. */
static const char *s3_conf_problem(const struct s3_conf *c, int64_t part_mb, char *why, size_t n)
{
	if (!c->bucket)
		return "bucket is empty";
	if (!c->access_key)
		return "access_key is empty";
	if (!c->secret_key)
		return "secret_key is empty";
	if (part_mb < 5 || part_mb > 512)
		snprintf(why, n, "part_size_mb is %lld; S3 parts are 5 to 512 MiB here", (long long)part_mb);
	else if (c->retries < 0 || c->retries > 100)
		snprintf(why, n, "retries is %d; give 0 to 100", c->retries);
	else if (c->list_page < 1 || c->list_page > 1000)
		snprintf(why, n, "list_page_size is %d; give 1 to 1000", c->list_page);
	else
		return NULL;
	return why;
}

static struct store *s3_store_new(struct libctx *ctx, struct store *s, struct s3_conf *c, int64_t part_mb)
{
	if (!c->region)
		c->region = xstrdup("us-east-1");
	if (!c->endpoint)
		c->endpoint = xasprintf("https://s3.%s.amazonaws.com", c->region);
	size_t el = strlen(c->endpoint);
	while (el && c->endpoint[el - 1] == '/')
		c->endpoint[--el] = '\0';
	int failed = 1;
	char why[160];
	const char *bad;
	if (strncmp(c->endpoint, "http://", 7) != 0 && strncmp(c->endpoint, "https://", 8) != 0) {
		lib_fail(ctx, "s3 store '%s': endpoint '%s' must start with https:// (or http:// on a trusted network)",
			 s->name, c->endpoint);
	} else {
		lib_secret(ctx, c->secret_key);
		lib_secret(ctx, c->session_token);
		bad = s3_conf_problem(c, part_mb, why, sizeof(why));
		if (bad)
			lib_fail(ctx, "s3 store '%s': %s; set it in the resource", s->name, bad);
		else if (c->ca_file && access(c->ca_file, R_OK) != 0)
			lib_fail(ctx, "s3 store '%s': cannot read ca_file '%s': %s", s->name, c->ca_file,
				 strerror(errno));
		else
			failed = 0;
	}
	if (failed) {
		s3_conf_release(c);
		store_free(s);
		return NULL;
	}
	s->part_size = (size_t)part_mb * MIB;
	s->where = xasprintf("s3://%s/%s", c->bucket, s->prefix);
	if (s->where[strlen(s->where) - 1] == '/')
		s->where[strlen(s->where) - 1] = '\0';
	s->s3 = s3_new(c);
	memset(c, 0, sizeof(*c));
	return s;
}

struct store *store_new(struct libctx *ctx, struct store_conf *c)
{
	struct store *s = xcalloc(1, sizeof(*s));
	s->name = xstrdup(c->name);
	s->prefix = norm_prefix(c->prefix);
	if (!c->is_s3)
		return dir_new(ctx, s, c->path);
	return s3_store_new(ctx, s, &c->s3, c->part_mb);
}
const char *store_name(const struct store *s)
{
	return s->name;
}

const char *store_where(const struct store *s)
{
	return s->where;
}

const char *store_prefix(const struct store *s)
{
	return s->prefix;
}

int store_is_s3(const struct store *s)
{
	return s->s3 != NULL;
}

char *store_key(const struct store *s, const char *rel)
{
	while (*rel == '/')
		rel++;
	return xasprintf("%s%s", s->prefix, rel);
}

const char *store_access_key(const struct store *s)
{
	return s->s3 ? s3_conf(s->s3)->access_key : NULL;
}

void store_identity(const struct store *s, char *identity, size_t n, char *key_id, size_t kn)
{
	if (s->s3) {
		const char *k = s3_conf(s->s3)->access_key;
		size_t l = strlen(k);
		if (l >= 12)
			snprintf(key_id, kn, "%.4s...%s", k, k + l - 4);
		else if (l >= 4)
			snprintf(key_id, kn, "%.2s...", k);
		else
			snprintf(key_id, kn, "...");
		snprintf(identity, n, "access key %s at %s (region %s)", key_id, s3_conf(s->s3)->endpoint,
			 s3_conf(s->s3)->region);
		return;
	}
	struct passwd *pw = getpwuid(geteuid());
	snprintf(key_id, kn, "%s", pw ? pw->pw_name : "?");
	snprintf(identity, n, "uid %ld (%s) on %s", (long)geteuid(), pw ? pw->pw_name : "?", s->root);
}

/* ---- messages ---- */

static int s3_fail(struct libctx *ctx, struct store *s, const char *op, const char *key, const struct s3_err *e)
{
	if (e->sink_failed) {
		lib_clear(ctx); /* the sink said why */
		return -1;
	}
	char eb[400];
	if (e->cancelled)
		lib_fail(ctx, "s3 store '%s': %s '%s' was cancelled (interrupted or the step timed out)", s->name, op,
			 key);
	else
		lib_fail(ctx, "s3 store '%s' (%s): %s '%s' failed%s: %s%s", s->name, s->where, op, key,
			 e->attempts > 1 ? " after retries" : "", s3_err_text(e, eb, sizeof(eb)), s3_err_hint(e));
	return -1;
}

/* A key usable as a path below the dir root: relative, no "." or ".."
 * segments, no empty segments. */
static int dir_key_ok(struct libctx *ctx, struct store *s, const char *key)
{
	const char *p = key;
	if (!*p || *p == '/')
		goto bad;
	while (*p) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			goto bad;
		p += n;
		if (*p == '/')
			p++;
	}
	return 0;
bad:
	lib_fail(ctx, "dir store '%s': key '%s' is not a relative path below the store (no '..', '.' or empty parts)",
		 s->name, key);
	return -1;
}

int store_key_ok(struct libctx *ctx, struct store *s, const char *key)
{
	if (!key || !*key) {
		lib_fail(ctx, "the key is empty; give the dump's key (for example ${steps.latest.key})");
		return -1;
	}
	return s->s3 ? 0 : dir_key_ok(ctx, s, key);
}

static char *dir_path(struct store *s, const char *key)
{
	return xasprintf("%s/%s", s->root, key);
}

/* ---- list ---- */

static void objs_add(struct store_objs *o, size_t *alloc, char *key, uint64_t size, int64_t mtime)
{
	if (o->n == *alloc) {
		*alloc = *alloc ? *alloc * 2 : 64;
		o->v = xrealloc(o->v, *alloc * sizeof(*o->v));
	}
	o->v[o->n].key = key;
	o->v[o->n].size = size;
	o->v[o->n].mtime = mtime;
	o->n++;
}

void store_objs_release(struct store_objs *o)
{
	for (size_t i = 0; i < o->n; i++)
		free(o->v[i].key);
	free(o->v);
	o->v = NULL;
	o->n = 0;
}

static int dir_walk(struct libctx *ctx, struct store *s, const char *rel, struct store_objs *o, size_t *alloc,
		    int depth)
{
	char *path = *rel ? xasprintf("%s/%s", s->root, rel) : xstrdup(s->root);
	DIR *d = opendir(path);
	if (!d) {
		int err = errno;
		if (err == ENOENT && depth > 0) {
			free(path);
			return 0;
		}
		if (err == ENOENT) {
			free(path);
			return 0; /* the prefix's directory does not exist yet: empty */
		}
		lib_fail(ctx, "dir store '%s': cannot list '%s': %s; check the mount and its permissions", s->name, path,
			 strerror(err));
		free(path);
		return -1;
	}
	int rc = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue; /* hidden, temporary, . and .. */
		char *child = *rel ? xasprintf("%s/%s", rel, de->d_name) : xstrdup(de->d_name);
		char *full = xasprintf("%s/%s", s->root, child);
		struct stat st;
		if (stat(full, &st) != 0) {
			free(full);
			free(child);
			continue;
		}
		free(full);
		if (S_ISDIR(st.st_mode)) {
			if (depth < 32 && dir_walk(ctx, s, child, o, alloc, depth + 1) != 0) {
				free(child);
				rc = -1;
				break;
			}
			free(child);
		} else if (S_ISREG(st.st_mode)) {
			if (!strncmp(child, s->prefix, strlen(s->prefix)))
				objs_add(o, alloc, child, (uint64_t)st.st_size,
					 (int64_t)st.st_mtim.tv_sec * 1000000 + st.st_mtim.tv_nsec / 1000);
			else
				free(child);
		} else {
			free(child);
		}
	}
	closedir(d);
	free(path);
	return rc;
}

int store_list(struct libctx *ctx, struct store *s, size_t max, struct store_objs *out)
{
	out->v = NULL;
	out->n = 0;
	if (s->s3) {
		struct s3_obj *objs = NULL;
		size_t n = 0;
		struct s3_err e;
		if (s3_list(s->s3, ctx, s->prefix, max, &objs, &n, &e) != 0)
			return s3_fail(ctx, s, "listing", s->prefix, &e);
		size_t alloc = 0;
		for (size_t i = 0; i < n; i++) {
			objs_add(out, &alloc, objs[i].key, objs[i].size, objs[i].last_modified);
			objs[i].key = NULL;
		}
		s3_objs_free(objs, n);
		return 0;
	}
	/* dir: walk the prefix's directory part */
	char *rel = xstrdup(s->prefix);
	char *slash = strrchr(rel, '/');
	if (slash)
		*slash = '\0';
	else
		rel[0] = '\0';
	size_t alloc = 0;
	int rc = dir_walk(ctx, s, rel, out, &alloc, 0);
	free(rel);
	if (rc != 0)
		store_objs_release(out);
	return rc;
}

/* ---- stat and read ---- */

int store_stat(struct libctx *ctx, struct store *s, const char *key, struct store_obj *o)
{
	memset(o, 0, sizeof(*o));
	if (s->s3) {
		struct s3_head h;
		struct s3_err e;
		int r = s3_head(s->s3, ctx, key, &h, &e);
		if (r == 1)
			return 1;
		if (r != 0)
			return s3_fail(ctx, s, "HEAD", key, &e);
		o->size = h.size;
		o->mtime = h.last_modified;
		return 0;
	}
	if (dir_key_ok(ctx, s, key) != 0)
		return -1;
	char *p = dir_path(s, key);
	struct stat st;
	int r = stat(p, &st);
	int err = errno;
	free(p);
	if (r != 0) {
		if (err == ENOENT || err == ENOTDIR)
			return 1;
		lib_fail(ctx, "dir store '%s': cannot stat '%s': %s", s->name, key, strerror(err));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		lib_fail(ctx, "dir store '%s': '%s' is not a regular file", s->name, key);
		return -1;
	}
	o->size = (uint64_t)st.st_size;
	o->mtime = (int64_t)st.st_mtim.tv_sec * 1000000 + st.st_mtim.tv_nsec / 1000;
	return 0;
}

struct counting {
	store_sink f;
	void *ud;
	uint64_t n;
};

static int counting_sink(void *ud, const void *p, size_t n)
{
	struct counting *c = ud;
	if (c->f(c->ud, p, n) != 0)
		return -1;
	c->n += n;
	return 0;
}

int store_read(struct libctx *ctx, struct store *s, const char *key, uint64_t offset, uint64_t limit, store_sink sink,
	       void *ud, struct store_xfer *x)
{
	memset(x, 0, sizeof(*x));
	if (s->s3) {
		struct s3_head h;
		struct s3_err e;
		int resumes = 0;
		struct counting c = { sink, ud, 0 };
		int r = s3_get(s->s3, ctx, key, offset, limit, counting_sink, &c, &h, &resumes, &x->size, &e);
		x->bytes = c.n;
		if (h.size)
			x->size = h.size;
		x->resumes = resumes;
		x->attempts = e.attempts;
		if (r != 0) {
			if (!e.transport && !e.cancelled && !e.sink_failed && e.http == 404 &&
			    (!strcmp(e.code, "NoSuchKey") || !strcmp(e.code, "NotFound")))
				return 1;
			return s3_fail(ctx, s, "GET", key, &e);
		}
		return 0;
	}
	if (dir_key_ok(ctx, s, key) != 0)
		return -1;
	char *p = dir_path(s, key);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	int err = errno;
	free(p);
	if (fd < 0) {
		if (err == ENOENT || err == ENOTDIR)
			return 1;
		lib_fail(ctx, "dir store '%s': cannot open '%s': %s; check the mount and its permissions", s->name, key,
			 strerror(err));
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		lib_fail(ctx, "dir store '%s': '%s' is not a regular file", s->name, key);
		return -1;
	}
	x->size = (uint64_t)st.st_size;
	x->attempts = 1;
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	size_t bs = 256 * 1024;
	char *buf = xmalloc(bs);
	uint64_t pos = offset, left = limit ? limit : UINT64_MAX;
	int rc = 0;
	while (left) {
		if (lib_cancelled(ctx)) {
			lib_fail(ctx, "dir store '%s': reading '%s' was cancelled", s->name, key);
			rc = -1;
			break;
		}
		size_t want = left < bs ? (size_t)left : bs;
		ssize_t n = pread(fd, buf, want, (off_t)pos);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			lib_fail(ctx, "dir store '%s': cannot read '%s' at byte %llu: %s", s->name, key,
				 (unsigned long long)pos, strerror(errno));
			rc = -1;
			break;
		}
		if (n == 0)
			break;
		if (sink(ud, buf, (size_t)n) != 0) {
			lib_clear(ctx); /* the sink said why */
			rc = -1;
			break;
		}
		pos += (uint64_t)n;
		x->bytes += (uint64_t)n;
		left -= (uint64_t)n;
	}
	free(buf);
	close(fd);
	return rc;
}

struct small {
	struct strbuf sb;
	size_t max;
	int too_big;
};

static int small_sink(void *ud, const void *p, size_t n)
{
	struct small *sm = ud;
	if (sm->sb.len + n > sm->max) {
		sm->too_big = 1;
		return -1;
	}
	sb_add(&sm->sb, p, n);
	return 0;
}

int store_read_small(struct libctx *ctx, struct store *s, const char *key, size_t max, char **buf, size_t *len)
{
	struct small sm = { STRBUF_INIT, max, 0 };
	struct store_xfer x;
	int r = store_read(ctx, s, key, 0, 0, small_sink, &sm, &x);
	if (sm.too_big) {
		sb_release(&sm.sb);
		lib_fail(ctx, "%s store '%s': '%s' is larger than %zu bytes, too large for what it should be", s->s3 ? "s3" : "dir",
			 s->name, key, max);
		return -1;
	}
	if (r != 0) {
		sb_release(&sm.sb);
		return r;
	}
	*len = sm.sb.len;
	*buf = sb_detach(&sm.sb);
	return 0;
}

/* ---- dir writes ---- */

/* mkdir -p of the key's parent below the root. */
static int dir_make_parents(struct libctx *ctx, struct store *s, const char *key)
{
	char *p = dir_path(s, key);
	size_t rootlen = strlen(s->root);
	for (char *q = p + rootlen + 1; (q = strchr(q, '/')); q++) {
		*q = '\0';
		if (mkdir(p, 0755) != 0 && errno != EEXIST) {
			lib_fail(ctx, "dir store '%s': cannot create directory '%s': %s", s->name, p, strerror(errno));
			free(p);
			return -1;
		}
		*q = '/';
	}
	free(p);
	return 0;
}

static int fsync_parent(const char *path)
{
	char *d = xstrdup(path);
	char *slash = strrchr(d, '/');
	if (slash)
		*(slash == d ? slash + 1 : slash) = '\0';
	int fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(d);
	if (fd < 0)
		return -1;
	int r = fsync(fd);
	/* some file systems (and FUSE mounts) refuse fsync on directories */
	if (r != 0 && (errno == EINVAL || errno == EROFS || errno == ENOTSUP))
		r = 0;
	close(fd);
	return r;
}

/* Moves tmp to final without replacing an existing final. 0, or -1 with errno. */
static int rename_noreplace(const char *tmp, const char *final)
{
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
		return -1;
	if (link(tmp, final) == 0) {
		unlink(tmp);
		return 0;
	}
	if (errno == EEXIST)
		return -1;
	/* no hard links either (some FUSE mounts): check, then rename */
	struct stat st;
	if (stat(final, &st) == 0) {
		errno = EEXIST;
		return -1;
	}
	return rename(tmp, final);
}

struct store_writer {
	struct store *s;
	char *key;
	uint64_t bytes;
	/* dir */
	int fd;
	char *tmp, *final;
	/* s3 */
	char *upload_id;
	char **etags;
	int nparts, aparts;
	int committed, aborted;
};

static int dir_open_tmp(struct libctx *ctx, struct store *s, const char *key, char **tmp, char **final, int *fd)
{
	if (dir_key_ok(ctx, s, key) != 0 || dir_make_parents(ctx, s, key) != 0)
		return -1;
	*final = dir_path(s, key);
	char rnd[17];
	random_hex(rnd, 8);
	char *slash = strrchr(*final, '/');
	*tmp = xasprintf("%.*s/.%s.drplay-tmp-%s", (int)(slash - *final), *final, slash + 1, rnd);
	*fd = open(*tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (*fd < 0) {
		lib_fail(ctx, "dir store '%s': cannot create a temporary file for '%s' in %.*s: %s; check the mount and its permissions",
			 s->name, key, (int)(slash - *final), *final, strerror(errno));
		free(*tmp);
		free(*final);
		*tmp = *final = NULL;
		return -1;
	}
	return 0;
}

static int dir_finish(struct libctx *ctx, struct store *s, const char *key, int fd, const char *tmp, const char *final)
{
	if (fsync(fd) != 0) {
		lib_fail(ctx, "dir store '%s': cannot sync '%s' to disk: %s", s->name, key, strerror(errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (close(fd) != 0) {
		lib_fail(ctx, "dir store '%s': cannot close '%s': %s", s->name, key, strerror(errno));
		unlink(tmp);
		return -1;
	}
	if (rename_noreplace(tmp, final) != 0) {
		int err = errno;
		unlink(tmp);
		if (err == EEXIST)
			lib_fail(ctx, "dir store '%s': '%s' exists already; objects are never overwritten", s->name, key);
		else
			lib_fail(ctx, "dir store '%s': cannot move the finished '%s' into place: %s", s->name, key,
				 strerror(err));
		return -1;
	}
	if (fsync_parent(final) != 0) {
		lib_fail(ctx, "dir store '%s': cannot sync the directory of '%s': %s", s->name, key, strerror(errno));
		return -1;
	}
	return 0;
}

static int write_fd(struct libctx *ctx, struct store *s, const char *key, int fd, const void *buf, size_t n)
{
	if (write_all(fd, buf, n) != 0) {
		lib_fail(ctx, "dir store '%s': cannot write '%s': %s%s", s->name, key, strerror(errno),
			 errno == ENOSPC ? "; the store is full" : "");
		return -1;
	}
	return 0;
}

int store_write_small(struct libctx *ctx, struct store *s, const char *key, const void *buf, size_t n,
		      const char *content_type)
{
	if (s->s3) {
		struct s3_err e;
		if (s3_put(s->s3, ctx, key, buf, n, content_type, NULL, &e) != 0)
			return s3_fail(ctx, s, "PUT", key, &e);
		return 0;
	}
	char *tmp, *final;
	int fd;
	if (dir_open_tmp(ctx, s, key, &tmp, &final, &fd) != 0)
		return -1;
	int rc = write_fd(ctx, s, key, fd, buf, n);
	if (rc == 0)
		rc = dir_finish(ctx, s, key, fd, tmp, final);
	else {
		close(fd);
		unlink(tmp);
	}
	free(tmp);
	free(final);
	return rc;
}

int store_remove(struct libctx *ctx, struct store *s, const char *key)
{
	if (s->s3) {
		struct s3_err e;
		if (s3_delete(s->s3, ctx, key, &e) != 0)
			return s3_fail(ctx, s, "DELETE", key, &e);
		return 0;
	}
	if (dir_key_ok(ctx, s, key) != 0)
		return -1;
	char *p = dir_path(s, key);
	int r = unlink(p);
	int err = errno;
	if (r == 0)
		fsync_parent(p);
	free(p);
	if (r != 0 && err != ENOENT) {
		lib_fail(ctx, "dir store '%s': cannot delete '%s': %s", s->name, key, strerror(err));
		return -1;
	}
	return 0;
}

/* ---- streaming writer ---- */

struct store_writer *store_writer_new(struct libctx *ctx, struct store *s, const char *key)
{
	struct store_obj o;
	int r = store_stat(ctx, s, key, &o);
	if (r < 0)
		return NULL;
	if (r == 0) {
		lib_fail(ctx, "%s store '%s': '%s' exists already; dumps are never overwritten", s->s3 ? "s3" : "dir",
			 s->name, key);
		return NULL;
	}
	struct store_writer *w = xcalloc(1, sizeof(*w));
	w->s = s;
	w->key = xstrdup(key);
	w->fd = -1;
	if (!s->s3 && dir_open_tmp(ctx, s, key, &w->tmp, &w->final, &w->fd) != 0) {
		store_writer_free(w);
		return NULL;
	}
	return w;
}

size_t store_writer_block(const struct store_writer *w)
{
	return w->s->part_size;
}

size_t store_writer_first_block(const struct store_writer *w)
{
	/* S3's smallest part: the first upload starts as early as it may */
	return w->s->s3 ? 5 * MIB : w->s->part_size;
}

int store_writer_parts(const struct store_writer *w)
{
	return w->nparts;
}

int store_writer_put(struct libctx *ctx, struct store_writer *w, const void *buf, size_t n, int last, const char *sha_hex)
{
	struct store *s = w->s;
	if (!s->s3) {
		if (write_fd(ctx, s, w->key, w->fd, buf, n) != 0)
			return -1;
		w->bytes += n;
		return 0;
	}
	struct s3_err e;
	if (last && w->nparts == 0 && !w->upload_id) {
		/* the whole object fits in one block: a single PUT */
		if (s3_put(s->s3, ctx, w->key, buf, n, "application/octet-stream", sha_hex, &e) != 0)
			return s3_fail(ctx, s, "PUT", w->key, &e);
		w->bytes += n;
		w->committed = 1;
		return 0;
	}
	if (n == 0 && last)
		return 0;
	if (w->nparts >= MAX_PARTS) {
		lib_fail(ctx, "s3 store '%s': '%s' needs more than %d parts of %zu MiB; raise part_size_mb on the resource",
			 s->name, w->key, MAX_PARTS, s->part_size / MIB);
		return -1;
	}
	if (!w->upload_id && s3_mpu_start(s->s3, ctx, w->key, &w->upload_id, &e) != 0)
		return s3_fail(ctx, s, "starting the multipart upload of", w->key, &e);
	char etag[130];
	char what[64];
	snprintf(what, sizeof(what), "uploading part %d of", w->nparts + 1);
	if (s3_mpu_part(s->s3, ctx, w->key, w->upload_id, w->nparts + 1, buf, n, sha_hex, etag, &e) != 0)
		return s3_fail(ctx, s, what, w->key, &e);
	if (w->nparts == w->aparts) {
		w->aparts = w->aparts ? w->aparts * 2 : 64;
		w->etags = xrealloc(w->etags, (size_t)w->aparts * sizeof(*w->etags));
	}
	w->etags[w->nparts++] = xstrdup(etag);
	w->bytes += n;
	return 0;
}

int store_writer_commit(struct libctx *ctx, struct store_writer *w)
{
	struct store *s = w->s;
	if (!s->s3) {
		int fd = w->fd;
		w->fd = -1;
		if (dir_finish(ctx, s, w->key, fd, w->tmp, w->final) != 0) {
			w->aborted = 1;
			return -1;
		}
		w->committed = 1;
		return 0;
	}
	if (w->committed)
		return 0;
	struct s3_err e;
	if (!w->upload_id) {
		/* nothing was written at all: an empty object */
		if (s3_put(s->s3, ctx, w->key, "", 0, "application/octet-stream", NULL, &e) != 0)
			return s3_fail(ctx, s, "PUT", w->key, &e);
		w->committed = 1;
		return 0;
	}
	if (s3_mpu_complete(s->s3, ctx, w->key, w->upload_id, w->etags, w->nparts, &e) != 0)
		return s3_fail(ctx, s, "completing the multipart upload of", w->key, &e);
	w->committed = 1;
	return 0;
}

void store_writer_abort(struct libctx *ctx, struct store_writer *w)
{
	struct store *s = w->s;
	if (w->committed || w->aborted)
		return;
	w->aborted = 1;
	if (!s->s3) {
		if (w->fd >= 0)
			close(w->fd);
		w->fd = -1;
		if (w->tmp)
			unlink(w->tmp);
		return;
	}
	if (w->upload_id) {
		struct s3_err e;
		if (s3_mpu_abort(s->s3, ctx, w->key, w->upload_id, &e) != 0) {
			char eb[400];
			lib_log(ctx, "warning: could not abort the multipart upload of '%s' (%s); a lifecycle rule on the bucket should remove incomplete uploads",
				w->key, s3_err_text(&e, eb, sizeof(eb)));
		} else {
			lib_log(ctx, "aborted the multipart upload of '%s' (%d parts discarded)", w->key, w->nparts);
		}
	}
}

void store_writer_free(struct store_writer *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	for (int i = 0; i < w->nparts; i++)
		free(w->etags[i]);
	free(w->etags);
	free(w->upload_id);
	free(w->tmp);
	free(w->final);
	free(w->key);
	free(w);
}

/* ---- least-privilege probes ---- */

static int refused_status(const struct s3_err *e)
{
	return !e->transport && !e->cancelled && (e->http == 401 || e->http == 403);
}

int store_probe_write(struct libctx *ctx, struct store *s, const char *key, char *detail, size_t n)
{
	if (s->s3) {
		struct s3_err e;
		char eb[400];
		if (s3_put(s->s3, ctx, key, "", 0, "application/octet-stream", NULL, &e) == 0) {
			snprintf(detail, n, "PUT of a zero-byte object was allowed");
			return 0;
		}
		snprintf(detail, n, "%s", s3_err_text(&e, eb, sizeof(eb)));
		if (refused_status(&e))
			return 1;
		s3_fail(ctx, s, "PUT (write probe)", key, &e);
		return -1;
	}
	if (dir_key_ok(ctx, s, key) != 0)
		return -1;
	char *p = dir_path(s, key);
	int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	int err = errno;
	free(p);
	if (fd >= 0) {
		close(fd);
		snprintf(detail, n, "creating a file was allowed");
		return 0;
	}
	snprintf(detail, n, "%s", strerror(err));
	if (err == EACCES || err == EPERM || err == EROFS)
		return 1;
	if (err == ENOENT) {
		/* the prefix's directory does not exist: try the root */
		char rnd[17];
		random_hex(rnd, 8);
		char *q = xasprintf("%s/.drplay-probe-%s", s->root, rnd);
		fd = open(q, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		err = errno;
		if (fd >= 0) {
			close(fd);
			unlink(q);
			free(q);
			snprintf(detail, n, "creating a file was allowed");
			return 0;
		}
		free(q);
		snprintf(detail, n, "%s", strerror(err));
		if (err == EACCES || err == EPERM || err == EROFS)
			return 1;
	}
	lib_fail(ctx, "dir store '%s': the write probe '%s' failed in a way that proves nothing: %s", s->name, key,
		 strerror(err));
	return -1;
}

int store_probe_delete(struct libctx *ctx, struct store *s, const char *key, char *detail, size_t n)
{
	if (s->s3) {
		struct s3_err e;
		char eb[400];
		if (s3_delete(s->s3, ctx, key, &e) == 0) {
			snprintf(detail, n, "DELETE was allowed");
			return 0;
		}
		snprintf(detail, n, "%s", s3_err_text(&e, eb, sizeof(eb)));
		if (refused_status(&e))
			return 1;
		if (!e.transport && !e.cancelled && e.http == 404) {
			snprintf(detail, n, "DELETE passed authorization (%s)", s3_err_text(&e, eb, sizeof(eb)));
			return 0;
		}
		s3_fail(ctx, s, "DELETE (delete probe)", key, &e);
		return -1;
	}
	/* Deleting needs write permission on the directory that holds it. */
	char *p = dir_path(s, key);
	char *slash = strrchr(p, '/');
	*slash = '\0';
	struct stat st;
	const char *d = stat(p, &st) == 0 ? p : s->root;
	int r = faccessat(AT_FDCWD, d, W_OK, AT_EACCESS);
	int err = errno;
	if (r == 0) {
		snprintf(detail, n, "the directory %s is writable, so its files can be deleted", d);
		free(p);
		return 0;
	}
	snprintf(detail, n, "the directory %s is not writable: %s", d, strerror(err));
	free(p);
	return 1;
}

int store_probe_read_missing(struct libctx *ctx, struct store *s, const char *key, char *detail, size_t n)
{
	if (s->s3) {
		struct s3_err e;
		char eb[400];
		struct s3_head h;
		int resumes;
		struct small sm = { STRBUF_INIT, 1024, 0 };
		int r = s3_get(s->s3, ctx, key, 0, 0, small_sink, &sm, &h, &resumes, NULL, &e);
		sb_release(&sm.sb);
		if (r == 0) {
			snprintf(detail, n, "the probe key exists");
			return 0;
		}
		snprintf(detail, n, "%s", s3_err_text(&e, eb, sizeof(eb)));
		if (!e.transport && !e.cancelled && e.http == 404)
			return 0;
		if (refused_status(&e))
			return 1;
		s3_fail(ctx, s, "GET (read probe)", key, &e);
		return -1;
	}
	int r = faccessat(AT_FDCWD, s->root, R_OK | X_OK, AT_EACCESS);
	snprintf(detail, n, "%s", r == 0 ? "the directory is readable" : strerror(errno));
	return r == 0 ? 0 : 1;
}
