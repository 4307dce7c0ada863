/*
 * exitcode.h: the exit codes of drplay, one per outcome class (SPEC.md,
 * section 4, "Exit codes"). Every way the process ends goes through one of
 * these, including the libraries' (lazy.c's missing library).
 */
#ifndef DRPLAY_EXITCODE_H
#define DRPLAY_EXITCODE_H

enum {
	EXIT_OK = 0,
	EXIT_STEP_FAILED = 1,   /* a step failed after state had changed */
	EXIT_INVALID = 2,       /* invalid usage or playbook */
	EXIT_REFUSED = 3,       /* refused by a guard; nothing ran */
	EXIT_NO_OUTAGE = 4,     /* stopped before any state-changing step ran */
	EXIT_INTERRUPTED = 130,
};

#endif
