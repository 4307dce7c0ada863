# shellcheck shell=bash source-path=SCRIPTDIR
# tests/lib/sandbox.sh - the whole world the shipped playbooks run against,
# made of real parts on loopback (used by `make demo`, the drill tests and the
# fault suite):
#
#   PROD   PostgreSQL 15 with WAL archiving into a directory, the shop
#          database (tests/demo/shop.sql) and a base backup by pg_basebackup
#          (the local pitr driver's history); a `scratch` database for
#          validation restores of the dump
#   S3     s3rver behind nginx (read-only key enforced), holding the nightly
#          dump made by dump.create (tests/demo/nightly_dump.yaml)
#   SWITCH the HTTP maintenance flag service (flag 'site')
#   WEB    the web application (reads the flag: 503 while maintenance is on)
#   APP    the application simulator writing public.app_writes every 20 ms
#          unless the flag is on (fail open), reconnecting after restarts
#
#   sandbox_start [--scale S] [--no-app] [--flag-token T]
#       S multiplies shop.sql's row counts (1 = about 200 MB; tests use 0.02);
#       T: the flag service's read-write token (tests that look for leaks
#       give it a distinctive value)
#   Exports what the playbooks read (PROD_DATABASE_URL, PROD_DATA_DIR,
#   PROD_WAL_ARCHIVE, PROD_BASE_BACKUPS, BACKUP_S3_ENDPOINT, BACKUP_S3_KEY_ID
#   (read-only), BACKUP_S3_SECRET, SCRATCH_DATABASE_URL, FLAG_URL, FLAG_TOKEN,
#   APP_URL, DRPLAY_DISASTER_TOKEN) and SANDBOX_PARAMS, the --param options
#   that point the playbooks at this store. Everything stops at exit.
#   sandbox_dump         run the nightly dump again (dump.create, read-write key)
#   sandbox_acked        the highest application write committed so far
#   sandbox_flag         the flag's maintenanceMode (true/false)

# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# shellcheck source=pg.sh
. "$T_LIB/pg.sh"
# shellcheck source=s3.sh
. "$T_LIB/s3.sh"
# shellcheck source=flag.sh
. "$T_LIB/flag.sh"
# shellcheck source=web.sh
. "$T_LIB/web.sh"
# shellcheck source=appsim.sh
. "$T_LIB/appsim.sh"

sandbox_start() {
    local scale=1 app=1 ftok=()
    while (($#)); do
        case $1 in
        --scale) scale=$2; shift ;;
        --no-app) app=0 ;;
        --flag-token) ftok=(--token "$2"); shift ;;
        *) die_setup "sandbox_start: unknown option '$1'" ;;
        esac
        shift
    done
    pg_start PROD --archive
    pg_createdb PROD shop
    pg_createdb PROD scratch
    pg_psql PROD -d shop -v scale="$scale" -f "$ROOT/tests/demo/shop.sql" >/dev/null ||
        die_setup "sandbox: loading tests/demo/shop.sql failed"
    # the application's own table, with a month of history (negative seq;
    # the simulator counts up from 1), so a day's writes are a small share
    pg_sql PROD shop "create table app_writes (seq int primary key, written_at timestamptz not null default clock_timestamp(), decision text not null);
        insert into app_writes select -i, now() - i * interval '10 seconds', 'write' from generate_series(1, 250000) i" >/dev/null ||
        die_setup "sandbox: cannot create app_writes"
    export PROD_DATABASE_URL="postgresql://postgres@127.0.0.1:$PROD_PORT/shop"
    export SCRATCH_DATABASE_URL="postgresql://postgres@127.0.0.1:$PROD_PORT/scratch"
    export PROD_DATA_DIR=$PROD_DATA PROD_WAL_ARCHIVE=$PROD_ARCHIVE PROD_BASE_BACKUPS=$PROD_DIR/base_backups
    mkdir -p "$PROD_BASE_BACKUPS" && chown postgres: "$PROD_BASE_BACKUPS" 2>/dev/null
    pg_as_postgres "$PGBIN/pg_basebackup" -D "$PROD_BASE_BACKUPS/nightly" -X stream -c fast \
        -h "$PROD_HOST" -p "$PROD_PORT" -U postgres >/dev/null 2>&1 || die_setup "sandbox: pg_basebackup failed"

    s3_start S3
    flag_start SWITCH "${ftok[@]}"
    export FLAG_URL=$SWITCH_FLAG_URL FLAG_TOKEN=$SWITCH_TOKEN
    web_start WEB --flag-url "$SWITCH_FLAG_URL" --flag-token "$SWITCH_TOKEN" --flag-fail open
    export APP_URL=$WEB_URL
    if ((app)); then
        appsim_start APP --dsn "$PROD_DATABASE_URL" --table app_writes --fail open \
            --flag "http:$SWITCH_FLAG_URL,$SWITCH_TOKEN" --reconnect
    fi

    export BACKUP_S3_ENDPOINT=$S3_ENDPOINT BACKUP_S3_KEY_ID=$S3_RO_KEY BACKUP_S3_SECRET=$S3_SECRET
    export DRPLAY_DISASTER_TOKEN=sandbox-disaster-token
    SANDBOX_PARAMS=(--param bucket="$S3_BUCKET" --param region="$S3_REGION" --param path_style=true)
    sandbox_dump
}

# The nightly dump job: dump.create with the read-write key.
sandbox_dump() {
    local out
    out=$(BACKUP_S3_KEY_ID=$S3_RW_KEY "$DRPLAY" run "$ROOT/tests/demo/nightly_dump.yaml" \
        --journal-dir "$T_TMP/dump-journal" "${SANDBOX_PARAMS[@]}" 2>&1) ||
        { printf '%s\n' "$out" >&2; die_setup "sandbox: the nightly dump failed"; }
}

sandbox_acked() {
    pg_sql PROD shop "select coalesce(max(seq), 0) from app_writes"
}

sandbox_flag() {
    flag_get SWITCH site | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).maintenanceMode))'
}
