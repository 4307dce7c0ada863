#!/usr/bin/env bash
# mcp.sh: `drplay mcp` with the official MCP TypeScript SDK client
# (tests/node/mcp_client.js: initialize, tools, a located lint error, a
# validation run against a real PostgreSQL to its end, a follow with progress
# notifications, approvals through elicitation, the refusals), then the
# protocol's edge cases spoken raw: malformed JSON, unknown methods and tools,
# wrong argument types, a message over the cap, input that ends inside a
# message, a child killed under the server, a cancelled call.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/pg.sh
. "$T_LIB/pg.sh"
require_drplay
require_node_modules
PB=$ROOT/tests/integration/playbooks/mcp
pg_start PG
pg_createdb PG shop
pg_sql PG shop "CREATE TABLE orders (id int PRIMARY KEY, total numeric); INSERT INTO orders VALUES (1, 10), (2, 20), (3, 30);" >/dev/null
J=$(t_tmpdir journal) || die_setup "no temp dir"
D=$(t_tmpdir mcp) || die_setup "no temp dir"
export MCP_APP_DSN="${PG_DSN%/postgres}/shop" MCP_TOKEN=mcp-disaster-token-7f3a
printf '%s\n' "$MCP_TOKEN" >"$D/token"
chmod 600 "$D/token"

# ---------------------------------------------------------- the SDK client ---
node "$T_NODE_DIR/mcp_client.js" "$DRPLAY" "$PB" "$J" "$D/token" || t_fail "mcp sdk: the client script" "exited $?"

# -------------------------------------------------------------- raw lines ---
INIT='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}'
# raw NAME: sends stdin's lines to a fresh server, its stdout in $D/NAME.out
raw() {
	local rc=0
	timeout 20 "$DRPLAY" mcp --journal-dir "$J" >"$D/$1.out" 2>"$D/$1.err" || rc=$?
	printf '%s' "$rc" >"$D/$1.rc"
}
# reply NAME ID EXPR: evaluates EXPR over the response `r` with id ID
reply() {
	node -e '
const [file, id, expr] = process.argv.slice(1);
const lines = require("fs").readFileSync(file, "utf8").split("\n").filter(Boolean);
const all = lines.map((l) => JSON.parse(l));
const r = all.find((m) => JSON.stringify(m.id) === id);
console.log(String(eval(expr)));' "$D/$1.out" "$2" "$3" 2>&1
}

{
	echo "$INIT"
	echo '{"jsonrpc":"2.0","method":"notifications/initialized"}'
	echo 'this is not json'
	echo '{"jsonrpc":"2.0","id":2,"method":"resources/list"}'
	echo '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"nope","arguments":{}}}'
	echo '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"lint","arguments":{"file":3}}}'
	echo '{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"status","arguments":{"follow":"yes"}}}'
	echo '{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"run","arguments":{"file":"x","params":{"a":1}}}}'
	echo '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"run","arguments":{"file":"x","mode":"chaos"}}}'
	echo '{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"lint","arguments":{"file":"x","extra":true}}}'
	echo '{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"lint","arguments":{}}}'
	echo '{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"lint","arguments":"file"}}'
	echo '[{"jsonrpc":"2.0","id":11,"method":"ping"}]'
	echo '{"jsonrpc":"1.0","id":12,"method":"ping"}'
	echo '{"jsonrpc":"2.0","id":{"x":1},"method":"ping"}'
	echo '{"jsonrpc":"2.0","method":"notifications/whatever"}'
	echo '{"jsonrpc":"2.0","id":13,"method":"tools/call","params":{"name":"lint","arguments":{"file":"-"}}}'
	echo '{"jsonrpc":"2.0","id":14,"method":"tools/call","params":{"name":"lint","arguments":{"file":"--format=sarif"}}}'
	echo '{"jsonrpc":"2.0","id":15,"method":"ping"}'
} | raw edges
t_eq "raw: the server ends 0 when its input ends" 0 "$(cat "$D/edges.rc")"
t_eq "raw: every stdout line is a JSON-RPC 2.0 message" ok "$(node -e '
const ls = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean);
console.log(ls.every((l) => JSON.parse(l).jsonrpc === "2.0") && ls.length > 10 ? "ok" : "bad");' "$D/edges.out" 2>&1)"
t_eq "raw: malformed JSON is a parse error with id null" "-32700 null" \
	"$(reply edges null 'all.filter((m) => m.id === null)[0].error.code + " " + JSON.stringify(all.filter((m) => m.id === null)[0].id)')"
t_eq "raw: an unknown method is method-not-found" -32601 "$(reply edges 2 'r.error.code')"
t_eq "raw: an unknown tool is invalid params, named" "-32602 true" "$(reply edges 3 'r.error.code + " " + /nope/.test(r.error.message)')"
t_eq "raw: a number for a string argument" "-32602 argument 'file' must be a non-empty string" "$(reply edges 4 'r.error.code + " " + r.error.message')"
t_eq "raw: a string for a boolean argument" "argument 'follow' must be a boolean" "$(reply edges 5 'r.error.message')"
t_eq "raw: a number among string params" "argument 'params.a' must be a string" "$(reply edges 6 'r.error.message')"
t_eq "raw: a mode outside the enum" "argument 'mode' is 'chaos'; use validation or disaster" "$(reply edges 7 'r.error.message')"
t_eq "raw: an unknown argument" "unknown argument 'extra' for tool 'lint'" "$(reply edges 8 'r.error.message')"
t_eq "raw: a missing required argument" "tool 'lint' needs the argument 'file'" "$(reply edges 9 'r.error.message')"
t_eq "raw: arguments that are not an object" -32602 "$(reply edges 10 'r.error.code')"
t_eq "raw: a batch is an invalid request" "-32600 true" "$(reply edges null 'all.filter((m) => m.id === null && m.error.code === -32600)[0].error.code + " " + /batch/.test(all.filter((m) => m.id === null && m.error.code === -32600)[0].error.message)')"
t_eq "raw: jsonrpc 1.0 is an invalid request" -32600 "$(reply edges 12 'r.error.code')"
t_eq "raw: an object id is an invalid request answered with id null" 3 \
	"$(reply edges null 'all.filter((m) => m.id === null).length')"
t_eq "raw: file '-' is refused (no standard input through a tool call)" -32602 "$(reply edges 13 'r.error.code')"
t_eq "raw: a file named like an option is a file, not an option" "true 2" \
	"$(reply edges 14 'r.result.isError + " " + r.result.structuredContent.exit_code')"
t_eq "raw: the server still answers after all of it" '{}' "$(reply edges 15 'JSON.stringify(r.result)')"
t_eq "raw: notifications get no response (17 answers, 3 of them with id null)" 17 \
	"$(reply edges 0 'all.length')"

{
	echo '{"jsonrpc":"2.0","id":1,"method":"tools/list"}'
	echo '{"jsonrpc":"2.0","id":2,"method":"ping"}'
	echo '{"jsonrpc":"2.0","id":3,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}'
	echo '{"jsonrpc":"2.0","id":4,"method":"initialize","params":{"protocolVersion":"1999-01-01","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}'
	echo '{"jsonrpc":"2.0","id":5,"method":"initialize","params":{}}'
} | raw lifecycle
t_eq "lifecycle: a request before initialize is refused" "-32600 true" "$(reply lifecycle 1 'r.error.code + " " + /initialize first/.test(r.error.message)')"
t_eq "lifecycle: ping works before initialize" '{}' "$(reply lifecycle 2 'JSON.stringify(r.result)')"
t_eq "lifecycle: a revision the server speaks is kept" 2025-06-18 "$(reply lifecycle 3 'r.result.protocolVersion')"
t_eq "lifecycle: an unknown revision gets the newest" 2025-11-25 "$(reply lifecycle 4 'r.result.protocolVersion')"
t_eq "lifecycle: initialize without protocolVersion" -32602 "$(reply lifecycle 5 'r.error.code')"

# a message over the cap (1 MiB), then a normal one
{
	echo "$INIT"
	node -e 'process.stdout.write(JSON.stringify({jsonrpc: "2.0", id: 2, method: "tools/call", params: {name: "lint", arguments: {file: "x".repeat(3 << 20)}}}) + "\n")'
	echo '{"jsonrpc":"2.0","id":3,"method":"ping"}'
	node -e 'process.stdout.write(JSON.stringify({jsonrpc: "2.0", id: 4, method: "ping", params: {pad: "x".repeat((1 << 20) - 200)}}) + "\n")'
} | raw huge
t_eq "huge: a message over 1 MiB is an invalid request" "-32600 true" \
	"$(reply huge null 'r.error.code + " " + /longer than 1048576 bytes/.test(r.error.message)')"
t_eq "huge: it is never parsed or answered by id" undefined "$(reply huge 2 'typeof r')"
t_eq "huge: the next message is answered" '{}' "$(reply huge 3 'JSON.stringify(r.result)')"
t_eq "huge: a message just under the cap is read" '{}' "$(reply huge 4 'JSON.stringify(r.result)')"

# input that ends inside a message
{
	echo "$INIT"
	printf '%s' '{"jsonrpc":"2.0","id":2,"method":"pi'
} | raw eof
t_eq "eof: the server ends 0, not a hang" 0 "$(cat "$D/eof.rc")"
t_eq "eof: a parse error says the input ended inside a message" "-32700 true" \
	"$(reply eof null 'r.error.code + " " + /ended inside a message/.test(r.error.message)')"

# the input closes while the person is being asked
{
	echo '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"elicitation":{}},"clientInfo":{"name":"raw","version":"1"}}}'
	echo '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"run","arguments":{"file":"'"$PB/approve.yaml"'"}}}'
	sleep 3 # the plan runs, then the question comes; then the input ends unanswered
} | raw unanswered
t_eq "unanswered: the person was asked (elicitation/create, step go)" "elicitation/create true" \
	"$(reply unanswered '"drplay-1"' 'r.method + " " + /approve step .go./.test(r.params.message)')"
t_eq "unanswered: the run is refused when the input closes first" "true true" \
	"$(reply unanswered 2 'r.result.isError + " " + /closed its input before the person answered; nothing ran/.test(r.result.content[0].text)')"
t_eq "unanswered: the server ends 0" 0 "$(cat "$D/unanswered.rc")"

# ----------------------------------------------- a child killed, a cancel ---
cat >"$D/long.yaml" <<'YAML'
drplay: 1
name: mcp_long
steps:
  - {id: wait, action: sleep, with: {for: 60s}}
YAML
coproc MCP { exec "$DRPLAY" mcp --journal-dir "$J" 2>"$D/co.err"; }
SRV=$MCP_PID
# the coproc's variables go when it ends: keep its pipes under our own names
exec {TO}>&"${MCP[1]}" {FROM}<&"${MCP[0]}"
t_watch_pid "$SRV"
send() { printf '%s\n' "$1" >&"$TO"; }
recv() { # ID: the line answering ID (others skipped), within 20 s
	local line
	while IFS= read -r -t 20 line <&"$FROM"; do
		[[ $line == *"\"id\":$1,"* ]] && { printf '%s\n' "$line"; return 0; }
	done
	return 1
}
child_of() { ps -o pid= --ppid "$1" | tr -d ' ' | head -1; }
send "$INIT"
recv 1 >/dev/null
send '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"run","arguments":{"file":"'"$D/long.yaml"'"}}}'
wait_until 10 bash -c "ps -o args= --ppid $SRV | grep -q -- '--json'"
kid=$(child_of "$SRV")
[[ -n $kid ]] || die_setup "the run's child did not start"
# the run is started after its plan: wait for the run itself
wait_until 10 bash -c "ps -o args= -p \$(ps -o pid= --ppid $SRV | head -1) | grep -q ' run '"
kid=$(child_of "$SRV")
kill -KILL "$kid"
r=$(recv 2)
t_contains "crash: a child killed under the server is an error result" "$r" '"isError":true'
t_contains "crash: ... that says how it ended" "$r" 'ended by signal 9'
send '{"jsonrpc":"2.0","id":3,"method":"ping"}'
t_eq "crash: the server goes on" '{"jsonrpc":"2.0","id":3,"result":{}}' "$(recv 3)"
send '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"run","arguments":{"file":"'"$D/long.yaml"'"}}}'
wait_until 10 bash -c "ps -o args= -p \$(ps -o pid= --ppid $SRV | head -1) | grep -q ' run '"
kid=$(child_of "$SRV")
send '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":4,"reason":"test"}}'
send '{"jsonrpc":"2.0","id":5,"method":"ping"}'
t_eq "cancel: the server answers the next request" '{"jsonrpc":"2.0","id":5,"result":{}}' "$(recv 5)"
if wait_until 10 bash -c "! kill -0 $kid 2>/dev/null"; then
	t_pass "cancel: the cancelled run's child is ended"
else
	t_fail "cancel: the cancelled run's child is ended" "pid $kid still runs"
fi
exec {TO}>&- {MCP[1]}>&-
wait "$SRV"
t_eq "shutdown: the server exits 0 when its input closes" 0 "$?"
t_unwatch_pid "$SRV"
t_not_contains "shutdown: the cancelled call got no response" "$(timeout 5 cat <&"$FROM" 2>/dev/null)" '"id":4'

# ------------------------------------------- a client that stops reading ---
# A run with a progressToken writes thousands of events while the client
# reads nothing: the run must go through them meanwhile (its pipe drained,
# the progress dropped and counted), and the client, reading at last during
# the run's pause, gets a well-formed stream: a note of how many were dropped
# before the next notification, then the rest, then the result.
J2=$(t_tmpdir journal-slow) || die_setup "no temp dir"
{
	printf 'drplay: 1\nname: mcp_chatty\nsteps:\n'
	for i in $(seq 1 3000); do
		printf '  - {id: s%d, action: log, with: {message: "step %d of a long run, words enough to make the line long"}}\n' "$i" "$i"
	done
	printf '  - {id: pause, action: sleep, with: {for: 3s}}\n  - {id: last, action: log, with: {message: after the pause}}\n'
} >"$D/chatty.yaml"
coproc SLOW { exec "$DRPLAY" mcp --journal-dir "$J2" 2>"$D/slow.err"; }
SSRV=$SLOW_PID
exec {STO}>&"${SLOW[1]}" {SFROM}<&"${SLOW[0]}"
t_watch_pid "$SSRV"
printf '%s\n' "$INIT" >&"$STO"
IFS= read -r -t 20 line <&"$SFROM"
t_contains "slow client: initialize answered" "$line" '"id":1,'
printf '%s\n' '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"run","_meta":{"progressToken":"p1"},"arguments":{"file":"'"$D/chatty.yaml"'"}}}' >&"$STO"
exec {STO}>&- {SLOW[1]}>&-
# nothing is read now; the run's journal must still reach the pause, after
# the 3,000 steps' output
if wait_until 60 bash -c "grep -l '\"step\":\"pause\"' '$J2'/*.jsonl"; then
	t_pass "slow client: the run went through 3,000 steps while the client read nothing"
else
	t_fail "slow client: the run went through 3,000 steps while the client read nothing" \
		"no step pause in $J2 after 60 s: the run blocked on the server's output"
fi
t_eq "slow client: the server still waits for its reader" 0 "$(kill -0 "$SSRV" 2>/dev/null; echo $?)"
timeout 60 cat <&"$SFROM" >"$D/slow.out"
t_contains "slow client: the run ended (run_end journaled)" "$(cat "$J2"/*.jsonl)" '"event":"run_end"'
exec {SFROM}<&-
wait "$SSRV"
t_eq "slow client: the server exits 0 once its output is read" 0 "$?"
t_unwatch_pid "$SSRV"
t_eq "slow client: a well-formed stream of progress ending in the result" ok "$(node -e '
try {
const ls = require("fs").readFileSync(process.argv[1], "utf8").split("\n");
if (ls.pop() !== "") throw new Error("the stream does not end with a newline");
const all = ls.map((l) => JSON.parse(l));
const last = all.pop(), st = last.result.structuredContent;
if (last.id !== 2 || st.exit_code !== 0) throw new Error("last: " + JSON.stringify(last).slice(0, 300));
let prev = 0, lines = 0, told = 0;
for (const m of all) {
	if (m.jsonrpc !== "2.0" || m.method !== "notifications/progress" || m.params.progressToken !== "p1")
		throw new Error("not a progress: " + JSON.stringify(m).slice(0, 200));
	if (!(m.params.progress > prev)) throw new Error("progress does not count up at " + m.params.progress);
	prev = m.params.progress;
	const note = /^drplay mcp: (\d+) progress notifications were dropped/.exec(m.params.message);
	if (note) told += Number(note[1]);
	else { JSON.parse(m.params.message); lines++; }
}
const dropped = st.progress_dropped, events = st.output.length;
if (!(dropped > 0)) throw new Error("nothing dropped: " + dropped);
if (lines + dropped !== events) throw new Error(`${lines} sent + ${dropped} dropped != ${events} events`);
if (told !== dropped) throw new Error(`notes told ${told} of ${dropped}`);
if (st.output[events - 1].event !== "run_end") throw new Error("the output does not end in run_end");
console.log("ok");
} catch (e) { console.log(e.message); }' "$D/slow.out" 2>&1)"

# ------------------------------------------------------------ the command ---
t_exit "command: --help exits 0" 0 "$DRPLAY" mcp --help
t_contains "command: --help says how disaster is allowed" "$T_OUT" "--allow-disaster"
t_exit "command: --allow-disaster alone is a usage error" 2 "$DRPLAY" mcp --allow-disaster </dev/null
t_exit "command: an unreadable --authorize-file is refused" 2 "$DRPLAY" mcp --allow-disaster --authorize-file "$D/none" </dev/null
t_exit "command: an unknown option" 2 "$DRPLAY" mcp --bogus </dev/null
