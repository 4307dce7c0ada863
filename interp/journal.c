/*
 * journal.c: the append-only JSON-lines run journal, its lock, and `drplay
 * status`, which reads the newest journal back: a last line cut off by a
 * crash or a full disk is reported as such, and a journal without an end is
 * told apart as a run still running (its process is alive and holds that
 * journal open) or one that was killed. See journal.h.
 */
#include "journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chain.h"
#include "jsonout.h"
#include "redact.h"
#include "run.h"
#include "summary.h"
#include "text.h"
#include "util.h"

struct journal {
	int fd;
	char *path;
	int echo;
	int warned;
	int lazy;    /* events written but not synced (journal_durable(j, 0)) */
	int pending; /* a written event awaits fdatasync */
	long seq;    /* lines written */
	char chain[65]; /* the last line's chain (chain.h) */
};

char *journal_default_dir(const char *flag)
{
	if (flag && *flag)
		return xstrdup(flag);
	const char *e = getenv("DRPLAY_JOURNAL_DIR");
	if (e && *e)
		return xstrdup(e);
	e = getenv("XDG_STATE_HOME");
	if (e && *e)
		return xasprintf("%s/drplay", e);
	e = getenv("HOME");
	if (e && *e)
		return xasprintf("%s/.local/state/drplay", e);
	return xstrdup(".drplay");
}

/* mkdir -p */
static int mkdirs(const char *dir)
{
	char *p = xstrdup(dir);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0750) != 0 && errno != EEXIST) {
			free(p);
			return -1;
		}
		*s = '/';
	}
	int rc = mkdir(p, 0750) != 0 && errno != EEXIST ? -1 : 0;
	free(p);
	return rc;
}

struct journal *journal_open(const char *dir, const char *run_id, struct fail *f)
{
	if (mkdirs(dir) != 0) {
		fail_set(f, EXIT_INVALID, "cannot create journal directory '%s': %s; pass --journal-dir to a writable place",
			 dir, strerror(errno));
		return NULL;
	}
	struct journal *j = xcalloc(1, sizeof(*j));
	j->path = xasprintf("%s/%s.jsonl", dir, run_id);
	memcpy(j->chain, chain_genesis, sizeof(j->chain));
	j->fd = open(j->path, O_WRONLY | O_CREAT | O_APPEND | O_EXCL | O_CLOEXEC, 0640);
	if (j->fd < 0) {
		fail_set(f, EXIT_INVALID, "cannot create journal '%s': %s; pass --journal-dir to a writable place", j->path,
			 strerror(errno));
		free(j->path);
		free(j);
		return NULL;
	}
	/* Make the new directory entry durable too. */
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return j;
}

const char *journal_path(const struct journal *j)
{
	return j->path;
}

const char *journal_chain(const struct journal *j, long *lines)
{
	*lines = j->seq;
	return j->chain;
}

static char *newest_journal(const char *dir);

char *journal_newest(const char *dir)
{
	return newest_journal(dir);
}

void journal_echo(struct journal *j, int on)
{
	j->echo = on;
}

int journal_event(struct journal *j, const char *event, json_t *fields)
{
	if (!j) {
		json_decref(fields);
		return 0;
	}
	json_t *o = json_object();
	char ts[40];
	int64_t now = now_us();
	fmt_timestamp(now, ts, sizeof(ts));
	/* Millisecond precision in the journal: events of one second differ. */
	char tsm[48];
	snprintf(tsm, sizeof(tsm), "%.19s.%03dZ", ts, (int)((now / 1000) % 1000));
	json_object_set_new(o, "ts", json_string(tsm));
	json_object_set_new(o, "event", json_string(event));
	if (fields) {
		json_t *m = redact_json(fields);
		json_object_update(o, m);
		json_decref(m);
		json_decref(fields);
	}
	/* the line's number and its chain go last (SPEC section 6) */
	json_object_del(o, "seq");
	json_object_del(o, "chain");
	json_object_set_new(o, "seq", json_integer(j->seq + 1));
	char *dumped = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!dumped)
		return -1;
	size_t blen = strlen(dumped) - 1; /* the bytes before the closing brace */
	char chain[65];
	chain_next(j->chain, dumped, blen, chain);
	char *line = xasprintf("%.*s,\"chain\":\"%s\"}\n", (int)blen, dumped, chain);
	free(dumped);
	size_t len = strlen(line) - 1;
	j->seq++;
	memcpy(j->chain, chain, sizeof(chain));
	int rc = 0;
	int wr = write_all(j->fd, line, len + 1);
	if (wr == 0 && j->lazy)
		j->pending = 1;
	else if (wr == 0)
		wr = fdatasync(j->fd);
	if (wr != 0) {
		rc = -1;
		if (!j->warned) {
			warn_print("cannot write the journal '%s': %s; the run goes on, but its record is incomplete", j->path,
				   strerror(errno));
			j->warned = 1;
		}
	}
	if (j->echo) {
		fputs(line, stdout);
		fflush(stdout);
	}
	free(line);
	return rc;
}

void journal_durable(struct journal *j, int on)
{
	if (!j)
		return;
	j->lazy = !on;
	if (on && j->pending) {
		j->pending = 0;
		if (fdatasync(j->fd) != 0 && !j->warned) {
			warn_print("cannot sync the journal '%s': %s; the run goes on, but its record may be incomplete after a crash",
				   j->path, strerror(errno));
			j->warned = 1;
		}
	}
}

void journal_close(struct journal *j)
{
	if (!j)
		return;
	if (j->fd >= 0) {
		fsync(j->fd);
		close(j->fd);
	}
	free(j->path);
	free(j);
}

int journal_lock(const char *dir, const char *playbook, const char *run_id, int *fd, struct fail *fl)
{
	*fd = -1;
	if (mkdirs(dir) != 0) {
		fail_set(fl, EXIT_REFUSED, "cannot create journal directory '%s': %s", dir, strerror(errno));
		return -1;
	}
	/* the checker allows no '/' and no leading '.' in a playbook name: the
	 * lock is a file directly in the journal directory, never outside it */
	if (!*playbook || *playbook == '.' || strchr(playbook, '/')) {
		fail_set(fl, EXIT_REFUSED,
			 "playbook name '%s' cannot name a lock file in '%s'; rename the playbook (letters, digits, '.', '_', '-')",
			 playbook, dir);
		return -1;
	}
	char *path = xasprintf("%s/%s.lock", dir, playbook);
	/* never through a symbolic link (a planted one would make a root run
	 * truncate its target), never a FIFO or device (O_NONBLOCK: no wait) */
	int f = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0640);
	if (f < 0) {
		if (errno == ELOOP)
			fail_set(fl, EXIT_REFUSED,
				 "lock file '%s' is a symbolic link, which drplay never follows; remove it if you did not put it there",
				 path);
		else
			fail_set(fl, EXIT_REFUSED, "cannot open lock file '%s': %s", path, strerror(errno));
		free(path);
		return -1;
	}
	struct stat st = { 0 };
	if (fstat(f, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
		fail_set(fl, EXIT_REFUSED, "lock file '%s' is not a plain file of its own (%s); remove it if you did not put it there",
			 path, S_ISREG(st.st_mode) ? "it has other hard links" : "not a regular file");
		close(f);
		free(path);
		return -1;
	}
	if (flock(f, LOCK_EX | LOCK_NB) != 0) {
		char holder[256] = "";
		ssize_t r = pread(f, holder, sizeof(holder) - 1, 0);
		if (r > 0) {
			holder[r] = '\0';
			holder[strcspn(holder, "\n")] = '\0';
		}
		fail_set(fl, EXIT_REFUSED,
			 "another run of playbook '%s' holds the lock '%s' (%s); wait for it to finish, or check `drplay status`",
			 playbook, path, *holder ? holder : "holder unknown");
		close(f);
		free(path);
		return -1;
	}
	if (ftruncate(f, 0) == 0) {
		char buf[200];
		int n = snprintf(buf, sizeof(buf), "pid %ld, run %s\n", (long)getpid(), run_id);
		if (pwrite(f, buf, (size_t)n, 0) < 0) {
			/* the lock itself is what matters */
		}
	}
	free(path);
	*fd = f;
	return 0;
}

void journal_unlock(int fd)
{
	if (fd >= 0) {
		flock(fd, LOCK_UN);
		close(fd);
	}
}

/* ---- status ---- */

static char *newest_journal(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return NULL;
	char *best = NULL;
	struct timespec best_t = {0, 0};
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (n < 7 || strcmp(e->d_name + n - 6, ".jsonl") != 0)
			continue;
		char *p = xasprintf("%s/%s", dir, e->d_name);
		struct stat st;
		/* the file's full-resolution time: two runs in one second differ;
		 * only regular files (a FIFO would block the read) */
		int newer = stat(p, &st) == 0 && S_ISREG(st.st_mode) &&
			    (!best || st.st_mtim.tv_sec > best_t.tv_sec ||
			     (st.st_mtim.tv_sec == best_t.tv_sec &&
			      (st.st_mtim.tv_nsec > best_t.tv_nsec ||
			       (st.st_mtim.tv_nsec == best_t.tv_nsec && strcmp(p, best) > 0))));
		if (newer) {
			free(best);
			best = p;
			best_t = st.st_mtim;
		} else {
			free(p);
		}
	}
	closedir(d);
	return best;
}

static const char *jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

/* Whether process pid holds the file `path` open (so it is the run that
 * writes it, not a later process that reused the pid): 1 yes, 0 no, -1 when
 * its open files cannot be read (another user's process, no /proc). */
static int holds_open(long pid, const char *path)
{
	struct stat want, got;
	if (stat(path, &want) != 0)
		return -1;
	char fds[64];
	snprintf(fds, sizeof(fds), "/proc/%ld/fd", pid);
	DIR *d = opendir(fds);
	if (!d)
		return errno == ENOENT ? 0 : -1;
	int found = 0;
	struct dirent *e;
	while (!found && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char *p = xasprintf("%s/%s", fds, e->d_name);
		found = stat(p, &got) == 0 && got.st_dev == want.st_dev && got.st_ino == want.st_ino;
		free(p);
	}
	closedir(d);
	return found;
}

/* journal.h: the pid comes from the playbook's lock when the lock names
 * this run, else from run_start. */
int journal_run_alive(const char *dir, const char *path, json_t *start, long *pid)
{
	*pid = (long)json_integer_value(json_object_get(start, "pid"));
	int lock_names_it = 0;
	const char *pb = jstr(start, "playbook");
	if (*pb && *pb != '.' && !strchr(pb, '/')) {
		char *lp = xasprintf("%s/%s.lock", dir, pb);
		int fd = open(lp, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		free(lp);
		char buf[256];
		ssize_t n = fd >= 0 ? pread(fd, buf, sizeof(buf) - 1, 0) : -1;
		if (fd >= 0)
			close(fd);
		long lpid;
		char run[128];
		if (n > 0) {
			buf[n] = '\0';
			if (sscanf(buf, "pid %ld, run %127s", &lpid, run) == 2 && !strcmp(run, jstr(start, "run"))) {
				lock_names_it = 1;
				*pid = lpid;
			}
		}
	}
	if (*pid <= 0)
		return -1;
	if (kill((pid_t)*pid, 0) != 0 && errno == ESRCH)
		return 0;
	int h = holds_open(*pid, path);
	if (h >= 0)
		return h;
	return lock_names_it ? 1 : -1;
}

/* A journal read back: the events `drplay status` shows. */
struct journal_read {
	json_t *start, *end;  /* run_start and run_end (NULL when missing) */
	json_t *steps;        /* each step's last step_end or step_skip, in first-seen order */
	json_t *order;        /* step id -> index in steps */
	json_t *rstates;      /* resource -> the last event of it that carried a "state" */
	json_t *last_start;   /* the step_start not yet ended, or NULL */
	int bad;              /* lines that did not parse, the last one not counted */
	int torn;             /* the last line did not parse (a crash or a full disk) */
};

static void read_event(struct journal_read *jr, json_t *ev)
{
	const char *type = jstr(ev, "event");
	/* what an action's own event (database_stopped) says a resource is in */
	if (*jstr(ev, "resource") && *jstr(ev, "state"))
		json_object_set(jr->rstates, jstr(ev, "resource"), ev);
	json_t **keep = !strcmp(type, "run_start") ? &jr->start : !strcmp(type, "run_end") ? &jr->end
			: !strcmp(type, "step_start") ? &jr->last_start : NULL;
	if (keep) {
		json_decref(*keep);
		*keep = json_incref(ev);
	} else if (!strcmp(type, "step_end") || !strcmp(type, "step_skip")) {
		const char *id = jstr(ev, "step");
		json_t *idx = json_object_get(jr->order, id);
		if (idx) {
			json_array_set(jr->steps, (size_t)json_integer_value(idx), ev);
		} else {
			json_object_set_new(jr->order, id, json_integer((json_int_t)json_array_size(jr->steps)));
			json_array_append(jr->steps, ev);
		}
		if (!strcmp(type, "step_end")) {
			json_decref(jr->last_start);
			jr->last_start = NULL;
		}
	}
}

/* Reads the journal at path; for the terminal (not as_json) its values are
 * escaped (text.h). Returns 0, or -1 with f set when it cannot be read. */
static int read_journal(const char *path, int as_json, struct journal_read *jr, struct fail *fl)
{
	memset(jr, 0, sizeof(*jr));
	FILE *f = fopen(path, "r");
	if (!f)
		return fail_set(fl, EXIT_INVALID, "cannot read '%s': %s", path, strerror(errno));
	jr->steps = json_array();
	jr->order = json_object();
	jr->rstates = json_object();
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, f)) > 0) {
		json_error_t je;
		/* a line cut off by a crash or a full disk (perhaps NUL-padded)
		 * does not parse; only the last one may be so */
		json_t *ev = json_loadb(line, (size_t)n, 0, &je);
		jr->torn = !ev;
		if (!ev) {
			jr->bad++;
			continue;
		}
		if (!as_json) {
			json_t *safe = json_term(ev);
			json_decref(ev);
			ev = safe;
		}
		read_event(jr, ev);
		json_decref(ev);
	}
	free(line);
	fclose(f);
	jr->bad -= jr->torn;
	return 0;
}

static void journal_read_release(struct journal_read *jr)
{
	json_decref(jr->start);
	json_decref(jr->end);
	json_decref(jr->last_start);
	json_decref(jr->steps);
	json_decref(jr->order);
	json_decref(jr->rstates);
}

/* What `drplay status` says about a journal. */
struct status {
	const char *path;
	struct journal_read jr;
	long pid;             /* the process looked at for a run without an end */
	int alive;            /* 1 running, 0 gone, -1 cannot tell */
	struct run_left left; /* the steps folded as the run folds them */
	json_t *open_gates;   /* gates that did not pass */
};

static void status_json(const struct status *s)
{
	const struct journal_read *jr = &s->jr;
	json_t *o = jsonout_new("drplay.status/1");
	json_object_set_new(o, "journal", json_string(s->path));
	json_object_set_new(o, "state", json_string(jr->end ? "finished" : s->alive > 0 ? "running"
						     : s->alive == 0 ? "killed" : "unknown"));
	json_object_set(o, "run", jr->start ? jr->start : json_null());
	json_object_set(o, "end", jr->end ? jr->end : json_null());
	json_object_set(o, "steps", jr->steps);
	json_object_set_new(o, "finished", json_boolean(jr->end != NULL));
	if (!jr->end && jr->start) {
		json_object_set_new(o, "running", s->alive < 0 ? json_null() : json_boolean(s->alive));
		json_object_set_new(o, "pid", json_integer(s->pid));
	}
	if (!jr->end && jr->last_start)
		json_object_set_new(o, s->alive > 0 ? "running_step" : "stopped_in", json_string(jstr(jr->last_start, "step")));
	json_object_set_new(o, "torn_last_line", json_boolean(jr->torn && s->alive <= 0));
	json_object_set_new(o, "unreadable_lines", json_integer(jr->bad));
	json_object_set_new(o, "maintenance", s->left.maint ? json_string(s->left.maint) : json_null());
	json_object_set(o, "snapshots", s->left.kept);
	json_object_set(o, "failed_gates", s->open_gates);
	json_object_set(o, "resource_states", jr->rstates);
	jsonout_print(o, stdout, 1);
}

/* The run line, and how it ended or whether it is still running. */
static void status_text_run(const struct status *s)
{
	const struct journal_read *jr = &s->jr;
	json_t *start = jr->start, *end = jr->end, *last = jr->last_start;
	printf("journal: %s\n", s->path);
	if (start)
		printf("run %s of '%s' (%s) in %s mode, started %s\n", jstr(start, "run"), jstr(start, "playbook"),
		       jstr(start, "file"), jstr(start, "mode"), jstr(start, "ts"));
	if (end)
		printf("ended %s: %s (exit %lld)\n", jstr(end, "ts"), jstr(end, "outcome"),
		       (long long)json_integer_value(json_object_get(end, "exit_code")));
	else if (s->alive > 0 && last)
		printf("the run is still running (pid %ld holds this journal open): now in step '%s' (%s)\n", s->pid,
		       jstr(last, "step"), jstr(last, "action"));
	else if (s->alive > 0)
		printf("the run is still running (pid %ld holds this journal open)\n", s->pid);
	else if (last)
		printf("the run did not finish: the journal stops during step '%s' (%s); %s\n", jstr(last, "step"),
		       jstr(last, "action"),
		       s->alive == 0 ? "its process is gone (killed, or the machine went down): check what that step left"
				     : "it was killed or is still running");
	else
		printf("the run did not finish: the journal has no end event%s\n",
		       s->alive == 0 ? "; its process is gone (killed, or the machine went down)" : "");
	if (jr->torn && s->alive <= 0)
		printf("the journal's last line is incomplete (cut off while it was written: a crash or a full disk); the events before it are shown\n");
}

static void status_text_steps(const struct status *s)
{
	size_t i;
	json_t *ev;
	printf("steps:\n");
	json_array_foreach(s->jr.steps, i, ev)
	{
		const char *outc = jstr(ev, "outcome");
		json_t *dur = json_object_get(ev, "duration_s");
		char d[32] = "";
		if (json_is_number(dur))
			snprintf(d, sizeof(d), "%.2fs", json_number_value(dur));
		printf("  %-11s %8s  %-18s %-20s", *outc ? outc : "skipped", d, jstr(ev, "step"), jstr(ev, "action"));
		if (json_is_true(json_object_get(ev, "gate")))
			printf(" (gate)");
		const char *why = *jstr(ev, "error") ? jstr(ev, "error") : jstr(ev, "reason");
		if (*why) {
			char *m = redact(why);
			printf("  %s", m);
			free(m);
		}
		putchar('\n');
	}
}

/* What the run left: failed gates, maintenance, resource states, kept states. */
static void status_text_left(const struct status *s)
{
	size_t i;
	json_t *ev;
	if (json_array_size(s->open_gates)) {
		printf("failed gates:");
		json_array_foreach(s->open_gates, i, ev) printf(" %s", json_string_value(ev));
		putchar('\n');
	}
	if (s->left.maint)
		printf("maintenance: %s (last changed by step '%s')%s\n", s->left.maint, s->left.maint_step,
		       !strcmp(s->left.maint, "ON") ? "; lift it only after a verified restore" : "");
	else
		printf("maintenance: not changed by this run\n");
	const char *rname;
	json_t *rs;
	json_object_foreach(s->jr.rstates, rname, rs)
	{
		char *m = redact(jstr(rs, "message"));
		printf("resource %s: %s (event %s at %s, step '%s')%s%s\n", rname, jstr(rs, "state"), jstr(rs, "event"),
		       jstr(rs, "ts"), jstr(rs, "step"), *m ? ": " : "", m);
		free(m);
	}
	if (json_array_size(s->left.kept)) {
		printf("preserved states (never deleted by a run; `drplay cleanup` removes them on approval):");
		json_array_foreach(s->left.kept, i, ev) printf(" %s", json_string_value(ev));
		putchar('\n');
	}
	if (s->jr.bad)
		printf("warning: %d journal line(s) before the last could not be read; the journal was altered or damaged\n",
		       s->jr.bad);
}

int journal_status(const char *dir, int as_json)
{
	char *path = newest_journal(dir);
	int rc = journal_status_of(dir, path, as_json);
	free(path);
	return rc;
}

int journal_status_of(const char *dir, const char *path, int as_json)
{
	struct fail f = FAIL_INIT;
	struct status s = { .path = path };
	if (!s.path) {
		fail_set(&f, EXIT_INVALID, "no run journal in '%s'; runs write there (pass --journal-dir to look elsewhere)",
			 dir);
	} else if (read_journal(s.path, as_json, &s.jr, &f) == 0) {
		s.alive = s.jr.end || !s.jr.start ? 0 : journal_run_alive(dir, s.path, s.jr.start, &s.pid);
		left_init(&s.left);
		s.open_gates = json_array();
		size_t i;
		json_t *ev;
		json_array_foreach(s.jr.steps, i, ev)
		{
			const char *outc = jstr(ev, "outcome");
			int ended = !strcmp(jstr(ev, "event"), "step_end");
			left_step(&s.left, jstr(ev, "step"), jstr(ev, "category"), ended && !strcmp(outc, "ok"),
				  json_object_get(ev, "kept"));
			if (json_is_true(json_object_get(ev, "gate")) && strcmp(outc, "ok") != 0 && ended)
				json_array_append_new(s.open_gates, json_string(jstr(ev, "step")));
		}
		if (as_json) {
			status_json(&s);
		} else {
			status_text_run(&s);
			status_text_steps(&s);
			status_text_left(&s);
		}
		left_release(&s.left);
		json_decref(s.open_gates);
		journal_read_release(&s.jr);
	}
	int rc = fail_is_set(&f) ? fail_print(&f, "drplay status") : EXIT_OK;
	fail_release(&f);
	return rc;
}
