#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# tests/integration/harness_smoke.sh - proves the test harness itself works:
# starts every server the integration tests use (PostgreSQL with WAL archive
# and the fixture, s3rver behind the read-only-enforcing nginx proxy plus the
# fault proxy, redis, the flag service), checks each one really answers, and
# stops them all.  Safe to run concurrently with itself.  These checks prove
# the harness, not drplay: they count as one test (T_HARNESS_ONLY).
set -u
T_HARNESS_ONLY="harness: every server the tests use starts and answers"
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/pg.sh
. "$T_LIB/pg.sh"
# shellcheck source=../lib/s3.sh
. "$T_LIB/s3.sh"
# shellcheck source=../lib/redis.sh
. "$T_LIB/redis.sh"
# shellcheck source=../lib/flag.sh
. "$T_LIB/flag.sh"

# ------------------------------------------------------------- PostgreSQL ---
pg_start PG --archive
pg_load_fixture PG appdb

t_eq "pg: query over TCP" 2000 "$(psql "${PG_DSN%/postgres}/appdb" -X -At -c 'select count(*) from orders' 2>&1)"
t_eq "pg: query over the Unix socket" 500 "$(pg_sql PG appdb 'select count(*) from users')"
t_eq "pg: fixture freshness column" "2024-01-24 14:40:00+00" "$(pg_sql PG appdb 'select max(created_at) from orders')"
t_eq "pg: fixture partitions hold rows" "4" \
    "$(pg_sql PG appdb "select count(distinct tableoid) from app.measurements")"
t_eq "pg: non-ASCII identifiers" 30 "$(pg_sql PG appdb 'select count(*) from public."naïve_tbl"')"
t_check "pg: TOASTed values are out of line" test \
    "$(pg_sql PG appdb "select pg_relation_size(reltoastrelid) > 100000 from pg_class where oid = 'app.documents'::regclass")" = t
t_eq "pg: password role over TCP" drplay_pw "$(psql "$PG_PW_DSN" -X -At -c 'select current_user' 2>&1)"
t_exit "pg: wrong password is refused" 2 psql "postgresql://drplay_pw:wrong@127.0.0.1:$PG_PORT/postgres" -X -At -c 'select 1'
seg=$(pg_sql PG postgres "select pg_walfile_name(pg_switch_wal())")
if wait_until 15 test -f "$PG_ARCHIVE/$seg"; then
    t_pass "pg: WAL segment archived ($seg)"
else
    t_fail "pg: WAL segment archived" "$seg not in $PG_ARCHIVE after 15 s"
fi
t_check "pg: pg_basebackup works" "$PGBIN/pg_basebackup" -h 127.0.0.1 -p "$PG_PORT" -U postgres \
    -D "$T_TMP/basebackup" -X stream --no-sync -c fast

# --------------------------------------------------------------------- S3 ---
s3_start S3
printf 'drplay harness smoke payload %s\n' "$RANDOM" >"$T_TMP/payload"
t_check "s3: PUT with the read-write key" s3_put S3 "$T_TMP/payload" smoke/payload.txt
t_check "s3: GET with the read-only key" s3_get S3 smoke/payload.txt "$T_TMP/payload.back" "$S3_RO_KEY"
t_check "s3: GET returns the same bytes" cmp "$T_TMP/payload" "$T_TMP/payload.back"
t_eq "s3: LIST with the read-only key" smoke/payload.txt "$(s3_ls S3 smoke/ "$S3_RO_KEY")"
body=$(s3_curl S3 "$S3_RO_KEY" -w '\n%{http_code}' -T "$T_TMP/payload" "$S3_ENDPOINT/$S3_BUCKET/smoke/ro.txt")
t_eq "s3: PUT with the read-only key is 403" 403 "${body##*$'\n'}"
t_contains "s3: ... with an AccessDenied body" "$body" "<Code>AccessDenied</Code>"
body=$(s3_curl S3 "$S3_RO_KEY" -w '\n%{http_code}' -X DELETE "$S3_ENDPOINT/$S3_BUCKET/smoke/payload.txt")
t_eq "s3: DELETE with the read-only key is 403" 403 "${body##*$'\n'}"
t_check "s3: ... and the object is still there" s3_get S3 smoke/payload.txt "$T_TMP/payload.back"
body=$(s3_curl S3 "$S3_BAD_KEY" -w '\n%{http_code}' "$S3_ENDPOINT/$S3_BUCKET/smoke/payload.txt")
t_eq "s3: unknown key id is 403" 403 "${body##*$'\n'}"
t_contains "s3: ... InvalidAccessKeyId from s3rver" "$body" "<Code>InvalidAccessKeyId</Code>"

head -c 1048576 /dev/zero >"$T_TMP/big"
s3_put S3 "$T_TMP/big" smoke/big.bin || die_setup "s3: cannot upload smoke/big.bin"
s3_fault_start S3 --methods GET --match '/big\.bin$' --cut-after 65536 --cut-count 1
t_exit "s3 fault: GET body cut after 64 KiB (curl 18)" 18 \
    s3_curl S3 "$S3_RO_KEY" -o "$T_TMP/big.cut" "$S3_FAULT_ENDPOINT/$S3_BUCKET/smoke/big.bin"
t_eq "s3 fault: ... client got 65536 bytes" 65536 "$(stat -c %s "$T_TMP/big.cut")"
t_check "s3 fault: next GET is whole" s3_curl S3 "$S3_RO_KEY" -f -o "$T_TMP/big.ok" "$S3_FAULT_ENDPOINT/$S3_BUCKET/smoke/big.bin"
s3_proxy_stop S3
t_exit "s3: store unreachable after s3_proxy_stop (curl 7)" 7 \
    s3_curl S3 "$S3_RW_KEY" -o /dev/null "$S3_ENDPOINT/$S3_BUCKET/smoke/payload.txt"

# ------------------------------------------------------------------ redis ---
redis_start REDIS
t_eq "redis: PING" PONG "$(redis_cli REDIS PING)"
t_eq "redis: SET" OK "$(redis_cli REDIS SET drplay:smoke hello)"
t_eq "redis: GET via URL" hello "$(redis-cli -u "$REDIS_URL" GET drplay:smoke)"

# ------------------------------------------------------------ flag service ---
flag_start FLAG --propagation-ms 300
code=$(curl -sS -o /dev/null -w '%{http_code}' "$FLAG_FLAG_URL")
t_eq "flag: GET without token is 401" 401 "$code"
code=$(curl -sS -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer nope' "$FLAG_FLAG_URL")
t_eq "flag: GET with a wrong token is 401" 401 "$code"
t_eq "flag: GET with token" '{"maintenanceMode":false,"message":"","eta":null}' "$(flag_get FLAG site)"
code=$(curl -sS -o /dev/null -w '%{http_code}' -X PATCH -d '{"maintenanceMode":true}' "$FLAG_FLAG_URL")
t_eq "flag: PATCH without token is 401" 401 "$code"
t_eq "flag: PATCH with token" '{"maintenanceMode":true,"message":"Restoring","eta":null}' \
    "$(flag_patch FLAG site '{"maintenanceMode": true, "message": "Restoring"}')"
t_contains "flag: write not visible before propagation" "$(flag_get FLAG site)" '"maintenanceMode":false'
flag_is_on() { [[ $(flag_get FLAG site) == *'"maintenanceMode":true'* ]]; }
if wait_until 5 flag_is_on; then
    t_pass "flag: write visible after propagation"
else
    t_fail "flag: write visible after propagation" "still $(flag_get FLAG site)"
fi
t_eq "flag: change log has one entry" 1 "$(wc -l <"$FLAG_LOG")"
