/*
 * mcp_rpc.c: the sending half of `drplay mcp`'s transport: one JSON-RPC
 * message per line on stdout, masked (redact_json) before it is written,
 * so the server's own words pass the mask like everything drplay writes.
 * Below both the session (mcp.c) and the tools (mcp_tools.c).
 *
 * stdout is non-blocking and every message goes through a queue that the
 * event loop writes as the client reads: a client that stops reading must
 * never stop the server from draining its children's pipes, or a run would
 * block in its own write mid-restore. Progress notifications are the only
 * messages that may be dropped (over MCP_OUT_SOFT); responses and requests
 * are always queued, up to MCP_OUT_HARD.
 */
#include "mcp.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "redact.h"
#include "text.h"

size_t mcp_out_pending(const struct mcp_server *s)
{
	return s->out.len - s->out_off;
}

int mcp_out_busy(const struct mcp_server *s)
{
	return mcp_out_pending(s) > MCP_OUT_SOFT;
}

void mcp_out_flush(struct mcp_server *s)
{
	while (!s->out_broken && mcp_out_pending(s)) {
		/* one message per write, as a blocking writer would: on a socket
		 * each arrives on its own, and a client that handles a progress
		 * notification after the response read with it (the TypeScript
		 * SDK does) would lose it if the two came in one piece */
		const char *p = s->out.buf + s->out_off;
		const char *nl = memchr(p, '\n', mcp_out_pending(s));
		size_t n = nl ? (size_t)(nl - p) + 1 : mcp_out_pending(s);
		ssize_t w = write(STDOUT_FILENO, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (w <= 0) {
			s->out_broken = 1;
			break;
		}
		s->out_off += (size_t)w;
	}
	if (s->out_broken || !mcp_out_pending(s)) {
		if (s->out.alloc > 2 * MCP_OUT_SOFT) /* a burst's memory goes back */
			sb_release(&s->out);
		else
			sb_reset(&s->out);
		s->out_off = 0;
	} else if (s->out_off > s->out.len / 2) { /* keep the queue from only growing */
		memmove(s->out.buf, s->out.buf + s->out_off, mcp_out_pending(s));
		s->out.len -= s->out_off;
		s->out_off = 0;
	}
}

/* Queues msg (stolen) as one masked line; droppable: not over the soft cap. */
static int queue(struct mcp_server *s, json_t *msg, int droppable)
{
	int queued = 0;
	if (!s->out_broken && !s->out_overflow && !(droppable && mcp_out_busy(s))) {
		json_t *masked = redact_json(msg);
		char *text = json_dumps(masked, JSON_COMPACT);
		json_decref(masked);
		if (text) {
			size_t n = strlen(text);
			text[n] = '\n'; /* json_dumps' NUL becomes the line end */
			if (mcp_out_pending(s) + n + 1 > MCP_OUT_HARD) {
				s->out_overflow = 1;
			} else {
				if (!s->out.buf)
					sb_init(&s->out, SIZE_MAX);
				sb_add(&s->out, text, n + 1);
				queued = 1;
			}
			free(text);
		}
		mcp_out_flush(s);
	}
	json_decref(msg);
	return queued;
}

void mcp_send(struct mcp_server *s, json_t *msg)
{
	queue(s, msg, 0);
}

int mcp_send_progress(struct mcp_server *s, json_t *msg)
{
	return queue(s, msg, 1);
}

void mcp_reply(struct mcp_server *s, json_t *id, json_t *result)
{
	mcp_send(s, json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id, "result", result));
}

void mcp_error(struct mcp_server *s, json_t *id, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *m = xvasprintf(fmt, ap);
	va_end(ap);
	json_t *err = json_pack("{s:i, s:o}", "code", code, "message", json_text(m));
	free(m);
	mcp_send(s, json_pack("{s:s, s:o, s:o}", "jsonrpc", "2.0", "id", id ? json_incref(id) : json_null(),
			      "error", err));
}
