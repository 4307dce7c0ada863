#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# tests/integration/redis_url.sh - the redis driver's url, read by libcurl's
# URL API, against a real redis-server: a password holding '@', ':', '%'
# and '/' percent-encoded in the url authenticates both as the default user
# (requirepass) and as an ACL user, /N selects database N, a wrong password
# is refused without the password (decoded or encoded) in any output, and
# rediss:// is refused when the playbook is checked (lint, and run before
# any step), naming the alternatives.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/redis.sh
. "$T_LIB/redis.sh"
require_drplay

PB=$ROOT/tests/integration/playbooks/redis_url
J=$T_TMP/journal
PW='p@ss:w%rd/x'
ENC='p%40ss%3Aw%25rd%2Fx'
PW2='d:r@i%l'    # the ACL user's own, unlike the default user's
ENC2='d%3Ar%40i%25l'
redis_start REDIS --password "$PW"
redis_cli REDIS ACL SETUSER drill on ">$PW2" '~drplay:*' '+@all' >/dev/null

m() { TEST_REDIS_URL=$1 "$DRPLAY" maintenance "$2" "$PB/switch.yaml" --switch flag --journal-dir "$J" "${@:3}"; }

t_exit "default user, encoded password: maintenance on" 0 m "redis://:$ENC@127.0.0.1:$REDIS_PORT" on
t_contains "... the server holds the flag (read independently)" "$(redis_cli REDIS GET drplay:maintenance)" '"maintenanceMode":true'
t_exit "... and off" 0 m "redis://:$ENC@127.0.0.1:$REDIS_PORT" off
t_contains "... the server holds it off" "$(redis_cli REDIS GET drplay:maintenance)" '"maintenanceMode":false'

t_exit "ACL user, its own encoded password, database 3: maintenance on" 0 m "redis://drill:$ENC2@127.0.0.1:$REDIS_PORT/3" on
t_contains "... the flag is in database 3" "$(redis_cli REDIS -n 3 GET drplay:maintenance)" '"maintenanceMode":true'
t_exit "... status reads it back as drill" 0 m "redis://drill:$ENC2@127.0.0.1:$REDIS_PORT/3" status
t_contains "... ON" "$T_OUT" "is ON"

t_exit "a wrong password is refused" 4 m "redis://drill:wrong%40$ENC@127.0.0.1:$REDIS_PORT" status
t_contains "... by the server (WRONGPASS)" "$T_OUT" "WRONGPASS"
t_not_contains "... without the decoded password" "$T_OUT" "$PW"
t_not_contains "... nor the encoded one" "$T_OUT" "$ENC"
t_not_contains "... in the journal either" "$(cat "$J"/*.jsonl)" "$ENC"
for raw in 'lk@pw7' 'lk/pw7' 'lk pw7'; do # not percent-encoded: the url cannot be used, and never shows it
	t_exit "a password written raw ('$raw'): refused" 4 m "redis://drill:$raw@127.0.0.1:$REDIS_PORT" status
	t_contains "... the url shown without its password" "$T_OUT" "redis url 'redis://drill:***@127.0.0.1:$REDIS_PORT' cannot be used"
	t_not_contains "... none of the password" "$T_OUT" "pw7"
	t_not_contains "... nor in the journal" "$(cat "$J"/*.jsonl)" "pw7"
done

t_exit "a url with a query is refused" 4 m "redis://127.0.0.1:$REDIS_PORT/0?ssl=1" status
t_contains "... saying so" "$T_OUT" "has a query"
t_exit "a path that is not a database number is refused" 4 m "redis://127.0.0.1:$REDIS_PORT/cache" status
t_contains "... naming it" "$T_OUT" "'/cache' is not a database number"

t_exit "rediss:// at lint: refused" 1 "$DRPLAY" lint "$PB/rediss.bad.yaml"
t_contains "... at the url's line" "$T_OUT" "rediss.bad.yaml:5:"
t_contains "... naming the alternatives" "$T_OUT" "stunnel"
t_exit "rediss:// at run: refused before any step" 2 "$DRPLAY" run "$PB/rediss.bad.yaml" --mode=validation --journal-dir "$J"
t_not_contains "... no step ran" "$T_OUT" "status"
t_exit "rediss:// from the environment: refused before reaching any server" 4 m "rediss://127.0.0.1:$REDIS_PORT" status
t_contains "... naming the alternatives" "$T_OUT" "stunnel"
