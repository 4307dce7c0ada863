# shellcheck shell=bash source-path=SCRIPTDIR
# tests/lib/neon.sh - the Neon API CONTRACT SERVER (tests/node/neon_contract_server.js).
# No Neon service is reachable from the tests, so the neon pitr driver is
# tested against this server, which follows Neon's published API shapes
# (it is not Neon and restores no data; see the header of the .js file).
#
#   neon_start NAME [--connection-uri URI] [--op-ms N] [--retention-seconds N]
#       Exports NAME_URL (the API base, like https://console.neon.tech/api/v2),
#       NAME_KEY (the API key it accepts), NAME_PROJECT, NAME_PID, NAME_LOG.
#   neon_control NAME JSON     fault switches (see the .js header)
#   neon_log NAME              every request so far, JSON lines
#   neon_stop NAME

# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# shellcheck source=fault.sh
. "$T_LIB/fault.sh"

neon_start() {
    local name=$1 dir
    shift
    _t_check_name "$name"
    dir=$(t_tmpdir "neon-$name") || die_setup "neon $name: cannot create a temp dir"
    export "${name}_KEY=neon-contract-key-$RANDOM$RANDOM" "${name}_PROJECT=drplay-contract-project" \
        "${name}_LOG=$dir/requests.jsonl"
    local k="${name}_KEY" p="${name}_PROJECT"
    on_exit neon_stop "$name"
    _node_helper_start "$name" "neon contract server" neon_contract_server.js "$dir/server.log" "$dir/port" \
        --api-key "${!k}" --project "${!p}" --log "$dir/requests.jsonl" "$@"
    export "${name}_PID=$_NODE_PID" "${name}_URL=http://127.0.0.1:$_NODE_PORT"
}

neon_control() {
    local v="${1}_URL"
    curl -sS -f --max-time 5 -X POST -H 'content-type: application/json' --data-binary "$2" "${!v}/__control"
}

neon_log() {
    local v="${1}_URL"
    curl -sS -f --max-time 5 "${!v}/__log"
}

neon_stop() {
    local v="${1}_PID"
    [[ -n ${!v:-} ]] || return 0
    stop_pid "${!v}" 5
    export "${1}_PID="
}
