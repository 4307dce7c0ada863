/*
 * act.c: the action API (action.h) as the executor provides it, the third
 * layer, on value resolution (resolve.h) and process control (proc.h):
 * typed parameters, resources, outputs, failure, logging and progress
 * through the redaction registry, cancellation, expressions and approvals,
 * the run record reports read, and subprocesses (act_run and friends, on
 * proc_spawn: an argv array, never a shell, each child in its own process
 * group so that an interruption or a timeout ends it and what it started).
 * The run loop (run.c) sits on top and hands each step a struct act.
 */

#include "run_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"
#include "redact.h"
#include "relay.h"
#include "resolve.h"
#include "run.h"
#include "summary.h"
#include "text.h"
#include "util.h"
#include "version.h"

/* ---- parameters ---- */

static json_t *arg(struct act *a, const char *name)
{
	return json_object_get(a->args, name);
}

int act_has(struct act *a, const char *name)
{
	json_t *v = arg(a, name);
	return v && !json_is_null(v);
}

const char *act_str(struct act *a, const char *name)
{
	return json_string_value(arg(a, name));
}

int64_t act_int(struct act *a, const char *name, int64_t def)
{
	json_t *v = arg(a, name);
	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_real(v))
		return (int64_t)json_real_value(v);
	return def;
}

double act_number(struct act *a, const char *name, double def)
{
	json_t *v = arg(a, name);
	return json_is_number(v) ? json_number_value(v) : def;
}

int act_bool(struct act *a, const char *name, int def)
{
	json_t *v = arg(a, name);
	return json_is_boolean(v) ? json_is_true(v) : def;
}

static int64_t dur_of(json_t *v, int64_t def)
{
	int64_t us;
	if (json_is_integer(v))
		return duration_from_secs(json_integer_value(v), &us) == 0 ? us : def;
	if (json_is_string(v) && parse_duration(json_string_value(v), &us) == 0)
		return us;
	return def;
}

int64_t act_duration_us(struct act *a, const char *name, int64_t def)
{
	return dur_of(arg(a, name), def);
}

int64_t act_timestamp_us(struct act *a, const char *name, int64_t def)
{
	int64_t us;
	json_t *v = arg(a, name);
	if (json_is_string(v) && parse_timestamp(json_string_value(v), &us) == 0)
		return us;
	return def;
}

json_t *act_json(struct act *a, const char *name)
{
	json_t *v = arg(a, name);
	return v && !json_is_null(v) ? v : NULL;
}

/* ---- resources ---- */

struct resource *act_resource_named(struct act *a, const char *name)
{
	if (!name) {
		act_fail(a, "no resource given");
		return NULL;
	}
	const struct resource_def *rd = playbook_resource(a->run->pb, name);
	if (!rd) {
		act_fail(a, "resource '%s' is not declared in the playbook; declare it under 'resources:'", name);
		return NULL;
	}
	struct fail f = FAIL_INIT;
	struct resource *r = run_resource(a->run, (size_t)(rd - a->run->pb->resources), &f);
	if (!r)
		act_fail(a, "resource '%s': %s", name, fail_text(&f));
	fail_release(&f);
	return r;
}

struct resource *act_resource(struct act *a, const char *param)
{
	const char *name = act_str(a, param);
	if (!name) {
		act_fail(a, "parameter '%s' names no resource", param);
		return NULL;
	}
	return act_resource_named(a, name);
}

const char *res_str(const struct resource *r, const char *field)
{
	return json_string_value(json_object_get(r->fields, field));
}

int64_t res_int(const struct resource *r, const char *field, int64_t def)
{
	json_t *v = json_object_get(r->fields, field);
	return json_is_integer(v) ? json_integer_value(v) : def;
}

int res_bool(const struct resource *r, const char *field, int def)
{
	json_t *v = json_object_get(r->fields, field);
	return json_is_boolean(v) ? json_is_true(v) : def;
}

int64_t res_duration_us(const struct resource *r, const char *field, int64_t def)
{
	return dur_of(json_object_get(r->fields, field), def);
}

void *res_handle(struct resource *r)
{
	return r->handle;
}

void res_set_handle(struct resource *r, void *handle)
{
	r->handle = handle;
}

/* ---- outputs, failure, logging ---- */

void act_out(struct act *a, const char *name, json_t *v)
{
	if (!v)
		v = json_null();
	json_object_set_new(a->outputs, name, v);
}

void act_out_str(struct act *a, const char *name, const char *s)
{
	act_out(a, name, json_text(s));
}

void act_out_int(struct act *a, const char *name, int64_t n)
{
	act_out(a, name, json_integer(n));
}

void act_out_bool(struct act *a, const char *name, int b)
{
	act_out(a, name, json_boolean(b));
}

void act_out_time(struct act *a, const char *name, int64_t us)
{
	char buf[40];
	act_out_str(a, name, fmt_timestamp(us, buf, sizeof(buf)));
}

void act_out_dur(struct act *a, const char *name, int64_t us)
{
	char buf[40];
	act_out_str(a, name, fmt_duration(us, buf, sizeof(buf)));
}

int act_fail(struct act *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *raw = xvasprintf(fmt, ap);
	va_end(ap);
	/* Valid UTF-8 (a server's message may not be), so the reason reaches
	 * the journal, status and every report; one line: trailing whitespace
	 * dropped, inner line breaks flattened. */
	char *m = text_utf8(raw, strlen(raw));
	free(raw);
	size_t n = strlen(m);
	while (n && (m[n - 1] == '\n' || m[n - 1] == '\r' || m[n - 1] == ' '))
		m[--n] = '\0';
	for (char *p = m; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	fail_set(&a->fail, EXIT_STEP_FAILED, "%s", m);
	a->fail.step = a->st->id;
	free(m);
	return ACT_FAIL;
}

void act_unchanged(struct act *a)
{
	a->unchanged = 1;
}

void act_changing(struct act *a)
{
	a->unchanged = 0;
}

const char *act_error(struct act *a)
{
	return fail_is_set(&a->fail) ? fail_text(&a->fail) : NULL;
}

void act_log(struct act *a, const char *fmt, ...)
{
	va_list ap, ap2;
	va_start(ap, fmt);
	va_copy(ap2, ap);
	char *raw = xvasprintf(fmt, ap);
	va_end(ap);
	/* For the terminal: the values masked and escaped, the format's own
	 * line breaks kept, each line indented under its step. */
	char *shown = redact_vformat(fmt, ap2);
	va_end(ap2);
	act_progress_end(a);
	size_t n = strlen(shown);
	while (n && shown[n - 1] == '\n')
		shown[--n] = '\0';
	for (const char *p = shown;;) {
		size_t len = strcspn(p, "\n");
		char *line = xstrndup(p, len);
		run_say(a->run, "      %s\n", line);
		free(line);
		if (!p[len])
			break;
		p += len + 1;
	}
	free_secret(shown);
	/* For the journal: the message as it is, made valid UTF-8. */
	char *m = text_utf8(raw, strlen(raw));
	free(raw);
	n = strlen(m);
	while (n && (m[n - 1] == '\n' || m[n - 1] == '\r'))
		m[--n] = '\0';
	json_t *f = json_object();
	json_object_set_new(f, "step", json_string(a->st->id));
	json_object_set_new(f, "message", json_text(m));
	journal_event(a->run->journal, "log", f);
	free(m);
}

void act_journal(struct act *a, const char *event, json_t *fields)
{
	if (!fields)
		fields = json_object();
	json_object_set_new(fields, "step", json_string(a->st->id));
	journal_event(a->run->journal, event, fields);
}

void act_secret(struct act *a, const char *s)
{
	(void)a;
	redact_register(s);
}

void act_secret_url_password(struct act *a, const char *url)
{
	const char *s = url ? strstr(url, "://") : NULL;
	const char *at = url ? strrchr(url, '@') : NULL;
	if (!s || !at || at < s)
		return;
	const char *colon = memchr(s + 3, ':', (size_t)(at - (s + 3)));
	if (!colon || colon + 1 == at)
		return;
	char *pw = xstrndup(colon + 1, (size_t)(at - colon - 1));
	act_secret(a, pw);
	free_secret(pw);
}

char *act_masked(struct act *a, const char *s)
{
	(void)a;
	return redact(s);
}

void act_prompt(struct act *a, const char *fmt, ...)
{
	(void)a;
	va_list ap;
	va_start(ap, fmt);
	redact_vfprintf(stderr, fmt, ap);
	va_end(ap);
	fflush(stderr);
}

void act_progress_end(struct act *a)
{
	if (a->bar_open) {
		fputc('\n', stderr);
		a->bar_open = 0;
	}
}

/* A `progress` event in the journal, so that a follower (`drplay status
 * --follow`) sees a long step move: the figures and the ETA, once the step
 * has run PROGRESS_JOURNAL_US, then at most one per PROGRESS_JOURNAL_US
 * (a short step journals none: its step_end follows at once). */
#define PROGRESS_JOURNAL_US (2 * 1000000LL)
static void progress_journal(struct act *a, const char *phase, uint64_t done, uint64_t total, double secs,
			     double rate, int64_t now)
{
	if (!a->jlast)
		a->jlast = a->started;
	if (now - a->jlast < PROGRESS_JOURNAL_US)
		return;
	a->jlast = now;
	json_t *f = json_object();
	json_object_set_new(f, "phase", json_string(phase));
	json_object_set_new(f, "done", json_integer((json_int_t)done));
	if (total) {
		json_object_set_new(f, "total", json_integer((json_int_t)total));
		json_object_set_new(f, "percent", json_real(done >= total ? 100.0 : 100.0 * (double)done / (double)total));
	}
	json_object_set_new(f, "unit", json_string("bytes"));
	json_object_set_new(f, "elapsed_s", json_real(secs));
	json_object_set_new(f, "rate_per_s", json_real(rate));
	if (total && rate > 0 && done < total)
		json_object_set_new(f, "eta_s", json_real((double)(total - done) / rate));
	act_journal(a, "progress", f);
}

void act_progress(struct act *a, const char *phase, uint64_t done, uint64_t total)
{
	int64_t now = mono_us();
	if (strncmp(a->phase, phase, sizeof(a->phase) - 1) != 0) {
		act_progress_end(a);
		snprintf(a->phase, sizeof(a->phase), "%s", phase);
		a->pstart = now;
		a->plast = 0;
	}
	a->pdone = done;
	a->ptotal = total;
	double secs = (double)(now - a->pstart) / 1e6;
	double rate = secs > 0 ? (double)done / secs : 0;
	json_t *fig = json_object();
	json_object_set_new(fig, "bytes", json_integer((json_int_t)done));
	if (total)
		json_object_set_new(fig, "total", json_integer((json_int_t)total));
	json_object_set_new(fig, "seconds", json_real(secs));
	json_object_set_new(fig, "rate_bytes_per_s", json_real(rate));
	json_object_set_new(a->progress, phase, fig);
	progress_journal(a, phase, done, total, secs, rate, now);
	int final = total && done >= total;
	if (a->run->json || a->run->quiet)
		return;
	char d[32], t[32], r[32];
	human_size(done, d, sizeof(d));
	human_size(total, t, sizeof(t));
	human_size((uint64_t)rate, r, sizeof(r));
	if (a->run->tty) {
		if (!final && now - a->plast < 200000)
			return;
		a->plast = now;
		char bar[32];
		int w = 20, fill = total ? (int)((double)done / (double)total * w) : 0;
		if (fill > w)
			fill = w;
		for (int i = 0; i < w; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[w] = '\0';
		char eta[32] = "";
		if (total && rate > 0 && done < total)
			snprintf(eta, sizeof(eta), " ETA %.0fs", (double)(total - done) / rate);
		if (total)
			fprintf(stderr, "\r      %-10s [%s] %3.0f%% %s / %s  %s/s%s   ", phase, bar,
				100.0 * (double)done / (double)total, d, t, r, eta);
		else
			fprintf(stderr, "\r      %-10s %s  %s/s   ", phase, d, r);
		a->bar_open = 1;
		if (final)
			act_progress_end(a);
	} else {
		if (!final && a->plast && now - a->plast < 5000000)
			return;
		if (!a->plast && !final && now - a->pstart < 5000000)
			return;
		a->plast = now;
		if (total)
			run_say(a->run, "      %s: %s of %s (%.0f%%), %s/s\n", phase, d, t,
				100.0 * (double)done / (double)total, r);
		else
			run_say(a->run, "      %s: %s, %s/s\n", phase, d, r);
	}
}

/* ---- expressions, approvals and the run record ---- */

int act_expr_truth(struct act *a, const char *name, int *truth, const char **text)
{
	const struct arg *ar = step_arg(a->st, name);
	if (!ar || ar->v->kind != VT_EXPR || !ar->v->expr) {
		act_fail(a, "parameter '%s' is not an expression", name);
		return -1;
	}
	if (text)
		*text = expr_text(ar->v->expr);
	struct eval_ctx ctx = run_ctx(a->run);
	struct value v;
	char *err = NULL;
	if (expr_eval(ar->v->expr, &ctx, &v, &err) != 0) {
		act_fail(a, "cannot evaluate '%s': %s", expr_text(ar->v->expr), err);
		free(err);
		return -1;
	}
	*truth = value_truthy(&v);
	value_release(&v);
	return 0;
}

/* The seconds a step spent in each phase its action declares an output for
 * (OUT_PHASE_*): {"download_s", "replay_s"}, only those it reported. */
static json_t *step_phases(const struct action_def *def, json_t *outputs)
{
	json_t *ph = json_object();
	for (const struct output_spec *o = def->outputs; o && o->name; o++) {
		json_t *v = json_object_get(outputs, o->name);
		if (!json_is_number(v))
			continue;
		if (o->role == OUT_PHASE_DOWNLOAD)
			json_object_set(ph, "download_s", v);
		else if (o->role == OUT_PHASE_REPLAY)
			json_object_set(ph, "replay_s", v);
	}
	return ph;
}

/* Who ran the run and how it was authorized, what it is, which programs it
 * used and where its journal stands: what an evidence document records. */
static void record_provenance(struct run *r, json_t *o)
{
	const struct playbook *pb = r->pb;
	json_object_set_new(o, "playbook_sha256", json_string(pb->doc->sha256));
	json_object_set_new(o, "drplay", json_string(DRPLAY_VERSION));
	struct passwd *pw = getpwuid(getuid());
	const char *sudo = getenv("SUDO_USER");
	json_object_set_new(o, "user", json_text(pw ? pw->pw_name : "?"));
	if (sudo && *sudo)
		json_object_set_new(o, "sudo_user", json_text(sudo));
	json_object_set_new(o, "authorized_with", r->authorized_with ? json_string(r->authorized_with) : json_null());
	/* a copy: asking the tools their versions starts them again, which adds to r->tools */
	json_object_set_new(o, "tools", json_deep_copy(r->tools));
	if (r->journal) {
		long lines;
		const char *chain = journal_chain(r->journal, &lines);
		json_object_set_new(o, "journal", json_pack("{s:o,s:I,s:s}", "path", json_text(journal_path(r->journal)),
							    "lines", (json_int_t)lines, "chain", chain));
	}
}

json_t *act_run_record(struct act *a)
{
	struct run *r = a->run;
	const struct playbook *pb = r->pb;
	char ts[40];
	json_t *o = json_object();
	json_object_set_new(o, "run", json_string(r->run_id));
	json_object_set_new(o, "playbook", json_string(pb->name));
	json_object_set_new(o, "file", json_text(pb->file));
	json_object_set_new(o, "mode", json_string(mode_name(r->mode)));
	json_object_set_new(o, "started_at", json_string(fmt_timestamp(r->started_us, ts, sizeof(ts))));
	json_object_set_new(o, "started_s", json_real((double)r->started_us / 1e6));
	json_object_set_new(o, "now", json_string(fmt_timestamp(now_us(), ts, sizeof(ts))));
	json_object_set_new(o, "now_s", json_real((double)now_us() / 1e6));
	json_t *obj = json_object();
	if (pb->rto_us)
		json_object_set_new(obj, "rto_s", json_real((double)pb->rto_us / 1e6));
	if (pb->rpo_us)
		json_object_set_new(obj, "rpo_s", json_real((double)pb->rpo_us / 1e6));
	json_object_set_new(o, "objectives", obj);
	json_t *steps = json_array();
	for (size_t i = 0; i < pb->nsteps; i++) {
		const struct step *st = &pb->steps[i];
		const struct step_state *ss = &r->ss[i];
		json_t *s = json_object();
		json_object_set_new(s, "id", json_string(st->id));
		json_object_set_new(s, "action", json_string(st->def->name));
		json_object_set_new(s, "category", json_string(category_name(st->def->cat)));
		unsigned f = ss->outcome == O_PENDING || ss->outcome == O_SKIPPED ? st->def->flags : ss->flags;
		json_object_set_new(s, "effect", json_string(f & A_DESTRUCT ? "destructive" : f & A_STATE ? "state-changing"
												  : "read-only"));
		json_object_set_new(s, "gate", json_boolean(st->gate));
		json_object_set_new(s, "always", json_boolean(st->always));
		if (st->desc)
			json_object_set_new(s, "description", json_string(st->desc));
		json_object_set_new(s, "outcome", json_string(st == a->st ? "running" : outcome_name(ss->outcome)));
		if (st != a->st && ss->outcome == O_FAILED && st->cont && !st->gate)
			json_object_set_new(s, "tolerated", json_true());
		if (ss->reason)
			json_object_set_new(s, "reason", json_text(ss->reason));
		if (ss->error)
			json_object_set_new(s, "error", json_text(ss->error));
		if (ss->started_us) {
			json_object_set_new(s, "started_at", json_string(fmt_timestamp(ss->started_us, ts, sizeof(ts))));
			json_object_set_new(s, "started_s", json_real((double)ss->started_us / 1e6));
		}
		if (ss->outcome != O_PENDING && ss->outcome != O_SKIPPED)
			json_object_set_new(s, "duration_s", json_real((double)ss->dur_us / 1e6));
		if (ss->outputs) {
			json_object_set(s, "outputs", ss->outputs);
			json_object_set_new(s, "phases", step_phases(st->def, ss->outputs));
		}
		json_array_append_new(steps, s);
	}
	json_object_set_new(o, "steps", steps);
	record_provenance(r, o);
	/* how the run ends, as far as this step can know: the outcome run_end
	 * will record unless a later step still to run changes it */
	struct tally t;
	run_tally(r, a->st, &t);
	int to_run = 0;
	for (size_t i = a->st->index + 1; i < pb->nsteps; i++) {
		if (r->ss[i].outcome != O_PENDING)
			continue;
		/* a later step out of this mode, or not `always` after the run
		 * stopped, will be skipped: count it so already */
		if ((pb->steps[i].modes & r->mode) && (!r->stopped || pb->steps[i].always))
			to_run++;
		else
			t.skipped++;
	}
	json_object_set_new(o, "outcome", json_string(t.outcome));
	json_object_set_new(o, "exit_code", json_integer(t.rc));
	json_object_set_new(o, "final", json_boolean(to_run == 0));
	if (t.failed_step)
		json_object_set_new(o, "stopped_at", json_string(t.failed_step));
	json_object_set_new(o, "counts", json_pack("{s:i,s:i,s:i,s:i,s:i}", "ok", t.ok, "failed", t.failed,
						   "tolerated", t.tolerated, "skipped", t.skipped, "to_run", to_run));
	return o;
}

int act_preapproved(struct act *a)
{
	for (size_t i = 0; i < a->run->napprove; i++)
		if (!strcmp(a->run->approve[i], a->st->id))
			return 1;
	return 0;
}

/* ---- cancellation and run facts ---- */

int act_cancelled(struct act *a)
{
	if (a->shielded)
		return run_signals > a->shield_base;
	if (run_signals > a->sig_base)
		return 1;
	return a->deadline && mono_us() > a->deadline;
}

void act_shield(struct act *a)
{
	a->shielded = 1;
	a->shield_base = run_signals;
}

int64_t act_remaining_us(struct act *a)
{
	if (!a->deadline || a->shielded)
		return INT64_MAX;
	int64_t left = a->deadline - mono_us();
	return left > 0 ? left : 0;
}

int act_sleep(struct act *a, int64_t us)
{
	int64_t end = mono_us() + us;
	for (;;) {
		if (act_cancelled(a))
			return -1;
		int64_t left = end - mono_us();
		if (left <= 0)
			return 0;
		if (left > 50000)
			left = 50000;
		struct timespec ts = { 0, (long)left * 1000 };
		nanosleep(&ts, NULL);
	}
}

const char *act_run_id(struct act *a)
{
	return a->run->run_id;
}

const char *act_mode(struct act *a)
{
	return mode_name(a->run->mode);
}

const char *act_step_id(struct act *a)
{
	return a->st->id;
}

int64_t act_run_started_us(struct act *a)
{
	return a->run->started_us;
}

const char *act_tmpdir(struct act *a)
{
	struct run *r = a->run;
	if (!r->tmpdir) {
		const char *base = getenv("TMPDIR");
		char *tmpl = xasprintf("%s/drplay-%s-XXXXXX", base && *base ? base : "/tmp", r->run_id);
		if (!mkdtemp(tmpl)) {
			free(tmpl);
			return NULL;
		}
		r->tmpdir = tmpl;
	}
	return r->tmpdir;
}

void act_created(struct act *a, const char *kind, const char *name)
{
	json_t *l = json_object_get(a->run->created, kind);
	if (!l) {
		l = json_array();
		json_object_set_new(a->run->created, kind, l);
	}
	json_array_append_new(l, json_string(name));
	a->confined = 1;
	json_t *f = json_object();
	json_object_set_new(f, "kind", json_string(kind));
	json_object_set_new(f, "name", json_string(name));
	act_journal(a, "created", f);
}

void act_removed(struct act *a, const char *kind, const char *name)
{
	json_t *l = json_object_get(a->run->created, kind);
	for (size_t i = json_array_size(l); i-- > 0;)
		if (!strcmp(json_string_value(json_array_get(l, i)), name))
			json_array_remove(l, i);
	a->confined = 1;
	json_t *f = json_object();
	json_object_set_new(f, "kind", json_string(kind));
	json_object_set_new(f, "name", json_string(name));
	act_journal(a, "removed", f);
}

int act_was_created(struct act *a, const char *kind, const char *name)
{
	json_t *l = json_object_get(a->run->created, kind);
	size_t i;
	json_t *v;
	json_array_foreach(l, i, v) if (!strcmp(json_string_value(v), name)) return 1;
	return 0;
}

/* ---- subprocesses ---- */

static pid_t spawn(struct act *a, char *const argv[], const struct spawn_opts *o, int out_fd, int err_fd)
{
	struct fail f = FAIL_INIT;
	pid_t pid = proc_spawn(&a->run->children, a->run->hidden_env, argv, o, out_fd, err_fd, &f);
	if (pid < 0) {
		act_fail(a, "%s", fail_text(&f));
	} else {
		/* the programs a run used, for the evidence's tool versions */
		const char *base = strrchr(argv[0], '/');
		json_object_set_new(a->run->tools, base ? base + 1 : argv[0], json_text(argv[0]));
	}
	fail_release(&f);
	return pid;
}

pid_t act_spawn(struct act *a, char *const argv[], const struct spawn_opts *o)
{
	return spawn(a, argv, o, o && o->stdout_fd >= 0 ? o->stdout_fd : -1,
		     o && o->stderr_fd >= 0 ? o->stderr_fd : -1);
}

int act_wait(struct act *a, pid_t pid, int *exited, int *status, int *cancelled)
{
	int st = 0;
	*cancelled = 0;
	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			children_forget(&a->run->children, pid);
			act_fail(a, "waiting for child %ld failed: %s", (long)pid, strerror(errno));
			return -1;
		}
		if (act_cancelled(a)) {
			*cancelled = 1;
			proc_end_group(pid, &st);
			break;
		}
		usleep(10000);
	}
	children_forget(&a->run->children, pid);
	*exited = WIFEXITED(st);
	*status = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? WTERMSIG(st) : 0;
	return 0;
}

struct capture {
	int fd;             /* the pipe's read end, -1 once closed */
	struct strbuf sb;
	struct relay relay; /* lines for the transcript, when relaying */
	struct act *a;
	int is_err;
	int relaying;
};

static void relay_line(void *ud, const char *line)
{
	struct capture *c = ud;
	act_log(c->a, "%s%s", c->is_err ? "! " : "", line);
}

static void capture_init(struct capture *c, struct act *a, int is_err, size_t cap, int relaying)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->a = a;
	c->is_err = is_err;
	c->relaying = relaying;
	/* read past the cap by the masking margin: mask first, then cut */
	sb_init(&c->sb, cap + redact_margin());
	relay_init(&c->relay, relay_line, c);
}

/* The captured bytes as a step output: masked over everything read, then
 * cut at the cap (a secret at the cut is masked whole), then made UTF-8.
 * Releases the capture. */
static char *capture_finish(struct capture *c, size_t cap, int *truncated)
{
	if (c->fd >= 0)
		close(c->fd);
	if (c->relaying)
		relay_flush(&c->relay);
	relay_release(&c->relay);
	size_t keep = c->sb.len < cap ? c->sb.len : cap;
	*truncated = c->sb.truncated || c->sb.len > cap;
	char *out = redact_utf8(sb_str(&c->sb), c->sb.len, keep);
	sb_release(&c->sb);
	return out;
}

/* Reads what is ready on the open pipes, waiting up to 50 ms. Returns 0,
 * or -1 when no pipe is left open or polling failed. */
static int capture_read(struct capture *cs[2])
{
	struct pollfd pf[2];
	struct capture *open[2];
	int n = 0;
	for (int i = 0; i < 2; i++) {
		if (cs[i]->fd < 0)
			continue;
		pf[n] = (struct pollfd){ .fd = cs[i]->fd, .events = POLLIN };
		open[n++] = cs[i];
	}
	if (n == 0)
		return -1;
	int pr = poll(pf, (nfds_t)n, 50);
	if (pr < 0 && errno != EINTR)
		return -1;
	for (int i = 0; i < n && pr > 0; i++) {
		if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		char buf[16384];
		ssize_t r = read(pf[i].fd, buf, sizeof(buf));
		if (r > 0) {
			sb_add(&open[i]->sb, buf, (size_t)r);
			if (open[i]->relaying)
				relay_feed(&open[i]->relay, buf, (size_t)r);
		} else if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN)) {
			close(open[i]->fd);
			open[i]->fd = -1;
		}
	}
	return 0;
}

static void set_status(struct spawn_result *res, int st)
{
	res->exited = WIFEXITED(st);
	res->status = WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st);
}

/* Reads the child's output until it exits (and shortly after: a daemon it
 * started may keep the pipe open) or the step is cancelled. */
static void capture_child(struct act *a, pid_t pid, struct capture *cs[2], struct spawn_result *res)
{
	int st = 0;
	int64_t exited_at = 0;
	for (;;) {
		if (!exited_at && waitpid(pid, &st, WNOHANG) == pid) {
			children_forget(&a->run->children, pid);
			set_status(res, st);
			exited_at = mono_us();
		}
		if (exited_at && mono_us() - exited_at > 300000)
			return;
		int none_open = cs[0]->fd < 0 && cs[1]->fd < 0;
		if (capture_read(cs) != 0) {
			if (none_open && !exited_at) /* no pipes left: wait for the exit */
				act_wait(a, pid, &res->exited, &res->status, &res->cancelled);
			return;
		}
		if (!exited_at && act_cancelled(a)) {
			proc_end_group(pid, &st);
			children_forget(&a->run->children, pid);
			res->cancelled = 1;
			set_status(res, st);
			return;
		}
	}
}

int act_run(struct act *a, char *const argv[], const struct spawn_opts *o, struct spawn_result *res)
{
	memset(res, 0, sizeof(*res));
	int po[2] = { -1, -1 }, pe[2] = { -1, -1 };
	int want_out = !o || o->stdout_fd < 0, want_err = !o || o->stderr_fd < 0;
	if ((want_out && pipe2(po, O_CLOEXEC) != 0) || (want_err && pipe2(pe, O_CLOEXEC) != 0)) {
		act_fail(a, "cannot create pipes: %s", strerror(errno));
		for (int i = 0; i < 2; i++)
			if (po[i] >= 0)
				close(po[i]);
		return -1;
	}
	pid_t pid = spawn(a, argv, o, want_out ? po[1] : o->stdout_fd, want_err ? pe[1] : o->stderr_fd);
	if (po[1] >= 0)
		close(po[1]);
	if (pe[1] >= 0)
		close(pe[1]);
	if (pid < 0) {
		if (po[0] >= 0)
			close(po[0]);
		if (pe[0] >= 0)
			close(pe[0]);
		return -1;
	}
	size_t cap = o && o->capture_cap ? o->capture_cap : (1u << 20);
	int relaying = o && o->relay;
	struct capture out, err;
	capture_init(&out, a, 0, cap, relaying);
	capture_init(&err, a, 1, cap, relaying);
	out.fd = po[0];
	err.fd = pe[0];
	struct capture *cs[2] = { &out, &err };
	capture_child(a, pid, cs, res);
	res->out = capture_finish(&out, cap, &res->out_truncated);
	res->err = capture_finish(&err, cap, &res->err_truncated);
	return 0;
}

void spawn_result_release(struct spawn_result *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}
