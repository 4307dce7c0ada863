#!/usr/bin/env bash
# journal_chain.sh: the journal's hash chain (SPEC section 6) on a real
# run's journal: recomputed by an independent reader (node's crypto, from
# the SPEC's definition), checked by `drplay status --verify`, and broken
# on purpose in each way a journal can be altered (a line edited, deleted,
# inserted, copied, reordered, the last line cut), each named by line
# number with what was expected; a last line still being written by a live
# run is not a break; `drplay status` still reads the journal.
set -u
. "$(dirname "$0")/../lib/common.sh"
require_drplay
TDRPLAY=${DRPLAY_TEST_BIN:-$ROOT/tests/drplay-test}
PB=$ROOT/tests/integration/playbooks/report/drill.yaml
out=$(t_tmpdir chain) || die_setup "no temp dir"
export REPORT_TOKEN=tok-chain-secret-$RANDOM$RANDOM
J=$out/journal

t_exit "a real run writes its journal" 0 "$TDRPLAY" run "$PB" --param out="$out/r" --journal-dir "$J"
jf=$(ls "$J"/*.jsonl)
n=$(wc -l <"$jf")

# The SPEC's definition, implemented again: chain_i = sha256(chain_{i-1} ||
# the line's bytes before `,"chain":"`), 64 zeros before line 1; seq = i.
recompute='
const fs = require("fs"), crypto = require("crypto");
const lines = fs.readFileSync(process.argv[1], "utf8").split("\n");
lines.pop();
let prev = "0".repeat(64), bad = 0;
lines.forEach((l, i) => {
  const k = l.lastIndexOf(",\"chain\":\"");
  const want = crypto.createHash("sha256").update(prev + l.slice(0, k)).digest("hex");
  const o = JSON.parse(l);
  if (bad === 0 && (o.chain !== want || o.seq !== i + 1 || l.slice(k) !== ",\"chain\":\"" + want + "\"}")) bad = i + 1;
  prev = o.chain;
});
console.log(bad === 0 ? "ok " + prev : "bad " + bad);'
indep=$(node -e "$recompute" "$jf")
t_eq "an independent reader recomputes the chain of every line" "ok" "${indep%% *}"
t_exit "status --verify: the real journal is intact" 0 "$DRPLAY" status --verify --journal-dir "$J"
t_contains "status --verify: says so, with the line count and the same last chain" "$T_OUT" \
	"the chain is intact over $n lines; last chain ${indep#ok }"
t_exit "status --verify --json" 0 "$DRPLAY" status --verify --json --journal-dir "$J"
t_contains "status --verify --json: intact" "$T_OUT" '"intact": true'
t_exit "status reads a chained journal" 0 "$DRPLAY" status --journal-dir "$J"
t_contains "status: the run's outcome" "$T_OUT" "ended"
t_not_contains "status: no unreadable lines" "$T_OUT" "could not be read"
t_exit "status --json reads it too" 0 "$DRPLAY" status --json --journal-dir "$J"
t_contains "status --json: the steps" "$T_OUT" '"step": "maint_off"'

# altered DIR NAME: a copy of the journal in a directory of its own
altered() {
	mkdir -p "$out/$1"
	cp "$jf" "$out/$1/$(basename "$jf")"
	echo "$out/$1/$(basename "$jf")"
}
# bad NAME DIR WANT...: --verify exits 1 and names the line and what was wrong
bad() {
	local name=$1 dir=$2
	shift 2
	t_exit "$name: status --verify refuses it" 1 "$DRPLAY" status --verify --journal-dir "$dir"
	for w in "$@"; do
		t_contains "$name: names it" "$T_OUT" "$w"
	done
}

f=$(altered edited)
sed -i '5s/"step":"[a-z_]*"/"step":"forged"/' "$f"
bad "a line edited" "$out/edited" "line 5 of $n does not fit" "expected chain" "this line or the one before it was edited"

f=$(altered edited_rehashed)
# the forger recomputes line 5's own chain: line 6 no longer follows it
node -e '
const fs = require("fs"), crypto = require("crypto");
const p = process.argv[1], ls = fs.readFileSync(p, "utf8").split("\n");
const prev = JSON.parse(ls[3]).chain;
let l = ls[4].replace(/"ts":"[^"]*"/, "\"ts\":\"2026-01-01T00:00:00.000Z\"");
const k = l.lastIndexOf(",\"chain\":\"");
const h = crypto.createHash("sha256").update(prev + l.slice(0, k)).digest("hex");
ls[4] = l.slice(0, k) + ",\"chain\":\"" + h + "\"}";
fs.writeFileSync(p, ls.join("\n"));' "$f"
bad "a line edited and its own chain recomputed" "$out/edited_rehashed" "line 6 of $n does not fit" "expected chain"

f=$(altered deleted)
sed -i '4d' "$f"
bad "a line deleted" "$out/deleted" "line 4 of $((n - 1)) does not fit" "expected line 4 of the run, found line 5: that line was deleted"

f=$(altered deleted2)
sed -i '4,6d' "$f"
bad "lines deleted" "$out/deleted2" "expected line 4 of the run, found line 7: the lines between were deleted"

f=$(altered inserted)
sed -i '3i {"ts":"2026-11-29T06:00:00.000Z","event":"log","step":"x","message":"all fine"}' "$f"
bad "a line inserted" "$out/inserted" "line 3 of $((n + 1)) does not fit" "it carries no chain: it was inserted"

f=$(altered copied)
sed -n '2p' "$f" >"$out/line2"
sed -i "4r $out/line2" "$f"
bad "an earlier line copied in" "$out/copied" "line 5 of $((n + 1)) does not fit" \
	"it says it is line 2 of the run, which came before"

f=$(altered reordered)
sed -i '3{h;d};4{G}' "$f"
bad "two lines swapped" "$out/reordered" "line 3 of $n does not fit" \
	"it is line 4 of the run, out of order: line 3 of the run is at line 4 of the file"

f=$(altered truncated)
head -c -40 "$jf" >"$f"
bad "the last line cut" "$out/truncated" "line $n of $n does not fit" "the last line is incomplete"

f=$(altered garbage)
sed -i '2s/.*/not json at all/' "$f"
bad "a line replaced by garbage" "$out/garbage" "line 2 of $n does not fit" "not a JSON object"

f=$(altered crlf)
sed -i 's/$/\r/' "$f"
bad "line ends converted to CR LF" "$out/crlf" "line 1 of $n does not fit" \
	"it ends with a carriage return: the journal's line ends were converted (CR LF)"

f=$(altered headless)
sed -i '1,$s/,"seq":[0-9]*,"chain":"[0-9a-f]*"}$/}/' "$f"
bad "a journal without chains (an older drplay)" "$out/headless" "line 1 of $n does not fit" \
	"written by a drplay that did not chain its lines"

# Lines cut off at the end leave an intact chain: the check says the run has no end.
f=$(altered cut_end)
sed -i '$d' "$f"
t_exit "the last line removed: the chain itself still fits" 0 "$DRPLAY" status --verify --journal-dir "$out/cut_end"
t_contains "... and the check says the journal has no run_end" "$T_OUT" "the journal has no run_end"

# A run still in progress may be caught with its last line half-written:
# while the lock's holder is alive (and holds the journal open, as a run
# does) that line is being written, not cut off; once it is gone, cut off.
read -r pbname runid < <(head -1 "$jf" | node -e 'const o = JSON.parse(require("fs").readFileSync(0, "utf8")); console.log(o.playbook, o.run)')
torn() { # NAME: a copy whose last line lacks its last 40 bytes
	local f
	f=$(altered "$1")
	head -c -40 "$jf" >"$f"
	echo "$f"
}
f=$(torn torn_live)
(exec 3<"$f" && exec sleep 60) &
holder=$!
t_watch_pid "$holder"
printf 'pid %s, run %s\n' "$holder" "$runid" >"$out/torn_live/$pbname.lock"
t_exit "a torn last line while the run runs: not a failure" 0 "$DRPLAY" status --verify --journal-dir "$out/torn_live"
t_contains "... the lines before it fit" "$T_OUT" "the chain is intact over $((n - 1)) lines"
t_contains "... and it says the line is being written, by whom" "$T_OUT" \
	"note: line $n is being written: the run is still running (pid $holder)"
t_not_contains "... not called cut off" "$T_OUT" "incomplete"
t_exit "the same with --json" 0 "$DRPLAY" status --verify --json --journal-dir "$out/torn_live"
t_eq "... intact, lines fit, the line being written and its writer" "true $((n - 1)) $n $holder" "$(printf '%s' "$T_OUT" |
	node -e 'const o = JSON.parse(require("fs").readFileSync(0, "utf8")); console.log(o.intact, o.lines, o.being_written.line, o.being_written.pid)' 2>&1)"
kill "$holder"
wait "$holder" 2>/dev/null
t_unwatch_pid "$holder"
f=$(torn torn_dead)
printf 'pid %s, run %s\n' "$holder" "$runid" >"$out/torn_dead/$pbname.lock"
bad "a torn last line after the run's process is gone" "$out/torn_dead" "line $n of $n does not fit" \
	"the last line is incomplete" "the run's process (pid $holder) is gone, so nothing will finish the line"
t_exit "... with --json too" 1 "$DRPLAY" status --verify --json --journal-dir "$out/torn_dead"
t_contains "... not intact" "$T_OUT" '"intact": false'

mkdir -p "$out/none"
t_exit "status --verify without a journal: exit 2" 2 "$DRPLAY" status --verify --journal-dir "$out/none"
t_contains "... saying where it looked" "$T_OUT" "no run journal in '$out/none'"
