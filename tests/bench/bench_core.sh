#!/usr/bin/env bash
# bench_core.sh: the interpreter's own speed (issue: the core).
#   startup      `drplay --version`, mean of 300 runs; baseline: `psql --version`
#                (another libpq-linked C command-line tool) run the same way.
#                Target: under 5 ms.
#   lint_10k     `drplay lint` of a generated 10,000-step playbook; baseline:
#                parsing the same YAML with js-yaml (node), i.e. the cost of
#                reading the file at all. Target: under 200 ms.
#   lint_50k_errors `drplay lint` of a generated playbook with 50,000 errors of
#                four kinds (tests/lib/bigplaybooks.sh); baseline: js-yaml
#                parsing the same file. Target: under 1 s (lint is linear in
#                its findings and prints at most 1,000 per file).
#   run_1k       `drplay run` of 1,000 log/assert steps with the journal on
#                (~2,500 events, written one by one; read-only steps are synced
#                at the next state-changing step or the end) in a directory on the
#                disk; baseline: a POSIX sh loop printing a line and appending
#                a JSON line per step. Target: under 100 ms.
#   run_1k_tmpfs the same with the journal on tmpfs (/dev/shm), where fsync
#                costs nothing: the interpreter's own cost.
# With DRPLAY_BENCH_OLD=PATH (an earlier build of drplay, e.g. before a
# refactoring), startup, lint_10k and run_1k are also measured against it,
# the two binaries alternating, in lines NAME_vs_old with target 1.05 (within
# 5% of the old build).
set -u
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/lib.sh"
. "$T_LIB/bigplaybooks.sh"
require_drplay
work=$(t_tmpdir bench) || die_setup "no temp dir"
# Debian's /usr/bin/psql is a Perl wrapper; measure the real binary.
PSQL=$(pg_config --bindir 2>/dev/null)/psql
[ -x "$PSQL" ] || PSQL=/usr/lib/postgresql/15/bin/psql

mean_ms() { # N CMD...: mean wall milliseconds of N runs
	local n=$1 t0 t1 i
	shift
	t0=$(date +%s%N)
	for ((i = 0; i < n; i++)); do "$@" >/dev/null 2>&1; done
	t1=$(date +%s%N)
	awk -v a="$t0" -v b="$t1" -v n="$n" 'BEGIN { printf "%.3f\n", (b - a) / n / 1e6 }'
}

# start-up
"$DRPLAY" --version >/dev/null
v=$(mean_ms 300 "$DRPLAY" --version)
b=$(mean_ms 300 "$PSQL" --version)
bench_report startup "$v" ms "$b" 5 value

# lint of 10,000 steps
pb=$work/big.yaml
{
	echo "drplay: 1"
	echo "name: big"
	echo "params:"
	echo "  expected: {type: int, default: 3}"
	echo "steps:"
	for ((i = 0; i < 10000; i++)); do
		if ((i % 2 == 0)); then
			printf '  - {id: s%d, action: log, with: {message: "step %d of ${run.playbook} in ${run.mode}"}}\n' "$i" "$i"
		else
			echo "  - {id: s$i, action: assert, with: {that: \"steps.s$((i - 1)).outcome == 'ok' and params.expected + $i > 2\"}}"
		fi
	done
} >"$pb"
"$DRPLAY" lint "$pb" >/dev/null || { echo "bench_core: the generated playbook does not lint clean" >&2; exit 1; }
v=$(bench_best 5 "$DRPLAY" lint "$pb")
b=$(bench_best 5 node -e 'require(process.argv[1]).load(require("fs").readFileSync(process.argv[2],"utf8"))' "$T_NODE_DIR/node_modules/js-yaml" "$pb")
bench_report lint_10k "$(awk -v x="$v" 'BEGIN{print x*1000}')" ms "$(awk -v x="$b" 'BEGIN{print x*1000}')" 200 value

# lint of a file with 50,000 errors (lint exits 1: that is the expected outcome)
lint_with_errors() { "$DRPLAY" lint "$1" >/dev/null 2>&1; [ $? -eq 1 ]; }
pb=$work/errors.yaml
gen_mixed_errors 50000 "$pb"
lint_with_errors "$pb" || { echo "bench_core: the 50k-error playbook did not lint with errors" >&2; exit 1; }
v=$(bench_best 5 lint_with_errors "$pb")
b=$(bench_best 5 node -e 'require(process.argv[1]).load(require("fs").readFileSync(process.argv[2],"utf8"))' "$T_NODE_DIR/node_modules/js-yaml" "$pb")
bench_report lint_50k_errors "$(awk -v x="$v" 'BEGIN{print x*1000}')" ms "$(awk -v x="$b" 'BEGIN{print x*1000}')" 1000 value

# run of 1,000 steps with the journal
pb=$work/run1k.yaml
{
	echo "drplay: 1"
	echo "name: run1k"
	echo "steps:"
	for ((i = 0; i < 1000; i++)); do
		if ((i % 2 == 0)); then
			echo "  - {id: s$i, action: log, with: {message: \"step $i\"}}"
		else
			echo "  - {id: s$i, action: assert, with: {that: \"steps.s$((i - 1)).outcome == 'ok'\"}}"
		fi
	done
} >"$pb"
base=$work/base.sh
cat >"$base" <<'SH'
j=$1/base.jsonl
: >"$j"
i=0
while [ $i -lt 1000 ]; do
	echo "[$i/1000] s$i: log"
	printf '{"event":"step_end","step":"s%d","outcome":"ok"}\n' $i >>"$j"
	i=$((i + 1))
done
SH
"$DRPLAY" run "$pb" --journal-dir "$work/j" >/dev/null || { echo "bench_core: run1k failed" >&2; exit 1; }
v=$(bench_best 5 "$DRPLAY" run "$pb" --journal-dir "$work/j")
b=$(bench_best 5 sh "$base" "$work")
bench_report run_1k "$(awk -v x="$v" 'BEGIN{print x*1000}')" ms "$(awk -v x="$b" 'BEGIN{print x*1000}')" 100 value
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	shm=$(mktemp -d /dev/shm/drplay-bench.XXXXXX)
	on_exit rm -rf "$shm"
	v=$(bench_best 5 "$DRPLAY" run "$pb" --journal-dir "$shm/j")
	b=$(bench_best 5 sh "$base" "$shm")
	bench_report run_1k_tmpfs "$(awk -v x="$v" 'BEGIN{print x*1000}')" ms "$(awk -v x="$b" 'BEGIN{print x*1000}')" 100 value
fi

# ---- against an earlier build, side by side (DRPLAY_BENCH_OLD) ----
if [ -n "${DRPLAY_BENCH_OLD:-}" ]; then
	[ -x "$DRPLAY_BENCH_OLD" ] || { echo "bench_core: DRPLAY_BENCH_OLD=$DRPLAY_BENCH_OLD is not executable" >&2; exit 1; }
	pb10k=$work/big.yaml
	vs_old() { # NAME UNIT CMD-WITH-@BIN@...: best of 5 rounds, old and new alternating
		local name=$1 unit=$2 new="" old="" t r
		shift 2
		for ((r = 0; r < 5; r++)); do
			for which in new old; do
				local bin=$DRPLAY
				[ $which = old ] && bin=$DRPLAY_BENCH_OLD
				local -a cmd=()
				for w in "$@"; do cmd+=("${w//@BIN@/$bin}"); done
				t=$("${cmd[@]}") || return 1
				if [ $which = new ]; then
					if [ -z "$new" ] || awk -v a="$t" -v b="$new" 'BEGIN{exit !(a<b)}'; then new=$t; fi
				elif [ -z "$old" ] || awk -v a="$t" -v b="$old" 'BEGIN{exit !(a<b)}'; then old=$t; fi
			done
		done
		bench_report "${name}_vs_old" "$new" "$unit" "$old" 1.05
	}
	ms_of() { awk -v x="$(bench_time "$@")" 'BEGIN{print x*1000}'; }
	vs_old startup ms mean_ms 300 @BIN@ --version
	vs_old lint_10k ms ms_of @BIN@ lint "$pb10k"
	vs_old run_1k ms ms_of @BIN@ run "$pb" --journal-dir "$work/j"
fi
