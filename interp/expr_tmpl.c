/*
 * expr_tmpl.c: templates, the playbook strings with ${expr} parts
 * (grammar/expr.ebnf, "templates"). A template is split once into literal
 * text and expressions, each parsed where it stands (a '}' inside a string
 * literal does not end its part) with columns counted in the whole string.
 * Exactly one ${expr} evaluates to the expression's typed value; anything
 * else to text, secret when any part is, with the text of every secret
 * part handed to the caller for masking. The parts of one template share
 * one clock and one budget of pattern matches. Uses the lexer, the parser
 * and the evaluator.
 */
#include "expr_int.h"

#include <stdlib.h>
#include <string.h>

#include "diag.h"

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
	lex_next(&P);
	struct enode *root = NULL;
	if (P.tok.k == T_RBRACE)
		expr_perr(&P, dollar, "empty '${}'; write an expression inside it, such as ${params.name}");
	else if (P.tok.k == T_EOF)
		expr_perr(&P, dollar, "unterminated '${': expected '}'");
	else
		root = parse_expression(&P);
	if (root && P.tok.k != T_RBRACE) {
		if (P.tok.k == T_EOF) {
			expr_perr(&P, dollar, "unterminated '${': expected '}'");
		} else if (P.tok.k != T_ERR) {
			struct strbuf m = STRBUF_INIT;
			expr_perr(&P, P.tok.start, "unexpected %s in '${...}'; expected an operator or '}'",
				  lex_tokdesc(&P, &m));
			sb_release(&m);
		}
	}
	if (root && !P.failed && P.tok.start - P.off0 > EXPR_MAX_LEN)
		expr_perr(&P, dollar, "expression in '${...}' is too long (more than %zu bytes); split it",
			  EXPR_MAX_LEN);
	free(P.tok.str);
	P.tok.str = NULL;
	if (P.failed || !root) {
		enode_free(root);
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

/* Tells the caller (eval_ctx.secret_text) the texts of a value computed
 * from a secret: a scalar's text, or every string and number inside JSON. */
static void note_json(const struct eval_ctx *ctx, json_t *j)
{
	if (json_is_string(j)) {
		ctx->secret_text(ctx->ud, json_string_value(j));
	} else if (json_is_number(j)) {
		char *t = json_dumps(j, JSON_ENCODE_ANY);
		if (t)
			ctx->secret_text(ctx->ud, t);
		free(t);
	} else if (json_is_object(j)) {
		const char *k;
		json_t *x;
		json_object_foreach(j, k, x) note_json(ctx, x);
	} else if (json_is_array(j)) {
		size_t i;
		json_t *x;
		json_array_foreach(j, i, x) note_json(ctx, x);
	}
}

static void note_secret(const struct eval_ctx *ctx, const struct value *v)
{
	if (!ctx || !ctx->secret_text || v->t == V_BOOL || v->t == V_NULL)
		return;
	if (v->t == V_JSON) {
		note_json(ctx, v->u.j);
		return;
	}
	char *t = value_to_text(v);
	ctx->secret_text(ctx->ud, t);
	free_secret(t);
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
	if (t->n == 1 && t->parts[0].e) {
		if (expr_eval(t->parts[0].e, ctx, out, err) != 0)
			return -1;
		if (out->secret)
			note_secret(ctx, out);
		return 0;
	}
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
			if (expr_eval_shared(p->e, ctx, &v, err, &sh) != 0)
				goto fail;
			secret |= v.secret;
			text = value_text_max(&v, STR_MAX - (sb.len < STR_MAX ? sb.len : STR_MAX));
			if (text && v.secret && v.t != V_BOOL && ctx && ctx->secret_text)
				ctx->secret_text(ctx->ud, text);
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
