#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# tests/bench/bench_offsite.sh - off-site dumps against the plain tools, side
# by side, with a pgbench database of scale 30 (about 384 MB of table data)
# and its dump held in s3rver behind nginx:
#   dump.restore (1 job)   vs  curl -s URL | pg_restore -d DB       (<= 1.10)
#   dump.restore (jobs: 2) vs  curl -o FILE URL; pg_restore -j 2 FILE (<= 1.10)
#   dump.create            vs  pg_dump -Fc | curl -T - URL          (<= 1.10)
#                              (proof: false; bench_proof.sh measures the proof)
#   offsite.check          vs  curl -s URL | sha256sum              (<= 1.20)
# and drplay's own peak RSS in each (< 64 MB; sampled from /proc, so it
# counts drplay alone, not pg_dump or pg_restore). Both sides create the
# database they restore into (drplay's into: new; createdb for the tools).
# Times are the best of BENCH_RUNS (default 3) runs.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=lib.sh
. "$ROOT/tests/bench/lib.sh"
# shellcheck source=../lib/pg.sh
. "$T_LIB/pg.sh"
# shellcheck source=../lib/s3.sh
. "$T_LIB/s3.sh"
require_drplay

RUNS=${BENCH_RUNS:-3}
SCALE=${BENCH_SCALE:-30}
PB=$ROOT/tests/bench/playbooks/offsite.yaml

pg_start PG --conf maintenance_work_mem=256MB
pg_pgbench_init PG bench "$SCALE" >/dev/null 2>&1 || die_setup "pgbench -i -s $SCALE failed"
s3_start S3
export BENCH_DB_DSN="postgresql://postgres@127.0.0.1:$PG_PORT/bench"
export BENCH_S3_ENDPOINT=$S3_ENDPOINT BENCH_S3_BUCKET=$S3_BUCKET BENCH_S3_KEY=$S3_RW_KEY BENCH_S3_SECRET=$S3_SECRET
URL=$S3_ENDPOINT/$S3_BUCKET
PGC=(-h 127.0.0.1 -p "$PG_PORT" -U postgres)
printf '# table data: %s\n' "$(pg_sql PG bench "select pg_size_pretty(sum(pg_relation_size(oid))) from pg_class where relkind = 'r' and relname like 'pgbench%'")" >&2

drop_restored() {
    local d
    for d in $(pg_sql PG postgres "select datname from pg_database where datname like 'bench_restore_%' or datname like 'base_%'"); do
        "$PGBIN/dropdb" "${PGC[@]}" "$d" || return 1
    done
}

run_drplay() { "$DRPLAY" run "$PB" --journal-dir "$T_TMP/journal" "$@"; }

# ---------------------------------------------------------- dump.create ---
t_drplay="" t_base=""
for ((i = 0; i < RUNS; i++)); do
    t0=$(now)
    run_drplay --param op=create >"$T_TMP/create.out" 2>&1 || { cat "$T_TMP/create.out" >&2; exit 1; }
    t1=$(now)
    t_drplay=$(min "$t_drplay" "$(elapsed "$t0" "$t1")")
    sleep 1 # keys are per second
    t0=$(now)
    set -o pipefail
    "$PGBIN/pg_dump" -Fc "${PGC[@]}" bench | s3_curl S3 "$S3_RW_KEY" -f -o /dev/null -T - "$URL/bench/base-$i.dump" ||
        { echo "baseline pg_dump | curl failed" >&2; exit 1; }
    set +o pipefail
    t1=$(now)
    t_base=$(min "$t_base" "$(elapsed "$t0" "$t1")")
done
sleep 1
rss_create=$(drplay_peak_kb "$DRPLAY" run "$PB" --journal-dir "$T_TMP/journal" --param op=create) || exit 1
key=$(s3_ls S3 bench/bench- | grep '\.dump$' | sort | tail -n1)
[[ -n $key ]] || die_setup "no dump in the store"
s3_get S3 "$key" "$T_TMP/obj" || die_setup "cannot download $key"
printf '# dump object: %s, %s bytes\n' "$key" "$(stat -c %s "$T_TMP/obj")" >&2
bench_report offsite_dump_create "$t_drplay" s "$t_base" 1.10

# -------------------------------------------------------- offsite.check ---
t_drplay="" t_base=""
for ((i = 0; i < RUNS; i++)); do
    t0=$(now)
    run_drplay --param op=check --param key="$key" >"$T_TMP/check.out" 2>&1 || { cat "$T_TMP/check.out" >&2; exit 1; }
    t1=$(now)
    t_drplay=$(min "$t_drplay" "$(elapsed "$t0" "$t1")")
    t0=$(now)
    s3_curl S3 "$S3_RW_KEY" -f "$URL/$key" | sha256sum >/dev/null
    t1=$(now)
    t_base=$(min "$t_base" "$(elapsed "$t0" "$t1")")
done
rss_check=$(drplay_peak_kb "$DRPLAY" run "$PB" --journal-dir "$T_TMP/journal" --param op=check --param key="$key") || exit 1
bench_report offsite_check "$t_drplay" s "$t_base" 1.20

# ------------------------------------------------ dump.restore, 1 job ---
t_drplay="" t_base=""
for ((i = 0; i < RUNS; i++)); do
    t0=$(now)
    run_drplay --param op=restore --param key="$key" >"$T_TMP/restore.out" 2>&1 || { cat "$T_TMP/restore.out" >&2; exit 1; }
    t1=$(now)
    t_drplay=$(min "$t_drplay" "$(elapsed "$t0" "$t1")")
    drop_restored || exit 1
    t0=$(now)
    "$PGBIN/createdb" "${PGC[@]}" base_1 &&
        s3_curl S3 "$S3_RW_KEY" -f "$URL/$key" | "$PGBIN/pg_restore" "${PGC[@]}" -d base_1 ||
        { echo "baseline curl | pg_restore failed" >&2; exit 1; }
    t1=$(now)
    t_base=$(min "$t_base" "$(elapsed "$t0" "$t1")")
    drop_restored || exit 1
done
rss_restore=$(drplay_peak_kb "$DRPLAY" run "$PB" --journal-dir "$T_TMP/journal" --param op=restore --param key="$key") || exit 1
drop_restored
bench_report offsite_restore_1job "$t_drplay" s "$t_base" 1.10

# ---------------------------------------------- dump.restore, jobs: 2 ---
t_drplay="" t_base=""
for ((i = 0; i < RUNS; i++)); do
    t0=$(now)
    run_drplay --param op=restore --param key="$key" --param jobs=2 >"$T_TMP/restore2.out" 2>&1 ||
        { cat "$T_TMP/restore2.out" >&2; exit 1; }
    t1=$(now)
    t_drplay=$(min "$t_drplay" "$(elapsed "$t0" "$t1")")
    drop_restored || exit 1
    t0=$(now)
    "$PGBIN/createdb" "${PGC[@]}" base_2 &&
        s3_curl S3 "$S3_RW_KEY" -f -o "$T_TMP/local.dump" "$URL/$key" &&
        "$PGBIN/pg_restore" "${PGC[@]}" -j 2 -d base_2 "$T_TMP/local.dump" ||
        { echo "baseline curl -o; pg_restore -j 2 failed" >&2; exit 1; }
    rm -f "$T_TMP/local.dump"
    t1=$(now)
    t_base=$(min "$t_base" "$(elapsed "$t0" "$t1")")
    drop_restored || exit 1
done
rss_restore2=$(drplay_peak_kb "$DRPLAY" run "$PB" --journal-dir "$T_TMP/journal" --param op=restore --param key="$key" --param jobs=2) || exit 1
drop_restored
bench_report offsite_restore_2jobs "$t_drplay" s "$t_base" 1.10

# ------------------------------------------------------------ peak RSS ---
# baseline: curl's own peak while downloading the same object
rss_curl=$(bench_rss_kb curl -sS -f --aws-sigv4 "aws:amz:$S3_REGION:s3" --user "$S3_RW_KEY:$S3_SECRET" \
    -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -o /dev/null "$URL/$key") || exit 1
mb() { awk -v k="$1" 'BEGIN { printf "%.1f\n", k / 1024 }'; }
bench_report offsite_rss_dump_create "$(mb "$rss_create")" MB "$(mb "$rss_curl")" 64 value
bench_report offsite_rss_check "$(mb "$rss_check")" MB "$(mb "$rss_curl")" 64 value
bench_report offsite_rss_restore_1job "$(mb "$rss_restore")" MB "$(mb "$rss_curl")" 64 value
bench_report offsite_rss_restore_2jobs "$(mb "$rss_restore2")" MB "$(mb "$rss_curl")" 64 value
