/*
 * describe.c: everything drplay says about its own registry, generated from
 * the same declarations the checker uses: `drplay actions` (text, Markdown
 * for SPEC.md, JSON) and `drplay schema` (the JSON Schema 2020-12 document
 * committed as grammar/playbook.schema.json, which editors use to validate
 * and complete playbooks). Tests compare the committed copies with these.
 */
#include "describe.h"

#include <stdio.h>
#include <string.h>
#include <jansson.h>

#include "action.h"
#include "plan.h"
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

void describe_actions(const char *name, enum describe_format fmt, FILE *f)
{
	size_t n, nk;
	const struct action_def *const *all = registry_all(&n);
	const struct kind_def *const *kinds = kinds_all(&nk);
	if (fmt == DESC_JSON) {
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++) {
			const struct action_def *d = all[i];
			if (name && strcmp(name, d->name))
				continue;
			json_t *o = json_object();
			json_object_set_new(o, "name", json_string(d->name));
			json_object_set_new(o, "effect", json_string(effect(d)));
			json_object_set_new(o, "category", json_string(category_name(d->cat)));
			json_object_set_new(o, "doc", json_string(d->doc));
			json_t *ps = json_array();
			for (const struct param_spec *p = d->params; p && p->name; p++) {
				char *t = type_text(p);
				json_t *po = json_pack("{s:s,s:s,s:b}", "name", p->name, "type", t, "required",
						       (p->flags & P_REQUIRED) != 0);
				free(t);
				if (p->def)
					json_object_set_new(po, "default", json_string(p->def));
				if (p->doc)
					json_object_set_new(po, "doc", json_string(p->doc));
				if (p->allowed) {
					json_t *al = json_array();
					for (const char *const *a = p->allowed; *a; a++)
						json_array_append_new(al, json_string(*a));
					json_object_set_new(po, "allowed", al);
				}
				json_array_append_new(ps, po);
			}
			json_object_set_new(o, "parameters", ps);
			json_t *os = json_array();
			for (const struct output_spec *op = d->outputs; op && op->name; op++)
				json_array_append_new(os, json_pack("{s:s,s:s,s:s}", "name", op->name, "type",
								    ptype_word(op->type), "doc", op->doc ? op->doc : ""));
			json_object_set_new(o, "outputs", os);
			json_array_append_new(arr, o);
		}
		json_dumpf(arr, f, JSON_INDENT(2));
		fputc('\n', f);
		json_decref(arr);
		return;
	}
	if (fmt == DESC_MARKDOWN) {
		fprintf(f, "<!-- generated by `drplay actions --format=markdown`; do not edit by hand -->\n\n");
		fprintf(f, "### Resource kinds\n\n");
		if (nk == 0)
			fprintf(f, "No resource kinds are registered in this build.\n\n");
		for (size_t i = 0; i < nk; i++) {
			fprintf(f, "#### kind `%s`\n\n%s\n\n", kinds[i]->name, kinds[i]->doc);
			md_params(kinds[i]->fields, f, "fields");
		}
		fprintf(f, "### Actions\n\n| action | effect | category |\n|---|---|---|\n");
		for (size_t i = 0; i < n; i++)
			fprintf(f, "| [`%s`](#action-%s) | %s | %s |\n", all[i]->name, all[i]->name, effect(all[i]),
				category_name(all[i]->cat));
		fputc('\n', f);
		for (size_t i = 0; i < n; i++) {
			const struct action_def *d = all[i];
			fprintf(f, "#### action `%s`\n<a id=\"action-%s\"></a>\n\n%s\n\nEffect: %s. Category: %s.\n\n",
				d->name, d->name, d->doc, effect(d), category_name(d->cat));
			md_params(d->params, f, "parameters");
			if (d->outputs && d->outputs->name) {
				fprintf(f, "| output | type | description |\n|---|---|---|\n");
				for (const struct output_spec *o = d->outputs; o->name; o++) {
					char buf[1024];
					fprintf(f, "| `%s` | %s | %s |\n", o->name, ptype_word(o->type),
						md_escape(o->doc, buf, sizeof(buf)));
				}
				fputc('\n', f);
			} else {
				fprintf(f, "No outputs beyond `outcome`, `duration` and `error`.\n\n");
			}
		}
		return;
	}
	if (name) {
		const struct action_def *d = registry_find(name);
		if (d) {
			text_action(d, f, 1);
			return;
		}
		const struct kind_def *k = kind_find(name);
		if (k) {
			fprintf(f, "resource kind %s\n  %s\n  fields:\n", k->name, k->doc);
			text_params(k->fields, f);
			fprintf(f, "  every resource also has: live, throwaway, description\n");
		}
		return;
	}
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

int describe_known(const char *name)
{
	return registry_find(name) || kind_find(name);
}

/* ---- JSON Schema ---- */

static json_t *tmpl_schema(void)
{
	return json_pack("{s:s}", "$ref", "#/$defs/template");
}

static json_t *any_of2(json_t *a, json_t *b)
{
	json_t *arr = json_array();
	json_array_append_new(arr, a);
	json_array_append_new(arr, b);
	return json_pack("{s:o}", "anyOf", arr);
}

static json_t *param_schema(const struct param_spec *p)
{
	json_t *s = NULL;
	json_t *en = NULL;
	if (p->allowed) {
		en = json_array();
		for (const char *const *a = p->allowed; *a; a++)
			json_array_append_new(en, json_string(*a));
	}
	switch (p->type) {
	case T_STRING:
	case T_RESOURCE:
		if (en && p->type == T_STRING)
			s = any_of2(json_pack("{s:o}", "enum", en), tmpl_schema());
		else
			s = json_pack("{s:[s,s,s]}", "type", "string", "number", "boolean");
		break;
	case T_EXPR:
		s = json_pack("{s:[s,s]}", "type", "string", "boolean");
		break;
	case T_INT:
		s = any_of2(json_pack("{s:s}", "type", "integer"), tmpl_schema());
		break;
	case T_NUMBER:
		s = any_of2(json_pack("{s:s}", "type", "number"), tmpl_schema());
		break;
	case T_BOOL:
		s = any_of2(json_pack("{s:s}", "type", "boolean"), tmpl_schema());
		break;
	case T_DURATION:
		s = json_pack("{s:s}", "$ref", "#/$defs/duration");
		break;
	case T_TIMESTAMP:
		s = json_pack("{s:s}", "$ref", "#/$defs/timestamp");
		break;
	case T_LIST:
		if (en)
			s = any_of2(json_pack("{s:s,s:{s:o}}", "type", "array", "items", "enum", en), tmpl_schema());
		else
			s = any_of2(json_pack("{s:s}", "type", "array"), tmpl_schema());
		en = NULL;
		break;
	case T_MAP:
		s = any_of2(json_pack("{s:s}", "type", "object"), tmpl_schema());
		break;
	case T_ANY:
		s = json_object();
		break;
	}
	if (en && p->type != T_STRING)
		json_decref(en);
	if (p->doc)
		json_object_set_new(s, "description", json_string(p->doc));
	return s;
}

static json_t *params_object(const struct param_spec *ps, int closed)
{
	json_t *props = json_object();
	json_t *req = json_array();
	for (const struct param_spec *p = ps; p && p->name; p++) {
		json_object_set_new(props, p->name, param_schema(p));
		if (p->flags & P_REQUIRED)
			json_array_append_new(req, json_string(p->name));
	}
	json_t *o = json_pack("{s:s,s:o}", "type", "object", "properties", props);
	if (json_array_size(req))
		json_object_set_new(o, "required", req);
	else
		json_decref(req);
	if (closed)
		json_object_set_new(o, "additionalProperties", json_false());
	return o;
}

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

void describe_schema(FILE *f)
{
	size_t n, nk;
	const struct action_def *const *all = registry_all(&n);
	const struct kind_def *const *kinds = kinds_all(&nk);
	static const char *const mode_names[] = { "validation", "disaster", NULL };
	json_t *defs = jobj();
	json_t *t = jtype("string");
	jset(t, "pattern", jstr("\\$\\{"));
	jset(defs, "template", jdesc(t, "a ${...} interpolation, resolved when the step runs"));
	json_t *dur_s = jtype("string");
	jset(dur_s, "pattern", jstr("^([0-9]+(\\.[0-9]+)?(ms|s|m|h|d))+$"));
	json_t *dur_i = jtype("integer");
	jset(dur_i, "minimum", json_integer(0));
	jset(defs, "duration",
	     jdesc(any_of2(any_of2(dur_s, dur_i), tmpl_schema()), "a duration: 90s, 15m, 24h, 1h30m, 250ms (or seconds)"));
	json_t *ts = jtype("string");
	jset(ts, "pattern",
	     jstr("^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"));
	jset(defs, "timestamp", jdesc(any_of2(ts, tmpl_schema()), "an RFC 3339 timestamp (UTC): 2026-11-29T09:10:00Z"));

	/* steps: the fixed keys, then one if/then per action for `with` */
	json_t *names = json_array();
	json_t *all_of = json_array();
	for (size_t i = 0; i < n; i++) {
		const struct action_def *d = all[i];
		json_array_append_new(names, jstr(d->name));
		char key[160], ref[180];
		snprintf(key, sizeof(key), "with.%s", d->name);
		snprintf(ref, sizeof(ref), "#/$defs/%s", key);
		jset(defs, key, jdesc(params_object(d->params, 1), d->doc));
		json_t *cond = jset(jobj(), "properties", jset(jobj(), "action", jset(jobj(), "const", jstr(d->name))));
		json_t *req = json_array();
		json_array_append_new(req, jstr("action"));
		jset(cond, "required", req);
		json_t *then = jset(jobj(), "properties", jset(jobj(), "with", jref(ref)));
		json_array_append_new(all_of, jset(jset(jobj(), "if", cond), "then", then));
	}
	json_t *sp = jobj();
	json_t *id = jtype("string");
	jset(id, "pattern", jstr("^[a-z0-9_]+$"));
	jset(sp, "id", jdesc(id, "unique step id"));
	jset(sp, "action", jdesc(jset(jobj(), "enum", names), "a registered action (`drplay actions`)"));
	jset(sp, "with", jdesc(jtype("object"), "the action's parameters"));
	json_t *marr = jtype("array");
	jset(marr, "items", jenum(mode_names));
	jset(sp, "modes", jdesc(any_of2(marr, jenum(mode_names)), "the modes in which the step runs"));
	json_t *when = jobj();
	json_t *wt = json_array();
	json_array_append_new(wt, jstr("string"));
	json_array_append_new(wt, jstr("boolean"));
	jset(when, "type", wt);
	jset(sp, "when", jdesc(when, "an expression; the step is skipped when it is false"));
	json_t *rarr = jtype("array");
	jset(rarr, "items", jtype("string"));
	jset(sp, "requires", jdesc(any_of2(jtype("string"), rarr), "earlier steps that must have passed"));
	jset(sp, "gate", jdesc(jtype("boolean"), "a failure stops the run"));
	static const char *const onf[] = { "stop", "continue", NULL };
	jset(sp, "on_failure", jenum(onf));
	jset(sp, "always", jdesc(jtype("boolean"), "runs even after the run stopped (never lifts maintenance after a failed gate)"));
	jset(sp, "timeout", jref("#/$defs/duration"));
	json_t *rc = jtype("integer");
	jset(rc, "minimum", json_integer(0));
	json_t *ro = jtype("object");
	json_t *rop = jobj();
	json_t *rc2 = jtype("integer");
	jset(rc2, "minimum", json_integer(0));
	jset(rop, "count", rc2);
	jset(rop, "delay", jref("#/$defs/duration"));
	jset(ro, "properties", rop);
	jset(ro, "additionalProperties", json_false());
	jset(sp, "retries", any_of2(rc, ro));
	jset(sp, "description", jtype("string"));
	json_t *step = jtype("object");
	json_t *sreq = json_array();
	json_array_append_new(sreq, jstr("id"));
	json_array_append_new(sreq, jstr("action"));
	jset(step, "required", sreq);
	jset(step, "properties", sp);
	jset(step, "additionalProperties", json_false());
	jset(step, "allOf", all_of);
	jset(defs, "step", step);

	/* resources: one if/then per kind; unevaluatedProperties closes them */
	json_t *knames = json_array();
	json_t *kall = json_array();
	for (size_t i = 0; i < nk; i++) {
		json_array_append_new(knames, jstr(kinds[i]->name));
		json_t *cond = jset(jobj(), "properties",
				    jset(jobj(), "kind", jset(jobj(), "const", jstr(kinds[i]->name))));
		json_t *req = json_array();
		json_array_append_new(req, jstr("kind"));
		jset(cond, "required", req);
		json_array_append_new(kall, jset(jset(jobj(), "if", cond), "then", params_object(kinds[i]->fields, 0)));
	}
	json_t *rp = jobj();
	jset(rp, "kind", jdesc(jset(jobj(), "enum", knames), "a registered resource kind"));
	jset(rp, "live", jdesc(jtype("boolean"), "production data: destructive actions only in disaster mode"));
	jset(rp, "throwaway", jdesc(jtype("boolean"), "validation runs may overwrite it"));
	jset(rp, "description", jtype("string"));
	json_t *res = jtype("object");
	json_t *rreq = json_array();
	json_array_append_new(rreq, jstr("kind"));
	jset(res, "required", rreq);
	jset(res, "properties", rp);
	if (json_array_size(kall))
		jset(res, "allOf", kall);
	else
		json_decref(kall);
	jset(res, "unevaluatedProperties", json_false());
	jset(defs, "resource", res);

	/* params */
	static const char *const ptypes[] = { "string", "int", "bool", "timestamp", "duration", "number", NULL };
	json_t *pp = jobj();
	jset(pp, "type", jenum(ptypes));
	jset(pp, "default", jobj());
	jset(pp, "allowed", jtype("array"));
	jset(pp, "description", jtype("string"));
	json_t *pmarr = jtype("array");
	jset(pmarr, "items", jenum(mode_names));
	jset(pp, "required", any_of2(jtype("boolean"), pmarr));
	json_t *param = jtype("object");
	jset(param, "properties", pp);
	jset(param, "additionalProperties", json_false());
	jset(defs, "param", param);

	/* modes */
	json_t *vm = jobj();
	json_t *vt = json_array();
	json_array_append_new(vt, jstr("object"));
	json_array_append_new(vt, jstr("null"));
	jset(vm, "type", vt);
	jset(vm, "additionalProperties", json_false());
	json_t *vmp = jobj();
	jset(vmp, "default", jtype("boolean"));
	jset(vmp, "description", jtype("string"));
	jset(vm, "properties", vmp);
	json_t *dm = json_deep_copy(vm);
	json_t *dmp = json_object_get(dm, "properties");
	jset(dmp, "authorize", jdesc(jtype("string"), "the token a disaster run must be given with --authorize (use ${secret.NAME})"));
	jset(dmp, "default", jdesc(jset(jobj(), "const", json_false()), "disaster is never the default mode"));
	json_t *mp = jobj();
	jset(mp, "validation", vm);
	jset(mp, "disaster", dm);
	json_t *modes = jtype("object");
	jset(modes, "properties", mp);
	jset(modes, "additionalProperties", json_false());

	/* the document */
	json_t *props = jobj();
	jset(props, "drplay", jdesc(jset(jobj(), "const", json_integer(1)), "format version"));
	json_t *pname = jtype("string");
	jset(pname, "pattern", jstr("^[A-Za-z0-9_-][A-Za-z0-9._-]*$"));
	jset(pname, "maxLength", json_integer(PLAYBOOK_NAME_MAX));
	jset(props, "name", jdesc(pname, "the playbook's name; also names its lock file <journal-dir>/NAME.lock"));
	jset(props, "description", jtype("string"));
	jset(props, "modes", modes);
	json_t *params = jtype("object");
	jset(params, "propertyNames", jset(jobj(), "pattern", jstr("^[A-Za-z_][A-Za-z0-9_]*$")));
	jset(params, "additionalProperties", jref("#/$defs/param"));
	jset(props, "params", params);
	json_t *resources = jtype("object");
	jset(resources, "propertyNames", jset(jobj(), "pattern", jstr("^[A-Za-z0-9_-]+$")));
	jset(resources, "additionalProperties", jref("#/$defs/resource"));
	jset(props, "resources", resources);
	json_t *steps = jtype("array");
	jset(steps, "items", jref("#/$defs/step"));
	jset(props, "steps", steps);
	json_t *obj = jtype("object");
	json_t *op = jobj();
	jset(op, "rto", jref("#/$defs/duration"));
	jset(op, "rpo", jref("#/$defs/duration"));
	jset(obj, "properties", op);
	jset(obj, "additionalProperties", json_false());
	jset(props, "objectives", obj);
	json_t *root = jobj();
	jset(root, "$schema", jstr("https://json-schema.org/draft/2020-12/schema"));
	jset(root, "$id", jstr("https://drplay.dev/schema/playbook-1.json"));
	jset(root, "title", jstr("drplay playbook (format 1)"));
	jset(root, "description",
	     jstr("A database disaster-recovery playbook run by drplay. Generated by `drplay schema` from the action registry; SPEC.md is authoritative."));
	jset(root, "type", jstr("object"));
	json_t *rq = json_array();
	json_array_append_new(rq, jstr("drplay"));
	json_array_append_new(rq, jstr("steps"));
	jset(root, "required", rq);
	jset(root, "additionalProperties", json_false());
	jset(root, "properties", props);
	jset(root, "$defs", defs);
	json_dumpf(root, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', f);
	json_decref(root);
}
