/*
 * hash.h: SHA-256 through OpenSSL, and random hex identifiers.
 */
#ifndef DRPLAY_HASH_H
#define DRPLAY_HASH_H

#include <stddef.h>

/* SHA-256 of a buffer, as 64 lowercase hex characters into hex[65]. */
void sha256_hex(const void *data, size_t n, char hex[65]);
/* SHA-256 of a file's content; 0 on success, -1 with errno on I/O failure. */
int sha256_file_hex(const char *path, char hex[65]);

/* Random bytes from the kernel as hex (n bytes -> 2n chars + NUL). */
void random_hex(char *out, size_t nbytes);

#endif
