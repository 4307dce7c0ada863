/*
 * strbuf.h: a growable string, always NUL-terminated, with a size cap (like
 * git's strbuf and curl's dynbuf).
 */
#ifndef DRPLAY_STRBUF_H
#define DRPLAY_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

#include "base.h"

/* A growable string, always NUL-terminated. `cap` (0 = 64 MiB) bounds its
 * size: additions beyond it are dropped and `truncated` is set. */
struct strbuf {
	char *buf;
	size_t len, alloc, cap;
	int truncated;
};
#define STRBUF_INIT { NULL, 0, 0, 0, 0 }
void sb_init(struct strbuf *sb, size_t cap);
void sb_add(struct strbuf *sb, const void *data, size_t n);
void sb_adds(struct strbuf *sb, const char *s);
void sb_addc(struct strbuf *sb, char c);
void sb_addf(struct strbuf *sb, const char *fmt, ...) PRINTF_LIKE(2, 3);
void sb_vaddf(struct strbuf *sb, const char *fmt, va_list ap);
void sb_reset(struct strbuf *sb);
/* Returns the buffer (caller frees; never NULL) and leaves sb empty. */
char *sb_detach(struct strbuf *sb);
void sb_release(struct strbuf *sb);
/* The current contents, "" when empty. */
const char *sb_str(const struct strbuf *sb);

/* A formatted string (caller frees; never NULL). */
char *xasprintf(const char *fmt, ...) PRINTF_LIKE(1, 2);
char *xvasprintf(const char *fmt, va_list ap);

#endif
