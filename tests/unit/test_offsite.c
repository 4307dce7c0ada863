/*
 * test_offsite.c: unit tests of the off-site family's pure parts: times in
 * dump keys, which keys are dumps, S3 URI encoding, and the streaming dump
 * inspector (format sniffing, SHA-256, gzip members, truncation and garbage,
 * the CREATE TABLE scan), fed whole and one byte at a time.
 */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "unit.h"
#include "../../lib/util.h"
#include "../../stdlib/dump.h"
#include "../../lib/s3.h"
#include "../../lib/jsonhttp.h"

static int64_t t(const char *key)
{
	int64_t us = -1;
	if (dump_key_time(key, &us) != 0)
		return -1;
	return us / 1000000;
}

static void key_times(void)
{
	CHECK(t("prod/appdb-20261129T060000Z.dump") == 1795932000);
	CHECK(t("appdb-2026-11-29T06:00:00Z.sql.gz") == 1795932000);
	CHECK(t("appdb-2026-11-29_06-00-00.sql.gz") == 1795932000);
	CHECK(t("appdb_20261129-0600.sql.gz") == 1795932000);
	CHECK(t("appdb.20261129060000.sql") == 1795932000);
	CHECK(t("2026-11-29.sql.gz") == 1795910400);
	CHECK(t("backups/2026-11-28/appdb-2026-11-29.sql.gz") == 1795910400); /* the file name wins */
	CHECK(t("app2024db-20261129T060000Z.dump") == 1795932000);           /* digits in the name */
	CHECK(t("v15-appdb.dump") == -1);
	CHECK(t("appdb-20261399T000000Z.dump") == -1);                      /* no month 13 */
	CHECK(t("appdb-1234567890123.dump") == -1);                         /* a long number */
	CHECK(t("nightly.sql.gz") == -1);
	/* the last time in the name counts */
	CHECK(t("from-20250101-to-20261129T060000Z.dump") == 1795932000);
}

static void dump_keys(void)
{
	CHECK(dump_key_is_dump("prod/appdb-20261129T060000Z.dump"));
	CHECK(dump_key_is_dump("prod/x.pgdump"));
	CHECK(dump_key_is_dump("prod/x.sql"));
	CHECK(dump_key_is_dump("prod/x.sql.gz"));
	CHECK(dump_key_is_dump("prod/x.SQL.GZ"));
	CHECK(dump_key_is_dump("prod/x.dump.gz"));
	CHECK(!dump_key_is_dump("prod/x.dump.manifest.json"));
	CHECK(!dump_key_is_dump("prod/.x.dump.drplay-tmp-00ff"));
	CHECK(!dump_key_is_dump("prod/.drplay-probe-write-00ff"));
	CHECK(!dump_key_is_dump("prod/README.txt"));
	CHECK(!dump_key_is_dump("prod/x.tar"));
	CHECK(!dump_key_is_dump("prod/"));
}

static void uri_encoding(void)
{
	char *a = s3_uri_encode("prod/a b+c~d_e.f-g/ü", 1);
	CHECK_STR(a, "prod/a%20b%2Bc~d_e.f-g/%C3%BC");
	free(a);
	a = s3_uri_encode("prod/x=y&z", 0);
	CHECK_STR(a, "prod%2Fx%3Dy%26z");
	free(a);
	/* empty segments and a trailing slash stay as written */
	a = s3_uri_encode("/a//b c/", 1);
	CHECK_STR(a, "/a//b%20c/");
	free(a);
	a = s3_uri_encode("", 1);
	CHECK_STR(a, "");
	free(a);
	/* every byte outside RFC 3986's unreserved set, upper-case hex */
	a = s3_uri_encode("!*'();:@&=+$,?#[]%\x7f", 0);
	CHECK_STR(a, "%21%2A%27%28%29%3B%3A%40%26%3D%2B%24%2C%3F%23%5B%5D%25%7F");
	free(a);
	/* the JSON APIs' path segments (neon) escape the same way */
	a = jh_escape("br-1/db name@x~ü");
	CHECK_STR(a, "br-1%2Fdb%20name%40x~%C3%BC");
	free(a);
	a = jh_escape("");
	CHECK_STR(a, "");
	free(a);
}

/* gzip of a buffer (one member). Caller frees. */
static unsigned char *gz(const void *p, size_t n, size_t *out)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
	size_t cap = deflateBound(&z, (uLong)n) + 64;
	unsigned char *o = malloc(cap);
	z.next_in = (unsigned char *)p;
	z.avail_in = (uInt)n;
	z.next_out = o;
	z.avail_out = (uInt)cap;
	deflate(&z, Z_FINISH);
	*out = cap - z.avail_out;
	deflateEnd(&z);
	return o;
}

struct sinkbuf {
	char buf[65536];
	size_t n;
};

static int sink(void *ud, const void *p, size_t n)
{
	struct sinkbuf *s = ud;
	if (s->n + n < sizeof(s->buf)) {
		memcpy(s->buf + s->n, p, n);
		s->n += n;
	}
	return 0;
}

/* Runs bytes through a dstream (whole, or bytewise). Returns finish's result. */
static int inspect(const void *p, size_t n, int bytewise, struct dstream *d, struct sinkbuf *out, char sha[65])
{
	dstream_init(d);
	d->out = sink;
	d->out_ud = out;
	d->scan_tables = 1;
	out->n = 0;
	int r = 0;
	if (bytewise) {
		for (size_t i = 0; i < n && r == 0; i++)
			r = dstream_feed(d, (const char *)p + i, 1);
	} else {
		r = dstream_feed(d, p, n);
	}
	int f = dstream_finish(d, sha);
	return r ? r : f;
}

static const char sql[] =
	"--\n-- PostgreSQL database dump\n--\n\nSET statement_timeout = 0;\n"
	"CREATE TABLE public.users (\n    id bigint NOT NULL\n);\n"
	"CREATE TABLE app.\"MixedCase\" (\n    x int\n);\n"
	"CREATE UNLOGGED TABLE IF NOT EXISTS public.\"na\"\"me\" (x int);\n"
	"COPY public.users (id) FROM stdin;\n1\nCREATE TABLE fake.in_data (x)\n\\.\n"
	"CREATE TABLE public.last (x int)"; /* no final newline */

static void inspector_plain(void)
{
	struct dstream d;
	struct sinkbuf out;
	char sha[65], want[65];
	for (int bw = 0; bw < 2; bw++) {
		CHECK(inspect(sql, strlen(sql), bw, &d, &out, sha) == 0);
		CHECK(d.fmt == DUMP_PLAIN);
		CHECK(!d.gzip);
		sha256_hex(sql, strlen(sql), want);
		CHECK_STR(sha, want);
		CHECK(out.n == strlen(sql) && !memcmp(out.buf, sql, out.n));
		char *tables = json_dumps(d.tables, JSON_COMPACT);
		CHECK_STR(tables, "[\"public.users\",\"app.MixedCase\",\"public.na\\\"me\",\"public.last\"]");
		free(tables);
		dstream_release(&d);
	}
}

static void inspector_gzip(void)
{
	struct dstream d;
	struct sinkbuf out;
	char sha[65], want[65];
	size_t zn;
	unsigned char *z = gz(sql, strlen(sql), &zn);
	for (int bw = 0; bw < 2; bw++) {
		CHECK(inspect(z, zn, bw, &d, &out, sha) == 0);
		CHECK(d.gzip && d.fmt == DUMP_PLAIN);
		sha256_hex(z, zn, want);
		CHECK_STR(sha, want); /* the hash is of the stored (compressed) bytes */
		CHECK(out.n == strlen(sql));
		CHECK(d.plain == strlen(sql));
		dstream_release(&d);
	}
	/* two members, as `cat a.gz b.gz` makes */
	size_t half = strlen(sql) / 2, n1, n2;
	unsigned char *z1 = gz(sql, half, &n1), *z2 = gz(sql + half, strlen(sql) - half, &n2);
	unsigned char *two = malloc(n1 + n2);
	memcpy(two, z1, n1);
	memcpy(two + n1, z2, n2);
	CHECK(inspect(two, n1 + n2, 1, &d, &out, sha) == 0);
	CHECK(out.n == strlen(sql) && !memcmp(out.buf, sql, out.n));
	dstream_release(&d);
	/* cut short */
	CHECK(inspect(z, zn - 5, 0, &d, &out, sha) == -1);
	CHECK(strstr(d.err, "the gzip stream is cut short") != NULL);
	dstream_release(&d);
	/* garbage after the end */
	unsigned char *g = malloc(zn + 3);
	memcpy(g, z, zn);
	memcpy(g + zn, "xyz", 3);
	CHECK(inspect(g, zn + 3, 0, &d, &out, sha) == -1);
	CHECK(strstr(d.err, "data after the end of the gzip stream") != NULL);
	dstream_release(&d);
	/* a flipped byte in the deflate data */
	memcpy(g, z, zn);
	g[zn / 2] ^= 0x10;
	CHECK(inspect(g, zn, 0, &d, &out, sha) == -1);
	CHECK(strstr(d.err, "gzip") != NULL);
	dstream_release(&d);
	free(g);
	free(two);
	free(z1);
	free(z2);
	free(z);
}

static void inspector_formats(void)
{
	struct dstream d;
	struct sinkbuf out;
	char sha[65];
	unsigned char custom[2000];
	memset(custom, 0, sizeof(custom));
	memcpy(custom, "PGDMP\x01\x0e\x00", 8);
	CHECK(inspect(custom, sizeof(custom), 0, &d, &out, sha) == 0);
	CHECK(d.fmt == DUMP_CUSTOM);
	dstream_release(&d);
	CHECK(inspect(custom, 5, 1, &d, &out, sha) == 0); /* shorter than the sniffing window */
	CHECK(d.fmt == DUMP_CUSTOM && out.n == 5);
	dstream_release(&d);
	unsigned char tar[1024];
	memset(tar, 0, sizeof(tar));
	memcpy(tar + 257, "ustar", 5);
	CHECK(inspect(tar, sizeof(tar), 0, &d, &out, sha) == -1);
	CHECK(d.fmt == DUMP_TAR && strstr(d.err, "tar-format") != NULL);
	dstream_release(&d);
	const char png[] = "\x89PNG\r\n\x1a\n and more";
	CHECK(inspect(png, sizeof(png) - 1, 0, &d, &out, sha) == -1);
	CHECK(strstr(d.err, "it is not a dump: it starts with bytes 89 50 4e 47 0d 0a 1a 0a") != NULL);
	dstream_release(&d);
	CHECK(inspect("", 0, 0, &d, &out, sha) == -1);
	CHECK(strstr(d.err, "empty") != NULL);
	dstream_release(&d);
	const char bin[] = "SET x\0binary";
	CHECK(inspect(bin, sizeof(bin) - 1, 0, &d, &out, sha) == -1); /* NUL bytes: not SQL text */
	dstream_release(&d);
	CHECK(out.n == 0); /* nothing was passed on before the format was known */
}

static void archive_header(void)
{
	char ver[64];
	char *buf = NULL;
	size_t n = 0;
	/* a pg_dump -Fc archive kept as test data (its manifest names the version) */
	CHECK(read_file("tests/cases/offsite/store/prod/tiny-20261102T043000Z.dump", 1 << 20, &buf, &n) == 0);
	if (!buf)
		return;
	CHECK(dump_header_version((unsigned char *)buf, n, ver, sizeof(ver)) == 0);
	CHECK_STR(ver, "15.20");
	CHECK(dump_header_version((unsigned char *)buf, 40, ver, sizeof(ver)) == -1); /* cut */
	buf[0] = 'X';
	CHECK(dump_header_version((unsigned char *)buf, n, ver, sizeof(ver)) == -1); /* not PGDMP */
	free(buf);
}

static void sizes(void)
{
	char b[32];
	CHECK_STR(human_size(512, b, sizeof(b)), "512 B");
	CHECK_STR(human_size(1536, b, sizeof(b)), "1.5 KiB");
	CHECK_STR(human_size(8443402, b, sizeof(b)), "8.1 MiB");
}

/* The client tools' major against the server's (SPEC 8.5: the tools must be
 * the server's major or newer). */
static void tool_versions(void)
{
	char v[32];
	CHECK(dump_tool_major("pg_dump (PostgreSQL) 16.2 (Ubuntu 16.2-1ubuntu4)\n", v, sizeof(v)) == 1600);
	CHECK_STR(v, "16.2");
	CHECK(dump_tool_major("pg_restore (PostgreSQL) 15.8 (Debian 15.8-0+deb12u1)\n", v, sizeof(v)) == 1500);
	CHECK(dump_tool_major("psql (PostgreSQL) 17beta1\n", v, sizeof(v)) == 1700);
	CHECK(dump_tool_major("pg_dump (PostgreSQL) 9.6.24\n", v, sizeof(v)) == 906);
	CHECK(dump_tool_major("pg_dump (PostgreSQL) 9.2.4\n", NULL, 0) == 902);
	CHECK(dump_tool_major("command not found\n", v, sizeof(v)) == -1);
	CHECK(dump_tool_major("", v, sizeof(v)) == -1);
	/* a version no PostgreSQL has (a fake or broken tool) is no version,
	 * never a number that overflows into "new enough" */
	CHECK(dump_tool_major("pg_dump (PostgreSQL) 99999999999999999999\n", v, sizeof(v)) == -1);
	CHECK(dump_tool_major("pg_dump (PostgreSQL) 21474837.1\n", v, sizeof(v)) == -1);
	CHECK(dump_tool_major("pg_dump (PostgreSQL) 9.99999999999999999999\n", v, sizeof(v)) == -1);
	CHECK(dump_tool_major("pg_dump (PostgreSQL) 9.-1\n", v, sizeof(v)) == -1);
	CHECK(dump_server_major(160002) == 1600);
	CHECK(dump_server_major(150008) == 1500);
	CHECK(dump_server_major(90624) == 906);
	/* a 15 client for a 16 server is older; 9.6 is older than 10 */
	CHECK(dump_tool_major("pg_dump (PostgreSQL) 15.8", NULL, 0) < dump_server_major(160002));
	CHECK(dump_tool_major("pg_dump (PostgreSQL) 9.6.24", NULL, 0) < dump_server_major(100023));
	CHECK(dump_tool_major("pg_dump (PostgreSQL) 10.1", NULL, 0) >= dump_server_major(90624));
}

int main(void)
{
	unit_group = "offsite";
	RUN(tool_versions);
	RUN(key_times);
	RUN(dump_keys);
	RUN(uri_encoding);
	RUN(inspector_plain);
	RUN(inspector_gzip);
	RUN(inspector_formats);
	RUN(archive_header);
	RUN(sizes);
	return UNIT_RESULT();
}
