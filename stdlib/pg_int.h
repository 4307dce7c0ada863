/*
 * pg_int.h: what the files of the pg family share among themselves (not an
 * API for other families; theirs is pg.h): table lookup in the catalogs
 * (pg_catalog.c), the read snapshot and the parallel worker pool that counts,
 * reads freshness and checksums tables (pg_checksum.c), the canonical schema
 * text (pg_schema.c), and the capture of a state (pg_actions.c). What other
 * families may use of them (verify.c does) is in pg_tables.h.
 */
#ifndef DRPLAY_PG_INT_H
#define DRPLAY_PG_INT_H

#include <stdint.h>
#include <jansson.h>

#include "pg.h"
#include "pg_tables.h"

/* pg.drop (pg_drop.c), in the family table of pg_actions.c */
extern const struct action_def pg_drop_def;

/* ---- tables (pg_catalog.c) ---- */

/* Adds a copy of *t to a growable array. */
void pgt_push(struct pgtab **arr, size_t *n, const struct pgtab *t);
/* Index of the table with key `key` in arr, or -1. */
long pgt_find(const struct pgtab *arr, size_t n, const char *key);

/* ---- the read snapshot (pg_checksum.c) ---- */

/* One consistent read of a database: the run's connection to it, inside a
 * REPEATABLE READ READ ONLY transaction with the canonical session settings
 * (SPEC.md, 'Content checksums'), whose snapshot parallel workers import. */
struct pgsnap {
	struct resource *r;
	PGconn *c;
	char snapshot[128];
	char captured_at[48]; /* RFC 3339 UTC with microseconds */
	int64_t captured_us;
	char server_version[64];
	int server_num;
	char database[256];
	char server[256];     /* host:port */
	char user[256];
	int64_t block_size;
	int open;
};

/* Begins the transaction and exports its snapshot. Returns 0, or -1 after act_fail. */
int pgsnap_begin(struct act *a, struct resource *r, struct pgsnap *s);
/* Joins a snapshot another session exported (dump.create's), with the
 * canonical settings: the same read as pgsnap_begin's, of that moment.
 * captured_at is this transaction's start; the caller sets the snapshot's
 * own time. 0, or -1 after act_fail. */
int pgsnap_import(struct act *a, struct resource *r, const char *snapshot, struct pgsnap *s);
/* Ends it (ROLLBACK; nothing was written). Safe to call twice or after a failure. */
void pgsnap_end(struct pgsnap *s);
/* Takes ACCESS SHARE locks on what will be read, so that nothing is
 * rewritten underneath: LOCK TABLE for tables, and for materialized views
 * (which LOCK TABLE refuses) the lock the parser takes on a relation it
 * plans a read of. Foreign tables are not locked (their data is the remote
 * server's). 0 or -1 after act_fail. */
int pgsnap_lock(struct act *a, struct pgsnap *s, struct pgtab *const *t, size_t n);

/* ---- the worker pool (pg_checksum.c) ---- */


enum unit_kind { U_SCALAR, U_HASH, U_ROWS };

/* One statement for a worker. U_SCALAR: a query returning one row, whose
 * first two columns are kept as text. U_ROWS: statements whose first row
 * set is kept whole (res). U_HASH: a COPY ... TO STDOUT whose rows are
 * hashed; when nb > 0 each line starts with a range number (0..nb-1) and a
 * tab, which are not part of the row. */
struct unit {
	enum unit_kind kind;
	size_t task;      /* the caller's index (a table) */
	char *sql;        /* owned */
	int64_t bytes;    /* heap bytes it reads, for progress */
	int64_t cost;     /* for scheduling, longest first: bytes, or what a catalog read weighs as much as */
	int nb;           /* U_HASH: number of ranges (0 = no range column) */
	int keycol;       /* U_HASH with nb > 0: >= 0 when the client finds the
			   * range itself from this (integer) column of the row,
			   * lo0 + i * width being the bounds; -1 when each line
			   * starts with the range number the server computed */
	int64_t lo0, width;
	/* results */
	char *v1, *v2;    /* U_SCALAR: values (NULL = SQL NULL) */
	PGresult *res;    /* U_ROWS: the first row set */
	struct acc *acc;  /* U_HASH: max(nb, 1) sums */
	int64_t rows;
	char *error;      /* first line of the server's or libpq's message */
	int lost;         /* the connection was lost (server gone) */
	int done;
};
void unit_release(struct unit *u);

/* Runs the units over up to `jobs` connections in the snapshot (the
 * snapshot's own connection plus jobs-1 new ones), reporting progress as
 * `phase`. Returns 0 when every unit succeeded; 1 when a unit failed (the
 * first to fail is u[*failed]; its error and `lost` say why: the caller
 * words the step's failure, naming the table); -1 after act_fail when
 * cancelled or a worker connection could not be opened. */
int pool_run(struct act *a, struct pgsnap *s, struct unit *u, size_t n, int jobs, const char *phase,
	     size_t *failed);
/* The same in two halves, so that the caller works meanwhile (dump.create
 * uploads while its proof is read): pool_start opens the connections and
 * starts the threads (0, or -1 after act_fail); pool_finish waits for them
 * and returns as pool_run does; pool_abort stops them without a word. Both
 * free the pool. */
struct poolrun;
int pool_start(struct act *a, struct pgsnap *s, struct unit *u, size_t n, int jobs, struct poolrun **out);
int pool_finish(struct act *a, struct poolrun *p, const char *phase, size_t *failed);
void pool_abort(struct poolrun *p);
/* The default for `jobs`: the number of online processors (at least 1). */
int pool_default_jobs(void);

/* ---- checksums of one table (pg_checksum.c) ---- */

struct ckplan {
	char **bounds;    /* split points (text), sorted; nbounds + 1 ranges */
	size_t nbounds;
	char *bounds_lit; /* SQL literal of the bounds array, cast to the key type */
	int uniform;      /* integer bounds lo0, lo0 + width, ... (the client can place rows) */
	int64_t lo0, width;
};
void ckplan_release(struct ckplan *p);
/* Chooses bounds for t (detailed, with a key) in the snapshot: from `reuse`
 * (a state's checksum entry for this table) when its key matches, else from
 * the data (SPEC.md, 'Content checksums'), at most max_ranges ranges. 0 or -1 after act_fail. */
int ckplan_make(struct act *a, struct pgsnap *s, const struct pgtab *t, json_t *reuse, int max_ranges,
		struct ckplan *p);
/* Appends the U_HASH units that read t (split into block ranges). */
void ckplan_units(const struct pgsnap *s, const struct pgtab *t, const struct ckplan *p, size_t task, int jobs,
		  struct unit **u, size_t *n, size_t *alloc);
/* The state entry of a table from its units' results (new reference). */
json_t *ckplan_entry(const struct pgtab *t, const struct ckplan *p, const struct unit *u, size_t n, size_t task);

/* ---- sequence positions (pg_sequences.c) ---- */

struct pgseq {
	int64_t oid;
	char *key, *qname;         /* "schema.name", quoted */
	int64_t inc, min, max, cache;
	int cycle;
	int read;                  /* the position was read */
	char *last;                /* last_value as text */
	int64_t last_v;
	int is_called;
	char *next;                /* what nextval returns next; NULL when exhausted */
};

/* A column a sequence feeds (owned by, identity, or a nextval default). */
struct pgseqfeed {
	size_t seq;                /* index in the pgseq array */
	struct pgtab t;            /* its table: oid, key, qname, relkind */
	char *column;              /* "schema.table.column" */
	char *colq;                /* quoted column name */
	/* results */
	int checked;
	char *edge;                /* the column's max (min when descending); NULL when empty */
	int behind;                /* edge reaches next: nextval would return a taken value */
};

/* Lists the sequences of the schemas (NULL = every non-system one) and the
 * columns they feed. New arrays (free with pgseq_free / pgseq_feeds_free).
 * 0, or -1 after act_fail. */
int pgseq_list(struct act *a, struct pgsnap *s, json_t *schemas, struct pgseq **out, size_t *n,
	       struct pgseqfeed **feeds, size_t *nfeeds);
/* Appends the U_ROWS units (tagged task) that read the positions and the
 * fed columns' extremes, in batches. */
void pgseq_units(const struct pgseq *q, size_t nq, const struct pgseqfeed *f, size_t nf, size_t task,
		 struct unit **u, size_t *n, size_t *alloc);
/* Once they ran: fills positions, next values, extremes and `behind`. */
void pgseq_collect(struct pgseq *q, size_t nq, struct pgseqfeed *f, size_t nf, const struct unit *u, size_t n,
		   size_t task);
/* The state's `sequences` section (new reference); logs a warning for
 * each sequence behind a column it feeds. */
json_t *pgseq_section(struct act *a, const struct pgseq *q, size_t n, const struct pgseqfeed *f, size_t nf);
void pgseq_free(struct pgseq *q, size_t n);
void pgseq_feeds_free(struct pgseqfeed *f, size_t n);

/* ---- the canonical schema (pg_schema.c) ---- */

/* The canonical schema text (SPEC.md, 'The canonical schema text') is read
 * by the worker pool, in the snapshot, one catalog query per unit:
 * pg_schema_units appends the U_ROWS units reading the schemas listed (NULL
 * = all non-system ones; with privileges, owners and access privileges
 * too), tagged with task; 0, or -1 after act_fail. Once they ran,
 * pg_schema_collect returns the text (a new string: lines sorted, joined
 * with '\n', no trailing newline) and its number of lines in *objects. */
int pg_schema_units(struct act *a, PGconn *c, json_t *schemas, int privileges, size_t task, struct unit **u,
		    size_t *n, size_t *alloc);
char *pg_schema_collect(const struct unit *u, size_t n, size_t task, int64_t *objects);

/* ---- small helpers ---- */

/* A PostgreSQL text[] literal ({"a","b"}) of a JSON list of strings (new string). */
char *pg_text_array(json_t *list);
/* Converts a JSON list of strings / a single string into a NULL-terminated
 * array of borrowed strings (free the array only). NULL for other values. */
const char **json_strings(json_t *v, size_t *n);

#endif
