/*
 * dump_tools.c: finding the PostgreSQL client tools (pg_dump, pg_restore,
 * psql) the dump family runs, and refusing those older than the server they
 * talk to. pg_dump refuses to dump a server of a newer major version, and an
 * older pg_restore or psql may not understand what a newer server's dump
 * holds, so the rule is: the tools' major version is the server's or newer.
 * Where they are looked for, in order: the resource's `bin_dir`, else
 * $DRPLAY_PG_BINDIR (a declared directory is the only place looked at), else
 * the newest /usr/lib/postgresql/N/bin (Debian's and Ubuntu's layout), else
 * PATH; of the last two, the first whose version is new enough.
 */
#include <dirent.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dump.h"
#include "pg.h"

/* The newest /usr/lib/postgresql/N/bin/NAME (new string), or NULL. */
static char *debian_newest(const char *name)
{
	char *path = NULL;
	DIR *d = opendir("/usr/lib/postgresql");
	long best = -1;
	struct dirent *de;
	while (d && (de = readdir(d))) {
		char *end;
		long v = strtol(de->d_name, &end, 10);
		if (end == de->d_name || *end || v <= best)
			continue;
		char *p = xasprintf("/usr/lib/postgresql/%s/bin/%s", de->d_name, name);
		if (access(p, X_OK) == 0) {
			free(path);
			path = p;
			best = v;
		} else {
			free(p);
		}
	}
	if (d)
		closedir(d);
	return path;
}

/* NAME found on PATH (new string), or NULL. */
static char *on_path(const char *name)
{
	const char *p = getenv("PATH");
	while (p && *p) {
		size_t n = strcspn(p, ":");
		char *c = xasprintf("%.*s/%s", (int)(n ? n : 1), n ? p : ".", name);
		if (access(c, X_OK) == 0)
			return c;
		free(c);
		p += n + (p[n] == ':');
	}
	return NULL;
}

const char *dump_pg_tool(const char *name)
{
	static struct {
		char name[32];
		char *path;
	} cache[8];
	static size_t n;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(cache[i].name, name))
			return cache[i].path;
	const char *env = getenv("DRPLAY_PG_BINDIR");
	char *path = env && *env ? xasprintf("%s/%s", env, name) : debian_newest(name);
	if (!path)
		path = xstrdup(name);
	if (n < ARRAY_SIZE(cache)) {
		snprintf(cache[n].name, sizeof(cache[n].name), "%s", name);
		cache[n].path = path;
		n++;
	}
	return path; /* kept for the process's life */
}

int dump_tool_major(const char *line, char *ver, size_t n)
{
	const char *p = strstr(line, ") ");
	p = p ? p + 2 : line;
	size_t k = strcspn(p, " \n");
	if (ver)
		snprintf(ver, n, "%.*s", (int)k, p);
	char *end, *mend;
	long major = strtol(p, &end, 10);
	/* a number no PostgreSQL major can be (a fake or broken tool) is no
	 * version: never one that overflows into "new enough" */
	if (end == p || major <= 0 || major > 999)
		return -1;
	if (major < 10 && *end == '.') { /* 9.6.24: the major is 9.6 */
		long minor = strtol(end + 1, &mend, 10);
		if (mend == end + 1 || minor < 0 || minor > 99)
			return -1;
		return (int)(major * 100 + minor);
	}
	return (int)major * 100;
}

int dump_server_major(int server_version_num)
{
	return server_version_num >= 100000 ? server_version_num / 10000 * 100 : server_version_num / 100;
}

/* A major as people write it: 16 for 1600, 9.6 for 906. */
static const char *major_text(int m, char *buf, size_t n)
{
	if (m >= 1000)
		snprintf(buf, n, "%d", m / 100);
	else
		snprintf(buf, n, "%d.%d", m / 100, m % 100);
	return buf;
}

/* The tools asked already: path, version, major (kept for the process). */
static struct tool_seen {
	char *path;
	char ver[32];
	int major;
} seen[16];
static size_t nseen;

/* `PATH --version`, remembered. The entry, or NULL after act_fail. */
static const struct tool_seen *tool_ask(struct act *a, const char *path)
{
	for (size_t i = 0; i < nseen; i++)
		if (!strcmp(seen[i].path, path))
			return &seen[i];
	char *argv[] = { (char *)path, "--version", NULL };
	struct spawn_opts o;
	memset(&o, 0, sizeof(o));
	o.stdin_fd = o.stdout_fd = o.stderr_fd = -1;
	struct spawn_result res;
	if (act_run(a, argv, &o, &res) != 0)
		return NULL;
	struct tool_seen t = { .major = -1 };
	if (res.exited && res.status == 0 && res.out)
		t.major = dump_tool_major(res.out, t.ver, sizeof(t.ver));
	spawn_result_release(&res);
	if (t.major < 0) {
		act_fail(a, "'%s --version' failed or did not say a version; check that the PostgreSQL client tools are installed there",
			 path);
		return NULL;
	}
	if (nseen == ARRAY_SIZE(seen))
		return act_fail(a, "too many PostgreSQL client tools asked for their version"), NULL;
	t.path = xstrdup(path);
	seen[nseen] = t;
	return &seen[nseen++];
}

const char *dump_pg_tool_for(struct act *a, struct resource *r, const char *name, const char **version)
{
	PGconn *c = pg_connect(a, r);
	if (!c)
		return NULL;
	int smaj = dump_server_major(PQserverVersion(c));
	char sm[16], tm[16];
	const char *dir = res_str(r, "bin_dir");
	const char *whose = "bin_dir";
	if (!dir || !*dir) {
		dir = getenv("DRPLAY_PG_BINDIR");
		whose = "DRPLAY_PG_BINDIR";
	}
	char *cand[2] = { NULL, NULL };
	if (dir && *dir) {
		cand[0] = xasprintf("%s/%s", dir, name);
		if (access(cand[0], X_OK) != 0) {
			char *who = whose[0] == 'b' ? xasprintf(" of resource '%s'", r->name) : xstrdup("");
			act_fail(a, "%s '%s'%s has no executable %s; name the directory of the PostgreSQL %s client tools or newer",
				 whose, dir, who, name, major_text(smaj, sm, sizeof(sm)));
			free(who);
			free(cand[0]);
			return NULL;
		}
	} else {
		cand[0] = debian_newest(name);
		cand[1] = on_path(name);
	}
	struct strbuf tried = STRBUF_INIT;
	const char *found = NULL;
	int failed = 0;
	for (size_t i = 0; i < ARRAY_SIZE(cand) && !found; i++) {
		if (!cand[i])
			continue;
		const struct tool_seen *t = tool_ask(a, cand[i]);
		if (!t) {
			failed = 1;
			break;
		}
		if (t->major >= smaj) {
			found = t->path;
			if (version)
				*version = t->ver;
		} else {
			sb_addf(&tried, "%s%s %s (%s)", tried.len ? ", " : "", name, t->ver, t->path);
		}
	}
	free(cand[0]);
	free(cand[1]);
	if (!found && !failed) {
		if (tried.len)
			act_fail(a, "%s is older than the server of resource '%s' (PostgreSQL %s): a client older than the server cannot be trusted to dump or restore it; install the PostgreSQL %s client tools or newer and put them on PATH, or name their directory with bin_dir: on the resource (or DRPLAY_PG_BINDIR)",
				 tried.buf, r->name, major_text(smaj, sm, sizeof(sm)), major_text(smaj, tm, sizeof(tm)));
		else
			act_fail(a, "%s not found (looked in /usr/lib/postgresql/N/bin and on PATH); install the PostgreSQL %s client tools or newer, or name their directory with bin_dir: on resource '%s' (or DRPLAY_PG_BINDIR)",
				 name, major_text(smaj, sm, sizeof(sm)), r->name);
	}
	sb_release(&tried);
	return found;
}
