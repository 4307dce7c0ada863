/*
 * verify_diff.c: verify.diff, the restore preview (SPEC.md, 'verify.diff').
 * It reads two states the way verify.compare does (verify_int.h: the same
 * engine, the same narrowing) and says what going from the actual state
 * (now) to the expected one (what a restore brings) changes, table by
 * table: rows brought back (in expected only), rows discarded (in actual
 * only) and rows changed (same key, other content). Counts come from the
 * keys the narrowing lists, never from count arithmetic, so a table with as
 * many rows deleted as inserted still shows both; when the narrowing stops
 * (max_queries, no primary key, a database that cannot be read) the counts
 * of the ranges left are lower bounds from their row counts, and the table
 * says so. It never fails on a difference: only when it cannot read its
 * inputs.
 */
#include <stdlib.h>
#include <string.h>

#include "verify_int.h"

/* A range of at most this many rows per side has its keys listed in one
 * query per side (a streamed COPY, with the range's sum checked against the
 * state in the same pass); larger ones are bisected first. */
#define DIFF_LEAF_ROWS 65536
/* Keys named per table and kind in the output; the counts stay exact. */
#define DIFF_MAX_KEYS 1000

struct dtab {
	int64_t back, disc, chg;
	int exact;
};

static int64_t rows_of(json_t *state, const char *section, const char *table)
{
	json_t *t = json_object_get(json_object_get(state, section), table);
	if (json_is_integer(t))
		return json_integer_value(t);
	return json_integer_value(json_object_get(t, "rows"));
}

/* Appends the keys of list to out (a JSON array), up to DIFF_MAX_KEYS in
 * out; 1 when some were left out. */
static int keys_into(json_t *out, json_t *list)
{
	size_t i;
	json_t *k;
	json_array_foreach(list, i, k)
	{
		if (json_array_size(out) >= DIFF_MAX_KEYS)
			return 1;
		json_array_append(out, k);
	}
	return 0;
}

/* A checksums mismatch: the ranges the engine narrowed, read as rows
 * brought back, discarded and changed. Fills d and the table's entry. */
static void diff_ranges(json_t *v, struct dtab *d, json_t *entry)
{
	json_t *ranges = json_object_get(v, "ranges"), *out = json_array();
	json_t *kb = json_array(), *kd = json_array(), *kc = json_array();
	int cut = 0;
	d->exact = json_array_size(ranges) > 0;
	size_t i;
	json_t *r;
	json_array_foreach(ranges, i, r)
	{
		int64_t e = json_integer_value(json_object_get(r, "expected_rows"));
		int64_t x = json_integer_value(json_object_get(r, "actual_rows"));
		json_t *mi = json_object_get(r, "missing"), *ex = json_object_get(r, "extra"), *ch = json_object_get(r, "changed");
		json_t *o = json_pack("{s:O,s:O,s:O,s:I,s:I}", "key", json_object_get(r, "key"), "lo", json_object_get(r, "lo"),
				      "hi", json_object_get(r, "hi"), "expected_rows", (json_int_t)e, "actual_rows", (json_int_t)x);
		if (mi && ex && ch) {
			d->back += (int64_t)json_array_size(mi);
			d->disc += (int64_t)json_array_size(ex);
			d->chg += (int64_t)json_array_size(ch);
			cut |= keys_into(kb, mi) | keys_into(kd, ex) | keys_into(kc, ch);
			json_object_set_new(o, "exact", json_true());
		} else {
			/* not narrowed to keys: what the row counts prove */
			d->exact = 0;
			d->back += e > x ? e - x : 0;
			d->disc += x > e ? x - e : 0;
			json_object_set_new(o, "exact", json_false());
		}
		json_array_append_new(out, o);
	}
	if (!json_array_size(ranges)) { /* no key: the table's row counts only */
		int64_t e = json_integer_value(json_object_get(v, "expected_rows"));
		int64_t x = json_integer_value(json_object_get(v, "actual_rows"));
		d->back = e > x ? e - x : 0;
		d->disc = x > e ? x - e : 0;
	}
	json_object_set_new(entry, "ranges", out);
	json_object_set_new(entry, "brought_back_keys", kb);
	json_object_set_new(entry, "discarded_keys", kd);
	json_object_set_new(entry, "changed_keys", kc);
	if (cut)
		json_object_set_new(entry, "keys_truncated", json_true());
	if (!d->exact) {
		json_t *st = json_object_get(v, "stopped");
		json_object_set_new(entry, "stopped", st ? json_incref(st) : json_string("not narrowed to keys"));
	}
}

static json_t *table_entry(const char *table, const struct dtab *d, json_t *entry)
{
	if (!entry)
		entry = json_object();
	json_object_set_new(entry, "table", json_string(table));
	json_object_set_new(entry, "brought_back", json_integer(d->back));
	json_object_set_new(entry, "discarded", json_integer(d->disc));
	json_object_set_new(entry, "changed", json_integer(d->chg));
	json_object_set_new(entry, "exact", json_boolean(d->exact));
	json_object_set_new(entry, "counts", json_string(d->exact ? "exact" : "lower_bound"));
	return entry;
}

/* The engine's verdicts as a list of differing tables (new array). Tables
 * with checksums are read from them; a table with counts only, from its
 * counts (lower bounds unless one side lacks the table). */
static json_t *diff_tables(struct cmp *C, json_t *E, json_t *A)
{
	json_t *out = json_array(), *seen = json_object();
	for (int pass = 0; pass < 2; pass++) {
		size_t i;
		json_t *v;
		json_array_foreach(C->verdicts, i, v)
		{
			const char *ck = json_string_value(json_object_get(v, "check"));
			const char *vd = json_string_value(json_object_get(v, "verdict"));
			const char *t = json_string_value(json_object_get(v, "table"));
			if (!t || strcmp(ck, pass ? "counts" : "checksums") || json_object_get(seen, t))
				continue;
			json_object_set_new(seen, t, json_true());
			if (!strcmp(vd, "ok"))
				continue;
			struct dtab d = { 0, 0, 0, 1 };
			const char *sec = pass ? "counts" : "checksums";
			json_t *entry = json_object();
			if (!strcmp(vd, "missing")) {
				d.back = rows_of(E, sec, t);
				json_object_set_new(entry, "detail", json_string("the table is in the expected state only"));
			} else if (!strcmp(vd, "extra")) {
				d.disc = rows_of(A, sec, t);
				json_object_set_new(entry, "detail", json_string("the table is in the actual state only"));
			} else if (pass == 0) {
				diff_ranges(v, &d, entry);
			} else {
				int64_t e = rows_of(E, sec, t), x = rows_of(A, sec, t);
				d.back = e > x ? e - x : 0;
				d.disc = x > e ? x - e : 0;
				d.exact = 0;
				json_object_set_new(entry, "stopped", json_string("the states have no checksums of this table: counts only"));
			}
			json_array_append_new(out, table_entry(t, &d, entry));
		}
	}
	json_decref(seen);
	return out;
}

/* "N rows of T, M rows of U" for one kind, "" when none. */
static void kind_text(struct strbuf *sb, json_t *tables, const char *kind)
{
	size_t i, n = 0;
	json_t *t;
	json_array_foreach(tables, i, t)
	{
		int64_t k = json_integer_value(json_object_get(t, kind));
		int exact = json_is_true(json_object_get(t, "exact"));
		if (!k)
			continue;
		sb_addf(sb, "%s%s%lld row%s of %s", n++ ? ", " : "", exact ? "" : "at least ", (long long)k, k == 1 ? "" : "s",
			json_string_value(json_object_get(t, "table")));
	}
}

static void diff_summary(json_t *tables, const char *since, int schema_equal, struct strbuf *sum)
{
	struct strbuf b = STRBUF_INIT, d = STRBUF_INIT, c = STRBUF_INIT;
	kind_text(&b, tables, "brought_back");
	kind_text(&d, tables, "discarded");
	kind_text(&c, tables, "changed");
	if (!b.len && !d.len && !c.len) {
		sb_adds(sum, json_array_size(tables) ? "this restore changes rows that could not be counted (see tables)"
						     : "this restore changes no rows of the tables compared");
	} else {
		sb_adds(sum, "this restore ");
		int n = 0;
		if (b.len)
			sb_addf(sum, "brings back %s", sb_str(&b)), n++;
		if (d.len) {
			sb_addf(sum, "%sdiscards %s", n++ ? "; " : "", sb_str(&d));
			if (since)
				sb_addf(sum, " written after %s", since);
		}
		if (c.len)
			sb_addf(sum, "%schanges %s back", n++ ? "; " : "", sb_str(&c));
	}
	size_t i;
	json_t *t;
	int lower = 0;
	json_array_foreach(tables, i, t) lower |= !json_is_true(json_object_get(t, "exact"));
	if (lower)
		sb_adds(sum, " (\"at least\": narrowing stopped before every row was named; see tables[].stopped)");
	if (!schema_equal)
		sb_adds(sum, "; the schemas differ (see schema_diff)");
	sb_release(&b);
	sb_release(&d);
	sb_release(&c);
}

static int schema_equal_of(const struct cmp *C)
{
	size_t i;
	json_t *v;
	json_array_foreach(C->verdicts, i, v) if (!strcmp(json_string_value(json_object_get(v, "check")), "schema") &&
						 strcmp(json_string_value(json_object_get(v, "verdict")), "ok"))
		return 0;
	return 1;
}

static const char *const diff_checks[] = { "schema", "checksums", "counts", NULL };

static int do_diff(struct act *a)
{
	struct cmp C;
	json_t *list;
	if (verify_prepare(a, &C, 1000, diff_checks, &list) != 0)
		return ACT_FAIL;
	C.diff = 1;
	C.leaf_rows = DIFF_LEAF_ROWS;
	json_t *E = act_json(a, "expected"), *A = act_json(a, "actual");
	struct strbuf sdiff = STRBUF_INIT, sum = STRBUF_INIT;
	verify_run(&C, list, &sdiff);
	json_t *tables = diff_tables(&C, E, A);
	int seq = schema_equal_of(&C);
	diff_summary(tables, act_str(a, "restore_point"), seq, &sum);
	int64_t tb = 0, td = 0, tc = 0;
	int exact = 1;
	size_t i;
	json_t *t;
	json_array_foreach(tables, i, t)
	{
		tb += json_integer_value(json_object_get(t, "brought_back"));
		td += json_integer_value(json_object_get(t, "discarded"));
		tc += json_integer_value(json_object_get(t, "changed"));
		exact &= json_is_true(json_object_get(t, "exact"));
		act_log(a, "%s: %s%lld brought back, %lld discarded, %lld changed%s%s",
			json_string_value(json_object_get(t, "table")), json_is_true(json_object_get(t, "exact")) ? "" : "at least ",
			(long long)json_integer_value(json_object_get(t, "brought_back")),
			(long long)json_integer_value(json_object_get(t, "discarded")),
			(long long)json_integer_value(json_object_get(t, "changed")),
			json_object_get(t, "stopped") ? "; " : "",
			json_object_get(t, "stopped") ? json_string_value(json_object_get(t, "stopped")) : "");
	}
	act_log(a, "%s", sb_str(&sum));
	if (C.queries)
		act_log(a, "%lld live quer%s to name the rows", (long long)C.queries, C.queries == 1 ? "y" : "ies");
	act_out_int(a, "brought_back", tb);
	act_out_int(a, "discarded", td);
	act_out_int(a, "changed", tc);
	act_out_bool(a, "exact", exact);
	act_out(a, "tables", tables);
	act_out_bool(a, "schema_equal", seq);
	act_out_str(a, "schema_diff", sb_str(&sdiff));
	act_out_str(a, "summary", sb_str(&sum));
	act_out_int(a, "queries", C.queries);
	act_out(a, "checks", list);
	sb_release(&sum);
	sb_release(&sdiff);
	json_decref(C.verdicts);
	return ACT_OK;
}

static const char *const diff_check_names[] = { "schema", "counts", "checksums", NULL };

static const struct param_spec diff_params[] = {
	{ .name = "actual", .type = T_ANY, .flags = P_REQUIRED,
	  .doc = "the state now, e.g. production's: ${steps.now.state}" },
	{ .name = "actual_db", .type = T_RESOURCE, .kind = "postgres",
	  .doc = "where to read the actual side live when naming rows (default: the state's resource)" },
	{ .name = "checks", .type = T_LIST, .allowed = diff_check_names,
	  .doc = "what to read (default: schema, checksums and counts, those both states have)" },
	{ .name = "expected", .type = T_ANY, .flags = P_REQUIRED,
	  .doc = "the state a restore brings, e.g. a branch at the restore point: ${steps.branch.state}" },
	{ .name = "expected_db", .type = T_RESOURCE, .kind = "postgres",
	  .doc = "where to read the expected side live when naming rows (default: the state's resource)" },
	{ .name = "max_queries", .type = T_INT, .def = "1000", .doc = "live queries allowed for naming rows; beyond them counts are lower bounds" },
	{ .name = "restore_point", .type = T_STRING, .flags = P_PRINTED,
	  .doc = "the point restored, named in the summary (\"discards 3 rows of public.x written after ...\")" },
	{ .name = "tables", .type = T_LIST, .doc = "read only these tables (default: all in the states)" },
	{ .name = NULL },
};
static const struct output_spec diff_outputs[] = {
	{ .name = "brought_back", .type = T_INT, .doc = "rows in expected and not in actual: the restore brings them back" },
	{ .name = "changed", .type = T_INT, .doc = "rows with the same key and other content" },
	{ .name = "checks", .type = T_LIST, .doc = "the checks read" },
	{ .name = "discarded", .type = T_INT, .doc = "rows in actual and not in expected: the restore throws them away" },
	{ .name = "exact", .type = T_BOOL, .doc = "every count is exact (false: some are lower bounds, see tables[].stopped)" },
	{ .name = "queries", .type = T_INT, .doc = "live queries made to name rows" },
	{ .name = "schema_diff", .type = T_STRING, .doc = "differing schema lines, '- expected' / '+ actual'" },
	{ .name = "schema_equal", .type = T_BOOL, .doc = "the schemas are equal (or no schema was read)" },
	{ .name = "summary", .type = T_STRING, .doc = "what the restore brings back, discards and changes, in a sentence" },
	{ .name = "tables", .type = T_LIST,
	  .doc = "one per differing table: table, brought_back, discarded, changed, exact, counts, ranges, keys, stopped (SPEC.md, 'verify.diff')" },
	{ .name = NULL },
};
const struct action_def verify_diff_def = {
	.name = "verify.diff",
	.run = do_diff,
	.cat = CAT_OTHER,
	.params = diff_params,
	.outputs = diff_outputs,
	.doc = "Previews a restore: what going from the actual state (now) to the expected one (what the restore brings) changes, per table: rows brought back, discarded and changed, named by key the way verify.compare narrows. Read-only; never fails on differences.",
};
