/*
 * import.c: resolving `import: drplay:NAME@MAJOR` (import.h). The importing
 * file is an environment: it binds resources, gives param values and may
 * set name, description and objectives. The procedure is a playbook whose
 * resources that the environment must provide are slots, written
 * `{bind: KIND or [KINDS], description: ...}` (with `live: true` or
 * `throwaway: true` where the procedure relies on the flag). The result is
 * one tree made of the procedure's nodes with the environment's nodes put
 * where they bind, so every later check runs once, over one playbook, and
 * every location still names the file a line came from.
 *
 * Written by hand over the node tree: it is a merge of two small mappings,
 * which no library does with drplay's locations kept.
 */
#include "import.h"

#include <stdlib.h>
#include <string.h>

#include "procedures.h"
#include "util.h"

/* Keys an importing playbook may have. */
static const char *const env_keys[] = { "drplay", "name", "description", "import", "params", "resources",
					"objectives", NULL };

/* ---- the shipped procedures ---- */

/* Parses "drplay:NAME@MAJOR"; the name into buf. Returns the major, 0 when
 * the @MAJOR is missing, -1 when the form is wrong. */
static int parse_ref(const char *s, char *buf, size_t cap)
{
	if (strncmp(s, "drplay:", 7))
		return -1;
	s += 7;
	size_t n = strcspn(s, "@");
	if (n == 0 || n >= cap || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") != n)
		return -1;
	memcpy(buf, s, n);
	buf[n] = 0;
	if (!s[n])
		return 0;
	int64_t v;
	if (parse_int64(s + n + 1, &v) || v < 1 || v > 999)
		return -1;
	return (int)v;
}

/* The versions of one procedure, as "NAME@1, NAME@2" (caller frees), or
 * NULL when there is none. */
static char *versions_of(const char *name)
{
	struct strbuf sb = STRBUF_INIT;
	for (const struct procedure *p = procedures; p->name; p++)
		if (!strcmp(p->name, name))
			sb_addf(&sb, "%sdrplay:%s@%d", sb.len ? ", " : "", p->name, p->major);
	return sb.len ? sb_detach(&sb) : (sb_release(&sb), NULL);
}

/* Every shipped procedure, as "drplay:a@1, drplay:b@1" (caller frees). */
static char *all_procedures(void)
{
	struct strbuf sb = STRBUF_INIT;
	for (const struct procedure *p = procedures; p->name; p++)
		sb_addf(&sb, "%sdrplay:%s@%d", sb.len ? ", " : "", p->name, p->major);
	return sb_detach(&sb);
}

static const struct procedure *find_procedure(const char *name, int major)
{
	for (const struct procedure *p = procedures; p->name; p++)
		if (!strcmp(p->name, name) && (major == 0 || p->major == major))
			return p;
	return NULL;
}

/* The procedure an import names, or NULL with the error added. */
static const struct procedure *resolve_ref(const struct node *ref, struct diags *d)
{
	char name[64];
	int major = ref->kind == N_SCALAR ? parse_ref(ref->str, name, sizeof(name)) : -1;
	if (major < 0) {
		diag_add(d, SEV_ERROR, "schema-value", ref->loc,
			 "import '%s' is not a procedure reference; write import: drplay:NAME@MAJOR, such as drplay:database_restore@1 (`drplay procedures` lists them)",
			 ref->kind == N_SCALAR ? ref->str : node_kind_name(ref));
		return NULL;
	}
	char *have = versions_of(name);
	const struct procedure *p = major ? find_procedure(name, major) : NULL;
	if (!have) {
		char *all = all_procedures();
		diag_add(d, SEV_ERROR, "schema-value", ref->loc,
			 "import '%s': drplay ships no procedure '%s'; it ships %s (`drplay procedures` lists them)",
			 ref->str, name, all);
		free(all);
	} else if (!major) {
		diag_add(d, SEV_ERROR, "schema-value", ref->loc,
			 "import '%s' names no major version; write one of: %s", ref->str, have);
	} else if (!p) {
		diag_add(d, SEV_ERROR, "schema-value", ref->loc,
			 "import '%s': procedure '%s' has no major version %d; this drplay ships %s", ref->str, name,
			 major, have);
	}
	free(have);
	return p;
}

/* ---- building the merged tree ---- */

struct merge {
	struct arena *arena;
	struct diags *d;
	const struct procedure *proc;
	const struct node *ref; /* the import line */
	struct doc *env_doc;    /* the importing playbook */
};

static struct node *map_new(struct merge *M, struct loc loc, size_t cap)
{
	struct node *m = arena_alloc(M->arena, sizeof(*m));
	m->kind = N_MAP;
	m->loc = loc;
	m->keys = arena_alloc(M->arena, (cap ? cap : 1) * sizeof(*m->keys));
	m->vals = arena_alloc(M->arena, (cap ? cap : 1) * sizeof(*m->vals));
	return m;
}

static void map_put(struct node *m, struct node *k, struct node *v)
{
	m->keys[m->n] = k;
	m->vals[m->n++] = v;
}

static struct node *scalar_new(struct merge *M, struct loc loc, const char *s)
{
	struct node *n = arena_alloc(M->arena, sizeof(*n));
	n->kind = N_SCALAR;
	n->loc = loc;
	n->str = arena_strdup(M->arena, s);
	n->len = strlen(s);
	return n;
}

/* Whether a procedure's resource is a slot the importer binds. */
static int is_slot(const struct node *v)
{
	return v && v->kind == N_MAP && node_get(v, "bind");
}

/* The names a mapping's keys hold, as "a, b, c" (caller frees). */
static char *key_list(const struct node *m, int slots_only)
{
	struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; m && m->kind == N_MAP && i < m->n; i++)
		if (!slots_only || is_slot(m->vals[i]))
			sb_addf(&sb, "%s%s", sb.len ? ", " : "", m->keys[i]->str);
	return sb_detach(&sb);
}

/* One procedure param, with the environment's value (if any) as its
 * default. */
static struct node *param_with_value(struct merge *M, const struct node *pk, const struct node *pv,
				     const struct node *val)
{
	if (!val || pv->kind != N_MAP)
		return (struct node *)pv;
	struct node *m = map_new(M, pv->loc, pv->n + 1);
	for (size_t i = 0; i < pv->n; i++)
		if (strcmp(pv->keys[i]->str, "default"))
			map_put(m, pv->keys[i], pv->vals[i]);
	map_put(m, scalar_new(M, val->loc, "default"), (struct node *)val);
	(void)pk;
	return m;
}

/* params: the procedure's, each with the value the environment gives it;
 * then the environment's own declarations (for its resources). */
static struct node *merge_params(struct merge *M, const struct node *pp, const struct node *ep)
{
	size_t np = pp && pp->kind == N_MAP ? pp->n : 0;
	size_t ne = ep && ep->kind == N_MAP ? ep->n : 0;
	if (ep && ep->kind != N_MAP) {
		diag_add(M->d, SEV_ERROR, "schema-type", ep->loc,
			 "'params' must be a mapping of the procedure's params to values, not a %s", node_kind_name(ep));
		ne = 0;
	}
	struct node *m = map_new(M, pp ? pp->loc : M->ref->loc, np + ne);
	for (size_t i = 0; i < np; i++) {
		const struct node *val = ep && ep->kind == N_MAP ? node_get(ep, pp->keys[i]->str) : NULL;
		if (val && val->kind != N_SCALAR) {
			diag_add(M->d, SEV_ERROR, "schema-type", val->loc,
				 "param '%s' is the procedure's; give it a value (%s: VALUE), not a declaration",
				 pp->keys[i]->str, pp->keys[i]->str);
			val = NULL;
		}
		map_put(m, pp->keys[i], param_with_value(M, pp->keys[i], pp->vals[i], val));
	}
	for (size_t i = 0; i < ne; i++) {
		const struct node *k = ep->keys[i], *v = ep->vals[i];
		if (k->kind != N_SCALAR) {
			diag_add(M->d, SEV_ERROR, "schema-type", k->loc, "a param name must be a plain name, not a %s",
				 node_kind_name(k));
			continue;
		}
		if (pp && node_get(pp, k->str))
			continue;
		if (v->kind == N_MAP) { /* the environment's own param */
			map_put(m, (struct node *)k, (struct node *)v);
			continue;
		}
		char *names = key_list(pp, 0);
		diag_add(M->d, SEV_ERROR, "undeclared-param", k->loc,
			 "procedure drplay:%s@%d has no param '%s'; its params are: %s (declare a param of your own as %s: {type: ...})",
			 M->proc->name, M->proc->major, k->str, names, k->str);
		free(names);
	}
	return m;
}

/* Whether kind is among the slot's bind: KIND or [KINDS]. */
static int kind_allowed(const struct node *bind, const char *kind)
{
	if (bind->kind == N_SCALAR)
		return !strcmp(bind->str, kind);
	for (size_t i = 0; bind->kind == N_SEQ && i < bind->n; i++)
		if (bind->vals[i]->kind == N_SCALAR && !strcmp(bind->vals[i]->str, kind))
			return 1;
	return 0;
}

/* The slot's kinds as text: "postgres", "s3 or dir". */
static char *kinds_text(const struct node *bind)
{
	if (bind->kind == N_SCALAR)
		return xstrdup(bind->str);
	struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; bind->kind == N_SEQ && i < bind->n; i++)
		sb_addf(&sb, "%s%s", i ? (i + 1 == bind->n ? " or " : ", ") : "", bind->vals[i]->str);
	return sb_detach(&sb);
}

/* A bound resource: the environment's declaration, of an allowed kind, with
 * the slot's live/throwaway flag (added when the environment leaves it out,
 * an error when it says otherwise). */
static struct node *bind_resource(struct merge *M, const struct node *name, const struct node *slot,
				  const struct node *decl)
{
	const struct node *bind = node_get(slot, "bind");
	const struct node *kind = decl->kind == N_MAP ? node_get(decl, "kind") : NULL;
	if (kind && kind->kind == N_SCALAR && !kind_allowed(bind, kind->str)) {
		char *want = kinds_text(bind);
		diag_add(M->d, SEV_ERROR, "resource-kind", kind->loc,
			 "resource '%s' is of kind %s, but procedure drplay:%s@%d needs '%s' to be of kind %s: %s", name->str,
			 kind->str, M->proc->name, M->proc->major, name->str, want,
			 node_get(slot, "description") ? node_get(slot, "description")->str : "see `drplay procedures`");
		free(want);
		struct doc *env = M->env_doc;
		env->misbound = xrealloc(env->misbound, (env->nmisbound + 1) * sizeof(*env->misbound));
		env->misbound[env->nmisbound++] = name->str;
	}
	if (decl->kind != N_MAP)
		return (struct node *)decl; /* the checker says what is wrong with it */
	static const char *const flags[] = { "live", "throwaway" };
	struct node *m = map_new(M, decl->loc, decl->n + 2);
	for (size_t i = 0; i < decl->n; i++)
		map_put(m, decl->keys[i], decl->vals[i]);
	for (size_t f = 0; f < 2; f++) {
		const struct node *want = node_get(slot, flags[f]), *got = node_get(decl, flags[f]);
		int wb = 0, gb = 0;
		if (!want || node_bool(want, &wb) || !wb)
			continue;
		if (!got)
			map_put(m, scalar_new(M, name->loc, flags[f]), (struct node *)want);
		else if (node_bool(got, &gb) == 0 && !gb)
			diag_add(M->d, SEV_ERROR, "schema-value", got->loc,
				 "resource '%s' must be %s: true: procedure drplay:%s@%d relies on it (%s)", name->str,
				 flags[f], M->proc->name, M->proc->major,
				 !strcmp(flags[f], "live") ? "the safety rules protect live resources"
							   : "it creates and drops databases there");
	}
	return m;
}

/* A typo: when exactly one slot is unbound and exactly one name of the
 * environment is no resource of the procedure, that name meant the slot.
 * Sets *slot_name and *decl (the declaration bound to it), else NULL. */
static void typo_pair(const struct node *pr, const struct node *er, const char **slot_name,
		      const struct node **decl)
{
	size_t nslot = 0, nstray = 0;
	*slot_name = NULL;
	*decl = NULL;
	for (size_t i = 0; pr && er && i < pr->n; i++)
		if (is_slot(pr->vals[i]) && !node_get(er, pr->keys[i]->str) && nslot++ == 0)
			*slot_name = pr->keys[i]->str;
	for (size_t i = 0; er && i < er->n; i++)
		if (er->keys[i]->kind == N_SCALAR && !node_get(pr, er->keys[i]->str) && nstray++ == 0)
			*decl = er->vals[i];
	if (nslot != 1 || nstray != 1) {
		*slot_name = NULL;
		*decl = NULL;
	}
}

/* The names of the environment that bind nothing: an error each, listing
 * the slots (and naming the slot a typo meant). */
static void stray_names(struct merge *M, const struct node *pr, const struct node *er, const char *meant,
			const struct node *meant_decl)
{
	for (size_t i = 0; er && i < er->n; i++) {
		const struct node *k = er->keys[i];
		const struct node *own = k->kind == N_SCALAR && pr ? node_get(pr, k->str) : NULL;
		if (is_slot(own))
			continue;
		char *names = key_list(pr, 1);
		char *hint = er->vals[i] == meant_decl ? xasprintf("; did you mean '%s'?", meant) : xstrdup("");
		diag_add(M->d, SEV_ERROR, "unknown-resource", k->loc,
			 "resource '%s' is not one procedure drplay:%s@%d binds%s; it binds: %s%s",
			 k->kind == N_SCALAR ? k->str : "?", M->proc->name, M->proc->major,
			 own ? " (the procedure declares it itself)" : "", names, hint);
		free(hint);
		free(names);
	}
}

/* resources: the procedure's, each slot replaced by the environment's
 * declaration of the same name; a slot left unbound or a name the
 * procedure does not bind is an error (a one-name typo is one error: the
 * declaration still binds the slot it meant, so nothing else follows). */
static struct node *merge_resources(struct merge *M, const struct node *pr, const struct node *er)
{
	size_t np = pr && pr->kind == N_MAP ? pr->n : 0;
	if (er && er->kind != N_MAP) {
		diag_add(M->d, SEV_ERROR, "schema-type", er->loc,
			 "'resources' must be a mapping of the procedure's resource names to declarations, not a %s",
			 node_kind_name(er));
		er = NULL;
	}
	const char *meant;
	const struct node *meant_decl;
	typo_pair(np ? pr : NULL, er, &meant, &meant_decl);
	struct node *m = map_new(M, pr ? pr->loc : M->ref->loc, np);
	for (size_t i = 0; i < np; i++) {
		const struct node *k = pr->keys[i], *v = pr->vals[i];
		if (!is_slot(v)) {
			map_put(m, (struct node *)k, (struct node *)v);
			continue;
		}
		const struct node *decl = er ? node_get(er, k->str) : NULL;
		if (!decl && meant && !strcmp(meant, k->str))
			decl = meant_decl;
		if (decl) {
			map_put(m, (struct node *)k, bind_resource(M, k, v, decl));
			continue;
		}
		char *want = kinds_text(node_get(v, "bind"));
		const struct node *desc = node_get(v, "description");
		diag_add(M->d, SEV_ERROR, "schema-missing", M->ref->loc,
			 "procedure drplay:%s@%d needs resource '%s' (of kind %s: %s); declare it under 'resources:' as %s: {kind: ...}",
			 M->proc->name, M->proc->major, k->str, want, desc ? desc->str : "see `drplay procedures`",
			 k->str);
		free(want);
	}
	stray_names(M, pr, er, meant, meant_decl);
	return m;
}

/* The environment's keys: only those an importing playbook may have. */
static void env_known_keys(struct merge *M, const struct node *env)
{
	for (size_t i = 0; i < env->n; i++) {
		const struct node *k = env->keys[i];
		int ok = 0;
		for (const char *const *e = env_keys; *e && !ok; e++)
			ok = k->kind == N_SCALAR && !strcmp(k->str, *e);
		if (!ok)
			diag_add(M->d, SEV_ERROR, "schema-unknown-key", k->loc,
				 "a playbook that imports a procedure has no '%s' of its own: the procedure's steps and modes run; it may set %s",
				 k->kind == N_SCALAR ? k->str : "?",
				 "name, description, params (values), resources (bindings) and objectives");
	}
}

/* The merged root: the procedure's keys in its order, with the
 * environment's version, name, description and objectives where it gives
 * them, and params and resources merged. */
static struct node *merge_root(struct merge *M, const struct node *env, const struct node *proc)
{
	struct node *m = map_new(M, env->loc, proc->n + 4);
	static const char *const own[] = { "drplay", "name", "description", "objectives" };
	for (size_t f = 0; f < 4; f++) {
		const struct node *v = node_get(env, own[f]);
		const struct node *k = NULL;
		for (size_t i = 0; i < env->n && v; i++)
			if (env->vals[i] == v)
				k = env->keys[i];
		if (v)
			map_put(m, (struct node *)k, (struct node *)v);
	}
	for (size_t i = 0; i < proc->n; i++) {
		const struct node *k = proc->keys[i];
		if (k->kind != N_SCALAR || node_get(m, k->str))
			continue;
		struct node *v = proc->vals[i];
		if (!strcmp(k->str, "params"))
			v = merge_params(M, v, node_get(env, "params"));
		else if (!strcmp(k->str, "resources"))
			v = merge_resources(M, v, node_get(env, "resources"));
		map_put(m, (struct node *)k, v);
	}
	if (!node_get(proc, "params") && node_get(env, "params"))
		map_put(m, scalar_new(M, M->ref->loc, "params"), merge_params(M, NULL, node_get(env, "params")));
	if (!node_get(proc, "resources") && node_get(env, "resources"))
		map_put(m, scalar_new(M, M->ref->loc, "resources"),
			merge_resources(M, NULL, node_get(env, "resources")));
	return m;
}

const struct node *import_expand(struct doc *doc, struct diags *d)
{
	const struct node *env = doc->root;
	const struct node *ref = env && env->kind == N_MAP ? node_get(env, "import") : NULL;
	if (!ref)
		return env;
	const struct procedure *p = resolve_ref(ref, d);
	if (!p)
		return NULL;
	int before = d->nerr;
	struct doc *proc = doc_load_buf(p->file, p->text, strlen(p->text), d);
	doc->imported = proc;
	if (d->nerr > before || !proc->root || proc->root->kind != N_MAP)
		return NULL;
	proc->imported_at = ref->loc;
	proc->import_ref = ref->str;
	struct merge M = { .arena = proc->arena, .d = d, .proc = p, .ref = ref, .env_doc = doc };
	env_known_keys(&M, env);
	return merge_root(&M, env, proc->root);
}

int procedures_show(const char *name, FILE *f, char **err)
{
	*err = NULL;
	if (!name) {
		for (const struct procedure *p = procedures; p->name; p++) {
			const char *desc = strstr(p->text, "\ndescription:");
			fprintf(f, "drplay:%s@%d  (%s)\n", p->name, p->major, p->file);
			if (desc) {
				desc += strlen("\ndescription:");
				desc += strspn(desc, " |>-\n");
				fprintf(f, "  %.*s\n", (int)strcspn(desc, "\n"), desc);
			}
		}
		fputs("`drplay procedures NAME` prints one; a playbook imports it with import: drplay:NAME@MAJOR.\n", f);
		return 0;
	}
	char buf[64];
	const char *ref = name;
	char *full = strncmp(name, "drplay:", 7) ? xasprintf("drplay:%s", name) : xstrdup(name);
	int major = parse_ref(full, buf, sizeof(buf));
	const struct procedure *p = major >= 0 ? find_procedure(buf, major) : NULL;
	if (!p) {
		char *all = all_procedures();
		char *have = major >= 0 ? versions_of(buf) : NULL;
		*err = have ? xasprintf("no procedure '%s'; this drplay ships %s", ref, have)
			    : xasprintf("no procedure '%s'; this drplay ships %s", ref, all);
		free(all);
		free(have);
		free(full);
		return -1;
	}
	free(full);
	if (major == 0) /* the newest major of that name */
		for (const struct procedure *q = p; q->name && !strcmp(q->name, p->name); q++)
			p = q;
	fputs(p->text, f);
	return 0;
}
