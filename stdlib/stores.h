/*
 * stores.h: the stores family: the `s3` and `dir` resource kinds and the
 * store of such a resource (lib/store.h), for the families that read and
 * write off-site objects.
 */
#ifndef DRPLAY_STORES_H
#define DRPLAY_STORES_H

#include "../interp/action.h"
#include "store.h"

/* A parameter's kind that takes either store: "s3|dir". */
#define STORE_KINDS "s3|dir"

extern const struct kind_def s3_kind;
extern const struct kind_def dir_kind;

/* The store of a resource of kind s3 or dir, opened on first use and kept
 * for the run (its connections are reused). NULL after act_fail. */
struct store *store_open(struct act *a, struct resource *r);

#endif
