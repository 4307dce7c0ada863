/*
 * dump.c: dump.create and dump.restore, the pipelines between PostgreSQL's
 * own tools and an off-site store, and the streaming dump inspector that
 * offsite.check shares (dump.h).
 *
 * dump.create: a REPEATABLE READ transaction on the source exports its
 * snapshot (so the dump's moment is known to the microsecond: the RPO is
 * measured from it); `pg_dump -Fc --snapshot=ID` writes into a pipe; a reader
 * thread fills two part-sized buffers from the pipe (hashing as it goes)
 * while this thread uploads the other one, so memory stays at two parts
 * whatever the database's size. The object is committed only after pg_dump
 * exited 0; then the manifest is written beside it.
 *
 * dump.restore: the object is read from the store once, hashed, gunzipped
 * when needed, sniffed (custom archive or SQL text) and streamed into
 * `pg_restore` or `psql` through a pipe; with `jobs: N` a custom archive is
 * staged in a local file first (free space checked before anything is
 * downloaded) and restored by `pg_restore --jobs`. Children run from argv
 * lists in their own process groups; passwords go through PGPASSWORD, never
 * argv.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "dump.h"
#include "pg.h"
#include "text.h"
#include "version.h"

#define ZBUF (256u * 1024u)
#define PROGRESS_EVERY_US 250000

/* ---- small helpers ---- */

void sigpipe_ignore(struct sigpipe_guard *g)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, &g->old);
}

void sigpipe_restore(struct sigpipe_guard *g)
{
	sigaction(SIGPIPE, &g->old, NULL);
}

const char *dump_fmt_name(enum dump_fmt f)
{
	switch (f) {
	case DUMP_CUSTOM: return "custom";
	case DUMP_PLAIN: return "plain";
	case DUMP_TAR: return "tar";
	case DUMP_NOT_A_DUMP: return "not a dump";
	default: return "unknown";
	}
}

static int ends_with(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && !strcasecmp(s + a - b, suf);
}

int dump_key_is_dump(const char *key)
{
	const char *base = strrchr(key, '/');
	base = base ? base + 1 : key;
	if (!*base || base[0] == '.' || strstr(base, ".drplay-tmp-") || ends_with(base, ".manifest.json"))
		return 0;
	static const char *const suf[] = { ".dump", ".pgdump", ".sql", ".sql.gz", ".dump.gz", ".pgdump.gz", NULL };
	for (size_t i = 0; suf[i]; i++)
		if (ends_with(base, suf[i]))
			return 1;
	return 0;
}

static int digits(const char *p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)p[i]))
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	*out = v;
	return 0;
}

/* A date (and time) starting at p: 0 and *us, or -1. */
static int time_at(const char *start, const char *p, int64_t *us)
{
	if (p > start && isdigit((unsigned char)p[-1]))
		return -1;
	int Y, M, D, h = 0, m = 0, s = 0;
	const char *q = p;
	if (digits(q, 4, &Y))
		return -1;
	q += 4;
	int dash = *q == '-';
	if (dash)
		q++;
	if (digits(q, 2, &M))
		return -1;
	q += 2;
	if (dash) {
		if (*q != '-')
			return -1;
		q++;
	}
	if (digits(q, 2, &D))
		return -1;
	q += 2;
	const char *t = q;
	if (*t == 'T' || *t == 't' || *t == '_' || *t == ' ' || *t == '-' || *t == '.')
		t++;
	if (!digits(t, 2, &h)) {
		const char *u = t + 2;
		char sep = 0;
		if (*u == ':' || *u == '-' || *u == '.') {
			sep = *u;
			u++;
		}
		if (!digits(u, 2, &m)) {
			u += 2;
			const char *v = u;
			if (!sep || *v == sep) {
				if (sep)
					v++;
				if (!digits(v, 2, &s))
					u = v + 2;
				else
					s = 0;
			}
			q = u;
		} else {
			h = 0;
		}
	} else {
		h = 0;
	}
	if (isdigit((unsigned char)*q))
		return -1;
	if (Y < 1970 || Y > 9999 || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || s > 60)
		return -1;
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = Y - 1900;
	tm.tm_mon = M - 1;
	tm.tm_mday = D;
	tm.tm_hour = h;
	tm.tm_min = m;
	tm.tm_sec = s;
	time_t tt = timegm(&tm);
	if (tt == (time_t)-1)
		return -1;
	*us = (int64_t)tt * 1000000;
	return 0;
}

int dump_key_time(const char *key, int64_t *us)
{
	const char *base = strrchr(key, '/');
	base = base ? base + 1 : key;
	int found = 0;
	for (const char *p = base; *p; p++) {
		int64_t t;
		if (isdigit((unsigned char)*p) && time_at(base, p, &t) == 0) {
			*us = t;
			found = 1;
		}
	}
	return found ? 0 : -1;
}

/* ---- the dump stream inspector ---- */

void dstream_init(struct dstream *d)
{
	memset(d, 0, sizeof(*d));
	d->md = EVP_MD_CTX_new();
	if (!d->md || EVP_DigestInit_ex(d->md, EVP_sha256(), NULL) != 1) {
		fprintf(stderr, "drplay: cannot initialise SHA-256\n");
		abort();
	}
	sb_init(&d->line, 1024);
	d->tables = json_array();
}

void dstream_release(struct dstream *d)
{
	if (d->md)
		EVP_MD_CTX_free(d->md);
	if (d->z_inited)
		inflateEnd(&d->z);
	free(d->zbuf);
	sb_release(&d->line);
	json_decref(d->tables);
	memset(d, 0, sizeof(*d));
}

static int dfail(struct dstream *d, const char *fmt, ...) PRINTF_LIKE(2, 3);
static int dfail(struct dstream *d, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d->err, sizeof(d->err), fmt, ap);
	va_end(ap);
	d->failed = 1;
	return -1;
}

static int looks_like_sql(const unsigned char *p, size_t n)
{
	if (memchr(p, 0, n))
		return 0;
	size_t i = 0;
	if (n >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf)
		i = 3;
	while (i < n && isspace(p[i]))
		i++;
	static const char *const starts[] = { "--", "/*", "SET ", "CREATE ", "BEGIN", "\\connect", "\\restrict",
					      "INSERT ", "COPY ", "SELECT ", "START TRANSACTION", "DROP ",
					      "ALTER ", "COMMENT ", NULL };
	for (size_t k = 0; starts[k]; k++) {
		size_t l = strlen(starts[k]);
		if (n - i >= l && !strncasecmp((const char *)p + i, starts[k], l))
			return 1;
	}
	return 0;
}

static enum dump_fmt sniff(const unsigned char *p, size_t n)
{
	if (n >= 5 && !memcmp(p, "PGDMP", 5))
		return DUMP_CUSTOM;
	if (n >= 262 && !memcmp(p + 257, "ustar", 5))
		return DUMP_TAR;
	if (n && looks_like_sql(p, n))
		return DUMP_PLAIN;
	return DUMP_NOT_A_DUMP;
}

/* Table scan of SQL text: "CREATE TABLE schema.name (" lines outside COPY data. */
static void scan_line(struct dstream *d, const char *l, size_t n)
{
	static const char ct[] = "CREATE TABLE ", cut[] = "CREATE UNLOGGED TABLE ";
	if (d->line_skip == 2) { /* inside COPY ... FROM stdin data */
		if (n == 2 && l[0] == '\\' && l[1] == '.')
			d->line_skip = 0;
		return;
	}
	if (n > 5 && !strncmp(l, "COPY ", 5) && n >= 12 && !strncmp(l + n - 12, " FROM stdin;", 12)) {
		d->line_skip = 2;
		return;
	}
	static const char cv[] = "CREATE VIEW ", cmv[] = "CREATE MATERIALIZED VIEW ";
	if ((n > sizeof(cv) - 1 && !strncmp(l, cv, sizeof(cv) - 1)) ||
	    (n > sizeof(cmv) - 1 && !strncmp(l, cmv, sizeof(cmv) - 1))) {
		d->views++;
		return;
	}
	const char *p = NULL;
	if (n > sizeof(ct) - 1 && !strncmp(l, ct, sizeof(ct) - 1))
		p = l + sizeof(ct) - 1;
	else if (n > sizeof(cut) - 1 && !strncmp(l, cut, sizeof(cut) - 1))
		p = l + sizeof(cut) - 1;
	if (!p)
		return;
	const char *end = l + n;
	if ((size_t)(end - p) > 14 && !strncmp(p, "IF NOT EXISTS ", 14))
		p += 14;
	struct strbuf nm = STRBUF_INIT;
	int quoted = 0;
	for (; p < end; p++) {
		if (*p == '"') {
			if (quoted && p + 1 < end && p[1] == '"') {
				sb_addc(&nm, '"');
				p++;
				continue;
			}
			quoted = !quoted;
			continue;
		}
		if (!quoted && (*p == ' ' || *p == '('))
			break;
		sb_addc(&nm, *p);
	}
	if (nm.len)
		json_array_append_new(d->tables, json_text(sb_str(&nm)));
	sb_release(&nm);
}

static void scan(struct dstream *d, const unsigned char *p, size_t n)
{
	while (n) {
		const unsigned char *nl = memchr(p, '\n', n);
		size_t seg = nl ? (size_t)(nl - p) : n;
		size_t room = d->line.len < 600 ? 600 - d->line.len : 0;
		sb_add(&d->line, p, seg < room ? seg : room);
		if (!nl)
			return;
		scan_line(d, sb_str(&d->line), d->line.len);
		sb_reset(&d->line);
		p += seg + 1;
		n -= seg + 1;
	}
}

static int pass(struct dstream *d, const void *p, size_t n)
{
	if (!n)
		return 0;
	if (d->scan_tables && d->fmt == DUMP_PLAIN)
		scan(d, p, n);
	if (d->out && d->out(d->out_ud, p, n) != 0)
		return -1;
	return 0;
}

static int decide(struct dstream *d)
{
	d->fmt = sniff(d->head, d->headn);
	if (d->fmt == DUMP_NOT_A_DUMP) {
		char hex[40] = "";
		size_t k = d->headn < 8 ? d->headn : 8;
		for (size_t i = 0; i < k; i++)
			snprintf(hex + 3 * i, sizeof(hex) - 3 * i, "%02x ", d->head[i]);
		if (k)
			hex[3 * k - 1] = '\0';
		if (!d->headn)
			return dfail(d, "it is empty%s", d->gzip ? " once decompressed" : "");
		return dfail(d, "it is not a dump: it starts with bytes %s%s, neither a pg_dump custom archive (PGDMP) nor SQL text",
			     hex, d->gzip ? " once decompressed" : "");
	}
	if (d->fmt == DUMP_TAR)
		return dfail(d, "it is a tar-format dump (pg_dump -Ft); drplay checks and restores custom-format (-Fc) and plain SQL dumps");
	if (d->on_format && d->on_format(d->fmt_ud, d) != 0)
		return -1;
	return pass(d, d->head, d->headn);
}

static int deliver(struct dstream *d, const unsigned char *p, size_t n)
{
	d->plain += n;
	if (d->fmt == DUMP_UNKNOWN) {
		size_t take = sizeof(d->head) - d->headn;
		if (take > n)
			take = n;
		memcpy(d->head + d->headn, p, take);
		d->headn += take;
		p += take;
		n -= take;
		if (d->headn < sizeof(d->head))
			return 0;
		if (decide(d) != 0)
			return -1;
	}
	return pass(d, p, n);
}

static int inflate_some(struct dstream *d, const unsigned char *p, size_t n)
{
	d->z.next_in = (unsigned char *)p;
	d->z.avail_in = (uInt)n;
	do {
		if (d->z_member_done) {
			if (d->z.avail_in >= 1 && d->z.next_in[0] != 0x1f)
				return dfail(d, "there is data after the end of the gzip stream (at byte %llu)",
					     (unsigned long long)(d->raw - d->z.avail_in));
			inflateReset(&d->z);
			d->z_member_done = 0;
		}
		d->z.next_out = d->zbuf;
		d->z.avail_out = ZBUF;
		int r = inflate(&d->z, Z_NO_FLUSH);
		size_t produced = ZBUF - d->z.avail_out;
		if (r != Z_OK && r != Z_STREAM_END && !(r == Z_BUF_ERROR && produced == 0))
			return dfail(d, "the gzip data is corrupt near byte %llu: %s",
				     (unsigned long long)(d->raw - d->z.avail_in),
				     d->z.msg ? d->z.msg : zError(r));
		if (produced && deliver(d, d->zbuf, produced) != 0)
			return -1;
		if (r == Z_STREAM_END)
			d->z_member_done = 1;
		if (r == Z_BUF_ERROR)
			break;
	} while (d->z.avail_in > 0 || d->z.avail_out == 0);
	return 0;
}

int dstream_feed(struct dstream *d, const void *data, size_t n)
{
	const unsigned char *p = data;
	if (d->failed)
		return -1;
	if (!n)
		return 0;
	EVP_DigestUpdate(d->md, p, n);
	d->raw += n;
	if (!d->outer_known) {
		/* the gzip magic: 1f 8b (a 1-byte first feed is judged by its byte) */
		d->gzip = p[0] == 0x1f && (n < 2 || p[1] == 0x8b);
		d->outer_known = 1;
		if (d->gzip) {
			d->zbuf = xmalloc(ZBUF);
			if (inflateInit2(&d->z, 16 + MAX_WBITS) != Z_OK)
				return dfail(d, "cannot start gzip decompression");
			d->z_inited = 1;
		}
	}
	if (d->gzip) {
		while (n) {
			size_t k = n > (1u << 30) ? (1u << 30) : n;
			if (inflate_some(d, p, k) != 0)
				return -1;
			p += k;
			n -= k;
		}
		return 0;
	}
	return deliver(d, p, n);
}

int dstream_finish(struct dstream *d, char sha_hex[65])
{
	unsigned char md[32];
	unsigned int mdl = 0;
	EVP_DigestFinal_ex(d->md, md, &mdl);
	for (int i = 0; i < 32; i++)
		snprintf(sha_hex + 2 * i, 3, "%02x", md[i]);
	if (d->failed)
		return -1;
	if (d->gzip && !d->z_member_done)
		return dfail(d, "the gzip stream is cut short: it ends after %llu bytes without its end-of-stream trailer (a truncated object?)",
			     (unsigned long long)d->raw);
	if (d->fmt == DUMP_UNKNOWN && decide(d) != 0)
		return -1;
	if (d->line.len && d->scan_tables && d->fmt == DUMP_PLAIN)
		scan_line(d, sb_str(&d->line), d->line.len);
	return 0;
}

/* ---- manifests ---- */

char *dump_manifest_key(const char *key)
{
	return xasprintf("%s.manifest.json", key);
}

static int is_hex64(const char *s)
{
	if (!s || strlen(s) != 64)
		return 0;
	for (; *s; s++)
		if (!isxdigit((unsigned char)*s))
			return 0;
	return 1;
}

int dump_read_manifest(struct act *a, struct store *s, const char *key, json_t **out)
{
	*out = NULL;
	char *mk = dump_manifest_key(key);
	char *buf = NULL;
	size_t len = 0;
	struct libctx lc = stepctx(a);
	int r = store_read_small(&lc, s, mk, 1u << 20, &buf, &len);
	if (r < 0)
		stepctx_fail(a, &lc);
	libctx_release(&lc);
	if (r != 0) {
		free(mk);
		return r;
	}
	json_error_t je;
	json_t *m = json_loadb(buf, len, 0, &je);
	free(buf);
	const char *why = NULL;
	char wb[300];
	if (!m) {
		snprintf(wb, sizeof(wb), "it is not JSON (%s at line %d)", je.text, je.line);
		why = wb;
	} else if (!json_is_object(m)) {
		why = "it is not a JSON object";
	} else if (!is_hex64(json_string_value(json_object_get(m, "sha256")))) {
		why = "its sha256 is missing or not 64 hex digits";
	} else if (!json_is_integer(json_object_get(m, "size")) ||
		   json_integer_value(json_object_get(m, "size")) < 0) {
		why = "its size is missing or not a non-negative integer";
	}
	if (why) {
		act_fail(a, "the manifest '%s' of '%s' in store '%s' is not valid: %s; it was not written by dump.create or it was damaged",
			 mk, key, store_name(s), why);
		json_decref(m);
		free(mk);
		return -1;
	}
	free(mk);
	*out = m;
	return 0;
}

/* ---- children and pipes ---- */

struct cpipe {
	struct act *a;
	int fd;            /* our end, non-blocking */
	int broken;        /* the reader went away (EPIPE) */
	int tolerate;      /* EPIPE ends feeding quietly */
	int cancelled;
	int err;
	uint64_t written;
};

static int cpipe_write(void *ud, const void *data, size_t n)
{
	struct cpipe *c = ud;
	const char *p = data;
	if (c->broken)
		return c->tolerate ? 0 : -1;
	while (n) {
		ssize_t w = write(c->fd, p, n);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			c->written += (uint64_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			struct pollfd pf = { c->fd, POLLOUT, 0 };
			poll(&pf, 1, 100);
			if (act_cancelled(c->a)) {
				c->cancelled = 1;
				return -1;
			}
			continue;
		}
		if (w < 0 && errno == EPIPE) {
			c->broken = 1;
			return c->tolerate ? 0 : -1;
		}
		c->err = errno;
		return -1;
	}
	return 0;
}

/* A pipe for a child's stdin (w_nonblock) or stdout; both ends CLOEXEC. */
static int make_pipe(struct act *a, int fds[2], int nonblock_end)
{
	if (pipe2(fds, O_CLOEXEC) != 0) {
		act_fail(a, "cannot create a pipe: %s", strerror(errno));
		return -1;
	}
	fcntl(fds[1], F_SETPIPE_SZ, 1 << 20); /* fewer wake-ups; best effort */
	if (nonblock_end >= 0) {
		int fl = fcntl(fds[nonblock_end], F_GETFL);
		fcntl(fds[nonblock_end], F_SETFL, fl | O_NONBLOCK);
	}
	return 0;
}

/* An unlinked temporary file in the run's scratch directory (for a child's
 * stderr or a listing). -1 after act_fail. */
static int scratch_file(struct act *a)
{
	const char *dir = act_tmpdir(a);
	if (!dir) {
		act_fail(a, "cannot create the run's scratch directory: %s", strerror(errno));
		return -1;
	}
	char *path = xasprintf("%s/out-XXXXXX", dir);
	int fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0) {
		act_fail(a, "cannot create a scratch file in %s: %s", dir, strerror(errno));
		free(path);
		return -1;
	}
	unlink(path);
	free(path);
	return fd;
}

/* The last `max` bytes of a scratch file, NUL-terminated (caller frees). */
static char *file_tail(int fd, size_t max)
{
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0)
		return xstrdup("");
	off_t start = st.st_size > (off_t)max ? st.st_size - (off_t)max : 0;
	size_t n = (size_t)(st.st_size - start);
	char *b = xmalloc(n + 1);
	ssize_t r = pread(fd, b, n, start);
	b[r > 0 ? r : 0] = '\0';
	return b;
}

/* The "Command was:" line that belongs to the error line ending at nl (it
 * may follow DETAIL/HINT lines), or NULL. */
static const char *command_of(const char *nl)
{
	for (const char *l = nl ? nl + 1 : NULL; l && *l;) {
		if (!strncmp(l, "Command was:", 12))
			return l;
		if (!strncmp(l, "pg_restore:", 11) || !strncmp(l, "psql:", 5))
			return NULL;
		l = strchr(l, '\n');
		if (l)
			l++;
	}
	return NULL;
}

/* The line of a tool's stderr that says what failed: the first "error"
 * line, with its "Command was:" continuation; else the last line. */
static char *tool_error(int fd)
{
	char *t = file_tail(fd, 64 * 1024);
	char *hit = NULL;
	for (char *l = t; *l;) {
		char *nl = strchr(l, '\n');
		size_t n = nl ? (size_t)(nl - l) : strlen(l);
		if (!hit && (strstr(l, "error:") || strstr(l, "ERROR:") || strstr(l, "FATAL:")) &&
		    (size_t)((strstr(l, "rror:") ? strstr(l, "rror:") : strstr(l, "FATAL:")) - l) < n) {
			struct strbuf sb = STRBUF_INIT;
			sb_add(&sb, l, n);
			const char *cmd = command_of(nl);
			if (cmd) {
				const char *n2 = strchr(cmd, '\n');
				size_t m = n2 ? (size_t)(n2 - cmd) : strlen(cmd);
				sb_adds(&sb, " (");
				sb_add(&sb, cmd, m > 160 ? 160 : m);
				sb_adds(&sb, m > 160 ? "...)" : ")");
			}
			hit = sb_detach(&sb);
		}
		if (!nl)
			break;
		l = nl + 1;
	}
	if (!hit) {
		size_t n = strlen(t);
		while (n && (t[n - 1] == '\n' || t[n - 1] == ' '))
			t[--n] = '\0';
		char *last = strrchr(t, '\n');
		hit = xstrdup(last ? last + 1 : t);
	}
	free(t);
	if (strlen(hit) > 600)
		hit[600] = '\0';
	return hit;
}

/* Logs up to max lines of a tool's stderr (masked like every log line). */
static int log_tool_lines(struct act *a, int fd, const char *tool, int max)
{
	char *t = file_tail(fd, 256 * 1024);
	int n = 0, errors = 0;
	for (char *l = t; *l;) {
		char *nl = strchr(l, '\n');
		if (nl)
			*nl = '\0';
		if (*l) {
			if (strstr(l, "ERROR:") || strstr(l, "error:"))
				errors++;
			if (n < max)
				act_log(a, "%s: %s", tool, !strncmp(l, tool, strlen(tool)) && l[strlen(tool)] == ':'
								? l + strlen(tool) + 2 : l);
			n++;
		}
		if (!nl)
			break;
		l = nl + 1;
	}
	if (n > max)
		act_log(a, "%s: ... %d more lines", tool, n - max);
	free(t);
	return errors;
}

/* A libpq conninfo for the resource with dbname replaced, password
 * included (for later steps' resources). New string. */
static char *conninfo_for(struct act *a, struct resource *r, const char *dbname)
{
	char *ci = NULL, *pw = NULL;
	if (pg_child_conninfo(a, r, dbname, &ci, &pw) != 0)
		return NULL;
	if (pw) {
		const char *v = strchr(pw, '=') + 1;
		struct strbuf sb = STRBUF_INIT;
		sb_adds(&sb, ci);
		sb_adds(&sb, " password='");
		for (const char *p = v; *p; p++) {
			if (*p == '\'' || *p == '\\')
				sb_addc(&sb, '\\');
			sb_addc(&sb, *p);
		}
		sb_addc(&sb, '\'');
		free(ci);
		free_secret(pw);
		return sb_detach(&sb);
	}
	return ci;
}

void prog_start(struct act *a, struct prog *p, const char *phase, uint64_t total)
{
	p->phase = phase;
	p->last = mono_us();
	p->reported = 0;
	act_progress(a, phase, 0, total);
}

void prog_tick(struct act *a, struct prog *p, uint64_t done, uint64_t total)
{
	int64_t now = mono_us();
	if (now - p->last < PROGRESS_EVERY_US)
		return;
	p->last = now;
	p->reported = 1;
	act_progress(a, p->phase, done, total);
}

void prog_end(struct act *a, struct prog *p, uint64_t done)
{
	if (p->reported || isatty(STDERR_FILENO))
		act_progress(a, p->phase, done, done);
}

/* ====================================================================== */
/* dump.create                                                            */
/* ====================================================================== */

/* The reader thread: fills two buffers from the pipe in turn, hashing. */
struct preader {
	int fd;
	size_t bsize;        /* each buffer's size */
	size_t first;        /* the first fill stops here (S3: 5 MiB, so the upload starts early) */
	unsigned char *buf[2];
	size_t len[2];
	char sha[2][65];     /* each fill's SHA-256: the part's payload hash */
	int full[2], last[2];
	pthread_mutex_t mu;
	pthread_cond_t cv;
	atomic_int stop;
	int rerr;
	EVP_MD_CTX *md;
	uint64_t total;
};

static void *reader_main(void *arg)
{
	struct preader *p = arg;
	int i = 0;
	size_t want = p->first;
	EVP_MD_CTX *part = EVP_MD_CTX_new();
	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (p->full[i] && !atomic_load(&p->stop))
			pthread_cond_wait(&p->cv, &p->mu);
		pthread_mutex_unlock(&p->mu);
		if (atomic_load(&p->stop))
			break;
		size_t n = 0;
		int eof = 0;
		while (n < want) {
			struct pollfd pf = { p->fd, POLLIN, 0 };
			int pr = poll(&pf, 1, 200);
			if (atomic_load(&p->stop)) {
				eof = 1;
				break;
			}
			if (pr <= 0)
				continue;
			ssize_t r = read(p->fd, p->buf[i] + n, want - n);
			if (r > 0) {
				n += (size_t)r;
			} else if (r == 0) {
				eof = 1;
				break;
			} else if (errno != EINTR && errno != EAGAIN) {
				p->rerr = errno;
				eof = 1;
				break;
			}
		}
		EVP_DigestUpdate(p->md, p->buf[i], n);
		unsigned char md[32];
		unsigned int mdl = 0;
		EVP_DigestInit_ex(part, EVP_sha256(), NULL);
		EVP_DigestUpdate(part, p->buf[i], n);
		EVP_DigestFinal_ex(part, md, &mdl);
		for (int k = 0; k < 32; k++)
			snprintf(p->sha[i] + 2 * k, 3, "%02x", md[k]);
		pthread_mutex_lock(&p->mu);
		p->total += n;
		p->len[i] = n;
		p->last[i] = eof;
		p->full[i] = 1;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
		if (eof)
			break;
		i ^= 1;
		want = p->bsize;
	}
	EVP_MD_CTX_free(part);
	return NULL;
}

/* Waits for buffer i to be full; -1 when cancelled. */
static int preader_wait(struct act *a, struct preader *p, int i)
{
	pthread_mutex_lock(&p->mu);
	while (!p->full[i]) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&p->cv, &p->mu, &ts);
		if (!p->full[i] && act_cancelled(a)) {
			pthread_mutex_unlock(&p->mu);
			return -1;
		}
	}
	pthread_mutex_unlock(&p->mu);
	return 0;
}

static void preader_release_buf(struct preader *p, int i)
{
	pthread_mutex_lock(&p->mu);
	p->full[i] = 0;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

static int valid_name(const char *s)
{
	if (!*s || *s == '/' || strstr(s, "..") || strlen(s) > 200)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._-/", *s))
			return 0;
	return 1;
}

struct snap {
	PGconn *conn;
	char id[128];
	int64_t at;
	char server_version[64];
	long server_version_num;
	char dbname[128];
	json_t *locale;   /* the database's encoding and locale (pg_database), for the manifest */
};

/* Opens the source's snapshot: 0 with an exported id, 1 without one (time
 * taken from the server's clock), -1 after act_fail. */
static int open_snapshot(struct act *a, struct resource *db, struct snap *sn)
{
	memset(sn, 0, sizeof(*sn));
	sn->conn = pg_connect_new(a, db, NULL);
	if (!sn->conn)
		return -1;
	PGresult *r = pg_exec(a, sn->conn, "starting the dump's snapshot transaction",
			      "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
	if (!r)
		return -1;
	PQclear(r);
	int exported = 1;
	r = PQexec(sn->conn, "SELECT pg_catalog.pg_export_snapshot(), "
			     "(extract(epoch from statement_timestamp()) * 1000000)::bigint, "
			     "current_setting('server_version'), current_setting('server_version_num')::int, "
			     "current_database()");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		char m[300];
		snprintf(m, sizeof(m), "%s", PQresultErrorMessage(r));
		m[strcspn(m, "\n")] = '\0';
		PQclear(r);
		act_log(a, "warning: cannot export a snapshot (%s); pg_dump takes its own and the snapshot time is the server's clock when it started",
			m);
		exported = 0;
		PQclear(PQexec(sn->conn, "ROLLBACK"));
		r = pg_exec(a, sn->conn, "reading the source's version",
			    "SELECT '', (extract(epoch from clock_timestamp()) * 1000000)::bigint, "
			    "current_setting('server_version'), current_setting('server_version_num')::int, "
			    "current_database()");
		if (!r)
			return -1;
	}
	snprintf(sn->id, sizeof(sn->id), "%s", PQgetvalue(r, 0, 0));
	int64_t at = 0;
	parse_int64(PQgetvalue(r, 0, 1), &at);
	sn->at = at;
	const char *sv = PQgetvalue(r, 0, 2);
	snprintf(sn->server_version, sizeof(sn->server_version), "%.*s", (int)strcspn(sv, " "), sv);
	sn->server_version_num = strtol(PQgetvalue(r, 0, 3), NULL, 10);
	snprintf(sn->dbname, sizeof(sn->dbname), "%s", PQgetvalue(r, 0, 4));
	PQclear(r);
	/* what CREATE DATABASE needs to make a copy that sorts and compares
	 * text the same way (columns that do not exist on a version are null) */
	r = pg_exec(a, sn->conn, "reading the database's locale",
		    "SELECT json_build_object('encoding', pg_encoding_to_char(d.encoding), 'lc_collate', d.datcollate, "
		    "'lc_ctype', d.datctype, 'locale_provider', j ->> 'datlocprovider', "
		    "'locale', coalesce(j ->> 'daticulocale', j ->> 'datlocale'), 'icu_rules', j ->> 'daticurules')::text "
		    "FROM pg_database d CROSS JOIN LATERAL to_jsonb(d) AS j WHERE d.datname = current_database()");
	if (!r)
		return -1;
	sn->locale = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
	PQclear(r);
	return exported ? 0 : 1;
}

/* pg_dump's version from a custom archive's header (pg_backup_archiver.c,
 * WriteHead: "PGDMP", version, intSize, offSize, format, compression, the
 * creation time, then the database name, the server's and pg_dump's version
 * strings), so no `pg_dump --version` process is needed. 0, or -1 when the
 * header is not as expected. */
int dump_header_version(const unsigned char *p, size_t n, char *ver, size_t vn)
{
	if (n < 11 || memcmp(p, "PGDMP", 5) != 0)
		return -1;
	int vmaj = p[5], vmin = p[6];
	size_t isz = p[8];
	if (isz < 1 || isz > 8)
		return -1;
	size_t o = 11;
	o += (vmaj > 1 || vmin >= 15) ? 1 : 1 + isz; /* compression: a byte since 1.15, else an int */
	o += 7 * (1 + isz);                          /* tm_sec ... tm_isdst */
	for (int k = 0; k < 3; k++) {
		if (o + 1 + isz > n)
			return -1;
		int neg = p[o];
		uint64_t len = 0;
		for (size_t b = 0; b < isz; b++)
			len |= (uint64_t)p[o + 1 + b] << (8 * b);
		o += 1 + isz;
		if (neg)
			continue; /* a NULL string */
		if (len > 256 || o + len > n)
			return -1;
		if (k == 2) {
			if (!len || len >= vn)
				return -1;
			memcpy(ver, p + o, len);
			ver[len] = '\0';
			for (size_t c = 0; c < len; c++)
				if (!isprint((unsigned char)ver[c]))
					return -1;
			ver[strcspn(ver, " ")] = '\0'; /* "15.8 (Debian 15.8-1)" -> "15.8" */
			return *ver ? 0 : -1;
		}
		o += len;
	}
	return -1;
}

struct create {
	struct act *a;
	struct libctx lc;     /* the store's context */
	struct resource *db;
	struct store *st;
	struct snap sn;
	int snap_rc;
	char *key, *mkey, *ci, *pwenv;
	struct store_writer *w;
	int errfd, pfd[2];
	pid_t pid;
	struct preader pr;
	pthread_t tid;
	int thread;
	char pgdump_ver[64];
	const char *tool_ver; /* what the pg_dump run said of itself (--version) */
	uint64_t bytes;
	char sha[65];
	int64_t t0, t1;
	int64_t started;      /* when pg_dump started (wall clock) */
	char ts[40];          /* the snapshot's time, RFC 3339 */
};

static void stop_reader(struct create *c)
{
	if (!c->thread)
		return;
	pthread_mutex_lock(&c->pr.mu);
	atomic_store(&c->pr.stop, 1);
	pthread_cond_broadcast(&c->pr.cv);
	pthread_mutex_unlock(&c->pr.mu);
	pthread_join(c->tid, NULL);
	c->thread = 0;
}

static void create_release(struct create *c)
{
	if (c->pid > 0) {
		int ex, stt, cc;
		kill(-c->pid, SIGTERM);
		act_wait(c->a, c->pid, &ex, &stt, &cc);
		c->pid = -1;
	}
	stop_reader(c);
	if (c->pr.md) {
		EVP_MD_CTX_free(c->pr.md);
		pthread_mutex_destroy(&c->pr.mu);
		pthread_cond_destroy(&c->pr.cv);
	}
	free(c->pr.buf[0]);
	free(c->pr.buf[1]);
	if (c->sn.conn)
		PQfinish(c->sn.conn);
	json_decref(c->sn.locale);
	if (c->w)
		store_writer_abort(&c->lc, c->w);
	store_writer_free(c->w);
	libctx_release(&c->lc);
	free(c->key);
	free(c->mkey);
	free(c->ci);
	if (c->pwenv)
		free_secret(c->pwenv);
	if (c->errfd >= 0)
		close(c->errfd);
	if (c->pfd[0] >= 0)
		close(c->pfd[0]);
	if (c->pfd[1] >= 0)
		close(c->pfd[1]);
}

static int create_spawn(struct create *c, int64_t compress)
{
	struct act *a = c->a;
	if (pg_child_conninfo(a, c->db, NULL, &c->ci, &c->pwenv) != 0)
		return -1;
	c->errfd = scratch_file(a);
	if (c->errfd < 0 || make_pipe(a, c->pfd, -1) != 0)
		return -1;
	char *dbarg = xasprintf("--dbname=%s", c->ci);
	char *snaparg = c->snap_rc == 0 ? xasprintf("--snapshot=%s", c->sn.id) : NULL;
	char *comparg = compress >= 0 ? xasprintf("--compress=%lld", (long long)compress) : NULL;
	char *argv[8];
	int k = 0;
	const char *tool = dump_pg_tool_for(a, c->db, "pg_dump", &c->tool_ver);
	if (!tool) {
		free(dbarg);
		free(snaparg);
		free(comparg);
		return -1;
	}
	argv[k++] = (char *)tool;
	argv[k++] = "--format=custom";
	argv[k++] = "--no-password";
	argv[k++] = dbarg;
	if (snaparg)
		argv[k++] = snaparg;
	if (comparg)
		argv[k++] = comparg;
	argv[k] = NULL;
	char *envv[] = { c->pwenv, NULL };
	struct spawn_opts o;
	memset(&o, 0, sizeof(o));
	o.env_extra = c->pwenv ? envv : NULL;
	o.stdin_fd = -1;
	o.stdout_fd = c->pfd[1];
	o.stderr_fd = c->errfd;
	c->pid = act_spawn(a, argv, &o);
	free(dbarg);
	free(snaparg);
	free(comparg);
	close(c->pfd[1]);
	c->pfd[1] = -1;
	return c->pid > 0 ? 0 : -1;
}

/* Moves pg_dump's output into the store; commits only after pg_dump exited
 * 0. Returns 0 or -1 (act_fail done; the upload aborted). */
static int create_pump(struct create *c)
{
	struct act *a = c->a;
	struct preader *pr = &c->pr;
	pr->fd = c->pfd[0];
	pr->bsize = store_writer_block(c->w);
	pr->first = store_writer_first_block(c->w);
	if (pr->first > pr->bsize)
		pr->bsize = pr->first;
	pr->buf[0] = xmalloc(pr->bsize);
	pr->buf[1] = xmalloc(pr->bsize);
	pr->md = EVP_MD_CTX_new();
	EVP_DigestInit_ex(pr->md, EVP_sha256(), NULL);
	pthread_mutex_init(&pr->mu, NULL);
	pthread_cond_init(&pr->cv, NULL);
	atomic_init(&pr->stop, 0);
	int e = pthread_create(&c->tid, NULL, reader_main, pr);
	if (e != 0) {
		act_fail(a, "cannot start the reader thread: %s", strerror(e));
		return -1;
	}
	c->thread = 1;
	int i = 0, first_block = 1;
	uint64_t up = 0;
	struct prog pg;
	prog_start(a, &pg, "upload", 0);
	for (;;) {
		if (act_cancelled(a) || preader_wait(a, pr, i) != 0) {
			act_fail(a, "the dump was cancelled after %llu bytes; nothing was stored under '%s'",
				 (unsigned long long)up, c->key);
			return -1;
		}
		if (first_block) {
			first_block = 0;
			if (dump_header_version(pr->buf[i], pr->len[i], c->pgdump_ver, sizeof(c->pgdump_ver)) != 0)
				c->pgdump_ver[0] = '\0';
		}
		if (pr->last[i])
			break;
		if (store_writer_put(&c->lc, c->w, pr->buf[i], pr->len[i], 0, pr->sha[i]) != 0)
			return stepctx_fail(a, &c->lc), -1; /* create_release ends pg_dump and aborts */
		up += pr->len[i];
		prog_tick(a, &pg, up, 0);
		preader_release_buf(pr, i);
		i ^= 1;
	}
	/* end of pg_dump's output: it is exiting; its status decides */
	int exited = 0, status = 0, cancelled = 0;
	act_wait(a, c->pid, &exited, &status, &cancelled);
	c->pid = -1;
	stop_reader(c);
	if (cancelled)
		return act_fail(a, "the dump was cancelled; nothing was stored under '%s'", c->key), -1;
	if (!exited || status != 0) {
		char *why = tool_error(c->errfd);
		log_tool_lines(a, c->errfd, "pg_dump", 20);
		act_fail(a, "pg_dump of %s %s %d: %s; nothing was stored under '%s'", pg_where(c->db),
			 exited ? "exited with status" : "was killed by signal", status, why, c->key);
		free(why);
		return -1;
	}
	if (pr->rerr)
		return act_fail(a, "cannot read pg_dump's output: %s", strerror(pr->rerr)), -1;
	if (pr->total == 0)
		return act_fail(a, "pg_dump of %s wrote nothing; nothing was stored", pg_where(c->db)), -1;
	if (act_cancelled(a))
		return act_fail(a, "the dump was cancelled before it was stored; nothing was stored under '%s'", c->key), -1;
	if (store_writer_put(&c->lc, c->w, pr->buf[i], pr->len[i], 1, pr->sha[i]) != 0 ||
	    store_writer_commit(&c->lc, c->w) != 0)
		return stepctx_fail(a, &c->lc), -1;
	up += pr->len[i];
	prog_end(a, &pg, up);
	c->bytes = pr->total;
	unsigned char md[32];
	unsigned int mdl = 0;
	EVP_DigestFinal_ex(pr->md, md, &mdl);
	for (int k = 0; k < 32; k++)
		snprintf(c->sha + 2 * k, 3, "%02x", md[k]);
	return 0;
}

/* Checks the arguments, opens the snapshot and the store writer: what
 * comes before pg_dump. 0, or -1 after act_fail (nothing written yet). */
static int create_begin(struct create *c, int64_t *compress)
{
	struct act *a = c->a;
	c->db = act_resource(a, "database");
	if (!c->db)
		return -1;
	c->st = store_open(a, act_resource(a, "store"));
	if (!c->st)
		return -1;
	const char *name = act_str(a, "name");
	if (!name || !*name)
		name = pg_dbname(c->db);
	if (!valid_name(name))
		return act_fail(a, "name '%s' cannot be part of a key; use letters, digits and . _ - / (no '..')", name), -1;
	*compress = act_int(a, "compress", -1);
	if (act_has(a, "compress") && (*compress < 0 || *compress > 9))
		return act_fail(a, "compress is %lld; give 0 (none) to 9 (smallest)", (long long)*compress), -1;
	c->snap_rc = open_snapshot(a, c->db, &c->sn);
	if (c->snap_rc < 0)
		return -1;
	char tsc[40];
	fmt_timestamp_compact(c->sn.at, tsc, sizeof(tsc));
	fmt_timestamp(c->sn.at, c->ts, sizeof(c->ts));
	char *rel = xasprintf("%s-%s.dump", name, tsc);
	c->key = store_key(c->st, rel);
	free(rel);
	c->mkey = dump_manifest_key(c->key);
	act_changing(a);
	c->w = store_writer_new(&c->lc, c->st, c->key);
	if (!c->w)
		return stepctx_fail(a, &c->lc), -1;
	return 0;
}

/* The manifest, beside the dump. 0, or -1 after act_fail (the dump exists;
 * its manifest does not: the step fails). */
static int create_manifest(struct create *c)
{
	char fin[40], st_at[40];
	fmt_timestamp(now_us(), fin, sizeof(fin));
	fmt_timestamp(c->started, st_at, sizeof(st_at));
	json_t *m = json_object();
	json_object_set_new(m, "drplay_manifest", json_integer(1));
	json_object_set_new(m, "key", json_string(c->key));
	json_object_set_new(m, "format", json_string("custom"));
	json_object_set_new(m, "compression", json_string("pg_dump"));
	json_object_set_new(m, "size", json_integer((json_int_t)c->bytes));
	json_object_set_new(m, "sha256", json_string(c->sha));
	json_object_set_new(m, "database", json_string(c->sn.dbname));
	json_object_set_new(m, "source", json_string(pg_where(c->db)));
	json_object_set_new(m, "server_version", json_string(c->sn.server_version));
	json_object_set_new(m, "server_version_num", json_integer(c->sn.server_version_num));
	if (c->sn.locale)
		json_object_set(m, "locale", c->sn.locale);
	json_object_set_new(m, "pg_dump_version", json_string(c->pgdump_ver));
	json_object_set_new(m, "snapshot_time", json_string(c->ts));
	json_object_set_new(m, "snapshot_exported", json_boolean(c->snap_rc == 0));
	json_object_set_new(m, "started_at", json_string(st_at));
	json_object_set_new(m, "finished_at", json_string(fin));
	json_object_set_new(m, "duration_s", json_real((double)(c->t1 - c->t0) / 1e6));
	json_object_set_new(m, "created_by", json_string("drplay " DRPLAY_VERSION));
	json_object_set_new(m, "run", json_string(act_run_id(c->a)));
	char *text = json_dumps(m, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(m);
	size_t tl = strlen(text);
	text = xrealloc(text, tl + 2);
	text[tl] = '\n';
	text[tl + 1] = '\0';
	int mr = store_write_small(&c->lc, c->st, c->mkey, text, tl + 1, "application/json");
	free(text);
	return mr != 0 ? (stepctx_fail(c->a, &c->lc), -1) : 0;
}

/* What the store now holds must be what pg_dump wrote. 0, or -1. */
static int create_confirm(struct create *c)
{
	struct store_obj ob;
	int sr = store_stat(&c->lc, c->st, c->key, &ob);
	if (sr < 0)
		return stepctx_fail(c->a, &c->lc), -1;
	if (sr == 1 || ob.size != c->bytes)
		return act_fail(c->a, "after the upload, '%s' in store '%s' %s, but pg_dump wrote %llu bytes", c->key,
				store_name(c->st), sr == 1 ? "is missing" : "has another size",
				(unsigned long long)c->bytes), -1;
	return 0;
}

/* The log line, the outputs and the journal's dump_created. */
static void create_report(struct create *c, int parts)
{
	struct act *a = c->a;
	double secs = (double)(c->t1 - c->t0) / 1e6;
	char hs[32], rate[32];
	human_size(c->bytes, hs, sizeof(hs));
	human_size(secs > 0 ? (uint64_t)((double)c->bytes / secs) : c->bytes, rate, sizeof(rate));
	act_log(a, "stored '%s': %s in %.1fs (%s/s)%s, sha256 %.16s...", c->key, hs, secs, rate,
		parts ? " as a multipart upload" : "", c->sha);
	act_out_str(a, "key", c->key);
	act_out_str(a, "manifest", c->mkey);
	act_out_int(a, "size", (int64_t)c->bytes);
	act_out_str(a, "sha256", c->sha);
	act_out_str(a, "taken_at", c->ts);
	act_out_str(a, "format", "custom");
	act_out_str(a, "database", c->sn.dbname);
	act_out_str(a, "server_version", c->sn.server_version);
	act_out_str(a, "pg_dump_version", c->pgdump_ver);
	act_out_str(a, "store", store_where(c->st));
	act_out_int(a, "parts", parts);
	json_t *ev = json_object();
	json_object_set_new(ev, "key", json_string(c->key));
	json_object_set_new(ev, "store", json_string(store_name(c->st)));
	json_object_set_new(ev, "bytes", json_integer((json_int_t)c->bytes));
	json_object_set_new(ev, "seconds", json_real(secs));
	json_object_set_new(ev, "rate_bytes_per_s", json_real(secs > 0 ? (double)c->bytes / secs : 0));
	json_object_set_new(ev, "parts", json_integer(parts));
	json_object_set_new(ev, "sha256", json_string(c->sha));
	json_object_set_new(ev, "taken_at", json_string(c->ts));
	act_journal(a, "dump_created", ev);
}

/* pg_dump into the store, then the manifest and the check of the object.
 * ACT_OK or ACT_FAIL. */
static int create_run(struct create *c)
{
	struct act *a = c->a;
	int64_t compress;
	if (create_begin(c, &compress) != 0)
		return ACT_FAIL;
	c->t0 = mono_us();
	c->started = now_us();
	if (create_spawn(c, compress) != 0)
		return ACT_FAIL;
	act_log(a, "pg_dump of %s (snapshot %s%s) -> %s '%s'", pg_where(c->db), c->ts,
		c->snap_rc == 0 ? ", exported" : ", pg_dump's own", store_where(c->st), c->key);
	if (create_pump(c) != 0)
		return ACT_FAIL;
	/* the version came from the archive's header; ask the tool otherwise */
	if (!c->pgdump_ver[0])
		snprintf(c->pgdump_ver, sizeof(c->pgdump_ver), "%s", c->tool_ver ? c->tool_ver : "unknown");
	c->t1 = mono_us();
	int parts = store_writer_parts(c->w);
	store_writer_free(c->w);
	c->w = NULL; /* committed: never aborted from here on */
	PQclear(PQexec(c->sn.conn, "COMMIT"));
	if (create_manifest(c) != 0 || create_confirm(c) != 0)
		return ACT_FAIL;
	create_report(c, parts);
	return ACT_OK;
}

static int do_create(struct act *a)
{
	struct sigpipe_guard g;
	sigpipe_ignore(&g);
	struct create c;
	memset(&c, 0, sizeof(c));
	c.a = a;
	c.lc = stepctx(a);
	c.errfd = c.pfd[0] = c.pfd[1] = -1;
	c.pid = -1;
	act_unchanged(a); /* until the store is written to */
	int ret = create_run(&c);
	create_release(&c);
	sigpipe_restore(&g);
	return ret;
}

/* ====================================================================== */
/* dump.restore                                                           */
/* ====================================================================== */

struct restore {
	struct act *a;
	struct libctx lc;     /* the store's context */
	struct store *st;
	const char *key;
	struct resource *target;
	char *dbname;         /* the database restored into */
	char *ci, *pwenv;     /* conninfo for the children (no password), PGPASSWORD=... */
	int jobs, allow_errors, clean, no_owner, single_tx;
	json_t *manifest;
	uint64_t size;        /* the object's size */
	const char *workdir;
	struct dstream ds;
	int sink_failed;
	/* the consumer */
	const char *tool;     /* pg_restore or psql */
	const char *pg_restore, *psql; /* their paths (dump_pg_tool_for) */
	pid_t pid;
	int errfd, nullfd;
	struct cpipe cp;
	int stage_fd;         /* jobs > 1: the local copy */
	char *stage_path;
	uint64_t staged;
	int stage_err;
	int64_t t0, t_read, t_end;
	struct prog prog;
	int64_t taken_at;     /* the dump's time (manifest, key, LastModified), 0 unknown */
	int maybe_custom;     /* not known to be plain SQL */
	struct store_xfer xfer;
	char sha[65];         /* of what was read */
	const char *msha;     /* the manifest's, or NULL */
	int exited, status, cancelled; /* how the tool ended */
};

static char *opt_arg(const char *fmt, const char *v)
{
	return xasprintf(fmt, v);
}

/* Starts the restoring tool: from stdin (file == NULL) or a staged file. */
static int restore_spawn(struct restore *r, enum dump_fmt fmt, const char *file)
{
	struct act *a = r->a;
	act_changing(a); /* the tool writes into the target from here on */
	char *argv[20];
	char *owned[4] = { NULL, NULL, NULL, NULL };
	int k = 0;
	if (fmt == DUMP_CUSTOM) {
		r->tool = "pg_restore";
		argv[k++] = (char *)r->pg_restore;
		argv[k++] = owned[0] = opt_arg("--dbname=%s", r->ci);
		argv[k++] = "--no-password";
		/* clean: the DROP phase may fail harmlessly (see clean_errors) */
		if (!r->allow_errors && !r->clean)
			argv[k++] = "--exit-on-error";
		if (r->no_owner) {
			argv[k++] = "--no-owner";
			argv[k++] = "--no-privileges";
		}
		if (r->clean) {
			argv[k++] = "--clean";
			argv[k++] = "--if-exists";
		}
		if (r->single_tx)
			argv[k++] = "--single-transaction";
		if (file) {
			char n[32];
			snprintf(n, sizeof(n), "%d", r->jobs);
			argv[k++] = owned[1] = opt_arg("--jobs=%s", n);
			argv[k++] = (char *)file;
		}
	} else {
		r->tool = "psql";
		argv[k++] = (char *)r->psql;
		argv[k++] = "--no-psqlrc";
		argv[k++] = "--quiet";
		argv[k++] = "--no-password";
		argv[k++] = "--set";
		argv[k++] = r->allow_errors ? "ON_ERROR_STOP=0" : "ON_ERROR_STOP=1";
		if (r->single_tx)
			argv[k++] = "--single-transaction";
		argv[k++] = owned[0] = opt_arg("--dbname=%s", r->ci);
		argv[k++] = "--file";
		argv[k++] = (char *)(file ? file : "-");
	}
	argv[k] = NULL;
	int pin[2] = { -1, -1 };
	if (!file && make_pipe(a, pin, 1) != 0)
		goto fail;
	char *envv[] = { r->pwenv, NULL };
	struct spawn_opts o;
	memset(&o, 0, sizeof(o));
	o.env_extra = r->pwenv ? envv : NULL;
	o.stdin_fd = file ? -1 : pin[0];
	o.stdout_fd = r->nullfd;
	o.stderr_fd = r->errfd;
	r->pid = act_spawn(a, argv, &o);
	if (pin[0] >= 0)
		close(pin[0]);
	if (r->pid < 0) {
		if (pin[1] >= 0)
			close(pin[1]);
		goto fail;
	}
	if (!file) {
		r->cp.a = a;
		r->cp.fd = pin[1];
		r->ds.out = cpipe_write;
		r->ds.out_ud = &r->cp;
	}
	for (int i = 0; i < 4; i++)
		free(owned[i]);
	return 0;
fail:
	for (int i = 0; i < 4; i++)
		free(owned[i]);
	return -1;
}

static int stage_write(void *ud, const void *p, size_t n)
{
	struct restore *r = ud;
	if (write_all(r->stage_fd, p, n) != 0) {
		r->stage_err = errno;
		return -1;
	}
	r->staged += n;
	return 0;
}

/* The format is known: start the consumer. */
static int restore_on_format(void *ud, struct dstream *d)
{
	struct restore *r = ud;
	struct act *a = r->a;
	if (d->fmt == DUMP_PLAIN && r->clean) {
		act_fail(a, "'%s' is a plain SQL dump: clean: true needs a custom-format dump; restore it into an empty database (into: new)",
			 r->key);
		return -1;
	}
	if (d->fmt == DUMP_PLAIN && r->no_owner)
		act_log(a, "warning: no_owner has no effect on a plain SQL dump (its ownership statements run as written)");
	if (d->fmt == DUMP_CUSTOM && r->jobs > 1) {
		r->stage_path = xasprintf("%s/drplay-restore-XXXXXX", r->workdir);
		r->stage_fd = mkostemp(r->stage_path, O_CLOEXEC);
		if (r->stage_fd < 0) {
			act_fail(a, "cannot create the local copy for the parallel restore in workdir '%s': %s", r->workdir,
				 strerror(errno));
			free(r->stage_path);
			r->stage_path = NULL;
			return -1;
		}
		d->out = stage_write;
		d->out_ud = r;
		return 0;
	}
	if (r->jobs > 1)
		act_log(a, "jobs: %d has no effect on a plain SQL dump: one psql session restores it", r->jobs);
	return restore_spawn(r, d->fmt, NULL);
}

static int restore_sink(void *ud, const void *p, size_t n)
{
	struct restore *r = ud;
	if (dstream_feed(&r->ds, p, n) != 0) {
		r->sink_failed = 1;
		return -1;
	}
	if (r->stage_fd >= 0 && strcmp(r->prog.phase, "download") != 0)
		prog_start(r->a, &r->prog, "download", r->size);
	else if (r->stage_fd < 0 && strcmp(r->prog.phase, "restore") != 0)
		prog_start(r->a, &r->prog, "restore", r->size);
	prog_tick(r->a, &r->prog, r->ds.raw, r->size);
	return 0;
}

/* Ends the consumer: on failure it is killed before its stdin closes (a
 * psql that saw EOF would take a half-read dump as complete). */
static void restore_end_child(struct restore *r, int failed, int *exited, int *status, int *cancelled)
{
	*exited = 1;
	*status = 0;
	*cancelled = 0;
	if (r->pid <= 0) {
		if (r->cp.fd > 0)
			close(r->cp.fd);
		r->cp.fd = -1;
		return;
	}
	if (failed)
		kill(-r->pid, SIGTERM);
	if (r->cp.fd > 0)
		close(r->cp.fd);
	r->cp.fd = -1;
	act_wait(r->a, r->pid, exited, status, cancelled);
	r->pid = -1;
}

static void restore_release(struct restore *r)
{
	int ex, st, cc;
	if (r->pid > 0)
		restore_end_child(r, 1, &ex, &st, &cc);
	if (r->cp.fd > 0)
		close(r->cp.fd);
	if (r->stage_fd >= 0)
		close(r->stage_fd);
	if (r->stage_path) {
		unlink(r->stage_path);
		free(r->stage_path);
	}
	if (r->errfd >= 0)
		close(r->errfd);
	if (r->nullfd >= 0)
		close(r->nullfd);
	dstream_release(&r->ds);
	json_decref(r->manifest);
	free(r->dbname);
	free(r->ci);
	if (r->pwenv)
		free_secret(r->pwenv);
}

/* The clauses of CREATE DATABASE that give the new database the dumped
 * one's encoding and locale (a manifest's "locale"), so that the copy sorts
 * and compares text as the original did: what pg_restore --create does.
 * "" without a manifest. New string. */
static char *locale_clauses(PGconn *c, json_t *loc)
{
	struct strbuf sb = STRBUF_INIT;
	static const char *const keys[][2] = { { "encoding", "ENCODING" }, { "lc_collate", "LC_COLLATE" },
					       { "lc_ctype", "LC_CTYPE" } };
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		const char *v = json_string_value(json_object_get(loc, keys[i][0]));
		if (v && *v) {
			char *l = pg_literal(c, v);
			sb_addf(&sb, " %s %s", keys[i][1], l);
			free(l);
		}
	}
	const char *prov = json_string_value(json_object_get(loc, "locale_provider"));
	const char *icu = json_string_value(json_object_get(loc, "locale"));
	if (prov && !strcmp(prov, "i") && icu && *icu) {
		char *l = pg_literal(c, icu);
		sb_addf(&sb, " LOCALE_PROVIDER icu ICU_LOCALE %s", l);
		free(l);
		const char *rules = json_string_value(json_object_get(loc, "icu_rules"));
		if (rules && *rules) {
			l = pg_literal(c, rules);
			sb_addf(&sb, " ICU_RULES %s", l);
			free(l);
		}
	}
	return sb_detach(&sb);
}

static int create_database(struct act *a, struct resource *t, const char *name, json_t *locale)
{
	PGconn *c = pg_connect(a, t);
	if (!c)
		return -1;
	PGresult *res = pg_execp(a, c, "checking the name of the new database",
				 "SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1", 1,
				 (const char *const[]){ name });
	if (!res)
		return -1;
	int exists = PQntuples(res) > 0;
	PQclear(res);
	if (exists) {
		act_fail(a, "database '%s' already exists on %s; into: new creates a fresh one: give another database name (or leave it out)",
			 name, pg_where(t));
		return -1;
	}
	char *id = pg_ident(c, name);
	char *lc = locale_clauses(c, locale);
	char *sql = xasprintf("CREATE DATABASE %s TEMPLATE template0%s", id, lc);
	free(id);
	free(lc);
	char what[200];
	snprintf(what, sizeof(what), "creating database '%s'", name);
	res = pg_exec(a, c, what, sql);
	free(sql);
	if (!res) {
		if (PQstatus(c) != CONNECTION_OK)
			act_changing(a); /* the connection broke: it may exist */
		return -1;
	}
	PQclear(res);
	act_changing(a);
	act_created(a, "database", name);
	return 0;
}

/* pg_restore --clean --if-exists drops every object before recreating it,
 * in reverse order; PostgreSQL refuses some of those drops although the
 * later drop of a parent removes the object anyway ("cannot drop inherited
 * constraint" of a partition). So a clean restore runs without
 * --exit-on-error, and afterwards only errors whose command is one of the
 * clean phase's DROP ... IF EXISTS statements are tolerated. Counts both
 * kinds; *first_other gets the first other error (caller frees). */
static void clean_errors(int fd, int *tolerated, int *other, char **first_other)
{
	*tolerated = *other = 0;
	*first_other = NULL;
	char *t = file_tail(fd, 4u << 20);
	for (char *l = t; *l;) {
		char *nl = strchr(l, '\n');
		size_t n = nl ? (size_t)(nl - l) : strlen(l);
		if (memmem(l, n, "error:", 6) && !memmem(l, n, "errors ignored on restore", 25)) {
			const char *cmd = command_of(nl);
			const char *ce = cmd ? strchr(cmd, '\n') : NULL;
			size_t cl = cmd ? (ce ? (size_t)(ce - cmd) : strlen(cmd)) : 0;
			if (cmd && memmem(cmd, cl, "DROP ", 5) && memmem(cmd, cl, "IF EXISTS", 9)) {
				(*tolerated)++;
			} else {
				(*other)++;
				if (!*first_other)
					*first_other = xasprintf("%.*s%s%.*s%s", (int)n, l, cl ? " (" : "",
								 (int)(cl > 160 ? 160 : cl), cmd ? cmd : "", cl ? ")" : "");
			}
		}
		if (!nl)
			break;
		l = nl + 1;
	}
	free(t);
}

/* Fails the step with the consumer's exit and its first error line. */
static int tool_failed(struct restore *r, int exited, int status)
{
	char *why = tool_error(r->errfd);
	act_fail(r->a, "%s %s %d while restoring '%s' into database '%s' on %s: %s%s", r->tool,
		 exited ? "exited with status" : "was killed by signal", status, r->key, r->dbname,
		 pg_where(r->target), why,
		 r->allow_errors ? "" : " (restores stop at the first error; allow_errors: true goes on)");
	free(why);
	return ACT_FAIL;
}

/* The step's arguments and what they name. 0, or -1 after act_fail. */
static int restore_args(struct restore *r, int *into_new)
{
	struct act *a = r->a;
	r->st = store_open(a, act_resource(a, "store"));
	if (!r->st)
		return -1;
	r->key = act_str(a, "key");
	if (store_key_ok(&r->lc, r->st, r->key) != 0)
		return stepctx_fail(a, &r->lc), -1;
	r->target = act_resource(a, "target");
	if (!r->target)
		return -1;
	const char *into = act_str(a, "into");
	*into_new = into && !strcmp(into, "new");
	r->jobs = (int)act_int(a, "jobs", 1);
	r->allow_errors = act_bool(a, "allow_errors", 0);
	r->clean = act_bool(a, "clean", 0);
	r->no_owner = act_bool(a, "no_owner", 0);
	r->single_tx = act_bool(a, "single_transaction", 0);
	if (r->jobs < 1 || r->jobs > 64)
		return act_fail(a, "jobs is %d; give 1 to 64", r->jobs), -1;
	if (r->single_tx && r->jobs > 1)
		return act_fail(a, "single_transaction cannot be combined with jobs: %d (pg_restore runs parallel jobs in separate transactions); pick one",
				r->jobs), -1;
	if (*into_new && r->clean)
		act_log(a, "clean has no effect with into: new (the database is fresh)");
	r->workdir = act_str(a, "workdir");
	if (!r->workdir || !*r->workdir)
		r->workdir = act_tmpdir(a);
	if (!r->workdir)
		return act_fail(a, "cannot create the run's scratch directory: %s", strerror(errno)), -1;
	return 0;
}

/* jobs > 1 with what may be a custom archive: the local copy must fit in
 * workdir. 0, or -1 after act_fail. */
static int restore_space(struct restore *r)
{
	struct act *a = r->a;
	struct stat wst;
	if (stat(r->workdir, &wst) != 0 || !S_ISDIR(wst.st_mode))
		return act_fail(a, "workdir '%s' is not a directory: %s", r->workdir,
				errno ? strerror(errno) : "not a directory"), -1;
	struct statvfs vf;
	if (statvfs(r->workdir, &vf) != 0)
		return act_fail(a, "cannot read the free space of workdir '%s': %s", r->workdir, strerror(errno)), -1;
	uint64_t avail = (uint64_t)vf.f_bavail * (uint64_t)vf.f_frsize;
	uint64_t need = r->size + (1u << 20);
	if (avail >= need)
		return 0;
	char h1[32], h2[32];
	return act_fail(a, "workdir '%s' has %s free, but restoring '%s' with jobs: %d needs %s there for a local copy of the dump%s; give a larger workdir, or jobs: 1 (streams without a local copy)",
			r->workdir, human_size(avail, h1, sizeof(h1)), r->key, r->jobs, human_size(need, h2, sizeof(h2)),
			ends_with(r->key, ".gz") ? " (at least)" : ""), -1;
}

/* Everything that can be checked before anything changes: the object, its
 * manifest, its time, and room for a local copy. 0, or -1 after act_fail. */
static int restore_precheck(struct restore *r)
{
	struct act *a = r->a;
	struct store_obj ob;
	int sr = store_stat(&r->lc, r->st, r->key, &ob);
	if (sr < 0)
		return stepctx_fail(a, &r->lc), -1;
	if (sr == 1)
		return act_fail(a, "no dump '%s' in store '%s' (%s); check the key (offsite.list shows what is there)",
				r->key, store_name(r->st), store_where(r->st)), -1;
	r->size = ob.size;
	if (dump_read_manifest(a, r->st, r->key, &r->manifest) < 0)
		return -1;
	const char *snap = r->manifest ? json_string_value(json_object_get(r->manifest, "snapshot_time")) : NULL;
	int64_t tk;
	if (snap && parse_timestamp(snap, &tk) == 0)
		r->taken_at = tk;
	else if (dump_key_time(r->key, &tk) == 0)
		r->taken_at = tk;
	else
		r->taken_at = ob.mtime;
	if (r->manifest && (uint64_t)json_integer_value(json_object_get(r->manifest, "size")) != r->size)
		return act_fail(a, "dump '%s' in store '%s' has %llu bytes but its manifest says %lld: the object is truncated or altered, or the manifest is wrong; nothing was restored",
				r->key, store_name(r->st), (unsigned long long)r->size,
				(long long)json_integer_value(json_object_get(r->manifest, "size"))), -1;
	const char *mfmt = r->manifest ? json_string_value(json_object_get(r->manifest, "format")) : NULL;
	r->maybe_custom = !(mfmt && !strcmp(mfmt, "plain")) && !ends_with(r->key, ".sql") && !ends_with(r->key, ".sql.gz");
	if (r->jobs > 1 && r->maybe_custom)
		return restore_space(r);
	return 0;
}

/* The database to restore into (a new one, created here, with into: new),
 * the outputs that name it, and the connection settings of the tool. 0, or
 * -1 after act_fail. */
static int restore_target(struct restore *r, int into_new)
{
	struct act *a = r->a;
	const char *want = act_str(a, "database");
	if (into_new) {
		if (want && *want) {
			r->dbname = xstrdup(want);
		} else {
			char ts[40], rnd[9];
			fmt_timestamp_compact(now_us(), ts, sizeof(ts));
			for (char *p = ts; *p; p++)
				*p = (char)tolower((unsigned char)*p);
			random_hex(rnd, 3);
			r->dbname = xasprintf("%.30s_restore_%s_%s", pg_dbname(r->target), ts, rnd);
		}
		if (strlen(r->dbname) > 63)
			return act_fail(a, "database name '%s' is longer than 63 bytes", r->dbname), -1;
		if (create_database(a, r->target, r->dbname, json_object_get(r->manifest, "locale")) != 0)
			return -1;
	} else {
		r->dbname = xstrdup(want && *want ? want : pg_dbname(r->target));
	}
	char *dsn = conninfo_for(a, r->target, r->dbname);
	if (!dsn)
		return -1;
	act_out_str(a, "database", r->dbname);
	act_out_str(a, "dsn", dsn);
	act_out_str(a, "key", r->key);
	if (r->taken_at)
		act_out_time(a, "taken_at", r->taken_at);
	else
		act_out(a, "taken_at", json_null());
	free_secret(dsn);
	if (pg_child_conninfo(a, r->target, r->dbname, &r->ci, &r->pwenv) != 0)
		return -1;
	r->errfd = scratch_file(a);
	if (r->errfd < 0)
		return -1;
	r->nullfd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	return 0;
}

/* One pass over the object: hash, gunzip, sniff, consume; then whether
 * what came is the dump the store and its manifest describe. 0, or -1
 * after act_fail. */
static int restore_stream(struct restore *r)
{
	struct act *a = r->a;
	r->ds.on_format = restore_on_format;
	r->ds.fmt_ud = r;
	r->t0 = mono_us();
	prog_start(a, &r->prog, r->jobs > 1 && r->maybe_custom ? "download" : "restore", r->size);
	int rd = store_read(&r->lc, r->st, r->key, 0, 0, restore_sink, r, &r->xfer);
	if (rd == 0)
		prog_end(a, &r->prog, r->ds.raw);
	int bad = 0;
	if (rd == 0)
		bad = dstream_finish(&r->ds, r->sha) != 0;
	else
		dstream_finish(&r->ds, r->sha);
	r->t_read = mono_us();
	int consumer_broke = r->cp.broken;
	r->exited = 1;
	int read_failed = rd != 0 || bad;
	/* integrity against the manifest */
	r->msha = r->manifest ? json_string_value(json_object_get(r->manifest, "sha256")) : NULL;
	int sha_bad = !read_failed && r->msha && strcasecmp(r->msha, r->sha) != 0;
	int size_bad = !read_failed && r->ds.raw != r->size;
	if (r->stage_fd < 0)
		restore_end_child(r, read_failed || sha_bad || size_bad, &r->exited, &r->status, &r->cancelled);
	if (rd == 1)
		return act_fail(a, "dump '%s' disappeared from store '%s' while it was being read", r->key,
				store_name(r->st)), -1;
	if (r->ds.failed)
		return act_fail(a, "dump '%s' in store '%s' is not usable: %s%s", r->key, store_name(r->st), r->ds.err,
				r->pid < 0 && r->tool ? "; the restore was stopped" : ""), -1;
	if (r->stage_err)
		return act_fail(a, "cannot write the local copy of '%s' in workdir '%s' after %llu bytes: %s%s", r->key,
				r->workdir, (unsigned long long)r->staged, strerror(r->stage_err),
				r->stage_err == ENOSPC ? "; the workdir is full: give a larger one, or jobs: 1" : ""), -1;
	if (rd != 0 && (consumer_broke || (r->tool && (!r->exited || r->status != 0))))
		return tool_failed(r, r->exited, r->status), -1;
	if (rd != 0 && r->cancelled)
		return act_fail(a, "the restore of '%s' was cancelled", r->key), -1;
	if (rd != 0)
		return stepctx_fail(a, &r->lc), -1; /* the store said why (or the sink did) */
	if (size_bad)
		return act_fail(a, "dump '%s' in store '%s' delivered %llu bytes but the store said it has %llu: the object is truncated or changed; the restore was stopped",
				r->key, store_name(r->st), (unsigned long long)r->ds.raw, (unsigned long long)r->size), -1;
	if (sha_bad)
		return act_fail(a, "dump '%s' in store '%s' does not match its manifest: SHA-256 %s, the manifest says %s; the object is corrupt, so the restore was stopped and database '%s' is not trustworthy",
				r->key, store_name(r->st), r->sha, r->msha, r->dbname), -1;
	if (r->cancelled)
		return act_fail(a, "the restore of '%s' was cancelled", r->key), -1;
	return 0;
}

/* jobs > 1: the verified local copy goes to pg_restore --jobs. 0, or -1. */
static int restore_staged(struct restore *r)
{
	struct act *a = r->a;
	close(r->stage_fd);
	r->stage_fd = -1;
	char h2[32];
	act_log(a, "downloaded and verified %s in %.1fs; pg_restore --jobs=%d", human_size(r->staged, h2, sizeof(h2)),
		(double)(r->t_read - r->t0) / 1e6, r->jobs);
	if (restore_spawn(r, DUMP_CUSTOM, r->stage_path) != 0)
		return -1;
	restore_end_child(r, 0, &r->exited, &r->status, &r->cancelled);
	if (r->cancelled)
		return act_fail(a, "the restore of '%s' was cancelled", r->key), -1;
	return 0;
}

/* How the tool ended: success, errors allowed (allow_errors), or the
 * harmless errors of --clean's drops. *errors: those passed over. 0, or -1
 * after act_fail. */
static int restore_verdict(struct restore *r, int *errors)
{
	struct act *a = r->a;
	int tolerated = 0;
	if (!r->exited || r->status != 0) {
		/* pg_restore without --exit-on-error exits 1 after ignoring errors */
		char *t = file_tail(r->errfd, 4096);
		int ignored = r->exited && r->status == 1 && strstr(t, "errors ignored on restore");
		free(t);
		if (ignored && r->clean && !r->allow_errors && !strcmp(r->tool, "pg_restore")) {
			int other;
			char *first = NULL;
			clean_errors(r->errfd, &tolerated, &other, &first);
			if (other) {
				log_tool_lines(a, r->errfd, r->tool, 20);
				act_fail(a, "pg_restore failed while restoring '%s' into database '%s' on %s: %s (%d error%s besides the clean phase's; the restore went on to its end: the database is not a faithful copy)",
					 r->key, r->dbname, pg_where(r->target), first, other, other == 1 ? "" : "s");
				free(first);
				return -1;
			}
		} else if (!(ignored && r->allow_errors)) {
			log_tool_lines(a, r->errfd, r->tool, 20);
			return tool_failed(r, r->exited, r->status), -1;
		}
	}
	*errors = log_tool_lines(a, r->errfd, r->tool, tolerated ? 0 : 20);
	if (tolerated) {
		act_log(a, "pg_restore --clean: %d of its DROP ... IF EXISTS statements failed harmlessly (objects the drop of their parent removes, such as partitions' inherited constraints) and were passed over",
			tolerated);
		*errors = 0;
	}
	if (*errors && !r->allow_errors) /* psql with ON_ERROR_STOP exits 3; reaching here means only notices */
		*errors = 0;
	return 0;
}

/* The log lines, the outputs and the journal's dump_restored. */
static void restore_report(struct restore *r, int errors)
{
	struct act *a = r->a;
	double secs = (double)(r->t_end - r->t0) / 1e6;
	double rate = secs > 0 ? (double)r->ds.raw / secs : 0;
	char h3[32], h4[32];
	act_log(a, "restored %s (%s dump%s) into '%s' in %.1fs (%s/s)%s", human_size(r->ds.raw, h3, sizeof(h3)),
		dump_fmt_name(r->ds.fmt), r->ds.gzip ? ", gzip" : "", r->dbname, secs,
		human_size((uint64_t)rate, h4, sizeof(h4)), r->msha ? "; SHA-256 matches the manifest" : "");
	if (errors)
		act_log(a, "warning: %d errors were ignored (allow_errors: true)", errors);
	act_out_str(a, "format", dump_fmt_name(r->ds.fmt));
	act_out_str(a, "compression", r->ds.gzip ? "gzip" : "none");
	act_out_int(a, "size", (int64_t)r->ds.raw);
	act_out_str(a, "sha256", r->sha);
	act_out_bool(a, "verified", r->msha != NULL);
	act_out_int(a, "jobs", r->stage_path ? r->jobs : 1);
	act_out_int(a, "errors_ignored", errors);
	act_out(a, "bytes_per_second", json_real(rate));
	act_out(a, "download_seconds", json_real(r->stage_path ? (double)(r->t_read - r->t0) / 1e6 : 0.0));
	json_t *ev = json_object();
	json_object_set_new(ev, "key", json_string(r->key));
	json_object_set_new(ev, "store", json_string(store_name(r->st)));
	json_object_set_new(ev, "database", json_string(r->dbname));
	json_object_set_new(ev, "format", json_string(dump_fmt_name(r->ds.fmt)));
	json_object_set_new(ev, "bytes", json_integer((json_int_t)r->ds.raw));
	json_object_set_new(ev, "seconds", json_real(secs));
	json_object_set_new(ev, "rate_bytes_per_s", json_real(rate));
	json_object_set_new(ev, "download_s", json_real((double)(r->t_read - r->t0) / 1e6));
	json_object_set_new(ev, "jobs", json_integer(r->stage_path ? r->jobs : 1));
	json_object_set_new(ev, "resumes", json_integer(r->xfer.resumes));
	json_object_set_new(ev, "errors_ignored", json_integer(errors));
	json_object_set_new(ev, "verified", json_boolean(r->msha != NULL));
	act_journal(a, "dump_restored", ev);
}

static int restore_run(struct restore *r)
{
	struct act *a = r->a;
	act_unchanged(a); /* until a database is created or pg_restore starts */
	int into_new = 0;
	if (restore_args(r, &into_new) != 0 || restore_precheck(r) != 0)
		return ACT_FAIL;
	/* the client tools, new enough for the target's server, before it changes */
	r->pg_restore = dump_pg_tool_for(a, r->target, "pg_restore", NULL);
	r->psql = r->pg_restore ? dump_pg_tool_for(a, r->target, "psql", NULL) : NULL;
	if (!r->psql || restore_target(r, into_new) != 0)
		return ACT_FAIL;
	char hs[32];
	act_log(a, "restoring '%s' (%s) from %s into database '%s' on %s%s", r->key, human_size(r->size, hs, sizeof(hs)),
		store_where(r->st), r->dbname, pg_where(r->target), r->jobs > 1 ? " (parallel)" : "");
	if (restore_stream(r) != 0)
		return ACT_FAIL;
	if (r->stage_fd >= 0 && restore_staged(r) != 0)
		return ACT_FAIL;
	r->t_end = mono_us();
	int errors = 0;
	if (restore_verdict(r, &errors) != 0)
		return ACT_FAIL;
	restore_report(r, errors);
	return ACT_OK;
}

static int do_restore(struct act *a)
{
	struct sigpipe_guard g;
	sigpipe_ignore(&g);
	struct restore r;
	memset(&r, 0, sizeof(r));
	r.a = a;
	r.lc = stepctx(a);
	r.pid = -1;
	r.errfd = r.nullfd = r.stage_fd = -1;
	r.cp.fd = -1;
	dstream_init(&r.ds);
	int ret = restore_run(&r);
	restore_release(&r);
	libctx_release(&r.lc);
	sigpipe_restore(&g);
	return ret;
}

/* into: new only creates; anything else overwrites the target database. */
static unsigned restore_flags(const struct argq *q)
{
	int absent = 0;
	const char *into = argq_str(q, "into", &absent);
	if (into && !strcmp(into, "new"))
		return A_STATE;
	return A_STATE | A_DESTRUCT;
}

/* ---- declarations ---- */

static const struct param_spec create_params[] = {
	{ .name = "compress", .type = T_INT, .doc = "pg_dump's compression level, 0-9 (default: pg_dump's)" },
	{ .name = "database", .type = T_RESOURCE, .flags = P_REQUIRED, .kind = "postgres",
	  .doc = "the database to dump" },
	{ .name = "name", .type = T_STRING,
	  .doc = "the first part of the key, before the timestamp (default: the database name)" },
	{ .name = "store", .type = T_RESOURCE, .flags = P_REQUIRED | P_TARGET, .kind = STORE_KINDS,
	  .doc = "where the dump goes (s3 or dir)" },
	{ .name = NULL },
};
static const struct output_spec create_outputs[] = {
	{ .name = "key", .type = T_STRING,
	  .doc = "the dump's key: PREFIX + NAME-YYYYMMDDTHHMMSSZ.dump (the snapshot time, UTC)" },
	{ .name = "manifest", .type = T_STRING, .doc = "the manifest's key (KEY.manifest.json)" },
	{ .name = "size", .type = T_INT, .doc = "bytes stored" },
	{ .name = "sha256", .type = T_STRING, .doc = "SHA-256 of the stored bytes" },
	{ .name = "taken_at", .type = T_TIMESTAMP,
	  .doc = "the time of the dump's snapshot: what RPO is measured from" },
	{ .name = "format", .type = T_STRING, .doc = "custom" },
	{ .name = "database", .type = T_STRING, .doc = "the database dumped" },
	{ .name = "server_version", .type = T_STRING, .doc = "the server's version" },
	{ .name = "pg_dump_version", .type = T_STRING, .doc = "pg_dump's version" },
	{ .name = "store", .type = T_STRING, .doc = "where: s3://bucket/prefix or the directory" },
	{ .name = "parts", .type = T_INT, .doc = "multipart upload parts (0: a single PUT or a file)" },
	{ .name = NULL },
};
static const struct action_def dump_create_def = {
	.name = "dump.create",
	.run = do_create,
	.flags = A_STATE,
	.cat = CAT_OTHER,
	.params = create_params,
	.outputs = create_outputs,
	.doc = "Streams `pg_dump -Fc` of a database straight into a store (no local copy; memory stays at two upload parts), under a sortable timestamped key, and writes KEY.manifest.json beside it (sha256, size, format, versions, database, snapshot time). The snapshot is exported from a REPEATABLE READ transaction, so its time is exact. Nothing appears under the key unless pg_dump succeeded; a failed multipart upload is aborted.",
};

static const char *const into_values[] = { "existing", "new", NULL };
static const struct param_spec restore_params[] = {
	{ .name = "allow_errors", .type = T_BOOL, .def = "false",
	  .doc = "go on after SQL errors (default: stop at the first, pg_restore --exit-on-error / psql ON_ERROR_STOP)" },
	{ .name = "clean", .type = T_BOOL, .def = "false",
	  .doc = "drop the dump's objects before recreating them (pg_restore --clean --if-exists; custom format; failed drops of that phase are passed over, any other error fails)" },
	{ .name = "database", .type = T_STRING,
	  .doc = "the database to restore into (default: the target's; with into: new, a generated NAME_restore_TIME_RANDOM)" },
	{ .name = "into", .type = T_STRING, .def = "existing", .allowed = into_values,
	  .doc = "existing: the target's database (destructive); new: a fresh database created on the target's server" },
	{ .name = "jobs", .type = T_INT, .def = "1",
	  .doc = "parallel pg_restore jobs; above 1 a custom dump is first copied to workdir (its free space is checked first)" },
	{ .name = "key", .type = T_STRING, .flags = P_REQUIRED, .doc = "the dump's key, e.g. ${steps.latest.key}" },
	{ .name = "no_owner", .type = T_BOOL, .def = "false",
	  .doc = "skip ownership and privileges (pg_restore --no-owner --no-privileges; custom format)" },
	{ .name = "single_transaction", .type = T_BOOL, .def = "false",
	  .doc = "restore in one transaction: all or nothing (not with jobs > 1)" },
	{ .name = "store", .type = T_RESOURCE, .flags = P_REQUIRED, .kind = STORE_KINDS,
	  .doc = "the store holding the dump (s3 or dir)" },
	{ .name = "target", .type = T_RESOURCE, .flags = P_REQUIRED | P_TARGET, .kind = "postgres",
	  .doc = "the server (and database) to restore into" },
	{ .name = "workdir", .type = T_STRING,
	  .doc = "where jobs > 1 stages the local copy (default: the run's scratch directory)" },
	{ .name = NULL },
};
static const struct output_spec restore_outputs[] = {
	{ .name = "database", .type = T_STRING,
	  .doc = "the database restored into (set as soon as it is known, also on failure)" },
	{ .name = "dsn", .type = T_STRING,
	  .doc = "a connection string for it (for a later resource: dsn: ${steps.ID.dsn})" },
	{ .name = "key", .type = T_STRING, .doc = "the dump's key" },
	{ .name = "taken_at", .type = T_TIMESTAMP,
	  .doc = "the moment the restored data reflects: the manifest's snapshot time, else the key's timestamp, else LastModified (report.write measures RPO from it)" },
	{ .name = "format", .type = T_STRING, .doc = "custom or plain" },
	{ .name = "compression", .type = T_STRING, .doc = "gzip or none (outside the dump's own)" },
	{ .name = "size", .type = T_INT, .doc = "bytes read from the store" },
	{ .name = "sha256", .type = T_STRING, .doc = "SHA-256 of those bytes" },
	{ .name = "verified", .type = T_BOOL, .doc = "whether they were checked against a manifest" },
	{ .name = "jobs", .type = T_INT, .doc = "parallel jobs used" },
	{ .name = "errors_ignored", .type = T_INT, .doc = "SQL errors passed over (allow_errors)" },
	{ .name = "bytes_per_second", .type = T_NUMBER, .doc = "the dump's bytes over the whole restore time" },
	{ .name = "download_seconds", .type = T_NUMBER, .role = OUT_PHASE_DOWNLOAD,
	  .doc = "with jobs > 1, the time spent downloading the dump to local storage before pg_restore; 0 when streamed (download and restore overlap)" },
	{ .name = NULL },
};
static const struct action_def dump_restore_def = {
	.name = "dump.restore",
	.run = do_restore,
	.flags = A_STATE | A_DESTRUCT,
	.cat = CAT_RESTORE,
	.params = restore_params,
	.outputs = restore_outputs,
	.doc = "Restores a dump from a store into PostgreSQL: streams the object (hashed, gunzipped when needed) into pg_restore (custom format) or psql (plain SQL), stopping at the first error unless allow_errors. jobs: N restores a custom dump in parallel from a local copy (free space checked before the download). into: new creates a fresh database (recorded as created by this run) and outputs its name and DSN. Destructive unless into: new.",
	.flags_for = restore_flags,
};

static const struct action_def *const dump_actions[] = { &dump_create_def, &dump_restore_def, NULL };

const struct family dump_family = {
	.name = "dump",
	.actions = dump_actions,
};
