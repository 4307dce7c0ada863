/*
 * report.c: `report.write`, the record people, machines and CI read after a
 * run: Markdown for people, JSON for machines, JUnit XML for CI, and a
 * Prometheus textfile for the metrics a scheduler alerts on. It reads the
 * run so far (act_run_record) and the states the playbook hands it, measures
 * RTO and RPO, marks them against the playbook's objectives, and masks every
 * secret. Files are written atomically (temporary name, fsync, rename).
 * The measures and the summary are report_measure.c's, the evidence
 * document report_evidence.c's (report.h).
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

/* ---- small helpers ---- */

static char *dur_text(double secs)
{
	char buf[48];
	if (secs < 0 || isnan(secs))
		return xstrdup("unknown");
	if (secs < 60)
		snprintf(buf, sizeof(buf), "%.1fs", secs);
	else
		fmt_duration((int64_t)(secs * 1e6), buf, sizeof(buf));
	return xstrdup(buf);
}

/* A Markdown table cell: pipes escaped, line breaks flattened. */
static void md_cell(struct strbuf *sb, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '|')
			sb_adds(sb, "\\|");
		else if (*s == '\n' || *s == '\r')
			sb_addc(sb, ' ');
		else
			sb_addc(sb, *s);
	}
}

/* XML text escaping. Written here because JUnit output needs only these five
 * entities and control characters dropped; no XML writer library is needed. */
static void xml_text(struct strbuf *sb, const char *s)
{
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		switch (c) {
		case '&': sb_adds(sb, "&amp;"); break;
		case '<': sb_adds(sb, "&lt;"); break;
		case '>': sb_adds(sb, "&gt;"); break;
		case '"': sb_adds(sb, "&quot;"); break;
		case '\'': sb_adds(sb, "&apos;"); break;
		default:
			if (c < 0x20 && c != '\n' && c != '\t')
				sb_addc(sb, ' ');
			else
				sb_addc(sb, (char)c);
		}
	}
}

/* A Prometheus label value: backslash, quote and newline escaped. */
static void prom_label(struct strbuf *sb, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '\\' || *s == '"')
			sb_addc(sb, '\\');
		if (*s == '\n') {
			sb_adds(sb, "\\n");
			continue;
		}
		sb_addc(sb, *s);
	}
}

/* ---- how the run ended (the run record's outcome, exit code and counts) ---- */

static int run_succeeded(json_t *rec)
{
	return !strcmp(report_str(rec, "outcome"), "succeeded");
}

static int count_of(json_t *rec, const char *k)
{
	return (int)json_integer_value(json_object_get(json_object_get(rec, "counts"), k));
}

/* "3 ok, 2 failed (2 tolerated: on_failure: continue), 1 skipped", as the
 * transcript's summary line counts them. */
static void counts_text(struct strbuf *sb, json_t *rec)
{
	sb_addf(sb, "%d ok, %d failed", count_of(rec, "ok"), count_of(rec, "failed"));
	if (count_of(rec, "tolerated"))
		sb_addf(sb, " (%d tolerated: on_failure: continue)", count_of(rec, "tolerated"));
	sb_addf(sb, ", %d skipped", count_of(rec, "skipped"));
	if (count_of(rec, "to_run"))
		sb_addf(sb, ", %d still to run", count_of(rec, "to_run"));
}

/* The Markdown outcome: how the run ended (or stands, when steps after the
 * report are still to run), its exit code, where it stopped, the counts. */
static void md_outcome(struct strbuf *sb, json_t *rec)
{
	int final = json_is_true(json_object_get(rec, "final"));
	sb_adds(sb, "| outcome | ");
	if (run_succeeded(rec)) {
		sb_adds(sb, final ? "succeeded" : "succeeded so far");
	} else {
		sb_adds(sb, "**");
		for (const char *p = report_str(rec, "outcome"); *p; p++)
			sb_addc(sb, (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p));
		sb_adds(sb, final ? "**" : "** so far");
	}
	sb_addf(sb, " (exit %lld)", (long long)json_integer_value(json_object_get(rec, "exit_code")));
	if (*report_str(rec, "stopped_at"))
		sb_addf(sb, ", stopped at step `%s`", report_str(rec, "stopped_at"));
	sb_adds(sb, "; steps: ");
	counts_text(sb, rec);
	if (!final)
		sb_adds(sb, "; the steps after this report may change the outcome");
	else if (!run_succeeded(rec))
		sb_adds(sb, " (see the steps below)");
	sb_adds(sb, " |\n");
}

/* States: a mapping label -> state, or a list of states labelled by name. */
static json_t *labelled_states(json_t *in)
{
	json_t *out = json_object();
	if (json_is_object(in) && !json_object_get(in, "drplay_state")) {
		const char *k;
		json_t *v;
		json_object_foreach(in, k, v) if (json_is_object(v)) json_object_set(out, k, v);
	} else if (json_is_object(in)) {
		json_object_set(out, *report_str(in, "name") ? report_str(in, "name") : "state", in);
	} else if (json_is_array(in)) {
		size_t i;
		json_t *v;
		json_array_foreach(in, i, v)
		{
			if (!json_is_object(v))
				continue;
			char def[32];
			snprintf(def, sizeof(def), "state %zu", i + 1);
			json_object_set(out, *report_str(v, "name") ? report_str(v, "name") : def, v);
		}
	}
	return out;
}

/* The sorted union of the tables of one section across states. */
static json_t *table_union(json_t *states, const char *section)
{
	json_t *set = json_object();
	const char *k;
	json_t *st;
	json_object_foreach(states, k, st)
	{
		const char *t;
		json_t *v;
		json_object_foreach(json_object_get(st, section), t, v) json_object_set_new(set, t, json_true());
	}
	json_t *names = json_array();
	json_object_foreach(set, k, st) json_array_append_new(names, json_string(k));
	json_decref(set);
	/* sort */
	size_t n = json_array_size(names);
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && strcmp(json_string_value(json_array_get(names, j - 1)),
						  json_string_value(json_array_get(names, j))) > 0;
		     j--) {
			json_t *x = json_incref(json_array_get(names, j - 1));
			json_array_set(names, j - 1, json_array_get(names, j));
			json_array_set_new(names, j, x);
		}
	return names;
}

/* The text of one cell of a state table, and whether it equals the first. */
static char *cell(json_t *st, const char *section, const char *table)
{
	json_t *sec = json_object_get(st, section);
	if (!sec)
		return xstrdup("(not captured)");
	json_t *v = json_object_get(sec, table);
	if (!v)
		return xstrdup("(missing)");
	if (!strcmp(section, "counts"))
		return json_is_integer(v) ? xasprintf("%lld", (long long)json_integer_value(v)) : xstrdup("?");
	if (!strcmp(section, "freshness")) {
		const char *n = json_string_value(json_object_get(v, "newest"));
		return xstrdup(n ? n : "(empty)");
	}
	if (!strcmp(section, "checksums")) {
		const char *h = json_string_value(json_object_get(v, "sha256"));
		return xasprintf("%.12s (%lld rows)", h ? h : "?", (long long)json_integer_value(json_object_get(v, "rows")));
	}
	return xstrdup("?");
}

static void md_state_table(struct strbuf *sb, json_t *states, const char *section, const char *title)
{
	json_t *tables = table_union(states, section);
	if (!json_array_size(tables)) {
		json_decref(tables);
		return;
	}
	sb_addf(sb, "\n### %s\n\n| table |", title);
	const char *label;
	json_t *st;
	json_object_foreach(states, label, st)
	{
		sb_addc(sb, ' ');
		md_cell(sb, label);
		sb_adds(sb, " |");
	}
	sb_adds(sb, " equal |\n|---|");
	json_object_foreach(states, label, st) sb_adds(sb, "---|");
	sb_adds(sb, "---|\n");
	size_t i;
	json_t *tn;
	json_array_foreach(tables, i, tn)
	{
		const char *t = json_string_value(tn);
		sb_adds(sb, "| ");
		md_cell(sb, t);
		sb_adds(sb, " |");
		char *first = NULL;
		int equal = 1;
		json_object_foreach(states, label, st)
		{
			char *c = cell(st, section, t);
			sb_addc(sb, ' ');
			md_cell(sb, c);
			sb_adds(sb, " |");
			/* States that did not capture this section do not count. */
			if (!json_object_get(st, section)) {
				free(c);
				continue;
			}
			if (!first) {
				first = c;
			} else {
				equal &= !strcmp(first, c);
				free(c);
			}
		}
		free(first);
		sb_addf(sb, " %s |\n", equal ? "yes" : "**no**");
	}
	json_decref(tables);
}

/* Summary rows: what was restored (the step's `restored` and each restore
 * step's outputs). */
static void md_restores(struct strbuf *sb, const struct measures *m, struct act *a)
{
	json_t *restored = act_json(a, "restored");
	const char *k;
	json_t *v;
	json_object_foreach(restored, k, v)
	{
		char *t = json_is_string(v) ? xstrdup(json_string_value(v)) : json_dumps(v, JSON_ENCODE_ANY);
		sb_addf(sb, "| restored: %s | ", k);
		md_cell(sb, t);
		sb_adds(sb, " |\n");
		free(t);
	}
	size_t i;
	json_t *r;
	json_array_foreach(m->restores, i, r)
	{
		sb_addf(sb, "| restore step `%s` | %s, %s", report_str(r, "step"), report_str(r, "action"), report_str(r, "outcome"));
		json_t *outs = json_object_get(r, "outputs");
		static const char *const keys[] = { "database", "object", "key", "source", "recovered_to", "recovered_point", "taken_at", "preserved" };
		for (size_t q = 0; q < ARRAY_SIZE(keys); q++) {
			const char *s = json_string_value(json_object_get(outs, keys[q]));
			if (s) {
				sb_addf(sb, "; %s ", keys[q]);
				md_cell(sb, s);
			}
		}
		sb_adds(sb, " |\n");
	}
}

/* Summary rows: snapshots and preserved states, the maintenance window. */
static void md_kept(struct strbuf *sb, json_t *rec, const struct measures *m)
{
	size_t i;
	json_t *v;
	sb_adds(sb, "| safety snapshots | ");
	if (!json_array_size(m->snapshots))
		sb_adds(sb, "none taken");
	json_array_foreach(m->snapshots, i, v) sb_addf(sb, "%s`%s`", i ? ", " : "", json_string_value(v));
	sb_adds(sb, " |\n| preserved states | ");
	if (!json_array_size(m->preserved))
		sb_adds(sb, "none");
	json_array_foreach(m->preserved, i, v) sb_addf(sb, "%s`%s`", i ? ", " : "", json_string_value(v));
	sb_adds(sb, " (never deleted by a run) |\n");
	char *w = dur_text(m->maint_on_s ? (m->maint_off_s ? m->maint_off_s : report_num(rec, "now_s", 0)) - m->maint_on_s : -1);
	if (m->maint_on_s && m->maint_off_s)
		sb_addf(sb, "| maintenance window (downtime) | %s: on at step `%s`, off at step `%s` |\n", w,
			m->maint_on_step, m->maint_off_step);
	else if (m->maint_on_s)
		sb_addf(sb, "| maintenance window (downtime) | %s so far: on at step `%s`, **still ON** |\n", w,
			m->maint_on_step);
	else
		sb_adds(sb, "| maintenance window (downtime) | maintenance was not turned on by this run |\n");
	free(w);
}

/* The phases in a fixed order, for every format: name, label, value. */
struct phase_row {
	const char *name, *label;
	double v;
};
static size_t phase_rows(const struct phases *ph, struct phase_row rows[6])
{
	const struct phase_row r[6] = {
		{ "download", "download", ph->download_s },
		{ "restore", "restore", ph->restore_s },
		{ "replay", "WAL replay", ph->replay_s },
		{ "verification", "verification", ph->verification_s },
		{ "other", "other (steps in no phase, time between steps)", ph->other_s },
		{ "maintenance_window", "maintenance window", ph->window_s },
	};
	memcpy(rows, r, sizeof(r));
	return 6;
}

/* Summary rows: RTO by phase, and the point RPO is measured from. */
static void md_phases(struct strbuf *sb, const struct measures *m)
{
	struct phase_row rows[6];
	size_t n = phase_rows(&m->ph, rows);
	sb_adds(sb, "| RTO by phase | ");
	for (size_t i = 0; i < n; i++) {
		char *d = dur_text(rows[i].v);
		sb_addf(sb, "%s%s %s", i ? "; " : "", rows[i].label, isnan(rows[i].v) ? "not measured" : d);
		free(d);
	}
	sb_adds(sb, " |\n");
	char ts[40], rs[40];
	sb_addf(sb, "| restored point | %s; RPO measured to %s |\n",
		isnan(m->point_s) ? "unknown" : fmt_timestamp((int64_t)(m->point_s * 1e6), ts, sizeof(ts)),
		fmt_timestamp((int64_t)(m->reference_s * 1e6), rs, sizeof(rs)));
	sb_addf(sb, "| verified exactly | %s |\n", m->exact_s > 0 ? "yes: every verdict after the last restore is exact" : "no");
}

/* Summary rows: RTO and RPO measured, against the declared objectives. */
static void md_objectives(struct strbuf *sb, json_t *rec, const struct measures *m)
{
	json_t *objs = json_object_get(rec, "objectives");
	double target;
	const char *mark = report_objective_mark(m->rto_s, objs, "rto_s", &target);
	char *rt = dur_text(m->rto_s), *tt = dur_text(target);
	sb_addf(sb, "| RTO (measured) | %s (%s)%s%s%s%s |\n", rt, m->rto_basis ? m->rto_basis : "no restore ran",
		isnan(target) ? "" : "; objective ", isnan(target) ? "" : tt, isnan(target) ? "" : ": ",
		isnan(target) ? "" : mark);
	free(rt);
	free(tt);
	mark = report_objective_mark(m->rpo_s, objs, "rpo_s", &target);
	rt = dur_text(m->rpo_s);
	tt = dur_text(target);
	sb_addf(sb, "| RPO (measured) | %s%s%s%s%s%s%s |\n", isnan(m->rpo_s) ? "not measured (no recovery point known)" : rt,
		m->rpo_basis ? " behind " : "", m->rpo_basis ? m->rpo_basis : "", isnan(target) ? "" : "; objective ",
		isnan(target) ? "" : tt, isnan(target) ? "" : ": ", isnan(target) ? "" : mark);
	free(rt);
	free(tt);
	md_phases(sb, m);
}

/* Summary row: the other half of RPO, the rows the restore discarded (the
 * `discarded` parameter: pitr.salvage's or verify.diff's outputs), per
 * table, and where they are kept. */
static void md_discarded(struct strbuf *sb, json_t *d, const struct measures *m)
{
	if (!json_is_integer(json_object_get(d, "discarded")))
		return;
	sb_addf(sb, "| RPO (rows) | %lld rows discarded", (long long)json_integer_value(json_object_get(d, "discarded")));
	size_t i, n = 0;
	json_t *t;
	json_array_foreach(json_object_get(d, "tables"), i, t)
	{
		json_int_t k = json_integer_value(json_object_get(t, "discarded"));
		if (k)
			sb_addf(sb, "%s%s %lld", n++ ? ", " : " (", report_str(t, "table"), (long long)k);
	}
	sb_addf(sb, "%s, %lld changed back", n ? ")" : "", (long long)json_integer_value(json_object_get(d, "changed")));
	if (json_array_size(m->preserved))
		sb_addf(sb, "; kept in `%s` (`drplay salvage` extracts them)",
			json_string_value(json_array_get(m->preserved, json_array_size(m->preserved) - 1)));
	sb_adds(sb, " |\n");
}

/* The states captured during the run, side by side. */
static void md_states(struct strbuf *sb, json_t *states)
{
	sb_adds(sb, "\n## States\n\nEach column is a state captured during the run");
	const char *label;
	json_t *st;
	int first = 1;
	json_object_foreach(states, label, st)
	{
		sb_addf(sb, "%s **%s** at %s", first ? ":" : ";", label, report_str(st, "captured_at"));
		first = 0;
	}
	sb_adds(sb, ".\n");
	md_state_table(sb, states, "counts", "Row counts");
	int any_schema = 0;
	json_object_foreach(states, label, st) any_schema |= json_object_get(st, "schema") != NULL;
	if (any_schema) {
		sb_adds(sb, "\n### Schema fingerprint\n\n| state | sha256 | objects |\n|---|---|---|\n");
		json_object_foreach(states, label, st)
		{
			json_t *sc = json_object_get(st, "schema");
			if (!sc)
				continue;
			sb_addf(sb, "| %s | `%s` | %lld |\n", label, report_str(sc, "sha256"),
				(long long)json_integer_value(json_object_get(sc, "objects")));
		}
	}
	md_state_table(sb, states, "freshness", "Freshness (newest value)");
	md_state_table(sb, states, "checksums", "Content checksums");
}

/* A JSON value as text for a cell (new string). */
static char *md_value(json_t *v)
{
	return json_is_string(v) ? xstrdup(json_string_value(v)) : json_dumps(v, JSON_ENCODE_ANY);
}

/* The differences verification found. */
static void md_verdicts(struct strbuf *sb, const struct measures *m)
{
	sb_adds(sb, "\n## Differences found by verification\n\n| step | check | table | expected | actual | detail |\n|---|---|---|---|---|---|\n");
	size_t i;
	json_t *v;
	json_array_foreach(m->verdicts, i, v)
	{
		char *e = md_value(json_object_get(v, "expected")), *ac = md_value(json_object_get(v, "actual"));
		sb_addf(sb, "| %s | %s | ", report_str(v, "step"), report_str(v, "check"));
		md_cell(sb, report_str(v, "table"));
		sb_adds(sb, " | ");
		md_cell(sb, e ? e : "");
		sb_adds(sb, " | ");
		md_cell(sb, ac ? ac : "");
		sb_adds(sb, " | ");
		md_cell(sb, *report_str(v, "detail") ? report_str(v, "detail") : report_str(v, "verdict"));
		sb_adds(sb, " |\n");
		free(e);
		free(ac);
	}
}

/* Every step with its outcome and time. */
static void md_steps(struct strbuf *sb, json_t *rec)
{
	sb_adds(sb, "\n## Steps\n\n| # | step | action | outcome | started | duration | note |\n|---|---|---|---|---|---|---|\n");
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(rec, "steps"), i, s)
	{
		char d[32] = "";
		if (json_is_number(json_object_get(s, "duration_s")))
			snprintf(d, sizeof(d), "%.2fs", report_num(s, "duration_s", 0));
		sb_addf(sb, "| %zu | `%s` | %s | %s%s | %s | %s | ", i + 1, report_str(s, "id"), report_str(s, "action"),
			report_str(s, "outcome"), json_is_true(json_object_get(s, "tolerated")) ? " (tolerated)" : "",
			report_str(s, "started_at"), d);
		md_cell(sb, *report_str(s, "error") ? report_str(s, "error") : report_str(s, "reason"));
		sb_adds(sb, " |\n");
	}
}

static char *markdown(json_t *rec, json_t *states, struct measures *m, struct act *a)
{
	struct strbuf sb = STRBUF_INIT;
	const char *title = act_str(a, "title");
	sb_addf(&sb, "# %s\n\n", title ? title : "drplay report");
	sb_addf(&sb, "Playbook **%s** (`%s`), **%s** mode, run `%s`, started %s; report written %s.\n\n",
		report_str(rec, "playbook"), report_str(rec, "file"), report_str(rec, "mode"), report_str(rec, "run"),
		report_str(rec, "started_at"), report_str(rec, "now"));
	sb_adds(&sb, "## Summary\n\n| | |\n|---|---|\n");
	md_outcome(&sb, rec);
	md_restores(&sb, m, a);
	md_kept(&sb, rec, m);
	md_objectives(&sb, rec, m);
	md_discarded(&sb, act_json(a, "discarded"), m);
	sb_addf(&sb, "| verification failures | %d |\n", m->verify_failures);
	if (json_object_size(states))
		md_states(&sb, states);
	if (json_array_size(m->verdicts))
		md_verdicts(&sb, m);
	md_steps(&sb, rec);
	return sb_detach(&sb);
}

/* JUnit properties: RTO, its phases and RPO, in seconds (absent when not measured). */
static void junit_measures(struct strbuf *sb, const struct measures *m)
{
	if (!isnan(m->rto_s))
		sb_addf(sb, "      <property name=\"rto_s\" value=\"%.3f\"/>\n", m->rto_s);
	struct phase_row rows[6];
	size_t n = phase_rows(&m->ph, rows);
	for (size_t i = 0; i < n; i++)
		if (!isnan(rows[i].v))
			sb_addf(sb, "      <property name=\"rto_phase_%s_s\" value=\"%.3f\"/>\n", rows[i].name, rows[i].v);
	if (!isnan(m->rpo_s))
		sb_addf(sb, "      <property name=\"rpo_s\" value=\"%.3f\"/>\n", m->rpo_s);
	sb_addf(sb, "      <property name=\"verified_exactly\" value=\"%s\"/>\n", m->exact_s > 0 ? "true" : "false");
}

static char *junit(json_t *rec, const struct measures *m)
{
	struct strbuf sb = STRBUF_INIT;
	size_t i, n = 0, failures = 0, skipped = 0;
	json_t *s;
	double total = 0;
	json_array_foreach(json_object_get(rec, "steps"), i, s)
	{
		const char *o = report_str(s, "outcome");
		if (!strcmp(o, "running"))
			continue;
		n++;
		failures += !strcmp(o, "failed") || !strcmp(o, "refused") || !strcmp(o, "interrupted");
		skipped += !strcmp(o, "skipped") || !strcmp(o, "pending");
		total += report_num(s, "duration_s", 0);
	}
	sb_adds(&sb, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite name=\"");
	xml_text(&sb, report_str(rec, "playbook"));
	sb_addf(&sb, " (%s)\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" skipped=\"%zu\" time=\"%.3f\" timestamp=\"%s\">\n",
		report_str(rec, "mode"), n, failures, skipped, total, report_str(rec, "started_at"));
	/* how the run ended, which test cases alone do not say */
	struct strbuf ct = STRBUF_INIT;
	counts_text(&ct, rec);
	sb_adds(&sb, "    <properties>\n      <property name=\"outcome\" value=\"");
	xml_text(&sb, report_str(rec, "outcome"));
	sb_addf(&sb, "\"/>\n      <property name=\"exit_code\" value=\"%lld\"/>\n"
		     "      <property name=\"final\" value=\"%s\"/>\n      <property name=\"steps\" value=\"",
		(long long)json_integer_value(json_object_get(rec, "exit_code")),
		json_is_true(json_object_get(rec, "final")) ? "true" : "false");
	xml_text(&sb, sb_str(&ct));
	sb_adds(&sb, "\"/>\n");
	junit_measures(&sb, m);
	sb_adds(&sb, "    </properties>\n");
	sb_release(&ct);
	json_array_foreach(json_object_get(rec, "steps"), i, s)
	{
		const char *o = report_str(s, "outcome");
		if (!strcmp(o, "running"))
			continue;
		sb_adds(&sb, "    <testcase classname=\"");
		xml_text(&sb, report_str(rec, "playbook"));
		sb_adds(&sb, "\" name=\"");
		xml_text(&sb, report_str(s, "id"));
		sb_addf(&sb, " (%s)\" time=\"%.3f\"", report_str(s, "action"), report_num(s, "duration_s", 0));
		if (!strcmp(o, "ok")) {
			sb_adds(&sb, "/>\n");
		} else if (!strcmp(o, "skipped") || !strcmp(o, "pending")) {
			sb_adds(&sb, ">\n      <skipped message=\"");
			xml_text(&sb, *report_str(s, "reason") ? report_str(s, "reason") : "not reached");
			sb_adds(&sb, "\"/>\n    </testcase>\n");
		} else {
			/* a tolerated failure is still a failure, marked as such */
			const char *tol = json_is_true(json_object_get(s, "tolerated")) ? "tolerated (on_failure: continue): " : "";
			sb_addf(&sb, ">\n      <failure type=\"%s\" message=\"%s", *tol ? "tolerated" : o, tol);
			xml_text(&sb, report_str(s, "error"));
			sb_addf(&sb, "\">%s", tol);
			xml_text(&sb, report_str(s, "error"));
			sb_adds(&sb, "</failure>\n    </testcase>\n");
		}
	}
	sb_adds(&sb, "  </testsuite>\n</testsuites>\n");
	return sb_detach(&sb);
}

/* The previous value of a timestamp metric for these labels, from an
 * existing textfile, so that a run that failed (or did not verify) does not
 * erase when the last success (or exact verification) was. */
static double previous_value(const char *path, const char *metric, const char *labels)
{
	char *text = NULL;
	if (read_file(path, 1 << 20, &text, NULL) != 0)
		return NAN;
	char *key = xasprintf("%s{%s} ", metric, labels);
	char *p = strstr(text, key);
	double v = NAN;
	if (p)
		v = strtod(p + strlen(key), NULL);
	free(key);
	free(text);
	return v;
}

/* Per-phase durations, and when a restore last verified exactly: this run's
 * verification, else the value the textfile already had (SPEC 8.3.2). */
static void prom_phases(struct strbuf *sb, const char *l, const struct measures *m, const char *path)
{
	struct phase_row rows[6];
	size_t n = phase_rows(&m->ph, rows);
	sb_adds(sb, "# HELP drplay_rto_phase_seconds The last run's RTO by phase (maintenance_window: the whole window).\n"
		    "# TYPE drplay_rto_phase_seconds gauge\n");
	for (size_t i = 0; i < n; i++)
		if (!isnan(rows[i].v))
			sb_addf(sb, "drplay_rto_phase_seconds{%s,phase=\"%s\"} %.3f\n", l, rows[i].name, rows[i].v);
	double last = m->exact_s > 0 ? m->exact_s
				     : previous_value(path, "drplay_last_verified_restore_timestamp_seconds", l);
	sb_adds(sb, "# HELP drplay_last_verified_restore_timestamp_seconds When a run's restore last verified exactly (every verdict exact).\n"
		    "# TYPE drplay_last_verified_restore_timestamp_seconds gauge\n");
	if (!isnan(last))
		sb_addf(sb, "drplay_last_verified_restore_timestamp_seconds{%s} %.3f\n", l, last);
}

static char *prometheus(json_t *rec, struct measures *m, const char *path)
{
	struct strbuf lb = STRBUF_INIT;
	sb_adds(&lb, "playbook=\"");
	prom_label(&lb, report_str(rec, "playbook"));
	sb_adds(&lb, "\",mode=\"");
	prom_label(&lb, report_str(rec, "mode"));
	sb_adds(&lb, "\"");
	const char *l = sb_str(&lb);
	double now = report_num(rec, "now_s", 0);
	int succeeded = run_succeeded(rec);
	double last_ok = succeeded ? now : previous_value(path, "drplay_last_success_timestamp_seconds", l);
	struct strbuf sb = STRBUF_INIT;
	sb_adds(&sb, "# HELP drplay_last_run_timestamp_seconds When the last run of the playbook wrote its report.\n"
		     "# TYPE drplay_last_run_timestamp_seconds gauge\n");
	sb_addf(&sb, "drplay_last_run_timestamp_seconds{%s} %.3f\n", l, now);
	sb_adds(&sb, "# HELP drplay_last_success_timestamp_seconds When a run of the playbook last succeeded.\n"
		     "# TYPE drplay_last_success_timestamp_seconds gauge\n");
	if (!isnan(last_ok))
		sb_addf(&sb, "drplay_last_success_timestamp_seconds{%s} %.3f\n", l, last_ok);
	sb_adds(&sb, "# HELP drplay_last_run_success Whether the last run succeeded (1) or failed (0).\n"
		     "# TYPE drplay_last_run_success gauge\n");
	sb_addf(&sb, "drplay_last_run_success{%s} %d\n", l, succeeded);
	sb_adds(&sb, "# HELP drplay_steps Steps of the last run by outcome (failed includes tolerated failures).\n"
		     "# TYPE drplay_steps gauge\n");
	static const char *const outcomes[] = { "ok", "failed", "skipped" };
	for (size_t k = 0; k < ARRAY_SIZE(outcomes); k++)
		sb_addf(&sb, "drplay_steps{%s,outcome=\"%s\"} %d\n", l, outcomes[k], count_of(rec, outcomes[k]));
	sb_adds(&sb, "# HELP drplay_steps_tolerated Failed steps of the last run that on_failure: continue let it go past.\n"
		     "# TYPE drplay_steps_tolerated gauge\n");
	sb_addf(&sb, "drplay_steps_tolerated{%s} %d\n", l, count_of(rec, "tolerated"));
	sb_adds(&sb, "# HELP drplay_rto_seconds Measured recovery time of the last run.\n# TYPE drplay_rto_seconds gauge\n");
	if (!isnan(m->rto_s))
		sb_addf(&sb, "drplay_rto_seconds{%s} %.3f\n", l, m->rto_s);
	sb_adds(&sb, "# HELP drplay_rpo_seconds Measured recovery point (data-loss window) of the last run.\n# TYPE drplay_rpo_seconds gauge\n");
	if (!isnan(m->rpo_s))
		sb_addf(&sb, "drplay_rpo_seconds{%s} %.3f\n", l, m->rpo_s);
	sb_adds(&sb, "# HELP drplay_verify_failures Failed verification steps in the last run.\n# TYPE drplay_verify_failures gauge\n");
	sb_addf(&sb, "drplay_verify_failures{%s} %d\n", l, m->verify_failures);
	prom_phases(&sb, l, m, path);
	json_t *objs = json_object_get(rec, "objectives");
	if (json_object_get(objs, "rto_s") || json_object_get(objs, "rpo_s")) {
		sb_adds(&sb, "# HELP drplay_objective_seconds The playbook's declared objectives.\n# TYPE drplay_objective_seconds gauge\n");
		if (json_object_get(objs, "rto_s"))
			sb_addf(&sb, "drplay_objective_seconds{%s,objective=\"rto\"} %.3f\n", l, report_num(objs, "rto_s", 0));
		if (json_object_get(objs, "rpo_s"))
			sb_addf(&sb, "drplay_objective_seconds{%s,objective=\"rpo\"} %.3f\n", l, report_num(objs, "rpo_s", 0));
	}
	sb_release(&lb);
	return sb_detach(&sb);
}

static int emit(struct act *a, const char *path, char *text, json_t *files)
{
	char *masked = act_masked(a, text);
	free(text);
	int rc = report_write_atomic(path, masked);
	free(masked);
	if (rc != 0)
		return act_fail(a, "cannot write the report '%s': %s; check that its directory is writable", path,
				strerror(errno));
	json_array_append_new(files, json_string(path));
	return ACT_OK;
}

static int do_report(struct act *a)
{
	const char *base = act_str(a, "path");
	json_t *rec = act_run_record(a);
	json_t *states = labelled_states(act_json(a, "states"));
	struct measures m;
	report_measure(a, rec, &m);
	json_t *files = json_array();
	json_t *formats = act_json(a, "formats");
	int ret = ACT_OK;
	char *md_path = NULL;
	size_t i;
	json_t *f;
	json_array_foreach(formats, i, f)
	{
		const char *fmt = json_string_value(f);
		if (ret != ACT_OK)
			break;
		if (!strcmp(fmt, "markdown")) {
			md_path = xasprintf("%s.md", base);
			ret = emit(a, md_path, markdown(rec, states, &m, a), files);
		} else if (!strcmp(fmt, "json")) {
			json_t *o = json_object();
			json_object_set_new(o, "drplay_report", json_integer(1));
			json_t *sum = report_summary(a, rec, &m);
			json_object_set_new(o, "summary", sum);
			json_object_set(o, "states", states);
			json_object_set(o, "run", rec);
			char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
			json_decref(o);
			char *p = xasprintf("%s.json", base);
			ret = emit(a, p, text ? text : xstrdup("{}"), files);
			free(p);
		} else if (!strcmp(fmt, "junit")) {
			char *p = xasprintf("%s.xml", base);
			ret = emit(a, p, junit(rec, &m), files);
			free(p);
		} else if (!strcmp(fmt, "evidence")) {
			char *p = xasprintf("%s.evidence.json", base);
			ret = report_evidence(a, p, rec, states, &m);
			if (ret == ACT_OK)
				json_array_append_new(files, json_string(p));
			free(p);
		} else if (!strcmp(fmt, "prometheus")) {
			char *p = act_has(a, "prometheus_file") ? xstrdup(act_str(a, "prometheus_file"))
								: xasprintf("%s.prom", base);
			ret = emit(a, p, prometheus(rec, &m, p), files);
			free(p);
		}
	}
	if (ret == ACT_OK) {
		act_out(a, "files", json_incref(files));
		if (md_path)
			act_out_str(a, "markdown", md_path);
		act_out(a, "rto_s", isnan(m.rto_s) ? json_null() : json_real(m.rto_s));
		act_out(a, "rpo_s", isnan(m.rpo_s) ? json_null() : json_real(m.rpo_s));
		act_out_int(a, "verify_failures", m.verify_failures);
		json_array_foreach(files, i, f) act_log(a, "report written: %s", json_string_value(f));
		if (act_bool(a, "print", 0) && md_path) {
			char *text = NULL;
			if (read_file(md_path, 8 << 20, &text, NULL) == 0) {
				char *save = NULL;
				for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
					act_log(a, "%s", line);
				free(text);
			}
		}
	}
	free(md_path);
	json_decref(files);
	json_decref(states);
	json_decref(rec);
	report_measures_release(&m);
	return ret;
}

static const char *const formats[] = { "markdown", "json", "junit", "prometheus", "evidence", NULL };
static const struct param_spec report_params[] = {
	{ .name = "discarded", .type = T_ANY,
	  .doc = "the rows the restore discarded, for RPO in rows: the outputs of a pitr.salvage (count_only) or verify.diff step, e.g. ${steps.discarded}" },
	{ .name = "formats", .type = T_LIST, .def = "[\"markdown\",\"json\"]", .allowed = formats,
	  .doc = "which files to write: markdown (.md), json (.json), junit (.xml), prometheus (textfile), evidence (.evidence.json: the signed record for an auditor, SPEC 8.3.3)" },
	{ .name = "path", .type = T_STRING, .flags = P_REQUIRED,
	  .doc = "the reports' path without extension (directories are created), e.g. reports/drplay-${run.id}" },
	{ .name = "print", .type = T_BOOL, .def = "false", .doc = "also print the Markdown report in the transcript" },
	{ .name = "prometheus_file", .type = T_STRING,
	  .doc = "where the Prometheus textfile goes (default PATH.prom; point it into node_exporter's textfile directory)" },
	{ .name = "recovered_to", .type = T_TIMESTAMP,
	  .doc = "the moment the restored data reflects (default: the last restore step's recovered_to/taken_at output)" },
	{ .name = "reference", .type = T_TIMESTAMP,
	  .doc = "the moment RPO is measured from (default: when maintenance went on, else the start of the run)" },
	{ .name = "restored", .type = T_MAP,
	  .doc = "what was restored, from which source, to which point (shown in the summary)" },
	{ .name = "signing_key", .type = T_STRING, .flags = P_SECRET,
	  .doc = "an Ed25519 private key (PEM, from `openssl genpkey -algorithm ed25519`) that signs the evidence document; from a secret" },
	{ .name = "states", .type = T_ANY,
	  .doc = "states to compare side by side: a mapping label -> state (BASELINE: ${steps.baseline.state}, ...) or a list" },
	{ .name = "title", .type = T_STRING, .doc = "the report's title" },
	{ .name = NULL },
};
static const struct output_spec report_outputs[] = {
	{ .name = "files", .type = T_LIST, .doc = "the files written" },
	{ .name = "markdown", .type = T_STRING, .doc = "the Markdown report's path" },
	{ .name = "rpo_s", .type = T_NUMBER, .doc = "measured RPO in seconds (null when not measurable)" },
	{ .name = "rto_s", .type = T_NUMBER, .doc = "measured RTO in seconds (null when no restore ran)" },
	{ .name = "verify_failures", .type = T_INT, .doc = "failed verification steps" },
	{ .name = NULL },
};
static const struct action_def report_def = {
	.name = "report.write",
	.run = do_report,
	.cat = CAT_REPORT,
	.params = report_params,
	.outputs = report_outputs,
	.doc = "Writes the run's report: what was restored from which source to which point, the safety snapshot and preserved names, the maintenance window, every step's timing, the states side by side (counts, schema fingerprint, freshness, checksums per table), the differences verification found, and measured RTO and RPO against the playbook's objectives; as Markdown, JSON, JUnit XML and a Prometheus textfile. Secrets are masked.",
};

static const struct action_def *const report_actions[] = { &report_def, NULL };

const struct family report_family = {
	.name = "report",
	.actions = report_actions,
};
