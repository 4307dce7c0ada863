/*
 * run_internal.h: the executor's state, shared by run.c (the executor) and
 * act.c (the action API it hands to actions). Nothing in stdlib/ includes
 * this file: actions see only action.h.
 */
#ifndef DRPLAY_RUN_INTERNAL_H
#define DRPLAY_RUN_INTERNAL_H

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>

#include "action.h"
#include "expr.h"
#include "guard.h"
#include "journal.h"
#include "plan.h"

enum outcome { O_PENDING, O_OK, O_FAILED, O_SKIPPED, O_INTERRUPTED, O_REFUSED };
const char *outcome_name(enum outcome o);

struct step_state {
	enum outcome outcome;
	json_t *outputs;      /* the action's outputs (object), also for failures */
	char *error;
	char *reason;         /* why it was skipped or refused */
	int64_t dur_us;
	int64_t started_us;
	int attempts;
	unsigned flags;       /* effective flags when it ran */
	struct rset targets;  /* resources it touched */
	int nothing_changed;  /* a state-changing step that failed before changing anything */
};

struct run {
	const struct playbook *pb;
	unsigned mode;
	json_t *params;        /* resolved, typed params */
	char run_id[64];
	int64_t started_us, started_mono;
	struct journal *journal;
	int json;              /* --json: events on stdout, no transcript */
	int quiet;
	int tty;               /* stderr is a terminal (progress bars) */
	char **approve;
	size_t napprove;
	struct step_state *ss;
	struct resource *res;  /* one per declared resource */
	int *res_state;        /* 0 unresolved, 1 resolving, 2 resolved, -1 failed */
	char *tmpdir;
	json_t *created;       /* {"kind": ["name", ...]} made by this run */
	json_t *res_taint;     /* {"resource": {"field": true}}: fields made from secrets */
	json_t *hidden_env;    /* {"NAME": true}: variables no child inherits (secrets) */
	unsigned char *snapped; /* per resource: a safety snapshot of it passed */
	int state_changed;
	int stopped;
	int gate_failed;
	int interrupted;
	pid_t *children;       /* process groups of running children */
	size_t nchildren, achildren;
};

struct act {
	struct run *run;
	const struct step *st;
	struct step_state *ss;
	json_t *args;          /* resolved arguments, defaults applied */
	json_t *outputs;
	char *error;
	int64_t deadline;      /* monotonic microseconds, 0 = none */
	int sig_base;          /* signals seen before this step started */
	int shielded;          /* act_shield: cancellation ignores the deadline */
	int shield_base;       /* ... and the signals seen before the shield */
	int unchanged;         /* act_unchanged: nothing changed yet */
	/* progress */
	char phase[64];
	uint64_t pdone, ptotal;
	int64_t pstart, plast;
	int bar_open;
	json_t *progress;      /* last figures per phase, for the journal */
};

/* Signals received so far (SIGINT/SIGTERM), and the last one. */
extern volatile sig_atomic_t run_signals;
extern volatile sig_atomic_t run_last_signal;

/* The run-time resolver for ${...} and expressions (run.c). */
int run_resolve(void *ud, const char *root, const char *name, struct value *out, char **err);
/* The evaluation context of a run: its resolver, and every value computed
 * from a secret (a template part, a resource field) registered for masking. */
struct eval_ctx run_ctx(struct run *r);
/* Resolves resource i of the run (fields interpolated, typed). NULL with
 * *err set when it cannot. */
struct resource *run_resource(struct run *r, size_t i, char **err);
/* Ends every running child process group (TERM, then KILL after grace). */
void run_kill_children(struct run *r);
/* Prints a line of the transcript (masked), unless --json. */
void run_say(struct run *r, const char *fmt, ...) PRINTF_LIKE(2, 3);
/* Ends an open progress bar line on the terminal. */
void act_progress_end(struct act *a);

#endif
