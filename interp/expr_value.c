/*
 * expr_value.c: the values of the expression language (expr.h's struct
 * value): conversion from and to JSON, their text (numbers, RFC 3339
 * timestamps, durations as written, compact JSON), truthiness, equality and
 * the readings of a string as a timestamp or a duration that comparisons and
 * arithmetic share. Also the quoting of offending text in messages, which
 * every stage uses. The lowest stage: it uses no other (see expr_int.h).
 */
#include "expr_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

/* Appends at most QUOTE_MAX bytes of s[0..n) to sb for a message: control
 * bytes and invalid UTF-8 as \xNN, "..." when cut. */
void expr_sb_quote(struct strbuf *sb, const char *s, size_t n)
{
	size_t i = 0, used = 0;
	while (i < n) {
		const unsigned char *p = (const unsigned char *)s + i;
		size_t l = utf8_seq_len(p, n - i);
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

/* s[0..n) quoted for a message (see expr_sb_quote) between single quotes,
 * into sb, which the caller releases; returns sb's text. */
const char *expr_quote(struct strbuf *sb, const char *s, size_t n)
{
	sb_addc(sb, '\'');
	expr_sb_quote(sb, s, n);
	sb_addc(sb, '\'');
	return sb_str(sb);
}

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
void value_fmt_num(double n, char *buf, size_t sz)
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
char *value_text_max(const struct value *v, size_t cap)
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
		value_fmt_num(v->u.n, buf, sizeof(buf));
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
	char *s = value_text_max(v, (size_t)-1 / 2);
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
const char *value_an(const struct value *v)
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

/* A copy of src in dst: its own string, a new JSON reference, the taint. */
void value_copy(struct value *dst, const struct value *src)
{
	*dst = *src;
	if (src->t == V_STR)
		dst->u.s = xstrdup(src->u.s ? src->u.s : "");
	else if (src->t == V_JSON)
		json_incref(src->u.j);
}

/* Makes a value from a resolver well-formed (a NULL string is "", a scalar
 * JSON value its typed value). */
void value_normalize(struct value *v)
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

/* v as a timestamp: a timestamp, or a string in RFC 3339. 0 and *us, or -1. */
int value_time(const struct value *v, int64_t *us)
{
	if (v->t == V_TIME) {
		*us = v->u.us;
		return 0;
	}
	if (v->t == V_STR)
		return parse_timestamp(v->u.s, us);
	return -1;
}

/* Seconds as whole microseconds: 0, or -1 beyond what a duration holds. */
int secs_to_us(double secs, int64_t *us)
{
	double x = secs * 1e6;
	if (!(fabs(x) < US_LIMIT))
		return -1;
	*us = (int64_t)llround(x);
	return 0;
}

/* v as a duration: a duration, a string such as "90s" or a number of
 * seconds. 0 and *us, or -1. */
int value_dur(const struct value *v, int64_t *us)
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
int value_eq(const struct value *a, const struct value *b)
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
		return value_time(a, &x) == 0 && value_time(b, &y) == 0 && x == y;
	if (a->t == V_DUR || b->t == V_DUR)
		return value_dur(a, &x) == 0 && value_dur(b, &y) == 0 && x == y;
	return 0;
}
