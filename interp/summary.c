/*
 * summary.c: what a run says about itself: the transcript's lines
 * (run_say), its standing (counts, outcome, exit code) and what it left
 * (maintenance, kept states), one computation for the transcript, the
 * journal's run_end, the reports' run record and `drplay status`. See
 * summary.h.
 */
#include "summary.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "run.h"
#include "redact.h"
#include "run_internal.h"
#include "util.h"

const char *outcome_name(enum outcome o)
{
	switch (o) {
	case O_OK: return "ok";
	case O_FAILED: return "failed";
	case O_SKIPPED: return "skipped";
	case O_INTERRUPTED: return "interrupted";
	case O_REFUSED: return "refused";
	default: return "pending";
	}
}

int run_changed(const struct run *r)
{
	if (r->state_changed)
		return 1;
	if (!r->throwaway_changed)
		return 0;
	const char *kind;
	json_t *l;
	json_object_foreach(r->created, kind, l) if (json_array_size(l)) return 1;
	/* a copy that failed its verification is a finding about the restore,
	 * not an abort: it counts as the change it was */
	for (size_t i = 0; i < r->pb->nsteps; i++) {
		const struct step *st = &r->pb->steps[i];
		enum outcome o = r->ss[i].outcome;
		if (st->def->cat == CAT_VERIFY && (o == O_FAILED || o == O_REFUSED) && !(st->cont && !st->gate && o == O_FAILED))
			return 1;
	}
	return 0;
}

void run_tally(const struct run *r, const struct step *running, struct tally *t)
{
	const struct playbook *pb = r->pb;
	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < pb->nsteps; i++) {
		const struct step *st = &pb->steps[i];
		if (st == running)
			continue;
		switch (r->ss[i].outcome) {
		case O_OK: t->ok++; break;
		case O_SKIPPED: t->skipped++; break;
		case O_REFUSED:
			t->refused++;
			/* fallthrough */
		case O_FAILED:
		case O_INTERRUPTED:
			t->failed++;
			if (st->cont && !st->gate && r->ss[i].outcome == O_FAILED)
				t->tolerated++;
			else if (!t->failed_step)
				t->failed_step = st->id;
			break;
		default: break;
		}
	}
	if (r->interrupted || run_signals) {
		t->rc = EXIT_INTERRUPTED;
		t->outcome = "interrupted";
	} else if (t->failed == t->tolerated) {
		t->rc = EXIT_OK;
		t->outcome = "succeeded";
	} else if (t->refused && !run_changed(r)) {
		t->rc = EXIT_REFUSED;
		t->outcome = "refused";
	} else if (run_changed(r)) {
		t->rc = EXIT_STEP_FAILED;
		t->outcome = "failed";
	} else {
		t->rc = EXIT_NO_OUTAGE;
		t->outcome = "aborted before any change";
	}
}

void run_say(struct run *r, const char *fmt, ...)
{
	if (r->json || r->quiet)
		return;
	va_list ap;
	va_start(ap, fmt);
	redact_vfprintf(stdout, fmt, ap);
	va_end(ap);
	fflush(stdout);
}

void left_init(struct run_left *l)
{
	memset(l, 0, sizeof(*l));
	l->kept = json_array();
}

void left_step(struct run_left *l, const char *id, const char *category, int ok, json_t *kept)
{
	if (!ok)
		return;
	if (!strcmp(category, category_name(CAT_MAINT_ON))) {
		l->maint = "ON";
		l->maint_step = id;
	} else if (!strcmp(category, category_name(CAT_MAINT_OFF))) {
		l->maint = "OFF";
		l->maint_step = id;
	}
	size_t i;
	json_t *v;
	json_array_foreach(kept, i, v) if (json_is_string(v)) json_array_append(l->kept, v);
}

char *left_kept_text(const struct run_left *l)
{
	struct strbuf sb = STRBUF_INIT;
	size_t i;
	json_t *v;
	json_array_foreach(l->kept, i, v) sb_addf(&sb, "%s%s", i ? ", " : "", json_string_value(v));
	return sb_detach(&sb);
}

void left_release(struct run_left *l)
{
	json_decref(l->kept);
	l->kept = NULL;
}

json_t *kept_names(const struct action_def *def, json_t *outputs)
{
	json_t *names = json_array();
	for (const struct output_spec *o = def->outputs; o && o->name; o++) {
		if (o->role != OUT_SNAPSHOT && o->role != OUT_PRESERVED)
			continue;
		json_t *v = json_object_get(outputs, o->name);
		if (json_is_string(v))
			json_array_append(names, v);
	}
	return names;
}
