/*
 * mcp.h: the shared shape of `drplay mcp`, the Model Context Protocol server
 * (SPEC.md, "drplay mcp"). mcp.c is the transport and the JSON-RPC session
 * (newline-delimited messages on stdin and stdout, the lifecycle, the event
 * loop); mcp_tools.c is the tools, each run as a child drplay started by
 * argv, and the jobs that follow those children to their results.
 */
#ifndef DRPLAY_MCP_H
#define DRPLAY_MCP_H

#include <sys/types.h>
#include <jansson.h>

#include "proc.h"
#include "util.h"

/* JSON-RPC 2.0 error codes (the specification's, and MCP's use of them). */
enum {
	RPC_PARSE_ERROR = -32700,
	RPC_INVALID_REQUEST = -32600,
	RPC_METHOD_NOT_FOUND = -32601,
	RPC_INVALID_PARAMS = -32602,
	RPC_INTERNAL_ERROR = -32603,
};

/* One tool call in progress: a child drplay (or, for run, first the plan,
 * then the questions to the person, then the run). */
struct mcp_job;

struct mcp_server {
	int allow_disaster;         /* --allow-disaster given */
	const char *authorize_file; /* --authorize-file, passed to disaster runs */
	const char *journal_dir;    /* --journal-dir, passed to run and status */
	int initialized;            /* initialize answered */
	int elicit;                 /* the client declared elicitation (form) */
	struct children kids;       /* process groups of the running children */
	struct mcp_job *jobs;       /* tool calls in progress */
	unsigned long next_request; /* ids of the server's own requests */
	int out_broken;             /* stdout closed: the client went away */
	struct strbuf out;          /* messages sent and not yet written (stdout is non-blocking) */
	size_t out_off;             /* how much of out is written */
	int out_overflow;           /* a response past MCP_OUT_HARD: the server gives up */
	char *token;                /* the authorization token (a secret), or NULL */
};

/* The output queue's caps (bytes waiting for the client to read). Over the
 * soft one, progress notifications are dropped and the client's input waits;
 * a response or request is always queued, but past the hard one the server
 * ends its children and stops. */
#define MCP_OUT_SOFT (1u << 20)
#define MCP_OUT_HARD (256u << 20)

/* Queues one message (a JSON value, stolen) as one line for stdout, masked,
 * and writes what stdout takes without blocking. */
void mcp_send(struct mcp_server *s, json_t *msg);
/* Queues a progress notification (stolen) like mcp_send, unless the queue is
 * over MCP_OUT_SOFT: then drops it. 1 when queued, 0 when dropped. */
int mcp_send_progress(struct mcp_server *s, json_t *msg);
/* Bytes queued and not yet written. */
size_t mcp_out_pending(const struct mcp_server *s);
/* 1 when the queue is over MCP_OUT_SOFT (the client reads too slowly). */
int mcp_out_busy(const struct mcp_server *s);
/* Writes what stdout takes now, without blocking; a write error other than
 * "full" marks the output broken. */
void mcp_out_flush(struct mcp_server *s);
/* Sends the result (stolen) of request `id` (borrowed). */
void mcp_reply(struct mcp_server *s, json_t *id, json_t *result);
/* Sends a JSON-RPC error for request `id` (borrowed; NULL: null). */
void mcp_error(struct mcp_server *s, json_t *id, int code, const char *fmt, ...) PRINTF_LIKE(4, 5);

/* tools/list's result (a new reference). */
json_t *mcp_tools_list(void);
/* Handles tools/call: answers at once (errors, refusals) or starts a job
 * whose result is sent when its child ends. */
void mcp_tools_call(struct mcp_server *s, json_t *id, json_t *params);
/* A response from the client to one of the server's requests (elicitation). */
void mcp_client_response(struct mcp_server *s, json_t *msg);
/* notifications/cancelled: ends the job of request `id`, sends nothing. */
void mcp_cancel(struct mcp_server *s, json_t *id);
/* The file descriptors of running jobs to poll: fills fds (up to max) and
 * returns how many. */
size_t mcp_jobs_fds(struct mcp_server *s, int *fds, size_t max);
/* Reads what fd (a job's pipe) has ready; finishes the job at its end. */
void mcp_jobs_read(struct mcp_server *s, int fd);
/* The client's input ended: a job waiting for an answer from the person
 * gets its refusal (no answer can come); the others go on to their end. */
void mcp_jobs_input_closed(struct mcp_server *s);
/* Ends every job's child (server shutdown), sending nothing. */
void mcp_jobs_end_all(struct mcp_server *s);

/* `drplay mcp`: the command. Returns the exit code. */
int mcp_main(int argc, char **argv);

#endif
