/*
 * pg_rowdiff.c: the rows that differ between two sides of a table, by key,
 * streamed (pg_tables.h, 'row diffs'). Side 0 is read into an
 * open-addressing hash table of 128-bit key digests (a key shorter than 16
 * bytes as its own text, no digest needed) and 64-bit row digests
 * (32 bytes a row; its key texts kept in one arena when asked), side 1 is
 * read against it: a key not there is only on side 1, a different row
 * digest is a changed row, and what side 1 never matched is only on side 0.
 * Without a key, whole rows are the keys and counts make it a multiset
 * difference. Each side's sum of row digests (pg_copy_hash's, 8.4.7) comes
 * out too, so a caller can check a side against a state in the same read.
 * Written here because it is the whole of the memory of a diff of millions
 * of rows, and no library we use offers a table this compact; verify.diff
 * and pitr.salvage both use it.
 *
 * rowdiff_read_pair reads both sides at once, side 0 on a thread of its
 * own: side 1's digests (and key texts) wait in a list until side 0's table
 * is complete, then are matched in the order they came, so that the result
 * and the order of the on_key calls are those of reading one side after
 * the other.
 */
#include <pthread.h>
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

/* A side-1 row read while side 0 is still being read: matched later. */
struct rd_pend {
	uint64_t k1, k2, d;
	size_t off, len; /* its key text in the list's arena */
	int tab;
};

struct rd_pending {
	struct rd_pend *v;
	size_t n, cap;
	struct strbuf text;
};

struct rd_line {
	struct rowdiff *rd;
	int side;
	EVP_MD_CTX *ctx;
	EVP_MD *md;
	struct rd_pending *pend; /* side 1 read beside side 0: rows wait here */
};

/* Where to look first: the bits of k1 and k2 mixed (splitmix64's
 * finalizer), since a key held as its own text is not spread out. */
static size_t home(uint64_t k1, uint64_t k2)
{
	uint64_t h = k1 ^ (k2 * 0x9E3779B97F4A7C15u);
	h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9u;
	h = (h ^ (h >> 27)) * 0x94D049BB133111EBu;
	return (size_t)(h ^ (h >> 31));
}

static struct rd_ent *slot(struct rowdiff *rd, uint64_t k1, uint64_t k2)
{
	size_t i = home(k1, k2) & (rd->cap - 1);
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

void rowdiff_reserve(struct rowdiff *rd, int64_t rows)
{
	if (rows > ((int64_t)1 << 25)) /* an estimate: past this, grow as rows come */
		rows = (int64_t)1 << 25;
	while (rows > 0 && 2 * ((size_t)rows + 1) > rd->cap)
		grow(rd);
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

/* A side-1 row against side 0's table. */
static void match1(struct rowdiff *rd, uint64_t k1, uint64_t k2, uint64_t rdg, int tab, const char *key, size_t klen)
{
	struct rd_ent *e = rd->cap ? slot(rd, k1, k2) : NULL;
	if (!e || !(e->k1 | e->k2) || !e->cnt) {
		rd->only1++;
		if (rd->on_key)
			rd->on_key(rd->ud, 1, key, klen);
		return;
	}
	e->cnt--;
	if (tab && e->d != rdg) {
		rd->changed++;
		if (rd->on_key)
			rd->on_key(rd->ud, 2, key, klen);
	}
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
	uint64_t k1, k2, rdg = u64(d);
	if (tab && klen < 16) {
		/* a short key is its own identity: its text and length (the
		 * high bit set, so never the empty 0,0), no digest needed */
		unsigned char t[16] = { 0 };
		memcpy(t, buf, klen);
		t[15] = (unsigned char)(0x80 | klen);
		k1 = u64(t);
		k2 = u64(t + 8);
	} else {
		if (tab && sha(l, buf, klen, kd) != 0)
			return -1;
		const unsigned char *k = tab ? kd : d;
		k1 = u64(k) | 1;
		k2 = u64(k + 8);
	}
	if (l->pend) {
		struct rd_pending *p = l->pend;
		if (p->n == p->cap) {
			p->cap = p->cap ? p->cap * 2 : 4096;
			p->v = xrealloc(p->v, p->cap * sizeof(*p->v));
		}
		p->v[p->n++] = (struct rd_pend){ k1, k2, rdg, p->text.len, rd->on_key ? klen : 0, tab != NULL };
		if (rd->on_key)
			sb_add(&p->text, buf, klen);
		return 0;
	}
	if (l->side == 0) {
		if (2 * (rd->n + 1) > rd->cap)
			grow(rd);
		struct rd_ent *e = slot(rd, k1, k2);
		if (!(e->k1 | e->k2)) {
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
	match1(rd, k1, k2, rdg, tab != NULL, buf, klen);
	return 0;
}

static int read_side(struct act *a, PGconn *c, const char *sql, struct rowdiff *rd, int side, struct rd_pending *pend,
		     char **err)
{
	struct rd_line l = { rd, side, EVP_MD_CTX_new(), EVP_MD_fetch(NULL, "SHA256", NULL), pend };
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

int rowdiff_read(struct act *a, PGconn *c, const char *sql, struct rowdiff *rd, int side, char **err)
{
	return read_side(a, c, sql, rd, side, NULL, err);
}

struct side0 {
	struct act *a;
	PGconn *c;
	const char *sql;
	struct rowdiff *rd;
	char *err;
	int rc;
};

static void *side0_main(void *ud)
{
	struct side0 *s = ud;
	s->rc = read_side(s->a, s->c, s->sql, s->rd, 0, NULL, &s->err);
	return NULL;
}

int rowdiff_read_pair(struct act *a, PGconn *c0, const char *sql0, PGconn *c1, const char *sql1, struct rowdiff *rd,
		      char **err0, char **err1)
{
	*err0 = *err1 = NULL;
	struct side0 s = { a, c0, sql0, rd, NULL, 0 };
	pthread_t th;
	/* whole rows as keys would wait in full: those sides are read in turn */
	if (!rd->keyed || pthread_create(&th, NULL, side0_main, &s) != 0) {
		if (rowdiff_read(a, c0, sql0, rd, 0, err0) != 0)
			return -1;
		return rowdiff_read(a, c1, sql1, rd, 1, err1);
	}
	struct rd_pending p = { 0 };
	int rc1 = read_side(a, c1, sql1, rd, 1, &p, err1);
	pthread_join(th, NULL);
	*err0 = s.err;
	if (s.rc == 0 && rc1 == 0)
		for (size_t i = 0; i < p.n; i++)
			match1(rd, p.v[i].k1, p.v[i].k2, p.v[i].d, p.v[i].tab, p.text.buf ? p.text.buf + p.v[i].off : "",
			       p.v[i].len);
	free(p.v);
	sb_release(&p.text);
	return s.rc == 0 && rc1 == 0 ? 0 : -1;
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
