/*
 * node.h: the document tree the loader builds from libyaml events. Every node
 * keeps the file:line:col where it starts, so that every later error can point
 * at the place in the playbook. Nodes live in the document's arena and are
 * freed with it; aliases share the anchored subtree (the tree is a DAG whose
 * expanded size the loader bounds).
 */
#ifndef DRPLAY_NODE_H
#define DRPLAY_NODE_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* A place in a source file; lines and columns start at 1. */
struct loc {
	const char *file;
	int line, col;
};

enum node_kind { N_SCALAR, N_MAP, N_SEQ };

/* How a plain scalar resolves (YAML 1.2 core schema); quoted scalars are
 * always strings. */
enum scalar_type { S_NULL, S_BOOL, S_INT, S_FLOAT, S_STR };

struct node {
	enum node_kind kind;
	struct loc loc;
	/* N_SCALAR */
	char *str;
	size_t len;
	int quoted;          /* 1 when single/double quoted or block literal */
	/* N_MAP: keys[i] -> vals[i]; N_SEQ: vals[i] */
	size_t n;
	struct node **keys;
	struct node **vals;
};

/* A loaded document: the tree plus the source text (for carets). */
struct doc {
	char *file;           /* as given on the command line */
	char *src;            /* the whole file, NUL-terminated */
	size_t srclen;
	char sha256[65];      /* of the file's bytes */
	struct node *root;    /* NULL when loading failed */
	struct arena *arena;  /* owns every node */
	/* A shipped procedure imported by a playbook: the importing line (its
	 * file NULL otherwise) and the reference as written there. */
	struct loc imported_at;
	const char *import_ref;
	/* The procedure this playbook imports (owned: freed with it), or NULL. */
	struct doc *imported;
	/* Resources the import bound to a declaration of the wrong kind: the
	 * import reported each once, so the checker is silent about their uses
	 * (names borrowed from the importing document; the array owned). */
	const char **misbound;
	size_t nmisbound;
};

struct diags;

/* Limits that keep hostile input bounded in memory and time. */
#define LOAD_MAX_BYTES (8u << 20)     /* 8 MiB of YAML */
#define LOAD_MAX_DEPTH 64             /* nesting of maps/sequences */
#define LOAD_MAX_NODES 2000000        /* nodes including alias expansion */

/* What diagnostics and the journal call the playbook read from standard
 * input (the path "-"). */
#define DOC_STDIN_NAME "<stdin>"

/* Loads and parses a YAML file into a doc ("-" reads standard input; a
 * path that is not a regular file is refused at once). Errors (I/O, syntax, tabs,
 * invalid UTF-8, duplicate keys, depth/size/alias budgets, more than one
 * document) are added to d with their location. Returns the doc (caller frees
 * with doc_free) even on error, with root NULL if nothing usable was read. */
struct doc *doc_load(const char *path, struct diags *d);
/* Same, from a buffer (the fuzzer and tests use it); `name` labels errors. */
struct doc *doc_load_buf(const char *name, const char *buf, size_t len, struct diags *d);
void doc_free(struct doc *doc);

/* The value for key in a mapping, or NULL. */
struct node *node_get(const struct node *map, const char *key);
/* The resolved type of a scalar (see enum scalar_type). */
enum scalar_type node_scalar_type(const struct node *n);
/* Scalar helpers: 0 on success, -1 when the scalar is not of that type. */
int node_bool(const struct node *n, int *out);
int node_int(const struct node *n, int64_t *out);
int node_number(const struct node *n, double *out);
const char *node_kind_name(const struct node *n);
/* Converts a subtree to JSON with YAML core-schema typing (new reference). */
json_t *node_to_json(const struct node *n);

#endif
