/*
 * check.c: the node tree against the playbook format (SPEC.md, mirrored in
 * grammar/playbook.schema.json) and the action registry -> a typed playbook
 * (plan.h). Every problem is reported with its file:line:col, and checking
 * goes on after an error so that one pass shows them all. References inside
 * templates and expressions (params.X, steps.ID.FIELD, resources.N.F, run.X)
 * are resolved against the declarations here, once.
 */
#include "plan.h"

#include <ctype.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "describe.h"
#include "guard.h"
#include "import.h"
#include "typing.h"
#include "util.h"
#include "text.h"
#include "version.h"

struct checker {
	struct playbook *pb;
	struct diags *d;
	/* While checking a step: its index (references must point earlier). */
	long cur_step;
	int in_resource;
	/* Candidate comparisons "did you mean" may still make: a file with
	 * 50,000 misspelled step references must not cost 50,000 x 50,000 edit
	 * distances. Past the budget, messages carry no suggestion. */
	size_t suggest_budget;
	struct strbuf hint;   /* the last suggestion made */
};

/* Enough for every suggestion of any real playbook, about 0.1 s at most. */
#define SUGGEST_BUDGET 1000000

/* ---- small helpers ---- */

static void err(struct checker *C, const char *rule, struct loc loc, const char *fmt, ...)
	PRINTF_LIKE(4, 5);
static void err(struct checker *C, const char *rule, struct loc loc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diag_vadd(C->d, SEV_ERROR, DC_INVALID, rule, loc, fmt, ap);
	va_end(ap);
}

static void warn(struct checker *C, const char *rule, struct loc loc, const char *fmt, ...)
	PRINTF_LIKE(4, 5);
static void warn(struct checker *C, const char *rule, struct loc loc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diag_vadd(C->d, SEV_WARNING, DC_INVALID, rule, loc, fmt, ap);
	va_end(ap);
}

/* Optimal string alignment distance: edits and adjacent transpositions
 * ("lgo" -> "log" is one). */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 64 || lb > 64)
		return 99;
	size_t d[65][65];
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
			size_t v = d[i - 1][j - 1] + cost;
			if (d[i - 1][j] + 1 < v)
				v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	}
	return d[la][lb];
}

/* " (did you mean 'x'?)" for the closest candidate, or "": valid until the
 * next suggestion.
 * The candidates are the strings at offset off of n records of stride bytes
 * (so a list of structs needs no copy). Each candidate costs one unit of C's
 * budget; when too little is left, "". */
static const char *suggest_strided(struct checker *C, const char *got, const void *recs, size_t n,
				   size_t stride, size_t off)
{
	const char *best = NULL;
	size_t bd = 99;
	sb_reset(&C->hint);
	if (C->suggest_budget < n)
		return sb_str(&C->hint);
	C->suggest_budget -= n;
	for (size_t i = 0; i < n; i++) {
		const char *cand = *(const char *const *)((const char *)recs + i * stride + off);
		if (!cand)
			continue;
		size_t dd = edit_distance(got, cand);
		if (dd < bd) {
			bd = dd;
			best = cand;
		}
	}
	size_t len = strlen(got);
	if (best && bd <= (len < 4 ? 1 : len / 3 + 1))
		sb_addf(&C->hint, " (did you mean '%s'?)", best);
	return sb_str(&C->hint);
}

static const char *suggest(struct checker *C, const char *got, const char *const *cands, size_t n)
{
	return suggest_strided(C, got, cands, n, sizeof(*cands), 0);
}

/* suggest() over a field of an array of structs: SUGGEST_IN(C, got, pb->steps, pb->nsteps, id). */
#define SUGGEST_IN(C, got, arr, n, field) \
	suggest_strided((C), (got), (arr), (n), sizeof(*(arr)), offsetof(__typeof__(*(arr)), field))

static int is_scalar_str(const struct node *n)
{
	return n && n->kind == N_SCALAR && node_scalar_type(n) == S_STR;
}

static int valid_ident(const char *s, int allow_upper, int allow_dash)
{
	if (!*s)
		return 0;
	for (const char *p = s; *p; p++) {
		int ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' ||
			 (allow_upper && *p >= 'A' && *p <= 'Z') || (allow_dash && *p == '-');
		if (!ok)
			return 0;
	}
	return 1;
}

static void track_json(struct playbook *pb, json_t *j)
{
	if (pb->njsons == pb->ajsons) {
		pb->ajsons = pb->ajsons ? pb->ajsons * 2 : 64;
		pb->jsons = xrealloc(pb->jsons, pb->ajsons * sizeof(*pb->jsons));
	}
	pb->jsons[pb->njsons++] = j;
}

static void track_tmpl(struct playbook *pb, struct tmpl *t)
{
	if (pb->ntmpls == pb->atmpls) {
		pb->atmpls = pb->atmpls ? pb->atmpls * 2 : 64;
		pb->tmpls = xrealloc(pb->tmpls, pb->atmpls * sizeof(*pb->tmpls));
	}
	pb->tmpls[pb->ntmpls++] = t;
}

static void track_expr(struct playbook *pb, struct expr *e)
{
	if (pb->nexprs == pb->aexprs) {
		pb->aexprs = pb->aexprs ? pb->aexprs * 2 : 64;
		pb->exprs = xrealloc(pb->exprs, pb->aexprs * sizeof(*pb->exprs));
	}
	pb->exprs[pb->nexprs++] = e;
}

/* The location of a scalar's first content character (after a quote). */
static struct loc content_loc(const struct node *n)
{
	struct loc l = n->loc;
	if (n->kind == N_SCALAR && n->quoted && n->loc.file) {
		/* Quoted flow scalars start one column after the quote; block
		 * scalars on the next line, where columns are approximate. */
		l.col += 1;
	}
	return l;
}

/* Checks that a mapping has only known keys; reports the others. */
static void known_keys(struct checker *C, const struct node *map, const char *const *keys,
		       const char *what)
{
	size_t nk = 0;
	while (keys[nk])
		nk++;
	for (size_t i = 0; i < map->n; i++) {
		const struct node *k = map->keys[i];
		if (k->kind != N_SCALAR) {
			err(C, "schema-type", k->loc, "a key of %s must be a plain name, not a %s",
			    what, node_kind_name(k));
			continue;
		}
		int ok = 0;
		for (size_t j = 0; j < nk && !ok; j++)
			ok = !strcmp(k->str, keys[j]);
		if (!ok)
			err(C, "schema-unknown-key", k->loc, "unknown key '%s' in %s%s", k->str, what,
			    suggest(C, k->str, keys, nk));
	}
}

static const char *want_string(struct checker *C, const struct node *n, const char *what)
{
	if (!n)
		return NULL;
	if (n->kind != N_SCALAR || node_scalar_type(n) == S_NULL) {
		err(C, "schema-type", n->loc, "%s must be a string, not a %s", what, node_kind_name(n));
		return NULL;
	}
	return arena_strdup(C->pb->arena, n->str);
}

/* The characters of a playbook name (see PLAYBOOK_NAME_MAX). */
static int name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
	       c == '-';
}

static int name_safe(const char *s, size_t n)
{
	if (!n || n > PLAYBOOK_NAME_MAX || s[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!name_char(s[i]))
			return 0;
	return 1;
}

/* The safe name nearest to s (n bytes): characters it may not hold are
 * dropped at the ends (leading dots too) and become '_' inside; "playbook"
 * when nothing is left. */
static const char *name_from(struct arena *a, const char *s, size_t n)
{
	while (n && (s[0] == '.' || !name_char(s[0]))) {
		s++;
		n--;
	}
	while (n && !name_char(s[n - 1]))
		n--;
	if (n > PLAYBOOK_NAME_MAX)
		n = PLAYBOOK_NAME_MAX;
	if (!n)
		return "playbook";
	char *o = arena_strndup(a, s, n);
	for (char *p = o; *p; p++)
		if (!name_char(*p))
			*p = '_';
	return o;
}

static int want_bool(struct checker *C, const struct node *n, const char *what, int *out)
{
	if (!n)
		return 0;
	if (node_bool(n, out) != 0) {
		err(C, "schema-type", n->loc, "%s must be true or false, not %s '%s'", what,
		    node_kind_name(n), n->kind == N_SCALAR ? n->str : "...");
		return -1;
	}
	return 0;
}

static int want_duration(struct checker *C, const struct node *n, const char *what, int64_t *out)
{
	if (!n)
		return 0;
	int64_t v;
	int rc = -1;
	if (n->kind == N_SCALAR && node_int(n, &v) == 0 && v >= 0)
		rc = duration_from_secs(v, out);
	else if (n->kind == N_SCALAR)
		rc = parse_duration(n->str, out);
	if (rc == 0)
		return 0;
	if (rc == -2) {
		err(C, "schema-value", n->loc,
		    "%s '%s' is longer than the longest duration drplay accepts, 36500d (100 years)", what,
		    n->str);
		return -1;
	}
	err(C, "schema-value", n->loc,
	    "%s must be a duration such as 90s, 15m or 24h, not '%s'", what,
	    n->kind == N_SCALAR ? n->str : node_kind_name(n));
	return -1;
}

/* ---- references inside templates and expressions ---- */

static const char *const run_fields[] = { "id", "mode", "started_at", "playbook", "file", NULL };
static const char *const step_implicit[] = { "outcome", "duration", "error", NULL };
static const char *const res_implicit[] = { "name", "kind", "live", "throwaway", NULL };

static int in_list(const char *s, const char *const *l)
{
	for (; *l; l++)
		if (!strcmp(s, *l))
			return 1;
	return 0;
}

struct ref_ctx {
	struct checker *C;
	int secret, dynamic;
};

static int check_ref(const struct expr_ref *r, void *ud)
{
	struct ref_ctx *rc = ud;
	struct checker *C = rc->C;
	struct playbook *pb = C->pb;
	if (!strcmp(r->root, "secret")) {
		rc->secret = 1;
		if (!r->name)
			err(C, "unknown-reference", r->loc, "'secret' needs a name: write secret.NAME");
		return 0;
	}
	if (!strcmp(r->root, "env")) {
		if (!r->name)
			err(C, "unknown-reference", r->loc, "'env' needs a name: write env.NAME");
		return 0;
	}
	if (!strcmp(r->root, "params")) {
		if (!r->name)
			return 0;
		if (!playbook_param(pb, r->name)) {
			err(C, "undeclared-param", r->loc,
			    "reference to undeclared param '%s'%s; declare it under 'params:'", r->name,
			    SUGGEST_IN(C, r->name, pb->params, pb->nparams, name));
		}
		return 0;
	}
	if (!strcmp(r->root, "run")) {
		if (r->name && !in_list(r->name, run_fields))
			err(C, "unknown-reference", r->loc,
			    "unknown run field '%s'%s; run has id, mode, started_at, playbook and file",
			    r->name, suggest(C, r->name, run_fields, ARRAY_SIZE(run_fields) - 1));
		return 0;
	}
	if (!strcmp(r->root, "resources")) {
		if (!r->name)
			return 0;
		const struct resource_def *rd = playbook_resource(pb, r->name);
		if (!rd) {
			err(C, "unknown-resource", r->loc,
			    "reference to undeclared resource '%s'; declare it under 'resources:'", r->name);
			return 0;
		}
		if (r->field && rd->kind && !in_list(r->field, res_implicit) &&
		    !param_find(rd->kind->fields, r->field))
			err(C, "unknown-reference", r->loc,
			    "resource '%s' (kind %s) has no field '%s'; see `drplay actions` for the kind's fields",
			    r->name, rd->kind->name, r->field);
		return 0;
	}
	if (!strcmp(r->root, "steps")) {
		rc->dynamic = 1;
		if (!r->name)
			return 0;
		long idx = playbook_step_index(pb, r->name);
		if (idx < 0) {
			if (!C->in_resource || pb->nsteps) {
				err(C, "step-order", r->loc, "reference to unknown step '%s'%s", r->name,
				    SUGGEST_IN(C, r->name, pb->steps, pb->nsteps, id));
			}
			return 0;
		}
		if (C->cur_step >= 0 && idx >= C->cur_step) {
			err(C, "step-order", r->loc,
			    "step '%s' does not run before this step, so its outputs do not exist yet; move it earlier",
			    r->name);
			return 0;
		}
		const struct step *src = &pb->steps[idx];
		if (r->field && src->def && !in_list(r->field, step_implicit)) {
			const struct output_spec *o = src->def->outputs;
			int found = 0, any = 0;
			for (; o && o->name; o++) {
				if (!strcmp(o->name, "*"))
					any = 1;
				if (!strcmp(o->name, r->field))
					found = 1;
			}
			if (!found && !any) {
				const char *names[64];
				size_t n = 0;
				for (o = src->def->outputs; o && o->name && n < 63; o++)
					names[n++] = o->name;
				names[n] = NULL;
				err(C, "unknown-output", r->loc,
				    "action %s (step '%s') has no output '%s'%s; its outputs are listed by `drplay actions %s`",
				    src->def->name, r->name, r->field, suggest(C, r->field, names, n),
				    src->def->name);
			}
		}
		return 0;
	}
	return 0;
}

/* Compiles a node into a vtree, checking references on the way. `as_expr`
 * makes a string scalar an expression (T_EXPR). */
static struct vtree *compile(struct checker *C, const struct node *n, int as_expr)
{
	struct playbook *pb = C->pb;
	struct vtree *v = arena_alloc(pb->arena, sizeof(*v));
	v->loc = n->loc;
	if (n->kind == N_MAP) {
		v->kind = VT_MAP;
		v->n = n->n;
		v->keys = arena_alloc(pb->arena, (n->n + 1) * sizeof(*v->keys));
		v->key_locs = arena_alloc(pb->arena, (n->n + 1) * sizeof(*v->key_locs));
		v->vals = arena_alloc(pb->arena, (n->n + 1) * sizeof(*v->vals));
		for (size_t i = 0; i < n->n; i++) {
			const struct node *k = n->keys[i];
			v->keys[i] = k->kind == N_SCALAR ? k->str : "?";
			v->key_locs[i] = k->loc;
			if (k->kind != N_SCALAR)
				err(C, "schema-type", k->loc, "mapping keys must be plain names, not a %s",
				    node_kind_name(k));
			v->vals[i] = compile(C, n->vals[i], 0);
			v->dynamic |= v->vals[i]->dynamic;
			v->secret |= v->vals[i]->secret;
		}
		return v;
	}
	if (n->kind == N_SEQ) {
		v->kind = VT_SEQ;
		v->n = n->n;
		v->vals = arena_alloc(pb->arena, (n->n + 1) * sizeof(*v->vals));
		for (size_t i = 0; i < n->n; i++) {
			v->vals[i] = compile(C, n->vals[i], 0);
			v->dynamic |= v->vals[i]->dynamic;
			v->secret |= v->vals[i]->secret;
		}
		return v;
	}
	struct ref_ctx rc = { .C = C };
	if (as_expr && node_scalar_type(n) != S_NULL) {
		v->kind = VT_EXPR;
		v->expr = expr_parse(n->str, content_loc(n), C->d);
		if (v->expr) {
			track_expr(pb, v->expr);
			expr_refs(v->expr, check_ref, &rc);
		}
		v->dynamic = rc.dynamic;
		v->secret = rc.secret;
		return v;
	}
	if (node_scalar_type(n) == S_STR && strstr(n->str, "${")) {
		v->kind = VT_TMPL;
		v->tmpl = tmpl_parse(n->str, content_loc(n), C->d);
		if (v->tmpl) {
			track_tmpl(pb, v->tmpl);
			tmpl_refs(v->tmpl, check_ref, &rc);
		}
		v->dynamic = rc.dynamic;
		v->secret = rc.secret;
		if (!v->tmpl) {
			v->kind = VT_LIT;
			v->lit = json_string("");
			track_json(pb, v->lit);
		}
		return v;
	}
	v->kind = VT_LIT;
	if (node_scalar_type(n) == S_STR && strstr(n->str, "$${")) {
		/* A literal with escapes only: unescape through the template. */
		struct tmpl *t = tmpl_parse(n->str, content_loc(n), C->d);
		if (t) {
			track_tmpl(pb, t);
			v->lit = json_string(tmpl_literal(t) ? tmpl_literal(t) : n->str);
		}
	}
	if (!v->lit)
		v->lit = node_to_json(n);
	track_json(pb, v->lit);
	return v;
}

/* ---- typed checking of a value against a declaration ---- */

static char *json_brief(json_t *j)
{
	if (json_is_string(j))
		return xstrdup(json_string_value(j));
	char *s = json_dumps_short(j, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!s)
		return xstrdup("?");
	if (strlen(s) > 60) {
		s[57] = '.';
		s[58] = '.';
		s[59] = '.';
		s[60] = '\0';
	}
	return s;
}

/* Checks the literal parts of a compiled value against a declaration. */
static void check_value(struct checker *C, const struct param_spec *ps, const struct vtree *v,
			const char *owner)
{
	if (v->kind == VT_TMPL || v->kind == VT_EXPR)
		return; /* checked when resolved */
	if (ps->type == T_ANY || ps->type == T_MAP)
		if (v->kind == VT_MAP || ps->type == T_ANY)
			return;
	if (ps->type == T_LIST && v->kind == VT_SEQ) {
		if (!ps->allowed)
			return;
		for (size_t i = 0; i < v->n; i++) {
			const struct vtree *e = v->vals[i];
			if (e->kind != VT_LIT)
				continue;
			if (!allowed_has(ps->allowed, e->lit)) {
				struct strbuf al = STRBUF_INIT;
				allowed_list(ps->allowed, &al);
				char *b = json_brief(e->lit);
				err(C, "schema-value", e->loc, "'%s' is not allowed in %s '%s'; allowed: %s",
				    b, owner, ps->name, sb_str(&al));
				free(b);
				sb_release(&al);
			}
		}
		return;
	}
	if (v->kind == VT_MAP || v->kind == VT_SEQ) {
		if ((ps->type == T_MAP && v->kind == VT_MAP) || (ps->type == T_LIST && v->kind == VT_SEQ))
			return;
		err(C, "schema-type", v->loc, "%s '%s' must be %s, not a %s", owner, ps->name,
		    ptype_name(ps->type), v->kind == VT_MAP ? "mapping" : "list");
		return;
	}
	if (json_is_null(v->lit) && !(ps->flags & P_REQUIRED))
		return;
	const char *want = type_mismatch(ps->type, v->lit);
	if (want) {
		char *b = json_brief(v->lit);
		err(C, "schema-type", v->loc, "%s '%s' must be %s, not '%s'", owner, ps->name, want, b);
		free(b);
		return;
	}
	if (ps->allowed && !allowed_has(ps->allowed, v->lit)) {
		struct strbuf al = STRBUF_INIT;
		allowed_list(ps->allowed, &al);
		char *b = json_brief(v->lit);
		err(C, "schema-value", v->loc, "%s '%s' is '%s', which is not one of: %s", owner, ps->name,
		    b, sb_str(&al));
		free(b);
		sb_release(&al);
	}
}

/* 1 when kind is one of the '|'-separated kinds in list ("s3|dir"). */
static int kind_in(const char *list, const char *kind)
{
	size_t n = strlen(kind);
	for (const char *p = list; *p;) {
		const char *e = strchr(p, '|');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		if (l == n && !strncmp(p, kind, n))
			return 1;
		if (!e)
			break;
		p = e + 1;
	}
	return 0;
}

/* A resource the import already reported as bound to the wrong kind: its
 * uses inside the procedure are that one error, not one more each. */
static int misbound(const struct checker *C, const char *name)
{
	const struct doc *doc = C->pb->doc;
	for (size_t i = 0; doc && i < doc->nmisbound; i++)
		if (!strcmp(doc->misbound[i], name))
			return 1;
	return 0;
}

/* A T_RESOURCE literal must name a declared resource of the right kind
 * (a parameter may accept several kinds: "s3|dir"). */
static void check_resource_ref(struct checker *C, const struct param_spec *ps, const struct vtree *v,
			       const char *owner)
{
	if (v->kind != VT_LIT || !json_is_string(v->lit))
		return;
	const char *name = json_string_value(v->lit);
	const struct resource_def *rd = playbook_resource(C->pb, name);
	if (!rd) {
		err(C, "unknown-resource", v->loc, "%s '%s' names undeclared resource '%s'%s; declare it under 'resources:'",
		    owner, ps->name, name, SUGGEST_IN(C, name, C->pb->resources, C->pb->nresources, name));
		return;
	}
	if (ps->kind && rd->kind && !kind_in(ps->kind, rd->kind->name) && !misbound(C, name))
		err(C, "resource-kind", v->loc, "%s '%s' needs a resource of kind %s, but '%s' is of kind %s",
		    owner, ps->name, ps->kind, name, rd->kind->name);
}

/* ---- sections ---- */

static const char *const top_keys[] = { "drplay", "name", "description", "modes", "params",
					"resources", "steps", "objectives", "import", NULL };

static void check_modes(struct checker *C, const struct node *n)
{
	struct playbook *pb = C->pb;
	if (!n) {
		pb->modes = MODE_VALIDATION;
		pb->default_mode = MODE_VALIDATION;
		return;
	}
	if (n->kind != N_MAP) {
		err(C, "schema-type", n->loc, "'modes' must be a mapping with validation and/or disaster, not a %s",
		    node_kind_name(n));
		pb->modes = MODE_VALIDATION;
		pb->default_mode = MODE_VALIDATION;
		return;
	}
	static const char *const mode_keys[] = { "validation", "disaster", NULL };
	known_keys(C, n, mode_keys, "modes");
	unsigned defaults = 0;
	for (size_t i = 0; i < n->n; i++) {
		const struct node *k = n->keys[i], *v = n->vals[i];
		if (k->kind != N_SCALAR)
			continue;
		unsigned m = mode_parse(k->str);
		if (!m)
			continue;
		pb->modes |= m;
		if (v->kind == N_SCALAR && node_scalar_type(v) == S_NULL) {
			if (m == MODE_DISASTER) {
				pb->disaster_loc = k->loc;
			}
			continue;
		}
		if (v->kind != N_MAP) {
			err(C, "schema-type", v->loc, "mode '%s' must be a mapping, not a %s", k->str,
			    node_kind_name(v));
			continue;
		}
		static const char *const vkeys[] = { "default", "description", NULL };
		static const char *const dkeys[] = { "authorize", "default", "description", NULL };
		known_keys(C, v, m == MODE_DISASTER ? dkeys : vkeys,
			   m == MODE_DISASTER ? "mode 'disaster'" : "mode 'validation'");
		int def = 0;
		const struct node *dn = node_get(v, "default");
		if (dn && want_bool(C, dn, "'default'", &def) == 0 && def) {
			if (m == MODE_DISASTER)
				err(C, "schema-value", dn->loc,
				    "disaster cannot be the default mode: a destructive run must be asked for with --mode=disaster; remove 'default: true' here");
			else
				defaults |= m;
		}
		if (m == MODE_DISASTER) {
			pb->disaster_loc = k->loc;
			const struct node *an = node_get(v, "authorize");
			if (an) {
				if (!is_scalar_str(an) && an->kind == N_SCALAR && node_scalar_type(an) != S_NULL) {
					/* numbers are fine as tokens */
				}
				if (an->kind != N_SCALAR || node_scalar_type(an) == S_NULL) {
					err(C, "schema-type", an->loc, "'authorize' must be a string (usually ${secret.NAME})");
				} else {
					pb->authorize_loc = an->loc;
					pb->authorize = tmpl_parse(an->str, content_loc(an), C->d);
					if (pb->authorize) {
						track_tmpl(pb, pb->authorize);
						struct ref_ctx rc = { .C = C };
						C->cur_step = -1;
						tmpl_refs(pb->authorize, check_ref, &rc);
						if (rc.dynamic)
							err(C, "schema-value", an->loc,
							    "'authorize' cannot depend on step outputs: it is checked before anything runs");
						if (!rc.secret && tmpl_is_literal(pb->authorize))
							err(C, "literal-credential", an->loc,
							    "the disaster authorization token is written into the file; take it from a secret: ${secret.NAME}");
					}
				}
			}
		}
	}
	if (!pb->modes)
		pb->modes = MODE_VALIDATION;
	pb->default_mode = defaults ? defaults : (pb->modes & MODE_VALIDATION ? MODE_VALIDATION : 0);
}

static enum ptype param_type_parse(const char *s)
{
	if (!strcmp(s, "string")) return T_STRING;
	if (!strcmp(s, "int")) return T_INT;
	if (!strcmp(s, "bool")) return T_BOOL;
	if (!strcmp(s, "timestamp")) return T_TIMESTAMP;
	if (!strcmp(s, "duration")) return T_DURATION;
	if (!strcmp(s, "number")) return T_NUMBER;
	return T_ANY;
}

static const char *const param_types[] = { "string", "int", "bool", "timestamp", "duration", "number", NULL };

/* required: true, false, or the modes that need it. */
static void param_required(struct checker *C, const struct node *rq, struct param_def *p)
{
	int b;
	if (rq->kind == N_SEQ) {
		for (size_t j = 0; j < rq->n; j++) {
			const struct node *m = rq->vals[j];
			unsigned mb = m->kind == N_SCALAR ? mode_parse(m->str) : 0;
			if (!mb)
				err(C, "schema-value", m->loc, "'required' lists modes; '%s' is not validation or disaster",
				    m->kind == N_SCALAR ? m->str : "?");
			p->required |= mb;
		}
	} else if (node_bool(rq, &b) == 0) {
		p->required = b ? MODE_ALL : 0;
	} else {
		err(C, "schema-type", rq->loc, "'required' must be true, false or a list of modes such as [disaster]");
	}
}

/* allowed: a non-empty list of values of the param's type. */
static void param_allowed(struct checker *C, const struct node *al, struct param_def *p)
{
	if (al->kind != N_SEQ || al->n == 0) {
		err(C, "schema-type", al->loc, "'allowed' must be a non-empty list of values");
		return;
	}
	p->allowed = node_to_json(al);
	track_json(C->pb, p->allowed);
	for (size_t j = 0; j < al->n; j++) {
		const char *want = type_mismatch(p->type, json_array_get(p->allowed, j));
		if (want)
			err(C, "schema-type", al->vals[j]->loc, "allowed value of param '%s' must be %s", p->name, want);
	}
}

/* default: one value of the param's type, among the allowed ones. */
static void param_default(struct checker *C, const struct node *dn, struct param_def *p)
{
	if (dn->kind != N_SCALAR) {
		err(C, "schema-type", dn->loc, "the default of param '%s' must be a single value", p->name);
		return;
	}
	json_t *j = node_to_json(dn);
	const char *want = type_mismatch(p->type, j);
	if (want) {
		err(C, "schema-type", dn->loc, "the default of param '%s' must be %s, not '%s'", p->name, want, dn->str);
		json_decref(j);
		return;
	}
	p->def = j;
	track_json(C->pb, j);
	if (!p->allowed)
		return;
	size_t ai;
	json_t *e;
	json_array_foreach(p->allowed, ai, e) if (json_equal(e, j)) return;
	err(C, "schema-value", dn->loc, "the default of param '%s' is not among its allowed values", p->name);
}

/* One declared param (its name already checked): type, description,
 * required, allowed, default. */
static void check_param(struct checker *C, const struct node *v, struct param_def *p)
{
	static const char *const keys[] = { "type", "default", "allowed", "description", "required", NULL };
	if (v->kind == N_SCALAR && node_scalar_type(v) == S_NULL)
		return;
	if (v->kind != N_MAP) {
		err(C, "schema-type", v->loc, "param '%s' must be a mapping such as {type: string}, not a %s", p->name,
		    node_kind_name(v));
		return;
	}
	known_keys(C, v, keys, "a param");
	const struct node *t = node_get(v, "type");
	if (t && (t->kind != N_SCALAR || param_type_parse(t->str) == T_ANY))
		err(C, "schema-value", t->loc,
		    "param type '%s' is unknown; use string, int, bool, timestamp, duration or number%s",
		    t->kind == N_SCALAR ? t->str : "?", t->kind == N_SCALAR ? suggest(C, t->str, param_types, 6) : "");
	else if (t)
		p->type = param_type_parse(t->str);
	p->desc = want_string(C, node_get(v, "description"), "'description'");
	const struct node *rq = node_get(v, "required");
	if (rq)
		param_required(C, rq, p);
	const struct node *al = node_get(v, "allowed");
	if (al)
		param_allowed(C, al, p);
	const struct node *dn = node_get(v, "default");
	if (dn && !(dn->kind == N_SCALAR && node_scalar_type(dn) == S_NULL))
		param_default(C, dn, p);
	if (p->def && p->required)
		warn(C, "schema-value", rq->loc, "param '%s' is required and has a default; the default is never used",
		     p->name);
}

static void check_params(struct checker *C, const struct node *n)
{
	struct playbook *pb = C->pb;
	if (!n)
		return;
	if (n->kind != N_MAP) {
		err(C, "schema-type", n->loc, "'params' must be a mapping of name: {type: ...}, not a %s",
		    node_kind_name(n));
		return;
	}
	pb->params = arena_alloc(pb->arena, (n->n + 1) * sizeof(*pb->params));
	for (size_t i = 0; i < n->n; i++) {
		const struct node *k = n->keys[i];
		if (k->kind != N_SCALAR) {
			err(C, "schema-type", k->loc, "a param name must be a plain name, not a %s", node_kind_name(k));
			continue;
		}
		if (!valid_ident(k->str, 1, 0) || isdigit((unsigned char)k->str[0])) {
			err(C, "schema-value", k->loc,
			    "param name '%s' is not valid; use letters, digits and '_' (not starting with a digit)", k->str);
			continue;
		}
		struct param_def *p = &pb->params[pb->nparams++];
		p->name = k->str;
		p->loc = k->loc;
		p->type = T_STRING;
		check_param(C, n->vals[i], p);
	}
}

static const char *const res_keys_base[] = { "kind", "live", "throwaway", "description", NULL };

/* A resource's kind, looked up in the registry (r->kind NULL when it is
 * missing or unknown). */
static void resource_kind(struct checker *C, const struct node *k, const struct node *v, struct resource_def *r)
{
	if (v->kind != N_MAP) {
		err(C, "schema-type", v->loc, "resource '%s' must be a mapping with a 'kind', not a %s", k->str,
		    node_kind_name(v));
		return;
	}
	const struct node *kn = node_get(v, "kind");
	if (!kn && node_get(v, "bind")) {
		err(C, "schema-missing", v->loc,
		    "resource '%s' is a procedure's slot (bind:), bound by the playbook that imports it; a procedure is not run or linted by itself: lint a playbook with import: drplay:NAME@MAJOR (SPEC 1.5)",
		    k->str);
		return;
	}
	if (!kn) {
		err(C, "schema-missing", v->loc, "resource '%s' has no 'kind'; add one (see `drplay actions` for kinds)",
		    k->str);
		return;
	}
	if (kn->kind != N_SCALAR) {
		err(C, "schema-type", kn->loc, "'kind' must be a name");
		return;
	}
	r->kind = kind_find(kn->str);
	if (r->kind)
		return;
	size_t nk;
	const struct kind_def *const *all = kinds_all(&nk);
	const char **names = xcalloc(nk + 1, sizeof(*names));
	struct strbuf sb = STRBUF_INIT;
	for (size_t j = 0; j < nk; j++) {
		names[j] = all[j]->name;
		sb_addf(&sb, "%s%s", j ? ", " : "", names[j]);
	}
	err(C, "unknown-kind", kn->loc, "unknown resource kind '%s'%s; %s%s", kn->str, suggest(C, kn->str, names, nk),
	    nk ? "known kinds: " : "no resource kinds are registered", sb_str(&sb));
	sb_release(&sb);
	free(names);
}

/* One field of a resource: a field its kind declares, compiled and checked. */
static void resource_field(struct checker *C, struct resource_def *r, const struct node *fk, const struct node *fv,
			   const char *owner)
{
	const struct param_spec *fs = param_find(r->kind->fields, fk->str);
	if (!fs) {
		const char *names[64];
		size_t nn = 0;
		for (const struct param_spec *p = r->kind->fields; p->name && nn < 60; p++)
			names[nn++] = p->name;
		for (size_t b = 0; res_keys_base[b]; b++)
			names[nn++] = res_keys_base[b];
		names[nn] = NULL;
		err(C, "schema-unknown-key", fk->loc, "unknown field '%s' for a resource of kind %s%s", fk->str,
		    r->kind->name, suggest(C, fk->str, names, nn));
		return;
	}
	struct vtree *v = compile(C, fv, 0);
	r->fspecs[r->nfields] = fs;
	r->fields[r->nfields] = v;
	r->field_locs[r->nfields] = fk->loc;
	r->nfields++;
	check_value(C, fs, v, owner);
	if (fs->type == T_RESOURCE)
		check_resource_ref(C, fs, v, owner);
	guard_literal_credential(C->d, fs, v, owner);
}

/* The kind's own checks, over the fields as a step's arguments. */
static void resource_kind_check(struct checker *C, const struct resource_def *r)
{
	struct step fake = { 0 };
	fake.args = arena_alloc(C->pb->arena, (r->nfields + 1) * sizeof(*fake.args));
	for (size_t j = 0; j < r->nfields; j++)
		fake.args[j] = (struct arg){ .spec = r->fspecs[j], .v = r->fields[j], .loc = r->field_locs[j] };
	fake.nargs = r->nfields;
	fake.loc = r->loc;
	fake.id = r->name;
	struct argq q = { .st = &fake, .d = C->d };
	r->kind->check(&q);
}

/* A resource's flags and fields (its kind known). */
static void resource_body(struct checker *C, const struct node *v, struct resource_def *r)
{
	struct playbook *pb = C->pb;
	const struct node *ln = node_get(v, "live"), *tn = node_get(v, "throwaway");
	want_bool(C, ln, "'live'", &r->live);
	want_bool(C, tn, "'throwaway'", &r->throwaway);
	if (r->live && r->throwaway)
		err(C, "schema-value", tn->loc,
		    "resource '%s' is both live and throwaway; a live resource must never be overwritten by a validation run: pick one",
		    r->name);
	want_string(C, node_get(v, "description"), "'description'");
	if (!r->kind)
		return;
	r->fspecs = arena_alloc(pb->arena, (v->n + 1) * sizeof(*r->fspecs));
	r->fields = arena_alloc(pb->arena, (v->n + 1) * sizeof(*r->fields));
	r->field_locs = arena_alloc(pb->arena, (v->n + 1) * sizeof(*r->field_locs));
	char *owner = xasprintf("resource '%s' field", r->name);
	for (size_t j = 0; j < v->n; j++)
		if (v->keys[j]->kind == N_SCALAR && !in_list(v->keys[j]->str, res_keys_base))
			resource_field(C, r, v->keys[j], v->vals[j], owner);
	free(owner);
	for (const struct param_spec *p = r->kind->fields; p->name; p++)
		if ((p->flags & P_REQUIRED) && !node_get(v, p->name))
			err(C, "schema-missing", v->loc, "resource '%s' (kind %s) needs field '%s': %s", r->name,
			    r->kind->name, p->name, p->doc ? p->doc : "");
	if (r->kind->check)
		resource_kind_check(C, r);
}

static void check_resources(struct checker *C, const struct node *n)
{
	struct playbook *pb = C->pb;
	if (!n)
		return;
	if (n->kind != N_MAP) {
		err(C, "schema-type", n->loc, "'resources' must be a mapping of name: {kind: ...}, not a %s",
		    node_kind_name(n));
		return;
	}
	pb->resources = arena_alloc(pb->arena, (n->n + 1) * sizeof(*pb->resources));
	/* First the names and kinds, so that fields may refer to other resources. */
	for (size_t i = 0; i < n->n; i++) {
		const struct node *k = n->keys[i];
		if (k->kind != N_SCALAR) {
			err(C, "schema-type", k->loc, "a resource name must be a plain name, not a %s", node_kind_name(k));
			continue;
		}
		if (!valid_ident(k->str, 1, 1)) {
			err(C, "schema-value", k->loc,
			    "resource name '%s' is not valid; use letters, digits, '_' and '-'", k->str);
			continue;
		}
		struct resource_def *r = &pb->resources[pb->nresources++];
		r->name = k->str;
		r->loc = k->loc;
		resource_kind(C, k, n->vals[i], r);
	}
	/* Then each one's flags and fields. */
	C->in_resource = 1;
	C->cur_step = -1;
	size_t ri = 0;
	for (size_t i = 0; i < n->n; i++) {
		const struct node *k = n->keys[i], *v = n->vals[i];
		if (k->kind != N_SCALAR || !valid_ident(k->str, 1, 1))
			continue;
		struct resource_def *r = &pb->resources[ri++];
		if (v->kind == N_MAP)
			resource_body(C, v, r);
	}
	C->in_resource = 0;
}

/* Inserts step i into the id index; returns the index of an earlier step
 * with the same id, or -1. */
static long index_step(struct playbook *pb, size_t i)
{
	size_t mask = pb->step_hash_cap - 1;
	for (size_t h = plan_hash(pb->steps[i].id) & mask;; h = (h + 1) & mask) {
		size_t v = pb->step_hash[h];
		if (v == 0) {
			pb->step_hash[h] = i + 1;
			return -1;
		}
		if (!strcmp(pb->steps[v - 1].id, pb->steps[i].id))
			return (long)(v - 1);
	}
}

/* First pass over steps: ids, so that references can be checked in order. */
static void collect_steps(struct checker *C, const struct node *n)
{
	struct playbook *pb = C->pb;
	pb->steps = arena_alloc(pb->arena, (n->n + 1) * sizeof(*pb->steps));
	pb->step_hash_cap = 16;
	while (pb->step_hash_cap < 2 * n->n + 2)
		pb->step_hash_cap *= 2;
	pb->step_hash = arena_alloc(pb->arena, pb->step_hash_cap * sizeof(*pb->step_hash));
	for (size_t i = 0; i < n->n; i++) {
		const struct node *s = n->vals[i];
		struct step *st = &pb->steps[pb->nsteps];
		st->loc = s->loc;
		st->index = pb->nsteps;
		pb->nsteps++;
		if (s->kind != N_MAP) {
			err(C, "schema-type", s->loc, "each step must be a mapping with id and action, not a %s",
			    node_kind_name(s));
			st->id = "";
			continue;
		}
		const struct node *id = node_get(s, "id");
		if (!id) {
			err(C, "schema-missing", s->loc, "step %zu has no 'id'; give it a unique id of [a-z0-9_]",
			    i + 1);
			st->id = arena_strdup(pb->arena, "");
			continue;
		}
		if (id->kind != N_SCALAR || !valid_ident(id->str, 0, 0)) {
			err(C, "schema-value", id->loc,
			    "step id '%s' is not valid; use lower-case letters, digits and '_'",
			    id->kind == N_SCALAR ? id->str : "?");
			st->id = arena_strdup(pb->arena, "");
			continue;
		}
		st->id = id->str;
		long first = index_step(pb, st->index);
		if (first >= 0)
			err(C, "step-duplicate-id", id->loc,
			    "duplicate step id '%s' (first used at line %d); step ids must be unique",
			    st->id, pb->steps[first].loc.line);
	}
}

/* The step's action, looked up in the registry. */
static void step_action(struct checker *C, const struct node *s, struct step *st)
{
	const struct node *an = node_get(s, "action");
	if (!an) {
		err(C, "schema-missing", s->loc, "step '%s' has no 'action'; see `drplay actions` for the list",
		    st->id);
		return;
	}
	if (an->kind != N_SCALAR) {
		err(C, "schema-type", an->loc, "'action' must be an action name");
		return;
	}
	st->action_loc = an->loc;
	st->def = registry_find(an->str);
	if (st->def)
		return;
	size_t na;
	const struct action_def *const *all = registry_all(&na);
	const char **names = xcalloc(na + 1, sizeof(*names));
	for (size_t j = 0; j < na; j++)
		names[j] = all[j]->name;
	err(C, "unknown-action", an->loc, "unknown action '%s'%s; `drplay actions` lists them", an->str,
	    suggest(C, an->str, names, na));
	free(names);
}

/* A node that is a list of items, or one item: its items. */
static const struct node *const *items_of(const struct node *n, const struct node **single, size_t *ni)
{
	if (n->kind == N_SEQ) {
		*ni = n->n;
		return (const struct node *const *)n->vals;
	}
	*single = n;
	*ni = 1;
	return single;
}

/* modes: where the step runs (a mode or a list of them, each declared). */
static void step_modes(struct checker *C, const struct node *mn, struct step *st)
{
	struct playbook *pb = C->pb;
	st->has_modes = 1;
	st->modes_loc = mn->loc;
	st->modes = 0;
	const struct node *single;
	size_t ni;
	const struct node *const *items = items_of(mn, &single, &ni);
	for (size_t j = 0; j < ni; j++) {
		const struct node *m = items[j];
		unsigned mb = m->kind == N_SCALAR ? mode_parse(m->str) : 0;
		if (!mb) {
			err(C, "schema-value", m->loc, "'%s' is not a mode; use validation or disaster",
			    m->kind == N_SCALAR ? m->str : "?");
			continue;
		}
		if (!(pb->modes & mb)) {
			err(C, "schema-value", m->loc,
			    "step '%s' runs in mode '%s', which the playbook does not declare under 'modes:'", st->id,
			    m->str);
			continue;
		}
		st->modes |= mb;
	}
}

/* when: an expression (`when: false` parks a step; it stays an expression). */
static void step_when(struct checker *C, const struct node *wn, struct step *st)
{
	st->when_loc = wn->loc;
	if (wn->kind != N_SCALAR) {
		err(C, "schema-type", wn->loc, "'when' must be an expression string");
		return;
	}
	struct vtree *v = compile(C, wn, 1);
	st->when = v->expr;
}

/* requires: earlier steps, by id. */
static void step_requires(struct checker *C, const struct node *rn, struct step *st)
{
	struct playbook *pb = C->pb;
	st->requires_loc = rn->loc;
	const struct node *single;
	size_t ni;
	const struct node *const *items = items_of(rn, &single, &ni);
	st->requires = arena_alloc(pb->arena, (ni + 1) * sizeof(*st->requires));
	for (size_t j = 0; j < ni; j++) {
		const struct node *r = items[j];
		if (r->kind != N_SCALAR) {
			err(C, "schema-type", r->loc, "'requires' lists step ids");
			continue;
		}
		long idx = playbook_step_index(pb, r->str);
		if (idx < 0) {
			err(C, "step-order", r->loc, "'requires' names unknown step '%s'", r->str);
			continue;
		}
		if (idx >= (long)st->index) {
			err(C, "step-order", r->loc,
			    "'requires' names step '%s', which does not run before '%s'; steps run in order: move it earlier",
			    r->str, st->id);
			continue;
		}
		st->requires[st->nrequires++] = (size_t)idx;
	}
}

/* gate, always, on_failure: what a failure of the step does to the run. */
static void step_flow(struct checker *C, const struct node *s, struct step *st)
{
	const struct node *g = node_get(s, "gate");
	if (g) {
		st->gate_loc = g->loc;
		want_bool(C, g, "'gate'", &st->gate);
	}
	const struct node *al = node_get(s, "always");
	if (al) {
		st->always_loc = al->loc;
		want_bool(C, al, "'always'", &st->always);
	}
	const struct node *of = node_get(s, "on_failure");
	if (of) {
		st->on_failure_loc = of->loc;
		if (of->kind == N_SCALAR && !strcmp(of->str, "continue"))
			st->cont = 1;
		else if (!(of->kind == N_SCALAR && !strcmp(of->str, "stop")))
			err(C, "schema-value", of->loc, "'on_failure' must be stop or continue, not '%s'",
			    of->kind == N_SCALAR ? of->str : "?");
	}
}

/* retries: a count, or {count: N, delay: 5s}. */
static void step_retries(struct checker *C, const struct node *rt, struct step *st)
{
	int64_t cnt = 0;
	st->retry_delay_us = 1000000;
	if (rt->kind == N_SCALAR && node_int(rt, &cnt) == 0) {
		st->retries = (int)cnt;
	} else if (rt->kind == N_MAP) {
		static const char *const rkeys[] = { "count", "delay", NULL };
		known_keys(C, rt, rkeys, "'retries'");
		const struct node *cn = node_get(rt, "count");
		if (!cn)
			err(C, "schema-missing", rt->loc, "'retries' needs 'count'");
		else if (node_int(cn, &cnt) != 0)
			err(C, "schema-type", cn->loc, "'count' must be an integer");
		st->retries = (int)cnt;
		want_duration(C, node_get(rt, "delay"), "'delay'", &st->retry_delay_us);
	} else {
		err(C, "schema-type", rt->loc, "'retries' must be {count: N, delay: 5s}");
	}
	if (cnt < 0 || cnt > 100) {
		err(C, "schema-value", rt->loc, "'retries' count must be between 0 and 100");
		st->retries = 0;
	}
}

/* One `with:` entry: a parameter the action declares, compiled and checked. */
static void step_arg_check(struct checker *C, struct step *st, const struct node *k, const struct node *v,
			   const char *owner)
{
	const struct param_spec *ps = param_find(st->def->params, k->str);
	if (!ps) {
		const char *names[64];
		size_t nn = 0;
		for (const struct param_spec *p = st->def->params; p && p->name && nn < 63; p++)
			names[nn++] = p->name;
		names[nn] = NULL;
		err(C, "unknown-param", k->loc, "action %s has no parameter '%s'%s", st->def->name, k->str,
		    suggest(C, k->str, names, nn));
		return;
	}
	struct arg *a = &st->args[st->nargs++];
	a->spec = ps;
	a->loc = k->loc;
	a->v = compile(C, v, ps->type == T_EXPR);
	check_value(C, ps, a->v, owner);
	if (ps->type == T_RESOURCE)
		check_resource_ref(C, ps, a->v, owner);
	guard_literal_credential(C->d, ps, a->v, owner);
}

/* with: the action's parameters, every required one given, then the
 * action's own checks. */
static void step_with(struct checker *C, const struct node *s, struct step *st)
{
	struct playbook *pb = C->pb;
	const struct node *wt = node_get(s, "with");
	if (wt && !(wt->kind == N_SCALAR && node_scalar_type(wt) == S_NULL) && wt->kind != N_MAP) {
		err(C, "schema-type", wt->loc, "'with' must be a mapping of parameters, not a %s", node_kind_name(wt));
		wt = NULL;
	}
	if (!st->def)
		return;
	size_t nw = wt && wt->kind == N_MAP ? wt->n : 0;
	st->args = arena_alloc(pb->arena, (nw + 1) * sizeof(*st->args));
	char *owner = xasprintf("%s parameter", st->def->name);
	for (size_t j = 0; j < nw; j++)
		if (wt->keys[j]->kind == N_SCALAR)
			step_arg_check(C, st, wt->keys[j], wt->vals[j], owner);
	free(owner);
	for (const struct param_spec *p = st->def->params; p && p->name; p++) {
		if ((p->flags & P_REQUIRED) && !step_arg(st, p->name))
			err(C, "schema-missing", wt ? wt->loc : s->loc,
			    "action %s needs parameter '%s' (%s); add it under 'with:'", st->def->name, p->name,
			    p->doc ? p->doc : ptype_name(p->type));
	}
	if (st->def->check) {
		struct argq q = { .st = st, .d = C->d };
		st->def->check(&q);
	}
}

static void check_step(struct checker *C, const struct node *s, struct step *st)
{
	C->cur_step = (long)st->index;
	known_keys(C, s, step_key_names(), "a step");
	st->modes = C->pb->modes;
	step_action(C, s, st);
	st->desc = want_string(C, node_get(s, "description"), "'description'");
	const struct node *n;
	if ((n = node_get(s, "modes")))
		step_modes(C, n, st);
	if ((n = node_get(s, "when")))
		step_when(C, n, st);
	if ((n = node_get(s, "requires")))
		step_requires(C, n, st);
	step_flow(C, s, st);
	const struct node *to = node_get(s, "timeout");
	if (to && want_duration(C, to, "'timeout'", &st->timeout_us) == 0 && st->timeout_us == 0)
		err(C, "schema-value", to->loc, "'timeout' must be longer than 0s");
	if ((n = node_get(s, "retries")))
		step_retries(C, n, st);
	step_with(C, s, st);
}

static void check_objectives(struct checker *C, const struct node *n)
{
	if (!n)
		return;
	if (n->kind != N_MAP) {
		err(C, "schema-type", n->loc, "'objectives' must be a mapping such as {rto: 15m, rpo: 24h}");
		return;
	}
	static const char *const keys[] = { "rto", "rpo", NULL };
	known_keys(C, n, keys, "'objectives'");
	want_duration(C, node_get(n, "rto"), "'rto'", &C->pb->rto_us);
	want_duration(C, node_get(n, "rpo"), "'rpo'", &C->pb->rpo_us);
}

struct playbook *playbook_check(struct doc *doc, struct diags *d)
{
	struct playbook *pb = xcalloc(1, sizeof(*pb));
	pb->doc = doc;
	pb->arena = arena_new();
	pb->file = doc->file;
	struct checker C = { .pb = pb, .d = d, .cur_step = -1, .suggest_budget = SUGGEST_BUDGET };
	const struct node *root = import_expand(doc, d);
	if (doc->imported)
		pb->import_ref = doc->imported->import_ref;
	if (!root && doc->root) { /* an import that cannot be resolved */
		pb->doc = NULL;
		playbook_free(pb);
		sb_release(&C.hint);
		return NULL;
	}
	if (!root) {
		if (d->nerr == 0) {
			struct loc l = { .file = doc->file, .line = 1, .col = 1 };
			err(&C, "schema-type", l,
			    "the playbook is empty; it must be a mapping that starts with 'drplay: 1'");
		}
		pb->doc = NULL;
		playbook_free(pb);
		sb_release(&C.hint);
		return NULL;
	}
	if (root->kind != N_MAP) {
		err(&C, "schema-type", root->loc,
		    "the playbook must be a mapping with keys drplay, name, steps..., not a %s",
		    node_kind_name(root));
		pb->doc = NULL;
		playbook_free(pb);
		sb_release(&C.hint);
		return NULL;
	}
	known_keys(&C, root, top_keys, "the playbook");
	const struct node *ver = node_get(root, "drplay");
	int64_t v = 0;
	if (!ver) {
		struct loc l = root->loc;
		err(&C, "format-version", l,
		    "missing the format version; add 'drplay: 1' as the first line");
	} else if (node_int(ver, &v) != 0 || v != 1) {
		err(&C, "format-version", ver->loc,
		    "unknown format version '%s'; this drplay (%s) reads format 1: write 'drplay: 1' or upgrade drplay",
		    ver->kind == N_SCALAR ? ver->str : node_kind_name(ver), DRPLAY_VERSION);
	}
	const struct node *nm = node_get(root, "name");
	pb->name = want_string(&C, nm, "'name'");
	if (pb->name && !name_safe(nm->str, nm->len)) {
		err(&C, "schema-value", nm->loc,
		    "playbook name '%.80s' is not allowed: it also names the lock file <journal-dir>/NAME.lock, so it may hold only letters, digits, '.', '_' and '-', not start with '.', and have at most %d characters; use a name such as '%s'",
		    pb->name, PLAYBOOK_NAME_MAX, name_from(pb->arena, nm->str, nm->len));
		pb->name = name_from(pb->arena, nm->str, nm->len);
	}
	if (!pb->name) {
		/* the file name up to its first dot (leading dots skipped) */
		const char *base = strrchr(doc->file, '/');
		base = base ? base + 1 : doc->file;
		base += strspn(base, ".");
		pb->name = name_from(pb->arena, base, strcspn(base, "."));
	}
	pb->desc = want_string(&C, node_get(root, "description"), "'description'");
	check_params(&C, node_get(root, "params"));
	check_modes(&C, node_get(root, "modes"));
	check_resources(&C, node_get(root, "resources"));
	check_objectives(&C, node_get(root, "objectives"));
	const struct node *steps = node_get(root, "steps");
	if (!steps) {
		err(&C, "schema-missing", root->loc, "the playbook has no 'steps'; add a list of steps");
	} else if (steps->kind != N_SEQ) {
		err(&C, "schema-type", steps->loc, "'steps' must be a list, not a %s", node_kind_name(steps));
	} else {
		collect_steps(&C, steps);
		for (size_t i = 0; i < steps->n; i++)
			if (steps->vals[i]->kind == N_MAP)
				check_step(&C, steps->vals[i], &pb->steps[i]);
	}
	sb_release(&C.hint);
	return pb;
}
