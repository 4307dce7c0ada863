/*
 * resolve.h: value resolution, the executor's second layer: secrets (from
 * the environment or a NAME_FILE), the run-time resolver behind ${...} and
 * expressions (params, env, run, steps, resources), resources with their
 * fields interpolated and typed, and a step's arguments. Above process
 * control (proc.h), below the action API (act.c) and the run loop.
 */
#ifndef DRPLAY_RESOLVE_H
#define DRPLAY_RESOLVE_H

#include "fail.h"
#include "run_internal.h"

/* The largest file a secret (NAME_FILE, --authorize-file) is read from. */
#define SECRET_FILE_MAX ((size_t)64 << 10)

/* Reads a file that holds one secret (NAME_FILE, --authorize-file): a
 * regular file (a FIFO or a device is refused, never waited on), readable,
 * not empty and at most SECRET_FILE_MAX bytes; one trailing newline (and a
 * CR before it) is the file's. With `private`, a file that group or others
 * may read is refused too. Returns 0 and *out (free it with free_secret),
 * or -1 with f's message saying what is wrong, to follow the file's name
 * ("is empty", "cannot be opened: ..."). */
int read_secret_file(const char *path, int private, char **out, struct fail *f);
/* The value of secret NAME: the environment variable NAME, else the file
 * named by NAME_FILE. A value shorter than REDACT_MIN_LEN bytes is refused:
 * it cannot be masked safely. Returns 0 and *out (free_secret it), or -1
 * with f naming the variable, never its value; *unset says that neither
 * variable is set. */
int secret_value(const char *name, char **out, struct fail *f, int *unset);

/* The run-time resolver for ${...} and expressions (expr.h's contract). */
int run_resolve(void *ud, const char *root, const char *name, struct value *out, char **err);
/* The evaluation context of a run: its resolver, and every value computed
 * from a secret (a template part, a resource field) registered for masking. */
struct eval_ctx run_ctx(struct run *r);
/* Resource i of the run, resolved once (fields interpolated, typed,
 * defaults applied). NULL with f set when it cannot be. */
struct resource *run_resource(struct run *r, size_t i, struct fail *f);
/* A step's arguments, resolved and typed against the action's parameters,
 * defaults applied: a new object, or NULL with f set. */
json_t *resolve_args(struct run *r, const struct step *st, struct fail *f);

#endif
