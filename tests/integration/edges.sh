#!/usr/bin/env bash
# edges.sh: the promises at the edges (SPEC.md section 3, guarantees 8 and
# 10; section 5): bytes from children that are not UTF-8 or hold terminal
# escapes, secrets computed from secrets, secret files checked before the
# first step, children's environment without the playbook's secrets, and
# --authorize-file.
set -u
. "$(dirname "$0")/../lib/common.sh"
require_drplay
PB=$ROOT/tests/integration/playbooks/edges
work=$(t_tmpdir edges) || die_setup "no temp dir"

jsget() { # FILE EXPR: a JS expression over the parsed JSON file (o)
	node -e 'const o=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));console.log(eval(process.argv[2]))' "$1" "$2"
}
jsevents() { # FILE EXPR: a JS expression over the journal's events (ev)
	node -e 'const ev=require("fs").readFileSync(process.argv[1],"utf8").split("\n").filter(Boolean).map(JSON.parse);console.log(eval(process.argv[2]))' "$1" "$2"
}
raw_controls() { # prints the count of raw control bytes (not \t or \n) in stdin
	LC_ALL=C tr -d '\t\n' | LC_ALL=C tr -dc '\000-\037\177' | wc -c
}

# ---- bytes from a child: masked, repaired, escaped; the reason survives ----
b=$work/bytes
mkdir -p "$b/alone"
printf 'reason caf\351 \033]0;pwned\007 end\n' >"$b/alone/reason.bin"
t_exit "bytes: a step failing with bytes that are not UTF-8" 4 \
	"$DRPLAY" run "$PB/bytes.yaml" --param out="$b/alone" --param noisy=false --journal-dir "$b/alone/j"
t_eq "bytes: its reason is in the journal's step_end" true \
	"$(jsevents "$(ls "$b"/alone/j/*.jsonl)" 'ev.filter(e=>e.event=="step_end"&&e.step=="fails")[0].error.includes("reason caf\ufffd")')"
t_eq "bytes: its reason is in the JSON report" true \
	"$(jsget "$b/alone/report.json" 'o.run.steps.filter(s=>s.id=="fails")[0].error.includes("reason caf\ufffd")')"
t_contains "bytes: its reason is in JUnit" "$(cat "$b/alone/report.xml")" "reason caf"$'\xef\xbf\xbd'

printf 'password=caf\351\napi_key=\360\n\033[2J cleared\n' >"$b/noisy.bin"
printf 'reason caf\351 \033]0;pwned\007 end\n' >"$b/reason.bin"
t_exit "bytes: a child's invalid UTF-8 after a credential does not crash the run" 4 \
	"$DRPLAY" run "$PB/bytes.yaml" --param out="$b" --journal-dir "$b/j"
out=$T_OUT
t_contains "bytes: the credential is masked" "$out" "password=***"
t_contains "bytes: an escape sequence is shown escaped" "$out" '\x1b[2J cleared'
t_eq "bytes: no raw control character reaches the terminal" 0 "$(printf '%s' "$out" | raw_controls)"
jf=$(ls "$b"/j/*.jsonl)
t_eq "bytes: the journal ends with run_end" run_end "$(jsevents "$jf" 'ev[ev.length-1].event')"
t_eq "bytes: the failing step's reason is in the journal, repaired (U+FFFD)" true \
	"$(jsevents "$jf" 'ev.filter(e=>e.event=="step_end"&&e.step=="fails")[0].error.includes("reason caf\ufffd \u001b]0;pwned\u0007 end")')"
st=$("$DRPLAY" status --journal-dir "$b/j" 2>&1)
t_contains "bytes: status shows the reason, escaped" "$st" 'reason caf'$'\xef\xbf\xbd'' \x1b]0;pwned\x07 end'
t_eq "bytes: status prints no raw control character" 0 "$(printf '%s' "$st" | raw_controls)"
"$DRPLAY" status --json --journal-dir "$b/j" >"$b/status.json" 2>&1
t_eq "bytes: status --json keeps the reason" true \
	"$(jsget "$b/status.json" 'o.steps.filter(s=>s.step=="fails")[0].error.includes("reason caf\ufffd")')"
t_eq "bytes: the JSON report keeps the reason" true \
	"$(jsget "$b/report.json" 'o.run.steps.filter(s=>s.id=="fails")[0].error.includes("reason caf\ufffd")')"
t_contains "bytes: the Markdown report keeps the reason" "$(cat "$b/report.md")" "reason caf"$'\xef\xbf\xbd'
t_check "bytes: the JUnit file is well-formed XML" xmllint --noout "$b/report.xml"
t_contains "bytes: JUnit keeps the reason" "$(cat "$b/report.xml")" "reason caf"$'\xef\xbf\xbd'

# ---- what reaches the terminal: values from the command line ----
tm=$work/terminal
esc=$'\e]0;pwned\a'
forge=$'\nrun 1 succeeded: 9 ok'
t_exit "terminal: a plan with a param holding control characters" 0 \
	"$DRPLAY" plan "$PB/terminal.yaml" --param note="a${esc}b${forge}" --journal-dir "$tm/j"
t_contains "terminal: the plan shows the param escaped" "$T_OUT" 'a\x1b]0;pwned\x07b\nrun 1 succeeded: 9 ok'
t_eq "terminal: the plan prints no raw control character" 0 "$(printf '%s' "$T_OUT" | raw_controls)"
t_exit "terminal: a run logging that param" 0 \
	"$DRPLAY" run "$PB/terminal.yaml" --param note="a${esc}b${forge}" --journal-dir "$tm/j"
t_contains "terminal: the log line shows it escaped" "$T_OUT" '      note: a\x1b]0;pwned\x07b\nrun 1 succeeded: 9 ok'
t_eq "terminal: the run prints no raw control character" 0 "$(printf '%s' "$T_OUT" | raw_controls)"
t_not_contains "terminal: no forged summary line" "$T_OUT" $'\nrun 1 succeeded'
t_eq "terminal: the journal keeps the value as it was" true \
	"$(jsevents "$(ls "$tm"/j/*.jsonl)" 'ev.filter(e=>e.event=="log")[0].message.endsWith("\u0007b\nrun 1 succeeded: 9 ok")')"
t_exit "terminal: a value outside 'allowed'" 2 \
	"$DRPLAY" run "$PB/terminal.yaml" --param level="high${esc}" --journal-dir "$tm/j"
t_contains "terminal: ... is quoted escaped" "$T_OUT" "param 'level' is 'high\\x1b]0;pwned\\x07', which is not allowed"
t_exit "terminal: an unknown param name" 2 \
	"$DRPLAY" run "$PB/terminal.yaml" --param "x${esc}=1" --journal-dir "$tm/j"
t_eq "terminal: errors print no raw control character" 0 "$(printf '%s' "$T_OUT" | raw_controls)"

# ---- values computed from secrets are secrets, in the journal too ----
TDRPLAY=${DRPLAY_TEST_BIN:-$ROOT/tests/drplay-test}
dv=$work/derived
t_exit "derived: a run whose children print values computed from secrets" 4 \
	env API_TOKEN=tok-abc123-very-secret DSN='host=db user=app password=pw-Derived-77' \
	"$TDRPLAY" run "$ROOT/tests/cases/run/derived_secret.yaml" --journal-dir "$dv/j"
t_not_contains "derived: the transcript shows none of them" "$T_OUT" "pw-Derived-77"
jtext=$(cat "$dv"/j/*.jsonl)
for v in TOK-ABC123-VERY-SECRET pw-Derived-77 chosen-tok-abc123 id-tok-abc123 ID-TOK-ABC123; do
	t_not_contains "derived: the journal does not hold '$v'" "$jtext" "$v"
done
t_contains "derived: ... it holds the masks" "$jtext" '"stdout":"***\n***\n***\n***\n***\n***\n"'
