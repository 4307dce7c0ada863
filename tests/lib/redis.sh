# shellcheck shell=bash source-path=SCRIPTDIR
# tests/lib/redis.sh - throwaway redis-server for tests.
#
#   redis_start NAME [--password P]
#       redis-server on 127.0.0.1:<free port>, no persistence (no RDB, no AOF),
#       working dir in $T_TMP.  Stopped at exit.
#   Exports (NAME=REDIS shown):
#       REDIS_PORT, REDIS_URL (redis://127.0.0.1:PORT, or redis://default:P@127.0.0.1:PORT
#       with --password), REDIS_PASSWORD ('' without), REDIS_DIR, REDIS_LOG, REDIS_PID
#   redis_stop NAME
#   redis_cli NAME ARGS...   redis-cli against it (e.g. redis_cli REDIS GET k)

# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

redis_start() {
    local name=${1:-} password='' dir port pid ok=0 extra=()
    [[ -n $name ]] || die_setup "redis_start: missing NAME"
    _t_check_name "$name"
    shift
    while (($#)); do
        case $1 in
        --password) password=$2; shift ;;
        *) die_setup "redis_start $name: unknown option '$1'" ;;
        esac
        shift
    done
    command -v redis-server >/dev/null 2>&1 || die_setup "redis $name: redis-server not found (install redis-server: make deps)"
    command -v redis-cli >/dev/null 2>&1 || die_setup "redis $name: redis-cli not found (install redis-tools: make deps)"
    dir=$(t_tmpdir "redis-$name") || die_setup "redis $name: cannot create a temp dir"
    [[ -n $password ]] && extra=(--requirepass "$password")
    export "${name}_DIR=$dir" "${name}_LOG=$dir/redis.log" "${name}_PASSWORD=$password"
    on_exit redis_stop "$name"
    for _ in 1 2 3; do
        port=$(free_port) || die_setup "redis $name: no free port"
        : >"$dir/redis.log"
        redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save '' --appendonly no \
            --daemonize no --logfile "$dir/redis.log" --pidfile "$dir/redis.pid" \
            --protected-mode yes "${extra[@]}" </dev/null >/dev/null 2>&1 &
        pid=$!
        t_watch_pid "$pid"
        export "${name}_PORT=$port" "${name}_PID=$pid"
        if wait_until 10 _redis_up "$name" "$pid" && kill -0 "$pid" 2>/dev/null &&
            ! grep -q 'Address already in use' "$dir/redis.log"; then
            ok=1
            break
        fi
        stop_pid "$pid" 2
        grep -q 'Address already in use' "$dir/redis.log" || break
        printf '# redis %s: port %s was taken, retrying\n' "$name" "$port" >&2
    done
    if ((!ok)); then
        log_tail "$dir/redis.log" 20
        die_setup "redis $name: redis-server did not start on 127.0.0.1:$port (log $dir/redis.log)"
    fi
    export "${name}_PID=$pid"
    if [[ -n $password ]]; then
        export "${name}_URL=redis://default:$password@127.0.0.1:$port"
    else
        export "${name}_URL=redis://127.0.0.1:$port"
    fi
}

_redis_up() { # NAME PID: true when the server died (stop polling) or when
    # the redis answering on the port is ours (INFO reports our pid).  A foreign
    # listener on the port may never answer: hence timeout.
    kill -0 "$2" 2>/dev/null || return 0
    local log="${1}_LOG" out
    grep -q 'Address already in use' "${!log}" 2>/dev/null && return 0
    out=$(_REDIS_CLI_TIMEOUT=0.5 redis_cli "$1" INFO server 2>/dev/null) || return 1
    [[ ${out//$'\r'/} == *"process_id:$2"$'\n'* ]]
}

redis_cli() {
    local p="${1}_PORT" pw="${1}_PASSWORD" t=()
    shift
    [[ -n ${_REDIS_CLI_TIMEOUT:-} ]] && t=(timeout "$_REDIS_CLI_TIMEOUT")
    if [[ -n ${!pw:-} ]]; then
        REDISCLI_AUTH=${!pw} "${t[@]}" redis-cli -h 127.0.0.1 -p "${!p}" "$@"
    else
        "${t[@]}" redis-cli -h 127.0.0.1 -p "${!p}" "$@"
    fi
}

redis_stop() {
    local v="${1}_PID"
    [[ -n ${!v:-} ]] || return 0
    stop_pid "${!v}" 5
    export "${1}_PID="
}

