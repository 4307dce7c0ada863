/*
 * describe.c: everything drplay says about its own registry, generated from
 * the same declarations the checker uses: `drplay actions` (text, Markdown
 * for SPEC.md, JSON) and `drplay schema` (the JSON Schema 2020-12 document
 * committed as grammar/playbook.schema.json, which editors use to validate
 * and complete playbooks). A kind with drivers is described with its
 * drivers: what each needs and takes. The keys a step may have are declared
 * here once (step_keys), for the schema and for the checker. Tests compare
 * the committed copies with these.
 */
#include "describe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "action.h"
#include "jsonout.h"
#include "plan.h"
#include "typing.h"
#include "util.h"
#include "version.h"

static const char *ptype_word(enum ptype t)
{
	switch (t) {
	case T_STRING: return "string";
	case T_INT: return "int";
	case T_NUMBER: return "number";
	case T_BOOL: return "bool";
	case T_DURATION: return "duration";
	case T_TIMESTAMP: return "timestamp";
	case T_LIST: return "list";
	case T_MAP: return "mapping";
	case T_ANY: return "any";
	case T_EXPR: return "expression";
	case T_RESOURCE: return "resource";
	}
	return "any";
}

static char *type_text(const struct param_spec *p)
{
	if (p->type == T_RESOURCE && p->kind)
		return xasprintf("resource (%s)", p->kind);
	return xstrdup(ptype_word(p->type));
}

static char *allowed_text(const char *const *al)
{
	struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; al && al[i]; i++)
		sb_addf(&sb, "%s%s", i ? "|" : "", al[i]);
	return sb_detach(&sb);
}

static const char *effect(const struct action_def *d)
{
	if (d->flags_for)
		return "depends on parameters";
	if (d->flags & A_DESTRUCT)
		return "destructive";
	if (d->flags & A_STATE)
		return "state-changing";
	return "read-only";
}

/* The fields of a driver with `flag` (P_REQUIRED) set, or clear, joined by
 * sep, each between q and q. */
static char *driver_fields(const struct driver_def *d, int required, const char *sep, const char *q)
{
	struct strbuf sb = STRBUF_INIT;
	const struct param_spec *const sets[] = { d->fields, d->shared };
	for (size_t s = 0; s < ARRAY_SIZE(sets); s++)
		for (const struct param_spec *p = sets[s]; p && p->name; p++)
			if (!(p->flags & P_REQUIRED) == !required)
				sb_addf(&sb, "%s%s%s%s", sb.len ? sep : "", q, p->name, q);
	return sb_detach(&sb);
}

/* ---- text ---- */

static void text_params(const struct param_spec *ps, FILE *f)
{
	for (const struct param_spec *p = ps; p && p->name; p++) {
		char *t = type_text(p);
		fprintf(f, "    %-16s %-20s %s", p->name, t, p->flags & P_REQUIRED ? "required" : "optional");
		if (p->def)
			fprintf(f, ", default %s", p->def);
		if (p->allowed) {
			char *a = allowed_text(p->allowed);
			fprintf(f, ", one of %s", a);
			free(a);
		}
		fprintf(f, "\n%23s%s\n", "", p->doc ? p->doc : "");
		free(t);
	}
}

static void text_action(const struct action_def *d, FILE *f, int full)
{
	fprintf(f, "%-22s %-22s %s\n", d->name, effect(d), category_name(d->cat));
	if (!full)
		return;
	fprintf(f, "  %s\n", d->doc);
	fprintf(f, "  parameters:\n");
	if (!d->params || !d->params->name)
		fprintf(f, "    (none)\n");
	text_params(d->params, f);
	fprintf(f, "  outputs:\n");
	if (!d->outputs || !d->outputs->name)
		fprintf(f, "    (none)\n");
	for (const struct output_spec *o = d->outputs; o && o->name; o++)
		fprintf(f, "    %-16s %-20s %s\n", o->name, ptype_word(o->type), o->doc ? o->doc : "");
	fprintf(f, "  every step also has: outcome, duration, error\n");
}

static void text_kind(const struct kind_def *k, FILE *f)
{
	fprintf(f, "resource kind %s\n  %s\n  fields:\n", k->name, k->doc);
	text_params(k->fields, f);
	if (k->drivers) {
		fprintf(f, "  drivers (the field `driver`):\n");
		for (const struct driver_def *const *d = k->drivers; *d; d++) {
			char *needs = driver_fields(*d, 1, ", ", "");
			fprintf(f, "    %-16s needs %s\n%23s%s\n", (*d)->name, *needs ? needs : "nothing more", "",
				(*d)->doc ? (*d)->doc : "");
			free(needs);
		}
	}
	fprintf(f, "  every resource also has: live, throwaway, description\n");
}

static void describe_text(const char *name, FILE *f)
{
	if (name) {
		const struct action_def *d = registry_find(name);
		const struct kind_def *k = d ? NULL : kind_find(name);
		if (d)
			text_action(d, f, 1);
		else if (k)
			text_kind(k, f);
		return;
	}
	size_t n, nk;
	const struct action_def *const *all = registry_all(&n);
	const struct kind_def *const *kinds = kinds_all(&nk);
	fprintf(f, "%-22s %-22s %s\n", "ACTION", "EFFECT", "CATEGORY");
	for (size_t i = 0; i < n; i++)
		text_action(all[i], f, 0);
	if (nk) {
		fprintf(f, "\nresource kinds:");
		for (size_t i = 0; i < nk; i++)
			fprintf(f, " %s", kinds[i]->name);
		fputc('\n', f);
	}
	fprintf(f, "\n`drplay actions NAME` shows an action's (or kind's) parameters and outputs.\n");
}

/* ---- Markdown (SPEC.md's reference tables) ---- */

static const char *md_escape(const char *s, char *buf, size_t n)
{
	size_t k = 0;
	for (; s && *s && k + 2 < n; s++) {
		if (*s == '|')
			buf[k++] = '\\';
		buf[k++] = *s;
	}
	buf[k] = '\0';
	return buf;
}

static void md_params(const struct param_spec *ps, FILE *f, const char *what)
{
	if (!ps || !ps->name) {
		fprintf(f, "No %s.\n\n", what);
		return;
	}
	fprintf(f, "| %s | type | required | default | description |\n|---|---|---|---|---|\n",
		!strcmp(what, "fields") ? "field" : "parameter");
	for (const struct param_spec *p = ps; p->name; p++) {
		char *t = type_text(p);
		char buf[1024], al[512] = "";
		if (p->allowed) {
			char *a = allowed_text(p->allowed);
			snprintf(al, sizeof(al), " One of: `%s`.", a);
			free(a);
		}
		fprintf(f, "| `%s` | %s | %s | %s%s%s | %s%s |\n", p->name, t, p->flags & P_REQUIRED ? "yes" : "no",
			p->def ? "`" : "", p->def ? p->def : "", p->def ? "`" : "", md_escape(p->doc, buf, sizeof(buf)),
			md_escape(al, buf + 512, 512));
		free(t);
	}
	fputc('\n', f);
}

static void md_drivers(const struct kind_def *k, FILE *f)
{
	if (!k->drivers)
		return;
	fprintf(f, "Drivers (the field `driver`), each with the fields it needs and the others it takes:\n\n"
		   "| driver | needs | also takes | description |\n|---|---|---|---|\n");
	for (const struct driver_def *const *d = k->drivers; *d; d++) {
		char *needs = driver_fields(*d, 1, ", ", "`"), *takes = driver_fields(*d, 0, ", ", "`");
		char buf[1024];
		fprintf(f, "| `%s` | %s | %s | %s |\n", (*d)->name, needs, takes, md_escape((*d)->doc, buf, sizeof(buf)));
		free(needs);
		free(takes);
	}
	fputc('\n', f);
}

static void md_action(const struct action_def *d, FILE *f)
{
	fprintf(f, "#### action `%s`\n<a id=\"action-%s\"></a>\n\n%s\n\nEffect: %s. Category: %s.\n\n", d->name,
		d->name, d->doc, effect(d), category_name(d->cat));
	md_params(d->params, f, "parameters");
	if (!d->outputs || !d->outputs->name) {
		fprintf(f, "No outputs beyond `outcome`, `duration` and `error`.\n\n");
		return;
	}
	fprintf(f, "| output | type | description |\n|---|---|---|\n");
	for (const struct output_spec *o = d->outputs; o->name; o++) {
		char buf[1024];
		fprintf(f, "| `%s` | %s | %s |\n", o->name, ptype_word(o->type), md_escape(o->doc, buf, sizeof(buf)));
	}
	fputc('\n', f);
}

static void describe_markdown(FILE *f)
{
	size_t n, nk;
	const struct action_def *const *all = registry_all(&n);
	const struct kind_def *const *kinds = kinds_all(&nk);
	fprintf(f, "<!-- generated by `drplay actions --format=markdown`; do not edit by hand -->\n\n");
	fprintf(f, "### Resource kinds\n\n");
	if (nk == 0)
		fprintf(f, "No resource kinds are registered in this build.\n\n");
	for (size_t i = 0; i < nk; i++) {
		fprintf(f, "#### kind `%s`\n\n%s\n\n", kinds[i]->name, kinds[i]->doc);
		md_params(kinds[i]->fields, f, "fields");
		md_drivers(kinds[i], f);
	}
	fprintf(f, "### Actions\n\n| action | effect | category |\n|---|---|---|\n");
	for (size_t i = 0; i < n; i++)
		fprintf(f, "| [`%s`](#action-%s) | %s | %s |\n", all[i]->name, all[i]->name, effect(all[i]),
			category_name(all[i]->cat));
	fputc('\n', f);
	for (size_t i = 0; i < n; i++)
		md_action(all[i], f);
}

/* ---- JSON ---- */

static json_t *json_params(const struct param_spec *ps)
{
	json_t *arr = json_array();
	for (const struct param_spec *p = ps; p && p->name; p++) {
		char *t = type_text(p);
		json_t *po = json_pack("{s:s,s:s,s:b}", "name", p->name, "type", t, "required", (p->flags & P_REQUIRED) != 0);
		free(t);
		json_t *def = spec_default(p); /* typed: 0, false, not "0", "false" */
		if (def)
			json_object_set_new(po, "default", def);
		if (p->doc)
			json_object_set_new(po, "doc", json_string(p->doc));
		if (p->allowed) {
			json_t *al = json_array();
			for (const char *const *a = p->allowed; *a; a++)
				json_array_append_new(al, json_string(*a));
			json_object_set_new(po, "allowed", al);
		}
		if (p->flags & P_SECRET)
			json_object_set_new(po, "secret", json_true());
		json_array_append_new(arr, po);
	}
	return arr;
}

static json_t *json_action(const struct action_def *d)
{
	json_t *o = json_object();
	json_object_set_new(o, "name", json_string(d->name));
	json_object_set_new(o, "effect", json_string(effect(d)));
	json_object_set_new(o, "category", json_string(category_name(d->cat)));
	json_object_set_new(o, "doc", json_string(d->doc));
	json_object_set_new(o, "parameters", json_params(d->params));
	json_t *os = json_array();
	for (const struct output_spec *op = d->outputs; op && op->name; op++)
		json_array_append_new(os, json_pack("{s:s,s:s,s:s}", "name", op->name, "type", ptype_word(op->type), "doc",
						    op->doc ? op->doc : ""));
	json_object_set_new(o, "outputs", os);
	return o;
}

/* A kind, with its drivers: each driver's own fields (not the kind's). */
static json_t *json_kind(const struct kind_def *k)
{
	json_t *o = json_pack("{s:s,s:s,s:s}", "name", k->name, "type", "kind", "doc", k->doc);
	json_object_set_new(o, "fields", json_params(k->fields));
	if (k->drivers) {
		json_t *ds = json_array();
		for (const struct driver_def *const *d = k->drivers; *d; d++) {
			json_t *fs = json_params((*d)->fields), *shared = json_params((*d)->shared);
			json_array_extend(fs, shared);
			json_decref(shared);
			json_array_append_new(ds, json_pack("{s:s,s:s,s:o}", "name", (*d)->name, "doc",
							    (*d)->doc ? (*d)->doc : "", "fields", fs));
		}
		json_object_set_new(o, "drivers", ds);
	}
	return o;
}

/* drplay.actions/1: every action and every resource kind with its drivers;
 * or the one action or kind named. */
static void describe_json(const char *name, FILE *f)
{
	json_t *doc = jsonout_new("drplay.actions/1");
	json_t *acts = json_array(), *kinds = json_array();
	const struct kind_def *k = name && !registry_find(name) ? kind_find(name) : NULL;
	if (k) {
		json_array_append_new(kinds, json_kind(k));
	} else {
		size_t n;
		const struct action_def *const *all = registry_all(&n);
		for (size_t i = 0; i < n; i++)
			if (!name || !strcmp(name, all[i]->name))
				json_array_append_new(acts, json_action(all[i]));
		const struct kind_def *const *ks = kinds_all(&n);
		for (size_t i = 0; i < n && !name; i++)
			json_array_append_new(kinds, json_kind(ks[i]));
	}
	json_object_set_new(doc, "actions", acts);
	json_object_set_new(doc, "kinds", kinds);
	jsonout_print(doc, f, 1);
}

void describe_actions(const char *name, enum describe_format fmt, FILE *f)
{
	if (fmt == DESC_JSON)
		describe_json(name, f);
	else if (fmt == DESC_MARKDOWN)
		describe_markdown(f);
	else
		describe_text(name, f);
}

int describe_known(const char *name)
{
	return registry_find(name) || kind_find(name);
}

/* ---- JSON Schema ---- */

/* Small builders, so that the schema reads like the document it makes. */
static json_t *jobj(void)
{
	return json_object();
}

static json_t *jset(json_t *o, const char *k, json_t *v)
{
	json_object_set_new(o, k, v);
	return o;
}

static json_t *jstr(const char *s)
{
	return json_string(s);
}

static json_t *jtype(const char *t)
{
	return jset(jobj(), "type", jstr(t));
}

static json_t *jref(const char *r)
{
	return jset(jobj(), "$ref", jstr(r));
}

static json_t *jenum(const char *const *vals)
{
	json_t *a = json_array();
	for (; *vals; vals++)
		json_array_append_new(a, jstr(*vals));
	return jset(jobj(), "enum", a);
}

static json_t *jdesc(json_t *o, const char *d)
{
	return jset(o, "description", jstr(d));
}

/* {"type": [a, b]} */
static json_t *jtypes(const char *a, const char *b)
{
	json_t *t = json_array();
	json_array_append_new(t, jstr(a));
	json_array_append_new(t, jstr(b));
	return jset(jobj(), "type", t);
}

/* {"type": "integer", "minimum": 0} */
static json_t *jcount(void)
{
	return jset(jtype("integer"), "minimum", json_integer(0));
}

/* {"type": "array", "items": items} */
static json_t *jarray_of(json_t *items)
{
	return jset(jtype("array"), "items", items);
}

static json_t *tmpl_schema(void)
{
	return jref("#/$defs/template");
}

static json_t *any_of2(json_t *a, json_t *b)
{
	json_t *arr = json_array();
	json_array_append_new(arr, a);
	json_array_append_new(arr, b);
	return jset(jobj(), "anyOf", arr);
}

static const char *const mode_names[] = { "validation", "disaster", NULL };

static json_t *param_schema(const struct param_spec *p)
{
	json_t *s = NULL;
	json_t *en = p->allowed ? jenum(p->allowed) : NULL;
	switch (p->type) {
	case T_STRING:
	case T_RESOURCE:
		if (en && p->type == T_STRING) {
			s = any_of2(en, tmpl_schema());
			en = NULL;
		} else {
			s = json_pack("{s:[s,s,s]}", "type", "string", "number", "boolean");
		}
		break;
	case T_EXPR: s = jtypes("string", "boolean"); break;
	case T_INT: s = any_of2(jtype("integer"), tmpl_schema()); break;
	case T_NUMBER: s = any_of2(jtype("number"), tmpl_schema()); break;
	case T_BOOL: s = any_of2(jtype("boolean"), tmpl_schema()); break;
	case T_DURATION: s = jref("#/$defs/duration"); break;
	case T_TIMESTAMP: s = jref("#/$defs/timestamp"); break;
	case T_LIST:
		s = any_of2(en ? jarray_of(en) : jtype("array"), tmpl_schema());
		en = NULL;
		break;
	case T_MAP: s = any_of2(jtype("object"), tmpl_schema()); break;
	case T_ANY: s = jobj(); break;
	}
	json_decref(en);
	if (p->doc)
		jdesc(s, p->doc);
	return s;
}

static json_t *params_object(const struct param_spec *ps, int closed)
{
	json_t *props = jobj();
	json_t *req = json_array();
	for (const struct param_spec *p = ps; p && p->name; p++) {
		jset(props, p->name, param_schema(p));
		if (p->flags & P_REQUIRED)
			json_array_append_new(req, jstr(p->name));
	}
	json_t *o = jset(jtype("object"), "properties", props);
	if (json_array_size(req))
		jset(o, "required", req);
	else
		json_decref(req);
	if (closed)
		jset(o, "additionalProperties", json_false());
	return o;
}

/* {"if": {"properties": {key: {"const": value}}, "required": [key]}, "then": then} */
static json_t *if_const(const char *key, const char *value, json_t *then)
{
	json_t *cond = jset(jobj(), "properties", jset(jobj(), key, jset(jobj(), "const", jstr(value))));
	json_t *req = json_array();
	json_array_append_new(req, jstr(key));
	jset(cond, "required", req);
	return jset(jset(jobj(), "if", cond), "then", then);
}

/* The playbook's value forms: template, duration, timestamp. */
static void schema_forms(json_t *defs)
{
	json_t *t = jset(jtype("string"), "pattern", jstr("\\$\\{"));
	jset(defs, "template", jdesc(t, "a ${...} interpolation, resolved when the step runs"));
	json_t *dur_s = jset(jtype("string"), "pattern", jstr("^([0-9]+(\\.[0-9]+)?(ms|s|m|h|d))+$"));
	jset(defs, "duration", jdesc(any_of2(any_of2(dur_s, jcount()), tmpl_schema()),
				     "a duration: 90s, 15m, 24h, 1h30m, 250ms (or seconds)"));
	json_t *ts = jset(jtype("string"), "pattern",
			  jstr("^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"));
	jset(defs, "timestamp", jdesc(any_of2(ts, tmpl_schema()), "an RFC 3339 timestamp (UTC): 2026-11-29T09:10:00Z"));
}

/* ---- the keys of a step ---- */

enum key_shape { KS_ID, KS_ACTION, KS_OBJECT, KS_MODES, KS_EXPR, KS_REQUIRES, KS_BOOL, KS_ON_FAILURE, KS_DURATION,
		 KS_RETRIES, KS_STRING };

/* Every key a step may have, in the schema's order: the checker accepts
 * exactly these (step_key_names), the schema describes each. */
static const struct step_key {
	const char *name;
	enum key_shape shape;
	const char *doc; /* NULL: none in the schema */
} step_keys[] = {
	{ "id", KS_ID, "unique step id" },
	{ "action", KS_ACTION, "a registered action (`drplay actions`)" },
	{ "with", KS_OBJECT, "the action's parameters" },
	{ "modes", KS_MODES, "the modes in which the step runs" },
	{ "when", KS_EXPR, "an expression; the step is skipped when it is false" },
	{ "requires", KS_REQUIRES, "earlier steps that must have passed" },
	{ "gate", KS_BOOL, "a failure stops the run" },
	{ "on_failure", KS_ON_FAILURE, NULL },
	{ "always", KS_BOOL, "runs even after the run stopped (never lifts maintenance after a failed gate)" },
	{ "timeout", KS_DURATION, NULL },
	{ "retries", KS_RETRIES, NULL },
	{ "description", KS_STRING, NULL },
};

const char *const *step_key_names(void)
{
	static const char *names[ARRAY_SIZE(step_keys) + 1];
	if (!names[0])
		for (size_t i = 0; i < ARRAY_SIZE(step_keys); i++)
			names[i] = step_keys[i].name;
	return names;
}

/* The schema of one step key; action_names is the enum of actions. */
static json_t *step_key_schema(const struct step_key *k, json_t *action_names)
{
	static const char *const on_failure[] = { "stop", "continue", NULL };
	json_t *s = NULL;
	switch (k->shape) {
	case KS_ID: s = jset(jtype("string"), "pattern", jstr("^[a-z0-9_]+$")); break;
	case KS_ACTION: s = jset(jobj(), "enum", action_names); break;
	case KS_OBJECT: s = jtype("object"); break;
	case KS_MODES: s = any_of2(jarray_of(jenum(mode_names)), jenum(mode_names)); break;
	case KS_EXPR: s = jtypes("string", "boolean"); break;
	case KS_REQUIRES: s = any_of2(jtype("string"), jarray_of(jtype("string"))); break;
	case KS_BOOL: s = jtype("boolean"); break;
	case KS_ON_FAILURE: s = jenum(on_failure); break;
	case KS_DURATION: s = jref("#/$defs/duration"); break;
	case KS_RETRIES: {
		json_t *rop = jset(jset(jobj(), "count", jcount()), "delay", jref("#/$defs/duration"));
		json_t *ro = jset(jset(jtype("object"), "properties", rop), "additionalProperties", json_false());
		s = any_of2(jcount(), ro);
		break;
	}
	case KS_STRING: s = jtype("string"); break;
	}
	return k->doc ? jdesc(s, k->doc) : s;
}

/* $defs.step: the keys, then one if/then per action for `with` (each
 * action's parameters in $defs["with.ACTION"]). */
static void schema_step(json_t *defs)
{
	size_t n;
	const struct action_def *const *all = registry_all(&n);
	json_t *names = json_array();
	json_t *all_of = json_array();
	for (size_t i = 0; i < n; i++) {
		const struct action_def *d = all[i];
		json_array_append_new(names, jstr(d->name));
		char key[160], ref[180];
		snprintf(key, sizeof(key), "with.%s", d->name);
		snprintf(ref, sizeof(ref), "#/$defs/%s", key);
		jset(defs, key, jdesc(params_object(d->params, 1), d->doc));
		json_array_append_new(all_of, if_const("action", d->name, jset(jobj(), "properties",
									       jset(jobj(), "with", jref(ref)))));
	}
	json_t *sp = jobj();
	for (size_t i = 0; i < ARRAY_SIZE(step_keys); i++)
		jset(sp, step_keys[i].name, step_key_schema(&step_keys[i], names));
	json_t *sreq = json_array();
	json_array_append_new(sreq, jstr("id"));
	json_array_append_new(sreq, jstr("action"));
	json_t *step = jset(jtype("object"), "required", sreq);
	jset(step, "properties", sp);
	jset(step, "additionalProperties", json_false());
	jset(step, "allOf", all_of);
	jset(defs, "step", step);
}

/* $defs.resource: one if/then per kind; unevaluatedProperties closes them. */
static void schema_resource(json_t *defs)
{
	size_t nk;
	const struct kind_def *const *kinds = kinds_all(&nk);
	json_t *knames = json_array();
	json_t *kall = json_array();
	for (size_t i = 0; i < nk; i++) {
		json_array_append_new(knames, jstr(kinds[i]->name));
		json_array_append_new(kall, if_const("kind", kinds[i]->name, params_object(kinds[i]->fields, 0)));
	}
	json_t *rp = jobj();
	jset(rp, "kind", jdesc(jset(jobj(), "enum", knames), "a registered resource kind"));
	jset(rp, "live", jdesc(jtype("boolean"), "production data: destructive actions only in disaster mode"));
	jset(rp, "throwaway", jdesc(jtype("boolean"), "validation runs may overwrite it"));
	jset(rp, "description", jtype("string"));
	json_t *rreq = json_array();
	json_array_append_new(rreq, jstr("kind"));
	json_t *res = jset(jtype("object"), "required", rreq);
	jset(res, "properties", rp);
	if (json_array_size(kall))
		jset(res, "allOf", kall);
	else
		json_decref(kall);
	jset(res, "unevaluatedProperties", json_false());
	jset(defs, "resource", res);
}

/* $defs.param: a playbook's declared parameter. */
static void schema_param(json_t *defs)
{
	static const char *const ptypes[] = { "string", "int", "bool", "timestamp", "duration", "number", NULL };
	json_t *pp = jobj();
	jset(pp, "type", jenum(ptypes));
	jset(pp, "default", jobj());
	jset(pp, "allowed", jtype("array"));
	jset(pp, "description", jtype("string"));
	jset(pp, "required", any_of2(jtype("boolean"), jarray_of(jenum(mode_names))));
	json_t *param = jset(jtype("object"), "properties", pp);
	jset(param, "additionalProperties", json_false());
	jset(defs, "param", param);
}

/* The `modes` mapping: validation and disaster. */
static json_t *schema_modes(void)
{
	json_t *vm = jtypes("object", "null");
	jset(vm, "additionalProperties", json_false());
	json_t *vmp = jobj();
	jset(vmp, "default", jtype("boolean"));
	jset(vmp, "description", jtype("string"));
	jset(vm, "properties", vmp);
	json_t *dm = json_deep_copy(vm);
	json_t *dmp = json_object_get(dm, "properties");
	jset(dmp, "authorize",
	     jdesc(jtype("string"), "the token a disaster run must be given with --authorize (use ${secret.NAME})"));
	jset(dmp, "default", jdesc(jset(jobj(), "const", json_false()), "disaster is never the default mode"));
	json_t *mp = jobj();
	jset(mp, "validation", vm);
	jset(mp, "disaster", dm);
	json_t *modes = jset(jtype("object"), "properties", mp);
	jset(modes, "additionalProperties", json_false());
	return modes;
}

/* A mapping of names (matching pattern) to $defs[def]. */
static json_t *named_map(const char *pattern, const char *def)
{
	json_t *m = jset(jtype("object"), "propertyNames", jset(jobj(), "pattern", jstr(pattern)));
	return jset(m, "additionalProperties", jref(def));
}

/* The top-level keys of a playbook. */
static json_t *schema_top(void)
{
	json_t *props = jobj();
	jset(props, "drplay", jdesc(jset(jobj(), "const", json_integer(1)), "format version"));
	json_t *pname = jset(jtype("string"), "pattern", jstr("^[A-Za-z0-9_-][A-Za-z0-9._-]*$"));
	jset(pname, "maxLength", json_integer(PLAYBOOK_NAME_MAX));
	jset(props, "name", jdesc(pname, "the playbook's name; also names its lock file <journal-dir>/NAME.lock"));
	jset(props, "description", jtype("string"));
	jset(props, "modes", schema_modes());
	jset(props, "import", jdesc(jset(jtype("string"), "pattern", jstr("^drplay:[a-z0-9_]+@[1-9][0-9]*$")),
				    "a shipped procedure this playbook binds (drplay:NAME@MAJOR); then it has no steps or modes"));
	json_t *params = named_map("^[A-Za-z_][A-Za-z0-9_]*$", "#/$defs/param");
	/* an importing playbook gives the procedure's params plain values */
	jset(params, "additionalProperties",
	     any_of2(jref("#/$defs/param"), jtypes("string", "number")));
	json_array_append_new(json_object_get(json_object_get(params, "additionalProperties"), "anyOf"),
			      jtype("boolean"));
	jset(props, "params", params);
	jset(props, "resources", named_map("^[A-Za-z0-9_-]+$", "#/$defs/resource"));
	jset(props, "steps", jarray_of(jref("#/$defs/step")));
	json_t *op = jobj();
	jset(op, "rto", jref("#/$defs/duration"));
	jset(op, "rpo", jref("#/$defs/duration"));
	json_t *obj = jset(jtype("object"), "properties", op);
	jset(obj, "additionalProperties", json_false());
	jset(props, "objectives", obj);
	return props;
}

void describe_schema(FILE *f)
{
	json_t *defs = jobj();
	schema_forms(defs);
	schema_step(defs);
	schema_resource(defs);
	schema_param(defs);
	json_t *root = jobj();
	jset(root, "$schema", jstr("https://json-schema.org/draft/2020-12/schema"));
	jset(root, "$id", jstr("https://drplay.dev/schema/playbook-1.json"));
	jset(root, "title", jstr("drplay playbook (format 1)"));
	jset(root, "description",
	     jstr("A database disaster-recovery playbook run by drplay. Generated by `drplay schema` from the action registry; SPEC.md is authoritative."));
	jset(root, "type", jstr("object"));
	json_t *rq = json_array();
	json_array_append_new(rq, jstr("drplay"));
	jset(root, "required", rq);
	json_t *one = json_array(); /* its own steps, or a procedure's */
	json_array_append_new(one, jset(jobj(), "required", json_pack("[s]", "steps")));
	json_array_append_new(one, jset(jobj(), "required", json_pack("[s]", "import")));
	jset(root, "anyOf", one);
	jset(root, "additionalProperties", json_false());
	jset(root, "properties", schema_top());
	jset(root, "$defs", defs);
	json_dumpf(root, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', f);
	json_decref(root);
}

/* ---- for the manual pages (manpage.c) ---- */

char *describe_param_type(const struct param_spec *p)
{
	return type_text(p);
}

const char *describe_output_type(const struct output_spec *o)
{
	return ptype_word(o->type);
}

const char *describe_effect(const struct action_def *d)
{
	return effect(d);
}

char *describe_driver_fields(const struct driver_def *d, int required)
{
	return driver_fields(d, required, ", ", "");
}
