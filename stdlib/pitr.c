/*
 * pitr.c: point-in-time restore with an undo. The `pitr` resource kind names
 * a driver (local, pgbackrest, neon) and the postgres resource it restores
 * (`database:`, through which liveness flows), and five actions whose safety
 * the interpreter enforces from their declarations:
 *   pitr.window    read-only preflight: the earliest and latest restorable
 *                  points; fails when `to` is outside them
 *   pitr.snapshot  keeps the current state under a name (category snapshot)
 *   pitr.restore   destructive (category restore): to a time or to a named
 *                  state, ALWAYS keeping the state it replaces under
 *                  preserve_as, so every restore can itself be undone
 *   pitr.branch    a throwaway copy at a time, with a connection string
 *   pitr.discard   removes a branch this same run created, nothing else
 * Snapshots and preserved states are never removed by a run; `drplay
 * cleanup` lists them and deletes one on exact approval (the kind's
 * list_preserved / delete_preserved hooks below).
 *
 * The rules common to every driver live here: default names, the window
 * gate, what may be discarded, the outputs. The drivers do the work.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pitr.h"
#include "credential.h"

char *pitr_branch_key(struct pitr *p, const char *name)
{
	return xasprintf("%s/%s", p->r->name, name);
}

char *pitr_pg_time(int64_t us, char *buf, size_t n)
{
	time_t t = (time_t)(us / 1000000);
	if (us < 0 && us % 1000000)
		t--;
	struct tm tm;
	gmtime_r(&t, &tm);
	long frac = (long)(us - (int64_t)t * 1000000);
	snprintf(buf, n, "%04d-%02d-%02d %02d:%02d:%02d.%06ld+00", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		 tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
	return buf;
}

int pitr_parse_pg_time(const char *s, int64_t *us)
{
	char buf[80];
	snprintf(buf, sizeof(buf), "%s", s);
	size_t n = strlen(buf);
	while (n && buf[n - 1] == ' ')
		buf[--n] = '\0';
	if (n > 4 && !strcmp(buf + n - 4, " UTC")) {
		buf[n - 4] = 'Z';
		buf[n - 3] = '\0';
	} else if (n > 3 && (buf[n - 3] == '+' || buf[n - 3] == '-') && strchr(buf, ' ')) {
		/* "+00" -> "+00:00" */
		if (n + 3 < sizeof(buf)) {
			buf[n] = ':';
			buf[n + 1] = '0';
			buf[n + 2] = '0';
			buf[n + 3] = '\0';
		}
	}
	char *sp = strchr(buf, ' ');
	if (sp)
		*sp = 'T';
	return parse_timestamp(buf, us);
}

int pitr_window_check(struct pitr *p, const struct pitr_window *w, int64_t to_us)
{
	char t[40], e[40], l[40];
	fmt_timestamp(to_us, t, sizeof(t));
	fmt_timestamp(w->earliest, e, sizeof(e));
	fmt_timestamp(w->latest, l, sizeof(l));
	if (w->earliest && to_us < w->earliest) {
		act_fail(p->a, "to: %s is before the earliest point pitr resource '%s' can restore to (%s): %s; pick a later time, or restore an older backup another way",
			 t, p->r->name, e, w->earliest_note[0] ? w->earliest_note : "nothing older is kept");
		return -1;
	}
	if (w->latest && (to_us > w->latest || (w->latest_exclusive && to_us >= w->latest))) {
		act_fail(p->a, "to: %s is after the latest point pitr resource '%s' can restore to (%s%s); %s",
			 t, p->r->name, w->latest_exclusive ? "before " : "", l,
			 w->note[0] ? w->note : "pick an earlier time");
		return -1;
	}
	return 0;
}

/* "<base>-<what>-<UTC timestamp>", with -2, -3... when taken. */
static char *default_name(struct pitr *p, const char *what)
{
	const char *base = "main";
	const char *br = res_str(p->r, "branch");
	if (br && *br && strncmp(br, "br-", 3) != 0)
		base = br;
	char ts[40];
	fmt_timestamp_compact(now_us(), ts, sizeof(ts));
	char *name = xasprintf("%s-%s-%s", base, what, ts);
	for (int i = 2; p->ops->exists(p, name) && i < 100; i++) {
		free(name);
		name = xasprintf("%s-%s-%s-%d", base, what, ts, i);
	}
	return name;
}

static int check_name(struct pitr *p, const char *name, const char *param)
{
	if (!pitr_safe_name(name)) {
		act_fail(p->a, "%s '%s' is not a usable name: use letters, digits, '-', '_' or '.', without '/' or quotes", param,
			 name);
		return -1;
	}
	return 0;
}

static void out_undo(struct act *a, struct pitr *p, const char *name)
{
	char *u = xasprintf("pitr.restore with resource: %s, from: %s", p->r->name, name);
	act_out_str(a, "undo", u);
	free(u);
}

/* ---- pitr.window ---- */

static int window_action(struct act *a, struct pitr *p)
{
	if (pitr_setup(a, p) != 0)
		return ACT_FAIL;
	struct pitr_window w = { 0 };
	if (p->ops->window(p, &w) != ACT_OK)
		return ACT_FAIL;
	act_out_time(a, "earliest", w.earliest);
	act_out_time(a, "latest", w.latest);
	act_out_str(a, "note", w.note);
	char e[40], l[40];
	act_log(a, "pitr resource '%s' (%s) can restore to %s .. %s%s%s%s", p->r->name, p->driver,
		fmt_timestamp(w.earliest, e, sizeof(e)), w.latest_exclusive ? "before " : "",
		fmt_timestamp(w.latest, l, sizeof(l)), w.note[0] ? "; " : "", w.note);
	if (act_has(a, "to")) {
		int64_t to = act_timestamp_us(a, "to", 0);
		int ok = pitr_window_check(p, &w, to) == 0;
		act_out_bool(a, "inside", ok);
		return ok ? ACT_OK : ACT_FAIL;
	}
	act_out_bool(a, "inside", 1);
	return ACT_OK;
}

static int do_window(struct act *a)
{
	struct pitr p = { 0 };
	int rc = window_action(a, &p);
	json_decref(p.cache);
	return rc;
}

/* ---- pitr.snapshot ---- */

static int snapshot_action(struct act *a, struct pitr *p)
{
	if (pitr_setup(a, p) != 0)
		return ACT_FAIL;
	char *name = act_str(a, "name") ? xstrdup(act_str(a, "name")) : default_name(p, "before-restore");
	if (check_name(p, name, "name") != 0) {
		free(name);
		return ACT_FAIL;
	}
	if (p->ops->exists(p, name)) {
		act_fail(a, "pitr resource '%s' already keeps a state named '%s'; choose another name (nothing was changed)",
			 p->r->name, name);
		free(name);
		return ACT_FAIL;
	}
	int64_t t0 = mono_us();
	int rc = p->ops->snapshot(p, name);
	if (rc == ACT_OK) {
		act_out_str(a, "name", name);
		out_undo(a, p, name);
		act_out_time(a, "created_at", now_us());
		act_out_dur(a, "snapshot_time", mono_us() - t0);
		act_log(a, "snapshot '%s' of pitr resource '%s' kept; to return to it: pitr.restore from: %s", name, p->r->name,
			name);
	}
	free(name);
	return rc;
}

static int do_snapshot(struct act *a)
{
	struct pitr p = { 0 };
	int rc = snapshot_action(a, &p);
	json_decref(p.cache);
	return rc;
}

/* ---- pitr.restore ---- */

static int restore_action(struct act *a, struct pitr *p)
{
	if (pitr_setup(a, p) != 0)
		return ACT_FAIL;
	struct pitr_restore_req q = { 0 };
	int has_to = act_has(a, "to"), has_from = act_has(a, "from");
	if (has_to == has_from)
		return act_fail(a, "pitr.restore needs exactly one of to: (a time) or from: (a snapshot or preserved state); nothing was changed");
	if (has_to)
		q.to_us = act_timestamp_us(a, "to", 0);
	q.from = act_str(a, "from");
	if (q.from && check_name(p, q.from, "from") != 0)
		return ACT_FAIL;
	char *pres = act_str(a, "preserve_as") ? xstrdup(act_str(a, "preserve_as")) : default_name(p, "before-restore");
	if (check_name(p, pres, "preserve_as") != 0) {
		free(pres);
		return ACT_FAIL;
	}
	if (p->ops->exists(p, pres)) {
		act_fail(a, "pitr resource '%s' already keeps a state named '%s'; choose another preserve_as (nothing was changed)",
			 p->r->name, pres);
		free(pres);
		return ACT_FAIL;
	}
	q.preserve_as = pres;
	if (has_to) {
		struct pitr_window w = { 0 };
		if (p->ops->window(p, &w) != ACT_OK || pitr_window_check(p, &w, q.to_us) != 0) {
			const char *e = act_error(a) ? act_error(a) : "the window check failed";
			char *m = strstr(e, "nothing was changed") ? xstrdup(e) : xasprintf("%s; nothing was changed", e);
			act_fail(a, "%s", m);
			free(m);
			free(pres);
			return ACT_FAIL;
		}
	}
	int64_t t0 = mono_us();
	int64_t recovered = 0;
	int rc = p->ops->restore(p, &q, &recovered);
	int64_t took = mono_us() - t0;
	if (rc == ACT_OK) {
		act_out_str(a, "preserved", pres);
		out_undo(a, p, pres);
		if (recovered)
			act_out_time(a, "recovered_to", recovered);
		else
			act_out(a, "recovered_to", json_null());
		if (has_to)
			act_out_time(a, "target", q.to_us);
		else
			act_out_str(a, "target", q.from);
		act_out_dur(a, "restore_time", took);
		act_out(a, "restore_seconds", json_real((double)took / 1e6));
		act_out(a, "replay_seconds", json_real((double)p->replay_us / 1e6));
		char rt[40];
		act_log(a, "pitr resource '%s' restored%s%s in %.1fs; the replaced state is kept as '%s' (undo: pitr.restore from: %s)",
			p->r->name, recovered ? "; last transaction replayed at " : "",
			recovered ? fmt_timestamp(recovered, rt, sizeof(rt)) : "", (double)took / 1e6, pres, pres);
		json_t *f = json_object();
		json_object_set_new(f, "pitr", json_string(p->r->name));
		json_object_set_new(f, "preserved", json_string(pres));
		json_object_set_new(f, "target", has_to ? json_string(fmt_timestamp(q.to_us, rt, sizeof(rt))) : json_string(q.from));
		json_object_set_new(f, "seconds", json_real((double)took / 1e6));
		act_journal(a, "pitr_restored", f);
	}
	free(pres);
	return rc;
}

static int do_restore(struct act *a)
{
	struct pitr p = { 0 };
	int rc = restore_action(a, &p);
	json_decref(p.cache);
	return rc;
}

/* ---- pitr.branch ---- */

static int branch_action(struct act *a, struct pitr *p)
{
	if (pitr_setup(a, p) != 0)
		return ACT_FAIL;
	char *name = act_str(a, "name") ? xstrdup(act_str(a, "name")) : default_name(p, "branch");
	if (check_name(p, name, "name") != 0) {
		free(name);
		return ACT_FAIL;
	}
	if (p->ops->exists(p, name)) {
		act_fail(a, "pitr resource '%s' already has something named '%s'; choose another branch name", p->r->name, name);
		free(name);
		return ACT_FAIL;
	}
	int64_t at = act_has(a, "at") ? act_timestamp_us(a, "at", 0) : 0;
	if (at) {
		struct pitr_window w = { 0 };
		if (p->ops->window(p, &w) != ACT_OK || pitr_window_check(p, &w, at) != 0) {
			free(name);
			return ACT_FAIL;
		}
	}
	char *dsn = NULL;
	int64_t t0 = mono_us();
	int rc = p->ops->branch(p, name, at, &dsn);
	if (rc == ACT_OK) {
		char *key = pitr_branch_key(p, name);
		act_created(a, PITR_BRANCH_KIND, key);
		free(key);
		act_out_str(a, "name", name);
		act_out_str(a, "dsn", dsn);
		if (at)
			act_out_time(a, "at", at);
		else
			act_out(a, "at", json_null());
		act_out_dur(a, "branch_time", mono_us() - t0);
		act_log(a, "branch '%s' of pitr resource '%s' is ready (use dsn: ${steps.%s.dsn}); pitr.discard removes it", name,
			p->r->name, act_step_id(a));
	}
	free(dsn);
	free(name);
	return rc;
}

static int do_branch(struct act *a)
{
	struct pitr p = { 0 };
	int rc = branch_action(a, &p);
	json_decref(p.cache);
	return rc;
}

/* ---- pitr.discard ---- */

static int discard_action(struct act *a, struct pitr *p)
{
	if (pitr_setup(a, p) != 0)
		return ACT_FAIL;
	const char *name = act_str(a, "name");
	char *key = pitr_branch_key(p, name);
	int mine = act_was_created(a, PITR_BRANCH_KIND, key);
	free(key);
	if (!mine) {
		int known = pitr_safe_name(name) && p->ops->exists(p, name);
		return act_fail(a, "refusing to discard '%s' of pitr resource '%s': %s; pitr.discard removes only branches that pitr.branch created earlier in this same run. Snapshots and preserved states are never removed by a run: `drplay cleanup FILE --resource %s` lists them and deletes one on --approve",
				name, p->r->name,
				known ? "it is a snapshot, a preserved state or a branch this run did not create" : "this run created no branch by that name",
				p->r->name);
	}
	if (p->ops->discard(p, name) != ACT_OK)
		return ACT_FAIL;
	key = pitr_branch_key(p, name);
	act_removed(a, PITR_BRANCH_KIND, key);
	free(key);
	act_out_str(a, "discarded", name);
	act_log(a, "branch '%s' of pitr resource '%s' discarded", name, p->r->name);
	return ACT_OK;
}

static int do_discard(struct act *a)
{
	struct pitr p = { 0 };
	int rc = discard_action(a, &p);
	json_decref(p.cache);
	return rc;
}

/* ---- the cleanup hooks (drplay cleanup only) ---- */

static json_t *list_preserved(struct act *a, struct resource *r)
{
	(void)r;
	struct pitr p;
	memset(&p, 0, sizeof(p));
	if (pitr_setup(a, &p) != 0)
		return NULL;
	json_t *l = p.ops->list(&p);
	json_decref(p.cache);
	return l;
}

static int delete_preserved(struct act *a, struct resource *r, const char *name)
{
	(void)r;
	struct pitr p;
	memset(&p, 0, sizeof(p));
	if (pitr_setup(a, &p) != 0)
		return ACT_FAIL;
	int rc = p.ops->remove(&p, name);
	json_decref(p.cache);
	return rc;
}

/* ---- declarations ---- */

/* Static checks of a pitr resource: its driver's own (required fields
 * there, no field of another driver). */
static int pitr_kind_check(const struct argq *q)
{
	return kind_check_drivers(PITR_KIND, q);
}

/* The fields every pitr resource has; `driver` and each driver's own come
 * from the drivers (pitr_local.c, pitr_pgbackrest.c, pitr_neon.c). */
static const struct param_spec pitr_fields[] = {
	{ .name = "database", .type = T_RESOURCE, .flags = P_REQUIRED | P_LIVE_REF, .kind = "postgres",
	  .doc = "the postgres resource this restores (a live database makes this resource live)" },
	{ .name = NULL },
};

static const struct kind_def pitr_kind = {
	.name = PITR_KIND,
	.fields = pitr_fields,
	.doc = "Point-in-time restore of a PostgreSQL database: `local` (base backups by pg_basebackup plus a WAL archive directory), `pgbackrest`, or `neon` (Neon's branch API). Every restore keeps the state it replaces; `drplay cleanup` lists and, on exact approval, deletes what is kept.",
	.check = pitr_kind_check,
	.list_preserved = list_preserved,
	.delete_preserved = delete_preserved,
};

#define RES_PARAM \
	{ .name = "resource", .type = T_RESOURCE, .flags = P_REQUIRED | P_TARGET, .kind = "pitr", .doc = "the pitr resource" }

static const struct param_spec window_params[] = {
	RES_PARAM,
	{ .name = "to", .type = T_TIMESTAMP, .doc = "fail unless this time is inside the window" },
	{ .name = NULL },
};
static const struct output_spec window_outputs[] = {
	{ .name = "earliest", .type = T_TIMESTAMP, .doc = "the earliest point it can restore to" },
	{ .name = "inside", .type = T_BOOL, .doc = "whether `to` is inside (true when not given)" },
	{ .name = "latest", .type = T_TIMESTAMP, .doc = "the latest point it can restore to" },
	{ .name = "note", .type = T_STRING, .doc = "how the window was found (gaps, an open end)" },
	{ .name = NULL },
};
static const struct param_spec snapshot_params[] = {
	{ .name = "name", .type = T_STRING, .flags = P_PRINTED,
	  .doc = "the snapshot's name (default: main-before-restore-<UTC timestamp>)" },
	RES_PARAM,
	{ .name = NULL },
};
static const struct output_spec snapshot_outputs[] = {
	{ .name = "created_at", .type = T_TIMESTAMP, .doc = "when it was taken" },
	{ .name = "lsn", .type = T_STRING,
	  .doc = "the WAL position it starts at (local, pgbackrest) or Neon's parent LSN" },
	{ .name = "name", .type = T_STRING, .role = OUT_SNAPSHOT,
	  .doc = "the snapshot's name (the run summary and `drplay status` list it)" },
	{ .name = "snapshot_time", .type = T_DURATION, .doc = "how long it took" },
	{ .name = "undo", .type = T_STRING, .doc = "how to return to it" },
	{ .name = NULL },
};
static const struct param_spec restore_params[] = {
	{ .name = "from", .type = T_STRING, .flags = P_PRINTED,
	  .doc = "restore to this snapshot or preserved state (instead of to:)" },
	{ .name = "preserve_as", .type = T_STRING, .flags = P_PRINTED,
	  .doc = "the name under which the replaced state is kept (default: main-before-restore-<UTC timestamp>)" },
	RES_PARAM,
	{ .name = "to", .type = T_TIMESTAMP, .doc = "restore to this time (UTC)" },
	{ .name = NULL },
};
static const struct output_spec restore_outputs[] = {
	{ .name = "preserved", .type = T_STRING, .role = OUT_PRESERVED,
	  .doc = "the name of the kept, replaced state (the run summary and `drplay status` list it)" },
	{ .name = "recovered_to", .type = T_TIMESTAMP,
	  .doc = "the time of the last transaction replayed (null when none was replayed)" },
	{ .name = "replay_seconds", .type = T_NUMBER, .role = OUT_PHASE_REPLAY,
	  .doc = "of restore_seconds, how long the restored server took to replay WAL and accept connections (0 for a driver that replays nothing drplay can time, e.g. neon)" },
	{ .name = "restore_seconds", .type = T_NUMBER, .doc = "how long the restore took, in seconds" },
	{ .name = "restore_time", .type = T_DURATION, .doc = "how long the restore took" },
	{ .name = "target", .type = T_STRING, .doc = "the time or state asked for" },
	{ .name = "undo", .type = T_STRING, .doc = "how to undo this restore" },
	{ .name = NULL },
};
static const struct param_spec branch_params[] = {
	{ .name = "at", .type = T_TIMESTAMP, .doc = "the time of the copy (default: the latest point)" },
	{ .name = "name", .type = T_STRING, .flags = P_PRINTED,
	  .doc = "the branch's name (default: main-branch-<UTC timestamp>)" },
	RES_PARAM,
	{ .name = NULL },
};
static const struct output_spec branch_outputs[] = {
	{ .name = "at", .type = T_TIMESTAMP, .doc = "the time of the copy (null: the latest point)" },
	{ .name = "branch_time", .type = T_DURATION, .doc = "how long it took to be ready" },
	{ .name = "dsn", .type = T_STRING,
	  .doc = "its connection string, for a postgres resource (dsn: ${steps.ID.dsn})" },
	{ .name = "name", .type = T_STRING, .doc = "the branch's name" },
	{ .name = NULL },
};
static const struct param_spec discard_params[] = {
	{ .name = "name", .type = T_STRING, .flags = P_REQUIRED | P_PRINTED,
	  .doc = "the branch to remove (one this run created)" },
	RES_PARAM,
	{ .name = NULL },
};
static const struct output_spec discard_outputs[] = {
	{ .name = "discarded", .type = T_STRING, .doc = "the branch removed" },
	{ .name = NULL },
};

static int restore_check(const struct argq *q)
{
	int no_to = 0, no_from = 0;
	argq_str(q, "to", &no_to);
	argq_str(q, "from", &no_from);
	if (no_to == no_from) {
		argq_error(q, no_to ? "resource" : "from", "pitr.restore needs exactly one of to: (a time) or from: (a snapshot or preserved state)");
		return 1;
	}
	return 0;
}

static const struct action_def branch_def = {
	.name = "pitr.branch",
	.run = do_branch,
	.flags = A_STATE,
	.cat = CAT_OTHER,
	.params = branch_params,
	.outputs = branch_outputs,
	.doc = "Makes a throwaway copy of the database at a time, for validation runs, and outputs its connection string (a later resource can use dsn: ${steps.ID.dsn}). The live database is not touched. The branch stays until pitr.discard (or `drplay cleanup`).",
};
static const struct action_def discard_def = {
	.name = "pitr.discard",
	.run = do_discard,
	.flags = A_STATE,
	.cat = CAT_OTHER,
	.params = discard_params,
	.outputs = discard_outputs,
	.doc = "Removes a branch that pitr.branch created earlier in this same run, and refuses anything else (a snapshot, a preserved state, another run's branch).",
};
static const struct action_def restore_def = {
	.name = "pitr.restore",
	.run = do_restore,
	.flags = A_STATE | A_DESTRUCT,
	.cat = CAT_RESTORE,
	.params = restore_params,
	.outputs = restore_outputs,
	.doc = "Returns the database to a time (to:) or to a snapshot or preserved state (from:). It always keeps the state it replaces under preserve_as first, so every restore can be undone, and waits until the database accepts connections and is out of recovery. A failure after the database was stopped puts the replaced state back and starts it again, and says so.",
	.check = restore_check,
};
static const struct action_def snapshot_def = {
	.name = "pitr.snapshot",
	.run = do_snapshot,
	.flags = A_STATE,
	.cat = CAT_SNAPSHOT,
	.params = snapshot_params,
	.outputs = snapshot_outputs,
	.doc = "Keeps the current state under a name (local: a base backup; pgbackrest: an annotated backup; neon: a branch from the head). Outputs the name and how to return to it. No run deletes it.",
};
static const struct action_def window_def = {
	.name = "pitr.window",
	.run = do_window,
	.cat = CAT_PREFLIGHT,
	.params = window_params,
	.outputs = window_outputs,
	.doc = "Reports the earliest and latest points the resource can restore to now; as a preflight gate it fails when `to` is outside them, before anything changes.",
};

static const struct action_def *const pitr_actions[] = {
	&branch_def, &discard_def, &restore_def, &pitr_salvage_def, &snapshot_def, &window_def, NULL,
};
static const struct kind_def *const pitr_kinds[] = { &pitr_kind, NULL };

/* Neon's API key travels as a bearer token. */
static const struct redact_pattern pitr_patterns[] = {
	REDACT_BEARER,
	{ .re = NULL },
};

const struct family pitr_family = {
	.name = "pitr",
	.actions = pitr_actions,
	.kinds = pitr_kinds,
	.patterns = pitr_patterns,
};
