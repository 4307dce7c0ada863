/*
 * expr_lex.c: the lexer of the expression language (grammar/expr.ebnf,
 * "tokens"): numbers, durations, RFC 3339 timestamps, strings with their
 * escapes, names and keywords, operators. Also the syntax diagnostics the
 * parser and the templates share: one "expr-syntax" error per parse, at
 * the column of the offending token, quoting it. Uses expr_value.c only for
 * quoting (see expr_int.h).
 */
#include "expr_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "text.h"

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

/* Adds the parse's one "expr-syntax" diagnostic, at base.col + off; a
 * second error of the same parse is dropped (the first is the one to fix). */
void expr_perr(struct parser *P, size_t off, const char *fmt, ...)
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

/* Reports a lexer error quoting the run of word-like characters at start. */
static void bad_word(struct parser *P, size_t start, const char *what, const char *hint)
{
	size_t e = start;
	while (e < P->len && (is_alnum((unsigned char)P->s[e]) || strchr(":.+-", P->s[e])) && e - start < 64)
		e++;
	struct strbuf sb = STRBUF_INIT;
	expr_perr(P, start, "invalid %s %s; %s", what, expr_quote(&sb, P->s + start, e - start), hint);
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
			expr_perr(P, start, "unterminated string starting here; close it with %s",
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
			expr_perr(P, start, "unterminated string starting here; close it with %s",
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
				expr_perr(P, i, "invalid escape %s in string; write \\u and four hex digits, as in \\u00e9",
					  expr_quote(&m, s + i, P->len - i < 6 ? P->len - i : 6));
				sb_release(&m);
				goto fail;
			}
			if (cp >= 0xd800 && cp <= 0xdbff && i + 7 < P->len && s[i + 6] == '\\' && s[i + 7] == 'u' &&
			    hex4(s + i + 8, P->len - (i + 8), &lo) == 0 && lo >= 0xdc00 && lo <= 0xdfff) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				i += 6;
			} else if (cp >= 0xd800 && cp <= 0xdfff) {
				struct strbuf m = STRBUF_INIT;
				expr_perr(P, i, "invalid escape %s in string: a lone UTF-16 surrogate; write the character "
					   "itself or a \\uD8xx\\uDCxx pair",
					  expr_quote(&m, s + i, 6));
				sb_release(&m);
				goto fail;
			} else if (cp == 0) {
				expr_perr(P, i, "invalid escape '\\u0000' in string: text cannot hold a NUL byte; remove it");
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

/* Reads s[start..end) with parse (parse_duration, parse_timestamp). */
static int read_us(struct parser *P, size_t start, size_t end, int (*parse)(const char *, int64_t *), int64_t *us)
{
	char *text = xstrndup(P->s + start, end - start);
	int rc = parse(text, us);
	free(text);
	return rc;
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
		int64_t us;
		if (read_us(P, start, i, parse_duration, &us) != 0) {
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
		expr_perr(P, start, "number %s is too large; use a smaller number", expr_quote(&m, s + start, i - start));
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
	int64_t us;
	if (read_us(P, start, i, parse_timestamp, &us) != 0 || us < TIME_MIN || us > TIME_MAX) {
		bad_word(P, start, "timestamp", "the date or time is out of range; check the month, day and hour");
		return T_ERR;
	}
	P->tok.us = us;
	P->pos = i;
	return T_TIME;
}

const char *const expr_op_text[T_COUNT] = {
	[T_PLUS] = "+", [T_MINUS] = "-", [T_STAR] = "*", [T_SLASH] = "/", [T_PERCENT] = "%",
	[T_EQ] = "==", [T_NE] = "!=", [T_LT] = "<", [T_LE] = "<=", [T_GT] = ">", [T_GE] = ">=",
	[T_MATCH] = "=~", [T_IN] = "in", [T_AND] = "and", [T_OR] = "or", [T_NOT] = "not",
};

static const struct {
	const char *word;
	enum tok_kind k;
} keywords[] = {
	{ "and", T_AND }, { "or", T_OR }, { "not", T_NOT }, { "in", T_IN },
	{ "true", T_TRUE }, { "false", T_FALSE }, { "null", T_NULL },
};

/* Operators and punctuation of two characters, tried before those of one. */
static const struct {
	char text[3];
	enum tok_kind k;
} ops2[] = {
	{ "==", T_EQ }, { "=~", T_MATCH }, { "!=", T_NE }, { "<=", T_LE },
	{ ">=", T_GE }, { "&&", T_AND },   { "||", T_OR },
};

static const unsigned char ops1[128] = {
	['('] = T_LPAREN, [')'] = T_RPAREN, ['['] = T_LBRACK, [']'] = T_RBRACK, ['}'] = T_RBRACE,
	[','] = T_COMMA,  ['.'] = T_DOT,    ['?'] = T_QUEST,  [':'] = T_COLON,  ['+'] = T_PLUS,
	['-'] = T_MINUS,  ['*'] = T_STAR,   ['/'] = T_SLASH,  ['%'] = T_PERCENT, ['!'] = T_NOT,
	['<'] = T_LT,     ['>'] = T_GT,
};

/* An operator or punctuation at s[i]: its kind with P->pos after it, T_ERR
 * after a diagnostic, or T_EOF when s[i] starts none. */
static enum tok_kind lex_op(struct parser *P, size_t i)
{
	char c = P->s[i], c1 = i + 1 < P->len ? P->s[i + 1] : '\0';
	for (size_t k = 0; k < ARRAY_SIZE(ops2); k++) {
		if (c == ops2[k].text[0] && c1 == ops2[k].text[1]) {
			P->pos = i + 2;
			return ops2[k].k;
		}
	}
	P->pos = i + 1;
	if ((unsigned char)c < sizeof(ops1) && ops1[(unsigned char)c])
		return (enum tok_kind)ops1[(unsigned char)c];
	if (c == '=') {
		expr_perr(P, i, "unexpected '=' in expression; write '==' to compare");
		return T_ERR;
	}
	if (c == '&' || c == '|') {
		expr_perr(P, i, "unexpected '%c' in expression; write '%c%c' or '%s'", c, c, c,
			  c == '&' ? "and" : "or");
		return T_ERR;
	}
	P->pos = i;
	return T_EOF;
}

/* A name at s[i]: a keyword's kind, or T_IDENT. */
static enum tok_kind lex_word(struct parser *P, size_t i)
{
	while (P->pos < P->len && is_alnum((unsigned char)P->s[P->pos]))
		P->pos++;
	for (size_t w = 0; w < ARRAY_SIZE(keywords); w++)
		if (strlen(keywords[w].word) == P->pos - i && !memcmp(keywords[w].word, P->s + i, P->pos - i))
			return keywords[w].k;
	return T_IDENT;
}

/* A token that is neither an operator nor punctuation, at s[i]. */
static enum tok_kind lex_value(struct parser *P, size_t i)
{
	const char *s = P->s;
	char c = s[i];
	if (c == '"' || c == '\'')
		return lex_string(P);
	if (is_digit((unsigned char)c)) {
		if (i + 4 < P->len && is_digit((unsigned char)s[i + 1]) && is_digit((unsigned char)s[i + 2]) &&
		    is_digit((unsigned char)s[i + 3]) && s[i + 4] == '-')
			return lex_time(P);
		return lex_number(P);
	}
	if (is_alpha((unsigned char)c))
		return lex_word(P, i);
	struct strbuf m = STRBUF_INIT;
	size_t l = utf8_seq_len((const unsigned char *)s + i, P->len - i);
	if (c == '{' && P->tmpl)
		expr_perr(P, i, "unexpected '{' inside '${...}'; a template part cannot hold another one");
	else
		expr_perr(P, i, "unexpected character %s in expression; remove it or quote the text",
			  expr_quote(&m, s + i, l ? l : 1));
	sb_release(&m);
	return T_ERR;
}

/* Reads the next token into P->tok: after a failure, always T_ERR. */
void lex_next(struct parser *P)
{
	free(P->tok.str);
	memset(&P->tok, 0, sizeof(P->tok));
	if (P->failed) {
		P->tok.k = T_ERR;
		P->tok.start = P->tok.end = P->pos;
		return;
	}
	while (P->pos < P->len && is_space((unsigned char)P->s[P->pos]))
		P->pos++;
	size_t i = P->pos;
	P->tok.start = i;
	if (i >= P->len) {
		P->tok.k = T_EOF;
		P->tok.end = i;
		return;
	}
	enum tok_kind k = lex_op(P, i);
	if (k == T_EOF)
		k = lex_value(P, i);
	if (k == T_ERR) {
		free(P->tok.str);
		P->tok.str = NULL;
	}
	P->tok.k = k;
	P->tok.end = P->pos;
}

/* After '.': reads a field name ([A-Za-z0-9_-], not ending in '-') as an
 * identifier token. */
void lex_member(struct parser *P)
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
		size_t l = i < P->len ? utf8_seq_len((const unsigned char *)s + i, P->len - i) : 0;
		if (i >= P->len)
			expr_perr(P, i, "expected a field name after '.', found the end of the expression");
		else
			expr_perr(P, i, "expected a field name after '.', found %s; field names are letters, digits, "
					   "'_' and '-'",
				  expr_quote(&m, s + i, l ? l : 1));
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
const char *lex_tokdesc(struct parser *P, struct strbuf *sb)
{
	if (P->tok.k == T_EOF)
		return "end of expression";
	return expr_quote(sb, P->s + P->tok.start, P->tok.end - P->tok.start);
}

/* Reports an unexpected current token: "unexpected X in expression; expected
 * WHAT". Inside a template, running out of text means the '${' is unclosed. */
void lex_unexpected(struct parser *P, const char *what)
{
	if (P->tok.k == T_ERR)
		return;
	if (P->tmpl && P->tok.k == T_EOF) {
		expr_perr(P, P->dollar, "unterminated '${': expected '}'");
		return;
	}
	struct strbuf sb = STRBUF_INIT;
	const char *d = lex_tokdesc(P, &sb);
	if (P->tok.k == T_EOF)
		expr_perr(P, P->tok.start, "unexpected end of expression; expected %s", what);
	else
		expr_perr(P, P->tok.start, "unexpected %s in expression; expected %s", d, what);
	sb_release(&sb);
}
