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

#include "action.h"
#include "chain.h"
#include "describe.h"
#include "diag.h"
#include "evidence.h"
#include "fail.h"
#include "family.h"
#include "import.h"
#include "journal.h"
#include "manpage.h"
#include "mcp.h"
#include "plan.h"
#include "redact.h"
#include "run.h"
#include "status.h"
#include "util.h"
#include "version.h"

struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *usage;
	const char *help;
};

static const struct cmd *find_cmd(const char *name);

/* Says what is wrong with a command's use: "drplay CMD: MSG", masked.
 * Returns the exit code (EXIT_INVALID). */
static int vcommand_error(const char *cmd, const char *fmt, va_list ap)
{
	struct fail f = FAIL_INIT;
	fail_vset(&f, EXIT_INVALID, fmt, ap);
	char *prog = xasprintf("drplay %s", cmd);
	int rc = fail_print(&f, prog);
	free(prog);
	fail_release(&f);
	return rc;
}

static int command_error(const char *cmd, const char *fmt, ...) PRINTF_LIKE(2, 3);
static int command_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = vcommand_error(cmd, fmt, ap);
	va_end(ap);
	return rc;
}

/* command_error, then the command's usage. */
static int usage_error(const char *cmd, const char *fmt, ...) PRINTF_LIKE(2, 3);
static int usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = vcommand_error(cmd, fmt, ap);
	va_end(ap);
	const struct cmd *c = find_cmd(cmd);
	if (c)
		fprintf(stderr, "usage: %s\n(see `drplay help %s`)\n", c->usage, cmd);
	return rc;
}

/* Prints a command's usage and help on stdout: -h, --help. Returns 0. */
static int show_help(const char *cmd)
{
	const struct cmd *c = find_cmd(cmd);
	printf("usage: %s\n\n%s", c->usage, c->help);
	return EXIT_OK;
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
		{ "authorize-file", required_argument, NULL, 'F' },
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
	while ((c = getopt_long(argc, argv, "m:p:nh", opts, NULL)) != -1) {
		switch (c) {
		case 'm': o.mode = optarg; break;
		case 'p': o.params[o.nparams++] = optarg; break;
		case 'a': o.authorize = optarg; break;
		case 'F': o.authorize_file = optarg; break;
		case 'A': o.approve[o.napprove++] = optarg; break;
		case 'n': o.dry_run = 1; break;
		case 'j': o.journal_dir = optarg; break;
		case 'J': o.json = 1; break;
		case 'h':
			rc = show_help(cmd);
			break;
		default:
			rc = usage_error(cmd, "unknown or incomplete option '%s'", argv[optind - 1]);
			break;
		}
		if (rc >= 0)
			break;
	}
	if (rc < 0 && o.authorize && o.authorize_file)
		rc = usage_error(cmd, "give --authorize-file or --authorize, not both");
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
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	enum diag_format fmt = DF_TEXT;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "f:h", opts, NULL)) != -1) {
		if (c == 'J') {
			fmt = DF_JSON;
		} else if (c == 'f') {
			if (!strcmp(optarg, "text"))
				fmt = DF_TEXT;
			else if (!strcmp(optarg, "json"))
				fmt = DF_JSON;
			else if (!strcmp(optarg, "sarif"))
				fmt = DF_SARIF;
			else
				return usage_error("lint", "unknown format '%s'; use text, json or sarif", optarg);
		} else if (c == 'h') {
			return show_help("lint");
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
	int rc = unreadable ? EXIT_INVALID : d.nerr ? EXIT_LINT_ERRORS : EXIT_OK;
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
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	enum describe_format fmt = DESC_TEXT;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "f:h", opts, NULL)) != -1) {
		if (c == 'h')
			return show_help("actions");
		if (c == 'J')
			fmt = DESC_JSON;
		else if (c == 'f' && !strcmp(optarg, "text"))
			fmt = DESC_TEXT;
		else if (c == 'f' && !strcmp(optarg, "markdown"))
			fmt = DESC_MARKDOWN;
		else if (c == 'f' && !strcmp(optarg, "json"))
			fmt = DESC_JSON;
		else
			return usage_error("actions", "unknown option or format '%s'", argv[optind - 1]);
	}
	const char *name = optind < argc ? argv[optind] : NULL;
	if (optind + 1 < argc)
		return usage_error("actions", "unexpected argument '%s'", argv[optind + 1]);
	if (name && !describe_known(name))
		return command_error("actions", "no action or resource kind '%s'; `drplay actions` lists them", name);
	describe_actions(name, fmt, stdout);
	return EXIT_OK;
}

static int cmd_procedures(int argc, char **argv)
{
	if (argc > 2)
		return usage_error("procedures", "takes at most one NAME");
	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		printf("usage: %s\n\n%s", find_cmd("procedures")->usage, find_cmd("procedures")->help);
		return EXIT_OK;
	}
	char *err;
	if (procedures_show(argc == 2 ? argv[1] : NULL, stdout, &err) == 0)
		return EXIT_OK;
	int rc = command_error("procedures", "%s", err);
	free(err);
	return rc;
}

static int cmd_schema(int argc, char **argv)
{
	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))
		return show_help("schema");
	if (argc > 1)
		return usage_error("schema", "takes no arguments");
	describe_schema(stdout);
	return EXIT_OK;
}

static int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "journal-dir", required_argument, NULL, 'j' },
		{ "json", no_argument, NULL, 'J' },
		{ "playbook", required_argument, NULL, 'p' },
		{ "follow", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ "verify", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct status_opts so = { 0 };
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
		if (c == 'j')
			so.dir = optarg;
		else if (c == 'J')
			so.json = 1;
		else if (c == 'p')
			so.playbook = optarg;
		else if (c == 'f')
			so.follow = 1;
		else if (c == 'h')
			return show_help("status");
		else if (c == 'V')
			so.verify = 1;
		else
			return usage_error("status", "unknown or incomplete option '%s'", argv[optind - 1]);
	}
	if (optind < argc)
		so.run_id = argv[optind++];
	if (optind < argc)
		return usage_error("status", "unexpected argument '%s'", argv[optind]);
	if (so.run_id && so.playbook)
		return usage_error("status", "give a RUN_ID or --playbook NAME, not both");
	if (so.verify && so.follow)
		return usage_error("status", "give --verify or --follow, not both");
	return status_show(&so);
}

/* ---- one-step commands on a playbook's resources ---- */

/* Parses the options shared by the one-step commands. Returns -1 when the
 * option is not one of them, else how many argv entries it used (1 or 2),
 * or 0 after a usage error (*rc set). */
static int common_opt(const char *cmd, char **argv, int i, int argc, struct run_opts *o, int *rc)
{
	const char *a = argv[i];
	static const char *const with_value[] = { "--mode", "--authorize", "--journal-dir", "--authorize-file", NULL };
	if (!strcmp(a, "--json")) {
		o->json = 1;
		return 1;
	}
	for (size_t k = 0; with_value[k]; k++) {
		size_t n = strlen(with_value[k]);
		const char *v = NULL;
		int used = 0;
		if (!strncmp(a, with_value[k], n) && a[n] == '=') {
			v = a + n + 1;
			used = 1;
		} else if (!strcmp(a, with_value[k])) {
			if (i + 1 >= argc) {
				*rc = usage_error(cmd, "option '%s' needs a value", a);
				return 0;
			}
			v = argv[i + 1];
			used = 2;
		} else {
			continue;
		}
		if (k == 0)
			o->mode = v;
		else if (k == 1)
			o->authorize = v;
		else if (k == 2)
			o->journal_dir = v;
		else
			o->authorize_file = v;
		return used;
	}
	return -1;
}

/* Splits "--name=value" or "--name value"; returns how many entries it used
 * (0 when the value is missing). */
static int opt_value(char **argv, int i, int argc, char *name, size_t nlen, const char **val)
{
	const char *a = argv[i] + 2;
	const char *eq = strchr(a, '=');
	if (eq) {
		snprintf(name, nlen, "%.*s", (int)(eq - a), a);
		*val = eq + 1;
		return 1;
	}
	snprintf(name, nlen, "%s", a);
	if (i + 1 >= argc)
		return 0;
	*val = argv[i + 1];
	return 2;
}

/* The parameter of def that names its target resource of kind `kind`. */
static const struct param_spec *target_param(const struct action_def *def, const char *kind)
{
	for (const struct param_spec *p = def->params; p && p->name; p++)
		if (p->type == T_RESOURCE && (p->flags & P_TARGET) && p->kind && !strcmp(p->kind, kind))
			return p;
	return NULL;
}

/*
 * `drplay KIND VERB FILE --RES_OPT NAME [--PARAM VALUE]...`: runs the
 * registered action KIND.VERB (whose target parameter takes a resource of
 * that kind) as a one-step run against the playbook's resource NAME, through
 * the normal executor. Other --PARAM options become the action's parameters.
 * Knows nothing about any kind: the registry says which verbs exist.
 */
static int resource_verb(const char *cmd, const char *kind, const char *res_opt, int argc, char **argv)
{
	struct run_opts o = { 0 };
	const char *verb = NULL, *file = NULL, *resname = NULL;
	json_t *with = json_object();
	json_t *pending = json_object(); /* --PARAM values, checked once the action is known */
	int rc = -1;
	for (int i = 1; i < argc && rc < 0; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			rc = show_help(cmd);
			break;
		}
		if (strncmp(a, "--", 2) != 0) {
			if (!verb)
				verb = a;
			else if (!file)
				file = a;
			else
				rc = usage_error(cmd, "unexpected argument '%s'", a);
			continue;
		}
		int used = common_opt(cmd, argv, i, argc, &o, &rc);
		if (used == 0)
			break;
		if (used > 0) {
			i += used - 1;
			continue;
		}
		char name[64];
		const char *val = NULL;
		used = opt_value(argv, i, argc, name, sizeof(name), &val);
		if (!used) {
			rc = usage_error(cmd, "option '%s' needs a value", a);
			break;
		}
		i += used - 1;
		if (!strcmp(name, res_opt) || !strcmp(name, "resource"))
			resname = val;
		else
			json_object_set_new(pending, name, json_string(val));
	}
	if (rc < 0 && (!verb || !file))
		rc = usage_error(cmd, "give the verb and the playbook FILE");
	if (rc < 0 && !resname)
		rc = usage_error(cmd, "which %s? give --%s NAME (a resource of kind %s in the playbook)", res_opt, res_opt,
				 kind);
	const struct action_def *def = NULL;
	if (rc < 0) {
		char *aname = xasprintf("%s.%s", kind, verb);
		def = registry_find(aname);
		free(aname);
		if (!def || !target_param(def, kind)) {
			size_t n;
			const struct action_def *const *all = registry_all(&n);
			struct strbuf sb = STRBUF_INIT;
			size_t kl = strlen(kind);
			for (size_t i = 0; i < n; i++)
				if (!strncmp(all[i]->name, kind, kl) && all[i]->name[kl] == '.' && target_param(all[i], kind))
					sb_addf(&sb, "%s%s", sb.len ? ", " : "", all[i]->name + kl + 1);
			rc = usage_error(cmd, "unknown verb '%s'; use one of: %s", verb, sb.len ? sb_str(&sb) : "(none)");
			sb_release(&sb);
			def = NULL;
		}
	}
	if (rc < 0) {
		const char *k;
		json_t *v;
		json_object_foreach(pending, k, v)
		{
			const struct param_spec *ps = param_find(def->params, k);
			if (!ps || ps->type == T_RESOURCE) {
				rc = usage_error(cmd, "unknown option '--%s' for %s", k, def->name);
				break;
			}
			json_object_set(with, k, v);
		}
	}
	if (rc < 0) {
		json_object_set_new(with, target_param(def, kind)->name, json_string(resname));
		char *id = xasprintf("%s_%s", kind, verb);
		char *command = xasprintf("%s %s", cmd, verb);
		for (char *p = id; *p; p++)
			if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
				*p = '_';
		o.file = file;
		o.one_def = def;
		o.one_with = with;
		o.one_id = id;
		o.command = command;
		o.no_journal = !(def->flags & (A_STATE | A_DESTRUCT));
		rc = drplay_run(&o);
		free(id);
		free(command);
	}
	json_decref(with);
	json_decref(pending);
	return rc;
}

/* A kind's own command (`drplay maintenance`): argv[0] names the kind. */
static int cmd_kind(int argc, char **argv)
{
	const struct kind_def *k = kind_find(argv[0]);
	return resource_verb(k->name, k->name, k->command->option, argc, argv);
}

/* ---- cleanup: the one place preserved states are deleted ---- */

/* FILE and --NAME VALUE options (names[] NULL-terminated, values into
 * vals[]; flags[] take no value: "1" into fvals[]) plus the common ones,
 * for the one-step commands. Returns -1 to go on, else the exit code
 * (help: 0). */
static int file_opts(const char *cmd, int argc, char **argv, const char *const *names, const char *const *flags,
		     const char **vals, const char **fvals, const char **file, struct run_opts *o)
{
	int rc = -1;
	for (int i = 1; i < argc && rc < 0; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			return show_help(cmd);
		}
		if (strncmp(a, "--", 2) != 0) {
			if (*file)
				rc = usage_error(cmd, "unexpected argument '%s'", a);
			*file = a;
			continue;
		}
		int used = common_opt(cmd, argv, i, argc, o, &rc);
		if (used == 0)
			break;
		if (used > 0) {
			i += used - 1;
			continue;
		}
		int flag = 0;
		for (size_t k = 0; flags && flags[k] && !flag; k++)
			if (!strcmp(a + 2, flags[k])) {
				fvals[k] = "1";
				flag = 1;
			}
		if (flag)
			continue;
		char name[64];
		const char *val = NULL;
		used = opt_value(argv, i, argc, name, sizeof(name), &val);
		size_t k = 0;
		while (names[k] && strcmp(names[k], name))
			k++;
		if (!used || !names[k]) {
			rc = usage_error(cmd, used ? "unknown option '%s'" : "option '%s' needs a value", a);
			break;
		}
		i += used - 1;
		vals[k] = val;
	}
	if (rc < 0 && !*file)
		rc = usage_error(cmd, "which playbook? give its FILE");
	return rc;
}

static int cmd_cleanup(int argc, char **argv)
{
	struct run_opts o = { 0 };
	const char *file = NULL, *v[2] = { NULL, NULL };
	static const char *const names[] = { "resource", "approve", NULL };
	int rc = file_opts("cleanup", argc, argv, names, NULL, v, NULL, &file, &o);
	if (rc >= 0)
		return rc;
	const char *resname = v[0], *approve = v[1];
	if (!resname)
		return usage_error("cleanup", "which resource? give --resource NAME");
	if (approve && !*approve)
		return usage_error("cleanup", "--approve needs the exact name of the state to delete");
	json_t *with = json_pack("{s:s}", "resource", resname);
	if (approve)
		json_object_set_new(with, "approve", json_string(approve));
	o.file = file;
	o.one_def = registry_command("cleanup");
	o.one_with = with;
	o.one_id = "cleanup";
	o.command = "cleanup";
	o.no_journal = approve == NULL;
	rc = drplay_run(&o);
	json_decref(with);
	return rc;
}

/* ---- salvage: the writes after the restore point ---- */

static int cmd_salvage(int argc, char **argv)
{
	struct run_opts o = { 0 };
	const char *file = NULL, *v[4] = { NULL, NULL, NULL, NULL }, *f[1] = { NULL };
	static const char *const names[] = { "resource", "state", "against", "out", NULL };
	static const char *const flags[] = { "count-only", NULL };
	int rc = file_opts("salvage", argc, argv, names, flags, v, f, &file, &o);
	if (rc >= 0)
		return rc;
	if (!v[0] || !*v[0])
		return usage_error("salvage", "which pitr resource? give --resource NAME");
	if (!v[1] || !*v[1])
		return usage_error("salvage", "which preserved state? give --state NAME (`drplay cleanup FILE --resource %s` lists them)", v[0]);
	int count_only = f[0] != NULL;
	json_t *with = json_pack("{s:s,s:s,s:b}", "resource", v[0], "state", v[1], "count_only", count_only);
	if (v[2])
		json_object_set_new(with, "against", json_string(v[2]));
	char *out = v[3] ? xstrdup(v[3]) : xasprintf("salvage-%s", v[1]);
	if (!count_only)
		json_object_set_new(with, "out", json_string(out));
	free(out);
	o.file = file;
	o.one_def = registry_find("pitr.salvage");
	o.one_with = with;
	o.one_id = "salvage";
	o.command = "salvage";
	o.no_journal = 1;
	rc = drplay_run(&o);
	json_decref(with);
	return rc;
}

static int cmd_help(int argc, char **argv);
static int cmd_manpage(int argc, char **argv);

/* `drplay mcp`: the server's body is mcp.c. */
static int cmd_mcp(int argc, char **argv)
{
	int rc = mcp_main(argc, argv);
	if (rc == -1)
		printf("usage: %s\n\n%s", find_cmd("mcp")->usage, find_cmd("mcp")->help);
	else if (rc == -2)
		return usage_error("mcp", "unknown option or argument");
	return rc < 0 ? EXIT_OK : rc;
}

static int cmd_version(int argc, char **argv)
{
	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))
		return show_help("version");
	printf("drplay %s\n", DRPLAY_VERSION);
	return EXIT_OK;
}

static const struct cmd commands[] = {
	{
		.name = "actions",
		.fn = cmd_actions,
		.usage = "drplay actions [NAME] [--format=text|markdown|json | --json]",
		.help = "Lists the registered actions and resource kinds with their effect (read-only,\n"
			"state-changing, destructive) and category; with NAME, its parameters and outputs.\n",
	},
	{
		.name = "cleanup",
		.fn = cmd_cleanup,
		.usage = "drplay cleanup FILE --resource NAME [--approve=EXACT_NAME] [--mode=MODE] [--journal-dir DIR] [--json]",
		.help = "Lists the snapshots and preserved states a resource keeps (for a pitr resource:\n"
			"safety snapshots, states preserved by restores, leftover branches), using the\n"
			"playbook's definition of the resource. No run ever deletes them; this command\n"
			"deletes one, and only when --approve repeats its exact name (journaled).\n"
			"Exit: 0 done; 1 the deletion failed; 2 usage or playbook error; 4 listing failed.\n",
	},
	{
		.name = "help",
		.fn = cmd_help,
		.usage = "drplay help [COMMAND]",
		.help = "Shows help for drplay or one command.\n",
	},
	{
		.name = "evidence",
		.fn = evidence_command,
		.usage = "drplay evidence verify FILE [--key PUBLIC_KEY] [--journal JOURNAL]",
		.help = "Checks an evidence document report.write wrote (format evidence): with --key, that it is\n"
			"signed and that the Ed25519 signature verifies with that public key (PEM); with --journal,\n"
			"that the run's journal fits its hash chain and still has, at the line the document\n"
			"recorded, the chain the document recorded. Names what does not fit.\n"
			"Exit: 0 every check fits, 1 something does not, 2 usage or a file that cannot be read.\n",
	},
	{
		.name = "lint",
		.fn = cmd_lint,
		.usage = "drplay lint FILE... [--format=text|json|sarif | --json]",
		.help = "Checks playbooks against the format and the safety rules, for every declared mode.\n"
			"Text lines are FILE:LINE:COL: error|warning: [rule-id] message, with the source\n"
			"line and a caret. SARIF 2.1.0 is for code-review annotations. FILE - reads standard\n"
			"input; a FIFO, device or directory is refused at once.\n"
			"Exit: 0 no errors (warnings allowed), 1 errors found, 2 usage or unreadable file.\n",
	},
	{
		.name = "manpage",
		.fn = cmd_manpage,
		.usage = "drplay manpage 1|5",
		.help = "Prints the manual page drplay(1) (the commands) or drplay-playbook(5) (the playbook\n"
			"format) in roff, generated from the command table and the registry; `make install`\n"
			"installs them.\n",
	},
	{
		.name = "mcp",
		.fn = cmd_mcp,
		.usage = "drplay mcp [--allow-disaster --authorize-file FILE] [--journal-dir DIR]",
		.help = "A Model Context Protocol server on standard input and output (JSON-RPC 2.0, one\n"
			"message per line): tools lint, plan, run, status and actions, each run as a child\n"
			"drplay. Runs are validation-only unless --allow-disaster and --authorize-file are\n"
			"given; an approve step is asked of the person through the client (elicitation).\n"
			"Logs go to standard error. Exit: 0 when the client closes the input; 2 usage.\n",
	},
	{
		.name = "plan",
		.fn = cmd_plan,
		.usage = "drplay plan FILE [run options]",
		.help = "Prints the resolved plan for a mode, as `drplay run --dry-run`: which steps would run\n"
			"or be skipped and why, with every value resolved and secrets masked. Runs nothing.\n",
	},
	{
		.name = "procedures",
		.fn = cmd_procedures,
		.usage = "drplay procedures [NAME[@MAJOR]]",
		.help = "Lists the procedures this drplay ships (a playbook imports one with\n"
			"`import: drplay:NAME@MAJOR` and binds its resources and params); with NAME, prints\n"
			"its YAML (the newest major unless @MAJOR is given).\n",
	},
	{
		.name = "run",
		.fn = cmd_run,
		.usage = "drplay run FILE [--mode=validation|disaster] [--param NAME=VALUE]...\n"
			  "                [--authorize-file FILE | --authorize=TOKEN] [--approve=STEP_ID]...\n"
			  "                [--dry-run] [--journal-dir DIR] [--json]",
		.help = "Loads, checks and plans the playbook for the mode (its default mode, validation, when\n"
			"not given), refuses it if any guard fails, then runs its steps, journaling each.\n"
			"Disaster mode needs the token the playbook names: prefer --authorize-file FILE (a\n"
			"file only its owner can read; --authorize=TOKEN shows the token to `ps`).\n"
			"FILE - reads the playbook from standard input.\n"
			"Exit: 0 success; 1 a step failed after state had changed (gates held; read the\n"
			"report); 2 invalid usage or playbook; 3 refused by a guard, nothing ran; 4 stopped\n"
			"before any state-changing step ran (no outage); 130 interrupted.\n",
	},
	{
		.name = "salvage",
		.fn = cmd_salvage,
		.usage = "drplay salvage FILE --resource NAME --state STATE [--against RESOURCE] [--out DIR] [--count-only] [--mode=MODE] [--journal-dir DIR] [--json]",
		.help = "Starts a state a restore preserved (for a pitr resource: the replaced data directory,\n"
			"copied first so that it is never altered) as a throwaway server, compares it by primary\n"
			"key with the restored database (--against, default the resource's database), and writes\n"
			"the rows the restore discarded or changed into DIR (default salvage-STATE, new or empty):\n"
			"salvage.sql (INSERT and UPDATE statements to review and apply) and one CSV per table.\n"
			"--count-only writes nothing and prints the counts. The server is stopped on every path.\n"
			"Exit: 0 done; 2 usage or playbook error; 4 it failed, nothing changed (the preserved state\n"
			"and the restored database are untouched; the throwaway server is stopped).\n",
	},
	{
		.name = "schema",
		.fn = cmd_schema,
		.usage = "drplay schema",
		.help = "Prints the playbook JSON Schema (2020-12), generated from the registry; the copy in\n"
			"grammar/playbook.schema.json is what editors (yaml-language-server) use.\n",
	},
	{
		.name = "status",
		.fn = cmd_status,
		.usage = "drplay status [RUN_ID | --playbook NAME] [--follow] [--verify] [--journal-dir DIR] [--json]",
		.help = "Shows a run from its journal: steps with outcomes and timings, failed gates, and the\n"
			"state it left (maintenance, preserved snapshots); for a run without an end, whether\n"
			"it is still running or was killed. Without RUN_ID it shows the newest run of a\n"
			"playbook (of --playbook NAME), by its start: a one-step command such as `drplay\n"
			"maintenance on` is shown only when there is no playbook run.\n"
			"--follow prints every event as it is journaled until the run ends, then exits with\n"
			"the run's exit code (130 when its process is gone without an end: killed).\n"
			"--verify checks the run's journal hash chain instead and names the first line that does\n"
			"not fit (edited, deleted, inserted, reordered, or a cut last line) and what was expected.\n"
			"Exit with --verify: 0 every line fits, 1 a line does not, 2 no journal or unreadable.\n",
	},
	{
		.name = "version",
		.fn = cmd_version,
		.usage = "drplay --version",
		.help = "Prints the version.\n",
	},
};

/* The commands above and the kinds' own (a kind_def's command, such as
 * `drplay maintenance`), in name order. */
static struct cmd *all_cmds;
static size_t ncmds;

static int cmp_cmd(const void *a, const void *b)
{
	return strcmp(((const struct cmd *)a)->name, ((const struct cmd *)b)->name);
}

static void commands_init(void)
{
	if (all_cmds)
		return;
	size_t nk;
	const struct kind_def *const *kinds = kinds_all(&nk);
	all_cmds = xcalloc(ARRAY_SIZE(commands) + nk, sizeof(*all_cmds));
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		all_cmds[ncmds++] = commands[i];
	for (size_t i = 0; i < nk; i++)
		if (kinds[i]->command)
			all_cmds[ncmds++] = (struct cmd){ .name = kinds[i]->name, .fn = cmd_kind,
							  .usage = kinds[i]->command->usage,
							  .help = kinds[i]->command->help };
	qsort(all_cmds, ncmds, sizeof(*all_cmds), cmp_cmd);
}

static const struct cmd *find_cmd(const char *name)
{
	commands_init();
	for (size_t i = 0; i < ncmds; i++)
		if (!strcmp(all_cmds[i].name, name))
			return &all_cmds[i];
	return NULL;
}

static void main_help(FILE *f)
{
	fprintf(f, "drplay %s: a database disaster-recovery playbook interpreter\n\n"
		   "usage: drplay COMMAND [ARGS]\n\ncommands:\n", DRPLAY_VERSION);
	commands_init();
	for (size_t i = 0; i < ncmds; i++)
		fprintf(f, "  %-11s %s\n", all_cmds[i].name, all_cmds[i].usage + strlen("drplay "));
	fprintf(f, "\n`drplay help COMMAND` shows a command's help. SPEC.md documents the playbook language.\n");
}

static int cmd_help(int argc, char **argv)
{
	if (argc < 2) {
		main_help(stdout);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))
		return show_help("help");
	const struct cmd *c = find_cmd(argv[1]);
	if (!c) {
		int rc = command_error("help", "no command '%s'", argv[1]);
		main_help(stderr);
		return rc;
	}
	return show_help(c->name);
}

static int cmd_manpage(int argc, char **argv)
{
	if (argc != 2)
		return usage_error("manpage", "which page? give 1 (the commands) or 5 (the playbook format)");
	commands_init();
	struct man_cmd *mc = xcalloc(ncmds, sizeof(*mc));
	for (size_t i = 0; i < ncmds; i++)
		mc[i] = (struct man_cmd){ .name = all_cmds[i].name, .usage = all_cmds[i].usage, .help = all_cmds[i].help };
	int rc = manpage_print(argv[1], mc, ncmds, stdout);
	free(mc);
	if (rc != 0)
		return usage_error("manpage", "no page '%s'; give 1 (the commands) or 5 (the playbook format)", argv[1]);
	return EXIT_OK;
}

/* Whether the command was asked for JSON (--json, or --format=json where a
 * command takes formats): then a refusal before its run is a JSON document
 * on stdout too (fail_json_begin). */
static int wants_json(int argc, char **argv)
{
	for (int i = 2; i < argc; i++)
		if (!strcmp(argv[i], "--json") || !strcmp(argv[i], "--format=json") ||
		    (!strcmp(argv[i], "--format") && i + 1 < argc && !strcmp(argv[i + 1], "json")))
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	int rc;
	stdlib_register();
	if (argc < 2) {
		main_help(stderr);
		return EXIT_INVALID;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V"))
		return cmd_version(argc, argv);
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		main_help(stdout);
		return EXIT_OK;
	}
	const struct cmd *c = find_cmd(argv[1]);
	if (!c) {
		struct fail f = FAIL_INIT;
		fail_set(&f, EXIT_INVALID, "unknown command '%s'", argv[1]);
		rc = fail_print(&f, "drplay");
		fail_release(&f);
		main_help(stderr);
		return rc;
	}
	/* `drplay COMMAND -h|--help`, whatever the command's own options */
	if (argc == 3 && (!strcmp(argv[2], "-h") || !strcmp(argv[2], "--help")))
		return show_help(c->name);
	if (wants_json(argc, argv))
		fail_json_begin(c->name);
	rc = fail_json_end(c->fn(argc - 1, argv + 1));
	redact_release();
	return rc;
}
