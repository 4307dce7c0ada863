/*
 * fail.c: failures as values and the one way they reach stderr (fail.h).
 */
#include "fail.h"

#include <stdio.h>
#include <stdlib.h>

#include "redact.h"

int fail_vset(struct fail *f, int code, const char *fmt, va_list ap)
{
	f->code = code;
	sb_reset(&f->msg);
	sb_vaddf(&f->msg, fmt, ap);
	return -1;
}

int fail_set(struct fail *f, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fail_vset(f, code, fmt, ap);
	va_end(ap);
	return -1;
}

int fail_at(struct fail *f, int code, struct loc loc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fail_vset(f, code, fmt, ap);
	va_end(ap);
	f->loc = loc;
	return -1;
}

void fail_prefix(struct fail *f, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	sb_vaddf(&sb, fmt, ap);
	va_end(ap);
	sb_adds(&sb, sb_str(&f->msg));
	sb_release(&f->msg);
	f->msg = sb;
}

void fail_suffix(struct fail *f, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	sb_vaddf(&f->msg, fmt, ap);
	va_end(ap);
}

int fail_is_set(const struct fail *f)
{
	return f->code != 0;
}

const char *fail_text(const struct fail *f)
{
	return sb_str(&f->msg);
}

char *fail_detach(struct fail *f)
{
	f->code = 0;
	return sb_detach(&f->msg);
}

int fail_print(const struct fail *f, const char *prog)
{
	if (f->loc.file)
		redact_fprintf(stderr, "%s:%d:%d: error: %s\n", f->loc.file, f->loc.line, f->loc.col, fail_text(f));
	else
		redact_fprintf(stderr, "%s: %s\n", prog, fail_text(f));
	return f->code;
}

void fail_release(struct fail *f)
{
	sb_release(&f->msg);
	f->code = 0;
}

void warn_print(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *m = xvasprintf(fmt, ap);
	va_end(ap);
	redact_fprintf(stderr, "drplay: warning: %s\n", m);
	free(m);
}
