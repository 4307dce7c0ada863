/*
 * verify_family.c: the verify family's table of actions: verify.compare
 * (verify.c) and verify.diff (verify_diff.c, which builds on verify.c's
 * engine), listed here so that neither file depends on the other both ways.
 */
#include "verify_int.h"

static const struct action_def *const verify_actions[] = { &verify_compare_def, &verify_diff_def, NULL };

const struct family verify_family = {
	.name = "verify",
	.actions = verify_actions,
};
