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

#endif
