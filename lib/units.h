/*
 * units.h: times, durations, numbers and sizes in the forms the playbook
 * language writes them (SPEC.md, section 2) and drplay prints them.
 */
#ifndef DRPLAY_UNITS_H
#define DRPLAY_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* Times are microseconds since the Unix epoch (UTC); durations microseconds. */
int64_t now_us(void);          /* wall clock */
int64_t mono_us(void);         /* monotonic clock, for measuring */
/* Parses RFC 3339 ("2026-11-29T06:00:00Z", fraction and offset allowed).
 * Returns 0 and sets *out, or -1 when s is not a valid timestamp. */
int parse_timestamp(const char *s, int64_t *out);
/* Formats as RFC 3339 UTC with second precision ("...Z") into buf (>= 32). */
char *fmt_timestamp(int64_t us, char *buf, size_t n);
/* Compact UTC form for names and run ids: "20261129T060000Z". */
char *fmt_timestamp_compact(int64_t us, char *buf, size_t n);
/* The longest duration drplay accepts anywhere (a timeout, a delay, an age,
 * a param): 36500d, 100 years. Longer than any real timeout or retention,
 * and short enough that a clock reading or a timestamp plus a duration can
 * never overflow int64 microseconds. */
#define DURATION_MAX_US (36500LL * 86400 * 1000000)
/* Parses a duration: "90s", "15m", "24h", "7d", "250ms", "1h30m", or a bare
 * number of seconds. Returns 0 and sets *out, -1 on bad syntax, -2 when it is
 * longer than DURATION_MAX_US (each part and their sum are checked, so no
 * spelling overflows). */
int parse_duration(const char *s, int64_t *out);
/* Whole seconds as a duration: 0, or -2 when negative or over the maximum. */
int duration_from_secs(int64_t secs, int64_t *out);
/* Strict decimal number ("-1.5e3"; surrounding whitespace allowed; no hex,
 * inf or nan): 0 and *out, or -1 when s is not one or is not finite. */
int parse_decimal(const char *s, double *out);
/* Formats a duration the way it is written ("1h30m", "90s", "250ms"). */
char *fmt_duration(int64_t us, char *buf, size_t n);
/* Strict integer parsing (whole string, base 10); 0 on success, -1 otherwise. */
int parse_int64(const char *s, int64_t *out);

/* A byte count for people: "512 B", "12.3 MiB" (binary units). Returns buf. */
char *human_size(uint64_t n, char *buf, size_t len);

#endif
