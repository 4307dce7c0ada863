/*
 * proc.h: process control, the executor's lowest layer: the signals that
 * stop a run, the process groups of running children, and starting a child
 * with posix_spawn and an argv array (never a shell), in its own process
 * group, with the environment it may see. It knows no playbook, step or
 * action: the action API (act.c) builds act_run and friends on it.
 */
#ifndef DRPLAY_PROC_H
#define DRPLAY_PROC_H

#include <signal.h>
#include <sys/types.h>
#include <jansson.h>

#include "action.h"
#include "fail.h"

/* ---- signals ---- */

/* Stop signals received since proc_signals_catch, and the last one. */
extern volatile sig_atomic_t run_signals;
extern volatile sig_atomic_t run_last_signal;
/* "SIGINT", "SIGTERM", "SIGHUP" or "SIGQUIT". */
const char *signal_name(int sig);

/* The dispositions proc_signals_catch replaced. */
struct signal_save {
	struct sigaction stop[4];
	struct sigaction pipe;
};
/* From now on SIGINT, SIGTERM, SIGHUP (unless ignored: a run under nohup)
 * and SIGQUIT are counted in run_signals instead of ending the process, and
 * SIGPIPE is ignored (a transcript reader that goes away ends the
 * transcript, not the run). Resets run_signals. */
void proc_signals_catch(struct signal_save *save);
/* Puts back what proc_signals_catch replaced. */
void proc_signals_restore(const struct signal_save *save);

/* ---- children ---- */

/* The process groups of running children (each leads its own group). */
struct children {
	pid_t *pids;
	size_t n, alloc;
};
void children_add(struct children *c, pid_t pid);
void children_forget(struct children *c, pid_t pid);
/* Ends every group: SIGTERM, then SIGKILL after a 5 s grace; reaps them. */
void children_end_all(struct children *c);
void children_release(struct children *c);

/* Ends one child's process group: SIGTERM, SIGKILL after a 5 s grace (and
 * at once to grandchildren left once it exited). *status as waitpid's. */
void proc_end_group(pid_t pid, int *status);

/* Starts argv[0] (searched in PATH) with o's stdin, cwd and run_as, its
 * stdout and stderr on out_fd and err_fd (-1: inherited), an environment
 * without the variables named in hidden (an object, names as keys) and
 * with o->env_extra added, and records it in c. Returns its pid, or -1
 * with f set when it cannot be started. */
pid_t proc_spawn(struct children *c, const json_t *hidden, char *const argv[], const struct spawn_opts *o,
		 int out_fd, int err_fd, struct fail *f);

#endif
