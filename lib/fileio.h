/*
 * fileio.h: whole-file reads with a size limit, and complete writes.
 */
#ifndef DRPLAY_FILEIO_H
#define DRPLAY_FILEIO_H

#include <stddef.h>

/* Reads a whole file up to max bytes. Returns 0 and a NUL-terminated buffer
 * (caller frees), -1 with errno set (EFBIG when larger than max). A named
 * pipe that no process has open for writing reads as empty (never blocks
 * the open). */
int read_file(const char *path, size_t max, char **out, size_t *len);
/* The same from an open descriptor, read to its end (the caller closes it). */
int read_fd(int fd, size_t max, char **out, size_t *len);

/* Writes all of buf to fd, retrying on EINTR/short writes. 0 or -1. */
int write_all(int fd, const void *buf, size_t n);

#endif
