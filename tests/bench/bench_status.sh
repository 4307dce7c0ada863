#!/usr/bin/env bash
# bench_status.sh: following a run.
#   status_follow_latency  from a journal line being written to `drplay status
#                --follow --json` printing it: the median of 300 lines written
#                at irregular intervals (tests/node/follow_latency.js);
#                baseline: `tail -F` of the same file, side by side, timed by
#                the same clock. Target: a median under 100 ms.
set -u
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/lib.sh"
require_drplay
require_node
out=$(node "$T_NODE_DIR/follow_latency.js" "$DRPLAY" 300) || { echo "bench_status: the follow latency could not be measured" >&2; exit 1; }
read -r v b <<<"$out"
bench_report status_follow_latency "$v" ms "$b" 100 value
