#!/usr/bin/env bash
# files_edges.sh: the files drplay opens, against hostile or unusual ones:
# the lock never followed through a planted symbolic link (or a hard link,
# a FIFO) and never outside the journal directory; a playbook name that
# could leave it refused by lint, run and the JSON Schema alike; a FIFO,
# device or directory given as the playbook refused at once instead of
# blocking; "-" reading the playbook from standard input; and `drplay
# status` on a journal whose last line is torn, telling a run that is still
# running from one that was killed.
set -u
. "$(dirname "$0")/../lib/common.sh"
require_drplay
require_node
TDRPLAY=${DRPLAY_TEST_BIN:-$ROOT/tests/drplay-test}
PB=$ROOT/tests/integration/playbooks/core
work=$(t_tmpdir files) || die_setup "no temp dir"

# ---- the lock: a planted symbolic link, hard link or FIFO is refused ----
precious=$work/precious
for kind in symlink hardlink fifo; do
	J=$work/lock-$kind
	mkdir -p "$J"
	printf 'keep me\n' >"$precious"
	case $kind in
	symlink) ln -s "$precious" "$J/quick.lock" ;;
	hardlink) ln "$precious" "$J/quick.lock" ;;
	fifo) mkfifo "$J/quick.lock" ;;
	esac
	t_exit "lock $kind: the run is refused (exit 3), at once" 3 timeout 10 "$DRPLAY" run "$PB/quick.yaml" --journal-dir "$J"
	t_contains "lock $kind: the refusal names the lock file" "$T_OUT" "lock file '$J/quick.lock'"
	t_contains "lock $kind: ... and says nothing ran" "$T_OUT" "nothing ran"
	t_eq "lock $kind: the file it points to is untouched" "keep me" "$(cat "$precious")"
	t_eq "lock $kind: no journal was written" "" "$(ls "$J"/*.jsonl 2>/dev/null)"
done
t_contains "lock symlink: the refusal says why" "$(timeout 10 "$DRPLAY" run "$PB/quick.yaml" --journal-dir "$work/lock-symlink" 2>&1)" \
	"is a symbolic link, which drplay never follows"

# ---- the playbook name stays inside the journal directory ----
mkdir -p "$work/n/a/b"
cat >"$work/n/escape.yaml" <<'YAML'
drplay: 1
name: "../../x"
steps:
  - {id: a, action: log, with: {message: hi}}
YAML
t_exit "name: lint refuses '../../x' (exit 1)" 1 "$DRPLAY" lint "$work/n/escape.yaml"
t_contains "name: ... a located error" "$T_OUT" "escape.yaml:2:7: error: [schema-value] playbook name '../../x' is not allowed"
t_exit "name: run refuses it (exit 2)" 2 "$DRPLAY" run "$work/n/escape.yaml" --journal-dir "$work/n/a/b/journal"
t_eq "name: no lock was made outside the journal directory" "" "$(find "$work/n" -name '*.lock')"
schema=$ROOT/grammar/playbook.schema.json
t_exit "name: the JSON Schema rejects it too" 1 node "$T_NODE_DIR/validate-json.js" "$schema" "$work/n/escape.yaml"
for bad in ".hidden" "a/b" "with space" "$(printf 'x%.0s' {1..129})"; do
	printf 'drplay: 1\nname: "%s"\nsteps:\n  - {id: a, action: log, with: {message: hi}}\n' "$bad" >"$work/n/bad.yaml"
	t_exit "name: lint refuses '${bad:0:20}'" 1 "$DRPLAY" lint "$work/n/bad.yaml"
	t_exit "name: ... and so does the schema" 1 node "$T_NODE_DIR/validate-json.js" "$schema" "$work/n/bad.yaml"
done
for good in "db-restore_v1.2" "_x" "-dash" "$(printf 'x%.0s' {1..128})"; do
	printf 'drplay: 1\nname: "%s"\nsteps:\n  - {id: a, action: log, with: {message: hi}}\n' "$good" >"$work/n/good.yaml"
	t_exit "name: lint accepts '${good:0:20}'" 0 "$DRPLAY" lint "$work/n/good.yaml"
	t_exit "name: ... and so does the schema" 0 node "$T_NODE_DIR/validate-json.js" "$schema" "$work/n/good.yaml"
done

# ---- a FIFO, a device or a directory as the playbook: refused at once ----
mkfifo "$work/fifo.yaml"
for what in "$work/fifo.yaml:a FIFO (named pipe)" "/dev/zero:a character device" "$work:a directory"; do
	f=${what%%:*}
	desc=${what#*:}
	for cmd in lint run plan; do
		opts=()
		[ $cmd = lint ] || opts=(--journal-dir "$work/j-none")
		t_exit "$cmd $desc: refused at once (exit 2)" 2 timeout 10 "$DRPLAY" $cmd "$f" "${opts[@]}"
		t_contains "$cmd $desc: says what it is and what to give" "$T_OUT" \
			"'$f' is $desc, not a playbook file; give a regular file, or - to read the playbook from standard input"
	done
done
t_exit "lint: a FIFO among good files is refused, the others still linted" 2 timeout 10 \
	"$DRPLAY" lint "$ROOT/playbooks/toolbox_check.yaml" "$work/fifo.yaml"

# ---- "-" reads the playbook from standard input ----
J=$work/stdin-journal
t_exit "stdin: lint - reads standard input" 0 "$DRPLAY" lint - <"$PB/quick.yaml"
t_eq "stdin: ... clean" "" "$T_OUT"
printf 'drplay: 1\nsteps:\n  - {id: a, action: log, with: {mesage: hi}}\n' >"$work/typo.yaml"
t_exit "stdin: lint - finds the errors" 1 "$DRPLAY" lint - <"$work/typo.yaml"
t_contains "stdin: diagnostics name <stdin> with line and column" "$T_OUT" "<stdin>:3:33: error: [unknown-param]"
t_exit "stdin: plan -" 0 "$DRPLAY" plan - <"$PB/quick.yaml"
t_contains "stdin: ... names the playbook" "$T_OUT" "plan for 'quick' (<stdin>)"
t_exit "stdin: run -" 0 "$DRPLAY" run - --journal-dir "$J" <"$PB/quick.yaml"
t_contains "stdin: ... ran the steps" "$T_OUT" "hello from drplay"
jf=$(ls "$J"/*.jsonl)
t_eq "stdin: the journal records the file as <stdin>, with the sha256 of what was read" \
	"<stdin> $(sha256sum <"$PB/quick.yaml" | cut -d' ' -f1)" "$(t_jsonl "$jf" 'ev[0].file+" "+ev[0].sha256')"
sed '/^name:/d' "$PB/quick.yaml" >"$work/noname.yaml"
t_exit "stdin: a playbook without a name" 0 "$DRPLAY" run - --journal-dir "$J" <"$work/noname.yaml"
t_contains "stdin: ... is named 'stdin' (its lock is stdin.lock)" "$T_OUT" "playbook 'stdin' (<stdin>)"
t_check "stdin: ... in the journal directory" test -f "$J/stdin.lock"

# ---- status: a torn last line; running or killed ----
J=$work/status-journal
marker="0.000$$5"
"$TDRPLAY" run "$PB/interrupt.yaml" --journal-dir "$J" --param marker="$marker" >"$work/long.out" 2>&1 &
pid=$!
t_watch_pid $pid
if wait_until 10 pgrep -f "sleep 30 $marker"; then
	t_exit "status: a run in progress" 0 "$DRPLAY" status --journal-dir "$J"
	t_contains "status: ... is still running, with its pid and step" "$T_OUT" \
		"the run is still running (pid $pid holds this journal open): now in step 'long' (exec)"
	t_exit "status --json: a run in progress" 0 "$DRPLAY" status --journal-dir "$J" --json
	t_eq "status --json: running, pid" "true $pid long" \
		"$(printf '%s' "$T_OUT" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const o=JSON.parse(s);console.log(o.running,o.pid,o.running_step)})')"
	kill -9 $pid
	wait $pid 2>/dev/null
	t_unwatch_pid $pid
	pkill -f "sleep 30 $marker"
	t_exit "status: the same run after SIGKILL" 0 "$DRPLAY" status --journal-dir "$J"
	t_contains "status: ... is told apart as killed" "$T_OUT" \
		"the journal stops during step 'long' (exec); its process is gone (killed, or the machine went down)"
	t_not_contains "status: ... not as running" "$T_OUT" "still running"
	# a crash (or a full disk) cut the last line, leaving NUL padding
	jf=$(ls "$J"/*.jsonl)
	printf '{"ts":"2026-01-01T00:00:00.000Z","event":"step_end","step":"lo' >>"$jf"
	head -c 512 /dev/zero >>"$jf"
	t_exit "status: a journal whose last line is torn" 0 "$DRPLAY" status --journal-dir "$J"
	t_contains "status: ... says the last line is incomplete" "$T_OUT" "the journal's last line is incomplete (cut off while it was written"
	t_contains "status: ... and still shows the steps before it" "$T_OUT" "maint_on"
	t_contains "status: ... and the state they left" "$T_OUT" "maintenance: ON"
	t_not_contains "status: ... without calling the journal damaged" "$T_OUT" "could not be read"
	mkfifo "$J/99999999T999999Z-ffffffff.jsonl"
	t_exit "status: a FIFO among the journals is passed over, not waited on" 0 timeout 10 "$DRPLAY" status --journal-dir "$J"
	t_contains "status: ... the real journal is read" "$T_OUT" "journal: $jf"
	t_exit "status --json: torn" 0 "$DRPLAY" status --journal-dir "$J" --json
	t_eq "status --json: torn_last_line, not running, stopped in" "true false long" \
		"$(printf '%s' "$T_OUT" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const o=JSON.parse(s);console.log(o.torn_last_line,o.running,o.stopped_in)})')"
else
	t_fail "status: the long run started" "$(cat "$work/long.out")"
	kill -9 $pid
fi
