/*
 * offsite.c: the offsite.* actions over the s3 and dir stores (store.h), and
 * the family's registry tables (the dump.* actions live in dump.c):
 *   offsite.list    the dumps under the store's prefix, newest first
 *   offsite.latest  the newest dump taken at or before a moment
 *   offsite.check   proves a dump usable without restoring it (preflight)
 *   offsite.whoami  proves the credentials are the narrow ones (preflight)
 *
 * A dump's time is its manifest's snapshot time, else a timestamp written in
 * its key, else the store's LastModified. Dumps without manifests (plain
 * `pg_dump | gzip` files of other tools) are recognised by their suffix.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "dump.h"
#include "family.h"
#include "text.h"

#define DAY_US (86400LL * 1000000)

/* ---- finding dumps ---- */

enum tsrc { TS_MANIFEST, TS_KEY, TS_MODIFIED };
static const char *const tsrc_names[] = { "manifest", "key", "last_modified" };

struct cand {
	const struct store_obj *o;
	int64_t prelim;
	enum tsrc prelim_src;
	int64_t t;
	enum tsrc src;
	int has_manifest;
	json_t *manifest;
	int opened;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_prelim(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	if (x->prelim != y->prelim)
		return x->prelim < y->prelim ? 1 : -1;
	return strcmp(y->o->key, x->o->key);
}

static int cmp_final(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	if (x->t != y->t)
		return x->t < y->t ? 1 : -1;
	return strcmp(y->o->key, x->o->key);
}

struct finder {
	struct act *a;
	struct libctx lc;     /* the store's context */
	struct store *st;
	struct store_objs objs;
	struct cand *c;
	size_t n;
	pcre2_code *re;
	pcre2_match_data *md;
};

static void finder_release(struct finder *f)
{
	for (size_t i = 0; i < f->n; i++)
		json_decref(f->c[i].manifest);
	free(f->c);
	store_objs_release(&f->objs);
	libctx_release(&f->lc);
	if (f->md)
		pcre2_match_data_free(f->md);
	if (f->re)
		pcre2_code_free(f->re);
}

/* Lists the store and keeps the dumps (matching `match`), sorted by their
 * preliminary time (key timestamp, else LastModified), newest first. */
static int finder_load(struct finder *f, struct act *a)
{
	memset(f, 0, sizeof(*f));
	f->a = a;
	f->lc = stepctx(a);
	f->st = store_open(a, act_resource(a, "store"));
	if (!f->st)
		return -1;
	const char *match = act_str(a, "match");
	if (match && *match) {
		int err;
		PCRE2_SIZE off;
		f->re = pcre2_compile((PCRE2_SPTR)match, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &err, &off, NULL);
		if (!f->re) {
			PCRE2_UCHAR msg[200];
			pcre2_get_error_message(err, msg, sizeof(msg));
			return act_fail(a, "match '%s' is not a valid regular expression: %s at offset %zu", match,
					(const char *)msg, (size_t)off), -1;
		}
		f->md = pcre2_match_data_create_from_pattern(f->re, NULL);
	}
	if (store_list(&f->lc, f->st, 0, &f->objs) != 0)
		return stepctx_fail(a, &f->lc), -1;
	size_t nm = 0;
	const char **mkeys = xcalloc(f->objs.n + 1, sizeof(*mkeys));
	for (size_t i = 0; i < f->objs.n; i++) {
		const char *k = f->objs.v[i].key;
		size_t l = strlen(k);
		if (l > 14 && !strcmp(k + l - 14, ".manifest.json"))
			mkeys[nm++] = k;
	}
	qsort(mkeys, nm, sizeof(*mkeys), cmp_str);
	f->c = xcalloc(f->objs.n + 1, sizeof(*f->c));
	size_t plen = strlen(store_prefix(f->st));
	for (size_t i = 0; i < f->objs.n; i++) {
		const struct store_obj *o = &f->objs.v[i];
		if (!dump_key_is_dump(o->key))
			continue;
		const char *rel = o->key + (strncmp(o->key, store_prefix(f->st), plen) ? 0 : plen);
		if (f->re && pcre2_match(f->re, (PCRE2_SPTR)rel, PCRE2_ZERO_TERMINATED, 0, 0, f->md, NULL) < 0)
			continue;
		struct cand *c = &f->c[f->n++];
		c->o = o;
		if (dump_key_time(o->key, &c->prelim) == 0) {
			c->prelim_src = TS_KEY;
		} else {
			c->prelim = o->mtime;
			c->prelim_src = TS_MODIFIED;
		}
		c->t = c->prelim;
		c->src = c->prelim_src;
		char *mk = dump_manifest_key(o->key);
		const char *mkp = mk;
		c->has_manifest = bsearch(&mkp, mkeys, nm, sizeof(*mkeys), cmp_str) != NULL;
		free(mk);
	}
	free(mkeys);
	qsort(f->c, f->n, sizeof(*f->c), cmp_prelim);
	return 0;
}

/* Reads a candidate's manifest (once): its snapshot time becomes the time. */
static int open_manifest(struct finder *f, struct cand *c)
{
	if (c->opened || !c->has_manifest)
		return 0;
	c->opened = 1;
	json_t *m = NULL;
	int r = dump_read_manifest(f->a, f->st, c->o->key, &m);
	if (r < 0)
		return -1;
	if (r == 1) {
		c->has_manifest = 0;
		return 0;
	}
	c->manifest = m;
	int64_t t;
	const char *ts = json_string_value(json_object_get(m, "snapshot_time"));
	if (ts && parse_timestamp(ts, &t) == 0) {
		c->t = t;
		c->src = TS_MANIFEST;
	}
	return 0;
}

static const char *guess_format(const struct cand *c)
{
	const char *mf = c->manifest ? json_string_value(json_object_get(c->manifest, "format")) : NULL;
	if (mf)
		return mf;
	const char *k = c->o->key;
	size_t l = strlen(k);
	if ((l > 4 && !strcasecmp(k + l - 4, ".sql")) || (l > 7 && !strcasecmp(k + l - 7, ".sql.gz")))
		return "plain";
	return "custom";
}

static int is_gz(const char *k)
{
	size_t l = strlen(k);
	return l > 3 && !strcasecmp(k + l - 3, ".gz");
}

static json_t *cand_json(const struct cand *c)
{
	char ts[40], lm[40];
	json_t *o = json_object();
	json_object_set_new(o, "key", json_string(c->o->key));
	json_object_set_new(o, "size", json_integer((json_int_t)c->o->size));
	json_object_set_new(o, "taken_at", json_string(fmt_timestamp(c->t, ts, sizeof(ts))));
	json_object_set_new(o, "time_source", json_string(tsrc_names[c->src]));
	json_object_set_new(o, "last_modified",
			    c->o->mtime ? json_string(fmt_timestamp(c->o->mtime, lm, sizeof(lm))) : json_null());
	json_object_set_new(o, "format", json_string(guess_format(c)));
	json_object_set_new(o, "compression", json_string(is_gz(c->o->key) ? "gzip" : "none"));
	json_object_set_new(o, "manifest", json_boolean(c->has_manifest));
	return o;
}

/* ---- offsite.list ---- */

static int do_list(struct act *a)
{
	struct finder f;
	int ret = ACT_FAIL;
	if (finder_load(&f, a) != 0)
		goto out;
	int64_t limit = act_int(a, "limit", 100);
	if (limit < 1)
		limit = 1;
	size_t n = f.n < (size_t)limit ? f.n : (size_t)limit;
	for (size_t i = 0; i < n; i++)
		if (open_manifest(&f, &f.c[i]) != 0)
			goto out;
	qsort(f.c, n, sizeof(*f.c), cmp_final);
	json_t *list = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(list, cand_json(&f.c[i]));
	act_log(a, "%zu dump%s under %s%s", f.n, f.n == 1 ? "" : "s", store_where(f.st),
		f.n > n ? " (the newest shown)" : "");
	for (size_t i = 0; i < n && i < 10; i++) {
		char ts[40], hs[32];
		act_log(a, "  %s  %s  %s (%s)", f.c[i].o->key, human_size(f.c[i].o->size, hs, sizeof(hs)),
			fmt_timestamp(f.c[i].t, ts, sizeof(ts)), tsrc_names[f.c[i].src]);
	}
	act_out(a, "dumps", list);
	act_out_int(a, "count", (int64_t)f.n);
	act_out_str(a, "newest", n ? f.c[0].o->key : NULL);
	ret = ACT_OK;
out:
	finder_release(&f);
	return ret;
}

/* ---- offsite.latest ---- */

static int do_latest(struct act *a)
{
	struct finder f;
	int ret = ACT_FAIL;
	if (finder_load(&f, a) != 0)
		goto out;
	int64_t now = now_us();
	int has_before = act_has(a, "before");
	int64_t before = act_timestamp_us(a, "before", now);
	struct cand *best = NULL;
	for (size_t i = 0; i < f.n; i++) {
		struct cand *c = &f.c[i];
		/* a manifest's time can differ a little from the key's or the
		 * object's: look a day beyond `before`, stop a day below the best */
		if (c->prelim > before + DAY_US)
			continue;
		if (best && c->prelim < best->t - DAY_US)
			break;
		if (open_manifest(&f, c) != 0)
			goto out;
		if (c->t <= before && (!best || c->t > best->t || (c->t == best->t && strcmp(c->o->key, best->o->key) > 0)))
			best = c;
	}
	char bs[40];
	if (!best) {
		if (has_before)
			act_fail(a, "no dump taken at or before %s under %s (%zu dump%s there); check the store's prefix and the time",
				 fmt_timestamp(before, bs, sizeof(bs)), store_where(f.st), f.n, f.n == 1 ? "" : "s");
		else
			act_fail(a, "no dumps under %s; check the store's bucket and prefix (offsite.list shows what is there)",
				 store_where(f.st));
		goto out;
	}
	int64_t age = now - best->t;
	char ts[40], ab[32], hs[32];
	fmt_timestamp(best->t, ts, sizeof(ts));
	fmt_duration(age > 0 ? age : 0, ab, sizeof(ab));
	act_log(a, "latest dump%s%s: %s (%s, taken %s per its %s, %s ago)", has_before ? " at or before " : "",
		has_before ? fmt_timestamp(before, bs, sizeof(bs)) : "", best->o->key,
		human_size(best->o->size, hs, sizeof(hs)), ts, tsrc_names[best->src], ab);
	act_out_str(a, "key", best->o->key);
	act_out_int(a, "size", (int64_t)best->o->size);
	act_out_str(a, "taken_at", ts);
	act_out_dur(a, "age", age > 0 ? age : 0);
	act_out_str(a, "time_source", tsrc_names[best->src]);
	act_out_str(a, "format", guess_format(best));
	act_out_str(a, "compression", is_gz(best->o->key) ? "gzip" : "none");
	act_out_bool(a, "manifest", best->has_manifest);
	if (best->o->mtime)
		act_out_time(a, "last_modified", best->o->mtime);
	else
		act_out(a, "last_modified", json_null());
	if (act_has(a, "max_age")) {
		int64_t max = act_duration_us(a, "max_age", 0);
		char mb[32];
		if (age > max) {
			act_fail(a, "the newest dump '%s' is %s old (taken %s), older than max_age %s: the off-site backup is stale; check the job that makes it",
				 best->o->key, ab, ts, fmt_duration(max, mb, sizeof(mb)));
			goto out;
		}
	}
	ret = ACT_OK;
out:
	finder_release(&f);
	return ret;
}

/* ---- offsite.check ---- */

struct check {
	struct act *a;
	struct libctx lc;     /* the store's context */
	struct store *st;
	const char *key;
	struct dstream ds;
	struct cpipe_c {
		int fd;
		int broken;
	} pipe;
	pid_t pid;
	int listfd, errfd;
	uint64_t size;
	struct store_xfer xfer; /* the read */
	struct store_xfer *x;   /* the read under way (its size is known early) */
	struct prog prog;
	int want_toc;
	/* what was found */
	json_t *manifest;       /* NULL: none */
	json_t *proof;          /* the dump's proof (dump_trust), or NULL */
	int own;                /* the key is named like dump.create's dumps */
	int rd, fin;            /* store_read's and dstream_finish's results */
	char sha[65];
	int exited, status, cancelled; /* how pg_restore --list ended */
	double secs;
	char *toc;              /* pg_restore --list's output */
	int64_t toc_entries, ntables, nviews;
	json_t *checked, *missing;
};

static int check_write(void *ud, const void *p, size_t n)
{
	struct check *c = ud;
	const char *b = p;
	if (c->pipe.broken)
		return 0; /* pg_restore --list read what it needed */
	while (n) {
		ssize_t w = write(c->pipe.fd, b, n);
		if (w > 0) {
			b += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			struct pollfd pf = { c->pipe.fd, POLLOUT, 0 };
			poll(&pf, 1, 100);
			if (act_cancelled(c->a))
				return -1;
			continue;
		}
		c->pipe.broken = 1; /* EPIPE: the reader is done */
		return 0;
	}
	return 0;
}

/* Starts pg_restore --list reading from a pipe. 0 or -1 (act_fail). */
static int check_spawn(struct check *c)
{
	int pin[2];
	if (pipe2(pin, O_CLOEXEC) != 0)
		return act_fail(c->a, "cannot create a pipe: %s", strerror(errno)), -1;
	int fl = fcntl(pin[1], F_GETFL);
	fcntl(pin[1], F_SETFL, fl | O_NONBLOCK);
	char *argv[] = { (char *)dump_pg_tool("pg_restore"), "--list", NULL };
	struct spawn_opts o;
	memset(&o, 0, sizeof(o));
	o.stdin_fd = pin[0];
	o.stdout_fd = c->listfd;
	o.stderr_fd = c->errfd;
	c->pid = act_spawn(c->a, argv, &o);
	close(pin[0]);
	if (c->pid < 0) {
		close(pin[1]);
		return -1;
	}
	c->pipe.fd = pin[1];
	return 0;
}

/* Ends a pg_restore --list that is not needed after all. */
static void check_unspawn(struct check *c)
{
	if (c->pid <= 0)
		return;
	kill(-c->pid, SIGTERM);
	close(c->pipe.fd);
	c->pipe.fd = -1;
	int ex, st, cc;
	act_wait(c->a, c->pid, &ex, &st, &cc);
	c->pid = -1;
}

static int check_on_format(void *ud, struct dstream *d)
{
	struct check *c = ud;
	if (d->fmt != DUMP_CUSTOM || !c->want_toc) {
		check_unspawn(c); /* started early for what turned out not to be an archive */
		return 0;
	}
	if (c->pid <= 0 && check_spawn(c) != 0)
		return -1;
	d->out = check_write;
	d->out_ud = c;
	return 0;
}

static int check_sink(void *ud, const void *p, size_t n)
{
	struct check *c = ud;
	if (dstream_feed(&c->ds, p, n) != 0)
		return -1;
	prog_tick(c->a, &c->prog, c->ds.raw, c->x ? c->x->size : 0);
	return 0;
}

static int scratch(struct act *a)
{
	const char *dir = act_tmpdir(a);
	if (!dir)
		return act_fail(a, "cannot create the run's scratch directory: %s", strerror(errno)), -1;
	char *p = xasprintf("%s/check-XXXXXX", dir);
	int fd = mkostemp(p, O_CLOEXEC);
	if (fd >= 0)
		unlink(p);
	else
		act_fail(a, "cannot create a scratch file in %s: %s", dir, strerror(errno));
	free(p);
	return fd;
}

static char *read_fd_all(int fd, size_t max)
{
	struct strbuf sb = STRBUF_INIT;
	sb_init(&sb, max);
	char buf[65536];
	off_t off = 0;
	for (;;) {
		ssize_t r = pread(fd, buf, sizeof(buf), off);
		if (r <= 0)
			break;
		sb_add(&sb, buf, (size_t)r);
		off += r;
		if (sb.truncated)
			break;
	}
	return sb_detach(&sb);
}

/* A TOC line's "TYPE schema name owner" part, after "ID; OID OID ". */
static const char *toc_rest(const char *l)
{
	const char *p = strstr(l, "; ");
	if (!p)
		return NULL;
	p += 2;
	for (int k = 0; k < 2; k++) {
		while (*p >= '0' && *p <= '9')
			p++;
		if (*p != ' ')
			return NULL;
		p++;
	}
	return p;
}

/* 1 when the rest of a listing line (after the ids) is a table's own
 * entry: not its data, and not the TABLE ATTACH entry of a partition. */
static int toc_is_table(const char *r)
{
	return r && !strncmp(r, "TABLE ", 6) && strncmp(r, "TABLE DATA ", 11) != 0 && strncmp(r, "TABLE ATTACH ", 13) != 0;
}

/* 1 when the expected table (schema.name or name) is a TABLE entry. */
static int toc_has_table(const char *toc, const char *want)
{
	const char *dot = strchr(want, '.');
	for (const char *l = toc; *l;) {
		const char *nl = strchr(l, '\n');
		size_t len = nl ? (size_t)(nl - l) : strlen(l);
		char *line = xstrndup(l, len);
		const char *r = toc_rest(line);
		int hit = 0;
		if (toc_is_table(r)) {
			const char *sch = r + 6;
			const char *sp = strchr(sch, ' ');
			if (sp) {
				const char *nm = sp + 1;
				if (dot) {
					size_t sl = (size_t)(dot - want), nl2 = strlen(dot + 1);
					hit = (size_t)(sp - sch) == sl && !strncmp(sch, want, sl) && !strncmp(nm, dot + 1, nl2) &&
					      nm[nl2] == ' ';
				} else {
					size_t wl = strlen(want);
					hit = !strncmp(nm, want, wl) && nm[wl] == ' ';
				}
			}
		}
		free(line);
		if (hit)
			return 1;
		if (!nl)
			break;
		l = nl + 1;
	}
	return 0;
}

static int list_has_table(json_t *tables, const char *want)
{
	size_t i;
	json_t *v;
	const char *dot = strchr(want, '.');
	json_array_foreach(tables, i, v)
	{
		const char *t = json_string_value(v);
		if (dot ? !strcmp(t, want) : (strchr(t, '.') ? !strcmp(strchr(t, '.') + 1, want) : !strcmp(t, want)))
			return 1;
	}
	return 0;
}

/* The object's manifest and the rule on it (manifest: auto, required,
 * optional): 0, or -1 after act_fail (no dump, a manifest that is needed
 * and missing, or a bad one). */
static int check_manifest(struct check *c)
{
	struct act *a = c->a;
	const char *policy = act_str(a, "manifest");
	if (!policy)
		policy = "auto";
	int mr = dump_read_manifest(a, c->st, c->key, &c->manifest);
	if (mr < 0)
		return -1;
	if (mr == 0 && dump_trust(a, act_resource(a, "store"), c->st, c->key, c->manifest, &c->proof) != 0)
		return -1;
	if (mr == 0 && json_object_get(c->manifest, "signature") && res_str(act_resource(a, "store"), "verify_key"))
		json_array_append_new(c->checked, json_string("signature"));
	if (c->proof)
		json_array_append_new(c->checked, json_string("proof"));
	size_t kl = strlen(c->key);
	c->own = (kl > 5 && !strcasecmp(c->key + kl - 5, ".dump")) || (kl > 7 && !strcasecmp(c->key + kl - 7, ".pgdump"));
	int required = !strcmp(policy, "required") || (!strcmp(policy, "auto") && c->own);
	if (mr == 1 && dump_check_signature(a, act_resource(a, "store"), c->st, c->key, NULL) != 0)
		return -1;
	if (mr != 1 || !required)
		return 0;
	struct store_obj ob;
	int sr = store_stat(&c->lc, c->st, c->key, &ob);
	if (sr < 0)
		return stepctx_fail(a, &c->lc), -1;
	if (sr == 1)
		return act_fail(a, "no dump '%s' in store '%s' (%s); check the key (offsite.list shows what is there)",
				c->key, store_name(c->st), store_where(c->st)), -1;
	return act_fail(a, "dump '%s' in store '%s' has no manifest ('%s.manifest.json'): its size and SHA-256 cannot be proven; it was not made by dump.create, or its manifest was lost (manifest: optional checks it without one)",
			c->key, store_name(c->st), c->key), -1;
}

/* Reads the object once through the inspector (and pg_restore --list for a
 * custom archive), then waits for pg_restore. 0, or -1 after act_fail. */
static int check_read(struct check *c)
{
	struct act *a = c->a;
	c->listfd = scratch(a);
	c->errfd = scratch(a);
	if (c->listfd < 0 || c->errfd < 0)
		return -1;
	c->ds.on_format = check_on_format;
	c->ds.fmt_ud = c;
	c->ds.scan_tables = 1; /* plain SQL: the tables and views are counted from the text */
	/* Likely a custom archive (manifest, suffix): start pg_restore --list
	 * now, so that its start-up overlaps the download instead of following
	 * the first bytes. */
	const char *mfmt = c->manifest ? json_string_value(json_object_get(c->manifest, "format")) : NULL;
	if (((mfmt && !strcmp(mfmt, "custom")) || (!mfmt && c->own)) && check_spawn(c) != 0)
		return -1;
	int64_t t0 = mono_us();
	prog_start(a, &c->prog, "check", 0);
	c->x = &c->xfer;
	c->rd = store_read(&c->lc, c->st, c->key, 0, 0, check_sink, c, &c->xfer);
	c->size = c->xfer.size;
	if (c->rd == 0)
		prog_end(a, &c->prog, c->ds.raw);
	c->fin = dstream_finish(&c->ds, c->sha);
	if (c->pipe.fd >= 0) {
		close(c->pipe.fd);
		c->pipe.fd = -1;
	}
	c->exited = 1;
	if (c->pid > 0) {
		if (c->rd != 0 || c->fin != 0)
			kill(-c->pid, SIGTERM);
		act_wait(a, c->pid, &c->exited, &c->status, &c->cancelled);
		c->pid = -1;
	}
	c->secs = (double)(mono_us() - t0) / 1e6;
	return 0;
}

/* Readable, the size the store said, the manifest's size and SHA-256, a
 * known format. 0, or -1 after act_fail. */
static int check_integrity(struct check *c)
{
	struct act *a = c->a;
	if (c->rd == 1)
		return act_fail(a, "no dump '%s' in store '%s' (%s); check the key (offsite.list shows what is there)", c->key,
				store_name(c->st), store_where(c->st)), -1;
	if (c->rd != 0) {
		stepctx_fail(a, &c->lc);
		if (c->ds.failed)
			act_fail(a, "dump '%s' in store '%s' is not usable: %s", c->key, store_name(c->st), c->ds.err);
		return -1; /* the store (or the consumer) said why */
	}
	json_array_append_new(c->checked, json_string("readable"));
	if (c->ds.raw != c->size)
		return act_fail(a, "dump '%s' in store '%s': %llu bytes were delivered but the store said it has %llu; try again, and check the store",
				c->key, store_name(c->st), (unsigned long long)c->ds.raw, (unsigned long long)c->size), -1;
	if (c->manifest) {
		json_int_t msize = json_integer_value(json_object_get(c->manifest, "size"));
		const char *msha = json_string_value(json_object_get(c->manifest, "sha256"));
		if ((uint64_t)msize != c->ds.raw)
			return act_fail(a, "dump '%s' in store '%s' has %llu bytes but its manifest says %lld: the object is truncated or altered, or the manifest is wrong; do not rely on this dump",
					c->key, store_name(c->st), (unsigned long long)c->ds.raw, (long long)msize), -1;
		json_array_append_new(c->checked, json_string("size"));
		if (strcasecmp(msha, c->sha) != 0)
			return act_fail(a, "dump '%s' in store '%s' is corrupt: its SHA-256 is %s but its manifest says %s; do not rely on this dump",
					c->key, store_name(c->st), c->sha, msha), -1;
		json_array_append_new(c->checked, json_string("sha256"));
	}
	if (c->fin != 0)
		return act_fail(a, "dump '%s' in store '%s' is not usable: %s", c->key, store_name(c->st), c->ds.err), -1;
	if (c->ds.gzip)
		json_array_append_new(c->checked, json_string("gzip"));
	json_array_append_new(c->checked, json_string("format"));
	return 0;
}

/* The tables and views of the dump: from pg_restore's table of contents
 * (custom) or the inspector's scan of the SQL (plain). 0, or -1. */
static int check_contents(struct check *c)
{
	c->toc_entries = -1;
	if (c->ds.fmt != DUMP_CUSTOM) {
		c->ntables = (int64_t)json_array_size(c->ds.tables);
		c->nviews = c->ds.views;
		return 0;
	}
	if (c->cancelled)
		return act_fail(c->a, "the check of '%s' was cancelled", c->key), -1;
	c->toc = read_fd_all(c->listfd, 64u << 20);
	if (!c->exited || c->status != 0 || !*c->toc) {
		char *e = read_fd_all(c->errfd, 4096);
		e[strcspn(e, "\n")] = '\0';
		act_fail(c->a, "dump '%s' in store '%s': its table of contents cannot be read (pg_restore --list %s %d): %s",
			 c->key, store_name(c->st), c->exited ? "exited with status" : "was killed by signal", c->status,
			 *e ? e : "no listing");
		free(e);
		return -1;
	}
	c->toc_entries = 0;
	for (const char *l = c->toc; *l;) {
		const char *nl = strchr(l, '\n');
		if (*l >= '0' && *l <= '9') {
			c->toc_entries++;
			const char *r = toc_rest(l);
			if (toc_is_table(r))
				c->ntables++;
			else if (r && (!strncmp(r, "VIEW ", 5) ||
				       (!strncmp(r, "MATERIALIZED VIEW ", 18) && strncmp(r, "MATERIALIZED VIEW DATA ", 23) != 0)))
				c->nviews++;
		}
		if (!nl)
			break;
		l = nl + 1;
	}
	json_array_append_new(c->checked, json_string("toc"));
	return 0;
}

/* expect_tables: each one is in the dump. 0, or -1 after act_fail. */
static int check_expected(struct check *c)
{
	json_t *expect = act_json(c->a, "expect_tables");
	if (!expect)
		return 0;
	size_t i;
	json_t *v;
	json_array_foreach(expect, i, v)
	{
		const char *t = json_string_value(v);
		if (!t)
			continue;
		int has = c->ds.fmt == DUMP_CUSTOM ? toc_has_table(c->toc, t) : list_has_table(c->ds.tables, t);
		if (!has)
			json_array_append_new(c->missing, json_string(t));
	}
	if (json_array_size(c->missing)) {
		char *ms = json_dumps(c->missing, JSON_COMPACT);
		act_fail(c->a, "dump '%s' in store '%s' does not contain expected table%s %s (%s dump with %lld tables)", c->key,
			 store_name(c->st), json_array_size(c->missing) == 1 ? "" : "s", ms, dump_fmt_name(c->ds.fmt),
			 (long long)c->ntables);
		free(ms);
		act_out(c->a, "missing_tables", json_incref(c->missing));
		return -1;
	}
	json_array_append_new(c->checked, json_string("expect_tables"));
	return 0;
}

/* The log lines, the outputs and the journal's dump_checked. */
static void check_report(struct check *c)
{
	struct act *a = c->a;
	char hs[32], rate[32];
	double r = c->secs > 0 ? (double)c->ds.raw / c->secs : 0;
	struct strbuf sb = STRBUF_INIT;
	size_t i;
	json_t *v;
	json_array_foreach(c->checked, i, v) sb_addf(&sb, "%s%s", i ? ", " : "", json_string_value(v));
	act_log(a, "'%s': %s %s dump%s, %s; checked %s in %.1fs (%s/s)", c->key, human_size(c->ds.raw, hs, sizeof(hs)),
		dump_fmt_name(c->ds.fmt), c->ds.gzip ? " (gzip)" : "",
		c->manifest ? "SHA-256 matches its manifest" : "no manifest", sb_str(&sb), c->secs,
		human_size((uint64_t)r, rate, sizeof(rate)));
	sb_release(&sb);
	if (c->toc_entries >= 0)
		act_log(a, "table of contents: %lld entries, %lld tables, %lld views", (long long)c->toc_entries,
			(long long)c->ntables, (long long)c->nviews);
	act_out_str(a, "key", c->key);
	act_out_int(a, "size", (int64_t)c->ds.raw);
	act_out_str(a, "sha256", c->sha);
	act_out_str(a, "format", dump_fmt_name(c->ds.fmt));
	act_out_str(a, "compression", c->ds.gzip ? "gzip" : "none");
	act_out_bool(a, "manifest", c->manifest != NULL);
	act_out(a, "proof", c->proof ? json_incref(c->proof) : json_null());
	act_out_bool(a, "signed", c->manifest && json_object_get(c->manifest, "signature"));
	act_out(a, "checked", json_incref(c->checked));
	act_out_int(a, "toc_entries", c->toc_entries >= 0 ? c->toc_entries : 0);
	act_out_int(a, "tables", c->ntables);
	act_out_int(a, "views", c->nviews);
	act_out(a, "missing_tables", json_incref(c->missing));
	const char *snap = c->manifest ? json_string_value(json_object_get(c->manifest, "snapshot_time")) : NULL;
	int64_t st_us;
	if (snap && parse_timestamp(snap, &st_us) == 0) {
		act_out_time(a, "taken_at", st_us);
		act_out_dur(a, "age", now_us() - st_us > 0 ? now_us() - st_us : 0);
	} else {
		act_out(a, "taken_at", json_null());
		act_out(a, "age", json_null());
	}
	act_out(a, "bytes_per_second", json_real(r));
	json_t *ev = json_object();
	json_object_set_new(ev, "key", json_string(c->key));
	json_object_set_new(ev, "store", json_string(store_name(c->st)));
	json_object_set_new(ev, "bytes", json_integer((json_int_t)c->ds.raw));
	json_object_set_new(ev, "seconds", json_real(c->secs));
	json_object_set_new(ev, "rate_bytes_per_s", json_real(r));
	json_object_set_new(ev, "resumes", json_integer(c->xfer.resumes));
	json_object_set_new(ev, "checked", json_incref(c->checked));
	act_journal(a, "dump_checked", ev);
}

static void check_release(struct check *c)
{
	if (c->pipe.fd >= 0)
		close(c->pipe.fd);
	if (c->pid > 0) {
		int ex, stt, cc;
		kill(-c->pid, SIGTERM);
		act_wait(c->a, c->pid, &ex, &stt, &cc);
	}
	if (c->listfd >= 0)
		close(c->listfd);
	if (c->errfd >= 0)
		close(c->errfd);
	free(c->toc);
	json_decref(c->manifest);
	json_decref(c->proof);
	json_decref(c->checked);
	json_decref(c->missing);
	dstream_release(&c->ds);
	libctx_release(&c->lc);
}

static int do_check(struct act *a)
{
	struct sigpipe_guard g;
	sigpipe_ignore(&g);
	struct check c;
	memset(&c, 0, sizeof(c));
	c.a = a;
	c.lc = stepctx(a);
	c.pid = -1;
	c.listfd = c.errfd = -1;
	c.pipe.fd = -1;
	c.want_toc = 1;
	c.checked = json_array();
	c.missing = json_array();
	dstream_init(&c.ds);
	int ret = ACT_FAIL;
	c.st = store_open(a, act_resource(a, "store"));
	c.key = act_str(a, "key");
	if (!c.st)
		goto out;
	if (store_key_ok(&c.lc, c.st, c.key) != 0) {
		stepctx_fail(a, &c.lc);
		goto out;
	}
	if (check_manifest(&c) == 0 && check_read(&c) == 0 && check_integrity(&c) == 0 && check_contents(&c) == 0 &&
	    check_expected(&c) == 0) {
		check_report(&c);
		ret = ACT_OK;
	}
out:
	check_release(&c);
	sigpipe_restore(&g);
	return ret;
}

/* ---- offsite.whoami ---- */

static int discard_sink(void *ud, const void *p, size_t n)
{
	(void)p;
	*(uint64_t *)ud += n;
	return 0;
}

/* A key under the prefix that does not exist: 0, or -1 after act_fail. */
static int probe_key(struct act *a, struct libctx *lc, struct store *st, const char *what, char **key)
{
	for (int i = 0; i < 5; i++) {
		char rnd[33];
		random_hex(rnd, 16);
		char *rel = xasprintf(".drplay-probe-%s-%s", what, rnd);
		*key = store_key(st, rel);
		free(rel);
		struct store_obj o;
		int r = store_stat(lc, st, *key, &o);
		if (r == 1)
			return 0;
		free(*key);
		*key = NULL;
		if (r < 0)
			return stepctx_fail(a, lc), -1;
	}
	return act_fail(a, "cannot find an unused probe key under %s", store_where(st)), -1;
}

/* One offsite.whoami: the store, who it sees, and what the probes found. */
struct whoami {
	struct act *a;
	struct libctx lc;
	struct store *st;
	char identity[300], key_id[80];
	char detail[400];       /* what the store answered the last probe */
	json_t *ev;             /* the journal's whoami event */
};

/* expect_key_id: the store is used with that access key. 0, or -1 after
 * act_fail. */
static int whoami_key_id(struct whoami *w)
{
	const char *want = act_str(w->a, "expect_key_id");
	if (!want || !*want)
		return 0;
	if (!store_access_key(w->st))
		return act_fail(w->a, "expect_key_id applies to s3 stores; store '%s' is a directory (its identity is the OS user: %s)",
				store_name(w->st), w->identity), -1;
	if (!strcmp(want, store_access_key(w->st)))
		return 0;
	char wk[80];
	size_t l = strlen(want);
	if (l >= 12)
		snprintf(wk, sizeof(wk), "%.4s...%s", want, want + l - 4);
	else
		snprintf(wk, sizeof(wk), "%.2s...", want);
	return act_fail(w->a, "store '%s' is used with access key %s, not the expected %s: the credentials are not the expected identity; check which secret the run picked up",
			store_name(w->st), w->key_id, wk), -1;
}

/* Reading: the first byte of an object, or a key that does not exist (404
 * means reading is allowed; 403 that it is not). 0, or -1 after act_fail. */
static int whoami_read(struct whoami *w, const struct store_objs *objs)
{
	struct act *a = w->a;
	const char *sample = NULL;
	for (size_t i = 0; i < objs->n && !sample; i++)
		if (dump_key_is_dump(objs->v[i].key) && objs->v[i].size > 0)
			sample = objs->v[i].key;
	for (size_t i = 0; i < objs->n && !sample; i++)
		if (objs->v[i].size > 0)
			sample = objs->v[i].key;
	if (sample) {
		uint64_t got = 0;
		struct store_xfer x;
		int r = store_read(&w->lc, w->st, sample, 0, 1, discard_sink, &got, &x);
		if (r != 0) {
			stepctx_fail(a, &w->lc);
			if (r == 1)
				act_fail(a, "store '%s': '%s' was listed but cannot be read (it vanished)", store_name(w->st),
					 sample);
			return -1; /* the store said why (e.g. AccessDenied) */
		}
		snprintf(w->detail, sizeof(w->detail), "read the first byte of '%s'", sample);
		return 0;
	}
	char rnd[33];
	random_hex(rnd, 16);
	char *rel = xasprintf(".drplay-probe-read-%s", rnd);
	char *rk = store_key(w->st, rel);
	free(rel);
	int r = store_probe_read_missing(&w->lc, w->st, rk, w->detail, sizeof(w->detail));
	free(rk);
	if (r < 0)
		return stepctx_fail(a, &w->lc), -1;
	if (r == 1)
		return act_fail(a, "store '%s' (%s): the credentials (%s) can list but not read under the prefix: %s",
				store_name(w->st), store_where(w->st), w->key_id, w->detail), -1;
	act_log(a, "nothing to read under %s: a read of a missing key passed authorization (%s)", store_where(w->st),
		w->detail);
	return 0;
}

/* What to do when a read_only probe succeeded, for the store's kind: an S3
 * key's policy, or a directory's mount and permissions. */
static const char *read_only_advice(const struct store *st, const char *what)
{
	if (store_is_s3(st))
		return !strcmp(what, "only list and read")
			       ? "a key that can only list and read: fix the key's policy (s3:ListBucket and s3:GetObject only)"
			       : "a key that cannot delete backups: fix the key's policy (no s3:DeleteObject)";
	return !strcmp(what, "only list and read")
		       ? "a directory this user can only list and read: mount it read-only (mount -o ro, or a read-only bind mount) or run drplay as a user without write permission on it"
		       : "a directory this user cannot delete from: mount it read-only or remove this user's write permission on it";
}

/* expect: read_only: writing and deleting must be refused. Both probes use
 * random keys that do not exist, so they can never harm a dump. 0, or -1
 * after act_fail. */
static int whoami_read_only(struct whoami *w)
{
	struct act *a = w->a;
	char *key = NULL;
	if (probe_key(a, &w->lc, w->st, "write", &key) != 0)
		return -1;
	int r = store_probe_write(&w->lc, w->st, key, w->detail, sizeof(w->detail));
	if (r >= 0)
		json_object_set_new(w->ev, "write_probe", json_pack("{s:s,s:b,s:o}", "key", key, "refused", r == 1, "answer",
								      json_text(w->detail)));
	if (r == 0) {
		/* it was written: remove it at once */
		int rm = store_remove(&w->lc, w->st, key);
		act_out_bool(a, "can_write", 1);
		act_fail(a, "store '%s' (%s): the credentials (%s) can WRITE: a zero-byte probe object '%s' was accepted (%s)%s; expect: read_only wants %s",
			 store_name(w->st), store_where(w->st), w->key_id, key, w->detail,
			 rm == 0 ? " and was deleted again" : ", and deleting it failed too: remove it by hand",
			 read_only_advice(w->st, "only list and read"));
	}
	free(key);
	if (r < 0)
		return stepctx_fail(a, &w->lc), -1;
	if (r == 0)
		return -1;
	act_out_bool(a, "can_write", 0);
	act_log(a, "write refused as expected: %s", w->detail);
	if (probe_key(a, &w->lc, w->st, "delete", &key) != 0)
		return -1;
	r = store_probe_delete(&w->lc, w->st, key, w->detail, sizeof(w->detail));
	if (r >= 0)
		json_object_set_new(w->ev, "delete_probe", json_pack("{s:s,s:b,s:o}", "key", key, "refused", r == 1, "answer",
								       json_text(w->detail)));
	free(key);
	if (r < 0)
		return stepctx_fail(a, &w->lc), -1;
	if (r == 0) {
		act_out_bool(a, "can_delete", 1);
		return act_fail(a, "store '%s' (%s): the credentials (%s) can DELETE (%s); expect: read_only wants %s",
				store_name(w->st), store_where(w->st), w->key_id, w->detail,
				read_only_advice(w->st, "not delete backups")), -1;
	}
	act_out_bool(a, "can_delete", 0);
	act_log(a, "delete refused as expected: %s", w->detail);
	return 0;
}

/* Who the store sees, and that it can list, read and (read_only) not
 * write or delete. ACT_OK or ACT_FAIL. */
static int whoami_run(struct whoami *w, struct store_objs *objs)
{
	struct act *a = w->a;
	const char *expect = act_str(a, "expect");
	int read_only = expect && !strcmp(expect, "read_only");
	store_identity(w->st, w->identity, sizeof(w->identity), w->key_id, sizeof(w->key_id));
	act_out_str(a, "identity", w->identity);
	act_out_str(a, "key_id", w->key_id);
	json_object_set_new(w->ev, "store", json_string(store_name(w->st)));
	json_object_set_new(w->ev, "identity", json_string(w->identity));
	if (whoami_key_id(w) != 0)
		return ACT_FAIL;
	/* 1. the credentials authenticate and can list under the prefix */
	if (store_list(&w->lc, w->st, 1000, objs) != 0)
		return stepctx_fail(a, &w->lc);
	act_out_bool(a, "can_list", 1);
	act_out_int(a, "objects", (int64_t)objs->n);
	json_object_set_new(w->ev, "can_list", json_true());
	/* 2. read */
	if (whoami_read(w, objs) != 0)
		return ACT_FAIL;
	act_out_bool(a, "can_read", 1);
	json_object_set_new(w->ev, "can_read", json_true());
	/* 3. read_only: no write, no delete */
	if (read_only && whoami_read_only(w) != 0)
		return ACT_FAIL;
	if (!read_only) {
		act_out(a, "can_write", json_null());
		act_out(a, "can_delete", json_null());
	}
	act_log(a, "%s: can list and read under %s%s", w->identity, store_where(w->st),
		read_only ? "; cannot write or delete" : "");
	return ACT_OK;
}

static int do_whoami(struct act *a)
{
	struct sigpipe_guard g;
	sigpipe_ignore(&g);
	struct whoami w = { .a = a, .lc = stepctx(a), .ev = json_object() };
	struct store_objs objs = { NULL, 0 };
	int ret = ACT_FAIL;
	w.st = store_open(a, act_resource(a, "store"));
	if (w.st)
		ret = whoami_run(&w, &objs);
	json_object_set_new(w.ev, "ok", json_boolean(ret == ACT_OK));
	act_journal(a, "whoami", w.ev);
	store_objs_release(&objs);
	libctx_release(&w.lc);
	sigpipe_restore(&g);
	return ret;
}

/* ---- declarations ---- */

static const struct param_spec list_params[] = {
	{ .name = "limit", .type = T_INT, .def = "100", .doc = "list at most this many dumps (the newest)" },
	{ .name = "match", .type = T_STRING,
	  .doc = "a regular expression (PCRE2) the key after the prefix must match" },
	{ .name = "store", .type = T_RESOURCE, .flags = P_REQUIRED, .kind = STORE_KINDS,
	  .doc = "the store (s3 or dir)" },
	{ .name = NULL },
};
static const struct output_spec list_outputs[] = {
	{ .name = "dumps", .type = T_LIST,
	  .doc = "newest first: {key, size, taken_at, time_source (manifest, key or last_modified), last_modified, format, compression, manifest}" },
	{ .name = "count", .type = T_INT, .doc = "how many dumps there are (all of them, not only those listed)" },
	{ .name = "newest", .type = T_STRING, .doc = "the newest dump's key (null when there is none)" },
	{ .name = NULL },
};
static const struct action_def list_def = {
	.name = "offsite.list",
	.run = do_list,
	.cat = CAT_OTHER,
	.params = list_params,
	.outputs = list_outputs,
	.doc = "Lists the dumps under the store's prefix (.dump, .pgdump, .sql, .sql.gz, .dump.gz; manifests and temporary files left out), newest first, each with its time: the manifest's snapshot time, else a timestamp in the key, else LastModified.",
};

static const struct param_spec latest_params[] = {
	{ .name = "before", .type = T_TIMESTAMP,
	  .doc = "the newest dump taken at or before this moment (default: now)" },
	{ .name = "match", .type = T_STRING,
	  .doc = "a regular expression (PCRE2) the key after the prefix must match" },
	{ .name = "max_age", .type = T_DURATION,
	  .doc = "fail when the dump found is older than this (a stale backup)" },
	{ .name = "store", .type = T_RESOURCE, .flags = P_REQUIRED, .kind = STORE_KINDS,
	  .doc = "the store (s3 or dir)" },
	{ .name = NULL },
};
static const struct output_spec latest_outputs[] = {
	{ .name = "key", .type = T_STRING, .doc = "the dump's key" },
	{ .name = "size", .type = T_INT, .doc = "its size in bytes" },
	{ .name = "taken_at", .type = T_TIMESTAMP, .doc = "when it was taken (the snapshot time, for a drplay dump)" },
	{ .name = "age", .type = T_DURATION, .doc = "how long ago that is" },
	{ .name = "time_source", .type = T_STRING,
	  .doc = "where taken_at comes from: manifest, key or last_modified" },
	{ .name = "format", .type = T_STRING, .doc = "custom or plain (from the manifest, else the key's suffix)" },
	{ .name = "compression", .type = T_STRING, .doc = "gzip or none (outside the dump's own)" },
	{ .name = "manifest", .type = T_BOOL, .doc = "whether it has a manifest" },
	{ .name = "last_modified", .type = T_TIMESTAMP, .doc = "the store's modification time" },
	{ .name = NULL },
};
static const struct action_def latest_def = {
	.name = "offsite.latest",
	.run = do_latest,
	.cat = CAT_OTHER,
	.params = latest_params,
	.outputs = latest_outputs,
	.doc = "Finds the newest dump taken at or before `before` (default now): time from the manifest, else a timestamp in the key, else LastModified. Plain `pg_dump | gzip` files without manifests count too. Fails when there is none, or when it is older than max_age.",
};

static const char *const manifest_values[] = { "auto", "required", "optional", NULL };
static const struct param_spec check_params[] = {
	{ .name = "expect_tables", .type = T_LIST, .doc = "tables (schema.table or table) the dump must contain" },
	{ .name = "key", .type = T_STRING, .flags = P_REQUIRED, .doc = "the dump's key, e.g. ${steps.latest.key}" },
	{ .name = "manifest", .type = T_STRING, .def = "auto", .allowed = manifest_values,
	  .doc = "required: fail without KEY.manifest.json; optional: check without one; auto: required for .dump/.pgdump keys" },
	{ .name = "store", .type = T_RESOURCE, .flags = P_REQUIRED, .kind = STORE_KINDS,
	  .doc = "the store (s3 or dir)" },
	{ .name = NULL },
};
static const struct output_spec check_outputs[] = {
	{ .name = "key", .type = T_STRING, .doc = "the dump's key" },
	{ .name = "size", .type = T_INT, .doc = "bytes read" },
	{ .name = "sha256", .type = T_STRING, .doc = "SHA-256 of those bytes" },
	{ .name = "format", .type = T_STRING, .doc = "custom or plain" },
	{ .name = "compression", .type = T_STRING, .doc = "gzip or none (outside the dump's own)" },
	{ .name = "manifest", .type = T_BOOL, .doc = "whether a manifest was checked" },
	{ .name = "proof", .type = T_MAP,
	  .doc = "the dump's proof, checked against its manifest: the state of the dump's own moment, for verify.compare's expected (null when the dump has none)" },
	{ .name = "signed", .type = T_BOOL, .doc = "whether the manifest carries a signature (checked when the store declares verify_key)" },
	{ .name = "checked", .type = T_LIST,
	  .doc = "what was proven, in order: signature (with verify_key), proof (against the manifest), readable, size, sha256 (against the manifest), gzip, format, toc, expect_tables" },
	{ .name = "toc_entries", .type = T_INT, .doc = "entries in a custom archive's table of contents" },
	{ .name = "tables", .type = T_INT,
	  .doc = "tables in the dump (partitions included; views, materialized views and sequences not)" },
	{ .name = "views", .type = T_INT, .doc = "views and materialized views in the dump" },
	{ .name = "missing_tables", .type = T_LIST, .doc = "expected tables the dump lacks" },
	{ .name = "taken_at", .type = T_TIMESTAMP, .doc = "the manifest's snapshot time (null without a manifest)" },
	{ .name = "age", .type = T_DURATION, .doc = "how long ago that is (null without a manifest)" },
	{ .name = "bytes_per_second", .type = T_NUMBER, .doc = "read speed" },
	{ .name = NULL },
};
static const struct action_def check_def = {
	.name = "offsite.check",
	.run = do_check,
	.cat = CAT_PREFLIGHT,
	.params = check_params,
	.outputs = check_outputs,
	.doc = "Proves a dump usable without restoring it, in one streamed read: the object is readable, its size and SHA-256 match its manifest, a .gz stream decompresses to its end, the bytes are a custom archive whose table of contents pg_restore --list reads (or SQL text), and expect_tables are in it. Read-only: a pre-flight gate.",
};

static const char *const expect_values[] = { "read", "read_only", NULL };
static const struct param_spec whoami_params[] = {
	{ .name = "expect", .type = T_STRING, .def = "read", .allowed = expect_values,
	  .doc = "read: can list and read; read_only: also proves the credentials cannot write or delete" },
	{ .name = "expect_key_id", .type = T_STRING, .doc = "fail unless the store's access key id is this one (s3)" },
	{ .name = "store", .type = T_RESOURCE, .flags = P_REQUIRED, .kind = STORE_KINDS,
	  .doc = "the store (s3 or dir)" },
	{ .name = NULL },
};
static const struct output_spec whoami_outputs[] = {
	{ .name = "identity", .type = T_STRING,
	  .doc = "who the store sees: the access key id partly masked, endpoint and region (dir: the user)" },
	{ .name = "key_id", .type = T_STRING, .doc = "the access key id, partly masked (dir: the user name)" },
	{ .name = "can_list", .type = T_BOOL, .doc = "listing under the prefix works" },
	{ .name = "can_read", .type = T_BOOL, .doc = "reading under the prefix works" },
	{ .name = "can_write", .type = T_BOOL, .doc = "writing works (null unless expect: read_only)" },
	{ .name = "can_delete", .type = T_BOOL, .doc = "deleting works (null unless expect: read_only)" },
	{ .name = "objects", .type = T_INT, .doc = "objects seen under the prefix (at most 1000 are listed)" },
	{ .name = NULL },
};
static const struct action_def whoami_def = {
	.name = "offsite.whoami",
	.run = do_whoami,
	.cat = CAT_PREFLIGHT,
	.params = whoami_params,
	.outputs = whoami_outputs,
	.doc = "Proves the store's credentials work and are the narrow ones: they authenticate, list and read under the prefix; with expect: read_only, a PUT of a zero-byte object and a DELETE, each on a random key that does not exist, must both be refused (a probe object that was accepted is deleted at once, and the step fails). Outputs the identity, key id partly masked.",
};

static const struct action_def *const offsite_actions[] = {
	&check_def, &latest_def, &list_def, &whoami_def, NULL,
};

const struct family offsite_family = {
	.name = "offsite",
	.actions = offsite_actions,
};
