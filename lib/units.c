/*
 * units.c: the values people write in playbooks and read in transcripts:
 * RFC 3339 timestamps, durations ("1h30m"), strict numbers, byte sizes.
 * Hand-written because the forms are the playbook language's own (SPEC.md,
 * section 2): strptime and strtod accept far more than the language does,
 * and neither knows "1h30m". See units.h.
 */
#include "units.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "strbuf.h"

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
