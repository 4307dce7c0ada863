/*
 * jsonout.h: the JSON documents drplay's commands print with --json. Every
 * document is one JSON object that begins with "drplay" (the version that
 * wrote it) and "format" (its kind and version, "drplay.plan/1"); its JSON
 * Schema is grammar/FORMAT.schema.json. Every string in it goes through the
 * mask (redact.h) on the way out, like everything else drplay writes.
 */
#ifndef DRPLAY_JSONOUT_H
#define DRPLAY_JSONOUT_H

#include <stdio.h>
#include <jansson.h>

/* A new document: {"drplay": VERSION, "format": format} (new reference). */
json_t *jsonout_new(const char *format);
/* Writes doc to f masked, as one indented object (pretty) or one compact
 * line, then a newline, and flushes. Steals doc. */
void jsonout_print(json_t *doc, FILE *f, int pretty);

/* The form of a place in the playbook in every document:
 * {"file", "line", "column"} (new reference). */
json_t *jsonout_loc(const char *file, int line, int col);

#endif
