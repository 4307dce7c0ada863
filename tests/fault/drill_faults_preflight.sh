#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# tests/fault/drill_faults_preflight.sh - faults that the shipped playbooks
# (playbooks/live_drill.yaml, playbooks/database_restore.yaml) must catch
# BEFORE the outage, each injected into a real run against the sandbox
# (tests/lib/sandbox.sh): exit 4 (3 for the lock), maintenance never went on
# (the flag service accepted no change), production untouched (every write the
# application had acknowledged is there), the journal names the failed gate
# and its cause, no secret anywhere:
#   - the off-site store unreachable;
#   - the newest dump corrupt;
#   - an unknown key id; a read-write key where read-only is expected;
#   - a restore point outside the PITR window;
#   - the flag store down, with fail: closed and with fail: open (live_drill
#     and database_restore: both read the switch before any outage);
#   - a second run while one holds the lock;
#   - an approve step with no terminal and no --approve.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/drillfault.sh
. "$T_LIB/drillfault.sh"
require_drplay

df_start
LIVE=$ROOT/playbooks/live_drill.yaml
DR=$ROOT/playbooks/database_restore.yaml
sleep 0.5

# ---- 1. the off-site store unreachable ----
c0=$(df_flag_changes) acked=$(df_acked)
s3_proxy_stop S3
DRPLAY_S3_RETRIES=1 df_expect "store unreachable: live_drill stops in pre-flight (exit 4)" 4 unreachable "$LIVE" "${DF_DISASTER[@]}"
s3_proxy_start S3
t_contains "store unreachable: the transcript says it cannot connect" "$T_OUT" "connect"
df_preflight_held "store unreachable" unreachable credentials "connect" "$c0" "$acked"

# ---- 2. a corrupt dump: the newest one has a flipped byte ----
good=$(s3_ls S3 prod/ | grep '\.dump$' | sort | tail -1)
s3_get S3 "$good" "$T_TMP/good.dump" && s3_get S3 "$good.manifest.json" "$T_TMP/good.man" ||
    die_setup "cannot download the nightly dump"
size=$(stat -c %s "$T_TMP/good.dump")
off=$((size / 2))
orig=$(od -An -tu1 -j "$off" -N1 "$T_TMP/good.dump" | tr -d ' ')
cp "$T_TMP/good.dump" "$T_TMP/flip.dump"
printf "$(printf '\\%03o' $((orig ^ 1)))" | dd of="$T_TMP/flip.dump" bs=1 seek="$off" conv=notrunc status=none
sleep 1.1
bad=prod/shop-$(date -u +%Y%m%dT%H%M%SZ).dump
# the manifest of the good bytes, taken a second later: the newest dump
# (without the good dump's proof, which names the good dump and is refused
# for another: offsite_proof.sh tests that)
node -e '
const fs = require("fs");
const m = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
m.key = process.argv[3];
m.snapshot_time = m.started_at = m.finished_at = new Date().toISOString().replace(/\.\d+Z$/, "Z");
delete m.proof; // no proof of its own: the corrupt bytes are what the check must catch
fs.writeFileSync(process.argv[2], JSON.stringify(m));' "$T_TMP/good.man" "$T_TMP/bad.man" "$bad"
s3_put S3 "$T_TMP/flip.dump" "$bad" "$S3_RW_KEY" && s3_put S3 "$T_TMP/bad.man" "$bad.manifest.json" "$S3_RW_KEY" ||
    die_setup "cannot upload the corrupt dump"
c0=$(df_flag_changes) acked=$(df_acked)
df_expect "corrupt dump: live_drill stops in pre-flight (exit 4)" 4 corrupt "$LIVE" "${DF_DISASTER[@]}"
t_eq "corrupt dump: offsite.latest picked the newest (corrupt) dump" "$bad" "$(df_out corrupt dump key)"
t_contains "corrupt dump: the transcript names the object" "$T_OUT" "$bad"
df_preflight_held "corrupt dump" corrupt dump_ok "is corrupt: its SHA-256 is" "$c0" "$acked"
s3_rm S3 "$bad" "$S3_RW_KEY" && s3_rm S3 "$bad.manifest.json" "$S3_RW_KEY" || die_setup "cannot remove the corrupt dump"

# ---- 3. a key id the store does not know ----
c0=$(df_flag_changes) acked=$(df_acked)
BACKUP_S3_KEY_ID=$S3_BAD_KEY df_expect "unknown key id: live_drill stops in pre-flight (exit 4)" 4 badkey "$LIVE" "${DF_DISASTER[@]}"
t_contains "unknown key id: the store's answer is named" "$T_OUT" "InvalidAccessKeyId"
df_preflight_held "unknown key id" badkey credentials "InvalidAccessKeyId" "$c0" "$acked"

# ---- 4. a read-write key where a read-only one is expected ----
objs0=$(s3_ls S3 prod/ | sort)
c0=$(df_flag_changes) acked=$(df_acked)
BACKUP_S3_KEY_ID=$S3_RW_KEY df_expect "read-write key: database_restore stops in pre-flight (exit 4)" 4 rwkey \
    "$DR" "${DF_DISASTER[@]}" --param source=offsite --param restore_to="$(date -u +%FT%TZ)" --approve=go
df_preflight_held "read-write key" rwkey credentials "can WRITE" "$c0" "$acked"
t_eq "read-write key: the store is unchanged (the write probe removed)" "$objs0" "$(s3_ls S3 prod/ | sort)"

# ---- 5. a restore point outside the PITR window ----
# The off-site store keeps older nightlies than the base backup: one from
# before it (same bytes, an earlier taken_at, no proof: the good dump's proof
# names the good dump, and is refused for another). Restoring to a day ago by PITR
# fails the window gate; the off-site path to the same point does not depend
# on the PITR window and passes its pre-flight (it stops at the approval).
old_at=$(date -u -d '-2 days' +%Y%m%dT030000Z)
old=prod/shop-$old_at.dump
node -e '
const fs = require("fs");
const m = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
const t = process.argv[3];
const at = `${t.slice(0,4)}-${t.slice(4,6)}-${t.slice(6,8)}T03:00:00Z`;
m.key = process.argv[4];
m.snapshot_time = m.started_at = m.finished_at = at;
delete m.proof; // an older dump, from before dumps carried a proof
fs.writeFileSync(process.argv[2], JSON.stringify(m));' "$T_TMP/good.man" "$T_TMP/old.man" "$old_at" "$old"
s3_put S3 "$T_TMP/good.dump" "$old" "$S3_RW_KEY" && s3_put S3 "$T_TMP/old.man" "$old.manifest.json" "$S3_RW_KEY" ||
    die_setup "cannot upload the older nightly"
before=$(date -u -d '-1 day' +%FT%TZ)
c0=$(df_flag_changes) acked=$(df_acked)
df_expect "outside the window: database_restore stops in pre-flight (exit 4)" 4 window \
    "$DR" "${DF_DISASTER[@]}" --param restore_to="$before" --approve=go
t_eq "outside the window: the off-site gates are not the PITR path's (not run)" "" \
    "$(df_outcome window dump)$(df_outcome window credentials)"
df_preflight_held "outside the window" window window "before" "$c0" "$acked"
c0=$(df_flag_changes) acked=$(df_acked)
df_expect "outside the window: the off-site path to that point passes its pre-flight (stops at 'go', exit 4)" 4 \
    window_offsite "$DR" "${DF_DISASTER[@]}" --param source=offsite --param restore_to="$before" </dev/null
t_eq "outside the window: ... with the older nightly" "ok $old" \
    "$(df_outcome window_offsite dump) $(df_out window_offsite dump key)"
t_eq "outside the window: ... and no PITR window gate" "" "$(df_outcome window_offsite window)"
df_preflight_held "outside the window (off-site)" window_offsite go "terminal" "$c0" "$acked"

# ---- 9. the flag store down, fail: closed and fail: open ----
for mode in closed open; do
    pb=$T_TMP/live_drill_$mode.yaml
    sed "s/^    fail: open\$/    fail: $mode/" "$LIVE" >"$pb"
    grep -q "^    fail: $mode\$" "$pb" || die_setup "cannot make the fail: $mode copy of live_drill.yaml"
    c0=$(df_flag_changes) acked=$(df_acked)
    if [[ $mode == closed ]]; then
        flag_control SWITCH '{"failCount": 1000000, "failStatus": 503}' >/dev/null
    else
        flag_control SWITCH '{"garbage": true}' >/dev/null
    fi
    df_expect "flag store down (fail: $mode): live_drill stops in pre-flight (exit 4)" 4 "flag_$mode" "$pb" "${DF_DISASTER[@]}"
    flag_control SWITCH '{"failCount": 0, "garbage": false}' >/dev/null
    t_contains "flag store down (fail: $mode): the transcript states the declared fail mode" "$T_OUT" "fail: $mode"
    if [[ $mode == closed ]]; then
        t_contains "flag store down (fail: closed): ... and that the application is gated meanwhile" "$T_OUT" "gated"
    else
        t_contains "flag store down (fail: open): ... and that writes are NOT gated meanwhile" "$T_OUT" "NOT gated"
    fi
    t_eq "flag store down (fail: $mode): the journal's fail_mode" "$mode" "$(df_out "flag_$mode" flag_readable fail_mode)"
    df_preflight_held "flag store down (fail: $mode)" "flag_$mode" flag_readable "cannot be read" "$c0" "$acked"
    t_contains "flag store down (fail: $mode): the journal's error states the fail mode" "$(df_error "flag_$mode" flag_readable)" "fail: $mode"
    # database_restore: the same gate, before a person is asked to approve the outage
    pb=$T_TMP/database_restore_$mode.yaml
    sed "s/^    fail: open\$/    fail: $mode/" "$DR" >"$pb"
    grep -q "^    fail: $mode\$" "$pb" || die_setup "cannot make the fail: $mode copy of database_restore.yaml"
    flag_control SWITCH '{"failCount": 1000000, "failStatus": 503}' >/dev/null
    df_expect "flag store down (fail: $mode): database_restore stops in pre-flight (exit 4)" 4 "flag_dr_$mode" \
        "$pb" "${DF_DISASTER[@]}" --param restore_to="$(date -u +%FT%TZ)" --approve=go
    flag_control SWITCH '{"failCount": 0}' >/dev/null
    t_eq "flag store down (fail: $mode): database_restore never asked for approval" "" "$(df_outcome "flag_dr_$mode" go)"
    df_preflight_held "flag store down (fail: $mode), database_restore" "flag_dr_$mode" flag_readable "fail: $mode" "$c0" "$acked"
done

# ---- 10. a second run while one holds the lock ----
c0=$(df_flag_changes)
df_bg lock1 "$LIVE" "${DF_DISASTER[@]}" --param settle=6s
first=$DF_PID
t_watch_pid "$first"
in_settle() { grep -qs '"event":"step_start".*"step":"freeze"' "$(df_journal lock1)"; }
if wait_until 60 in_settle; then
    mkdir -p "$T_TMP/lock2"
    cp -r "$T_TMP/lock1/journal" "$T_TMP/lock2/" # the same journal directory: the same lock
    T_OUT=$("$DRPLAY" run "$LIVE" --journal-dir "$T_TMP/lock1/journal" "${SANDBOX_PARAMS[@]}" \
        --param report_dir="$T_TMP/lock2/reports" "${DF_DISASTER[@]}" 2>&1) && T_RC=0 || T_RC=$?
    printf '%s\n' "$T_OUT" >"$T_TMP/lock2/out"
    t_eq "lock: a second run while the first holds the lock is refused (exit 3)" 3 "$T_RC"
    t_contains "lock: ... naming the lock" "$T_OUT" "live_drill.lock"
    t_contains "lock: ... and the holder's pid and run" "$T_OUT" "(pid $first, run $(basename "$(df_journal lock1)" .jsonl))"
    t_eq "lock: the first run is still in its maintenance window" true "$(sandbox_flag)"
else
    t_fail "lock: setup" "the first run never reached its freeze step"
fi
wait "$first" && rc=0 || rc=$?
t_unwatch_pid "$first"
t_eq "lock: the first run finished undisturbed (exit 0)" 0 "$rc"
t_eq "lock: one journal: the refused run started nothing" 1 "$(ls "$T_TMP/lock1/journal"/*.jsonl | wc -l)"
t_eq "lock: the flag changed only by the first run (on, off)" $((c0 + 2)) "$(df_flag_changes)"
t_eq "lock: maintenance is off again" false "$(sandbox_flag)"
df_no_secrets "lock" lock1
df_no_secrets "lock (second run)" lock2

# ---- 11. an approve step with no terminal and no --approve ----
c0=$(df_flag_changes) acked=$(df_acked)
df_expect "no terminal, no --approve: database_restore stops at 'go' (exit 4)" 4 noapprove \
    "$DR" "${DF_DISASTER[@]}" --param restore_to="$(date -u +%FT%TZ)" </dev/null
t_contains "no terminal: the transcript says how to approve" "$T_OUT" "--approve=go"
df_preflight_held "no terminal" noapprove go "terminal" "$c0" "$acked"
t_eq "no terminal: the pre-flight gates before it passed" "ok ok" \
    "$(for s in flag_readable window; do df_outcome noapprove "$s"; done | tr '\n' ' ' | sed 's/ $//')"
t_eq "no terminal: the preview ran on a throwaway copy before the approval" "ok ok" \
    "$(df_outcome noapprove branch) $(df_outcome noapprove preview)"
t_eq "no terminal: ... and the copy was removed again" "$(df_out noapprove branch name)" \
    "$(df_out noapprove discard_branch discarded)"
