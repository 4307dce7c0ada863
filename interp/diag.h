/*
 * diag.h: one diagnostic type for everything the loader, checker and linter
 * find, and its printers: gcc-style text with the source line and a caret,
 * JSON, and SARIF 2.1.0 for code-review annotations. Like SQLite's nErr, the
 * collection counts errors so that the checker reports every error, not only
 * the first.
 */
#ifndef DRPLAY_DIAG_H
#define DRPLAY_DIAG_H

#include <stdio.h>
#include <jansson.h>
#include "node.h"
#include "rules.h"
#include "util.h"

/* Which outcome class a diagnostic belongs to, so `run` can pick its exit
 * code: a broken playbook (2) or a safety guard that refuses it (3). */
enum diag_class { DC_INVALID, DC_GUARD };

struct diag {
	enum sev sev;
	enum diag_class cls;
	char *rule;   /* stable id, e.g. "schema-unknown-key" */
	char *msg;    /* lower-case, says what is wrong, quotes the value, says what to do */
	struct loc loc; /* loc.file NULL when the problem has no place */
};

struct diags {
	struct diag *v;
	size_t n, alloc;
	int nerr, nwarn, nguard;
	/* Sources, for printing the offending line under each diagnostic. */
	const struct doc **docs;
	size_t ndocs;
};

void diags_init(struct diags *d);
void diags_release(struct diags *d);
/* Registers a loaded document so that printers can show its lines. */
void diags_add_source(struct diags *d, const struct doc *doc);
/* Adds a diagnostic; rule and message are copied. Messages go through the
 * redaction registry when printed, never before. */
void diag_add(struct diags *d, enum sev sev, const char *rule, struct loc loc,
	      const char *fmt, ...) PRINTF_LIKE(5, 6);
void diag_vadd(struct diags *d, enum sev sev, enum diag_class cls, const char *rule,
	       struct loc loc, const char *fmt, va_list ap);
/* A safety-guard error (class DC_GUARD). */
void diag_guard(struct diags *d, const char *rule, struct loc loc, const char *fmt, ...)
	PRINTF_LIKE(4, 5);
/* Sorts by file, line, column (stable), and drops exact duplicates. */
void diags_sort(struct diags *d);

enum diag_format { DF_TEXT, DF_JSON, DF_SARIF };
/* Prints every diagnostic to f. Text: "FILE:LINE:COL: error: [rule] msg",
 * the source line and a caret. JSON: {"diagnostics":[...]} . SARIF: a full
 * sarif-2.1.0 log whose rules come from the rule table (rules.h). */
void diags_print(const struct diags *d, enum diag_format fmt, FILE *f);
/* The diagnostics `lint --format=json` lists, as an array of objects
 * {file, line, column, severity, rule, message}, masked (new reference);
 * *omitted (when not NULL) is how many the per-file cap left out. */
json_t *diags_json(const struct diags *d, size_t *omitted);

#endif
