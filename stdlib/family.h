/*
 * family.h: the tables each stdlib family exports to the registry. A family
 * is one file (core.c, pg.c, ...) with a NULL-terminated, alphasorted table
 * of action declarations and one of resource kinds.
 */
#ifndef DRPLAY_FAMILY_H
#define DRPLAY_FAMILY_H

#include "../interp/action.h"

extern const struct action_def *const core_actions[];
extern const struct kind_def *const core_kinds[];
extern const struct action_def *const http_actions[];
extern const struct kind_def *const http_kinds[];
extern const struct action_def *const pg_actions[];
extern const struct action_def *const pg_drop_actions[];
extern const struct action_def *const report_actions[];
extern const struct kind_def *const report_kinds[];
extern const struct kind_def *const pg_kinds[];
extern const struct action_def *const offsite_actions[];
extern const struct kind_def *const offsite_kinds[];
extern const struct action_def *const verify_actions[];
extern const struct action_def *const maint_actions[], *const pitr_actions[];
extern const struct kind_def *const maint_kinds[], *const pitr_kinds[];
#ifdef DRPLAY_TESTING
extern const struct action_def *const testing_actions[];
extern const struct kind_def *const testing_kinds[];
#endif

/* Family tables are sorted and names unique: NULL, or the offending name. */
const char *registry_self_check(void);

#endif
