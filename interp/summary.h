/*
 * summary.h: how a run stands and what it leaves behind, computed in one
 * place for every reader: the transcript's last lines and the journal's
 * run_end (run.c), the run record reports read (act_run_record) and
 * `drplay status`, which folds the journal's step_end events the same way.
 */
#ifndef DRPLAY_SUMMARY_H
#define DRPLAY_SUMMARY_H

#include <jansson.h>

#include "action.h"

struct run;
struct step;

/* The run's counts and outcome so far, the step now running (if any) left
 * out. `failed` counts every failed, refused or interrupted step,
 * `tolerated` those of them that on_failure: continue let the run go past. */
struct tally {
	int ok, failed, tolerated, skipped, refused;
	const char *failed_step; /* the first failure not tolerated */
	int rc;                  /* the exit code (run.h) the run ends with */
	const char *outcome;     /* as run_end records it */
};
void run_tally(const struct run *r, const struct step *running, struct tally *t);
/* Whether the run changed state (SPEC.md, section 4): a step changed
 * something, or a step made objects of its own (a throwaway branch, a new
 * database) and one of them is still there or a verification failed. */
int run_changed(const struct run *r);

/* What a run left: the maintenance state last set and the states it kept. */
struct run_left {
	const char *maint;      /* "ON", "OFF", or NULL when no step changed it */
	const char *maint_step; /* the step that last changed it (borrowed) */
	json_t *kept;           /* names of kept snapshots and preserved states */
};
void left_init(struct run_left *l);
/* Folds in one step that ended, in run order: its id (borrowed until the
 * fold is released), its category's name, whether it passed, and the names
 * it kept (an array, borrowed; NULL for none). */
void left_step(struct run_left *l, const char *id, const char *category, int ok, json_t *kept);
/* The kept names joined by ", " (a new string, "" for none). */
char *left_kept_text(const struct run_left *l);
void left_release(struct run_left *l);

/* The values of outputs that def declares as kept states (OUT_SNAPSHOT,
 * OUT_PRESERVED), in declaration order: a new array, possibly empty. */
json_t *kept_names(const struct action_def *def, json_t *outputs);

#endif
