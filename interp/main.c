/*
 * main.c: the command line. A table of subcommands (like git's commands[]),
 * each with its usage and help text; option parsing with getopt_long so that
 * both --opt=value and --opt value work. Exit codes are documented in
 * SPEC.md and run.h.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "describe.h"
#include "diag.h"
#include "journal.h"
#include "plan.h"
#include "redact.h"
#include "run.h"
#include "util.h"
#include "version.h"

struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *usage;
	const char *help;
};

static const struct cmd *find_cmd(const char *name);

static int usage_error(const char *cmd, const char *fmt, ...) PRINTF_LIKE(2, 3);
static int usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "drplay %s: ", cmd);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	const struct cmd *c = find_cmd(cmd);
	if (c)
		fprintf(stderr, "\nusage: %s\n(see `drplay help %s`)\n", c->usage, cmd);
	else
		fputc('\n', stderr);
	return 2;
}

/* ---- run / plan ---- */

static int run_like(int argc, char **argv, int dry)
{
	const char *cmd = dry ? "plan" : "run";
	struct run_opts o = { 0 };
	o.dry_run = dry;
	o.params = xcalloc((size_t)argc + 1, sizeof(char *));
	o.approve = xcalloc((size_t)argc + 1, sizeof(char *));
	static const struct option opts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "param", required_argument, NULL, 'p' },
		{ "authorize", required_argument, NULL, 'a' },
		{ "approve", required_argument, NULL, 'A' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "journal-dir", required_argument, NULL, 'j' },
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, rc = -1;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "m:p:n", opts, NULL)) != -1) {
		switch (c) {
		case 'm': o.mode = optarg; break;
		case 'p': o.params[o.nparams++] = optarg; break;
		case 'a': o.authorize = optarg; break;
		case 'A': o.approve[o.napprove++] = optarg; break;
		case 'n': o.dry_run = 1; break;
		case 'j': o.journal_dir = optarg; break;
		case 'J': o.json = 1; break;
		case 'h':
			printf("usage: %s\n\n%s", find_cmd(cmd)->usage, find_cmd(cmd)->help);
			rc = 0;
			break;
		default:
			rc = usage_error(cmd, "unknown or incomplete option '%s'", argv[optind - 1]);
			break;
		}
		if (rc >= 0)
			break;
	}
	if (rc < 0) {
		if (optind != argc - 1)
			rc = usage_error(cmd, optind >= argc ? "which playbook? give one FILE"
							     : "give exactly one playbook FILE (options go before or after it)");
		else {
			o.file = argv[optind];
			rc = drplay_run(&o);
		}
	}
	free(o.params);
	free(o.approve);
	return rc;
}

/* getopt with GNU permutation stops at nothing: allow FILE anywhere. */
static int cmd_run(int argc, char **argv)
{
	return run_like(argc, argv, 0);
}

static int cmd_plan(int argc, char **argv)
{
	return run_like(argc, argv, 1);
}

/* ---- lint ---- */

static int cmd_lint(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	enum diag_format fmt = DF_TEXT;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "f:", opts, NULL)) != -1) {
		if (c == 'f') {
			if (!strcmp(optarg, "text"))
				fmt = DF_TEXT;
			else if (!strcmp(optarg, "json"))
				fmt = DF_JSON;
			else if (!strcmp(optarg, "sarif"))
				fmt = DF_SARIF;
			else
				return usage_error("lint", "unknown format '%s'; use text, json or sarif", optarg);
		} else if (c == 'h') {
			printf("usage: %s\n\n%s", find_cmd("lint")->usage, find_cmd("lint")->help);
			return 0;
		} else {
			return usage_error("lint", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return usage_error("lint", "which playbook? give one or more FILEs");
	struct diags d;
	diags_init(&d);
	struct playbook **pbs = xcalloc((size_t)(argc - optind) + 1, sizeof(*pbs));
	struct doc **docs = xcalloc((size_t)(argc - optind) + 1, sizeof(*docs));
	int unreadable = 0;
	for (int i = optind; i < argc; i++) {
		int before = d.nerr;
		size_t nd = d.n;
		struct doc *doc = doc_load(argv[i], &d);
		for (size_t k = nd; k < d.n; k++)
			if (!strcmp(d.v[k].rule, "io"))
				unreadable = 1;
		if (d.nerr > before) {
			docs[i - optind] = doc;
			continue;
		}
		struct playbook *pb = playbook_check(doc, &d);
		if (!pb) {
			docs[i - optind] = doc;
			continue;
		}
		pbs[i - optind] = pb;
		lint_playbook(pb, MODE_ALL, NULL, &d);
	}
	diags_sort(&d);
	diags_print(&d, fmt, stdout);
	if (fmt == DF_TEXT) {
		if (d.nerr || d.nwarn)
			printf("%d error%s, %d warning%s\n", d.nerr, d.nerr == 1 ? "" : "s", d.nwarn,
			       d.nwarn == 1 ? "" : "s");
	}
	int rc = unreadable ? 2 : d.nerr ? 1 : 0;
	for (int i = 0; i < argc - optind; i++) {
		playbook_free(pbs[i]);
		doc_free(docs[i]);
	}
	free(pbs);
	free(docs);
	diags_release(&d);
	return rc;
}

/* ---- actions, schema, status ---- */

static int cmd_actions(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	enum describe_format fmt = DESC_TEXT;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "f:", opts, NULL)) != -1) {
		if (c == 'f' && !strcmp(optarg, "text"))
			fmt = DESC_TEXT;
		else if (c == 'f' && !strcmp(optarg, "markdown"))
			fmt = DESC_MARKDOWN;
		else if (c == 'f' && !strcmp(optarg, "json"))
			fmt = DESC_JSON;
		else
			return usage_error("actions", "unknown option or format '%s'", argv[optind - 1]);
	}
	const char *name = optind < argc ? argv[optind] : NULL;
	if (name && !describe_known(name)) {
		fprintf(stderr, "drplay actions: no action or resource kind '%s'; `drplay actions` lists them\n", name);
		return 2;
	}
	describe_actions(name, fmt, stdout);
	return 0;
}

static int cmd_schema(int argc, char **argv)
{
	(void)argv;
	if (argc > 1)
		return usage_error("schema", "takes no arguments");
	describe_schema(stdout);
	return 0;
}

static int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "journal-dir", required_argument, NULL, 'j' },
		{ "json", no_argument, NULL, 'J' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = NULL;
	int json = 0, c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'j')
			dir = optarg;
		else if (c == 'J')
			json = 1;
		else
			return usage_error("status", "unknown option '%s'", argv[optind - 1]);
	}
	if (optind < argc)
		return usage_error("status", "unexpected argument '%s'", argv[optind]);
	char *d = journal_default_dir(dir);
	int rc = journal_status(d, json);
	free(d);
	return rc;
}

static int cmd_help(int argc, char **argv);

static int cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("drplay %s\n", DRPLAY_VERSION);
	return 0;
}

static const struct cmd commands[] = {
	{ "actions", cmd_actions, "drplay actions [NAME] [--format=text|markdown|json]",
	  "Lists the registered actions and resource kinds with their effect (read-only,\n"
	  "state-changing, destructive) and category; with NAME, its parameters and outputs.\n" },
	{ "help", cmd_help, "drplay help [COMMAND]", "Shows help for drplay or one command.\n" },
	{ "lint", cmd_lint, "drplay lint FILE... [--format=text|json|sarif]",
	  "Checks playbooks against the format and the safety rules, for every declared mode.\n"
	  "Text lines are FILE:LINE:COL: error|warning: [rule-id] message, with the source\n"
	  "line and a caret. SARIF 2.1.0 is for code-review annotations.\n"
	  "Exit: 0 no errors (warnings allowed), 1 errors found, 2 usage or unreadable file.\n" },
	{ "plan", cmd_plan, "drplay plan FILE [run options]",
	  "Prints the resolved plan for a mode, as `drplay run --dry-run`: which steps would run\n"
	  "or be skipped and why, with every value resolved and secrets masked. Runs nothing.\n" },
	{ "run", cmd_run,
	  "drplay run FILE [--mode=validation|disaster] [--param NAME=VALUE]... [--authorize=TOKEN]\n"
	  "                [--approve=STEP_ID]... [--dry-run] [--journal-dir DIR] [--json]",
	  "Loads, checks and plans the playbook for the mode (its default mode, validation, when\n"
	  "not given), refuses it if any guard fails, then runs its steps, journaling each.\n"
	  "Disaster mode needs --authorize with the token the playbook names.\n"
	  "Exit: 0 success; 1 a step failed after state had changed (gates held; read the\n"
	  "report); 2 invalid usage or playbook; 3 refused by a guard, nothing ran; 4 stopped\n"
	  "before any state-changing step ran (no outage); 130 interrupted.\n" },
	{ "schema", cmd_schema, "drplay schema",
	  "Prints the playbook JSON Schema (2020-12), generated from the registry; the copy in\n"
	  "grammar/playbook.schema.json is what editors (yaml-language-server) use.\n" },
	{ "status", cmd_status, "drplay status [--journal-dir DIR] [--json]",
	  "Shows the last run from its journal: steps with outcomes and timings, failed gates,\n"
	  "and the state it left (maintenance, preserved snapshots).\n" },
	{ "version", cmd_version, "drplay --version", "Prints the version.\n" },
};

static const struct cmd *find_cmd(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

static void main_help(FILE *f)
{
	fprintf(f, "drplay %s: a database disaster-recovery playbook interpreter\n\n"
		   "usage: drplay COMMAND [ARGS]\n\ncommands:\n", DRPLAY_VERSION);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].usage + strlen("drplay "));
	fprintf(f, "\n`drplay help COMMAND` shows a command's help. SPEC.md documents the playbook language.\n");
}

static int cmd_help(int argc, char **argv)
{
	if (argc < 2) {
		main_help(stdout);
		return 0;
	}
	const struct cmd *c = find_cmd(argv[1]);
	if (!c) {
		fprintf(stderr, "drplay help: no command '%s'\n", argv[1]);
		main_help(stderr);
		return 2;
	}
	printf("usage: %s\n\n%s", c->usage, c->help);
	return 0;
}

int main(int argc, char **argv)
{
	int rc;
	if (argc < 2) {
		main_help(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V"))
		return cmd_version(argc, argv);
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		main_help(stdout);
		return 0;
	}
	const struct cmd *c = find_cmd(argv[1]);
	if (!c) {
		fprintf(stderr, "drplay: unknown command '%s'\n", argv[1]);
		main_help(stderr);
		return 2;
	}
	rc = c->fn(argc - 1, argv + 1);
	redact_release();
	return rc;
}
