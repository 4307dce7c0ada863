/*
 * text.h: bytes from outside (children, servers, files, the environment)
 * made safe for each kind of sink. They are data, never a crash and never
 * an instruction:
 *   - JSON sinks (journal, status, reports, JUnit, step outputs) need valid
 *     UTF-8: jansson refuses anything else, and a refused string is a
 *     dropped field. text_utf8 repairs lossily: each invalid sequence and
 *     each NUL byte becomes U+FFFD, everything else is kept.
 *   - The terminal must not receive control characters: an escape sequence
 *     drives it, a line break or carriage return forges a transcript line.
 *     text_term writes every control character but tab, and every byte that
 *     is not UTF-8, escaped (\n, \r, \x1b, \u009b).
 * Masking (redact.h) comes first: secrets are found in the raw bytes, then
 * the result is repaired or escaped.
 */
#ifndef DRPLAY_TEXT_H
#define DRPLAY_TEXT_H

#include <stddef.h>
#include <jansson.h>

#include "strbuf.h"

/* Length of the valid UTF-8 sequence at p (n > 0 bytes available): 1 to 4,
 * or 0 when the bytes there are not valid UTF-8 (overlong forms, surrogates
 * and code points above U+10FFFF are invalid). */
size_t utf8_seq_len(const unsigned char *p, size_t n);

/* 1 when s[0..n) is valid UTF-8 without NUL bytes. */
int utf8_valid(const char *s, size_t n);

/* A copy of s[0..n) that is valid UTF-8: each invalid sequence (one byte at
 * a time) and each NUL byte replaced by U+FFFD. Caller frees; never NULL. */
char *text_utf8(const char *s, size_t n);

/* A JSON string of s (NUL-terminated) or s[0..n), repaired as text_utf8
 * does: never NULL, so a field is never dropped. NULL s gives JSON null. */
json_t *json_text(const char *s);
json_t *json_textn(const char *s, size_t n);

/* Appends s[0..n) to sb for the terminal: tab and printable UTF-8 as they
 * are; \n and \r as those two characters; other C0 controls, DEL and bytes
 * that are not UTF-8 as \xNN; C1 controls (U+0080-U+009F) as \uNNNN. */
void text_term(struct strbuf *sb, const char *s, size_t n);

/* A deep copy of v (new reference) with every string and object key
 * replaced by fn's result (a new string of the same kind, freed here and
 * wiped, since it may be a secret's copy), repaired to UTF-8 if need be. */
json_t *json_map_text(json_t *v, char *(*fn)(const char *s, size_t n));
/* json_map_text with text_term: JSON read back from a file, escaped for
 * printing to a person. */
json_t *json_term(json_t *v);

/* json_dumps(v, flags) with every real number as written in the playbook:
 * the shortest of 15 or 17 significant digits that reads back exactly (0.9,
 * not 0.90000000000000002). New string, or NULL as json_dumps. */
char *json_dumps_short(const json_t *v, size_t flags);

#endif
