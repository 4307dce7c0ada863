/*
 * status.c: `drplay status [RUN_ID | --playbook NAME] [--follow] [--json]`
 * (status.h). Picks the run to show: the one named, else the newest run of
 * a playbook (by its start), so that a one-step command such as `drplay
 * maintenance on` run during a drill never hides the drill. Shows it
 * through the journal's reader (journal_status_of), or follows it: prints
 * every event as it is journaled until the run ends (its run_end), or its
 * process is gone (killed), then exits with the run's exit code.
 *
 * Following waits on inotify for the journal to change, with a timed
 * poll() as the fallback where inotify cannot be had (and to notice, once a
 * second, a run whose process is gone): it never spins.
 */
#include "status.h"
#include "chain.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "journal.h"
#include "jsonout.h"
#include "redact.h"
#include "run.h"
#include "text.h"
#include "util.h"

/* How long the follower waits for a change before it looks whether the
 * run's process is still there; without inotify, how often it reads. */
#define FOLLOW_CHECK_MS 1000
#define FOLLOW_POLL_MS 100
/* A journal that has no run_start this long after it last changed was
 * left by a run that died as it began. */
#define FOLLOW_NO_START_US (5 * 1000000LL)

static const char *jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

/* The first event of a journal (its run_start), or NULL. */
static json_t *first_event(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = getline(&line, &cap, f);
	json_t *ev = n > 0 ? json_loadb(line, (size_t)n, 0, NULL) : NULL;
	free(line);
	fclose(f);
	if (ev && strcmp(jstr(ev, "event"), "run_start") != 0) {
		json_decref(ev);
		ev = NULL;
	}
	return ev;
}

/* A candidate run: a playbook run beats a one-step command, then the later
 * start (run_start's ts, to the millisecond), then the later run id. */
struct pick {
	char *path;
	int playbook_run;
	char ts[48];
	char name[256];
};

static int pick_better(const struct pick *a, const struct pick *b)
{
	if (a->playbook_run != b->playbook_run)
		return a->playbook_run > b->playbook_run;
	int c = strcmp(a->ts, b->ts);
	return c ? c > 0 : strcmp(a->name, b->name) > 0;
}

/* The journal to show: o->run_id's, else the best run (of o->playbook when
 * given). Returns a new path, or NULL with f set. */
static char *pick_journal(const char *dir, const struct status_opts *o, struct fail *f)
{
	if (o->run_id) {
		if (!*o->run_id || strspn(o->run_id, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_") !=
					   strlen(o->run_id)) {
			fail_set(f, EXIT_INVALID, "'%s' is not a run id (such as 20261129T091000Z-1a2b3c4d); `drplay status --json` names the newest",
				 o->run_id);
			return NULL;
		}
		char *p = xasprintf("%s/%s.jsonl", dir, o->run_id);
		struct stat st;
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
			return p;
		fail_set(f, EXIT_INVALID, "no run '%s' in '%s'; check the id, or pass --journal-dir to look elsewhere",
			 o->run_id, dir);
		free(p);
		return NULL;
	}
	DIR *d = opendir(dir);
	struct pick best = { 0 };
	struct dirent *e;
	while (d && (e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (n < 7 || strcmp(e->d_name + n - 6, ".jsonl") != 0 || n >= sizeof(best.name))
			continue;
		struct pick c = { .path = xasprintf("%s/%s", dir, e->d_name) };
		struct stat st;
		json_t *start = stat(c.path, &st) == 0 && S_ISREG(st.st_mode) ? first_event(c.path) : NULL;
		int fits = start && (!o->playbook || !strcmp(jstr(start, "playbook"), o->playbook));
		if (fits) {
			c.playbook_run = json_object_get(start, "command") == NULL;
			snprintf(c.ts, sizeof(c.ts), "%s", jstr(start, "ts"));
			snprintf(c.name, sizeof(c.name), "%s", e->d_name);
		}
		json_decref(start);
		if (fits && (!best.path || pick_better(&c, &best))) {
			free(best.path);
			best = c;
		} else {
			free(c.path);
		}
	}
	if (d)
		closedir(d);
	if (!best.path && o->playbook)
		fail_set(f, EXIT_INVALID, "no run of playbook '%s' in '%s'; runs write there (pass --journal-dir to look elsewhere)",
			 o->playbook, dir);
	else if (!best.path)
		fail_set(f, EXIT_INVALID, "no run journal in '%s'; runs write there (pass --journal-dir to look elsewhere)", dir);
	return best.path;
}

/* ---- following ---- */

struct follow {
	const char *dir, *path;
	int json;
	int fd;           /* the journal, read from the start */
	int in;           /* inotify, or -1: poll instead */
	struct strbuf part; /* a line not yet complete */
	json_t *start;    /* run_start, once read */
	json_t *end;      /* run_end, once read */
	char last_step[128]; /* the step started and not ended */
	int bad;          /* lines that did not parse */
	int64_t changed;  /* when the journal last grew (wall clock) */
};

/* One event for a person: "HH:MM:SS.mmm what happened". */
static void say_event(json_t *ev)
{
	const char *type = jstr(ev, "event"), *ts = jstr(ev, "ts"), *step = jstr(ev, "step");
	const char *clock = strlen(ts) >= 23 ? ts + 11 : ts;
	struct strbuf sb = STRBUF_INIT;
	if (!strcmp(type, "run_start")) {
		sb_addf(&sb, "run %s of '%s' (%s) in %s mode, pid %lld", jstr(ev, "run"), jstr(ev, "playbook"), jstr(ev, "file"),
			jstr(ev, "mode"), (long long)json_integer_value(json_object_get(ev, "pid")));
	} else if (!strcmp(type, "step_start")) {
		sb_addf(&sb, "[%lld] %s: %s started (%s)", (long long)json_integer_value(json_object_get(ev, "index")), step,
			jstr(ev, "action"), jstr(ev, "effect"));
	} else if (!strcmp(type, "step_end")) {
		sb_addf(&sb, "%s: %s in %.2fs", step, jstr(ev, "outcome"), json_number_value(json_object_get(ev, "duration_s")));
		if (*jstr(ev, "error"))
			sb_addf(&sb, ": %s", jstr(ev, "error"));
	} else if (!strcmp(type, "step_skip")) {
		sb_addf(&sb, "%s: skipped: %s", step, jstr(ev, "reason"));
	} else if (!strcmp(type, "log")) {
		sb_addf(&sb, "%s: %s", step, jstr(ev, "message"));
	} else if (!strcmp(type, "progress")) {
		sb_addf(&sb, "%s: %s %.0f%%", step, jstr(ev, "phase"), json_number_value(json_object_get(ev, "percent")));
		json_t *eta = json_object_get(ev, "eta_s");
		if (json_is_number(eta))
			sb_addf(&sb, ", ETA %.0fs", json_number_value(eta));
	} else if (!strcmp(type, "run_end")) {
		sb_addf(&sb, "run %s (exit %lld)", jstr(ev, "outcome"),
			(long long)json_integer_value(json_object_get(ev, "exit_code")));
	} else {
		sb_addf(&sb, "%s%s%s", type, *step ? " " : "", step);
		const char *m = *jstr(ev, "message") ? jstr(ev, "message") : jstr(ev, "error");
		if (*m)
			sb_addf(&sb, ": %s", m);
	}
	redact_fprintf(stdout, "%.12s %s\n", clock, sb_str(&sb));
	fflush(stdout);
	sb_release(&sb);
}

/* One complete journal line: printed (JSON as written, or for a person),
 * and what the follower must know taken from it. */
static void follow_line(struct follow *fw, const char *line, size_t n)
{
	json_t *ev = json_loadb(line, n, 0, NULL);
	if (!ev) {
		fw->bad++;
		return;
	}
	const char *type = jstr(ev, "event");
	if (!strcmp(type, "run_start") && !fw->start)
		fw->start = json_incref(ev);
	else if (!strcmp(type, "run_end") && !fw->end)
		fw->end = json_incref(ev);
	else if (!strcmp(type, "step_start"))
		snprintf(fw->last_step, sizeof(fw->last_step), "%s", jstr(ev, "step"));
	else if (!strcmp(type, "step_end"))
		fw->last_step[0] = '\0';
	if (fw->json) {
		/* the journal's line as it was written (masked when written, and
		 * through the mask again here, like everything drplay prints) */
		jsonout_print(json_incref(ev), stdout, 0);
	} else {
		say_event(ev);
	}
	json_decref(ev);
}

/* Reads what was appended since the last call and prints every complete
 * line. Returns the number of bytes read. */
static size_t follow_read(struct follow *fw)
{
	char buf[65536];
	size_t total = 0;
	ssize_t n;
	while ((n = read(fw->fd, buf, sizeof(buf))) > 0) {
		total += (size_t)n;
		sb_add(&fw->part, buf, (size_t)n);
		const char *s = sb_str(&fw->part);
		size_t len = fw->part.len, at = 0;
		for (const char *nl; (nl = memchr(s + at, '\n', len - at)); at = (size_t)(nl - s) + 1)
			follow_line(fw, s + at, (size_t)(nl - (s + at)));
		if (at) {
			char *rest = xstrndup(s + at, len - at);
			sb_reset(&fw->part);
			sb_add(&fw->part, rest, len - at);
			free(rest);
		}
	}
	if (total)
		fw->changed = now_us();
	return total;
}

/* Waits for the journal to change, at most FOLLOW_CHECK_MS. */
static void follow_wait(struct follow *fw)
{
	if (fw->in < 0) {
		struct timespec ts = { 0, FOLLOW_POLL_MS * 1000000L };
		nanosleep(&ts, NULL);
		return;
	}
	struct pollfd p = { .fd = fw->in, .events = POLLIN };
	if (poll(&p, 1, FOLLOW_CHECK_MS) > 0) {
		char ev[4096];
		while (read(fw->in, ev, sizeof(ev)) > 0) {
			/* drained: what changed is read from the journal itself */
		}
	}
}

/* The end of following: a last line (follow_end for JSON) and the exit
 * code: the run's own, or EXIT_INTERRUPTED for a run whose process is gone
 * without a run_end. */
static int follow_end(struct follow *fw, long pid)
{
	int killed = fw->end == NULL;
	int rc = killed ? EXIT_INTERRUPTED : (int)json_integer_value(json_object_get(fw->end, "exit_code"));
	if (fw->json) {
		json_t *o = jsonout_new("drplay.follow/1");
		char ts[40];
		int64_t now = now_us();
		fmt_timestamp(now, ts, sizeof(ts));
		json_object_set_new(o, "ts", json_string(ts));
		json_object_set_new(o, "event", json_string("follow_end"));
		json_object_set_new(o, "run", json_string(fw->start ? jstr(fw->start, "run") : ""));
		json_object_set_new(o, "journal", json_text(fw->path));
		json_object_set_new(o, "state", json_string(killed ? "killed" : "finished"));
		json_object_set_new(o, "exit_code", json_integer(rc));
		if (killed && fw->last_step[0])
			json_object_set_new(o, "stopped_in", json_string(fw->last_step));
		if (killed)
			json_object_set_new(o, "pid", json_integer(pid));
		json_object_set_new(o, "torn_last_line", json_boolean(fw->part.len > 0));
		json_object_set_new(o, "unreadable_lines", json_integer(fw->bad));
		jsonout_print(o, stdout, 0);
	} else if (killed) {
		redact_fprintf(stdout, "the run was killed: its process (pid %ld) is gone and the journal has no end%s%s%s; `drplay status` shows what it left\n",
			       pid, fw->last_step[0] ? " (it stopped during step '" : "", fw->last_step,
			       fw->last_step[0] ? "')" : "");
	}
	return rc;
}

static int follow_run(const char *dir, const char *path, int json)
{
	struct follow fw = { .dir = dir, .path = path, .json = json, .changed = now_us() };
	sb_init(&fw.part, (size_t)-1);
	fw.fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fw.fd < 0) {
		struct fail f = FAIL_INIT;
		fail_set(&f, EXIT_INVALID, "cannot read '%s': %s", path, strerror(errno));
		int rc = fail_print(&f, "drplay status");
		fail_release(&f);
		return rc;
	}
	fw.in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (fw.in >= 0 && inotify_add_watch(fw.in, path, IN_MODIFY | IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF) < 0) {
		close(fw.in);
		fw.in = -1;
	}
	long pid = 0;
	int64_t checked = 0;
	for (;;) {
		follow_read(&fw);
		if (fw.end)
			break;
		int64_t now = mono_us();
		if (now - checked >= FOLLOW_CHECK_MS * 1000LL) {
			checked = now;
			int alive = fw.start ? journal_run_alive(dir, path, fw.start, &pid)
					     : now_us() - fw.changed < FOLLOW_NO_START_US;
			/* gone: read once more, for what it wrote before it went */
			if (alive == 0 && (follow_read(&fw), !fw.end))
				break;
		}
		follow_wait(&fw);
	}
	int rc = follow_end(&fw, pid);
	if (fw.in >= 0)
		close(fw.in);
	close(fw.fd);
	sb_release(&fw.part);
	json_decref(fw.start);
	json_decref(fw.end);
	return rc;
}

/* --verify: the chain, knowing whether the run still runs (a half-written
 * last line is then the run at work, not damage). */
static int verify(const char *dir, const char *path, int json)
{
	json_t *start = first_event(path);
	long pid = 0;
	int running = start ? journal_run_alive(dir, path, start, &pid) : -1;
	json_decref(start);
	return chain_verify_print(path, json, running, pid);
}

int status_show(const struct status_opts *o)
{
	char *dir = journal_default_dir(o->dir);
	struct fail f = FAIL_INIT;
	char *path = pick_journal(dir, o, &f);
	int rc;
	if (!path)
		rc = fail_print(&f, "drplay status");
	else if (o->verify)
		rc = verify(dir, path, o->json);
	else if (o->follow)
		rc = follow_run(dir, path, o->json);
	else
		rc = journal_status_of(dir, path, o->json);
	fail_release(&f);
	free(path);
	free(dir);
	return rc;
}
