/*
 * expr.h: the expression language of `when:`, `assert that:` and `${...}`
 * interpolation (grammar in grammar/expr.ebnf). Expressions are parsed once
 * at check time into an AST and evaluated many times; evaluation asks the
 * caller's resolver for the roots (params, env, secret, steps, resources,
 * run) and navigates JSON values itself. Implemented in stages, one file
 * each (interp/expr_*.c; the map is in expr_int.h).
 */
#ifndef DRPLAY_EXPR_H
#define DRPLAY_EXPR_H

#include <stdint.h>
#include <jansson.h>
#include "node.h"

struct diags;

enum vtype { V_NULL, V_BOOL, V_NUM, V_STR, V_TIME, V_DUR, V_JSON };

/* A value during evaluation. Strings are owned by the value; JSON values hold
 * a reference. Release with value_release. `secret` is set when any part of
 * the value came from secret.*. */
struct value {
	enum vtype t;
	int secret;
	union {
		int b;
		double n;
		char *s;
		int64_t us; /* V_TIME: microseconds since epoch; V_DUR: microseconds */
		json_t *j;  /* V_JSON: an object or array */
	} u;
};

void value_release(struct value *v);
/* Converts a JSON value (borrowed) into a value: strings stay strings,
 * numbers numbers, objects/arrays V_JSON (a new reference). */
void value_from_json(struct value *v, json_t *j);
/* A new JSON reference for the value (timestamps as RFC 3339 strings,
 * durations as their written form). */
json_t *value_to_json(const struct value *v);
/* The value as text, for interpolation into strings (caller frees). */
char *value_to_text(const struct value *v);
/* Truthiness: false, null, 0, "", empty list/object are false. */
int value_truthy(const struct value *v);
const char *vtype_name(enum vtype t);

struct expr;   /* an AST, owned by whoever parsed it */

/* Parses an expression. `base` is the location of its first character: errors
 * are reported at base.col + offset on the same line (the column of the
 * offending token). Returns NULL after adding a diagnostic (rule
 * "expr-syntax"). */
struct expr *expr_parse(const char *src, struct loc base, struct diags *d);
void expr_free(struct expr *e);
/* The source text of the expression, as written. */
const char *expr_text(const struct expr *e);

/* A reference to a root found in an expression: root.a.b (up to 3 names). */
struct expr_ref {
	const char *root;  /* "params", "env", "secret", "steps", "resources", "run" */
	const char *name;  /* first member, e.g. the step id; NULL if none */
	const char *field; /* second member, e.g. the output; NULL if none */
	struct loc loc;    /* where the reference starts */
};
/* Calls fn for every root reference in e, in source order; stops early and
 * returns fn's non-zero result. */
int expr_refs(const struct expr *e, int (*fn)(const struct expr_ref *ref, void *ud), void *ud);

/* The resolver evaluation uses for roots. It sets *out to the value of
 * root.name (name may be NULL for a bare root) and returns 0, or returns -1
 * with a message in *err (caller frees) such as "step 'x' was skipped". */
struct eval_ctx {
	int (*resolve)(void *ud, const char *root, const char *name, struct value *out, char **err);
	void *ud;
	int64_t now_us; /* what now() returns; 0 = the wall clock */
	/* Optional: called by tmpl_eval with the text of every value computed
	 * from a secret that it puts into its result (each ${...} part, or the
	 * whole typed value; booleans excepted), so the caller can register it
	 * for masking: a derived value is a secret too. */
	void (*secret_text)(void *ud, const char *text);
	/* Optional: whether field `field` of root.name (resources.db.dsn) was
	 * computed from a secret: 1 or 0, or -1 when the resolver does not
	 * know (the whole object's taint then applies to its fields). */
	int (*field_secret)(void *ud, const char *root, const char *name, const char *field);
};

/* Evaluates e. Returns 0 and sets *out (caller releases), or -1 with an error
 * message in *err (caller frees) naming the sub-expression that failed. */
int expr_eval(const struct expr *e, const struct eval_ctx *ctx, struct value *out, char **err);

/*
 * Templates: strings with ${expr} parts ("$${" is a literal "${").
 * A template that is exactly one ${expr} evaluates to the expression's typed
 * value; otherwise to a string.
 */
struct tmpl;
/* Parses s (the node's scalar) into a template; NULL after a diagnostic. */
struct tmpl *tmpl_parse(const char *s, struct loc loc, struct diags *d);
void tmpl_free(struct tmpl *t);
/* 1 when the template has no ${...} parts (a plain literal). */
int tmpl_is_literal(const struct tmpl *t);
/* The literal text of a literal template. */
const char *tmpl_literal(const struct tmpl *t);
/* The original text. */
const char *tmpl_text(const struct tmpl *t);
int tmpl_refs(const struct tmpl *t, int (*fn)(const struct expr_ref *ref, void *ud), void *ud);
int tmpl_eval(const struct tmpl *t, const struct eval_ctx *ctx, struct value *out, char **err);

#endif
