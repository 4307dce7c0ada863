#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# tests/bench/bench_proof.sh - the proof taken with a dump (SPEC.md 8.5.7),
# side by side with the plain tools, on a pgbench database of scale
# BENCH_PROOF_SCALE (default 30, about 384 MB of table data, bench_offsite's
# size; times BENCH_SCALE_FACTOR, see `make bench-scale`) in s3rver behind
# nginx:
#   dump_create_proof          dump.create with its proof (pg_dump and the
#                              proof's readers share the two cores) vs
#                              pg_dump -Fc | curl -T - URL. Target <= 1.35.
#   dump_create_proof_vs_plain the same against dump.create with proof: false
#                              (what the proof costs drplay). Stated, <= 1.35.
#   verify_against_proof       pg.capture of a restored copy (checksums of
#                              every table on the proof's key ranges, counts,
#                              schema, sequences) plus verify.compare against
#                              the proof: the two steps' durations from the
#                              journal, vs psql COPY t TO STDOUT | sha256sum
#                              of the same tables one after the other.
#                              Target <= 1.0.
#   proof_rss                  drplay's peak RSS during dump.create with the
#                              proof (< 64 MB).
# Times are the best of BENCH_RUNS (default 3) runs, taken in turn.
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
SCALE=$((${BENCH_PROOF_SCALE:-30} * ${BENCH_SCALE_FACTOR:-1}))
PB=$ROOT/tests/bench/playbooks/offsite.yaml
J=$T_TMP/journal

pg_start PG --conf maintenance_work_mem=256MB
pg_pgbench_init PG bench "$SCALE" >/dev/null 2>&1 || die_setup "pgbench -i -s $SCALE failed"
s3_start S3
export BENCH_DB_DSN="postgresql://postgres@127.0.0.1:$PG_PORT/bench"
export BENCH_S3_ENDPOINT=$S3_ENDPOINT BENCH_S3_BUCKET=$S3_BUCKET BENCH_S3_KEY=$S3_RW_KEY BENCH_S3_SECRET=$S3_SECRET
URL=$S3_ENDPOINT/$S3_BUCKET
PGC=(-h 127.0.0.1 -p "$PG_PORT" -U postgres)
printf '# bench_proof: pgbench scale %s, table data %s\n' "$SCALE" \
    "$(pg_sql PG bench "select pg_size_pretty(sum(pg_relation_size(oid))) from pg_class where relkind = 'r' and relname like 'pgbench%'")" >&2

run_drplay() { "$DRPLAY" run "$PB" --journal-dir "$J" "$@"; }
timed_drplay() { # ARGS... -> wall seconds of one drplay run
    local t0 t1
    t0=$(now)
    run_drplay "$@" >"$T_TMP/run.out" 2>&1 || { cat "$T_TMP/run.out" >&2; return 1; }
    t1=$(now)
    elapsed "$t0" "$t1"
}

# ------------------------------------------------- dump.create with proof ---
t_proof="" t_plain="" t_base=""
for ((i = 0; i < RUNS; i++)); do
    t_proof=$(min "$t_proof" "$(timed_drplay --param op=create --param proof=true)") || exit 1
    sleep 1 # keys are per second
    t_plain=$(min "$t_plain" "$(timed_drplay --param op=create --param proof=false)") || exit 1
    t0=$(now)
    set -o pipefail
    "$PGBIN/pg_dump" -Fc "${PGC[@]}" bench | s3_curl S3 "$S3_RW_KEY" -f -o /dev/null -T - "$URL/bench/base-$i.dump" ||
        { echo "baseline pg_dump | curl failed" >&2; exit 1; }
    set +o pipefail
    t1=$(now)
    t_base=$(min "$t_base" "$(elapsed "$t0" "$t1")")
    sleep 1
done
rss=$(drplay_peak_kb "$DRPLAY" run "$PB" --journal-dir "$J" --param op=create --param proof=true) || exit 1
bench_report dump_create_proof "$t_proof" s "$t_base" 1.35
bench_report dump_create_proof_vs_plain "$t_proof" s "$t_plain" 1.35
bench_report proof_rss "$(awk -v k="$rss" 'BEGIN { printf "%.1f\n", k / 1024 }')" MB 0 64 value

# ------------------------------------------- verification against the proof ---
key=$(s3_ls S3 bench/bench- | grep '\.dump$' | sort | tail -n1)
[[ -n $key ]] || die_setup "no dump in the store"
s3_ls S3 "$key.proof.json" | grep -q . || die_setup "the newest dump $key has no proof"
run_drplay --param op=restore --param key="$key" >"$T_TMP/restore.out" 2>&1 || { cat "$T_TMP/restore.out" >&2; exit 1; }
copy=$(pg_sql PG postgres "select datname from pg_database where datname like 'bench_restore_%' order by oid desc limit 1")
[[ -n $copy ]] || die_setup "the restore made no database"
"$PGBIN/vacuumdb" "${PGC[@]}" -q -d "$copy" || die_setup "vacuumdb of the copy failed"
tables=$(pg_sql PG "$copy" "select quote_ident(relname) from pg_class where relkind = 'r' and relnamespace = 'public'::regnamespace order by 1")
step_secs() { # STEP: its duration in the newest journal
    node -e '
const fs = require("fs");
for (const l of fs.readFileSync(process.argv[1], "utf8").split("\n")) {
  if (!l) continue;
  const e = JSON.parse(l);
  if (e.event === "step_end" && e.step === process.argv[2]) console.log(e.duration_s ?? e.duration);
}' "$(ls -t "$J"/*.jsonl | head -n1)" "$1"
}
t_ver="" t_base=""
for ((i = 0; i < RUNS; i++)); do
    run_drplay --param op=verify --param key="$key" --param restored="postgresql://postgres@127.0.0.1:$PG_PORT/$copy" \
        >"$T_TMP/verify.out" 2>&1 || { cat "$T_TMP/verify.out" >&2; exit 1; }
    v=$(awk -v a="$(step_secs capture)" -v b="$(step_secs compare)" 'BEGIN { printf "%.4f\n", a + b }')
    t_ver=$(min "$t_ver" "$v")
    t0=$(now)
    for t in $tables; do
        "$PGBIN/psql" -X -q "${PGC[@]}" -d "$copy" -c "COPY $t TO STDOUT" | sha256sum >/dev/null
    done
    t1=$(now)
    t_base=$(min "$t_base" "$(elapsed "$t0" "$t1")")
done
bench_report verify_against_proof "$t_ver" s "$t_base" 1.0
