/*
 * pitr_pgbackrest.c: the `pgbackrest` pitr driver: the same operations as
 * the local driver, through pgBackRest (the path for databases too big for
 * logical dumps; the repository may be a posix directory or S3, which is
 * pgBackRest's own configuration).
 *
 *   snapshot  pgbackrest backup --type=<backup_type> --annotation=drplay-name=<name>
 *   restore   to a time: pgbackrest restore --set=<newest backup that ended
 *             before it> --type=time --target=... --target-action=promote
 *             --target-timeline=<the replaced server's timeline> --delta into
 *             the emptied data directory (the replaced one is kept under
 *             preserve_as by pitr_server.c, and put back if anything fails);
 *             to a snapshot: --set=<its backup> --type=immediate; to a
 *             preserved state: a copy of it.
 *   branch    the same restore into drplay-branches/<name> (--pg1-path)
 *             with --archive-mode=off, started on a free port.
 *   window    from `pgbackrest info --output=json`: earliest = the end of
 *             the oldest backup; latest = now while the server runs, else
 *             the end of the newest backup.
 * pgBackRest runs as the server's OS user (os_user), like the server.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pitr.h"

struct pgbr_cmd {
	char *v[24];
	char *own[24];
	int n, nown;
};

static void cmd_add(struct pgbr_cmd *c, char *s, int owned)
{
	if (c->n < 23)
		c->v[c->n++] = s;
	if (owned && c->nown < 24)
		c->own[c->nown++] = s;
	c->v[c->n] = NULL;
}

static void cmd_release(struct pgbr_cmd *c)
{
	for (int i = 0; i < c->nown; i++)
		free(c->own[i]);
	c->n = c->nown = 0;
}

static void cmd_init(struct pitr *p, struct pgbr_cmd *c)
{
	memset(c, 0, sizeof(*c));
	cmd_add(c, "pgbackrest", 0);
	const char *conf = res_str(p->r, "config");
	if (conf && *conf)
		cmd_add(c, xasprintf("--config=%s", conf), 1);
	cmd_add(c, xasprintf("--stanza=%s", res_str(p->r, "stanza")), 1);
	int64_t repo = res_int(p->r, "repo", 0);
	if (repo > 0)
		cmd_add(c, xasprintf("--repo=%lld", (long long)repo), 1);
}

/* `pgbackrest info` of the stanza; NULL after act_fail (the stanza missing
 * or unreadable is reported here, before anything changes). */
static json_t *pgbr_info_run(struct srv *s);

/* The answer is kept for the rest of the action (one pgbackrest start-up
 * instead of three); pgbr_info_fresh asks again (after a backup). */
static json_t *pgbr_info(struct srv *s)
{
	if (s->p->cache)
		return json_incref(s->p->cache);
	json_t *st = pgbr_info_run(s);
	if (st)
		s->p->cache = json_incref(st);
	return st;
}

static json_t *pgbr_info_fresh(struct srv *s)
{
	json_decref(s->p->cache);
	s->p->cache = NULL;
	return pgbr_info(s);
}

static json_t *pgbr_info_run(struct srv *s)
{
	struct pitr *p = s->p;
	struct pgbr_cmd c;
	cmd_init(p, &c);
	cmd_add(&c, "--output=json", 0);
	cmd_add(&c, "info", 0);
	char *out = NULL;
	int rc = srv_run(s, c.v, NULL, "pgbackrest info", &out);
	cmd_release(&c);
	if (rc != 0)
		return NULL;
	json_error_t je;
	json_t *all = json_loads(out, 0, &je);
	free(out);
	json_t *st = json_array_get(all, 0);
	if (!json_is_object(st)) {
		act_fail(p->a, "pgbackrest info for stanza '%s' answered something unexpected", res_str(p->r, "stanza"));
		json_decref(all);
		return NULL;
	}
	json_t *status = json_object_get(st, "status");
	json_int_t code = json_integer_value(json_object_get(status, "code"));
	if (code != 0 && code != 2) {
		act_fail(p->a, "pgBackRest stanza '%s' of pitr resource '%s' is not usable: %s (status code %lld); check stanza: and config:, and that `pgbackrest stanza-create` was run for it; nothing was changed",
			 res_str(p->r, "stanza"), p->r->name, json_string_value(json_object_get(status, "message")),
			 (long long)code);
		json_decref(all);
		return NULL;
	}
	json_incref(st);
	json_decref(all);
	return st;
}

static int64_t bk_stop_us(json_t *b)
{
	/* info gives whole seconds; the backup's consistent point is within
	 * the second after. */
	return ((int64_t)json_integer_value(json_object_get(json_object_get(b, "timestamp"), "stop")) + 1) * 1000000;
}

static const char *bk_label(json_t *b)
{
	return json_string_value(json_object_get(b, "label"));
}

static const char *bk_name(json_t *b)
{
	return json_string_value(json_object_get(json_object_get(b, "annotation"), "drplay-name"));
}

static json_t *backups(json_t *info)
{
	return json_object_get(info, "backup");
}

static int pgbr_window_info(struct srv *s, json_t *info, struct pitr_window *w)
{
	json_t *bs = backups(info);
	size_t n = json_array_size(bs);
	if (!n) {
		act_fail(s->p->a, "pgBackRest stanza '%s' of pitr resource '%s' has no backup yet; take one (pitr.snapshot or pgbackrest backup)",
			 res_str(s->p->r, "stanza"), s->p->r->name);
		return ACT_FAIL;
	}
	w->earliest = bk_stop_us(json_array_get(bs, 0));
	snprintf(w->earliest_note, sizeof(w->earliest_note),
		 "a recovery target before the base backup cannot be reached, and the oldest pgBackRest backup (%s) ends then",
		 bk_label(json_array_get(bs, 0)));
	if (srv_running(s->data_dir)) {
		int64_t now = srv_now(s);
		w->latest = now ? now : now_us();
		snprintf(w->note, sizeof(w->note), "the server is running: up to now (a restore seals the WAL with a marker commit before it stops the server)");
	} else {
		w->latest = bk_stop_us(json_array_get(bs, n - 1));
		snprintf(w->note, sizeof(w->note), "the server is stopped: up to the newest backup (its later WAL may be in pg_wal only)");
	}
	return ACT_OK;
}

static int pgbr_window(struct pitr *p, struct pitr_window *w)
{
	struct srv s;
	if (srv_init(p, &s) != 0)
		return ACT_FAIL;
	json_t *info = pgbr_info(&s);
	int rc = info ? pgbr_window_info(&s, info, w) : ACT_FAIL;
	json_decref(info);
	srv_release(&s);
	return rc;
}

static json_t *find_named(json_t *info, const char *name)
{
	size_t i;
	json_t *b;
	json_array_foreach(backups(info), i, b)
	{
		const char *n = bk_name(b);
		if (n && !strcmp(n, name))
			return b;
		if (bk_label(b) && !strcmp(bk_label(b), name))
			return b;
	}
	return NULL;
}

static int pgbr_snapshot(struct pitr *p, const char *name)
{
	struct srv s;
	if (srv_init(p, &s) != 0)
		return ACT_FAIL;
	int rc = ACT_FAIL;
	json_t *info = pgbr_info(&s);
	if (!info)
		goto out;
	struct pgbr_cmd c;
	cmd_init(p, &c);
	const char *type = res_str(p->r, "backup_type");
	cmd_add(&c, xasprintf("--type=%s", type ? type : "incr"), 1);
	cmd_add(&c, xasprintf("--annotation=drplay-name=%s", name), 1);
	cmd_add(&c, xasprintf("--annotation=drplay-run=%s", act_run_id(p->a)), 1);
	cmd_add(&c, "backup", 0);
	int r = srv_run(&s, c.v, NULL, "pgbackrest backup", NULL);
	cmd_release(&c);
	if (r != 0)
		goto out;
	json_decref(info);
	info = pgbr_info_fresh(&s);
	json_t *b = info ? find_named(info, name) : NULL;
	if (!b) {
		act_fail(p->a, "pgbackrest backup finished but no backup annotated drplay-name=%s is listed", name);
		goto out;
	}
	act_out_str(p->a, "lsn", json_string_value(json_object_get(json_object_get(b, "lsn"), "stop")));
	act_log(p->a, "pgBackRest backup %s (%s) annotated drplay-name=%s", bk_label(b),
		json_string_value(json_object_get(b, "type")), name);
	rc = ACT_OK;
out:
	json_decref(info);
	srv_release(&s);
	return rc;
}

struct pgbr_lay {
	struct pitr *p;
	const char *label;
	int64_t to_us;      /* 0: no time target */
	int immediate;
	int branch;
	const char *dest;
};

static int pgbr_restore_into(struct srv *s, const struct pgbr_lay *l, unsigned tli)
{
	struct pitr *p = l->p;
	if (mkdir(l->dest, 0700) != 0 && errno != EEXIST) {
		act_fail(p->a, "cannot create '%s': %s", l->dest, strerror(errno));
		return -1;
	}
	if (geteuid() == 0 && chown(l->dest, s->uid, s->gid) != 0) {
		act_fail(p->a, "cannot give '%s' to %s: %s", l->dest, s->os_user, strerror(errno));
		return -1;
	}
	struct pgbr_cmd c;
	cmd_init(p, &c);
	cmd_add(&c, "--delta", 0);
	cmd_add(&c, xasprintf("--pg1-path=%s", l->dest), 1);
	cmd_add(&c, xasprintf("--set=%s", l->label), 1);
	if (l->immediate) {
		cmd_add(&c, "--type=immediate", 0);
	} else if (l->to_us) {
		char pt[48];
		cmd_add(&c, "--type=time", 0);
		cmd_add(&c, xasprintf("--target=%s", pitr_pg_time(l->to_us, pt, sizeof(pt))), 1);
		cmd_add(&c, xasprintf("--target-timeline=%u", tli), 1);
	} else {
		cmd_add(&c, "--type=default", 0);
		cmd_add(&c, xasprintf("--target-timeline=%u", tli), 1);
	}
	if (l->immediate || l->to_us)
		cmd_add(&c, "--target-action=promote", 0);
	if (l->branch)
		cmd_add(&c, "--archive-mode=off", 0);
	cmd_add(&c, "restore", 0);
	int rc = srv_run(s, c.v, NULL, "pgbackrest restore", NULL);
	cmd_release(&c);
	return rc;
}

static int lay_down_pgbr(struct srv_restore *rs, unsigned tli)
{
	return pgbr_restore_into(rs->s, rs->ud, tli);
}

/* The newest backup that ended at or before `at` (0 = the newest). */
static json_t *choose(struct pitr *p, json_t *info, int64_t at)
{
	json_t *best = NULL, *b;
	size_t i;
	json_array_foreach(backups(info), i, b)
	{
		if (json_is_true(json_object_get(b, "error")))
			continue;
		if (!at || bk_stop_us(b) <= at)
			best = b;
	}
	if (!best) {
		json_t *first = json_array_get(backups(info), 0);
		char t[40], e[40];
		if (!first)
			act_fail(p->a, "pgBackRest stanza '%s' has no backup; take one first", res_str(p->r, "stanza"));
		else
			act_fail(p->a, "recovery target %s is before the base backup: the oldest pgBackRest backup of pitr resource '%s' (%s) ends at %s; pick a later time",
				 fmt_timestamp(at, t, sizeof(t)), p->r->name, bk_label(first),
				 fmt_timestamp(bk_stop_us(first), e, sizeof(e)));
	}
	return best;
}

static int pgbr_restore(struct pitr *p, const struct pitr_restore_req *q, int64_t *recovered_us)
{
	struct srv s;
	if (srv_init(p, &s) != 0)
		return ACT_FAIL;
	struct act *a = p->a;
	int rc = ACT_FAIL;
	char *from_path = NULL;
	json_t *info = NULL;
	struct srv_restore rs = { 0 };
	rs.s = &s;
	rs.preserve_as = q->preserve_as;
	struct pgbr_lay l = { 0 };
	l.p = p;
	l.dest = s.data_dir;
	if (srv_check_dir_owner(&s, s.data_dir, "the data directory") != 0)
		goto out;
	if (q->from) {
		from_path = xasprintf("%s/%s", s.preserve_dir, q->from);
		struct stat st;
		if (stat(from_path, &st) == 0 && S_ISDIR(st.st_mode)) {
			rs.lay_down = srv_lay_down_copy;
			rs.ud = from_path;
		} else {
			info = pgbr_info(&s);
			json_t *b = info ? find_named(info, q->from) : NULL;
			if (!b) {
				if (info)
					act_fail(a, "pitr resource '%s' keeps no snapshot or preserved state named '%s' (no pgBackRest backup annotated drplay-name=%s, nothing in %s); nothing was changed",
						 p->r->name, q->from, q->from, s.preserve_dir);
				goto out;
			}
			l.label = bk_label(b);
			l.immediate = 1;
			rs.lay_down = lay_down_pgbr;
			rs.ud = &l;
		}
	} else {
		info = pgbr_info(&s);
		if (!info)
			goto out;
		json_t *b = choose(p, info, q->to_us);
		if (!b) {
			char *m = xasprintf("%s; nothing was changed", act_error(a));
			act_fail(a, "%s", m);
			free(m);
			goto out;
		}
		l.label = bk_label(b);
		l.to_us = q->to_us;
		rs.lay_down = lay_down_pgbr;
		rs.ud = &l;
		rs.copy_wal = 1;
		act_log(a, "restoring pgBackRest backup %s and replaying WAL to the target", l.label);
	}
	if (srv_restore_run(&rs) != 0)
		goto out;
	*recovered_us = rs.recovered_us;
	rc = ACT_OK;
out:
	json_decref(info);
	free(rs.preserved_path);
	free(from_path);
	srv_release(&s);
	return rc;
}

static int pgbr_branch(struct pitr *p, const char *name, int64_t at_us, char **dsn)
{
	struct srv s;
	if (srv_init(p, &s) != 0)
		return ACT_FAIL;
	struct act *a = p->a;
	int rc = ACT_FAIL, made = 0;
	char *dest = xasprintf("%s/%s", s.branch_dir, name);
	json_t *info = pgbr_info(&s);
	if (!info)
		goto out;
	if (mkdir(s.branch_dir, 0700) != 0 && errno != EEXIST) {
		act_fail(a, "cannot create the branch directory '%s': %s", s.branch_dir, strerror(errno));
		goto out;
	}
	if (geteuid() == 0 && chown(s.branch_dir, s.uid, s.gid) != 0)
		act_log(a, "note: cannot chown '%s'", s.branch_dir);
	unsigned tli = 1;
	if (srv_running(s.data_dir)) {
		if (srv_seal_wal(&s, &tli, 60000000) != 0)
			goto out;
	} else {
		char lsn[64];
		uint64_t segsz;
		if (srv_controldata(&s, s.data_dir, &tli, lsn, sizeof(lsn), &segsz) != 0)
			goto out;
	}
	json_t *b = choose(p, info, at_us);
	if (!b)
		goto out;
	struct pgbr_lay l = { p, bk_label(b), at_us, 0, 1, dest };
	made = 1;
	if (pgbr_restore_into(&s, &l, tli) != 0)
		goto out;
	if (srv_branch_start(&s, dest, name, dsn) != 0)
		goto out;
	rc = ACT_OK;
out:
	if (rc != ACT_OK && made) {
		srv_branch_abandon(&s, name);
	}
	json_decref(info);
	free(dest);
	srv_release(&s);
	return rc;
}

static json_t *pgbr_list(struct pitr *p)
{
	struct srv s;
	if (srv_init(p, &s) != 0)
		return NULL;
	json_t *info = pgbr_info(&s);
	if (!info) {
		srv_release(&s);
		return NULL;
	}
	json_t *out = json_array();
	size_t i;
	json_t *b;
	json_array_foreach(backups(info), i, b)
	{
		char ts[40];
		const char *nm = bk_name(b);
		json_t *o = json_object();
		json_object_set_new(o, "name", json_string(nm ? nm : bk_label(b)));
		json_object_set_new(o, "type", json_string(nm ? "snapshot" : "backup"));
		json_object_set_new(o, "created", json_string(fmt_timestamp(bk_stop_us(b), ts, sizeof(ts))));
		json_object_set_new(o, "detail", json_sprintf("pgBackRest %s backup %s", json_string_value(json_object_get(b, "type")),
							  bk_label(b)));
		json_array_append_new(out, o);
	}
	json_decref(info);
	srv_list_dirs(&s, out);
	srv_release(&s);
	return out;
}

static int pgbr_remove(struct pitr *p, const char *name)
{
	struct srv s;
	if (srv_init(p, &s) != 0)
		return ACT_FAIL;
	int rc = srv_remove_named(&s, name);
	if (rc == 0) {
		json_t *info = pgbr_info(&s);
		json_t *b = info ? find_named(info, name) : NULL;
		if (b) {
			struct pgbr_cmd c;
			cmd_init(p, &c);
			cmd_add(&c, xasprintf("--set=%s", bk_label(b)), 1);
			cmd_add(&c, "expire", 0);
			rc = srv_run(&s, c.v, NULL, "pgbackrest expire", NULL) == 0 ? 1 : -1;
			cmd_release(&c);
		} else if (info) {
			act_fail(p->a, "nothing named '%s' found", name);
			rc = -1;
		}
		json_decref(info);
	}
	srv_release(&s);
	return rc == 1 ? ACT_OK : ACT_FAIL;
}

static int pgbr_exists(struct pitr *p, const char *name)
{
	struct srv s;
	if (srv_init(p, &s) != 0)
		return 0;
	int r = srv_has_named(&s, name);
	if (!r) {
		json_t *info = pgbr_info(&s);
		r = info && find_named(info, name);
		json_decref(info);
	}
	srv_release(&s);
	return r;
}

static const char *const backup_types[] = { "full", "diff", "incr", NULL };

static const struct param_spec pgbr_fields[] = {
	{ .name = "backup_type", .type = T_STRING, .def = "incr", .allowed = backup_types,
	  .doc = "the backup pitr.snapshot takes (full when none exists yet)" },
	{ .name = "config", .type = T_STRING, .doc = "the configuration file (default: pgBackRest's own)" },
	{ .name = "repo", .type = T_INT, .doc = "the repository number (--repo), when the stanza has several" },
	{ .name = "stanza", .type = T_STRING, .flags = P_REQUIRED, .doc = "the stanza" },
	{ .name = NULL },
};

static const struct pitr_ops pgbr_ops = {
	.window = pgbr_window,
	.snapshot = pgbr_snapshot,
	.restore = pgbr_restore,
	.branch = pgbr_branch,
	.discard = srv_discard_op,
	.list = pgbr_list,
	.remove = pgbr_remove,
	.exists = pgbr_exists,
	.open_preserved = srv_open_preserved,
	.close_preserved = srv_discard_op,
	.note_preserved = srv_note_preserved,
};

static const struct driver_def pitr_pgbackrest_driver = {
	.kind = PITR_KIND,
	.name = "pgbackrest",
	.doc = "pgBackRest's backups and WAL archive, for a server on this host",
	.fields = pgbr_fields,
	.shared = pitr_server_fields,
	.ops = &pgbr_ops,
};
DRIVER_REGISTER(pitr_pgbackrest_driver)
