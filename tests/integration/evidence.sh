#!/usr/bin/env bash
# evidence.sh: report.write's evidence format and `drplay evidence verify`
# on real runs (keys made by `openssl genpkey`): the document says who
# authorized and approved, the playbook's SHA-256, the phases and the
# journal's chain; its signature verifies with openssl's own command; the
# check passes, then fails by name for a byte changed, another key, an
# unsigned document when a key is given, a re-formatted document, and a
# journal that was edited, cut or is another run's. The Prometheus textfile
# keeps the last exact verification across runs that did not verify.
set -u
. "$(dirname "$0")/../lib/common.sh"
require_drplay
TDRPLAY=${DRPLAY_TEST_BIN:-$ROOT/tests/drplay-test}
PB=$ROOT/tests/integration/playbooks/evidence/drill.yaml
out=$(t_tmpdir evidence) || die_setup "no temp dir"
J=$out/journal
for k in a b; do
	openssl genpkey -algorithm ed25519 -out "$out/$k.pem" 2>/dev/null &&
		openssl pkey -in "$out/$k.pem" -pubout -out "$out/$k.pub" 2>/dev/null || die_setup "openssl genpkey failed"
done
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$out/ec.pem" 2>/dev/null || die_setup "openssl genpkey EC failed"
printf 'tok-evidence-%s' "$RANDOM$RANDOM" >"$out/token" && chmod 600 "$out/token"
export EV_TOKEN_FILE=$out/token EV_KEY_FILE=$out/a.pem
jsget() { node -e 'const o=JSON.parse(require("fs").readFileSync(process.argv[1]));console.log(eval(process.argv[2]))' "$1" "$2"; }
drill() { # OUTDIR JOURNALDIR [ARGS...]
	"$TDRPLAY" run "$PB" --mode=disaster --authorize-file "$out/token" --approve=go --param out="$1" --journal-dir "$2" "${@:3}"
}

t_exit "a signed drill writes its evidence" 0 drill "$out/r" "$J"
ev=$(ls "$out"/r/*.evidence.json)
jf=$(ls "$J"/*.jsonl)
t_eq "evidence: the playbook's SHA-256" "$(sha256sum "$PB" | cut -d' ' -f1)" "$(jsget "$ev" 'o.playbook.sha256')"
t_eq "evidence: authorized with the token file" "--authorize-file" "$(jsget "$ev" 'o.people.authorized_with')"
t_eq "evidence: who approved which step, how" "go $(id -un) --approve" \
	"$(jsget "$ev" 'o.people.approvals.map(x=>x.step+" "+x.by+" "+x.method).join()')"
t_eq "evidence: drplay's version" "$("$DRPLAY" --version | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -1)" "$(jsget "$ev" 'o.tools.drplay')"
t_eq "evidence: verified exactly" "true" "$(jsget "$ev" 'o.summary.verified_exactly')"
t_eq "evidence: the verdicts" "counts public.orders ok,counts public.users ok,schema  ok" \
	"$(jsget "$ev" 'o.verification[0].verdicts.map(v=>v.check+" "+(v.table||"")+" "+v.verdict).sort().join()')"
t_eq "evidence: RTO by phase, each measured" "true" \
	"$(jsget "$ev" '["download_s","restore_s","replay_s","verification_s","other_s","maintenance_window_s"].every(k=>typeof o.summary.rto_phases[k]=="number")')"
t_eq "evidence: RPO from the restored point" "2026-11-29T05:30:00Z" "$(jsget "$ev" 'o.summary.restored_point')"
jl=$(jsget "$ev" 'o.journal.lines')
t_eq "evidence: the journal's chain at the line it was written" "$(sed -n "${jl}p" "$jf" | jq -r .chain)" "$(jsget "$ev" 'o.journal.chain')"
der=$(openssl pkey -pubin -in "$out/a.pub" -outform DER | tail -c 32 | sha256sum | cut -d' ' -f1)
t_eq "evidence: signed by key a (the id is the SHA-256 of the raw public key)" "$der" "$(jsget "$ev" 'o.signature.key_id')"
t_not_contains "evidence: the private key is not in it" "$(cat "$ev")" "$(sed -n 2p "$out/a.pem")"
t_not_contains "evidence: nor the authorization token" "$(cat "$ev")" "$(cat "$out/token")"

# openssl's own check of the signature over the bytes before the signature member
node -e '
const fs = require("fs"), t = fs.readFileSync(process.argv[1]);
const k = t.lastIndexOf(",\n  \"signature\": ");
fs.writeFileSync(process.argv[2], t.subarray(0, k));
fs.writeFileSync(process.argv[3], Buffer.from(JSON.parse(t).signature.value, "base64"));' "$ev" "$out/body" "$out/sig"
t_check "openssl pkeyutl -verify accepts the signature" openssl pkeyutl -verify -pubin -inkey "$out/a.pub" -rawin \
	-in "$out/body" -sigfile "$out/sig"

t_exit "evidence verify: the key and the journal fit" 0 "$DRPLAY" evidence verify "$ev" --key "$out/a.pub" --journal "$jf"
t_contains "... the signature verified" "$T_OUT" "signature: verified (Ed25519, key $der"
t_contains "... the journal's chain matches" "$T_OUT" "journal: chain matches at line $jl"
t_contains "... every check fits" "$T_OUT" "every check fits"
t_exit "evidence verify without --key: the signature is not checked, and says so" 0 "$DRPLAY" evidence verify "$ev"
t_contains "... NOT CHECKED" "$T_OUT" "NOT CHECKED: give --key"

sed 's/"outcome": "succeeded"/"outcome": "succeedeD"/' "$ev" >"$out/changed.json"
t_exit "a byte changed: refused" 1 "$DRPLAY" evidence verify "$out/changed.json" --key "$out/a.pub"
t_contains "... the document was changed after it was signed" "$T_OUT" "the document was changed after it was signed"
t_exit "another key: refused" 1 "$DRPLAY" evidence verify "$ev" --key "$out/b.pub"
t_contains "... naming both keys" "$T_OUT" "says it was signed by key $der, not by the key given"
jq --indent 4 . "$ev" >"$out/reformatted.json"
t_exit "a re-formatted document: refused" 1 "$DRPLAY" evidence verify "$out/reformatted.json" --key "$out/a.pub"
t_contains "... saying so" "$T_OUT" "re-formatted or edited"
jq . "$ev" >"$out/reformatted2.json"
t_exit "a document re-formatted with the same indentation: refused" 1 "$DRPLAY" evidence verify "$out/reformatted2.json" --key "$out/a.pub"
t_contains "... the signed bytes changed" "$T_OUT" "the document was changed after it was signed"
# a member repeated after the signature: JSON readers take the last one,
# which the signature does not cover (a failed run made to read succeeded)
node -e '
const fs = require("fs");
let t = fs.readFileSync(process.argv[1], "utf8");
const s = JSON.parse(t).summary; s.outcome = "forged";
fs.writeFileSync(process.argv[2], t.replace(/\n}\n$/, ",\n  \"summary\": " + JSON.stringify(s) + "\n}\n"));
fs.writeFileSync(process.argv[3], t.replace(/\n}\n$/, ",\n  \"verdict\": \"pass\"\n}\n"));' "$ev" "$out/dupkey.json" "$out/after.json"
t_eq "a summary repeated after the signature is what JSON readers see" "forged" "$(jsget "$out/dupkey.json" 'o.summary.outcome')"
t_exit "a member repeated after the signature: refused" 1 "$DRPLAY" evidence verify "$out/dupkey.json" --key "$out/a.pub" --journal "$jf"
t_contains "... naming the repeated member" "$T_OUT" "it holds a member twice (duplicate object key near '\"summary\"'"
t_exit "... refused without --key too" 1 "$DRPLAY" evidence verify "$out/dupkey.json"
t_exit "a member added after the signature: refused" 1 "$DRPLAY" evidence verify "$out/after.json" --key "$out/a.pub"
t_contains "... the bytes are not signed" "$T_OUT" "bytes follow its signature member, which drplay writes last: they are not signed"
t_exit "a private key given as --key: refused" 1 "$DRPLAY" evidence verify "$ev" --key "$out/a.pem"
t_contains "... saying which half is needed" "$T_OUT" "a private key was given where the public key is needed"
js=$(ls "$out"/r/drplay-*.json | grep -v '[.]evidence[.]json$')
t_exit "the JSON report is not an evidence document: exit 2" 2 "$DRPLAY" evidence verify "$js"
t_contains "... saying what to give" "$T_OUT" "is not a drplay evidence document"

# a named pipe nobody writes to: refused at once, never waited on
mkfifo "$out/fifo.json"
t_exit "a named pipe as the document: exit 2, no wait" 2 timeout 10 "$DRPLAY" evidence verify "$out/fifo.json"
t_exit "a named pipe as the journal: refused, no wait" 1 timeout 10 "$DRPLAY" evidence verify "$ev" --journal "$out/fifo.json"
t_contains "... the journal is empty" "$T_OUT" "the journal is empty"
t_exit "a pipe with a writer still reads whole (process substitution)" 0 bash -c "\"\$1\" evidence verify \"\$2\" --key <(cat \"\$3\") --journal <(cat \"\$4\")" _ "$DRPLAY" "$ev" "$out/a.pub" "$jf"

# the journal: edited, cut before the line the evidence recorded, another run's
cp "$jf" "$out/edited.jsonl"
sed -i '3s/"ts":"[^"]*"/"ts":"2000-01-01T00:00:00.000Z"/' "$out/edited.jsonl"
t_exit "an edited journal: refused" 1 "$DRPLAY" evidence verify "$ev" --key "$out/a.pub" --journal "$out/edited.jsonl"
t_contains "... naming the line" "$T_OUT" "does not fit its chain at line 3"
head -n $((jl - 2)) "$jf" >"$out/cut.jsonl"
t_exit "a journal cut before the recorded line: refused" 1 "$DRPLAY" evidence verify "$ev" --journal "$out/cut.jsonl"
t_contains "... saying lines were removed" "$T_OUT" "has $((jl - 2)) lines, and the document recorded its chain at line $jl"

# unsigned: the same drill without signing_key
sed '/signing_key/d' "$PB" >"$out/unsigned.yaml"
t_exit "an unsigned drill" 0 "$TDRPLAY" run "$out/unsigned.yaml" --mode=disaster --authorize-file "$out/token" \
	--approve=go --param out="$out/u" --journal-dir "$out/ju"
uev=$(ls "$out"/u/*.evidence.json)
t_eq "unsigned: no signature member" "undefined" "$(jsget "$uev" 'o.signature')"
t_exit "unsigned, checked without a key: fits, and says it is unsigned" 0 "$DRPLAY" evidence verify "$uev"
t_contains "... signature: none" "$T_OUT" "signature: none: the document is unsigned (its run declared no signing key, or the signature was removed)"
t_contains "... and the verdict says it is unsigned, not that every check fits" "$T_OUT" "every check made fits, but the document is unsigned"
t_exit "unsigned when --key requires a signature: refused" 1 "$DRPLAY" evidence verify "$uev" --key "$out/a.pub"
t_contains "... saying so" "$T_OUT" "the document is not signed, and --key requires a signature"
t_exit "another run's journal: refused" 1 "$DRPLAY" evidence verify "$ev" --journal "$(ls "$out"/ju/*.jsonl)"
t_contains "... its chain is not the one recorded" "$T_OUT" "it is not the journal of run"

# a signing key that is not Ed25519: the report step fails, naming it
t_exit "an EC signing key: the report step fails" 1 env EV_KEY_FILE="$out/ec.pem" "$TDRPLAY" run "$PB" --mode=disaster \
	--authorize-file "$out/token" --approve=go --param out="$out/ec" --journal-dir "$out/jec"
t_contains "... naming the key's type" "$T_OUT" "cannot sign the evidence document with signing_key: the private key is a 'id-ecPublicKey' key, not Ed25519"

# Prometheus: the last exact verification survives runs that did not verify exactly
prom=$out/r/metrics/drplay.prom
metric() { sed -n "s/^$1{playbook=\"evidence_drill\",mode=\"disaster\"} //p" "$prom"; }
v1=$(metric drplay_last_verified_restore_timestamp_seconds)
t_check "prometheus: the last verified restore is set ($v1)" test -n "$v1"
t_eq "prometheus: ... at the verification's end, not after the report" "true" \
	"$(jsget "$ev" "Math.abs($v1 - o.summary.maintenance.off_s) < 5 && $v1 <= Date.parse(o.written_at)/1000 + 1")"
sleep 1
t_exit "a drill verified within a tolerance (not exactly)" 0 drill "$out/r" "$J" --param orders=1990 --param min_ratio=0.99
t_eq "prometheus: the last verified restore is kept" "$v1" "$(metric drplay_last_verified_restore_timestamp_seconds)"
t_eq "evidence: not verified exactly" "false" "$(jsget "$(ls -t "$out"/r/*.evidence.json | head -1)" 'o.summary.verified_exactly')"
sleep 1
t_exit "a drill whose verification fails" 1 drill "$out/r" "$J" --param orders=10
t_eq "prometheus: still kept" "$v1" "$(metric drplay_last_verified_restore_timestamp_seconds)"
t_eq "prometheus: the run failed" "0" "$(metric drplay_last_run_success)"
sleep 1
t_exit "an exact drill again" 0 drill "$out/r" "$J"
v2=$(metric drplay_last_verified_restore_timestamp_seconds)
t_check "prometheus: the last verified restore moves on ($v1 -> $v2)" node -e "process.exit($v2 > $v1 + 1 ? 0 : 1)"
t_check "prometheus: every phase line parses" bash -c \
	"[ \$(grep -cE '^drplay_rto_phase_seconds\{playbook=\"evidence_drill\",mode=\"disaster\",phase=\"(download|restore|replay|verification|other|maintenance_window)\"\} [0-9]+\.[0-9]{3}$' '$prom') = 6 ]"
