/*
 * util.c: allocation, string buffers, arenas, time and duration forms, and
 * SHA-256 (OpenSSL's EVP, never a hand-written digest). See util.h.
 */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>

static void oom(size_t n)
{
	fprintf(stderr, "drplay: out of memory allocating %zu bytes\n", n);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom(n);
	return p;
}

void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);
	if (!p)
		oom(n * sz);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		oom(n);
	return q;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *xvasprintf(const char *fmt, va_list ap)
{
	struct strbuf sb = STRBUF_INIT;
	sb_vaddf(&sb, fmt, ap);
	return sb_detach(&sb);
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = xvasprintf(fmt, ap);
	va_end(ap);
	return s;
}

void free_secret(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

/* ---- strbuf ---- */

#define SB_DEFAULT_CAP ((size_t)64 << 20)

void sb_init(struct strbuf *sb, size_t cap)
{
	memset(sb, 0, sizeof(*sb));
	sb->cap = cap;
}

static size_t sb_room(struct strbuf *sb, size_t want)
{
	size_t cap = sb->cap ? sb->cap : SB_DEFAULT_CAP;
	if (sb->len >= cap) {
		if (want)
			sb->truncated = 1;
		return 0;
	}
	if (want > cap - sb->len) {
		want = cap - sb->len;
		sb->truncated = 1;
	}
	if (sb->len + want + 1 > sb->alloc) {
		size_t na = sb->alloc ? sb->alloc : 64;
		while (na < sb->len + want + 1)
			na *= 2;
		sb->buf = xrealloc(sb->buf, na);
		sb->alloc = na;
	}
	return want;
}

void sb_add(struct strbuf *sb, const void *data, size_t n)
{
	n = sb_room(sb, n);
	if (!n) {
		/* an empty add still leaves a terminated buffer behind (sb_room
		 * may just have allocated it, uninitialised) */
		if (!sb->buf)
			sb_room(sb, 0);
		if (sb->buf)
			sb->buf[sb->len] = '\0';
		return;
	}
	memcpy(sb->buf + sb->len, data, n);
	sb->len += n;
	sb->buf[sb->len] = '\0';
}

void sb_adds(struct strbuf *sb, const char *s)
{
	sb_add(sb, s, strlen(s));
}

void sb_addc(struct strbuf *sb, char c)
{
	sb_add(sb, &c, 1);
}

void sb_vaddf(struct strbuf *sb, const char *fmt, va_list ap)
{
	char small[256];
	va_list cp;
	va_copy(cp, ap);
	int n = vsnprintf(small, sizeof(small), fmt, cp);
	va_end(cp);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		sb_add(sb, small, (size_t)n);
		return;
	}
	char *big = xmalloc((size_t)n + 1);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	sb_add(sb, big, (size_t)n);
	free(big);
}

void sb_addf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	sb_vaddf(sb, fmt, ap);
	va_end(ap);
}

void sb_reset(struct strbuf *sb)
{
	sb->len = 0;
	sb->truncated = 0;
	if (sb->buf)
		sb->buf[0] = '\0';
}

char *sb_detach(struct strbuf *sb)
{
	char *s = sb->buf ? sb->buf : xstrdup("");
	size_t cap = sb->cap;
	sb_init(sb, cap);
	return s;
}

void sb_release(struct strbuf *sb)
{
	free(sb->buf);
	sb_init(sb, sb->cap);
}

const char *sb_str(const struct strbuf *sb)
{
	return sb->buf ? sb->buf : "";
}

/* ---- arena ---- */

struct arena_block {
	struct arena_block *next;
	size_t used, size;
	unsigned char data[];
};

struct arena {
	struct arena_block *head;
};

struct arena *arena_new(void)
{
	return xcalloc(1, sizeof(struct arena));
}

void *arena_alloc(struct arena *a, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	struct arena_block *b = a->head;
	if (!b || b->size - b->used < n) {
		size_t size = n > 65536 ? n : 65536;
		b = xmalloc(sizeof(*b) + size);
		b->size = size;
		b->used = 0;
		b->next = a->head;
		a->head = b;
	}
	void *p = b->data + b->used;
	b->used += n;
	memset(p, 0, n);
	return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
	char *p = arena_alloc(a, n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
	return arena_strndup(a, s, strlen(s));
}

void arena_free(struct arena *a)
{
	if (!a)
		return;
	struct arena_block *b = a->head;
	while (b) {
		struct arena_block *n = b->next;
		free(b);
		b = n;
	}
	free(a);
}

/* ---- time ---- */

int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

static int is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). Written out rather
 * than timegm() so that parsing never depends on the TZ environment. */
static int64_t days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int parse_timestamp(const char *s, int64_t *out)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int Y, M, D, h, m, sec;
	if (strlen(s) < 19)
		return -1;
	if (digits(s, 4, &Y) || s[4] != '-' || digits(s + 5, 2, &M) || s[7] != '-' ||
	    digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &m) || s[16] != ':' ||
	    digits(s + 17, 2, &sec))
		return -1;
	if (M < 1 || M > 12 || D < 1 || h > 23 || m > 59 || sec > 60)
		return -1;
	int md = mdays[M - 1] + (M == 2 && is_leap(Y));
	if (D > md)
		return -1;
	if (sec == 60)
		sec = 59; /* leap second: clamp */
	const char *p = s + 19;
	int64_t frac = 0;
	if (*p == '.') {
		p++;
		int nd = 0;
		while (*p >= '0' && *p <= '9') {
			if (nd < 6) {
				frac = frac * 10 + (*p - '0');
			}
			nd++;
			p++;
		}
		if (nd == 0)
			return -1;
		for (int i = nd; i < 6; i++)
			frac *= 10;
	}
	int64_t off = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om;
		int sign = *p == '-' ? -1 : 1;
		if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) || oh > 23 || om > 59)
			return -1;
		off = sign * (oh * 3600 + om * 60);
		p += 6;
	} else {
		return -1; /* RFC 3339 requires an offset */
	}
	if (*p)
		return -1;
	int64_t secs = days_from_civil(Y, M, D) * 86400 + h * 3600 + m * 60 + sec - off;
	*out = secs * 1000000 + frac;
	return 0;
}

static void civil(int64_t us, struct tm *tm)
{
	int64_t secs = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
	time_t t = (time_t)secs;
	gmtime_r(&t, tm);
}

char *fmt_timestamp(int64_t us, char *buf, size_t n)
{
	struct tm tm;
	civil(us, &tm);
	strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

char *fmt_timestamp_compact(int64_t us, char *buf, size_t n)
{
	struct tm tm;
	civil(us, &tm);
	strftime(buf, n, "%Y%m%dT%H%M%SZ", &tm);
	return buf;
}

int parse_duration(const char *s, int64_t *out)
{
	const char *p = s;
	int64_t total = 0;
	int parts = 0;
	if (!*p)
		return -1;
	while (*p) {
		if (*p < '0' || *p > '9')
			return -1;
		const char *start = p;
		while (*p >= '0' && *p <= '9')
			p++;
		if (*p == '.') {
			p++;
			if (*p < '0' || *p > '9')
				return -1;
			while (*p >= '0' && *p <= '9')
				p++;
		}
		char num[64];
		size_t nl = (size_t)(p - start);
		if (nl >= sizeof(num))
			return -2; /* 63 digits of anything is too long */
		memcpy(num, start, nl);
		num[nl] = '\0';
		double v = strtod(num, NULL);
		int64_t unit;
		if (p[0] == 'm' && p[1] == 's') {
			unit = 1000;
			p += 2;
		} else if (*p == 's') {
			unit = 1000000;
			p++;
		} else if (*p == 'm') {
			unit = 60 * (int64_t)1000000;
			p++;
		} else if (*p == 'h') {
			unit = 3600 * (int64_t)1000000;
			p++;
		} else if (*p == 'd') {
			unit = 86400 * (int64_t)1000000;
			p++;
		} else if (*p == '\0' && parts == 0) {
			unit = 1000000; /* a bare number is seconds */
		} else {
			return -1;
		}
		double part = v * (double)unit;
		/* Each part, and then the sum, stays within the maximum: both are
		 * far below INT64_MAX, so the addition cannot wrap. */
		if (!(part <= (double)DURATION_MAX_US))
			return -2;
		total += (int64_t)(part + 0.5);
		if (total > DURATION_MAX_US)
			return -2;
		parts++;
	}
	*out = total;
	return 0;
}

int duration_from_secs(int64_t secs, int64_t *out)
{
	if (secs < 0 || secs > DURATION_MAX_US / 1000000)
		return -2;
	*out = secs * 1000000;
	return 0;
}

static const char *skip_digits(const char *p)
{
	while (*p >= '0' && *p <= '9')
		p++;
	return p;
}

int parse_decimal(const char *s, double *out)
{
	s += strspn(s, " \t\r\n");
	const char *p = s + (*s == '-' || *s == '+');
	if (*p < '0' || *p > '9')
		return -1;
	p = skip_digits(p);
	if (*p == '.')
		p = skip_digits(p + 1);
	if (*p == 'e' || *p == 'E') {
		p += 1 + (p[1] == '-' || p[1] == '+');
		if (*p < '0' || *p > '9')
			return -1;
		p = skip_digits(p);
	}
	const char *end = p;
	if (p[strspn(p, " \t\r\n")])
		return -1;
	char *text = xstrndup(s, (size_t)(end - s));
	double d = strtod(text, NULL);
	free(text);
	if (!isfinite(d))
		return -1;
	*out = d;
	return 0;
}

char *human_size(uint64_t n, char *buf, size_t len)
{
	const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	int i = 0;
	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	snprintf(buf, len, i ? "%.1f %s" : "%.0f %s", v, u[i]);
	return buf;
}

char *fmt_duration(int64_t us, char *buf, size_t n)
{
	struct strbuf sb = STRBUF_INIT;
	if (us < 0) {
		sb_addc(&sb, '-');
		us = -us;
	}
	if (us == 0) {
		sb_adds(&sb, "0s");
	} else if (us < 1000000) {
		if (us % 1000 == 0)
			sb_addf(&sb, "%lldms", (long long)(us / 1000));
		else
			sb_addf(&sb, "%.3fms", (double)us / 1000.0);
	} else {
		int64_t s = us / 1000000, rem = us % 1000000;
		int64_t d = s / 86400, h = (s % 86400) / 3600, m = (s % 3600) / 60, sec = s % 60;
		if (d)
			sb_addf(&sb, "%lldd", (long long)d);
		if (h)
			sb_addf(&sb, "%lldh", (long long)h);
		if (m)
			sb_addf(&sb, "%lldm", (long long)m);
		if (sec || rem) {
			if (rem && !d && !h)
				sb_addf(&sb, "%.1fs", (double)sec + (double)rem / 1e6);
			else
				sb_addf(&sb, "%llds", (long long)sec);
		}
	}
	snprintf(buf, n, "%s", sb_str(&sb));
	sb_release(&sb);
	return buf;
}

int parse_int64(const char *s, int64_t *out)
{
	if (!s || !*s)
		return -1;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || end == s)
		return -1;
	*out = v;
	return 0;
}

/* ---- hashing, files ---- */

static void to_hex(const unsigned char *d, size_t n, char *hex)
{
	static const char x[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		hex[2 * i] = x[d[i] >> 4];
		hex[2 * i + 1] = x[d[i] & 15];
	}
	hex[2 * n] = '\0';
}

void sha256_hex(const void *data, size_t n, char hex[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	EVP_Digest(data, n, md, &mdlen, EVP_sha256(), NULL);
	to_hex(md, 32, hex);
}

int sha256_file_hex(const char *path, char hex[65])
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	unsigned char buf[65536];
	ssize_t r;
	int rc = 0;
	while ((r = read(fd, buf, sizeof(buf))) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			rc = -1;
			break;
		}
		EVP_DigestUpdate(ctx, buf, (size_t)r);
	}
	unsigned char md[32];
	unsigned int mdlen = 0;
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	int saved = errno;
	close(fd);
	errno = saved;
	if (rc == 0)
		to_hex(md, 32, hex);
	return rc;
}

int read_fd(int fd, size_t max, char **out, size_t *len)
{
	struct strbuf sb;
	sb_init(&sb, max + 1);
	char buf[65536];
	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			sb_release(&sb);
			errno = e;
			return -1;
		}
		if (r == 0)
			break;
		sb_add(&sb, buf, (size_t)r);
		if (sb.len > max) {
			sb_release(&sb);
			errno = EFBIG;
			return -1;
		}
	}
	if (len)
		*len = sb.len;
	*out = sb_detach(&sb);
	return 0;
}

int read_file(const char *path, size_t max, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		close(fd);
		errno = EISDIR;
		return -1;
	}
	int rc = read_fd(fd, max, out, len);
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

int write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

void random_hex(char *out, size_t nbytes)
{
	unsigned char buf[64];
	if (nbytes > sizeof(buf))
		nbytes = sizeof(buf);
	size_t got = 0;
	while (got < nbytes) {
		ssize_t r = getrandom(buf + got, nbytes - got, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			abort();
		}
		got += (size_t)r;
	}
	to_hex(buf, nbytes, out);
}
