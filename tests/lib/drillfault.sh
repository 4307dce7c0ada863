# shellcheck shell=bash source-path=SCRIPTDIR
# tests/lib/drillfault.sh - helpers for the fault suite of the shipped
# playbooks (tests/fault/drill_faults_*.sh): the sandbox with distinctive
# secrets, one journal and report directory per fault, and the assertions
# every fault shares.
#
#   df_start                 sandbox_start --scale 0.02 with distinctive
#                            secrets (DF_SECRETS: the S3 secret, the flag
#                            token, the disaster authorization token)
#   df_run NAME PLAYBOOK ARGS...   drplay run PLAYBOOK (a path) with the
#                            sandbox's params, journal $T_TMP/NAME/journal,
#                            reports $T_TMP/NAME/reports; output in
#                            $T_TMP/NAME/out; returns drplay's exit code
#   DF_DISASTER              the options for disaster mode (an array)
#   df_bg NAME PLAYBOOK ARGS...    the same in the background: DF_PID is
#                            drplay's pid (wait for it)
#   df_journal NAME          the newest journal file of NAME
#   df_outcome NAME STEP     the step's outcome (empty when it never ended)
#   df_error NAME STEP       the step's error
#   df_out NAME STEP KEY     an output of the step (strings unquoted)
#   df_end NAME FIELD        a field of the run_end event
#   df_started NAME STEP     "yes" when the journal has the step's step_start
#   df_flag_changes          how many changes the flag service accepted
#   df_acked                 "MAXSEQ COUNT": the application's highest
#                            acknowledged write and how many rows of seq
#                            1..MAXSEQ exist (seqs taken while gated were never
#                            written)
#   df_missing_acked "MAXSEQ COUNT"   how many of those rows are absent now
#   df_no_secrets LABEL NAME  asserts no secret is in NAME's output, journal
#                            or reports
#   df_undo NAME SNAPSHOT    runs tests/integration/playbooks/drills/undo.yaml
#                            (pitr.restore from: SNAPSHOT, then a capture)
#   df_same_as_baseline LABEL NAME UNDO_NAME  asserts the undo's capture has
#                            the counts, schema and (when the baseline has
#                            them) checksums of NAME's BASELINE

# shellcheck source=sandbox.sh
. "$(dirname "${BASH_SOURCE[0]}")/sandbox.sh"

DF_FLAG_TOKEN=flagtok-Vq7Zr2Lx9Ke
DF_S3_SECRET=s3sec-Hn4Wc8Tq1Bm6Jp
DF_AUTH=authtok-Yd3Fs9Ug5Qa
DF_SECRETS=("$DF_FLAG_TOKEN" "$DF_S3_SECRET" "$DF_AUTH")

df_start() {
    sandbox_start --scale 0.02 --flag-token "$DF_FLAG_TOKEN" "$@"
    # s3rver does not verify SigV4 secrets: any distinctive value signs
    export BACKUP_S3_SECRET=$DF_S3_SECRET DRPLAY_DISASTER_TOKEN=$DF_AUTH
    [[ $FLAG_TOKEN == "$DF_FLAG_TOKEN" ]] || die_setup "the flag service did not take the test's token"
}

DF_DISASTER=(--mode=disaster "--authorize=$DF_AUTH")

df_run() {
    local name=$1 pb=$2 d=$T_TMP/$1
    shift 2
    mkdir -p "$d"
    "$DRPLAY" run "$pb" --journal-dir "$d/journal" "${SANDBOX_PARAMS[@]}" --param report_dir="$d/reports" \
        "$@" >"$d/out" 2>&1
}

df_bg() {
    local name=$1 pb=$2 d=$T_TMP/$1
    shift 2
    mkdir -p "$d"
    "$DRPLAY" run "$pb" --journal-dir "$d/journal" "${SANDBOX_PARAMS[@]}" --param report_dir="$d/reports" \
        "$@" >"$d/out" 2>&1 &
    DF_PID=$! # read by the caller
    export DF_PID
}

df_journal() { ls -t "$T_TMP/$1/journal"/*.jsonl 2>/dev/null | head -1; }

_df_jq() { # NAME JQ-ARGS...
    local f
    f=$(df_journal "$1")
    shift
    [[ -n $f ]] || return 0
    jq -r "$@" "$f"
}
df_outcome() { _df_jq "$1" --arg s "$2" 'select(.event=="step_end" and .step==$s) | .outcome'; }
df_error() { _df_jq "$1" --arg s "$2" 'select(.event=="step_end" and .step==$s) | .error // empty'; }
df_out() { _df_jq "$1" --arg s "$2" --arg k "$3" 'select(.event=="step_end" and .step==$s) | .outputs[$k] // empty'; }
df_end() { _df_jq "$1" --arg k "$2" 'select(.event=="run_end") | .[$k] | tostring'; }
df_started() {
    [[ -n $(_df_jq "$1" --arg s "$2" 'select(.event=="step_start" and .step==$s) | .step') ]] && echo yes || echo no
}

df_flag_changes() { if [[ -f $SWITCH_LOG ]]; then wc -l <"$SWITCH_LOG"; else echo 0; fi; }

df_acked() {
    local m
    m=$(sandbox_acked)
    echo "$m $(pg_sql PROD shop "select count(*) from app_writes where seq between 1 and $m")"
}

df_missing_acked() {
    local m=${1% *} c=${1#* } n
    n=$(pg_sql PROD shop "select count(*) from app_writes where seq between 1 and $m") || { echo "unreadable"; return; }
    echo $((c - n))
}

df_no_secrets() {
    local label=$1 d=$T_TMP/$2 s hits=""
    for s in "${DF_SECRETS[@]}"; do
        if grep -rlF -- "$s" "$d" >/dev/null 2>&1; then hits+="$(grep -rlF -- "$s" "$d" | tr '\n' ' ')"; fi
    done
    if [[ -z $hits ]]; then t_pass "$label: no secret in the output, journal or reports"; else
        t_fail "$label: no secret in the output, journal or reports" "a secret appears in: $hits"
    fi
}

df_undo() {
    local name=$1 snap=$2 d=$T_TMP/$1
    mkdir -p "$d"
    "$DRPLAY" run "$ROOT/tests/integration/playbooks/drills/undo.yaml" --journal-dir "$d/journal" \
        "${DF_DISASTER[@]}" --param snapshot="$snap" >"$d/out" 2>&1 || return 1
    # the snapshot was taken inside the failed run's window: the database write
    # freeze is part of it; lift it as the person closing the incident would
    pg_sql PROD postgres "alter database shop reset default_transaction_read_only" >/dev/null
}

_df_state() { # NAME STEP WHAT: counts | schema | checksums (table -> sha256)
    case $3 in
    checksums) _df_jq "$1" --arg s "$2" -S -c 'select(.event=="step_end" and .step==$s) | .outputs.state.checksums // {} | map_values(.sha256)' ;;
    schema) _df_jq "$1" --arg s "$2" 'select(.event=="step_end" and .step==$s) | .outputs.state.schema.sha256' ;;
    *) _df_jq "$1" --arg s "$2" -S -c 'select(.event=="step_end" and .step==$s) | .outputs.state.counts' ;;
    esac
}

df_same_as_baseline() {
    local label=$1 name=$2 undo=$3 w b
    for w in counts schema checksums; do
        b=$(_df_state "$name" baseline "$w")  # schema: its SHA-256
        [[ $w == checksums && $b == "{}" ]] && continue # this playbook's baseline has none
        if [[ -z $b || $b == null ]]; then
            t_fail "$label: the baseline's $w" "the failed run's journal has no baseline $w"
            continue
        fi
        t_eq "$label: the safety snapshot restores to the baseline's $w" "$b" "$(_df_state "$undo" state "$w")"
    done
}

# df_expect LABEL CODE NAME PLAYBOOK ARGS...   df_run, then assert the exit
# code; T_OUT = the run's output, T_RC = its exit code
df_expect() {
    local label=$1 want=$2
    shift 2
    df_run "$@" && T_RC=0 || T_RC=$?
    T_OUT=$(cat "$T_TMP/$1/out")
    if [[ $T_RC == "$want" ]]; then t_pass "$label"; else
        t_fail "$label" "expected exit $want, got $T_RC"
        _t_show_output "output of $1" "$T_OUT"
    fi
}

# df_preflight_held LABEL NAME STEP NEEDLE FLAG_CHANGES_BEFORE ACKED
# The shared assertions of a pre-flight fault: the journal says which gate
# failed and why, the run ended with exit 4 and no state change, maintenance
# never went on, every acknowledged write is there.
df_preflight_held() {
    local label=$1 name=$2 step=$3 needle=$4 changes=$5 acked=$6
    t_eq "$label: the journal records the failed gate '$step'" failed "$(df_outcome "$name" "$step")"
    t_contains "$label: ... with its cause" "$(df_error "$name" "$step")" "$needle"
    t_eq "$label: run_end says exit 4, no state changed" "4 false" \
        "$(df_end "$name" exit_code) $(df_end "$name" state_changed)"
    t_eq "$label: maintenance.on never started" no "$(df_started "$name" maint_on)"
    t_eq "$label: the flag is off" false "$(sandbox_flag)"
    t_eq "$label: the flag service accepted no change" "$changes" "$(df_flag_changes)"
    t_eq "$label: every acknowledged write is in production" 0 "$(df_missing_acked "$acked")"
    df_no_secrets "$label" "$name"
}
