/*
 * fuzz_redact.c: libFuzzer target for what drplay does with bytes from
 * outside: masking (redact.c), the relay of a child's output (relay.c: split
 * into lines, masked, repaired to UTF-8) and the terminal writer (masked and
 * escaped). The input is
 *   byte 0          how many secrets (0-3) and the relay's line cap
 *   per secret      a length byte, then that many bytes
 *   one byte        seeds the sizes of the chunks the output arrives in
 *   the rest        the child's output
 * Secrets are made valid UTF-8 without NUL, '*' or U+FFFD (a secret holding
 * the mask's own characters can reappear by joining; drplay reads secrets
 * from the environment and files, where these do not occur in practice).
 * Besides crashes, leaks and UB, it aborts when an invariant breaks: no
 * registered secret of at least REDACT_MIN_LEN bytes (nor a line of one)
 * survives in masked text, a relayed line or a printed line; every relayed
 * line is valid UTF-8 without '\n' and is accepted by jansson; what the
 * terminal writer prints holds no control character but tab and the
 * format's own line break.
 *
 *   make fuzz && build/fuzz/fuzz_redact tests/fuzz/corpus/redact -max_total_time=120
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redact.h"
#include "relay.h"
#include "text.h"
#include "util.h"
#include "family.h"

#define MAX_PARTS 64

static char *parts[MAX_PARTS]; /* the secrets and their lines, for checking */
static size_t nparts;

static void remember(const char *s, size_t n)
{
	if (n >= REDACT_MIN_LEN && nparts < MAX_PARTS)
		parts[nparts++] = xstrndup(s, n);
}

/* Registers a secret made from raw bytes as the contract above says. */
static void add_secret(const uint8_t *p, size_t n)
{
	char *raw = xmalloc(n + 1);
	for (size_t i = 0; i < n; i++)
		raw[i] = p[i] == 0 || p[i] == '*' ? 'x' : (char)p[i];
	char *s = text_utf8(raw, n);
	free(raw);
	for (char *f; (f = strstr(s, "\xef\xbf\xbd"));)
		memcpy(f, "yyy", 3);
	redact_register(s);
	remember(s, strlen(s));
	for (const char *q = s; *q;) {
		size_t len = strcspn(q, "\n"), l = len;
		if (l && q[l - 1] == '\r')
			l--;
		remember(q, l);
		q += len;
		if (*q)
			q++;
	}
	free(s);
}

static void no_secret(const char *s, size_t n, const char *where)
{
	for (size_t i = 0; i < nparts; i++) {
		if (memmem(s, n, parts[i], strlen(parts[i]))) {
			struct strbuf e = STRBUF_INIT, t = STRBUF_INIT;
			text_term(&e, parts[i], strlen(parts[i]));
			text_term(&t, s, n);
			fprintf(stderr, "a secret survived in %s: '%s' in '%s'\n", where, sb_str(&e), sb_str(&t));
			abort();
		}
	}
}

static void check_line(void *ud, const char *line)
{
	size_t *count = ud;
	size_t n = strlen(line);
	(*count)++;
	if (memchr(line, '\n', n) || !utf8_valid(line, n))
		abort();
	json_t *j = json_string(line);
	if (!j)
		abort();
	json_decref(j);
	no_secret(line, n, "a relayed line");
	struct strbuf t = STRBUF_INIT;
	text_term(&t, line, n);
	for (size_t i = 0; i < t.len; i++)
		if (((unsigned char)t.buf[i] < 0x20 && t.buf[i] != '\t') || t.buf[i] == 0x7f)
			abort();
	sb_release(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	stdlib_register(); /* once: the credential shapes the families mask */
	if (size < 2 || size > ((size_t)256 << 10))
		return 0;
	size_t pos = 1;
	unsigned nsec = data[0] & 3;
	size_t line_max = 8 + (size_t)(data[0] >> 2) * 4;
	for (unsigned k = 0; k < nsec && pos < size; k++) {
		size_t len = data[pos++] & 63;
		if (len > size - pos)
			len = size - pos;
		add_secret(data + pos, len);
		pos += len;
	}
	unsigned seed = pos < size ? data[pos++] : 1;
	const char *out = (const char *)data + pos;
	size_t n = size - pos;

	/* masking, whole and cut */
	char *m = redact_n(out, n);
	no_secret(m, strlen(m), "masked text");
	free(m);
	size_t keep = n ? seed % (n + 1) : 0;
	char *c = redact_utf8(out, n, keep);
	if (!utf8_valid(c, strlen(c)))
		abort();
	no_secret(c, strlen(c), "cut text");
	free(c);

	/* the relay, in chunks */
	struct relay rl;
	size_t lines = 0;
	relay_init(&rl, check_line, &lines);
	rl.max = line_max;
	size_t off = 0;
	unsigned x = seed * 2654435761u + 1;
	while (off < n) {
		x = x * 1103515245u + 12345u;
		size_t chunk = 1 + (x >> 16) % 97;
		if (chunk > n - off)
			chunk = n - off;
		relay_feed(&rl, out + off, chunk);
		off += chunk;
	}
	relay_flush(&rl);
	relay_release(&rl);
	if (n && memchr(out, '\n', n) && !lines)
		abort();

	/* the terminal writer */
	char *text = xstrndup(out, n);
	char *buf = NULL;
	size_t blen = 0;
	FILE *f = open_memstream(&buf, &blen);
	if (!f)
		abort();
	redact_fprintf(f, "[%zu] %-12.40s|%s|%c\n", n, text, text, n ? out[0] : 'x');
	fclose(f);
	no_secret(buf, blen, "a printed line");
	if (!blen || buf[blen - 1] != '\n')
		abort();
	for (size_t i = 0; i + 1 < blen; i++)
		if (((unsigned char)buf[i] < 0x20 && buf[i] != '\t') || buf[i] == 0x7f)
			abort();
	free(buf);
	free(text);

	redact_release();
	for (size_t i = 0; i < nparts; i++)
		free(parts[i]);
	nparts = 0;
	return 0;
}
