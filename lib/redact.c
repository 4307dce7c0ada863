/*
 * redact.c: the secret registry and the mask every sink writes through.
 * Masking collects the byte ranges to hide (registered secrets found by
 * memmem, credential shapes found by PCRE2 patterns), merges them, and
 * copies the text with each range replaced by "***". It works on arbitrary
 * bytes: the patterns are ASCII and compiled without PCRE2_UTF, so text
 * that is not UTF-8 (a child's output, a server's message) is matched byte
 * by byte, never decoded. Patterns are compiled once, with PCRE2's JIT when
 * available. The terminal writers here also escape control characters
 * (text.h): what reaches the terminal is masked and escaped in one place.
 *
 * A library (lib/), not part of the language: it knows no step, run or
 * family. Secrets are registered by whoever finds them, the credential
 * shapes by the families that know them (each family's table, added when
 * the registry takes the family), and every sink of the interpreter and of
 * the families calls it.
 */
#include "redact.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "text.h"
#include "util.h"

#define MIN_SUBSTRING REDACT_MIN_LEN

static char **secrets;
static size_t nsecrets;

/* Credential shapes, as the families registered them (credential.h), each
 * compiled on first use. The key names of every REDACT_ASSIGNED are joined
 * into one shape (one scan of the text, not one per family), placed where
 * the first of them was registered. */
struct shape {
	char *re;
	int group;
	const char *what;
	pcre2_code *code;
	pcre2_match_data *md;
};

static struct shape *shapes;
static size_t nshapes;
static long assigned = -1;    /* the shape of the assigned keys, or -1 */
static struct strbuf assigned_keys; /* "a|b|c" */

static void drop_code(struct shape *sh)
{
	if (sh->md)
		pcre2_match_data_free(sh->md);
	if (sh->code)
		pcre2_code_free(sh->code);
	sh->md = NULL;
	sh->code = NULL;
}

static void add_shape(const char *re, int group, const char *what)
{
	for (size_t i = 0; i < nshapes; i++)
		if (!strcmp(shapes[i].re, re))
			return;
	shapes = xrealloc(shapes, (nshapes + 1) * sizeof(*shapes));
	shapes[nshapes++] = (struct shape){ .re = xstrdup(re), .group = group, .what = what };
}

/* Adds key names ("a|b") to the assigned-keys shape, each once. */
static void add_keys(const char *keys, const char *what)
{
	if (assigned < 0) {
		add_shape("", 1, what);
		assigned = (long)nshapes - 1;
	}
	for (const char *k = keys; *k;) {
		size_t n = strcspn(k, "|");
		int known = 0;
		for (const char *h = sb_str(&assigned_keys); *h && !known;) {
			size_t hn = strcspn(h, "|");
			known = hn == n && !memcmp(h, k, n);
			h += hn + (h[hn] == '|');
		}
		if (!known)
			sb_addf(&assigned_keys, "%s%.*s", assigned_keys.len ? "|" : "", (int)n, k);
		k += n + (k[n] == '|');
	}
	struct shape *sh = &shapes[assigned];
	free(sh->re);
	sh->re = xasprintf("(?i)\\b(?:%s)" REDACT_ASSIGNED_VALUE, sb_str(&assigned_keys));
	drop_code(sh);
}

void redact_add_patterns(const struct redact_pattern *p)
{
	for (; p && (p->re || p->keys); p++) {
		if (p->keys)
			add_keys(p->keys, p->what);
		else
			add_shape(p->re, p->group, p->what);
	}
}

static void compile_shape(struct shape *sh)
{
	int err;
	PCRE2_SIZE off;
	/* Byte mode (no PCRE2_UTF): any input is matched safely. */
	sh->code = pcre2_compile((PCRE2_SPTR)sh->re, PCRE2_ZERO_TERMINATED, 0, &err, &off, NULL);
	if (!sh->code) {
		fprintf(stderr, "drplay: internal error: redaction pattern '%s' does not compile\n", sh->what);
		abort();
	}
	pcre2_jit_compile(sh->code, PCRE2_JIT_COMPLETE);
	sh->md = pcre2_match_data_create_from_pattern(sh->code, NULL);
}

static size_t longest;

static void add_secret(const char *secret, size_t len)
{
	if (!len)
		return;
	for (size_t i = 0; i < nsecrets; i++)
		if (strlen(secrets[i]) == len && memcmp(secrets[i], secret, len) == 0)
			return;
	secrets = xrealloc(secrets, (nsecrets + 1) * sizeof(*secrets));
	/* Keep the longest first so that overlapping secrets mask whole. */
	size_t at = nsecrets;
	for (size_t i = 0; i < nsecrets; i++) {
		if (strlen(secrets[i]) < len) {
			at = i;
			break;
		}
	}
	memmove(secrets + at + 1, secrets + at, (nsecrets - at) * sizeof(*secrets));
	secrets[at] = xstrndup(secret, len);
	nsecrets++;
	if (len > longest)
		longest = len;
}

void redact_register(const char *secret)
{
	if (!secret || !*secret)
		return;
	add_secret(secret, strlen(secret));
	/* A multi-line secret (a PEM key) reaches sinks a line at a time:
	 * relayed output and log events are split at line breaks, and lose a
	 * trailing '\r' (so does a one-line secret that ends in one). */
	for (const char *p = secret; *p;) {
		size_t n = strcspn(p, "\n");
		size_t len = n;
		if (len && p[len - 1] == '\r')
			len--;
		add_secret(p, len);
		p += n;
		if (*p)
			p++;
	}
}

size_t redact_margin(void)
{
	/* a registered secret, or a credential pattern's longest fixed part
	 * (an AWS key id, up to 40 bytes, and its 40-byte secret) */
	return longest > 128 ? longest : 128;
}

void redact_release(void)
{
	for (size_t i = 0; i < nsecrets; i++)
		free_secret(secrets[i]);
	free(secrets);
	secrets = NULL;
	nsecrets = 0;
	longest = 0;
	for (size_t i = 0; i < nshapes; i++)
		drop_code(&shapes[i]);
}

struct range {
	size_t a, b;
};

struct ranges {
	struct range *v;
	size_t n, alloc;
};

static void add_range(struct ranges *r, size_t a, size_t b)
{
	if (b <= a)
		return;
	if (r->n == r->alloc) {
		r->alloc = r->alloc ? r->alloc * 2 : 8;
		r->v = xrealloc(r->v, r->alloc * sizeof(*r->v));
	}
	r->v[r->n].a = a;
	r->v[r->n].b = b;
	r->n++;
}

static int range_cmp(const void *pa, const void *pb)
{
	const struct range *a = pa, *b = pb;
	return a->a < b->a ? -1 : a->a > b->a;
}

/* Collects ranges of s to hide. Returns the pattern that matched first (for
 * lint), or NULL. */
static const char *find_ranges(const char *s, size_t n, struct ranges *r, int use_secrets)
{
	const char *what = NULL;
	if (use_secrets) {
		for (size_t i = 0; i < nsecrets; i++) {
			size_t len = strlen(secrets[i]);
			if (len < MIN_SUBSTRING) {
				if (len == n && memcmp(s, secrets[i], n) == 0)
					add_range(r, 0, n);
				continue;
			}
			const char *p = s, *e = s + n;
			while (p < e) {
				const char *hit = memmem(p, (size_t)(e - p), secrets[i], len);
				if (!hit)
					break;
				add_range(r, (size_t)(hit - s), (size_t)(hit - s) + len);
				what = "a registered secret";
				p = hit + len;
			}
		}
	}
	for (size_t i = 0; i < nshapes; i++) {
		struct shape *pt = &shapes[i];
		if (!pt->code)
			compile_shape(pt);
		PCRE2_SIZE start = 0;
		while (start <= n) {
			int rc = pcre2_match(pt->code, (PCRE2_SPTR)s, n, start, PCRE2_NO_UTF_CHECK, pt->md, NULL);
			if (rc < 0)
				break;
			PCRE2_SIZE *ov = pcre2_get_ovector_pointer(pt->md);
			PCRE2_SIZE ga = ov[2 * pt->group], gb = ov[2 * pt->group + 1];
			if (ov[1] > n || ov[0] > ov[1])
				break; /* never past the text, whatever the matcher says */
			if (ga != PCRE2_UNSET && gb > ga && gb <= n) {
				add_range(r, ga, gb);
				if (!what)
					what = pt->what;
			}
			start = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
		}
	}
	return what;
}

static char *mask_cut(const char *s, size_t n, size_t keep)
{
	struct ranges r = { 0 };
	/* Ranges are found in all n bytes; only the first `keep` are copied,
	 * so a secret that straddles the cut is masked, not halved. */
	find_ranges(s, n, &r, 1);
	struct strbuf sb;
	sb_init(&sb, (size_t)-1);
	size_t pos = 0;
	if (r.n)
		qsort(r.v, r.n, sizeof(*r.v), range_cmp);
	for (size_t i = 0; i < r.n && pos < keep; i++) {
		size_t a = r.v[i].a, b = r.v[i].b;
		while (i + 1 < r.n && r.v[i + 1].a <= b) {
			if (r.v[i + 1].b > b)
				b = r.v[i + 1].b;
			i++;
		}
		if (a < pos) {
			if (b <= pos)
				continue;
			a = pos;
		}
		if (a >= keep)
			break;
		sb_add(&sb, s + pos, a - pos);
		sb_adds(&sb, "***");
		pos = b;
	}
	if (pos < keep)
		sb_add(&sb, s + pos, keep - pos);
	free(r.v);
	return sb_detach(&sb);
}

char *redact_cut(const char *s, size_t n, size_t keep)
{
	if (!s)
		return xstrdup("");
	if (keep > n)
		keep = n;
	if (!memchr(s, '\0', n))
		return mask_cut(s, n, keep);
	/* A NUL in a child's output is data, not its end: it becomes U+FFFD
	 * before masking, so the masked copy (a C string) keeps what follows. */
	struct strbuf z;
	sb_init(&z, (size_t)-1);
	size_t zkeep = 0;
	for (size_t i = 0; i < n; i++) {
		if (i == keep)
			zkeep = z.len;
		if (s[i])
			sb_addc(&z, s[i]);
		else
			sb_adds(&z, "\xef\xbf\xbd");
	}
	if (keep == n)
		zkeep = z.len;
	char *m = mask_cut(z.buf, z.len, zkeep);
	explicit_bzero(z.buf, z.len);
	sb_release(&z);
	return m;
}

char *redact_utf8(const char *s, size_t n, size_t keep)
{
	char *m = redact_cut(s, n, keep);
	if (utf8_valid(m, strlen(m)))
		return m;
	char *t = text_utf8(m, strlen(m));
	free_secret(m);
	return t;
}

char *redact_n(const char *s, size_t n)
{
	return redact_cut(s, n, n);
}

char *redact(const char *s)
{
	return redact_n(s, s ? strlen(s) : 0);
}

int redact_contains_secret(const char *s)
{
	struct ranges r = { 0 };
	find_ranges(s, strlen(s), &r, 1);
	int found = r.n > 0;
	free(r.v);
	return found;
}

const char *redact_find_credential(const char *s)
{
	struct ranges r = { 0 };
	const char *what = find_ranges(s, strlen(s), &r, 0);
	free(r.v);
	return what;
}

json_t *redact_json(json_t *v)
{
	if (!v)
		return json_null();
	/* a secret that is not UTF-8 may have matched inside a character: the
	 * masked text is repaired, never dropped (json_map_text) */
	return json_map_text(v, redact_n);
}

/* Appends s masked and escaped for the terminal. */
static void add_term(struct strbuf *sb, const char *s, size_t n, long prec)
{
	char *m = redact_n(s, n);
	size_t len = strlen(m);
	if (prec >= 0 && (size_t)prec < len)
		len = (size_t)prec; /* %.Ns cuts after masking, never a secret in half */
	text_term(sb, m, len);
	free_secret(m);
}

void redact_fputs(const char *s, FILE *f)
{
	struct strbuf sb;
	sb_init(&sb, (size_t)-1);
	add_term(&sb, s, strlen(s), -1);
	fputs(sb_str(&sb), f);
	sb_release(&sb);
}

/* One conversion of a format, as written after its '%'. */
struct conv_spec {
	char spec[64];   /* "%-10.3ld": flags, width, precision and length, '*' resolved */
	int left;        /* '-': padded on the right */
	long width, prec; /* -1 when not given */
	char len[3];     /* the length modifier: "", "l", "ll", "z", ... */
	char conv;       /* the conversion character */
};

/* Reads a conversion's flags, width, precision and length (a '*' taken
 * from the arguments) into cs. Returns the format position after it. */
static const char *parse_spec(const char *p, va_list *ap, struct conv_spec *cs)
{
	size_t k = 0;
	cs->left = 0;
	cs->width = cs->prec = -1;
	cs->spec[k++] = '%';
	while (*p && strchr("-+ #0'", *p)) {
		cs->left |= *p == '-';
		if (k < 8)
			cs->spec[k++] = *p;
		p++;
	}
	if (*p == '*') {
		cs->width = va_arg(*ap, int);
		if (cs->width < 0) {
			cs->left = 1;
			cs->width = -cs->width;
		}
		p++;
	} else if (*p >= '0' && *p <= '9') {
		cs->width = strtol(p, (char **)&p, 10);
	}
	if (*p == '.') {
		p++;
		if (*p == '*') {
			cs->prec = va_arg(*ap, int);
			p++;
		} else {
			cs->prec = strtol(p, (char **)&p, 10);
		}
	}
	if (cs->left && k < 8 && !memchr(cs->spec, '-', k))
		cs->spec[k++] = '-';
	if (cs->width >= 0)
		k += (size_t)snprintf(cs->spec + k, sizeof(cs->spec) - k - 8, "%ld", cs->width);
	if (cs->prec >= 0)
		k += (size_t)snprintf(cs->spec + k, sizeof(cs->spec) - k - 8, ".%ld", cs->prec);
	size_t ln = 0;
	while (*p && strchr("hlzjtL", *p) && ln < 2) {
		cs->len[ln++] = *p;
		cs->spec[k++] = *p++;
	}
	cs->len[ln] = '\0';
	cs->conv = *p ? *p++ : 's';
	cs->spec[k++] = cs->conv;
	cs->spec[k] = '\0';
	return p;
}

/* %s and %c: the argument masked and escaped for the terminal, then padded
 * to the width (a precision cuts after masking, never a secret in half). */
static void convert_text(struct strbuf *out, const struct conv_spec *cs, va_list *ap)
{
	char c;
	const char *s;
	if (cs->conv == 'c') {
		c = (char)va_arg(*ap, int);
		s = &c;
	} else {
		s = va_arg(*ap, const char *);
		if (!s)
			s = "(null)";
	}
	struct strbuf t;
	sb_init(&t, (size_t)-1);
	add_term(&t, s, cs->conv == 'c' ? 1 : strlen(s), cs->conv == 'c' ? -1 : cs->prec);
	for (long pad = cs->width - (long)t.len; !cs->left && pad > 0; pad--)
		sb_addc(out, ' ');
	sb_add(out, t.buf ? t.buf : "", t.len);
	for (long pad = cs->width - (long)t.len; cs->left && pad > 0; pad--)
		sb_addc(out, ' ');
	sb_release(&t);
}

/* Numbers and pointers, formatted by snprintf with the argument of the
 * type the length modifier names. */
static void convert_number(char *num, size_t n, const struct conv_spec *cs, va_list *ap)
{
	const char *len = cs->len, *spec = cs->spec;
	num[0] = '\0';
	switch (cs->conv) {
	case 'd':
	case 'i':
		if (!strcmp(len, "l"))
			snprintf(num, n, spec, va_arg(*ap, long));
		else if (!strcmp(len, "ll"))
			snprintf(num, n, spec, va_arg(*ap, long long));
		else if (!strcmp(len, "z"))
			snprintf(num, n, spec, va_arg(*ap, ssize_t));
		else if (!strcmp(len, "j"))
			snprintf(num, n, spec, va_arg(*ap, intmax_t));
		else if (!strcmp(len, "t"))
			snprintf(num, n, spec, va_arg(*ap, ptrdiff_t));
		else
			snprintf(num, n, spec, va_arg(*ap, int));
		break;
	case 'u':
	case 'o':
	case 'x':
	case 'X':
		if (!strcmp(len, "l"))
			snprintf(num, n, spec, va_arg(*ap, unsigned long));
		else if (!strcmp(len, "ll"))
			snprintf(num, n, spec, va_arg(*ap, unsigned long long));
		else if (!strcmp(len, "z"))
			snprintf(num, n, spec, va_arg(*ap, size_t));
		else if (!strcmp(len, "j"))
			snprintf(num, n, spec, va_arg(*ap, uintmax_t));
		else if (!strcmp(len, "t"))
			snprintf(num, n, spec, va_arg(*ap, ptrdiff_t));
		else
			snprintf(num, n, spec, va_arg(*ap, unsigned));
		break;
	case 'f':
	case 'F':
	case 'e':
	case 'E':
	case 'g':
	case 'G':
	case 'a':
	case 'A':
		if (!strcmp(len, "L"))
			snprintf(num, n, spec, va_arg(*ap, long double));
		else
			snprintf(num, n, spec, va_arg(*ap, double));
		break;
	case 'p':
		snprintf(num, n, spec, va_arg(*ap, void *));
		break;
	default:
		/* %n and unknown conversions: formats are literals checked by the
		 * compiler (PRINTF_LIKE), so this is a programming error */
		fprintf(stderr, "drplay: internal error: unsupported conversion '%c' in a format\n", cs->conv);
		abort();
	}
}

/* One conversion of a format (after '%'): fetches its argument and appends
 * the converted text. Returns the format position after it. A hand-written
 * walker because C has no portable way to apply a function to each %s
 * argument of a va_list. */
static const char *convert(struct strbuf *out, const char *p, va_list *ap)
{
	struct conv_spec cs;
	p = parse_spec(p, ap, &cs);
	if (cs.conv == 's' || cs.conv == 'c') {
		convert_text(out, &cs, ap);
		return p;
	}
	char num[512];
	convert_number(num, sizeof(num), &cs, ap);
	sb_adds(out, num);
	return p;
}

char *redact_vformat(const char *fmt, va_list ap)
{
	struct strbuf out;
	sb_init(&out, (size_t)-1);
	va_list cp;
	va_copy(cp, ap);
	for (const char *p = fmt; *p;) {
		const char *pct = strchr(p, '%');
		if (!pct) {
			sb_adds(&out, p);
			break;
		}
		sb_add(&out, p, (size_t)(pct - p));
		p = pct + 1;
		if (*p == '%') {
			sb_addc(&out, '%');
			p++;
			continue;
		}
		p = convert(&out, p, &cp);
	}
	va_end(cp);
	/* once more over the whole: a credential can span the format's text
	 * and an argument ("password=%s") */
	char *m = redact_n(sb_str(&out), out.len);
	if (out.buf)
		explicit_bzero(out.buf, out.len);
	sb_release(&out);
	return m;
}

void redact_vfprintf(FILE *f, const char *fmt, va_list ap)
{
	char *m = redact_vformat(fmt, ap);
	fputs(m, f);
	free_secret(m);
}

void redact_fprintf(FILE *f, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	redact_vfprintf(f, fmt, ap);
	va_end(ap);
}
