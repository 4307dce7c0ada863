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

const struct rule_info lint_rules[] = {
	{ "yaml-syntax", SEV_ERROR, "The file is not well-formed YAML (syntax, tabs, encoding, aliases)." },
	{ "yaml-duplicate-key", SEV_ERROR, "A mapping has the same key twice." },
	{ "yaml-limit", SEV_ERROR, "The file exceeds a size, nesting or alias-expansion limit." },
	{ "io", SEV_ERROR, "The file cannot be read." },
	{ "format-version", SEV_ERROR, "The 'drplay:' format version is missing or unknown." },
	{ "schema-unknown-key", SEV_ERROR, "A key that the format does not define." },
	{ "schema-type", SEV_ERROR, "A value of the wrong type." },
	{ "schema-missing", SEV_ERROR, "A required key or parameter is missing." },
	{ "schema-value", SEV_ERROR, "A value outside what the format allows." },
	{ "step-duplicate-id", SEV_ERROR, "Two steps share an id." },
	{ "unknown-action", SEV_ERROR, "A step names an action that is not registered." },
	{ "unknown-param", SEV_ERROR, "A step passes a parameter its action does not take." },
	{ "unknown-resource", SEV_ERROR, "A reference to a resource that is not declared." },
	{ "unknown-kind", SEV_ERROR, "A resource of a kind no action family provides." },
	{ "resource-kind", SEV_ERROR, "A parameter names a resource of the wrong kind." },
	{ "undeclared-param", SEV_ERROR, "A reference to a param that is not declared." },
	{ "unknown-reference", SEV_ERROR, "A reference to an unknown name (run, env, secret, resource field)." },
	{ "step-order", SEV_ERROR, "A reference to a step that does not run earlier." },
	{ "unknown-output", SEV_ERROR, "A reference to an output the step's action does not have." },
	{ "expr-syntax", SEV_ERROR, "An expression or ${...} template does not parse." },
	{ "destructive-in-validation", SEV_ERROR,
	  "A destructive action on a live resource can run in validation mode." },
	{ "maintenance-without-preflight", SEV_ERROR,
	  "Maintenance goes on without an earlier passing preflight gate (abort with no outage)." },
	{ "maintenance-off-unverified", SEV_ERROR,
	  "Maintenance can be lifted without a passed verification gate (requires:)." },
	{ "restore-without-snapshot", SEV_ERROR,
	  "A destructive restore on a live resource has no earlier safety snapshot of it." },
	{ "verify-not-gate", SEV_ERROR, "A verify step is not a gate, or continues on failure." },
	{ "gate-continue", SEV_ERROR, "A gate that continues on failure is not a gate." },
	{ "report-not-always", SEV_WARNING, "A report step does not run after failures (always: true)." },
	{ "disaster-without-authorize", SEV_ERROR, "Disaster mode does not require --authorize." },
	{ "maintenance-without-off", SEV_ERROR, "Maintenance goes on with no step that can turn it off." },
	{ "literal-credential", SEV_ERROR, "A credential is written into the file instead of a secret." },
	{ "secret-printed", SEV_ERROR, "A secret is placed where it would be printed or sent." },
	{ "destructive-unknown-target", SEV_WARNING,
	  "A destructive action's target is only known at run time; the run checks it then." },
};
const size_t lint_rules_count = ARRAY_SIZE(lint_rules);

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

static void rule_secret_printed(struct linter *L, const struct step *st)
{
	for (size_t i = 0; i < st->nargs; i++) {
		const struct arg *a = &st->args[i];
		if ((a->spec->flags & P_PRINTED) && a->v->secret)
			diag_guard(L->d, "secret-printed", a->v->loc,
				   "parameter '%s' of %s is printed or sent, and this value contains a secret; pass secrets only through parameters meant for them (such as exec's env)",
				   a->spec->name, st->def->name);
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
