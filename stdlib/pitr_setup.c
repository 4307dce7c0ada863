/*
 * pitr_setup.c: reading a pitr step's `resource` into a struct pitr (the
 * resource, its driver's operations, its database), shared by the actions
 * of pitr.c and pitr.salvage (pitr_salvage.c), which pitr.c's table lists.
 */
#include <string.h>

#include "pitr.h"

int pitr_setup(struct act *a, struct pitr *p)
{
	json_decref(p->cache);
	memset(p, 0, sizeof(*p));
	p->a = a;
	p->r = act_resource(a, "resource");
	if (!p->r)
		return -1;
	p->driver = res_str(p->r, "driver");
	const struct driver_def *d = kind_driver(p->r->kind, p->driver);
	if (!d) {
		struct strbuf known = STRBUF_INIT;
		const struct driver_def *const *k = p->r->kind->drivers;
		for (size_t i = 0; k && k[i]; i++)
			sb_addf(&known, "%s%s", i == 0 ? "" : k[i + 1] ? ", " : " or ", k[i]->name);
		act_fail(a, "pitr resource '%s' has driver '%s'; use %s", p->r->name, p->driver ? p->driver : "",
			 sb_str(&known));
		sb_release(&known);
		return -1;
	}
	p->ops = d->ops;
	p->db = act_resource_named(a, res_str(p->r, "database"));
	if (!p->db)
		return -1;
	return 0;
}

