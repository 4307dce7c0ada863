/*
 * typing.h: values against declared types (enum ptype, action.h), the one
 * place that says what a declared type accepts: the checker asks it of
 * literals, the executor of resolved values, with the same answers.
 */
#ifndef DRPLAY_TYPING_H
#define DRPLAY_TYPING_H

#include <jansson.h>

#include "action.h"
#include "fail.h"
#include "util.h"

/* The type as a message names it: "an integer", "a duration (90s, ...)". */
const char *ptype_name(enum ptype t);
/* NULL when the JSON value fits type t (a string that parses as the type
 * fits too), else what it must be (ptype_name; static). */
const char *type_mismatch(enum ptype t, json_t *j);
/* 1 when the value (a string, else its JSON text) is one of `allowed`. */
int allowed_has(const char *const *allowed, json_t *j);
/* Appends the allowed values to sb as "a, b, c". */
void allowed_list(const char *const *allowed, struct strbuf *sb);
/* The default of a declaration as JSON (new reference), or NULL. */
json_t *spec_default(const struct param_spec *ps);
/* Coerces a resolved JSON value to a declared type and checks its allowed
 * values. Returns a new reference, or NULL with f set: "'NAME' must be
 * ..., but it resolved to ..." or "'NAME' is 'V', which is not one of:
 * ...". */
json_t *coerce_value(const struct param_spec *ps, json_t *v, struct fail *f);

#endif
