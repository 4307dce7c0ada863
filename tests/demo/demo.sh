#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# tests/demo/demo.sh - `make demo`: the main job on a local sandbox.
#
# Starts the sandbox (tests/lib/sandbox.sh) under a temporary directory: a
# PostgreSQL 15 cluster with WAL archiving and a base backup, the shop
# database (tests/demo/shop.sql, about 200 MB) with an application writing to
# it every 20 ms, an S3-protocol store behind a proxy holding a dump made by
# dump.create, an HTTP maintenance flag and the web application reading it.
# Then runs the two shipped drills as a team would:
#   1. playbooks/nightly_validation.yaml   (validation: nothing is touched)
#   2. playbooks/live_drill.yaml           (disaster: the full chain, in one
#                                           maintenance window)
# prints both reports, stops everything it started, and says where the
# reports and journals are (they are kept; the sandbox is not).
#   DEMO_SCALE=S   the sample database's size factor (default 1)
#   DEMO_OUT=DIR   where reports and journals go (default build/demo/<time>)
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/sandbox.sh
. "$T_LIB/sandbox.sh"
require_drplay

OUT=${DEMO_OUT:-$ROOT/build/demo/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT/reports" "$OUT/journal" || die_setup "cannot create $OUT"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
t0=$SECONDS

step "starting the sandbox (PostgreSQL with WAL archiving, sample shop database, S3 store, maintenance flag, web app, app writing)"
sandbox_start --scale "${DEMO_SCALE:-1}"
size=$(pg_sql PROD shop "select pg_size_pretty(pg_database_size('shop'))")
echo "production: database 'shop' ($size) on 127.0.0.1:$PROD_PORT, WAL archived, base backup taken"
echo "off-site:   s3://$S3_BUCKET/prod on $S3_ENDPOINT (nightly dump made by dump.create); playbooks get a read-only key"
echo "switch:     $FLAG_URL  (the application and the web app read it)"
echo "app:        writing public.app_writes every 20 ms; web app at $APP_URL"
echo "sandbox ready in $((SECONDS - t0)) s"

run() { "$DRPLAY" run "$ROOT/playbooks/$1" --journal-dir "$OUT/journal" "${SANDBOX_PARAMS[@]}" \
    --param report_dir="$OUT/reports" "${@:2}"; }
rc=0

step "1. nightly validation: the newest off-site dump, proven and restored into a throwaway database"
"$DRPLAY" lint "$ROOT/playbooks/nightly_validation.yaml" && echo "lint: clean"
run nightly_validation.yaml --param metrics_file="$OUT/reports/nightly_validation.prom" || rc=1

step "2. live drill: maintenance on, off-site restore, PITR forward to T0, verified with checksums, maintenance off"
"$DRPLAY" lint "$ROOT/playbooks/live_drill.yaml" && echo "lint: clean"
acked=$(sandbox_acked)
run live_drill.yaml --mode=disaster --authorize="$DRPLAY_DISASTER_TOKEN" || rc=1
missing=$(pg_sql PROD shop "select count(*) from generate_series(1, $acked) s where not exists (select 1 from app_writes w where w.seq = s)")
echo "application writes acknowledged before the drill: $acked; missing after it: $missing"
[[ $missing == 0 ]] || rc=1

for r in nightly-validation live-drill; do
    md=$(ls -t "$OUT"/reports/"$r"-*.md 2>/dev/null | head -n1)
    step "report: ${md#"$ROOT"/}"
    if [[ -n $md ]]; then cat "$md"; else echo "(no report written)"; rc=1; fi
done

step "stopping the sandbox"
"$DRPLAY" status --journal-dir "$OUT/journal" | tail -n 4
echo
echo "reports:  ${OUT#"$ROOT"/}/reports  (Markdown, JSON, JUnit XML, Prometheus textfiles)"
echo "journals: ${OUT#"$ROOT"/}/journal  (one JSON line per event; drplay status --journal-dir ${OUT#"$ROOT"/}/journal)"
echo "demo took $((SECONDS - t0)) s; $( ((rc == 0)) && echo "both drills passed" || echo "a drill FAILED: read the report above")"
exit "$rc"
