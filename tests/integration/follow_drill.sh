#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# tests/integration/follow_drill.sh - an agent's view of a real drill: the
# shipped live_drill.yaml in DISASTER mode against the sandbox (PostgreSQL
# with WAL archiving, the off-site dump in S3, the HTTP maintenance flag, the
# application writing all the time) started in the background, and followed
# from another process with nothing but `drplay status --follow --json`: the
# follower sees every milestone (maintenance on, the restores done, verified,
# maintenance off), progress events at their rate, and ends with the run's
# exit code; every line validates against grammar/drplay.event.schema.json.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/sandbox.sh
. "$T_LIB/sandbox.sh"
require_drplay
require_node_modules

sandbox_start --scale 0.1
J=$T_TMP/journal
R=$T_TMP/reports
(umask 077 && printf %s "$DRPLAY_DISASTER_TOKEN" >"$T_TMP/token")
has_start() { grep -qs '"event":"run_start"' "$J"/*.jsonl; }

# the agent starts the drill in the background...
"$DRPLAY" run "$ROOT/playbooks/live_drill.yaml" --mode=disaster --authorize-file "$T_TMP/token" \
    --journal-dir "$J" "${SANDBOX_PARAMS[@]}" --param report_dir="$R" >"$T_TMP/drill.out" 2>&1 &
drill=$!
t_watch_pid $drill
wait_until 30 has_start || die_setup "the drill did not start: $(cat "$T_TMP/drill.out")"
# ... and follows it from another process
"$DRPLAY" status --follow --json --journal-dir "$J" >"$T_TMP/follow.jsonl" 2>"$T_TMP/follow.err"
rc=$?
wait $drill
drill_rc=$?
t_unwatch_pid $drill
t_eq "the drill passed" 0 "$drill_rc"
t_eq "the follower exits with the drill's exit code" "$drill_rc" "$rc"
if out=$(node "$T_NODE_DIR/validate-json.js" "$ROOT/grammar/drplay.event.schema.json" "$T_TMP/follow.jsonl" 2>&1); then
    t_pass "every followed line is valid against drplay.event.schema.json"
else
    t_fail "every followed line is valid against drplay.event.schema.json" "$out"
fi
milestones() { # the milestone steps that ended, in the order the follower saw them
    t_jsonl "$T_TMP/follow.jsonl" 'ev.filter(e=>e.event==="step_end"&&["maint_on","restore_offsite","recover","verify","maint_off"].includes(e.step)).map(e=>e.step+"("+e.category+"):"+e.outcome).join(" ")'
}
t_eq "the milestones, in order: maintenance on, restores done, verified, maintenance off" \
    "maint_on(maintenance_on):ok restore_offsite(restore):ok recover(restore):ok verify(verify):ok maint_off(maintenance_off):ok" \
    "$(milestones)"
# at this scale the steps are short: a step journals progress only once it
# has run 2 s (status_follow.sh checks the figures of a long one)
t_eq "progress events: none before a step has run 2 s, then at most one per 2 s" "true" \
    "$(t_jsonl "$T_TMP/follow.jsonl" 'const by={};ev.filter(e=>e.event==="step_start"||e.event==="progress").every(e=>{const t=Date.parse(e.ts),p=by[e.step];by[e.step]=t;return e.event==="step_start"||t-p>=1990})')"
t_eq "the follower's last line: finished, exit 0" "follow_end finished 0" \
    "$(t_jsonl "$T_TMP/follow.jsonl" 'const e=ev[ev.length-1];[e.event,e.state,e.exit_code].join(" ")')"
t_eq "the follower saw the run's end" "run_end 0 OFF" \
    "$(t_jsonl "$T_TMP/follow.jsonl" 'const e=ev.find(e=>e.event==="run_end");[e.event,e.exit_code,e.maintenance].join(" ")')"
t_eq "maintenance is off" false "$(sandbox_flag)"
