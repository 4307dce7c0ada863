/*
 * redact.h: the secret registry. Every value that came from secret.* (or was
 * computed from one), and every secret an action discovers, is registered
 * here; every sink (terminal, journal, reports, error messages, relayed child
 * output) writes through redact() so that registered values and recognisable
 * credentials (PCRE2 patterns the families register: passwords inside DSNs
 * and URLs, AWS key pairs, bearer tokens) come out as "***". Masking works on arbitrary bytes.
 * Registered copies are wiped on release. The terminal writers below also
 * escape control characters (text.h), so everything drplay prints for a
 * person passes one place that masks and escapes.
 */
#ifndef DRPLAY_REDACT_H
#define DRPLAY_REDACT_H

#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <jansson.h>

#include "credential.h"

/* Secrets shorter than this are not masked as substrings (they would mask
 * ordinary text), only where a whole value equals them; a run refuses a
 * secret.* value this short (SPEC.md, section 3). */
#define REDACT_MIN_LEN 4

/* Adds credential shapes ({NULL}-terminated; the table stays the caller's
 * and must outlive the process's masking). A pattern added before (the
 * same text) is skipped. Shapes are tried in the order they were added:
 * redact_find_credential names the first that matches. */
void redact_add_patterns(const struct redact_pattern *p);

/* Registers a secret value (copied). A value with line breaks also
 * registers each of its lines, since sinks see output a line at a time. */
void redact_register(const char *secret);
/* How many bytes past a cut must be seen for the cut never to leave a
 * secret's first bytes (the longest registered secret, at least 128). */
size_t redact_margin(void);
/* Wipes and frees every registered secret. */
void redact_release(void);
/* Returns a masked copy of s (caller frees). */
char *redact(const char *s);
/* Returns a masked copy of n bytes of s (any bytes; a NUL byte in s comes
 * out as U+FFFD, since the copy is a C string). */
char *redact_n(const char *s, size_t n);
/* Masks s[0..n) and returns the masked text of only its first `keep` bytes:
 * a secret that straddles the cut is masked whole (mask, then cut). */
char *redact_cut(const char *s, size_t n, size_t keep);
/* redact_cut, then repaired to valid UTF-8 (text.h): outside bytes made fit
 * for every sink (a child's output as a step output or a relayed line). */
char *redact_utf8(const char *s, size_t n, size_t keep);
/* 1 when s contains a registered secret or a recognisable credential. */
int redact_contains_secret(const char *s);
/* Deep-copies a JSON value with every string masked (new reference). */
json_t *redact_json(json_t *v);
/* Writes s to f masked and escaped for the terminal: no control character
 * but tab reaches f raw (fputs-like, for a person). */
void redact_fputs(const char *s, FILE *f);
/* printf to f for a person: every %s and %c argument is masked and escaped
 * (a value cannot drive the terminal or forge a line), the format's own text
 * is kept (its line breaks are drplay's), and the whole is masked again. */
void redact_fprintf(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void redact_vfprintf(FILE *f, const char *fmt, va_list ap);
/* What redact_vfprintf would write, as a new string (caller frees). */
char *redact_vformat(const char *fmt, va_list ap);
/* Matches credential-looking text in a literal (lint): returns a short
 * description of what it found ("password in a connection URL") or NULL. */
const char *redact_find_credential(const char *s);

#endif
