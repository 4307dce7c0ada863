/*
 * lint.c: the safety rules over a checked playbook. They work only from what
 * the registry declares about each action (read-only or state-changing,
 * destructive, category) and from the playbook's structure, so a new action
 * is covered the moment it is registered honestly. `drplay lint` runs them
 * for every declared mode; `drplay run` runs them for the chosen mode and
 * refuses to start on any error. The rules themselves are in guard.c, which
 * the executor calls again for each step it reaches; this file walks the
 * playbook once per mode (one forward pass, with guard_order's one backward
 * pass: linear in the number of steps) and hands each step to them.
 */
#include "plan.h"

#include <stdlib.h>
#include <string.h>

#include "guard.h"
#include "util.h"

/* One mode's pass: every active step, in order, through the rules that
 * depend on the mode; what earlier steps snapshotted is carried forward. */
static void lint_mode(const struct playbook *pb, unsigned mode, json_t *params, struct guard_sink *s)
{
	struct static_env env = { .pb = pb, .mode = mode, .params = params, .read_env = params != NULL };
	struct guard_order F;
	guard_order_build(&env, &F);
	unsigned char *snapped = xcalloc(pb->nresources + 1, 1);
	for (size_t i = 0; i < pb->nsteps; i++) {
		const struct step *st = &pb->steps[i];
		if (!st->def || !(st->modes & mode))
			continue;
		struct guard_step g;
		guard_step_static(&g, &env, st);
		guard_destructive(&g, s);
		switch (st->def->cat) {
		case CAT_MAINT_ON: guard_maint_on(&g, &F, s); break;
		case CAT_MAINT_OFF: guard_maint_off(&g, &F, s); break;
		case CAT_RESTORE: guard_restore(&g, snapped, s); break;
		default: break;
		}
		guard_snapshot_taken(&g, snapped);
		guard_step_release(&g);
	}
	free(snapped);
	guard_order_release(&F);
}

/* The server a resource's fields point at, when its kind says and they
 * are known before the run (new string or NULL). */
static char *server_of(const struct playbook *pb, const struct resource_def *rd, json_t *params)
{
	if (!rd->kind || !rd->kind->server_of)
		return NULL;
	struct static_env env = { .pb = pb, .mode = MODE_VALIDATION, .params = params, .read_env = params != NULL };
	json_t *f = json_object();
	for (size_t i = 0; i < rd->nfields; i++) {
		json_t *v = NULL;
		char *err = NULL;
		if (!rd->fields[i]->secret && vtree_static(rd->fields[i], &env, &v, &err) == 1)
			json_object_set_new(f, rd->fspecs[i]->name, v);
		free(err);
	}
	char *s = rd->kind->server_of(f);
	json_decref(f);
	return s;
}

/* throwaway-on-live-server: a throwaway (scratch) resource on the server
 * of a live one is one mistake away from the live data (a drop, a full
 * disk, a load the live database shares). */
static void lint_servers(const struct playbook *pb, json_t *params, struct diags *d)
{
	char **srv = xcalloc(pb->nresources + 1, sizeof(*srv));
	for (size_t i = 0; i < pb->nresources; i++)
		srv[i] = server_of(pb, &pb->resources[i], params);
	for (size_t i = 0; i < pb->nresources; i++) {
		const struct resource_def *t = &pb->resources[i];
		if (!t->throwaway || !srv[i])
			continue;
		for (size_t j = 0; j < pb->nresources; j++) {
			const struct resource_def *l = &pb->resources[j];
			if (j == i || l->throwaway || !srv[j] || strcmp(srv[i], srv[j]) != 0)
				continue;
			diag_add(d, SEV_WARNING, "throwaway-on-live-server", t->loc,
				 "throwaway resource '%s' is on server %s, the server of live resource '%s'; a mistake or a full disk there hits the live database: put scratch copies on another server",
				 t->name, srv[i], l->name);
			break;
		}
	}
	for (size_t i = 0; i < pb->nresources; i++)
		free(srv[i]);
	free(srv);
}

void lint_playbook(const struct playbook *pb, unsigned modes, json_t *params, struct diags *d)
{
	lint_servers(pb, params, d);
	struct guard_sink s = { .d = d };
	/* Mode-independent rules. */
	guard_authorize_declared(pb, modes, &s);
	struct guard_secrets *gs = guard_secrets_new(pb);
	for (size_t i = 0; i < pb->nsteps; i++) {
		const struct step *st = &pb->steps[i];
		if (!st->def || !(st->modes & modes))
			continue;
		guard_gates(st, &s);
		if (st->def->cat == CAT_REPORT && !st->always)
			diag_add(d, SEV_WARNING, "report-not-always", st->loc,
				 "report step '%s' does not run after a failure; add 'always: true' so failed runs are reported too",
				 st->id);
		guard_secret_placement(gs, st, &s);
	}
	guard_secrets_free(gs);
	for (unsigned m = MODE_VALIDATION; m <= MODE_DISASTER; m <<= 1)
		if (modes & pb->modes & m)
			lint_mode(pb, m, params, &s);
}
