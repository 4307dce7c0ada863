/*
 * plan.c: the checked playbook's own accessors (plan.h): modes by name, the
 * lookups of params, resources and steps by name, and its release. The
 * checker builds a playbook; everything after it (lint, the guards, the
 * executor) reads it through these, so none of them depends on the checker.
 */
#include "plan.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

const char *mode_name(unsigned m)
{
	switch (m) {
	case MODE_VALIDATION: return "validation";
	case MODE_DISASTER: return "disaster";
	default: return "any";
	}
}

unsigned mode_parse(const char *s)
{
	if (!strcmp(s, "validation"))
		return MODE_VALIDATION;
	if (!strcmp(s, "disaster"))
		return MODE_DISASTER;
	return 0;
}

uint64_t plan_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

void playbook_free(struct playbook *pb)
{
	if (!pb)
		return;
	for (size_t i = 0; i < pb->ntmpls; i++)
		tmpl_free(pb->tmpls[i]);
	for (size_t i = 0; i < pb->nexprs; i++)
		expr_free(pb->exprs[i]);
	for (size_t i = 0; i < pb->njsons; i++)
		json_decref(pb->jsons[i]);
	free(pb->tmpls);
	free(pb->exprs);
	free(pb->jsons);
	arena_free(pb->arena);
	doc_free(pb->doc);
	free(pb);
}

const struct param_def *playbook_param(const struct playbook *pb, const char *name)
{
	for (size_t i = 0; i < pb->nparams; i++)
		if (!strcmp(pb->params[i].name, name))
			return &pb->params[i];
	return NULL;
}

const struct resource_def *playbook_resource(const struct playbook *pb, const char *name)
{
	for (size_t i = 0; i < pb->nresources; i++)
		if (!strcmp(pb->resources[i].name, name))
			return &pb->resources[i];
	return NULL;
}

long playbook_step_index(const struct playbook *pb, const char *id)
{
	if (!pb->step_hash_cap)
		return -1;
	size_t mask = pb->step_hash_cap - 1;
	for (size_t h = plan_hash(id) & mask;; h = (h + 1) & mask) {
		size_t v = pb->step_hash[h];
		if (v == 0)
			return -1;
		if (!strcmp(pb->steps[v - 1].id, id))
			return (long)(v - 1);
	}
}

const struct arg *step_arg(const struct step *st, const char *name)
{
	for (size_t i = 0; i < st->nargs; i++)
		if (!strcmp(st->args[i].spec->name, name))
			return &st->args[i];
	return NULL;
}
