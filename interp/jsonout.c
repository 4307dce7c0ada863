/*
 * jsonout.c: the documents printed with --json (jsonout.h): their common
 * head and the one way they are written, masked.
 */
#include "jsonout.h"

#include "redact.h"
#include "text.h"
#include "version.h"

json_t *jsonout_new(const char *format)
{
	json_t *o = json_object();
	json_object_set_new(o, "drplay", json_string(DRPLAY_VERSION));
	json_object_set_new(o, "format", json_string(format));
	return o;
}

void jsonout_print(json_t *doc, FILE *f, int pretty)
{
	json_t *m = redact_json(doc);
	json_decref(doc);
	json_dumpf(m, f, (pretty ? JSON_INDENT(2) : JSON_COMPACT) | JSON_PRESERVE_ORDER);
	fputc('\n', f);
	fflush(f);
	json_decref(m);
}

json_t *jsonout_loc(const char *file, int line, int col)
{
	json_t *o = json_object();
	json_object_set_new(o, "file", json_text(file ? file : ""));
	if (line > 0) {
		json_object_set_new(o, "line", json_integer(line));
		json_object_set_new(o, "column", json_integer(col > 0 ? col : 1));
	}
	return o;
}
