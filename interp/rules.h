/*
 * rules.h: the table of diagnostic rules (rules.c): every stable rule id a
 * diagnostic can carry, its default severity and a one-line description.
 */
#ifndef DRPLAY_RULES_H
#define DRPLAY_RULES_H

#include <stddef.h>

enum sev { SEV_ERROR, SEV_WARNING, SEV_NOTE };

struct rule_info {
	const char *id;
	enum sev sev;
	const char *summary;
};
extern const struct rule_info lint_rules[];
extern const size_t lint_rules_count;
/* The rule with this id, or NULL. */
const struct rule_info *lint_rule_find(const char *id);

#endif
