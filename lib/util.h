/*
 * util.h: the small shared toolbox, in one include: compiler helpers
 * (base.h), allocation and arenas (alloc.h), string buffers (strbuf.h), the
 * playbook language's times, durations and numbers (units.h), SHA-256
 * (hash.h) and file reads and writes (fileio.h). Each lives in lib/; a file
 * that needs only one may include that one.
 */
#ifndef DRPLAY_UTIL_H
#define DRPLAY_UTIL_H

#include "base.h"
#include "alloc.h"
#include "strbuf.h"
#include "units.h"
#include "hash.h"
#include "fileio.h"

#endif
