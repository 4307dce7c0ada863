/*
 * pitr_local.c: the `local` pitr driver, for a self-hosted PostgreSQL whose
 * archive_command copies WAL segments into a directory (wal_archive) and
 * whose base backups are plain pg_basebackup directories (base_backups).
 *
 *   snapshot  a new base backup (pg_basebackup -X stream) under the name,
 *             with a small metadata file beside it (<name>.drplay.json:
 *             when it ended, its WAL range and timeline). Self-contained:
 *             returning to it needs no archive.
 *   restore   to a time: the newest base backup that ended before it, on
 *             the current timeline's history, recovered with restore_command
 *             and recovery_target_time (recovery_target_action = promote,
 *             recovery_target_timeline = the replaced server's timeline);
 *             to a snapshot: that backup, recovered to its end (immediate);
 *             to a preserved state: a copy of it. The replaced data
 *             directory is always kept (pitr_server.c does the procedure).
 *   branch    the same into drplay-branches/<name> on a free port, with
 *             archive_mode = off so it never writes into the live archive.
 *   window    earliest = the end of the oldest usable base backup; latest =
 *             now while the server runs (a restore writes a marker commit
 *             before it stops it), else the last commit pg_waldump finds; a
 *             missing segment in the archive ends the window at the last
 *             commit before it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pitr.h"

struct bb {
	char name[256];
	char *path;
	int64_t end_us;
	unsigned tli;
	uint64_t start_lsn;
	int snapshot; /* made by pitr.snapshot */
};

struct bbs {
	struct bb *v;
	size_t n;
};

static void bbs_release(struct bbs *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->v[i].path);
	free(b->v);
	b->v = NULL;
	b->n = 0;
}

static int parse_lsn(const char *s, uint64_t *out)
{
	unsigned long hi, lo;
	char extra;
	if (sscanf(s, "%lx/%lx%c", &hi, &lo, &extra) < 2)
		return -1;
	*out = ((uint64_t)hi << 32) | (uint64_t)lo;
	return 0;
}

static const char *archive(struct pitr *p)
{
	return res_str(p->r, "wal_archive");
}

static const char *bbdir(struct pitr *p)
{
	return res_str(p->r, "base_backups");
}

/* Reads one base backup's facts: drplay's metadata when present, else the
 * backup_label (start) and the backup_manifest's time (its end). */
static int read_bb(const char *dir, const char *name, struct bb *b)
{
	memset(b, 0, sizeof(*b));
	snprintf(b->name, sizeof(b->name), "%s", name);
	b->path = xasprintf("%s/%s", dir, name);
	char *lbl = xasprintf("%s/backup_label", b->path);
	char *text = NULL;
	size_t len;
	int ok = read_file(lbl, 1 << 16, &text, &len) == 0;
	free(lbl);
	if (!ok) {
		free(b->path);
		b->path = NULL;
		return -1;
	}
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "START WAL LOCATION: ", 20))
			parse_lsn(line + 20, &b->start_lsn);
		else if (!strncmp(line, "START TIMELINE: ", 16))
			b->tli = (unsigned)strtoul(line + 16, NULL, 10);
	}
	free(text);
	char *mp = xasprintf("%s/%s.drplay.json", dir, name);
	if (read_file(mp, 1 << 20, &text, &len) == 0) {
		json_error_t je;
		json_t *m = json_loadb(text, len, 0, &je);
		const char *e = json_string_value(json_object_get(m, "end_time"));
		if (e)
			parse_timestamp(e, &b->end_us);
		b->snapshot = json_string_value(json_object_get(m, "type")) &&
			      !strcmp(json_string_value(json_object_get(m, "type")), "snapshot");
		json_decref(m);
		free(text);
	}
	free(mp);
	if (!b->end_us) {
		struct stat st;
		char *man = xasprintf("%s/backup_manifest", b->path);
		if (stat(man, &st) == 0 || stat(b->path, &st) == 0)
			b->end_us = (int64_t)st.st_mtim.tv_sec * 1000000 + st.st_mtim.tv_nsec / 1000;
		free(man);
	}
	if (!b->tli)
		b->tli = 1;
	return 0;
}

static int cmp_bb(const void *x, const void *y)
{
	const struct bb *a = x, *b = y;
	return a->end_us < b->end_us ? -1 : a->end_us > b->end_us;
}

static void list_bbs(struct pitr *p, struct bbs *out)
{
	memset(out, 0, sizeof(*out));
	DIR *d = opendir(bbdir(p));
	if (!d)
		return;
	struct dirent *e;
	size_t cap = 0;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		struct bb b;
		if (read_bb(bbdir(p), e->d_name, &b) != 0)
			continue;
		if (out->n == cap) {
			cap = cap ? cap * 2 : 8;
			out->v = xrealloc(out->v, cap * sizeof(*out->v));
		}
		out->v[out->n++] = b;
	}
	closedir(d);
	qsort(out->v, out->n, sizeof(*out->v), cmp_bb);
}

/* The history of timeline tli from the archive's <tli>.history: each line
 * "parent switchpoint reason" says the parent timeline was followed up to
 * switchpoint. A backup on timeline b starting at lsn is on tli's history
 * when b == tli or b is a parent switched away from after lsn. */
static int on_history(struct pitr *p, unsigned tli, const struct bb *b)
{
	if (b->tli == tli)
		return 1;
	char *hp = xasprintf("%s/%08X.history", archive(p), tli);
	char *text = NULL;
	size_t len;
	int ok = 0;
	if (read_file(hp, 1 << 20, &text, &len) == 0) {
		char *save = NULL;
		for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			unsigned parent;
			char lsn[40];
			uint64_t sp;
			if (sscanf(line, "%u %39s", &parent, lsn) == 2 && parent == b->tli && parse_lsn(lsn, &sp) == 0 &&
			    b->start_lsn < sp)
				ok = 1;
		}
		free(text);
	}
	free(hp);
	return ok;
}

/* ---- WAL segments ---- */

struct segset {
	uint64_t *v;
	size_t n, cap;
};

static uint64_t segs_per_log(uint64_t segsize)
{
	return segsize ? 0x100000000ull / segsize : 256;
}

static int seg_of_name(const char *nm, uint64_t segsize, uint64_t *segno)
{
	if (strlen(nm) < 24)
		return -1;
	for (int i = 0; i < 24; i++)
		if (!((nm[i] >= '0' && nm[i] <= '9') || (nm[i] >= 'A' && nm[i] <= 'F')))
			return -1;
	char l[9], s[9];
	memcpy(l, nm + 8, 8);
	l[8] = '\0';
	memcpy(s, nm + 16, 8);
	s[8] = '\0';
	*segno = strtoull(l, NULL, 16) * segs_per_log(segsize) + strtoull(s, NULL, 16);
	return 0;
}

static void seg_name(unsigned tli, uint64_t segno, uint64_t segsize, char out[25])
{
	uint64_t spl = segs_per_log(segsize);
	snprintf(out, 25, "%08X%08X%08X", tli, (unsigned)(segno / spl), (unsigned)(segno % spl));
}

static void add_dir_segs(const char *dir, uint64_t segsize, struct segset *ss)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		uint64_t s;
		if (strlen(e->d_name) != 24 || seg_of_name(e->d_name, segsize, &s) != 0)
			continue;
		if (ss->n == ss->cap) {
			ss->cap = ss->cap ? ss->cap * 2 : 256;
			ss->v = xrealloc(ss->v, ss->cap * sizeof(*ss->v));
		}
		ss->v[ss->n++] = s;
	}
	closedir(d);
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return a < b ? -1 : a > b;
}

static int has_seg(const struct segset *ss, uint64_t s)
{
	return bsearch(&s, ss->v, ss->n, sizeof(*ss->v), cmp_u64) != NULL;
}

/* The facts of the live WAL: timeline, segment size, end segment. */
struct walpos {
	unsigned tli;
	uint64_t segsize;
	uint64_t end_seg;
	int running;
};

static int wal_position(struct srv *s, struct walpos *w)
{
	memset(w, 0, sizeof(*w));
	char lsn[64];
	if (srv_controldata(s, s->data_dir, &w->tli, lsn, sizeof(lsn), &w->segsize) != 0)
		return -1;
	uint64_t l = 0;
	parse_lsn(lsn, &l);
	w->end_seg = l / (w->segsize ? w->segsize : (16u << 20));
	w->running = srv_running(s->data_dir) != 0;
	if (w->running) {
		PGconn *c = pg_connect(s->p->a, s->p->db);
		if (!c)
			return -1;
		PGresult *res = pg_exec(s->p->a, c, "reading the WAL position", "SELECT pg_walfile_name(pg_current_wal_lsn())");
		if (!res)
			return -1;
		const char *nm = PQgetvalue(res, 0, 0);
		char tl[9];
		snprintf(tl, sizeof(tl), "%.8s", nm);
		w->tli = (unsigned)strtoul(tl, NULL, 16);
		seg_of_name(nm, w->segsize, &w->end_seg);
		PQclear(res);
	}
	return 0;
}

/* The last COMMIT time pg_waldump finds in one segment (in archive or
 * pg_wal), or 0. pg_waldump exits non-zero at the end of a partial
 * segment; what it printed before is still good. */
static int64_t last_commit_in(struct srv *s, const char *segname)
{
	const char *dirs[2];
	char *pgwal = xasprintf("%s/pg_wal", s->data_dir);
	dirs[0] = archive(s->p);
	dirs[1] = pgwal;
	int64_t best = 0;
	for (int i = 0; i < 2 && !best; i++) {
		char *path = xasprintf("%s/%s", dirs[i], segname);
		struct stat st;
		if (stat(path, &st) != 0) {
			free(path);
			continue;
		}
		char *tool = xstrdup(srv_tool(s, "pg_waldump"));
		char *argv[] = { tool, path, NULL };
		struct spawn_opts o = { 0 };
		o.cwd = "/";
		o.stdin_fd = o.stdout_fd = o.stderr_fd = -1;
		o.run_as = s->os_user;
		o.capture_cap = 64u << 20;
		struct spawn_result res;
		if (act_run(s->p->a, argv, &o, &res) == 0) {
			char *save = NULL;
			for (char *line = strtok_r(res.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
				char *c = strstr(line, "desc: COMMIT ");
				if (!c)
					continue;
				char ts[64];
				snprintf(ts, sizeof(ts), "%.30s", c + 13);
				char *semi = strchr(ts, ';');
				if (semi)
					*semi = '\0';
				int64_t us;
				if (pitr_parse_pg_time(ts, &us) == 0 && us > best)
					best = us;
			}
			spawn_result_release(&res);
		}
		free(tool);
		free(path);
	}
	free(pgwal);
	return best;
}

/* Looks for the first segment missing between from_seg and the end of the
 * live WAL (archive and pg_wal together). Returns 1 and sets *gap when one
 * is missing, 0 when the WAL is complete. */
static int find_gap(struct srv *s, const struct walpos *w, uint64_t from_seg, uint64_t *gap)
{
	struct segset ss = { 0 };
	add_dir_segs(archive(s->p), w->segsize, &ss);
	char *pgwal = xasprintf("%s/pg_wal", s->data_dir);
	add_dir_segs(pgwal, w->segsize, &ss);
	free(pgwal);
	qsort(ss.v, ss.n, sizeof(*ss.v), cmp_u64);
	int found = 0;
	for (uint64_t sg = from_seg; sg <= w->end_seg; sg++) {
		if (!has_seg(&ss, sg)) {
			*gap = sg;
			found = 1;
			break;
		}
	}
	free(ss.v);
	return found;
}

/* The last commit before a gap (searching back a few segments). */
static int64_t last_commit_before(struct srv *s, const struct walpos *w, uint64_t gap, uint64_t from_seg)
{
	for (uint64_t sg = gap; sg > from_seg && gap - sg < 16; sg--) {
		char nm[25];
		for (unsigned t = w->tli; t >= 1; t--) {
			seg_name(t, sg - 1, w->segsize, nm);
			int64_t c = last_commit_in(s, nm);
			if (c)
				return c;
		}
	}
	return 0;
}

/* Picks the newest usable base backup that ended at or before `at` (0 =
 * the newest of all). NULL after act_fail. */
static const struct bb *choose_bb(struct pitr *p, const struct bbs *all, unsigned tli, int64_t at)
{
	const struct bb *best = NULL, *oldest = NULL;
	for (size_t i = 0; i < all->n; i++) {
		const struct bb *b = &all->v[i];
		if (!on_history(p, tli, b))
			continue;
		if (!oldest)
			oldest = b;
		if (!at || b->end_us <= at)
			best = b;
	}
	if (best)
		return best;
	char t[40], e[40];
	if (!oldest)
		act_fail(p->a, "pitr resource '%s' has no base backup on timeline %u's history in '%s'; take one (pitr.snapshot or pg_basebackup) first",
			 p->r->name, tli, bbdir(p));
	else
		act_fail(p->a, "recovery target %s is before the base backup: the oldest base backup of pitr resource '%s' ('%s') ends at %s; pick a later time",
			 fmt_timestamp(at, t, sizeof(t)), p->r->name, oldest->name, fmt_timestamp(oldest->end_us, e, sizeof(e)));
	return NULL;
}

/* The window from a given base backup on. */
static int window_from(struct srv *s, const struct walpos *w, const struct bb *b, struct pitr_window *win)
{
	uint64_t from_seg = b->start_lsn / w->segsize;
	uint64_t gap = 0;
	char nm[25];
	if (find_gap(s, w, from_seg, &gap)) {
		seg_name(w->tli, gap, w->segsize, nm);
		int64_t lc = last_commit_before(s, w, gap, from_seg);
		win->latest = lc ? lc : b->end_us;
		win->latest_exclusive = lc != 0;
		snprintf(win->note, sizeof(win->note),
			 "the archive is missing WAL segment %s (and pg_wal does not have it), so recovery stops there; restore a base backup taken after it, or find the segment",
			 nm);
		return 0;
	}
	if (w->running) {
		int64_t now = srv_now(s);
		win->latest = now ? now : now_us();
		snprintf(win->note, sizeof(win->note), "the server is running: up to now (a restore seals the WAL with a marker commit before it stops the server)");
	} else {
		seg_name(w->tli, w->end_seg, w->segsize, nm);
		int64_t lc = 0;
		for (uint64_t sg = w->end_seg + 1; sg > from_seg && !lc && w->end_seg + 1 - sg < 4; sg--) {
			seg_name(w->tli, sg - 1, w->segsize, nm);
			lc = last_commit_in(s, nm);
		}
		win->latest = lc ? lc : b->end_us;
		win->latest_exclusive = lc != 0;
		snprintf(win->note, sizeof(win->note), "the server is stopped: up to its last commit");
	}
	return 0;
}

static int local_window(struct pitr *p, struct pitr_window *win)
{
	struct srv s;
	if (srv_init(p, &s) != 0)
		return ACT_FAIL;
	int rc = ACT_FAIL;
	struct walpos w;
	struct bbs all;
	list_bbs(p, &all);
	if (wal_position(&s, &w) != 0)
		goto out;
	const struct bb *newest = choose_bb(p, &all, w.tli, 0);
	if (!newest)
		goto out;
	for (size_t i = 0; i < all.n; i++)
		if (on_history(p, w.tli, &all.v[i])) {
			win->earliest = all.v[i].end_us;
			snprintf(win->earliest_note, sizeof(win->earliest_note),
				 "a recovery target before the base backup cannot be reached, and the oldest base backup ('%s') ends then",
				 all.v[i].name);
			break;
		}
	window_from(&s, &w, newest, win);
	rc = ACT_OK;
out:
	bbs_release(&all);
	srv_release(&s);
	return rc;
}

/* ---- snapshot ---- */

static int local_snapshot(struct pitr *p, const char *name)
{
	struct srv s;
	if (srv_init(p, &s) != 0)
		return ACT_FAIL;
	struct act *a = p->a;
	int rc = ACT_FAIL;
	char *ci = NULL, *pwe = NULL, *dest = xasprintf("%s/%s", bbdir(p), name);
	char *label = xasprintf("drplay snapshot %s", name);
	struct stat st;
	if (stat(bbdir(p), &st) != 0 && mkdir(bbdir(p), 0700) == 0 && geteuid() == 0 && chown(bbdir(p), s.uid, s.gid) != 0)
		act_log(a, "note: cannot chown '%s'", bbdir(p));
	if (!srv_running(s.data_dir)) {
		act_fail(a, "pitr resource '%s': a local snapshot is a base backup and needs the server of '%s' running; it is not",
			 p->r->name, s.data_dir);
		goto out;
	}
	if (pg_child_conninfo(a, p->db, NULL, &ci, &pwe) != 0)
		goto out;
	char *tool = xstrdup(srv_tool(&s, "pg_basebackup"));
	char *argv[] = { tool, "-D", dest, "-X", "stream", "-c", "fast", "-l", label, "-d", ci, NULL };
	char *env[] = { pwe, NULL };
	int r = srv_run(&s, argv, pwe ? env : NULL, "pg_basebackup", NULL);
	free(tool);
	if (r != 0) {
		char e[600];
		srv_remove_tree(&s, dest, e, sizeof(e));
		goto out;
	}
	struct bb b;
	int64_t end = srv_now(&s);
	if (!end)
		end = now_us();
	char ts[40], lsn[40] = "";
	if (read_bb(bbdir(p), name, &b) == 0) {
		snprintf(lsn, sizeof(lsn), "%X/%X", (unsigned)(b.start_lsn >> 32), (unsigned)b.start_lsn);
		free(b.path);
	}
	json_t *m = json_object();
	json_object_set_new(m, "name", json_string(name));
	json_object_set_new(m, "type", json_string("snapshot"));
	json_object_set_new(m, "created", json_string(fmt_timestamp(now_us(), ts, sizeof(ts))));
	json_object_set_new(m, "end_time", json_string(fmt_timestamp(end, ts, sizeof(ts))));
	json_object_set_new(m, "start_lsn", json_string(lsn));
	json_object_set_new(m, "run", json_string(act_run_id(a)));
	json_object_set_new(m, "step", json_string(act_step_id(a)));
	char *text = json_dumps(m, JSON_INDENT(2));
	json_decref(m);
	char *mp = xasprintf("%s/%s.drplay.json", bbdir(p), name);
	int fd = open(mp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0 || write_all(fd, text, strlen(text)) != 0 || fsync(fd) != 0) {
		act_fail(a, "cannot write the snapshot's metadata '%s': %s", mp, strerror(errno));
		if (fd >= 0)
			close(fd);
		free(mp);
		free(text);
		goto out;
	}
	close(fd);
	free(mp);
	free(text);
	act_out_str(a, "lsn", lsn);
	rc = ACT_OK;
out:
	free(ci);
	free_secret(pwe);
	free(dest);
	free(label);
	srv_release(&s);
	return rc;
}

/* ---- restore and branch ---- */

struct lay {
	struct pitr *p;
	const struct bb *b;
	int64_t to_us;     /* 0 with immediate = 0: replay everything */
	int immediate;     /* recover to the backup's end only */
	const char *dest;  /* the directory to fill */
};

static int lay_backup(struct srv *s, const struct lay *l, unsigned tli)
{
	if (srv_copy_tree(s, l->b->path, l->dest, "copying the base backup into place") != 0)
		return -1;
	char *rc = xasprintf("restore_command = 'cp \"%s/%%f\" \"%%p\"'", archive(l->p));
	char tl[64], tt[96], pt[48];
	const char *lines[8];
	int n = 0;
	lines[n++] = rc;
	if (l->immediate) {
		lines[n++] = "recovery_target = 'immediate'";
	} else if (l->to_us) {
		snprintf(tt, sizeof(tt), "recovery_target_time = '%s'", pitr_pg_time(l->to_us, pt, sizeof(pt)));
		lines[n++] = tt;
	}
	lines[n++] = "recovery_target_action = 'promote'";
	if (l->immediate)
		snprintf(tl, sizeof(tl), "recovery_target_timeline = 'current'");
	else
		snprintf(tl, sizeof(tl), "recovery_target_timeline = '%u'", tli);
	lines[n++] = tl;
	lines[n] = NULL;
	int r = srv_write_recovery(s, l->dest, lines, 1);
	free(rc);
	return r;
}

static int lay_down_backup(struct srv_restore *rs, unsigned tli)
{
	return lay_backup(rs->s, rs->ud, tli);
}

static const struct bb *find_bb(const struct bbs *all, const char *name)
{
	for (size_t i = 0; i < all->n; i++)
		if (!strcmp(all->v[i].name, name))
			return &all->v[i];
	return NULL;
}

static int local_restore(struct pitr *p, const struct pitr_restore_req *q, int64_t *recovered_us)
{
	struct srv s;
	if (srv_init(p, &s) != 0)
		return ACT_FAIL;
	struct act *a = p->a;
	int rc = ACT_FAIL;
	struct bbs all;
	list_bbs(p, &all);
	struct srv_restore rs = { 0 };
	rs.s = &s;
	rs.preserve_as = q->preserve_as;
	rs.archive_dir = archive(p);
	struct lay l = { 0 };
	l.p = p;
	l.dest = s.data_dir;
	char *from_path = NULL;
	if (srv_check_dir_owner(&s, s.data_dir, "the data directory") != 0)
		goto out;
	if (q->from) {
		from_path = xasprintf("%s/%s", s.preserve_dir, q->from);
		struct stat st;
		const struct bb *b = find_bb(&all, q->from);
		if (stat(from_path, &st) == 0 && S_ISDIR(st.st_mode)) {
			rs.lay_down = srv_lay_down_copy;
			rs.ud = from_path;
			rs.copy_wal = 0;
			act_log(a, "returning to the preserved state '%s' (a copy of it; the preserved state stays)", q->from);
		} else if (b) {
			l.b = b;
			l.immediate = 1;
			rs.lay_down = lay_down_backup;
			rs.ud = &l;
			rs.copy_wal = 0;
			act_log(a, "returning to the snapshot '%s' (base backup, recovered to its end)", q->from);
		} else {
			act_fail(a, "pitr resource '%s' keeps no snapshot or preserved state named '%s' (looked in %s and %s); `drplay cleanup FILE --resource %s` lists them; nothing was changed",
				 p->r->name, q->from, bbdir(p), s.preserve_dir, p->r->name);
			goto out;
		}
	} else {
		struct walpos w;
		if (wal_position(&s, &w) != 0)
			goto out;
		const struct bb *b = choose_bb(p, &all, w.tli, q->to_us);
		if (!b)
			goto fail_unchanged;
		struct pitr_window win = { 0 };
		window_from(&s, &w, b, &win);
		if (pitr_window_check(p, &win, q->to_us) != 0)
			goto fail_unchanged;
		act_log(a, "restoring base backup '%s' (ended %s) and replaying WAL to the target", b->name,
			fmt_timestamp(b->end_us, (char[40]){ 0 }, 40));
		l.b = b;
		l.to_us = q->to_us;
		rs.lay_down = lay_down_backup;
		rs.ud = &l;
		rs.copy_wal = 1;
	}
	if (srv_restore_run(&rs) != 0)
		goto out;
	*recovered_us = rs.recovered_us;
	rc = ACT_OK;
	goto out;
fail_unchanged:;
	char *m = xasprintf("%s; nothing was changed", act_error(a));
	act_fail(a, "%s", m);
	free(m);
out:
	free(rs.preserved_path);
	free(from_path);
	bbs_release(&all);
	srv_release(&s);
	return rc;
}

static int local_branch(struct pitr *p, const char *name, int64_t at_us, char **dsn)
{
	struct srv s;
	if (srv_init(p, &s) != 0)
		return ACT_FAIL;
	struct act *a = p->a;
	int rc = ACT_FAIL;
	struct bbs all;
	list_bbs(p, &all);
	char *dest = xasprintf("%s/%s", s.branch_dir, name);
	int made = 0;
	if (mkdir(s.branch_dir, 0700) != 0 && errno != EEXIST) {
		act_fail(a, "cannot create the branch directory '%s': %s", s.branch_dir, strerror(errno));
		goto out;
	}
	if (geteuid() == 0 && chown(s.branch_dir, s.uid, s.gid) != 0)
		act_log(a, "note: cannot chown '%s'", s.branch_dir);
	unsigned tli = 0;
	if (srv_running(s.data_dir) && srv_seal_wal(&s, &tli, 60000000) != 0)
		goto out;
	struct walpos w;
	if (wal_position(&s, &w) != 0)
		goto out;
	const struct bb *b = choose_bb(p, &all, w.tli, at_us);
	if (!b)
		goto out;
	if (at_us) {
		struct pitr_window win = { 0 };
		window_from(&s, &w, b, &win);
		if (pitr_window_check(p, &win, at_us) != 0)
			goto out;
	}
	struct lay l = { p, b, at_us, 0, dest };
	made = 1;
	if (lay_backup(&s, &l, w.tli) != 0)
		goto out;
	if (srv_branch_start(&s, dest, name, dsn) != 0)
		goto out;
	rc = ACT_OK;
out:
	if (rc != ACT_OK && made) {
		srv_branch_abandon(&s, name);
	}
	free(dest);
	bbs_release(&all);
	srv_release(&s);
	return rc;
}

/* ---- cleanup ---- */

static json_t *local_list(struct pitr *p)
{
	struct srv s;
	if (srv_init(p, &s) != 0)
		return NULL;
	json_t *out = json_array();
	struct bbs all;
	list_bbs(p, &all);
	for (size_t i = 0; i < all.n; i++) {
		char ts[40];
		json_t *o = json_object();
		json_object_set_new(o, "name", json_string(all.v[i].name));
		json_object_set_new(o, "type", json_string(all.v[i].snapshot ? "snapshot" : "backup"));
		json_object_set_new(o, "created", json_string(fmt_timestamp(all.v[i].end_us, ts, sizeof(ts))));
		json_object_set_new(o, "detail", json_string(all.v[i].snapshot ? "base backup taken by pitr.snapshot"
									    : "base backup (restores to a time start from one)"));
		json_array_append_new(out, o);
	}
	bbs_release(&all);
	srv_list_dirs(&s, out);
	srv_release(&s);
	return out;
}

static int local_remove(struct pitr *p, const char *name)
{
	struct srv s;
	if (srv_init(p, &s) != 0)
		return ACT_FAIL;
	int rc = srv_remove_named(&s, name);
	if (rc == 0) {
		char *path = xasprintf("%s/%s", bbdir(p), name);
		char err[600];
		if (srv_remove_tree(&s, path, err, sizeof(err)) != 0) {
			act_fail(p->a, "%s", err);
			rc = -1;
		} else {
			char *mp = xasprintf("%s/%s.drplay.json", bbdir(p), name);
			unlink(mp);
			free(mp);
			rc = 1;
		}
		free(path);
	}
	srv_release(&s);
	return rc == 1 ? ACT_OK : ACT_FAIL;
}

static int local_exists(struct pitr *p, const char *name)
{
	struct srv s;
	if (srv_init(p, &s) != 0)
		return 0;
	int r = srv_has_named(&s, name);
	if (!r && pitr_safe_name(name)) {
		char *path = xasprintf("%s/%s", bbdir(p), name);
		struct stat st;
		r = stat(path, &st) == 0;
		free(path);
	}
	srv_release(&s);
	return r;
}

static const struct param_spec local_fields[] = {
	{ .name = "base_backups", .type = T_STRING, .flags = P_REQUIRED,
	  .doc = "the directory of base backups (one pg_basebackup -Fp directory each; pitr.snapshot adds one)" },
	{ .name = "wal_archive", .type = T_STRING, .flags = P_REQUIRED,
	  .doc = "the directory archive_command copies WAL segments into" },
	{ .name = NULL },
};

static const struct pitr_ops local_ops = {
	.window = local_window,
	.snapshot = local_snapshot,
	.restore = local_restore,
	.branch = local_branch,
	.discard = srv_discard_op,
	.list = local_list,
	.remove = local_remove,
	.exists = local_exists,
	.open_preserved = srv_open_preserved,
	.close_preserved = srv_discard_op,
	.note_preserved = srv_note_preserved,
};

static const struct driver_def pitr_local_driver = {
	.kind = PITR_KIND,
	.name = "local",
	.doc = "base backups by pg_basebackup plus a WAL archive directory, for a server on this host",
	.fields = local_fields,
	.shared = pitr_server_fields,
	.ops = &local_ops,
};
DRIVER_REGISTER(pitr_local_driver)
