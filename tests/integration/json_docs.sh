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

export JSON_TOKEN=the-json-token-value JSON_DB_TOKEN=db-token-secret-value

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
