/*
 * relay.h: a child's output, as it arrives, turned into lines for the
 * transcript and the journal. Output is arbitrary bytes: lines are split at
 * '\n' (a NUL byte is data, not an end), a trailing '\r' is dropped, each
 * line is masked (redact.h) and then repaired to valid UTF-8 (text.h). A line
 * longer than the cap is masked before it is cut, so a secret at the cut is
 * hidden whole; the rest of that line is dropped and the cut is said.
 */
#ifndef DRPLAY_RELAY_H
#define DRPLAY_RELAY_H

#include <stddef.h>

#include "strbuf.h"

/* Longest line relayed whole, in bytes. */
#define RELAY_LINE_MAX ((size_t)64 << 10)

struct relay {
	struct strbuf line;  /* bytes of the line not yet ended */
	size_t max;          /* RELAY_LINE_MAX unless set otherwise */
	int dropping;        /* the rest of a cut line is being dropped */
	/* called with each line: masked, valid UTF-8, no '\n' (other control
	 * characters are the terminal writer's to escape) */
	void (*emit)(void *ud, const char *line);
	void *ud;
};

void relay_init(struct relay *rl, void (*emit)(void *ud, const char *line), void *ud);
/* Takes n more bytes of output; emits every line they complete. */
void relay_feed(struct relay *rl, const char *buf, size_t n);
/* The output ended: emits the last line when it had no '\n'. */
void relay_flush(struct relay *rl);
void relay_release(struct relay *rl);

#endif
