/*
 * expr_int.h: what the stages of the expression language share, and only
 * they (interp/expr_*.c; everyone else includes expr.h). The stages, each
 * using only those listed before it:
 *
 *   expr_value.c    values: struct value, conversions, equality, text, JSON
 *   expr_lex.c      the lexer: source text to tokens, syntax diagnostics
 *   expr_ops.c      evaluation errors and the operators over values:
 *                   arithmetic, ordering, 'in', member access
 *   expr_regex.c    PCRE2 patterns: compiled at parse time or cached
 *   expr_builtin.c  the builtin functions, one table {name, arity, taint, fn}
 *   expr_parse.c    the parser (precedence climbing over one table), the
 *                   tree, references
 *   expr_eval.c     the evaluator: walks the tree, calls the operators and
 *                   the builtins
 *   expr_tmpl.c     templates: text with ${expr} parts
 *
 * An expression is parsed once (at check time) and evaluated many times, by
 * one thread at a time: a computed pattern is cached in its node.
 */
#ifndef DRPLAY_EXPR_INT_H
#define DRPLAY_EXPR_INT_H

#include <stdint.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "expr.h"
#include "util.h"

#define EXPR_MAX_LEN ((size_t)64 << 10) /* bytes of source in one expression */
#define EXPR_MAX_DEPTH 64               /* nesting of (), [], calls, unary ops, ?: */
#define EXPR_MAX_HEIGHT 256             /* height of the tree (long operator chains) */
#define TMPL_MAX_LEN ((size_t)1 << 20)  /* bytes in one template */
#define STR_MAX ((size_t)1 << 20)       /* largest string an evaluation builds */
#define QUOTE_MAX 48                    /* bytes of offending text quoted in messages */
#define SPAN_MAX 96                     /* a quoted sub-expression in a message */

#define TIME_MIN (-62167219200LL * 1000000)     /* 0000-01-01T00:00:00Z */
#define TIME_MAX (253402300800LL * 1000000 - 1) /* 9999-12-31T23:59:59.999999Z */
#define US_LIMIT 9.2e18                         /* |microseconds| a duration may hold */

/* ---- values (expr_value.c) ---- */

static inline void set_bool(struct value *v, int b, int secret)
{
	memset(v, 0, sizeof(*v));
	v->t = V_BOOL;
	v->u.b = b != 0;
	v->secret = secret;
}

static inline void set_num(struct value *v, double n, int secret)
{
	memset(v, 0, sizeof(*v));
	v->t = V_NUM;
	v->u.n = n;
	v->secret = secret;
}

static inline void set_us(struct value *v, enum vtype t, int64_t us, int secret)
{
	memset(v, 0, sizeof(*v));
	v->t = t;
	v->u.us = us;
	v->secret = secret;
}

static inline void set_str(struct value *v, char *s, int secret)
{
	memset(v, 0, sizeof(*v));
	v->t = V_STR;
	v->u.s = s;
	v->secret = secret;
}

/* A copy of src (its own string, a new JSON reference), taint included. */
void value_copy(struct value *dst, const struct value *src);
/* Makes a value from a resolver well-formed: a NULL string is "", a scalar
 * held as V_JSON becomes its typed value, an unknown type null. */
void value_normalize(struct value *v);
/* "a number", "an object", "null": a value's kind with its article. */
const char *value_an(const struct value *v);
/* The text of v (see value_to_text), or NULL when longer than cap bytes. */
char *value_text_max(const struct value *v, size_t cap);
/* A number as value_to_text writes it, into buf. */
void value_fmt_num(double n, char *buf, size_t sz);
/* v as a timestamp (itself, or RFC 3339 text): 0 and *us, or -1. */
int value_time(const struct value *v, int64_t *us);
/* v as a duration (itself, text such as "90s", a number of seconds): 0 and
 * *us, or -1. */
int value_dur(const struct value *v, int64_t *us);
/* Seconds as microseconds: 0, or -1 when out of a duration's range. */
int secs_to_us(double secs, int64_t *us);
/* Equality (==): same types by value, a string against a timestamp or a
 * duration read as one, a number against a duration as seconds; else 0. */
int value_eq(const struct value *a, const struct value *b);

/* Appends at most QUOTE_MAX bytes of s[0..n) to sb for a message: control
 * bytes and invalid UTF-8 as \xNN, "..." when cut. */
void expr_sb_quote(struct strbuf *sb, const char *s, size_t n);
/* The same between single quotes; returns sb's text (sb is the caller's). */
const char *expr_quote(struct strbuf *sb, const char *s, size_t n);

/* ---- tokens (expr_lex.c) ---- */

enum tok_kind {
	T_EOF, T_ERR, T_NUM, T_STR, T_DUR, T_TIME, T_IDENT,
	T_LPAREN, T_RPAREN, T_LBRACK, T_RBRACK, T_RBRACE, T_COMMA, T_DOT, T_QUEST, T_COLON,
	T_PLUS, T_MINUS, T_STAR, T_SLASH, T_PERCENT,
	T_EQ, T_NE, T_LT, T_LE, T_GT, T_GE, T_MATCH, T_IN,
	T_AND, T_OR, T_NOT, T_TRUE, T_FALSE, T_NULL,
	T_COUNT
};

/* The text of each operator token, for messages ("+", "==", "and"). */
extern const char *const expr_op_text[T_COUNT];

struct tok {
	enum tok_kind k;
	size_t start, end; /* byte offsets in the parser's text */
	double num;
	int64_t us;
	char *str;         /* T_STR: the decoded text, owned until a node takes it */
};

/* What the lexer and the parser share while reading one expression. */
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

/* Reads the next token into P->tok (T_ERR after a diagnostic). */
void lex_next(struct parser *P);
/* After '.': reads a field name ([A-Za-z0-9_-], not ending in '-') as a
 * T_IDENT token, or T_ERR after a diagnostic. */
void lex_member(struct parser *P);
/* Adds the parse's one "expr-syntax" diagnostic at s[off] (later ones are
 * dropped: the first error is the one to fix). */
void expr_perr(struct parser *P, size_t off, const char *fmt, ...) PRINTF_LIKE(3, 4);
/* The current token quoted for a message, or "end of expression". */
const char *lex_tokdesc(struct parser *P, struct strbuf *sb);
/* Reports the current token as unexpected, "expected WHAT"; inside a
 * template, running out of text means the '${' is unclosed. */
void lex_unexpected(struct parser *P, const char *what);

/* ---- the tree (expr_parse.c) ---- */

enum ekind { E_LIT, E_LIST, E_ROOT, E_MEMBER, E_INDEX, E_NEG, E_NOT, E_BIN, E_CMP, E_AND, E_OR, E_COND, E_CALL };

struct enode {
	enum ekind k;
	int op;               /* E_BIN/E_CMP/E_AND/E_OR: token kind; E_CALL: index in expr_builtins */
	size_t start, end;    /* source span, offsets into the expression's text */
	int height;
	struct value lit;     /* E_LIT */
	const char *root;     /* E_ROOT: one of expr_roots */
	char *name;           /* E_ROOT: the first member (or NULL); E_MEMBER: the field */
	struct loc loc;       /* E_ROOT: where the root is written */
	struct enode *a, *b, *c;
	struct enode **args;  /* E_CALL arguments, E_LIST elements */
	size_t nargs;
	pcre2_code *re;       /* =~ and pattern arguments: the compiled pattern */
	int re_lit;           /* re was compiled at parse time from a literal */
	char *re_src;         /* else: the pattern re was compiled from (a cache) */
	int re_secret;        /* re_src came from a secret */
};

struct expr {
	char *src;
	struct enode *root;
};

/* The roots an expression may name; expr_roots[ROOT_SECRET] is "secret". */
enum { ROOT_SECRET = 2 };
extern const char *const expr_roots[6];

/* Parses one whole expression (a conditional, the lowest precedence) at the
 * current token. NULL after a diagnostic. */
struct enode *parse_expression(struct parser *P);
/* Frees a node and everything below it; NULL is ignored. */
void enode_free(struct enode *n);

/* ---- evaluation state and errors (expr_ops.c) ---- */

/* What the evaluations of one expression or one template share: the clock
 * and the budget of pattern matches. */
struct shared {
	int64_t now;
	int have_now;
	unsigned matches;
};

/* One evaluation. */
struct ev {
	const struct eval_ctx *ctx;
	const char *src;
	char *err;
	int fatal;          /* err is a resource limit: default() does not hide it */
	struct shared *sh;
};

/* Sets the evaluation's error (the first one stays) and returns -1. */
int ev_fail(struct ev *E, const char *fmt, ...) PRINTF_LIKE(2, 3);
/* The same for a resource limit (a string over 1 MiB, a runaway pattern):
 * the expression itself must change, so default() does not catch it. */
int ev_limit(struct ev *E, const char *fmt, ...) PRINTF_LIKE(2, 3);
/* "the result of 'N' is out of range"; returns -1. */
int ev_overflow(struct ev *E, const struct enode *n);
/* n's source text quoted, into buf, for messages. */
const char *ev_span(struct ev *E, const struct enode *n, char *buf, size_t bn);
/* n's source text unquoted ("steps.dump"), into buf. */
const char *ev_path(struct ev *E, const struct enode *n, char *buf, size_t bn);
/* A value quoted for a message, its kind when not a string, or "a secret
 * value". */
const char *ev_qval(const struct value *v, char *buf, size_t bn);
/* now(): the context's clock or the wall clock, fixed for the evaluation. */
int64_t ev_now(struct ev *E);

/* ---- operators (expr_ops.c) ---- */

/* Ordering: *r is -1, 0 or 1, or fails naming n. */
int op_order(struct ev *E, const struct enode *n, const struct value *a, const struct value *b, int *r);
/* a OP b for the arithmetic operator n->op (may convert a string operand
 * of a or b in place). */
int op_arith(struct ev *E, const struct enode *n, struct value *a, struct value *b, struct value *out);
/* `a in b`: element of a list, key of an object, substring of a string. */
int op_in(struct ev *E, const struct enode *n, const struct value *a, const struct value *b, int *res);
/* obj.name, where objn is the node obj came from (for messages and the
 * field's own taint). */
int op_member(struct ev *E, const struct enode *objn, struct value *obj, const char *name, struct value *out);

/* ---- patterns (expr_regex.c) ---- */

/* Compiles a pattern (UTF mode); NULL with PCRE2's error code and offset. */
pcre2_code *regex_compile(const char *pat, int *code, size_t *off);
/* Compiles the literal pattern node pat into holder at parse time; -1
 * after a diagnostic. */
int regex_compile_literal(struct parser *P, struct enode *holder, const struct enode *pat);
/* Frees n's compiled pattern and its cached source. */
void regex_release(struct enode *n);
/* Matches subj against pat (strings), with the pattern of holder (literal
 * or cached); *res says whether it matched. When cap is not NULL and it
 * matched, *cap is the first group (or the whole match), a new string. */
int regex_match(struct ev *E, struct enode *holder, const struct value *subj, const struct value *pat, int *res,
		char **cap);

/* ---- builtins (expr_builtin.c) ---- */

#define BUILTIN_MAX_ARGS 2

/* How a builtin's result is tainted by secrets. */
enum taint {
	TAINT_NONE,   /* never secret (it has no arguments) */
	TAINT_ARGS,   /* secret when any argument is; a null result is plain */
	TAINT_CHOSEN, /* the argument it returns, with its own taint (lazy builtins) */
};

/* One call of a builtin. A strict builtin finds its arguments evaluated in
 * a[0..nargs); a lazy one evaluates argument i when it needs it, with
 * arg(c, i, out). */
struct call {
	struct ev *E;
	struct enode *n;
	const char *name;
	struct value *a;
	size_t nargs;
	int (*arg)(struct call *c, size_t i, struct value *out);
};

struct builtin {
	const char *name;
	unsigned char min_args, max_args;
	unsigned char taint;       /* enum taint */
	unsigned char lazy;        /* arguments evaluated by the function itself */
	unsigned char pattern_arg; /* 1-based: the argument that is a pattern, compiled at parse time when literal */
	/* Sets *out (taint aside: the evaluator applies the rule), or fails
	 * with ev_fail/ev_limit and leaves *out null. */
	int (*fn)(struct call *c, struct value *out);
};

extern const struct builtin expr_builtins[];
extern const size_t expr_nbuiltins;
/* The index of the builtin named s[0..n), or -1. */
int builtin_find(const char *s, size_t n);
/* Appends "now, duration, ... and capture", every builtin's name, to sb. */
void builtin_names(struct strbuf *sb);

/* ---- the evaluator (expr_eval.c) ---- */

/* Evaluates e sharing sh with the other evaluations of one template. */
int expr_eval_shared(const struct expr *e, const struct eval_ctx *ctx, struct value *out, char **err,
		     struct shared *sh);

#endif
