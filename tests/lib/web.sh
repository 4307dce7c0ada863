# shellcheck shell=bash
# tests/lib/web.sh - a small real web application (tests/node/websim.js) for
# smoke tests and webhooks. Source after common.sh.
#   web_start NAME [--maintenance-file FILE] [--flag-url URL --flag-token T [--flag-fail open|closed]]
#     exports NAME_URL (http://127.0.0.1:PORT), NAME_HOOK_LOG (JSON lines of
#     received webhook posts), NAME_PID, NAME_PORT; stopped at exit.
#   web_stop NAME
. "$T_LIB/fault.sh"

web_start() {
	local name=${1:-} dir extra=()
	[[ -n $name ]] || die_setup "web_start: missing NAME"
	shift
	extra=("$@") # --maintenance-file FILE | --flag-url URL --flag-token T --flag-fail open|closed
	dir=$(t_tmpdir "web-$name") || die_setup "web $name: cannot create a temp dir"
	: >"$dir/hooks.jsonl"
	export "${name}_HOOK_LOG=$dir/hooks.jsonl"
	on_exit web_stop "$name"
	_node_helper_start "$name" "web app" websim.js "$dir/websim.log" "$dir/port" --hook-log "$dir/hooks.jsonl" "${extra[@]}"
	export "${name}_PID=$_NODE_PID" "${name}_PORT=$_NODE_PORT" "${name}_URL=http://127.0.0.1:$_NODE_PORT"
}

web_stop() {
	local v="${1}_PID"
	[[ -n ${!v:-} ]] || return 0
	stop_pid "${!v}" 5
	export "${1}_PID="
}
