/*
 * unit.h: a tiny test framework for the C unit tests. Each test prints one
 * line, "PASS: unit/GROUP/NAME" or "FAIL: unit/GROUP/NAME: file:line: what
 * failed", the same lines the integration scripts print, so tests/run.sh
 * counts every kind alike. A test stops reporting after its first failed check.
 */
#ifndef DRPLAY_UNIT_H
#define DRPLAY_UNIT_H

#include <stdio.h>
#include <string.h>

static char unit_msg[1024];
static int unit_failed_now;
static int unit_failures;
static const char *unit_group = "unit";

#define CHECK(cond)                                                                      \
	do {                                                                             \
		if (!(cond) && !unit_failed_now) {                                        \
			unit_failed_now = 1;                                              \
			snprintf(unit_msg, sizeof(unit_msg), "%s:%d: check failed: %s",  \
				 __FILE__, __LINE__, #cond);                              \
		}                                                                        \
	} while (0)

#define CHECK_STR(a, b)                                                                  \
	do {                                                                             \
		const char *ua_ = (a), *ub_ = (b);                                        \
		if ((!ua_ || !ub_ || strcmp(ua_, ub_) != 0) && !unit_failed_now) {        \
			unit_failed_now = 1;                                              \
			snprintf(unit_msg, sizeof(unit_msg), "%s:%d: %s is \"%s\", expected \"%s\"", \
				 __FILE__, __LINE__, #a, ua_ ? ua_ : "(null)", ub_ ? ub_ : "(null)"); \
		}                                                                        \
	} while (0)

#define RUN(fn)                                                                          \
	do {                                                                             \
		unit_failed_now = 0;                                                      \
		unit_msg[0] = '\0';                                                       \
		fn();                                                                     \
		if (unit_failed_now) {                                                    \
			unit_failures++;                                                  \
			printf("FAIL: unit/%s/%s: %s\n", unit_group, #fn, unit_msg);      \
		} else {                                                                  \
			printf("PASS: unit/%s/%s\n", unit_group, #fn);                    \
		}                                                                        \
		fflush(stdout);                                                           \
	} while (0)

/* main() returns this: 0 when every test passed. */
#define UNIT_RESULT() (unit_failures ? 1 : 0)

#endif
