#!/usr/bin/env bash
# tests/bench/scale.sh: `make bench-scale`. The off-site, PITR and checksum
# paths on a database BENCH_SCALE_FACTOR (default 10) times the bench size,
# each side by side with its raw pipeline and the same ratio targets as at
# 1x, and drplay's peak RSS (under 64 MB):
#   bench_offsite.sh  pgbench scale 30 x F: dump.create, offsite.check,
#                     dump.restore (1 and 2 jobs) and their RSS
#   bench_pitr.sh     pgbench scale 10 x F: pitr.restore, local and pgBackRest
#   bench_proof.sh    pgbench scale 30 x F: dump.create with its proof, and
#                     the restored copy's checksums against it (the checksum
#                     path: pg.capture vs COPY | sha256sum)
# One run of each figure (BENCH_RUNS, default 1: at this size a run takes
# minutes, and noise only ever adds time). Prints the wall time it took.
set -u
cd "$(dirname "$0")/../.." || exit 2
F=${BENCH_SCALE_FACTOR:-10}
RUNS=${BENCH_RUNS:-1}
t0=$SECONDS
status=0
part() { # NAME ENV... : runs tests/bench/NAME.sh with ENV
	local b=$1 t=$SECONDS
	shift
	echo "# tests/bench/$b.sh at ${F}x" >&2
	if ! env "$@" bash "tests/bench/$b.sh"; then
		echo "bench $b: could not run (see above)"
		status=1
	fi
	echo "# tests/bench/$b.sh took $((SECONDS - t)) s" >&2
}
part bench_offsite BENCH_SCALE=$((30 * F)) BENCH_RUNS="$RUNS"
part bench_pitr BENCH_PITR_SCALE=$((10 * F)) BENCH_PITR_RUNS="$RUNS" BENCH_PITR_PARTS="local pgbackrest"
part bench_proof BENCH_SCALE_FACTOR="$F" BENCH_RUNS="$RUNS"
echo "# bench-scale (${F}x) took $((SECONDS - t0)) s" >&2
exit $status
