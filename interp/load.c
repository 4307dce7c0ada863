/*
 * load.c: YAML text -> node tree, through libyaml's event parser, keeping
 * libyaml's marks as file:line:col on every node. Hostile input stays bounded:
 * the file size, nesting depth and total node count (aliases counted by their
 * expanded size, which stops "billion laughs" documents) are capped, and
 * every problem becomes one diagnostic naming the place and the fix. Only a
 * regular file (or standard input, named "-") is read: a FIFO or a device
 * would block or never end. A UTF-8 byte-order mark at the start is skipped
 * (YAML 1.2 allows it).
 */
#include "node.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "diag.h"
#include "text.h"
#include "util.h"

struct anchor {
	char *name;
	struct node *node;
	size_t size; /* expanded node count of the subtree */
};

/* A container being built: its node and the children collected so far. */
struct frame {
	struct node *node;
	struct node **items; /* alternating key, value for maps */
	size_t n, alloc;
	size_t size;         /* expanded node count so far */
	char *anchor;
};

struct loader {
	struct doc *doc;
	struct diags *d;
	struct frame *stack;
	size_t depth, alloc;
	struct anchor *anchors;
	size_t nanchors;
	size_t total;        /* nodes including alias expansion */
	int failed;
	struct node *root;
	size_t root_size;
};

static struct loc mark_loc(const struct loader *L, yaml_mark_t m)
{
	struct loc l = { L->doc->file, (int)m.line + 1, (int)m.column + 1 };
	return l;
}

static void fail(struct loader *L, struct loc loc, const char *rule, const char *fmt, ...)
	PRINTF_LIKE(4, 5);
static void fail(struct loader *L, struct loc loc, const char *rule, const char *fmt, ...)
{
	if (L->failed)
		return;
	L->failed = 1;
	va_list ap;
	va_start(ap, fmt);
	diag_vadd(L->d, SEV_ERROR, DC_INVALID, rule, loc, fmt, ap);
	va_end(ap);
}

static struct node *new_node(struct loader *L, enum node_kind k, yaml_mark_t m)
{
	struct node *n = arena_alloc(L->doc->arena, sizeof(*n));
	n->kind = k;
	n->loc = mark_loc(L, m);
	return n;
}

static void frame_push_item(struct frame *f, struct node *n)
{
	if (f->n == f->alloc) {
		f->alloc = f->alloc ? f->alloc * 2 : 8;
		f->items = xrealloc(f->items, f->alloc * sizeof(*f->items));
	}
	f->items[f->n++] = n;
}

static void remember_anchor(struct loader *L, const char *name, struct node *n, size_t size)
{
	if (!name)
		return;
	/* A later anchor with the same name replaces the earlier one (YAML). */
	L->anchors = xrealloc(L->anchors, (L->nanchors + 1) * sizeof(*L->anchors));
	L->anchors[L->nanchors].name = xstrdup(name);
	L->anchors[L->nanchors].node = n;
	L->anchors[L->nanchors].size = size;
	L->nanchors++;
}

static struct anchor *find_anchor(struct loader *L, const char *name)
{
	for (size_t i = L->nanchors; i-- > 0;)
		if (strcmp(L->anchors[i].name, name) == 0)
			return &L->anchors[i];
	return NULL;
}

/* Adds a finished node (of expanded size `size`) to the parent, or makes it
 * the root. */
static void attach(struct loader *L, struct node *n, size_t size)
{
	if (L->depth == 0) {
		L->root = n;
		L->root_size = size;
		return;
	}
	struct frame *f = &L->stack[L->depth - 1];
	frame_push_item(f, n);
	f->size += size;
}

static int key_equal(const struct node *a, const struct node *b)
{
	return a->kind == N_SCALAR && b->kind == N_SCALAR && a->len == b->len &&
	       memcmp(a->str, b->str, a->len) == 0;
}

static int is_merge_key(const struct node *k)
{
	return k->kind == N_SCALAR && !k->quoted && k->len == 2 && memcmp(k->str, "<<", 2) == 0;
}

struct kv_ref {
	struct node *k;
	size_t idx;
};

static int kv_cmp(const void *pa, const void *pb)
{
	const struct kv_ref *a = pa, *b = pb;
	size_t n = a->k->len < b->k->len ? a->k->len : b->k->len;
	int c = memcmp(a->k->str, b->k->str, n);
	if (c)
		return c;
	if (a->k->len != b->k->len)
		return a->k->len < b->k->len ? -1 : 1;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* Reports the first duplicate scalar key of a mapping at its second place. */
static void check_duplicates(struct loader *L, struct node *m)
{
	size_t ns = 0;
	struct kv_ref *refs = xmalloc((m->n ? m->n : 1) * sizeof(*refs));
	for (size_t i = 0; i < m->n; i++)
		if (m->keys[i]->kind == N_SCALAR)
			refs[ns++] = (struct kv_ref){ m->keys[i], i };
	qsort(refs, ns, sizeof(*refs), kv_cmp);
	for (size_t i = 1; i < ns; i++) {
		if (key_equal(refs[i - 1].k, refs[i].k)) {
			struct node *dup = refs[i].k;
			struct node *first = refs[i - 1].k;
			fail(L, dup->loc, "yaml-duplicate-key",
			     "duplicate key '%.*s' (first defined at line %d); YAML keeps only one of them: remove or rename one",
			     (int)(dup->len > 80 ? 80 : dup->len), dup->str, first->loc.line);
			break;
		}
	}
	free(refs);
}

/* Applies YAML merge keys ("<<: *base" or "<<: [*a, *b]"): entries already
 * present in the mapping win. */
static void apply_merges(struct loader *L, struct node *m)
{
	size_t w = 0;
	struct node **mk = NULL, **mv = NULL;
	size_t nm = 0;
	for (size_t i = 0; i < m->n; i++) {
		if (is_merge_key(m->keys[i])) {
			struct node *v = m->vals[i];
			struct node **srcs = &v;
			size_t nsrc = 1;
			if (v->kind == N_SEQ) {
				srcs = v->vals;
				nsrc = v->n;
			}
			for (size_t s = 0; s < nsrc; s++) {
				if (srcs[s]->kind != N_MAP) {
					fail(L, srcs[s]->loc, "yaml-syntax",
					     "a merge key '<<' takes a mapping or a list of mappings, not a %s",
					     node_kind_name(srcs[s]));
					free(mk);
					free(mv);
					return;
				}
				for (size_t j = 0; j < srcs[s]->n; j++) {
					mk = xrealloc(mk, (nm + 1) * sizeof(*mk));
					mv = xrealloc(mv, (nm + 1) * sizeof(*mv));
					mk[nm] = srcs[s]->keys[j];
					mv[nm] = srcs[s]->vals[j];
					nm++;
				}
			}
			continue;
		}
		m->keys[w] = m->keys[i];
		m->vals[w] = m->vals[i];
		w++;
	}
	size_t own = w;
	m->n = w;
	for (size_t j = 0; j < nm; j++) {
		int present = 0;
		for (size_t i = 0; i < m->n && !present; i++)
			present = key_equal(m->keys[i], mk[j]);
		(void)own;
		if (present)
			continue;
		m->keys = xrealloc(m->keys, (m->n + 1) * sizeof(*m->keys));
		m->vals = xrealloc(m->vals, (m->n + 1) * sizeof(*m->vals));
		m->keys[m->n] = mk[j];
		m->vals[m->n] = mv[j];
		m->n++;
	}
	free(mk);
	free(mv);
}

static void push(struct loader *L, struct node *n, const char *anchor)
{
	if (L->depth == L->alloc) {
		L->alloc = L->alloc ? L->alloc * 2 : 16;
		L->stack = xrealloc(L->stack, L->alloc * sizeof(*L->stack));
	}
	struct frame *f = &L->stack[L->depth++];
	memset(f, 0, sizeof(*f));
	f->node = n;
	f->size = 1;
	f->anchor = anchor ? xstrdup(anchor) : NULL;
}

static void pop(struct loader *L)
{
	struct frame f = L->stack[--L->depth];
	struct node *n = f.node;
	if (n->kind == N_MAP) {
		n->n = f.n / 2;
		n->keys = xmalloc((n->n ? n->n : 1) * sizeof(*n->keys));
		n->vals = xmalloc((n->n ? n->n : 1) * sizeof(*n->vals));
		for (size_t i = 0; i < n->n; i++) {
			n->keys[i] = f.items[2 * i];
			n->vals[i] = f.items[2 * i + 1];
		}
		check_duplicates(L, n);
		apply_merges(L, n);
		/* Move the arrays into the arena so doc_free releases them. */
		struct node **k = arena_alloc(L->doc->arena, (n->n ? n->n : 1) * sizeof(*k));
		struct node **v = arena_alloc(L->doc->arena, (n->n ? n->n : 1) * sizeof(*v));
		if (n->n) {
			memcpy(k, n->keys, n->n * sizeof(*k));
			memcpy(v, n->vals, n->n * sizeof(*v));
		}
		free(n->keys);
		free(n->vals);
		n->keys = k;
		n->vals = v;
	} else {
		n->n = f.n;
		n->vals = arena_alloc(L->doc->arena, (n->n ? n->n : 1) * sizeof(*n->vals));
		if (n->n)
			memcpy(n->vals, f.items, n->n * sizeof(*n->vals));
	}
	free(f.items);
	remember_anchor(L, f.anchor, n, f.size);
	free(f.anchor);
	attach(L, n, f.size);
}

/* Counts nodes against the budget; 0 when within it. */
static int budget(struct loader *L, size_t add, struct loc loc)
{
	L->total += add;
	if (L->total > LOAD_MAX_NODES) {
		fail(L, loc, "yaml-limit",
		     "document expands to more than %u nodes (aliases included); a playbook never needs this: remove the alias expansion",
		     LOAD_MAX_NODES);
		return -1;
	}
	return 0;
}

/* Points at the first byte that is not valid UTF-8, or returns NULL. */
/* The first byte that does not start a valid UTF-8 sequence, or NULL. */
static const char *bad_utf8(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *e = p + n;
	while (p < e) {
		size_t len = utf8_seq_len(p, (size_t)(e - p));
		if (!len)
			return (const char *)p;
		p += len;
	}
	return NULL;
}

static struct loc offset_loc(const struct doc *doc, const char *at)
{
	struct loc l = { doc->file, 1, 1 };
	for (const char *p = doc->src; p < at; p++) {
		if (*p == '\n') {
			l.line++;
			l.col = 1;
		} else if (((unsigned char)*p & 0xC0) != 0x80) {
			l.col++;
		}
	}
	return l;
}

/* Checks the raw text before parsing: encoding and tab indentation, which
 * libyaml reports in terms people rarely understand. */
static int precheck(struct loader *L)
{
	const struct doc *doc = L->doc;
	const char *bad = bad_utf8(doc->src, doc->srclen);
	if (bad) {
		fail(L, offset_loc(doc, bad), "yaml-syntax",
		     "invalid UTF-8 byte 0x%02x; save the playbook as UTF-8",
		     (unsigned char)*bad);
		return -1;
	}
	if (memchr(doc->src, '\0', doc->srclen)) {
		const char *z = memchr(doc->src, '\0', doc->srclen);
		fail(L, offset_loc(doc, z), "yaml-syntax",
		     "NUL byte in the file; a playbook is text: remove it");
		return -1;
	}
	int line = 1;
	const char *p = doc->src, *e = doc->src + doc->srclen;
	int in_block = 0; /* tabs inside block scalars' content are text */
	(void)in_block;
	while (p < e) {
		const char *q = p;
		while (q < e && *q == ' ')
			q++;
		if (q < e && *q == '\t') {
			/* A tab after spaces or at the start of a line that is not
			 * blank: indentation by tab. */
			const char *r = q;
			while (r < e && (*r == '\t' || *r == ' '))
				r++;
			if (r < e && *r != '\n' && *r != '#') {
				struct loc l = { doc->file, line, (int)(q - p) + 1 };
				fail(L, l, "yaml-syntax",
				     "tab character in indentation; YAML indents with spaces only: replace the tab with spaces");
				return -1;
			}
		}
		const char *nl = memchr(p, '\n', (size_t)(e - p));
		if (!nl)
			break;
		p = nl + 1;
		line++;
	}
	return 0;
}

static void parse(struct loader *L)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	if (!yaml_parser_initialize(&parser)) {
		fprintf(stderr, "drplay: cannot initialise the YAML parser\n");
		abort();
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)L->doc->src, L->doc->srclen);
	yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
	int docs = 0, done = 0;
	while (!done && !L->failed) {
		if (!yaml_parser_parse(&parser, &ev)) {
			struct loc l = mark_loc(L, parser.problem_mark);
			const char *prob = parser.problem ? parser.problem : "syntax error";
			if (parser.context)
				fail(L, l, "yaml-syntax",
				     "YAML syntax error: %s %s (it started at line %d, column %d); check the indentation and quoting there",
				     parser.context, prob, (int)parser.context_mark.line + 1,
				     (int)parser.context_mark.column + 1);
			else
				fail(L, l, "yaml-syntax", "YAML syntax error: %s; check the indentation and quoting around here", prob);
			break;
		}
		struct loc here = mark_loc(L, ev.start_mark);
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1)
				fail(L, here, "yaml-syntax",
				     "a second YAML document ('---') in the file; a playbook is one document: remove the separator");
			break;
		case YAML_SCALAR_EVENT: {
			if (budget(L, 1, here))
				break;
			struct node *n = new_node(L, N_SCALAR, ev.start_mark);
			n->str = arena_strndup(L->doc->arena, (const char *)ev.data.scalar.value,
					       ev.data.scalar.length);
			n->len = ev.data.scalar.length;
			n->quoted = ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
			if (ev.data.scalar.tag && !n->quoted) {
				const char *tag = (const char *)ev.data.scalar.tag;
				if (strcmp(tag, "!") == 0 || strcmp(tag, "tag:yaml.org,2002:str") == 0)
					n->quoted = 1;
			}
			remember_anchor(L, (const char *)ev.data.scalar.anchor, n, 1);
			attach(L, n, 1);
			break;
		}
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT: {
			if (L->depth >= LOAD_MAX_DEPTH) {
				fail(L, here, "yaml-limit",
				     "nesting deeper than %d levels; a playbook never needs this: flatten the structure",
				     LOAD_MAX_DEPTH);
				break;
			}
			if (budget(L, 1, here))
				break;
			int map = ev.type == YAML_MAPPING_START_EVENT;
			struct node *n = new_node(L, map ? N_MAP : N_SEQ, ev.start_mark);
			push(L, n, (const char *)(map ? ev.data.mapping_start.anchor
						      : ev.data.sequence_start.anchor));
			break;
		}
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			pop(L);
			break;
		case YAML_ALIAS_EVENT: {
			const char *name = (const char *)ev.data.alias.anchor;
			struct anchor *a = find_anchor(L, name);
			if (!a) {
				fail(L, here, "yaml-syntax", "alias '*%s' refers to no anchor defined before it; define '&%s' first",
				     name, name);
				break;
			}
			if (budget(L, a->size, here))
				break;
			attach(L, a->node, a->size);
			break;
		}
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	if (!done && L->failed) {
		/* ev was deleted in the loop, or never filled on a parse error */
	}
	yaml_parser_delete(&parser);
	/* On failure, free what the stack still holds. */
	while (L->depth) {
		struct frame *f = &L->stack[--L->depth];
		free(f->items);
		free(f->anchor);
	}
}

struct doc *doc_load_buf(const char *name, const char *buf, size_t len, struct diags *d)
{
	struct doc *doc = xcalloc(1, sizeof(*doc));
	doc->file = xstrdup(name);
	doc->arena = arena_new();
	sha256_hex(buf, len, doc->sha256); /* of the bytes as given, mark included */
	if (len >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3)) {
		buf += 3;
		len -= 3;
	}
	doc->src = xstrndup(buf, len);
	doc->srclen = len;
	if (d)
		diags_add_source(d, doc);
	struct diags local;
	if (!d) {
		diags_init(&local);
		d = &local;
	}
	struct loader L = { .doc = doc, .d = d };
	if (len > LOAD_MAX_BYTES) {
		struct loc l = { doc->file, 0, 0 };
		fail(&L, l, "yaml-limit", "file is %zu bytes, over the %u MiB limit for a playbook; split it",
		     len, LOAD_MAX_BYTES >> 20);
	} else if (precheck(&L) == 0) {
		parse(&L);
	}
	if (!L.failed)
		doc->root = L.root;
	for (size_t i = 0; i < L.nanchors; i++)
		free(L.anchors[i].name);
	free(L.anchors);
	free(L.stack);
	if (d == &local)
		diags_release(&local);
	return doc;
}

/* What a file that is not a regular file is, for the error. */
static const char *file_type_name(mode_t m)
{
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISFIFO(m))
		return "a FIFO (named pipe)";
	if (S_ISCHR(m))
		return "a character device";
	if (S_ISBLK(m))
		return "a block device";
	if (S_ISSOCK(m))
		return "a socket";
	return "not a regular file";
}

struct doc *doc_load(const char *path, struct diags *d)
{
	char *buf = NULL;
	size_t len = 0;
	int from_stdin = !strcmp(path, "-");
	const char *name = from_stdin ? DOC_STDIN_NAME : path;
	const char *what = NULL;
	int e = 0;
	/* O_NONBLOCK: opening a FIFO with no writer must not wait; the file
	 * type is checked before anything is read */
	int fd = from_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		e = errno;
	} else if (!from_stdin && !S_ISREG(st.st_mode)) {
		what = file_type_name(st.st_mode);
	} else {
		if (!from_stdin)
			fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
		if (read_fd(fd, LOAD_MAX_BYTES, &buf, &len) != 0)
			e = errno;
	}
	if (fd >= 0 && !from_stdin)
		close(fd);
	if (e || what) {
		struct doc *doc = xcalloc(1, sizeof(*doc));
		doc->file = xstrdup(name);
		doc->arena = arena_new();
		struct loc l = { doc->file, 0, 0 };
		if (what)
			diag_add(d, SEV_ERROR, "io", l,
				 "'%s' is %s, not a playbook file; give a regular file, or - to read the playbook from standard input",
				 path, what);
		else if (e == EFBIG)
			diag_add(d, SEV_ERROR, "yaml-limit",
				 l, "file is over the %u MiB limit for a playbook; split it", LOAD_MAX_BYTES >> 20);
		else
			diag_add(d, SEV_ERROR, "io", l, "cannot read the playbook: %s; check the path and its permissions",
				 strerror(e));
		return doc;
	}
	struct doc *doc = doc_load_buf(name, buf, len, d);
	free(buf);
	return doc;
}

void doc_free(struct doc *doc)
{
	if (!doc)
		return;
	doc_free(doc->imported);
	free(doc->misbound);
	arena_free(doc->arena);
	free(doc->src);
	free(doc->file);
	free(doc);
}

struct node *node_get(const struct node *map, const char *key)
{
	if (!map || map->kind != N_MAP)
		return NULL;
	size_t kl = strlen(key);
	for (size_t i = 0; i < map->n; i++) {
		const struct node *k = map->keys[i];
		if (k->kind == N_SCALAR && k->len == kl && memcmp(k->str, key, kl) == 0)
			return map->vals[i];
	}
	return NULL;
}

static int all_digits(const char *s, const char *digits)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!strchr(digits, *s))
			return 0;
	return 1;
}

enum scalar_type node_scalar_type(const struct node *n)
{
	if (n->kind != N_SCALAR)
		return S_STR;
	if (n->quoted)
		return S_STR;
	const char *s = n->str;
	if (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL"))
		return S_NULL;
	if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE") || !strcmp(s, "false") ||
	    !strcmp(s, "False") || !strcmp(s, "FALSE"))
		return S_BOOL;
	const char *p = s;
	if (*p == '-' || *p == '+')
		p++;
	if (all_digits(p, "0123456789"))
		return S_INT;
	if ((!strncmp(s, "0x", 2) && all_digits(s + 2, "0123456789abcdefABCDEF")) ||
	    (!strncmp(s, "0o", 2) && all_digits(s + 2, "01234567")))
		return S_INT;
	if (!strcmp(p, ".inf") || !strcmp(p, ".Inf") || !strcmp(p, ".INF") || !strcmp(s, ".nan") ||
	    !strcmp(s, ".NaN") || !strcmp(s, ".NAN"))
		return S_FLOAT;
	/* [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )? */
	const char *q = p;
	int mant = 0;
	while (*q >= '0' && *q <= '9') {
		q++;
		mant = 1;
	}
	if (*q == '.') {
		q++;
		while (*q >= '0' && *q <= '9') {
			q++;
			mant = 1;
		}
	}
	if (!mant)
		return S_STR;
	if (*q == 'e' || *q == 'E') {
		q++;
		if (*q == '-' || *q == '+')
			q++;
		if (!(*q >= '0' && *q <= '9'))
			return S_STR;
		while (*q >= '0' && *q <= '9')
			q++;
	}
	return *q ? S_STR : S_FLOAT;
}

int node_bool(const struct node *n, int *out)
{
	if (!n || n->kind != N_SCALAR || node_scalar_type(n) != S_BOOL)
		return -1;
	*out = n->str[0] == 't' || n->str[0] == 'T';
	return 0;
}

int node_int(const struct node *n, int64_t *out)
{
	if (!n || n->kind != N_SCALAR || node_scalar_type(n) != S_INT)
		return -1;
	errno = 0;
	char *end;
	long long v;
	if (!strncmp(n->str, "0o", 2))
		v = strtoll(n->str + 2, &end, 8);
	else
		v = strtoll(n->str, &end, 0);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

int node_number(const struct node *n, double *out)
{
	if (!n || n->kind != N_SCALAR)
		return -1;
	enum scalar_type t = node_scalar_type(n);
	if (t == S_INT) {
		int64_t v;
		if (node_int(n, &v))
			return -1;
		*out = (double)v;
		return 0;
	}
	if (t != S_FLOAT)
		return -1;
	/* .inf, .nan and 1e999 are YAML floats but no number drplay can use
	 * (and strtod reads ".inf" as 0, so the spelling is refused first) */
	if (strchr(n->str, 'n') || strchr(n->str, 'N'))
		return -1;
	double d = strtod(n->str, NULL);
	if (!isfinite(d))
		return -1;
	*out = d;
	return 0;
}

const char *node_kind_name(const struct node *n)
{
	if (!n)
		return "nothing";
	switch (n->kind) {
	case N_MAP: return "mapping";
	case N_SEQ: return "list";
	default:
		switch (node_scalar_type(n)) {
		case S_NULL: return "null";
		case S_BOOL: return "boolean";
		case S_INT: return "integer";
		case S_FLOAT: return "number";
		default: return "string";
		}
	}
}

json_t *node_to_json(const struct node *n)
{
	if (!n)
		return json_null();
	switch (n->kind) {
	case N_MAP: {
		json_t *o = json_object();
		for (size_t i = 0; i < n->n; i++) {
			const struct node *k = n->keys[i];
			const char *key = k->kind == N_SCALAR ? k->str : "?";
			json_object_set_new(o, key, node_to_json(n->vals[i]));
		}
		return o;
	}
	case N_SEQ: {
		json_t *a = json_array();
		for (size_t i = 0; i < n->n; i++)
			json_array_append_new(a, node_to_json(n->vals[i]));
		return a;
	}
	default:
		break;
	}
	switch (node_scalar_type(n)) {
	case S_NULL:
		return json_null();
	case S_BOOL: {
		int b = 0;
		node_bool(n, &b);
		return json_boolean(b);
	}
	case S_INT: {
		int64_t v;
		if (node_int(n, &v) == 0)
			return json_integer(v);
		return json_stringn(n->str, n->len);
	}
	case S_FLOAT: {
		double v = 0;
		if (node_number(n, &v) == 0)
			return json_real(v);
		return json_stringn(n->str, n->len); /* not finite: checked as text */
	}
	default: {
		json_t *s = json_stringn(n->str, n->len);
		return s ? s : json_string("");
	}
	}
}
