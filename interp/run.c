/*
 * run.c: the executor. A run is planned whole before its first step: the
 * playbook is loaded, checked, its params typed, the guards of the chosen
 * mode linted, the disaster authorization compared, and every secret and
 * environment variable the plan needs looked up. Only then do steps run, in
 * order, under these rules (SPEC.md, "Execution"):
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

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "redact.h"
#include "run_internal.h"
#include "summary.h"
#include "text.h"
#include "typing.h"
#include "util.h"
#include "version.h"

/* The largest file a secret (NAME_FILE, --authorize-file) is read from. */
#define SECRET_FILE_MAX ((size_t)64 << 10)

volatile sig_atomic_t run_signals;
volatile sig_atomic_t run_last_signal;

void run_say(struct run *r, const char *fmt, ...)
{
	if (r->json || r->quiet)
		return;
	va_list ap;
	va_start(ap, fmt);
	redact_vfprintf(stdout, fmt, ap);
	va_end(ap);
	fflush(stdout);
}

static void on_signal(int sig)
{
	run_signals++;
	run_last_signal = sig;
}

/* The signals that end a run the way Ctrl-C does: a terminal or SSH session
 * that drops (SIGHUP), Ctrl-\ (SIGQUIT), a supervisor's stop (SIGTERM). */
static const int stop_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };

static const char *signal_name(int sig)
{
	switch (sig) {
	case SIGTERM: return "SIGTERM";
	case SIGHUP: return "SIGHUP";
	case SIGQUIT: return "SIGQUIT";
	default: return "SIGINT";
	}
}

/* ---- the run-time resolver ---- */

/* Reads a file that holds one secret (NAME_FILE, --authorize-file): it
 * must be a regular file (a FIFO or a device is refused, never waited on),
 * readable, not empty and at most SECRET_FILE_MAX bytes; one trailing newline
 * (and a CR before it) is the file's. With `private`, a file that group or
 * others may read is refused too. Returns 0 and *out (free it with
 * free_secret), or -1 and *why: what is wrong, to follow the file's name in
 * a message (caller frees). */
static int read_secret_file(const char *path, int private, char **out, char **why)
{
	*out = NULL;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		*why = xasprintf("cannot be opened: %s", strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		*why = xasprintf("cannot be read: %s", strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		*why = xasprintf("is %s, not a regular file; point it at a file that holds the secret",
				 S_ISDIR(st.st_mode) ? "a directory" : S_ISFIFO(st.st_mode) ? "a FIFO"
				 : S_ISSOCK(st.st_mode) ? "a socket" : "a device");
		close(fd);
		return -1;
	}
	if (private && (st.st_mode & (S_IRGRP | S_IROTH))) {
		*why = xasprintf("can be read by %s (mode %03o); make it private: chmod 600",
				 (st.st_mode & S_IROTH) ? "every user" : "its group", (unsigned)(st.st_mode & 0777));
		close(fd);
		return -1;
	}
	struct strbuf sb;
	sb_init(&sb, SECRET_FILE_MAX + 1);
	char buf[4096];
	ssize_t r;
	while ((r = read(fd, buf, sizeof(buf))) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			*why = xasprintf("cannot be read: %s", strerror(errno));
			break;
		}
		sb_add(&sb, buf, (size_t)r);
		if (sb.len > SECRET_FILE_MAX) {
			*why = xasprintf("is larger than %zu KiB; a secret file holds one secret", SECRET_FILE_MAX >> 10);
			break;
		}
	}
	explicit_bzero(buf, sizeof(buf));
	close(fd);
	size_t len = sb.len;
	if (r == 0 && len && sb.buf[len - 1] == '\n')
		len--;
	if (r == 0 && len && sb.buf[len - 1] == '\r')
		len--;
	if (r == 0 && (len == 0 || memchr(sb.buf, '\0', len)))
		*why = xstrdup(len ? "holds a NUL byte; a secret is text" : "is empty");
	if (r != 0 || len == 0 || memchr(sb.buf, '\0', len)) {
		if (sb.buf)
			explicit_bzero(sb.buf, sb.len);
		sb_release(&sb);
		return -1;
	}
	*out = xstrndup(sb.buf, len);
	explicit_bzero(sb.buf, sb.len);
	sb_release(&sb);
	return 0;
}

/* The value of secret NAME: the environment variable NAME, else the file
 * named by NAME_FILE (read_secret_file). A value shorter than REDACT_MIN_LEN
 * bytes is refused: it cannot be masked safely. Returns 0 and *out
 * (free_secret it), or -1 and *err naming the variable, never its value;
 * *unset says that neither variable is set. */
static int secret_value(const char *name, char **out, char **err, int *unset)
{
	*unset = 0;
	*out = NULL;
	const char *v = getenv(name);
	char *val = NULL;
	if (v) {
		val = xstrdup(v);
	} else {
		char *fname = xasprintf("%s_FILE", name);
		const char *path = getenv(fname);
		char *why = NULL;
		if (!path) {
			*unset = 1;
			*err = xasprintf("secret %s is not set; set the environment variable %s, or %s_FILE to a file holding it",
					 name, name, name);
		} else if (read_secret_file(path, 0, &val, &why) != 0) {
			*err = xasprintf("secret %s: the file named by %s ('%s') %s", name, fname, path, why);
			free(why);
		}
		free(fname);
		if (!val)
			return -1;
	}
	size_t len = strlen(val);
	if (len < REDACT_MIN_LEN) {
		*err = len ? xasprintf("secret %s (from %s) is only %zu byte%s long; a secret shorter than %d bytes cannot be masked safely, so the run refuses it: use a longer one",
				       name, v ? "the environment" : "its _FILE", len, len == 1 ? "" : "s", REDACT_MIN_LEN)
			   : xasprintf("secret %s is set but empty; give it a value (at least %d bytes)", name,
				       REDACT_MIN_LEN);
		free_secret(val);
		return -1;
	}
	*out = val;
	return 0;
}

static int read_secret(const char *name, struct value *out, char **err)
{
	char *v = NULL;
	int unset;
	if (secret_value(name, &v, err, &unset) != 0)
		return -1;
	redact_register(v);
	out->t = V_STR;
	out->secret = 1;
	out->u.s = v;
	return 0;
}

static json_t *step_view(struct run *r, size_t i)
{
	struct step_state *ss = &r->ss[i];
	json_t *o = ss->outputs ? json_deep_copy(ss->outputs) : json_object();
	json_object_set_new(o, "outcome", json_string(outcome_name(ss->outcome)));
	json_object_set_new(o, "duration", json_real((double)ss->dur_us / 1e6));
	if (ss->error)
		json_object_set_new(o, "error", json_text(ss->error));
	return o;
}

static json_t *resource_view(struct resource *res)
{
	json_t *o = json_deep_copy(res->fields);
	json_object_set_new(o, "name", json_string(res->name));
	json_object_set_new(o, "kind", json_string(res->kind ? res->kind->name : ""));
	json_object_set_new(o, "live", json_boolean(res->live));
	json_object_set_new(o, "throwaway", json_boolean(res->throwaway));
	return o;
}

/* A value computed from a secret is a secret (eval_ctx.secret_text). */
static void run_secret_text(void *ud, const char *text)
{
	(void)ud;
	redact_register(text);
}

/* Whether resources.NAME.FIELD was computed from a secret (known once the
 * resource is resolved, which evaluation does before reading a field). */
static int run_field_secret(void *ud, const char *root, const char *name, const char *field)
{
	struct run *r = ud;
	if (strcmp(root, "resources") != 0)
		return -1;
	return json_object_get(json_object_get(r->res_taint, name), field) != NULL;
}

struct eval_ctx run_ctx(struct run *r)
{
	struct eval_ctx ctx = { run_resolve, r, 0, run_secret_text, run_field_secret };
	return ctx;
}

int run_resolve(void *ud, const char *root, const char *name, struct value *out, char **err)
{
	struct run *r = ud;
	const struct playbook *pb = r->pb;
	memset(out, 0, sizeof(*out));
	if (!name && strcmp(root, "params") != 0) {
		*err = xasprintf("'%s' needs a name after it", root);
		return -1;
	}
	if (!strcmp(root, "secret"))
		return read_secret(name, out, err);
	if (!strcmp(root, "env")) {
		const char *v = getenv(name);
		if (!v) {
			*err = xasprintf("environment variable %s is not set; set it before running", name);
			return -1;
		}
		out->t = V_STR;
		out->u.s = xstrdup(v);
		return 0;
	}
	if (!strcmp(root, "params")) {
		if (!name) {
			value_from_json(out, r->params);
			return 0;
		}
		json_t *v = json_object_get(r->params, name);
		const struct param_def *p = playbook_param(pb, name);
		if (!p) {
			*err = xasprintf("param '%s' is not declared", name);
			return -1;
		}
		if (!v || json_is_null(v)) {
			value_from_json(out, json_null());
			return 0;
		}
		int64_t us;
		if (p->type == T_TIMESTAMP && parse_timestamp(json_string_value(v), &us) == 0) {
			out->t = V_TIME;
			out->u.us = us;
			return 0;
		}
		if (p->type == T_DURATION && parse_duration(json_string_value(v), &us) == 0) {
			out->t = V_DUR;
			out->u.us = us;
			return 0;
		}
		value_from_json(out, v);
		return 0;
	}
	if (!strcmp(root, "run")) {
		out->t = V_STR;
		if (!strcmp(name, "id"))
			out->u.s = xstrdup(r->run_id);
		else if (!strcmp(name, "mode"))
			out->u.s = xstrdup(mode_name(r->mode));
		else if (!strcmp(name, "playbook"))
			out->u.s = xstrdup(pb->name);
		else if (!strcmp(name, "file"))
			out->u.s = xstrdup(pb->file);
		else if (!strcmp(name, "started_at")) {
			out->t = V_TIME;
			out->u.us = r->started_us;
		} else {
			out->t = V_NULL;
			*err = xasprintf("run has no field '%s'", name);
			return -1;
		}
		return 0;
	}
	if (!strcmp(root, "steps")) {
		long i = playbook_step_index(pb, name);
		if (i < 0) {
			*err = xasprintf("there is no step '%s'", name);
			return -1;
		}
		if (r->ss[i].outcome == O_PENDING) {
			*err = xasprintf("step '%s' has not run yet", name);
			return -1;
		}
		json_t *o = step_view(r, (size_t)i);
		value_from_json(out, o);
		json_decref(o);
		return 0;
	}
	if (!strcmp(root, "resources")) {
		const struct resource_def *rd = playbook_resource(pb, name);
		if (!rd) {
			*err = xasprintf("there is no resource '%s'", name);
			return -1;
		}
		char *e = NULL;
		struct resource *res = run_resource(r, (size_t)(rd - pb->resources), &e);
		if (!res) {
			*err = xasprintf("resource '%s': %s", name, e);
			free(e);
			return -1;
		}
		json_t *o = resource_view(res);
		value_from_json(out, o);
		json_decref(o);
		out->secret = json_object_size(json_object_get(r->res_taint, name)) > 0;
		return 0;
	}
	*err = xasprintf("unknown name '%s'", root);
	return -1;
}

struct resource *run_resource(struct run *r, size_t i, char **err)
{
	const struct resource_def *rd = &r->pb->resources[i];
	if (r->res_state[i] == 2)
		return &r->res[i];
	if (r->res_state[i] == 1) {
		*err = xstrdup("its fields refer back to it (a cycle between resources); break the cycle");
		return NULL;
	}
	if (!rd->kind) {
		*err = xstrdup("its kind is unknown");
		return NULL;
	}
	r->res_state[i] = 1;
	struct resource *res = &r->res[i];
	json_decref(res->fields);
	res->fields = json_object();
	struct eval_ctx ctx = run_ctx(r);
	for (size_t f = 0; f < rd->nfields; f++) {
		json_t *v = NULL;
		char *e = NULL;
		int secret = 0;
		if (vtree_eval(rd->fields[f], &ctx, &v, &e, &secret) != 0) {
			*err = xasprintf("field '%s': %s", rd->fspecs[f]->name, e);
			free(e);
			r->res_state[i] = 0;
			return NULL;
		}
		if (json_is_null(v)) {
			json_decref(v);
			continue;
		}
		json_t *c = coerce_value(rd->fspecs[f], v, &e);
		json_decref(v);
		if (!c) {
			*err = xasprintf("field %s", e);
			free(e);
			r->res_state[i] = 0;
			return NULL;
		}
		json_object_set_new(res->fields, rd->fspecs[f]->name, c);
		if (secret) { /* a field made from a secret is a secret */
			json_t *t = json_object_get(r->res_taint, rd->name);
			if (!t) {
				t = json_object();
				json_object_set_new(r->res_taint, rd->name, t);
			}
			json_object_set_new(t, rd->fspecs[f]->name, json_true());
		}
	}
	for (const struct param_spec *p = rd->kind->fields; p->name; p++) {
		if (json_object_get(res->fields, p->name))
			continue;
		json_t *d = spec_default(p);
		if (d)
			json_object_set_new(res->fields, p->name, d);
	}
	r->res_state[i] = 2;
	return res;
}

/* ---- the action API parts that need the executor ---- */

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
		if (ss->outputs)
			json_object_set(s, "outputs", ss->outputs);
		json_array_append_new(steps, s);
	}
	json_object_set_new(o, "steps", steps);
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

/* ---- planning ---- */

static int parse_param_value(const struct param_def *p, const char *s, json_t **out, char **err)
{
	int64_t v;
	char buf[40];
	switch (p->type) {
	case T_INT:
		if (parse_int64(s, &v) != 0)
			goto bad;
		*out = json_integer(v);
		break;
	case T_NUMBER: {
		double d;
		if (parse_decimal(s, &d) != 0)
			goto bad;
		*out = json_real(d);
		break;
	}
	case T_BOOL:
		if (strcmp(s, "true") && strcmp(s, "false"))
			goto bad;
		*out = json_boolean(!strcmp(s, "true"));
		break;
	case T_TIMESTAMP:
		if (parse_timestamp(s, &v) != 0)
			goto bad;
		*out = json_string(fmt_timestamp(v, buf, sizeof(buf)));
		break;
	case T_DURATION: {
		int rc = parse_duration(s, &v);
		if (rc == -2) {
			*err = xasprintf("param '%s' is %s, longer than the longest duration drplay accepts, 36500d (100 years)",
					 p->name, s);
			return -1;
		}
		if (rc != 0)
			goto bad;
		*out = json_string(s);
		break;
	}
	default:
		*out = json_string(s);
		if (!*out) {
			*err = xasprintf("param '%s' is not valid UTF-8", p->name);
			return -1;
		}
		break;
	}
	return 0;
bad:
	*err = xasprintf("param '%s' must be %s, not '%s'", p->name,
			 p->type == T_INT ? "an integer" : p->type == T_NUMBER ? "a number" :
			 p->type == T_BOOL ? "true or false" :
			 p->type == T_TIMESTAMP ? "an RFC 3339 timestamp such as 2026-11-29T09:10:00Z" :
			 "a duration such as 90s, 15m or 24h", s);
	return -1;
}

/* Types the --param values, applies defaults, checks allowed and required.
 * Prints every problem; returns the params object or NULL. */
static json_t *resolve_params(const struct playbook *pb, const struct run_opts *o, unsigned mode)
{
	json_t *params = json_object();
	int bad = 0;
	for (size_t i = 0; i < o->nparams; i++) {
		const char *eq = strchr(o->params[i], '=');
		if (!eq) {
			redact_fprintf(stderr, "drplay: --param '%s' needs the form NAME=VALUE\n", o->params[i]);
			bad = 1;
			continue;
		}
		char *name = xstrndup(o->params[i], (size_t)(eq - o->params[i]));
		const struct param_def *p = playbook_param(pb, name);
		if (!p) {
			struct strbuf sb = STRBUF_INIT;
			for (size_t k = 0; k < pb->nparams; k++)
				sb_addf(&sb, "%s%s", k ? ", " : "", pb->params[k].name);
			redact_fprintf(stderr, "drplay: unknown param '%s'; %s%s\n", name,
				pb->nparams ? "this playbook declares: " : "this playbook declares no params",
				sb_str(&sb));
			sb_release(&sb);
			bad = 1;
			free(name);
			continue;
		}
		json_t *v = NULL;
		char *err = NULL;
		if (parse_param_value(p, eq + 1, &v, &err) != 0) {
			redact_fprintf(stderr, "drplay: %s\n", err);
			free(err);
			bad = 1;
		} else {
			json_object_set_new(params, name, v);
		}
		free(name);
	}
	for (size_t i = 0; i < pb->nparams; i++) {
		const struct param_def *p = &pb->params[i];
		json_t *v = json_object_get(params, p->name);
		if (!v && p->def)
			json_object_set(params, p->name, p->def);
		v = json_object_get(params, p->name);
		if (!v) {
			if ((p->required & mode) && !o->one_def) {
				redact_fprintf(stderr, "drplay: param '%s' is required in %s mode: pass --param %s=%s%s%s%s\n",
					p->name, mode_name(mode), p->name,
					p->type == T_TIMESTAMP ? "2026-11-29T09:10:00Z" : "VALUE",
					p->desc ? " (" : "", p->desc ? p->desc : "", p->desc ? ")" : "");
				bad = 1;
			}
			continue;
		}
		if (p->allowed) {
			int ok = 0;
			size_t k;
			json_t *e;
			json_array_foreach(p->allowed, k, e) ok |= json_equal(e, v);
			if (!ok) {
				char *s = json_is_string(v) ? xstrdup(json_string_value(v)) : json_dumps(v, JSON_ENCODE_ANY);
				struct strbuf sb = STRBUF_INIT;
				size_t k2;
				json_t *e2;
				json_array_foreach(p->allowed, k2, e2)
				{
					char *t = json_is_string(e2) ? xstrdup(json_string_value(e2)) : json_dumps(e2, JSON_ENCODE_ANY);
					sb_addf(&sb, "%s%s", k2 ? ", " : "", t);
					free(t);
				}
				char *al = sb_detach(&sb);
				redact_fprintf(stderr, "drplay: param '%s' is '%s', which is not allowed; allowed values: %s\n",
					p->name, s, al);
				free(s);
				free(al);
				bad = 1;
			}
		}
	}
	if (bad) {
		json_decref(params);
		return NULL;
	}
	return params;
}

/* Checks that every env and secret the active steps (and the resources they
 * name) need is present and usable, before anything runs: each secret is
 * read (its file checked) as the run would read it. Prints each problem. */
struct need_ctx {
	int missing;  /* not set: exit 2 */
	int refused;  /* set but unusable (a bad file, too short): exit 3 */
	struct loc loc;
};

static int need_ref(const struct expr_ref *ref, void *ud)
{
	struct need_ctx *nc = ud;
	if (!ref->name)
		return 0;
	if (!strcmp(ref->root, "env") && !getenv(ref->name)) {
		redact_fprintf(stderr, "%s:%d:%d: error: environment variable %s is not set; set it before running\n",
			ref->loc.file, ref->loc.line, ref->loc.col, ref->name);
		nc->missing++;
	}
	if (!strcmp(ref->root, "secret")) {
		char *v = NULL, *err = NULL;
		int unset;
		if (secret_value(ref->name, &v, &err, &unset) == 0) {
			free_secret(v);
		} else if (unset) {
			redact_fprintf(stderr, "%s:%d:%d: error: secret %s is not set; set %s, or %s_FILE to a file holding it\n",
				       ref->loc.file, ref->loc.line, ref->loc.col, ref->name, ref->name, ref->name);
			nc->missing++;
		} else {
			redact_fprintf(stderr, "%s:%d:%d: error: %s\n", ref->loc.file, ref->loc.line, ref->loc.col, err);
			nc->refused++;
		}
		free(err);
	}
	return 0;
}

static void need_vtree(const struct vtree *v, struct need_ctx *nc, const struct playbook *pb, char *seen_res);

static int need_res_ref(const struct expr_ref *ref, void *ud);

struct need_walk {
	struct need_ctx *nc;
	const struct playbook *pb;
	char *seen;
};

static void need_resource(const struct playbook *pb, size_t ri, struct need_ctx *nc, char *seen)
{
	if (seen[ri])
		return;
	seen[ri] = 1;
	const struct resource_def *rd = &pb->resources[ri];
	for (size_t f = 0; f < rd->nfields; f++) {
		need_vtree(rd->fields[f], nc, pb, seen);
		if (rd->fspecs[f]->type == T_RESOURCE && rd->fields[f]->kind == VT_LIT &&
		    json_is_string(rd->fields[f]->lit)) {
			const struct resource_def *to = playbook_resource(pb, json_string_value(rd->fields[f]->lit));
			if (to)
				need_resource(pb, (size_t)(to - pb->resources), nc, seen);
		}
	}
}

static int need_res_ref(const struct expr_ref *ref, void *ud)
{
	struct need_walk *w = ud;
	need_ref(ref, w->nc);
	if (!strcmp(ref->root, "resources") && ref->name) {
		const struct resource_def *rd = playbook_resource(w->pb, ref->name);
		if (rd)
			need_resource(w->pb, (size_t)(rd - w->pb->resources), w->nc, w->seen);
	}
	return 0;
}

static void need_vtree(const struct vtree *v, struct need_ctx *nc, const struct playbook *pb, char *seen)
{
	struct need_walk w = { nc, pb, seen };
	switch (v->kind) {
	case VT_TMPL:
		tmpl_refs(v->tmpl, need_res_ref, &w);
		break;
	case VT_EXPR:
		if (v->expr)
			expr_refs(v->expr, need_res_ref, &w);
		break;
	case VT_MAP:
	case VT_SEQ:
		for (size_t i = 0; i < v->n; i++)
			need_vtree(v->vals[i], nc, pb, seen);
		break;
	default:
		break;
	}
}

static int check_needs(const struct playbook *pb, unsigned mode, json_t *params)
{
	struct need_ctx nc = { 0, 0, { 0 } };
	char *seen = xcalloc(pb->nresources + 1, 1);
	struct static_env env = { pb, mode, params, 1, NULL, 0 };
	for (size_t i = 0; i < pb->nsteps; i++) {
		const struct step *st = &pb->steps[i];
		if (!st->def || !(st->modes & mode))
			continue;
		/* a step whose `when:` the params already make false never runs:
		 * what only it needs is not needed (an optional notification) */
		int truth = 1;
		if (st->when && when_static(st->when, &env, &truth) == 1 && !truth)
			continue;
		if (st->when) {
			struct need_walk w = { &nc, pb, seen };
			expr_refs(st->when, need_res_ref, &w);
		}
		for (size_t a = 0; a < st->nargs; a++) {
			need_vtree(st->args[a].v, &nc, pb, seen);
			if (st->args[a].spec->type != T_RESOURCE)
				continue;
			json_t *v = NULL;
			char *err = NULL;
			if (vtree_static(st->args[a].v, &env, &v, &err) == 1 && json_is_string(v)) {
				const struct resource_def *rd = playbook_resource(pb, json_string_value(v));
				if (rd)
					need_resource(pb, (size_t)(rd - pb->resources), &nc, seen);
			}
			json_decref(v);
			free(err);
		}
	}
	free(seen);
	if (nc.refused)
		return EXIT_REFUSED;
	return nc.missing ? EXIT_INVALID : 0;
}

/* Children never inherit the variables the playbook reads as secrets (any
 * mode, any step), nor their _FILE twins, nor what the disaster
 * authorization reads: a child gets a secret only through `env:`. */
static void hide_name(json_t *names, const struct expr_ref *ref)
{
	json_object_set_new(names, ref->name, json_true());
	char *f = xasprintf("%s_FILE", ref->name);
	json_object_set_new(names, f, json_true());
	free(f);
}

static int hide_secret_ref(const struct expr_ref *ref, void *ud)
{
	if (ref->name && !strcmp(ref->root, "secret"))
		hide_name(ud, ref);
	return 0;
}

static int hide_authorize_ref(const struct expr_ref *ref, void *ud)
{
	if (ref->name && (!strcmp(ref->root, "secret") || !strcmp(ref->root, "env")))
		hide_name(ud, ref);
	return 0;
}

static json_t *hidden_env(const struct playbook *pb)
{
	json_t *names = json_object();
	for (size_t i = 0; i < pb->ntmpls; i++)
		tmpl_refs(pb->tmpls[i], hide_secret_ref, names);
	for (size_t i = 0; i < pb->nexprs; i++)
		expr_refs(pb->exprs[i], hide_secret_ref, names);
	if (pb->authorize)
		tmpl_refs(pb->authorize, hide_authorize_ref, names);
	return names;
}

/* Explains why a step will not run in this mode, or NULL if it will. */
static const char *mode_skip_reason(const struct step *st, unsigned mode, char *buf, size_t n)
{
	if (st->modes & mode)
		return NULL;
	snprintf(buf, n, "not in %s mode (runs only in %s mode)", mode_name(mode),
		 mode_name(st->modes & MODE_ALL));
	return buf;
}

static void print_vtree_plan(struct run *r, const struct vtree *v, const char *key, int indent)
{
	json_t *j = NULL;
	char *err = NULL;
	struct eval_ctx ctx = run_ctx(r);
	char *text = NULL;
	if (v->kind == VT_EXPR) {
		text = xstrdup(expr_text(v->expr));
	} else if (!v->dynamic && vtree_eval(v, &ctx, &j, &err, NULL) == 0) {
		text = json_is_string(j) ? xstrdup(json_string_value(j))
					 : json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
	} else if (v->kind == VT_TMPL) {
		text = xasprintf("%s   (resolved at run time)", tmpl_text(v->tmpl));
	} else if (v->dynamic) {
		text = xstrdup("(structure resolved at run time)");
	} else {
		text = xasprintf("(cannot resolve: %s)", err ? err : "?");
	}
	json_decref(j);
	free(err);
	run_say(r, "%*s%s: %s\n", indent, "", key, text);
	free(text);
}

static void print_plan(struct run *r)
{
	const struct playbook *pb = r->pb;
	run_say(r, "plan for '%s' (%s) in %s mode; nothing runs (dry run)\n", pb->name, pb->file,
		mode_name(r->mode));
	if (json_object_size(r->params)) {
		run_say(r, "params:\n");
		const char *k;
		json_t *v;
		json_object_foreach(r->params, k, v)
		{
			char *s = json_is_string(v) ? xstrdup(json_string_value(v)) : json_dumps(v, JSON_ENCODE_ANY);
			run_say(r, "  %s: %s\n", k, s);
			free(s);
		}
	}
	for (size_t i = 0; i < pb->nsteps; i++) {
		const struct step *st = &pb->steps[i];
		char buf[160];
		const char *why = mode_skip_reason(st, r->mode, buf, sizeof(buf));
		struct static_env env = { pb, r->mode, r->params, 1, r->run_id, r->started_us };
		unsigned f = step_flags(st, &env);
		if (why) {
			run_say(r, "[%zu/%zu] %s: %s  skip: %s\n", i + 1, pb->nsteps, st->id, st->def->name, why);
			continue;
		}
		run_say(r, "[%zu/%zu] %s: %s  %s (%s%s%s%s%s)\n", i + 1, pb->nsteps, st->id, st->def->name,
			st->when ? "run if" : "run", f & A_DESTRUCT ? "destructive" : f & A_STATE ? "state-changing" : "read-only",
			st->def->cat != CAT_OTHER ? ", " : "", st->def->cat != CAT_OTHER ? category_name(st->def->cat) : "",
			st->gate ? ", gate" : "", st->always ? ", always" : "");
		if (st->when)
			run_say(r, "      when: %s\n", expr_text(st->when));
		if (st->nrequires) {
			struct strbuf sb = STRBUF_INIT;
			for (size_t q = 0; q < st->nrequires; q++)
				sb_addf(&sb, "%s%s", q ? ", " : "", pb->steps[st->requires[q]].id);
			run_say(r, "      requires: %s\n", sb_str(&sb));
			sb_release(&sb);
		}
		for (size_t a = 0; a < st->nargs; a++)
			print_vtree_plan(r, st->args[a].v, st->args[a].spec->name, 6);
	}
}

/* ---- executing one step ---- */

static json_t *resolve_args(struct run *r, const struct step *st, char **err)
{
	json_t *args = json_object();
	struct eval_ctx ctx = run_ctx(r);
	for (const struct param_spec *p = st->def->params; p && p->name; p++) {
		const struct arg *a = step_arg(st, p->name);
		json_t *v = NULL;
		if (a) {
			char *e = NULL;
			if (vtree_eval(a->v, &ctx, &v, &e, NULL) != 0) {
				*err = xasprintf("parameter '%s': %s", p->name, e);
				free(e);
				json_decref(args);
				return NULL;
			}
		} else {
			v = spec_default(p);
		}
		if (!v || json_is_null(v)) {
			json_decref(v);
			if (p->flags & P_REQUIRED) {
				*err = xasprintf("parameter '%s' resolved to nothing; it is required", p->name);
				json_decref(args);
				return NULL;
			}
			continue;
		}
		char *e = NULL;
		json_t *c = coerce_value(p, v, &e);
		json_decref(v);
		if (!c) {
			*err = xasprintf("parameter %s", e);
			free(e);
			json_decref(args);
			return NULL;
		}
		json_object_set_new(args, p->name, c);
	}
	return args;
}

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
 * 0 to retry. Sets *changed when the attempt changed state. */
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
	a.sig_base = sig_base;
	if (st->timeout_us)
		a.deadline = mono_us() + st->timeout_us;
	ss->attempts = at;
	int rc = st->def->run(&a);
	act_progress_end(&a);
	/* a failed attempt that said it changed nothing changed nothing */
	if ((flags & A_STATE) && !((rc != ACT_OK || a.error) && a.unchanged))
		*changed = 1;
	int timed_out = a.deadline && mono_us() > a.deadline;
	int interrupted = run_signals > a.sig_base;
	if (rc == ACT_OK && !a.error) {
		json_decref(ss->outputs);
		ss->outputs = a.outputs;
		ss->outcome = O_OK;
		if (json_object_size(a.progress))
			json_object_set_new(ss->outputs, "_progress", a.progress);
		else
			json_decref(a.progress);
		return 1;
	}
	free(ss->error);
	if (interrupted) {
		ss->error = xasprintf("interrupted by %s%s%s", signal_name(run_last_signal), a.error ? ": " : "",
				      a.error ? a.error : "");
		ss->outcome = O_INTERRUPTED;
	} else if (timed_out) {
		char d[32];
		ss->error = xasprintf("timed out after %s (timeout: %s)%s%s", fmt_duration(st->timeout_us, d, sizeof(d)),
				      d, a.error ? "; " : "", a.error ? a.error : "");
		ss->outcome = O_FAILED;
	} else {
		ss->error = a.error ? a.error : xstrdup("the action failed without saying why");
		a.error = NULL;
		ss->outcome = O_FAILED;
	}
	free(a.error);
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
		if (changed)
			r->state_changed = 1;
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
	char *err = NULL;
	json_t *args = resolve_args(r, st, &err);
	unsigned flags = 0;
	struct guard_step g;
	if (args) {
		struct argq q = { st, NULL, args, NULL };
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
		ss->error = err;
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
	json_decref(args);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* ---- the run ---- */

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

static int print_diags_exit(struct diags *d)
{
	diags_sort(d);
	diags_print(d, DF_TEXT, stderr);
	if (d->nerr == 0)
		return 0;
	int invalid = d->nerr - d->nguard;
	fprintf(stderr, "drplay: %d error%s in the playbook; nothing ran%s\n", d->nerr, d->nerr == 1 ? "" : "s",
		invalid ? "" : " (refused by the safety guards above)");
	return invalid ? EXIT_INVALID : EXIT_REFUSED;
}

/* Replaces the playbook's steps by the one step of a one-step run (see
 * run_opts). The step lives in the playbook's arena; its arguments borrow
 * o->one_with, which outlives the run. */
static int one_step(struct playbook *pb, const struct run_opts *o)
{
	const char *key;
	json_t *val;
	json_object_foreach(o->one_with, key, val)
	{
		const struct param_spec *ps = param_find(o->one_def->params, key);
		if (!ps || ps->type != T_RESOURCE)
			continue;
		const struct resource_def *rd = playbook_resource(pb, json_string_value(val));
		if (!rd || (ps->kind && rd->kind && strcmp(ps->kind, rd->kind->name) != 0)) {
			struct strbuf sb = STRBUF_INIT;
			for (size_t i = 0; i < pb->nresources; i++)
				if (pb->resources[i].kind && (!ps->kind || !strcmp(ps->kind, pb->resources[i].kind->name)))
					sb_addf(&sb, "%s%s", sb.len ? ", " : "", pb->resources[i].name);
			redact_fprintf(stderr, "drplay: playbook '%s' has no resource '%s'%s%s; %s%s\n", pb->name,
				json_string_value(val), ps->kind ? " of kind " : "", ps->kind ? ps->kind : "",
				sb.len ? "it declares: " : "it declares none", sb_str(&sb));
			sb_release(&sb);
			return -1;
		}
	}
	struct step *st = arena_alloc(pb->arena, sizeof(*st));
	st->id = o->one_id;
	st->index = 0;
	st->loc = pb->doc->root->loc;
	st->def = o->one_def;
	st->action_loc = st->loc;
	st->modes = MODE_ALL;
	size_t n = json_object_size(o->one_with);
	st->args = arena_alloc(pb->arena, (n + 1) * sizeof(*st->args));
	json_object_foreach(o->one_with, key, val)
	{
		const struct param_spec *ps = param_find(o->one_def->params, key);
		if (!ps)
			continue;
		struct vtree *v = arena_alloc(pb->arena, sizeof(*v));
		v->kind = VT_LIT;
		v->loc = st->loc;
		v->lit = val;
		st->args[st->nargs].spec = ps;
		st->args[st->nargs].v = v;
		st->args[st->nargs].loc = st->loc;
		st->nargs++;
	}
	pb->steps = st;
	pb->nsteps = 1;
	if (pb->step_hash)
		memset(pb->step_hash, 0, pb->step_hash_cap * sizeof(*pb->step_hash));
	return 0;
}

int drplay_run(const struct run_opts *o)
{
	struct diags d;
	diags_init(&d);
	struct doc *doc = doc_load(o->file, &d);
	struct playbook *pb = d.nerr ? NULL : playbook_check(doc, &d);
	if (!pb) {
		int rc = print_diags_exit(&d);
		doc_free(doc);
		diags_release(&d);
		return rc ? rc : EXIT_INVALID;
	}
	struct run r = { 0 };
	r.pb = pb;
	int rc = EXIT_OK;
	if (d.nerr) {
		rc = print_diags_exit(&d);
		goto out_pb;
	}
	/* The mode. */
	if (o->mode) {
		r.mode = mode_parse(o->mode);
		if (!r.mode) {
			redact_fprintf(stderr, "drplay: unknown mode '%s'; use --mode=validation or --mode=disaster\n", o->mode);
			rc = EXIT_INVALID;
			goto out_pb;
		}
		if (!(pb->modes & r.mode)) {
			redact_fprintf(stderr, "drplay: playbook '%s' does not declare %s mode; it declares: %s%s%s\n", pb->name,
				o->mode, pb->modes & MODE_VALIDATION ? "validation" : "",
				pb->modes == MODE_ALL ? ", " : "", pb->modes & MODE_DISASTER ? "disaster" : "");
			rc = EXIT_INVALID;
			goto out_pb;
		}
	} else {
		r.mode = pb->default_mode;
		/* A one-step command runs a non-destructive action for a person:
		 * without a default mode it needs no disaster authorization. */
		if (!r.mode && o->one_def && !(o->one_def->flags & A_DESTRUCT))
			r.mode = MODE_VALIDATION;
		if (!r.mode) {
			redact_fprintf(stderr, "drplay: playbook '%s' has no default mode; pass --mode=disaster explicitly\n",
				pb->name);
			rc = EXIT_INVALID;
			goto out_pb;
		}
	}
	r.params = resolve_params(pb, o, r.mode);
	if (!r.params) {
		rc = EXIT_INVALID;
		goto out_pb;
	}
	/* The guards of this mode, with the params known (a one-step run's
	 * plan is not the playbook's: its run-time guards still apply). */
	if (o->one_def) {
		if (one_step(pb, o) != 0) {
			rc = EXIT_INVALID;
			goto out_pb;
		}
	} else
		lint_playbook(pb, r.mode, r.params, &d);
	if (d.nerr) {
		rc = print_diags_exit(&d);
		goto out_pb;
	}
	if (d.nwarn && !o->json) {
		diags_sort(&d);
		diags_print(&d, DF_TEXT, stderr);
	}
	/* Secrets and environment the plan needs, each secret read and checked
	 * as the run will read it. */
	rc = check_needs(pb, r.mode, r.params);
	if (rc) {
		fprintf(stderr, rc == EXIT_REFUSED ? "drplay: refused: the secrets above cannot be used; nothing ran\n"
				: "drplay: the plan needs the secrets and variables above; nothing ran\n");
		goto out_pb;
	}
	r.started_us = now_us();
	r.started_mono = mono_us();
	{
		char ts[32], rnd[9];
		fmt_timestamp_compact(r.started_us, ts, sizeof(ts));
		random_hex(rnd, 4);
		snprintf(r.run_id, sizeof(r.run_id), "%s-%s", ts, rnd);
	}
	r.ss = xcalloc(pb->nsteps + 1, sizeof(*r.ss));
	r.res = xcalloc(pb->nresources + 1, sizeof(*r.res));
	r.res_state = xcalloc(pb->nresources + 1, sizeof(*r.res_state));
	r.snapped = xcalloc(pb->nresources + 1, 1);
	for (size_t i = 0; i < pb->nresources; i++) {
		r.res[i].name = pb->resources[i].name;
		r.res[i].kind = pb->resources[i].kind;
		r.res[i].live = pb->resources[i].live;
		r.res[i].throwaway = pb->resources[i].throwaway;
		r.res[i].fields = json_object();
	}
	r.created = json_object();
	r.res_taint = json_object();
	r.hidden_env = hidden_env(pb);
	r.json = o->json;
	r.tty = isatty(STDERR_FILENO);
	r.approve = o->approve;
	r.napprove = o->napprove;
	/* Disaster authorization: compared before anything runs, and the
	 * expected value is never printed. */
	if (r.mode == MODE_DISASTER) {
		struct eval_ctx ctx = run_ctx(&r);
		struct value v;
		char *err = NULL;
		char *from_file = NULL;
		const char *given = o->authorize;
		if (o->authorize_file) {
			/* the token kept out of argv, so `ps` cannot show it */
			char *why = NULL;
			if (read_secret_file(o->authorize_file, 1, &from_file, &why) != 0) {
				redact_fprintf(stderr, "drplay: --authorize-file '%s' %s; nothing ran\n", o->authorize_file, why);
				free(why);
				rc = EXIT_REFUSED;
				goto out_run;
			}
			given = from_file;
		}
		if (!given || !*given) {
			fprintf(stderr, "drplay: disaster mode needs explicit authorization: pass --authorize-file FILE (a private file holding the token the playbook's modes.disaster.authorize names) or --authorize=TOKEN; nothing ran\n");
			rc = EXIT_REFUSED;
			goto out_run;
		}
		if (tmpl_eval(pb->authorize, &ctx, &v, &err) != 0) {
			char *m = redact(err);
			redact_fprintf(stderr, "drplay: cannot read the disaster authorization token: %s; nothing ran\n", m);
			free(m);
			free(err);
			free_secret(from_file);
			rc = EXIT_REFUSED;
			goto out_run;
		}
		char *expected = value_to_text(&v);
		value_release(&v);
		char *why_not = guard_authorized(expected, given, o->authorize_file ? "--authorize-file" : "--authorize");
		free_secret(expected);
		redact_register(given);
		free_secret(from_file);
		if (why_not) {
			fprintf(stderr, "drplay: %s; nothing ran\n", why_not);
			free(why_not);
			rc = EXIT_REFUSED;
			goto out_run;
		}
	}
	if (o->dry_run) {
		print_plan(&r);
		rc = EXIT_OK;
		goto out_run;
	}
	/* Lock and journal. */
	char *jdir = journal_default_dir(o->journal_dir);
	int lockfd = -1;
	char *err = NULL;
	if (!o->one_def && journal_lock(jdir, pb->name, r.run_id, &lockfd, &err) != 0) {
		redact_fprintf(stderr, "drplay: %s; nothing ran\n", err);
		free(err);
		free(jdir);
		rc = EXIT_REFUSED;
		goto out_run;
	}
	r.journal = o->no_journal ? NULL : journal_open(jdir, r.run_id, &err);
	if (!r.journal && !o->no_journal) {
		redact_fprintf(stderr, "drplay: %s; nothing ran\n", err);
		free(err);
		journal_unlock(lockfd);
		free(jdir);
		rc = EXIT_INVALID;
		goto out_run;
	}
	if (r.journal)
		journal_echo(r.journal, o->json);
	struct sigaction sa = { 0 }, old_sig[ARRAY_SIZE(stop_signals)], ign = { 0 }, old_pipe;
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	for (size_t k = 0; k < ARRAY_SIZE(stop_signals); k++) {
		sigaction(stop_signals[k], NULL, &old_sig[k]);
		/* a run started under nohup asked to outlive its terminal */
		if (stop_signals[k] == SIGHUP && old_sig[k].sa_handler == SIG_IGN)
			continue;
		sigaction(stop_signals[k], &sa, NULL);
	}
	ign.sa_handler = SIG_IGN;
	sigemptyset(&ign.sa_mask);
	sigaction(SIGPIPE, &ign, &old_pipe);
	run_signals = 0;
	{
		struct passwd *pw = getpwuid(getuid());
		json_t *f = json_object();
		json_object_set_new(f, "run", json_string(r.run_id));
		json_object_set_new(f, "playbook", json_string(pb->name));
		json_object_set_new(f, "file", json_text(pb->file));
		json_object_set_new(f, "sha256", json_string(pb->doc->sha256));
		json_object_set_new(f, "mode", json_string(mode_name(r.mode)));
		json_object_set(f, "params", r.params);
		json_object_set_new(f, "steps", json_integer((json_int_t)pb->nsteps));
		json_object_set_new(f, "drplay", json_string(DRPLAY_VERSION));
		json_object_set_new(f, "pid", json_integer(getpid()));
		json_object_set_new(f, "user", json_string(pw ? pw->pw_name : "?"));
		if (o->command)
			json_object_set_new(f, "command", json_string(o->command));
		if (pb->rto_us)
			json_object_set_new(f, "objective_rto_s", json_real((double)pb->rto_us / 1e6));
		if (pb->rpo_us)
			json_object_set_new(f, "objective_rpo_s", json_real((double)pb->rpo_us / 1e6));
		journal_event(r.journal, "run_start", f);
	}
	run_say(&r, "drplay %s %s: playbook '%s' (%s), %s mode\n", o->command ? o->command : "run", r.run_id,
		pb->name, pb->file, mode_name(r.mode));
	if (r.journal)
		run_say(&r, "journal: %s\n", journal_path(r.journal));
	const char *stopped_at = NULL;
	const char *gate_at = NULL;
	for (size_t i = 0; i < pb->nsteps; i++) {
		const struct step *st = &pb->steps[i];
		char buf[200];
		if (run_signals && !r.interrupted)
			note_interrupt(&r, st->id, 0);
		const char *why = mode_skip_reason(st, r.mode, buf, sizeof(buf));
		if (why) {
			skip_step(&r, st, why);
			continue;
		}
		if (r.stopped && !st->always) {
			snprintf(buf, sizeof(buf), "the run stopped at step '%s'", stopped_at ? stopped_at : "?");
			skip_step(&r, st, r.interrupted && !stopped_at ? "the run was interrupted" : buf);
			continue;
		}
		char *held = guard_maint_off_held(st, r.gate_failed ? gate_at : NULL, r.interrupted);
		if (held) {
			skip_step(&r, st, held);
			free(held);
			continue;
		}
		int req_ok = 1;
		for (size_t q = 0; q < st->nrequires && req_ok; q++) {
			const struct step *rs = &pb->steps[st->requires[q]];
			if (r.ss[rs->index].outcome != O_OK) {
				snprintf(buf, sizeof(buf), "requires step '%s', which did not pass (%s)", rs->id,
					 outcome_name(r.ss[rs->index].outcome));
				req_ok = 0;
			}
		}
		if (!req_ok) {
			skip_step(&r, st, buf);
			continue;
		}
		if (st->when) {
			struct eval_ctx ctx = run_ctx(&r);
			struct value v;
			char *e = NULL;
			if (expr_eval(st->when, &ctx, &v, &e) != 0) {
				struct step_state *ss = &r.ss[i];
				ss->outcome = O_FAILED;
				ss->error = xasprintf("cannot evaluate 'when: %s': %s", expr_text(st->when), e);
				free(e);
				run_say(&r, "[%zu/%zu] %s: %s\n      FAILED: %s\n", i + 1, pb->nsteps, st->id,
					st->def->name, ss->error);
				journal_step(&r, "step_end", st,
					     json_pack("{s:s,s:o,s:f}", "outcome", "failed", "error", json_text(ss->error),
						       "duration_s", 0.0));
			} else {
				int t = value_truthy(&v);
				value_release(&v);
				if (!t) {
					snprintf(buf, sizeof(buf), "'when: %.150s' is false", expr_text(st->when));
					skip_step(&r, st, buf);
					continue;
				}
				exec_step(&r, st);
			}
		} else {
			exec_step(&r, st);
		}
		struct step_state *ss = &r.ss[i];
		if (ss->outcome == O_OK)
			continue;
		if (ss->outcome == O_INTERRUPTED) {
			note_interrupt(&r, st->id, 1);
			if (!stopped_at)
				stopped_at = st->id;
			continue;
		}
		if (guard_stops_run(st, ss->outcome == O_REFUSED)) {
			if (!r.gate_failed)
				gate_at = st->id;
			r.gate_failed = 1;
			journal_durable(r.journal, 1);
			journal_step(&r, "gate_failed", st, json_pack("{s:o}", "error", json_text(ss->error ? ss->error : "")));
			if (st->gate || st->def->cat == CAT_VERIFY)
				run_say(&r, "      gate failed: the run stops here; later steps are skipped except 'always' ones, and maintenance is never lifted\n");
		} else if (st->cont) {
			run_say(&r, "      on_failure: continue; the run goes on\n");
			continue;
		}
		if (!r.stopped) {
			r.stopped = 1;
			stopped_at = st->id;
		}
	}
	/* The outcome. */
	struct tally t;
	run_tally(&r, NULL, &t);
	rc = t.rc;
	const char *failed_step = t.failed_step;
	double secs = (double)(mono_us() - r.started_mono) / 1e6;
	/* What state the run leaves: maintenance and preserved states. */
	struct run_left left;
	left_init(&left);
	for (size_t i = 0; i < pb->nsteps; i++) {
		const struct step *st = &pb->steps[i];
		json_t *k = kept_names(st->def, r.ss[i].outputs);
		left_step(&left, st->id, category_name(st->def->cat), r.ss[i].outcome == O_OK, k);
		json_decref(k);
	}
	const char *maint = left.maint, *maint_step = left.maint_step;
	char *kept = left_kept_text(&left);
	{
		json_t *f = json_object();
		json_object_set_new(f, "outcome", json_string(t.outcome));
		json_object_set_new(f, "exit_code", json_integer(rc));
		json_object_set_new(f, "duration_s", json_real(secs));
		json_object_set_new(f, "state_changed", json_boolean(r.state_changed));
		json_object_set_new(f, "interrupted", json_boolean(r.interrupted));
		json_object_set_new(f, "steps_ok", json_integer(t.ok));
		json_object_set_new(f, "steps_failed", json_integer(t.failed));
		json_object_set_new(f, "steps_tolerated", json_integer(t.tolerated));
		json_object_set_new(f, "steps_skipped", json_integer(t.skipped));
		if (failed_step)
			json_object_set_new(f, "stopped_at", json_string(stopped_at ? stopped_at : failed_step));
		if (maint)
			json_object_set_new(f, "maintenance", json_string(maint));
		if (*kept)
			json_object_set_new(f, "preserved", json_string(kept));
		journal_durable(r.journal, 1);
		journal_event(r.journal, "run_end", f);
	}
	char tol[64] = "";
	if (t.tolerated)
		snprintf(tol, sizeof(tol), " (%d tolerated: on_failure: continue)", t.tolerated);
	run_say(&r, "run %s %s: %d ok, %d failed%s, %d skipped in %.2fs (exit %d)\n", r.run_id, t.outcome, t.ok,
		t.failed, tol, t.skipped, secs, rc);
	if (rc == EXIT_NO_OUTAGE) {
		int unchanged = 0; /* the step that stopped the run is state-changing but changed nothing */
		for (size_t i = 0; i < pb->nsteps; i++)
			if (failed_step && !strcmp(pb->steps[i].id, failed_step))
				unchanged = r.ss[i].nothing_changed;
		run_say(&r, unchanged ? "nothing changed: the run stopped at step '%s', which failed before it changed anything (no outage)\n"
				      : "nothing changed: the run stopped at step '%s' before any state-changing step (no outage)\n",
			failed_step);
	}
	if (maint)
		run_say(&r, "maintenance is %s (step '%s')%s\n", maint, maint_step,
			!strcmp(maint, "ON") && rc ? "; it stays on until a verified restore: lift it by hand only then" : "");
	if (*kept)
		run_say(&r, "preserved states (never deleted by a run): %s\n", kept);
	free(kept);
	left_release(&left);
	if (ferror(stdout))
		fprintf(stderr, "drplay: warning: the transcript could not be written to standard output (was it closed?); the run went on%s%s%s\n",
			r.journal ? ", and the journal '" : "", r.journal ? journal_path(r.journal) : "",
			r.journal ? "' is its record" : "");
	run_kill_children(&r);
	for (size_t k = 0; k < ARRAY_SIZE(stop_signals); k++)
		sigaction(stop_signals[k], &old_sig[k], NULL);
	sigaction(SIGPIPE, &old_pipe, NULL);
	journal_close(r.journal);
	journal_unlock(lockfd);
	free(jdir);
out_run:
	for (size_t i = 0; i < pb->nresources; i++) {
		if (r.res[i].handle && r.res[i].kind && r.res[i].kind->release)
			r.res[i].kind->release(r.res[i].handle);
		json_decref(r.res[i].fields);
	}
	for (size_t i = 0; i < pb->nsteps && r.ss; i++) {
		json_decref(r.ss[i].outputs);
		free(r.ss[i].error);
		free(r.ss[i].reason);
		rset_release(&r.ss[i].targets);
	}
	if (r.tmpdir) {
		nftw(r.tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		free(r.tmpdir);
	}
	free(r.ss);
	free(r.res);
	free(r.res_state);
	free(r.snapped);
	free(r.children);
	json_decref(r.created);
	json_decref(r.res_taint);
	json_decref(r.hidden_env);
out_pb:
	json_decref(r.params);
	playbook_free(pb);
	diags_release(&d);
	return rc;
}
