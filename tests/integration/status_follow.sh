#!/usr/bin/env bash
# status_follow.sh: `drplay status [RUN_ID | --playbook NAME] [--follow]
# [--json]` against real runs started in the background: the run picked
# (a `drplay maintenance on` during a drill never hides it), its state
# (running, finished, killed), following it from another process to its
# end with every milestone and its exit code, a killed run shown killed, a
# second run refused by the held lock as one JSON object. The documents are
# validated with ajv against grammar/.
set -u
. "$(dirname "$0")/../lib/common.sh"
require_drplay
require_node_modules
TDRPLAY=${DRPLAY_TEST_BIN:-$ROOT/tests/drplay-test}
PB=$ROOT/tests/integration/playbooks/json/follow.yaml
G=$ROOT/grammar
work=$(t_tmpdir follow) || die_setup "no temp dir"
J=$work/journal
export JSON_FLAG_FILE=$work/flag

valid() { # NAME SCHEMA FILE
	local out
	if out=$(node "$T_NODE_DIR/validate-json.js" "$G/$2" "$3" 2>&1); then
		t_pass "$1: valid against $2"
	else
		t_fail "$1: valid against $2" "$out"
	fi
}
field() { # FILE EXPR over the document d
	node -e 'const fs=require("fs");const d=JSON.parse(fs.readFileSync(process.argv[1],"utf8"));console.log(eval(process.argv[2]))' "$1" "$2"
}
has_start() { grep -qs '"event":"run_start"' "$J"/*.jsonl; }

# start_drill SECONDS MARKER [ARGS...]: a drill in the background; DRILL is its pid
start_drill() {
	local secs=$1 marker=$2
	shift 2
	"$TDRPLAY" run "$PB" --param seconds="$secs" --param marker="$marker" --journal-dir "$J" "$@" \
		>"$work/drill.out" 2>&1 &
	DRILL=$!
	t_watch_pid "$DRILL"
	wait_until 10 has_start || die_setup "the drill did not start: $(cat "$work/drill.out")"
}

# ---- a drill followed to its end from another process ----
marker="0.000$$1"
start_drill 1 "$marker" --param work=4500ms
drill_pid=$DRILL
# a one-step command during the drill writes a newer journal
t_exit "maintenance on during the drill" 0 "$TDRPLAY" maintenance on "$PB" --switch switch --journal-dir "$J"
t_eq "two journals (the drill's and the command's)" 2 "$(ls "$J"/*.jsonl | wc -l)"
"$DRPLAY" status --json --journal-dir "$J" >"$work/st.json"
valid "status --json (running)" drplay.status.schema.json "$work/st.json"
t_eq "status picks the drill, not the newer one-step command" "json_follow undefined running" \
	"$(field "$work/st.json" 'd.run.playbook+" "+d.run.command+" "+d.state')"
t_eq "status: the running run's pid" "$drill_pid" "$(field "$work/st.json" 'd.pid')"
drill_journal=$(field "$work/st.json" 'd.journal')
"$DRPLAY" status --follow --json --journal-dir "$J" >"$work/follow.jsonl" 2>"$work/follow.err"
rc=$?
wait "$drill_pid"
drill_rc=$?
t_unwatch_pid "$drill_pid"
t_eq "follow: exits with the run's exit code" "$drill_rc" "$rc"
t_eq "follow: the drill succeeded" 0 "$drill_rc"
valid "status --follow --json" drplay.event.schema.json "$work/follow.jsonl"
t_eq "follow: every milestone in order" \
	"run_start maint_on:ok restore:ok long:ok verify:ok maint_off:ok run_end:0 follow_end:finished:0" \
	"$(t_jsonl "$work/follow.jsonl" 'ev.filter(e=>["run_start","step_end","run_end","follow_end"].includes(e.event)&&e.step!=="creds").map(e=>e.event==="step_end"?e.step+":"+e.outcome:e.event==="run_end"?"run_end:"+e.exit_code:e.event==="follow_end"?"follow_end:"+e.state+":"+e.exit_code:e.event).join(" ")')"
# 4.5 s of work: one event after 2 s, one after 4 s, none more
t_eq "follow: the restore's progress, every 2 s, moving, with figures and ETA" "2 true true true" \
	"$(t_jsonl "$work/follow.jsonl" 'const p=ev.filter(e=>e.event==="progress"&&e.step==="restore");[p.length,p[0].percent>=30&&p[1].percent>p[0].percent&&p[1].percent<100,p.every(e=>e.total===1000000&&e.done>0&&e.eta_s>0&&e.rate_per_s>0),Date.parse(p[1].ts)-Date.parse(p[0].ts)>=1990].join(" ")')"
t_eq "follow: the lines are the journal's" "$(cat "$drill_journal")" "$(head -n -1 "$work/follow.jsonl")"
t_eq "follow: the first line names drplay and the format" "drplay.journal/1 true" \
	"$(t_jsonl "$work/follow.jsonl" 'ev[0].format+" "+(ev[0].drplay.length>0)')"
"$DRPLAY" status --json --journal-dir "$J" >"$work/st.json"
valid "status --json (finished)" drplay.status.schema.json "$work/st.json"
t_eq "status: finished, maintenance off" "finished OFF" "$(field "$work/st.json" 'd.state+" "+d.maintenance')"
cmd_run=$(basename "$(grep -l '"command":"maintenance on"' "$J"/*.jsonl)" .jsonl)
"$DRPLAY" status "$cmd_run" --json --journal-dir "$J" >"$work/st.json"
t_eq "status RUN_ID shows that run" "maintenance on finished" "$(field "$work/st.json" 'd.run.command+" "+d.state')"
"$DRPLAY" status --playbook json_follow --json --journal-dir "$J" >"$work/st.json"
t_eq "status --playbook NAME: its newest playbook run" "undefined" "$(field "$work/st.json" 'd.run.command')"
t_exit "status --follow of a finished run: its exit code at once" 0 "$DRPLAY" status --follow --journal-dir "$J"
t_contains "status --follow (text): the run's end" "$T_OUT" "run succeeded (exit 0)"
t_contains "status --follow (text): a step line" "$T_OUT" "maint_on: ok in"
t_exit "status --playbook of no run: exit 2" 2 "$DRPLAY" status --playbook nothing_here --journal-dir "$J"
t_contains "status --playbook of no run: says so" "$T_OUT" "no run of playbook 'nothing_here'"
"$DRPLAY" status 20990101T000000Z-00000000 --json --journal-dir "$J" >"$work/ref.json"
t_eq "status of an unknown RUN_ID: exit 2" 2 $?
valid "status of an unknown RUN_ID" drplay.refusal.schema.json "$work/ref.json"

# ---- a failing drill: the follower exits with its code ----
rm -rf "$J"
start_drill 1 "0.000$$2" --param verify_fail=true
"$DRPLAY" status --follow --json --journal-dir "$J" >"$work/follow.jsonl"
rc=$?
wait "$DRILL"
drill_rc=$?
t_unwatch_pid "$DRILL"
t_eq "failed drill: exit 1" 1 "$drill_rc"
t_eq "failed drill: the follower exits 1 too" 1 "$rc"
t_eq "failed drill: the gate and the end" "verify:failed follow_end:finished:1" \
	"$(t_jsonl "$work/follow.jsonl" 'ev.filter(e=>(e.event==="step_end"&&e.step==="verify")||e.event==="follow_end").map(e=>e.event==="step_end"?e.step+":"+e.outcome:"follow_end:"+e.state+":"+e.exit_code).join(" ")')"

# ---- a killed drill; a second run refused by its lock ----
rm -rf "$J"
marker="0.000$$3"
start_drill 30 "$marker"
wait_until 10 pgrep -f "sleep 30 $marker" || t_fail "killed drill: the long step started" "no sleep process"
"$TDRPLAY" run "$PB" --json --journal-dir "$J" >"$work/ref.json" 2>/dev/null
t_eq "second run while the lock is held: exit 3" 3 $?
valid "held lock refusal" drplay.refusal.schema.json "$work/ref.json"
t_contains "held lock refusal: the reason names the lock" "$(field "$work/ref.json" 'd.reason')" "holds the lock"
"$DRPLAY" status --follow --json --journal-dir "$J" >"$work/follow.jsonl" &
follower=$!
t_watch_pid $follower
sleep 0.5
kill -KILL "$DRILL"
wait "$DRILL" 2>/dev/null
t_unwatch_pid "$DRILL"
for p in $(pgrep -f "sleep 30 $marker"); do kill "$p"; done
wait "$follower"
rc=$?
t_unwatch_pid $follower
t_eq "killed drill: the follower exits 130" 130 "$rc"
valid "killed drill: follow lines" drplay.event.schema.json "$work/follow.jsonl"
t_eq "killed drill: follow_end says killed, in step long" "killed long" \
	"$(t_jsonl "$work/follow.jsonl" 'const e=ev[ev.length-1];e.state+" "+e.stopped_in')"
"$DRPLAY" status --json --journal-dir "$J" >"$work/st.json"
valid "status --json (killed)" drplay.status.schema.json "$work/st.json"
t_eq "status: killed, stopped in long" "killed long" "$(field "$work/st.json" 'd.state+" "+d.stopped_in')"
