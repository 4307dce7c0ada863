#!/usr/bin/env bash
# signals_pipes.sh: a run under nohup (SIGHUP is left ignored; core_cli.sh
# proves SIGINT, SIGTERM, SIGHUP and SIGQUIT end a run), and a transcript
# reader that closes the pipe early (SIGPIPE must not end the run). Each is a
# real run with a real child process.
set -u
. "$(dirname "$0")/../lib/common.sh"
require_drplay
require_node
TDRPLAY=${DRPLAY_TEST_BIN:-$ROOT/tests/drplay-test}
PB=$ROOT/tests/integration/playbooks
work=$(t_tmpdir sig) || die_setup "no temp dir"
J=$work/journal

no_proc() { ! pgrep -f "$1" >/dev/null; }

# start_long MARKER [WRAPPER...]: starts interrupt.yaml in the background
# (its step 'long' runs `sleep 30 MARKER`); sets pid; 1 if the step never ran
start_long() {
	local marker=$1
	shift
	rm -rf "$J"
	"$@" "$TDRPLAY" run "$PB/core/interrupt.yaml" --journal-dir "$J" --param marker="$marker" \
		>"$work/run.out" 2>&1 </dev/null &
	pid=$!
	t_watch_pid $pid
	wait_until 10 pgrep -f "sleep 30 $marker"
}

# ---- under nohup, SIGHUP is left ignored: the run outlives its terminal ----
marker="0.000$$31"
if start_long "$marker" nohup; then
	kill -HUP $pid
	sleep 1
	if kill -0 $pid 2>/dev/null && pgrep -f "sleep 30 $marker" >/dev/null; then
		t_pass "nohup: SIGHUP leaves the run and its step running"
	else
		t_fail "nohup: SIGHUP leaves the run and its step running" "the run ended: $(cat "$work/run.out")"
	fi
	kill -TERM $pid
	wait $pid
	rc=$?
	t_unwatch_pid $pid
	t_eq "nohup: SIGTERM still ends it (exit 130)" 130 "$rc"
	jf=$(ls "$J"/*.jsonl)
	t_eq "nohup: the journal names SIGTERM, not SIGHUP" "SIGTERM" \
		"$(t_jsonl "$jf" '(ev.find(e=>e.event==="interrupted")||{}).signal')"
	wait_until 3 no_proc "sleep 30 $marker" || pkill -f "sleep 30 $marker"
else
	t_fail "nohup: the long step started" "no child process appeared: $(cat "$work/run.out")"
	kill -9 $pid 2>/dev/null
fi

# ---- a transcript reader that closes the pipe early ----
for json in "" --json; do
	name="pipe${json:+ $json}"
	rm -rf "$J" "$work/mark"
	"$DRPLAY" run "$PB/edges/pipe.yaml" --journal-dir "$J" --param mark="$work/mark" $json \
		2>"$work/pipe.err" | head -n1 >"$work/pipe.out"
	rc=${PIPESTATUS[0]}
	t_eq "$name: the run ends normally after its reader went away (exit 0, not SIGPIPE's 141)" 0 "$rc"
	t_eq "$name: the reader got the first line" 1 "$(wc -l <"$work/pipe.out")"
	t_check "$name: the step after the reader left ran" test -f "$work/mark"
	jf=$(ls "$J"/*.jsonl)
	t_eq "$name: the journal records every step" "first,pause,talk,mark,closing" \
		"$(t_jsonl "$jf" 'ev.filter(e=>e.event==="step_end").map(e=>e.step).join(",")')"
	t_eq "$name: the journal ends with run_end, succeeded" "run_end succeeded" \
		"$(t_jsonl "$jf" '(e=>e.event+" "+e.outcome)(ev[ev.length-1])')"
	t_contains "$name: stderr says the transcript is incomplete and where the record is" \
		"$(cat "$work/pipe.err")" "the journal '$jf' is its record"
done
