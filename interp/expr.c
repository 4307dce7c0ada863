/*
 * expr.c: the expression language of `when:`, `assert: {that:}` and ${...}
 * templates (grammar/expr.ebnf). A hand-written lexer and recursive-descent
 * parser build an AST once, at check time, with bounded length and nesting;
 * an evaluator walks it over typed values (numbers, strings, timestamps,
 * durations, JSON), asks the caller's resolver for the roots, navigates JSON
 * itself and carries the secret taint through every operation. Regular
 * expressions are PCRE2 with match limits; a literal pattern is compiled at
 * parse time, a computed one is cached in its node, so one expression is
 * evaluated by one thread at a time. Evaluation is bounded too: strings of
 * at most 1 MiB, 64 pattern matches per evaluation, and these limits are
 * errors that default() does not hide.
 */
#include "expr.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "diag.h"
#include "util.h"

#define EXPR_MAX_LEN ((size_t)64 << 10) /* bytes of source in one expression */
#define EXPR_MAX_DEPTH 64               /* nesting of (), [], calls, unary ops, ?: */
#define EXPR_MAX_HEIGHT 256             /* height of the tree (long operator chains) */
#define TMPL_MAX_LEN ((size_t)1 << 20)  /* bytes in one template */
#define STR_MAX ((size_t)1 << 20)       /* largest string an evaluation builds */
#define RE_MATCH_LIMIT 1000000          /* PCRE2 budget per match (backtracking) */
#define RE_DEPTH_LIMIT 10000
#define RE_HEAP_LIMIT 20480             /* KiB */
#define RE_MAX_MATCHES 64               /* pattern matches in one evaluation */
#define QUOTE_MAX 48                    /* bytes of offending text quoted in messages */

#define TIME_MIN (-62167219200LL * 1000000)     /* 0000-01-01T00:00:00Z */
#define TIME_MAX (253402300800LL * 1000000 - 1) /* 9999-12-31T23:59:59.999999Z */
#define US_LIMIT 9.2e18                         /* |microseconds| a duration may hold */

/* ---- tokens ---- */

enum tok_kind {
	T_EOF, T_ERR, T_NUM, T_STR, T_DUR, T_TIME, T_IDENT,
	T_LPAREN, T_RPAREN, T_LBRACK, T_RBRACK, T_RBRACE, T_COMMA, T_DOT, T_QUEST, T_COLON,
	T_PLUS, T_MINUS, T_STAR, T_SLASH, T_PERCENT,
	T_EQ, T_NE, T_LT, T_LE, T_GT, T_GE, T_MATCH, T_IN,
	T_AND, T_OR, T_NOT, T_TRUE, T_FALSE, T_NULL,
};

static const char *const op_text[] = {
	[T_PLUS] = "+", [T_MINUS] = "-", [T_STAR] = "*", [T_SLASH] = "/", [T_PERCENT] = "%",
	[T_EQ] = "==", [T_NE] = "!=", [T_LT] = "<", [T_LE] = "<=", [T_GT] = ">", [T_GE] = ">=",
	[T_MATCH] = "=~", [T_IN] = "in", [T_AND] = "and", [T_OR] = "or", [T_NOT] = "not",
};

struct tok {
	enum tok_kind k;
	size_t start, end; /* byte offsets in the parser's text */
	double num;
	int64_t us;
	char *str;         /* T_STR: the decoded text, owned until a node takes it */
};

/* ---- the tree ---- */

enum ekind { E_LIT, E_LIST, E_ROOT, E_MEMBER, E_INDEX, E_NEG, E_NOT, E_BIN, E_CMP, E_AND, E_OR, E_COND, E_CALL };

enum func {
	F_NOW, F_DURATION, F_TIMESTAMP, F_AGE, F_LEN, F_LOWER, F_UPPER, F_CONTAINS, F_MATCHES,
	F_DEFAULT, F_INT, F_STRING, F_NUMBER, F_MIN, F_MAX, F_KEYS, F_CAPTURE,
};

static const struct {
	const char *name;
	size_t nargs;
} funcs[] = {
	[F_NOW] = { "now", 0 },         [F_DURATION] = { "duration", 1 }, [F_TIMESTAMP] = { "timestamp", 1 },
	[F_AGE] = { "age", 1 },         [F_LEN] = { "len", 1 },           [F_LOWER] = { "lower", 1 },
	[F_UPPER] = { "upper", 1 },     [F_CONTAINS] = { "contains", 2 }, [F_MATCHES] = { "matches", 2 },
	[F_DEFAULT] = { "default", 2 }, [F_INT] = { "int", 1 },           [F_STRING] = { "string", 1 },
	[F_NUMBER] = { "number", 1 },   [F_MIN] = { "min", 2 },           [F_MAX] = { "max", 2 },
	[F_KEYS] = { "keys", 1 },       [F_CAPTURE] = { "capture", 2 },
};
#define FUNC_LIST "now, duration, timestamp, age, len, lower, upper, contains, matches, default, " \
		  "int, string, number, min, max, keys and capture"

static const char *const roots[] = { "params", "env", "secret", "steps", "resources", "run" };

struct enode {
	enum ekind k;
	int op;               /* E_BIN/E_CMP/E_AND/E_OR: token kind; E_CALL: enum func */
	size_t start, end;    /* source span, offsets into the expression's text */
	int height;
	struct value lit;     /* E_LIT */
	const char *root;     /* E_ROOT: one of roots[] */
	char *name;           /* E_ROOT: the first member (or NULL); E_MEMBER: the field */
	struct loc loc;       /* E_ROOT: where the root is written */
	struct enode *a, *b, *c;
	struct enode **args;  /* E_CALL arguments, E_LIST elements */
	size_t nargs;
	pcre2_code *re;       /* =~ and matches(): the compiled pattern */
	int re_lit;           /* re was compiled at parse time from a literal */
	char *re_src;         /* else: the pattern re was compiled from (a cache) */
	int re_secret;        /* re_src came from a secret */
};

struct expr {
	char *src;
	struct enode *root;
};

/* ---- small text helpers ---- */

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_alnum(int c)
{
	return is_alpha(c) || is_digit(c);
}

static int is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Length of the valid UTF-8 sequence at p (n bytes available), 0 if invalid. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	size_t len;
	unsigned min;
	unsigned cp;
	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0) {
		len = 2, min = 0x80, cp = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		len = 3, min = 0x800, cp = p[0] & 0x0f;
	} else if ((p[0] & 0xf8) == 0xf0) {
		len = 4, min = 0x10000, cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* Appends at most QUOTE_MAX bytes of s[0..n) to sb for a message: control
 * bytes and invalid UTF-8 as \xNN, "..." when cut. */
static void sb_quote(struct strbuf *sb, const char *s, size_t n)
{
	size_t i = 0, used = 0;
	while (i < n) {
		const unsigned char *p = (const unsigned char *)s + i;
		size_t l = utf8_len(p, n - i);
		if (used + (l ? l : 4) > QUOTE_MAX) {
			sb_adds(sb, "...");
			return;
		}
		if (l == 1 && *p >= 0x20 && *p != 0x7f) {
			sb_addc(sb, (char)*p);
			used++;
		} else if (l > 1) {
			sb_add(sb, p, l);
			used += l;
		} else {
			sb_addf(sb, "\\x%02x", *p);
			used += 4;
			l = 1;
		}
		i += l;
	}
}

/* ---- values ---- */

/* Releases what a value owns (wiping secret strings) and leaves it null. */
void value_release(struct value *v)
{
	if (!v)
		return;
	if (v->t == V_STR) {
		if (v->secret)
			free_secret(v->u.s);
		else
			free(v->u.s);
	} else if (v->t == V_JSON) {
		json_decref(v->u.j);
	}
	memset(v, 0, sizeof(*v));
}

/* Sets v from a borrowed JSON value: scalars become typed values, objects and
 * arrays V_JSON holding a new reference; NULL becomes null. */
void value_from_json(struct value *v, json_t *j)
{
	memset(v, 0, sizeof(*v));
	if (!j)
		return;
	switch (json_typeof(j)) {
	case JSON_OBJECT:
	case JSON_ARRAY:
		v->t = V_JSON;
		v->u.j = json_incref(j);
		break;
	case JSON_STRING:
		v->t = V_STR;
		v->u.s = xstrndup(json_string_value(j), strlen(json_string_value(j)));
		break;
	case JSON_INTEGER:
	case JSON_REAL:
		v->t = V_NUM;
		v->u.n = json_number_value(j);
		break;
	case JSON_TRUE:
	case JSON_FALSE:
		v->t = V_BOOL;
		v->u.b = json_is_true(j);
		break;
	case JSON_NULL:
		break;
	}
}

/* Writes a timestamp as RFC 3339 UTC, with a fraction only when it has one.
 * Independent of TZ and of gmtime's range. */
static void fmt_time(int64_t us, char *buf, size_t n)
{
	int64_t secs = us / 1000000, frac = us % 1000000;
	if (frac < 0) {
		frac += 1000000;
		secs--;
	}
	int64_t days = secs / 86400, sod = secs % 86400;
	if (sod < 0) {
		sod += 86400;
		days--;
	}
	/* civil_from_days (H. Hinnant) */
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t y = yoe + era * 400;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int64_t d = doy - (153 * mp + 2) / 5 + 1;
	int64_t m = mp < 10 ? mp + 3 : mp - 9;
	y += m <= 2;
	char fr[16] = "";
	if (frac) {
		snprintf(fr, sizeof(fr), ".%06lld", (long long)frac);
		size_t l = strlen(fr);
		while (fr[l - 1] == '0')
			fr[--l] = '\0';
	}
	snprintf(buf, n, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld%sZ", (long long)y, (long long)m,
		 (long long)d, (long long)(sod / 3600), (long long)(sod % 3600 / 60), (long long)(sod % 60), fr);
}

/* A number as text: integral values up to 2^53 as whole numbers, others in
 * the shorter of %.15g / %.17g that reads back exactly. */
static void fmt_num(double n, char *buf, size_t sz)
{
	if (isnan(n)) {
		snprintf(buf, sz, "nan");
	} else if (n == trunc(n) && fabs(n) <= 9007199254740992.0) {
		snprintf(buf, sz, "%.0f", n == 0 ? 0.0 : n);
	} else {
		snprintf(buf, sz, "%.15g", n);
		if (strtod(buf, NULL) != n)
			snprintf(buf, sz, "%.17g", n);
	}
}

/* A new JSON reference for v: timestamps as RFC 3339 strings, durations as
 * fmt_duration writes them, integral numbers as JSON integers. NULL when a
 * string is not valid UTF-8 (JSON cannot hold it). */
json_t *value_to_json(const struct value *v)
{
	char buf[64];
	switch (v->t) {
	case V_NULL:
		return json_null();
	case V_BOOL:
		return json_boolean(v->u.b);
	case V_NUM:
		if (!isfinite(v->u.n))
			return json_null();
		if (v->u.n == trunc(v->u.n) && fabs(v->u.n) <= 9007199254740992.0)
			return json_integer((json_int_t)v->u.n);
		return json_real(v->u.n);
	case V_STR:
		return json_string(v->u.s ? v->u.s : "");
	case V_TIME:
		fmt_time(v->u.us, buf, sizeof(buf));
		return json_string(buf);
	case V_DUR:
		fmt_duration(v->u.us == INT64_MIN ? -INT64_MAX : v->u.us, buf, sizeof(buf));
		return json_string(buf);
	case V_JSON:
		return v->u.j ? json_incref(v->u.j) : json_null();
	}
	return json_null();
}

struct dumpbuf {
	struct strbuf sb;
	size_t cap;
	int over;
};

static int dump_cb(const char *buf, size_t size, void *data)
{
	struct dumpbuf *db = data;
	if (size > db->cap - db->sb.len) {
		db->over = 1;
		return -1;
	}
	sb_add(&db->sb, buf, size);
	return 0;
}

/* The text of v (see value_to_text), or NULL when longer than cap bytes. */
static char *text_of(const struct value *v, size_t cap)
{
	char buf[64] = "";
	const char *s = buf;
	switch (v->t) {
	case V_NULL:
		s = "";
		break;
	case V_BOOL:
		s = v->u.b ? "true" : "false";
		break;
	case V_NUM:
		fmt_num(v->u.n, buf, sizeof(buf));
		break;
	case V_STR:
		s = v->u.s ? v->u.s : "";
		break;
	case V_TIME:
		fmt_time(v->u.us, buf, sizeof(buf));
		break;
	case V_DUR:
		fmt_duration(v->u.us == INT64_MIN ? -INT64_MAX : v->u.us, buf, sizeof(buf));
		break;
	case V_JSON: {
		struct dumpbuf db;
		sb_init(&db.sb, (size_t)-1);
		db.cap = cap;
		db.over = 0;
		if (v->u.j)
			json_dump_callback(v->u.j, dump_cb, &db, JSON_COMPACT | JSON_ENCODE_ANY);
		if (db.over) {
			sb_release(&db.sb);
			return NULL;
		}
		return sb_detach(&db.sb);
	}
	}
	if (strlen(s) > cap)
		return NULL;
	return xstrdup(s);
}

/* The value as text for interpolation (caller frees): null as "", JSON as
 * compact JSON in its own key order, timestamps as RFC 3339 UTC, durations as
 * fmt_duration writes them, booleans as true/false. */
char *value_to_text(const struct value *v)
{
	char *s = text_of(v, (size_t)-1 / 2);
	return s ? s : xstrdup("");
}

/* Truthiness: false, null, 0, "", a zero duration and an empty list or
 * object are false; everything else (every timestamp) is true. */
int value_truthy(const struct value *v)
{
	switch (v->t) {
	case V_NULL:
		return 0;
	case V_BOOL:
		return v->u.b != 0;
	case V_NUM:
		return v->u.n != 0 && !isnan(v->u.n);
	case V_STR:
		return v->u.s && v->u.s[0];
	case V_TIME:
		return 1;
	case V_DUR:
		return v->u.us != 0;
	case V_JSON:
		if (!v->u.j)
			return 0;
		if (json_is_array(v->u.j))
			return json_array_size(v->u.j) > 0;
		if (json_is_object(v->u.j))
			return json_object_size(v->u.j) > 0;
		if (json_is_string(v->u.j))
			return json_string_length(v->u.j) > 0;
		if (json_is_number(v->u.j))
			return json_number_value(v->u.j) != 0;
		return json_is_true(v->u.j);
	}
	return 0;
}

/* The name of a value type for messages ("number", "timestamp", "json"...). */
const char *vtype_name(enum vtype t)
{
	switch (t) {
	case V_NULL:
		return "null";
	case V_BOOL:
		return "bool";
	case V_NUM:
		return "number";
	case V_STR:
		return "string";
	case V_TIME:
		return "timestamp";
	case V_DUR:
		return "duration";
	case V_JSON:
		return "json";
	}
	return "unknown";
}

/* "a number", "an object", "null": a value's kind with its article. */
static const char *an(const struct value *v)
{
	switch (v->t) {
	case V_NULL:
		return "null";
	case V_BOOL:
		return "a bool";
	case V_NUM:
		return "a number";
	case V_STR:
		return "a string";
	case V_TIME:
		return "a timestamp";
	case V_DUR:
		return "a duration";
	case V_JSON:
		if (v->u.j && json_is_array(v->u.j))
			return "a list";
		if (v->u.j && json_is_object(v->u.j))
			return "an object";
		return "a JSON value";
	}
	return "an unknown value";
}

static void vcopy(struct value *dst, const struct value *src)
{
	*dst = *src;
	if (src->t == V_STR)
		dst->u.s = xstrdup(src->u.s ? src->u.s : "");
	else if (src->t == V_JSON)
		json_incref(src->u.j);
}

static void set_bool(struct value *v, int b, int secret)
{
	memset(v, 0, sizeof(*v));
	v->t = V_BOOL;
	v->u.b = b != 0;
	v->secret = secret;
}

static void set_num(struct value *v, double n, int secret)
{
	memset(v, 0, sizeof(*v));
	v->t = V_NUM;
	v->u.n = n;
	v->secret = secret;
}

static void set_us(struct value *v, enum vtype t, int64_t us, int secret)
{
	memset(v, 0, sizeof(*v));
	v->t = t;
	v->u.us = us;
	v->secret = secret;
}

static void set_str(struct value *v, char *s, int secret)
{
	memset(v, 0, sizeof(*v));
	v->t = V_STR;
	v->u.s = s;
	v->secret = secret;
}

/* Makes a value from a resolver well-formed (a NULL string is "", a scalar
 * JSON value its typed value). */
static void normalize(struct value *v)
{
	if ((unsigned)v->t > V_JSON) {
		memset(v, 0, sizeof(*v));
	} else if (v->t == V_STR && !v->u.s) {
		v->u.s = xstrdup("");
	} else if (v->t == V_JSON) {
		json_t *j = v->u.j;
		int secret = v->secret;
		if (!j) {
			memset(v, 0, sizeof(*v));
		} else if (!json_is_object(j) && !json_is_array(j)) {
			value_from_json(v, j);
			json_decref(j);
			v->secret = secret;
		}
	}
}

/* ---- parsing ---- */

struct parser {
	const char *s;     /* the whole text (an expression or a template) */
	size_t len;
	size_t off0;       /* where this expression starts in s */
	size_t dollar;     /* in a template: where its "${" is */
	struct loc base;   /* the location of s[0] */
	struct diags *d;
	int tmpl;          /* inside ${...}: '}' ends the expression */
	int failed;
	int depth;
	size_t pos;        /* the lexer's position, after tok */
	struct tok tok;
};

static void perr(struct parser *P, size_t off, const char *fmt, ...) PRINTF_LIKE(3, 4);
static void perr(struct parser *P, size_t off, const char *fmt, ...)
{
	if (P->failed)
		return;
	P->failed = 1;
	if (!P->d)
		return;
	struct loc l = P->base;
	l.col += (int)off;
	va_list ap;
	va_start(ap, fmt);
	char *m = xvasprintf(fmt, ap);
	va_end(ap);
	diag_add(P->d, SEV_ERROR, "expr-syntax", l, "%s", m);
	free(m);
}

/* s[start..end) quoted for a message, into a strbuf the caller releases. */
static const char *q(struct strbuf *sb, const char *s, size_t n)
{
	sb_addc(sb, '\'');
	sb_quote(sb, s, n);
	sb_addc(sb, '\'');
	return sb_str(sb);
}

/* Reports a lexer error quoting the run of word-like characters at start. */
static void bad_word(struct parser *P, size_t start, const char *what, const char *hint)
{
	size_t e = start;
	while (e < P->len && (is_alnum((unsigned char)P->s[e]) || strchr(":.+-", P->s[e])) && e - start < 64)
		e++;
	struct strbuf sb = STRBUF_INIT;
	perr(P, start, "invalid %s %s; %s", what, q(&sb, P->s + start, e - start), hint);
	sb_release(&sb);
}

static int hexval(int c)
{
	if (is_digit(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int hex4(const char *s, size_t avail, unsigned *out)
{
	unsigned v = 0;
	if (avail < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		int h = hexval((unsigned char)s[i]);
		if (h < 0)
			return -1;
		v = v * 16 + (unsigned)h;
	}
	*out = v;
	return 0;
}

static void sb_utf8(struct strbuf *sb, unsigned cp)
{
	if (cp < 0x80) {
		sb_addc(sb, (char)cp);
	} else if (cp < 0x800) {
		sb_addc(sb, (char)(0xc0 | (cp >> 6)));
		sb_addc(sb, (char)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		sb_addc(sb, (char)(0xe0 | (cp >> 12)));
		sb_addc(sb, (char)(0x80 | ((cp >> 6) & 0x3f)));
		sb_addc(sb, (char)(0x80 | (cp & 0x3f)));
	} else {
		sb_addc(sb, (char)(0xf0 | (cp >> 18)));
		sb_addc(sb, (char)(0x80 | ((cp >> 12) & 0x3f)));
		sb_addc(sb, (char)(0x80 | ((cp >> 6) & 0x3f)));
		sb_addc(sb, (char)(0x80 | (cp & 0x3f)));
	}
}

static enum tok_kind lex_string(struct parser *P)
{
	const char *s = P->s;
	size_t start = P->pos, i = P->pos + 1;
	char quote = s[start];
	struct strbuf sb;
	sb_init(&sb, (size_t)-1);
	for (;;) {
		if (i >= P->len) {
			perr(P, start, "unterminated string starting here; close it with %s",
			     quote == '"' ? "a double quote (\")" : "a single quote (')");
			goto fail;
		}
		char c = s[i];
		if (c == quote) {
			i++;
			break;
		}
		if (c != '\\') {
			sb_addc(&sb, c);
			i++;
			continue;
		}
		if (i + 1 >= P->len) {
			perr(P, start, "unterminated string starting here; close it with %s",
			     quote == '"' ? "a double quote (\")" : "a single quote (')");
			goto fail;
		}
		char e = s[i + 1];
		unsigned cp, lo;
		switch (e) {
		case '\\':
		case '\'':
		case '"':
			sb_addc(&sb, e);
			break;
		case 'n':
			sb_addc(&sb, '\n');
			break;
		case 't':
			sb_addc(&sb, '\t');
			break;
		case 'r':
			sb_addc(&sb, '\r');
			break;
		case 'u':
			if (hex4(s + i + 2, P->len - (i + 2), &cp) != 0) {
				struct strbuf m = STRBUF_INIT;
				perr(P, i, "invalid escape %s in string; write \\u and four hex digits, as in \\u00e9",
				     q(&m, s + i, P->len - i < 6 ? P->len - i : 6));
				sb_release(&m);
				goto fail;
			}
			if (cp >= 0xd800 && cp <= 0xdbff && i + 7 < P->len && s[i + 6] == '\\' && s[i + 7] == 'u' &&
			    hex4(s + i + 8, P->len - (i + 8), &lo) == 0 && lo >= 0xdc00 && lo <= 0xdfff) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				i += 6;
			} else if (cp >= 0xd800 && cp <= 0xdfff) {
				struct strbuf m = STRBUF_INIT;
				perr(P, i, "invalid escape %s in string: a lone UTF-16 surrogate; write the character "
					   "itself or a \\uD8xx\\uDCxx pair",
				     q(&m, s + i, 6));
				sb_release(&m);
				goto fail;
			} else if (cp == 0) {
				perr(P, i, "invalid escape '\\u0000' in string: text cannot hold a NUL byte; remove it");
				goto fail;
			}
			sb_utf8(&sb, cp);
			i += 4;
			break;
		default:
			/* any other backslash stays as written, so that patterns
			 * read naturally: '\d+\.\d+' is the pattern \d+\.\d+ */
			sb_addc(&sb, '\\');
			sb_addc(&sb, e);
			break;
		}
		i += 2;
	}
	P->pos = i;
	P->tok.str = sb_detach(&sb);
	return T_STR;
fail:
	sb_release(&sb);
	P->pos = i < P->len ? i : P->len;
	return T_ERR;
}

/* Length of a duration unit at p ("ms" 2, "s" "m" "h" "d" 1), or 0. */
static size_t unit_at(const char *p)
{
	if (p[0] == 'm' && p[1] == 's')
		return 2;
	if (p[0] == 's' || p[0] == 'm' || p[0] == 'h' || p[0] == 'd')
		return 1;
	return 0;
}

static size_t scan_decimal(const char *s, size_t i)
{
	while (is_digit((unsigned char)s[i]))
		i++;
	if (s[i] == '.' && is_digit((unsigned char)s[i + 1])) {
		i++;
		while (is_digit((unsigned char)s[i]))
			i++;
	}
	return i;
}

static const char dur_hint[] = "write a number and a unit ms, s, m, h or d, as in 90s, 250ms or 1h30m";

static enum tok_kind lex_number(struct parser *P)
{
	const char *s = P->s;
	size_t start = P->pos;
	size_t i = scan_decimal(s, start);
	size_t u = unit_at(s + i);
	if (u) {
		/* a duration literal: NUMBER UNIT (NUMBER UNIT)* */
		for (;;) {
			i += u;
			if (!is_digit((unsigned char)s[i]))
				break;
			i = scan_decimal(s, i);
			u = unit_at(s + i);
			if (!u) {
				bad_word(P, start, "duration", dur_hint);
				return T_ERR;
			}
		}
		if (is_alnum((unsigned char)s[i]) || (s[i] == '.' && is_digit((unsigned char)s[i + 1]))) {
			bad_word(P, start, "duration", dur_hint);
			return T_ERR;
		}
		char *text = xstrndup(s + start, i - start);
		int64_t us;
		int rc = parse_duration(text, &us);
		free(text);
		if (rc != 0) {
			bad_word(P, start, "duration", "it is too long; the longest is 36500d (100 years)");
			return T_ERR;
		}
		P->tok.us = us;
		P->pos = i;
		return T_DUR;
	}
	if (is_alpha((unsigned char)s[i])) {
		bad_word(P, start, "number",
			 "a number is digits with an optional fraction (1.5); a duration has a unit "
			 "ms, s, m, h or d (90s)");
		return T_ERR;
	}
	char *text = xstrndup(s + start, i - start);
	double n = strtod(text, NULL);
	free(text);
	if (!isfinite(n)) {
		struct strbuf m = STRBUF_INIT;
		perr(P, start, "number %s is too large; use a smaller number", q(&m, s + start, i - start));
		sb_release(&m);
		return T_ERR;
	}
	P->tok.num = n;
	P->pos = i;
	return T_NUM;
}

static enum tok_kind lex_time(struct parser *P)
{
	static const char hint[] = "write RFC 3339 with a time and a zone, such as 2026-11-29T09:10:00Z";
	const char *s = P->s;
	size_t start = P->pos;
	/* YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM); digits are checked by position */
	static const char shape[] = "dddd-dd-ddTdd:dd:dd";
	size_t i = start;
	for (size_t k = 0; shape[k]; k++, i++) {
		char c = s[i];
		int ok = shape[k] == 'd' ? is_digit((unsigned char)c)
					 : shape[k] == 'T' ? (c == 'T' || c == 't') : c == shape[k];
		if (!ok) {
			bad_word(P, start, "timestamp", hint);
			return T_ERR;
		}
	}
	if (s[i] == '.') {
		i++;
		if (!is_digit((unsigned char)s[i])) {
			bad_word(P, start, "timestamp", hint);
			return T_ERR;
		}
		while (is_digit((unsigned char)s[i]))
			i++;
	}
	if (s[i] == 'Z' || s[i] == 'z') {
		i++;
	} else if ((s[i] == '+' || s[i] == '-') && is_digit((unsigned char)s[i + 1]) &&
		   is_digit((unsigned char)s[i + 2]) && s[i + 3] == ':' && is_digit((unsigned char)s[i + 4]) &&
		   is_digit((unsigned char)s[i + 5])) {
		i += 6;
	} else {
		bad_word(P, start, "timestamp", hint);
		return T_ERR;
	}
	if (is_alnum((unsigned char)s[i]) || s[i] == ':' || (s[i] == '.' && is_digit((unsigned char)s[i + 1]))) {
		bad_word(P, start, "timestamp", hint);
		return T_ERR;
	}
	char *text = xstrndup(s + start, i - start);
	int64_t us;
	int rc = parse_timestamp(text, &us);
	free(text);
	if (rc != 0 || us < TIME_MIN || us > TIME_MAX) {
		bad_word(P, start, "timestamp", "the date or time is out of range; check the month, day and hour");
		return T_ERR;
	}
	P->tok.us = us;
	P->pos = i;
	return T_TIME;
}

static const struct {
	const char *word;
	enum tok_kind k;
} keywords[] = {
	{ "and", T_AND }, { "or", T_OR }, { "not", T_NOT }, { "in", T_IN },
	{ "true", T_TRUE }, { "false", T_FALSE }, { "null", T_NULL },
};

/* Reads the next token into P->tok. */
static void lex(struct parser *P)
{
	const char *s = P->s;
	free(P->tok.str);
	memset(&P->tok, 0, sizeof(P->tok));
	if (P->failed) {
		P->tok.k = T_ERR;
		P->tok.start = P->tok.end = P->pos;
		return;
	}
	while (P->pos < P->len && is_space((unsigned char)s[P->pos]))
		P->pos++;
	size_t i = P->pos;
	enum tok_kind k;
	P->tok.start = i;
	if (i >= P->len) {
		P->tok.k = T_EOF;
		P->tok.end = i;
		return;
	}
	char c = s[i], c1 = i + 1 < P->len ? s[i + 1] : '\0';
	P->pos = i + 1;
	switch (c) {
	case '(': k = T_LPAREN; break;
	case ')': k = T_RPAREN; break;
	case '[': k = T_LBRACK; break;
	case ']': k = T_RBRACK; break;
	case '}': k = T_RBRACE; break;
	case ',': k = T_COMMA; break;
	case '.': k = T_DOT; break;
	case '?': k = T_QUEST; break;
	case ':': k = T_COLON; break;
	case '+': k = T_PLUS; break;
	case '-': k = T_MINUS; break;
	case '*': k = T_STAR; break;
	case '/': k = T_SLASH; break;
	case '%': k = T_PERCENT; break;
	case '=':
		if (c1 == '=') {
			k = T_EQ;
		} else if (c1 == '~') {
			k = T_MATCH;
		} else {
			perr(P, i, "unexpected '=' in expression; write '==' to compare");
			k = T_ERR;
			break;
		}
		P->pos++;
		break;
	case '!':
		k = T_NOT;
		if (c1 == '=') {
			k = T_NE;
			P->pos++;
		}
		break;
	case '<':
	case '>':
		k = c == '<' ? T_LT : T_GT;
		if (c1 == '=') {
			k = c == '<' ? T_LE : T_GE;
			P->pos++;
		}
		break;
	case '&':
	case '|':
		if (c1 == c) {
			k = c == '&' ? T_AND : T_OR;
			P->pos++;
		} else {
			perr(P, i, "unexpected '%c' in expression; write '%c%c' or '%s'", c, c, c,
			     c == '&' ? "and" : "or");
			k = T_ERR;
		}
		break;
	case '"':
	case '\'':
		P->pos = i;
		k = lex_string(P);
		break;
	default:
		P->pos = i;
		if (is_digit((unsigned char)c)) {
			if (i + 4 < P->len && is_digit((unsigned char)s[i + 1]) && is_digit((unsigned char)s[i + 2]) &&
			    is_digit((unsigned char)s[i + 3]) && s[i + 4] == '-')
				k = lex_time(P);
			else
				k = lex_number(P);
		} else if (is_alpha((unsigned char)c)) {
			while (P->pos < P->len && is_alnum((unsigned char)s[P->pos]))
				P->pos++;
			k = T_IDENT;
			for (size_t w = 0; w < ARRAY_SIZE(keywords); w++)
				if (strlen(keywords[w].word) == P->pos - i &&
				    !memcmp(keywords[w].word, s + i, P->pos - i))
					k = keywords[w].k;
		} else {
			struct strbuf m = STRBUF_INIT;
			size_t l = utf8_len((const unsigned char *)s + i, P->len - i);
			if (c == '{' && P->tmpl)
				perr(P, i, "unexpected '{' inside '${...}'; a template part cannot hold another one");
			else
				perr(P, i, "unexpected character %s in expression; remove it or quote the text",
				     q(&m, s + i, l ? l : 1));
			sb_release(&m);
			k = T_ERR;
		}
		break;
	}
	if (k == T_ERR) {
		free(P->tok.str);
		P->tok.str = NULL;
	}
	P->tok.k = k;
	P->tok.end = P->pos;
}

/* After '.': reads a field name ([A-Za-z0-9_-], not ending in '-') as an
 * identifier token. */
static void lex_member(struct parser *P)
{
	const char *s = P->s;
	free(P->tok.str);
	memset(&P->tok, 0, sizeof(P->tok));
	while (P->pos < P->len && is_space((unsigned char)s[P->pos]))
		P->pos++;
	size_t i = P->pos, e = i;
	if (e < P->len && is_alnum((unsigned char)s[e])) {
		while (e < P->len && (is_alnum((unsigned char)s[e]) || s[e] == '-'))
			e++;
		while (s[e - 1] == '-')
			e--;
	}
	P->tok.start = i;
	if (e == i) {
		struct strbuf m = STRBUF_INIT;
		size_t l = i < P->len ? utf8_len((const unsigned char *)s + i, P->len - i) : 0;
		if (i >= P->len)
			perr(P, i, "expected a field name after '.', found the end of the expression");
		else
			perr(P, i, "expected a field name after '.', found %s; field names are letters, digits, "
				   "'_' and '-'",
			     q(&m, s + i, l ? l : 1));
		sb_release(&m);
		P->tok.k = T_ERR;
		P->tok.end = i;
		return;
	}
	P->pos = e;
	P->tok.k = T_IDENT;
	P->tok.end = e;
}

/* "')'" or "end of expression", for "unexpected X" messages. */
static const char *tokdesc(struct parser *P, struct strbuf *sb)
{
	if (P->tok.k == T_EOF)
		return "end of expression";
	return q(sb, P->s + P->tok.start, P->tok.end - P->tok.start);
}

/* Reports an unexpected current token: "unexpected X in expression; expected
 * WHAT". Inside a template, running out of text means the '${' is unclosed. */
static void unexpected(struct parser *P, const char *what)
{
	if (P->tok.k == T_ERR)
		return;
	if (P->tmpl && P->tok.k == T_EOF) {
		perr(P, P->dollar, "unterminated '${': expected '}'");
		return;
	}
	struct strbuf sb = STRBUF_INIT;
	const char *d = tokdesc(P, &sb);
	if (P->tok.k == T_EOF)
		perr(P, P->tok.start, "unexpected end of expression; expected %s", what);
	else
		perr(P, P->tok.start, "unexpected %s in expression; expected %s", d, what);
	sb_release(&sb);
}

static void node_free(struct enode *n);

static struct enode *mknode(struct parser *P, enum ekind k, size_t start, size_t end)
{
	struct enode *n = xcalloc(1, sizeof(*n));
	n->k = k;
	n->start = start - P->off0;
	n->end = end - P->off0;
	n->height = 1;
	return n;
}

/* Sets n's height from its children; fails the parse when too tall. */
static struct enode *grown(struct parser *P, struct enode *n)
{
	int h = 0;
	struct enode *kids[3] = { n->a, n->b, n->c };
	for (int i = 0; i < 3; i++)
		if (kids[i] && kids[i]->height > h)
			h = kids[i]->height;
	for (size_t i = 0; i < n->nargs; i++)
		if (n->args[i]->height > h)
			h = n->args[i]->height;
	n->height = h + 1;
	if (n->height > EXPR_MAX_HEIGHT) {
		perr(P, n->start + P->off0,
		     "expression nested too deeply (more than %d operators deep); split it into simpler parts",
		     EXPR_MAX_HEIGHT);
		node_free(n);
		return NULL;
	}
	return n;
}

static int enter(struct parser *P)
{
	if (++P->depth > EXPR_MAX_DEPTH) {
		perr(P, P->tok.start, "expression nested too deeply (more than %d levels); simplify it",
		     EXPR_MAX_DEPTH);
		return -1;
	}
	return 0;
}

static void leave(struct parser *P)
{
	P->depth--;
}

static pcre2_code *re_compile(const char *pat, int *code, size_t *off)
{
	uint32_t opts = PCRE2_UTF | PCRE2_NEVER_BACKSLASH_C;
#ifdef PCRE2_MATCH_INVALID_UTF
	opts |= PCRE2_MATCH_INVALID_UTF;
#endif
	PCRE2_SIZE eoff = 0;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, opts, code, &eoff, NULL);
	*off = (size_t)eoff;
	return re;
}

/* Compiles a literal pattern at parse time into holder. */
static int compile_literal(struct parser *P, struct enode *holder, struct enode *pat)
{
	int code;
	size_t off;
	holder->re = re_compile(pat->lit.u.s, &code, &off);
	if (!holder->re) {
		PCRE2_UCHAR msg[256];
		pcre2_get_error_message(code, msg, sizeof(msg));
		struct strbuf m = STRBUF_INIT;
		perr(P, pat->start + P->off0, "invalid regular expression %s: %s at offset %zu; fix the pattern",
		     q(&m, pat->lit.u.s, strlen(pat->lit.u.s)), (const char *)msg, off);
		sb_release(&m);
		return -1;
	}
	holder->re_lit = 1;
	return 0;
}

static struct enode *parse_cond(struct parser *P);

static struct enode *lit_node(struct parser *P, enum vtype t)
{
	struct enode *n = mknode(P, E_LIT, P->tok.start, P->tok.end);
	n->lit.t = t;
	switch (P->tok.k) {
	case T_NUM:
		n->lit.u.n = P->tok.num;
		break;
	case T_STR:
		n->lit.u.s = P->tok.str;
		P->tok.str = NULL;
		break;
	case T_DUR:
	case T_TIME:
		n->lit.u.us = P->tok.us;
		break;
	case T_TRUE:
		n->lit.u.b = 1;
		break;
	default:
		break;
	}
	lex(P);
	return n;
}

static int find_func(const char *s, size_t n)
{
	for (size_t i = 0; i < ARRAY_SIZE(funcs); i++)
		if (strlen(funcs[i].name) == n && !memcmp(funcs[i].name, s, n))
			return (int)i;
	return -1;
}

static const char *find_root(const char *s, size_t n)
{
	for (size_t i = 0; i < ARRAY_SIZE(roots); i++)
		if (strlen(roots[i]) == n && !memcmp(roots[i], s, n))
			return roots[i];
	return NULL;
}

/* Parses a comma-separated list up to `close` into n->args. */
static int parse_items(struct parser *P, struct enode *n, enum tok_kind close, const char *what)
{
	size_t alloc = 0;
	while (P->tok.k != close) {
		struct enode *x = parse_cond(P);
		if (!x)
			return -1;
		if (n->nargs == alloc) {
			alloc = alloc ? alloc * 2 : 4;
			n->args = xrealloc(n->args, alloc * sizeof(*n->args));
		}
		n->args[n->nargs++] = x;
		if (P->tok.k == T_COMMA) {
			lex(P);
			continue;
		}
		if (P->tok.k != close) {
			unexpected(P, what);
			return -1;
		}
	}
	n->end = P->tok.end - P->off0;
	lex(P);
	return 0;
}

static struct enode *parse_call(struct parser *P, size_t start, size_t nlen)
{
	const char *name = P->s + start;
	int f = find_func(name, nlen);
	if (f < 0) {
		struct strbuf m = STRBUF_INIT;
		perr(P, start, "unknown function %s; the functions are " FUNC_LIST, q(&m, name, nlen));
		sb_release(&m);
		return NULL;
	}
	if (enter(P) != 0)
		return NULL;
	struct enode *n = mknode(P, E_CALL, start, P->tok.end);
	n->op = f;
	lex(P); /* past '(' */
	char what[64];
	snprintf(what, sizeof(what), "',' or ')' in the arguments of %s()", funcs[f].name);
	if (parse_items(P, n, T_RPAREN, what) != 0) {
		node_free(n);
		return NULL;
	}
	leave(P);
	if (n->nargs != funcs[f].nargs) {
		perr(P, start, "%s() takes %zu argument%s, not %zu; see grammar/expr.ebnf", funcs[f].name,
		     funcs[f].nargs, funcs[f].nargs == 1 ? "" : "s", n->nargs);
		node_free(n);
		return NULL;
	}
	if ((f == F_MATCHES || f == F_CAPTURE) && n->args[1]->k == E_LIT && n->args[1]->lit.t == V_STR &&
	    compile_literal(P, n, n->args[1]) != 0) {
		node_free(n);
		return NULL;
	}
	return grown(P, n);
}

static struct enode *parse_primary(struct parser *P)
{
	struct enode *n;
	size_t start = P->tok.start;
	switch (P->tok.k) {
	case T_NUM:
		return lit_node(P, V_NUM);
	case T_STR:
		return lit_node(P, V_STR);
	case T_DUR:
		return lit_node(P, V_DUR);
	case T_TIME:
		return lit_node(P, V_TIME);
	case T_TRUE:
	case T_FALSE:
		return lit_node(P, V_BOOL);
	case T_NULL:
		return lit_node(P, V_NULL);
	case T_LPAREN: {
		if (enter(P) != 0)
			return NULL;
		lex(P);
		n = parse_cond(P);
		if (!n)
			return NULL;
		if (P->tok.k != T_RPAREN) {
			char what[64];
			snprintf(what, sizeof(what), "')' to close the '(' at column %d", P->base.col + (int)start);
			unexpected(P, what);
			node_free(n);
			return NULL;
		}
		leave(P);
		lex(P);
		return n;
	}
	case T_LBRACK:
		if (enter(P) != 0)
			return NULL;
		n = mknode(P, E_LIST, start, P->tok.end);
		lex(P);
		if (parse_items(P, n, T_RBRACK, "',' or ']' in the list") != 0) {
			node_free(n);
			return NULL;
		}
		leave(P);
		return grown(P, n);
	case T_IDENT: {
		size_t nlen = P->tok.end - start;
		const char *word = P->s + start;
		lex(P);
		if (P->tok.k == T_LPAREN)
			return parse_call(P, start, nlen);
		const char *root = find_root(word, nlen);
		struct strbuf m = STRBUF_INIT;
		if (!root && find_func(word, nlen) >= 0) {
			perr(P, start, "%s is a function; call it with parentheses, as in %.*s(...)", q(&m, word, nlen),
			     (int)nlen, word);
		} else if (!root) {
			perr(P, start, "unknown name %s; names start with params., env., secret., steps., "
				       "resources. or run.",
			     q(&m, word, nlen));
		}
		sb_release(&m);
		if (!root)
			return NULL;
		n = mknode(P, E_ROOT, start, start + nlen);
		n->root = root;
		n->loc = P->base;
		n->loc.col += (int)start;
		if (P->tok.k == T_DOT) {
			lex_member(P);
			if (P->tok.k != T_IDENT) {
				node_free(n);
				return NULL;
			}
			n->name = xstrndup(P->s + P->tok.start, P->tok.end - P->tok.start);
			n->end = P->tok.end - P->off0;
			lex(P);
		}
		return n;
	}
	default:
		unexpected(P, "a value");
		return NULL;
	}
}

static struct enode *parse_postfix(struct parser *P)
{
	struct enode *e = parse_primary(P);
	while (e) {
		if (P->tok.k == T_DOT) {
			lex_member(P);
			if (P->tok.k != T_IDENT) {
				node_free(e);
				return NULL;
			}
			struct enode *n = mknode(P, E_MEMBER, e->start + P->off0, P->tok.end);
			n->a = e;
			n->name = xstrndup(P->s + P->tok.start, P->tok.end - P->tok.start);
			lex(P);
			e = grown(P, n);
		} else if (P->tok.k == T_LBRACK) {
			size_t open = P->tok.start;
			if (enter(P) != 0) {
				node_free(e);
				return NULL;
			}
			lex(P);
			struct enode *i = parse_cond(P);
			if (!i) {
				node_free(e);
				return NULL;
			}
			if (P->tok.k != T_RBRACK) {
				char what[64];
				snprintf(what, sizeof(what), "']' to close the '[' at column %d",
					 P->base.col + (int)open);
				unexpected(P, what);
				node_free(e);
				node_free(i);
				return NULL;
			}
			leave(P);
			if (e->k == E_ROOT && !e->name && i->k == E_LIT && i->lit.t == V_STR) {
				/* root["name"] is root.name */
				e->name = i->lit.u.s;
				i->lit.u.s = NULL;
				i->lit.t = V_NULL;
				node_free(i);
				e->end = P->tok.end - P->off0;
				lex(P);
				continue;
			}
			struct enode *n = mknode(P, E_INDEX, e->start + P->off0, P->tok.end);
			n->a = e;
			n->b = i;
			lex(P);
			e = grown(P, n);
		} else {
			break;
		}
	}
	return e;
}

static struct enode *parse_unary(struct parser *P)
{
	if (P->tok.k != T_MINUS)
		return parse_postfix(P);
	size_t start = P->tok.start;
	if (enter(P) != 0)
		return NULL;
	lex(P);
	struct enode *x = parse_unary(P);
	if (!x)
		return NULL;
	leave(P);
	if (x->k == E_LIT && (x->lit.t == V_NUM || (x->lit.t == V_DUR && x->lit.u.us != INT64_MIN))) {
		/* fold a negative literal */
		if (x->lit.t == V_NUM)
			x->lit.u.n = -x->lit.u.n;
		else
			x->lit.u.us = -x->lit.u.us;
		x->start = start - P->off0;
		return x;
	}
	struct enode *n = mknode(P, E_NEG, start, x->end + P->off0);
	n->a = x;
	return grown(P, n);
}

static struct enode *binary(struct parser *P, enum ekind k, int op, struct enode *a, struct enode *b)
{
	struct enode *n = mknode(P, k, a->start + P->off0, b->end + P->off0);
	n->op = op;
	n->a = a;
	n->b = b;
	return grown(P, n);
}

static struct enode *parse_mul(struct parser *P)
{
	struct enode *e = parse_unary(P);
	while (e && (P->tok.k == T_STAR || P->tok.k == T_SLASH || P->tok.k == T_PERCENT)) {
		int op = P->tok.k;
		lex(P);
		struct enode *r = parse_unary(P);
		if (!r) {
			node_free(e);
			return NULL;
		}
		e = binary(P, E_BIN, op, e, r);
	}
	return e;
}

static struct enode *parse_add(struct parser *P)
{
	struct enode *e = parse_mul(P);
	while (e && (P->tok.k == T_PLUS || P->tok.k == T_MINUS)) {
		int op = P->tok.k;
		lex(P);
		struct enode *r = parse_mul(P);
		if (!r) {
			node_free(e);
			return NULL;
		}
		e = binary(P, E_BIN, op, e, r);
	}
	return e;
}

static int is_cmp(enum tok_kind k)
{
	return k == T_EQ || k == T_NE || k == T_LT || k == T_LE || k == T_GT || k == T_GE || k == T_MATCH ||
	       k == T_IN;
}

static struct enode *parse_cmp(struct parser *P)
{
	struct enode *e = parse_add(P);
	if (!e || !is_cmp(P->tok.k))
		return e;
	int op = P->tok.k;
	lex(P);
	struct enode *r = parse_add(P);
	if (!r) {
		node_free(e);
		return NULL;
	}
	e = binary(P, E_CMP, op, e, r);
	if (!e)
		return NULL;
	if (is_cmp(P->tok.k)) {
		perr(P, P->tok.start,
		     "comparisons cannot be chained: '%s' follows '%s'; join them with 'and', as in a < b and b < c",
		     op_text[P->tok.k], op_text[op]);
		node_free(e);
		return NULL;
	}
	if (op == T_MATCH && r->k == E_LIT && r->lit.t == V_STR && compile_literal(P, e, r) != 0) {
		node_free(e);
		return NULL;
	}
	return e;
}

static struct enode *parse_not(struct parser *P)
{
	if (P->tok.k != T_NOT)
		return parse_cmp(P);
	size_t start = P->tok.start;
	if (enter(P) != 0)
		return NULL;
	lex(P);
	struct enode *x = parse_not(P);
	if (!x)
		return NULL;
	leave(P);
	struct enode *n = mknode(P, E_NOT, start, x->end + P->off0);
	n->a = x;
	return grown(P, n);
}

static struct enode *parse_and(struct parser *P)
{
	struct enode *e = parse_not(P);
	while (e && P->tok.k == T_AND) {
		lex(P);
		struct enode *r = parse_not(P);
		if (!r) {
			node_free(e);
			return NULL;
		}
		e = binary(P, E_AND, T_AND, e, r);
	}
	return e;
}

static struct enode *parse_or(struct parser *P)
{
	struct enode *e = parse_and(P);
	while (e && P->tok.k == T_OR) {
		lex(P);
		struct enode *r = parse_and(P);
		if (!r) {
			node_free(e);
			return NULL;
		}
		e = binary(P, E_OR, T_OR, e, r);
	}
	return e;
}

static struct enode *parse_cond(struct parser *P)
{
	struct enode *c = parse_or(P);
	if (!c || P->tok.k != T_QUEST)
		return c;
	if (enter(P) != 0) {
		node_free(c);
		return NULL;
	}
	lex(P);
	struct enode *a = parse_cond(P);
	if (!a) {
		node_free(c);
		return NULL;
	}
	if (P->tok.k != T_COLON) {
		struct strbuf m = STRBUF_INIT;
		if (P->tmpl && P->tok.k == T_EOF)
			unexpected(P, "':'");
		else if (P->tok.k != T_ERR)
			perr(P, P->tok.start, "expected ':' after '?' branch, found %s; write COND ? THEN : ELSE",
			     tokdesc(P, &m));
		sb_release(&m);
		node_free(c);
		node_free(a);
		return NULL;
	}
	lex(P);
	struct enode *b = parse_cond(P);
	if (!b) {
		node_free(c);
		node_free(a);
		return NULL;
	}
	leave(P);
	struct enode *n = mknode(P, E_COND, c->start + P->off0, b->end + P->off0);
	n->a = a;
	n->b = b;
	n->c = c;
	return grown(P, n);
}

static void node_free(struct enode *n)
{
	if (!n)
		return;
	node_free(n->a);
	node_free(n->b);
	node_free(n->c);
	for (size_t i = 0; i < n->nargs; i++)
		node_free(n->args[i]);
	free(n->args);
	value_release(&n->lit);
	free(n->name);
	if (n->re)
		pcre2_code_free(n->re);
	if (n->re_secret)
		free_secret(n->re_src);
	else
		free(n->re_src);
	free(n);
}

/* Parses src (NUL-terminated, at most 64 KiB) into an AST. Returns it (free
 * with expr_free), or NULL after adding one "expr-syntax" diagnostic to d at
 * base.col + the offset of the offending token. */
struct expr *expr_parse(const char *src, struct loc base, struct diags *d)
{
	size_t len = strlen(src);
	if (len > EXPR_MAX_LEN) {
		if (d)
			diag_add(d, SEV_ERROR, "expr-syntax", base,
				 "expression is too long (%zu bytes; at most %zu); split it or move data into params",
				 len, EXPR_MAX_LEN);
		return NULL;
	}
	struct parser P;
	memset(&P, 0, sizeof(P));
	P.s = src;
	P.len = len;
	P.base = base;
	P.d = d;
	lex(&P);
	struct enode *root = NULL;
	if (P.tok.k == T_EOF)
		perr(&P, P.tok.start, "empty expression; write a value or a condition");
	else
		root = parse_cond(&P);
	if (root && P.tok.k != T_EOF) {
		struct strbuf m = STRBUF_INIT;
		if (P.tok.k != T_ERR)
			perr(&P, P.tok.start, "unexpected %s in expression; expected an operator or the end",
			     tokdesc(&P, &m));
		sb_release(&m);
	}
	free(P.tok.str);
	if (P.failed || !root) {
		node_free(root);
		return NULL;
	}
	struct expr *e = xcalloc(1, sizeof(*e));
	e->src = xstrdup(src);
	e->root = root;
	return e;
}

/* Frees an expression and everything it owns; NULL is ignored. */
void expr_free(struct expr *e)
{
	if (!e)
		return;
	node_free(e->root);
	free(e->src);
	free(e);
}

/* The expression's source text as written (for a template part, the text
 * between "${" and "}"). */
const char *expr_text(const struct expr *e)
{
	return e->src;
}

/* ---- references ---- */

static int refs_walk(const struct enode *n, const char *field, int (*fn)(const struct expr_ref *, void *),
		     void *ud)
{
	int rc;
	if (!n)
		return 0;
	switch (n->k) {
	case E_ROOT: {
		struct expr_ref r = { n->root, n->name, n->name ? field : NULL, n->loc };
		return fn(&r, ud);
	}
	case E_MEMBER:
		return refs_walk(n->a, n->name, fn, ud);
	case E_INDEX:
		rc = refs_walk(n->a, n->b->k == E_LIT && n->b->lit.t == V_STR ? n->b->lit.u.s : NULL, fn, ud);
		return rc ? rc : refs_walk(n->b, NULL, fn, ud);
	case E_COND:
		if ((rc = refs_walk(n->c, NULL, fn, ud)) != 0)
			return rc;
		break;
	default:
		break;
	}
	if ((rc = refs_walk(n->a, NULL, fn, ud)) != 0)
		return rc;
	if ((rc = refs_walk(n->b, NULL, fn, ud)) != 0)
		return rc;
	for (size_t i = 0; i < n->nargs; i++)
		if ((rc = refs_walk(n->args[i], NULL, fn, ud)) != 0)
			return rc;
	return 0;
}

/* Calls fn for each root reference in e in source order (root, first and
 * second static member, where the root is written); returns fn's first
 * non-zero result, or 0. */
int expr_refs(const struct expr *e, int (*fn)(const struct expr_ref *ref, void *ud), void *ud)
{
	return e ? refs_walk(e->root, NULL, fn, ud) : 0;
}

/* ---- evaluation ---- */

/* What the evaluations of one expression or one template share: the clock
 * and the budget of pattern matches. */
struct shared {
	int64_t now;
	int have_now;
	unsigned matches;
};

struct ev {
	const struct eval_ctx *ctx;
	const char *src;
	char *err;
	int fatal;          /* err is a resource limit: default() does not hide it */
	struct shared *sh;
};

static int fail(struct ev *E, const char *fmt, ...) PRINTF_LIKE(2, 3);
static int fail(struct ev *E, const char *fmt, ...)
{
	if (!E->err) {
		va_list ap;
		va_start(ap, fmt);
		E->err = xvasprintf(fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* Fails with a resource limit (a string over 1 MiB, a runaway pattern):
 * the expression itself must change, so default() does not catch it. */
static int limit(struct ev *E, const char *fmt, ...) PRINTF_LIKE(2, 3);
static int limit(struct ev *E, const char *fmt, ...)
{
	if (!E->err) {
		va_list ap;
		va_start(ap, fmt);
		E->err = xvasprintf(fmt, ap);
		va_end(ap);
		E->fatal = 1;
	}
	return -1;
}

#define SPAN_MAX 96
/* n's source text quoted, for messages. */
static const char *span(struct ev *E, const struct enode *n, char *buf, size_t bn)
{
	struct strbuf sb = STRBUF_INIT;
	q(&sb, E->src + n->start, n->end - n->start);
	snprintf(buf, bn, "%s", sb_str(&sb));
	sb_release(&sb);
	return buf;
}

/* The path part of n's source without quotes ("steps.dump"). */
static const char *path(struct ev *E, const struct enode *n, char *buf, size_t bn)
{
	struct strbuf sb = STRBUF_INIT;
	sb_quote(&sb, E->src + n->start, n->end - n->start);
	snprintf(buf, bn, "%s", sb_str(&sb));
	sb_release(&sb);
	return buf;
}

/* A value quoted for a message, or "a secret value". */
static const char *qval(const struct value *v, char *buf, size_t bn)
{
	if (v->secret)
		return "a secret value";
	if (v->t != V_STR)
		return an(v);
	struct strbuf sb = STRBUF_INIT;
	q(&sb, v->u.s, strlen(v->u.s));
	snprintf(buf, bn, "%s", sb_str(&sb));
	sb_release(&sb);
	return buf;
}

static int64_t eval_now(struct ev *E)
{
	if (!E->sh->have_now) {
		E->sh->now = E->ctx && E->ctx->now_us ? E->ctx->now_us : now_us();
		E->sh->have_now = 1;
	}
	return E->sh->now;
}

static int eval(struct ev *E, struct enode *n, struct value *out);

static int to_time(const struct value *v, int64_t *us)
{
	if (v->t == V_TIME) {
		*us = v->u.us;
		return 0;
	}
	if (v->t == V_STR)
		return parse_timestamp(v->u.s, us);
	return -1;
}

static int secs_to_us(double secs, int64_t *us)
{
	double x = secs * 1e6;
	if (!(fabs(x) < US_LIMIT))
		return -1;
	*us = (int64_t)llround(x);
	return 0;
}

static int to_dur(const struct value *v, int64_t *us)
{
	if (v->t == V_DUR) {
		*us = v->u.us;
		return 0;
	}
	if (v->t == V_STR)
		return parse_duration(v->u.s, us);
	if (v->t == V_NUM)
		return secs_to_us(v->u.n, us);
	return -1;
}


/* Equality: same types compare by value; a string against a timestamp or a
 * duration is read as one; a number against a duration counts seconds;
 * anything else is unequal. */
static int veq(const struct value *a, const struct value *b)
{
	int64_t x, y;
	if (a->t == b->t) {
		switch (a->t) {
		case V_NULL:
			return 1;
		case V_BOOL:
			return !a->u.b == !b->u.b;
		case V_NUM:
			return a->u.n == b->u.n;
		case V_STR:
			return strcmp(a->u.s, b->u.s) == 0;
		case V_TIME:
		case V_DUR:
			return a->u.us == b->u.us;
		case V_JSON:
			return json_equal(a->u.j, b->u.j);
		}
		return 0;
	}
	if (a->t == V_TIME || b->t == V_TIME)
		return to_time(a, &x) == 0 && to_time(b, &y) == 0 && x == y;
	if (a->t == V_DUR || b->t == V_DUR)
		return to_dur(a, &x) == 0 && to_dur(b, &y) == 0 && x == y;
	return 0;
}

static int sign64(int64_t x, int64_t y)
{
	return (x > y) - (x < y);
}

/* Ordering of numbers, strings (bytes), timestamps and durations, with the
 * same string coercions as veq. Sets *r to -1/0/1 or fails. */
static int vcmp(struct ev *E, const struct enode *n, const struct value *a, const struct value *b, int *r)
{
	char sp[SPAN_MAX], qb[SPAN_MAX];
	int64_t x, y;
	if (a->t == b->t && a->t == V_NUM) {
		*r = (a->u.n > b->u.n) - (a->u.n < b->u.n);
		return 0;
	}
	if (a->t == b->t && a->t == V_STR) {
		int c = strcmp(a->u.s, b->u.s);
		*r = (c > 0) - (c < 0);
		return 0;
	}
	if (a->t == V_TIME || b->t == V_TIME) {
		const struct value *o = a->t == V_TIME ? b : a;
		if (o->t == V_TIME || o->t == V_STR) {
			if (to_time(a, &x) == 0 && to_time(b, &y) == 0) {
				*r = sign64(x, y);
				return 0;
			}
			return fail(E, "cannot compare a timestamp with %s in %s: it is not an RFC 3339 time; "
				       "write it like 2026-11-29T09:10:00Z",
				    qval(o, qb, sizeof(qb)), span(E, n, sp, sizeof(sp)));
		}
	} else if (a->t == V_DUR || b->t == V_DUR) {
		const struct value *o = a->t == V_DUR ? b : a;
		if (o->t == V_DUR || o->t == V_STR || o->t == V_NUM) {
			if (to_dur(a, &x) == 0 && to_dur(b, &y) == 0) {
				*r = sign64(x, y);
				return 0;
			}
			return fail(E, "cannot compare a duration with %s in %s: it is not a duration; "
				       "write it like 90s or 1h30m",
				    qval(o, qb, sizeof(qb)), span(E, n, sp, sizeof(sp)));
		}
	}
	if ((a->t == V_NUM && b->t == V_STR) || (a->t == V_STR && b->t == V_NUM))
		return fail(E, "cannot compare %s with %s in %s; convert one side with number() or string()", an(a),
			    an(b), span(E, n, sp, sizeof(sp)));
	return fail(E, "cannot compare %s with %s in %s; only numbers, strings, timestamps and durations are "
		       "ordered",
		    an(a), an(b), span(E, n, sp, sizeof(sp)));
}

static int time_ok(struct ev *E, const struct enode *n, int64_t us)
{
	char sp[SPAN_MAX];
	if (us < TIME_MIN || us > TIME_MAX)
		return fail(E, "timestamp out of range in %s: years run from 0000 to 9999",
			    span(E, n, sp, sizeof(sp)));
	return 0;
}

static int overflow(struct ev *E, const struct enode *n)
{
	char sp[SPAN_MAX];
	return fail(E, "the result of %s is out of range", span(E, n, sp, sizeof(sp)));
}

/* A string on one side of time/duration arithmetic is read as a timestamp
 * or a duration (like a comparison); 0 when converted. */
static int coerce_str(struct value *v, enum vtype other)
{
	int64_t us;
	if (v->t != V_STR || (other != V_TIME && other != V_DUR))
		return -1;
	if (parse_timestamp(v->u.s, &us) == 0) {
		int secret = v->secret;
		value_release(v);
		set_us(v, V_TIME, us, secret);
		return 0;
	}
	if (parse_duration(v->u.s, &us) == 0) {
		int secret = v->secret;
		value_release(v);
		set_us(v, V_DUR, us, secret);
		return 0;
	}
	return -1;
}

static int arith(struct ev *E, const struct enode *n, struct value *a, struct value *b, struct value *out)
{
	char sp[SPAN_MAX];
	int op = n->op, secret = a->secret || b->secret;
	enum vtype ta = a->t, tb = b->t;
	int64_t r;
	if (ta == V_STR && tb != V_STR && coerce_str(a, tb) == 0)
		ta = a->t;
	if (tb == V_STR && ta != V_STR && coerce_str(b, ta) == 0)
		tb = b->t;
	if (ta == V_NUM && tb == V_NUM) {
		double x = a->u.n, y = b->u.n, z;
		switch (op) {
		case T_PLUS: z = x + y; break;
		case T_MINUS: z = x - y; break;
		case T_STAR: z = x * y; break;
		case T_SLASH:
			if (y == 0)
				return fail(E, "division by zero in %s", span(E, n, sp, sizeof(sp)));
			z = x / y;
			break;
		default:
			if (y == 0)
				return fail(E, "division by zero in %s (the remainder of a division by 0)",
					    span(E, n, sp, sizeof(sp)));
			z = fmod(x, y);
			break;
		}
		if (!isfinite(z))
			return overflow(E, n);
		set_num(out, z, secret);
		return 0;
	}
	if (ta == V_STR && tb == V_STR && op == T_PLUS) {
		size_t la = strlen(a->u.s), lb = strlen(b->u.s);
		if (la + lb > STR_MAX)
			return limit(E, "the string %s would be larger than 1 MiB", span(E, n, sp, sizeof(sp)));
		char *s = xmalloc(la + lb + 1);
		memcpy(s, a->u.s, la);
		memcpy(s + la, b->u.s, lb + 1);
		set_str(out, s, secret);
		return 0;
	}
	if (ta == V_TIME && tb == V_DUR && (op == T_PLUS || op == T_MINUS)) {
		if (op == T_PLUS ? __builtin_add_overflow(a->u.us, b->u.us, &r)
				 : __builtin_sub_overflow(a->u.us, b->u.us, &r))
			return overflow(E, n);
		if (time_ok(E, n, r) != 0)
			return -1;
		set_us(out, V_TIME, r, secret);
		return 0;
	}
	if (ta == V_DUR && tb == V_TIME && op == T_PLUS) {
		if (__builtin_add_overflow(a->u.us, b->u.us, &r))
			return overflow(E, n);
		if (time_ok(E, n, r) != 0)
			return -1;
		set_us(out, V_TIME, r, secret);
		return 0;
	}
	if ((ta == V_DUR && tb == V_DUR && (op == T_PLUS || op == T_MINUS)) ||
	    (ta == V_TIME && tb == V_TIME && op == T_MINUS)) {
		if (op == T_PLUS ? __builtin_add_overflow(a->u.us, b->u.us, &r)
				 : __builtin_sub_overflow(a->u.us, b->u.us, &r))
			return overflow(E, n);
		if (r == INT64_MIN)
			return overflow(E, n);
		set_us(out, V_DUR, r, secret);
		return 0;
	}
	if (ta == V_DUR && tb == V_DUR && op == T_SLASH) {
		if (b->u.us == 0)
			return fail(E, "division by zero in %s", span(E, n, sp, sizeof(sp)));
		set_num(out, (double)a->u.us / (double)b->u.us, secret);
		return 0;
	}
	if ((ta == V_DUR && tb == V_NUM && (op == T_STAR || op == T_SLASH)) ||
	    (ta == V_NUM && tb == V_DUR && op == T_STAR)) {
		double d = (double)(ta == V_DUR ? a->u.us : b->u.us), x = ta == V_DUR ? b->u.n : a->u.n;
		if (op == T_SLASH && x == 0)
			return fail(E, "division by zero in %s", span(E, n, sp, sizeof(sp)));
		double z = op == T_SLASH ? d / x : d * x;
		if (!(fabs(z) < US_LIMIT))
			return overflow(E, n);
		set_us(out, V_DUR, (int64_t)llround(z), secret);
		return 0;
	}
	return fail(E, "cannot apply '%s' to %s and %s in %s%s", op_text[op], an(a), an(b), span(E, n, sp, sizeof(sp)),
		    (ta == V_STR) != (tb == V_STR) && (ta == V_NUM || tb == V_NUM)
			    ? "; convert one side with number() or string()"
			    : "");
}

/* The compiled pattern for holder: the literal one, or the cached one when
 * the computed pattern is the same as last time. */
static pcre2_code *get_re(struct ev *E, struct enode *holder, const struct value *pat)
{
	char qb[SPAN_MAX];
	if (holder->re_lit)
		return holder->re;
	if (holder->re && !strcmp(holder->re_src, pat->u.s))
		return holder->re;
	if (strlen(pat->u.s) > EXPR_MAX_LEN) {
		fail(E, "the regular expression is too long (more than %zu bytes)", EXPR_MAX_LEN);
		return NULL;
	}
	int code;
	size_t off;
	pcre2_code *re = re_compile(pat->u.s, &code, &off);
	if (!re) {
		PCRE2_UCHAR msg[256];
		pcre2_get_error_message(code, msg, sizeof(msg));
		fail(E, "invalid regular expression %s: %s at offset %zu; fix the pattern", qval(pat, qb, sizeof(qb)),
		     (const char *)msg, off);
		return NULL;
	}
	if (holder->re)
		pcre2_code_free(holder->re);
	if (holder->re_secret)
		free_secret(holder->re_src);
	else
		free(holder->re_src);
	holder->re = re;
	holder->re_src = xstrdup(pat->u.s);
	holder->re_secret = pat->secret;
	return re;
}

/* Matches subject against the pattern of holder; 1/0 in *res, or fails. */
/* Matches subj against pat; *res says whether it matched. When cap is not
 * NULL and it matched, *cap is the first capture group (or the whole match
 * when the pattern has none), a new string. */
static int re_match_cap(struct ev *E, struct enode *holder, const struct value *subj, const struct value *pat,
			int *res, char **cap);

static int re_match(struct ev *E, struct enode *holder, const struct value *subj, const struct value *pat, int *res)
{
	return re_match_cap(E, holder, subj, pat, res, NULL);
}

static int re_match_cap(struct ev *E, struct enode *holder, const struct value *subj, const struct value *pat,
			int *res, char **cap)
{
	char sp[SPAN_MAX];
	if (subj->t != V_STR || pat->t != V_STR)
		return fail(E, "%s needs a string and a pattern string, not %s and %s",
			    holder->k == E_CALL ? "matches()" : "'=~'", an(subj), an(pat));
	if (++E->sh->matches > RE_MAX_MATCHES)
		return limit(E, "more than %d pattern matches in one evaluation, at %s; simplify the expression",
			     RE_MAX_MATCHES, span(E, holder, sp, sizeof(sp)));
	pcre2_code *re = get_re(E, holder, pat);
	if (!re)
		return -1;
	pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
	pcre2_match_context *mc = pcre2_match_context_create(NULL);
	if (!md || !mc) {
		fprintf(stderr, "drplay: out of memory matching a regular expression\n");
		abort();
	}
	pcre2_set_match_limit(mc, RE_MATCH_LIMIT);
	pcre2_set_depth_limit(mc, RE_DEPTH_LIMIT);
	pcre2_set_heap_limit(mc, RE_HEAP_LIMIT);
	int rc = pcre2_match(re, (PCRE2_SPTR)subj->u.s, strlen(subj->u.s), 0, 0, md, mc);
	if (rc >= 0 && cap) {
		PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
		int g = rc > 1 ? 1 : 0;
		if (ov[2 * g] == PCRE2_UNSET)
			*cap = xstrdup("");
		else
			*cap = xstrndup(subj->u.s + ov[2 * g], ov[2 * g + 1] - ov[2 * g]);
	}
	pcre2_match_data_free(md);
	pcre2_match_context_free(mc);
	if (rc >= 0) {
		*res = 1;
		return 0;
	}
	if (rc == PCRE2_ERROR_NOMATCH) {
		*res = 0;
		return 0;
	}
	PCRE2_UCHAR msg[256];
	pcre2_get_error_message(rc, msg, sizeof(msg));
	if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT || rc == PCRE2_ERROR_HEAPLIMIT)
		return limit(E, "cannot match %s: %s; simplify the pattern", span(E, holder, sp, sizeof(sp)),
			     (const char *)msg);
	return fail(E, "cannot match %s: %s", span(E, holder, sp, sizeof(sp)), (const char *)msg);
}

/* `a in b`: element of a list, key of an object, substring of a string. */
static int in_op(struct ev *E, const struct enode *n, const struct value *a, const struct value *b, int *res)
{
	char sp[SPAN_MAX];
	*res = 0;
	if (b->t == V_JSON && json_is_array(b->u.j)) {
		size_t i;
		json_t *x;
		json_array_foreach(b->u.j, i, x) {
			struct value v;
			value_from_json(&v, x);
			int eq = veq(a, &v);
			value_release(&v);
			if (eq) {
				*res = 1;
				break;
			}
		}
		return 0;
	}
	if (b->t == V_JSON && json_is_object(b->u.j) && a->t == V_STR) {
		*res = json_object_get(b->u.j, a->u.s) != NULL;
		return 0;
	}
	if (b->t == V_STR && a->t == V_STR) {
		*res = strstr(b->u.s, a->u.s) != NULL;
		return 0;
	}
	if (b->t == V_JSON || b->t == V_STR)
		return fail(E, "'in' cannot look for %s in %s in %s; look for a string", an(a), an(b),
			    span(E, n, sp, sizeof(sp)));
	return fail(E, "'in' needs a list, an object or a string on its right, not %s, in %s", an(b),
		    span(E, n, sp, sizeof(sp)));
}

static int compare(struct ev *E, struct enode *n, struct value *out)
{
	struct value a, b;
	int r = 0, rc = 0;
	if (eval(E, n->a, &a) != 0)
		return -1;
	if (eval(E, n->b, &b) != 0) {
		value_release(&a);
		return -1;
	}
	switch (n->op) {
	case T_EQ:
		r = veq(&a, &b);
		break;
	case T_NE:
		r = !veq(&a, &b);
		break;
	case T_MATCH:
		rc = re_match(E, n, &a, &b, &r);
		break;
	case T_IN:
		rc = in_op(E, n, &a, &b, &r);
		break;
	default:
		rc = vcmp(E, n, &a, &b, &r);
		if (rc == 0)
			r = n->op == T_LT ? r < 0 : n->op == T_LE ? r <= 0 : n->op == T_GT ? r > 0 : r >= 0;
		break;
	}
	value_release(&a);
	value_release(&b);
	if (rc != 0)
		return -1;
	set_bool(out, r, 0);
	return 0;
}

static int json_member(struct ev *E, const struct enode *objn, struct value *obj, const char *name,
		       struct value *out)
{
	char p[SPAN_MAX];
	struct strbuf m = STRBUF_INIT;
	int rc;
	if (obj->t == V_JSON && json_is_object(obj->u.j)) {
		json_t *j = json_object_get(obj->u.j, name);
		if (j) {
			value_from_json(out, j);
			out->secret = obj->secret;
			return 0;
		}
		rc = fail(E, "%s has no field %s", path(E, objn, p, sizeof(p)), q(&m, name, strlen(name)));
	} else if (obj->t == V_JSON && json_is_array(obj->u.j)) {
		rc = fail(E, "%s is a list, not an object, so it has no field %s; take an element with [index]",
			  path(E, objn, p, sizeof(p)), q(&m, name, strlen(name)));
	} else {
		rc = fail(E, "%s is %s, not an object, so it has no field %s", path(E, objn, p, sizeof(p)), an(obj),
			  q(&m, name, strlen(name)));
	}
	sb_release(&m);
	return rc;
}

static int index_op(struct ev *E, struct enode *n, struct value *out)
{
	char p[SPAN_MAX];
	struct value a, i;
	int rc = -1;
	if (eval(E, n->a, &a) != 0)
		return -1;
	if (eval(E, n->b, &i) != 0) {
		value_release(&a);
		return -1;
	}
	if (a.t == V_JSON && json_is_array(a.u.j) && i.t == V_NUM) {
		size_t size = json_array_size(a.u.j);
		if (i.u.n != trunc(i.u.n) || i.u.n < 0 || i.u.n >= (double)size) {
			char nb[64];
			fmt_num(i.u.n, nb, sizeof(nb));
			rc = fail(E, "%s has no element %s (it has %zu, numbered from 0)", path(E, n->a, p, sizeof(p)),
				  i.secret ? "(secret)" : nb, size);
		} else {
			value_from_json(out, json_array_get(a.u.j, (size_t)i.u.n));
			out->secret = a.secret || i.secret;
			rc = 0;
		}
	} else if (a.t == V_JSON && json_is_object(a.u.j) && i.t == V_STR) {
		rc = json_member(E, n->a, &a, i.u.s, out);
		if (rc == 0)
			out->secret |= i.secret;
	} else {
		rc = fail(E, "cannot index %s (%s) with %s; index a list with a number or an object with a string",
			  path(E, n->a, p, sizeof(p)), an(&a), an(&i));
	}
	value_release(&a);
	value_release(&i);
	return rc;
}

static int eval_root(struct ev *E, struct enode *n, struct value *out)
{
	char p[SPAN_MAX];
	if (!E->ctx || !E->ctx->resolve)
		return fail(E, "%s cannot be resolved here", path(E, n, p, sizeof(p)));
	struct value v;
	char *rerr = NULL;
	memset(&v, 0, sizeof(v));
	if (E->ctx->resolve(E->ctx->ud, n->root, n->name, &v, &rerr) != 0) {
		if (E->err)
			free(rerr);
		else
			E->err = rerr ? rerr : xasprintf("%s cannot be resolved", path(E, n, p, sizeof(p)));
		return -1;
	}
	free(rerr);
	normalize(&v);
	if (n->root == roots[2]) /* secret */
		v.secret = 1;
	*out = v;
	return 0;
}

static int eval_list(struct ev *E, struct enode *n, struct value *out)
{
	char sp[SPAN_MAX];
	json_t *arr = json_array();
	int secret = 0;
	for (size_t i = 0; i < n->nargs; i++) {
		struct value v;
		if (eval(E, n->args[i], &v) != 0) {
			json_decref(arr);
			return -1;
		}
		json_t *j = value_to_json(&v);
		secret |= v.secret;
		value_release(&v);
		if (!j) {
			json_decref(arr);
			return fail(E, "the list element %s is not valid UTF-8 text", span(E, n->args[i], sp, sizeof(sp)));
		}
		json_array_append_new(arr, j);
	}
	memset(out, 0, sizeof(*out));
	out->t = V_JSON;
	out->u.j = arr;
	out->secret = secret;
	return 0;
}

static int call(struct ev *E, struct enode *n, struct value *out)
{
	char sp[SPAN_MAX], qb[SPAN_MAX];
	const char *fname = funcs[n->op].name;
	struct value a[2];
	int secret = 0, rc = 0;
	int64_t us;
	memset(a, 0, sizeof(a));
	if (n->op == F_DEFAULT) {
		if (eval(E, n->args[0], out) == 0) {
			if (out->t != V_NULL)
				return 0;
			value_release(out);
		} else if (E->fatal) {
			return -1;
		} else {
			free(E->err);
			E->err = NULL;
		}
		return eval(E, n->args[1], out);
	}
	for (size_t i = 0; i < n->nargs; i++) {
		if (eval(E, n->args[i], &a[i]) != 0) {
			for (size_t k = 0; k < i; k++)
				value_release(&a[k]);
			return -1;
		}
		secret |= a[i].secret;
	}
	memset(out, 0, sizeof(*out));
	switch ((enum func)n->op) {
	case F_NOW:
		set_us(out, V_TIME, eval_now(E), 0);
		break;
	case F_DURATION:
		if (to_dur(&a[0], &us) == 0)
			set_us(out, V_DUR, us, secret);
		else
			rc = fail(E, "duration() cannot read %s as a duration in %s; write it like 90s or 1h30m",
				  qval(&a[0], qb, sizeof(qb)), span(E, n, sp, sizeof(sp)));
		break;
	case F_TIMESTAMP:
		if (a[0].t == V_NUM && secs_to_us(a[0].u.n, &us) == 0 && us >= TIME_MIN && us <= TIME_MAX)
			set_us(out, V_TIME, us, secret);
		else if (a[0].t != V_NUM && to_time(&a[0], &us) == 0)
			set_us(out, V_TIME, us, secret);
		else
			rc = fail(E, "timestamp() cannot read %s as a timestamp in %s; write RFC 3339 such as "
				     "2026-11-29T09:10:00Z",
				  qval(&a[0], qb, sizeof(qb)), span(E, n, sp, sizeof(sp)));
		break;
	case F_AGE:
		if (to_time(&a[0], &us) != 0) {
			rc = fail(E, "age() needs a timestamp, and %s is not one, in %s", qval(&a[0], qb, sizeof(qb)),
				  span(E, n, sp, sizeof(sp)));
		} else {
			int64_t r;
			if (__builtin_sub_overflow(eval_now(E), us, &r) || r == INT64_MIN)
				rc = overflow(E, n);
			else
				set_us(out, V_DUR, r, secret);
		}
		break;
	case F_LEN:
		if (a[0].t == V_STR)
			set_num(out, (double)strlen(a[0].u.s), secret);
		else if (a[0].t == V_JSON && json_is_array(a[0].u.j))
			set_num(out, (double)json_array_size(a[0].u.j), secret);
		else if (a[0].t == V_JSON && json_is_object(a[0].u.j))
			set_num(out, (double)json_object_size(a[0].u.j), secret);
		else
			rc = fail(E, "len() needs a string, a list or an object, not %s, in %s", an(&a[0]),
				  span(E, n, sp, sizeof(sp)));
		break;
	case F_LOWER:
	case F_UPPER:
		if (a[0].t != V_STR) {
			rc = fail(E, "%s() needs a string, not %s, in %s", fname, an(&a[0]), span(E, n, sp, sizeof(sp)));
		} else {
			char *s = xstrdup(a[0].u.s);
			for (char *p = s; *p; p++) {
				if (n->op == F_LOWER && *p >= 'A' && *p <= 'Z')
					*p = (char)(*p - 'A' + 'a');
				else if (n->op == F_UPPER && *p >= 'a' && *p <= 'z')
					*p = (char)(*p - 'a' + 'A');
			}
			set_str(out, s, secret);
		}
		break;
	case F_CONTAINS:
		if (a[0].t == V_STR && a[1].t == V_STR) {
			set_bool(out, strstr(a[0].u.s, a[1].u.s) != NULL, secret);
		} else if (a[0].t == V_JSON && json_is_array(a[0].u.j)) {
			int r = 0;
			in_op(E, n, &a[1], &a[0], &r);
			set_bool(out, r, secret);
		} else {
			rc = fail(E, "contains() needs a string and a string, or a list and a value, not %s and %s, in %s",
				  an(&a[0]), an(&a[1]), span(E, n, sp, sizeof(sp)));
		}
		break;
	case F_MATCHES: {
		int r = 0;
		rc = re_match(E, n, &a[0], &a[1], &r);
		if (rc == 0)
			set_bool(out, r, secret);
		break;
	}
	case F_CAPTURE: {
		int r = 0;
		char *c = NULL;
		rc = re_match_cap(E, n, &a[0], &a[1], &r, &c);
		if (rc == 0 && r)
			set_str(out, c, secret);
		else if (rc == 0)
			out->t = V_NULL;
		else
			free(c);
		break;
	}
	case F_INT:
	case F_NUMBER: {
		double d = 0;
		int ok = 1;
		if (a[0].t == V_NUM)
			d = a[0].u.n;
		else if (a[0].t == V_BOOL)
			d = a[0].u.b;
		else if (a[0].t == V_STR)
			ok = parse_decimal(a[0].u.s, &d) == 0;
		else if (a[0].t == V_DUR || a[0].t == V_TIME)
			d = (double)a[0].u.us / 1e6;
		else
			ok = 0;
		if (!ok)
			rc = fail(E, "%s() cannot read %s as a number in %s", fname, qval(&a[0], qb, sizeof(qb)),
				  span(E, n, sp, sizeof(sp)));
		else
			set_num(out, n->op == F_INT ? trunc(d) : d, secret);
		break;
	}
	case F_STRING: {
		char *s = text_of(&a[0], STR_MAX);
		if (!s)
			rc = limit(E, "the text of %s is larger than 1 MiB", span(E, n, sp, sizeof(sp)));
		else
			set_str(out, s, secret);
		break;
	}
	case F_MIN:
	case F_MAX: {
		int r;
		rc = vcmp(E, n, &a[0], &a[1], &r);
		if (rc == 0) {
			int first = n->op == F_MIN ? r <= 0 : r >= 0;
			vcopy(out, first ? &a[0] : &a[1]);
			out->secret = secret;
		}
		break;
	}
	case F_KEYS:
		if (a[0].t == V_JSON && json_is_object(a[0].u.j)) {
			json_t *arr = json_array();
			const char *k;
			json_t *x;
			json_object_foreach(a[0].u.j, k, x)
				json_array_append_new(arr, json_string(k));
			out->t = V_JSON;
			out->u.j = arr;
			out->secret = secret;
		} else {
			rc = fail(E, "keys() needs an object, not %s, in %s", an(&a[0]), span(E, n, sp, sizeof(sp)));
		}
		break;
	case F_DEFAULT:
		break;
	}
	value_release(&a[0]);
	value_release(&a[1]);
	if (rc != 0)
		value_release(out);
	return rc;
}

static int eval(struct ev *E, struct enode *n, struct value *out)
{
	char sp[SPAN_MAX];
	struct value a, b;
	memset(out, 0, sizeof(*out));
	switch (n->k) {
	case E_LIT:
		vcopy(out, &n->lit);
		return 0;
	case E_LIST:
		return eval_list(E, n, out);
	case E_ROOT:
		return eval_root(E, n, out);
	case E_MEMBER: {
		if (eval(E, n->a, &a) != 0)
			return -1;
		int rc = json_member(E, n->a, &a, n->name, out);
		value_release(&a);
		return rc;
	}
	case E_INDEX:
		return index_op(E, n, out);
	case E_NEG:
		if (eval(E, n->a, &a) != 0)
			return -1;
		if (a.t == V_NUM) {
			set_num(out, -a.u.n, a.secret);
		} else if (a.t == V_DUR && a.u.us != INT64_MIN) {
			set_us(out, V_DUR, -a.u.us, a.secret);
		} else {
			fail(E, "cannot negate %s in %s; '-' applies to numbers and durations", an(&a),
			     span(E, n, sp, sizeof(sp)));
			value_release(&a);
			return -1;
		}
		return 0;
	case E_NOT:
		if (eval(E, n->a, &a) != 0)
			return -1;
		set_bool(out, !value_truthy(&a), a.secret);
		value_release(&a);
		return 0;
	case E_BIN: {
		if (eval(E, n->a, &a) != 0)
			return -1;
		if (eval(E, n->b, &b) != 0) {
			value_release(&a);
			return -1;
		}
		int rc = arith(E, n, &a, &b, out);
		value_release(&a);
		value_release(&b);
		return rc;
	}
	case E_CMP:
		return compare(E, n, out);
	case E_AND:
	case E_OR: {
		if (eval(E, n->a, &a) != 0)
			return -1;
		int t = value_truthy(&a), secret = a.secret;
		value_release(&a);
		if (t == (n->k == E_OR)) {
			set_bool(out, t, secret);
			return 0;
		}
		if (eval(E, n->b, &b) != 0)
			return -1;
		set_bool(out, value_truthy(&b), secret || b.secret);
		value_release(&b);
		return 0;
	}
	case E_COND: {
		if (eval(E, n->c, &a) != 0)
			return -1;
		int t = value_truthy(&a), secret = a.secret;
		value_release(&a);
		if (eval(E, t ? n->a : n->b, out) != 0)
			return -1;
		out->secret |= secret;
		return 0;
	}
	case E_CALL:
		return call(E, n, out);
	}
	return fail(E, "internal error: unknown expression node");
}

static int eval_shared(const struct expr *e, const struct eval_ctx *ctx, struct value *out, char **err,
		       struct shared *sh)
{
	struct ev E;
	memset(&E, 0, sizeof(E));
	memset(out, 0, sizeof(*out));
	if (err)
		*err = NULL;
	E.ctx = ctx;
	E.src = e->src;
	E.sh = sh;
	if (eval(&E, e->root, out) != 0) {
		value_release(out);
		if (!E.err)
			E.err = xstrdup("the expression could not be evaluated");
		if (err)
			*err = E.err;
		else
			free(E.err);
		return -1;
	}
	free(E.err);
	return 0;
}

/* Evaluates e with ctx's resolver. Returns 0 with *out set (release it), or
 * -1 with *err (free it) naming the sub-expression that failed; *out is then
 * null. Not safe to call on the same expression from two threads at once. */
int expr_eval(const struct expr *e, const struct eval_ctx *ctx, struct value *out, char **err)
{
	struct shared sh;
	memset(&sh, 0, sizeof(sh));
	return eval_shared(e, ctx, out, err, &sh);
}

/* ---- templates ---- */

struct tpart {
	char *lit;       /* a literal part (escapes undone), or */
	struct expr *e;  /* an expression part */
};

struct tmpl {
	char *text;      /* as written */
	char *literal;   /* the text of a template without ${...} parts */
	struct tpart *parts;
	size_t n;
};

static void tmpl_add(struct tmpl *t, size_t *alloc, char *lit, struct expr *e)
{
	if (t->n == *alloc) {
		*alloc = *alloc ? *alloc * 2 : 4;
		t->parts = xrealloc(t->parts, *alloc * sizeof(*t->parts));
	}
	t->parts[t->n].lit = lit;
	t->parts[t->n].e = e;
	t->n++;
}

/* Parses the expression of a "${" at s[dollar]; returns it and sets *next
 * to the offset after its '}', or NULL after a diagnostic. */
static struct expr *tmpl_expr(const char *s, size_t len, size_t dollar, struct loc loc, struct diags *d,
			      size_t *next)
{
	struct parser P;
	memset(&P, 0, sizeof(P));
	P.s = s;
	P.len = len;
	P.off0 = dollar + 2;
	P.dollar = dollar;
	P.base = loc;
	P.d = d;
	P.tmpl = 1;
	P.pos = dollar + 2;
	lex(&P);
	struct enode *root = NULL;
	if (P.tok.k == T_RBRACE)
		perr(&P, dollar, "empty '${}'; write an expression inside it, such as ${params.name}");
	else if (P.tok.k == T_EOF)
		perr(&P, dollar, "unterminated '${': expected '}'");
	else
		root = parse_cond(&P);
	if (root && P.tok.k != T_RBRACE) {
		if (P.tok.k == T_EOF) {
			perr(&P, dollar, "unterminated '${': expected '}'");
		} else if (P.tok.k != T_ERR) {
			struct strbuf m = STRBUF_INIT;
			perr(&P, P.tok.start, "unexpected %s in '${...}'; expected an operator or '}'", tokdesc(&P, &m));
			sb_release(&m);
		}
	}
	if (root && !P.failed && P.tok.start - P.off0 > EXPR_MAX_LEN)
		perr(&P, dollar, "expression in '${...}' is too long (more than %zu bytes); split it", EXPR_MAX_LEN);
	free(P.tok.str);
	P.tok.str = NULL;
	if (P.failed || !root) {
		node_free(root);
		return NULL;
	}
	struct expr *e = xcalloc(1, sizeof(*e));
	e->src = xstrndup(s + P.off0, P.tok.start - P.off0);
	e->root = root;
	*next = P.tok.end;
	return e;
}

/* Parses a template: text with ${expr} parts, "$${" for a literal "${". loc
 * is where s's first character is; an error is reported at loc.col + the
 * offset in s. Returns NULL after one "expr-syntax" diagnostic. */
struct tmpl *tmpl_parse(const char *s, struct loc loc, struct diags *d)
{
	size_t len = strlen(s);
	if (len > TMPL_MAX_LEN) {
		if (d)
			diag_add(d, SEV_ERROR, "expr-syntax", loc,
				 "text with '${...}' is too long (%zu bytes; at most %zu); shorten it", len,
				 TMPL_MAX_LEN);
		return NULL;
	}
	struct tmpl *t = xcalloc(1, sizeof(*t));
	struct strbuf lit;
	size_t alloc = 0, nexpr = 0;
	sb_init(&lit, (size_t)-1);
	t->text = xstrdup(s);
	for (size_t i = 0; i < len;) {
		if (s[i] == '$' && s[i + 1] == '$' && s[i + 2] == '{') {
			sb_add(&lit, "${", 2);
			i += 3;
		} else if (s[i] == '$' && s[i + 1] == '{') {
			size_t next = 0;
			struct expr *e = tmpl_expr(s, len, i, loc, d, &next);
			if (!e) {
				sb_release(&lit);
				tmpl_free(t);
				return NULL;
			}
			if (lit.len)
				tmpl_add(t, &alloc, sb_detach(&lit), NULL);
			tmpl_add(t, &alloc, NULL, e);
			nexpr++;
			i = next;
		} else {
			sb_addc(&lit, s[i]);
			i++;
		}
	}
	if (!nexpr) {
		t->literal = sb_detach(&lit);
	} else {
		if (lit.len)
			tmpl_add(t, &alloc, sb_detach(&lit), NULL);
		sb_release(&lit);
	}
	return t;
}

/* Frees a template and its expressions; NULL is ignored. */
void tmpl_free(struct tmpl *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++) {
		free(t->parts[i].lit);
		expr_free(t->parts[i].e);
	}
	free(t->parts);
	free(t->literal);
	free(t->text);
	free(t);
}

/* 1 when t has no ${...} parts. */
int tmpl_is_literal(const struct tmpl *t)
{
	return t->literal != NULL;
}

/* The text of a literal template with "$${" turned into "${"; NULL when the
 * template has ${...} parts. */
const char *tmpl_literal(const struct tmpl *t)
{
	return t->literal;
}

/* The template as written. */
const char *tmpl_text(const struct tmpl *t)
{
	return t->text;
}

/* expr_refs over every ${...} part in order. */
int tmpl_refs(const struct tmpl *t, int (*fn)(const struct expr_ref *ref, void *ud), void *ud)
{
	for (size_t i = 0; i < t->n; i++) {
		if (!t->parts[i].e)
			continue;
		int rc = expr_refs(t->parts[i].e, fn, ud);
		if (rc)
			return rc;
	}
	return 0;
}

/* Evaluates a template: a literal as its string, exactly one ${expr} as the
 * expression's typed value, anything else as the concatenated text of its
 * parts (secret when any part is). 0 and *out, or -1 and *err (free it). */
int tmpl_eval(const struct tmpl *t, const struct eval_ctx *ctx, struct value *out, char **err)
{
	memset(out, 0, sizeof(*out));
	if (err)
		*err = NULL;
	if (t->literal) {
		set_str(out, xstrdup(t->literal), 0);
		return 0;
	}
	if (t->n == 1 && t->parts[0].e)
		return expr_eval(t->parts[0].e, ctx, out, err);
	struct strbuf sb;
	struct shared sh;
	int secret = 0;
	memset(&sh, 0, sizeof(sh));
	sb_init(&sb, (size_t)-1);
	for (size_t i = 0; i < t->n; i++) {
		const struct tpart *p = &t->parts[i];
		char *text;
		if (p->lit) {
			sb_adds(&sb, p->lit);
		} else {
			struct value v;
			if (eval_shared(p->e, ctx, &v, err, &sh) != 0)
				goto fail;
			secret |= v.secret;
			text = text_of(&v, STR_MAX - (sb.len < STR_MAX ? sb.len : STR_MAX));
			value_release(&v);
			if (!text) {
				if (err)
					*err = xasprintf("the text of '${%s}' makes the string larger than 1 MiB",
							 expr_text(p->e));
				goto fail;
			}
			sb_adds(&sb, text);
			if (secret)
				free_secret(text);
			else
				free(text);
		}
		if (sb.len > STR_MAX) {
			if (err)
				*err = xstrdup("the text would be larger than 1 MiB; shorten the template");
			goto fail;
		}
	}
	set_str(out, sb_detach(&sb), secret);
	return 0;
fail:
	if (sb.buf && secret)
		explicit_bzero(sb.buf, sb.len);
	sb_release(&sb);
	return -1;
}
