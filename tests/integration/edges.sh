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

# ---- whole before first: every secret file checked before the first step ----
sf=$work/secret_files
mkdir -p "$sf/dir"
mkfifo "$sf/fifo"
: >"$sf/empty"
printf '\n' >"$sf/newline_only"
head -c 70000 /dev/zero | tr '\0' k >"$sf/large"
printf 'abc\n' >"$sf/short"
printf 'tok-\0-nul\n' >"$sf/nul"
printf 'smoke-token-1234\n' >"$sf/good"
secret_file_case() { # NAME PATH WHAT: the run is refused, nothing ran, the message says WHAT
	local name=$1 path=$2 what=$3
	rm -f "$sf/first-step-ran"
	t_exit "secret files: SMOKE_TOKEN_FILE=$name is refused before the first step (exit 3)" 3 \
		env -u SMOKE_TOKEN SMOKE_TOKEN_FILE="$path" timeout 20 "$DRPLAY" run "$PB/secret_files.yaml" \
		--param out="$sf" --journal-dir "$sf/j"
	t_contains "secret files: ... the message names the variable and says it $what" "$T_OUT" "secret SMOKE_TOKEN"
	t_contains "secret files: ... $what" "$T_OUT" "$what"
	if [[ -e $sf/first-step-ran ]]; then
		t_fail "secret files: ... with $name nothing ran" "the first step ran"
	else
		t_pass "secret files: ... with $name nothing ran"
	fi
}
secret_file_case /nonexistent /nonexistent "cannot be opened: No such file or directory"
secret_file_case "a directory" "$sf/dir" "is a directory, not a regular file"
secret_file_case "a FIFO" "$sf/fifo" "is a FIFO, not a regular file"
secret_file_case /dev/zero /dev/zero "is a device, not a regular file"
secret_file_case "an empty file" "$sf/empty" "is empty"
secret_file_case "a file with only a newline" "$sf/newline_only" "is empty"
secret_file_case "a file over 64 KiB" "$sf/large" "is larger than 64 KiB"
secret_file_case "a 3-byte secret" "$sf/short" "is only 3 bytes long"
secret_file_case "a file with a NUL byte" "$sf/nul" "holds a NUL byte"
t_not_contains "secret files: the short secret's value is never printed" "$T_OUT" "abc"
rm -f "$sf/first-step-ran"
t_exit "secret files: a good secret file runs" 0 \
	env -u SMOKE_TOKEN SMOKE_TOKEN_FILE="$sf/good" "$DRPLAY" run "$PB/secret_files.yaml" --param out="$sf" --journal-dir "$sf/j"

# ---- children's environment: no secrets but those given by env: ----
ce=$work/child_env
mkdir -p "$ce"
printf 'file-token-value\n' >"$ce/webhook"
t_exit "child env: a run whose child lists its environment" 0 \
	env EDGE_DISASTER_TOKEN=disaster-token-1 EDGE_DB_URL=postgresql://u:pw-child-env@db/x EDGE_GIVEN=given-value-1 \
	EDGE_WEBHOOK_FILE="$ce/webhook" EDGE_UNRELATED=kept \
	"$DRPLAY" run "$PB/child_env.yaml" --journal-dir "$ce/j"
names=$T_OUT
for v in EDGE_DISASTER_TOKEN EDGE_DB_URL EDGE_WEBHOOK_FILE; do
	t_not_contains "child env: the child does not inherit $v" "$names" "      $v"$'\n'
done
t_contains "child env: a secret given through env: reaches it" "$names" $'      GIVEN\n'
t_contains "child env: other variables are inherited" "$names" $'      EDGE_UNRELATED\n'
t_contains "child env: ... PATH too" "$names" $'      PATH\n'

# ---- --authorize-file: the token out of argv, from a private file ----
af=$work/authorize
mkdir -p "$af"
printf 'disaster-token-1\n' >"$af/token"
chmod 600 "$af/token"
cp "$af/token" "$af/group_readable" && chmod 640 "$af/group_readable"
cp "$af/token" "$af/world_readable" && chmod 604 "$af/world_readable"
printf 'wrong-token-9\n' >"$af/wrong" && chmod 600 "$af/wrong"
aenv=(env EDGE_DISASTER_TOKEN=disaster-token-1 EDGE_DB_URL=postgresql://u:pw@db/x EDGE_GIVEN=given-value-1)
t_exit "authorize-file: a private file with the token authorizes disaster mode" 0 \
	"${aenv[@]}" "$DRPLAY" run "$PB/child_env.yaml" --mode=disaster --authorize-file "$af/token" --journal-dir "$af/j"
t_exit "authorize-file: a group-readable file is refused (exit 3)" 3 \
	"${aenv[@]}" "$DRPLAY" run "$PB/child_env.yaml" --mode=disaster --authorize-file="$af/group_readable" --journal-dir "$af/j"
t_contains "authorize-file: ... and says why" "$T_OUT" "can be read by its group (mode 640); make it private: chmod 600"
t_exit "authorize-file: a world-readable file is refused (exit 3)" 3 \
	"${aenv[@]}" "$DRPLAY" run "$PB/child_env.yaml" --mode=disaster --authorize-file "$af/world_readable" --journal-dir "$af/j"
t_contains "authorize-file: ... and says why" "$T_OUT" "can be read by every user (mode 604)"
t_exit "authorize-file: a wrong token is refused (exit 3)" 3 \
	"${aenv[@]}" "$DRPLAY" run "$PB/child_env.yaml" --mode=disaster --authorize-file "$af/wrong" --journal-dir "$af/j"
t_contains "authorize-file: ... without printing either token" "$T_OUT" "the --authorize-file token does not match"
t_not_contains "authorize-file: ... (no token in the message)" "$T_OUT" "wrong-token-9"
t_exit "authorize-file: a missing file is refused (exit 3)" 3 \
	"${aenv[@]}" "$DRPLAY" run "$PB/child_env.yaml" --mode=disaster --authorize-file "$af/none" --journal-dir "$af/j"
t_exit "authorize-file: with --authorize too it is a usage error" 2 \
	"${aenv[@]}" "$DRPLAY" run "$PB/child_env.yaml" --mode=disaster --authorize-file "$af/token" \
	--authorize=disaster-token-1 --journal-dir "$af/j"

# ---- a multi-line secret: every line masked in the journal's log events ----
ml=$work/multiline
t_exit "multiline: a child prints a PEM key and lines of it" 0 \
	env TLS_KEY_FILE="$ROOT/tests/cases/run/data/pem_key.txt" \
	bash -c 'cd "$1/tests/cases" && "$2" run run/multiline_secret.yaml --journal-dir "$3"' _ "$ROOT" "$DRPLAY" "$ml/j"
jtext=$(cat "$ml"/j/*.jsonl)
for v in 'BEGIN PRIVATE KEY' MIIEvQIBADANBgkqhkiG9w0BAQEFAASC vJZfX+4RvXlUN; do
	t_not_contains "multiline: the journal does not hold '$v'" "$jtext" "$v"
done
t_contains "multiline: ... its log events hold the masks" "$jtext" '"message":"parsed: *** and *** in a sentence"'

# ---- a relayed line over 64 KiB: masked, then cut, with a note ----
t_exit "long line: a child prints a 64 KiB line with a secret across the cut" 0 \
	env EDGE_LONG_TOKEN=long-line-secret-42 "$DRPLAY" run "$PB/long_line.yaml" --journal-dir "$work/long/j"
t_contains "long line: the cut is said, the secret masked before it" "$T_OUT" 'xxxxxx*** ... (line cut: longer than 65536 bytes)'
t_not_contains "long line: ... no byte of the secret is left" "$T_OUT" "long-l"
t_contains "long line: the next line is relayed" "$T_OUT" $'      next line\n'
