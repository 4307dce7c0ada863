/*
 * run_internal.h: the executor's state, shared by its layers: process
 * control (proc.c), value resolution (resolve.c), the action API (act.c)
 * and the run loop (run.c, with its planning in prepare.c). Nothing in
 * stdlib/ includes this file: actions see only action.h.
 */
#ifndef DRPLAY_RUN_INTERNAL_H
#define DRPLAY_RUN_INTERNAL_H

#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>

#include "action.h"
#include "expr.h"
#include "fail.h"
#include "guard.h"
#include "journal.h"
#include "plan.h"
#include "proc.h"

enum outcome { O_PENDING, O_OK, O_FAILED, O_SKIPPED, O_INTERRUPTED, O_REFUSED };
/* "ok", "failed", "skipped", "interrupted", "refused" or "pending". */
const char *outcome_name(enum outcome o);

struct step_state {
	enum outcome outcome;
	json_t *outputs;      /* the action's outputs (object), also for failures */
	char *error;          /* why it failed or was refused: the failure's message */
	char *reason;         /* why it was skipped */
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
	int *res_state;        /* 0 unresolved, 1 resolving, 2 resolved */
	char *tmpdir;
	json_t *created;       /* {"kind": ["name", ...]} made by this run */
	json_t *res_taint;     /* {"resource": {"field": true}}: fields made from secrets */
	json_t *hidden_env;    /* {"NAME": true}: variables no child inherits (secrets) */
	json_t *tools;         /* {"basename": "argv[0]"}: programs the run's steps started */
	const char *authorized_with; /* disaster mode: "--authorize-file" or "--authorize" */
	unsigned char *snapped; /* per resource: a safety snapshot of it passed */
	int state_changed;
	int throwaway_changed; /* a step made or removed only the run's own objects */
	int stopped;
	const char *stopped_at;  /* the step the run stopped at */
	int gate_failed;
	const char *gate_at;     /* the first gate that failed */
	int interrupted;
	struct children children; /* process groups of running children */
};

struct act {
	struct run *run;
	const struct step *st;
	struct step_state *ss;
	json_t *args;          /* resolved arguments, defaults applied */
	json_t *outputs;
	struct fail fail;      /* act_fail's: the step's failure, when set */
	int64_t deadline;      /* monotonic microseconds, 0 = none */
	int sig_base;          /* signals seen before this step started */
	int shielded;          /* act_shield: cancellation ignores the deadline */
	int shield_base;       /* ... and the signals seen before the shield */
	int unchanged;         /* act_unchanged: nothing changed yet */
	int confined;          /* act_created/act_removed: it changed only the run's own objects */
	/* progress */
	char phase[64];
	uint64_t pdone, ptotal;
	int64_t pstart, plast;
	int64_t started;       /* monotonic microseconds, when the attempt began */
	int64_t jlast;         /* the last progress event journaled */
	int bar_open;
	json_t *progress;      /* last figures per phase, for the journal */
};

/* Prints a line of the transcript (masked), unless --json (summary.c). */
void run_say(struct run *r, const char *fmt, ...) PRINTF_LIKE(2, 3);
/* Ends an open progress bar line on the terminal (act.c). */
void act_progress_end(struct act *a);

#endif
