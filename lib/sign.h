/*
 * sign.h: Ed25519 signatures through OpenSSL, for manifests and evidence.
 *
 * Keys are PEM text held in memory (read from a secret or a file by the
 * caller): a private key as `openssl genpkey -algorithm ed25519` writes it
 * (PKCS#8, "BEGIN PRIVATE KEY", unencrypted) and a public key as
 * `openssl pkey -pubout` writes it ("BEGIN PUBLIC KEY"). A signature is the
 * 64-byte Ed25519 signature of the message itself (pure Ed25519, no prehash:
 * the same bytes `openssl pkeyutl -sign -rawin` writes), carried as standard
 * base64 with padding: always SIGN_B64_LEN characters. A key is named by its
 * id: the SHA-256 of its 32-byte raw public key, in lowercase hex, the same
 * for a private key and its public half.
 *
 * Failures are values: each function returns a status and, on failure,
 * leaves the reason in `err` (replacing what was there; err may be NULL). A
 * reason names what is wrong and what to do, and never contains key bytes.
 */
#ifndef DRPLAY_SIGN_H
#define DRPLAY_SIGN_H

#include <stddef.h>

#include "strbuf.h"

/* Characters of a base64 signature, without the terminating NUL. */
#define SIGN_B64_LEN 88

enum sign_status {
	SIGN_OK = 0,        /* signed, or the signature verifies */
	SIGN_MISMATCH = 1,  /* well-formed, but not this message signed by this key */
	SIGN_ERROR = -1,    /* the key or the signature is unusable (see err) */
};

/* Signs msg[0..n) with the Ed25519 private key in PEM `key` (klen bytes; a
 * trailing NUL is not needed). Writes the base64 signature and a NUL into
 * sig[SIGN_B64_LEN + 1]. SIGN_OK, or SIGN_ERROR when the key is not an
 * unencrypted Ed25519 private key. */
int sign_ed25519(const char *key, size_t klen, const void *msg, size_t n,
		 char sig[SIGN_B64_LEN + 1], struct strbuf *err);

/* Checks the base64 signature `sig` (NUL-terminated) of msg[0..n) against
 * the Ed25519 public key in PEM `pub` (plen bytes). SIGN_OK when it
 * verifies; SIGN_MISMATCH when the message was changed or another key
 * signed it; SIGN_ERROR when the key is not an Ed25519 public key or the
 * signature is not SIGN_B64_LEN characters of base64 of 64 bytes. */
int sign_verify_ed25519(const char *pub, size_t plen, const void *msg, size_t n,
			const char *sig, struct strbuf *err);

/* The id of a PEM Ed25519 key, private or public, into id[65] (see above).
 * SIGN_OK or SIGN_ERROR. */
int sign_key_id(const char *pem, size_t len, char id[65], struct strbuf *err);

#endif
