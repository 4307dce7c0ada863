/*
 * util.h: the small shared toolbox of drplay: allocation that aborts on
 * failure (like Redis' zmalloc), a growable string buffer with a size cap
 * (like git's strbuf / curl's dynbuf), time and duration parsing/formatting in
 * the forms the playbook language uses, and SHA-256 through OpenSSL.
 */
#ifndef DRPLAY_UTIL_H
#define DRPLAY_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#define UNUSED __attribute__((unused))

/* Allocation: never returns NULL; on exhaustion prints a message and aborts. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t sz);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) PRINTF_LIKE(1, 2);
char *xvasprintf(const char *fmt, va_list ap);
/* Frees a secret: wipes its bytes first (explicit_bzero), then frees. */
void free_secret(char *s);

/* A growable string, always NUL-terminated. `cap` (0 = 64 MiB) bounds its
 * size: additions beyond it are dropped and `truncated` is set. */
struct strbuf {
	char *buf;
	size_t len, alloc, cap;
	int truncated;
};
#define STRBUF_INIT { NULL, 0, 0, 0, 0 }
void sb_init(struct strbuf *sb, size_t cap);
void sb_add(struct strbuf *sb, const void *data, size_t n);
void sb_adds(struct strbuf *sb, const char *s);
void sb_addc(struct strbuf *sb, char c);
void sb_addf(struct strbuf *sb, const char *fmt, ...) PRINTF_LIKE(2, 3);
void sb_vaddf(struct strbuf *sb, const char *fmt, va_list ap);
void sb_reset(struct strbuf *sb);
/* Returns the buffer (caller frees; never NULL) and leaves sb empty. */
char *sb_detach(struct strbuf *sb);
void sb_release(struct strbuf *sb);
/* The current contents, "" when empty. */
const char *sb_str(const struct strbuf *sb);

/* A byte count for people: "512 B", "12.3 MiB" (binary units). Returns buf. */
char *human_size(uint64_t n, char *buf, size_t len);

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

/* SHA-256 of a buffer, as 64 lowercase hex characters into hex[65]. */
void sha256_hex(const void *data, size_t n, char hex[65]);
/* SHA-256 of a file's content; 0 on success, -1 with errno on I/O failure. */
int sha256_file_hex(const char *path, char hex[65]);

/* Reads a whole file up to max bytes. Returns 0 and a NUL-terminated buffer
 * (caller frees), -1 with errno set (EFBIG when larger than max). */
int read_file(const char *path, size_t max, char **out, size_t *len);
/* The same from an open descriptor, read to its end (the caller closes it). */
int read_fd(int fd, size_t max, char **out, size_t *len);

/* Writes all of buf to fd, retrying on EINTR/short writes. 0 or -1. */
int write_all(int fd, const void *buf, size_t n);

/* An arena: many small allocations released together (the plan of a run,
 * the nodes of a document). Allocation aborts on exhaustion like xmalloc. */
struct arena;
struct arena *arena_new(void);
void *arena_alloc(struct arena *a, size_t n);   /* zeroed, 16-byte aligned */
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);
void arena_free(struct arena *a);

/* Random bytes from the kernel as hex (n bytes -> 2n chars + NUL). */
void random_hex(char *out, size_t nbytes);

#endif
