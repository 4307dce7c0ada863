#!/usr/bin/env bash
# tests/run.sh: runs every test of drplay and ends with "N passed, N failed".
#
# Each part prints one line per test, "PASS: name" or "FAIL: name: why"
# (tests/unit/unit.h and tests/lib/common.sh make them). A part that exits
# non-zero without reporting a failure counts as one failure, so a crashed
# script can never pass silently, and a part that reports nothing at all is a
# failure too. A unit test source without its built binary is a failure (the
# count never shrinks silently). A test that cannot start a server it needs
# fails; nothing is skipped.
#
# With --sanitized (what `make check` runs), every part runs twice: against
# the release build (./drplay, tests/drplay-test, build/unit/) and against the
# ASan+UBSan build (build/san/drplay, build/san/drplay-test, build/unit-san/),
# whose lines are marked "[san]". The fuzz part runs once: its targets are
# sanitized builds already. Benchmarks are not tests and run in `make bench`.
#
# Parts run DRPLAY_TEST_JOBS at a time (default 3: most of a part's time is
# spent waiting for servers and disks, and every part uses its own servers on
# its own ports). The longest parts start first.
#
#   bash tests/run.sh                 everything, release build
#   bash tests/run.sh --sanitized     everything, both builds (make check)
#   bash tests/run.sh PATTERN...      only the parts whose path contains PATTERN
set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$(pwd)
export ROOT
OUT=${DRPLAY_TEST_OUT:-$ROOT/build/test-out}
JOBS=${DRPLAY_TEST_JOBS:-3}
SAN=0
if [ "${1:-}" = "--sanitized" ]; then
	SAN=1
	shift
fi
rm -rf "$OUT"
mkdir -p "$OUT/sanitizer"
: >"$OUT/results"

# unit_parts DIR: the unit test binaries of one build; a source without its
# binary is reported as a failure of that build.
unit_parts() {
	local dir=$1 src bin
	for src in tests/unit/test_*.c; do
		[ -f "$src" ] || continue
		bin=$dir/$(basename "$src" .c)
		if [ -x "$bin" ]; then
			echo "$bin"
		else
			echo "FAIL: $bin: not built from $src (make units)" >>"$OUT/missing"
		fi
	done
}

parts=()
# Slow parts first, so that the parallel tail is short.
for s in tests/fault/*.sh tests/integration/*.sh; do [ -f "$s" ] && parts+=("$s"); done
[ -f tests/fuzz/run_fuzz.sh ] && parts+=(tests/fuzz/run_fuzz.sh)
parts+=(tests/cases/run_cases.sh)
: >"$OUT/missing"
while IFS= read -r u; do parts+=("$u"); done < <(unit_parts build/unit)

# The sanitized pass: the same parts (units from build/unit-san) but fuzz.
if [ $SAN -eq 1 ]; then
	[ -x build/san/drplay ] && [ -x build/san/drplay-test ] ||
		echo "FAIL: sanitized build: build/san/drplay or build/san/drplay-test missing (make SANITIZE=address,undefined BIN=build/san/drplay TBIN=build/san/drplay-test all)" >>"$OUT/missing"
	n=${#parts[@]}
	for ((i = 0; i < n; i++)); do
		case "${parts[$i]}" in
		tests/fuzz/*) ;;
		build/unit/*) ;;
		*) parts+=("san:${parts[$i]}") ;;
		esac
	done
	while IFS= read -r u; do parts+=("san:$u"); done < <(unit_parts build/unit-san)
fi

if [ $# -gt 0 ]; then
	sel=()
	for p in "${parts[@]}"; do
		for pat in "$@"; do
			case "$p" in *"$pat"*) sel+=("$p"); break ;; esac
		done
	done
	parts=("${sel[@]}")
	# a selection reports only the missing unit tests it asked for
	grep -F -f <(printf '%s\n' "$@") "$OUT/missing" >"$OUT/missing.sel" 2>/dev/null
	mv "$OUT/missing.sel" "$OUT/missing"
fi
# Interleave the two builds' parts so the slow ones of both start early.
if [ $SAN -eq 1 ] && [ ${#parts[@]} -gt 0 ]; then
	rel=() san=()
	for p in "${parts[@]}"; do case "$p" in san:*) san+=("$p") ;; *) rel+=("$p") ;; esac; done
	parts=()
	for ((i = 0; i < ${#rel[@]} || i < ${#san[@]}; i++)); do
		[ $i -lt ${#san[@]} ] && parts+=("${san[$i]}")
		[ $i -lt ${#rel[@]} ] && parts+=("${rel[$i]}")
	done
fi

run_part() { # PART NAME: runs one part, writes NAME.out, NAME.log, NAME.rc, NAME.secs
	local p=$1 name=$2 start rc
	local -a env=()
	case "$p" in
	san:*)
		p=${p#san:}
		# Reports go to files as well as stderr (log_path), so one is found
		# even when a test expected the failing exit code: see san_reports.
		env=(DRPLAY_BIN="$ROOT/build/san/drplay" DRPLAY_TEST_BIN="$ROOT/build/san/drplay-test"
			ASAN_OPTIONS="exitcode=86:detect_leaks=1:log_path=$OUT/sanitizer/$name.asan"
			UBSAN_OPTIONS="exitcode=86:halt_on_error=1:print_stacktrace=1:log_path=$OUT/sanitizer/$name.ubsan")
		;;
	esac
	start=$(date +%s)
	case "$p" in
	*.sh) env "${env[@]}" timeout --kill-after=30 1500 bash "$p" >"$OUT/$name.out" 2>"$OUT/$name.log" ;;
	*) env "${env[@]}" timeout --kill-after=30 600 "$p" >"$OUT/$name.out" 2>"$OUT/$name.log" ;;
	esac
	rc=$?
	echo $(($(date +%s) - start)) >"$OUT/$name.secs"
	echo "$rc" >"$OUT/$name.rc"
}

report_part() { # PART NAME: prints and records what a finished part said
	local p=$1 name=$2 rc fails passes tag=""
	case "$p" in san:*) tag="[san] " ;; esac
	rc=$(cat "$OUT/$name.rc")
	grep -E '^(PASS|FAIL): ' "$OUT/$name.out" | sed -E "s/^(PASS|FAIL): /\1: $tag/" | tee -a "$OUT/results"
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
tee -a "$OUT/results" <"$OUT/missing"
declare -A running=()
next=0
while [ $next -lt ${#parts[@]} ] || [ ${#running[@]} -gt 0 ]; do
	while [ $next -lt ${#parts[@]} ] && [ ${#running[@]} -lt "$JOBS" ]; do
		p=${parts[$next]}
		name=${p//[\/:]/_}
		run_part "$p" "$name" &
		running[$!]="$p"
		next=$((next + 1))
	done
	wait -n -p done_pid 2>/dev/null || true
	if [ -n "${done_pid:-}" ] && [ -n "${running[$done_pid]:-}" ]; then
		p=${running[$done_pid]}
		unset "running[$done_pid]"
		report_part "$p" "${p//[\/:]/_}"
	else
		# wait -n without -p support, or a stray child: find finished parts
		for pid in "${!running[@]}"; do
			if ! kill -0 "$pid" 2>/dev/null; then
				p=${running[$pid]}
				unset "running[$pid]"
				wait "$pid" 2>/dev/null
				report_part "$p" "${p//[\/:]/_}"
			fi
		done
	fi
	done_pid=
done
# Every sanitizer report of the [san] pass is a failure, whatever the test saw.
for f in "$OUT"/sanitizer/*; do
	[ -f "$f" ] || continue
	echo "FAIL: [san] $(basename "$f"): $(grep -m1 -E 'ERROR|runtime error' "$f" | cut -c1-300)" | tee -a "$OUT/results"
done
passed=$(grep -c '^PASS: ' "$OUT/results")
failed=$(grep -c '^FAIL: ' "$OUT/results")
echo "# all parts: $(($(date +%s) - t0))s with $JOBS at a time; logs in $OUT"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
