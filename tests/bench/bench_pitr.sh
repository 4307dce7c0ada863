#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# tests/bench/bench_pitr.sh - speed of the maintenance switch and of
# point-in-time restores, each measured side by side with the same work done
# by hand with the real tools:
#   maint_on_http / maint_on_redis: `drplay maintenance on` until the flag
#       reads back as on (the whole command: start-up, playbook, write,
#       read-back), target 1 s; baseline = curl PATCH + curl GET (resp.
#       redis-cli SET + GET) until the read shows the change.
#   pitr_restore_local: `drplay run` of a pitr.restore to a time (local
#       driver) against the PostgreSQL docs' procedure by hand: pg_ctl stop,
#       keep the data directory, cp -a the base backup, copy the WAL the
#       archive lacks, restore_command + recovery_target_time +
#       recovery_target_action = promote + recovery.signal, pg_ctl start,
#       wait until out of recovery. Target ratio 1.10.
#   pitr_restore_pgbackrest: the same with `pgbackrest restore --type=time`
#       by hand. Target ratio 1.05.
# Each figure is the best of N runs (noise from other work on the machine
# only ever adds time). The database is pgbench scale $BENCH_PITR_SCALE.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=../lib/pg.sh
. "$T_LIB/pg.sh"
# shellcheck source=../lib/redis.sh
. "$T_LIB/redis.sh"
# shellcheck source=../lib/flag.sh
. "$T_LIB/flag.sh"
require_drplay

N=${BENCH_PITR_RUNS:-3}
PARTS=" ${BENCH_PITR_PARTS:-maint local pgbackrest} " # which parts to run (all by default)
SCALE=${BENCH_PITR_SCALE:-10}
BP=$ROOT/tests/bench/playbooks
J=$T_TMP/journal

best_of() { # N CMD... : the lowest wall time (s) of N runs
    local n=$1 best="" t i
    shift
    for ((i = 0; i < n; i++)); do
        t=$(bench_time "$@") || return 1
        if [[ -z $best ]] || awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$t; fi
    done
    echo "$best"
}

# ---------------------------------------------------------------- switch ---
if [[ $PARTS == *" maint "* ]]; then
flag_start FLAG
redis_start REDIS
export SWITCH_URL=$FLAG_FLAG_URL FLAG_TOKEN REDIS_URL

drplay_flip() { # SWITCH: on (timed by the caller), then off (also a flip, untimed here)
    "$DRPLAY" maintenance on "$BP/maint_bench.yaml" --switch "$1" --journal-dir "$J" >/dev/null 2>&1 || return 1
}
drplay_off() { "$DRPLAY" maintenance off "$BP/maint_bench.yaml" --switch "$1" --journal-dir "$J" >/dev/null 2>&1; }
curl_flip() {
    curl -sS -f -X PATCH -H "Authorization: Bearer $FLAG_TOKEN" -H 'content-type: application/json' \
        --data-binary '{"maintenanceMode": true, "message": "", "eta": null}' "$FLAG_FLAG_URL" >/dev/null || return 1
    until curl -sS -f -H "Authorization: Bearer $FLAG_TOKEN" "$FLAG_FLAG_URL" | grep -q '"maintenanceMode":true'; do :; done
}
curl_off() {
    curl -sS -f -X PATCH -H "Authorization: Bearer $FLAG_TOKEN" -H 'content-type: application/json' \
        --data-binary '{"maintenanceMode": false}' "$FLAG_FLAG_URL" >/dev/null
}
redis_flip() {
    redis_cli REDIS SET bench:maintenance '{"maintenanceMode":true,"message":"","eta":null}' >/dev/null || return 1
    until redis_cli REDIS GET bench:maintenance | grep -q '"maintenanceMode":true'; do :; done
}
redis_off() { redis_cli REDIS SET bench:maintenance '{"maintenanceMode":false}' >/dev/null; }

time_pair() { # FLIP OFF: best of N, switching off (untimed) between runs
    local best="" t i
    for ((i = 0; i < N + 2; i++)); do
        $2
        t=$(bench_time "${@:3}" $1) || return 1
        if [[ -z $best ]] || awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$t; fi
    done
    $2
    echo "$best"
}
v=$(time_pair "drplay_flip http" "drplay_off http") || die_setup "drplay maintenance on (http) failed"
b=$(time_pair curl_flip curl_off) || die_setup "curl flip failed"
bench_report maint_on_http "$v" s "$b" 1 value
v=$(time_pair "drplay_flip redis" "drplay_off redis") || die_setup "drplay maintenance on (redis) failed"
b=$(time_pair redis_flip redis_off) || die_setup "redis-cli flip failed"
bench_report maint_on_redis "$v" s "$b" 1 value
flag_stop FLAG
redis_stop REDIS
fi

wait_out_of_recovery() { # DATA HOST PORT: polls like drplay does (every 20 ms); fails if the server died
    local i
    for ((i = 0; i < 30000; i++)); do
        [[ $("$PGBIN/psql" -X -At -h "$2" -p "$3" -U postgres -c 'select pg_is_in_recovery()' 2>/dev/null) == f ]] && return 0
        if ((i > 100)) && [[ ! -f $1/postmaster.pid ]]; then
            echo "bench: the server of $1 died during recovery" >&2
            return 1
        fi
        sleep 0.02
    done
    return 1
}
# ---------------------------------------------------------------- local ---
if [[ $PARTS == *" local "* ]]; then
rows_after() { pg_sql PG postgres "insert into bench_marks values (clock_timestamp())" >/dev/null; }

pg_start PG --archive
export DB_DSN=$PG_DSN PG_DATA PG_ARCHIVE BASE_BACKUPS=$PG_DIR/base_backups
mkdir -p "$BASE_BACKUPS" && chown postgres: "$BASE_BACKUPS" 2>/dev/null
pg_pgbench_init PG bench "$SCALE"
pg_sql PG postgres "create table bench_marks (at timestamptz)" >/dev/null
pg_as_postgres "$PGBIN/pg_basebackup" -D "$BASE_BACKUPS/base" -X stream -c fast -h "$PG_HOST" -p "$PG_PORT" \
    -U postgres >/dev/null 2>&1 || die_setup "pg_basebackup failed"
"$PGBIN/pgbench" -n -T 3 -h "$PG_HOST" -p "$PG_PORT" -U postgres bench >/dev/null 2>&1
sleep 1.1
T=$(date -u +%FT%TZ)
sleep 1.1
"$PGBIN/pgbench" -n -T 1 -h "$PG_HOST" -p "$PG_PORT" -U postgres bench >/dev/null 2>&1
keep=$PG_DIR/kept
mkdir -p "$keep" && chown postgres: "$keep"

by_hand_local() {
    local aside=$keep/hand-$RANDOM$RANDOM
    pg_as_postgres "$PGBIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null || return 1
    mv "$PG_DATA" "$aside" || return 1
    pg_as_postgres cp -a "$BASE_BACKUPS/base" "$PG_DATA" || return 1
    # the WAL the archive lacks, from the old pg_wal
    local f missing=()
    for f in "$aside"/pg_wal/0*; do
        [[ -f $f && ! -e $PG_ARCHIVE/${f##*/} ]] && missing+=("$f")
    done
    ((${#missing[@]} == 0)) || pg_as_postgres cp -p "${missing[@]}" "$PG_DATA/pg_wal/"
    printf "restore_command = 'cp \"%s/%%f\" \"%%p\"'\nrecovery_target_time = '%s'\nrecovery_target_action = 'promote'\n" \
        "$PG_ARCHIVE" "$(date -ud "$T" "+%F %T+00")" | pg_as_postgres tee -a "$PG_DATA/postgresql.auto.conf" >/dev/null
    pg_as_postgres touch "$PG_DATA/recovery.signal"
    pg_as_postgres "$PGBIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -W start >/dev/null || return 1
    wait_out_of_recovery "$PG_DATA" "$PG_HOST" "$PG_PORT"
}
by_drplay_local() {
    PRESERVE_AS=bench-$RANDOM$RANDOM "$DRPLAY" run "$BP/pitr_bench.yaml" --journal-dir "$J" --param to="$T" --param driver=local
}
tidy_local() { # outside the timing: app writes after the target, drop kept copies
    rows_after
    rm -rf "$keep"/hand-* "$PG_DIR"/drplay-preserved/bench-*
}
vals=() bases=()
for ((i = 0; i < N; i++)); do
    b=$(bench_time by_hand_local) || die_setup "the by-hand local restore failed"
    tidy_local
    v=$(bench_time by_drplay_local) || die_setup "drplay's local restore failed (see $J)"
    tidy_local
    bases+=("$b") vals+=("$v")
done
bv=$(printf '%s\n' "${vals[@]}" | sort -g | head -1)
bb=$(printf '%s\n' "${bases[@]}" | sort -g | head -1)
bench_report pitr_restore_local "$bv" s "$bb" 1.10
pg_stop PG
fi

# ------------------------------------------------------------ pgbackrest ---
if [[ $PARTS == *" pgbackrest "* ]]; then
pg_start PGB --pgbackrest bench
export DB_DSN=$PGB_DSN PG_DATA=$PGB_DATA PGBR_STANZA=$PGB_PGBR_STANZA PGBR_CONF=$PGB_PGBR_CONF
pg_pgbench_init PGB bench "$SCALE"
pg_sql PGB postgres "create table bench_marks (at timestamptz)" >/dev/null
pg_pgbackrest PGB backup --type=full >/dev/null 2>&1 || die_setup "pgbackrest backup failed"
"$PGBIN/pgbench" -n -T 3 -h "$PGB_HOST" -p "$PGB_PORT" -U postgres bench >/dev/null 2>&1
sleep 1.1
T=$(date -u +%FT%TZ)
sleep 1.1
"$PGBIN/pgbench" -n -T 1 -h "$PGB_HOST" -p "$PGB_PORT" -U postgres bench >/dev/null 2>&1
keep=$PGB_DIR/kept
mkdir -p "$keep" && chown postgres: "$keep"
by_hand_pgbr() {
    local aside=$keep/hand-$RANDOM$RANDOM
    pg_as_postgres "$PGBIN/pg_ctl" -D "$PGB_DATA" -m fast -w stop >/dev/null || return 1
    mv "$PGB_DATA" "$aside" || return 1
    pg_as_postgres mkdir -m 0700 "$PGB_DATA" || return 1
    pg_pgbackrest PGB restore --delta --type=time "--target=$(date -ud "$T" "+%F %T+00")" --target-action=promote >/dev/null || return 1
    pg_as_postgres "$PGBIN/pg_ctl" -D "$PGB_DATA" -l "$PGB_LOG" -W start >/dev/null || return 1
    wait_out_of_recovery "$PGB_DATA" "$PGB_HOST" "$PGB_PORT"
}
by_drplay_pgbr() {
    PRESERVE_AS=bench-$RANDOM$RANDOM "$DRPLAY" run "$BP/pitr_bench.yaml" --journal-dir "$J" --param to="$T" --param driver=pgbackrest
}
tidy_pgbr() {
    pg_sql PGB postgres "insert into bench_marks values (clock_timestamp())" >/dev/null
    rm -rf "$keep"/hand-* "$PGB_DIR"/drplay-preserved/bench-*
}
vals=() bases=()
for ((i = 0; i < N; i++)); do
    b=$(bench_time by_hand_pgbr) || die_setup "the by-hand pgbackrest restore failed"
    tidy_pgbr
    v=$(bench_time by_drplay_pgbr) || die_setup "drplay's pgbackrest restore failed (see $J)"
    tidy_pgbr
    bases+=("$b") vals+=("$v")
done
bv=$(printf '%s\n' "${vals[@]}" | sort -g | head -1)
bb=$(printf '%s\n' "${bases[@]}" | sort -g | head -1)
bench_report pitr_restore_pgbackrest "$bv" s "$bb" 1.05
fi
