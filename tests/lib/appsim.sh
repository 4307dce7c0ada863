# shellcheck shell=bash source-path=SCRIPTDIR
# tests/lib/appsim.sh - the application simulator (tests/node/appsim.js): it
# writes rows into PostgreSQL continuously and honours a maintenance flag
# (and its declared fail mode when the flag store is down).
#
#   appsim_start NAME --dsn DSN --table TABLE --fail open|closed --flag SPEC [--interval-ms N]
#       SPEC: http:URL[,TOKEN] | redis:HOST:PORT:KEY | file:PATH | pg:TABLE:NAME
#       Exports NAME_PID, NAME_LOG (JSON lines: one decision per tick).
#   appsim_stop NAME

# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

appsim_start() {
    local name=$1 dir
    shift
    _t_check_name "$name"
    require_node
    dir=$(t_tmpdir "appsim-$name") || die_setup "appsim $name: cannot create a temp dir"
    : >"$dir/decisions.jsonl"
    node "$T_NODE_DIR/appsim.js" --psql "${PGBIN:+$PGBIN/}psql" --log "$dir/decisions.jsonl" \
        --port-file "$dir/started" --parent-pid "$$" "$@" </dev/null >>"$dir/appsim.log" 2>&1 &
    local pid=$!
    t_watch_pid "$pid"
    export "${name}_PID=$pid" "${name}_LOG=$dir/decisions.jsonl"
    on_exit appsim_stop "$name"
    _appsim_ticking() { [[ -s $1 ]]; }
    if ! wait_until 15 _appsim_ticking "$dir/decisions.jsonl"; then
        log_tail "$dir/appsim.log" 20
        die_setup "appsim $name did not start"
    fi
}

appsim_stop() {
    local v="${1}_PID"
    [[ -n ${!v:-} ]] || return 0
    stop_pid "${!v}" 5
    export "${1}_PID="
}
