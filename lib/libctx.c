/*
 * libctx.c: the calls libraries make on their caller's context, each
 * working when the caller left a callback out. See libctx.h.
 */
#include "libctx.h"

#include <stdarg.h>
#include <stdlib.h>
#include <time.h>

#include "alloc.h"
#include "units.h"

int lib_cancelled(const struct libctx *c)
{
	return c && c->cancelled && c->cancelled(c->ud);
}

int64_t lib_remaining_us(const struct libctx *c)
{
	return c && c->remaining_us ? c->remaining_us(c->ud) : INT64_MAX;
}

int lib_sleep(const struct libctx *c, int64_t us)
{
	if (c && c->sleep)
		return c->sleep(c->ud, us);
	int64_t end = mono_us() + us;
	for (int64_t left = us; left > 0; left = end - mono_us()) {
		struct timespec ts = { (time_t)(left / 1000000), (long)(left % 1000000) * 1000 };
		nanosleep(&ts, NULL);
	}
	return 0;
}

void lib_log(const struct libctx *c, const char *fmt, ...)
{
	if (!c || !c->log)
		return;
	va_list ap;
	va_start(ap, fmt);
	char *line = xvasprintf(fmt, ap);
	va_end(ap);
	c->log(c->ud, line);
	free(line);
}

void lib_secret(const struct libctx *c, const char *s)
{
	if (c && c->secret && s && *s)
		c->secret(c->ud, s);
}

int lib_fail(struct libctx *c, const char *fmt, ...)
{
	if (!c)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	sb_reset(&c->err);
	sb_vaddf(&c->err, fmt, ap);
	va_end(ap);
	return -1;
}

const char *lib_error(const struct libctx *c)
{
	return c && c->err.len ? sb_str(&c->err) : NULL;
}

void lib_clear(struct libctx *c)
{
	if (c)
		sb_reset(&c->err);
}

void libctx_release(struct libctx *c)
{
	if (c)
		sb_release(&c->err);
}
