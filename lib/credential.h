/*
 * credential.h: credential shapes, the text patterns of secrets nobody
 * registered (a password inside a URL, an AWS key pair, a bearer token).
 * A family declares the shapes it knows in its struct family; the registry
 * adds them to the mask (redact.h), which hides every match in every sink.
 */
#ifndef DRPLAY_CREDENTIAL_H
#define DRPLAY_CREDENTIAL_H

/* A credential shape: a PCRE2 pattern, matched on bytes (no PCRE2_UTF),
 * the capture group to hide (0: the whole match), and what it is, for lint
 * ("a password inside a connection URL"). Or, with `keys` instead of `re`:
 * setting names ("a|b", case insensitive) whose assigned values are hidden
 * (REDACT_ASSIGNED); the mask joins every family's names into one shape. */
struct redact_pattern {
	const char *re;
	int group;
	const char *what;
	const char *keys;
};

/* Shapes several families register (each is added once):
 *   REDACT_URL_PASSWORD  the password in a URL's userinfo
 *                        (scheme://user:PASSWORD@host)
 *   REDACT_ASSIGNED(K)   a value assigned to one of the keys K ("a|b") in
 *                        key=value or key: value text, unless it is a ${...}
 *                        reference
 *   REDACT_BEARER        HTTP bearer and basic credentials */
#define REDACT_URL_PASSWORD                                                 \
	{ .re = "[A-Za-z][A-Za-z0-9+.-]*://[^:/@\\s]*:([^@/\\s]+)@", .group = 1, \
	  .what = "a password inside a connection URL" }
#define REDACT_ASSIGNED(k) { .keys = k, .group = 1, .what = "a password or key assigned in the text" }
#define REDACT_BEARER                                                                   \
	{ .re = "(?i)\\b(?:bearer|basic)\\s+([A-Za-z0-9._~+/=-]{8,})", .group = 1, \
	  .what = "a bearer token" }
/* What follows the key names of REDACT_ASSIGNED in its pattern. */
#define REDACT_ASSIGNED_VALUE "\\s*[=:]\\s*(?!\\$\\{)('[^']*'|\"[^\"]*\"|[^\\s&;,'\"]+)"

#endif
