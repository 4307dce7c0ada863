#!/usr/bin/env bash
# pg_verify.sh: verify.compare on real databases. Equal databases (a template
# copy, a pg_dump/pg_restore round trip) compare equal; each kind of mismatch
# (one changed byte in one row, a deleted row, an extra row, a changed column
# default, a dropped table, a changed row in a table without key, a row of a
# partition) is detected AND located; tolerances pass and fail as specified;
# checks that a state does not hold never pass; when the baseline's database
# changed afterwards (the live drill), the differing ranges come from the
# states and the message says why it could not narrow further; the number of
# live queries stays within max_queries.
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
run() { "$DRPLAY" run --journal-dir "$J" "$@"; }
out() { node "$T_LIB/journal_out.js" "$J" "$@"; }
copy() { # DB: a fresh copy of a
	pg_psql PG -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1 TEMPLATE a" >/dev/null || die_setup "cannot copy a to $1"
}
compare() { B_DSN=$BASE/$1 run "$PB/compare.yaml"; }
diffs() { out verify "o.verdicts.filter(v => v.verdict !== 'ok').map(v => v.check + ' ' + v.table + ' ' + v.verdict).join('; ')"; }

# ------------------------------------------------------------------ equal ---
copy same
t_exit "equal: a template copy compares equal" 0 compare same
t_eq "equal: ... every verdict ok" "" "$(diffs)"
t_eq "equal: ... with verdicts for every check" '["checksums","counts","freshness","schema"]' \
	"$(out verify "[...new Set(o.verdicts.map(v => v.check))].sort()")"
t_eq "equal: ... passed is true" true "$(out verify "o.passed")"

pg_createdb PG restored || die_setup "cannot create restored"
"$PGBIN/pg_dump" -Fc -h "$PG_HOST" -p "$PG_PORT" -U postgres -f "$T_TMP/a.dump" a || die_setup "pg_dump failed"
"$PGBIN/pg_restore" -h "$PG_HOST" -p "$PG_PORT" -U postgres -d restored "$T_TMP/a.dump" || die_setup "pg_restore failed"
t_exit "equal: a pg_dump/pg_restore round trip compares equal (schema, counts, freshness, checksums)" 0 compare restored
t_eq "equal: ... every verdict ok" "" "$(diffs)"

# ------------------------------------------------------------- mismatches ---
copy byte
pg_sql PG byte "UPDATE orders SET note = 'order #1591' WHERE id = 1501" >/dev/null
t_exit "changed byte in one row: detected" 4 compare byte
t_eq "changed byte: ... only the checksum of public.orders differs" "checksums public.orders mismatch" "$(diffs)"
t_eq "changed byte: ... located to the key" '[["1501"],[],[]]' \
	"$(out verify "o.verdicts.find(v => v.verdict !== 'ok').ranges.map(r => [r.changed, r.missing, r.extra])[0]")"
t_contains "changed byte: ... and the error names table, key range and key" "$T_OUT" "checksums mismatch public.orders"
t_contains "changed byte: ... (changed key 1501)" "$T_OUT" "(changed key 1501)"
t_eq "changed byte: ... within max_queries" true "$(out verify "o.queries > 0 && o.queries <= 64")"

copy blob
pg_sql PG blob "UPDATE app.documents SET blob = set_byte(blob, 40000, get_byte(blob, 40000) # 1) WHERE id = 4" >/dev/null
t_exit "one flipped bit in a TOASTed bytea: detected" 4 compare blob
t_eq "flipped bit: ... in app.documents" "checksums app.documents mismatch" "$(diffs)"
t_contains "flipped bit: ... key 4" "$T_OUT" "(changed key 4)"

copy deleted
pg_sql PG deleted "DELETE FROM app.order_items WHERE order_id = 777 AND line_no = 2" >/dev/null
t_exit "deleted row: detected" 4 compare deleted
t_eq "deleted row: ... in counts and checksums" "counts app.order_items mismatch; checksums app.order_items mismatch" "$(diffs)"
t_contains "deleted row: ... counts name expected and actual" "$T_OUT" "counts mismatch app.order_items: expected 3000, actual 2999"
t_contains "deleted row: ... the composite key is located" "$T_OUT" "(missing key (777,2))"

copy extra
pg_sql PG extra "INSERT INTO public.\"naïve_tbl\" VALUES ('clé-15b', 1, NULL)" >/dev/null
t_exit "extra row: detected" 4 compare extra
t_eq "extra row: ... in counts and checksums" "counts public.naïve_tbl mismatch; checksums public.naïve_tbl mismatch" "$(diffs)"
t_contains "extra row: ... a text key is located" "$T_OUT" "(extra key clé-15b)"
t_not_contains "extra row: ... the ranges compare one to one (ranges_from)" "$T_OUT" "different key bounds"

copy dflt
pg_sql PG dflt "ALTER TABLE orders ALTER COLUMN status SET DEFAULT 'paid'" >/dev/null
t_exit "changed column default: detected" 4 compare dflt
t_eq "changed default: ... only the schema differs, at the column" "schema public.orders.status mismatch" "$(diffs)"
t_eq "changed default: ... expected and actual definitions" \
	"#3 public.order_status not null default 'pending'::public.order_status -> #3 public.order_status not null default 'paid'::public.order_status" \
	"$(out verify "o.verdicts.filter(v => v.verdict !== 'ok').map(v => v.expected + ' -> ' + v.actual)[0]")"
t_contains "changed default: ... the schema diff is logged" "$T_OUT" "+ column	public.orders.status	#3 public.order_status not null default 'paid'"

copy dropped
pg_sql PG dropped "DROP TABLE app.documents" >/dev/null
t_exit "dropped table: detected" 4 compare dropped
t_contains "dropped table: ... the capture records it as missing" "$T_OUT" "table 'app.documents' does not exist in database 'dropped' (resource 'b'); the state records it as missing"
t_eq "dropped table: ... missing in counts and checksums, and its schema objects" \
	"tables app.documents missing; schema app.documents.blob missing; schema app.documents.body missing; schema app.documents.created_at missing; schema app.documents.id missing; schema app.documents.title missing; schema app.documents.documents_pkey missing; schema app.documents missing; counts app.documents missing; freshness app.documents missing; checksums app.documents missing" \
	"$(diffs)"

copy nopk
pg_sql PG nopk "UPDATE events_nopk SET counter = counter + 1 WHERE counter = 5" >/dev/null
t_exit "changed row without a primary key: detected" 4 compare nopk
t_eq "no key: ... the table differs" "checksums public.events_nopk mismatch" "$(diffs)"
t_contains "no key: ... and no key range is claimed" "$T_OUT" "the table has no primary key, so no key ranges can be named"

copy part
pg_sql PG part "DELETE FROM app.measurements WHERE sensor_id = 92" >/dev/null
t_exit "deleted row of a partition: detected" 4 compare part
t_eq "partition: ... counted under the parent and in its partition" \
	"counts app.measurements mismatch; counts app.measurements_2024_03 mismatch; checksums app.measurements mismatch" "$(diffs)"
t_contains "partition: ... located" "$T_OUT" "(missing key (92,2024-03-15))"

# ------------------------------------------------------------- tolerances ---
copy older
pg_sql PG older "DELETE FROM orders WHERE created_at > '2024-01-24 11:00+00'" >/dev/null # 13 rows, newest 3h41m older
t_exit "tolerances: 0.99 and 26h accept a slightly older copy" 0 env B_DSN="$BASE/older" "$DRPLAY" run --journal-dir "$J" "$PB/compare_tol.yaml"
t_eq "tolerances: ... the counts verdict is ok, with the ratio" "ok 13 rows fewer (ratio 0.9935, within tolerance)" \
	"$(out verify "o.verdicts.filter(v => v.check === 'counts' && v.table === 'public.orders').map(v => v.verdict + ' ' + v.detail)[0]")"
t_exit "tolerances: min_ratio 0.999 rejects 13 of 2000 rows missing" 4 env B_DSN="$BASE/older" "$DRPLAY" run --journal-dir "$J" "$PB/compare_tol.yaml" --param min_ratio=0.999
t_contains "tolerances: ... naming the table and the figures" "$T_OUT" "counts mismatch public.orders: expected 2000, actual 1987"
t_exit "tolerances: max_age 1h rejects a copy 3h41m behind" 4 env B_DSN="$BASE/older" "$DRPLAY" run --journal-dir "$J" "$PB/compare_tol.yaml" --param max_age=1h
t_contains "tolerances: ... saying how far behind" "$T_OUT" "actual newest lags by 3h41m (max_age 1h)"
t_exit "tolerances: default exact comparison rejects the same copy" 4 compare older
t_exit "tolerances: written directly as counts: and freshness:" 0 env B_DSN="$BASE/older" "$DRPLAY" run --journal-dir "$J" "$PB/compare_tol_direct.yaml"
t_exit "lint: verify.compare must be a gate" 1 "$DRPLAY" lint "$PB/lint_verify.yaml"
t_contains "lint: ... verify-not-gate" "$T_OUT" "[verify-not-gate]"

# ------------------------------------------------- missing checks, no false PASS ---
t_exit "checks a state lacks are differences" 4 run "$PB/compare_missing.yaml"
t_contains "missing checks: ... counts missing in the actual state" "$T_OUT" "the actual state has no counts"
t_contains "missing checks: ... checksums missing in the expected state" "$T_OUT" "the expected state has no checksums"
t_exit "states with nothing in common fail" 4 run "$PB/compare_nocommon.yaml"
t_contains "nothing in common: ... saying so" "$T_OUT" "the two states have no check in common"

# ------------------------------------------- the baseline's database changed ---
copy drill
A_DSN=$BASE/drill t_exit "drill: a change after the baseline is detected" 1 run "$PB/drill.yaml" --param change="UPDATE orders SET note = 'changed' WHERE id = 1501"
t_contains "drill: ... located by the states' own key ranges" "$T_OUT" "id [1500, 1550): 50 rows expected, 50 actual"
t_contains "drill: ... saying why it did not narrow further" "$T_OUT" "the expected database has changed since its state was captured"
t_eq "drill: ... 2 live queries to find that out" 2 "$(out verify "o.queries")"
copy drill2
A_DSN=$BASE/drill2 t_exit "drill: max_queries 0 makes no live query" 1 run "$PB/drill.yaml" --param change="UPDATE users SET display_name = 'x' WHERE id = 250" --param max_queries=0
t_eq "drill: ... none made" 0 "$(out verify "o.queries")"
t_contains "drill: ... and says so" "$T_OUT" "max_queries (0) reached"
t_contains "drill: ... the range still named" "$T_OUT" "id [250, 260): 10 rows expected, 10 actual"
