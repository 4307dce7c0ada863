#!/usr/bin/env bash
# pg_diff.sh: verify.diff on real databases, as a restore preview. Database
# a plays the branch at the restore point (expected), a copy changed after
# it plays production (actual). Equal copies preview nothing; rows deleted
# and inserted in equal numbers are counted on both sides by key (not by
# count arithmetic) and named; a changed row is counted as changed; a table
# only in production is discarded whole and the schemas differ; a table
# without a primary key gets lower bounds and says why; max_queries stops
# the naming with lower bounds and says so; a non-state is a named error;
# differences never fail the step.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/pg.sh
. "$T_LIB/pg.sh"
require_drplay
PB=$ROOT/tests/integration/playbooks/pg
pg_start PG
pg_load_fixture PG a
J=$(t_tmpdir journal) || die_setup "no temp dir"
BASE=${PG_DSN%/postgres}
export A_DSN=$BASE/a
copy() { # DB: a fresh copy of a
	pg_psql PG -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1 TEMPLATE a" >/dev/null || die_setup "cannot copy a to $1"
}
preview() { B_DSN=$BASE/$1 "$DRPLAY" run --journal-dir "$J" "$PB/diff.yaml" "${@:2}"; }
out() { node "$T_LIB/journal_out.js" "$J" preview "$@"; }
tab() { # TABLE FIELD
	out "(o.tables.find(t => t.table === '$1') || {})['$2']"
}

copy same
t_exit "equal: a copy previews nothing" 0 preview same
t_eq "equal: ... nothing brought back, discarded or changed" "0 0 0 true true" \
	"$(out "[o.brought_back, o.discarded, o.changed, o.exact, o.schema_equal].join(' ')")"
t_eq "equal: ... no table listed" "[]" "$(out "o.tables")"
t_eq "equal: ... the summary says so" "this restore changes no rows of the tables compared" "$(out "o.summary")"

copy moved
pg_sql PG moved "DELETE FROM public.\"naïve_tbl\" WHERE \"clé\" IN ('clé-03', 'clé-07', 'clé-11', 'clé-12', 'clé-20');
INSERT INTO public.\"naïve_tbl\" VALUES ('clé-90', 1, 'x'), ('clé-91', 2, NULL), ('clé-92', 3, 'y'), ('clé-93', 4, 'z'), ('zz', 5, 'w');
UPDATE app.documents SET title = title || ' (edited)' WHERE id = 4" >/dev/null || die_setup "cannot change moved"
t_exit "delete and insert: previewed, the step does not fail" 0 preview moved
t_eq "delete and insert: ... the counts are equal" \
	"$(pg_sql PG a "SELECT count(*) FROM public.\"naïve_tbl\"")" "$(pg_sql PG moved "SELECT count(*) FROM public.\"naïve_tbl\"")"
t_eq "delete and insert: ... yet 5 brought back and 5 discarded, exactly" "5 5 0 true" \
	"$(out "(t => [t.brought_back, t.discarded, t.changed, t.exact].join(' '))(o.tables.find(t => t.table === 'public.naïve_tbl'))")"
t_eq "delete and insert: ... the keys brought back are named" '["clé-03","clé-07","clé-11","clé-12","clé-20"]' \
	"$(out "o.tables.find(t => t.table === 'public.naïve_tbl').brought_back_keys.sort()")"
t_eq "delete and insert: ... and the keys discarded" '["clé-90","clé-91","clé-92","clé-93","zz"]' \
	"$(out "o.tables.find(t => t.table === 'public.naïve_tbl').discarded_keys.sort()")"
t_eq "changed row: ... counted as changed, by key" "0 0 1 [\"4\"]" \
	"$(out "(t => [t.brought_back, t.discarded, t.changed, JSON.stringify(t.changed_keys)].join(' '))(o.tables.find(t => t.table === 'app.documents'))")"
t_eq "totals: ... over the tables" "5 5 1 true" "$(out "[o.brought_back, o.discarded, o.changed, o.exact].join(' ')")"
t_eq "only these two tables differ" '["app.documents","public.naïve_tbl"]' "$(out "o.tables.map(t => t.table).sort()")"
t_eq "summary: ... names what comes back, what is thrown away and since when" \
	"this restore brings back 5 rows of public.naïve_tbl; discards 5 rows of public.naïve_tbl written after 2026-12-06T09:10:00Z; changes 1 row of app.documents back" \
	"$(out "o.summary")"
t_contains "summary: ... also in the log" "$T_OUT" "public.naïve_tbl: 5 brought back, 5 discarded, 0 changed"

copy cascade
pg_sql PG cascade "DELETE FROM public.orders WHERE id BETWEEN 1000 AND 1099" >/dev/null || die_setup "cannot change cascade"
want_items=$(pg_sql PG a "SELECT count(*) FROM app.order_items WHERE order_id BETWEEN 1000 AND 1099")
t_exit "a bad delete with cascades: previewed" 0 preview cascade
t_eq "bad delete: ... 100 orders brought back" "100 0 0 true" \
	"$(out "(t => [t.brought_back, t.discarded, t.changed, t.exact].join(' '))(o.tables.find(t => t.table === 'public.orders'))")"
t_eq "bad delete: ... and every cascaded item, by composite key" "$want_items true" \
	"$(out "(t => [t.brought_back, t.exact].join(' '))(o.tables.find(t => t.table === 'app.order_items'))")"

copy nopk
pg_sql PG nopk "DELETE FROM public.events_nopk WHERE ctid IN (SELECT ctid FROM public.events_nopk LIMIT 2)" >/dev/null ||
	die_setup "cannot change nopk"
t_exit "no primary key: previewed" 0 preview nopk
t_eq "no primary key: ... at least 2 brought back, a lower bound" "2 0 false lower_bound" \
	"$(out "(t => [t.brought_back, t.discarded, t.exact, t.counts].join(' '))(o.tables.find(t => t.table === 'public.events_nopk'))")"
t_contains "no primary key: ... and says why" "$(tab public.events_nopk stopped)" "no primary key"
t_contains "no primary key: ... the summary says 'at least'" "$(out o.summary)" "at least 2 rows of public.events_nopk"

copy budget
pg_sql PG budget "DELETE FROM public.\"naïve_tbl\" WHERE \"clé\" = 'clé-03'; INSERT INTO public.\"naïve_tbl\" VALUES ('clé-035', 1, 'x');
DELETE FROM public.orders WHERE id IN (5, 1500)" >/dev/null || die_setup "cannot change budget"
t_exit "max_queries 2: previewed" 0 preview budget --param max_queries=2
t_eq "max_queries 2: ... the counts are lower bounds" false "$(out o.exact)"
t_contains "max_queries 2: ... a table says narrowing stopped at max_queries" "$(out "o.tables.map(t => t.stopped).join(' | ')")" "max_queries (2) reached"
t_eq "max_queries 2: ... within the budget" true "$(out "o.queries <= 2")"
t_eq "max_queries 2: ... spent on the first table (the cascaded items), named exactly" "3 0 true" \
	"$(out "(t => [t.brought_back, t.discarded, t.exact].join(' '))(o.tables.find(t => t.table === 'app.order_items'))")"
t_eq "max_queries 2: ... the equal-count table claims no count it cannot prove" "0 0 false" \
	"$(out "(t => [t.brought_back, t.discarded, t.exact].join(' '))(o.tables.find(t => t.table === 'public.naïve_tbl'))")"
t_eq "max_queries 2: ... the next one from its row counts, a lower bound" "2 0 false lower_bound" \
	"$(out "(t => [t.brought_back, t.discarded, t.exact, t.counts].join(' '))(o.tables.find(t => t.table === 'public.orders'))")"
t_contains "max_queries 2: ... the summary says the counts are not all there" "$(out o.summary)" "at least 2 rows of public.orders"
t_exit "max_queries 0: previewed" 0 preview budget --param max_queries=0
t_eq "max_queries 0: ... no live query, every table a lower bound" "0 false false false" \
	"$(out "[o.queries, ...o.tables.map(t => t.exact)].join(' ')")"
t_exit "max_queries 1000: the same states exactly" 0 preview budget
t_eq "max_queries 1000: ... exact" "true 1 1 2" \
	"$(out "[o.exact, o.tables.find(t => t.table === 'public.naïve_tbl').brought_back, o.tables.find(t => t.table === 'public.naïve_tbl').discarded, o.tables.find(t => t.table === 'public.orders').brought_back].join(' ')")"

copy newtab
pg_sql PG newtab "CREATE TABLE public.late (id int PRIMARY KEY); INSERT INTO public.late SELECT generate_series(1, 3)" >/dev/null ||
	die_setup "cannot change newtab"
t_exit "a table created after the restore point: previewed" 0 preview newtab
t_eq "new table: ... its rows are discarded" "0 3 true" \
	"$(out "(t => [t.brought_back, t.discarded, t.exact].join(' '))(o.tables.find(t => t.table === 'public.late'))")"
t_eq "new table: ... the schemas differ" false "$(out o.schema_equal)"
t_contains "new table: ... the schema diff names it" "$(out o.schema_diff)" "+ table	public.late"

t_exit "not a state: a named error, before any change" 4 "$DRPLAY" run --journal-dir "$J" "$PB/diff_bad.yaml"
t_contains "not a state: ... says which and what to pass" "$T_OUT" "'expected' is not a state"
