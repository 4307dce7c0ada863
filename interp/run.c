/*
 * run.c: the run loop, the executor's top layer (on the action API, value
 * resolution and process control beneath it). drplay_run goes through its
 * phases in order: plan and authorize (prepare.c), lock and journal, the
 * loop over the steps, the outcome. Steps run in order under these rules
 * (SPEC.md, "Execution"), each of them decided in guard.c:
 *   - a failed gate (or verify) step stops the run; later steps are skipped
 *     except `always` ones, and a maintenance_off step never runs after a
 *     failed gate or verify, even when marked `always`;
 *   - a destructive step on a live resource in validation mode, or a
 *     destructive restore on a live resource with no safety snapshot of it
 *     taken earlier in this run, is refused when it is reached (the static
 *     lint catches these before the run when the target is known);
 *   - SIGINT, SIGTERM, SIGHUP and SIGQUIT end the running step's children,
 *     skip to the `always` steps other than maintenance_off, and exit 130;
 *     SIGPIPE is ignored during the run: a transcript reader that goes away
 *     ends the transcript, not the run (the journal stays the record).
 * Everything printed and journaled goes through the redaction registry.
 */
#include "run.h"

#include <ftw.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "prepare.h"
#include "resolve.h"
#include "run_internal.h"
#include "summary.h"
#include "text.h"
#include "util.h"
#include "version.h"

/* ---- one step ---- */

static void journal_step(struct run *r, const char *event, const struct step *st, json_t *extra)
{
	json_t *f = json_object();
	json_object_set_new(f, "step", json_string(st->id));
	json_object_set_new(f, "index", json_integer((json_int_t)st->index + 1));
	json_object_set_new(f, "action", json_string(st->def->name));
	json_object_set_new(f, "category", json_string(category_name(st->def->cat)));
	if (st->gate)
		json_object_set_new(f, "gate", json_true());
	if (st->always)
		json_object_set_new(f, "always", json_true());
	if (extra) {
		json_object_update(f, extra);
		json_decref(extra);
	}
	journal_event(r->journal, event, f);
}

static void skip_step(struct run *r, const struct step *st, const char *reason)
{
	struct step_state *ss = &r->ss[st->index];
	ss->outcome = O_SKIPPED;
	ss->reason = xstrdup(reason);
	run_say(r, "[%zu/%zu] %s: %s  skipped: %s\n", st->index + 1, r->pb->nsteps, st->id, st->def->name, reason);
	journal_step(r, "step_skip", st, json_pack("{s:o}", "reason", json_text(reason)));
}

/* The run-time guards over the step's resolved arguments (g). Returns 0
 * when it may run; else records the refusal and returns -1. */
static int refuse_step(struct run *r, const struct step *st, struct guard_step *g)
{
	struct step_state *ss = &r->ss[st->index];
	struct guard_sink gs = { 0 };
	guard_destructive(g, &gs);
	guard_restore(g, r->snapped, &gs);
	if (!gs.refusal)
		return 0;
	ss->outcome = O_REFUSED;
	ss->error = gs.refusal;
	run_say(r, "[%zu/%zu] %s: %s\n      REFUSED: %s\n", st->index + 1, r->pb->nsteps, st->id, st->def->name,
		ss->error);
	journal_step(r, "step_end", st, json_pack("{s:s,s:o,s:f}", "outcome", "refused", "error", json_text(ss->error),
					    "duration_s", 0.0));
	return -1;
}

/* One attempt of the action; signals up to sig_base were seen before it
 * (an `always` step running after an interruption). Returns 1 when the
 * step is done (it passed, was interrupted, or this was its last attempt),
 * 0 to retry. Sets bit 1 of *changed when the attempt changed state, bit 2
 * when what it changed was only objects of this run (act_created). */
static int attempt(struct run *r, const struct step *st, json_t *args, unsigned flags, int at, int sig_base,
		   int *changed)
{
	struct step_state *ss = &r->ss[st->index];
	struct act a = { 0 };
	a.run = r;
	a.st = st;
	a.ss = ss;
	a.args = args;
	a.outputs = json_object();
	a.progress = json_object();
	a.started = mono_us();
	a.sig_base = sig_base;
	if (st->timeout_us)
		a.deadline = mono_us() + st->timeout_us;
	ss->attempts = at;
	int rc = st->def->run(&a);
	act_progress_end(&a);
	/* a failed attempt that said it changed nothing changed nothing */
	int failed = rc != ACT_OK || fail_is_set(&a.fail);
	if ((flags & A_STATE) && !(failed && a.unchanged))
		*changed |= a.confined ? 2 : 1;
	int timed_out = a.deadline && mono_us() > a.deadline;
	int interrupted = run_signals > a.sig_base;
	if (!failed) {
		json_decref(ss->outputs);
		ss->outputs = a.outputs;
		ss->outcome = O_OK;
		if (json_object_size(a.progress))
			json_object_set_new(ss->outputs, "_progress", a.progress);
		else
			json_decref(a.progress);
		return 1;
	}
	/* the step's failure: why it stopped, then what the action said */
	const char *said = act_error(&a);
	free(ss->error);
	if (interrupted) {
		ss->error = xasprintf("interrupted by %s%s%s", signal_name(run_last_signal), said ? ": " : "",
				      said ? said : "");
		ss->outcome = O_INTERRUPTED;
	} else if (timed_out) {
		char d[32];
		ss->error = xasprintf("timed out after %s (timeout: %s)%s%s", fmt_duration(st->timeout_us, d, sizeof(d)),
				      d, said ? "; " : "", said ? said : "");
		ss->outcome = O_FAILED;
	} else {
		ss->error = said ? fail_detach(&a.fail) : xstrdup("the action failed without saying why");
		ss->outcome = O_FAILED;
	}
	fail_release(&a.fail);
	json_decref(ss->outputs);
	ss->outputs = a.outputs;
	json_decref(a.progress);
	return ss->outcome == O_INTERRUPTED || at == st->retries + 1;
}

/* Waits before attempt at+1 (the delay doubles per attempt, up to an hour).
 * Returns 0, or -1 when interrupted while waiting (recorded). */
static int retry_wait(struct run *r, const struct step *st, int at, int sig_base)
{
	struct step_state *ss = &r->ss[st->index];
	int64_t delay = st->retry_delay_us;
	for (int k = 1; k < at && delay < 3600LL * 1000000; k++)
		delay *= 2;
	char d[32];
	run_say(r, "      attempt %d of %d failed: %s; retrying in %s\n", at, st->retries + 1, ss->error,
		fmt_duration(delay, d, sizeof(d)));
	journal_step(r, "retry", st, json_pack("{s:i,s:o,s:f}", "attempt", at, "error", json_text(ss->error),
					 "delay_s", (double)delay / 1e6));
	struct act w = { 0 };
	w.run = r;
	w.st = st;
	w.sig_base = sig_base;
	if (act_sleep(&w, delay) == 0)
		return 0;
	free(ss->error);
	ss->error = xstrdup("interrupted while waiting to retry");
	ss->outcome = O_INTERRUPTED;
	return -1;
}

/* The end of a step that ran: what it changed, the transcript line and
 * the journal's step_end. */
static void end_step(struct run *r, const struct step *st, unsigned flags, int changed, int64_t t0)
{
	struct step_state *ss = &r->ss[st->index];
	const struct playbook *pb = r->pb;
	if (flags & A_STATE) {
		if (changed & 1)
			r->state_changed = 1;
		else if (changed)
			r->throwaway_changed = 1;
		else if (ss->outcome != O_OK)
			ss->nothing_changed = 1;
	}
	ss->dur_us = mono_us() - t0;
	char secs[32];
	snprintf(secs, sizeof(secs), "%.2fs", (double)ss->dur_us / 1e6);
	if (ss->outcome == O_OK)
		run_say(r, "      ok (%s)\n", secs);
	else
		run_say(r, "      %s (%s%s): %s\n", ss->outcome == O_INTERRUPTED ? "INTERRUPTED" : "FAILED", secs,
			ss->nothing_changed ? ", nothing changed" : "", ss->error);
	json_t *extra = json_object();
	json_object_set_new(extra, "outcome", json_string(outcome_name(ss->outcome)));
	json_object_set_new(extra, "duration_s", json_real((double)ss->dur_us / 1e6));
	json_object_set_new(extra, "attempts", json_integer(ss->attempts));
	json_object_set_new(extra, "state_changing", json_boolean((flags & A_STATE) != 0));
	if (ss->nothing_changed)
		json_object_set_new(extra, "changed", json_false());
	if (ss->error)
		json_object_set_new(extra, "error", json_text(ss->error));
	if (ss->outputs)
		json_object_set(extra, "outputs", ss->outputs);
	if (ss->targets.n) {
		json_t *t = json_array();
		for (size_t i = 0; i < ss->targets.n; i++)
			json_array_append_new(t, json_string(pb->resources[ss->targets.v[i]].name));
		json_object_set_new(extra, "targets", t);
	}
	json_t *kept = kept_names(st->def, ss->outputs);
	if (json_array_size(kept))
		json_object_set(extra, "kept", kept);
	json_decref(kept);
	journal_step(r, "step_end", st, extra);
}

/* Runs one step with its retries. Sets the step's outcome. */
static void exec_step(struct run *r, const struct step *st)
{
	struct step_state *ss = &r->ss[st->index];
	int64_t t0 = mono_us();
	ss->started_us = now_us();
	struct fail f = FAIL_INIT;
	json_t *args = resolve_args(r, st, &f);
	unsigned flags = 0;
	struct guard_step g;
	if (args) {
		struct argq q = { .st = st, .resolved = args };
		flags = action_flags(st->def, &q);
		ss->flags = flags;
		guard_step_run(&g, r->pb, r->mode, st, args, flags);
		guard_step_targets(&g, NULL);
		int refused = refuse_step(r, st, &g);
		ss->targets = g.targets; /* the step keeps them (journal, snapshots) */
		if (refused) {
			json_decref(args);
			return;
		}
	}
	const char *kind = flags & A_DESTRUCT ? "destructive" : flags & A_STATE ? "state-changing" : "read-only";
	run_say(r, "[%zu/%zu] %s: %s%s%s\n", st->index + 1, r->pb->nsteps, st->id, st->def->name,
		st->gate ? "  (gate)" : "", flags & A_DESTRUCT ? "  (destructive)" : "");
	/* read-only steps' events need not reach the disk one by one: the next
	 * state-changing step (or the run's end) syncs them first */
	journal_durable(r->journal, !args || (flags & A_STATE));
	journal_step(r, "step_start", st, json_pack("{s:s,s:b}", "effect", kind, "state_changing", (flags & A_STATE) != 0));
	int changed = 0;
	if (!args) {
		ss->outcome = O_FAILED;
		ss->error = fail_detach(&f);
	} else {
		for (int at = 1;; at++) {
			int sig_base = st->always && r->interrupted ? run_signals : 0;
			if (attempt(r, st, args, flags, at, sig_base, &changed) || retry_wait(r, st, at, sig_base) != 0)
				break;
		}
		if (ss->outcome == O_OK)
			guard_snapshot_taken(&g, r->snapped);
	}
	end_step(r, st, flags, changed, t0);
	fail_release(&f);
	json_decref(args);
}

/* ---- the loop ---- */

/* Records the first interruption: where it happened and by which signal. */
static void note_interrupt(struct run *r, const char *where, int during)
{
	if (r->interrupted)
		return;
	r->interrupted = 1;
	r->stopped = 1;
	const char *sig = signal_name(run_last_signal);
	run_say(r, "interrupted by %s %s step '%s': stopping; only 'always' steps other than maintenance_off run now\n",
		sig, during ? "during" : "before", where);
	journal_durable(r->journal, 1);
	journal_event(r->journal, "interrupted",
		      json_pack("{s:s,s:s,s:s}", "signal", sig, during ? "during_step" : "before_step", where,
				"effect", "maintenance_off steps are skipped; always steps still run"));
}

/* Why step st does not run now (a new string), or NULL when it does: not
 * in this mode, the run stopped (it is not `always`), maintenance must stay
 * on, or a step it requires did not pass. */
static char *skip_reason(struct run *r, const struct step *st)
{
	char *why = mode_skip_reason(st, r->mode);
	if (why)
		return why;
	if (r->stopped && !st->always)
		return r->interrupted && !r->stopped_at ? xstrdup("the run was interrupted")
							: xasprintf("the run stopped at step '%s'", r->stopped_at ? r->stopped_at : "?");
	why = guard_maint_off_held(st, r->gate_failed ? r->gate_at : NULL, r->interrupted);
	if (why)
		return why;
	for (size_t q = 0; q < st->nrequires; q++) {
		const struct step *rs = &r->pb->steps[st->requires[q]];
		if (r->ss[rs->index].outcome != O_OK)
			return xasprintf("requires step '%s', which did not pass (%s)", rs->id,
					 outcome_name(r->ss[rs->index].outcome));
	}
	return NULL;
}

/* Evaluates st's `when:`. Returns 1 when the step runs, 0 when it is
 * skipped, -1 when the expression failed (the step failed: recorded). */
static int when_holds(struct run *r, const struct step *st)
{
	if (!st->when)
		return 1;
	struct eval_ctx ctx = run_ctx(r);
	struct value v;
	char *e = NULL;
	if (expr_eval(st->when, &ctx, &v, &e) != 0) {
		struct step_state *ss = &r->ss[st->index];
		ss->outcome = O_FAILED;
		ss->error = xasprintf("cannot evaluate 'when: %s': %s", expr_text(st->when), e);
		free(e);
		run_say(r, "[%zu/%zu] %s: %s\n      FAILED: %s\n", st->index + 1, r->pb->nsteps, st->id, st->def->name,
			ss->error);
		journal_step(r, "step_end", st, json_pack("{s:s,s:o,s:f}", "outcome", "failed", "error",
						    json_text(ss->error), "duration_s", 0.0));
		return -1;
	}
	int t = value_truthy(&v);
	value_release(&v);
	if (!t) {
		char *why = xasprintf("'when: %.150s' is false", expr_text(st->when));
		skip_step(r, st, why);
		free(why);
	}
	return t;
}

/* After step st ended without passing: an interruption, a failed gate
 * (which stops the run and keeps maintenance on), a tolerated failure, or
 * a failure that stops the run. */
static void after_failure(struct run *r, const struct step *st)
{
	struct step_state *ss = &r->ss[st->index];
	if (ss->outcome == O_INTERRUPTED) {
		note_interrupt(r, st->id, 1);
		if (!r->stopped_at)
			r->stopped_at = st->id;
		return;
	}
	if (guard_stops_run(st, ss->outcome == O_REFUSED)) {
		if (!r->gate_failed)
			r->gate_at = st->id;
		r->gate_failed = 1;
		journal_durable(r->journal, 1);
		journal_step(r, "gate_failed", st, json_pack("{s:o}", "error", json_text(ss->error ? ss->error : "")));
		if (guard_stops_run(st, 0))
			run_say(r, "      gate failed: the run stops here; later steps are skipped except 'always' ones, and maintenance is never lifted\n");
	} else if (st->cont) {
		run_say(r, "      on_failure: continue; the run goes on\n");
		return;
	}
	if (!r->stopped) {
		r->stopped = 1;
		r->stopped_at = st->id;
	}
}

static void run_steps(struct run *r)
{
	for (size_t i = 0; i < r->pb->nsteps; i++) {
		const struct step *st = &r->pb->steps[i];
		if (run_signals && !r->interrupted)
			note_interrupt(r, st->id, 0);
		char *why = skip_reason(r, st);
		if (why) {
			skip_step(r, st, why);
			free(why);
			continue;
		}
		int go = when_holds(r, st);
		if (go == 0)
			continue;
		if (go > 0)
			exec_step(r, st);
		if (r->ss[i].outcome != O_OK)
			after_failure(r, st);
	}
}

/* ---- the outcome ---- */

/* What the run leaves: the steps folded (summary.c). */
static void run_left_of(const struct run *r, struct run_left *left)
{
	left_init(left);
	for (size_t i = 0; i < r->pb->nsteps; i++) {
		const struct step *st = &r->pb->steps[i];
		json_t *k = kept_names(st->def, r->ss[i].outputs);
		left_step(left, st->id, category_name(st->def->cat), r->ss[i].outcome == O_OK, k);
		json_decref(k);
	}
}

static void journal_run_end(struct run *r, const struct tally *t, const struct run_left *left, const char *kept,
			    double secs)
{
	json_t *f = json_object();
	json_object_set_new(f, "outcome", json_string(t->outcome));
	json_object_set_new(f, "exit_code", json_integer(t->rc));
	json_object_set_new(f, "duration_s", json_real(secs));
	json_object_set_new(f, "state_changed", json_boolean(run_changed(r)));
	json_object_set_new(f, "interrupted", json_boolean(r->interrupted));
	json_object_set_new(f, "steps_ok", json_integer(t->ok));
	json_object_set_new(f, "steps_failed", json_integer(t->failed));
	json_object_set_new(f, "steps_tolerated", json_integer(t->tolerated));
	json_object_set_new(f, "steps_skipped", json_integer(t->skipped));
	if (t->failed_step)
		json_object_set_new(f, "stopped_at", json_string(r->stopped_at ? r->stopped_at : t->failed_step));
	if (left->maint)
		json_object_set_new(f, "maintenance", json_string(left->maint));
	if (*kept)
		json_object_set_new(f, "preserved", json_string(kept));
	journal_durable(r->journal, 1);
	journal_event(r->journal, "run_end", f);
}

static void say_outcome(struct run *r, const struct tally *t, const struct run_left *left, const char *kept,
			double secs)
{
	struct strbuf tol = STRBUF_INIT;
	if (t->tolerated)
		sb_addf(&tol, " (%d tolerated: on_failure: continue)", t->tolerated);
	run_say(r, "run %s %s: %d ok, %d failed%s, %d skipped in %.2fs (exit %d)\n", r->run_id, t->outcome, t->ok,
		t->failed, sb_str(&tol), t->skipped, secs, t->rc);
	sb_release(&tol);
	if (t->rc == EXIT_NO_OUTAGE) {
		int unchanged = 0; /* the step that stopped the run is state-changing but changed nothing */
		for (size_t i = 0; i < r->pb->nsteps; i++)
			if (t->failed_step && !strcmp(r->pb->steps[i].id, t->failed_step))
				unchanged = r->ss[i].nothing_changed;
		run_say(r, unchanged ? "nothing changed: the run stopped at step '%s', which failed before it changed anything (no outage)\n"
			   : r->throwaway_changed ? "nothing changed: the run stopped at step '%s'; the throwaway copies it made were removed again (no outage)\n"
				     : "nothing changed: the run stopped at step '%s' before any state-changing step (no outage)\n",
			t->failed_step);
	}
	if (left->maint)
		run_say(r, "maintenance is %s (step '%s')%s\n", left->maint, left->maint_step,
			!strcmp(left->maint, "ON") && t->rc ? "; it stays on until a verified restore: lift it by hand only then" : "");
	if (*kept)
		run_say(r, "preserved states (never deleted by a run): %s\n", kept);
}

/* The run's end: run_end and the transcript's last lines. Returns the
 * exit code. */
static int run_outcome(struct run *r)
{
	struct tally t;
	run_tally(r, NULL, &t);
	double secs = (double)(mono_us() - r->started_mono) / 1e6;
	struct run_left left;
	run_left_of(r, &left);
	char *kept = left_kept_text(&left);
	journal_run_end(r, &t, &left, kept, secs);
	say_outcome(r, &t, &left, kept, secs);
	free(kept);
	left_release(&left);
	return t.rc;
}

/* ---- lock and journal ---- */

struct record {
	char *dir;   /* the journal directory */
	int lockfd;  /* the playbook's lock, -1 when none */
};

/* Takes the playbook's lock (not for a one-step run: a person may flip
 * maintenance while a run holds it) and opens the journal (unless the
 * command leaves none). Returns 0, or the exit code after saying why. */
static int open_record(struct run *r, const struct run_opts *o, struct record *rec)
{
	rec->dir = journal_default_dir(o->journal_dir);
	rec->lockfd = -1;
	struct fail f = FAIL_INIT;
	int locked = o->one_def || journal_lock(rec->dir, r->pb->name, r->run_id, &rec->lockfd, &f) == 0;
	if (locked && !o->no_journal && !(r->journal = journal_open(rec->dir, r->run_id, &f)))
		journal_unlock(rec->lockfd);
	/* a one-step command's --json is one document at its end */
	if (r->journal)
		journal_echo(r->journal, o->json && !o->one_def);
	int rc = 0;
	if (fail_is_set(&f)) {
		fail_suffix(&f, "; nothing ran");
		rc = fail_print(&f, "drplay");
		free(rec->dir);
	}
	fail_release(&f);
	return rc;
}

static void close_record(struct run *r, struct record *rec)
{
	journal_close(r->journal);
	r->journal = NULL;
	journal_unlock(rec->lockfd);
	free(rec->dir);
}

static void journal_run_start(struct run *r, const struct run_opts *o)
{
	const struct playbook *pb = r->pb;
	struct passwd *pw = getpwuid(getuid());
	json_t *f = json_object();
	json_object_set_new(f, "run", json_string(r->run_id));
	json_object_set_new(f, "playbook", json_string(pb->name));
	json_object_set_new(f, "file", json_text(pb->file));
	json_object_set_new(f, "sha256", json_string(pb->doc->sha256));
	json_object_set_new(f, "mode", json_string(mode_name(r->mode)));
	json_object_set(f, "params", r->params);
	json_object_set_new(f, "steps", json_integer((json_int_t)pb->nsteps));
	json_object_set_new(f, "drplay", json_string(DRPLAY_VERSION));
	json_object_set_new(f, "format", json_string("drplay.journal/1"));
	json_object_set_new(f, "pid", json_integer(getpid()));
	json_object_set_new(f, "user", json_string(pw ? pw->pw_name : "?"));
	if (o->command)
		json_object_set_new(f, "command", json_string(o->command));
	if (pb->rto_us)
		json_object_set_new(f, "objective_rto_s", json_real((double)pb->rto_us / 1e6));
	if (pb->rpo_us)
		json_object_set_new(f, "objective_rpo_s", json_real((double)pb->rpo_us / 1e6));
	journal_event(r->journal, "run_start", f);
}

/* The run proper, once planned and authorized: lock and journal, the loop,
 * the outcome. Returns the exit code. */
static int run_recorded(struct run *r, const struct run_opts *o)
{
	struct record rec;
	int rc = open_record(r, o, &rec);
	if (rc)
		return rc;
	struct signal_save sig;
	proc_signals_catch(&sig);
	journal_run_start(r, o);
	run_say(r, "drplay %s %s: playbook '%s' (%s), %s mode\n", o->command ? o->command : "run", r->run_id,
		r->pb->name, r->pb->file, mode_name(r->mode));
	if (r->journal)
		run_say(r, "journal: %s\n", journal_path(r->journal));
	run_steps(r);
	rc = run_outcome(r);
	if (o->json && o->one_def)
		print_command_json(r, o, rc);
	if (ferror(stdout))
		warn_print("the transcript could not be written to standard output (was it closed?); the run went on%s%s%s",
			   r->journal ? ", and the journal '" : "", r->journal ? journal_path(r->journal) : "",
			   r->journal ? "' is its record" : "");
	children_end_all(&r->children);
	proc_signals_restore(&sig);
	close_record(r, &rec);
	return rc;
}

/* ---- the run's state ---- */

static void run_init(struct run *r, const struct run_opts *o)
{
	const struct playbook *pb = r->pb;
	r->started_us = now_us();
	r->started_mono = mono_us();
	char ts[32], rnd[9];
	fmt_timestamp_compact(r->started_us, ts, sizeof(ts));
	random_hex(rnd, 4);
	snprintf(r->run_id, sizeof(r->run_id), "%s-%s", ts, rnd);
	r->ss = xcalloc(pb->nsteps + 1, sizeof(*r->ss));
	r->res = xcalloc(pb->nresources + 1, sizeof(*r->res));
	r->res_state = xcalloc(pb->nresources + 1, sizeof(*r->res_state));
	r->snapped = xcalloc(pb->nresources + 1, 1);
	for (size_t i = 0; i < pb->nresources; i++) {
		r->res[i].name = pb->resources[i].name;
		r->res[i].kind = pb->resources[i].kind;
		r->res[i].live = pb->resources[i].live;
		r->res[i].throwaway = pb->resources[i].throwaway;
		r->res[i].fields = json_object();
	}
	r->created = json_object();
	r->tools = json_object();
	r->res_taint = json_object();
	r->hidden_env = hidden_env(pb);
	r->json = o->json;
	r->tty = isatty(STDERR_FILENO);
	r->approve = o->approve;
	r->napprove = o->napprove;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void run_release(struct run *r)
{
	const struct playbook *pb = r->pb;
	for (size_t i = 0; i < pb->nresources; i++) {
		if (r->res[i].handle && r->res[i].kind && r->res[i].kind->release)
			r->res[i].kind->release(r->res[i].handle);
		json_decref(r->res[i].fields);
	}
	for (size_t i = 0; i < pb->nsteps; i++) {
		json_decref(r->ss[i].outputs);
		free(r->ss[i].error);
		free(r->ss[i].reason);
		rset_release(&r->ss[i].targets);
	}
	if (r->tmpdir) {
		nftw(r->tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		free(r->tmpdir);
	}
	free(r->ss);
	free(r->res);
	free(r->res_state);
	free(r->snapped);
	children_release(&r->children);
	json_decref(r->created);
	json_decref(r->tools);
	json_decref(r->res_taint);
	json_decref(r->hidden_env);
}

int drplay_run(const struct run_opts *o)
{
	struct diags d;
	diags_init(&d);
	struct run r = { 0 };
	struct playbook *pb = NULL;
	int rc = prepare_plan(o, &d, &pb, &r);
	if (rc == 0) {
		run_init(&r, o);
		rc = prepare_authorize(&r, o);
		if (rc == 0 && o->dry_run && o->json)
			print_plan_json(&r, &d);
		else if (rc == 0 && o->dry_run)
			print_plan(&r);
		else if (rc == 0)
			rc = run_recorded(&r, o);
		run_release(&r);
	}
	json_decref(r.params);
	playbook_free(pb);
	diags_release(&d);
	return rc;
}
