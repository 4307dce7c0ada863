/*
 * plan.h: the checked playbook. check.c turns the node tree into these typed
 * structures (every field keeps its location); lint.c reads them; run.c plans
 * and executes them. Everything here lives in the playbook's arena and is
 * read-only once checked.
 */
#ifndef DRPLAY_PLAN_H
#define DRPLAY_PLAN_H

#include <stdint.h>
#include <jansson.h>

#include "action.h"
#include "diag.h"
#include "expr.h"
#include "node.h"

/* Modes are a bit set. */
#define MODE_VALIDATION 0x1u
#define MODE_DISASTER   0x2u
#define MODE_ALL        0x3u
const char *mode_name(unsigned m);
/* Parses "validation"/"disaster"; 0 when unknown. */
unsigned mode_parse(const char *s);

/* A value as written in the playbook: literals, templates, and containers of
 * them. Evaluated per use; literal subtrees evaluate without a resolver. */
enum vt_kind { VT_LIT, VT_TMPL, VT_EXPR, VT_MAP, VT_SEQ };
struct vtree {
	enum vt_kind kind;
	struct loc loc;
	json_t *lit;          /* VT_LIT (a reference owned by the playbook) */
	struct tmpl *tmpl;    /* VT_TMPL */
	struct expr *expr;    /* VT_EXPR: a T_EXPR parameter, evaluated by the action */
	size_t n;
	const char **keys;    /* VT_MAP */
	struct loc *key_locs; /* VT_MAP */
	struct vtree **vals;  /* VT_MAP, VT_SEQ */
	int dynamic;          /* refers to steps.* (known only while running) */
	int secret;           /* refers to secret.* */
};

struct param_def {
	const char *name;
	struct loc loc;
	enum ptype type;       /* T_STRING, T_INT, T_BOOL, T_TIMESTAMP, T_DURATION, T_NUMBER */
	json_t *def;           /* default (typed), or NULL */
	json_t *allowed;       /* array, or NULL */
	const char *desc;
	unsigned required;     /* modes in which it must be given */
};

struct resource_def {
	const char *name;
	struct loc loc;
	const struct kind_def *kind;
	int live, throwaway;
	size_t nfields;
	const struct param_spec **fspecs;
	struct vtree **fields;
	struct loc *field_locs;
};

struct arg {
	const struct param_spec *spec;
	struct vtree *v;
	struct loc loc;      /* of the key */
};

struct step {
	const char *id;
	size_t index;
	struct loc loc;
	const struct action_def *def;
	struct loc action_loc;
	struct arg *args;
	size_t nargs;
	unsigned modes;       /* where it runs */
	int has_modes;
	struct loc modes_loc;
	struct expr *when;
	struct loc when_loc;
	size_t *requires;     /* indices of earlier steps */
	size_t nrequires;
	struct loc requires_loc;
	int gate;
	struct loc gate_loc;
	int cont;             /* on_failure: continue */
	struct loc on_failure_loc;
	int always;
	struct loc always_loc;
	int64_t timeout_us;   /* 0 = none */
	int retries;
	int64_t retry_delay_us;
	const char *desc;
};

/* A playbook's name also names its lock file, <journal-dir>/NAME.lock: only
 * letters, digits, '.', '_' and '-', not first '.', at most this long (the
 * checker and the JSON Schema's pattern say the same). */
#define PLAYBOOK_NAME_MAX 128

struct playbook {
	struct doc *doc;
	const char *import_ref; /* "drplay:NAME@MAJOR" as imported, or NULL */
	struct arena *arena;
	const char *file;
	const char *name;
	const char *desc;
	unsigned modes;        /* declared modes */
	unsigned default_mode;
	struct tmpl *authorize;
	struct loc authorize_loc;
	struct loc disaster_loc;
	struct param_def *params;
	size_t nparams;
	struct resource_def *resources;
	size_t nresources;
	struct step *steps;
	size_t nsteps;
	size_t *step_hash;     /* open-addressing index of step ids (index + 1) */
	size_t step_hash_cap;
	int64_t rto_us, rpo_us; /* objectives; 0 = none */
	/* Every template and expression, for release. */
	struct tmpl **tmpls;
	size_t ntmpls, atmpls;
	struct expr **exprs;
	size_t nexprs, aexprs;
	json_t **jsons;
	size_t njsons, ajsons;
};

/* Checks a loaded document against the format and the registry. Adds every
 * error found to d (all of them, not only the first) and returns the
 * playbook, or NULL when the document is too broken to build one (then d has
 * at least one error). On success the playbook owns doc; on NULL the caller
 * still does. */
struct playbook *playbook_check(struct doc *doc, struct diags *d);
void playbook_free(struct playbook *pb);

const struct param_def *playbook_param(const struct playbook *pb, const char *name);
const struct resource_def *playbook_resource(const struct playbook *pb, const char *name);
/* Index of a step by id, or -1. */
long playbook_step_index(const struct playbook *pb, const char *id);
/* The hash of a step id in the playbook's step index (FNV-1a); the checker
 * fills the index with it and playbook_step_index probes it. */
uint64_t plan_hash(const char *s);
const struct arg *step_arg(const struct step *st, const char *name);

/* Lint: the semantic safety rules over a checked playbook, for the given
 * modes (MODE_ALL for `drplay lint`). `params` (the run's resolved params,
 * or NULL for lint) lets targets that depend on params and env be resolved.
 * Adds diagnostics to d. */
void lint_playbook(const struct playbook *pb, unsigned modes, json_t *params, struct diags *d);

/*
 * Static evaluation, shared by lint, plan and the guards: what a value is
 * when only params, env, run and resources are known. Secrets are never
 * read by lint (they need not exist on a reviewer's machine).
 */
struct static_env {
	const struct playbook *pb;
	unsigned mode;          /* the mode being planned (one bit) */
	json_t *params;         /* resolved params, or NULL (lint: defaults only) */
	int read_env;           /* 0: env.* and secret.* are unknown */
	const char *run_id;
	int64_t started_us;
};
/* Evaluates a vtree with a resolver (eval.c). Returns 0 and a new reference
 * in *out, or -1 with *err set (caller frees). When secret is not NULL, it
 * is set to 1 if the value was made from a secret. */
int vtree_eval(const struct vtree *v, const struct eval_ctx *ctx, json_t **out, char **err, int *secret);
/* Evaluates a vtree statically. Returns 1 and a new reference in *out when
 * known, 0 when it depends on something unknown, -1 on an evaluation error
 * (message in *err, caller frees). */
int vtree_static(const struct vtree *v, const struct static_env *env, json_t **out, char **err);
/* Evaluates a step's `when:` statically. Returns 1 with *truth set when it
 * is known from params, env, run and literals alone, 0 when it depends on
 * something known only while running, -1 when it cannot be evaluated. */
int when_static(const struct expr *e, const struct static_env *env, int *truth);

/* The argument query used by flags hooks, at check time (static). */
struct argq {
	const struct step *st;
	const struct static_env *env; /* NULL: nothing but literals is known */
	json_t *resolved;             /* at run time: the resolved `with` object */
	struct diags *d;
};

/* Effective action flags of a step, statically (worst case when unknown). */
unsigned step_flags(const struct step *st, const struct static_env *env);

#endif
