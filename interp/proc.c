/*
 * proc.c: signals, children and spawning for the executor (proc.h). A child
 * runs in its own process group so that an interruption or a timeout ends
 * it and everything it started; it never inherits the variables the
 * playbook reads as secrets.
 */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "run.h"
#include "util.h"

extern char **environ;

volatile sig_atomic_t run_signals;
volatile sig_atomic_t run_last_signal;

/* The signals that end a run the way Ctrl-C does: a terminal or SSH session
 * that drops (SIGHUP), Ctrl-\ (SIGQUIT), a supervisor's stop (SIGTERM). */
static const int stop_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };

static void on_signal(int sig)
{
	run_signals++;
	run_last_signal = sig;
}

const char *signal_name(int sig)
{
	switch (sig) {
	case SIGTERM: return "SIGTERM";
	case SIGHUP: return "SIGHUP";
	case SIGQUIT: return "SIGQUIT";
	default: return "SIGINT";
	}
}

void proc_signals_catch(struct signal_save *save)
{
	struct sigaction sa = { 0 }, ign = { 0 };
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	for (size_t k = 0; k < ARRAY_SIZE(stop_signals); k++) {
		sigaction(stop_signals[k], NULL, &save->stop[k]);
		/* a run started under nohup asked to outlive its terminal */
		if (stop_signals[k] == SIGHUP && save->stop[k].sa_handler == SIG_IGN)
			continue;
		sigaction(stop_signals[k], &sa, NULL);
	}
	ign.sa_handler = SIG_IGN;
	sigemptyset(&ign.sa_mask);
	sigaction(SIGPIPE, &ign, &save->pipe);
	run_signals = 0;
}

void proc_signals_restore(const struct signal_save *save)
{
	for (size_t k = 0; k < ARRAY_SIZE(stop_signals); k++)
		sigaction(stop_signals[k], &save->stop[k], NULL);
	sigaction(SIGPIPE, &save->pipe, NULL);
}

/* ---- children ---- */

void children_add(struct children *c, pid_t pid)
{
	if (c->n == c->alloc) {
		c->alloc = c->alloc ? c->alloc * 2 : 8;
		c->pids = xrealloc(c->pids, c->alloc * sizeof(*c->pids));
	}
	c->pids[c->n++] = pid;
}

void children_forget(struct children *c, pid_t pid)
{
	for (size_t i = 0; i < c->n; i++) {
		if (c->pids[i] == pid) {
			c->pids[i] = c->pids[--c->n];
			return;
		}
	}
}

void children_end_all(struct children *c)
{
	for (size_t i = 0; i < c->n; i++)
		kill(-c->pids[i], SIGTERM);
	int64_t end = mono_us() + 5000000;
	while (c->n && mono_us() < end) {
		for (size_t i = 0; i < c->n;) {
			int st;
			pid_t w = waitpid(c->pids[i], &st, WNOHANG);
			if (w == c->pids[i] || (w < 0 && errno == ECHILD))
				c->pids[i] = c->pids[--c->n];
			else
				i++;
		}
		if (c->n)
			usleep(20000);
	}
	for (size_t i = 0; i < c->n; i++) {
		kill(-c->pids[i], SIGKILL);
		waitpid(c->pids[i], NULL, 0);
	}
	c->n = 0;
}

void children_release(struct children *c)
{
	free(c->pids);
	c->pids = NULL;
	c->n = c->alloc = 0;
}

void proc_end_group(pid_t pid, int *status)
{
	kill(-pid, SIGTERM);
	int64_t end = mono_us() + 5000000;
	while (mono_us() < end) {
		pid_t w = waitpid(pid, status, WNOHANG);
		if (w == pid) {
			kill(-pid, SIGKILL); /* grandchildren that ignored TERM */
			return;
		}
		usleep(20000);
	}
	kill(-pid, SIGKILL);
	waitpid(pid, status, 0);
}

/* ---- spawning ---- */

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

/* The child's environment: drplay's, without the hidden variables, with
 * `extra` ("NAME=value") added, replacing inherited ones of the same name. */
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

pid_t proc_spawn(struct children *c, const json_t *hidden, char *const argv[], const struct spawn_opts *o,
		 int out_fd, int err_fd, struct fail *f)
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
	char **env = build_env(hidden, o ? o->env_extra : NULL);
	pid_t pid;
	int rc = posix_spawnp(&pid, av[0], &fa, &at, av, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	free(env);
	if (rc != 0) {
		fail_set(f, EXIT_STEP_FAILED, "cannot start '%s': %s; check that it is installed and on PATH", av[0],
			 strerror(rc));
		free(av);
		return -1;
	}
	free(av);
	children_add(c, pid);
	return pid;
}
