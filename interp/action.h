/*
 * action.h: the contract between the interpreter and the action primitives
 * in stdlib/. An action family declares, once, each action's name, flags,
 * category, parameters and outputs (the registry entry); the checker, the
 * linter, `drplay actions`, the JSON Schema and SPEC.md's tables are all
 * driven by these declarations. At run time an action sees only a `struct
 * act` and the functions below: read typed parameters, set outputs, log,
 * report progress, spawn children, ask whether it was cancelled. It never
 * reaches into the interpreter, and the interpreter never knows what an
 * action does beyond its declared flags.
 */
#ifndef DRPLAY_ACTION_H
#define DRPLAY_ACTION_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#include <jansson.h>
#include "util.h"

/* ---- declarations (the registry) ---- */

enum ptype {
	T_STRING, T_INT, T_NUMBER, T_BOOL, T_DURATION, T_TIMESTAMP,
	T_LIST,     /* a sequence; elements checked against `allowed` when given */
	T_MAP,      /* a mapping of anything */
	T_ANY,      /* any value (the action validates it) */
	T_EXPR,     /* an expression string, parsed at check time, not interpolated */
	T_RESOURCE, /* the name of a declared resource, of kind `kind` when set */
};

/* Parameter flags. */
#define P_REQUIRED  0x01u /* must be given */
#define P_TARGET    0x02u /* the resource this action changes (T_RESOURCE) */
#define P_PRINTED   0x04u /* the value is printed or sent (lint: no secret, nor a
			   * resource field made from one, here) */
#define P_SECRET    0x08u /* holds a credential: must come from ${secret.*} */
#define P_LIVE_REF  0x10u /* (resource field) liveness flows through this reference */
#define P_URL       0x20u /* a URL: a secret only as the whole value (lint) */

struct param_spec {
	const char *name;
	enum ptype type;
	unsigned flags;
	const char *kind;           /* T_RESOURCE: required kind (NULL = any) */
	const char *def;            /* default, written as in YAML; NULL = none */
	const char *const *allowed; /* NULL-terminated list of allowed values */
	const char *doc;            /* one line for `drplay actions` and SPEC.md */
};

/* What an output means to the interpreter beyond its value. The names of
 * states a step kept are listed by the run's summary, its journal (step_end
 * `kept`) and `drplay status`, and no run deletes them. */
enum output_role {
	OUT_VALUE,     /* a plain output */
	OUT_SNAPSHOT,  /* the name of a safety snapshot the step took */
	OUT_PRESERVED, /* the name under which the step kept the state it replaced */
	/* Seconds of the step spent in a phase of the recovery (SPEC 8.3.2): the
	 * reports break RTO down by these, the rest of a restore step being
	 * "restore" */
	OUT_PHASE_DOWNLOAD, /* fetching the backup to local storage first */
	OUT_PHASE_REPLAY,   /* replaying WAL to the target */
};

struct output_spec {
	const char *name;
	enum ptype type;
	const char *doc;
	enum output_role role;
};

/* Action flags and categories. */
#define A_STATE     0x01u /* changes state (otherwise read-only) */
#define A_DESTRUCT  0x02u /* destroys data on its target (implies A_STATE) */
#define A_PRINTS_SECRETS_OK 0x04u /* reserved */
#define A_COMMAND   0x08u /* run only by a drplay command (`drplay cleanup`): no
			   * playbook can name it, `drplay actions` does not list it */

enum category {
	CAT_OTHER, CAT_PREFLIGHT, CAT_MAINT_ON, CAT_MAINT_OFF, CAT_SNAPSHOT,
	CAT_RESTORE, CAT_VERIFY, CAT_REPORT,
};
const char *category_name(enum category c);

/* What a flags hook may ask about a step's arguments before or during the
 * run. Values that depend on step outputs are unknown at check time: the
 * hook must then assume the worst. */
struct argq;
/* Returns 1 and sets *val when the boolean argument is known, 0 if unknown
 * or absent (then *val is left untouched: preset it to the default). */
int argq_bool(const struct argq *q, const char *name, int *val);
/* The string argument when known, else NULL. *absent set when not given. */
const char *argq_str(const struct argq *q, const char *name, int *absent);

struct act;

struct action_def {
	const char *name;               /* "family.verb", registry sorted by it */
	int (*run)(struct act *a);      /* returns ACT_OK or ACT_FAIL */
	unsigned flags;                 /* A_STATE, A_DESTRUCT */
	enum category cat;
	const struct param_spec *params;   /* terminated by {NULL} */
	const struct output_spec *outputs; /* terminated by {NULL} */
	const char *doc;                /* one paragraph for `drplay actions` */
	/* Optional: flags that depend on arguments (exec's `destructive`,
	 * pg.query's `writes`). Must return the worst case when unknown. */
	unsigned (*flags_for)(const struct argq *q);
	/* Optional: extra static checks of literal arguments; report through
	 * argq_error and return the number of errors. */
	int (*check)(const struct argq *q);
};

/* A driver of a resource kind: one way of doing what the kind does (the
 * maintenance switch's http, redis, postgres and file; pitr's local,
 * pgbackrest and neon). A resource picks one with its `driver` field. A
 * driver is declared in one file of its own, which registers it with
 * DRIVER_REGISTER; the registry then gives its kind the `driver` field
 * (allowed: the registered names), the union of the drivers' fields (each
 * field's description prefixed with the drivers that take it), and the
 * static checks (kind_check_drivers): the chosen driver's P_REQUIRED fields
 * are there, no field of another driver is. */
struct driver_def {
	const char *kind;                  /* the kind it drives */
	const char *name;                  /* the value of the kind's `driver` field */
	const char *doc;                   /* one line for `drplay actions` and SPEC.md */
	const struct param_spec *fields;   /* its own fields ({NULL}-terminated); P_REQUIRED:
					    * this driver needs it */
	const struct param_spec *shared;   /* fields declared once for several drivers
					    * (pitr's server fields), or NULL */
	const void *ops;                   /* the family's table of functions for it */
	/* Optional: static checks of the driver's literal fields (a url's
	 * form); report through argq_error and return the number of errors. */
	int (*check)(const struct argq *q);
};
/* Registers a driver (called before main by DRIVER_REGISTER). */
void driver_register(const struct driver_def *d);
/* Registers the driver `def` (a struct driver_def) when the program starts,
 * the way QEMU's type_init does: the file that declares a driver is the only
 * one that names it, so adding a driver touches that file alone. */
#define DRIVER_REGISTER(def)                                              \
	__attribute__((constructor)) static void register_##def(void) \
	{                                                                 \
		driver_register(&(def));                                  \
	}

/* `drplay KIND VERB FILE --OPTION NAME`: a command of a kind's own, running
 * the registered action KIND.VERB on one of the playbook's resources. */
struct kind_command {
	const char *option;  /* the option that names the resource ("switch") */
	const char *usage;   /* the usage line(s), as `drplay help` prints them */
	const char *help;    /* the help text, ending in a line break */
};

/* A resource kind: its fields (same declarations as parameters), the values
 * it exports to `${resources.NAME.FIELD}` beyond its fields, and how to
 * release the per-run handle an action attached to it. */
struct resource;
struct kind_def {
	const char *name;
	const struct param_spec *fields;   /* terminated by {NULL} */
	const char *doc;
	void (*release)(void *handle);     /* may be NULL */
	int (*check)(const struct argq *q); /* optional static checks */
	/* Optional, for `drplay cleanup` (never reachable from a playbook):
	 * the snapshots and preserved states kept for a resource of this kind.
	 * list_preserved returns a new JSON array of objects with at least
	 * "name" (exact, what --approve must repeat) and "type" ("snapshot",
	 * "preserved", "branch"), optionally "created" (RFC 3339) and "detail";
	 * or NULL after act_fail. delete_preserved removes exactly the one
	 * named (the interpreter has checked that the list holds it) and
	 * returns ACT_OK, or ACT_FAIL via act_fail. */
	json_t *(*list_preserved)(struct act *a, struct resource *r);
	int (*delete_preserved)(struct act *a, struct resource *r, const char *name);
	/* Kinds with drivers: how a field given for another driver is refused,
	 * a format taking the field, the drivers that take it, "s" when there
	 * are several, and the resource's driver. */
	const char *foreign_field;
	/* Optional: the kind's own command (`drplay maintenance`). */
	const struct kind_command *command;
	/* Optional, for lint: the server a resource's statically known fields
	 * point at ("host:port"; a new string), or NULL when not known. */
	char *(*server_of)(json_t *fields);
	/* Set by the registry, never by a family: the kind's drivers, sorted by
	 * name and NULL-terminated, or NULL when it has none. */
	const struct driver_def *const *drivers;
};

/* Reports a static error about argument `name` from a check hook. */
void argq_error(const struct argq *q, const char *name, const char *fmt, ...) PRINTF_LIKE(3, 4);

/* A family: the tables one file or folder of stdlib/ registers (at
 * start-up, stdlib/families.c): its actions and resource kinds, each
 * alphasorted and NULL-terminated (either may be NULL), and the credential
 * shapes its sinks must mask (lib/redact.h; {NULL}-terminated, or NULL). */
struct redact_pattern;
struct family {
	const char *name;
	const struct action_def *const *actions;
	const struct kind_def *const *kinds;
	const struct redact_pattern *patterns;
};
/* Adds a family to the registry (interp/registry.c) and its credential
 * shapes to the mask. */
void registry_add(const struct family *f);
/* Each family table sorted, names unique, drivers consistent with their
 * kinds: NULL, or a sentence naming the first offence. */
const char *registry_self_check(void);

/* The registry (interp/registry.c): lookups over the registered families.
 * A kind returned here is the registry's own, with its drivers' fields. */
const struct action_def *registry_find(const char *name);
const struct action_def *const *registry_all(size_t *n);
/* An action only a drplay command runs (A_COMMAND), by name. */
const struct action_def *registry_command(const char *name);
const struct kind_def *kind_find(const char *name);
const struct kind_def *const *kinds_all(size_t *n);
/* The driver of kind k named name, or NULL. */
const struct driver_def *kind_driver(const struct kind_def *k, const char *name);
/* The drivers' static checks for a resource of the kind named kind (see
 * struct driver_def); a kind's check hook calls it. Returns the errors. */
int kind_check_drivers(const char *kind, const struct argq *q);
/* Flags of an action for given arguments (flags_for, else static flags). */
unsigned action_flags(const struct action_def *def, const struct argq *q);
const struct param_spec *param_find(const struct param_spec *ps, const char *name);

/* ---- the run-time API ---- */

#define ACT_OK   0
#define ACT_FAIL 1

/* Parameters, already interpolated and type-checked against the declaration.
 * Defaults from the declaration apply. Strings are borrowed (valid during
 * the call). */
int act_has(struct act *a, const char *name);
const char *act_str(struct act *a, const char *name);           /* NULL if absent */
int64_t act_int(struct act *a, const char *name, int64_t def);
double act_number(struct act *a, const char *name, double def);
int act_bool(struct act *a, const char *name, int def);
int64_t act_duration_us(struct act *a, const char *name, int64_t def);
int64_t act_timestamp_us(struct act *a, const char *name, int64_t def);
json_t *act_json(struct act *a, const char *name);              /* borrowed, NULL if absent */

/* A resolved resource: its declaration and its fields after interpolation. */
struct resource {
	const char *name;
	const struct kind_def *kind;
	int live, throwaway;
	json_t *fields;     /* resolved values (borrowed by actions) */
	void *handle;       /* per-run state of the kind's family (e.g. a PGconn) */
};
/* The resource named by parameter `param` (T_RESOURCE), resolved. NULL after
 * act_fail when it cannot be resolved. */
struct resource *act_resource(struct act *a, const char *param);
/* A resource by name (for references between resources). */
struct resource *act_resource_named(struct act *a, const char *name);
const char *res_str(const struct resource *r, const char *field); /* NULL if absent */
int64_t res_int(const struct resource *r, const char *field, int64_t def);
int res_bool(const struct resource *r, const char *field, int def);
int64_t res_duration_us(const struct resource *r, const char *field, int64_t def);

/* Outputs: `v` is stolen. Names must be declared outputs. */
void act_out(struct act *a, const char *name, json_t *v);
void act_out_str(struct act *a, const char *name, const char *s);
void act_out_int(struct act *a, const char *name, int64_t n);
void act_out_bool(struct act *a, const char *name, int b);
void act_out_time(struct act *a, const char *name, int64_t us);
void act_out_dur(struct act *a, const char *name, int64_t us);

/* Fails the step: the message names the object and cause and says what to
 * do. Returns ACT_FAIL so that actions can `return act_fail(a, ...)`. The
 * last call wins. */
int act_fail(struct act *a, const char *fmt, ...) PRINTF_LIKE(2, 3);

/* What changed. A step whose action's flags say it changes state counts as
 * a change from the moment it starts, unless the action says otherwise:
 * one that checks things before it changes anything calls act_unchanged
 * first and act_changing right before its first change. If it fails in
 * between, the step ends "failed, nothing changed" and does not count as a
 * change for the run's exit code (exit 4 when nothing else changed; SPEC.md,
 * 'Exit codes'). Read-only steps never count. */
void act_unchanged(struct act *a);
void act_changing(struct act *a);

/* The message of the last act_fail of this attempt, or NULL: lets an action
 * add context to what a helper (pg_connect, pg_exec) reported. */
const char *act_error(struct act *a);

/* Logs a line for people (terminal) and the journal, masked. */
void act_log(struct act *a, const char *fmt, ...) PRINTF_LIKE(2, 3);
/* Reports progress of a phase: a bar on a terminal, a plain line every few
 * seconds otherwise; the last figures go into the journal. total 0 = unknown. */
void act_progress(struct act *a, const char *phase, uint64_t done, uint64_t total);
/* Appends an event of the action's own to the journal (stolen). */
void act_journal(struct act *a, const char *event, json_t *fields);

/* Evaluates the T_EXPR parameter `name` with the run's current values.
 * Returns 0 and sets *truth (and *text to the expression's source, borrowed),
 * or -1 after act_fail naming the expression and the cause. */
int act_expr_truth(struct act *a, const char *name, int *truth, const char **text);
/* 1 when the run was started with --approve=<this step's id>. */
int act_preapproved(struct act *a);

/* A snapshot of the run so far, for reports (a new reference, not masked:
 * mask before writing it anywhere):
 * {"run", "playbook", "file", "mode", "started_at", "started_s", "now", "now_s",
 *  "objectives": {"rto_s", "rpo_s"} (when declared),
 *  "steps": [{"id", "action", "category", "effect", "gate", "always",
 *             "description", "outcome", "tolerated" (a failure on_failure:
 *             continue let the run go past), "reason", "error", "started_at",
 *             "started_s", "duration_s", "outputs", "phases": seconds of
 *             the step in each phase its action reports (OUT_PHASE_*):
 *             {"download_s", "replay_s"}}]  (steps not reached:
 *             outcome "pending"; the calling step: "running"),
 *  "outcome", "exit_code": how the run ends if no later step changes it (the
 *             run_end values), "final": no later step is still to run,
 *  "stopped_at": the first failure not tolerated,
 *  "counts": {"ok", "failed" (tolerated ones included), "tolerated",
 *             "skipped", "to_run"} (the calling step not counted),
 *  "playbook_sha256", "drplay" (version), "user", "sudo_user" (when set),
 *  "authorized_with" (disaster mode: "--authorize-file" or "--authorize";
 *             null otherwise), "tools": {"basename": "path as started"},
 *  "journal": {"path", "lines", "chain"} (lines written so far and the
 *             last one's chain; absent without a journal)} */
json_t *act_run_record(struct act *a);

/* Registers a secret discovered at run time so that it is masked everywhere. */
void act_secret(struct act *a, const char *s);

/* Registers as a secret the password a URL holds as written, before any
 * parser reads it: everything between the first ':' after "scheme://" and
 * the URL's last '@' (nothing when there is no such ':' or '@'). A parser
 * refuses, or splits elsewhere, a password written with a raw '@', '/' or
 * space, and its message then quotes parts of it that no pattern finds;
 * masking a little more than the password is the safe side. */
void act_secret_url_password(struct act *a, const char *url);

/* Masked writes, for what an action writes itself rather than through the
 * log: act_masked returns a copy of s with every secret and credential
 * masked (caller frees; never NULL), for a file it writes (a report);
 * act_prompt writes to the terminal (stderr) for a person, masked and with
 * control characters in the values escaped, and flushes it (a question
 * before reading the answer; no line break is added). */
char *act_masked(struct act *a, const char *s);
void act_prompt(struct act *a, const char *fmt, ...) PRINTF_LIKE(2, 3);

/* Cancellation: 1 when the run was interrupted (SIGINT/SIGTERM) or the
 * step's timeout passed. Long operations poll this. */
int act_cancelled(struct act *a);
/* For an undo that would leave things worse if cut short (a restore putting
 * back the database it replaced): from now on act_cancelled, and so act_run,
 * act_wait and act_sleep, ignore the interruption seen so far and the step's
 * timeout; a further SIGINT/SIGTERM cancels again. The step still ends as
 * interrupted (or timed out) when that is why it stopped. */
void act_shield(struct act *a);
/* Microseconds left before the step's timeout, or INT64_MAX without one. */
int64_t act_remaining_us(struct act *a);
/* Sleeps up to us, waking early on cancellation. Returns 0, or -1 when cancelled. */
int act_sleep(struct act *a, int64_t us);

/* Information about the run. */
const char *act_run_id(struct act *a);
const char *act_mode(struct act *a);
const char *act_step_id(struct act *a);
int64_t act_run_started_us(struct act *a);
/* A scratch directory for this run, created on demand, removed at the end. */
const char *act_tmpdir(struct act *a);
/* Records that this run created an object (a database, a branch) so that
 * actions which may only remove what their own run created can ask. It also
 * says that what the step changed is confined to objects it created (call
 * it only then): such a step changes state for the exit code only while
 * one of the run's objects is left (SPEC.md, section 4). */
void act_created(struct act *a, const char *kind, const char *name);
int act_was_created(struct act *a, const char *kind, const char *name);
/* Records that the step removed an object this run created (it is no
 * longer the run's), and that this removal is all the step changed. */
void act_removed(struct act *a, const char *kind, const char *name);

/* Subprocesses, without a shell. The child gets its own process group so the
 * interpreter can end it (and its children) on interruption or timeout. */
struct spawn_opts {
	char *const *env_extra; /* "NAME=value" added to the environment, or NULL */
	const char *cwd;        /* NULL = current directory */
	int stdin_fd;           /* -1 = /dev/null */
	int stdout_fd;          /* -1 = capture into result (capped) */
	int stderr_fd;          /* -1 = capture into result (capped) */
	size_t capture_cap;     /* 0 = 1 MiB per stream */
	const char *run_as;     /* user to run as when drplay runs as root (runuser) */
	int relay;              /* 1 = relay captured output lines to the log */
};
struct spawn_result {
	int exited;             /* 1 = exited normally, 0 = killed by a signal */
	int status;             /* exit code or signal number */
	int cancelled;          /* ended by drplay (interrupt or timeout) */
	char *out, *err;        /* captured, masked, NUL-terminated (caller frees) */
	int out_truncated, err_truncated;
};
/* Runs argv[0] (searched in PATH) and waits. Returns 0 when it could be
 * started (see res for how it ended), -1 with a message via act_fail. */
int act_run(struct act *a, char *const argv[], const struct spawn_opts *o, struct spawn_result *res);
void spawn_result_release(struct spawn_result *r);
/* Starts argv without waiting (pipelines); returns the pid or -1 via act_fail.
 * The interpreter ends it on interruption; wait with act_wait. */
pid_t act_spawn(struct act *a, char *const argv[], const struct spawn_opts *o);
/* Waits for a child from act_spawn, ending it on cancellation. Returns 0 and
 * fills *exited and *status, or -1 on error. */
int act_wait(struct act *a, pid_t pid, int *exited, int *status, int *cancelled);

/* Per-run handles kept on a resource (a connection reused across steps). */
void *res_handle(struct resource *r);
void res_set_handle(struct resource *r, void *handle);

#endif
