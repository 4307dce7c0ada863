/*
 * registry.c: every action and resource kind drplay knows, gathered from the
 * family tables (one per stdlib file, each alphasorted like curl's option
 * table) into one sorted index, searched with bsearch. This is the one place
 * a family is registered; the executor, checker, linter, `drplay actions`,
 * the JSON Schema and SPEC.md's tables all read from here.
 */
#include <stdlib.h>
#include <string.h>

#include "family.h"

static const struct action_def *const *families[] = {
	core_actions,
	http_actions,
	pg_actions,
	pg_drop_actions,
	offsite_actions,
	report_actions,
	verify_actions,
	maint_actions, pitr_actions,
#ifdef DRPLAY_TESTING
	testing_actions,
#endif
};

static const struct kind_def *const *kind_families[] = {
	core_kinds,
	http_kinds,
	pg_kinds,
	offsite_kinds,
	report_kinds,
	maint_kinds, pitr_kinds,
#ifdef DRPLAY_TESTING
	testing_kinds,
#endif
};

static const struct action_def **all;
static size_t nall;
static const struct kind_def **kinds;
static size_t nkinds;

static int cmp_action(const void *a, const void *b)
{
	const struct action_def *x = *(const struct action_def *const *)a;
	const struct action_def *y = *(const struct action_def *const *)b;
	return strcmp(x->name, y->name);
}

static int cmp_kind(const void *a, const void *b)
{
	const struct kind_def *x = *(const struct kind_def *const *)a;
	const struct kind_def *y = *(const struct kind_def *const *)b;
	return strcmp(x->name, y->name);
}

static void build(void)
{
	if (all)
		return;
	for (size_t f = 0; f < ARRAY_SIZE(families); f++)
		for (const struct action_def *const *p = families[f]; *p; p++)
			nall++;
	all = xcalloc(nall + 1, sizeof(*all));
	size_t k = 0;
	for (size_t f = 0; f < ARRAY_SIZE(families); f++)
		for (const struct action_def *const *p = families[f]; *p; p++)
			all[k++] = *p;
	qsort(all, nall, sizeof(*all), cmp_action);
	for (size_t f = 0; f < ARRAY_SIZE(kind_families); f++)
		for (const struct kind_def *const *p = kind_families[f]; *p; p++)
			nkinds++;
	kinds = xcalloc(nkinds + 1, sizeof(*kinds));
	k = 0;
	for (size_t f = 0; f < ARRAY_SIZE(kind_families); f++)
		for (const struct kind_def *const *p = kind_families[f]; *p; p++)
			kinds[k++] = *p;
	qsort(kinds, nkinds, sizeof(*kinds), cmp_kind);
}

const struct action_def *registry_find(const char *name)
{
	build();
	struct action_def key = { .name = name };
	const struct action_def *kp = &key;
	const struct action_def **hit = bsearch(&kp, all, nall, sizeof(*all), cmp_action);
	return hit ? *hit : NULL;
}

const struct action_def *const *registry_all(size_t *n)
{
	build();
	*n = nall;
	return all;
}

const struct kind_def *kind_find(const char *name)
{
	build();
	struct kind_def key = { .name = name };
	const struct kind_def *kp = &key;
	const struct kind_def **hit = bsearch(&kp, kinds, nkinds, sizeof(*kinds), cmp_kind);
	return hit ? *hit : NULL;
}

const struct kind_def *const *kinds_all(size_t *n)
{
	build();
	*n = nkinds;
	return kinds;
}

const struct param_spec *param_find(const struct param_spec *ps, const char *name)
{
	for (; ps && ps->name; ps++)
		if (!strcmp(ps->name, name))
			return ps;
	return NULL;
}

const char *category_name(enum category c)
{
	switch (c) {
	case CAT_PREFLIGHT: return "preflight";
	case CAT_MAINT_ON: return "maintenance_on";
	case CAT_MAINT_OFF: return "maintenance_off";
	case CAT_SNAPSHOT: return "snapshot";
	case CAT_RESTORE: return "restore";
	case CAT_VERIFY: return "verify";
	case CAT_REPORT: return "report";
	default: return "other";
	}
}

/* Each family table must be alphasorted and no name may appear twice; the
 * unit test calls this. Returns the first offending name or NULL. */
const char *registry_self_check(void)
{
	for (size_t f = 0; f < ARRAY_SIZE(families); f++)
		for (const struct action_def *const *p = families[f]; p[0] && p[1]; p++)
			if (strcmp(p[0]->name, p[1]->name) >= 0)
				return p[1]->name;
	build();
	for (size_t i = 1; i < nall; i++)
		if (!strcmp(all[i - 1]->name, all[i]->name))
			return all[i]->name;
	for (size_t i = 1; i < nkinds; i++)
		if (!strcmp(kinds[i - 1]->name, kinds[i]->name))
			return kinds[i]->name;
	return NULL;
}
