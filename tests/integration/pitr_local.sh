#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# tests/integration/pitr_local.sh - the local pitr driver against a real
# PostgreSQL 15 with archive_mode = on (archive_command into a directory) and
# a base backup taken by pg_basebackup:
#   restore to a time between two known writes gives exactly the rows before
#   it; the replaced state is kept and restoring it back (undo the undo)
#   gives the same content checksum (md5 of an ordered aggregate, computed
#   with psql); a branch at a time has the right rows and the live database
#   is untouched; pitr.discard refuses a snapshot; a time outside the window
#   fails the preflight gate (exit 4); drplay status and drplay cleanup see
#   the preserved states, and cleanup deletes one only on exact approval.
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

rows() { pg_sql PG postgres "select string_agg(id::text, ',' order by id) from t"; }
checksum() { pg_sql PG postgres "select md5(string_agg(id || ':' || at::text, ',' order by id)) from t"; }
run_pb() { "$DRPLAY" run "$PB/$1" --journal-dir "$J" "${@:2}"; }
journal_out() { # STEP FIELD: an output of a step in the newest journal
    local f
    f=$(ls -t "$J"/*.jsonl | head -1)
    jq -r --arg s "$1" --arg k "$2" 'select(.event=="step_end" and .step==$s) | .outputs[$k] // empty' "$f"
}

pg_sql PG postgres "create table t (id int primary key, at timestamptz not null default clock_timestamp())" >/dev/null ||
    die_setup "cannot create table t"
pg_sql PG postgres "insert into t (id) values (1)" >/dev/null
pg_as_postgres "$PGBIN/pg_basebackup" -D "$BASE_BACKUPS/nightly" -X stream -c fast -h "$PG_HOST" -p "$PG_PORT" \
    -U postgres >/dev/null 2>&1 || die_setup "pg_basebackup failed"
pg_sql PG postgres "insert into t (id) values (2)" >/dev/null
sleep 1.1
T1=$(date -u +%FT%TZ) # after row 2, before row 3 (second precision, both > 1 s away)
sleep 1.1
pg_sql PG postgres "insert into t (id) values (3)" >/dev/null
t_eq "setup: three rows" "1,2,3" "$(rows)"
BEFORE=$(checksum)

# ---- a time outside the window fails the preflight gate: exit 4 ----
t_exit "window: a time before the base backup fails the gate (exit 4)" 4 run_pb local_window.yaml --param to=2001-01-01T00:00:00Z
t_contains "window: ... saying it is before the base backup" "$T_OUT" "before the base backup"
t_contains "window: ... and that nothing changed" "$T_OUT" "nothing changed"
t_exit "window: a time in the future fails the gate (exit 4)" 4 run_pb local_window.yaml --param to=2099-01-01T00:00:00Z
t_contains "window: ... saying it is after the latest point" "$T_OUT" "after the latest point"
t_eq "window: the database is untouched" "1,2,3" "$(rows)"

# ---- restore to T1: exactly the rows before it ----
t_exit "restore: to a time between two writes succeeds" 0 run_pb local_restore.yaml --mode=disaster \
    --authorize=pitr-token --param to="$T1"
RESTORE_OUT=$T_OUT
t_eq "restore: exactly the rows written before the target" "1,2" "$(rows)"
PRESERVED=$(journal_out restore preserved)
SAFETY=$(journal_out safety name)
t_check "restore: the replaced state has a name ($PRESERVED)" test -n "$PRESERVED"
t_check "restore: ... kept as a directory" test -d "$PG_DIR/drplay-preserved/$PRESERVED"
t_contains "restore: the run summary lists the preserved states" "$RESTORE_OUT" "preserved states (never deleted by a run): $SAFETY, $PRESERVED"
t_check "restore: restore_time output is a duration" test -n "$(journal_out restore restore_time)"
recovered=$(journal_out restore recovered_to)
t_check "restore: recovered_to ($recovered) is not after the target ($T1)" test "$(date -ud "$recovered" +%s)" -le "$(date -ud "$T1" +%s)"
t_eq "restore: the server is out of recovery" f "$(pg_sql PG postgres 'select pg_is_in_recovery()')"
st=$("$DRPLAY" status --journal-dir "$J")
t_contains "status: lists the preserved state" "$st" "$PRESERVED"
t_contains "status: the database is running again" "$st" "resource db: running"
t_check "restore: the journal has database_stopped then database_started" \
    bash -c "jq -r 'select(.event|test(\"database_\")) | .event' $(ls -t "$J"/*.jsonl | head -1) | tr '\n' ' ' | grep -q 'database_stopped database_started'"
conf=$(cat "$PG_DATA/postgresql.auto.conf")
t_not_contains "restore: recovery settings removed after promotion" "$conf" "recovery_target_time"
t_check "restore: no recovery.signal left" test ! -e "$PG_DATA/recovery.signal"

# writes after the restore work (a new timeline)
t_check "restore: the restored database takes writes" pg_sql PG postgres "insert into t (id) values (10)"
pg_sql PG postgres "delete from t where id = 10" >/dev/null

# ---- undo the undo: return to the preserved state ----
t_exit "undo: restore from the preserved state succeeds" 0 run_pb local_restore.yaml --mode=disaster \
    --authorize=pitr-token --param from="$PRESERVED"
t_eq "undo: the rows are back" "1,2,3" "$(rows)"
t_eq "undo: the content checksum matches the state before the first restore" "$BEFORE" "$(checksum)"
UNDO_PRESERVED=$(journal_out undo preserved)
t_check "undo: the state it replaced is kept too ($UNDO_PRESERVED)" test -d "$PG_DIR/drplay-preserved/$UNDO_PRESERVED"
t_check "undo: the preserved state it returned to is still kept" test -d "$PG_DIR/drplay-preserved/$PRESERVED"

# ---- a branch at T1: the right rows, the live database untouched ----
live_pid=$(head -1 "$PG_DATA/postmaster.pid")
t_exit "branch: a validation run with a branch at T1 succeeds" 0 run_pb local_branch.yaml --param at="$T1"
t_eq "branch: the branch had exactly the rows before T1" "1,2" "$(journal_out rows stdout | tr -d '\n')"
t_eq "branch: the live database is untouched" "1,2,3" "$(rows)"
t_eq "branch: the live server was not restarted" "$live_pid" "$(head -1 "$PG_DATA/postmaster.pid")"
t_check "branch: discarded at the end (directory gone)" test ! -e "$PG_DIR/drplay-branches/validation-copy"
t_contains "branch: the dsn was masked nowhere it should not be, and named a port" "$(journal_out branch dsn)" "port="
archived_hist=$(ls "$PG_ARCHIVE" | grep -c history)
t_eq "branch: it archived nothing into the live archive (history files unchanged)" "$archived_hist" "$(ls "$PG_ARCHIVE" | grep -c history)"

# ---- pitr.discard refuses a snapshot ----
t_exit "discard: refuses a snapshot (the step fails)" 1 run_pb local_discard_snapshot.yaml
t_contains "discard: ... saying why" "$T_OUT" "refusing to discard 'keep-me'"
t_check "discard: the snapshot is still there" test -d "$BASE_BACKUPS/keep-me"

# ---- drplay cleanup: lists, deletes only on exact approval ----
out=$("$DRPLAY" cleanup "$PB/local_restore.yaml" --resource history --journal-dir "$J" 2>&1)
t_contains "cleanup: lists the preserved state" "$out" "$PRESERVED"
t_contains "cleanup: lists the snapshot" "$out" "keep-me"
t_contains "cleanup: lists the hand-made base backup" "$out" "nightly"
t_exit "cleanup: a name that is not exact deletes nothing" 1 "$DRPLAY" cleanup "$PB/local_restore.yaml" \
    --resource history --approve="${PRESERVED%?}" --journal-dir "$J"
t_contains "cleanup: ... and says so" "$T_OUT" "nothing was deleted"
t_check "cleanup: ... the state is still there" test -d "$PG_DIR/drplay-preserved/$PRESERVED"
t_exit "cleanup: the exact name deletes it" 0 "$DRPLAY" cleanup "$PB/local_restore.yaml" --resource history \
    --approve="$PRESERVED" --journal-dir "$J"
t_check "cleanup: ... it is gone" test ! -e "$PG_DIR/drplay-preserved/$PRESERVED"
t_check "cleanup: ... and the other preserved state is not" test -d "$PG_DIR/drplay-preserved/$UNDO_PRESERVED"
t_eq "cleanup: the live database is untouched" "1,2,3" "$(rows)"
t_check "cleanup: the deletion is journaled" bash -c "grep -h '\"deleted\":\"$PRESERVED\"' $J/*.jsonl"
# --json: one drplay.command/1 document, listing and deleting
validate_cmd() { node "$T_NODE_DIR/validate-json.js" "$ROOT/grammar/drplay.command.schema.json" "$1"; }
"$DRPLAY" cleanup "$PB/local_restore.yaml" --resource history --journal-dir "$J" --json >"$T_TMP/cleanup.json"
t_eq "cleanup --json: exit 0" 0 $?
t_check "cleanup --json: valid against drplay.command.schema.json" validate_cmd "$T_TMP/cleanup.json"
t_eq "cleanup --json: lists what is kept" "true true" \
    "$(jq -r --arg u "$UNDO_PRESERVED" '[.outputs.preserved[].name] | [(index($u) != null), (index("keep-me") != null)] | join(" ")' "$T_TMP/cleanup.json")"
"$DRPLAY" cleanup "$PB/local_restore.yaml" --resource history --approve="$UNDO_PRESERVED" --journal-dir "$J" --json >"$T_TMP/cleanup.json"
t_eq "cleanup --json --approve: exit 0" 0 $?
t_check "cleanup --json --approve: valid" validate_cmd "$T_TMP/cleanup.json"
t_eq "cleanup --json --approve: deleted, journaled" "$UNDO_PRESERVED true" \
    "$(jq -r '.outputs.deleted + " " + ((.run | type) == "string" | tostring)' "$T_TMP/cleanup.json")"
t_check "cleanup --json --approve: ... it is gone" test ! -e "$PG_DIR/drplay-preserved/$UNDO_PRESERVED"
