# shellcheck shell=bash source-path=SCRIPTDIR
# tests/lib/flag.sh - HTTP maintenance-flag service (tests/node/flagserver.js).
#
#   flag_start NAME [--token T] [--read-token R] [--propagation-ms N] [--garbage]
#                   [--flag FLAGNAME]...
#       Starts the service on 127.0.0.1:<kernel-chosen port>; seeds each
#       --flag (default: "site") with {"maintenanceMode": false, "message": "", "eta": null}.
#   Exports (NAME=FLAG shown):
#       FLAG_URL        http://127.0.0.1:PORT   (base URL)
#       FLAG_FLAG_URL   $FLAG_URL/flags/<first seeded flag>  (e.g. .../flags/site)
#       FLAG_TOKEN      bearer token for reads and writes (default drplay-flag-token)
#       FLAG_READ_TOKEN read-only bearer token (default drplay-flag-read-token)
#       FLAG_PORT FLAG_PID FLAG_LOG (append-only JSON lines, one per change) FLAG_DIR
#   flag_stop NAME
#   flag_get NAME FLAGNAME            prints the document (curl -f, token auth)
#   flag_patch NAME FLAGNAME JSON     merge-patch; prints the new document
#   flag_put NAME FLAGNAME JSON       replace; prints the new document
#   flag_control NAME JSON            run-time switches: {"garbage": true},
#                                     {"propagationMs": 500}, {"failCount": 2, "failStatus": 503}
# API of the service: see the header of tests/node/flagserver.js.

# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# shellcheck source=fault.sh
. "$T_LIB/fault.sh"

flag_start() {
    local name=${1:-} token=drplay-flag-token rtoken=drplay-flag-read-token args=() first=site dir seeded=0
    [[ -n $name ]] || die_setup "flag_start: missing NAME"
    _t_check_name "$name"
    shift
    while (($#)); do
        case $1 in
        --token) token=$2; shift ;;
        --read-token) rtoken=$2; shift ;;
        --propagation-ms) args+=(--propagation-ms "$2"); shift ;;
        --garbage) args+=(--garbage) ;;
        --flag)
            args+=(--flag "$2")
            ((seeded)) || first=$2
            seeded=1
            shift
            ;;
        *) die_setup "flag_start $name: unknown option '$1'" ;;
        esac
        shift
    done
    dir=$(t_tmpdir "flag-$name") || die_setup "flag $name: cannot create a temp dir"
    export "${name}_DIR=$dir" "${name}_LOG=$dir/changes.jsonl" "${name}_TOKEN=$token" "${name}_READ_TOKEN=$rtoken"
    : >"$dir/changes.jsonl"
    on_exit flag_stop "$name"
    _node_helper_start "$name" "flag service" flagserver.js "$dir/flagserver.log" "$dir/port" \
        --token "$token" --read-token "$rtoken" --log "$dir/changes.jsonl" "${args[@]}"
    export "${name}_PID=$_NODE_PID" "${name}_PORT=$_NODE_PORT" \
        "${name}_URL=http://127.0.0.1:$_NODE_PORT" "${name}_FLAG_URL=http://127.0.0.1:$_NODE_PORT/flags/$first"
}

flag_stop() {
    local v="${1}_PID"
    [[ -n ${!v:-} ]] || return 0
    stop_pid "${!v}" 5
    export "${1}_PID="
}

_flag_req() { # NAME METHOD FLAGNAME [JSON]
    local url="${1}_URL" tok="${1}_TOKEN"
    if (($# > 3)); then
        curl -sS -f --max-time 10 -X "$2" -H "Authorization: Bearer ${!tok}" \
            -H 'content-type: application/json' --data-binary "$4" "${!url}/flags/$3"
    else
        curl -sS -f --max-time 10 -X "$2" -H "Authorization: Bearer ${!tok}" "${!url}/flags/$3"
    fi
}

flag_get() { _flag_req "$1" GET "$2"; }
flag_patch() { _flag_req "$1" PATCH "$2" "$3"; }
flag_put() { _flag_req "$1" PUT "$2" "$3"; }

flag_control() { # NAME JSON
    local url="${1}_URL"
    curl -sS -f --max-time 5 -X POST -H 'content-type: application/json' --data-binary "$2" "${!url}/__control"
}
