/*
 * libctx.h: what a library in lib/ asks of whoever calls it. Libraries know
 * nothing of steps, runs or the action API; a long operation (an S3 upload,
 * an HTTP request) still has to stop when the caller is interrupted, say
 * what it retries, and report why it failed. So each takes a struct libctx:
 * callbacks for cancellation, the time left, sleeping, logging a line and
 * registering a secret it came across, and a string buffer where it leaves
 * the reason of its last failure. Failures are values: a library function
 * returns -1 (or NULL) with `err` filled and never prints or exits.
 *
 * An action family fills one from its struct act (stdlib/stepctx.h) and
 * turns `err` into act_fail. Every callback may be NULL: then nothing is
 * cancelled, time is unbounded, sleeping sleeps, logs and secrets are
 * dropped (a unit test can pass a zeroed context).
 */
#ifndef DRPLAY_LIBCTX_H
#define DRPLAY_LIBCTX_H

#include <stdint.h>

#include "strbuf.h"

struct libctx {
	void *ud;                                /* passed to every callback */
	int (*cancelled)(void *ud);              /* 1: stop now (interrupted or out of time) */
	int64_t (*remaining_us)(void *ud);       /* time left; INT64_MAX when unbounded */
	int (*sleep)(void *ud, int64_t us);      /* 0, or -1 when cancelled meanwhile */
	void (*log)(void *ud, const char *line); /* one line for people (the caller masks it) */
	void (*secret)(void *ud, const char *s); /* a credential to mask from now on */
	struct strbuf err;                       /* why the last failing call failed */
};

/* 1 when the caller asked to stop. */
int lib_cancelled(const struct libctx *c);
/* Microseconds left before the caller's deadline, INT64_MAX without one. */
int64_t lib_remaining_us(const struct libctx *c);
/* Sleeps up to us, waking early on cancellation: 0, or -1 when cancelled. */
int lib_sleep(const struct libctx *c, int64_t us);
/* Logs a line through the caller. */
void lib_log(const struct libctx *c, const char *fmt, ...) PRINTF_LIKE(2, 3);
/* Registers a secret with the caller, so that it is masked everywhere. */
void lib_secret(const struct libctx *c, const char *s);
/* Records why the call failed (replacing an earlier reason) and returns -1,
 * so that a library can `return lib_fail(c, ...)`. */
int lib_fail(struct libctx *c, const char *fmt, ...) PRINTF_LIKE(2, 3);
/* The recorded reason, or NULL when none was recorded since the last
 * lib_clear (a sink of the caller's failed and said why itself). */
const char *lib_error(const struct libctx *c);
/* Forgets the recorded reason. */
void lib_clear(struct libctx *c);
/* Frees the reason's buffer (the callbacks are the caller's). */
void libctx_release(struct libctx *c);

#endif
