/*
 * diag.c: collecting diagnostics and printing them as gcc-style text with a
 * caret under the offending column, as JSON, or as SARIF 2.1.0 (the format
 * code-review tools annotate pull requests from). Every message is printed
 * through the redaction registry.
 */
#include "diag.h"
#include "jsonout.h"

#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "redact.h"
#include "text.h"
#include "version.h"

void diags_init(struct diags *d)
{
	memset(d, 0, sizeof(*d));
}

void diags_release(struct diags *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->v[i].rule);
		free(d->v[i].msg);
	}
	free(d->v);
	free(d->docs);
	diags_init(d);
}

void diags_add_source(struct diags *d, const struct doc *doc)
{
	d->docs = xrealloc(d->docs, (d->ndocs + 1) * sizeof(*d->docs));
	d->docs[d->ndocs++] = doc;
}

void diag_vadd(struct diags *d, enum sev sev, enum diag_class cls, const char *rule,
	       struct loc loc, const char *fmt, va_list ap)
{
	if (d->n == d->alloc) {
		d->alloc = d->alloc ? d->alloc * 2 : 16;
		d->v = xrealloc(d->v, d->alloc * sizeof(*d->v));
	}
	struct diag *g = &d->v[d->n++];
	g->sev = sev;
	g->cls = cls;
	g->rule = xstrdup(rule);
	g->msg = xvasprintf(fmt, ap);
	g->loc = loc;
	if (sev == SEV_ERROR) {
		d->nerr++;
		if (cls == DC_GUARD)
			d->nguard++;
	} else if (sev == SEV_WARNING) {
		d->nwarn++;
	}
}

void diag_add(struct diags *d, enum sev sev, const char *rule, struct loc loc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diag_vadd(d, sev, DC_INVALID, rule, loc, fmt, ap);
	va_end(ap);
}

void diag_guard(struct diags *d, const char *rule, struct loc loc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diag_vadd(d, SEV_ERROR, DC_GUARD, rule, loc, fmt, ap);
	va_end(ap);
}

static int cmp_str(const char *a, const char *b)
{
	if (!a || !b)
		return (a != NULL) - (b != NULL);
	return strcmp(a, b);
}

static int diag_cmp(const void *pa, const void *pb)
{
	const struct diag *a = pa, *b = pb;
	int c = cmp_str(a->loc.file, b->loc.file);
	if (c)
		return c;
	if (a->loc.line != b->loc.line)
		return a->loc.line < b->loc.line ? -1 : 1;
	if (a->loc.col != b->loc.col)
		return a->loc.col < b->loc.col ? -1 : 1;
	c = strcmp(a->rule, b->rule);
	if (c)
		return c;
	return strcmp(a->msg, b->msg);
}

void diags_sort(struct diags *d)
{
	/* qsort is not stable; comparing rule and message too makes the order
	 * deterministic, which is all the printers need. */
	if (d->n == 0)
		return;
	qsort(d->v, d->n, sizeof(*d->v), diag_cmp);
	size_t w = 0;
	for (size_t i = 0; i < d->n; i++) {
		if (w && diag_cmp(&d->v[w - 1], &d->v[i]) == 0) {
			free(d->v[i].rule);
			free(d->v[i].msg);
			continue;
		}
		d->v[w++] = d->v[i];
	}
	d->n = w;
	d->nerr = d->nwarn = d->nguard = 0;
	for (size_t i = 0; i < d->n; i++) {
		if (d->v[i].sev == SEV_ERROR) {
			d->nerr++;
			if (d->v[i].cls == DC_GUARD)
				d->nguard++;
		} else if (d->v[i].sev == SEV_WARNING) {
			d->nwarn++;
		}
	}
}

static const char *sev_name(enum sev s)
{
	switch (s) {
	case SEV_ERROR: return "error";
	case SEV_WARNING: return "warning";
	default: return "note";
	}
}

static const struct doc *find_doc(const struct diags *d, const char *file)
{
	if (!file)
		return NULL;
	for (size_t i = 0; i < d->ndocs; i++)
		if (d->docs[i]->file && strcmp(d->docs[i]->file, file) == 0)
			return d->docs[i];
	return NULL;
}

/* Where each line of a document starts, built once per document and
 * printing pass, so that printing N diagnostics reads the file once instead
 * of once per diagnostic (lint stays linear in the number of findings). */
struct line_index {
	const struct doc *doc;
	size_t *start; /* start[i] = offset of line i+1 */
	size_t n;
};

static void line_index_build(struct line_index *li, const struct doc *doc)
{
	li->doc = doc;
	li->n = 0;
	li->start = NULL;
	if (!doc || !doc->src)
		return;
	size_t alloc = 64;
	li->start = xmalloc(alloc * sizeof(*li->start));
	li->start[li->n++] = 0;
	const char *p = doc->src, *end = doc->src + doc->srclen;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			break;
		p = nl + 1;
		if (li->n == alloc) {
			alloc *= 2;
			li->start = xrealloc(li->start, alloc * sizeof(*li->start));
		}
		li->start[li->n++] = (size_t)(p - doc->src);
	}
}

/* Prints the source line of loc and a caret under its column. */
static void print_caret(const struct line_index *li, struct loc loc, FILE *f)
{
	const struct doc *doc = li->doc;
	if (!doc || !doc->src || loc.line < 1 || (size_t)loc.line > li->n)
		return;
	const char *p = doc->src + li->start[loc.line - 1], *end = doc->src + doc->srclen;
	if (p >= end)
		return;
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
	if (len && p[len - 1] == '\r')
		len--;
	if (len > 400)
		len = 400;
	char *line = xstrndup(p, len);
	fputs("  ", f);
	redact_fputs(line, f);
	fputs("\n  ", f);
	/* Keep tabs so the caret lines up with the line above. */
	for (int c = 1; c < loc.col && (size_t)(c - 1) < len; c++)
		fputc(line[c - 1] == '\t' ? '\t' : ' ', f);
	fputs("^\n", f);
	free(line);
}

/* How many diagnostics of one file are printed; the rest are counted. A
 * 2 MB file can hold 200,000 findings, and nobody reads past the first
 * screens of one file: the count tells how much is left. */
#define DIAG_PRINT_MAX_PER_FILE 1000

/* Decides, in order, which diagnostics are printed: at most
 * DIAG_PRINT_MAX_PER_FILE of each file (the list is sorted by file). Returns
 * the number left out; *shown (d->n flags, caller frees) says which. */
static size_t diag_select(const struct diags *d, unsigned char **shown)
{
	unsigned char *s = xmalloc(d->n ? d->n : 1);
	size_t omitted = 0, in_file = 0;
	for (size_t i = 0; i < d->n; i++) {
		if (i == 0 || cmp_str(d->v[i].loc.file, d->v[i - 1].loc.file) != 0)
			in_file = 0;
		s[i] = in_file++ < DIAG_PRINT_MAX_PER_FILE;
		omitted += !s[i];
	}
	*shown = s;
	return omitted;
}

/* Counts the errors and warnings left out of file's listing, from index i. */
static void omitted_counts(const struct diags *d, const unsigned char *shown, size_t i,
			   size_t *nerr, size_t *nwarn, size_t *next)
{
	*nerr = *nwarn = 0;
	const char *file = d->v[i].loc.file;
	for (; i < d->n && cmp_str(d->v[i].loc.file, file) == 0; i++) {
		if (shown[i])
			continue;
		*nerr += d->v[i].sev == SEV_ERROR;
		*nwarn += d->v[i].sev == SEV_WARNING;
	}
	*next = i;
}

static void print_text(const struct diags *d, FILE *f)
{
	unsigned char *shown;
	diag_select(d, &shown);
	struct line_index li = {0};
	for (size_t i = 0; i < d->n;) {
		const struct diag *g = &d->v[i];
		if (!shown[i]) {
			size_t ne, nw, next;
			omitted_counts(d, shown, i, &ne, &nw, &next);
			if (g->loc.file)
				redact_fprintf(f, "%s: ", g->loc.file);
			fprintf(f, "note: %zu more error%s and %zu more warning%s not shown "
				   "(the first %d of this file are above; fix them first)\n",
				ne, ne == 1 ? "" : "s", nw, nw == 1 ? "" : "s", DIAG_PRINT_MAX_PER_FILE);
			i = next;
			continue;
		}
		if (g->loc.file && g->loc.line > 0)
			redact_fprintf(f, "%s:%d:%d: ", g->loc.file, g->loc.line, g->loc.col);
		else if (g->loc.file)
			redact_fprintf(f, "%s: ", g->loc.file);
		fprintf(f, "%s: [%s] ", sev_name(g->sev), g->rule);
		redact_fputs(g->msg, f);
		fputc('\n', f);
		const struct doc *doc = find_doc(d, g->loc.file);
		if (doc != li.doc) {
			free(li.start);
			line_index_build(&li, doc);
		}
		print_caret(&li, g->loc, f);
		if (doc && doc->imported_at.file)
			redact_fprintf(f, "%s:%d:%d: note: in procedure %s, imported here\n", doc->imported_at.file,
				       doc->imported_at.line, doc->imported_at.col, doc->import_ref);
		i++;
	}
	free(li.start);
	free(shown);
}

static json_t *masked_string(const char *s)
{
	char *m = redact(s);
	json_t *j = json_text(m); /* repaired to UTF-8: a message is never dropped */
	free(m);
	return j;
}

json_t *diags_json(const struct diags *d, size_t *omitted)
{
	unsigned char *shown;
	size_t om = diag_select(d, &shown);
	if (omitted)
		*omitted = om;
	json_t *arr = json_array();
	for (size_t i = 0; i < d->n; i++) {
		const struct diag *g = &d->v[i];
		if (!shown[i])
			continue;
		json_t *o = json_object();
		if (g->loc.file)
			json_object_set_new(o, "file", masked_string(g->loc.file));
		if (g->loc.line > 0) {
			json_object_set_new(o, "line", json_integer(g->loc.line));
			json_object_set_new(o, "column", json_integer(g->loc.col));
		}
		json_object_set_new(o, "severity", json_string(sev_name(g->sev)));
		json_object_set_new(o, "rule", json_string(g->rule));
		json_object_set_new(o, "message", masked_string(g->msg));
		const struct doc *doc = find_doc(d, g->loc.file);
		if (doc && doc->imported_at.file)
			json_object_set_new(o, "imported_at",
					    json_pack("{s:o, s:i, s:i, s:s}", "file", masked_string(doc->imported_at.file),
						      "line", doc->imported_at.line, "column", doc->imported_at.col,
						      "procedure", doc->import_ref));
		json_array_append_new(arr, o);
	}
	free(shown);
	return arr;
}

static void print_json(const struct diags *d, FILE *f)
{
	size_t omitted;
	json_t *root = jsonout_new("drplay.lint/1");
	json_object_set_new(root, "diagnostics", diags_json(d, &omitted));
	json_object_set_new(root, "errors", json_integer(d->nerr));
	json_object_set_new(root, "warnings", json_integer(d->nwarn));
	json_object_set_new(root, "omitted", json_integer((json_int_t)omitted));
	jsonout_print(root, f, 1);
}

/* A relative path as a URI reference: percent-encodes what is not allowed. */
static char *path_uri(const char *path)
{
	struct strbuf sb = STRBUF_INIT;
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    strchr("-._~/", *p))
			sb_addc(&sb, (char)*p);
		else
			sb_addf(&sb, "%%%02X", *p);
	}
	return sb_detach(&sb);
}

static const char *sarif_level(enum sev s)
{
	return s == SEV_ERROR ? "error" : s == SEV_WARNING ? "warning" : "note";
}

/* A SARIF location: the file as a URI reference, the line and column. */
static json_t *sarif_location(struct loc loc)
{
	json_t *art = json_object();
	char *uri = path_uri(loc.file);
	json_object_set_new(art, "uri", masked_string(uri));
	free(uri);
	json_t *phys = json_object();
	json_object_set_new(phys, "artifactLocation", art);
	if (loc.line > 0) {
		json_t *reg = json_object();
		json_object_set_new(reg, "startLine", json_integer(loc.line));
		json_object_set_new(reg, "startColumn", json_integer(loc.col > 0 ? loc.col : 1));
		json_object_set_new(phys, "region", reg);
	}
	json_t *l = json_object();
	json_object_set_new(l, "physicalLocation", phys);
	return l;
}

static void print_sarif(const struct diags *d, FILE *f)
{
	json_t *rules = json_array();
	for (size_t i = 0; i < lint_rules_count; i++) {
		const struct rule_info *r = &lint_rules[i];
		json_t *o = json_object();
		json_object_set_new(o, "id", json_string(r->id));
		json_t *sd = json_object();
		json_object_set_new(sd, "text", json_string(r->summary));
		json_object_set_new(o, "shortDescription", sd);
		json_t *dc = json_object();
		json_object_set_new(dc, "level", json_string(sarif_level(r->sev)));
		json_object_set_new(o, "defaultConfiguration", dc);
		json_object_set_new(o, "helpUri",
				    json_string("https://drplay.dev/spec#lint-rules"));
		json_array_append_new(rules, o);
	}
	unsigned char *shown;
	size_t omitted = diag_select(d, &shown);
	json_t *results = json_array();
	for (size_t i = 0; i < d->n; i++) {
		const struct diag *g = &d->v[i];
		if (!shown[i])
			continue;
		json_t *o = json_object();
		json_object_set_new(o, "ruleId", json_string(g->rule));
		for (size_t k = 0; k < lint_rules_count; k++)
			if (strcmp(lint_rules[k].id, g->rule) == 0)
				json_object_set_new(o, "ruleIndex", json_integer((json_int_t)k));
		json_object_set_new(o, "level", json_string(sarif_level(g->sev)));
		/* A finding inside an imported procedure is annotated on the
		 * importing line (the file under review), the procedure's own
		 * place given as a related location. */
		const struct doc *doc = find_doc(d, g->loc.file);
		int imported = doc && doc->imported_at.file;
		char *text = imported ? xasprintf("in procedure %s (%s:%d:%d): %s", doc->import_ref, g->loc.file,
						  g->loc.line, g->loc.col, g->msg)
				      : xstrdup(g->msg);
		json_t *msg = json_object();
		json_object_set_new(msg, "text", masked_string(text));
		free(text);
		json_object_set_new(o, "message", msg);
		if (g->loc.file) {
			json_t *locs = json_array();
			json_array_append_new(locs, sarif_location(imported ? doc->imported_at : g->loc));
			json_object_set_new(o, "locations", locs);
		}
		if (imported)
			json_object_set_new(o, "relatedLocations", json_pack("[o]", sarif_location(g->loc)));
		json_array_append_new(results, o);
	}
	json_t *driver = json_object();
	json_object_set_new(driver, "name", json_string("drplay"));
	json_object_set_new(driver, "version", json_string(DRPLAY_VERSION));
	json_object_set_new(driver, "informationUri", json_string("https://drplay.dev/"));
	json_object_set_new(driver, "rules", rules);
	json_t *tool = json_object();
	json_object_set_new(tool, "driver", driver);
	json_t *run = json_object();
	json_object_set_new(run, "tool", tool);
	json_object_set_new(run, "columnKind", json_string("unicodeCodePoints"));
	json_object_set_new(run, "results", results);
	free(shown);
	if (omitted) {
		/* Results beyond the per-file cap: said once, as a notification. */
		char *text = xasprintf("%zu more results not listed (at most %d per file)", omitted,
				       DIAG_PRINT_MAX_PER_FILE);
		json_t *note = json_pack("{s:s, s:{s:s}}", "level", "note", "message", "text", text);
		free(text);
		json_t *inv = json_pack("{s:b, s:[o]}", "executionSuccessful", 1,
					"toolExecutionNotifications", note);
		json_object_set_new(run, "invocations", json_pack("[o]", inv));
	}
	json_t *runs = json_array();
	json_array_append_new(runs, run);
	json_t *root = json_object();
	json_object_set_new(root, "$schema", json_string("https://json.schemastore.org/sarif-2.1.0.json"));
	json_object_set_new(root, "version", json_string("2.1.0"));
	json_object_set_new(root, "runs", runs);
	json_dumpf(root, f, JSON_INDENT(2));
	fputc('\n', f);
	json_decref(root);
}

void diags_print(const struct diags *d, enum diag_format fmt, FILE *f)
{
	switch (fmt) {
	case DF_TEXT: print_text(d, f); break;
	case DF_JSON: print_json(d, f); break;
	case DF_SARIF: print_sarif(d, f); break;
	}
}
