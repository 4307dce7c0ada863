/*
 * mcp_rpc.c: the sending half of `drplay mcp`'s transport: one JSON-RPC
 * message per line on stdout, masked (redact_json) before it is written,
 * so the server's own words pass the mask like everything drplay writes.
 * Below both the session (mcp.c) and the tools (mcp_tools.c).
 */
#include "mcp.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "redact.h"
#include "text.h"

void mcp_send(struct mcp_server *s, json_t *msg)
{
	if (!s->out_broken) {
		json_t *masked = redact_json(msg);
		char *text = json_dumps(masked, JSON_COMPACT);
		json_decref(masked);
		if (text) {
			size_t n = strlen(text);
			text[n] = '\n'; /* json_dumps' NUL becomes the line end */
			if (write_all(STDOUT_FILENO, text, n + 1) != 0)
				s->out_broken = 1;
			free(text);
		}
	}
	json_decref(msg);
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
