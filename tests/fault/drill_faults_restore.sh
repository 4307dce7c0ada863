#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# tests/fault/drill_faults_restore.sh - faults AFTER the outage began, each
# injected into a real run of a shipped playbook against the sandbox
# (tests/lib/sandbox.sh). The run stops with maintenance still ON, the journal
# says where and why, no secret appears anywhere, and the safety snapshot the
# run took brings production back to its BASELINE (counts, schema and, for
# the live drill, content checksums) with every write the application had
# acknowledged:
#   - the workdir too small for the parallel restore's local copy, and one
#     that fills up while the copy is downloaded;
#   - a verification mismatch (a writer bypassing the switch and the freeze);
#   - PostgreSQL killed while pg_restore runs;
#   - SIGINT while pg_restore runs, SIGTERM while pitr.restore recovers
#     (exit 130, no child process of drplay left over).
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/drillfault.sh
. "$T_LIB/drillfault.sh"
require_drplay

# a sample database ten times the pre-flight suite's: its restore lasts
# seconds, so a fault aimed at the running pg_restore lands there even on a
# loaded machine (the pg_restore found is then held with SIGSTOP)
df_start --scale 0.2
LIVE=$ROOT/playbooks/live_drill.yaml
DR=$ROOT/playbooks/database_restore.yaml

descendants() { # PID: every process below PID, "pid comm" lines
    local c
    for c in $(pgrep -P "$1"); do
        echo "$c $(cat "/proc/$c/comm" 2>/dev/null)"
        descendants "$c"
    done
}
alive() { # PID: running (an ended process its parent has not reaped yet is state Z)
    local st
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) && [[ -n $st && $st != Z ]]
}
journal_has() { grep -qs "$2" "$(df_journal "$1")"; } # NAME REGEX
# PostgreSQL's client tools as dump.restore runs them (DRPLAY_PG_BINDIR),
# with pg_restore wrapped: a restore (not a --list) starts the real
# pg_restore and leaves a marker, so a fault can be aimed at the moment the
# real restore runs (it lasts seconds at this size) without scanning the
# process tree on a loaded machine
WRAP=$T_TMP/pgwrap
mkdir -p "$WRAP"
for tool in pg_dump psql; do ln -s "$PGBIN/$tool" "$WRAP/$tool"; done
cat >"$WRAP/pg_restore" <<SH
#!/bin/sh
case " \$* " in *" --list "*|*" -l "*) exec "$PGBIN/pg_restore" "\$@" ;; esac
"$PGBIN/pg_restore" "\$@" &
echo \$! >"$WRAP/restoring"
wait \$!
SH
chmod +x "$WRAP/pg_restore"
restore_started() { [[ -s $WRAP/restoring ]]; }
postmasters() { # data directories of the servers running under the sandbox's PROD dir
    ps -eo args= | sed -n "s|^.*postgres -D \(${PROD_DIR}[^ ]*\).*|\1|p" | sort
}
maint_off() { # what a person does once production is back: the one-command switch
    "$DRPLAY" maintenance off "$LIVE" --switch site --mode=disaster --authorize="$DF_AUTH" \
        --journal-dir "$T_TMP/maint-journal" >>"$T_TMP/maint.out" 2>&1
}

# after_stop LABEL NAME ACKED: maintenance stays on, the safety snapshot
# brings back the baseline and every acknowledged write, then maintenance
# goes off again for the next fault
after_stop() {
    local label=$1 name=$2 acked=$3 snap
    t_eq "$label: maintenance stays ON" true "$(sandbox_flag)"
    t_eq "$label: run_end says maintenance ON" ON "$(df_end "$name" maintenance)"
    snap=$(df_out "$name" safety name)
    if [[ -z $snap ]]; then
        t_fail "$label: the safety snapshot" "the journal names no safety snapshot"
    else
        t_contains "$label: run_end lists the safety snapshot as preserved" "$(df_end "$name" preserved)" "$snap"
        [[ -n $(postmasters) ]] || pg_restart PROD
        df_undo "undo_$name" "$snap" && rc=0 || rc=$?
        t_eq "$label: the safety snapshot restores (undo exit 0)" 0 "$rc"
        ((rc == 0)) || _t_show_output "undo of $name" "$(cat "$T_TMP/undo_$name/out")"
        df_same_as_baseline "$label" "$name" "undo_$name"
        df_no_secrets "$label (undo)" "undo_$name"
    fi
    t_eq "$label: every write acknowledged before the run is there" 0 "$(df_missing_acked "$acked")"
    df_no_secrets "$label" "$name"
    t_check "$label: (tidy) maintenance off" maint_off
}

# ---- 12. the workdir too small for the parallel restore's local copy ----
mkdir -p "$T_TMP/small"
mount -t tmpfs -o size=256k drplay-small "$T_TMP/small" || die_setup "cannot mount a small tmpfs"
on_exit umount "$T_TMP/small"
acked=$(df_acked)
TMPDIR=$T_TMP/small df_expect "small disk: live_drill fails at the restore (exit 1)" 1 small "$LIVE" "${DF_DISASTER[@]}"
t_eq "small disk: the journal records the failed restore" failed "$(df_outcome small restore_offsite)"
t_check "small disk: the error says how much is free and how much a local copy needs" \
    grep -Eq "workdir '$T_TMP/small/[^']*' has [0-9.]+ [KM]iB free, but restoring '[^']*' with jobs: 2 needs [0-9.]+ [KM]iB there" \
    <<<"$(df_error small restore_offsite)"
t_contains "small disk: ... and what to do" "$(df_error small restore_offsite)" "jobs: 1 (streams without a local copy)"
t_eq "small disk: run_end: exit 1, state changed, stopped at the restore" "1 true restore_offsite" \
    "$(df_end small exit_code) $(df_end small state_changed) $(df_end small stopped_at)"
after_stop "small disk" small "$acked"

# ... and a workdir with room at the check that fills up during the download
# (the store answers the dump's GET 3 s late; meanwhile another writer fills
# the file system)
mkdir -p "$T_TMP/fillfs"
newest=$(s3_ls S3 prod/ | grep '\.dump$' | sort | tail -1)
s3_get S3 "$newest" "$T_TMP/newest.dump" || die_setup "cannot download the newest dump"
fill_mb=$(($(stat -c %s "$T_TMP/newest.dump") / 1048576 + 4)) # room for the copy at the check, not after the other writer
rm -f "$T_TMP/newest.dump"
mount -t tmpfs -o size=${fill_mb}m drplay-fills "$T_TMP/fillfs" || die_setup "cannot mount a small tmpfs"
on_exit umount "$T_TMP/fillfs"
s3_fault_start S3 --delay-ms 3000 --methods GET --match '\.dump$'
in_step() { journal_has "$1" "\"event\":\"step_start\".*\"step\":\"$2\""; } # NAME STEP
acked=$(df_acked)
TMPDIR=$T_TMP/fillfs BACKUP_S3_ENDPOINT=$S3_FAULT_ENDPOINT df_bg fills "$LIVE" "${DF_DISASTER[@]}"
dpid=$DF_PID
t_watch_pid "$dpid"
if wait_until 60 in_step fills restore_offsite; then
    sleep 0.5 # past the free-space check, waiting for the dump's bytes
    dd if=/dev/zero of="$T_TMP/fillfs/other-writer" bs=64k status=none 2>/dev/null
else
    t_fail "disk fills: setup" "the run never reached the restore"
fi
wait "$dpid" && rc=0 || rc=$?
t_unwatch_pid "$dpid"
faultproxy_stop S3_FAULT
t_eq "disk fills: live_drill fails at the restore (exit 1)" 1 "$rc"
t_eq "disk fills: the journal records the failed restore" failed "$(df_outcome fills restore_offsite)"
t_check "disk fills: the error names the local copy, the workdir and the cause" \
    grep -Eq "cannot write the local copy of '[^']*' in workdir '$T_TMP/fillfs/[^']*' after [0-9]+ bytes: No space left on device; the workdir is full: give a larger one, or jobs: 1" \
    <<<"$(df_error fills restore_offsite)"
t_eq "disk fills: the partial copy was removed (only the other writer's file is left)" other-writer \
    "$(find "$T_TMP/fillfs" -type f -printf '%f\n')"
t_eq "disk fills: run_end: exit 1, stopped at the restore" "1 restore_offsite" \
    "$(df_end fills exit_code) $(df_end fills stopped_at)"
after_stop "disk fills" fills "$acked"

# ---- 7. a verification mismatch: a writer that bypasses the maintenance ----
# switch and the database freeze (a cron job connecting straight to the
# database with an explicit READ WRITE transaction: the seed's "anything
# connecting straight to the database") writes while production is being
# restored from the dump; production no longer equals EXPECTED (the same dump
# restored on the scratch server before the outage)
pg_sql PROD shop "create table public.cron_runs (id bigserial primary key, at timestamptz not null default now())" >/dev/null ||
    die_setup "cannot create public.cron_runs"
sandbox_dump
sleep 1.1
to=$(date -u +%FT%TZ)
acked=$(df_acked)
rogue() {
    while :; do
        "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PROD_PORT" -U postgres -d shop \
            -c "begin read write; insert into public.cron_runs default values; commit" >/dev/null 2>&1
        sleep 0.05
    done
}
df_bg mismatch "$DR" "${DF_DISASTER[@]}" --param source=offsite --param restore_to="$to" --approve=go
dpid=$DF_PID
t_watch_pid "$dpid"
wait_until 120 journal_has mismatch '"event":"step_start".*"step":"restore_dump"' ||
    t_fail "mismatch: setup" "the restore never started"
rogue &
rpid=$!
wait "$dpid" && rc=0 || rc=$?
t_unwatch_pid "$dpid"
kill "$rpid" 2>/dev/null
wait "$rpid" 2>/dev/null
T_OUT=$(cat "$T_TMP/mismatch/out")
t_eq "mismatch: database_restore from the dump fails verification (exit 1)" 1 "$rc"
t_eq "mismatch: the restore itself succeeded" ok "$(df_outcome mismatch restore_dump)"
t_eq "mismatch: the journal records the failed verification" failed "$(df_outcome mismatch verify)"
t_contains "mismatch: ... naming the table the writer changed" "$(df_error mismatch verify)" "public.cron_runs"
t_eq "mismatch: unfreeze and maintenance.off were never run" "" "$(df_outcome mismatch unfreeze)$(df_outcome mismatch maint_off)"
md=$(df_out mismatch report markdown)
t_check "mismatch: the report was written" test -f "$md"
t_contains "mismatch: the report names the difference" "$(cat "$md" 2>/dev/null)" "public.cron_runs"
after_stop "mismatch" mismatch "$acked"

# ---- 6. PostgreSQL killed while pg_restore runs ----
sandbox_dump
acked=$(df_acked)
rm -f "$WRAP/restoring"
DRPLAY_PG_BINDIR=$WRAP df_bg killed "$LIVE" "${DF_DISASTER[@]}"
dpid=$DF_PID
t_watch_pid "$dpid"
if wait_until 60 restore_started; then
    pg_kill PROD
    t_pass "killed: PostgreSQL killed while pg_restore ran"
else
    t_fail "killed: setup" "pg_restore never ran"
fi
wait "$dpid" && rc=0 || rc=$?
t_unwatch_pid "$dpid"
T_OUT=$(cat "$T_TMP/killed/out")
t_eq "killed: live_drill fails (exit 1)" 1 "$rc"
t_eq "killed: the journal records the failed restore" failed "$(df_outcome killed restore_offsite)"
t_contains "killed: ... with pg_restore's cause" "$(df_error killed restore_offsite)" "pg_restore"
t_eq "killed: run_end: exit 1, stopped at the restore" "1 restore_offsite" \
    "$(df_end killed exit_code) $(df_end killed stopped_at)"
pg_restart PROD
after_stop "killed" killed "$acked"

# ---- 8. SIGINT while pg_restore runs; SIGTERM while pitr.restore recovers ----
for sig in INT TERM; do
    name=sig$sig
    if [[ $sig == INT ]]; then step=restore_offsite; else step=recover; fi
    acked=$(df_acked)
    rm -f "$WRAP/restoring"
    DRPLAY_PG_BINDIR=$WRAP df_bg "$name" "$LIVE" "${DF_DISASTER[@]}"
    dpid=$DF_PID
    t_watch_pid "$dpid"
    if [[ $sig == INT ]]; then
        wait_until 60 restore_started
    else # production's data directory moved aside, the snapshot being laid down in its place
        wait_until 60 journal_has "$name" '"event":"log".*the replaced state is kept as'
    fi && ok=1 || ok=0
    kids=$(descendants "$dpid")
    kill -s "$sig" "$dpid"
    wait "$dpid" && rc=0 || rc=$?
    t_unwatch_pid "$dpid"
    ((ok)) || t_fail "SIG$sig: setup" "the run never reached the moment to interrupt"
    t_eq "SIG$sig during $step: exit 130" 130 "$rc"
    left=$(for p in $(awk '{print $1}' <<<"$kids"); do alive "$p" && grep "^$p " <<<"$kids"; done)
    t_eq "SIG$sig: no child process of drplay is left" "" "$left"
    t_eq "SIG$sig: the journal says where it stopped" "$step" \
        "$(_df_jq "$name" 'select(.event=="interrupted") | .during_step')"
    t_eq "SIG$sig: run_end: exit 130, interrupted, stopped at $step" "130 true $step" \
        "$(df_end "$name" exit_code) $(df_end "$name" interrupted) $(df_end "$name" stopped_at)"
    t_eq "SIG$sig: the signal is named" "SIG$sig" "$(_df_jq "$name" 'select(.event=="interrupted") | .signal')"
    t_eq "SIG$sig: exactly production's own server runs (no stray postgres)" "$PROD_DATA" "$(postmasters)"
    if [[ $sig == TERM ]]; then # the interrupted recovery is undone, not left half done with the server stopped
        t_contains "SIGTERM: the restore was undone and the database runs" "$(df_error "$name" recover)" \
            "the restore was undone: the database is back as it was before and running again"
        t_eq "SIGTERM: the journal's last database event says started" database_started \
            "$(_df_jq "$name" 'select(.event|test("^database_")) | .event' | tail -1)"
    fi
    after_stop "SIG$sig" "$name" "$acked"
done
