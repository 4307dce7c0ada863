/*
 * pitr.h: the inside of the pitr family, shared by pitr.c (the resource
 * kind, the five actions and their common rules) and its drivers, one file
 * each: pitr_local.c (PostgreSQL base backups + a WAL archive directory),
 * pitr_pgbackrest.c (pgBackRest) and pitr_neon.c (Neon's HTTP API). A driver
 * is a struct driver_def (action.h) whose ops are a struct pitr_ops, and
 * registers itself (DRIVER_REGISTER): adding one is adding such a file. The
 * server-side helpers that local and pgbackrest share (pg_ctl, waiting for a
 * promoted server, putting a replaced data directory back after a failed
 * restore), and the fields that configure them, are in pitr_server.c.
 */
#ifndef DRPLAY_PITR_H
#define DRPLAY_PITR_H

#include <stdint.h>
#include <sys/types.h>

#include "family.h"
#include "pg.h"

/* The kind the drivers register for. */
#define PITR_KIND "pitr"

struct pitr_ops;

struct pitr {
	struct act *a;
	struct resource *r;   /* the pitr resource */
	struct resource *db;  /* its database (a postgres resource) */
	const char *driver;   /* its driver's name */
	const struct pitr_ops *ops; /* its driver's operations */
	json_t *cache;        /* a driver's answer kept for one action (pgbackrest info) */
	int64_t replay_us;    /* pitr.restore: time the restored server took to replay WAL (0: not timed) */
};

/* What pitr.restore asks of a driver. Exactly one of to_us / from is set. */
struct pitr_restore_req {
	int64_t to_us;        /* 0 = not given */
	const char *from;     /* a snapshot or preserved state, or NULL */
	const char *preserve_as;
};

/* The restorable window. latest_exclusive: `to` must be strictly before
 * latest (recovery needs a later commit to know it reached the target). */
struct pitr_window {
	int64_t earliest, latest;
	int latest_exclusive;
	char note[512];       /* how latest was found, gaps, ... (for people) */
	char earliest_note[512]; /* what bounds the window's start */
};

struct pitr_ops {
	/* Each returns ACT_OK, or ACT_FAIL after act_fail; outputs are set by
	 * pitr.c from what the driver reports through the out-parameters and
	 * act_out for its own extras. */
	int (*window)(struct pitr *p, struct pitr_window *w);
	int (*snapshot)(struct pitr *p, const char *name);
	int (*restore)(struct pitr *p, const struct pitr_restore_req *q, int64_t *recovered_us);
	int (*branch)(struct pitr *p, const char *name, int64_t at_us, char **dsn);
	int (*discard)(struct pitr *p, const char *name);
	/* For `drplay cleanup`: what it keeps, and deleting one of them. */
	json_t *(*list)(struct pitr *p);
	int (*remove)(struct pitr *p, const char *name);
	/* 1 when `name` is already taken by a snapshot, preserved state or
	 * branch (so that a default name gets a suffix). */
	int (*exists)(struct pitr *p, const char *name);
	/* For pitr.salvage: starts a preserved state for reading without
	 * altering it; *dsn its connection string, *handle what close takes
	 * (both new strings). NULL when the driver cannot. */
	int (*open_preserved)(struct pitr *p, const char *name, char **dsn, char **handle);
	/* Stops and removes what open_preserved started. */
	int (*close_preserved)(struct pitr *p, const char *handle);
	/* Keeps salvage's counts beside a preserved state, for `drplay
	 * cleanup` (never in the state itself); NULL when the driver cannot. */
	void (*note_preserved)(struct pitr *p, const char *name, json_t *counts);
};

/* pitr.salvage (pitr_salvage.c), in pitr.c's table. */
extern const struct action_def pitr_salvage_def;

/* Reads the `resource` parameter into p: the pitr resource, its driver's
 * operations and its database. 0 or -1 after act_fail. */
int pitr_setup(struct act *a, struct pitr *p);

/* The fields of a server on this host, which the local and pgbackrest
 * drivers share (data_dir, os_user, ...; pitr_server.c). */
extern const struct param_spec pitr_server_fields[];

/* The created-object kind recorded for branches (act_created). */
#define PITR_BRANCH_KIND "pitr_branch"
/* "<resource>/<branch>": the name recorded with act_created. */
char *pitr_branch_key(struct pitr *p, const char *name);

/* Checks a window against a target; 0 when inside, else -1 after act_fail. */
int pitr_window_check(struct pitr *p, const struct pitr_window *w, int64_t to_us);

/* Formats a time the way PostgreSQL's recovery_target_time reads it, with
 * microseconds: "2026-11-29 09:10:00.123456+00" (buf >= 40). */
char *pitr_pg_time(int64_t us, char *buf, size_t n);
/* Parses PostgreSQL's "2026-11-29 09:10:00.123456+00" (or " UTC") forms. */
int pitr_parse_pg_time(const char *s, int64_t *us);

/* ---- pitr_server.c: a PostgreSQL server on this host ---- */

struct srv {
	struct pitr *p;
	const char *data_dir;
	const char *os_user;
	uid_t uid;
	gid_t gid;
	char bindir[512];
	char *preserve_dir;   /* where replaced data directories are kept */
	char *branch_dir;     /* where branches live */
};

/* Resolves the server fields of a local/pgbackrest resource: the OS user
 * (and that drplay may act as it), the binaries, the directories. 0 or -1
 * after act_fail. */
int srv_init(struct pitr *p, struct srv *s);
void srv_release(struct srv *s);
/* "<bindir>/<tool>" (static buffer). */
const char *srv_tool(struct srv *s, const char *tool);
/* Runs argv as the server's OS user; -1 after act_fail (with the tool's
 * last output lines) unless it exits 0. *out gets its stdout when asked. */
int srv_run(struct srv *s, char *const argv[], char *const *env, const char *what, char **out);
/* The data directory is owned by the OS user and private (0700/0750). */
int srv_check_dir_owner(struct srv *s, const char *dir, const char *what);
/* The postmaster pid of a data directory, or 0 when none runs there. */
pid_t srv_running(const char *dir);
/* Stops the server of dir (pg_ctl stop -m fast, then immediate). When
 * `journal` is set, records database_stopped with `why`. 0 or -1. */
int srv_stop(struct srv *s, const char *dir, int journal, const char *why);
/* Starts the server of dir (pg_ctl start, not waiting) logging to log. */
int srv_start(struct srv *s, const char *dir, const char *log, const char *opts);
/* Waits until the server of dir accepts connections with conninfo (libpq
 * keywords or URI; a password in it is a registered secret) and is out of
 * recovery, the server stays up, and the step is not cancelled. Returns 0,
 * or -1 with err filled (the log's FATAL lines when the server died). */
int srv_wait_ready(struct srv *s, const char *dir, const char *conninfo, const char *log, int64_t timeout_us,
		   char *err, size_t errlen);
/* The timeline and the "Latest checkpoint location" of a stopped data dir
 * (pg_controldata), and the WAL segment size. 0 or -1 after act_fail. */
int srv_controldata(struct srv *s, const char *dir, unsigned *tli, char *lsn, size_t lsnlen, uint64_t *segsize);
/* Before a restore stops a running server, or a branch copies it: a
 * commit after the target time (recovery only knows it reached a time when
 * it sees a later commit), a WAL switch, and (wait_us > 0) a wait until the
 * archiver has the switched segment. A restore passes 0: a clean shutdown
 * archives every finished segment before the server exits, and what the
 * archive still lacks is copied from pg_wal. The current timeline into
 * *tli. Returns 0, or -1 after act_fail. */
int srv_seal_wal(struct srv *s, unsigned *tli, int64_t wait_us);
/* The server's clock (SELECT now()) when it runs, else 0. */
int64_t srv_now(struct srv *s);
/* Copies WAL segment files of old_pgwal that `have` (a directory of
 * archived segments; NULL: those pg_wal has not marked archived) lacks into
 * new_pgwal, as the OS user: what the archive had not received when the
 * server stopped. Segments after `end_name` (the segment of the last
 * checkpoint: later names are recycled files) are left. */
int srv_copy_unarchived_wal(struct srv *s, const char *old_pgwal, const char *have, const char *new_pgwal,
			    const char *end_name);
/* Appends drplay's recovery settings to dir/postgresql.auto.conf (between
 * markers) and creates recovery.signal. lines: "key = 'value'" strings. */
int srv_write_recovery(struct srv *s, const char *dir, const char *const *lines, int signal);
/* Removes the marked recovery settings after promotion. */
void srv_clean_recovery(struct srv *s, const char *dir);
/* Sets settings in dir/postgresql.auto.conf outside the markers (a
 * branch's port, archive_mode = off). */
int srv_set_conf(struct srv *s, const char *dir, const char *const *lines);
/* cp -a src dst, as the OS user. */
int srv_copy_tree(struct srv *s, const char *src, const char *dst, const char *what);
/* rm -rf of a directory tree this family manages (never the data dir). */
int srv_remove_tree(struct srv *s, const char *dir, char *err, size_t errlen);
/* A free TCP port on 127.0.0.1 (bound and released), or 0. */
int srv_free_port(void);
/* A connection string for dir's server: the database resource's DSN with
 * its port replaced (new string; NULL after act_fail). */
char *srv_dsn_with_port(struct srv *s, int port);
/* Records database_started / database_stopped for the database resource. */
void srv_journal_state(struct srv *s, int running, const char *message);
/* A name is safe as a directory name (no '/', not "." or "..", printable). */
int pitr_safe_name(const char *name);

/*
 * The restore procedure shared by local and pgbackrest, around the driver's
 * `lay_down` (which fills the empty data directory and writes the recovery
 * settings). It seals the WAL, stops the server, keeps the data directory
 * under preserve_dir/<preserve_as>, calls lay_down, copies the WAL the
 * archive lacks, starts, waits for promotion; on any failure after the stop
 * it puts the replaced directory back and starts it again, and says so (or
 * says loudly that the database is stopped when even that fails).
 */
struct srv_restore {
	struct srv *s;
	const char *preserve_as;
	const char *archive_dir;     /* for copying unarchived WAL (may be NULL) */
	int copy_wal;                /* copy pg_wal files the archive lacks */
	int needs_recovery;          /* lay_down wrote recovery settings */
	int (*lay_down)(struct srv_restore *rs, unsigned tli);
	void *ud;
	/* results */
	int64_t recovered_us;
	char *preserved_path;
};
int srv_restore_run(struct srv_restore *rs);
/* A data directory kept under preserve_dir is put back in service by copying
 * it (the preserved state itself stays for another undo). */
int srv_lay_down_copy(struct srv_restore *rs, unsigned tli);

/* Preserved data directories (type "preserved") and branches (type
 * "branch") kept under the server's directories, for the list hooks. */
void srv_list_dirs(struct srv *s, json_t *out);
/* Deletes a preserved directory or a branch (stopping its server first).
 * Returns 1 when it found and deleted it, 0 when the name is not one of
 * them, -1 after act_fail. */
int srv_remove_named(struct srv *s, const char *name);
int srv_has_named(struct srv *s, const char *name);

/* A branch of a local/pgbackrest resource: after lay_down filled dir with
 * recovery settings, set its port (free) and archive_mode = off, start it,
 * wait until promoted; *dsn = its connection string. */
int srv_branch_start(struct srv *s, const char *dir, const char *name, char **dsn);
/* Stops and deletes a branch directory. */
int srv_branch_discard(struct srv *s, const char *name);
/* The local and pgbackrest drivers' discard operation: srv_branch_discard
 * on a fresh srv. Returns ACT_OK or ACT_FAIL (act_fail said why). */
int srv_discard_op(struct pitr *p, const char *name);
/* The local and pgbackrest drivers' open_preserved: a copy of the
 * preserved data directory started as a branch named "<name>-salvage"
 * (the preserved directory is never started). ACT_OK or ACT_FAIL. */
int srv_open_preserved(struct pitr *p, const char *name, char **dsn, char **handle);
/* The local and pgbackrest drivers' note_preserved: `salvage` in the
 * preserved state's <name>.drplay.json. */
void srv_note_preserved(struct pitr *p, const char *name, json_t *counts);
/* After a failed branch: removes the unfinished branch and fails the step
 * with the first error plus what was done about it. */
void srv_branch_abandon(struct srv *s, const char *name);

#endif
