#!/usr/bin/env bash
# report_counts.sh: honest counts. Steps that failed under on_failure:
# continue appear in the transcript's summary line, in run_end, and in every
# report format (Markdown, JSON, JUnit, Prometheus), and a report says how
# the run ended (succeeded, interrupted, ...) or that later steps may still
# change it.
set -u
. "$(dirname "$0")/../lib/common.sh"
require_drplay
require_node
TDRPLAY=${DRPLAY_TEST_BIN:-$ROOT/tests/drplay-test}
PB=$ROOT/tests/integration/playbooks/report/tolerated.yaml
out=$(t_tmpdir counts) || die_setup "no temp dir"
J=$out/journal
jsget() { node -e 'const o=JSON.parse(require("fs").readFileSync(process.argv[1]));console.log(eval(process.argv[2]))' "$1" "$2"; }
newest() { ls -t "$@" | head -n1; }

# ---- two tolerated failures, the report last ----
t_exit "tolerated: the run succeeds (exit 0)" 0 "$TDRPLAY" run "$PB" --param out="$out/a" --journal-dir "$J"
t_contains "tolerated: the summary line counts both failures" "$T_OUT" \
	"succeeded: 3 ok, 2 failed (2 tolerated: on_failure: continue), 1 skipped"
jf=$(newest "$J"/*.jsonl)
t_eq "tolerated: run_end counts (ok failed tolerated skipped)" "succeeded 3 2 2 1" \
	"$(t_jsonl "$jf" '(e=>[e.outcome,e.steps_ok,e.steps_failed,e.steps_tolerated,e.steps_skipped].join(" "))(ev[ev.length-1])')"
md=$(newest "$out"/a/*.md)
t_contains "markdown: says how the run ended, with the counts" "$(cat "$md")" \
	"| outcome | succeeded (exit 0); steps: 2 ok, 2 failed (2 tolerated: on_failure: continue), 1 skipped |"
t_not_contains "markdown: no 'so far' for a finished run" "$(cat "$md")" "so far"
t_contains "markdown: the tolerated step is marked" "$(cat "$md")" "| \`optional_write\` | test.write | failed (tolerated) |"
js=$(newest "$out"/a/*.json)
t_eq "json: outcome, exit code, final" "succeeded 0 true" \
	"$(jsget "$js" '[o.summary.outcome,o.summary.exit_code,o.summary.final].join(" ")')"
t_eq "json: step counts" "2 2 2 1 0" \
	"$(jsget "$js" '(c=>[c.ok,c.failed,c.tolerated,c.skipped,c.to_run].join(" "))(o.summary.steps)')"
t_eq "json: the run record marks the tolerated steps" "optional_write,optional_check" \
	"$(jsget "$js" 'o.run.steps.filter(s=>s.tolerated).map(s=>s.id).join(",")')"
xml=$(newest "$out"/a/*.xml)
t_check "junit: well-formed XML" xmllint --noout "$xml"
t_contains "junit: both failures are failures" "$(cat "$xml")" 'tests="5" failures="2" errors="0" skipped="1"'
t_contains "junit: ... marked tolerated" "$(cat "$xml")" '<failure type="tolerated" message="tolerated (on_failure: continue): failure requested by the test'
t_contains "junit: the suite says how the run ended" "$(cat "$xml")" '<property name="outcome" value="succeeded"/>'
t_contains "junit: ... and counts" "$(cat "$xml")" '<property name="steps" value="2 ok, 2 failed (2 tolerated: on_failure: continue), 1 skipped"/>'
prom=$(newest "$out"/a/*.prom)
L='playbook="tolerated_counts",mode="validation"'
t_contains "prometheus: the run succeeded" "$(cat "$prom")" "drplay_last_run_success{$L} 1"
t_contains "prometheus: failed steps" "$(cat "$prom")" "drplay_steps{$L,outcome=\"failed\"} 2"
t_contains "prometheus: tolerated steps" "$(cat "$prom")" "drplay_steps_tolerated{$L} 2"
t_contains "prometheus: ok steps" "$(cat "$prom")" "drplay_steps{$L,outcome=\"ok\"} 2"
t_check "prometheus: every sample line is well formed" bash -c \
	"grep -v '^#' '$prom' | grep -vE '^[a-z_]+\{[a-z]+=\"[^\"]*\"(,[a-z]+=\"[^\"]*\")*\} [0-9.]+$' | { ! grep -q .; }"

# ---- a step after the report: the report is not final ----
export COUNTS_TOKEN=counts-token-$RANDOM$RANDOM
t_exit "not final: the disaster run succeeds" 0 "$TDRPLAY" run "$PB" --mode=disaster --authorize="$COUNTS_TOKEN" \
	--param out="$out/b" --journal-dir "$J"
md=$(newest "$out"/b/*.md)
t_contains "not final: markdown says the outcome so far and what is still to run" "$(cat "$md")" \
	"| outcome | succeeded so far (exit 0); steps: 2 ok, 2 failed (2 tolerated: on_failure: continue), 0 skipped, 1 still to run; the steps after this report may change the outcome |"
js=$(newest "$out"/b/*.json)
t_eq "not final: json" "false 1" "$(jsget "$js" '[o.summary.final,o.summary.steps.to_run].join(" ")')"

# ---- an interrupted run: its report says so ----
marker="0.000$$7"
"$TDRPLAY" run "$PB" --param out="$out/c" --param pause=30 --param marker="$marker" --journal-dir "$J" >"$out/c.out" 2>&1 &
pid=$!
t_watch_pid $pid
if wait_until 10 pgrep -f "sleep 30 $marker"; then
	kill -TERM $pid
	wait $pid
	t_eq "interrupted: exit 130" 130 "$?"
	md=$(newest "$out"/c/*.md)
	t_contains "interrupted: markdown says so" "$(cat "$md")" \
		"| outcome | **INTERRUPTED** (exit 130), stopped at step \`pause\`; steps: 1 ok, 3 failed (2 tolerated: on_failure: continue), 1 skipped (see the steps below) |"
	prom=$(newest "$out"/c/*.prom)
	t_contains "interrupted: prometheus says the run did not succeed" "$(cat "$prom")" "drplay_last_run_success{$L} 0"
else
	t_fail "interrupted: the pause step started" "$(cat "$out/c.out")"
	kill -9 $pid
fi
t_unwatch_pid $pid
