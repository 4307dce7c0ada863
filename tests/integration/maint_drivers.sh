#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# tests/integration/maint_drivers.sh - the maintenance switch against real
# stores: the HTTP flag service (an edge-config style JSON API that makes a
# write visible only after a propagation delay), redis-server, a flag row in
# PostgreSQL, a file. Each driver flips on and off through `drplay
# maintenance`, the change is read back by drplay and checked here
# independently, and the measured flip time is reported. An application
# simulator writing rows shows that writes stop once maintenance is on and
# resume when it is off. With the flag store down (or answering garbage),
# fail: closed and fail: open behave as declared and the run says which
# happened. The drill playbook shows maintenance stays ON after a failed
# verification.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/pg.sh
. "$T_LIB/pg.sh"
# shellcheck source=../lib/redis.sh
. "$T_LIB/redis.sh"
# shellcheck source=../lib/flag.sh
. "$T_LIB/flag.sh"
# shellcheck source=../lib/appsim.sh
. "$T_LIB/appsim.sh"
require_drplay

PB=$ROOT/tests/integration/playbooks/maint
J=$T_TMP/journal
pg_start PG
redis_start REDIS
flag_start FLAG --propagation-ms 300
mkdir -p "$T_TMP/flags"
export DB_DSN=$PG_DSN SWITCH_URL=$FLAG_FLAG_URL FLAG_TOKEN REDIS_URL FLAG_FILE=$T_TMP/flags/site.json

m() { "$DRPLAY" maintenance "$1" "$PB/switches.yaml" --switch "$2" --journal-dir "$J" "${@:3}"; }
last_event() { # EVENT FIELD from the newest journal
    jq -r --arg e "$1" --arg k "$2" 'select(.event==$e) | .[$k]' "$(ls -t "$J"/*.jsonl | head -1)" | tail -1
}
flip_ms() { jq -r 'select(.event=="step_end") | .outputs.flip_ms' "$(ls -t "$J"/*.jsonl | head -1)"; }
is_number() { [[ $1 =~ ^[0-9]+(\.[0-9]+)?$ ]]; }

# ---- each driver flips, reads back and reports its flip time ----
check_driver() { # NAME SWITCH READ_CMD ON_PATTERN OFF_PATTERN
    local name=$1 sw=$2 read=$3 on=$4 off=$5 ms
    t_exit "$name: maintenance on" 0 m on "$sw" --message "Back soon" --eta "10:30 UTC"
    t_contains "$name: ... confirmed by reading it back" "$T_OUT" "is ON, confirmed by reading it back after"
    t_contains "$name: ... stating the fail mode" "$T_OUT" "fail: "
    ms=$(flip_ms)
    t_check "$name: ... flip time reported ($ms ms)" is_number "$ms"
    t_eq "$name: ... journaled as maintenance on" "maintenance on" "$(last_event maintenance_changed state)"
    t_contains "$name: the store holds the flag on (read independently)" "$(eval "$read")" "$on"
    t_exit "$name: maintenance status" 0 m status "$sw"
    t_contains "$name: ... says ON with the message and ETA" "$T_OUT" "is ON: Back soon, ETA 10:30 UTC"
    t_exit "$name: maintenance off" 0 m off "$sw"
    t_contains "$name: ... confirmed" "$T_OUT" "is OFF, confirmed by reading it back"
    t_contains "$name: the store holds the flag off" "$(eval "$read")" "$off"
}

check_driver http http_closed 'flag_get FLAG site' '"maintenanceMode":true,"message":"Back soon","eta":"10:30 UTC"' '"maintenanceMode":false'
t_exit "http: on again, to measure the propagation" 0 m on http_closed
ms=$(flip_ms)
t_check "http: the read-back waited for the store's 300 ms propagation ($ms ms)" \
    awk -v v="$ms" 'BEGIN { exit !(v >= 290) }'
reads=$(jq -r 'select(.event=="step_end") | .outputs.reads' "$(ls -t "$J"/*.jsonl | head -1)")
t_check "http: ... with several read-backs ($reads)" test "$reads" -ge 2
m off http_closed >/dev/null 2>&1
t_exit "http (PUT, body template): on" 0 m on http_put --message "Restoring" --eta "soon"
t_eq "http (PUT, body template): the document has the template's shape" \
    '{"maintenanceMode":true,"banner":{"text":"Restoring","eta":"soon","state":"on"}}' "$(flag_get FLAG site)"
m off http_put >/dev/null 2>&1
check_driver redis redis_open 'redis_cli REDIS GET drplay:maintenance' '"maintenanceMode":true' '"maintenanceMode":false'
check_driver "redis plain" redis_plain 'redis_cli REDIS MGET drplay:plain drplay:plain:message' $'1\nBack soon' 0
check_driver postgres pg_closed "pg_sql PG postgres \"select enabled, message, eta from app_flags where name = 'site'\"" \
    't|Back soon|10:30 UTC' 'f|'
check_driver file file_open 'cat "$FLAG_FILE"' '"maintenanceMode": true' '"maintenanceMode": false'

# ---- the application stops writing once maintenance is on ----
appsim_start APP --dsn "$PG_DSN" --table app_writes --fail closed --flag "http:$FLAG_FLAG_URL,$FLAG_TOKEN" --interval-ms 20
sleep 0.5
t_exit "appsim: maintenance on while the application writes" 0 m on http_closed
confirmed=$(jq -r 'select(.event=="step_end") | .outputs.confirmed_at' "$(ls -t "$J"/*.jsonl | head -1)")
sleep 1
late=$(pg_sql PG postgres "select count(*) from app_writes where written_at > '$confirmed'::timestamptz + interval '1 second'")
before=$(pg_sql PG postgres "select count(*) from app_writes where written_at <= '$confirmed'::timestamptz")
t_check "appsim: writes landed before the freeze ($before)" test "$before" -gt 5
t_eq "appsim: no write landed later than the in-flight second after the confirmed flip" 0 "$late"
t_check "appsim: the application logged gated decisions" grep -q '"decision":"gated"' "$APP_LOG"
n1=$(pg_sql PG postgres "select count(*) from app_writes")
t_exit "appsim: maintenance off" 0 m off http_closed
sleep 0.6
n2=$(pg_sql PG postgres "select count(*) from app_writes")
t_check "appsim: writes resume after maintenance off ($n1 -> $n2)" test "$n2" -gt "$n1"

# ---- the drill: a failed verification keeps maintenance ON ----
TB=$ROOT/tests/drplay-test
t_exit "drill: a run with a passing verification lifts maintenance" 0 "$TB" run "$PB/drill.yaml" --journal-dir "$J"
t_contains "drill: ... and the flag is off" "$(flag_get FLAG site)" '"maintenanceMode":false'
t_exit "drill: a failed verification fails the run" 1 "$TB" run "$PB/drill.yaml" --journal-dir "$J" --param fail=true
t_contains "drill: ... maintenance stays on" "$T_OUT" "maintenance is ON (step 'on')"
t_contains "drill: ... the flag store still says on" "$(flag_get FLAG site)" '"maintenanceMode":true'
m off http_closed >/dev/null 2>&1

# ---- the store answers garbage ----
flag_control FLAG '{"garbage": true}' >/dev/null
t_exit "garbage: maintenance on fails" 1 m on http_closed
t_contains "garbage: ... saying the answer is not JSON" "$T_OUT" "not JSON"
t_contains "garbage: ... and what fail: closed means now" "$T_OUT" "fail: closed: the application shows maintenance (writes gated)"
t_exit "garbage: maintenance status fails too (exit 4, nothing changed)" 4 m status http_closed
flag_control FLAG '{"garbage": false}' >/dev/null
redis_cli REDIS SET drplay:maintenance 'not json' >/dev/null
t_exit "garbage (redis): maintenance on fails" 1 m on redis_open
t_contains "garbage (redis): ... saying what the key holds" "$T_OUT" "holds something that is not JSON"
redis_cli REDIS DEL drplay:maintenance >/dev/null

# ---- the store down: fail closed and fail open, as declared ----
appsim_start OPENAPP --dsn "$PG_DSN" --table open_writes --fail open --flag "http:$FLAG_FLAG_URL,$FLAG_TOKEN" --interval-ms 20
flag_stop FLAG
sleep 0.5
t_exit "down, fail closed: maintenance on fails" 1 m on http_closed
t_contains "down, fail closed: ... the store cannot be read" "$T_OUT" "cannot be read"
t_contains "down, fail closed: ... the application shows maintenance meanwhile" "$T_OUT" "fail: closed: the application shows maintenance (writes gated)"
t_contains "down, fail closed: ... and the flag itself is not set" "$T_OUT" "the flag itself is NOT set"
# the one-step command's own run (plain `status` shows the newest drill)
st=$("$DRPLAY" status "$(basename "$(ls -t "$J"/*.jsonl | head -n1)" .jsonl)" --journal-dir "$J")
t_contains "down, fail closed: drplay status says what happened" "$st" "store down: fail closed: application gated"
t_check "down, fail closed: the application (fail closed) gates its writes" grep -q '"decision":"store-down:gated"' "$APP_LOG"
t_exit "down, fail open: maintenance on fails" 1 m on http_open
t_contains "down, fail open: ... saying writes are NOT gated" "$T_OUT" "SERVES TRAFFIC and writes are NOT gated"
t_contains "down, fail open: ... loudly" "$T_OUT" "WARNING"
t_contains "down, fail open: ... and not to restore now" "$T_OUT" "do not restore now"
t_eq "down, fail open: journaled as such" "store down: fail open: application serving, writes NOT gated" \
    "$(last_event maintenance_store_down state)"
open_down=$(pg_sql PG postgres "select count(*) from open_writes where decision = 'store-down:write'")
t_check "down, fail open: the application (fail open) kept writing ($open_down rows)" test "$open_down" -gt 0
redis_stop REDIS
t_exit "down (redis), fail open: maintenance on fails" 1 m on redis_open
t_contains "down (redis): ... saying writes are NOT gated" "$T_OUT" "writes are NOT gated"
export FLAG_FILE=$T_TMP/no-such-dir/site.json
t_exit "down (file): an unreachable flag file fails, fail open" 1 m on file_open
t_contains "down (file): ... saying so" "$T_OUT" "SERVES TRAFFIC"
appsim_stop APP
appsim_stop OPENAPP
pg_stop PG
t_exit "down (postgres), fail closed: maintenance on fails" 1 m on pg_closed
t_contains "down (postgres): ... saying the application shows maintenance" "$T_OUT" "fail: closed: the application shows maintenance"
