/*
 * prepare.c: a run is planned whole before its first step (prepare.h): the
 * playbook is loaded and checked, its mode picked, its params typed, the
 * guards of the mode linted with the params known, every secret and
 * environment variable the plan needs looked up (each secret read as the
 * run will read it), and the disaster authorization compared. Whatever
 * stops a run here stops it before anything ran.
 */
#include "prepare.h"

#include <stdlib.h>
#include <string.h>

#include "redact.h"
#include "resolve.h"
#include "util.h"
#include "text.h"

/* ---- load and check ---- */

/* Prints the diagnostics; when there are errors, says that nothing ran and
 * returns the exit code (3 when only the guards refused), else 0. */
static int print_diags_exit(struct diags *d)
{
	diags_sort(d);
	if (fail_json_active())
		fail_json_diags(diags_json(d, NULL));
	else
		diags_print(d, DF_TEXT, stderr);
	if (d->nerr == 0)
		return 0;
	int invalid = d->nerr - d->nguard;
	struct fail f = FAIL_INIT;
	fail_set(&f, invalid ? EXIT_INVALID : EXIT_REFUSED, "%d error%s in the playbook; nothing ran%s", d->nerr,
		 d->nerr == 1 ? "" : "s", invalid ? "" : " (refused by the safety guards above)");
	int rc = fail_print(&f, "drplay");
	fail_release(&f);
	return rc;
}

static int load_playbook(const char *file, struct diags *d, struct playbook **pb)
{
	struct doc *doc = doc_load(file, d);
	*pb = d->nerr ? NULL : playbook_check(doc, d);
	if (!*pb) {
		int rc = print_diags_exit(d);
		doc_free(doc);
		return rc ? rc : EXIT_INVALID;
	}
	return d->nerr ? print_diags_exit(d) : 0;
}

/* ---- the mode ---- */

static int choose_mode(const struct playbook *pb, const struct run_opts *o, unsigned *mode, struct fail *f)
{
	if (o->mode) {
		*mode = mode_parse(o->mode);
		if (!*mode)
			return fail_set(f, EXIT_INVALID, "unknown mode '%s'; use --mode=validation or --mode=disaster",
					o->mode);
		if (!(pb->modes & *mode))
			return fail_set(f, EXIT_INVALID, "playbook '%s' does not declare %s mode; it declares: %s%s%s",
					pb->name, o->mode, pb->modes & MODE_VALIDATION ? "validation" : "",
					pb->modes == MODE_ALL ? ", " : "", pb->modes & MODE_DISASTER ? "disaster" : "");
		return 0;
	}
	*mode = pb->default_mode;
	/* A one-step command runs a non-destructive action for a person:
	 * without a default mode it needs no disaster authorization. */
	if (!*mode && o->one_def && !(o->one_def->flags & A_DESTRUCT))
		*mode = MODE_VALIDATION;
	if (!*mode)
		return fail_set(f, EXIT_INVALID, "playbook '%s' has no default mode; pass --mode=disaster explicitly",
				pb->name);
	return 0;
}

/* ---- params ---- */

/* What a param of type t must look like, for a message. */
static const char *param_form(enum ptype t)
{
	switch (t) {
	case T_INT: return "an integer";
	case T_NUMBER: return "a number";
	case T_BOOL: return "true or false";
	case T_TIMESTAMP: return "an RFC 3339 timestamp such as 2026-11-29T09:10:00Z";
	default: return "a duration such as 90s, 15m or 24h";
	}
}

/* A --param value typed as p declares it: 0 and *out, or -1 with f set. */
static int parse_param_value(const struct param_def *p, const char *s, json_t **out, struct fail *f)
{
	int64_t v;
	double d;
	char buf[40];
	int bad = 0;
	switch (p->type) {
	case T_INT:
		bad = parse_int64(s, &v) != 0;
		*out = bad ? NULL : json_integer(v);
		break;
	case T_NUMBER:
		bad = parse_decimal(s, &d) != 0;
		*out = bad ? NULL : json_real(d);
		break;
	case T_BOOL:
		bad = strcmp(s, "true") && strcmp(s, "false");
		*out = bad ? NULL : json_boolean(!strcmp(s, "true"));
		break;
	case T_TIMESTAMP:
		bad = parse_timestamp(s, &v) != 0;
		*out = bad ? NULL : json_string(fmt_timestamp(v, buf, sizeof(buf)));
		break;
	case T_DURATION: {
		int rc = parse_duration(s, &v);
		if (rc == -2)
			return fail_set(f, EXIT_INVALID,
					"param '%s' is %s, longer than the longest duration drplay accepts, 36500d (100 years)",
					p->name, s);
		bad = rc != 0;
		*out = bad ? NULL : json_string(s);
		break;
	}
	default:
		*out = json_string(s);
		if (!*out)
			return fail_set(f, EXIT_INVALID, "param '%s' is not valid UTF-8", p->name);
		break;
	}
	if (bad)
		return fail_set(f, EXIT_INVALID, "param '%s' must be %s, not '%s'", p->name, param_form(p->type), s);
	return 0;
}

/* One --param NAME=VALUE into params. Returns 0, or -1 with f set. */
static int given_param(const struct playbook *pb, const char *arg, json_t *params, struct fail *f)
{
	const char *eq = strchr(arg, '=');
	if (!eq)
		return fail_set(f, EXIT_INVALID, "--param '%s' needs the form NAME=VALUE", arg);
	char *name = xstrndup(arg, (size_t)(eq - arg));
	const struct param_def *p = playbook_param(pb, name);
	json_t *v = NULL;
	int rc = 0;
	if (!p) {
		struct strbuf sb = STRBUF_INIT;
		for (size_t k = 0; k < pb->nparams; k++)
			sb_addf(&sb, "%s%s", k ? ", " : "", pb->params[k].name);
		rc = fail_set(f, EXIT_INVALID, "unknown param '%s'; %s%s", name,
			      pb->nparams ? "this playbook declares: " : "this playbook declares no params", sb_str(&sb));
		sb_release(&sb);
	} else if ((rc = parse_param_value(p, eq + 1, &v, f)) == 0) {
		json_object_set_new(params, name, v);
	}
	free(name);
	return rc;
}

/* A JSON value as a message quotes it (caller frees). */
static char *json_shown(json_t *v)
{
	return json_is_string(v) ? xstrdup(json_string_value(v)) : json_dumps_short(v, JSON_ENCODE_ANY);
}

/* Param p after the --param values: its default applied, then required in
 * this mode and allowed values checked. Returns 0, or -1 with f set. */
static int settle_param(const struct param_def *p, const struct run_opts *o, unsigned mode, json_t *params,
			struct fail *f)
{
	json_t *v = json_object_get(params, p->name);
	if (!v && p->def)
		json_object_set(params, p->name, p->def);
	v = json_object_get(params, p->name);
	if (!v) {
		if (!(p->required & mode) || o->one_def)
			return 0;
		return fail_set(f, EXIT_INVALID, "param '%s' is required in %s mode: pass --param %s=%s%s%s%s", p->name,
				mode_name(mode), p->name, p->type == T_TIMESTAMP ? "2026-11-29T09:10:00Z" : "VALUE",
				p->desc ? " (" : "", p->desc ? p->desc : "", p->desc ? ")" : "");
	}
	if (!p->allowed)
		return 0;
	size_t k;
	json_t *e;
	json_array_foreach(p->allowed, k, e) if (json_equal(e, v)) return 0;
	struct strbuf sb = STRBUF_INIT;
	json_array_foreach(p->allowed, k, e)
	{
		char *t = json_shown(e);
		sb_addf(&sb, "%s%s", k ? ", " : "", t);
		free(t);
	}
	char *s = json_shown(v);
	fail_set(f, EXIT_INVALID, "param '%s' is '%s', which is not allowed; allowed values: %s", p->name, s,
		 sb_str(&sb));
	free(s);
	sb_release(&sb);
	return -1;
}

/* Types the --param values, applies defaults, checks allowed and required.
 * Prints every problem; returns the params object or NULL. */
static json_t *resolve_params(const struct playbook *pb, const struct run_opts *o, unsigned mode)
{
	json_t *params = json_object();
	int bad = 0;
	struct fail f = FAIL_INIT;
	for (size_t i = 0; i < o->nparams; i++)
		if (given_param(pb, o->params[i], params, &f) != 0)
			bad = fail_print(&f, "drplay");
	for (size_t i = 0; i < pb->nparams; i++)
		if (settle_param(&pb->params[i], o, mode, params, &f) != 0)
			bad = fail_print(&f, "drplay");
	fail_release(&f);
	if (bad) {
		json_decref(params);
		return NULL;
	}
	return params;
}

/* ---- a one-step run ---- */

/* A one-step run's resource arguments must name resources of the playbook,
 * of the kind the parameter takes. Returns 0, or -1 with f set. */
static int one_step_resources(const struct playbook *pb, const struct run_opts *o, struct fail *f)
{
	const char *key;
	json_t *val;
	json_object_foreach(o->one_with, key, val)
	{
		const struct param_spec *ps = param_find(o->one_def->params, key);
		if (!ps || ps->type != T_RESOURCE)
			continue;
		const struct resource_def *rd = playbook_resource(pb, json_string_value(val));
		if (rd && (!ps->kind || !rd->kind || !strcmp(ps->kind, rd->kind->name)))
			continue;
		struct strbuf sb = STRBUF_INIT;
		for (size_t i = 0; i < pb->nresources; i++)
			if (pb->resources[i].kind && (!ps->kind || !strcmp(ps->kind, pb->resources[i].kind->name)))
				sb_addf(&sb, "%s%s", sb.len ? ", " : "", pb->resources[i].name);
		fail_set(f, EXIT_INVALID, "playbook '%s' has no resource '%s'%s%s; %s%s", pb->name, json_string_value(val),
			 ps->kind ? " of kind " : "", ps->kind ? ps->kind : "", sb.len ? "it declares: " : "it declares none",
			 sb_str(&sb));
		sb_release(&sb);
		return -1;
	}
	return 0;
}

/* Replaces the playbook's steps by the one step of a one-step run (see
 * run_opts). The step lives in the playbook's arena; its arguments borrow
 * o->one_with, which outlives the run. */
static int one_step(struct playbook *pb, const struct run_opts *o, struct fail *f)
{
	if (one_step_resources(pb, o, f) != 0)
		return -1;
	struct step *st = arena_alloc(pb->arena, sizeof(*st));
	st->id = o->one_id;
	st->index = 0;
	st->loc = pb->doc->root->loc;
	st->def = o->one_def;
	st->action_loc = st->loc;
	st->modes = MODE_ALL;
	size_t n = json_object_size(o->one_with);
	st->args = arena_alloc(pb->arena, (n + 1) * sizeof(*st->args));
	const char *key;
	json_t *val;
	json_object_foreach(o->one_with, key, val)
	{
		const struct param_spec *ps = param_find(o->one_def->params, key);
		if (!ps)
			continue;
		struct vtree *v = arena_alloc(pb->arena, sizeof(*v));
		v->kind = VT_LIT;
		v->loc = st->loc;
		v->lit = val;
		st->args[st->nargs++] = (struct arg){ .spec = ps, .v = v, .loc = st->loc };
	}
	pb->steps = st;
	pb->nsteps = 1;
	if (pb->step_hash)
		memset(pb->step_hash, 0, pb->step_hash_cap * sizeof(*pb->step_hash));
	return 0;
}

/* ---- what the plan needs ---- */

/* Walks what the active steps (and the resources they name) refer to:
 * every env variable must be set and every secret usable, read (its file
 * checked) as the run would read it. Each problem is printed. */
struct need {
	const struct playbook *pb;
	char *seen;   /* resources walked */
	int missing;  /* not set: exit 2 */
	int refused;  /* set but unusable (a bad file, too short): exit 3 */
};

static void need_print(struct need *nd, const struct expr_ref *ref, int refused, struct fail *f)
{
	f->loc = ref->loc;
	fail_print(f, "drplay");
	if (refused)
		nd->refused++;
	else
		nd->missing++;
}

static void need_name(struct need *nd, const struct expr_ref *ref)
{
	struct fail f = FAIL_INIT;
	if (!strcmp(ref->root, "env") && !getenv(ref->name)) {
		fail_set(&f, EXIT_INVALID, "environment variable %s is not set; set it before running", ref->name);
		need_print(nd, ref, 0, &f);
	}
	if (!strcmp(ref->root, "secret")) {
		char *v = NULL;
		int unset;
		if (secret_value(ref->name, &v, &f, &unset) == 0) {
			free_secret(v);
		} else if (unset) {
			fail_set(&f, EXIT_INVALID, "secret %s is not set; set %s, or %s_FILE to a file holding it", ref->name,
				 ref->name, ref->name);
			need_print(nd, ref, 0, &f);
		} else {
			need_print(nd, ref, 1, &f);
		}
	}
	fail_release(&f);
}

static void need_vtree(struct need *nd, const struct vtree *v);

static void need_resource(struct need *nd, const struct resource_def *rd)
{
	const struct playbook *pb = nd->pb;
	if (!rd || nd->seen[rd - pb->resources])
		return;
	nd->seen[rd - pb->resources] = 1;
	for (size_t f = 0; f < rd->nfields; f++) {
		need_vtree(nd, rd->fields[f]);
		if (rd->fspecs[f]->type == T_RESOURCE && rd->fields[f]->kind == VT_LIT &&
		    json_is_string(rd->fields[f]->lit))
			need_resource(nd, playbook_resource(pb, json_string_value(rd->fields[f]->lit)));
	}
}

static int need_ref(const struct expr_ref *ref, void *ud)
{
	struct need *nd = ud;
	if (!ref->name)
		return 0;
	need_name(nd, ref);
	if (!strcmp(ref->root, "resources"))
		need_resource(nd, playbook_resource(nd->pb, ref->name));
	return 0;
}

static void need_vtree(struct need *nd, const struct vtree *v)
{
	switch (v->kind) {
	case VT_TMPL:
		tmpl_refs(v->tmpl, need_ref, nd);
		break;
	case VT_EXPR:
		if (v->expr)
			expr_refs(v->expr, need_ref, nd);
		break;
	case VT_MAP:
	case VT_SEQ:
		for (size_t i = 0; i < v->n; i++)
			need_vtree(nd, v->vals[i]);
		break;
	default:
		break;
	}
}

/* What step st needs: its when:, its arguments, and the resources they name. */
static void need_step(struct need *nd, const struct step *st, const struct static_env *env)
{
	if (st->when)
		expr_refs(st->when, need_ref, nd);
	for (size_t a = 0; a < st->nargs; a++) {
		need_vtree(nd, st->args[a].v);
		if (st->args[a].spec->type != T_RESOURCE)
			continue;
		json_t *v = NULL;
		char *err = NULL;
		if (vtree_static(st->args[a].v, env, &v, &err) == 1 && json_is_string(v))
			need_resource(nd, playbook_resource(nd->pb, json_string_value(v)));
		json_decref(v);
		free(err);
	}
}

static int check_needs(const struct playbook *pb, unsigned mode, json_t *params)
{
	struct need nd = { .pb = pb, .seen = xcalloc(pb->nresources + 1, 1) };
	struct static_env env = { .pb = pb, .mode = mode, .params = params, .read_env = 1 };
	for (size_t i = 0; i < pb->nsteps; i++) {
		const struct step *st = &pb->steps[i];
		if (!st->def || !(st->modes & mode))
			continue;
		/* a step whose `when:` the params already make false never runs:
		 * what only it needs is not needed (an optional notification) */
		int truth = 1;
		if (st->when && when_static(st->when, &env, &truth) == 1 && !truth)
			continue;
		need_step(&nd, st, &env);
	}
	free(nd.seen);
	if (nd.refused)
		return EXIT_REFUSED;
	return nd.missing ? EXIT_INVALID : 0;
}

/* ---- the plan phase ---- */

int prepare_plan(const struct run_opts *o, struct diags *d, struct playbook **pbp, struct run *r)
{
	int rc = load_playbook(o->file, d, pbp);
	struct playbook *pb = *pbp;
	r->pb = pb;
	if (rc)
		return rc;
	struct fail f = FAIL_INIT;
	if (choose_mode(pb, o, &r->mode, &f) != 0) {
		rc = fail_print(&f, "drplay");
		fail_release(&f);
		return rc;
	}
	r->params = resolve_params(pb, o, r->mode);
	if (!r->params)
		return EXIT_INVALID;
	/* The guards of this mode, with the params known (a one-step run's
	 * plan is not the playbook's: its run-time guards still apply). */
	if (o->one_def) {
		if (one_step(pb, o, &f) != 0) {
			rc = fail_print(&f, "drplay");
			fail_release(&f);
			return rc;
		}
	} else {
		lint_playbook(pb, r->mode, r->params, d);
	}
	if (d->nerr)
		return print_diags_exit(d);
	if (d->nwarn && !o->json) {
		diags_sort(d);
		diags_print(d, DF_TEXT, stderr);
	}
	/* Secrets and environment the plan needs, each secret read and checked
	 * as the run will read it. */
	rc = check_needs(pb, r->mode, r->params);
	if (rc) {
		fail_set(&f, rc, "%s", rc == EXIT_REFUSED ? "refused: the secrets above cannot be used; nothing ran"
							  : "the plan needs the secrets and variables above; nothing ran");
		fail_print(&f, "drplay");
		fail_release(&f);
	}
	return rc;
}

/* ---- authorization ---- */

/* The token given on the command line or in the --authorize-file: 0 with
 * *given (and *owned when it came from the file: free_secret it), or -1. */
static int given_token(const struct run_opts *o, const char **given, char **owned, struct fail *f)
{
	*given = o->authorize;
	*owned = NULL;
	if (o->authorize_file) {
		/* the token kept out of argv, so `ps` cannot show it */
		if (read_secret_file(o->authorize_file, 1, owned, f) != 0) {
			fail_prefix(f, "--authorize-file '%s' ", o->authorize_file);
			fail_suffix(f, "; nothing ran");
			return -1;
		}
		*given = *owned;
	}
	if (!*given || !**given)
		return fail_set(f, EXIT_REFUSED,
				"disaster mode needs explicit authorization: pass --authorize-file FILE (a private file holding the token the playbook's modes.disaster.authorize names) or --authorize=TOKEN; nothing ran");
	return 0;
}

int prepare_authorize(struct run *r, const struct run_opts *o)
{
	if (r->mode != MODE_DISASTER)
		return 0;
	struct fail f = FAIL_INIT;
	const char *given;
	char *owned;
	int rc = 0;
	if (given_token(o, &given, &owned, &f) != 0) {
		rc = fail_print(&f, "drplay");
		fail_release(&f);
		return rc;
	}
	struct eval_ctx ctx = run_ctx(r);
	struct value v;
	char *err = NULL;
	if (tmpl_eval(r->pb->authorize, &ctx, &v, &err) != 0) {
		fail_set(&f, EXIT_REFUSED, "cannot read the disaster authorization token: %s; nothing ran", err);
		free(err);
	} else {
		char *expected = value_to_text(&v);
		value_release(&v);
		char *why_not = guard_authorized(expected, given, o->authorize_file ? "--authorize-file" : "--authorize");
		free_secret(expected);
		redact_register(given);
		if (why_not)
			fail_set(&f, EXIT_REFUSED, "%s; nothing ran", why_not);
		else
			r->authorized_with = o->authorize_file ? "--authorize-file" : "--authorize";
		free(why_not);
	}
	free_secret(owned);
	if (fail_is_set(&f))
		rc = fail_print(&f, "drplay");
	fail_release(&f);
	return rc;
}

/* ---- what children may not see ---- */

static void hide_name(json_t *names, const struct expr_ref *ref)
{
	json_object_set_new(names, ref->name, json_true());
	char *f = xasprintf("%s_FILE", ref->name);
	json_object_set_new(names, f, json_true());
	free(f);
}

static int hide_secret_ref(const struct expr_ref *ref, void *ud)
{
	if (ref->name && !strcmp(ref->root, "secret"))
		hide_name(ud, ref);
	return 0;
}

static int hide_authorize_ref(const struct expr_ref *ref, void *ud)
{
	if (ref->name && (!strcmp(ref->root, "secret") || !strcmp(ref->root, "env")))
		hide_name(ud, ref);
	return 0;
}

json_t *hidden_env(const struct playbook *pb)
{
	json_t *names = json_object();
	for (size_t i = 0; i < pb->ntmpls; i++)
		tmpl_refs(pb->tmpls[i], hide_secret_ref, names);
	for (size_t i = 0; i < pb->nexprs; i++)
		expr_refs(pb->exprs[i], hide_secret_ref, names);
	if (pb->authorize)
		tmpl_refs(pb->authorize, hide_authorize_ref, names);
	return names;
}

/* ---- the plan, printed ---- */

char *mode_skip_reason(const struct step *st, unsigned mode)
{
	if (st->modes & mode)
		return NULL;
	return xasprintf("not in %s mode (runs only in %s mode)", mode_name(mode), mode_name(st->modes & MODE_ALL));
}

static void print_vtree_plan(struct run *r, const struct vtree *v, const char *key, int indent)
{
	json_t *j = NULL;
	char *err = NULL;
	struct eval_ctx ctx = run_ctx(r);
	char *text = NULL;
	if (v->kind == VT_EXPR) {
		text = xstrdup(expr_text(v->expr));
	} else if (!v->dynamic && vtree_eval(v, &ctx, &j, &err, NULL) == 0) {
		text = json_is_string(j) ? xstrdup(json_string_value(j))
					 : json_dumps_short(j, JSON_COMPACT | JSON_ENCODE_ANY);
	} else if (v->kind == VT_TMPL) {
		text = xasprintf("%s   (resolved at run time)", tmpl_text(v->tmpl));
	} else if (v->dynamic) {
		text = xstrdup("(structure resolved at run time)");
	} else {
		text = xasprintf("(cannot resolve: %s)", err ? err : "?");
	}
	json_decref(j);
	free(err);
	run_say(r, "%*s%s: %s\n", indent, "", key, text);
	free(text);
}

static void print_step_plan(struct run *r, const struct step *st)
{
	const struct playbook *pb = r->pb;
	size_t i = st->index;
	char *why = mode_skip_reason(st, r->mode);
	if (why) {
		run_say(r, "[%zu/%zu] %s: %s  skip: %s\n", i + 1, pb->nsteps, st->id, st->def->name, why);
		free(why);
		return;
	}
	struct static_env env = { .pb = pb, .mode = r->mode, .params = r->params, .read_env = 1,
				  .run_id = r->run_id, .started_us = r->started_us };
	unsigned f = step_flags(st, &env);
	run_say(r, "[%zu/%zu] %s: %s  %s (%s%s%s%s%s)\n", i + 1, pb->nsteps, st->id, st->def->name,
		st->when ? "run if" : "run", f & A_DESTRUCT ? "destructive" : f & A_STATE ? "state-changing" : "read-only",
		st->def->cat != CAT_OTHER ? ", " : "", st->def->cat != CAT_OTHER ? category_name(st->def->cat) : "",
		st->gate ? ", gate" : "", st->always ? ", always" : "");
	if (st->when)
		run_say(r, "      when: %s\n", expr_text(st->when));
	if (st->nrequires) {
		struct strbuf sb = STRBUF_INIT;
		for (size_t q = 0; q < st->nrequires; q++)
			sb_addf(&sb, "%s%s", q ? ", " : "", pb->steps[st->requires[q]].id);
		run_say(r, "      requires: %s\n", sb_str(&sb));
		sb_release(&sb);
	}
	for (size_t a = 0; a < st->nargs; a++)
		print_vtree_plan(r, st->args[a].v, st->args[a].spec->name, 6);
}

void print_plan(struct run *r)
{
	const struct playbook *pb = r->pb;
	run_say(r, "plan for '%s' (%s) in %s mode; nothing runs (dry run)\n", pb->name, pb->file,
		mode_name(r->mode));
	if (pb->import_ref)
		run_say(r, "imports %s (%s): the procedure's steps, bound to this file's resources and params\n",
			pb->import_ref, pb->doc->imported->file);
	if (json_object_size(r->params)) {
		run_say(r, "params:\n");
		const char *k;
		json_t *v;
		json_object_foreach(r->params, k, v)
		{
			char *s = json_shown(v);
			run_say(r, "  %s: %s\n", k, s);
			free(s);
		}
	}
	for (size_t i = 0; i < pb->nsteps; i++)
		print_step_plan(r, &pb->steps[i]);
}
