#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# tests/integration/quickstart.sh - README's self-hosted quickstart, run as
# written, and the seed's incident end to end on a real server.
#
# The README marks its parts: `<!-- quickstart: NAME -->` before a ```sh
# block (run here in a bash of its own, in a fresh directory, with drplay on
# PATH) or `<!-- quickstart: file NAME -->` before a ```yaml block (written
# to NAME). Only three things are not taken verbatim: the `env` block's
# values (its `export NAME=...` lines; each name must be one this test
# provides), the `T=` line of the rehearsal (the moment just before this
# test's damage) and the preserved state's name given to salvage (the one
# this restore's report names). The `setup` block needs systemd and a packaged server; the
# harness starts its PostgreSQL 15 the same way (WAL archived into a
# directory, a base backup by pg_basebackup, a scratch database), and the
# test checks the block says so.
#
# The incident (the seed's): a shop database; at T a bad DELETE, then
# legitimate writes (new customers and orders, a price change). The
# rehearsal in validation mode passes and names the rows the restore brings
# back and discards; the disaster restore (--approve=go) returns production
# to T exactly, keeps the replaced state, and its report counts the
# discarded writes; `drplay salvage` returns exactly those rows, and its
# salvage.sql puts them back. Then the same procedure inlined by hand (the shipped
# YAML with the bindings pasted in) lints, plans and runs like the import.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/pg.sh
. "$T_LIB/pg.sh"
require_drplay

README=$ROOT/README.md
W=$T_TMP/qs
mkdir -p "$W/bin" "$W/home"
ln -s "$DRPLAY" "$W/bin/drplay"

# ---- the README's parts ----
block() { # NAME -> the code block after <!-- quickstart: NAME -->
    awk -v want="<!-- quickstart: $1 -->" '
        $0 == want { found = 1; next }
        found && /^```/ && !on { on = 1; next }
        on && /^```$/ { exit }
        on { print }' "$README"
}
for b in env setup "file nightly_dump.yaml" "file database_restore.yaml" first rehearse restore salvage; do
    [[ -n $(block "$b") ]] || die_setup "README has no quickstart block '$b'"
done

# ---- the server, as the setup block makes it ----
SETUP=$(block setup)
for want in "archive_mode = on" "wal_level = replica" "pg_basebackup" "createdb -U postgres scratch"; do
    t_contains "readme setup: $want (what the harness does too)" "$SETUP" "$want"
done
pg_start PROD --archive
pg_createdb PROD shop
pg_createdb PROD scratch
mkdir -p "$PROD_DIR/base_backups" "$W/dumps" "$W/www" && chown postgres: "$PROD_DIR/base_backups"
pg_as_postgres "$PGBIN/pg_basebackup" -D "$PROD_DIR/base_backups/first" -X stream -c fast \
    -h "$PROD_HOST" -p "$PROD_PORT" -U postgres >/dev/null 2>&1 || die_setup "pg_basebackup failed"
pg_sql PROD shop "
    create table customers (id serial primary key, name text not null);
    create table orders (id serial primary key, customer_id int not null references customers,
                         total numeric(10,2) not null, created_at timestamptz not null default clock_timestamp());
    create table prices (sku text primary key, price numeric(10,2) not null);
    insert into customers (name) select 'customer ' || i from generate_series(1, 300) i;
    insert into orders (customer_id, total) select 1 + i % 300, i from generate_series(1, 1000) i;
    insert into prices select 'sku-' || i, 10 + i from generate_series(1, 40) i;" >/dev/null ||
    die_setup "cannot load the shop"

# ---- the env block, with this server's values ----
declare -A VAL=(
    [PROD_DATABASE_URL]="postgresql://postgres@127.0.0.1:$PROD_PORT/shop"
    [SCRATCH_DATABASE_URL]="postgresql://postgres@127.0.0.1:$PROD_PORT/scratch"
    [PGDATA]="$PROD_DATA" [WAL_ARCHIVE]="$PROD_ARCHIVE" [BASE_BACKUPS]="$PROD_DIR/base_backups"
    [BACKUP_DIR]="$W/dumps" [FLAG_FILE]="$W/www/maintenance.json"
    [DRPLAY_DISASTER_TOKEN_FILE]="$W/home/.drplay-token"
)
ENV_BLOCK=$(block env)
names=$(sed -nE 's/^export ([A-Z_]+)=.*/\1/p' <<<"$ENV_BLOCK" | sort | tr '\n' ' ')
t_eq "readme env: exports exactly the names this test provides" \
    "$(printf '%s\n' "${!VAL[@]}" | sort | tr '\n' ' ')" "$names"
for n in "${!VAL[@]}"; do export "$n=${VAL[$n]}"; done
export HOME=$W/home PATH="$W/bin:$PATH"

qs() { # NAME [sed-expression]: run a README block in $W
    local code
    code=$(block "$1")
    [[ -n ${2:-} ]] && code=$(sed -E "$2" <<<"$code")
    (cd "$W" && bash -euo pipefail -c "$code" 2>&1)
}
for f in nightly_dump.yaml database_restore.yaml; do
    block "file $f" >"$W/$f"
done
J=$W/journal
mkdir -p "$J"
export DRPLAY_JOURNAL_DIR=$J
newest() { ls -t "$J"/*.jsonl | head -1; }
jout() { # STEP FIELD: an output in the newest journal (compact JSON; strings unquoted)
    jq -c --arg s "$1" --arg k "$2" 'select(.event=="step_end" and .step==$s) | .outputs[$k] // empty' "$(newest)" |
        sed 's/^"\(.*\)"$/\1/'
}
md() { (cd "$W" && cat "$(jout report markdown)"); }
joutcome() { jq -r --arg s "$1" 'select(.event=="step_end" and .step==$s) | .outcome' "$(newest)"; }
shop_sum() { pg_sql PROD shop "select (select count(*) || ':' || md5(string_agg(id || ',' || customer_id || ',' || total, ';' order by id)) from orders) || '/' ||
    (select count(*) from customers) || '/' || (select md5(string_agg(sku || price, ',' order by sku)) from prices)"; }

# ---- zero to a rehearsed restore ----
t_exit "quickstart: lint, the first dump, both rehearsals pass" 0 qs first
t_contains "quickstart: the dump went into the directory store" "$(ls "$W/dumps")" ".dump.manifest.json"
t_check "quickstart: the disaster token file is private" test "$(stat -c %a "$W/home/.drplay-token")" = 600
t_eq "quickstart: nothing left on the scratch database's server" \
    "postgres,scratch,shop,template0,template1" "$(pg_sql PROD postgres "select string_agg(datname, ',' order by datname) from pg_database")"

# ---- the incident ----
sleep 1.1
T=$(date -u +%FT%TZ)
sleep 1.1
GOOD=$(pg_sql PROD shop "select count(*) || ':' || md5(string_agg(id || ',' || customer_id || ',' || total, ';' order by id)) from orders")
DELETED=$(pg_sql PROD shop "with d as (delete from orders where customer_id % 3 = 0 returning 1) select count(*) from d")
pg_sql PROD shop "insert into customers (name) select 'new customer ' || i from generate_series(1, 5) i;
    insert into orders (customer_id, total) select 301, i from generate_series(1, 7) i;
    update prices set price = price + 1 where sku in ('sku-1', 'sku-2');" >/dev/null
sleep 1.1
AFTER=$(shop_sum)

# ---- triage: the rehearsal in validation mode ----
t_exit "rehearsal: validation mode with restore_to passes" 0 qs rehearse "s/^T=.*/T=$T/"
REH=$T_OUT
t_eq "rehearsal: the branch is healthy (schema, sequences)" ok "$(joutcome verify_copy)"
t_eq "rehearsal: brings back exactly the deleted orders" "$DELETED" "$(jout preview tables | jq '.[] | select(.table == "public.orders") | .brought_back')"
t_eq "rehearsal: discards the 5 new customers written after T" 5 "$(jout preview tables | jq '.[] | select(.table == "public.customers") | .discarded')"
t_eq "rehearsal: discards the 7 orders written after T" 7 "$(jout preview tables | jq '.[] | select(.table == "public.orders") | .discarded')"
t_eq "rehearsal: changes the 2 repriced rows back" 2 "$(jout preview tables | jq '.[] | select(.table == "public.prices") | .changed')"
t_eq "rehearsal: the counts are exact, by key" true "$(jout preview exact)"
t_contains "rehearsal: the transcript says what the restore brings back" "$REH" "brings back $DELETED rows of public.orders"
t_contains "rehearsal: ... and what it discards" "$REH" "5 rows of public.customers"
t_contains "rehearsal: the report carries the preview" "$(md)" "brings back $DELETED rows"
t_eq "rehearsal: production untouched" "$AFTER" "$(shop_sum)"
t_eq "rehearsal: the branch was discarded" "$(jout branch name)" "$(jout discard_branch discarded)"

# ---- the restore declined: the question carries the preview, nothing changes ----
# the restore block without --approve=go: no terminal, so the approval fails closed
t_exit "declined: disaster mode without the approval exits 4 (nothing changed)" 4 env T="$T" bash -c \
    "$(declare -f block qs); README='$README' W='$W' qs restore 's/ --approve=go//'"
DECLINED=$T_OUT
t_contains "declined: the approval's question states what the restore brings back" "$DECLINED" \
    "(the question: Pre-flight passed and the expected state was previewed against production: this restore brings back $DELETED rows of public.orders"
t_contains "declined: ... and what it discards" "$DECLINED" "5 rows of public.customers"
t_eq "declined: the preview ran before the question" ok "$(joutcome preview)"
t_eq "declined: the branch it previewed was discarded" "$(jout branch name)" "$(jout discard_branch discarded)"
t_check "declined: the branches' directory is there" test -d "$PROD_DIR/drplay-branches"
t_eq "declined: no branch left on disk" "" "$(ls -A "$PROD_DIR/drplay-branches" 2>&1)"
t_eq "declined: the journal says nothing changed" false \
    "$(jq -r 'select(.event=="run_end") | .state_changed' "$(newest)")"
t_contains "declined: the summary says the throwaway copy was removed" "$DECLINED" "the throwaway copies it made were removed again (no outage)"
t_eq "declined: maintenance never went on" "" "$(joutcome maint_on)"
t_eq "declined: production untouched" "$AFTER" "$(shop_sum)"

# ---- the real restore ----
# the rehearsal's T, as in the reader's shell
t_exit "restore: disaster mode with --approve=go passes" 0 env T="$T" bash -c "$(declare -f block qs); README='$README' W='$W' qs restore"
RUN_OUT=$T_OUT
t_eq "restore: the orders are back exactly as at T" "$GOOD" \
    "$(pg_sql PROD shop "select count(*) || ':' || md5(string_agg(id || ',' || customer_id || ',' || total, ';' order by id)) from orders")"
t_eq "restore: the writes after T are gone from production" 300 "$(pg_sql PROD shop "select count(*) from customers")"
t_eq "restore: verified against the branch at T" '["counts","schema","sequences","checksums"]' "$(jout verify checks)"
PRESERVED=$(jout recover preserved)
t_check "restore: the replaced state is kept" test -n "$PRESERVED"
PRESERVED=${PRESERVED:-no preserved state}
t_eq "restore: maintenance is off again" false "$(jq -r .maintenanceMode "$W/www/maintenance.json")"
t_contains "restore: drplay status names the preserved state" "$RUN_OUT" "$PRESERVED"
MD=$(md)
t_contains "restore: the report names the preserved state" "$MD" "$PRESERVED"
t_contains "restore: the report says what the restore discarded before the outage" "$MD" "5 rows of public.customers"

t_contains "restore: the report states RPO in rows, per table, and where they are kept" "$MD" \
    "| RPO (rows) | 12 rows discarded (public.customers 5, public.orders 7), 2 changed back; kept in \`$PRESERVED\`"
t_eq "restore: the JSON report has the same counts" "12 2" \
    "$(cd "$W" && jq -r '.summary.discarded | "\(.discarded) \(.changed)"' "$(jout report markdown | sed 's/\.md$/.json/')")"

# ---- the writes after T, salvaged from the preserved state ----
t_exit "salvage: the README's cleanup and salvage run (the state named by the report)" 0 \
    qs salvage "s/--state [^ ]+/--state $PRESERVED/"
t_contains "salvage: cleanup lists the preserved state" "$T_OUT" "$PRESERVED"
SD=$W/salvage-$PRESERVED
t_check "salvage: salvage.sql was written" test -s "$SD/salvage.sql"
csv_ids() { grep '^discarded,' "$SD/public.$1.csv" | cut -d, -f2 | sort -n | tr '\n' ' '; }
t_eq "salvage: exactly the 5 customers written after T" "301 302 303 304 305 " "$(csv_ids customers)"
t_eq "salvage: exactly the 7 orders written after T" \
    "$(pg_sql PROD shop "select string_agg(i::text, ' ') || ' ' from generate_series(1001, 1007) i")" "$(csv_ids orders)"
t_eq "salvage: the 2 repriced rows, with their new prices" "changed,sku-1,12.00 changed,sku-2,13.00 " \
    "$(grep -v '^drplay_change' "$SD/public.prices.csv" | sort | tr '\n' ' ')"
t_eq "salvage: the preserved state was not altered and production is still as restored" "$GOOD" \
    "$(pg_sql PROD shop "select count(*) || ':' || md5(string_agg(id || ',' || customer_id || ',' || total, ';' order by id)) from orders")"
SQLF=$W/apply.sql
cp "$SD/salvage.sql" "$SQLF"
t_exit "salvage: salvage.sql re-applies to production" 0 pg_psql PROD -d shop -f "$SQLF"
t_eq "salvage: ... and production has both: the deleted orders back and the writes after T" \
    "1007 305 12.00" "$(pg_sql PROD shop "select (select count(*) from orders) || ' ' || (select count(*) from customers) || ' ' || (select price from prices where sku = 'sku-1')")"
t_eq "salvage: ... the orders the bad delete removed are still there" "$DELETED" \
    "$(pg_sql PROD shop "select count(*) from orders where customer_id % 3 = 0 and id <= 1000")"

# ---- the imported procedure behaves like the same procedure inlined ----
"$DRPLAY" procedures database_restore >"$W/procedure.yaml"
awk -v binds="$W/database_restore.yaml" '
    BEGIN { while ((getline l < binds) > 0) { if (l ~ /^resources:/) on = 1; else if (on) b = b l "\n" } }
    /^  [a-z_]+: \{bind: / { if (!done) printf "%s", b; done = 1; next }
    { print }' "$W/procedure.yaml" >"$W/inlined.yaml"
t_exit "inlined: the procedure with the bindings pasted in lints" 0 "$DRPLAY" lint "$W/inlined.yaml" "$W/database_restore.yaml"
t_eq "inlined: ... clean, like the import" "" "$T_OUT"
plan_steps() { "$DRPLAY" plan "$1" --param restore_to="$T" 2>&1 | grep -E '^\[[0-9]+/' ; }
t_eq "inlined: plans the same steps, the same way" "$(plan_steps "$W/inlined.yaml")" "$(plan_steps "$W/database_restore.yaml")"
outcomes() { jq -r 'select(.event=="step_end") | .step + "=" + .outcome' "$(newest)" | tr '\n' ' '; }
t_exit "inlined: a validation run passes" 0 "$DRPLAY" run "$W/inlined.yaml"
INL=$(outcomes)
t_exit "import: the same validation run passes" 0 "$DRPLAY" run "$W/database_restore.yaml"
t_eq "inlined and imported runs: every step with the same outcome" "$INL" "$(outcomes)"

# ---- procedures on the command line ----
t_exit "procedures: lists the shipped ones" 0 "$DRPLAY" procedures
t_contains "procedures: ... with their major versions" "$T_OUT" "drplay:nightly_dump@1"
t_exit "procedures: another major is an error naming the one shipped" 2 "$DRPLAY" procedures database_restore@9
t_contains "procedures: ... naming it" "$T_OUT" "drplay:database_restore@1"

# ---- SARIF: a finding inside a procedure annotates the importing line ----
# (a wrong kind is one finding at the binding; scratch on the live server
# is a warning inside the procedure)
"$DRPLAY" lint --format=sarif "$ROOT/tests/cases/import/json.yaml" >"$W/wk.sarif"
t_check "sarif: an import's findings validate against the official SARIF 2.1.0 schema" \
    node "$T_NODE_DIR/validate-json.js" "$ROOT/tests/schemas/sarif-schema-2.1.0.json" "$W/wk.sarif"
t_eq "sarif: ... one inside the procedure is annotated on the import line, the procedure's place related" \
    "8 procedures/database_restore%401.yaml" \
    "$(jq -r '.runs[0].results[] | select(.relatedLocations) | "\(.locations[0].physicalLocation.region.startLine) \(.relatedLocations[0].physicalLocation.artifactLocation.uri)"' "$W/wk.sarif" | head -1)"
