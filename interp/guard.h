/*
 * guard.h: every safety rule, once. Each rule is a function that both
 * `drplay lint` (statically, over every path of every mode: lint.c) and
 * `drplay run` (at run time, over the step actually reached, with its
 * arguments resolved: run.c) call, so the two can never disagree about what
 * is safe. The rules work only from what the registry declares (flags,
 * categories, P_TARGET and P_LIVE_REF parameters, output roles) and from the
 * playbook's structure.
 *
 * A finding goes to a sink: lint gives it a diagnostics list and every
 * finding becomes a diagnostic at the step's location; the run gives it none
 * and keeps the first refusal, worded for the moment the step is reached.
 */
#ifndef DRPLAY_GUARD_H
#define DRPLAY_GUARD_H

#include "plan.h"

/* ---- which resources a step touches ---- */

/* A set of resource indices (into pb->resources) in the order found, each
 * once, as large as it needs to be. */
struct rset {
	size_t *v;
	size_t n, alloc;
};
#define RSET_INIT { NULL, 0, 0 }
/* Adds ri; returns 1 when it was not in the set yet. */
int rset_add(struct rset *s, size_t ri);
int rset_has(const struct rset *s, size_t ri);
void rset_release(struct rset *s);

/* Adds to out the resources step st acts on: the resource each of its
 * P_TARGET parameters names and, through P_LIVE_REF fields, every resource
 * that one stands for, transitively. With args (the run's resolved `with`
 * object) the names are read from it; without, they are evaluated in env
 * (NULL: literals only). Returns 1 when a target is not known statically
 * (made from step outputs, or naming no declared resource), else 0. */
int guard_targets(const struct playbook *pb, const struct step *st, const struct static_env *env,
		  json_t *args, struct rset *out);
/* 1 when resource ri counts as live: it, or a resource it stands for
 * (P_LIVE_REF, transitively), says live: true, or it declares neither live
 * nor throwaway (fail-closed). */
int guard_live(const struct playbook *pb, size_t ri);

/* ---- the step a rule looks at ---- */

struct guard_step {
	const struct playbook *pb;
	const struct step *st;
	unsigned mode;                 /* the mode planned or run (one bit) */
	const struct static_env *env;  /* lint: static values */
	json_t *args;                  /* run: the resolved arguments */
	/* computed on first use (guard_flags, guard_step_targets) */
	unsigned flags;
	int flags_known;
	struct rset targets;
	int unknown;                   /* a target known only at run time */
	int targets_known;
};
/* A step for the rules: statically (env, args NULL) or at run time (args,
 * with the flags the action reported for them). Release with
 * guard_step_release. */
void guard_step_static(struct guard_step *g, const struct static_env *env, const struct step *st);
void guard_step_run(struct guard_step *g, const struct playbook *pb, unsigned mode, const struct step *st,
		    json_t *args, unsigned flags);
void guard_step_release(struct guard_step *g);
/* The step's effective action flags (A_STATE, A_DESTRUCT). */
unsigned guard_flags(struct guard_step *g);
/* The step's targets (guard_targets); *unknown as it returns. */
const struct rset *guard_step_targets(struct guard_step *g, int *unknown);

/* Where findings go: lint passes d, the run passes none and reads refusal
 * (the first error found, worded as a refusal; the caller frees it). */
struct guard_sink {
	struct diags *d;
	char *refusal;
};

/* ---- the rules: each returns how many errors it found ---- */

/* destructive-in-validation: in validation mode, no destructive step on a
 * live resource, nor one without a target (lint warns when the target is
 * known only at run time). */
int guard_destructive(struct guard_step *g, struct guard_sink *s);
/* restore-without-snapshot: a destructive restore over a live resource
 * needs a safety snapshot of it taken earlier (snapped: per resource, set
 * by guard_snapshot_taken). */
int guard_restore(struct guard_step *g, const unsigned char *snapped, struct guard_sink *s);
/* After a snapshot step (lint: on the path; run: once it passed): marks
 * what it keeps in snapped (one byte per resource). */
void guard_snapshot_taken(struct guard_step *g, unsigned char *snapped);

/* Maintenance ordering, over one mode's steps. Built in one forward and
 * one backward pass so that linting stays linear in the number of steps. */
struct guard_order {
	size_t first_gate;      /* the first unconditional stopping preflight gate (nsteps: none) */
	unsigned char *off_ok;  /* per step: maintenance_on here can be turned off later */
	unsigned char *verified; /* per step: requires (transitively) an active verify gate */
};
void guard_order_build(const struct static_env *env, struct guard_order *F);
void guard_order_release(struct guard_order *F);
/* maintenance-without-preflight, maintenance-without-off */
int guard_maint_on(struct guard_step *g, const struct guard_order *F, struct guard_sink *s);
/* maintenance-off-unverified */
int guard_maint_off(struct guard_step *g, const struct guard_order *F, struct guard_sink *s);
/* At run time: why a maintenance_off step must not run now (a gate failed,
 * gate_at naming it, or the run was interrupted): a new string, or NULL
 * when it may run (or is no maintenance_off step). */
char *guard_maint_off_held(const struct step *st, const char *gate_at, int interrupted);

/* gate-continue, verify-not-gate: a gate must stop the run. */
int guard_gates(const struct step *st, struct guard_sink *s);
/* At run time: 1 when step st, which did not pass, stops the run as a
 * failed gate does (a gate, a verify step, or a refused step). */
int guard_stops_run(const struct step *st, int refused);

/* disaster-without-authorize: disaster mode (when modes include it) must
 * name its authorization token. */
int guard_authorize_declared(const struct playbook *pb, unsigned modes, struct guard_sink *s);
/* At run time: NULL when the given token matches the expected one (compared
 * in constant time), else why not (a new string). `flag` names where the
 * token came from ("--authorize-file" or "--authorize"). */
char *guard_authorized(const char *expected, const char *given, const char *flag);

/* Secret placement. */
struct guard_secrets;
/* What each resource field of pb is made from, worked out as asked. */
struct guard_secrets *guard_secrets_new(const struct playbook *pb);
void guard_secrets_free(struct guard_secrets *gs);
/* secret-printed: no secret, nor a resource field made from one, in a
 * parameter that is printed or sent, nor inside a URL. */
int guard_secret_placement(struct guard_secrets *gs, const struct step *st, struct guard_sink *s);
/* literal-credential: a credential written into the file (any literal
 * where the declaration ps says P_SECRET, or one that looks like a
 * credential anywhere). Reported to d as the checker's errors; owner
 * names the value ("resource 'db' field"). */
void guard_literal_credential(struct diags *d, const struct param_spec *ps, const struct vtree *v,
			      const char *owner);

#endif
