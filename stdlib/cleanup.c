/*
 * cleanup.c: the action behind `drplay cleanup`, the one place preserved
 * states are deleted. It works on any resource whose kind keeps snapshots
 * or preserved states (the kind's list_preserved and delete_preserved
 * hooks; pitr's today): it lists them and deletes exactly the one named by
 * --approve. Flagged A_COMMAND, it is reachable from that command alone:
 * no playbook can name it, and no run deletes what a restore kept.
 */
#include <string.h>

#include "family.h"

static int do_cleanup(struct act *a)
{
	struct resource *r = act_resource(a, "resource");
	if (!r)
		return ACT_FAIL;
	if (!r->kind->list_preserved)
		return act_fail(a, "resource '%s' is of kind %s, which keeps no snapshots or preserved states; `drplay cleanup` works on kinds that do (such as pitr)",
				r->name, r->kind->name);
	json_t *list = r->kind->list_preserved(a, r);
	if (!list)
		return ACT_FAIL;
	const char *want = act_str(a, "approve");
	size_t i;
	json_t *e;
	json_t *hit = NULL;
	if (json_array_size(list) == 0)
		act_log(a, "resource '%s' keeps no snapshots or preserved states", r->name);
	else
		act_log(a, "snapshots and preserved states of resource '%s' (never deleted by a run):", r->name);
	json_array_foreach(list, i, e)
	{
		const char *name = json_string_value(json_object_get(e, "name"));
		const char *type = json_string_value(json_object_get(e, "type"));
		const char *created = json_string_value(json_object_get(e, "created"));
		const char *detail = json_string_value(json_object_get(e, "detail"));
		act_log(a, "  %-44s %-9s %-20s %s", name ? name : "?", type ? type : "", created ? created : "",
			detail ? detail : "");
		if (want && name && !strcmp(name, want))
			hit = e;
	}
	act_out(a, "preserved", json_incref(list));
	if (!want) {
		if (json_array_size(list))
			act_log(a, "nothing deleted; to delete one, repeat its exact name: drplay cleanup FILE --resource %s --approve=NAME",
				r->name);
		json_decref(list);
		return ACT_OK;
	}
	if (!hit) {
		json_decref(list);
		return act_fail(a, "resource '%s' keeps nothing named '%s'; nothing was deleted (--approve needs one exact name from the list above)",
				r->name, want);
	}
	if (!r->kind->delete_preserved) {
		json_decref(list);
		return act_fail(a, "resource kind %s cannot delete its preserved states; nothing was deleted", r->kind->name);
	}
	int rc = r->kind->delete_preserved(a, r, want);
	json_decref(list);
	if (rc != ACT_OK)
		return ACT_FAIL;
	act_out_str(a, "deleted", want);
	act_log(a, "deleted '%s' of resource '%s', as approved", want, r->name);
	return ACT_OK;
}

/* Deleting is a state change (never of the live data: only the exactly
 * named preserved state); listing is read-only. */
static unsigned cleanup_flags(const struct argq *q)
{
	int absent = 0;
	argq_str(q, "approve", &absent);
	return absent ? 0 : A_STATE;
}

static const struct param_spec cleanup_params[] = {
	{ .name = "approve", .type = T_STRING, .flags = P_PRINTED,
	  .doc = "the exact name of the one state to delete" },
	{ .name = "resource", .type = T_RESOURCE, .flags = P_TARGET, .doc = "the resource whose states are listed" },
	{ .name = NULL },
};
static const struct output_spec cleanup_outputs[] = {
	{ .name = "deleted", .type = T_STRING, .doc = "the name deleted" },
	{ .name = "preserved", .type = T_LIST, .doc = "what the resource keeps" },
	{ .name = NULL },
};
/* A command's action (A_COMMAND): no playbook can name it. */
static const struct action_def cleanup_def = {
	.name = "cleanup",
	.run = do_cleanup,
	.flags = A_STATE | A_COMMAND,
	.cat = CAT_OTHER,
	.params = cleanup_params,
	.outputs = cleanup_outputs,
	.doc = "Lists, and on exact approval deletes, a resource's snapshots and preserved states.",
	.flags_for = cleanup_flags,
};

static const struct action_def *const cleanup_actions[] = { &cleanup_def, NULL };

const struct family cleanup_family = {
	.name = "cleanup",
	.actions = cleanup_actions,
};
