/*
 * exitcode.h: the exit codes of drplay, one per outcome class (SPEC.md,
 * section 4, "Exit codes"): every command ends with one of these, and so do
 * the libraries (lazy.c's library that cannot be loaded ends with
 * EXIT_STEP_FAILED, see there: no undocumented code such as 70).
 */
#ifndef DRPLAY_EXITCODE_H
#define DRPLAY_EXITCODE_H

enum {
	EXIT_OK = 0,
	EXIT_STEP_FAILED = 1,   /* a step failed after state had changed */
	EXIT_LINT_ERRORS = 1,   /* `drplay lint`: the playbooks have errors */
	EXIT_CHECK_FAILED = 1,  /* `status --verify`, `evidence verify`: what was checked does not fit */
	EXIT_INVALID = 2,       /* invalid usage or playbook */
	EXIT_REFUSED = 3,       /* refused by a guard; nothing ran */
	EXIT_NO_OUTAGE = 4,     /* stopped before any state-changing step ran */
	EXIT_INTERRUPTED = 130,
};

#endif
