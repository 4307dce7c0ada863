#!/usr/bin/env bash
# tests/run.sh: runs every test of drplay and ends with "N passed, N failed".
#
# Each part prints one line per test, "PASS: name" or "FAIL: name: why"
# (tests/unit/unit.h and tests/lib/common.sh make them). A part that exits
# non-zero without reporting a failure counts as one failure, so a crashed
# script can never pass silently, and a part that reports nothing at all is a
# failure too. A test that cannot start a server it needs fails; nothing is
# skipped.
#
# Parts run DRPLAY_TEST_JOBS at a time (default 3: most of a part's time is
# spent waiting for servers and disks, and every part uses its own servers on
# its own ports). The longest parts start first.
#
#   bash tests/run.sh                 everything (what `make check` runs)
#   bash tests/run.sh PATTERN...      only the parts whose path contains PATTERN
set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$(pwd)
export ROOT
OUT=${DRPLAY_TEST_OUT:-$ROOT/build/test-out}
JOBS=${DRPLAY_TEST_JOBS:-3}
rm -rf "$OUT"
mkdir -p "$OUT"
: >"$OUT/results"

parts=()
# Slow parts first, so that the parallel tail is short.
for s in tests/fault/*.sh tests/integration/*.sh; do [ -f "$s" ] && parts+=("$s"); done
[ -f tests/fuzz/run_fuzz.sh ] && parts+=(tests/fuzz/run_fuzz.sh)
parts+=(tests/cases/run_cases.sh)
for u in build/unit/test_*; do [ -x "$u" ] && parts+=("$u"); done

if [ $# -gt 0 ]; then
	sel=()
	for p in "${parts[@]}"; do
		for pat in "$@"; do
			case "$p" in *"$pat"*) sel+=("$p"); break ;; esac
		done
	done
	parts=("${sel[@]}")
fi

run_part() { # PART NAME: runs one part, writes NAME.out, NAME.log, NAME.rc, NAME.secs
	local p=$1 name=$2 start rc
	start=$(date +%s)
	case "$p" in
	*.sh) timeout --kill-after=30 1500 bash "$p" >"$OUT/$name.out" 2>"$OUT/$name.log" ;;
	*) timeout --kill-after=30 600 "$p" >"$OUT/$name.out" 2>"$OUT/$name.log" ;;
	esac
	rc=$?
	echo $(($(date +%s) - start)) >"$OUT/$name.secs"
	echo "$rc" >"$OUT/$name.rc"
}

report_part() { # PART NAME: prints and records what a finished part said
	local p=$1 name=$2 rc fails passes
	rc=$(cat "$OUT/$name.rc")
	grep -E '^(PASS|FAIL): ' "$OUT/$name.out" | tee -a "$OUT/results"
	fails=$(grep -c '^FAIL: ' "$OUT/$name.out")
	passes=$(grep -c '^PASS: ' "$OUT/$name.out")
	if [ "$rc" -ne 0 ] && [ "$fails" -eq 0 ]; then
		echo "FAIL: $p: exited with status $rc without reporting a failure (see $OUT/$name.log)" | tee -a "$OUT/results"
	fi
	if [ "$rc" -eq 0 ] && [ "$passes" -eq 0 ] && [ "$fails" -eq 0 ]; then
		echo "FAIL: $p: reported no tests at all" | tee -a "$OUT/results"
	fi
	if [ "$fails" -gt 0 ] || [ "$rc" -ne 0 ]; then
		echo "---- last lines of $OUT/$name.log ----"
		tail -n 25 "$OUT/$name.log"
		echo "----"
	fi
	echo "# $p: $(cat "$OUT/$name.secs")s"
}

t0=$(date +%s)
declare -A running=()
next=0
while [ $next -lt ${#parts[@]} ] || [ ${#running[@]} -gt 0 ]; do
	while [ $next -lt ${#parts[@]} ] && [ ${#running[@]} -lt "$JOBS" ]; do
		p=${parts[$next]}
		name=${p//\//_}
		run_part "$p" "$name" &
		running[$!]="$p"
		next=$((next + 1))
	done
	wait -n -p done_pid 2>/dev/null || true
	if [ -n "${done_pid:-}" ] && [ -n "${running[$done_pid]:-}" ]; then
		p=${running[$done_pid]}
		unset "running[$done_pid]"
		report_part "$p" "${p//\//_}"
	else
		# wait -n without -p support, or a stray child: find finished parts
		for pid in "${!running[@]}"; do
			if ! kill -0 "$pid" 2>/dev/null; then
				p=${running[$pid]}
				unset "running[$pid]"
				wait "$pid" 2>/dev/null
				report_part "$p" "${p//\//_}"
			fi
		done
	fi
	done_pid=
done
passed=$(grep -c '^PASS: ' "$OUT/results")
failed=$(grep -c '^FAIL: ' "$OUT/results")
echo "# all parts: $(($(date +%s) - t0))s with $JOBS at a time; logs in $OUT"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
