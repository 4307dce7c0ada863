#!/usr/bin/env bash
# core_cli.sh: the interpreter's behaviour that needs more than a playbook
# and its expected output: signals, the lock, the journal on disk and
# `drplay status`, secrets from files, --json, approval on a real terminal,
# SARIF and JSON Schema validity, and SPEC.md / grammar kept in sync with the
# registry.
set -u
. "$(dirname "$0")/../lib/common.sh"
require_drplay
TDRPLAY=${DRPLAY_TEST_BIN:-$ROOT/tests/drplay-test}
PB=$ROOT/tests/integration/playbooks/core
work=$(t_tmpdir core) || die_setup "no temp dir"
J=$work/journal

node_json_lines() { # FILE: every line parses as JSON
	node -e 'const fs=require("fs");let n=0;for(const l of fs.readFileSync(process.argv[1],"utf8").split("\n")){if(!l)continue;JSON.parse(l);n++}console.log(n)' "$1"
}
jq_like() { # FILE EXPR: evaluates a JS expression over the array of events (ev)
	node -e 'const fs=require("fs");const ev=fs.readFileSync(process.argv[1],"utf8").split("\n").filter(Boolean).map(JSON.parse);console.log(eval(process.argv[2]))' "$1" "$2"
}

no_proc() { ! pgrep -f "$1" >/dev/null; }

# ---- SIGINT / SIGTERM / SIGHUP / SIGQUIT during a step ----
nsig=0
for sig in INT TERM HUP QUIT; do
	rm -rf "$J"
	nsig=$((nsig + 1))
	marker="0.000$$${nsig}0"  # sleep adds its arguments: a unique, harmless number
	"$TDRPLAY" run "$PB/interrupt.yaml" --journal-dir "$J" --param marker="$marker" >"$work/int.out" 2>&1 &
	pid=$!
	t_watch_pid $pid
	if ! wait_until 10 pgrep -f "sleep 30 $marker"; then
		t_fail "SIG$sig: the long step started" "no child process appeared"
		kill -9 $pid 2>/dev/null
		continue
	fi
	kill -s "$sig" $pid
	wait $pid
	rc=$?
	t_eq "SIG$sig: exit code 130" 130 "$rc"
	if wait_until 3 no_proc "sleep 30 $marker"; then
		t_pass "SIG$sig: the step's child process was ended"
	else
		t_fail "SIG$sig: the step's child process was ended" "still running: $(pgrep -af "$marker")"
		pkill -f "$marker"
	fi
	jf=$(ls "$J"/*.jsonl)
	t_eq "SIG$sig: journal says where it stopped" "interrupted" \
		"$(jq_like "$jf" 'ev.find(e=>e.event==="step_end"&&e.step==="long").outcome')"
	t_eq "SIG$sig: journal records the signal" "SIG$sig" \
		"$(jq_like "$jf" '(ev.find(e=>e.event==="interrupted")||{}).signal')"
	t_eq "SIG$sig: the always report still ran" "ok" \
		"$(jq_like "$jf" 'ev.find(e=>e.event==="step_end"&&e.step==="report").outcome')"
	t_eq "SIG$sig: maintenance_off did not run" "step_skip" \
		"$(jq_like "$jf" 'ev.find(e=>e.step==="maint_off"&&(e.event==="step_end"||e.event==="step_skip")).event')"
	t_eq "SIG$sig: run_end exit code" "130" "$(jq_like "$jf" 'ev.find(e=>e.event==="run_end").exit_code')"
	t_contains "SIG$sig: transcript says maintenance stays on" "$(cat "$work/int.out")" "maintenance is ON"
	t_contains "SIG$sig: transcript names the signal" "$(cat "$work/int.out")" "interrupted by SIG$sig during step 'long'"
	t_eq "SIG$sig: the journal ends with run_end" "run_end interrupted" \
		"$(jq_like "$jf" '(e=>e.event+" "+e.outcome)(ev[ev.length-1])')"
done

# ---- the lock ----
rm -rf "$J"
lock_marker="0.000${$}7"
"$TDRPLAY" run "$PB/interrupt.yaml" --journal-dir "$J" --param marker="$lock_marker" >/dev/null 2>&1 &
pid=$!
t_watch_pid $pid
wait_until 10 pgrep -f "sleep 30 $lock_marker" >/dev/null || t_fail "lock: first run started" "no child"
t_exit "lock: a second run of the same playbook is refused" 3 \
	"$TDRPLAY" run "$PB/interrupt.yaml" --journal-dir "$J" --param marker=0.0002
t_contains "lock: the refusal names the holder" "$T_OUT" "holds the lock"
t_contains "lock: the refusal names the holder's pid" "$T_OUT" "pid $pid"
t_exit "lock: another journal dir is independent" 0 \
	"$DRPLAY" run "$PB/quick.yaml" --journal-dir "$J-other"
kill -INT $pid
wait $pid
t_exit "lock: released when the first run ends" 0 "$DRPLAY" run "$PB/quick.yaml" --journal-dir "$J"

# ---- journal, status, secrets from a file ----
rm -rf "$J"
secret_file=$work/token
printf 'file-secret-%s\n' "$RANDOM$RANDOM" >"$secret_file"
secret=$(head -n1 "$secret_file")
export DRPLAY_CORE_TOKEN_FILE=$secret_file
t_exit "journal: a run with a secret from X_FILE" 1 "$TDRPLAY" run "$PB/journal.yaml" --journal-dir "$J"
out=$T_OUT
unset DRPLAY_CORE_TOKEN_FILE
jf=$(ls "$J"/*.jsonl)
t_check "journal: every line is JSON" node_json_lines "$jf"
t_not_contains "journal: the secret is not in the journal" "$(cat "$jf")" "$secret"
t_not_contains "journal: the secret is not in the transcript" "$out" "$secret"
t_contains "journal: the secret appears masked" "$(cat "$jf")" "***"
t_eq "journal: run_start records the playbook's sha256" "$(sha256sum "$PB/journal.yaml" | cut -d' ' -f1)" \
	"$(jq_like "$jf" 'ev[0].sha256')"
t_eq "journal: events in order" "run_start" "$(jq_like "$jf" 'ev[0].event')"
t_eq "journal: ends with run_end" "run_end" "$(jq_like "$jf" 'ev[ev.length-1].event')"
t_eq "journal: the gate failure is recorded" "verify" "$(jq_like "$jf" 'ev.find(e=>e.event==="gate_failed").step')"
t_eq "journal: step timings recorded" "number" "$(jq_like "$jf" 'typeof ev.find(e=>e.event==="step_end").duration_s')"
t_exit "status: reads the last run" 0 "$DRPLAY" status --journal-dir "$J"
st=$T_OUT
t_contains "status: names the playbook" "$st" "journal_check"
t_contains "status: shows the failed gate" "$st" "failed gates: verify"
t_contains "status: shows maintenance left on" "$st" "maintenance: ON"
t_contains "status: lists the preserved snapshot" "$st" "main-before-restore"
t_not_contains "status: no secret" "$st" "$secret"
t_exit "status --json" 0 "$DRPLAY" status --journal-dir "$J" --json
t_eq "status --json: maintenance" "ON" "$(printf '%s' "$T_OUT" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).maintenance))')"
t_exit "status: no journal is exit 2" 2 "$DRPLAY" status --journal-dir "$work/empty"

# A run killed outright leaves an accurate journal up to the step it was in.
rm -rf "$J"
kill_marker="0.000${$}9"
"$TDRPLAY" run "$PB/interrupt.yaml" --journal-dir "$J" --param marker="$kill_marker" >/dev/null 2>&1 &
pid=$!
t_watch_pid $pid
wait_until 10 pgrep -f "sleep 30 $kill_marker" >/dev/null
kill -9 $pid
wait $pid 2>/dev/null
pkill -f "sleep 30 $kill_marker"
t_exit "status after SIGKILL" 0 "$DRPLAY" status --journal-dir "$J"
t_contains "status after SIGKILL: says the run did not finish and where" "$T_OUT" "stops during step 'long'"

# ---- --json ----
rm -rf "$J"
t_exit "--json: run" 0 "$DRPLAY" run "$PB/quick.yaml" --journal-dir "$J" --json
printf '%s\n' "$T_OUT" >"$work/json.out"
t_check "--json: stdout is JSON lines" node_json_lines "$work/json.out"
t_eq "--json: first event" "run_start" "$(jq_like "$work/json.out" 'ev[0].event')"

# ---- approval on a terminal ----
rm -rf "$J"
t_exit "approve: 'yes' on a terminal approves" 0 \
	bash -c "printf 'yes\n' | script -qec '$DRPLAY run $PB/approve.yaml --journal-dir $J' /dev/null"
t_contains "approve: the transcript says who approved" "$T_OUT" "approved at the terminal"
jf=$(ls -t "$J"/*.jsonl | head -n1)
t_eq "approve: the journal records the approval" "terminal" "$(jq_like "$jf" 'ev.find(e=>e.event==="approval").method')"
t_exit "approve: 'no' on a terminal stops the run" 4 \
	bash -c "printf 'no\n' | script -qec '$DRPLAY run $PB/approve.yaml --journal-dir $J; exit \$?' /dev/null; exit \${PIPESTATUS[1]}"
t_contains "approve: says it was not approved" "$T_OUT" "not approved"

# ---- lint output formats ----
t_exit "lint: clean playbook exits 0" 0 "$DRPLAY" lint "$ROOT/playbooks/toolbox_check.yaml"
t_exit "lint: errors exit 1" 1 "$TDRPLAY" lint "$ROOT/tests/cases/lint/verify-not-gate.bad.yaml"
t_exit "lint: unreadable file exits 2" 2 "$DRPLAY" lint "$work/nope.yaml"
t_exit "lint: unknown format exits 2" 2 "$DRPLAY" lint --format=xml "$ROOT/playbooks/toolbox_check.yaml"
sarif_ok=1
for f in "$ROOT"/tests/cases/lint/*.bad.yaml; do
	"$TDRPLAY" lint --format=sarif "$f" >"$work/out.sarif" 2>/dev/null
	if ! node "$T_NODE_DIR/validate-json.js" "$ROOT/tests/schemas/sarif-schema-2.1.0.json" "$work/out.sarif" >"$work/sarif.err" 2>&1; then
		sarif_ok=0
		t_fail "sarif: $(basename "$f") validates against the official SARIF 2.1.0 schema" "$(head -c 600 "$work/sarif.err")"
	fi
done
[ $sarif_ok = 1 ] && t_pass "sarif: every bad case's SARIF validates against the official 2.1.0 schema"
"$TDRPLAY" lint --format=sarif "$ROOT/tests/cases/lint/gate-continue.bad.yaml" >"$work/gc.sarif"
t_eq "sarif: result carries the rule, line and column" "gate-continue 5 65" \
	"$(node -e 'const s=JSON.parse(require("fs").readFileSync(process.argv[1]));const r=s.runs[0].results[0];const g=r.locations[0].physicalLocation.region;console.log(r.ruleId,g.startLine,g.startColumn)' "$work/gc.sarif")"
"$TDRPLAY" lint --format=json "$ROOT/tests/cases/lint/gate-continue.bad.yaml" >"$work/gc.json"
t_eq "lint --format=json: counts" "1 0" \
	"$(node -e 'const s=JSON.parse(require("fs").readFileSync(process.argv[1]));console.log(s.errors,s.warnings)' "$work/gc.json")"

# ---- the JSON Schema for editors ----
schema=$ROOT/grammar/playbook.schema.json
"$DRPLAY" schema >"$work/schema.json"
t_check "schema: grammar/playbook.schema.json is what 'drplay schema' prints (make spec)" cmp -s "$schema" "$work/schema.json"
for f in "$ROOT"/playbooks/*.yaml; do
	t_check "schema: $(basename "$f") validates" node "$T_NODE_DIR/validate-json.js" "$schema" "$f"
done
# the README's example playbook is a real one: it lints clean and validates
awk '/^```yaml$/ { on = 1; next } on && /^```$/ { exit } on' "$ROOT/README.md" >"$work/readme.yaml"
t_contains "readme: the example playbook was extracted" "$(cat "$work/readme.yaml")" "drplay: 1"
t_exit "readme: the example playbook lints" 0 "$DRPLAY" lint "$work/readme.yaml"
t_eq "readme: ... clean (no diagnostics)" "" "$T_OUT"
t_check "readme: ... and validates against the schema" node "$T_NODE_DIR/validate-json.js" "$schema" "$work/readme.yaml"
cat >"$work/bad-schema.yaml" <<'EOF'
drplay: 1
steps:
  - id: a
    action: log
    with: {mesage: hi}
EOF
t_exit "schema: an unknown parameter is rejected" 1 node "$T_NODE_DIR/validate-json.js" "$schema" "$work/bad-schema.yaml"
cat >"$work/bad-schema2.yaml" <<'EOF'
drplay: 1
steps:
  - id: a
    action: sleep
    with: {for: soon}
EOF
t_exit "schema: a bad duration is rejected" 1 node "$T_NODE_DIR/validate-json.js" "$schema" "$work/bad-schema2.yaml"

# ---- SPEC.md documents every action and kind (generated tables current) ----
"$DRPLAY" actions --format=markdown >"$work/actions.md"
awk '/<!-- BEGIN GENERATED ACTIONS -->/{on=1;next}/<!-- END GENERATED ACTIONS -->/{on=0}on' "$ROOT/SPEC.md" >"$work/spec-actions.md"
t_check "spec: SPEC.md's action tables match the registry (make spec)" cmp -s "$work/actions.md" "$work/spec-actions.md"
missing=""
for a in $("$DRPLAY" actions --format=json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>JSON.parse(s).actions.forEach(a=>console.log(a.name)))'); do
	grep -q "action \`$a\`" "$ROOT/SPEC.md" || missing+=" $a"
done
t_eq "spec: every registered action has a section in SPEC.md" "" "$missing"

# ---- command line basics ----
t_exit "cli: --version" 0 "$DRPLAY" --version
t_contains "cli: --version prints the version" "$T_OUT" "drplay 0."
t_exit "cli: --help" 0 "$DRPLAY" --help
t_exit "cli: help run" 0 "$DRPLAY" help run
t_contains "cli: help run lists the exit codes" "$T_OUT" "130 interrupted"
t_exit "cli: unknown command" 2 "$DRPLAY" frobnicate
t_exit "cli: run without a file" 2 "$DRPLAY" run
t_exit "cli: run with an unknown option" 2 "$DRPLAY" run --frob "$PB/quick.yaml"
t_exit "cli: unknown mode" 2 "$DRPLAY" run --mode=chaos "$PB/quick.yaml" --journal-dir "$J"
t_exit "cli: undeclared mode" 2 "$DRPLAY" run --mode=disaster "$PB/quick.yaml" --journal-dir "$J"
t_exit "cli: actions NAME" 0 "$DRPLAY" actions exec
t_contains "cli: actions NAME shows parameters" "$T_OUT" "destructive"
t_exit "cli: actions unknown" 2 "$DRPLAY" actions nope
t_exit "cli: options after the file work too" 0 "$DRPLAY" run "$PB/quick.yaml" --journal-dir "$J" --param greeting=hej
t_contains "cli: ... and take effect" "$T_OUT" "hej"
