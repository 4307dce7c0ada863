/*
 * pg.h: the `postgres` resource kind, shared by every family that talks to
 * PostgreSQL (pg.*, verify, dump.*, pitr.*, maintenance's postgres driver).
 * Connections are opened lazily through libpq, reused within a run, and
 * closed when the run ends (the kind's release). drplay's own sessions (and
 * its children's, through pg_child_conninfo) run with
 * default_transaction_read_only=off, so they still write while pg.freeze
 * holds the database read-only for the application. Passwords found in a DSN are
 * registered as secrets; errors name the resource and host:port, never the
 * password, and say what to check.
 */
#ifndef DRPLAY_PG_H
#define DRPLAY_PG_H

#include <libpq-fe.h>

#include "../interp/action.h"

extern const struct kind_def pg_kind;

/* The run's connection to the resource's own database (opened on first use,
 * kept until the run ends; do not PQfinish it). NULL after act_fail. */
PGconn *pg_connect(struct act *a, struct resource *r);
/* A connection to another database on the same server (e.g. one this run
 * created), cached like pg_connect. NULL after act_fail. */
PGconn *pg_connect_db(struct act *a, struct resource *r, const char *dbname);
/* A new, uncached connection to the resource's database (or dbname when not
 * NULL), for parallel workers. The caller PQfinish()es it. NULL after act_fail. */
PGconn *pg_connect_new(struct act *a, struct resource *r, const char *dbname);
/* Forgets (and closes) cached connections of a resource: after the server
 * restarted, or before dropping a database. dbname NULL = all. */
void pg_forget(struct resource *r, const char *dbname);

/* The backend pids of every connection this run keeps open (all postgres
 * resources), at most max, into pids; returns how many. pg.freeze spares
 * them. */
size_t pg_own_backend_pids(int *pids, size_t max);

/* Connection settings for a child process (pg_dump, pg_restore, psql) that
 * keep the password out of argv: *conninfo is a libpq keyword/value string
 * without the password (dbname replaced when dbname is set), *password_env is
 * "PGPASSWORD=..." or NULL. Both are new strings (free *password_env with
 * free_secret). The conninfo carries the resource's application_name and
 * options='... -c default_transaction_read_only=off', so a child (pg_restore)
 * can write into a database frozen by pg.freeze. Returns 0, or -1 after
 * act_fail. */
int pg_child_conninfo(struct act *a, struct resource *r, const char *dbname, char **conninfo,
		      char **password_env);
/* "host:port/dbname" of the resource, for messages (static buffer). */
const char *pg_where(struct resource *r);
/* The resource's database name (from the DSN; default: the user name). */
const char *pg_dbname(struct resource *r);

/* Runs a statement that returns nothing or rows; on error calls act_fail with
 * "what: <server message>" and returns NULL. The caller PQclear()s. */
PGresult *pg_exec(struct act *a, PGconn *c, const char *what, const char *sql);
/* The same with parameters ($1...). With values non-NULL (even when nparams
 * is 0) the statement goes through the extended protocol, which accepts one
 * statement only; with values NULL, several statements separated by ';' run. */
PGresult *pg_execp(struct act *a, PGconn *c, const char *what, const char *sql, int nparams,
		   const char *const *values);
/* The text of a failed result for messages: the server's primary message,
 * then its DETAIL and HINT when present ("msg; detail: ...; hint: ..."), or
 * libpq's first line when there is no server message. Every pg action words
 * server errors through this. New string. */
char *pg_result_error(const PGresult *res, PGconn *c);
/* First line of a libpq error message, without "ERROR:  " (static buffer per thread). */
const char *pg_first_line(const char *msg);
/* The primary message of the last statement that failed in pg_exec /
 * pg_execp (main thread), and its SQLSTATE in *sqlstate when not NULL
 * ("08006" when the connection failed). Static buffers, "" when none. */
const char *pg_last_error(const char **sqlstate);
/* Quotes an identifier / literal for SQL (new strings, caller frees). */
char *pg_ident(PGconn *c, const char *name);
char *pg_literal(PGconn *c, const char *value);

#endif
