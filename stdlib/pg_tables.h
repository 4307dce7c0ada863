/*
 * pg_tables.h: what other families may use of the pg family beyond its
 * connections (pg.h): tables looked up by name in the catalogs, with their
 * columns, keys and leaf partitions (pg_catalog.c); the order-independent
 * sums of row digests that content checksums are made of, the canonical
 * session settings they are computed under, and the hashing of a COPY
 * stream (pg_checksum.c). verify.c compares states with these.
 */
#ifndef DRPLAY_PG_TABLES_H
#define DRPLAY_PG_TABLES_H

#include <stdint.h>
#include <jansson.h>

#include "pg.h"
#include "strbuf.h"

/* ---- tables (pg_catalog.c) ---- */

/* A relation that holds rows of a table: the table itself, or one of the
 * leaf partitions of a partitioned table. */
struct pgleaf {
	int64_t oid;
	char *qname;   /* quoted, schema-qualified */
	char *key;     /* "schema.name" */
	int64_t bytes; /* pg_relation_size at the snapshot */
};

struct pgtab {
	int64_t oid;
	char *schema, *name; /* as in the catalog */
	char *key;           /* "schema.name", the name in outputs and states */
	char *qname;         /* quote_ident(schema).quote_ident(name) */
	char relkind;        /* r, p, v, m, f */
	char *parent_key;    /* partitions: the direct parent's key, else NULL */
	int unpopulated;     /* a materialized view created WITH NO DATA (not readable) */
	/* pgt_details: */
	int detailed;
	char **cols;         /* quoted column names in column order */
	char **coltypes;     /* format_type of each column */
	size_t ncols;
	char *collist;       /* the quoted names joined with ", " */
	char **pk;           /* primary key columns (raw names) in key order */
	char **pkq;          /* ... quoted */
	char **pktypes;      /* ... their types, for casts (format_type without typmod) */
	size_t npk;
	char *pk1q;          /* quoted first key column */
	char *pk1_type;      /* its type, for casts (format_type without typmod) */
	int pk1_int;         /* 1 when it is int2, int4 or int8 */
	char *pkrow;         /* SQL for the key as text: "pk1::text" or "ROW(a, b)::text" */
	struct pgleaf *leaves;
	size_t nleaves;
};

/* True for names of system schemas (pg_catalog, information_schema, pg_toast*, pg_temp*). */
int pg_system_schema(const char *nsp);

/* Looks `name` up (SPEC.md, 'Table names') into *t (zeroed first). Returns 0;
 * 1 when there is no such table and missing_ok is set; else -1 after
 * act_fail naming the table and the database (dblabel). */
int pgt_resolve(struct act *a, PGconn *c, const char *dblabel, const char *name, struct pgtab *t, int missing_ok);
/* Looks a table up by its exact schema and name as stored in a state key
 * ("schema.name", the schema being the part before some dot). Returns 0,
 * 1 when it does not exist, -1 after act_fail (query failure). */
int pgt_resolve_key(struct act *a, PGconn *c, const char *key, struct pgtab *t);
/* Every table of the given relkinds in the listed schemas (a JSON list of
 * names; NULL = every non-system schema), sorted by key; with
 * with_partitions 0, partitions are left out. *out is a new array (free
 * with pgt_free_all). Returns 0 or -1 after act_fail. */
int pgt_list(struct act *a, PGconn *c, json_t *schemas, const char *relkinds, int with_partitions,
	     struct pgtab **out, size_t *n);
/* The partitions of a partitioned table, all levels (not the table itself),
 * appended to *out (count in *n) as new entries. Returns 0 or -1 after act_fail. */
int pgt_partitions(struct act *a, PGconn *c, const struct pgtab *t, struct pgtab **out, size_t *n);
/* Fills columns, primary key and leaves. Returns 0 or -1 after act_fail. */
int pgt_details(struct act *a, PGconn *c, struct pgtab *t);
void pgt_release(struct pgtab *t);
void pgt_free_all(struct pgtab *t, size_t n);
/* ---- the proof of a dump (pg_actions.c) ---- */

/* A state in pg.capture's format (counts of every table and partition,
 * checksums of every table and materialized view, the schema and the
 * sequences) read in the snapshot another session exported, in the
 * background: pg_proof_start joins the snapshot, plans the reads and starts
 * the worker threads (0 and *out, or -1 after act_fail); the caller works
 * meanwhile, keeping the exporting transaction open until pg_proof_finish,
 * which waits and returns the state (new reference; captured_at is
 * taken_at) or NULL after act_fail. pg_proof_abort stops it quietly. Both
 * free the proof. */
struct pgproof;
int pg_proof_start(struct act *a, struct resource *r, const char *snapshot, const char *taken_at, int jobs,
		   struct pgproof **out);
json_t *pg_proof_finish(struct act *a, struct pgproof *p);
void pg_proof_abort(struct pgproof *p);

/* ---- content checksums (pg_checksum.c) ---- */

/* A 256-bit sum of row digests (modulo 2^256, little-endian 64-bit limbs)
 * and the number of rows in it. */
struct acc {
	uint64_t s[4];
	int64_t rows;
};
void acc_add(struct acc *x, const struct acc *y);
void acc_sub(struct acc *x, const struct acc *y);
void acc_add_digest(struct acc *x, const unsigned char d[32]);
int acc_eq(const struct acc *x, const struct acc *y);
/* The sum as 64 hex digits (big-endian), into hex[65]. */
void acc_hex(const struct acc *x, char hex[65]);
/* Parses 64 hex digits into x->s. 0, or -1 when malformed. */
int acc_parse(struct acc *x, const char *hex);
/* The table digest of SPEC.md, 'Content checksums', as 64 hex digits. */
void acc_digest(const struct acc *x, char hex[65]);

/* Sets the canonical session settings (SPEC.md, 'Content checksums') for the current
 * transaction (local = 1) or the session. 0 or -1 after act_fail. */
int pg_canonical_settings(struct act *a, PGconn *c, int local);

/* Streams `sql` (a COPY ... TO STDOUT) on c from the main thread,
 * cancellable, calling line(ud, buf, len) for each line as it arrives (buf
 * holds the line with its newline; a non-zero return stops the statement).
 * Returns 0, or -1 with a message in *err (caller frees). */
int pg_copy_each(struct act *a, PGconn *c, const char *sql, int (*line)(void *ud, const char *buf, size_t len),
		 void *ud, char **err);

/* ---- row diffs (pg_rowdiff.c) ---- */

/* The rows that differ between two sides of a table. Stream side 0, then
 * side 1, each with rowdiff_read (a COPY of "key<TAB>row" lines when keyed,
 * else of rows), then rowdiff_finish. on_key (optional) gets each key as
 * COPY printed it: kind 1 only on side 1, 2 changed, 0 only on side 0
 * (from rowdiff_finish, when keep_text). Zero-initialize, set keyed,
 * keep_text, on_key, ud; release with rowdiff_release. */
struct rowdiff {
	int keyed, keep_text;
	void (*on_key)(void *ud, int kind, const char *key, size_t len);
	void *ud;
	int64_t only0, only1, changed; /* rows; only0 after rowdiff_finish */
	struct acc sum[2];             /* each side's sum of row digests */
	/* inside */
	struct rd_ent *e;
	size_t cap, n;
	struct strbuf arena;
};
/* 0, or -1 with a message in *err (caller frees). */
int rowdiff_read(struct act *a, PGconn *c, const char *sql, struct rowdiff *rd, int side, char **err);
/* Reads side 0 (sql0 on c0) and side 1 (sql1 on c1) at the same time, with
 * the result of rowdiff_read of one then the other. 0, or -1 with a
 * message in *err0 and/or *err1 (caller frees both). */
int rowdiff_read_pair(struct act *a, PGconn *c0, const char *sql0, PGconn *c1, const char *sql1, struct rowdiff *rd,
		      char **err0, char **err1);
/* Sizes the table for about `rows` side-0 rows before reading (a hint, e.g.
 * pg_class.reltuples), sparing the copies of growing it row by row. */
void rowdiff_reserve(struct rowdiff *rd, int64_t rows);
void rowdiff_finish(struct rowdiff *rd);
void rowdiff_release(struct rowdiff *rd);

/* Streams `sql` (a COPY ... TO STDOUT) on c from the main thread,
 * cancellable, hashing each line; with keyed = 1 each line starts with a key
 * text and a tab: then up to max_keys (key, row digest) pairs are also
 * returned in *keys (a JSON object key -> hex digest; NULL when not asked).
 * Returns 0, or -1 with a message in *err (caller frees). */
int pg_copy_hash(struct act *a, PGconn *c, const char *sql, int keyed, struct acc *out, json_t **keys,
		 size_t max_keys, char **err);

#endif
