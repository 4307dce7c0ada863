/*
 * prepare.h: the phases of a run before its first step (run.c calls them
 * in order): plan (load, check, the mode, the params, the mode's lint,
 * every secret and variable the plan needs), then, once the run's state
 * exists, authorize (the disaster token). Each prints why it stops and
 * returns the exit code; nothing has run when one does. Also what `drplay
 * plan` prints, and the facts the run loop asks of the plan.
 */
#ifndef DRPLAY_PREPARE_H
#define DRPLAY_PREPARE_H

#include "run.h"
#include "run_internal.h"

/* Loads and checks o->file, picks the mode, types the params, puts a
 * one-step run's step in place (or lints the mode), and checks that every
 * secret and variable the plan needs is there. Returns 0 with *pb (owned by
 * the caller) and r->pb, r->mode and r->params set; or the exit code, with
 * *pb set when there is a playbook to free. d collects the diagnostics. */
int prepare_plan(const struct run_opts *o, struct diags *d, struct playbook **pb, struct run *r);
/* In disaster mode, compares the token given (--authorize, or the private
 * file --authorize-file names) with the one the playbook's authorization
 * names; the expected value is never printed. Returns 0 or EXIT_REFUSED. */
int prepare_authorize(struct run *r, const struct run_opts *o);
/* The variables no child inherits: those the playbook reads as secrets (any
 * mode, any step), their _FILE twins, and what the disaster authorization
 * reads. An object with the names as keys. */
json_t *hidden_env(const struct playbook *pb);
/* Why step st does not run in mode (a new string), or NULL when it does. */
char *mode_skip_reason(const struct step *st, unsigned mode);
/* Prints the plan: each step, whether it runs and why not, its values
 * resolved as far as they can be before the run (`drplay plan`). */
void print_plan(struct run *r);
/* The same plan as one JSON document on stdout (`drplay plan --json`,
 * run_json.c); d holds the warnings the mode's guards left. */
void print_plan_json(struct run *r, const struct diags *d);
/* A one-step command's result as one JSON document on stdout (--json),
 * once its step ran; rc is the command's exit code (run_json.c). */
void print_command_json(struct run *r, const struct run_opts *o, int rc);

#endif
