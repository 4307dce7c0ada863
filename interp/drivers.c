/*
 * drivers.c: the static checks every kind with drivers gets from its
 * drivers' declarations (struct driver_def, action.h): the resource's
 * driver has the fields it needs, and no field of another driver is given.
 * A kind's check hook calls kind_check_drivers; the wording of a field of
 * another driver is the kind's (kind_def.foreign_field).
 */
#include <stdlib.h>
#include <string.h>

#include "action.h"
#include "util.h"

/* How a field of another driver is refused, unless the kind words it. */
#define FOREIGN_FIELD "field '%s' is for the %s driver%s, and this resource uses the %s driver; remove it"

/* The drivers of k that take field f, "a, b" (and *several). */
static char *takers(const struct kind_def *k, const char *f, int *several)
{
	struct strbuf sb = STRBUF_INIT;
	int n = 0;
	for (const struct driver_def *const *d = k->drivers; *d; d++)
		if (param_find((*d)->fields, f) || param_find((*d)->shared, f)) {
			sb_addf(&sb, "%s%s", n ? ", " : "", (*d)->name);
			n++;
		}
	*several = n > 1;
	return sb_detach(&sb);
}

int kind_check_drivers(const char *kind, const struct argq *q)
{
	const struct kind_def *k = kind_find(kind);
	int absent = 0;
	const struct driver_def *d = k ? kind_driver(k, argq_str(q, "driver", &absent)) : NULL;
	if (!d)
		return 0; /* unknown or templated: the allowed list / run time say so */
	int errs = 0;
	const struct param_spec *const sets[] = { d->fields, d->shared };
	for (size_t s = 0; s < ARRAY_SIZE(sets); s++)
		for (const struct param_spec *p = sets[s]; p && p->name; p++) {
			if (!(p->flags & P_REQUIRED))
				continue;
			argq_str(q, p->name, &absent);
			if (absent) {
				argq_error(q, "driver", "the %s driver needs the field '%s'", d->name, p->name);
				errs++;
			}
		}
	for (const struct param_spec *p = k->fields; p->name; p++) {
		if (!strcmp(p->name, "driver"))
			continue;
		int several;
		char *who = takers(k, p->name, &several);
		int foreign = *who && !param_find(d->fields, p->name) && !param_find(d->shared, p->name);
		if (foreign) {
			argq_str(q, p->name, &absent);
			if (!absent) {
				argq_error(q, p->name, k->foreign_field ? k->foreign_field : FOREIGN_FIELD, p->name,
					   who, several ? "s" : "", d->name);
				errs++;
			}
		}
		free(who);
	}
	if (d->check)
		errs += d->check(q);
	return errs;
}
