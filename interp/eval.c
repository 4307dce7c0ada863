/*
 * eval.c: turning compiled values (vtrees) into JSON, both statically (lint
 * and plan: params, env, run and resources known, step outputs not) and at
 * run time (run.c supplies a resolver with step outputs). Also the
 * argument queries of the registry's flags hooks, and a step's effective
 * flags.
 */
#include "plan.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Evaluates a vtree with a resolver. Returns 0 and a new reference, or -1
 * with *err set (caller frees). *secret is OR-ed with the taint. */
int vtree_eval(const struct vtree *v, const struct eval_ctx *ctx, json_t **out, char **err, int *secret)
{
	switch (v->kind) {
	case VT_LIT:
		*out = json_incref(v->lit);
		return 0;
	case VT_EXPR:
		/* Expressions given to actions are evaluated by the action
		 * (assert); here they stay their source text. */
		*out = json_string(expr_text(v->expr));
		return 0;
	case VT_TMPL: {
		struct value val;
		if (tmpl_eval(v->tmpl, ctx, &val, err) != 0)
			return -1;
		if (secret && val.secret)
			*secret = 1;
		*out = value_to_json(&val);
		value_release(&val);
		if (!*out) {
			*err = xstrdup("the value is not valid UTF-8 text");
			return -1;
		}
		return 0;
	}
	case VT_MAP: {
		json_t *o = json_object();
		for (size_t i = 0; i < v->n; i++) {
			json_t *x;
			if (vtree_eval(v->vals[i], ctx, &x, err, secret) != 0) {
				json_decref(o);
				return -1;
			}
			json_object_set_new(o, v->keys[i], x);
		}
		*out = o;
		return 0;
	}
	case VT_SEQ: {
		json_t *a = json_array();
		for (size_t i = 0; i < v->n; i++) {
			json_t *x;
			if (vtree_eval(v->vals[i], ctx, &x, err, secret) != 0) {
				json_decref(a);
				return -1;
			}
			json_array_append_new(a, x);
		}
		*out = a;
		return 0;
	}
	}
	*err = xstrdup("internal error: unknown value kind");
	return -1;
}

/* ---- static resolution ---- */

struct static_ud {
	const struct static_env *env;
	int unknown;
	int depth;
};

static int static_resolve(void *ud, const char *root, const char *name, struct value *out, char **err);

/* A resource's fields as known statically (unknown ones left out). */
static json_t *static_resource(struct static_ud *su, const struct resource_def *rd, int *unknown)
{
	json_t *o = json_object();
	json_object_set_new(o, "name", json_string(rd->name));
	json_object_set_new(o, "kind", json_string(rd->kind ? rd->kind->name : ""));
	json_object_set_new(o, "live", json_boolean(rd->live));
	json_object_set_new(o, "throwaway", json_boolean(rd->throwaway));
	if (su->depth > 8) {
		*unknown = 1;
		return o;
	}
	su->depth++;
	for (size_t i = 0; i < rd->nfields; i++) {
		struct eval_ctx ctx = { .resolve = static_resolve, .ud = su };
		json_t *x = NULL;
		char *e = NULL;
		int saved = su->unknown;
		su->unknown = 0;
		if (vtree_eval(rd->fields[i], &ctx, &x, &e, NULL) == 0)
			json_object_set_new(o, rd->fspecs[i]->name, x);
		else if (su->unknown)
			*unknown = 1;
		free(e);
		su->unknown = saved;
	}
	su->depth--;
	return o;
}

static int static_resolve(void *ud, const char *root, const char *name, struct value *out, char **err)
{
	struct static_ud *su = ud;
	const struct static_env *env = su->env;
	const struct playbook *pb = env->pb;
	memset(out, 0, sizeof(*out));
	if (!strcmp(root, "params") && name) {
		json_t *v = env->params ? json_object_get(env->params, name) : NULL;
		if (!v) {
			const struct param_def *p = playbook_param(pb, name);
			v = p ? p->def : NULL;
		}
		if (!v || json_is_null(v)) {
			if (env->params) {
				value_from_json(out, json_null());
				return 0;
			}
			goto unknown;
		}
		value_from_json(out, v);
		return 0;
	}
	if (!strcmp(root, "run") && name) {
		if (!strcmp(name, "mode")) {
			out->t = V_STR;
			out->u.s = xstrdup(mode_name(env->mode));
			return 0;
		}
		if (!strcmp(name, "playbook")) {
			out->t = V_STR;
			out->u.s = xstrdup(pb->name);
			return 0;
		}
		if (!strcmp(name, "file")) {
			out->t = V_STR;
			out->u.s = xstrdup(pb->file);
			return 0;
		}
		if (!strcmp(name, "id") && env->run_id) {
			out->t = V_STR;
			out->u.s = xstrdup(env->run_id);
			return 0;
		}
		if (!strcmp(name, "started_at") && env->started_us) {
			out->t = V_TIME;
			out->u.us = env->started_us;
			return 0;
		}
		goto unknown;
	}
	if (!strcmp(root, "env") && name && env->read_env) {
		const char *v = getenv(name);
		if (!v) {
			*err = xasprintf("environment variable %s is not set; set it before running", name);
			return -1;
		}
		out->t = V_STR;
		out->u.s = xstrdup(v);
		return 0;
	}
	if (!strcmp(root, "resources") && name) {
		const struct resource_def *rd = playbook_resource(pb, name);
		if (!rd) {
			*err = xasprintf("unknown resource '%s'", name);
			return -1;
		}
		int unknown = 0;
		json_t *o = static_resource(su, rd, &unknown);
		value_from_json(out, o);
		json_decref(o);
		return 0;
	}
unknown:
	su->unknown = 1;
	*err = xstrdup("not known before the run");
	return -1;
}

int vtree_static(const struct vtree *v, const struct static_env *env, json_t **out, char **err)
{
	*out = NULL;
	*err = NULL;
	if (v->kind == VT_LIT) {
		*out = json_incref(v->lit);
		return 1;
	}
	if (v->dynamic && v->kind == VT_TMPL)
		return 0;
	struct static_ud su = { .env = env };
	struct eval_ctx ctx = { .resolve = static_resolve, .ud = &su };
	if (vtree_eval(v, &ctx, out, err, NULL) == 0)
		return 1;
	if (su.unknown) {
		free(*err);
		*err = NULL;
		return 0;
	}
	return -1;
}

int when_static(const struct expr *e, const struct static_env *env, int *truth)
{
	struct static_ud su = { .env = env };
	struct eval_ctx ctx = { .resolve = static_resolve, .ud = &su };
	struct value v;
	char *err = NULL;
	if (expr_eval(e, &ctx, &v, &err) != 0) {
		free(err);
		return su.unknown ? 0 : -1;
	}
	*truth = value_truthy(&v);
	value_release(&v);
	/* default() swallows an unknown reference (steps.*, a resource built
	 * from them): the value seen is then not the one the run will see */
	return su.unknown ? 0 : 1;
}

/* ---- argument queries for flags hooks ---- */

static json_t *argq_value(const struct argq *q, const char *name, int *known, int *absent)
{
	*known = 0;
	*absent = 0;
	if (q->resolved) {
		json_t *v = json_object_get(q->resolved, name);
		if (!v)
			*absent = 1;
		else
			*known = 1;
		return v ? json_incref(v) : NULL;
	}
	const struct arg *a = step_arg(q->st, name);
	if (!a) {
		*absent = 1;
		return NULL;
	}
	if (a->v->kind == VT_LIT) {
		*known = 1;
		return json_incref(a->v->lit);
	}
	if (!q->env)
		return NULL;
	json_t *out = NULL;
	char *err = NULL;
	int r = vtree_static(a->v, q->env, &out, &err);
	free(err);
	if (r == 1) {
		*known = 1;
		return out;
	}
	return NULL;
}

int argq_bool(const struct argq *q, const char *name, int *val)
{
	int known, absent;
	json_t *v = argq_value(q, name, &known, &absent);
	int ok = 0;
	if (known && v) {
		if (json_is_boolean(v)) {
			*val = json_is_true(v);
			ok = 1;
		} else if (json_is_string(v) && (!strcmp(json_string_value(v), "true") ||
						 !strcmp(json_string_value(v), "false"))) {
			*val = !strcmp(json_string_value(v), "true");
			ok = 1;
		}
	} else if (absent && q->st && q->st->def) {
		const struct param_spec *ps = param_find(q->st->def->params, name);
		if (ps && ps->def) {
			*val = !strcmp(ps->def, "true");
			ok = 1;
		}
	}
	json_decref(v);
	return ok;
}

const char *argq_str(const struct argq *q, const char *name, int *absent)
{
	int known, ab;
	json_t *v = argq_value(q, name, &known, &ab);
	if (absent)
		*absent = ab;
	if (!known || !v || !json_is_string(v)) {
		json_decref(v);
		if (ab && q->st && q->st->def) {
			const struct param_spec *ps = param_find(q->st->def->params, name);
			if (ps && ps->def)
				return ps->def;
		}
		return NULL;
	}
	/* The string lives as long as the playbook (literal) or the resolved
	 * object; a statically evaluated one is kept in a small ring. */
	static char *ring[8];
	static int ri;
	free(ring[ri]);
	ring[ri] = xstrdup(json_string_value(v));
	const char *s = ring[ri];
	ri = (ri + 1) % 8;
	json_decref(v);
	return s;
}

void argq_error(const struct argq *q, const char *name, const char *fmt, ...)
{
	if (!q->d)
		return;
	struct loc loc = q->st ? q->st->loc : (struct loc){ 0 };
	if (q->st && name) {
		const struct arg *a = step_arg(q->st, name);
		if (a)
			loc = a->v->loc;
	}
	va_list ap;
	va_start(ap, fmt);
	diag_vadd(q->d, SEV_ERROR, DC_INVALID, "schema-value", loc, fmt, ap);
	va_end(ap);
}

unsigned action_flags(const struct action_def *def, const struct argq *q)
{
	unsigned f = def->flags;
	if (def->flags_for)
		f = def->flags_for(q);
	if (f & A_DESTRUCT)
		f |= A_STATE;
	return f;
}

unsigned step_flags(const struct step *st, const struct static_env *env)
{
	if (!st->def)
		return 0;
	struct argq q = { .st = st, .env = env };
	return action_flags(st->def, &q);
}
