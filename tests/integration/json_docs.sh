#!/usr/bin/env bash
# json_docs.sh: the --json documents of every command, validated with ajv
# against their schemas in grammar/ (tests/node/validate-json.js), with the
# facts in them checked too: the plan's steps and decisions, secrets masked,
# refusals before a run as one object on stdout with the exit code and the
# reason (usage, lint errors, authorization, a held lock, a missing secret).
set -u
. "$(dirname "$0")/../lib/common.sh"
require_drplay
require_node_modules
TDRPLAY=${DRPLAY_TEST_BIN:-$ROOT/tests/drplay-test}
PB=$ROOT/tests/integration/playbooks/json
G=$ROOT/grammar
work=$(t_tmpdir json) || die_setup "no temp dir"
J=$work/journal

# valid NAME SCHEMA FILE: the document validates against grammar/SCHEMA
valid() {
	local out
	if out=$(node "$T_NODE_DIR/validate-json.js" "$G/$2" "$3" 2>&1); then
		t_pass "$1: valid against $2"
	else
		t_fail "$1: valid against $2" "$out"
	fi
}
# field FILE EXPR: a JavaScript expression over the document `d`
field() {
	node -e 'const fs=require("fs");const d=JSON.parse(fs.readFileSync(process.argv[1],"utf8"));console.log(eval(process.argv[2]))' "$1" "$2"
}
# one_doc FILE: stdout held exactly one JSON value
one_doc() {
	node -e 'const fs=require("fs");const t=fs.readFileSync(process.argv[1],"utf8");JSON.parse(t);process.exit(t.trim().split("\n}\n").length===1?0:1)' "$1"
}

export JSON_TOKEN=the-json-token-value JSON_DB_TOKEN=db-token-secret-value JSON_FLAG_FILE=$work/flag

# ---- plan --json, run --dry-run --json ----
"$TDRPLAY" plan "$PB/plan.yaml" --json --journal-dir "$J" >"$work/plan.json" 2>"$work/plan.err"
t_eq "plan --json: exit 0" 0 $?
valid "plan --json" drplay.plan.schema.json "$work/plan.json"
t_eq "plan --json: steps in order with decisions" "creds:run safety:skip restore:skip say:run maybe:run_if" \
	"$(field "$work/plan.json" 'd.steps.map(s=>s.id+":"+s.decision).join(" ")')"
t_eq "plan --json: mode, version and format" "validation drplay.plan/1 true" \
	"$(field "$work/plan.json" 'd.mode+" "+d.format+" "+(d.drplay.length>0)')"
t_eq "plan --json: a secret field reads ***" "*** true" \
	"$(field "$work/plan.json" 'const f=d.resources.find(r=>r.name==="prod").fields.token;f.value+" "+f.secret')"
t_eq "plan --json: a param typed and resolved in an argument" "3" "$(field "$work/plan.json" 'd.params.rows')"
t_eq "plan --json: the skip reason" "not in validation mode (runs only in disaster mode)" \
	"$(field "$work/plan.json" 'd.steps[1].skip_reason')"
t_eq "plan --json: requires, when, gate" "say|params.rows > 2|true" \
	"$(field "$work/plan.json" 'd.steps[4].requires.join()+"|"+d.steps[4].when+"|"+d.steps[0].gate')"
t_not_contains "plan --json: no secret value anywhere" "$(cat "$work/plan.json")" "db-token-secret-value"
t_eq "plan --json: nothing journaled" "" "$(ls "$J" 2>/dev/null)"
(umask 077 && printf %s "$JSON_TOKEN" >"$work/token")
"$TDRPLAY" run "$PB/plan.yaml" --dry-run --json --mode=disaster --authorize-file "$work/token" \
	--param restore_to=2026-11-29T09:10:00Z --journal-dir "$J" >"$work/dry.json" 2>"$work/dry.err"
t_eq "run --dry-run --json (disaster): exit 0" 0 $?
valid "run --dry-run --json" drplay.plan.schema.json "$work/dry.json"
t_eq "run --dry-run --json: disaster steps run, authorization given" "run run given and matching" \
	"$(field "$work/dry.json" 'd.steps[1].decision+" "+d.steps[2].decision+" "+d.guards.authorization')"
t_eq "run --dry-run --json: a timestamp param resolved into an argument" "before-2026-11-29T09:10:00Z" \
	"$(field "$work/dry.json" 'd.steps[1].args.name.value')"
t_not_contains "run --dry-run --json: the token nowhere" "$(cat "$work/dry.json")" "the-json-token-value"

# ---- refusals before the run: one object on stdout ----
refusal() { # NAME EXIT REASON_PART CMD...: exit code, one valid refusal object, its reason
	local name=$1 want=$2 part=$3
	shift 3
	"$@" >"$work/ref.json" 2>"$work/ref.err"
	local rc=$?
	t_eq "$name: exit $want" "$want" "$rc"
	valid "$name" drplay.refusal.schema.json "$work/ref.json"
	if one_doc "$work/ref.json"; then t_pass "$name: one object on stdout"; else t_fail "$name: one object on stdout" "$(cat "$work/ref.json")"; fi
	t_eq "$name: the exit code in the document" "$want" "$(field "$work/ref.json" 'd.exit_code')"
	t_contains "$name: the reason" "$(field "$work/ref.json" 'd.reason')" "$part"
}
refusal "usage refusal" 2 "unknown or incomplete option '--bogus'" "$DRPLAY" run "$PB/plan.yaml" --bogus --json
refusal "missing secret refusal" 2 "the plan needs the secrets" env -u JSON_DB_TOKEN "$TDRPLAY" plan "$PB/plan.yaml" --json
t_contains "missing secret refusal: names the secret" "$(field "$work/ref.json" 'd.errors.map(e=>e.message).join("|")')" \
	"secret JSON_DB_TOKEN is not set"
t_eq "missing secret refusal: its location" "plan.yaml:12" \
	"$(field "$work/ref.json" 'd.location.file.split("/").pop()+":"+d.location.line')"
refusal "authorization refusal" 3 "disaster mode needs explicit authorization" \
	"$TDRPLAY" run "$PB/plan.yaml" --json --mode=disaster --param restore_to=2026-11-29T09:10:00Z --journal-dir "$J"
refusal "wrong token refusal" 3 "nothing ran" \
	"$TDRPLAY" run "$PB/plan.yaml" --json --mode=disaster --authorize=not-the-token --param restore_to=2026-11-29T09:10:00Z --journal-dir "$J"
t_not_contains "wrong token refusal: the expected token is not shown" "$(cat "$work/ref.json")" "the-json-token-value"
refusal "lint refusal" 2 "error in the playbook; nothing ran" "$TDRPLAY" run "$PB/lint_error.yaml" --json --journal-dir "$J"
t_eq "lint refusal: the diagnostic with its rule and place" "error unknown-action lint_error.yaml:6" \
	"$(field "$work/ref.json" 'const g=d.diagnostics[0];g.severity+" "+g.rule+" "+g.file.split("/").pop()+":"+g.line')"
t_eq "lint refusal: the document's location" "lint_error.yaml:6" \
	"$(field "$work/ref.json" 'd.location.file.split("/").pop()+":"+d.location.line')"
refusal "unreadable playbook refusal" 2 "nothing ran" "$DRPLAY" plan "$work/nonexistent.yaml" --json

# ---- run --json: the journal's events, one per line ----
"$TDRPLAY" run "$PB/follow.yaml" --json --journal-dir "$J" >"$work/run.jsonl" 2>"$work/run.err"
t_eq "run --json: exit 0" 0 $?
valid "run --json" drplay.event.schema.json "$work/run.jsonl"
t_eq "run --json: the first line names the version and format" "run_start drplay.journal/1" \
	"$(t_jsonl "$work/run.jsonl" 'ev[0].event+" "+ev[0].format')"
t_eq "run --json: the last line is run_end" "run_end 0" "$(t_jsonl "$work/run.jsonl" 'const e=ev[ev.length-1];e.event+" "+e.exit_code')"
t_eq "run --json: no transcript on stdout" "" "$(grep -v '^{' "$work/run.jsonl")"

# ---- one-step commands: maintenance on, off, status; cleanup ----
cmd_doc() { # NAME EXIT CMD...: one valid drplay.command/1 document on stdout
	local name=$1 want=$2
	shift 2
	"$@" >"$work/cmd.json" 2>"$work/cmd.err"
	t_eq "$name: exit $want" "$want" $?
	valid "$name" drplay.command.schema.json "$work/cmd.json"
}
cmd_doc "maintenance on --json" 0 "$TDRPLAY" maintenance on "$PB/follow.yaml" --switch switch --message "back at 10" --journal-dir "$J" --json
t_eq "maintenance on --json: the switch is on, journaled" "maintenance on on back at 10 true" \
	"$(field "$work/cmd.json" 'd.command+" "+d.outputs.state+" "+d.outputs.message+" "+(d.run!==null)')"
t_eq "maintenance on --json: the flag file is really set" "true" "$(test -s "$JSON_FLAG_FILE" && echo true)"
cmd_doc "maintenance status --json" 0 "$TDRPLAY" maintenance status "$PB/follow.yaml" --switch switch --journal-dir "$J" --json
t_eq "maintenance status --json: on, read-only (no journal)" "on null false" \
	"$(field "$work/cmd.json" 'd.outputs.state+" "+d.run+" "+d.state_changed')"
cmd_doc "maintenance off --json" 0 "$TDRPLAY" maintenance off "$PB/follow.yaml" --switch switch --journal-dir "$J" --json
t_eq "maintenance off --json: off, was on" "off on" "$(field "$work/cmd.json" 'd.outputs.state+" "+d.outputs.previous')"
cmd_doc "cleanup --json of a kind that keeps nothing" 4 "$TDRPLAY" cleanup "$PB/follow.yaml" --resource switch --journal-dir "$J" --json
t_contains "cleanup --json: the error says why" "$(field "$work/cmd.json" 'd.outcome+": "+d.error')" \
	"failed: resource 'switch' is of kind maintenance, which keeps no snapshots"
refusal "maintenance: an unknown verb" 2 "unknown verb 'sideways'" \
	"$TDRPLAY" maintenance sideways "$PB/follow.yaml" --switch switch --json

# ---- lint --json and --format=json, lint - ----
"$DRPLAY" lint --json "$PB/lint_error.yaml" >"$work/lint.json"
t_eq "lint --json: exit 1" 1 $?
valid "lint --json" drplay.lint.schema.json "$work/lint.json"
t_eq "lint --json: the finding" "1 unknown-action" "$(field "$work/lint.json" 'd.errors+" "+d.diagnostics[0].rule')"
"$DRPLAY" lint --format=json "$PB/lint_error.yaml" >"$work/lint2.json"
t_eq "lint --format=json is lint --json" "$(cat "$work/lint.json")" "$(cat "$work/lint2.json")"
"$DRPLAY" lint --json - <"$PB/lint_error.yaml" >"$work/lint3.json"
t_eq "lint - --json: reads standard input" "1 <stdin> 6" "$(field "$work/lint3.json" 'd.errors+" "+d.diagnostics[0].file+" "+d.diagnostics[0].line')"
t_exit "lint -: a clean playbook on standard input" 0 bash -c '"$1" lint - <"$2"' _ "$DRPLAY" "$ROOT/tests/integration/playbooks/core/quick.yaml"
refusal "lint: an unknown format" 2 "unknown format 'xml'" "$DRPLAY" lint --format=xml --json "$PB/lint_error.yaml"

# ---- actions --json: kinds, drivers, typed defaults ----
"$DRPLAY" actions --json >"$work/actions.json"
t_eq "actions --json: exit 0" 0 $?
valid "actions --json" drplay.actions.schema.json "$work/actions.json"
t_eq "actions --json: kinds with their drivers" "maintenance:file,http,postgres,redis pitr:local,neon,pgbackrest" \
	"$(field "$work/actions.json" 'd.kinds.filter(k=>k.drivers).map(k=>k.name+":"+k.drivers.map(x=>x.name).join()).join(" ")')"
t_eq "actions --json: typed defaults (a number, a boolean)" "number boolean" \
	"$(field "$work/actions.json" 'const ps=d.actions.flatMap(a=>a.parameters);typeof ps.find(p=>p.type==="int"&&"default" in p).default+" "+typeof ps.find(p=>p.type==="bool"&&"default" in p).default')"
t_eq "actions --json: no default spelled as a string of a number or boolean" "" \
	"$(field "$work/actions.json" 'd.actions.flatMap(a=>a.parameters).filter(p=>["int","number","bool"].includes(p.type)&&typeof p.default==="string").map(p=>p.name).join()')"
"$DRPLAY" actions pitr --json >"$work/kind.json"
valid "actions KIND --json" drplay.actions.schema.json "$work/kind.json"
t_eq "actions KIND --json: that kind alone" "pitr 0" "$(field "$work/kind.json" 'd.kinds.map(k=>k.name).join()+" "+d.actions.length')"
refusal "actions: an unknown name" 2 "no action or resource kind 'nope'" "$DRPLAY" actions nope --json

# ---- -h and --help on every command: exit 0, usage on stdout ----
for c in $("$DRPLAY" --help | sed -n 's/^  \([a-z]*\) .*/\1/p'); do
	for h in -h --help; do
		out=$("$DRPLAY" "$c" $h 2>&1)
		rc=$?
		if [ "$rc" = 0 ] && [[ $out == usage:* ]]; then
			t_pass "$c $h: exit 0 with its usage"
		else
			t_fail "$c $h: exit 0 with its usage" "exit $rc: $out"
		fi
	done
done
