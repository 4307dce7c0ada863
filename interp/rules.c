/*
 * rules.c: the table of diagnostic rules, one entry per stable rule id the
 * loader, checker and linter report (id, default severity, one line of
 * description). The SARIF printer lists it as the tool's rules; nothing else
 * about a rule lives here: its logic is in check.c, lint.c or guard.c.
 * The table depends on nothing, so every reporter can read it.
 */
#include "rules.h"

#include <string.h>

#include "util.h"

const struct rule_info lint_rules[] = {
	{ .id = "yaml-syntax", .sev = SEV_ERROR,
	  .summary = "The file is not well-formed YAML (syntax, tabs, encoding, aliases)." },
	{ .id = "yaml-duplicate-key", .sev = SEV_ERROR, .summary = "A mapping has the same key twice." },
	{ .id = "yaml-limit", .sev = SEV_ERROR,
	  .summary = "The file exceeds a size, nesting or alias-expansion limit." },
	{ .id = "io", .sev = SEV_ERROR, .summary = "The file cannot be read." },
	{ .id = "format-version", .sev = SEV_ERROR, .summary = "The 'drplay:' format version is missing or unknown." },
	{ .id = "schema-unknown-key", .sev = SEV_ERROR, .summary = "A key that the format does not define." },
	{ .id = "schema-type", .sev = SEV_ERROR, .summary = "A value of the wrong type." },
	{ .id = "schema-missing", .sev = SEV_ERROR, .summary = "A required key or parameter is missing." },
	{ .id = "schema-value", .sev = SEV_ERROR, .summary = "A value outside what the format allows." },
	{ .id = "step-duplicate-id", .sev = SEV_ERROR, .summary = "Two steps share an id." },
	{ .id = "unknown-action", .sev = SEV_ERROR, .summary = "A step names an action that is not registered." },
	{ .id = "unknown-param", .sev = SEV_ERROR, .summary = "A step passes a parameter its action does not take." },
	{ .id = "unknown-resource", .sev = SEV_ERROR, .summary = "A reference to a resource that is not declared." },
	{ .id = "unknown-kind", .sev = SEV_ERROR, .summary = "A resource of a kind no action family provides." },
	{ .id = "resource-kind", .sev = SEV_ERROR, .summary = "A parameter names a resource of the wrong kind." },
	{ .id = "undeclared-param", .sev = SEV_ERROR, .summary = "A reference to a param that is not declared." },
	{ .id = "unknown-reference", .sev = SEV_ERROR,
	  .summary = "A reference to an unknown name (run, env, secret, resource field)." },
	{ .id = "step-order", .sev = SEV_ERROR, .summary = "A reference to a step that does not run earlier." },
	{ .id = "unknown-output", .sev = SEV_ERROR,
	  .summary = "A reference to an output the step's action does not have." },
	{ .id = "expr-syntax", .sev = SEV_ERROR, .summary = "An expression or ${...} template does not parse." },
	{ .id = "destructive-in-validation", .sev = SEV_ERROR,
	  .summary = "A destructive action on a live resource can run in validation mode." },
	{ .id = "maintenance-without-preflight", .sev = SEV_ERROR,
	  .summary = "Maintenance goes on without an earlier passing preflight gate (abort with no outage)." },
	{ .id = "maintenance-off-unverified", .sev = SEV_ERROR,
	  .summary = "Maintenance can be lifted without a passed verification gate (requires:)." },
	{ .id = "restore-without-snapshot", .sev = SEV_ERROR,
	  .summary = "A destructive restore on a live resource has no earlier safety snapshot of it." },
	{ .id = "verify-not-gate", .sev = SEV_ERROR, .summary = "A verify step is not a gate, or continues on failure." },
	{ .id = "gate-continue", .sev = SEV_ERROR, .summary = "A gate that continues on failure is not a gate." },
	{ .id = "report-not-always", .sev = SEV_WARNING,
	  .summary = "A report step does not run after failures (always: true)." },
	{ .id = "disaster-without-authorize", .sev = SEV_ERROR, .summary = "Disaster mode does not require --authorize." },
	{ .id = "maintenance-without-off", .sev = SEV_ERROR,
	  .summary = "Maintenance goes on with no step that can turn it off." },
	{ .id = "literal-credential", .sev = SEV_ERROR,
	  .summary = "A credential is written into the file instead of a secret." },
	{ .id = "secret-printed", .sev = SEV_ERROR, .summary = "A secret is placed where it would be printed or sent." },
	{ .id = "throwaway-on-live-server", .sev = SEV_WARNING,
	  .summary = "A throwaway resource lives on the same server as a live one." },
	{ .id = "destructive-unknown-target", .sev = SEV_WARNING,
	  .summary = "A destructive action's target is only known at run time; the run checks it then." },
};
const size_t lint_rules_count = ARRAY_SIZE(lint_rules);

const struct rule_info *lint_rule_find(const char *id)
{
	for (size_t i = 0; i < lint_rules_count; i++)
		if (strcmp(lint_rules[i].id, id) == 0)
			return &lint_rules[i];
	return NULL;
}
