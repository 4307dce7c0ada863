/*
 * verify_int.h: what verify.c shares with verify_diff.c. verify.compare and
 * verify.diff read the same states through one engine: the checks are
 * compared section by section into verdicts, and differing checksums are
 * narrowed by live bisection; verify.diff lets the engine list keys in
 * larger ranges (leaf_rows) and then reads the verdicts as a preview of
 * what going from one state to the other changes.
 */
#ifndef DRPLAY_VERIFY_INT_H
#define DRPLAY_VERIFY_INT_H

#include <stdint.h>

#include "family.h"

struct tol {
	int counts;
	double min_ratio, max_ratio;
	int fresh;
	int64_t max_age_us;
	int seqs;            /* a sequences tolerance was given */
	int64_t max_behind;  /* steps the actual position may lag; -1 = any */
};

struct cmp {
	struct act *a;
	json_t *verdicts;
	int ndiff;
	struct tol tol;
	json_t *tables; /* filter, or NULL */
	int bisect;
	int64_t max_queries, queries;
	int64_t leaf_rows; /* list the keys of a range holding at most this many rows per side */
	int diff;          /* verify.diff: ranges small enough to list are not re-read first */
};

/* Checks that `expected` and `actual` are states and prepares C (zeroed
 * here) for them: tolerances, tables, bisect, max_queries (default
 * def_queries), the checks into *list (a new array; the default when
 * `checks` is not given: every section of all_checks both states hold).
 * Returns 0, or -1 after act_fail (nothing to release then). */
int verify_prepare(struct act *a, struct cmp *C, int64_t def_queries, const char *const *all_checks, json_t **list);

/* Compares the states section by section into C->verdicts (created here),
 * narrowing differing checksums; the schema diff goes into diff. */
void verify_run(struct cmp *C, json_t *list, struct strbuf *diff);

/* The family's actions, listed in verify_family.c. */
extern const struct action_def verify_compare_def, verify_diff_def;

#endif
