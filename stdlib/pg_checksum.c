/*
 * pg_checksum.c: reading tables fast and consistently for the pg family.
 *
 * A `pgsnap` is one REPEATABLE READ READ ONLY transaction on the run's
 * connection whose snapshot is exported; the worker pool runs a list of
 * statements ("units": a count, a max(), or a COPY ... TO STDOUT of a block
 * range of a table) over that connection plus jobs-1 more that import the
 * snapshot, so everything one step reads describes one moment (the way
 * pg_dump -j works). Workers are threads with one PGconn each (libpq is
 * thread-safe per connection); only the main thread calls the action API:
 * it supervises, reports progress, and on interruption cancels every
 * worker's statement on the server (PQcancel is thread-safe), then shuts the
 * sockets down if a server does not answer.
 *
 * Content checksums (SPEC.md, 'Content checksums'): each COPY line is one row in canonical
 * text; its SHA-256 (OpenSSL EVP, one context reused per worker) is added
 * into a 256-bit sum, per key range, so the result does not depend on row
 * order and client memory does not grow with the table. The sum is written
 * here (four 64-bit limbs with carry) because it is a handful of lines and
 * no library offers modular 256-bit addition on raw digests.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "pg_int.h"

/* ---- 256-bit sums ---- */

void acc_add(struct acc *x, const struct acc *y)
{
	unsigned __int128 c = 0;
	for (int i = 0; i < 4; i++) {
		c += (unsigned __int128)x->s[i] + y->s[i];
		x->s[i] = (uint64_t)c;
		c >>= 64;
	}
	x->rows += y->rows;
}

void acc_sub(struct acc *x, const struct acc *y)
{
	uint64_t borrow = 0;
	for (int i = 0; i < 4; i++) {
		uint64_t a = x->s[i], b = y->s[i];
		uint64_t d = a - b - borrow;
		borrow = (a < b) || (a - b < borrow);
		x->s[i] = d;
	}
	x->rows -= y->rows;
}

void acc_add_digest(struct acc *x, const unsigned char d[32])
{
	/* d is big-endian: limb 0 (least significant) is bytes 24..31 */
	unsigned __int128 c = 0;
	for (int i = 0; i < 4; i++) {
		uint64_t v;
		memcpy(&v, d + 24 - 8 * i, 8);
		v = __builtin_bswap64(v);
		c += (unsigned __int128)x->s[i] + v;
		x->s[i] = (uint64_t)c;
		c >>= 64;
	}
	x->rows++;
}

int acc_eq(const struct acc *x, const struct acc *y)
{
	return x->rows == y->rows && !memcmp(x->s, y->s, sizeof(x->s));
}

static void acc_bytes(const struct acc *x, unsigned char out[32])
{
	for (int i = 0; i < 4; i++)
		for (int k = 0; k < 8; k++)
			out[24 - 8 * i + k] = (unsigned char)(x->s[i] >> (56 - 8 * k));
}

void acc_hex(const struct acc *x, char hex[65])
{
	unsigned char b[32];
	acc_bytes(x, b);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", b[i]);
}

int acc_parse(struct acc *x, const char *hex)
{
	if (!hex || strlen(hex) != 64)
		return -1;
	unsigned char b[32];
	for (int i = 0; i < 32; i++) {
		unsigned v = 0;
		for (int k = 0; k < 2; k++) {
			char ch = hex[2 * i + k];
			int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
			if (d < 0)
				return -1;
			v = v * 16 + (unsigned)d;
		}
		b[i] = (unsigned char)v;
	}
	memset(x->s, 0, sizeof(x->s));
	for (int i = 0; i < 4; i++)
		for (int k = 0; k < 8; k++)
			x->s[i] = (x->s[i] << 8) | b[24 - 8 * i + k];
	return 0;
}

void acc_digest(const struct acc *x, char hex[65])
{
	unsigned char buf[18 + 32 + 8];
	memcpy(buf, "drplay-checksum-v1", 18);
	acc_bytes(x, buf + 18);
	uint64_t r = (uint64_t)x->rows;
	for (int k = 0; k < 8; k++)
		buf[50 + k] = (unsigned char)(r >> (56 - 8 * k));
	sha256_hex(buf, sizeof(buf), hex);
}

/* ---- session settings and the snapshot ---- */

int pg_canonical_settings(struct act *a, PGconn *c, int local)
{
	/* row_security = off, as pg_dump sets it: a role that row-level
	 * security would filter gets an error instead of a silently partial
	 * count or checksum (superusers, BYPASSRLS roles and owners of tables
	 * without FORCE read everything either way) */
	const char *l = local ? "LOCAL " : "";
	char *sql = xasprintf("SET %sDateStyle = 'ISO, YMD'; SET %sIntervalStyle = 'postgres'; "
			      "SET %sTimeZone = 'UTC'; SET %sextra_float_digits = 1; SET %sbytea_output = 'hex'; "
			      "SET %slc_monetary = 'C'; SET %sclient_encoding = 'UTF8'; SET %srow_security = off",
			      l, l, l, l, l, l, l, l);
	PGresult *res = pg_exec(a, c, "setting the session's output format", sql);
	free(sql);
	if (!res)
		return -1;
	PQclear(res);
	return 0;
}

static int snap_info(struct act *a, struct pgsnap *s, int export)
{
	char *sql = xasprintf("SELECT %s, to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
			      "(extract(epoch FROM now()) * 1000000)::int8, current_setting('server_version'), "
			      "current_setting('server_version_num'), current_database(), "
			      "current_setting('block_size'), current_user",
			      export ? "pg_export_snapshot()" : "''");
	PGresult *res = pg_exec(a, s->c, "starting a consistent read", sql);
	free(sql);
	if (!res)
		return -1;
	snprintf(s->snapshot, sizeof(s->snapshot), "%s", PQgetvalue(res, 0, 0));
	snprintf(s->captured_at, sizeof(s->captured_at), "%s", PQgetvalue(res, 0, 1));
	parse_int64(PQgetvalue(res, 0, 2), &s->captured_us);
	snprintf(s->server_version, sizeof(s->server_version), "%s", PQgetvalue(res, 0, 3));
	int64_t v = 0;
	parse_int64(PQgetvalue(res, 0, 4), &v);
	s->server_num = (int)v;
	snprintf(s->database, sizeof(s->database), "%s", PQgetvalue(res, 0, 5));
	v = 8192;
	parse_int64(PQgetvalue(res, 0, 6), &v);
	s->block_size = v > 0 ? v : 8192;
	snprintf(s->user, sizeof(s->user), "%s", PQgetvalue(res, 0, 7));
	PQclear(res);
	return 0;
}

int pgsnap_begin(struct act *a, struct resource *r, struct pgsnap *s)
{
	memset(s, 0, sizeof(*s));
	s->r = r;
	s->c = pg_connect(a, r);
	if (!s->c)
		return -1;
	snprintf(s->server, sizeof(s->server), "%s", pg_where(r));
	char *slash = strrchr(s->server, '/');
	if (slash)
		*slash = '\0';
	for (int attempt = 0; attempt < 2; attempt++) {
		PGresult *res = pg_exec(a, s->c, "starting a consistent read",
					"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
		if (!res)
			return -1;
		PQclear(res);
		s->open = 1;
		if (pg_canonical_settings(a, s->c, 1) != 0) {
			pgsnap_end(s);
			return -1;
		}
		if (snap_info(a, s, attempt == 0) == 0)
			return 0;
		/* a server that cannot export snapshots (a standby of some
		 * versions): read with this one connection only */
		pgsnap_end(s);
		if (PQstatus(s->c) != CONNECTION_OK)
			return -1;
	}
	return -1;
}

void pgsnap_end(struct pgsnap *s)
{
	if (!s->open || !s->c)
		return;
	s->open = 0;
	if (PQstatus(s->c) != CONNECTION_OK)
		return;
	PGresult *res = PQexec(s->c, "ROLLBACK");
	PQclear(res);
}

int pgsnap_lock(struct act *a, struct pgsnap *s, struct pgtab *const *t, size_t n)
{
	if (!n)
		return 0;
	struct strbuf lk = STRBUF_INIT, mv = STRBUF_INIT;
	size_t k = 0, m = 0;
	for (size_t i = 0; i < n; i++) {
		if (t[i]->relkind == 'r' || t[i]->relkind == 'p')
			sb_addf(&lk, "%s%s", k++ ? ", " : "LOCK TABLE ", t[i]->qname);
		else if (t[i]->relkind == 'm')
			/* EXPLAIN plans without reading: an unpopulated view
			 * is fine, and the lock lasts to the transaction's end */
			sb_addf(&mv, "%sSELECT 1 FROM %s", m++ ? " UNION ALL " : "EXPLAIN ", t[i]->qname);
	}
	if (k)
		sb_adds(&lk, " IN ACCESS SHARE MODE");
	int rc = 0;
	for (int pass = 0; pass < 2 && rc == 0; pass++) {
		struct strbuf *sb = pass ? &mv : &lk;
		if (!sb->len)
			continue;
		PGresult *res = PQexec(s->c, sb_str(sb));
		ExecStatusType st = PQresultStatus(res);
		if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
			PQclear(res);
			continue;
		}
		char *msg = pg_result_error(res, s->c);
		const char *code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		int denied = code && !strcmp(code, "42501");
		PQclear(res);
		if (denied)
			act_fail(a, "cannot read from database %s as role %s: %s; grant the role SELECT on the tables to verify (or read them as a role that has it)",
				 s->database, s->user, msg);
		else
			act_fail(a, "cannot lock the %s to read in database %s: %s", pass ? "materialized views" : "tables",
				 s->database, msg);
		free(msg);
		rc = -1;
	}
	sb_release(&lk);
	sb_release(&mv);
	return rc;
}

/* ---- the pool ---- */

void unit_release(struct unit *u)
{
	free(u->sql);
	free(u->v1);
	free(u->v2);
	free(u->acc);
	free(u->error);
	PQclear(u->res);
	memset(u, 0, sizeof(*u));
}

int pool_default_jobs(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

struct pool {
	pthread_mutex_t mu;
	struct unit *u;
	size_t n, next;
	atomic_int stop;
	atomic_int finished;
	long first_fail;
	int64_t done_bytes;
	int64_t done_rows;
};

struct worker {
	struct pool *p;
	PGconn *c;
	pthread_t th;
	int started;
};

static void set_error(struct unit *u, PGconn *c, const char *msg)
{
	if (u->error)
		return;
	u->error = xstrdup(pg_first_line(msg && *msg ? msg : PQerrorMessage(c)));
	if (PQstatus(c) != CONNECTION_OK)
		u->lost = 1;
}

/* The error of a failed result; a server going away (SQLSTATE class 08,
 * or 57P01-57P03: shutdown, crash) counts as a lost connection even when
 * its last message arrived before the socket closed. */
static void set_result_error(struct unit *u, PGconn *c, const PGresult *res)
{
	if (u->error)
		return;
	const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	char *m = res ? pg_result_error(res, c) : NULL;
	set_error(u, c, m);
	free(m);
	if (st && (!strncmp(st, "08", 2) || !strcmp(st, "57P01") || !strcmp(st, "57P02") || !strcmp(st, "57P03")))
		u->lost = 1;
}

static int hash_line(struct unit *u, const char *buf, int len, EVP_MD_CTX *ctx, const EVP_MD *md)
{
	const char *p = buf;
	const char *end = buf + len;
	if (end > p && end[-1] == '\n')
		end--;
	size_t b = 0;
	if (u->nb > 0 && u->keycol >= 0) {
		/* the range of an integer key, found here instead of by the
		 * server: field keycol of the row, in equal-width bounds */
		const char *f = p;
		for (int k = 0; k < u->keycol && f; k++) {
			f = memchr(f, '\t', (size_t)(end - f));
			if (f)
				f++;
		}
		if (!f || f >= end)
			return -1;
		int neg = *f == '-';
		if (neg)
			f++;
		uint64_t v = 0;
		const char *q = f;
		while (q < end && *q >= '0' && *q <= '9')
			v = v * 10 + (uint64_t)(*q++ - '0');
		if (q == f || (q < end && *q != '\t'))
			return -1;
		/* key - lo0 in 64-bit unsigned arithmetic: exact for every
		 * key >= lo0 within int64 */
		if (neg ? (v > (uint64_t)INT64_MAX + 1) : (v > (uint64_t)INT64_MAX))
			return -1;
		int64_t key = neg ? (int64_t)(0 - v) : (int64_t)v;
		if (key < u->lo0) {
			b = 0;
		} else {
			uint64_t i = ((uint64_t)key - (uint64_t)u->lo0) / (uint64_t)u->width + 1;
			b = i >= (uint64_t)u->nb ? (size_t)u->nb - 1 : (size_t)i;
		}
	} else if (u->nb > 0) {
		const char *q = p;
		while (q < end && *q >= '0' && *q <= '9') {
			b = b * 10 + (size_t)(*q - '0');
			q++;
			if (b > 1000000)
				break;
		}
		if (q == p || q >= end || *q != '\t' || b >= (size_t)u->nb)
			return -1;
		p = q + 1;
	}
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned dl = 0;
	if (!EVP_DigestInit_ex(ctx, md, NULL) || !EVP_DigestUpdate(ctx, p, (size_t)(end - p)) ||
	    !EVP_DigestFinal_ex(ctx, d, &dl))
		return -2;
	acc_add_digest(&u->acc[b], d);
	u->rows++;
	return 0;
}

static void run_unit(struct pool *pl, PGconn *c, struct unit *u, EVP_MD_CTX *ctx, const EVP_MD *md)
{
	PGresult *res;
	if (!PQsendQuery(c, u->sql)) {
		set_error(u, c, NULL);
		return;
	}
	if (u->kind == U_ROWS) {
		while ((res = PQgetResult(c))) {
			ExecStatusType st = PQresultStatus(res);
			if (st == PGRES_TUPLES_OK && !u->error && !u->res) {
				u->res = res;
				continue;
			}
			if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && !u->error)
				set_result_error(u, c, res);
			PQclear(res);
		}
		if (PQstatus(c) != CONNECTION_OK && !u->error)
			set_error(u, c, NULL);
		return;
	}
	if (u->kind == U_SCALAR) {
		while ((res = PQgetResult(c))) {
			ExecStatusType st = PQresultStatus(res);
			if (st == PGRES_TUPLES_OK) {
				if (PQntuples(res) > 0 && !u->v1 && !u->v2) {
					if (PQnfields(res) > 0 && !PQgetisnull(res, 0, 0))
						u->v1 = xstrdup(PQgetvalue(res, 0, 0));
					if (PQnfields(res) > 1 && !PQgetisnull(res, 0, 1))
						u->v2 = xstrdup(PQgetvalue(res, 0, 1));
				}
			} else if (st != PGRES_COMMAND_OK && !u->error) {
				set_result_error(u, c, res);
			}
			PQclear(res);
		}
		if (PQstatus(c) != CONNECTION_OK && !u->error)
			set_error(u, c, NULL);
		return;
	}
	int nb = u->nb > 0 ? u->nb : 1;
	u->acc = xcalloc((size_t)nb, sizeof(*u->acc));
	res = PQgetResult(c);
	if (!res || PQresultStatus(res) != PGRES_COPY_OUT) {
		set_result_error(u, c, res);
		PQclear(res);
		while ((res = PQgetResult(c)))
			PQclear(res);
		return;
	}
	PQclear(res);
	int64_t batch = 0;
	for (;;) {
		char *buf = NULL;
		int len = PQgetCopyData(c, &buf, 0);
		if (len == -1)
			break;
		if (len == -2) {
			set_error(u, c, NULL);
			break;
		}
		int hr = hash_line(u, buf, len, ctx, md);
		PQfreemem(buf);
		if (hr != 0 && !u->error)
			u->error = xstrdup(hr == -1 ? "a row came back without its key range number" : "SHA-256 failed");
		if (++batch == 65536) {
			pthread_mutex_lock(&pl->mu);
			pl->done_rows += batch;
			pthread_mutex_unlock(&pl->mu);
			batch = 0;
		}
	}
	pthread_mutex_lock(&pl->mu);
	pl->done_rows += batch;
	pthread_mutex_unlock(&pl->mu);
	while ((res = PQgetResult(c))) {
		if (PQresultStatus(res) != PGRES_COMMAND_OK && !u->error)
			set_result_error(u, c, res);
		PQclear(res);
		if (PQstatus(c) != CONNECTION_OK)
			break;
	}
	if (PQstatus(c) != CONNECTION_OK && !u->error)
		set_error(u, c, NULL);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct pool *pl = w->p;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", NULL);
	for (;;) {
		if (atomic_load(&pl->stop))
			break;
		pthread_mutex_lock(&pl->mu);
		struct unit *u = pl->next < pl->n ? &pl->u[pl->next++] : NULL;
		pthread_mutex_unlock(&pl->mu);
		if (!u)
			break;
		if (ctx && md)
			run_unit(pl, w->c, u, ctx, md);
		else
			u->error = xstrdup("cannot set up SHA-256 (OpenSSL)");
		pthread_mutex_lock(&pl->mu);
		u->done = 1;
		pl->done_bytes += u->bytes;
		if (u->error && pl->first_fail < 0 && !atomic_load(&pl->stop))
			pl->first_fail = u - pl->u;
		pthread_mutex_unlock(&pl->mu);
		if (u->error) {
			atomic_store(&pl->stop, 1);
			break;
		}
	}
	EVP_MD_free(md);
	EVP_MD_CTX_free(ctx);
	atomic_fetch_add(&pl->finished, 1);
	return NULL;
}

/* Opens a worker connection in the snapshot. NULL after act_fail. */
static PGconn *open_worker(struct act *a, struct pgsnap *s)
{
	PGconn *c = pg_connect_new(a, s->r, NULL);
	if (!c)
		return NULL;
	char *lit = pg_literal(c, s->snapshot);
	char *sql = xasprintf("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT %s", lit);
	free(lit);
	PGresult *res = pg_exec(a, c, "joining the consistent read", sql);
	free(sql);
	if (!res || pg_canonical_settings(a, c, 1) != 0) {
		PQclear(res);
		PQfinish(c);
		return NULL;
	}
	PQclear(res);
	return c;
}

static void cancel_all(struct worker *w, int nw)
{
	for (int i = 0; i < nw; i++) {
		if (!w[i].c)
			continue;
		PGcancel *cn = PQgetCancel(w[i].c);
		if (cn) {
			char eb[256];
			PQcancel(cn, eb, sizeof(eb));
			PQfreeCancel(cn);
		}
	}
}

int pool_run(struct act *a, struct pgsnap *s, struct unit *u, size_t n, int jobs, const char *phase,
	     size_t *failed)
{
	*failed = 0;
	if (n == 0)
		return 0;
	int nw = jobs < 1 ? 1 : jobs;
	if ((size_t)nw > n)
		nw = (int)n;
	if (!s->snapshot[0])
		nw = 1;
	struct worker *w = xcalloc((size_t)nw, sizeof(*w));
	w[0].c = s->c;
	for (int i = 1; i < nw; i++) {
		w[i].c = open_worker(a, s);
		if (!w[i].c) {
			for (int k = 1; k < i; k++)
				PQfinish(w[k].c);
			free(w);
			return -1;
		}
	}
	struct pool pl;
	memset(&pl, 0, sizeof(pl));
	pthread_mutex_init(&pl.mu, NULL);
	pl.u = u;
	pl.n = n;
	pl.first_fail = -1;
	atomic_init(&pl.stop, 0);
	atomic_init(&pl.finished, 0);
	int64_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += u[i].bytes;
	int started = 0;
	for (int i = 0; i < nw; i++) {
		w[i].p = &pl;
		if (pthread_create(&w[i].th, NULL, worker_main, &w[i]) == 0) {
			w[i].started = 1;
			started++;
		} else {
			atomic_fetch_add(&pl.finished, 1);
		}
	}
	int cancelled = 0;
	int64_t stop_at = 0, shut = 0;
	while (atomic_load(&pl.finished) < nw) {
		if (!cancelled && act_cancelled(a)) {
			cancelled = 1;
			atomic_store(&pl.stop, 1);
		}
		if (atomic_load(&pl.stop) && !stop_at) {
			stop_at = mono_us();
			cancel_all(w, nw);
		}
		/* a server that does not answer the cancel: unblock the
		 * workers' reads so that the step ends promptly */
		if (stop_at && !shut && mono_us() - stop_at > 5000000) {
			shut = 1;
			for (int i = 0; i < nw; i++)
				if (w[i].c && PQsocket(w[i].c) >= 0)
					shutdown(PQsocket(w[i].c), SHUT_RDWR);
		}
		pthread_mutex_lock(&pl.mu);
		int64_t done = pl.done_bytes;
		pthread_mutex_unlock(&pl.mu);
		if (total > 0)
			act_progress(a, phase, (uint64_t)done, (uint64_t)total);
		struct timespec ts = { 0, 50 * 1000000L };
		nanosleep(&ts, NULL);
	}
	for (int i = 0; i < nw; i++)
		if (w[i].started)
			pthread_join(w[i].th, NULL);
	if (total > 0 && !cancelled && pl.first_fail < 0)
		act_progress(a, phase, (uint64_t)total, (uint64_t)total);
	for (int i = 1; i < nw; i++)
		PQfinish(w[i].c);
	free(w);
	pthread_mutex_destroy(&pl.mu);
	if (cancelled)
		return act_fail(a, "%s: cancelled (interrupted or timed out); nothing was captured", phase), -1;
	if (started == 0)
		return act_fail(a, "%s: cannot start worker threads", phase), -1;
	if (pl.first_fail >= 0) {
		*failed = (size_t)pl.first_fail;
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		if (!u[i].done) {
			*failed = i;
			if (!u[i].error)
				u[i].error = xstrdup("not run");
			return 1;
		}
	}
	return 0;
}

/* ---- checksum plans ---- */

void ckplan_release(struct ckplan *p)
{
	for (size_t i = 0; i < p->nbounds; i++)
		free(p->bounds[i]);
	free(p->bounds);
	free(p->bounds_lit);
	memset(p, 0, sizeof(*p));
}

static void plan_add(struct ckplan *p, const char *b)
{
	if (p->nbounds && !strcmp(p->bounds[p->nbounds - 1], b))
		return;
	p->bounds = xrealloc(p->bounds, (p->nbounds + 1) * sizeof(char *));
	p->bounds[p->nbounds++] = xstrdup(b);
}

/* The smallest of 1, 2, 5 times a power of ten that is >= x (x >= 1). */
static __int128 nice_width(__int128 x)
{
	__int128 p = 1;
	for (;;) {
		if (p >= x)
			return p;
		if (2 * p >= x)
			return 2 * p;
		if (5 * p >= x)
			return 5 * p;
		p *= 10;
	}
}

static void i128_text(__int128 v, char *buf, size_t n)
{
	char tmp[48];
	int k = 0, neg = v < 0;
	unsigned __int128 u = neg ? (unsigned __int128)(-(v + 1)) + 1 : (unsigned __int128)v;
	do {
		tmp[k++] = (char)('0' + (int)(u % 10));
		u /= 10;
	} while (u && k < 46);
	size_t j = 0;
	if (neg && j < n - 1)
		buf[j++] = '-';
	while (k && j < n - 1)
		buf[j++] = tmp[--k];
	buf[j] = '\0';
}

static const char *only(const struct pgtab *t)
{
	return t->relkind == 'p' ? "" : "ONLY ";
}

static char *bounds_literal(PGconn *c, const struct ckplan *p, const char *type)
{
	struct strbuf sb = STRBUF_INIT;
	sb_addc(&sb, '{');
	for (size_t i = 0; i < p->nbounds; i++) {
		sb_adds(&sb, i ? ",\"" : "\"");
		for (const char *s = p->bounds[i]; *s; s++) {
			if (*s == '"' || *s == '\\')
				sb_addc(&sb, '\\');
			sb_addc(&sb, *s);
		}
		sb_addc(&sb, '"');
	}
	sb_addc(&sb, '}');
	char *lit = pg_literal(c, sb_str(&sb));
	char *r = xasprintf("%s::%s[]", lit, type);
	free(lit);
	sb_release(&sb);
	return r;
}

static int reuse_bounds(const struct pgtab *t, json_t *reuse, struct ckplan *p)
{
	json_t *key = json_object_get(reuse, "key");
	json_t *bounds = json_object_get(reuse, "bounds");
	const char *kt = json_string_value(json_object_get(reuse, "key_type"));
	if (!json_is_array(key) || json_array_size(key) != t->npk || !json_is_array(bounds) || !kt ||
	    strcmp(kt, t->pk1_type) != 0)
		return -1;
	for (size_t i = 0; i < t->npk; i++)
		if (!json_is_string(json_array_get(key, i)) ||
		    strcmp(json_string_value(json_array_get(key, i)), t->pk[i]) != 0)
			return -1;
	size_t i;
	json_t *b;
	json_array_foreach(bounds, i, b) if (!json_is_string(b)) return -1;
	json_array_foreach(bounds, i, b) plan_add(p, json_string_value(b));
	return 0;
}

int ckplan_make(struct act *a, struct pgsnap *s, const struct pgtab *t, json_t *reuse, int max_ranges,
		struct ckplan *p)
{
	memset(p, 0, sizeof(*p));
	if (!t->npk || max_ranges < 2)
		return 0;
	if (reuse && reuse_bounds(t, reuse, p) == 0) {
		/* integer bounds at equal distances: the client places rows */
		int64_t b0, b1, bi;
		if (t->pk1_int && p->nbounds >= 2 && parse_int64(p->bounds[0], &b0) == 0 &&
		    parse_int64(p->bounds[1], &b1) == 0 && b1 > b0) {
			p->uniform = 1;
			for (size_t i = 0; i < p->nbounds && p->uniform; i++)
				p->uniform = parse_int64(p->bounds[i], &bi) == 0 &&
					     (__int128)bi == (__int128)b0 + (__int128)(b1 - b0) * (__int128)i;
			p->lo0 = b0;
			p->width = b1 - b0;
		}
		goto done;
	}
	ckplan_release(p);
	if (t->pk1_int) {
		char *sql = xasprintf("SELECT min(%s)::text, max(%s)::text FROM %s%s", t->pk1q, t->pk1q, only(t), t->qname);
		char what[600];
		snprintf(what, sizeof(what), "finding the key range of table %s", t->key);
		PGresult *res = pg_exec(a, s->c, what, sql);
		free(sql);
		if (!res)
			return -1;
		int64_t mn, mx;
		if (PQgetisnull(res, 0, 0) || parse_int64(PQgetvalue(res, 0, 0), &mn) != 0 ||
		    parse_int64(PQgetvalue(res, 0, 1), &mx) != 0) {
			PQclear(res);
			goto done; /* empty table: one range */
		}
		PQclear(res);
		int grid = max_ranges > 4 ? max_ranges - 3 : 1;
		__int128 span = (__int128)mx - mn + 1;
		__int128 width = nice_width((span + grid - 1) / grid);
		__int128 lo0 = (__int128)mn / width * width;
		if (lo0 > mn)
			lo0 -= width;
		char buf[64];
		for (__int128 b = lo0; b <= (__int128)mx + width && (int)p->nbounds < max_ranges - 1; b += width) {
			i128_text(b, buf, sizeof(buf));
			plan_add(p, buf);
			if (b > mx)
				break;
		}
		if (width <= INT64_MAX && lo0 >= INT64_MIN) {
			p->uniform = 1;
			p->lo0 = (int64_t)lo0;
			p->width = (int64_t)width;
		}
	} else {
		struct strbuf fr = STRBUF_INIT;
		for (int i = 1; i < max_ranges; i++)
			sb_addf(&fr, "%s%d.0/%d", i > 1 ? ", " : "", i, max_ranges);
		char *sql = xasprintf("SELECT u.b FROM unnest((SELECT percentile_disc(ARRAY[%s]::float8[]) "
				      "WITHIN GROUP (ORDER BY %s) FROM %s%s)::text[]) WITH ORDINALITY AS u(b, i) "
				      "WHERE u.b IS NOT NULL ORDER BY u.i",
				      sb_str(&fr), t->pk1q, only(t), t->qname);
		sb_release(&fr);
		char what[600];
		snprintf(what, sizeof(what), "choosing key ranges of table %s", t->key);
		PGresult *res = pg_exec(a, s->c, what, sql);
		free(sql);
		if (!res)
			return -1;
		for (int i = 0; i < PQntuples(res); i++)
			plan_add(p, PQgetvalue(res, i, 0));
		PQclear(res);
	}
done:
	if (p->nbounds)
		p->bounds_lit = bounds_literal(s->c, p, t->pk1_type);
	return 0;
}

void ckplan_units(const struct pgsnap *s, const struct pgtab *t, const struct ckplan *p, size_t task, int jobs,
		  struct unit **u, size_t *n, size_t *alloc)
{
	int keycol = -1;
	for (size_t i = 0; p->uniform && i < t->ncols && keycol < 0; i++)
		if (!strcmp(t->cols[i], t->pk1q))
			keycol = (int)i;
	char *prefix = p->nbounds && keycol < 0
			       ? xasprintf("width_bucket(%s, %s)%s", t->pk1q, p->bounds_lit, t->ncols ? ", " : "")
			       : xstrdup("");
	int nb = p->nbounds ? (int)p->nbounds + 1 : 0;
	for (size_t l = 0; l < t->nleaves; l++) {
		const struct pgleaf *lf = &t->leaves[l];
		int64_t blocks = lf->bytes / s->block_size;
		int64_t chunk = blocks / ((int64_t)(jobs > 0 ? jobs : 1) * 4) + 1;
		if (chunk < 1024)
			chunk = 1024;
		if (chunk > 8192)
			chunk = 8192;
		/* block ranges only pay with parallel connections: a TID range
		 * scan costs the server more than a plain sequential scan */
		int split = jobs > 1 && s->server_num >= 140000 && blocks > chunk;
		int64_t from = 0;
		do {
			if (*n == *alloc) {
				*alloc = *alloc ? *alloc * 2 : 16;
				*u = xrealloc(*u, *alloc * sizeof(**u));
			}
			struct unit *x = &(*u)[(*n)++];
			memset(x, 0, sizeof(*x));
			x->kind = U_HASH;
			x->task = task;
			x->nb = nb;
			x->keycol = keycol;
			x->lo0 = p->lo0;
			x->width = p->width;
			char where[128] = "";
			if (split) {
				int64_t to = from + chunk;
				if (to >= blocks)
					snprintf(where, sizeof(where), " WHERE ctid >= '(%lld,0)'::tid", (long long)from);
				else
					snprintf(where, sizeof(where), " WHERE ctid >= '(%lld,0)'::tid AND ctid < '(%lld,0)'::tid",
						 (long long)from, (long long)to);
				x->bytes = ((to < blocks ? to : blocks) - from) * s->block_size;
				from = to;
			} else {
				x->bytes = lf->bytes;
				from = blocks;
			}
			x->sql = xasprintf("COPY (SELECT %s%s FROM ONLY %s%s) TO STDOUT", prefix, t->collist, lf->qname,
					   where);
		} while (split && from < blocks);
	}
	free(prefix);
}

json_t *ckplan_entry(const struct pgtab *t, const struct ckplan *p, const struct unit *u, size_t n, size_t task)
{
	size_t nb = p->nbounds ? p->nbounds + 1 : 1;
	struct acc *sum = xcalloc(nb, sizeof(*sum));
	struct acc total = { { 0, 0, 0, 0 }, 0 };
	for (size_t i = 0; i < n; i++) {
		if (u[i].task != task || u[i].kind != U_HASH || !u[i].acc)
			continue;
		for (size_t b = 0; b < nb; b++) {
			acc_add(&sum[b], &u[i].acc[b]);
			acc_add(&total, &u[i].acc[b]);
		}
	}
	char hex[65];
	acc_digest(&total, hex);
	json_t *e = json_object();
	json_object_set_new(e, "rows", json_integer(total.rows));
	json_object_set_new(e, "sha256", json_string(hex));
	json_t *key = json_array();
	for (size_t i = 0; i < t->npk; i++)
		json_array_append_new(key, json_string(t->pk[i]));
	json_object_set_new(e, "key", key);
	if (t->npk) {
		json_object_set_new(e, "key_type", json_string(t->pk1_type));
		json_t *bounds = json_array();
		for (size_t i = 0; i < p->nbounds; i++)
			json_array_append_new(bounds, json_string(p->bounds[i]));
		json_object_set_new(e, "bounds", bounds);
		json_t *ranges = json_array();
		for (size_t b = 0; p->nbounds && b < nb; b++) {
			if (!sum[b].rows)
				continue;
			json_t *r = json_object();
			json_object_set_new(r, "lo", b ? json_string(p->bounds[b - 1]) : json_null());
			json_object_set_new(r, "hi", b < p->nbounds ? json_string(p->bounds[b]) : json_null());
			json_object_set_new(r, "rows", json_integer(sum[b].rows));
			acc_hex(&sum[b], hex);
			json_object_set_new(r, "sum", json_string(hex));
			json_array_append_new(ranges, r);
		}
		if (!p->nbounds && total.rows) {
			json_t *r = json_object();
			json_object_set_new(r, "lo", json_null());
			json_object_set_new(r, "hi", json_null());
			json_object_set_new(r, "rows", json_integer(total.rows));
			acc_hex(&total, hex);
			json_object_set_new(r, "sum", json_string(hex));
			json_array_append_new(ranges, r);
		}
		json_object_set_new(e, "ranges", ranges);
	}
	free(sum);
	return e;
}

/* ---- one COPY on the main thread (verify.compare's live queries) ---- */

/* Waits until c has input or is writable-idle; cancels on interruption.
 * Returns 0, or -1 when cancelled (a cancel request was sent). */
/* Asks the server to cancel c's statement, once. */
static void cancel_once(PGconn *c, int *cancel_sent)
{
	if (*cancel_sent)
		return;
	PGcancel *cn = PQgetCancel(c);
	if (cn) {
		char eb[256];
		PQcancel(cn, eb, sizeof(eb));
		PQfreeCancel(cn);
	}
	*cancel_sent = 1;
}

static int wait_input(struct act *a, PGconn *c, int *cancel_sent)
{
	if (act_cancelled(a))
		cancel_once(c, cancel_sent);
	struct pollfd pf = { PQsocket(c), POLLIN, 0 };
	poll(&pf, 1, 100);
	return *cancel_sent ? -1 : 0;
}

int pg_copy_each(struct act *a, PGconn *c, const char *sql, int (*line)(void *ud, const char *buf, size_t len),
		 void *ud, char **err)
{
	*err = NULL;
	if (!PQsendQuery(c, sql)) {
		*err = xstrdup(pg_first_line(PQerrorMessage(c)));
		return -1;
	}
	int cancel_sent = 0;
	PGresult *res = NULL;
	for (;;) {
		if (!PQconsumeInput(c))
			break;
		if (!PQisBusy(c)) {
			res = PQgetResult(c);
			break;
		}
		wait_input(a, c, &cancel_sent);
	}
	if (!res || PQresultStatus(res) != PGRES_COPY_OUT) {
		*err = res ? pg_result_error(res, c) : xstrdup(pg_first_line(PQerrorMessage(c)));
		PQclear(res);
		while ((res = PQgetResult(c)))
			PQclear(res);
		return -1;
	}
	PQclear(res);
	int rc = 0;
	for (;;) {
		char *buf = NULL;
		int len = PQgetCopyData(c, &buf, 1);
		if (len == 0) {
			wait_input(a, c, &cancel_sent);
			if (!PQconsumeInput(c)) {
				*err = xstrdup(pg_first_line(PQerrorMessage(c)));
				rc = -1;
				break;
			}
			continue;
		}
		if (len == -1)
			break;
		if (len == -2) {
			*err = xstrdup(pg_first_line(PQerrorMessage(c)));
			rc = -1;
			break;
		}
		/* after a failed line the rest is drained, unread */
		if (rc == 0 && line(ud, buf, (size_t)len) != 0) {
			*err = xstrdup("the rows could not be processed");
			rc = -1;
			cancel_once(c, &cancel_sent);
		}
		PQfreemem(buf);
	}
	while ((res = PQgetResult(c))) {
		if (PQresultStatus(res) != PGRES_COMMAND_OK && !*err) {
			*err = pg_result_error(res, c);
			rc = -1;
		}
		PQclear(res);
		if (PQstatus(c) != CONNECTION_OK)
			break;
	}
	if (cancel_sent && !*err) {
		*err = xstrdup("cancelled (interrupted or timed out)");
		rc = -1;
	}
	if (cancel_sent && rc == 0)
		rc = -1;
	return rc;
}

struct hash_lines {
	int keyed;
	struct acc *out;
	json_t *keys;
	size_t max_keys;
	EVP_MD_CTX *ctx;
	EVP_MD *md;
};

static int hash_copy_line(void *ud, const char *buf, size_t len)
{
	struct hash_lines *h = ud;
	const char *p = buf, *end = buf + len;
	if (end > p && end[-1] == '\n')
		end--;
	const char *kend = NULL;
	if (h->keyed) {
		kend = memchr(p, '\t', (size_t)(end - p));
		if (!kend)
			kend = end;
		p = kend < end ? kend + 1 : end;
	}
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned dl = 0;
	if (!h->ctx || !h->md || !EVP_DigestInit_ex(h->ctx, h->md, NULL) || !EVP_DigestUpdate(h->ctx, p, (size_t)(end - p)) ||
	    !EVP_DigestFinal_ex(h->ctx, d, &dl))
		return -1;
	acc_add_digest(h->out, d);
	if (h->keys && json_object_size(h->keys) < h->max_keys) {
		char *k = xstrndup(buf, (size_t)(kend - buf));
		char hex[17];
		for (int i = 0; i < 8; i++)
			snprintf(hex + 2 * i, 3, "%02x", d[i]);
		/* duplicate keys (a composite key cut to its first
		 * column) keep the sum of their digests' prefixes */
		json_t *prev = json_object_get(h->keys, k);
		if (prev) {
			char *both = xasprintf("%s+%s", json_string_value(prev), hex);
			json_object_set_new(h->keys, k, json_string(both));
			free(both);
		} else {
			json_object_set_new(h->keys, k, json_string(hex));
		}
		free(k);
	}
	return 0;
}

int pg_copy_hash(struct act *a, PGconn *c, const char *sql, int keyed, struct acc *out, json_t **keys,
		 size_t max_keys, char **err)
{
	memset(out, 0, sizeof(*out));
	if (keys)
		*keys = json_object();
	struct hash_lines h = { keyed, out, keys ? *keys : NULL, max_keys, EVP_MD_CTX_new(), EVP_MD_fetch(NULL, "SHA256", NULL) };
	int rc = pg_copy_each(a, c, sql, hash_copy_line, &h, err);
	EVP_MD_free(h.md);
	EVP_MD_CTX_free(h.ctx);
	return rc;
}
