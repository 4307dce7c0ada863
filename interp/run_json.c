/*
 * run_json.c: the documents about one run. `drplay plan --json` and
 * `drplay run --dry-run --json`: the
 * resolved plan as one document (format drplay.plan/1, schema
 * grammar/drplay.plan.schema.json): the mode, the params, the guards that
 * passed (and the warnings they left), the resources with their fields
 * resolved as far as they can be before the run, and the steps in order,
 * each with whether it runs and why not, its effect and its arguments.
 * A value made from a secret is never shown: it reads "***", and the whole
 * document goes through the mask besides.
 *
 * A one-step command given --json (`drplay maintenance on|off|status`,
 * `drplay cleanup`) prints one document at its end (drplay.command/1): the
 * command, the resource, the outcome and exit code, the action's outputs
 * (the switch's state, the preserved states listed) or its error.
 */
#include <stdlib.h>
#include <string.h>

#include "jsonout.h"
#include "prepare.h"
#include "resolve.h"
#include "summary.h"
#include "text.h"
#include "util.h"

/* A value as the plan knows it: {"value": V} when resolved (V is "***"
 * when made from a secret, with "secret": true), {"template": T} when it is
 * known only while running, {"expression": E} for an expression the action
 * evaluates, {"error": MSG} when it cannot be resolved. */
static json_t *value_json(struct run *r, const struct vtree *v)
{
	json_t *o = json_object();
	json_t *j = NULL;
	char *err = NULL;
	int secret = 0;
	struct eval_ctx ctx = run_ctx(r);
	if (v->kind == VT_EXPR) {
		json_object_set_new(o, "expression", json_text(expr_text(v->expr)));
	} else if (!v->dynamic && vtree_eval(v, &ctx, &j, &err, &secret) == 0) {
		json_object_set_new(o, "value", secret || v->secret ? json_string("***") : json_incref(j));
		if (secret || v->secret)
			json_object_set_new(o, "secret", json_true());
	} else if (v->kind == VT_TMPL) {
		json_object_set_new(o, "template", json_text(tmpl_text(v->tmpl)));
	} else if (v->dynamic) {
		json_object_set_new(o, "template", json_string("(structure resolved at run time)"));
	} else {
		json_object_set_new(o, "error", json_text(err ? err : "cannot be resolved"));
	}
	json_decref(j);
	free(err);
	return o;
}

static const char *effect_of(unsigned f)
{
	return f & A_DESTRUCT ? "destructive" : f & A_STATE ? "state-changing" : "read-only";
}

static json_t *step_json(struct run *r, const struct step *st)
{
	const struct playbook *pb = r->pb;
	json_t *o = json_object();
	json_object_set_new(o, "index", json_integer((json_int_t)st->index + 1));
	json_object_set_new(o, "id", json_string(st->id));
	json_object_set_new(o, "action", json_string(st->def->name));
	json_object_set_new(o, "category", json_string(category_name(st->def->cat)));
	char *why = mode_skip_reason(st, r->mode);
	struct static_env env = { .pb = pb, .mode = r->mode, .params = r->params, .read_env = 1,
				  .run_id = r->run_id, .started_us = r->started_us };
	json_object_set_new(o, "effect", json_string(effect_of(step_flags(st, &env))));
	json_object_set_new(o, "decision", json_string(why ? "skip" : st->when ? "run_if" : "run"));
	if (why)
		json_object_set_new(o, "skip_reason", json_text(why));
	free(why);
	if (st->when)
		json_object_set_new(o, "when", json_text(expr_text(st->when)));
	json_t *req = json_array();
	for (size_t q = 0; q < st->nrequires; q++)
		json_array_append_new(req, json_string(pb->steps[st->requires[q]].id));
	json_object_set_new(o, "requires", req);
	json_object_set_new(o, "gate", json_boolean(st->gate));
	json_object_set_new(o, "always", json_boolean(st->always));
	json_object_set_new(o, "on_failure", json_string(st->cont ? "continue" : "stop"));
	json_object_set_new(o, "timeout_s", st->timeout_us ? json_real((double)st->timeout_us / 1e6) : json_null());
	json_object_set_new(o, "retries", json_integer(st->retries));
	json_t *args = json_object();
	for (size_t a = 0; a < st->nargs; a++)
		json_object_set_new(args, st->args[a].spec->name, value_json(r, st->args[a].v));
	json_object_set_new(o, "args", args);
	return o;
}

static json_t *resources_json(struct run *r)
{
	const struct playbook *pb = r->pb;
	json_t *arr = json_array();
	for (size_t i = 0; i < pb->nresources; i++) {
		const struct resource_def *rd = &pb->resources[i];
		json_t *o = json_object();
		json_object_set_new(o, "name", json_string(rd->name));
		json_object_set_new(o, "kind", json_string(rd->kind ? rd->kind->name : ""));
		json_object_set_new(o, "live", json_boolean(rd->live));
		json_object_set_new(o, "throwaway", json_boolean(rd->throwaway));
		json_t *fields = json_object();
		for (size_t f = 0; f < rd->nfields; f++)
			json_object_set_new(fields, rd->fspecs[f]->name, value_json(r, rd->fields[f]));
		json_object_set_new(o, "fields", fields);
		json_array_append_new(arr, o);
	}
	return arr;
}

void print_plan_json(struct run *r, const struct diags *d)
{
	const struct playbook *pb = r->pb;
	json_t *doc = jsonout_new("drplay.plan/1");
	json_object_set_new(doc, "playbook", json_string(pb->name));
	json_object_set_new(doc, "file", json_text(pb->file));
	json_object_set_new(doc, "sha256", json_string(pb->doc->sha256));
	json_object_set_new(doc, "mode", json_string(mode_name(r->mode)));
	json_object_set_new(doc, "dry_run", json_true());
	json_object_set(doc, "params", r->params);
	json_t *obj = json_object();
	if (pb->rto_us)
		json_object_set_new(obj, "rto_s", json_real((double)pb->rto_us / 1e6));
	if (pb->rpo_us)
		json_object_set_new(obj, "rpo_s", json_real((double)pb->rpo_us / 1e6));
	json_object_set_new(doc, "objectives", obj);
	/* the plan is printed only once every guard of the mode passed */
	json_t *guards = json_object();
	json_object_set_new(guards, "passed", json_true());
	json_object_set_new(guards, "authorization",
			    json_string(r->mode == MODE_DISASTER ? "given and matching" : "not needed"));
	json_object_set_new(guards, "warnings", diags_json(d, NULL));
	json_object_set_new(doc, "guards", guards);
	json_object_set_new(doc, "resources", resources_json(r));
	json_t *steps = json_array();
	for (size_t i = 0; i < pb->nsteps; i++)
		json_array_append_new(steps, step_json(r, &pb->steps[i]));
	json_object_set_new(doc, "steps", steps);
	jsonout_print(doc, stdout, 1);
}

void print_command_json(struct run *r, const struct run_opts *o, int rc)
{
	const struct step_state *ss = &r->ss[0];
	json_t *doc = jsonout_new("drplay.command/1");
	json_object_set_new(doc, "command", json_text(o->command ? o->command : o->one_id));
	json_object_set_new(doc, "playbook", json_string(r->pb->name));
	json_object_set_new(doc, "file", json_text(r->pb->file));
	json_object_set_new(doc, "mode", json_string(mode_name(r->mode)));
	json_object_set_new(doc, "action", json_string(o->one_def->name));
	json_object_set(doc, "arguments", o->one_with);
	json_object_set_new(doc, "run", r->journal ? json_string(r->run_id) : json_null());
	json_object_set_new(doc, "journal", r->journal ? json_text(journal_path(r->journal)) : json_null());
	json_object_set_new(doc, "outcome", json_string(outcome_name(ss->outcome)));
	json_object_set_new(doc, "exit_code", json_integer(rc));
	json_object_set_new(doc, "state_changed", json_boolean(run_changed(r)));
	json_object_set_new(doc, "duration_s", json_real((double)ss->dur_us / 1e6));
	json_object_set(doc, "outputs", ss->outputs ? ss->outputs : json_object());
	if (ss->error)
		json_object_set_new(doc, "error", json_text(ss->error));
	jsonout_print(doc, stdout, 1);
}
