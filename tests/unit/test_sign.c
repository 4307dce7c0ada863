/*
 * test_sign.c: unit tests of lib/sign: Ed25519 signatures with keys made by
 * the real `openssl genpkey` command, checked against `openssl pkeyutl
 * -sign -rawin` (Ed25519 is deterministic, so the signatures must be the
 * same bytes), and refused with a reason for a wrong key, a changed message,
 * a corrupted or truncated signature, keys of other types, an encrypted key,
 * and a public key where the private one belongs (and back).
 */
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit.h"
#include "../../lib/fileio.h"
#include "../../lib/hash.h"
#include "../../lib/sign.h"
#include "../../lib/strbuf.h"

extern char **environ;

static char dir[] = "/tmp/drplay-unit-sign-XXXXXX";

/* Runs an argv quietly; 1 when it exited 0. */
static int run(char *const argv[])
{
	pid_t pid;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		return 0;
	int st;
	while (waitpid(pid, &st, 0) < 0)
		;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static char *path(const char *name)
{
	return xasprintf("%s/%s", dir, name);
}

/* The file's bytes (caller frees), NUL-terminated; aborts the test binary on failure. */
static char *slurp(const char *name, size_t *len)
{
	char *p = path(name);
	FILE *f = fopen(p, "rb");
	free(p);
	if (!f)
		return NULL;
	struct strbuf sb = STRBUF_INIT;
	char buf[4096];
	size_t r;
	while ((r = fread(buf, 1, sizeof(buf), f)) > 0)
		sb_add(&sb, buf, r);
	fclose(f);
	if (len)
		*len = sb.len;
	return sb_detach(&sb);
}

static int genkey(const char *name, const char *alg, const char *opt)
{
	char *out = path(name);
	char *argv[10] = { "openssl", "genpkey", "-algorithm", (char *)alg, "-out", out, NULL };
	if (opt) {
		argv[6] = "-pkeyopt";
		argv[7] = (char *)opt;
	}
	int ok = run(argv);
	free(out);
	return ok;
}

static int pubout(const char *from, const char *to)
{
	char *in = path(from), *out = path(to);
	char *argv[] = { "openssl", "pkey", "-in", in, "-pubout", "-out", out, NULL };
	int ok = run(argv);
	free(in);
	free(out);
	return ok;
}

static int keys_ready;

static void make_keys(void)
{
	CHECK(mkdtemp(dir) != NULL);
	keys_ready = genkey("a.pem", "ed25519", NULL) && pubout("a.pem", "a.pub") &&
		     genkey("b.pem", "ed25519", NULL) && pubout("b.pem", "b.pub") &&
		     genkey("ec.pem", "EC", "ec_paramgen_curve:P-256") && pubout("ec.pem", "ec.pub") &&
		     genkey("rsa.pem", "RSA", "rsa_keygen_bits:1024") &&
		     genkey("ed448.pem", "ed448", NULL) && pubout("ed448.pem", "ed448.pub");
	CHECK(keys_ready);
	char *out = path("enc.pem");
	char *argv[] = { "openssl", "genpkey", "-algorithm", "ed25519", "-aes256", "-pass", "pass:hunter2", "-out", out, NULL };
	CHECK(run(argv));
	free(out);
}

static const char msg[] = "manifest: appdb-20261129T060000Z.dump sha256 0123abcd";

static void roundtrip_matches_openssl(void)
{
	size_t kl, pl;
	char *k = slurp("a.pem", &kl), *p = slurp("a.pub", &pl);
	struct strbuf err = STRBUF_INIT;
	char sig[SIGN_B64_LEN + 1];
	CHECK(k && p);
	CHECK(sign_ed25519(k, kl, msg, strlen(msg), sig, &err) == SIGN_OK);
	CHECK(strlen(sig) == SIGN_B64_LEN);
	CHECK(sign_verify_ed25519(p, pl, msg, strlen(msg), sig, &err) == SIGN_OK);
	/* the same signature as OpenSSL's own command over the same bytes */
	char *m = path("msg"), *s = path("msg.sig"), *kp = path("a.pem");
	FILE *f = fopen(m, "wb");
	CHECK(f && fwrite(msg, 1, strlen(msg), f) == strlen(msg));
	if (f)
		fclose(f);
	char *argv[] = { "openssl", "pkeyutl", "-sign", "-rawin", "-inkey", kp, "-in", m, "-out", s, NULL };
	CHECK(run(argv));
	size_t rl = 0;
	char *raw = slurp("msg.sig", &rl);
	CHECK(raw && rl == 64);
	char b64[SIGN_B64_LEN + 1] = "";
	if (raw && rl == 64) {
		char *b = path("msg.sig.b64");
		char *argv2[] = { "openssl", "base64", "-A", "-in", s, "-out", b, NULL };
		CHECK(run(argv2));
		free(b);
		char *t = slurp("msg.sig.b64", NULL);
		if (t) {
			snprintf(b64, sizeof(b64), "%s", t);
			free(t);
		}
	}
	CHECK_STR(sig, b64);
	/* an empty message signs too */
	CHECK(sign_ed25519(k, kl, "", 0, sig, &err) == SIGN_OK);
	CHECK(sign_verify_ed25519(p, pl, "", 0, sig, &err) == SIGN_OK);
	free(raw);
	free(m);
	free(s);
	free(kp);
	free(k);
	free(p);
	sb_release(&err);
}

static void wrong_key_and_changed_message(void)
{
	size_t kl, pl;
	char *k = slurp("a.pem", &kl), *pb = slurp("b.pub", &pl);
	struct strbuf err = STRBUF_INIT;
	char sig[SIGN_B64_LEN + 1];
	CHECK(sign_ed25519(k, kl, msg, strlen(msg), sig, &err) == SIGN_OK);
	CHECK(sign_verify_ed25519(pb, pl, msg, strlen(msg), sig, &err) == SIGN_MISMATCH);
	CHECK(strstr(sb_str(&err), "another key") != NULL);
	size_t al;
	char *pa = slurp("a.pub", &al);
	char changed[sizeof(msg)];
	memcpy(changed, msg, sizeof(msg));
	changed[10] ^= 1;
	CHECK(sign_verify_ed25519(pa, al, changed, strlen(changed), sig, &err) == SIGN_MISMATCH);
	CHECK(sign_verify_ed25519(pa, al, msg, strlen(msg) - 1, sig, &err) == SIGN_MISMATCH);
	free(k);
	free(pb);
	free(pa);
	sb_release(&err);
}

static void corrupted_signature(void)
{
	size_t kl, pl;
	char *k = slurp("a.pem", &kl), *p = slurp("a.pub", &pl);
	struct strbuf err = STRBUF_INIT;
	char sig[SIGN_B64_LEN + 1], bad[SIGN_B64_LEN + 1];
	CHECK(sign_ed25519(k, kl, msg, strlen(msg), sig, &err) == SIGN_OK);
	/* one base64 digit changed: still 64 bytes, no longer the signature */
	memcpy(bad, sig, sizeof(bad));
	bad[5] = bad[5] == 'A' ? 'B' : 'A';
	CHECK(sign_verify_ed25519(p, pl, msg, strlen(msg), bad, &err) == SIGN_MISMATCH);
	/* cut short */
	memcpy(bad, sig, sizeof(bad));
	bad[40] = '\0';
	CHECK(sign_verify_ed25519(p, pl, msg, strlen(msg), bad, &err) == SIGN_ERROR);
	CHECK(strstr(sb_str(&err), "40 characters") != NULL);
	/* not base64 */
	memcpy(bad, sig, sizeof(bad));
	bad[7] = '*';
	CHECK(sign_verify_ed25519(p, pl, msg, strlen(msg), bad, &err) == SIGN_ERROR);
	CHECK(strstr(sb_str(&err), "offset 7") != NULL);
	/* a non-canonical spelling of the last digit */
	memcpy(bad, sig, sizeof(bad));
	bad[85] = bad[85] == 'A' ? 'B' : 'A';
	int r = sign_verify_ed25519(p, pl, msg, strlen(msg), bad, &err);
	CHECK(r == SIGN_ERROR || r == SIGN_MISMATCH);
	CHECK(sign_verify_ed25519(p, pl, msg, strlen(msg), "", &err) == SIGN_ERROR);
	free(k);
	free(p);
	sb_release(&err);
}

/* 1 when err names `what`. */
static int says(const struct strbuf *err, const char *what)
{
	return strstr(sb_str(err), what) != NULL;
}

static void other_key_types(void)
{
	struct strbuf err = STRBUF_INIT;
	char sig[SIGN_B64_LEN + 1], id[65];
	size_t l;
	static const struct {
		const char *file, *type;
	} priv[] = { { "ec.pem", "'id-ecPublicKey'" }, { "rsa.pem", "'rsaEncryption'" }, { "ed448.pem", "'ED448'" } };
	for (size_t i = 0; i < sizeof(priv) / sizeof(priv[0]); i++) {
		char *k = slurp(priv[i].file, &l);
		CHECK(k && sign_ed25519(k, l, msg, strlen(msg), sig, &err) == SIGN_ERROR);
		CHECK(says(&err, "not Ed25519") && says(&err, priv[i].type));
		CHECK(sig[0] == '\0');
		CHECK(sign_key_id(k, l, id, &err) == SIGN_ERROR);
		free(k);
	}
	size_t kl;
	char *k = slurp("a.pem", &kl);
	CHECK(sign_ed25519(k, kl, msg, strlen(msg), sig, &err) == SIGN_OK);
	const char *pubs[] = { "ec.pub", "ed448.pub" };
	for (size_t i = 0; i < 2; i++) {
		char *p = slurp(pubs[i], &l);
		CHECK(p && sign_verify_ed25519(p, l, msg, strlen(msg), sig, &err) == SIGN_ERROR);
		CHECK(says(&err, "not Ed25519"));
		free(p);
	}
	free(k);
	sb_release(&err);
}

static void misplaced_and_broken_keys(void)
{
	struct strbuf err = STRBUF_INIT;
	char sig[SIGN_B64_LEN + 1];
	size_t kl, pl, el;
	char *k = slurp("a.pem", &kl), *p = slurp("a.pub", &pl), *e = slurp("enc.pem", &el);
	CHECK(sign_ed25519(p, pl, msg, strlen(msg), sig, &err) == SIGN_ERROR);
	CHECK(says(&err, "public key was given where the private key"));
	CHECK(sign_ed25519(k, kl, msg, strlen(msg), sig, &err) == SIGN_OK);
	CHECK(sign_verify_ed25519(k, kl, msg, strlen(msg), sig, &err) == SIGN_ERROR);
	CHECK(says(&err, "private key was given where the public key"));
	/* encrypted: refused with a reason, never a passphrase prompt */
	CHECK(e && sign_ed25519(e, el, msg, strlen(msg), sig, &err) == SIGN_ERROR);
	CHECK(says(&err, "encrypted"));
	/* garbage, a cut key, and a key without its last line */
	CHECK(sign_ed25519("hello", 5, msg, strlen(msg), sig, &err) == SIGN_ERROR);
	CHECK(says(&err, "not a PEM private key"));
	CHECK(sign_ed25519(k, kl / 2, msg, strlen(msg), sig, &err) == SIGN_ERROR);
	CHECK(sign_ed25519(k, kl, msg, strlen(msg), sig, &err) == SIGN_OK);
	CHECK(sign_verify_ed25519(p, pl - 26, msg, strlen(msg), sig, &err) == SIGN_ERROR);
	CHECK(says(&err, "not a PEM public key"));
	/* the reason never carries the key's bytes */
	CHECK(strstr(sb_str(&err), "MC") == NULL);
	/* a NULL err is allowed */
	CHECK(sign_ed25519("x", 1, msg, strlen(msg), sig, NULL) == SIGN_ERROR);
	free(k);
	free(p);
	free(e);
	sb_release(&err);
}

static void key_ids(void)
{
	struct strbuf err = STRBUF_INIT;
	char ida[65], idap[65], idb[65];
	size_t l;
	char *k = slurp("a.pem", &l);
	CHECK(sign_key_id(k, l, ida, &err) == SIGN_OK);
	free(k);
	k = slurp("a.pub", &l);
	CHECK(sign_key_id(k, l, idap, &err) == SIGN_OK);
	free(k);
	k = slurp("b.pub", &l);
	CHECK(sign_key_id(k, l, idb, &err) == SIGN_OK);
	free(k);
	CHECK_STR(ida, idap);
	CHECK(strcmp(ida, idb) != 0);
	/* the id is the SHA-256 of the raw key: the last 32 bytes of its DER */
	char *in = path("a.pub"), *out = path("a.der");
	char *argv[] = { "openssl", "pkey", "-pubin", "-in", in, "-outform", "DER", "-out", out, NULL };
	CHECK(run(argv));
	free(in);
	free(out);
	size_t dl = 0;
	char *der = slurp("a.der", &dl);
	char want[65] = "";
	if (der && dl == 44)
		sha256_hex(der + 12, 32, want);
	CHECK_STR(ida, want);
	free(der);
	sb_release(&err);
}

static void cleanup(void)
{
	char *argv[] = { "rm", "-rf", dir, NULL };
	CHECK(run(argv));
}

int main(void)
{
	unit_group = "sign";
	RUN(make_keys);
	if (!keys_ready)
		return UNIT_RESULT();
	RUN(roundtrip_matches_openssl);
	RUN(wrong_key_and_changed_message);
	RUN(corrupted_signature);
	RUN(other_key_types);
	RUN(misplaced_and_broken_keys);
	RUN(key_ids);
	RUN(cleanup);
	return UNIT_RESULT();
}
