/*
 * sign.c: Ed25519 signing and verification through OpenSSL's EVP interface
 * (never a hand-written curve), keys parsed from PEM in memory, signatures
 * as base64 through EVP_EncodeBlock/EVP_DecodeBlock. See sign.h.
 *
 * A passphrase callback that refuses is given to every PEM read: an
 * encrypted key must fail with a reason, never prompt on the terminal in the
 * middle of a run. OpenSSL's error queue is cleared after each failure so
 * that a later TLS call does not report this file's errors as its own.
 */
#include "sign.h"

#include <string.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

#include "hash.h"

#define SIG_BYTES 64

static int fail(struct strbuf *err, const char *fmt, ...) PRINTF_LIKE(2, 3);
static int fail(struct strbuf *err, const char *fmt, ...)
{
	ERR_clear_error();
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		sb_reset(err);
		sb_vaddf(err, fmt, ap);
		va_end(ap);
	}
	return SIGN_ERROR;
}

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf, (void)size, (void)rwflag, (void)u;
	return -1;
}

static int has(const char *pem, size_t len, const char *marker)
{
	return memmem(pem, len, marker, strlen(marker)) != NULL;
}

/* The key's type for a message: "RSA", "EC", "ED448", ... */
static const char *type_name(const EVP_PKEY *pk)
{
	const char *s = OBJ_nid2sn(EVP_PKEY_base_id(pk));
	return s ? s : "unknown";
}

/* Parses a PEM key of the kind asked (public or private); NULL with err. */
static EVP_PKEY *load_key(const char *pem, size_t len, int public, struct strbuf *err)
{
	if (len > (1u << 20)) {
		fail(err, "the %s key is %zu bytes, too large for a PEM Ed25519 key; check that the right file or secret is given",
		     public ? "public" : "private", len);
		return NULL;
	}
	if (!public && has(pem, len, "ENCRYPTED PRIVATE KEY")) {
		fail(err, "the private key is encrypted with a passphrase; give it unencrypted (openssl pkey -in KEY -out PLAIN) from a secret");
		return NULL;
	}
	if (!public && has(pem, len, "-----BEGIN PUBLIC KEY-----")) {
		fail(err, "a public key was given where the private key is needed; sign with the key from `openssl genpkey -algorithm ed25519`");
		return NULL;
	}
	if (public && has(pem, len, "PRIVATE KEY-----")) {
		fail(err, "a private key was given where the public key is needed; give its public half (openssl pkey -in KEY -pubout)");
		return NULL;
	}
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio) {
		fail(err, "cannot read the key: out of memory");
		return NULL;
	}
	EVP_PKEY *pk = public ? PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL)
			      : PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	if (!pk) {
		if (public)
			fail(err, "the public key is not a PEM public key (expected '-----BEGIN PUBLIC KEY-----', as `openssl pkey -pubout` writes)");
		else
			fail(err, "the private key is not a PEM private key (expected '-----BEGIN PRIVATE KEY-----', as `openssl genpkey -algorithm ed25519` writes)");
		return NULL;
	}
	if (EVP_PKEY_base_id(pk) != EVP_PKEY_ED25519) {
		fail(err, "the %s key is a '%s' key, not Ed25519; generate one with `openssl genpkey -algorithm ed25519`",
		     public ? "public" : "private", type_name(pk));
		EVP_PKEY_free(pk);
		return NULL;
	}
	return pk;
}

int sign_ed25519(const char *key, size_t klen, const void *msg, size_t n,
		 char sig[SIGN_B64_LEN + 1], struct strbuf *err)
{
	sig[0] = '\0';
	EVP_PKEY *pk = load_key(key, klen, 0, err);
	if (!pk)
		return SIGN_ERROR;
	unsigned char raw[SIG_BYTES];
	size_t rawlen = sizeof(raw);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, pk) == 1 &&
		 EVP_DigestSign(ctx, raw, &rawlen, msg, n) == 1 && rawlen == SIG_BYTES;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pk);
	if (!ok)
		return fail(err, "signing with the Ed25519 key failed in OpenSSL; check the key");
	EVP_EncodeBlock((unsigned char *)sig, raw, SIG_BYTES);
	return SIGN_OK;
}

/* Decodes a canonical base64 signature into raw[64]; 0, or -1 with err. */
static int decode_sig(const char *sig, unsigned char raw[SIG_BYTES], struct strbuf *err)
{
	size_t len = strlen(sig);
	if (len != SIGN_B64_LEN)
		return fail(err, "the signature is %zu characters, not the %d of a base64 Ed25519 signature; it was cut or is not one",
			    len, SIGN_B64_LEN);
	for (size_t i = 0; i < len; i++) {
		char c = sig[i];
		int b64 = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
		if (!b64 && !(c == '=' && i >= SIGN_B64_LEN - 2))
			return fail(err, "the signature has a character that is not base64 at offset %zu; it was altered", i);
	}
	unsigned char buf[SIG_BYTES + 3];
	if (EVP_DecodeBlock(buf, (const unsigned char *)sig, (int)len) != SIG_BYTES + 2)
		return fail(err, "the signature is not base64 of 64 bytes; it was altered");
	/* Only the canonical encoding is accepted: re-encode and compare, so that
	 * one signature has one spelling. */
	char again[SIGN_B64_LEN + 1];
	EVP_EncodeBlock((unsigned char *)again, buf, SIG_BYTES);
	if (strcmp(again, sig) != 0)
		return fail(err, "the signature is not canonical base64 of 64 bytes; it was altered");
	memcpy(raw, buf, SIG_BYTES);
	return 0;
}

int sign_verify_ed25519(const char *pub, size_t plen, const void *msg, size_t n,
			const char *sig, struct strbuf *err)
{
	unsigned char raw[SIG_BYTES];
	if (decode_sig(sig, raw, err) != 0)
		return SIGN_ERROR;
	EVP_PKEY *pk = load_key(pub, plen, 1, err);
	if (!pk)
		return SIGN_ERROR;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int rc = -1;
	if (ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pk) == 1)
		rc = EVP_DigestVerify(ctx, raw, SIG_BYTES, msg, n);
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pk);
	if (rc == 1)
		return SIGN_OK;
	ERR_clear_error();
	if (rc == 0) {
		if (err) {
			sb_reset(err);
			sb_adds(err, "the signature does not verify: the signed content was changed or another key signed it");
		}
		return SIGN_MISMATCH;
	}
	return fail(err, "verifying the Ed25519 signature failed in OpenSSL; check the key");
}

int sign_key_id(const char *pem, size_t len, char id[65], struct strbuf *err)
{
	id[0] = '\0';
	int public = !has(pem, len, "PRIVATE KEY-----");
	EVP_PKEY *pk = load_key(pem, len, public, err);
	if (!pk)
		return SIGN_ERROR;
	unsigned char raw[32];
	size_t rawlen = sizeof(raw);
	int ok = EVP_PKEY_get_raw_public_key(pk, raw, &rawlen) == 1 && rawlen == sizeof(raw);
	EVP_PKEY_free(pk);
	if (!ok)
		return fail(err, "cannot read the Ed25519 public key's bytes from OpenSSL; check the key");
	sha256_hex(raw, sizeof(raw), id);
	return SIGN_OK;
}
