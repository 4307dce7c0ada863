#!/usr/bin/env bash
# tests/bench/run.sh: `make bench`. Runs every tests/bench/bench_*.sh; each
# prints its `bench NAME: ...` lines (and diagnostics on stderr). A FAIL line
# is information, not an error: the script exits 0 unless a benchmark could
# not run at all.
set -u
cd "$(dirname "$0")/../.." || exit 2
status=0
for b in tests/bench/bench_*.sh; do
	[ -f "$b" ] || continue
	echo "# $b" >&2
	if ! bash "$b"; then
		echo "bench $(basename "$b" .sh): could not run (see above)"
		status=1
	fi
done
exit $status
