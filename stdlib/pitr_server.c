/*
 * pitr_server.c: a PostgreSQL server on this host, as the local and
 * pgbackrest drivers of pitr need it (see pitr.h): pg_ctl as the server's OS
 * user (PostgreSQL refuses root), waiting for a recovered server to accept
 * connections and leave recovery, recovery settings in postgresql.auto.conf,
 * the WAL the archive lacks, and the restore procedure itself with its
 * rollback: a replaced data directory is renamed, never deleted, so that a
 * failed restore can put it back and start it again.
 *
 * Files and directory trees are copied with cp(1) and removed with nftw(3):
 * cp -a keeps modes and ownership exactly as PostgreSQL expects and is what
 * an operator would run by hand.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pitr.h"
#include "text.h"

int srv_check_dir_owner(struct srv *s, const char *dir, const char *what);

#define MARK_BEGIN "# drplay recovery settings (removed after promotion)"
#define MARK_END "# end of drplay recovery settings"

int pitr_safe_name(const char *name)
{
	if (!name || !*name || strlen(name) > 200 || !strcmp(name, ".") || !strcmp(name, ".."))
		return 0;
	for (const char *p = name; *p; p++)
		if (*p == '/' || (unsigned char)*p < 0x20 || *p == '\'' || *p == '"' || *p == '\\')
			return 0;
	return 1;
}

static char *parent_of(const char *path)
{
	char *c = xstrdup(path);
	size_t n = strlen(c);
	while (n > 1 && c[n - 1] == '/')
		c[--n] = '\0';
	char *d = xstrdup(dirname(c));
	free(c);
	return d;
}

static int is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int exists(const char *p)
{
	struct stat st;
	return lstat(p, &st) == 0;
}

/* mkdir (one level) owned by the OS user. */
static int mkdir_owned(struct srv *s, const char *dir, mode_t mode)
{
	if (mkdir(dir, mode) != 0 && errno != EEXIST)
		return -1;
	if (geteuid() == 0 && chown(dir, s->uid, s->gid) != 0)
		return -1;
	return 0;
}

static void find_bindir(struct srv *s)
{
	const char *f = res_str(s->p->r, "pg_bindir");
	if (f && *f) {
		snprintf(s->bindir, sizeof(s->bindir), "%s", f);
		return;
	}
	char *vf = xasprintf("%s/PG_VERSION", s->data_dir);
	char *ver = NULL;
	size_t len;
	if (read_file(vf, 64, &ver, &len) == 0) {
		ver[strcspn(ver, "\r\n")] = '\0';
		char *d = xasprintf("/usr/lib/postgresql/%s/bin", ver);
		char *t = xasprintf("%s/pg_ctl", d);
		if (access(t, X_OK) == 0)
			snprintf(s->bindir, sizeof(s->bindir), "%s", d);
		free(d);
		free(t);
	}
	free(ver);
	free(vf);
	if (s->bindir[0])
		return;
	glob_t g;
	if (glob("/usr/lib/postgresql/*/bin/pg_ctl", 0, NULL, &g) == 0 && g.gl_pathc) {
		char *last = xstrdup(g.gl_pathv[g.gl_pathc - 1]);
		snprintf(s->bindir, sizeof(s->bindir), "%s", dirname(last));
		free(last);
	}
	globfree(&g);
}

int srv_init(struct pitr *p, struct srv *s)
{
	memset(s, 0, sizeof(*s));
	s->p = p;
	struct act *a = p->a;
	s->data_dir = res_str(p->r, "data_dir");
	if (!s->data_dir || s->data_dir[0] != '/') {
		act_fail(a, "pitr resource '%s' (driver %s) needs data_dir: the server's data directory as an absolute path, not '%s'",
			 p->r->name, p->driver, s->data_dir ? s->data_dir : "");
		return -1;
	}
	s->os_user = res_str(p->r, "os_user");
	if (!s->os_user || !*s->os_user)
		s->os_user = "postgres";
	struct passwd *pw = getpwnam(s->os_user);
	if (!pw) {
		act_fail(a, "pitr resource '%s': the server's OS user '%s' does not exist on this host; set os_user to the user that owns the data directory",
			 p->r->name, s->os_user);
		return -1;
	}
	s->uid = pw->pw_uid;
	s->gid = pw->pw_gid;
	if (geteuid() != 0 && geteuid() != s->uid) {
		struct passwd *me = getpwuid(geteuid());
		act_fail(a, "pitr resource '%s': drplay runs as '%s', but the %s driver manages the server as '%s'; run drplay as root or as '%s' on the database host",
			 p->r->name, me ? me->pw_name : "?", p->driver, s->os_user, s->os_user);
		return -1;
	}
	/* Everything below runs as the OS user on this directory: a wrong
	 * owner is reported first, before anything is tried. */
	if (srv_check_dir_owner(s, s->data_dir, "the data directory") != 0)
		return -1;
	find_bindir(s);
	char *parent = parent_of(s->data_dir);
	const char *pd = res_str(p->r, "preserve_dir");
	const char *bd = res_str(p->r, "branch_dir");
	s->preserve_dir = pd && *pd ? xstrdup(pd) : xasprintf("%s/drplay-preserved", parent);
	s->branch_dir = bd && *bd ? xstrdup(bd) : xasprintf("%s/drplay-branches", parent);
	free(parent);
	/* Registers the database password as a secret before anything can
	 * print a connection string. */
	char *ci = NULL, *pwe = NULL;
	if (pg_child_conninfo(a, p->db, NULL, &ci, &pwe) != 0)
		return -1;
	free(ci);
	free_secret(pwe);
	return 0;
}

void srv_release(struct srv *s)
{
	free(s->preserve_dir);
	free(s->branch_dir);
	s->preserve_dir = s->branch_dir = NULL;
}

const char *srv_tool(struct srv *s, const char *tool)
{
	static char buf[700];
	if (s->bindir[0])
		snprintf(buf, sizeof(buf), "%s/%s", s->bindir, tool);
	else
		snprintf(buf, sizeof(buf), "%s", tool);
	return buf;
}

/* The last lines of a tool's output, for an error message. */
static const char *tail_of(const struct spawn_result *res)
{
	static char buf[600];
	const char *t = res->err && *res->err ? res->err : res->out ? res->out : "";
	size_t n = strlen(t);
	while (n && (t[n - 1] == '\n' || t[n - 1] == ' '))
		n--;
	size_t start = n > 500 ? n - 500 : 0;
	snprintf(buf, sizeof(buf), "%.*s", (int)(n - start), t + start);
	for (char *p = buf; *p; p++)
		if (*p == '\n')
			*p = ' ';
	return buf;
}

int srv_run(struct srv *s, char *const argv[], char *const *env, const char *what, char **out)
{
	struct spawn_opts o = { 0 };
	o.env_extra = env;
	o.cwd = "/";
	o.stdin_fd = -1;
	o.stdout_fd = -1;
	o.stderr_fd = -1;
	o.run_as = s->os_user;
	struct spawn_result res;
	if (act_run(s->p->a, argv, &o, &res) != 0)
		return -1;
	int rc = 0;
	if (res.cancelled) {
		act_fail(s->p->a, "%s: interrupted or timed out", what);
		rc = -1;
	} else if (!res.exited || res.status != 0) {
		act_fail(s->p->a, "%s failed (%s %d)%s%s", what, res.exited ? "exit status" : "signal", res.status,
			 *tail_of(&res) ? ": " : "", tail_of(&res));
		rc = -1;
	}
	if (rc == 0 && out) {
		*out = res.out;
		res.out = NULL;
	}
	spawn_result_release(&res);
	return rc;
}

int srv_check_dir_owner(struct srv *s, const char *dir, const char *what)
{
	struct stat st;
	if (stat(dir, &st) != 0) {
		act_fail(s->p->a, "pitr resource '%s': %s '%s' cannot be read: %s", s->p->r->name, what, dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		act_fail(s->p->a, "pitr resource '%s': %s '%s' is not a directory", s->p->r->name, what, dir);
		return -1;
	}
	if (st.st_uid != s->uid) {
		struct passwd *ow = getpwuid(st.st_uid);
		act_fail(s->p->a, "pitr resource '%s': %s '%s' is owned by '%s', not by the server user '%s'; PostgreSQL would refuse to start on it: chown -R %s it (or set os_user); nothing was changed",
			 s->p->r->name, what, dir, ow ? ow->pw_name : "?", s->os_user, s->os_user);
		return -1;
	}
	if (st.st_mode & 0027) {
		act_fail(s->p->a, "pitr resource '%s': %s '%s' has mode %04o; PostgreSQL needs 0700 or 0750: chmod 0700 it; nothing was changed",
			 s->p->r->name, what, dir, (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

pid_t srv_running(const char *dir)
{
	char *pf = xasprintf("%s/postmaster.pid", dir);
	char *text = NULL;
	size_t len;
	pid_t pid = 0;
	if (read_file(pf, 4096, &text, &len) == 0) {
		int64_t v;
		text[strcspn(text, "\n")] = '\0';
		if (parse_int64(text, &v) == 0 && v > 0 && (kill((pid_t)v, 0) == 0 || errno == EPERM))
			pid = (pid_t)v;
	}
	free(text);
	free(pf);
	return pid;
}

void srv_journal_state(struct srv *s, int running, const char *message)
{
	json_t *f = json_object();
	json_object_set_new(f, "resource", json_string(s->p->db->name));
	json_object_set_new(f, "state", json_string(running ? "running" : "STOPPED"));
	json_object_set_new(f, "data_dir", json_text(s->data_dir));
	json_object_set_new(f, "message", json_text(message ? message : ""));
	act_journal(s->p->a, running ? "database_started" : "database_stopped", f);
}

/* pg_ctl stop -m mode, waiting up to secs. pg_ctl's exit code. */
static int pgctl_stop(struct srv *s, const char *dir, const char *mode, const char *secs, const char *what)
{
	char *tool = xstrdup(srv_tool(s, "pg_ctl"));
	char *argv[] = { tool, "-D", (char *)dir, "-m", (char *)mode, "-w", "-t", (char *)secs, "stop", NULL };
	int rc = srv_run(s, argv, NULL, what, NULL);
	free(tool);
	return rc;
}

int srv_stop(struct srv *s, const char *dir, int journal, const char *why)
{
	if (!srv_running(dir))
		return 0;
	int rc = pgctl_stop(s, dir, "fast", "120", "pg_ctl stop");
	if (rc != 0 && srv_running(dir))
		rc = pgctl_stop(s, dir, "immediate", "60", "pg_ctl stop -m immediate");
	if (srv_running(dir)) {
		act_fail(s->p->a, "pitr resource '%s': the server of '%s' did not stop; nothing was changed", s->p->r->name, dir);
		return -1;
	}
	if (journal) {
		srv_journal_state(s, 0, why);
		act_log(s->p->a, "server of '%s' stopped (%s)", dir, why);
	}
	return 0;
}

int srv_start(struct srv *s, const char *dir, const char *log, const char *opts)
{
	char *tool = xstrdup(srv_tool(s, "pg_ctl"));
	char *argv[12];
	int n = 0;
	argv[n++] = tool;
	argv[n++] = "-D";
	argv[n++] = (char *)dir;
	argv[n++] = "-l";
	argv[n++] = (char *)log;
	argv[n++] = "-W";
	if (opts && *opts) {
		argv[n++] = "-o";
		argv[n++] = (char *)opts;
	}
	argv[n++] = "start";
	argv[n] = NULL;
	int rc = srv_run(s, argv, NULL, "pg_ctl start", NULL);
	free(tool);
	return rc;
}

/* A libpq connection that never act_fail's (polling while a server starts). */
static PGconn *try_connect(const char *conninfo, int timeout_s)
{
	char t[16];
	snprintf(t, sizeof(t), "%d", timeout_s);
	const char *keys[] = { "dbname", "connect_timeout", "application_name", NULL };
	const char *vals[] = { conninfo, t, "drplay", NULL };
	PGconn *c = PQconnectdbParams(keys, vals, 1);
	if (c && PQstatus(c) == CONNECTION_OK)
		return c;
	PQfinish(c);
	return NULL;
}

/* The FATAL/PANIC lines at the end of a server log. */
static void log_fatal(const char *log, char *out, size_t n)
{
	char *text = NULL;
	size_t len;
	out[0] = '\0';
	if (!log || read_file(log, 64 << 20, &text, &len) != 0)
		return;
	size_t start = len > 16384 ? len - 16384 : 0;
	struct strbuf sb = STRBUF_INIT;
	char *save = NULL;
	for (char *line = strtok_r(text + start, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strstr(line, "FATAL:") || strstr(line, "PANIC:") || strstr(line, "HINT:")) {
			const char *m = strstr(line, "FATAL:");
			if (!m)
				m = strstr(line, "PANIC:");
			if (!m)
				m = strstr(line, "HINT:");
			sb_addf(&sb, "%s%s", sb.len ? "; " : "", m);
		}
	}
	snprintf(out, n, "%s", sb_str(&sb));
	sb_release(&sb);
	free(text);
}

int srv_wait_ready(struct srv *s, const char *dir, const char *conninfo, const char *log, int64_t timeout_us,
		   char *err, size_t errlen)
{
	struct act *a = s->p->a;
	int64_t t0 = mono_us();
	int seen = 0;
	int64_t last_note = t0;
	uint64_t replay_base = 0;
	for (;;) {
		if (act_cancelled(a)) {
			snprintf(err, errlen, "interrupted (or the step timed out) while waiting for the server of '%s'", dir);
			return -1;
		}
		pid_t pid = srv_running(dir);
		if (pid)
			seen = 1;
		if (!pid && (seen || mono_us() - t0 > 10000000)) {
			char fatal[1200];
			log_fatal(log, fatal, sizeof(fatal));
			snprintf(err, errlen, "the server of '%s' stopped during start-up or recovery: %s (log %s)", dir,
				 *fatal ? fatal : "no FATAL line in its log", log ? log : "?");
			return -1;
		}
		PGconn *c = try_connect(conninfo, 2);
		if (c) {
			/* while it replays (hot standby lets us in once consistent):
			 * the WAL replayed since the checkpoint recovery began at, as
			 * progress; the end is not known beforehand (a time target),
			 * so no total and no ETA */
			PGresult *res = PQexec(c, "SELECT pg_is_in_recovery(), "
						  "pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::bigint, "
						  "(SELECT pg_wal_lsn_diff(redo_lsn, '0/0')::bigint FROM pg_control_checkpoint())");
			int ok = res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
			int in_rec = !ok || PQgetvalue(res, 0, 0)[0] == 't';
			if (ok && in_rec && !PQgetisnull(res, 0, 1) && !PQgetisnull(res, 0, 2)) {
				uint64_t at = strtoull(PQgetvalue(res, 0, 1), NULL, 10);
				if (!replay_base)
					replay_base = strtoull(PQgetvalue(res, 0, 2), NULL, 10);
				act_progress(a, "replay", at > replay_base ? at - replay_base : 0, 0);
			}
			PQclear(res);
			PQfinish(c);
			if (!in_rec)
				return 0;
		}
		if (mono_us() - t0 > timeout_us) {
			char lim[32];
			snprintf(err, errlen, "the server of '%s' was not out of recovery and accepting connections after %s (log %s)",
				 dir, fmt_duration(timeout_us, lim, sizeof(lim)), log ? log : "?");
			return -1;
		}
		if (mono_us() - last_note > 15000000) {
			act_log(a, "still waiting for the server of '%s' to finish recovery (%.0fs)", dir,
				(double)(mono_us() - t0) / 1e6);
			last_note = mono_us();
		}
		act_sleep(a, 50000);
	}
}

int srv_controldata(struct srv *s, const char *dir, unsigned *tli, char *lsn, size_t lsnlen, uint64_t *segsize)
{
	char *tool = xstrdup(srv_tool(s, "pg_controldata"));
	char *argv[] = { tool, "-D", (char *)dir, NULL };
	char *out = NULL;
	char *env[] = { "LC_ALL=C", NULL };
	int rc = srv_run(s, argv, env, "pg_controldata", &out);
	free(tool);
	if (rc != 0)
		return -1;
	*tli = 0;
	if (lsn)
		lsn[0] = '\0';
	if (segsize)
		*segsize = 16u << 20;
	char *save = NULL;
	for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *colon = strchr(line, ':');
		if (!colon)
			continue;
		const char *v = colon + 1;
		while (*v == ' ')
			v++;
		if (!strncmp(line, "Latest checkpoint's TimeLineID:", 31))
			*tli = (unsigned)strtoul(v, NULL, 10);
		else if (!strncmp(line, "Latest checkpoint location:", 27) && lsn)
			snprintf(lsn, lsnlen, "%s", v);
		else if (!strncmp(line, "Bytes per WAL segment:", 22) && segsize)
			*segsize = strtoull(v, NULL, 10);
	}
	free(out);
	if (!*tli) {
		act_fail(s->p->a, "pg_controldata of '%s' gave no timeline; is it a PostgreSQL data directory?", dir);
		return -1;
	}
	return 0;
}

int64_t srv_now(struct srv *s)
{
	if (!srv_running(s->data_dir))
		return 0;
	PGconn *c = try_connect(res_str(s->p->db, "dsn"), 5);
	if (!c)
		return 0;
	int64_t us = 0;
	PGresult *res = PQexec(c, "SELECT (extract(epoch FROM now()) * 1000000)::bigint");
	if (res && PQresultStatus(res) == PGRES_TUPLES_OK)
		parse_int64(PQgetvalue(res, 0, 0), &us);
	PQclear(res);
	PQfinish(c);
	return us;
}

int srv_seal_wal(struct srv *s, unsigned *tli, int64_t wait_us)
{
	struct act *a = s->p->a;
	PGconn *c = pg_connect_new(a, s->p->db, NULL);
	if (!c)
		return -1;
	PGresult *res = pg_exec(a, c, "writing a marker commit", "SELECT txid_current()");
	if (!res) {
		PQfinish(c);
		return -1;
	}
	PQclear(res);
	res = pg_exec(a, c, "reading the current timeline", "SELECT pg_walfile_name(pg_current_wal_lsn())");
	if (!res) {
		PQfinish(c);
		return -1;
	}
	char cur[64];
	snprintf(cur, sizeof(cur), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	char tl[9];
	snprintf(tl, sizeof(tl), "%.8s", cur);
	*tli = (unsigned)strtoul(tl, NULL, 16);
	/* The switch needs superuser or pg_switch_wal rights; without them the
	 * unarchived WAL is copied from pg_wal after the stop instead. */
	PGresult *sw = PQexec(c, "SELECT pg_walfile_name(pg_switch_wal())");
	if (!sw || PQresultStatus(sw) != PGRES_TUPLES_OK) {
		act_log(a, "note: cannot switch WAL (%s); the WAL the archive lacks is copied from pg_wal instead",
			PQresultErrorField(sw, PG_DIAG_MESSAGE_PRIMARY) ? PQresultErrorField(sw, PG_DIAG_MESSAGE_PRIMARY)
									 : "no result");
		PQclear(sw);
		PQfinish(c);
		return 0;
	}
	char seg[64];
	snprintf(seg, sizeof(seg), "%s", PQgetvalue(sw, 0, 0));
	PQclear(sw);
	if (wait_us <= 0) {
		PQfinish(c);
		return 0;
	}
	int64_t end = mono_us() + wait_us;
	int ok = 0;
	while (mono_us() < end && !act_cancelled(a)) {
		res = PQexec(c, "SELECT coalesce(last_archived_wal, ''), coalesce(last_failed_wal, ''), "
				"coalesce(last_failed_time > last_archived_time, last_failed_time IS NOT NULL) FROM pg_stat_archiver");
		if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
			PQclear(res);
			break;
		}
		const char *arch = PQgetvalue(res, 0, 0);
		ok = *arch && strlen(arch) >= 24 && strncmp(arch + 8, seg + 8, 16) >= 0 && !strncmp(arch, seg, 8);
		int failing = PQgetvalue(res, 0, 2)[0] == 't';
		char failed[64];
		snprintf(failed, sizeof(failed), "%s", PQgetvalue(res, 0, 1));
		PQclear(res);
		if (ok)
			break;
		if (failing && mono_us() > end - wait_us + 3000000) {
			act_log(a, "WARNING: the WAL archiver is failing (last failed segment %s); the WAL the archive lacks is copied from pg_wal",
				failed);
			break;
		}
		act_sleep(a, 20000);
	}
	if (!ok)
		act_log(a, "note: segment %s was not archived in time; the restore copies it from pg_wal", seg);
	PQfinish(c);
	return 0;
}

static int is_segment_name(const char *n)
{
	if (strlen(n) != 24)
		return 0;
	for (const char *p = n; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'F')))
			return 0;
	return 1;
}

int srv_copy_unarchived_wal(struct srv *s, const char *old_pgwal, const char *have, const char *new_pgwal,
			    const char *end_name)
{
	DIR *d = opendir(old_pgwal);
	if (!d)
		return 0; /* nothing to copy from */
	struct dirent *e;
	char **files = NULL;
	size_t n = 0, cap = 0;
	while ((e = readdir(d))) {
		const char *nm = e->d_name;
		size_t l = strlen(nm);
		int hist = l > 8 && !strcmp(nm + l - 8, ".history");
		if (!is_segment_name(nm) && !hist)
			continue;
		if (!hist && end_name && strncmp(nm + 8, end_name + 8, 16) > 0)
			continue; /* a recycled segment waiting to be reused */
		char *in_new = xasprintf("%s/%s", new_pgwal, nm);
		int skip = exists(in_new);
		free(in_new);
		if (!skip && have) {
			char *h = xasprintf("%s/%s", have, nm);
			skip = exists(h);
			free(h);
		} else if (!skip) {
			char *done = xasprintf("%s/archive_status/%s.done", old_pgwal, nm);
			skip = exists(done);
			free(done);
		}
		if (skip)
			continue;
		if (n + 3 >= cap) {
			cap = cap ? cap * 2 : 16;
			files = xrealloc(files, cap * sizeof(*files));
		}
		files[n++] = xasprintf("%s/%s", old_pgwal, nm);
	}
	closedir(d);
	if (!n) {
		free(files);
		return 0;
	}
	char **argv = xcalloc(n + 4, sizeof(*argv));
	argv[0] = "cp";
	argv[1] = "-p";
	for (size_t i = 0; i < n; i++)
		argv[2 + i] = files[i];
	argv[2 + n] = (char *)new_pgwal;
	argv[3 + n] = NULL;
	int rc = srv_run(s, argv, NULL, "copying the WAL the archive lacks", NULL);
	if (rc == 0)
		act_log(s->p->a, "copied %zu WAL file%s the archive lacks from the replaced pg_wal", n, n == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++)
		free(files[i]);
	free(files);
	free(argv);
	return rc;
}

/* Writes a file owned by the OS user (replacing it atomically). */
static int write_owned(struct srv *s, const char *path, const char *text)
{
	char *tmp = xasprintf("%s.drplay-tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int rc = 0;
	if (fd < 0 || write_all(fd, text, strlen(text)) != 0 || fsync(fd) != 0)
		rc = -1;
	if (fd >= 0 && geteuid() == 0 && fchown(fd, s->uid, s->gid) != 0)
		rc = -1;
	if (fd >= 0)
		close(fd);
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -1;
	if (rc != 0) {
		act_fail(s->p->a, "cannot write '%s': %s", path, strerror(errno));
		unlink(tmp);
	}
	free(tmp);
	return rc;
}

static char *read_text(const char *path)
{
	char *t = NULL;
	size_t len;
	if (read_file(path, 16 << 20, &t, &len) != 0)
		return xstrdup("");
	return t;
}

int srv_write_recovery(struct srv *s, const char *dir, const char *const *lines, int signal)
{
	char *path = xasprintf("%s/postgresql.auto.conf", dir);
	char *old = read_text(path);
	struct strbuf sb = STRBUF_INIT;
	sb_adds(&sb, old);
	if (sb.len && sb.buf[sb.len - 1] != '\n')
		sb_addc(&sb, '\n');
	sb_addf(&sb, "%s\n", MARK_BEGIN);
	for (const char *const *l = lines; *l; l++)
		sb_addf(&sb, "%s\n", *l);
	sb_addf(&sb, "%s\n", MARK_END);
	int rc = write_owned(s, path, sb_str(&sb));
	sb_release(&sb);
	free(old);
	free(path);
	if (rc == 0 && signal) {
		char *sig = xasprintf("%s/recovery.signal", dir);
		rc = write_owned(s, sig, "");
		free(sig);
	}
	return rc;
}

void srv_clean_recovery(struct srv *s, const char *dir)
{
	char *path = xasprintf("%s/postgresql.auto.conf", dir);
	char *old = read_text(path);
	struct strbuf sb = STRBUF_INIT;
	int skipping = 0, changed = 0;
	char *save = NULL;
	for (char *line = strtok_r(old, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strcmp(line, MARK_BEGIN)) {
			skipping = changed = 1;
			continue;
		}
		if (!strcmp(line, MARK_END)) {
			skipping = 0;
			continue;
		}
		if (!skipping)
			sb_addf(&sb, "%s\n", line);
	}
	if (changed && write_owned(s, path, sb_str(&sb)) != 0)
		act_log(s->p->a, "note: could not remove drplay's recovery settings from %s (harmless after promotion)", path);
	sb_release(&sb);
	free(old);
	free(path);
}

int srv_set_conf(struct srv *s, const char *dir, const char *const *lines)
{
	char *path = xasprintf("%s/postgresql.auto.conf", dir);
	char *old = read_text(path);
	struct strbuf sb = STRBUF_INIT;
	sb_adds(&sb, old);
	if (sb.len && sb.buf[sb.len - 1] != '\n')
		sb_addc(&sb, '\n');
	for (const char *const *l = lines; *l; l++)
		sb_addf(&sb, "%s\n", *l);
	int rc = write_owned(s, path, sb_str(&sb));
	sb_release(&sb);
	free(old);
	free(path);
	return rc;
}

int srv_copy_tree(struct srv *s, const char *src, const char *dst, const char *what)
{
	char *argv[] = { "cp", "-a", "--reflink=auto", (char *)src, (char *)dst, NULL };
	return srv_run(s, argv, NULL, what, NULL);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	if (remove(path) != 0 && errno != ENOENT)
		return -1;
	return 0;
}

int srv_remove_tree(struct srv *s, const char *dir, char *err, size_t errlen)
{
	char a[PATH_MAX], b[PATH_MAX];
	if (realpath(dir, a) && realpath(s->data_dir, b)) {
		size_t la = strlen(a);
		if (!strcmp(a, "/") || !strncmp(b, a, la)) {
			snprintf(err, errlen, "refusing to delete '%s': it is (or contains) the live data directory", dir);
			return -1;
		}
	}
	if (nftw(dir, rm_one, 32, FTW_DEPTH | FTW_PHYS) != 0 && exists(dir)) {
		snprintf(err, errlen, "cannot delete '%s': %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

int srv_free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	struct sockaddr_in sa = { 0 };
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = 0;
	socklen_t sl = sizeof(sa);
	int port = 0;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
		port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static void add_kv(struct strbuf *sb, const char *k, const char *v)
{
	sb_addf(sb, "%s%s='", sb->len ? " " : "", k);
	for (const char *p = v; *p; p++) {
		if (*p == '\'' || *p == '\\')
			sb_addc(sb, '\\');
		sb_addc(sb, *p);
	}
	sb_addc(sb, '\'');
}

char *srv_dsn_with_port(struct srv *s, int port)
{
	const char *dsn = res_str(s->p->db, "dsn");
	char *err = NULL;
	PQconninfoOption *opts = dsn ? PQconninfoParse(dsn, &err) : NULL;
	if (!opts) {
		act_fail(s->p->a, "postgres resource '%s': the dsn cannot be parsed: %s", s->p->db->name, err ? err : "empty");
		PQfreemem(err);
		return NULL;
	}
	struct strbuf sb = STRBUF_INIT;
	char ps[16];
	snprintf(ps, sizeof(ps), "%d", port);
	int have_host = 0;
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		if (!o->val || !*o->val || !strcmp(o->keyword, "port"))
			continue;
		if (!strcmp(o->keyword, "host") || !strcmp(o->keyword, "hostaddr"))
			have_host = 1;
		add_kv(&sb, o->keyword, o->val);
	}
	if (!have_host)
		add_kv(&sb, "host", "127.0.0.1");
	add_kv(&sb, "port", ps);
	PQconninfoFree(opts);
	return sb_detach(&sb);
}

/* ---- the restore procedure ---- */

static void preserve_meta(struct srv *s, const char *name, const char *path)
{
	char ts[40];
	json_t *m = json_object();
	json_object_set_new(m, "name", json_string(name));
	json_object_set_new(m, "type", json_string("preserved"));
	json_object_set_new(m, "created", json_string(fmt_timestamp(now_us(), ts, sizeof(ts))));
	json_object_set_new(m, "run", json_string(act_run_id(s->p->a)));
	json_object_set_new(m, "step", json_string(act_step_id(s->p->a)));
	json_object_set_new(m, "resource", json_string(s->p->r->name));
	json_object_set_new(m, "replaced_data_dir", json_string(s->data_dir));
	json_object_set_new(m, "path", json_string(path));
	char *text = json_dumps(m, JSON_INDENT(2));
	json_decref(m);
	char *mp = xasprintf("%s/%s.drplay.json", s->preserve_dir, name);
	int fd = open(mp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd >= 0) {
		if (write_all(fd, text, strlen(text)) != 0 || fsync(fd) != 0)
			act_log(s->p->a, "note: could not write %s", mp);
		close(fd);
	}
	free(mp);
	free(text);
}

/* Starts the data directory in place again after a failed attempt. */
static int restart_original(struct srv *s, char *err, size_t errlen)
{
	char *log = xasprintf("%s/drplay-server.log", s->data_dir);
	const char *lf = res_str(s->p->r, "log_file");
	int rc = srv_start(s, s->data_dir, lf && *lf ? lf : log, NULL);
	if (rc == 0)
		rc = srv_wait_ready(s, s->data_dir, res_str(s->p->db, "dsn"), lf && *lf ? lf : log,
				    res_duration_us(s->p->r, "start_timeout", 3600000000LL), err, errlen);
	else
		snprintf(err, errlen, "%s", act_error(s->p->a) ? act_error(s->p->a) : "pg_ctl start failed");
	free(log);
	return rc;
}

/* Before anything moves: the preserved name is free, its directory
 * exists, and the server is stopped (its WAL sealed first). *running: it
 * was running. 0, or -1 after act_fail (nothing changed). */
static int restore_prepare(struct srv_restore *rs, const char *preserved, int *running)
{
	struct srv *s = rs->s;
	struct pitr *p = s->p;
	struct act *a = p->a;
	if (exists(preserved))
		return act_fail(a, "pitr resource '%s': a preserved state named '%s' already exists (%s); choose another preserve_as; nothing was changed",
				p->r->name, rs->preserve_as, preserved), -1;
	if (mkdir_owned(s, s->preserve_dir, 0700) != 0)
		return act_fail(a, "pitr resource '%s': cannot create the preserve directory '%s': %s; nothing was changed",
				p->r->name, s->preserve_dir, strerror(errno)), -1;
	*running = srv_running(s->data_dir) != 0;
	if (!*running) {
		act_log(a, "the server of '%s' is not running; restoring without stopping it", s->data_dir);
		return 0;
	}
	unsigned tli;
	if (srv_seal_wal(s, &tli, 0) != 0)
		return -1;
	return srv_stop(s, s->data_dir, 1, "pitr.restore stopped it to replace its data directory");
}

/* The WAL files the archive lacks, from the replaced pg_wal into the new
 * one, up to the segment of the last checkpoint (lsn on timeline tli). */
static int restore_copy_wal(struct srv_restore *rs, const char *preserved, unsigned tli, const char *lsn,
			    uint64_t segsz)
{
	struct srv *s = rs->s;
	char *oldw = xasprintf("%s/pg_wal", preserved), *neww = xasprintf("%s/pg_wal", s->data_dir);
	uint64_t l = 0;
	unsigned hi = 0, lo = 0;
	if (sscanf(lsn, "%X/%X", &hi, &lo) == 2)
		l = ((uint64_t)hi << 32) | lo;
	uint64_t seg = l / (segsz ? segsz : (16u << 20));
	uint64_t spl = 0x100000000ull / (segsz ? segsz : (16u << 20));
	char endn[32];
	snprintf(endn, sizeof(endn), "%08X%08X%08X", tli, (unsigned)(seg / spl), (unsigned)(seg % spl));
	int rc = srv_copy_unarchived_wal(s, oldw, rs->archive_dir, neww, endn);
	free(oldw);
	free(neww);
	return rc;
}

/* Starts the server on the restored directory and waits until it accepts
 * connections and is out of recovery. 0, or -1 after act_fail. */
static int restore_start(struct srv_restore *rs)
{
	struct srv *s = rs->s;
	struct pitr *p = s->p;
	const char *lf = res_str(p->r, "log_file");
	char *log = lf && *lf ? xstrdup(lf) : xasprintf("%s/drplay-server.log", s->data_dir);
	int64_t t0 = mono_us();
	int rc = srv_start(s, s->data_dir, log, NULL);
	if (rc == 0) {
		act_log(p->a, "started the server on the restored data directory; waiting until it accepts connections and is out of recovery");
		char ebuf[1500];
		rc = srv_wait_ready(s, s->data_dir, res_str(p->db, "dsn"), log,
				    res_duration_us(p->r, "start_timeout", 3600000000LL), ebuf, sizeof(ebuf));
		if (rc != 0)
			act_fail(p->a, "%s", ebuf);
	}
	p->replay_us = mono_us() - t0; /* start-up and WAL replay to the target (SPEC 8.3.2) */
	free(log);
	return rc;
}

/* Done: the recovery settings removed, the time of the last transaction
 * replayed read, the new state journaled. */
static void restore_done(struct srv_restore *rs)
{
	struct srv *s = rs->s;
	struct pitr *p = s->p;
	srv_clean_recovery(s, s->data_dir);
	pg_forget(p->db, NULL);
	PGconn *c = try_connect(res_str(p->db, "dsn"), 5);
	if (c) {
		PGresult *res = PQexec(c, "SELECT (extract(epoch FROM pg_last_xact_replay_timestamp()) * 1000000)::bigint");
		if (res && PQresultStatus(res) == PGRES_TUPLES_OK && !PQgetisnull(res, 0, 0))
			parse_int64(PQgetvalue(res, 0, 0), &rs->recovered_us);
		PQclear(res);
		PQfinish(c);
	}
	char *m = xasprintf("restored by pitr.restore; the replaced state is kept as '%s'", rs->preserve_as);
	srv_journal_state(s, 1, m);
	free(m);
}

/* Puts the replaced data directory back: the failed attempt moved aside
 * (*failed: where it is kept) or removed. 0, or -1 after act_fail (the
 * database is stopped and the message says how to get it back). */
static int restore_put_back(struct srv_restore *rs, const char *preserved, const char *why, char **failed)
{
	struct srv *s = rs->s;
	struct act *a = s->p->a;
	const char *dir = s->data_dir;
	char ts[40], ebuf[1500];
	fmt_timestamp_compact(now_us(), ts, sizeof(ts));
	if (exists(dir)) {
		*failed = xasprintf("%s/%s-failed-%s", s->preserve_dir, rs->preserve_as, ts);
		if (rename(dir, *failed) != 0) {
			char e2[300];
			snprintf(e2, sizeof(e2), "%s", strerror(errno));
			free(*failed);
			*failed = NULL;
			if (srv_remove_tree(s, dir, ebuf, sizeof(ebuf)) != 0) {
				act_fail(a, "%s; THE DATABASE IS STOPPED: the failed restore in '%s' could not be moved aside (%s), so the replaced state was not put back; it is intact in '%s': move it back to '%s' and start it with pg_ctl",
					 why, dir, e2, preserved, dir);
				srv_journal_state(s, 0, "restore failed and the replaced data directory could not be put back");
				return -1;
			}
		}
	}
	if (rename(preserved, dir) != 0) {
		char e2[300];
		snprintf(e2, sizeof(e2), "%s", strerror(errno));
		act_fail(a, "%s; THE DATABASE IS STOPPED: putting the replaced data directory back failed (%s); it is intact in '%s': move it to '%s' and start it with pg_ctl",
			 why, e2, preserved, dir);
		srv_journal_state(s, 0, "restore failed and the replaced data directory could not be put back");
		return -1;
	}
	char *mp = xasprintf("%s/%s.drplay.json", s->preserve_dir, rs->preserve_as);
	unlink(mp);
	free(mp);
	free(rs->preserved_path);
	rs->preserved_path = NULL;
	return 0;
}

/* After a failure once the server was stopped: the failed attempt stopped,
 * the replaced directory put back (moved: the data directory had been
 * renamed) and started again when it ran before; the step fails saying
 * which. Returns -1. */
static int restore_undo(struct srv_restore *rs, const char *preserved, int running, int moved)
{
	struct srv *s = rs->s;
	struct pitr *p = s->p;
	struct act *a = p->a;
	const char *dir = s->data_dir;
	char why[1500], ebuf[1500];
	snprintf(why, sizeof(why), "%s", act_error(a) ? act_error(a) : "the restore failed");
	/* an interruption or the step's timeout must not cut the undo short: that
	 * would leave the database stopped (a second signal still does) */
	act_shield(a);
	if (srv_running(dir)) {
		char *tool = xstrdup(srv_tool(s, "pg_ctl"));
		char *argv[] = { tool, "-D", (char *)dir, "-m", "immediate", "-w", "-t", "60", "stop", NULL };
		srv_run(s, argv, NULL, "stopping the failed restore", NULL);
		free(tool);
	}
	char *failed = NULL;
	if (moved && restore_put_back(rs, preserved, why, &failed) != 0) {
		free(failed);
		return -1;
	}
	if (!running)
		act_fail(a, "%s; nothing was changed: the data directory is back as it was (the server was not running before and was not started)%s%s",
			 why, failed ? "; the failed attempt is kept in " : "", failed ? failed : "");
	else if (restart_original(s, ebuf, sizeof(ebuf)) != 0) {
		act_fail(a, "%s; THE DATABASE IS STOPPED: the replaced data directory is back in '%s' but its server did not start again: %s; start it with pg_ctl -D %s start",
			 why, dir, ebuf, dir);
		srv_journal_state(s, 0, "restore failed; the original data directory is back but its server did not start");
	} else {
		pg_forget(p->db, NULL);
		srv_journal_state(s, 1, "restore failed; the original data directory was put back and started again");
		act_fail(a, "%s; the restore was undone: the database is back as it was before and running again%s%s%s", why,
			 failed ? " (the failed attempt is kept in " : "", failed ? failed : "", failed ? ")" : "");
	}
	free(failed);
	return -1;
}

/* Once the server is stopped: the data directory kept under its preserved
 * name, the new one laid down, the WAL the archive lacks copied, the server
 * started. 0, or -1 (*moved: the data directory was renamed). */
static int restore_replace(struct srv_restore *rs, const char *preserved, int *moved)
{
	struct srv *s = rs->s;
	struct act *a = s->p->a;
	const char *dir = s->data_dir;
	unsigned tli = 0;
	char lsn[64];
	uint64_t segsz = 0;
	if (srv_controldata(s, dir, &tli, lsn, sizeof(lsn), &segsz) != 0)
		return -1;
	if (rename(dir, preserved) != 0)
		return act_fail(a, "cannot keep the data directory '%s' as '%s': %s", dir, preserved, strerror(errno)), -1;
	*moved = 1;
	rs->preserved_path = xstrdup(preserved);
	preserve_meta(s, rs->preserve_as, preserved);
	act_log(a, "the replaced state is kept as '%s' (%s)", rs->preserve_as, preserved);
	if (rs->lay_down(rs, tli) != 0)
		return -1;
	if (rs->copy_wal && restore_copy_wal(rs, preserved, tli, lsn, segsz) != 0)
		return -1;
	return restore_start(rs);
}

int srv_restore_run(struct srv_restore *rs)
{
	struct srv *s = rs->s;
	char *preserved = xasprintf("%s/%s", s->preserve_dir, rs->preserve_as);
	int running = 0, moved = 0;
	int rc = restore_prepare(rs, preserved, &running);
	if (rc == 0) {
		pg_forget(s->p->db, NULL);
		rc = restore_replace(rs, preserved, &moved);
		if (rc == 0)
			restore_done(rs);
		else
			restore_undo(rs, preserved, running, moved);
	}
	free(preserved);
	return rc;
}

int srv_lay_down_copy(struct srv_restore *rs, unsigned tli)
{
	(void)tli;
	const char *src = rs->ud;
	return srv_copy_tree(rs->s, src, rs->s->data_dir, "copying the preserved state into place");
}

/* ---- listing and deleting what is kept ---- */

/* What salvage counted in a preserved state, into its listing entry. */
static void preserved_counts(json_t *o, json_t *sv)
{
	if (!json_is_object(sv))
		return;
	json_object_set(o, "salvage", sv);
	const char *d = json_string_value(json_object_get(o, "detail"));
	json_t *n = json_sprintf("%s%sholds %lld row%s the restore discarded and %lld it changed (against '%s')", d ? d : "",
				 d ? "; " : "", (long long)json_integer_value(json_object_get(sv, "discarded")),
				 json_integer_value(json_object_get(sv, "discarded")) == 1 ? "" : "s",
				 (long long)json_integer_value(json_object_get(sv, "changed")),
				 json_string_value(json_object_get(sv, "against")) ? json_string_value(json_object_get(sv, "against")) : "?");
	json_object_set_new(o, "detail", n);
}

static void list_dir(struct srv *s, const char *dir, const char *type, json_t *out)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char *path = xasprintf("%s/%s", dir, e->d_name);
		if (!is_dir(path)) {
			free(path);
			continue;
		}
		json_t *o = json_object();
		json_object_set_new(o, "name", json_string(e->d_name));
		json_object_set_new(o, "type", json_string(type));
		json_object_set_new(o, "path", json_string(path));
		char *mp = xasprintf("%s/%s.drplay.json", dir, e->d_name);
		char *text = NULL;
		size_t len;
		if (read_file(mp, 1 << 20, &text, &len) == 0) {
			json_error_t je;
			json_t *m = json_loadb(text, len, 0, &je);
			const char *c = json_string_value(json_object_get(m, "created"));
			if (c)
				json_object_set_new(o, "created", json_string(c));
			const char *run = json_string_value(json_object_get(m, "run"));
			if (run)
				json_object_set_new(o, "detail", json_sprintf("%s by run %s", !strcmp(type, "branch") ? "made" : "kept", run));
			preserved_counts(o, json_object_get(m, "salvage"));
			json_decref(m);
			free(text);
		} else {
			struct stat st;
			char ts[40];
			if (stat(path, &st) == 0)
				json_object_set_new(o, "created",
						    json_string(fmt_timestamp((int64_t)st.st_mtime * 1000000, ts, sizeof(ts))));
		}
		if (!strcmp(type, "branch") && srv_running(path))
			json_object_set_new(o, "detail", json_string("its server is running"));
		if (!strcmp(type, "preserved") && strstr(e->d_name, "-failed-"))
			json_object_set_new(o, "detail", json_string("a failed restore attempt"));
		free(mp);
		free(path);
		json_array_append_new(out, o);
	}
	closedir(d);
}

void srv_list_dirs(struct srv *s, json_t *out)
{
	list_dir(s, s->preserve_dir, "preserved", out);
	list_dir(s, s->branch_dir, "branch", out);
}

int srv_has_named(struct srv *s, const char *name)
{
	if (!pitr_safe_name(name))
		return 0;
	char *a = xasprintf("%s/%s", s->preserve_dir, name), *b = xasprintf("%s/%s", s->branch_dir, name);
	int r = exists(a) || exists(b);
	free(a);
	free(b);
	return r;
}

int srv_remove_named(struct srv *s, const char *name)
{
	if (!pitr_safe_name(name))
		return 0;
	char err[600];
	const char *dirs[] = { s->preserve_dir, s->branch_dir };
	for (size_t i = 0; i < 2; i++) {
		char *path = xasprintf("%s/%s", dirs[i], name);
		if (!is_dir(path)) {
			free(path);
			continue;
		}
		if (srv_running(path) && srv_stop(s, path, 0, NULL) != 0) {
			free(path);
			return -1;
		}
		int rc = srv_remove_tree(s, path, err, sizeof(err));
		char *mp = xasprintf("%s/%s.drplay.json", dirs[i], name);
		unlink(mp);
		free(mp);
		free(path);
		if (rc != 0) {
			act_fail(s->p->a, "%s", err);
			return -1;
		}
		return 1;
	}
	return 0;
}

static void branch_meta(struct srv *s, const char *name, const char *dsn_port)
{
	char ts[40];
	json_t *m = json_object();
	json_object_set_new(m, "name", json_string(name));
	json_object_set_new(m, "type", json_string("branch"));
	json_object_set_new(m, "created", json_string(fmt_timestamp(now_us(), ts, sizeof(ts))));
	json_object_set_new(m, "run", json_string(act_run_id(s->p->a)));
	json_object_set_new(m, "port", json_string(dsn_port));
	char *text = json_dumps(m, JSON_INDENT(2));
	json_decref(m);
	char *mp = xasprintf("%s/%s.drplay.json", s->branch_dir, name);
	int fd = open(mp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd >= 0) {
		if (write_all(fd, text, strlen(text)) != 0)
			act_log(s->p->a, "note: could not write %s", mp);
		close(fd);
	}
	free(mp);
	free(text);
}

int srv_branch_start(struct srv *s, const char *dir, const char *name, char **dsn)
{
	struct act *a = s->p->a;
	int port = srv_free_port();
	if (!port) {
		act_fail(a, "cannot find a free TCP port for branch '%s'", name);
		return -1;
	}
	char pl[64];
	snprintf(pl, sizeof(pl), "port = %d", port);
	const char *lines[] = { pl, "archive_mode = off", "# a drplay branch: never archives into the live archive", NULL };
	if (srv_set_conf(s, dir, lines) != 0)
		return -1;
	char ps[16];
	snprintf(ps, sizeof(ps), "%d", port);
	branch_meta(s, name, ps);
	char *log = xasprintf("%s/%s.log", s->branch_dir, name);
	/* The branch directory and its log must be the OS user's. */
	int lfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (lfd >= 0) {
		if (geteuid() == 0 && fchown(lfd, s->uid, s->gid) != 0)
			act_log(a, "note: cannot chown %s", log);
		close(lfd);
	}
	if (srv_start(s, dir, log, NULL) != 0) {
		free(log);
		return -1;
	}
	char *d = srv_dsn_with_port(s, port);
	if (!d) {
		free(log);
		return -1;
	}
	char err[1500];
	if (srv_wait_ready(s, dir, d, log, res_duration_us(s->p->r, "start_timeout", 3600000000LL), err, sizeof(err)) != 0) {
		act_fail(a, "branch '%s': %s", name, err);
		free(d);
		free(log);
		return -1;
	}
	srv_clean_recovery(s, dir);
	free(log);
	*dsn = d;
	return 0;
}

int srv_branch_discard(struct srv *s, const char *name)
{
	char *path = xasprintf("%s/%s", s->branch_dir, name);
	int rc = 0;
	/* a copy about to be removed needs no shutdown checkpoint */
	if (srv_running(path))
		pgctl_stop(s, path, "immediate", "60", "pg_ctl stop -m immediate");
	if (srv_running(path) && srv_stop(s, path, 0, NULL) != 0)
		rc = -1;
	char err[600];
	if (rc == 0 && exists(path) && srv_remove_tree(s, path, err, sizeof(err)) != 0) {
		act_fail(s->p->a, "%s", err);
		rc = -1;
	}
	if (rc == 0) {
		char *mp = xasprintf("%s/%s.drplay.json", s->branch_dir, name), *lg = xasprintf("%s/%s.log", s->branch_dir, name);
		unlink(mp);
		unlink(lg);
		free(mp);
		free(lg);
	}
	free(path);
	return rc;
}

int srv_discard_op(struct pitr *p, const char *name)
{
	struct srv s;
	if (srv_init(p, &s) != 0)
		return ACT_FAIL;
	int rc = srv_branch_discard(&s, name) == 0 ? ACT_OK : ACT_FAIL;
	srv_release(&s);
	return rc;
}

void srv_branch_abandon(struct srv *s, const char *name)
{
	struct act *a = s->p->a;
	char *m = xstrdup(act_error(a) ? act_error(a) : "the branch failed");
	srv_branch_discard(s, name);
	act_fail(a, "%s; the unfinished branch was removed; the live database was not touched", m);
	free(m);
}

/* The fields of a server on this host, declared once for the drivers that
 * manage one (local, pgbackrest: their `shared` fields). */
const struct param_spec pitr_server_fields[] = {
	{ .name = "branch_dir", .type = T_STRING,
	  .doc = "where branches' data directories go (default: drplay-branches beside data_dir)" },
	{ .name = "data_dir", .type = T_STRING, .flags = P_REQUIRED,
	  .doc = "the server's data directory (pgBackRest's pg1-path)" },
	{ .name = "log_file", .type = T_STRING,
	  .doc = "the log of a server drplay starts (default: drplay-server.log in the data directory)" },
	{ .name = "os_user", .type = T_STRING, .def = "postgres",
	  .doc = "the OS user that owns the data directory and runs the server (pg_ctl runs as it)" },
	{ .name = "pg_bindir", .type = T_STRING,
	  .doc = "where pg_ctl, pg_basebackup and pg_controldata are (default: from the data directory's PG_VERSION)" },
	{ .name = "port", .type = T_INT, .doc = "start a restored server on this port (default: its configuration's)" },
	{ .name = "preserve_dir", .type = T_STRING,
	  .doc = "where replaced data directories are kept (default: drplay-preserved beside data_dir; same file system)" },
	{ .name = "start_timeout", .type = T_DURATION, .def = "1h",
	  .doc = "how long a restored server may take to replay WAL and accept connections" },
	{ .name = NULL },
};

/* ---- a preserved state, started for reading (pitr.salvage) ---- */

/* The preserved directory is never started itself: a server started on it
 * would replay, checkpoint and write there, and the state would no longer
 * be the one the restore replaced. It is copied (cp -a, reflinked where the
 * file system can) into the branch directory and the copy is started, on a
 * free port, with archive_mode off, like a branch. */
int srv_open_preserved(struct pitr *p, const char *name, char **dsn, char **handle)
{
	struct act *a = p->a;
	*dsn = *handle = NULL;
	struct srv s;
	if (srv_init(p, &s) != 0)
		return ACT_FAIL;
	int rc = ACT_FAIL;
	char *src = xasprintf("%s/%s", s.preserve_dir, name), *bname = NULL, *dest = NULL;
	if (!pitr_safe_name(name) || !is_dir(src)) {
		act_fail(a, "pitr resource '%s' keeps no preserved state named '%s' (looked in '%s'); nothing was started; `drplay cleanup FILE --resource %s` lists what it keeps",
			 p->r->name, name, s.preserve_dir, p->r->name);
		goto out;
	}
	if (srv_running(src)) {
		act_fail(a, "a server is running on the preserved state '%s' ('%s'); nothing was started; stop it first", name, src);
		goto out;
	}
	bname = xasprintf("%s-salvage", name);
	for (int k = 2; srv_has_named(&s, bname); k++) {
		free(bname);
		bname = xasprintf("%s-salvage-%d", name, k);
	}
	dest = xasprintf("%s/%s", s.branch_dir, bname);
	if (mkdir(s.branch_dir, 0700) != 0 && errno != EEXIST) {
		act_fail(a, "cannot create the branch directory '%s': %s", s.branch_dir, strerror(errno));
		goto out;
	}
	if (geteuid() == 0 && chown(s.branch_dir, s.uid, s.gid) != 0)
		act_log(a, "note: cannot chown '%s'", s.branch_dir);
	act_log(a, "copying preserved state '%s' to '%s' (the preserved state itself is never started)", name, dest);
	if (srv_copy_tree(&s, src, dest, "copying the preserved state") != 0 ||
	    srv_branch_start(&s, dest, bname, dsn) != 0) {
		char *m = xstrdup(act_error(a) ? act_error(a) : "the preserved state could not be started");
		act_shield(a);
		srv_branch_discard(&s, bname);
		act_fail(a, "preserved state '%s' of pitr resource '%s' cannot be started: %s; the copy was removed and the preserved state is unchanged",
			 name, p->r->name, m);
		free(m);
		free(*dsn);
		*dsn = NULL;
		goto out;
	}
	*handle = bname;
	bname = NULL;
	rc = ACT_OK;
out:
	free(src);
	free(dest);
	free(bname);
	srv_release(&s);
	return rc;
}

void srv_note_preserved(struct pitr *p, const char *name, json_t *counts)
{
	struct srv s;
	if (!pitr_safe_name(name) || srv_init(p, &s) != 0)
		return;
	char *mp = xasprintf("%s/%s.drplay.json", s.preserve_dir, name), *text = NULL;
	size_t len;
	json_error_t je;
	json_t *m = read_file(mp, 1 << 20, &text, &len) == 0 ? json_loadb(text, len, 0, &je) : NULL;
	if (!json_is_object(m)) {
		json_decref(m);
		m = json_pack("{s:s,s:s}", "name", name, "type", "preserved");
	}
	char ts[40];
	json_t *c = json_deep_copy(counts);
	json_object_set_new(c, "at", json_string(fmt_timestamp(now_us(), ts, sizeof(ts))));
	json_object_set_new(m, "salvage", c);
	char *out = json_dumps(m, JSON_INDENT(2));
	int fd = out ? open(mp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640) : -1;
	if (fd < 0 || write_all(fd, out, strlen(out)) != 0)
		act_log(p->a, "note: cannot record the counts beside the preserved state in '%s'", mp);
	if (fd >= 0)
		close(fd);
	free(out);
	json_decref(m);
	free(text);
	free(mp);
	srv_release(&s);
}
