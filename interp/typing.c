/*
 * typing.c: what each declared type (enum ptype) accepts, for the checker
 * (literals in the file) and the executor (values resolved at run time).
 * See typing.h.
 */
#include "typing.h"

#include <stdlib.h>
#include <string.h>

#include "run.h"
#include "text.h"

const char *ptype_name(enum ptype t)
{
	switch (t) {
	case T_STRING: return "a string";
	case T_INT: return "an integer";
	case T_NUMBER: return "a number";
	case T_BOOL: return "true or false";
	case T_DURATION: return "a duration (90s, 15m, 24h; at most 36500d)";
	case T_TIMESTAMP: return "an RFC 3339 UTC timestamp (2026-11-29T09:10:00Z)";
	case T_LIST: return "a list";
	case T_MAP: return "a mapping";
	case T_ANY: return "a value";
	case T_EXPR: return "an expression";
	case T_RESOURCE: return "a resource name";
	}
	return "a value";
}

static int is_bool_text(const char *s)
{
	return !strcmp(s, "true") || !strcmp(s, "false");
}

const char *type_mismatch(enum ptype t, json_t *j)
{
	int64_t x;
	double d;
	const char *s = json_string_value(j);
	switch (t) {
	case T_STRING:
	case T_RESOURCE:
	case T_EXPR:
		if (s || json_is_number(j) || json_is_boolean(j))
			return NULL;
		break;
	case T_INT:
		if (json_is_integer(j) || (s && parse_int64(s, &x) == 0))
			return NULL;
		break;
	case T_NUMBER:
		if (json_is_number(j) || (s && parse_decimal(s, &d) == 0))
			return NULL;
		break;
	case T_BOOL:
		if (json_is_boolean(j) || (s && is_bool_text(s)))
			return NULL;
		break;
	case T_DURATION:
		if (json_is_integer(j) && duration_from_secs(json_integer_value(j), &x) == 0)
			return NULL;
		if (s && parse_duration(s, &x) == 0)
			return NULL;
		break;
	case T_TIMESTAMP:
		if (s && parse_timestamp(s, &x) == 0)
			return NULL;
		break;
	case T_LIST:
		if (json_is_array(j))
			return NULL;
		break;
	case T_MAP:
		if (json_is_object(j))
			return NULL;
		break;
	case T_ANY:
		return NULL;
	}
	return ptype_name(t);
}

/* A value as allowed lists and messages spell it: a string as itself,
 * anything else as its JSON text (caller frees; NULL when unprintable). */
static char *value_text(json_t *j)
{
	return json_is_string(j) ? xstrdup(json_string_value(j)) : json_dumps_short(j, JSON_ENCODE_ANY);
}

int allowed_has(const char *const *allowed, json_t *j)
{
	char *s = value_text(j);
	int ok = 0;
	for (; s && *allowed && !ok; allowed++)
		ok = !strcmp(*allowed, s);
	free(s);
	return ok;
}

void allowed_list(const char *const *allowed, struct strbuf *sb)
{
	for (size_t i = 0; allowed[i]; i++)
		sb_addf(sb, "%s%s", i ? ", " : "", allowed[i]);
}

json_t *spec_default(const struct param_spec *ps)
{
	if (!ps->def)
		return NULL;
	switch (ps->type) {
	case T_INT: {
		int64_t v;
		return parse_int64(ps->def, &v) == 0 ? json_integer(v) : NULL;
	}
	case T_NUMBER:
		return json_real(strtod(ps->def, NULL));
	case T_BOOL:
		return json_boolean(!strcmp(ps->def, "true"));
	case T_LIST:
	case T_MAP:
	case T_ANY: {
		json_error_t je;
		json_t *j = json_loads(ps->def, JSON_DECODE_ANY, &je);
		return j ? j : json_string(ps->def);
	}
	default:
		return json_string(ps->def);
	}
}

/* v converted to the declared scalar type (v fits it: type_mismatch said
 * so). A new reference. */
static json_t *convert(enum ptype t, json_t *v)
{
	int64_t x;
	switch (t) {
	case T_STRING:
	case T_RESOURCE:
	case T_EXPR:
		if (json_is_string(v))
			return json_incref(v);
		if (json_is_integer(v))
			return json_sprintf("%lld", (long long)json_integer_value(v));
		if (json_is_real(v))
			return json_sprintf("%g", json_real_value(v));
		return json_string(json_is_true(v) ? "true" : "false");
	case T_INT:
		if (json_is_integer(v))
			return json_incref(v);
		parse_int64(json_string_value(v), &x);
		return json_integer(x);
	case T_NUMBER:
		return json_is_number(v) ? json_incref(v) : json_real(strtod(json_string_value(v), NULL));
	case T_BOOL:
		return json_is_boolean(v) ? json_incref(v) : json_boolean(!strcmp(json_string_value(v), "true"));
	default:
		return json_incref(v);
	}
}

json_t *coerce_value(const struct param_spec *ps, json_t *v, struct fail *f)
{
	const char *want = type_mismatch(ps->type, v);
	if (want) {
		char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		fail_set(f, EXIT_STEP_FAILED, "'%s' must be %s, but it resolved to %.80s", ps->name, want, s ? s : "?");
		free(s);
		return NULL;
	}
	json_t *out = convert(ps->type, v);
	if (!ps->allowed)
		return out;
	json_t *items = json_is_array(out) ? out : NULL;
	size_t n = items ? json_array_size(items) : 1;
	for (size_t i = 0; i < n; i++) {
		json_t *e = items ? json_array_get(items, i) : out;
		if (allowed_has(ps->allowed, e))
			continue;
		char *s = value_text(e);
		struct strbuf sb = STRBUF_INIT;
		allowed_list(ps->allowed, &sb);
		fail_set(f, EXIT_STEP_FAILED, "'%s' is '%s', which is not one of: %s", ps->name, s ? s : "?", sb_str(&sb));
		sb_release(&sb);
		free(s);
		json_decref(out);
		return NULL;
	}
	return out;
}
