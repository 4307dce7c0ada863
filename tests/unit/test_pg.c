/*
 * test_pg.c: unit tests of the pg family's pure parts: the 256-bit sums that
 * make checksums independent of row order (SPEC.md, 'Content checksums'),
 * their hex form, the table digest, and error-message trimming.
 */
#include <stdint.h>
#include <string.h>

#include "unit.h"
#include "pg_int.h"

static void digest_of(const char *s, unsigned char d[32])
{
	char hex[65];
	sha256_hex(s, strlen(s), hex);
	for (int i = 0; i < 32; i++) {
		unsigned v = 0;
		for (int k = 0; k < 2; k++) {
			char c = hex[2 * i + k];
			v = v * 16 + (unsigned)(c <= '9' ? c - '0' : c - 'a' + 10);
		}
		d[i] = (unsigned char)v;
	}
}

static void order_independent(void)
{
	const char *rows[] = { "1\talice\t\\N", "2\tbob\t42", "3\tcarol\t{}", "2\tbob\t42" };
	struct acc x, y;
	memset(&x, 0, sizeof(x));
	memset(&y, 0, sizeof(y));
	unsigned char d[32];
	for (int i = 0; i < 4; i++) {
		digest_of(rows[i], d);
		acc_add_digest(&x, d);
		digest_of(rows[3 - i], d);
		acc_add_digest(&y, d);
	}
	CHECK(acc_eq(&x, &y));
	CHECK(x.rows == 4);
	char a[65], b[65];
	acc_digest(&x, a);
	acc_digest(&y, b);
	CHECK_STR(a, b);
	/* a duplicate row counts twice: three distinct rows differ */
	struct acc z;
	memset(&z, 0, sizeof(z));
	for (int i = 0; i < 3; i++) {
		digest_of(rows[i], d);
		acc_add_digest(&z, d);
	}
	CHECK(!acc_eq(&x, &z));
}

static void carry_and_wrap(void)
{
	struct acc x, one;
	memset(&x, 0, sizeof(x));
	memset(&one, 0, sizeof(one));
	unsigned char ff[32];
	memset(ff, 0xff, sizeof(ff));
	acc_add_digest(&x, ff); /* 2^256 - 1 */
	one.s[0] = 1;
	acc_add(&x, &one); /* wraps to 0 */
	CHECK(x.s[0] == 0 && x.s[1] == 0 && x.s[2] == 0 && x.s[3] == 0);
	CHECK(x.rows == 1);
	unsigned char lo[32];
	memset(lo, 0, sizeof(lo));
	lo[31] = 0xff;
	memset(&x, 0, sizeof(x));
	acc_add_digest(&x, lo);
	acc_add_digest(&x, lo);
	CHECK(x.s[0] == 0x1fe && x.s[1] == 0);
	unsigned char hi[32];
	memset(hi, 0, sizeof(hi));
	hi[24] = 0x80; /* bit 63 of limb 0 */
	memset(&x, 0, sizeof(x));
	acc_add_digest(&x, hi);
	acc_add_digest(&x, hi);
	CHECK(x.s[0] == 0 && x.s[1] == 1); /* carried into limb 1 */
}

static void hex_round_trip(void)
{
	struct acc x, y, d;
	memset(&x, 0, sizeof(x));
	unsigned char dg[32];
	digest_of("row one", dg);
	acc_add_digest(&x, dg);
	digest_of("row two", dg);
	acc_add_digest(&x, dg);
	char hex[65];
	acc_hex(&x, hex);
	CHECK(strlen(hex) == 64);
	memset(&y, 0, sizeof(y));
	CHECK(acc_parse(&y, hex) == 0);
	y.rows = x.rows;
	CHECK(acc_eq(&x, &y));
	CHECK(acc_parse(&y, "zz") == -1);
	CHECK(acc_parse(&y, "g000000000000000000000000000000000000000000000000000000000000000") == -1);
	/* subtraction undoes addition (the bisection derives one half from the other) */
	d = x;
	memset(&y, 0, sizeof(y));
	digest_of("row two", dg);
	acc_add_digest(&y, dg);
	acc_sub(&d, &y);
	struct acc only1;
	memset(&only1, 0, sizeof(only1));
	digest_of("row one", dg);
	acc_add_digest(&only1, dg);
	CHECK(acc_eq(&d, &only1));
	/* one digest alone: the sum is the digest itself */
	char one[65], direct[65];
	acc_hex(&only1, one);
	sha256_hex("row one", 7, direct);
	CHECK_STR(one, direct);
}

static void table_digest(void)
{
	struct acc x;
	memset(&x, 0, sizeof(x));
	char got[65], want[65];
	acc_digest(&x, got);
	unsigned char buf[18 + 32 + 8];
	memset(buf, 0, sizeof(buf));
	memcpy(buf, "drplay-checksum-v1", 18);
	sha256_hex(buf, sizeof(buf), want);
	CHECK_STR(got, want);
	x.rows = 258;
	acc_digest(&x, got);
	buf[56] = 1;
	buf[57] = 2;
	sha256_hex(buf, sizeof(buf), want);
	CHECK_STR(got, want);
}

static void first_line(void)
{
	CHECK_STR(pg_first_line("ERROR:  relation \"x\" does not exist\nLINE 1: select"), "relation \"x\" does not exist");
	CHECK_STR(pg_first_line("server closed the connection unexpectedly\n\tThis probably means"),
		  "server closed the connection unexpectedly");
	CHECK_STR(pg_first_line(NULL), "");
}

int main(void)
{
	unit_group = "pg";
	RUN(order_independent);
	RUN(carry_and_wrap);
	RUN(hex_round_trip);
	RUN(table_digest);
	RUN(first_line);
	return UNIT_RESULT();
}
