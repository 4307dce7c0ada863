/*
 * run.h: `drplay run` and `drplay plan`: plan a checked playbook for one
 * mode, refuse it if any guard fails, then execute it step by step.
 */
#ifndef DRPLAY_RUN_H
#define DRPLAY_RUN_H

#include <stddef.h>
#include <jansson.h>

#include "exitcode.h" /* the exit codes of drplay (SPEC.md, "Exit codes") */

struct action_def;

struct run_opts {
	const char *file;
	const char *mode;        /* NULL = the playbook's default mode */
	char **params;           /* "NAME=VALUE" */
	size_t nparams;
	const char *authorize;   /* --authorize */
	const char *authorize_file; /* --authorize-file: the token from a private file */
	char **approve;          /* --approve=STEP_ID */
	size_t napprove;
	int dry_run;             /* print the plan, run nothing */
	const char *journal_dir;
	int json;                /* JSON lines on stdout instead of the transcript */
	/* A one-step run (`drplay maintenance`, `drplay cleanup`): instead of
	 * the playbook's steps, run only the action one_def with the literal
	 * arguments one_with (names already checked against its parameters)
	 * against the playbook's resources, through the same executor:
	 * resource resolution, the run-time guards, masking and the journal.
	 * The playbook's own steps do not run, so its plan-level lint rules do
	 * not apply and params required by a mode are not required. No lock is
	 * taken (a person may flip maintenance while a run holds it). */
	const struct action_def *one_def;
	json_t *one_with;
	const char *one_id;      /* the step id shown and journaled */
	const char *command;     /* e.g. "maintenance on": shown and journaled */
	int no_journal;          /* a read-only command leaves no journal */
};

/* Runs (or, with dry_run, plans) a playbook. Returns the exit code. */
int drplay_run(const struct run_opts *o);

#endif
