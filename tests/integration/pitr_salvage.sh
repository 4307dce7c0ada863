#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# tests/integration/pitr_salvage.sh - pitr.salvage and `drplay salvage` on a
# real PostgreSQL with the local driver: the seed's incident (a bad delete
# after the restore point T, then legitimate writes), a disaster restore to
# T, then the writes after T taken back out of the preserved state:
#   the counts name exactly the rows written after T (discarded) and the
#   row updated after T (changed), and the deleted rows the restore brought
#   back; the preserved data directory is byte for byte unchanged (it is
#   copied, never started); salvage.sql applied to the restored database
#   makes those tables equal to the preserved state again, hostile values
#   included (quotes, backslashes, newlines, tabs, binary bytea, mojibake),
#   and the sequences move past the salvaged ids; each CSV loads back with
#   COPY into the same rows; --count-only writes nothing; drplay cleanup
#   shows the counts; a gone state and a non-empty --out are named errors
#   that start nothing; SIGTERM during a salvage leaves no server running.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/pg.sh
. "$T_LIB/pg.sh"
require_drplay

PB=$ROOT/tests/integration/playbooks/pitr
J=$T_TMP/journal
pg_start PG --archive
export DB_DSN=$PG_DSN PG_DATA PG_ARCHIVE DRPLAY_TOKEN=pitr-token
export BASE_BACKUPS=$PG_DIR/base_backups
mkdir -p "$BASE_BACKUPS" && chown postgres: "$BASE_BACKUPS" 2>/dev/null
q() { pg_sql PG postgres "$1"; }
salvage() { "$DRPLAY" salvage "$PB/local_restore.yaml" --resource history --journal-dir "$J" "$@"; }
BRANCHES=$PG_DIR/drplay-branches
no_server_left() { ! compgen -G "$BRANCHES/*/postmaster.pid" >/dev/null && ! pgrep -f -- "-D $BRANCHES/" >/dev/null; }
# md5 of a table's rows in key order, text form
tsum() { q "select md5(coalesce(string_agg(t::text, E'\\n' order by t::text), '')) from $1 t"; }

q "create table customers (id serial primary key, name text not null);
create table invoices (id int generated always as identity primary key, customer_id int not null references customers,
                       amount numeric(10,2) not null, doubled numeric(10,2) generated always as (amount * 2) stored);
create table prices (sku text primary key, price numeric not null);
create table hostile (id int primary key, t text, b bytea);
create table events (kind text, n int);
insert into customers (name) select 'c' || i from generate_series(1, 20) i;
insert into prices select 'sku-' || i, i * 1.5 from generate_series(1, 30) i;
insert into invoices (customer_id, amount) select 1 + i % 20, i from generate_series(1, 40) i;
insert into events select 'boot', i from generate_series(1, 5) i;" >/dev/null || die_setup "cannot create the tables"
pg_as_postgres "$PGBIN/pg_basebackup" -D "$BASE_BACKUPS/nightly" -X stream -c fast -h "$PG_HOST" -p "$PG_PORT" \
    -U postgres >/dev/null 2>&1 || die_setup "pg_basebackup failed"
sleep 1.1
T=$(date -u +%FT%TZ)
sleep 1.1
# the bad delete, then legitimate writes
q "delete from prices where sku in ('sku-3', 'sku-4', 'sku-5')" >/dev/null
q "insert into customers (name) values ('late 1'), ('O''Brien \"quoted\"'), (E'two\\nlines\\tand tab');
update prices set price = 99.25 where sku = 'sku-10';
insert into invoices (customer_id, amount) values (21, 10.5), (22, 20), (23, 30.25);
insert into hostile values (1, E'it''s \\\\ back\\\\slash', '\\x00ff80fe0a0d09'::bytea),
  (2, E'line1\\nline2\\r\\n\"q\"', ''::bytea), (3, 'Ã©Ã¨ mojibake Â£', NULL), (4, NULL, '\\x5c78'::bytea),
  (5, E'\\\\x41 \\\\N \\\\.', '\\x'::bytea);
insert into events values ('late', 6), ('late', 7);" >/dev/null || die_setup "cannot write after T"
sleep 1.1
for tb in customers invoices prices hostile events; do eval "BEFORE_$tb=\$(tsum $tb)"; done
t_exit "restore: a disaster restore to T" 0 "$DRPLAY" run "$PB/local_restore.yaml" --journal-dir "$J" --mode=disaster \
    --authorize=pitr-token --param to="$T"
PRESERVED=$(jq -r 'select(.event=="step_end" and .step=="restore") | .outputs.preserved // empty' "$(ls -t "$J"/*.jsonl | head -1)")
t_check "restore: the replaced state is kept ($PRESERVED)" test -d "$PG_DIR/drplay-preserved/$PRESERVED"
t_eq "restore: the writes after T are gone from the restored database" "20 0" \
    "$(q "select (select count(*) from customers), (select count(*) from hostile)" | tr '|' ' ')"
tree_sum() { (cd "$PG_DIR/drplay-preserved/$PRESERVED" && find . -type f -print0 | sort -z | xargs -0 md5sum | md5sum); }
PRESERVED_SUM=$(tree_sum)

# ---- bad input: nothing started, nothing written ----
t_exit "gone state: a named error, nothing changed (exit 4)" 4 salvage --state no-such-state --out "$T_TMP/none"
t_contains "gone state: ... names the state and where it looked" "$T_OUT" "keeps no preserved state named 'no-such-state'"
t_contains "gone state: ... and says nothing was started" "$T_OUT" "nothing was started"
t_check "gone state: ... no branch was made" no_server_left
mkdir -p "$T_TMP/full" && echo x >"$T_TMP/full/keep"
t_exit "non-empty --out: a named error, nothing changed (exit 4)" 4 salvage --state "$PRESERVED" --out "$T_TMP/full"
t_contains "non-empty --out: ... says why and that nothing started" "$T_OUT" "is not empty; nothing was started"
t_exit "usage: --state is required" 2 "$DRPLAY" salvage "$PB/local_restore.yaml" --resource history
t_contains "usage: ... and says how to list them" "$T_OUT" "drplay cleanup"

# ---- counting ----
t_exit "count only: counts and writes nothing" 0 salvage --state "$PRESERVED" --count-only --out "$T_TMP/unused"
t_contains "count only: ... the total" "$T_OUT" "holds 13 rows the restore discarded and 1 it changed (3 rows the restore brought back)"
t_check "count only: ... no files" test ! -e "$T_TMP/unused"
t_check "count only: ... no server left running" no_server_left
t_eq "count only: ... the preserved state is byte for byte unchanged" "$PRESERVED_SUM" "$(tree_sum)"
cl=$("$DRPLAY" cleanup "$PB/local_restore.yaml" --resource history --journal-dir "$J" 2>&1)
t_contains "cleanup: shows the counts of the preserved state" "$cl" "holds 13 rows the restore discarded and 1 it changed"
t_contains "cleanup: ... and still asks for the exact name" "$cl" "--approve=NAME"

# ---- extracting ----
OUT=$T_TMP/salvaged
t_exit "salvage: writes the rows" 0 salvage --state "$PRESERVED" --out "$OUT"
for pair in "public.customers 3 0 0" "public.invoices 3 0 0" "public.prices 0 1 3" "public.hostile 5 0 0" "public.events 2 0 0"; do
    set -- $pair
    t_contains "salvage: $1: $2 discarded, $3 changed, $4 brought back" "$(grep -F "$1 " <<<"$T_OUT" | head -1 | tr -s ' ')" \
        "$1 $2 discarded $3 changed $4 brought back"
done
t_contains "salvage: a table without a key is counted, not extracted" "$T_OUT" "no primary key: compared as whole rows"
t_check "salvage: salvage.sql written" test -s "$OUT/salvage.sql"
t_check "salvage: one CSV per extracted table" test -s "$OUT/public.hostile.csv" -a -s "$OUT/public.prices.csv" -a ! -e "$OUT/public.events.csv"
t_check "salvage: no server left running" no_server_left
t_eq "salvage: the preserved state is byte for byte unchanged" "$PRESERVED_SUM" "$(tree_sum)"
t_check "salvage: customers are inserted before the invoices that reference them" \
    bash -c "grep -n 'INSERT INTO public.customers' '$OUT/salvage.sql' | head -1 | cut -d: -f1 | { read c; l=\$(grep -n 'INSERT INTO public.invoices' '$OUT/salvage.sql' | head -1 | cut -d: -f1); [ \"\$c\" -lt \"\$l\" ]; }"
t_contains "salvage: the changed price is an UPDATE by key" "$(cat "$OUT/salvage.sql")" "UPDATE public.prices SET price = '99.25' WHERE sku = 'sku-10';"
t_contains "salvage: identity columns GENERATED ALWAYS are overridden" "$(cat "$OUT/salvage.sql")" "OVERRIDING SYSTEM VALUE"
t_not_contains "salvage: generated columns are not written" "$(cat "$OUT/salvage.sql")" "doubled"

# ---- round trip: the SQL applied to the restored database ----
t_exit "round trip: salvage.sql applies in one transaction" 0 pg_psql PG -d postgres -v ON_ERROR_STOP=1 -f "$OUT/salvage.sql"
for tb in customers invoices hostile; do
    eval "want=\$BEFORE_$tb"
    t_eq "round trip: $tb equals the preserved state again" "$want" "$(tsum "$tb")"
done
t_eq "round trip: the changed price is back" "99.25" "$(q "select price from prices where sku = 'sku-10'")"
t_eq "round trip: the rows the restore brought back stay" 30 "$(q "select count(*) from prices")"
t_eq "round trip: the sequence moved past the salvaged ids (next insert works)" 24 \
    "$(q "insert into customers (name) values ('after') returning id")"
t_eq "round trip: the identity moved too" 44 "$(q "insert into invoices (customer_id, amount) values (1, 1) returning id")"

# ---- the CSV loads back into the same rows ----
q "create table hostile_csv (drplay_change text, id int, t text, b bytea)" >/dev/null
t_exit "csv: loads with COPY ... (FORMAT csv, HEADER)" 0 pg_psql PG -d postgres -v ON_ERROR_STOP=1 \
    -c "\\copy hostile_csv from '$OUT/public.hostile.csv' with (format csv, header true)"
t_eq "csv: the same rows, byte for byte" "$(q "select md5(string_agg(h::text, ',' order by id)) from hostile h")" \
    "$(q "select md5(string_agg(row(id, t, b)::text, ',' order by id)) from hostile_csv")"
t_eq "csv: each row says why it is there" "discarded" "$(q "select string_agg(distinct drplay_change, ',') from hostile_csv")"

# ---- signals: SIGTERM while the throwaway server runs ----
"$DRPLAY" salvage "$PB/local_restore.yaml" --resource history --state "$PRESERVED" --out "$T_TMP/sig" --journal-dir "$J" \
    >"$T_TMP/sig.log" 2>&1 &
SPID=$!
t_watch_pid "$SPID"
wait_until 60 compgen -G "$BRANCHES/*-salvage*/postmaster.pid" || true
kill -TERM "$SPID"
wait "$SPID"
src=$?
t_check "signal: drplay salvage exits non-zero ($src)" test "$src" -ne 0
t_check "signal: no server left running" no_server_left
t_eq "signal: the throwaway copy is removed" "" "$(ls "$BRANCHES" 2>/dev/null | grep -- -salvage)"
t_eq "signal: the preserved state is byte for byte unchanged" "$PRESERVED_SUM" "$(tree_sum)"
