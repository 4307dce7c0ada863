#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# tests/integration/pitr_neon.sh - the neon pitr driver against the Neon API
# CONTRACT SERVER (tests/node/neon_contract_server.js; no Neon service is
# reachable here). The contract server checks request shapes the way Neon's
# published API definition describes them and runs operations through their
# statuses; its connection URIs point at a real PostgreSQL, so the wait for
# "accepts connections, out of recovery" and a branch's dsn are real. These
# tests prove the requests drplay sends, its polling, and its handling of
# 4xx/5xx answers, retries, garbage and operations that never finish; they do
# not (cannot) prove Neon's own data behaviour.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/pg.sh
. "$T_LIB/pg.sh"
# shellcheck source=../lib/neon.sh
. "$T_LIB/neon.sh"
require_drplay

PB=$ROOT/tests/integration/playbooks/pitr
J=$T_TMP/journal
pg_start PG
pg_sql PG postgres "create table t (id int); insert into t values (1), (2)" >/dev/null || die_setup "table"
neon_start NEON --connection-uri "$PG_DSN" --op-ms 150
export DB_DSN=$PG_DSN NEON_API=$NEON_URL NEON_API_KEY=$NEON_KEY NEON_PROJECT=$NEON_PROJECT NEON_OP_TIMEOUT=20s
export DRPLAY_TOKEN=pitr-token

run_pb() { "$DRPLAY" run "$PB/$1" --journal-dir "$J" "${@:2}"; }
journal_out() {
    jq -r --arg s "$1" --arg k "$2" 'select(.event=="step_end" and .step==$s) | .outputs[$k] // empty' \
        "$(ls -t "$J"/*.jsonl | head -1)"
}
requests() { neon_log NEON | jq -c "$1"; }

T1=$(date -u -d '-60 seconds' +%FT%TZ)

# ---- window ----
t_exit "window: a time beyond the history retention fails the gate (exit 4)" 4 run_pb neon_restore.yaml --param to=2001-01-01T00:00:00Z
t_contains "window: ... naming the retention" "$T_OUT" "keeps 86400 s of history"

# ---- restore to a time ----
t_exit "restore: to a time succeeds" 0 run_pb neon_restore.yaml --mode=disaster --authorize=pitr-token --param to="$T1"
RESTORE_OUT=$T_OUT
PRESERVED=$(journal_out restore preserved)
SAFETY=$(journal_out safety name)
body=$(requests 'select(.method=="POST" and (.path|endswith("/restore"))) | .body' | tail -1)
t_eq "restore: POST .../branches/{branch}/restore on the live branch" 1 \
    "$(requests 'select(.method=="POST" and .path=="/projects/'"$NEON_PROJECT"'/branches/br-main-000001/restore")' | wc -l)"
t_eq "restore: source_branch_id is the branch itself" '"br-main-000001"' "$(jq -c .source_branch_id <<<"$body")"
t_eq "restore: source_timestamp is the target" "\"$T1\"" "$(jq -c .source_timestamp <<<"$body")"
t_eq "restore: preserve_under_name is the preserved name" "\"$PRESERVED\"" "$(jq -c .preserve_under_name <<<"$body")"
t_check "restore: operations were polled until finished" \
    test "$(requests 'select(.method=="GET" and (.path|contains("/operations/")))' | wc -l)" -ge 1
snapbody=$(requests 'select(.method=="POST" and .path=="/projects/'"$NEON_PROJECT"'/branches") | .body' | head -1)
t_eq "snapshot: a branch from the head of the live branch, named" "{\"branch\":{\"parent_id\":\"br-main-000001\",\"name\":\"$SAFETY\"}}" "$snapbody"
t_contains "restore: the summary lists snapshot and preserved state" "$RESTORE_OUT" "$SAFETY, $PRESERVED"
t_check "restore: the journal says the database is running after it" \
    bash -c "jq -r 'select(.event==\"database_started\") | .resource' $(ls -t "$J"/*.jsonl | head -1) | grep -qx db"

# ---- restore from the preserved state ----
t_exit "undo: restore from the preserved branch succeeds" 0 run_pb neon_restore.yaml --mode=disaster --authorize=pitr-token --param from="$PRESERVED"
body=$(requests 'select(.method=="POST" and (.path|endswith("/restore"))) | .body' | tail -1)
pid=$(curl -sS -H "Authorization: Bearer $NEON_KEY" "$NEON_URL/projects/$NEON_PROJECT/branches" | jq -r --arg n "$PRESERVED" '.branches[] | select(.name==$n) | .id')
t_eq "undo: source_branch_id is the preserved branch" "\"$pid\"" "$(jq -c .source_branch_id <<<"$body")"
t_eq "undo: no source_timestamp (its head)" null "$(jq -c .source_timestamp <<<"$body")"
t_contains "undo: the state it replaces is preserved too" "$(jq -c .preserve_under_name <<<"$body")" "before-restore"

# ---- branch, used through its dsn; discard; discard refuses the snapshot ----
t_exit "branch: the validation run succeeds (only the refused discard fails, tolerated)" 0 run_pb neon_branch.yaml --param at="$T1"
BR_OUT=$T_OUT
bbody=$(requests 'select(.method=="POST" and .path=="/projects/'"$NEON_PROJECT"'/branches") | .body' | tail -1)
t_eq "branch: parent_timestamp is the time asked for" "\"$T1\"" "$(jq -c .branch.parent_timestamp <<<"$bbody")"
t_eq "branch: with a read_write endpoint" '[{"type":"read_write"}]' "$(jq -c .endpoints <<<"$bbody")"
t_eq "branch: its dsn reached a real database" 2 "$(journal_out rows stdout | tr -d '\n')"
t_eq "branch: discarded with DELETE" 1 "$(requests 'select(.method=="DELETE")' | wc -l)"
t_contains "discard: refuses the snapshot" "$BR_OUT" "refusing to discard 'neon-keep'"
t_eq "discard: the snapshot branch still exists" 1 \
    "$(curl -sS -H "Authorization: Bearer $NEON_KEY" "$NEON_URL/projects/$NEON_PROJECT/branches" | jq '[.branches[] | select(.name=="neon-keep")] | length')"

# ---- faults: 4xx, 5xx, retried 503, garbage, never-finishing and failing operations, wrong key, down ----
neon_control NEON '{"failCount": 1, "failStatus": 400, "failMatch": "POST .*/restore$"}' >/dev/null
t_exit "fault 4xx: the restore fails" 1 run_pb neon_restore.yaml --mode=disaster --authorize=pitr-token --param to="$T1"
t_contains "fault 4xx: ... with Neon's status and message" "$T_OUT" "HTTP 400: injected failure 400"

neon_control NEON '{"failCount": 1, "failStatus": 500, "failMatch": "POST .*/restore$"}' >/dev/null
t_exit "fault 5xx: the restore fails" 1 run_pb neon_restore.yaml --mode=disaster --authorize=pitr-token --param to="$T1"
t_contains "fault 5xx: ... with the status" "$T_OUT" "HTTP 500"

neon_control NEON '{"failCount": 2, "failStatus": 503, "failMatch": "POST .*/restore$"}' >/dev/null
t_exit "fault 503: retried, then the restore succeeds" 0 run_pb neon_restore.yaml --mode=disaster --authorize=pitr-token --param to="$T1"
t_contains "fault 503: ... saying it retried" "$T_OUT" "retrying"

neon_control NEON '{"neverFinish": true}' >/dev/null
NEON_OP_TIMEOUT=2s t_exit "fault never finishing: the restore fails after operation_timeout" 1 run_pb neon_restore.yaml \
    --mode=disaster --authorize=pitr-token --param to="$T1"
t_contains "fault never finishing: ... saying the operation was still running" "$T_OUT" "was still 'running' after 2s"
neon_control NEON '{"neverFinish": false, "failOperations": true}' >/dev/null
t_exit "fault failed operation: the step fails" 1 run_pb neon_restore.yaml --mode=disaster --authorize=pitr-token --param to="$T1"
t_contains "fault failed operation: ... with the operation's error" "$T_OUT" "ended 'failed': injected failure"
neon_control NEON '{"failOperations": false, "garbage": true}' >/dev/null
t_exit "fault garbage: the window gate fails (exit 4)" 4 run_pb neon_restore.yaml --param to="$T1"
t_contains "fault garbage: ... saying the answer was not JSON" "$T_OUT" "not a JSON object"
neon_control NEON '{"garbage": false}' >/dev/null
NEON_API_KEY=wrong-key t_exit "fault wrong key: the window gate fails (exit 4)" 4 run_pb neon_restore.yaml --param to="$T1"
t_contains "fault wrong key: ... pointing at api_key" "$T_OUT" "check api_key"
t_not_contains "fault wrong key: ... without printing it" "$T_OUT" "wrong-key"
neon_stop NEON
t_exit "fault unreachable: the window gate fails (exit 4)" 4 run_pb neon_restore.yaml --param to="$T1"
t_contains "fault unreachable: ... saying there was no answer" "$T_OUT" "no answer"
