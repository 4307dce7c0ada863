# shellcheck shell=bash source-path=SCRIPTDIR
# tests/lib/common.sh - shared helpers for drplay integration and fault tests.
#
# Source it first from every test script (bash, `set -u`):
#
#   #!/usr/bin/env bash
#   set -u
#   . "$(dirname "$0")/../lib/common.sh"
#   . "$T_LIB/pg.sh"            # only the servers you need
#
# Output contract (tests/run.sh counts these lines on stdout):
#   PASS: <name>
#   FAIL: <name>: <reason>       (reason is flattened to a single line)
# Everything else (debug output, logs, summaries) goes to stderr.
#
# Provides:
#   ROOT, T_LIB, T_NODE_DIR, DRPLAY (=$DRPLAY_BIN or $ROOT/drplay), T_TMP, T_NAME
#   t_pass NAME | t_fail NAME REASON | t_check NAME CMD... | t_eq NAME EXP ACT
#   t_contains NAME HAYSTACK NEEDLE | t_not_contains NAME HAYSTACK NEEDLE
#   t_exit NAME EXPECTED_CODE CMD...   (sets T_OUT = stdout+stderr, T_RC = exit code)
#   t_tmpdir [PREFIX]   fresh dir under $T_TMP (mode 0755); prints its path
#                       (d=$(t_tmpdir x) || die_setup "...")
#   free_port           prints a free, reserved loopback TCP port
#   port_open PORT      true when something accepts TCP on 127.0.0.1:PORT
#   wait_until SECONDS CMD...   polls CMD (every 50 ms) until it succeeds
#   on_exit CMD...      push a cleanup command (run at EXIT, last pushed first)
#   die_setup MSG       print "FAIL: setup: MSG" and exit 1 (never skip)
#   require_drplay      die_setup unless $DRPLAY is an executable file
#   t_watch_pid PID [SIGNAL]   register a server pid: killed at exit if still
#                       alive after the cleanup stack, and by a watchdog if this
#                       script is SIGKILLed (call from the main shell)
#   t_unwatch_pid PID   forget it (stopped on purpose)
#   stop_pid PID [TIMEOUT_S] [SIGNAL]   signal, poll until gone, SIGKILL after timeout
#   log_tail FILE [N]   last N lines of a log on stderr, indented
#   t_jsonl FILE EXPR   prints a JavaScript expression evaluated (node) over the
#                       JSON lines of FILE, an array `ev` (a journal's events)
#   require_node / require_node_modules   die_setup with a hint when missing
#
# Scripts use `set -u`; the helpers also work under `set -e`.  Servers are
# started by tests/lib/{pg,s3,redis,flag,fault}.sh; see their headers.
#
# The script exits 1 at the end if any FAIL line was printed and it would
# otherwise have exited 0.  DRPLAY_KEEP_TMP=1 keeps $T_TMP for inspection.

[[ -n ${_DRPLAY_COMMON_SH:-} ]] && return 0
_DRPLAY_COMMON_SH=1

T_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$T_LIB/../.." && pwd)
T_NODE_DIR=$ROOT/tests/node
DRPLAY=${DRPLAY_BIN:-$ROOT/drplay}
T_NAME=$(basename "${BASH_SOURCE[${#BASH_SOURCE[@]}-1]}" .sh)
T_OUT=
T_RC=0
export ROOT DRPLAY

# ---------------------------------------------------------------- results ---

_t_oneline() { # flatten to one line so the runner's line counting stays exact
    local s=${1//$'\r'/}
    s=${s//$'\n'/ | }
    printf '%s' "$s"
}

# T_HARNESS_ONLY=NAME: the script checks the test harness, not drplay. Its
# passing checks are counted here and reported as ONE pass at the end
# ("NAME: N harness checks"), so the suite's count is drplay's tests; each
# failing check is still its own FAIL line.
t_pass() {
    if [[ -n ${T_HARNESS_ONLY:-} ]]; then
        printf '%s\n' "$1" >>"$T_TMP/.harness_passes"
        return
    fi
    printf 'PASS: %s\n' "$(_t_oneline "$1")"
}

t_fail() {
    printf 'FAIL: %s: %s\n' "$(_t_oneline "$1")" "$(_t_oneline "${2:-failed}")"
    # a file, not a variable: t_fail may run in a subshell
    printf '%s\n' "$1" >>"$T_TMP/.failures" 2>/dev/null || true
}

_t_show_output() { # indented debug output on stderr
    local label=$1 out=$2
    {
        printf '  --- %s ---\n' "$label"
        if [[ -n $out ]]; then printf '%s\n' "$out" | sed 's/^/    /'; fi
        printf '  ---\n'
    } >&2
}

# t_check NAME CMD...   pass when CMD exits 0 (output captured in T_OUT)
t_check() {
    local name=$1
    shift
    T_OUT=$("$@" 2>&1) && T_RC=0 || T_RC=$?
    if ((T_RC == 0)); then
        t_pass "$name"
    else
        t_fail "$name" "command exited $T_RC: $*"
        _t_show_output "output of: $*" "$T_OUT"
    fi
}

# t_exit NAME EXPECTED_CODE CMD...   pass when CMD exits EXPECTED_CODE
t_exit() {
    local name=$1 want=$2
    shift 2
    T_OUT=$("$@" 2>&1) && T_RC=0 || T_RC=$?
    if [[ $T_RC == "$want" ]]; then
        t_pass "$name"
    else
        t_fail "$name" "expected exit $want, got $T_RC: $*"
        _t_show_output "output of: $*" "$T_OUT"
    fi
}

t_eq() {
    if [[ $2 == "$3" ]]; then
        t_pass "$1"
    else
        t_fail "$1" "expected '$2', got '$3'"
    fi
}

t_contains() {
    if [[ $2 == *"$3"* ]]; then
        t_pass "$1"
    else
        t_fail "$1" "output does not contain '$3'"
        _t_show_output "haystack" "$2"
    fi
}

t_not_contains() {
    if [[ $2 != *"$3"* ]]; then
        t_pass "$1"
    else
        t_fail "$1" "output unexpectedly contains '$3'"
        _t_show_output "haystack" "$2"
    fi
}

die_setup() {
    printf 'FAIL: setup: %s\n' "$(_t_oneline "$*")"
    printf '%s: setup failed: %s (DRPLAY_KEEP_TMP=1 keeps %s)\n' "$T_NAME" "$*" "$T_TMP" >&2
    printf 'setup\n' >>"$T_TMP/.failures" 2>/dev/null || true
    exit 1
}

require_drplay() {
    [[ -f $DRPLAY && -x $DRPLAY ]] ||
        die_setup "drplay binary not found or not executable: $DRPLAY (build it, or set DRPLAY_BIN)"
}

# ---------------------------------------------------------------- cleanup ---

_T_CLEANUP=()

# on_exit CMD...  With several words: an argv, quoted safely.  With a single
# word: shell code, eval'ed as is (on_exit 'kill 123; rm -f x').
# Must be called from the main shell, not from $( ) (it would be lost).
on_exit() {
    if (($# == 1)); then
        _T_CLEANUP+=("$1")
    else
        _T_CLEANUP+=("$(printf '%q ' "$@")")
    fi
}

_t_run_cleanup() {
    local rc=$? i nfail=0
    set +e
    trap '' INT TERM HUP
    for ((i = ${#_T_CLEANUP[@]} - 1; i >= 0; i--)); do
        eval "${_T_CLEANUP[i]}" </dev/null
    done
    _T_CLEANUP=()
    _t_kill_watched # safety net: anything started but not stopped by the stack
    _t_release_ports
    if [[ -f $T_TMP/.failures ]]; then
        nfail=$(wc -l <"$T_TMP/.failures")
    fi
    if [[ -n ${T_HARNESS_ONLY:-} && -f $T_TMP/.harness_passes ]] && ((nfail == 0 && rc == 0)); then
        printf 'PASS: %s: %d harness checks\n' "$T_HARNESS_ONLY" "$(wc -l <"$T_TMP/.harness_passes")"
    fi
    if [[ ${DRPLAY_KEEP_TMP:-0} == 1 ]]; then
        printf '# %s: kept temp dir %s\n' "$T_NAME" "$T_TMP" >&2
    else
        rm -rf "$T_TMP"
    fi
    if [[ -n ${_T_WATCHDOG_PID:-} ]]; then
        kill -TERM -- "-$_T_WATCHDOG_PID" 2>/dev/null || kill -TERM "$_T_WATCHDOG_PID" 2>/dev/null
        wait "$_T_WATCHDOG_PID" 2>/dev/null
    fi
    if ((rc == 0 && nfail > 0)); then rc=1; fi
    exit "$rc"
}

trap _t_run_cleanup EXIT
# make signals run the EXIT trap (bash skips it on an untrapped fatal signal)
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# ----------------------------------------------------------------- tmpdir ---

T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/drplay-${T_NAME}.XXXXXX") ||
    { printf 'FAIL: setup: cannot create a temp dir under %s\n' "${TMPDIR:-/tmp}"; exit 1; }
chmod 0755 "$T_TMP"
export T_TMP

# t_tmpdir [PREFIX]: prints a fresh directory (mode 0755) inside $T_TMP.
# Used as d=$(t_tmpdir x), so it cannot exit the script: check its status.
t_tmpdir() {
    local d
    d=$(mktemp -d "$T_TMP/${1:-tmp}.XXXXXX") || return 1
    chmod 0755 "$d"
    printf '%s\n' "$d"
}

# ------------------------------------------------------------------ ports ---

# Ports come from a range below the kernel's ephemeral range (so outgoing
# connections and servers binding port 0 never take them) and are reserved
# in ${TMPDIR:-/tmp}/drplay-ports/<port> (atomic mkdir, owner pid inside) so
# concurrent test scripts never pick the same one.  Reservations are released
# at exit; a reservation whose owner is dead is reclaimed.
_T_PORT_DIR=${TMPDIR:-/tmp}/drplay-ports

port_open() {
    # bash's /dev/tcp: connect succeeds only if something listens
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

_t_port_range() {
    local lo=32768 hi=60999
    if [[ -r /proc/sys/net/ipv4/ip_local_port_range ]]; then
        read -r lo hi </proc/sys/net/ipv4/ip_local_port_range
    fi
    if ((lo >= 21000)); then
        printf '%s %s\n' 20000 $((lo - 1))
    elif ((hi <= 64000)); then
        printf '%s %s\n' $((hi + 1)) 65535
    else
        printf '%s %s\n' 20000 32767 # ephemeral range covers everything
    fi
}

free_port() {
    local lo hi port i owner
    read -r lo hi < <(_t_port_range)
    mkdir -p "$_T_PORT_DIR" 2>/dev/null
    chmod 1777 "$_T_PORT_DIR" 2>/dev/null
    for ((i = 0; i < 500; i++)); do
        port=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo + 1)))
        if mkdir "$_T_PORT_DIR/$port" 2>/dev/null; then
            printf '%s\n' "$$" >"$_T_PORT_DIR/$port/owner"
            if port_open "$port"; then # taken by something outside the harness
                rm -rf "${_T_PORT_DIR:?}/$port"
                continue
            fi
            printf '%s\n' "$port" >>"$T_TMP/.ports"
            printf '%s\n' "$port"
            return 0
        fi
        owner=$(cat "$_T_PORT_DIR/$port/owner" 2>/dev/null) || owner=
        if [[ -n $owner ]] && ! kill -0 "$owner" 2>/dev/null; then
            rm -rf "${_T_PORT_DIR:?}/$port" # stale: its owner is gone; next round may take it
        fi
    done
    printf 'free_port: no free port found in %s-%s\n' "$lo" "$hi" >&2
    return 1
}

_t_release_ports() {
    local p
    [[ -f $T_TMP/.ports ]] || return 0
    while read -r p; do
        [[ -n $p ]] && rm -rf "${_T_PORT_DIR:?}/$p"
    done <"$T_TMP/.ports"
    rm -f "$T_TMP/.ports"
}

# wait_until SECONDS CMD...  poll CMD every 50 ms; 0 as soon as it succeeds,
# 1 after SECONDS (integer) without success
wait_until() {
    local limit_ms=$(($1 * 1000)) start now
    shift
    start=${EPOCHREALTIME//[!0-9]/}
    while :; do
        "$@" >/dev/null 2>&1 && return 0
        now=${EPOCHREALTIME//[!0-9]/}
        (((now - start) / 1000 > limit_ms)) && return 1
        sleep 0.05
    done
}

# --------------------------------------------------------------- watchdog ---

# If the test script is killed with SIGKILL its EXIT trap never runs.  A
# small watchdog (own session, survives process-group kills) then stops every
# registered server pid and removes $T_TMP.  It is started lazily by the
# first t_watch_pid and stopped at the end of normal cleanup.
_T_WATCHDOG_PID=

t_watch_pid() { # PID [SIGNAL (default TERM)]
    printf '%s %s\n' "$1" "${2:-TERM}" >>"$T_TMP/.pids"
    [[ -n $_T_WATCHDOG_PID ]] && return 0
    # shellcheck disable=SC2016
    setsid bash -c '
        parent=$1 tmp=$2 keep=$3 portdir=$4
        while kill -0 "$parent" 2>/dev/null; do sleep 1; done
        [[ -f $tmp/.pids ]] || exit 0
        while read -r pid sig; do kill -"$sig" "$pid" 2>/dev/null; done <"$tmp/.pids"
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            alive=0
            while read -r pid sig; do kill -0 "$pid" 2>/dev/null && alive=1; done <"$tmp/.pids"
            ((alive)) || break
            sleep 0.5
        done
        while read -r pid sig; do kill -KILL "$pid" 2>/dev/null; done <"$tmp/.pids"
        if [[ -f $tmp/.ports ]]; then
            while read -r p; do [[ -n $p ]] && rm -rf "$portdir/$p"; done <"$tmp/.ports"
        fi
        [[ $keep == 1 ]] || rm -rf "$tmp"
    ' drplay-watchdog "$$" "$T_TMP" "${DRPLAY_KEEP_TMP:-0}" "$_T_PORT_DIR" \
        </dev/null >/dev/null 2>&1 &
    _T_WATCHDOG_PID=$!
}

# _t_kill_watched: stop every registered pid that is still alive (used at
# exit after the cleanup stack, e.g. when a signal arrived mid-start)
_t_kill_watched() {
    local pid sig alive i
    [[ -s $T_TMP/.pids ]] || return 0
    while read -r pid sig; do
        [[ -n $pid ]] && kill -"${sig:-TERM}" "$pid" 2>/dev/null
    done <"$T_TMP/.pids"
    for ((i = 0; i < 100; i++)); do
        alive=0
        while read -r pid sig; do
            [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && alive=1
        done <"$T_TMP/.pids"
        ((alive)) || break
        sleep 0.05
    done
    while read -r pid sig; do
        [[ -n $pid ]] && kill -KILL "$pid" 2>/dev/null
    done <"$T_TMP/.pids"
    : >"$T_TMP/.pids"
}

# t_unwatch_pid PID: forget a pid that was stopped on purpose
t_unwatch_pid() {
    [[ -f $T_TMP/.pids ]] || return 0
    local tmp
    tmp=$(grep -v "^$1 " "$T_TMP/.pids") || true
    printf '%s\n' "$tmp" >"$T_TMP/.pids"
}

# stop_pid PID [TIMEOUT_S] [SIGNAL]: signal, wait (polling), then SIGKILL
stop_pid() {
    local pid=$1 timeout=${2:-10} sig=${3:-TERM} i
    [[ -n $pid ]] || return 0
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
    kill -"$sig" "$pid" 2>/dev/null
    for ((i = 0; i < timeout * 20; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    if kill -0 "$pid" 2>/dev/null; then
        printf '# stop_pid: %s ignored SIG%s for %ss, sending SIGKILL\n' "$pid" "$sig" "$timeout" >&2
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null # reap if it is our child
    t_unwatch_pid "$pid"
    return 0
}

# log_tail FILE [N]: last N lines of a log on stderr, indented
log_tail() {
    local f=$1 n=${2:-25}
    if [[ -f $f ]]; then
        printf '  --- last %s lines of %s ---\n' "$n" "$f" >&2
        tail -n "$n" "$f" | sed 's/^/    /' >&2
        printf '  ---\n' >&2
    else
        printf '  (no log file %s)\n' "$f" >&2
    fi
}

# t_jsonl FILE EXPR: EXPR over the array `ev` of FILE's JSON lines, printed
t_jsonl() {
    node -e 'const fs=require("fs");const ev=fs.readFileSync(process.argv[1],"utf8").split("\n").filter(Boolean).map(JSON.parse);console.log(eval(process.argv[2]))' "$1" "$2"
}

# _t_check_name NAME: variable prefixes must be shell identifiers
_t_check_name() {
    [[ $1 =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die_setup "invalid server name '$1' (must be a shell identifier, e.g. PG)"
}

require_node() {
    command -v node >/dev/null 2>&1 || die_setup "node not found on PATH (run: make deps)"
}

require_node_modules() {
    require_node
    [[ -d $T_NODE_DIR/node_modules/s3rver && -d $T_NODE_DIR/node_modules/ajv ]] ||
        die_setup "tests/node/node_modules missing (run: make deps, or: cd tests/node && npm ci)"
}

# _t_wait_port_file FILE PID SECONDS: wait until a node helper wrote its port
_t_wait_port_file() {
    local f=$1 pid=$2 deadline=$((SECONDS + $3))
    while [[ ! -s $f ]]; do
        kill -0 "$pid" 2>/dev/null || return 1
        ((SECONDS > deadline)) && return 1
        sleep 0.05
    done
    return 0
}
