#!/usr/bin/env bash
# tests/run.sh: runs every test of drplay and ends with "N passed, N failed".
#
# Each part prints one line per test, "PASS: name" or "FAIL: name: why"
# (tests/unit/unit.h and tests/lib/common.sh make them). A part that exits
# non-zero without reporting a failure counts as one failure, so a crashed
# script can never pass silently. A test that cannot start a server it needs
# fails; nothing is skipped.
#
#   bash tests/run.sh                 everything (what `make check` runs)
#   bash tests/run.sh PATTERN...      only the parts whose path contains PATTERN
set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$(pwd)
export ROOT
OUT=${DRPLAY_TEST_OUT:-$ROOT/build/test-out}
rm -rf "$OUT"
mkdir -p "$OUT"
: >"$OUT/results"

parts=()
for u in build/unit/test_*; do [ -x "$u" ] && parts+=("$u"); done
parts+=(tests/cases/run_cases.sh)
for d in tests/integration tests/fault; do
	for s in "$d"/*.sh; do [ -f "$s" ] && parts+=("$s"); done
done
[ -f tests/fuzz/run_fuzz.sh ] && parts+=(tests/fuzz/run_fuzz.sh)

if [ $# -gt 0 ]; then
	sel=()
	for p in "${parts[@]}"; do
		for pat in "$@"; do
			case "$p" in *"$pat"*) sel+=("$p"); break ;; esac
		done
	done
	parts=("${sel[@]}")
fi

# Longest first when run in parallel would help; sequential keeps server
# start-up from competing for the two cores.
t0=$(date +%s)
for p in "${parts[@]}"; do
	name=${p//\//_}
	log="$OUT/$name.log"
	start=$(date +%s)
	case "$p" in
	*.sh) timeout --kill-after=30 1200 bash "$p" >"$OUT/$name.out" 2>"$log" ;;
	*) timeout --kill-after=30 600 "$p" >"$OUT/$name.out" 2>"$log" ;;
	esac
	rc=$?
	grep -E '^(PASS|FAIL): ' "$OUT/$name.out" >>"$OUT/results"
	grep -E '^(PASS|FAIL): ' "$OUT/$name.out"
	fails=$(grep -c '^FAIL: ' "$OUT/$name.out")
	passes=$(grep -c '^PASS: ' "$OUT/$name.out")
	if [ "$rc" -ne 0 ] && [ "$fails" -eq 0 ]; then
		echo "FAIL: $p: exited with status $rc without reporting a failure (see $log)" | tee -a "$OUT/results"
	fi
	if [ "$rc" -eq 0 ] && [ "$passes" -eq 0 ] && [ "$fails" -eq 0 ]; then
		echo "FAIL: $p: reported no tests at all" | tee -a "$OUT/results"
	fi
	if [ "$fails" -gt 0 ] || [ "$rc" -ne 0 ]; then
		echo "---- last lines of $log ----"
		tail -n 25 "$log"
		echo "----"
	fi
	echo "# $p: $(( $(date +%s) - start ))s"
done
passed=$(grep -c '^PASS: ' "$OUT/results")
failed=$(grep -c '^FAIL: ' "$OUT/results")
echo "# all parts: $(( $(date +%s) - t0 ))s; logs in $OUT"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
