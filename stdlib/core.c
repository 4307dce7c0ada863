/*
 * core.c: the actions that need no external system: assert, log, sleep,
 * approve (a human pause that fails closed without a terminal) and exec
 * (a command run from an argv list, never through a shell).
 */
#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "family.h"

/* ---- assert ---- */

static int do_assert(struct act *a)
{
	int truth = 0;
	const char *text = NULL;
	if (act_expr_truth(a, "that", &truth, &text) != 0)
		return ACT_FAIL;
	act_out_bool(a, "passed", truth);
	if (truth)
		return ACT_OK;
	const char *msg = act_str(a, "message");
	if (msg)
		return act_fail(a, "assertion failed: %s (%s)", msg, text);
	return act_fail(a, "assertion failed: %s is false", text);
}

static const struct param_spec assert_params[] = {
	{ .name = "that", .type = T_EXPR, .flags = P_REQUIRED, .doc = "the expression that must be true" },
	{ .name = "message", .type = T_STRING, .flags = P_PRINTED,
	  .doc = "what a failure means, for the person reading it" },
	{ .name = NULL },
};
static const struct output_spec assert_outputs[] = {
	{ .name = "passed", .type = T_BOOL, .doc = "whether the expression held" },
	{ .name = NULL },
};
static const struct action_def assert_def = {
	.name = "assert",
	.run = do_assert,
	.cat = CAT_OTHER,
	.params = assert_params,
	.outputs = assert_outputs,
	.doc = "Fails the step unless the expression `that` is true.",
};

/* ---- log ---- */

static int do_log(struct act *a)
{
	const char *level = act_str(a, "level");
	const char *msg = act_str(a, "message");
	if (level && !strcmp(level, "warning"))
		act_log(a, "warning: %s", msg);
	else
		act_log(a, "%s", msg);
	return ACT_OK;
}

static const char *const log_levels[] = { "info", "warning", NULL };
static const struct param_spec log_params[] = {
	{ .name = "message", .type = T_STRING, .flags = P_REQUIRED | P_PRINTED,
	  .doc = "the line to print and journal" },
	{ .name = "level", .type = T_STRING, .def = "info", .allowed = log_levels, .doc = "info or warning" },
	{ .name = NULL },
};
static const struct output_spec no_outputs[] = {
	{ .name = NULL },
};
static const struct action_def log_def = {
	.name = "log",
	.run = do_log,
	.cat = CAT_OTHER,
	.params = log_params,
	.outputs = no_outputs,
	.doc = "Prints a message to the transcript and the journal (masked like everything else).",
};

/* ---- sleep ---- */

static int do_sleep(struct act *a)
{
	int64_t us = act_duration_us(a, "for", 0);
	int64_t t0 = mono_us();
	if (act_sleep(a, us) != 0)
		return act_fail(a, "sleep interrupted");
	act_out_dur(a, "slept", mono_us() - t0);
	return ACT_OK;
}

static const struct param_spec sleep_params[] = {
	{ .name = "for", .type = T_DURATION, .flags = P_REQUIRED, .doc = "how long to wait (90s, 15m)" },
	{ .name = NULL },
};
static const struct output_spec sleep_outputs[] = {
	{ .name = "slept", .type = T_DURATION, .doc = "how long it waited" },
	{ .name = NULL },
};
static const struct action_def sleep_def = {
	.name = "sleep",
	.run = do_sleep,
	.cat = CAT_OTHER,
	.params = sleep_params,
	.outputs = sleep_outputs,
	.doc = "Waits for a duration; an interruption or the step's timeout ends the wait.",
};

/* ---- approve ---- */

static int do_approve(struct act *a)
{
	const char *msg = act_str(a, "message");
	struct passwd *pw = getpwuid(getuid());
	const char *user = pw ? pw->pw_name : "unknown";
	const char *sudo = getenv("SUDO_USER");
	char who[256];
	snprintf(who, sizeof(who), "%s%s%s", user, sudo ? " via sudo by " : "", sudo ? sudo : "");
	const char *method;
	if (act_preapproved(a)) {
		method = "--approve";
		act_log(a, "approved in advance with --approve=%s by %s", act_step_id(a), who);
	} else if (isatty(STDIN_FILENO) && isatty(STDERR_FILENO)) {
		act_prompt(a, "\n  APPROVAL NEEDED for step '%s'%s%s\n  type 'yes' to continue, anything else to stop: ",
			   act_step_id(a), msg ? ": " : "", msg ? msg : "");
		char line[256];
		size_t n = 0;
		for (;;) {
			if (act_cancelled(a))
				return act_fail(a, "no approval given before the step was cancelled");
			struct pollfd pf = { STDIN_FILENO, POLLIN, 0 };
			int pr = poll(&pf, 1, 100);
			if (pr < 0 && errno != EINTR)
				return act_fail(a, "cannot read the answer: %s", strerror(errno));
			if (pr <= 0)
				continue;
			char c;
			ssize_t r = read(STDIN_FILENO, &c, 1);
			if (r <= 0)
				return act_fail(a, "the terminal closed before an answer; not approved");
			if (c == '\n')
				break;
			if (n < sizeof(line) - 1)
				line[n++] = c;
		}
		line[n] = '\0';
		if (n && line[n - 1] == '\r')
			line[--n] = '\0';
		if (strcmp(line, "yes") != 0)
			return act_fail(a, "not approved (answer '%s'); the run stops here", line);
		method = "terminal";
		char *tty = ttyname(STDIN_FILENO);
		act_log(a, "approved at the terminal %s by %s", tty ? tty : "", who);
	} else {
		return act_fail(a, "step '%s' needs a person's approval, and there is no terminal to ask on; re-run with --approve=%s once someone has approved it%s%s%s",
				act_step_id(a), act_step_id(a), msg ? " (the question: " : "", msg ? msg : "", msg ? ")" : "");
	}
	char at[40];
	fmt_timestamp(now_us(), at, sizeof(at));
	act_out_str(a, "approved_by", who);
	act_out_str(a, "approved_at", at);
	act_out_str(a, "method", method);
	act_out_str(a, "message", msg ? msg : "");
	json_t *f = json_object();
	json_object_set_new(f, "by", json_string(who));
	json_object_set_new(f, "at", json_string(at));
	json_object_set_new(f, "method", json_string(method));
	act_journal(a, "approval", f);
	return ACT_OK;
}

static const struct param_spec approve_params[] = {
	{ .name = "message", .type = T_STRING, .flags = P_PRINTED, .doc = "what the person is asked to approve" },
	{ .name = NULL },
};
static const struct output_spec approve_outputs[] = {
	{ .name = "approved_by", .type = T_STRING, .doc = "the user who approved (and the sudo user, if any)" },
	{ .name = "approved_at", .type = T_TIMESTAMP, .doc = "when" },
	{ .name = "message", .type = T_STRING, .doc = "the question approved ('' without one)" },
	{ .name = "method", .type = T_STRING, .doc = "terminal or --approve" },
	{ .name = NULL },
};
static const struct action_def approve_def = {
	.name = "approve",
	.run = do_approve,
	.cat = CAT_OTHER,
	.params = approve_params,
	.outputs = approve_outputs,
	.doc = "Pauses for a person: asks for 'yes' on the terminal; without a terminal it fails closed unless the run was started with --approve=STEP_ID. Who and when go into the journal.",
};

/* ---- exec ---- */

static int exit_expected(json_t *expect, int code)
{
	if (!expect)
		return code == 0;
	if (json_is_integer(expect))
		return json_integer_value(expect) == code;
	if (json_is_array(expect)) {
		size_t i;
		json_t *v;
		json_array_foreach(expect, i, v) if (json_is_integer(v) && json_integer_value(v) == code) return 1;
	}
	return 0;
}

static int do_exec(struct act *a)
{
	json_t *argv_j = act_json(a, "argv");
	size_t n = json_array_size(argv_j);
	if (n == 0)
		return act_fail(a, "argv is empty; give the program and its arguments as a list");
	char **argv = xcalloc(n + 1, sizeof(*argv));
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_array_get(argv_j, i);
		if (json_is_string(v))
			argv[i] = xstrdup(json_string_value(v));
		else
			argv[i] = json_dumps(v, JSON_ENCODE_ANY);
	}
	json_t *env = act_json(a, "env");
	size_t ne = json_object_size(env);
	char **envv = xcalloc(ne + 1, sizeof(*envv));
	size_t k = 0;
	const char *key;
	json_t *val;
	json_object_foreach(env, key, val)
	{
		const char *s = json_string_value(val);
		char *num = s ? NULL : json_dumps(val, JSON_ENCODE_ANY);
		envv[k++] = xasprintf("%s=%s", key, s ? s : num);
		free(num);
	}
	struct spawn_opts o = { 0 };
	o.env_extra = envv;
	o.cwd = act_str(a, "cwd");
	o.stdin_fd = -1;
	o.stdout_fd = -1;
	o.stderr_fd = -1;
	o.relay = act_bool(a, "relay", 1);
	o.run_as = act_str(a, "run_as");
	struct spawn_result res;
	int rc = act_run(a, argv, &o, &res);
	int ret = ACT_OK;
	if (rc == 0) {
		act_out_int(a, "exit_code", res.exited ? res.status : 128 + res.status);
		act_out_str(a, "stdout", res.out);
		act_out_str(a, "stderr", res.err);
		if (res.cancelled) {
			ret = act_fail(a, "'%s' was ended before it finished", argv[0]);
		} else if (!res.exited) {
			ret = act_fail(a, "'%s' was killed by signal %d", argv[0], res.status);
		} else if (!exit_expected(act_json(a, "expect_exit"), res.status)) {
			const char *tail = res.err && *res.err ? res.err : res.out;
			size_t tl = tail ? strlen(tail) : 0;
			const char *t = tl > 300 ? tail + tl - 300 : tail;
			ret = act_fail(a, "'%s' exited with status %d%s%s", argv[0], res.status,
				       t && *t ? ": " : "", t && *t ? t : "");
		}
		spawn_result_release(&res);
	} else {
		ret = ACT_FAIL;
	}
	for (size_t i = 0; i < n; i++)
		free(argv[i]);
	free(argv);
	for (size_t i = 0; i < k; i++)
		free_secret(envv[i]);
	free(envv);
	return ret;
}

/* exec is destructive when it says so; read-only only when it says that. */
static unsigned exec_flags(const struct argq *q)
{
	int destructive = 1, read_only = 0;
	argq_bool(q, "destructive", &destructive);
	argq_bool(q, "read_only", &read_only);
	if (destructive)
		return A_STATE | A_DESTRUCT;
	return read_only ? 0 : A_STATE;
}

static int exec_check(const struct argq *q)
{
	int destructive = 0, read_only = 0;
	if (argq_bool(q, "destructive", &destructive) && argq_bool(q, "read_only", &read_only) && destructive &&
	    read_only) {
		argq_error(q, "read_only", "exec cannot be both destructive and read_only; drop one of them");
		return 1;
	}
	return 0;
}

static const struct param_spec exec_params[] = {
	{ .name = "argv", .type = T_LIST, .flags = P_REQUIRED | P_PRINTED,
	  .doc = "the program and its arguments, run without a shell (visible in the process list: no secrets here)" },
	{ .name = "cwd", .type = T_STRING, .doc = "working directory" },
	{ .name = "destructive", .type = T_BOOL, .flags = P_REQUIRED,
	  .doc = "whether the command destroys data (then it runs only in disaster mode)" },
	{ .name = "env", .type = T_MAP, .doc = "extra environment variables (the place for secrets)" },
	{ .name = "expect_exit", .type = T_ANY, .def = "0",
	  .doc = "the exit status (or list of statuses) that means success" },
	{ .name = "read_only", .type = T_BOOL, .def = "false",
	  .doc = "the command changes nothing (it then does not count as a state change)" },
	{ .name = "relay", .type = T_BOOL, .def = "true", .doc = "print the command's output lines as they come" },
	{ .name = "run_as", .type = T_STRING, .doc = "run as this user when drplay runs as root" },
	{ .name = NULL },
};
static const struct output_spec exec_outputs[] = {
	{ .name = "exit_code", .type = T_INT, .doc = "the exit status (128+N when killed by signal N)" },
	{ .name = "stdout", .type = T_STRING, .doc = "standard output (masked, at most 1 MiB)" },
	{ .name = "stderr", .type = T_STRING, .doc = "standard error (masked, at most 1 MiB)" },
	{ .name = NULL },
};
static const struct action_def exec_def = {
	.name = "exec",
	.run = do_exec,
	.flags = A_STATE,
	.cat = CAT_OTHER,
	.params = exec_params,
	.outputs = exec_outputs,
	.doc = "Runs a program from an argv list with posix_spawn (never a shell), in its own process group so an interruption or timeout ends it. Output is captured (masked) and relayed.",
	.flags_for = exec_flags,
	.check = exec_check,
};

static const struct action_def *const core_actions[] = {
	&approve_def, &assert_def, &exec_def, &log_def, &sleep_def, NULL,
};

const struct family core_family = {
	.name = "core",
	.actions = core_actions,
};
