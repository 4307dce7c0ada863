/*
 * mcp_tools.c: the tools of `drplay mcp` (SPEC.md, "drplay mcp"): lint,
 * plan, run, status and actions. Each tool is drplay itself, started by argv
 * (/proc/self/exe with the JSON flags, through proc.h's spawning, in its own
 * process group, stdin /dev/null): the server shares no state with a run,
 * and a child that crashes becomes an error result, not a dead server. A
 * tool call is a job: its child's stdout and stderr are read as the event
 * loop (mcp.c) finds them ready, lines are forwarded as progress
 * notifications when the client sent a progressToken, and the result is
 * sent when the child ends. A run first plans (plan --json) to find the
 * approve steps it will reach, asks the person for each through the
 * client's elicitation, and passes --approve=STEP only for an accepted
 * answer that repeats the step's id; without elicitation it fails closed.
 * The input schemas are declared once, below, and drive both tools/list and
 * the checking of a call's arguments.
 */
#include "mcp.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fail.h"
#include "redact.h"
#include "run.h"
#include "text.h"

/* What a child may print before its output is cut (the result says so). */
#define OUT_CAP (8u << 20)
#define ERR_CAP (256u << 10)
/* A progress message is at most this long. */
#define PROGRESS_MAX 2000

enum phase { PH_PLAN, PH_ASK, PH_MAIN };

struct mcp_job {
	struct mcp_job *next;
	const struct tool *tool;
	json_t *id, *token, *args; /* owned references */
	enum phase phase;
	pid_t pid;                 /* 0 while no child runs */
	int fd[2];                 /* the child's stdout and stderr, -1 once closed */
	struct strbuf buf[2];
	size_t seen[2];            /* bytes already forwarded as progress */
	json_int_t progress;
	json_int_t dropped;        /* progress notifications dropped (a slow client) */
	json_int_t dropped_said;   /* how many of them a notification has told */
	json_t *asks;              /* approve steps still to ask: [{id, message}] */
	json_t *approved;          /* step ids the person approved */
	json_t *elicit_id;         /* the outstanding elicitation request, or NULL */
};

struct argv_build {
	char *v[64];
	size_t n;
};

static void av_add(struct argv_build *b, const char *s)
{
	if (b->n + 1 < ARRAY_SIZE(b->v))
		b->v[b->n++] = xstrdup(s);
}

static void av_release(struct argv_build *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->v[i]);
	b->n = 0;
}

struct tool {
	const char *name, *title, *description;
	const char *schema;   /* inputSchema, JSON */
	int read_only;        /* annotations.readOnlyHint */
	int lint_exit_ok;     /* exit 1 (problems found) is a result, not an error */
	void (*build)(struct mcp_server *s, struct mcp_job *j, struct argv_build *b);
};

/* The arguments shared by plan and run: mode and params, then the file. */
static void build_mode_params(struct mcp_job *j, struct argv_build *b)
{
	const char *mode = json_string_value(json_object_get(j->args, "mode"));
	av_add(b, "--mode");
	av_add(b, mode ? mode : "validation");
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(j->args, "params"), k, v)
	{
		char *p = xasprintf("%s=%s", k, json_string_value(v));
		av_add(b, "--param");
		av_add(b, p);
		free(p);
	}
}

static int is_disaster(const struct mcp_job *j)
{
	const char *mode = json_string_value(json_object_get(j->args, "mode"));
	return mode && !strcmp(mode, "disaster");
}

static void build_lint(struct mcp_server *s, struct mcp_job *j, struct argv_build *b)
{
	(void)s;
	av_add(b, "lint");
	av_add(b, "--format=json");
	av_add(b, "--");
	av_add(b, json_string_value(json_object_get(j->args, "file")));
}

static void build_actions(struct mcp_server *s, struct mcp_job *j, struct argv_build *b)
{
	(void)s;
	const char *name = json_string_value(json_object_get(j->args, "name"));
	av_add(b, "actions");
	av_add(b, "--format=json");
	if (name) {
		av_add(b, "--");
		av_add(b, name);
	}
}

/* plan, and the first phase of run: `plan --json` of the same call. */
static void build_plan(struct mcp_server *s, struct mcp_job *j, struct argv_build *b)
{
	av_add(b, "plan");
	av_add(b, "--json");
	build_mode_params(j, b);
	if (s->allow_disaster && is_disaster(j)) {
		av_add(b, "--authorize-file");
		av_add(b, s->authorize_file);
	}
	av_add(b, "--");
	av_add(b, json_string_value(json_object_get(j->args, "file")));
}

static void build_run(struct mcp_server *s, struct mcp_job *j, struct argv_build *b)
{
	if (j->phase == PH_PLAN) {
		build_plan(s, j, b);
		return;
	}
	av_add(b, "run");
	av_add(b, "--json");
	build_mode_params(j, b);
	if (s->journal_dir) {
		av_add(b, "--journal-dir");
		av_add(b, s->journal_dir);
	}
	if (is_disaster(j)) { /* refused earlier unless allowed */
		av_add(b, "--authorize-file");
		av_add(b, s->authorize_file);
	}
	size_t i;
	json_t *v;
	json_array_foreach(j->approved, i, v)
	{
		char *a = xasprintf("--approve=%s", json_string_value(v));
		av_add(b, a);
		free(a);
	}
	av_add(b, "--");
	av_add(b, json_string_value(json_object_get(j->args, "file")));
}

static void build_status(struct mcp_server *s, struct mcp_job *j, struct argv_build *b)
{
	av_add(b, "status");
	av_add(b, "--json");
	if (s->journal_dir) {
		av_add(b, "--journal-dir");
		av_add(b, s->journal_dir);
	}
	if (json_is_true(json_object_get(j->args, "follow")))
		av_add(b, "--follow");
	const char *pb = json_string_value(json_object_get(j->args, "playbook"));
	if (pb) {
		av_add(b, "--playbook");
		av_add(b, pb);
	}
	const char *run = json_string_value(json_object_get(j->args, "run_id"));
	if (run) {
		av_add(b, "--");
		av_add(b, run);
	}
}

#define FILE_PROP "\"file\": {\"type\": \"string\", \"description\": \"path of the playbook (YAML), as the server sees it\"}"
#define MODE_PROPS                                                                                                \
	"\"mode\": {\"type\": \"string\", \"enum\": [\"validation\", \"disaster\"], \"description\": \"validation "  \
	"(the default) or disaster (only when the person who started the server allowed it)\"}, "                    \
	"\"params\": {\"type\": \"object\", \"additionalProperties\": {\"type\": \"string\"}, \"description\": "     \
	"\"the playbook's params, NAME: VALUE (as --param NAME=VALUE)\"}"

static const struct tool tools[] = {
	{
		.name = "actions",
		.title = "drplay actions",
		.description = "Lists the registered actions and resource kinds with their parameters, outputs and "
			       "effect (read-only, state-changing, destructive); with name, one of them.",
		.schema = "{\"type\": \"object\", \"properties\": {\"name\": {\"type\": \"string\", \"description\": "
			  "\"an action or resource kind, such as pg.query\"}}, \"additionalProperties\": false}",
		.read_only = 1,
		.build = build_actions,
	},
	{
		.name = "lint",
		.title = "drplay lint",
		.description = "Checks a playbook against the format and the safety rules for every mode; returns the "
			       "diagnostics (file, line, column, rule, message). Problems found are a result, not an "
			       "error.",
		.schema = "{\"type\": \"object\", \"properties\": {" FILE_PROP "}, \"required\": [\"file\"], "
			  "\"additionalProperties\": false}",
		.read_only = 1,
		.lint_exit_ok = 1,
		.build = build_lint,
	},
	{
		.name = "plan",
		.title = "drplay plan",
		.description = "The resolved plan of a playbook for a mode: which steps would run or be skipped and "
			       "why, values resolved, secrets masked. Runs nothing.",
		.schema = "{\"type\": \"object\", \"properties\": {" FILE_PROP ", " MODE_PROPS "}, \"required\": "
			  "[\"file\"], \"additionalProperties\": false}",
		.read_only = 1,
		.build = build_plan,
	},
	{
		.name = "run",
		.title = "drplay run",
		.description = "Runs a playbook to its end and returns the run's result. Validation mode unless the "
			       "server was started with disaster allowed. An approve step is asked of the person "
			       "through the client (elicitation); without that the run is refused. With a "
			       "progressToken, the transcript arrives as progress notifications.",
		.schema = "{\"type\": \"object\", \"properties\": {" FILE_PROP ", " MODE_PROPS "}, \"required\": "
			  "[\"file\"], \"additionalProperties\": false}",
		.build = build_run,
	},
	{
		.name = "status",
		.title = "drplay status",
		.description = "How a run stands, from its journal (the newest drill, or run_id, or the newest run of "
			       "playbook). With follow, waits for the run's end; every journaled event arrives as a "
			       "progress notification when the call has a progressToken.",
		.schema = "{\"type\": \"object\", \"properties\": {\"run_id\": {\"type\": \"string\"}, \"playbook\": "
			  "{\"type\": \"string\", \"description\": \"a playbook's name\"}, \"follow\": {\"type\": "
			  "\"boolean\", \"description\": \"follow the run until it ends\"}}, "
			  "\"additionalProperties\": false}",
		.read_only = 1,
		.build = build_status,
	},
};

static json_t *tool_schema(const struct tool *t)
{
	json_error_t je;
	json_t *v = json_loads(t->schema, 0, &je);
	if (!v) { /* a declaration error, caught by the tests */
		warn_print("mcp: tool '%s' has a broken input schema: %s", t->name, je.text);
		v = json_pack("{s:s}", "type", "object");
	}
	return v;
}

json_t *mcp_tools_list(void)
{
	json_t *list = json_array();
	for (size_t i = 0; i < ARRAY_SIZE(tools); i++) {
		const struct tool *t = &tools[i];
		json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:o, s:{s:b, s:b, s:b}}", "name", t->name,
						      "title", t->title, "description", t->description, "inputSchema",
						      tool_schema(t), "annotations", "readOnlyHint", t->read_only,
						      "destructiveHint", 0, "openWorldHint", 0));
	}
	return json_pack("{s:o}", "tools", list);
}

/* ---- checking a call's arguments against the declared schema ---- */

/* 1 when v is a usable string: not empty and without a NUL byte. */
static int plain_string(const json_t *v)
{
	return json_is_string(v) && json_string_length(v) > 0 &&
	       strlen(json_string_value(v)) == json_string_length(v);
}

/* Checks one argument against its property; NULL or why it is wrong. */
static char *check_arg(const char *k, json_t *v, json_t *prop)
{
	const char *type = json_string_value(json_object_get(prop, "type"));
	json_t *en = json_object_get(prop, "enum");
	if (!strcmp(type, "boolean"))
		return json_is_boolean(v) ? NULL : xasprintf("argument '%s' must be a boolean", k);
	if (!strcmp(type, "object")) {
		if (!json_is_object(v))
			return xasprintf("argument '%s' must be an object of strings", k);
		const char *pk;
		json_t *pv;
		json_object_foreach(v, pk, pv)
		{
			if (!*pk || strchr(pk, '='))
				return xasprintf("argument '%s' has a bad name '%s'; names are not empty and hold no '='",
						 k, pk);
			if (!json_is_string(pv) || strlen(json_string_value(pv)) != json_string_length(pv))
				return xasprintf("argument '%s.%s' must be a string", k, pk);
		}
		return NULL;
	}
	if (!plain_string(v))
		return xasprintf("argument '%s' must be a non-empty string", k);
	if (en) {
		size_t i;
		json_t *e;
		json_array_foreach(en, i, e)
			if (json_equal(e, v))
				return NULL;
		return xasprintf("argument '%s' is '%s'; use validation or disaster", k, json_string_value(v));
	}
	if (!strcmp(k, "file") && !strcmp(json_string_value(v), "-"))
		return xstrdup("argument 'file' is '-' (standard input), which a tool call cannot give; name a file");
	return NULL;
}

/* NULL when args fit t's schema, else why not (caller frees). */
static char *check_args(const struct tool *t, json_t *args)
{
	json_t *schema = tool_schema(t);
	json_t *props = json_object_get(schema, "properties");
	char *why = NULL;
	const char *k;
	json_t *v;
	json_object_foreach(args, k, v)
	{
		json_t *prop = json_object_get(props, k);
		why = prop ? check_arg(k, v, prop) : xasprintf("unknown argument '%s' for tool '%s'", k, t->name);
		if (why)
			break;
	}
	size_t i;
	json_array_foreach(json_object_get(schema, "required"), i, v)
		if (!why && !json_object_get(args, json_string_value(v)))
			why = xasprintf("tool '%s' needs the argument '%s'", t->name, json_string_value(v));
	json_decref(schema);
	return why;
}

/* 1 when the call carries an authorization: a key named for one, or the
 * token itself anywhere in its text. */
static int carries_token(struct mcp_server *s, json_t *params)
{
	static const char *const keys[] = { "authorize", "authorize_file", "authorization", "token", NULL };
	json_t *args = json_object_get(params, "arguments");
	for (size_t i = 0; keys[i]; i++)
		if (json_object_get(args, keys[i]))
			return 1;
	if (!s->token)
		return 0;
	char *text = json_dumps(params, JSON_COMPACT | JSON_ENCODE_ANY);
	int found = text && strstr(text, s->token) != NULL;
	if (text) {
		explicit_bzero(text, strlen(text));
		free(text);
	}
	return found;
}

/* ---- results ---- */

/* A tool result: the text (also as structured content, an object). */
static json_t *tool_result(json_t *structured, int is_error)
{
	char *text = json_dumps(structured, JSON_COMPACT);
	json_t *r = json_pack("{s:[{s:s, s:o}], s:o, s:b}", "content", "type", "text", "text", json_text(text ? text : ""),
			      "structuredContent", structured, "isError", is_error);
	free(text);
	return r;
}

/* A refusal or error found by the server itself, as a tool result. */
static json_t *tool_refusal(const char *tool, const char *fmt, ...) PRINTF_LIKE(2, 3);
static json_t *tool_refusal(const char *tool, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *m = xvasprintf(fmt, ap);
	va_end(ap);
	json_t *st = json_pack("{s:s, s:i, s:o}", "tool", tool, "exit_code", EXIT_REFUSED, "error", json_text(m));
	free(m);
	return tool_result(st, 1);
}

/* The child's stdout as JSON: one document, or one per line (a follow),
 * else the text. New reference. */
static json_t *parse_output(const struct strbuf *b)
{
	json_t *v = json_loadb(b->buf ? b->buf : "", b->len, 0, NULL);
	if (v)
		return v;
	json_t *lines = json_array();
	const char *p = sb_str(b);
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		if (n) {
			json_t *e = json_loadb(p, n, 0, NULL);
			if (!e) {
				json_decref(lines);
				return json_textn(sb_str(b), b->len);
			}
			json_array_append_new(lines, e);
		}
		p += n + (nl != NULL);
	}
	if (json_array_size(lines))
		return lines;
	json_decref(lines);
	return json_textn(sb_str(b), b->len);
}

/* ---- jobs ---- */

static void job_free(struct mcp_server *s, struct mcp_job *j)
{
	for (struct mcp_job **p = &s->jobs; *p; p = &(*p)->next)
		if (*p == j) {
			*p = j->next;
			break;
		}
	for (int k = 0; k < 2; k++) {
		if (j->fd[k] >= 0)
			close(j->fd[k]);
		sb_release(&j->buf[k]);
	}
	json_decref(j->id);
	json_decref(j->token);
	json_decref(j->args);
	json_decref(j->asks);
	json_decref(j->approved);
	json_decref(j->elicit_id);
	free(j);
}

/* Sends the job's result and frees it. */
static void job_done(struct mcp_server *s, struct mcp_job *j, json_t *result)
{
	mcp_reply(s, j->id, result);
	job_free(s, j);
}

/* Starts the job's child for its phase. 0, or -1 with the result sent. */
static int job_start(struct mcp_server *s, struct mcp_job *j)
{
	struct argv_build b = { .n = 0 };
	av_add(&b, "/proc/self/exe");
	j->tool->build(s, j, &b);
	b.v[b.n] = NULL;
	int p[2][2] = { { -1, -1 }, { -1, -1 } };
	struct fail f = FAIL_INIT;
	pid_t pid = -1;
	if (pipe2(p[0], O_CLOEXEC) != 0 || pipe2(p[1], O_CLOEXEC) != 0) {
		fail_set(&f, EXIT_INVALID, "cannot make a pipe: %s", strerror(errno));
	} else {
		struct spawn_opts o = { .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1 };
		pid = proc_spawn(&s->kids, NULL, b.v, &o, p[0][1], p[1][1], &f);
	}
	av_release(&b);
	for (int k = 0; k < 2; k++) {
		if (p[k][1] >= 0)
			close(p[k][1]);
		j->fd[k] = pid > 0 ? p[k][0] : -1;
		if (pid <= 0 && p[k][0] >= 0)
			close(p[k][0]);
		sb_reset(&j->buf[k]);
		j->seen[k] = 0;
	}
	if (pid <= 0) {
		json_t *r = tool_refusal(j->tool->name, "cannot start drplay %s: %s", j->tool->name, fail_text(&f));
		fail_release(&f);
		job_done(s, j, r);
		return -1;
	}
	j->pid = pid;
	return 0;
}

void mcp_tools_call(struct mcp_server *s, json_t *id, json_t *params)
{
	const char *name = json_string_value(json_object_get(params, "name"));
	const struct tool *t = NULL;
	for (size_t i = 0; name && i < ARRAY_SIZE(tools); i++)
		if (!strcmp(tools[i].name, name))
			t = &tools[i];
	json_t *args = json_object_get(params, "arguments");
	if (!t) {
		mcp_error(s, id, RPC_INVALID_PARAMS, name ? "unknown tool '%s'; tools/list names them"
						       : "tools/call needs a tool name%s", name ? name : "");
		return;
	}
	if (carries_token(s, params)) {
		mcp_reply(s, id, tool_refusal(t->name, "this call carries an authorization; the token never travels in "
					      "a tool call. A person allows disaster runs by starting the server with "
					      "--allow-disaster --authorize-file FILE; nothing ran"));
		return;
	}
	if (args && !json_is_object(args)) {
		mcp_error(s, id, RPC_INVALID_PARAMS, "tools/call arguments must be an object");
		return;
	}
	args = args ? json_incref(args) : json_object();
	char *why = check_args(t, args);
	if (why) {
		mcp_error(s, id, RPC_INVALID_PARAMS, "%s", why);
		free(why);
		json_decref(args);
		return;
	}
	struct mcp_job *j = xcalloc(1, sizeof(*j));
	*j = (struct mcp_job){ .tool = t, .id = json_incref(id), .args = args, .fd = { -1, -1 },
			       .approved = json_array() };
	j->token = json_incref(json_object_get(json_object_get(params, "_meta"), "progressToken"));
	sb_init(&j->buf[0], OUT_CAP);
	sb_init(&j->buf[1], ERR_CAP);
	j->next = s->jobs;
	s->jobs = j;
	if (t->build == build_run && is_disaster(j) && !s->allow_disaster) {
		job_done(s, j, tool_refusal(t->name, "disaster mode is not allowed through this server: a person "
					    "starts `drplay mcp --allow-disaster --authorize-file FILE` to allow it; "
					    "run with mode validation; nothing ran"));
		return;
	}
	j->phase = t->build == build_run ? PH_PLAN : PH_MAIN;
	job_start(s, j);
}

static struct mcp_job *job_by_fd(struct mcp_server *s, int fd)
{
	for (struct mcp_job *j = s->jobs; j; j = j->next)
		if (j->fd[0] == fd || j->fd[1] == fd)
			return j;
	return NULL;
}

size_t mcp_jobs_fds(struct mcp_server *s, int *fds, size_t max)
{
	size_t n = 0;
	for (struct mcp_job *j = s->jobs; j; j = j->next)
		for (int k = 0; k < 2; k++)
			if (j->fd[k] >= 0 && n < max)
				fds[n++] = j->fd[k];
	return n;
}

/* Queues one progress notification of j (message: n bytes at p, cut to
 * PROGRESS_MAX); 1 when queued, 0 when dropped. The number counts up either
 * way, so a gap shows where notifications were dropped. */
static int job_notify(struct mcp_server *s, struct mcp_job *j, const char *p, size_t n)
{
	json_t *params = json_pack("{s:O, s:I, s:o}", "progressToken", j->token, "progress", ++j->progress,
				   "message", json_textn(p, n < PROGRESS_MAX ? n : PROGRESS_MAX));
	return mcp_send_progress(s, json_pack("{s:s, s:s, s:o}", "jsonrpc", "2.0", "method",
					      "notifications/progress", "params", params));
}

/* Forwards the new complete lines of stream k as progress notifications;
 * while the client reads too slowly they are dropped and counted, and the
 * next one that goes out is preceded by a note of how many. */
static void job_progress(struct mcp_server *s, struct mcp_job *j, int k, int all)
{
	struct strbuf *b = &j->buf[k];
	while (j->seen[k] < b->len) {
		const char *p = b->buf + j->seen[k];
		const char *nl = memchr(p, '\n', b->len - j->seen[k]);
		if (!nl && !all)
			break;
		size_t n = nl ? (size_t)(nl - p) : b->len - j->seen[k];
		j->seen[k] += n + (nl != NULL);
		if (!n)
			continue;
		if (j->dropped > j->dropped_said && !mcp_out_busy(s)) {
			char *note = xasprintf("drplay mcp: %lld progress notifications were dropped because the client "
					       "read too slowly; the result holds the whole output",
					       (long long)(j->dropped - j->dropped_said));
			if (job_notify(s, j, note, strlen(note)))
				j->dropped_said = j->dropped;
			free(note);
		}
		if (!job_notify(s, j, p, n))
			j->dropped++;
	}
}

static void job_finished(struct mcp_server *s, struct mcp_job *j, int status);

void mcp_jobs_read(struct mcp_server *s, int fd)
{
	struct mcp_job *j = job_by_fd(s, fd);
	if (!j)
		return;
	int k = j->fd[0] == fd ? 0 : 1;
	char chunk[65536];
	ssize_t r = read(fd, chunk, sizeof(chunk));
	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (r > 0) {
		sb_add(&j->buf[k], chunk, (size_t)r);
		/* a run's transcript and a follow's events are worth showing live */
		if (j->token && j->phase == PH_MAIN && (j->tool->build == build_run || j->tool->build == build_status))
			job_progress(s, j, k, 0);
		return;
	}
	close(fd);
	j->fd[k] = -1;
	if (j->fd[0] >= 0 || j->fd[1] >= 0)
		return;
	int status = 0;
	while (waitpid(j->pid, &status, 0) < 0 && errno == EINTR)
		;
	children_forget(&s->kids, j->pid);
	j->pid = 0;
	job_finished(s, j, status);
}

/* ---- the approve steps of a run, asked of the person ---- */

/* The approve steps the plan (plan --json's drplay.plan/1 document) may
 * reach: decision run or run_if (a `when:` decided during the run). */
static json_t *plan_approvals(json_t *plan)
{
	json_t *asks = json_array();
	size_t i;
	json_t *st;
	json_array_foreach(json_object_get(plan, "steps"), i, st)
	{
		const char *action = json_string_value(json_object_get(st, "action"));
		const char *sid = json_string_value(json_object_get(st, "id"));
		const char *decision = json_string_value(json_object_get(st, "decision"));
		if (!action || strcmp(action, "approve") != 0 || !sid || !decision || !strcmp(decision, "skip"))
			continue;
		json_t *msg = json_object_get(json_object_get(st, "args"), "message");
		json_t *text = json_object_get(msg, "value");
		if (!json_is_string(text))
			text = json_object_get(msg, "template");
		json_array_append_new(asks, json_pack("{s:s, s:s}", "id", sid, "message",
						      json_is_string(text) ? json_string_value(text) : ""));
	}
	return asks;
}

/* Asks the first approve step left, or starts the run when none is. */
static void job_ask_next(struct mcp_server *s, struct mcp_job *j)
{
	if (!json_array_size(j->asks)) {
		j->phase = PH_MAIN;
		job_start(s, j);
		return;
	}
	json_t *ask = json_array_get(j->asks, 0);
	const char *sid = json_string_value(json_object_get(ask, "id"));
	const char *msg = json_string_value(json_object_get(ask, "message"));
	char *text = xasprintf("drplay run %s (mode %s) reaches the approve step '%s'%s%s. To approve it, type the "
			       "step's id, %s; anything else stops the run before it starts.",
			       json_string_value(json_object_get(j->args, "file")),
			       is_disaster(j) ? "disaster" : "validation", sid, *msg ? ": " : "", msg, sid);
	char *desc = xasprintf("type %s to approve", sid);
	j->phase = PH_ASK;
	json_decref(j->elicit_id);
	j->elicit_id = json_sprintf("drplay-%lu", ++s->next_request);
	json_t *schema = json_pack("{s:s, s:{s:{s:s, s:s, s:s}}, s:[s]}", "type", "object", "properties", "approve",
				   "type", "string", "title", "Step id to approve", "description", desc, "required",
				   "approve");
	mcp_send(s, json_pack("{s:s, s:O, s:s, s:{s:o, s:o}}", "jsonrpc", "2.0", "id", j->elicit_id, "method",
			      "elicitation/create", "params", "message", json_text(text), "requestedSchema", schema));
	free(text);
	free(desc);
}

/* The plan phase of a run ended: ask for its approve steps, or stop. */
static void job_planned(struct mcp_server *s, struct mcp_job *j, int code)
{
	json_t *plan = json_loadb(sb_str(&j->buf[0]), j->buf[0].len, 0, NULL);
	if (code != EXIT_OK || !json_is_object(plan)) {
		json_t *st = json_pack("{s:s, s:s, s:i, s:o, s:o}", "tool", "run", "phase", "plan", "exit_code",
				       code ? code : EXIT_INVALID, "output", parse_output(&j->buf[0]), "stderr",
				       json_textn(sb_str(&j->buf[1]), j->buf[1].len));
		json_decref(plan);
		job_done(s, j, tool_result(st, 1));
		return;
	}
	j->asks = plan_approvals(plan);
	json_decref(plan);
	if (json_array_size(j->asks) && !s->elicit) {
		const char *sid = json_string_value(json_object_get(json_array_get(j->asks, 0), "id"));
		job_done(s, j, tool_refusal("run", "step '%s' needs a person's approval, and this client declared no "
					    "elicitation to ask one; nothing ran. Use a client that supports "
					    "elicitation, or run drplay on a terminal", sid));
		return;
	}
	job_ask_next(s, j);
}

void mcp_client_response(struct mcp_server *s, json_t *msg)
{
	json_t *id = json_object_get(msg, "id");
	struct mcp_job *j = s->jobs;
	while (j && !(j->phase == PH_ASK && json_equal(j->elicit_id, id)))
		j = j->next;
	if (!j)
		return; /* an answer to nothing asked (or a cancelled call): ignored */
	json_t *ask = json_array_get(j->asks, 0);
	const char *sid = json_string_value(json_object_get(ask, "id"));
	json_t *res = json_object_get(msg, "result");
	const char *action = json_string_value(json_object_get(res, "action"));
	const char *answer = json_string_value(json_object_get(json_object_get(res, "content"), "approve"));
	if (!action || strcmp(action, "accept") != 0 || !answer || strcmp(answer, sid) != 0) {
		const char *what = json_object_get(msg, "error") ? "the client could not ask"
				   : !action || strcmp(action, "accept") ? (action ? action : "no answer")
				   : "answered something else than the step's id";
		job_done(s, j, tool_refusal("run", "step '%s' was not approved (%s); nothing ran", sid, what));
		return;
	}
	json_array_append(j->approved, json_object_get(ask, "id"));
	json_array_remove(j->asks, 0);
	job_ask_next(s, j);
}

/* The exit code a shell would show for a waitpid status. */
static int exit_code(int status)
{
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

static void job_finished(struct mcp_server *s, struct mcp_job *j, int status)
{
	int code = exit_code(status);
	if (j->phase == PH_PLAN) {
		job_planned(s, j, code);
		return;
	}
	if (j->token) { /* a last line without its newline */
		job_progress(s, j, 0, 1);
		job_progress(s, j, 1, 1);
	}
	json_t *st = json_pack("{s:s, s:i, s:o}", "tool", j->tool->name, "exit_code", code, "output",
			       parse_output(&j->buf[0]));
	if (j->buf[1].len)
		json_object_set_new(st, "stderr", json_textn(j->buf[1].buf, j->buf[1].len));
	if (WIFSIGNALED(status))
		json_object_set_new(st, "error", json_sprintf("drplay %s ended by signal %d; the server goes on",
							      j->tool->name, WTERMSIG(status)));
	if (j->buf[0].truncated || j->buf[1].truncated)
		json_object_set_new(st, "truncated", json_true());
	if (json_array_size(j->approved))
		json_object_set(st, "approved", j->approved);
	if (j->dropped)
		json_object_set_new(st, "progress_dropped", json_integer(j->dropped));
	int is_error = code != EXIT_OK && !(j->tool->lint_exit_ok && code == EXIT_LINT_ERRORS);
	const char *file = json_string_value(json_object_get(j->args, "file"));
	redact_fprintf(stderr, "drplay mcp: %s %s: exit %d%s\n", j->tool->name, file ? file : "", code,
		       WIFSIGNALED(status) ? " (killed by a signal)" : "");
	job_done(s, j, tool_result(st, is_error));
}

void mcp_cancel(struct mcp_server *s, json_t *id)
{
	struct mcp_job *j = s->jobs;
	while (j && !json_equal(j->id, id))
		j = j->next;
	if (!j)
		return;
	if (j->pid > 0) {
		int status;
		proc_end_group(j->pid, &status);
		children_forget(&s->kids, j->pid);
	}
	job_free(s, j); /* a cancelled request gets no response */
}

void mcp_jobs_input_closed(struct mcp_server *s)
{
	struct mcp_job *j = s->jobs;
	while (j) {
		struct mcp_job *next = j->next;
		if (j->phase == PH_ASK)
			job_done(s, j, tool_refusal("run", "the client closed its input before the person answered; "
						    "nothing ran"));
		j = next;
	}
}

void mcp_jobs_end_all(struct mcp_server *s)
{
	children_end_all(&s->kids);
	while (s->jobs)
		job_free(s, s->jobs);
}
