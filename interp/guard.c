/*
 * guard.c: the safety rules, each once, for lint and run alike (guard.h):
 * which resources a step touches and whether they are live, destructive
 * steps in validation mode, snapshot before restore, maintenance ordering,
 * gates, the disaster authorization and where secrets may go. A rule decides
 * from a struct guard_step, whose values are static for lint and resolved
 * for the run; the wording differs only in tense: lint tells what to change
 * in the file, the run says what it refused.
 */
#include "guard.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "redact.h"
#include "util.h"

/* ---- resource sets ---- */

int rset_has(const struct rset *s, size_t ri)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i] == ri)
			return 1;
	return 0;
}

int rset_add(struct rset *s, size_t ri)
{
	if (rset_has(s, ri))
		return 0;
	if (s->n == s->alloc) {
		s->alloc = s->alloc ? s->alloc * 2 : 4;
		s->v = xrealloc(s->v, s->alloc * sizeof(*s->v));
	}
	s->v[s->n++] = ri;
	return 1;
}

void rset_release(struct rset *s)
{
	free(s->v);
	s->v = NULL;
	s->n = s->alloc = 0;
}

/* ---- targets and liveness ---- */

/* The resource a P_LIVE_REF field names, or -1. */
static long live_ref(const struct playbook *pb, const struct resource_def *rd, size_t f)
{
	if (!(rd->fspecs[f]->flags & P_LIVE_REF) || rd->fields[f]->kind != VT_LIT ||
	    !json_is_string(rd->fields[f]->lit))
		return -1;
	const struct resource_def *to = playbook_resource(pb, json_string_value(rd->fields[f]->lit));
	return to ? (long)(to - pb->resources) : -1;
}

/* Adds ri and what it stands for (P_LIVE_REF fields, depth first, in field
 * order) to out. Iterative, with the set itself as the visited mark: a chain
 * of any length, or a cycle, ends. */
static void add_with_refs(const struct playbook *pb, size_t ri, struct rset *out)
{
	if (!rset_add(out, ri))
		return;
	struct frame {
		size_t ri, f;
	} small[8], *stack = small;
	size_t depth = 0, alloc = ARRAY_SIZE(small);
	stack[depth++] = (struct frame){ ri, 0 };
	while (depth) {
		struct frame *fr = &stack[depth - 1];
		const struct resource_def *rd = &pb->resources[fr->ri];
		if (fr->f >= rd->nfields) {
			depth--;
			continue;
		}
		long to = live_ref(pb, rd, fr->f++);
		if (to < 0 || !rset_add(out, (size_t)to))
			continue;
		if (depth == alloc) { /* a chain longer than most: the stack grows */
			alloc *= 2;
			stack = stack == small ? memcpy(xcalloc(alloc, sizeof(*stack)), small, sizeof(small))
					       : xrealloc(stack, alloc * sizeof(*stack));
		}
		stack[depth++] = (struct frame){ (size_t)to, 0 };
	}
	if (stack != small)
		free(stack);
}

int guard_targets(const struct playbook *pb, const struct step *st, const struct static_env *env,
		  json_t *args, struct rset *out)
{
	int unknown = 0;
	if (!st->def)
		return 0;
	for (const struct param_spec *p = st->def->params; p && p->name; p++) {
		if (p->type != T_RESOURCE || !(p->flags & P_TARGET))
			continue;
		json_t *v = NULL;
		if (args) {
			v = json_incref(json_object_get(args, p->name));
			if (!v)
				continue;
		} else {
			const struct arg *a = step_arg(st, p->name);
			if (!a)
				continue;
			char *err = NULL;
			int r = env ? vtree_static(a->v, env, &v, &err)
				    : (a->v->kind == VT_LIT ? (v = json_incref(a->v->lit), 1) : 0);
			free(err);
			if (r != 1) {
				json_decref(v);
				v = NULL;
			}
		}
		const struct resource_def *rd = json_is_string(v) ? playbook_resource(pb, json_string_value(v)) : NULL;
		json_decref(v);
		if (!rd) {
			unknown = 1;
			continue;
		}
		add_with_refs(pb, (size_t)(rd - pb->resources), out);
	}
	return unknown;
}

int guard_live(const struct playbook *pb, size_t ri)
{
	struct rset set = RSET_INIT;
	add_with_refs(pb, ri, &set);
	int live = 0;
	for (size_t i = 0; i < set.n && !live; i++)
		live = pb->resources[set.v[i]].live;
	rset_release(&set);
	/* Fail-closed: a resource that says neither live nor throwaway is
	 * treated as live. */
	return live || !pb->resources[ri].throwaway;
}

static int any_live(const struct playbook *pb, const struct rset *t)
{
	for (size_t i = 0; i < t->n; i++)
		if (guard_live(pb, t->v[i]))
			return 1;
	return 0;
}

/* ---- the step a rule looks at ---- */

void guard_step_static(struct guard_step *g, const struct static_env *env, const struct step *st)
{
	memset(g, 0, sizeof(*g));
	g->pb = env->pb;
	g->st = st;
	g->mode = env->mode;
	g->env = env;
}

void guard_step_run(struct guard_step *g, const struct playbook *pb, unsigned mode, const struct step *st,
		    json_t *args, unsigned flags)
{
	memset(g, 0, sizeof(*g));
	g->pb = pb;
	g->st = st;
	g->mode = mode;
	g->args = args;
	g->flags = flags;
	g->flags_known = 1;
}

void guard_step_release(struct guard_step *g)
{
	rset_release(&g->targets);
}

unsigned guard_flags(struct guard_step *g)
{
	if (!g->flags_known) {
		g->flags = step_flags(g->st, g->env);
		g->flags_known = 1;
	}
	return g->flags;
}

const struct rset *guard_step_targets(struct guard_step *g, int *unknown)
{
	if (!g->targets_known) {
		g->unknown = guard_targets(g->pb, g->st, g->env, g->args, &g->targets);
		g->targets_known = 1;
	}
	if (unknown)
		*unknown = g->unknown;
	return &g->targets;
}

/* ---- findings ---- */

static void add_diag(struct diags *d, enum sev sev, enum diag_class cls, const char *rule, struct loc loc,
		     const char *fmt, ...) PRINTF_LIKE(6, 7);
static void add_diag(struct diags *d, enum sev sev, enum diag_class cls, const char *rule, struct loc loc,
		     const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diag_vadd(d, sev, cls, rule, loc, fmt, ap);
	va_end(ap);
}

/* Reports msg (taken): a diagnostic for lint, the refusal for the run (its
 * first error; warnings are lint's alone). Returns 1 for an error. */
static int found(struct guard_sink *s, enum sev sev, const char *rule, struct loc loc, char *msg)
{
	if (s->d)
		add_diag(s->d, sev, sev == SEV_ERROR ? DC_GUARD : DC_INVALID, rule, loc, "%s", msg);
	else if (sev == SEV_ERROR && !s->refusal) {
		s->refusal = msg;
		msg = NULL;
	}
	free(msg);
	return sev == SEV_ERROR;
}

static int has_target_param(const struct action_def *def)
{
	for (const struct param_spec *p = def->params; p && p->name; p++)
		if (p->type == T_RESOURCE && (p->flags & P_TARGET))
			return 1;
	return 0;
}

/* ---- destructive on live, snapshot before restore ---- */

int guard_destructive(struct guard_step *g, struct guard_sink *s)
{
	const struct step *st = g->st;
	const struct playbook *pb = g->pb;
	if (g->mode != MODE_VALIDATION || !(guard_flags(g) & A_DESTRUCT))
		return 0;
	if (!has_target_param(st->def))
		return found(s, SEV_ERROR, "destructive-in-validation", st->loc,
			     s->d ? xasprintf("step '%s' runs destructive action %s in validation mode, which must touch nothing live; add 'modes: [disaster]' to the step",
					      st->id, st->def->name)
				  : xasprintf("destructive action %s refused in validation mode; it runs only in disaster mode",
					      st->def->name));
	int unknown = 0;
	const struct rset *t = guard_step_targets(g, &unknown);
	for (size_t i = 0; i < t->n; i++) {
		if (!guard_live(pb, t->v[i]))
			continue;
		const struct resource_def *rd = &pb->resources[t->v[i]];
		return found(s, SEV_ERROR, "destructive-in-validation", st->loc,
			     s->d ? xasprintf("step '%s' runs destructive action %s on %s resource '%s' in validation mode; add 'modes: [disaster]' to the step or aim it at a resource marked 'throwaway: true'",
					      st->id, st->def->name, rd->live ? "live" : "unflagged (so treated as live)", rd->name)
				  : xasprintf("destructive action %s on live resource '%s' refused in validation mode; validation touches only throwaway resources",
					      st->def->name, rd->name));
	}
	if (unknown)
		found(s, SEV_WARNING, "destructive-unknown-target", st->loc,
		      xasprintf("step '%s' runs destructive action %s on a resource known only at run time; the run refuses it then if it is live",
				st->id, st->def->name));
	return 0;
}

int guard_restore(struct guard_step *g, const unsigned char *snapped, struct guard_sink *s)
{
	const struct step *st = g->st;
	const struct playbook *pb = g->pb;
	if (st->def->cat != CAT_RESTORE || !(guard_flags(g) & A_DESTRUCT))
		return 0;
	const struct rset *t = guard_step_targets(g, NULL);
	if (t->n == 0 || !any_live(pb, t))
		return 0;
	for (size_t k = 0; k < t->n; k++)
		if (snapped[t->v[k]])
			return 0;
	const struct resource_def *rd = &pb->resources[t->v[0]];
	return found(s, SEV_ERROR, "restore-without-snapshot", st->loc,
		     s->d ? xasprintf("step '%s' restores over live resource '%s' in %s mode without an earlier safety snapshot of it; add a snapshot step (for example pitr.snapshot) before it",
				      st->id, rd->name, mode_name(g->mode))
			  : xasprintf("destructive restore %s over live resource '%s' refused: no safety snapshot of it was taken earlier in this run",
				      st->def->name, rd->name));
}

void guard_snapshot_taken(struct guard_step *g, unsigned char *snapped)
{
	if (g->st->def->cat != CAT_SNAPSHOT)
		return;
	const struct rset *t = guard_step_targets(g, NULL);
	for (size_t k = 0; k < t->n; k++)
		snapped[t->v[k]] = 1;
}

/* ---- maintenance ordering ---- */

static int active(const struct step *st, unsigned mode)
{
	return st->def && (st->modes & mode);
}

/* A step whose action is unknown (already an error of its own) is taken
 * as whatever the order rules look for, so that one typo gives one error. */
static int unknown(const struct step *st, unsigned mode)
{
	return !st->def && (st->modes & mode);
}

static int is_verify_gate(const struct step *st, unsigned mode)
{
	return (active(st, mode) && st->def->cat == CAT_VERIFY && st->gate && !st->cont) ||
	       (unknown(st, mode) && st->gate && !st->cont);
}

void guard_order_build(const struct static_env *env, struct guard_order *F)
{
	const struct playbook *pb = env->pb;
	unsigned mode = env->mode;
	size_t n = pb->nsteps;
	F->first_gate = n;
	F->off_ok = xcalloc(n + 1, 1);
	F->verified = xcalloc(n + 1, 1);
	for (size_t i = 0; i < n && F->first_gate == n; i++) {
		const struct step *p = &pb->steps[i];
		if ((active(p, mode) && p->def->cat == CAT_PREFLIGHT && p->gate && !p->cont && !p->when) ||
		    (unknown(p, mode) && p->gate && !p->cont && !p->when))
			F->first_gate = i;
	}
	/* requires: point only at earlier steps, so one forward pass closes them */
	for (size_t i = 0; i < n; i++) {
		const struct step *st = &pb->steps[i];
		for (size_t r = 0; r < st->nrequires && !F->verified[i]; r++) {
			size_t q = st->requires[r];
			F->verified[i] = is_verify_gate(&pb->steps[q], mode) || F->verified[q];
		}
	}
	/* Backward: which resources a later maintenance_off step switches off,
	 * and whether one of them has targets known only at run time. */
	unsigned char *off_target = xcalloc(pb->nresources + 1, 1);
	int later_off = 0, later_off_unknown = 0;
	for (size_t i = n; i-- > 0;) {
		const struct step *st = &pb->steps[i];
		if (unknown(st, mode)) {
			later_off = later_off_unknown = 1;
			continue;
		}
		if (!active(st, mode) || (st->def->cat != CAT_MAINT_ON && st->def->cat != CAT_MAINT_OFF))
			continue;
		struct guard_step g;
		guard_step_static(&g, env, st);
		int unk = 0;
		const struct rset *t = guard_step_targets(&g, &unk);
		if (st->def->cat == CAT_MAINT_ON) {
			int ok = later_off_unknown || (later_off && (unk || t->n == 0));
			for (size_t k = 0; k < t->n && !ok; k++)
				ok = off_target[t->v[k]];
			F->off_ok[i] = (unsigned char)ok;
		} else {
			later_off = 1;
			if (unk || t->n == 0)
				later_off_unknown = 1;
			for (size_t k = 0; k < t->n; k++)
				off_target[t->v[k]] = 1;
		}
		guard_step_release(&g);
	}
	free(off_target);
}

void guard_order_release(struct guard_order *F)
{
	free(F->off_ok);
	free(F->verified);
}

int guard_maint_on(struct guard_step *g, const struct guard_order *F, struct guard_sink *s)
{
	const struct step *st = g->st;
	int n = 0;
	if (F->first_gate >= st->index)
		n += found(s, SEV_ERROR, "maintenance-without-preflight", st->loc,
			   xasprintf("step '%s' turns maintenance on in %s mode with no earlier preflight gate; check credentials and the dump first (a preflight action with 'gate: true') so a failure aborts with no outage",
				     st->id, mode_name(g->mode)));
	/* And something must be able to turn it off again. */
	if (!F->off_ok[st->index])
		n += found(s, SEV_ERROR, "maintenance-without-off", st->loc,
			   xasprintf("step '%s' turns maintenance on in %s mode but no later step turns it off; add a maintenance_off step that requires the verify gate",
				     st->id, mode_name(g->mode)));
	return n;
}

int guard_maint_off(struct guard_step *g, const struct guard_order *F, struct guard_sink *s)
{
	const struct step *st = g->st;
	if (F->verified[st->index])
		return 0;
	return found(s, SEV_ERROR, "maintenance-off-unverified", st->loc,
		     xasprintf("step '%s' lifts maintenance in %s mode without requiring a passed verification; add 'requires: [<your verify gate step>]' so a bad restore keeps maintenance on",
			       st->id, mode_name(g->mode)));
}

char *guard_maint_off_held(const struct step *st, const char *gate_at, int interrupted)
{
	if (st->def->cat != CAT_MAINT_OFF)
		return NULL;
	if (gate_at)
		return xasprintf("gate '%s' failed: maintenance stays ON; lift it by hand only after a verified restore",
				 gate_at);
	if (interrupted)
		return xstrdup("the run was interrupted: maintenance stays ON");
	return NULL;
}

/* ---- gates and authorization ---- */

int guard_gates(const struct step *st, struct guard_sink *s)
{
	int n = 0;
	if (st->gate && st->cont)
		n += found(s, SEV_ERROR, "gate-continue", st->on_failure_loc,
			   xasprintf("step '%s' is a gate but continues on failure; a gate must stop the run: remove 'on_failure: continue'",
				     st->id));
	if (st->def->cat == CAT_VERIFY && (!st->gate || st->cont))
		n += found(s, SEV_ERROR, "verify-not-gate", st->loc,
			   xasprintf("verify step '%s' is not a hard gate; add 'gate: true' (and no 'on_failure: continue') so a failed verification stops the run",
				     st->id));
	return n;
}

int guard_stops_run(const struct step *st, int refused)
{
	return st->gate || st->def->cat == CAT_VERIFY || refused;
}

int guard_authorize_declared(const struct playbook *pb, unsigned modes, struct guard_sink *s)
{
	if (!(modes & pb->modes & MODE_DISASTER) || pb->authorize)
		return 0;
	return found(s, SEV_ERROR, "disaster-without-authorize",
		     pb->disaster_loc.file ? pb->disaster_loc : pb->doc->root->loc,
		     xstrdup("disaster mode does not require authorization; add 'authorize: ${secret.NAME}' under modes.disaster so a destructive run needs --authorize"));
}

/* Constant-time comparison, so the token cannot be guessed by timing. */
static int token_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char diff = (unsigned char)(la != lb);
	for (size_t i = 0; i < la; i++)
		diff |= (unsigned char)(a[i] ^ (lb ? b[i % lb] : 0));
	return diff == 0;
}

char *guard_authorized(const char *expected, const char *given, const char *flag)
{
	if (*expected && token_equal(expected, given))
		return NULL;
	return xasprintf("the %s token does not match this playbook's disaster authorization", flag);
}

/* ---- secret placement ---- */

/* Per resource field: what it is made from ("secret.X", or "resources.R.F,
 * made from ..."), NULL when from no secret; worked out once, on demand. */
struct guard_secrets {
	const struct playbook *pb;
	size_t *base;          /* first slot of resource i */
	unsigned char *state;  /* 0 not yet, 1 being worked out, 2 known */
	char **from;
};

struct guard_secrets *guard_secrets_new(const struct playbook *pb)
{
	struct guard_secrets *gs = xcalloc(1, sizeof(*gs));
	gs->pb = pb;
	return gs;
}

void guard_secrets_free(struct guard_secrets *gs)
{
	if (!gs)
		return;
	if (gs->base)
		for (size_t i = 0; i < gs->base[gs->pb->nresources]; i++)
			free(gs->from[i]);
	free(gs->base);
	free(gs->state);
	free(gs->from);
	free(gs);
}

struct taint_walk {
	struct guard_secrets *gs;
	char *from;       /* the first secret found (new string) */
	int incomplete;   /* met a field still being worked out (a cycle) */
};

static int vtree_taint(struct taint_walk *w, const struct vtree *v);

/* What field f of resource ri is made from (borrowed), or NULL. A field in
 * a cycle of references counts as clean while the cycle is walked; such a
 * clean answer is not kept, so it is looked at again from elsewhere. */
static const char *field_taint(struct guard_secrets *gs, size_t ri, size_t f, int *incomplete)
{
	const struct playbook *pb = gs->pb;
	if (!gs->base) {
		gs->base = xcalloc(pb->nresources + 1, sizeof(*gs->base));
		for (size_t i = 0; i < pb->nresources; i++)
			gs->base[i + 1] = gs->base[i] + pb->resources[i].nfields;
		gs->state = xcalloc(gs->base[pb->nresources] + 1, 1);
		gs->from = xcalloc(gs->base[pb->nresources] + 1, sizeof(*gs->from));
	}
	size_t k = gs->base[ri] + f;
	if (gs->state[k] == 2)
		return gs->from[k];
	if (gs->state[k] == 1) {
		*incomplete = 1;
		return NULL;
	}
	gs->state[k] = 1;
	struct taint_walk w = { .gs = gs };
	vtree_taint(&w, pb->resources[ri].fields[f]);
	gs->from[k] = w.from;
	gs->state[k] = w.from || !w.incomplete ? 2 : 0;
	if (w.incomplete && !w.from)
		*incomplete = 1;
	return w.from;
}

static int taint_ref(const struct expr_ref *r, void *ud)
{
	struct taint_walk *w = ud;
	if (!r->name)
		return 0;
	if (!strcmp(r->root, "secret")) {
		w->from = xasprintf("secret.%s", r->name);
		return 1;
	}
	const struct resource_def *rd = strcmp(r->root, "resources") ? NULL : playbook_resource(w->gs->pb, r->name);
	if (!rd)
		return 0;
	for (size_t f = 0; f < rd->nfields; f++) {
		const char *fname = rd->fspecs[f]->name;
		if (r->field && strcmp(r->field, fname) != 0)
			continue;
		const char *sub = field_taint(w->gs, (size_t)(rd - w->gs->pb->resources), f, &w->incomplete);
		if (sub) {
			w->from = xasprintf("resources.%s.%s, made from %s", rd->name, fname,
					    strncmp(sub, "secret.", 7) ? "a secret" : sub);
			return 1;
		}
	}
	return 0;
}

/* 1 when v is (or contains) a value computed from a secret (w->from). */
static int vtree_taint(struct taint_walk *w, const struct vtree *v)
{
	switch (v->kind) {
	case VT_TMPL:
		return v->tmpl && tmpl_refs(v->tmpl, taint_ref, w);
	case VT_EXPR:
		return v->expr && expr_refs(v->expr, taint_ref, w);
	case VT_MAP:
	case VT_SEQ:
		for (size_t i = 0; i < v->n; i++)
			if (vtree_taint(w, v->vals[i]))
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

static int secret_in_arg(struct guard_secrets *gs, const struct step *st, const struct arg *a,
			 struct guard_sink *s)
{
	struct taint_walk w = { .gs = gs };
	if (!vtree_taint(&w, a->v))
		return 0;
	char *msg = NULL;
	if (a->spec->flags & P_PRINTED) {
		if (!strncmp(w.from, "secret.", 7))
			msg = xasprintf("parameter '%s' of %s is printed or sent, and this value contains a secret; pass secrets only through parameters meant for them (such as exec's env)",
					a->spec->name, st->def->name);
		else
			msg = xasprintf("parameter '%s' of %s is printed or sent, and this value contains a secret (%s); pass secrets only through parameters meant for them (such as exec's env)",
					a->spec->name, st->def->name, w.from);
	} else if (!whole_secret(a->v)) {
		msg = xasprintf("URL parameter '%s' of %s carries a secret (%s) inside the URL, where the server's logs keep it; take the whole URL from one secret (${secret.NAME}) or send the credential in headers",
				a->spec->name, st->def->name, w.from);
	}
	free(w.from);
	return msg ? found(s, SEV_ERROR, "secret-printed", a->v->loc, msg) : 0;
}

int guard_secret_placement(struct guard_secrets *gs, const struct step *st, struct guard_sink *s)
{
	int n = 0;
	for (size_t i = 0; i < st->nargs; i++)
		if (st->args[i].spec->flags & (P_PRINTED | P_URL))
			n += secret_in_arg(gs, st, &st->args[i], s);
	return n;
}

void guard_literal_credential(struct diags *d, const struct param_spec *ps, const struct vtree *v,
			      const char *owner)
{
	if (v->kind == VT_MAP || v->kind == VT_SEQ) {
		for (size_t i = 0; i < v->n; i++)
			guard_literal_credential(d, ps, v->vals[i], owner);
		return;
	}
	if (v->kind == VT_LIT && json_is_string(v->lit) && *json_string_value(v->lit)) {
		const char *what = redact_find_credential(json_string_value(v->lit));
		if (ps && (ps->flags & P_SECRET))
			add_diag(d, SEV_ERROR, DC_INVALID, "literal-credential", v->loc,
				 "%s '%s' holds a credential written into the file; take it from a secret: ${secret.NAME}",
				 owner, ps->name);
		else if (what)
			add_diag(d, SEV_ERROR, DC_INVALID, "literal-credential", v->loc,
				 "%s '%s' contains %s written into the file; take it from a secret: ${secret.NAME}",
				 owner, ps ? ps->name : "value", what);
		return;
	}
	if (v->kind == VT_TMPL && ps && (ps->flags & P_SECRET) && !v->secret) {
		/* A credential field built from env.* only is readable by anyone
		 * who can see the environment listing; warn. */
		add_diag(d, SEV_WARNING, DC_INVALID, "literal-credential", v->loc,
			 "%s '%s' is a credential but does not come from ${secret.*}; secrets are masked everywhere, env values are not",
			 owner, ps->name);
	}
}
