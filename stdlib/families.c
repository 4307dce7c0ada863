/*
 * families.c: the list of action families, handed to the registry at
 * start-up. This is the one place a family is named; a new family adds a
 * line here (a new driver of an existing kind adds none: see action.h's
 * DRIVER_REGISTER). The order is the order of the families' credential
 * shapes: lint names the first that matches (a connection URL's password
 * before the rest, as pg registers it first).
 */
#include "family.h"

void stdlib_register(void)
{
	static const struct family *const families[] = {
		&pg_family,
		&stores_family,
		&http_family,
		&core_family,
		&cleanup_family,
		&dump_family,
		&maint_family,
		&offsite_family,
		&pitr_family,
		&report_family,
		&verify_family,
#ifdef DRPLAY_TESTING
		&testing_family,
#endif
	};
	static int done;
	if (done)
		return;
	done = 1;
	for (size_t i = 0; i < ARRAY_SIZE(families); i++)
		registry_add(families[i]);
}
