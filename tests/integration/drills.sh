#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# tests/integration/drills.sh - the three shipped playbooks end to end against
# the sandbox (tests/lib/sandbox.sh: PostgreSQL with WAL archiving and a base
# backup, s3rver behind nginx with the nightly dump, the HTTP flag, the web
# application and the application simulator writing all the time):
#   nightly_dump.yaml; nightly_validation.yaml; database_restore.yaml in VALIDATION with both
#   sources (production untouched, throwaways removed); live_drill.yaml in
#   DISASTER (maintenance on and off, T0, the off-site restore and PITR
#   forward to T0 verified with checksums, every acknowledged write before T0
#   back, the three-state report); database_restore.yaml in DISASTER by PITR
#   to a moment before a "bad deploy" (its rows gone, earlier rows kept), and
#   from the off-site dump (the writes the dump holds are back).
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/sandbox.sh
. "$T_LIB/sandbox.sh"
require_drplay

sandbox_start --scale 0.02
PB=$ROOT/playbooks
R=$T_TMP/reports
J=$T_TMP/journal
jout() { # STEP FIELD: an output of a step in the newest journal
    jq -c --arg s "$1" --arg k "$2" 'select(.event=="step_end" and .step==$s) | .outputs[$k] // empty' \
        "$(ls -t "$J"/*.jsonl | head -1)" | sed 's/^"\(.*\)"$/\1/'
}
joutcome() { jq -r --arg s "$1" 'select(.event=="step_end" and .step==$s) | .outcome' "$(ls -t "$J"/*.jsonl | head -1)"; }
dbs() { pg_sql PROD postgres "select string_agg(datname, ',' order by datname) from pg_database"; }
prod_sum() { pg_sql PROD shop "select count(*) || ':' || md5(string_agg(id::text || total::text, ',' order by id)) from public.orders"; }
run() { "$DRPLAY" run "$PB/$1" --journal-dir "$J" "${SANDBOX_PARAMS[@]}" --param report_dir="$R" "${@:2}"; }

for pb in database_restore nightly_dump nightly_validation live_drill; do
    t_exit "$pb.yaml lints" 0 "$DRPLAY" lint "$PB/$pb.yaml"
    t_eq "$pb.yaml lints clean (no diagnostics)" "" "$T_OUT"
done

# ---- the nightly dump (the shipped procedure, an S3 environment) ----
# dump names have a second's resolution: not the second of the sandbox's dump
sleep 1.1
BACKUP_S3_WRITE_KEY_ID=$S3_RW_KEY BACKUP_S3_WRITE_SECRET=$S3_SECRET \
    t_exit "nightly_dump passes" 0 run nightly_dump.yaml --param metrics_file="$R/dump.prom"
t_eq "nightly_dump: the dump it wrote is the newest, checked against its manifest" ok "$(joutcome found)"
t_contains "nightly_dump: the metrics textfile says success" "$(cat "$R/dump.prom")" 'drplay_last_run_success{playbook="nightly_dump",mode="validation"} 1'

# ---- nightly validation ----
DBS0=$(dbs)
t_exit "nightly_validation passes" 0 run nightly_validation.yaml --param metrics_file="$R/nightly.prom"
t_eq "nightly: the restored copy was dropped" "$DBS0" "$(dbs)"
t_eq "nightly: verified exactly against the dump's proof, an ok checksum verdict for every table" \
    "$(jout integrity proof | jq '.checksums | length')" \
    "$(jout verify verdicts | jq '[.[] | select(.check == "checksums" and .verdict == "ok")] | length')"
t_contains "nightly: the metrics textfile says success" "$(cat "$R/nightly.prom")" 'drplay_last_run_success{playbook="nightly_validation",mode="validation"} 1'

# ---- database_restore, VALIDATION, both sources ----
SUM0=$(prod_sum)
t_exit "database_restore validation (pitr) passes" 0 run database_restore.yaml
t_eq "validation pitr: a branch was made and verified" ok "$(joutcome verify_copy)"
t_eq "validation pitr: the preview ran against production before the branch went" ok "$(joutcome preview)"
t_eq "validation pitr: the branch was discarded" "$(jout branch name)" "$(jout discard_branch discarded)"
t_eq "validation pitr: no maintenance" "" "$(joutcome maint_on)"
t_exit "database_restore validation (offsite) passes" 0 run database_restore.yaml --param source=offsite
t_eq "validation offsite: the dump's copy verified exactly against its proof" ok "$(joutcome copy_exact)"
t_eq "validation offsite: the fresh database was dropped" "$(jout copy_from_dump database)" "$(jout drop_copy dropped)"
t_eq "validation offsite: nothing left on the server" "$DBS0" "$(dbs)"
t_eq "validation: production's orders untouched" "$SUM0" "$(prod_sum)"
t_eq "validation: two runs wrote one Prometheus file, under a stable name" "$R/database_restore-validation.prom" \
    "$(ls "$R"/*.prom | grep -v -e nightly -e dump.prom)"
t_contains "... holding the last run's result" "$(cat "$R/database_restore-validation.prom")" \
    'drplay_last_run_success{playbook="database_restore",mode="validation"} 1'
t_eq "validation: the flag never went on" false "$(sandbox_flag)"
t_exit "database_restore in disaster mode without a restore point is refused (exit 2)" 2 \
    run database_restore.yaml --mode=disaster --authorize="$DRPLAY_DISASTER_TOKEN"
t_contains "... naming the missing param" "$T_OUT" "restore_to"

# ---- live drill, DISASTER ----
sandbox_dump # a fresh dump: the drill restores it, then recovers forward
sleep 1
ACKED=$(sandbox_acked)
DRPLAY_WEBHOOK_URL=$WEB_URL/hook t_exit "live_drill passes" 0 run live_drill.yaml --mode=disaster \
    --authorize="$DRPLAY_DISASTER_TOKEN" --param notify=true
t_eq "live: the milestones were posted to the webhook" "maintenance_on verified maintenance_off" \
    "$(jq -r '.body | fromjson | .milestone' "$WEB_HOOK_LOG" | tr '\n' ' ' | sed 's/ $//')"
t_eq "live: verified against the baseline with sequence positions and checksums" '["counts","schema","freshness","sequences","checksums"]' "$(jout verify checks)"
# the application writes through sequences; a point-in-time recovery brings
# them back at the last value WAL logged, never behind
t_eq "live: every sequence position verified after the recovery (none behind, none missing)" true \
    "$(jout verify verdicts | jq '[.[] | select(.check == "sequences")] | length > 0 and all(.verdict == "ok")')"
t_eq "live: POST-OFFSITE verified exactly against the dump's proof, with checksums" ok "$(joutcome offsite_exact)"
t_eq "live: ... an ok checksum verdict for every table of the proof" \
    "$(jout dump_ok proof | jq '.checksums | length')" \
    "$(jout offsite_exact verdicts | jq '[.[] | select(.check == "checksums" and .verdict == "ok")] | length')"
t_eq "live: maintenance is off again" false "$(sandbox_flag)"
t_eq "live: the Prometheus file has a stable name (not the run id)" "$R/live_drill.prom" "$(ls "$R"/live*.prom)"
t_eq "live: the database froze writes during the window" true "$(jout freeze database | grep -qx shop && echo true)"
t_eq "live: ... and takes writes again (new sessions are not read-only)" off "$(pg_sql PROD shop "show default_transaction_read_only")"
t_eq "live: every write acknowledged before the drill is back" 0 \
    "$(pg_sql PROD shop "select count(*) from generate_series(1, $ACKED) s where not exists (select 1 from app_writes w where w.seq = s)")"
MD=$(jout report markdown)
for s in BASELINE POST-OFFSITE POST-RECOVERY; do
    t_contains "live: the report shows $s" "$(cat "$MD")" "$s"
done
t_contains "live: the report names the safety snapshot" "$(cat "$MD")" "$(jout safety name)"
t_contains "live: the report names the preserved off-site state" "$(cat "$MD")" "$(jout recover preserved)"
t_check "live: the application writes again after the drill" \
    wait_until 20 test "$(sandbox_acked)" -gt "$ACKED"
t_exit "live: the web application answers again" 0 curl -fsS "$APP_URL/"

# ---- database_restore, DISASTER by PITR: undo a bad deploy ----
sleep 1.1
GOOD=$(date -u +%FT%TZ)
sleep 1.1
pg_sql PROD shop "update public.orders set total = 0 where id % 2 = 0" >/dev/null # the bad deploy
BAD=$(prod_sum)
t_exit "database_restore disaster (pitr) to before the bad deploy passes" 0 \
    run database_restore.yaml --mode=disaster --authorize="$DRPLAY_DISASTER_TOKEN" --param restore_to="$GOOD" --approve=go
t_contains "disaster pitr: the question approved carried the preview" "$(jout go message)" \
    "the expected state was previewed against production: this restore"
t_eq "disaster pitr: the bad deploy's change is gone" 0 "$(pg_sql PROD shop "select count(*) from public.orders where total = 0 and id % 2 = 0")"
t_check "disaster pitr: the state before the restore is preserved" test -n "$(jout recover preserved)"
t_eq "disaster pitr: EXPECTED came from a branch at the restore point" "$GOOD" "$(jout branch at)"
t_eq "disaster pitr: production verified equal to EXPECTED, with sequence positions and checksums" '["counts","schema","sequences","checksums"]' "$(jout verify checks)"
t_eq "disaster pitr: the freeze was put back after the restore" ok "$(joutcome refreeze)"
t_eq "disaster pitr: maintenance is off" false "$(sandbox_flag)"
t_not_contains "disaster pitr: orders differ from the damaged state" "$BAD" "$(prod_sum)"

# ---- database_restore, DISASTER from the off-site dump ----
DUMPED=$(sandbox_acked) # committed before the dump's snapshot
acked_set() { pg_sql PROD shop "select count(*) || ':' || md5(string_agg(seq::text, ',' order by seq)) from app_writes where seq between 1 and $DUMPED"; }
BEFORE_DUMP=$(acked_set)
sandbox_dump
sleep 1.1
NOW=$(date -u +%FT%TZ)
DBS1=$(dbs) PROD1=$(prod_sum)
t_exit "database_restore disaster (offsite) without the approval exits 4 (nothing changed)" 4 \
    run database_restore.yaml --mode=disaster --authorize="$DRPLAY_DISASTER_TOKEN" --param source=offsite \
    --param restore_to="$NOW"
t_contains "declined offsite: the question carried the preview" "$T_OUT" "(the question: Pre-flight passed and the expected state was previewed against production: this restore"
t_eq "declined offsite: the dump's database was dropped" "$(jout copy_from_dump database)" "$(jout drop_copy dropped)"
t_eq "declined offsite: nothing left on the server" "$DBS1" "$(dbs)"
t_eq "declined offsite: the journal says nothing changed" false \
    "$(jq -r 'select(.event=="run_end") | .state_changed' "$(ls -t "$J"/*.jsonl | head -1)")"
t_eq "declined offsite: maintenance never went on" false "$(sandbox_flag)"
t_eq "declined offsite: production untouched" "$PROD1" "$(prod_sum)"
t_exit "database_restore disaster (offsite) passes" 0 \
    run database_restore.yaml --mode=disaster --authorize="$DRPLAY_DISASTER_TOKEN" --param source=offsite \
    --param restore_to="$NOW" --approve=go
t_eq "disaster offsite: restored the newest dump before the restore point" "$(jout dump key)" "$(jout restore_dump key)"
t_check "disaster offsite: a safety snapshot was taken first" test -n "$(jout safety name)"
t_check "disaster offsite: the dump restored has a time" test -n "$(jout restore_dump taken_at)"
t_contains "disaster offsite: the report names the dump's time as the point restored" \
    "$(grep -F '| restored: point |' "$(jout report markdown)")" "$(jout restore_dump taken_at)"
t_eq "disaster offsite: the application writes committed before the dump are all there" "$BEFORE_DUMP" "$(acked_set)"
t_eq "disaster offsite: maintenance is off" false "$(sandbox_flag)"
t_eq "disaster offsite: the database takes writes again" off "$(pg_sql PROD shop "show default_transaction_read_only")"
