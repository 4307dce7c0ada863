/*
 * stepctx.c: the callbacks of a struct libctx, each one call of the action
 * API. See stepctx.h.
 */
#include "stepctx.h"

static int cb_cancelled(void *ud)
{
	return act_cancelled(ud);
}

static int64_t cb_remaining(void *ud)
{
	return act_remaining_us(ud);
}

static int cb_sleep(void *ud, int64_t us)
{
	return act_sleep(ud, us);
}

static void cb_log(void *ud, const char *line)
{
	act_log(ud, "%s", line);
}

static void cb_secret(void *ud, const char *s)
{
	act_secret(ud, s);
}

struct libctx stepctx(struct act *a)
{
	struct libctx c = {
		.ud = a,
		.cancelled = cb_cancelled,
		.remaining_us = cb_remaining,
		.sleep = cb_sleep,
		.log = cb_log,
		.secret = cb_secret,
		.err = STRBUF_INIT,
	};
	return c;
}

int stepctx_fail(struct act *a, struct libctx *c)
{
	const char *why = lib_error(c);
	if (why)
		act_fail(a, "%s", why);
	lib_clear(c);
	return ACT_FAIL;
}
