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

#include "redact.h"
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

struct journal *journal_open(const char *dir, const char *run_id, char **err)
{
	if (mkdirs(dir) != 0) {
		*err = xasprintf("cannot create journal directory '%s': %s; pass --journal-dir to a writable place",
				 dir, strerror(errno));
		return NULL;
	}
	struct journal *j = xcalloc(1, sizeof(*j));
	j->path = xasprintf("%s/%s.jsonl", dir, run_id);
	j->fd = open(j->path, O_WRONLY | O_CREAT | O_APPEND | O_EXCL | O_CLOEXEC, 0640);
	if (j->fd < 0) {
		*err = xasprintf("cannot create journal '%s': %s; pass --journal-dir to a writable place",
				 j->path, strerror(errno));
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
	char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!line)
		return -1;
	size_t len = strlen(line);
	line = xrealloc(line, len + 2);
	line[len] = '\n';
	line[len + 1] = '\0';
	int rc = 0;
	int wr = write_all(j->fd, line, len + 1);
	if (wr == 0 && j->lazy)
		j->pending = 1;
	else if (wr == 0)
		wr = fdatasync(j->fd);
	if (wr != 0) {
		rc = -1;
		if (!j->warned) {
			fprintf(stderr, "drplay: warning: cannot write the journal '%s': %s; the run goes on, but its record is incomplete\n",
				j->path, strerror(errno));
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
			fprintf(stderr, "drplay: warning: cannot sync the journal '%s': %s; the run goes on, but its record may be incomplete after a crash\n",
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

int journal_lock(const char *dir, const char *playbook, const char *run_id, int *fd, char **err)
{
	*fd = -1;
	if (mkdirs(dir) != 0) {
		*err = xasprintf("cannot create journal directory '%s': %s", dir, strerror(errno));
		return -1;
	}
	/* the checker allows no '/' and no leading '.' in a playbook name: the
	 * lock is a file directly in the journal directory, never outside it */
	if (!*playbook || *playbook == '.' || strchr(playbook, '/')) {
		*err = xasprintf("playbook name '%s' cannot name a lock file in '%s'; rename the playbook (letters, digits, '.', '_', '-')",
				 playbook, dir);
		return -1;
	}
	char *path = xasprintf("%s/%s.lock", dir, playbook);
	/* never through a symbolic link (a planted one would make a root run
	 * truncate its target), never a FIFO or device (O_NONBLOCK: no wait) */
	int f = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0640);
	if (f < 0) {
		*err = errno == ELOOP
			       ? xasprintf("lock file '%s' is a symbolic link, which drplay never follows; remove it if you did not put it there",
					   path)
			       : xasprintf("cannot open lock file '%s': %s", path, strerror(errno));
		free(path);
		return -1;
	}
	struct stat st = { 0 };
	if (fstat(f, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
		*err = xasprintf("lock file '%s' is not a plain file of its own (%s); remove it if you did not put it there",
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
		*err = xasprintf("another run of playbook '%s' holds the lock '%s' (%s); wait for it to finish, or check `drplay status`",
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

/* Whether the run that wrote the journal `path` (started as run_start) is
 * still running: 1 yes, 0 no (its process is gone: killed, or the machine
 * went down), -1 when it cannot be told. *pid is the process looked at. The
 * pid comes from the playbook's lock when the lock names this run, else
 * from run_start. */
static int run_running(const char *dir, const char *path, json_t *start, long *pid)
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

int journal_status(const char *dir, int as_json)
{
	char *path = newest_journal(dir);
	if (!path) {
		fprintf(stderr, "drplay status: no run journal in '%s'; runs write there (pass --journal-dir to look elsewhere)\n",
			dir);
		return 2;
	}
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "drplay status: cannot read '%s': %s\n", path, strerror(errno));
		free(path);
		return 2;
	}
	json_t *start = NULL, *end = NULL, *steps = json_array(), *order = json_object();
	/* The last event of each resource that carried a "state" (an action's
	 * own event such as database_stopped): what the run left it in. */
	json_t *rstates = json_object();
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int bad = 0, last_bad = 0;
	const char *running = NULL;
	json_t *last_start = NULL;
	while ((n = getline(&line, &cap, f)) > 0) {
		json_error_t je;
		/* a line cut off by a crash or a full disk (perhaps NUL-padded)
		 * does not parse; only the last one may be so */
		json_t *ev = json_loadb(line, (size_t)n, 0, &je);
		last_bad = !ev;
		if (!ev) {
			bad++;
			continue;
		}
		if (!as_json) { /* its values reach the terminal escaped (text.h) */
			json_t *safe = json_term(ev);
			json_decref(ev);
			ev = safe;
		}
		const char *type = jstr(ev, "event");
		if (*jstr(ev, "resource") && *jstr(ev, "state"))
			json_object_set(rstates, jstr(ev, "resource"), ev);
		if (!strcmp(type, "run_start")) {
			json_decref(start);
			start = json_incref(ev);
		} else if (!strcmp(type, "run_end")) {
			json_decref(end);
			end = json_incref(ev);
		} else if (!strcmp(type, "step_start")) {
			json_decref(last_start);
			last_start = json_incref(ev);
			running = jstr(ev, "step");
		} else if (!strcmp(type, "step_end") || !strcmp(type, "step_skip")) {
			const char *id = jstr(ev, "step");
			json_t *idx = json_object_get(order, id);
			if (idx) {
				json_array_set(steps, (size_t)json_integer_value(idx), ev);
			} else {
				json_object_set_new(order, id, json_integer((json_int_t)json_array_size(steps)));
				json_array_append(steps, ev);
			}
			if (!strcmp(type, "step_end")) {
				json_decref(last_start);
				last_start = NULL;
			}
		}
		json_decref(ev);
	}
	free(line);
	fclose(f);
	(void)running;
	/* the last line torn: what a crash or a full disk leaves */
	int torn = last_bad;
	bad -= torn;
	long pid = 0;
	int alive = end || !start ? 0 : run_running(dir, path, start, &pid);

	/* What state the run left: the steps folded as the run folds them. */
	struct run_left left;
	left_init(&left);
	json_t *open_gates = json_array();
	size_t i;
	json_t *ev;
	json_array_foreach(steps, i, ev)
	{
		const char *outc = jstr(ev, "outcome");
		int ended = !strcmp(jstr(ev, "event"), "step_end");
		left_step(&left, jstr(ev, "step"), jstr(ev, "category"), ended && !strcmp(outc, "ok"),
			  json_object_get(ev, "kept"));
		if (json_is_true(json_object_get(ev, "gate")) && strcmp(outc, "ok") != 0 && ended)
			json_array_append_new(open_gates, json_string(jstr(ev, "step")));
	}
	const char *maint = left.maint, *maint_step = left.maint_step;
	json_t *snaps = left.kept;

	if (as_json) {
		json_t *o = json_object();
		json_object_set_new(o, "journal", json_string(path));
		json_object_set(o, "run", start ? start : json_null());
		json_object_set(o, "end", end ? end : json_null());
		json_object_set(o, "steps", steps);
		json_object_set_new(o, "finished", json_boolean(end != NULL));
		if (!end && start) {
			json_object_set_new(o, "running", alive < 0 ? json_null() : json_boolean(alive));
			json_object_set_new(o, "pid", json_integer(pid));
		}
		if (!end && last_start)
			json_object_set_new(o, alive > 0 ? "running_step" : "stopped_in", json_string(jstr(last_start, "step")));
		json_object_set_new(o, "torn_last_line", json_boolean(torn && alive <= 0));
		json_object_set_new(o, "unreadable_lines", json_integer(bad));
		json_object_set_new(o, "maintenance", maint ? json_string(maint) : json_null());
		json_object_set(o, "snapshots", snaps);
		json_object_set(o, "failed_gates", open_gates);
		json_object_set(o, "resource_states", rstates);
		json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
		json_decref(o);
	} else {
		printf("journal: %s\n", path);
		if (start)
			printf("run %s of '%s' (%s) in %s mode, started %s\n", jstr(start, "run"),
			       jstr(start, "playbook"), jstr(start, "file"), jstr(start, "mode"),
			       jstr(start, "ts"));
		if (end)
			printf("ended %s: %s (exit %lld)\n", jstr(end, "ts"), jstr(end, "outcome"),
			       (long long)json_integer_value(json_object_get(end, "exit_code")));
		else if (alive > 0 && last_start)
			printf("the run is still running (pid %ld holds this journal open): now in step '%s' (%s)\n", pid,
			       jstr(last_start, "step"), jstr(last_start, "action"));
		else if (alive > 0)
			printf("the run is still running (pid %ld holds this journal open)\n", pid);
		else if (last_start)
			printf("the run did not finish: the journal stops during step '%s' (%s); %s\n",
			       jstr(last_start, "step"), jstr(last_start, "action"),
			       alive == 0 ? "its process is gone (killed, or the machine went down): check what that step left"
					  : "it was killed or is still running");
		else
			printf("the run did not finish: the journal has no end event%s\n",
			       alive == 0 ? "; its process is gone (killed, or the machine went down)" : "");
		if (torn && alive <= 0)
			printf("the journal's last line is incomplete (cut off while it was written: a crash or a full disk); the events before it are shown\n");
		printf("steps:\n");
		json_array_foreach(steps, i, ev)
		{
			const char *outc = jstr(ev, "outcome");
			if (!*outc)
				outc = "skipped";
			json_t *dur = json_object_get(ev, "duration_s");
			char d[32] = "";
			if (json_is_number(dur))
				snprintf(d, sizeof(d), "%.2fs", json_number_value(dur));
			printf("  %-11s %8s  %-18s %-20s", outc, d, jstr(ev, "step"), jstr(ev, "action"));
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
		if (json_array_size(open_gates)) {
			printf("failed gates:");
			json_array_foreach(open_gates, i, ev) printf(" %s", json_string_value(ev));
			putchar('\n');
		}
		if (maint)
			printf("maintenance: %s (last changed by step '%s')%s\n", maint, maint_step,
			       !strcmp(maint, "ON") ? "; lift it only after a verified restore" : "");
		else
			printf("maintenance: not changed by this run\n");
		const char *rname;
		json_t *rs;
		json_object_foreach(rstates, rname, rs)
		{
			char *m = redact(jstr(rs, "message"));
			printf("resource %s: %s (event %s at %s, step '%s')%s%s\n", rname, jstr(rs, "state"),
			       jstr(rs, "event"), jstr(rs, "ts"), jstr(rs, "step"), *m ? ": " : "", m);
			free(m);
		}
		if (json_array_size(snaps)) {
			printf("preserved states (never deleted by a run; `drplay cleanup` removes them on approval):");
			json_array_foreach(snaps, i, ev) printf(" %s", json_string_value(ev));
			putchar('\n');
		}
		if (bad)
			printf("warning: %d journal line(s) before the last could not be read; the journal was altered or damaged\n",
			       bad);
	}
	json_decref(start);
	json_decref(end);
	json_decref(last_start);
	json_decref(steps);
	json_decref(order);
	left_release(&left);
	json_decref(open_gates);
	json_decref(rstates);
	free(path);
	return 0;
}
