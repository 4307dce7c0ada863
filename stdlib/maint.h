/*
 * maint.h: the inside of the maintenance family, shared by maint.c (the
 * `maintenance` resource kind and maintenance.on / .off / .status) and its
 * drivers, one file each: maint_http.c, maint_redis.c, maint_postgres.c,
 * maint_file.c. A driver is a struct driver_def (action.h) whose ops are a
 * struct maint_ops; it reads and writes the flag and says where it lives,
 * and maint.c does the rest (the read-back, the fail mode, the outputs).
 * Adding a driver is adding one such file.
 */
#ifndef DRPLAY_MAINT_H
#define DRPLAY_MAINT_H

#include "family.h"

/* The kind the drivers register for. */
#define MAINT_KIND "maintenance"

/* Outcome of a driver call: done, the store is down (or answered garbage:
 * the application cannot read the flag either), or it refused (settings,
 * credentials). */
enum { M_OK = 0, M_DOWN = 1, M_REFUSED = 2 };

/* The flag and what is stored with it. */
struct mflag {
	int on;
	char *message;
	char *eta;
};

/* One call of an action on one switch. */
struct mctx {
	struct act *a;
	struct resource *r;      /* the switch */
	struct mhandle *h;       /* its per-run handle (maint_state) */
	long req_timeout_ms;     /* the limit of one request to the store */
	char err[900];           /* why the last driver call was not M_OK */
};

/* What a driver does. Each returns M_OK, M_DOWN or M_REFUSED (then with
 * m->err set by maint_seterr). */
struct maint_ops {
	int (*read)(struct mctx *m, struct mflag *f);
	int (*write)(struct mctx *m, const struct mflag *f);
	/* Where the flag lives, for people ("table t row 'x' in db:5432/app"). */
	const char *(*where)(struct mctx *m);
	/* Releases the driver's per-run state (maint_state); NULL: free(). */
	void (*release)(void *state);
};

/* The driver's per-run state of the switch (connections kept across the
 * steps of a run): `size` zeroed bytes on the first call, the same block
 * later; released with the resource by the driver's release. */
void *maint_state(struct mctx *m, size_t size);

/* Sets m->err (one line: line breaks become spaces). */
void maint_seterr(struct mctx *m, const char *fmt, ...) PRINTF_LIKE(2, 3);

/* The switch's key for the boolean in a JSON document (flag_key), and its
 * field `field` (message_key, eta_key) or else `def`. */
const char *maint_flag_key(struct mctx *m);
const char *maint_doc_key(struct mctx *m, const char *field, const char *def);
/* A stored value as the flag: booleans, 0/1, and the words true/false,
 * on/off, yes/no, 1/0. Returns 1/0, or -1 when it is none. */
int maint_flag_value(json_t *v);
/* The flag document the JSON-speaking drivers store: {flag_key: bool,
 * message_key: text, eta_key: text or null} (new reference). */
json_t *maint_flag_doc(struct mctx *m, const struct mflag *f);
/* Reads a flag document into f. M_OK, or M_DOWN (garbage; m->err names
 * `what`). */
int maint_parse_doc(struct mctx *m, json_t *doc, const char *what, struct mflag *f);

#endif
