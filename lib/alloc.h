/*
 * alloc.h: allocation that aborts on failure (like Redis' zmalloc), so no
 * caller checks for NULL; secrets freed wiped; arenas for many small
 * allocations released together (the plan of a run, a document's nodes).
 */
#ifndef DRPLAY_ALLOC_H
#define DRPLAY_ALLOC_H

#include <stddef.h>

#include "base.h"

/* Allocation: never returns NULL; on exhaustion prints a message and aborts. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t sz);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Frees a secret: wipes its bytes first (explicit_bzero), then frees. */
void free_secret(char *s);

/* An arena: many small allocations released together (the plan of a run,
 * the nodes of a document). Allocation aborts on exhaustion like xmalloc. */
struct arena;
struct arena *arena_new(void);
void *arena_alloc(struct arena *a, size_t n);   /* zeroed, 16-byte aligned */
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);
void arena_free(struct arena *a);

#endif
