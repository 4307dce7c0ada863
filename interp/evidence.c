/*
 * evidence.c: `drplay evidence verify`. An evidence document is JSON that
 * report.write wrote with two-space indentation; when signed, its last
 * member is `"signature": {"algorithm", "key_id", "value"}` and the
 * signature covers the file's bytes before the `,` that starts that member
 * (SPEC 8.3.3). The check reads those bytes exactly as they are, verifies
 * the signature against the public key given (lib/sign), and, given the
 * run's journal, checks its chain (chain.c) and that its line N still has
 * the chain the document recorded.
 */
#include "evidence.h"

#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "chain.h"
#include "exitcode.h"
#include "redact.h"
#include "sign.h"
#include "util.h"

#define SIG_MEMBER ",\n  \"signature\": "

struct evcheck {
	const char *file;
	char *text;
	size_t len;
	json_t *doc;
	size_t signed_len; /* bytes the signature covers; 0 when unsigned */
	char *unsigned_why; /* what the signature does not cover, else NULL */
	int bad;           /* checks that did not fit */
};

static void say(const char *fmt, ...) PRINTF_LIKE(1, 2);
static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	redact_vfprintf(stdout, fmt, ap);
	va_end(ap);
}

static void bad(struct evcheck *e, const char *fmt, ...) PRINTF_LIKE(2, 3);
static void bad(struct evcheck *e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	say("DOES NOT FIT: ");
	redact_vfprintf(stdout, fmt, ap);
	say("\n");
	va_end(ap);
	e->bad++;
}

/* A usage-level error, printed the way every command prints one; returns
 * EXIT_INVALID (or -1 for load's callers, who map it). */
static int refuse(const char *fmt, ...) PRINTF_LIKE(1, 2);
static int refuse(const char *fmt, ...)
{
	struct fail f = FAIL_INIT;
	va_list ap;
	va_start(ap, fmt);
	fail_vset(&f, EXIT_INVALID, fmt, ap);
	va_end(ap);
	int rc = fail_print(&f, "drplay evidence verify");
	fail_release(&f);
	return rc;
}

static const char *jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

/* What a reader of the document would see that the signature does not
 * cover, or NULL (caller frees). JSON readers take the last of two members
 * with one name, and the bytes after the signature member are not signed:
 * a member repeated there (a "summary" saying succeeded after a signed one
 * saying failed) would be read, and not be checked. So no name may appear
 * twice in one object, and the signature member must be the last: one
 * object, then the document's closing brace. */
static char *uncovered(const struct evcheck *e)
{
	json_error_t je;
	json_t *strict = json_loadb(e->text, e->len, JSON_REJECT_DUPLICATES, &je);
	if (!strict)
		return xasprintf("it holds a member twice (%s, line %d): a reader sees the last one, which may not be the one signed",
				 je.text, je.line);
	json_decref(strict);
	if (!e->signed_len)
		return NULL;
	const char *sig = e->text + e->signed_len + strlen(SIG_MEMBER);
	size_t rest = e->len - (size_t)(sig - e->text);
	json_t *o = json_loadb(sig, rest, JSON_DISABLE_EOF_CHECK, &je);
	json_decref(o);
	if (!o)
		return xstrdup("its signature member is not one JSON object");
	size_t after = rest - (size_t)je.position;
	const char *tail = sig + je.position;
	if ((after == 2 && !memcmp(tail, "\n}", 2)) || (after == 3 && !memcmp(tail, "\n}\n", 3)))
		return NULL;
	return xasprintf("%zu bytes follow its signature member, which drplay writes last: they are not signed", after);
}

/* Reads and parses the document and finds what its signature covers.
 * 0, or -1 after printing why (usage-level: not an evidence document). */
static int load(struct evcheck *e)
{
	if (read_file(e->file, (size_t)64 << 20, &e->text, &e->len) != 0) {
		refuse("cannot read '%s': %s; check the path", e->file, strerror(errno));
		return -1;
	}
	json_error_t je;
	e->doc = json_loadb(e->text, e->len, 0, &je);
	if (!json_is_object(e->doc) || json_integer_value(json_object_get(e->doc, "drplay_evidence")) != 1) {
		refuse("'%s' is not a drplay evidence document (format 1)%s%s; give the .evidence.json file report.write wrote",
		       e->file, e->doc ? "" : ": ", e->doc ? "" : je.text);
		return -1;
	}
	char *p = NULL;
	for (char *q = e->text; (q = memmem(q, e->len - (size_t)(q - e->text), SIG_MEMBER, strlen(SIG_MEMBER))); q++)
		p = q;
	if (p)
		e->signed_len = (size_t)(p - e->text);
	e->unsigned_why = uncovered(e);
	return 0;
}

/* The signature, against the public key file given (NULL: not checked). */
static void check_signature(struct evcheck *e, const char *keyfile)
{
	json_t *sig = json_object_get(e->doc, "signature");
	if (e->unsigned_why) {
		bad(e, "the document was edited: %s", e->unsigned_why);
		return;
	}
	if (sig && !e->signed_len) {
		bad(e, "the signature member is not where drplay writes it (last, after \",\\n  \"): the document was re-formatted or edited");
		return;
	}
	if (!keyfile) {
		if (sig)
			say("signature: present (Ed25519, key %s) but NOT CHECKED: give --key with the public key\n", jstr(sig, "key_id"));
		else
			say("signature: none: the document is unsigned (its run declared no signing key, or the signature "
			    "was removed), so nothing proves who wrote it or that it is unchanged\n");
		return;
	}
	char *pub = NULL;
	size_t plen = 0;
	if (read_file(keyfile, 1 << 20, &pub, &plen) != 0) {
		bad(e, "cannot read the public key '%s': %s", keyfile, strerror(errno));
		return;
	}
	struct strbuf err = STRBUF_INIT;
	char id[65];
	if (sign_key_id(pub, plen, id, &err) != SIGN_OK) {
		bad(e, "the key '%s' cannot check signatures: %s", keyfile, sb_str(&err));
	} else if (!sig) {
		bad(e, "the document is not signed, and --key requires a signature by key %s", id);
	} else if (strcmp(jstr(sig, "algorithm"), "ed25519") != 0) {
		bad(e, "the signature's algorithm is '%s', expected 'ed25519'", jstr(sig, "algorithm"));
	} else {
		int rc = sign_verify_ed25519(pub, plen, e->text, e->signed_len, jstr(sig, "value"), &err);
		if (rc == SIGN_OK)
			say("signature: verified (Ed25519, key %s, covering the first %zu bytes)\n", id, e->signed_len);
		else if (rc == SIGN_MISMATCH && strcmp(jstr(sig, "key_id"), id) != 0)
			bad(e, "the document says it was signed by key %s, not by the key given (%s), and the signature does not verify with it",
			    jstr(sig, "key_id"), id);
		else if (rc == SIGN_MISMATCH)
			bad(e, "the signature does not verify with key %s: the document was changed after it was signed", id);
		else
			bad(e, "the signature cannot be checked: %s", sb_str(&err));
	}
	sb_release(&err);
	free(pub);
}

/* The journal given: its chain intact, and line N's chain the one recorded. */
static void check_journal(struct evcheck *e, const char *path)
{
	json_t *j = json_object_get(e->doc, "journal");
	long want_line = (long)json_integer_value(json_object_get(j, "lines"));
	const char *want = jstr(j, "chain");
	if (!json_is_object(j) || want_line <= 0 || strlen(want) != 64) {
		bad(e, "the document records no journal chain (the run had no journal), so the journal '%s' cannot be matched", path);
		return;
	}
	struct chain_check c = CHAIN_CHECK_INIT;
	struct fail f = FAIL_INIT;
	c.at_line = want_line;
	if (chain_check_file(path, &c, &f) != 0) {
		bad(e, "%s", fail_text(&f));
	} else if (c.bad_line && c.bad_line <= want_line) {
		bad(e, "the journal '%s' does not fit its chain at line %ld: %s", path, c.bad_line, sb_str(&c.why));
	} else if (c.lines < want_line) {
		bad(e, "the journal '%s' has %ld lines, and the document recorded its chain at line %ld: lines were removed, or it is another run's journal",
		    path, c.lines, want_line);
	} else if (strcmp(c.at_chain, want) != 0) {
		bad(e, "the journal's chain at line %ld is %s, the document recorded %s: it is not the journal of run %s, or it was rewritten",
		    want_line, c.at_chain, want, jstr(e->doc, "run"));
	} else {
		say("journal: chain matches at line %ld (%s)%s\n", want_line, want,
		    c.bad_line ? "" : "; the lines after it fit the chain too");
		if (c.bad_line)
			bad(e, "the journal '%s' does not fit its chain at line %ld, after the part the document covers: %s", path,
			    c.bad_line, sb_str(&c.why));
	}
	chain_check_release(&c);
	fail_release(&f);
}

static int verify(const char *file, const char *key, const char *journal)
{
	struct evcheck e = { .file = file };
	int rc = EXIT_INVALID;
	if (load(&e) == 0) {
		json_t *pb = json_object_get(e.doc, "playbook");
		say("evidence %s: run %s of '%s' (%s, sha256 %s), %s mode, %s\n", file, jstr(e.doc, "run"), jstr(pb, "name"),
		    jstr(pb, "file"), jstr(pb, "sha256"), jstr(e.doc, "mode"),
		    jstr(json_object_get(e.doc, "summary"), "outcome"));
		check_signature(&e, key);
		if (journal)
			check_journal(&e, journal);
		if (e.bad)
			say("evidence %s: %d check%s did not fit\n", file, e.bad, e.bad == 1 ? "" : "s");
		else if (!key && json_object_get(e.doc, "signature"))
			say("evidence %s: every check made fits, but the signature was not checked (no --key)\n", file);
		else if (!json_object_get(e.doc, "signature"))
			say("evidence %s: every check made fits, but the document is unsigned\n", file);
		else
			say("evidence %s: every check fits\n", file);
		rc = e.bad ? EXIT_CHECK_FAILED : EXIT_OK;
	}
	json_decref(e.doc);
	free(e.unsigned_why);
	free(e.text);
	return rc;
}

int evidence_command(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "journal", required_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const char *key = NULL, *journal = NULL;
	if (argc < 2 || strcmp(argv[1], "verify") != 0) {
		return refuse("usage: drplay evidence verify FILE [--key PUBLIC_KEY] [--journal JOURNAL]");
	}
	int c;
	optind = 2;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'k')
			key = optarg;
		else if (c == 'j')
			journal = optarg;
		else {
			return refuse("unknown or incomplete option '%s'; see `drplay help evidence`", argv[optind - 1]);
		}
	}
	if (optind != argc - 1) {
		return refuse("give exactly one evidence file; see `drplay help evidence`");
	}
	return verify(argv[optind], key, journal);
}
