/*
 * report.h: what report.write's files share (report.c): the measures taken
 * from the run record (RTO and its phases, RPO from the restored point,
 * whether the last restore verified exactly), the summary every format
 * shows, and atomic writing; report_evidence.c writes the signed evidence
 * document from them (SPEC 8.3).
 */
#ifndef DRPLAY_REPORT_H
#define DRPLAY_REPORT_H

#include "family.h"

/* RTO broken down (SPEC 8.3.2), seconds; NAN when not measured. */
struct phases {
	double download_s, restore_s, replay_s, verification_s; /* steps starting within the RTO interval */
	double window_s; /* the maintenance window, when there was one */
	double other_s;  /* RTO minus the four above: steps in no phase, and time between steps */
};

struct measures {
	double maint_on_s, maint_off_s; /* 0 = not turned on / not off */
	const char *maint_on_step, *maint_off_step;
	double rto_s, rpo_s;            /* NAN = not measurable */
	const char *rto_basis, *rpo_basis;
	double rto_from_s, rto_to_s;    /* the interval RTO measures (0 when not measured) */
	struct phases ph;
	double point_s;                 /* the restored point (NAN = unknown) */
	double reference_s;             /* the moment RPO is measured from */
	double restore_start_s, verified_s;
	double exact_s;                 /* when the last restore was verified exactly (0 = it was not) */
	int verify_failures;
	json_t *snapshots;              /* names */
	json_t *preserved;              /* names */
	json_t *restores;               /* restore steps that ran: {step, action, outputs} */
	json_t *verdicts;               /* verdicts that are not ok */
};

/* o[k] as a number (def when absent or not a number), and as a string ("" when
 * absent or not a string; borrowed). */
double report_num(json_t *o, const char *k, double def);
const char *report_str(json_t *o, const char *k);

/* Measures the run record rec (act_run_record) with report.write's
 * parameters; report_measures_release frees what it holds. */
void report_measure(struct act *a, json_t *rec, struct measures *m);
void report_measures_release(struct measures *m);

/* "met", "MISSED", "not measured" or "no objective" for a measured value
 * against objectives[key] (seconds; *target set, NAN when none). */
const char *report_objective_mark(double measured, json_t *objectives, const char *key, double *target);

/* The JSON summary (a new reference): outcome, counts, RTO with its phases
 * and RPO with the restored point against the objectives, maintenance,
 * snapshots, restores, verification. */
json_t *report_summary(struct act *a, json_t *rec, const struct measures *m);

/* Writes text to path atomically (temporary name, fsync, rename). 0, or -1
 * with errno set. */
int report_write_atomic(const char *path, const char *text);

/* Writes the evidence document to path (SPEC 8.3.3), signed when the step
 * has a signing_key. ACT_OK, or ACT_FAIL after act_fail. */
int report_evidence(struct act *a, const char *path, json_t *rec, json_t *states, const struct measures *m);

#endif
