/*
 * fail.h: a run-time failure as a value. It names the step it happened in
 * (when there is one), the place in the playbook (when it has one), and a
 * message that says what is wrong with which object, quoting the value, and
 * then what to do (git's style); and it carries the exit code (run.h) the
 * command ends with because of it. Every layer of the executor reports
 * through it, from spawning a child to refusing a run, and it reaches
 * people in one way: fail_print, masked.
 */
#ifndef DRPLAY_FAIL_H
#define DRPLAY_FAIL_H

#include <stdarg.h>
#include <jansson.h>

#include "node.h"
#include "util.h"

struct fail {
	int code;          /* exit code it maps to (run.h); 0 while unset */
	const char *step;  /* the step it happened in (borrowed), or NULL */
	struct loc loc;    /* where in the playbook; loc.file NULL: nowhere */
	struct strbuf msg; /* the object and the cause, then what to do */
};
#define FAIL_INIT { 0, NULL, { NULL, 0, 0 }, STRBUF_INIT }

/* Sets the failure (replacing one set before): its exit code and message.
 * Returns -1, so that a function can `return fail_set(f, ...)`. */
int fail_set(struct fail *f, int code, const char *fmt, ...) PRINTF_LIKE(3, 4);
int fail_vset(struct fail *f, int code, const char *fmt, va_list ap);
/* The same, with the place in the playbook the failure points at. */
int fail_at(struct fail *f, int code, struct loc loc, const char *fmt, ...) PRINTF_LIKE(4, 5);
/* Puts context before the message: "CONTEXT: message". */
void fail_prefix(struct fail *f, const char *fmt, ...) PRINTF_LIKE(2, 3);
/* Puts more after it: "message" + text. */
void fail_suffix(struct fail *f, const char *fmt, ...) PRINTF_LIKE(2, 3);
/* 1 once set. */
int fail_is_set(const struct fail *f);
/* The message ("" while unset). */
const char *fail_text(const struct fail *f);
/* Takes the message (a new string) and leaves the failure unset. */
char *fail_detach(struct fail *f);
/* Prints it on stderr, masked and escaped: "FILE:LINE:COL: error: MSG"
 * when it has a place, else "PROG: MSG". Returns its exit code. */
int fail_print(const struct fail *f, const char *prog);
void fail_release(struct fail *f);

/*
 * Refusals as JSON (--json). After fail_json_begin, fail_print records each
 * failure instead of writing it to stderr, and fail_json_end prints what was
 * recorded as one document on stdout (format drplay.refusal/1: the command,
 * the exit code, the reason and its place, every failure and the lint
 * diagnostics behind it), so that a program reading stdout gets one object
 * whatever stopped the command before its run.
 */
void fail_json_begin(const char *command);
/* 1 while failures are recorded as JSON. */
int fail_json_active(void);
/* The diagnostics behind the refusal (an array of diagnostic objects, see
 * diags_json), added to the document (stolen). */
void fail_json_diags(json_t *diagnostics);
/* Prints the document when a failure was recorded and returns its exit code;
 * else prints nothing and returns rc. Ends the recording. */
int fail_json_end(int rc);

/* A warning on stderr, masked: "drplay: warning: MSG". */
void warn_print(const char *fmt, ...) PRINTF_LIKE(1, 2);

#endif
