/*
 * describe.h: `drplay actions` and `drplay schema`, generated from the
 * registry's declarations, and the keys of a step.
 */
#ifndef DRPLAY_DESCRIBE_H
#define DRPLAY_DESCRIBE_H

#include <stdio.h>

enum describe_format { DESC_TEXT, DESC_MARKDOWN, DESC_JSON };

/* Prints the registry (or one action or kind when name is set). */
void describe_actions(const char *name, enum describe_format fmt, FILE *f);
/* 1 when name is a registered action or resource kind. */
int describe_known(const char *name);
/* Prints the playbook JSON Schema (2020-12). */
void describe_schema(FILE *f);
/* The keys a step may have (NULL-terminated), declared once for the
 * checker and the schema. */
const char *const *step_key_names(void);

/* The words `drplay actions` uses, for the manual pages (manpage.c): a
 * parameter's type ("resource (postgres)", new string), an output's type,
 * an action's effect ("read-only", ...), and a driver's required
 * (required=1) or other fields, "a, b" (new string). */
struct param_spec;
struct output_spec;
struct action_def;
struct driver_def;
char *describe_param_type(const struct param_spec *p);
const char *describe_output_type(const struct output_spec *o);
const char *describe_effect(const struct action_def *d);
char *describe_driver_fields(const struct driver_def *d, int required);

#endif
