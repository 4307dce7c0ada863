/*
 * fail.c: failures as values and the one way they reach stderr (fail.h).
 */
#include "fail.h"

#include <stdio.h>
#include <stdlib.h>

#include "exitcode.h"
#include "jsonout.h"
#include "redact.h"
#include "text.h"

/* The refusal being recorded under --json (fail_json_begin), or NULL. */
static struct {
	json_t *doc;
	json_t *errors;
	json_t *diags;
	int code;
} refusal;

int fail_vset(struct fail *f, int code, const char *fmt, va_list ap)
{
	f->code = code;
	sb_reset(&f->msg);
	sb_vaddf(&f->msg, fmt, ap);
	return -1;
}

int fail_set(struct fail *f, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fail_vset(f, code, fmt, ap);
	va_end(ap);
	return -1;
}

int fail_at(struct fail *f, int code, struct loc loc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fail_vset(f, code, fmt, ap);
	va_end(ap);
	f->loc = loc;
	return -1;
}

void fail_prefix(struct fail *f, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	sb_vaddf(&sb, fmt, ap);
	va_end(ap);
	sb_adds(&sb, sb_str(&f->msg));
	sb_release(&f->msg);
	f->msg = sb;
}

void fail_suffix(struct fail *f, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	sb_vaddf(&f->msg, fmt, ap);
	va_end(ap);
}

int fail_is_set(const struct fail *f)
{
	return f->code != 0;
}

const char *fail_text(const struct fail *f)
{
	return sb_str(&f->msg);
}

char *fail_detach(struct fail *f)
{
	f->code = 0;
	return sb_detach(&f->msg);
}

/* Records f in the refusal document (fail_json_begin). */
static void fail_record(const struct fail *f)
{
	json_t *e = json_object();
	json_object_set_new(e, "exit_code", json_integer(f->code));
	json_object_set_new(e, "message", json_text(fail_text(f)));
	if (f->step)
		json_object_set_new(e, "step", json_text(f->step));
	if (f->loc.file)
		json_object_set_new(e, "location", jsonout_loc(f->loc.file, f->loc.line, f->loc.col));
	json_array_append_new(refusal.errors, e);
	refusal.code = f->code;
}

int fail_print(const struct fail *f, const char *prog)
{
	if (refusal.doc) {
		fail_record(f);
		return f->code;
	}
	if (f->loc.file)
		redact_fprintf(stderr, "%s:%d:%d: error: %s\n", f->loc.file, f->loc.line, f->loc.col, fail_text(f));
	else
		redact_fprintf(stderr, "%s: %s\n", prog, fail_text(f));
	return f->code;
}

void fail_release(struct fail *f)
{
	sb_release(&f->msg);
	f->code = 0;
}

void warn_print(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *m = xvasprintf(fmt, ap);
	va_end(ap);
	redact_fprintf(stderr, "drplay: warning: %s\n", m);
	free(m);
}

void fail_json_begin(const char *command)
{
	json_decref(refusal.doc);
	refusal.doc = jsonout_new("drplay.refusal/1");
	json_object_set_new(refusal.doc, "command", json_text(command));
	refusal.errors = json_array();
	refusal.diags = NULL;
	refusal.code = 0;
}

int fail_json_active(void)
{
	return refusal.doc != NULL;
}

void fail_json_diags(json_t *diagnostics)
{
	if (!refusal.doc) {
		json_decref(diagnostics);
		return;
	}
	if (!refusal.diags)
		refusal.diags = json_array();
	json_array_extend(refusal.diags, diagnostics);
	json_decref(diagnostics);
}

int fail_json_end(int rc)
{
	json_t *doc = refusal.doc;
	refusal.doc = NULL;
	if (!doc)
		return rc;
	size_t n = json_array_size(refusal.errors);
	if (n == 0 && !refusal.diags) {
		json_decref(doc);
		json_decref(refusal.errors);
		return rc;
	}
	if (rc == 0)
		rc = refusal.code ? refusal.code : EXIT_INVALID;
	json_object_set_new(doc, "exit_code", json_integer(rc));
	/* the reason: the last failure said (the one that ended the command);
	 * the place: the first one that has a place */
	json_t *last = json_array_get(refusal.errors, n ? n - 1 : 0);
	json_object_set(doc, "reason", last ? json_object_get(last, "message") : json_string("refused"));
	json_t *loc = NULL;
	for (size_t i = 0; i < n && !loc; i++)
		loc = json_object_get(json_array_get(refusal.errors, i), "location");
	if (!loc && refusal.diags)
		for (size_t i = 0; i < json_array_size(refusal.diags) && !loc; i++)
			if (json_object_get(json_array_get(refusal.diags, i), "line"))
				loc = json_array_get(refusal.diags, i);
	if (loc)
		json_object_set_new(doc, "location",
				    jsonout_loc(json_string_value(json_object_get(loc, "file")),
						(int)json_integer_value(json_object_get(loc, "line")),
						(int)json_integer_value(json_object_get(loc, "column"))));
	json_object_set_new(doc, "errors", refusal.errors);
	json_object_set_new(doc, "diagnostics", refusal.diags ? refusal.diags : json_array());
	refusal.errors = refusal.diags = NULL;
	jsonout_print(doc, stdout, 1);
	return rc;
}
