#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# tests/bench/bench_verify_diff.sh - bench verify_diff: the restore preview
# of a 3,000,000-row table (pgbench_accounts, scale 30) with 1% of its rows
# deleted (every 100th aid), against verify.compare of the same two states
# with the same inputs (both max_queries 1000), in the same run: the
# figures are the two steps' durations from the journal, best of N runs.
# verify.diff must name every deleted row (exact counts); verify.compare
# narrows within its budget and fails, as it should on a difference.
set -u
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/lib.sh"
. "$T_LIB/pg.sh"
require_drplay
PB=$ROOT/tests/bench/playbooks
J=$(t_tmpdir journal) || die_setup "no temp dir"
N=${BENCH_VERIFY_DIFF_RUNS:-3}
pg_start BENCH --conf shared_buffers=256MB
echo "# bench_verify_diff: creating pgbench scale 30 and a copy with 1% of the rows deleted..." >&2
pg_pgbench_init BENCH a 30
pg_psql BENCH -c "CREATE DATABASE b TEMPLATE a" >/dev/null || die_setup "cannot copy a"
pg_sql BENCH b "DELETE FROM pgbench_accounts WHERE aid % 100 = 0" >/dev/null || die_setup "cannot delete"
for db in a b; do pg_sql BENCH "$db" "VACUUM ANALYZE" >/dev/null; done
export A_DSN=${BENCH_DSN%/postgres}/a B_DSN=${BENCH_DSN%/postgres}/b
best_d="" best_c=""
for ((i = 0; i < N; i++)); do
	"$DRPLAY" run --journal-dir "$J" "$PB/verify_diff.yaml" >/dev/null 2>&1
	f=$(ls -t "$J"/*.jsonl | head -1)
	d=$(jq -r 'select(.event=="step_end" and .step=="diff" and .outcome=="ok") | .duration_s' "$f")
	c=$(jq -r 'select(.event=="step_end" and .step=="compare") | .duration_s' "$f")
	n=$(jq -r 'select(.event=="step_end" and .step=="diff") | .outputs.brought_back' "$f")
	x=$(jq -r 'select(.event=="step_end" and .step=="diff") | .outputs.exact' "$f")
	if [[ -z $d || -z $c || $n != 30000 || $x != true ]]; then
		echo "bench_verify_diff: the preview did not name the 30000 deleted rows exactly (got '$n', exact '$x')" >&2
		exit 1
	fi
	if [[ -z $best_d ]] || awk -v a="$d" -v b="$best_d" 'BEGIN { exit !(a < b) }'; then best_d=$d; fi
	if [[ -z $best_c ]] || awk -v a="$c" -v b="$best_c" 'BEGIN { exit !(a < b) }'; then best_c=$c; fi
done
bench_report verify_diff "$best_d" s "$best_c" 1.5
