# shellcheck shell=bash source-path=SCRIPTDIR
# tests/lib/fault.sh - HTTP fault-injection proxy (tests/node/faultproxy.js).
#
#   faultproxy_start NAME TARGET_URL [faultproxy.js options...]
#       e.g. faultproxy_start BAD "$S3_ENDPOINT" --methods GET --cut-after 65536
#       Exports NAME_URL (http://127.0.0.1:PORT), NAME_PORT, NAME_LOG (JSON lines
#       per request), NAME_PID.  Stopped at exit.
#   faultproxy_set NAME JSON     change faults at run time, resets counters,
#       e.g. faultproxy_set BAD '{"clear": true, "failFirst": 2, "failStatus": 500}'
#   faultproxy_stats NAME        prints {"config":..., "stats":...}
#   faultproxy_stop NAME
# Options (see the header of tests/node/faultproxy.js): --reset-first K,
# --hang-first K, --fail-first K, --fail-status S, --delay-ms N,
# --cut-after N, --cut-count K, --corrupt-at OFFSET, --corrupt-count K,
# --methods GET,HEAD, --match REGEX.

# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# _node_helper_start NAME WHAT SCRIPT LOGFILE PORTFILE ARGS...
#   start a node helper that binds port 0 and writes the port to PORTFILE;
#   sets _NODE_PID and _NODE_PORT (no subshell: call directly)
_node_helper_start() {
    local name=$1 what=$2 script=$3 log=$4 portfile=$5
    shift 5
    require_node_modules
    rm -f "$portfile"
    node "$T_NODE_DIR/$script" --port-file "$portfile" --parent-pid "$$" "$@" \
        </dev/null >>"$log" 2>&1 &
    _NODE_PID=$!
    t_watch_pid "$_NODE_PID"
    if ! _t_wait_port_file "$portfile" "$_NODE_PID" 15; then
        log_tail "$log" 30
        stop_pid "$_NODE_PID" 2
        die_setup "$what $name: $script did not start (log $log)"
    fi
    _NODE_PORT=$(<"$portfile")
    if ! wait_until 10 port_open "$_NODE_PORT"; then
        log_tail "$log" 30
        die_setup "$what $name: $script does not accept connections on 127.0.0.1:$_NODE_PORT (log $log)"
    fi
}

faultproxy_start() {
    local name=$1 target=$2 dir
    shift 2
    _t_check_name "$name"
    dir=$(t_tmpdir "fault-$name") || die_setup "fault proxy $name: cannot create a temp dir"
    export "${name}_LOG=$dir/requests.jsonl"
    on_exit faultproxy_stop "$name"
    _node_helper_start "$name" "fault proxy" faultproxy.js "$dir/faultproxy.log" "$dir/port" \
        --target "$target" --log "$dir/requests.jsonl" "$@"
    export "${name}_PID=$_NODE_PID" "${name}_PORT=$_NODE_PORT" "${name}_URL=http://127.0.0.1:$_NODE_PORT"
}

faultproxy_set() { # NAME JSON
    local v="${1}_URL"
    curl -sS -f --max-time 5 -X POST -H 'content-type: application/json' --data-binary "$2" \
        "${!v}/__faultproxy"
}

faultproxy_stats() { # NAME
    local v="${1}_URL"
    curl -sS -f --max-time 5 "${!v}/__faultproxy"
}

faultproxy_stop() {
    local v="${1}_PID"
    [[ -n ${!v:-} ]] || return 0
    stop_pid "${!v}" 5
    export "${1}_PID="
}
