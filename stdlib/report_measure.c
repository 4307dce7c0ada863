/*
 * report_measure.c: what report.write measures from the run record (RTO
 * and its phases, RPO from the restored point, whether the last restore
 * verified exactly), the summary every format shows, and atomic writing of
 * its files; shared by the formats (report.c) and the evidence document
 * (report_evidence.c). See report.h and SPEC 8.3.2.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report.h"

double report_num(json_t *o, const char *k, double def)
{
	json_t *v = json_object_get(o, k);
	return json_is_number(v) ? json_number_value(v) : def;
}

const char *report_str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

/* mkdir -p of the directory part of path. */
static int make_parent(const char *path)
{
	char *p = xstrdup(path);
	char *slash = strrchr(p, '/');
	if (!slash) {
		free(p);
		return 0;
	}
	*slash = '\0';
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		mkdir(p, 0755);
		*s = '/';
	}
	int rc = (mkdir(p, 0755) == 0 || errno == EEXIST) ? 0 : -1;
	free(p);
	return rc;
}

/* Writes text to path atomically. 0 or -1 (errno set). */
int report_write_atomic(const char *path, const char *text)
{
	if (make_parent(path) != 0)
		return -1;
	char *tmp = xasprintf("%s.tmp-%ld", path, (long)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		free(tmp);
		return -1;
	}
	if (write_all(fd, text, strlen(text)) != 0 || fsync(fd) != 0) {
		int e = errno;
		close(fd);
		unlink(tmp);
		free(tmp);
		errno = e;
		return -1;
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		int e = errno;
		unlink(tmp);
		free(tmp);
		errno = e;
		return -1;
	}
	free(tmp);
	char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (slash) {
		*slash = '\0';
		int dfd = open(*dir ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
	free(dir);
	return 0;
}

/* ---- what the run measured ---- */

static double step_end_s(json_t *s)
{
	return report_num(s, "started_s", 0) + report_num(s, "duration_s", 0);
}

static const char *const point_outputs[] = { "recovered_to", "recovered_point", "point", "taken_at", NULL };

/* Whether a verification step's verdicts are all exact: each "ok" with its
 * expected value equal to its actual one (no tolerance used), and at least
 * one verdict. */
static int verdicts_exact(json_t *outs)
{
	json_t *vs = json_object_get(outs, "verdicts");
	size_t k;
	json_t *v;
	if (!json_array_size(vs))
		return 0;
	json_array_foreach(vs, k, v)
	{
		if (strcmp(report_str(v, "verdict"), "ok") != 0)
			return 0;
		json_t *e = json_object_get(v, "expected"), *x = json_object_get(v, "actual");
		if ((e || x) && !json_equal(e, x))
			return 0;
	}
	return 1;
}

/* A verification step: its failures, the verdicts that are not ok, and
 * whether it verified the restore before it exactly. */
static void measure_verify(struct measures *m, json_t *s, int ok, const char *outc, int *exact_since)
{
	json_t *outs = json_object_get(s, "outputs");
	if (ok && m->restore_start_s)
		m->verified_s = step_end_s(s);
	if (!strcmp(outc, "failed")) {
		m->verify_failures++;
		*exact_since = -1;
	}
	if (ok && *exact_since >= 0 && verdicts_exact(outs))
		*exact_since = 1;
	size_t k;
	json_t *v;
	json_array_foreach(json_object_get(outs, "verdicts"), k, v)
	{
		if (strcmp(report_str(v, "verdict"), "ok") != 0) {
			json_t *c = json_deep_copy(v);
			json_object_set_new(c, "step", json_string(report_str(s, "id")));
			json_array_append_new(m->verdicts, c);
		}
	}
}

/* A restore step that ran; returns its restored point (borrowed) or NULL. */
static const char *measure_restore(struct measures *m, json_t *s, int ok, const char *outc)
{
	json_t *outs = json_object_get(s, "outputs");
	if (!m->restore_start_s)
		m->restore_start_s = report_num(s, "started_s", 0);
	json_t *r = json_pack("{s:s,s:s,s:s}", "step", report_str(s, "id"), "action", report_str(s, "action"), "outcome", outc);
	if (outs)
		json_object_set(r, "outputs", outs);
	json_array_append_new(m->restores, r);
	for (size_t k = 0; ok && point_outputs[k]; k++)
		if (json_is_string(json_object_get(outs, point_outputs[k])))
			return json_string_value(json_object_get(outs, point_outputs[k]));
	return NULL;
}

/* The steps in order: maintenance, kept states, restores, verification.
 * Returns the last restored point an output named (borrowed) or NULL. */
static const char *measure_steps(struct measures *m, json_t *rec)
{
	const char *point = NULL;
	int exact_since = 0; /* 1: verified exactly since the last restore, -1: a verification failed */
	int restored = 0;
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(rec, "steps"), i, s)
	{
		const char *cat = report_str(s, "category"), *outc = report_str(s, "outcome");
		json_t *outs = json_object_get(s, "outputs");
		int ok = !strcmp(outc, "ok");
		if (ok && !strcmp(cat, "maintenance_on") && !m->maint_on_s) {
			m->maint_on_s = step_end_s(s);
			m->maint_on_step = report_str(s, "id");
			m->maint_off_s = 0;
		}
		if (ok && !strcmp(cat, "maintenance_off") && m->maint_on_s) {
			m->maint_off_s = step_end_s(s);
			m->maint_off_step = report_str(s, "id");
		}
		if (ok && !strcmp(cat, "snapshot") && json_is_string(json_object_get(outs, "name")))
			json_array_append(m->snapshots, json_object_get(outs, "name"));
		if (json_is_string(json_object_get(outs, "preserved")))
			json_array_append(m->preserved, json_object_get(outs, "preserved"));
		if (!strcmp(cat, "restore") && strcmp(outc, "skipped") && strcmp(outc, "pending")) {
			const char *p = measure_restore(m, s, ok, outc);
			point = p ? p : point;
			restored = ok;
			exact_since = 0;
		}
		if (!strcmp(cat, "verify")) {
			measure_verify(m, s, ok, outc, &exact_since);
			if (restored && exact_since == 1 && ok)
				m->exact_s = step_end_s(s);
		}
	}
	if (exact_since != 1 || !restored)
		m->exact_s = 0;
	return point;
}

/* RTO: the maintenance window when there was one (the outage people saw);
 * otherwise the time from the first restore to a verified result. */
static void measure_rto(struct measures *m, double now)
{
	if (m->maint_on_s) {
		m->rto_from_s = m->maint_on_s;
		m->rto_to_s = m->maint_off_s ? m->maint_off_s : now;
		m->rto_basis = m->maint_off_s ? "maintenance window (on to off)" : "maintenance window so far (still ON)";
	} else if (m->restore_start_s) {
		m->rto_from_s = m->restore_start_s;
		m->rto_to_s = m->verified_s ? m->verified_s : now;
		m->rto_basis = m->verified_s ? "first restore step to passed verification" : "first restore step to now (not verified)";
	} else {
		return;
	}
	m->rto_s = m->rto_to_s - m->rto_from_s;
}

/* RTO by phase (SPEC 8.3.2), from the steps that started within the RTO
 * interval (the whole run when RTO was not measured): a verify step counts
 * as verification, a restore step as the download and WAL replay seconds
 * its action reports (the run record's phases, from outputs the registry
 * declares OUT_PHASE_*) and restore for the rest of it. */
static void measure_phases(struct measures *m, json_t *rec, double now)
{
	struct phases *ph = &m->ph;
	memset(ph, 0, sizeof(*ph));
	double from = isnan(m->rto_s) ? report_num(rec, "started_s", 0) : m->rto_from_s;
	double to = isnan(m->rto_s) ? now : m->rto_to_s;
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(rec, "steps"), i, s)
	{
		const char *cat = report_str(s, "category"), *outc = report_str(s, "outcome");
		double st = report_num(s, "started_s", -1), dur = report_num(s, "duration_s", 0);
		if (st < from || st >= to || !strcmp(outc, "skipped") || !strcmp(outc, "pending") || !strcmp(outc, "running"))
			continue;
		if (!strcmp(cat, "verify")) {
			ph->verification_s += dur;
		} else if (!strcmp(cat, "restore")) {
			json_t *p = json_object_get(s, "phases");
			double dl = report_num(p, "download_s", 0), rp = report_num(p, "replay_s", 0);
			ph->download_s += dl;
			ph->replay_s += rp;
			ph->restore_s += dur - dl - rp > 0 ? dur - dl - rp : 0;
		}
	}
	ph->window_s = m->maint_on_s ? (m->maint_off_s ? m->maint_off_s : now) - m->maint_on_s : NAN;
	double sum = ph->download_s + ph->restore_s + ph->replay_s + ph->verification_s;
	ph->other_s = isnan(m->rto_s) ? NAN : m->rto_s - sum > 0 ? m->rto_s - sum : 0;
}

/* RPO: how far the restored point lags the reference moment. */
static void measure_rpo(struct act *a, json_t *rec, struct measures *m, const char *point)
{
	int64_t rec_us = act_timestamp_us(a, "recovered_to", INT64_MIN);
	if (rec_us == INT64_MIN && point) {
		int64_t t;
		if (parse_timestamp(point, &t) == 0)
			rec_us = t;
	}
	int64_t ref_us = act_timestamp_us(a, "reference", INT64_MIN);
	const char *ref_what = "the reference given";
	if (ref_us == INT64_MIN) {
		if (m->maint_on_s) {
			ref_us = (int64_t)(m->maint_on_s * 1e6);
			ref_what = "maintenance on (writes stopped)";
		} else {
			ref_us = (int64_t)(report_num(rec, "started_s", 0) * 1e6);
			ref_what = "the start of the run";
		}
	}
	m->reference_s = (double)ref_us / 1e6;
	m->point_s = NAN;
	if (rec_us != INT64_MIN) {
		m->point_s = (double)rec_us / 1e6;
		m->rpo_s = (double)(ref_us - rec_us) / 1e6;
		if (m->rpo_s < 0)
			m->rpo_s = 0;
		m->rpo_basis = ref_what;
	}
}

void report_measure(struct act *a, json_t *rec, struct measures *m)
{
	memset(m, 0, sizeof(*m));
	m->rto_s = m->rpo_s = NAN;
	m->snapshots = json_array();
	m->preserved = json_array();
	m->restores = json_array();
	m->verdicts = json_array();
	double now = report_num(rec, "now_s", 0);
	const char *point = measure_steps(m, rec);
	measure_rto(m, now);
	measure_phases(m, rec, now);
	measure_rpo(a, rec, m, point);
}

void report_measures_release(struct measures *m)
{
	json_decref(m->snapshots);
	json_decref(m->preserved);
	json_decref(m->restores);
	json_decref(m->verdicts);
}

const char *report_objective_mark(double measured, json_t *objectives, const char *key, double *target)
{
	json_t *v = json_object_get(objectives, key);
	*target = json_is_number(v) ? json_number_value(v) : NAN;
	if (isnan(*target))
		return "no objective";
	if (isnan(measured))
		return "not measured";
	return measured <= *target ? "met" : "MISSED";
}

/* A number or null (NAN). */
static json_t *jreal_or_null(double v)
{
	return isnan(v) ? json_null() : json_real(v);
}

/* A time in seconds as RFC 3339, or null (NAN). */
static json_t *jtime_or_null(double s)
{
	char ts[40];
	return isnan(s) ? json_null() : json_string(fmt_timestamp((int64_t)(s * 1e6), ts, sizeof(ts)));
}

/* The phases as JSON: {"download_s", ..., "other_s"}, null when not measured. */
static json_t *phases_json(const struct phases *ph)
{
	return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o}", "download_s", jreal_or_null(ph->download_s), "restore_s",
			 jreal_or_null(ph->restore_s), "replay_s", jreal_or_null(ph->replay_s), "verification_s",
			 jreal_or_null(ph->verification_s), "maintenance_window_s", jreal_or_null(ph->window_s),
			 "other_s", jreal_or_null(ph->other_s));
}

static json_t *maintenance_json(const struct measures *m)
{
	json_t *mw = json_object();
	if (m->maint_on_s) {
		json_object_set_new(mw, "on_step", json_string(m->maint_on_step));
		json_object_set_new(mw, "on_s", json_real(m->maint_on_s));
		if (m->maint_off_s) {
			json_object_set_new(mw, "off_step", json_string(m->maint_off_step));
			json_object_set_new(mw, "off_s", json_real(m->maint_off_s));
		}
		json_object_set_new(mw, "still_on", json_boolean(!m->maint_off_s));
	}
	return mw;
}

json_t *report_summary(struct act *a, json_t *rec, const struct measures *m)
{
	json_t *sum = json_object();
	json_object_set_new(sum, "outcome", json_string(report_str(rec, "outcome")));
	json_object_set(sum, "exit_code", json_object_get(rec, "exit_code"));
	json_object_set(sum, "final", json_object_get(rec, "final"));
	if (*report_str(rec, "stopped_at"))
		json_object_set(sum, "stopped_at", json_object_get(rec, "stopped_at"));
	json_object_set(sum, "steps", json_object_get(rec, "counts"));
	json_object_set_new(sum, "rto_s", jreal_or_null(m->rto_s));
	json_object_set_new(sum, "rto_basis", m->rto_basis ? json_string(m->rto_basis) : json_null());
	json_object_set_new(sum, "rto_phases", phases_json(&m->ph));
	json_object_set_new(sum, "rpo_s", jreal_or_null(m->rpo_s));
	json_object_set_new(sum, "rpo_basis", m->rpo_basis ? json_string(m->rpo_basis) : json_null());
	json_object_set_new(sum, "restored_point", jtime_or_null(m->point_s));
	json_object_set_new(sum, "rpo_reference", jtime_or_null(m->reference_s));
	double t;
	json_t *objs = json_object_get(rec, "objectives");
	json_object_set_new(sum, "rto_objective", json_string(report_objective_mark(m->rto_s, objs, "rto_s", &t)));
	json_object_set_new(sum, "rpo_objective", json_string(report_objective_mark(m->rpo_s, objs, "rpo_s", &t)));
	json_object_set_new(sum, "maintenance", maintenance_json(m));
	json_object_set(sum, "snapshots", m->snapshots);
	json_object_set(sum, "preserved", m->preserved);
	json_object_set(sum, "restores", m->restores);
	json_object_set_new(sum, "verify_failures", json_integer(m->verify_failures));
	json_object_set_new(sum, "verified_exactly", json_boolean(m->exact_s > 0));
	json_object_set(sum, "differences", m->verdicts);
	if (act_json(a, "restored"))
		json_object_set(sum, "restored", act_json(a, "restored"));
	if (json_is_integer(json_object_get(act_json(a, "discarded"), "discarded")))
		json_object_set(sum, "discarded", act_json(a, "discarded"));
	return sum;
}

