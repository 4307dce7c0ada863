# shellcheck shell=bash
# tests/bench/lib.sh: helpers for benchmark scripts (sourced after
# tests/lib/common.sh). Every benchmark prints exactly one line:
#   bench NAME: value=V unit=U baseline=B ratio=R target=T PASS|FAIL
# where the baseline is the real reference tool measured side by side in the
# same script, ratio = value / baseline, and the target applies to the ratio
# (kind "ratio") or to the value itself (kind "value"; e.g. start-up in ms).

# bench_report NAME VALUE UNIT BASELINE TARGET [ratio|value] [at_least]
# With at_least, PASS means the compared number is >= TARGET (speed-ups).
bench_report() {
	local name=$1 value=$2 unit=$3 base=$4 target=$5 kind=${6:-ratio} dir=${7:-at_most}
	awk -v n="$name" -v v="$value" -v u="$unit" -v b="$base" -v t="$target" -v k="$kind" -v d="$dir" 'BEGIN {
		r = (b > 0) ? v / b : 0
		x = (k == "ratio") ? r : v
		ok = (d == "at_least") ? (x >= t) : (x <= t)
		printf "bench %s: value=%.4g unit=%s baseline=%.4g ratio=%.3f target=%s %s\n", n, v, u, b, r, t, ok ? "PASS" : "FAIL"
	}'
}

# bench_time CMD...: wall seconds of one run of CMD (stdout/stderr discarded),
# printed with millisecond precision. Fails the script if CMD fails.
bench_time() {
	local t0 t1
	t0=$(date +%s.%N)
	"$@" >/dev/null 2>&1 || { echo "bench_time: '$*' failed" >&2; return 1; }
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }'
}

# bench_best N CMD...: the best (lowest) of N timings, to damp noise.
bench_best() {
	local n=$1 best="" t i
	shift
	for ((i = 0; i < n; i++)); do
		t=$(bench_time "$@") || return 1
		if [ -z "$best" ] || awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$t; fi
	done
	echo "$best"
}

# bench_rss_kb CMD...: peak resident memory of CMD in KiB (GNU time's %M).
bench_rss_kb() {
	local f
	f=$(mktemp)
	/usr/bin/time -f '%M' -o "$f" "$@" >/dev/null 2>&1 || { rm -f "$f"; echo "bench_rss_kb: '$*' failed" >&2; return 1; }
	tail -n 1 "$f"
	rm -f "$f"
}

# drplay_peak_kb CMD...: runs CMD (drplay itself, not a wrapper) and prints
# its peak resident set (VmHWM, KiB) sampled every 20 ms from /proc, so it
# counts drplay alone, not the tools it runs. Its output goes to
# $T_TMP/peak.out (shown when it fails).
drplay_peak_kb() {
	local pid hwm=0 v
	"$@" >"$T_TMP/peak.out" 2>&1 &
	pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		v=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$pid/status" 2>/dev/null)
		[[ -n $v ]] && ((v > hwm)) && hwm=$v
		sleep 0.02
	done
	wait "$pid" || { cat "$T_TMP/peak.out" >&2; return 1; }
	echo "$hwm"
}

# now: the wall clock (s.ns); elapsed A B: B - A; min A B: the smaller ("" = none yet)
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f\n", b - a }'; }
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b < a) ? b : a }'; }
