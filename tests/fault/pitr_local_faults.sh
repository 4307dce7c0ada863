#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# tests/fault/pitr_local_faults.sh - bad input and faults for the local pitr
# driver, against a real PostgreSQL with a WAL archive directory. Each is a
# clear step failure, and none leaves the database stopped without saying so
# in the error, the journal and `drplay status`:
#   - the data directory is not owned by the server user (refused before
#     anything changes);
#   - the archive misses a WAL segment (refused before anything changes);
#   - the recovery target is before the base backup (refused, unchanged);
#   - an archived segment is damaged, so recovery fails after the server was
#     stopped: the replaced data directory is put back and started again;
#   - the same, and the original server cannot start again either: the
#     error, the journal and `drplay status` say THE DATABASE IS STOPPED;
#   - drplay is killed (SIGKILL) while the database is stopped: the journal
#     and `drplay status` say so.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/pg.sh
. "$T_LIB/pg.sh"
require_drplay

PB=$ROOT/tests/integration/playbooks/pitr
J=$T_TMP/journal
pg_start PG --archive
export DB_DSN=$PG_DSN PG_DATA PG_ARCHIVE DRPLAY_TOKEN=pitr-token PITR_OS_USER=postgres
export BASE_BACKUPS=$PG_DIR/base_backups
mkdir -p "$BASE_BACKUPS" && chown postgres: "$BASE_BACKUPS" 2>/dev/null

rows() { pg_sql PG postgres "select string_agg(id::text, ',' order by id) from t"; }
restore() { "$DRPLAY" run "$PB/local_restore_nogate.yaml" --mode=disaster --authorize=pitr-token \
    --journal-dir "$J" --param to="$1"; }
newest_journal() { ls -t "$J"/*.jsonl | head -1; }
events() { jq -r 'select(.event|test("^database_")) | .event' "$(newest_journal)" | tr '\n' ' '; }
switch_wal() { pg_sql PG postgres "select pg_walfile_name(pg_switch_wal())"; }

pg_sql PG postgres "create table t (id int primary key, at timestamptz not null default clock_timestamp())" >/dev/null ||
    die_setup "cannot create table t"
pg_sql PG postgres "insert into t (id) values (1)" >/dev/null
sleep 1.1
BEFORE_BACKUP=$(date -u +%FT%TZ) # after row 1, before the base backup starts
sleep 1.1
pg_as_postgres "$PGBIN/pg_basebackup" -D "$BASE_BACKUPS/nightly" -X stream -c fast -h "$PG_HOST" -p "$PG_PORT" \
    -U postgres >/dev/null 2>&1 || die_setup "pg_basebackup failed"
pg_sql PG postgres "insert into t (id) values (2)" >/dev/null
SEG2=$(switch_wal)
pg_sql PG postgres "insert into t (id) values (3)" >/dev/null
SEG3=$(switch_wal)
pg_sql PG postgres "insert into t (id) values (4)" >/dev/null
switch_wal >/dev/null
sleep 1.1
T=$(date -u +%FT%TZ)
sleep 1.1
pg_sql PG postgres "insert into t (id) values (5)" >/dev/null
wait_until 15 test -f "$PG_ARCHIVE/$SEG3" || die_setup "segment $SEG3 was not archived"
# checkpoints recycle archived segments out of pg_wal (a few rounds under load)
for ((i = 0; i < 20; i++)); do
    pg_sql PG postgres "checkpoint" >/dev/null
    [[ -e $PG_DATA/pg_wal/$SEG2 ]] || break
    switch_wal >/dev/null
    sleep 0.2
done
[[ ! -e $PG_DATA/pg_wal/$SEG2 ]] || die_setup "pg_wal still holds $SEG2 after 20 checkpoints"
t_eq "setup: five rows" "1,2,3,4,5" "$(rows)"

# ---- the data directory not owned by the server user ----
# (the resource names a server user that does not own the data directory)
PITR_OS_USER=nobody t_exit "owner: restore refused (step fails)" 1 restore "$T"
t_contains "owner: ... saying who owns it and who should" "$T_OUT" "is owned by 'postgres', not by the server user 'nobody'"
t_contains "owner: ... and that nothing was changed" "$T_OUT" "nothing was changed"
t_not_contains "owner: ... the database was never stopped" "$(events)" "database_stopped"
t_eq "owner: the database still runs with its rows" "1,2,3,4,5" "$(rows)"

# ---- recovery target before the base backup ----
t_exit "before backup: restore refused (step fails)" 1 restore "$BEFORE_BACKUP"
t_contains "before backup: ... saying so" "$T_OUT" "before the base backup"
t_contains "before backup: ... and that nothing was changed" "$T_OUT" "nothing was changed"
t_eq "before backup: the database is untouched" "1,2,3,4,5" "$(rows)"

# ---- the archive misses a segment (and pg_wal no longer has it) ----
mv "$PG_ARCHIVE/$SEG2" "$T_TMP/$SEG2.aside"
t_exit "gap: restore refused (step fails)" 1 restore "$T"
t_contains "gap: ... naming the missing segment" "$T_OUT" "missing WAL segment $SEG2"
t_contains "gap: ... and that nothing was changed" "$T_OUT" "nothing was changed"
t_not_contains "gap: ... the database was never stopped" "$(events)" "database_stopped"
t_eq "gap: the database is untouched" "1,2,3,4,5" "$(rows)"
mv "$T_TMP/$SEG2.aside" "$PG_ARCHIVE/$SEG2"

# ---- a damaged archived segment: recovery fails after the stop; rolled back ----
cp -p "$PG_ARCHIVE/$SEG3" "$T_TMP/$SEG3.good"
truncate -s 8192 "$PG_ARCHIVE/$SEG3"
t_exit "damaged segment: the restore fails (step fails)" 1 restore "$T"
t_contains "damaged segment: ... with the server's reason" "$T_OUT" "$SEG3"
t_contains "damaged segment: ... and says it was undone and runs again" "$T_OUT" "the restore was undone: the database is back as it was before and running again"
t_eq "damaged segment: the database runs with all its rows" "1,2,3,4,5" "$(rows)"
t_eq "damaged segment: journal says stopped, then started" "database_stopped database_started " "$(events)"
st=$("$DRPLAY" status --journal-dir "$J")
t_contains "damaged segment: drplay status says the database runs" "$st" "resource db: running"
t_check "damaged segment: no preserved state left behind under the restore's name" \
    bash -c "! ls '$PG_DIR/drplay-preserved' | grep -v -- '-failed-' | grep -v json | grep -q ."
t_check "damaged segment: the failed attempt is kept aside" bash -c "ls '$PG_DIR/drplay-preserved' | grep -q -- '-failed-'"

# ---- and the original cannot start again: the database is stopped, loudly ----
printf "\nshared_buffers = 'not a size'\n" >>"$PG_DATA/postgresql.conf"
t_exit "stopped: the restore fails" 1 restore "$T"
t_contains "stopped: the error says THE DATABASE IS STOPPED" "$T_OUT" "THE DATABASE IS STOPPED"
t_eq "stopped: the journal ends with database_stopped" "database_stopped" "$(events | awk '{print $NF}')"
st=$("$DRPLAY" status --journal-dir "$J")
t_contains "stopped: drplay status says the database is STOPPED" "$st" "resource db: STOPPED"
t_check "stopped: the data directory is the original (its rows intact)" test -f "$PG_DATA/PG_VERSION"
pg_as_postgres sed -i '$d' "$PG_DATA/postgresql.conf"
cp -p "$T_TMP/$SEG3.good" "$PG_ARCHIVE/$SEG3"
pg_restart PG
t_eq "stopped: after fixing the configuration by hand the rows are intact" "1,2,3,4,5" "$(rows)"

# ---- drplay killed while the database is stopped ----
njournals=$(ls "$J"/*.jsonl | wc -l)
"$DRPLAY" run "$PB/local_restore_nogate.yaml" --mode=disaster --authorize=pitr-token --journal-dir "$J" \
    --param to="$T" >"$T_TMP/killed.out" 2>&1 &
dpid=$!
stopped_seen() {
    (($(ls "$J"/*.jsonl | wc -l) > njournals)) && grep -qs '"event":"database_stopped"' "$(newest_journal)"
}
if wait_until 60 stopped_seen; then
    kill -KILL "$dpid" 2>/dev/null
    wait "$dpid" 2>/dev/null
    st=$("$DRPLAY" status --journal-dir "$J")
    t_contains "killed: drplay status says the run did not finish" "$st" "did not finish"
    t_contains "killed: drplay status says the database is STOPPED" "$st" "resource db: STOPPED"
else
    wait "$dpid"
    t_fail "killed: setup" "the restore never journaled database_stopped"
fi
# tidy: whatever runs on the data directory is stopped by the harness; put
# the original back if the kill left it aside
pg_stop PG
