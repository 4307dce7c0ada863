/*
 * redact.h: the secret registry. Every value that came from secret.*, and
 * every secret an action discovers, is registered here; every sink (terminal,
 * journal, reports, error messages, relayed child output) writes through
 * redact() so that registered values and recognisable credentials (passwords
 * inside DSNs and URLs, AWS key pairs, bearer tokens; PCRE2 patterns) come
 * out as "***". Registered copies are wiped on release.
 */
#ifndef DRPLAY_REDACT_H
#define DRPLAY_REDACT_H

#include <stdio.h>
#include <stddef.h>
#include <jansson.h>

/* Registers a secret value (copied). Values shorter than 3 bytes are not
 * masked as substrings (they would mask ordinary text) but are still masked
 * when a whole output value equals them. */
void redact_register(const char *secret);
/* Wipes and frees every registered secret. */
void redact_release(void);
/* Returns a masked copy of s (caller frees). */
char *redact(const char *s);
/* Returns a masked copy of n bytes of s (may contain NULs? no: text). */
char *redact_n(const char *s, size_t n);
/* 1 when s contains a registered secret or a recognisable credential. */
int redact_contains_secret(const char *s);
/* Deep-copies a JSON value with every string masked (new reference). */
json_t *redact_json(json_t *v);
/* Writes s masked to f (fputs-like). */
void redact_fputs(const char *s, FILE *f);
/* printf to f through the mask. */
void redact_fprintf(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Matches credential-looking text in a literal (lint): returns a short
 * description of what it found ("password in a connection URL") or NULL. */
const char *redact_find_credential(const char *s);

#endif
