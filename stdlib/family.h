/*
 * family.h: what every action family includes (the action API), and the
 * families stdlib/families.c registers. A family is one file, or a few
 * sharing a prefix (pg_*.c, pitr_*.c, maint_*.c), that exports one struct
 * family: its alphasorted tables of actions and resource kinds and the
 * credential shapes it knows. A driver of a kind registers itself from its
 * own file (DRIVER_REGISTER in action.h) and is listed nowhere else.
 */
#ifndef DRPLAY_FAMILY_H
#define DRPLAY_FAMILY_H

#include "../interp/action.h"

extern const struct family cleanup_family, core_family, dump_family, http_family, maint_family, offsite_family,
	pg_family, pitr_family, report_family, stores_family, verify_family;
#ifdef DRPLAY_TESTING
extern const struct family testing_family;
#endif

/* Registers every family (main calls it once, before anything else). */
void stdlib_register(void);

#endif
