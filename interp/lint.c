/*
 * lint.c: the safety rules over a checked playbook. They work only from what
 * the registry declares about each action (read-only or state-changing,
 * destructive, category) and from the playbook's structure, so a new action
 * is covered the moment it is registered honestly. `drplay lint` runs them
 * for every declared mode; `drplay run` runs them for the chosen mode and
 * refuses to start on any error.
 */
#include "plan.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

struct linter {
	const struct playbook *pb;
	struct diags *d;
	unsigned mode;
	struct static_env env;
};

static int active(const struct step *st, unsigned mode)
{
	return st->def && (st->modes & mode);
}

/* " in validation mode" when the playbook has more than one mode. */
static const char *in_mode(const struct linter *L)
{
	static char buf[64];
	snprintf(buf, sizeof(buf), " in %s mode", mode_name(L->mode));
	return buf;
}

static int any_live(const struct playbook *pb, const size_t *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (resource_is_live(pb, t[i]))
			return 1;
	return 0;
}

static int has_target_param(const struct step *st)
{
	for (const struct param_spec *p = st->def->params; p && p->name; p++)
		if (p->type == T_RESOURCE && (p->flags & P_TARGET))
			return 1;
	return 0;
}

static void rule_destructive(struct linter *L, const struct step *st)
{
	const struct playbook *pb = L->pb;
	unsigned f = step_flags(st, &L->env);
	if (!(f & A_DESTRUCT))
		return;
	if (!has_target_param(st)) {
		diag_guard(L->d, "destructive-in-validation", st->loc,
			   "step '%s' runs destructive action %s in validation mode, which must touch nothing live; add 'modes: [disaster]' to the step",
			   st->id, st->def->name);
		return;
	}
	size_t t[16];
	int unknown = 0;
	size_t n = step_targets(pb, st, &L->env, t, 16, &unknown);
	for (size_t i = 0; i < n; i++) {
		if (!resource_is_live(pb, t[i]))
			continue;
		const struct resource_def *rd = &pb->resources[t[i]];
		diag_guard(L->d, "destructive-in-validation", st->loc,
			   "step '%s' runs destructive action %s on %s resource '%s' in validation mode; add 'modes: [disaster]' to the step or aim it at a resource marked 'throwaway: true'",
			   st->id, st->def->name, rd->live ? "live" : "unflagged (so treated as live)", rd->name);
		return;
	}
	if (unknown)
		diag_add(L->d, SEV_WARNING, "destructive-unknown-target", st->loc,
			 "step '%s' runs destructive action %s on a resource known only at run time; the run refuses it then if it is live",
			 st->id, st->def->name);
}

/* What the mode's earlier and later steps offer the ordering rules, gathered
 * in one forward and one backward pass so that linting stays linear in the
 * number of steps (a rule that scanned every other step for each step made a
 * 50,000-step file take minutes). Per step index: */
struct order_facts {
	size_t first_gate;      /* index of the first unconditional stopping preflight gate (nsteps: none) */
	unsigned char *off_ok;  /* maintenance_on at i: a later maintenance_off can turn it off */
	unsigned char *verified; /* i requires (transitively) an active verify gate */
	unsigned char *snapped;  /* resources snapshotted by active steps seen so far (forward pass) */
};

static int is_verify_gate(const struct linter *L, const struct step *st)
{
	return active(st, L->mode) && st->def->cat == CAT_VERIFY && st->gate && !st->cont;
}

static void order_facts_build(const struct linter *L, struct order_facts *F)
{
	const struct playbook *pb = L->pb;
	size_t n = pb->nsteps;
	F->first_gate = n;
	F->off_ok = xcalloc(n + 1, 1);
	F->verified = xcalloc(n + 1, 1);
	F->snapped = xcalloc(pb->nresources + 1, 1);
	for (size_t i = 0; i < n && F->first_gate == n; i++) {
		const struct step *p = &pb->steps[i];
		if (active(p, L->mode) && p->def->cat == CAT_PREFLIGHT && p->gate && !p->cont && !p->when)
			F->first_gate = i;
	}
	/* requires: point only at earlier steps, so one forward pass closes them */
	for (size_t i = 0; i < n; i++) {
		const struct step *st = &pb->steps[i];
		for (size_t r = 0; r < st->nrequires && !F->verified[i]; r++) {
			size_t q = st->requires[r];
			F->verified[i] = is_verify_gate(L, &pb->steps[q]) || F->verified[q];
		}
	}
	/* Backward: which resources a later maintenance_off step switches off,
	 * and whether one of them has targets known only at run time. */
	unsigned char *off_target = xcalloc(pb->nresources + 1, 1);
	int later_off = 0, later_off_unknown = 0;
	for (size_t i = n; i-- > 0;) {
		const struct step *st = &pb->steps[i];
		if (!active(st, L->mode))
			continue;
		size_t t[16];
		int unk = 0;
		if (st->def->cat == CAT_MAINT_ON) {
			size_t nt = step_targets(pb, st, &L->env, t, 16, &unk);
			int ok = later_off_unknown || (later_off && (unk || nt == 0));
			for (size_t k = 0; k < nt && !ok; k++)
				ok = off_target[t[k]];
			F->off_ok[i] = (unsigned char)ok;
		} else if (st->def->cat == CAT_MAINT_OFF) {
			size_t nt = step_targets(pb, st, &L->env, t, 16, &unk);
			later_off = 1;
			if (unk || nt == 0)
				later_off_unknown = 1;
			for (size_t k = 0; k < nt; k++)
				off_target[t[k]] = 1;
		}
	}
	free(off_target);
}

static void order_facts_release(struct order_facts *F)
{
	free(F->off_ok);
	free(F->verified);
	free(F->snapped);
}

static void rule_maint_on(struct linter *L, const struct order_facts *F, const struct step *st)
{
	if (F->first_gate >= st->index)
		diag_guard(L->d, "maintenance-without-preflight", st->loc,
			   "step '%s' turns maintenance on%s with no earlier preflight gate; check credentials and the dump first (a preflight action with 'gate: true') so a failure aborts with no outage",
			   st->id, in_mode(L));
	/* And something must be able to turn it off again. */
	if (!F->off_ok[st->index])
		diag_guard(L->d, "maintenance-without-off", st->loc,
			   "step '%s' turns maintenance on%s but no later step turns it off; add a maintenance_off step that requires the verify gate",
			   st->id, in_mode(L));
}

static void rule_maint_off(struct linter *L, const struct order_facts *F, const struct step *st)
{
	if (!F->verified[st->index])
		diag_guard(L->d, "maintenance-off-unverified", st->loc,
			   "step '%s' lifts maintenance%s without requiring a passed verification; add 'requires: [<your verify gate step>]' so a bad restore keeps maintenance on",
			   st->id, in_mode(L));
}

static void rule_restore(struct linter *L, const struct order_facts *F, const struct step *st)
{
	const struct playbook *pb = L->pb;
	unsigned f = step_flags(st, &L->env);
	if (!(f & A_DESTRUCT))
		return;
	size_t t[16];
	int unknown = 0;
	size_t n = step_targets(pb, st, &L->env, t, 16, &unknown);
	if (n == 0 || !any_live(pb, t, n))
		return;
	for (size_t k = 0; k < n; k++)
		if (F->snapped[t[k]])
			return;
	const struct resource_def *rd = &pb->resources[t[0]];
	diag_guard(L->d, "restore-without-snapshot", st->loc,
		   "step '%s' restores over live resource '%s'%s without an earlier safety snapshot of it; add a snapshot step (for example pitr.snapshot) before it",
		   st->id, rd->name, in_mode(L));
}

/* After step st in the forward pass: a snapshot marks what it preserves. */
static void note_snapshot(struct linter *L, struct order_facts *F, const struct step *st)
{
	if (st->def->cat != CAT_SNAPSHOT)
		return;
	size_t t[16];
	int unk = 0;
	size_t n = step_targets(L->pb, st, &L->env, t, 16, &unk);
	for (size_t k = 0; k < n; k++)
		F->snapped[t[k]] = 1;
}

/* Where a value's secret comes from, followed through resource fields: a
 * field made from a secret is a secret (SPEC.md, section 3). */
struct taint {
	const struct playbook *pb;
	int depth;
	char from[200];  /* "secret.X" or "resources.db.dsn, made from secret.X" */
};

static int vtree_taint(struct taint *T, const struct vtree *v);

static int taint_ref(const struct expr_ref *r, void *ud)
{
	struct taint *T = ud;
	if (!r->name)
		return 0;
	if (!strcmp(r->root, "secret")) {
		snprintf(T->from, sizeof(T->from), "secret.%s", r->name);
		return 1;
	}
	const struct resource_def *rd = strcmp(r->root, "resources") ? NULL : playbook_resource(T->pb, r->name);
	if (!rd || T->depth >= 8)
		return 0;
	for (size_t f = 0; f < rd->nfields; f++) {
		const char *fname = rd->fspecs[f]->name;
		if (r->field && strcmp(r->field, fname) != 0)
			continue;
		struct taint sub = { T->pb, T->depth + 1, "" };
		if (vtree_taint(&sub, rd->fields[f])) {
			snprintf(T->from, sizeof(T->from), "resources.%s.%s, made from %s", rd->name, fname,
				 strncmp(sub.from, "secret.", 7) ? "a secret" : sub.from);
			return 1;
		}
	}
	return 0;
}

/* 1 when v is (or contains) a value computed from a secret. */
static int vtree_taint(struct taint *T, const struct vtree *v)
{
	switch (v->kind) {
	case VT_TMPL:
		return v->tmpl && tmpl_refs(v->tmpl, taint_ref, T);
	case VT_EXPR:
		return v->expr && expr_refs(v->expr, taint_ref, T);
	case VT_MAP:
	case VT_SEQ:
		for (size_t i = 0; i < v->n; i++)
			if (vtree_taint(T, v->vals[i]))
				return 1;
		return 0;
	default:
		return 0;
	}
}

/* A URL that is one secret as a whole (${secret.NAME}): the URL is then
 * the credential, as a webhook's is. */
static int whole_secret(const struct vtree *v)
{
	if (v->kind != VT_TMPL || !v->tmpl)
		return 0;
	const char *t = tmpl_text(v->tmpl);
	if (strncmp(t, "${secret.", 9) != 0)
		return 0;
	size_t n = 9 + strspn(t + 9, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_");
	return n > 9 && !strcmp(t + n, "}");
}

static void rule_secret_printed(struct linter *L, const struct step *st)
{
	for (size_t i = 0; i < st->nargs; i++) {
		const struct arg *a = &st->args[i];
		if (!(a->spec->flags & (P_PRINTED | P_URL)))
			continue;
		struct taint T = { L->pb, 0, "" };
		if (!vtree_taint(&T, a->v))
			continue;
		if (a->spec->flags & P_PRINTED) {
			if (!strncmp(T.from, "secret.", 7))
				diag_guard(L->d, "secret-printed", a->v->loc,
					   "parameter '%s' of %s is printed or sent, and this value contains a secret; pass secrets only through parameters meant for them (such as exec's env)",
					   a->spec->name, st->def->name);
			else
				diag_guard(L->d, "secret-printed", a->v->loc,
					   "parameter '%s' of %s is printed or sent, and this value contains a secret (%s); pass secrets only through parameters meant for them (such as exec's env)",
					   a->spec->name, st->def->name, T.from);
		} else if (!whole_secret(a->v)) {
			diag_guard(L->d, "secret-printed", a->v->loc,
				   "URL parameter '%s' of %s carries a secret (%s) inside the URL, where the server's logs keep it; take the whole URL from one secret (${secret.NAME}) or send the credential in headers",
				   a->spec->name, st->def->name, T.from);
		}
	}
}

void lint_playbook(const struct playbook *pb, unsigned modes, json_t *params, struct diags *d)
{
	struct linter L = { pb, d, 0, { 0 } };
	/* Mode-independent rules. */
	if ((modes & pb->modes & MODE_DISASTER) && !pb->authorize)
		diag_guard(d, "disaster-without-authorize", pb->disaster_loc.file ? pb->disaster_loc : pb->doc->root->loc,
			   "disaster mode does not require authorization; add 'authorize: ${secret.NAME}' under modes.disaster so a destructive run needs --authorize");
	for (size_t i = 0; i < pb->nsteps; i++) {
		const struct step *st = &pb->steps[i];
		if (!st->def || !(st->modes & modes))
			continue;
		if (st->gate && st->cont)
			diag_guard(d, "gate-continue", st->on_failure_loc,
				   "step '%s' is a gate but continues on failure; a gate must stop the run: remove 'on_failure: continue'",
				   st->id);
		if (st->def->cat == CAT_VERIFY && (!st->gate || st->cont))
			diag_guard(d, "verify-not-gate", st->loc,
				   "verify step '%s' is not a hard gate; add 'gate: true' (and no 'on_failure: continue') so a failed verification stops the run",
				   st->id);
		if (st->def->cat == CAT_REPORT && !st->always)
			diag_add(d, SEV_WARNING, "report-not-always", st->loc,
				 "report step '%s' does not run after a failure; add 'always: true' so failed runs are reported too",
				 st->id);
		rule_secret_printed(&L, st);
	}
	for (unsigned m = MODE_VALIDATION; m <= MODE_DISASTER; m <<= 1) {
		if (!(modes & pb->modes & m))
			continue;
		L.mode = m;
		memset(&L.env, 0, sizeof(L.env));
		L.env.pb = pb;
		L.env.mode = m;
		L.env.params = params;
		L.env.read_env = params != NULL;
		struct order_facts F;
		order_facts_build(&L, &F);
		for (size_t i = 0; i < pb->nsteps; i++) {
			const struct step *st = &pb->steps[i];
			if (!active(st, m))
				continue;
			if (m == MODE_VALIDATION)
				rule_destructive(&L, st);
			switch (st->def->cat) {
			case CAT_MAINT_ON: rule_maint_on(&L, &F, st); break;
			case CAT_MAINT_OFF: rule_maint_off(&L, &F, st); break;
			case CAT_RESTORE: rule_restore(&L, &F, st); break;
			default: break;
			}
			note_snapshot(&L, &F, st);
		}
		order_facts_release(&F);
	}
}
