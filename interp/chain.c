/*
 * chain.c: the journal's hash chain, written by journal.c and checked here
 * for `drplay status --verify` and `drplay evidence verify`. See chain.h;
 * SPEC section 6 defines the bytes hashed.
 *
 * The check works on the bytes as written, never on JSON re-serialized: a
 * line's hashed part is its text before the chain member, so the check does
 * not depend on how a JSON library orders or spells values. The `seq` of
 * each line names what happened when the chain breaks: a line whose number
 * comes later in the file was moved, one that is nowhere was deleted, one
 * seen before was copied.
 */
#include "chain.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "exitcode.h"
#include "hash.h"
#include "redact.h"
#include "text.h"
#include "util.h"

const char chain_genesis[65] = "0000000000000000000000000000000000000000000000000000000000000000";

#define CHAIN_KEY ",\"chain\":\""
/* `,"chain":"` + 64 hex + `"}` */
#define CHAIN_SUFFIX (sizeof(CHAIN_KEY) - 1 + 64 + 2)

void chain_next(const char prev[65], const char *body, size_t n, char out[65])
{
	char *buf = xmalloc(64 + n + 1);
	memcpy(buf, prev, 64);
	memcpy(buf + 64, body, n);
	sha256_hex(buf, 64 + n, out);
	free(buf);
}

/* The line's chain member: 0 with *body (bytes before it) and chain[65],
 * or -1 when the line does not end with one. */
static int split(const char *line, size_t len, size_t *body, char chain[65])
{
	if (len < CHAIN_SUFFIX + 1)
		return -1;
	const char *s = line + len - CHAIN_SUFFIX;
	if (memcmp(s, CHAIN_KEY, sizeof(CHAIN_KEY) - 1) != 0 || memcmp(line + len - 2, "\"}", 2) != 0)
		return -1;
	const char *h = s + sizeof(CHAIN_KEY) - 1;
	for (int i = 0; i < 64; i++)
		if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f')))
			return -1;
	memcpy(chain, h, 64);
	chain[64] = '\0';
	*body = (size_t)(s - line);
	return 0;
}

/* One line of the file: where it is and what it says of itself. */
struct jline {
	const char *p;
	size_t len;   /* without the '\n' */
	int newline;  /* ended with '\n' */
	long seq;     /* its `seq`, 0 when it has none or does not parse */
	int parses;
	int is_end;
};

static void scan(char *text, size_t n, struct jline **out, long *count)
{
	long cap = 64, k = 0;
	struct jline *ls = xmalloc((size_t)cap * sizeof(*ls));
	size_t i = 0;
	while (i < n) {
		const char *nl = memchr(text + i, '\n', n - i);
		size_t len = nl ? (size_t)(nl - (text + i)) : n - i;
		if (k == cap) {
			cap *= 2;
			ls = xrealloc(ls, (size_t)cap * sizeof(*ls));
		}
		struct jline *l = &ls[k++];
		memset(l, 0, sizeof(*l));
		l->p = text + i;
		l->len = len;
		l->newline = nl != NULL;
		json_error_t je;
		json_t *o = json_loadb(l->p, len, 0, &je);
		l->parses = json_is_object(o);
		json_t *sq = json_object_get(o, "seq");
		l->seq = json_is_integer(sq) && json_integer_value(sq) > 0 ? (long)json_integer_value(sq) : 0;
		const char *ev = json_string_value(json_object_get(o, "event"));
		l->is_end = ev && !strcmp(ev, "run_end");
		json_decref(o);
		i += len + (nl ? 1 : 0);
	}
	*out = ls;
	*count = k;
}

/* Why line i (0-based) is not line i+1 of the run, by its seq. */
static void misplaced(struct chain_check *c, const struct jline *ls, long nl, long i)
{
	long want = i + 1, got = ls[i].seq;
	long where = 0;
	for (long k = 0; k < nl && !where; k++)
		if (ls[k].seq == want)
			where = k + 1;
	if (got < want)
		sb_addf(&c->why, "it says it is line %ld of the run, which came before: a copy of an earlier line was inserted here (expected line %ld)",
			got, want);
	else if (where)
		sb_addf(&c->why, "it is line %ld of the run, out of order: line %ld of the run is at line %ld of the file (lines were reordered)",
			got, want, where);
	else
		sb_addf(&c->why, "expected line %ld of the run, found line %ld: %s deleted", want, got,
			got - want == 1 ? "that line was" : "the lines between were");
}

/* Checks line i (0-based) against prev; 0 when it fits (chain set). */
static int check_line(struct chain_check *c, const struct jline *ls, long nl, long i, const char *prev, char chain[65])
{
	const struct jline *l = &ls[i];
	size_t body;
	if (!l->newline && i == nl - 1) {
		c->torn = 1;
		sb_addf(&c->why, "the last line is incomplete (%zu bytes, no line end): cut off while it was written (a crash or a full disk) or truncated",
			l->len);
		return -1;
	}
	if (split(l->p, l->len, &body, chain) != 0) {
		if (l->len && l->p[l->len - 1] == '\r')
			sb_adds(&c->why, "it ends with a carriage return: the journal's line ends were converted (CR LF), "
					 "which changes the bytes the chain covers; check the original file, or convert "
					 "the copy back (dos2unix) and check again");
		else if (!l->parses)
			sb_adds(&c->why, "it is not a JSON object: it was damaged, or inserted by hand");
		else
			sb_addf(&c->why, "it carries no chain: it was inserted%s", i == 0 ? ", or the journal was written by a drplay that did not chain its lines" : "");
		return -1;
	}
	if (l->seq != i + 1) {
		if (!l->seq)
			sb_addf(&c->why, "it carries no line number (seq), expected %ld: it was edited", i + 1);
		else
			misplaced(c, ls, nl, i);
		return -1;
	}
	char want[65];
	chain_next(prev, l->p, body, want);
	if (strcmp(want, chain) != 0) {
		sb_addf(&c->why, "expected chain %s (from the chain of %s and this line's bytes), the line carries %s: this line or the one before it was edited",
			want, i ? "the line before" : "the start", chain);
		return -1;
	}
	return 0;
}

int chain_check_file(const char *path, struct chain_check *c, struct fail *f)
{
	char *text = NULL;
	size_t n = 0;
	if (read_file(path, (size_t)1 << 30, &text, &n) != 0)
		return fail_set(f, EXIT_INVALID, "cannot read the journal '%s': %s; check the path", path, strerror(errno));
	struct jline *ls;
	long nl;
	scan(text, n, &ls, &nl);
	c->lines = nl;
	c->bad_line = 0;
	c->has_end = 0;
	c->torn = 0;
	c->at_chain[0] = '\0';
	sb_reset(&c->why);
	char prev[65], cur[65];
	memcpy(prev, chain_genesis, 65);
	for (long i = 0; i < nl; i++) {
		if (check_line(c, ls, nl, i, prev, cur) != 0) {
			c->bad_line = i + 1;
			break;
		}
		memcpy(prev, cur, 65);
		if (i + 1 == c->at_line)
			memcpy(c->at_chain, cur, 65);
		c->has_end |= ls[i].is_end;
	}
	if (!nl) {
		c->bad_line = 1;
		sb_adds(&c->why, "the journal is empty: every run writes run_start first");
	}
	memcpy(c->last, c->bad_line && !c->torn ? "" : prev, c->bad_line && !c->torn ? 1 : 65);
	free(ls);
	free(text);
	return 0;
}

void chain_check_release(struct chain_check *c)
{
	sb_release(&c->why);
}

int chain_verify_print(const char *path, int json, int running, long pid)
{
	struct chain_check c = CHAIN_CHECK_INIT;
	struct fail f = FAIL_INIT;
	if (chain_check_file(path, &c, &f) != 0) {
		int rc = fail_print(&f, "drplay status --verify");
		fail_release(&f);
		return rc;
	}
	/* the run appends its lines as it goes: the last one may be half-written */
	int writing = c.bad_line && c.torn && running == 1;
	long fit = writing ? c.lines - 1 : c.lines;
	if (c.torn && !writing)
		sb_addf(&c.why, running == 0 ? "; the run's process (pid %ld) is gone, so nothing will finish the line"
				: "; whether the run still runs cannot be told (pid %ld)", pid);
	if (json) {
		json_t *o = json_pack("{s:s,s:b,s:I}", "journal", path, "intact", !c.bad_line || writing, "lines",
				      (json_int_t)fit);
		if (c.bad_line && !writing) {
			json_object_set_new(o, "bad_line", json_integer(c.bad_line));
			json_object_set_new(o, "why", json_text(sb_str(&c.why)));
		} else {
			json_object_set_new(o, "chain", json_string(c.last));
			json_object_set_new(o, "finished", json_boolean(c.has_end));
		}
		if (writing)
			json_object_set_new(o, "being_written", json_pack("{s:I,s:I}", "line", (json_int_t)c.lines,
									  "pid", (json_int_t)pid));
		json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
		json_decref(o);
	} else if (c.bad_line && !writing) {
		redact_fprintf(stdout, "journal %s: line %ld of %ld does not fit the chain: %s\n", path, c.bad_line, c.lines,
			       sb_str(&c.why));
	} else {
		redact_fprintf(stdout, "journal %s: the chain is intact over %ld lines; last chain %s\n", path, fit, c.last);
		if (writing)
			redact_fprintf(stdout, "note: line %ld is being written: the run is still running (pid %ld) and "
				       "its last line has no line end yet; check again when the run has ended\n",
				       c.lines, pid);
		else if (!c.has_end)
			redact_fprintf(stdout, "note: the journal has no run_end: the run is still running, was killed, or its last lines were cut off (the chain cannot tell; compare the chain an evidence document recorded)\n");
	}
	int rc = c.bad_line && !writing ? EXIT_CHECK_FAILED : EXIT_OK;
	chain_check_release(&c);
	return rc;
}
