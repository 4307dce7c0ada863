/*
 * act.c: the action API (action.h) as the executor provides it: typed
 * parameters, outputs, logging and progress through the redaction registry,
 * cancellation, and subprocesses started with posix_spawn and an argv array
 * (never a shell), each in its own process group so that an interruption or
 * a timeout ends the child and everything it started.
 */

#include "run_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "redact.h"
#include "relay.h"
#include "text.h"
#include "util.h"

extern char **environ;

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
	char *err = NULL;
	struct resource *r = run_resource(a->run, (size_t)(rd - a->run->pb->resources), &err);
	if (!r) {
		act_fail(a, "resource '%s': %s", name, err);
		free(err);
	}
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
	free(a->error);
	a->error = m;
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
	return a->error;
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
	json_t *f = json_object();
	json_object_set_new(f, "kind", json_string(kind));
	json_object_set_new(f, "name", json_string(name));
	act_journal(a, "created", f);
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

static void track_child(struct run *r, pid_t pid)
{
	if (r->nchildren == r->achildren) {
		r->achildren = r->achildren ? r->achildren * 2 : 8;
		r->children = xrealloc(r->children, r->achildren * sizeof(*r->children));
	}
	r->children[r->nchildren++] = pid;
}

static void untrack_child(struct run *r, pid_t pid)
{
	for (size_t i = 0; i < r->nchildren; i++) {
		if (r->children[i] == pid) {
			r->children[i] = r->children[--r->nchildren];
			return;
		}
	}
}

void run_kill_children(struct run *r)
{
	for (size_t i = 0; i < r->nchildren; i++)
		kill(-r->children[i], SIGTERM);
	int64_t end = mono_us() + 5000000;
	while (r->nchildren && mono_us() < end) {
		for (size_t i = 0; i < r->nchildren;) {
			int st;
			pid_t w = waitpid(r->children[i], &st, WNOHANG);
			if (w == r->children[i] || (w < 0 && errno == ECHILD))
				r->children[i] = r->children[--r->nchildren];
			else
				i++;
		}
		if (r->nchildren)
			usleep(20000);
	}
	for (size_t i = 0; i < r->nchildren; i++) {
		kill(-r->children[i], SIGKILL);
		waitpid(r->children[i], NULL, 0);
	}
	r->nchildren = 0;
}

/* Builds the argv actually run: as another user through runuser(1) when
 * asked and running as root (PostgreSQL's tools refuse root). */
static char **final_argv(char *const argv[], const char *run_as)
{
	size_t n = 0;
	while (argv[n])
		n++;
	int wrap = run_as && *run_as && geteuid() == 0 && strcmp(run_as, "root") != 0;
	char **v = xcalloc(n + 6, sizeof(*v));
	size_t k = 0;
	if (wrap) {
		v[k++] = "runuser";
		v[k++] = "-u";
		v[k++] = (char *)run_as;
		v[k++] = "--";
	}
	for (size_t i = 0; i < n; i++)
		v[k++] = argv[i];
	v[k] = NULL;
	return v;
}

/* The child's environment: drplay's, without the variables the playbook
 * reads as secrets (hidden: run.hidden_env), with `extra` ("NAME=value")
 * added, replacing inherited ones of the same name. */
static char **build_env(const json_t *hidden, char *const *extra)
{
	size_t n = 0, m = 0;
	while (environ[n])
		n++;
	while (extra && extra[m])
		m++;
	char **e = xcalloc(n + m + 1, sizeof(*e));
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		size_t nl = strcspn(environ[i], "=");
		if (json_object_getn(hidden, environ[i], nl))
			continue;
		int replaced = 0;
		for (size_t j = 0; j < m && !replaced; j++)
			replaced = strncmp(extra[j], environ[i], nl) == 0 && extra[j][nl] == '=';
		if (!replaced)
			e[k++] = environ[i];
	}
	for (size_t j = 0; j < m; j++)
		e[k++] = extra[j];
	e[k] = NULL;
	return e;
}

static pid_t spawn(struct act *a, char *const argv[], const struct spawn_opts *o, int out_fd, int err_fd)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	int in_fd = o && o->stdin_fd >= 0 ? o->stdin_fd : -1;
	if (in_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
	else
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (out_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
	if (err_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
	if (o && o->cwd)
		posix_spawn_file_actions_addchdir_np(&fa, o->cwd);
	sigset_t def, none;
	sigemptyset(&def);
	sigaddset(&def, SIGINT);
	sigaddset(&def, SIGTERM);
	sigaddset(&def, SIGPIPE);
	sigaddset(&def, SIGCHLD);
	sigemptyset(&none);
	posix_spawnattr_setsigdefault(&at, &def);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
	char **av = final_argv(argv, o ? o->run_as : NULL);
	char **env = build_env(a->run->hidden_env, o ? o->env_extra : NULL);
	pid_t pid;
	int rc = posix_spawnp(&pid, av[0], &fa, &at, av, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	free(env);
	if (rc != 0) {
		act_fail(a, "cannot start '%s': %s; check that it is installed and on PATH", av[0], strerror(rc));
		free(av);
		return -1;
	}
	free(av);
	track_child(a->run, pid);
	return pid;
}

pid_t act_spawn(struct act *a, char *const argv[], const struct spawn_opts *o)
{
	return spawn(a, argv, o, o && o->stdout_fd >= 0 ? o->stdout_fd : -1,
		     o && o->stderr_fd >= 0 ? o->stderr_fd : -1);
}

/* Ends the child's process group: TERM, then KILL after a grace period. */
static void end_group(pid_t pid, int *st)
{
	kill(-pid, SIGTERM);
	int64_t end = mono_us() + 5000000;
	while (mono_us() < end) {
		pid_t w = waitpid(pid, st, WNOHANG);
		if (w == pid) {
			kill(-pid, SIGKILL); /* grandchildren that ignored TERM */
			return;
		}
		usleep(20000);
	}
	kill(-pid, SIGKILL);
	waitpid(pid, st, 0);
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
			untrack_child(a->run, pid);
			act_fail(a, "waiting for child %ld failed: %s", (long)pid, strerror(errno));
			return -1;
		}
		if (act_cancelled(a)) {
			*cancelled = 1;
			end_group(pid, &st);
			break;
		}
		usleep(10000);
	}
	untrack_child(a->run, pid);
	*exited = WIFEXITED(st);
	*status = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? WTERMSIG(st) : 0;
	return 0;
}

struct capture {
	int fd;
	struct strbuf sb;
	struct relay relay; /* lines for the transcript, when relaying */
	struct act *a;
	int is_err;
};

static void relay_line(void *ud, const char *line)
{
	struct capture *c = ud;
	act_log(c->a, "%s%s", c->is_err ? "! " : "", line);
}

/* The captured bytes as a step output: masked over everything read, then
 * cut at the cap (a secret at the cut is masked whole), then made UTF-8. */
static char *captured(const struct capture *c, size_t cap, int *truncated)
{
	size_t keep = c->sb.len < cap ? c->sb.len : cap;
	*truncated = c->sb.truncated || c->sb.len > cap;
	return redact_utf8(sb_str(&c->sb), c->sb.len, keep);
}

int act_run(struct act *a, char *const argv[], const struct spawn_opts *o, struct spawn_result *res)
{
	memset(res, 0, sizeof(*res));
	size_t cap = o && o->capture_cap ? o->capture_cap : (1u << 20);
	struct capture cap_out = { -1, STRBUF_INIT, { STRBUF_INIT, 0, 0, NULL, NULL }, a, 0 };
	struct capture cap_err = { -1, STRBUF_INIT, { STRBUF_INIT, 0, 0, NULL, NULL }, a, 1 };
	/* read past the cap by the masking margin: mask first, then cut */
	sb_init(&cap_out.sb, cap + redact_margin());
	sb_init(&cap_err.sb, cap + redact_margin());
	relay_init(&cap_out.relay, relay_line, &cap_out);
	relay_init(&cap_err.relay, relay_line, &cap_err);
	int po[2] = { -1, -1 }, pe[2] = { -1, -1 };
	int want_out = !o || o->stdout_fd < 0, want_err = !o || o->stderr_fd < 0;
	if ((want_out && pipe2(po, O_CLOEXEC) != 0) || (want_err && pipe2(pe, O_CLOEXEC) != 0))
	{
		act_fail(a, "cannot create pipes: %s", strerror(errno));
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
	cap_out.fd = po[0];
	cap_err.fd = pe[0];
	int relay = o && o->relay;
	int st = 0, done = 0;
	int64_t exited_at = 0;
	while (!done) {
		/* A child that exited while a daemon it started keeps the pipe
		 * open: stop reading shortly after the exit. */
		if (pid > 0 && !exited_at) {
			pid_t w = waitpid(pid, &st, WNOHANG);
			if (w == pid) {
				untrack_child(a->run, pid);
				res->exited = WIFEXITED(st);
				res->status = WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st);
				exited_at = mono_us();
			}
		}
		if (exited_at && mono_us() - exited_at > 300000)
			break;
		struct pollfd pf[2];
		int n = 0;
		struct capture *cs[2];
		if (cap_out.fd >= 0) {
			pf[n].fd = cap_out.fd;
			pf[n].events = POLLIN;
			cs[n++] = &cap_out;
		}
		if (cap_err.fd >= 0) {
			pf[n].fd = cap_err.fd;
			pf[n].events = POLLIN;
			cs[n++] = &cap_err;
		}
		if (n == 0) {
			/* no pipes left: wait for the exit */
			if (!exited_at) {
				int ex, stt, cc;
				act_wait(a, pid, &ex, &stt, &cc);
				res->exited = ex;
				res->status = stt;
				res->cancelled = cc;
			}
			break;
		}
		int pr = poll(pf, (nfds_t)n, 50);
		if (pr < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n && pr > 0; i++) {
			if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			char buf[16384];
			ssize_t r = read(pf[i].fd, buf, sizeof(buf));
			if (r > 0) {
				sb_add(&cs[i]->sb, buf, (size_t)r);
				if (relay)
					relay_feed(&cs[i]->relay, buf, (size_t)r);
			} else if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN)) {
				close(cs[i]->fd);
				cs[i]->fd = -1;
			}
		}
		if (!exited_at && act_cancelled(a)) {
			end_group(pid, &st);
			untrack_child(a->run, pid);
			res->cancelled = 1;
			res->exited = WIFEXITED(st);
			res->status = WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st);
			done = 1;
		}
	}
	if (cap_out.fd >= 0)
		close(cap_out.fd);
	if (cap_err.fd >= 0)
		close(cap_err.fd);
	if (relay) {
		relay_flush(&cap_out.relay);
		relay_flush(&cap_err.relay);
	}
	relay_release(&cap_out.relay);
	relay_release(&cap_err.relay);
	res->out = captured(&cap_out, cap, &res->out_truncated);
	res->err = captured(&cap_err, cap, &res->err_truncated);
	sb_release(&cap_out.sb);
	sb_release(&cap_err.sb);
	return 0;
}

void spawn_result_release(struct spawn_result *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}
