/*
 * mcp.c: `drplay mcp`, a Model Context Protocol server on stdio (SPEC.md,
 * "drplay mcp"). The transport is the protocol's stdio one: JSON-RPC 2.0
 * messages, one per line, on stdin and stdout; stdout carries protocol
 * messages and nothing else (diagnostics go to stderr). This file is the
 * session: reading lines with a size cap, the lifecycle (initialize, the
 * capabilities the client declared), dispatch by method, and the event loop
 * that waits on stdin and on the pipes of the children the tools started
 * (mcp_tools.c), so that a long run, a follow and an elicitation can be in
 * flight together. JSON is jansson's; every message leaves through the mask.
 */
#include "mcp.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fail.h"
#include "redact.h"
#include "resolve.h"
#include "text.h"
#include "run.h"
#include "version.h"

/* The protocol revisions this server speaks, newest first. */
static const char *const versions[] = { "2025-11-25", "2025-06-18", "2025-03-26", NULL };

/* One message at most this long (bytes, without its newline). */
#define MCP_MAX_MESSAGE (1u << 20)

/* initialize: the version both speak, the server's capabilities. */
static void on_initialize(struct mcp_server *s, json_t *id, json_t *params)
{
	const char *asked = json_string_value(json_object_get(params, "protocolVersion"));
	if (!asked) {
		mcp_error(s, id, RPC_INVALID_PARAMS, "initialize needs params.protocolVersion (a string such as '%s')",
			  versions[0]);
		return;
	}
	const char *v = versions[0];
	for (size_t i = 0; versions[i]; i++)
		if (!strcmp(asked, versions[i]))
			v = versions[i];
	/* elicitation: {} (the 2025-06-18 form) or {form: {}} both mean forms */
	json_t *el = json_object_get(json_object_get(params, "capabilities"), "elicitation");
	s->elicit = json_is_object(el) && (json_object_size(el) == 0 || json_object_get(el, "form"));
	s->initialized = 1;
	mcp_reply(s, id,
		  json_pack("{s:s, s:{s:{s:b}}, s:{s:s, s:s, s:s}, s:s}", "protocolVersion", v, "capabilities", "tools",
			    "listChanged", 0, "serverInfo", "name", "drplay", "title", "drplay playbooks",
			    "version", DRPLAY_VERSION, "instructions",
			    "drplay lints, plans and runs database disaster-recovery playbooks. Runs are "
			    "validation-only unless the person who started this server allowed disaster mode; "
			    "never put an authorization token in a tool call."));
}

/* A request (it has an id): answered now, or later by a job. */
static void on_request(struct mcp_server *s, json_t *id, const char *method, json_t *params)
{
	if (!strcmp(method, "initialize")) {
		on_initialize(s, id, params);
	} else if (!strcmp(method, "ping")) {
		mcp_reply(s, id, json_object());
	} else if (!s->initialized) {
		mcp_error(s, id, RPC_INVALID_REQUEST, "'%s' before initialize; send initialize first", method);
	} else if (!strcmp(method, "tools/list")) {
		mcp_reply(s, id, mcp_tools_list());
	} else if (!strcmp(method, "tools/call")) {
		if (!json_is_object(params))
			mcp_error(s, id, RPC_INVALID_PARAMS, "tools/call needs params {name, arguments}");
		else
			mcp_tools_call(s, id, params);
	} else {
		mcp_error(s, id, RPC_METHOD_NOT_FOUND, "unknown method '%s'; this server offers initialize, ping, "
			  "tools/list and tools/call", method);
	}
}

/* One line from the client: a request, a notification or a response. */
static void on_line(struct mcp_server *s, const char *line, size_t n)
{
	json_error_t je;
	json_t *msg = json_loadb(line, n, JSON_REJECT_DUPLICATES, &je);
	if (!msg) {
		mcp_error(s, NULL, RPC_PARSE_ERROR, "malformed JSON at column %d: %s", je.column, je.text);
		return;
	}
	json_t *id = json_object_get(msg, "id");
	json_t *method = json_object_get(msg, "method");
	int id_ok = json_is_string(id) || json_is_integer(id);
	if (!json_is_object(msg) || !json_is_string(json_object_get(msg, "jsonrpc")) ||
	    strcmp(json_string_value(json_object_get(msg, "jsonrpc")), "2.0") != 0 || (id && !id_ok)) {
		mcp_error(s, id_ok ? id : NULL, RPC_INVALID_REQUEST, json_is_array(msg)
			  ? "batches are not part of this protocol revision; send one message per line"
			  : "not a JSON-RPC 2.0 message: it needs \"jsonrpc\": \"2.0\" and a string or integer id");
	} else if (!method && id) {
		mcp_client_response(s, msg);
	} else if (!json_is_string(method)) {
		if (id)
			mcp_error(s, id, RPC_INVALID_REQUEST, "a request needs a string \"method\"");
	} else if (id) {
		on_request(s, id, json_string_value(method), json_object_get(msg, "params"));
	} else if (!strcmp(json_string_value(method), "notifications/cancelled")) {
		mcp_cancel(s, json_object_get(json_object_get(msg, "params"), "requestId"));
	}
	/* other notifications (initialized, progress, roots) need nothing */
	json_decref(msg);
}

/* The client's input, split into lines, each at most MCP_MAX_MESSAGE. */
struct mcp_input {
	struct strbuf buf;
	int discarding; /* inside a line already refused as too long */
};

static void too_long(struct mcp_server *s)
{
	mcp_error(s, NULL, RPC_INVALID_REQUEST, "message longer than %u bytes; it is ignored up to its end of line "
		  "(send smaller messages)", MCP_MAX_MESSAGE);
}

/* Takes the complete lines out of in (and, at eof, what is left). */
static void input_lines(struct mcp_server *s, struct mcp_input *in, int eof)
{
	size_t start = 0;
	for (;;) {
		char *nl = memchr(in->buf.buf + start, '\n', in->buf.len - start);
		if (!nl)
			break;
		size_t n = (size_t)(nl - (in->buf.buf + start));
		if (!in->discarding && n > MCP_MAX_MESSAGE)
			too_long(s);
		else if (!in->discarding && n > 0 && !(n == 1 && in->buf.buf[start] == '\r'))
			on_line(s, in->buf.buf + start, n);
		in->discarding = 0;
		start += n + 1;
	}
	size_t rest = in->buf.len - start;
	memmove(in->buf.buf, in->buf.buf + start, rest);
	in->buf.len = rest;
	in->buf.buf[rest] = '\0';
	if (rest > MCP_MAX_MESSAGE) {
		if (!in->discarding)
			too_long(s);
		in->discarding = 1;
		sb_reset(&in->buf);
	}
	if (eof && in->buf.len && !in->discarding) {
		mcp_error(s, NULL, RPC_PARSE_ERROR, "the input ended inside a message (%zu bytes without a "
			  "newline); every message ends with a newline", in->buf.len);
		sb_reset(&in->buf);
	}
}

/* The loop: stdin, the jobs' pipes and stdout (while messages wait), until
 * a stop signal, or until stdin has ended, the jobs started before have sent
 * their results and the client has read them. The children's pipes are
 * always polled, so a run never blocks on a client that does not read; the
 * client's input waits while the output queue is over its soft cap. */
static void serve(struct mcp_server *s)
{
	struct mcp_input in = { STRBUF_INIT, 0 };
	sb_init(&in.buf, 0);
	int fds[64], in_open = 1;
	struct pollfd pfd[66];
	while (!s->out_broken && !s->out_overflow && !run_signals && (in_open || s->jobs || mcp_out_pending(s))) {
		size_t n = mcp_jobs_fds(s, fds, ARRAY_SIZE(fds));
		/* a closed (or waiting) stdin is polled as fd -1: ignored */
		pfd[0] = (struct pollfd){ .fd = in_open && !mcp_out_busy(s) ? STDIN_FILENO : -1, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = mcp_out_pending(s) ? STDOUT_FILENO : -1, .events = POLLOUT };
		for (size_t i = 0; i < n; i++)
			pfd[i + 2] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
		if (poll(pfd, n + 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			warn_print("mcp: poll: %s", strerror(errno));
			break;
		}
		if (pfd[1].revents)
			mcp_out_flush(s);
		for (size_t i = 0; i < n; i++)
			if (pfd[i + 2].revents)
				mcp_jobs_read(s, fds[i]);
		if (pfd[0].fd < 0 || !pfd[0].revents)
			continue;
		char chunk[65536];
		ssize_t r = read(STDIN_FILENO, chunk, sizeof(chunk));
		/* EAGAIN: stdin shares stdout's file (a socket), now non-blocking */
		if (r < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (r > 0)
			sb_add(&in.buf, chunk, (size_t)r);
		input_lines(s, &in, r <= 0);
		if (r <= 0) {
			in_open = 0;
			mcp_jobs_input_closed(s);
		}
	}
	sb_release(&in.buf);
}

/* Reads --authorize-file once: the token is masked from then on, and a
 * tool call carrying it is refused. 0, or -1 after saying why. */
static int load_token(struct mcp_server *s, const char *path)
{
	struct fail f = FAIL_INIT;
	if (read_secret_file(path, 1, &s->token, &f) != 0) {
		fail_prefix(&f, "--authorize-file '%s' ", path);
		fail_print(&f, "drplay mcp");
		fail_release(&f);
		return -1;
	}
	redact_register(s->token);
	return 0;
}

int mcp_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "allow-disaster", no_argument, NULL, 'D' },
		{ "authorize-file", required_argument, NULL, 'F' },
		{ "journal-dir", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct mcp_server s = { 0 };
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'D')
			s.allow_disaster = 1;
		else if (c == 'F')
			s.authorize_file = optarg;
		else if (c == 'j')
			s.journal_dir = optarg;
		else if (c == 'h')
			return -1; /* main prints the help */
		else
			return -2;
	}
	if (optind < argc)
		return -2;
	if (s.allow_disaster != (s.authorize_file != NULL)) {
		warn_print("mcp: --allow-disaster and --authorize-file go together; give both to allow disaster "
			   "runs, or neither");
		return EXIT_INVALID;
	}
	if (s.authorize_file && load_token(&s, s.authorize_file) != 0)
		return EXIT_INVALID;
	struct signal_save save;
	proc_signals_catch(&save);
	int flags = fcntl(STDOUT_FILENO, F_GETFL);
	if (flags >= 0)
		fcntl(STDOUT_FILENO, F_SETFL, flags | O_NONBLOCK);
	serve(&s);
	mcp_jobs_end_all(&s);
	if (s.out_overflow)
		warn_print("mcp: the client left over %u MiB of responses unread; the server ended its runs and "
			   "stops (a client reads the server's output as it comes)", MCP_OUT_HARD >> 20);
	else
		mcp_out_flush(&s); /* a last try after a stop signal */
	if (flags >= 0)
		fcntl(STDOUT_FILENO, F_SETFL, flags);
	sb_release(&s.out);
	children_release(&s.kids);
	proc_signals_restore(&save);
	if (s.token)
		free_secret(s.token);
	return s.out_overflow ? EXIT_INVALID : EXIT_OK;
}
