#!/usr/bin/env bash
# tests/bench/bench_mcp.sh: speed of `drplay mcp`.
#   mcp_lint   an MCP tools/call of lint on a shipped playbook
#              (playbooks/database_restore.yaml), round trip through one running
#              server (which starts drplay lint as a child for it), median of 30;
#              baseline: `drplay lint --format=json` of the same file run
#              directly, alternating with it. Target: under 20 ms.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_drplay
require_node_modules
read -r v b < <(node "$T_NODE_DIR/mcp_bench.js" "$DRPLAY" "$ROOT/playbooks/database_restore.yaml" 30) ||
	{ echo "bench_mcp: the measurement failed" >&2; exit 1; }
[[ -n ${v:-} && -n ${b:-} ]] || { echo "bench_mcp: no measurement" >&2; exit 1; }
bench_report mcp_lint "$v" ms "$b" 20 value
