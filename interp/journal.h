/*
 * journal.h: the append-only run journal. One JSON object per line in
 * <dir>/<run-id>.jsonl, every value masked through the redaction registry,
 * each line written with one write() (a crash of drplay loses nothing) and,
 * around every state-changing step, fdatasync'ed (a crash of the machine
 * leaves an accurate record of everything that changed state). A lock file per playbook keeps two
 * runs of the same playbook from sharing a journal directory at once.
 */
#ifndef DRPLAY_JOURNAL_H
#define DRPLAY_JOURNAL_H

#include <jansson.h>

#include "fail.h"

struct journal;

/* The journal directory to use: the flag's value, else $DRPLAY_JOURNAL_DIR,
 * else $XDG_STATE_HOME/drplay, else $HOME/.local/state/drplay, else
 * ./.drplay. Returns a new string. */
char *journal_default_dir(const char *flag);

/* Creates dir if needed and opens <dir>/<run_id>.jsonl for appending.
 * Returns NULL with f set (exit code EXIT_INVALID) on failure. */
struct journal *journal_open(const char *dir, const char *run_id, struct fail *f);
/* The file's path. */
const char *journal_path(const struct journal *j);
/* The chain of the last line written (chain.h; 64 zeros before the first)
 * and, in *lines, how many lines were written. Borrowed. */
const char *journal_chain(const struct journal *j, long *lines);
/* Appends {"ts": ..., "event": event, ...fields}; fields is stolen (may be
 * NULL). Masks every string. Returns 0, or -1 when the write or sync failed
 * (the run goes on; the failure is reported once on stderr). */
int journal_event(struct journal *j, const char *event, json_t *fields);
/* Durability of the events that follow: on (the default) fdatasyncs each
 * event before journal_event returns, and turning it on syncs the events
 * written while it was off; off writes them at once but leaves the sync to
 * the next durable event (the executor turns it off for read-only steps). */
void journal_durable(struct journal *j, int on);
/* When set, every event is also printed to stdout as a JSON line (--json). */
void journal_echo(struct journal *j, int on);
void journal_close(struct journal *j);

/* Takes the per-playbook lock in dir: 0 on success (*fd holds it until
 * journal_unlock), -1 with f set (EXIT_REFUSED) naming the holder when
 * another run has it, or why the lock file cannot be used. */
int journal_lock(const char *dir, const char *playbook, const char *run_id, int *fd, struct fail *f);
void journal_unlock(int fd);

/* The newest journal file in dir (a new string), or NULL when it has none. */
char *journal_newest(const char *dir);

/* `drplay status`: prints the newest run found in dir. Returns the exit
 * code (0, or 2 when there is no journal). */
int journal_status(const char *dir, int json);
/* The same for the journal at path (NULL: there is none in dir). */
int journal_status_of(const char *dir, const char *path, int json);
/* Whether the run that wrote the journal `path` (started as `start`, its
 * run_start event) is still running: 1 yes, 0 no (its process is gone:
 * killed, or the machine went down), -1 when it cannot be told. *pid is the
 * process looked at: the one the playbook's lock names for this run, else
 * the one run_start names. */
int journal_run_alive(const char *dir, const char *path, json_t *start, long *pid);

#endif
