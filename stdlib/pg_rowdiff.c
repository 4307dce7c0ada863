/*
 * pg_rowdiff.c: the rows that differ between two sides of a table, by key,
 * streamed (pg_tables.h, 'row diffs'). Side 0 is read into an
 * open-addressing hash table of 128-bit key digests and 64-bit row digests
 * (32 bytes a row; its key texts kept in one arena when asked), side 1 is
 * read against it: a key not there is only on side 1, a different row
 * digest is a changed row, and what side 1 never matched is only on side 0.
 * Without a key, whole rows are the keys and counts make it a multiset
 * difference. Each side's sum of row digests (pg_copy_hash's, 8.4.7) comes
 * out too, so a caller can check a side against a state in the same read.
 * Written here because it is the whole of the memory of a diff of millions
 * of rows, and no library we use offers a table this compact; verify.diff
 * and pitr.salvage both use it.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "pg_int.h"
#include "pg_tables.h"

struct rd_ent {
	uint64_t k1, k2; /* 0,0 = empty */
	uint64_t d;
	uint32_t cnt;    /* side-0 rows not matched yet */
	uint32_t text;   /* offset of the key text in the arena + 1 (0: none) */
};

struct rd_line {
	struct rowdiff *rd;
	int side;
	EVP_MD_CTX *ctx;
	EVP_MD *md;
};

static struct rd_ent *slot(struct rowdiff *rd, uint64_t k1, uint64_t k2)
{
	size_t i = (size_t)k1 & (rd->cap - 1);
	while (rd->e[i].k1 || rd->e[i].k2) {
		if (rd->e[i].k1 == k1 && rd->e[i].k2 == k2)
			return &rd->e[i];
		i = (i + 1) & (rd->cap - 1);
	}
	return &rd->e[i];
}

static void grow(struct rowdiff *rd)
{
	struct rowdiff g = *rd;
	g.cap = rd->cap ? rd->cap * 2 : 1024;
	g.e = xcalloc(g.cap, sizeof(*g.e));
	for (size_t i = 0; i < rd->cap; i++)
		if (rd->e[i].k1 || rd->e[i].k2)
			*slot(&g, rd->e[i].k1, rd->e[i].k2) = rd->e[i];
	free(rd->e);
	*rd = g;
}

static uint64_t u64(const unsigned char *b)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

static int sha(struct rd_line *l, const char *p, size_t n, unsigned char out[32])
{
	unsigned dl = 0;
	return EVP_DigestInit_ex(l->ctx, l->md, NULL) && EVP_DigestUpdate(l->ctx, p, n) && EVP_DigestFinal_ex(l->ctx, out, &dl)
		       ? 0
		       : -1;
}

static int rd_line(void *ud, const char *buf, size_t len)
{
	struct rd_line *l = ud;
	struct rowdiff *rd = l->rd;
	if (len && buf[len - 1] == '\n')
		len--;
	const char *tab = rd->keyed ? memchr(buf, '\t', len) : NULL;
	size_t klen = tab ? (size_t)(tab - buf) : len;
	const char *row = tab ? tab + 1 : buf;
	size_t rlen = tab ? len - klen - 1 : len;
	unsigned char kd[32], d[32];
	if (sha(l, row, rlen, d) != 0)
		return -1;
	acc_add_digest(&rd->sum[l->side], d);
	if (tab && sha(l, buf, klen, kd) != 0)
		return -1;
	const unsigned char *k = tab ? kd : d;
	uint64_t k1 = u64(k) | 1, k2 = u64(k + 8), rdg = u64(d);
	if (l->side == 0) {
		if (2 * (rd->n + 1) > rd->cap)
			grow(rd);
		struct rd_ent *e = slot(rd, k1, k2);
		if (!e->k1) {
			e->k1 = k1;
			e->k2 = k2;
			e->d = rdg;
			rd->n++;
			if (rd->keep_text && tab && rd->arena.len + klen + 1 < ((size_t)64 << 20)) {
				e->text = (uint32_t)rd->arena.len + 1;
				sb_add(&rd->arena, buf, klen);
				sb_addc(&rd->arena, '\0');
			}
		}
		e->cnt++;
		return 0;
	}
	struct rd_ent *e = rd->cap ? slot(rd, k1, k2) : NULL;
	if (!e || !e->k1 || !e->cnt) {
		rd->only1++;
		if (rd->on_key)
			rd->on_key(rd->ud, 1, buf, klen);
		return 0;
	}
	e->cnt--;
	if (tab && e->d != rdg) {
		rd->changed++;
		if (rd->on_key)
			rd->on_key(rd->ud, 2, buf, klen);
	}
	return 0;
}

int rowdiff_read(struct act *a, PGconn *c, const char *sql, struct rowdiff *rd, int side, char **err)
{
	struct rd_line l = { rd, side, EVP_MD_CTX_new(), EVP_MD_fetch(NULL, "SHA256", NULL) };
	memset(&rd->sum[side], 0, sizeof(rd->sum[side]));
	int rc = -1;
	*err = NULL;
	if (l.ctx && l.md)
		rc = pg_copy_each(a, c, sql, rd_line, &l, err);
	else
		*err = xstrdup("SHA-256 is not available");
	EVP_MD_free(l.md);
	EVP_MD_CTX_free(l.ctx);
	return rc;
}

void rowdiff_finish(struct rowdiff *rd)
{
	for (size_t i = 0; i < rd->cap; i++) {
		struct rd_ent *e = &rd->e[i];
		if (!e->cnt)
			continue;
		rd->only0 += e->cnt;
		if (rd->on_key && e->text)
			rd->on_key(rd->ud, 0, rd->arena.buf + e->text - 1, strlen(rd->arena.buf + e->text - 1));
	}
}

void rowdiff_release(struct rowdiff *rd)
{
	free(rd->e);
	rd->e = NULL;
	rd->cap = rd->n = 0;
	sb_release(&rd->arena);
}
