/*
 * expr_regex.c: the regular expressions of =~, matches() and capture():
 * PCRE2 in UTF mode with a match, depth and heap limit per match and at
 * most 64 matches per evaluation, limits that default() does not hide. A
 * literal pattern is compiled when the expression is parsed (a bad one is a
 * syntax error at its column); a computed one when evaluated, cached in its
 * node while it stays the same. Uses the lexer (syntax errors) and
 * expr_ops.c (evaluation errors).
 */
#include "expr_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RE_MATCH_LIMIT 1000000 /* PCRE2 budget per match (backtracking) */
#define RE_DEPTH_LIMIT 10000
#define RE_HEAP_LIMIT 20480    /* KiB */
#define RE_MAX_MATCHES 64      /* pattern matches in one evaluation */

/* Compiles pat in UTF mode (\C refused; invalid UTF-8 in a subject does
 * not match rather than fail). NULL with PCRE2's error code and offset. */
pcre2_code *regex_compile(const char *pat, int *code, size_t *off)
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

/* Compiles the literal pattern of node pat into holder at parse time: 0, or
 * -1 after a syntax diagnostic at the pattern. */
int regex_compile_literal(struct parser *P, struct enode *holder, const struct enode *pat)
{
	int code;
	size_t off;
	holder->re = regex_compile(pat->lit.u.s, &code, &off);
	if (!holder->re) {
		PCRE2_UCHAR msg[256];
		pcre2_get_error_message(code, msg, sizeof(msg));
		struct strbuf m = STRBUF_INIT;
		expr_perr(P, pat->start + P->off0, "invalid regular expression %s: %s at offset %zu; fix the pattern",
			  expr_quote(&m, pat->lit.u.s, strlen(pat->lit.u.s)), (const char *)msg, off);
		sb_release(&m);
		return -1;
	}
	holder->re_lit = 1;
	return 0;
}

/* Frees the pattern of node n and the cached text it came from (wiped when
 * secret); n has none afterwards. */
void regex_release(struct enode *n)
{
	if (n->re)
		pcre2_code_free(n->re);
	if (n->re_secret)
		free_secret(n->re_src);
	else
		free(n->re_src);
	n->re = NULL;
	n->re_src = NULL;
	n->re_secret = 0;
	n->re_lit = 0;
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
		ev_fail(E, "the regular expression is too long (more than %zu bytes)", EXPR_MAX_LEN);
		return NULL;
	}
	int code;
	size_t off;
	pcre2_code *re = regex_compile(pat->u.s, &code, &off);
	if (!re) {
		PCRE2_UCHAR msg[256];
		pcre2_get_error_message(code, msg, sizeof(msg));
		ev_fail(E, "invalid regular expression %s: %s at offset %zu; fix the pattern",
			ev_qval(pat, qb, sizeof(qb)), (const char *)msg, off);
		return NULL;
	}
	regex_release(holder);
	holder->re = re;
	holder->re_src = xstrdup(pat->u.s);
	holder->re_secret = pat->secret;
	return re;
}

/* Matches subj against pat, both strings, with holder's pattern (the
 * literal one, or compiled and cached): *res says whether it matched. When
 * cap is not NULL and it matched, *cap is the first capture group (or the
 * whole match when the pattern has none), a new string. */
int regex_match(struct ev *E, struct enode *holder, const struct value *subj, const struct value *pat,
		int *res, char **cap)
{
	char sp[SPAN_MAX];
	if (subj->t != V_STR || pat->t != V_STR)
		return ev_fail(E, "%s needs a string and a pattern string, not %s and %s",
			       holder->k == E_CALL ? "matches()" : "'=~'", value_an(subj), value_an(pat));
	if (++E->sh->matches > RE_MAX_MATCHES)
		return ev_limit(E, "more than %d pattern matches in one evaluation, at %s; simplify the expression",
				RE_MAX_MATCHES, ev_span(E, holder, sp, sizeof(sp)));
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
		return ev_limit(E, "cannot match %s: %s; simplify the pattern", ev_span(E, holder, sp, sizeof(sp)),
				(const char *)msg);
	return ev_fail(E, "cannot match %s: %s", ev_span(E, holder, sp, sizeof(sp)), (const char *)msg);
}
