/*
 * strbuf.c: a growable string with a size cap (git's strbuf, curl's dynbuf).
 * See strbuf.h.
 */
#include "strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

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
