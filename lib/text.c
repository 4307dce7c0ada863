/*
 * text.c: UTF-8 repair for JSON sinks and escaping for the terminal (see
 * text.h). Written here rather than taken from a library: the decoder is
 * twenty lines, the libraries at hand either refuse invalid input (jansson)
 * or match it without repairing it (PCRE2), and both sinks need the same
 * byte-exact rule of what is valid.
 */
#include "text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

#define REPLACEMENT "\xef\xbf\xbd" /* U+FFFD */

size_t utf8_seq_len(const unsigned char *p, size_t n)
{
	size_t len;
	unsigned min, cp;
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

int utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < n) {
		size_t l = utf8_seq_len(p + i, n - i);
		if (l == 0 || p[i] == 0)
			return 0;
		i += l;
	}
	return 1;
}

char *text_utf8(const char *s, size_t n)
{
	if (!s)
		return xstrdup("");
	if (utf8_valid(s, n))
		return xstrndup(s, n);
	struct strbuf sb;
	sb_init(&sb, (size_t)-1);
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < n) {
		size_t l = utf8_seq_len(p + i, n - i);
		if (l == 0 || p[i] == 0) {
			sb_adds(&sb, REPLACEMENT);
			i++;
			continue;
		}
		sb_add(&sb, p + i, l);
		i += l;
	}
	return sb_detach(&sb);
}

json_t *json_textn(const char *s, size_t n)
{
	if (!s)
		return json_null();
	if (utf8_valid(s, n))
		return json_stringn(s, n);
	char *t = text_utf8(s, n);
	json_t *j = json_string(t);
	free(t);
	return j;
}

json_t *json_text(const char *s)
{
	return json_textn(s, s ? strlen(s) : 0);
}

void text_term(struct strbuf *sb, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < n) {
		size_t start = i;
		/* the common case: a run of printable ASCII */
		while (i < n && p[i] >= 0x20 && p[i] < 0x7f)
			i++;
		sb_add(sb, p + start, i - start);
		if (i >= n)
			break;
		unsigned char c = p[i];
		if (c == '\t') {
			sb_addc(sb, '\t');
			i++;
		} else if (c == '\n') {
			sb_adds(sb, "\\n");
			i++;
		} else if (c == '\r') {
			sb_adds(sb, "\\r");
			i++;
		} else if (c < 0x80) {
			sb_addf(sb, "\\x%02x", c);
			i++;
		} else {
			size_t l = utf8_seq_len(p + i, n - i);
			if (l == 0) {
				sb_addf(sb, "\\x%02x", c);
				i++;
			} else if (l == 2 && c == 0xc2 && p[i + 1] < 0xa0) {
				sb_addf(sb, "\\u%04x", (unsigned)p[i + 1]);
				i += 2;
			} else {
				sb_add(sb, p + i, l);
				i += l;
			}
		}
	}
}

json_t *json_map_text(json_t *v, char *(*fn)(const char *s, size_t n))
{
	if (!v)
		return NULL;
	switch (json_typeof(v)) {
	case JSON_STRING: {
		char *t = fn(json_string_value(v), json_string_length(v));
		json_t *j = json_text(t);
		free_secret(t);
		return j;
	}
	case JSON_OBJECT: {
		json_t *o = json_object();
		const char *k;
		json_t *x;
		json_object_foreach(v, k, x)
		{
			char *t = fn(k, strlen(k));
			char *key = text_utf8(t, strlen(t));
			json_object_set_new(o, key, json_map_text(x, fn));
			free(key);
			free_secret(t);
		}
		return o;
	}
	case JSON_ARRAY: {
		json_t *a = json_array();
		size_t i;
		json_t *x;
		json_array_foreach(v, i, x) json_array_append_new(a, json_map_text(x, fn));
		return a;
	}
	default:
		return json_incref(v);
	}
}

static char *term_copy(const char *s, size_t n)
{
	struct strbuf sb;
	sb_init(&sb, (size_t)-1);
	text_term(&sb, s, n);
	return sb_detach(&sb);
}

json_t *json_term(json_t *v)
{
	return json_map_text(v, term_copy);
}

/* 1 when every real in v reads back exactly from 15 significant digits. */
static int reals_short(const json_t *v)
{
	if (json_is_real(v)) {
		char buf[40];
		snprintf(buf, sizeof(buf), "%.15g", json_real_value(v));
		return strtod(buf, NULL) == json_real_value(v);
	}
	const char *k;
	json_t *x;
	size_t i;
	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, k, x) if (!reals_short(x)) return 0;
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, x) if (!reals_short(x)) return 0;
	}
	return 1;
}

char *json_dumps_short(const json_t *v, size_t flags)
{
	return json_dumps(v, flags | JSON_REAL_PRECISION(reals_short(v) ? 15 : 17));
}
