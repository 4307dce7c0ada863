#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# tests/integration/pitr_pgbackrest.sh - the pgbackrest pitr driver against a
# real PostgreSQL 15 archiving with pgBackRest (Debian's pgbackrest, a posix
# repository): restore to a time between two writes gives exactly the rows
# before it; the replaced state is kept and restoring it back gives the same
# content checksum (psql md5 of an ordered aggregate); pitr.snapshot is a
# pgBackRest backup annotated with its name and a restore from it returns to
# it; a branch at a time has the right rows and the live database is
# untouched; a missing stanza is refused before anything changes.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/pg.sh
. "$T_LIB/pg.sh"
require_drplay

PB=$ROOT/tests/integration/playbooks/pitr
J=$T_TMP/journal
pg_start PG --pgbackrest demo
export DB_DSN=$PG_DSN PG_DATA DRPLAY_TOKEN=pitr-token PGBR_STANZA=$PG_PGBR_STANZA PGBR_CONF=$PG_PGBR_CONF

rows() { pg_sql PG postgres "select string_agg(id::text, ',' order by id) from t"; }
checksum() { pg_sql PG postgres "select md5(string_agg(id || ':' || at::text, ',' order by id)) from t"; }
run_pb() { "$DRPLAY" run "$PB/$1" --journal-dir "$J" "${@:2}"; }
journal_out() {
    jq -r --arg s "$1" --arg k "$2" 'select(.event=="step_end" and .step==$s) | .outputs[$k] // empty' \
        "$(ls -t "$J"/*.jsonl | head -1)"
}

pg_sql PG postgres "create table t (id int primary key, at timestamptz not null default clock_timestamp())" >/dev/null ||
    die_setup "cannot create table t"
pg_sql PG postgres "insert into t (id) values (1)" >/dev/null
pg_pgbackrest PG backup --type=full >/dev/null 2>&1 || die_setup "pgbackrest backup failed"
sleep 1.1
pg_sql PG postgres "insert into t (id) values (2)" >/dev/null
sleep 1.1
T1=$(date -u +%FT%TZ)
sleep 1.1
pg_sql PG postgres "insert into t (id) values (3)" >/dev/null
t_eq "setup: three rows" "1,2,3" "$(rows)"
BEFORE=$(checksum)

# ---- a missing stanza is refused before anything changes ----
PGBR_STANZA=nosuchstanza t_exit "stanza missing: the window gate fails (exit 4)" 4 run_pb pgbr_restore.yaml --param to="$T1"
t_contains "stanza missing: ... naming the stanza and pgBackRest's reason" "$T_OUT" "stanza 'nosuchstanza'"
t_contains "stanza missing: ... missing stanza path" "$T_OUT" "missing stanza path"
PGBR_STANZA=nosuchstanza t_exit "stanza missing: a restore without the gate is refused too" 1 run_pb pgbr_restore.yaml \
    --mode=disaster --authorize=pitr-token --param from=whatever
t_contains "stanza missing: ... saying nothing was changed" "$T_OUT" "nothing was changed"
t_eq "stanza missing: the database is untouched" "1,2,3" "$(rows)"

# ---- restore to T1 ----
t_exit "restore: to a time between two writes succeeds" 0 run_pb pgbr_restore.yaml --mode=disaster \
    --authorize=pitr-token --param to="$T1"
RESTORE_OUT=$T_OUT
t_eq "restore: exactly the rows written before the target" "1,2" "$(rows)"
PRESERVED=$(journal_out restore preserved)
SAFETY=$(journal_out safety name)
t_check "restore: the replaced state is kept ($PRESERVED)" test -d "$PG_DIR/drplay-preserved/$PRESERVED"
t_contains "restore: the summary lists the snapshot and the preserved state" "$RESTORE_OUT" "$SAFETY, $PRESERVED"
info=$(pg_pgbackrest PG --output=json info)
t_eq "snapshot: a pgBackRest backup annotated with its name" "$SAFETY" \
    "$(jq -r --arg n "$SAFETY" '.[0].backup[] | select(.annotation["drplay-name"]==$n) | .annotation["drplay-name"]' <<<"$info")"
t_eq "restore: the server is out of recovery" f "$(pg_sql PG postgres 'select pg_is_in_recovery()')"
t_check "restore: the restored database takes writes" pg_sql PG postgres "insert into t (id) values (10)"
pg_sql PG postgres "delete from t where id = 10" >/dev/null

# ---- undo the undo ----
t_exit "undo: restore from the preserved state succeeds" 0 run_pb pgbr_restore.yaml --mode=disaster \
    --authorize=pitr-token --param from="$PRESERVED"
t_eq "undo: the rows are back" "1,2,3" "$(rows)"
t_eq "undo: the content checksum matches" "$BEFORE" "$(checksum)"

# ---- restore from the annotated snapshot (rows 1,2,3 when it was taken) ----
pg_sql PG postgres "insert into t (id) values (4)" >/dev/null
t_exit "snapshot: restore from the annotated backup succeeds" 0 run_pb pgbr_restore.yaml --mode=disaster \
    --authorize=pitr-token --param from="$SAFETY"
t_eq "snapshot: the rows are those of the snapshot" "1,2,3" "$(rows)"

# ---- a branch at T1 ----
live_pid=$(head -1 "$PG_DATA/postmaster.pid")
t_exit "branch: a validation run with a branch at T1 succeeds" 0 run_pb pgbr_branch.yaml --param at="$T1"
t_eq "branch: the branch had exactly the rows before T1" "1,2" "$(journal_out rows stdout | tr -d '\n')"
t_eq "branch: the live database is untouched" "1,2,3" "$(rows)"
t_eq "branch: the live server was not restarted" "$live_pid" "$(head -1 "$PG_DATA/postmaster.pid")"
t_check "branch: discarded (directory gone)" test ! -e "$PG_DIR/drplay-branches/pgbr-copy"

# ---- cleanup sees the annotated snapshot and the preserved states ----
out=$("$DRPLAY" cleanup "$PB/pgbr_restore.yaml" --resource history --journal-dir "$J" 2>&1)
t_contains "cleanup: lists the annotated snapshot" "$out" "$SAFETY"
t_contains "cleanup: lists the preserved state" "$out" "$PRESERVED"
