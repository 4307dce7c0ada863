#!/usr/bin/env bash
# tests/fuzz/run_fuzz.sh: a short fuzzing pass of every libFuzzer target (built
# by `make fuzz` into build/fuzz/) over its seed corpus, as part of
# `make check` (20 s a target). `make fuzz-long` runs the same for
# FUZZ_SECONDS (default 300) a target, before a release. A crash input, once
# fixed, is kept in tests/fuzz/corpus/<target>/ (named regress_*) so every
# later pass replays it first.
# Each target is one test: it passes when no crash, leak, timeout or
# sanitizer report occurred in the time given.
set -u
cd "$(dirname "$0")/../.." || exit 2
secs=${DRPLAY_FUZZ_SECONDS:-20}
for t in build/fuzz/fuzz_*; do
	[ -x "$t" ] || continue
	name=$(basename "$t")
	corpus_src=tests/fuzz/corpus/${name#fuzz_}
	work=$(mktemp -d)
	[ -d "$corpus_src" ] && cp -r "$corpus_src"/. "$work"/
	if "$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
		-print_final_stats=1 "$work" >"build/$name.log" 2>&1; then
		runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "build/$name.log" | grep -oE '[0-9]+$')
		echo "PASS: fuzz/$name: ${runs:-?} inputs in ${secs}s"
	else
		echo "FAIL: fuzz/$name: crash or sanitizer report; see build/$name.log and the crash-* file"
		grep -m5 -E 'ERROR|SUMMARY|crash-' "build/$name.log" >&2
		mv crash-* leak-* timeout-* build/ 2>/dev/null
	fi
	rm -rf "$work"
done
ls build/fuzz/fuzz_* >/dev/null 2>&1 || echo "FAIL: fuzz: no fuzz targets were built (make fuzz)"
