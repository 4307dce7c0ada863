/*
 * dump.h: what dump.c shares with offsite.c: the streaming inspector of dump bytes (SHA-256, gzip, format sniffing,
 * CREATE TABLE scan) that offsite.check and dump.restore both run on the
 * bytes as they arrive from a store, dump manifests, and the key helpers.
 */
#ifndef DRPLAY_DUMP_H
#define DRPLAY_DUMP_H

#include <signal.h>
#include <stdint.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "../interp/action.h"
#include "stepctx.h"
#include "stores.h"

/* ---- the dump stream inspector ---- */

enum dump_fmt {
	DUMP_UNKNOWN,   /* not enough bytes seen yet */
	DUMP_CUSTOM,    /* pg_dump -Fc ("PGDMP") */
	DUMP_PLAIN,     /* SQL text */
	DUMP_TAR,       /* pg_dump -Ft: recognised, not restorable here */
	DUMP_NOT_A_DUMP,
};
const char *dump_fmt_name(enum dump_fmt f);

typedef int (*dump_out)(void *ud, const void *p, size_t n);

struct dstream {
	/* set by the caller */
	dump_out out;           /* the dump's (decompressed) bytes, or NULL */
	void *out_ud;
	/* called once when the inner format is known, before any out(); may
	 * set out/out_ud (start the consumer); 0 or -1 (it said why) */
	int (*on_format)(void *ud, struct dstream *d);
	void *fmt_ud;
	int scan_tables;        /* plain SQL: collect CREATE TABLE names, count views */
	/* state */
	EVP_MD_CTX *md;
	uint64_t raw;           /* bytes fed (what the store holds) */
	uint64_t plain;         /* bytes after decompression */
	int outer_known, gzip;
	z_stream z;
	int z_inited, z_member_done;
	unsigned char *zbuf;
	enum dump_fmt fmt;
	unsigned char head[1024];
	size_t headn;
	int failed;
	char err[300];          /* why the bytes are not a usable dump */
	struct strbuf line;     /* table scan: the current line's start */
	int line_skip;
	json_t *tables;         /* ["schema.table", ...] from CREATE TABLE */
	int64_t views;          /* CREATE VIEW and CREATE MATERIALIZED VIEW statements */
};

void dstream_init(struct dstream *d);
/* Feeds bytes as they come from the store. 0, or -1: d->err says why the
 * data is bad, or the consumer failed (d->err empty; it said why). */
int dstream_feed(struct dstream *d, const void *p, size_t n);
/* At the end of the object: checks the gzip stream ended cleanly and the
 * format is known; flushes what was held back for sniffing. sha_hex gets
 * the SHA-256 of the raw bytes. 0 or -1 (d->err, or consumer failure). */
int dstream_finish(struct dstream *d, char sha_hex[65]);
void dstream_release(struct dstream *d);

/* pg_dump's version string from a custom archive's first bytes: 0 and
 * ver, or -1 when they are not such a header. */
int dump_header_version(const unsigned char *p, size_t n, char *ver, size_t vn);

/* ---- manifests ---- */

/* The manifest key of a dump: KEY.manifest.json (new string). */
char *dump_manifest_key(const char *key);
/* Reads and validates the manifest of key. Returns 0 (*out a new object
 * with at least sha256 and size), 1 (no manifest), -1 (act_fail: the
 * manifest is unreadable or not valid). */
int dump_read_manifest(struct act *a, struct store *s, const char *key, json_t **out);

/* ---- keys ---- */

/* 1 when key looks like a dump: .dump, .pgdump, .backup, .sql, .sql.gz,
 * .dump.gz (not a manifest, not a temporary file). */
int dump_key_is_dump(const char *key);
/* The time written in a key's file name (20261129T060000Z,
 * 2026-11-29T06:00:00Z, 2026-11-29_06-00-00, 20261129-060000, 2026-11-29,
 * ...; taken as UTC): 0 and *us, or -1 when there is none. */
int dump_key_time(const char *key, int64_t *us);

/* Ignores SIGPIPE while an action writes to pipes and sockets (the
 * previous disposition is restored by sigpipe_restore). */
struct sigpipe_guard {
	struct sigaction old;
};
void sigpipe_ignore(struct sigpipe_guard *g);
void sigpipe_restore(struct sigpipe_guard *g);

/* The path of a PostgreSQL client tool (pg_dump, pg_restore, psql) when no
 * server is involved (pg_restore --list): $DRPLAY_PG_BINDIR/NAME when set,
 * else the newest /usr/lib/postgresql/VERSION/bin/NAME (Debian's layout:
 * skipping the Perl pg_wrapper in /usr/bin saves ~100 ms a start), else
 * NAME, found on PATH. Kept for the process's life. (dump_tools.c) */
const char *dump_pg_tool(const char *name);
/* The client tool NAME for talking to the server of postgres resource r:
 * from r's bin_dir, else $DRPLAY_PG_BINDIR, else the newest of Debian's
 * layout or PATH whose major version is the server's or newer (SPEC 8.5).
 * Sets *version (may be NULL) to the tool's version. The path (kept for the
 * process's life), or NULL after act_fail naming what was found and what
 * to install. */
const char *dump_pg_tool_for(struct act *a, struct resource *r, const char *name, const char **version);
/* The major version in a tool's `--version` line, as a number that orders
 * them ("pg_dump (PostgreSQL) 16.2 (Ubuntu 16.2-1)" -> 1600, 9.6.24 ->
 * 906), with the version itself copied to ver (may be NULL); -1 when there
 * is none. */
int dump_tool_major(const char *line, char *ver, size_t n);
/* The major of a server_version_num, the same way (160002 -> 1600, 90624
 * -> 906). */
int dump_server_major(int server_version_num);

/* Progress of one phase (act_progress): started at once (its clock), then
 * at most every 250 ms, and closed at 100% on a terminal or when a line
 * was already due, so that quick operations print nothing in logs. */
struct prog {
	const char *phase;
	int64_t last;
	int reported;
};
void prog_start(struct act *a, struct prog *p, const char *phase, uint64_t total);
void prog_tick(struct act *a, struct prog *p, uint64_t done, uint64_t total);
void prog_end(struct act *a, struct prog *p, uint64_t done);


#endif
