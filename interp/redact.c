/*
 * redact.c: the secret registry and the mask every sink writes through.
 * Masking collects the byte ranges to hide (registered secrets found by
 * memmem, credential shapes found by PCRE2 patterns), merges them, and
 * copies the text with each range replaced by "***". Patterns are compiled
 * once, with PCRE2's JIT when available.
 */
#include "redact.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "util.h"

#define MIN_SUBSTRING 3

static char **secrets;
static size_t nsecrets;

/* Credential shapes. `group` is the capture to hide (0 = whole match). */
struct pattern {
	const char *re;
	int group;
	const char *what;
	pcre2_code *code;
	pcre2_match_data *md;
};

static struct pattern patterns[] = {
	/* scheme://user:PASSWORD@host */
	{ "[A-Za-z][A-Za-z0-9+.-]*://[^:/@\\s]*:([^@/\\s]+)@", 1,
	  "a password inside a connection URL", NULL, NULL },
	/* password=... in libpq key/value strings and similar settings */
	{ "(?i)\\b(?:password|passwd|pwd|secret_key|secret_access_key|aws_secret_access_key|api_key|apikey|access_token|auth_token)\\s*[=:]\\s*(?!\\$\\{)('[^']*'|\"[^\"]*\"|[^\\s&;,'\"]+)",
	  1, "a password or key assigned in the text", NULL, NULL },
	/* AWS access key ids */
	{ "\\b((?:AKIA|ASIA)[A-Z0-9]{16})\\b", 1, "an AWS access key id", NULL, NULL },
	/* an AWS secret access key right after a key id */
	{ "\\b(?:AKIA|ASIA)[A-Z0-9]{16}.{0,40}?(?<![A-Za-z0-9/+=])([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])", 1,
	  "an AWS secret access key", NULL, NULL },
	/* HTTP bearer and basic credentials */
	{ "(?i)\\b(?:bearer|basic)\\s+([A-Za-z0-9._~+/=-]{8,})", 1, "a bearer token", NULL, NULL },
};

static int patterns_ready;

static void compile_patterns(void)
{
	if (patterns_ready)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(patterns); i++) {
		int err;
		PCRE2_SIZE off;
		patterns[i].code = pcre2_compile((PCRE2_SPTR)patterns[i].re, PCRE2_ZERO_TERMINATED,
						 PCRE2_UTF | PCRE2_NO_UTF_CHECK, &err, &off, NULL);
		if (!patterns[i].code) {
			fprintf(stderr, "drplay: internal error: redaction pattern %zu does not compile\n", i);
			abort();
		}
		pcre2_jit_compile(patterns[i].code, PCRE2_JIT_COMPLETE);
		patterns[i].md = pcre2_match_data_create_from_pattern(patterns[i].code, NULL);
	}
	patterns_ready = 1;
}

void redact_register(const char *secret)
{
	if (!secret || !*secret)
		return;
	for (size_t i = 0; i < nsecrets; i++)
		if (strcmp(secrets[i], secret) == 0)
			return;
	secrets = xrealloc(secrets, (nsecrets + 1) * sizeof(*secrets));
	/* Keep the longest first so that overlapping secrets mask whole. */
	size_t at = nsecrets;
	size_t len = strlen(secret);
	for (size_t i = 0; i < nsecrets; i++) {
		if (strlen(secrets[i]) < len) {
			at = i;
			break;
		}
	}
	memmove(secrets + at + 1, secrets + at, (nsecrets - at) * sizeof(*secrets));
	secrets[at] = xstrdup(secret);
	nsecrets++;
}

void redact_release(void)
{
	for (size_t i = 0; i < nsecrets; i++)
		free_secret(secrets[i]);
	free(secrets);
	secrets = NULL;
	nsecrets = 0;
	for (size_t i = 0; i < ARRAY_SIZE(patterns); i++) {
		if (patterns[i].md)
			pcre2_match_data_free(patterns[i].md);
		if (patterns[i].code)
			pcre2_code_free(patterns[i].code);
		patterns[i].md = NULL;
		patterns[i].code = NULL;
	}
	patterns_ready = 0;
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
	compile_patterns();
	for (size_t i = 0; i < ARRAY_SIZE(patterns); i++) {
		struct pattern *pt = &patterns[i];
		PCRE2_SIZE start = 0;
		while (start <= n) {
			int rc = pcre2_match(pt->code, (PCRE2_SPTR)s, n, start, PCRE2_NO_UTF_CHECK, pt->md, NULL);
			if (rc < 0)
				break;
			PCRE2_SIZE *ov = pcre2_get_ovector_pointer(pt->md);
			PCRE2_SIZE ga = ov[2 * pt->group], gb = ov[2 * pt->group + 1];
			if (ga != PCRE2_UNSET && gb > ga) {
				add_range(r, ga, gb);
				if (!what)
					what = pt->what;
			}
			start = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
		}
	}
	return what;
}

char *redact_n(const char *s, size_t n)
{
	if (!s)
		return xstrdup("");
	struct ranges r = { 0 };
	/* Patterns need valid UTF-8; invalid text is masked by secrets only. */
	find_ranges(s, n, &r, 1);
	if (r.n == 0) {
		free(r.v);
		return xstrndup(s, n);
	}
	qsort(r.v, r.n, sizeof(*r.v), range_cmp);
	struct strbuf sb = STRBUF_INIT;
	size_t pos = 0;
	for (size_t i = 0; i < r.n; i++) {
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
		sb_add(&sb, s + pos, a - pos);
		sb_adds(&sb, "***");
		pos = b;
	}
	sb_add(&sb, s + pos, n - pos);
	free(r.v);
	return sb_detach(&sb);
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
	switch (json_typeof(v)) {
	case JSON_STRING: {
		char *m = redact_n(json_string_value(v), json_string_length(v));
		json_t *j = json_string(m);
		free(m);
		return j ? j : json_string("***");
	}
	case JSON_OBJECT: {
		json_t *o = json_object();
		const char *k;
		json_t *x;
		json_object_foreach(v, k, x)
		{
			char *mk = redact(k);
			json_object_set_new(o, mk, redact_json(x));
			free(mk);
		}
		return o;
	}
	case JSON_ARRAY: {
		json_t *a = json_array();
		size_t i;
		json_t *x;
		json_array_foreach(v, i, x) json_array_append_new(a, redact_json(x));
		return a;
	}
	default:
		return json_incref(v);
	}
}

void redact_fputs(const char *s, FILE *f)
{
	char *m = redact(s);
	fputs(m, f);
	free(m);
}

void redact_fprintf(FILE *f, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = xvasprintf(fmt, ap);
	va_end(ap);
	redact_fputs(s, f);
	free(s);
}
