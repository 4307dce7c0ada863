/*
 * chain.h: the journal's hash chain (SPEC section 6). Every line of a run's
 * journal ends with a member `"chain":"<hex>"`: the SHA-256 of the previous
 * line's chain (64 hex characters; 64 zeros before the first line) followed
 * by this line's bytes before `,"chain":"`. Each line also carries `seq`, its
 * number in the run (1, 2, ...), so that a check can tell a deleted line from
 * a moved one. Changing, deleting, inserting or reordering a line breaks the
 * chain at that line; `drplay status --verify` and `drplay evidence verify`
 * name the first line that does not fit.
 */
#ifndef DRPLAY_CHAIN_H
#define DRPLAY_CHAIN_H

#include <stddef.h>

#include "fail.h"
#include "strbuf.h"

/* The chain before the first line: 64 zeros. */
extern const char chain_genesis[65];

/* The chain of a line: SHA-256 of prev (64 hex characters) and body[0..n),
 * the line's bytes before its chain member, as hex into out[65]. */
void chain_next(const char prev[65], const char *body, size_t n, char out[65]);

/* The result of checking a journal file. */
struct chain_check {
	long at_line;        /* in: a line whose chain to report (0: none) */
	char at_chain[65];   /* out: that line's chain when it was read and fits, else "" */
	long lines;          /* lines in the file */
	long bad_line;       /* the first line that does not fit (1-based), 0 when all fit */
	struct strbuf why;   /* what is wrong with that line and what was expected */
	char last[65];       /* the chain of the last line that fits (when all fit, or torn) */
	int has_end;         /* the file has a run_end event */
	int torn;            /* bad_line is the last line, without its line end (and all before fit) */
};
#define CHAIN_CHECK_INIT { 0, "", 0, 0, STRBUF_INIT, "", 0, 0 }

/* Checks the chain of the journal at path. Returns 0 when the file was
 * read (c->bad_line says whether every line fits), or -1 with f set
 * (EXIT_INVALID) when it cannot be read. */
int chain_check_file(const char *path, struct chain_check *c, struct fail *f);
void chain_check_release(struct chain_check *c);

/* `drplay status --verify`: checks the journal at path and prints the
 * verdict (text, or one JSON object with --json). running is whether the
 * run is still running (journal_run_alive: 1, 0, or -1 unknown; pid its
 * process): a last line without its line end while the run runs is being
 * written, not cut off, and the lines before it are the verdict. Returns
 * EXIT_OK when every line fits (or only that one is unfinished),
 * EXIT_CHECK_FAILED when one does not (named), EXIT_INVALID when the file
 * cannot be read. */
int chain_verify_print(const char *path, int json, int running, long pid);

#endif
