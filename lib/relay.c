/*
 * relay.c: splitting a child's output into masked, UTF-8 lines (relay.h).
 * A library (lib/): bytes in, lines out through the caller's callback; it
 * knows nothing of children or steps (the action API's spawn feeds it a
 * child's output and writes the lines to the transcript and the journal),
 * and it needs only the mask and text repair, both libraries too.
 */
#include "relay.h"

#include <string.h>

#include "alloc.h"
#include "redact.h"

void relay_init(struct relay *rl, void (*emit)(void *ud, const char *line), void *ud)
{
	memset(rl, 0, sizeof(*rl));
	sb_init(&rl->line, (size_t)-1);
	rl->max = RELAY_LINE_MAX;
	rl->emit = emit;
	rl->ud = ud;
}

/* Emits the pending bytes as one line; one longer than the cap is cut to
 * its first rl->max bytes, after masking all of them. */
static void emit_line(struct relay *rl)
{
	size_t n = rl->line.len;
	const char *s = rl->line.buf ? rl->line.buf : "";
	if (n && s[n - 1] == '\r')
		n--;
	int cut = n > rl->max;
	size_t keep = cut ? rl->max : n;
	char *text = redact_utf8(s, n, keep);
	if (cut) {
		char *t = xasprintf("%s ... (line cut: longer than %zu bytes)", text, rl->max);
		free_secret(text);
		text = redact(t); /* the note joined to the text must not make a secret */
		free_secret(t);
	}
	rl->emit(rl->ud, text);
	free_secret(text);
}

void relay_feed(struct relay *rl, const char *buf, size_t n)
{
	while (n) {
		const char *nl = memchr(buf, '\n', n);
		size_t take = nl ? (size_t)(nl - buf) : n;
		if (!rl->dropping)
			sb_add(&rl->line, buf, take);
		if (nl) {
			if (!rl->dropping)
				emit_line(rl);
			rl->dropping = 0;
			sb_reset(&rl->line);
			take++;
		} else if (!rl->dropping && rl->line.len > rl->max + redact_margin()) {
			/* a line without end: relay its first max bytes, masked
			 * over max + margin so no secret is halved by the cut */
			emit_line(rl);
			sb_reset(&rl->line);
			rl->dropping = 1;
		}
		buf += take;
		n -= take;
	}
}

void relay_flush(struct relay *rl)
{
	if (!rl->dropping && rl->line.len)
		emit_line(rl);
	rl->dropping = 0;
	sb_reset(&rl->line);
}

void relay_release(struct relay *rl)
{
	if (rl->line.buf)
		explicit_bzero(rl->line.buf, rl->line.alloc);
	sb_release(&rl->line);
}
