#!/usr/bin/env bash
# tests/cases/run_cases.sh: the data-driven tests. Each case is a playbook
# (tests/cases/**/NAME.yaml) beside its expected output (NAME.out). Header
# comments in the playbook say how to run it:
#   # cmd: lint                 drplay arguments before the file (default: lint)
#   # args: --mode=disaster     drplay arguments after the file
#   # exit: 1                   the expected exit code (default 0)
#   # bin: test                 run tests/drplay-test (test-only actions)
#   # env: NAME=VALUE           environment for the run (repeatable)
#   # stdin: none               no terminal on stdin (default: /dev/null anyway)
# Output (stdout and stderr together) is compared after normalizing what
# changes between runs: run ids, timings, the journal path.
# Files named RULE.bad.yaml under lint/ must report [RULE]; RULE.good.yaml
# must not report it, so each lint rule has a case that triggers it and one
# that does not, whatever the golden files say.
#
#   bash tests/cases/run_cases.sh            run all
#   bash tests/cases/run_cases.sh --update   rewrite the .out files (review the diff!)
set -u
cd "$(dirname "$0")" || exit 2
CASES=$(pwd)
ROOT=$(cd ../.. && pwd)
update=0
[ "${1:-}" = "--update" ] && update=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

normalize() {
	sed -E \
		-e 's/[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}/RUNID/g' \
		-e 's/\(([0-9]+\.[0-9]+)s\)/(T)/g' \
		-e 's/ in [0-9]+\.[0-9]+s / in Ts /g' \
		-e "s#$tmp/journal#JOURNAL#g" \
		-e 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z/TIMESTAMP/g' \
		-e 's/pid [0-9]+/pid PID/g'
}

header() { # key file -> values, one per line
	sed -nE "s/^# $1: ?(.*)$/\1/p" "$2"
}

while IFS= read -r f; do
	rel=${f#./}
	name=${rel%.yaml}
	cmd=$(header cmd "$f" | head -n1)
	[ -n "$cmd" ] || cmd=lint
	args=$(header args "$f" | head -n1)
	want_exit=$(header exit "$f" | head -n1)
	[ -n "$want_exit" ] || want_exit=0
	bin="${DRPLAY_BIN:-$ROOT/drplay}"
	[ "$(header bin "$f" | head -n1)" = "test" ] && bin="${DRPLAY_TEST_BIN:-$ROOT/tests/drplay-test}"
	envs=()
	while IFS= read -r e; do [ -n "$e" ] && envs+=("$e"); done < <(header env "$f")
	rm -rf "$tmp/journal"
	extra=()
	case "$cmd" in run*|plan*) extra=(--journal-dir "$tmp/journal") ;; esac
	# shellcheck disable=SC2086
	# the sanitizers' settings pass through, so a report lands in the run's log
	san=()
	[ -n "${ASAN_OPTIONS:-}" ] && san+=("ASAN_OPTIONS=$ASAN_OPTIONS")
	[ -n "${UBSAN_OPTIONS:-}" ] && san+=("UBSAN_OPTIONS=$UBSAN_OPTIONS")
	(cd "$CASES" && env -i PATH="$PATH" HOME="$tmp" LANG=C.UTF-8 "${san[@]}" "${envs[@]}" \
		timeout 60 "$bin" $cmd "${extra[@]}" "$rel" $args </dev/null >"$tmp/out" 2>&1)
	rc=$?
	normalize <"$tmp/out" >"$tmp/norm"
	if [ $update -eq 1 ]; then
		cp "$tmp/norm" "$name.out"
	fi
	problems=""
	[ "$rc" = "$want_exit" ] || problems+="exit $rc, expected $want_exit; "
	if [ ! -f "$name.out" ]; then
		problems+="no expected output $name.out; "
	elif ! diff -u "$name.out" "$tmp/norm" >"$tmp/diff"; then
		problems+="output differs (diff on stderr); "
		echo "--- $name" >&2
		cat "$tmp/diff" >&2
	fi
	base=$(basename "$name")
	case "$rel" in
	lint/*.bad)
		;;
	esac
	case "$base" in
	*.bad)
		rule=${base%.bad}
		grep -q "\[$rule\]" "$tmp/norm" || problems+="does not report [$rule]; "
		;;
	*.good)
		rule=${base%.good}
		grep -q "\[$rule\]" "$tmp/norm" && problems+="reports [$rule] though it should not; "
		;;
	esac
	if [ -z "$problems" ]; then
		echo "PASS: cases/$name"
	else
		echo "FAIL: cases/$name: $problems"
		echo "--- output of $name:" >&2
		cat "$tmp/norm" >&2
	fi
done < <(find . -name '*.yaml' | sort)

# Every lint rule has a case that triggers it and one that does not.
rules=$("${DRPLAY_TEST_BIN:-$ROOT/tests/drplay-test}" lint --format=sarif "$ROOT/tests/cases/lint/yaml-syntax.good.yaml" 2>/dev/null |
	grep -oE '"id": "[a-z0-9-]+"' | sed -E 's/"id": "(.*)"/\1/')
[ -n "$rules" ] || echo "FAIL: cases/rule-coverage: could not list the lint rules"
for r in $rules; do
	if [ -f "lint/$r.bad.yaml" ] && [ -f "lint/$r.good.yaml" ]; then
		echo "PASS: cases/rule-coverage/$r"
	else
		echo "FAIL: cases/rule-coverage/$r: needs lint/$r.bad.yaml and lint/$r.good.yaml"
	fi
done
