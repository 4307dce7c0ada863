/*
 * registry.c: every action, resource kind and driver drplay knows, looked up
 * by name. The registry knows no family: stdlib/families.c hands it the
 * family tables at start-up (registry_add), and each driver registers
 * itself from its own file (driver_register, before main). On the first
 * lookup it gathers them into sorted indexes searched with bsearch (curl's
 * alphasorted option table), and gives each kind with drivers its `driver`
 * field and the union of its drivers' fields, so that the checker, the
 * executor, `drplay actions`, the JSON Schema and SPEC.md's tables all read
 * one declaration.
 */
#include <stdlib.h>
#include <string.h>

#include "action.h"
#include "redact.h"
#include "util.h"

static const struct family **families;
static size_t nfamilies;
static const struct driver_def **drivers;
static size_t ndrivers;

/* The indexes, built on first use (again after a later registration). */
static int built;
static const struct action_def **all, **commands;
static size_t nall, ncommands;
static const struct kind_def **kinds;
static size_t nkinds;
static struct strbuf build_error; /* what registry_self_check reports */

void registry_add(const struct family *f)
{
	families = xrealloc(families, (nfamilies + 1) * sizeof(*families));
	families[nfamilies++] = f;
	redact_add_patterns(f->patterns);
	built = 0;
}

void driver_register(const struct driver_def *d)
{
	drivers = xrealloc(drivers, (ndrivers + 1) * sizeof(*drivers));
	drivers[ndrivers++] = d;
	built = 0;
}

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

static int cmp_driver(const void *a, const void *b)
{
	const struct driver_def *x = *(const struct driver_def *const *)a;
	const struct driver_def *y = *(const struct driver_def *const *)b;
	return strcmp(x->name, y->name);
}

static int cmp_param(const void *a, const void *b)
{
	return strcmp(((const struct param_spec *)a)->name, ((const struct param_spec *)b)->name);
}

static void build_fail(const char *fmt, ...) PRINTF_LIKE(1, 2);
static void build_fail(const char *fmt, ...)
{
	if (build_error.len)
		return; /* the first offence is the one reported */
	va_list ap;
	va_start(ap, fmt);
	sb_vaddf(&build_error, fmt, ap);
	va_end(ap);
}

/* ---- a kind's drivers ---- */

/* One field of a kind with drivers, while the union is made: the drivers
 * that declare it (in name order) and their descriptions. */
struct merged {
	struct param_spec spec;
	const struct driver_def *owners[16];
	size_t nowners;
};

static int same_decl(const struct param_spec *a, const struct param_spec *b)
{
	int same_str = (!a->def) == (!b->def) && (!a->def || !strcmp(a->def, b->def));
	int same_kind = (!a->kind) == (!b->kind) && (!a->kind || !strcmp(a->kind, b->kind));
	return a->type == b->type && (a->flags & ~P_REQUIRED) == (b->flags & ~P_REQUIRED) && same_str &&
	       same_kind && a->allowed == b->allowed;
}

static void merge_field(struct merged *m, size_t *n, const struct param_spec *p, const struct driver_def *d,
			const struct kind_def *k)
{
	for (size_t i = 0; i < *n; i++) {
		if (strcmp(m[i].spec.name, p->name))
			continue;
		if (!same_decl(&m[i].spec, p))
			build_fail("field '%s' of kind %s is declared differently by its drivers %s and %s", p->name,
				   k->name, m[i].owners[0]->name, d->name);
		else if (m[i].nowners < ARRAY_SIZE(m[i].owners))
			m[i].owners[m[i].nowners++] = d;
		return;
	}
	if (param_find(k->fields, p->name) || !strcmp(p->name, "driver")) {
		build_fail("driver %s of kind %s declares field '%s', which the kind itself has", d->name, k->name,
			   p->name);
		return;
	}
	m[*n].spec = *p;
	m[*n].spec.flags &= ~P_REQUIRED; /* required by some drivers: kind_check_drivers says so */
	m[*n].owners[0] = d;
	m[*n].nowners = 1;
	(*n)++;
}

/* "d1, d2: doc" for each description, joined by "; " (drivers that say the
 * same thing share it). */
static char *owners_doc(const struct merged *m)
{
	struct strbuf sb = STRBUF_INIT;
	int done[16] = { 0 };
	for (size_t i = 0; i < m->nowners; i++) {
		if (done[i])
			continue;
		const char *doc = param_find(m->owners[i]->fields, m->spec.name)
					  ? param_find(m->owners[i]->fields, m->spec.name)->doc
					  : param_find(m->owners[i]->shared, m->spec.name)->doc;
		sb_addf(&sb, "%s%s", sb.len ? "; " : "", m->owners[i]->name);
		for (size_t j = i + 1; j < m->nowners; j++) {
			const struct param_spec *q = param_find(m->owners[j]->fields, m->spec.name);
			if (!q)
				q = param_find(m->owners[j]->shared, m->spec.name);
			if (!done[j] && !strcmp(q->doc ? q->doc : "", doc ? doc : "")) {
				sb_addf(&sb, ", %s", m->owners[j]->name);
				done[j] = 1;
			}
		}
		sb_addf(&sb, ": %s", doc ? doc : "");
	}
	return sb_detach(&sb);
}

/* The `driver` field: one of the registered names. */
static struct param_spec driver_field(const struct driver_def *const *ds, size_t n)
{
	const char **names = xcalloc(n + 1, sizeof(*names));
	struct strbuf doc = STRBUF_INIT;
	for (size_t i = 0; i < n; i++) {
		names[i] = ds[i]->name;
		sb_addf(&doc, "%s%s", i == 0 ? "" : i + 1 == n ? " or " : ", ", ds[i]->name);
	}
	return (struct param_spec){ .name = "driver", .type = T_STRING, .flags = P_REQUIRED,
				    .allowed = names, .doc = sb_detach(&doc) };
}

/* The registry's copy of a kind: its own fields, `driver`, and the union
 * of its drivers' fields, sorted by name. */
static const struct kind_def *with_drivers(const struct kind_def *k)
{
	size_t nd = 0, nf = 0;
	for (size_t i = 0; i < ndrivers; i++)
		if (!strcmp(drivers[i]->kind, k->name)) {
			nd++;
			for (const struct param_spec *p = drivers[i]->fields; p && p->name; p++)
				nf++;
			for (const struct param_spec *p = drivers[i]->shared; p && p->name; p++)
				nf++;
		}
	if (!nd)
		return k;
	const struct driver_def **ds = xcalloc(nd + 1, sizeof(*ds));
	nd = 0;
	for (size_t i = 0; i < ndrivers; i++)
		if (!strcmp(drivers[i]->kind, k->name))
			ds[nd++] = drivers[i];
	qsort(ds, nd, sizeof(*ds), cmp_driver);
	struct merged *m = xcalloc(nf + 1, sizeof(*m));
	size_t nm = 0;
	for (size_t i = 0; i < nd; i++) {
		if (i && !strcmp(ds[i - 1]->name, ds[i]->name))
			build_fail("kind %s has two drivers named %s", k->name, ds[i]->name);
		for (const struct param_spec *p = ds[i]->fields; p && p->name; p++)
			merge_field(m, &nm, p, ds[i], k);
		for (const struct param_spec *p = ds[i]->shared; p && p->name; p++)
			merge_field(m, &nm, p, ds[i], k);
	}
	size_t nown = 0;
	for (const struct param_spec *p = k->fields; p && p->name; p++)
		nown++;
	struct param_spec *fields = xcalloc(nown + nm + 2, sizeof(*fields));
	size_t n = 0;
	for (const struct param_spec *p = k->fields; p && p->name; p++)
		fields[n++] = *p;
	fields[n++] = driver_field(ds, nd);
	for (size_t i = 0; i < nm; i++) {
		fields[n] = m[i].spec;
		fields[n++].doc = owners_doc(&m[i]);
	}
	qsort(fields, n, sizeof(*fields), cmp_param);
	free(m);
	/* kept in `copies` too, so that a rebuild never loses one */
	static struct kind_def **copies;
	static size_t ncopies;
	struct kind_def *copy = xmalloc(sizeof(*copy));
	copies = xrealloc(copies, (ncopies + 1) * sizeof(*copies));
	copies[ncopies++] = copy;
	*copy = *k;
	copy->fields = fields;
	copy->drivers = ds;
	return copy;
}

/* ---- the indexes ---- */

static void check_sorted(const struct family *f)
{
	for (const struct action_def *const *p = f->actions; p && p[0] && p[1]; p++)
		if (strcmp(p[0]->name, p[1]->name) >= 0)
			build_fail("family %s: action %s is not in name order", f->name, p[1]->name);
	for (const struct kind_def *const *p = f->kinds; p && p[0] && p[1]; p++)
		if (strcmp(p[0]->name, p[1]->name) >= 0)
			build_fail("family %s: kind %s is not in name order", f->name, p[1]->name);
}

static void build(void)
{
	if (built)
		return;
	built = 1;
	free(all);
	free(commands);
	free(kinds);
	nall = ncommands = nkinds = 0;
	all = xcalloc(1, sizeof(*all));
	commands = xcalloc(1, sizeof(*commands));
	kinds = xcalloc(1, sizeof(*kinds));
	for (size_t f = 0; f < nfamilies; f++) {
		check_sorted(families[f]);
		for (const struct action_def *const *p = families[f]->actions; p && *p; p++) {
			int cmd = ((*p)->flags & A_COMMAND) != 0;
			const struct action_def ***v = cmd ? &commands : &all;
			size_t *n = cmd ? &ncommands : &nall;
			*v = xrealloc(*v, (*n + 2) * sizeof(**v));
			(*v)[(*n)++] = *p;
			(*v)[*n] = NULL;
		}
		for (const struct kind_def *const *p = families[f]->kinds; p && *p; p++) {
			kinds = xrealloc(kinds, (nkinds + 2) * sizeof(*kinds));
			kinds[nkinds++] = with_drivers(*p);
			kinds[nkinds] = NULL;
		}
	}
	qsort(all, nall, sizeof(*all), cmp_action);
	qsort(commands, ncommands, sizeof(*commands), cmp_action);
	qsort(kinds, nkinds, sizeof(*kinds), cmp_kind);
	for (size_t i = 1; i < nall; i++)
		if (!strcmp(all[i - 1]->name, all[i]->name))
			build_fail("action %s is registered twice", all[i]->name);
	for (size_t i = 1; i < nkinds; i++)
		if (!strcmp(kinds[i - 1]->name, kinds[i]->name))
			build_fail("kind %s is registered twice", kinds[i]->name);
	for (size_t i = 0; i < ndrivers; i++)
		if (!kind_find(drivers[i]->kind))
			build_fail("driver %s is for kind %s, which no family registers", drivers[i]->name,
				   drivers[i]->kind);
}

static const void *find(const void *const *v, size_t n, const char *name, int (*cmp)(const void *, const void *))
{
	struct action_def ka = { .name = name };
	struct kind_def kk = { .name = name };
	const void *key = cmp == cmp_kind ? (const void *)&kk : (const void *)&ka;
	const void *const *hit = bsearch(&key, v, n, sizeof(*v), cmp);
	return hit ? *hit : NULL;
}

const struct action_def *registry_find(const char *name)
{
	build();
	return find((const void *const *)all, nall, name, cmp_action);
}

const struct action_def *const *registry_all(size_t *n)
{
	build();
	*n = nall;
	return all;
}

const struct action_def *registry_command(const char *name)
{
	build();
	return find((const void *const *)commands, ncommands, name, cmp_action);
}

const struct kind_def *kind_find(const char *name)
{
	build();
	return find((const void *const *)kinds, nkinds, name, cmp_kind);
}

const struct kind_def *const *kinds_all(size_t *n)
{
	build();
	*n = nkinds;
	return kinds;
}

const struct driver_def *kind_driver(const struct kind_def *k, const char *name)
{
	for (const struct driver_def *const *d = k && name ? k->drivers : NULL; d && *d; d++)
		if (!strcmp((*d)->name, name))
			return *d;
	return NULL;
}

const char *registry_self_check(void)
{
	build();
	return build_error.len ? sb_str(&build_error) : NULL;
}

/* ---- small lookups ---- */

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
